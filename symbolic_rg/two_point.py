r"""Two-input Gaussian expectations :math:`g(K) = \langle f(z_1)\,h(z_2)\rangle_K`,
:math:`(z_1,z_2)\sim\mathcal N(0,K)`, :math:`K = \begin{pmatrix}K_{11}&K_{12}\\K_{12}&K_{22}\end{pmatrix}`.

Closed form (derived by SymPy) when both functions are polynomial on :math:`z<0` and on :math:`z>0`
(linear, ReLU, leaky ReLU, abs, their derivatives, powers of them): in whitened polar coordinates
:math:`z_1 = \sqrt{K_{11}}\,r\cos\phi`, :math:`z_2 = \sqrt{K_{22}}\,r\cos(\phi-\theta)`,
:math:`\cos\theta = \rho = K_{12}/\sqrt{K_{11}K_{22}}`, a monomial product :math:`z_1^m z_2^n` on a sign
quadrant factorises into the radial integral
:math:`\int_0^\infty r^{m+n+1}e^{-r^2/2}dr = 2^{(m+n)/2}\Gamma(\tfrac{m+n}2+1)` and a trigonometric integral
over the quadrant's angles (end points :math:`\pm\pi/2`, :math:`\theta\pm\pi/2`).  ReLU gives the
arc-cosine kernel :math:`\frac{\sqrt{K_{11}K_{22}}}{2\pi}\big(\sqrt{1-\rho^2} + (\pi-\arccos\rho)\rho\big)`.

Functions whose derivative is a Gaussian, :math:`f' = C e^{-\alpha z^2}` (erf and its rescalings), by Price's
theorem :math:`\partial g/\partial K_{12} = \langle f'(z_1)h'(z_2)\rangle_K = C_fC_h/\sqrt{\det(I + 2\,\mathrm{diag}(\alpha)K)}`,
integrated by SymPy from :math:`K_{12} = 0`, where :math:`g = \langle f\rangle\langle h\rangle = f(0)h(0)`.

Otherwise a compiled two-dimensional trapezoidal rule in whitened coordinates (:func:`quadrature`),
spectrally accurate for analytic integrands, with the error stated as the difference from the rule with
half the step.
"""
from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import sympy as sp

from .activations import z

__all__ = ["K11", "K12", "K22", "rho", "closed_form", "in_kernel", "compile_function", "quadrature",
           "trapezoid_rule"]

K11, K22 = sp.symbols("K_11 K_22", positive=True)
K12 = sp.Symbol("K_12", real=True)
rho = sp.Symbol("rho", real=True)            # K_12 / sqrt(K_11 K_22)
_theta, _phi, _r = sp.Symbol("theta", positive=True), sp.Symbol("phi", real=True), sp.Symbol("r", positive=True)

# the angles of each sign quadrant (sign z_1, sign z_2), for theta = arccos(rho) in (0, pi)
_QUADRANTS = {(1, 1): (_theta - sp.pi / 2, sp.pi / 2), (1, -1): (-sp.pi / 2, _theta - sp.pi / 2),
              (-1, 1): (sp.pi / 2, _theta + sp.pi / 2), (-1, -1): (_theta + sp.pi / 2, 3 * sp.pi / 2)}


def _half_line_polynomials(f):
    """``{+1: p_plus(z), -1: p_minus(z)}`` when ``f`` is a polynomial on z > 0 and on z < 0; else None."""
    f = sp.piecewise_fold(sp.sympify(f))
    if not isinstance(f, sp.Piecewise):
        return {1: f, -1: f} if f.is_polynomial(z) else None
    out = {}
    for side, point in ((1, sp.Rational(1, 2)), (-1, -sp.Rational(1, 2))):
        for e, cond in f.args:
            s = (cond.as_set() if cond is not sp.true else sp.S.Reals)
            half = sp.Interval.open(0, sp.oo) if side == 1 else sp.Interval.open(-sp.oo, 0)
            if half.is_subset(s):
                out[side] = e
                break
            if s.intersect(half) is not sp.S.EmptySet:
                return None                   # a break point away from 0
        else:
            return None
        if not out[side].is_polynomial(z):
            return None
    return out


@lru_cache(maxsize=None)
def _angular(m, n, s1, s2):
    r""":math:`\int \cos^m\phi\,\cos^n(\phi-\theta)\,d\phi` over the quadrant of signs (s1, s2)."""
    a, b = _QUADRANTS[(s1, s2)]
    integrand = sp.expand(sp.cos(_phi)**m * (sp.cos(_phi) * sp.cos(_theta) + sp.sin(_phi) * sp.sin(_theta))**n)
    return sp.integrate(integrand, (_phi, a, b))


@lru_cache(maxsize=None)
def closed_form(f, h=None):
    r""":math:`\langle f(z_1)h(z_2)\rangle_K` in closed form as an expression in ``K_11, K_22, rho``
    (:math:`\rho = K_{12}/\sqrt{K_{11}K_{22}}`), or None when the functions are not piecewise-polynomial
    with their only break point at 0.  ``h`` defaults to ``f``.

    >>> from symbolic_rg.activations import activation
    >>> sp.simplify(closed_form(activation("relu")) - sp.sqrt(K11*K22)*(sp.sqrt(1 - rho**2)
    ...     + (sp.pi - sp.acos(rho))*rho)/(2*sp.pi))
    0
    """
    h = f if h is None else h
    pf, ph = _half_line_polynomials(f), _half_line_polynomials(h)
    if pf is None or ph is None:
        return _price(f, h)
    total = sp.S.Zero
    for (s1, s2) in _QUADRANTS:
        p1, p2 = sp.Poly(pf[s1], z), sp.Poly(ph[s2], z)
        for (m,), c1 in p1.terms():
            for (n,), c2 in p2.terms():
                if c1 * c2 == 0:
                    continue
                radial = 2**sp.Rational(m + n, 2) * sp.gamma(sp.Rational(m + n, 2) + 1)
                total += c1 * c2 * K11**sp.Rational(m, 2) * K22**sp.Rational(n, 2) * radial \
                    * _angular(m, n, s1, s2) / (2 * sp.pi)
    total = total.subs({sp.sin(_theta): sp.sqrt(1 - rho**2), sp.cos(_theta): rho}).subs(_theta, sp.acos(rho))
    return sp.simplify(sp.expand(total))


def _gaussian_derivative(f):
    """``(C, alpha)`` when ``f' = C exp(-alpha z^2)`` with alpha > 0, else None."""
    C, a = sp.Wild("C", exclude=[z]), sp.Wild("a", exclude=[z])
    m = sp.simplify(sp.diff(f, z)).match(C * sp.exp(a * z**2))
    if not m or m[C] == 0 or not (-m[a]).is_positive:
        return None
    return m[C], -m[a]


def _price(f, h):
    r"""Price's theorem for two functions with Gaussian derivatives (module doc); None otherwise."""
    df, dh = _gaussian_derivative(f), _gaussian_derivative(h)
    if df is None or dh is None:
        return None
    (C1, a1), (C2, a2) = df, dh
    c = sp.Symbol("c", real=True)
    det = (1 + 2 * a1 * K11) * (1 + 2 * a2 * K22) - 4 * a1 * a2 * c**2
    g = f.subs(z, 0) * h.subs(z, 0) + C1 * C2 * sp.integrate(1 / sp.sqrt(det.expand()), (c, 0, K12))
    return sp.simplify(g.subs(K12, rho * sp.sqrt(K11 * K22)))


def in_kernel(expr):
    """A closed form in ``K_11, K_22, rho`` rewritten in the kernel entries ``K_11, K_12, K_22``."""
    return expr.subs(rho, K12 / sp.sqrt(K11 * K22))


@lru_cache(maxsize=None)
def compile_function(expr, variables):
    """Numba-compiled scalar function of ``variables`` (a tuple of symbols) for a SymPy expression."""
    source = sp.lambdify(variables, expr, modules="math")
    return numba.njit(cache=False)(source)


T_MAX = 8.5            # |t| <= 8.5 standard deviations: the Gaussian weight beyond is below 3e-16
STEP = 0.25            # trapezoid step in t for K <= 1; h = STEP / sqrt(max K) above


@numba.njit(cache=True)
def trapezoid_rule(k11, k22, step):
    """Nodes and weights of the trapezoidal rule for the standard normal density on [-T_MAX, T_MAX], with
    the step shrunk like 1/sqrt(K) so that features of width O(1) in z stay resolved."""
    h = step / np.sqrt(max(1.0, k11, k22))
    n = int(T_MAX / h)
    t = np.arange(-n, n + 1) * h
    return t, h * np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)


@numba.njit(cache=True)
def _cholesky2(k11, k12, k22):
    """(a, b, c) with z_1 = a t_1, z_2 = b t_1 + c t_2 (c = 0 for parallel inputs against rounding)."""
    a = np.sqrt(k11)
    b = k12 / a
    c2 = k22 - b * b
    return a, b, np.sqrt(c2) if c2 > 0 else 0.0


def quadrature(f, h=None, step=STEP):
    r"""A compiled :math:`g(K_{11},K_{12},K_{22}) = \langle f(z_1)h(z_2)\rangle_K` by the tensor trapezoidal
    rule in whitened coordinates (:math:`z_1 = \sqrt{K_{11}}t_1`,
    :math:`z_2 = (K_{12}t_1 + \sqrt{K_{11}K_{22}-K_{12}^2}\,t_2)/\sqrt{K_{11}}`), :math:`|t|\le 8.5`, step
    ``step``/:math:`\sqrt{\max(1, K_{11}, K_{22})}`: the error falls like :math:`e^{-2\pi d/h}` for integrands
    analytic in a strip of half-width d (tanh: :math:`d = \pi/2\sqrt K`), to below 1e-13 at the default step."""
    h = f if h is None else h
    F, G = compile_function(f, (z,)), compile_function(h, (z,))

    @numba.njit(cache=False)
    def g(k11, k12, k22):
        a, b, c = _cholesky2(k11, k12, k22)
        t, w = trapezoid_rule(k11, k22, step)
        total = 0.0
        for i in range(t.size):
            fi = F(a * t[i])
            if fi == 0.0 or w[i] == 0.0:
                continue
            inner = 0.0
            for j in range(t.size):
                inner += w[j] * G(b * t[i] + c * t[j])
            total += w[i] * fi * inner
        return total
    return g
