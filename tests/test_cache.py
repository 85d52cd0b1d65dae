"""The disk cache of derived theories: what is loaded is exactly what was derived (same SymPy trees), read without
re-running SymPy's evaluation."""
import pickle

import sympy as sp

from symbolic_rg import cache
from symbolic_rg.replica.rules import DeepPerceptron
from symbolic_rg.replica.theory import ReplicaTheory
from symbolic_rg.special import H


def _same(a, b):
    if isinstance(a, sp.Basic):
        return type(a) is type(b) and sp.srepr(a) == sp.srepr(b)
    if isinstance(a, dict):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a.values(), b.values()))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return True


def test_stored_expressions_come_back_as_derived(tmp_path):
    """Integrals, sums and products keep their integrand (an unevaluated rebuild through their constructors would
    wrap it in 1*(...)); everything else is rebuilt unevaluated from its canonical stored form."""
    x, z, k, n = sp.symbols("x z k n", positive=True)
    exprs = [sp.Integral(sp.exp(-z ** 2 / 2) * H(x * z) / sp.sqrt(2 * sp.pi), (z, -sp.oo, sp.oo)) / 2 + x,
             sp.Sum(sp.log(1 + x * sp.Indexed(sp.IndexedBase("lam"), k)) / 2, (k, 1, n)),
             sp.Product(1 - x / k, (k, 1, n)), sp.Piecewise((x, x < 1), (x ** 2, True)), sp.Rational(-3, 4) * x]
    path = tmp_path / "e.pkl"
    path.write_bytes(cache.dump_pickle(exprs))
    loaded = cache.load_pickle(path)
    assert _same(exprs, loaded)
    with sp.evaluate(False):                                   # what the cache avoids: the constructors' rewrite
        plain = pickle.loads(pickle.dumps(exprs))
    assert not _same(exprs, plain)
    assert loaded[0].is_commutative and sp.diff(loaded[1], x) == sp.diff(exprs[1], x)


def test_a_stored_theory_loads_as_the_derivation(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBOLIC_RG_CACHE", str(tmp_path))
    properties = ("layer_terms", "free_entropy", "saddle_point_equations", "weight_entropy_inverse")
    fresh = cache.stored_theory(ReplicaTheory, DeepPerceptron(2, "teacher"), properties)
    [stored] = tmp_path.glob("ReplicaTheory_*.pkl")
    again = cache.stored_theory(ReplicaTheory, DeepPerceptron(2, "teacher"), properties)
    assert again is not fresh
    for name in properties:
        assert _same(getattr(fresh, name), getattr(again, name)), name
    assert _same(fresh.free_entropy, cache.load_pickle(stored)["free_entropy"])
