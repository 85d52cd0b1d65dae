r"""Gaussian special functions: SymPy functions that know their derivatives and LaTeX, with their numerically
stable float64 (Numba) and mpmath twins, which the printers of :mod:`symbolic_rg.printers` call.

:math:`H(x) = \int_x^\infty Dt = \tfrac12\operatorname{erfc}(x/\sqrt2)`, :math:`\ln H`, the inverse Mills ratio
:math:`R = \varphi/H`, and :math:`\ln\sum_ie^{a_i}`; :math:`\int Dz\,f` with :math:`Dz` the standard normal measure.

>>> from sympy import Symbol, diff
>>> x = Symbol("x", real=True)
>>> diff(LogH(x), x)
-MillsRatio(x)
"""
from __future__ import annotations

import math

import mpmath
import numba
import numpy as np
import sympy as sp
from sympy.core.logic import fuzzy_and

__all__ = ["H", "MillsRatio", "LogH", "LogSumExp", "gaussian_measure", "gaussian_average", "step_average",
           "mills_ratio", "log_h", "log_sum_exp", "mp_log_h", "mp_mills"]


class H(sp.Function):
    r"""Gaussian tail :math:`H(x) = \int_x^\infty Dt = \tfrac12\operatorname{erfc}(x/\sqrt2)`."""
    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.Rational(1, 2)
        if x is sp.oo:
            return sp.S.Zero
        if x is sp.S.NegativeInfinity:
            return sp.S.One

    def fdiff(self, argindex=1):
        x = self.args[0]
        return -sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi)

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.erfc(x / sp.sqrt(2)) / 2


class MillsRatio(sp.Function):
    r"""Inverse Mills ratio :math:`R(x) = e^{-x^2/2}/(\sqrt{2\pi}H(x))`; :math:`R' = R(R-x)`."""
    nargs = 1

    def fdiff(self, argindex=1):
        x = self.args[0]
        return self * (self - x)

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi) / H(x).rewrite(sp.erfc)

    def _latex(self, printer):
        return r"\mathcal{R}\left(%s\right)" % printer._print(self.args[0])


class LogH(sp.Function):
    r""":math:`\ln H(x)`, finite for every real :math:`x`; :math:`(\ln H)' = -R(x)`."""
    nargs = 1

    def fdiff(self, argindex=1):
        return -MillsRatio(self.args[0])

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.log(H(x).rewrite(sp.erfc))

    def _latex(self, printer):
        return r"\ln H\left(%s\right)" % printer._print(self.args[0])


class LogSumExp(sp.Function):
    r""":math:`\ln\sum_i e^{a_i}` evaluated with its largest term factored out;
    :math:`\partial_{a_i}\ln\sum e^{a} = e^{a_i - \ln\sum e^{a}}`."""

    def fdiff(self, argindex=1):
        return sp.exp(self.args[argindex - 1] - self)

    def _eval_is_extended_real(self):
        return fuzzy_and(a.is_extended_real for a in self.args)

    def _eval_rewrite_as_exp(self, *args, **kwargs):
        return sp.log(sp.Add(*[sp.exp(a) for a in args]))

    def _latex(self, printer):
        return r"\ln\left(%s\right)" % " + ".join(r"e^{%s}" % printer._print(a) for a in self.args)


def gaussian_measure(var):
    """The standard normal density of ``var``."""
    return sp.exp(-var ** 2 / 2) / sp.sqrt(2 * sp.pi)


def gaussian_average(f, *variables):
    r""":math:`\int D v_1\cdots Dv_k\, f` as an unevaluated integral (the weight written out)."""
    weight = sp.Mul(*[gaussian_measure(v) for v in variables])
    return sp.Integral(f * weight, *[(v, -sp.oo, sp.oo) for v in variables])


def step_average(a, b):
    r""":math:`\int Du\,\Theta(a + bu) = H(-a/|b|)` for :math:`b\ne0`, a rule of Gaussian integration."""
    return H(-a / sp.sqrt(sp.expand(b ** 2)))


# float64 twins (Numba)
@numba.njit(cache=True)
def mills_ratio(x):
    r""":math:`R(x) = \varphi(x)/H(x)`: direct below 5, Laplace's continued fraction
    :math:`x + 1/(x + 2/(x + 3/\cdots))` above (relative error < 1e-15)."""
    if x < 5.0:
        return np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi) / (0.5 * math.erfc(x / np.sqrt(2.0)))
    t = x
    for k in range(80, 0, -1):
        t = x + k / t
    return t


@numba.njit(cache=True)
def log_h(x):
    r""":math:`\ln H(x)` for every real :math:`x` (continued fraction above 5, so no underflow)."""
    if x < 5.0:
        return np.log(0.5 * math.erfc(x / np.sqrt(2.0)))
    return -0.5 * x * x - 0.5 * np.log(2 * np.pi) - np.log(mills_ratio(x))


@numba.njit(cache=True)
def log_sum_exp(a, b):
    m = max(a, b)
    return m + np.log1p(np.exp(-abs(a - b)))


# mpmath twins
def mp_log_h(x):
    return mpmath.log(mpmath.erfc(x / mpmath.sqrt(2)) / 2)


def mp_mills(x):
    return mpmath.npdf(x) / (mpmath.erfc(x / mpmath.sqrt(2)) / 2)
