"""Trained networks at infinite width (``srg.trained_output``): the limits (t = 0 is the prior GP, t = inf kernel
regression with the NTK, gradient descent at a small step approaching gradient flow), the errors, an ensemble of real
wide networks trained by full-batch gradient descent from their initialization, and ``symbolic-rg train``."""
import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

import symbolic_rg as srg
from conftest import run_cli
from symbolic_rg.errors import ParameterError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(4)
    X, Xt = rng.standard_normal((8, 5)), rng.standard_normal((4, 5))
    return X, np.sin(X[:, 0]) + 0.3 * X[:, 1], Xt


def test_limits(data):
    X, y, Xt = data
    start = srg.trained_output("tanh", X, y, Xt, L=3, C_W=1.5, C_b=0.1, time=0.0)
    rec = srg.kernel_recursion("tanh", Xt, 3, C_W=1.5, C_b=0.1)
    assert_allclose(start.mean, 0.0, atol=1e-14)
    assert_allclose(start.covariance, rec.kernels[-1], rtol=1e-12, atol=1e-14)   # the prior GP at initialization
    end = srg.trained_output("tanh", X, y, Xt, L=3, C_W=1.5, C_b=0.1)
    joint = srg.kernel_recursion("tanh", np.vstack([X, Xt]), 3, C_W=1.5, C_b=0.1)
    Th, K = joint.ntk[-1], joint.kernels[-1]
    A = Th[8:, :8] @ np.linalg.inv(Th[:8, :8])
    assert_allclose(end.mean, A @ y, rtol=1e-10)                                  # kernel regression with the NTK
    assert_allclose(end.covariance, K[8:, 8:] - A @ K[:8, 8:] - K[8:, :8] @ A.T + A @ K[:8, :8] @ A.T,
                    rtol=1e-9, atol=1e-12)
    train = srg.trained_output("tanh", X, y, X, L=3, C_W=1.5, C_b=0.1)
    assert_allclose(train.mean, y, rtol=1e-9)
    assert_allclose(train.variance, 0.0, atol=1e-9)
    # gradient descent with a small step approaches gradient flow at the same time (error O(learning rate))
    flow = srg.trained_output("tanh", X, y, Xt, L=3, C_W=1.5, C_b=0.1, time=5.0)
    errs = [np.max(np.abs(srg.trained_output("tanh", X, y, Xt, L=3, C_W=1.5, C_b=0.1, time=5.0,
                                             learning_rate=eta).mean - flow.mean)) for eta in (0.05, 0.025)]
    assert errs[1] < 0.6 * errs[0] and errs[1] < 1e-2
    assert srg.trained_output("tanh", X, y, Xt, L=3, C_W=1.5, time=5.0, learning_rate=0.05).steps == 100


def test_errors(data):
    X, y, Xt = data
    with pytest.raises(ParameterError, match="whole number of steps"):
        srg.trained_output("relu", X, y, Xt, L=2, C_W=2.0, time=1.0, learning_rate=0.3)
    with pytest.raises(ParameterError, match="learning_rate must be below 2P/lambda_max"):
        srg.trained_output("relu", X, y, Xt, L=2, C_W=2.0, learning_rate=100.0)
    with pytest.raises(ParameterError, match="singular"):
        srg.trained_output("relu", np.vstack([X, X[:1]]), np.append(y, y[0]), Xt, L=2, C_W=2.0)
    with pytest.raises(ParameterError, match="time"):
        srg.trained_output("relu", X, y, Xt, L=2, C_W=2.0, time=-1.0)


def train_ensemble(act, dact, X, y, Xt, n, C_W, C_b, eta, steps, seeds):
    r"""Full-batch gradient descent on the loss sum (z - y)^2 / 2P of ``seeds`` independent one-hidden-layer networks
    z = sqrt(C_W/n) w2 . act(h) + sqrt(C_b) b2, h = sqrt(C_W/n0) W1 x + sqrt(C_b) b1 (NTK parameterization, unit
    Gaussian parameters, unit learning-rate multipliers: lambda_W = C_W, lambda_b = C_b), vectorized over seeds;
    returns the test outputs (seeds x n_test)."""
    rng = np.random.default_rng(0)
    P, n0 = X.shape
    W1, b1 = rng.standard_normal((seeds, n, n0)), rng.standard_normal((seeds, n))
    w2, b2 = rng.standard_normal((seeds, n)), rng.standard_normal(seeds)
    cw, cw0, cb = np.sqrt(C_W / n), np.sqrt(C_W / n0), np.sqrt(C_b)

    def forward(A):
        h = cw0 * np.einsum("snk,pk->spn", W1, A) + cb * b1[:, None, :]
        return h, cw * np.einsum("sn,spn->sp", w2, act(h)) + cb * b2[:, None]

    for _ in range(steps):
        h, z = forward(X)
        r = (z - y) / P                                       # dLoss/dz
        g = cw * w2[:, None, :] * dact(h) * r[:, :, None]     # dLoss/dh  (seeds, P, n)
        W1 -= eta * cw0 * np.einsum("spn,pk->snk", g, X)
        b1 -= eta * cb * g.sum(axis=1)
        w2 -= eta * cw * np.einsum("sp,spn->sn", r, act(h))
        b2 -= eta * cb * r.sum(axis=1)
    return forward(Xt)[1]


@pytest.mark.parametrize("name, act, dact", [
    ("tanh", np.tanh, lambda h: 1 - np.tanh(h)**2),
    ("relu", lambda h: np.maximum(h, 0), lambda h: (h > 0).astype(float))])
def test_trained_wide_networks_agree(data, name, act, dact):
    """400 networks of width 1024 trained for 6 steps of size 0.5 (half-way: the mean is still more than 4 standard
    errors from the fully trained one): the mean and variance of their test outputs within 4 standard errors of the
    infinite-width prediction (the 1/n deviations are below the errors at this width)."""
    X, y, Xt = data
    C_W, C_b = (1.0, 0.1) if name == "tanh" else (2.0, 0.1)
    z = train_ensemble(act, dact, X, y, Xt, 1024, C_W, C_b, 0.5, 6, 400)
    th = srg.trained_output(name, X, y, Xt, L=2, C_W=C_W, C_b=C_b, lambda_b=C_b, lambda_W=C_W, time=3.0,
                            learning_rate=0.5)
    S = z.shape[0]
    mean_se = z.std(axis=0, ddof=1) / np.sqrt(S)
    assert np.all(np.abs(z.mean(axis=0) - th.mean) < 4 * mean_se)
    var = z.var(axis=0, ddof=1)
    var_se = var * np.sqrt(2 / (S - 1))                                      # Gaussian outputs
    assert np.all(np.abs(var - th.variance) < 4 * var_se)
    assert np.max(np.abs(th.mean - srg.trained_output(name, X, y, Xt, L=2, C_W=C_W, C_b=C_b, lambda_b=C_b,
                                                        lambda_W=C_W).mean)) > 4 * mean_se.max()    # not yet converged


def test_cli_train():
    r = run_cli("train", "tanh", "--depth", "3", "--C_W", "1", "--C_b", "0.1", "--data", "teacher", "--P", "30",
                "--time", "2", "--learning-rate", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["steps"] == 4 and out["test_error"] == pytest.approx(out["bias"] + out["variance"])
    assert len(out["mean"]) == len(out["output_variance"]) > 0
    r = run_cli("train", "tanh", "--depth", "3", "--C_W", "1", "--data", "teacher", "--time", "1", "--learning-rate",
                "0.3")
    assert r.returncode == 2 and "whole number of steps" in r.stderr
