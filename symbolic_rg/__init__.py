"""symbolic-rg: symbolic-numeric derivation engine for the statistical mechanics of deep networks.

Describe a network (:mod:`~symbolic_rg.layers`), :func:`derive` its theory (one family per subpackage:
:mod:`~symbolic_rg.kernel`, :mod:`~symbolic_rg.gated`, :mod:`~symbolic_rg.conv`,
:mod:`~symbolic_rg.attention`, :mod:`~symbolic_rg.replica`, :mod:`~symbolic_rg.pdlt`),
export LaTeX, ``compile`` a solver, solve; :mod:`~symbolic_rg.simulate` samples the real networks.
"""
from . import attention, checks, conv, data, gated, kernel, parallel, pdlt, replica, simulate
from .activations import activation, criticality, gaussian_expectation
from .attention import AttentionTheory
from .conv import ConvTheory
from .derive import derive
from .errors import ConvergenceError, NoSolutionError, ParameterError, SweepError
from .gated import FixedGates, GatedTheory, HalfSpaceGates, SigmoidGates
from .kernel import Theory
from .layers import (Attention, Conv, GatedLinear, GatedReadout, Linear, LinearReadout, Network, Nonlinear,
                     TokenProjection, attention_network, cnn, deep_linear, deep_nonlinear, ggdln)
from .patches import Patches, Tokens
from .pdlt import PDLTTheory, finite_width, finite_width_ntk, kernel_recursion, trained_output
from .replica import DeepPerceptron, ReplicaTheory, deep_perceptron
from .stages import GateSet

__all__ = ["derive", "deep_linear", "deep_nonlinear", "ggdln", "cnn", "Conv", "Patches", "ConvTheory",
           "attention_network", "Attention", "TokenProjection", "Tokens", "AttentionTheory", "Nonlinear", "Theory",
           "GatedTheory", "Network", "Linear",
           "LinearReadout", "GatedLinear", "GatedReadout", "GateSet", "HalfSpaceGates", "SigmoidGates", "FixedGates",
           "activation", "criticality", "gaussian_expectation", "PDLTTheory", "kernel_recursion", "finite_width",
           "finite_width_ntk", "trained_output",
           "deep_perceptron", "DeepPerceptron", "ReplicaTheory",
           "kernel", "gated", "conv", "attention", "replica", "pdlt", "simulate", "checks", "data", "parallel",
           "ParameterError", "NoSolutionError", "ConvergenceError", "SweepError"]
__version__ = "0.1.0"
