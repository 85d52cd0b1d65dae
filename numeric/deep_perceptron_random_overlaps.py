"""Random-scenario deep perceptron: per-layer overlaps of two chains of real sparse networks on the same data against
the replica theory's profile Q_l, q_l (issue 41, item 5).

Per (L, kappa, alpha): random +-1 inputs and labels (M = alpha c patterns, N = 5c units per layer, c inputs per
unit), two consistent networks found by annealing (``annealed_student``), then two pairs of chains of the uniform
measure over the consistent networks (``replica_overlaps``): one from the two independent starts (the pair's
overlaps rise from about 0: from below) and one from the same start (they fall from 1: from above).  Each pair
reports per layer the gauge-invariant overlaps sqrt(Q2_l), sqrt(q2_l) (compared with the theory) and the
gauge-aligned Q_l, q_l (biased up by about sqrt(2/(pi c)) where units are uncorrelated), batch-means errors over the
last half of its sweeps, the drift between the two quarters of that half, and each chain's overlap with itself at
the start of that half (``memory``).  The two pairs bracket the equilibrium value; it is read off where they agree
within 2 errors and neither drifts.  Where the theory breaks replica symmetry (1RSB), chains that stay in their
states read Q^(0) from independent starts and Q^(1) from the same start, so the brackets need not meet.
Theory: the RS solution of the n -> 0 rule and, where it is RS-unstable, the 1RSB one (``--ansatz 1rsb``).
Writes OUT.json and OUT.png (one panel per point: Q_l at x = l, q_l at x = l + 1/2); 25 min on one core.

    python numeric/deep_perceptron_random_overlaps.py [--quick] [--replot] [--out docs/deep_perceptron_random_overlaps]
"""
import argparse
import json
import os
import textwrap
import time

import matplotlib
import numpy as np

import symbolic_rg as srg
from symbolic_rg.replica.monte_carlo import annealed_student, random_data, replica_overlaps

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

POINTS = [(L, 0.0, a) for a in (1.0, 2.0, 4.0) for L in (3, 4, 5)] + [(L, 0.5, 0.8) for L in (3, 4, 5)]
ANNEAL = {"anneal_sweeps": 4000, "reheats": 3}
TRIES_MARGIN = {3: 3, 4: 1, 5: 1}   # kappa > 0, per depth: at L = 4, 5 every try so far failed (80-140 margins left,
                                    # 1-1.5 min each); at L = 3 the first may fail
MEASURE_EVERY = 20


def theory(depth, kappa, alpha):
    """RS Q_l, q_l and replicon; where the replicon is positive, the selected 1RSB point's two levels and m."""
    t = srg.derive(srg.deep_perceptron(depth, "random", ansatz="1rsb"))
    rs = t.rs().compile().solve(alpha, kappa)
    out = {"rs_Q": rs.Q.tolist(), "rs_q": rs.q.tolist(), "rs_replicon": rs.physical.replicon}
    if rs.physical.replicon > 0:
        p = t.compile().solve(alpha, kappa, rs=rs).physical
        if p.breaks_symmetry:
            out.update(Q=p.Q.tolist(), q=p.q.tolist(), m=p.m)
    return out


def pair_record(r):
    """A ReplicaOverlaps as JSON, its Q2 and q2 traces thinned to every 10th measurement."""
    keys = ("Q", "Q_err", "q", "q_err", "Q2", "Q2_err", "q2", "q2_err", "memory", "drift")
    out = {k: getattr(r, k).tolist() for k in keys}
    L, t = len(r.Q), r.trace[::10]
    out.update(settled=r.settled, sweeps=r.sweeps, burn_in=r.burn_in,
               trace_sweeps=(MEASURE_EVERY * np.arange(1, len(r.trace) + 1))[::10].tolist(),
               trace_Q2=t[:, 2 * L - 1:3 * L - 1].tolist(), trace_q2=t[:, 3 * L - 1:4 * L - 2].tolist())
    return out


def bracket(below, above, z=2.0):
    """Mean of the two pairs' Q2, q2 with error 1/2 sqrt(s_a^2 + s_b^2) (+) 1/2 |gap|, and whether they agree within z
    combined errors with neither drifting."""
    va, vb = (np.concatenate([p["Q2"], p["q2"]]) for p in (below, above))
    ea, eb = (np.concatenate([p["Q2_err"], p["q2_err"]]) for p in (below, above))
    err = np.hypot(np.hypot(ea, eb) / 2, (va - vb) / 2)
    agree = bool(np.all(np.abs(va - vb) <= z * np.hypot(ea, eb)))
    return {"value": ((va + vb) / 2).tolist(), "err": err.tolist(), "agree": agree,
            "settled": agree and below["settled"] and above["settled"]}


def point(depth, kappa, alpha, c, sweeps, seed):
    rng = np.random.default_rng(seed)
    data = random_data(depth, 5 * c, c, alpha, rng, kappa=kappa)
    out = {"depth": depth, "kappa": kappa, "alpha": alpha, "c": c, "N": 5 * c, "M": int(data.S0.shape[0]),
           "gauge_level": float(np.sqrt(2 / (np.pi * c)))}
    t0 = time.perf_counter()
    try:
        anneal = dict(ANNEAL, tries=TRIES_MARGIN[depth]) if kappa > 0 else ANNEAL
        starts = [annealed_student(data.graph, data.S0, data.y, rng, kappa=kappa, **anneal) for _ in range(2)]
    except RuntimeError as e:
        out.update(error=str(e), seconds=time.perf_counter() - t0)
        return out
    out["anneal_seconds"] = time.perf_counter() - t0
    below = replica_overlaps(data, sweeps, rng, measure_every=MEASURE_EVERY, start=tuple(starts))
    above = replica_overlaps(data, sweeps, rng, measure_every=MEASURE_EVERY, start=(starts[0], starts[0]))
    out.update(independent=pair_record(below), same=pair_record(above), seconds=time.perf_counter() - t0)
    out["bracket"] = bracket(out["independent"], out["same"])
    return out


def root(x, e):
    """sqrt of an estimate of a square, with the interval sqrt(max(x -+ e, 0))."""
    x, e = np.asarray(x), np.asarray(e)
    v = np.sqrt(np.maximum(x, 0))
    return v, v - np.sqrt(np.maximum(x - e, 0)), np.sqrt(np.maximum(x + e, 0)) - v


def panel(ax, r):
    L = r["depth"]
    lw, ls = np.arange(1, L + 1), np.arange(1, L) + 0.5
    th = r["theory"]
    ax.plot(lw, th["rs_Q"], "k-s", ms=4, label="theory RS $Q_l$")
    ax.plot(ls, th["rs_q"], "k--s", ms=4, mfc="white", label="theory RS $q_l$")
    if "m" in th:
        Q, q = np.array(th["Q"]), np.array(th["q"])
        ax.fill_between(lw, Q[:, 0], Q[:, 1], color="tab:red", alpha=0.25, lw=0, label=r"1RSB $[Q^{(0)}_l, Q^{(1)}_l]$")
        ax.plot(ls, q[:, 0], ":", color="tab:red", lw=1)
        ax.plot(ls, q[:, 1], ":", color="tab:red", lw=1, label=r"1RSB $q^{(0)}_l, q^{(1)}_l$")
    ax.axhline(r["gauge_level"], color="grey", ls=":", lw=0.8)
    rsb = ", 1RSB $m = %.2f$" % th["m"] if "m" in th else ""
    if "error" in r:
        ax.text(0.5, 0.55, "no consistent start found:\n" + textwrap.fill(r["error"], 48), transform=ax.transAxes,
                ha="center", va="center", fontsize=6)
        ax.text(0.02, 0.97, rsb.lstrip(", "), transform=ax.transAxes, va="top", fontsize=6)
    else:
        for key, colour, marker, shift, name in (("independent", "tab:blue", "o", -0.06, "independent starts"),
                                                  ("same", "tab:orange", "^", 0.06, "same start")):
            p = r[key]
            v, lo, hi = root(p["Q2"], p["Q2_err"])
            ax.errorbar(lw + shift, v, yerr=[lo, hi], fmt=marker, color=colour, ms=4, capsize=2,
                        label=r"MC $\sqrt{Q^2_l}$, " + name)
            v, lo, hi = root(p["q2"], p["q2_err"])
            ax.errorbar(ls + shift, v, yerr=[lo, hi], fmt=marker, color=colour, ms=4, mfc="white", capsize=2,
                        label=r"MC $\sqrt{q^2_l}$, " + name)
        p = r["independent"]
        ax.plot(lw, p["Q"], "x", color="grey", ms=4, label=r"MC aligned $Q_l$ (independent)")
        state = "settled" if r["bracket"]["settled"] else ("agree, drifting" if r["bracket"]["agree"] else "apart")
        ax.text(0.02, 0.97, "%s, %d sweeps%s" % (state, p["sweeps"], rsb), transform=ax.transAxes, va="top", fontsize=6)
    ax.set_xticks(np.arange(1, L + 1))
    ax.set_xlim(0.6, L + 0.4)
    ax.set_ylim(-0.02, 0.75)
    ax.set_title(r"$L = %d$, $\kappa = %g$, $\alpha = %g$ ($c = %d$, $N = %d$)" % (L, r["kappa"], r["alpha"], r["c"],
                                                                                  r["N"]), fontsize=8)
    ax.tick_params(labelsize=7)


def figure(results, path):
    depths = sorted({r["depth"] for r in results})
    rows = sorted({(r["kappa"], r["alpha"]) for r in results})
    fig, axes = plt.subplots(len(rows), len(depths), figsize=(3.6 * len(depths), 2.7 * len(rows)), squeeze=False)
    for i, (kappa, alpha) in enumerate(rows):
        for j, depth in enumerate(depths):
            ax = axes[i, j]
            r = [r for r in results if (r["depth"], r["kappa"], r["alpha"]) == (depth, kappa, alpha)]
            if r:
                panel(ax, r[0])
            else:
                ax.axis("off")
        axes[i, 0].set_ylabel("overlap")
    for ax in axes[-1]:
        ax.set_xlabel("layer $l$ (weights; spins of hidden layer $l$ at $l + 1/2$)", fontsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes.ravel():                                   # the 1RSB entries, from a panel that has them
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7)
    fig.suptitle("Random scenario: overlaps of two chains of real networks (points) over the replica theory "
                 r"(lines); dotted grey: gauge level $\sqrt{2/(\pi c)}$", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    fig.savefig(path, dpi=120)


def main(out, quick=False, replot=False):
    if replot:
        with open(out + ".json") as f:
            results = json.load(f)["points"]
        figure(results, out + ".png")
        return results
    points, c, sweeps = ([(3, 0.0, 2.0)], 6, 1000) if quick else (POINTS, 10, 20000)
    results, t0 = [], time.perf_counter()
    for depth, kappa, alpha in points:
        r = point(depth, kappa, alpha, c, sweeps, seed=100 * depth + int(10 * alpha) + int(100 * kappa))
        r["theory"] = theory(depth, kappa, alpha)
        results.append(r)
        report(r)
    print("total %.0f s" % (time.perf_counter() - t0), flush=True)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out + ".json", "w") as f:
        json.dump({"seconds": time.perf_counter() - t0, "points": results}, f, indent=1)
    figure(results, out + ".png")
    return results


def report(r):
    """One point's theory and both pairs' sqrt(Q2), sqrt(q2) (an error bar: half the interval of :func:`root`)."""
    head = "L=%d kappa=%g alpha=%g c=%d" % (r["depth"], r["kappa"], r["alpha"], r["c"])
    if "error" in r:
        print(head, "no consistent start:", r["error"], flush=True)
        return
    th = r["theory"]

    def show(x, e=None):
        if e is None:
            return " ".join("%.3f" % v for v in x)
        v, lo, hi = root(x, e)
        return " ".join("%.3f(%.3f)" % (a, (b + c) / 2) for a, b, c in zip(v, lo, hi))

    print("%s  (%.0f s, anneal %.0f s)" % (head, r["seconds"], r["anneal_seconds"]))
    print("   theory RS Q %s  q %s" % (show(th["rs_Q"]), show(th["rs_q"])),
          ("1RSB Q %s q %s m %.3f" % (th["Q"], th["q"], th["m"])) if "m" in th else "")
    for key in ("independent", "same"):
        p = r[key]
        print("   %-11s sqrt Q2 %s  sqrt q2 %s  aligned Q %s q %s  settled %s  memory %s" % (
            key, show(p["Q2"], p["Q2_err"]), show(p["q2"], p["q2_err"]), show(p["Q"]), show(p["q"]), p["settled"],
            show(p["memory"])))
    print("   bracket: agree %s settled %s" % (r["bracket"]["agree"], r["bracket"]["settled"]), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="default: docs/deep_perceptron_random_overlaps (with --quick: ..._quick)")
    p.add_argument("--quick", action="store_true", help="one point, c = 6, 1000 sweeps (a smoke run, < 1 min)")
    p.add_argument("--replot", action="store_true", help="redraw the figure from OUT.json")
    args = p.parse_args()
    main(args.out or "docs/deep_perceptron_random_overlaps" + ("_quick" if args.quick else ""), args.quick, args.replot)
