r"""Input geometries of the local layers: the patches of a convolution (:class:`Patches`) and the tokens of an
attention network (:class:`Tokens`).

An input :math:`x\in\mathbb R^{N_0}` is read as a 1-D signal of length :math:`N_0` or a 2-D image of shape
:math:`(H, W)` (one input channel, row-major).  A filter of size :math:`f` (or :math:`f_1\times f_2`) slides with
stride :math:`s` (or :math:`(s_1, s_2)`) over the positions where it fits whole (no padding, neural-tangents'
``padding='VALID'``): :math:`n = \prod_d(\lfloor(L_d - f_d)/s_d\rfloor + 1)` positions, each a patch
:math:`x_{(i)}\in\mathbb R^M` of :math:`M = \prod_d f_d` entries.

>>> p = Patches.of((8, 8), 4, 2)
>>> p.count, p.size, p.grid
(9, 16, (3, 3))
>>> Patches.of((5,), 5).count            # one patch covering the input: the fully connected layer
1
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import checks
from .errors import ParameterError

__all__ = ["Patches", "Tokens", "READOUT_TOKENS"]

READOUT_TOKENS = ("first", "last", "mean")


@dataclass(frozen=True)
class Patches:
    """Input shape, filter size and stride of a convolution (module doc); build with :meth:`of`."""
    shape: tuple
    filter: tuple
    stride: tuple

    @classmethod
    def of(cls, shape, filter, stride=1):
        """``shape``: (N_0,) or (H, W); ``filter`` and ``stride``: one int for every axis or one per axis."""
        shape = tuple(shape) if np.ndim(shape) else (shape,)
        if len(shape) not in (1, 2):
            raise ParameterError("input shape must be (N_0,) or (H, W), got %r" % (shape,))
        shape = tuple(checks.integer("input shape", s, low=1) for s in shape)

        def per_axis(name, value):
            values = tuple(value) if np.ndim(value) else (value,) * len(shape)
            if len(values) != len(shape):
                raise ParameterError("%s must be one int or %d ints (one per input axis), got %r"
                                     % (name, len(shape), value))
            return tuple(checks.integer(name, v, low=1) for v in values)
        filter, stride = per_axis("filter size", filter), per_axis("stride", stride)
        for d, (L, f) in enumerate(zip(shape, filter)):
            if f > L:
                raise ParameterError("filter size must be at most the input size %d on axis %d, got %d"
                                     % (L, d, f))
        return cls(shape, filter, stride)

    @property
    def grid(self):
        """Positions along each axis."""
        return tuple((L - f) // s + 1 for L, f, s in zip(self.shape, self.filter, self.stride))

    @property
    def count(self):
        """Number of positions n."""
        return int(np.prod(self.grid))

    @property
    def size(self):
        """Entries per patch M."""
        return int(np.prod(self.filter))

    @property
    def features(self):
        """Input dimension N_0."""
        return int(np.prod(self.shape))

    def indices(self):
        """``(n, M)`` integer array: the flat input index of entry k of patch i (positions row-major)."""
        axes = [np.arange(g)[:, None] * s + np.arange(f)[None, :]
                for g, f, s in zip(self.grid, self.filter, self.stride)]      # (positions, entries) per axis
        if len(axes) == 1:
            return axes[0]
        (r, c), W = axes, self.shape[1]
        flat = r[:, None, :, None] * W + c[None, :, None, :]                   # (g1, g2, f1, f2)
        return flat.reshape(self.count, self.size)

    def extract(self, X, name="X"):
        """The patches of the rows of ``X``: an array (rows, n, M)."""
        X = checks.array(name, X, 2)
        if X.shape[1] != self.features:
            raise ParameterError("%s has %d features but the convolution reads inputs of shape %s (%d features)"
                                 % (name, X.shape[1], self.shape, self.features))
        return X[:, self.indices()]

    def describe(self):
        """A short text: 'input 8x8, filter 4x4, stride 2x2: 9 positions of 16 entries'."""
        j = lambda t: "x".join(map(str, t))
        return ("input %s, filter %s, stride %s: %d positions of %d entries"
                % (j(self.shape), j(self.filter), j(self.stride), self.count, self.size))


@dataclass(frozen=True)
class Tokens:
    r"""Sequences of ``count`` tokens with ``features`` features each: an input row is the tokens one after the
    other, :math:`x\in\mathbb R^{T N_0}`, token :math:`t` the entries :math:`tN_0..(t+1)N_0-1`; the readout reads
    the ``readout`` token (first, last) or the mean over tokens, :math:`\omega_r\in\mathbb R^T`.

    >>> Tokens.of(4, 3).split(np.arange(12.0)[None])[0, :, 1]      # the features of token 1
    array([3., 4., 5.])
    """
    count: int
    features: int
    readout: str = "mean"

    @classmethod
    def of(cls, count, features, readout="mean"):
        checks.integer("tokens T", count, low=1)
        checks.integer("features per token N_0", features, low=1)
        if readout not in READOUT_TOKENS:
            raise ParameterError("readout token must be one of %s, got %r" % (", ".join(READOUT_TOKENS), readout))
        return cls(count, features, readout)

    @property
    def readout_vector(self):
        r""":math:`\omega_r`: the token (or the mean over tokens) the readout reads."""
        w = np.zeros(self.count)
        if self.readout == "mean":
            w[:] = 1.0 / self.count
        else:
            w[0 if self.readout == "first" else -1] = 1.0
        return w

    def split(self, X, name="X"):
        """The rows of ``X`` as arrays (rows, N_0, T): features by tokens, the columns the tokens."""
        X = checks.array(name, X, 2)
        if X.shape[1] != self.count * self.features:
            raise ParameterError("%s has %d features but the attention network reads %d tokens of %d features (%d)"
                                 % (name, X.shape[1], self.count, self.features, self.count * self.features))
        return X.reshape(X.shape[0], self.count, self.features).transpose(0, 2, 1)

    def describe(self):
        read = "the mean over tokens" if self.readout == "mean" else "the %s token" % self.readout
        return "%d tokens of %d features, readout of %s" % (self.count, self.features, read)
