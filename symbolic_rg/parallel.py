"""Progress bars and executors for the long operations (sweeps of every family, Monte Carlo chains and brackets).

**Progress** (tqdm, on stderr): ``progress=None`` shows a bar when stderr is a terminal, ``True`` always, ``False``
never; inside :func:`quiet` (the command line's ``--quiet`` and ``--json``) ``None`` means never.

**Executors.**  A sweep's points are cut into contiguous chunks (:func:`chunk_bounds`), each solved by one call of a
module-level function of its family (:func:`run_chunks`): here, or on ``executor``, any
:class:`concurrent.futures.Executor` or a ``dask.distributed.Client``.  What travels is small and pickles: a theory
pickles as the call that derives it (a worker derives it again, from the disk cache of :mod:`symbolic_rg.cache`), a
solver as its theory and compile options (:func:`solver_of` compiles it once per worker process, loading the
generated modules from the same cache), data as arrays.  A chunk's result does not depend on where it runs, so a
sweep with the same chunks gives the same numbers on any executor.  Where a chunk fails, the finished ones are kept
(:class:`~symbolic_rg.errors.SweepError`, or the package's own error with ``partial`` attached).
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import pickle
import sys
import threading

from tqdm import tqdm

from . import checks
from .errors import ConvergenceError, NoSolutionError, ParameterError, SweepError

__all__ = ["quiet", "bar", "executor_of", "chunk_bounds", "default_chunks", "run_chunks", "each", "solver_of",
           "local_processes", "scheduler", "map_points", "add_arguments", "from_arguments", "CHUNKS_PER_WORKER"]

CHUNKS_PER_WORKER = 4        # default chunks of a sweep on an executor, per worker thread
_quiet = []
_solvers = {}
_lock = threading.Lock()


@contextlib.contextmanager
def quiet():
    """Within: no progress bar unless one is asked for with ``progress=True``."""
    _quiet.append(True)
    try:
        yield
    finally:
        _quiet.pop()


def bar(total, desc, progress=None, unit="point"):
    """A tqdm bar over ``total`` ``unit`` s on stderr, shown as ``progress`` says (module doc)."""
    checks.flag("progress", progress)
    disable = (True if _quiet else None) if progress is None else not progress
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr, dynamic_ncols=True)


def executor_of(executor):
    """``executor`` as a :class:`concurrent.futures.Executor` (a dask ``Client``: its ``get_executor()``), or None."""
    if executor is None or isinstance(executor, concurrent.futures.Executor):
        return executor
    if callable(getattr(executor, "get_executor", None)):
        return executor.get_executor()
    return checks.instance("executor", executor, concurrent.futures.Executor,
                           "a concurrent.futures.Executor or a dask.distributed.Client")


def default_chunks(n, executor):
    """Chunks of an ``n``-point sweep on ``executor``: :data:`CHUNKS_PER_WORKER` per worker thread (a dask
    client's threads, else the CPUs here), at most ``n``."""
    nthreads = getattr(executor, "nthreads", None)
    workers = sum(nthreads().values()) if callable(nthreads) else os.cpu_count() or 1
    return max(1, min(n, CHUNKS_PER_WORKER * workers))


def chunk_bounds(n, chunks):
    """``[(lo, hi)]`` of ``chunks`` contiguous chunks of ``n`` points (``lo = n j // chunks``, as the compiled kernel
    sweep cuts them), empty ones left out."""
    chunks = checks.integer("chunks", chunks, low=1)
    return [(n * j // chunks, n * (j + 1) // chunks) for j in range(chunks) if n * j // chunks < n * (j + 1) // chunks]


def _failure(exc, done, total, partial, missing, where):
    """The error a failed sweep raises: the package's own errors (a point the solver rejects) keep their type and
    message, with ``partial`` and ``missing`` attached; anything else (a worker or the executor failing) becomes a
    :class:`SweepError`."""
    if isinstance(exc, (ParameterError, NoSolutionError, ConvergenceError)):
        exc.partial, exc.missing = partial, missing
        return exc
    return SweepError("sweep: %s failed (%s: %s); %d of %d points finished, kept in the error's .partial"
                      % (where, type(exc).__name__, exc, done, total), partial, missing)


def run_chunks(function, tasks, sizes, executor=None, progress=None, desc="sweep", assemble=None):
    """``[function(*task) for task in tasks]`` in order: here (``function(*task, tick=bar.update)``, so a chunk can
    count its points) or on ``executor`` (every task submitted at once), with a progress bar over ``sum(sizes)``
    points.  If a task fails, the others' results are kept: the error carries ``partial = assemble({index: result})``
    of the finished tasks and the ``missing`` point indices (:func:`_failure`); here the tasks after a failed one are
    not run."""
    executor = executor_of(executor)
    results, failed = {}, None
    with bar(sum(sizes), desc, progress) as shown:
        if executor is None:
            for k, task in enumerate(tasks):
                try:
                    results[k] = function(*task, tick=shown.update)
                except Exception as exc:
                    failed = (k, exc)
                    break
        else:
            pending = {}
            try:
                for k, task in enumerate(tasks):
                    pending[executor.submit(function, *task)] = k
            except Exception as exc:                  # refused (shut down, or the task does not pickle)
                failed = (len(pending), exc)
            try:
                for future in concurrent.futures.as_completed(pending):
                    k = pending[future]
                    try:
                        results[k] = future.result()
                        shown.update(sizes[k])
                    except Exception as exc:
                        if failed is None or k < failed[0]:
                            failed = (k, exc)
            except BaseException:                     # interrupted: what has not started never will
                for future in pending:
                    future.cancel()
                raise
    if failed is None:
        return [results[k] for k in range(len(tasks))]
    starts = [sum(sizes[:k]) for k in range(len(tasks))]
    missing = [i for k in range(len(tasks)) if k not in results for i in range(starts[k], starts[k] + sizes[k])]
    k, exc = failed
    where = "chunk %d of %d (points %d to %d)" % (k + 1, len(tasks), starts[k], starts[k] + sizes[k] - 1)
    error = _failure(exc, sum(sizes) - len(missing), sum(sizes), assemble(results) if assemble else None, missing,
                     where)
    if error is exc:
        raise exc
    raise error from exc


def each(compute, items, chunks=None, executor=None, progress=None, desc="sweep", assemble=None):
    """``[compute(*item) for item in items]`` for independent points (a bound method of a solver, say): here one by
    one, or in ``chunks`` tasks on ``executor`` (default :func:`default_chunks`), the same numbers either way.  A
    failure's error carries ``partial = assemble(indices, results)`` of the points that finished."""
    n = len(items)
    if executor is None:
        chunks = max(n, 1)                                 # one point a task: a failure keeps every point before it
    bounds = chunk_bounds(n, chunks or default_chunks(n, executor))

    def finished(done):
        ks = sorted(done)
        return assemble([i for k in ks for i in range(*bounds[k])], [r for k in ks for r in done[k]])
    parts = run_chunks(_each, [(compute, items[lo:hi]) for lo, hi in bounds], [hi - lo for lo, hi in bounds],
                       executor, progress, desc, finished if assemble else None)
    return [r for part in parts for r in part]


def _each(compute, items, tick=None):
    """One task of :func:`each` (here or on a worker)."""
    out = []
    for item in items:
        out.append(compute(*item))
        if tick is not None:
            tick(1)
    return out


def solver_of(theory, options):
    """``theory.compile(**options)``, once per process: what a pickled solver becomes on a worker (the theory
    pickles as the call that derives it; compiling loads the generated modules from the cache)."""
    key = pickle.dumps((theory, sorted(options.items())))
    with _lock:
        if key not in _solvers:
            _solvers[key] = theory.compile(**options)
        return _solvers[key]


def local_processes(workers):
    """An executor of ``workers`` local processes, started by ``spawn`` (a forked child of a process that has run
    Numba's OpenMP threads may hang)."""
    workers = checks.integer("workers", workers, low=1)
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def scheduler(address):
    """A ``dask.distributed.Client`` of the running scheduler at ``address`` (e.g. ``tcp://host:8786``)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ImportError("a Dask scheduler needs dask.distributed: pip install 'symbolic-rg[dask]'") from None
    return Client(address)


def map_points(function, points, desc, executor=None, progress=None, unit="run"):
    """``[function(*point) for point in points]``, here or on ``executor`` (results in order), with a progress bar:
    the studies' independent, seeded simulations."""
    pool = executor_of(executor)
    arguments = list(zip(*points))
    out = []
    with bar(len(points), desc, progress, unit) as shown:
        for result in (map(function, *arguments) if pool is None else pool.map(function, *arguments)):
            out.append(result)
            shown.update()
    return out


def add_arguments(parser, what):
    """The options ``--workers N | --scheduler ADDRESS`` (where ``what`` runs) and ``--quiet`` of a study script."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="run %s on N local processes" % what)
    where.add_argument("--scheduler", help="run %s on the Dask cluster at this address" % what)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def from_arguments(args):
    """``(executor, progress)`` of the options of :func:`add_arguments`."""
    executor = (local_processes(args.workers) if args.workers else
                scheduler(args.scheduler) if args.scheduler else None)
    return executor, (False if args.quiet else None)
