"""LaTeX export in a form a person would put in a paper, and that SymPy's parser reads back."""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter


class PhysicsLatexPrinter(LatexPrinter):
    r"""SymPy's LaTeX printer with two changes: :math:`\lambda_k` instead of ``{\lambda}_{k}`` for indexed
    data invariants, and parentheses around every summand so that the sum's extent is unambiguous."""

    def _print_Indexed(self, expr):
        base = self._print(expr.base.label)
        return "%s_{%s}" % (base, ",".join(self._print(i) for i in expr.indices))

    def _print_Sum(self, expr):
        (index, lower, upper), = expr.limits
        return r"\sum_{%s=%s}^{%s} \left(%s\right)" % (
            self._print(index), self._print(lower), self._print(upper), self._print(expr.function))


def latex(expr) -> str:
    """LaTeX of a SymPy expression or equation, in the project's notation."""
    return PhysicsLatexPrinter({"ln_notation": False}).doprint(expr)


def _terms(expr, per_line, tex=latex, newline=" \\nonumber \\\\\n&\\quad "):
    r"""LaTeX of a sum split into lines of ``per_line`` terms (continuation lines start with ``&\quad``; all but the
    last line are unnumbered); ``tex`` prints each term."""
    terms = expr.as_ordered_terms() if isinstance(expr, sp.Add) else (expr,)
    parts = []
    for i, term in enumerate(terms):
        text = tex(term)
        if i and not text.startswith("-"):
            text = "+ " + text
        parts.append(text)
    lines = [" ".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]
    return newline.join(lines)


def align(rows, per_line=3) -> str:
    r"""An ``align`` environment from ``(equation, label_text)`` rows; ``=`` is the alignment point and
    long right-hand sides continue on further lines, ``per_line`` terms each."""
    lines = []
    for eq, text in rows:
        tag = r" \tag*{\small %s}" % text if text else ""
        lines.append("%s &= %s%s" % (latex(eq.lhs), _terms(eq.rhs, per_line), tag))
    return "\\begin{align}\n" + " \\\\\n".join(lines) + "\n\\end{align}"


def display(rows, tex=latex, per_line=3) -> str:
    r"""A theory's ``latex_equations()`` rows ``(name, Eq)`` as one notebook display, ``$$\begin{aligned}..$$``
    (what ``_repr_latex_`` returns: MathJax renders ``aligned``, but no ``align`` or ``\tag`` inside it); each row
    named in a text column, long right-hand sides continued ``per_line`` terms a line; ``tex`` prints the
    expressions (a family's own printer)."""
    lines = []
    for name, eq in rows:
        label = re.sub(r"[^\w\s,.()'-]", "", name).replace("_", "")
        lines.append(r"%s &= %s && \text{%s}" % (tex(eq.lhs), _terms(eq.rhs, per_line, tex, " \\\\\n&\\quad "), label))
    return "$$\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}$$"


def document(title: str, body: str) -> str:
    """A complete LaTeX document (amsmath) that compiles with pdflatex."""
    return "\n".join([
        r"\documentclass[11pt]{article}",
        r"\usepackage{amsmath,amssymb}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\allowdisplaybreaks",
        r"\title{%s}" % title,
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        body,
        r"\end{document}",
        "",
    ])
