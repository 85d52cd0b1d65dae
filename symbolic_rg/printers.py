r"""Code generation shared by every family: one printer per backend and one loader of generated modules.

A family turns its derived equations into Python source with these printers (symbols print as their names; the
special functions of :mod:`symbolic_rg.special` print as their stable twins), and :func:`load_module` writes the
source once to the cache directory, named by a hash of the package source and of what the family passes as
key, and imports it: a second process imports the same file, and Numba's ``cache=True`` reuses the machine code.

>>> import sympy as sp
>>> from symbolic_rg.special import LogH
>>> NumbaPrinter().doprint(LogH(sp.Symbol("x")) + 1)
'log_h(x) + 1'
>>> MpmathPrinter().doprint(LogH(sp.Symbol("x")))
'mp_log_h(x)'
"""
from __future__ import annotations

import importlib.util
import sys

import sympy as sp
from sympy.printing.numpy import NumPyPrinter as _SymPyNumPyPrinter
from sympy.printing.pycode import MpmathPrinter as _SymPyMpmathPrinter
from sympy.printing.pycode import PythonCodePrinter

from . import cache
from .parallel import bar

__all__ = ["NumbaPrinter", "NumPyPrinter", "MpmathPrinter", "MatrixNumPyPrinter", "PRINTERS", "assignments",
           "cse_assignments", "load_module", "NUMBA_PRELUDE"]

NUMBA_PRELUDE = ("import math", "import numba", "import numpy as np",
                 "from symbolic_rg.special import log_h, mills_ratio, log_sum_exp, mp_log_h, mp_mills")


class NumbaPrinter(PythonCodePrinter):
    """Scalar float64 code for Numba (``math`` functions; LogH, MillsRatio, LogSumExp as stable primitives)."""

    def _print_Symbol(self, expr):
        return expr.name

    def _print_LogH(self, expr):
        return "log_h(%s)" % self._print(expr.args[0])

    def _print_MillsRatio(self, expr):
        return "mills_ratio(%s)" % self._print(expr.args[0])

    def _print_LogSumExp(self, expr):
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = "log_sum_exp(%s, %s)" % (out, self._print(a))
        return out


class NumPyPrinter(_SymPyNumPyPrinter):
    """Vectorised NumPy code."""

    def _print_Symbol(self, expr):
        return expr.name


class MpmathPrinter(_SymPyMpmathPrinter):
    """Arbitrary-precision code (``mpmath``; LogH and MillsRatio as their mpmath twins)."""

    def _print_Symbol(self, expr):
        return expr.name

    def _print_LogH(self, expr):
        return "mp_log_h(%s)" % self._print(expr.args[0])

    def _print_MillsRatio(self, expr):
        return "mp_mills(%s)" % self._print(expr.args[0])

    def _print_LogSumExp(self, expr):
        return "mpmath.log(%s)" % " + ".join("mpmath.exp(%s)" % self._print(a) for a in expr.args)


class MatrixNumPyPrinter(_SymPyNumPyPrinter):
    """NumPy code for matrix expressions: ``log|V|`` as ``slogdet`` (V positive definite)."""

    def _print_Determinant(self, expr):
        return "numpy.linalg.det(%s)" % self._print(expr.arg)

    def _print_Trace(self, expr):
        return "numpy.trace(%s)" % self._print(expr.arg)

    def _print_log(self, expr):
        if isinstance(expr.args[0], sp.Determinant):
            return "numpy.linalg.slogdet(%s)[1]" % self._print(expr.args[0].arg)
        return super()._print_known_func(expr)


PRINTERS = {"numba": NumbaPrinter, "numpy": NumPyPrinter, "mpmath": MpmathPrinter}


def assignments(printer, pairs, indent="    "):
    """Source lines ``lhs = rhs`` for ``pairs`` of SymPy expressions."""
    return [indent + "%s = %s" % (printer.doprint(lhs), printer.doprint(rhs)) for lhs, rhs in pairs]


def cse_assignments(printer, outputs, target, indent="    ", prefix="t_"):
    """Source lines computing ``outputs`` into ``target[i]`` after common-subexpression elimination."""
    subs, reduced = sp.cse(outputs, symbols=sp.numbered_symbols(prefix), optimizations="basic")
    return (assignments(printer, subs, indent)
            + ["%s%s[%d] = %s" % (indent, target, i, printer.doprint(e)) for i, e in enumerate(reduced)])


def load_module(family, key, source):
    """Import the generated module ``srg_<family>_<hash>``, writing ``source()`` to the cache directory first if
    it is not there.  ``key``: what identifies the generated code besides the package source (a generator
    version and the network's repr, say); ``source``: a callable returning the module's text."""
    name = "srg_%s_%s" % (family, cache.key(*key))
    if name in sys.modules:
        return sys.modules[name]
    path = cache.cache_dir() / (name + ".py")
    if not path.exists():
        with bar(1, "generating %s code" % family, unit="module") as shown:
            cache.atomic_write(path, source().encode())
            shown.update()
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
