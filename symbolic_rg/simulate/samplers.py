r"""Simulation of real finite networks: sampling the Gibbs posterior over the weights themselves.

* :func:`gibbs_deep_linear` -- exact blocked Gibbs sampler of deep linear networks.  Given all other
  layers the output is linear in one layer's weights: :math:`f(x^\mu) = s\, b_l^\top W_l z_{l-1}^\mu` with
  :math:`b_l = W_{l+1}^\top\cdots W_L^\top a`, :math:`z_{l-1} = W_{l-1}\cdots W_1 x`,
  :math:`s = (N_0\cdots N_L)^{-1/2}`.  Only :math:`v = W_l^\top\hat b_l` enters, so :math:`v` is drawn
  from its Gaussian posterior (Bayesian linear regression: design :math:`s|b_l|Z_{l-1}`, prior
  :math:`\mathcal N(0,\sigma_l^2)`, noise variance :math:`T`) and the rest of :math:`W_l` from the prior.
* :func:`mala` -- Metropolis-adjusted Langevin sampler for any differentiable log density (networks
  without exact conditionals), with step-size adaptation during burn-in and acceptance reporting;
  :func:`deep_linear_log_posterior` supplies the deep linear one (used to cross-check the samplers).

Estimates come with honest error bars: the chain is cut into batches and the standard errors are
jackknife estimates over batches (batch means), so autocorrelation within a batch is accounted for.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import sympy as sp

from .. import checks
from ..activations import activation as _symbolic_activation, numeric, z
from ..attention.maps import evaluate_maps
from ..errors import ParameterError
from ..protocol import GeneralizationError

__all__ = ["PosteriorSamples", "jackknife", "gibbs_deep_linear", "gibbs_gated", "gibbs_conv", "conv_log_posterior",
           "mala_conv", "gibbs_attention", "activation_functions",
           "network_log_posterior", "deep_linear_log_posterior", "mala", "mala_network", "mala_deep_linear",
           "regression_draw"]


class PosteriorSamples(NamedTuple):
    """Posterior estimates from a sampler, with jackknife (batch) standard errors."""
    mean: np.ndarray                 # <f(x)> at the test points
    mean_stderr: np.ndarray
    variance: np.ndarray             # <df(x)^2> at the test points
    variance_stderr: np.ndarray
    layer_kernels: list              # <K_l> = <x_l . x_l'>/N_l on the training set, l = 1..L
    layer_kernels_stderr: list
    f_test: np.ndarray               # the kept samples of f at the test points (samples x test points)
    diagnostics: dict

    def generalization_error(self, y_test):
        """(total, bias, variance) and their jackknife standard errors over batches."""
        y_test = checks.array("y_test", y_test, 1)

        def estimate(mean, second):
            bias = np.mean((mean - y_test) ** 2)
            var = np.mean(second - mean**2)
            return np.array([bias + var, bias, var])
        full, stderr = jackknife(self.f_test, self.diagnostics["batches"], estimate)
        return GeneralizationError(*full), GeneralizationError(*stderr)


def jackknife(f, batches, estimate):
    """``estimate(<f>, <f^2>)`` over all kept samples and its jackknife standard error, leaving out one
    batch of consecutive samples at a time (batch means absorb the autocorrelation within a batch)."""
    fb = f[: (len(f) // batches) * batches].reshape((batches, -1) + f.shape[1:])
    s1, s2, m = fb.sum(axis=1), (fb**2).sum(axis=1), fb.shape[1]
    full = estimate(s1.sum(0) / (m * batches), s2.sum(0) / (m * batches))
    jack = np.array([estimate((s1.sum(0) - s1[b]) / (m * (batches - 1)), (s2.sum(0) - s2[b]) / (m * (batches - 1)))
                     for b in range(batches)])
    return full, np.sqrt((batches - 1) / batches * np.sum((jack - jack.mean(0)) ** 2, axis=0))


def _summarise(f_test, kernels, batches, diagnostics):
    def batch(arr):
        b = arr[: (len(arr) // batches) * batches].reshape((batches, -1) + arr.shape[1:]).mean(axis=1)
        return arr.mean(axis=0), b.std(axis=0, ddof=1) / np.sqrt(batches)
    mean, mean_se = batch(f_test)
    var, var_se = jackknife(f_test, batches, lambda m1, m2: m2 - m1**2)
    ks = [batch(k) for k in kernels]
    # effective sample size of f at the test points from the batch means
    ess = f_test.var(axis=0) / np.maximum(mean_se**2, 1e-300)
    diagnostics = dict(diagnostics, batches=batches, samples=len(f_test),
                       effective_sample_size=float(np.min(ess)))
    return PosteriorSamples(mean, mean_se, var, var_se, [k[0] for k in ks], [k[1] for k in ks], f_test, diagnostics)


def _validate(X, y, X_test, widths, sigma2, T, samples, burn_in, batches, zero_temperature=False):
    X, y, X_test = checks.array("X", X, 2), checks.array("y", y, 1), checks.array("X_test", X_test, 2)
    if X.shape[0] != y.shape[0]:
        raise ParameterError("X has %d rows but y has %d entries" % (X.shape[0], y.shape[0]))
    if X_test.shape[1] != X.shape[1]:
        raise ParameterError("X_test has %d features but X has %d" % (X_test.shape[1], X.shape[1]))
    if np.ndim(widths) != 1 or len(widths) < 1:
        raise ParameterError("widths must be a list [N_1, ..., N_L] of hidden widths, got %r" % (widths,))
    L = len(widths)
    widths = [int(w) for w in checks.widths(L, list(widths))]
    s2 = [float(s) for s in checks.prior_variances(L, list(sigma2) if np.ndim(sigma2) else sigma2)]
    checks.temperature(T, zero=zero_temperature)
    samples = checks.integer("samples", samples, low=1)
    checks.integer("batches", batches, low=2, high=samples)
    checks.integer("burn_in", burn_in, low=0)
    return X, y, X_test, widths, s2


@numba.njit(cache=True)
def _substitute(L, b, transpose):
    """x with L x = b (``transpose``: L^T x = b) for lower-triangular L: O(n^2), where np.linalg.solve factorises L
    again (O(n^3))."""
    n = b.size
    x = np.empty(n)
    for k in range(n):
        i = n - 1 - k if transpose else k
        total = b[i]
        if transpose:
            for j in range(i + 1, n):
                total -= L[j, i] * x[j]
        else:
            for j in range(i):
                total -= L[i, j] * x[j]
        x[i] = total / L[i, i]
    return x


def regression_draw(rng, A, y, prior_var, T):
    """Draw v from the posterior of prior N(0, prior_var I), likelihood N(y; A v, T I): with the Cholesky factor C of
    the precision :math:`I/\\sigma^2 + A^\\top A/T`, mean :math:`C^{-\\top}C^{-1}A^\\top y/T` plus :math:`C^{-\\top}\\xi`."""
    n = A.shape[1]
    chol = np.linalg.cholesky(np.eye(n) / prior_var + A.T @ A / T)
    mean = _substitute(chol, _substitute(chol, A.T @ y / T, False), True)
    return mean + _substitute(chol, rng.standard_normal(n), True)


def _record(Ws, a, X, X_test, dims, phi=lambda z: z):
    Zt, Z = X_test.T, X.T
    kernels = []
    for l, W in enumerate(Ws):
        Zt, Z = phi(W @ Zt / np.sqrt(dims[l])), phi(W @ Z / np.sqrt(dims[l]))
        kernels.append(Z.T @ Z / dims[l + 1])
    return a @ Zt / np.sqrt(dims[-1]), kernels


def gibbs_deep_linear(X, y, X_test, widths, sigma2=1.0, T=0.1, samples=2000, burn_in=200, batches=20, seed=0):
    """Exact blocked Gibbs sampling of a deep linear network's weight posterior (see module docstring).

    ``samples`` sweeps are kept after ``burn_in``; each sweep redraws every layer once.
    """
    X, y, X_test, widths, s2 = _validate(X, y, X_test, widths, sigma2, T, samples, burn_in, batches)
    L = len(widths)
    rng = np.random.default_rng(seed)
    dims = [X.shape[1]] + widths
    Ws = [rng.standard_normal((dims[l + 1], dims[l])) * np.sqrt(s2[l]) for l in range(L)]
    a = rng.standard_normal(dims[-1]) * np.sqrt(s2[L])
    scale = 1 / np.sqrt(np.prod(np.array(dims, dtype=float)))
    f_test = np.empty((samples, X_test.shape[0]))
    kernels = [np.empty((samples, X.shape[0], X.shape[0])) for _ in range(L)]
    for sweep in range(burn_in + samples):
        below = [X.T]                               # z_0 .. z_{L} (unnormalised products)
        for W in Ws:
            below.append(W @ below[-1])
        above = a                                   # b_l = W_{l+1}^T ... W_L^T a, built downwards
        for l in range(L, -1, -1):
            if l == L:
                a = regression_draw(rng, scale * below[L].T, y, s2[L], T)
                above = a
                continue
            nb = np.linalg.norm(above)
            bh = above / nb
            v = regression_draw(rng, scale * nb * below[l].T, y, s2[l], T)
            fresh = rng.standard_normal(Ws[l].shape) * np.sqrt(s2[l])
            Ws[l] = fresh - np.outer(bh, bh @ fresh) + np.outer(bh, v)
            above = Ws[l].T @ above
        # going downwards, z_l = below[l] depends only on layers not yet redrawn in this sweep
        if sweep >= burn_in:
            i = sweep - burn_in
            f_test[i], ks = _record(Ws, a, X, X_test, dims)
            for l in range(L):
                kernels[l][i] = ks[l]
    return _summarise(f_test, kernels, batches, {"sampler": "blocked Gibbs (exact conditionals)",
                                                  "sweeps": burn_in + samples, "burn_in": burn_in})


def activation_functions(spec):
    """Float64 ``(phi, phi')`` of an activation (:func:`symbolic_rg.activations.activation`)."""
    sigma = _symbolic_activation(spec)
    return numeric(sigma), numeric(sp.diff(sigma, z))


def network_log_posterior(X, y, widths, sigma2, T, activation="linear"):
    r"""``(dimension, unpack, logp_and_grad)`` of the weight posterior of
    :math:`h_1 = W_1x/\sqrt{N_0}`, :math:`h_{l+1} = W_{l+1}\phi(h_l)/\sqrt{N_l}`,
    :math:`f = a\cdot\phi(h_L)/\sqrt{N_L}` (``activation``: any of :mod:`symbolic_rg.activations`; linear
    gives the deep linear network), weights flattened."""
    phi, dphi = activation_functions(activation)
    L = len(widths)
    dims = [X.shape[1]] + list(widths)
    shapes = [(dims[l + 1], dims[l]) for l in range(L)] + [(dims[-1],)]
    sizes = [int(np.prod(s)) for s in shapes]
    s2 = [float(sigma2)] * (L + 1) if np.ndim(sigma2) == 0 else list(sigma2)

    def unpack(theta):
        parts, i = [], 0
        for shp, n in zip(shapes, sizes):
            parts.append(theta[i:i + n].reshape(shp))
            i += n
        return parts

    def logp_and_grad(theta):
        Ws = unpack(theta)
        acts, pre = [X.T], []
        for l in range(L):
            pre.append(Ws[l] @ acts[-1] / np.sqrt(dims[l]))
            acts.append(phi(pre[-1]))
        f = Ws[L] @ acts[-1] / np.sqrt(dims[-1])
        r = f - y
        logp = -r @ r / (2 * T) - sum(np.sum(W**2) / (2 * s) for W, s in zip(Ws, s2))
        grads = [None] * (L + 1)
        g = -r / T                                          # d logp / d f
        grads[L] = acts[-1] @ g / np.sqrt(dims[-1]) - Ws[L] / s2[L]
        delta = np.outer(Ws[L], g) / np.sqrt(dims[-1])      # d logp / d x_L  (N_L x P)
        for l in range(L - 1, -1, -1):
            delta = delta * dphi(pre[l])                     # d logp / d h_{l+1}
            grads[l] = delta @ acts[l].T / np.sqrt(dims[l]) - Ws[l] / s2[l]
            delta = Ws[l].T @ delta / np.sqrt(dims[l])
        return logp, np.concatenate([gg.ravel() for gg in grads])
    return sum(sizes), unpack, logp_and_grad


def deep_linear_log_posterior(X, y, widths, sigma2, T):
    """``(dimension, unpack, logp_and_grad)`` of the deep linear weight posterior, weights flattened."""
    return network_log_posterior(X, y, widths, sigma2, T, "linear")


def mala(logp_and_grad, x0, samples, burn_in=1000, step=None, target_acceptance=0.574, seed=0, thin=1):
    """Metropolis-adjusted Langevin algorithm.  Returns ``(chain, diagnostics)``.

    Proposal :math:`x' = x + \\frac{\\epsilon^2}{2}\\nabla\\log p(x) + \\epsilon\\,\\xi`, accepted with the
    Metropolis-Hastings ratio.  During burn-in the step size is adapted (Robbins-Monro on log epsilon)
    towards ``target_acceptance``; it is then frozen, and the acceptance rate of the kept part is reported.
    """
    if not (isinstance(samples, (int, np.integer)) and samples >= 1):
        raise ParameterError("samples must be a positive integer, got %r" % (samples,))
    rng = np.random.default_rng(seed)
    x = np.array(x0, dtype=float)
    lp, g = logp_and_grad(x)
    eps = step or 0.5 / np.sqrt(len(x))
    chain = np.empty((samples, len(x)))
    accepted = 0
    for it in range(burn_in + samples * thin):
        prop = x + 0.5 * eps**2 * g + eps * rng.standard_normal(len(x))
        lp2, g2 = logp_and_grad(prop)
        fwd = -np.sum((prop - x - 0.5 * eps**2 * g) ** 2) / (2 * eps**2)
        back = -np.sum((x - prop - 0.5 * eps**2 * g2) ** 2) / (2 * eps**2)
        log_ratio = lp2 - lp + back - fwd
        accept = np.log(rng.uniform()) < log_ratio
        if accept:
            x, lp, g = prop, lp2, g2
        if it < burn_in:
            eps *= np.exp((min(1.0, np.exp(min(log_ratio, 0.0))) - target_acceptance) / np.sqrt(it + 1))
        else:
            accepted += accept
            k = it - burn_in
            if k % thin == 0:
                chain[k // thin] = x
    return chain, {"sampler": "MALA", "step_size": float(eps), "acceptance_rate": accepted / (samples * thin),
                   "burn_in": burn_in, "thin": thin}


def mala_network(X, y, X_test, widths, activation="linear", sigma2=1.0, T=0.1, samples=2000, burn_in=2000,
                 batches=20, thin=5, seed=0):
    """MALA sampling of the weight posterior of a deep network (:func:`network_log_posterior`)."""
    X, y, X_test, widths, s2 = _validate(X, y, X_test, widths, sigma2, T, samples, burn_in, batches)
    phi, _ = activation_functions(activation)
    dim, unpack, logp = network_log_posterior(X, y, widths, s2, T, activation)
    rng = np.random.default_rng(seed)
    x0 = np.concatenate([rng.standard_normal(int(np.prod(p.shape))) * np.sqrt(s) for p, s in
                         zip(unpack(np.zeros(dim)), s2)])
    chain, diag = mala(logp, x0, samples, burn_in=burn_in, seed=seed, thin=thin)
    dims = [X.shape[1]] + widths
    f_test = np.empty((samples, X_test.shape[0]))
    kernels = [np.empty((samples, X.shape[0], X.shape[0])) for _ in widths]
    for i, theta in enumerate(chain):
        parts = unpack(theta)
        f_test[i], ks = _record(parts[:-1], parts[-1], X, X_test, dims, phi)
        for l, k in enumerate(ks):
            kernels[l][i] = k
    return _summarise(f_test, kernels, batches, dict(diag, activation=activation))


def mala_deep_linear(X, y, X_test, widths, sigma2=1.0, T=0.1, samples=2000, burn_in=2000, batches=20, thin=5, seed=0):
    """MALA sampling of a deep linear network's weight posterior (for cross-checks of the Langevin path)."""
    return mala_network(X, y, X_test, widths, "linear", sigma2, T, samples, burn_in, batches, thin, seed)


def _matheron_draw(rng, prior_var, T, forward, adjoint, gram, y, theta_shape):
    r"""Exact draw from the Gaussian posterior of :math:`\theta` (prior :math:`\mathcal N(0,s^2)`, data
    :math:`y = \Phi\theta + \epsilon`, :math:`\epsilon\sim\mathcal N(0,T)`; T = 0 conditions exactly) by
    Matheron's rule :math:`\theta = \theta_0 + s^2\Phi^\top(s^2\Phi\Phi^\top + T)^{-1}(y - \Phi\theta_0 - \epsilon)`,
    :math:`\theta_0` a prior draw: one P x P solve, whatever the size of :math:`\theta`."""
    theta0 = rng.standard_normal(theta_shape) * np.sqrt(prior_var)
    eps = rng.standard_normal(y.shape) * np.sqrt(T)
    C = prior_var * gram + T * np.eye(len(y))
    if T == 0:
        ev = np.linalg.eigvalsh(C)
        if ev[0] <= 1e-10 * ev[-1]:
            raise ParameterError("T = 0: a weight block cannot interpolate the %d training outputs given the "
                                 "other layers (its design has rank < %d); use T > 0 or wider layers"
                                 % (len(y), len(y)))
    w = np.linalg.solve(C, y - forward(theta0) - eps)
    return theta0 + prior_var * adjoint(w)


def gibbs_gated(X, y, X_test, widths, gates, gates_test, readout_gates=None, readout_gates_test=None,
                sigma2=1.0, T=0.1, samples=2000, burn_in=200, batches=20, seed=0):
    r"""Exact blocked Gibbs sampler of a gated deep linear network's weight posterior (T >= 0).

    Network (``symbolic_rg.gated``): :math:`x_l = \sum_m g^l_m W^{l,m}x_{l-1}/\sqrt{M_lN_{l-1}}`,
    :math:`f_k = \sum_r g^a_r a^{k,r}\cdot x_L/\sqrt{M_aN_L}`.  Given the other layers, f is linear in one
    layer's weights :math:`W^l = (W^{l,1..M_l})`: :math:`f_k(x^\mu) = \sum_m g^l_m(\mu)\,b_k(\mu)^\top W^{l,m}
    x_{l-1}(\mu)/\sqrt{M_lN_{l-1}}` with :math:`b_k(\mu) = \partial f_k/\partial x_l`, so each block is drawn
    exactly by Matheron's rule with the P x P Gram matrix
    :math:`\Phi\Phi^\top = (G_lG_l^\top)\circ(BB^\top)\circ(X_{l-1}X_{l-1}^\top)/(M_lN_{l-1})`.

    ``gates`` / ``gates_test``: per layer a (P x M_l) array, or None for a plain linear layer;
    ``readout_gates``: None (linear readout) or (P x M_a); ``y``: (P,) or (P, outputs).
    Returns :class:`PosteriorSamples` with ``f_test`` flattened point-major, (samples, n_test * outputs), and
    the mean hidden kernels :math:`\langle x_l\cdot x_l'\rangle/N_l` on the training set.
    """
    X, X_test = checks.array("X", X, 2), checks.array("X_test", X_test, 2)
    Y = np.asarray(y, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y
    Y = checks.array("y", Y, 2)
    L = len(widths)
    if len(gates) != L or len(gates_test) != L:
        raise ParameterError("gates and gates_test need one entry per layer (%d), got %d and %d"
                             % (L, len(gates), len(gates_test)))
    _, _, _, widths, s2 = _validate(X, Y[:, 0], X_test, widths, sigma2, T, samples, burn_in, batches,
                                    zero_temperature=True)
    P, n, m = X.shape[0], X_test.shape[0], Y.shape[1]
    ones = lambda k: np.ones((k, 1))
    G = [ones(P) if g is None else np.asarray(g, float) for g in gates]
    Gt = [ones(n) if g is None else np.asarray(g, float) for g in gates_test]
    R = ones(P) if readout_gates is None else np.asarray(readout_gates, float)
    Rt = ones(n) if readout_gates_test is None else np.asarray(readout_gates_test, float)
    for l, (g, gt) in enumerate(zip(G, Gt)):
        if g.shape[0] != P or gt.shape[0] != n or g.shape[1] != gt.shape[1]:
            raise ParameterError("gates of layer %d have shapes %s (train) and %s (test); need (%d, M), (%d, M)"
                                 % (l + 1, g.shape, gt.shape, P, n))
    rng = np.random.default_rng(seed)
    dims = [X.shape[1]] + widths
    Ws = [rng.standard_normal((G[l].shape[1], dims[l + 1], dims[l])) * np.sqrt(s2[l]) for l in range(L)]
    a = rng.standard_normal((m, R.shape[1], dims[L])) * np.sqrt(s2[L])
    y_flat = Y.T.ravel()                                   # output-major: (k, mu)

    def forward_layers(Xin, gs):
        out = [Xin]
        for l in range(L):
            Mg = gs[l].shape[1]
            Z = sum(gs[l][:, [k]] * (out[-1] @ Ws[l][k].T) for k in range(Mg)) / np.sqrt(Mg * dims[l])
            out.append(Z)
        return out

    c = np.sqrt(R.shape[1] * dims[L])                   # readout normalisation

    def readout(XL, Rg):
        return np.stack([np.einsum("pr,rj,pj->p", Rg, a[k], XL) / c for k in range(m)], axis=1)

    f_test = np.empty((samples, n * m))
    kernels = [np.empty((samples, P, P)) for _ in range(L)]
    xs = forward_layers(X, G)
    for sweep in range(burn_in + samples):
        # readout: each output's weights a^k = (a^{k,r})_r, design R[mu, r] x_L[mu, j] / c
        design = (R[:, :, None] * xs[L][:, None, :]).reshape(P, -1) / c
        gram = design @ design.T
        for k in range(m):
            a[k] = _matheron_draw(rng, s2[L], T, lambda th: design @ th.ravel(),
                                  lambda w: (design.T @ w).reshape(a[k].shape), gram, Y[:, k], a[k].shape)
        # backprop vectors b_k(mu) = df_k/dx_L, stacked output-major: (m P) x N_L
        B = np.concatenate([(R @ a[k]) / c for k in range(m)], axis=0)
        for l in range(L - 1, -1, -1):
            g, Mg, xin = G[l], G[l].shape[1], xs[l]
            cl = np.sqrt(Mg * dims[l])
            gE, xE = np.tile(g, (m, 1)), np.tile(xin, (m, 1))
            gram = (gE @ gE.T) * (B @ B.T) * (xE @ xE.T) / cl**2

            def fwd(W, gE=gE, xE=xE, B=B, cl=cl, Mg=Mg):
                return sum(gE[:, k] * np.einsum("pi,pi->p", B, xE @ W[k].T) for k in range(Mg)) / cl

            def adj(w, gE=gE, xE=xE, B=B, cl=cl, Mg=Mg):
                return np.stack([(B * (w * gE[:, k])[:, None]).T @ xE for k in range(Mg)]) / cl
            Ws[l] = _matheron_draw(rng, s2[l], T, fwd, adj, gram, y_flat, Ws[l].shape)
            # b for the layer below: b_{l-1}(mu) = sum_m g_m(mu) W^{l,m T} b_l(mu) / c_l
            B = sum(gE[:, [k]] * (B @ Ws[l][k]) for k in range(Mg)) / cl
        xs = forward_layers(X, G)                       # the new weights' activations, for the next sweep too
        if sweep >= burn_in:
            xt = forward_layers(X_test, Gt)
            f_test[sweep - burn_in] = readout(xt[L], Rt).ravel()
            for l, x in enumerate(xs[1:]):
                kernels[l][sweep - burn_in] = x @ x.T / dims[l + 1]
    return _summarise(f_test, kernels, batches, {"sampler": "blocked Gibbs, Matheron conditionals (gated)",
                                            "sweeps": burn_in + samples, "burn_in": burn_in})


def _check_patches(patches):
    if not hasattr(patches, "extract"):
        raise ParameterError("patches must be a symbolic_rg.Patches (input shape, filter, stride), got %r" % (patches,))


def gibbs_conv(X, y, X_test, patches, channels, sigma2=1.0, T=0.1, pooled=False, samples=2000, burn_in=200,
               batches=20, seed=0):
    r"""Exact blocked Gibbs sampler of a linear convolutional network's weight posterior (T >= 0).

    Network (:func:`symbolic_rg.cnn`, one convolution): :math:`h_{ci}(x) = w_c\cdot x_{(i)}/\sqrt M`
    (``patches``: a :class:`~symbolic_rg.Patches`), :math:`f = \sum_{ci}a_{ci}h_{ci}/\sqrt{N_cn}` (``pooled``:
    :math:`f = \sum_ca_c\frac1n\sum_ih_{ci}/\sqrt{N_c}`), :math:`w\sim\mathcal N(0,\sigma_1^2)`,
    :math:`a\sim\mathcal N(0,\sigma_a^2)`.  f is linear in the readout given the filters and in the filters
    given the readout (design :math:`\sum_ia_{ci}x_{(i),k}/\sqrt{MN_cn}`), so each block is drawn exactly by
    Matheron's rule.  Besides the test predictions, ``layer_kernels[0]`` is the mean kernel of the flattened (or
    pooled) conv units on the training set, and ``diagnostics["readout_overlap"]`` (with ``..._stderr``) the
    mean of :math:`\frac1{N_cn}\sum_ca_{ci}a_{cj}` (pooled: :math:`\frac1{N_c}\sum_ca_c^2`), the quantity the
    order parameter :math:`V_1` describes."""
    X, y, X_test, (N,), s2 = _validate(X, y, X_test, [channels], sigma2, T, samples, burn_in, batches,
                                      zero_temperature=True)
    _check_patches(patches)
    Z, Zt = patches.extract(X), patches.extract(X_test, "X_test")
    P, n, M = Z.shape
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((N, M)) * np.sqrt(s2[0])
    a = rng.standard_normal((N,) if pooled else (N, n)) * np.sqrt(s2[1])
    scale = np.sqrt(N) if pooled else np.sqrt(N * n)

    def units(Zx):                                       # (rows, N) pooled or (rows, N n) flattened
        H = np.einsum("pik,ck->pci", Zx, W) / np.sqrt(M)
        return H.mean(axis=2) if pooled else H.reshape(Zx.shape[0], -1)
    f_test = np.empty((samples, Zt.shape[0]))
    kernels = [np.empty((samples, P, P))]
    overlaps = np.empty((samples,) + ((1, 1) if pooled else (n, n)))
    for sweep in range(burn_in + samples):
        design = units(Z) / scale
        a = _matheron_draw(rng, s2[1], T, lambda th: design @ th.ravel(), lambda w: (design.T @ w).reshape(a.shape),
                           design @ design.T, y, a.shape)
        # f(x_mu) = sum_c w_c . d_c(mu): d_c(mu) = sum_i a_ci x_mu,(i) / sqrt(M) / scale  (pooled: a_c mean_i)
        D = (np.einsum("c,pik->pck", a, Z) / n if pooled else np.einsum("ci,pik->pck", a, Z)) / (np.sqrt(M) * scale)
        Df = D.reshape(P, -1)
        W = _matheron_draw(rng, s2[0], T, lambda th: Df @ th.ravel(), lambda w: (Df.T @ w).reshape(W.shape),
                           Df @ Df.T, y, W.shape)
        if sweep >= burn_in:
            k = sweep - burn_in
            f_test[k] = units(Zt) @ a.ravel() / scale
            U = units(Z)
            kernels[0][k] = U @ U.T / U.shape[1]
            overlaps[k] = (a @ a / N)[None, None] if pooled else a.T @ a / (N * n)
    out = _summarise(f_test, kernels, batches, {"sampler": "blocked Gibbs, Matheron conditionals (convolution)",
                                                "sweeps": burn_in + samples, "burn_in": burn_in})
    ob = overlaps[: (samples // batches) * batches].reshape((batches, -1) + overlaps.shape[1:]).mean(axis=1)
    out.diagnostics.update(readout_overlap=overlaps.mean(axis=0),
                           readout_overlap_stderr=ob.std(axis=0, ddof=1) / np.sqrt(batches))
    return out


def conv_log_posterior(X, y, patches, channels, sigma2, T, activation="linear", pooled=False):
    r"""``(dimension, unpack, logp_and_grad)`` of the weight posterior of a one-convolution network
    (:func:`gibbs_conv`'s, with :math:`\phi` = ``activation``); weights flattened (filters, then readout)."""
    phi, dphi = activation_functions(activation)
    _check_patches(patches)
    checks.temperature(T, zero=False)
    Z = patches.extract(X)
    P, n, M = Z.shape
    N = int(channels)
    s2 = [float(sigma2)] * 2 if np.ndim(sigma2) == 0 else [float(v) for v in sigma2]
    scale = np.sqrt(N) if pooled else np.sqrt(N * n)
    shapes = [(N, M), (N,) if pooled else (N, n)]

    def unpack(theta):
        return theta[:N * M].reshape(shapes[0]), theta[N * M:].reshape(shapes[1])

    def logp_and_grad(theta):
        W, a = unpack(theta)
        H = np.einsum("pik,ck->pci", Z, W) / np.sqrt(M)
        U = phi(H)
        f = (np.einsum("pci,c->p", U, a) / n if pooled else np.einsum("pci,ci->p", U, a)) / scale
        r = f - y
        logp = -r @ r / (2 * T) - np.sum(W**2) / (2 * s2[0]) - np.sum(a**2) / (2 * s2[1])
        g = -r / T
        ga = (np.einsum("p,pci->c", g, U) / n if pooled else np.einsum("p,pci->ci", g, U)) / scale - a / s2[1]
        dU = g[:, None, None] * (a[None, :, None] / n if pooled else a[None]) / scale
        gW = np.einsum("pci,pik->ck", dU * dphi(H), Z) / np.sqrt(M) - W / s2[0]
        return logp, np.concatenate([gW.ravel(), ga.ravel()])
    return N * M + int(np.prod(shapes[1])), unpack, logp_and_grad


def mala_conv(X, y, X_test, patches, channels, activation="relu", sigma2=1.0, T=0.1, pooled=False, samples=2000,
              burn_in=2000, batches=20, thin=5, seed=0):
    """MALA sampling of a one-convolution network's weight posterior (:func:`conv_log_posterior`), for activations
    without Gaussian conditionals; ``diagnostics["readout_overlap"]`` as in :func:`gibbs_conv`."""
    X, y, X_test, (N,), s2 = _validate(X, y, X_test, [channels], sigma2, T, samples, burn_in, batches)
    phi, _ = activation_functions(activation)
    dim, unpack, logp = conv_log_posterior(X, y, patches, N, s2, T, activation, pooled)
    rng = np.random.default_rng(seed)
    W0, a0 = unpack(np.zeros(dim))
    x0 = np.concatenate([rng.standard_normal(W0.size) * np.sqrt(s2[0]), rng.standard_normal(a0.size) * np.sqrt(s2[1])])
    chain, diag = mala(logp, x0, samples, burn_in=burn_in, seed=seed, thin=thin)
    Z, Zt = patches.extract(X), patches.extract(X_test, "X_test")
    n, M = Z.shape[1], Z.shape[2]
    scale = np.sqrt(N) if pooled else np.sqrt(N * n)

    def units(Zx, W):
        U = phi(np.einsum("pik,ck->pci", Zx, W) / np.sqrt(M))
        return U.mean(axis=2) if pooled else U.reshape(Zx.shape[0], -1)
    f_test = np.empty((samples, Zt.shape[0]))
    kernels = [np.empty((samples, X.shape[0], X.shape[0]))]
    overlaps = np.empty((samples,) + ((1, 1) if pooled else (n, n)))
    for i, theta in enumerate(chain):
        W, a = unpack(theta)
        f_test[i] = units(Zt, W) @ a.ravel() / scale
        U = units(Z, W)
        kernels[0][i] = U @ U.T / U.shape[1]
        overlaps[i] = (a @ a / N)[None, None] if pooled else a.T @ a / (N * n)
    out = _summarise(f_test, kernels, batches, dict(diag, activation=activation))
    ob = overlaps[: (samples // batches) * batches].reshape((batches, -1) + overlaps.shape[1:]).mean(axis=1)
    out.diagnostics.update(readout_overlap=overlaps.mean(axis=0),
                           readout_overlap_stderr=ob.std(axis=0, ddof=1) / np.sqrt(batches))
    return out


def gibbs_attention(X, y, X_test, tokens, maps, widths, sigma2=1.0, T=0.1, samples=2000, burn_in=200, batches=20,
                    seed=0):
    r"""Exact blocked Gibbs sampler of a deep multi-head attention network's weight posterior (T >= 0).

    Network (:func:`symbolic_rg.attention_network`): :math:`z_1 = W_1x/\sqrt{N_0}`,
    :math:`z_l = \sum_hW^{l,h}z_{l-1}\Omega^{l,h}/\sqrt{H_lN_{l-1}}`, :math:`f = a\cdot z_{L+1}\omega_r/
    \sqrt{N_{L+1}}`; ``tokens`` a :class:`~symbolic_rg.Tokens`, ``maps`` one attention map per attention layer
    (callables tokens (rows, N_0, T) -> (rows, H, T, T), e.g. :class:`~symbolic_rg.attention.SoftmaxAttention`),
    ``widths`` :math:`N_1..N_{L+1}`.  Given the other layers f is linear in one layer's weights (all its heads):
    with :math:`G_l = \partial f/\partial z_l` the design of :math:`W^{l,h}` is :math:`G_l\Omega^{l,h\top}
    z_{l-1}^\top/\sqrt{H_lN_{l-1}}`, drawn exactly by Matheron's rule.  ``diagnostics["path_overlap"]`` (with
    ``..._stderr``) is the mean of :math:`E^\top E` over attention paths, :math:`E_{j\pi}` the effective readout
    weight of unit j of the token projection along path :math:`\pi` (:math:`E = a/\sqrt{N_{L+1}}`, then
    :math:`E_{(\pi,h)} = W^{l,h\top}E_\pi/\sqrt{H_lN_{l-1}}` down the layers): the quantity the order parameter
    :math:`V_1` describes (its prior law is :math:`V_1`'s)."""
    X, y, X_test, widths, s2 = _validate(X, y, X_test, widths, sigma2, T, samples, burn_in, batches,
                                         zero_temperature=True)
    if not hasattr(tokens, "split"):
        raise ParameterError("tokens must be a symbolic_rg.Tokens (tokens, features, readout), got %r" % (tokens,))
    xs, xts = tokens.split(X), tokens.split(X_test, "X_test")
    maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
    L = len(widths) - 1
    if len(maps) != L:
        raise ParameterError("maps: %d attention layers need %d maps, got %d" % (L, L, len(maps)))
    heads = [int(m(xs[:1]).shape[1]) for m in maps]
    Om, Omt = evaluate_maps(maps, xs, heads), evaluate_maps(maps, xts, heads, "test")
    w_r = tokens.readout_vector
    rng = np.random.default_rng(seed)
    dims = [tokens.features] + list(widths)
    W1 = rng.standard_normal((dims[1], dims[0])) * np.sqrt(s2[0])
    Ws = [rng.standard_normal((H, dims[l + 2], dims[l + 1])) * np.sqrt(s2[l + 1]) for l, H in enumerate(heads)]
    a = rng.standard_normal(dims[-1]) * np.sqrt(s2[-1])
    c = [np.sqrt(H * dims[l + 1]) for l, H in enumerate(heads)]

    def forward(x, om):
        zs = [W1 @ x / np.sqrt(dims[0])]
        for l in range(L):
            zs.append(np.sum((Ws[l][None] @ zs[-1][:, None]) @ om[l], axis=1) / c[l])
        return zs
    P = X.shape[0]
    f_test = np.empty((samples, X_test.shape[0]))
    kernels = [np.empty((samples, P, P)) for _ in range(L + 1)]
    n_paths = int(np.prod(heads))
    overlaps = np.empty((samples, n_paths, n_paths))
    for sweep in range(burn_in + samples):
        zs = forward(xs, Om)
        design = zs[-1] @ w_r / np.sqrt(dims[-1])
        a = _matheron_draw(rng, s2[-1], T, lambda th: design @ th, lambda w: design.T @ w, design @ design.T, y,
                           a.shape)
        G = np.broadcast_to(np.outer(a, w_r) / np.sqrt(dims[-1]), (P,) + (dims[-1], len(w_r)))   # df/dz_{L+1}
        for l in range(L - 1, -1, -1):
            D = ((G[:, None] @ Om[l].transpose(0, 1, 3, 2)) @ zs[l].transpose(0, 2, 1)[:, None]).reshape(P, -1) / c[l]
            Ws[l] = _matheron_draw(rng, s2[l + 1], T, lambda th: D @ th.ravel(),
                                   lambda w: (D.T @ w).reshape(Ws[l].shape), D @ D.T, y, Ws[l].shape)
            G = np.sum((Ws[l].transpose(0, 2, 1)[None] @ G[:, None]) @ Om[l].transpose(0, 1, 3, 2), axis=1) / c[l]
        D = (G @ xs.transpose(0, 2, 1)).reshape(P, -1) / np.sqrt(dims[0])
        W1 = _matheron_draw(rng, s2[0], T, lambda th: D @ th.ravel(), lambda w: (D.T @ w).reshape(W1.shape),
                            D @ D.T, y, W1.shape)
        if sweep >= burn_in:
            k = sweep - burn_in
            f_test[k] = forward(xts, Omt)[-1] @ w_r @ a / np.sqrt(dims[-1])
            for l, zl in enumerate(forward(xs, Om)):
                flat = zl.reshape(P, -1)
                kernels[l][k] = flat @ flat.T / flat.shape[1]
            E = (a / np.sqrt(dims[-1]))[:, None]
            for l in range(L - 1, -1, -1):
                E = np.einsum("hij,ia->jah", Ws[l], E).reshape(dims[l + 1], -1) / c[l]
            overlaps[k] = E.T @ E
    out = _summarise(f_test, kernels, batches, {"sampler": "blocked Gibbs, Matheron conditionals (attention)",
                                                "sweeps": burn_in + samples, "burn_in": burn_in})
    ob = overlaps[: (samples // batches) * batches].reshape((batches, -1) + overlaps.shape[1:]).mean(axis=1)
    out.diagnostics.update(path_overlap=overlaps.mean(axis=0), path_overlap_stderr=ob.std(axis=0, ddof=1)
                           / np.sqrt(batches))
    return out
