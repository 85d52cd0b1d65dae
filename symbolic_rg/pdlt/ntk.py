r"""The neural tangent kernel at finite width: its 1/n mean correction, its fluctuations, its correlation with the
preactivations, and the dNTK ("The Principles of Deep Learning Theory", Roberts, Yaida & Hanin, chapters 8 and 11).

Network and NTK as in :mod:`symbolic_rg.pdlt.recursions` (learning rates :math:`\lambda_b` for biases and
:math:`\lambda_W/n_{l-1}` for the weights of layer l):
:math:`\Theta_{i_1i_2;\alpha_1\alpha_2} = \sum_\mu\lambda_\mu\,\partial_\mu z_{i_1;\alpha_1}
\partial_\mu z_{i_2;\alpha_2}`,
the dNTK :math:`\widehat{d\Theta}_{i_0i_1i_2;\alpha_0\alpha_1\alpha_2} = \sum_{\mu\nu}\lambda_\mu\lambda_\nu\,
\partial_\mu\partial_\nu z_{i_0;\alpha_0}\,\partial_\mu z_{i_1;\alpha_1}\partial_\nu z_{i_2;\alpha_2}`.  At layer l,
to order :math:`1/n_{l-1}`, with :math:`\Delta\Theta = \Theta - E[\Theta]` (the book's conventions):

.. math::
   E[\Theta_{i_1i_2}] &= \delta_{i_1i_2}\big(\Theta + \Theta^{\{1\}}/n_{l-1}\big),\\
   E[\Delta\Theta_{i_1i_2;\alpha_1\alpha_2}\Delta\Theta_{i_3i_4;\alpha_3\alpha_4}] &= \tfrac1{n_{l-1}}\big[
     \delta_{i_1i_2}\delta_{i_3i_4}A_{(\alpha_1\alpha_2)(\alpha_3\alpha_4)}
     + \delta_{i_1i_3}\delta_{i_2i_4}B_{\alpha_1\alpha_3\alpha_2\alpha_4}
     + \delta_{i_1i_4}\delta_{i_2i_3}B_{\alpha_1\alpha_4\alpha_2\alpha_3}\big],\\
   E[\Delta\Theta_{i_1i_2;\alpha_1\alpha_2}z_{i_3;\alpha_3}z_{i_4;\alpha_4}] &= \tfrac1{n_{l-1}}\big[
     \delta_{i_1i_2}\delta_{i_3i_4}D_{\alpha_1\alpha_2\alpha_3\alpha_4}
     + \delta_{i_1i_3}\delta_{i_2i_4}F_{\alpha_1\alpha_3\alpha_2\alpha_4}
     + \delta_{i_1i_4}\delta_{i_2i_3}F_{\alpha_1\alpha_4\alpha_2\alpha_3}\big],\\
   E[\widehat{d\Theta}_{i_0i_1i_2;\alpha_0\alpha_1\alpha_2}z_{i_3;\alpha_3}] &= \tfrac1{n_{l-1}}\big[
     \delta_{i_0i_1}\delta_{i_2i_3}P_{\alpha_0\alpha_1\alpha_2\alpha_3}
     + \delta_{i_0i_2}\delta_{i_1i_3}P_{\alpha_0\alpha_2\alpha_1\alpha_3}
     + \delta_{i_0i_3}\delta_{i_1i_2}Q_{\alpha_0\alpha_1\alpha_2\alpha_3}\big].

Derivation (the engine's, layer by layer; :math:`r = n_l/n_{l-1}`, averages :math:`\langle\cdot\rangle` over
:math:`z\sim\mathcal N(0, K^{(l)})`, :math:`\Theta = \Theta^{(l)}`).  Given layer l, :math:`z' = b + W\sigma` is
Gaussian and :math:`\Theta' = \lambda_b + \lambda_W\hat G + W M W^\top` with :math:`M_{jk} = \sigma'_j\sigma'_k
\Theta_{jk}`, :math:`\hat G = \sum_j\sigma_j\sigma_j/n_l`; Wick's theorem over W gives every structure in the
output neurons, and the remaining averages over layer l are expanded with the cumulants of that layer:
a neuron's own terms give the first (order-one) parts, pairs of different neurons give the r-terms through
:math:`E[f(z_j)\Delta] = \tfrac12\sum_\beta c_{\beta_1\beta_2}\langle\partial_{\beta_1}\partial_{\beta_2}f\rangle`
(c the cumulant of :math:`z_jz_j` with :math:`\Delta`) and :math:`E[f(z_j)g(z_k)\Delta] =
\sum_\beta c_{\beta_1\beta_2}\langle\partial_{\beta_1}f\rangle\langle\partial_{\beta_2}g\rangle` (c that of
:math:`z_jz_k`).  With :math:`\tilde D'_{(12)(34)} = n_l\,\mathrm{Cov}(C_W\hat H_{12}, C_W\hat G_{34})`,
:math:`\hat H_{12} = \sum_j\sigma'_{j;1}\sigma'_{j;2}\Theta_{jj;12}/n_l`:

.. math::
   \Theta^{\{1\}\prime}_{12} &= \tfrac{\lambda_W}{C_W}K^{\{1\}\prime}_{12} + rC_W\Big[\langle\sigma'_1\sigma'_2\rangle
     \Theta^{\{1\}}_{12} + \Theta_{12}\big(\tfrac12\langle\partial^2\sigma'_1\sigma'_2\rangle\!\cdot\! K^{\{1\}}
     + \tfrac18\langle\partial^4\sigma'_1\sigma'_2\rangle\!\cdot\! V\big)
     + \tfrac12\sum_\beta(D_{12\beta_1\beta_2} + F_{1\beta_12\beta_2} + F_{1\beta_22\beta_1})
       \langle\partial_{\beta_1}\partial_{\beta_2}\sigma'_1\sigma'_2\rangle\Big],\\
   \tilde D'_{(12)(34)} &= C_W^2\big(\langle\sigma'_1\sigma'_2\sigma_3\sigma_4\rangle
     - \langle\sigma'_1\sigma'_2\rangle\langle\sigma_3\sigma_4\rangle\big)\Theta_{12}
     + rC_W^2\big[\tfrac14\langle\partial^2\sigma'_1\sigma'_2\rangle\langle\partial^2\sigma_3\sigma_4\rangle\!\cdot\!
     V\,\Theta_{12} + \tfrac12\langle\sigma'_1\sigma'_2\rangle\langle\partial^2\sigma_3\sigma_4\rangle\!\cdot\!
     D_{12\cdot\cdot}\big],\qquad D' = \tfrac{\lambda_W}{C_W}V' + \tilde D',\\
   A' &= \big(\tfrac{\lambda_W}{C_W}\big)^2V' + \tfrac{\lambda_W}{C_W}\big(\tilde D'_{(12)(34)} +
     \tilde D'_{(34)(12)}\big) + C_W^2\big(\langle\sigma'_1\sigma'_2\sigma'_3\sigma'_4\rangle
     - \langle\sigma'_1\sigma'_2\rangle\langle\sigma'_3\sigma'_4\rangle\big)\Theta_{12}\Theta_{34}\\
     &\quad + rC_W^2\big[\tfrac14\langle\partial^2\sigma'_1\sigma'_2\rangle\langle\partial^2\sigma'_3\sigma'_4\rangle
     \!\cdot\! V\,\Theta_{12}\Theta_{34} + \tfrac12\langle\partial^2\sigma'_1\sigma'_2\rangle\!\cdot\! D_{34\cdot\cdot}
     \langle\sigma'_3\sigma'_4\rangle\Theta_{12} + (12\leftrightarrow34)
     + \langle\sigma'_1\sigma'_2\rangle\langle\sigma'_3\sigma'_4\rangle A_{(12)(34)}\big],\\
   B'_{1234} &= C_W^2\langle\sigma'_1\sigma'_2\sigma'_3\sigma'_4\rangle\Theta_{13}\Theta_{24}
     + rC_W^2\langle\sigma'_1\sigma'_2\rangle\langle\sigma'_3\sigma'_4\rangle B_{1234},\\
   F'_{1234} &= C_W^2\langle\sigma'_1\sigma_2\sigma'_3\sigma_4\rangle\Theta_{13}
     + rC_W^2\sum_\beta\langle\partial_{\beta_1}\sigma'_1\sigma_2\rangle
       \langle\partial_{\beta_2}\sigma'_3\sigma_4\rangle
     F_{1\beta_13\beta_2},\\
   P'_{0123} &= C_W^2\langle\sigma''_0\sigma'_1\sigma'_2\sigma_3\rangle\Theta_{01}\Theta_{02}
     + \lambda_WC_W\langle\sigma'_0\sigma_1\sigma'_2\sigma_3\rangle\Theta_{02}
     + r\sum_\beta\big[C_W^2\Theta_{01}\langle\partial_{\beta_1}\sigma''_0\sigma'_1\rangle
     + \lambda_WC_W\langle\partial_{\beta_1}\sigma'_0\sigma_1\rangle\big]
       \langle\partial_{\beta_2}\sigma'_2\sigma_3\rangle F_{0\beta_12\beta_2}
     + rC_W^2\langle\sigma'_0\sigma'_1\rangle\sum_\beta\langle\partial_\beta\sigma'_2\sigma_3\rangle P_{012\beta},\\
   Q'_{0123} &= C_W^2\langle\sigma''_0\sigma'_1\sigma'_2\sigma_3\rangle\Theta_{01}\Theta_{02}
     + rC_W^2\langle\sigma'_1\sigma'_2\rangle\big[\langle\sigma''_0\sigma_3\rangle B_{0012}
     + \sum_\beta\langle\partial_\beta\sigma'_0\sigma_3\rangle Q_{012\beta}\big],

(indices 1, 2, ... stand for :math:`\alpha_1, \alpha_2, \ldots`), all zero at layer 1, where the NTK is
:math:`\lambda_b + \lambda_W x\cdot x'/n_0` and the dNTK vanishes; :math:`K`, :math:`V`, :math:`K^{\{1\}}` from
:func:`~symbolic_rg.pdlt.recursions.finite_width`.  Activations with kinks (ReLU) have :math:`\sigma'' = 0` away
from them, as the Hessian of a sampled network has.  Every average is a product of powers of
:math:`\sigma, \sigma', \sigma''` over up to four inputs, by the nested panel rule of
:func:`~symbolic_rg.two_point.power_moments` (one compilation per activation and number of inputs; kinks at 0 are
panel edges): one or two inputs with panels of width 1 (tanh: relative error 1e-14 against mpmath), three or four
with the coarser panels of :func:`~symbolic_rg.two_point.gaussian_product` (relative error about 1e-7).  Derivative
averages by Gaussian integration by parts, :math:`\langle\partial_aF\rangle = \langle F\,(K^{-1}z)_a\rangle` and
Hermite polynomials for higher orders (of the whitened :math:`t`, :math:`z = Lt`), so the activation is never
differentiated past :math:`\sigma''`.  Checked against the empirical NTK and dNTK of sampled networks
(:func:`symbolic_rg.simulate.sample_ntk`).
"""
from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from .. import checks
from ..activations import pointwise_derivatives
from ..errors import ParameterError
from ..two_point import PANEL_WIDTH, power_moments
from .recursions import GaussianAverages, finite_width, kernel_cholesky, kernel_recursion

__all__ = ["FiniteWidthNTK", "finite_width_ntk"]

MOMENT_PANEL_WIDTH = 1.0      # panels of the one- and two-input moments: a third of PANEL_WIDTH


class FiniteWidthNTK(NamedTuple):
    r"""Per layer l = 1..L, for m inputs (module doc): ``kernel``, ``vertex``, ``kernel_correction``
    (:math:`K`, :math:`V`, :math:`K^{\{1\}}`), ``ntk`` :math:`\Theta` and ``ntk_correction`` :math:`\Theta^{\{1\}}`
    (m×m), the NTK variance ``ntk_variance_A``, ``ntk_variance_B``, the NTK–preactivation cross-correlation
    ``ntk_preactivation_D``, ``ntk_preactivation_F`` and the dNTK–preactivation cross-correlation ``dntk_P``,
    ``dntk_Q`` (m×m×m×m each; the dNTK ones None when not asked for); ``widths`` :math:`n_0..n_{L-1}`.
    Every finite-width tensor of layer l is per :math:`1/n_{l-1}`: ``scaled(name, l)`` divides by it."""
    kernel: np.ndarray
    vertex: np.ndarray
    kernel_correction: np.ndarray
    ntk: np.ndarray
    ntk_correction: np.ndarray
    ntk_variance_A: np.ndarray
    ntk_variance_B: np.ndarray
    ntk_preactivation_D: np.ndarray
    ntk_preactivation_F: np.ndarray
    dntk_P: np.ndarray | None
    dntk_Q: np.ndarray | None
    widths: np.ndarray

    def _layer(self, layer):
        return checks.integer("layer", layer, low=1, high=len(self.ntk)) - 1

    def mean_ntk(self, layer):
        r""":math:`E[\Theta_{ii}] = \Theta + \Theta^{\{1\}}/n_{l-1}` at ``layer`` (1..L)."""
        l = self._layer(layer)
        return self.ntk[l] + self.ntk_correction[l] / self.widths[l]

    def scaled(self, name, layer):
        """The finite-width tensor ``name`` (a field) of ``layer`` (1..L) divided by :math:`n_{l-1}`: what a network
        of these widths has."""
        fields = ("ntk_correction", "ntk_variance_A", "ntk_variance_B", "ntk_preactivation_D", "ntk_preactivation_F",
                  "dntk_P", "dntk_Q")
        if name not in fields:
            raise ParameterError("name must be one of %s, got %r" % (", ".join(fields), name))
        value = getattr(self, name)
        if value is None:
            raise ParameterError("%s was not computed: pass dntk=True" % name)
        l = self._layer(layer)
        return value[l] / self.widths[l]


class _ProductAverages:
    r"""Gaussian averages at kernel K of products of :math:`\sigma^{(d)}(z_a)` (d = 0, 1, 2), memoised by the
    multiset of factors ``(input, d)``."""

    def __init__(self, derivatives, K):
        self.derivatives, self.K, self.m = tuple(derivatives), K, K.shape[0]
        self._means, self._tensors = {}, {}

    def _grouped(self, factors):
        """The distinct inputs of ``factors`` and the exponents of each base function at each: (inputs, powers)."""
        inputs = sorted({a for a, _ in factors})
        powers = np.zeros((len(inputs), len(self.derivatives)), np.int64)
        for a, d in factors:
            powers[inputs.index(a), d] += 1
        return inputs, powers

    def _vanishes(self, powers):
        return any(self.derivatives[j] == 0 for j in np.flatnonzero(powers.sum(axis=0)))

    def _cholesky(self, inputs):
        sub = self.K[np.ix_(inputs, inputs)]
        return sub, kernel_cholesky(sub, inputs, "the finite-width NTK statistics")

    def mean(self, *factors):
        key = tuple(sorted(factors))
        if key not in self._means:
            inputs, powers = self._grouped(key)
            if self._vanishes(powers):
                self._means[key] = 0.0
            elif len(inputs) <= 2:                      # with the finer panels of the moments
                self._means[key] = self.tensors(*key)[0]
            else:
                rule = power_moments(self.derivatives, len(inputs), 0, PANEL_WIDTH)
                self._means[key] = float(rule(self._cholesky(inputs)[1], powers)[(0,) * len(inputs)])
        return self._means[key]

    def tensors(self, *factors):
        r"""``(<F>, D1, D2, D4)`` of :math:`F = \prod\sigma^{(d)}(z_a)` over at most two distinct inputs:
        :math:`\langle\partial_bF\rangle`, :math:`\langle\partial_{b_1}\partial_{b_2}F\rangle` and the fourth
        derivatives, in the m-input index space, by Gaussian integration by parts on the whitened moments
        :math:`\langle F t_{c_1}\cdots t_{c_k}\rangle`, :math:`z = Lt`: :math:`\langle\partial^kF\rangle =
        (L^{-\top})^{\otimes k}\langle F\,\mathrm{He}_k(t)\rangle` with the standard Hermite polynomials, whose
        cancellations stay of order one however correlated the two inputs are."""
        key = tuple(sorted(factors))
        if key in self._tensors:
            return self._tensors[key]
        inputs, powers = self._grouped(key)
        d, m = len(inputs), self.m
        D1, D2, D4 = np.zeros(m), np.zeros((m, m)), np.zeros((m,) * 4)
        if self._vanishes(powers):
            self._tensors[key] = (0.0, D1, D2, D4)
            return self._tensors[key]
        L = self._cholesky(inputs)[1]
        M = power_moments(self.derivatives, d, 4, MOMENT_PANEL_WIDTH)(L, powers)
        A, delta = np.linalg.inv(L).T, np.eye(d)

        def moment(*idx):
            return M[tuple(idx.count(c) for c in range(d))]
        m0 = M[(0,) * d]
        T1 = np.array([moment(a) for a in range(d)])
        H2 = np.array([[moment(a, b) for b in range(d)] for a in range(d)]) - m0 * delta
        H4 = np.empty((d,) * 4)
        for i, j, k, l in itertools.product(range(d), repeat=4):
            H4[i, j, k, l] = (moment(i, j, k, l)
                              - delta[k, l] * moment(i, j) - delta[j, l] * moment(i, k) - delta[j, k] * moment(i, l)
                              - delta[i, l] * moment(j, k) - delta[i, k] * moment(j, l) - delta[i, j] * moment(k, l)
                              + (delta[i, j] * delta[k, l] + delta[i, k] * delta[j, l] + delta[i, l] * delta[j, k])
                              * m0)
        D1[inputs] = A @ T1
        D2[np.ix_(inputs, inputs)] = A @ H2 @ A.T
        D4[np.ix_(inputs, inputs, inputs, inputs)] = np.einsum("ai,bj,ck,dl,ijkl->abcd", A, A, A, A, H4)
        self._tensors[key] = (float(m0), D1, D2, D4)
        return self._tensors[key]


def _pair_tensors(avg, d1, d2, part):
    """``part`` (0: mean, 1: D1, 2: D2, 3: D4) of the derivative tensors of sigma^(d1)(z_a) sigma^(d2)(z_b),
    stacked over (a, b)."""
    m = avg.m
    return np.array([[avg.tensors((a, d1), (b, d2))[part] for b in range(m)] for a in range(m)])


def _four(avg, orders):
    """<prod_k sigma^(orders[k])(z_{a_k})> over every quadruple (a_1..a_4)."""
    m = avg.m
    out = np.empty((m,) * 4)
    for idx in itertools.product(range(m), repeat=4):
        out[idx] = avg.mean(*zip(idx, orders))
    return out


def finite_width_ntk(spec, X, depth, widths, C_W, C_b=0.0, lambda_b=1.0, lambda_W=1.0, dntk=True, averages=None):
    r"""The finite-width NTK statistics of layers 1..``depth`` (module doc) jointly for the m inputs that are the rows
    of ``X``, for any activation ``spec``; ``widths``: one hidden width for all layers, or :math:`n_1..n_{L-1}`;
    ``dntk``: also the dNTK's P and Q.  Cost per layer: the m⁴ four-point averages (up to four-dimensional
    Gaussian integrals, memoised) and m² derivative tensors.

    >>> import numpy as np
    >>> s = finite_width_ntk("tanh", np.array([[1.0, 0.0], [0.6, 0.8]]), 3, 100, C_W=1.0, C_b=0.0)
    >>> s.ntk_variance_B.shape, bool(np.all(s.dntk_P[0] == 0))    # layer 1: the NTK is fixed, its statistics zero
    ((3, 2, 2, 2, 2), True)
    >>> bool(s.ntk_variance_B[2, 0, 0, 0, 0] > s.ntk_variance_B[1, 0, 0, 0, 0] > 0)   # B grows with depth
    True
    """
    checks.nonnegative("lambda_b", lambda_b)
    checks.nonnegative("lambda_W", lambda_W)
    if lambda_b + lambda_W == 0:
        raise ParameterError("lambda_b + lambda_W must be > 0 (with both zero nothing is trained and the NTK is zero)")
    if not isinstance(dntk, bool):
        raise ParameterError("dntk must be True or False, got %r" % (dntk,))
    av = averages or GaussianAverages(spec)
    fw = finite_width(spec, X, depth, widths, C_W, C_b, averages=av)
    ntk = kernel_recursion(spec, X, depth, C_W, C_b, lambda_b, lambda_W, averages=av).ntk
    derivatives = pointwise_derivatives(av.sigma)
    m = fw.kernel.shape[1]
    zero2, zero4 = np.zeros((m, m)), np.zeros((m,) * 4)
    T1, A, B, D, F, P, Q = zero2, zero4, zero4, zero4, zero4, zero4, zero4
    out = {name: [value] for name, value in zip("T1 A B D F P Q".split(), (T1, A, B, D, F, P, Q))}
    n, ratio = fw.widths, lambda_W / C_W
    for l in range(1, depth):
        r = n[l] / n[l - 1] if l > 1 else 1.0           # every tensor of layer 1 is zero: r multiplies zero at l = 1
        K, V, K1, Th = fw.kernel[l - 1], fw.vertex[l - 1], fw.correction[l - 1], ntk[l - 1]
        Vn, K1n = fw.vertex[l], fw.correction[l]
        avg = _ProductAverages(derivatives, K)
        S, G2s = _pair_tensors(avg, 0, 0, 0), _pair_tensors(avg, 0, 0, 2)
        Dd, G2d, G4d = _pair_tensors(avg, 1, 1, 0), _pair_tensors(avg, 1, 1, 2), _pair_tensors(avg, 1, 1, 3)
        G1x = _pair_tensors(avg, 1, 0, 1)                        # <d_b sigma'_a1 sigma_a2>
        dd4, mixed4 = _four(avg, (1, 1, 1, 1)), _four(avg, (1, 1, 0, 0))
        ThTh, DdDd = np.einsum("ab,cd->abcd", Th, Th), np.einsum("ab,cd->abcd", Dd, Dd)
        c = D + np.einsum("acbd->abcd", F) + np.einsum("adbc->abcd", F)
        T1 = ratio * K1n + r * C_W * (Dd * T1 + Th * (0.5 * np.einsum("abcd,cd->ab", G2d, K1)
                                                      + 0.125 * np.einsum("abcdef,cdef->ab", G4d, V))
                                      + 0.5 * np.einsum("abcd,abcd->ab", c, G2d))
        Dt = (C_W**2 * (mixed4 - np.einsum("ab,cd->abcd", Dd, S)) * Th[:, :, None, None]
              + r * C_W**2 * (0.25 * np.einsum("abef,cdgh,efgh->abcd", G2d, G2s, V) * Th[:, :, None, None]
                              + 0.5 * Dd[:, :, None, None] * np.einsum("cdef,abef->abcd", G2s, D)))
        Ht = (C_W**2 * (dd4 - DdDd) * ThTh
              + r * C_W**2 * (0.25 * np.einsum("abef,cdgh,efgh->abcd", G2d, G2d, V) * ThTh
                              + 0.5 * Th[:, :, None, None] * Dd[None, None] * np.einsum("abef,cdef->abcd", G2d, D)
                              + 0.5 * Th[None, None] * Dd[:, :, None, None] * np.einsum("cdef,abef->abcd", G2d, D)
                              + DdDd * A))
        A_new = ratio**2 * Vn + ratio * (Dt + Dt.transpose(2, 3, 0, 1)) + Ht
        D_new = ratio * Vn + Dt
        B_new = (C_W**2 * dd4 * np.einsum("ac,bd->abcd", Th, Th)
                 + r * C_W**2 * np.einsum("ab,cd->abcd", Dd, Dd) * B)
        F_new = (C_W**2 * np.einsum("acbd->abcd", mixed4) * Th[:, None, :, None]
                 + r * C_W**2 * np.einsum("abe,cdf,aecf->abcd", G1x, G1x, F))
        if dntk:
            G1y = _pair_tensors(avg, 2, 1, 1)                    # <d_b sigma''_a0 sigma'_a1>
            S2d = _pair_tensors(avg, 2, 0, 0)                    # <sigma''_a0 sigma_a3>
            R4 = _four(avg, (2, 1, 1, 0))
            ThTh0 = Th[:, :, None] * Th[:, None, :]              # Theta_01 Theta_02
            P_new = (C_W**2 * R4 * ThTh0[..., None]
                     + lambda_W * C_W * np.einsum("acbd->abcd", mixed4) * Th[:, None, :, None]
                     + r * C_W**2 * Th[:, :, None, None] * np.einsum("abe,cdf,aecf->abcd", G1y, G1x, F)
                     + r * lambda_W * C_W * np.einsum("abe,cdf,aecf->abcd", G1x, G1x, F)
                     + r * C_W**2 * Dd[:, :, None, None] * np.einsum("cde,abce->abcd", G1x, P))
            Q_new = (C_W**2 * R4 * ThTh0[..., None]
                     + r * C_W**2 * Dd[None, :, :, None] * (S2d[:, None, None, :] * np.einsum("aabc->abc", B)[..., None]
                                                            + np.einsum("ade,abce->abcd", G1x, Q)))
            P, Q = P_new, Q_new
        A, B, D, F = A_new, B_new, D_new, F_new
        for name, value in zip("T1 A B D F P Q".split(), (T1, A, B, D, F, P, Q)):
            out[name].append(value)
    arrays = {name: np.array(values) for name, values in out.items()}
    return FiniteWidthNTK(fw.kernel, fw.vertex, fw.correction, ntk, arrays["T1"], arrays["A"], arrays["B"],
                          arrays["D"], arrays["F"], arrays["P"] if dntk else None, arrays["Q"] if dntk else None,
                          fw.widths)
