"""Argument checks, one wording for the whole package: ``NAME must be RANGE, got VALUE`` (a :class:`ParameterError`).

>>> integer("depth", 0, low=1)
Traceback (most recent call last):
...
symbolic_rg.errors.ParameterError: depth must be an integer >= 1, got 0
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import ParameterError

__all__ = ["array", "integer", "finite", "positive", "nonnegative", "temperature", "widths", "prior_variances", "precision",
           "float64_only", "MIN_PRECISION"]

MIN_PRECISION = 16      # mpmath digits: below this arbitrary precision is no better than float64


def _fail(name, allowed, value):
    raise ParameterError("%s must be %s, got %r" % (name, allowed, value))


def array(name, a, ndim):
    """``a`` as a finite float64 array with ``ndim`` dimensions and at least one entry."""
    a = np.asarray(a, dtype=float)
    if a.ndim != ndim:
        raise ParameterError("%s must be a %d-D array, got shape %s" % (name, ndim, a.shape))
    if a.size == 0:
        raise ParameterError("%s must not be empty, got shape %s" % (name, a.shape))
    if not np.all(np.isfinite(a)):
        raise ParameterError("%s must have finite entries, got NaN or inf" % name)
    return a


def training_data(X, y, X_test):
    """``(X, y, X_test)`` as finite float64 arrays: X (P x features), y (P), X_test (any x the same features)."""
    X, y, X_test = array("X", X, 2), array("y", y, 1), array("X_test", X_test, 2)
    if y.shape[0] != X.shape[0]:
        raise ParameterError("X has %d rows but y has %d entries; they must match" % (X.shape[0], y.shape[0]))
    if X_test.shape[1] != X.shape[1]:
        raise ParameterError("X_test has %d features but X has %d" % (X_test.shape[1], X.shape[1]))
    return X, y, X_test


def integer(name, value, low=None, high=None):
    """``value`` as an int in [low, high] (either bound may be None); bools are rejected."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and ((low is not None and value < low) or (high is not None and value > high)):
        ok = False
    if not ok:
        if low is not None and high is not None:
            allowed = "an integer in [%d, %d]" % (low, high)
        elif low is not None:
            allowed = "an integer >= %d" % low
        elif high is not None:
            allowed = "an integer <= %d" % high
        else:
            allowed = "an integer"
        _fail(name, allowed, value)
    return int(value)


def _real(name, value, allowed, ok):
    """``value`` as a float if it is a finite real number with ``ok(value)``; else the error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not ok(value):
        _fail(name, allowed, value)
    return float(value)


def finite(name, value):
    """A finite real number."""
    return _real(name, value, "a finite number", lambda v: True)


def flag(name, value):
    """``value`` one of True, False and None (None: the default, e.g. a progress bar only on a terminal)."""
    if not any(value is v for v in (True, False, None)):
        _fail(name, "True, False or None", value)
    return value


def instance(name, value, types, allowed):
    """``value`` if it is an instance of ``types`` (``allowed`` says which in words)."""
    if not isinstance(value, types):
        _fail(name, allowed, value)
    return value


def positive(name, value):
    """A finite real number > 0."""
    return _real(name, value, "finite and > 0", lambda v: v > 0)


def nonnegative(name, value):
    """A finite real number >= 0."""
    return _real(name, value, "finite and >= 0", lambda v: v >= 0)


def temperature(T, zero=True, name="temperature T"):
    """A temperature: finite and >= 0 (``zero=False``: > 0); a number, or an array of them (a grid)."""
    allowed = "finite and >= 0" if zero else "finite and > 0"
    try:
        v = np.asarray(T, dtype=float)
    except (TypeError, ValueError):
        _fail(name, allowed, T)
    if T is None or isinstance(T, bool) or v.size == 0 or np.any(~np.isfinite(v)) or np.any(v < 0 if zero else v <= 0):
        _fail(name, allowed, T)
    return float(v) if v.ndim == 0 else v


def float64_only(precision, what):
    """``precision`` must be None for solvers without an arbitrary-precision backend (``what`` names them)."""
    if precision is not None:
        _fail("precision", "None for %s (float64 only)" % what, precision)


def widths(depth, values, infinite=False):
    """Hidden widths N_1..N_L: a list/tuple of ``depth`` entries, or one entry for all layers (an entry is a
    number, or an array of them on a grid),
    integers >= 1 (``infinite=True``: inf allowed, the infinite-width limit).  Returns a list of float arrays."""
    if isinstance(values, (list, tuple)):
        if len(values) != depth:
            _fail("widths", "%d widths [N_1, ..., N_%d] (one per hidden layer)" % (depth, depth), values)
        cols = [np.asarray(w, dtype=float) for w in values]
    else:
        cols = [np.asarray(values, dtype=float)] * depth
    allowed = "an integer >= 1" + (" or inf" if infinite else "")
    for l, w in enumerate(cols, start=1):
        bad = np.isnan(w) | (w < 1) | ((w != np.floor(w)) & np.isfinite(w))
        if not infinite:
            bad |= ~np.isfinite(w)
        if np.any(bad):
            _fail("widths: N_%d" % l, allowed, w.tolist() if w.ndim else float(w))
    return cols


def prior_variances(depth, values):
    """Prior variances [sigma_1^2, ..., sigma_L^2, sigma_a^2]: a list/tuple of ``depth + 1`` entries, or one entry
    for all (an entry is a number, or an array of them on a grid), finite and > 0.  Returns a list of float arrays."""
    if isinstance(values, (list, tuple)):
        if len(values) != depth + 1:
            _fail("sigma2", "one number or %d numbers [sigma_1^2, ..., sigma_L^2, sigma_a^2]" % (depth + 1), values)
        cols = [np.asarray(s, dtype=float) for s in values]
    else:
        cols = [np.asarray(values, dtype=float)] * (depth + 1)
    names = ["sigma_%d^2" % l for l in range(1, depth + 1)] + ["sigma_a^2"]
    for n, s in zip(names, cols):
        if np.any(~np.isfinite(s)) or np.any(s <= 0):
            _fail("sigma2: prior variance %s" % n, "finite and > 0", s.tolist() if s.ndim else float(s))
    return cols


def precision(digits):
    """mpmath working precision in decimal digits, an integer >= :data:`MIN_PRECISION`."""
    return integer("precision (decimal digits)", digits, low=MIN_PRECISION)
