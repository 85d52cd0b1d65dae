"""Residual networks z' = xi z + gamma [b + W sigma(z)] (PDLT recursions): the plain network at xi = 0, gamma = 1;
the kernel and NTK against an independent NumPy recursion with erf's closed forms; the vertex of a linear network
against Cov(z_i'^2, z_k'^2) computed directly; random finite residual networks (tanh) within 4 standard errors;
the critical point and V/K^2 ~ nu L against the recursion; the three-point refusal for ReLU."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import symbolic_rg as srg
from symbolic_rg.activations import susceptibilities
from symbolic_rg.errors import ParameterError
from symbolic_rg.pdlt import depth_scaling, residual_criticality
from symbolic_rg.simulate import prior_network_statistics

X = np.array([[1.0, 0.3, -0.5], [0.2, -1.0, 0.8], [0.5, 0.5, 0.1]])


def test_plain_network_at_xi_zero():
    a = srg.kernel_recursion("tanh", X, 5, C_W=1.3, C_b=0.2)
    b = srg.kernel_recursion("tanh", X, 5, C_W=1.3, C_b=0.2, xi=0.0, gamma=1.0)
    assert_allclose(a.kernels, b.kernels, rtol=0, atol=0)
    f = srg.finite_width("tanh", X[:2], 4, 50, C_W=1.3, C_b=0.2)
    g = srg.finite_width("tanh", X[:2], 4, 50, C_W=1.3, C_b=0.2, xi=0.0, gamma=1.0)
    assert_allclose(f.vertex, g.vertex, rtol=0, atol=0)


def test_kernel_and_ntk_against_independent_erf_recursion():
    xi, gamma, C_W, C_b, lb, lw = 0.7, 0.8, 1.4, 0.1, 0.3, 0.9
    rec = srg.kernel_recursion("erf", X, 6, C_W=C_W, C_b=C_b, lambda_b=lb, lambda_W=lw, xi=xi, gamma=gamma)
    G = X @ X.T / 3
    K, T = C_b + C_W * G, lb + lw * G
    for _ in range(5):
        d = 1 + 2 * np.diag(K)
        S = 2 / np.pi * np.arcsin(2 * K / np.sqrt(np.outer(d, d)))
        D = 4 / np.pi / np.sqrt(np.outer(d, d) - 4 * K**2)
        K, T = xi**2 * K + gamma**2 * (C_b + C_W * S), xi**2 * T + gamma**2 * (lb + lw * S + C_W * D * T)
    assert_allclose(rec.kernels[-1], K, rtol=1e-12)
    assert_allclose(rec.ntk[-1], T, rtol=1e-12)


def test_linear_vertex_against_direct_covariance():
    """Linear sigma, one input: Cov(z_i'^2, z_k'^2) with z' = xi z + gamma W z gives
    V' = (xi^2 + gamma^2 C_W)^2 V + 2 K^2 (gamma^4 C_W^2 + 2 xi^2 gamma^2 C_W), K' = (xi^2 + gamma^2 C_W) K."""
    xi, gamma, C_W = 0.6, 0.9, 1.1
    fw = srg.finite_width("linear", X[:1], 6, 40, C_W=C_W, xi=xi, gamma=gamma)
    K, V = C_W * np.sum(X[0]**2) / 3, 0.0
    for l in range(1, 6):
        V = (xi**2 + gamma**2 * C_W)**2 * V + 2 * K**2 * (gamma**4 * C_W**2 + 2 * xi**2 * gamma**2 * C_W)
        K = (xi**2 + gamma**2 * C_W) * K
        assert_allclose(fw.vertex[l, 0, 0, 0, 0], V, rtol=1e-12)
        assert_allclose(fw.correction[l], 0.0, atol=1e-14)


def test_random_residual_networks_agree():
    """8000 tanh residual networks of width 128, depth 4 (xi = 0.8, gamma = 0.6): the measured kernel within 4
    standard errors of K + K1/n and every component of the connected four-point function of two inputs within 4 of
    V/n."""
    xi, gamma, C_W, C_b, n = 0.8, 0.6, 1.0, 0.1, 128
    fw = srg.finite_width("tanh", X[:2], 4, n, C_W=C_W, C_b=C_b, xi=xi, gamma=gamma)
    st = prior_network_statistics("tanh", X[:2], 4, n, C_W=C_W, C_b=C_b, networks=8000, xi=xi, gamma=gamma, seed=5)
    assert np.all(np.abs(st.kernel - fw.mean_kernel(4)) < 4 * st.kernel_stderr)
    assert np.all(np.abs(st.connected - fw.connected(4)) < 4 * st.connected_stderr)
    assert fw.connected(4)[0, 0, 0, 0] > 10 * st.connected_stderr[0, 0, 0, 0]         # resolved, not just small


def test_criticality_and_depth_scaling():
    for spec, xi, gamma in (("tanh", 0.8, 0.5), ("relu", 0.5, 1.0), ("erf", 0.3, 2.0)):
        c = residual_criticality(spec, xi, gamma)
        plain = srg.criticality(spec)
        assert_allclose([c.C_b, c.C_W], np.array([plain.C_b, plain.C_W]) * (1 - xi**2) / gamma**2, rtol=1e-14)
        K = 1.0 if np.isnan(c.K_star) else max(c.K_star, 1e-5)          # K* = 0 class: chi -> 1 as K -> 0
        sigma = srg.activation(spec)
        chi_par, chi_perp = susceptibilities(sigma, K, c.C_W)
        assert_allclose(xi**2 + gamma**2 * np.array([chi_par, chi_perp]), 1.0, atol=2e-3)
    for spec, xi in (("tanh", 0.5), ("abs", 0.9), ("linear", 0.7)):
        d = depth_scaling(spec, xi=xi)
        assert_allclose(d.nu_recursion, d.nu, rtol=2e-2)
        assert d.nu < depth_scaling(spec).nu                   # the shortcut slows the growth of V/K^2
    with pytest.raises(ParameterError, match="xi must be below 1"):
        residual_criticality("tanh", 1.0)


def test_relu_residual_vertex_refused():
    with pytest.raises(ParameterError, match="three-point function"):
        srg.finite_width("relu", X[:2], 3, 64, C_W=1.0, xi=0.5)
    srg.finite_width("relu", X[:2], 2, 64, C_W=1.0, xi=0.5)     # one residual step: no V before it, exact
