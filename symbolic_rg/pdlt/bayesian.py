r"""Bayesian inference at finite width ("The Principles of Deep Learning Theory", ch. 6): the posterior predictive
of a network's output with its leading 1/n correction, from the nearly-Gaussian prior of :func:`~.recursions.finite_width`.

The prior of one output over the inputs is nearly Gaussian: mean kernel :math:`\bar K = K + K^{\{1\}}/n` and connected
four-point function :math:`\kappa_{abcd} = (V_{(ab)(cd)} + V_{(ac)(bd)} + V_{(ad)(bc)})/n`.  Observing
:math:`y = z_A + \epsilon` on the training inputs A (:math:`\epsilon\sim\mathcal N(0, T)`, the Gibbs posterior at
temperature T; T = 0 conditions exactly), the Edgeworth density conditioned on y gives, to first order in
:math:`\kappa` (:math:`u` a test input, :math:`K_{AA}\to\bar K_{AA} + T`, :math:`B = \bar K_{uA}K_{AA}^{-1}`,
:math:`w = K_{AA}^{-1}y`, :math:`\tilde\kappa` the cumulant of :math:`z_u - Bz_A`):

.. math::
   E[z_u\mid y] = By + \tfrac16\tilde\kappa_{ujkl}h^{jkl},\qquad
   \mathrm{Var}[z_u\mid y] = \bar K_{uu} - B\bar K_{Au} + \tfrac12\tilde\kappa_{uujk}h^{jk},

with the Hermite tensors :math:`h^{jk} = w_jw_k - K^{-1}_{jk}`, :math:`h^{jkl} = w_jw_kw_l - (K^{-1}_{jk}w_l + K^{-1}_{jl}w_k
+ K^{-1}_{kl}w_j)`: the parts of the Edgeworth term :math:`\frac1{24}\kappa^{abcd}H_{abcd}` with one or two indices on
:math:`z_u - Bz_A` (independent of y under the Gaussian part) are the only ones with a first or second moment in it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import checks
from ..errors import ParameterError
from .recursions import finite_width

__all__ = ["BayesianPosterior", "bayesian_posterior", "nearly_gaussian_conditional"]


class BayesianPosterior(NamedTuple):
    r"""Posterior predictive at the test inputs (:func:`bayesian_posterior`): ``mean`` and ``variance`` with the 1/n
    correction, ``mean_gp`` and ``variance_gp`` at infinite width (the GP with kernel K), and ``width``."""
    mean: np.ndarray
    variance: np.ndarray
    mean_gp: np.ndarray
    variance_gp: np.ndarray
    width: float


def nearly_gaussian_conditional(K, kappa, y, T=0.0):
    r"""``(mean, variance)`` of the last variable of a nearly-Gaussian vector (covariance ``K``, connected fourth
    cumulant ``kappa``, both over P + 1 variables) given ``y`` = the first P plus Gaussian noise of variance ``T``, to
    first order in ``kappa`` (module doc)."""
    P = K.shape[0] - 1
    A, u = slice(0, P), P
    KAA = K[A, A] + T * np.eye(P)
    try:
        Kinv = np.linalg.inv(KAA)
    except np.linalg.LinAlgError:
        raise ParameterError("the kernel on the training inputs is singular (duplicate inputs at T = 0); use T > 0 "
                             "or distinct inputs") from None
    B = K[u, A] @ Kinv
    w = Kinv @ y
    # the cumulant of z_u - B z_A with one and with two such indices
    k1 = kappa[u, A][:, A][:, :, A] - np.einsum("i,ijkl->jkl", B, kappa[A][:, A][:, :, A][:, :, :, A])
    k2 = (kappa[u, u][A][:, A] - 2 * np.einsum("i,ijk->jk", B, kappa[A, u][:, A][:, :, A])
          + np.einsum("i,m,imjk->jk", B, B, kappa[A][:, A][:, :, A][:, :, :, A]))
    h2 = np.outer(w, w) - Kinv
    h3 = (np.einsum("j,k,l->jkl", w, w, w) - np.einsum("jk,l->jkl", Kinv, w) - np.einsum("jl,k->jkl", Kinv, w)
          - np.einsum("kl,j->jkl", Kinv, w))
    mean = B @ y + np.sum(k1 * h3) / 6
    variance = K[u, u] - B @ K[A, u] + 0.5 * np.sum(k2 * h2)
    return float(mean), float(variance)


def bayesian_posterior(activation, X, y, X_test, L, width, C_W, C_b=0.0, T=0.0, averages=None):
    r"""Posterior predictive mean and variance of the output :math:`z^{(L)}` (``L`` layers as in
    :func:`~.recursions.kernel_recursion`; every hidden width ``width``) of a network with prior :math:`W\sim\mathcal
    N(0, C_W/n)`, :math:`b\sim\mathcal N(0, C_b)`, trained on (``X``, ``y``) with Gaussian noise of variance ``T``, at
    the rows of ``X_test``, with the 1/n correction (module doc); one test input at a time (the recursion over the P + 1
    inputs).  The network :func:`~symbolic_rg.simulate.mala_network` samples (no biases, readout of variance
    :math:`\sigma^2`) is ``C_W = sigma2``, ``C_b = 0`` with ``L`` = its hidden layers + 1."""
    X, y, X_test = checks.training_data(X, y, X_test)
    checks.integer("L", L, low=2)
    checks.temperature(T)
    n = float(checks.integer("width", width, low=1))
    out = np.empty((4, X_test.shape[0]))
    for t, x in enumerate(X_test):
        fw = finite_width(activation, np.vstack([X, x]), L, int(n), C_W, C_b, averages=averages)
        C = fw.connected(L)
        kappa = C + C.transpose(0, 2, 1, 3) + C.transpose(0, 3, 2, 1)
        out[0, t], out[1, t] = nearly_gaussian_conditional(fw.mean_kernel(L), kappa, y, T)
        out[2, t], out[3, t] = nearly_gaussian_conditional(fw.kernel[L - 1], 0 * kappa, y, T)
    return BayesianPosterior(out[0], out[1], out[2], out[3], n)
