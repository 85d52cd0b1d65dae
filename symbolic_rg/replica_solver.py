r"""Compiled solver of the replica saddle point of a :class:`~symbolic_rg.replica.ReplicaTheory`.

**From the derived free entropy to code.** :math:`\phi` is a closed form plus coefficients times Gaussian
integrals.  Every integrand is rewritten in numerically stable primitives — :math:`H(x)\to e^{\ln H(x)}`,
:math:`\ln\sum e^{a}\to` ``LogSumExp`` — and, in the teacher scenario, each exponential tilt
:math:`e^{cw+d}` is absorbed into the Gaussian measure by the shift :math:`\int Dw\,e^{cw}F(w) = e^{c^2/2}\int
Dw\,F(w+c)` (the measure would otherwise sit at :math:`w\approx\pm\sqrt{\hat q}`, far outside any fixed grid).
The integrands are then differentiated symbolically twice in their own arguments
:math:`a_l=\sqrt{Q_l}`, :math:`b_l=\sqrt{q_l}`, :math:`s_l = \sqrt{\hat q_l}` and printed, with common
subexpressions eliminated, as Numba (float64) and mpmath (any precision) source.

**Quadrature.** Composite Gauss–Legendre on :math:`[-9.5, 9.5]` (panels of width 1.5) in each variable, with
panel edges graded geometrically (ratio 4) towards the kinks of the integrand: in :math:`z` where an argument of
:math:`\ln H` vanishes (width :math:`\sqrt{1-p}/\sqrt p`, which shrinks as overlaps approach 1), in :math:`w` where the
two spin states exchange dominance inside ``LogSumExp`` (width :math:`1/2\sqrt{\hat q}`, a curve :math:`w^*(z)`).
The stated error is the change from 8 to 16 nodes per panel at the solution.

**Saddle point.** Newton's method on :math:`\nabla\phi` (Hessian from the second derivatives) in unconstrained
variables :math:`Q_l = \tanh^2y_l`, :math:`q_l = \tanh^2v_l`, :math:`\hat q_l = s_l^2`.  :math:`\phi` is even in
each of them, so :math:`x_i = 0` is always stationary in these variables; a point is accepted only if the
gradient in the original order parameters vanishes (:math:`\partial_Q\phi = \partial_y\phi/(dQ/dy)`, or
:math:`\tfrac12\partial_y^2\phi` at :math:`y = 0`).

**Replica-symmetry breaking** (random scenario).  The replicon kernels of :attr:`ReplicaTheory.replicon`,
:math:`\mathbb E(\partial_x^i\partial_y^j\ln\zeta)^2`, are generated the same way (a second module, one integral
per constraint layer, :math:`\ln\zeta` in stable primitives), integrated with 8 and 16 nodes per panel, and every
stationary point gets the largest eigenvalue of the replicon matrix with the conjugates eliminated.
"""
from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from typing import NamedTuple

import mpmath
import numba
import numpy as np
import sympy as sp

from . import _cache
from .codegen import _MpPrinter, _NumbaPrinter
from .errors import ConvergenceError, NoSolutionError, ParameterError
from .pdlt import _check_nonnegative, _check_positive
from .replica import (H, LogH, LogSumExp, MillsRatio, Q_, alpha, gaussian_measure, kappa, q_, qhat_, w, z)
from .replica import kappa as kappa_symbol
from .selection import longitudinal_eigenvalues, physical_index, rule_statement, wrong_directions

__all__ = ["ReplicaSolver", "ReplicaSolution", "StationaryPoint", "ReplicaSweep", "RepliconStability", "log_h",
           "mills_ratio"]

GENERATOR_VERSION = "2"
Z_MAX = 9.5            # Gaussian weight beyond 9.5 standard deviations: below 1e-19
BULK = 1.5             # bulk panel width
GRADING = 2.0          # ratio of successive panel widths towards a kink
PIN = 1e-4             # Newton holds |x_i| < PIN (an overlap below 1e-8) at 0 where dphi/dQ_i = 0: a liquid layer
NJIT = '@numba.njit(cache=True, error_model="numpy")'
NJIT_PARALLEL = '@numba.njit(cache=True, error_model="numpy", parallel=True)'
GL8 = np.polynomial.legendre.leggauss(8)
GL16 = np.polynomial.legendre.leggauss(16)


# --------------------------------------------------------------------------------------------------------
# stable primitives (float64)
# --------------------------------------------------------------------------------------------------------
@numba.njit(cache=True)
def mills_ratio(x):
    r""":math:`R(x) = \varphi(x)/H(x)`: direct below 5, Laplace's continued fraction
    :math:`x + 1/(x + 2/(x + 3/\cdots))` above (relative error < 1e-15)."""
    if x < 5.0:
        return np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi) / (0.5 * math.erfc(x / np.sqrt(2.0)))
    t = x
    for k in range(80, 0, -1):
        t = x + k / t
    return t


@numba.njit(cache=True)
def log_h(x):
    r""":math:`\ln H(x)` for every real :math:`x` (continued fraction above 5, so no underflow)."""
    if x < 5.0:
        return np.log(0.5 * math.erfc(x / np.sqrt(2.0)))
    return -0.5 * x * x - 0.5 * np.log(2 * np.pi) - np.log(mills_ratio(x))


@numba.njit(cache=True)
def log_sum_exp(a, b):
    m = max(a, b)
    return m + np.log1p(np.exp(-abs(a - b)))


@numba.njit(cache=True)
def panel_edges(kinks, widths, lo, hi, bulk):
    """Panel edges on [lo, hi]: a bulk grid of width BULK, plus edges graded by GRADING towards each kink
    (c ± width·GRADING^k) while finer than the bulk."""
    nb = int(np.ceil((hi - lo) / bulk))
    edges = [lo + (hi - lo) * i / nb for i in range(nb + 1)]
    for j in range(kinks.shape[0]):
        c, d = kinks[j], widths[j]
        if not (np.isfinite(c) and np.isfinite(d)) or d <= 0 or c < lo or c > hi:
            continue
        if lo < c < hi:
            edges.append(c)
        step = d
        while step < bulk:
            for e in (c - step, c + step):
                if lo < e < hi:
                    edges.append(e)
            step *= GRADING
    out = np.sort(np.array(edges))
    keep = np.ones(out.shape[0], dtype=np.bool_)
    for i in range(1, out.shape[0]):
        if out[i] - out[i - 1] < 1e-13 * (1 + abs(out[i])):
            keep[i] = False
    return out[keep]


# --------------------------------------------------------------------------------------------------------
# symbolic preparation
# --------------------------------------------------------------------------------------------------------
def _stable(expr):
    """H -> exp(lnH), products of exponentials merged, logs of sums of exponentials -> LogSumExp."""
    expr = expr.replace(H, lambda x: sp.exp(LogH(x)))
    expr = sp.powsimp(sp.expand(expr), combine="exp")

    def lse(arg):
        terms = sp.Add.make_args(sp.expand(arg))
        exps = []
        for t in terms:
            c, e = sp.powsimp(t, combine="exp").as_independent(sp.exp, as_Add=False)
            if not (isinstance(e, sp.exp) and c.is_positive):
                return None
            exps.append(e.args[0] + sp.log(c))
        return LogSumExp(*exps) if len(exps) > 1 else exps[0]

    def rule(arg):
        out = lse(arg)
        return sp.log(arg) if out is None else out
    return expr.replace(sp.log, rule)


def _gaussian_shift(expr, var):
    r"""Absorb each term's factor :math:`e^{cw+d}` into the measure: :math:`\int Dw\,e^{cw+d}F(w) =
    e^{c^2/2+d}\int Dw\,F(w+c)`."""
    out = []
    for term in sp.Add.make_args(sp.expand(expr)):
        term = sp.powsimp(term, combine="exp")
        factors = sp.Mul.make_args(term)
        tilt = [f for f in factors if isinstance(f, sp.exp) and f.args[0].has(var)
                and not f.args[0].has(LogSumExp) and sp.Poly(f.args[0], var).degree() == 1]
        if not tilt:
            out.append(term)
            continue
        (e,) = tilt
        c = sp.diff(e.args[0], var)
        d = e.args[0] - c * var
        rest = sp.Mul(*[f for f in factors if f is not e]).subs(var, var + c)
        out.append(sp.exp(c ** 2 / 2 + d) * rest)
    return sp.Add(*out)


def _linear_roots(args, var):
    """[(root, width)] where a linear function of ``var`` in ``args`` vanishes: root -A/B, width 1/|B|."""
    out = []
    for a in args:
        if not a.has(var):
            continue
        slope = sp.diff(a, var)
        if slope.has(var):
            raise ValueError("kink argument %s is not linear in %s" % (a, var))
        out.append((-a.subs(var, 0) / slope, 1 / sp.Abs(slope)))
    return out


def _z_kinks(expr):
    args = {f.args[0] for f in expr.atoms(LogH, MillsRatio) if not f.args[0].has(w)}
    return _linear_roots(sorted(args, key=sp.default_sort_key), z)


def _w_kinks(expr):
    diffs = set()
    for f in expr.atoms(LogSumExp):
        for i, j in itertools.combinations(range(len(f.args)), 2):
            diffs.add(sp.expand(f.args[i] - f.args[j]))
    return _linear_roots(sorted(diffs, key=sp.default_sort_key), w)


def _plain(expr):
    """The stable primitives written back in elementary functions (for numerical checks in SymPy)."""
    expr = expr.replace(LogSumExp, lambda *a: sp.log(sp.Add(*[sp.exp(x) for x in a])))
    expr = expr.replace(MillsRatio, lambda x: sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi) / (sp.erfc(x / sp.sqrt(2)) / 2))
    return expr.replace(LogH, lambda x: sp.log(sp.erfc(x / sp.sqrt(2)) / 2))


def _reflection_symmetric(outputs, arguments, variables, trials=3):
    """True if every output is even under reflecting all integration variables (checked at random points, in
    mpmath at 20 digits), so that the integral is twice the integral over z >= 0."""
    rng = np.random.default_rng(1)
    symbols = list(arguments) + [kappa] + list(variables)
    functions = [sp.lambdify(symbols, _plain(f), "mpmath") for f in outputs]
    points = []
    for _ in range(trials):
        point = [rng.uniform(0.2, 0.9) for _ in arguments] + [rng.uniform(0, 0.5)]
        at = [rng.normal() for _ in variables]
        points.append((point + at, point + [-v for v in at]))
    with mpmath.workdps(20):
        for here, there in points:
            for f in functions:
                A, B = complex(f(*map(mpmath.mpf, here))), complex(f(*map(mpmath.mpf, there)))
                if abs(A - B) > 1e-12 * (1 + abs(A)):
                    return False
    return True


class _Integral:
    """One Gaussian integral of the free entropy: its arguments, stable integrand and derivatives."""

    def __init__(self, index, integral, shift):
        self.index = index
        self.variables = tuple(lim[0] for lim in integral.limits)
        weight = sp.Mul(*[gaussian_measure(v) for v in self.variables])
        f = _stable(integral.function / weight)
        if shift and w in self.variables:
            f = _gaussian_shift(f, w)
        self.arguments = tuple(sorted(f.free_symbols - {z, w, kappa}, key=lambda s: s.name))
        d = len(self.arguments)
        self.outputs = [f] + [sp.diff(f, a) for a in self.arguments]
        self.pairs = [(i, j) for i in range(d) for j in range(i, d)]
        self.outputs += [sp.diff(self.outputs[1 + i], self.arguments[j]) for i, j in self.pairs]
        self._kinks()

    @classmethod
    def averages(cls, index, integrands, variables):
        """Gaussian averages of several integrands (already in stable primitives) over ``variables``, no
        derivatives."""
        self = cls.__new__(cls)
        self.index, self.variables, self.outputs, self.pairs = index, tuple(variables), list(integrands), []
        free = set().union(*[f.free_symbols for f in integrands]) - {z, w, kappa}
        self.arguments = tuple(sorted(free, key=lambda s: s.name))
        self._kinks()
        return self

    def _kinks(self):
        everything = sp.Add(*self.outputs)
        self.symmetric = _reflection_symmetric(self.outputs, self.arguments, self.variables)
        self.z_kinks = _z_kinks(everything)
        self.w_kinks = _w_kinks(everything) if w in self.variables else []


# --------------------------------------------------------------------------------------------------------
# code generation
# --------------------------------------------------------------------------------------------------------
class _Numba(_NumbaPrinter):
    def _print_LogH(self, expr):
        return "log_h(%s)" % self._print(expr.args[0])

    def _print_MillsRatio(self, expr):
        return "mills_ratio(%s)" % self._print(expr.args[0])

    def _print_LogSumExp(self, expr):
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = "log_sum_exp(%s, %s)" % (out, self._print(a))
        return out


class _Mp(_MpPrinter):
    def _print_LogH(self, expr):
        return "mp_log_h(%s)" % self._print(expr.args[0])

    def _print_MillsRatio(self, expr):
        return "mp_mills(%s)" % self._print(expr.args[0])

    def _print_LogSumExp(self, expr):
        return "mpmath.log(%s)" % " + ".join("mpmath.exp(%s)" % self._print(a) for a in expr.args)


def _body(printer, outputs, target, indent="    "):
    """Assignments computing ``outputs`` into ``target[i]`` after common-subexpression elimination."""
    subs, reduced = sp.cse(outputs, symbols=sp.numbered_symbols("t_"), optimizations="basic")
    lines = ["%s%s = %s" % (indent, printer.doprint(s), printer.doprint(e)) for s, e in subs]
    lines += ["%s%s[%d] = %s" % (indent, target, i, printer.doprint(e)) for i, e in enumerate(reduced)]
    return lines


def _unpack(arguments, indent="    "):
    return ["%s%s = P[%d]" % (indent, a.name, i) for i, a in enumerate(arguments)] + \
           ["%skappa = P[%d]" % (indent, len(arguments))]


class _Variables:
    r"""Newton variables :math:`x = (y_1..y_L, v_1..v_{L-1}, s_1..s_{L-1})` and the maps to
    :math:`a = \tanh y = \sqrt Q`, :math:`b = \tanh v = \sqrt q`, :math:`s = \sqrt{\hat q}`."""

    def __init__(self, L):
        self.L = L
        self.y = sp.symbols("y_1:%d" % (L + 1), real=True)
        self.v = sp.symbols("v_1:%d" % L, real=True) if L > 1 else ()
        self.s = sp.symbols("s_1:%d" % L, real=True) if L > 1 else ()
        self.x = tuple(self.y) + tuple(self.v) + tuple(self.s)
        self.a = {l: sp.Symbol("a_%d" % l, positive=True) for l in range(1, L + 1)}
        self.b = {l: sp.Symbol("b_%d" % l, positive=True) for l in range(1, L)}
        self.sh = {l: sp.Symbol("s_%d" % l, positive=True) for l in range(1, L)}
        # order parameters in terms of the square-root arguments (used inside integrals)
        self.to_roots = {Q_(l): self.a[l] ** 2 for l in self.a}
        self.to_roots.update({q_(l): self.b[l] ** 2 for l in self.b})
        self.to_roots.update({qhat_(l): self.sh[l] ** 2 for l in self.sh})
        self.roots_to_x = {self.a[l]: sp.tanh(self.y[l - 1]) for l in self.a}
        self.roots_to_x.update({self.b[l]: sp.tanh(self.v[l - 1]) for l in self.b})
        self.roots_to_x.update({self.sh[l]: self.s[l - 1] for l in self.sh})

    def order_parameters(self, x):
        """(Q, q, qhat) arrays from x."""
        L = self.L
        return np.tanh(x[:L]) ** 2, np.tanh(x[L:2 * L - 1]) ** 2, x[2 * L - 1:] ** 2

    def from_theta(self, theta):
        """x from the order parameters as one vector (Q, q, qhat)."""
        L = self.L
        return self.from_order_parameters(theta[:L], theta[L:2 * L - 1], theta[2 * L - 1:])

    def from_order_parameters(self, Q, q, qhat):
        return np.concatenate([np.arctanh(np.sqrt(np.clip(Q, 0, 1 - 1e-16))),
                               np.arctanh(np.sqrt(np.clip(q, 0, 1 - 1e-16))), np.sqrt(np.maximum(qhat, 0))])

    def jacobian_diagonal(self, x):
        """d(Q, q, qhat)/dx elementwise (all maps are one-variable)."""
        L = self.L
        t = np.tanh(x[:2 * L - 1])
        return np.concatenate([2 * t * (1 - t * t), 2 * x[2 * L - 1:]])


def _integral_source(it, nb, mp):
    """Numba and mpmath source of one Gaussian integral: integrand, kinks in z and w, and the composite
    Gauss-Legendre quadrature ``integral_<index>(P, xg, wg, bulk)`` of all its outputs."""
    src = []
    k = it.index
    K = len(it.outputs)
    for printer, prefix, deco in ((nb, "", NJIT), (mp, "mp_", "")):
        src += ([deco] if deco else []) + ["def %sintegrand_%d(z, w, P, out):" % (prefix, k)]
        src += _unpack(it.arguments) + _body(printer, it.outputs, "out") + ["    return out", ""]
        for name, kinks, extra in (("z_kinks", it.z_kinks, ""), ("w_kinks", it.w_kinks, "z, ")):
            src += ([deco] if deco else []) + ["def %s%s_%d(%sP):" % (prefix, name, k, extra)]
            src += _unpack(it.arguments)
            if prefix:
                src.append("    K = []; D = []")
            else:
                src += ["    K = np.empty(%d)" % len(kinks), "    D = np.empty(%d)" % len(kinks)]
            for j, (root, width) in enumerate(kinks):
                r, d = printer.doprint(root), printer.doprint(width)
                if prefix:
                    src.append("    K.append(%s); D.append(%s)" % (r, d))
                else:
                    src += ["    K[%d] = %s" % (j, r), "    D[%d] = %s" % (j, d)]
            src += ["    return K, D", ""]
    two_d = len(it.variables) == 2
    src += [NJIT_PARALLEL,
            "def integral_%d(P, xg, wg, bulk):" % k,
            "    zk, zd = z_kinks_%d(P)" % k,
            "    ze = panel_edges(zk, zd, %s, Z_MAX, bulk)" % ("0.0" if it.symmetric else "-Z_MAX"),
            "    parts = np.zeros((ze.shape[0] - 1, %d))" % K,
            "    for i in numba.prange(ze.shape[0] - 1):",
            "        out = np.zeros(%d)" % K,
            "        h = 0.5 * (ze[i + 1] - ze[i])",
            "        for j in range(xg.shape[0]):",
            "            zz = ze[i] + h * (xg[j] + 1.0)",
            "            gz = h * wg[j] * math.exp(-0.5 * zz * zz) / math.sqrt(2 * math.pi)"]
    if two_d:
        src += ["            wk, wd = w_kinks_%d(zz, P)" % k,
                "            we = panel_edges(wk, wd, -Z_MAX, Z_MAX, bulk)",
                "            for m in range(we.shape[0] - 1):",
                "                g = 0.5 * (we[m + 1] - we[m])",
                "                for r in range(xg.shape[0]):",
                "                    ww = we[m] + g * (xg[r] + 1.0)",
                "                    c = gz * g * wg[r] * math.exp(-0.5 * ww * ww) / math.sqrt(2 * math.pi)",
                "                    integrand_%d(zz, ww, P, out)" % k,
                "                    for t in range(%d):" % K,
                "                        parts[i, t] += c * out[t]"]
    else:
        src += ["            integrand_%d(zz, 0.0, P, out)" % k,
                "            for t in range(%d):" % K,
                "                parts[i, t] += gz * out[t]"]
    src += ["    acc = np.zeros(%d)" % K, "    for i in range(parts.shape[0]):",
            "        for t in range(%d):" % K, "            acc[t] += parts[i, t]"]
    src += ["    return %sacc" % ("2.0 * " if it.symmetric else ""), ""]
    return src


def _header(theory, items, what=""):
    return ["# generated by symbolic_rg.replica_solver for %r%s" % (theory.network, what),
            "import math", "import mpmath", "import numba", "import numpy as np",
            "from symbolic_rg.replica_solver import log_h, mills_ratio, log_sum_exp, panel_edges, "
            "mp_log_h, mp_mills, Z_MAX", "", "N_OUTPUTS = %r" % ([len(it.outputs) for it in items],),
            "N_INTEGRALS = %d" % len(items), "DIMENSIONS = %r" % ([len(it.variables) for it in items],),
            "ARGUMENTS = %r" % ([[a.name for a in it.arguments] for it in items],), ""]


def _replicon_source(theory):
    r"""Source of the replicon kernels of a random-scenario theory: one integral per constraint layer, whose outputs
    are the kernels :math:`\mathbb E(\partial_x^i\partial_y^j\ln\zeta)^2` in stable primitives
    (:math:`\ln\zeta` rewritten by :func:`_stable`, then differentiated); the module's NAMES lists the kernels'
    placeholders in output order."""
    from .replica import x as fx, y as fy
    V = _Variables(theory.depth)
    _, kernels = theory.replicon
    items, names = [], []
    for l, (logs, fields, orders) in sorted(kernels.items()):
        stable = [(weight, _stable(log_zeta)) for weight, log_zeta in logs]
        outputs = []
        for placeholder, (i, j) in orders.items():
            total = 0
            for weight, d in stable:
                for var, order in ((fx, i), (fy, j)):
                    d = sp.diff(d, var, order) if order else d
                total += weight * d ** 2
            outputs.append(total.subs(fields).subs(V.to_roots))
            names.append(placeholder)
        items.append(_Integral.averages(len(items), outputs, (z, w) if fy in fields else (z,)))
    src = _header(theory, items, " (replicon kernels)")
    for it in items:
        src += _integral_source(it, _Numba(), _Mp())
    src.append("NAMES = %r" % ([str(n) for n in names],))
    return "\n".join(src) + "\n"


def _module_source(theory):
    """Python source of the Numba and mpmath evaluators of a theory (integrals, kinks, assembly)."""
    L = theory.depth
    V = _Variables(L)
    phi = sp.expand(theory.free_entropy.subs(V.to_roots))
    integrals = sorted(phi.atoms(sp.Integral), key=sp.default_sort_key)
    holders = sp.symbols("J_0:%d" % len(integrals))
    phi = sp.expand(phi.xreplace(dict(zip(integrals, holders))))
    items = [_Integral(k, I, shift=theory.scenario == "teacher") for k, I in enumerate(integrals)]
    nb, mp = _Numba(), _Mp()
    src = _header(theory, items)
    for it in items:
        src += _integral_source(it, nb, mp)
    # integral arguments from x, and the assembly of phi, its gradient and Hessian
    xs = V.x
    args_of = [[V.roots_to_x[a] for a in it.arguments] for it in items]
    src += [NJIT, "def integral_parameters(x, kappa):",
            "    P = np.zeros((%d, %d))" % (len(items), 1 + max([len(it.arguments) for it in items] + [0]))]
    for i, xi in enumerate(xs):
        src.append("    %s = x[%d]" % (xi.name, i))
    for k, exprs in enumerate(args_of):
        for j, e in enumerate(exprs):
            src.append("    P[%d, %d] = %s" % (k, j, nb.doprint(e)))
        src.append("    P[%d, %d] = kappa" % (k, len(exprs)))
    src += ["    return P", ""]
    # phi = C(x) + sum_k c_k(x) F_k(u_k(x)): gradient and Hessian by the chain rule, F's derivatives as symbols
    phi_x = phi.subs(V.roots_to_x)
    nx = len(xs)
    C = phi_x.subs({h: 0 for h in holders})
    coef = [sp.diff(phi_x, h) for h in holders]
    grad = [sp.diff(C, xi) for xi in xs]
    hess = [[sp.diff(C, xi, xj) for xj in xs] for xi in xs]
    value = C
    for k, (it, u) in enumerate(zip(items, args_of)):
        d = len(u)
        F = sp.Symbol("V_%d_0" % k)
        F1 = [sp.Symbol("V_%d_%d" % (k, 1 + m)) for m in range(d)]
        F2 = [[None] * d for _ in range(d)]
        for m, (i, j) in enumerate(it.pairs):
            F2[i][j] = F2[j][i] = sp.Symbol("V_%d_%d" % (k, 1 + d + m))
        du = [[sp.diff(um, xi) for xi in xs] for um in u]
        c = coef[k]
        dc = [sp.diff(c, xi) for xi in xs]
        value += c * F
        for i in range(nx):
            chain_i = sum(F1[m] * du[m][i] for m in range(d))
            grad[i] += dc[i] * F + c * chain_i
            for j in range(nx):
                chain_j = sum(F1[m] * du[m][j] for m in range(d))
                hess[i][j] += (sp.diff(c, xs[i], xs[j]) * F + dc[i] * chain_j + dc[j] * chain_i
                               + c * sum(F2[m][r] * du[m][i] * du[r][j] for m in range(d) for r in range(d))
                               + c * sum(F1[m] * sp.diff(u[m], xs[i], xs[j]) for m in range(d)))
    outputs = [value] + grad + [h for row in hess for h in row]
    for printer, prefix, deco in ((nb, "", NJIT), (mp, "mp_", "")):
        src += ([deco] if deco else []) + ["def %sassemble(x, alpha, kappa, V, out):" % prefix]
        for i, xi in enumerate(xs):
            src.append("    %s = x[%d]" % (xi.name, i))
        for k, it in enumerate(items):
            for t in range(len(it.outputs)):
                src.append("    V_%d_%d = V[%d][%d]" % (k, t, k, t))
        src += _body(printer, outputs, "out") + ["    return out", ""]
    src += [NJIT, "def evaluate(x, alpha, kappa, xg, wg, bulk):",
            "    P = integral_parameters(x, kappa)",
            "    V = numba.typed.List()"]
    for k in range(len(items)):
        src.append("    V.append(integral_%d(P[%d], xg, wg, bulk))" % (k, k))
    src += ["    out = np.zeros(%d)" % (1 + nx + nx * nx), "    assemble(x, alpha, kappa, V, out)",
            "    return out", ""]
    return "\n".join(src) + "\n", items, nx


# mpmath primitives used by the generated module
def mp_log_h(x):
    return mpmath.log(mpmath.erfc(x / mpmath.sqrt(2)) / 2)


def mp_mills(x):
    return mpmath.npdf(x) / (mpmath.erfc(x / mpmath.sqrt(2)) / 2)


def _load(theory, part=""):
    """The generated module of a theory (``part="replicon"``: its replicon kernels), written once to the cache."""
    name = "srg_replica%s_%s" % (part, _cache.key(GENERATOR_VERSION, repr(theory.network)))
    if name in sys.modules:
        return sys.modules[name]
    path = _cache.cache_dir() / (name + ".py")
    if not path.exists():
        source = _replicon_source(theory) if part else _module_source(theory)[0]
        _cache.atomic_write(path, source.encode())
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------------
class StationaryPoint(NamedTuple):
    """One solution of the saddle-point equations."""
    Q: np.ndarray            # weight overlaps Q_1..Q_L
    q: np.ndarray            # spin overlaps q_1..q_{L-1}
    q_hat: np.ndarray        # their conjugates
    free_entropy: float      # phi per weight (up to a constant common to all solutions)
    residual: float          # max |d phi / d(Q, q, qhat)| (scaled), the convergence measure
    iterations: int
    converged: bool
    replicon: float = float("nan")   # random scenario: largest replicon eigenvalue (RS locally stable where < 0)
    longitudinal: tuple = ()         # RS-direction curvature, oriented by the rule (selection.longitudinal_eigenvalues)

    @property
    def theta(self):
        """The order parameters as one vector (Q, q, q_hat)."""
        return np.concatenate([self.Q, self.q, self.q_hat])

    def as_dict(self):
        return {"Q": self.Q.tolist(), "q": self.q.tolist(), "q_hat": self.q_hat.tolist(),
                "free_entropy": self.free_entropy, "residual": self.residual, "iterations": self.iterations,
                "converged": self.converged, "replicon": None if np.isnan(self.replicon) else self.replicon,
                "longitudinal": [float(v) for v in self.longitudinal]}

    @property
    def locally_stable(self):
        """A local extremum of the kind the rule asks for in the replica-symmetric directions (every longitudinal
        eigenvalue negative)."""
        return bool(len(self.longitudinal) and max(self.longitudinal) < 0)


class RepliconStability(NamedTuple):
    r"""Stability of a replica-symmetric stationary point (random scenario) against replica symmetry breaking:
    the eigenvalues of :math:`DM_{\rm eff}D` over :math:`(Q_l, q_l)`, :math:`D = \mathrm{diag}(1-Q_l, 1-q_l)`
    (Sylvester: the same signs as :math:`M_{\rm eff}`'s; at depth 1 the single one is Gardner's
    :math:`\alpha(1-Q)^2\mathbb E(\partial_x^2\ln\zeta)^2 - 1`)."""
    eigenvalues: np.ndarray       # ascending
    kernels: dict                 # placeholder name -> value (T_l, Kxx_l, Kxy_l, Kyy_l)
    quadrature_error: float       # change of the eigenvalues from 8 to 16 Gauss-Legendre nodes per panel

    @property
    def largest(self):
        return float(self.eigenvalues[-1])

    @property
    def stable(self):
        """Replica symmetry is locally stable: every replicon eigenvalue negative."""
        return self.largest < 0


class ReplicaSolution(NamedTuple):
    """Every stationary point found at one (alpha, kappa), and the physical one (by :mod:`.selection`'s rule)."""
    alpha: float
    kappa: float
    solutions: list          # StationaryPoint: the physical one first, then the others by free entropy (largest first)
    physical: StationaryPoint
    generalization_error: float   # teacher scenario (nan otherwise)
    quadrature_error: float       # change of the physical phi and gradient from 8 to 16 nodes per panel
    rule: str                     # how the physical solution was chosen

    @property
    def Q(self):
        return self.physical.Q

    @property
    def q(self):
        return self.physical.q

    @property
    def q_hat(self):
        return self.physical.q_hat

    @property
    def free_entropy(self):
        return self.physical.free_entropy

    @property
    def converged(self):
        return self.physical.converged

    @property
    def rs_stable(self):
        """Random scenario: the physical solution is stable against replica symmetry breaking (None: teacher, where
        the Nishimori line makes RS exact)."""
        return None if np.isnan(self.physical.replicon) else bool(self.physical.replicon < 0)

    def as_dict(self):
        out = {"alpha": self.alpha, "kappa": self.kappa, "Q": self.Q.tolist(), "q": self.q.tolist(),
               "q_hat": self.q_hat.tolist(), "free_entropy": self.free_entropy,
               "generalization_error": None if np.isnan(self.generalization_error) else self.generalization_error,
               "converged": self.converged, "rs_stable": self.rs_stable,
               "quadrature_error": self.quadrature_error, "rule": self.rule,
               "replicon": None if np.isnan(self.physical.replicon) else self.physical.replicon,
               "longitudinal": [float(v) for v in self.physical.longitudinal],
               "solutions": [s.as_dict() for s in self.solutions]}
        if not self.physical.locally_stable:
            out["warning"] = ("no stationary point found is a local extremum of the kind the rule asks for (the "
                              "selected one has a positive longitudinal eigenvalue): a point the search missed lies "
                              "beyond it, or none exists (e.g. beyond the replica-symmetric capacity)")
        if self.rs_stable is False:
            out["rsb"] = ("the selected point is RS-unstable (replicon %.3g > 0): its free entropy is only an upper "
                          "bound on the quenched one (Guerra 2003), and the physical state breaks replica symmetry; "
                          "the engine's 1RSB ansatz is implemented for the SK model (symbolic-rg solve sk --ansatz "
                          "1rsb), not yet for the deep perceptron" % self.physical.replicon)
        return out


class ReplicaSweep(NamedTuple):
    """A sweep in alpha: per alpha the physical solution and every branch (forward and backward passes)."""
    alpha: np.ndarray
    points: list             # ReplicaSolution per alpha
    depth: int

    @property
    def Q(self):
        return np.array([p.Q for p in self.points])

    @property
    def q(self):
        return np.array([p.q for p in self.points])

    @property
    def free_entropy(self):
        return np.array([p.free_entropy for p in self.points])

    @property
    def generalization_error(self):
        return np.array([p.generalization_error for p in self.points])

    @property
    def replicon(self):
        """Random scenario: the physical solution's largest replicon eigenvalue per alpha (RS stable where < 0)."""
        return np.array([p.physical.replicon for p in self.points])

    def replica_symmetry_breaking(self):
        """Random scenario: [(alpha, "unstable" | "stable")] where the physical solution's largest replicon
        eigenvalue changes sign between neighbouring alphas (linearly interpolated): the de Almeida–Thouless points
        of the sweep, "unstable" where RS stops being stable as alpha grows."""
        lam, out = self.replicon, []
        for i in range(len(lam) - 1):
            if np.isfinite(lam[i]) and np.isfinite(lam[i + 1]) and (lam[i] < 0) != (lam[i + 1] < 0):
                t = lam[i] / (lam[i] - lam[i + 1])
                out.append((float(self.alpha[i] + t * (self.alpha[i + 1] - self.alpha[i])),
                            "unstable" if lam[i] < 0 else "stable"))
        return out

    def branches(self):
        """[(alpha, Q array)] of every stationary point at every alpha (for plots showing hysteresis)."""
        return [(p.alpha, s.Q) for p in self.points for s in p.solutions]

    def hysteresis(self):
        """alphas where more than one distinct solution coexists."""
        return np.array([p.alpha for p in self.points if len(p.solutions) > 1])

    def transitions(self, threshold=1e-6, jump=0.05):
        """Per layer l (of Q_l): (l, alpha at which Q_l of the physical solution first exceeds ``threshold``, kind).
        The kind is 'discontinuous' if the branch that takes over already existed at the previous alpha with
        Q_l above ``jump`` (coexistence: a first-order jump with hysteresis), else 'continuous'; (l, None, None)
        if Q_l stays zero over the sweep."""
        Q = self.Q
        out = []
        for l in range(self.depth):
            idx = np.nonzero(Q[:, l] > threshold)[0]
            if idx.size == 0:
                out.append((l + 1, None, None))
                continue
            i = idx[0]
            if i == 0:
                out.append((l + 1, float(self.alpha[0]), "nonzero from the first alpha"))
                continue
            before = [s.Q[l] for s in self.points[i - 1].solutions]
            kind = "discontinuous" if max(before) > max(jump, 0.5 * Q[i, l]) else "continuous"
            out.append((l + 1, float(self.alpha[i]), kind))
        return out

    def phase_diagram(self, path):
        """Heat map of Q_l over layer l and alpha (PNG)."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 3.5))
        Q = self.Q
        mesh = ax.pcolormesh(self.alpha, np.arange(1, self.depth + 1), Q.T, shading="nearest", vmin=0, vmax=1,
                             cmap="viridis")
        fig.colorbar(mesh, ax=ax, label=r"$Q_l$")
        ax.set_xlabel(r"$\alpha = M/c$")
        ax.set_ylabel("layer $l$")
        ax.set_yticks(np.arange(1, self.depth + 1))
        fig.tight_layout()
        fig.savefig(path, dpi=130)
        plt.close(fig)
        return path


def _inverse(expr, Q, t, root):
    """Numeric inverse Q(t) of the weight-entropy derivative expr(Q) = t on [0, 1) from its symbolic ``root`` on the
    branch through Q = 0 (:attr:`ReplicaTheory.weight_entropy_inverse`), clipped to [0, 1)."""
    f = sp.lambdify(t, root, "math")
    probe, lo = float(expr.subs(Q, sp.Rational(1, 3))), float(expr.subs(Q, 0))

    def inverse(value):
        if (value - lo) * (probe - lo) <= 0:        # beyond Q = 0: clip
            return 0.0
        return min(1 - 1e-12, max(0.0, f(value)))
    return inverse


# --------------------------------------------------------------------------------------------------------
# the solver
# --------------------------------------------------------------------------------------------------------
class ReplicaSolver:
    """Compiled saddle point of a replica theory (``precision=None``: Numba float64; an int: mpmath digits)."""

    def __init__(self, theory, precision=None):
        self.theory = theory
        self.depth = theory.depth
        self.scenario = theory.scenario
        self.precision = precision
        self.module = _load(theory)
        self.variables = _Variables(self.depth)
        self.nx = 3 * self.depth - 2
        self._weight_derivative, self._weight_inverse = [], []
        target, roots = theory.weight_entropy_inverse
        for Ql, eq, root in zip(theory.Q, theory.saddle_point_equations, roots):
            self._weight_derivative.append(sp.lambdify(Ql, eq.lhs, "math"))
            self._weight_inverse.append(_inverse(eq.lhs, Ql, target, root))
        slopes = []
        for name in ("q", "qhat"):                    # coefficient of q_l in d phi/d qhat_l, and of qhat_l in d phi/d q_l
            if theory.depth > 1:
                own, partner = (theory.q[0], theory.qhat[0]) if name == "q" else (theory.qhat[0], theory.q[0])
                slopes.append(sp.lambdify(alpha, sp.diff(theory.free_entropy, partner, own), "math"))
        self._slopes = slopes

    # -- evaluation ----------------------------------------------------------------------------------
    def _check(self, alpha_value, kappa_value):
        _check_positive("alpha", alpha_value)
        _check_nonnegative("kappa", kappa_value)
        if self.scenario == "teacher" and kappa_value != 0:
            raise ParameterError("kappa must be 0 in the teacher scenario (the teacher's labels carry no "
                                 "margin), got %r" % (kappa_value,))

    def evaluate(self, x, alpha_value, kappa_value=0.0, nodes=8, bulk=BULK):
        """(phi, gradient, Hessian) in the Newton variables x (float64), ``nodes`` Gauss-Legendre nodes per panel."""
        xg, wg = np.polynomial.legendre.leggauss(nodes) if nodes not in (8, 16) else (GL8 if nodes == 8 else GL16)
        out = self.module.evaluate(np.asarray(x, float), float(alpha_value), float(kappa_value), xg, wg, bulk)
        n = self.nx
        return out[0], out[1:1 + n], out[1 + n:].reshape(n, n)

    def residual(self, x, g, Hm):
        """Gradient in the original order parameters (Q, q, qhat); at x_i = 0, half the second derivative."""
        jd = self.variables.jacobian_diagonal(x)
        r = np.empty_like(g)
        for i in range(g.shape[0]):
            if abs(x[i]) <= 1e-7:
                r[i] = 0.5 * Hm[i, i]
            else:                                  # an overlap saturated at 1 in float64 (jd = 0): not a solution
                r[i] = g[i] / jd[i] if jd[i] != 0 else np.inf
        return r

    def newton(self, x0, alpha_value, kappa_value=0.0, tol=1e-10, maxiter=40, pin=PIN):
        """Damped Newton iteration on grad phi = 0 from x0: (x, phi, residual, iterations, converged).

        A coordinate that falls below ``pin`` where d phi/d Q_i ~ H_ii/2 vanishes is set to 0 and held there (an
        overlap below pin^2: a liquid layer): x_i = 0 is stationary in x for any phi (the overlaps are even in x), but
        phi is quartic there, so Newton would creep.  Whether 0 is a true solution of the original equations is
        decided by the residual (d phi/d Q_i at 0); accepted where every residual is below 1e-7 (1 + alpha)."""
        x = np.array(x0, float)
        x[np.abs(x) < pin] = 0.0
        accept = 1e-7 * (1 + alpha_value)
        phi, g, Hm = self.evaluate(x, alpha_value, kappa_value)
        it = 0
        for it in range(1, maxiter + 1):
            if not (np.all(np.isfinite(g)) and np.all(np.isfinite(Hm))):
                return x, phi, np.inf, it, False
            active = np.flatnonzero(x)
            if active.size == 0 or np.max(np.abs(g[active])) < tol:
                break
            try:
                step = np.zeros_like(x)
                step[active] = np.linalg.solve(Hm[np.ix_(active, active)], -g[active])
            except np.linalg.LinAlgError:
                return x, phi, np.inf, it, False
            big = np.max(np.abs(step))
            if big > 0.5:
                step *= 0.5 / big
            norm0 = np.max(np.abs(g[active]))
            t = 1.0
            for _ in range(8):
                xn = x + t * step
                xn[(np.abs(xn) < pin) & (np.abs(0.5 * np.diag(Hm)) < accept)] = 0.0
                phin, gn, Hn = self.evaluate(xn, alpha_value, kappa_value)
                if np.all(np.isfinite(gn)) and np.max(np.abs(gn[active])) < norm0:
                    break
                t *= 0.5
            else:
                break                              # no decrease: at the quadrature's noise floor or stuck; judged below
            x, phi, g, Hm = xn, phin, gn, Hn
            if np.max(np.abs(t * step)) < 1e-13:
                break
        r = self.residual(x, g, Hm)
        res = float(np.max(np.abs(r))) if r.size else 0.0
        ok = bool(np.isfinite(res) and res < accept)
        return x, phi, res, it, ok

    def _fixed_point_map(self, theta, alpha_value, kappa_value):
        r"""One step of the solved saddle-point equations
        (:math:`W'(Q_l^{new}) = W'(Q_l) - \partial_{Q_l}\phi`, :math:`q_l^{new} = q_l - \partial_{\hat q_l}\phi/c_l`,
        :math:`\hat q_l^{new} = \hat q_l - \partial_{q_l}\phi/\hat c_l`, with :math:`c, \hat c` the coefficients with which
        they enter linearly), projected onto the physical ranges; None where phi is not finite."""
        L = self.depth
        x = self.variables.from_theta(theta)
        phi, g, Hm = self.evaluate(x, alpha_value, kappa_value)
        r = self.residual(x, g, Hm)
        if not np.all(np.isfinite(r)):
            return None
        new = theta.copy()
        for l in range(L):
            new[l] = self._weight_inverse[l](self._weight_derivative[l](theta[l]) - r[l])
        for l in range(L - 1):
            new[L + l] = theta[L + l] - r[2 * L - 1 + l] / self._slopes[0](alpha_value)
            new[2 * L - 1 + l] = theta[2 * L - 1 + l] - r[L + l] / self._slopes[1](alpha_value)
        return self._project(new)

    def _project(self, theta):
        L = self.depth
        theta[:2 * L - 1] = np.clip(theta[:2 * L - 1], 0.0, 1 - 1e-12)
        theta[2 * L - 1:] = np.maximum(theta[2 * L - 1:], 0.0)
        return theta

    def iterate(self, theta, alpha_value, kappa_value=0.0, damping=0.5, tol=1e-8, maxiter=100, memory=5, known=()):
        """Fixed-point iteration of the solved saddle-point equations (:meth:`_fixed_point_map`), damped and
        Anderson-accelerated over the last ``memory`` steps, to a relative change below ``tol`` (Newton polishes the
        result).  It converges to the solutions that are attracting for the map.  Returns (x, status): "converged",
        "known" (it came within 1e-3 of one of the ``known`` order-parameter vectors, a solution already found),
        "maxiter", "saturated" (an overlap pinned at 1 by the projection: no stationary point there), or "failed"
        (phi not finite; x is None)."""
        L = self.depth
        theta = self._project(np.array(theta, float))
        thetas, fs = [], []
        status = "maxiter"
        for it in range(maxiter):
            new = self._fixed_point_map(theta, alpha_value, kappa_value)
            if new is None:
                return None, "failed"
            f = new - theta
            change = np.max(np.abs(f) / (1 + np.abs(theta)))
            if change < tol:
                status = "converged"
                break
            thetas.append(theta.copy())
            fs.append(f)
            thetas, fs = thetas[-memory - 1:], fs[-memory - 1:]
            step = theta + damping * f
            if len(fs) > 1:                                   # Anderson mixing (type II) of the recent steps
                dF = np.diff(np.array(fs), axis=0).T
                dT = np.diff(np.array(thetas), axis=0).T
                gamma = np.linalg.lstsq(dF, f, rcond=1e-10)[0]
                step = step - (dT + damping * dF) @ gamma
            theta = self._project(step)
            if any(np.max(np.abs(theta - k) / (1 + np.abs(k))) < 1e-3 for k in known):
                status = "known"
                break
        if status != "known" and np.any(theta[:2 * L - 1] > 1 - 1e-9):
            status = "saturated"
        return self.variables.from_theta(theta), status

    # -- solutions -----------------------------------------------------------------------------------
    def _starts(self):
        """Liquid (zero), fully frozen, and boundary-frozen starts (the first k or the last k layers)."""
        L = self.depth
        V = self.variables
        cold = lambda frozen: V.from_order_parameters(
            np.array([0.9 if l in frozen else 0.05 for l in range(1, L + 1)]),
            np.array([0.9 if (l in frozen or l + 1 in frozen) else 0.05 for l in range(1, L)]),
            np.array([4.0 if (l in frozen or l + 1 in frozen) else 0.05 for l in range(1, L)]))
        starts = [np.zeros(self.nx), cold(set(range(1, L + 1)))]
        for k in range(1, L):
            starts.append(cold(set(range(1, k + 1))))
            starts.append(cold(set(range(L - k + 1, L + 1))))
        return starts

    def _point(self, x, phi, res, it, ok):
        Q, q, qh = self.variables.order_parameters(np.abs(x))
        return StationaryPoint(Q, q, qh, float(phi), res, it, ok)

    @staticmethod
    def _same(a, b):
        return np.allclose(np.concatenate([a.Q, a.q]), np.concatenate([b.Q, b.q]), atol=1e-5) and \
            np.allclose(a.q_hat, b.q_hat, rtol=1e-4, atol=1e-5)

    def stationary_points(self, alpha, kappa=0.0, starts=None, fallback=True, known=()):
        """Every distinct converged stationary point from ``starts`` (default: :meth:`_starts`) that is not one of the
        ``known`` points.  Newton first (it also reaches solutions that repel the fixed-point iteration); where it fails
        and ``fallback`` (cold starts), the fixed-point iteration (abandoned when it runs into a solution already
        found) and Newton again (from where the first Newton stopped, if the iteration saturates or fails).
        Without ``fallback``, Newton alone (continuation)."""
        found, known = [], list(known)
        for x0 in (self._starts() if starts is None else starts):
            x, phi, res, it, ok = self.newton(x0, alpha, kappa, maxiter=8 if fallback else 40)
            if not ok and fallback:
                seen = [p.theta for p in known + found]
                x1, status = self.iterate(np.concatenate(self.variables.order_parameters(x0)), alpha, kappa,
                                          known=seen)
                if status == "known":
                    continue
                x, phi, res, it2, ok = self.newton(x if x1 is None or status == "saturated" else x1, alpha, kappa)
                it += it2
            if not ok:
                continue
            p = self._point(x, phi, res, it, ok)
            if not any(self._same(p, f) for f in known + found):
                found.append(p)
        found.sort(key=lambda p: -p.free_entropy)
        return found

    def _result(self, alpha, kappa, found, search=True):
        if not found and self.depth == 1 and self.scenario == "random":
            capacity = float(self.theory.capacity().subs(kappa_symbol, kappa))
            if alpha >= capacity:
                raise NoSolutionError("no physical solution: alpha=%g is at or above the capacity alpha_c(kappa=%g) "
                                      "= %.6g (no spherical perceptron stores the data); alpha must be below it"
                                      % (alpha, kappa, capacity))
        if not found:
            raise ConvergenceError("no stationary point converged at alpha=%g, kappa=%g (depth %d, %s); "
                                   "residual above 1e-7 from every start" % (alpha, kappa, self.depth, self.scenario))
        kinds = self.theory.order_parameter_kinds
        found = self._descend(found, alpha, kappa) if search else self._annotate(found, alpha, kappa)
        if self.scenario == "random":
            found = [p._replace(replicon=self.replicon(p, alpha, kappa).largest) for p in found]
        best = physical_index([p.free_entropy for p in found], [p.theta for p in found], kinds)
        physical = found[best]
        found = [physical] + sorted(found[:best] + found[best + 1:], key=lambda p: -p.free_entropy)
        eps = np.nan
        if self.scenario == "teacher":
            r = 1.0
            for Ql in physical.Q:
                r = 2 / np.pi * np.arcsin(min(1.0, Ql * r))
            eps = (1 - r) / 2
        x = self.variables.from_theta(physical.theta)
        a = self.evaluate(x, alpha, kappa, 8)
        b = self.evaluate(x, alpha, kappa, 16)
        qerr = float(max(abs(a[0] - b[0]), np.max(np.abs(a[1] - b[1])) if a[1].size else 0.0))
        rule = rule_statement(kinds)
        return ReplicaSolution(float(alpha), float(kappa), found, physical, eps, qerr, rule)

    def _annotate(self, points, alpha, kappa):
        """The points with their longitudinal eigenvalues (computed where missing)."""
        kinds = self.theory.order_parameter_kinds
        return [p if len(p.longitudinal) else
                p._replace(longitudinal=tuple(map(float, longitudinal_eigenvalues(self.hessian(p, alpha, kappa),
                                                                                   kinds))))
                for p in points]

    def _descend(self, points, alpha, kappa, rounds=3, steps=(0.1, 0.3)):
        """The points annotated, and more: while the point the rule selects is not a local extremum of the kind it
        asks for (a positive longitudinal eigenvalue), Newton and the fixed-point iteration from it displaced along
        each such direction (:func:`.selection.wrong_directions`; a stationary point beyond it has a smaller free
        entropy in the quenched case, a larger one on the Nishimori line)."""
        kinds = self.theory.order_parameter_kinds
        points = self._annotate(points, alpha, kappa)
        for _ in range(rounds):
            if not points:
                break
            best = points[physical_index([p.free_entropy for p in points], [p.theta for p in points], kinds)]
            if max(best.longitudinal, default=-1.0) <= 0:
                break
            starts = []
            overlap = np.array([k.direction != 0 for k in kinds])
            for vec in wrong_directions(self.hessian(best, alpha, kappa), kinds):
                vec = vec / np.max(np.abs(vec[overlap]))         # steps measured in the overlaps, not in qhat
                for step, sign in itertools.product(steps, (1, -1)):
                    theta = self._project(best.theta + sign * step * vec)
                    if not np.allclose(theta, best.theta):
                        starts.append(self.variables.from_theta(theta))
            new = self.stationary_points(alpha, kappa, starts=starts, known=points)
            if not new:
                break
            points = points + self._annotate(new, alpha, kappa)
        return points

    def solve(self, alpha, kappa=0.0):
        """All stationary points at (alpha, kappa) from the standard starts; the physical one first."""
        self._check(alpha, kappa)
        if self.precision is not None:
            return self._solve_mp(alpha, kappa)
        return self._result(alpha, kappa, self.stationary_points(alpha, kappa))

    def sweep(self, alpha, kappa=0.0, fresh_every=50):
        """Warm-started sweep over ``alpha`` in both directions: every branch found at one alpha is continued by
        Newton to the next, forward; then backward, the branches that had no forward predecessor (born at a
        spinodal, or found by a fresh start) are continued down until they end or merge.  The standard starts are
        tried at both ends and every ``fresh_every`` points.  Returns a :class:`ReplicaSweep`."""
        alpha = np.asarray(alpha, float)
        for a in alpha:
            self._check(a, kappa)
        n = alpha.size
        found = [[] for _ in range(n)]
        continued = [[] for _ in range(n)]        # found[i][j] reached by continuing a branch from alpha[i - 1]
        V = self.variables
        start = lambda points: [V.from_theta(p.theta) for p in points]

        def add(i, points, linked):
            for p in points:
                if not any(self._same(p, f) for f in found[i]):
                    found[i].append(p)
                    continued[i].append(linked)

        for i in range(n):
            if i > 0:
                add(i, self.stationary_points(alpha[i], kappa, start(found[i - 1]), fallback=False), True)
            if i == 0 or i == n - 1 or i % fresh_every == 0:
                add(i, self.stationary_points(alpha[i], kappa, known=found[i]), False)
            if found[i]:                          # a branch the selected point is unstable towards: born here
                annotated = self._descend(found[i], alpha[i], kappa)
                found[i][:] = annotated[:len(found[i])]
                add(i, annotated[len(found[i]):], False)
        for i in range(n - 1, 0, -1):
            orphans = [p for p, linked in zip(found[i], continued[i]) if not linked]
            if orphans:
                add(i - 1, self.stationary_points(alpha[i - 1], kappa, start(orphans), fallback=False), False)
        points = []
        for i in range(n):
            found[i].sort(key=lambda p: -p.free_entropy)
            points.append(self._result(alpha[i], kappa, found[i], search=False))   # searched in the passes
        return ReplicaSweep(alpha, points, self.depth)

    def hessian(self, point, alpha_value, kappa_value=0.0, step=1e-4):
        r"""Hessian :math:`\partial^2\phi/\partial\theta\partial\theta'` in the order parameters (Q, q, qhat) at a
        stationary point: from the analytic Hessian in the Newton variables,
        :math:`\phi_{ij} = (\partial_{x_i}\partial_{x_j}\phi - \delta_{ij}\phi_i\theta_i'')/(\theta_i'\theta_j')`, where every
        coordinate is away from 0; a coordinate at 0 (a liquid layer, where :math:`\theta' = 0`) gets its row and column
        from one-sided second-order differences of the gradient (:meth:`residual`) with ``step`` in that parameter."""
        theta = np.asarray(point.theta, float)
        x = self.variables.from_theta(theta)
        _, g, Hx = self.evaluate(x, alpha_value, kappa_value)
        d1 = self.variables.jacobian_diagonal(x)
        L = self.depth
        t = np.tanh(x[:2 * L - 1])
        d2 = np.concatenate([2 * (1 - t * t) * (1 - 3 * t * t), np.full(L - 1, 2.0)])
        pinned = np.flatnonzero(x == 0)
        active = np.flatnonzero(x != 0)
        Hm = np.zeros_like(Hx)
        a = np.ix_(active, active)
        Hm[a] = (Hx[a] - np.diag(g[active] / d1[active] * d2[active])) / np.outer(d1[active], d1[active])
        r0 = self.residual(x, g, Hx)
        for i in pinned:
            r = []
            for k in (1, 2):
                shifted = theta.copy()
                shifted[i] += k * step
                xs = self.variables.from_theta(shifted)
                _, gs, Hs = self.evaluate(xs, alpha_value, kappa_value)
                r.append(self.residual(xs, gs, Hs))
            column = (-3 * r0 + 4 * r[0] - r[1]) / (2 * step)
            Hm[:, i] = Hm[i, :] = column
        if not np.all(np.isfinite(Hm)):
            raise ConvergenceError("hessian: non-finite at alpha=%g, kappa=%g, Q=%s" % (alpha_value, kappa_value,
                                                                                        point.Q))
        return (Hm + Hm.T) / 2

    # -- replica-symmetry breaking ----------------------------------------------------------------------
    def replicon(self, point, alpha_value, kappa_value=0.0):
        """:class:`RepliconStability` of a stationary point (random scenario): the replicon kernels of
        :attr:`ReplicaTheory.replicon` by the compiled quadrature, the matrix, the conjugates eliminated."""
        self._check(alpha_value, kappa_value)
        if self.scenario != "random":
            raise ParameterError("replicon: the random scenario only (on the Nishimori line of the teacher scenario "
                                 "the replica-symmetric solution is exact)")
        if "_replicon" not in self.__dict__:
            M, _ = self.theory.replicon
            module = _load(self.theory, "replicon")
            symbols = sorted(M.free_symbols, key=lambda s: s.name)
            self._replicon = (module, symbols, sp.lambdify(symbols, M, "numpy"))
        module, symbols, matrix = self._replicon
        L = self.depth
        roots = {"a_%d" % l: np.sqrt(point.Q[l - 1]) for l in range(1, L + 1)}
        roots.update({"b_%d" % l: np.sqrt(point.q[l - 1]) for l in range(1, L)})
        roots.update({"s_%d" % l: np.sqrt(point.q_hat[l - 1]) for l in range(1, L)})
        values = dict(zip(self.theory.order_parameters, point.theta))
        values.update({alpha: alpha_value, kappa: kappa_value})
        spectra = []
        for nodes in (GL8, GL16):
            kernels = {}
            for k in range(module.N_INTEGRALS):
                P = np.array([roots[a] for a in module.ARGUMENTS[k]] + [kappa_value], float)
                out = getattr(module, "integral_%d" % k)(P, nodes[0], nodes[1], BULK)
                kernels.update(zip(module.NAMES[sum(module.N_OUTPUTS[:k]):], out))
            M = np.array(matrix(*[kernels[s.name] if s.name in kernels else values[s] for s in symbols]), float)
            o, c = slice(0, 2 * L - 1), slice(2 * L - 1, 3 * L - 2)
            if not np.all(np.isfinite(M)):
                raise ConvergenceError("replicon: non-finite kernels at alpha=%g, kappa=%g, Q=%s"
                                       % (alpha_value, kappa_value, point.Q))
            Meff = M[o, o] - M[o, c] @ np.linalg.solve(M[c, c], M[c, o]) if L > 1 else M
            D = np.diag(1 - np.concatenate([point.Q, point.q]))
            spectra.append((np.linalg.eigvalsh(D @ Meff @ D), kernels))
        (coarse, _), (fine, kernels) = spectra
        return RepliconStability(fine, {k: float(v) for k, v in kernels.items()}, float(np.max(np.abs(fine - coarse))))

    # -- mpmath ---------------------------------------------------------------------------------------
    def mp_evaluate(self, x, alpha_value, kappa_value=0.0):
        """(phi, gradient, Hessian) at ``precision`` digits: nested tanh-sinh quadrature split at the kinks."""
        m = self.module
        with mpmath.workdps(self.precision or 30):
            x = [mpmath.mpf(v) for v in x]
            V = []
            for k in range(m.N_INTEGRALS):
                V.append(self._mp_integral(k, self._mp_parameters(k, x, kappa_value)))
            out = [mpmath.mpf(0)] * (1 + self.nx + self.nx ** 2)
            m.mp_assemble(x, mpmath.mpf(alpha_value), mpmath.mpf(kappa_value), V, out)
            n = self.nx
            return out[0], out[1:1 + n], [out[1 + n + i * n:1 + n + (i + 1) * n] for i in range(n)]

    def _mp_parameters(self, k, x, kappa_value):
        """The k-th integral's arguments at full precision (a = tanh y, b = tanh v, s)."""
        names = self.module.ARGUMENTS[k]
        values = []
        for name in names:
            kind, l = name.split("_")
            l = int(l)
            if kind == "a":
                values.append(mpmath.tanh(x[l - 1]))
            elif kind == "b":
                values.append(mpmath.tanh(x[self.depth + l - 1]))
            else:
                values.append(x[2 * self.depth - 1 + l - 1])
        return values + [mpmath.mpf(kappa_value)]

    def _mp_integral(self, k, P):
        m = self.module
        K = m.N_OUTPUTS[k]
        integrand = getattr(m, "mp_integrand_%d" % k)
        zk, _ = getattr(m, "mp_z_kinks_%d" % k)(P)
        zpts = [-mpmath.inf] + sorted(c for c in zk if mpmath.isfinite(c)) + [mpmath.inf]
        two_d = m.DIMENSIONS[k] == 2
        results = []
        for t in range(K):
            if two_d:
                wkf = getattr(m, "mp_w_kinks_%d" % k)

                def inner(zz, t=t):
                    wk, _ = wkf(zz, P)
                    wpts = [-mpmath.inf] + sorted(c for c in wk if mpmath.isfinite(c)) + [mpmath.inf]
                    return mpmath.quad(lambda ww: mpmath.npdf(ww) * integrand(zz, ww, P, [0] * K)[t], wpts)
                results.append(mpmath.quad(lambda zz: mpmath.npdf(zz) * inner(zz), zpts))
            else:
                results.append(mpmath.quad(lambda zz: mpmath.npdf(zz) * integrand(zz, 0, P, [0] * K)[t], zpts))
        return results

    def _solve_mp(self, alpha, kappa, tol=None):
        """Solve in float64 first, then refine every stationary point by Newton steps at ``precision`` digits."""
        base = self.theory.compile().solve(alpha, kappa)
        tol = tol or mpmath.mpf(10) ** (-(self.precision - 5))
        refined = []
        with mpmath.workdps(self.precision):
            for p in base.solutions:
                x = [mpmath.mpf(v) for v in self.variables.from_theta(p.theta)]
                ok = False
                for it in range(12):
                    phi, g, Hm = self.mp_evaluate(x, alpha, kappa)
                    if max(abs(v) for v in g) < tol:
                        ok = True
                        break
                    active = [i for i in range(self.nx) if abs(x[i]) > mpmath.mpf(10) ** (-8)]
                    A = mpmath.matrix([[Hm[i][j] for j in active] for i in active])
                    step = mpmath.lu_solve(A, mpmath.matrix([-g[i] for i in active]))
                    for j, i in enumerate(active):
                        x[i] += step[j]
                L = self.depth
                Q = [mpmath.tanh(v) ** 2 for v in x[:L]]
                q = [mpmath.tanh(v) ** 2 for v in x[L:2 * L - 1]]
                qh = [v ** 2 for v in x[2 * L - 1:]]
                refined.append(_MpPoint(Q, q, qh, phi, ok, it))
        return _MpSolution(alpha, kappa, refined, base)


class _MpPoint(NamedTuple):
    Q: list
    q: list
    q_hat: list
    free_entropy: object
    converged: bool
    iterations: int


class _MpSolution(NamedTuple):
    """mpmath refinement of every float64 stationary point (same order)."""
    alpha: float
    kappa: float
    solutions: list
    float64: ReplicaSolution

    @property
    def physical(self):
        return self.solutions[0]

    @property
    def Q(self):
        return self.physical.Q
