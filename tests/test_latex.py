"""LaTeX export: parsed back by SymPy, compiled by pdflatex where present, derivation file up to date."""
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import sympy as sp
from sympy.parsing.latex import parse_latex

from symbolic_rg import latex as srg_latex

ROOT = pathlib.Path(__file__).resolve().parents[1]


def exported_equations(document):
    """The equations of the document's align block, continuation lines joined, tags and '&' removed."""
    block = document.split(r"\begin{align}")[1].split(r"\end{align}")[0]
    equations, current = [], ""
    for line in block.strip().split("\\\\\n"):
        line = re.sub(r"\\tag\*\{[^}]*\}", "", line).replace(r"\nonumber", "").strip()
        if line.startswith(r"&\quad"):
            current += " " + line[len(r"&\quad"):]
        else:
            if current:
                equations.append(current)
            current = line
    equations.append(current)
    return [e.replace("&=", "=").strip().rstrip("\\").strip() for e in equations]


def as_parsed_symbols(expr):
    """Replace each atom (symbol, indexed data invariant, mu(x), Sigma(x)) by what the parser reads for
    that atom's own LaTeX, all at once."""
    atoms = expr.atoms(sp.Indexed) | expr.atoms(sp.Symbol) | {
        f for f in expr.atoms(sp.Function) if f.func in (sp.Function("mu"), sp.Function("Sigma"))}
    return expr.xreplace({a: parse_latex(srg_latex.latex(a)) for a in atoms})


@pytest.mark.parametrize("L", [1, 2, 3])
def test_latex_round_trip(theories, L):
    th = theories[L]
    texts = exported_equations(th.latex(document=True))
    rows = th.latex_equations()
    assert len(texts) == len(rows) == L + 3 + L * (L + 1) // 2
    for text, (name, eq) in zip(texts, rows):
        parsed = parse_latex(text)
        mine = as_parsed_symbols(eq)
        assert isinstance(parsed, sp.Eq), name
        assert sp.simplify(parsed.lhs - mine.lhs) == 0, name
        assert sp.simplify(parsed.rhs - mine.rhs) == 0, name


def test_latex_block_and_repr(theories):
    text = theories[2].latex()
    assert text.startswith(r"\begin{align}") and text.count(r"\tag*") == 8
    assert theories[2]._repr_latex_().startswith("$$\\begin{aligned}")


def test_derivation_file_is_regenerated_identically(tmp_path):
    out = tmp_path / "deep_linear.tex"
    subprocess.run([sys.executable, str(ROOT / "derivations" / "deep_linear.py"), "--out", str(out)], check=True)
    assert out.read_text() == (ROOT / "derivations" / "deep_linear.tex").read_text()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_document_compiles(tmp_path):
    tex = tmp_path / "deep_linear.tex"
    tex.write_text((ROOT / "derivations" / "deep_linear.tex").read_text())
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "deep_linear.pdf").stat().st_size > 1000
