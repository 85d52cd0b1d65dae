"""``symbolic-rg demo``: derive the deep linear theories, solve them on the digits task, plot."""
from __future__ import annotations

import time

import numpy as np

from .data import digits
from .layers import deep_linear
from .theory import derive

DEPTHS = (1, 2, 3, 4)
P, T, SIGMA2 = 100, 0.01, 1.0


def run(out="generalization_vs_width.png", quick=False):
    widths = np.array([8, 32, 128, 512]) if quick else np.unique(np.logspace(np.log10(4), 3, 16).astype(int))
    d = digits(P=P, P_test=1000)
    print("symbolic-rg demo: deep linear networks on the digits task (even vs odd), P = %d, N_0 = %d, "
          "T = %g, sigma^2 = %g\n" % (P, d.X_train.shape[1], T, SIGMA2))
    table = {}
    for L in DEPTHS:
        t0 = time.perf_counter()
        theory = derive(deep_linear(L))
        solver = theory.compile()
        t1 = time.perf_counter()
        print("depth L = %d: derived and compiled in %.2f s; saddle-point equations:" % (L, t1 - t0))
        for eq in theory.saddle_point_equations:
            print("   ", eq)
        sweep = solver.sweep(d.X_train, d.y_train, width=widths, sigma2=SIGMA2, T=T)
        table[L] = sweep.generalization_error(d.X_test, d.y_test)
        print("    swept %d widths in %.3f s, all converged: %s\n"
              % (len(widths), time.perf_counter() - t1, bool(sweep.converged.all())))
    print("generalization error (bias + variance) versus width N (all layers):")
    print("%8s" % "N" + "".join("%22s" % ("L=%d" % L) for L in DEPTHS))
    for i, N in enumerate(widths):
        print("%8d" % N + "".join("%10.4f (%4.3f+%4.3f)" % (table[L].total[i], table[L].bias[i], table[L].variance[i])
                                  for L in DEPTHS))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\nmatplotlib is not installed: no figure written (pip install 'symbolic-rg[plot]')")
        return table
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for L in DEPTHS:
        ax.plot(widths, table[L].total, "o-", ms=3, label="L = %d" % L)
    ax.set_xscale("log")
    ax.set_xlabel("width N")
    ax.set_ylabel(r"generalization error $\epsilon_g$")
    ax.set_title("Deep linear networks, digits (P=%d, T=%g, $\\sigma^2$=%g)" % (P, T, SIGMA2))
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print("\nwrote %s" % out)
    return table
