"""Kernel renormalization (Li & Sompolinsky 2021; the heuristic ReLU extension): networks of scalar stages.

Owns the derived :class:`Theory` (one scalar order parameter per layer), its spectral code generator, the Numba and
mpmath saddle-point solvers, and the exact finite-width posterior of the order parameters by quadrature.
"""
from .codegen import load, source, system
from .exact import ExactSolution, ExactSolutionMP, ExactSolver, ExactSolverMP, ExactSweep, ExactSweepMP
from .solver import (GeneralizationError, LinearInputKernel, OneLoop, Solution, Solver, SpectralData, Sweep,
                     input_kernel_of, parameter_grid, spectral_data)
from .theory import Theory, derive_kernel

__all__ = ["Theory", "derive_kernel", "Solver", "Solution", "Sweep", "SpectralData", "spectral_data", "OneLoop",
           "LinearInputKernel", "input_kernel_of", "parameter_grid", "GeneralizationError", "ExactSolver",
           "ExactSolution", "ExactSweep", "ExactSolverMP", "ExactSolutionMP", "ExactSweepMP", "load", "source",
           "system"]
