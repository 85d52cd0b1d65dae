"""The Principles of Deep Learning Theory (Roberts, Yaida & Hanin) at initialization, for any activation.

Owns the infinite-width kernel and NTK recursions of many inputs, the four-point vertex and the 1/width kernel
correction, criticality and depth scaling (``recursions``), and the symbolic one-input recursions (``theory``).
"""
from .recursions import (DepthScaling, FiniteWidth, GaussianAverages, KernelRecursion, NNGPInputKernel, depth_scaling,
                         finite_width, input_gram, kernel_recursion, norm_vertex)
from .theory import PDLTTheory

__all__ = ["PDLTTheory", "GaussianAverages", "KernelRecursion", "kernel_recursion", "FiniteWidth", "finite_width",
           "norm_vertex", "depth_scaling", "DepthScaling", "input_gram", "NNGPInputKernel"]
