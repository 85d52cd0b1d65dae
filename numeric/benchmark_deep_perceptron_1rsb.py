"""The 1RSB hidden-layer average of the deep perceptron, F = (1/m) E_{z0,w0} ln E_{z1,w1} zeta^m, with its gradient in
(p0, p1, qhat0, qhat1, m): the engine's compiled kernel (symbolic_rg.replica.rsb_kernels.hidden_term, value and exact
gradient in one pass) against the vectorized NumPy/SciPy trapezoid rule of numeric/deep_perceptron_1rsb_reference.py
(an independent code; value only, so its gradient costs 10 more evaluations by central differences), measured in one
run on the same points, with the difference of the values (the reference is accurate to 1e-15 there).

    python numeric/benchmark_deep_perceptron_1rsb.py
"""
import importlib.util
import math
import pathlib
import statistics

import numpy as np

from symbolic_rg.replica.rsb_kernels import hidden_term
from timing import timed

POINTS = [((0.2, 0.5, 0.3, 1.2, 0.5), 0.5), ((0.05, 0.9, 0.5, 6.0, 0.3), 0.0), ((0.6, 0.97, 2.0, 12.0, 0.7), 0.5)]


def reference():
    path = pathlib.Path(__file__).resolve().parent / "deep_perceptron_1rsb_reference.py"
    spec = importlib.util.spec_from_file_location("deep_perceptron_1rsb_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    ref = reference()
    xg, wg = np.polynomial.legendre.leggauss(8)
    print("%-32s %6s %12s %12s %14s %10s" % ("(p0, p1, qhat0, qhat1, m)", "kappa", "engine [s]", "NumPy [s]",
                                             "ratio (grad)", "|diff|"))
    for args, kappa in POINTS:
        s = math.sqrt(1 - args[1])
        coefficients = (kappa / s, -1 / s, kappa / s, 1 / s)
        hidden_term(*args, *coefficients, xg, wg, 1.5)                       # compile outside the timing
        t_ours, ours = timed(lambda: hidden_term(*args, *coefficients, xg, wg, 1.5), 5, statistics.mean)
        t_ref, theirs = timed(lambda: ref.hidden_term(*args, kappa, accuracy="coarse"), 1, statistics.mean)
        print("%-32s %6g %12.3f %12.3f %14.1f %10.1e" % (args, kappa, t_ours, t_ref, 11 * t_ref / t_ours,
                                                         abs(ours[0] - theirs)))


if __name__ == "__main__":
    main()
