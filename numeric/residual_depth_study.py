"""Residual networks at criticality: how the normalized vertex V/K^2 (the finite-width fluctuation of the kernel,
per 1/n) grows with depth, with and without shortcuts.

z' = xi z + gamma [b + W sigma(z)] (``srg.kernel_recursion``/``srg.finite_width`` with ``xi``, ``gamma``; xi the
shortcut's weight, gamma the residual branch's, as the issue states the book's residual MLP), at the critical point
of ``residual_criticality`` (gamma = 1), for tanh (K* = 0 class) and abs (scale-invariant; ReLU's residual vertex
needs a three-point function that is not implemented, abs is its even counterpart), xi^2 = 0, 0.5, 0.8, 0.9: the
recursion for one input (lines), the asymptotic slope nu of V/K^2 ~ nu L (legend: (1 - xi^2)^2 nu_plain + 4 xi^2
(1 - xi^2), over 3 in the K* = 0 class) and random finite networks of width 64 (points, 4000 networks, 2 s.e.).

    python numeric/residual_depth_study.py [--out docs/residual_depth_study.png]
"""

import numpy as np

import symbolic_rg as srg
from figures import command_line, save_and_plot
from symbolic_rg.pdlt import depth_scaling, residual_criticality
from symbolic_rg.simulate import prior_network_statistics

XI2 = (0.0, 0.5, 0.8, 0.9)
DEPTHS, SAMPLED, WIDTH = 64, (4, 8, 16, 32), 64


def main(out="docs/residual_depth_study.png"):
    x = np.array([[1.0, -0.4, 0.7, 0.2]])
    rows = []
    for spec in ("tanh", "abs"):
        for xi2 in XI2:
            xi = float(np.sqrt(xi2))
            c = residual_criticality(spec, xi)
            scale = 1.0 if spec == "abs" else 0.5         # K^(1) = 1 (scale-invariant) or 0.5 (flows to K* = 0)
            X = x / np.sqrt(np.sum(x**2) / x.shape[1]) * np.sqrt(scale / c.C_W)
            fw = srg.finite_width(spec, X, DEPTHS, WIDTH, C_W=c.C_W, C_b=c.C_b, xi=xi)
            ratio = fw.vertex[:, 0, 0, 0, 0] / fw.kernel[:, 0, 0]**2
            nu = depth_scaling(spec, xi=xi)
            sims = []
            for L in SAMPLED:
                st = prior_network_statistics(spec, X, L, WIDTH, C_W=c.C_W, C_b=c.C_b, networks=4000, xi=xi, seed=L)
                K = st.kernel[0, 0]
                sims.append({"depth": L, "V_over_K2": float(st.connected[0, 0, 0, 0] * WIDTH / K**2),
                             "error": float(st.connected_stderr[0, 0, 0, 0] * WIDTH / K**2),
                             "theory": float(ratio[L - 1])})
            rows.append({"activation": spec, "xi2": xi2, "C_W": c.C_W, "nu": nu.nu, "nu_recursion": nu.nu_recursion,
                         "ratio": ratio.tolist(), "sampled": sims})
            print("%-4s xi^2 = %.1f  C_W = %.4f  nu = %.4f (recursion %.4f)  V/K^2 at L = 64: %.3f   sampled (n = %d): %s"
                  % (spec, xi2, c.C_W, nu.nu, nu.nu_recursion, ratio[-1], WIDTH,
                     ", ".join("L=%d %.3f±%.3f (theory %.3f)" % (s["depth"], s["V_over_K2"], s["error"], s["theory"])
                               for s in sims)), flush=True)
    save_and_plot(rows, out, plot)


def plot(rows, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, spec in zip(axes, ("tanh", "abs")):
        for r, color in zip([r for r in rows if r["activation"] == spec], ("C0", "C1", "C2", "C3")):
            L = np.arange(1, len(r["ratio"]) + 1)
            ax.plot(L, r["ratio"], color=color, label="xi^2 = %.1f (nu = %.3f)" % (r["xi2"], r["nu"]))
            s = r["sampled"]
            ax.errorbar([p["depth"] for p in s], [p["V_over_K2"] for p in s], yerr=[2 * p["error"] for p in s],
                        fmt="o", color=color, capsize=3)
        ax.set_xlabel("depth L")
        ax.set_ylabel("V / K^2 (one input)")
        ax.set_title("%s at criticality, residual z' = xi z + [b + W sigma(z)]" % spec, fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    command_line(__doc__, "docs/residual_depth_study.png", main, plot)
