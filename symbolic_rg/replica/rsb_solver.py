r"""Numerics of the 1RSB deep perceptron (:class:`RSBSolver`): the derived free entropy split into its closed form
(lambdified with its gradient and Hessian) and one nested Gaussian average per layer (:mod:`.rsb_kernels`, fed with
the coefficients of the rule's one-replica function), Newton on the gradient, every stationary point from several
starts, and the physical one by the rule of :mod:`.selection`.

:math:`\phi(\theta) = C(\theta) + \alpha\sum_{l<L}F_S(p^{(0)}_l, p^{(1)}_l, \hat q^{(0)}_l, \hat q^{(1)}_l, m) +
\alpha\sum_S\tfrac12F_O^S(p^{(0)}_L, p^{(1)}_L, m)` with :math:`p^{(j)}_l = q^{(j)}_{l-1}Q^{(j)}_l`.  The gradient of each
average is exact (heat-equation identities, :mod:`.rsb_kernels`); the Hessian of each average in its own arguments by
differences of that gradient, assembled by the chain rule through the products :math:`p = qQ`: central ones at the
solver's quadrature for the reported curvature; forward ones on a coarser quadrature (6 nodes per panel, t-table step
0.04, difference step 1e-4) for Newton's steps, which need the Hessian only as a preconditioner (the root is where the
accurate gradient vanishes), at a quarter of the cost.  The stated ``quadrature_error`` is the change of
:math:`\phi` and its gradient from 8 to 12 Gauss–Legendre nodes per panel together with the t-table's step halved.
"""
from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import numpy as np
import sympy as sp

from .. import checks
from ..errors import ParameterError
from .. import parallel
from ..protocol import Iteration, SolutionSweep, caption, html_table
from ..special import H
from .rules import HiddenSpins, OutputSpins, Q_, alpha as alpha_symbol, kappa as kappa_symbol, q_, x, y
from .rsb_kernels import BULK, TABLE_STEP, hidden_term, output_term
from .selection import longitudinal_eigenvalues, physical_index, rule_statement, wrong_directions

__all__ = ["RSBSolver", "RSBSolution", "RSBPoint", "step_coefficients", "solve_point", "compiled", "NODES"]

NODES = 8               # Gauss-Legendre nodes per panel
CHECK_NODES = 12        # the quadrature error: the change from NODES to CHECK_NODES
STEP = 1e-5             # differences of the layer gradients (within a tenth of 1 - p1 for p0, p1)
NEWTON_NODES = 6        # Newton's Hessian: nodes per panel, t-table step and difference step of its coarser quadrature
NEWTON_TABLE_STEP = 0.04
NEWTON_STEP = 1e-4
TOL = 1e-9              # Newton: max |grad phi|
STALL = 8               # Newton: iterations allowed without halving the residual
HALVINGS = 6            # Newton: step halvings tried before the Hessian is recomputed (or, with a fresh one, the end)
REUSE = 4               # Newton: a Hessian is kept while the residual falls by at least this factor per step


def step_coefficients(zeta, field, placeholder):
    r"""[(S, c_S, d_S)] of a one-replica function :math:`\zeta = \sum_S e^{Sy}H(c_S + d_Sx)` (``field``: the
    :math:`y` symbol, absent for an output), checked term by term; ``c_S``, ``d_S`` lambdified in (placeholder,
    kappa)."""
    out = []
    for term in sp.Add.make_args(sp.expand(zeta)):
        hs = [f for f in sp.Mul.make_args(term) if isinstance(f, H)]
        if len(hs) != 1:
            raise ParameterError("one-replica function %s is not a sum of e^(S y) H(c + d x)" % zeta)
        rest = sp.powsimp(term / hs[0], combine="exp")
        S = sp.diff(rest.args[0], field) if (field is not None and isinstance(rest, sp.exp)) else sp.S.One
        if field is not None and sp.simplify(rest - sp.exp(S * field)) != 0 or S not in (1, -1):
            raise ParameterError("one-replica function %s is not a sum of e^(S y) H(c + d x)" % zeta)
        arg = sp.expand(hs[0].args[0])
        d = sp.diff(arg, x)
        if d.has(x):
            raise ParameterError("H(%s) is not linear in the field x" % arg)
        c = arg.subs(x, 0)
        out.append((int(S), sp.lambdify((placeholder, kappa_symbol), c, "math"),
                    sp.lambdify((placeholder, kappa_symbol), d, "math")))
    return sorted(out, key=lambda t: -t[0])


def _rs_to_p(l, P):
    """The RS symbols of layer l's one-replica function written through its pre-activation overlap P = q_{l-1} Q_l."""
    return {Q_(l): P} if l == 1 else {Q_(l): P / q_(l - 1)}


class RSBPoint(NamedTuple):
    """One stationary point of the 1RSB free entropy: per layer the two levels of each overlap."""
    Q: np.ndarray             # (L, 2): Q^(0)_l, Q^(1)_l
    q: np.ndarray             # (L-1, 2)
    q_hat: np.ndarray         # (L-1, 2)
    m: float                  # (an RS point, both levels equal, is stationary for every m: reported as None)
    free_entropy: float
    residual: float           # max |d phi / d theta|
    iterations: int
    converged: bool
    longitudinal: tuple = ()  # selection.longitudinal_eigenvalues (negative: the extremum the rule asks for)

    @property
    def theta(self):
        """The order parameters in the theory's order: Q^(0)_1, Q^(1)_1, ..., q..., qhat..., m."""
        return np.concatenate([self.Q.ravel(), self.q.ravel(), self.q_hat.ravel(), [self.m]])

    @property
    def breaks_symmetry(self):
        """Some overlap has x^(1) > x^(0) (by more than 1e-4) with 1e-4 < m < 1 - 1e-4: a genuine 1RSB point."""
        gaps = np.concatenate([self.Q[:, 1] - self.Q[:, 0], self.q[:, 1] - self.q[:, 0]])
        return bool(np.max(gaps) > 1e-4 and 1e-4 < self.m < 1 - 1e-4)

    @property
    def locally_stable(self):
        """Every longitudinal eigenvalue negative (up to 1e-6: the embedded RS point is flat in m)."""
        return bool(len(self.longitudinal) and max(self.longitudinal) < 1e-6)

    def columns(self):
        out = {}
        for name, values in (("Q", self.Q), ("q", self.q), ("qhat", self.q_hat)):
            for l, row in enumerate(values, start=1):
                out.update({"%s%d_%d" % (name, j, l): float(v) for j, v in enumerate(row)})
        return {**out, "m": float(self.m) if self.breaks_symmetry else float("nan"),
                "free_entropy": float(self.free_entropy), "residual": float(self.residual),
                "converged": bool(self.converged), "breaks_symmetry": self.breaks_symmetry,
                "locally_stable": self.locally_stable}

    def as_dict(self):
        return {"Q": self.Q.tolist(), "q": self.q.tolist(), "q_hat": self.q_hat.tolist(),
                "m": float(self.m) if self.breaks_symmetry else None,
                "free_entropy": float(self.free_entropy), "residual": float(self.residual),
                "iterations": int(self.iterations), "converged": bool(self.converged),
                "breaks_symmetry": self.breaks_symmetry, "longitudinal": [float(v) for v in self.longitudinal]}


class RSBSolution(NamedTuple):
    """Every 1RSB stationary point found at (alpha, kappa), the physical one (:mod:`.selection`), and the RS solution
    beside it."""
    alpha: float
    kappa: float
    solutions: list           # RSBPoint: the physical one first, then by free entropy
    rs: object                # the ReplicaSolution at the same point
    quadrature_error: float
    rule: str

    @property
    def physical(self):
        return self.solutions[0]

    @property
    def free_entropy(self):
        return self.physical.free_entropy

    @property
    def order_parameters(self):
        return self.physical.theta

    @property
    def converged(self):
        return self.physical.converged

    @property
    def residual(self):
        return self.physical.residual

    def rows(self):
        return [{"alpha": self.alpha, "kappa": self.kappa, "branch": b, "selected": b == 0, **p.columns()}
                for b, p in enumerate(self.solutions)]

    def _repr_html_(self):
        return html_table(self.rows(), caption(self.rule))

    def as_dict(self):
        p = self.physical
        out = {"ansatz": "1rsb", "alpha": self.alpha, "kappa": self.kappa, "Q": p.Q.tolist(), "q": p.q.tolist(),
               "q_hat": p.q_hat.tolist(), "m": float(p.m) if p.breaks_symmetry else None,
               "free_entropy": float(p.free_entropy),
               "breaks_symmetry": p.breaks_symmetry, "residual": float(p.residual), "converged": bool(p.converged),
               "longitudinal": [float(v) for v in p.longitudinal], "quadrature_error": self.quadrature_error,
               "rule": self.rule, "solutions": [s.as_dict() for s in self.solutions], "rs": self.rs.as_dict()}
        if not p.breaks_symmetry and self.rs.rs_stable is False:
            out["warning"] = ("no 1RSB point below the RS one was found although RS is unstable (replicon %.3g > 0)"
                              % self.rs.physical.replicon)
        return out


class RSBSolver:
    """The compiled 1RSB theory of a random-scenario deep perceptron: ``solve(alpha, kappa)``, ``sweep``."""

    def __init__(self, theory, nodes=NODES, bulk=BULK):
        if theory.k != 1:
            raise ParameterError("the RSB solver handles k = 1 (1RSB), got k = %d" % theory.k)
        self.theory = theory
        self.depth = L = theory.depth
        self.nodes = checks.integer("nodes", nodes, low=4)
        self.bulk = checks.positive("bulk", bulk)
        P = sp.Symbol("P", positive=True)
        self.hidden = []
        for l in range(1, L):
            [(_, zeta)], _ = HiddenSpins(l).one_replica()
            self.hidden.append(step_coefficients(zeta.subs(_rs_to_p(l, P)), y, P))
        weighted, _ = OutputSpins(L).one_replica()
        self.output = [(float(weight), step_coefficients(zeta.subs(_rs_to_p(L, P)), None, P)[0])
                       for weight, zeta in weighted]
        # the closed-form part of phi: every integral set to zero (the nested averages are the kernels' part; their
        # symbols are checked to be order parameters, alpha and kappa)
        theta = theory.order_parameters
        phi = theory.free_entropy
        closed = phi.replace(lambda e: isinstance(e, sp.Integral), lambda e: sp.S.Zero)
        nested = sp.expand(phi - closed)
        if nested.free_symbols - {alpha_symbol, kappa_symbol} - set(theta):
            raise ParameterError("unexpected symbols in the nested averages: %s" % nested.free_symbols)
        grad = [sp.diff(closed, t) for t in theta]
        hess = [[sp.diff(g, t) for t in theta] for g in grad]
        self._closed = sp.lambdify((theta, alpha_symbol), [closed, grad, hess], "numpy")
        self.n = len(theta)

    # -- indexing ------------------------------------------------------------------------------------------
    def _layout(self, theta):
        """(Q (L,2), q (L-1,2), qhat (L-1,2), m) from theta."""
        L = self.depth
        Q = theta[:2 * L].reshape(L, 2)
        q = theta[2 * L:2 * L + 2 * (L - 1)].reshape(L - 1, 2)
        qh = theta[2 * L + 2 * (L - 1):-1].reshape(L - 1, 2)
        return Q, q, qh, theta[-1]

    def _index(self, name, l, j):
        L = self.depth
        if name == "Q":
            return 2 * (l - 1) + j
        if name == "q":
            return 2 * L + 2 * (l - 1) + j
        if name == "qhat":
            return 2 * L + 2 * (L - 1) + 2 * (l - 1) + j
        return self.n - 1

    def _layer_arguments(self, theta, l):
        """Layer l's averages' arguments (p0, p1[, qhat0, qhat1], m) and their gradient and Hessian in theta
        (sparse: {index: value}, {(i, j): value})."""
        Q, q, qh, m = self._layout(theta)
        args, jac, second = [], [], []
        for j in range(2):
            iQ = self._index("Q", l, j)
            if l == 1:
                args.append(Q[0, j])
                jac.append({iQ: 1.0})
                second.append({})
            else:
                iq = self._index("q", l - 1, j)
                args.append(q[l - 2, j] * Q[l - 1, j])
                jac.append({iQ: q[l - 2, j], iq: Q[l - 1, j]})
                second.append({(iQ, iq): 1.0, (iq, iQ): 1.0})
        if l < self.depth:
            for j in range(2):
                args.append(qh[l - 1, j])
                jac.append({self._index("qhat", l, j): 1.0})
                second.append({})
        args.append(m)
        jac.append({self.n - 1: 1.0})
        second.append({})
        return np.array(args), jac, second

    def _layer(self, l, args, kappa, nodes, table_step=TABLE_STEP):
        """Value and gradient (in its own arguments) of layer l's averages, weighted as in phi (without alpha)."""
        xg, wg = _gauss_legendre(nodes)
        if l < self.depth:
            p0, p1, h0, h1, m = args
            (_, cp, dp), (_, cm, dm) = self.hidden[l - 1]
            P = min(p1, 1 - 1e-15)
            return hidden_term(p0, p1, h0, h1, m, cp(P, kappa), dp(P, kappa), cm(P, kappa), dm(P, kappa), xg, wg,
                               self.bulk, table_step)
        p0, p1, m = args
        P = min(p1, 1 - 1e-15)
        out = np.zeros(4)
        for weight, (_, c, d) in self.output:
            out += weight * output_term(p0, p1, m, c(P, kappa), d(P, kappa), xg, wg, self.bulk)
        return out

    # -- phi, gradient, Hessian ------------------------------------------------------------------------------
    def evaluate(self, theta, alpha, kappa, nodes=None, hessian=False, central=True, table_step=TABLE_STEP):
        r"""(:math:`\phi`, gradient[, Hessian]) at ``theta`` (the theory's order); the layers' Hessians by central
        differences of their gradients at this quadrature, or (``central=False``: Newton's steps) forward ones on the
        coarser quadrature of NEWTON_NODES, NEWTON_TABLE_STEP and NEWTON_STEP."""
        theta = self.check(theta)
        nodes = nodes or self.nodes
        value, grad, hess = self._closed(theta, alpha)
        value, grad = float(value), np.array(grad, float)
        hess = np.array(hess, float) if hessian else None
        for l in range(1, self.depth + 1):
            args, jac, second = self._layer_arguments(theta, l)
            out = self._layer(l, args, kappa, nodes, table_step)
            value += alpha * out[0]
            for k, row in enumerate(jac):
                for i, d in row.items():
                    grad[i] += alpha * out[1 + k] * d
            if hessian:
                if central:
                    Hf = self._layer_hessian(l, args, kappa, out[1:], nodes, table_step, STEP, True)
                else:
                    coarse = self._layer(l, args, kappa, NEWTON_NODES, NEWTON_TABLE_STEP)[1:]
                    Hf = self._layer_hessian(l, args, kappa, coarse, NEWTON_NODES, NEWTON_TABLE_STEP, NEWTON_STEP,
                                             False)
                for a_, ra in enumerate(jac):
                    for b_, rb in enumerate(jac):
                        for i, da in ra.items():
                            for j, db in rb.items():
                                hess[i, j] += alpha * Hf[a_, b_] * da * db
                for k, pairs in enumerate(second):
                    for (i, j), d in pairs.items():
                        hess[i, j] += alpha * out[1 + k] * d
        return (value, grad, hess) if hessian else (value, grad)

    def _layer_hessian(self, l, args, kappa, base, nodes, table_step, step, central):
        """The Hessian of layer l's averages in their own arguments by differences (relative ``step``, p0 and p1 within
        a tenth of 1 - p1) of their gradient ``base`` at ``args``, all on one quadrature; one-sided at second order on
        an edge of the domain; symmetrized."""
        g = lambda a: self._layer(l, a, kappa, nodes, table_step)[1:]
        Hf = np.empty((args.size, args.size))
        for k in range(args.size):
            e = np.zeros(args.size)
            e[k] = step * max(1.0, abs(args[k]))
            if k < 2:                                  # p0, p1: within a tenth of the gap 1 - p1
                e[k] = min(e[k], 0.1 * (1 - args[1]))
            if not central and self._feasible(args + e, l):
                Hf[:, k] = (g(args + e) - base) / e[k]
            elif self._feasible(args + e, l) and self._feasible(args - e, l):
                Hf[:, k] = (g(args + e) - g(args - e)) / (2 * e[k])
            elif self._feasible(args + 2 * e, l):      # one-sided, second order, on an edge of the domain
                Hf[:, k] = (-3 * base + 4 * g(args + e) - g(args + 2 * e)) / (2 * e[k])
            elif self._feasible(args - 2 * e, l):
                Hf[:, k] = (3 * base - 4 * g(args - e) + g(args - 2 * e)) / (2 * e[k])
            else:       # a corner (p0 = p1 = 0: a liquid overlap), held by Newton, left out of the curvature
                Hf[:, k] = 0.0
        return (Hf + Hf.T) / 2

    def check(self, theta):
        """``theta`` as a float array, or a ParameterError naming what is out of the domain: its length, finite
        values, 0 <= Q^(0) <= Q^(1) < 1 and the same for q, 0 <= qhat^(0) <= qhat^(1), 0 < m <= 1."""
        theta = np.asarray(theta, float)
        if theta.shape != (self.n,):
            raise ParameterError("theta must have %d entries (the theory's order_parameters), got shape %s"
                                 % (self.n, theta.shape))
        if not np.all(np.isfinite(theta)):
            raise ParameterError("theta must be finite, got %s" % theta)
        Q, q, qh, m = self._layout(theta)
        for name, levels, top in (("Q", Q, 1.0), ("q", q, 1.0), ("qhat", qh, np.inf)):
            if levels.size and not (np.all(levels[:, 0] >= 0) and np.all(levels[:, 0] <= levels[:, 1] + 1e-12)
                                    and np.all(levels[:, 1] < top)):
                raise ParameterError("%s must satisfy 0 <= level 0 <= level 1%s, got %s"
                                     % (name, " < 1" if top == 1.0 else "", levels.tolist()))
        if not 0 < m <= 1:
            raise ParameterError("m must be in (0, 1], got %r" % m)
        return theta

    def project(self, theta):
        """``theta`` clipped to the box of the order parameters with level 0 at most level 1 in every overlap."""
        lower, upper = self._bounds()
        theta = np.clip(np.asarray(theta, float), lower, upper)
        pairs = theta[:-1].reshape(-1, 2)
        pairs[:, 0] = np.minimum(pairs[:, 0], pairs[:, 1])
        return theta

    def _feasible(self, args, l):
        """Layer arguments inside the domain of the averages: 0 <= p0 <= p1 < 1, 0 <= qhat0 <= qhat1, 0 < m <= 1."""
        p0, p1, m = args[0], args[1], args[-1]
        ok = 0 <= p0 <= p1 < 1 and 0 < m <= 1
        if l < self.depth:
            ok = ok and 0 <= args[2] <= args[3]
        return ok

    def _bounds(self):
        lower = np.zeros(self.n)
        upper = np.full(self.n, 1 - 1e-10)
        for l in range(1, self.depth):
            for j in range(2):
                upper[self._index("qhat", l, j)] = np.inf
        lower[-1] = 1e-4
        upper[-1] = 1.0
        return lower, upper

    def newton(self, theta0, alpha, kappa, tol=TOL, maxiter=60, hold_m=False):
        r"""Damped Newton on :math:`\nabla\phi = 0` in the box of the order parameters (a coordinate on a bound whose
        gradient vanishes stays there; ``hold_m``: m kept at its start, its equation left out; a free m reaching 0 or 1,
        where every 1RSB point is an RS one, ends the search unconverged); steps capped at 0.2 in
        the overlaps and m, at max(1, qhat/2) in a conjugate, halved up to HALVINGS times until the residual falls; the
        Hessian recomputed whenever the residual fell by less than REUSE x; a start whose residual has not halved in
        STALL iterations is abandoned (unconverged: it creeps along a valley with no stationary point in reach)."""
        lower, upper = self._bounds()
        theta = self.project(theta0)
        value, g, H = self.evaluate(theta, alpha, kappa, hessian=True, central=False)
        held = np.zeros(self.n, bool)
        held[-1] = hold_m
        conjugate = np.array([k.direction == 0 for k in self.theory.order_parameter_kinds])
        cap = lambda theta: np.where(conjugate, np.maximum(1.0, 0.5 * theta), 0.2)     # largest step per coordinate
        norm = lambda g: float(np.max(np.abs(g[~held])))
        fresh = True
        it = 0
        best, since = np.inf, 0
        for it in range(1, maxiter + 1):
            res = norm(g)
            if not np.all(np.isfinite(g)) or res < tol:
                break
            best, since = (res, 0) if res < best / 2 else (best, since + 1)
            if since >= STALL:
                break
            if not hold_m and not 1e-3 < theta[-1] < 0.999:     # m -> 0 or 1: onto the RS family, abandoned
                return Iteration(theta, value, res, it, False, g, H)
            free = ~(((theta <= lower) | (theta >= upper)) & (np.abs(g) < 1e-6)) & ~held
            step = np.zeros_like(theta)
            try:            # least squares: a liquid layer (Q = q = qhat = 0) makes the Hessian singular (p = qQ)
                step[free] = np.linalg.lstsq(H[np.ix_(free, free)], -g[free], rcond=1e-12)[0]
            except np.linalg.LinAlgError:
                break
            step *= min(1.0, np.min(cap(theta) / np.maximum(np.abs(step), 1e-300)))
            t, accepted = 1.0, False
            for _ in range(HALVINGS):
                trial = self.project(theta + t * step)
                vt, gt = self.evaluate(trial, alpha, kappa)
                if np.all(np.isfinite(gt)) and norm(gt) < res:
                    accepted = True
                    break
                t *= 0.5
            if not accepted:
                if fresh:
                    break
                value, g, H = self.evaluate(theta, alpha, kappa, hessian=True, central=False)
                fresh = True
                continue
            theta, value, g = trial, vt, gt
            if norm(g) > res / REUSE:
                value, g, H = self.evaluate(theta, alpha, kappa, hessian=True, central=False)
                fresh = True
            else:
                fresh = False
        res = norm(g)
        return Iteration(theta, value, res, it, bool(np.isfinite(res) and res < tol), g, H)

    # -- starts, stationary points, selection ---------------------------------------------------------------------
    def embed(self, rs_point, m=0.5):
        """The RS stationary point as a 1RSB one (both levels equal; stationary for every m)."""
        return np.concatenate([np.repeat(rs_point.Q, 2), np.repeat(rs_point.q, 2), np.repeat(rs_point.q_hat, 2), [m]])

    def _starts(self, rs_point, alpha, kappa):
        """Broken starts around the RS point, at m = 0.3 and 0.7: level 1 above it and level 0 below, or at zero (the fixed
        inputs and outputs act as fields, so x0 > 0 and x0 = 0 branches can both exist); and the RS point displaced
        along each direction in which, embedded, it is not the minimum the rule asks for (the replicon directions
        where RS is unstable), at m = 0.4 and 0.8, level 1 up."""
        Q, q, qh = rs_point.Q, rs_point.q, rs_point.q_hat
        starts = []
        for m, low in itertools.product((0.3, 0.7), (0.6, 0.0)):
            up = lambda v: v + 0.35 * (1 - v)
            starts.append(np.concatenate([np.column_stack([low * Q, up(Q)]).ravel(),
                                          np.column_stack([low * q, up(q)]).ravel(),
                                          np.column_stack([low * qh, 2 * qh + 1.0]).ravel(), [m]]))
        embedded = self.embed(rs_point)
        levels = np.array([1 if str(t).endswith("__1") else -1 if str(t).endswith("__0") else 0
                           for t in self.theory.order_parameters], float)
        for vec in self.curvature(embedded, alpha, kappa)[1]:
            if abs(vec[-1]) > 0.5 * np.max(np.abs(vec)):         # the flat direction of m at the RS point
                continue
            vec = vec / np.max(np.abs(vec)) * np.sign(levels @ vec or 1.0)
            for m in (0.4, 0.8):
                start = self.project(embedded + 0.15 * vec)
                start[-1] = m
                starts.append(start)
        return starts

    def _liquid(self, theta):
        """Coordinates of overlaps in the liquid state, both levels zero (below 1e-9; Q_l, q_l or qhat_l): left out of the
        curvature.  There the closure p = qQ makes the Hessian indefinite in directions that leave the domain (a
        conjugate below zero); whether a liquid layer freezes is the RS question, answered by the RS solution's own
        longitudinal eigenvalues (``rs`` beside every 1RSB result)."""
        pairs = theta[:-1].reshape(-1, 2)
        return np.append(np.repeat(np.all(np.abs(pairs) < 1e-9, axis=1), 2), False)

    def curvature(self, theta, alpha, kappa):
        """(longitudinal eigenvalues, wrong directions over every coordinate) at ``theta``, liquid overlaps left out
        (:meth:`_liquid`; selection.longitudinal_eigenvalues and selection.wrong_directions, threshold 1e-6)."""
        H = self.evaluate(theta, alpha, kappa, hessian=True)[2]
        keep = ~self._liquid(np.asarray(theta, float))
        if not np.any(keep[:-1]):          # every overlap liquid: nothing left to judge here (the RS solution says)
            return (), []
        kinds = [k for k, kept in zip(self.theory.order_parameter_kinds, keep) if kept]
        Hk = H[np.ix_(keep, keep)]
        directions = []
        for vec in wrong_directions(Hk, kinds, threshold=1e-6):
            full = np.zeros(self.n)
            full[keep] = vec
            directions.append(full)
        return tuple(map(float, longitudinal_eigenvalues(Hk, kinds))), directions

    def _point(self, r, alpha, kappa, curvature=True):
        Q, q, qh, m = self._layout(r.root)
        longitudinal = self.curvature(r.root, alpha, kappa)[0] if curvature else ()
        return RSBPoint(Q.copy(), q.copy(), qh.copy(), float(m), float(r.value), r.residual, r.iterations,
                        r.converged, longitudinal)

    @staticmethod
    def _same(a, b):
        if not (a.breaks_symmetry or b.breaks_symmetry):
            return np.allclose(np.concatenate([a.Q[:, 0], a.q[:, 0]]), np.concatenate([b.Q[:, 0], b.q[:, 0]]),
                               atol=1e-5)
        return np.allclose(a.theta, b.theta, atol=1e-5, rtol=1e-4)

    def stationary_points(self, alpha, kappa, rs_point, starts=None):
        """The RS point embedded, and every distinct converged 1RSB stationary point from ``starts``."""
        embedded = self.embed(rs_point)
        v, g = self.evaluate(embedded, alpha, kappa)
        res = float(np.max(np.abs(g)))
        found = [self._point(Iteration(embedded, v, res, 0, res < TOL, g, None), alpha, kappa)]
        for theta0 in (self._starts(rs_point, alpha, kappa) if starts is None else starts):
            r = self.newton(theta0, alpha, kappa, hold_m=True)         # first at the start's m, then m free
            if not r.converged or not self._point(r, alpha, kappa, curvature=False).breaks_symmetry:
                continue
            r = self.newton(r.root, alpha, kappa)
            if not r.converged or not np.isfinite(r.value):
                continue
            p = self._point(r, alpha, kappa)
            if not any(self._same(p, f) for f in found):
                found.append(p)
        return found

    def _selected(self, points):
        kinds = self.theory.order_parameter_kinds
        return points[physical_index([p.free_entropy for p in points], [p.theta for p in points], kinds)]

    def _descend(self, points, alpha, kappa, rounds=3, steps=(0.05, 0.15)):
        """While the selected point has a positive longitudinal eigenvalue (a lower stationary point lies beyond it),
        Newton from it displaced along each such direction (:func:`.selection.wrong_directions`)."""
        kinds = self.theory.order_parameter_kinds
        overlap = np.array([k.direction != 0 for k in kinds])
        for _ in range(rounds):
            best = self._selected(points)
            if best.locally_stable:
                break
            starts = []
            for vec in self.curvature(best.theta, alpha, kappa)[1]:
                vec = vec / np.max(np.abs(vec[overlap]))
                for step, sign in itertools.product(steps, (1, -1)):
                    starts.append(self.project(best.theta + sign * step * vec))
            new = []
            for theta0 in starts:
                r = self.newton(theta0, alpha, kappa)
                if r.converged:
                    p = self._point(r, alpha, kappa)
                    if not any(self._same(p, f) for f in points + new):
                        new.append(p)
            if not new:
                break
            points = points + new
        return points

    def solve(self, alpha, kappa=0.0, rs=None, starts=None):
        """Every 1RSB stationary point at (alpha, kappa) found from the RS solution (``rs``: a ReplicaSolution, solved
        here if None) and the broken starts; the physical one first."""
        checks.positive("alpha", alpha)
        checks.nonnegative("kappa", kappa)
        if rs is None:
            rs = self.theory.rs().compile().solve(alpha, kappa)
        found = self._descend(self.stationary_points(alpha, kappa, rs.physical, starts), alpha, kappa)
        kinds = self.theory.order_parameter_kinds
        best = physical_index([p.free_entropy for p in found], [p.theta for p in found], kinds)
        physical = found[best]
        rest = sorted([p for p in found if p is not physical], key=lambda p: -p.free_entropy)
        a = self.evaluate(physical.theta, alpha, kappa)
        b = self.evaluate(physical.theta, alpha, kappa, nodes=CHECK_NODES, table_step=TABLE_STEP / 2)
        qerr = float(max(abs(a[0] - b[0]), np.max(np.abs(a[1] - b[1]))))
        return RSBSolution(float(alpha), float(kappa), [physical] + rest, rs, qerr, rule_statement(kinds))

    def sweep(self, alpha, kappa=0.0, chunks=None, executor=None, progress=None):
        """:meth:`solve` at every alpha, each from its own RS solution and starts (no warm start: the points are
        independent, so ``chunks`` changes nothing), here or on ``executor`` (any concurrent.futures.Executor or a
        dask.distributed.Client; the solver travels as its theory and options): a
        :class:`~symbolic_rg.protocol.SolutionSweep`, in the order of ``alpha``."""
        checks.nonnegative("kappa", kappa)
        alphas = np.atleast_1d(np.asarray(alpha, float))
        for a in alphas:
            checks.positive("alpha", float(a))
        points = [(self, float(a), float(kappa)) for a in alphas]
        return SolutionSweep(parallel.map_points(solve_point, points, "1RSB sweep", executor, progress, unit="point"))

    def __reduce__(self):
        """Pickles as the compilation of its theory (itself pickled as its derivation) with its options: a worker
        builds one solver per process and options."""
        return compiled, (self.theory, self.nodes, self.bulk)


@functools.lru_cache(maxsize=None)
def _gauss_legendre(nodes):
    """Gauss-Legendre nodes and weights on [-1, 1], computed once per node count."""
    return np.polynomial.legendre.leggauss(nodes)


def compiled(theory, nodes, bulk):
    """``theory.compile(nodes=nodes, bulk=bulk)``: how a solver is rebuilt where it is unpickled."""
    return theory.compile(nodes=nodes, bulk=bulk)


def solve_point(solver, alpha, kappa):
    """``solver.solve(alpha, kappa)``: one point of a sweep, on whatever executor runs it."""
    return solver.solve(alpha, kappa)
