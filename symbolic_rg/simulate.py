r"""Simulation of real finite deep linear networks: exact blocked Gibbs sampling of the weight posterior.

Given all other layers, the output is linear in one layer's weights:
:math:`f(x^\mu) = s\, b_l^\top W_l z_{l-1}^\mu` with :math:`b_l = W_{l+1}^\top\cdots W_L^\top a`,
:math:`z_{l-1} = W_{l-1}\cdots W_1 x` and :math:`s = (N_0 N_1\cdots N_L)^{-1/2}`.  Only
:math:`v = W_l^\top \hat b_l` enters, so :math:`v` is drawn from its Gaussian posterior (Bayesian linear
regression with design :math:`s|b_l| Z_{l-1}`, prior :math:`\mathcal N(0,\sigma_l^2)`, noise variance
:math:`T`) and the rest of :math:`W_l` from the prior.  Every draw is exact; T > 0.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import ParameterError
from .solver import _check_array


class PosteriorSamples(NamedTuple):
    """Posterior estimates with batch-means standard errors."""
    mean: np.ndarray              # <f(x)> at the test points
    mean_stderr: np.ndarray
    variance: np.ndarray          # <df(x)^2> at the test points
    layer_kernels: list           # <K_l> = <x_l . x_l'>/N_l on the training set, l = 1..L
    layer_kernels_stderr: list
    sweeps: int


def _regression_draw(rng, A, y, prior_var, T):
    """Draw v ~ N(mean, Sigma): prior N(0, prior_var I), likelihood N(y; A v, T I)."""
    n = A.shape[1]
    precision = np.eye(n) / prior_var + A.T @ A / T
    chol = np.linalg.cholesky(precision)
    mean = np.linalg.solve(chol.T, np.linalg.solve(chol, A.T @ y / T))
    return mean + np.linalg.solve(chol.T, rng.standard_normal(n))


def gibbs_deep_linear(X, y, X_test, widths, sigma2=1.0, T=0.1, sweeps=2000, burn_in=200, batches=20, seed=0):
    """Blocked Gibbs sampling of the Gibbs posterior of a deep linear network (see module docstring)."""
    X, y, X_test = _check_array("X", X, 2), _check_array("y", y, 1), _check_array("X_test", X_test, 2)
    widths = [int(w) for w in widths]
    L = len(widths)
    if any(w < 1 for w in widths):
        raise ParameterError("widths must be positive integers, got %s" % widths)
    s2 = [float(sigma2)] * (L + 1) if np.ndim(sigma2) == 0 else [float(s) for s in sigma2]
    if len(s2) != L + 1 or min(s2) <= 0:
        raise ParameterError("sigma2 must be > 0: one number or %d numbers" % (L + 1))
    if not T > 0:
        raise ParameterError("the Gibbs sampler needs temperature T > 0, got %r" % (T,))
    if sweeps <= burn_in or sweeps - burn_in < batches:
        raise ParameterError("sweeps must exceed burn_in by at least the number of batches")
    rng = np.random.default_rng(seed)
    dims = [X.shape[1]] + widths
    Ws = [rng.standard_normal((dims[l + 1], dims[l])) * np.sqrt(s2[l]) for l in range(L)]
    a = rng.standard_normal(dims[-1]) * np.sqrt(s2[L])
    scale = 1 / np.sqrt(np.prod(np.array(dims, dtype=float)))
    kept = sweeps - burn_in
    f_test = np.empty((kept, X_test.shape[0]))
    kernels = [np.empty((kept,) + (X.shape[0],) * 2) for _ in range(L)]
    for sweep in range(sweeps):
        for l in range(L + 1):
            Z = X.T                                    # z_{l-1} for all training inputs, columns
            for W in Ws[:l]:
                Z = W @ Z
            if l == L:
                a = _regression_draw(rng, scale * Z.T, y, s2[L], T)
                continue
            b = a
            for W in reversed(Ws[l + 1:]):
                b = W.T @ b
            nb = np.linalg.norm(b)
            bh = b / nb
            v = _regression_draw(rng, scale * nb * Z.T, y, s2[l], T)
            fresh = rng.standard_normal(Ws[l].shape) * np.sqrt(s2[l])
            Ws[l] = fresh - np.outer(bh, bh @ fresh) + np.outer(bh, v)
        if sweep >= burn_in:
            i = sweep - burn_in
            Zt, Z = X_test.T, X.T
            for l, W in enumerate(Ws):
                Zt, Z = W @ Zt / np.sqrt(dims[l]), W @ Z / np.sqrt(dims[l])
                kernels[l][i] = Z.T @ Z / dims[l + 1]
            f_test[i] = a @ Zt / np.sqrt(dims[-1])

    def batch(arr):
        b = arr[: (len(arr) // batches) * batches].reshape((batches, -1) + arr.shape[1:]).mean(axis=1)
        return arr.mean(axis=0), b.std(axis=0, ddof=1) / np.sqrt(batches)
    mean, mean_se = batch(f_test)
    var = f_test.var(axis=0)
    ks = [batch(k) for k in kernels]
    return PosteriorSamples(mean, mean_se, var, [k[0] for k in ks], [k[1] for k in ks], kept)
