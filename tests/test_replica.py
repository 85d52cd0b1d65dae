"""Replica theory of deep perceptron networks: derivation, special cases, solver, CLI, Monte Carlo."""
import json
import math
import pathlib
import warnings
import shutil
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import integrate, optimize, special

import symbolic_rg as srg
from symbolic_rg import replica as R
from symbolic_rg.errors import ParameterError

ROOT = pathlib.Path(__file__).resolve().parents[1]


def gardner_capacity(k):
    """Textbook: alpha_c(kappa) = 1 / int_{-kappa}^inf Dt (t + kappa)^2 (SciPy quadrature)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)     # asked for more than double precision
        return 1 / integrate.quad(lambda t: np.exp(-t * t / 2) / np.sqrt(2 * np.pi) * (t + k) ** 2, -k, np.inf,
                                  epsabs=1e-14, epsrel=1e-14)[0]


def gibbs_learning_R(alpha):
    """Textbook: R / sqrt(1-R) = (alpha/pi) int Dt exp(-R t^2/2) / H(-sqrt(R) t), solved with brentq."""
    def f(r):
        integrand = lambda t: np.exp(-t * t / 2 - r * t * t / 2 - special.log_ndtr(np.sqrt(r) * t)) / np.sqrt(2 * np.pi)
        return r / np.sqrt(1 - r) - alpha / np.pi * integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-14,
                                                                    epsrel=1e-14, limit=200)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return optimize.brentq(f, 1e-12, 1 - 1e-10, xtol=1e-15)


# --- derivation -------------------------------------------------------------------------------------------
def test_free_entropy_terms_are_derived_per_layer():
    t = srg.derive(srg.deep_perceptron(depth=3, scenario="random"))
    assert t.order_parameters == tuple(sp.Symbol(s, positive=True) for s in ("Q_1", "Q_2", "Q_3", "q_1", "q_2")) + \
        tuple(sp.Symbol("qhat_%d" % l, nonnegative=True) for l in (1, 2))
    Q = sp.Symbol("Q_1", positive=True)
    weights = [term for rule, term in t.layer_terms.items() if isinstance(rule, R.SphericalWeights)]
    # Gaussian integral over the replicated weights, conjugates eliminated: (1/2)[ln(1-Q) + Q/(1-Q)] + 1/2
    assert sp.simplify(weights[0] - (sp.log(1 - Q) / 2 + Q / (2 * (1 - Q)) + sp.Rational(1, 2))) == 0
    teacher = srg.derive(srg.deep_perceptron(depth=1, scenario="teacher"))
    (w,) = [term for rule, term in teacher.layer_terms.items() if isinstance(rule, R.SphericalWeights)]
    assert sp.simplify(w - (sp.log(1 - Q) / 2 + Q / 2 + sp.Rational(1, 2))) == 0     # Nishimori: d/dm at m = 1
    hidden = [rule for rule in t.layer_terms if isinstance(rule, R.HiddenSpins)]
    assert [h.layer for h in hidden] == [1, 2]
    integrals = [i for i in t.free_entropy.atoms(sp.Integral)]
    assert sorted(len(i.limits) for i in integrals) == [1, 2, 2]   # one Dz per output, Dz Dw per hidden layer
    assert len(t.equations_by_layer()) == 3


def test_gardner_capacity_from_general_equations():
    t = srg.derive(srg.deep_perceptron(depth=1, scenario="random"))
    ac = t.capacity()
    assert ac.subs(R.kappa, 0) == 2
    for k in (0.0, 0.5, 1.0):
        assert abs(float(ac.subs(R.kappa, k)) - gardner_capacity(k)) < 1e-8
    solver = t.compile()
    for k in (0.0, 0.5, 1.0):                 # the solved overlap approaches 1 at the capacity
        Q = [solver.solve(f * gardner_capacity(k), k).Q[0] for f in (0.9, 0.99, 0.999)]
        assert Q[0] < Q[1] < Q[2] and 1 - Q[2] < 1e-2 * (1 - Q[0]) * 1.5


def test_gibbs_learning_from_general_equations():
    solver = srg.derive(srg.deep_perceptron(depth=1, scenario="teacher")).compile()
    for a in (0.5, 2.0, 5.0, 10.0):
        sol = solver.solve(a)
        assert abs(sol.Q[0] - gibbs_learning_R(a)) < 1e-8
        assert abs(sol.generalization_error - np.arccos(sol.Q[0]) / np.pi) < 1e-14
        assert sol.quadrature_error < 1e-8
    assert 0.62 < 200 * solver.solve(200.0).generalization_error < 0.63       # alpha eps -> 0.6245...


def test_fresh_input_overlap_is_the_arcsine_law():
    t = srg.derive(srg.deep_perceptron(depth=2, scenario="teacher"))
    rho, integral = t.fresh_input_overlap
    f = sp.lambdify((rho, R.z), (integral.function).rewrite(sp.erfc), "mpmath")
    for r in (0.1, 0.5, 0.9):
        value = mpmath.quad(lambda zz: f(r, zz), [-mpmath.inf, 0, mpmath.inf])
        assert abs(value - 2 / mpmath.pi * mpmath.asin(r)) < 1e-12
    Q1, Q2 = t.Q
    eps = t.generalization_error
    for value in (0.2, 0.7):                   # depth 1 limit (Q_1 = 1): eps = arccos(Q_2)/pi
        assert abs(float(eps.subs({Q1: 1, Q2: value})) - np.arccos(value) / np.pi) < 1e-15


def _gauss_legendre_panels(a=-12.0, b=12.0, panels=24, order=20):
    """Nodes and weights of a composite Gauss-Legendre rule on [a, b] (unit panels: exact to round-off for the
    smooth Gaussian-weighted integrands here; the weight beyond 12 is below e^-60)."""
    x, w = special.roots_legendre(order)
    edges = np.linspace(a, b, panels + 1)
    half = np.diff(edges)[:, None] / 2
    return (half * (x + 1) + edges[:-1, None]).ravel(), (half * w).ravel()


def _evaluate_physics(expr, values):
    """An expression with Gaussian integrals (physics form: H, log, exp) evaluated by quadrature of its own
    integrands: mpmath at 90 digits in one dimension (1 - erfc(-x)/2 cancels), a float64 tensor Gauss-Legendre
    rule in two (the Dz Dw integrands are smooth and cancel nowhere; checked against mpmath to 1e-15)."""
    expr = expr.subs(values)
    table = {}
    nodes, weights = _gauss_legendre_panels()
    for I in expr.atoms(sp.Integral):
        vars_ = [lim[0] for lim in I.limits]
        if len(vars_) == 1:
            f = sp.lambdify(vars_, I.function.rewrite(sp.erfc), "mpmath")
            with mpmath.workdps(90):
                table[I] = mpmath.quad(f, [-14, -6, 0, 6, 14])
        else:
            f = sp.lambdify(vars_, I.function.rewrite(sp.erfc), ["scipy", "numpy"])
            table[I] = weights @ f(*np.meshgrid(nodes, nodes, indexing="ij")) @ weights
    return complex(expr.xreplace({k: sp.Float(str(v), 20) for k, v in table.items()}).evalf(15)).real


@pytest.mark.parametrize("scenario", ["random", "teacher"])
def test_saddle_point_equations_match_finite_differences(scenario):
    t = srg.derive(srg.deep_perceptron(depth=2, scenario=scenario))
    solver = t.compile()
    rng = np.random.default_rng(3)
    for _ in range(1):
        Q = rng.uniform(0.2, 0.7, 2)
        q = rng.uniform(0.2, 0.7, 1)
        qh = rng.uniform(0.2, 1.5, 1)
        kappa = 0.3 if scenario == "random" else 0.0
        a = 1.7
        theta = np.concatenate([Q, q, qh])
        x = solver.variables.from_order_parameters(Q, q, qh)
        phi, g, Hm = solver.evaluate(x, a, kappa)
        grad = solver.residual(x, g, Hm)                       # d phi / d(Q_1, Q_2, q_1, qhat_1)
        for i in range(4):                                      # central differences of the compiled phi
            h = 1e-5
            up, down = theta.copy(), theta.copy()
            up[i] += h
            down[i] -= h
            fd = (solver.evaluate(solver.variables.from_order_parameters(up[:2], up[2:3], up[3:]), a, kappa)[0]
                  - solver.evaluate(solver.variables.from_order_parameters(down[:2], down[2:3], down[3:]), a, kappa)[0]) / (2 * h)
            assert abs(fd - grad[i]) < 1e-6 * (1 + abs(grad[i]))
        if scenario == "teacher":
            continue                           # (teacher: the symbolic equations are checked at depth 1 below)
        # the symbolic equations (physics form, differentiated under the integral sign) at the same point
        values = dict(zip(t.order_parameters, [sp.Float(v) for v in theta]))
        values.update({R.alpha: sp.Float(a), R.kappa: sp.Float(kappa)})
        phi_symbolic = _evaluate_physics(t.free_entropy, values)
        eqs = t.saddle_point_equations
        for i, (sym, eq) in enumerate(zip(t.order_parameters, eqs)):
            lhs_minus_rhs = _evaluate_physics(eq.lhs - eq.rhs, values)
            if sym in t.Q:
                assert abs(lhs_minus_rhs - grad[i]) < 1e-8 * (1 + abs(grad[i]))
            else:
                partner = t.qhat[t.q.index(sym)] if sym in t.q else t.q[t.qhat.index(sym)]
                slope = float(sp.diff(t.free_entropy, partner, sym).subs(R.alpha, a))   # solved for the partner
                assert abs(lhs_minus_rhs * slope - grad[i]) < 1e-8 * (1 + abs(grad[i]))
        # phi agrees up to the order-parameter-independent constants (equal here: same formula)
        assert abs(phi_symbolic - phi) < 1e-9 * (1 + abs(phi))


def test_teacher_symbolic_equation_matches_compiled_gradient():
    t = srg.derive(srg.deep_perceptron(depth=1, scenario="teacher"))
    solver = t.compile()
    for Q in (0.3, 0.6):
        x = solver.variables.from_order_parameters(np.array([Q]), np.array([]), np.array([]))
        phi, g, Hm = solver.evaluate(x, 2.5)
        values = {t.Q[0]: sp.Float(Q), R.alpha: sp.Float(2.5)}
        (eq,) = t.saddle_point_equations
        assert abs(_evaluate_physics(eq.lhs - eq.rhs, values) - solver.residual(x, g, Hm)[0]) < 1e-9
        assert abs(_evaluate_physics(t.free_entropy, values) - phi) < 1e-10


def test_mpmath_30_digits_agrees_with_numba():
    t = srg.derive(srg.deep_perceptron(depth=1, scenario="teacher"))
    sol = t.compile().solve(3.0)
    mp_sol = t.compile(precision=30).solve(3.0)
    assert mp_sol.physical.converged
    assert abs(float(mp_sol.Q[0]) - sol.Q[0]) < 1e-9           # float64 quadrature: ~1e-10
    with mpmath.workdps(30):                   # the 30-digit root satisfies the textbook equation to ~1e-25
        r = mp_sol.Q[0]
        rhs = 3 / mpmath.pi * mpmath.quad(lambda s: mpmath.npdf(s) * mpmath.exp(-r * s * s / 2)
                                          / mpmath.ncdf(mpmath.sqrt(r) * s), [-mpmath.inf, -5, 0, mpmath.inf])
        assert abs(r / mpmath.sqrt(1 - r) - rhs) < 1e-20


def test_several_solutions_and_sweep_teacher(tmp_path):
    solver = srg.derive(srg.deep_perceptron(depth=3, scenario="teacher")).compile()
    sol = solver.solve(4.0)
    assert len(sol.solutions) >= 2
    assert all(sol.free_entropy >= s.free_entropy for s in sol.solutions)
    liquid = [s for s in sol.solutions if np.all(s.Q < 1e-8)]
    assert liquid and abs(liquid[0].free_entropy - (1.5 - 4.0 * np.log(2))) < 1e-10   # G_W(0) = 1/2 per layer
    assert all(s.converged and s.residual < 1e-7 for s in sol.solutions)
    sw = solver.sweep(np.linspace(1.0, 9.0, 17))
    assert sw.Q.shape == (17, 3) and np.all(np.isfinite(sw.free_entropy))
    assert np.all(np.diff(sw.generalization_error) <= 1e-12)            # learning never hurts the optimal student
    layers = dict((l, (a, kind)) for l, a, kind in sw.transitions())
    assert layers[3][0] is not None and layers[3][0] <= layers[1][0]    # the output side freezes first
    path = sw.phase_diagram(tmp_path / "phase.png")
    assert pathlib.Path(path).stat().st_size > 1000


def test_bad_input_is_refused():
    with pytest.raises(ParameterError, match="depth"):
        srg.deep_perceptron(depth=0)
    with pytest.raises(ParameterError, match="scenario"):
        srg.deep_perceptron(depth=2, scenario="annealed")
    solver = srg.derive(srg.deep_perceptron(depth=1, scenario="teacher")).compile()
    with pytest.raises(ParameterError, match="alpha"):
        solver.solve(0.0)
    with pytest.raises(ParameterError, match="kappa must be 0"):
        solver.solve(1.0, kappa=0.5)
    with pytest.raises(ParameterError, match="kappa"):
        srg.derive(srg.deep_perceptron(depth=1)).compile().solve(1.0, kappa=-0.1)
    with pytest.raises(srg.NoSolutionError, match=r"capacity alpha_c\(kappa=0.5\) = 0.961205"):
        srg.derive(srg.deep_perceptron(depth=1)).compile().solve(1.5, kappa=0.5)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "symbolic_rg", *args], capture_output=True, text=True, timeout=600)


def test_cli_solve_json_and_errors():
    run = _cli("solve", "deep-perceptron", "--depth", "2", "--alpha", "3", "--scenario", "teacher", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    for key in ("Q", "q", "q_hat", "free_entropy", "generalization_error", "converged", "solutions"):
        assert key in out
    assert len(out["Q"]) == 2 and len(out["q"]) == 1 and len(out["q_hat"]) == 1 and out["converged"]
    assert all("free_entropy" in s and "Q" in s for s in out["solutions"])
    assert out["rs_stable"] is None                                      # Nishimori: RS exact, not tested
    run = _cli("solve", "deep-perceptron", "--depth", "1", "--alpha", "0.5", "--kappa", "0.5", "--json")
    out = json.loads(run.stdout)
    assert run.returncode == 0 and out["rs_stable"] is True and out["solutions"][0]["replicon"] < 0
    for bad, word in ((["--alpha", "-1"], "alpha"), (["--alpha", "1", "--kappa", "-1"], "kappa"),
                      (["--alpha", "1", "--kappa", "0.5", "--scenario", "teacher"], "kappa"),
                      (["--alpha", "1", "--scenario", "quenched"], "scenario")):
        run = _cli("solve", "deep-perceptron", "--depth", "1", *bad)
        assert run.returncode != 0 and word in run.stderr and "Traceback" not in run.stderr
    run = _cli("solve", "deep-perceptron", "--depth", "0", "--alpha", "1")
    assert run.returncode != 0 and "--depth" in run.stderr and "Traceback" not in run.stderr


def test_latex_regenerated_and_compiles(tmp_path):
    for depth, scenario in ((3, "teacher"), (2, "random")):
        out = tmp_path / "dp.tex"
        subprocess.run([sys.executable, str(ROOT / "derivations" / "deep_perceptron.py"), "--depth", str(depth),
                        "--scenario", scenario, "--out", str(out)], check=True)
        assert out.read_text() == (ROOT / "derivations" / ("deep_perceptron_L%d_%s.tex" % (depth, scenario))).read_text()
    run = _cli("derive", "deep-perceptron", "--depth", "2", "--scenario", "teacher", "--latex", str(tmp_path / "c.tex"))
    assert run.returncode == 0
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "c.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


@pytest.mark.slow
def test_monte_carlo_depth_one_approaches_theory_as_c_grows():
    from symbolic_rg.replica.monte_carlo import teacher_student
    theory = srg.derive(srg.deep_perceptron(depth=1, scenario="teacher")).compile().solve(2.0).Q[0]
    gaps, errs = [], []
    for c in (10, 20, 40):
        # at depth 1 the N output units are independent perceptrons: N = 4000/c keeps the sample-to-sample
        # spread of the data sets (about 0.009 per 100 units at c = 10) below the 1/c gap
        r = teacher_student(1, N=4000 // c, c=c, alpha=2.0, sweeps=250 * c, burn_in=125 * c, seed=c)
        gaps.append(r.Q[0] - theory)
        errs.append(r.Q_err[0])
    gaps, errs = np.array(gaps), np.array(errs)
    assert gaps[0] > gaps[2]                                      # the finite-c gap shrinks
    slope, intercept = np.polyfit(1 / np.array([10, 20, 40]), gaps, 1, w=1 / np.maximum(errs, 1e-3))
    assert abs(intercept) < 0.02                                  # extrapolates to the theory at c -> infinity


def test_perceptron_start_is_a_consistent_network_away_from_the_teacher():
    from symbolic_rg.replica.monte_carlo import forward, perceptron_student, sparse_network, teacher_student
    rng = np.random.default_rng(3)
    teacher = sparse_network(2, 30, 10, rng)
    S = forward(teacher.weights, teacher.inputs, rng.choice([-1.0, 1.0], size=(20, 30)))
    J = perceptron_student(teacher, S, rng)
    np.testing.assert_allclose(np.linalg.norm(J, axis=2), np.sqrt(10))
    assert np.array_equal(forward(J, teacher.inputs, S[0]), S)             # every hidden and output spin reproduced
    assert np.all(np.einsum("lik,lik->l", J, teacher.weights) / 300 < 0.95)
    r = teacher_student(2, 30, 10, 2.0, sweeps=200, burn_in=100, start="perceptron", seed=1)
    assert r.Q_trace.shape == (20, 2) and r.q_trace.shape == (20, 1) and r.error_trace.shape == (20,)
    with pytest.raises(ValueError, match="result: 4 measurements after burn_in = 160 sweeps .* at least 10"):
        teacher_student(2, 30, 10, 2.0, sweeps=200, burn_in=160, start="perceptron", seed=1)   # no NaN errors
    assert np.all((0 <= r.error_trace) & (r.error_trace <= 0.5 + 0.1))
    with pytest.raises(ValueError, match="start"):
        teacher_student(1, 10, 5, 1.0, sweeps=20, burn_in=10, start="random")


def test_annealed_start_and_gauge_alignment():
    from symbolic_rg.replica.monte_carlo import forward, align_gauge, annealed_student, sparse_network
    rng = np.random.default_rng(5)
    teacher = sparse_network(2, 24, 6, rng)
    S0 = rng.choice([-1.0, 1.0], size=(6, 24))
    y = forward(teacher.weights, teacher.inputs, S0)[2]
    J = annealed_student(teacher, S0, y, rng, anneal_sweeps=200, max_sweeps=4000)
    assert np.array_equal(forward(J, teacher.inputs, S0)[2], y)                 # consistent with every output
    J = annealed_student(teacher, S0, y, rng, anneal_sweeps=100, max_sweeps=2000, stages=3)   # through growing data
    assert np.array_equal(forward(J, teacher.inputs, S0)[2], y)
    flipped = teacher.weights.copy()                                              # a gauge copy of the teacher
    sigma = rng.choice([-1.0, 1.0], size=24)
    flipped[0] *= sigma[:, None]
    flipped[1] *= sigma[teacher.inputs[1]]
    X = rng.choice([-1.0, 1.0], size=(200, 24))
    assert np.array_equal(forward(flipped, teacher.inputs, X)[2], forward(teacher.weights, teacher.inputs, X)[2])
    np.testing.assert_allclose(align_gauge(flipped, teacher, X), teacher.weights)  # the gauge is undone
    rng = np.random.default_rng(6)                  # a load where plain annealing sticks with 4 outputs wrong
    teacher = sparse_network(2, 30, 6, rng)
    S0 = rng.choice([-1.0, 1.0], size=(24, 30))
    y = forward(teacher.weights, teacher.inputs, S0)[2]
    with pytest.raises(RuntimeError, match="4 training outputs still wrong after 500 sweeps and 0 reheats"):
        annealed_student(teacher, S0, y, np.random.default_rng(1), anneal_sweeps=100, max_sweeps=500, tries=1)
    J = annealed_student(teacher, S0, y, np.random.default_rng(1), anneal_sweeps=100, max_sweeps=500, tries=1,
                         reheats=10)
    assert np.array_equal(forward(J, teacher.inputs, S0)[2], y)                 # reheating gets it out


def test_melted_start_is_consistent_and_below_the_teacher():
    from symbolic_rg.replica.monte_carlo import PosteriorChain, bracket, measure, melted_student, teacher_data
    data = teacher_data(2, 30, 6, 4.0, np.random.default_rng(7), n_test=400)
    t = data.teacher
    chain = PosteriorChain(data, "melted", np.random.default_rng(1),
                           anneal={"errors": 150, "melt_sweeps": 300, "anneal_sweeps": 300, "reheats": 3})
    assert np.array_equal(chain.S[-1], data.y)                                   # consistent with every output
    np.testing.assert_allclose(np.linalg.norm(chain.J, axis=2), np.sqrt(6))
    teacher_chain = PosteriorChain(data, "teacher", np.random.default_rng(1)).run(300)
    assert np.all(measure(chain.J, chain.S, data)[:2] < teacher_chain.result().Q - 0.05)   # the melt lowered Q
    with pytest.raises(RuntimeError, match="melted start: .* still wrong after 10 sweeps and 0 reheats .*; 2 tries"):
        melted_student(t, data.S0, data.y, np.random.default_rng(1), errors=60, melt_sweeps=300, anneal_sweeps=2,
                       tries=2)
    with pytest.raises(ValueError, match="below must be 'annealed', 'melted' or a weight array"):
        bracket(1, 10, 5, 1.0, max_sweeps=100, below="perceptron")
    with pytest.raises(ValueError, match="max_sweeps must be at least 20 x measure_every = 200, got 100"):
        bracket(1, 10, 5, 1.0, max_sweeps=100)


def test_a_saved_network_is_a_start_and_is_checked():
    from symbolic_rg.replica.monte_carlo import PosteriorChain, melted_student, teacher_data
    data = teacher_data(2, 30, 6, 4.0, np.random.default_rng(7), n_test=400)
    kw = {"errors": 150, "melt_sweeps": 300, "anneal_sweeps": 300, "reheats": 3}
    chain = PosteriorChain(data, "melted", np.random.default_rng(1), anneal=kw).run(200)
    rng = np.random.default_rng(1)                                 # the start found again and saved
    J = melted_student(data.teacher, data.S0, data.y, rng, **kw)
    again = PosteriorChain(data, J, rng).run(200)                  # resumes the same random stream: the same chain
    np.testing.assert_array_equal(np.array(again.rows), np.array(chain.rows))
    assert again.result().start == "given" and again.J is not J
    with pytest.raises(ValueError, match=r"start: a weight array must have shape \(2, 30, 6\)"):
        PosteriorChain(data, J[:, :, :5], rng)
    with pytest.raises(ValueError, match="squared norm c = 6"):
        PosteriorChain(data, 2 * J, rng)
    wrong = J.copy()
    wrong[1] *= -1                                                 # every output unit flipped
    with pytest.raises(ValueError, match="start: the network gets 720 of the 720 training outputs wrong"):
        PosteriorChain(data, wrong, rng)
    with pytest.raises(ValueError, match="start must be one of teacher, perceptron, annealed, melted or a weight"):
        PosteriorChain(data, "random", rng)


def test_overlaps_are_measured_in_the_teachers_gauge():
    from symbolic_rg.replica.monte_carlo import forward, measure, teacher_data, teacher_student
    rng = np.random.default_rng(2)
    data = teacher_data(3, 24, 6, 2.0, rng)
    t = data.teacher
    sigma = np.ones((4, 24))
    sigma[1:3] = rng.choice([-1.0, 1.0], size=(2, 24))
    flipped = t.weights * sigma[1:, :, None] * sigma[np.arange(3)[:, None, None], t.inputs]   # a gauge copy
    S = forward(flipped, t.inputs, data.S0)
    assert np.array_equal(S[3], data.y)
    assert np.all(np.einsum("lik,lik->l", flipped, t.weights)[:2] / 144 < 0.5)             # raw overlaps are not 1
    row = measure(flipped, S, data)
    np.testing.assert_allclose(row[:5], 1.0)                                                # Q_1..3, q_1, q_2
    assert row[5] == 0.0                                                                    # epsilon
    np.testing.assert_allclose(row[6:], np.mean(sigma[1:3] < 0, axis=1))                   # flipped fractions
    # at c = 5 a chain from the teacher crosses between gauge copies within a few thousand sweeps
    r = teacher_student(2, 25, 5, 2.0, sweeps=4000, burn_in=2000, seed=3, measure_every=50)
    assert r.flipped_trace.shape == (80, 1) and r.flipped_trace[-1, 0] > 0.05
    assert np.all(r.Q > 0.2)                                         # the gauge-fixed overlaps do not average away


def test_annealing_ends_with_a_perceptron_repair_of_the_output_units():
    from symbolic_rg.replica.monte_carlo import forward, annealed_student, sparse_network
    rng = np.random.default_rng(8)
    teacher = sparse_network(1, 20, 10, rng)
    S0 = rng.choice([-1.0, 1.0], size=(30, 20))
    y = forward(teacher.weights, teacher.inputs, S0)[1]
    J = annealed_student(teacher, S0, y, rng, anneal_sweeps=10, max_sweeps=10)   # too short to anneal alone
    assert np.array_equal(forward(J, teacher.inputs, S0)[1], y)
    np.testing.assert_allclose(np.linalg.norm(J, axis=2), np.sqrt(10))


def test_posterior_chain_resumes_and_a_bracket_closes_at_depth_one():
    from symbolic_rg.replica.monte_carlo import PosteriorChain, bracket, teacher_data
    data = teacher_data(2, 30, 6, 2.0, np.random.default_rng(2), n_test=100)
    one = PosteriorChain(data, "teacher", np.random.default_rng(4)).run(200)
    two = PosteriorChain(data, "teacher", np.random.default_rng(4)).run(100).run(100)
    assert np.array_equal(one.J, two.J) and np.array_equal(np.array(one.rows), np.array(two.rows))
    with pytest.raises(ValueError, match="burn_in"):
        one.result(burn_in=200)
    with pytest.raises(RuntimeError, match="after 10 sweeps and 0 reheats .*; 1 tries"):   # max_sweeps: 5 x 2
        PosteriorChain(data, "annealed", np.random.default_rng(1), anneal={"anneal_sweeps": 2, "tries": 1})
    up = PosteriorChain(data, "annealed", np.random.default_rng(1), anneal={"anneal_sweeps": 200, "stages": 2})
    assert np.array_equal(up.S[-1], data.y) and up.run(100).sweeps == 100
    theory = srg.derive(srg.deep_perceptron(depth=1, scenario="teacher")).compile().solve(2.0)
    chunks = []
    b = bracket(1, 40, 10, 2.0, max_sweeps=6000, seed=3, progress=lambda n, a, b: chunks.append((n, a.Q, b.Q)))
    assert b.converged and b.sweeps < 6000                     # the chains from the two starts meet
    assert [n for n, _, _ in chunks] == list(range(300, b.sweeps + 1, 300))   # chunks of 6000 / 20 sweeps
    assert np.array_equal(chunks[-1][1], b.above.Q) and np.array_equal(chunks[-1][2], b.below.Q)
    assert b.above.Q_trace[0, 0] > b.Q[0] + 0.1                # the teacher chain started high
    assert abs(b.Q[0] - theory.Q[0]) < 0.04 + 3 * b.Q_err[0]   # finite-c gap at c = 10: about +0.015
    assert abs(b.generalization_error - theory.generalization_error) < 0.03 + 3 * b.generalization_error_err


def test_replicon_at_depth_one_is_gardners_stability_condition():
    import mpmath
    theory = srg.derive(srg.deep_perceptron(depth=1, scenario="random"))
    solver = theory.compile()
    for k in (0.0, 0.5, 1.0):
        ac = float(theory.capacity().subs(srg.replica.kappa, k))
        a = 0.5 * ac
        sol = solver.solve(a, k)
        Q = sol.Q[0]
        r = solver.replicon(sol.physical, a, k)
        assert r.quadrature_error < 1e-10 and sol.rs_stable and sol.physical.replicon == r.largest
        # the first-derivative kernel against the saddle point of Q: alpha T = Q / (1 - Q)^2
        np.testing.assert_allclose(a * r.kernels["T_1"], Q / (1 - Q) ** 2, rtol=1e-8)
        # textbook (Gardner-Derrida): alpha int Dt [(ln H)''(u)]^2 - 1, u = (kappa - sqrt(Q) t)/sqrt(1 - Q), by
        # mpmath numerical differentiation and quadrature
        with mpmath.workdps(25):
            second = lambda t: mpmath.diff(lambda v: mpmath.log(mpmath.erfc(v / mpmath.sqrt(2)) / 2),
                                           (k - mpmath.sqrt(Q) * t) / mpmath.sqrt(1 - Q), 2)
            ref = a * mpmath.quad(lambda t: mpmath.npdf(t) * second(t) ** 2, [-mpmath.inf, 0, mpmath.inf]) - 1
        np.testing.assert_allclose(r.largest, float(ref), atol=1e-9)
        # frozen limit alpha -> alpha_c: alpha_c H(-kappa) - 1 (marginal at kappa = 0), approached like sqrt(1 - a/ac)
        limit = ac * math.erfc(-k / math.sqrt(2)) / 2 - 1
        gaps = [limit - solver.solve(f * ac, k).physical.replicon for f in (0.999, 0.9999)]
        assert 0 < gaps[1] < 0.01 and 2.5 < gaps[0] / gaps[1] < 4.0


def test_replicon_of_deep_random_networks():
    theory = srg.derive(srg.deep_perceptron(depth=2, scenario="random"))
    solver = theory.compile()
    k = 2 / math.pi
    for a in (1.0, 2.0):                    # the liquid solution: every kernel in closed form at p = qhat = 0
        liquid = [p for p in solver.solve(a).solutions if np.all(p.theta == 0)][0]
        r = solver.replicon(liquid, a)
        np.testing.assert_allclose([r.kernels[n] for n in ("T_1", "Kxx_1", "Kxy_1", "Kyy_1", "T_2", "Kxx_2")],
                                   [0, 0, k, 1, k, k * k], atol=1e-12)
        M_eff = np.array([[-1 - k * k * a, 0, k * a], [0, -1, k * a], [k * a, k * a, -a]])   # over (Q_1, Q_2, q_1)
        np.testing.assert_allclose(r.eigenvalues, np.linalg.eigvalsh(M_eff), atol=1e-12)
    assert solver.solve(1.0).rs_stable and not solver.solve(2.0).rs_stable   # the liquid phase breaks RS
    lo, hi = 1.0, 2.0                                                         # where, from the closed form
    for _ in range(40):
        mid = (lo + hi) / 2
        A = np.array([[-1 - k * k * mid, 0, k * mid], [0, -1, k * mid], [k * mid, k * mid, -mid]])
        lo, hi = (mid, hi) if np.linalg.eigvalsh(A)[-1] < 0 else (lo, mid)
    sw = solver.sweep(np.array([lo - 0.02, lo + 0.02]))
    assert [s for _, s in sw.replica_symmetry_breaking()] == ["unstable"]
    # the liquid's replicon crosses 0 at lo, where the branch with Q > 0 is born and takes over by the n -> 0 rule
    below, above = sw.points
    assert np.all(below.Q == 0) and below.physical.locally_stable and below.physical.replicon < 0
    liquid = [p for p in above.solutions if np.all(p.Q == 0)][0]
    assert liquid.replicon > 0 and not liquid.locally_stable
    assert 0 < above.Q[0] < 0.02 and above.physical.locally_stable and 0 < above.physical.replicon < liquid.replicon
    partly = [p for p in solver.solve(2.0).solutions if p.Q[0] > 0][0]        # first-derivative kernels, both layers
    r = solver.replicon(partly, 2.0)
    # hidden-layer kernels, independently: finite differences of ln zeta(x, y) and Gauss-Hermite quadrature
    Q1, qh = partly.Q[0], partly.q_hat[0]
    erfc = np.frompyfunc(math.erfc, 1, 1)
    H = lambda t: erfc(np.asarray(t) / math.sqrt(2)).astype(float) / 2
    t, wt = np.polynomial.hermite_e.hermegauss(80)
    Z, W = np.meshgrid(t, t, indexing="ij")
    h = 1e-3
    f = lambda dx, dy: np.log(np.exp(math.sqrt(qh) * W + dy * h) * H(-(math.sqrt(Q1) * Z + dx * h) / math.sqrt(1 - Q1))
                              + np.exp(-math.sqrt(qh) * W - dy * h) * H((math.sqrt(Q1) * Z + dx * h) / math.sqrt(1 - Q1)))
    derivatives = {"T_1": (f(1, 0) - f(-1, 0)) / (2 * h), "Kxx_1": (f(1, 0) - 2 * f(0, 0) + f(-1, 0)) / h ** 2,
                   "Kxy_1": (f(1, 1) - f(1, -1) - f(-1, 1) + f(-1, -1)) / (4 * h * h),
                   "Kyy_1": (f(0, 1) - 2 * f(0, 0) + f(0, -1)) / h ** 2}
    for name, d in derivatives.items():
        np.testing.assert_allclose(r.kernels[name], np.einsum("i,j,ij->", wt, wt, d ** 2) / wt.sum() ** 2, rtol=1e-5)
    np.testing.assert_allclose(2.0 * r.kernels["T_1"], partly.Q[0] / (1 - partly.Q[0]) ** 2, rtol=1e-6)
    np.testing.assert_allclose(2.0 * partly.q[0] * r.kernels["T_2"], partly.Q[1] / (1 - partly.Q[1]) ** 2, rtol=1e-6)
    with pytest.raises(srg.ParameterError, match="random scenario"):
        srg.derive(srg.deep_perceptron(depth=2, scenario="teacher")).replicon


def test_tempered_slice_moves_sample_exp_minus_beta_errors_exactly():
    """At finite beta the slice moves sample exp(-beta E) on the circles (L = 1, N = c = 2: each row an angle phi),
    E the number of wrong outputs: the histogram of E against the exact one from a grid in phi per unit."""
    from symbolic_rg.replica.monte_carlo import forward, metropolis_sweeps, sparse_network
    rng = np.random.default_rng(5)
    net = sparse_network(1, 2, 2, rng)
    S0, y = rng.choice([-1.0, 1.0], size=(8, 2)), rng.choice([-1.0, 1.0], size=(8, 2))
    beta, phi = 0.7, np.linspace(0, 2 * np.pi, 200001)[:-1]
    exact = np.ones(1)
    for i in range(2):                                       # unit i reads S0[:, idx[0, i]]
        rows = np.sqrt(2) * np.stack([np.cos(phi), np.sin(phi)], axis=1)
        h = rows @ S0[:, net.inputs[0, i]].T
        E = np.sum(np.where(h >= 0, 1.0, -1.0) != y[:, i], axis=1)
        exact = np.convolve(exact, np.bincount(E, weights=np.exp(-beta * E), minlength=9))
    exact /= exact.sum()
    J = net.weights.copy()
    S = forward(J, net.inputs, S0)
    errors = np.array([int(np.sum(S[1] != y))])
    seen = np.zeros(exact.size)
    for k in range(40000):
        metropolis_sweeps(J, net.inputs, *net.readers, S, y, 1, k, np.zeros(1, np.int64), errors, 0, beta)
        seen[errors[0]] += 1
    assert errors[0] == np.sum(forward(J, net.inputs, S0)[1] != y)          # the count is kept exactly
    np.testing.assert_allclose(seen / seen.sum(), exact, atol=0.012)
    assert exact.max() < 0.5 and np.count_nonzero(exact > 0.01) >= 4        # a broad distribution is tested


def test_moves_keep_every_spin_equal_to_the_forward_pass_through_deep_sparse_layers():
    """Each move recomputes only the readers of the flipped spins, on their patterns: after sweeps at finite and
    infinite beta and of threshold accepting (L = 3, c = 5 and L = 2, c = 10), every hidden and output spin equals
    that of a fresh forward pass and the kept count of wrong outputs is exact."""
    from symbolic_rg.replica.monte_carlo import forward, on_sphere, metropolis_sweeps, teacher_data
    for depth, c, seed in [(3, 5, 1), (2, 10, 2)]:
        rng = np.random.default_rng(seed)
        data = teacher_data(depth, 5 * c, c, 4.0, rng)
        t, S0 = data.teacher, data.S0
        for J, beta in [(t.weights.copy(), np.inf), (t.weights.copy(), 2.0),
                        (on_sphere(rng.standard_normal(t.weights.shape)), 0.1),
                        (on_sphere(rng.standard_normal(t.weights.shape)), np.inf)]:   # the last: threshold accepting
            S = forward(J, t.inputs, S0)
            errors = np.array([int(np.sum(S[-1] != data.y))])
            shrinks = np.zeros(1, np.int64)
            metropolis_sweeps(J, t.inputs, *t.readers, S, data.y, 20, seed, shrinks, errors, 0, beta)
            assert np.array_equal(S, forward(J, t.inputs, S0))
            assert errors[0] == np.sum(S[-1] != data.y) and shrinks[0] > 0
            assert np.any(J != t.weights)
        with pytest.raises(ValueError, match="number of wrong training outputs"):     # the count must match S
            metropolis_sweeps(J, t.inputs, *t.readers, S, data.y, 1, seed, shrinks, errors + 1, 0, np.inf)


def test_tempered_chain_samples_the_exact_posterior_at_depth_one_and_brackets():
    """At L = 1 (N = c = 2) the posterior of each row is uniform on the arc of angles that reproduce its outputs:
    the replica at beta = infinity of a TemperedChain gives the exact mean overlap with the teacher, and the replicas
    at finite beta (after the exchanges) the exact distributions of the number of wrong outputs."""
    from symbolic_rg.replica.monte_carlo import TemperedChain, bracket, teacher_data
    data = teacher_data(1, 2, 2, 3.0, np.random.default_rng(8), n_test=200)
    betas, phi = [0.3, 1.0, 3.0], np.linspace(0, 2 * np.pi, 200001)[:-1]
    rows = np.sqrt(2) * np.stack([np.cos(phi), np.sin(phi)], axis=1)
    t, exact, wrong = data.teacher, [], [np.ones(1) for _ in betas]
    for i in range(2):
        E = np.sum(np.where(rows @ data.S0[:, t.inputs[0, i]].T >= 0, 1.0, -1.0) != data.y[:, i], axis=1)
        exact.append(np.mean(rows[E == 0] @ t.weights[0, i]) / 2)
        wrong = [np.convolve(w, np.bincount(E, weights=np.exp(-b * E))) for w, b in zip(wrong, betas)]
    chain = TemperedChain(data, "teacher", np.random.default_rng(1), betas)
    seen = np.zeros((len(betas), wrong[0].size))
    for _ in range(2000):
        chain.run(10)
        for k in range(len(betas)):
            seen[k, chain.replicas[k][2][0]] += 1
    r = chain.result()
    assert abs(r.Q[0] - np.mean(exact)) < 4 * r.Q_err[0] + 0.005 and r.Q_err[0] < 0.01
    for k, w in enumerate(wrong):
        np.testing.assert_allclose(seen[k] / seen[k].sum(), w / w.sum(), atol=0.03)
    assert np.all(chain.swap_acceptance > 0.2) and chain.hot_to_cold > 50
    again = TemperedChain(data, "teacher", np.random.default_rng(1), [0.3, 1.0, 3.0]).run(10000).run(10000)
    assert np.array_equal(np.array(again.rows), np.array(chain.rows))         # resumable: the same chain
    with pytest.raises(ValueError, match="betas must be a non-empty increasing"):
        TemperedChain(data, "teacher", np.random.default_rng(1), [1.0, 0.5])
    with pytest.raises(ValueError, match="betas must be"):
        TemperedChain(data, "teacher", np.random.default_rng(1), [0.5, np.inf])
    with pytest.raises(ValueError, match="swap_every must be a positive divisor of measure_every"):
        TemperedChain(data, "teacher", np.random.default_rng(1), [1.0], measure_every=10, swap_every=3)
    b = bracket(1, 40, 10, 2.0, max_sweeps=4000, seed=3, betas=[1.0, 2.0, 4.0])
    assert b.converged and b.tempering["betas"] == [1.0, 2.0, 4.0] and len(b.tempering["swap_acceptance"]) == 2
    theory = srg.derive(srg.deep_perceptron(depth=1, scenario="teacher")).compile().solve(2.0)
    assert abs(b.Q[0] - theory.Q[0]) < 0.04 + 3 * b.Q_err[0]


def test_bracket_settles_only_where_the_chains_agree_and_neither_drifts():
    """The bracket's stopping rule: agreement within z combined errors is not enough when a chain has just jumped
    (its wide errors agree with anything, as the chain from below at L = 3, c = 5, alpha = 8 after 9000 sweeps with
    drifts of 2.2-2.6 errors); every Q_l's drift must be within z too."""
    from types import SimpleNamespace
    from symbolic_rg.replica.monte_carlo import settled

    def chain(Q, drift):
        return SimpleNamespace(Q=np.array(Q), Q_err=np.full(len(Q), 0.01), q=np.array([0.3]), q_err=np.array([0.01]),
                               generalization_error=0.2, generalization_error_err=0.01, drift=np.array(drift))
    assert settled(chain([0.50, 0.40], [0.3, -1.9]), chain([0.52, 0.41], [-1.0, 0.0]), 2.0)
    assert not settled(chain([0.50, 0.40], [0.3, 0.0]), chain([0.50, 0.43], [0.0, 0.0]), 2.0)  # 0.03 > 2 x 0.014
    assert not settled(chain([0.50, 0.40], [0.3, 0.0]), chain([0.52, 0.41], [0.0, 2.6]), 2.0)  # still drifting
    assert not settled(chain([0.50, 0.40], [-2.1, 0.0]), chain([0.52, 0.41], [0.0, 0.0]), 2.0)
    assert settled(chain([0.50, 0.40], [-2.1, 0.0]), chain([0.52, 0.41], [0.0, 0.0]), 2.2)


def test_tuned_ladder_equalizes_exchange_rates_and_keeps_the_exact_distributions():
    """tuned_ladder: where the energy width is sigma = 2s/beta the pair rates are A = erfc(s ln(b1/b0)) and the ladder
    of equal rates is geometric, whatever ladder measured them.  On the exact L = 1, N = c = 2 chain a retuned ladder
    brings the two rates together (0.40 and 0.76 before) and its replicas sample the exact e^{-beta E} at the new
    inverse temperatures; bracket(retune=1) retunes both chains after the first chunk."""
    from math import erfc, log
    from symbolic_rg.replica.monte_carlo import TemperedChain, bracket, teacher_data, tuned_ladder
    for b in (np.linspace(0.1, 10.0, 12), np.geomspace(0.1, 10.0, 30), [0.1, 0.2, 9.0, 10.0]):
        A = [erfc(0.4 * log(b1 / b0)) for b0, b1 in zip(b, b[1:])]
        for size in (2, 5, 17):
            np.testing.assert_allclose(tuned_ladder(b, A, size), np.geomspace(0.1, 10.0, size), rtol=1e-12)
    np.testing.assert_allclose(tuned_ladder([1.0, 2.0, 4.0], [1.0, 1.0]), [1.0, 2.0, 4.0], rtol=1e-12)
    np.testing.assert_allclose(tuned_ladder([1.0, 2.0, 4.0], [0.0, 1.0]), [1.0, np.sqrt(2.0), 4.0],
                               rtol=1e-6)                            # all the length in the first pair: its middle
    with pytest.raises(ValueError, match="betas must be an increasing sequence of at least 2"):
        tuned_ladder([1.0], [])
    with pytest.raises(ValueError, match=r"swap_acceptance must hold one rate in \[0, 1\] per neighbour pair"):
        tuned_ladder([1.0, 2.0, 4.0], [0.5])
    with pytest.raises(ValueError, match="swap_acceptance must hold one rate"):
        tuned_ladder([1.0, 2.0], [1.5])
    with pytest.raises(ValueError, match="size must be an integer >= 2"):
        tuned_ladder([1.0, 2.0], [0.5], 1)

    data = teacher_data(1, 2, 2, 3.0, np.random.default_rng(8), n_test=200)
    phi = np.linspace(0, 2 * np.pi, 200001)[:-1]
    rows, t = np.sqrt(2) * np.stack([np.cos(phi), np.sin(phi)], axis=1), data.teacher
    chain = TemperedChain(data, "teacher", np.random.default_rng(1), [0.3, 1.0, 3.0]).run(20000)
    before = chain.swap_acceptance[:-1].copy()
    betas = chain.retune().betas[:-1]
    assert betas[0] == 0.3 and betas[-1] == 3.0 and 0.3 < betas[1] < 1.0 and chain.attempts.sum() == 0
    wrong = [np.ones(1) for _ in betas]
    for i in range(2):
        E = np.sum(np.where(rows @ data.S0[:, t.inputs[0, i]].T >= 0, 1.0, -1.0) != data.y[:, i], axis=1)
        wrong = [np.convolve(w, np.bincount(E, weights=np.exp(-b * E))) for w, b in zip(wrong, betas)]
    seen = np.zeros((len(betas), wrong[0].size))
    for _ in range(2000):
        chain.run(10)
        for k in range(len(betas)):
            seen[k, chain.replicas[k][2][0]] += 1
    for k, w in enumerate(wrong):
        np.testing.assert_allclose(seen[k] / seen[k].sum(), w / w.sum(), atol=0.03)
    after = chain.swap_acceptance[:-1]
    assert np.ptp(after) < 0.5 * np.ptp(before) and after.min() > before.min() + 0.1
    b = bracket(1, 40, 10, 2.0, max_sweeps=1000, chunk=500, seed=3, z=0.0, betas=[0.5, 1.0, 2.0, 4.0], retune=1)
    assert not b.converged and b.sweeps == 1000                    # z = 0: both chunks run, the retune between them
    assert b.tempering["betas"][0] == 0.5 and b.tempering["betas"][-1] == 4.0
    assert b.tempering["betas"][1:3] != [1.0, 2.0] and len(b.tempering["swap_acceptance"][0]) == 4
    with pytest.raises(ValueError, match="retune needs betas"):
        bracket(1, 40, 10, 2.0, max_sweeps=4000, seed=3, retune=1)


def test_bracket_resumes_from_its_checkpoint_as_if_never_stopped(tmp_path):
    """A tempered, retuned bracket stopped after two chunks and resumed from its checkpoint with a larger max_sweeps
    gives the same chains, to the last bit, as one run of all three chunks; a checkpoint of other arguments is refused."""
    from symbolic_rg.replica.monte_carlo import bracket
    kw = dict(chunk=200, seed=5, z=0.0, betas=[0.5, 1.0, 2.0, 4.0], retune=2)      # z = 0: every chunk runs
    whole = bracket(1, 40, 10, 2.0, max_sweeps=600, **kw)
    path = str(tmp_path / "b.pkl")
    first = bracket(1, 40, 10, 2.0, max_sweeps=400, checkpoint=path, **kw)
    assert first.sweeps == 400
    seen = []
    resumed = bracket(1, 40, 10, 2.0, max_sweeps=600, checkpoint=path, progress=lambda n, a, b: seen.append(n), **kw)
    assert seen == [600] and resumed.sweeps == whole.sweeps == 600               # only the third chunk ran
    for r, w in ((resumed.above, whole.above), (resumed.below, whole.below)):
        np.testing.assert_array_equal(r.Q_trace, w.Q_trace)
        np.testing.assert_array_equal(r.q_trace, w.q_trace)
    assert resumed.tempering == whole.tempering
    again = bracket(1, 40, 10, 2.0, max_sweeps=600, checkpoint=path, progress=lambda n, a, b: seen.append(n), **kw)
    assert seen == [600] and again.sweeps == 600                                  # finished: nothing more runs
    with pytest.raises(ValueError, match="checkpoint .* other arguments"):
        bracket(1, 40, 10, 2.0, max_sweeps=600, checkpoint=path, **dict(kw, seed=6))


def test_quenched_rule_selects_the_infimum_over_the_overlaps():
    """Random scenario, L = 2, kappa = 0.5, alpha = 0.8: the overlaps are n(n-1)/2 -> negative parameters, so the
    physical point is the smallest free entropy (Guerra, Talagrand), not the liquid of the largest one."""
    solver = srg.derive(srg.deep_perceptron(depth=2)).compile()
    sol = solver.solve(0.8, 0.5)
    np.testing.assert_allclose(np.concatenate([sol.Q, sol.q, [sol.free_entropy]]),
                               [0.170806, 0.223416, 0.310746, -0.333474], atol=2e-6)
    liquid = [p for p in sol.solutions if np.all(p.theta == 0)][0]
    np.testing.assert_allclose(liquid.free_entropy, -0.326941, atol=2e-6)
    assert liquid.free_entropy > sol.free_entropy
    assert sol.physical.locally_stable and not liquid.locally_stable
    assert "Guerra" in sol.rule and "Talagrand" in sol.rule and sol.rs_stable is False
    assert "rsb" in sol.as_dict() and sol.as_dict()["longitudinal"] == list(sol.physical.longitudinal)
    from symbolic_rg.replica.selection import CONJUGATE, NISHIMORI, OVERLAP
    assert solver.theory.order_parameter_kinds == (OVERLAP, OVERLAP, OVERLAP, CONJUGATE)
    teacher = srg.derive(srg.deep_perceptron(depth=2, scenario="teacher"))
    assert teacher.order_parameter_kinds == (NISHIMORI, NISHIMORI, NISHIMORI, CONJUGATE)
    t = teacher.compile().solve(4.0)
    assert "largest free entropy" in t.rule and "Zdeborova" in t.rule
    assert t.free_entropy == max(p.free_entropy for p in t.solutions)


def test_liquid_curvature_is_half_the_replicon_and_the_transition_is_where_it_vanishes():
    """At the liquid (every overlap 0) the longitudinal and replicon modes coincide: the curvature of phi, by
    differences of the compiled gradient, equals half the replicon matrix from the separately derived kernels (in
    closed form at kappa = 0).  The liquid loses its local minimum where the branch with Q > 0 is born, and the rule
    takes that branch from there on (a continuous transition)."""
    from symbolic_rg.replica.solver import StationaryPoint
    from symbolic_rg.replica.selection import longitudinal_eigenvalues
    solver = srg.derive(srg.deep_perceptron(depth=2)).compile()
    kinds = solver.theory.order_parameter_kinds
    k = 2 / math.pi
    liquid = StationaryPoint(np.zeros(2), np.zeros(1), np.zeros(1), 0.0, 0.0, 0, True)
    curvature = lambda a, kappa: longitudinal_eigenvalues(solver.hessian(liquid, a, kappa), kinds)
    for a in (1.0, 2.0):
        M_eff = np.array([[-1 - k * k * a, 0, k * a], [0, -1, k * a], [k * a, k * a, -a]])
        np.testing.assert_allclose(2 * curvature(a, 0.0), np.linalg.eigvalsh(M_eff), atol=2e-6)
    np.testing.assert_allclose(2 * curvature(0.8, 0.5), solver.replicon(liquid, 0.8, 0.5).eigenvalues, atol=2e-6)
    lo, hi = 0.2, 0.5                                     # kappa = 0.5: where the liquid stops being a minimum
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if curvature(mid, 0.5)[-1] < 0 else (lo, mid)
    below, above = solver.solve(lo - 0.01, 0.5), solver.solve(lo + 0.01, 0.5)
    assert np.all(below.Q == 0) and below.physical.locally_stable
    assert 0 < above.Q[0] < 0.01 and above.physical.locally_stable


def test_newton_sets_a_coordinate_creeping_to_a_liquid_layer_at_zero():
    """phi is quartic in x at a liquid layer (Q = x^2), so a Newton step is -x/3: Newton tries such coordinates at 0
    and keeps them there where the residual falls and d phi/d Q vanishes.  From x = 0.05 and 0.2 (random, L = 2,
    alpha = 0.5: the liquid) it lands on exactly 0 within 3 iterations (creeping took 13-16 and stopped near 4e-4)."""
    solver = srg.derive(srg.deep_perceptron(depth=2)).compile()
    n = len(solver.theory.order_parameters)
    for x0 in (0.05, 0.2):
        r = solver.newton(np.full(n, x0), 0.5, 0.0)
        assert r.converged and r.iterations <= 3 and np.all(r.root == 0), (x0, r)
    p = solver.solve(3.0, 0.0).physical                    # alpha = 3: near the frozen solution Newton stays on it
    x = solver.variables.from_theta(np.concatenate([p.Q, p.q, p.q_hat]))
    r = solver.newton(1.2 * x, 3.0, 0.0)
    assert r.converged and np.all(r.root != 0) and np.allclose(r.root, x, atol=1e-8)
