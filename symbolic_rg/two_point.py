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
Two Gaussians themselves (erf's derivative) give that determinant's inverse square root directly.

Otherwise a compiled two-dimensional trapezoidal rule in whitened coordinates (:func:`quadrature`),
spectrally accurate for analytic integrands, with the error stated as the difference from the rule with
half the step.  For many inputs at once, Mehler's series (:class:`HermiteSeries`): per-input Hermite
coefficients and one compiled sum per pair, with a bound on what it leaves out.  Three and four inputs
(:func:`gaussian_product`): nested Gauss--Legendre panels split where each :math:`z_k = 0`.
"""
from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import sympy as sp

from .activations import z
from .printers import NUMBA_PRELUDE, NumbaPrinter, load_module

__all__ = ["K11", "K12", "K22", "rho", "cholesky2", "closed_form", "in_kernel", "compile_function", "quadrature",
           "trapezoid_rule", "HermiteSeries", "hermite_functions", "mehler_matrix", "gaussian_product",
           "panel_rule", "power_moments", "GL_NODES", "GL_WEIGHTS", "PANEL_NODES", "PANEL_WIDTH", "T_MAX",
           "GENERATOR_VERSION"]

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


def _gaussian(f):
    """``(C, alpha)`` when ``f = C exp(-alpha z^2)`` with alpha > 0, else None."""
    C, a = sp.Wild("C", exclude=[z]), sp.Wild("a", exclude=[z])
    m = sp.simplify(f).match(C * sp.exp(a * z**2))
    if not m or m[C] == 0 or not (-m[a]).is_positive:
        return None
    return m[C], -m[a]


def _gaussian_determinant(a1, a2, k12):
    r""":math:`\det(I + 2\,\mathrm{diag}(\alpha)K)` with :math:`K_{12}` = ``k12``."""
    return ((1 + 2 * a1 * K11) * (1 + 2 * a2 * K22) - 4 * a1 * a2 * k12**2).expand()


def _price(f, h):
    r"""Two Gaussians: :math:`\langle C_1e^{-\alpha_1z_1^2}C_2e^{-\alpha_2z_2^2}\rangle_K =
    C_1C_2/\sqrt{\det(I + 2\,\mathrm{diag}(\alpha)K)}` (erf's derivative); two functions with Gaussian
    derivatives: Price's theorem (module doc); None otherwise."""
    gf, gh = _gaussian(f), _gaussian(h)
    if gf is not None and gh is not None:
        (C1, a1), (C2, a2) = gf, gh
        g = C1 * C2 / sp.sqrt(_gaussian_determinant(a1, a2, K12))
    else:
        df, dh = _gaussian(sp.diff(f, z)), _gaussian(sp.diff(h, z))
        if df is None or dh is None:
            return None
        (C1, a1), (C2, a2) = df, dh
        c = sp.Symbol("c", real=True)
        g = f.subs(z, 0) * h.subs(z, 0) + C1 * C2 * sp.integrate(1 / sp.sqrt(_gaussian_determinant(a1, a2, c)),
                                                                 (c, 0, K12))
    return sp.simplify(g.subs(K12, rho * sp.sqrt(K11 * K22)))


def in_kernel(expr):
    """A closed form in ``K_11, K_22, rho`` rewritten in the kernel entries ``K_11, K_12, K_22``."""
    return expr.subs(rho, K12 / sp.sqrt(K11 * K22))


GENERATOR_VERSION = "1"


@lru_cache(maxsize=None)
def _function_module(expr, variables):
    """The generated module holding ``f(variables) = expr`` (:func:`symbolic_rg.printers.load_module`)."""
    arguments = ", ".join(v.name for v in variables)

    def source():
        return "\n".join(["# generated by symbolic_rg.two_point: f(%s) = %s" % (arguments, expr)] + list(NUMBA_PRELUDE)
                         + ["", "", "@numba.njit(cache=True)", "def f(%s):" % arguments,
                            "    return %s" % NumbaPrinter().doprint(expr), ""])
    return load_module("function", (GENERATOR_VERSION, sp.srepr(expr), arguments), source)


def compile_function(expr, variables):
    """Numba-compiled scalar function of ``variables`` (a tuple of symbols) for a SymPy expression, printed by the
    package's :class:`~symbolic_rg.printers.NumbaPrinter` into a module written once to the cache (``cache=True``:
    a new process reuses the machine code)."""
    return _function_module(expr, tuple(variables)).f


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
def cholesky2(k11, k12, k22):
    """(a, b, c) with z_1 = a t_1, z_2 = b t_1 + c t_2 (c = 0 for parallel inputs against rounding)."""
    a = np.sqrt(k11)
    b = k12 / a
    c2 = k22 - b * b
    return a, b, np.sqrt(c2) if c2 > 0 else 0.0


@lru_cache(maxsize=None)
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
        a, b, c = cholesky2(k11, k12, k22)
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


# -- many inputs at once: the Mehler (Hermite) series --------------------------------------------------
SERIES_TOL = 1e-13         # relative size of what the Hermite series leaves out, and of its coefficients' error
SERIES_MAX_ORDER = 4096    # beyond this order (kinks, very large K) the trapezoidal rule is used instead
U_MAX = 13.0               # |u| <= 13: sqrt(w(u)) = e^{-u^2/4}/(2 pi)^{1/4} below 1e-18 beyond


@lru_cache(maxsize=4)
def hermite_functions(order, step):
    r"""Nodes :math:`u_i = i\,h` (:math:`|u|\le 13`) and the Hermite functions
    :math:`\varphi_k(u_i) = \sqrt{w(u_i)}\,\mathrm{He}_k(u_i)/\sqrt{k!}`, k = 0..order, :math:`w` the standard
    normal density, by the stable three-term recursion
    :math:`\varphi_{k+1} = (u\varphi_k - \sqrt k\,\varphi_{k-1})/\sqrt{k+1}`; they are orthonormal in :math:`du`."""
    n = int(U_MAX / step)
    u = np.arange(-n, n + 1) * step
    phi = np.empty((order + 1, u.size))
    phi[0] = np.exp(-u * u / 4) / (2 * np.pi)**0.25
    if order:
        phi[1] = u * phi[0]
    for k in range(1, order):
        phi[k + 1] = (u * phi[k] - np.sqrt(k) * phi[k - 1]) / np.sqrt(k + 1)
    return u, phi


@numba.njit(parallel=True, cache=False)
def _weighted_samples(F, scales, u, weight):
    """``G[p, i] = weight[i] * F(scales[p] * u[i])``."""
    G = np.empty((scales.size, u.size))
    for p in numba.prange(scales.size):
        for i in range(u.size):
            G[p, i] = weight[i] * F(scales[p] * u[i])
    return G


@numba.njit(cache=True)
def _mehler_row(i, K, A, AT, second_moment, tol, out):
    P, order = K.shape[0], A.shape[1] - 1
    out[i, i] = second_moment[i]
    if i == P - 1:
        return
    r = np.empty(P - i - 1)
    largest, scale = 0.0, 0.0
    for j in range(i + 1, P):
        r[j - i - 1] = min(1.0, max(-1.0, K[i, j] / np.sqrt(K[i, i] * K[j, j])))
        largest = max(largest, abs(r[j - i - 1]))
        scale = max(scale, np.sqrt(second_moment[i] * second_moment[j]))
    n = order
    if largest < 1.0:
        n = 0 if largest == 0.0 or scale <= tol else min(order, max(0, int(np.ceil(np.log(tol / scale) /
                                                                                  np.log(largest)))))
    acc = np.zeros(P - i - 1)
    for m in range(n, -1, -1):
        a = A[i, m]
        for j in range(P - i - 1):
            acc[j] = acc[j] * r[j] + a * AT[m, i + 1 + j]
    for j in range(P - i - 1):
        out[i, i + 1 + j] = out[i + 1 + j, i] = acc[j]


@numba.njit(parallel=True, cache=True)
def mehler_matrix(K, A, second_moment, tol):
    r""":math:`\langle f(z_\alpha)f(z_\beta)\rangle_K = \sum_k\rho_{\alpha\beta}^k a_k(K_{\alpha\alpha})
    a_k(K_{\beta\beta})` for every pair (Horner in :math:`\rho`, vectorised along a row), each row summed only
    to the order where :math:`|\rho|^k\sqrt{\langle f^2\rangle_\alpha\langle f^2\rangle_\beta}` falls below
    ``tol`` for all its pairs; the diagonal is :math:`\langle f^2\rangle` itself."""
    P = K.shape[0]
    AT = np.ascontiguousarray(A.T)
    out = np.empty((P, P))
    for t in numba.prange((P + 1) // 2):          # rows t and P-1-t together: equal work per iteration
        _mehler_row(t, K, A, AT, second_moment, tol, out)
        if P - 1 - t != t:
            _mehler_row(P - 1 - t, K, A, AT, second_moment, tol, out)
    return out


class HermiteSeries:
    r"""Two-input averages :math:`\langle f(z_\alpha)f(z_\beta)\rangle_K` of one function for many inputs at once,
    by Mehler's formula: with :math:`z = \sqrt{K}\,u` and :math:`\rho = K_{\alpha\beta}/\sqrt{K_{\alpha\alpha}
    K_{\beta\beta}}`,

    .. math:: \langle f(z_\alpha)f(z_\beta)\rangle_K = \sum_{k\ge0}\rho^k a_k(K_{\alpha\alpha})a_k(K_{\beta\beta}),
       \qquad a_k(K) = \langle f(\sqrt K u)\,\mathrm{He}_k(u)\rangle/\sqrt{k!},

    so each pair costs one sum once the coefficients of each input are known (one matrix product against
    :func:`hermite_functions`).  The series is cut at the order where the left-out tail
    :math:`\langle f^2\rangle - \sum_{k\le m}a_k^2` of every input is below ``tol`` (relative); by Cauchy--Schwarz
    it bounds the error of every pair.  Fast for analytic activations (tanh: order ~ 100 K);
    :meth:`matrix` returns None past ``max_order`` (kinks, very large K).
    """

    def __init__(self, f, tol=SERIES_TOL, max_order=SERIES_MAX_ORDER):
        self.F = compile_function(f, (z,))
        self.tol, self.max_order = tol, max_order
        self.order = 32

    def coefficients(self, variances, order, step):
        r"""``(A, second_moment)``: ``A[p, k]`` :math:`= a_k(K_p)` for k ≤ order, and :math:`\langle f^2\rangle`."""
        u, phi = hermite_functions(order, step)
        G = _weighted_samples(self.F, np.sqrt(variances), u, step * phi[0])
        return G @ phi.T, np.einsum("pi,pi->p", G, G) / step

    def matrix(self, K):
        r"""``(averages, error)`` for every pair of inputs of the kernel matrix K, or None (module doc).  The error
        bounds the left-out tail plus the coefficients' quadrature error (measured with half the step at the
        input of largest variance)."""
        variances = np.diag(K).copy()
        widest = variances.max()
        reference = 2.0**np.ceil(np.log2(max(1.0, widest)))      # steps from a short list: tables are reused
        order = max(32, self.order // 2)
        while True:
            step = 2 * np.pi / (2 * np.sqrt(order + 1) + 40 * np.sqrt(reference))
            A, second = self.coefficients(variances, order, step)
            scale = max(1.0, second.max())
            tail = np.max(second - np.einsum("pk,pk->p", A, A))
            if tail <= self.tol * scale:
                p = np.argmax(variances)
                fine, _ = self.coefficients(variances[p:p + 1], order, step / 2)
                discretisation = 2 * np.linalg.norm(fine[0] - A[p]) * np.sqrt(second[p])
                if discretisation <= self.tol * scale:
                    break
            if order >= self.max_order:
                return None
            order *= 2
        self.order = order
        return mehler_matrix(K, A, second, self.tol * scale), max(tail, 0.0) + discretisation + self.tol * scale


# -- three and four inputs: nested Gauss--Legendre panels --------------------------------------------
PANEL_NODES = 12          # Gauss--Legendre nodes per panel
PANEL_WIDTH = 3.0         # panel width in t for K <= 1, shrunk like 1/sqrt(max K)
GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(PANEL_NODES)


@numba.njit(cache=True)
def panel_rule(kink, width, t_out, w_out):
    r"""Nodes and weights (times the standard normal density) on :math:`[-8.5, 8.5]` in panels of at most
    ``width``, split at 0 and at ``kink``, so that a break of the integrand at either is a panel edge; returns the
    number of nodes written."""
    lo, hi = min(0.0, kink), max(0.0, kink)
    edges = np.array([-T_MAX, max(-T_MAX, lo), min(T_MAX, max(-T_MAX, hi)), T_MAX])
    n = 0
    for s in range(3):
        a, b = edges[s], edges[s + 1]
        if b <= a:
            continue
        panels = int(np.ceil((b - a) / width))
        h = (b - a) / panels
        for p in range(panels):
            c = a + (p + 0.5) * h
            for q in range(GL_NODES.size):
                t = c + 0.5 * h * GL_NODES[q]
                t_out[n] = t
                w_out[n] = 0.5 * h * GL_WEIGHTS[q] * np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)
                n += 1
    return n


def _nested_source(m):
    """Source of the m-fold nested rule: level k integrates t_k with the kink of f_k (z_k = 0) as a panel edge."""
    lines = ["def expectation(L):",
             "    width = PANEL_WIDTH / np.sqrt(max(1.0, np.max(np.sum(L * L, axis=1))))",
             "    size = 3 * (int(2 * T_MAX / width) + 3) * GL_NODES.size",
             "    t = np.empty((%d, size))" % m,
             "    w = np.empty((%d, size))" % m,
             "    x = np.zeros(%d)" % m]
    indent = "    "
    for k in range(m):
        partial = " + ".join("L[%d, %d] * x[%d]" % (k, j, j) for j in range(k)) or "0.0"
        lines += [indent + "partial_%d = %s" % (k, partial),
                  indent + "n_%d = panel_rule(-partial_%d / L[%d, %d], width, t[%d], w[%d])" % (k, k, k, k, k, k),
                  indent + "total_%d = 0.0" % k,
                  indent + "for i_%d in range(n_%d):" % (k, k)]
        indent += "    "
        lines += [indent + "x[%d] = t[%d, i_%d]" % (k, k, k),
                  indent + "f_%d = w[%d, i_%d] * F%d(partial_%d + L[%d, %d] * x[%d])" % (k, k, k, k, k, k, k, k),
                  indent + "if f_%d == 0.0:" % k, indent + "    continue"]
    lines.append(indent + "total_%d += f_%d" % (m - 1, m - 1))
    for k in range(m - 2, -1, -1):
        indent = indent[:-4]
        lines.append(indent + "total_%d += f_%d * total_%d" % (k, k, k + 1))
    lines.append("    return total_0")
    return "\n".join(lines)


@lru_cache(maxsize=None)
def gaussian_product(functions):
    r"""Compiled :math:`E(L) = \langle\prod_k f_k(z_k)\rangle`, :math:`z = Lt`, :math:`t\sim\mathcal N(0, I)`, for a
    tuple of m SymPy functions of z (``L`` the Cholesky factor of the m×m kernel): m nested Gauss--Legendre panel
    rules (:data:`PANEL_NODES` nodes, width :data:`PANEL_WIDTH`/√max K, |t| ≤ 8.5), level k split at 0 and where
    :math:`z_k = 0`, so that kinks at 0 (ReLU-like) are panel edges and every panel integrand is smooth.  Generated
    as a module (:func:`symbolic_rg.printers.load_module`) that imports the compiled :math:`f_k`."""
    factors = [_function_module(f, (z,)) for f in functions]

    def source():
        return "\n".join(["# generated by symbolic_rg.two_point: <prod_k f_k(z_k)> over %d inputs" % len(factors)]
                         + list(NUMBA_PRELUDE)
                         + ["from symbolic_rg.two_point import GL_NODES, PANEL_WIDTH, T_MAX, panel_rule"]
                         + ["from %s import f as F%d" % (m.__name__, k) for k, m in enumerate(factors)]
                         + ["", "", "@numba.njit(cache=True)", _nested_source(len(factors)), ""])
    return load_module("product", (GENERATOR_VERSION,) + tuple(m.__name__ for m in factors), source).expectation


def _power_moments_source(b, m, order, panel_width):
    """Source of the m-fold nested panel rule (as :func:`_nested_source`, panels of ``panel_width``) for the product
    over inputs k of :math:`\\prod_j F_j(z_k)^{n_{kj}}` (b base functions, exponents ``powers[k, j]`` given at run
    time), accumulating ``M[p_1, ..., p_m] += weight * product * prod_k t_k^{p_k}`` (the whitened coordinates)
    for every :math:`p_k \\le` ``order``."""
    lines = ["def moments(L, powers):",
             "    width = %r / np.sqrt(max(1.0, np.max(np.sum(L * L, axis=1))))" % float(panel_width),
             "    size = 3 * (int(2 * T_MAX / width) + 3) * GL_NODES.size",
             "    t = np.empty((%d, size))" % m,
             "    w = np.empty((%d, size))" % m,
             "    x = np.zeros(%d)" % m,
             "    t_powers = np.empty((%d, %d))" % (m, order + 1),
             "    M = np.zeros((%s))" % ", ".join([str(order + 1)] * m + [""])]
    indent = "    "
    for k in range(m):
        partial = " + ".join("L[%d, %d] * x[%d]" % (k, j, j) for j in range(k)) or "0.0"
        lines += [indent + "partial_%d = %s" % (k, partial),
                  indent + "n_%d = panel_rule(-partial_%d / L[%d, %d], width, t[%d], w[%d])" % (k, k, k, k, k, k),
                  indent + "for i_%d in range(n_%d):" % (k, k)]
        indent += "    "
        lines += [indent + "x[%d] = t[%d, i_%d]" % (k, k, k),
                  indent + "z_%d = partial_%d + L[%d, %d] * x[%d]" % (k, k, k, k, k),
                  indent + "f_%d = %sw[%d, i_%d]" % (k, "f_%d * " % (k - 1) if k else "", k, k)]
        for j in range(b):
            lines += [indent + "if powers[%d, %d] > 0:" % (k, j),
                      indent + "    f_%d *= F%d(z_%d) ** powers[%d, %d]" % (k, j, k, k, j)]
        lines += [indent + "if f_%d == 0.0:" % k, indent + "    continue",
                  indent + "t_powers[%d, 0] = 1.0" % k,
                  indent + "for p in range(1, %d):" % (order + 1),
                  indent + "    t_powers[%d, p] = t_powers[%d, p - 1] * x[%d]" % (k, k, k)]
    for k in range(m):
        lines.append(indent + "for p_%d in range(%d):" % (k, order + 1))
        indent += "    "
    lines.append(indent + "M[%s] += f_%d * %s" % (", ".join("p_%d" % k for k in range(m)), m - 1,
                                                   " * ".join("t_powers[%d, p_%d]" % (k, k) for k in range(m))))
    lines.append("    return M")
    return "\n".join(lines)


@lru_cache(maxsize=None)
def power_moments(functions, m, order, panel_width):
    r"""Compiled ``moments(L, powers)`` :math:`= M_{p_1\cdots p_m} = \langle\prod_k\prod_jF_j(z_k)^{n_{kj}}
    t_k^{p_k}\rangle`, :math:`p_k \le` ``order``, in the whitened coordinates :math:`t` of :math:`z = Lt` (``L`` the
    Cholesky factor of the m×m kernel, :math:`t\sim\mathcal N(0, I)`),
    for the SymPy base functions ``functions`` :math:`F_j` (an activation and its derivatives, say) with the integer
    exponents ``powers`` :math:`n_{kj}` given at run time, so that one compilation serves every product: the
    nested panel rule of :func:`gaussian_product` with panels of ``panel_width`` (kinks at :math:`z_k = 0` are panel
    edges).  With the moments, Gaussian integration by parts gives derivative averages without differentiating:
    :math:`\langle\partial_{z_a}F\rangle = \sum_i(L^{-\top})_{ai}\langle Ft_i\rangle`, and so on."""
    factors = [_function_module(f, (z,)) for f in functions]

    def source():
        return "\n".join(["# generated by symbolic_rg.two_point: <prod_k prod_j F_j(z_k)^n_kj z_k^p_k> over %d inputs, "
                          "p_k <= %d" % (m, order)] + list(NUMBA_PRELUDE)
                         + ["from symbolic_rg.two_point import GL_NODES, T_MAX, panel_rule"]
                         + ["from %s import f as F%d" % (mod.__name__, k) for k, mod in enumerate(factors)]
                         + ["", "", "@numba.njit(cache=True)", _power_moments_source(len(factors), m, order,
                                                                                      panel_width), ""])
    return load_module("power_moments", (GENERATOR_VERSION, m, order, float(panel_width))
                       + tuple(mod.__name__ for mod in factors), source).moments
