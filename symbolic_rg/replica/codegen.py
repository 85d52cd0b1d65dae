r"""Code generation for the replica saddle point: the derived free entropy as Numba and mpmath source.

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
"""
from __future__ import annotations

import itertools

import mpmath
import numba
import numpy as np
import sympy as sp

from ..printers import MpmathPrinter, NumbaPrinter, NUMBA_PRELUDE, cse_assignments, load_module
from ..special import H, LogH, LogSumExp, MillsRatio, gaussian_measure
from .rules import Q_, kappa, q_, qhat_, w, x as fx, y as fy, z

__all__ = ["module", "panel_edges", "Variables", "GENERATOR_VERSION", "Z_MAX", "BULK", "GRADING"]

GENERATOR_VERSION = "2"
Z_MAX = 9.5            # Gaussian weight beyond 9.5 standard deviations: below 1e-19
BULK = 2.0             # bulk panel width (1.5 -> 2.0: 1.5x fewer nodes, phi within 1e-11, gradient 2e-11)
GRADING = 2.0          # ratio of successive panel widths towards a kink
NJIT = '@numba.njit(cache=True, error_model="numpy")'
NJIT_PARALLEL = '@numba.njit(cache=True, error_model="numpy", parallel=True)'


# --------------------------------------------------------------------------------------------------------
# stable primitives (float64)
# --------------------------------------------------------------------------------------------------------
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
def _unpack(arguments, indent="    "):
    return ["%s%s = P[%d]" % (indent, a.name, i) for i, a in enumerate(arguments)] + \
           ["%skappa = P[%d]" % (indent, len(arguments))]


class Variables:
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
        src += _unpack(it.arguments) + cse_assignments(printer, it.outputs, "out") + ["    return out", ""]
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
    return ["# generated by symbolic_rg.replica.codegen for %r%s" % (theory.network, what), "import mpmath"]\
        + list(NUMBA_PRELUDE) + ["from symbolic_rg.replica.codegen import panel_edges, Z_MAX", "", "N_OUTPUTS = %r" % ([len(it.outputs) for it in items],),
            "N_INTEGRALS = %d" % len(items), "DIMENSIONS = %r" % ([len(it.variables) for it in items],),
            "ARGUMENTS = %r" % ([[a.name for a in it.arguments] for it in items],), ""]


def _replicon_source(theory):
    r"""Source of the replicon kernels of a random-scenario theory: one integral per constraint layer, whose outputs
    are the kernels :math:`\mathbb E(\partial_x^i\partial_y^j\ln\zeta)^2` in stable primitives
    (:math:`\ln\zeta` rewritten by :func:`_stable`, then differentiated); the module's NAMES lists the kernels'
    placeholders in output order."""
    V = Variables(theory.depth)
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
        src += _integral_source(it, NumbaPrinter(), MpmathPrinter())
    src.append("NAMES = %r" % ([str(n) for n in names],))
    return "\n".join(src) + "\n"


def _module_source(theory):
    """Python source of the Numba and mpmath evaluators of a theory (integrals, kinks, assembly)."""
    L = theory.depth
    V = Variables(L)
    phi = sp.expand(theory.free_entropy.subs(V.to_roots))
    integrals = sorted(phi.atoms(sp.Integral), key=sp.default_sort_key)
    holders = sp.symbols("J_0:%d" % len(integrals))
    phi = sp.expand(phi.xreplace(dict(zip(integrals, holders))))
    items = [_Integral(k, I, shift=theory.scenario == "teacher") for k, I in enumerate(integrals)]
    nb, mp = NumbaPrinter(), MpmathPrinter()
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
        src += cse_assignments(printer, outputs, "out") + ["    return out", ""]
    src += [NJIT, "def evaluate(x, alpha, kappa, xg, wg, bulk):",
            "    P = integral_parameters(x, kappa)",
            "    V = numba.typed.List()"]
    for k in range(len(items)):
        src.append("    V.append(integral_%d(P[%d], xg, wg, bulk))" % (k, k))
    src += ["    out = np.zeros(%d)" % (1 + nx + nx * nx), "    assemble(x, alpha, kappa, V, out)",
            "    return out", ""]
    return "\n".join(src) + "\n", items, nx


def module(theory, part=""):
    """The generated module of a theory (``part="replicon"``: its replicon kernels), written once to the cache
    (:func:`symbolic_rg.printers.load_module`)."""
    source = (lambda: _replicon_source(theory)) if part else (lambda: _module_source(theory)[0])
    return load_module("replica" + part, (GENERATOR_VERSION, repr(theory.network)), source)
