r"""Compiled solver of the replica saddle point of a :class:`~symbolic_rg.replica.ReplicaTheory` (the generated
module of :mod:`symbolic_rg.replica.codegen`), its results, and the selection of the physical stationary point.

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

import itertools
from typing import NamedTuple

import mpmath
import numpy as np
import sympy as sp

from .. import checks, parallel
from ..errors import ConvergenceError, NoSolutionError, ParameterError
from ..protocol import Iteration, SweepTable, caption, html_table
from . import codegen
from .codegen import BULK, Variables
from .rules import alpha, kappa
from .rules import kappa as kappa_symbol
from .selection import longitudinal_eigenvalues, physical_index, rule_statement, wrong_directions

__all__ = ["ReplicaSolver", "ReplicaSolution", "StationaryPoint", "ReplicaSweep", "RepliconStability",
           "teacher_error"]

PIN = 1e-4             # Newton holds |x_i| < PIN (an overlap below 1e-8) at 0 where dphi/dQ_i = 0: a liquid layer
PINNED = 3             # the fixed-point iteration stops when an overlap stays pinned at 1 for this many steps
STALL = 6              # Newton gives a start up when its residual has not halved in this many iterations
COLD = 16              # Newton iterations from a cold start before the fixed-point fallback (STALL ends most sooner)
GL8 = np.polynomial.legendre.leggauss(8)
GL16 = np.polynomial.legendre.leggauss(16)


# --------------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------------
def teacher_error(Q):
    r"""Teacher scenario: the generalization error :math:`\epsilon = (1 - r_L)/2` of overlaps ``Q``,
    :math:`r_l = \tfrac2\pi\arcsin(Q_lr_{l-1})`, :math:`r_0 = 1`."""
    r = 1.0
    for Ql in Q:
        r = 2 / np.pi * np.arcsin(min(1.0, Ql * r))
    return (1 - r) / 2


class FixedPoint(NamedTuple):
    """Where :meth:`ReplicaSolver.iterate` stopped: ``root`` (Newton variables x, None if it failed), ``status``
    (converged, known, maxiter, saturated, failed) and ``iterations``."""
    root: np.ndarray
    status: str
    iterations: int


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

    def columns(self):
        """Its table columns: Q_l, q_l, qhat_l by name, free entropy, residual, converged, replicon, local
        stability."""
        names = lambda name, values: {"%s_%d" % (name, l): float(v) for l, v in enumerate(values, start=1)}
        return {**names("Q", self.Q), **names("q", self.q), **names("qhat", self.q_hat),
                "free_entropy": float(self.free_entropy), "residual": float(self.residual),
                "converged": bool(self.converged), "replicon": float(self.replicon),
                "locally_stable": self.locally_stable}


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
    def order_parameters(self):
        """The physical point's order parameters in the theory's order (Q_1..Q_L, q_1.., qhat_1..)."""
        return self.physical.theta

    @property
    def converged(self):
        return self.physical.converged

    @property
    def residual(self):
        """The physical point's residual: max |d phi / d(Q, q, qhat)| (scaled)."""
        return self.physical.residual

    @property
    def rs_stable(self):
        """Random scenario: the physical solution is stable against replica symmetry breaking (None: teacher, where
        the Nishimori line makes RS exact)."""
        return None if np.isnan(self.physical.replicon) else bool(self.physical.replicon < 0)

    def rows(self):
        """One row per stationary point (``branch`` 0, ``selected``: the physical one): alpha, kappa, the
        point's :meth:`StationaryPoint.columns` and, teacher scenario, its generalization error."""
        teacher = not np.isnan(self.generalization_error)
        return [{"alpha": self.alpha, "kappa": self.kappa, "branch": b, "selected": b == 0, **p.columns(),
                 **({"generalization_error": teacher_error(p.Q)} if teacher else {})}
                for b, p in enumerate(self.solutions)]

    def _repr_html_(self):
        return html_table(self.rows(), caption(self.rule))

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
                          "its one-step RSB solution: symbolic-rg solve deep-perceptron ... --ansatz 1rsb (in Python "
                          "srg.derive(srg.deep_perceptron(L, 'random', ansatz='1rsb')).compile().solve(alpha, kappa))"
                          % self.physical.replicon)
        return out


class ReplicaSweep(SweepTable):
    """A sweep in alpha: per alpha the physical solution and every branch (forward and backward passes):
    ``alpha``, ``points`` (a :class:`ReplicaSolution` per alpha), ``depth``."""

    parameter_names = ("alpha", "kappa")

    def __init__(self, alpha, points, depth):
        self.alpha, self.points, self.depth = np.asarray(alpha, float), list(points), depth
        self.quantities = ["Q_%d" % l for l in range(1, depth + 1)] + ["q_%d" % l for l in range(1, depth)]

    def __len__(self):
        return len(self.points)

    def __getitem__(self, i):
        return self.points[i]

    @property
    def rule(self):
        return self.points[0].rule if self.points else None

    def rows(self):
        """Every alpha's :meth:`ReplicaSolution.rows` (one per stationary point), led by the ``point`` index."""
        return [{"point": i, **r} for i, p in enumerate(self.points) for r in p.rows()]

    @property
    def residual(self):
        return np.array([p.residual for p in self.points])

    def as_dict(self):
        """JSON-ready: every alpha's :meth:`ReplicaSolution.as_dict`."""
        return {"alpha": self.alpha.tolist(), "points": [p.as_dict() for p in self.points]}

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
    def order_parameters(self):
        """The physical order parameters per alpha (rows), in the theory's order."""
        return np.array([p.order_parameters for p in self.points])

    @property
    def converged(self):
        return np.array([p.converged for p in self.points])

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
        self.module = codegen.module(theory)
        self.variables = Variables(self.depth)
        self.nx = 3 * self.depth - 2
        self._weight_derivative, self._weight_inverse = [], []
        target, roots = theory.weight_entropy_inverse
        for Ql, eq, root in zip(theory.Q, theory.saddle_point_equations, roots):
            self._weight_derivative.append(sp.lambdify(Ql, eq.lhs, "math"))
            self._weight_inverse.append(_inverse(eq.lhs, Ql, target, root))
        self._slopes = [sp.lambdify(alpha, slope, "math") for slope in theory.fixed_point_slopes]

    # -- evaluation ----------------------------------------------------------------------------------
    def _check(self, alpha_value, kappa_value):
        checks.positive("alpha", alpha_value)
        checks.nonnegative("kappa", kappa_value)
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
        """Damped Newton iteration on grad phi = 0 from x0: an :class:`~symbolic_rg.protocol.Iteration` (root x,
        value phi, residual, iterations, converged; the last gradient and Hessian in x).

        A coordinate that falls below ``pin`` where d phi/d Q_i ~ H_ii/2 vanishes is set to 0 and held there (an
        overlap below pin^2: a liquid layer): x_i = 0 is stationary in x for any phi (the overlaps are even in x), but
        phi is quartic there, so Newton would creep (a step of -x_i/3): such a coordinate is first tried at 0, kept
        there where the step lowers the residual and d phi/d Q_i vanishes at 0.  Whether 0 is a true solution of the
        original equations is decided by the residual (d phi/d Q_i at 0); accepted where every residual is below 1e-7 (1 + alpha).
        A start whose residual has not halved in STALL iterations is given up (the caller's fallback takes over)."""
        x = np.array(x0, float)
        x[np.abs(x) < pin] = 0.0
        accept = 1e-7 * (1 + alpha_value)
        phi, g, Hm = self.evaluate(x, alpha_value, kappa_value)
        it, norms = 0, []
        for it in range(1, maxiter + 1):
            if not (np.all(np.isfinite(g)) and np.all(np.isfinite(Hm))):
                return Iteration(x, phi, np.inf, it, False, g, Hm)
            active = np.flatnonzero(x)
            if active.size == 0 or np.max(np.abs(g[active])) < tol:
                break
            norms.append(np.max(np.abs(self.residual(x, g, Hm))))
            if len(norms) > STALL and norms[-1] > 0.5 * norms[-1 - STALL]:
                break
            try:
                step = np.zeros_like(x)
                step[active] = np.linalg.solve(Hm[np.ix_(active, active)], -g[active])
            except np.linalg.LinAlgError:
                return Iteration(x, phi, np.inf, it, False, g, Hm)
            big = np.max(np.abs(step))
            if big > 0.5:
                step *= 0.5 / big
            norm0 = np.max(np.abs(g[active]))
            quartic = (x != 0) & (np.abs(step + x / 3) < 0.1 * np.abs(x))
            if np.any(quartic):                    # first try the liquid value of coordinates creeping to 0 (quartic)
                xn = np.where(quartic, 0.0, x + step)
                phin, gn, Hn = self.evaluate(xn, alpha_value, kappa_value)
                if (np.all(np.isfinite(gn)) and np.max(np.abs(gn[active])) < norm0
                        and np.all(np.abs(0.5 * np.diag(Hn)[quartic]) < accept)):
                    x, phi, g, Hm = xn, phin, gn, Hn
                    continue
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
        return Iteration(x, phi, res, it, ok, g, Hm)

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
        result).  It converges to the solutions that are attracting for the map.  Returns a :class:`FixedPoint`
        (root x, status): "converged", "known" (it came within 1e-3 of one of the ``known`` order-parameter vectors, a
        solution already found), "maxiter", "saturated" (an overlap pinned at 1 by the projection, at the end or for
        PINNED steps in a row: no stationary point there), or "failed" (phi not finite; x is None)."""
        L = self.depth
        theta = self._project(np.array(theta, float))
        thetas, fs = [], []
        status, pinned = "maxiter", 0
        for it in range(maxiter):
            new = self._fixed_point_map(theta, alpha_value, kappa_value)
            if new is None:
                return FixedPoint(None, "failed", it)
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
            pinned = pinned + 1 if np.any(theta[:2 * L - 1] > 1 - 1e-9) else 0
            if pinned == PINNED:
                break
        if status != "known" and np.any(theta[:2 * L - 1] > 1 - 1e-9):
            status = "saturated"
        return FixedPoint(self.variables.from_theta(theta), status, it + 1)

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
            r = self.newton(x0, alpha, kappa, maxiter=COLD if fallback else 40)
            iterations = r.iterations
            if not r.converged and fallback:
                seen = [p.theta for p in known + found]
                fixed = self.iterate(np.concatenate(self.variables.order_parameters(x0)), alpha, kappa, known=seen)
                if fixed.status == "known":
                    continue
                r = self.newton(r.root if fixed.root is None or fixed.status == "saturated" else fixed.root, alpha,
                                kappa)
                iterations += r.iterations
            if not r.converged:
                continue
            p = self._point(r.root, r.value, r.residual, iterations, r.converged)
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
        eps = teacher_error(physical.Q) if self.scenario == "teacher" else np.nan
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

    def sweep(self, alpha, kappa=0.0, fresh_every=50, chunks=None, executor=None, progress=None):
        """Warm-started sweep over ``alpha`` in both directions: every branch found at one alpha is continued by
        Newton to the next, forward; then backward, the branches that had no forward predecessor (born at a
        spinodal, or found by a fresh start) are continued down until they end or merge.  The standard starts are
        tried at both ends and every ``fresh_every`` points.  The alphas are cut into ``chunks`` contiguous chunks
        (default: one; with an ``executor``, :func:`~symbolic_rg.parallel.default_chunks`), each swept so on its own
        (branches are not continued across chunk ends; both ends of each get the standard starts), one after the
        other or as tasks of ``executor`` (a :class:`concurrent.futures.Executor` or a dask ``Client``), with the
        same numbers for the same chunks.  ``progress``: a bar.  Returns a :class:`ReplicaSweep` (float64: refine
        single points with ``compile(precision=...).solve``); a failed task keeps the finished chunks (the error's
        ``partial``)."""
        if self.precision is not None:
            raise ParameterError("sweep() runs on the float64 solver; compile() without precision, got precision=%r"
                                 % (self.precision,))
        alpha = np.atleast_1d(np.asarray(alpha, float))
        for a in alpha:
            self._check(a, kappa)
        n = alpha.size
        bounds = parallel.chunk_bounds(n, chunks or (parallel.default_chunks(n, executor) if executor else 1))
        assemble = lambda done: ReplicaSweep([a for k in sorted(done) for a in alpha[slice(*bounds[k])]],
                                             [p for k in sorted(done) for p in done[k]], self.depth)
        parts = parallel.run_chunks(_path, [(self, alpha[lo:hi], kappa, fresh_every) for lo, hi in bounds],
                                    [hi - lo for lo, hi in bounds], executor, progress, "replica sweep", assemble)
        return ReplicaSweep(alpha, [p for part in parts for p in part], self.depth)

    def _path(self, alpha, kappa, fresh_every, tick):
        """The :class:`ReplicaSolution` at every alpha of one chunk of :meth:`sweep`; ``tick(1)`` after each alpha
        of the forward pass."""
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
            if tick is not None:
                tick(1)
        for i in range(n - 1, 0, -1):
            orphans = [p for p, linked in zip(found[i], continued[i]) if not linked]
            if orphans:
                add(i - 1, self.stationary_points(alpha[i - 1], kappa, start(orphans), fallback=False), False)
        points = []
        for i in range(n):
            found[i].sort(key=lambda p: -p.free_entropy)
            points.append(self._result(alpha[i], kappa, found[i], search=False))   # searched in the passes
        return points

    def __reduce__(self):
        """Pickles as its theory and precision (:func:`~symbolic_rg.parallel.solver_of`)."""
        return parallel.solver_of, (self.theory, {"precision": self.precision})

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
            module = codegen.module(self.theory, "replicon")
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
                    residual = max((abs(v) for v in g), default=mpmath.mpf(0))
                    if residual < tol:
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
                refined.append(StationaryPointMP(Q, q, qh, phi, residual, it, ok))
        return ReplicaSolutionMP(alpha, kappa, refined, base)


def _path(solver, alpha, kappa, fresh_every, tick=None):
    """One chunk of :meth:`ReplicaSolver.sweep` (here or on a worker)."""
    return solver._path(alpha, kappa, fresh_every, tick)


class StationaryPointMP(NamedTuple):
    """One stationary point refined at ``precision`` digits (mpf values)."""
    Q: list
    q: list
    q_hat: list
    free_entropy: object
    residual: object          # max |grad phi| in Newton's variables at the last step
    iterations: int
    converged: bool

    @property
    def theta(self):
        return list(self.Q) + list(self.q) + list(self.q_hat)

    def as_dict(self):
        """JSON-ready, mpf values as decimal strings with every digit."""
        return {"Q": [str(v) for v in self.Q], "q": [str(v) for v in self.q], "q_hat": [str(v) for v in self.q_hat],
                "free_entropy": str(self.free_entropy), "residual": str(self.residual),
                "iterations": self.iterations, "converged": self.converged}


class ReplicaSolutionMP(NamedTuple):
    """mpmath refinement of every float64 stationary point (same order: the physical one first)."""
    alpha: float
    kappa: float
    solutions: list           # StationaryPointMP
    float64: ReplicaSolution

    @property
    def order_parameters(self):
        """The physical point's (Q, q, qhat) in the theory's order, mpf."""
        return self.physical.theta

    @property
    def converged(self):
        return self.physical.converged

    @property
    def residual(self):
        return self.physical.residual

    def as_dict(self):
        return {"alpha": self.alpha, "kappa": self.kappa, "physical": self.physical.as_dict(),
                "solutions": [p.as_dict() for p in self.solutions], "rule": self.float64.rule}

    def rows(self):
        """One row per stationary point (``branch`` 0, ``selected``: the physical one), the mpf values as floats."""
        names = lambda name, values: {"%s_%d" % (name, l): float(v) for l, v in enumerate(values, start=1)}
        return [{"alpha": self.alpha, "kappa": self.kappa, "branch": b, "selected": b == 0, **names("Q", p.Q),
                 **names("q", p.q), **names("qhat", p.q_hat), "free_entropy": float(p.free_entropy),
                 "residual": float(p.residual), "converged": bool(p.converged)} for b, p in enumerate(self.solutions)]

    def _repr_html_(self):
        return html_table(self.rows(), caption(self.float64.rule))

    @property
    def physical(self):
        return self.solutions[0]

    @property
    def Q(self):
        return self.physical.Q
