"""The one timing helper of the benchmarks in numeric/ (each runs as ``python numeric/benchmark_*.py``, so this
module imports as ``timing``)."""
import time


def timed(fn, repeat, statistic=min):
    """(``statistic`` of the wall times of ``repeat`` calls of ``fn``, in seconds; the last call's result)."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(statistic(times)), out
