r"""Sherrington–Kirkpatrick model through the replica machinery, with :math:`k`-step replica-symmetry breaking.

**Model.** :math:`N` Ising spins, :math:`H = -\sum_{i<j}J_{ij}S_iS_j` with Gaussian couplings of variance :math:`1/N`,
no field; :math:`T_c = 1`.  The free entropy per spin :math:`\phi = -\beta f` includes :math:`\ln 2`.

**Derivation** (each step one rule, composed by :class:`SKTheory`):

* the disorder average gives :math:`\tfrac{\beta^2}4\sum_{a\ne b}Q_{ab}^2`, the overlaps fixed by conjugates
  :math:`\Lambda_{ab}` eliminated at their saddle point (:func:`pair_action`);
* the :class:`ParisiRSB` ansatz over :math:`n` replicas: overlaps :math:`q_0\le\dots\le q_k` in nested blocks of sizes
  :math:`n = m_0 \ge m_1\ge\dots\ge m_k\ge m_{k+1} = 1`; a sum over pairs becomes
  :math:`\sum_{a\ne b}f(Q_{ab}) = n\sum_{j}(m_j - m_{j+1})f(q_j)` (:meth:`ParisiRSB.pair_sum`), and the spin trace with
  the coupling :math:`\tfrac12\beta^2\sum_{a\ne b}Q_{ab}S^aS^b` is decoupled level by level by Gaussian fields of
  variances :math:`q_j - q_{j-1}` (:meth:`ParisiRSB.replicated_trace`):
  :math:`e^{-n\beta^2q_k/2}\int Dz_0\big[\int Dz_1[\cdots\int Dz_k\,\zeta(h)^{m_k}\cdots]^{m_1/m_2}\big]^{n/m_1}` with
  :math:`\zeta(h) = 2\cosh\beta h`, :math:`h = \sum_j\sqrt{q_j-q_{j-1}}\,z_j`;
* the quenched limit :math:`\phi = \partial_nG|_{n=0}` (:func:`quenched_limit`), differentiating under the integral
  sign.  For 1RSB: :math:`\phi = \tfrac{\beta^2}4[1 - 2q_1 + m q_0^2 + (1-m)q_1^2] + \tfrac1m\int Dz_0\ln\int Dz_1
  (2\cosh\beta h)^m`.

The saddle-point equations are :math:`\partial\phi/\partial q_j = 0` and :math:`\partial\phi/\partial m_j = 0`, both from
the analytic derivative (:math:`\phi` is flat in :math:`m`).  The physical point is the **infimum** over overlaps and
breakpoints (:mod:`.selection`: Guerra's bound, the Parisi formula): the paramagnet below :math:`T_c` is rejected, and
at zero field the :math:`k`-step point with :math:`q_0 = 0` — stationary by the spin-flip symmetry — is a saddle in
:math:`q_0`: the selected point has :math:`q_0 > 0`, and :math:`\phi_{\rm RS} > \phi_{\rm 1RSB} > \phi_{\rm 2RSB}`.
:math:`e = -\partial_\beta\phi`, :math:`s = \phi + \beta e`.

**Zero temperature** (:attr:`SKTheory.ground_state`): :math:`m_j = \mu_j T`, :math:`q_k\to1`, and
:math:`(2\cosh\beta h)^{m_k}\to e^{\mu_k|h|}` (:math:`\ln 2\cosh x = |x| + O(e^{-2|x|})`), after which the innermost
Gaussian integral is done by the rule :func:`abs_exponential_average`.

**Numerics** (:class:`SKSolver`).  The nested averages by the Parisi recursion on a uniform field grid,
:math:`f_j(x) = \tfrac1{m_j}\ln\mathbb E_z e^{m_jf_{j+1}(x + \sqrt{q_j - q_{j-1}}z)}`, each Gaussian average by the
trapezoid rule on the grid (exponentially accurate: the integrands are analytic in a strip, :math:`\ln\cosh\beta h`
has its singularities :math:`\pi/2\beta` from the real axis, where Gauss–Hermite converges slowly), in log-sum-exp
form; the gradient in every parameter carried exactly through the recursion (:func:`_level`).  The stated error is
the change when the grid is halved.  Newton on the analytic gradient (Hessian by differences of it) from several
starts; the derived expressions evaluated by mpmath (:meth:`SKTheory.mp_free_entropy`) are the independent route.

>>> from symbolic_rg.replica.sk import sk
>>> sol = sk(0).compile().solve(0.5)                      # RS at T = 0.5: the paramagnet q = 0 is rejected
>>> round(sol.q[0], 7), round(sol.free_entropy, 7)
(0.5303684, 1.5847859)
"""
from __future__ import annotations

import itertools
import math
import numbers
from functools import cached_property, lru_cache
from typing import NamedTuple

import mpmath
import numba
import numpy as np
import sympy as sp

from .. import cache
from .. import latex as _latex
from ..errors import ConvergenceError, ParameterError
from ..special import H, gaussian_measure
from .theory import ReplicaLatexPrinter
from .selection import BREAKPOINT, OVERLAP, longitudinal_eigenvalues, physical_index, rule_statement, wrong_directions

__all__ = ["ParisiRSB", "SKTheory", "SKSolver", "SKSolution", "SKPoint", "GroundState", "NewtonResult", "sk",
           "pair_action", "quenched_limit", "integrate_constants", "abs_exponential_average", "ANSATZE", "beta"]

n = sp.Symbol("n")                                   # number of replicas
beta = sp.Symbol("beta", positive=True)              # inverse temperature
ANSATZE = {"rs": 0, "1rsb": 1, "2rsb": 2}
Z_MAX = 10.0                                         # Gaussian weight beyond 10 standard deviations: 1e-23
NODES = 16                                           # Gauss-Legendre nodes per panel (the AT replicon's 1-D integral)


# --------------------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------------------
def pair_action(Q, coupling):
    r"""One ordered pair :math:`a\ne b` of the replicated action with its conjugate eliminated: the disorder average
    gives :math:`\tfrac c4Q^2` (:math:`c = \beta^2` for SK), the delta function fixing :math:`Q` gives
    :math:`-\tfrac12\Lambda Q` and :math:`\tfrac12\Lambda S^aS^b` in the trace; :math:`\partial_Q = 0` gives
    :math:`\Lambda = cQ`.  Returns (the pair's term, :math:`\Lambda` at the saddle point): (:math:`-cQ^2/4`, :math:`cQ`)."""
    Lam = sp.Symbol("Lambda")
    action = coupling * Q ** 2 / 4 - Lam * Q / 2
    (saddle,) = sp.solve(sp.diff(action, Q), Lam)
    return sp.expand(action.subs(Lam, saddle)), saddle


class ParisiRSB:
    r""":math:`k`-step replica-symmetry-breaking ansatz (:math:`k = 0`: replica symmetric) over :math:`n` replicas.

    Overlaps :math:`q_0..q_k`, block sizes :math:`m_1..m_k` (:math:`m_0 = n`, :math:`m_{k+1} = 1`)."""

    def __init__(self, k):
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ParameterError("k (steps of replica-symmetry breaking) must be an integer >= 0, got %r" % (k,))
        self.k = k
        self.q = tuple(sp.Symbol("q_%d" % j, nonnegative=True) for j in range(k + 1))
        self.m = tuple(sp.Symbol("m_%d" % j, positive=True) for j in range(1, k + 1))
        self.z = tuple(sp.Symbol("z_%d" % j, real=True) for j in range(k + 1))

    def sizes(self):
        """(m_0 = n, m_1, ..., m_k, m_{k+1} = 1)."""
        return (n,) + self.m + (sp.S.One,)

    def pair_counts(self):
        r"""{q_j: the number of ordered pairs :math:`a\ne b` at overlap :math:`q_j`} = :math:`n(m_j - m_{j+1})`."""
        M = self.sizes()
        return {self.q[j]: n * (M[j] - M[j + 1]) for j in range(self.k + 1)}

    def pair_sum(self, f):
        r""":math:`\sum_{a\ne b}f(Q_{ab})` for a function ``f`` of one overlap."""
        return sum(count * f(qj) for qj, count in self.pair_counts().items())

    def field(self):
        r""":math:`h = \sum_j\sqrt{q_j - q_{j-1}}\,z_j` (:math:`q_{-1} = 0`): the Gaussian field of one replica."""
        lower = (sp.S.Zero,) + self.q[:-1]
        return sum(sp.sqrt(qj - ql) * zj for qj, ql, zj in zip(self.q, lower, self.z))

    def replicated_trace(self, zeta, coupling):
        r""":math:`\ln\operatorname{Tr}_{\{S^a\}}\exp(\tfrac12\,\mathrm{coupling}\sum_{a\ne b}Q_{ab}S^aS^b)` for spins whose
        one-replica partition function in a field is ``zeta(h)``: the quadratic form
        :math:`q_0(\sum_aS^a)^2 + \sum_j(q_j - q_{j-1})\sum_{\rm blocks}(\sum_{a\in B_j}S^a)^2 - nq_k` decoupled by one
        Gaussian field per level, innermost first."""
        M = self.sizes()
        scale = sp.sqrt(coupling)
        inner = zeta(scale * self.field()) ** M[self.k]
        for j in range(self.k, -1, -1):
            inner = sp.Integral(inner * gaussian_measure(self.z[j]), (self.z[j], -sp.oo, sp.oo))
            if j:
                inner = inner ** (M[j - 1] / M[j])
        return -n * coupling * self.q[-1] / 2 + sp.log(inner)


def integrate_constants(expr):
    r"""Rule of Gaussian integration, :math:`\int Dz\,c = c`: every :math:`\int Dz` whose integrand is free of
    :math:`z` apart from the density is replaced by that integrand."""
    def trivial(e):
        return isinstance(e, sp.Integral) and len(e.limits) == 1 and \
            not sp.expand(e.function / gaussian_measure(e.limits[0][0])).has(e.limits[0][0])
    return expr.replace(trivial, lambda e: sp.expand(e.function / gaussian_measure(e.limits[0][0])))


def quenched_limit(G):
    r""":math:`\phi = \lim_{n\to0}G(n)/n = \partial_nG|_{n=0}` (:math:`G(0) = 0` checked), differentiating under the
    integral sign; the normalizations :math:`\int Dz\,1` at :math:`n = 0` evaluated."""
    if integrate_constants(G.subs(n, 0)) != 0:
        raise ValueError("G(0) must vanish: %s" % integrate_constants(G.subs(n, 0)))
    return integrate_constants(sp.diff(G, n).subs(n, 0))


def abs_exponential_average(mu, a, b):
    r"""Rule of Gaussian integration: :math:`\int Dz\,e^{\mu|a+bz|} = e^{\mu^2b^2/2}\big[e^{\mu a}H(-a/b-\mu b) +
    e^{-\mu a}H(a/b-\mu b)\big]` (:math:`b>0`; the two half-lines :math:`a + bz \gtrless 0`, each a shifted Gaussian)."""
    return sp.exp(mu ** 2 * b ** 2 / 2) * (sp.exp(mu * a) * H(-a / b - mu * b) + sp.exp(-mu * a) * H(a / b - mu * b))


# --------------------------------------------------------------------------------------------------------
# the nested Gaussian averages on a field grid
# --------------------------------------------------------------------------------------------------------
GRID = 0.05            # field-grid spacing of the recursion
TAIL = 10.0            # Gaussian kernels cut at 10 standard deviations (weight beyond: 1e-23)
SMALL = 1.5            # below SMALL * GRID a level's kernel is not resolved by the grid: Gauss-Hermite nodes instead
STENCIL = 12           # Lagrange interpolation points for those off-grid nodes
HERMITE = np.polynomial.hermite_e.hermegauss(24)
DEGENERATE = 1e-5      # a level with q_j - q_{j-1} or m_{j+1} - m_j below this is a point of fewer steps


def _level_nodes(sigma, dx):
    r"""A Gaussian kernel of width ``sigma`` on a grid of spacing ``dx``: (integer offsets ``o_s``, interpolation
    weights ``c_{s,l}`` over ``o_s .. o_s + p - 1``, node weights ``w_s``, half-width in grid points).  Resolved
    kernels: the trapezoid rule on the grid (exponentially accurate for analytic integrands); narrow ones:
    24 Gauss-Hermite nodes, each interpolated from ``STENCIL`` grid points; ``sigma = 0``: the identity."""
    if sigma == 0:
        return np.zeros(1, np.int64), np.ones((1, 1)), np.ones(1), 0
    if sigma >= SMALL * dx:
        K = int(math.ceil(TAIL * sigma / dx))
        s = np.arange(-K, K + 1)
        w = np.exp(-0.5 * (s * dx / sigma) ** 2)
        return s.astype(np.int64), np.ones((s.size, 1)), w / w.sum(), K
    t, w = HERMITE
    y = sigma * t / dx
    base = np.floor(y).astype(np.int64) - STENCIL // 2 + 1
    c = np.ones((t.size, STENCIL))
    for l in range(STENCIL):
        for r in range(STENCIL):
            if r != l:
                c[:, l] *= (y - base - r) / (l - r)
    return base, c, w / w.sum(), int(np.max(np.abs(base))) + STENCIL


@numba.njit(cache=True, error_model="numpy")
def _level(F, m, offsets, coeffs, weights, half_out, row_v, row_m):
    r"""One level of the Parisi recursion on the grid.  ``F`` (rows: f, f', f'', then one row per parameter) holds
    :math:`f_{j+1}` on a grid of half-width ``(F.shape[1] - 1)/2``; returns :math:`f_j` on half-width ``half_out``:
    :math:`f_j = \tfrac1m\ln\mathbb E e^{mf_{j+1}}` (``m = 0``: :math:`\mathbb E f_{j+1}`), with the tilted weights
    :math:`\pi\propto e^{mf_{j+1}}`: :math:`f_j' = \langle f'\rangle`, :math:`f_j'' = \langle f'' + mf'^2\rangle - mf_j'^2`,
    :math:`\partial_\theta f_j = \langle\partial_\theta f_{j+1}\rangle`, :math:`\partial_{v_j}f_j = \tfrac12(f_j'' + mf_j'^2)`
    (heat equation) and :math:`\partial_{m_j}f_j = (\langle f_{j+1}\rangle - f_j)/m`."""
    R, G = F.shape
    centre = (G - 1) // 2
    S, P = coeffs.shape
    out = np.zeros((R, 2 * half_out + 1))
    vals = np.empty((R, S))
    for i in range(2 * half_out + 1):
        x = centre + i - half_out
        for s in range(S):
            for r in range(R):
                acc = 0.0
                for l in range(P):
                    acc += coeffs[s, l] * F[r, x + offsets[s] + l]
                vals[r, s] = acc
        if m > 0:
            top = -np.inf
            for s in range(S):
                top = max(top, m * vals[0, s])
            total = 0.0
            for s in range(S):
                total += weights[s] * math.exp(m * vals[0, s] - top)
            f = (top + math.log(total)) / m
        else:
            f = 0.0
            for s in range(S):
                f += weights[s] * vals[0, s]
        mean_f, d1, d2 = 0.0, 0.0, 0.0
        for s in range(S):
            p = weights[s] * math.exp(m * (vals[0, s] - f)) if m > 0 else weights[s]
            mean_f += p * vals[0, s]
            d1 += p * vals[1, s]
            d2 += p * (vals[2, s] + m * vals[1, s] ** 2)
            for r in range(3, R):
                out[r, i] += p * vals[r, s]
        out[0, i] = f
        out[1, i] = d1
        out[2, i] = d2 - m * d1 * d1
        out[row_v, i] = 0.5 * d2
        if row_m >= 0:
            out[row_m, i] = (mean_f - f) / m
    return out


def _parisi_average(top, levels, dx=GRID):
    r"""The nested average :math:`\mathbb E_{z_0}f_1(\sqrt{v_0}z_0)` with :math:`f_j = \tfrac1{m_j}\ln\mathbb E
    e^{m_jf_{j+1}(x + \sqrt{v_j}z)}`, and its derivatives.  ``top(x)`` returns the rows (f, f', f'', d/d(own
    parameters)...) of the innermost function on the grid ``x``; ``levels`` = [(v_j, m_j)] from the innermost out,
    the last (outermost) with m = 0.  Returns (value, d/dv per level, d/dm per level (0 for the outermost), d/d(top's
    parameters))."""
    nodes = [_level_nodes(math.sqrt(max(v, 0.0)), dx) for v, _ in levels]
    half = sum(n[3] for n in nodes)
    x = dx * np.arange(-half, half + 1)
    rows = top(x)
    n_top = len(rows) - 3
    L = len(levels)
    F = np.zeros((3 + n_top + 2 * L, x.size))
    F[:3 + n_top] = rows
    for j, ((v, m), (o, c, w, K)) in enumerate(zip(levels, nodes)):
        half -= K
        F = _level(F, float(m), o, c, w, half, 3 + n_top + j, 3 + n_top + L + j if m > 0 else -1)
    out = F[:, 0]
    return out[0], out[3 + n_top:3 + n_top + L], out[3 + n_top + L:], out[3:3 + n_top]


def _log_two_cosh(b):
    r"""Rows of :math:`\ln 2\cosh\beta x` (stable: :math:`|\beta x| + \ln(1 + e^{-2|\beta x|})`) and its x- and
    :math:`\beta`-derivatives."""
    def top(x):
        a = np.abs(b * x)
        t = np.tanh(b * x)
        return np.array([a + np.log1p(np.exp(-2 * a)), b * t, b * b * (1 - t * t), x * t])
    return top


# --------------------------------------------------------------------------------------------------------
# theory
# --------------------------------------------------------------------------------------------------------
def _tex(expr):
    return ReplicaLatexPrinter({"ln_notation": False}).doprint(expr)


def _split(expr):
    """(terms without integrals, terms with integrals) of a sum."""
    plain, nested = 0, 0
    for t in sp.Add.make_args(sp.expand(expr, deep=False)):
        if t.has(sp.Integral):
            nested += t
        else:
            plain += t
    return plain, nested


class SKTheory:
    r"""The SK free entropy under the :class:`ParisiRSB` ansatz with ``k`` steps, its saddle-point equations, energy
    and zero-temperature limit.  Order parameters :math:`q_0..q_k` (inter-replica overlaps) and :math:`m_1..m_k`
    (Parisi breakpoints), all minimized over (:mod:`.selection`).

    >>> t = sk(1)
    >>> t.order_parameters, [kind.name for kind in t.order_parameter_kinds]
    ((q_0, q_1, m_1), ['inter-replica overlap', 'inter-replica overlap', 'Parisi breakpoint'])
    """

    def __init__(self, k):
        self.ansatz = ParisiRSB(k)
        self.k = k
        self.q = self.ansatz.q
        self.m = self.ansatz.m
        self.order_parameters = self.q + self.m
        self.order_parameter_kinds = tuple(OVERLAP for _ in self.q) + tuple(BREAKPOINT for _ in self.m)
        self.mu = tuple(sp.Symbol("mu_%d" % j, positive=True) for j in range(1, k + 1))

    def __repr__(self):
        return "SKTheory(k=%d)" % self.k

    @cached_property
    def replicated(self):
        r""":math:`G(n) = \ln\overline{Z^n}/N`: :math:`n\beta^2/4` (diagonal), the pair terms with their conjugates
        eliminated, and the spin trace at the conjugates' saddle point :math:`\Lambda_{ab} = \beta^2Q_{ab}`."""
        A = self.ansatz
        Qs = sp.Symbol("Q")
        term, Lam = pair_action(Qs, beta ** 2)
        return (n * beta ** 2 / 4 + A.pair_sum(lambda qj: term.subs(Qs, qj))
                + A.replicated_trace(lambda x: 2 * sp.cosh(x), sp.simplify(Lam / Qs)))

    @cached_property
    def free_entropy(self):
        r""":math:`\phi = -\beta f` per spin (ln 2 included)."""
        return quenched_limit(self.replicated)

    @cached_property
    def saddle_point_equations(self):
        r""":math:`\partial\phi/\partial\theta = 0` per order parameter (differentiation under the integral sign)."""
        return [sp.Eq(sp.diff(self.free_entropy, t), 0) for t in self.order_parameters]

    @cached_property
    def energy(self):
        r""":math:`e = -\partial_\beta\phi` at fixed order parameters (they are stationary)."""
        return -sp.diff(self.free_entropy, beta)

    @cached_property
    def ground_state(self):
        r""":math:`-e_0 = \lim_{\beta\to\infty}\phi/\beta` with :math:`m_j = \mu_j/\beta`, :math:`q_k = 1 - \chi/\beta`
        (:math:`\chi` drops out), :math:`(2\cosh\beta h)^{m_k}\to e^{\mu_k|h|}`, the innermost integral by
        :func:`abs_exponential_average`.  Order parameters :math:`q_0..q_{k-1}, \mu_1..\mu_k` (RS: none)."""
        chi = sp.Symbol("chi", positive=True)
        A = self.ansatz
        top, zk = A.q[-1], A.z[-1]
        phi = self.free_entropy.subs({mj: uj / beta for mj, uj in zip(self.m, self.mu)})
        plain, nested = _split(phi / beta)
        out = sp.limit(sp.expand(plain.subs(top, 1 - chi / beta)), beta, sp.oo)

        def cosh_power(e):
            return isinstance(e, sp.Pow) and e.base.is_Mul and e.base.has(sp.cosh) or isinstance(e, sp.log) and \
                e.args[0].is_Mul and e.args[0].has(sp.cosh) and not e.args[0].has(sp.Integral)

        def zero_temperature(e):                       # (2 cosh(beta h))^p -> exp(p beta |h|), ln -> beta |h|
            inner = e.base if isinstance(e, sp.Pow) else e.args[0]
            (c,) = inner.atoms(sp.cosh)
            if sp.simplify(inner - 2 * c) != 0:
                raise ValueError("expected 2 cosh(x), got %s" % inner)
            power = sp.expand(e.exp * beta) if isinstance(e, sp.Pow) else None
            field = sp.Abs(sp.expand(c.args[0] / beta))
            return sp.exp(power * field) if power is not None else beta * field

        nested = nested.subs(top, 1).replace(cosh_power, zero_temperature)
        if self.k:
            def match(e):
                return isinstance(e, sp.Integral) and e.limits[0][0] == zk

            def rule(e):
                f = e.function / gaussian_measure(zk)
                (ab,) = f.atoms(sp.Abs)
                arg = sp.expand(ab.args[0])
                b = arg.coeff(zk)
                return abs_exponential_average(self.mu[-1], sp.expand(arg - b * zk), b)
            nested = nested.replace(match, rule)
        def pull(e):                                   # constants out of the integral, the Gaussian density kept in
            c, f = e.function.as_independent(e.limits[0][0], as_Add=False)
            return c * sp.sqrt(2 * sp.pi) * sp.Integral(f / sp.sqrt(2 * sp.pi), *e.limits)
        nested = nested.replace(lambda e: isinstance(e, sp.Integral), pull)
        if nested.has(beta):
            raise ValueError("the zero-temperature limit left beta in %s" % nested)
        return out + nested

    # -- LaTeX ------------------------------------------------------------------------------------------
    def latex_equations(self):
        """[(name, Eq)]: the free entropy, every saddle-point equation, the energy, the zero-temperature limit."""
        phi, e, e0 = sp.Symbol("phi"), sp.Symbol("e"), sp.Symbol("e_0")
        out = [("free entropy", sp.Eq(phi, self.free_entropy))]
        out += [("saddle point %s" % t, eq) for t, eq in zip(self.order_parameters, self.saddle_point_equations)]
        out.append(("energy", sp.Eq(e, self.energy)))
        out.append(("ground state", sp.Eq(e0, -self.ground_state)))
        return out

    def latex(self, document=False):
        name = {0: "replica symmetric", 1: "one-step RSB", 2: "two-step RSB"}.get(self.k, "%d-step RSB" % self.k)
        rows = [r"%s &= %s" % (_tex(eq.lhs), _tex(eq.rhs)) for _, eq in self.latex_equations()]
        body = (r"\paragraph{Sherrington--Kirkpatrick model, %s.} Couplings of variance $1/N$, no field; "
                r"$\phi=-\beta f$ per spin; the physical point is the infimum over the overlaps $q_j$ and the "
                r"breakpoints $m_j$ (Guerra; Talagrand); $e_0$: $T\to0$ with $\mu_j = \beta m_j$ fixed." % name
                + "\n" + r"\begin{align}" + "\n" + " \\\\\n".join(rows) + "\n" + r"\end{align}")
        return _latex.document("SK model, %s" % name, body) if document else body

    def _repr_latex_(self):
        return "$$" + _tex(self.free_entropy) + "$$"

    def compile(self, grid=GRID):
        """The :class:`SKSolver` (float64; ``grid``: spacing of the field grid of the recursion)."""
        return SKSolver(self, grid)

    def mp_free_entropy(self, values, temperature, precision=30):
        r""":math:`\phi` from the derived expression by mpmath quadrature (tanh-sinh, nested) at ``precision`` digits;
        ``values`` in the order of :attr:`order_parameters`: an independent route to the compiled recursion."""
        f = sp.lambdify((beta,) + self.order_parameters, self.free_entropy, "mpmath")
        with mpmath.workdps(precision):
            return f(1 / mpmath.mpf(temperature), *[mpmath.mpf(v) for v in values])


@lru_cache(maxsize=None)
def sk(k):
    """The :class:`SKTheory` with ``k`` steps of replica-symmetry breaking (0: RS): derived once per process and
    stored in the cache directory (keyed by the engine's source) for the next."""
    ParisiRSB(k)                                      # checks k before anything is looked up
    return cache.stored_theory(SKTheory, k, ("free_entropy", "saddle_point_equations", "energy", "ground_state"))


# --------------------------------------------------------------------------------------------------------
# solver
# --------------------------------------------------------------------------------------------------------
class NewtonResult(NamedTuple):
    """A Newton iteration on a gradient: where it stopped, the value and gradient there, the Hessian used last."""
    root: np.ndarray
    value: float
    gradient: np.ndarray
    hessian: np.ndarray
    iterations: int
    converged: bool


def _hessian(gradient, u, lower, upper, g0, step=1e-5):
    """Central differences of ``gradient``; one-sided (second order) where a bound is within two steps."""
    H = np.empty((u.size, u.size))
    for i in range(u.size):
        e = np.zeros_like(u)
        e[i] = step
        if u[i] - 2 * step < lower[i]:
            H[:, i] = (-3 * g0 + 4 * gradient(u + e)[1] - gradient(u + 2 * e)[1]) / (2 * step)
        elif u[i] + 2 * step > upper[i]:
            H[:, i] = (3 * g0 - 4 * gradient(u - e)[1] + gradient(u - 2 * e)[1]) / (2 * step)
        else:
            H[:, i] = (gradient(u + e)[1] - gradient(u - e)[1]) / (2 * step)
    return (H + H.T) / 2


def _newton(gradient, u0, lower, upper, tol=1e-11, maxiter=60):
    r"""Damped Newton on :math:`\nabla\phi = 0` inside the box [lower, upper] (the Hessian by differences of the
    analytic gradient); a coordinate on a bound whose gradient vanishes stays there (e.g. :math:`q_0 = 0` at zero
    field).  Converged where every gradient component is below ``tol``."""
    u = np.clip(np.array(u0, float), lower, upper)
    value, g = gradient(u)
    H = np.full((u.size, u.size), np.nan)
    it = 0
    for it in range(1, maxiter + 1):
        if not np.all(np.isfinite(g)):
            return NewtonResult(u, value, g, H, it, False)
        if np.max(np.abs(g)) < tol:
            break
        H = _hessian(gradient, u, lower, upper, g)
        free = ~(((u <= lower) | (u >= upper)) & (np.abs(g) < tol))
        try:
            step = np.zeros_like(u)
            step[free] = np.linalg.solve(H[np.ix_(free, free)], -g[free])
        except np.linalg.LinAlgError:
            return NewtonResult(u, value, g, H, it, False)
        big = np.max(np.abs(step))
        if big > 0.2:
            step *= 0.2 / big
        norm = np.max(np.abs(g))
        t = 1.0
        for _ in range(12):
            un = np.clip(u + t * step, lower, upper)
            vn, gn = gradient(un)
            if np.all(np.isfinite(gn)) and np.max(np.abs(gn)) < norm:
                break
            t *= 0.5
        else:
            break
        u, value, g = un, vn, gn
    if np.all(np.isfinite(g)) and np.max(np.abs(g)) < tol and np.isnan(H[0, 0]):
        H = _hessian(gradient, u, lower, upper, g)
    return NewtonResult(u, value, g, H, it, bool(np.all(np.isfinite(g)) and np.max(np.abs(g)) < tol))


class SKPoint(NamedTuple):
    """One stationary point of an SK ansatz."""
    q: tuple                  # q_0..q_k
    m: tuple                  # m_1..m_k (zero temperature: mu_j = beta m_j)
    free_entropy: float       # phi = -beta f (zero temperature: -e_0)
    energy: float
    entropy: float
    residual: float           # max |d phi / d(q, m)|
    iterations: int
    converged: bool
    steps: int                # the steps of RSB it really has (a point with q_j = q_{j-1} or m_j = 1 has fewer)
    longitudinal: tuple = ()  # selection.longitudinal_eigenvalues of its Hessian (negative: a local minimum)
    replicon: float = float("nan")   # RS points: beta^2 E sech^4(beta sqrt(q) z) - 1 (de Almeida-Thouless; < 0 stable)

    def as_dict(self):
        out = {"q": [float(v) for v in self.q], "m": [float(v) for v in self.m], "free_entropy": self.free_entropy,
               "energy": self.energy, "entropy": self.entropy, "residual": self.residual,
               "iterations": self.iterations, "converged": self.converged, "steps": self.steps,
               "longitudinal": [float(v) for v in self.longitudinal]}
        if not np.isnan(self.replicon):
            out["replicon"] = self.replicon
        return out


class SKSolution(NamedTuple):
    """Every stationary point of the k-step ansatz at one temperature (lower-step points included, embedded with
    m = 1), and the physical one: the smallest free entropy (selection.rule_statement)."""
    temperature: float
    k: int
    solutions: list           # SKPoint, the physical one first, then by free entropy
    rule: str
    quadrature_error: float   # change of the physical phi and gradient when the field grid is halved
    lower: object             # the SKSolution of k - 1 steps (None for RS)

    @property
    def physical(self):
        return self.solutions[0]

    @property
    def q(self):
        return self.physical.q

    @property
    def m(self):
        return self.physical.m

    @property
    def free_entropy(self):
        return self.physical.free_entropy

    @property
    def energy(self):
        return self.physical.energy

    @property
    def entropy(self):
        return self.physical.entropy

    def as_dict(self):
        p = self.physical
        out = {"model": "sk", "ansatz": {0: "rs", 1: "1rsb"}.get(self.k, "%drsb" % self.k),
               "temperature": self.temperature, "q": list(p.q[-1:] if self.k == 0 else p.q),
               "free_entropy": p.free_entropy, "energy": p.energy, "entropy": p.entropy,
               "residual": p.residual, "converged": p.converged, "steps": p.steps,
               "longitudinal": [float(v) for v in p.longitudinal], "quadrature_error": self.quadrature_error,
               "rule": self.rule, "solutions": [s.as_dict() for s in self.solutions]}
        if self.k == 1:
            out["m"] = p.m[0]
        elif self.k > 1:
            out["m"] = list(p.m)
        if self.k == 0:
            out["replicon"] = p.replicon
            out["rs_stable"] = bool(p.replicon < 0)
        rs = self
        while rs.lower is not None:
            rs = rs.lower
        if self.lower is not None:
            out["rs"] = rs.as_dict()
        if max(p.longitudinal, default=-1.0) > 0 or (p.steps < self.k and rs.physical.replicon > 0):
            out["warning"] = ("the selected point is not a local minimum of the %d-step family (a positive "
                              "longitudinal eigenvalue, or an RS point that is AT-unstable with no %d-step point found "
                              "below it; near T_c they differ by less than the solver resolves)" % (self.k, self.k))
        return out


class GroundState(NamedTuple):
    """Zero temperature: the ground-state energy e_0 of the k-step ansatz (every stationary point and the physical,
    largest, one: the free entropy -beta e_0 is minimized over q and mu)."""
    k: int
    solutions: list           # SKPoint with free_entropy = -e_0, energy = e_0, m = mu
    rule: str

    @property
    def energy(self):
        return self.solutions[0].energy

    @property
    def mu(self):
        return self.solutions[0].m

    @property
    def q(self):
        return self.solutions[0].q

    def as_dict(self):
        return {"model": "sk", "temperature": 0.0, "ansatz": {0: "rs", 1: "1rsb"}.get(self.k, "%drsb" % self.k),
                "energy": self.energy, "q": list(self.q), "mu": list(self.mu), "rule": self.rule,
                "solutions": [s.as_dict() for s in self.solutions]}


@numba.vectorize(["float64(float64)"], cache=True)
def _gaussian_tail(x):
    """H(x) = erfc(x / sqrt 2) / 2."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


class SKSolver:
    """Float64 saddle points of an :class:`SKTheory` (the nested averages by the grid recursion)."""

    def __init__(self, theory, grid=GRID):
        self.theory = theory
        self.k = theory.k
        self.grid = grid
        plain, _ = _split(theory.free_entropy)
        args = (beta,) + theory.order_parameters
        self._plain = sp.lambdify(args, [plain] + [sp.diff(plain, a) for a in args], "math")

    @cached_property
    def _zero_temperature(self):
        """(the closed-form terms of -e_0 and their gradient, the rows of the innermost level f_k(x; v_k, mu_k))."""
        theory = self.theory
        plain0, _ = _split(theory.ground_state)
        args0 = theory.q[:-1] + theory.mu
        x, v, mu = sp.Symbol("x", real=True), sp.Symbol("v", positive=True), theory.mu[-1]
        f = sp.log(abs_exponential_average(mu, x, sp.sqrt(v))) / mu
        rows = [f, sp.diff(f, x), sp.diff(f, x, 2), sp.diff(f, v), sp.diff(f, mu)]
        return (sp.lambdify(args0, [plain0] + [sp.diff(plain0, a) for a in args0], "math"),
                sp.lambdify((x, v, mu), rows, [{"H": _gaussian_tail}, "numpy"]))

    # -- finite temperature -------------------------------------------------------------------------------
    def _check(self, temperature):
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or \
                not (math.isfinite(temperature) and temperature > 0):
            raise ParameterError("temperature must be a finite number > 0 (T_c = 1; use ground_state() for T = 0), "
                                 "got %r" % (temperature,))

    def gradient(self, u, temperature, grid=None):
        r"""(:math:`\phi`, its gradient in u = (v_0..v_k, m_1..m_k), :math:`\partial_\beta\phi`) with
        :math:`v_j = q_j - q_{j-1}` the variance of level j's field."""
        k, b = self.k, 1 / temperature
        v, m = np.asarray(u[:k + 1], float), np.asarray(u[k + 1:], float)
        levels = [(v[j], m[j - 1]) for j in range(k, 0, -1)] + [(v[0], 0.0)]
        value, dv, dm, dtop = _parisi_average(_log_two_cosh(b), levels, grid or self.grid)
        dv, dm = dv[::-1], dm[::-1][1:]               # outermost first; the outermost level has no m
        q = np.cumsum(v)
        poly = self._plain(b, *q, *m)
        gq = np.array(poly[2:3 + k])
        g = np.concatenate([dv + np.cumsum(gq[::-1])[::-1], dm + np.array(poly[3 + k:])])
        return poly[0] + value, g, poly[1] + dtop[0]

    def _point(self, result, temperature):
        k, b = self.k, 1 / temperature
        u = result.root
        phi, g, dbeta = self.gradient(u, temperature)
        q, m = np.cumsum(u[:k + 1]), u[k + 1:]
        J = self._jacobian()
        e = -float(dbeta)
        point = SKPoint(tuple(map(float, q)), tuple(map(float, m)), float(phi), e, float(phi + b * e),
                        float(np.max(np.abs(J.T @ g))), result.iterations, result.converged, k,
                        tuple(map(float, longitudinal_eigenvalues(J.T @ result.hessian @ J,
                                                                  self.theory.order_parameter_kinds))))
        if k == 0:
            point = point._replace(replicon=_at_replicon(q[0], b))
        return point

    def _genuine(self, u):
        """The number of RSB steps a point really has: levels with q_j > q_{j-1} and distinct m_j < 1."""
        k = self.k
        v, m = u[:k + 1], u[k + 1:]
        return int(sum(1 for j in range(1, k + 1) if v[j] > DEGENERATE and m[j - 1] < 1 - DEGENERATE and
                       (j == k or abs(m[j] - m[j - 1]) > DEGENERATE)))

    def _starts(self, lower):
        """RS: q = 0, 0.3, 0.6, 0.95.  k steps, from each stationary point of k - 1 steps: its levels above q_0
        stretched over k levels (q by 0.55..1.04, m by 0.55..1.6 of the old ones where there was one level, else
        interpolated in the level index; from RS, m = 0.1, 0.25, 0.5), with q_0 kept (or half the first level) and
        with q_0 = 0."""
        k = self.k
        if k == 0:
            return [np.array([v]) for v in (0.0, 0.3, 0.6, 0.95)]
        out = []
        for p in lower.solutions:
            q, m = np.array(p.q[:k]), np.array(p.m[:k - 1])
            if k == 1:
                top = max(q[-1], 0.02)
                levels = [(np.array([min(0.99, 1.04 * top + 0.01)]), np.array([mk])) for mk in (0.1, 0.25, 0.5)]
                first = 0.5 * top
            else:
                if k == 2:
                    upper, ms = q[1] * np.linspace(0.55, 1.04, k), m[0] * np.linspace(0.55, 1.6, k)
                else:
                    old, new = (np.arange(k - 1) + 0.5) / (k - 1), (np.arange(k) + 0.5) / k
                    upper, ms = np.interp(new, old, q[1:]), np.interp(new, old, m)
                levels = [(np.minimum(upper, 0.99), np.clip(ms, 0.01, 0.95))]
                first = q[0] if q[0] > 0 else 0.5 * upper[0]
            for upper, ms in levels:
                for q0 in (first, 0.0):
                    qs = np.maximum.accumulate(np.concatenate([[min(q0, upper[0])], upper]))
                    out.append(np.concatenate([np.diff(np.concatenate([[0.0], qs])), np.maximum.accumulate(ms)]))
        return out

    def _search(self, starts, temperature, found):
        """The genuine k-step stationary points reached by Newton from ``starts`` that are not in ``found``:
        q_0 <= .. <= q_k < 1, 0 < m_1 < .. < m_k < 1, no level degenerate."""
        k = self.k
        lo, hi = self._box()
        new = []
        for u0 in starts:
            r = _newton(lambda u: self.gradient(u, temperature)[:2], u0, lo, hi)
            if not r.converged or self._genuine(r.root) < k or np.sum(r.root[:k + 1]) >= 1 or \
                    np.any(np.diff(r.root[k + 1:]) <= DEGENERATE):
                continue
            p = self._point(r, temperature)
            if not any(np.allclose(p.q + p.m, f.q + f.m, atol=1e-7) for f in found + new):
                new.append(p)
        return new

    def _descend(self, found, temperature, rounds=3, steps=(0.02, 0.05, 0.15)):
        """While the genuine k-step point of smallest free entropy is not a local minimum (a positive longitudinal
        eigenvalue), Newton from it displaced along each such direction (:func:`.selection.wrong_directions`)."""
        k = self.k
        kinds = self.theory.order_parameter_kinds
        for _ in range(rounds):
            if not found:
                break
            best = min(found, key=lambda p: p.free_entropy)
            if max(best.longitudinal) <= 0:
                break
            u = np.concatenate([np.diff(np.concatenate([[0.0], best.q])), best.m])
            lo, hi = self._box()
            g = self.gradient(u, temperature)[1]
            H = _hessian(lambda x: self.gradient(x, temperature)[:2], u, lo, hi, g)
            J = self._jacobian()
            starts = []
            for vec in wrong_directions(J.T @ H @ J, kinds):
                theta = np.array(best.q + best.m)
                for step, sign in itertools.product(steps, (1, -1)):
                    t = theta + sign * step * vec / np.max(np.abs(vec))
                    qs = np.maximum.accumulate(np.clip(t[:k + 1], 0, 1 - 1e-6))
                    starts.append(np.concatenate([np.diff(np.concatenate([[0.0], qs])), np.clip(t[k + 1:], 1e-3, 1)]))
            new = self._search(starts, temperature, found)
            if not new:
                break
            found = found + new
        return found

    def _box(self):
        """Newton's bounds on u = (v_0..v_k, m_1..m_k): v_j in [0, 1], m_j in [1e-6, 1]."""
        k = self.k
        return (np.concatenate([np.zeros(k + 1), np.full(k, 1e-6)]),
                np.concatenate([np.full(k + 1, 1.0), np.ones(k)]))

    def _jacobian(self, levels=None):
        """d(v, m)/d(q, m) over ``levels`` overlaps (default k + 1; at T = 0, k) and k breakpoints:
        v_j = q_j - q_{j-1}."""
        k = self.k
        levels = k + 1 if levels is None else levels
        J = np.eye(levels + k)
        J[:levels, :levels] = np.linalg.inv(np.tril(np.ones((levels, levels))))
        return J

    def _embed(self, point):
        """A point of the (k-1)-step ansatz as a point of the k-step one (the innermost level repeated, m_k = 1)."""
        return point._replace(q=point.q + point.q[-1:], m=point.m + (1.0,))

    def solve(self, temperature):
        """Every stationary point of the k-step ansatz at ``temperature`` and the physical one
        (:class:`SKSolution`)."""
        self._check(temperature)
        k = self.k
        lower = sk(k - 1).compile(self.grid).solve(temperature) if k else None
        found = self._descend(self._search(self._starts(lower), temperature, []), temperature)
        if lower is not None:
            found += [self._embed(p) for p in lower.solutions]
        if not found:
            raise ConvergenceError("SK RS at T=%g: no stationary point converged (gradient above 1e-11 from every "
                                   "start)" % temperature)
        kinds = self.theory.order_parameter_kinds
        best = physical_index([p.free_entropy for p in found], [p.q + p.m for p in found], kinds)
        physical = found[best]
        others = sorted(found[:best] + found[best + 1:], key=lambda p: p.free_entropy)
        u = np.concatenate([np.diff(np.concatenate([[0], physical.q])), physical.m])
        a = self.gradient(u, temperature)
        b = self.gradient(u, temperature, grid=self.grid / 2)
        qerr = float(max(abs(a[0] - b[0]), np.max(np.abs(a[1] - b[1]))))
        return SKSolution(float(temperature), k, [physical] + others, rule_statement(kinds), qerr, lower)

    # -- zero temperature ---------------------------------------------------------------------------------
    def ground_gradient(self, u):
        r"""(:math:`-e_0`, its gradient) in u = (v_0..v_{k-1}, :math:`\mu_1..\mu_k`), :math:`v_k = 1 - q_{k-1}`."""
        k = self.k
        v, mu = np.asarray(u[:k], float), np.asarray(u[k:], float)
        vk = 1 - np.sum(v)
        if vk <= 0:
            return np.nan, np.full(u.size, np.nan)
        levels = [(v[j], mu[j - 1]) for j in range(k - 1, 0, -1)] + [(v[0], 0.0)]
        plain0, top0 = self._zero_temperature
        top = lambda x: np.array([np.broadcast_to(r, x.shape) for r in top0(x, vk, mu[-1])], float)
        value, dv, dm, dtop = _parisi_average(top, levels, self.grid)
        dv, dm = dv[::-1], dm[::-1][1:]
        q = np.cumsum(v)
        poly = plain0(*q, *mu)
        gq = np.array(poly[1:1 + k])
        gv = dv + np.cumsum(gq[::-1])[::-1] - dtop[0]
        gmu = np.concatenate([dm, [0.0]]) + np.array(poly[1 + k:])
        gmu[-1] += dtop[1]
        return poly[0] + value, np.concatenate([gv, gmu])

    def ground_state(self):
        """The zero-temperature limit (:class:`GroundState`): every stationary point of -e_0 (lower-step ones
        embedded with q_{k-1} = 1) and the physical one, the smallest -e_0."""
        k = self.k
        kinds = tuple(OVERLAP for _ in range(k)) + tuple(BREAKPOINT for _ in range(k))
        if k == 0:
            e0 = -float(sp.lambdify((), self.theory.ground_state.doit(), "mpmath")())
            return GroundState(0, [SKPoint((1.0,), (), -e0, e0, 0.0, 0.0, 0, True, 0)], rule_statement(kinds))
        lower = sk(k - 1).compile(self.grid).ground_state()
        lo = np.concatenate([np.zeros(k), np.full(k, 1e-6)])
        hi = np.concatenate([np.full(k, 1.0), np.full(k, 50.0)])
        J = self._jacobian(levels=k)
        found = []
        for p in lower.solutions:
            inner, mus = np.array(p.q[:-1]), np.array(p.m)         # q_0..q_{k-2} and mu_1..mu_{k-1}
            for q0, grow, shrink in itertools.product((0.0, 0.4), (1.8, 3.0), (0.5, 1.0)):
                q_new = np.maximum.accumulate(np.concatenate([[q0], inner[1:], [(inner[-1] + 1) / 2 if inner.size
                                                                              else 0.5]])[:k])
                mu_new = np.concatenate([shrink * mus, [(mus[-1] if mus.size else 0.5) * grow]])[-k:]
                u0 = np.concatenate([np.diff(np.concatenate([[0], q_new])), mu_new])
                r = _newton(self.ground_gradient, u0, lo, hi)
                v, mu = r.root[:k], r.root[k:]
                if not r.converged or any(v[j] <= DEGENERATE for j in range(1, k)) or 1 - np.sum(v) <= DEGENERATE \
                        or np.any(np.diff(mu) <= DEGENERATE):
                    continue
                point = SKPoint(tuple(map(float, np.cumsum(v))) + (1.0,), tuple(map(float, mu)), float(r.value),
                                -float(r.value), 0.0, float(np.max(np.abs(J.T @ r.gradient))), r.iterations, True, k,
                                tuple(map(float, longitudinal_eigenvalues(J.T @ r.hessian @ J, kinds))))
                if not any(np.allclose(point.q + point.m, f.q + f.m, atol=1e-6) for f in found):
                    found.append(point)
        found += [p._replace(q=p.q[:-1] + (1.0, 1.0), m=p.m + (p.m[-1] if p.m else 0.0,)) for p in lower.solutions]
        best = physical_index([p.free_entropy for p in found], [p.q[:-1] + p.m for p in found], kinds)
        physical = found[best]
        return GroundState(k, [physical] + sorted(found[:best] + found[best + 1:], key=lambda p: p.free_entropy),
                           rule_statement(kinds))


def _at_replicon(q, b, panels=40):
    r"""de Almeida–Thouless: :math:`\beta^2\int Dz\,\mathrm{sech}^4(\beta\sqrt q z) - 1` (negative: RS stable)."""
    t, w = np.polynomial.legendre.leggauss(NODES)
    edges = np.linspace(-Z_MAX, Z_MAX, panels + 1)
    z = ((edges[1:] - edges[:-1])[:, None] * (t + 1) / 2 + edges[:-1, None]).ravel()
    wz = ((edges[1:] - edges[:-1])[:, None] / 2 * w).ravel() * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    a = np.abs(b * math.sqrt(q) * z)
    sech = 2 * np.exp(-a) / (1 + np.exp(-2 * a))
    return float(b * b * np.sum(wz * sech ** 4) - 1)
