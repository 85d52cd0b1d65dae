"""Trained infinite-width networks: ``srg.trained_output`` against neural-tangents'
``predict.gradient_descent_mse_ensemble`` (gradient flow on half the mean squared error, the mean and covariance of
the test outputs over initializations), ReLU and erf, L = 3 layers, NTK parameterization (W_std^2 = C_W,
b_std^2 = C_b, so lambda_W = C_W, lambda_b = C_b), float64, at t = 0.5, 5, 50 and infinity; prints the largest
difference of mean and covariance (agreement to 1e-10 expected) and the wall time of each.

    python numeric/trained_vs_neural_tangents.py [--P 200] [--P-test 50]
"""
import argparse
import math

import numpy as np

import symbolic_rg as srg
from timing import timed

NT_LAYERS = {"relu": "Relu", "erf": "Erf"}


def main(P=200, P_test=50, L=3, C_W=1.5, C_b=0.1):
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        from neural_tangents import predict, stax
    except Exception as e:            # noqa: BLE001 -- any import failure means: skip the peer
        print("neural-tangents not importable (%s: %s); install the bench extra (README, Performance)"
              % (type(e).__name__, e))
        return
    rng = np.random.default_rng(0)
    X, Xt = rng.standard_normal((P, 20)), rng.standard_normal((P_test, 20))
    y = np.tanh(X[:, 0] + 0.5 * X[:, 1])
    print("P = %d, %d test inputs, L = %d, C_W = %g, C_b = %g" % (P, P_test, L, C_W, C_b))
    for act in ("relu", "erf"):
        dense = lambda: stax.Dense(1, W_std=math.sqrt(C_W), b_std=math.sqrt(C_b), parameterization="ntk")
        layers = [dense()]
        for _ in range(L - 1):
            layers += [getattr(stax, NT_LAYERS[act])(), dense()]
        kernel_fn = stax.serial(*layers)[2]
        for t in (0.5, 5.0, 50.0, np.inf):
            ours = srg.trained_output(act, X, y, Xt, L, C_W, C_b, lambda_b=C_b, lambda_W=C_W, time=t)
            run = lambda: predict.gradient_descent_mse_ensemble(kernel_fn, X, y[:, None])(
                t=None if np.isinf(t) else t, x_test=Xt, get="ntk", compute_cov=True)
            theirs = run()
            mean, cov = np.asarray(theirs.mean)[:, 0], np.asarray(theirs.covariance)
            t_ours, _ = timed(lambda: srg.trained_output(act, X, y, Xt, L, C_W, C_b, lambda_b=C_b, lambda_W=C_W,
                                                         time=t), 3)
            t_nt, _ = timed(run, 3)
            print("  %-4s t = %-5g max |mean diff| %.1e  max |cov diff| %.1e   time: ours %.1f ms, neural-tangents "
                  "%.1f ms (%.1fx)" % (act, t, np.max(np.abs(ours.mean - mean)), np.max(np.abs(ours.covariance - cov)),
                                       1e3 * t_ours, 1e3 * t_nt, t_nt / t_ours))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--P", type=int, default=200)
    p.add_argument("--P-test", type=int, default=50)
    a = p.parse_args()
    main(a.P, a.P_test)
