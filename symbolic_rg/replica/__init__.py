"""Replica theory: order parameters are overlaps between replicas of the whole network (Yoshino 2020; SK).

Owns the layer and limit rules of deep perceptron networks, their derived theory, code generator and solver, the
n -> 0 selection rule, one-step replica-symmetry breaking of the deep perceptron, the Sherrington-Kirkpatrick model with Parisi RSB, and the Monte Carlo of real networks.
"""
from .rules import (LIMITS, SCENARIOS, DeepPerceptron, HiddenSpins, Nishimori, OutputSpins, Quenched,
                    ReplicaSymmetric, SphericalWeights, alpha, apply_limit, deep_perceptron, kappa, n, p_, q_, qhat_, Q_,
                    u, w, x, y, z)
from .selection import (BREAKPOINT, CONJUGATE, NISHIMORI, OVERLAP, SINGLE_REPLICA, Kind, longitudinal_eigenvalues,
                        physical_index, reduced_hessian, rule_statement, wrong_directions)
from .sk import ANSATZE, GroundState, ParisiRSB, SKPoint, SKSolution, SKSolver, SKTheory, sk
from .rsb import RSBTheory, rsb_theory
from .rsb_solver import RSBPoint, RSBSolution, RSBSolver
from .solver import ReplicaSolution, ReplicaSolver, ReplicaSweep, RepliconStability, StationaryPoint
from .theory import ReplicaLatexPrinter, ReplicaTheory, derive_replica
from ..special import H, LogH, LogSumExp, MillsRatio, gaussian_average, gaussian_measure

__all__ = ["DeepPerceptron", "deep_perceptron", "ReplicaTheory", "derive_replica", "ReplicaSolver", "ReplicaSolution",
           "ReplicaSweep", "StationaryPoint", "RepliconStability", "ReplicaLatexPrinter", "ReplicaSymmetric",
           "SphericalWeights", "HiddenSpins", "OutputSpins", "Quenched", "Nishimori", "LIMITS", "SCENARIOS",
           "apply_limit", "Kind", "OVERLAP", "BREAKPOINT", "SINGLE_REPLICA", "NISHIMORI", "CONJUGATE",
           "physical_index", "rule_statement", "reduced_hessian", "longitudinal_eigenvalues", "wrong_directions",
           "RSBTheory", "rsb_theory", "RSBSolver", "RSBSolution", "RSBPoint",
           "SKTheory", "SKSolver", "SKSolution", "SKPoint", "GroundState", "ParisiRSB", "sk", "ANSATZE",
           "H", "LogH", "MillsRatio", "LogSumExp", "gaussian_average", "gaussian_measure",
           "alpha", "kappa", "n", "z", "w", "u", "x", "y", "Q_", "q_", "qhat_", "p_"]
