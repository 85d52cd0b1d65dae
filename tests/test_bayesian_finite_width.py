"""Bayesian inference at finite width (PDLT ch. 6): the first-order conditioning of a nearly-Gaussian vector against
an exact Gaussian scale mixture (error ~ eps^2), and the 1/n posterior of a deep linear network against its exact
finite-width posterior (error ~ 1/n^2 while the GP's is ~ 1/n: 3.9e-4 -> 9.5e-5 at n = 50 -> 100, the GP's
1.7e-2 -> 8.7e-3)."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import symbolic_rg as srg
from symbolic_rg.errors import ParameterError
from symbolic_rg.pdlt import bayesian_posterior, nearly_gaussian_conditional


def scale_mixture(S, y, T, eps):
    """E and Var of the last variable given the others + noise, for z = sqrt(s) g, g ~ N(0, S), s ~ Gamma(mean 1,
    variance eps) (fourth cumulant eps (S S + S S + S S)), by quadrature over s."""
    P = S.shape[0] - 1
    k = 1 / eps
    s = np.linspace(1e-4, 1 + 40 * np.sqrt(eps), 200001)
    lam, U = np.linalg.eigh(S[:P, :P])
    yt, Suv = U.T @ y, S[P, :P] @ U
    d = s[:, None] * lam + T
    logw = (k - 1) * np.log(s) - k * s - 0.5 * np.sum(np.log(d), 1) - 0.5 * np.sum(yt**2 / d, 1)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    m = s * np.sum(Suv * yt / d, 1)
    v = s * S[P, P] - s * s * np.sum(Suv**2 / d, 1)
    M = np.sum(w * m)
    return M, np.sum(w * (v + m**2)) - M**2


def test_conditioning_against_scale_mixture():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((5, 5))
    S = A @ A.T / 5 + 0.2 * np.eye(5)
    y, T = rng.standard_normal(4), 0.1
    errors = []
    for eps in (0.01, 0.005):
        kappa = eps * (np.einsum("ab,cd->abcd", S, S) + np.einsum("ac,bd->abcd", S, S) + np.einsum("ad,bc->abcd", S, S))
        exact = np.array(scale_mixture(S, y, T, eps))
        first = np.array(nearly_gaussian_conditional(S, kappa, y, T))
        gauss = np.array(nearly_gaussian_conditional(S, 0 * kappa, y, T))
        assert np.all(np.abs(first - exact) < 0.1 * np.abs(gauss - exact))      # the correction is the O(eps) part
        errors.append(np.abs(first - exact))
    assert np.all(errors[1] < 0.3 * errors[0])                                   # the rest is O(eps^2)


def test_deep_linear_against_exact_finite_width_posterior():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3, 4))                  # P = 3, one test input: V over four inputs (one quadruple)
    y = X @ rng.standard_normal(4) / 2 + 0.1 * rng.standard_normal(3)
    Xt = rng.standard_normal((1, 4))
    exact = srg.derive(srg.deep_linear(1)).compile(method="exact")
    err, err_gp = [], []
    for N in (50, 100):
        m, v = exact.solve(X, y, width=N, sigma2=1.3, T=0.05).predict(Xt)
        b = bayesian_posterior("linear", X, y, Xt, 2, N, C_W=1.3, T=0.05)
        err.append(max(np.max(np.abs(m - b.mean)), np.max(np.abs(v - b.variance))))
        err_gp.append(max(np.max(np.abs(m - b.mean_gp)), np.max(np.abs(v - b.variance_gp))))
    assert err[1] < 0.3 * err[0] and err_gp[1] > 0.4 * err_gp[0]              # 1/n^2 against 1/n
    assert err[1] < 0.02 * err_gp[1]
    assert_allclose(b.width, 100.0)
    with pytest.raises(ParameterError, match="X_test has 3 features"):
        bayesian_posterior("linear", X, y, Xt[:, :3], 2, 50, C_W=1.3)
