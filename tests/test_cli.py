"""The command line: derive, solve (JSON), demo, and clear errors with a non-zero exit code."""
import json

import numpy as np
import pytest

from conftest import run_cli, teacher_data


run = run_cli


def test_solve_json_on_digits():
    r = run("solve", "deep-linear", "--depth", "2", "--width", "100", "--T", "0.01", "--data", "digits",
            "--P", "150", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("order_parameters", "kernel_scale", "generalization_error", "bias", "variance",
                "converged", "iterations"):
        assert key in out
    assert out["converged"] and len(out["order_parameters"]) == 2
    assert out["generalization_error"] == pytest.approx(out["bias"] + out["variance"])
    assert out["P"] == 150


def test_solve_npz_used_as_given(tmp_path, solvers):
    X, y, Xt, yt = teacher_data()
    path = tmp_path / "d.npz"
    np.savez(path, X_train=X, y_train=y, X_test=Xt, y_test=yt)
    r = run("solve", "deep-linear", "--widths", "30,50", "--sigma2", "0.9", "--T", "0.1", "--data", str(path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    sol = solvers[2].solve(X, y, widths=[30, 50], sigma2=0.9, T=0.1)
    assert out["order_parameters"] == pytest.approx(list(sol.order_parameters), rel=1e-10)
    assert out["generalization_error"] == pytest.approx(sol.generalization_error(Xt, yt).total, rel=1e-10)


def test_derive_prints_and_writes_latex(tmp_path):
    r = run("derive", "deep-linear", "--depth", "2")
    assert r.returncode == 0 and "layer 2" in r.stdout and "u_1" in r.stdout
    out = tmp_path / "eq.tex"
    r = run("derive", "deep-linear", "--depth", "2", "--latex", str(out))
    assert r.returncode == 0 and out.read_text().startswith(r"\documentclass")


@pytest.mark.parametrize("args, message", [
    (("solve", "deep-linear", "--widths", "10,-3", "--T", "0.1", "--data", "teacher"), "--widths"),
    (("solve", "deep-linear", "--width", "0", "--depth", "2", "--T", "0.1", "--data", "teacher"), "--width"),
    (("solve", "deep-linear", "--width", "10", "--depth", "2", "--T", "-1", "--data", "teacher"), "temperature T"),
    (("solve", "deep-linear", "--width", "10", "--depth", "2", "--sigma2", "0", "--T", "1", "--data", "teacher"), "sigma_1^2"),
    (("solve", "deep-linear", "--width", "10", "--T", "1", "--data", "teacher"), "--depth"),
    (("solve", "deep-linear", "--width", "10", "--depth", "2", "--T", "1", "--data", "nope.npz"), "--data"),
    (("solve", "deep-linear", "--width", "10", "--depth", "1", "--T", "0", "--data", "digits"), "T > 0"),
    (("solve", "relu-net", "--width", "10", "--depth", "1", "--T", "1", "--data", "digits"), "invalid choice"),
    (("derive", "deep-linear", "--depth", "-2"), "--depth"),
])
def test_bad_input_exits_nonzero_without_traceback(args, message):
    r = run(*args)
    assert r.returncode != 0
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_npz(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, X_train=np.ones((3, 2)))
    r = run("solve", "deep-linear", "--width", "10", "--depth", "1", "--T", "1", "--data", str(path))
    assert r.returncode == 2 and "y_train" in r.stderr and "Traceback" not in r.stderr


def test_demo_quick(tmp_path):
    r = run("demo", "--quick", "--out", str(tmp_path / "g.png"))
    assert r.returncode == 0, r.stderr
    assert "L=4" in r.stdout and "all converged" in r.stdout
    assert (tmp_path / "g.png").exists() or "matplotlib is not installed" in r.stdout


def test_simulate_json():
    r = run("simulate", "deep-linear", "--widths", "20,20", "--T", "0.2", "--data", "teacher", "--P", "30",
            "--samples", "300", "--burn-in", "50", "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("generalization_error", "generalization_error_stderr", "bias", "variance", "diagnostics"):
        assert key in out
    assert out["generalization_error"] == pytest.approx(out["bias"] + out["variance"])
    assert out["diagnostics"]["samples"] == 300 and out["generalization_error_stderr"] > 0
    r = run("simulate", "deep-linear", "--widths", "20,20", "--T", "0.2", "--data", "teacher", "--samples", "0")
    assert r.returncode == 2 and "samples" in r.stderr and "Traceback" not in r.stderr


def test_ggdln_derive_and_solve(tmp_path):
    r = run("derive", "ggdln", "--depth", "2", "--gates", "3", "--gated-readout", "--latex", str(tmp_path / "g.tex"))
    assert r.returncode == 0, r.stderr
    assert r"\operatorname{Tr}_{3}" in (tmp_path / "g.tex").read_text()
    r = run("solve", "ggdln", "--widths", "80,60", "--gates", "2", "--T", "0.1", "--data", "digits", "--P", "60", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("order_parameters", "order_parameter_matrices", "kernel_scale", "generalization_error", "bias",
                "variance", "converged", "iterations", "stationary_points"):
        assert key in out
    assert np.shape(out["order_parameter_matrices"][0]) == (2, 2) and np.shape(out["order_parameter_matrices"][1]) == (1, 1)
    assert out["generalization_error"] == pytest.approx(out["bias"] + out["variance"])


def test_ggdln_gate_arrays_from_the_data_file(tmp_path):
    import symbolic_rg as srg
    X, y, Xt, yt = teacher_data()
    rng = np.random.default_rng(0)
    gtr, gte = (rng.random((2, len(X), 3)) > 0.3).astype(float), (rng.random((2, len(Xt), 3)) > 0.3).astype(float)
    path = tmp_path / "d.npz"
    np.savez(path, X_train=X, y_train=y, X_test=Xt, y_test=yt, gates_train=gtr, gates_test=gte)
    r = run("solve", "ggdln", "--widths", "50", "--gates", "3", "--gated-readout", "--T", "0.1", "--data", str(path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    sol = srg.derive(srg.ggdln(1, gates=3, gated_readout=True)).compile().solve(
        X, y, [50], T=0.1, gates=[srg.FixedGates(gtr[0], gte[0]), srg.FixedGates(gtr[1], gte[1])])
    assert out["generalization_error"] == pytest.approx(sol.generalization_error(Xt, yt).total, rel=1e-8)
    np.savez(path, X_train=X, y_train=y, X_test=Xt, y_test=yt, gates_train=gtr[:1], gates_test=gte[:1])
    r = run("solve", "ggdln", "--widths", "50", "--gates", "3", "--gated-readout", "--T", "0.1", "--data", str(path))
    assert r.returncode == 2 and "gates_train must have shape (2," in r.stderr


def test_ggdln_bad_options():
    r = run("solve", "ggdln", "--widths", "50", "--T", "0.1", "--data", "digits")
    assert r.returncode == 2 and "--gates" in r.stderr
    r = run("solve", "deep-linear", "--widths", "50", "--gates", "2", "--T", "0.1", "--data", "digits")
    assert r.returncode == 2 and "ggdln only" in r.stderr
    r = run("solve", "ggdln", "--widths", "50", "--gates", "0", "--T", "0.1", "--data", "digits")
    assert r.returncode == 2 and "--gates must be a positive integer" in r.stderr


def test_kernel_cli_json():
    r = run("kernel", "relu", "--depth", "3", "--C_W", "2", "--data", "teacher", "--P", "4", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    K, ntk, V = (np.array(out[k]) for k in ("kernel", "ntk", "vertex"))
    assert K.shape == ntk.shape == V.shape == (3, 4, 4)
    assert out["closed_forms"] == {"sigma sigma": True, "sigma' sigma'": True} and out["quadrature_error"] == 0
    np.testing.assert_allclose(np.diag(K[2]), np.diag(K[0]), rtol=1e-12)      # ReLU at criticality keeps norms
    np.testing.assert_allclose(np.diag(V[2]), 2 * 5 * np.diag(K[0])**2, rtol=1e-10)   # V = 5 (l-1) K^2


def test_derive_pdlt_latex(tmp_path):
    out = tmp_path / "t.tex"
    r = run("derive", "pdlt", "--activation", "gelu", "--latex", str(out))
    assert r.returncode == 0, r.stderr
    assert r"\chi_\parallel" in out.read_text() and "K^*\\neq0" in out.read_text()
    r = run("derive", "pdlt")
    assert r.returncode == 2 and "--activation" in r.stderr


def test_solve_relu_json():
    r = run("solve", "relu", "--widths", "100,200", "--sigma2", "1.0", "--T", "0.05", "--data", "teacher", "--P", "40",
            "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("order_parameters", "kernel_scale", "generalization_error", "bias", "variance", "converged",
                "layer_kernel_traces"):
        assert key in out
    assert len(out["order_parameters"]) == 2 and out["converged"]
    r = run("solve", "relu", "--depth", "2", "--width", "100", "--T", "0.05", "--data", "teacher", "--exact")
    assert r.returncode == 2 and "deep-linear only" in r.stderr
