r"""The one protocol of every family: a Theory compiles into a Solver, which returns Solutions.

* :class:`Theory`: ``order_parameters``, ``saddle_point_equations``, ``latex(document=False)``,
  ``latex_equations() -> [(name, Eq)]`` and ``compile(precision=None, **options) -> Solver`` (``precision``:
  mpmath digits; float64 when None).
* :class:`Solver`: ``solve(...) -> Solution`` at one parameter point and ``sweep(...)`` along a path.
* :class:`Solution`: ``order_parameters`` (the values, in the order of the theory's ``order_parameters``: numbers,
  or matrices for matrix order parameters), ``converged``, ``residual`` (the measure its convergence was judged by)
  and ``as_dict()`` (JSON-ready: what the command line prints, with the order parameters named); families with data
  add ``predict`` and ``generalization_error``.  A sweep has the same attributes, one entry per point.

The shared result types live here too: :class:`Iteration` (every iterative root finder returns one) and
:class:`GeneralizationError`.  The protocols are ``typing.Protocol`` classes, checkable with ``isinstance``:

>>> import symbolic_rg as srg
>>> isinstance(srg.derive(srg.deep_linear(1)), Theory)
True
"""
from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

__all__ = ["Theory", "Solver", "Solution", "SolutionSweep", "Iteration", "GeneralizationError"]


@runtime_checkable
class Theory(Protocol):
    """A derived theory: its order parameters, saddle-point equations, LaTeX, and a compiled solver."""

    order_parameters: tuple
    saddle_point_equations: tuple

    def latex(self, document: bool = False) -> str: ...

    def latex_equations(self) -> list: ...

    def compile(self, precision=None, **options): ...


@runtime_checkable
class Solver(Protocol):
    """A compiled theory: the saddle point at one parameter point, or along a path."""

    def solve(self, *args, **kwargs): ...

    def sweep(self, *args, **kwargs): ...


@runtime_checkable
class Solution(Protocol):
    """The saddle point at one parameter point."""

    order_parameters: object
    converged: bool
    residual: float

    def as_dict(self) -> dict: ...


class Iteration(NamedTuple):
    """Where an iterative root finder stopped: ``root``, the objective ``value`` there (effective action, free
    entropy...), the ``residual`` (max-norm of the equations), ``iterations`` and ``converged``; Newton methods on a
    gradient also keep the last ``gradient`` and ``hessian``."""
    root: np.ndarray
    value: float
    residual: float
    iterations: int
    converged: bool
    gradient: np.ndarray = None
    hessian: np.ndarray = None


class GeneralizationError(NamedTuple):
    """Test average of :math:`(\\langle f\\rangle - y)^2 + \\langle\\delta f^2\\rangle`, with its two parts."""
    total: float
    bias: float
    variance: float

    def __float__(self):
        return float(self.total)


class SolutionSweep:
    """A sweep held as its solutions, ``sweep[i]`` the i-th point (flat order over ``shape``), with the protocol's
    attributes point by point: ``order_parameters`` (a list), ``converged`` and ``residual`` (arrays of ``shape``),
    ``as_dict()``.  The families' sweeps that keep one solution object per point derive from it."""

    def __init__(self, solutions, shape=None):
        self.solutions = list(solutions)
        self.shape = (len(self.solutions),) if shape is None else tuple(shape)

    def __len__(self):
        return len(self.solutions)

    def __getitem__(self, i):
        return self.solutions[i]

    @property
    def order_parameters(self):
        return [s.order_parameters for s in self.solutions]

    @property
    def converged(self):
        return np.array([s.converged for s in self.solutions], dtype=bool).reshape(self.shape)

    @property
    def residual(self):
        return np.array([float(s.residual) for s in self.solutions]).reshape(self.shape)

    def as_dict(self):
        """JSON-ready: the ``shape`` and every point's ``as_dict()`` in flat order."""
        return {"shape": list(self.shape), "points": [s.as_dict() for s in self.solutions]}
