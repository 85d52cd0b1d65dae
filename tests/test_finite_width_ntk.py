"""The finite-width NTK and dNTK (issue 37, item 1): the empirical NTK/dNTK of a network against finite differences,
the many-input recursions against the symbolic one-input ones, and the theory against sampled networks."""
import json

import mpmath
import numpy as np
import pytest
import sympy as sp
from numpy.testing import assert_allclose

import symbolic_rg as srg
from symbolic_rg.cli import main
from symbolic_rg.errors import ParameterError
from symbolic_rg.pdlt import PDLTTheory
from symbolic_rg.simulate import network_ntk, ntk_statistics, sample_ntk

X2 = np.array([[1.0, 0.0, 0.5], [0.3, 0.9, -0.4]])
TENSORS = {"A": "ntk_variance_A", "B": "ntk_variance_B", "D": "ntk_preactivation_D", "F": "ntk_preactivation_F",
           "P": "dntk_P", "Q": "dntk_Q"}


def _network(seed=1, sizes=(3, 5, 4, 3)):
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((1, sizes[l + 1], sizes[l])) / np.sqrt(sizes[l]) for l in range(len(sizes) - 1)]
    bs = [0.3 * rng.standard_normal((1, sizes[l + 1])) for l in range(len(sizes) - 1)]
    return Ws, bs


def test_empirical_ntk_and_dntk_match_finite_differences():
    """NTK = J Λ Jᵀ and dNTK = (ΛJ_{i1}) · H_{i0} (ΛJ_{i2}) of a tanh network, J and the Hessian-vector product by
    central differences of the outputs and of the Jacobian."""
    lb, lw = 0.7, 1.3
    Ws, bs = _network()
    z, T, dT = network_ntk("tanh", Ws, bs, X2, lb, lw)
    shapes = [w.shape for w in Ws] + [b.shape for b in bs]
    sizes = [w.shape[2] for w in Ws]

    def unflat(t):
        out, i = [], 0
        for s in shapes:
            out.append(t[i:i + int(np.prod(s))].reshape(s))
            i += int(np.prod(s))
        return out[:3], out[3:]

    def outputs(t):
        W, b = unflat(t)
        h = X2.T
        for l in range(3):
            out = W[l][0] @ h + b[l][0][:, None]
            h = np.tanh(out)
        return out

    def jacobian(t, eps=1e-6):
        return np.stack([(outputs(t + e) - outputs(t - e)) / (2 * eps) for e in np.eye(t.size) * eps], axis=-1)

    theta = np.concatenate([w.ravel() for w in Ws] + [b.ravel() for b in bs])
    lam = np.concatenate([np.full(w.size, lw / sizes[l]) for l, w in enumerate(Ws)] + [np.full(b.size, lb) for b in bs])
    J = jacobian(theta)
    assert_allclose(outputs(theta), z[0], atol=1e-14)
    assert_allclose(np.einsum("iak,k,jbk->ijab", J, lam, J), T[0], atol=1e-9)
    for i2 in range(3):
        for a2 in range(2):
            v = lam * J[i2, a2]
            Hv = (jacobian(theta + 1e-4 * v) - jacobian(theta - 1e-4 * v)) / 2e-4
            assert_allclose(np.einsum("iak,k,jbk->ijab", Hv, lam, J), dT[0][:, :, i2, :, :, a2], atol=2e-6)


def _evaluate(expr):
    """A number from an expression whose only symbols are the integration variables of its Gaussian integrals
    (mpmath quadrature, split at 0)."""
    for integral in expr.atoms(sp.Integral):
        (u, _, _), = integral.limits
        f = sp.lambdify(u, integral.function, "mpmath")
        expr = expr.subs(integral, sp.Float(mpmath.quad(f, [-mpmath.inf, 0, mpmath.inf]), 20))
    return float(expr)


def _layer_values(stats, l):
    names = ("ntk_correction", "ntk_variance_A", "ntk_variance_B", "ntk_preactivation_D", "ntk_preactivation_F",
             "dntk_P", "dntk_Q")
    return [float(np.ravel(getattr(stats, n)[l])[0]) for n in names]


@pytest.mark.parametrize("spec", ["relu", "tanh"])
def test_one_input_equals_the_symbolic_recursions(spec):
    """With one input every tensor is a number; the many-input einsums must reproduce PDLTTheory.ntk_statistics
    layer by layer (unequal widths: r = n_l/n_{l-1} != 1)."""
    x = np.array([[0.8, -0.3, 1.1]])
    C_W, C_b, lb, lw = 1.7, 0.2, 0.6, 1.4
    widths = [40, 60, 30]
    s = srg.finite_width_ntk(spec, x, 4, widths, C_W, C_b, lb, lw)
    th = PDLTTheory(spec)
    symbols, equations = th.ntk_statistics
    n = [x.shape[1]] + widths
    for l in range(2, 4):                                 # layer l + 1 from layer l (1-based)
        values = {th.K: s.kernel[l - 1, 0, 0], th.Theta: s.ntk[l - 1, 0, 0], th.V: s.vertex[l - 1, 0, 0, 0, 0],
                  th.K1: s.kernel_correction[l - 1, 0, 0], th.C_W: C_W, th.C_b: C_b, th.lambda_b: lb,
                  th.lambda_W: lw, th.r: n[l] / n[l - 1]}
        values.update(zip(symbols, _layer_values(s, l - 1)))
        expected = [_evaluate(eq.rhs.subs(values)) for eq in equations]
        assert_allclose(_layer_values(s, l), expected, rtol=1e-7, atol=1e-10)


def test_theory_matches_sampled_tanh_networks_at_width_32():
    """tanh, three layers, two inputs, n = 32: every component of the mean NTK, A, B, D, F, P, Q within 4 standard
    errors of 4000 sampled networks (measured largest |z| over three seeds: 3.1)."""
    L, n, C_W, C_b, lb, lw = 3, 32, 1.5, 0.1, 0.5, 1.0
    th = srg.finite_width_ntk("tanh", X2, L, n, C_W, C_b, lb, lw)
    st = ntk_statistics(sample_ntk("tanh", X2, L, n, C_W, C_b, lb, lw, networks=4000, seed=0))
    assert np.all(np.abs(st.mean_ntk - th.mean_ntk(L)) < 4 * st.stderr["mean_ntk"])
    for k, field in TENSORS.items():
        assert np.all(np.abs(getattr(st, k) - th.scaled(field, L)) < 4 * st.stderr[k]), k
    # not a test that cannot fail: the B of the infinite-width-only answer (zero) is far outside
    assert np.max(np.abs(st.B) / st.stderr["B"]) > 20


@pytest.mark.parametrize("spec, C_W, L", [("relu", 2.0, 3), pytest.param("gelu", 1.5, 4, marks=pytest.mark.slow)])
def test_leading_coefficient_from_two_widths(spec, C_W, L):
    """At n = 32 the O(1/n^2) remainder of ReLU and GELU is beyond the errors of 4000 networks (GELU, L = 4: B off
    by 25 %, falling like 1/n); the 1/n coefficient T of n * MC = T + c/n from n = 32 and 64 must match the theory
    within 4 s.e. (largest |z| at these seeds: ReLU 1.7, GELU 2.4; over other seeds up to 3.9), including ReLU's
    Q = 0 (its sampled Q falls like 1/n^2) and its zero mean correction of a diagonal NTK entry (a sign flip of z_j
    leaves Theta_jj)."""
    C_b, lb, lw = 0.1, 0.5, 1.0
    th = srg.finite_width_ntk(spec, X2, L, 64, C_W, C_b, lb, lw)
    s1 = ntk_statistics(sample_ntk(spec, X2, L, 32, C_W, C_b, lb, lw, networks=4000, seed=1))
    s2 = ntk_statistics(sample_ntk(spec, X2, L, 64, C_W, C_b, lb, lw, networks=4000, seed=2))
    for k, field in TENSORS.items():
        T = 2 * 64 * getattr(s2, k) - 32 * getattr(s1, k)
        error = np.hypot(2 * 64 * s2.stderr[k], 32 * s1.stderr[k])
        assert np.all(np.abs(T - getattr(th, field)[L - 1]) < 4 * error), k
    T = 2 * 64 * (s2.mean_ntk - th.ntk[L - 1]) - 32 * (s1.mean_ntk - th.ntk[L - 1])
    error = np.hypot(2 * 64 * s2.stderr["mean_ntk"], 32 * s1.stderr["mean_ntk"])
    assert np.all(np.abs(T - th.ntk_correction[L - 1]) < 4 * error)
    if spec == "relu":
        assert np.all(th.dntk_Q == 0) and np.all(np.abs(th.ntk_correction[:, [0, 1], [0, 1]]) < 1e-10)


def test_layer_one_and_two_structure():
    """Layer 1: the NTK is fixed (every tensor zero); layer 2: the mean correction is zero (z^(1) is Gaussian and
    Theta^(1) fixed) while B = C_W^2 <sigma'^4> Theta^2 at one input; the tensors have the book's symmetries."""
    s = srg.finite_width_ntk("tanh", X2, 3, 50, 1.3, 0.2, 0.5, 1.0)
    for field in list(TENSORS.values()) + ["ntk_correction"]:
        assert np.all(getattr(s, field)[0] == 0)
    assert np.all(s.ntk_correction[1] == 0)
    one = srg.finite_width_ntk("tanh", X2[:1], 2, 50, 1.3, 0.2, 0.5, 1.0)
    K, Theta = one.kernel[0, 0, 0], one.ntk[0, 0, 0]
    u = np.linspace(-12, 12, 20001)
    d4 = np.trapezoid(np.cosh(np.sqrt(K) * u)**-8 * np.exp(-u**2 / 2), u) / np.sqrt(2 * np.pi)     # <sigma'^4>
    assert one.ntk_variance_B[1, 0, 0, 0, 0] == pytest.approx(1.3**2 * d4 * Theta**2, rel=1e-10)
    A, B = s.ntk_variance_A[2], s.ntk_variance_B[2]
    assert_allclose(A, A.transpose(2, 3, 0, 1), atol=1e-12)
    assert_allclose(A, A.transpose(1, 0, 2, 3), atol=1e-12)
    assert_allclose(B, B.transpose(2, 3, 0, 1), atol=1e-12)       # B_{a1a2a3a4} = B_{a3a4a1a2}
    assert_allclose(B, B.transpose(1, 0, 3, 2), atol=1e-12)       # swap the two NTKs


def test_errors_name_the_parameter():
    with pytest.raises(ParameterError, match="dntk"):
        srg.finite_width_ntk("tanh", X2, 3, 50, 1.0, dntk="yes")
    with pytest.raises(ParameterError, match="parallel"):
        srg.finite_width_ntk("tanh", np.vstack([X2, X2[:1]]), 3, 50, 1.0, C_b=0.0)
    s = srg.finite_width_ntk("relu", X2, 2, 50, 2.0, dntk=False)
    assert s.dntk_P is None
    with pytest.raises(ParameterError, match="dntk=True"):
        s.scaled("dntk_Q", 2)
    with pytest.raises(ParameterError, match="outputs"):
        sample_ntk("tanh", X2, 3, 10, 1.0, outputs=1)
    with pytest.raises(ParameterError, match="lambda_b"):
        srg.finite_width_ntk("tanh", X2, 3, 50, 1.0, lambda_b=0.0, lambda_W=0.0)
    with pytest.raises(ParameterError, match="layer"):
        s.mean_ntk(0)
    with pytest.raises(ParameterError, match="name"):
        s.scaled("kernel", 2)
    Ws, bs = _network()
    with pytest.raises(ParameterError, match="Ws"):
        network_ntk("tanh", Ws[:2], bs, X2)


def _cli(capsys, *argv):
    """``symbolic-rg argv`` in this process (the compiled averages of the other tests reused): (exit code, stdout,
    stderr)."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_ntk(tmp_path, capsys):
    """``symbolic-rg ntk``: the last layer's tensors as the Python API gives them, the sampled estimates beside them
    (per 1/n, with their largest |z|), and clear errors for inputs the theory cannot take."""
    path = tmp_path / "x.npz"
    np.savez(path, X_train=X2, y_train=np.zeros(2), X_test=X2, y_test=np.zeros(2))
    code, stdout, stderr = _cli(capsys, "ntk", "relu", "--depth", "3", "--width", "32", "--C_W", "2", "--C_b", "0.1",
                                "--lambda_b", "0.5", "--data", str(path), "--simulate", "400", "--json")
    assert code == 0, stderr
    out = json.loads(stdout)
    s = srg.finite_width_ntk("relu", X2, 3, 32, 2.0, 0.1, 0.5, 1.0)
    for key, field in TENSORS.items():
        assert_allclose(out[key], getattr(s, field)[-1], rtol=1e-12, atol=1e-15)
    assert_allclose(out["mean_ntk"], s.mean_ntk(3), rtol=1e-12)
    sim = out["simulation"]
    assert sim["networks"] == 400 and set(sim["max_abs_z"]) == set(TENSORS) | {"mean_ntk"}
    assert np.shape(sim["B"]) == (2, 2, 2, 2) and all(np.isfinite(v) for v in sim["max_abs_z"].values())
    code, _, stderr = _cli(capsys, "ntk", "relu", "--depth", "2", "--width", "10", "--C_W", "2", "--data", "digits",
                           "--P", "2")
    assert code == 2 and "parallel" in stderr
    code, _, stderr = _cli(capsys, "ntk", "relu", "--depth", "2", "--width", "10", "--C_W", "2", "--data", "digits",
                           "--P", "9")
    assert code == 2 and "at most 8 inputs" in stderr and "--P" in stderr


def test_cli_posterior(tmp_path, capsys):
    """``symbolic-rg posterior`` (issue 37, items 3 and 6): the 1/n posterior and the GP's, as the Python API gives
    them, with their generalization errors."""
    X, y = X2, np.array([0.4, -0.7])
    Xt, yt = np.array([[0.5, 0.5, 0.1]]), np.array([0.2])
    path = tmp_path / "d.npz"
    np.savez(path, X_train=X, y_train=y, X_test=Xt, y_test=yt)
    code, stdout, stderr = _cli(capsys, "posterior", "tanh", "--depth", "2", "--width", "8", "--C_W", "1.2", "--C_b",
                                "0.1", "--T", "0.05", "--data", str(path), "--json")
    assert code == 0, stderr
    out = json.loads(stdout)
    post = srg.pdlt.bayesian_posterior("tanh", X, y, Xt, 2, 8, 1.2, 0.1, 0.05)
    assert_allclose([out["mean"], out["variance"], out["mean_gp"], out["variance_gp"]],
                    [post.mean, post.variance, post.mean_gp, post.variance_gp], rtol=1e-12)
    assert out["generalization_error"] == pytest.approx((post.mean[0] - 0.2)**2 + post.variance[0], rel=1e-12)
    assert out["mean"] != out["mean_gp"]
