"""``symbolic-rg demo``: derive the deep linear theories, solve them on the digits task, plot."""
from __future__ import annotations

import time

import numpy as np

from .data import digits
from .layers import deep_linear
from .derive import derive

DEPTHS = (1, 2, 3, 4)
P, T = 100, 0.1
SIGMA2S = (0.5, 2.0)      # the two regimes: wider is better for small prior variance, worse for large


def run(out="generalization_vs_width.png", quick=False):
    widths = np.array([8, 32, 128, 512]) if quick else np.unique(np.logspace(np.log10(4), 3, 16).astype(int))
    d = digits(P=P, P_test=1000)
    print("symbolic-rg demo: deep linear networks on the digits task (even vs odd), P = %d, N_0 = %d, T = %g\n"
          % (P, d.X_train.shape[1], T))
    table = {}
    for L in DEPTHS:
        t0 = time.perf_counter()
        theory = derive(deep_linear(L))
        solver = theory.compile()
        t1 = time.perf_counter()
        print("depth L = %d: derived and compiled in %.2f s; saddle-point equations:" % (L, t1 - t0))
        for eq in theory.saddle_point_equations:
            print("   ", eq)
        for s2 in SIGMA2S:
            sweep = solver.sweep(d.X_train, d.y_train, width=widths, sigma2=s2, T=T)
            table[L, s2] = sweep.generalization_error(d.X_test, d.y_test)
        print("    swept %d widths x %d prior variances in %.3f s, all converged\n"
              % (len(widths), len(SIGMA2S), time.perf_counter() - t1))
    for s2 in SIGMA2S:
        print("generalization error = bias + variance versus width N (all layers), sigma^2 = %g:" % s2)
        print("%8s" % "N" + "".join("%24s" % ("L=%d" % L) for L in DEPTHS))
        for i, N in enumerate(widths):
            print("%8d" % N + "".join("%10.4f (%5.3f+%5.3f)" % (table[L, s2].total[i], table[L, s2].bias[i],
                                                                table[L, s2].variance[i]) for L in DEPTHS))
        print()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure written (pip install 'symbolic-rg[plot]')")
        return table
    fig, axes = plt.subplots(1, len(SIGMA2S), figsize=(10, 4.2))
    for ax, s2 in zip(axes, SIGMA2S):
        for L in DEPTHS:
            ax.plot(widths, table[L, s2].total, "o-", ms=3, label="L = %d" % L)
        ax.set_xscale("log")
        ax.set_xlabel("width N")
        ax.set_ylabel(r"generalization error $\epsilon_g$")
        ax.set_title(r"$\sigma^2$ = %g" % s2)
        ax.legend()
    fig.suptitle("Deep linear networks (saddle point), digits even/odd, P = %d, T = %g" % (P, T))
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print("wrote %s" % out)
    return table
