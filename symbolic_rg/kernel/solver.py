r"""Compiled saddle-point solvers (Numba float64, mpmath at any precision) and their results.

``Solver.solve`` finds the saddle point :math:`\partial H/\partial u_l = 0` by damped Newton in
:math:`\log u_l` (order parameters stay positive) from several starts; among converged roots the one of
lowest effective action :math:`H` is the physical branch.  Convergence: :math:`\max_l|R_l| <` ``tol``
(default 1e-11) for the normalised residuals :math:`R_l = \frac{2u_l}{N_l}\partial_{u_l}H`; on the mpmath path
(``precision`` digits) the tolerance is :math:`10^{3-\mathrm{precision}}` instead.

Data enter through the eigendecomposition of :math:`XX^\top/N_0` (done once per data set):
:math:`\lambda_k = \sigma_1^2 c_k`, :math:`y_k = v_k^\top y`.  At :math:`T=0` only modes in the range of
the kernel are kept; a label component outside it means no interpolating weights exist.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import sympy as sp

from .. import checks, parallel
from ..errors import ConvergenceError, NoSolutionError, ParameterError
from ..pdlt.recursions import NNGPInputKernel
from ..protocol import GeneralizationError, Iteration, SolutionTable, SweepTable
from ..symbols import eigenvalue, label, mode, test_projection, test_variance
from . import codegen

__all__ = ["Solver", "Solution", "Sweep", "SpectralData", "spectral_data", "parameter_grid", "grid_names",
           "grid_columns", "GeneralizationError", "RULE"]

RANGE_RTOL = 1e-10     # eigenvalues below RANGE_RTOL * max eigenvalue span the kernel's null space
NULL_LABEL_RTOL = 1e-8  # |y_perp| / |y| above this: no interpolating weights at T = 0
START_OFFSETS = np.log([1.0, 0.1, 10.0, 0.01, 100.0, 1e-4, 1e4])   # starts: prior means times these
RULE = "lowest effective action H among the converged roots"


class LinearInputKernel:
    r"""The input Gram matrix :math:`C(x, x') = x\cdot x'/N_0` of a deep linear network (:math:`K_0 = \sigma_1^2C`);
    the same for every :math:`\sigma_1` (``sigma2_1`` is accepted as by
    :class:`~symbolic_rg.pdlt.recursions.NNGPInputKernel`)."""

    depends_on_sigma = False

    def gram(self, X, sigma2_1=1.0):
        return X @ X.T / X.shape[1]

    def cross(self, X_test, X, sigma2_1=1.0):
        """``(C(X_test, X), diag C(X_test, X_test))``."""
        return X_test @ X.T / X.shape[1], np.sum(X_test**2, axis=1) / X.shape[1]

    def layer_grams(self, X, depth, sigma2_1=1.0):
        """The Gram matrix of each hidden layer's input-side GP kernel (the same for linear layers)."""
        return [self.gram(X)] * depth


class SpectralData:
    """Data invariants of a training set: eigen-decomposition of the input Gram matrix C (X X^T / N_0 for
    linear layers; at the first layer's prior variance ``sigma2_1`` where the input kernel depends on it) and label
    projections."""

    def __init__(self, X, y, input_kernel=None, sigma2_1=1.0):
        X = checks.array("X", X, 2)
        y = checks.array("y", y, 1)
        if X.shape[0] != y.shape[0]:
            raise ParameterError("X has %d rows but y has %d entries; they must match" % (X.shape[0], y.shape[0]))
        self.X, self.y = X, y
        self.P, self.N0 = X.shape
        self.input_kernel = input_kernel or LinearInputKernel()
        self.sigma2_1 = float(sigma2_1) if self.input_kernel.depends_on_sigma else None
        c, V = np.linalg.eigh(self.input_kernel.gram(X, sigma2_1))
        self.c, self.V = np.clip(c, 0.0, None), V
        self.yhat = V.T @ y
        self.range = self.c > RANGE_RTOL * max(self.c.max(), np.finfo(float).tiny)
        self.rank = int(self.range.sum())

    def modes(self, T):
        """(c, y) arrays of the modes that enter at temperature T (the kernel's range at T = 0)."""
        if T > 0:
            return self.c, self.yhat
        outside = np.linalg.norm(self.yhat[~self.range])
        if outside > NULL_LABEL_RTOL * max(np.linalg.norm(self.y), np.finfo(float).tiny):
            raise NoSolutionError(
                "T = 0 with P = %d > rank(K_0) = %d: the labels have a component outside the range of the "
                "input kernel (|y_perp|/|y| = %.3g), so no interpolating weights exist; use T > 0"
                % (self.P, self.rank, outside / np.linalg.norm(self.y)))
        return self.c[self.range], self.yhat[self.range]


def input_kernel_of(network):
    """The input Gram matrix of a network: linear, or the GP map of its :class:`~symbolic_rg.layers.Nonlinear`
    layers."""
    acts = {getattr(layer, "activation", None) for layer in network.layers}
    if acts == {None}:
        return LinearInputKernel()
    if len(acts) != 1 or None in acts:
        raise ParameterError("mixing linear and nonlinear hidden layers is not supported by the heuristic solver")
    return NNGPInputKernel(acts.pop(), network.depth)


def spectral_data(cached, X, y, input_kernel=None, sigma2_1=1.0):
    """``cached`` if it holds these very arrays (and, where the input kernel depends on it, the same ``sigma2_1``; a
    solver keeps the last eigendecomposition), else a new :class:`SpectralData`."""
    if (cached is not None and cached.X is X and cached.y is y
            and (cached.sigma2_1 is None or cached.sigma2_1 == float(sigma2_1))):
        return cached
    return SpectralData(X, y, input_kernel, sigma2_1)


def parameter_grid(depth, widths=None, width=None, sigma2=1.0, T=None):
    """Broadcast the runtime parameters to rows ``[T, 1/N_1.., sigma_1^2.., sigma_a^2]`` and a shape."""
    if (widths is None) == (width is None):
        raise ParameterError("give exactly one of widths=[N_1, ..., N_L] (per layer) or width=N (all layers)")
    if widths is not None and not isinstance(widths, (list, tuple)) and np.ndim(widths) == 0:
        raise ParameterError("widths must list one width per hidden layer, got %r; use width=N for equal widths"
                             % (widths,))
    per_layer = [width] * depth if widths is None else list(widths)    # an entry may be an array (a grid)
    cols = [np.asarray(checks.temperature(T), dtype=float)]
    cols += [1.0 / w for w in checks.widths(depth, per_layer, infinite=True)]
    cols += checks.prior_variances(depth, sigma2)
    shape = np.broadcast_shapes(*[c.shape for c in cols])
    grid = np.stack([np.broadcast_to(c, shape).ravel() for c in cols], axis=1)
    return np.ascontiguousarray(grid), shape


def grid_names(depth):
    """The columns of a grid row ``[T, 1/N_1.., sigma_1^2.., sigma_a^2]`` in a result table."""
    return ["T"] + ["N_%d" % l for l in range(1, depth + 1)] + ["sigma2_%d" % l for l in range(1, depth + 1)] + \
        ["sigma2_a"]


def grid_columns(depth, row):
    """``{name: value}`` of a grid row (widths, not their inverses; inf at infinite width)."""
    values = [row[0]] + [1 / v if v > 0 else np.inf for v in row[1:depth + 1]] + list(row[depth + 1:])
    return dict(zip(grid_names(depth), map(float, values)))


def _describe(depth, row):
    widths = ", ".join("%g" % (1 / v) if v > 0 else "inf" for v in row[1:depth + 1])
    s2 = ", ".join("%g" % s for s in row[depth + 1:])
    return "widths=[%s], sigma2=[%s], T=%g" % (widths, s2, row[0])


def spectral_lambdify(args, exprs):
    """NumPy function of nested lists of expressions containing sums over the modes.

    Each distinct :class:`~sympy.Sum` becomes its summand, evaluated with broadcasting (mode arrays on the
    last axis) and summed over that axis; the outer expression is then evaluated on the results.
    """
    flat = []

    def walk(e):
        if isinstance(e, (list, tuple)):
            return [walk(x) for x in e]
        flat.append(e)
        return len(flat) - 1
    index = walk(exprs)
    sums = sorted(set().union(*[e.atoms(sp.Sum) for e in flat]), key=sp.default_sort_key)
    accs = sp.symbols("S_0:%d" % len(sums)) if sums else ()
    table = dict(zip(sums, accs))
    summands = sp.lambdify(args, [s.function for s in sums], "numpy")
    outer = sp.lambdify(list(args) + list(accs), [e.xreplace(table) for e in flat], "numpy")

    def rebuild(ix, values):
        return [rebuild(i, values) for i in ix] if isinstance(ix, list) else values[ix]

    def evaluate(*values, like):
        """``like``: an array of the full (..., modes) shape; arguments with a trailing axis of length 1
        (per-point values broadcast against the modes) lose that axis outside the sums."""
        S = [np.sum(np.broadcast_to(v, np.broadcast_shapes(np.shape(v), like.shape)), axis=-1)
             for v in summands(*values)] if sums else []
        plain = [v[..., 0] if np.ndim(v) and np.shape(v)[-1] == 1 else v for v in values]
        return rebuild(index, outer(*plain, *S))
    return evaluate


class OneLoop(NamedTuple):
    """Saddle point plus the first (1/N) correction from Gaussian fluctuations of log u."""
    mean: np.ndarray
    variance: np.ndarray
    order_parameters: np.ndarray
    kernel_scale: float


def _laplace_moments(Sigma, shift, g, gi, gij):
    """<g> = g + g_i dz_i + g_ij Sigma_ij / 2 and Var g = g_i Sigma_ij g_j (arrays: g (...), gi (L, ...))."""
    mean = g + np.einsum("i...,i->...", gi, shift) + 0.5 * np.einsum("ij...,ij->...", gij, Sigma)
    return mean, np.einsum("i...,ij,j...->...", gi, Sigma, gi)


class Solver:
    """A compiled saddle-point solver of a :class:`~symbolic_rg.kernel.Theory`.

    ``precision=None``: Numba, float64.  ``precision=digits``: mpmath at that many decimal digits.
    """

    def __init__(self, theory, precision=None):
        self.theory = theory
        self.depth = theory.depth
        self.precision = precision
        if precision is None:
            self.module = codegen.load(theory, "numba")
        else:
            checks.precision(precision)
            self.module = codegen.load(theory, "mpmath")
        self._data = None
        self.input_kernel = input_kernel_of(theory.network)
        us = list(theory.order_parameters)
        args = us + [theory.temperature, eigenvalue[mode], label[mode], test_projection[mode], test_variance]
        self._predictor = spectral_lambdify(args, list(theory.predictor))
        mean_t, var_t = theory.mode_moments
        self._mode_moments = sp.lambdify(us + [theory.temperature, eigenvalue[mode], label[mode]],
                                         [mean_t, var_t], "numpy")
        ol = theory.one_loop
        params = us + [theory.temperature, eigenvalue[mode], label[mode]] + list(theory.widths) + list(theory.sigmas)
        self._action_derivatives = spectral_lambdify(params, [ol["hessian"], ol["third"]])
        self._observable_derivatives = spectral_lambdify(args + list(theory.widths) + list(theory.sigmas),
                                                         [list(ol["mean"][1:]), list(ol["variance"][1:])])
        nus = [sp.Symbol("nu_%d" % l, nonnegative=True) for l in range(1, self.depth + 1)]
        inverse = {N: 1 / nu for N, nu in zip(theory.widths, nus)}     # 1/N_l = 0 is infinite width
        self._kernel_coefficients = sp.lambdify(
            us + nus + list(theory.sigmas),
            [[sp.expand(c.subs(inverse)) for c in ab] for ab in theory.layer_kernels], "numpy")

    def _priors(self, grid):
        return np.log(grid[:, self.depth + 2:])

    def _starts_offsets(self, grid, starts):
        """Starting points, as offsets of log u from the prior means (all layers shifted together)."""
        if starts is not None:
            return np.atleast_1d(np.asarray(starts, dtype=float))
        if np.any(grid[:, 1:self.depth + 1] == 0):
            return np.array([0.0])           # an infinite-width layer: its equation fixes u = sigma^2
        return START_OFFSETS

    def solve(self, X, y, widths=None, *, width=None, sigma2=1.0, T=None, tol=1e-11, maxiter=200,
              starts=None, raise_on_failure=True):
        """Solve the saddle-point equations at one parameter point; return a :class:`Solution`.

        ``tol`` bounds max |R_l| on the float64 path; with ``precision`` set the bound is 10^(3 - precision)."""
        grid, shape = parameter_grid(self.depth, widths, width, sigma2, T)
        if grid.shape[0] != 1:
            raise ParameterError("solve() takes one parameter point; use sweep() for arrays")
        self._data = data = spectral_data(self._data, X, y, self.input_kernel, grid[0, self.depth + 1])
        c, yk = data.modes(grid[0, 0])
        offsets = self._starts_offsets(grid, starts)
        if self.precision is None:
            x0 = self._priors(grid)[0][None, :] + offsets[:, None] * np.ones((1, self.depth))
            found = Iteration(*self.module.solve_point(x0, grid[0], c, yk, tol, maxiter, 2.0))
            sol = Solution(self, data, grid[0], np.exp(found.root), int(found.iterations), bool(found.converged),
                           float(found.value), float(found.residual))
        else:
            sol = self._solve_mpmath(data, grid[0], c, yk, offsets, maxiter)
        if raise_on_failure and not sol.converged:
            raise ConvergenceError("saddle point did not converge at %s (max residual %.3g after %d iterations)"
                                   % (_describe(self.depth, grid[0]), sol.residual, sol.iterations))
        return sol

    def _solve_mpmath(self, data, row, c, yk, offsets, maxiter):
        import mpmath
        L = self.depth
        with mpmath.workdps(self.precision + 10):
            mp_tol = mpmath.mpf(10) ** (-(self.precision - 3))
            cs = [mpmath.mpf(float(v)) for v in c]
            ys = [mpmath.mpf(float(v)) for v in yk]
            p = [mpmath.mpf(float(v)) for v in row]
            for l in range(1, L + 1):                 # 1/N_l exactly (widths are integers)
                p[l] = mpmath.mpf(1) / round(1 / float(row[l])) if row[l] > 0 else mpmath.mpf(0)
            best = None
            for off in offsets:
                x = mpmath.matrix([mpmath.log(p[L + 2 + l]) + off for l in range(L)])
                found = self._newton_mp(x, p, cs, ys, mp_tol, maxiter)
                if (best is None or (found.converged and (not best.converged or found.value < best.value))
                        or (not best.converged and found.residual < best.residual)):
                    best = found
            u = [mpmath.exp(best.root[l]) for l in range(L)]
        sol = Solution(self, data, row, np.array([float(v) for v in u]), best.iterations, bool(best.converged),
                       float(best.value), float(best.residual))
        sol.order_parameters_mp, sol.residual_mp = u, best.residual
        return sol

    def _newton_mp(self, x, p, cs, ys, tol, maxiter):
        """Damped Newton in x = log u in mpmath, as ``codegen.newton`` without its float64 polishing step:
        backtracking on |R|^2 down to step 1e-12; a start whose line search finds no decrease stops there,
        unconverged.  Returns an :class:`~symbolic_rg.protocol.Iteration` (root x as an mpmath matrix, value H,
        residual max|R| as mpf)."""
        import mpmath
        L = self.depth
        R, J = mpmath.matrix(L, 1), mpmath.matrix(L, L)
        self.module.evaluate(x, p, cs, ys, R, J)
        for it in range(maxiter):
            res = max(abs(R[l]) for l in range(L))
            if res < tol:
                return Iteration(x, self.module.action(x, p, cs, ys), res, it, True)
            dx = mpmath.lu_solve(J, -R)
            big = max(abs(dx[l]) for l in range(L))
            if big > 2:
                dx *= 2 / big
            step, merit = 1, sum(R[l] ** 2 for l in range(L))
            while step > 1e-12:
                xt = x + step * dx
                Rt, Jt = mpmath.matrix(L, 1), mpmath.matrix(L, L)
                self.module.evaluate(xt, p, cs, ys, Rt, Jt)
                if sum(Rt[l] ** 2 for l in range(L)) <= (1 - 1e-4 * step) * merit:
                    break
                step /= 2
            else:
                return Iteration(x, self.module.action(x, p, cs, ys), res, it, False)
            x, R, J = xt, Rt, Jt
        res = max(abs(R[l]) for l in range(L))
        return Iteration(x, self.module.action(x, p, cs, ys), res, maxiter, res < tol)

    def sweep(self, X, y, widths=None, *, width=None, sigma2=1.0, T=None, tol=1e-11, maxiter=200,
              raise_on_failure=True, chunks=None, executor=None, progress=None):
        """Solve over a grid: any of ``widths`` entries, ``width``, ``sigma2`` entries and ``T`` may be arrays.

        The points (those at T = 0 and those at T > 0 separately) are cut into ``chunks`` contiguous chunks
        (default: one per Numba thread and at most one per 8 points; with an ``executor``,
        :func:`~symbolic_rg.parallel.default_chunks`).  Within a chunk each point is warm-started from the previous
        converged one and checked against the prior start (lowest H wins), falling back to the wider set of starts
        of :meth:`solve` where neither converges.  Chunks run in parallel: in Numba threads, or one task each on
        ``executor`` (a :class:`concurrent.futures.Executor` or a dask ``Client``), with the same numbers for the
        same chunks.  ``progress``: a bar (:func:`~symbolic_rg.parallel.bar`).  A failed task keeps the finished
        chunks (the error's ``partial``).
        """
        if self.precision is not None:
            raise ParameterError("sweep() runs on the Numba solver; compile() without precision")
        grid, shape = parameter_grid(self.depth, widths, width, sigma2, T)
        first = np.unique(grid[:, self.depth + 1])
        if self.input_kernel.depends_on_sigma and first.size > 1:
            raise ParameterError("sigma2 of the first layer must be one value in a sweep with activation %r (its input "
                                 "kernel Phi(sigma_1^2 X X^T/N_0) is not sigma_1^2 times one matrix), got %d values; "
                                 "solve() each, or sweep the others" % (self.input_kernel.spec, first.size))
        self._data = data = spectral_data(self._data, X, y, self.input_kernel, first[0])
        tasks, where = [], []
        for zero_T in (False, True):
            idx = np.flatnonzero((grid[:, 0] == 0) == zero_T)
            if idx.size == 0:
                continue
            c, yk = data.modes(0.0 if zero_T else 1.0)
            fallback = self._starts_offsets(grid[idx], None)
            if executor is not None:
                pieces = [(idx[lo:hi], 1) for lo, hi in
                          parallel.chunk_bounds(idx.size, chunks or parallel.default_chunks(idx.size, executor))]
            else:
                pieces = [(idx, chunks or max(1, min(numba.get_num_threads(), idx.size // 8 or 1)))]
            for rows, nchunks in pieces:
                sub = np.ascontiguousarray(grid[rows])
                tasks.append((self.theory, sub, self._priors(sub), np.array([0.0]), fallback, c, yk, tol, maxiter,
                              nchunks))
                where.append(rows)
        assemble = lambda done: self._collect(data, grid, None, [where[k] for k in done], list(done.values()))
        results = parallel.run_chunks(_sweep_chunk, tasks, [len(w) for w in where], executor, progress,
                                      "saddle points", assemble)
        sw = self._collect(data, grid, shape, where, results)
        if raise_on_failure and not sw.converged.all():
            i = int(np.flatnonzero(~sw.converged.ravel())[0])
            raise ConvergenceError("saddle point did not converge at %s (point %d of %d; max residual %.3g)"
                                   % (_describe(self.depth, grid[i]), i, len(sw), sw.residual.ravel()[i]))
        return sw

    def _collect(self, data, grid, shape, where, results):
        """The :class:`Sweep` of the grid rows ``where`` (index arrays) from their chunks' ``results``; ``shape``
        None: of those rows alone, in grid order (a partial sweep)."""
        rows = np.concatenate(where) if where else np.zeros(0, int)
        if shape is None:
            grid, shape, rows = grid[np.sort(rows)], (rows.size,), np.argsort(np.argsort(rows))
        n = grid.shape[0]
        u, its, conv, H, res = np.empty((n, self.depth)), np.empty(n, int), np.empty(n, bool), np.empty(n), np.empty(n)
        if where:
            x, h, r, it, ok = (np.concatenate(parts) for parts in zip(*results))
            u[rows], its[rows], conv[rows], H[rows], res[rows] = np.exp(x), it, ok, h, r
        return Sweep(self, data, grid, shape, u, its, conv, H, res)

    def __reduce__(self):
        """Pickles as its theory and precision (:func:`~symbolic_rg.parallel.solver_of`)."""
        return parallel.solver_of, (self.theory, {"precision": self.precision})


def _sweep_chunk(theory, params, priors, offsets, fallback, c, yk, tol, maxiter, nchunks, tick=None):
    """The compiled sweep over the grid rows ``params`` in ``nchunks`` warm-started chunks (here or on a worker):
    arrays (log u, H, max|R|, iterations, converged)."""
    out = codegen.load(theory, "numba").sweep(params, priors, offsets, fallback, c, yk, tol, maxiter, 2.0, nchunks)
    if tick is not None:
        tick(params.shape[0])
    return out


class Solution(SolutionTable):
    """The saddle point at one parameter point, and the observables it implies."""

    rule = RULE

    def __init__(self, solver, data, row, u, iterations, converged, action, residual):
        self.solver, self.data, self.parameters = solver, data, row
        self.order_parameters = u
        self.iterations, self.converged, self.action, self.residual = iterations, converged, action, residual
        L = solver.depth
        self.T = float(row[0])
        self.widths = np.array([1 / v if v > 0 else np.inf for v in row[1:L + 1]])
        self.sigma2 = row[L + 1:]

    @property
    def kernel_scale(self):
        """Renormalised / infinite-width kernel: prod_l u_l / prod_l sigma_{l+1}^2."""
        return float(np.prod(self.order_parameters) / np.prod(self.sigma2[1:]))

    def _modes(self):
        c, yk = self.data.modes(self.T)
        keep = slice(None) if self.T > 0 else self.data.range
        return c * self.sigma2[0], yk, self.data.V[:, keep]

    def predict(self, X_test):
        """Posterior mean and variance of f at the rows of ``X_test`` (arrays of length n_test)."""
        lam, yk, kappa, k00 = self._test_invariants(X_test)
        mean, var = self.solver._predictor(*self.order_parameters, self.T, lam[None, :], yk[None, :], kappa,
                                           k00[:, None], like=kappa)
        return np.broadcast_to(mean, k00.shape).copy(), np.broadcast_to(var, k00.shape).copy()

    def _test_invariants(self, X_test):
        X_test = checks.array("X_test", X_test, 2)
        if X_test.shape[1] != self.data.N0:
            raise ParameterError("X_test has %d features but the training inputs have %d"
                                 % (X_test.shape[1], self.data.N0))
        lam, yk, V = self._modes()
        s1 = self.sigma2[0]
        cross, diag = self.data.input_kernel.cross(X_test, self.data.X, s1)
        return lam, yk, s1 * cross @ V, s1 * diag

    def one_loop(self, X_test):
        r"""Predictor mean and variance, order parameters and kernel scale with the 1/N correction.

        Gaussian fluctuations of :math:`z_l=\log u_l` around the saddle (``Theory.one_loop``):
        :math:`\langle\delta f^2\rangle = \langle\Sigma\rangle + \mathrm{Var}\,\mu`.  Layers of infinite
        width do not fluctuate.
        """
        lam, yk, kappa, k00 = self._test_invariants(X_test)
        L = self.solver.depth
        finite = np.isfinite(self.widths)
        if not finite.any():                      # nothing fluctuates: the saddle point is exact
            return OneLoop(*self.predict(X_test), self.order_parameters.copy(), self.kernel_scale)
        N = np.where(finite, self.widths, 1.0)
        u = self.order_parameters
        sig = np.sqrt(self.sigma2)
        hess, third = self.solver._action_derivatives(*u, self.T, lam, yk, *N, *sig, like=lam)
        (m_i, m_ij), (v_i, v_ij) = self.solver._observable_derivatives(
            *u, self.T, lam[None, :], yk[None, :], kappa, k00[:, None], *N, *sig, like=kappa)
        f = np.flatnonzero(finite)
        A = np.array(hess, dtype=float).reshape(L, L)[np.ix_(f, f)]
        H3 = np.array(third, dtype=float).reshape(L, L, L)[np.ix_(f, f, f)]
        Sigma = np.linalg.inv(A)
        shift = -0.5 * Sigma @ np.einsum("jkl,kl->j", H3, Sigma)
        pick = lambda a: np.array([np.broadcast_to(a[i], k00.shape) for i in f])
        pick2 = lambda a: np.array([[np.broadcast_to(a[i][j], k00.shape) for j in f] for i in f])
        mean0, var0 = self.predict(X_test)
        mean, var_mu = _laplace_moments(Sigma, shift, mean0, pick(m_i), pick2(m_ij))
        var, _ = _laplace_moments(Sigma, shift, var0, pick(v_i), pick2(v_ij))
        uf = u[f]
        order = u.copy()
        order[f] = uf * (1 + shift + 0.5 * np.diag(Sigma))
        scale = self.kernel_scale * (1 + shift.sum() + 0.5 * Sigma.sum())
        return OneLoop(mean, var + var_mu, order, float(scale))

    def generalization_error(self, X_test, y_test, one_loop=False):
        """Test average of (<f> - y)^2 + <df^2>, returned with its parts ``bias`` and ``variance``
        (saddle point, or with the 1/N correction when ``one_loop=True``)."""
        y_test = checks.array("y_test", y_test, 1)
        if y_test.shape[0] != np.shape(X_test)[0]:
            raise ParameterError("X_test has %d rows but y_test has %d entries" % (np.shape(X_test)[0], y_test.shape[0]))
        mean, var = self.one_loop(X_test)[:2] if one_loop else self.predict(X_test)
        bias, variance = float(np.mean((mean - y_test) ** 2)), float(np.mean(var))
        return GeneralizationError(bias + variance, bias, variance)

    def layer_kernels(self):
        r"""Mean hidden kernels :math:`\langle K_l\rangle = \langle x_l\cdot x_l'\rangle/N_l` on the training set."""
        lam, yk, V = self._modes()
        mean_t, var_t = self.solver._mode_moments(*self.order_parameters, self.T, lam, yk)
        mean_t = np.broadcast_to(mean_t, lam.shape)
        var_t = np.broadcast_to(var_t, lam.shape)
        # K_0 <t t^T> K_0 in the eigenbasis: diag(lam^2 var) + (lam <t>)(lam <t>)^T   (<t> is imaginary)
        lm = lam * mean_t
        inner = np.diag(lam**2 * var_t) + np.real(np.outer(lm, lm))
        KMK = V @ inner @ V.T
        L = self.solver.depth
        grams = self.data.input_kernel.layer_grams(self.data.X, L, self.sigma2[0])
        sig = np.sqrt(self.sigma2)
        coeffs = self.solver._kernel_coefficients(*self.order_parameters, *self.parameters[1:L + 1], *sig)
        return [float(a) * self.sigma2[0] * C + float(b) * KMK for (a, b), C in zip(coeffs, grams)]

    def rows(self):
        """One row: the parameters, the order parameters by name, kernel scale, action, iterations, residual,
        converged."""
        names = [str(u) for u in self.solver.theory.order_parameters]
        return [{**grid_columns(self.solver.depth, self.parameters),
                 **dict(zip(names, map(float, self.order_parameters))), "kernel_scale": self.kernel_scale,
                 "action": float(self.action), "iterations": int(self.iterations), "residual": float(self.residual),
                 "converged": bool(self.converged)}]

    def as_dict(self, X_test=None, y_test=None, one_loop=False):
        """JSON-ready summary (with the generalization error when test data are given)."""
        u, scale = self.order_parameters, self.kernel_scale
        if one_loop:
            if X_test is None:
                raise ParameterError("the one-loop summary needs test data")
            ol = self.one_loop(X_test)
            u, scale = ol.order_parameters, ol.kernel_scale
        out = {"order_parameters": [float(v) for v in u],
               "kernel_scale": scale, "converged": self.converged,
               "iterations": int(self.iterations), "action": self.action, "residual": self.residual,
               "T": self.T, "widths": [float(w) if np.isfinite(w) else "inf" for w in self.widths],
               "sigma2": [float(s) for s in self.sigma2]}
        if X_test is not None:
            eg = self.generalization_error(X_test, y_test, one_loop=one_loop)
            out.update(generalization_error=eg.total, bias=eg.bias, variance=eg.variance)
        return out


class Sweep(SweepTable):
    """Saddle points over a parameter grid; arrays have the broadcast shape of the swept parameters."""

    rule = RULE

    def __init__(self, solver, data, grid, shape, u, iterations, converged, action, residual):
        self.solver, self.data, self.grid, self.shape = solver, data, grid, shape
        L = solver.depth
        self.parameter_names = grid_names(L)
        self.quantities = [str(u) for u in solver.theory.order_parameters]
        self.order_parameters = u.reshape(shape + (L,))
        self.iterations = iterations.reshape(shape)
        self.converged = converged.reshape(shape)
        self.action = action.reshape(shape)
        self.residual = residual.reshape(shape)
        self.kernel_scale = (np.prod(u, axis=1) / np.prod(grid[:, L + 2:], axis=1)).reshape(shape)

    def __len__(self):
        return self.grid.shape[0]

    def __getitem__(self, i):
        """The :class:`Solution` at flat index ``i``."""
        u = self.order_parameters.reshape(-1, self.solver.depth)[i]
        return Solution(self.solver, self.data, self.grid[i], u, int(self.iterations.ravel()[i]),
                        bool(self.converged.ravel()[i]), float(self.action.ravel()[i]), float(self.residual.ravel()[i]))

    def generalization_error(self, X_test, y_test):
        """Generalization error, bias and variance at every point (arrays of the sweep's shape)."""
        vals = np.array([tuple(self[i].generalization_error(X_test, y_test)) for i in range(len(self))])
        return GeneralizationError(*(vals[:, j].reshape(self.shape) for j in range(3)))

    def as_dict(self):
        """JSON-ready: the grid's ``shape`` and every point's :meth:`Solution.as_dict` in flat order."""
        return {"shape": list(self.shape), "points": [self[i].as_dict() for i in range(len(self))]}

    def rows(self):
        """One row per point (flat order): its ``point`` index and :meth:`Solution.rows`."""
        return [{"point": i, **self[i].rows()[0]} for i in range(len(self))]
