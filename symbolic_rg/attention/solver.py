r"""Float64 solver of an attention network's saddle point: the local-kernel solver
(:class:`~symbolic_rg.conv.ConvSolver`) on the path vectors :math:`x\omega_\pi` of the attention maps
(:mod:`symbolic_rg.attention.maps`); ``attention``: one map per attention layer (callables tokens -> (rows, H, T,
T)), default :class:`~symbolic_rg.attention.SoftmaxAttention` with frozen query--key matrices seeded by
``attention_seed + l``."""
from __future__ import annotations

from ..conv.solver import ConvSolver, LocalKernels
from ..errors import ParameterError
from .maps import SoftmaxAttention, evaluate_maps, path_vectors

__all__ = ["AttentionSolver"]


class AttentionSolver(ConvSolver):
    """Compiled saddle-point solver of an attention theory (module doc)."""

    def solve(self, X, y, widths, *, attention=None, attention_seed=0, **options):
        """As :meth:`GatedSolver.solve <symbolic_rg.gated.GatedSolver.solve>` (``widths`` N_1..N_{L+1}, ``sigma2``,
        ``T``, ``tol`` ...), with the attention maps in place of gates."""
        _no_gates(options)
        return super().solve(X, y, widths, gates=attention, gate_seed=attention_seed, **options)

    def sweep(self, X, y, widths, *, T, attention=None, attention_seed=0, **options):
        """As :meth:`ConvSolver.sweep <symbolic_rg.conv.ConvSolver.sweep>`, with the attention maps."""
        _no_gates(options)
        return super().sweep(X, y, widths, T=T, gates=attention, gate_seed=attention_seed, **options)

    def attention_maps(self, attention=None, attention_seed=0):
        """One map per attention layer (bottom first)."""
        heads = self.theory.heads
        if attention is None:
            return [SoftmaxAttention(H, seed=attention_seed + l) for l, H in enumerate(heads, start=2)]
        maps = list(attention) if isinstance(attention, (list, tuple)) else [attention]
        if len(maps) != len(heads):
            raise ParameterError("attention: %d attention layers need %d maps (one per layer), got %d"
                                 % (len(heads), len(heads), len(maps)))
        return maps

    def _local_data(self, X, y, gates, gate_seed):
        """The path vectors of the training inputs under the attention maps (``gates``: the ``attention`` argument)."""
        th = self.theory
        maps = self.attention_maps(gates, gate_seed)

        def features(A, name):
            split = th.tokens.split(A, name)
            maps_here = evaluate_maps(maps, split, th.heads, "training" if name == "X" else "test")
            return path_vectors(split, maps_here, th.tokens.readout_vector)
        description = "%s; %d attention paths" % (th.tokens.describe(), th.positions)
        return LocalKernels(features, False, "linear", X, y, description), maps


def _no_gates(options):
    for name in ("gates", "gate_seed"):
        if name in options:
            raise ParameterError("%s: an attention network has no gates; give attention= (one map per attention layer)"
                                 " and attention_seed=" % name)
