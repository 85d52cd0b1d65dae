"""Theory versus simulation of the real finite network (exact blocked Gibbs sampling of the weights)."""
import numpy as np
import pytest

import symbolic_rg as srg
from symbolic_rg.simulate import gibbs_deep_linear, mala_deep_linear

from conftest import teacher_data


@pytest.fixture(scope="module")
def run():
    X, y, Xt, yt = teacher_data(P=20, N0=30, P_test=5, noise=0.3, seed=2)
    samples = gibbs_deep_linear(X, y, Xt, [100, 100], sigma2=1.0, T=0.05, samples=1800, burn_in=200, seed=1)
    solver = srg.derive(srg.deep_linear(2)).compile()
    return X, y, Xt, samples, solver.solve(X, y, width=100, T=0.05), solver.solve(X, y, width=np.inf, T=0.05)


def test_mean_predictor_agrees_with_simulation(run):
    X, y, Xt, s, sol, gp = run
    mean, var = sol.predict(Xt)
    assert np.all(np.abs(s.mean - mean) < 4 * s.mean_stderr)
    assert np.mean(np.abs(s.variance - var) / var) < 0.1


def test_layer_kernels_agree_with_simulation_and_differ_from_gp(run):
    """<K_l> on the training set: within the sampling error of the simulation (Frobenius norms), while
    the renormalization away from the infinite-width kernel is several standard errors large."""
    X, y, Xt, s, sol, gp = run
    for K_sim, K_se, K_th, K_gp in zip(s.layer_kernels, s.layer_kernels_stderr, sol.layer_kernels(), gp.layer_kernels()):
        noise = np.linalg.norm(K_se)
        assert np.linalg.norm(K_sim - K_th) < 2 * noise
        assert np.linalg.norm(K_th - K_gp) > 3 * noise


@pytest.mark.parametrize("L, N", [(1, 5), (2, 8), (3, 10)])
def test_small_networks_agree_with_exact_theory_where_saddle_is_off(L, N):
    """N <= 20: simulation equals the exact finite-width result within 4 standard errors, while the
    saddle point's predictor variance is more than 4 standard errors away."""
    X, y, Xt, yt = teacher_data(P=20, N0=15, P_test=10, noise=0.3, seed=3)
    theory = srg.derive(srg.deep_linear(L))
    exact = theory.compile(method="exact").solve(X, y, width=N, T=0.2)
    saddle = theory.compile().solve(X, y, width=N, T=0.2)
    s = gibbs_deep_linear(X, y, Xt, [N] * L, T=0.2, samples=10000, burn_in=500, batches=40, seed=1)
    me, ve = exact.predict(Xt)
    assert np.all(np.abs(s.mean - me) < 4 * s.mean_stderr)
    assert np.all(np.abs(s.variance - ve) < 4 * s.variance_stderr)
    ge, se = s.generalization_error(yt)
    assert abs(ge.total - exact.generalization_error(Xt, yt).total) < 4 * se.total
    assert np.max(np.abs(s.variance - saddle.predict(Xt)[1]) / s.variance_stderr) > 4
    assert s.diagnostics["effective_sample_size"] > 1000


def test_mala_agrees_with_exact_theory():
    X, y, Xt, yt = teacher_data(P=20, N0=15, P_test=10, noise=0.3, seed=3)
    exact = srg.derive(srg.deep_linear(1)).compile(method="exact").solve(X, y, width=5, T=0.2)
    s = mala_deep_linear(X, y, Xt, [5], T=0.2, samples=4000, burn_in=3000, thin=10, seed=2)
    me, ve = exact.predict(Xt)
    assert 0.4 < s.diagnostics["acceptance_rate"] < 0.8
    assert np.all(np.abs(s.mean - me) < 4 * s.mean_stderr)
    assert np.all(np.abs(s.variance - ve) < 4 * s.variance_stderr)


def test_sampler_rejects_bad_input():
    X, y, Xt, yt = teacher_data(P=5, N0=4, P_test=2)
    with pytest.raises(srg.ParameterError, match="temperature T must be finite and > 0"):
        gibbs_deep_linear(X, y, Xt, [3], T=0.0)
    with pytest.raises(srg.ParameterError, match="samples"):
        gibbs_deep_linear(X, y, Xt, [3], T=0.1, samples=0)
    with pytest.raises(srg.ParameterError, match="widths"):
        gibbs_deep_linear(X, y, Xt, [0], T=0.1)
    with pytest.raises(srg.ParameterError, match="features"):
        mala_deep_linear(X, y, Xt[:, :2], [3], T=0.1)


@pytest.mark.parametrize("L", [1, 2, pytest.param(3, marks=pytest.mark.slow)])
def test_digits_theory_versus_simulation_at_width_100(L):
    """Digits (P = 60), N = 100, T = 0.1, sigma^2 = 2: generalization error and mean variance of the real
    network within 4 standard errors of the exact theory and of saddle + one loop; hidden kernels
    <K_l> within the sampling noise of the saddle-point prediction."""
    from symbolic_rg.data import digits
    d = digits(P=60, P_test=200, seed=1)
    theory = srg.derive(srg.deep_linear(L))
    exact = theory.compile(method="exact").solve(d.X_train, d.y_train, width=100, sigma2=2.0, T=0.1)
    saddle = theory.compile().solve(d.X_train, d.y_train, width=100, sigma2=2.0, T=0.1)
    s = gibbs_deep_linear(d.X_train, d.y_train, d.X_test, [100] * L, sigma2=2.0, T=0.1, samples=2000,
                          burn_in=1000, batches=10, seed=L)
    ge, se = s.generalization_error(d.y_test)
    for reference in (exact.generalization_error(d.X_test, d.y_test),
                      saddle.generalization_error(d.X_test, d.y_test, one_loop=True)):
        assert abs(ge.total - reference.total) < 4 * se.total
        assert abs(ge.variance - reference.variance) < 4 * se.variance
    for K_sim, K_se, K_th in zip(s.layer_kernels, s.layer_kernels_stderr, saddle.layer_kernels()):
        assert np.linalg.norm(K_sim - K_th) < 3 * np.linalg.norm(K_se)


def test_relu_log_posterior_gradient_matches_finite_differences():
    from symbolic_rg.simulate import network_log_posterior
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 4)), rng.standard_normal(6)
    dim, _, logp = network_log_posterior(X, y, [5, 3], [1.0, 2.0, 0.5], 0.3, "relu")
    theta = rng.standard_normal(dim)
    _, g = logp(theta)
    for i in rng.choice(dim, 10, replace=False):
        e = np.zeros(dim)
        e[i] = 1e-6
        assert abs(g[i] - (logp(theta + e)[0] - logp(theta - e)[0]) / 2e-6) < 1e-5 * max(1, abs(g[i]))
