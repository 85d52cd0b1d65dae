"""symbolic-rg: symbolic-numeric derivation engine for the statistical mechanics of deep networks."""
from .errors import ConvergenceError, NoSolutionError, ParameterError
from .layers import Linear, LinearReadout, Network, Nonlinear, deep_linear, deep_nonlinear
from .theory import Theory, derive
from .gated import GatedLinear, GatedReadout, GatedTheory, GateSet, ggdln
from .gates import FixedGates, HalfSpaceGates, SigmoidGates
from .activations import activation, criticality, gaussian_expectation
from .pdlt import PDLTTheory, finite_width, kernel_recursion
from .replica import DeepPerceptron, ReplicaTheory, deep_perceptron
from . import replica

__all__ = ["derive", "deep_linear", "deep_nonlinear", "ggdln", "Nonlinear", "Theory", "GatedTheory", "Network", "Linear", "LinearReadout",
           "GatedLinear", "GatedReadout", "GateSet", "HalfSpaceGates", "SigmoidGates", "FixedGates",
           "activation", "criticality", "gaussian_expectation", "PDLTTheory", "kernel_recursion", "finite_width",
           "deep_perceptron", "DeepPerceptron", "ReplicaTheory", "replica",
           "ParameterError", "NoSolutionError", "ConvergenceError"]
__version__ = "0.1.0"
