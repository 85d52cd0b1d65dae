r"""Float64 solver of a convolutional network's saddle point (:mod:`symbolic_rg.conv.theory`).

The gated solver (:class:`~symbolic_rg.gated.GatedSolver`: compiled measure and gradients, positive-definite
parameterization, L-BFGS from several starts, the lowest-:math:`H` converged stationary point) with the local kernel
in place of the gate kernel: :math:`K = \sum_{ij}(A_0)_{ij}K_{ij}` and :math:`\Phi = [\mathrm{tr}(\Gamma K_{ij})]`.
Linear convolutions keep only the patches :math:`Z` (:math:`P\times n\times M`):
:math:`K = \sum_k Z_kA_0Z_k^\top/M`, :math:`\Phi = \sum_kZ_k^\top\Gamma Z_k/M` (:math:`Z_k` the :math:`P\times n`
matrix of entry :math:`k` of every patch), :math:`O(P^2nM)` per evaluation.  Other activations store the
:math:`P^2n^2` position-pair kernels, computed per :math:`\sigma_1^2` from the patches' Gaussian-process map.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from .. import checks
from ..activations import activation as _activation, z
from ..errors import ParameterError
from ..gated.solver import GatedSolution, GatedSolver, GatedSweep
from ..pdlt.recursions import NNGPInputKernel

__all__ = ["ConvSolver", "ConvSolution", "ConvSweep", "LocalKernels", "MAX_PAIR_ENTRIES"]

MAX_PAIR_ENTRIES = 5e7          # doubles (400 MB) of the position-pair kernels (P n)^2 of a nonlinear convolution


class LocalKernels:
    r"""The training data of a local-kernel theory: the local features :math:`Z` (``features(X, name)``, an array
    (rows, n, M): the patches of a convolution, the path vectors of an attention network), labels and the pair
    kernels :math:`K_{ij}(x^\mu, x^\nu)` (module doc) at the :math:`\sigma_1^2` of the current parameter point
    (:meth:`select`)."""

    def __init__(self, features, pooled, activation, X, y, description):
        self.features, self.pooled, self.description = features, pooled, description
        self.y = y
        self.Z = features(X, "X")
        self.linear = _activation(activation) == z
        self._nngp = None if self.linear else NNGPInputKernel(activation, 1)
        P, n, M = self.Z.shape
        if not self.linear and (P * n) ** 2 > MAX_PAIR_ENTRIES:
            raise ParameterError("a nonlinear convolution stores (P n)^2 = %d position-pair kernel entries (P = %d "
                                 "inputs, n = %d positions), more than %d; use fewer inputs, a larger stride or "
                                 "filter" % ((P * n) ** 2, P, n, MAX_PAIR_ENTRIES))
        self._by_sigma = {}
        self.pairs = None

    def select(self, sigma2_1):
        """Make the position-pair kernels at ``sigma2_1`` current (linear: independent of it)."""
        key = 1.0 if self.linear else float(sigma2_1)
        if key not in self._by_sigma:
            self._by_sigma = {key: self._pairs(self.Z, self.Z, key)}
        self.pairs = self._by_sigma[key]

    def _pairs(self, Za, Zb, sigma2_1):
        """``K_ij(a, b)`` as an array (A, B, n, n), or the pooled (A, B); linear: the patch arrays themselves."""
        if self.linear:
            return None
        A, n, M = Za.shape
        B = Zb.shape[0]
        if Za is Zb:
            C = self._nngp.gram(Za.reshape(A * n, M), sigma2_1)
        else:
            C, _ = self._nngp.cross(Za.reshape(A * n, M), Zb.reshape(B * n, M), sigma2_1)
        K4 = C.reshape(A, n, B, n).transpose(0, 2, 1, 3)
        return K4.mean(axis=(2, 3)) if self.pooled else np.ascontiguousarray(K4)

    # -- the linear map A -> sum_ij A_ij K_ij and its adjoint ------------------------------------------------------
    def kernel(self, A0):
        return self._contract(A0, self.Z, self.Z, self.pairs)

    def _contract(self, A0, Za, Zb, pairs):
        if self.pooled:
            if self.linear:
                ma, mb = Za.mean(axis=1), Zb.mean(axis=1)
                return A0[0, 0] * (ma @ mb.T) / Za.shape[2]
            return A0[0, 0] * pairs
        if self.linear:
            A, n, M = Za.shape
            left = np.einsum("pik,ij->pjk", Za, A0).reshape(A, n * M)
            return left @ Zb.reshape(Zb.shape[0], n * M).T / M
        return np.tensordot(pairs, A0, axes=([2, 3], [0, 1]))

    def gradient(self, Gamma):
        """:math:`[\\mathrm{tr}(\\Gamma K_{ij})]_{ij}` (pooled: 1 x 1)."""
        Z = self.Z
        if self.pooled:
            if self.linear:
                m = Z.mean(axis=1)
                return np.array([[np.sum(Gamma * (m @ m.T)) / Z.shape[2]]])
            return np.array([[np.sum(Gamma * self.pairs)]])
        if self.linear:
            P, n, M = Z.shape
            GZ = (Gamma @ Z.reshape(P, n * M)).reshape(P, n, M)
            return np.einsum("pik,pjk->ij", Z, GZ) / M
        return np.tensordot(Gamma, self.pairs, axes=([0, 1], [0, 1]))

    def test_kernels(self, A0, X_test, sigma2_1):
        """``(k, k_self)``: :math:`\\sum_{ij}(A_0)_{ij}K_{ij}(x, x^\\mu)` (tests x P) and
        :math:`\\sum_{ij}(A_0)_{ij}K_{ij}(x, x)` (tests)."""
        Zt = self.features(X_test, "X_test")
        k = np.empty((Zt.shape[0], self.Z.shape[0]))
        kself = np.empty(Zt.shape[0])
        chunk = max(1, int(2e6 // (self.Z.shape[0] * self.Z.shape[1] ** 2)))
        for lo in range(0, Zt.shape[0], chunk):
            part = Zt[lo:lo + chunk]
            k[lo:lo + chunk] = self._contract(A0, part, self.Z, self._pairs(part, self.Z, sigma2_1))
            for t, zt in enumerate(part):
                one = zt[None]
                kself[lo + t] = self._contract(A0, one, one, self._pairs(one, one, sigma2_1))[0, 0]
        return k, kself


class ConvSolver(GatedSolver):
    """Compiled saddle-point solver of a convolutional theory (module doc); ``solve`` and ``sweep`` as
    :class:`~symbolic_rg.gated.GatedSolver`, without gates."""

    def _setup(self, X, y, gates, gate_seed):
        X = checks.array("X", X, 2)
        y = checks.array("y", y, 1)
        if y.shape[0] != X.shape[0]:
            raise ParameterError("X has %d rows but y has %d; they must match" % (X.shape[0], y.shape[0]))
        data, funcs = self._local_data(X, y, gates, gate_seed)
        return _ConvSetup(data, {}, funcs, {}, self.compiled_functions({}))

    def _local_data(self, X, y, gates, gate_seed):
        """The :class:`LocalKernels` of the training data and the functions that define them (none: patches)."""
        if gates is not None:
            raise ParameterError("gates: a convolutional network has no gates, got %r" % (gates,))
        th = self.theory
        return LocalKernels(th.patches.extract, th.pooled, th.activation, X, y, th.patches.describe()), []

    def _point(self, setup, widths, sigma2, T):
        setup.data.select(self._sigma2(sigma2)[0])
        return super()._point(setup, widths, sigma2, T)

    def _check_gates(self, raw, T):
        """No gates to check."""

    @staticmethod
    def _kernel(A0, data):
        return data.kernel(A0), None

    @staticmethod
    def _adjoint(Gamma, data, G0):
        """Phi = [tr(Gamma K_ij)]_ij."""
        return data.gradient(Gamma)

    def _solution(self, setup, point, best, roots):
        return ConvSolution(self, setup.data, setup.funcs, setup.counts, point.widths, point.s2, point.T, setup.fn,
                            point.scalars, best, roots)

    def sweep(self, X, y, widths, *, T, sigma2=1.0, tol=1e-9, maxiter=3000, raise_on_failure=True, chunks=None,
              executor=None, progress=None, gates=None, gate_seed=0):
        """Saddle points along a path of (widths, T) points, as :meth:`GatedSolver.sweep`; a
        :class:`ConvSweep`."""
        sweep = super().sweep(X, y, widths, T=T, sigma2=sigma2, gates=gates, gate_seed=gate_seed, tol=tol,
                              maxiter=maxiter, raise_on_failure=raise_on_failure, chunks=chunks, executor=executor,
                              progress=progress)
        return ConvSweep(sweep.solutions)


class _ConvSetup(NamedTuple):
    """What a solve needs besides its parameter point (the fields of the gated solver's setup)."""
    data: LocalKernels
    raw: dict
    funcs: list
    counts: dict
    fn: dict


class ConvSolution(GatedSolution):
    """The saddle point of a convolutional network at one parameter point: :attr:`order_parameters`
    (:math:`V_1`, :math:`n\\times n` over position pairs, then the :math:`1\\times1` :math:`V_l` of the layers
    above), the predictor and the generalization error."""

    def __init__(self, *args):
        super().__init__(*args)
        self._sigma2_1 = float(self.sigma2[0])

    def predict(self, X_test, gates_test=None):
        """Posterior mean and variance of f at the rows of ``X_test``."""
        if gates_test is not None:
            raise ParameterError("gates_test: this network has no gates, got %r" % (gates_test,))
        k, kself = self.data.test_kernels(self.input_tilt, X_test, self._sigma2_1)
        mean = k @ self._alpha
        var = kself - np.einsum("ij,ji->i", k, np.linalg.solve(self._C, k.T))
        return mean, var

    @property
    def position_weights(self):
        r""":math:`V_1/\mathrm{mean}(V_1^{GP})`: the order parameter over position (or attention-path) pairs
        relative to its infinite-width value (the identity; what the data renormalize locally)."""
        V = self.order_parameters[0]
        Vgp = self.solver._infinite_width_order_parameters(self._fn, self._scalars)[0]
        return V / np.mean(np.diag(Vgp))

    def layer_kernels(self):
        raise ParameterError("layer_kernels: the mean hidden kernels are implemented for gated and deep linear "
                             "networks, not for convolutional or attention ones")

    def as_dict(self, X_test=None, y_test=None, gates_test=None):
        out = super().as_dict(X_test, y_test, gates_test)
        out["local_features"] = self.data.description
        out["positions"] = int(self.data.Z.shape[1])
        return out


class ConvSweep(GatedSweep):
    """Saddle points along a sweep (:meth:`ConvSolver.sweep`), one :class:`ConvSolution` per point."""
