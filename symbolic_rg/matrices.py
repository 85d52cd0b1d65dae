r"""Matrix expressions the gated theories need beyond SymPy's, and the matrix-calculus rules of their terms.

* :class:`FaceSplit` — the row-wise Kronecker (face-splitting) product :math:`G_a\bullet G_b`,
  :math:`(G_a\bullet G_b)_{\mu,(i,j)} = (G_a)_{\mu i}(G_b)_{\mu j}`: products of gates of several layers.
* :class:`PartialTrace` — :math:`\operatorname{Tr}_M X`, the trace over the inner factor of a
  Kronecker-structured index :math:`(\alpha, m)`, :math:`m = 1..M`.
* :class:`LocalKernel` and :class:`PatchTrace` — the linear map :math:`A\mapsto\sum_{ij}A_{ij}K_{ij}` from
  matrices over position pairs to kernels (convolutional layers) and its adjoint
  :math:`\Gamma\mapsto[\mathrm{tr}(\Gamma K_{ij})]_{ij}`, so that :math:`\partial_A f(\sum_{ij}A_{ij}K_{ij}) =
  [\mathrm{tr}(\partial_Kf\,K_{ij})]_{ij}`.

The rules used to differentiate the effective action (each is the standard differential,
:math:`d\,\mathrm{tr}(A^{-1}V) = \mathrm{tr}(A^{-1}dV) - \mathrm{tr}(A^{-1}dA\,A^{-1}V)`,
:math:`d\log|V| = \mathrm{tr}(V^{-1}dV)`, :math:`d(cV\otimes I_M) = c\,dV\otimes I_M`, so that
:math:`\partial_V f(cV\otimes I_M) = c\,\mathrm{Tr}_M\,\partial_A f`) are in :mod:`symbolic_rg.gated`.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from .printers import MatrixNumPyPrinter

__all__ = ["FaceSplit", "PartialTrace", "LocalKernel", "PatchTrace", "face_split", "partial_trace", "NUMERIC_HELPERS",
           "lambdify"]


class FaceSplit(MatrixExpr):
    r"""Row-wise Kronecker product :math:`G_1\bullet G_2\bullet\cdots` of matrices with equal row counts.

    Identity used for the infinite-width kernel:
    :math:`(G_a\bullet G_b)(G_a\bullet G_b)^\top = (G_aG_a^\top)\circ(G_bG_b^\top)`.
    """

    def __new__(cls, *args):
        args = [sp.sympify(a) for a in args]
        if len(args) == 1:
            return args[0]
        return super().__new__(cls, *args)

    @property
    def shape(self):
        return (self.args[0].shape[0], sp.Mul(*[a.shape[1] for a in self.args]))

    def _latex(self, printer):
        return r" \bullet ".join(printer._print(a) for a in self.args)

    def _numpycode(self, printer):
        return "face_split(%s)" % ", ".join(printer._print(a) for a in self.args)


class PartialTrace(MatrixExpr):
    r""":math:`(\mathrm{Tr}_M X)_{\alpha\beta} = \sum_{m=1}^M X_{(\alpha,m),(\beta,m)}`."""

    def __new__(cls, arg, m):
        m = sp.sympify(m)
        if m == 1:
            return arg
        if isinstance(arg, sp.MatAdd):                                   # linear
            return sp.MatAdd(*[cls(a, m) for a in arg.args]).doit(deep=False)
        coeff, rest = arg.as_coeff_mmul() if isinstance(arg, sp.MatMul) else (1, arg)
        if coeff != 1:
            return coeff * cls(sp.MatMul(*rest.args) if isinstance(rest, sp.MatMul) else rest, m)
        if isinstance(arg, sp.KroneckerProduct) and arg.args[-1] == sp.Identity(m):   # Tr_M(X (x) I_M) = M X
            return m * sp.KroneckerProduct(*arg.args[:-1]).doit() if len(arg.args) > 2 else m * arg.args[0]
        return super().__new__(cls, arg, m)

    @property
    def shape(self):
        return (self.args[0].shape[0] / self.args[1], self.args[0].shape[1] / self.args[1])

    def _latex(self, printer):
        return r"\operatorname{Tr}_{%s}\!\left[%s\right]" % (printer._print(self.args[1]), printer._print(self.args[0]))

    def _numpycode(self, printer):
        return "partial_trace(%s, %s)" % (printer._print(self.args[0]), printer._print(self.args[1]))


class LocalKernel(MatrixExpr):
    r""":math:`\sum_{ij}A_{ij}K_{ij}` for the position-pair kernels named ``kernel`` (a Symbol: ``K`` over the
    training inputs, :math:`P\times P`; ``k`` between a test input and them, :math:`1\times P`; ``k_xx`` of the test
    input with itself, :math:`1\times1`); ``rows``, ``cols`` its shape."""

    def __new__(cls, A, kernel, rows, cols):
        return super().__new__(cls, sp.sympify(A), sp.Symbol(str(kernel)), sp.sympify(rows), sp.sympify(cols))

    @property
    def shape(self):
        return (self.args[2], self.args[3])

    def _latex(self, printer):
        A, name = self.args[0], printer._print(self.args[1])
        factors = A.args if isinstance(A, sp.MatMul) else (A,)
        matrices = [f for f in factors if f.is_Matrix]
        if len(matrices) == 1 and isinstance(matrices[0], sp.Identity):          # c I: c sum_i K_ii
            c = sp.Mul(*[f for f in factors if not f.is_Matrix])
            return r"%s\sum_{i}{%s}_{ii}" % ("" if c == 1 else printer._print(c), name)
        return r"\sum_{ij}\left(%s\right)_{ij}{%s}_{ij}" % (printer._print(A), name)


class PatchTrace(MatrixExpr):
    r""":math:`[\mathrm{tr}(\Gamma K_{ij})]_{ij}`, an :math:`n\times n` matrix (the adjoint of :class:`LocalKernel`)."""

    def __new__(cls, gamma, n):
        return super().__new__(cls, sp.sympify(gamma), sp.sympify(n))

    @property
    def shape(self):
        return (self.args[1], self.args[1])

    def _latex(self, printer):
        return r"\Big[\mathrm{tr}\big(\left(%s\right)K_{ij}\big)\Big]_{ij}" % printer._print(self.args[0])


def face_split(*arrays):
    """NumPy face-splitting product of 2-D arrays with equal row counts (last factor fastest)."""
    out = np.asarray(arrays[0], dtype=float)
    for a in arrays[1:]:
        out = (out[:, :, None] * np.asarray(a, dtype=float)[:, None, :]).reshape(out.shape[0], -1)
    return out


def partial_trace(X, m):
    """NumPy partial trace over the inner Kronecker factor of dimension ``m``."""
    m = int(m)
    d = X.shape[0] // m
    return X.reshape(d, m, d, m).trace(axis1=1, axis2=3)


NUMERIC_HELPERS = {"face_split": face_split, "partial_trace": partial_trace}


def lambdify(args, expr):
    """``sympy.lambdify`` for matrix expressions (NumPy, with the helpers above)."""
    return sp.lambdify(args, expr, modules=[NUMERIC_HELPERS, "numpy"], printer=MatrixNumPyPrinter)
