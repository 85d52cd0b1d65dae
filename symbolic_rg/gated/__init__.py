"""Globally gated deep linear networks (Li & Sompolinsky 2022) and networks with several outputs.

Owns the theory of matrix order parameters (Wishart stages, kernel shape renormalization), its NumPy/LAPACK
solver, and the gate functions (half-space, sigmoid, fixed arrays, task gates) that feed it data.
"""
from .gates import FixedGates, HalfSpaceGates, SigmoidGates, TaskGates, evaluate_gates
from .solver import GatedSolution, GatedSolver, GatedSweep
from .theory import GatedTheory, derive_gated

__all__ = ["GatedTheory", "derive_gated", "GatedSolver", "GatedSolution", "GatedSweep", "HalfSpaceGates",
           "SigmoidGates", "FixedGates", "TaskGates", "evaluate_gates"]
