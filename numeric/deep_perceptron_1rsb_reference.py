r"""One-step RSB free entropy of deep perceptron networks (random scenario): an independent reference evaluator.

Model and conventions: those of ``symbolic_rg/replica/rules.py`` (Yoshino, SciPost Phys. Core 2, 005 (2020)).
Per weight the n-replica free entropy is

    G(n) = sum_l G_W(Q_l) + alpha sum_{l<L} G_S(q_l, qhat_l; p_l) + alpha G_O(p_L),     p_l = q_{l-1} Q_l entrywise,

    G_W  = n/2 + (1/2) ln det Q                                  (spherical rows, constants n ln(2 pi)/2 dropped),
    G_S  = - sum_{a<b} qhat_ab q_ab + ln Tr_{S^a} E_h prod_a Theta(S^a h^a - kappa) exp(sum_{a<b} qhat_ab S^a S^b),
    G_O  = ln (1/2) sum_{S=+-1} E_h prod_a Theta(S h^a - kappa),       <h^a h^b> = p_ab, p_aa = 1,

and phi = lim_{n->0} G(n)/n = G'(0) (G(0) = 0).  rules.py's RS result, reproduced here (``rs_free_entropy``) and
checked against ``srg.derive(srg.deep_perceptron(2, "random")).free_entropy`` (its integrals done by adaptive
scipy quadrature, difference 6e-17): G_W = 1/2 + (1/2)[ln(1-Q) + Q/(1-Q)] -- note the +1/2 per layer of weights,
kept here by default (``weight_constant``), -- hidden layer (1/2) qhat q - qhat/2 + E_{z,w} ln zeta(sqrt(p) z,
sqrt(qhat) w), zeta(x, y) = sum_S e^{yS} H((kappa - S x)/sqrt(1-p)), output (1/2) sum_S E_z ln H((kappa - S sqrt(p)
z)/sqrt(1-p)).

1RSB ansatz
-----------
The n replicas (whole networks) fall into n/m blocks of m; every overlap matrix X in {Q(l), q(l), qhat(l)} has
X_ab = x1 for a != b in one block and x0 for a, b in different blocks (diagonal: Q_aa = q_aa = 1).  One block
structure for all matrices, so the entrywise product p(l) = q(l-1) Q(l) is again 1RSB: p1 = q1_{l-1} Q1_l,
p0 = q0_{l-1} Q0_l (q0_0 = q1_0 = 1), p_aa = 1.

Weights.  Q = (1-Q1) I + (Q1-Q0) B + Q0 1 1^T (B: block-diagonal ones).  Eigenvectors: zero sum inside every block
(multiplicity n - n/m): lambda_1 = 1 - Q1; constant on blocks with zero total (n/m - 1): lambda_2 = D = 1 - Q1 +
m (Q1 - Q0); uniform (1): lambda_3 = D + n Q0.  So

    ln det Q = n (1 - 1/m) ln(1-Q1) + (n/m - 1) ln D + ln(D + n Q0),

which vanishes at n = 0, and d/dn at n = 0 gives

    G_W^1RSB = 1/2 + (1/2) [ (1 - 1/m) ln(1 - Q1) + (1/m) ln D + Q0/D ],      D = 1 - (1-m) Q1 - m Q0.

Conjugate terms (pair counts).  Pairs a<b inside blocks: (n/m) m(m-1)/2 = n(m-1)/2; between blocks n(n-m)/2.
d/dn at 0 of -[n(m-1)/2 qhat1 q1 + n(n-m)/2 qhat0 q0] = (1-m)/2 qhat1 q1 + (m/2) qhat0 q0.

Spin coupling.  With S^2 = 1, sum_{a<b} qhat_ab S^a S^b = (qhat0/2)(sum_a S^a)^2 + ((qhat1-qhat0)/2) sum_blocks
(sum_{a in block} S^a)^2 - n qhat1/2; two Hubbard-Stratonovich fields (w0 common, w1 one per block, qhat1 >= qhat0
>= 0) give e^{-n qhat1/2} E_{w0} prod_blocks E_{w1} prod_{a in block} e^{y S^a}, y = sqrt(qhat0) w0 +
sqrt(qhat1-qhat0) w1.  (d/dn: -qhat1/2, which becomes RS's -qhat/2.)

Pre-activations.  h^a = sqrt(p0) z0 + sqrt(p1-p0) z1 + sqrt(1-p1) u^a (z1 per block, u^a per replica; 0 <= p0 <=
p1 < 1) has covariance 1 / p1 / p0 on the diagonal / inside blocks / between blocks.  Given x = sqrt(p0) z0 +
sqrt(p1-p0) z1 and y, one replica's spin trace with its u-average is sum_S e^{yS} H((kappa - S x)/sqrt(1-p1)) =
zeta(x, y) with p -> p1; the m replicas of a block give zeta^m, and given (z0, w0) the n/m blocks are independent:

    Tr E_h ... = e^{-n qhat1/2} E_{z0,w0} [ (E_{z1,w1} zeta^m)^{n/m} ],
    d/dn at n = 0:  -qhat1/2 + (1/m) E_{z0,w0} ln E_{z1,w1} zeta^m.

Output.  G_O(n) = ln (1/2) sum_S E_{z0}[(E_{z1} H((kappa - S x)/sqrt(1-p1))^m)^{n/m}]; each term is 1 at n = 0, so
d/dn at 0 is (1/2) sum_S (1/m) E_{z0} ln E_{z1} H((kappa - S x)/sqrt(1-p1))^m (the two S are equal, z -> -z).

Result (per weight; srg's additive constant: +1/2 per layer of weights):

    phi = sum_{l=1}^{L} { 1/2 + (1/2)[(1 - 1/m) ln(1-Q1_l) + (1/m) ln D_l + Q0_l/D_l] }
        + alpha sum_{l=1}^{L-1} { (m/2) qhat0_l q0_l + ((1-m)/2) qhat1_l q1_l - qhat1_l/2
                                   + (1/m) E_{z0,w0} ln E_{z1,w1} zeta_l(x, y)^m }
        + alpha (1/m) E_{z0} ln E_{z1} H((kappa - x_L)/sqrt(1 - p1_L))^m,

    D_l = 1 - (1-m) Q1_l - m Q0_l,   x_l = sqrt(p0_l) z0 + sqrt(p1_l - p0_l) z1,   y_l = sqrt(qhat0_l) w0 +
    sqrt(qhat1_l - qhat0_l) w1,   zeta_l(x, y) = e^y H((kappa - x)/sqrt(1-p1_l)) + e^-y H((kappa + x)/sqrt(1-p1_l)).

RS reductions.  (i) x1 = x0 for every overlap: the inner average is trivial ((1/m) ln zeta^m = ln zeta), D = 1 - Q,
(1 - 1/m) ln(1-Q) + (1/m) ln(1-Q) = ln(1-Q), the conjugate terms sum to qhat q/2: RS at any m.  (ii) m = 1:
E_{z1} H((kappa - S x)/sqrt(1-p1)) = H((kappa - S sqrt(p0) z0)/sqrt(1-p0)) and E_{w1} e^{S sqrt(qhat1-qhat0) w1} =
e^{(qhat1-qhat0)/2}, so the hidden term is RS(p0, qhat0) + (qhat1-qhat0)/2, which turns -qhat1/2 into -qhat0/2;
G_W -> RS(Q0) and the (1-m) term drops: RS at (Q0, q0, qhat0) for every x1.  Both are checked numerically (to
1e-16).  Saddle point: dG_W/dQ0 = (m/2) Q0/D^2 and dG_W/dQ1 = ((1-m)/2)[(Q1-Q0)/((1-Q1) D) + Q0/D^2], so every
x0 equation carries the pair weight m and every x1 equation 1 - m (the solver divides by them); at x1 = x0 all of
them reduce to the RS equations, for every m: the RS point is a 1RSB stationary point with dphi/dm = 0.
With x0 = 0 for every overlap (Q0 = q0 = qhat0 = 0) the x0 equations hold identically (zeta(-x, -y) = zeta(x, y)
makes the hidden term's x0 derivatives vanish there; the output's are multiplied by q0_{L-1} or Q0_L), for L >= 2.

Numerics
--------
ln zeta = logaddexp(y + ln H((kappa-x)/s), -y + ln H((kappa+x)/s)) with ln H from scipy.special.log_ndtr (no
underflow), the inner average as a logsumexp.  Each of the four Gaussian averages (z0, w0, z1, w1) is a trapezoid
rule on a uniform grid |t| <= 9 (w1: 9 + 2 m sqrt(qhat1-qhat0), the e^{m|y|} growth) with step h / max(1, scale),
scale = the variable's coefficient (sqrt(p0)/s, sqrt(p1-p0)/s, sqrt(qhat0), sqrt(qhat1-qhat0)), s = sqrt(1-p1): for
integrands analytic in a strip times a Gaussian the trapezoid rule converges exponentially in 1/h.  Brute force in
4-D (no reduction of w1), vectorized over (w0, z1, w1) for each z0 >= 0, using the symmetry (z0, w0) -> (-z0,
-w0).  Measured at p0 = 0.2, p1 = 0.5, qhat0 = 0.3, qhat1 = 1.2, m = 0.5, kappa = 0.5 and 0: h = 0.5, 0.3, 0.15,
Gauss-Hermite 41 and 81 nodes, nested adaptive scipy quad (output) and a second route at m = 2 (E_{w1} zeta^2 in
closed form, scipy quad_vec in z1) all agree to <= 1.2e-15; h = 0.6 is off by 1e-13.  ``accuracy``: "coarse"
(h = 0.5, ~0.04 s per hidden term), "default" (0.3, ~0.3 s), "fine" (0.15, ~3 s), or a step.  Gradients: 4th-order
central differences, step 1e-4 (one-sided 4th-order formulas where a step would cross x1 = x0 or x0 = 0; the
functions are smooth up to these boundaries, the variances entering analytically); with fixed nodes the
quadrature is a smooth function of the parameters, so the differences are clean to ~1e-12.

Stationary points (``python numeric/deep_perceptron_1rsb_reference.py``, ~1 min): scipy.optimize.root (hybr) on
the gradient with unknowns x0 and d, x1 = x0 + d^2, equations divided by the pair weights m and 1 - m, and
multiplied by the deflation factor 1 + 1/sum d^2 (the RS manifold, a root for every m, is deflated away).

* L = 1, kappa = 0.5, alpha = 0.5: RS Q = 0.591820732224, phi = -0.25674291193246.  At fixed m = 0.3, 0.5, 0.8 the
  plain root from (0.7, 1.3) Q_RS collapses onto Q1 = Q0 = Q_RS (gap <= 3e-8, residual <= 2e-8; dphi/dm = 0
  there); the deflated root finds nothing; with Q1 - Q0 = Delta in 0.01..0.3 and the Q0 equation solved, the Q1
  equation stays > 0 (2.2e-2 ... 2.4): no 1RSB point, RS (convex case).
* L = 2, kappa = 0.5, alpha = 0.8: RS (Q1, Q2, q1, qhat1) = (0.1708056842, 0.2234157871, 0.3107461327,
  0.3329314957), phi_RS = -0.33347364310744 (replicon 0.073 > 0 in srg: RS unstable).  1RSB, A (all 9 free, found
  from two different starts, agreeing to 2e-9): Q0 = (0.06889777, 0.09178346), Q1 = (0.21435093, 0.27799697),
  q0 = 0.12583680, q1 = 0.38851953, qhat0 = 0.13432018, qhat1 = 0.42402519, m = 0.36142485, max|grad| ~ 4e-12,
  phi = -0.3337350355928 (phi - phi_RS = -2.614e-4); smallest |Hessian eigenvalue| 1.3e-3, so the parameters are
  good to ~1e-9.  B (x0 = 0 pinned; its x0 equations checked, ~3e-11): Q1 = (0.20545927, 0.26704315),
  q1 = 0.37268072, qhat1 = 0.40558045, m = 0.26828652, phi = -0.3337132428712 (phi - phi_RS = -2.396e-4).
"""
import numpy as np
from scipy import optimize
from scipy.special import log_ndtr, logsumexp

ACCURACY = {"coarse": 0.5, "default": 0.3, "fine": 0.15}
CUT = 9.0


# --------------------------------------------------------------------------------------------------------
# quadrature
# --------------------------------------------------------------------------------------------------------
def _step(accuracy):
    return ACCURACY[accuracy] if isinstance(accuracy, str) else float(accuracy)


def gaussian_rule(step, scale=0.0, extra=0.0, cut=CUT):
    r"""Trapezoid rule for E f(t), t ~ N(0, 1): nodes k d, |k d| <= cut + extra, weights d exp(-t^2/2)/sqrt(2 pi),
    d = step / max(1, scale).  Symmetric with an odd number of nodes (t = 0 in the middle)."""
    d = step / max(1.0, scale)
    K = int(np.floor((cut + extra) / d))
    t = np.arange(-K, K + 1) * d
    return t, d * np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)


def _ln_H(x, kappa, s):
    """ln H((kappa - x)/s) = ln Phi((x - kappa)/s), stable for every x."""
    return log_ndtr((x - kappa) / s)


def _check(p0, p1, m):
    if not (0.0 <= p0 <= p1 < 1.0):
        raise ValueError("need 0 <= p0 <= p1 < 1, got p0=%r p1=%r" % (p0, p1))
    if not m > 0:
        raise ValueError("need m > 0, got %r" % m)


# --------------------------------------------------------------------------------------------------------
# layer terms
# --------------------------------------------------------------------------------------------------------
def hidden_term(p0, p1, qhat0, qhat1, m, kappa, accuracy="default", rule=None):
    r"""(1/m) E_{z0,w0} ln E_{z1,w1} zeta(x, y)^m, x = sqrt(p0) z0 + sqrt(p1-p0) z1, y = sqrt(qhat0) w0 +
    sqrt(qhat1-qhat0) w1, zeta = e^y H((kappa-x)/sqrt(1-p1)) + e^-y H((kappa+x)/sqrt(1-p1)).

    ``rule(scale, extra)`` -> (nodes, weights) overrides the trapezoid rule (it must be symmetric with an odd number
    of nodes, the middle one at 0: the outer sum uses (z0, w0) -> (-z0, -w0))."""
    _check(p0, p1, m)
    if not 0.0 <= qhat0 <= qhat1:
        raise ValueError("need 0 <= qhat0 <= qhat1, got %r %r" % (qhat0, qhat1))
    h = _step(accuracy)
    rule = rule or (lambda scale, extra: gaussian_rule(h, scale, extra))
    s = np.sqrt(1.0 - p1)
    a, b = np.sqrt(p0), np.sqrt(p1 - p0)
    c0, c1 = np.sqrt(qhat0), np.sqrt(qhat1 - qhat0)
    z0, wz0 = rule(a / s, 0.0)
    z1, wz1 = rule(b / s, 0.0)
    w0, ww0 = rule(c0, 0.0)
    w1, ww1 = rule(c1, 2.0 * m * c1)                          # e^{m|y|} shifts the w1 integrand by ~ m c1
    x = a * z0[:, None] + b * z1[None, :]                     # (z0, z1)
    lA, lB = _ln_H(x, kappa, s), _ln_H(-x, kappa, s)          # S = +1, S = -1
    inner_w = np.log(wz1)[:, None] + np.log(ww1)[None, :]     # (z1, w1)
    y = c0 * w0[:, None, None] + c1 * w1[None, None, :]       # (w0, 1, w1)
    mid = len(z0) // 2
    total = 0.0
    for i in range(mid, len(z0)):                             # z0 >= 0, doubled: the sum is even in (z0, w0)
        lnzeta = np.logaddexp(y + lA[i][None, :, None], -y + lB[i][None, :, None])   # (w0, z1, w1)
        J = logsumexp(m * lnzeta + inner_w[None], axis=(1, 2))                      # ln E_{z1,w1} zeta^m
        total += (1.0 if i == mid else 2.0) * wz0[i] * np.dot(ww0, J)
    return total / m


def output_term(p0, p1, m, kappa, accuracy="default", rule=None):
    r"""(1/2) sum_S (1/m) E_{z0} ln E_{z1} H((kappa - S x)/sqrt(1-p1))^m, x = sqrt(p0) z0 + sqrt(p1-p0) z1."""
    _check(p0, p1, m)
    h = _step(accuracy)
    rule = rule or (lambda scale, extra: gaussian_rule(h, scale, extra))
    s = np.sqrt(1.0 - p1)
    a, b = np.sqrt(p0), np.sqrt(p1 - p0)
    z0, wz0 = rule(a / s, 0.0)
    z1, wz1 = rule(b / s, 0.0)
    x = a * z0[:, None] + b * z1[None, :]
    out = 0.0
    for S in (1.0, -1.0):
        J = logsumexp(m * _ln_H(S * x, kappa, s) + np.log(wz1)[None, :], axis=1)
        out += 0.5 * np.dot(wz0, J)
    return out / m


def hidden_term_rs(p, qhat, kappa, accuracy="default"):
    r"""E_{z,w} ln zeta(sqrt(p) z, sqrt(qhat) w) (replica symmetric)."""
    h = _step(accuracy)
    s = np.sqrt(1.0 - p)
    z, wz = gaussian_rule(h, np.sqrt(p) / s)
    w, ww = gaussian_rule(h, np.sqrt(qhat))
    x = np.sqrt(p) * z[:, None]
    y = np.sqrt(qhat) * w[None, :]
    return wz @ np.logaddexp(y + _ln_H(x, kappa, s), -y + _ln_H(-x, kappa, s)) @ ww


def output_term_rs(p, kappa, accuracy="default"):
    r"""(1/2) sum_S E_z ln H((kappa - S sqrt(p) z)/sqrt(1-p)) (replica symmetric)."""
    h = _step(accuracy)
    s = np.sqrt(1.0 - p)
    z, wz = gaussian_rule(h, np.sqrt(p) / s)
    x = np.sqrt(p) * z
    return 0.5 * wz @ (_ln_H(x, kappa, s) + _ln_H(-x, kappa, s))


# --------------------------------------------------------------------------------------------------------
# free entropy
# --------------------------------------------------------------------------------------------------------
def n_parameters(depth):
    return 6 * depth - 3


def unpack(theta, depth):
    """theta -> (Q0, Q1, q0, q1, qhat0, qhat1, m), arrays of lengths L, L, L-1, L-1, L-1, L-1 and a float."""
    theta = np.asarray(theta, float)
    L = depth
    if theta.shape != (n_parameters(L),):
        raise ValueError("depth %d needs %d parameters, got %s" % (L, n_parameters(L), theta.shape))
    c = np.cumsum([0, L, L, L - 1, L - 1, L - 1, L - 1])
    return tuple(theta[c[i]:c[i + 1]] for i in range(6)) + (float(theta[-1]),)


def pack(Q0, Q1, q0, q1, qhat0, qhat1, m):
    return np.concatenate([np.atleast_1d(np.asarray(v, float)) for v in (Q0, Q1, q0, q1, qhat0, qhat1, [m])])


def weight_term(Q0, Q1, m, constant=0.5):
    r"""G_W = 1/2 + 1/2 [(1 - 1/m) ln(1-Q1) + (1/m) ln D + Q0/D], D = 1 - (1-m) Q1 - m Q0 (srg's +1/2 included
    as ``constant``)."""
    D = 1.0 - (1.0 - m) * Q1 - m * Q0
    return constant + 0.5 * ((1.0 - 1.0 / m) * np.log(1.0 - Q1) + np.log(D) / m + Q0 / D)


def layer_terms(theta, depth, kappa, accuracy="default"):
    """{"hidden": [(1/m) E ln E zeta^m of layers 1..L-1], "output": (1/m) E ln E H^m of layer L,
    "p0": [...], "p1": [...]}: the nested integrals of theta, each separately (no alpha, no conjugate terms)."""
    Q0, Q1, q0, q1, qh0, qh1, m = unpack(theta, depth)
    p0 = Q0 * np.concatenate([[1.0], q0])
    p1 = Q1 * np.concatenate([[1.0], q1])
    hidden = [_cached(hidden_term, p0[l], p1[l], qh0[l], qh1[l], m, kappa, accuracy) for l in range(depth - 1)]
    return {"hidden": hidden, "output": _cached(output_term, p0[-1], p1[-1], m, kappa, accuracy),
            "p0": p0, "p1": p1}


_CACHE = {}


def _cached(f, *args):
    key = (f.__name__,) + tuple(float(a) if not isinstance(a, str) else a for a in args)
    if key not in _CACHE:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        _CACHE[key] = f(*args)
    return _CACHE[key]


def free_entropy(theta, depth, alpha, kappa, accuracy="default", weight_constant=0.5):
    r"""1RSB phi per weight.  theta = (Q0_1..Q0_L, Q1_1..Q1_L, q0_1..q0_{L-1}, q1_1..q1_{L-1}, qhat0_1..,
    qhat1_1.., m).  ``weight_constant`` = 1/2 per layer of weights, as in srg.derive(...).free_entropy (set 0 for
    G_W = 1/2[ln(1-Q) + Q/(1-Q)] at RS)."""
    Q0, Q1, q0, q1, qh0, qh1, m = unpack(theta, depth)
    T = layer_terms(theta, depth, kappa, accuracy)
    phi = sum(weight_term(Q0[l], Q1[l], m, weight_constant) for l in range(depth))
    for l in range(depth - 1):
        phi += alpha * (0.5 * m * qh0[l] * q0[l] + 0.5 * (1.0 - m) * qh1[l] * q1[l] - 0.5 * qh1[l] + T["hidden"][l])
    return phi + alpha * T["output"]


def rs_free_entropy(theta_rs, depth, alpha, kappa, accuracy="default", weight_constant=0.5):
    r"""The replica-symmetric phi of rules.py, theta_rs = (Q_1..Q_L, q_1..q_{L-1}, qhat_1..qhat_{L-1})."""
    theta_rs = np.asarray(theta_rs, float)
    L = depth
    Q, q, qh = theta_rs[:L], theta_rs[L:2 * L - 1], theta_rs[2 * L - 1:]
    p = Q * np.concatenate([[1.0], q])
    phi = sum(weight_constant + 0.5 * (np.log(1 - Ql) + Ql / (1 - Ql)) for Ql in Q)
    for l in range(L - 1):
        phi += alpha * (0.5 * qh[l] * q[l] - 0.5 * qh[l] + hidden_term_rs(p[l], qh[l], kappa, accuracy))
    return phi + alpha * output_term_rs(p[-1], kappa, accuracy)


# --------------------------------------------------------------------------------------------------------
# gradient by central differences
# --------------------------------------------------------------------------------------------------------
def _pairs(depth):
    """Index pairs (i0, i1) of (x0, x1) in theta: Q_l, q_l, qhat_l."""
    L = depth
    return ([(l, L + l) for l in range(L)] + [(2 * L + l, 3 * L - 1 + l) for l in range(L - 1)]
            + [(4 * L - 2 + l, 5 * L - 3 + l) for l in range(L - 1)])


def gradient(f, theta, step=1e-4, order=4, ordered=(), nonnegative=()):
    r"""Gradient of f(theta) by central differences (error O(step^2) for order 2, O(step^4) for order 4).
    ``ordered``: index pairs (i0, i1) that must keep theta[i0] <= theta[i1]; ``nonnegative``: indices that must stay
    >= 0.  Where a central step would break one of these, the one-sided formula of the same order is used, in the
    direction that stays inside (f is smooth up to the boundary: the variances enter analytically)."""
    theta = np.asarray(theta, float)
    g = np.empty_like(theta)
    lower = {i1: i0 for i0, i1 in ordered}
    upper = {i0: i1 for i0, i1 in ordered}
    k = order // 2
    for i in range(len(theta)):
        reach = k * step
        direction = 0
        if i in lower and theta[i] - reach < theta[lower[i]]:
            direction = +1
        if i in nonnegative and theta[i] - reach < 0:
            direction = +1
        if i in upper and theta[i] + reach > theta[upper[i]]:
            if direction == +1:
                raise ValueError("theta[%d] pinned from both sides" % i)
            direction = -1
        e = np.zeros_like(theta)
        e[i] = step

        def F(j):
            return f(theta + j * e)
        if direction == 0:
            if order == 2:
                g[i] = (F(1) - F(-1)) / (2 * step)
            else:
                g[i] = (8 * (F(1) - F(-1)) - (F(2) - F(-2))) / (12 * step)
        else:
            d = direction
            if order == 2:
                g[i] = d * (-3 * F(0) + 4 * F(d) - F(2 * d)) / (2 * step)
            else:
                g[i] = d * (-25 * F(0) + 48 * F(d) - 36 * F(2 * d) + 16 * F(3 * d) - 3 * F(4 * d)) / (12 * step)
    return g


def free_entropy_gradient(theta, depth, alpha, kappa, accuracy="default", step=1e-4, order=4):
    """d phi / d theta by central differences (one-sided where x1 = x0 would be crossed)."""
    pairs = _pairs(depth)
    return gradient(lambda t: free_entropy(t, depth, alpha, kappa, accuracy), theta, step, order, pairs,
                    nonnegative={i0 for i0, _ in pairs})


def rs_gradient(theta_rs, depth, alpha, kappa, accuracy="default", step=1e-4, order=4):
    return gradient(lambda t: rs_free_entropy(t, depth, alpha, kappa, accuracy), theta_rs, step, order)


# --------------------------------------------------------------------------------------------------------
# stationary points
# --------------------------------------------------------------------------------------------------------
def solve_rs(depth, alpha, kappa, start, accuracy="default"):
    """RS stationary point from ``start`` = (Q_1..Q_L, q_1.., qhat_1..): scipy.optimize.root (hybr) on the
    central-difference gradient.  Returns (theta_rs, gradient, phi)."""
    f = lambda t: rs_gradient(t, depth, alpha, kappa, accuracy)
    sol = optimize.root(f, np.asarray(start, float), method="hybr", options=dict(xtol=1e-13))
    th = sol.x
    return th, rs_gradient(th, depth, alpha, kappa, accuracy), rs_free_entropy(th, depth, alpha, kappa, accuracy)


def rs_qhat(depth, alpha, kappa, Q, q, accuracy="default"):
    r"""The RS conjugates from the q-equations, qhat_l = -2 d(G_S(l+1) or G_O)/dq_l at qhat_{l+1} fixed: here
    solved jointly with scipy (the qhat's of the layers above enter), Q and q held fixed."""
    L = depth
    Q, q = np.asarray(Q, float), np.asarray(q, float)

    def eqs(qh):
        th = np.concatenate([Q, q, qh])
        return rs_gradient(th, L, alpha, kappa, accuracy, step=1e-4)[L:2 * L - 1]
    return optimize.root(eqs, np.full(L - 1, 0.3), method="hybr", options=dict(xtol=1e-13)).x


class _Gap:
    """theta <-> v = (x0 of every pair, d of every pair, [m]) with x1 = x0 + d^2 (keeps x1 >= x0); with
    ``x0_zero`` every x0 is pinned at 0 and v = (d of every pair, [m])."""

    def __init__(self, depth, m=None, x0_zero=False):
        self.pairs, self.m, self.n, self.x0_zero = _pairs(depth), m, n_parameters(depth), x0_zero

    def theta(self, v):
        th = np.empty(self.n)
        k = len(self.pairs)
        x0, d = (np.zeros(k), v[:k]) if self.x0_zero else (v[:k], v[k:2 * k])
        for j, (i0, i1) in enumerate(self.pairs):
            th[i0], th[i1] = x0[j], x0[j] + d[j] ** 2
        th[-1] = self.m if self.m is not None else v[-1]
        return th

    def v(self, theta):
        out = [] if self.x0_zero else [theta[i0] for i0, _ in self.pairs]
        out += [np.sqrt(max(theta[i1] - (0.0 if self.x0_zero else theta[i0]), 0.0)) for i0, i1 in self.pairs]
        return np.array(out + ([] if self.m is not None else [theta[-1]]))

    def gaps(self, v):
        k = len(self.pairs)
        return v[:k] if self.x0_zero else v[k:2 * k]


def solve_1rsb(start, depth, alpha, kappa, m=None, deflation=1.0, x0_zero=False, accuracy="coarse",
               check_accuracy="default"):
    r"""A 1RSB stationary point by scipy.optimize.root (hybr) on the central-difference gradient, from ``start``
    (a theta).  Unknowns x0 and d with x1 = x0 + d^2 (x0 = 0 pinned with ``x0_zero``: then the x0 equations hold
    by symmetry and are checked, not solved), and m unless ``m`` is given (then m is fixed and its equation
    dropped).  Equations d phi/dx0 / m and d phi/dx1 / (1-m) (the pair weights), and d phi/dm, multiplied by the
    deflation factor 1 + deflation / sum d^2: the RS manifold x1 = x0 (where the gradient vanishes as d^2) is no
    longer a root, so the solver cannot collapse onto it (deflation = 0: plain root).  Returns a dict: theta,
    gradient (every component, plain, at ``check_accuracy``; without dphi/dm when m is fixed), residual (its max
    norm), phi, success, message, nfev."""
    gap = _Gap(depth, m, x0_zero)

    def F(v):
        th = gap.theta(v)
        mm = th[-1]
        try:
            g = free_entropy_gradient(th, depth, alpha, kappa, accuracy)
        except ValueError:
            return np.full(len(v), 1e3)
        out = [] if x0_zero else [g[i0] / mm for i0, _ in gap.pairs]
        out += [g[i1] / (1.0 - mm) for _, i1 in gap.pairs]
        if m is None:
            out.append(g[-1])
        return np.array(out) * (1.0 + deflation / max(np.sum(gap.gaps(v) ** 2), 1e-300))

    sol = optimize.root(F, gap.v(np.asarray(start, float)), method="hybr", options=dict(xtol=1e-11))
    th = gap.theta(sol.x)
    g = free_entropy_gradient(th, depth, alpha, kappa, check_accuracy)
    if m is not None:
        g = g[:-1]
    return dict(theta=th, gradient=g, residual=float(np.abs(g).max()), success=bool(sol.success),
                message=sol.message, nfev=sol.nfev, phi=free_entropy(th, depth, alpha, kappa, check_accuracy))


def gap_scan_depth1(alpha, kappa, m, gaps, accuracy="default"):
    r"""Depth 1: for each gap Delta = Q1 - Q0 > 0, the Q0 that solves d phi/dQ0 = 0 (brentq) and the remaining
    equation d phi/dQ1 / (1-m) there.  A sign-definite, non-vanishing second column means no 1RSB stationary point
    with that gap."""
    rows = []
    for D in gaps:
        g = lambda Q0: free_entropy_gradient([Q0, Q0 + D, m], 1, alpha, kappa, accuracy)
        Q0 = optimize.brentq(lambda Q0: g(Q0)[0], 1e-3, 0.95 - D, xtol=1e-13)
        rows.append((D, Q0, g(Q0)[1] / (1.0 - m)))
    return rows


# --------------------------------------------------------------------------------------------------------
# independent checks
# --------------------------------------------------------------------------------------------------------
def gauss_hermite_rule(n):
    """Gauss-Hermite (probabilists') rule with n nodes (n odd) as a ``rule`` for the layer terms."""
    if n % 2 == 0:
        raise ValueError("n must be odd (the outer sum uses the node at 0)")
    t, w = np.polynomial.hermite_e.hermegauss(n)
    return lambda scale, extra: (t, w / np.sqrt(2.0 * np.pi))


def hidden_term_m2(p0, p1, qhat0, qhat1, kappa, n_outer=81):
    r"""The hidden term at the integer m = 2, by another route: E_{w1} zeta^2 = e^{2(y0+c1^2)} A^2 + 2AB +
    e^{-2(y0-c1^2)} B^2 in closed form (y0 = sqrt(qhat0) w0, c1^2 = qhat1-qhat0), the z1 average by adaptive
    scipy.integrate.quad_vec, the outer (z0, w0) average by Gauss-Hermite."""
    from scipy.integrate import quad_vec
    from scipy.special import ndtr
    t, w = np.polynomial.hermite_e.hermegauss(n_outer)
    w = w / np.sqrt(2 * np.pi)
    s, a, b = np.sqrt(1 - p1), np.sqrt(p0), np.sqrt(p1 - p0)
    y0 = np.sqrt(qhat0) * t[None, :]
    c2 = qhat1 - qhat0

    def f(z1):
        x = a * t[:, None] + b * z1
        A, B = ndtr((x - kappa) / s), ndtr((-x - kappa) / s)
        return (np.exp(2 * (y0 + c2)) * A ** 2 + 2 * A * B + np.exp(-2 * y0 + 2 * c2) * B ** 2) \
            * np.exp(-0.5 * z1 * z1) / np.sqrt(2 * np.pi)
    inner = quad_vec(f, -12, 12, epsabs=1e-15, epsrel=1e-14)[0]
    return 0.5 * w @ np.log(inner) @ w


def output_term_quad(p0, p1, m, kappa):
    """The output term by nested adaptive scipy.integrate.quad (S = +1; S = -1 is its mirror image)."""
    from scipy.integrate import quad
    s, a, b = np.sqrt(1 - p1), np.sqrt(p0), np.sqrt(p1 - p0)
    g = lambda t: np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)
    import warnings
    warnings.filterwarnings("ignore", message="The occurrence of roundoff error")   # met: see the printed difference
    inner = lambda z0: quad(lambda z1: g(z1) * np.exp(m * _ln_H(a * z0 + b * z1, kappa, s)), -12, 12,
                            epsabs=1e-15, epsrel=1e-14, limit=200)[0]
    return quad(lambda z0: g(z0) * np.log(inner(z0)), -12, 12, epsabs=1e-14, epsrel=1e-13, limit=200)[0] / m


def log_det_1rsb(n, m, Q0, Q1):
    """ln det of the n x n 1RSB matrix (1 on the diagonal) from its three eigenvalues."""
    D = 1 - Q1 + m * (Q1 - Q0)
    return n * (1 - 1 / m) * np.log(1 - Q1) + (n / m - 1) * np.log(D) + np.log(D + n * Q0)


def srg_rs_free_entropy(depth, alpha, kappa, theta_rs):
    """srg.derive(srg.deep_perceptron(depth, "random")).free_entropy at theta_rs = (Q.., q.., qhat..), its Gaussian
    integrals evaluated by adaptive scipy quadrature (quad / nquad on [-12, 12])."""
    import sympy as sp
    from scipy import integrate
    import symbolic_rg as srg
    from symbolic_rg.special import H
    t = srg.derive(srg.deep_perceptron(depth, "random"))
    R = srg.replica
    subs = {R.alpha: alpha, R.kappa: kappa}
    subs.update(dict(zip(t.order_parameters, theta_rs)))

    def num(I):
        f = I.function.replace(H, lambda u: sp.erfc(u / sp.sqrt(2)) / 2)
        g = sp.lambdify([lim[0] for lim in I.limits], f, "scipy")
        if len(I.limits) == 1:
            return sp.Float(integrate.quad(g, -12, 12, epsabs=1e-14, epsrel=1e-13, limit=200)[0])
        return sp.Float(integrate.nquad(lambda u, v: g(u, v), [[-12, 12]] * 2,
                                        opts=dict(epsabs=1e-13, epsrel=1e-12, limit=200))[0])
    return float(t.free_entropy.subs(subs).replace(lambda e: isinstance(e, sp.Integral), num))


# --------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------
def _fmt(v):
    return "[" + ", ".join("%.10f" % x for x in np.atleast_1d(v)) + "]"


def _layer_term_table():
    print("== 1. layer terms at p0=0.2, p1=0.5, qhat0=0.3, qhat1=1.2, m=0.5 (trapezoid step h; 'GH n': "
          "Gauss-Hermite; 'quad': nested adaptive scipy)")
    for kappa in (0.5, 0.0):
        ref_h = hidden_term(0.2, 0.5, 0.3, 1.2, 0.5, kappa, "fine")
        ref_o = output_term(0.2, 0.5, 0.5, kappa, "fine")
        print("kappa = %g: hidden %.15f   output %.15f   (h = 0.15)" % (kappa, ref_h, ref_o))
        for name, kw in [("h=0.6", dict(accuracy=0.6)), ("h=0.5", dict(accuracy=0.5)),
                         ("h=0.3", dict(accuracy=0.3)), ("GH 41", dict(rule=gauss_hermite_rule(41))),
                         ("GH 81", dict(rule=gauss_hermite_rule(81)))]:
            dh = hidden_term(0.2, 0.5, 0.3, 1.2, 0.5, kappa, **kw) - ref_h
            do = output_term(0.2, 0.5, 0.5, kappa, **kw) - ref_o
            print("   %-6s - (h=0.15):  hidden %+.2e   output %+.2e" % (name, dh, do))
        print("   quad   - (h=0.15):  output %+.2e" % (output_term_quad(0.2, 0.5, 0.5, kappa) - ref_o))
        m2 = hidden_term(0.2, 0.5, 0.3, 1.2, 2.0, kappa, "fine")
        print("   m = 2: hidden %.15f, closed-form w1 + quad_vec route %+.2e" %
              (m2, hidden_term_m2(0.2, 0.5, 0.3, 1.2, kappa) - m2))


def _reductions():
    print("\n== 2. RS reductions (phi with srg's +1/2 per weight layer)")
    print("weights: (1/2) ln det of the 1RSB matrix, n = 6, m = 2, Q0 = 0.2, Q1 = 0.5: eigenvalue formula - numeric "
          "det = %+.1e" % (log_det_1rsb(6, 2, 0.2, 0.5) - np.linalg.slogdet(
              0.2 + 0.3 * np.kron(np.eye(3), np.ones((2, 2))) + 0.5 * np.eye(6))[1]))
    rs = np.array([0.170806, 0.223416, 0.310746, 0.3329315])
    try:
        print("srg free_entropy (depth 2, alpha 0.8, kappa 0.5) at %s: srg (scipy quad) - this RS = %+.1e"
              % (_fmt(rs), srg_rs_free_entropy(2, 0.8, 0.5, rs) - rs_free_entropy(rs, 2, 0.8, 0.5)))
    except Exception as e:                      # symbolic_rg missing or mid-edit: the check is optional
        print("srg check skipped (%s: %s)" % (type(e).__name__, e))
    for kappa in (0.5, 0.0):
        print("layer level, kappa=%g: hidden(p,p,qh,qh,m=0.5) - RS = %+.1e;  hidden(p0,p1,qh0,qh1,m=1) - RS(p0,qh0) "
              "- (qh1-qh0)/2 = %+.1e;  output(p,p,0.5) - RS = %+.1e;  output(p0,p1,1) - RS(p0) = %+.1e" % (
                  kappa, hidden_term(0.3, 0.3, 0.7, 0.7, 0.5, kappa) - hidden_term_rs(0.3, 0.7, kappa),
                  hidden_term(0.2, 0.5, 0.3, 1.2, 1.0, kappa) - hidden_term_rs(0.2, 0.3, kappa) - 0.45,
                  output_term(0.3, 0.3, 0.5, kappa) - output_term_rs(0.3, kappa),
                  output_term(0.2, 0.5, 1.0, kappa) - output_term_rs(0.2, kappa)))
    for L, alpha, kappa in ((2, 0.8, 0.5), (3, 1.3, 0.0)):
        x0 = dict(Q=np.linspace(0.15, 0.3, L), q=np.linspace(0.25, 0.35, L - 1), qh=np.linspace(0.3, 0.5, L - 1))
        x1 = dict(Q=x0["Q"] + 0.2, q=x0["q"] + 0.15, qh=x0["qh"] + 0.4)
        rs0 = np.concatenate([x0["Q"], x0["q"], x0["qh"]])
        same = pack(x0["Q"], x0["Q"], x0["q"], x0["q"], x0["qh"], x0["qh"], 0.4)
        m1 = pack(x0["Q"], x1["Q"], x0["q"], x1["q"], x0["qh"], x1["qh"], 1.0)
        print("depth %d, alpha %g, kappa %g: phi_1RSB(x1 = x0, m = 0.4) - phi_RS(x0) = %+.1e;  "
              "phi_1RSB(x1 > x0, m = 1) - phi_RS(x0) = %+.1e;  phi_RS(x0) = %.12f" % (
                  L, alpha, kappa, free_entropy(same, L, alpha, kappa) - rs_free_entropy(rs0, L, alpha, kappa),
                  free_entropy(m1, L, alpha, kappa) - rs_free_entropy(rs0, L, alpha, kappa),
                  rs_free_entropy(rs0, L, alpha, kappa)))


def _stationary_points():
    np.set_printoptions(precision=10, linewidth=160)
    print("\n== 3a. depth 1, kappa = 0.5, alpha = 0.5")
    th, g, phi = solve_rs(1, 0.5, 0.5, [0.4])
    Q = th[0]
    print("RS: Q = %.12f, |grad| = %.1e, phi = %.14f" % (Q, abs(g[0]), phi))
    for m in (0.3, 0.5, 0.8):
        plain = solve_1rsb([0.7 * Q, 1.3 * Q, m], 1, 0.5, 0.5, m=m, deflation=0.0)
        defl = solve_1rsb([0.7 * Q, 1.3 * Q, m], 1, 0.5, 0.5, m=m, deflation=1.0)
        Q0, Q1 = plain["theta"][:2]
        print("m = %.1f from (Q0, Q1) = (0.7, 1.3) Q_RS: plain root -> Q0 = %.10f, Q1 = %.10f (Q1-Q0 = %.1e), "
              "residual %.1e, phi - phi_RS = %+.1e, dphi/dm = %+.1e;  deflated root: %s (residual %.1e)" % (
                  m, Q0, Q1, Q1 - Q0, plain["residual"], plain["phi"] - phi,
                  free_entropy_gradient(plain["theta"], 1, 0.5, 0.5)[-1],
                  "converged" if defl["success"] else "no root", defl["residual"]))
    print("gap scan, m = 0.5: Delta = Q1-Q0, Q0 solving dphi/dQ0 = 0, and dphi/dQ1/(1-m) there")
    for D, Q0, e in gap_scan_depth1(0.5, 0.5, 0.5, (0.01, 0.03, 0.1, 0.2, 0.3)):
        print("   Delta = %.2f  Q0 = %.8f  dphi/dQ1/(1-m) = %+.6e" % (D, Q0, e))

    print("\n== 3b. depth 2, kappa = 0.5, alpha = 0.8")
    L, alpha, kappa = 2, 0.8, 0.5
    Q = np.array([0.170806, 0.223416])
    q = np.array([0.310746])
    qh = rs_qhat(L, alpha, kappa, Q, q)
    print("RS equations of qhat at the given (Q, q): qhat = %s" % _fmt(qh))
    th, g, phi_rs = solve_rs(L, alpha, kappa, np.concatenate([Q, q, qh]))
    print("RS polished: (Q1, Q2, q1, qhat1) = %s, max|grad| = %.1e, phi = %.14f" % (_fmt(th), np.abs(g).max(), phi_rs))
    Q, q, qh = th[:2], th[2:3], th[3:]
    rsb = pack(Q, Q, q, q, qh, qh, 0.5)
    print("1RSB gradient at the RS point (x1 = x0, m = 0.5): max = %.1e" %
          np.abs(free_entropy_gradient(rsb, L, alpha, kappa)).max())
    names = "Q0_1 Q0_2 Q1_1 Q1_2 q0_1 q1_1 qhat0_1 qhat1_1 m".split()
    starts = [("A: deflated root, all 9 unknowns, from x0 = 0.7 x_RS, x1 = 1.3 x_RS, m = 0.5",
               pack(0.7 * Q, 1.3 * Q, 0.7 * q, 1.3 * q, 0.7 * qh, 1.3 * qh, 0.5), {}),
              ("B: x0 = 0 pinned (Q0 = q0 = qhat0 = 0), from x1 = 1.2 x_RS, m = 0.3",
               pack(0 * Q, 1.2 * Q, 0 * q, 1.2 * q, 0 * qh, 1.2 * qh, 0.3), dict(x0_zero=True, deflation=0.0))]
    for label, start, kw in starts:
        s = solve_1rsb(start, L, alpha, kappa, **kw)
        print(label)
        print("   " + "  ".join("%s=%.10f" % (n, v) for n, v in zip(names, s["theta"])))
        print("   gradient (h = 0.3 quadrature, 4th-order differences, step 1e-4): %s" % s["gradient"])
        print("   max|grad| = %.1e;  phi = %.13f;  phi - phi_RS = %+.4e;  phi(h=0.15) - phi(h=0.3) = %+.1e" % (
            s["residual"], s["phi"], s["phi"] - phi_rs,
            free_entropy(s["theta"], L, alpha, kappa, "fine") - s["phi"]))


def _main():
    import time
    t = time.time()
    _layer_term_table()
    _reductions()
    _stationary_points()
    print("\n(%.0f s)" % (time.time() - t))


if __name__ == "__main__":
    _main()
