"""Benchmark: infinite-width kernel + NTK recursions for P inputs and L layers, the engine's compiled
recursion (symbolic_rg.pdlt.kernel_recursion: closed forms compiled with Numba, parallel over pairs; where
there is no closed form, the Mehler series of symbolic_rg.two_point.HermiteSeries: per-input Hermite coefficients,
one compiled sum per pair, with a stated error bound) against the same recursion written with NumPy and
scipy quadrature (Gauss--Hermite nodes from scipy.special, all pairs vectorised per layer).

The baseline is timed on its first `--baseline-layers` layers and scaled to L (every layer does the same
work); both run in this process, and the printed ratio is baseline / engine.  Accuracy of both is printed
against the engine's closed form (ReLU) or its series (tanh: bound printed; the series is checked against the
per-pair trapezoidal rule and the erf closed form in tests/test_pdlt.py).

    python numeric/benchmark_pdlt.py [--P 1000] [--L 50] [--activation relu] [--nodes 24]
"""
import argparse
import time

import numpy as np
from scipy.special import roots_hermitenorm

from symbolic_rg.activations import activation, numeric
from symbolic_rg.pdlt import GaussianAverages, kernel_recursion

import sympy as sp


def baseline(spec, X, depth, C_W, C_b, nodes):
    """NumPy + scipy Gauss--Hermite: <s s> and <s' s'> for all pairs at once, layer by layer."""
    sig = activation(spec)
    f, df = numeric(sig), numeric(sp.diff(sig, sp.Symbol("z", real=True)))
    t, w = roots_hermitenorm(nodes)
    w = w / w.sum()
    K = C_b + C_W * X @ X.T / X.shape[1]
    T = 1.0 + X @ X.T / X.shape[1]
    iu = np.triu_indices(len(X))
    for _ in range(depth - 1):
        k11, k22, k12 = np.diag(K)[iu[0]], np.diag(K)[iu[1]], K[iu]
        a = np.sqrt(k11)
        b = k12 / a
        c = np.sqrt(np.clip(k22 - b * b, 0, None))
        z1 = a[:, None, None] * t[None, :, None]
        z2 = b[:, None, None] * t[None, :, None] + c[:, None, None] * t[None, None, :]
        W = w[:, None] * w[None, :]
        ss = np.einsum("pij,ij->p", f(z1) * f(z2), W)
        dd = np.einsum("pij,ij->p", df(z1) * df(z2), W)
        Kn, Tn = np.empty_like(K), np.empty_like(T)
        Kn[iu] = C_b + C_W * ss
        Tn[iu] = 1.0 + ss + C_W * dd * T[iu]
        K = np.triu(Kn) + np.triu(Kn, 1).T
        T = np.triu(Tn) + np.triu(Tn, 1).T
    return K, T


def main(P=1000, L=50, spec="relu", nodes=24, baseline_layers=2, C_W=None):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((P, 30))
    C_W = C_W or (2.0 if spec == "relu" else 1.0)
    av = GaussianAverages(spec)
    kernel_recursion(spec, X[:4], 2, C_W=C_W, averages=av)               # compile outside the timing
    t0 = time.perf_counter()
    rec = kernel_recursion(spec, X, L, C_W=C_W, averages=av, layers="last")
    engine = time.perf_counter() - t0
    t0 = time.perf_counter()
    Kb, Tb = baseline(spec, X, baseline_layers + 1, C_W, 0.0, nodes)
    base = (time.perf_counter() - t0) * (L - 1) / baseline_layers
    ref = kernel_recursion(spec, X, baseline_layers + 1, C_W=C_W, averages=av, layers="last")
    err = np.max(np.abs(Kb - ref.kernels[0])) / np.max(np.abs(ref.kernels[0]))
    print("activation %s (closed form: %s), P = %d, L = %d" % (spec, av.closed_forms["sigma sigma"] is not None, P, L))
    print("engine (Numba, %s):   %8.2f s   quadrature error estimate %.1e"
          % ("closed form" if av.closed_forms["sigma sigma"] is not None else "Mehler series", engine,
             rec.quadrature_error))
    print("NumPy + scipy GH(%d):  %8.2f s   (timed on %d layers, scaled to %d); relative error %.1e after %d layers"
          % (nodes, base, baseline_layers, L - 1, err, baseline_layers))
    print("ratio baseline / engine: %.1f x" % (base / engine))
    return base / engine


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--P", type=int, default=1000)
    p.add_argument("--L", type=int, default=50)
    p.add_argument("--activation", default="relu")
    p.add_argument("--nodes", type=int, default=24)
    p.add_argument("--baseline-layers", type=int, default=2)
    a = p.parse_args()
    main(a.P, a.L, a.activation, a.nodes, a.baseline_layers)
