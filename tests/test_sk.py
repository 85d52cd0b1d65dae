"""Sherrington-Kirkpatrick model with k-step RSB: derivation, the n -> 0 selection rule, known values.

Reference values: RS and the q0 = 0 1RSB point at T = 0.5 / 0.3 and the q0 = 0 1RSB ground state are those of the
project's issue 41; the q0-free 1RSB and 2RSB values, and phi_FRSB(T = 0.5) = 1.58235514987 +- 1e-11, come from
numeric/sk_parisi_frsb.py, an independent code (trapezoid recursion on its own grid with an adjoint gradient and
L-BFGS-B; its accuracy measured by halving its grid and by nested adaptive quadrature, better than 1e-12), which
one test also runs.
"""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from symbolic_rg.errors import ParameterError
from symbolic_rg.replica.selection import BREAKPOINT, OVERLAP
from symbolic_rg.replica.sk import integrate_constants, beta, sk
from symbolic_rg.replica.sk_solver import newton


def by_q0(solution, zero):
    """The genuine 1RSB / 2RSB stationary point with q0 = 0 (zero=True) or q0 > 0."""
    points = [p for p in solution.solutions if p.steps == solution.k and (p.q[0] < 1e-9) == zero]
    assert len(points) == 1
    return points[0]


def test_rs_rejects_the_paramagnet_below_tc():
    solver = sk(0).compile()
    for T, q, phi in ((0.5, 0.5303684, 1.5847859), (0.3, 0.7332828, 2.5863146)):
        sol = solver.solve(T)
        b = 1 / T
        np.testing.assert_allclose([sol.q[0], sol.free_entropy], [q, phi], atol=1e-7)
        para = [p for p in sol.solutions if p.q[0] == 0]
        assert len(para) == 1 and para[0].free_entropy == pytest.approx(math.log(2) + b * b / 4, abs=1e-12)
        assert para[0].free_entropy > sol.free_entropy                 # the larger free entropy is rejected
        assert max(para[0].longitudinal) > 0 > max(sol.physical.longitudinal)   # and is not a minimum over q
        np.testing.assert_allclose(sol.energy, -b * (1 - sol.q[0] ** 2) / 2, atol=1e-12)   # e_RS in closed form
        np.testing.assert_allclose(sol.entropy, sol.free_entropy + b * sol.energy, atol=1e-14)
        assert sol.physical.replicon > 0 and sol.quadrature_error < 1e-12      # de Almeida-Thouless: RS unstable
    hot = solver.solve(1.5)
    assert hot.q[0] == 0 and hot.physical.replicon == pytest.approx(1 / 1.5 ** 2 - 1)


def test_1rsb_both_stationary_points_and_the_rule():
    solver = sk(1).compile()
    sol = solver.solve(0.5)
    zero, free = by_q0(sol, True), by_q0(sol, False)
    np.testing.assert_allclose([zero.q[1], zero.m[0], zero.free_entropy, zero.energy],
                               [0.6013214, 0.2042430, 1.5826096, -0.7122643], atol=1e-7)
    np.testing.assert_allclose([free.q[0], free.q[1], free.m[0], free.free_entropy],
                               [0.2146311, 0.6192009, 0.2818426, 1.5824176848], atol=1e-7)
    assert sol.physical is free and free.residual < 1e-10 and zero.residual < 1e-10
    assert max(free.longitudinal) < 0 < max(zero.longitudinal)        # q0 = 0 is a saddle in the q0 direction
    assert sol.free_entropy < sol.lower.free_entropy                     # below RS (Guerra)
    assert "warning" not in sol.as_dict()
    near = solver.solve(0.99).as_dict()          # 1RSB 4e-12 below RS near T_c: not resolved, and said so
    assert near["steps"] == 0 and "warning" in near
    low = by_q0(solver.solve(0.3), True)
    np.testing.assert_allclose([low.q[1], low.m[0], low.free_entropy], [0.8128102, 0.1705615, 2.5676290], atol=1e-7)


def test_energy_is_minus_the_beta_derivative_along_the_branch():
    solver = sk(1).compile()
    h = 1e-4
    phi = [by_q0(solver.solve(1 / (2 + s * h)), False).free_entropy for s in (-1, 1)]
    np.testing.assert_allclose(-(phi[1] - phi[0]) / (2 * h), solver.solve(0.5).energy, atol=1e-7)


def test_2rsb_orders_the_free_entropies_above_full_rsb():
    sol = sk(2).compile().solve(0.5)
    zero, free = by_q0(sol, True), by_q0(sol, False)
    np.testing.assert_allclose(free.q + free.m, [0.1333416, 0.4020701, 0.6307297, 0.1767646, 0.3551811], atol=2e-7)
    np.testing.assert_allclose(zero.q + zero.m, [0, 0.3332788, 0.6269332, 0.1114519, 0.3269795], atol=2e-7)
    np.testing.assert_allclose([zero.free_entropy, free.free_entropy], [1.5823764388, 1.5823642818], atol=1e-9)
    assert sol.physical is free
    rs, one = sol.lower.lower.free_entropy, sol.lower.free_entropy
    assert rs > one > sol.free_entropy > 1.58235514987                  # phi_RS > phi_1RSB > phi_2RSB > phi_FRSB
    payload = sol.as_dict()
    assert len(payload["q"]) == 3 and len(payload["m"]) == 2 and payload["rs"]["q"] == list(sol.lower.lower.q)


def test_ground_states():
    assert sk(0).compile().ground_state().energy == pytest.approx(-math.sqrt(2 / math.pi), abs=1e-15)
    one = sk(1).compile().ground_state()
    zero = [p for p in one.solutions if p.steps == 1 and p.q[0] == 0][0]
    np.testing.assert_allclose([zero.energy, zero.m[0]], [-0.768828, 0.817264], atol=1e-6)
    assert one.energy > zero.energy and one.q[0] > 0                     # q0 > 0: the larger e0, the smaller -e0
    two = sk(2).compile().ground_state()
    assert one.energy < two.energy < -0.763166                         # 1RSB < 2RSB < full RSB (Crisanti-Rizzo)
    # the symbolic T -> 0 limit against the finite-temperature solutions: e(T) -> e_0 (a finer grid at T = 0.1, where
    # the singularities of ln cosh(beta h) come within pi / (2 beta) of the real axis)
    gap = [abs(by_q0(sk(1).compile(grid=g).solve(T), False).energy - one.energy)
           for T, g in ((0.2, 0.05), (0.1, 0.025))]
    assert gap[1] < gap[0] / 3 < 0.002


def test_rsb_reduces_to_rs_symbolically():
    t1, t0 = sk(1), sk(0)
    q0, q1 = t1.q
    z0, z1 = t1.ansatz.z
    same = sp.expand_log(sp.powsimp(integrate_constants(t1.free_entropy.subs(q1, q0)), force=True), force=True)
    assert sp.simplify(same - t0.free_entropy) == 0                     # q1 = q0
    d = sp.Symbol("d", positive=True)
    one = t1.free_entropy.subs(t1.m[0], 1).subs(q1, q0 + d)            # m = 1: the inner Gaussian integral closes
    inner = [e for e in one.atoms(sp.Integral) if e.limits[0][0] == z1][0]
    closed = 2 * sp.cosh(beta * sp.sqrt(q0) * z0) * sp.exp(beta ** 2 * d / 2)
    assert sp.simplify((sp.integrate(inner.function.rewrite(sp.exp), inner.limits[0]) - closed).rewrite(sp.exp)) == 0

    def linear(e):
        return sp.Add(*[sp.Integral(t, *e.limits)
                        for t in sp.Add.make_args(sp.expand(sp.expand_log(e.function, force=True)))])
    one = integrate_constants(one.xreplace({inner: closed}).replace(lambda e: isinstance(e, sp.Integral), linear))
    rs = integrate_constants(t0.free_entropy.replace(lambda e: isinstance(e, sp.Integral), linear))
    assert sp.simplify(one - rs) == 0
    assert t1.order_parameter_kinds == (OVERLAP, OVERLAP, BREAKPOINT)


def test_recursion_gradient_against_the_symbolic_equations_in_mpmath():
    """The compiled recursion's phi, gradient and energy at a non-stationary 1RSB point against the derived
    expressions (differentiated under the integral sign) by mpmath quadrature at 30 digits."""
    t = sk(1)
    q0, q1 = t.q
    m = t.m[0]
    T, point = 0.6, {q0: 0, q1: sp.Rational(1, 2), m: sp.Rational(3, 10)}
    solver = t.compile()
    phi, g, dbeta = solver.gradient(np.array([0.0, 0.5, 0.3]), T)      # u = (v0, v1, m), q1 = v0 + v1
    exprs = [t.free_entropy, sp.diff(t.free_entropy, q1), sp.diff(t.free_entropy, m), -t.energy]
    values = []
    for e in exprs:
        e = integrate_constants(e.subs(point))
        values.append(float(sp.lambdify(beta, e, "mpmath")(1 / sp.Float(T, 30))))
    np.testing.assert_allclose([phi, g[1], g[2], dbeta], values, atol=1e-12)
    rs = sk(0)
    np.testing.assert_allclose(float(rs.mp_free_entropy([0.5303683920508085], 0.5, 30)),
                               rs.compile().solve(0.5).free_entropy, atol=1e-13)


def test_cli_sk():
    run = lambda *a: subprocess.run([sys.executable, "-m", "symbolic_rg", "solve", "sk", *a], capture_output=True,
                                    text=True)
    out = run("--temperature", "0.5", "--ansatz", "1rsb", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert len(d["q"]) == 2 and isinstance(d["m"], float) and "Guerra" in d["rule"]
    assert {"free_entropy", "energy", "entropy", "rs", "solutions"} <= set(d)
    np.testing.assert_allclose(d["rs"]["q"], [0.5303684], atol=1e-7)
    bad = run("--temperature", "-1")
    assert bad.returncode == 2 and "temperature" in bad.stderr and "Traceback" not in bad.stderr
    bad = run("--temperature", "0.5", "--width", "10")
    assert bad.returncode == 2 and "--width" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "symbolic_rg", "solve", "deep-perceptron", "--depth", "2", "--alpha",
                          "1", "--ansatz", "2rsb"], capture_output=True, text=True)
    assert bad.returncode == 2 and "deep-perceptron takes --ansatz rs|1rsb" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "symbolic_rg", "solve", "deep-linear", "--depth", "2", "--T", "0.1",
                          "--data", "teacher", "--ansatz", "1rsb"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--ansatz applies to sk and deep-perceptron" in bad.stderr
    assert "Traceback" not in bad.stderr
    with pytest.raises(ParameterError, match="temperature"):
        sk(0).compile().solve(float("nan"))
    with pytest.raises(ParameterError, match="k"):
        sk(-1)


def test_agrees_with_an_independent_code_across_temperatures():
    """numeric/sk_parisi_frsb.py minimizes the same k-step functional with its own recursion (trapezoid in h with an
    asymptotic continuation, adjoint gradient, L-BFGS-B from its own starts): the engine's selected point is the
    k-step minimum at every temperature, also near T_c where the q0 = 0 point and RS lie within 1e-5."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "numeric" / "sk_parisi_frsb.py"
    spec = importlib.util.spec_from_file_location("sk_parisi_frsb", path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    for T in (0.7, 0.8):
        b = 1 / T
        minima = ref.ladder(b, [1, 2], True, 0.05, 4 + 2.5 * b)
        for k in (1, 2):
            sol = sk(k).compile().solve(T)
            assert sol.physical.steps == k and max(sol.physical.longitudinal) < 0
            np.testing.assert_allclose(sol.free_entropy, minima[k]["phi"], atol=1e-11)
            np.testing.assert_allclose(sol.q, [minima[k]["q0"], *minima[k]["q"]], atol=1e-6)
            np.testing.assert_allclose(sol.m, minima[k]["m"], atol=1e-6)


def test_recursion_gradient_against_differences():
    """Every component of the recursion's gradient (q0 > 0 on the outer trapezoid level, a level narrower than the
    grid on the Gauss-Hermite path, the beta derivative, and the zero-temperature gradient with v_k = 1 - q_{k-1})
    against central differences of its value."""
    h = 1e-5

    def check(f, u):
        value, g = f(u)[:2]
        fd = [(f(u + h * e)[0] - f(u - h * e)[0]) / (2 * h) for e in np.eye(u.size)]
        np.testing.assert_allclose(g, fd, atol=1e-8)
    two = sk(2).compile()
    check(lambda u: two.gradient(u, 0.6), np.array([0.15, 0.2, 0.001, 0.2, 0.45]))     # sqrt(0.001) < 1.5 grid
    check(lambda u: two.gradient(u, 0.6), np.array([0.15, 0.2, 0.15, 0.2, 0.45]))
    phi = lambda T: two.gradient(np.array([0.15, 0.2, 0.15, 0.2, 0.45]), T)
    np.testing.assert_allclose(phi(0.6)[2], (phi(1 / (1 / 0.6 + h))[0] - phi(1 / (1 / 0.6 - h))[0]) / (2 * h),
                               atol=1e-8)
    check(sk(1).compile().ground_gradient, np.array([0.3, 1.2]))
    check(two.ground_gradient, np.array([0.3, 0.4, 0.8, 2.5]))


def test_latex_regenerated_and_compiles(tmp_path):
    import pathlib
    import shutil
    root = pathlib.Path(__file__).resolve().parents[1]
    out = tmp_path / "sk.tex"
    subprocess.run([sys.executable, str(root / "derivations" / "sk.py"), "--ansatz", "1rsb", "--out", str(out)],
                   check=True)
    assert out.read_text() == (root / "derivations" / "sk_1rsb.tex").read_text()
    assert r"\int Dz_{0}" in out.read_text() and r"\frac{\partial" not in out.read_text()
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "sk.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


def test_sweep_is_the_solves_and_follows_the_protocol():
    """A temperature sweep returns, point by point, what separate solves return (RS: T = 0.5 below T_c, 1.5 above)."""
    from symbolic_rg.protocol import Iteration, Solution, Solver
    solver = sk(0).compile()
    assert isinstance(solver, Solver)
    sweep = solver.sweep([0.5, 1.5])
    assert len(sweep) == 2 and sweep.converged.all() and np.all(sweep.residual < 1e-10)
    for i, T in enumerate([0.5, 1.5]):
        one = solver.solve(T)
        assert isinstance(one, Solution)
        np.testing.assert_allclose(sweep.order_parameters[i], one.order_parameters, rtol=0, atol=1e-14)
    assert sweep.order_parameters[1][0] == 0.0 < sweep.order_parameters[0][0]     # paramagnet above T_c only
    json.dumps(sweep.as_dict())
    with pytest.raises(ParameterError, match="precision must be None"):
        sk(0).compile(precision=30)
    r = newton(lambda u: (-(u[0] - 0.3) ** 2, np.array([-2 * (u[0] - 0.3)])), [0.9], np.array([0.0]), np.array([1.0]))
    assert isinstance(r, Iteration) and r.converged and abs(r.root[0] - 0.3) < 1e-12 and r.residual < 1e-11
