r"""Exact finite-width theory: the posterior of the order parameters before any saddle point.

Integrating the weights out is exact (see :mod:`symbolic_rg.layers`): with :math:`z_l = \log u_l`,

.. math::  Z = \int\prod_l dz_l\, \rho_l(z_l)\; \prod_k \int\frac{dt_k}{2\pi}
           e^{-\frac12 (T + U\lambda_k) t_k^2 + i t_k y_k},\qquad U = e^{V},\ V = \sum_l z_l,

where :math:`\rho_l` is the derived Gamma measure of :math:`u_l` (shape :math:`N_l/2`) in log coordinates.
The data enter through :math:`U` alone, so the exact posterior reduces to one dimension: the prior
density of :math:`V` is the convolution of the :math:`\rho_l`, computed in log space on a uniform grid
(no underflow in the tails), and every observable is a 1-D average over the posterior of :math:`V` of
the Gaussian-process predictor with kernel :math:`U K_0`:

* :math:`\langle f(x)\rangle = E_V[\mu(x;U)]`,
  :math:`\langle\delta f(x)^2\rangle = E_V[\Sigma(x;U)] + \mathrm{Var}_V[\mu(x;U)]`;
* log evidence :math:`\log Z` (normalised, :math:`\log p(y\,|\,X)`).

:class:`ExactSolver` (float64) and :class:`ExactSolverMP` (mpmath, any precision) follow the package protocol
(:mod:`symbolic_rg.protocol`): ``solve`` at one parameter point, ``sweep`` over a grid; their results carry
``order_parameters`` (the posterior means :math:`E[u_l]`), ``converged`` (always: nothing iterates), ``residual``
(the quadrature error below) and ``as_dict()``.

Quadrature: trapezoid rule with spacing ``h`` = (smallest width of a prior or posterior factor)/``resolution``;
for these smooth, rapidly decaying integrands it converges faster than any power of ``h``.  The stated
``quadrature_error`` is the change of every reported number when ``h`` is doubled.
"""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import sympy as sp

from .. import checks, parallel
from ..errors import ParameterError
from ..protocol import GeneralizationError, SolutionSweep, SolutionTable
from ..symbols import eigenvalue, label, mode, test_projection, test_variance
from .solver import grid_columns, grid_names, parameter_grid, spectral_data

__all__ = ["ExactSolver", "ExactSolution", "ExactSweep", "ExactSolverMP", "ExactSolutionMP", "ExactSweepMP"]

TAIL = 60.0     # grid points whose log weight is more than TAIL below the maximum are dropped (e^-60)


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def _log_convolve(la, lb, h):
    """log of the convolution of two densities given as log values on grids of spacing h."""
    na, nb = len(la), len(lb)
    out = np.full(na + nb - 1, -np.inf)
    for j in range(nb):                      # out[i + j] = logsumexp_i(la[i] + lb[j])
        seg = out[j:j + na]
        np.logaddexp(seg, la + lb[j], out=seg)
    return out + np.log(h)


def _predictor_parts(theory, U):
    """Summand of the mean, prior variance, and summand of the variance reduction at fixed ``U``."""
    mean, var = theory.predictor_given(U)
    flat = lambda e: e.replace(sp.Sum, lambda f, lim: f)
    prior = var.replace(sp.Sum, lambda f, lim: 0)
    return flat(mean), prior, flat(prior - var)


class ExactSolver:
    """Exact finite-width posterior of a derived theory, by 1-D quadrature over log U (float64)."""

    def __init__(self, theory):
        self.theory = theory
        self.depth = theory.depth
        z, U, s2 = sp.Symbol("z", real=True), sp.Symbol("U", positive=True), sp.Symbol("s2", positive=True)
        self._log_rho = []
        for op in theory.measures:                       # density of z = log u: p(e^z) e^z
            expr = (op.log_density.subs(op.symbol, sp.exp(z)) + z).subs(op.prior_variance, s2)
            self._log_rho.append(sp.lambdify([z, op.width, s2], expr,
                                              [{"loggamma": math.lgamma}, "numpy"]))
        data_term = theory.mode_action(U)
        self._mode = sp.lambdify([U, theory.temperature, eigenvalue[mode], label[mode]], data_term, "numpy")
        mean, prior, reduction = _predictor_parts(theory, U)
        args = [U, theory.temperature, eigenvalue[mode], label[mode], test_projection[mode], test_variance]
        self._mean_coef = sp.lambdify(args, sp.diff(mean, test_projection[mode]), "numpy")   # linear in kappa
        self._var_coef = sp.lambdify(args, sp.diff(reduction, test_projection[mode], 2) / 2, "numpy")
        self._var_prior = sp.lambdify(args, sp.diff(prior, test_variance), "numpy")
        self._data = None

    def _layer_grid(self, l, N, s2, h):
        """Grid (start, log density values) of z_l = log u_l covering all but e^-TAIL of its mass."""
        f = lambda zz: self._log_rho[l](zz, N, s2)
        mode_z = math.log(s2 * max(N - 2, 1e-3) / N) if N > 2 else math.log(s2) - 2.0
        lo, hi = mode_z - 1.0, mode_z + 1.0
        peak = f(mode_z)
        while f(lo) > peak - TAIL:
            lo -= 1.0
        while f(hi) > peak - TAIL:
            hi += 0.25
        grid = np.arange(lo, hi + h, h)
        return grid[0], f(grid)

    def _posterior(self, row, c, yk, h):
        """Posterior of V = log U on a grid: (V, weights, log evidence, E[u_l | V] for each layer)."""
        L = self.depth
        T, nus, s2 = row[0], row[1:L + 1], row[L + 1:]
        lam = c * s2[0]
        start, layers = 0.0, []
        for l in range(L):
            if nus[l] == 0:                         # infinite width: u_l = sigma_{l+1}^2 exactly
                start += math.log(s2[l + 1])
            else:
                z0, lr = self._layer_grid(l, 1.0 / nus[l], s2[l + 1], h)
                start += z0
                layers.append((l, z0 + h * np.arange(len(lr)), lr))

        def convolve_all(logs):
            out = logs[0]
            for lr in logs[1:]:
                out = _log_convolve(out, lr, h)
            return out
        logv = convolve_all([lr for _, _, lr in layers]) if layers else np.zeros(1)
        V = start + h * np.arange(len(logv))
        U = np.exp(V)
        data = np.sum(self._mode(U[:, None], T, lam[None, :], yk[None, :]), axis=1)
        logw = logv - data
        keep = logw > np.max(logw) - TAIL
        log_evidence = _logsumexp(logw[keep], 0) + math.log(h) if len(V) > 1 else -data[0]
        w = np.exp(logw[keep] - np.max(logw[keep]))
        u_given_V = np.empty((L, int(keep.sum())))
        for l in range(L):
            u_given_V[l] = s2[l + 1]
        for i, (l, z, lr) in enumerate(layers):   # E[u_l | V]: convolve with layer l's density times e^z
            tilted = convolve_all([lr + z if j == i else other for j, (_, _, other) in enumerate(layers)])
            u_given_V[l] = np.exp(tilted - logv)[keep]
        return V[keep], w / w.sum(), log_evidence, u_given_V

    def solve(self, X, y, widths=None, *, width=None, sigma2=1.0, T=None, resolution=16):
        """The exact posterior at one parameter point; returns an :class:`ExactSolution`.

        ``resolution``: grid points per standard deviation of the narrowest prior or posterior factor."""
        grid, _ = parameter_grid(self.depth, widths, width, sigma2, T)
        if grid.shape[0] != 1:
            raise ParameterError("solve() takes one parameter point; use sweep() for arrays")
        resolution = checks.integer("resolution", resolution, low=4)
        self._data = data = spectral_data(self._data, X, y)
        return self._solve_row(data, grid[0], resolution)

    def sweep(self, X, y, widths=None, *, width=None, sigma2=1.0, T=None, resolution=16, chunks=None,
              executor=None, progress=None):
        """The exact posterior over a grid (any of ``widths`` entries, ``width``, ``sigma2`` entries and ``T`` may
        be arrays, as in :meth:`Solver.sweep <symbolic_rg.kernel.Solver.sweep>`); returns an :class:`ExactSweep`.
        The points are independent: with an ``executor`` they are solved in ``chunks`` tasks (default
        :func:`~symbolic_rg.parallel.default_chunks`), with the same numbers; ``progress``: a bar."""
        grid, shape = parameter_grid(self.depth, widths, width, sigma2, T)
        resolution = checks.integer("resolution", resolution, low=4)
        self._data = data = spectral_data(self._data, X, y)
        solutions = lambda rows, parts: [ExactSolution(self, data, grid[i], *p) for i, p in zip(rows, parts)]
        assemble = lambda rows, parts: ExactSweep(grid[rows], (len(rows),), solutions(rows, parts))
        parts = parallel.each(self._posteriors, [(data, row, resolution) for row in grid], chunks, executor, progress,
                              "exact posteriors", assemble)
        return ExactSweep(grid, shape, solutions(range(len(grid)), parts))

    def _solve_row(self, data, row, resolution):
        """The :class:`ExactSolution` at one row ``[T, 1/N_1.., sigma_1^2.., sigma_a^2]`` of a parameter grid."""
        return ExactSolution(self, data, row, *self._posteriors(data, row, resolution))

    def _posteriors(self, data, row, resolution):
        """The posterior of V on the grid of the quadrature and on twice its spacing, and the spacing, at one row
        of a parameter grid."""
        c, yk = data.modes(row[0])
        # width of the narrowest factor: each prior (~sqrt(2/N)) and the posterior (from a coarse pass)
        nus = row[1:self.depth + 1]
        finite = nus[nus > 0]
        if finite.size == 0:
            sd = 1.0
        else:
            sd = min(math.sqrt(2 * finite.min()), 1.0)          # the narrowest prior factor, ~sqrt(2/N)
            V, w, _, _ = self._posterior(row, c, yk, sd / 4)
            mean_v = np.sum(w * V)
            sd = min(sd, max(math.sqrt(np.sum(w * (V - mean_v) ** 2)), 1e-6))
        h = sd / resolution
        return self._posterior(row, c, yk, h), self._posterior(row, c, yk, 2 * h), h

    def __reduce__(self):
        """Pickles as its theory (:func:`~symbolic_rg.parallel.solver_of`)."""
        return parallel.solver_of, (self.theory, {"method": "exact"})


class ExactSolution(SolutionTable):
    """Observables of the exact finite-width posterior: ``order_parameters`` = [E[u_1], ..., E[u_L]],
    ``kernel_scale`` = E[U] / prod_l sigma_{l+1}^2, ``log_evidence`` = log p(y | X).

    Nothing iterates (``converged`` is True, ``iterations`` 0); ``residual`` is the ``quadrature_error``: the
    largest change of these numbers when the grid spacing is doubled (the predictor's: :meth:`prediction_error`).
    """

    def __init__(self, solver, data, row, fine, coarse, h):
        self.solver, self.data, self.parameters, self.grid_spacing = solver, data, row, h
        self._fine, self._coarse = fine, coarse
        L = solver.depth
        self.T = float(row[0])
        self.widths = np.array([1 / v if v > 0 else np.inf for v in row[1:L + 1]])
        self.sigma2 = row[L + 1:]
        self.log_evidence = float(fine[2])
        self.converged = True
        self.iterations = 0
        V, w, _, u_given_V = fine
        self.order_parameters = u_given_V @ w                                          # E[u_l]
        self.kernel_scale = float(np.sum(w * np.exp(V)) / np.prod(self.sigma2[1:]))    # E[U] / prod sigma^2
        self.quadrature_error = float(max(abs(fine[2] - coarse[2]),
                                          abs(self.kernel_scale - np.sum(coarse[1] * np.exp(coarse[0])) / np.prod(self.sigma2[1:])),
                                          np.max(np.abs(self.order_parameters - coarse[3] @ coarse[1]))))
        self.residual = self.quadrature_error

    def _predict(self, post, X_test):
        V, w = post[0], post[1]
        U = np.exp(V)[:, None]
        c, yk = self.data.modes(self.T)
        lam = c * self.sigma2[0]
        Vm = self.data.V if self.T > 0 else self.data.V[:, self.data.range]
        kappa = (self.sigma2[0] * X_test @ self.data.X.T / self.data.N0) @ Vm
        k00 = self.sigma2[0] * np.sum(X_test**2, axis=1) / self.data.N0
        a = self.solver._mean_coef(U, self.T, lam[None, :], yk[None, :], 0, 0)     # (nV, P)
        b = self.solver._var_coef(U, self.T, lam[None, :], yk[None, :], 0, 0)
        mu = kappa @ np.broadcast_to(a, (len(V), len(lam))).T                       # (ntest, nV)
        sig = (np.broadcast_to(self.solver._var_prior(U[:, 0], self.T, 0, 0, 0, 0), V.shape)[None, :] * k00[:, None]
               - (kappa**2) @ np.broadcast_to(b, (len(V), len(lam))).T)
        mean = mu @ w
        return mean, sig @ w + (mu**2) @ w - mean**2

    def predict(self, X_test):
        """Exact posterior mean and variance of f at the rows of ``X_test``."""
        X_test = checks.array("X_test", X_test, 2)
        if X_test.shape[1] != self.data.N0:
            raise ParameterError("X_test has %d features but the training inputs have %d" % (X_test.shape[1], self.data.N0))
        return self._predict(self._fine, X_test)

    def generalization_error(self, X_test, y_test):
        y_test = checks.array("y_test", y_test, 1)
        mean, var = self.predict(X_test)
        bias, variance = float(np.mean((mean - y_test) ** 2)), float(np.mean(var))
        return GeneralizationError(bias + variance, bias, variance)

    def prediction_error(self, X_test):
        """Quadrature error estimate of (mean, variance): their change when the grid spacing is doubled."""
        X_test = checks.array("X_test", X_test, 2)
        m1, v1 = self._predict(self._fine, X_test)
        m2, v2 = self._predict(self._coarse, X_test)
        return float(np.max(np.abs(m1 - m2))), float(np.max(np.abs(v1 - v2)))

    def rows(self):
        """One row: the parameters, the posterior means of the order parameters by name, kernel scale, log evidence,
        residual (the quadrature error), converged."""
        names = [str(u) for u in self.solver.theory.order_parameters]
        return [{**grid_columns(self.solver.depth, self.parameters),
                 **dict(zip(names, map(float, self.order_parameters))), "kernel_scale": self.kernel_scale,
                 "log_evidence": self.log_evidence, "residual": self.residual, "converged": True}]

    def as_dict(self, X_test=None, y_test=None):
        """JSON-ready summary (with the generalization error and its quadrature error when test data are given)."""
        V, w = self._fine[0], self._fine[1]
        out = {"order_parameters": [float(u) for u in self.order_parameters], "kernel_scale": self.kernel_scale, "log_evidence": self.log_evidence,
               "log_U_mean": float(np.sum(w * V)), "log_U_std": float(np.sqrt(np.sum(w * (V - np.sum(w * V)) ** 2))),
               "converged": True, "iterations": 0, "residual": self.residual, "quadrature_error": self.quadrature_error,
               "grid_points": int(len(V)), "T": self.T,
               "widths": [float(x) if np.isfinite(x) else "inf" for x in self.widths],
               "sigma2": [float(s) for s in self.sigma2]}
        if X_test is not None:
            eg = self.generalization_error(X_test, y_test)
            out.update(generalization_error=eg.total, bias=eg.bias, variance=eg.variance,
                       prediction_quadrature_error=max(self.prediction_error(X_test)))
        return out


class ExactSweep(SolutionSweep):
    """Exact posteriors over a parameter grid (:meth:`ExactSolver.sweep`): ``order_parameters`` (shape + (L,)),
    ``kernel_scale``, ``log_evidence``, ``converged`` and ``residual`` (the quadrature error) as arrays, and the
    :class:`ExactSolution` of each point, as :class:`~symbolic_rg.kernel.Sweep` for the saddle point."""

    def __init__(self, grid, shape, solutions):
        super().__init__(solutions, shape)
        self.grid = grid
        self.kernel_scale = np.array([s.kernel_scale for s in solutions]).reshape(shape)
        self.log_evidence = np.array([s.log_evidence for s in solutions]).reshape(shape)
        depth = grid.shape[1] // 2 - 1
        self.parameter_names = grid_names(depth)
        self.quantities = ["u_%d" % l for l in range(1, depth + 1)]

    @property
    def order_parameters(self):
        """E[u_l] at every point, an array of shape ``shape + (L,)``."""
        return np.array([s.order_parameters for s in self.solutions]).reshape(self.shape + (-1,))

    def generalization_error(self, X_test, y_test):
        """Generalization error, bias and variance at every point (arrays of the sweep's shape)."""
        vals = np.array([tuple(s.generalization_error(X_test, y_test)) for s in self.solutions])
        return GeneralizationError(*(vals[:, j].reshape(self.shape) for j in range(3)))


def _mp_convolve(a, b, h):
    """Convolution of two densities sampled with spacing ``h`` (lists of mpf): ``out_k = h sum_i a_i b_{k-i}``."""
    na, nb = len(a), len(b)
    rb = b[::-1]                                # b[k - i] = rb[nb - 1 - k + i]
    out = []
    for k in range(na + nb - 1):
        lo, hi = max(0, k - nb + 1), min(k, na - 1)
        out.append(h * mp.fdot(a[lo:hi + 1], rb[nb - 1 - k + lo:nb - k + hi]))
    return out


def _mp_convolve_all(densities, h):
    out = densities[0]
    for d in densities[1:]:
        out = _mp_convolve(out, d, h)
    return out


class ExactSolverMP:
    r"""The exact finite-width posterior at any precision (mpmath), by the same 1-D reduction.

    Densities are kept as mpf numbers (no underflow: the exponent range is unbounded); the trapezoid rule on the
    uniform grid in :math:`\log u` converges geometrically for these analytic integrands, so the grid spacing is
    refined with the precision (``h`` = posterior width / (2 x digits)) and tails are cut at
    :math:`e^{-(\text{digits}+10)\ln 10}`.  The posterior mean of :math:`u_l` is
    :math:`E[u_l] = \int dV\, e^{-D(V)} (\rho_l e^{z} * \rho_{\neq l})(V) / \int dV\, e^{-D(V)} (\rho_1*\cdots*\rho_L)(V)`
    (:math:`D`: the data term), one more convolution per layer.  Cost grows as (grid size)^2 per layer: meant for
    checks and small problems.
    """

    def __init__(self, theory, precision):
        checks.precision(precision)
        self.theory, self.depth, self.precision = theory, theory.depth, precision
        z, U, s2 = sp.Symbol("z", real=True), sp.Symbol("U", positive=True), sp.Symbol("s2", positive=True)
        self._log_rho = [sp.lambdify([z, op.width, s2], (op.log_density.subs(op.symbol, sp.exp(z)) + z)
                                     .subs(op.prior_variance, s2), "mpmath") for op in theory.measures]
        args = [U, theory.temperature, eigenvalue[mode], label[mode], test_projection[mode], test_variance]
        self._mode = sp.lambdify(args[:4], theory.mode_action(U), "mpmath")
        mean, prior, reduction = _predictor_parts(theory, U)
        self._mean = sp.lambdify(args, mean, "mpmath")
        self._var_prior = sp.lambdify(args, prior, "mpmath")
        self._var_sum = sp.lambdify(args, reduction, "mpmath")
        self._float = ExactSolver(theory)
        self._data = None

    def solve(self, X, y, X_test=None, widths=None, *, width=None, sigma2=1.0, T=None):
        """Posterior averages at ``precision`` digits at one parameter point: an :class:`ExactSolutionMP` (with the
        predictor ``mean`` and ``variance`` at the rows of ``X_test`` when given)."""
        grid, _ = parameter_grid(self.depth, widths, width, sigma2, T)
        if grid.shape[0] != 1:
            raise ParameterError("solve() takes one parameter point; use sweep() for arrays")
        self._data = data = spectral_data(self._data, X, y)
        return self._solve_row(data, grid[0], self._test_inputs(data, X_test))

    def sweep(self, X, y, X_test=None, widths=None, *, width=None, sigma2=1.0, T=None, chunks=None, executor=None,
              progress=None):
        """:meth:`solve` at every point of a grid (arguments, ``chunks``, ``executor`` and ``progress`` as
        :meth:`ExactSolver.sweep`): an :class:`ExactSweepMP`."""
        grid, shape = parameter_grid(self.depth, widths, width, sigma2, T)
        self._data = data = spectral_data(self._data, X, y)
        X_test = self._test_inputs(data, X_test)
        assemble = lambda rows, solutions: ExactSweepMP(grid[rows], (len(rows),), solutions)
        return ExactSweepMP(grid, shape, parallel.each(self._solve_row, [(data, row, X_test) for row in grid], chunks,
                                                       executor, progress, "exact posteriors (mpmath)", assemble))

    def __reduce__(self):
        """Pickles as its theory and precision (:func:`~symbolic_rg.parallel.solver_of`)."""
        return parallel.solver_of, (self.theory, {"method": "exact", "precision": self.precision})

    @staticmethod
    def _test_inputs(data, X_test):
        if X_test is None:
            return None
        X_test = checks.array("X_test", X_test, 2)
        if X_test.shape[1] != data.N0:
            raise ParameterError("X_test has %d features but the training inputs have %d" % (X_test.shape[1], data.N0))
        return X_test

    def _layer_density(self, l, N, s2, h, tail):
        """Grid start and density values of z_l = log u_l (spacing h), covering all but e^-tail of its mass."""
        f = lambda zz: self._log_rho[l](zz, N, s2)
        lo = hi = mp.log(s2)
        ref = f(lo)
        while f(lo) > ref - tail:
            lo -= mp.mpf(1) / 4
        while f(hi) > ref - tail:
            hi += mp.mpf(1) / 8
        n = int(mp.ceil((hi - lo) / h))
        return lo, [mp.exp(f(lo + i * h)) for i in range(n + 1)]

    def _averages(self, layers, fixed, offset, data_weight, h):
        """(log Z, E[U], [E[u_l]], posterior weights of the V_k) from the layer densities on a grid of spacing h;
        ``data_weight[k]`` = e^{-D(V_k)} on the grid V_k = offset + k h of their convolution."""
        if not layers:                             # every layer of infinite width: V = offset exactly
            return mp.log(data_weight[0]), mp.exp(offset), list(fixed), data_weight[:1]
        p = _mp_convolve_all([d for _, _, d in layers], h)
        w = data_weight[:len(p)]
        Z = mp.fdot(p, w)
        EU = mp.fdot([pk * mp.exp(offset + k * h) for k, pk in enumerate(p)], w) / Z
        means = list(fixed)
        for i, (l, z0, d) in enumerate(layers):          # E[u_l]: layer l's density tilted by e^z
            tilted = [dj * mp.exp(z0 + j * h) for j, dj in enumerate(d)]
            means[l] = mp.fdot(_mp_convolve_all([tilted if j == i else o for j, (_, _, o) in enumerate(layers)], h),
                               w) / Z
        return mp.log(h * Z), EU, means, [pk * wk for pk, wk in zip(p, w)]

    def _solve_row(self, data, row, X_test):
        """The :class:`ExactSolutionMP` at one row ``[T, 1/N_1.., sigma_1^2.., sigma_a^2]`` of a parameter grid."""
        L = self.depth
        start = self._float._solve_row(data, row, 16)          # locates the posterior of V (float64, resolution 16)
        c, yk = data.modes(row[0])
        V0, w0 = start._fine[0], start._fine[1]
        sd = float(np.sqrt(np.sum(w0 * (V0 - np.sum(w0 * V0)) ** 2)))
        nus = row[1:L + 1]
        finite = nus[nus > 0]
        if finite.size:
            sd = min(sd, math.sqrt(2 * finite.min()))
        tail = (self.precision + 10) * math.log(10)
        with mp.workdps(self.precision + 10):
            h = mp.mpf(sd) / (2 * self.precision) if finite.size else mp.mpf(1)
            T_ = mp.mpf(float(row[0]))
            s2 = [mp.mpf(float(v)) for v in row[L + 1:]]
            lam = [mp.mpf(float(v)) * s2[0] for v in c]
            ys = [mp.mpf(float(v)) for v in yk]
            offset, fixed, layers = mp.mpf(0), [None] * L, []
            for l in range(L):
                if nus[l] == 0:                               # infinite width: u_l = sigma_{l+1}^2 exactly
                    offset += mp.log(s2[l + 1])
                    fixed[l] = s2[l + 1]
                else:
                    N = mp.mpf(round(1 / float(nus[l])))      # widths are integers: no 1/(1/N) round-off
                    z0, d = self._layer_density(l, N, s2[l + 1], h, tail)
                    offset += z0
                    layers.append((l, z0, d))
            n = sum(len(d) - 1 for _, _, d in layers) + 1
            Vs = [offset + k * h for k in range(n)]
            data_weight = [mp.exp(-mp.fsum(self._mode(mp.exp(v), T_, l_, y_) for l_, y_ in zip(lam, ys))) for v in Vs]
            scale = mp.fprod(s2[1:])
            log_z, EU, means, weights = self._averages(layers, fixed, offset, data_weight, h)
            # quadrature error: the same at spacing 2h (every other grid point of each layer, and of V)
            coarse = self._averages([(l, z0, d[::2]) for l, z0, d in layers], fixed, offset, data_weight[::2], 2 * h)
            residual = max([abs(log_z - coarse[0]), abs(EU - coarse[1]) / scale]
                           + [abs(a - b) for a, b in zip(means, coarse[2])])
            mean = variance = None
            if X_test is not None:
                mean, variance = self._predict(data, row, X_test, (T_, lam, ys), Vs, weights, tail)
            return ExactSolutionMP(row, self.precision, means, EU / scale, log_z, float(residual), mean, variance)

    def _predict(self, data, row, X_test, modes, Vs, weights, tail):
        """Posterior mean and variance of f at the rows of X_test (lists of mpf), from the posterior ``weights`` of
        the grid ``Vs`` of log U; ``modes`` = (T, [lambda_k], [y_k]) in mpf."""
        T_, lam, ys = modes
        s1 = float(row[self.depth + 1])
        top = max(weights)
        keep = [k for k, wk in enumerate(weights) if wk > top * mp.exp(-tail)]
        w = [weights[k] for k in keep]
        Z = mp.fsum(w)
        U = [mp.exp(Vs[k]) for k in keep]
        Vm = data.V if row[0] > 0 else data.V[:, data.range]
        kap = (s1 * X_test @ data.X.T / data.N0) @ Vm
        k00 = s1 * np.sum(X_test**2, axis=1) / data.N0
        means, variances = [], []
        for kk, k0 in zip(kap, k00):
            kk, k0 = [mp.mpf(float(v)) for v in kk], mp.mpf(float(k0))
            mus = [mp.fsum(self._mean(u, T_, l_, y_, q_, k0) for l_, y_, q_ in zip(lam, ys, kk)) for u in U]
            sig = [self._var_prior(u, T_, 0, 0, 0, k0)
                   - mp.fsum(self._var_sum(u, T_, l_, y_, q_, k0) for l_, y_, q_ in zip(lam, ys, kk)) for u in U]
            m = mp.fdot(w, mus) / Z
            means.append(m)
            variances.append(mp.fsum(wi * (s + x**2) for wi, s, x in zip(w, sig, mus)) / Z - m**2)
        return means, variances


class ExactSolutionMP(SolutionTable):
    """The exact posterior at ``precision`` digits (:meth:`ExactSolverMP.solve`), numbers as mpf:
    ``order_parameters`` = [E[u_1], ..., E[u_L]], ``kernel_scale`` = E[U] / prod_l sigma_{l+1}^2,
    ``log_evidence`` = log p(y | X), and the predictor ``mean`` and ``variance`` at the rows of X_test (lists;
    None without X_test).

    Nothing iterates: ``converged`` is True.  ``residual`` (a float) is the quadrature error estimate: the largest
    change of the order parameters, kernel scale and log evidence when the grid spacing is doubled (the trapezoid
    rule converges geometrically, so the error at the spacing used is far below it).  ``result["kernel_scale"]``
    reads the attribute: the backward-compatible access of the dict that ``solve`` used to return.
    """

    FIELDS = ("order_parameters", "kernel_scale", "log_evidence", "mean", "variance", "converged", "residual",
              "precision")

    def __init__(self, parameters, precision, order_parameters, kernel_scale, log_evidence, residual,
                 mean=None, variance=None):
        self.parameters, self.precision = parameters, precision
        self.order_parameters, self.kernel_scale, self.log_evidence = order_parameters, kernel_scale, log_evidence
        self.residual, self.mean, self.variance = residual, mean, variance
        self.converged = True
        L = len(order_parameters)
        self.T = float(parameters[0])
        self.widths = np.array([1 / v if v > 0 else np.inf for v in parameters[1:L + 1]])
        self.sigma2 = parameters[L + 1:]

    def __getitem__(self, key):
        if key not in self.FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def rows(self):
        """One row: the parameters, the posterior means ``u_l``, kernel scale, log evidence (as floats), residual,
        converged."""
        L = len(self.order_parameters)
        return [{**grid_columns(L, self.parameters),
                 **{"u_%d" % l: float(u) for l, u in enumerate(self.order_parameters, start=1)},
                 "kernel_scale": float(self.kernel_scale), "log_evidence": float(self.log_evidence),
                 "residual": self.residual, "converged": True}]

    def as_dict(self):
        """JSON-ready summary; mpf numbers as decimal strings of ``precision`` significant digits (``float()``
        reads them; they keep the digits that float64 would drop), the rest as floats, ints and bools."""
        digits = lambda v: mp.nstr(v, self.precision)
        out = {"order_parameters": [digits(u) for u in self.order_parameters],
               "kernel_scale": digits(self.kernel_scale), "log_evidence": digits(self.log_evidence),
               "converged": True, "iterations": 0, "residual": self.residual, "precision": self.precision,
               "T": self.T, "widths": [float(x) if np.isfinite(x) else "inf" for x in self.widths],
               "sigma2": [float(s) for s in self.sigma2]}
        if self.mean is not None:
            out.update(mean=[digits(m) for m in self.mean], variance=[digits(v) for v in self.variance])
        return out


class ExactSweepMP(SolutionSweep):
    """:class:`ExactSolutionMP` at every point of a parameter grid (:meth:`ExactSolverMP.sweep`):
    ``order_parameters``, ``kernel_scale`` and ``log_evidence`` as lists of mpf in flat order; ``converged`` and
    ``residual`` as arrays of the sweep's shape."""

    def __init__(self, grid, shape, solutions):
        super().__init__(solutions, shape)
        self.grid = grid
        self.kernel_scale = [s.kernel_scale for s in solutions]
        self.log_evidence = [s.log_evidence for s in solutions]
        depth = grid.shape[1] // 2 - 1
        self.parameter_names = grid_names(depth)
        self.quantities = ["u_%d" % l for l in range(1, depth + 1)]
