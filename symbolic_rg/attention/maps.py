r"""Attention maps (fixed functions of the network's input) and the attention paths they define.

An attention layer :math:`l` with :math:`H_l` heads mixes the tokens of every unit through
:math:`\Omega^{l,h}(x)\in\mathbb R^{T\times T}` (column :math:`t`, the query, a weighted sum over the keys :math:`s`).
A path :math:`\pi = (h_{L+1}, .., h_2)` (the top layer's head outermost, as the theory's index) carries the readout
token back to the input, :math:`\omega_\pi = \Omega^{2,h_2}\cdots\Omega^{L+1,h_{L+1}}\omega_r\in\mathbb R^T`, and
the attention network's local features are the path vectors :math:`x\omega_\pi\in\mathbb R^{N_0}`
(:func:`path_vectors`).
"""
from __future__ import annotations

import numpy as np

from .. import checks
from ..errors import ParameterError

__all__ = ["SoftmaxAttention", "IdentityAttention", "path_vectors", "evaluate_maps"]


class SoftmaxAttention:
    r""":math:`\Omega^{h}(x)_{st} = \mathrm{softmax}_s\big(\beta\,x_s^\top Q^{h}x_t/N_0\big)` with frozen query--key
    matrices :math:`Q^h_{ij}\sim\mathcal N(0,1)` (seeded), ``strength`` :math:`\beta`; ``heads`` maps per call."""

    def __init__(self, heads, seed=0, strength=1.0):
        self.heads, self.seed, self.strength = checks.integer("heads H", heads, low=1), seed, float(strength)

    def __call__(self, tokens):
        """``tokens``: (rows, N_0, T) -> maps (rows, H, T, T)."""
        N0 = tokens.shape[1]
        Q = np.random.default_rng(self.seed).standard_normal((self.heads, N0, N0))
        scores = self.strength * np.einsum("pis,hij,pjt->phst", tokens, Q, tokens) / N0
        scores -= scores.max(axis=2, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=2, keepdims=True)

    def __repr__(self):
        return "SoftmaxAttention(heads=%d, seed=%r, strength=%g)" % (self.heads, self.seed, self.strength)


class IdentityAttention:
    """Every head attends every token to itself, :math:`\\Omega^h = I` (with one head and one layer the attention
    network is the deep linear network on the readout token)."""

    def __init__(self, heads):
        self.heads = checks.integer("heads H", heads, low=1)

    def __call__(self, tokens):
        rows, _, T = tokens.shape
        return np.broadcast_to(np.eye(T), (rows, self.heads, T, T)).copy()


def evaluate_maps(maps, tokens, heads, role="train"):
    """The maps of every attention layer on ``tokens`` (rows, N_0, T), checked: a list of (rows, H_l, T, T)."""
    out = []
    rows, _, T = tokens.shape
    for l, (f, H) in enumerate(zip(maps, heads), start=2):
        if not callable(f):
            raise ParameterError("attention maps must be callables tokens (rows, N_0, T) -> (rows, H, T, T), got %r"
                                 % (f,))
        m = np.asarray(f(tokens), dtype=float)
        if m.shape != (rows, H, T, T):
            raise ParameterError("attention maps of layer %d must have shape %s on the %s inputs, got %s"
                                 % (l, (rows, H, T, T), role, m.shape))
        if not np.all(np.isfinite(m)):
            raise ParameterError("attention maps of layer %d must be finite on the %s inputs" % (l, role))
        out.append(m)
    return out


def path_vectors(tokens, maps, readout):
    r""":math:`x\omega_\pi` for every path: (rows, paths, N_0), paths ordered with the top layer's head
    outermost; ``maps`` per attention layer from the bottom (layer 2) up, ``readout`` :math:`\omega_r`."""
    rows = tokens.shape[0]
    omega = np.broadcast_to(readout, (rows, 1, len(readout)))               # (rows, paths so far, T)
    for m in reversed(maps):                                                # top layer first
        omega = np.einsum("phst,pat->pahs", m, omega).reshape(rows, -1, m.shape[-1])
    return np.einsum("pis,pas->pai", tokens, omega)
