"""The package's layout: one family per subpackage over shared stages, no import cycle, no lazy import, no private
name crossing a module boundary (in the package, the tests, numeric/ and derivations/), one protocol."""
import ast
import importlib
import importlib.util
import json
import pathlib

import numpy as np
import pytest
import sympy as sp

import symbolic_rg as srg
from symbolic_rg import cache, protocol

ROOT = pathlib.Path(srg.__file__).parent
REPO = ROOT.parent
FAMILIES = ("kernel", "gated", "conv", "attention", "replica", "pdlt", "simulate")


def _modules():
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = list(f.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(name, path):
    """``(module imported, line, at top level)`` for every import of a package module in ``path`` (``from pkg import
    mod`` resolves to the module ``pkg.mod`` when there is one, else to the package ``pkg``)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("symbolic_rg")):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            out += [(target + "." + a.name if target + "." + a.name in MODULES else target, node.lineno, id(node) in top)
                    for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top) for a in node.names if a.name.startswith("symbolic_rg")]
    return out


MODULES = _modules()


def test_no_lazy_import_of_the_package():
    lazy = ["%s:%d imports %s inside a function" % (name, line, target)
            for name, path in MODULES.items() for target, line, top in _imports(name, path) if not top]
    assert not lazy


def _import_graph():
    """Module-level import edges as Python executes them: importing ``a.b.c`` also runs the ``__init__`` of the
    packages ``a.b`` and ``a`` first, except those the importer is itself inside (already being imported)."""
    graph = {}
    for name, path in MODULES.items():
        own = {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)} | {name}
        edges = set()
        for target, _, top in _imports(name, path):
            if not top or target not in MODULES:
                continue
            parts = target.split(".")
            edges |= {p for p in (".".join(parts[:k]) for k in range(1, len(parts) + 1)) if p not in own}
        graph[name] = edges
    return graph


def _cycle(graph):
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return trail + [node, nxt]
            if nxt not in state:
                found = visit(nxt, trail + [node])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_import_cycle():
    """Module-level imports between the package's modules, package ``__init__`` files included, form a DAG."""
    assert _cycle(_import_graph()) is None


def test_the_cycle_check_can_fail():
    """A cycle through a package ``__init__`` (codegen -> kernel/__init__ -> codegen) is found."""
    graph = _import_graph()
    graph["symbolic_rg.kernel.codegen"] = graph["symbolic_rg.kernel.codegen"] | {"symbolic_rg.kernel"}
    assert _cycle(graph) is not None


def _private_crossings(path, own_modules=()):
    """Private names imported from another module, or read as attributes of an imported module."""
    tree = ast.parse(path.read_text())
    imported_modules = set()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("symbolic_rg")):
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    out.append("%s:%d imports %s" % (path, node.lineno, a.name))
                imported_modules.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            imported_modules.update(a.asname or a.name.split(".")[0] for a in node.names
                                    if a.name.startswith("symbolic_rg"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in imported_modules and all(
                    isinstance(n, (ast.Attribute, ast.Name, ast.expr_context)) for n in ast.walk(node.value)):
                out.append("%s:%d reads %s" % (path, node.lineno, ast.unparse(node)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                and str(node.args[1].value).startswith("_") and not str(node.args[1].value).startswith("__"):
            out.append("%s:%d reads %s" % (path, node.lineno, ast.unparse(node)))
    return out


@pytest.mark.parametrize("where", ["symbolic_rg", "tests", "numeric", "derivations"])
def test_no_private_name_crosses_a_module_boundary(where):
    files = sorted((REPO / where).rglob("*.py"))
    assert files
    assert [c for f in files for c in _private_crossings(f)] == []


def test_the_private_name_check_can_fail(tmp_path):
    f = tmp_path / "probe.py"
    f.write_text("import symbolic_rg as srg\nfrom symbolic_rg.replica import monte_carlo\n"
                 "srg.replica.monte_carlo._x\nmonte_carlo._y\ngetattr(srg, '_z')\n"
                 "from symbolic_rg.kernel.solver import _w\n")
    assert len(_private_crossings(f)) == 4


@pytest.mark.parametrize("where", ["numeric", "derivations", "tests"])
def test_the_scripts_imports_resolve(where):
    """Every ``from symbolic_rg... import name`` in the scripts names something that exists."""
    missing = []
    for f in sorted((REPO / where).rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("symbolic_rg"):
                module = importlib.import_module(node.module)
                missing += ["%s:%d %s.%s" % (f.name, node.lineno, node.module, a.name) for a in node.names
                            if not hasattr(module, a.name)
                            and importlib.util.find_spec(node.module + "." + a.name) is None]
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("symbolic_rg"):
                        importlib.import_module(a.name)
    assert missing == []


def test_one_folder_per_family_with_a_three_line_docstring():
    for family in FAMILIES:
        init = ROOT / family / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len([line for line in doc.splitlines() if line.strip()]) <= 3, family


GENERIC_CHECKS = {"_check_array", "_check_positive", "_check_nonnegative", "_check_count", "_widths_array",
                  "_sigma2_array", "_temperature_array", "_widths", "_sigma2"}


def test_argument_checks_live_in_one_module():
    """The generic checks (arrays, counts, positivity, temperatures, widths, prior variances, precision) are written
    once, in :mod:`symbolic_rg.checks`, with one wording: ``NAME must be RANGE, got VALUE`` (the command line parses
    its options with argparse types of its own, worded by option)."""
    own = [(name, n.name) for name, path in MODULES.items() if name not in ("symbolic_rg.checks", "symbolic_rg.cli")
           for n in ast.walk(ast.parse(path.read_text()))
           if isinstance(n, ast.FunctionDef) and n.name in GENERIC_CHECKS
           and not any("checks." in ast.unparse(c) for c in ast.walk(n) if isinstance(c, ast.Call))]
    assert own == []
    with pytest.raises(srg.ParameterError, match=r"^widths: N_2 must be an integer >= 1, got -3.0$"):
        srg.checks.widths(2, [4, -3])
    with pytest.raises(srg.ParameterError, match=r"^precision \(decimal digits\) must be an integer >= 16, got 15$"):
        srg.derive(srg.deep_linear(1)).compile(precision=15)


def test_the_cache_hashes_every_module_of_the_package():
    files = {f.relative_to(ROOT).as_posix() for f in cache.source_files()}
    assert {"replica/solver.py", "kernel/codegen.py", "printers.py", "gated/theory.py"} <= files
    assert len(files) == len(MODULES)


THEORIES = {
    "kernel": lambda: srg.derive(srg.deep_linear(1)),
    "gated": lambda: srg.derive(srg.ggdln(1, gates=2)),
    "conv": lambda: srg.derive(srg.cnn((6,), 3, 3)),
    "attention": lambda: srg.derive(srg.attention_network(3, 2, 1, 2)),
    "replica": lambda: srg.derive(srg.deep_perceptron(1, "random")),
    "sk": lambda: srg.replica.sk(0),
    "pdlt": lambda: srg.PDLTTheory("relu"),
}


@pytest.mark.parametrize("family", sorted(THEORIES))
def test_every_theory_follows_the_protocol(family):
    theory = THEORIES[family]()
    assert isinstance(theory, protocol.Theory)
    rows = theory.latex_equations()
    assert rows and all(isinstance(name, str) and isinstance(eq, sp.Eq) for name, eq in rows)
    if family != "pdlt":     # PDLT's stationarity conditions are the flow's fixed point and criticality, in (K*, C)
        assert len(theory.saddle_point_equations) == len(theory.order_parameters)
    assert theory.latex().strip() and "\\documentclass" in theory.latex(document=True)
    assert isinstance(theory.compile(), protocol.Solver)


def test_solutions_follow_the_protocol():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 5)), rng.standard_normal(12)
    solutions = [srg.derive(srg.deep_linear(2)).compile().solve(X, y, width=20, T=0.2),
                 srg.derive(srg.ggdln(1, gates=2)).compile().solve(X, y, [30], T=0.2),
                 srg.derive(srg.deep_perceptron(1, "random")).compile().solve(0.5)]
    for sol in solutions:
        assert isinstance(sol, protocol.Solution)
        assert sol.converged and sol.residual < 1e-6
        out = sol.as_dict()
        assert isinstance(out, dict) and out["converged"] is True
    replica = srg.derive(srg.deep_perceptron(1, "random"))
    sweeps = [srg.derive(srg.deep_linear(2)).compile().sweep(X, y, width=20, T=[0.1, 0.2]),
              srg.derive(srg.ggdln(1, gates=2)).compile().sweep(X, y, [[30], [40]], T=0.2),
              replica.compile().sweep([0.5, 1.0])]
    for sweep in sweeps:
        assert isinstance(sweep, protocol.Solution) and len(sweep.order_parameters) == 2
        assert np.all(sweep.converged) and np.all(np.asarray(sweep.residual) < 1e-6)
        json.dumps(sweep.as_dict())
    refined = replica.compile(precision=20).solve(0.5)
    assert isinstance(refined, protocol.Solution) and refined.converged and refined.residual < 1e-15
    assert abs(float(refined.order_parameters[0]) - float(solutions[2].order_parameters[0])) < 1e-8
    json.dumps(refined.as_dict())


def test_every_name_the_readme_uses_resolves():
    """The public API the README shows keeps working: its imports, every ``srg.a.b`` chain, every module and file
    path it names."""
    import re
    text = (REPO / "README.md").read_text()
    missing = []
    for module, names in re.findall(r"^\s*from (symbolic_rg[\w.]*) import ([\w, ]+)$", text, re.M):
        m = importlib.import_module(module)
        missing += ["%s.%s" % (module, n.strip()) for n in names.split(",") if not hasattr(m, n.strip())]
    for chain in sorted(set(re.findall(r"\bsrg((?:\.[A-Za-z_]\w*)+)", text))):
        obj = srg
        for part in chain.strip(".").split("."):
            if not hasattr(obj, part):
                missing.append("srg" + chain)
                break
            obj = getattr(obj, part)
    for module in sorted(set(re.findall(r"`(symbolic_rg(?:\.\w+)+)`", text))):
        try:
            importlib.import_module(module)
        except ImportError:
            obj = importlib.import_module(module.rsplit(".", 1)[0])
            if not hasattr(obj, module.rsplit(".", 1)[1]):
                missing.append(module)
    missing += [p for p in sorted(set(re.findall(r"`(symbolic_rg/[\w/]+\.py)`", text))) if not (REPO / p).exists()]
    assert missing == []
