"""Errors raised by symbolic-rg.  Each names the offending parameter and the allowed range."""


class ParameterError(ValueError):
    """A user-supplied parameter is outside its allowed range (width, prior variance, T, data, ...)."""


class NoSolutionError(ValueError):
    """The saddle-point problem has no physical solution at this parameter point."""


class ConvergenceError(RuntimeError):
    """The saddle-point solver did not converge; the message names the parameter point."""
