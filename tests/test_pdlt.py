"""PDLT recursions: two-input averages (closed form / quadrature / scipy / Monte Carlo), kernel and NTK
recursions, the four-point vertex and 1/n kernel correction against random finite networks, depth scaling,
the heuristic ReLU kernel renormalization; the symbolic theory (its equations, stationarity conditions at the
critical point, LaTeX) and its compiled solver under the protocol."""
import json

import numpy as np
import pytest
import sympy as sp
from scipy import integrate
from sympy.parsing.latex import parse_latex

import symbolic_rg as srg
from symbolic_rg.activations import activation, numeric, z
from symbolic_rg.errors import ParameterError
from symbolic_rg.latex import latex
from symbolic_rg.pdlt import GaussianAverages, depth_scaling, finite_width, kernel_recursion, norm_vertex
from symbolic_rg.protocol import Solution, Solver, Theory
from symbolic_rg.simulate import prior_network_statistics
from symbolic_rg.two_point import K11, K22, HermiteSeries, closed_form, quadrature, rho

KERNELS = [np.array([[1.3, 0.4], [0.4, 0.7]]), np.array([[0.8, -0.55], [-0.55, 2.1]])]


def scipy_pair(f, h, K):
    """<f(z1) h(z2)> by nested adaptive quadrature, split at the kinks z1 = 0 and z2 = 0."""
    F, H = numeric(f), numeric(h)
    a = np.sqrt(K[0, 0]); b = K[0, 1] / a; c = np.sqrt(K[1, 1] - b * b)
    phi = lambda t: np.exp(-t * t / 2) / np.sqrt(2 * np.pi)

    def inner(t1):
        kink = -b * t1 / c
        return integrate.quad(lambda t2: H(np.array(b * t1 + c * t2))[()] * phi(t2), -12, 12, points=[kink],
                              epsabs=1e-14, epsrel=1e-13, limit=200)[0]
    return integrate.quad(lambda t1: F(np.array(a * t1))[()] * phi(t1) * inner(t1), -12, 12, points=[0.0],
                          epsabs=1e-14, epsrel=1e-13, limit=200)[0]


def closed_value(expr, K):
    return float(expr.subs({K11: K[0, 0], K22: K[1, 1], rho: K[0, 1] / np.sqrt(K[0, 0] * K[1, 1])}))


@pytest.mark.parametrize("name,power", [("relu", 1), ("leaky_relu:0.2", 1), ("abs", 1), ("relu", 2), ("erf", 1)])
def test_closed_forms_match_adaptive_quadrature(name, power):
    s = activation(name) ** power
    expr = closed_form(s)
    assert expr is not None
    for K in KERNELS:
        assert closed_value(expr, K) == pytest.approx(scipy_pair(s, s, K), abs=1e-10, rel=1e-10)


def test_relu_derivative_and_mixed_closed_forms():
    r = activation("relu")
    d = sp.diff(r, z)
    assert sp.simplify(closed_form(d) - (sp.pi - sp.acos(rho)) / (2 * sp.pi)) == 0
    for K in KERNELS:
        assert closed_value(closed_form(r**3, r), K) == pytest.approx(scipy_pair(r**3, r, K), abs=1e-10)


@pytest.mark.parametrize("name", ["tanh", "gelu", "swish"])
def test_quadrature_matches_adaptive_quadrature(name):
    s = activation(name)
    assert closed_form(s) is None
    g = quadrature(s, s)
    for K in KERNELS:
        assert g(K[0, 0], K[0, 1], K[1, 1]) == pytest.approx(scipy_pair(s, s, K), abs=1e-10, rel=1e-10)


def test_quadrature_reproduces_closed_form_and_states_its_error():
    s = activation("erf")
    g, exact = quadrature(s, s), closed_form(s)
    for K in KERNELS + [np.array([[5.0, 4.9], [4.9, 5.0]])]:
        assert g(K[0, 0], K[0, 1], K[1, 1]) == pytest.approx(closed_value(exact, K), abs=1e-10)
    av = GaussianAverages("tanh")
    assert 0 <= av.quadrature_error(2.0, 0.5, 1.0) < 1e-10
    assert GaussianAverages("relu").quadrature_error(2.0, 0.5, 1.0) == 0.0


@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0, 20.0])
def test_hermite_series_reproduces_closed_form_with_a_true_error_bound(scale):
    """Mehler series for erf against its arcsine closed form, for many inputs at once, including exactly and
    nearly parallel and anti-parallel inputs (rho = 1 needs the whole series)."""
    s = activation("erf")
    exact = sp.lambdify((K11, K22, rho), closed_form(s))
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 6))
    X[1], X[2], X[3] = X[0], 1.0001 * X[0], -X[0]
    K = scale * X @ X.T / 6
    d = np.sqrt(np.diag(K))
    ref = exact(K.diagonal()[:, None], K.diagonal()[None, :], np.clip(K / np.outer(d, d), -1, 1))
    S, bound = HermiteSeries(s).matrix(K)
    assert 0 < bound < 1e-11
    assert np.max(np.abs(S - ref)) < bound


@pytest.mark.parametrize("name,C_W,C_b", [("tanh", 1.0, 0.0), ("tanh", 2.5, 0.3), ("gelu", 2.0, 0.0),
                                          ("swish", 2.0, 0.1)])
def test_kernel_recursion_series_matches_trapezoidal_rule(name, C_W, C_b):
    """Many-input recursions by the Mehler series against the per-pair 2-D trapezoidal rule."""
    av = GaussianAverages(name)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 10))
    X[3] = 1.01 * X[2]
    rec = kernel_recursion(name, X, 6, C_W=C_W, C_b=C_b, averages=av)
    assert 0 < rec.quadrature_error < 1e-10
    K, T = rec.kernels[0], rec.ntk[0]
    for l in range(1, 6):
        S = np.array([[av.pair(K[i, i], K[i, j], K[j, j]) for j in range(12)] for i in range(12)])
        D = np.array([[av.pair_derivative(K[i, i], K[i, j], K[j, j]) for j in range(12)] for i in range(12)])
        K, T = C_b + C_W * S, 1.0 + S + C_W * D * T
        np.testing.assert_allclose(rec.kernels[l], K, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(rec.ntk[l], T, rtol=1e-11)


def test_kernel_recursion_falls_back_to_the_rule_past_the_series_order():
    """A kink but no closed form (Hermite coefficients decay only algebraically): the trapezoidal rule with a
    stated error (it converges like step² there) instead of a truncated series."""
    spec = "Piecewise((tanh(z), z > 0), (0, True))"
    av = GaussianAverages(spec)
    assert av.closed_forms["sigma sigma"] is None
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 4))
    K = X @ X.T / 4
    assert av.series["sigma sigma"].matrix(K) is None
    S, D, error = av.pair_matrices(K)
    assert 1e-6 < error < 1e-3
    worst = max(abs(S[i, j] - scipy_pair(av.sigma, av.sigma, K[np.ix_([i, j], [i, j])]))
                for i in range(4) for j in range(i + 1, 4))
    assert error / 3 < worst < error


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_pair_averages_against_monte_carlo(name):
    av = GaussianAverages(name)
    rng = np.random.default_rng(5)
    K = KERNELS[0]
    zs = rng.multivariate_normal([0, 0], K, size=400_000)
    f, df = numeric(av.sigma), numeric(av.derivative)
    for fn, g in ((f, av.pair), (df, av.pair_derivative)):
        samples = fn(zs[:, 0]) * fn(zs[:, 1])
        err = samples.std() / np.sqrt(len(samples))
        assert abs(g(K[0, 0], K[0, 1], K[1, 1]) - samples.mean()) < 4 * err


def test_linear_kernel_and_ntk_recursions_are_exact():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 9))
    rec = kernel_recursion("linear", X, 4, C_W=1.3, C_b=0.2, lambda_b=0.5, lambda_W=2.0)
    K = 0.2 + 1.3 * X @ X.T / 9
    T = 0.5 + 2.0 * X @ X.T / 9
    for l in range(4):
        np.testing.assert_allclose(rec.kernels[l], K, rtol=1e-13)
        np.testing.assert_allclose(rec.ntk[l], T, rtol=1e-13)
        K, T = 0.2 + 1.3 * K, 0.5 + 2.0 * K + 1.3 * T


def test_relu_recursion_against_arccosine_formula():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((7, 5))
    rec = kernel_recursion("relu", X, 5, C_W=2.0, C_b=0.1)
    K = 0.1 + 2.0 * X @ X.T / 5
    T = 1.0 + X @ X.T / 5
    for l in range(5):
        np.testing.assert_allclose(rec.kernels[l], K, rtol=1e-12)
        np.testing.assert_allclose(rec.ntk[l], T, rtol=1e-12)
        n = np.sqrt(np.diag(K))
        c = np.clip(K / np.outer(n, n), -1, 1)
        np.fill_diagonal(c, 1.0)                       # one input: correlation exactly 1
        th = np.arccos(c)
        ss = np.outer(n, n) * (np.sin(th) + (np.pi - th) * c) / (2 * np.pi)
        dd = (np.pi - th) / (2 * np.pi)
        K, T = 0.1 + 2.0 * ss, 1.0 + ss + 2.0 * dd * T
    last = kernel_recursion("relu", X, 5, C_W=2.0, C_b=0.1, layers="last")
    assert last.kernels.shape == (1, 7, 7) and last.layers.tolist() == [5]
    np.testing.assert_allclose(last.kernels[0], rec.kernels[-1])


def test_erf_derivative_closed_form_and_recursion():
    """<erf' erf'> = (4/pi)/sqrt((1 + 2K11)(1 + 2K22) - 4K12^2) (two Gaussians), so erf's kernel and NTK are both
    closed forms: against adaptive quadrature, and the recursion against the arcsine formulas written out."""
    s = activation("erf")
    d = sp.diff(s, z)
    expr = closed_form(d)
    assert sp.simplify(expr - 4 / (sp.pi * sp.sqrt((1 + 2 * K11) * (1 + 2 * K22) - 4 * K11 * K22 * rho**2))) == 0
    for K in KERNELS:
        assert closed_value(expr, K) == pytest.approx(scipy_pair(d, d, K), abs=1e-10, rel=1e-10)
    assert all(c is not None for c in GaussianAverages("erf").closed_forms.values())
    rng = np.random.default_rng(6)
    X = rng.standard_normal((9, 4))
    X[1] = X[0]
    rec = kernel_recursion("erf", X, 6, C_W=1.5, C_b=0.1, lambda_b=0.3, lambda_W=0.7)
    K, T = 0.1 + 1.5 * X @ X.T / 4, 0.3 + 0.7 * X @ X.T / 4
    for l in range(6):
        np.testing.assert_allclose(rec.kernels[l], K, rtol=1e-13)
        np.testing.assert_allclose(rec.ntk[l], T, rtol=1e-13)
        q = 1 / np.sqrt(1 + 2 * np.diag(K))
        x = 2 * K * np.outer(q, q)
        ss, dd = 2 / np.pi * np.arcsin(x), 4 / np.pi * np.outer(q, q) / np.sqrt(1 - x * x)
        K, T = 0.1 + 1.5 * ss, 0.3 + 0.7 * ss + 1.5 * dd * T
    with pytest.raises(ParameterError, match="overflowed"):
        kernel_recursion("relu", X, 2000, C_W=3.0)


def test_branch_free_arcsine_and_arccosine_within_two_ulp():
    """The compiled closed forms' arcsine and arccosine (fdlibm's rational approximation without branches)
    against libm, densely on [-1, 1] and near +-1, +-1/2 and 0."""
    from symbolic_rg.pdlt.recursions import acos, asin
    x = np.concatenate([np.linspace(-1, 1, 20001), 1 - np.logspace(-16, -1, 2000), -1 + np.logspace(-16, -1, 2000),
                        0.5 + np.linspace(-1e-6, 1e-6, 201), -0.5 + np.linspace(-1e-6, 1e-6, 201),
                        np.logspace(-300, -1, 300), -np.logspace(-300, -1, 300)])
    for mine, ref in ((asin, np.arcsin), (acos, np.arccos)):
        got = np.array([mine(v) for v in x])
        assert np.all(np.abs(got - ref(x)) <= 2 * np.spacing(np.abs(ref(x))))
    assert asin(1.0) == np.pi / 2 and acos(1.0) == 0.0 and acos(-1.0) == np.pi


def test_vertex_of_linear_network_and_consistency_of_one_and_two_inputs():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2, 6))
    fw = finite_width("linear", X[:1], 5, 50, C_W=1.5)
    K, V = 1.5 * X[0] @ X[0] / 6, 0.0
    for l in range(5):
        assert fw.kernel[l, 0, 0] == pytest.approx(K) and fw.vertex[l, 0, 0, 0, 0] == pytest.approx(V)
        V, K = 2 * 1.5**2 * K**2 + 1.5**2 * V, 1.5 * K
    np.testing.assert_allclose(fw.correction, 0, atol=1e-12)   # d^2<z^2>/dK^2 = 0: no 1/n correction
    for name in ("tanh", "relu"):
        two = finite_width(name, X, 4, 64, C_W=1.0)
        one = finite_width(name, X[1:], 4, 64, C_W=1.0)
        np.testing.assert_allclose(two.vertex[:, 1, 1, 1, 1], one.vertex[:, 0, 0, 0, 0], rtol=1e-8)
        np.testing.assert_allclose(two.correction[:, 1, 1], one.correction[:, 0, 0], rtol=1e-8, atol=1e-14)
        nv = norm_vertex(name, X, 4, C_W=1.0)
        np.testing.assert_allclose(nv[:, 0, 1], two.vertex[:, 0, 0, 1, 1], rtol=1e-8)


def test_joint_vertex_of_several_inputs_linear_exact_and_consistent_with_pairs():
    """Four inputs jointly (three- and four-input Gaussian integrals): the linear network's exact recursion
    V' = C_W^2 (K_13 K_24 + K_14 K_23) + r C_W^2 V, and for tanh/ReLU the components of any two inputs equal the
    two-input recursion."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((4, 6))
    fw = finite_width("linear", X, 3, 40, C_W=1.3)
    K, V = 1.3 * X @ X.T / 6, np.zeros((4,) * 4)
    for l in range(3):
        np.testing.assert_allclose(fw.vertex[l], V, atol=1e-12)
        V = 1.3**2 * (np.einsum("ac,bd->abcd", K, K) + np.einsum("ad,bc->abcd", K, K)) + 1.3**2 * V
        K = 1.3 * K
    for name in ("tanh", "relu"):
        three = finite_width(name, X[:3], 3, 64, C_W=1.0 if name == "tanh" else 2.0)
        two = finite_width(name, X[1:3], 3, 64, C_W=1.0 if name == "tanh" else 2.0)
        sub = np.ix_(*[[1, 2]] * 4)
        np.testing.assert_allclose(three.vertex[(slice(None),) + sub], two.vertex, rtol=1e-8, atol=1e-13)
        np.testing.assert_allclose(three.correction[:, 1:, 1:], two.correction, rtol=1e-8, atol=1e-13)
        assert np.allclose(three.vertex, three.vertex.transpose(0, 3, 4, 1, 2))       # V_(12)(34) = V_(34)(12)


@pytest.mark.parametrize("name,C_W", [("tanh", 1.0), ("relu", 2.0)])
def test_joint_vertex_of_three_inputs_against_random_networks(name, C_W):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((3, 8))
    X[1] = 0.6 * X[0] + 0.8 * X[1]
    X[2] = 0.5 * X[0] - 0.4 * X[1] + 0.75 * X[2]
    fw = finite_width(name, X, 3, 48, C_W=C_W)
    mc = prior_network_statistics(name, X, 3, 48, C_W=C_W, networks=8000, seed=9)
    assert np.all(np.abs(mc.kernel - fw.mean_kernel(3)) < 4 * mc.kernel_stderr)
    assert np.all(np.abs(mc.connected - fw.connected(3)) < 4 * mc.connected_stderr)
    assert np.abs(fw.connected(3)[0, 1, 2, 2]) > 4 * mc.connected_stderr[0, 1, 2, 2]     # a 3-input component resolved


def _pair_inputs():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2, 8))
    X[1] = 0.6 * X[0] + 0.8 * X[1]
    return X


def test_tanh_finite_width_kernel_correction_is_seen_in_random_networks():
    """n = 32, depth 4: the 1/n correction moves the kernel by several error bars, and K + K^{1}/n agrees."""
    X = _pair_inputs()
    fw = finite_width("tanh", X, 4, 32, C_W=1.0)
    mc = prior_network_statistics("tanh", X, 4, 32, C_W=1.0, networks=16000, seed=2)
    bare = np.abs(mc.kernel - fw.kernel[-1]) / mc.kernel_stderr
    corrected = np.abs(mc.kernel - fw.mean_kernel(4)) / mc.kernel_stderr
    assert bare.min() > 3 and corrected.max() < 4
    assert np.all(np.abs(mc.connected - fw.connected(4)) < 4 * mc.connected_stderr)


@pytest.mark.parametrize("name,C_W,C_b,width", [("relu", 2.0, 0.0, 128), ("erf", 1.2, 0.1, 64), ("gelu", 1.98, 0.17, 256)])
def test_vertex_and_kernel_against_random_networks(name, C_W, C_b, width):
    X = _pair_inputs() if width < 256 else _pair_inputs()[:1]
    fw = finite_width(name, X, 3, width, C_W=C_W, C_b=C_b)
    mc = prior_network_statistics(name, X, 3, width, C_W=C_W, C_b=C_b, networks=6000 if width < 256 else 3000, seed=4)
    assert np.all(np.abs(mc.kernel - fw.mean_kernel(3)) < 4 * mc.kernel_stderr)
    assert np.all(np.abs(mc.connected - fw.connected(3)) < 4 * mc.connected_stderr)
    assert np.all(mc.connected_stderr < 0.25 * np.abs(fw.connected(3)))      # the test resolves V


def test_depth_scaling_nu():
    relu = depth_scaling("relu")
    assert relu.nu == pytest.approx(5.0) and relu.nu_recursion == pytest.approx(5.0)
    tanh = depth_scaling("tanh")
    assert tanh.nu == pytest.approx(2 / 3) and tanh.nu_recursion == pytest.approx(2 / 3, rel=2e-3)
    gelu = depth_scaling("gelu")
    assert gelu.universality_class == "K*!=0" and gelu.nu == pytest.approx(gelu.nu_recursion, rel=1e-6)


def evaluate(expr, values):
    """``expr`` at ``values`` (symbol -> number), each unevaluated Gaussian integral over u by adaptive quadrature
    (split at u = 0, where piecewise activations have their kink)."""
    def quad(integral):
        (u, _, _), = integral.limits
        f = sp.lambdify(u, integral.function, ["scipy", "numpy"])
        return sp.Float(integrate.quad(f, -40, 40, points=[0.0], epsabs=1e-14, epsrel=1e-13, limit=400)[0], 30)
    return float(expr.subs(values).replace(lambda e: isinstance(e, sp.Integral), quad))


def test_pdlt_theory_is_derived_per_activation():
    relu, tanh = srg.PDLTTheory("relu"), srg.PDLTTheory("tanh")
    assert relu.chi_parallel == relu.C_W / 2
    assert relu.vertex_recursion.rhs == 5 * relu.C_W**2 * relu.K**2 / 4 + relu.r * relu.C_W**2 * relu.V / 4
    assert relu.ntk_recursion.rhs == relu.lambda_b + relu.lambda_W * relu.K / 2 + relu.C_W * relu.Theta / 2
    assert relu.order_parameters == (relu.K, relu.Theta, relu.V, relu.K1)
    assert relu.recursions == (relu.kernel_recursion, relu.ntk_recursion, relu.vertex_recursion,
                               relu.correction_recursion)
    assert tanh.g.has(sp.Integral) and tanh.two_input == (None, None)
    linear = srg.PDLTTheory("linear")
    assert linear.correction_recursion.rhs == linear.r * linear.C_W * linear.K1


@pytest.mark.parametrize("name", ["tanh", "gelu", "Piecewise((tanh(z), z > 0), (0, True))"])
def test_symbolic_recursions_agree_with_the_numeric_averages(name):
    """The derived integrals (Price's theorem for smooth activations, Hermite weights otherwise) at K = 0.8
    against GaussianAverages.single (g and its two K-derivatives, the vertex and correction recursions) and
    adaptive quadrature (<sigma'^2>)."""
    th, s = srg.PDLTTheory(name), GaussianAverages(name).single(0.8)
    at = {th.K: 0.8, th.C_W: 1.3, th.C_b: 0.2, th.V: 0.7, th.K1: -0.4, th.r: 1.5}
    assert evaluate(th.g, at) == pytest.approx(s["s2"], abs=1e-11)
    assert evaluate(th.chi_parallel, at) == pytest.approx(1.3 * s["d1"], abs=1e-11)
    assert evaluate(th.g_second_derivative, at) == pytest.approx(s["d2"], abs=1e-10)
    dd = numeric(sp.diff(th.sigma, z)**2)                  # <sigma'^2> by scipy, split at the kink
    density = lambda t: dd(np.array(t))[()] * np.exp(-t * t / 1.6) / np.sqrt(1.6 * np.pi)
    reference = sum(integrate.quad(density, a, b, epsabs=1e-14, epsrel=1e-13)[0] for a, b in ((-40, 0), (0, 40)))
    assert evaluate(th.chi_perp, at) == pytest.approx(1.3 * reference, abs=1e-11)
    vertex = 1.3**2 * (s["s4"] - s["s2"]**2) + 1.5 * (1.3 * s["d1"])**2 * 0.7
    assert evaluate(th.vertex_recursion.rhs, at) == pytest.approx(vertex, abs=1e-10)
    correction = 1.5 * (1.3 * s["d1"] * -0.4 + 1.3 / 2 * s["d2"] * 0.7)
    assert evaluate(th.correction_recursion.rhs, at) == pytest.approx(correction, abs=1e-10)


@pytest.mark.parametrize("name", ["relu", "tanh", "gelu"])
def test_stationarity_conditions_hold_at_the_critical_point(name):
    """saddle_point_equations (fixed point, chi_parallel = chi_perp = 1) at srg.criticality's point, to 1e-10
    (ReLU: any K is a fixed point; tanh: K* = 0, where Price's form of chi_parallel is finite), and the
    susceptibilities miss 1 off it."""
    th, c = srg.PDLTTheory(name), srg.criticality(name)
    assert all(isinstance(eq, sp.Eq) for eq in th.saddle_point_equations)
    at = {th.C_W: c.C_W, th.C_b: c.C_b, th.K_star: 1.7 if np.isnan(c.K_star) else c.K_star}
    for eq in th.saddle_point_equations:
        assert abs(evaluate(eq.lhs - eq.rhs, at)) < 1e-10, eq
    off = {**at, th.C_W: 1.1 * c.C_W}
    for eq in th.saddle_point_equations[1:]:
        assert abs(evaluate(eq.lhs - eq.rhs, off)) > 1e-2


def test_latex_equations_are_equations_and_latex_states_the_rest():
    relu, tanh = srg.PDLTTheory("relu"), srg.PDLTTheory("tanh")
    for th in (relu, tanh):
        rows = th.latex_equations()
        assert all(isinstance(eq, sp.Eq) for _, eq in rows)
        assert len({name for name, _ in rows}) == len(rows)
        assert [eq for name, eq in rows if "criticality" in name or name == "fixed point"] == \
            list(th.saddle_point_equations)
    r, t = dict(relu.latex_equations()), dict(tanh.latex_equations())
    assert r["critical bias variance"].rhs == 0 and r["critical weight variance"].rhs == 2
    assert r["depth scaling"].rhs == 5
    assert "critical kernel" not in r and "every $K$ is a fixed point" in relu.latex()
    assert "two-input average" in r and "two-input average" not in t and "no closed form" in tanh.latex()
    assert t["critical weight variance"].rhs == 1 and t["critical kernel"].rhs == 0
    assert t["depth scaling"] == sp.Eq(tanh.nu, sp.Rational(2, 3), evaluate=False)
    text = tanh.latex(document=True)
    assert r"\int" in text and r"\nu &= \frac{2}{3}" in text and "K^*=0" in text and text.count(r"\tag*") == len(t)
    gelu = dict(srg.PDLTTheory("gelu").latex_equations())
    assert float(gelu["critical kernel"].rhs) == pytest.approx(srg.criticality("gelu").K_star, rel=1e-5)
    bare = srg.PDLTTheory("Piecewise((tanh(z), z > 0), (0, True))")
    assert "critical weight variance" not in dict(bare.latex_equations())
    assert "These conditions have no solution" in bare.latex() and r"chi\_parallel" in bare.latex()


def test_relu_latex_parses_back():
    """The right-hand sides SymPy's LaTeX parser reads (closed one-input recursions, critical point) parse back
    to the derived expressions."""
    rows = dict(srg.PDLTTheory("relu").latex_equations())
    for name in ("kernel", "NTK", "parallel susceptibility", "perpendicular susceptibility", "four-point vertex",
                 "critical weight variance", "depth scaling"):
        rhs = rows[name].rhs
        mine = rhs.xreplace({a: parse_latex(latex(a)) for a in rhs.atoms(sp.Symbol)})
        assert sp.simplify(parse_latex(latex(rhs)) - mine) == 0, name


@pytest.mark.parametrize("name,C_W", [("relu", 2.0), ("tanh", 1.0)])
def test_compiled_solver_follows_the_protocol_and_agrees_with_the_recursions(name, C_W):
    th = srg.PDLTTheory(name)
    solver = th.compile()
    assert isinstance(th, Theory) and isinstance(solver, Solver)
    X = np.random.default_rng(11).standard_normal((3, 6))
    sol = solver.solve(X, 4, C_W, C_b=0.1, lambda_b=0.5, lambda_W=2.0, widths=32)
    assert isinstance(sol, Solution) and sol.converged is True
    rec = kernel_recursion(name, X, 4, C_W, C_b=0.1, lambda_b=0.5, lambda_W=2.0)
    fw = finite_width(name, X, 4, 32, C_W, C_b=0.1)
    for mine, ref in ((sol.kernels, rec.kernels), (sol.ntk, rec.ntk), (sol.vertex, fw.vertex),
                      (sol.correction, fw.correction), (sol.mean_kernel(3), fw.mean_kernel(3))):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-14)
    assert len(sol.order_parameters) == 4           # K, Theta, V, K1: the theory's order
    for mine, ref in zip(sol.order_parameters, (rec.kernels[-1], rec.ntk[-1], fw.vertex[-1], fw.correction[-1])):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-14)
    assert sol.residual == rec.quadrature_error and (sol.residual == 0) == (name == "relu")
    d = json.loads(json.dumps(sol.as_dict()))
    np.testing.assert_allclose(d["kernel"], rec.kernels, rtol=0, atol=1e-14)
    np.testing.assert_allclose(d["order_parameters"]["V"], fw.vertex[-1], rtol=0, atol=1e-14)
    assert d["widths"] == [32, 32, 32] and d["depth"] == 4 and d["converged"] and len(d["mean_kernel"]) == 4
    plain = solver.solve(X, 4, C_W)
    assert len(plain.order_parameters) == 2 and plain.vertex is None
    json.dumps(plain.as_dict())
    with pytest.raises(ParameterError, match="widths"):
        plain.mean_kernel(2)


def test_sweep_over_depths_and_weight_variances():
    solver = srg.PDLTTheory("relu").compile()
    assert solver.critical_point()[:2] == (0.0, 2.0) and solver.critical_point().universality_class == "scale-invariant"
    X = np.random.default_rng(12).standard_normal((4, 5))
    sweep = solver.sweep(X, [2, 5], [1.5, 2.0])
    assert len(sweep) == 4 and sweep.shape == (2, 2) and sweep.converged.all() and np.all(sweep.residual == 0)
    for i, (L, c) in enumerate([(2, 1.5), (2, 2.0), (5, 1.5), (5, 2.0)]):
        assert sweep.parameters[i]["depth"] == L and sweep.parameters[i]["C_W"] == c
        one = solver.solve(X, L, c)
        np.testing.assert_array_equal(sweep[i].order_parameters[0], one.order_parameters[0])
        np.testing.assert_array_equal(sweep.order_parameters[i][1], one.order_parameters[1])
    np.testing.assert_allclose(np.diag(sweep[3].order_parameters[0]), np.diag(sweep[3].kernels[0]), rtol=1e-12)
    assert len(json.loads(json.dumps(sweep.as_dict()))["points"]) == 4
    assert len(solver.sweep(X, 3, 2.0)) == 1


def test_solver_argument_errors():
    th = srg.PDLTTheory("relu")
    with pytest.raises(ParameterError, match=r"^precision must be None .*\(float64 only\), got 30$"):
        th.compile(precision=30)
    with pytest.raises(ParameterError, match=r"^step must be finite and > 0, got 0$"):
        th.compile(step=0)
    solver, X = th.compile(), np.ones((2, 3))
    with pytest.raises(ParameterError, match=r"^depth must be an integer >= 1, got 0$"):
        solver.solve(X, 0, 2.0)
    with pytest.raises(ParameterError, match=r"^depth must be an integer >= 1, got 2.0$"):
        solver.sweep(X, [1, 2.0], 2.0)
    with pytest.raises(ParameterError, match=r"^X must be a 2-D array, got shape \(3,\)$"):
        solver.solve(np.ones(3), 2, 2.0)
    with pytest.raises(ParameterError, match="^X must have finite entries, got NaN or inf"):
        solver.solve(np.full((2, 2), np.nan), 2, 2.0)
    with pytest.raises(ParameterError, match=r"^widths: N_2 must be an integer >= 1, got 0.5$"):
        solver.solve(X, 3, 2.0, widths=[10, 0.5])
    with pytest.raises(ParameterError, match=r"^C_W must be finite and > 0"):
        solver.solve(X, 3, -1.0)


def test_heuristic_relu_reproduces_linear_and_its_gp_limit():
    rng = np.random.default_rng(3)
    X, Xt = rng.standard_normal((25, 12)), rng.standard_normal((10, 12))
    y = np.tanh(X[:, 0]) + 0.1 * rng.standard_normal(25)
    lin = srg.derive(srg.deep_linear(2)).compile().solve(X, y, width=60, sigma2=1.1, T=0.05)
    via = srg.derive(srg.deep_nonlinear(2, "linear")).compile().solve(X, y, width=60, sigma2=1.1, T=0.05)
    np.testing.assert_allclose(via.order_parameters, lin.order_parameters, rtol=1e-12)
    # infinite width: GP regression with the ReLU NNGP kernel, written out independently
    sol = srg.derive(srg.deep_nonlinear(2, "relu")).compile().solve(X, y, width=np.inf, sigma2=[1.5, 0.8, 1.2], T=0.05)
    A = np.vstack([X, Xt])
    K = 1.5 * A @ A.T / 12
    for s2 in (0.8, 1.2):
        n = np.sqrt(np.diag(K))
        th = np.arccos(np.clip(K / np.outer(n, n), -1, 1))
        K = s2 * np.outer(n, n) * (np.sin(th) + (np.pi - th) * np.cos(th)) / (2 * np.pi)
    Ktr, kx = K[:25, :25], K[25:, :25]
    mean = kx @ np.linalg.solve(Ktr + 0.05 * np.eye(25), y)
    var = np.diag(K)[25:] - np.einsum("ij,ji->i", kx, np.linalg.solve(Ktr + 0.05 * np.eye(25), kx.T))
    m, v = sol.predict(Xt)
    np.testing.assert_allclose(m, mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(v, var, rtol=1e-8, atol=1e-10)


def test_activation_as_python_callable():
    """A callable written with SymPy functions is the same activation as its expression; a NumPy-only one is
    refused with a clear error."""
    X = np.random.default_rng(4).standard_normal((5, 3))
    by_callable = kernel_recursion(lambda x: sp.log(1 + sp.exp(x)), X, 4, C_W=1.0)
    by_string = kernel_recursion("log(1 + exp(z))", X, 4, C_W=1.0)
    np.testing.assert_allclose(by_callable.kernels, by_string.kernels, rtol=1e-14)
    with pytest.raises(ParameterError, match="SymPy symbol"):
        GaussianAverages(lambda x: np.tanh(x))


def test_bad_input_errors():
    with pytest.raises(ParameterError, match="positively homogeneous"):
        srg.deep_nonlinear(2, "tanh")
    with pytest.raises(ParameterError, match="C_W"):
        kernel_recursion("tanh", np.ones((2, 3)), 3, C_W=0.0)
    with pytest.raises(ParameterError, match="unknown activation"):
        GaussianAverages("softsign(")
    with pytest.raises(ParameterError, match="zero kernel"):
        kernel_recursion("relu", np.array([[0.0, 0.0], [1.0, 2.0]]), 3, C_W=2.0)
    with pytest.raises(ParameterError, match="linearly dependent"):
        finite_width("relu", np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), 3, 10, C_W=2.0)
    with pytest.raises(ParameterError, match="widths"):
        finite_width("tanh", np.ones((1, 4)), 3, [10], C_W=1.0)


ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_pdlt_derivation_files_are_regenerated_identically(tmp_path, name):
    import subprocess
    import sys
    out = tmp_path / ("pdlt_%s.tex" % name)
    subprocess.run([sys.executable, str(ROOT / "derivations" / "pdlt.py"), "--activation", name, "--out", str(out)],
                   check=True)
    assert out.read_text() == (ROOT / "derivations" / ("pdlt_%s.tex" % name)).read_text()


@pytest.mark.skipif(__import__("shutil").which("pdflatex") is None, reason="pdflatex is not installed")
def test_pdlt_latex_compiles(tmp_path):
    import subprocess
    tex = tmp_path / "pdlt_tanh.tex"
    tex.write_text((ROOT / "derivations" / "pdlt_tanh.tex").read_text())
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
