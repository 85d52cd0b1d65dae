r"""Trained networks at infinite width: the output on test inputs after gradient flow or gradient descent on the
mean squared error, from the NNGP kernel :math:`K` and the NTK :math:`\Theta` of :func:`~.recursions.kernel_recursion`
("The Principles of Deep Learning Theory", ch. 10; Lee et al., NeurIPS 2019).

At infinite width the NTK is frozen and the network is linear in its parameters, so on the training inputs
:math:`X` (P points) the loss :math:`\mathcal L = \frac1{2P}\sum_\mu(z_\mu - y_\mu)^2` (half the mean squared error,
neural-tangents' convention) drives

.. math::
   \frac{dz_X}{dt} = -\frac{\eta}{P}\Theta_{XX}(z_X - y),\qquad
   z_t(x) = z_0(x) + \Theta_{xX}\Theta_{XX}^{-1}\big(I - E_t\big)(y - z_0(X)),

with :math:`E_t = e^{-\eta t\Theta_{XX}/P}` (gradient flow, time :math:`t` in units of the learning rate) or
:math:`E_t = (I - \eta\Theta_{XX}/P)^{k}` (gradient descent, :math:`k = t/\eta` steps of size :math:`\eta`).  The
output at initialization :math:`z_0` is the Gaussian process with kernel :math:`K`, so with
:math:`A_t = \Theta_{*X}\Theta_{XX}^{-1}(I - E_t)` the trained output on the test inputs is Gaussian with

.. math::
   \mu_t = A_t\,y,\qquad \Sigma_t = K_{**} - A_tK_{X*} - K_{*X}A_t^\top + A_tK_{XX}A_t^\top;

at :math:`t\to\infty`, :math:`A_\infty = \Theta_{*X}\Theta_{XX}^{-1}` (kernel regression with the NTK; gradient descent
converges there only for :math:`\eta < 2P/\lambda_{\max}(\Theta_{XX})`).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import checks
from ..errors import ParameterError
from .recursions import kernel_recursion

__all__ = ["TrainedOutput", "trained_output"]


class TrainedOutput(NamedTuple):
    r"""Mean and covariance over initializations of the trained network's output at the test inputs
    (:func:`trained_output`): ``mean`` (n_test), ``covariance`` (n_test × n_test), the ``time`` and
    ``learning_rate`` (None: gradient flow), ``steps`` of gradient descent (None for gradient flow or t = inf), and
    the test rows of the kernels used, ``nngp`` and ``ntk`` (n_test × (P + n_test), the training columns first)."""
    mean: np.ndarray
    covariance: np.ndarray
    time: float
    learning_rate: float | None
    steps: int | None
    nngp: np.ndarray
    ntk: np.ndarray

    @property
    def variance(self):
        """The diagonal of ``covariance``: the output's variance over initializations at each test input."""
        return np.diag(self.covariance).copy()


def _decay(theta_eigenvalues, P, time, learning_rate):
    r"""The eigenvalues of :math:`I - E_t` and the number of steps (gradient descent) or None."""
    lam = theta_eigenvalues / P
    if np.isinf(time):
        if learning_rate is not None and learning_rate * lam.max() >= 2:
            raise ParameterError("learning_rate must be below 2P/lambda_max(Theta) = %.6g for gradient descent to "
                                 "converge, got %r" % (2 / lam.max(), learning_rate))
        return np.ones_like(lam), None
    if learning_rate is None:
        return -np.expm1(-time * lam), None
    steps = time / learning_rate
    if abs(steps - round(steps)) > 1e-9 * max(1.0, steps):
        raise ParameterError("time must be a whole number of steps times learning_rate for gradient descent "
                             "(time = steps * learning_rate), got time=%r, learning_rate=%r" % (time, learning_rate))
    steps = int(round(steps))
    return 1 - (1 - learning_rate * lam) ** steps, steps


def trained_output(activation, X, y, X_test, L, C_W, C_b=0.0, lambda_b=1.0, lambda_W=1.0, time=np.inf,
                   learning_rate=None):
    r"""The output of an infinitely wide network trained on (``X``, ``y``), at the rows of ``X_test``: its mean and
    covariance over initializations (module doc for the equations) as a :class:`TrainedOutput`.

    ``L`` counts layers as :func:`~.recursions.kernel_recursion` (the output is :math:`z^{(L)}`); ``C_W``, ``C_b`` the
    initialization, ``lambda_b``, ``lambda_W`` the learning-rate multipliers of biases and weights in the NTK;
    ``time``: training time :math:`t \ge 0` (``np.inf``: fully trained); ``learning_rate``: None for gradient flow
    (:math:`dz/dt = -\eta\Theta(z-y)/P` with :math:`\eta = 1`), else the step size :math:`\eta` of gradient descent,
    ``time/learning_rate`` steps.

    >>> import numpy as np, symbolic_rg as srg
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]]); y = np.array([1.0, -1.0])
    >>> out = srg.trained_output("relu", X, y, X, L=2, C_W=2.0)
    >>> np.allclose(out.mean, y), np.allclose(out.variance, 0.0)       # fully trained: interpolates the data
    (True, True)
    """
    X, y, X_test = checks.training_data(X, y, X_test)
    if not (isinstance(time, (int, float, np.floating, np.integer)) and time >= 0):      # np.inf allowed
        raise ParameterError("time must be a number >= 0 (np.inf: fully trained), got %r" % (time,))
    if learning_rate is not None:
        checks.positive("learning_rate", learning_rate)
    P, n = X.shape[0], X_test.shape[0]
    rec = kernel_recursion(activation, np.vstack([X, X_test]), L, C_W, C_b, lambda_b, lambda_W, layers="last")
    K, Theta = rec.kernels[-1], rec.ntk[-1]
    tr, te = slice(0, P), slice(P, P + n)
    lam, V = np.linalg.eigh(Theta[tr, tr])
    if lam[0] <= 1e-12 * lam[-1]:
        raise ParameterError("the NTK on the training inputs is singular (smallest eigenvalue %.3g of %.3g): "
                             "duplicate or degenerate inputs in X" % (lam[0], lam[-1]))
    gain, steps = _decay(lam, P, float(time), learning_rate)
    A = (Theta[te, tr] @ V) * (gain / lam) @ V.T                 # Theta_*X Theta^-1 (I - E_t)
    KX = K[tr, te]
    cov = K[te, te] - A @ KX - KX.T @ A.T + A @ K[tr, tr] @ A.T
    return TrainedOutput(A @ y, 0.5 * (cov + cov.T), float(time), learning_rate, steps, K[te], Theta[te])
