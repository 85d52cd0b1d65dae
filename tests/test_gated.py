"""Globally gated deep linear networks: matrix order parameters, limits, solver, simulation, bad input."""
import shutil
import subprocess

import numpy as np
import pytest
import sympy as sp
from numpy.testing import assert_allclose

import symbolic_rg as srg
from symbolic_rg import gaussian
from symbolic_rg.data import digits
from symbolic_rg.errors import NoSolutionError, ParameterError
from symbolic_rg.gated.theory import GatedTheory, input_kernel
from symbolic_rg.gated.gates import FixedGates, HalfSpaceGates
from symbolic_rg.matrices import face_split, lambdify, partial_trace
from symbolic_rg.simulate import gibbs_gated
from symbolic_rg.symbols import n_modes


def gated_teacher(N0=40, P=60, P_test=200, M=4, bias=-0.7, seed=0):
    """Inputs N(0, I); the target uses only the first of M readout gates (so the kernel's shape matters)."""
    rng = np.random.default_rng(seed)
    X, Xt = rng.standard_normal((P, N0)), rng.standard_normal((P_test, N0))
    ga = HalfSpaceGates(M, seed=5, bias=bias)
    w = rng.standard_normal((M, N0))
    c = np.zeros(M)
    c[0] = 2.0
    teach = lambda Z: np.sum(ga(Z) * c * (Z @ w.T) / np.sqrt(N0), axis=1)
    return X, teach(X), Xt, teach(Xt), HalfSpaceGates(M, seed=1, bias=bias), ga


# -- symbolic ----------------------------------------------------------------------------------------
def test_order_parameter_shapes_follow_from_the_integration():
    M2, Ma = sp.symbols("M_2 M_a", integer=True, positive=True)
    th = srg.derive(srg.ggdln(2, gated_readout=True))
    assert [V.shape for V in th.order_parameters] == [(M2 * Ma, M2 * Ma), (Ma, Ma)]
    th = srg.derive(srg.ggdln(2))                              # linear readout: top order parameter is 1x1
    assert [V.shape for V in th.order_parameters] == [(M2, M2), (1, 1)]
    M3 = sp.Symbol("M_3", integer=True, positive=True)
    th = srg.derive(srg.ggdln(3, linear_layers=(2,)))          # a plain layer does not grow the index
    assert [V.shape for V in th.order_parameters] == [(M3, M3), (M3, M3), (1, 1)]
    th = srg.derive(srg.ggdln(1, outputs=3))                   # m outputs: m x m in output space
    assert th.order_parameters[0].shape == (3, 3)


def test_wishart_measure_reduces_to_the_gamma_measure_for_one_gate():
    N, s2 = sp.symbols("N sigma2", positive=True)
    u = sp.Symbol("u", positive=True)
    V = sp.MatrixSymbol("V", 1, 1)
    log_w = gaussian.wishart_log_density(V, N, s2 * sp.Identity(1)).subs(V, sp.Matrix([[u]])).doit()
    log_g = gaussian.gamma_log_density(u, N / 2, N / (2 * s2))
    assert sp.simplify(sp.expand_log(log_w - log_g, force=True)) == 0


def test_wishart_mixture_identity_monte_carlo():
    """<exp(-tr(VQ)/2)>_{V ~ W(N, A/N)} = |I + AQ/N|^{-N/2} (d = 2), to Monte Carlo accuracy."""
    rng = np.random.default_rng(0)
    N, A, Q = 7, np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[0.8, -0.2], [-0.2, 0.4]])
    Z = rng.multivariate_normal(np.zeros(2), A / N, size=(200000, N))
    V = np.einsum("sni,snj->sij", Z, Z)
    samples = np.exp(-0.5 * np.einsum("sij,ji->s", V, Q))
    exact = np.linalg.det(np.eye(2) + A @ Q / N) ** (-N / 2)
    assert abs(samples.mean() - exact) < 4 * samples.std() / np.sqrt(len(samples))


def test_one_gate_gives_back_the_deep_linear_action_symbolically():
    """M = 1, g = 1: with V_m = prod_{l>=m} u_l the matrix action is the deep-linear effective action."""
    for L in (1, 2, 3):
        gated = GatedTheory(srg.deep_linear(L))
        deep = srg.derive(srg.deep_linear(L))
        us = deep.order_parameters
        sub = {V: sp.Matrix([[sp.Mul(*us[i:])]]) for i, V in enumerate(gated.order_parameters)}
        measure = sp.expand_log(gated.measure_term.xreplace(sub).doit(), force=True)
        deep_measure = sp.Add(*[t for t in sp.Add.make_args(deep.effective_action) if not t.has(sp.Sum)])
        difference = sp.expand_log(measure - deep_measure, force=True)
        assert all(sp.simplify(sp.diff(difference, u)) == 0 for u in us)      # equal up to a constant
        kernel = gated.kernel.xreplace(sub).doit()
        assert sp.simplify(kernel - deep.input_variance * deep.renormalized_coefficient * input_kernel) == sp.ZeroMatrix(n_modes, n_modes)


def test_infinite_width_kernel_is_the_product_of_gate_grams():
    th = srg.derive(srg.ggdln(2, gated_readout=True))
    G1, G2, Ga = (sp.MatrixSymbol(n, n_modes, sp.Symbol(m, integer=True, positive=True))
                  for n, m in (("G_1", "M_1"), ("G_2", "M_2"), ("G_a", "M_a")))
    s1, s2, sa = th.sigmas
    M1, M2, Ma = (G.shape[1] for G in (G1, G2, Ga))
    expected = sp.HadamardProduct(s1**2 * s2**2 * sa**2 / (M1 * M2 * Ma) * sp.HadamardProduct(Ga * Ga.T, G2 * G2.T, G1 * G1.T),
                                  input_kernel)
    assert sp.simplify(th.gp_kernel.doit() - expected.doit()).is_ZeroMatrix or \
        sorted(map(str, sp.preorder_traversal(th.gp_kernel))) == sorted(map(str, sp.preorder_traversal(expected)))


# -- numerics of the rules ------------------------------------------------------------------------------
def _random_spd(rng, d):
    A = rng.standard_normal((d, d))
    return A @ A.T / d + 0.5 * np.eye(d)


def test_face_split_and_partial_trace():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((5, 2)), rng.standard_normal((5, 3))
    F = face_split(A, B)
    assert_allclose(F @ F.T, (A @ A.T) * (B @ B.T), rtol=1e-12)
    V, W = _random_spd(rng, 2), rng.standard_normal((6, 6))
    assert_allclose(np.trace(partial_trace(W, 3) @ V), np.trace(W @ np.kron(V, np.eye(3))), rtol=1e-12)


def test_data_term_and_its_gradient_match_the_symbolic_expressions():
    """The solver's one-Cholesky data term and Phi against the lambdified derived expressions."""
    th = srg.derive(srg.ggdln(1, gated_readout=True))
    rng = np.random.default_rng(1)
    P, M1, Ma = 7, 2, 3
    sub = {n_modes: P, sp.Symbol("M_1", integer=True, positive=True): M1, sp.Symbol("M_a", integer=True, positive=True): Ma}
    G1, Ga = th.gate_order[0].matrix.xreplace(sub), th.gate_order[1].matrix.xreplace(sub)
    V = th.order_parameters[0].xreplace(sub)
    K0s, ys = input_kernel.xreplace(sub), sp.MatrixSymbol("y", P, 1)
    args = [V, G1, Ga, K0s, ys] + list(th.sigmas) + [th.temperature]
    f = lambdify(args, [th.data_term.xreplace(sub), th.data_gradient.xreplace(sub)])
    X = rng.standard_normal((P, 4))
    K0, y = X @ X.T / 4, rng.standard_normal(P)
    g1, ga = (rng.random((P, M1)) > 0.3).astype(float), rng.random((P, Ma))
    Vn, T, s1 = _random_spd(rng, Ma), 0.3, 1.3
    value, Phi = f(Vn, g1, ga, K0, y[:, None], s1, 0.9, T)
    solver = th.compile()
    from symbolic_rg.gated.solver import training_data
    data = training_data(X, y[:, None], K0, y, [ga, g1])
    A0 = s1**2 / M1 * np.kron(Vn, np.eye(M1))
    v2, Phi2 = solver.data_term(A0, data, T)
    assert_allclose(v2, float(value), rtol=1e-12)
    assert_allclose(Phi2, Phi, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("net", [srg.ggdln(2, gates=2, gated_readout=True), srg.ggdln(2, gates=3, outputs=2),
                                 srg.ggdln(3, gates=2, linear_layers=(2,))], ids=["gated-readout", "2-outputs", "mixed"])
def test_gradient_is_the_derivative_of_the_action(net):
    """dH/dtheta from the derived matrix gradients against central differences of H."""
    th = srg.derive(net)
    solver = th.compile()
    rng = np.random.default_rng(2)
    X, m = rng.standard_normal((12, 5)), th.outputs
    Y = rng.standard_normal((12, m))
    funcs = solver.gate_functions(None, 0)
    data, raw = solver.prepare(X, Y if m > 1 else Y[:, 0], funcs)
    fn = solver.compiled_functions({gs: values.shape[1] for gs, values in raw.items()})
    widths = np.array([30.0, 40.0, 50.0][:th.depth])
    scalars = list(widths) + [1.1, 0.8, 1.3, 0.9][:th.depth + 1]
    chol = [np.linalg.cholesky(_random_spd(rng, d)) for d in fn["dims"]]
    evaluate, _ = solver.objective(fn, data, 0.2, widths, scalars, chol)
    theta = 0.3 * rng.standard_normal(sum(d * (d + 1) // 2 for d in fn["dims"]))
    _, grad = evaluate(theta)
    h = 1e-5
    for i in rng.choice(len(theta), size=min(8, len(theta)), replace=False):
        e = np.zeros_like(theta)
        e[i] = h
        fd = (evaluate(theta + e)[0] - evaluate(theta - e)[0]) / (2 * h)
        assert_allclose(grad[i], fd, rtol=1e-6, atol=1e-7)


# -- solver -------------------------------------------------------------------------------------------
def test_one_gate_network_solves_like_the_deep_linear_engine(small_data):
    X, y, Xt, yt = small_data
    gated = GatedTheory(srg.deep_linear(2)).compile().solve(X, y, [30, 50], sigma2=[1.0, 0.7, 1.3], T=0.2)
    deep = srg.derive(srg.deep_linear(2)).compile().solve(X, y, widths=[30, 50], sigma2=[1.0, 0.7, 1.3], T=0.2)
    u = deep.order_parameters
    assert_allclose([gated.order_parameters[0][0, 0], gated.order_parameters[1][0, 0]], [u[0] * u[1], u[1]], rtol=1e-8)
    assert_allclose(tuple(gated.generalization_error(Xt, yt)), tuple(deep.generalization_error(Xt, yt)), rtol=1e-8)
    # and a ggdln with M = 1, g = 1 through the gated layer rule
    ones = FixedGates(np.ones((len(y), 1)), np.ones((len(yt), 1)))
    g1 = srg.derive(srg.ggdln(2, gates=1)).compile().solve(X, y, [30, 50], sigma2=[1.0, 0.7, 1.3], T=0.2, gates=[ones, ones])
    assert_allclose(tuple(g1.generalization_error(Xt, yt)), tuple(deep.generalization_error(Xt, yt)), rtol=1e-8)
    for a, b in zip(g1.layer_kernels(), deep.layer_kernels()):                 # the kernel recursion, too
        assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(b).max())


def test_infinite_width_limit_is_the_gp_kernel():
    X, y, Xt, yt, g1, ga = gated_teacher(P=30)
    th = srg.derive(srg.ggdln(1, gates=4, gated_readout=True))
    sol = th.compile().solve(X, y, [1e9], sigma2=[1.5, 0.8], T=0.1, gates=[g1, ga])
    Kgp = 1.5 * 0.8 / 16 * (ga(X) @ ga(X).T) * (g1(X) @ g1(X).T) * (X @ X.T / X.shape[1])
    assert_allclose(sol.kernel, Kgp, rtol=1e-7, atol=1e-7 * np.abs(Kgp).max())      # O(1/N) = 1e-9
    assert_allclose(sol.kernel_scale, 1.0, rtol=1e-7)


def test_order_parameters_are_positive_definite_and_converged():
    X, y, Xt, yt, g1, ga = gated_teacher()
    sol = srg.derive(srg.ggdln(1, gates=4, gated_readout=True)).compile().solve(X, y, [20], T=0.0, gates=[g1, ga])
    V = sol.order_parameters[0]
    assert sol.converged and sol.residual < 1e-9
    assert_allclose(V, V.T, atol=1e-14)
    assert np.linalg.eigvalsh(V)[0] > 0
    assert sol.roots and sol.roots[0].action == pytest.approx(sol.action)


def test_bias_depends_on_width_at_zero_temperature_unlike_deep_linear(small_data):
    """Kernel *shape* renormalization: at T = 0 the mean predictor (the bias) changes with N."""
    X, y, Xt, yt, g1, ga = gated_teacher()
    solver = srg.derive(srg.ggdln(1, gates=4, gated_readout=True)).compile()
    bias = [solver.solve(X, y, [N], T=0.0, gates=[g1, ga]).generalization_error(Xt, yt).bias for N in (20, 100, 1e8)]
    assert bias[0] < bias[1] - 0.05 and bias[1] < bias[2] - 0.05
    Xd, yd, Xdt, ydt = small_data
    deep = srg.derive(srg.deep_linear(1)).compile()
    bd = [deep.solve(Xd, yd, widths=[N], T=0.0).generalization_error(Xdt, ydt).bias for N in (20, 100, 1e8)]
    assert_allclose(bd, bd[0], rtol=1e-9)


# -- theory versus the real finite network ---------------------------------------------------------------
def _agree(theory, estimate, stderr, N, label):
    """Within 3 standard errors plus the O(1/N) remainder of the saddle point (taken as 2/N relative)."""
    assert abs(theory - estimate) <= 3 * stderr + 2.0 / N * abs(theory), (label, theory, estimate, stderr)


@pytest.mark.parametrize("depth,M,N,shared", [(1, 3, 200, False),
                                               pytest.param(2, 2, 150, False, marks=pytest.mark.slow),
                                               pytest.param(2, 3, 150, True, marks=pytest.mark.slow)],
                         ids=["L1-halfspace", "L2-halfspace", "L2-shared-sigmoid"])
def test_theory_matches_gibbs_sampling_of_the_gated_network(depth, M, N, shared):
    X, y, Xt, yt = digits(P=60, P_test=100, seed=1)
    if shared:                                   # one set of smooth gates for every layer
        gates = [srg.SigmoidGates(M, seed=7, bias=-0.3)] * (depth + 1)
    else:
        gates = [HalfSpaceGates(M, seed=l, bias=-0.3) for l in range(depth + 1)]
    net = srg.ggdln(depth, gates=M, gated_readout=depth == 1, shared_gates=shared)
    th = srg.derive(net)
    funcs = gates[:len(th.gate_order)] if not shared else gates[:1]
    if shared:
        assert [V.shape for V in th.order_parameters] == [(M, M), (1, 1)]
    T = 0.1
    sol = th.compile().solve(X, y, [N] * depth, T=T, gates=funcs)
    gp = th.compile().solve(X, y, [1e9] * depth, T=T, gates=funcs)
    readout = gates[depth] if depth == 1 else None
    ps = gibbs_gated(X, y, Xt, [N] * depth, [g(X) for g in gates[:depth]], [g(Xt) for g in gates[:depth]],
                     None if readout is None else readout(X), None if readout is None else readout(Xt),
                     T=T, samples=2500, burn_in=300, seed=3)
    est, se = ps.generalization_error(yt)
    theory, limit = sol.generalization_error(Xt, yt), gp.generalization_error(Xt, yt)
    for name in ("total", "bias", "variance"):
        _agree(getattr(theory, name), getattr(est, name), getattr(se, name), N, name)
    assert abs(limit.variance - est.variance) > 8 * se.variance          # clearly not the GP
    mean, var = sol.predict(Xt)
    on = ps.mean_stderr > 0
    assert np.mean(np.abs(mean - ps.mean)[on] / ps.mean_stderr[on]) < 2.0
    # mean hidden kernels: within sampling noise of the theory, several standard errors from the GP kernels
    for K, K_gp, K_sim, se in zip(sol.layer_kernels(), gp.layer_kernels(), ps.layer_kernels, ps.layer_kernels_stderr):
        on = se > 1e-12
        assert np.mean(np.abs(K - K_sim)[on] / se[on]) < 1.5
        assert np.mean(np.abs(K_gp - K_sim)[on] / se[on]) > 4.0


@pytest.mark.slow
def test_zero_temperature_bias_width_dependence_in_simulation():
    X, y, Xt, yt, g1, ga = gated_teacher()
    solver = srg.derive(srg.ggdln(1, gates=4, gated_readout=True)).compile()
    out = {}
    for N in (40, 200):
        theory = solver.solve(X, y, [N], T=0.0, gates=[g1, ga]).generalization_error(Xt, yt)
        ps = gibbs_gated(X, y, Xt, [N], [g1(X)], [g1(Xt)], ga(X), ga(Xt), T=0.0, samples=2000, burn_in=300, seed=4)
        est, se = ps.generalization_error(yt)
        _agree(theory.bias, est.bias, se.bias, N, "bias N=%d" % N)
        out[N] = (est.bias, se.bias)
    (b1, s1), (b2, s2) = out[40], out[200]
    assert b2 - b1 > 5 * np.hypot(s1, s2)


@pytest.mark.parametrize("gated", [True, False], ids=["ggdln", "deep-linear"])
def test_multi_output_matches_simulation(gated):
    X, y, Xt, yt = digits(P=50, P_test=80, seed=2)
    Y = np.stack([y, np.sign(X[:, 0])], axis=1)
    Yt = np.stack([yt, np.sign(Xt[:, 0])], axis=1)
    g = HalfSpaceGates(2, seed=0, bias=-0.3)
    th = srg.derive(srg.ggdln(1, gates=2, outputs=2) if gated else srg.deep_linear(1, outputs=2))
    sol = th.compile().solve(X, Y, [150], T=0.2, gates=[g] if gated else None)
    assert sol.order_parameters[0].shape == (2, 2)
    ps = gibbs_gated(X, Y, Xt, [150], [g(X) if gated else None], [g(Xt) if gated else None], T=0.2,
                     samples=2000, burn_in=300, seed=5)
    est, se = ps.generalization_error(Yt.ravel())
    theory = sol.generalization_error(Xt, Yt)
    _agree(theory.total, est.total, se.total, 150, "total")
    _agree(theory.variance, est.variance, se.variance, 150, "variance")


# -- bad input ------------------------------------------------------------------------------------------
def test_bad_input_is_rejected_with_the_parameter_named():
    X, y, Xt, yt, g1, ga = gated_teacher(P=20)
    solver = srg.derive(srg.ggdln(1, gates=4, gated_readout=True)).compile()
    off = np.ones((20, 4))
    off[3] = 0
    with pytest.raises(NoSolutionError, match="switches training input 3"):
        solver.solve(X, y, [50], T=0.0, gates=[FixedGates(off), ga])
    solver.solve(X, y, [50], T=0.1, gates=[FixedGates(off), ga])           # fine at T > 0
    with pytest.raises(ParameterError, match=r"shape \(20, 4\)"):
        solver.solve(X, y, [50], T=0.1, gates=[FixedGates(np.ones((20, 3))), ga])
    with pytest.raises(ParameterError, match="gate count"):
        HalfSpaceGates(0)
    with pytest.raises(ParameterError, match="gate counts M"):
        srg.ggdln(2, gates=0)
    with pytest.raises(ParameterError, match="N_1"):
        srg.derive(srg.ggdln(1, gates=4, gated_readout=True)).compile().solve(X, y, [3], T=0.1, gates=[g1, ga])
    with pytest.raises(ParameterError, match="widths"):
        solver.solve(X, y, [-5], T=0.1, gates=[g1, ga])
    with pytest.raises(ParameterError, match="T must"):
        solver.solve(X, y, [50], T=-1, gates=[g1, ga])


# -- export ---------------------------------------------------------------------------------------------
def test_latex_document_compiles(tmp_path):
    tex = srg.derive(srg.ggdln(2, gated_readout=True)).latex(document=True)
    for piece in (r"\operatorname{Tr}_{M_{1}}", r"V_{2}^{-1} \otimes", r"\bullet", r"\circ K_{0}"):
        assert piece in tex
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: LaTeX compilation not checked")
    (tmp_path / "g.tex").write_text(tex)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "g.tex"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:]


def test_derivation_file_is_regenerated_identically(tmp_path):
    import pathlib
    import sys
    root = pathlib.Path(__file__).resolve().parents[1]
    out = tmp_path / "ggdln.tex"
    subprocess.run([sys.executable, str(root / "derivations" / "ggdln.py"), "--out", str(out)], check=True)
    assert out.read_text() == (root / "derivations" / "ggdln.tex").read_text()


def test_multitask_per_task_errors_and_task_dependent_gates():
    from symbolic_rg.data import multitask_digits
    from symbolic_rg.gated.gates import TaskGates
    solver = srg.derive(srg.ggdln(2, gates=4)).compile()

    def per_task(n, weight):
        d = multitask_digits(tasks=n, P=60, P_test=150, seed=0)
        gates = [TaskGates(4, d.contexts, seed=l, context_weight=weight).fixed(d.X_train, d.task_train, d.X_test, d.task_test)
                 for l in range(2)]
        sol = solver.solve(d.X_train, d.y_train, [100, 100], T=0.1, gates=gates)
        return sol, d, sol.generalization_error_by_group(d.X_test, d.y_test, d.task_test)
    sol, d, one = per_task(1, 1.0)
    assert tuple(one[0]) == pytest.approx(tuple(sol.generalization_error(d.X_test, d.y_test)), rel=1e-12)
    blind = np.mean([e.total for e in per_task(3, 0.0)[2].values()])
    aware = np.mean([e.total for e in per_task(3, 3.0)[2].values()])
    assert aware < blind - 0.1           # gates that see the task reduce the interference between tasks


def test_fixed_gates_use_the_test_array_for_test_inputs_of_equal_size():
    X, y, Xt, yt, g1, ga = gated_teacher(P=40, P_test=40)
    solver = srg.derive(srg.ggdln(1, gates=4, gated_readout=True)).compile()
    fixed = [FixedGates(g(X), g(Xt)) for g in (g1, ga)]
    a = solver.solve(X, y, [50], T=0.1, gates=fixed).predict(Xt)
    b = solver.solve(X, y, [50], T=0.1, gates=[g1, ga]).predict(Xt)
    assert_allclose(a, b, rtol=1e-10)


def test_sweep_is_warm_started_and_matches_independent_solves(small_data):
    X, y, Xt, yt = small_data
    solver = srg.derive(srg.ggdln(2, gates=2, gated_readout=True)).compile()
    widths = [[N, N] for N in (20, 40, 80)]
    sweep = solver.sweep(X, y, widths, T=0.1)
    cold = [solver.solve(X, y, w, T=0.1) for w in widths]
    assert_allclose(sweep.generalization_error(Xt, yt).total, [c.generalization_error(Xt, yt).total for c in cold],
                    rtol=1e-7)
    assert all(s.converged for s in sweep.solutions) and len(sweep) == 3
    temps = solver.sweep(X, y, [40, 40], T=[0.05, 0.1, 0.2])
    assert temps[1].generalization_error(Xt, yt).total == pytest.approx(cold[1].generalization_error(Xt, yt).total, rel=1e-7)
    with pytest.raises(ParameterError, match="must match"):
        solver.sweep(X, y, widths, T=[0.1, 0.2])
