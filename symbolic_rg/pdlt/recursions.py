r"""Infinite-width recursions and their leading 1/width corrections ("The Principles of Deep Learning
Theory", Roberts, Yaida & Hanin), for any activation.

Network: :math:`z^{(1)}_i = b_i + \sum_j W_{ij}x_j`, :math:`z^{(l+1)}_i = b_i + \sum_j W_{ij}\sigma(z^{(l)}_j)`,
:math:`\langle b^2\rangle = C_b`, :math:`\langle W^2\rangle = C_W/n_{l-1}` (:math:`n_0` the input dimension).
At each layer the preactivations have covariance :math:`\delta_{ij}(K^{(l)}_{\alpha\beta} + K^{\{1\}(l)}_{\alpha\beta}/n_{l-1})`
and connected four-point function
:math:`\frac1{n_{l-1}}\big[\delta_{i_1i_2}\delta_{i_3i_4}V^{(l)}_{(\alpha_1\alpha_2)(\alpha_3\alpha_4)} + \text{2 pairings}\big]`.
Writing :math:`F_{\alpha_1\alpha_2} = \sigma(z_{\alpha_1})\sigma(z_{\alpha_2})` and
:math:`\langle\cdot\rangle = \langle\cdot\rangle_{K^{(l)}}`, the Edgeworth expansion of one neuron and of a pair
of neurons gives, with :math:`r_l = n_l/n_{l-1}`,

.. math::
   K^{(l+1)}_{\alpha_1\alpha_2} &= C_b + C_W\langle F_{\alpha_1\alpha_2}\rangle,\qquad
   \Theta^{(l+1)}_{\alpha_1\alpha_2} = \lambda_b + \lambda_W\langle F_{\alpha_1\alpha_2}\rangle
       + C_W\langle\sigma'_{\alpha_1}\sigma'_{\alpha_2}\rangle\,\Theta^{(l)}_{\alpha_1\alpha_2},\\
   V^{(l+1)}_{(\alpha_1\alpha_2)(\alpha_3\alpha_4)} &= C_W^2\big[\langle F_{\alpha_1\alpha_2}F_{\alpha_3\alpha_4}\rangle
       - \langle F_{\alpha_1\alpha_2}\rangle\langle F_{\alpha_3\alpha_4}\rangle\big]
       + r_l\frac{C_W^2}{4}\sum_{\beta}\langle\partial_{\beta_1}\partial_{\beta_2}F_{\alpha_1\alpha_2}\rangle
         \langle\partial_{\beta_3}\partial_{\beta_4}F_{\alpha_3\alpha_4}\rangle V^{(l)}_{(\beta_1\beta_2)(\beta_3\beta_4)},\\
   K^{\{1\}(l+1)}_{\alpha_1\alpha_2} &= r_l\Big[\frac{C_W}{2}\sum_\beta\langle\partial_{\beta_1}\partial_{\beta_2}
       F_{\alpha_1\alpha_2}\rangle K^{\{1\}(l)}_{\beta_1\beta_2} + \frac{C_W}{8}\sum_\beta
       \langle\partial_{\beta_1}\cdots\partial_{\beta_4}F_{\alpha_1\alpha_2}\rangle V^{(l)}_{(\beta_1\beta_2)(\beta_3\beta_4)}\Big],

from :math:`V^{(1)} = K^{\{1\}(1)} = 0`.  The sums over :math:`\beta` run over the inputs of the
:math:`\alpha`'s, so the vertex and the correction of a pair of inputs close on that pair.  For one input
this is :math:`V' = C_W^2(\langle\sigma^4\rangle - \langle\sigma^2\rangle^2) + r\chi_\parallel^2 V`,
:math:`K^{\{1\}\prime} = r\big[\chi_\parallel K^{\{1\}} + \tfrac{C_W}2\partial_K^2\langle\sigma^2\rangle_K\,V\big]`.
Derivative averages are :math:`K`-derivatives of two-input averages
(:math:`\langle\partial_1^2F\rangle = 2\partial g/\partial K_{11}`, :math:`\langle\partial_1\partial_2F\rangle =
\partial g/\partial K_{12}`, ...), in closed form where :mod:`symbolic_rg.two_point` has one, otherwise by
Gaussian integration by parts (Hermite weights) under the quadrature.
"""
from __future__ import annotations

import itertools
from functools import cached_property, lru_cache
from typing import NamedTuple

import numba
import numpy as np
import sympy as sp

from .. import checks
from ..activations import activation, criticality, gaussian_expectation, numeric, scale_invariant, z
from ..errors import ParameterError
from ..printers import NUMBA_PRELUDE, NumbaPrinter, load_module
from ..two_point import (GENERATOR_VERSION, K11, K12, K22, STEP, HermiteSeries, cholesky2, closed_form,
                         compile_function, gaussian_product, in_kernel, quadrature, trapezoid_rule)

__all__ = ["GaussianAverages", "KernelRecursion", "kernel_recursion", "FiniteWidth", "finite_width", "norm_vertex",
           "depth_scaling", "DepthScaling", "input_gram", "NNGPInputKernel", "kernel_cholesky"]

# branch-free arcsine and arccosine (fdlibm's rational approximation, within 2 ulp of libm), so that a loop over
# pairs vectorises: libm's scalar calls cost ~15 ns each, these ~1 ns in SIMD lanes
_PIO2_HI, _PIO2_LO = 1.57079632679489655800e+00, 6.12323399573676603587e-17
_PS = (1.66666666666666657415e-01, -3.25565818622400915405e-01, 2.01212532134862925881e-01,
       -4.00555345006794114027e-02, 7.91534994289814532176e-04, 3.47933107596021167570e-05)
_QS = (-2.40339491173441421878e+00, 2.02094576023350569471e+00, -6.88283971605453293030e-01,
       7.70381505559019352791e-02)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _asin_terms(x):
    r"""``(a, s, r)``: :math:`a = |x|`; for a < 1/2 s = a, t = a², else s = √t, t = (1 − a)/2; and
    :math:`r = R(t)`, with :math:`\arcsin a = a + aR(a^2)` and :math:`\arcsin\sqrt t = \sqrt t + \sqrt t R(t)`."""
    a = abs(x)
    t = a * a if a < 0.5 else 0.5 - 0.5 * a
    p = t * (_PS[0] + t * (_PS[1] + t * (_PS[2] + t * (_PS[3] + t * (_PS[4] + t * _PS[5])))))
    q = 1.0 + t * (_QS[0] + t * (_QS[1] + t * (_QS[2] + t * _QS[3])))
    return a, (a if a < 0.5 else np.sqrt(t)), p / q


@numba.njit(cache=True, error_model="numpy", inline="always")
def asin(x):
    r""":math:`\arcsin x` (:math:`|x| \le 1`): :math:`a + aR` below 1/2, :math:`\pi/2 - 2(s + sR)` above."""
    a, s, r = _asin_terms(x)
    return np.copysign(a + a * r if a < 0.5 else _PIO2_HI - (2.0 * (s + s * r) - _PIO2_LO), x)


@numba.njit(cache=True, error_model="numpy", inline="always")
def acos(x):
    r""":math:`\arccos x` (:math:`|x| \le 1`): :math:`\pi/2 - \arcsin x` below 1/2, :math:`2\arcsin\sqrt{(1 - x)/2}`
    above, :math:`\pi - 2\arcsin\sqrt{(1 + x)/2}` below −1/2."""
    a, s, r = _asin_terms(x)
    w = s + s * r
    if a < 0.5:
        return _PIO2_HI - (x - (_PIO2_LO - x * r))
    return 2.0 * w if x > 0 else 2.0 * _PIO2_HI - 2.0 * (w - _PIO2_LO)


class _PairPrinter(NumbaPrinter):
    """Numba code with the branch-free :func:`asin`, :func:`acos` of this module."""

    def _print_asin(self, expr):
        return "asin(%s)" % self._print(expr.args[0])

    def _print_acos(self, expr):
        return "acos(%s)" % self._print(expr.args[0])


def _closed_pair_kernel(expr):
    r"""Compiled closed form in (K_11, K_22, rho), called as g(k11, k12, k22) with rho clipped to [-1, 1] (1 exactly
    for one input: :math:`\sqrt{k^2} = k` in floating point); branch-free, with NumPy's error model (no division
    check), so that loops over pairs vectorise; not cached, since a caller inlines only what it compiles itself."""
    def source():
        return "\n".join(["# generated by symbolic_rg.pdlt: g(K_11, K_12, K_22) = %s" % expr] + list(NUMBA_PRELUDE)
                         + ["from symbolic_rg.pdlt.recursions import acos, asin", "", "",
                            '@numba.njit(error_model="numpy")', "def g(K_11, K_12, K_22):",
                            "    rho = min(1.0, max(-1.0, K_12 / math.sqrt(K_11 * K_22)))",
                            "    return %s" % _PairPrinter().doprint(expr), ""])
    return load_module("pair", (GENERATOR_VERSION, sp.srepr(expr)), source).g


_LAYER = '''

@numba.njit(cache=True, error_model="numpy")
def row(i, K, T, diagonal, C_W, C_b, lambda_b, lambda_W, K_out, T_out):
    """Row i of :func:`layer` from the diagonal on (one vectorised loop); whether its entries, and the products
    K_ii K_jj in the correlations, are finite."""
    kii = diagonal[i]
    k_in, t_in, k_out, t_out, kjj = K[i, i:], T[i, i:], K_out[i, i:], T_out[i, i:], diagonal[i:]
    finite = True
    for j in range(kjj.size):                 # from 0: no negative-index wraparound, so no gathers
        s = S(kii, k_in[j], kjj[j])
        k_out[j] = C_b + C_W * s
        t_out[j] = lambda_b + lambda_W * s + C_W * D(kii, k_in[j], kjj[j]) * t_in[j]
        finite &= (abs(k_out[j] + t_out[j]) < np.inf) & (kii * kjj[j] < np.inf)
    return finite


@numba.njit(parallel=True, cache=True)
def layer(K, T, C_W, C_b, lambda_b, lambda_W, K_out, T_out):
    """One layer on the upper triangle (rows t and P-1-t together: equal work per iteration); whether every
    new entry is finite."""
    P = K.shape[0]
    diagonal = np.diag(K).copy()
    finite = np.ones((P + 1) // 2, np.bool_)
    for t in numba.prange((P + 1) // 2):
        finite[t] = row(t, K, T, diagonal, C_W, C_b, lambda_b, lambda_W, K_out, T_out)
        if P - 1 - t != t:
            finite[t] &= row(P - 1 - t, K, T, diagonal, C_W, C_b, lambda_b, lambda_W, K_out, T_out)
    return finite.all()
'''


def _closed_layer(S, D):
    r"""One layer of closed forms, fused and compiled (a generated module, cached on disk): ``layer(K, T, C_W,
    C_b, lambda_b, lambda_W, K_out, T_out)`` writes the upper triangles of :math:`K' = C_b + C_WS` and
    :math:`\Theta' = \lambda_b + \lambda_WS + C_WD\Theta` with :math:`S = \langle\sigma\sigma
angle`,
    :math:`D = \langle\sigma'\sigma'
angle` (closed forms in K_11, K_22, rho) inlined into one vectorised loop per
    row, rows in parallel; returns whether every new entry is finite."""
    printer = _PairPrinter()

    def pair(name, expr):
        return ['@numba.njit(error_model="numpy", inline="always")', "def %s(K_11, K_12, K_22):" % name,
                "    rho = min(1.0, max(-1.0, K_12 / math.sqrt(K_11 * K_22)))",
                "    return %s" % printer.doprint(expr), "", ""]

    def source():
        return "\n".join(["# generated by symbolic_rg.pdlt: S = %s, D = %s" % (S, D)] + list(NUMBA_PRELUDE)
                         + ["from symbolic_rg.pdlt.recursions import acos, asin", "", ""]
                         + pair("S", S) + pair("D", D) + [_LAYER])
    return load_module("closed_layer", (GENERATOR_VERSION, sp.srepr(S), sp.srepr(D)), source).layer


def _pair_average(f, h, step):
    """``(closed form or None, compiled g(k11, k12, k22))`` of :math:`\\langle f(z_1)h(z_2)\\rangle_K`: the closed
    form where :func:`~symbolic_rg.two_point.closed_form` finds one, else the trapezoidal rule."""
    closed = closed_form(f, h)
    return closed, (quadrature(f, h, step) if closed is None else _closed_pair_kernel(closed))


_K_ENTRIES = (K11, K12, K22)
_PAIR_INDEX = {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 2}


class GaussianAverages:
    r"""Gaussian averages of one activation :math:`\sigma`, numeric, with their derivatives in the kernel.

    Pair averages :math:`\langle\sigma\sigma\rangle` and :math:`\langle\sigma'\sigma'\rangle` are compiled
    (closed form, or the trapezoidal rule of :func:`~symbolic_rg.two_point.quadrature` with step ``step``);
    ``closed_forms`` lists which ones are exact.
    """

    def __init__(self, spec, step=STEP):
        self.sigma = activation(spec)
        self.spec = spec
        self.derivative = sp.diff(self.sigma, z)
        self.step = checks.positive("step", step)
        self._functions = {"sigma sigma": self.sigma, "sigma' sigma'": self.derivative}
        self.closed_forms, self._pairs = {}, {}
        for name, f in self._functions.items():
            self.closed_forms[name], self._pairs[name] = _pair_average(f, f, step)
        self.pair, self.pair_derivative = self._pairs["sigma sigma"], self._pairs["sigma' sigma'"]

    @cached_property
    def closed_layer(self):
        """The fused compiled layer of :func:`_closed_layer` where both pair averages have closed forms, else
        None."""
        S, D = self.closed_forms["sigma sigma"], self.closed_forms["sigma' sigma'"]
        return None if S is None or D is None else _closed_layer(S, D)

    def quadrature_error(self, k11, k12, k22, name="sigma sigma"):
        r"""Estimated error of the pair average ``name`` (:math:`\langle\sigma\sigma\rangle` or
        :math:`\langle\sigma'\sigma'\rangle`) at one kernel: the difference from the rule with half the step
        (0 for a closed form)."""
        if self.closed_forms[name] is not None:
            return 0.0
        f = self._functions[name]
        return abs(self._pairs[name](k11, k12, k22) - quadrature(f, f, self.step / 2)(k11, k12, k22))

    @cached_property
    def series(self):
        return {name: HermiteSeries(f) for name, f in self._functions.items()}

    def _matrix(self, name, K):
        if self.closed_forms[name] is not None:
            return _pair_matrix(K, self._pairs[name]), 0.0
        series = self.series[name].matrix(K)
        if series is not None:
            return series
        d = np.sqrt(np.diag(K))
        rho = K / np.outer(d, d)
        iu = np.triu_indices(len(K), 1) if len(K) > 1 else np.triu_indices(1)
        picks = np.argsort(rho[iu])[np.linspace(0, len(iu[0]) - 1, min(16, len(iu[0]))).astype(int)]
        error = max(self.quadrature_error(K[i, i], K[i, j], K[j, j], name) for i, j in zip(iu[0][picks], iu[1][picks]))
        return _pair_matrix(K, self._pairs[name]), 2 * error

    def pair_matrices(self, K):
        r"""``(S, D, error)`` for a kernel matrix K over many inputs: :math:`S_{\alpha\beta} =
        \langle\sigma\sigma\rangle`, :math:`D_{\alpha\beta} = \langle\sigma'\sigma'\rangle`, and the error of S.
        Each by its closed form (error 0); else by the Mehler series of
        :class:`~symbolic_rg.two_point.HermiteSeries` (its stated bound); else, past the series' largest order,
        by the trapezoidal rule (error: twice the largest change with half the step over 16 pairs spread over the
        correlations: above the Richardson estimate 4/3 for an integrand with kinks, whose error falls like step²;
        an analytic one converges spectrally and this overstates it)."""
        S, error = self._matrix("sigma sigma", K)
        return S, self._matrix("sigma' sigma'", K)[0], error

    # -- one input ------------------------------------------------------------------------------
    def single(self, K):
        r"""``dict`` of one-input averages at kernel K: ``s2`` :math:`\langle\sigma^2\rangle`, ``s4``,
        ``d1`` :math:`\partial_K\langle\sigma^2\rangle = \langle\sigma^2(z^2-K)\rangle/2K^2`, ``d2``
        :math:`\partial_K^2\langle\sigma^2\rangle = \langle\sigma^2(z^4-6Kz^2+3K^2)\rangle/4K^4`, ``dd``
        :math:`\langle\sigma'^2\rangle`, and ``error`` (largest quadrature error estimate)."""
        s = self.sigma
        m = [gaussian_expectation(s**2 * z**(2 * k), K) for k in range(3)]
        s4 = gaussian_expectation(s**4, K)
        dd = gaussian_expectation(self.derivative**2, K)
        v0, v1, v2 = (e.value for e in m)
        return {"s2": v0, "s4": s4.value, "dd": dd.value,
                "d1": (v1 - K * v0) / (2 * K**2), "d2": (v2 - 6 * K * v1 + 3 * K**2 * v0) / (4 * K**4),
                "error": max(e.error for e in m + [s4, dd])}

    # -- two inputs -----------------------------------------------------------------------------
    @cached_property
    def _closed_pair_derivatives(self):
        """Closed-form (g, dg/dK, d2g/dK dK) of <sigma sigma> as a NumPy function of (K11, K12, K22)."""
        closed = self.closed_forms["sigma sigma"]
        if closed is None:
            return None
        g = in_kernel(closed)
        grad = [sp.diff(g, a) for a in _K_ENTRIES]
        hess = [[sp.diff(d, b) for b in _K_ENTRIES] for d in grad]
        return sp.lambdify(_K_ENTRIES, [g, grad, hess], "numpy")

    def _four_point_functions(self, j):
        f, h = self.sigma**j, self.sigma**(4 - j)
        closed = closed_form(f, h)
        if closed is not None:
            return sp.lambdify(_K_ENTRIES, in_kernel(closed), "numpy"), True
        return _moments_function(f, h, self.step), False

    @cached_property
    def _four_point(self):
        return [self._four_point_functions(j) for j in (1, 2, 3)]

    def pair_tensors(self, K):
        r"""For :math:`F = \sigma(z_1)\sigma(z_2)` at a 2×2 kernel K (distinct inputs): ``(<F>, D2, D4)``
        with ``D2[b1,b2]`` :math:`=\langle\partial_{b_1}\partial_{b_2}F\rangle` and ``D4`` the fourth
        derivatives (closed form, or Hermite weights under the quadrature)."""
        k11, k12, k22 = K[0, 0], K[0, 1], K[1, 1]
        closed = self._closed_pair_derivatives
        _check_not_parallel(K)
        if closed is not None:
            g, grad, hess = closed(k11, k12, k22)
            D2 = np.array([[2 * grad[0], grad[1]], [grad[1], 2 * grad[2]]], float)
            D4 = np.empty((2,) * 4)
            by_count = {4: 4 * hess[0][0], 3: 2 * hess[0][1], 2: hess[1][1], 1: 2 * hess[1][2], 0: 4 * hess[2][2]}
            for idx in itertools.product((0, 1), repeat=4):
                D4[idx] = by_count[idx.count(0)]
            return float(g), D2, D4
        M = _moments_function(self.sigma, self.sigma, self.step)(k11, k12, k22)
        return _hermite_tensors(M, K)

    def mixed_four_point(self, K):
        r""":math:`\langle\sigma(z_1)^j\sigma(z_2)^{4-j}\rangle_K` for j = 1, 2, 3 (j = 0, 4 are the one-input
        ``s4`` of :meth:`single`)."""
        out = []
        for fn, is_closed in self._four_point:
            v = fn(K[0, 0], K[0, 1], K[1, 1])
            out.append(float(v if is_closed else v[0, 0]))
        return out


@lru_cache(maxsize=None)
def _moments_function(f, h, step):
    r"""Compiled ``M[p, q]`` :math:`=\langle f(z_1)h(z_2)t_1^pt_2^q\rangle` (p, q ≤ 4), whitened
    :math:`z = Lt` (trapezoidal rule of :func:`~symbolic_rg.two_point.quadrature`)."""
    F, G = compile_function(f, (z,)), compile_function(h, (z,))

    @numba.njit(cache=False)
    def moments(k11, k12, k22):
        a, b, c = cholesky2(k11, k12, k22)
        t, w = trapezoid_rule(k11, k22, step)
        M = np.zeros((5, 5))
        for i in range(t.size):
            fi = w[i] * F(a * t[i])
            for j in range(t.size):
                v = fi * w[j] * G(b * t[i] + c * t[j])
                pi = v
                for p in range(5):
                    pq = pi
                    for q in range(5):
                        M[p, q] += pq
                        pq *= t[j]
                    pi *= t[i]
        return M
    return moments


def _check_not_parallel(K):
    """ParameterError when the two inputs of the 2×2 kernel K are (nearly) parallel or antiparallel."""
    c2 = K[1, 1] - K[0, 1]**2 / K[0, 0]
    if not c2 > 1e-12 * K[1, 1]:
        raise ParameterError("the two inputs are (nearly) parallel in the kernel (correlation %.12g): their "
                             "derivative averages need a one-input treatment; drop duplicate (or, with two centred "
                             "points, opposite) inputs" % (K[0, 1] / np.sqrt(K[0, 0] * K[1, 1])))


def _hermite_tensors(M, K):
    r"""``(<F>, D2, D4)`` from whitened moments by Gaussian integration by parts:
    :math:`\langle\partial_{b_1}\cdots\partial_{b_k}F\rangle = \sum_i\prod_r(L^{-\top})_{b_ri_r}
    \langle F\,\mathrm{He}_{i_1\cdots i_k}(t)\rangle`."""
    _check_not_parallel(K)
    L = np.linalg.cholesky(K)
    A = np.linalg.inv(L).T
    d = np.eye(2)

    def mom(*idx):
        return M[idx.count(0), idx.count(1)]
    H2 = np.array([[mom(i, j) - d[i, j] * M[0, 0] for j in range(2)] for i in range(2)])
    H4 = np.empty((2,) * 4)
    for i, j, k, l in itertools.product(range(2), repeat=4):
        H4[i, j, k, l] = (mom(i, j, k, l)
                          - d[k, l] * mom(i, j) - d[j, l] * mom(i, k) - d[j, k] * mom(i, l)
                          - d[i, l] * mom(j, k) - d[i, k] * mom(j, l) - d[i, j] * mom(k, l)
                          + (d[i, j] * d[k, l] + d[i, k] * d[j, l] + d[i, l] * d[j, k]) * M[0, 0])
    D2 = np.einsum("ai,bj,ij->ab", A, A, H2)
    D4 = np.einsum("ai,bj,ck,dl,ijkl->abcd", A, A, A, A, H4)
    return float(M[0, 0]), D2, D4


# -- infinite-width recursions over many inputs --------------------------------------------------------
@numba.njit(parallel=True, cache=False)
def _pair_matrix(K, pair):
    """``pair(K_aa, K_ab, K_bb)`` for every pair of inputs, parallel over pairs."""
    P = K.shape[0]
    n_pairs = P * (P + 1) // 2
    I = np.empty(n_pairs, np.int64)
    J = np.empty(n_pairs, np.int64)
    k = 0
    for i in range(P):
        for j in range(i, P):
            I[k], J[k] = i, j
            k += 1
    out = np.empty((P, P))
    for k in numba.prange(n_pairs):
        i, j = I[k], J[k]
        out[i, j] = out[j, i] = pair(K[i, i], K[i, j], K[j, j])
    return out


@numba.njit(parallel=True, cache=True)
def _mirror(A, out):
    """``out``: the upper triangle of A, mirrored into the lower one."""
    P = A.shape[0]
    for i in numba.prange(P):
        for j in range(i, P):
            out[i, j] = A[i, j]
        for j in range(i):
            out[i, j] = A[j, i]


class KernelRecursion(NamedTuple):
    r"""Infinite-width kernels ``K[l]`` and NTKs ``ntk[l]`` (layers 1..L, or the kept ones), the layers
    kept, and ``quadrature_error``: the per-layer error of :math:`C_W\langle\sigma\sigma\rangle`
    (:meth:`GaussianAverages.pair_matrices`) summed over the layers, the error of the last kernel where
    :math:`\chi \le 1` carries errors forward (ordered phase, criticality); 0 for closed forms."""
    kernels: np.ndarray
    ntk: np.ndarray
    layers: np.ndarray
    quadrature_error: float


def input_gram(X):
    r""":math:`XX^\top/n_0` of a finite 2-D array of inputs (points × features)."""
    X = checks.array("X", X, 2)
    return X @ X.T / X.shape[1]


def _first_layer(gram, depth, C_W, C_b):
    r""":math:`K^{(1)} = C_b + C_W\,XX^\top/n_0`, after checking depth, :math:`C_W`, :math:`C_b` and
    :math:`K^{(1)}(x,x) > 0`."""
    checks.integer("depth", depth, low=1)
    checks.positive("C_W", C_W)
    checks.nonnegative("C_b", C_b)
    K = C_b + C_W * gram
    zero = np.flatnonzero(np.diag(K) <= 0)
    if zero.size:
        raise ParameterError("input %d has zero kernel K(x, x) = 0 (x = 0 with C_b = 0); the recursion needs "
                             "K(x, x) > 0" % zero[0])
    return K


def _residual(xi, gamma):
    r"""Checked residual hyperparameters (:math:`\xi` the shortcut's, :math:`\gamma` the residual branch's)."""
    checks.nonnegative("xi", xi)
    checks.positive("gamma", gamma)
    return float(xi), float(gamma)


def kernel_recursion(spec, X, depth, C_W, C_b=0.0, lambda_b=1.0, lambda_W=1.0, layers="all", averages=None, xi=0.0,
                     gamma=1.0):
    r"""Kernels :math:`K^{(l)}` and NTKs :math:`\Theta^{(l)}` of layers 1..``depth`` on the rows of ``X``
    (module doc; :math:`\Theta^{(1)} = \lambda_b + \lambda_W XX^\top/n_0`), compiled and parallel over pairs.
    ``layers="last"`` keeps only the last layer (memory ~ P²).

    A residual network :math:`z^{(l+1)} = \xi z^{(l)} + \gamma\,[b + W\sigma(z^{(l)})]` (``xi``, ``gamma``; from the
    second layer on, equal widths; the plain network is :math:`\xi = 0`, :math:`\gamma = 1`) adds the shortcut to
    each layer: :math:`K' = \xi^2K + \gamma^2(C_b + C_W\langle\sigma\sigma\rangle)`, :math:`\Theta' = \xi^2\Theta +
    \gamma^2(\lambda_b + \lambda_W\langle\sigma\sigma\rangle + C_W\langle\sigma'\sigma'\rangle\Theta)` (the cross
    terms average to zero: :math:`W` is independent of :math:`z^{(l)}` and has mean zero)."""
    xi, gamma = _residual(xi, gamma)
    plain = xi == 0.0 and gamma == 1.0
    gram = input_gram(X)
    K = _first_layer(gram, depth, C_W, C_b)
    checks.nonnegative("lambda_b", lambda_b)
    checks.nonnegative("lambda_W", lambda_W)
    if layers not in ("all", "last"):
        raise ParameterError("layers must be 'all' or 'last', got %r" % (layers,))
    av = averages or GaussianAverages(spec)
    T = lambda_b + lambda_W * gram
    keep = np.ones(depth, bool) if layers == "all" else np.arange(depth) == depth - 1
    kernels, ntk, error = np.empty((keep.sum(),) + K.shape), np.empty((keep.sum(),) + K.shape), 0.0
    if keep[0]:
        kernels[0], ntk[0] = K, T
    closed = av.closed_layer is not None
    buffers = [np.empty_like(K) for _ in range(4)] if closed else None
    for l in range(1, depth):
        if closed:                        # upper triangles only, alternating between two pairs of buffers
            K_next, T_next = buffers[2 * (l % 2)], buffers[2 * (l % 2) + 1]
            finite = av.closed_layer(K, T, C_W, C_b, lambda_b, lambda_W, K_next, T_next)
            if not plain:                 # the shortcut, on whole buffers (their upper triangles are the ones read)
                K_next *= gamma**2
                K_next += xi**2 * K
                T_next *= gamma**2
                T_next += xi**2 * T
            K, T = K_next, T_next
        else:
            S, D, eps = av.pair_matrices(K)
            K, T = (xi**2 * K + gamma**2 * (C_b + C_W * S),
                    xi**2 * T + gamma**2 * (lambda_b + lambda_W * S + C_W * D * T))
            error += gamma**2 * C_W * eps
            finite = np.all(np.isfinite(K)) and np.all(np.isfinite(T))
        if not finite:
            raise ParameterError("the kernel recursion overflowed at layer %d (C_W = %g, C_b = %g): the kernel grows "
                                 "without bound; use a smaller C_W or depth" % (l + 1, C_W, C_b))
        if keep[l] and closed:
            _mirror(K, kernels[keep[:l].sum()])
            _mirror(T, ntk[keep[:l].sum()])
        elif keep[l]:
            kernels[keep[:l].sum()], ntk[keep[:l].sum()] = K, T
    return KernelRecursion(kernels, ntk, np.flatnonzero(keep) + 1, float(error))


# -- leading 1/width corrections ----------------------------------------------------------------------
class FiniteWidth(NamedTuple):
    r"""Per layer l = 1..L, for m inputs: ``kernel[l]`` (m×m), ``vertex[l]`` (m×m×m×m,
    :math:`V_{(\alpha_1\alpha_2)(\alpha_3\alpha_4)}`), ``correction[l]`` (:math:`K^{\{1\}}`, m×m); ``widths``
    :math:`n_0..n_{L-1}`; ``mean_kernel(l)`` :math:`= K + K^{\{1\}}/n_{l-1}` and the connected four-point
    function of two neurons ``connected(l)`` :math:`= V/n_{l-1}` are what a finite network has."""
    kernel: np.ndarray
    vertex: np.ndarray
    correction: np.ndarray
    widths: np.ndarray

    def mean_kernel(self, layer):
        return self.kernel[layer - 1] + self.correction[layer - 1] / self.widths[layer - 1]

    def connected(self, layer):
        return self.vertex[layer - 1] / self.widths[layer - 1]


def _single_tensors(s, a, m):
    """(<F>, D2, D4) of F = sigma(z_a)^2 in the m-input index space, from the one-input averages ``s``."""
    D2, D4 = np.zeros((m,) * 2), np.zeros((m,) * 4)
    D2[a, a] = 2 * s["d1"]
    D4[a, a, a, a] = 4 * s["d2"]
    return s["s2"], D2, D4


def _embed(tensors, index, m):
    """Pair tensors (<F>, D2, D4) over the two inputs ``index`` placed in the m-input index space."""
    mean, D2, D4 = tensors
    E2, E4 = np.zeros((m,) * 2), np.zeros((m,) * 4)
    E2[np.ix_(index, index)] = D2
    E4[np.ix_(index, index, index, index)] = D4
    return mean, E2, E4


def kernel_cholesky(K, inputs, what):
    """The Cholesky factor of the kernel ``K`` of ``inputs``; a ParameterError naming them and ``what`` needs it when K
    is (nearly) singular."""
    try:
        L = np.linalg.cholesky(K)
    except np.linalg.LinAlgError:
        L = np.zeros_like(K)
    if np.min(np.diag(L))**2 <= 1e-10 * np.max(np.diag(K)):
        raise ParameterError("inputs %s are (nearly) linearly dependent in the kernel: %s needs a positive-definite "
                             "kernel of every set of inputs: drop duplicates from X, or use C_b > 0" % (inputs, what))
    return L


def _four_point_function(av, K, singles):
    r""":math:`\langle\sigma_{\alpha_1}\sigma_{\alpha_2}\sigma_{\alpha_3}\sigma_{\alpha_4}\rangle_K` by the inputs it
    involves: one (``s4``), two (:meth:`GaussianAverages.mixed_four_point`), three or four
    (:func:`~symbolic_rg.two_point.gaussian_product`); memoised over the multiset of inputs."""
    memo = {}

    def four(alphas):
        key = tuple(sorted(alphas))
        if key not in memo:
            inputs = sorted(set(key))
            power = [key.count(a) for a in inputs]
            sub = K[np.ix_(inputs, inputs)]
            if len(inputs) == 1:
                memo[key] = singles[inputs[0]]["s4"]
            elif len(inputs) == 2:
                memo[key] = av.mixed_four_point(sub)[power[0] - 1]
            else:
                L = kernel_cholesky(sub, inputs, "the joint four-point function")
                memo[key] = gaussian_product(tuple(av.sigma**k for k in power))(L)
        return memo[key]
    return four


def _reflection_symmetric(sigma):
    r""":math:`\sigma(-z) = \pm\sigma(z)` (checked at sample points): then flipping every weight and bias flips every
    layer of a residual network too, and odd correlation functions vanish."""
    f = numeric(sigma)
    x = np.linspace(0.1, 4.0, 17)
    return bool(np.allclose(f(-x), f(x), rtol=1e-12, atol=1e-14) or np.allclose(f(-x), -f(x), rtol=1e-12, atol=1e-14))


def finite_width(spec, X, depth, widths, C_W, C_b=0.0, averages=None, xi=0.0, gamma=1.0):
    r"""Kernel, four-point vertex and 1/width kernel correction (module doc) jointly for the m inputs that are the
    rows of ``X`` (every component of V, with up to four distinct inputs); ``widths``: one hidden width for all
    layers, or :math:`n_1..n_{L-1}`.  Cost per layer: m² two-input tensors, and a three- or four-dimensional
    Gaussian integral per triple or quadruple of inputs.

    Residual network (``xi``, ``gamma`` as in :func:`kernel_recursion`, equal hidden widths): with
    :math:`z' = \xi z + \gamma h`, :math:`h = b + W\sigma(z)` Gaussian given layer l with covariance
    :math:`\hat G = C_b + C_W\sum_j\sigma_j\sigma_j/n`, the terms odd in :math:`h` vanish and
    :math:`K^{\{1\}\prime} = \xi^2K^{\{1\}} + \gamma^2[\ldots]_{\rm plain}`,

    .. math::
       V' = \xi^4V + \gamma^4V'_{\rm plain} + \xi^2\gamma^2C_W\Big[\sum_{\beta}\big(K_{\alpha_1\beta_1}K_{\alpha_2\beta_2}
       + \tfrac12V_{(\alpha_1\alpha_2)(\beta_1\beta_2)}\big)\langle\partial_{\beta_1}\partial_{\beta_2}
       F_{\alpha_3\alpha_4}\rangle + (\alpha_1\alpha_2\leftrightarrow\alpha_3\alpha_4)\Big]:

    the cross term is :math:`\mathrm{Cov}(z_{i\alpha_1}z_{i\alpha_2}, \hat G_{\alpha_3\alpha_4})`, the neuron's own
    :math:`\sigma_i\sigma_i/n` (Stein's identity :math:`E[z_az_bF] = K_{ab}E[F] + \sum K_{a\beta_1}K_{b\beta_2}
    E[\partial_{\beta_1}\partial_{\beta_2}F]`) plus the other neurons' through V.  One input, linear
    :math:`\sigma`: :math:`V' = (\xi^2 + \gamma^2C_W)^2V + 2K^2(\gamma^4C_W^2 + 2\xi^2\gamma^2C_W)`, as from
    :math:`\mathrm{Cov}(z_i'^2, z_k'^2)` directly.  Odd or even activations only (``ParameterError`` otherwise): for
    others (ReLU, GELU) flipping the weights does not flip the shortcut's z, and a three-point function of order 1/n
    enters V and K1."""
    xi, gamma = _residual(xi, gamma)
    gram = input_gram(X)
    K = _first_layer(gram, depth, C_W, C_b)
    hidden = checks.widths(depth - 1, list(widths) if isinstance(widths, np.ndarray) and widths.ndim else widths)
    if any(np.ndim(n) for n in hidden):
        raise ParameterError("widths must be one integer >= 1 or %d of them (n_1..n_{L-1}), got %r"
                             % (depth - 1, widths))
    n = np.array([np.shape(X)[1]] + [float(n) for n in hidden])
    if xi != 0 and len(set(n[1:])) > 1:
        raise ParameterError("a residual network (xi = %g) needs equal hidden widths for its shortcuts, got %s"
                             % (xi, [int(v) for v in n[1:]]))
    av = averages or GaussianAverages(spec)
    if xi != 0 and depth > 2 and not _reflection_symmetric(av.sigma):
        raise ParameterError("the residual vertex recursion needs an odd or even activation (sigma(-z) = +-sigma(z): "
                             "tanh, erf, linear, abs), got %r: otherwise flipping every weight does not flip the "
                             "shortcut's z, the layers have a three-point function at order 1/n (measured for ReLU: "
                             "E[z_i^2 z_k] = 0.16/n at xi = 0.8), and V and K1 need it; use xi = 0 or depth <= 2"
                             % (spec,))
    m = K.shape[0]
    V, K1 = np.zeros((m,) * 4), np.zeros((m, m))
    Ks, Vs, K1s = [K], [V], [K1]
    pairs = [(a, b) for a in range(m) for b in range(m)]
    for l in range(1, depth):
        r = n[l] / n[l - 1] if l > 1 else 1.0        # V^(1) = K1^(1) = 0: r multiplies zero at l = 1
        singles = [av.single(K[a, a]) for a in range(m)]
        T = {(a, a): _single_tensors(singles[a], a, m) for a in range(m)}
        for a, b in itertools.combinations(range(m), 2):
            T[(a, b)] = T[(b, a)] = _embed(av.pair_tensors(K[np.ix_([a, b], [a, b])]), [a, b], m)
        four = _four_point_function(av, K, singles)
        Kn, K1n, Vn = np.empty((m, m)), np.empty((m, m)), np.empty((m,) * 4)
        for (a1, a2) in pairs:
            mean, D2, D4 = T[(a1, a2)]
            Kn[a1, a2] = C_b + C_W * mean
            K1n[a1, a2] = r * (C_W / 2 * np.sum(D2 * K1) + C_W / 8 * np.sum(D4 * V))
            for (a3, a4) in pairs:
                Vn[a1, a2, a3, a4] = (C_W**2 * (four((a1, a2, a3, a4)) - mean * T[(a3, a4)][0])
                                      + r * C_W**2 / 4 * np.einsum("ab,cd,abcd->", D2, T[(a3, a4)][1], V))
        if xi != 0 or gamma != 1:
            # cross[a1, a2, a3, a4] = sum_b (K_a1b1 K_a2b2 + V_(a1a2)(b1b2)/2) <d_b1 d_b2 F_a3a4>
            D2s = np.array([[T[(a3, a4)][1] for a4 in range(m)] for a3 in range(m)])        # (m, m, m, m)
            cross = (np.einsum("ab,cd,efbd->acef", K, K, D2s) + 0.5 * np.einsum("acbd,efbd->acef", V, D2s))
            Vn = xi**4 * V + gamma**4 * Vn + xi**2 * gamma**2 * C_W * (cross + cross.transpose(2, 3, 0, 1))
            Kn = xi**2 * K + gamma**2 * Kn
            K1n = xi**2 * K1 + gamma**2 * K1n
        K, K1, V = Kn, K1n, Vn
        Ks.append(K), Vs.append(V), K1s.append(K1)
    return FiniteWidth(np.array(Ks), np.array(Vs), np.array(K1s), n)


def norm_vertex(spec, X, depth, C_W, C_b=0.0, averages=None):
    r"""The vertex :math:`V_{(\alpha\alpha)(\beta\beta)}` of every pair of inputs, per layer (equal widths,
    per 1/n), which closes on itself:
    :math:`V' = C_W^2(\langle\sigma_\alpha^2\sigma_\beta^2\rangle - \langle\sigma_\alpha^2\rangle\langle\sigma_\beta^2
    \rangle) + \chi_\parallel(K_{\alpha\alpha})\chi_\parallel(K_{\beta\beta})V`; compiled and parallel over pairs."""
    av = averages or GaussianAverages(spec)
    rec = kernel_recursion(spec, X, depth, C_W, C_b, averages=av)
    four = _pair_average(av.sigma**2, av.sigma**2, av.step)[1]
    P = rec.kernels.shape[1]
    V = np.zeros((P, P))
    out = [V]
    for K in rec.kernels[:-1]:
        singles = [av.single(k) for k in np.diag(K)]
        chi = C_W * np.array([s["d1"] for s in singles])
        s2 = np.array([s["s2"] for s in singles])
        V = C_W**2 * (_pair_matrix(K, four) - np.outer(s2, s2)) + np.outer(chi, chi) * V
        out.append(V)
    return np.array(out)


class DepthScaling(NamedTuple):
    r""":math:`V^{(L)}/(K^{(L)})^2 \simeq \nu L` at criticality (equal widths): ``nu`` from the engine's
    asymptotic analysis, ``nu_recursion`` the slope of the recursion between two large depths."""
    nu: float
    nu_recursion: float
    universality_class: str
    criticality: object


def residual_criticality(spec, xi, gamma=1.0):
    r"""The critical initialization :math:`(C_b, C_W)` of a residual network :math:`z' = \xi z + \gamma[b +
    W\sigma(z)]` (:func:`kernel_recursion`; :math:`\xi < 1`): its fixed point :math:`K^* = \xi^2K^* +
    \gamma^2(C_b + C_W g(K^*))` and susceptibilities :math:`\chi = \xi^2 + \gamma^2C_W(\ldots)` are those of the
    plain network at :math:`\tilde C = \gamma^2C/(1-\xi^2)`, so :math:`(C_b, C_W) = \frac{1-\xi^2}{\gamma^2}
    (\tilde C_b, \tilde C_W)` with the plain critical point :math:`\tilde C` (:func:`~symbolic_rg.criticality`), the
    same :math:`K^*` and class; :math:`\chi_\parallel = \chi_\perp = 1`.

    >>> c = residual_criticality("relu", xi=0.8)
    >>> round(c.C_W, 12), c.universality_class           # (1 - 0.64) * 2
    (0.72, 'scale-invariant')
    """
    xi, gamma = _residual(xi, gamma)
    if xi >= 1:
        raise ParameterError("xi must be below 1 for a critical residual network (xi^2 + gamma^2 chi = 1 needs "
                             "xi^2 < 1), got %r" % xi)
    plain = criticality(spec)
    scale = (1 - xi**2) / gamma**2
    return plain._replace(C_b=plain.C_b * scale, C_W=plain.C_W * scale)


def depth_scaling(spec, depths=(400, 800), xi=0.0, gamma=1.0):
    r"""The coefficient :math:`\nu` of :math:`V/K^2 \simeq \nu L` at the critical point of an activation.

    At a nonzero fixed point :math:`K^*` (scale-invariant or :math:`K^*\neq0` class) :math:`\chi_\parallel = 1`
    and :math:`\nu = C_W^2(\langle\sigma^4\rangle - \langle\sigma^2\rangle^2)_{K^*}/K^{*2}`.  In the
    :math:`K^* = 0` class :math:`K\simeq -1/(a_1L)` and :math:`\chi_\parallel\simeq 1 + 2a_1K`, so
    :math:`V = c/L` solves :math:`-c = -4c + v_2/a_1^2` with :math:`v_2 = \lim_{K\to0}C_W^2
    (\langle\sigma^4\rangle-\langle\sigma^2\rangle^2)/K^2` (SymPy series): :math:`\nu = v_2/3`.
    ``nu_recursion`` checks it on the recursion itself (one input, :math:`K^{(1)} = K^*` or 1).

    Residual network (``xi``, ``gamma``, at :func:`residual_criticality`; odd or even activations, as
    :func:`finite_width`): one input, :math:`V' = \xi^4V + \gamma^4[C_W^2(\langle\sigma^4\rangle - \langle\sigma^2
    \rangle^2) + \chi_p^2V] + 2\xi^2\gamma^2\chi_p(2K^2 + V)` with :math:`\chi_p = C_W\partial_K\langle\sigma^2\rangle`,
    i.e. :math:`V' = \chi_\parallel^2V + \gamma^4C_W^2(\ldots) + 4\xi^2\gamma^2\chi_pK^2`; at criticality
    :math:`\gamma^2\chi_p = 1 - \xi^2` (at :math:`K^*`, or as :math:`K\to0`), so
    :math:`\nu = (1-\xi^2)^2\tilde\nu + 4\xi^2(1-\xi^2)` at a nonzero :math:`K^*` and
    :math:`(1-\xi^2)^2\tilde\nu + \tfrac43\xi^2(1-\xi^2)` in the :math:`K^*=0` class (the same :math:`V = c/L`
    argument with the source :math:`sK^2`, :math:`\nu = s/3`), :math:`\tilde\nu` the plain network's.
    """
    xi, gamma = _residual(xi, gamma)
    crit = residual_criticality(spec, xi, gamma)
    av = GaussianAverages(spec)
    if xi != 0 and not _reflection_symmetric(av.sigma):
        raise ParameterError("the residual vertex recursion needs an odd or even activation (see finite_width), "
                             "got %r" % (spec,))
    sigma = av.sigma
    C_W, C_b = crit.C_W, crit.C_b
    plain_CW = criticality(spec).C_W
    if crit.universality_class == "K*=0":
        Ks = sp.Symbol("K", positive=True)
        taylor = sum(sp.limit(sp.diff(sigma, z, k), z, 0) / sp.factorial(k) * z**k for k in range(4))

        def average(poly):            # <z^n>_K = (n-1)!! K^(n/2) for even n, 0 for odd n
            return sum(c * (sp.factorial2(n - 1) * Ks**(n // 2) if n % 2 == 0 else 0)
                       for (n,), c in sp.Poly(sp.expand(poly), z).terms())
        excess = sp.expand(average(taylor**4) - average(taylor**2)**2)
        v2 = sp.nsimplify(plain_CW)**2 * excess.coeff(Ks, 2)
        nu = (1 - xi**2)**2 * float(v2 / 3) + 4 * xi**2 * (1 - xi**2) / 3
        K0 = 0.1
    else:
        K0 = 1.0 if crit.universality_class == "scale-invariant" else crit.K_star
        s = av.single(K0)
        nu = (1 - xi**2)**2 * plain_CW**2 * (s["s4"] - s["s2"]**2) / K0**2 + 4 * xi**2 * (1 - xi**2)
    ratios = []
    K, V = K0, 0.0
    for l in range(1, max(depths)):
        s = av.single(K)
        chi = C_W * s["d1"]
        V = (xi**4 * V + gamma**4 * (C_W**2 * (s["s4"] - s["s2"]**2) + chi**2 * V)
             + 2 * xi**2 * gamma**2 * chi * (2 * K**2 + V))
        K = xi**2 * K + gamma**2 * (C_b + C_W * s["s2"])
        if l + 1 in depths:
            ratios.append(V / K**2)
    slope = (ratios[1] - ratios[0]) / (depths[1] - depths[0])
    return DepthScaling(float(nu), float(slope), crit.universality_class, crit)


class NNGPInputKernel:
    r"""Input Gram matrix :math:`C` of the kernel renormalization of :class:`~symbolic_rg.layers.Nonlinear` layers,
    the one the solver multiplies by :math:`\sigma_1^2` (the network's Gaussian-process kernel is
    :math:`\sigma_a^2\sigma_L^2\cdots\sigma_2^2\,\sigma_1^2C`), from :func:`kernel_recursion` with :math:`C_b = 0`:

    * a positively homogeneous activation: :math:`C = \Phi^L(XX^\top/N_0)`, :math:`\Phi(K) =
      \langle\phi\phi\rangle_K` (:math:`C_W = 1`), the same for every :math:`\sigma_1`;
    * any other activation (one layer): :math:`\sigma_1^2C = \Phi(\sigma_1^2XX^\top/N_0)`, so :math:`C` depends on
      ``sigma2_1`` (``depends_on_sigma``).

    ``layer_grams`` gives :math:`C_l` with :math:`\sigma_1^2C_l` the GP Gram matrix of layer l's output (over
    :math:`\sigma_2^2\cdots\sigma_l^2`), used for the mean layer kernels."""

    def __init__(self, spec, depth):
        self.spec, self.depth = spec, depth
        self.averages = GaussianAverages(spec)
        self.depends_on_sigma = not scale_invariant(self.averages.sigma)
        if self.depends_on_sigma and depth != 1:
            raise ParameterError("activation %r is not positively homogeneous: its input kernel is defined for one "
                                 "hidden layer, got depth %d" % (spec, depth))
        self._cache = {}

    def _grams(self, X, depth, sigma2_1):
        r""":math:`C_l`, l = 1..depth, remembered for the last few inputs (the solver asks for the training Gram,
        the layer kernels and the predictions on the same X)."""
        X = np.ascontiguousarray(X, dtype=float)
        s2 = float(checks.positive("sigma2_1", sigma2_1)) if self.depends_on_sigma else 1.0
        key = (X.shape, X.tobytes(), depth, s2)
        if key not in self._cache:
            if len(self._cache) >= 4:
                self._cache.pop(next(iter(self._cache)))
            # K^(l+1) = s2 Phi(K^(l)), K^(1) = s2 XX^T/N_0: the homogeneous case at s2 = 1; else (one layer)
            # Phi(s2 XX^T/N_0) = K^(2)/s2 and C = K^(2)/s2^2
            grams = kernel_recursion(self.spec, X, depth + 1, C_W=s2, averages=self.averages).kernels[1:] / s2**2
            grams.flags.writeable = False
            self._cache[key] = grams
        return self._cache[key]

    def gram(self, X, sigma2_1=1.0):
        return self._grams(X, self.depth, sigma2_1)[-1]

    def cross(self, X_test, X, sigma2_1=1.0):
        """``(C(X_test, X), diag C(X_test, X_test))``."""
        joint = self._grams(np.vstack([X_test, X]), self.depth, sigma2_1)[-1]
        n = X_test.shape[0]
        return joint[:n, n:], np.diag(joint)[:n].copy()

    def layer_grams(self, X, depth, sigma2_1=1.0):
        return list(self._grams(X, max(depth, self.depth), sigma2_1)[:depth])
