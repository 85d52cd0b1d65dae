"""Convolutional networks (issue 38): patches, the local kernel renormalization's reductions, its Gaussian-process
limit against independently written kernels, and the saddle point against exact Gibbs sampling of real networks."""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

import symbolic_rg as srg
from symbolic_rg.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_patches_geometry():
    p = srg.Patches.of((4, 5), (2, 3), (1, 2))
    assert (p.grid, p.count, p.size) == ((3, 2), 6, 6)
    X = np.arange(20.0)[None]
    assert_allclose(p.extract(X)[0, 3], [7, 8, 9, 12, 13, 14])       # row 1, column 1 of the grid
    assert_allclose(srg.Patches.of((7,), 3, 2).indices(), [[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    with pytest.raises(srg.ParameterError, match="filter size must be at most the input size 8 on axis 0, got 9"):
        srg.Patches.of((8, 8), 9)
    with pytest.raises(srg.ParameterError, match="stride must be an integer >= 1, got 0"):
        srg.Patches.of((8,), 2, 0)
    with pytest.raises(srg.ParameterError, match="X has 61 features but the convolution reads inputs of shape"):
        p.extract(np.zeros((2, 61)))


def _data(N0=12, P=30, seed=0):
    rng = np.random.default_rng(seed)
    X, Xt = rng.standard_normal((P, N0)), rng.standard_normal((20, N0))
    w = rng.standard_normal(N0)
    return X, np.tanh(X @ w / np.sqrt(N0)), Xt, np.tanh(Xt @ w / np.sqrt(N0))


@pytest.mark.parametrize("activation, pooled", [("linear", False), ("linear", True), ("relu", False), ("erf", True)])
def test_one_patch_covering_the_input_is_the_fully_connected_network(activation, pooled):
    """Filter = input: one position, K_11 = the input kernel, V_1 (1 x 1) = u_1; with pooling the same."""
    X, y, Xt, yt = _data()
    conv = srg.derive(srg.cnn((12,), 12, activation=activation, pooled=pooled)).compile()
    fc = srg.derive(srg.deep_nonlinear(1, activation) if activation != "linear" else srg.deep_linear(1)).compile()
    for N, T, s2 in [(5, 0.05, 1.0), (40, 0.3, [0.7, 1.3])]:
        a = conv.solve(X, y, N, T=T, sigma2=s2, tol=1e-12)
        b = fc.solve(X, y, width=N, T=T, sigma2=s2)
        assert a.converged and b.converged
        assert_allclose(a.kernel_scale, b.kernel_scale, rtol=1e-10)
        assert_allclose(a.predict(Xt), b.predict(Xt), rtol=1e-10, atol=1e-12)
        assert_allclose(tuple(a.generalization_error(Xt, yt)), tuple(b.generalization_error(Xt, yt)), rtol=1e-10)


def _relu_pair(a, b, s2):
    """<relu(h) relu(h')> for (h, h') ~ N(0, s2 [[a.a, a.b], [a.b, b.b]] / M): the arc-cosine kernel, written out."""
    M = len(a)
    ka, kb, kab = s2 * a @ a / M, s2 * b @ b / M, s2 * a @ b / M
    c = np.clip(kab / np.sqrt(ka * kb), -1, 1)
    return np.sqrt(ka * kb) * (np.sqrt(1 - c**2) + (np.pi - np.arccos(c)) * c) / (2 * np.pi)


@pytest.mark.parametrize("activation, pooled", [("linear", False), ("relu", False), ("relu", True)])
def test_infinite_width_is_gp_regression_with_the_conv_kernel(activation, pooled):
    """At infinite width the predictor is GP regression with neural-tangents' Conv -> Flatten (or GlobalAvgPool)
    -> Dense NNGP kernel: s_a^2/n sum_i K_ii (pooled: s_a^2/n^2 sum_ij K_ij), K_ij written out here from the patches
    (numeric/cnn_vs_neural_tangents.py compares with neural-tangents itself)."""
    rng = np.random.default_rng(3)
    X, Xt = rng.standard_normal((15, 16)), rng.standard_normal((6, 16))
    y = rng.standard_normal(15)
    patches, s2, sa2, T = srg.Patches.of((4, 4), 2, 1), 1.7, 0.6, 0.2
    Z, Zt = patches.extract(X), patches.extract(Xt)
    n = patches.count

    def kernel(A, B):
        out = np.zeros((len(A), len(B)))
        for p, za in enumerate(A):
            for q, zb in enumerate(B):
                pairs = [(i, j) for i in range(n) for j in range(n)] if pooled else [(i, i) for i in range(n)]
                vals = [(s2 * za[i] @ zb[j] / za.shape[1] if activation == "linear" else _relu_pair(za[i], zb[j], s2))
                        for i, j in pairs]
                out[p, q] = sa2 * (np.sum(vals) / n**2 if pooled else np.mean(vals))
        return out
    K, k, kxx = kernel(Z, Z), kernel(Zt, Z), np.diag(kernel(Zt, Zt))
    mean = k @ np.linalg.solve(K + T * np.eye(15), y)
    var = kxx - np.einsum("ij,ji->i", k, np.linalg.solve(K + T * np.eye(15), k.T))
    sol = srg.derive(srg.cnn((4, 4), 2, 1, activation=activation, pooled=pooled)).compile().solve(
        X, y, np.inf, T=T, sigma2=[s2, sa2])
    assert_allclose(sol.kernel, K, rtol=1e-12)
    assert_allclose(sol.predict(Xt), (mean, var), rtol=1e-10, atol=1e-13)


def _teacher_task():
    """1-D signals, filters of 4, stride 2 (5 positions); a linear convolutional teacher weighting position 0 more."""
    rng = np.random.default_rng(1)
    patches = srg.Patches.of((12,), 4, 2)
    X, Xt = rng.standard_normal((40, 12)), rng.standard_normal((50, 12))
    w = rng.standard_normal(4)
    teach = lambda A: (patches.extract(A) @ w).sum(1) / 2 + patches.extract(A)[:, 0] @ w
    return patches, X, teach(X), Xt, teach(Xt)


@pytest.mark.parametrize("pooled", [False, True])
def test_saddle_point_against_exact_gibbs_sampling(pooled):
    """The generalization error and the predictor within 4 standard errors of the real network's posterior (exact
    blocked Gibbs, 4000 sweeps) at N = 12 and 40 channels, where the infinite-width GP is off by more; V_1 against
    the sampled readout overlap (1/(N n)) sum_c a_ci a_cj within 4 s.e. plus the saddle point's O(1/N) error (3/N)."""
    patches, X, y, Xt, yt = _teacher_task()
    solver = srg.derive(srg.cnn((12,), 4, 2, pooled=pooled)).compile()
    T = 0.01
    gp = solver.solve(X, y, np.inf, T=T).generalization_error(Xt, yt).total
    for N in (12, 40):
        sol = solver.solve(X, y, N, T=T)
        mc = srg.simulate.gibbs_conv(X, y, Xt, patches, N, 1.0, T, pooled=pooled, samples=4000, burn_in=400, seed=0)
        (eg, _, _), (se, _, _) = mc.generalization_error(yt)
        assert abs(sol.generalization_error(Xt, yt).total - eg) < 4 * se
        assert abs(gp - eg) > 4 * se                              # the test can tell the theory from the GP
        mean, _ = sol.predict(Xt)
        assert np.max(np.abs(mean - mc.mean) / mc.mean_stderr) < 4.5    # 50 test points
        V, ov, se_ov = sol.order_parameters[0], mc.diagnostics["readout_overlap"], mc.diagnostics[
            "readout_overlap_stderr"]
        assert np.all(np.abs(V - ov) < 4 * se_ov + 3 / N * np.abs(V).max())
    if not pooled:      # local renormalization: the position the teacher weights more gains weight
        assert V[0, 0] > 1.5 * np.median(np.diag(V))


def test_errors_name_the_parameter():
    X, y, _, _ = _data()
    solver = srg.derive(srg.cnn((12,), 4, 2)).compile()
    with pytest.raises(srg.ParameterError, match="width N_1 = 3 is below the dimension 5 of its order parameter V_1"):
        solver.solve(X, y, 3, T=0.1)
    with pytest.raises(srg.ParameterError, match="widths must be all finite or all inf"):
        srg.derive(srg.cnn((12,), 4, 2, depth=2)).compile().solve(X, y, [np.inf, 20], T=0.1)
    with pytest.raises(srg.ParameterError, match="gates: a convolutional network has no gates"):
        solver.solve(X, y, 10, T=0.1, gates=2)
    with pytest.raises(srg.ParameterError, match="X has 11 features but the convolution reads inputs of shape"):
        solver.solve(X[:, :11], y, 10, T=0.1)
    with pytest.raises(srg.ParameterError, match="activation"):
        srg.cnn((12,), 4, activation=3)
    with pytest.raises(srg.ParameterError, match="more than"):
        srg.derive(srg.cnn((64, 64), 2, 1, activation="relu")).compile().solve(np.zeros((20, 4096)), np.zeros(20), 4000,
                                                                               T=0.1)
    with pytest.raises(srg.ParameterError, match="pooled must be True or False, got 'no'"):
        srg.cnn((12,), 4, pooled="no")
    conv, plain = srg.cnn((12,), 4).layers[0], srg.deep_linear(1)
    with pytest.raises(srg.ParameterError, match="a Conv layer must be the first layer"):
        srg.derive(srg.Network((plain.layers[0], srg.Conv(2, conv.width, conv.sigma, conv.patches)), plain.readout))
    sol = solver.solve(X, y, 10, T=0.1)
    with pytest.raises(srg.ParameterError, match="layer_kernels"):
        sol.layer_kernels()
    gp = solver.solve(X, y, np.inf, T=0.1)               # one stationary point, no action (JSON: null)
    assert [r["branch"] for r in gp.rows()] == [0] and json.loads(json.dumps(gp.as_dict()))["action"] is None


def test_deeper_composition_conv_then_linear():
    """Conv -> Linear -> readout: V_1 over positions, V_2 scalar, and the GP limit s_a^2 s_2^2 s_1^2 / n sum_i K_ii."""
    X, y, Xt, yt = _data()
    theory = srg.derive(srg.cnn((12,), 4, 2, depth=2))
    assert [V.shape for V in theory.order_parameters] == [(5, 5), (1, 1)]
    solver = theory.compile()
    sol = solver.solve(X, y, [30, 20], T=0.1, sigma2=[1.2, 0.8, 1.1])
    assert sol.converged and sol.order_parameters[0].shape == (5, 5)
    gp = solver.solve(X, y, np.inf, T=0.1, sigma2=[1.2, 0.8, 1.1])
    Z = srg.Patches.of((12,), 4, 2).extract(X)
    K = 1.2 * 0.8 * 1.1 * np.einsum("pik,qik->pq", Z, Z) / (4 * 5)
    assert_allclose(gp.kernel, K, rtol=1e-12)
    assert abs(sol.generalization_error(Xt, yt).total - gp.generalization_error(Xt, yt).total) > 1e-4


def test_cli_solve_and_simulate_cnn(capsys):
    assert main(["solve", "cnn", "--filter", "4", "--stride", "2", "--width", "30", "--T", "0.1", "--data", "digits",
                 "--P", "60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"kernel_scale", "generalization_error", "bias", "variance"} <= set(out)
    assert out["positions"] == 9 and out["converged"]
    assert main(["simulate", "cnn", "--filter", "4", "--stride", "2", "--width", "30", "--T", "0.1", "--data",
                 "digits", "--P", "60", "--samples", "200", "--burn-in", "50", "--json"]) == 0
    mc = json.loads(capsys.readouterr().out)
    assert len(mc["diagnostics"]["readout_overlap"]) == 9
    assert main(["solve", "relu", "--filter", "4", "--depth", "1", "--width", "3", "--T", "0.1", "--data",
                 "digits"]) == 2
    assert "apply to cnn only" in capsys.readouterr().err


def test_derivation_script_reproduces_the_checked_in_latex(tmp_path):
    out = tmp_path / "cnn.tex"
    subprocess.run([sys.executable, str(ROOT / "derivations" / "cnn.py"), "--out", str(out)], check=True)
    assert out.read_text() == (ROOT / "derivations" / "cnn.tex").read_text()
