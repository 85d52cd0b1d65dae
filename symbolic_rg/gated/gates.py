r"""Gate functions for gated networks: fixed (unlearned) functions of the network input, P x M arrays.

* :class:`HalfSpaceGates` -- :math:`g_m(x) = \Theta(v_m\cdot x/\sqrt{N_0} - b)`, :math:`v_m\sim\mathcal N(0, I)`
  seeded;
* :class:`SigmoidGates` -- :math:`g_m(x) = 1/(1 + e^{-s(v_m\cdot x/\sqrt{N_0} - b)})`;
* any callable ``X -> array (n, M)``, or fixed arrays (:class:`FixedGates`).

Multitask data carry a task context in extra input columns; the gates see it like any other input
(:func:`~symbolic_rg.data.multitask_digits`).
"""
from __future__ import annotations

import numpy as np

from .. import checks
from ..errors import ParameterError

__all__ = ["HalfSpaceGates", "SigmoidGates", "FixedGates", "TaskGates", "evaluate_gates"]


class _ProjectionGates:
    def __init__(self, count, seed=0, bias=0.0):
        self.count = checks.integer("gate count M", count, low=1)
        self.seed, self.bias = int(seed), checks.finite("gate bias", bias)
        self._directions = {}

    def directions(self, n_features):
        """The gate directions :math:`v_m` (M x N_0), drawn once per input dimension from the seed."""
        if n_features not in self._directions:
            rng = np.random.default_rng(self.seed)
            self._directions[n_features] = rng.standard_normal((self.count, n_features))
        return self._directions[n_features]

    def field(self, X):
        X = np.asarray(X, dtype=float)
        return X @ self.directions(X.shape[1]).T / np.sqrt(X.shape[1]) - self.bias

    def __repr__(self):
        return "%s(count=%d, seed=%d, bias=%g)" % (type(self).__name__, self.count, self.seed, self.bias)


class HalfSpaceGates(_ProjectionGates):
    r"""Half-space gates :math:`\Theta(v_m\cdot x/\sqrt{N_0} - b)` with seeded Gaussian :math:`v_m`."""

    def __call__(self, X):
        return (self.field(X) > 0).astype(float)


class SigmoidGates(_ProjectionGates):
    r"""Smooth gates :math:`\sigma(s\,(v_m\cdot x/\sqrt{N_0} - b))`, sharpness :math:`s`."""

    def __init__(self, count, seed=0, bias=0.0, sharpness=4.0):
        super().__init__(count, seed, bias)
        self.sharpness = checks.positive("sigmoid gate sharpness", sharpness)

    def __call__(self, X):
        return 1.0 / (1.0 + np.exp(-self.sharpness * self.field(X)))


class FixedGates:
    """User-supplied gate values: ``train`` (P x M) and optionally ``test`` (P_test x M).

    The solver takes ``train`` for the training inputs and ``test`` (or, when absent, the one array given)
    for the test inputs; called directly on inputs it returns the array with the matching number of rows.
    """

    def __init__(self, train, test=None):
        self.train = np.asarray(train, dtype=float)
        self.test = None if test is None else np.asarray(test, dtype=float)
        self.count = self.train.shape[1] if self.train.ndim == 2 else None

    def values(self, X, role):
        arr = self.train if role == "train" or self.test is None else self.test
        if arr.ndim != 2 or arr.shape[0] != np.shape(X)[0]:
            raise ParameterError("fixed %s gate values have shape %s but there are %d %s inputs"
                                 % (role, arr.shape, np.shape(X)[0], role))
        return arr

    def __call__(self, X):
        n = np.shape(X)[0]
        for arr in (self.train, self.test):
            if arr is not None and arr.ndim == 2 and arr.shape[0] == n:
                return arr
        raise ParameterError("fixed gate values are given for %s inputs, not for %d"
                             % (" and ".join(str(a.shape[0]) for a in (self.train, self.test) if a is not None), n))


def evaluate_gates(gate, X, count, name, role="train"):
    """Gate values of ``gate`` on the ``role`` (train/test) inputs ``X``, checked: shape (len(X), count), finite."""
    try:
        values = np.asarray(gate.values(X, role) if isinstance(gate, FixedGates) else gate(X), dtype=float)
    except ParameterError:
        raise
    except Exception as exc:
        raise ParameterError("gate function for %s failed on the inputs: %s" % (name, exc)) from None
    n = np.shape(X)[0]
    if values.ndim != 2 or values.shape[0] != n or (count is not None and values.shape[1] != count):
        raise ParameterError("gates of %s must have shape (%d, %s), got %s"
                             % (name, n, "M" if count is None else count, values.shape))
    if values.shape[1] < 1:
        raise ParameterError("gates of %s: M must be >= 1, got 0 gates" % name)
    if not np.all(np.isfinite(values)):
        raise ParameterError("gates of %s contain NaN or inf" % name)
    return values


class TaskGates:
    r"""Task-dependent half-space gates :math:`\Theta(v_m\cdot[x, w\,c_t]/\sqrt{N_0 + d_c} - b)`: the gates see
    the input and the context vector :math:`c_t` of the row's task (weight ``context_weight``); the
    network's linear path sees only the input.  ``values(X, tasks)`` gives the P x M gate array;
    :meth:`fixed` the :class:`FixedGates` for a training and a test set."""

    def __init__(self, count, contexts, seed=0, bias=0.0, context_weight=1.0):
        self.base = HalfSpaceGates(count, seed, bias)
        self.count = self.base.count
        self.contexts = np.asarray(contexts, dtype=float)
        if self.contexts.ndim != 2:
            raise ParameterError("contexts must be a (tasks x context_dim) array, got shape %s" % (self.contexts.shape,))
        self.context_weight = float(context_weight)

    def values(self, X, tasks):
        tasks = np.asarray(tasks)
        if tasks.shape != (np.shape(X)[0],) or tasks.min() < 0 or tasks.max() >= len(self.contexts):
            raise ParameterError("tasks must give one task index in [0, %d) per row of X" % len(self.contexts))
        return self.base(np.hstack([X, self.context_weight * self.contexts[tasks]]))

    def fixed(self, X_train, task_train, X_test, task_test):
        return FixedGates(self.values(X_train, task_train), self.values(X_test, task_test))
