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

import numpy as np

from .errors import ParameterError
from .solver import GeneralizationError, _check_array


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
        y_test = _check_array("y_test", y_test, 1)
        batches = self.diagnostics["batches"]
        f = self.f_test[: (len(self.f_test) // batches) * batches].reshape(batches, -1, len(y_test))
        s1, s2 = f.sum(axis=1), (f**2).sum(axis=1)
        n = f.shape[1]

        def estimate(S1, S2, m):
            mean = S1 / m
            bias = np.mean((mean - y_test) ** 2)
            var = np.mean(S2 / m - mean**2)
            return np.array([bias + var, bias, var])
        full = estimate(s1.sum(0), s2.sum(0), n * batches)
        jack = np.array([estimate(s1.sum(0) - s1[b], s2.sum(0) - s2[b], n * (batches - 1)) for b in range(batches)])
        stderr = np.sqrt((batches - 1) / batches * np.sum((jack - jack.mean(0)) ** 2, axis=0))
        return GeneralizationError(*full), GeneralizationError(*stderr)


def _summarise(f_test, kernels, batches, diagnostics):
    def batch(arr):
        b = arr[: (len(arr) // batches) * batches].reshape((batches, -1) + arr.shape[1:]).mean(axis=1)
        return arr.mean(axis=0), b.std(axis=0, ddof=1) / np.sqrt(batches)
    mean, mean_se = batch(f_test)
    sq, _ = batch(f_test**2)
    var = sq - mean**2
    # jackknife over batches for the variance
    nb = (len(f_test) // batches) * batches
    fb = f_test[:nb].reshape(batches, -1, f_test.shape[1])
    s1, s2, m = fb.sum(1), (fb**2).sum(1), fb.shape[1]
    jack = np.array([(s2.sum(0) - s2[b]) / (m * (batches - 1)) - ((s1.sum(0) - s1[b]) / (m * (batches - 1))) ** 2
                     for b in range(batches)])
    var_se = np.sqrt((batches - 1) / batches * np.sum((jack - jack.mean(0)) ** 2, axis=0))
    ks = [batch(k) for k in kernels]
    # effective sample size of f at the test points from the batch means
    ess = f_test.var(axis=0) / np.maximum(mean_se**2, 1e-300)
    diagnostics = dict(diagnostics, batches=batches, samples=len(f_test),
                       effective_sample_size=float(np.min(ess)))
    return PosteriorSamples(mean, mean_se, var, var_se, [k[0] for k in ks], [k[1] for k in ks], f_test, diagnostics)


def _validate(X, y, X_test, widths, sigma2, T, samples, burn_in, batches):
    X, y, X_test = _check_array("X", X, 2), _check_array("y", y, 1), _check_array("X_test", X_test, 2)
    if X.shape[0] != y.shape[0]:
        raise ParameterError("X has %d rows but y has %d entries" % (X.shape[0], y.shape[0]))
    if X_test.shape[1] != X.shape[1]:
        raise ParameterError("X_test has %d features but X has %d" % (X_test.shape[1], X.shape[1]))
    if len(widths) < 1 or any(int(w) != w or w < 1 for w in widths):
        raise ParameterError("widths must be positive integers, got %s" % (list(widths),))
    L = len(widths)
    s2 = [float(sigma2)] * (L + 1) if np.ndim(sigma2) == 0 else [float(s) for s in sigma2]
    if len(s2) != L + 1 or min(s2) <= 0:
        raise ParameterError("sigma2 must be > 0: one number or %d numbers [sigma_1^2..sigma_L^2, sigma_a^2]" % (L + 1))
    if not (np.isfinite(T) and T > 0):
        raise ParameterError("the samplers need temperature T > 0, got %r" % (T,))
    if not (isinstance(samples, (int, np.integer)) and samples >= 1):
        raise ParameterError("samples must be a positive integer, got %r" % (samples,))
    if not (isinstance(batches, (int, np.integer)) and 2 <= batches <= samples):
        raise ParameterError("batches must be an integer in [2, samples], got %r" % (batches,))
    if not (isinstance(burn_in, (int, np.integer)) and burn_in >= 0):
        raise ParameterError("burn_in must be an integer >= 0, got %r" % (burn_in,))
    return X, y, X_test, [int(w) for w in widths], s2


def _regression_draw(rng, A, y, prior_var, T):
    """Draw v from the posterior of prior N(0, prior_var I), likelihood N(y; A v, T I)."""
    n = A.shape[1]
    chol = np.linalg.cholesky(np.eye(n) / prior_var + A.T @ A / T)
    mean = np.linalg.solve(chol.T, np.linalg.solve(chol, A.T @ y / T))
    return mean + np.linalg.solve(chol.T, rng.standard_normal(n))


def _record(Ws, a, X, X_test, dims):
    Zt, Z = X_test.T, X.T
    kernels = []
    for l, W in enumerate(Ws):
        Zt, Z = W @ Zt / np.sqrt(dims[l]), W @ Z / np.sqrt(dims[l])
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
                a = _regression_draw(rng, scale * below[L].T, y, s2[L], T)
                above = a
                continue
            nb = np.linalg.norm(above)
            bh = above / nb
            v = _regression_draw(rng, scale * nb * below[l].T, y, s2[l], T)
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


def deep_linear_log_posterior(X, y, widths, sigma2, T):
    """``(dimension, unpack, logp_and_grad)`` of the deep linear weight posterior, weights flattened."""
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
        acts = [X.T]
        for l in range(L):
            acts.append(Ws[l] @ acts[-1] / np.sqrt(dims[l]))
        f = Ws[L] @ acts[-1] / np.sqrt(dims[-1])
        r = f - y
        logp = -r @ r / (2 * T) - sum(np.sum(W**2) / (2 * s) for W, s in zip(Ws, s2))
        grads = [None] * (L + 1)
        g = -r / T                                          # d logp / d f
        grads[L] = acts[-1] @ g / np.sqrt(dims[-1]) - Ws[L] / s2[L]
        delta = np.outer(Ws[L], g) / np.sqrt(dims[-1])      # d logp / d x_L  (N_L x P)
        for l in range(L - 1, -1, -1):
            grads[l] = delta @ acts[l].T / np.sqrt(dims[l]) - Ws[l] / s2[l]
            delta = Ws[l].T @ delta / np.sqrt(dims[l])
        return logp, np.concatenate([gg.ravel() for gg in grads])
    return sum(sizes), unpack, logp_and_grad


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


def mala_deep_linear(X, y, X_test, widths, sigma2=1.0, T=0.1, samples=2000, burn_in=2000, batches=20, thin=5, seed=0):
    """MALA sampling of a deep linear network's weight posterior (for cross-checks of the Langevin path)."""
    X, y, X_test, widths, s2 = _validate(X, y, X_test, widths, sigma2, T, samples, burn_in, batches)
    dim, unpack, logp = deep_linear_log_posterior(X, y, widths, s2, T)
    rng = np.random.default_rng(seed)
    x0 = np.concatenate([rng.standard_normal(int(np.prod(p.shape))) * np.sqrt(s) for p, s in
                         zip(unpack(np.zeros(dim)), s2)])
    chain, diag = mala(logp, x0, samples, burn_in=burn_in, seed=seed, thin=thin)
    dims = [X.shape[1]] + widths
    f_test = np.empty((samples, X_test.shape[0]))
    kernels = [np.empty((samples, X.shape[0], X.shape[0])) for _ in widths]
    for i, theta in enumerate(chain):
        parts = unpack(theta)
        f_test[i], ks = _record(parts[:-1], parts[-1], X, X_test, dims)
        for l, k in enumerate(ks):
            kernels[l][i] = k
    return _summarise(f_test, kernels, batches, diag)
