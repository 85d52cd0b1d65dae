"""Convolutional networks on digits: local kernel renormalization against its GP and the fully connected network,
and against the real networks (issue 38, items 2 and 4).

(a, b) Generalization error of `srg.cnn((8, 8), f, 1)` (linear and ReLU convolutions, flattened positions, one
    readout) against the number of channels N for filter sizes f = 3..6 (n = 36, 25, 16, 9 positions), its
    infinite-width GP (dashed, N = inf), and the fully connected one-hidden-layer network on the same 64 pixels
    (f = 8 is that network exactly: one position covering the image).  Digits as 8 x 8 images (even vs odd),
    P = 150, T = 0.05, all prior variances 1.
(c) The order parameter V_1 over position pairs (f = 4, stride 2: 3 x 3 positions), N = 12, relative to its
    infinite-width value (sigma_a^2/n times the identity): which filter positions the data reweight.
(d) Theory against the real networks: the generalization error of the saddle point against exact blocked Gibbs
    sampling (linear convolution, N = 12 and 40, T = 0.05 and 0.2) and MALA (ReLU, N = 12 and 40, T = 0.1), f = 4,
    stride 2, P = 60, 100 test digits, with 1 s.e. bars; the GP for reference.  The JSON has every number,
    including the deviations (theory - simulation) / s.e. of the error and of V_1 against the sampled readout
    overlap (1/(N n)) sum_c a_ci a_cj.

    python numeric/cnn_study.py [--out docs/cnn_study.png] [--quick] [--plot-only]

(about 6 minutes on one core; ``--quick``: fewer points and samples, a smoke test.)
"""
import argparse
import json
import pathlib
import time

import numpy as np

import symbolic_rg as srg

FILTERS = (3, 4, 5, 6)
CHANNELS = (40, 64, 128, 256, 512, 1024)


def curves(quick):
    d = srg.data.digits(P=150, P_test=500, seed=0, images=True)
    out = {}
    channels = CHANNELS[::2] if quick else CHANNELS
    for act in ("linear", "relu"):
        fc = srg.derive(srg.deep_linear(1) if act == "linear" else srg.deep_nonlinear(1, act)).compile()
        rows = {"fc": [fc.solve(d.X_train, d.y_train, width=N, T=0.05).generalization_error(
            d.X_test, d.y_test).total for N in channels],
            "fc_gp": fc.solve(d.X_train, d.y_train, width=np.inf, T=0.05).generalization_error(
                d.X_test, d.y_test).total}
        for f in (FILTERS[1::2] if quick else FILTERS):
            solver = srg.derive(srg.cnn((8, 8), f, 1, activation=act)).compile()
            sweep = solver.sweep(d.X_train, d.y_train, [[N] for N in channels], T=0.05)
            rows[f] = {"eg": list(map(float, sweep.generalization_error(d.X_test, d.y_test).total)),
                       "gp": solver.solve(d.X_train, d.y_train, np.inf, T=0.05).generalization_error(
                           d.X_test, d.y_test).total,
                       "positions": srg.Patches.of((8, 8), f, 1).count}
            print("%s f=%d: %s (GP %.4f)" % (act, f, np.round(rows[f]["eg"], 4).tolist(), rows[f]["gp"]))
        out[act] = rows
    return {"channels": list(channels), "curves": out}


def validation(quick):
    d = srg.data.digits(P=60, P_test=100, seed=2, images=True)
    patches = srg.Patches.of((8, 8), 4, 2)
    samples = 300 if quick else 4000
    rows = []
    cases = [("linear", N, T) for N in (12, 40) for T in (0.05, 0.2)] + [("relu", N, 0.1) for N in (12, 40)]
    for act, N, T in cases[::3] if quick else cases:
        solver = srg.derive(srg.cnn((8, 8), 4, 2, activation=act)).compile()
        sol, gp = solver.solve(d.X_train, d.y_train, N, T=T), solver.solve(d.X_train, d.y_train, np.inf, T=T)
        t0 = time.time()
        if act == "linear":
            mc = srg.simulate.gibbs_conv(d.X_train, d.y_train, d.X_test, patches, N, 1.0, T, samples=samples,
                                         burn_in=samples // 10, seed=N)
        else:
            mc = srg.simulate.mala_conv(d.X_train, d.y_train, d.X_test, patches, N, act, 1.0, T,
                                        samples=samples // 2, burn_in=3 * samples // 4, thin=10, seed=N)
        (eg, _, _), (se, _, _) = mc.generalization_error(d.y_test)
        V, ov, ovse = (sol.order_parameters[0], mc.diagnostics["readout_overlap"],
                       mc.diagnostics["readout_overlap_stderr"])
        theory = sol.generalization_error(d.X_test, d.y_test).total
        gp_error = gp.generalization_error(d.X_test, d.y_test).total
        rows.append({"activation": act, "N": N, "T": T, "theory": theory, "simulation": float(eg),
                     "stderr": float(se), "gp": gp_error, "deviation": float((theory - eg) / se),
                     "gp_deviation": float((gp_error - eg) / se),
                     "V_deviation_max": float(np.max(np.abs(V - ov) / ovse)),
                     "seconds": time.time() - t0, "sampler": mc.diagnostics["sampler"]})
        print("%-6s N=%-3d T=%-4g theory %.4f  simulation %.4f +- %.4f (%+.1f s.e.; GP %+.1f s.e.)  V within %.1f s.e."
              % (act, N, T, theory, eg, se, rows[-1]["deviation"], rows[-1]["gp_deviation"],
                 rows[-1]["V_deviation_max"]))
    return rows


def position_weights():
    d = srg.data.digits(P=60, P_test=100, seed=2, images=True)
    sol = srg.derive(srg.cnn((8, 8), 4, 2)).compile().solve(d.X_train, d.y_train, 12, T=0.05)
    return sol.position_weights.tolist()


def plot(result, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.3))
    N = np.array(result["channels"])
    for ax, act in zip(axes[:2], ("linear", "relu")):
        rows = result["curves"][act]
        for i, f in enumerate(k for k in rows if k not in ("fc", "fc_gp")):
            c = "C%d" % i
            ax.semilogx(N, rows[f]["eg"], "o-", color=c, label="conv %sx%s (n=%d)" % (f, f, rows[f]["positions"]))
            ax.axhline(rows[f]["gp"], color=c, ls="--", lw=1)
        ax.semilogx(N, rows["fc"], "s-", color="k", label="fully connected")
        ax.axhline(rows["fc_gp"], color="k", ls="--", lw=1)
        ax.set_xlabel("channels N (dashed: N = inf)")
        ax.set_ylabel("generalization error")
        ax.set_title("%s convolution, digits P = 150, T = 0.05" % act)
        ax.legend(fontsize=7)
    im = axes[2].imshow(np.array(result["position_weights"]), cmap="viridis")
    axes[2].set_title("V_1 / (sigma_a^2/n), N = 12: 3x3 positions, row-major")
    axes[2].set_xlabel("position j")
    axes[2].set_ylabel("position i")
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    ax = axes[3]
    for k, r in enumerate(result["validation"]):
        ax.errorbar(k, r["simulation"], r["stderr"], fmt="o", color="k", capsize=3,
                    label="simulation" if k == 0 else None)
        ax.plot(k, r["theory"], "x", color="C3", ms=9, label="theory" if k == 0 else None)
        ax.plot(k, r["gp"], "_", color="C0", ms=14, label="GP" if k == 0 else None)
    ax.set_xticks(range(len(result["validation"])))
    ax.set_xticklabels(["%s\nN=%d T=%g" % (r["activation"], r["N"], r["T"]) for r in result["validation"]],
                       fontsize=7)
    ax.set_ylabel("generalization error")
    ax.set_title("theory vs real networks (f = 4, stride 2, P = 60)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(out="docs/cnn_study.png", quick=False, plot_only=False):
    path = pathlib.Path(out).with_suffix(".json")
    if plot_only:
        result = json.loads(path.read_text())
    else:
        result = curves(quick)
        result["validation"] = validation(quick)
        result["position_weights"] = position_weights()
        if not quick:
            path.write_text(json.dumps(result, indent=1))
    plot(result, out)
    print("wrote", out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/cnn_study.png")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot-only", action="store_true")
    a = parser.parse_args()
    main(a.out, a.quick, a.plot_only)
