"""Activations: Gaussian expectations (closed form / Gauss-Hermite) and criticality (PDLT conventions)."""
import json

import mpmath
import numpy as np
import pytest
import sympy as sp

from conftest import run_cli
from symbolic_rg.activations import activation, criticality, gaussian_expectation, z
from symbolic_rg.errors import NoSolutionError, ParameterError


def mp_expectation(f, K, dps=30):
    """Independent route: mpmath quadrature of f(z) N(z; 0, K), split at the kink z = 0."""
    with mpmath.workdps(dps):
        K = mpmath.mpf(K)
        g = lambda x: f(x) * mpmath.exp(-x**2 / (2 * K)) / mpmath.sqrt(2 * mpmath.pi * K)
        return float(mpmath.quad(g, [-mpmath.inf, -10, 0, 10, mpmath.inf]))


@pytest.mark.parametrize("name,f", [("relu", lambda x: max(x, 0)), ("abs", abs),
                                    ("leaky_relu:0.2", lambda x: x if x > 0 else x / 5)])
def test_closed_forms_against_quadrature(name, f):
    s = activation(name)
    for K in (0.3, 1.0, 7.5):
        e = gaussian_expectation(s**2, K)
        assert e.closed_form is not None and e.error == 0
        assert e.value == pytest.approx(mp_expectation(lambda x: f(x)**2, K), rel=1e-10)
        e4 = gaussian_expectation(s**2 * z**2, K)
        assert e4.value == pytest.approx(mp_expectation(lambda x: f(x)**2 * x**2, K), rel=1e-10)
    assert gaussian_expectation(activation("relu")**2, 2.0).closed_form == sp.Symbol("K", positive=True) / 2


@pytest.mark.parametrize("name,f", [("tanh", mpmath.tanh), ("erf", mpmath.erf),
                                    ("gelu", lambda x: x / 2 * (1 + mpmath.erf(x / mpmath.sqrt(2)))),
                                    ("swish", lambda x: x / (1 + mpmath.exp(-x)))])
def test_quadrature_against_mpmath_and_monte_carlo(name, f):
    s = activation(name)
    for K in (0.5, 3.0):
        e = gaussian_expectation(s**2, K)
        assert e.closed_form is None and e.error < 1e-10
        assert e.value == pytest.approx(mp_expectation(lambda x: f(x)**2, K), rel=1e-10, abs=1e-12)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(400000) * np.sqrt(2.0)
    from symbolic_rg.activations import numeric
    samples = numeric(s**2)(x)
    assert abs(samples.mean() - gaussian_expectation(s**2, 2.0).value) < 4 * samples.std() / np.sqrt(len(x))


def test_criticality_of_the_universality_classes():
    relu = criticality("relu")
    assert (relu.C_b, relu.C_W, relu.universality_class) == (0.0, pytest.approx(2.0, rel=1e-12), "scale-invariant")
    assert (criticality("linear").C_W, criticality("linear").universality_class) == (pytest.approx(1.0), "scale-invariant")
    leaky = criticality("leaky_relu:0.1")
    assert leaky.C_W == pytest.approx(2 / (1 + 0.1**2), rel=1e-12) and leaky.universality_class == "scale-invariant"
    tanh = criticality("tanh")
    assert (tanh.C_b, tanh.C_W, tanh.K_star, tanh.universality_class) == (0.0, pytest.approx(1.0), 0.0, "K*=0")
    assert criticality("erf").C_W == pytest.approx(np.pi / 4, rel=1e-12)


@pytest.mark.parametrize("name,f,K_expected", [
    ("gelu", lambda x: x / 2 * (1 + mpmath.erf(x / mpmath.sqrt(2))), (3 + np.sqrt(17)) / 2),
    ("swish", lambda x: x / (1 + mpmath.exp(-x)), None)])
def test_nontrivial_fixed_points_satisfy_the_criticality_conditions(name, f, K_expected):
    """K* != 0 class: chi_parallel = chi_perp = 1 and K* = C_b + C_W <s^2>, checked with mpmath."""
    c = criticality(name)
    assert c.universality_class == "K*!=0" and c.C_b > 0
    if K_expected is not None:
        assert c.K_star == pytest.approx(K_expected, rel=1e-8)
    K = c.K_star
    df = lambda x: mpmath.diff(f, x)
    assert c.C_W * mp_expectation(lambda x: df(x)**2, K) == pytest.approx(1.0, abs=1e-8)
    assert c.C_W / (2 * K**2) * mp_expectation(lambda x: f(x)**2 * (x**2 - K), K) == pytest.approx(1.0, abs=1e-6)
    assert c.C_b + c.C_W * mp_expectation(lambda x: f(x)**2, K) == pytest.approx(K, rel=1e-8)


def test_no_critical_point_and_bad_activations():
    with pytest.raises(NoSolutionError, match="no critical point"):
        criticality("sigmoid")
    with pytest.raises(ParameterError, match="depend on z only"):
        activation("z + w")
    with pytest.raises(ParameterError, match="unknown activation"):
        activation("relu((")
    with pytest.raises(ParameterError, match="not finite"):
        activation("1/z")
    assert activation("z**3/3 + z") == z**3 / 3 + z


def test_cli_criticality_json():
    r = run_cli("criticality", "relu", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {k: out[k] for k in ("C_b", "C_W", "universality_class")} == {"C_b": 0.0, "C_W": pytest.approx(2.0),
                                                                            "universality_class": "scale-invariant"}
    assert out["K_star"] is None and out["chi_parallel"] == pytest.approx(1.0) and out["chi_perp"] == pytest.approx(1.0)
    r = run_cli("criticality", "nonsense(")
    assert r.returncode == 2 and "unknown activation" in r.stderr


def test_piecewise_integrands_are_integrated_piece_by_piece():
    """A jump or kink where a condition changes is a panel edge: the rule converges to the exact value instead of
    stalling at O(h) with a small reported error (the trapezoid grid has no node exactly at the jump)."""
    import math

    import mpmath
    K = 0.8
    jump = sp.Heaviside(z) * sp.exp(z)                          # exact: e^{K/2} Phi(sqrt K)
    exact = math.exp(K / 2) * 0.5 * math.erfc(-math.sqrt(K / 2))
    e = gaussian_expectation(jump, K)
    assert abs(e.value - exact) < 1e-13 and e.error < 1e-12
    sigma = sp.Piecewise((sp.tanh(z), z > 0), (0, True))
    d2 = sp.diff(sigma, z) ** 2                                 # jumps from 0 to 1 at z = 0
    with mpmath.workdps(30):
        ref = mpmath.quad(lambda t: (1 - mpmath.tanh(mpmath.sqrt(K) * t) ** 2) ** 2 * mpmath.npdf(t), [0, 40])
    assert abs(gaussian_expectation(d2, K).value - float(ref)) < 1e-13
    kink = sp.tanh(sp.Abs(z)) ** 2                              # Abs rewritten as a Piecewise: equal to tanh^2
    assert abs(gaussian_expectation(kink, K).value - gaussian_expectation(sp.tanh(z) ** 2, K).value) < 1e-14
