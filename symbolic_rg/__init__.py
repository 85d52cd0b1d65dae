"""symbolic-rg: symbolic-numeric derivation engine for the statistical mechanics of deep networks."""
from .errors import ConvergenceError, NoSolutionError, ParameterError
from .layers import Linear, LinearReadout, Network, deep_linear
from .theory import Theory, derive

__all__ = ["derive", "deep_linear", "Theory", "Network", "Linear", "LinearReadout",
           "ParameterError", "NoSolutionError", "ConvergenceError"]
__version__ = "0.1.0"
