"""The derivation: Gaussian rules, special cases of the general equations, action and residuals."""
import mpmath
import numpy as np
import pytest
import sympy as sp

import symbolic_rg as srg
from symbolic_rg import gaussian
from symbolic_rg.symbols import eigenvalue, label, mode, n_modes


def test_gaussian_rules_against_quadrature():
    """Each symbolic integral rule equals direct numerical integration (an independent route)."""
    s2, b, beta, q, N, c, lam = 0.7, 1.3, 0.4, 2.1, 7.0, 1.7, 0.9
    f = sp.lambdify([], gaussian.source_integral(s2, b))
    num = mpmath.quad(lambda a: mpmath.exp(-a**2 / (2 * s2)) / mpmath.sqrt(2 * mpmath.pi * s2) * mpmath.cos(a * b),
                      [-mpmath.inf, mpmath.inf])
    assert abs(float(f()) - float(num)) < 1e-12
    norm, second = gaussian.tilted_unit(beta, q)
    w = lambda s: mpmath.exp(-s**2 / (2 * q) - beta * s**2 / 2) / mpmath.sqrt(2 * mpmath.pi * q)
    Z = mpmath.quad(w, [-mpmath.inf, mpmath.inf])
    assert abs(float(norm) - float(Z)) < 1e-12
    assert abs(float(second) - float(mpmath.quad(lambda s: s**2 * w(s), [-mpmath.inf, mpmath.inf]) / Z)) < 1e-12
    u = sp.Symbol("u", positive=True)
    log_p, mean_u = gaussian.gamma_mixture(u, N, s2, c, q)
    p = sp.lambdify(u, sp.exp(log_p), "mpmath")
    laplace = mpmath.quad(lambda x: p(x) * mpmath.exp(-c * x * q / 2), [0, mpmath.inf])
    assert abs(float(laplace) - (1 + c * s2 * q / N) ** (-N / 2)) < 1e-12
    assert abs(float(mpmath.quad(lambda x: x * p(x), [0, mpmath.inf])) - s2) < 1e-12   # prior mean sigma^2
    first = mpmath.quad(lambda x: x * p(x) * mpmath.exp(-c * x * q / 2), [0, mpmath.inf])
    assert abs(float(first / laplace) - float(mean_u)) < 1e-12
    m = gaussian.mode_integral(lam, b)
    num = mpmath.quad(lambda t: mpmath.exp(-lam * t**2 / 2) * mpmath.cos(t * b) / (2 * mpmath.pi), [-mpmath.inf, mpmath.inf])
    assert abs(float(m) - float(num)) < 1e-12
    mean, red = gaussian.gaussian_conditional(2.0, 0.5, 1.5, 0.3)
    assert float(mean) == pytest.approx(0.5 * 0.3 / 1.5) and float(red) == pytest.approx(0.25 / 1.5)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_zero_temperature_equal_widths_reduces_to_closed_form(theories, L):
    """T=0, P<N_0, equal widths N and priors sigma^2:  u/sigma^2 = 1 - alpha + alpha r_0 / prod_l u_l."""
    th = theories[L]
    N, sigma, alpha, r0 = sp.symbols("N sigma alpha r_0", positive=True)
    us = th.order_parameters
    sub = {w: N for w in th.widths}
    sub.update({s: sigma for s in th.sigmas})
    for eq in th.zero_temperature():
        lhs, rhs = eq.lhs.subs(sub), eq.rhs.subs(sub)
        rhs = rhs.subs(sp.Sum(label[mode] ** 2 / eigenvalue[mode], (mode, 1, n_modes)), n_modes * r0)
        rhs = rhs.subs(n_modes, alpha * N)
        u = lhs * sigma**2
        assert u in us
        expected = 1 - alpha + alpha * r0 / sp.Mul(*us)
        assert sp.simplify(lhs - u / sigma**2) == 0
        assert sp.simplify(rhs - expected) == 0


@pytest.mark.parametrize("L", [1, 2, 3])
def test_infinite_width_gives_prior_variances(theories, L):
    th = theories[L]
    sigmas2 = [s**2 for s in th.sigmas[1:]]
    for eq, u, s2 in zip(th.infinite_width(), th.order_parameters, sigmas2):
        assert sp.simplify(eq.lhs - eq.rhs) == sp.simplify(u / s2 - 1)


def test_equal_widths_makes_all_equations_symmetric(theories):
    eqs = theories[3].equal_widths()
    us = theories[3].order_parameters
    swapped = eqs[0].subs({us[0]: us[1], us[1]: us[0]}, simultaneous=True)
    assert sp.simplify(swapped.lhs - swapped.rhs - (eqs[1].lhs - eqs[1].rhs)) == 0


def test_effective_action_is_leading_order_of_exact_action(theories):
    """H_N(u) - H(u) is u-independent up to O(1): its u-derivative has no term proportional to N."""
    th = theories[2]
    for u, N in zip(th.order_parameters, th.widths):
        d = sp.diff(th.exact_action - th.effective_action, u)
        d = d.replace(sp.Sum, lambda f, lim: sp.Sum(sp.simplify(f), lim))
        assert sp.limit(sp.simplify(d) / N, N, sp.oo) == 0


def test_saddle_equation_is_gradient_of_action(theories):
    """Residuals equal finite differences of the effective action on explicit data (P = 5)."""
    th = theories[2]
    rng = np.random.default_rng(3)
    lam, yk = rng.uniform(0.2, 2.0, 5), rng.standard_normal(5)
    vals = {th.temperature: 0.3, th.widths[0]: 11, th.widths[1]: 17,
            th.sigmas[0]: 1.1, th.sigmas[1]: 0.8, th.sigmas[2]: 1.3}

    def explicit(expr):
        expr = expr.subs(vals).subs(n_modes, 5)
        return expr.replace(sp.Sum, lambda f, lim: sum(f.subs({eigenvalue[mode]: lam[i], label[mode]: yk[i]})
                                                       for i in range(5)))
    us = th.order_parameters
    H = sp.lambdify(us, explicit(th.effective_action))
    point = (0.9, 1.2)
    for l, (u, N, R) in enumerate(zip(us, th.widths, th.saddle_point_residuals)):
        h = 1e-6
        up, dn = list(point), list(point)
        up[l] += h
        dn[l] -= h
        fd = (H(*up) - H(*dn)) / (2 * h) * 2 * point[l] / vals[N]
        assert float(explicit(R).subs(dict(zip(us, point)))) == pytest.approx(fd, rel=1e-7, abs=1e-9)


def test_partition_function_is_an_integral_over_order_parameters(theories):
    Z = theories[2].partition_function
    assert isinstance(Z, sp.Integral)
    assert {lim[0] for lim in Z.limits} == set(theories[2].order_parameters)


def test_new_composition_gives_new_equations():
    """Unequal per-layer symbols flow through: depth 2 has sigma_2 in layer 1's equation, sigma_a in layer 2's."""
    th = srg.derive(srg.deep_linear(2))
    e1, e2 = th.saddle_point_equations
    assert th.sigmas[1] in e1.lhs.free_symbols and th.sigmas[2] in e2.lhs.free_symbols
    assert th.widths[0] in e1.rhs.free_symbols and th.widths[1] not in e1.rhs.free_symbols


def test_derive_rejects_non_networks():
    with pytest.raises(srg.ParameterError, match="Network"):
        srg.derive("deep-linear")
    with pytest.raises(srg.ParameterError, match="depth"):
        srg.deep_linear(0)
