"""Convolutional networks: local kernel renormalization, an order parameter over pairs of filter positions.

Owns the theory (the gated matrix machinery with the local kernel) and its solver on patch-pair kernels.
"""
from .solver import ConvSolution, ConvSolver, ConvSweep, LocalKernels
from .theory import ConvTheory, derive_conv

__all__ = ["ConvTheory", "derive_conv", "ConvSolver", "ConvSolution", "ConvSweep", "LocalKernels"]
