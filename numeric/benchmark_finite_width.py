"""Benchmark of the finite-width tools: exact evaluation time, and Gibbs-sampler throughput.

* exact finite-width evaluation (1-D quadrature over log U) versus depth L and width N, digits P = 200;
* blocked Gibbs sampler of the real network at N = 200, P = 200, L = 3: sweeps per second of the
  rank-one blocked sampler (symbolic_rg.simulate) against what an expert writes in NumPy for the same posterior,
  each layer drawn jointly by Matheron's rule (a P x P solve per layer), in one run, with the posterior means of the
  test outputs compared.

    python numeric/benchmark_finite_width.py
"""
import time

import numpy as np

import symbolic_rg as srg
from symbolic_rg.data import digits
from symbolic_rg.simulate import gibbs_deep_linear, jackknife, regression_draw


def matheron_layer_gibbs(X, y, X_test, widths, sigma2, T, sweeps, seed=0):
    """An expert's blocked Gibbs sampler of the same posterior, vectorized: each layer W_l drawn jointly from its
    Gaussian conditional by Matheron's rule.  Given the other layers f = s b^T W_l Z (linear in W_l), so with a prior
    draw W0 and noise e, W = W0 + sigma2 s b (Z c)^T with (sigma2 s^2 |b|^2 Z^T Z + T) c = y - s b^T W0 Z - e:
    a P x P solve per layer.  Records what the engine's sampler records: the test outputs and the layer kernels
    z_l.z_l'/N_l of every sweep."""
    rng = np.random.default_rng(seed)
    dims = [X.shape[1]] + list(widths)
    L = len(widths)
    Ws = [rng.standard_normal((dims[l + 1], dims[l])) * np.sqrt(sigma2) for l in range(L)]
    a = rng.standard_normal(dims[-1]) * np.sqrt(sigma2)
    s = 1 / np.sqrt(np.prod(np.array(dims, dtype=float)))
    P = X.shape[0]
    out = np.empty((sweeps, X_test.shape[0]))
    kernels = np.empty((sweeps, L, P, P))
    for sweep in range(sweeps):
        below = [X.T]
        for W in Ws:
            below.append(W @ below[-1])
        a = regression_draw(rng, s * below[L].T, y, sigma2, T)
        b = a
        for l in range(L - 1, -1, -1):
            Z = below[l]
            W0 = rng.standard_normal(Ws[l].shape) * np.sqrt(sigma2)
            G = sigma2 * s**2 * (b @ b) * (Z.T @ Z) + T * np.eye(P)
            c = np.linalg.solve(G, y - s * (b @ W0) @ Z - np.sqrt(T) * rng.standard_normal(P))
            Ws[l] = W0 + sigma2 * s * np.outer(b, Z @ c)
            b = Ws[l].T @ b
        Zt, Z = X_test.T, X.T
        for l, W in enumerate(Ws):
            Zt, Z = W @ Zt / np.sqrt(dims[l]), W @ Z / np.sqrt(dims[l])
            kernels[sweep, l] = Z.T @ Z / dims[l + 1]
        out[sweep] = a @ Zt / np.sqrt(dims[-1])
    return out, kernels


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
    n_sweeps = 200
    for sampler in (lambda: gibbs_deep_linear(d.X_train, d.y_train, d.X_test, widths, T=0.1, samples=4, burn_in=0,
                                              batches=2),
                    lambda: matheron_layer_gibbs(d.X_train, d.y_train, d.X_test, widths, 1.0, 0.1, 2)):
        sampler()                                        # warm up: compilation and caches out of the timings
    t0 = time.perf_counter()
    engine = gibbs_deep_linear(d.X_train, d.y_train, d.X_test, widths, T=0.1, samples=n_sweeps * 4 // 5,
                               burn_in=n_sweeps // 5, batches=8)
    fast = n_sweeps / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    expert, expert_kernels = matheron_layer_gibbs(d.X_train, d.y_train, d.X_test, widths, 1.0, 0.1, n_sweeps)
    other = n_sweeps / (time.perf_counter() - t0)
    mean, stderr = jackknife(expert[n_sweeps // 5:], 8, lambda s1, s2: s1)          # batch means, after burn-in
    gap = np.abs(engine.mean - mean) / np.hypot(engine.mean_stderr, stderr)
    k_mean, k_stderr = jackknife(expert_kernels[n_sweeps // 5:, -1], 8, lambda s1, s2: s1)
    k_gap = np.abs(engine.layer_kernels[-1] - k_mean) / np.hypot(engine.layer_kernels_stderr[-1], k_stderr)
    print("\nGibbs sampler, N = 200, P = 200, L = 3 (digits):")
    print("  rank-one blocked (symbolic_rg.simulate):  %8.1f sweeps/s (kernels and test outputs recorded)" % fast)
    print("  joint layer draws by Matheron's rule, NumPy: %6.1f sweeps/s" % other)
    print("  ratio: %.2fx; posterior means of the %d test outputs: median |difference| %.2f s.e., largest %.1f; "
          "of the last layer's kernel: median %.2f s.e." % (fast / other, len(gap), np.median(gap), gap.max(),
                                                          np.median(k_gap)))


if __name__ == "__main__":
    main()
