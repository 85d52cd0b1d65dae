"""Benchmark: the deep-linear saddle point over a temperature sweep, the engine against what an expert would
write and what a user would pick instead, on the same data and equations, in one run.

P = 1000 digits, L = 3, widths [200, 100, 300], sigma^2 = 1, 400 temperatures from 1e-3 to 1.
The eigendecomposition of the input Gram matrix is done once, outside every timing.

* engine: ``Solver.sweep`` (compiled damped Newton in log u; each point warm-started from the previous one
  and checked against Newton from the prior, lowest effective action H among the roots), one Numba thread and
  all threads;
* expert baseline: the same spectral residuals R_l = -1 + u_l/sigma_{l+1}^2 + (A(U) - B(U))/N_l, U = prod u_l,
  vectorized over the modes in NumPy with their analytic Jacobian, ``scipy.optimize.fsolve`` in log u,
  warm-started along the sweep (written by hand here, not generated);
* deepbays 0.1.11 (the kernel-renormalization package a user would pick): ``FC_1HL`` (L = 1, its linear kernel
  ``kernel_id``) and ``FC_deep`` (L = 3; deepbays has no linear torch kernel, so ``kernel_id_torch`` =
  C(x, x') is supplied, the formula of its own ``kernel_id``) at equal widths N = 200 and unit priors, on
  full-rank Gaussian inputs (P = 1000, N_0 = 1100; on the digits its eigendecomposition fails), where its
  action (Q - log Q per layer + (y^T A^-1 y + log det A)/N, A = prod Q K + T) is ours divided by N/2 with
  Q_l = u_l; timed on a few temperatures, per point; skipped, with the reason, where it does not import;
* sympy.nsolve on the symbolic equations with the P terms written out (one point, in a subprocess with a time
  budget; past it the ratio is a lower bound);
* one warm ``solve`` (seven starts), and a fresh process with a warm compile cache to its first solve.

Then the profile of a point: one residual-and-Jacobian pass over the P modes (``evaluate``), one pass for H
(``action``, P logarithms), passes per point, against the estimate of the hardware limit.

    python numeric/benchmark_deep_linear.py [--P 1000] [--points 400] [--nsolve-budget 120]
    deepbays: pip install torch==2.13.0 (the CPU build), then pip install --no-deps deepbays==0.1.11
"""
import argparse
import subprocess
import sys
import time
import types

import numba
import numpy as np
import sympy as sp

import symbolic_rg as srg
from symbolic_rg.data import digits
from symbolic_rg.kernel import SpectralData, parameter_grid
from symbolic_rg.symbols import eigenvalue, label, mode
from timing import timed

WIDTHS, SIGMA2 = [200, 100, 300], 1.0


def expert_fsolve_sweep(c, yk, widths, sigma2, Ts):
    """Hand-written vectorized NumPy residuals and Jacobian in x = log u, fsolve warm-started along Ts."""
    from scipy.optimize import fsolve
    N, s2 = np.asarray(widths, float), np.full(len(widths), sigma2)
    lam, y2 = sigma2 * c, yk**2

    def terms(x, T):
        u = np.exp(x)
        Ul = np.prod(u) * lam
        d = 1.0 / (T + Ul)
        g = np.sum(Ul * d) - np.sum(Ul * y2 * d * d)                      # A - B
        dg = np.sum(Ul * T * d * d) - np.sum(Ul * y2 * (T - Ul) * d**3)   # U d(A - B)/dU
        return u, g, dg

    def residual(x, T):
        u, g, _ = terms(x, T)
        return -1.0 + u / s2 + g / N

    def jacobian(x, T):
        u, _, dg = terms(x, T)
        return np.diag(u / s2) + (dg / N)[:, None]

    x, out = np.zeros(len(widths)), np.empty((len(Ts), len(widths)))
    for i, T in enumerate(Ts):
        x = fsolve(residual, x, args=(T,), fprime=jacobian, xtol=1e-12)
        out[i] = np.exp(x)
    return out


def stand_in(name, **attributes):
    """An empty module under ``name`` (and its parents) unless the real one imports."""
    try:
        __import__(name)
    except ImportError:
        parent, _, child = name.rpartition(".")
        sys.modules[name] = module = types.ModuleType(name)
        module.__dict__.update(attributes)
        if parent:
            stand_in(parent)
            setattr(sys.modules[parent], child, module)


def deepbays_model():
    """deepbays' rkgp module, or the reason it is unavailable.  Its package imports cupy (CUDA only, not
    declared) and torchvision (for its MNIST loaders) unconditionally; empty stand-ins, where those do not import,
    let the CPU classes used here import."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return None, ("torch is not installed (pip install torch==2.13.0, then pip install --no-deps "
                      "deepbays==0.1.11)")
    stand_in("cupy.cuda", Device=None)
    stand_in("torchvision.transforms")
    try:
        from deepbays import kernels, rkgp
    except ImportError as exc:
        return None, "deepbays does not import (%s); pip install --no-deps deepbays==0.1.11" % exc
    if not hasattr(kernels, "kernel_id_torch"):
        kernels.kernel_id_torch = lambda cxx, cxy, cyy: cxy
    if not hasattr(kernels, "kernel_id"):
        from deepbays.kernels.kernels import kernel_id
        kernels.kernel_id = kernel_id
    return rkgp, None


def full_rank_data(P, seed=0):
    """Gaussian inputs (N_0 = P + 100) with linear-teacher labels plus noise: deepbays' ``np.linalg.eig`` returns
    complex eigenvalues on a rank-deficient Gram matrix (the digits' has rank 64), so the peers run on these."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, P + 100))
    return X, X @ rng.standard_normal(P + 100) / np.sqrt(P + 100) + 0.1 * rng.standard_normal(P)


def deepbays_points(rkgp, X, y, depth, N, Ts):
    """deepbays' order parameters Q_l at each T, and its wall time per point (preprocessing excluded)."""
    import torch
    Q, seconds = [], []
    for T in Ts:
        if depth == 1:
            model = rkgp.FC_1HL(N, T, act="id")
            model.preprocess(X, y)
            t0 = time.perf_counter()
            model.optimize(1.0)
            seconds.append(time.perf_counter() - t0)
            Q.append([model.optQ])
        else:
            model = rkgp.FC_deep(depth, N, T, priors=[1.0] * (depth + 1), act="id")
            model.preprocess(X, torch.tensor(y))
            t0 = time.perf_counter()
            model.optimize(1.0)
            seconds.append(time.perf_counter() - t0)
            Q.append(list(model.optQ))
    return np.array(Q), float(np.median(seconds))


def nsolve_points(theory, data, Ts):
    us = theory.order_parameters
    vals = {s: 1.0 for s in theory.sigmas}
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


def profile(solver, data, T, reps=2000):
    """Seconds per residual-and-Jacobian pass and per action pass at the saddle point of temperature T."""
    grid, _ = parameter_grid(3, widths=WIDTHS, sigma2=SIGMA2, T=T)
    c, yk = data.modes(T)
    sol = solver.solve(data.X, data.y, widths=WIDTHS, sigma2=SIGMA2, T=T)
    x, p = np.log(sol.order_parameters), grid[0]
    R, J, m = np.empty(3), np.empty((3, 3)), solver.module
    m.evaluate(x, p, c, yk, R, J)
    m.action(x, p, c, yk)
    t_eval, _ = timed(lambda: [m.evaluate(x, p, c, yk, R, J) for _ in range(reps)], 5)
    t_action, _ = timed(lambda: [m.action(x, p, c, yk) for _ in range(reps)], 5)
    return t_eval / reps, t_action / reps


def main(P=1000, points=400, budget=120.0, peers=True):
    d = digits(P=P, P_test=100)
    theory = srg.derive(srg.deep_linear(depth=3))
    solver = theory.compile()
    data = SpectralData(d.X_train, d.y_train)
    Ts = np.logspace(-3, 0, points)
    kw = dict(widths=WIDTHS, sigma2=SIGMA2, T=Ts)
    for chunks in (1, None):                   # JIT, thread pool, eigendecomposition (kept for these arrays)
        solver.sweep(d.X_train, d.y_train, chunks=chunks, **kw)
    t_one_thread, sw = timed(lambda: solver.sweep(d.X_train, d.y_train, chunks=1, **kw), 10)
    t_threads, sw_t = timed(lambda: solver.sweep(d.X_train, d.y_train, **kw), 10)
    assert sw.converged.all() and sw_t.converged.all()
    c, yk = data.modes(1.0)
    t_fsolve, ref = timed(lambda: expert_fsolve_sweep(c, yk, WIDTHS, SIGMA2, Ts), 3)
    agree = np.max(np.abs(ref / sw.order_parameters - 1))

    print("deep linear, L = 3, widths %s, P = %d digits, %d temperatures 1e-3..1 (%d Numba threads)"
          % (WIDTHS, P, points, numba.get_num_threads()))
    print("  engine sweep, one thread   %8.2f ms  %6.1f us/point  (target <= 15 us/point)"
          % (t_one_thread * 1e3, t_one_thread / points * 1e6))
    print("  engine sweep, %d threads    %8.2f ms  %6.1f us/point" % (numba.get_num_threads(), t_threads * 1e3,
                                                                       t_threads / points * 1e6))
    print("  expert NumPy + fsolve      %8.2f ms  ratio %5.1fx one thread, %5.1fx threads  (target >= 10x)"
          "   max rel. diff %.1e" % (t_fsolve * 1e3, t_fsolve / t_one_thread, t_fsolve / t_threads, agree))

    t_solve, sol = timed(lambda: solver.solve(d.X_train, d.y_train, widths=WIDTHS, sigma2=SIGMA2, T=0.01), 20)
    print("  warm solve (7 starts)      %8.2f ms  (target < 5 ms)" % (t_solve * 1e3))

    t_eval, t_action = profile(solver, data, 0.01)
    per_point = t_one_thread / points
    passes = (per_point - t_action) / t_eval
    print("  profile: evaluate %.2f us (%.2f ns/mode), action %.2f us (%.2f ns/mode); a point = %.1f evaluate "
          "passes + 1 action pass; mean Newton iterations of the selected root %.2f"
          % (t_eval * 1e6, t_eval / P * 1e9, t_action * 1e6, t_action / P * 1e9, passes, sw.iterations.mean()))
    print("  limit: a pass reads 2 numbers per mode and does 1 division and ~10 multiply-adds, ~0.5 ns/mode in "
          "SIMD lanes: %.1f us per pass; %.1f passes + the action's pass take at least %.1f us per point"
          % (P * 0.5e-3, passes, (passes + 1) * P * 0.5e-3))
    print("  (Python-level overhead of a sweep call, grid and result arrays: %.2f ms)"
          % (1e3 * timed(lambda: solver.sweep(d.X_train, d.y_train, chunks=1, widths=WIDTHS, sigma2=SIGMA2,
                                                T=Ts[:1]), 10)[0]))

    if peers:
        rkgp, why = deepbays_model()
        if rkgp is None:
            print("  deepbays: skipped, %s" % why)
        else:
            Tp = np.array([0.01, 0.1, 1.0])
            Xg, yg = full_rank_data(P)
            for depth in (1, 3):
                N = 200
                s = srg.derive(srg.deep_linear(depth=depth)).compile()
                ours = s.sweep(Xg, yg, width=N, sigma2=1.0, T=Tp)
                t_ours, _ = timed(lambda: s.sweep(Xg, yg, width=N, sigma2=1.0, T=Tp, chunks=1), 5)
                Q, t_db = deepbays_points(rkgp, Xg, yg, depth, N, Tp)
                diff = np.max(np.abs(Q / ours.order_parameters - 1))
                print("  deepbays L = %d, N = %d: %8.1f ms/point, engine %.3f ms/point: ratio %7.0fx   max rel. "
                      "diff %.1e" % (depth, N, t_db * 1e3, t_ours / len(Tp) * 1e3, t_db * len(Tp) / t_ours, diff))

    t_nsolve = nsolve_seconds(P, Ts[points // 2], budget)
    if t_nsolve is None:
        print("  sympy nsolve: > %.0f s per point (stopped): ratio > %.0fx" % (budget, budget * points / t_threads))
    else:
        print("  sympy nsolve: %.1f s per point: ratio %.0fx" % (t_nsolve, t_nsolve * points / t_threads))

    subprocess.run([sys.executable, "-c", FIRST_SOLVE], check=True, capture_output=True)   # warm the cache
    first = min(float(subprocess.run([sys.executable, "-c", FIRST_SOLVE], check=True, capture_output=True,
                                     text=True).stdout) for _ in range(3))
    print("  first solve, fresh process, warm cache: %.2f s (target < 1 s)" % first)
    return dict(one_thread=t_one_thread, threads=t_threads, fsolve=t_fsolve, solve=t_solve, first=first)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--P", type=int, default=1000)
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--nsolve-budget", type=float, default=120.0, help="seconds allowed for one nsolve")
    parser.add_argument("--no-peers", action="store_true", help="skip deepbays")
    parser.add_argument("--nsolve-only", type=float, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.nsolve_only is not None:
        d = digits(P=a.P, P_test=100)
        t0 = time.perf_counter()
        nsolve_points(srg.derive(srg.deep_linear(depth=3)), SpectralData(d.X_train, d.y_train), [a.nsolve_only])
        print(time.perf_counter() - t0)
    else:
        main(a.P, a.points, a.nsolve_budget, not a.no_peers)
