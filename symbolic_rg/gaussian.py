r"""Symbolic Gaussian-integral rules: the only integrals the engine ever performs.

Every rule is evaluated by SymPy (``sympy.integrate``) on generic positive symbols once per process
and then specialised by substitution.  Layer kinds compose these rules; no closed-form answer for a
network is typed in anywhere.

* :func:`source_integral`   -- :math:`\int da\, \mathcal N(a;0,\sigma^2)\, e^{i a b} = e^{-\sigma^2 b^2/2}`
  (integrating a readout weight against the Hubbard--Stratonovich field).
* :func:`tilted_unit`       -- one hidden unit with pre-activation projection :math:`s = t\cdot h`,
  :math:`s\sim\mathcal N(0,q)`, tilted by :math:`e^{-\beta s^2/2}`: normaliser and second moment.
* :func:`gamma_mixture`     -- the exact order-parameter representation
  :math:`(1+\beta q)^{-N/2} = \int_0^\infty du\, \Gamma(u; N/2, N/2\sigma^2)\, e^{-c u q/2}`.
* :func:`mode_integral`     -- one eigenmode of the renormalised kernel:
  :math:`\int \frac{dt}{2\pi} e^{-a t^2/2 + i t y} = e^{-y^2/2a}/\sqrt{2\pi a}`.
* :func:`gaussian_conditional` -- conditioning a Gaussian variable on independent Gaussian modes.
* :func:`wishart_log_density` -- the matrix generalisation of :func:`gamma_mixture` for units that are read
  through several gates: :math:`|I + AQ/N|^{-N/2} = \int dV\,\mathcal W_d(V; N, A/N)\,e^{-\mathrm{tr}(VQ)/2}`.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

_a, _s, _t = sp.symbols("a s t", real=True)
_b, _y = sp.symbols("b y", real=True)
_sig2, _q, _beta, _lam, _N, _A, _c = sp.symbols("sigma2 q beta lambda N A c", positive=True)
_u = sp.Symbol("u", positive=True)


def _integrate(expr, *limits):
    return sp.simplify(sp.integrate(expr, *limits, conds="none"))


@lru_cache(maxsize=None)
def _source_integral():
    prior = sp.exp(-_a**2 / (2 * _sig2)) / sp.sqrt(2 * sp.pi * _sig2)
    return _integrate(prior * sp.exp(sp.I * _a * _b), (_a, -sp.oo, sp.oo))


def source_integral(sigma2, b):
    r""":math:`\int da\,\mathcal N(a;0,\sigma^2)e^{iab}` evaluated by SymPy."""
    return _source_integral().subs({_sig2: sigma2, _b: b})


@lru_cache(maxsize=None)
def _tilted_unit():
    density = sp.exp(-_s**2 / (2 * _q)) / sp.sqrt(2 * sp.pi * _q) * sp.exp(-_beta * _s**2 / 2)
    norm = _integrate(density, (_s, -sp.oo, sp.oo))
    second = _integrate(_s**2 * density, (_s, -sp.oo, sp.oo))
    return norm, sp.simplify(second / norm)


def tilted_unit(beta, q):
    r"""Return ``(norm, second_moment)`` of :math:`s\sim\mathcal N(0,q)` tilted by :math:`e^{-\beta s^2/2}`.

    ``norm`` = :math:`(1+\beta q)^{-1/2}`; ``second_moment`` = :math:`\langle s^2\rangle_\beta = q/(1+\beta q)`.
    """
    norm, second = _tilted_unit()
    return norm.subs({_beta: beta, _q: q}), second.subs({_beta: beta, _q: q})


def gamma_log_density(u, shape, rate):
    """Exact log density of the Gamma(shape, rate) distribution."""
    return shape * sp.log(rate) + (shape - 1) * sp.log(u) - rate * u - sp.loggamma(shape)


@lru_cache(maxsize=None)
def _gamma_mixture():
    shape, rate = _N / 2, _N / (2 * _sig2)
    density = rate**shape * _u ** (shape - 1) * sp.exp(-rate * _u) / sp.gamma(shape)
    laplace = _integrate(density * sp.exp(-_c * _u * _q / 2), (_u, 0, sp.oo))
    target = (1 + _c * _sig2 * _q / _N) ** (-_N / 2)
    if sp.simplify(sp.expand_power_base(laplace / target, force=True)) != 1:
        raise RuntimeError("Gamma-mixture identity not verified by SymPy: %s != %s" % (laplace, target))
    # posterior mean of u given the quadratic form q: <u>_q = ∫u p e^{-cuq/2} / ∫p e^{-cuq/2}
    first = _integrate(_u * density * sp.exp(-_c * _u * _q / 2), (_u, 0, sp.oo))
    conditional_mean = sp.simplify(sp.expand_power_base(first / laplace, force=True))
    return gamma_log_density(_u, shape, rate), conditional_mean


def gamma_mixture(u, width, sigma2, c, q):
    r"""Exact order-parameter representation of :math:`N` independent tilted units.

    :math:`(1 + c\sigma^2 q/N)^{-N/2} = \int_0^\infty du\; p_N(u)\, e^{-c\,u\,q/2}`, with
    :math:`p_N = \Gamma(\text{shape}=N/2, \text{rate}=N/2\sigma^2)` (mean :math:`\sigma^2`).
    The identity is verified by SymPy.  Returns ``(log p_N(u), <u>_q)``, the second being the mean
    of :math:`u` conditioned on the quadratic form :math:`q`.
    """
    log_p, mean = _gamma_mixture()
    sub = {_u: u, _N: width, _sig2: sigma2, _c: c, _q: q}
    return log_p.subs(sub), mean.subs(sub)


@lru_cache(maxsize=None)
def _mode_integral():
    return _integrate(sp.exp(-_A * _t**2 / 2 + sp.I * _t * _y) / (2 * sp.pi), (_t, -sp.oo, sp.oo))


def mode_integral(a, y):
    r""":math:`\int\frac{dt}{2\pi}e^{-a t^2/2 + ity}`: one eigenmode of a Gaussian likelihood."""
    return _mode_integral().subs({_A: a, _y: y})


def gaussian_conditional(prior_variance, covariances, variances, observations):
    r"""Mean and variance of :math:`f` given independent Gaussian observations :math:`o_k`.

    With :math:`\mathrm{Var} f = v`, :math:`\mathrm{Cov}(f, o_k) = c_k`, :math:`\mathrm{Var}\,o_k = w_k`
    (the :math:`o_k` mutually independent), the conditional is obtained by inverting the 2x2 block
    covariance of :math:`(f, o_k)` one mode at a time:
    :math:`\langle f\rangle = \sum_k c_k o_k / w_k`, :math:`\mathrm{Var} = v - \sum_k c_k^2/w_k`.
    ``covariances``, ``variances``, ``observations`` are summands in a common index; the caller wraps
    them in the sum.  Returns ``(mean_summand, variance_reduction_summand)``.
    """
    cov = sp.Matrix([[prior_variance, covariances], [covariances, variances]])
    precision = cov.inv()
    # conditional of the first component given the second: mean = -P01/P00 * o, var = 1/P00
    mean = sp.simplify(-precision[0, 1] / precision[0, 0] * observations)
    reduction = sp.simplify(prior_variance - 1 / precision[0, 0])
    return mean, reduction


@lru_cache(maxsize=None)
def _mode_moments():
    weight = sp.exp(-_A * _t**2 / 2 + sp.I * _t * _y)
    norm = _integrate(weight, (_t, -sp.oo, sp.oo))
    mean = sp.simplify(_integrate(_t * weight, (_t, -sp.oo, sp.oo)) / norm)
    second = sp.simplify(_integrate(_t**2 * weight, (_t, -sp.oo, sp.oo)) / norm)
    return mean, sp.simplify(second - mean**2)


def mode_moments(a, y):
    r"""Mean and variance of the Hubbard--Stratonovich field of one mode, weight :math:`e^{-at^2/2+ity}`.

    :math:`\langle t\rangle = i y/a`, :math:`\langle t^2\rangle - \langle t\rangle^2 = 1/a`; hence
    :math:`\langle tt^\top\rangle = A^{-1} - A^{-1}yy^\top A^{-1}` in the eigenbasis.
    """
    mean, var = _mode_moments()
    return mean.subs({_A: a, _y: y}), var.subs({_A: a, _y: y})


def wishart_log_density(V, width, mean, mean_inverse=None, log_det_mean=None):
    r"""Exact log density of :math:`V\sim\mathcal W_d(N, A/N)` (mean :math:`A`), :math:`N\ge d`.

    :math:`\log p = \tfrac{N-d-1}2\log|V| - \tfrac N2\mathrm{tr}(A^{-1}V) - \tfrac N2\log|A|
    + \tfrac{Nd}2\log\tfrac N2 - \log\Gamma_d(\tfrac N2)`.  It represents :math:`N` independent units whose
    gate-indexed projections :math:`s\in\mathbb R^d`, :math:`s\sim\mathcal N(0,Q/N)`, are tilted by
    :math:`e^{-s^\top A s/2}`: :math:`\langle e^{-s^\top As/2}\rangle^N = |I+AQ/N|^{-N/2}
    = \langle e^{-\mathrm{tr}(VQ)/2}\rangle_{V}` (a Wishart matrix is a sum of :math:`N` outer products of
    :math:`\mathcal N(0,A/N)` vectors).  For :math:`d = 1` it is the Gamma density of :func:`gamma_mixture`.
    ``mean_inverse`` and ``log_det_mean`` may give :math:`A^{-1}` and :math:`\log|A|` in a simplified form.
    """
    mean_inverse = mean.inverse() if mean_inverse is None else mean_inverse
    log_det_mean = sp.log(sp.Determinant(mean)) if log_det_mean is None else log_det_mean
    d = V.shape[0]
    j = sp.Dummy("j", integer=True, positive=True)
    log_multigamma = (d * (d - 1) / 4 * sp.log(sp.pi)
                      + sp.Sum(sp.loggamma(width / 2 + (1 - j) / 2), (j, 1, d)))
    return ((width - d - 1) / 2 * sp.log(sp.Determinant(V)) - width / 2 * sp.Trace(mean_inverse * V)
            - width / 2 * log_det_mean + width * d / 2 * sp.log(width / 2) - log_multigamma)
