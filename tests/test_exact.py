"""Exact finite-width theory: independent high precision (L=1), 1/N approach to the saddle, GP limit."""
import json

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_allclose

import symbolic_rg as srg
from symbolic_rg.kernel import SpectralData

from conftest import exact_L1_expectation, run_cli, teacher_data


@pytest.fixture(scope="module")
def exact():
    return {L: srg.derive(srg.deep_linear(L)).compile(method="exact") for L in (1, 2, 3)}


@pytest.mark.parametrize("N", [1, 5, 40, 160])
def test_L1_matches_independent_mpmath_quadrature(exact, N):
    """E[u], E[U K_0-predictor mean] from the convolution quadrature versus mpmath.quad on the exact
    Gamma-mixture posterior at 30 digits."""
    X, y, Xt, yt = teacher_data(P=20, N0=30, P_test=3, noise=0.3, seed=4)
    sol = exact[1].solve(X, y, width=N, sigma2=1.0, T=0.1)
    E = exact_L1_expectation(SpectralData(X, y), N, 1.0, 1.0, 0.1)
    assert sol.order_parameters[0] == pytest.approx(float(E(lambda u: u)), rel=1e-10)
    assert sol.quadrature_error < 1e-9
    # predictor mean at one test point: mu(x; u) = sum_k u kappa_k y_k / (u lambda_k + T)
    data = SpectralData(X, y)
    kappa = (Xt[:1] @ X.T / X.shape[1]) @ data.V
    mu = lambda u: sum(u * float(kk) * float(yy) / (u * float(ll) + 0.1) for kk, yy, ll in zip(kappa[0], data.yhat, data.c))
    assert sol.predict(Xt[:1])[0][0] == pytest.approx(float(E(mu)), rel=1e-9)


def spectral_design(P, seed=0):
    """P inputs with K_0 eigenvalues 0.5..1.5 and fixed label projections: a data set whose spectrum keeps
    its shape as P grows, so that alpha = P/N fixed isolates the 1/N correction."""
    N0 = 2 * P
    q = (np.arange(P) + 0.5) / P
    Q = np.linalg.qr(np.random.default_rng(seed).standard_normal((N0, P)))[0].T
    X = np.sqrt((0.5 + q) * N0)[:, None] * Q
    y = (1 + 0.5 * np.sin(2 * np.pi * q)) * np.where(np.arange(P) % 2, 1.0, -1.0)
    return X, y, np.sqrt(N0) * Q[:3]


@pytest.mark.parametrize("L", [1, 2, 3])
def test_exact_approaches_saddle_as_one_over_N(exact, solvers, L):
    """alpha = P/N = 1/2 fixed, N = 20..320: |exact - saddle| has log-log slope -1 +- 0.1 (kernel scale,
    predictor mean) and -1 +- 0.15 (predictor variance)."""
    Ns = np.array([20, 40, 80, 160, 320])
    diffs = []
    for N in Ns:
        X, y, Xt = spectral_design(N // 2)
        e, s = exact[L].solve(X, y, width=N, T=0.1), solvers[L].solve(X, y, width=N, T=0.1)
        (me, ve), (ms, vs) = e.predict(Xt), s.predict(Xt)
        diffs.append([abs(e.kernel_scale - s.kernel_scale), np.mean(np.abs(me - ms)), np.mean(np.abs(ve - vs))])
    slopes = np.polyfit(np.log(Ns), np.log(np.array(diffs)), 1)[0]
    assert abs(slopes[0] + 1) < 0.1 and abs(slopes[1] + 1) < 0.1 and abs(slopes[2] + 1) < 0.15, slopes


def test_exact_infinite_width_is_gp(exact, small_data):
    X, y, Xt, yt = small_data
    e = exact[2].solve(X, y, width=np.inf, sigma2=[1.2, 0.8, 1.1], T=0.05)
    s = srg.derive(srg.deep_linear(2)).compile().solve(X, y, width=np.inf, sigma2=[1.2, 0.8, 1.1], T=0.05)
    assert_allclose(e.order_parameters, [0.8, 1.1], rtol=1e-14)
    assert_allclose(e.predict(Xt)[0], s.predict(Xt)[0], rtol=1e-12, atol=1e-12)
    assert_allclose(e.predict(Xt)[1], s.predict(Xt)[1], rtol=1e-12, atol=1e-12)


def test_log_evidence_L1_against_direct_integral(exact):
    X, y, Xt, yt = teacher_data(P=15, N0=25, P_test=3, noise=0.3, seed=6)
    N = 12
    sol = exact[1].solve(X, y, width=N, sigma2=1.0, T=0.2)
    # log p(y) = log ∫ du Gamma(u) N(y; 0, u K_0 + T): direct in u-space with scipy quad and numpy densities
    from scipy import integrate, stats
    K0 = X @ X.T / X.shape[1]
    f = lambda u: stats.gamma.pdf(u, N / 2, scale=2 / N) * stats.multivariate_normal.pdf(y, cov=u * K0 + 0.2 * np.eye(15))
    Z, err = integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-12, limit=200)
    assert sol.log_evidence == pytest.approx(np.log(Z), abs=1e-9)


def test_exact_cli_json():
    r = run_cli("solve", "deep-linear", "--depth", "2", "--width", "30", "--T", "0.1", "--data", "teacher",
                "--P", "40", "--exact", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("order_parameters", "kernel_scale", "generalization_error", "bias", "variance", "converged",
                "iterations", "log_evidence", "quadrature_error"):
        assert key in out
    assert out["method"] == "exact" and out["quadrature_error"] < 1e-8


def test_exact_bad_input(exact, small_data):
    X, y, Xt, yt = small_data
    with pytest.raises(srg.ParameterError, match="resolution"):
        exact[1].solve(X, y, width=10, T=0.1, resolution=1)
    with pytest.raises(srg.ParameterError, match="precision"):
        srg.derive(srg.deep_linear(1)).compile(precision=5, method="exact")
    with pytest.raises(srg.ParameterError, match="method"):
        srg.derive(srg.deep_linear(1)).compile(method="laplace")
    with pytest.raises(srg.NoSolutionError, match="T > 0"):
        rng = np.random.default_rng(0)
        exact[1].solve(rng.standard_normal((30, 10)), rng.standard_normal(30), width=10, T=0.0)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_one_loop_closes_the_gap_to_order_one_over_N_squared(exact, solvers, L):
    """alpha fixed, N = 20..320: |exact - (saddle + one loop)| has slope -2 +- 0.2 for the kernel scale,
    the order parameters and the predictor variance; the predictor mean's remainder falls at least as fast."""
    Ns = np.array([20, 40, 80, 160, 320])
    diffs = []
    for N in Ns:
        X, y, Xt = spectral_design(N // 2)
        e, s = exact[L].solve(X, y, width=N, T=0.1), solvers[L].solve(X, y, width=N, T=0.1)
        ol = s.one_loop(Xt)
        me, ve = e.predict(Xt)
        diffs.append([abs(e.kernel_scale - ol.kernel_scale), np.max(np.abs(e.order_parameters - ol.order_parameters)),
                      np.mean(np.abs(ve - ol.variance)), np.mean(np.abs(me - ol.mean))])
    slopes = np.polyfit(np.log(Ns), np.log(np.array(diffs)), 1)[0]
    assert np.all(np.abs(slopes[:3] + 2) < 0.2) and slopes[3] < -1.8, slopes


def test_one_loop_vanishes_at_infinite_width(solvers, small_data):
    X, y, Xt, yt = small_data
    sol = solvers[2].solve(X, y, widths=[np.inf, np.inf], T=0.1)
    ol = sol.one_loop(Xt)
    assert_allclose(ol.mean, sol.predict(Xt)[0], rtol=1e-14)
    assert_allclose(ol.order_parameters, sol.order_parameters, rtol=1e-14)
    half = solvers[2].solve(X, y, widths=[30, np.inf], T=0.1).one_loop(Xt)     # only layer 1 fluctuates
    assert half.order_parameters[1] == pytest.approx(1.0, rel=1e-14) and half.order_parameters[0] != 1.0


def test_one_loop_cli_json():
    r = run_cli("solve", "deep-linear", "--depth", "2", "--width", "30", "--T", "0.1", "--data", "teacher",
                "--P", "40", "--one-loop", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["method"] == "one-loop" and out["generalization_error"] == pytest.approx(out["bias"] + out["variance"])
    r = run_cli("solve", "deep-linear", "--depth", "2", "--width", "30", "--T", "0.1", "--data", "teacher",
                "--one-loop", "--exact")
    assert r.returncode == 2 and "exclude" in r.stderr and "Traceback" not in r.stderr


def test_exact_zero_temperature_interpolates(exact, small_data):
    """T = 0, P < N_0: the exact mean predictor is width-independent kernel regression, as at the saddle."""
    X, y, Xt, yt = small_data
    K = X @ X.T
    expected = Xt @ X.T @ np.linalg.solve(K, y)
    for N in (5, 50):
        sol = exact[2].solve(X, y, width=N, T=0.0)
        assert_allclose(sol.predict(Xt)[0], expected, rtol=1e-9, atol=1e-9)
        assert sol.quadrature_error < 1e-10 and np.all(sol.predict(Xt)[1] > 0)


def test_exact_at_30_digits():
    """mpmath path of the exact theory: agrees with float64 to 1e-11 and with an independent 30-digit
    quadrature of the L = 1 posterior (mpmath.quad over u) to 1e-24."""
    import mpmath
    X, y, Xt, yt = teacher_data(P=12, N0=20, P_test=2, noise=0.3, seed=4)
    theory = srg.derive(srg.deep_linear(1))
    fast = theory.compile(method="exact").solve(X, y, width=10, T=0.1)
    hp = theory.compile(method="exact", precision=30).solve(X, y, Xt, width=10, T=0.1)
    assert float(hp["kernel_scale"]) == pytest.approx(fast.kernel_scale, rel=1e-11)
    assert_allclose([float(m) for m in hp["mean"]], fast.predict(Xt)[0], rtol=1e-11)
    assert_allclose([float(v) for v in hp["variance"]], fast.predict(Xt)[1], rtol=1e-11)
    reference = exact_L1_expectation(SpectralData(X, y), 10, 1.0, 1.0, 0.1)(lambda u: u)   # 30 digits
    assert abs(hp["kernel_scale"] - reference) < mpmath.mpf(10) ** -24


@pytest.mark.parametrize("L, widths", [(1, [10]), (2, [40, np.inf]), (2, [40, 60])])
def test_exact_mp_result_agrees_with_float64(L, widths):
    """ExactSolverMP's result object: E[u_l] (one tilted convolution per layer), kernel scale and log evidence
    agree with the float64 quadrature to 1e-10; its residual (the change when h doubles) is far below that."""
    X, y, Xt, yt = teacher_data(P=12, N0=20, P_test=2, noise=0.3, seed=4)
    theory = srg.derive(srg.deep_linear(L))
    fast = theory.compile(method="exact").solve(X, y, widths=widths, T=0.1)
    hp = theory.compile(method="exact", precision=16).solve(X, y, widths=widths, T=0.1)
    assert isinstance(hp, srg.kernel.ExactSolutionMP) and hp.converged and hp.precision == 16
    assert all(isinstance(u, mpmath.mpf) for u in hp.order_parameters)
    assert_allclose([float(u) for u in hp.order_parameters], fast.order_parameters, rtol=1e-10)
    assert float(hp.kernel_scale) == pytest.approx(fast.kernel_scale, rel=1e-10)
    assert float(hp.log_evidence) == pytest.approx(fast.log_evidence, rel=1e-10)
    assert 0 <= hp.residual < 1e-20 and hp.mean is None and hp.variance is None
    assert hp["kernel_scale"] is hp.kernel_scale and hp["order_parameters"] is hp.order_parameters
    with pytest.raises(KeyError):
        hp["no_such_field"]


def test_exact_mp_as_dict_is_json_with_all_digits():
    X, y, Xt, yt = teacher_data(P=12, N0=20, P_test=2, noise=0.3, seed=4)
    hp = srg.derive(srg.deep_linear(1)).compile(method="exact", precision=20).solve(X, y, Xt, width=10, T=0.1)
    out = json.loads(json.dumps(hp.as_dict()))
    assert out["converged"] is True and out["precision"] == 20 and out["residual"] == hp.residual
    assert out["widths"] == [10.0] and out["T"] == 0.1 and len(out["mean"]) == len(out["variance"]) == 2
    with mpmath.workdps(30):                          # decimal strings that keep the 20 digits
        for key in ("kernel_scale", "log_evidence"):
            assert abs(mpmath.mpf(out[key]) - hp[key]) <= abs(hp[key]) * mpmath.mpf(10) ** -19
        assert abs(mpmath.mpf(out["order_parameters"][0]) - hp.order_parameters[0]) < mpmath.mpf(10) ** -18
    assert float(out["mean"][1]) == pytest.approx(float(hp.mean[1]), rel=1e-15)


def test_exact_sweep_points_are_solves(exact, small_data):
    """ExactSolver.sweep over (width x T): every point is ExactSolver.solve there; arrays carry the grid shape."""
    X, y, Xt, yt = small_data
    Ts, Ns = np.array([0.05, 0.2]), np.array([[20], [80], [np.inf]])
    sw = exact[2].sweep(X, y, widths=[Ns, 50], sigma2=[1.2, 0.9, 1.1], T=Ts)
    assert isinstance(sw, srg.kernel.ExactSweep) and len(sw) == 6
    assert sw.order_parameters.shape == (3, 2, 2) and sw.kernel_scale.shape == sw.residual.shape == (3, 2)
    assert sw.converged.all() and np.all(sw.residual < 1e-9)
    eg = sw.generalization_error(Xt, yt)
    for i, (N, T) in enumerate([(N, T) for N in Ns[:, 0] for T in Ts]):
        point = exact[2].solve(X, y, widths=[N, 50], sigma2=[1.2, 0.9, 1.1], T=T)
        assert_allclose(sw[i].order_parameters, point.order_parameters, rtol=1e-12)
        assert_allclose(sw.order_parameters.reshape(-1, 2)[i], point.order_parameters, rtol=1e-12)
        assert_allclose([sw.kernel_scale.ravel()[i], sw.log_evidence.ravel()[i], sw.residual.ravel()[i]],
                        [point.kernel_scale, point.log_evidence, point.residual], rtol=1e-12)
        assert_allclose(sw[i].predict(Xt), point.predict(Xt), rtol=1e-12, atol=1e-14)
        assert eg.total.ravel()[i] == pytest.approx(point.generalization_error(Xt, yt).total, rel=1e-12)
    json.dumps(sw.as_dict())
    with pytest.raises(srg.ParameterError, match="sweep"):
        exact[2].solve(X, y, width=Ns, T=0.1)


def test_exact_mp_sweep_points_are_solves():
    X, y, Xt, yt = teacher_data(P=12, N0=20, P_test=2, noise=0.3, seed=4)
    solver = srg.derive(srg.deep_linear(1)).compile(method="exact", precision=16)
    sw = solver.sweep(X, y, Xt[:1], width=10, T=np.array([0.1, 0.3]))
    assert isinstance(sw, srg.kernel.ExactSweepMP) and len(sw) == 2 and sw.converged.shape == (2,)
    point = solver.solve(X, y, Xt[:1], width=10, T=0.3)
    assert sw[1].order_parameters == point.order_parameters and sw.kernel_scale[1] == point.kernel_scale
    assert sw[1].mean == point.mean and sw.residual[1] == point.residual
    assert sw.kernel_scale[0] != sw.kernel_scale[1] and sw[0].T == 0.1
    json.dumps(sw.as_dict())


def test_exact_solvers_and_results_follow_the_protocol(exact, small_data):
    X, y, Xt, yt = small_data
    mp_solver = srg.derive(srg.deep_linear(1)).compile(method="exact", precision=16)
    for solver in (exact[1], mp_solver):
        assert isinstance(solver, srg.protocol.Solver)
    sol = exact[1].solve(X, y, width=10, T=0.1)
    sw = exact[1].sweep(X, y, width=10, T=[0.1, 0.2])
    hp = mp_solver.solve(X[:10], y[:10], width=10, T=0.1)
    for result in (sol, sw, hp):
        assert isinstance(result, srg.protocol.Solution)
    assert sol.residual == sol.quadrature_error and json.loads(json.dumps(sol.as_dict()))["residual"] == sol.residual
