r"""Random networks drawn from the prior: Monte Carlo estimates of the last layer's kernel and connected four-point
function, the finite-width statistics that :mod:`symbolic_rg.pdlt` predicts."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import checks
from .samplers import activation_functions, jackknife

__all__ = ["PriorStatistics", "prior_network_statistics"]


class PriorStatistics(NamedTuple):
    r"""Monte Carlo over random networks drawn from the prior, at the last layer: ``kernel`` :math:`E[z_{i\alpha}
    z_{i\beta}]` and ``connected`` :math:`E[z_{i\alpha_1}z_{i\alpha_2}z_{j\alpha_3}z_{j\alpha_4}] -
    E[z_{i\alpha_1}z_{i\alpha_2}]E[z_{j\alpha_3}z_{j\alpha_4}]` (:math:`i\neq j`), with jackknife standard errors."""
    kernel: np.ndarray
    kernel_stderr: np.ndarray
    connected: np.ndarray
    connected_stderr: np.ndarray
    networks: int


def prior_network_statistics(spec, X, depth, width, C_W, C_b=0.0, networks=4000, batches=20, seed=0, xi=0.0,
                             gamma=1.0):
    r"""Sample ``networks`` independent networks :math:`z^{(1)} = b + Wx`,
    :math:`z^{(l+1)} = \xi z^{(l)} + \gamma[b + W\sigma(z^{(l)})]` (:math:`W\sim\mathcal N(0, C_W/n_{l-1})`,
    :math:`b\sim\mathcal N(0,C_b)`, all hidden widths and the last layer ``width``; the plain network at the
    defaults :math:`\xi = 0`, :math:`\gamma = 1`) on the rows of ``X`` and estimate the last layer's kernel and
    connected four-point function per network (averages over neurons and neuron pairs), with errors from batches
    of networks."""
    phi, _ = activation_functions(spec)
    X = checks.array("X", X, 2)
    checks.integer("depth", depth, low=1)
    checks.integer("width", width, low=2)
    batches = checks.integer("batches", batches, low=1)
    checks.integer("networks", networks, low=2 * batches)
    checks.positive("C_W", C_W)
    checks.nonnegative("C_b", C_b)
    checks.nonnegative("xi", xi)
    checks.positive("gamma", gamma)
    rng = np.random.default_rng(seed)
    m, n0 = X.shape
    chunk = max(1, min(networks, int(2e7 // (width * width + width * n0))))
    second, fourth = [], []
    done = 0
    while done < networks:
        B = min(chunk, networks - done)
        zl = np.einsum("bij,aj->bia", rng.standard_normal((B, width, n0)) * np.sqrt(C_W / n0), X)
        zl += rng.standard_normal((B, width, 1)) * np.sqrt(C_b)
        for _ in range(depth - 1):
            W = rng.standard_normal((B, width, width)) * np.sqrt(C_W / width)
            zl = xi * zl + gamma * (W @ phi(zl) + rng.standard_normal((B, width, 1)) * np.sqrt(C_b))
        S = np.einsum("bia,bic->bac", zl, zl)                              # sum_i z_ia z_ic
        same = np.einsum("bia,bic,bid,bie->bacde", zl, zl, zl, zl)         # sum_i z_ia z_ic z_id z_ie
        second.append(S / width)
        fourth.append((np.einsum("bac,bde->bacde", S, S) - same) / (width * (width - 1)))
        done += B
    second, fourth = np.concatenate(second), np.concatenate(fourth)

    K, K_err = jackknife(second, batches, lambda s1, s2: s1)
    F, F_err = jackknife(np.concatenate([fourth.reshape(networks, -1), second.reshape(networks, -1)], axis=1),
                          batches, lambda s1, s2: _connected(s1, m))
    return PriorStatistics(K, K_err, F, F_err, networks)


def _connected(means, m):
    """E[zzzz] (first m^4 entries) minus E[zz] E[zz] (next m^2 entries), as an m^4 tensor."""
    four = means[:m**4].reshape((m,) * 4)
    two = means[m**4:].reshape(m, m)
    return four - np.einsum("ab,cd->abcd", two, two)
