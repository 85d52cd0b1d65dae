"""One hidden layer of any activation (Gaussian equivalence, Pacelli et al. 2023): the saddle point against an
independent implementation with the closed-form erf kernel, the GP limit, the reductions to the linear and ReLU
networks, the tanh input kernel against two-dimensional Gauss-Hermite quadrature, the errors, the CLI, and (slow)
the real network sampled by MALA."""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

import symbolic_rg as srg
from conftest import run_cli
from symbolic_rg.data import teacher
from symbolic_rg.errors import ParameterError
from symbolic_rg.simulate import mala_network


@pytest.fixture(scope="module")
def data():
    return teacher(P=40, N0=15, P_test=50, noise=0.1, seed=7)


@pytest.fixture(scope="module")
def erf_solver():
    return srg.derive(srg.deep_nonlinear(1, "erf")).compile()


def erf_kernel(A, B, s2):
    """<erf(h) erf(h')> for h ~ N(0, s2 x.x'/N_0) (Williams 1997), rows of A against rows of B."""
    N0 = A.shape[1]
    cab = s2 * A @ B.T / N0
    ca, cb = s2 * np.sum(A**2, 1) / N0, s2 * np.sum(B**2, 1) / N0
    return 2 / np.pi * np.arcsin(2 * cab / np.sqrt(np.outer(1 + 2 * ca, 1 + 2 * cb)))


def independent_u(K, y, N, sa2, T):
    r"""Root of dS/du for S = N/2 (u/sa2 - ln u) + 1/2 y^T (uK + T)^-1 y + 1/2 ln det(uK + T), by bisection in ln u."""
    lam, V = np.linalg.eigh(K)
    yk = V.T @ y
    grad = lambda u: N / 2 * (1 / sa2 - 1 / u) - 0.5 * np.sum(yk**2 * lam / (u * lam + T)**2) \
        + 0.5 * np.sum(lam / (u * lam + T))
    lo, hi = -20.0, 20.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if grad(np.exp(mid)) < 0 else (lo, mid)
    return np.exp(0.5 * (lo + hi))


def gp_prediction(K, Kt, ktt, y, T):
    A = K + T * np.eye(len(y))
    return Kt @ np.linalg.solve(A, y), ktt - np.sum(Kt * np.linalg.solve(A, Kt.T).T, axis=1)


@pytest.mark.parametrize("N, s1, sa, T", [(20, 1.7, 0.8, 0.05), (200, 0.5, 1.3, 0.01)])
def test_erf_saddle_point_against_independent_action(data, erf_solver, N, s1, sa, T):
    X, y, Xt = data.X_train, data.y_train, data.X_test
    sol = erf_solver.solve(X, y, width=N, sigma2=[s1, sa], T=T)
    K = erf_kernel(X, X, s1)
    u = independent_u(K, y, N, sa, T)
    assert_allclose(sol.order_parameters[0], u, rtol=1e-10)
    mean, var = gp_prediction(u * K, u * erf_kernel(Xt, X, s1), u * np.diag(erf_kernel(Xt, Xt, s1)), y, T)
    m, v = sol.predict(Xt)
    assert_allclose(m, mean, rtol=1e-9, atol=1e-11)
    assert_allclose(v, var, rtol=1e-9, atol=1e-11)
    # the hidden layer's mean kernel: its prior value Phi(s1 C) plus the data's pull, which vanishes as N grows
    K1 = sol.layer_kernels()[0]
    assert K1.shape == (40, 40) and np.all(np.isfinite(K1))


def test_erf_infinite_width_is_gp_regression(data, erf_solver):
    X, y, Xt = data.X_train, data.y_train, data.X_test
    s1, sa, T = 2.0, 0.7, 0.02
    sol = erf_solver.solve(X, y, width=np.inf, sigma2=[s1, sa], T=T)
    assert_allclose(sol.order_parameters, [sa], rtol=1e-14)
    mean, var = gp_prediction(sa * erf_kernel(X, X, s1), sa * erf_kernel(Xt, X, s1),
                              sa * np.diag(erf_kernel(Xt, Xt, s1)), y, T)
    m, v = sol.predict(Xt)
    assert_allclose(m, mean, rtol=1e-10, atol=1e-12)
    assert_allclose(v, var, rtol=1e-10, atol=1e-12)
    # the GP Gram of the hidden layer is the prior kernel itself
    assert_allclose(np.diag(sol.layer_kernels()[0])[:5], np.diag(erf_kernel(X, X, s1))[:5], rtol=1e-10)


def test_linear_activation_reduces_to_deep_linear(data):
    X, y, Xt = data.X_train, data.y_train, data.X_test
    lin = srg.derive(srg.deep_linear(1)).compile().solve(X, y, width=30, sigma2=[1.8, 0.6], T=0.03)
    phi = srg.derive(srg.deep_nonlinear(1, "linear")).compile().solve(X, y, width=30, sigma2=[1.8, 0.6], T=0.03)
    assert_allclose(phi.order_parameters, lin.order_parameters, rtol=1e-12)
    for a, b in zip(phi.predict(Xt), lin.predict(Xt)):
        assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_relu_kernel_scales_with_the_first_prior(data):
    """ReLU (positively homogeneous): Phi(s1 C) = s1 Phi(C), so the one Gram serves every sigma_1^2; checked against
    the arc-cosine kernel at sigma_1^2 = 2.5."""
    X, y = data.X_train, data.y_train
    s1, sa, T, N = 2.5, 1.0, 0.05, 50
    sol = srg.derive(srg.deep_nonlinear(1, "relu")).compile().solve(X, y, width=N, sigma2=[s1, sa], T=T)
    C = s1 * X @ X.T / X.shape[1]
    d = np.sqrt(np.diag(C))
    cos = np.clip(C / np.outer(d, d), -1, 1)
    K = np.outer(d, d) / (2 * np.pi) * (np.sqrt(1 - cos**2) + (np.pi - np.arccos(cos)) * cos)
    assert_allclose(sol.order_parameters[0], independent_u(K, y, N, sa, T), rtol=1e-10)


def test_tanh_input_kernel_against_gauss_hermite(data):
    """<tanh(h) tanh(h')> on pairs of inputs: the engine's quadrature against a 2-D Gauss-Hermite rule (120 nodes)."""
    X = data.X_train[:6]
    s1 = 1.3
    ker = srg.pdlt.NNGPInputKernel("tanh", 1)
    ours = s1 * ker.gram(X, sigma2_1=s1)
    t, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / np.sqrt(2 * np.pi)
    C = s1 * X @ X.T / X.shape[1]
    ref = np.empty_like(C)
    for i in range(6):
        for j in range(6):
            a = np.sqrt(C[i, i])
            b = C[i, j] / a
            c = np.sqrt(max(C[j, j] - b * b, 0.0))
            h1 = a * t[:, None]
            h2 = b * t[:, None] + c * t[None, :]
            ref[i, j] = np.sum(w[:, None] * w[None, :] * np.tanh(h1) * np.tanh(h2))
    assert_allclose(ours, ref, rtol=1e-9, atol=1e-11)
    assert ker.depends_on_sigma and not srg.pdlt.NNGPInputKernel("relu", 2).depends_on_sigma


def test_errors_name_the_parameter(data, erf_solver):
    with pytest.raises(ParameterError, match="depth must be 1 for activation 'erf'"):
        srg.deep_nonlinear(2, "erf")
    with pytest.raises(ParameterError, match="sigma2 of the first layer must be one value"):
        erf_solver.sweep(data.X_train, data.y_train, width=50, sigma2=[np.array([1.0, 2.0]), 1.0], T=0.1)
    with pytest.raises(ParameterError, match="method='exact'"):
        srg.derive(srg.deep_nonlinear(1, "erf")).compile(method="exact")
    # a sweep over the other parameters works and equals single solves
    sw = erf_solver.sweep(data.X_train, data.y_train, width=50, sigma2=[1.5, 1.0], T=np.array([0.01, 0.1]))
    one = erf_solver.solve(data.X_train, data.y_train, width=50, sigma2=[1.5, 1.0], T=0.1)
    assert_allclose(sw.order_parameters[1], one.order_parameters, rtol=1e-10)


def test_cli_solve_nonlinear():
    r = run_cli("solve", "nonlinear", "--activation", "erf", "--depth", "1", "--width", "80", "--sigma2", "1.5",
                "--T", "0.05", "--data", "teacher", "--P", "40", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("kernel_scale", "generalization_error", "bias", "variance", "order_parameters", "layer_kernel_traces"):
        assert key in out
    assert out["converged"] and out["generalization_error"] == pytest.approx(out["bias"] + out["variance"])
    r = run_cli("solve", "nonlinear", "--depth", "1", "--width", "80", "--T", "0.05", "--data", "teacher")
    assert r.returncode == 2 and "--activation" in r.stderr


@pytest.mark.slow
def test_erf_network_sampled_agrees_with_theory():
    """MALA of the real erf network (teacher N_0 = 10, P = 20, N = 300, T = 0.1; the seed and settings of that row of
    numeric/nonlinear_study.py): bias, variance and hidden-kernel trace within 4 standard errors of the saddle
    point, and the bias resolved from the GP's by more than 2 of them (3.2 in the study)."""
    d = teacher(P=20, N0=10, P_test=100, noise=0.1, seed=3)
    s = mala_network(d.X_train, d.y_train, d.X_test, [300], "erf", sigma2=1.0, T=0.1, samples=2000, burn_in=4000,
                     thin=10, seed=21)
    ge, se = s.generalization_error(d.y_test)
    solver = srg.derive(srg.deep_nonlinear(1, "erf")).compile()
    sol = solver.solve(d.X_train, d.y_train, width=300, sigma2=1.0, T=0.1)
    eg = sol.generalization_error(d.X_test, d.y_test)
    gp = solver.solve(d.X_train, d.y_train, width=np.inf, sigma2=1.0, T=0.1).generalization_error(d.X_test, d.y_test)
    assert abs(eg.bias - ge.bias) < 4 * se.bias
    assert abs(eg.variance - ge.variance) < 4 * se.variance
    assert abs(gp.bias - ge.bias) > 2 * se.bias
    trace, trace_se = np.trace(s.layer_kernels[0]) / 20, np.sum(np.diag(s.layer_kernels_stderr[0])) / 20
    assert abs(np.trace(sol.layer_kernels()[0]) / 20 - trace) < 4 * trace_se


def test_derivation_file_is_regenerated_identically(tmp_path):
    root = pathlib.Path(__file__).resolve().parents[1]
    out = tmp_path / "nonlinear_erf.tex"
    subprocess.run([sys.executable, str(root / "derivations" / "nonlinear.py"), "--out", str(out)], check=True)
    assert out.read_text() == (root / "derivations" / "nonlinear_erf.tex").read_text()
    assert r"K_0 = \Phi(\sigma_1^2XX^\top/N_0)" in out.read_text()
