"""How the NTK's finite-width fluctuations grow with depth at criticality: the normalized NTK variance and
NTK-preactivation correlations of one input against the number of layers, theory (``srg.finite_width_ntk``) against
sampled networks of width 128 (``srg.simulate.sample_ntk``), for ReLU (C_W = 2, C_b = 0) and tanh (C_W = 1, C_b = 0).

At criticality the book's result is that these ratios grow linearly with depth, so that L/n, the depth-to-width
aspect ratio, is the expansion parameter of the finite-width network (ch. 8-9); the sampled points test every
layer-to-layer term of the recursions compounded over up to 9 layers.  Per point the largest |z| of the sampled
against the predicted tensors is printed (A, B, D, F, P, Q at one input, 4000 networks; a tensor the theory makes
exactly zero, ReLU's Q, is printed as n times the sampled one instead, what is left at order 1/n^2).

    python numeric/ntk_depth_study.py [--out docs/ntk_depth.png] [--plot-only]
"""

import numpy as np

import symbolic_rg as srg
from figures import command_line, save_and_plot
from symbolic_rg.simulate import ntk_statistics, sample_ntk

X = np.array([[1.0, -0.5, 0.8, 0.3]])            # one input, x.x/n0 = 0.495
CASES = (("relu", 2.0, 0.0), ("tanh", 1.0, 0.0))
DEPTHS, SAMPLED, WIDTH, NETWORKS = 10, (2, 3, 5, 7, 9), 128, 4000
TENSORS = {"A": "ntk_variance_A", "B": "ntk_variance_B", "D": "ntk_preactivation_D", "F": "ntk_preactivation_F",
           "P": "dntk_P", "Q": "dntk_Q"}


def study(spec, C_W, C_b):
    th = srg.finite_width_ntk(spec, X, DEPTHS, WIDTH, C_W, C_b)
    Theta, K = th.ntk[:, 0, 0], th.kernel[:, 0, 0]
    # the plotted ratios: A, B over Theta^2, D, F over K Theta (P and Q are checked against the samples, not plotted)
    norms = {"A": Theta**2, "B": Theta**2, "D": K * Theta, "F": K * Theta}
    theory = {k: (getattr(th, f)[:, 0, 0, 0, 0] / norms[k]).tolist() for k, f in TENSORS.items() if k in norms}
    sampled = []
    for L in SAMPLED:
        st = ntk_statistics(sample_ntk(spec, X, L, WIDTH, C_W, C_b, networks=NETWORKS, seed=L))
        zero = {k for k, f in TENSORS.items() if not np.any(getattr(th, f))}    # ReLU's Q: exactly zero
        z = {k: float(np.max(np.abs(getattr(st, k) - th.scaled(f, L)) / st.stderr[k]))
             for k, f in TENSORS.items() if k not in zero}
        values = {k: float(WIDTH * getattr(st, k)[0, 0, 0, 0] / norms[k][L - 1]) for k in norms}
        errors = {k: float(WIDTH * st.stderr[k][0, 0, 0, 0] / norms[k][L - 1]) for k in norms}
        beside_zero = {k: float(WIDTH * np.max(np.abs(getattr(st, k)))) for k in zero}   # n * |MC|: O(1/n) left
        sampled.append({"L": L, "values": values, "errors": errors, "max_abs_z": z, "n_times_zero_tensors": beside_zero})
        print("  %s L = %d: max |z| %s%s" % (spec, L, {k: round(v, 1) for k, v in z.items()},
                                             "; zero in the theory, n * max |sampled|: %s"
                                             % {k: round(v, 3) for k, v in beside_zero.items()} if zero else ""))
    slopes = {k: float(np.polyfit(np.arange(DEPTHS // 2, DEPTHS + 1), np.array(v)[DEPTHS // 2 - 1:], 1)[0])
              for k, v in theory.items()}
    print("  %s: slope per layer of the normalized tensors over the deeper half: %s"
          % (spec, {k: round(v, 3) for k, v in slopes.items()}))
    return {"activation": spec, "C_W": C_W, "C_b": C_b, "width": WIDTH, "networks": NETWORKS, "theory": theory,
            "sampled": sampled, "slopes": slopes}


def plot(rows, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = {"A": r"$A/\Theta^2$", "B": r"$B/\Theta^2$", "D": r"$D/K\Theta$", "F": r"$F/K\Theta$"}
    fig, axes = plt.subplots(1, len(rows), figsize=(5.2 * len(rows), 4.2))
    for ax, row in zip(np.atleast_1d(axes), rows):
        layers = np.arange(1, DEPTHS + 1)
        for (k, label), color in zip(labels.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
            ax.plot(layers, row["theory"][k], color=color, lw=1.2,
                    label="%s (slope %.2f per layer)" % (label, row["slopes"][k]))
            Ls = [s["L"] for s in row["sampled"]]
            ax.errorbar(Ls, [s["values"][k] for s in row["sampled"]], [2 * s["errors"][k] for s in row["sampled"]],
                        fmt="o", ms=4, color=color, capsize=2)
        ax.set_xlabel("layer L")
        ax.set_title("%s at criticality ($C_W$ = %g, $C_b$ = %g)" % (row["activation"], row["C_W"], row["C_b"]),
                     fontsize=10)
        ax.legend(fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("normalized finite-width tensor (per 1/n)")
    fig.suptitle("NTK fluctuations grow linearly with depth: theory (lines) and %d sampled networks of width %d per "
                 "point (2 s.e.)" % (rows[0]["networks"], rows[0]["width"]), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(out="docs/ntk_depth.png"):
    rows = [study(*case) for case in CASES]
    return save_and_plot(rows, out, plot)


if __name__ == "__main__":
    command_line(__doc__, "docs/ntk_depth.png", main, plot)
