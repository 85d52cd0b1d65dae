r"""Benchmark: infinite-width kernel + NTK recursions for P inputs and L layers (issue 36, item 3), in one run on
the same inputs with the answers checked against each other:

* the engine: ``symbolic_rg.pdlt.kernel_recursion`` (closed forms compiled with Numba, kernel and NTK fused in
  one vectorised pass over the upper triangle, parallel over rows; where there is no closed form, the Mehler
  series of ``symbolic_rg.two_point.HermiteSeries`` with its stated error bound);
* the baseline an expert writes in NumPy/SciPy, all pairs at once: the closed forms (ReLU: arc-cosine kernel,
  erf: arcsine kernel) as whole-matrix ufuncs; without a closed form (tanh, GELU) a tensor quadrature in
  whitened coordinates vectorised over pairs, Gauss--Hermite (scipy.special nodes) or the trapezoidal rule,
  whichever reaches the engine's accuracy with fewer nodes (printed with the error it reaches), timed on a
  sample of pairs of one layer and scaled to all pairs and L - 1 layers (every pair of every layer costs the
  same);
* the peer a user picks: neural-tangents' ``stax`` ``kernel_fn`` under ``jax.jit``, float64 on the CPU
  (activations it has in closed form: ReLU, erf, GELU), skipped with the reason printed when not importable.

Conventions.  The engine's network (Roberts, Yaida & Hanin) is :math:`z^{(1)} = b + Wx`,
:math:`z^{(l+1)} = b + W\sigma(z^{(l)})`, :math:`\langle b^2\rangle = C_b`, :math:`\langle W^2\rangle = C_W/n_{l-1}`,
so that :math:`K^{(1)} = C_b + C_W\,xx'/n_0`, :math:`K^{(l+1)} = C_b + C_W\langle\sigma\sigma\rangle_{K^{(l)}}`,
and its NTK :math:`\Theta^{(1)} = \lambda_b + \lambda_W\,xx'/n_0`,
:math:`\Theta^{(l+1)} = \lambda_b + \lambda_W\langle\sigma\sigma\rangle + C_W\langle\sigma'\sigma'\rangle\Theta^{(l)}`.
neural-tangents' ``serial(Dense(1, W_std, b_std, parameterization='ntk'), act, ..., Dense(...))`` with L Dense
layers and L - 1 activations has NNGP :math:`W_{std}^2\,xx'/n_0 + b_{std}^2` after the first Dense and
:math:`W_{std}^2\langle\sigma\sigma\rangle + b_{std}^2` after each later one, and NTK = that NNGP
:math:`+\,W_{std}^2\langle\sigma'\sigma'\rangle\,\Theta` (every weight and bias trained, unit learning rate).  So
its (nngp, ntk) are the engine's :math:`(K^{(L)}, \Theta^{(L)})` with :math:`C_W = W_{std}^2`,
:math:`C_b = b_{std}^2`, :math:`\lambda_W = C_W`, :math:`\lambda_b = C_b` and the same L.

Timings are warm: after Numba's and XLA's compilation, the median of ``--repeat`` runs.  ``--threads 1`` pins
every tool to one core (NUMBA_NUM_THREADS=1; XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1; OMP/OpenBLAS threads 1); without it each uses every core it sees.  Ratios are
other / engine (above 1: the engine is faster); only ratios of one run mean anything on a shared machine.

    python numeric/benchmark_pdlt.py [--P 1000] [--L 50] [--activation relu erf tanh gelu] [--threads 1]
"""
import argparse
import math
import os

import numpy as np
from timing import timed

# C_W, C_b per activation (C_b > 0 so that the bias mapping is exercised too)
POINTS = {"relu": (2.0, 0.1), "erf": (1.5, 0.1), "tanh": (1.5, 0.1), "gelu": (2.0, 0.1)}
NT_LAYERS = {"relu": "Relu", "erf": "Erf", "gelu": "Gelu"}
NODES = (16, 24, 32, 48, 64, 96, 128, 192, 256)


def pin_threads(threads):
    """Environment for ``threads`` cores, set before Numba and JAX are imported."""
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    if threads == 1:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def difference(a, b):
    """``(off-diagonal, diagonal)``: max |a - b| / max |b| over the kernel and the NTK, off and on the diagonal."""
    off = ~np.eye(len(b[0]), dtype=bool)
    rel = [np.abs(x - y) / np.max(np.abs(y)) for x, y in zip(a, b)]
    return max(float(np.max(r[off])) for r in rel), max(float(np.max(np.diag(r))) for r in rel)


# -- the engine -----------------------------------------------------------------------------------------
def engine(spec, X, L, C_W, C_b, averages):
    from symbolic_rg.pdlt import kernel_recursion
    rec = kernel_recursion(spec, X, L, C_W, C_b, lambda_b=C_b, lambda_W=C_W, layers="last", averages=averages)
    return rec.kernels[-1], rec.ntk[-1], rec.quadrature_error


# -- the expert NumPy/SciPy baseline ----------------------------------------------------------------------
def numpy_closed(spec, X, L, C_W, C_b):
    r"""Whole-matrix closed forms: ReLU :math:`S = \sqrt{K_{11}K_{22}}(\sin\theta + (\pi - \theta)\cos\theta)/2\pi`,
    :math:`D = (\pi - \theta)/2\pi`, :math:`\cos\theta = \rho`; erf :math:`S = \tfrac2\pi\arcsin x`,
    :math:`D = \tfrac4\pi s_1s_2/\sqrt{1 - x^2}`, :math:`x = 2K_{12}s_1s_2`, :math:`s = (1 + 2K)^{-1/2}`."""
    K = C_b + C_W * X @ X.T / X.shape[1]
    T = K.copy()
    for _ in range(L - 1):
        if spec == "relu":
            d = np.diag(K)
            norm = np.sqrt(np.outer(d, d))                    # sqrt(k k) = k: rho = 1 exactly on the diagonal
            rho = np.clip(K / norm, -1.0, 1.0)
            theta = np.arccos(rho)
            S = norm * (np.sqrt(1.0 - rho * rho) + (np.pi - theta) * rho) / (2 * np.pi)
            D = (np.pi - theta) / (2 * np.pi)
        else:
            s = 1.0 / np.sqrt(1.0 + 2.0 * np.diag(K))
            ss = np.outer(s, s)
            x = np.clip(2.0 * K * ss, -1.0, 1.0)
            S = (2 / np.pi) * np.arcsin(x)
            D = (4 / np.pi) * ss / np.sqrt(1.0 - x * x)
        K = C_b + C_W * S
        T = K + C_W * D * T
    return K, T


def _activation(spec):
    """(sigma, sigma') in NumPy/SciPy."""
    from scipy.special import erf
    if spec == "tanh":
        return np.tanh, lambda z: 1.0 - np.tanh(z)**2
    return (lambda z: 0.5 * z * (1.0 + erf(z / math.sqrt(2))),
            lambda z: 0.5 * (1.0 + erf(z / math.sqrt(2))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * np.pi))


def rule(name, nodes):
    """Nodes and weights for the standard normal density: Gauss--Hermite (scipy.special) or the trapezoidal rule
    on [-8.5, 8.5] (spectrally accurate for analytic integrands)."""
    if name == "Gauss-Hermite":
        from scipy.special import roots_hermitenorm
        t, w = roots_hermitenorm(nodes)
    else:
        t = np.linspace(-8.5, 8.5, nodes)
        w = np.exp(-0.5 * t * t)
    return t, w / w.sum()


def quadrature_pairs(spec, K, I, J, t, w, chunk=4_000_000):
    """<sigma sigma> and <sigma' sigma'> of the pairs (I, J) of K by the tensor rule (t, w) on both axes, whitened
    (z_1 = a t_1, z_2 = b t_1 + c t_2), vectorised over pairs."""
    f, df = _activation(spec)
    nodes = len(t)
    W = np.outer(w, w)
    a = np.sqrt(K[I, I])
    b = K[I, J] / a
    c = np.sqrt(np.clip(K[J, J] - b * b, 0.0, None))
    S, D = np.empty(len(I)), np.empty(len(I))
    step = max(1, chunk // nodes**2)
    for s in range(0, len(I), step):
        p = slice(s, s + step)
        z1 = (a[p, None] * t)[:, :, None]
        z2 = b[p, None, None] * t[None, :, None] + c[p, None, None] * t[None, None, :]
        S[p] = np.einsum("pij,ij->p", f(z1) * f(z2), W)
        D[p] = np.einsum("pij,ij->p", df(z1) * df(z2), W)
    return S, D


def numpy_quadrature(spec, X, L, C_W, C_b, averages, sample, repeat, rng):
    """(rule, nodes, error reached, target, seconds for L - 1 layers of all pairs): of Gauss--Hermite and the
    trapezoidal rule, the one with the fewest nodes whose S and D agree with the engine's at K^(1) on ``sample``
    pairs to the engine's accuracy (or, if none does, the most accurate), timed on them and scaled."""
    K = C_b + C_W * X @ X.T / X.shape[1]
    S_ref, D_ref, bound = averages.pair_matrices(K)
    target = max(bound, 1e-12)
    P = len(K)
    I, J = np.triu_indices(P)
    pick = rng.choice(len(I), size=min(sample, len(I)), replace=False)
    I, J = I[pick], J[pick]
    tried = []
    for nodes in NODES:
        for name in ("Gauss-Hermite", "trapezoidal"):
            S, D = quadrature_pairs(spec, K, I, J, *rule(name, nodes))
            tried.append((max(np.max(np.abs(S - S_ref[I, J])), np.max(np.abs(D - D_ref[I, J]))), name, nodes))
        if min(tried)[0] <= target:
            break
    error, name, nodes = min(tried)
    seconds, _ = timed(lambda: quadrature_pairs(spec, K, I, J, *rule(name, nodes)), repeat, np.median)
    return name, nodes, error, target, seconds * P * (P + 1) / 2 / len(I) * (L - 1)


# -- the peer: neural-tangents ------------------------------------------------------------------------
def neural_tangents(spec, L, C_W, C_b):
    """``jit(kernel_fn)`` of serial(Dense, act, ..., Dense) with L Dense layers (float64), or the reason why not."""
    if spec not in NT_LAYERS:
        return None, "neural-tangents has no closed form for %s" % spec
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        from neural_tangents import stax
    except Exception as e:            # noqa: BLE001 -- any import failure means: skip the peer
        return None, "neural-tangents not importable (%s: %s)" % (type(e).__name__, e)
    dense = lambda: stax.Dense(1, W_std=math.sqrt(C_W), b_std=math.sqrt(C_b), parameterization="ntk")
    layers = [dense()]
    for _ in range(L - 1):
        layers += [getattr(stax, NT_LAYERS[spec])(), dense()]
    kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")

    def run(X):
        k = kernel_fn(X, None, get=("nngp", "ntk"))
        return np.asarray(k.nngp.block_until_ready()), np.asarray(k.ntk.block_until_ready())
    return run, "neural-tangents %s, jax %s (%s)" % (_version("neural_tangents"), jax.__version__,
                                                     jax.devices()[0].platform)


def _version(package):
    from importlib.metadata import version
    return version(package.replace("_", "-"))


def main(P=1000, L=50, specs=("relu", "erf", "tanh", "gelu"), repeat=3, sample=20000, threads=None):
    from symbolic_rg.pdlt import GaussianAverages
    import numba
    rng = np.random.default_rng(0)
    X = rng.standard_normal((P, 30))
    print("P = %d inputs, L = %d layers, %s, warm timings (median of %d)"
          % (P, L, "1 thread per tool" if threads == 1 else "Numba %d threads, XLA default" % numba.get_num_threads(),
             repeat))
    print("pair-updates: %.3g (P(P+1)/2 pairs x (L-1) layers)" % (P * (P + 1) / 2 * (L - 1)))
    ratios = {}
    for spec in specs:
        C_W, C_b = POINTS[spec]
        av = GaussianAverages(spec)
        closed = all(c is not None for c in av.closed_forms.values())
        engine(spec, X[:8], L, C_W, C_b, av)                                  # compile outside the timing
        t_engine, (K, T, bound) = timed(lambda: engine(spec, X, L, C_W, C_b, av), repeat, np.median)
        print("\n%s (C_W = %g, C_b = %g): engine %s  %.3f s  (%.1f ns per pair-update; stated error %.1e)"
              % (spec, C_W, C_b, "closed form" if closed else "Mehler series", t_engine,
                 t_engine / (P * (P + 1) / 2 * (L - 1)) * 1e9, bound))
        if closed:
            t_base, base = timed(lambda: numpy_closed(spec, X, L, C_W, C_b), repeat, np.median)
            print("  NumPy closed form (whole matrices)   %.3f s  ratio %.1fx  agreement %.1e (diagonal %.1e)"
                  % ((t_base, t_base / t_engine) + difference(base, (K, T))))
        else:
            name, nodes, err, target, t_base = numpy_quadrature(spec, X, L, C_W, C_b, av, sample, repeat, rng)
            print("  NumPy %s %d^2 nodes  %.1f s  ratio %.0fx  (error %.1e at K^(1), engine's accuracy %.0e; "
                  "timed on %d pairs of one layer, scaled)" % (name, nodes, t_base, t_base / t_engine, err, target,
                                                              sample))
        ratios[spec, "numpy"] = t_base / t_engine
        run, label = neural_tangents(spec, L, C_W, C_b)
        if run is None:
            print("  peer skipped: %s" % label)
            continue
        Xj = np.asarray(X, dtype=np.float64)
        run(Xj)                                                               # XLA compilation
        t_nt, nt = timed(lambda: run(Xj), repeat, np.median)
        print("  %s  %.3f s  ratio %.1fx  agreement %.1e (diagonal %.1e)"
              % ((label, t_nt, t_nt / t_engine) + difference(nt, (K, T))))
        ratios[spec, "neural-tangents"] = t_nt / t_engine
    return ratios


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--P", type=int, default=1000)
    p.add_argument("--L", type=int, default=50)
    p.add_argument("--activation", nargs="+", default=["relu", "erf", "tanh", "gelu"], choices=sorted(POINTS))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sample", type=int, default=20000, help="pairs on which the quadrature baseline is timed")
    p.add_argument("--threads", type=int, default=None, help="cores per tool (default: all)")
    a = p.parse_args()
    if a.threads:
        pin_threads(a.threads)
    main(a.P, a.L, a.activation, a.repeat, a.sample, a.threads)
