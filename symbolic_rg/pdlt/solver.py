r"""The compiled PDLT recursions of one activation (:class:`PDLTSolver`, from :meth:`PDLTTheory.compile
<symbolic_rg.pdlt.PDLTTheory.compile>`): kernels, NTKs and the leading 1/width corrections of a network at
initialization on given inputs, at one parameter point or over a grid of depths and :math:`C_W`."""
from __future__ import annotations

import numpy as np

from .. import checks, parallel
from ..activations import criticality
from ..errors import ParameterError
from ..protocol import SolutionSweep, SolutionTable
from ..two_point import STEP
from .recursions import GaussianAverages, finite_width, kernel_recursion

__all__ = ["PDLTSolver", "PDLTSolution", "PDLTSweep"]


class PDLTSolver:
    r"""float64 recursions of :class:`~symbolic_rg.pdlt.PDLTTheory` over many inputs: :func:`kernel_recursion`
    and :func:`finite_width` with one shared :class:`GaussianAverages` (compiled pair averages; ``step`` of their
    trapezoidal rule)."""

    def __init__(self, theory, step=STEP):
        self.theory, self.step = theory, step
        self.averages = GaussianAverages(theory.spec, step=step)

    def critical_point(self):
        """The critical initialization :math:`(C_b, C_W, K^*)` and universality class
        (:func:`~symbolic_rg.activations.criticality`), which solves the theory's ``saddle_point_equations``."""
        return criticality(self.theory.spec)

    def solve(self, X, depth, C_W, C_b=0.0, lambda_b=1.0, lambda_W=1.0, widths=None):
        r"""Kernels and NTKs of layers 1..``depth`` on the rows of ``X`` (:func:`kernel_recursion`), and with
        ``widths`` (one hidden width, or :math:`n_1..n_{L-1}`) the vertex and 1/width kernel correction
        (:func:`finite_width`); a :class:`PDLTSolution`."""
        return PDLTSolution(self, *self._recursions(X, depth, C_W, C_b, lambda_b, lambda_W, widths))

    def _recursions(self, X, depth, C_W, C_b, lambda_b, lambda_W, widths):
        """(parameters, :class:`KernelRecursion`, :class:`FiniteWidth` or None) at one point."""
        spec, av = self.theory.spec, self.averages
        recursion = kernel_recursion(spec, X, depth, C_W, C_b, lambda_b, lambda_W, averages=av)
        finite = None if widths is None else finite_width(spec, X, depth, widths, C_W, C_b, averages=av)
        parameters = {"depth": int(depth), "C_W": float(C_W), "C_b": float(C_b), "lambda_b": float(lambda_b),
                      "lambda_W": float(lambda_W)}
        return parameters, recursion, finite

    def sweep(self, X, depths, C_W, C_b=0.0, lambda_b=1.0, lambda_W=1.0, widths=None, chunks=None, executor=None,
              progress=None):
        r""":meth:`solve` at every point of the grid ``depths`` × ``C_W`` (each one value or a sequence; depth
        varies slowest); a :class:`PDLTSweep`.  The points are independent: with an ``executor`` (a
        :class:`concurrent.futures.Executor` or a dask ``Client``) they are computed in ``chunks`` tasks (default
        :func:`~symbolic_rg.parallel.default_chunks`), with the same numbers; ``progress``: a bar; a failed task
        keeps the finished points (the error's ``partial``)."""
        depths = list(depths) if np.ndim(depths) else [depths]
        C_Ws = list(C_W) if np.ndim(C_W) else [C_W]
        items = [(X, L, c, C_b, lambda_b, lambda_W, widths) for L in depths for c in C_Ws]
        solutions = lambda parts: [PDLTSolution(self, *p) for p in parts]
        assemble = lambda rows, parts: PDLTSweep(solutions(parts))
        parts = parallel.each(self._recursions, items, chunks, executor, progress, "PDLT recursions", assemble)
        return PDLTSweep(solutions(parts), (len(depths), len(C_Ws)))

    def __reduce__(self):
        """Pickles as its theory and quadrature step (:func:`~symbolic_rg.parallel.solver_of`)."""
        return parallel.solver_of, (self.theory, {"step": self.step})


NAMES = ("K", "Theta", "V", "K1")         # the order parameters' names in tables and JSON


class PDLTSolution(SolutionTable):
    r"""The recursions at one parameter point.

    ``kernels`` and ``ntk`` (L × P × P) per layer; with widths also ``vertex`` (L × P × P × P × P),
    ``correction`` (:math:`K^{\{1\}}`, L × P × P) and ``widths`` (:math:`n_0..n_{L-1}`), else None.
    ``order_parameters`` is the last layer's, in the theory's order: ``K`` and ``Theta``, then with widths ``V``
    and ``K1`` (named in :meth:`as_dict`).  ``converged`` is True: the recursions are explicit, nothing is iterated.  ``residual`` is the
    stated quadrature error of the last kernel (:attr:`KernelRecursion.quadrature_error`; 0 for closed forms);
    the finite-width tensors state none.
    """

    def __init__(self, solver, parameters, recursion, finite=None):
        self.solver, self.parameters, self.recursion, self.finite = solver, parameters, recursion, finite
        self.kernels, self.ntk = recursion.kernels, recursion.ntk
        self.vertex, self.correction, self.widths = (None, None, None) if finite is None else \
            (finite.vertex, finite.correction, finite.widths)
        self.order_parameters = (self.kernels[-1], self.ntk[-1]) + (
            () if finite is None else (self.vertex[-1], self.correction[-1]))
        self.converged = True
        self.residual = float(recursion.quadrature_error)

    def _finite(self, what):
        if self.finite is None:
            raise ParameterError("%s needs the widths: solve(..., widths=n)" % what)
        return self.finite

    def mean_kernel(self, layer):
        r""":math:`K^{(l)} + K^{\{1\}(l)}/n_{l-1}` (of :func:`finite_width`), the mean kernel of a finite network."""
        return self._finite("mean_kernel").mean_kernel(checks.integer("layer", layer, 1, len(self.kernels)))

    def connected(self, layer):
        r""":math:`V^{(l)}/n_{l-1}`, the connected four-point function of two neurons of layer ``layer``."""
        return self._finite("connected").connected(checks.integer("layer", layer, 1, len(self.kernels)))

    def rows(self):
        """One row: the parameters, the last layer's K, Theta (and with widths V, K1) as their mean over the
        inputs' diagonal entries (K(x, x), V_(xx)(xx)), residual (the quadrature error), converged."""
        diagonal = lambda a: float(np.mean(np.einsum("%s->%s" % ("i" * a.ndim, "i"), a)))
        return [{**self.parameters, **{n: diagonal(a) for n, a in zip(NAMES, self.order_parameters)},
                 "residual": self.residual, "converged": self.converged}]

    def as_dict(self):
        """JSON-ready: the parameters, per-layer ``kernel`` and ``ntk`` (with widths ``widths``, ``vertex``,
        ``correction``, ``mean_kernel``), ``order_parameters``, ``converged``, ``residual`` and which pair averages
        are ``closed_forms``."""
        spec = self.solver.theory.spec
        out = {"activation": spec if isinstance(spec, str) else str(self.solver.theory.sigma), **self.parameters,
               "P": int(self.kernels.shape[1]), "converged": self.converged, "residual": self.residual,
               "quadrature_error": self.residual,
               "closed_forms": {k: v is not None for k, v in self.solver.averages.closed_forms.items()},
               "order_parameters": {k: v.tolist() for k, v in zip(NAMES, self.order_parameters)},
               "kernel": self.kernels.tolist(), "ntk": self.ntk.tolist()}
        if self.finite is not None:
            out.update(widths=[int(n) for n in self.widths[1:]], vertex=self.vertex.tolist(),
                       correction=self.correction.tolist(),
                       mean_kernel=[self.mean_kernel(l).tolist() for l in range(1, len(self.kernels) + 1)])
        return out


class PDLTSweep(SolutionSweep):
    """:class:`PDLTSolution` s over a grid (:meth:`PDLTSolver.sweep`): ``sweep[i]`` the i-th point (depth
    slowest), ``shape`` (depths, C_W values)."""

    parameter_names = ("depth", "C_W", "C_b", "lambda_b", "lambda_W")

    def __init__(self, solutions, shape=None):
        super().__init__(solutions, shape)
        self.quantities = NAMES[:len(self.solutions[0].order_parameters)] if self.solutions else ()

    @property
    def parameters(self):
        return [s.parameters for s in self.solutions]
