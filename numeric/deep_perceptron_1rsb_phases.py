"""Random-scenario deep perceptron: the per-layer state under replica symmetry and under one step of RSB, over the
load alpha, for several depths and margins (issue 41, item 4).

Per (L, kappa, alpha): the RS solution (the n -> 0 rule) and the 1RSB one (`--ansatz 1rsb`), and per layer of weights
the state of its overlap Q_l:
  liquid  Q^(0) = Q^(1) = 0 (the layer's weights uncorrelated between replicas),
  frozen  Q^(1) = Q^(0) > 0 (one state: RS in that layer),
  glass   Q^(1) > Q^(0) (several states: the layer breaks replica symmetry);
and "unresolved" where RS is unstable (replicon > 0) but the search found no 1RSB point below it.
Writes docs/deep_perceptron_1rsb_phases.json (every solution: Q, q, m, free entropies RS and 1RSB, residuals) and
docs/deep_perceptron_1rsb_phases.png (a layer x alpha map per (L, kappa), colour = state, the text Q^(1) - Q^(0),
starred where the selected 1RSB point is not a local minimum: a lower point may have been missed).

    python numeric/deep_perceptron_1rsb_phases.py [--depths 2 3 4] [--kappas 0 0.5]
        [--alphas 0.5 1 1.5 2 3 4] [--workers N | --scheduler ADDRESS] [--quiet] [--replot | --resume]

``--resume`` keeps the points already in the JSON and solves only the missing ones (the figure shows the union).
"""
import argparse
import json
import pathlib

import matplotlib
import numpy as np

import symbolic_rg as srg
from symbolic_rg import parallel
from symbolic_rg.errors import ConvergenceError, NoSolutionError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
GAP = 1e-4            # Q^(1) - Q^(0) above which a layer is glassy; Q^(1) above which it is not liquid


def state(Q0, Q1):
    """'liquid', 'frozen' or 'glass' of one layer's two levels."""
    if Q1 < GAP:
        return "liquid"
    return "glass" if Q1 - Q0 > GAP else "frozen"


def point(depth, kappa, alpha):
    """The RS and 1RSB solutions at one point, as a JSON-ready dict (an error message where none converged)."""
    out = {"depth": depth, "kappa": kappa, "alpha": alpha}
    try:
        theory = srg.derive(srg.deep_perceptron(depth, "random", ansatz="1rsb"))
        rs = theory.rs().compile().solve(alpha, kappa)
        sol = theory.compile().solve(alpha, kappa, rs=rs)
    except (ConvergenceError, NoSolutionError) as error:
        out["error"] = str(error)
        return out
    p = sol.physical
    states = [state(*row) for row in p.Q]
    if not p.breaks_symmetry and rs.physical.replicon > 0:
        states = ["unresolved" for _ in states]
    out.update(rs_Q=rs.Q.tolist(), rs_q=rs.q.tolist(), rs_free_entropy=rs.free_entropy, rs_replicon=rs.physical.replicon,
               Q=p.Q.tolist(), q=p.q.tolist(), m=p.m if p.breaks_symmetry else None, free_entropy=p.free_entropy,
               residual=p.residual, breaks_symmetry=p.breaks_symmetry,
               locally_stable=p.locally_stable if len(p.longitudinal) else None,   # None: all liquid (RS decides)
               states=states, rs_states=["liquid" if Q < GAP else "frozen" for Q in rs.Q],
               branches=len(sol.solutions))
    return out


def figure(results, depths, kappas, alphas, path):
    colours = {"liquid": 0, "frozen": 1, "glass": 2, "unresolved": 3}
    cmap = matplotlib.colors.ListedColormap(["#d8e8f8", "#7aa6d6", "#c0392b", "#bbbbbb"])
    fig, axes = plt.subplots(len(kappas), len(depths), figsize=(3.2 * len(depths), 2.6 * len(kappas)), squeeze=False)
    for i, kappa in enumerate(kappas):
        for j, depth in enumerate(depths):
            ax = axes[i, j]
            grid = np.full((depth, len(alphas)), np.nan)
            for r in results:
                if r["depth"] == depth and r["kappa"] == kappa and "states" in r:
                    a = alphas.index(r["alpha"])
                    for l, s in enumerate(r["states"]):
                        grid[l, a] = colours[s]
                        Q0, Q1 = r["Q"][l]
                        text = "%.2f" % (Q1 - Q0) if s == "glass" else ""
                        ax.text(a, l, text + ("*" if text and r["locally_stable"] is False else ""), ha="center",
                                va="center", fontsize=6)
            ax.imshow(grid, cmap=cmap, vmin=0, vmax=3, aspect="auto", origin="lower")
            ax.set_xticks(range(len(alphas)), ["%g" % a for a in alphas], fontsize=7)
            ax.set_yticks(range(depth), [str(l) for l in range(1, depth + 1)], fontsize=7)
            ax.set_xlabel(r"$\alpha$")
            ax.set_ylabel("layer $l$ (weights)")
            ax.set_title(r"$L = %d$, $\kappa = %g$" % (depth, kappa), fontsize=9)
    handles = [matplotlib.patches.Patch(color=cmap(k), label=s) for s, k in colours.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8)
    fig.suptitle(r"1RSB per-layer state (text: $Q^{(1)}_l - Q^{(0)}_l$ in glassy layers; *: not a local minimum)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    fig.savefig(path, dpi=130)


def main(depths, kappas, alphas, executor=None, progress=None, replot=False, resume=False):
    path = DOCS / "deep_perceptron_1rsb_phases.json"
    stored = json.loads(path.read_text()) if (replot or resume) and path.exists() else []
    if replot:
        results = stored
    else:
        done = {(r["depth"], r["kappa"], r["alpha"]) for r in stored}
        points = [(L, k, a) for L in depths for k in kappas for a in alphas if (L, k, a) not in done]
        results = stored + parallel.map_points(point, points, "1RSB phase points", executor, progress)
        DOCS.mkdir(exist_ok=True)
        path.write_text(json.dumps(results, indent=1))
    if replot or resume:
        depths = sorted({r["depth"] for r in results})
        kappas = sorted({r["kappa"] for r in results})
        alphas = sorted({r["alpha"] for r in results})
    figure(results, depths, kappas, alphas, DOCS / "deep_perceptron_1rsb_phases.png")
    for r in results:
        if "error" in r:
            print("L=%d kappa=%g alpha=%g: %s" % (r["depth"], r["kappa"], r["alpha"], r["error"]))
            continue
        print("L=%d kappa=%g alpha=%-4g RS %-12s 1RSB %-12s m=%-6s dphi=%.2e" % (
            r["depth"], r["kappa"], r["alpha"], " ".join(s[0] for s in r["rs_states"]),
            " ".join(s[0] for s in r["states"]), "-" if r["m"] is None else "%.3f" % r["m"],
            r["free_entropy"] - r["rs_free_entropy"]))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--kappas", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0, 3.0, 4.0])
    parser.add_argument("--replot", action="store_true", help="redraw the figure from the stored JSON")
    parser.add_argument("--resume", action="store_true", help="solve only the points missing from the stored JSON")
    parallel.add_arguments(parser, "the points")
    args = parser.parse_args()
    executor, progress = parallel.from_arguments(args)
    main(args.depths, args.kappas, args.alphas, executor, progress, args.replot, args.resume)
