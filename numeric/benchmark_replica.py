"""Benchmark: a sweep of 200 values of alpha for the depth-6 deep perceptron (teacher scenario, every branch
tracked in both directions) with the compiled engine, against the same equations solved with SciPy (adaptive
``quad``/``dblquad`` of the same stable integrands + ``fsolve``) at a few alphas, per alpha, in the same run.

The SciPy baseline starts ``fsolve`` next to each of the engine's solutions (its best case).  One SciPy gradient
(every integral by adaptive quadrature) takes minutes at depth 6, so the baseline is timed on one gradient per
alpha and multiplied by the number of gradient calls ``fsolve`` makes on the same problem (counted with the
compiled gradient, which has the same equations); both numbers are printed.

    python numeric/benchmark_replica.py [--depth 6] [--points 200] [--baseline-points 3]
"""
import argparse
import time

import numba
import numpy as np
from scipy import integrate, optimize

import symbolic_rg as srg


def scipy_gradient(solver, x, alpha):
    """grad phi in the Newton variables with every integral by SciPy adaptive quadrature (split at 0)."""
    m = solver.module
    P = m.integral_parameters(np.asarray(x, float), 0.0)
    V = []
    for k in range(m.N_INTEGRALS):
        f = getattr(m, "integrand_%d" % k)
        K = m.N_OUTPUTS[k]
        buf = np.zeros(K)
        vals = np.zeros(K)
        d = int(round((np.sqrt(8 * K + 1) - 3) / 2))       # K = 1 + d + d(d+1)/2; fsolve needs value and gradient
        for t in range(1 + d):
            if m.DIMENSIONS[k] == 1:
                g = lambda zz, t=t: np.exp(-zz * zz / 2) / np.sqrt(2 * np.pi) * f(zz, 0.0, P[k], buf)[t]
                vals[t] = sum(integrate.quad(g, a, b, limit=200)[0] for a, b in ((-9.5, 0), (0, 9.5)))
            else:
                g = lambda ww, zz, t=t: np.exp(-(zz * zz + ww * ww) / 2) / (2 * np.pi) * f(zz, ww, P[k], buf)[t]
                vals[t] = sum(integrate.dblquad(g, a, b, -9.5, 9.5)[0] for a, b in ((-9.5, 0), (0, 9.5)))
        V.append(vals)
    typed = numba.typed.List(V)
    out = np.zeros(1 + solver.nx + solver.nx ** 2)
    m.assemble(np.asarray(x, float), float(alpha), 0.0, typed, out)
    return out[1:1 + solver.nx]


def main(depth=6, points=200, baseline_points=3):
    theory = srg.derive(srg.deep_perceptron(depth=depth, scenario="teacher"))
    solver = theory.compile()
    solver.solve(2.0)                                    # compile outside the timing
    alphas = np.linspace(0.5, 12.0, points)
    t0 = time.perf_counter()
    sw = solver.sweep(alphas)
    engine = time.perf_counter() - t0
    print("engine: %d alphas, depth %d, all branches both directions: %.1f s (%.3f s per alpha)"
          % (points, depth, engine, engine / points))
    print("transitions:", sw.transitions())
    picks = np.linspace(0, points - 1, baseline_points).astype(int)
    baseline, calls, per_call = 0.0, 0, []
    for i in picks:
        for s in sw.points[i].solutions:
            x0 = solver.variables.from_theta(s.theta) + 1e-3
            count = [0]

            def compiled(x):
                count[0] += 1
                return solver.evaluate(x, alphas[i])[1]
            optimize.fsolve(compiled, x0, xtol=1e-10)
            calls += count[0]
        t0 = time.perf_counter()                          # one SciPy gradient per alpha, at the physical solution
        s = sw.points[i].physical
        scipy_gradient(solver, solver.variables.from_theta(s.theta) + 1e-3, alphas[i])
        per_call.append(time.perf_counter() - t0)
    baseline = calls * np.mean(per_call) / baseline_points
    print("SciPy quad/dblquad gradient: %.1f s per call (mean of %d); fsolve: %.1f calls per alpha"
          % (np.mean(per_call), len(per_call), calls / baseline_points))
    print("SciPy quad + fsolve: %.0f s per alpha (started next to every solution)" % baseline)
    print("ratio (SciPy / engine, per alpha): %.0fx" % (baseline / (engine / points)))

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--points", type=int, default=200)
    p.add_argument("--baseline-points", type=int, default=3)
    a = p.parse_args()
    main(a.depth, a.points, a.baseline_points)
