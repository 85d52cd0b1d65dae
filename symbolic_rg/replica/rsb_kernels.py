r"""Compiled nested Gaussian averages of the 1RSB deep perceptron (:mod:`.rsb`), per layer, with their gradients.

**Hidden layer.**  The rule's one-replica function has the form :math:`\zeta(x, y) = \sum_{S=\pm1}e^{Sy}A_S(x)`,
:math:`A_S(x) = H(c_S + d_Sx)` (checked on the derived expression by :mod:`.rsb_solver`), so
:math:`\zeta = 2e^{\ell(x)}\cosh(y + r(x))` with :math:`\ell = \tfrac12\ln A_+A_-`, :math:`r = \tfrac12\ln A_+/A_-`.  The
inner average over :math:`w_1` (variance :math:`b^2 = \hat q_1 - \hat q_0`) of :math:`\zeta^m` and of the tilted
moments is then a function of :math:`t = y + r(x)` alone:

.. math:: \Gamma(t) = \ln\mathbb E_w\cosh^m(t + bw),\quad T_k(t) = \langle\tanh^k\rangle,\quad
   \Lambda(t) = \langle\ln\cosh\rangle\quad(\text{tilt }\propto\cosh^m(t + bw)),

tabulated once per evaluation on a uniform grid of :math:`t\ge0` (trapezoid rule in :math:`w`, spacing below
:math:`0.3/b`: the integrand is analytic in a strip of half-width :math:`\pi/2b`; table step
:math:`0.01\sqrt{\max(1, b)}`: the functions vary on the scale :math:`\max(1, b)` in :math:`t`) and read by cubic
Hermite interpolation from the values and their exact :math:`t`-derivatives; beyond :math:`t_{max} = \min(b^2, 9.5b)
+ 22` the asymptotic forms (:math:`\Gamma = mt - m\ln2 + m^2b^2/2`, :math:`T_k = 1`, :math:`\Lambda = t + mb^2 -
\ln 2`; their error, :math:`\mathbb E\,m e^{-2|t + bw|}` under the tilt, is below :math:`e^{-40}`: the tilted
:math:`w` is :math:`N(mb, 1)` where :math:`t + bw > 0`, so the error is at most :math:`e^{-2t + 2b^2}` and at most
the weight :math:`e^{-(t/b)^2/2}` of :math:`t + bw < 0`).  The inner average over :math:`z_1` (variance
:math:`a^2 = p_1 - p_0`) and the outer one over :math:`z_0, w_0` (variances :math:`p_0, \hat q_0`) by composite
Gauss–Legendre on :math:`[-Z, Z]`, panels graded towards the kinks (:func:`~.codegen.panel_edges`).  With
:math:`f_1 = \tfrac1m\ln\mathbb E_{z_1,w_1}\zeta^m` and :math:`\langle\cdot\rangle` the tilted inner average, the
heat-equation identities give the gradient of
:math:`F = \mathbb E_{z_0,w_0}f_1`:

.. math:: \partial_{p_0}F = -\tfrac m2\mathbb E(\partial_xf_1)^2,\ \partial_{p_1}F = \tfrac{m-1}2\mathbb E
   \langle(\partial_x\ln\zeta)^2\rangle,\ \partial_{\hat q_0}F = -\tfrac m2\mathbb E(\partial_yf_1)^2,\
   \partial_{\hat q_1}F = \tfrac12 + \tfrac{m-1}2\mathbb E\langle(\partial_y\ln\zeta)^2\rangle,\
   \partial_mF = \mathbb E(\langle\ln\zeta\rangle - f_1)/m

(:math:`p_1` enters both :math:`a^2` and the own noise :math:`1 - p_1` of :math:`A_S`; :math:`\partial_y^2\ln\zeta =
1 - (\partial_y\ln\zeta)^2`).  **Output layer**: the same with :math:`\zeta_S(x) = A_S(x)` and no :math:`y`.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..special import log_h, mills_ratio
from .codegen import panel_edges

__all__ = ["hidden_term", "output_term", "gamma_table", "hermite_cells", "gamma_lookup", "Z_MAX", "BULK", "TABLE_STEP"]

Z_MAX = 8.5            # Gaussian weight beyond 8.5 standard deviations: 2e-17 (codegen's RS integrals use 9.5)
BULK = 1.5             # bulk panel width
TABLE_STEP = 0.01      # spacing of the t-table (cubic Hermite: error ~ step^4 / 384 times the 4th derivative)
LN2 = math.log(2.0)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def gamma_table(b, m, step):
    r"""Rows (Gamma, T1, T2, Lambda) and their t-derivatives on t = 0, step, ..., t_max = min(b^2, 9.5 b) + 22:
    returns (values (4, N), derivatives (4, N), t_max).  The weights are scaled by their upper bound
    :math:`e^{m|t| + m^2b^2/2}` (:math:`\ln\cosh u\le|u|`), within :math:`e^{m\ln2 + m^2b^2/2}` of their maximum."""
    t_max = min(b * b, 9.5 * b) + 22.0
    N = int(math.ceil(t_max / step)) + 1
    h = min(0.25, 0.3 / b)
    W = 10.0 + b
    K = int(math.ceil(W / h))
    vals = np.empty((4, N))
    ders = np.empty((4, N))
    gauss = np.exp(-0.5 * (np.arange(-K, K + 1) * h) ** 2)
    for i in numba.prange(N):
        t = i * step
        top = m * t + 0.5 * m * m * b * b
        s0 = s1 = s2 = s3 = sl = slt = 0.0
        for k in range(-K, K + 1):
            u = t + b * k * h
            a = abs(u)
            e2 = math.exp(-2 * a)
            lc = a + math.log1p(e2) - LN2
            wt = gauss[k + K] * math.exp(m * lc - top)
            th = math.copysign((1 - e2) / (1 + e2), u)
            s0 += wt
            s1 += wt * th
            s2 += wt * th * th
            s3 += wt * th * th * th
            sl += wt * lc
            slt += wt * lc * th
        T1, T2, T3, Lc, LcT = s1 / s0, s2 / s0, s3 / s0, sl / s0, slt / s0
        vals[0, i] = top + math.log(s0 * h / math.sqrt(2 * math.pi))
        vals[1, i], vals[2, i], vals[3, i] = T1, T2, Lc
        ders[0, i] = m * T1
        ders[1, i] = 1 - T2 + m * (T2 - T1 * T1)
        ders[2, i] = 2 * (T1 - T3) + m * (T3 - T2 * T1)
        ders[3, i] = T1 + m * (LcT - Lc * T1)
    return vals, ders, t_max


@numba.njit(cache=True, error_model="numpy")
def hermite_cells(vals, ders, step):
    r"""The table's cubic Hermite interpolants in the power basis: row i holds, for each of (Gamma, T1, T2, Lambda),
    the coefficients of :math:`1, u, u^2, u^3` on :math:`t = (i + u)\,\mathrm{step}`, :math:`0\le u\le1`."""
    N = vals.shape[1]
    coef = np.empty((N - 1, 16))
    for i in range(N - 1):
        for r in range(4):
            v0, v1 = vals[r, i], vals[r, i + 1]
            d0, d1 = step * ders[r, i], step * ders[r, i + 1]
            coef[i, 4 * r] = v0
            coef[i, 4 * r + 1] = d0
            coef[i, 4 * r + 2] = -3 * v0 - 2 * d0 + 3 * v1 - d1
            coef[i, 4 * r + 3] = 2 * v0 + d0 - 2 * v1 + d1
    return coef


@numba.njit(cache=True, error_model="numpy", inline="always")
def gamma_lookup(coef, t_max, step, b, m, t):
    """(Gamma, T1, T2, Lambda) at t: the table's interpolants (:func:`hermite_cells`; Gamma, T2, Lambda even, T1 odd),
    the asymptotic forms beyond t_max; b = 0: the closed forms."""
    a = abs(t)
    sign = 1.0 if t >= 0 else -1.0
    if b == 0.0:
        th = math.tanh(a)
        lc = a + math.log1p(math.exp(-2 * a)) - LN2
        return m * lc, sign * th, th * th, lc
    if a >= t_max:
        return m * a - m * LN2 + 0.5 * m * m * b * b, sign, 1.0, a + m * b * b - LN2
    s = a / step
    i = min(int(s), coef.shape[0] - 1)
    u = s - i
    c = coef[i]
    return (c[0] + u * (c[1] + u * (c[2] + u * c[3])), sign * (c[4] + u * (c[5] + u * (c[6] + u * c[7]))),
            c[8] + u * (c[9] + u * (c[10] + u * c[11])), c[12] + u * (c[13] + u * (c[14] + u * c[15])))


@numba.njit(cache=True, error_model="numpy")
def _log_a(c, d, x):
    """(ln A, d ln A / dx) of A(x) = H(c + d x)."""
    u = c + d * x
    return log_h(u), -d * mills_ratio(u)


@numba.njit(cache=True, error_model="numpy")
def _nodes(edges, xg, wg):
    """Composite Gauss-Legendre nodes and weights (times the standard normal density) on panels ``edges``."""
    n = (edges.shape[0] - 1) * xg.shape[0]
    z = np.empty(n)
    w = np.empty(n)
    k = 0
    for i in range(edges.shape[0] - 1):
        h = 0.5 * (edges[i + 1] - edges[i])
        for j in range(xg.shape[0]):
            z[k] = edges[i] + h * (xg[j] + 1.0)
            w[k] = h * wg[j] * math.exp(-0.5 * z[k] * z[k]) / math.sqrt(2 * math.pi)
            k += 1
    return z, w


@numba.njit(cache=True, error_model="numpy")
def _trivial():
    return np.zeros(1), np.ones(1)


@numba.njit(cache=True, error_model="numpy", parallel=True)
def hidden_term(p0, p1, h0, h1, m, cp, dp, cm, dm, xg, wg, bulk, step=TABLE_STEP):
    r"""The hidden-layer average :math:`F = \mathbb E_{z_0,w_0}\tfrac1m\ln\mathbb E_{z_1,w_1}\zeta^m` and its gradient
    in (p0, p1, qhat0, qhat1, m): returns an array of 6.  :math:`A_\pm(x) = H(c_\pm + d_\pm x)` (own noise
    :math:`1 - p_1` already in c, d); ``step``: the spacing of the t-table at b <= 1 (times sqrt(b) above)."""
    a = math.sqrt(max(p1 - p0, 0.0))
    b = math.sqrt(max(h1 - h0, 0.0))
    sp0, sh0 = math.sqrt(max(p0, 0.0)), math.sqrt(max(h0, 0.0))
    step = step * math.sqrt(max(1.0, b))          # Gamma, T_k, Lambda vary on the scale max(1, b) in t
    vals, ders, t_max = gamma_table(b, m, step)
    coef = hermite_cells(vals, ders, step)
    # outer z0 panels: kinks where an argument of H vanishes, widths from the total spread of x around x0
    spread = math.sqrt(1.0 - p0)
    if sp0 > 0:
        kz = np.array([-cp / dp / sp0, -cm / dm / sp0])
        wz = np.array([spread / sp0, spread / sp0])
        z0, v0 = _nodes(panel_edges(kz, wz, -Z_MAX, Z_MAX, bulk), xg, wg)
    else:
        z0, v0 = _trivial()
    # the inner nodes' buffers: at most ceil(2 Z / bulk) bulk panels, and per kink of width w, 1 + 2 ceil(log2(bulk / w))
    # + 2 graded edges (panel_edges)
    n_edges = int(math.ceil(2 * Z_MAX / bulk)) + 1
    if a > 0:
        for width in (1.0 / abs(dp) / a, 1.0 / abs(dm) / a):
            n_edges += 3 + 2 * max(0, int(math.ceil(math.log2(bulk / width))))
    n_inner = n_edges * xg.shape[0]
    F = dP0 = dP1 = dH0 = dH1 = dM = 0.0
    for i in numba.prange(z0.shape[0]):
        e = np.empty(n_inner)
        ell = np.empty(n_inner)
        d_ell = np.empty(n_inner)
        d_r = np.empty(n_inner)
        r_ = np.empty(n_inner)
        t1 = np.empty(n_inner)
        t2 = np.empty(n_inner)
        lc = np.empty(n_inner)
        x0 = sp0 * z0[i]
        # inner z1 nodes (independent of y0): kinks where an argument of H vanishes
        if a > 0:
            kz1 = np.array([(-cp / dp - x0) / a, (-cm / dm - x0) / a])
            wz1 = np.array([1.0 / abs(dp) / a, 1.0 / abs(dm) / a])
            z1, v1 = _nodes(panel_edges(kz1, wz1, -Z_MAX, Z_MAX, bulk), xg, wg)
        else:
            z1, v1 = _trivial()
        n1 = z1.shape[0]
        for k in range(n1):
            x = x0 + a * z1[k]
            la, da = _log_a(cp, dp, x)
            lb, db = _log_a(cm, dm, x)
            ell[k] = 0.5 * (la + lb)
            r_[k] = 0.5 * (la - lb)
            d_ell[k] = 0.5 * (da + db)
            d_r[k] = 0.5 * (da - db)
        # outer w0 panels: kink where the two spin states exchange dominance, y0 = -r(x0)
        if sh0 > 0:
            la, _ = _log_a(cp, dp, x0)
            lb, _ = _log_a(cm, dm, x0)
            kw = np.array([-0.5 * (la - lb) / sh0])
            ww = np.array([0.5 * math.sqrt(1.0 + b * b + a * a) / sh0])
            w0, u0 = _nodes(panel_edges(kw, ww, -Z_MAX, Z_MAX, bulk), xg, wg)
        else:
            w0, u0 = _trivial()
        for j in range(w0.shape[0]):
            y0 = sh0 * w0[j]
            top = -np.inf
            for k in range(n1):
                g, t1[k], t2[k], lc[k] = gamma_lookup(coef, t_max, step, b, m, y0 + r_[k])
                e[k] = m * ell[k] + g
                if e[k] > top:
                    top = e[k]
            s = f2 = fx = fx2 = fy = fy2 = 0.0
            for k in range(n1):
                pk = v1[k] * math.exp(e[k] - top)
                s += pk
                f2 += pk * (ell[k] + lc[k])
                fx += pk * (d_ell[k] + d_r[k] * t1[k])
                fx2 += pk * (d_ell[k] * d_ell[k] + 2 * d_ell[k] * d_r[k] * t1[k] + d_r[k] * d_r[k] * t2[k])
                fy += pk * t1[k]
                fy2 += pk * t2[k]
            f2, fx, fx2, fy, fy2 = f2 / s, fx / s, fx2 / s, fy / s, fy2 / s
            f1 = LN2 + (top + math.log(s)) / m
            wt = v0[i] * u0[j]
            F += wt * f1
            dP0 += wt * fx * fx
            dP1 += wt * fx2
            dH0 += wt * fy * fy
            dH1 += wt * fy2
            dM += wt * (LN2 + f2 - f1)
    out = np.empty(6)
    out[0] = F
    out[1] = -0.5 * m * dP0
    out[2] = 0.5 * (m - 1) * dP1
    out[3] = -0.5 * m * dH0
    out[4] = 0.5 + 0.5 * (m - 1) * dH1
    out[5] = dM / m
    return out


@numba.njit(cache=True, error_model="numpy")
def output_term(p0, p1, m, c, d, xg, wg, bulk):
    r"""One output state's average :math:`\mathbb E_{z_0}\tfrac1m\ln\mathbb E_{z_1}A(x)^m`, :math:`A = H(c + dx)`,
    and its gradient in (p0, p1, m): returns an array of 4."""
    a = math.sqrt(max(p1 - p0, 0.0))
    sp0 = math.sqrt(max(p0, 0.0))
    spread = math.sqrt(1.0 - p0)
    if sp0 > 0:
        z0, v0 = _nodes(panel_edges(np.array([-c / d / sp0]), np.array([spread / sp0]), -Z_MAX, Z_MAX, bulk), xg, wg)
    else:
        z0, v0 = _trivial()
    F = dP0 = dP1 = dM = 0.0
    for i in range(z0.shape[0]):
        x0 = sp0 * z0[i]
        if a > 0:
            z1, v1 = _nodes(panel_edges(np.array([(-c / d - x0) / a]), np.array([1.0 / abs(d) / a]), -Z_MAX, Z_MAX,
                                        bulk), xg, wg)
        else:
            z1, v1 = _trivial()
        n1 = z1.shape[0]
        e = np.empty(n1)
        g = np.empty(n1)
        top = -np.inf
        for k in range(n1):
            la, da = _log_a(c, d, x0 + a * z1[k])
            e[k], g[k] = la, da
            if m * la > top:
                top = m * la
        s = f2 = fx = fx2 = 0.0
        for k in range(n1):
            pk = v1[k] * math.exp(m * e[k] - top)
            s += pk
            f2 += pk * e[k]
            fx += pk * g[k]
            fx2 += pk * g[k] * g[k]
        f2, fx, fx2 = f2 / s, fx / s, fx2 / s
        f1 = (top + math.log(s)) / m
        F += v0[i] * f1
        dP0 += v0[i] * fx * fx
        dP1 += v0[i] * fx2
        dM += v0[i] * (f2 - f1)
    out = np.empty(4)
    out[0] = F
    out[1] = -0.5 * m * dP0
    out[2] = 0.5 * (m - 1) * dP1
    out[3] = dM / m
    return out
