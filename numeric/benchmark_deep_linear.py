"""Benchmark: compiled sweep of the deep-linear saddle point against SciPy and SymPy on the same equations.

P = 1000 digits, L = 3, 400 temperatures.  All ratios are measured in this one run:
* the Numba sweep (warm-started, parallel chunks, lowest-H branch check) versus scipy.optimize.fsolve on
  the same residuals and Jacobian generated as NumPy code, warm-started along the grid;
* versus sympy.nsolve on the same symbolic equations with the P terms written out, timed on one
  temperature in a subprocess with a time budget (if nsolve exceeds it, the ratio is a lower bound),
  scaled to the grid;
* time to the first solve in a fresh process whose compile cache is warm (target < 2 s).

    python numeric/benchmark_deep_linear.py [--P 1000] [--points 400] [--nsolve-budget 120]
"""
import argparse
import subprocess
import sys
import time
import types

import numpy as np
import sympy as sp

import symbolic_rg as srg
from symbolic_rg.kernel import codegen
from symbolic_rg.data import digits
from symbolic_rg.kernel import SpectralData, parameter_grid
from symbolic_rg.symbols import eigenvalue, label, mode

WIDTHS, SIGMA2 = [200, 100, 300], 1.0


def numpy_module(theory):
    module = types.ModuleType("srg_numpy_bench")
    exec(compile(codegen.source(theory, "numpy"), "<numpy>", "exec"), module.__dict__)
    return module


def fsolve_sweep(theory, data, Ts):
    from scipy.optimize import fsolve
    mod = numpy_module(theory)
    L = theory.depth
    grid, _ = parameter_grid(L, widths=WIDTHS, sigma2=SIGMA2, T=Ts)
    R, J = np.empty(L), np.empty((L, L))

    def f(x, p):
        mod.evaluate(x, p, data.c, data.yhat, R, J)
        return R.copy()

    def jac(x, p):
        mod.evaluate(x, p, data.c, data.yhat, R, J)
        return J.copy()
    x = np.log(grid[0, L + 2:])
    out = np.empty((len(Ts), L))
    for i, p in enumerate(grid):
        x = fsolve(f, x, args=(p,), fprime=jac, xtol=1e-12)
        out[i] = np.exp(x)
    return out


def nsolve_points(theory, data, Ts):
    us = theory.order_parameters
    vals = {theory.sigmas[0]: 1.0, theory.sigmas[1]: 1.0, theory.sigmas[2]: 1.0, theory.sigmas[3]: 1.0}
    vals.update(dict(zip(theory.widths, WIDTHS)))
    lam, yk = data.c * SIGMA2, data.yhat
    out = []
    for T in Ts:
        eqs = []
        for R in theory.saddle_point_residuals:
            R = R.subs(vals).subs(theory.temperature, T)
            R = R.replace(sp.Sum, lambda f, lim: sp.Add(*[f.subs({eigenvalue[mode]: lam[i], label[mode]: yk[i]})
                                                         for i in range(len(lam))]))
            eqs.append(R)
        out.append([float(v) for v in sp.nsolve(eqs, us, [1.0] * len(us), tol=1e-20, prec=20)])
    return np.array(out)


FIRST_SOLVE = """
import time; t0 = time.perf_counter()
import numpy as np, symbolic_rg as srg
rng = np.random.default_rng(0); X = rng.standard_normal((200, 50)); y = rng.standard_normal(200)
sol = srg.derive(srg.deep_linear(depth=3)).compile().solve(X, y, widths=[200, 100, 300], sigma2=1.0, T=0.01)
assert sol.converged
print(time.perf_counter() - t0)
"""


def nsolve_seconds(P, T, budget):
    """Wall time of one sympy.nsolve (expression building included) in a subprocess; None past budget."""
    cmd = [sys.executable, __file__, "--P", str(P), "--nsolve-only", repr(float(T))]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=budget)
    except subprocess.TimeoutExpired:
        return None
    return float(out.stdout.split()[-1])


def main(P=1000, points=400, budget=120.0):
    d = digits(P=P, P_test=100)
    data = SpectralData(d.X_train, d.y_train)
    theory = srg.derive(srg.deep_linear(depth=3))
    solver = theory.compile()
    Ts = np.logspace(-3, 0, points)
    solver.sweep(d.X_train, d.y_train, widths=WIDTHS, sigma2=SIGMA2, T=Ts[:16])        # JIT warm-up
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        sw = solver.sweep(d.X_train, d.y_train, widths=WIDTHS, sigma2=SIGMA2, T=Ts)
    t_numba = (time.perf_counter() - t0) / reps
    assert sw.converged.all()

    t0 = time.perf_counter()
    ref = fsolve_sweep(theory, data, Ts)
    t_fsolve = time.perf_counter() - t0
    agree = np.max(np.abs(ref / sw.order_parameters - 1))

    t_one = nsolve_seconds(P, Ts[points // 2], budget)

    subprocess.run([sys.executable, "-c", FIRST_SOLVE], check=True, capture_output=True)   # warm the cache
    first = float(subprocess.run([sys.executable, "-c", FIRST_SOLVE], check=True, capture_output=True,
                                 text=True).stdout)

    print("deep linear, L = 3, widths %s, P = %d digits, %d temperatures" % (WIDTHS, P, points))
    print("  numba sweep             %9.4f s" % t_numba)
    print("  scipy fsolve (NumPy)    %9.4f s   ratio %8.1fx  (target >= 10x)   max rel. diff %.1e"
          % (t_fsolve, t_fsolve / t_numba, agree))
    if t_one is None:
        print("  sympy nsolve            > %.0f s per point (stopped): ratio > %.0fx  (target >= 1000x)"
              % (budget, budget * points / t_numba))
    else:
        print("  sympy nsolve            %9.1f s per point x %d   ratio %8.0fx  (target >= 1000x)"
              % (t_one, points, t_one * points / t_numba))
    print("  first solve, fresh process, warm cache: %.2f s (target < 2 s)" % first)
    return dict(numba=t_numba, fsolve=t_fsolve, nsolve_point=t_one, first=first)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--P", type=int, default=1000)
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--nsolve-budget", type=float, default=120.0, help="seconds allowed for one nsolve")
    parser.add_argument("--nsolve-only", type=float, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.nsolve_only is not None:
        d = digits(P=a.P, P_test=100)
        t0 = time.perf_counter()
        nsolve_points(srg.derive(srg.deep_linear(depth=3)), SpectralData(d.X_train, d.y_train), [a.nsolve_only])
        print(time.perf_counter() - t0)
    else:
        main(a.P, a.points, a.nsolve_budget)
