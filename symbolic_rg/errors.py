"""Errors raised by symbolic-rg.  Each names the offending parameter and the allowed range."""


class ParameterError(ValueError):
    """A user-supplied parameter is outside its allowed range (width, prior variance, T, data, ...)."""


class NoSolutionError(ValueError):
    """The saddle-point problem has no physical solution at this parameter point."""


class ConvergenceError(RuntimeError):
    """The saddle-point solver did not converge; the message names the parameter point."""


class SweepError(RuntimeError):
    """A sweep stopped before every point was solved because its executor or a worker failed: ``partial`` is the
    sweep of the points that finished (of the same family, in order), ``missing`` the flat indices of the others;
    the executor's error is chained (``__cause__``)."""

    def __init__(self, message, partial=None, missing=()):
        super().__init__(message)
        self.partial, self.missing = partial, list(missing)
