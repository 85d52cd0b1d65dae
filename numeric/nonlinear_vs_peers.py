"""One hidden layer of any activation, side by side with the peers that compute the same thing.

* deepbays 0.1.11 ``FC_1HL`` (erf): the same kernel-renormalization saddle point (its Q / l1 is our u_1); order
  parameter, test bias and variance compared at finite width on full-rank Gaussian inputs (deepbays'
  ``np.linalg.eig`` returns complex eigenvalues on rank-deficient Gram matrices), and the wall time of one solve
  after the data are preprocessed (``python numeric/nonlinear_vs_peers.py``).
* neural-tangents 0.6.5 (``stax.serial(Dense, Erf, Dense)``, NTK parameterization, float64; its ``Erf(a, b, c)`` is
  a erf(b z) + c, here a = b = 1, c = 0): the infinite-width predictor (GP regression on its NNGP kernel at
  temperature T) against ``width=np.inf``; the difference is printed and must be below 1e-10.

Peers that are not installed are skipped with the reason (README, Performance: how to install them).

    python numeric/nonlinear_vs_peers.py [--P 200] [--N0 300]
"""
import argparse
import math
import time

import numpy as np

import symbolic_rg as srg
from benchmark_deep_linear import deepbays_model
from timing import timed


def neural_tangents_gp(X, y, Xt, s1, sa, T):
    """neural-tangents' GP posterior mean and variance at the rows of Xt, or the reason it is unavailable."""
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        from neural_tangents import stax
    except Exception as e:            # noqa: BLE001 -- any import failure means: skip the peer
        return None, "neural-tangents not importable (%s: %s)" % (type(e).__name__, e)
    _, _, kernel_fn = stax.serial(stax.Dense(1, W_std=math.sqrt(s1), parameterization="ntk"), stax.Erf(),
                                  stax.Dense(1, W_std=math.sqrt(sa), parameterization="ntk"))
    K = np.asarray(kernel_fn(X, None, "nngp"))
    Kt = np.asarray(kernel_fn(Xt, X, "nngp"))
    ktt = np.diag(np.asarray(kernel_fn(Xt, None, "nngp")))
    A = K + T * np.eye(len(y))
    return (Kt @ np.linalg.solve(A, y), ktt - np.sum(Kt * np.linalg.solve(A, Kt.T).T, axis=1)), None


def main(P=200, N0=300, widths=(50, 200, 1000), Ts=(0.01, 0.1), s1=1.0, sa=1.0):
    rng = np.random.default_rng(3)                      # Gaussian inputs (full rank for N_0 >= P), linear teacher
    Xall = rng.standard_normal((P + 200, N0))
    yall = Xall @ rng.standard_normal(N0) / np.sqrt(N0) + 0.1 * rng.standard_normal(P + 200)
    X, Xt, y, yt = Xall[:P], Xall[P:], yall[:P], yall[P:]
    solver = srg.derive(srg.deep_nonlinear(1, "erf")).compile()
    print("erf, one hidden layer, P = %d, N_0 = %d, sigma_1^2 = %g, sigma_a^2 = %g" % (P, N0, s1, sa))

    for T in Ts:
        ours = solver.solve(X, y, width=np.inf, sigma2=[s1, sa], T=T).predict(Xt)
        nt, why = neural_tangents_gp(X, y, Xt, s1, sa, T)
        if nt is None:
            print("  neural-tangents skipped: %s" % why)
            break
        d = max(np.max(np.abs(a - b)) for a, b in zip(ours, nt))
        print("  infinite width, T = %g: predictor mean and variance against neural-tangents' GP: max |diff| = %.2g%s"
              % (T, d, "" if d < 1e-10 else "  (ABOVE 1e-10)"))

    rkgp, why = deepbays_model()
    if rkgp is None:
        print("  deepbays skipped: %s" % why)
        return
    for N in widths:
        for T in Ts:
            sol = solver.solve(X, y, width=N, sigma2=[s1, sa], T=T)
            t_ours, _ = timed(lambda: solver.solve(X, y, width=N, sigma2=[s1, sa], T=T), 5)
            eg = sol.generalization_error(Xt, yt)
            model = rkgp.FC_1HL(N, T, l0=1 / s1, l1=1 / sa, act="erf")
            model.preprocess(X, y)
            t0 = time.perf_counter()
            model.optimize(1.0)
            t_db = time.perf_counter() - t0
            model.predict(Xt)
            _, bias, variance = model.averageLoss(yt)
            u_db = model.optQ / model.l1
            print("  N = %4d, T = %-4g  u: ours %.10f deepbays %.10f (rel. diff %.1e)  bias diff %.1e  variance "
                  "diff %.1e   solve: ours %.2f ms, deepbays %.1f ms (%.0fx)"
                  % (N, T, sol.order_parameters[0], u_db, abs(u_db / sol.order_parameters[0] - 1),
                     abs(bias - eg.bias), abs(variance - eg.variance), 1e3 * t_ours, 1e3 * t_db, t_db / t_ours))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--P", type=int, default=200)
    p.add_argument("--N0", type=int, default=300)
    a = p.parse_args()
    main(a.P, a.N0)
