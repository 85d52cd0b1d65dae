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
:class:`GeneralizationError`; and the notebook display of results: every solution has ``rows()`` (one dict per
stationary point it keeps: its parameters, order parameters named as in the theory, residual, converged) and
``_repr_html_``; every sweep derives from :class:`SweepTable` (``rows()``, ``to_pandas()``, ``plot()``,
``_repr_html_``).  The protocols are ``typing.Protocol`` classes, checkable with ``isinstance``:

>>> import symbolic_rg as srg
>>> isinstance(srg.derive(srg.deep_linear(1)), Theory)
True
"""
from __future__ import annotations

import html
import numbers
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

__all__ = ["Theory", "Solver", "Solution", "SolutionSweep", "SweepTable", "Iteration", "GeneralizationError",
           "SolutionTable", "html_table", "caption", "SHOWN_ROWS"]

SHOWN_ROWS = 20          # rows of a result's HTML table (the rest are counted, not shown)


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


def _cell(value):
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return "%.6g" % float(value)
    return html.escape(str(value))


def html_table(rows, caption=None):
    """A small HTML table of ``rows`` (dicts; the columns in order of first appearance), at most
    :data:`SHOWN_ROWS` of them, with an optional ``caption`` (the selection rule)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join("<th>%s</th>" % html.escape(c) for c in columns)
    body = ["<tr>%s</tr>" % "".join("<td>%s</td>" % _cell(r.get(c, "")) for c in columns) for r in rows[:SHOWN_ROWS]]
    if len(rows) > SHOWN_ROWS:
        body.append('<tr><td colspan="%d">... %d more rows (to_pandas() has them all)</td></tr>'
                    % (len(columns), len(rows) - SHOWN_ROWS))
    cap = "<caption>%s</caption>" % html.escape(caption) if caption else ""
    return "<table>%s<thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (cap, head, "".join(body))


def caption(rule):
    """The caption of a result's table: its selection rule (None: no caption)."""
    return rule and "selection rule: " + rule


class SolutionTable:
    """Notebook display of a solution: the table of its ``rows()``, captioned with its ``rule`` (None: none)."""

    rule = None

    def _repr_html_(self):
        return html_table(self.rows(), caption(self.rule))


def _varies(values):
    return len(set(values)) > 1


class SweepTable:
    """Notebook display and tidy export of a sweep: :meth:`rows` (one dict per point, and per stationary point
    where the family keeps several: then with ``branch`` (0 the selected one) and ``selected`` columns), the sweep's
    ``parameter_names`` (the columns that can be swept), ``quantities`` (what :meth:`plot` shows by default) and ``rule``
    (how a stationary point is selected, or None)."""

    parameter_names = ()
    quantities = ()
    rule = None

    def rows(self):
        raise NotImplementedError

    def _repr_html_(self):
        return html_table(self.rows(), caption(self.rule))

    def to_pandas(self):
        """The rows as a :class:`pandas.DataFrame` (tidy: one row per point and branch); the rule in ``attrs``."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install 'symbolic-rg[notebook]'") from None
        frame = pandas.DataFrame(self.rows())
        frame.attrs["rule"] = self.rule
        return frame

    def swept(self):
        """The parameter columns that change along the sweep (in the order of ``parameter_names``)."""
        rows = self.rows()
        return [p for p in self.parameter_names if _varies([r.get(p) for r in rows])]

    def plot(self, y=None, x=None, ax=None, branches=True):
        """Plot ``y`` (a column or a list of them; default ``quantities``) of the selected points against ``x``
        (default: the first swept parameter, on a log axis where it spans more than two decades), one line per
        value of the other swept parameters, and the other stationary points as dots (``branches``).  Returns the
        matplotlib Axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("plot() needs matplotlib: pip install 'symbolic-rg[plot]'") from None
        rows = self.rows()
        swept = self.swept()
        x = x or (swept[0] if swept else "point")
        ys = [y] if isinstance(y, str) else list(y or self.quantities)
        if ax is None:
            _, ax = plt.subplots()
        chosen = [r for r in rows if r.get("selected", True)]
        xs_all = [r[x] for r in chosen]
        groups = {}
        for r in chosen:
            key = tuple((p, r[p]) for p in swept if p != x and not _follows(rows, x, p))
            groups.setdefault(key, []).append(r)
        for column in ys:
            for key, members in groups.items():
                label = column + ("" if not key else " (%s)" % ", ".join("%s=%g" % kv for kv in key))
                line, = ax.plot([r[x] for r in members], [r[column] for r in members], "o-", ms=3, label=label)
                if branches and "selected" in rows[0]:
                    others = [r for r in rows if not r["selected"] and all(r[p] == v for p, v in key)]
                    ax.plot([r[x] for r in others], [r[column] for r in others], ".", color=line.get_color(), ms=4)
        positive = [v for v in xs_all if isinstance(v, numbers.Real) and v > 0]
        if len(positive) == len(xs_all) and positive and max(positive) > 100 * min(positive):
            ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(ys[0] if len(ys) == 1 else "order parameters")
        if len(ys) * len(groups) > 1:
            ax.legend()
        return ax


def _follows(rows, x, column):
    """``column`` is a function of ``x`` over the rows (e.g. every width of a sweep over one width for all layers)."""
    seen = {}
    return all(seen.setdefault(r[x], r[column]) == r[column] for r in rows)


class SolutionSweep(SweepTable):
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

    def rows(self):
        """Every solution's ``rows()``, each led by its flat ``point`` index."""
        return [{"point": i, **r} for i, s in enumerate(self.solutions) for r in s.rows()]
