"""The Principles of Deep Learning Theory (Roberts, Yaida & Hanin), any activation: kernel, NTK, vertex and 1/width
recursions, criticality, depth scaling (``recursions``), symbolic recursions (``theory``) and their solver (``solver``),
the finite-width NTK and dNTK (``ntk``), trained networks (``training``), the finite-width posterior (``bayesian``)."""
from .bayesian import BayesianPosterior, bayesian_posterior, nearly_gaussian_conditional
from .ntk import FiniteWidthNTK, finite_width_ntk
from .recursions import (DepthScaling, FiniteWidth, GaussianAverages, KernelRecursion, NNGPInputKernel, depth_scaling,
                         finite_width, input_gram, kernel_recursion, norm_vertex, residual_criticality)
from .solver import PDLTSolution, PDLTSolver, PDLTSweep
from .theory import PDLTTheory
from .training import TrainedOutput, trained_output

__all__ = ["PDLTTheory", "PDLTSolver", "PDLTSolution", "PDLTSweep", "GaussianAverages", "KernelRecursion",
           "kernel_recursion", "FiniteWidth", "finite_width", "norm_vertex", "depth_scaling", "DepthScaling",
           "input_gram", "NNGPInputKernel", "trained_output", "TrainedOutput", "residual_criticality",
           "bayesian_posterior", "BayesianPosterior", "nearly_gaussian_conditional",
           "FiniteWidthNTK", "finite_width_ntk"]
