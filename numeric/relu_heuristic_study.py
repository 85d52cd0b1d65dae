"""ReLU networks: the heuristic kernel renormalization (Li & Sompolinsky) against the real networks.

For depths L = 1, 2, 3 and widths 100..500, the heuristic saddle point (`symbolic-rg solve relu`: the deep
linear order-parameter equations with the ReLU Gaussian-process kernel) against MALA samples of the actual
ReLU network's Gibbs posterior over all weights, on a linear teacher task; the infinite-width GP is shown
for reference.  Points: predictor bias and variance on test inputs (2-sigma jackknife error bars); the
table prints theory − simulation in units of the error bar, so where the heuristic holds and where it fails
can be read off.

    python numeric/relu_heuristic_study.py [--out docs/relu_heuristic_study.png] [--samples 1500]
                                           [--workers N | --scheduler ADDRESS] [--quiet]

The MALA runs (one per depth and width, each seeded) run on ``--workers`` local processes or a Dask cluster at
``--scheduler``, with a progress bar; the numbers do not depend on where they run.
"""
import argparse
import json
import time

import numpy as np

import symbolic_rg as srg
from symbolic_rg import parallel
from symbolic_rg.data import teacher
from symbolic_rg.simulate import mala_network

P, N0, T, SIGMA2 = 20, 10, 0.01, 1.0
DEPTHS, WIDTHS = (1, 2, 3), (100, 250, 500)


def simulate(L, N, samples, burn_in, thin):
    """One MALA run of the real ReLU network: (L, N, generalization error, its stderr, acceptance, seconds)."""
    d = teacher(P=P, N0=N0, P_test=100, noise=0.1, seed=3)
    t0 = time.time()
    s = mala_network(d.X_train, d.y_train, d.X_test, [N] * L, "relu", sigma2=SIGMA2, T=T, samples=samples,
                     burn_in=burn_in, thin=thin, seed=L * 1000 + N)
    ge, se = s.generalization_error(d.y_test)
    return L, N, ge, se, s.diagnostics["acceptance_rate"], time.time() - t0


def main(out="docs/relu_heuristic_study.png", samples=1500, burn_in=4000, thin=10, executor=None, progress=None):
    d = teacher(P=P, N0=N0, P_test=100, noise=0.1, seed=3)
    points = [(L, N, samples, burn_in, thin) for L in DEPTHS for N in WIDTHS]
    runs = {r[:2]: r[2:] for r in parallel.map_points(simulate, points, "MALA runs", executor, progress)}
    rows = []
    for L in DEPTHS:
        solver = srg.derive(srg.deep_nonlinear(L, "relu")).compile()
        gp = solver.solve(d.X_train, d.y_train, width=np.inf, sigma2=SIGMA2, T=T).generalization_error(d.X_test, d.y_test)
        for N in WIDTHS:
            th = solver.solve(d.X_train, d.y_train, width=N, sigma2=SIGMA2, T=T)
            eg = th.generalization_error(d.X_test, d.y_test)
            ge, se, acceptance, seconds = runs[L, N]
            row = {"depth": L, "width": N, "theory_bias": eg.bias, "theory_variance": eg.variance,
                   "sim_bias": ge.bias, "sim_bias_err": se.bias, "sim_variance": ge.variance,
                   "sim_variance_err": se.variance, "gp_bias": gp.bias, "gp_variance": gp.variance,
                   "order_parameters": th.order_parameters.tolist(),
                   "acceptance": acceptance, "seconds": seconds}
            rows.append(row)
            print("L=%d N=%3d  bias theory %.4g sim %.4g±%.2g (%+.1f sd)   variance theory %.4g sim %.4g±%.2g (%+.1f sd)"
                  "   GP bias %.4g var %.4g  acc %.2f  %.0fs"
                  % (L, N, eg.bias, ge.bias, se.bias, (eg.bias - ge.bias) / se.bias, eg.variance, ge.variance,
                     se.variance, (eg.variance - ge.variance) / se.variance, gp.bias, gp.variance,
                     row["acceptance"], row["seconds"]), flush=True)
    with open(out.replace(".png", ".json"), "w") as f:
        json.dump(rows, f, indent=1)
    plot(rows, out)


def plot(rows, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("bias", "variance")):
        for L, color in zip(DEPTHS, ("C0", "C1", "C2")):
            r = [x for x in rows if x["depth"] == L]
            w = [x["width"] for x in r]
            ax.plot(w, [x["theory_" + key] for x in r], "-", color=color, label="heuristic, L=%d" % L)
            ax.axhline(r[0]["gp_" + key], color=color, ls=":", lw=1)
            ax.errorbar(w, [x["sim_" + key] for x in r], yerr=[2 * x["sim_%s_err" % key] for x in r], fmt="o",
                        color=color, capsize=3, label="MALA, L=%d" % L)
        ax.set_xscale("log")
        ax.set_xlabel("hidden width N")
        ax.set_ylabel("test " + key)
        ax.set_title("ReLU, P=%d, T=%g (dotted: GP)" % (P, T))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print("wrote", out)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/relu_heuristic_study.png")
    p.add_argument("--samples", type=int, default=1500)
    p.add_argument("--burn-in", type=int, default=4000)
    p.add_argument("--thin", type=int, default=10)
    parallel.add_arguments(p, "the MALA chains")
    a = p.parse_args()
    main(a.out, a.samples, a.burn_in, a.thin, *parallel.from_arguments(a))
