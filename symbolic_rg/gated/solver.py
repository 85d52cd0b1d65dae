r"""Float64 solver of the matrix saddle point of a :class:`~symbolic_rg.gated.GatedTheory`.

The effective action :math:`H(V_1..V_L)` and its gradients :math:`\partial H/\partial V_l` are compiled
from the derived SymPy matrix expressions (``lambdify``, NumPy/LAPACK; the cost is the :math:`P\times P`
algebra).  The data part is evaluated with one Cholesky factorization of :math:`TI+K` per evaluation,
giving :math:`H_{data}` and :math:`\Phi = \partial H/\partial A_0` together.

The order parameters stay symmetric positive definite by construction: :math:`V_l = C_lL_lL_l^\top C_l^\top`
with :math:`C_l` the Cholesky factor of the infinite-width value and :math:`L_l` lower triangular with
:math:`\log` diagonal.  The saddle point is the minimum of :math:`H` (the integrand :math:`e^{-H}` is real and
positive), found by L-BFGS with a backtracking line search from several starts; the lowest-H converged
stationary point is returned (all distinct ones are kept in ``Solution.roots``).  Converged means the
dimensionless residuals :math:`R_l = \frac2{N_l}(C_lL_l)^\top\partial_{V_l}H\,(C_lL_l)` are below ``tol``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import sympy as sp

from .. import checks, parallel
from ..errors import ConvergenceError, NoSolutionError, ParameterError
from ..matrices import face_split, lambdify
from ..protocol import GeneralizationError, Iteration, SolutionSweep, SolutionTable
from .gates import FixedGates, HalfSpaceGates, evaluate_gates

__all__ = ["GatedSolver", "GatedSolution", "GatedSweep", "START_SCALES", "RULE"]

START_SCALES = (1.0, 0.2, 5.0)      # starts: the infinite-width order parameters times these
SINGULAR_RTOL = 1e-10               # at T = 0, min/max eigenvalue of K_GP below this: no interpolating weights
RULE = "lowest effective action H among the converged stationary points (the minimum of H)"


class _Data(NamedTuple):
    """Training data in the extended (output, point) index used by the theory: K_0, y, the gate factors
    and their face-splitting product G_0 (None without factors)."""
    X: np.ndarray
    Y: np.ndarray
    K0: np.ndarray
    y: np.ndarray
    factors: list
    gate_products: np.ndarray


def training_data(X, Y, K0, y, factors):
    return _Data(X, Y, K0, y, factors, face_split(*factors) if factors else None)


def _lbfgs(fun, x0, residual, tol, maxiter, memory=20):
    """Minimise ``fun`` (returns value, gradient) by L-BFGS with backtracking Armijo steps until
    ``residual(x, grad) < tol``; an :class:`~symbolic_rg.protocol.Iteration`."""
    x = x0.copy()
    f, g = fun(x)
    S, Yk = [], []
    it = 0
    res = residual(x, g)
    while res >= tol and it < maxiter:
        q = g.copy()
        alphas = []
        for s, yv in reversed(list(zip(S, Yk))):
            a = s @ q / (yv @ s)
            alphas.append(a)
            q -= a * yv
        if S:
            q *= (S[-1] @ Yk[-1]) / (Yk[-1] @ Yk[-1])
        else:
            q *= min(1.0, 0.1 / max(np.max(np.abs(g)), 1e-300))
        for (s, yv), a in zip(zip(S, Yk), reversed(alphas)):
            b = yv @ q / (yv @ s)
            q += s * (a - b)
        d = -q
        slope = g @ d
        if slope >= 0:                        # not a descent direction: restart along -g
            S, Yk = [], []
            d = -g * min(1.0, 0.1 / max(np.max(np.abs(g)), 1e-300))
            slope = g @ d
        step = 1.0
        while True:
            xn = x + step * d
            fn, gn = fun(xn)
            # Armijo, with the rounding error of H allowed for (near the minimum H changes by ~1e-16 |H|)
            if np.isfinite(fn) and fn <= f + 1e-4 * step * slope + 1e-14 * abs(f):
                break
            step *= 0.5
            if step < 1e-10:
                return Iteration(x, f, res, it, res < tol, gradient=g)
        s, yv = xn - x, gn - g
        if s @ yv > 1e-300:
            S.append(s)
            Yk.append(yv)
            if len(S) > memory:
                S.pop(0)
                Yk.pop(0)
        x, f, g = xn, fn, gn
        it += 1
        res = residual(x, g)
    return Iteration(x, f, res, it, res < tol, gradient=g)


class GatedSolver:
    """Compiled saddle-point solver of a gated theory (module doc)."""

    def __init__(self, theory):
        self.theory = theory
        self.depth = theory.depth
        self._compiled = {}

    # -- compilation per concrete gate counts ---------------------------------------------------
    def compiled_functions(self, counts):
        key = tuple(sorted((g.name, n) for g, n in counts.items()))
        if key in self._compiled:
            return self._compiled[key]
        th = self.theory
        sub = {g.count: n for g, n in counts.items() if isinstance(g.count, sp.Symbol)}
        Vs = [V.xreplace(sub) for V in th.order_parameters]
        Phi = th.action_gradient.xreplace(sub)
        scalars = list(th.widths) + list(th.sigmas)
        fn = {
            "measure": lambdify(Vs + scalars, th.measure_term.xreplace(sub)),
            "gradient": lambdify(Vs + [Phi] + scalars, [g.xreplace(sub) for g in th.gradient]),
            "means": lambdify(Vs + scalars, [op.mean.xreplace(sub) for op in th.measures]),
            "input_tilt": lambdify(Vs + scalars, th.input_tilt.xreplace(sub)),
            "dims": [int(V.shape[0]) for V in Vs],
        }
        self._compiled[key] = fn
        return fn

    # -- data ---------------------------------------------------------------------------------
    def gate_functions(self, gates, gate_seed):
        """One gate function per distinct gate set (``theory.gate_order``)."""
        order = self.theory.gate_order
        if gates is None or isinstance(gates, (int, np.integer)) and not isinstance(gates, bool):
            funcs = []
            for i, gs in enumerate(order):
                count = gates if gates is not None else gs.count
                if not isinstance(count, (int, np.integer)):
                    raise ParameterError("gates: this network has symbolic gate counts (%s); give gates=M or gate "
                                         "functions/arrays" % ", ".join(str(g.count) for g in order))
                if gates is not None and not isinstance(gs.count, sp.Symbol) and gs.count != gates:
                    raise ParameterError("gates=%d does not match the network's gate count %s" % (gates, gs.count))
                funcs.append(HalfSpaceGates(int(count), seed=gate_seed + i))
            return funcs
        if isinstance(gates, np.ndarray):
            if gates.ndim != 3:
                raise ParameterError("gate arrays must have shape (gate sets, P, M), got %s" % (gates.shape,))
            gates = [FixedGates(a) for a in gates]
        gates = list(gates) if isinstance(gates, (list, tuple)) else [gates]
        if len(gates) == 1 and len(order) > 1:
            raise ParameterError("gates: %d gate sets (%s) need %d gate functions, got 1"
                                 % (len(order), ", ".join("G_" + (g.name or "") for g in order), len(order)))
        if len(gates) != len(order):
            raise ParameterError("gates: expected %d gate functions (one per gate set), got %d" % (len(order), len(gates)))
        for g in gates:
            if not callable(g):
                raise ParameterError("gates must be callables X -> (n, M) arrays, got %r" % (g,))
        return gates

    def _factor_values(self, funcs, X, m, counts=None, role="train"):
        """Gate values of every index factor of the kernel on the extended (output, point) index, and the
        values of each gate set on the inputs themselves (``{GateSet: array}``)."""
        th = self.theory
        raw = {}
        for gs, f in zip(th.gate_order, funcs):
            name = "gate set G_%s" % (gs.name or "")
            want = counts.get(gs) if counts else (gs.count if not isinstance(gs.count, sp.Symbol) else None)
            raw[gs] = evaluate_gates(f, X, want, name, role)
        n = X.shape[0]
        out = [np.tile(raw[fac], (m, 1)) if fac in raw else np.kron(np.eye(m), np.ones((n, 1)))  # output indicators
               for fac in th.factors]
        return out, raw

    def prepare(self, X, y, funcs):
        X = checks.array("X", X, 2)
        Y = np.asarray(y, dtype=float)
        m = self.theory.outputs
        if Y.ndim == 1:
            Y = Y[:, None]
        Y = checks.array("y", Y, 2)
        if Y.shape[0] != X.shape[0]:
            raise ParameterError("X has %d rows but y has %d; they must match" % (X.shape[0], Y.shape[0]))
        if Y.shape[1] != m:
            raise ParameterError("y has %d output columns but the network has %d outputs" % (Y.shape[1], m))
        factors, raw = self._factor_values(funcs, X, m)
        K0 = X @ X.T / X.shape[1]
        return training_data(X, Y, np.kron(np.ones((m, m)), K0), Y.T.ravel(), factors), raw

    # -- evaluation -----------------------------------------------------------------------------
    @staticmethod
    def _kernel(A0, data):
        G0 = data.gate_products
        if G0 is not None:
            return (G0 @ A0 @ G0.T) * data.K0, G0
        return float(A0[0, 0]) * data.K0, None

    def data_term(self, A0, data, T):
        """H_data and Phi = dH/dA_0 with one Cholesky factorization of T I + K."""
        K, G0 = self._kernel(A0, data)
        C = K + T * np.eye(K.shape[0])
        try:
            Lc = np.linalg.cholesky(C)
        except np.linalg.LinAlgError:
            return np.inf, None
        Li = np.linalg.inv(Lc)
        R = Li.T @ Li
        r = R @ data.y
        value = 0.5 * data.y @ r + np.sum(np.log(np.diag(Lc)))
        return value, self._adjoint(0.5 * (R - np.outer(r, r)), data, G0)

    @staticmethod
    def _adjoint(Gamma, data, G0):
        """Phi = dH/dA_0 from Gamma = dH/dK: G_0^T (Gamma o K_0) G_0 (tr(Gamma K_0) without gates)."""
        if G0 is None:
            return np.array([[np.sum(Gamma * data.K0)]])
        return G0.T @ (Gamma * data.K0) @ G0

    def _unpack(self, theta, chol_ref, widths, dims):
        Vs, Ls, pos = [], [], 0
        for C, N, d in zip(chol_ref, widths, dims):
            n = d * (d + 1) // 2
            raw = theta[pos:pos + n] / np.sqrt(N)
            pos += n
            L = np.zeros((d, d))
            L[np.tril_indices(d)] = raw
            L[np.diag_indices(d)] = np.exp(np.diag(L))
            CL = C @ L
            Ls.append((L, CL))
            Vs.append(CL @ CL.T)
        return Vs, Ls

    def objective(self, fn, data, T, widths, scalars, chol_ref):
        dims = fn["dims"]

        def evaluate(theta):
            evaluate.count += 1
            Vs, Ls = self._unpack(theta, chol_ref, widths, dims)
            try:
                A0 = np.atleast_2d(fn["input_tilt"](*Vs, *scalars))
                value, Phi = self.data_term(A0, data, T)
                if Phi is None:
                    return np.inf, np.zeros_like(theta)
                value += float(fn["measure"](*Vs, *scalars))
                grads = fn["gradient"](*Vs, Phi, *scalars)
            except np.linalg.LinAlgError:
                return np.inf, np.zeros_like(theta)
            out = []
            for (L, CL), C, G, N in zip(Ls, chol_ref, grads, widths):
                G = np.atleast_2d(G)
                G = 0.5 * (G + G.T)
                dL = np.tril(2 * C.T @ G @ CL)
                dL[np.diag_indices(L.shape[0])] *= np.diag(L)
                out.append(dL[np.tril_indices(L.shape[0])] / np.sqrt(N))
            evaluate.last = (Vs, Ls, grads)
            return value, np.concatenate(out)

        evaluate.count = 0

        def residual(theta, grad):
            Vs, Ls, grads = evaluate.last
            return max(float(np.max(np.abs(2 / N * CL.T @ (0.5 * (np.atleast_2d(G) + np.atleast_2d(G).T)) @ CL)))
                       for (L, CL), G, N in zip(Ls, grads, widths))
        return evaluate, residual

    # -- public -----------------------------------------------------------------------------------
    def solve(self, X, y, widths, *, sigma2=1.0, T, gates=None, gate_seed=0, tol=1e-9, maxiter=3000,
              starts=START_SCALES, initial=None, raise_on_failure=True):
        """Solve the matrix saddle point; return a :class:`GatedSolution`.

        ``widths``: N_1..N_L (or one int for all; ``np.inf``: the infinite-width limit, every V_l at its prior
        mean); ``sigma2``: one prior variance or L+1 of them
        (sigma_1..sigma_L, sigma_a); ``gates``: None (half-space gates with the network's counts, seeds
        ``gate_seed + i``), an int M (half-space gates, M per set), or one gate function per gate set
        (``theory.gate_order``: gated layers from the input, then a gated readout), e.g.
        :class:`~symbolic_rg.gated.FixedGates` for user arrays.  ``initial``: order parameters to start from
        (a warm start; the scaled infinite-width starts follow only if it does not converge).
        """
        setup = self._setup(X, y, gates, gate_seed)
        point = self._point(setup, widths, sigma2, T)
        sol = self._solution(setup, point, *self._roots(setup, point, tol, maxiter, starts, initial))
        if raise_on_failure and not sol.converged:
            raise ConvergenceError("matrix saddle point did not converge at T=%g, widths=%s, sigma2=%s "
                                   "(max residual %.3g after %d iterations)"
                                   % (sol.T, list(sol.widths), list(sol.sigma2), sol.residual, sol.iterations))
        return sol

    def _setup(self, X, y, gates, gate_seed):
        """What a solve needs besides its parameter point: the training data with the gate values, the gate
        functions, their counts and the compiled functions of those counts."""
        funcs = self.gate_functions(gates, gate_seed)
        data, raw = self.prepare(X, y, funcs)
        counts = {gs: arr.shape[1] for gs, arr in raw.items()}
        return _Setup(data, raw, funcs, counts, self.compiled_functions(counts))

    def _point(self, setup, widths, sigma2, T):
        """A parameter point, checked (widths at least the dimension of their order parameter; at T = 0, gates and
        kernel that admit interpolating weights), with the infinite-width order parameters and their Cholesky
        factors."""
        L, fn = self.depth, setup.fn
        widths = self._widths(widths)
        s2 = self._sigma2(sigma2)
        T = self._temperature(T)
        self._check_gates(setup.raw, T)
        for N, d, l in zip(widths, fn["dims"], range(1, L + 1)):
            if N < d:
                raise ParameterError("width N_%d = %g is below the dimension %d of its order parameter V_%d (the "
                                     "product of the index counts above it: gates, outputs, filter positions or "
                                     "heads); the matrix theory needs N_%d >= %d" % (l, N, d, l, l, d))
        scalars = list(widths) + list(np.sqrt(s2))
        Vgp = self._infinite_width_order_parameters(fn, scalars)
        if T == 0:
            Kgp, _ = self._kernel(np.atleast_2d(fn["input_tilt"](*Vgp, *scalars)), setup.data)
            ev = np.linalg.eigvalsh(Kgp)
            if ev[0] <= SINGULAR_RTOL * ev[-1]:
                raise NoSolutionError("T = 0: the gated kernel on the training set is singular (rank %d < %d "
                                      "points); no interpolating weights — use T > 0 or fewer points"
                                      % (int(np.sum(ev > SINGULAR_RTOL * ev[-1])), len(ev)))
        return _Point(widths, s2, T, scalars, [np.linalg.cholesky(V) for V in Vgp])

    def _roots(self, setup, point, tol, maxiter, starts, initial):
        """L-BFGS from ``initial`` (if given; the ``starts`` follow only if it does not converge) and from the
        infinite-width order parameters scaled by ``starts``: the best root and the distinct converged ones."""
        chol_ref, widths = point.chol_ref, point.widths
        if np.all(np.isinf(widths)):            # the infinite-width limit: every V_l at its prior mean, no action
            gp = _Root([C @ C.T for C in chol_ref], np.nan, 0, True, 0.0, 0)
            return gp, [gp]
        evaluate, residual = self.objective(setup.fn, setup.data, point.T, widths, point.scalars, chol_ref)
        roots = []
        thetas = [self._pack([np.sqrt(scale) * C for C in chol_ref], chol_ref, widths) for scale in starts]
        if initial is not None:
            thetas.insert(0, self._pack([np.linalg.cholesky(V) for V in initial], chol_ref, widths))
        for k, theta0 in enumerate(thetas):
            if initial is not None and k > 0 and roots[0].converged:
                break                                  # the warm start converged
            start = evaluate.count
            r = _lbfgs(evaluate, theta0, residual, tol, maxiter)
            evaluate(r.root)
            Vs = [V.copy() for V in evaluate.last[0]]
            roots.append(_Root(Vs, float(r.value), int(r.iterations), bool(r.converged), float(r.residual),
                               evaluate.count - start))
        return _best(roots), _distinct(roots)

    def _solution(self, setup, point, best, roots):
        return GatedSolution(self, setup.data, setup.funcs, setup.counts, point.widths, point.s2, point.T, setup.fn,
                             point.scalars, best, roots)

    @staticmethod
    def _infinite_width_order_parameters(fn, scalars):
        """V_l at their prior means, top down: V_l = A_l(V_{l+1})."""
        L = len(fn["dims"])
        V = [None] * L
        for l in range(L - 1, -1, -1):
            args = [V[i] if V[i] is not None else np.eye(fn["dims"][i]) for i in range(L)]
            V[l] = np.atleast_2d(fn["means"](*args, *scalars)[l])
        return V

    @staticmethod
    def _pack(factors, chol_ref, widths):
        """Parameters theta of the order parameters V_l = F_l F_l^T (inverse of ``_unpack``)."""
        out = []
        for F, C, N in zip(factors, chol_ref, widths):
            L = np.linalg.cholesky(np.linalg.solve(C, F) @ np.linalg.solve(C, F).T)
            L[np.diag_indices(L.shape[0])] = np.log(np.diag(L))
            out.append(L[np.tril_indices(L.shape[0])] * np.sqrt(N))
        return np.concatenate(out)

    def sweep(self, X, y, widths, *, T, sigma2=1.0, gates=None, gate_seed=0, tol=1e-9, maxiter=3000,
              raise_on_failure=True, chunks=None, executor=None, progress=None):
        """Saddle points along a path of parameter points, each warm-started from the previous one of its chunk.

        ``widths``: a list of width specifications (each as in :meth:`solve`) or one for all points; ``T``:
        a sequence of temperatures or one.  Their lengths must match (or be 1).  The path is cut into ``chunks``
        contiguous chunks (default: one; with an ``executor``, :func:`~symbolic_rg.parallel.default_chunks`), each
        warm-started from its own first point; they run one after the other, or as tasks of ``executor`` (a
        :class:`concurrent.futures.Executor` or a dask ``Client``; gate functions must then pickle), with the same
        numbers for the same chunks.  ``progress``: a bar.  Returns a :class:`GatedSweep`; a point that does not
        converge raises a ConvergenceError at the end (``raise_on_failure``), a failed task keeps the finished
        chunks (the error's ``partial``).
        """
        W = list(widths) if np.ndim(widths) == 2 or (np.ndim(widths) == 1 and self.depth == 1) else [widths]
        Ts = list(np.atleast_1d(np.asarray(T, dtype=float)))
        n = max(len(W), len(Ts))
        if len(W) not in (1, n) or len(Ts) not in (1, n):
            raise ParameterError("sweep: %d width points and %d temperatures; their numbers must match or be 1"
                                 % (len(W), len(Ts)))
        points = list(zip(W * (n // len(W)), Ts * (n // len(Ts))))
        bounds = parallel.chunk_bounds(n, chunks or (parallel.default_chunks(n, executor) if executor else 1))
        setup = self._setup(X, y, gates, gate_seed)

        def solutions(rows, found):
            return [self._solution(setup, self._point(setup, points[i][0], sigma2, points[i][1]), *roots)
                    for i, roots in zip(rows, found)]
        assemble = lambda done: GatedSweep([s for k in sorted(done) for s in solutions(range(*bounds[k]), done[k])])
        here = setup if executor is None else None            # a worker builds its own
        tasks = [(self, X, y, points[lo:hi], sigma2, gates, gate_seed, tol, maxiter, here) for lo, hi in bounds]
        found = parallel.run_chunks(_path, tasks, [hi - lo for lo, hi in bounds], executor, progress,
                                    "gated saddle points", assemble)
        sweep = GatedSweep(solutions(range(n), [r for part in found for r in part]))
        bad = [i for i, sol in enumerate(sweep.solutions) if not sol.converged]
        if raise_on_failure and bad:
            sol = sweep[bad[0]]
            raise ConvergenceError("matrix saddle point did not converge at T=%g, widths=%s, sigma2=%s (point %d "
                                   "of %d; max residual %.3g after %d iterations)"
                                   % (sol.T, list(sol.widths), list(sol.sigma2), bad[0], n, sol.residual,
                                      sol.iterations))
        return sweep

    def __reduce__(self):
        """Pickles as its theory (:func:`~symbolic_rg.parallel.solver_of`)."""
        return parallel.solver_of, (self.theory, {})

    def _widths(self, widths):
        """N_1..N_L from one width or L of them (integers >= 1; all inf: the infinite-width limit), as a float
        array."""
        w = np.atleast_1d(np.asarray(widths, dtype=float))
        out = np.array([float(c) for c in checks.widths(self.depth, list(w) if w.size > 1 else w[0], infinite=True)])
        if np.any(np.isinf(out)) and not np.all(np.isinf(out)):
            raise ParameterError("widths must be all finite or all inf (the infinite-width limit), got %s"
                                 % out.tolist())
        return out

    def _sigma2(self, sigma2):
        """sigma_1^2..sigma_L^2, sigma_a^2 from one variance or L + 1 of them, as a float array."""
        s = np.atleast_1d(np.asarray(sigma2, dtype=float))
        return np.array([float(c) for c in checks.prior_variances(self.depth, list(s) if s.size > 1 else s[0])])

    @staticmethod
    def _temperature(T):
        return float(checks.temperature(T))

    def _check_gates(self, raw, T):
        """At T = 0 every training input must pass through at least one gate of every gate set."""
        if T > 0:
            return
        th = self.theory
        for gs, vals in raw.items():
            off = np.flatnonzero(np.sum(vals**2, axis=1) == 0)
            if off.size:
                where = [i + 1 for i, l in enumerate(th.network.layers) if getattr(l, "gates", None) == gs]
                if getattr(th.network.readout, "gates", None) == gs:
                    where.append("readout")
                raise NoSolutionError("T = 0: gate set G_%s (layer %s) switches training input %d (0-based) fully off "
                                      "(all %d gates zero), so no weights interpolate it; use T > 0 or other gates"
                                      % (gs.name, ", ".join(map(str, where)), int(off[0]), vals.shape[1]))


def _path(solver, X, y, points, sigma2, gates, gate_seed, tol, maxiter, setup=None, tick=None):
    """The (best root, distinct roots) at each (widths, T) of ``points``, each warm-started from the previous
    one's best (here, with the sweep's ``setup``, or on a worker, which builds it: for a nonlinear convolution the
    position-pair kernels)."""
    setup = setup if setup is not None else solver._setup(X, y, gates, gate_seed)
    out, previous = [], None
    for widths, T in points:
        best, roots = solver._roots(setup, solver._point(setup, widths, sigma2, T), tol, maxiter, START_SCALES,
                                    previous)
        out.append((best, roots))
        previous = best.order_parameters
        if tick is not None:
            tick(1)
    return out


class _Setup(NamedTuple):
    data: _Data
    raw: dict
    funcs: list
    counts: dict
    fn: dict


class _Point(NamedTuple):
    widths: np.ndarray
    s2: np.ndarray
    T: float
    scalars: list
    chol_ref: list


class _Root(NamedTuple):
    order_parameters: list
    action: float
    iterations: int
    converged: bool
    residual: float
    evaluations: int          # evaluations of H (one Cholesky factorization of T I + K each)


def _best(roots):
    ok = [r for r in roots if r.converged]
    pool = ok if ok else roots
    return min(pool, key=lambda r: (r.action if np.isfinite(r.action) else np.inf, r.residual))


def _distinct(roots, rtol=1e-6):
    out = []
    for r in sorted((r for r in roots if r.converged), key=lambda r: r.action):
        if not any(all(np.allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b))) for a, b in
                       zip(r.order_parameters, o.order_parameters)) for o in out):
            out.append(r)
    return out


def _finite_or_none(value):
    """A number for JSON, None where there is none (the infinite-width limit has no effective action)."""
    return float(value) if np.isfinite(value) else None


def _names(depth):
    """The table columns of the parameters, and of the order parameters (tr V_l / d_l)."""
    return (["T"] + ["N_%d" % l for l in range(1, depth + 1)] + ["sigma2_%d" % l for l in range(1, depth + 1)]
            + ["sigma2_a"], ["tr(V_%d)/d_%d" % (l, l) for l in range(1, depth + 1)])


class GatedSolution(SolutionTable):
    """The matrix saddle point at one parameter point and the observables it implies."""

    rule = RULE

    def __init__(self, solver, data, gate_functions, gate_counts, widths, sigma2, T, fn, scalars, root, roots):
        self.solver, self.data, self.gate_functions, self.gate_counts = solver, data, gate_functions, gate_counts
        self.widths, self.sigma2, self.T = widths, sigma2, T
        self._fn, self._scalars = fn, scalars
        self.order_parameters = root.order_parameters
        self.action, self.iterations, self.converged, self.residual = (root.action, root.iterations,
                                                                       root.converged, root.residual)
        self.evaluations = root.evaluations
        self.roots = roots
        self.input_tilt = np.atleast_2d(fn["input_tilt"](*self.order_parameters, *scalars))
        self.kernel, self._G0 = solver._kernel(self.input_tilt, data)
        C = self.kernel + T * np.eye(self.kernel.shape[0])
        self._alpha = np.linalg.solve(C, data.y)
        self._C = C

    @property
    def gp_input_tilt(self):
        """A_0 at infinite width (all V_l at their prior means)."""
        V = self.solver._infinite_width_order_parameters(self._fn, self._scalars)
        return np.atleast_2d(self._fn["input_tilt"](*V, *self._scalars))

    @property
    def kernel_scale(self):
        """tr K / tr K_GP on the training set (1 at infinite width)."""
        Kgp, _ = self.solver._kernel(self.gp_input_tilt, self.data)
        return float(np.trace(self.kernel) / np.trace(Kgp))

    def predict(self, X_test, gates_test=None):
        """Posterior mean and variance of f at the rows of ``X_test``: arrays (n,) or (n, outputs).

        ``gates_test``: gate functions for the test inputs when the solve used fixed training arrays
        (default: the same gate functions)."""
        X_test = checks.array("X_test", X_test, 2)
        if X_test.shape[1] != self.data.X.shape[1]:
            raise ParameterError("X_test has %d features but the training inputs have %d"
                                 % (X_test.shape[1], self.data.X.shape[1]))
        funcs = self.gate_functions if gates_test is None else self.solver.gate_functions(gates_test, 0)
        m = self.solver.theory.outputs
        n = X_test.shape[0]
        factors, _ = self.solver._factor_values(funcs, X_test, m, self.gate_counts, "test")
        k0 = np.kron(np.ones((m, m)), X_test @ self.data.X.T / self.data.X.shape[1])
        kxx = np.tile(np.sum(X_test**2, axis=1) / X_test.shape[1], m)
        A = self.input_tilt
        if factors:
            g0 = face_split(*factors)
            k = (g0 @ A @ self._G0.T) * k0
            kself = np.einsum("ia,ab,ib->i", g0, A, g0) * kxx
        else:
            k = A[0, 0] * k0
            kself = A[0, 0] * kxx
        mean = k @ self._alpha
        var = kself - np.einsum("ij,ji->i", k, np.linalg.solve(self._C, k.T))
        if m == 1:
            return mean, var
        return mean.reshape(m, n).T, var.reshape(m, n).T

    def generalization_error(self, X_test, y_test, gates_test=None):
        """Test average of (<f> - y)^2 + <df^2> (over points and outputs), with its parts."""
        Y = np.asarray(y_test, dtype=float)
        mean, var = self.predict(X_test, gates_test)
        if Y.shape != mean.shape:
            raise ParameterError("y_test has shape %s but the predictions have shape %s" % (Y.shape, mean.shape))
        bias, variance = float(np.mean((mean - Y) ** 2)), float(np.mean(var))
        return GeneralizationError(bias + variance, bias, variance)

    def layer_kernels(self):
        r"""Mean hidden kernels :math:`\langle K_l\rangle = \langle x_l\cdot x_l'\rangle/N_l` on the training set.

        A unit of layer :math:`l` has prior covariance :math:`C_l = \frac{\sigma_l^2}{M_l}\sum_k D_k K_{l-1}D_k`
        (:math:`D_k = \mathrm{diag}\,g^l_k`) and is tilted through :math:`B_l = [t\circ g_\alpha]_{\alpha\in I_l}`;
        differentiating :math:`\log Z` with respect to a source :math:`-\frac12\mathrm{tr}(JK_l)` gives
        :math:`\langle K_l\rangle = \langle C_l\rangle - \frac1{N_l}\langle\Psi_lV_l\Psi_l^\top\rangle`,
        :math:`\Psi_l = C_lB_l`, and at the saddle point (:math:`Q_l/N_l = V_l^{-1} - A_l^{-1}`)
        :math:`K_lB_l = \Psi_l V_lA_l^{-1}`, so :math:`\Psi_l` is linear in :math:`t` layer by layer:
        :math:`\Psi_l[:,\alpha] = \frac{\sigma_l^2}{M_l}\sum_k D_k(\Psi_{l-1}V_{l-1}A_{l-1}^{-1})[:,(\alpha,k)]`,
        :math:`\Psi_1[:,\alpha] = C_1D_\alpha t`; the average over :math:`t` uses
        :math:`\langle tt^\top\rangle = R - Ryy^\top R`.  For one gate and :math:`g\equiv1` this is the deep-linear
        result.  Single-output networks; memory :math:`d_lP^2` per layer.
        """
        th = self.solver.theory
        if th.outputs != 1:
            raise ParameterError("layer kernels are implemented for single-output networks")
        data = self.data
        P = data.K0.shape[0]
        dims = [V.shape[0] for V in self.order_parameters]
        if max(dims) * P * P > 4e8:
            raise ParameterError("layer kernels need d_l P^2 = %d doubles; use fewer training points" % (max(dims) * P * P))
        R = np.linalg.inv(self._C)
        S = R - np.outer(self._alpha, self._alpha)                   # <t t^T>
        means = [np.atleast_2d(A) for A in self._fn["means"](*self.order_parameters, *self._scalars)]
        values = dict(zip(th.factors, data.factors))
        ones = np.ones((P, 1))
        out, K_prev, Psi = [], data.K0, None
        for l, layer in enumerate(th.network.layers):
            gs = getattr(layer, "gates", None)
            g = values[gs] if gs is not None else ones
            c = self.sigma2[l] / g.shape[1]
            if l == 0:                       # index factors above layer 1: all but layer 1's own gates
                above = data.factors[:-1] if gs is not None else data.factors
                F = face_split(*above) if above else ones
                Psi = (c * (g @ g.T) * data.K0)[None, :, :] * F.T[:, None, :]
            else:
                W = self.order_parameters[l - 1] @ np.linalg.inv(means[l - 1])
                Pw = np.einsum("bpq,ba->apq", Psi, W)                      # (Psi_{l-1} W)[:, beta']
                M = g.shape[1]
                Pw = Pw.reshape(dims[l], M, P, P)
                Psi = c * np.einsum("pk,akpq->apq", g, Pw)
            V = self.order_parameters[l]
            E = np.einsum("ab,apq,qr,bsr->ps", V, Psi, S, Psi)
            K = c * (g @ g.T) * K_prev - E / self.widths[l]
            out.append(0.5 * (K + K.T))
            K_prev = K
        return out

    def generalization_error_by_group(self, X_test, y_test, groups, gates_test=None):
        """``{group: GeneralizationError}`` over the test rows of each group (e.g. each task)."""
        Y = np.asarray(y_test, dtype=float)
        groups = np.asarray(groups)
        mean, var = self.predict(X_test, gates_test)
        if Y.shape != mean.shape or groups.shape != (mean.shape[0],):
            raise ParameterError("y_test %s and groups %s must match the predictions %s (one group per row)"
                                 % (Y.shape, groups.shape, mean.shape))
        out = {}
        for g in np.unique(groups):
            rows = groups == g
            bias, variance = float(np.mean((mean[rows] - Y[rows]) ** 2)), float(np.mean(var[rows]))
            out[g.item()] = GeneralizationError(bias + variance, bias, variance)
        return out

    def rows(self):
        """One row per distinct stationary point (``branch`` 0, ``selected``: this solution; then the others of
        :attr:`roots` by action): the parameters, tr V_l / d_l, kernel scale (the selected point's), action,
        iterations, residual, converged."""
        names, ops = _names(len(self.widths))
        params = dict(zip(names, map(float, [self.T, *self.widths, *self.sigma2])))
        trace = lambda Vs: {n: float(np.trace(V) / V.shape[0]) for n, V in zip(ops, Vs)}
        out = [{**params, "branch": 0, "selected": True, **trace(self.order_parameters),
                "kernel_scale": self.kernel_scale, "action": float(self.action), "iterations": int(self.iterations),
                "residual": float(self.residual), "converged": bool(self.converged)}]
        for r in self.roots:
            if r.order_parameters is not self.order_parameters and r.action != self.action:
                out.append({**params, "branch": len(out), "selected": False, **trace(r.order_parameters),
                            "kernel_scale": np.nan, "action": r.action, "iterations": r.iterations,
                            "residual": r.residual, "converged": r.converged})
        return out

    def as_dict(self, X_test=None, y_test=None, gates_test=None):
        """JSON-ready summary: the deep-linear keys (``order_parameters`` = tr V_l / d_l) plus the matrices."""
        out = {"order_parameters": [float(np.trace(V) / V.shape[0]) for V in self.order_parameters],
               "order_parameter_matrices": [V.tolist() for V in self.order_parameters],
               "kernel_scale": self.kernel_scale, "converged": self.converged,
               "iterations": int(self.iterations), "evaluations": int(self.evaluations),
               "action": _finite_or_none(self.action), "residual": self.residual,
               "T": self.T, "widths": [float(w) for w in self.widths], "sigma2": [float(s) for s in self.sigma2],
               "stationary_points": [{"action": _finite_or_none(r.action), "order_parameters":
                                      [float(np.trace(V) / V.shape[0]) for V in r.order_parameters]}
                                     for r in self.roots]}
        if X_test is not None:
            eg = self.generalization_error(X_test, y_test, gates_test)
            out.update(generalization_error=eg.total, bias=eg.bias, variance=eg.variance)
        return out


class GatedSweep(SolutionSweep):
    """Saddle points along a sweep (:meth:`GatedSolver.sweep`): ``sweep[i]`` at point i (a :class:`GatedSolution`);
    ``order_parameters`` lists V_1..V_L per point."""

    rule = RULE

    def __init__(self, solutions):
        super().__init__(solutions)
        self.parameter_names, self.quantities = _names(len(self.solutions[0].widths)) if self.solutions else ((), ())

    @property
    def iterations(self):
        return np.array([s.iterations for s in self.solutions])

    def generalization_error(self, X_test, y_test, gates_test=None):
        """Generalization error, bias and variance at every point (arrays)."""
        vals = np.array([tuple(s.generalization_error(X_test, y_test, gates_test)) for s in self.solutions])
        return GeneralizationError(*(vals[:, j] for j in range(3)))
