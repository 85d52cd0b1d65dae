"""One step of replica-symmetry breaking of the deep perceptron: the derivation (RS reductions, symbolically), the
compiled nested averages (their gradient against differences, their quadrature, the RS point against the RS solver),
the rule on the RS-unstable case, the convex case, the CLI and the LaTeX."""
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from scipy import integrate, special

import symbolic_rg as srg
from symbolic_rg import protocol
from symbolic_rg.errors import ParameterError
from symbolic_rg.replica.rsb import exponential_average, same_free_entropy, smoothed_step
from symbolic_rg.replica.rsb_kernels import hidden_term, output_term
from symbolic_rg.special import H

ROOT = pathlib.Path(__file__).resolve().parents[1]


def rsb(depth):
    return srg.derive(srg.deep_perceptron(depth, "random", ansatz="1rsb"))


@pytest.mark.parametrize("depth", [1, 2])
def test_reduces_to_replica_symmetry_symbolically(depth):
    """x1 = x0 for every overlap, or m = 1 (inner integrals by the Gaussian rules): exactly the RS free entropy."""
    rs = srg.derive(srg.deep_perceptron(depth, "random")).free_entropy
    theory = rsb(depth)
    for case in ("equal levels", "m=1"):
        assert same_free_entropy(theory.reduced(case), rs), case
    assert not same_free_entropy(theory.reduced("m=1"), rs + srg.replica.alpha)          # the check can fail


def test_gaussian_rules():
    z, w, A, B, c = sp.symbols("z w A B c", real=True)
    assert smoothed_step(H(A + 2 * z), z) == H(A / sp.sqrt(5))
    assert sp.simplify(exponential_average(sp.exp(c * w + A), w) - sp.exp(c ** 2 / 2 + A)) == 0
    numeric = integrate.quad(lambda t: np.exp(-t * t / 2) / np.sqrt(2 * np.pi) * special.ndtr(-(0.3 - 1.7 * t)), -12,
                             12, epsabs=1e-14)[0]
    closed = float(smoothed_step(H(A + B * z), z).subs({A: 0.3, B: -1.7}).rewrite(sp.erfc))
    assert abs(numeric - closed) < 1e-12


def _coefficients(p1, kappa):
    s = math.sqrt(1 - p1)
    return kappa / s, -1 / s, kappa / s, 1 / s


@pytest.mark.parametrize("args,kappa", [((0.2, 0.5, 0.3, 1.2, 0.5), 0.5), ((0.05, 0.9, 0.5, 6.0, 0.3), 0.0)])
def test_hidden_average_gradient_and_quadrature(args, kappa):
    """The heat-equation gradient against central differences of the value; 8 against 16 nodes per panel."""
    xg, wg = np.polynomial.legendre.leggauss(16)
    out = hidden_term(*args, *_coefficients(args[1], kappa), xg, wg, 1.5)
    x8, w8 = np.polynomial.legendre.leggauss(8)
    assert np.max(np.abs(hidden_term(*args, *_coefficients(args[1], kappa), x8, w8, 1.5) - out)) < 1e-8
    for i in range(5):
        e = np.zeros(5)
        e[i] = 1e-5
        f = [hidden_term(*(np.array(args) + s * e), *_coefficients(args[1] + s * e[1], kappa), xg, wg, 1.5)[0]
             for s in (1, -1)]
        assert abs((f[0] - f[1]) / 2e-5 - out[1 + i]) < 2e-7, i


def test_output_average_gradient_and_limits():
    xg, wg = np.polynomial.legendre.leggauss(16)
    c, d = _coefficients(0.5, 0.5)[:2]
    out = output_term(0.2, 0.5, 0.5, c, d, xg, wg, 1.5)
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1e-5
        f = [output_term(*(np.array([0.2, 0.5, 0.5]) + s * e), *_coefficients(0.5 + s * e[1], 0.5)[:2], xg, wg,
                         1.5)[0] for s in (1, -1)]
        assert abs((f[0] - f[1]) / 2e-5 - out[1 + i]) < 2e-7
    # m = 1: E_z0 ln E_z1 H((kappa - x)/sqrt(1 - p1)) = E_z ln H((kappa - sqrt(p0) z)/sqrt(1 - p0)) (smoothed step)
    exact = integrate.quad(lambda t: np.exp(-t * t / 2) / np.sqrt(2 * np.pi)
                           * special.log_ndtr(-(0.5 - np.sqrt(0.2) * t) / np.sqrt(0.8)), -12, 12, epsabs=1e-13)[0]
    assert abs(output_term(0.2, 0.5, 1.0, c, d, xg, wg, 1.5)[0] - exact) < 1e-11


def test_convex_case_collapses_to_replica_symmetry():
    """Depth 1, kappa >= 0 (convex version space: RS exact): the RS point, embedded, equals the RS solver's free
    entropy (two independent codes), is a local minimum, and no 1RSB point lies below it."""
    theory = rsb(1)
    sol = theory.compile().solve(0.5, 0.5)
    rs = sol.rs
    assert abs(sol.free_entropy - rs.free_entropy) < 1e-10
    assert not sol.physical.breaks_symmetry and sol.physical.locally_stable
    assert np.allclose(sol.physical.Q, rs.Q[0], atol=1e-6)
    assert all(p.free_entropy >= rs.free_entropy - 1e-10 for p in sol.solutions)


def test_rs_unstable_case_breaks_symmetry_via_cli():
    """The issue's case (random, L = 2, kappa = 0.5, alpha = 0.8: the RS point is RS-unstable): two 1RSB stationary
    points, x0 = 0 (a saddle: a positive longitudinal eigenvalue) and x0 > 0 (a local minimum, selected), both
    below RS; the selected one has x1 > x0 in every layer and 0 < m < 1."""
    run = subprocess.run([sys.executable, "-m", "symbolic_rg", "solve", "deep-perceptron", "--depth", "2", "--alpha",
                          "0.8", "--kappa", "0.5", "--ansatz", "1rsb", "--json"], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["ansatz"] == "1rsb" and out["converged"] and out["residual"] < 1e-8 and out["breaks_symmetry"]
    Q, q = np.array(out["Q"]), np.array(out["q"])
    assert Q.shape == (2, 2) and q.shape == (1, 2)
    assert np.all(Q[:, 1] - Q[:, 0] > 0.1) and q[0, 1] - q[0, 0] > 0.1 and 0.2 < out["m"] < 0.5
    assert np.all(Q[:, 0] > 0.05)
    rs = out["rs"]
    assert rs["rs_stable"] is False
    assert out["free_entropy"] < rs["free_entropy"] - 1e-4
    assert max(out["longitudinal"]) < 0 and out["quadrature_error"] < 1e-8
    broken = [s for s in out["solutions"] if s["breaks_symmetry"]]
    assert len(broken) >= 2
    zero = [s for s in broken if max(np.array(s["Q"])[:, 0]) < 1e-8]
    assert zero and max(zero[0]["longitudinal"]) > 0 and zero[0]["free_entropy"] > out["free_entropy"]


def test_bad_input():
    with pytest.raises(ParameterError, match="teacher"):
        srg.deep_perceptron(2, "teacher", ansatz="1rsb")
    with pytest.raises(ParameterError, match="ansatz"):
        srg.deep_perceptron(2, "random", ansatz="2rsb")
    with pytest.raises(ParameterError, match="alpha"):
        rsb(1).compile().solve(-1.0, 0.5)
    with pytest.raises(ParameterError, match="replica-symmetric"):
        srg.replica.derive_replica(srg.deep_perceptron(1, "random", ansatz="1rsb"))
    with pytest.raises(ParameterError, match="ansatz"):
        srg.deep_perceptron(1, "random", ansatz=["rs"])
    solver = rsb(2).compile()
    good = np.array([0.1, 0.2, 0.1, 0.3, 0.1, 0.4, 0.1, 0.5, 0.5])
    assert np.isfinite(solver.evaluate(good, 0.8, 0.5)[0])
    for bad, word in ((good[:-1], "entries"), (np.where(np.arange(9) == 8, 0.0, good), "m must"),
                      (np.where(np.arange(9) == 0, 0.3, good), "Q must"), (np.where(np.arange(9) == 7, np.nan, good),
                                                                           "finite"),
                      (np.where(np.arange(9) == 3, 1.0, good), "Q must")):
        with pytest.raises(ParameterError, match=word):
            solver.evaluate(bad, 0.8, 0.5)


def test_protocol_and_latex(tmp_path):
    theory = rsb(2)
    assert isinstance(theory, protocol.Theory)
    assert isinstance(theory.compile(), protocol.Solver)
    names = [name for name, _ in theory.latex_equations()]
    assert names[0] == "free entropy" and "saddle point m_1" in names
    out = tmp_path / "dp.tex"
    subprocess.run([sys.executable, str(ROOT / "derivations" / "deep_perceptron.py"), "--depth", "2", "--scenario",
                    "random", "--ansatz", "1rsb", "--out", str(out)], check=True)
    assert out.read_text() == (ROOT / "derivations" / "deep_perceptron_L2_random_1rsb.tex").read_text()


def _reference():
    import importlib.util
    path = ROOT / "numeric" / "deep_perceptron_1rsb_reference.py"
    spec = importlib.util.spec_from_file_location("deep_perceptron_1rsb_reference", path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    return ref


def test_against_the_independent_reference():
    """numeric/deep_perceptron_1rsb_reference.py: its own derivation (written without this engine's code) evaluated by
    a brute-force trapezoid rule in all four Gaussian variables.  The layer averages agree to 1e-10; at the issue's
    point (L = 2, kappa = 0.5, alpha = 0.8) the engine's selected 1RSB point is stationary for the reference's free
    entropy too, with the same value."""
    ref = _reference()
    xg, wg = np.polynomial.legendre.leggauss(8)
    edges = [(0.0, 0.5, 0.0, 1.2, 0.5), (0.3, 0.3, 0.8, 0.8, 0.4), (0.2, 0.7, 0.3, 2.0, 0.999)]   # x0 = 0, equal, m ~ 1
    for kappa in (0.5, 0.0):
        for args in [(0.2, 0.5, 0.3, 1.2, 0.5)] + edges:
            assert abs(hidden_term(*args, *_coefficients(args[1], kappa), xg, wg, 1.5)[0]
                       - ref.hidden_term(*args, kappa)) < 1e-9, (args, kappa)
        c, d = _coefficients(0.5, kappa)[:2]
        ours = 0.5 * (output_term(0.2, 0.5, 0.5, c, d, xg, wg, 1.5)[0] + output_term(0.2, 0.5, 0.5, c, -d, xg, wg,
                                                                                    1.5)[0])
        assert abs(ours - ref.output_term(0.2, 0.5, 0.5, kappa)) < 1e-10
    solver = rsb(2).compile()
    theta = np.array([0.06889776771236, 0.21435093005465, 0.09178345827657, 0.27799697067677, 0.12583679408351,
                      0.38851953259761, 0.13432017643550, 0.42402518583770, 0.36142484234503])
    phi, grad = solver.evaluate(theta, 0.8, 0.5)
    assert np.max(np.abs(grad)) < 1e-9
    Q, q, qh = theta[:4].reshape(2, 2), theta[4:6].reshape(1, 2), theta[6:8].reshape(1, 2)   # levels per layer
    theirs = ref.pack(Q[:, 0], Q[:, 1], q[:, 0], q[:, 1], qh[:, 0], qh[:, 1], theta[8])     # theirs: level-major
    assert abs(phi - ref.free_entropy(theirs, 2, 0.8, 0.5, accuracy="coarse")) < 1e-10


def test_sweep_on_an_executor_and_from_the_cli(capsys):
    """A 1RSB sweep (independent points) gives the same result serially and on a thread pool; the CLI's sweep prints
    one JSON point per alpha with the 1RSB keys."""
    from concurrent.futures import ThreadPoolExecutor
    from symbolic_rg import cli
    solver = rsb(1).compile()
    serial = solver.sweep([0.3, 0.6], 0.5, progress=False)
    with ThreadPoolExecutor(2) as pool:
        threaded = solver.sweep([0.3, 0.6], 0.5, executor=pool, progress=False)
    assert [p.free_entropy for p in serial] == [p.free_entropy for p in threaded]
    assert isinstance(serial, protocol.Solution) and serial.converged.all()
    assert all(not p.physical.breaks_symmetry for p in serial)            # convex: RS exact
    assert cli.main(["sweep", "deep-perceptron", "--depth", "1", "--alpha", "0.3,0.6", "--kappa", "0.5", "--ansatz",
                     "1rsb", "--json"]) in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["ansatz"] == "1rsb" and len(out["points"]) == 2
    assert abs(out["points"][1]["free_entropy"] - serial[1].free_entropy) < 1e-12
    assert out["points"][0]["rs"]["free_entropy"] == pytest.approx(out["points"][0]["free_entropy"], abs=1e-10)


def test_newton_hessian_on_the_coarse_quadrature_and_the_stall_exit(monkeypatch):
    """Newton's Hessian (forward differences on 6 nodes per panel, t-table step 0.04) is the reported curvature's
    (central differences at the solver's quadrature) to 1e-3 relative: a preconditioner good enough for fast
    convergence at a quarter of the cost.  A start whose residual does not halve in STALL iterations is given up:
    with a Hessian 1000x too stiff every step shrinks the residual by 0.1 % and Newton stops after STALL + 1."""
    from symbolic_rg.replica import rsb_solver
    solver = rsb(2).compile()
    theta = np.array([0.1, 0.2, 0.1, 0.3, 0.15, 0.4, 0.2, 0.9, 0.5])
    central = solver.evaluate(theta, 0.8, 0.5, hessian=True)[2]
    coarse = solver.evaluate(theta, 0.8, 0.5, hessian=True, central=False)[2]
    assert np.max(np.abs(coarse - central)) < 1e-3 * np.max(np.abs(central))
    assert np.max(np.abs(coarse - central)) > 0                       # a different quadrature, not the same numbers

    target = np.array([0.1, 0.2, 0.1, 0.3, 0.15, 0.4, 0.2, 0.9, 0.5])

    def stiff(theta, alpha, kappa, nodes=None, hessian=False, central=True, table_step=None):
        g = theta - target
        return (0.5 * g @ g, g, 1000 * np.eye(theta.size)) if hessian else (0.5 * g @ g, g)

    monkeypatch.setattr(solver, "evaluate", stiff)          # the compiled solver is cached: patched for this test only
    r = solver.newton(target + 0.05, 0.8, 0.5)
    assert not r.converged and r.iterations == rsb_solver.STALL + 1
    monkeypatch.setattr(solver, "evaluate", lambda theta, *a, hessian=False, **k: stiff(theta, *a, **k)[:2] + (
        (np.eye(theta.size),) if hessian else ()))
    r = solver.newton(target + 0.05, 0.8, 0.5)                     # the right Hessian: one step
    assert r.converged and r.iterations <= 2
