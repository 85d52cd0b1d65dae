"""Convolutional networks at infinite width, side by side with neural-tangents (issue 38, item 2).

The saddle point of ``srg.cnn`` at width ``np.inf`` (every order parameter at its prior mean) is GP regression
with the kernel of ``stax.serial(Conv(VALID), [activation], Flatten | GlobalAvgPool, Dense)`` (standard
parameterization, W_std^2 = sigma^2, no biases, float64).  For every case the script prints the largest relative
difference of the training kernel and of the GP predictor mean and variance on test inputs, and fails (exit 1) if
one exceeds 1e-10.  Digits as 8 x 8 images (2-D) and 1-D signals (neural-tangents: images of height 1).

    /path/to/venv-with-neural-tangents/bin/python numeric/cnn_vs_neural_tangents.py [--json docs/cnn_vs_nt.json]
"""
import argparse
import json
import math
import sys

import numpy as np

import symbolic_rg as srg

ACTIVATIONS = ("linear", "relu", "erf")


def neural_tangents_kernels(shape, filter, stride, activation, pooled, s1, sa):
    """``kernel_fn`` of the network, or the reason neural-tangents is unavailable."""
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        from neural_tangents import stax
    except Exception as e:            # noqa: BLE001 -- any import failure means: skip the peer
        return None, "neural-tangents not importable (%s: %s)" % (type(e).__name__, e)
    act = {"linear": [], "relu": [stax.Relu()], "erf": [stax.Erf()]}[activation]
    conv = stax.Conv(1, filter, stride, padding="VALID", W_std=math.sqrt(s1), b_std=None,
                     parameterization="standard")
    head = stax.GlobalAvgPool() if pooled else stax.Flatten()
    _, _, kernel_fn = stax.serial(conv, *act, head, stax.Dense(1, W_std=math.sqrt(sa), b_std=None,
                                                               parameterization="standard"))
    return kernel_fn, None


def case(X, y, Xt, shape, filter, stride, activation, pooled, s1=1.3, sa=0.8, T=0.1):
    shape2 = shape if len(shape) == 2 else (1,) + tuple(shape)
    f2 = filter if len(filter) == 2 else (1,) + tuple(filter)
    st2 = stride if len(stride) == 2 else (1,) + tuple(stride)
    kernel_fn, why = neural_tangents_kernels(shape2, f2, st2, activation, pooled, s1, sa)
    if kernel_fn is None:
        return None, why
    img = lambda A: A.reshape((len(A),) + shape2 + (1,))
    K = np.asarray(kernel_fn(img(X), None, "nngp"))
    Kt = np.asarray(kernel_fn(img(Xt), img(X), "nngp"))
    ktt = np.diag(np.asarray(kernel_fn(img(Xt), None, "nngp")))
    A = K + T * np.eye(len(y))
    mean, var = Kt @ np.linalg.solve(A, y), ktt - np.sum(Kt * np.linalg.solve(A, Kt.T).T, axis=1)
    sol = srg.derive(srg.cnn(shape, filter, stride, activation=activation, pooled=pooled)).compile().solve(
        X, y, np.inf, T=T, sigma2=[s1, sa])
    m, v = sol.predict(Xt)
    rel = lambda a, b: float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    return {"shape": list(shape), "filter": list(filter), "stride": list(stride), "activation": activation,
            "pooled": pooled, "kernel": rel(sol.kernel, K), "mean": rel(m, mean), "variance": rel(v, var)}, None


def main(out=None):
    d = srg.data.digits(P=60, P_test=40, images=True)
    rng = np.random.default_rng(0)
    X1, Xt1 = rng.standard_normal((50, 20)), rng.standard_normal((30, 20))
    y1 = np.sin(X1[:, :5].sum(1))
    rows, worst = [], 0.0
    for activation in ACTIVATIONS:
        for pooled in (False, True):
            for X, y, Xt, shape, f, s in ((d.X_train, d.y_train, d.X_test, (8, 8), (4, 4), (2, 2)),
                                          (d.X_train, d.y_train, d.X_test, (8, 8), (3, 3), (1, 1)),
                                          (X1, y1, Xt1, (20,), (5,), (3,))):
                row, why = case(X, y, Xt, shape, f, s, activation, pooled)
                if row is None:
                    print("skipped:", why)
                    return 0
                rows.append(row)
                worst = max(worst, row["kernel"], row["mean"], row["variance"])
                print("%-6s %-6s shape %-7s filter %-6s stride %-6s  kernel %.1e  mean %.1e  variance %.1e"
                      % (activation, "pool" if pooled else "flat", "x".join(map(str, shape)),
                         "x".join(map(str, f)), "x".join(map(str, s)), row["kernel"], row["mean"], row["variance"]))
    print("largest relative difference: %.2e (must be < 1e-10)" % worst)
    if out:
        with open(out, "w") as fh:
            json.dump({"rows": rows, "largest_relative_difference": worst}, fh, indent=1)
    return 0 if worst < 1e-10 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json")
    sys.exit(main(parser.parse_args().json))
