"""SK model: k-step RSB free entropy for large k and its full-RSB (Parisi) limit, at zero field.

Model and conventions
---------------------
Sherrington-Kirkpatrick model, couplings of variance 1/N (T_c = 1), zero field.  Free entropy per spin
phi = -beta f, ln 2 included.  k-step RSB Parisi functional, 0 = q_{-1} <= q_0 <= q_1 <= ... <= q_k <= 1,
0 < m_1 <= ... <= m_k <= 1, m_{k+1} = 1:

    P_k = beta^2/4 [1 - 2 q_k + m_1 q_0^2 - sum_{j=1..k} (m_j - m_{j+1}) q_j^2]
          + (1/m_1) E_{z0} ln E_{z1}[ ... E_{zk}[(2 cosh beta h)^{m_k}]^{m_{k-1}/m_k} ... ]^{m_1/m_2},
    h = sum_{j=0..k} sqrt(q_j - q_{j-1}) z_j.

k = 0 is RS: beta^2/4 (1-q)^2 + E ln 2cosh(beta sqrt(q) z).  By Guerra's bound every P_k(q, m) is an upper
bound on the free entropy and the Parisi formula (Talagrand) says phi = inf P, so each phi_k = inf over the
parameters, and phi_FRSB = lim_k phi_k.

Two k-step families are computed (both converge to the same FRSB value, which is the cross-check):
  * "q0 = 0": the conventional zero-field k-RSB (q_0 = 0 pinned; the usual 1RSB q0 = 0, q1 = 0.6013214,
    m = 0.2042430, phi = 1.5826096 at T = 0.5).  q_0 = 0 is a *stationary* point of P_k but not its minimum
    in the q_0 direction: P_k decreases when q_0 > 0 is released (checked independently with nested adaptive
    quadrature at k = 1).
  * "q0 free": the true infimum of P_k over all its parameters.  Since releasing q_0 is the m_1 -> 0 limit of
    the next q0 = 0 family, the values interlace:
    RS = phi_0 > phi_1(q0=0) > phi_1 > phi_2(q0=0) > phi_2 > ...

Method
------
Backward recursion on a uniform field grid h in [-L, L] (step dh, h = 0 on the grid):
    f_{k+1}(h) = ln 2cosh(beta h),
    f_j(h) = (1/m_j) ln Int dy  N(y - h; q_j - q_{j-1}) exp(m_j f_{j+1}(y)),   j = k..2,
evaluated with the trapezoid rule on the grid in log-sum-exp form (exp(m f(y) - m f(h)) times the Gaussian
weight is bounded, so nothing overflows); beyond +-L, f is continued by its exact asymptote (slope beta).
The integrand is analytic in a strip |Im y| < pi/(2 beta) and Gaussian, so the trapezoid rule converges
exponentially: error ~ exp(-pi^2/(beta dh)) + exp(-2 pi^2 sigma_j^2/dh^2), sigma_j^2 = q_j - q_{j-1}
(the script warns if some sigma_j < 1.4 dh).  Level 1 is evaluated at the nodes h_i = sqrt(q_0) z_i of a
trapezoid rule in z in [-9, 9] (step 0.1) and averaged (the E_{z0}; with q_0 = 0 only h = 0).
The gradient with respect to all q_j, m_j is exact for the discrete functional: it is obtained with one
adjoint (forward-in-j) pass that propagates the Parisi field measure a_j(h) with the same transition weights
(dP/dm_j = (<f_{j+1}>_{a_{j+1}} - <f_j>_{a_j})/m_j, dP/d sigma_j^2 = <(y-h)^2/(2 sigma^4) - 1/(2 sigma^2)>/m_j,
dP/dq_0 = <f_1''>/2; checked against finite differences).  P_k is minimized in the increments
(Delta q_j, Delta m_j) with L-BFGS-B, repeated with rescaled variables until it stops decreasing, then
polished with damped Newton steps (central finite-difference Hessian of the exact gradient); the start for
each k is the (pchip-interpolated) optimum of the previous k.

Accuracy (measured)
-------------------
* Functional: P_1 (q0 = 0 and q0 free) and P_2 (q0 = 0) agree with nested adaptive scipy quadrature to
  < 1e-13; RS and the quoted 1RSB point are reproduced (q = 0.5303684, 1.5847858903; 1.5826095792).
* Grid: halving dh and moving L by +3 changes every phi_k by < 5e-13 (mostly < 1e-13).
* Optimizer: L-BFGS-B alone leaves phi_k up to ~1e-11 too high at k >= 16 (the landscape has very flat
  directions: breakpoints sliding along q(x)); the Newton polish brings the last-step decrease to < 3e-12,
  printed per row ("err" = grid change + last decrease).  The interlacing above holds at every k.
* k-convergence: phi_k - phi_FRSB = c_4 k^-4 + c_6 k^-6 + ... (q0 = 0; even powers, local exponent 3.98 ->
  4.00) and the same series in (k + 1/2) for the q0-free family, with the same c_4 (3.881e-4 at T = 0.5,
  5.32e-3 at T = 0.3).  phi_FRSB = median of least-squares fits (powers {4,6}, {4,5,6}, {4,6,8}; k >= 8,
  10, 12) over both families; error bar = spread of the fits + 3 x the largest per-point error.  Fits using
  only k <= 16 (default run) agree with the full ones to 4e-13 (T = 0.5) / 4e-11 (T = 0.3); with --kmax 64,
  fits using k <= 32 agree to 1e-12 / 1.4e-11, and the k <= 32 fits predict phi_64 to ~1e-14.

Results (default run, k <= 32: ~90 s on one core; --kmax 64: ~4 min, same FRSB values to < 1e-13)
    T = 0.5:  RS 1.5847858903,  1RSB(q0=0) 1.5826095792,  2RSB(q0=0) 1.5823764388
              (q1 = 0.3332787, q2 = 0.6269332, m1 = 0.1114519, m2 = 0.3269794),
              1RSB(q0 free) 1.5824176848,  2RSB(q0 free) 1.5823642818,
              phi_FRSB = 1.58235514987 +- 1e-11   (the quoted 1.5823551 is correct to all 8 digits)
    T = 0.3:  RS 2.5863146453,  1RSB(q0=0) 2.5676289670,  2RSB(q0=0) 2.5653083239,
              phi_FRSB = 2.56505066325 +- 2e-11

    python numeric/sk_parisi_frsb.py [--T 0.5 0.3] [--kmax 32] [--dh 0.05] [--no-newton] [--quiet]
"""
import argparse
import time
import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import integrate
from scipy.interpolate import PchipInterpolator
from scipy.optimize import minimize, minimize_scalar

Z_STEP, Z_MAX = 0.1, 9.0          # trapezoid rule for the outer E_{z0} (q0 > 0)


def ln2cosh(beta, h):
    a = beta * np.abs(h)
    return a + np.log1p(np.exp(-2.0 * a))


def grid(dh, L):
    n = int(np.ceil(L / dh))
    return dh * np.arange(-n, n + 1)


_IDX = {}


def _scatter_index(N, B):
    """Flat index i + s of the banded (N, 2B+1) transition array on the padded grid (cached)."""
    key = (N, B)
    if key not in _IDX:
        _IDX[key] = (np.arange(N)[:, None] + np.arange(2 * B + 1)[None, :]).ravel()
    return _IDX[key]


def parisi(beta, q0, q, m, dh, L, grad=True):
    """P_k(q0, q_1..q_k, m_1..m_k) and (if grad) dP/dq0, dP/dq_j, dP/dm_j.  k >= 1."""
    q = np.asarray(q, float)
    m = np.asarray(m, float)
    k = len(q)
    h = grid(dh, L)
    N = len(h)
    s2 = np.diff(np.concatenate([[q0], q]))          # sigma_j^2, j = 1..k
    if np.any(s2 <= 0):
        raise ValueError("q must increase strictly")
    f = ln2cosh(beta, h)
    store = [None] * (k + 1)
    # levels j = k .. 2 on the grid (index j-1 in the arrays)
    for j in range(k, 1, -1):
        mj, sj2 = m[j - 1], s2[j - 1]
        sj = np.sqrt(sj2)
        B = int(np.ceil((mj * beta * sj2 + 10.0 * sj) / dh)) + 1
        t = dh * np.arange(1, B + 1)
        fp = np.concatenate([f[0] + beta * t[::-1], f, f[-1] + beta * t])   # exact asymptote outside
        F, Fp = mj * f, mj * fp
        sdh = dh * np.arange(-B, B + 1)
        logw = -sdh ** 2 / (2 * sj2) + np.log(dh / np.sqrt(2 * np.pi * sj2))
        E = sliding_window_view(Fp, 2 * B + 1) - F[:, None]
        E += logw
        np.exp(E, out=E)
        S = E.sum(1)
        store[j] = (B, E, S, fp, f)
        f = (F + np.log(S)) / mj
    f2 = f                                                # f_2 on the grid (ln 2cosh if k = 1)
    # level 1 at the nodes of the outer average
    if q0 > 0:
        z = np.arange(-Z_MAX, Z_MAX + Z_STEP / 2, Z_STEP)
        W = Z_STEP * np.exp(-z ** 2 / 2) / np.sqrt(2 * np.pi)
        hn = np.sqrt(q0) * z
    else:
        W, hn = np.ones(1), np.zeros(1)
    m1, s12 = m[0], s2[0]
    U = h[None, :] - hn[:, None]                          # y - h_i
    X = m1 * f2[None, :] - U ** 2 / (2 * s12)
    Xm = X.max(1)
    Tm = np.exp(X - Xm[:, None])
    Z1 = Tm.sum(1)
    Tm /= Z1[:, None]                                     # transition weights h_i -> y
    f1 = (Xm + np.log(Z1 * dh / np.sqrt(2 * np.pi * s12))) / m1
    mp = np.append(m[1:], 1.0)
    En = beta ** 2 / 4 * (1 - 2 * q[-1] + m1 * q0 ** 2 - np.sum((m - mp) * q ** 2))
    phi = En + W @ f1
    if not grad:
        return phi
    gs2 = np.zeros(k)
    gm = np.zeros(k)
    u1 = Tm @ h - hn                                      # <y-h>
    u2 = (Tm * U ** 2).sum(1)                             # <(y-h)^2>
    f1pp = ((u2 - u1 ** 2) / s12 ** 2 - 1 / s12) / m1
    g_s0 = 0.5 * W @ f1pp if q0 > 0 else 0.0
    gs2[0] = W @ (u2 / (2 * s12 ** 2) - 1 / (2 * s12)) / m1
    a = W @ Tm                                            # a_2(y)
    gm[0] = (a @ f2 - W @ f1) / m1
    fcur = f2
    for j in range(2, k + 1):
        B, E, S, fp, fnext = store[j]
        P = E * (a / S)[:, None]
        sdh = dh * np.arange(-B, B + 1)
        sj2 = s2[j - 1]
        gs2[j - 1] = ((P.sum(0) * sdh ** 2).sum() - P.sum() * sj2) / (2 * sj2 ** 2) / m[j - 1]
        ap = np.bincount(_scatter_index(N, B), weights=P.ravel(), minlength=N + 2 * B)
        gm[j - 1] = (ap @ fp - a @ fcur) / m[j - 1]
        a = ap[B:B + N].copy()
        a[0] += ap[:B].sum()
        a[-1] += ap[B + N:].sum()
        fcur = fnext
    # energy term
    gqE = -beta ** 2 / 2 * (m - mp) * q
    gqE[-1] -= beta ** 2 / 2
    gq0E = beta ** 2 / 2 * m1 * q0
    gmE = beta ** 2 / 4 * (np.concatenate([[q0], q[:-1]]) ** 2 - q ** 2)
    # q_j = q0 + sum Delta: dP/dq_j = dPf/dsig_j^2 - dPf/dsig_{j+1}^2 + energy
    gq = gs2 - np.append(gs2[1:], 0.0) + gqE
    gq0 = g_s0 - gs2[0] + gq0E
    return phi, gq0, gq, gm + gmE


def rs(beta, dh, L):
    """k = 0: minimize beta^2/4 (1-q)^2 + E ln 2cosh(beta sqrt(q) z) (trapezoid on the grid)."""
    h = grid(dh, L)
    f = ln2cosh(beta, h)

    def P(q):
        w = dh / np.sqrt(2 * np.pi * q) * np.exp(-h ** 2 / (2 * q))
        return beta ** 2 / 4 * (1 - q) ** 2 + w @ f
    r = minimize_scalar(P, bounds=(0.05, 0.999), method="bounded", options=dict(xatol=1e-13))
    return r.fun, r.x


class Problem:
    """P_k in the increments x = ([q0,] Delta q_1..Delta q_k, Delta m_1..Delta m_k) >= 0."""

    def __init__(self, beta, k, free_q0, dh, L):
        self.beta, self.k, self.free, self.dh, self.L = beta, k, free_q0, dh, L

    def to_x(self, q0, q, m):
        dq = np.diff(np.concatenate([[q0], q]))
        dm = np.diff(np.concatenate([[0.0], m]))
        return np.concatenate([[q0], dq, dm]) if self.free else np.concatenate([dq, dm])

    def from_x(self, x):
        q0 = x[0] if self.free else 0.0
        x = x[1:] if self.free else x
        return q0, q0 + np.cumsum(x[:self.k]), np.cumsum(x[self.k:])

    def __call__(self, x, grad=True):
        q0, q, m = self.from_x(x)
        if not grad:
            return parisi(self.beta, q0, q, m, self.dh, self.L, grad=False)
        p, gq0, gq, gm = parisi(self.beta, q0, q, m, self.dh, self.L)
        gx = np.concatenate([np.cumsum(gq[::-1])[::-1], np.cumsum(gm[::-1])[::-1]])
        if self.free:
            gx = np.concatenate([[gq0 + gq.sum()], gx])
        return p, gx


def minimize_k(prob, x0, rounds=6, gtol=1e-13):
    """L-BFGS-B in variables rescaled by the current point, restarted until the decrease is < 1e-14."""
    x = np.asarray(x0, float)
    p = prob(x, grad=False)
    last = np.inf
    for _ in range(rounds):
        sc = np.maximum(np.abs(x), 1e-6)
        r = minimize(lambda y: (lambda pg: (pg[0], pg[1] * sc))(prob(y * sc)), x / sc, jac=True,
                     method="L-BFGS-B", bounds=[(1e-7, None)] * len(x),
                     options=dict(maxiter=5000, maxcor=60, ftol=1e-17, gtol=gtol))
        last = p - r.fun
        if r.fun <= p:
            x, p = r.x * sc, r.fun
        if last < 1e-14:
            break
    return p, x, max(last, 0.0)


def newton_polish(prob, x, iters=5):
    """Damped Newton steps with a central finite-difference Hessian of the exact gradient, in variables
    scaled by x.  Returns (phi, x, decrease obtained by the last accepted step)."""
    p, g = prob(x)
    last = 0.0
    for _ in range(iters):
        n = len(x)
        H = np.zeros((n, n))
        for i in range(n):
            e = np.zeros(n)
            e[i] = 1e-4 * x[i]
            H[:, i] = (prob(x + e)[1] - prob(x - e)[1]) / (2 * e[i])
        Hs = x[:, None] * (H + H.T) / 2 * x[None, :]
        ev, V = np.linalg.eigh(Hs)
        ev = np.maximum(np.abs(ev), 1e-8 * ev.max())
        dy = -V @ ((V.T @ (x * g)) / ev)
        for a in (1.0, 0.5, 0.25, 0.1):
            xn = x * (1 + a * dy)
            if np.all(xn > 0):
                pn, gn = prob(xn)
                if pn < p:
                    break
        else:
            break
        if pn >= p:
            break
        last = p - pn
        x, p, g = xn, pn, gn
        if last < 1e-15:
            break
    return p, x, last


def start_point(prev, k, free):
    """Initial (q0, q, m) for k from the optimum (q0, q, m) at a smaller k (pchip in the level index)."""
    q0p, qp, mp = prev
    kp = len(qp)
    if kp == 1:
        qg = qp[0] * np.linspace(0.55, 1.04, k) if k > 1 else qp.copy()
        mg = mp[0] * np.linspace(0.55, 1.6, k) if k > 1 else mp.copy()
    else:
        so, sn = (np.arange(kp) + 0.5) / kp, (np.arange(k) + 0.5) / k
        qg = PchipInterpolator(so, qp)(sn)
        mg = PchipInterpolator(so, mp)(sn)
    q0 = (0.5 * qg[0] if q0p == 0 else q0p * kp / k) if free else 0.0
    if free:
        qg = np.maximum(qg, q0 + 1e-3 * np.arange(1, k + 1))
    return q0, np.maximum.accumulate(qg), np.maximum.accumulate(mg)


def nested_quad_1rsb(beta, q0, q1, m):
    """Independent check of P_1 by nested adaptive quadrature (scipy.integrate.quad)."""
    s0, s1 = np.sqrt(q0), np.sqrt(q1 - q0)

    def inner(hh):
        g = lambda z: np.exp(-z * z / 2 + m * (ln2cosh(beta, hh + s1 * z) - beta * abs(hh))) \
            / np.sqrt(2 * np.pi)
        zc = -hh / s1
        v = sum(integrate.quad(g, a, b, epsabs=1e-15, epsrel=1e-14, limit=200)[0]
                for a, b in ((-14 + min(zc, 0), zc), (zc, 14 + max(zc, 0))))
        return np.log(v) / m + beta * abs(hh)
    if q0 == 0:
        return beta ** 2 / 4 * (1 - 2 * q1 - (m - 1) * q1 ** 2) + inner(0.0)
    I = integrate.quad(lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * inner(s0 * z), -11, 11,
                       epsabs=1e-14, epsrel=1e-13, limit=400)[0]
    return beta ** 2 / 4 * (1 - 2 * q1 + m * q0 ** 2 - (m - 1) * q1 ** 2) + I


def ladder(beta, ks, free, dh, L, newton=True):
    """Optimal P_k for k in ks (increasing); returns {k: dict(phi, q0, q, m, err_grid, err_opt)}."""
    out = {}
    prev = (0.0, np.array([0.6]), np.array([0.2]))
    for k in ks:
        t0 = time.time()
        prob = Problem(beta, k, free, dh, L)
        q0, q, m = start_point(prev, k, free)
        p, x, dec = minimize_k(prob, prob.to_x(q0, q, m))
        err_opt = dec
        if newton:
            pn, x, last = newton_polish(prob, x)
            err_opt = last
            p = pn
        q0, q, m = prob.from_x(x)
        prev = (q0, q, m)
        sig_min = np.sqrt(np.diff(np.concatenate([[q0], q]))).min()
        if sig_min < 1.4 * dh:
            print("  warning: k=%d min sigma %.3f < 1.4 dh: refine dh" % (k, sig_min))
        p_h = parisi(beta, q0, q, m, dh / 2, L, grad=False)
        p_L = parisi(beta, q0, q, m, dh, L + 3, grad=False)
        err_grid = abs(p_h - p) + abs(p_L - p)
        out[k] = dict(phi=p, q0=q0, q=q, m=m, err_grid=err_grid, err_opt=err_opt, time=time.time() - t0)
    return out


MODELS = ((4, 6), (4, 5, 6), (4, 6, 8))


def extrapolate(res, shift, kmins=(8, 10, 12)):
    """Least-squares fits phi_k = phi_inf + sum_a c_a (k + shift)^-a over k >= kmin for the models in MODELS.
    Returns the list of (kmin, powers, phi_inf, c_4, rms residual)."""
    ks = np.array(sorted(res), float)
    ph = np.array([res[k]["phi"] for k in sorted(res)])
    fits = []
    for kmin in kmins:
        for pw in MODELS:
            sel = ks >= kmin
            if sel.sum() < len(pw) + 2:
                continue
            kk = ks[sel] + shift
            X = np.column_stack([np.ones(sel.sum())] + [kk ** -float(a) for a in pw])
            c = np.linalg.lstsq(X, ph[sel], rcond=None)[0]
            fits.append((kmin, pw, c[0], c[1], np.sqrt(np.mean((X @ c - ph[sel]) ** 2))))
    return fits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--T", type=float, nargs="+", default=[0.5, 0.3])
    ap.add_argument("--kmax", type=int, default=32)
    ap.add_argument("--dh", type=float, default=0.05)
    ap.add_argument("--no-newton", dest="newton", action="store_false",
                    help="skip the Newton polish after L-BFGS-B (faster, phi_k less converged)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    ks = [k for k in (1, 2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128) if k <= args.kmax]
    t_all = time.time()
    summary = []
    for T in args.T:
        beta = 1.0 / T
        dh, L = args.dh, 4.0 + 2.5 * beta
        print("=" * 100)
        print("T = %g (beta = %.6g): trapezoid grid dh = %g on [-%.2f, %.2f] (+ exact asymptote outside);"
              " err = |grid change (dh/2, L+3)| + last optimizer decrease" % (T, beta, dh, L, L))
        p_rs, q_rs = rs(beta, dh, L)
        print("  k=0 RS: q = %.7f  phi = %.10f" % (q_rs, p_rs))
        fam = {}
        for free in (False, True):
            fam[free] = ladder(beta, ks, free, dh, L, newton=args.newton)
        print("  %4s  %-20s %-9s  %-20s %-9s %-9s %6s" % ("k", "phi_k (q0 = 0)", "err", "phi_k (q0 free)",
                                                          "err", "q0", "time"))
        for k in ks:
            a, b = fam[False][k], fam[True][k]
            print("  %4d  %.15f  %.1e  %.15f  %.1e  %.6f %5.1fs" % (
                k, a["phi"], a["err_grid"] + a["err_opt"], b["phi"], b["err_grid"] + b["err_opt"], b["q0"],
                a["time"] + b["time"]))
        for free in (False, True):
            for k in (1, 2):
                r = fam[free][k]
                print("  k=%d %s: phi = %.10f  q0 = %.7f  q = %s  m = %s" % (
                    k, "q0 free" if free else "q0 = 0 ", r["phi"], r["q0"],
                    np.array2string(r["q"], precision=7), np.array2string(r["m"], precision=7)))
        if not args.quiet:
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            for free, r1 in ((False, fam[False][1]), (True, fam[True][1])):
                pq = nested_quad_1rsb(beta, r1["q0"], r1["q"][0], r1["m"][0])
                print("  independent nested-quad check of P_1 (%s): %.13f  (grid: %.13f)" % (
                    "q0 free" if free else "q0 = 0", pq, r1["phi"]))
        allv, perr = [], 0.0
        for free, shift in ((False, 0.0), (True, 0.5)):
            res = {k: v for k, v in fam[free].items() if k >= 8}
            if len(res) < 5:
                continue
            perr = max(perr, max(v["err_grid"] + v["err_opt"] for v in res.values()))
            fits = extrapolate(res, shift)
            kk = sorted(res)
            half = {k: v for k, v in res.items() if k <= kk[-1] // 2}
            fits_half = extrapolate(half, shift, kmins=(8,)) if len(half) >= 4 else []
            vals = [f[2] for f in fits]
            allv += vals
            name = "q0 = 0 " if not free else "q0 free"
            var = "k" if shift == 0 else "k+1/2"
            print("  FRSB extrapolation, %s family, phi_inf + sum_a c_a (%s)^-a over k >= kmin:" % (name, var))
            for kmin, pw, c, c4, rms in fits:
                print("      kmin %2d  powers %-10s phi_inf = %.13f  c_4 = %.4e  rms %.1e" % (
                    kmin, ",".join(map(str, pw)), c, c4, rms))
            for kmin, pw, c, c4, rms in fits_half:
                print("      [k <= %d only] kmin %2d powers %-9s phi_inf = %.13f" % (
                    kk[-1] // 2, kmin, ",".join(map(str, pw)), c))
        if allv:
            c = float(np.median(allv))
            err = max(np.abs(np.array(allv) - c).max() + 3 * perr, 1e-13)
            print("  ==> phi_FRSB(T = %g) = %.12f +- %.1e  (median of the fits of both families; error = their"
                  " spread + 3 x the largest per-point error)" % (T, c, err))
            summary.append((T, c, err))
    print("=" * 100)
    for T, c, err in summary:
        print("phi_FRSB(T = %g) = %.12f +- %.1e   (-f = phi/beta = %.12f)" % (T, c, err, c * T))
    print("total time %.1f s" % (time.time() - t_all))


if __name__ == "__main__":
    main()
