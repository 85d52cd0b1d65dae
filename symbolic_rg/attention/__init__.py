"""Deep multi-head attention networks: kernel renormalization over pairs of attention paths (Tiberi et al. 2024).

Owns the attention maps and path vectors, and the local-kernel theory and solver on paths.
"""
from .maps import IdentityAttention, SoftmaxAttention, evaluate_maps, path_vectors
from .solver import AttentionSolver
from .theory import AttentionTheory, derive_attention

__all__ = ["AttentionTheory", "derive_attention", "AttentionSolver", "SoftmaxAttention", "IdentityAttention",
           "evaluate_maps", "path_vectors"]
