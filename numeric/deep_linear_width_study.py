"""Deep linear networks on the digits task: generalization error versus width, theory against simulation.

For depths L = 1, 2, 3 and two temperatures: the saddle point, saddle + one loop, and the exact
finite-width theory as curves over widths 4..1000, and the real networks' posterior sampled by exact
blocked Gibbs at a few widths (points with 2-sigma error bars).  Prior variance sigma^2 = 2, where
narrower networks generalize better (Li & Sompolinsky 2021).

    python numeric/deep_linear_width_study.py [--out docs/deep_linear_width_study.png] [--samples 2000]
                                              [--workers N | --scheduler ADDRESS] [--quiet]

The simulations (the expensive part, 24 Gibbs runs) run on ``--workers`` local processes or a Dask cluster at
``--scheduler`` (each run is seeded, so the numbers do not depend on where it runs), with a progress bar.
"""
import argparse
import time

import numpy as np

import symbolic_rg as srg
from symbolic_rg import parallel
from symbolic_rg.data import digits
from symbolic_rg.simulate import gibbs_deep_linear

P, SIGMA2, DEPTHS, TEMPERATURES = 100, 2.0, (1, 2, 3), (0.1, 0.5)
THEORY_WIDTHS = np.unique(np.logspace(np.log10(4), 3, 24).astype(int))
SIM_WIDTHS = (10, 30, 100, 400)


def simulate(L, T, N, samples):
    """One Gibbs run of the real network: (L, T, N, error, stderr, effective sample size, seconds)."""
    d = digits(P=P, P_test=500)
    t0 = time.perf_counter()
    sim = gibbs_deep_linear(d.X_train, d.y_train, d.X_test, [N] * L, sigma2=SIGMA2, T=T,
                            samples=samples, burn_in=1000, batches=10, seed=N + 7 * L)
    ge, se = sim.generalization_error(d.y_test)
    return L, T, N, ge.total, se.total, sim.diagnostics["effective_sample_size"], time.perf_counter() - t0


def main(out="docs/deep_linear_width_study.png", samples=2000, executor=None, progress=None):
    d = digits(P=P, P_test=500)
    points = [(L, T, N, samples) for L in DEPTHS for T in TEMPERATURES for N in SIM_WIDTHS]
    runs = {r[:3]: r[3:] for r in parallel.map_points(simulate, points, "Gibbs simulations", executor, progress)}
    rows = []
    results = {}
    for L in DEPTHS:
        theory = srg.derive(srg.deep_linear(L))
        saddle, exact = theory.compile(), theory.compile(method="exact")
        for T in TEMPERATURES:
            curves = {"saddle": [], "one loop": [], "exact": []}
            for N in THEORY_WIDTHS:
                s = saddle.solve(d.X_train, d.y_train, width=N, sigma2=SIGMA2, T=T)
                curves["saddle"].append(s.generalization_error(d.X_test, d.y_test).total)
                curves["one loop"].append(s.generalization_error(d.X_test, d.y_test, one_loop=True).total)
                curves["exact"].append(exact.solve(d.X_train, d.y_train, width=N, sigma2=SIGMA2, T=T)
                                       .generalization_error(d.X_test, d.y_test).total)
            sims = []
            for N in SIM_WIDTHS:
                ge_total, se_total, ess, seconds = runs[L, T, N]
                ex = exact.solve(d.X_train, d.y_train, width=N, sigma2=SIGMA2, T=T).generalization_error(d.X_test, d.y_test)
                sd = saddle.solve(d.X_train, d.y_train, width=N, sigma2=SIGMA2, T=T).generalization_error(d.X_test, d.y_test)
                sims.append((N, ge_total, se_total))
                rows.append((L, T, N, ge_total, se_total, ex.total, sd.total, (ge_total - ex.total) / se_total, ess,
                             seconds))
            results[L, T] = (curves, sims)
    print("digits even/odd, P = %d, sigma^2 = %g; simulation: %d Gibbs sweeps after 1000 burn-in, errors from 10 batches" % (P, SIGMA2, samples))
    print("%2s %5s %5s %10s %8s %10s %10s %8s %8s %6s" % ("L", "T", "N", "sim", "stderr", "exact", "saddle",
                                                          "z(exact)", "ESS", "sec"))
    for r in rows:
        print("%2d %5g %5d %10.4f %8.4f %10.4f %10.4f %8.2f %8.0f %6.1f" % r)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure")
        return rows
    fig, axes = plt.subplots(len(TEMPERATURES), len(DEPTHS), figsize=(12, 7), sharex=True)
    for i, T in enumerate(TEMPERATURES):
        for j, L in enumerate(DEPTHS):
            ax = axes[i, j]
            curves, sims = results[L, T]
            for (name, ys), style in zip(curves.items(), ("--", ":", "-")):
                ax.plot(THEORY_WIDTHS, ys, style, label=name)
            n, m, e = np.array(sims).T
            ax.errorbar(n, m, yerr=2 * e, fmt="o", color="k", ms=4, capsize=3, label="simulation (Gibbs)")
            ax.set_xscale("log")
            ax.set_title("L = %d, T = %g" % (L, T))
            if i == len(TEMPERATURES) - 1:
                ax.set_xlabel("width N")
            if j == 0:
                ax.set_ylabel(r"generalization error $\epsilon_g$")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(r"Deep linear networks, digits even/odd, P = %d, $\sigma^2$ = %g" % (P, SIGMA2))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote %s" % out)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/deep_linear_width_study.png")
    parser.add_argument("--samples", type=int, default=2000)
    parallel.add_arguments(parser, "the simulations")
    a = parser.parse_args()
    main(a.out, a.samples, *parallel.from_arguments(a))
