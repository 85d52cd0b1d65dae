r"""Activation functions and their Gaussian expectations; criticality of the infinite-width recursion.

Conventions of "The Principles of Deep Learning Theory" (Roberts, Yaida, Hanin): preactivations
:math:`z^{(l+1)} = b + W\sigma(z^{(l)})`, :math:`\langle b^2\rangle = C_b`, :math:`\langle W^2\rangle = C_W/n_l`;
:math:`\langle f\rangle_K` is the average over :math:`z\sim\mathcal N(0,K)`.  For one input the kernel obeys
:math:`K^{(l+1)} = C_b + C_W\langle\sigma\sigma\rangle_{K^{(l)}}` with susceptibilities

.. math:: \chi_\parallel(K) = C_W\,\frac{d\langle\sigma\sigma\rangle_K}{dK}
          = \frac{C_W}{2K^2}\langle\sigma(z)^2(z^2-K)\rangle_K,\qquad
          \chi_\perp(K) = C_W\langle\sigma'(z)^2\rangle_K,

and criticality is :math:`\chi_\parallel(K^*) = \chi_\perp(K^*) = 1` at a fixed point :math:`K^*`.

Expectations are evaluated by SymPy in closed form where the integrand is polynomial on each piece of a
piecewise activation (linear, ReLU, leaky ReLU, abs, ...); otherwise by
a trapezoidal rule in units of the standard deviation, with the error estimated by halving the step
(tanh, erf, GELU, SWISH, user expressions).
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import sympy as sp

from .errors import NoSolutionError, ParameterError

__all__ = ["z", "activation", "gaussian_expectation", "Expectation", "criticality", "Criticality", "NAMES",
           "scale_invariant", "numeric", "pointwise_derivatives"]

z = sp.Symbol("z", real=True)
_K = sp.Symbol("K", positive=True)

NAMES = {
    "linear": z,
    "relu": sp.Piecewise((z, z > 0), (0, True)),
    "abs": sp.Piecewise((z, z > 0), (-z, True)),
    "tanh": sp.tanh(z),
    "erf": sp.erf(z),
    "gelu": z / 2 * (1 + sp.erf(z / sp.sqrt(2))),
    "swish": z / (1 + sp.exp(-z)),
    "sigmoid": 1 / (1 + sp.exp(-z)),
    "sin": sp.sin(z),
}


def activation(spec):
    """The SymPy expression in ``z`` of an activation: a name of :data:`NAMES`, ``leaky_relu:SLOPE``, a
    SymPy expression (string or Expr) in ``z``, or a Python callable written with SymPy functions, which is
    called once on the symbol ``z`` (the engine derives with the expression, so it must be symbolic).

    >>> activation(lambda x: x * sp.tanh(x))
    z*tanh(z)
    """
    if callable(spec) and not isinstance(spec, (sp.Expr, str)):
        try:
            expr = sp.sympify(spec(z))
        except Exception as exc:
            raise ParameterError("activation callable %r must accept a SymPy symbol and return a SymPy expression "
                                 "(write it with sympy functions, e.g. lambda z: z * sympy.tanh(z)); calling it on "
                                 "z failed: %s" % (getattr(spec, "__name__", spec), exc)) from None
    elif isinstance(spec, sp.Expr):
        expr = spec
    elif not isinstance(spec, str):
        raise ParameterError("activation must be a name (%s, leaky_relu:SLOPE) or a SymPy expression in z, got %r"
                             % (", ".join(sorted(NAMES)), spec))
    elif spec in NAMES:
        return NAMES[spec]
    elif spec.startswith("leaky_relu"):
        _, _, slope = spec.partition(":")
        try:
            a = sp.nsimplify(slope or "0.01")
        except (sp.SympifyError, TypeError, ValueError):
            raise ParameterError("leaky_relu:SLOPE needs a number, got %r" % spec) from None
        if not a.is_real:
            raise ParameterError("leaky_relu:SLOPE needs a real number, got %r" % spec)
        return sp.Piecewise((z, z > 0), (a * z, True))
    else:
        try:
            expr = sp.sympify(spec, locals={"z": z})
        except (sp.SympifyError, TypeError, SyntaxError):
            raise ParameterError("unknown activation %r: use one of %s, leaky_relu:SLOPE, or a SymPy expression in z"
                                 % (spec, ", ".join(sorted(NAMES)))) from None
    if not isinstance(expr, sp.Expr) or expr.free_symbols - {z}:
        raise ParameterError("activation expression %r must depend on z only (free symbols: %s)"
                             % (spec, sorted(map(str, getattr(expr, "free_symbols", set()) - {z}))))
    try:
        with np.errstate(all="ignore"):
            vals = numeric(expr)(np.linspace(-3, 3, 7))
    except Exception as exc:
        raise ParameterError("activation %r cannot be evaluated numerically: %s" % (spec, exc)) from None
    if not np.all(np.isfinite(vals)):
        raise ParameterError("activation %r is not finite on [-3, 3]" % (spec,))
    return expr


def _pieces(expr):
    """``[(expr_i, lower_i, upper_i)]``: a Piecewise in z as pieces on intervals, or None if not of that form."""
    if not isinstance(expr, sp.Piecewise):
        return [(expr, -sp.oo, sp.oo)]
    out, covered = [], sp.S.Reals
    for e, cond in expr.args:
        interval = (cond.as_set() if cond is not sp.true else sp.S.Reals).intersect(covered)
        covered = covered - interval
        if interval is sp.S.EmptySet or isinstance(interval, sp.FiniteSet):     # points: measure zero
            continue
        if not isinstance(interval, sp.Interval):
            return None
        out.append((e, interval.start, interval.end))
    return out


def _polynomial_pieces(expr):
    pieces = _pieces(sp.piecewise_fold(expr))
    if pieces is None or not all(e.is_polynomial(z) for e, _, _ in pieces):
        return None
    return pieces


def pointwise_derivatives(sigma):
    r""":math:`(\sigma, \sigma', \sigma'')` of a SymPy activation, differentiated where it is smooth: the Dirac deltas
    of kinks dropped (ReLU: :math:`\sigma'' = 0`), as the Hessian of a sampled network has them."""
    first = sp.diff(sigma, z)
    return sigma, first, sp.diff(first, z).replace(sp.DiracDelta, lambda *args: sp.S.Zero)


@lru_cache(maxsize=None)
def numeric(expr):
    """Vectorised float64 function of ``z`` for a SymPy expression (erf through ``math.erf``)."""
    import math
    f = sp.lambdify(z, expr, modules=[{"erf": np.vectorize(math.erf, otypes=[float])}, "numpy"])
    return lambda x: np.broadcast_to(np.asarray(f(x), dtype=float), np.shape(x))


class Expectation(NamedTuple):
    """A Gaussian expectation: ``value`` at the given K, ``error`` (0 for a closed form), ``closed_form``
    (SymPy expression in K, or None when evaluated by quadrature)."""
    value: float
    error: float
    closed_form: sp.Expr


@lru_cache(maxsize=None)
def _closed_form(integrand):
    pieces = _polynomial_pieces(integrand)
    if pieces is None:
        return None
    density = sp.exp(-z**2 / (2 * _K)) / sp.sqrt(2 * sp.pi * _K)
    total = sum(sp.integrate(sp.expand(e) * density, (z, a, b)) for e, a, b in pieces)
    return sp.simplify(total)


@lru_cache(maxsize=None)
def _rule(integrand):
    """``(closed form in K or None, its numeric function, numeric integrand)``, once per integrand."""
    closed = _closed_form(sp.piecewise_fold(integrand))
    return closed, (None if closed is None else sp.lambdify(_K, closed, "math")), numeric(integrand)


@lru_cache(maxsize=None)
def _mp_function(expr):
    return sp.lambdify(z, expr, "mpmath")


def _mp_value(expr, x):
    """``expr`` at ``z = x`` in mpmath (no overflow); an error if the value itself is not finite in float64."""
    import mpmath
    v = float(_mp_function(expr)(mpmath.mpf(float(x))))
    if not np.isfinite(v):
        raise ParameterError("the integrand %s is not finite at z = %.3g" % (expr, x))
    return v


_T_MAX = 38.0          # |t| <= 38 in units of sqrt(K): the Gaussian weight beyond is below 1e-313


def gaussian_expectation(integrand, K, rtol=1e-12):
    r""":math:`\langle f(z)\rangle_K`, :math:`z\sim\mathcal N(0,K)`, for a SymPy expression ``integrand`` in ``z``.

    Closed form (SymPy) for piecewise-polynomial integrands.  Otherwise, for an integrand analytic on the whole
    line, the trapezoidal rule in :math:`t = z/\sqrt K` on :math:`[-38, 38]` (spectrally accurate for integrands
    analytic in a strip, e.g. tanh, erf, GELU, SWISH); for a piecewise integrand (a jump or a kink where a
    condition changes, after rewriting Abs, Max, Heaviside as Piecewise) composite 16-point Gauss--Legendre panels
    on each piece separately, so that every breakpoint is a panel edge.  The step (panel count) is halved
    (doubled) until two rules agree to ``rtol`` (relative, absolute below 1); ``error`` is the last difference.
    Points where the float64 formula overflows are evaluated in mpmath; an integrand that is itself not finite
    there raises an error.
    """
    if not (np.isfinite(K) and K > 0):
        raise ParameterError("the variance K must be > 0, got %r" % (K,))
    closed, closed_numeric, f = _rule(integrand)
    if closed is not None:
        return Expectation(float(closed_numeric(K)), 0.0, closed)
    pieces = _numeric_pieces(integrand)
    previous, level = None, 0
    while level < 12:
        q = sum(_piece_rule(g, expr, lo, hi, K, level) for g, expr, lo, hi in pieces) if pieces else \
            _trapezoid(f, integrand, K, 0.2 / 2 ** level)
        if previous is not None and abs(q - previous) <= rtol * max(1.0, abs(q)):
            return Expectation(q, abs(q - previous), None)
        previous, level = q, level + 1
    return Expectation(q, abs(q - previous), None)


def _values(f, expr, x):
    """``f`` at the points ``x`` (float64), the points where the formula overflows evaluated in mpmath."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        values = np.array(f(x), dtype=float)
    redo = ~np.isfinite(values)
    if np.any(redo):
        values[redo] = [_mp_value(expr, xi) for xi in x[redo]]
    return values


def _trapezoid(f, expr, K, h):
    t = np.arange(-_T_MAX, _T_MAX + h / 2, h)
    weight = np.exp(-t**2 / 2) / np.sqrt(2 * np.pi)
    keep = weight > 0
    return float(h * np.sum(_values(f, expr, np.sqrt(K) * t[keep]) * weight[keep]))


_GL16 = np.polynomial.legendre.leggauss(16)


def _piece_rule(f, expr, lo, hi, K, level):
    r"""One piece :math:`\int_{lo}^{hi}Dt\,f(\sqrt Kt)` (``lo``, ``hi`` in z), on 16-point Gauss--Legendre panels
    of width 0.5 / 2**level in t (the piece clipped to |t| <= 38)."""
    a, b = max(lo / np.sqrt(K), -_T_MAX), min(hi / np.sqrt(K), _T_MAX)
    if not b > a:
        return 0.0
    n = int(np.ceil((b - a) / 0.5)) * 2 ** level
    edges = np.linspace(a, b, n + 1)
    mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    t = (mid[:, None] + half[:, None] * _GL16[0][None, :]).ravel()
    w = (half[:, None] * _GL16[1][None, :]).ravel() * np.exp(-t**2 / 2) / np.sqrt(2 * np.pi)
    return float(np.sum(_values(f, expr, np.sqrt(K) * t) * w))


@lru_cache(maxsize=None)
def _numeric_pieces(integrand):
    """``[(numeric f_i, f_i, lower_i, upper_i)]`` of a piecewise integrand (in z), or None if it is one analytic
    expression on the whole line (or not of piecewise form)."""
    pieces = _pieces(sp.piecewise_fold(integrand.rewrite(sp.Piecewise)))
    if pieces is None or len(pieces) == 1:
        return None
    return [(numeric(e), e, float(lo), float(hi)) for e, lo, hi in pieces]


class Criticality(NamedTuple):
    C_b: float
    C_W: float
    K_star: float                 # nan for scale-invariant activations (every K is a fixed point at C_b = 0)
    universality_class: str       # "scale-invariant", "K*=0", or "K*!=0"
    chi_parallel: float
    chi_perp: float


def susceptibilities(sigma, K, C_W):
    r"""``(chi_parallel, chi_perp)`` at kernel K (module doc)."""
    d = sp.diff(sigma, z)
    second = gaussian_expectation(sigma**2 * z**2, K).value - K * gaussian_expectation(sigma**2, K).value
    par = second * C_W / (2 * K**2)
    perp = C_W * gaussian_expectation(d**2, K).value
    return par, perp


def scale_invariant(sigma):
    r""":math:`\sigma(\lambda z) = \lambda\sigma(z)` for all :math:`\lambda > 0` (checked at sample points)."""
    f = numeric(sigma)
    x = np.linspace(-3.0, 3.0, 13)
    return all(np.allclose(f(lam * x), lam * f(x), rtol=1e-12, atol=1e-12) for lam in (0.37, 2.9))


def small_kernel_coefficient(sigma):
    r""":math:`a_1` of :math:`K^{(l+1)} = K + a_1K^2 + O(K^3)` at :math:`C_b = 0`, :math:`C_W = 1/\sigma_1^2`:
    :math:`a_1 = 3(\sigma_2^2 + 2\sigma_1\sigma_3)/\sigma_1^2` with :math:`\sigma_k` the Taylor coefficients at 0
    (from :math:`\langle z^2\rangle = K`, :math:`\langle z^4\rangle = 3K^2`)."""
    c = [sp.limit(sp.diff(sigma, z, k), z, 0) / sp.factorial(k) for k in range(4)]
    return c, sp.simplify(3 * (c[2]**2 + 2 * c[1] * c[3]) / c[1]**2) if c[1] != 0 else None


def criticality(spec):
    r"""Critical initialization ``(C_b, C_W)`` of an activation, its fixed point and universality class.

    * scale-invariant (:math:`\sigma(\lambda z) = \lambda\sigma(z)`, :math:`\lambda>0`): :math:`C_b = 0`,
      :math:`C_W = 1/\langle\sigma'^2\rangle` (ReLU: 2; linear: 1), every K a fixed point;
    * :math:`K^* = 0` class: :math:`\sigma(0)=0`, :math:`\sigma'(0)\ne0` and :math:`a_1 < 0`
      (:func:`small_kernel_coefficient`), so the kernel flows to 0: :math:`C_b = 0`, :math:`C_W = 1/\sigma'(0)^2`
      (tanh: 1);
    * otherwise solve :math:`\chi_\perp(K^*) = 1` for :math:`C_W`, :math:`\chi_\parallel(K^*) = 1` for
      :math:`K^*` (log grid on [1e-3, 1e3], then bisection) and :math:`C_b = K^* - C_W\langle\sigma^2\rangle_{K^*}\ge0`
      (GELU, SWISH); a clear error when no such point exists.
    """
    sigma = activation(spec)
    d = sp.diff(sigma, z)
    if scale_invariant(sigma):
        C_W = 1.0 / gaussian_expectation(d**2, 1.0).value
        par, perp = susceptibilities(sigma, 1.0, C_W)
        return Criticality(0.0, C_W, float("nan"), "scale-invariant", par, perp)
    c, a1 = small_kernel_coefficient(sigma)
    if c[0] == 0 and a1 is not None and a1 < 0:
        return Criticality(0.0, float(1 / c[1]**2), 0.0, "K*=0", 1.0, 1.0)   # chi's -> 1 as K -> 0

    def excess(K):
        C_W = 1.0 / gaussian_expectation(d**2, K).value
        return susceptibilities(sigma, K, C_W)[0] - 1.0, C_W
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        grid = np.logspace(-3, 3, 121)
        vals = np.array([excess(K)[0] for K in grid])
        for i in range(len(grid) - 1):
            if not (np.isfinite(vals[i]) and np.isfinite(vals[i + 1])) or np.sign(vals[i]) == np.sign(vals[i + 1]):
                continue
            lo, hi = grid[i], grid[i + 1]
            for _ in range(60):
                mid = np.sqrt(lo * hi)
                if np.sign(excess(mid)[0]) == np.sign(vals[i]):
                    lo = mid
                else:
                    hi = mid
            K = np.sqrt(lo * hi)
            C_W = excess(K)[1]
            C_b = K - C_W * gaussian_expectation(sigma**2, K).value
            if C_b >= -1e-12:
                par, perp = susceptibilities(sigma, K, C_W)
                return Criticality(max(float(C_b), 0.0), float(C_W), float(K), "K*!=0", float(par), float(perp))
    raise NoSolutionError("activation %r has no critical point: chi_parallel = chi_perp = 1 has no solution with "
                          "C_b >= 0 for K* in [1e-3, 1e3]" % (spec,))
