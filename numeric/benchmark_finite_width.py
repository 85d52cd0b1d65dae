"""Benchmark of the finite-width tools: exact evaluation time, and Gibbs-sampler throughput.

* exact finite-width evaluation (1-D quadrature over log U) versus depth L and width N, digits P = 200;
* blocked Gibbs sampler of the real network at N = 200, P = 200, L = 3: sweeps per second of the
  rank-one blocked sampler (symbolic_rg.simulate) against a plain NumPy blocked Gibbs sampler of the same
  posterior that redraws each layer row by row (one exact Gaussian conditional per hidden unit), in one run.

    python numeric/benchmark_finite_width.py
"""
import time

import numpy as np

import symbolic_rg as srg
from symbolic_rg.data import digits
from symbolic_rg.simulate import regression_draw, gibbs_deep_linear


def plain_rowwise_gibbs(X, y, widths, sigma2, T, sweeps, seed=0):
    """Textbook blocked Gibbs: each row of each W_l (and the readout) from its exact Gaussian conditional."""
    rng = np.random.default_rng(seed)
    dims = [X.shape[1]] + list(widths)
    L = len(widths)
    Ws = [rng.standard_normal((dims[l + 1], dims[l])) * np.sqrt(sigma2) for l in range(L)]
    a = rng.standard_normal(dims[-1]) * np.sqrt(sigma2)
    scale = 1 / np.sqrt(np.prod(np.array(dims, dtype=float)))
    for _ in range(sweeps):
        for l in range(L):
            Z = X.T
            for W in Ws[:l]:
                Z = W @ Z
            b = a
            for W in reversed(Ws[l + 1:]):
                b = W.T @ b
            for i in range(dims[l + 1]):                 # f = scale * sum_i b_i w_i . z
                rest = scale * (b @ (Ws[l] @ Z) - b[i] * (Ws[l][i] @ Z))
                Ws[l][i] = regression_draw(rng, scale * b[i] * Z.T, y - rest, sigma2, T)
        Z = X.T
        for W in Ws:
            Z = W @ Z
        a = regression_draw(rng, scale * Z.T, y, sigma2, T)


def main():
    d = digits(P=200, P_test=100)
    print("exact finite-width evaluation (digits, P = 200, T = 0.1): seconds per solve")
    print("%6s" % "L" + "".join("%10s" % ("N=%d" % N) for N in (20, 100, 1000)))
    for L in (1, 2, 3, 4):
        ex = srg.derive(srg.deep_linear(L)).compile(method="exact")
        times = []
        for N in (20, 100, 1000):
            t0 = time.perf_counter()
            sol = ex.solve(d.X_train, d.y_train, width=N, T=0.1)
            sol.generalization_error(d.X_test, d.y_test)
            times.append(time.perf_counter() - t0)
        print("%6d" % L + "".join("%10.3f" % t for t in times))

    widths = [200, 200, 200]
    n_fast, n_plain = 200, 3
    t0 = time.perf_counter()
    gibbs_deep_linear(d.X_train, d.y_train, d.X_test, widths, T=0.1, samples=n_fast, burn_in=0, batches=10)
    fast = n_fast / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    plain_rowwise_gibbs(d.X_train, d.y_train, widths, 1.0, 0.1, n_plain)
    plain = n_plain / (time.perf_counter() - t0)
    print("\nGibbs sampler, N = 200, P = 200, L = 3 (digits):")
    print("  rank-one blocked (symbolic_rg.simulate): %8.1f sweeps/s (kernels and test outputs recorded)" % fast)
    print("  plain row-wise blocked, NumPy:           %8.2f sweeps/s" % plain)
    print("  ratio: %.0fx" % (fast / plain))


if __name__ == "__main__":
    main()
