"""Built-in data sets (no downloads): scikit-learn's bundled 8x8 digits and a synthetic linear teacher."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks
from .errors import ParameterError


class Dataset(NamedTuple):
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the digits data set needs scikit-learn: pip install 'symbolic-rg[data]'") from exc
    return load_digits()


def digits(P=200, P_test=500, seed=0, positive=(0, 2, 4, 6, 8), images=False):
    """Two-class digits task: label +1 for the digits in ``positive`` (default: even), -1 otherwise.

    Features are standardised with the training set's mean and standard deviation (constant pixels
    dropped), so N_0 = 61; ``images=True`` keeps all 64 pixels in row-major 8 x 8 order (the constant ones
    centred, hence 0) for convolutions.  Train and test are disjoint random subsets (seeded).
    """
    raw = _load_digits()
    n = raw.data.shape[0]
    checks.integer("P", P, low=1, high=n - 1)
    checks.integer("P_test", P_test, low=1, high=n - P)
    order = np.random.default_rng(seed).permutation(n)
    tr, te = order[:P], order[P:P + P_test]
    X = raw.data.astype(float)
    y = np.where(np.isin(raw.target, positive), 1.0, -1.0)
    keep = raw.data.std(axis=0) > 0 if not images else np.ones(X.shape[1], dtype=bool)
    mu, sd = X[tr][:, keep].mean(axis=0), X[tr][:, keep].std(axis=0)
    sd[sd == 0] = 1.0
    Xs = (X[:, keep] - mu) / sd
    return Dataset(Xs[tr], y[tr], Xs[te], y[te])


def teacher(P=200, N0=100, P_test=500, noise=0.1, seed=0):
    r"""Linear teacher :math:`y = w\cdot x/\sqrt{N_0} + \eta`, :math:`x, w\sim\mathcal N(0,I)`,
    :math:`\eta\sim\mathcal N(0,\text{noise}^2)` on the training labels (test labels are noiseless)."""
    checks.integer("P", P, low=1)
    checks.integer("N0", N0, low=1)
    checks.integer("P_test", P_test, low=1)
    checks.nonnegative("noise", noise)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(N0)
    X, Xt = rng.standard_normal((P, N0)), rng.standard_normal((P_test, N0))
    y = X @ w / np.sqrt(N0) + noise * rng.standard_normal(P)
    return Dataset(X, y, Xt, Xt @ w / np.sqrt(N0))


def load_npz(path):
    """A data set from an .npz file with arrays X_train, y_train, X_test, y_test (used exactly as given)."""
    try:
        with np.load(path) as f:
            missing = [k for k in Dataset._fields if k not in f]
            if missing:
                raise ParameterError("data file %s lacks the arrays %s (needs X_train, y_train, X_test, y_test)"
                                     % (path, ", ".join(missing)))
            return Dataset(*(np.asarray(f[k], dtype=float) for k in Dataset._fields))
    except (OSError, ValueError) as exc:
        if isinstance(exc, ParameterError):
            raise
        raise ParameterError("cannot read data file %s: %s" % (path, exc)) from None


TASKS = (                      # binary splits of the ten digits (label +1 for the listed digits)
    ("even", (0, 2, 4, 6, 8)),
    ("small", (0, 1, 2, 3, 4)),
    ("round", (0, 3, 6, 8, 9)),
    ("prime", (2, 3, 5, 7)),
)


class MultitaskDataset(NamedTuple):
    """Several tasks on the same inputs: ``task_*`` gives each row's task, ``contexts`` one vector per task."""
    X_train: np.ndarray
    y_train: np.ndarray
    task_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task_test: np.ndarray
    contexts: np.ndarray


def multitask_digits(tasks=2, P=100, P_test=300, context_dim=20, seed=0):
    """The first ``tasks`` binary digit tasks of :data:`TASKS`, ``P`` training and ``P_test`` test rows
    each (disjoint random images per task), standardised features as in :func:`digits`, and a Gaussian
    context vector per task (for task-dependent gates, :class:`~symbolic_rg.gated.TaskGates`)."""
    checks.integer("tasks", tasks, low=1, high=len(TASKS))
    raw = _load_digits()
    n = raw.data.shape[0]
    checks.integer("P", P, low=1, high=n // (2 * tasks))
    checks.integer("P_test", P_test, low=1, high=n // (2 * tasks))
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    keep = raw.data.std(axis=0) > 0
    X = raw.data[:, keep].astype(float)
    tr_rows, te_rows, ytr, yte, ttr, tte = [], [], [], [], [], []
    for t in range(tasks):
        rows = order[t * (P + P_test):(t + 1) * (P + P_test)]
        pos = np.isin(raw.target, TASKS[t][1])
        tr_rows.append(rows[:P])
        te_rows.append(rows[P:])
        ytr.append(np.where(pos[rows[:P]], 1.0, -1.0))
        yte.append(np.where(pos[rows[P:]], 1.0, -1.0))
        ttr.append(np.full(P, t))
        tte.append(np.full(P_test, t))
    tr, te = np.concatenate(tr_rows), np.concatenate(te_rows)
    mu, sd = X[tr].mean(axis=0), X[tr].std(axis=0)
    sd[sd == 0] = 1.0
    Xs = (X - mu) / sd
    contexts = rng.standard_normal((len(TASKS), context_dim))[:tasks]
    return MultitaskDataset(Xs[tr], np.concatenate(ytr), np.concatenate(ttr), Xs[te], np.concatenate(yte),
                            np.concatenate(tte), contexts)
