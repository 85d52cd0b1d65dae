"""On-disk cache of derived theories and generated solver modules, keyed by content hashes."""
from __future__ import annotations

import hashlib
import io
import os
import pathlib
import pickle

import sympy as sp
from sympy.concrete.expr_with_limits import ExprWithLimits

from .parallel import bar

_PACKAGE = pathlib.Path(__file__).parent


def cache_dir() -> pathlib.Path:
    """$SYMBOLIC_RG_CACHE, or ~/.cache/symbolic_rg; created on first use."""
    path = pathlib.Path(os.environ.get("SYMBOLIC_RG_CACHE", pathlib.Path.home() / ".cache" / "symbolic_rg"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_files():
    """Every module of the package, subpackages included: what the cache keys hash."""
    return sorted(_PACKAGE.rglob("*.py"))


def _source_hash():
    """Hash of every module of the package, by relative path and content."""
    h = hashlib.sha256()
    for f in source_files():
        h.update(f.relative_to(_PACKAGE).as_posix().encode() + f.read_bytes())
    return h.hexdigest()


_ENGINE = _source_hash()


def key(*parts) -> str:
    """Hash of ``parts`` and of the engine's own source (an engine change invalidates every entry)."""
    return hashlib.sha256((_ENGINE + "|" + "|".join(map(str, parts))).encode()).hexdigest()[:20]


def atomic_write(path: pathlib.Path, data: bytes):
    tmp = path.with_name(path.name + ".tmp%d" % os.getpid())
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _as_stored(kind, *args):
    """An integral, sum or product rebuilt from its stored arguments as they are (its constructor would re-process
    the limits and, unevaluated, wrap the integrand in a product with the orientation 1)."""
    obj = sp.Expr.__new__(kind)
    obj._args = args
    obj.is_commutative = args[0].is_commutative          # as ExprWithLimits.__new__ sets it
    return obj


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, ExprWithLimits):
            return _as_stored, (type(obj),) + obj.args
        return NotImplemented


def dump_pickle(obj) -> bytes:
    """``obj`` pickled for :func:`load_pickle` (integrals, sums and products stored by their arguments)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def load_pickle(path: pathlib.Path):
    """The object stored by :func:`dump_pickle` at ``path`` (None where it cannot be read).  SymPy objects are rebuilt
    unevaluated: they were stored in canonical form, so this gives the same expressions, 10-25x faster than
    re-running SymPy's automatic evaluation and assumption queries on every node."""
    try:
        with open(path, "rb") as f, sp.evaluate(False):
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None


def stored_theory(kind, network, properties):
    """The derived theory ``kind(network)`` from the disk cache, or derived now with ``properties``
    evaluated (cached properties) and stored; a first derivation shows a progress bar over those steps on a
    terminal (:func:`symbolic_rg.parallel.bar`).  What is stored is the theory's state (its ``__dict__``): a theory
    itself pickles as the call that derives it, which reads this entry (see :mod:`symbolic_rg.parallel`)."""
    path = cache_dir() / ("%s_%s.pkl" % (kind.__name__, key(repr(network))))
    state = load_pickle(path)
    if isinstance(state, dict):
        theory = kind.__new__(kind)
        theory.__dict__.update(state)
    else:
        with bar(1 + len(properties), "deriving %r" % (network,), unit="step") as shown:
            theory = kind(network)
            shown.update()
            for name in properties:
                shown.set_postfix_str(name)
                getattr(theory, name)
                shown.update()
        atomic_write(path, dump_pickle(theory.__dict__))
    return theory
