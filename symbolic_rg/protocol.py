r"""The one protocol of every family: a Theory compiles into a Solver, which returns Solutions.

* :class:`Theory`: ``order_parameters``, ``saddle_point_equations``, ``latex(document=False)``,
  ``latex_equations() -> [(name, Eq)]`` and ``compile(precision=None, **options) -> Solver`` (``precision``:
  mpmath digits; float64 when None).
* :class:`Solver`: ``solve(...) -> Solution`` at one parameter point and ``sweep(...)`` along a path.
* :class:`Solution`: ``order_parameters`` (a dict name -> value), ``converged``, ``residual`` and ``as_dict()``
  (JSON-ready: what the command line prints); families with data add ``predict`` and ``generalization_error``.

The shared result types live here too: :class:`Iteration` (every iterative root finder returns one) and
:class:`GeneralizationError`.  The protocols are ``typing.Protocol`` classes, checkable with ``isinstance``:

>>> import symbolic_rg as srg
>>> isinstance(srg.derive(srg.deep_linear(1)), Theory)
True
"""
from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

__all__ = ["Theory", "Solver", "Solution", "Iteration", "GeneralizationError"]


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

    order_parameters: dict
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
