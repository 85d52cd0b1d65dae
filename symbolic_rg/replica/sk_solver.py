r"""Numerics of the SK model (:class:`SKSolver`): the nested averages of the Parisi recursion on a uniform field grid,
:math:`f_j(x) = \tfrac1{m_j}\ln\mathbb E_z e^{m_jf_{j+1}(x + \sqrt{q_j - q_{j-1}}z)}`, each Gaussian average by the
trapezoid rule on the grid in log-sum-exp form, the gradient in every parameter carried exactly through the recursion
(:func:`_level`); Newton on the analytic gradient from several starts; the results and the selection of the physical
point (:mod:`.selection`)."""
from __future__ import annotations

import itertools
import math
import numbers
from functools import cached_property
from typing import NamedTuple

import numba
import numpy as np
import sympy as sp

from .. import checks, parallel
from ..errors import ConvergenceError, ParameterError
from ..protocol import Iteration, SolutionSweep, caption, html_table
from .parisi import abs_exponential_average, beta
from .selection import BREAKPOINT, OVERLAP, longitudinal_eigenvalues, physical_index, rule_statement, wrong_directions

__all__ = ["SKSolver", "SKSolution", "SKPoint", "GroundState", "SKSweep", "GRID", "newton"]

Z_MAX = 10.0                                         # Gaussian weight beyond 10 standard deviations: 1e-23
NODES = 16                                           # Gauss-Legendre nodes per panel (the AT replicon's 1-D integral)


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
# solver
# --------------------------------------------------------------------------------------------------------
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


def newton(gradient, u0, lower, upper, tol=1e-11, maxiter=60):
    r"""Damped Newton on :math:`\nabla\phi = 0` inside the box [lower, upper] (the Hessian by differences of the
    analytic gradient); a coordinate on a bound whose gradient vanishes stays there (e.g. :math:`q_0 = 0` at zero
    field).  Converged where every gradient component is below ``tol``; an :class:`~symbolic_rg.protocol.Iteration`
    (value phi, residual max |grad phi|, the last gradient and Hessian)."""
    u = np.clip(np.array(u0, float), lower, upper)
    value, g = gradient(u)
    H = np.full((u.size, u.size), np.nan)
    it = 0
    for it in range(1, maxiter + 1):
        if not np.all(np.isfinite(g)):
            return Iteration(u, value, float(np.max(np.abs(g))), it, False, g, H)
        if np.max(np.abs(g)) < tol:
            break
        H = _hessian(gradient, u, lower, upper, g)
        free = ~(((u <= lower) | (u >= upper)) & (np.abs(g) < tol))
        try:
            step = np.zeros_like(u)
            step[free] = np.linalg.solve(H[np.ix_(free, free)], -g[free])
        except np.linalg.LinAlgError:
            return Iteration(u, value, float(np.max(np.abs(g))), it, False, g, H)
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
    residual = float(np.max(np.abs(g)))
    return Iteration(u, value, residual, it, bool(np.isfinite(residual) and residual < tol), g, H)


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

    def columns(self, breakpoint="m"):
        """Its table columns: q_0..q_k and m_1..m_k (``breakpoint``: mu at zero temperature) by name, free
        entropy, energy, entropy, residual, converged, the RSB steps it has, the replicon (RS points)."""
        return {**{"q_%d" % j: float(v) for j, v in enumerate(self.q)},
                **{"%s_%d" % (breakpoint, j): float(v) for j, v in enumerate(self.m, start=1)},
                "free_entropy": float(self.free_entropy), "energy": float(self.energy), "entropy": float(self.entropy),
                "residual": float(self.residual), "converged": bool(self.converged), "steps": int(self.steps),
                "replicon": float(self.replicon)}

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

    @property
    def order_parameters(self):
        """The physical point's (q_0..q_k, m_1..m_k), the theory's order."""
        return np.array(self.physical.q + self.physical.m)

    @property
    def converged(self):
        return self.physical.converged

    @property
    def residual(self):
        return self.physical.residual

    def rows(self):
        """One row per stationary point (``branch`` 0, ``selected``: the physical one): the temperature and the
        point's :meth:`SKPoint.columns`."""
        return [{"temperature": self.temperature, "branch": b, "selected": b == 0, **p.columns()}
                for b, p in enumerate(self.solutions)]

    def _repr_html_(self):
        return html_table(self.rows(), caption(self.rule))

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

    @property
    def order_parameters(self):
        """The physical point's (q_0..q_k, mu_1..mu_k)."""
        return np.array(self.q + self.mu)

    @property
    def converged(self):
        return self.solutions[0].converged

    @property
    def residual(self):
        return self.solutions[0].residual

    def rows(self):
        """One row per stationary point (``branch`` 0, ``selected``: the physical one): temperature 0 and the
        point's :meth:`SKPoint.columns` with the breakpoints mu_j = beta m_j."""
        return [{"temperature": 0.0, "branch": b, "selected": b == 0, **p.columns("mu")}
                for b, p in enumerate(self.solutions)]

    def _repr_html_(self):
        return html_table(self.rows(), caption(self.rule))

    def as_dict(self):
        return {"model": "sk", "temperature": 0.0, "ansatz": {0: "rs", 1: "1rsb"}.get(self.k, "%drsb" % self.k),
                "energy": self.energy, "q": list(self.q), "mu": list(self.mu), "rule": self.rule,
                "solutions": [s.as_dict() for s in self.solutions]}


class SKSweep(SolutionSweep):
    """:meth:`SKSolver.sweep`: the :class:`SKSolution` at every ``temperature``; ``order_parameters`` are the physical
    point's (q_0..q_k, m_1..m_k) per temperature (rows)."""

    parameter_names = ("temperature",)

    def __init__(self, temperature, solutions):
        super().__init__(solutions)
        self.temperature = temperature
        k = solutions[0].k if solutions else 0
        self.quantities = ["q_%d" % j for j in range(k + 1)] + ["m_%d" % j for j in range(1, k + 1)]

    @property
    def rule(self):
        return self.solutions[0].rule if self.solutions else None

    @property
    def order_parameters(self):
        return np.array([p.order_parameters for p in self.solutions])

    @property
    def free_entropy(self):
        return np.array([p.free_entropy for p in self.solutions])

    def as_dict(self):
        return {"temperature": self.temperature.tolist(), "points": [p.as_dict() for p in self.solutions]}


@numba.vectorize(cache=True)                # compiled on first use (an eager signature costs 0.2-0.7 s at import)
def _gaussian_tail(x):
    """H(x) = erfc(x / sqrt 2) / 2."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


class SKSolver:
    """Float64 saddle points of an :class:`SKTheory` (the nested averages by the grid recursion)."""

    def __init__(self, theory, grid=GRID):
        self.theory = theory
        self.k = theory.k
        self.grid = grid
        plain, _ = theory.free_entropy_parts
        args = (beta,) + theory.order_parameters
        self._plain = sp.lambdify(args, [plain] + [sp.diff(plain, a) for a in args], "math")

    @cached_property
    def _zero_temperature(self):
        """(the closed-form terms of -e_0 and their gradient, the rows of the innermost level f_k(x; v_k, mu_k))."""
        theory = self.theory
        plain0, _ = theory.ground_state_parts
        args0 = theory.q[:-1] + theory.mu
        x, v, mu = sp.Symbol("x", real=True), sp.Symbol("v", positive=True), theory.mu[-1]
        f = sp.log(abs_exponential_average(mu, x, sp.sqrt(v))) / mu
        rows = [f, sp.diff(f, x), sp.diff(f, x, 2), sp.diff(f, v), sp.diff(f, mu)]
        return (sp.lambdify(args0, [plain0] + [sp.diff(plain0, a) for a in args0], "math"),
                sp.lambdify((x, v, mu), rows, [{"H": _gaussian_tail}, "numpy"]))

    # -- finite temperature -------------------------------------------------------------------------------
    @staticmethod
    def _temperature(temperature):
        """A temperature > 0 (T = 0 is :meth:`ground_state`)."""
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
            raise ParameterError("temperature must be a finite number > 0, got %r" % (temperature,))
        if temperature == 0:
            raise ParameterError("temperature must be > 0 for solve(): T = 0 is ground_state() (T_c = 1)")
        return checks.temperature(temperature, zero=False, name="temperature")

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
            r = newton(lambda u: self.gradient(u, temperature)[:2], u0, lo, hi)
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
        self._temperature(temperature)
        k = self.k
        lower = self.theory.lower().compile(grid=self.grid).solve(temperature) if k else None
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

    def sweep(self, temperatures, chunks=None, executor=None, progress=None):
        """:meth:`solve` at every temperature of ``temperatures`` (each point searched from every start, so a
        sweep finds what separate solves find): an :class:`SKSweep`.  The points are independent: with an
        ``executor`` (a :class:`concurrent.futures.Executor` or a dask ``Client``) they are solved in ``chunks``
        tasks (default :func:`~symbolic_rg.parallel.default_chunks`), with the same numbers; ``progress``: a bar; a
        failed task keeps the finished points (the error's ``partial``)."""
        T = np.atleast_1d(np.asarray(temperatures, dtype=float))
        for t in T:
            self._temperature(float(t))
        assemble = lambda rows, solutions: SKSweep(T[rows], solutions)
        return SKSweep(T, parallel.each(self.solve, [(float(t),) for t in T], chunks, executor, progress,
                                        "SK temperatures", assemble))

    def __reduce__(self):
        """Pickles as its theory and field grid (:func:`~symbolic_rg.parallel.solver_of`)."""
        return parallel.solver_of, (self.theory, {"grid": self.grid})

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
        kinds = tuple(OVERLAP for _ in range(k)) + tuple(BREAKPOINT for _ in range(k))   # q_0..q_{k-1}, mu_1..mu_k
        if k == 0:
            e0 = -float(sp.lambdify((), self.theory.ground_state.doit(), "mpmath")())
            return GroundState(0, [SKPoint((1.0,), (), -e0, e0, 0.0, 0.0, 0, True, 0)], rule_statement(kinds))
        lower = self.theory.lower().compile(grid=self.grid).ground_state()
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
                r = newton(self.ground_gradient, u0, lo, hi)
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
