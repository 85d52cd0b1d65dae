"""``derive``: the one function that knows every family, and sends a network description to its theory."""
from __future__ import annotations

from .attention.theory import derive_attention
from .conv.theory import derive_conv
from .errors import ParameterError
from .gated.theory import derive_gated
from .kernel.theory import derive_kernel
from .layers import Attention, Conv, Network, TokenProjection
from .replica.rules import DeepPerceptron
from .replica.rsb import rsb_theory
from .replica.theory import derive_replica

__all__ = ["derive"]


def derive(network):
    """Derive the saddle-point theory of ``network`` (all weights integrated out symbolically).

    * a :class:`~symbolic_rg.layers.Network` of scalar stages (linear or positively homogeneous layers, one
      output) gives a :class:`~symbolic_rg.kernel.Theory` (one scalar order parameter per layer);
    * one with gated layers, a gated readout or several outputs gives a :class:`~symbolic_rg.gated.GatedTheory`
      (matrix order parameters);
    * one whose first layer is a :class:`~symbolic_rg.layers.Conv` gives a :class:`~symbolic_rg.conv.ConvTheory`
      (an order parameter over position pairs);
    * an attention network (:func:`~symbolic_rg.layers.attention_network`) gives a
      :class:`~symbolic_rg.attention.AttentionTheory` (an order parameter over pairs of attention paths);
    * a :class:`~symbolic_rg.replica.DeepPerceptron` gives its :class:`~symbolic_rg.replica.ReplicaTheory`
      (replica symmetric) or, with ``ansatz="1rsb"``, its :class:`~symbolic_rg.replica.RSBTheory`.

    Theories are immutable; deriving the same network again returns the same object within a process and loads
    the stored derivation from the cache directory (:func:`symbolic_rg.cache.cache_dir`) in a new one.

    >>> import symbolic_rg as srg
    >>> type(srg.derive(srg.ggdln(1, gates=2))).__name__
    'GatedTheory'
    """
    if isinstance(network, DeepPerceptron):
        return derive_replica(network) if network.ansatz == "rs" else rsb_theory(network)
    if not isinstance(network, Network):
        raise ParameterError("derive() takes a Network (e.g. srg.deep_linear(depth=3)) or a DeepPerceptron, got %r"
                             % (network,))
    _check_local_layers(network)
    if network.convolutional:
        return derive_conv(network)
    if network.attention:
        return derive_attention(network)
    return derive_gated(network) if network.gated else derive_kernel(network)


def _check_local_layers(network):
    """A convolution only as the first layer; attention layers only above a token projection (and nothing else)."""
    kinds = [type(layer) for layer in network.layers]
    if any(k is Conv for k in kinds[1:]):
        raise ParameterError("a Conv layer must be the first layer (it reads the input's patches), got layers %s"
                             % [k.__name__ for k in kinds])
    if (Attention in kinds or TokenProjection in kinds) and not (
            kinds[0] is TokenProjection and all(k is Attention for k in kinds[1:]) and len(kinds) > 1):
        raise ParameterError("an attention network is a TokenProjection followed by Attention layers only "
                             "(srg.attention_network), got layers %s" % [k.__name__ for k in kinds])
