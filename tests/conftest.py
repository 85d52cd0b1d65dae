import subprocess
import sys

import mpmath
import numpy as np
import pytest

import symbolic_rg as srg


@pytest.fixture(scope="session")
def theories():
    return {L: srg.derive(srg.deep_linear(L)) for L in (1, 2, 3)}


@pytest.fixture(scope="session")
def solvers(theories):
    return {L: th.compile() for L, th in theories.items()}


def teacher_data(P=40, N0=60, P_test=30, noise=0.2, seed=1):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(N0)
    X = rng.standard_normal((P, N0))
    Xt = rng.standard_normal((P_test, N0))
    return X, X @ w / np.sqrt(N0) + noise * rng.standard_normal(P), Xt, Xt @ w / np.sqrt(N0)


@pytest.fixture(scope="session")
def small_data():
    return teacher_data()


def exact_L1_expectation(data, N, s2, sa2, T):
    """Exact finite-width L=1: p(u|y) ∝ Gamma(u; N/2, N/2sa2) N(y; 0, u K_0 + T), by mpmath quadrature."""
    mpmath.mp.dps = 30
    lam = [mpmath.mpf(float(v)) * s2 for v in data.c]
    yk = [mpmath.mpf(float(v)) for v in data.yhat]

    def logw(u):
        val = (N / 2 - 1) * mpmath.log(u) - N * u / (2 * sa2)
        for l_, y_ in zip(lam, yk):
            val -= y_**2 / (2 * (u * l_ + T)) + mpmath.log(u * l_ + T) / 2
        return val
    # centre the integrand at its maximum for a stable quadrature
    grid = [mpmath.mpf(x) for x in np.linspace(0.05, 4, 400)]
    peak = max(grid, key=logw)
    ref = logw(peak)
    w = lambda u: mpmath.exp(logw(u) - ref)
    Z = mpmath.quad(w, [0, peak / 2, peak, 2 * peak, mpmath.inf])
    return lambda g: mpmath.quad(lambda u: g(u) * w(u), [0, peak / 2, peak, 2 * peak, mpmath.inf]) / Z


def run_cli(*args, cwd=None):
    """Run ``python -m symbolic_rg ARGS``; return the CompletedProcess (text output captured)."""
    return subprocess.run([sys.executable, "-m", "symbolic_rg", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
