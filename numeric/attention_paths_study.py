"""Attention paths: which pairs of paths the order parameter weights, and the theory against the real networks
(issue 38, items 2 and 4).

Network: `srg.attention_network(5, 8, depth=2, heads=2, readout="first")` (a token projection, two attention layers
of two heads with frozen softmax attention maps, four attention paths), T = 0.01, P = 40 Gaussian sequences; a
teacher that reads paths 1 and 2 (f* = w.(x w_1) + w.(x w_2)/2).

(a) V_1 over path pairs relative to its infinite-width value (the identity): theory at N = 10 next to the sampled
    E^T E (effective readout weights along paths, exact blocked Gibbs, 8000 sweeps): the two teacher paths are
    coupled (path interplay), the others stay near their prior.
(b) Generalization error against the width N (all layers): the saddle point, its GP (N = inf) and exact Gibbs
    sampling of the real network with 1 s.e. bars.
(c) |V_1 - E^T E| / |V_1| against N: the saddle point's O(1/N) error, with a 1/N guide.
(d) Digits as sequences of their 8 pixel rows, even vs odd, P = 100, readout of the mean over tokens, N = 20, T = 0.5:
    V_1.

    python numeric/attention_paths_study.py [--out docs/attention_paths_study.png] [--quick] [--plot-only]

(about 3 minutes on one core; ``--quick`` is a smoke test with fewer sweeps.)
"""
import argparse
import json
import pathlib
import time

import numpy as np

import symbolic_rg as srg
from symbolic_rg.attention import path_vectors

WIDTHS = (10, 20, 40, 80, 160, 320)
SAMPLED = (10, 30, 60)


def task():
    rng = np.random.default_rng(0)
    tok = srg.Tokens.of(5, 8, "first")
    X, Xt = rng.standard_normal((40, 40)), rng.standard_normal((200, 40))
    solver = srg.derive(srg.attention_network(5, 8, 2, 2, "first")).compile()
    maps = solver.attention_maps()
    paths = lambda A: path_vectors(tok.split(A), [m(tok.split(A)) for m in maps], tok.readout_vector)
    w = rng.standard_normal(8)
    teach = lambda A: paths(A)[:, 1] @ w + 0.5 * paths(A)[:, 2] @ w
    return tok, maps, solver, X, teach(X), Xt, teach(Xt)


def run(quick):
    tok, maps, solver, X, y, Xt, yt = task()
    T = 0.01
    gp = solver.solve(X, y, np.inf, T=T)
    prior = np.mean(np.diag(gp.order_parameters[0]))
    out = {"widths": list(WIDTHS), "theory": [], "gp": gp.generalization_error(Xt, yt).total, "sampled": []}
    for N in WIDTHS:
        out["theory"].append(solver.solve(X, y, [N] * 3, T=T).generalization_error(Xt, yt).total)
    for N in SAMPLED[:2] if quick else SAMPLED:
        sol = solver.solve(X, y, [N] * 3, T=T)
        t0 = time.time()
        mc = srg.simulate.gibbs_attention(X, y, Xt, tok, maps, [N] * 3, 1.0, T, samples=600 if quick else 8000,
                                          burn_in=100 if quick else 800, seed=N)
        (eg, _, _), (se, _, _) = mc.generalization_error(yt)
        V, O = sol.order_parameters[0], mc.diagnostics["path_overlap"]
        theory = sol.generalization_error(Xt, yt).total
        row = {"N": N, "theory": theory, "simulation": float(eg), "stderr": float(se),
               "deviation": float((theory - eg) / se), "V": (V / prior).tolist(), "sampled_V": (O / prior).tolist(),
               "V_relative_error": float(np.max(np.abs(V - O)) / np.max(np.abs(V))), "seconds": time.time() - t0}
        out["sampled"].append(row)
        print("N=%-3d theory %.5f  Gibbs %.5f +- %.5f (%+.1f s.e.)  |V - E^T E|/|V| = %.3f  (%.0f s)"
              % (N, theory, eg, se, row["deviation"], row["V_relative_error"], row["seconds"]))
    d = srg.data.digits(P=100, P_test=300, seed=0, images=True)
    dsol = srg.derive(srg.attention_network(8, 8, 2, 2)).compile().solve(d.X_train, d.y_train, [20] * 3, T=0.5)
    out["digits"] = {"V": dsol.position_weights.tolist(),
                     "generalization_error": dsol.generalization_error(d.X_test, d.y_test).total}
    print("GP %.5f; digits rows, N = 20: generalization error %.4f"
          % (out["gp"], out["digits"]["generalization_error"]))
    return out


def plot(result, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.2), gridspec_kw={"width_ratios": [1, 1, 1.3, 1.1, 1]})
    first = result["sampled"][0]
    labels = ["(%d,%d)" % (p // 2 + 1, p % 2 + 1) for p in range(4)]
    vmax = max(np.max(first["V"]), np.max(first["sampled_V"]))
    for ax, key, title in ((axes[0], "V", "theory"), (axes[1], "sampled_V", "exact Gibbs")):
        im = ax.imshow(np.array(first[key]), cmap="viridis", vmin=0, vmax=vmax)
        ax.set_xticks(range(4), labels)
        ax.set_yticks(range(4), labels)
        ax.set_title("V_1 / prior over path pairs (h3,h2), N = %d:\n%s" % (first["N"], title), fontsize=9)
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    ax = axes[2]
    ax.semilogx(result["widths"], result["theory"], "o-", color="C3", label="saddle point")
    ax.axhline(result["gp"], color="C0", ls="--", label="GP (N = inf)")
    for r in result["sampled"]:
        ax.errorbar(r["N"], r["simulation"], r["stderr"], fmt="o", color="k", capsize=3,
                    label="exact Gibbs" if r is first else None)
    ax.set_xlabel("width N (all layers)")
    ax.set_ylabel("generalization error")
    ax.set_title("teacher on paths 1 and 2, P = 40, T = 0.01", fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[3]
    Ns = np.array([r["N"] for r in result["sampled"]])
    errs = np.array([r["V_relative_error"] for r in result["sampled"]])
    ax.loglog(Ns, errs, "o-", color="k", label="|V_1 - E^T E| / |V_1|")
    ax.loglog(Ns, errs[0] * Ns[0] / Ns, "--", color="gray", label="1/N")
    ax.set_xlabel("width N")
    ax.set_title("saddle point vs sampled order parameter", fontsize=9)
    ax.legend(fontsize=8)
    im = axes[4].imshow(np.array(result["digits"]["V"]), cmap="viridis")
    axes[4].set_xticks(range(4), labels)
    axes[4].set_yticks(range(4), labels)
    axes[4].set_title("digits rows (8 tokens), mean readout,\nN = 20, T = 0.5: V_1 / prior", fontsize=9)
    fig.colorbar(im, ax=axes[4], fraction=0.046)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(out="docs/attention_paths_study.png", quick=False, plot_only=False):
    path = pathlib.Path(out).with_suffix(".json")
    if plot_only:
        result = json.loads(path.read_text())
    else:
        result = run(quick)
        if not quick:
            path.write_text(json.dumps(result, indent=1))
    plot(result, out)
    print("wrote", out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/attention_paths_study.png")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot-only", action="store_true")
    a = parser.parse_args()
    main(a.out, a.quick, a.plot_only)
