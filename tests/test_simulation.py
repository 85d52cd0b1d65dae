"""Theory versus simulation of the real finite network (exact blocked Gibbs sampling of the weights)."""
import numpy as np
import pytest

import symbolic_rg as srg
from symbolic_rg.simulate import gibbs_deep_linear

from conftest import teacher_data


@pytest.fixture(scope="module")
def run():
    X, y, Xt, yt = teacher_data(P=20, N0=30, P_test=5, noise=0.3, seed=2)
    samples = gibbs_deep_linear(X, y, Xt, [100, 100], sigma2=1.0, T=0.05, sweeps=2000, burn_in=200, seed=1)
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


def test_sampler_rejects_bad_input():
    X, y, Xt, yt = teacher_data(P=5, N0=4, P_test=2)
    with pytest.raises(srg.ParameterError, match="T > 0"):
        gibbs_deep_linear(X, y, Xt, [3], T=0.0)
    with pytest.raises(srg.ParameterError, match="sweeps"):
        gibbs_deep_linear(X, y, Xt, [3], T=0.1, sweeps=10, burn_in=10)
    with pytest.raises(srg.ParameterError, match="widths"):
        gibbs_deep_linear(X, y, Xt, [0], T=0.1)
