"""One hidden layer of any activation: the kernel renormalization (Gaussian equivalence) against the real networks.

For erf and tanh, widths 30, 100, 300 and temperatures 0.01 and 0.1, on a seeded linear teacher (P = 20, N_0 = 10)
and on digits (P = 30, N_0 = 64): the saddle point of `symbolic-rg solve nonlinear --activation NAME --depth 1`
(the deep linear order-parameter equation with the input kernel Phi(sigma_1^2 X X^T/N_0); Pacelli et al. 2023)
against MALA samples of the actual network's Gibbs posterior over all weights.  Compared: test bias and variance
of the predictor and the hidden layer's mean kernel <x_1 . x_1'>/N_1 on the training set (its trace per point,
the sampled weights' order parameter), theory - simulation in units of the simulation's standard error (bias and
variance: jackknife over 20 batches; kernel trace: the sum of the diagonal's batch errors, an upper bound); the
infinite-width GP for reference.

    python numeric/nonlinear_study.py [--out docs/nonlinear_study.png] [--samples 2000]
                                      [--workers N | --scheduler ADDRESS] [--quiet] [--plot-only]

(about 7 minutes on 2 workers; ``--plot-only`` redraws the figure from the JSON beside it.)
"""
import argparse
import json
import time

import numpy as np

import symbolic_rg as srg
from symbolic_rg import parallel
from symbolic_rg.data import digits, teacher
from symbolic_rg.simulate import mala_network

ACTIVATIONS, WIDTHS, TEMPERATURES = ("erf", "tanh"), (30, 100, 300), (0.01, 0.1)
SIGMA2 = 1.0


def dataset(name):
    if name == "teacher":
        return teacher(P=20, N0=10, P_test=100, noise=0.1, seed=3)
    return digits(P=30, P_test=100, seed=1)


def simulate(act, data, N, T, samples, burn_in, thin):
    """One MALA run: (key, bias, variance, their stderrs, kernel trace per point and its stderr, acceptance, s)."""
    d = dataset(data)
    t0 = time.time()
    s = mala_network(d.X_train, d.y_train, d.X_test, [N], act, sigma2=SIGMA2, T=T, samples=samples,
                     burn_in=burn_in, thin=thin,
                     seed=1000 * ACTIVATIONS.index(act) + 100 * (data == "digits") + 10 * WIDTHS.index(N)
                     + TEMPERATURES.index(T))
    ge, se = s.generalization_error(d.y_test)
    P = d.X_train.shape[0]
    trace = float(np.trace(s.layer_kernels[0])) / P
    trace_se = float(np.sum(np.diag(s.layer_kernels_stderr[0]))) / P
    return ((act, data, N, T), ge.bias, se.bias, ge.variance, se.variance, trace, trace_se,
            float(s.diagnostics["acceptance_rate"]), time.time() - t0)


def main(out="docs/nonlinear_study.png", samples=2000, burn_in=4000, thin=10, executor=None, progress=None):
    points = [(a, dn, N, T, samples, burn_in, thin) for a in ACTIVATIONS for dn in ("teacher", "digits")
              for N in WIDTHS for T in TEMPERATURES]
    runs = {r[0]: r[1:] for r in parallel.map_points(simulate, points, "MALA runs", executor, progress)}
    rows = []
    for act in ACTIVATIONS:
        solver = srg.derive(srg.deep_nonlinear(1, act)).compile()
        for dn in ("teacher", "digits"):
            d = dataset(dn)
            P = d.X_train.shape[0]
            for T in TEMPERATURES:
                gp = solver.solve(d.X_train, d.y_train, width=np.inf, sigma2=SIGMA2, T=T)
                gpe = gp.generalization_error(d.X_test, d.y_test)
                for N in WIDTHS:
                    th = solver.solve(d.X_train, d.y_train, width=N, sigma2=SIGMA2, T=T)
                    eg = th.generalization_error(d.X_test, d.y_test)
                    trace = float(np.trace(th.layer_kernels()[0])) / P
                    bias, bias_se, var, var_se, s_trace, s_trace_se, acc, seconds = runs[act, dn, N, T]
                    row = {"activation": act, "data": dn, "width": N, "T": T, "P": P,
                           "theory_bias": eg.bias, "theory_variance": eg.variance, "theory_kernel_trace": trace,
                           "u": float(th.order_parameters[0]),
                           "sim_bias": bias, "sim_bias_err": bias_se, "sim_variance": var, "sim_variance_err": var_se,
                           "sim_kernel_trace": s_trace, "sim_kernel_trace_err": s_trace_se,
                           "gp_bias": gpe.bias, "gp_variance": gpe.variance,
                           "gp_kernel_trace": float(np.trace(gp.layer_kernels()[0])) / P,
                           "acceptance": acc, "seconds": seconds}
                    row["sd"] = {k: (row["theory_" + k] - row["sim_" + k]) / row["sim_%s_err" % k]
                                 for k in ("bias", "variance", "kernel_trace")}
                    rows.append(row)
                    print("%-4s %-7s T=%-4g N=%3d  bias %.4g vs %.4g±%.2g (%+.1f sd)  variance %.4g vs %.4g±%.2g "
                          "(%+.1f sd)  trace %.4g vs %.4g±%.2g (%+.1f sd)   GP %.4g/%.4g  acc %.2f %.0fs"
                          % (act, dn, T, N, eg.bias, bias, bias_se, row["sd"]["bias"], eg.variance, var, var_se,
                             row["sd"]["variance"], trace, s_trace, s_trace_se, row["sd"]["kernel_trace"],
                             gpe.bias, gpe.variance, acc, seconds), flush=True)
    worst = max(abs(v) for r in rows for v in r["sd"].values())
    print("largest |theory - simulation| / stderr over %d comparisons: %.2f" % (3 * len(rows), worst))
    with open(out.replace(".png", ".json"), "w") as f:
        json.dump(rows, f, indent=1)
    plot(rows, out)


def plot(rows, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    keys = ("bias", "variance", "kernel_trace")
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for i, dn in enumerate(("teacher", "digits")):
        for ax, key in zip(axes[i], keys):
            for (act, T), color in zip([(a, T) for a in ACTIVATIONS for T in TEMPERATURES], ("C0", "C1", "C2", "C3")):
                r = [x for x in rows if x["data"] == dn and x["activation"] == act and x["T"] == T]
                w = [x["width"] for x in r]
                ax.plot(w, [x["theory_" + key] for x in r], "-", color=color, label="theory %s T=%g" % (act, T))
                ax.axhline(r[0]["gp_" + key], color=color, ls=":", lw=1)
                ax.errorbar(w, [x["sim_" + key] for x in r], yerr=[2 * x["sim_%s_err" % key] for x in r], fmt="o",
                            color=color, capsize=3)
            ax.set_xscale("log")
            ax.set_xticks(WIDTHS, [str(w) for w in WIDTHS])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("hidden width N")
            ax.set_ylabel(key.replace("_", " ") + (" per point" if key == "kernel_trace" else ""))
            ax.set_title("%s, P=%d (points: MALA ±2 s.e.; dotted: GP)" % (dn, r[0]["P"]), fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/nonlinear_study.png")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--burn-in", type=int, default=4000)
    p.add_argument("--thin", type=int, default=10)
    p.add_argument("--plot-only", action="store_true", help="redraw the figure from the JSON of an earlier run")
    parallel.add_arguments(p, "the MALA chains")
    a = p.parse_args()
    if a.plot_only:
        with open(a.out.replace(".png", ".json")) as f:
            plot(json.load(f), a.out)
    else:
        main(a.out, a.samples, a.burn_in, a.thin, *parallel.from_arguments(a))
