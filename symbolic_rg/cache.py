"""On-disk cache of derived theories and generated solver modules, keyed by content hashes."""
from __future__ import annotations

import hashlib
import os
import pathlib
import pickle

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


def load_pickle(path: pathlib.Path):
    try:
        with open(path, "rb") as f:
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
        atomic_write(path, pickle.dumps(theory.__dict__))
    return theory
