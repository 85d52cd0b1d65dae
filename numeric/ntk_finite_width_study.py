"""The finite-width NTK against random networks: the NTK's mean correction, its variance (A, B), its correlation with
the preactivations (D, F) and the dNTK's (P, Q), from ``srg.finite_width_ntk``, against the empirical NTK and dNTK of
sampled networks (``srg.simulate.sample_ntk``: exact backpropagation and Hessian-vector products), ReLU, tanh and GELU,
three layers, two inputs, hidden widths n = 32..512.

Each statistic of a network is its 1/n coefficient over n plus O(1/n^2).  Per tensor component the script fits
n * (Monte Carlo) = T + c/n over the widths (weighted least squares, jackknife errors) and compares the intercept T
with the theory's coefficient (z-score; the largest over the 16 components of each tensor is printed), and checks
each width directly.  The figure shows the 1/n slope: |statistic| against n on log-log axes, the theory's
coefficient / n as lines, and each statistic's exponent fitted freely (|statistic| = a n^-p; printed, and in the
legend).

    python numeric/ntk_finite_width_study.py [--out docs/ntk_finite_width.png] [--plot-only]
"""
import time

import numpy as np

import symbolic_rg as srg
from figures import command_line, save_and_plot
from symbolic_rg.simulate import ntk_statistics, sample_ntk

X = np.array([[1.0, 0.0, 0.5], [0.3, 0.9, -0.4]])
CASES = (("relu", 2.0, 0.1), ("tanh", 1.5, 0.1), ("gelu", 1.5, 0.1))      # activation, C_W, C_b
DEPTH, LAMBDA_B, LAMBDA_W = 3, 0.5, 1.0
WIDTHS = (32, 64, 128, 256, 512)
TENSORS = {"A": "ntk_variance_A", "B": "ntk_variance_B", "D": "ntk_preactivation_D", "F": "ntk_preactivation_F",
           "P": "dntk_P", "Q": "dntk_Q"}


def networks(n):
    """Networks per width: 16000 up to n = 128, then fewer (the cost grows like n^2)."""
    return 16000 if n <= 128 else (8000 if n == 256 else 4000)


def fit(n, y, s):
    """Weighted least squares of y = T + c/n: (T, its standard error)."""
    A = np.stack([np.ones_like(n), 1 / n], axis=1) / s[:, None]
    cov = np.linalg.inv(A.T @ A)
    coef = cov @ A.T @ (y / s)
    return coef[0], np.sqrt(cov[0, 0])


def exponent(row, k, idx):
    """Weighted least squares of log|statistic| = log a - p log n over the widths: (p, its standard error), or None
    where the statistic changes sign within the widths (too small to fit)."""
    n = np.array([w["n"] for w in row["widths"]], float)
    y = np.array([np.array(w["values"][k])[idx] for w in row["widths"]]) / n
    e = np.array([np.array(w["errors"][k])[idx] for w in row["widths"]]) / n
    if not (np.all(y > 0) or np.all(y < 0)):
        return None
    weight = np.abs(y) / e
    A = np.stack([np.ones_like(n), -np.log(n)], axis=1) * weight[:, None]
    cov = np.linalg.inv(A.T @ A)
    return float((cov @ A.T @ (np.log(np.abs(y)) * weight))[1]), float(np.sqrt(cov[1, 1]))


def study(spec, C_W, C_b):
    th = srg.finite_width_ntk(spec, X, DEPTH, WIDTHS[0], C_W, C_b, LAMBDA_B, LAMBDA_W)
    L = DEPTH
    theory = {k: getattr(th, f)[L - 1] for k, f in TENSORS.items()}
    theory["T1"] = th.ntk_correction[L - 1]
    per_width = []
    for n in WIDTHS:
        t = time.time()
        st = ntk_statistics(sample_ntk(spec, X, L, n, C_W, C_b, LAMBDA_B, LAMBDA_W, networks=networks(n), seed=n))
        values = {k: n * getattr(st, k) for k in TENSORS}
        errors = {k: n * st.stderr[k] for k in TENSORS}
        values["T1"] = n * (st.mean_ntk - th.ntk[L - 1])
        errors["T1"] = n * st.stderr["mean_ntk"]
        direct = {k: float(np.max(np.abs(values[k] - theory[k]) / errors[k])) for k in theory}
        per_width.append({"n": n, "networks": networks(n), "seconds": round(time.time() - t, 1),
                          "values": {k: v.tolist() for k, v in values.items()},
                          "errors": {k: v.tolist() for k, v in errors.items()}, "direct_max_z": direct})
        print("  %s n = %3d: %5d networks, %5.1f s, direct max |z| %s" % (
            spec, n, networks(n), time.time() - t, {k: round(v, 1) for k, v in direct.items()}))
    ns = np.array(WIDTHS, float)
    extrapolated = {}
    for k in theory:
        y = np.array([w["values"][k] for w in per_width])
        s = np.array([w["errors"][k] for w in per_width])
        T, se = np.empty(theory[k].shape), np.empty(theory[k].shape)
        for idx in np.ndindex(theory[k].shape):
            T[idx], se[idx] = fit(ns, y[(slice(None),) + idx], s[(slice(None),) + idx])
        z = (T - theory[k]) / se
        extrapolated[k] = {"intercept": T.tolist(), "stderr": se.tolist(), "max_z": float(np.max(np.abs(z)))}
    print("  %s extrapolated to n -> inf, max |z| over components: %s" % (
        spec, {k: round(v["max_z"], 2) for k, v in extrapolated.items()}))
    return {"activation": spec, "C_W": C_W, "C_b": C_b, "depth": L, "lambda_b": LAMBDA_B, "lambda_W": LAMBDA_W,
            "theory": {k: v.tolist() for k, v in theory.items()}, "widths": per_width, "extrapolated": extrapolated}


def plot(rows, out):
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(rows), figsize=(4.6 * len(rows), 4.2), sharey=False)
    labels = {"B": r"$B_{\alpha\alpha\alpha\alpha}$", "A": r"$A_{(\alpha\alpha)(\alpha\alpha)}$",
              "D": r"$D_{\alpha\alpha\alpha\alpha}$", "F": r"$F_{\alpha\alpha\alpha\alpha}$",
              "P": r"$P_{\alpha\alpha\alpha\alpha}$", "Q": r"$Q_{\alpha\alpha\alpha\alpha}$",
              "T1": r"$\Theta^{\{1\}}_{\alpha\beta}$"}
    for ax, row in zip(np.atleast_1d(axes), rows):
        ns = np.array([w["n"] for w in row["widths"]], float)
        grid = np.geomspace(ns[0] / 1.2, ns[-1] * 1.2, 50)
        for (k, label), color in zip(labels.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
            idx = (0, 1) if k == "T1" else (0, 0, 0, 0)
            coef = np.array(row["theory"][k])[idx]
            if abs(coef) < 1e-12:                       # ReLU's Q: zero at order 1/n, what is sampled is 1/n^2
                fitted = exponent(row, k, idx)
                print("  %s %s: zero in the theory; sampled, fitted exponent %.3f +- %.3f" % ((row["activation"], k)
                                                                                           + fitted))
                continue
            sign = np.sign(coef)
            fitted = exponent(row, k, idx)
            print("  %s %s: fitted exponent %s" % (row["activation"], k, "%.3f +- %.3f" % fitted if fitted
                                                     else "none (the statistic changes sign over the widths)"))
            y = np.array([np.array(w["values"][k])[idx] for w in row["widths"]]) * sign / ns
            e = np.array([np.array(w["errors"][k])[idx] for w in row["widths"]]) / ns
            ax.plot(grid, abs(coef) / grid, color=color, lw=1)
            ax.errorbar(ns, y, 2 * e, fmt="o", ms=3.5, color=color, capsize=2,
                        label="%s%s (z = %.1f, %s)" % ("" if sign > 0 else "−", label, row["extrapolated"][k]["max_z"],
                                                       "n^-%.2f" % fitted[0] if fitted else "no fit"))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks(ns, [str(int(n)) for n in ns])
        ax.set_xlabel("hidden width n")
        ax.set_title("%s, L = %d, $C_W$ = %g, $C_b$ = %g" % (row["activation"], row["depth"], row["C_W"], row["C_b"]),
                     fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
    np.atleast_1d(axes)[0].set_ylabel("statistic of the last layer (per network)")
    fig.suptitle("Finite-width NTK and dNTK statistics: theory coefficient / n (lines) against sampled networks "
                 "(points, 2 s.e.);\nz: largest deviation over the tensor's components of the intercept of "
                 "n·MC = T + c/n from the theory", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(out="docs/ntk_finite_width.png"):
    rows = [study(*case) for case in CASES]
    return save_and_plot(rows, out, plot)


if __name__ == "__main__":
    command_line(__doc__, "docs/ntk_finite_width.png", main, plot)
