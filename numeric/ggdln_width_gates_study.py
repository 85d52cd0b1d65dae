"""Globally gated deep linear networks on the digits task: generalization error versus width and gates.

Depth L = 2, linear readout, half-space gates (bias 0, independent per layer), prior variance 1, T = 0.1.
Curves: the matrix saddle-point theory for M = 1 (the deep linear network), 2, 4, 8 gates over widths
20..1000, with the infinite-width (GP) values as dashed lines.  Points (2-sigma error bars): the real gated
networks sampled by exact blocked Gibbs, and a ReLU network of the same widths (prior variances 2, 2, 1,
He scaling) sampled by MALA.

    python numeric/ggdln_width_gates_study.py [--out docs/ggdln_width_gates_study.png] [--quick]
                                              [--workers N | --scheduler ADDRESS] [--quiet]

The simulations (Gibbs for the gated networks, MALA for ReLU; each seeded) run on ``--workers`` local processes
or a Dask cluster at ``--scheduler``, with a progress bar; the numbers do not depend on where they run.
"""
import argparse
import time

import numpy as np

import symbolic_rg as srg
from symbolic_rg import parallel
from symbolic_rg.data import digits
from symbolic_rg.gated.gates import HalfSpaceGates
from symbolic_rg.simulate import gibbs_gated, mala_network

P, T, DEPTH, GATES = 100, 0.1, 2, (1, 2, 4, 8)
THEORY_WIDTHS = np.unique(np.logspace(np.log10(20), 3, 16).astype(int))
SIM_WIDTHS, SIM_GATES, RELU_WIDTHS = (50, 200), (2, 4), (50, 100, 200)


def simulate(kind, M, N, quick):
    """One simulation of the real network (``kind`` "gated": Gibbs with M gates per layer; "relu": MALA):
    (kind, M, N, generalization error, stderr, diagnostics, seconds)."""
    d = digits(P=P, P_test=300)
    t = time.time()
    if kind == "gated":
        gates = [HalfSpaceGates(M, seed=l) for l in range(DEPTH)]
        s = gibbs_gated(d.X_train, d.y_train, d.X_test, [N] * DEPTH, [g(d.X_train) for g in gates],
                        [g(d.X_test) for g in gates], T=T, samples=300 if quick else 3000, burn_in=300, seed=M)
    else:
        s = mala_network(d.X_train, d.y_train, d.X_test, [N] * DEPTH, "relu", sigma2=[2.0, 2.0, 1.0], T=T,
                         samples=200 if quick else 2000, burn_in=500 if quick else 4000, thin=10, seed=N)
    est, se = s.generalization_error(d.y_test)
    return kind, M, N, est.total, se.total, s.diagnostics, time.time() - t


def main(out="docs/ggdln_width_gates_study.png", quick=False, executor=None, progress=None):
    d = digits(P=P, P_test=300)
    jobs = [("gated", M, N, quick) for M in SIM_GATES for N in (SIM_WIDTHS[:1] if quick else SIM_WIDTHS)]
    jobs += [("relu", 0, N, quick) for N in (RELU_WIDTHS[:1] if quick else RELU_WIDTHS)]
    sims = {r[:3]: r[3:] for r in parallel.map_points(simulate, jobs, "simulations", executor, progress)}
    rows, curves, points, relu = [], {}, {}, {}
    for M in GATES:
        gates = [HalfSpaceGates(M, seed=l) for l in range(DEPTH)]
        solver = srg.derive(srg.ggdln(DEPTH, gates=M)).compile()
        eg = [solver.solve(d.X_train, d.y_train, [N] * DEPTH, T=T, gates=gates).generalization_error(d.X_test, d.y_test).total
              for N in THEORY_WIDTHS]
        gp = solver.solve(d.X_train, d.y_train, [1e9] * DEPTH, T=T, gates=gates).generalization_error(d.X_test, d.y_test).total
        curves[M] = (np.array(eg), gp)
        if M in SIM_GATES:
            for N in SIM_WIDTHS[:1] if quick else SIM_WIDTHS:
                est, se, _, seconds = sims["gated", M, N]
                theory = solver.solve(d.X_train, d.y_train, [N] * DEPTH, T=T, gates=gates).generalization_error(d.X_test, d.y_test)
                points[(M, N)] = (est, se)
                rows.append("gated M=%d N=%4d  theory %.4f  Gibbs %.4f +- %.4f  (%.1f SE; %.0f s)"
                            % (M, N, theory.total, est, se, abs(theory.total - est) / se, seconds))
                print(rows[-1], flush=True)
    for N in RELU_WIDTHS[:1] if quick else RELU_WIDTHS:
        est, se, diagnostics, seconds = sims["relu", 0, N]
        relu[N] = (est, se)
        rows.append("ReLU N=%4d  MALA %.4f +- %.4f  (acceptance %.2f, ESS %.0f; %.0f s)"
                    % (N, est, se, diagnostics["acceptance_rate"], diagnostics["effective_sample_size"], seconds))
        print(rows[-1], flush=True)
    for M in GATES:
        eg, gp = curves[M]
        rows.append("theory M=%d: N=%d %.4f, N=%d %.4f, GP %.4f" % (M, THEORY_WIDTHS[0], eg[0], THEORY_WIDTHS[-1], eg[-1], gp))
        print(rows[-1])
    plot(curves, points, relu, out)
    return rows


def plot(curves, points, relu, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = dict(zip(GATES, ["k", "C0", "C1", "C2"]))
    for M in GATES:
        eg, gp = curves[M]
        label = "deep linear (M = 1)" if M == 1 else "GGDLN theory, M = %d" % M
        ax.plot(THEORY_WIDTHS, eg, color=colors[M], label=label)
        ax.axhline(gp, color=colors[M], ls="--", lw=0.8)
    for (M, N), (e, s) in points.items():
        ax.errorbar(N, e, yerr=2 * s, fmt="o", color=colors[M], ms=5, capsize=3)
    if relu:
        Ns = sorted(relu)
        ax.errorbar(Ns, [relu[N][0] for N in Ns], yerr=[2 * relu[N][1] for N in Ns], fmt="s", color="C3",
                    ms=5, capsize=3, label="ReLU network (MALA)")
    ax.set_xscale("log")
    ax.set_xlabel("hidden width N")
    ax.set_ylabel("generalization error")
    ax.set_title("digits even/odd, P = %d, L = %d, T = %g (dashed: GP limits; dots: Gibbs)" % (P, DEPTH, T), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print("wrote", out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/ggdln_width_gates_study.png")
    parser.add_argument("--quick", action="store_true", help="few samples (a smoke test of the script)")
    parallel.add_arguments(parser, "the simulations")
    args = parser.parse_args()
    main(args.out, args.quick, *parallel.from_arguments(args))
