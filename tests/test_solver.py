"""Compiled solvers against independent routes: GP regression, closed forms, mpmath, exact quadrature."""
import json

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_allclose

import symbolic_rg as srg
from symbolic_rg.kernel import SpectralData

from conftest import exact_L1_expectation, teacher_data


def gp_regression(X, y, Xt, kernel_scale, T):
    K = kernel_scale * X @ X.T / X.shape[1]
    k = kernel_scale * Xt @ X.T / X.shape[1]
    kxx = kernel_scale * np.sum(Xt**2, axis=1) / X.shape[1]
    A = K + T * np.eye(len(y))
    return k @ np.linalg.solve(A, y), kxx - np.einsum("ij,ji->i", k, np.linalg.solve(A, k.T))


@pytest.mark.parametrize("L", [1, 2, 3])
def test_infinite_width_is_gp_regression(solvers, small_data, L):
    X, y, Xt, yt = small_data
    sigma2 = [1.3, 0.7, 1.1, 0.9][:L] + [0.8]
    sol = solvers[L].solve(X, y, width=np.inf, sigma2=sigma2, T=0.05)
    assert_allclose(sol.order_parameters, sigma2[1:], rtol=1e-14)
    assert sol.kernel_scale == pytest.approx(1.0, rel=1e-14)
    mean, var = sol.predict(Xt)
    gp_mean, gp_var = gp_regression(X, y, Xt, np.prod(sigma2), 0.05)
    assert_allclose(mean, gp_mean, rtol=1e-12, atol=1e-12)
    assert_allclose(var, gp_var, rtol=1e-12, atol=1e-12)
    # finite but huge widths approach the same predictor
    wide = solvers[L].solve(X, y, width=10**9, sigma2=sigma2, T=0.05)
    assert_allclose(wide.predict(Xt)[0], gp_mean, rtol=1e-6)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_zero_temperature_closed_form(solvers, small_data, L):
    """Equal widths at T=0, P<N_0: u/s2 = 1 - a + a r0/U, every layer the same u (independent numeric check)."""
    X, y, Xt, yt = small_data
    N, s2 = 25, 0.8
    sol = solvers[L].solve(X, y, width=N, sigma2=s2, T=0.0)
    u = sol.order_parameters
    assert_allclose(u, u[0], rtol=1e-12)
    K0 = s2 * X @ X.T / X.shape[1]
    alpha, r0 = len(y) / N, y @ np.linalg.solve(K0, y) / len(y)
    assert u[0] / s2 == pytest.approx(1 - alpha + alpha * r0 / np.prod(u), rel=1e-11)
    if L == 1:   # the quadratic u^2 - (1-a) s2 u - a s2 r0 = 0, positive root
        b = (1 - alpha) * s2
        assert u[0] == pytest.approx((b + np.sqrt(b * b + 4 * alpha * s2 * r0)) / 2, rel=1e-12)
    # the T = 0 mean predictor is width-independent: kernel regression with K_0
    mean, var = sol.predict(Xt)
    assert_allclose(mean, gp_regression(X, y, Xt, 1.0, 0.0)[0], rtol=1e-9, atol=1e-9)
    assert np.all(var > 0)


def test_mpmath_agrees_with_numba(theories, small_data):
    X, y, Xt, yt = small_data
    args = dict(widths=[30, 70], sigma2=[1.2, 0.9, 1.1], T=0.07)
    fast = theories[2].compile().solve(X, y, **args)
    exact = theories[2].compile(precision=50).solve(X, y, **args)
    assert exact.converged and fast.converged
    assert_allclose(fast.order_parameters, exact.order_parameters, rtol=1e-12)
    assert exact.residual_mp < mpmath.mpf(10) ** -45
    assert_allclose(fast.predict(Xt)[0], exact.predict(Xt)[0], rtol=1e-11)


def test_mpmath_start_that_finds_no_descent_stops_unconverged(theories, small_data):
    """From u = prior/100 Newton runs onto a plateau where the residual tends to 1 as u -> 0; as on the Numba
    path, a start whose line search finds no decrease is given up there (not iterated to maxiter)."""
    X, y, Xt, yt = small_data
    args = dict(widths=[30, 70], sigma2=[1.2, 0.9, 1.1], T=0.07, starts=[np.log(0.01)])
    exact = theories[2].compile(precision=50)
    stalled = exact.solve(X, y, raise_on_failure=False, **args)
    assert not stalled.converged and stalled.iterations < 20 and stalled.residual > 0.5
    with pytest.raises(srg.ConvergenceError, match="did not converge"):
        exact.solve(X, y, **args)


def test_saddle_point_approaches_exact_finite_width_result(solvers):
    """L = 1: the saddle point of u matches the exact posterior mean (1-D quadrature of the exact Gamma
    mixture); at fixed P the discrepancy falls at least as fast as 1/N."""
    X, y, Xt, yt = teacher_data(P=20, N0=30, noise=0.3, seed=4)
    data = SpectralData(X, y)
    errs = []
    for N in (40, 160, 640):
        sol = solvers[1].solve(X, y, width=N, sigma2=1.0, T=0.1)
        mean_u = exact_L1_expectation(data, N, 1.0, 1.0, 0.1)(lambda u: u)
        errs.append(abs(float(mean_u) - sol.order_parameters[0]))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] * 640 < errs[0] * 40 and errs[0] < 0.05


def test_rank_deficient_zero_temperature(solvers):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 10))
    with pytest.raises(srg.NoSolutionError, match="T > 0"):
        solvers[2].solve(X, rng.standard_normal(30), width=50, T=0.0)
    y = X @ rng.standard_normal(10) / np.sqrt(10)       # labels in the range of K_0: interpolation exists
    sol = solvers[2].solve(X, y, width=50, T=0.0)
    u = sol.order_parameters[0]
    alpha, r0 = 10 / 50, None
    data = SpectralData(X, y)
    r0 = np.sum(data.yhat[data.range] ** 2 / data.c[data.range]) / 10     # P -> rank(K_0) = 10
    assert u == pytest.approx(1 - alpha + alpha * r0 / np.prod(sol.order_parameters), rel=1e-10)


def test_sweep_matches_pointwise_and_never_recompiles(solvers, small_data):
    X, y, Xt, yt = small_data
    Ts = np.logspace(-3, 0, 40)
    sw = solvers[2].sweep(X, y, widths=[30, 60], sigma2=1.0, T=Ts)
    assert sw.kernel_scale.shape == (40,) and sw.converged.all()
    compiled = len(solvers[2].module.sweep.signatures)
    for i in (0, 17, 39):
        point = solvers[2].solve(X, y, widths=[30, 60], sigma2=1.0, T=Ts[i])
        assert_allclose(sw.order_parameters[i], point.order_parameters, rtol=1e-10)
    # any numeric parameter may be swept, in several dimensions at once
    grid = solvers[2].sweep(X, y, widths=[np.array([[20], [40], [80]]), 50], sigma2=np.array([0.5, 1.0, 2.0]), T=0.1)
    assert grid.kernel_scale.shape == (3, 3)
    p = solvers[2].solve(X, y, widths=[40, 50], sigma2=2.0, T=0.1)
    assert grid.kernel_scale[1, 2] == pytest.approx(p.kernel_scale, rel=1e-10)
    assert len(solvers[2].module.sweep.signatures) == compiled == 1     # new numbers, same machine code
    eg = grid.generalization_error(Xt, yt)
    assert eg.total.shape == (3, 3) and np.allclose(eg.total, eg.bias + eg.variance)
    # a sweep through T = 0 uses the kernel's range at that point
    sw0 = solvers[1].sweep(X, y, width=40, T=np.array([0.0, 1e-3]))
    assert sw0.converged.all() and sw0.kernel_scale[0] == pytest.approx(sw0.kernel_scale[1], rel=1e-2)


def test_generalization_error_parts(solvers, small_data):
    X, y, Xt, yt = small_data
    sol = solvers[2].solve(X, y, widths=[40, 20], sigma2=1.0, T=0.1)
    mean, var = sol.predict(Xt)
    eg = sol.generalization_error(Xt, yt)
    assert eg.bias == pytest.approx(np.mean((mean - yt) ** 2))
    assert eg.variance == pytest.approx(np.mean(var))
    assert float(eg) == pytest.approx(eg.bias + eg.variance)


def test_layer_kernels_infinite_width_and_shape(solvers, small_data):
    X, y, Xt, yt = small_data
    s2 = [1.3, 0.7, 1.1, 0.8]
    sol = solvers[3].solve(X, y, width=np.inf, sigma2=s2, T=0.1)
    Ks = sol.layer_kernels()
    C = X @ X.T / X.shape[1]
    for l, K in enumerate(Ks, start=1):
        assert_allclose(K, np.prod(s2[:l]) * C, rtol=1e-12, atol=1e-12)
    fin = solvers[3].solve(X, y, width=30, sigma2=s2, T=0.1).layer_kernels()
    for K in fin:
        assert_allclose(K, K.T, atol=1e-12)
        assert np.linalg.eigvalsh(K).min() > -1e-10


@pytest.mark.parametrize("kwargs, match", [
    (dict(widths=[10, -5]), "N_2"),
    (dict(widths=[10, 2.5]), "N_2"),
    (dict(widths=[10]), "2 widths"),
    (dict(width=10, sigma2=0.0), "sigma_1"),
    (dict(width=10, sigma2=[1.0, 1.0, -1.0]), "sigma_a"),
    (dict(width=10, T=-0.1), "temperature T"),
    (dict(width=10, T=np.nan), "temperature T"),
])
def test_bad_parameters_name_the_parameter(solvers, small_data, kwargs, match):
    X, y, Xt, yt = small_data
    kwargs.setdefault("T", 0.1)
    with pytest.raises(srg.ParameterError, match=match):
        solvers[2].solve(X, y, **kwargs)


def test_bad_data(solvers, small_data):
    X, y, Xt, yt = small_data
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(srg.ParameterError, match="X must have finite entries"):
        solvers[1].solve(Xn, y, width=10, T=0.1)
    with pytest.raises(srg.ParameterError, match="rows"):
        solvers[1].solve(X, y[:-1], width=10, T=0.1)
    sol = solvers[1].solve(X, y, width=10, T=0.1)
    with pytest.raises(srg.ParameterError, match="features"):
        sol.predict(Xt[:, :-1])
    with pytest.raises(srg.ParameterError, match="precision"):
        srg.derive(srg.deep_linear(1)).compile(precision=3)


def test_non_convergence_names_the_point(solvers, small_data):
    X, y, Xt, yt = small_data
    with pytest.raises(srg.ConvergenceError, match=r"widths=\[10, 10\].*T=0.1"):
        solvers[2].solve(X, y, width=10, T=0.1, maxiter=1)


def test_sweep_falls_back_to_wider_starts():
    """Deep and narrow (L=4, N=4, P=100, sigma^2=0.5, T=1): the prior start ends in a non-root minimum of
    |R|^2; the solver must still find the root (u = 0.9161 here, checked by the residual)."""
    from symbolic_rg.data import digits
    d = digits(P=100, P_test=10)
    solver = srg.derive(srg.deep_linear(4)).compile()
    sw = solver.sweep(d.X_train, d.y_train, width=np.array([4, 32, 1000]), sigma2=0.5, T=1.0)
    assert sw.converged.all() and np.all(sw.residual < 1e-11)
    point = solver.solve(d.X_train, d.y_train, width=4, sigma2=0.5, T=1.0)
    assert_allclose(point.order_parameters, sw.order_parameters[0], rtol=1e-10)


def test_newton_abandons_stalled_starts_and_joins_known_roots():
    """The compiled Newton (digits, L = 3, T = 0.1): a start 10^-4 below the prior runs off towards u = 0 and is
    abandoned within a few STALL periods, not after maxiter; a start from the prior given the root found already
    stops on that very root once its step contracts onto it, in fewer passes than converging again; the action of
    its own pass equals the sum written out."""
    from symbolic_rg.data import digits
    from symbolic_rg.kernel import parameter_grid
    d = digits(P=200, P_test=10)
    solver = srg.derive(srg.deep_linear(3)).compile()
    sol = solver.solve(d.X_train, d.y_train, widths=[200, 100, 300], sigma2=1.0, T=0.1)
    data, m = SpectralData(d.X_train, d.y_train), solver.module
    p = parameter_grid(3, widths=[200, 100, 300], sigma2=1.0, T=0.1)[0][0]
    root, none = np.log(sol.order_parameters), np.empty((0, 3))
    x, H, res, it, ok = m.newton(np.log(p[5:]) - 9.21, p, data.c, data.yhat, 1e-11, 200, 2.0, none)
    assert not ok and it <= 4 * m.STALL and res > 0.5
    alone = m.newton(np.log(p[5:]), p, data.c, data.yhat, 1e-11, 200, 2.0, none)
    joined = m.newton(np.log(p[5:]), p, data.c, data.yhat, 1e-11, 200, 2.0, root[None, :])
    assert alone[4] and joined[4] and np.array_equal(joined[0], root) and joined[3] < alone[3]
    assert_allclose(alone[0], root, rtol=0, atol=1e-12)
    u, lam = sol.order_parameters, data.c
    N = np.array([200, 100, 300])
    H = (np.sum(N * (u - np.log(u))) + np.sum(np.log(0.1 + np.prod(u) * lam))
         + np.sum(data.yhat**2 / (0.1 + np.prod(u) * lam))) / 2
    assert m.action(root, p, data.c, data.yhat) == pytest.approx(H, rel=1e-13) == sol.action


def test_iteration_fields_reach_the_solution(theories, small_data):
    """Both Newton paths return protocol Iterations (value = H, residual = max|R|): the mpmath path
    (``_newton_mp``) and the Numba path (``solve_point``, ``sweep``) agree on the root, the action and convergence."""
    X, y, Xt, yt = small_data
    args = dict(widths=[30, 70], sigma2=[1.2, 0.9, 1.1], T=0.07)
    fast = theories[2].compile().solve(X, y, **args)
    hp = theories[2].compile(precision=20).solve(X, y, **args)
    for sol in (fast, hp):
        assert sol.converged is True and isinstance(sol.iterations, int) and 0 < sol.iterations < 200
    assert fast.residual < 1e-11 and hp.residual < 1e-17 and hp.residual_mp < mpmath.mpf(10) ** -17
    assert hp.action == pytest.approx(fast.action, rel=1e-12) and abs(fast.action) > 1
    assert_allclose(hp.order_parameters, fast.order_parameters, rtol=1e-12)
    sw = theories[2].compile().sweep(X, y, widths=[30, 70], sigma2=[1.2, 0.9, 1.1], T=np.array([0.07, 0.5]))
    assert sw.converged.all() and np.all(sw.residual < 1e-11) and np.all(sw.iterations > 0)
    assert sw.action[0] == pytest.approx(fast.action, rel=1e-12) and sw.action[0] != sw.action[1]
    assert sw.iterations.dtype.kind == "i" and sw.converged.dtype == bool


def test_solvers_and_results_follow_the_protocol(theories, solvers, small_data):
    X, y, Xt, yt = small_data
    hp = theories[1].compile(precision=20)
    for solver in (solvers[2], hp):
        assert isinstance(solver, srg.protocol.Solver)
    sol = solvers[2].solve(X, y, width=30, T=0.1)
    sw = solvers[2].sweep(X, y, width=30, T=np.array([0.1, 0.2]))
    for result in (sol, sw, hp.solve(X, y, width=30, T=0.1)):
        assert isinstance(result, srg.protocol.Solution)
    out = json.loads(json.dumps(sw.as_dict()))
    assert out["shape"] == [2] and out["points"][1] == sw[1].as_dict()


def test_width_grid_and_array_widths():
    """``width=[...]`` sweeps equal widths (a grid), ``widths=`` may be an array with one entry per layer."""
    from symbolic_rg.kernel import parameter_grid
    grid, shape = parameter_grid(3, width=[50, 100, 200], T=0.1)
    assert shape == (3,) and np.allclose(grid[:, 1:4], 1 / np.array([[50] * 3, [100] * 3, [200] * 3]))
    grid, shape = parameter_grid(3, widths=np.array([200, 100, 300]), T=0.1)
    assert shape == () and np.allclose(grid[0, 1:4], [1 / 200, 1 / 100, 1 / 300])
    with pytest.raises(srg.ParameterError, match="3 widths"):
        parameter_grid(3, widths=[10, 20], T=0.1)
