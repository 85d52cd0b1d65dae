r"""The empirical NTK and dNTK of random finite networks drawn from the prior, and Monte Carlo estimates of the
finite-width statistics that :func:`symbolic_rg.pdlt.finite_width_ntk` predicts.

Per network, exactly (no finite differences): backpropagation gives :math:`g^{(l)}_{i\alpha} = \partial
z^{(L)}_{i;\alpha}/\partial z^{(l)}_{\alpha}`, and the NTK is :math:`\Theta_{ij;\alpha\beta} = \sum_l
(g^{(l)}_{i\alpha}\cdot g^{(l)}_{j\beta})\,H^{(l)}_{\alpha\beta}`, :math:`H^{(l)}_{\alpha\beta} = \lambda_b +
\lambda_W\sigma^{(l-1)}_\alpha\cdot\sigma^{(l-1)}_\beta/n_{l-1}` (:math:`\sigma^{(0)} = x`).  The dNTK
:math:`\sum_{\mu\nu}\lambda_\mu\lambda_\nu\partial_\mu\partial_\nu z_{i_0\alpha_0}\,u_\mu v_\nu` (u, v the
learning-rate-weighted gradients of :math:`z_{i_1\alpha_1}`, :math:`z_{i_2\alpha_2}`) is a Hessian–vector product:
the gradient's derivative along v (forward-over-reverse, Pearlmutter's R-operator) dotted with u.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import checks
from ..activations import activation, numeric, pointwise_derivatives
from ..errors import ParameterError
from .samplers import jackknife

__all__ = ["NTKSamples", "network_ntk", "sample_ntk", "NTKStatistics", "ntk_statistics"]


class NTKSamples(NamedTuple):
    r"""Per network (first axis): the last layer's preactivations ``z`` [i, α], NTK ``ntk`` [i, j, α, β] and, when
    asked for, dNTK ``dntk`` [i0, i1, i2, α0, α1, α2]; ``width`` the hidden width :math:`n_{L-1}`."""
    z: np.ndarray
    ntk: np.ndarray
    dntk: np.ndarray | None
    width: int


def _derivatives(spec):
    return [numeric(f) for f in pointwise_derivatives(activation(spec))]


def _neuron_sum(a, b):
    """``sum_k a[b, k, ...] b[b, k, ...]`` (an outer product over the remaining axes) by one batched matmul."""
    B, n = a.shape[:2]
    return (a.reshape(B, n, -1).transpose(0, 2, 1) @ b.reshape(B, n, -1)).reshape(a.shape[:1] + a.shape[2:]
                                                                                 + b.shape[2:])


def _back(W, a):
    """``W^T a`` over the neuron axis 1 of ``a`` (any trailing axes) by one batched matmul."""
    B, n = a.shape[:2]
    return (W.transpose(0, 2, 1) @ a.reshape(B, n, -1)).reshape((B, W.shape[2]) + a.shape[2:])


def network_ntk(spec, Ws, bs, X, lambda_b=1.0, lambda_W=1.0, dntk=True):
    r"""``(z, ntk, dntk)`` of the last layer of a batch of networks with the given weights on the rows of ``X``:
    ``Ws[l]`` (networks, n_{l+1}, n_l), ``bs[l]`` (networks, n_{l+1}), layer l+1 being :math:`z = W\sigma + b`
    (:math:`\sigma = x` at the first); shapes ``z`` [b, i, α], ``ntk`` [b, i, j, α, β], ``dntk``
    [b, i0, i1, i2, α0, α1, α2] (None without ``dntk``)."""
    phi, dphi, ddphi = _derivatives(spec)
    X = checks.array("X", X, 2)
    depth, B, P = len(Ws), Ws[0].shape[0], X.shape[0]
    sizes = [W.shape[2] for W in Ws] + [Ws[-1].shape[1]]
    fan_in = [X.shape[1]] + [W.shape[1] for W in Ws[:-1]]
    if len(bs) != depth or any(np.ndim(W) != 3 or W.shape[0] != B or W.shape[2] != fan_in[l]
                               or np.shape(bs[l]) != (B, W.shape[1]) for l, W in enumerate(Ws)):
        raise ParameterError("Ws[l] must have shape (networks, n_{l+1}, n_l) with n_0 = %d (the features of X) and "
                             "bs[l] (networks, n_{l+1}), one of each per layer; got %s and %s"
                             % (X.shape[1], [np.shape(W) for W in Ws], [np.shape(b) for b in bs]))
    o = sizes[-1]
    hs, zs = [np.broadcast_to(X.T, (B, X.shape[1], P))], []
    for l in range(depth):
        zs.append(Ws[l] @ hs[l] + bs[l][:, :, None])
        if l < depth - 1:
            hs.append(phi(zs[l]))
    H = [lambda_b + lambda_W * _neuron_sum(hs[l], hs[l]) / sizes[l] for l in range(depth)]
    # backward: g[l][b, k, i, a] = d z^L_{i,a} / d z^l_{k,a};  Wg[l] = W_{l+1}^T g[l+1] (before sigma')
    g, Wg = [None] * depth, [None] * depth
    g[-1] = np.broadcast_to(np.eye(o)[None, :, :, None], (B, o, o, P))
    for l in range(depth - 2, -1, -1):
        Wg[l] = _back(Ws[l + 1], g[l + 1])
        g[l] = dphi(zs[l])[:, :, None, :] * Wg[l]
    G = [_neuron_sum(g[l], g[l]).transpose(0, 1, 3, 2, 4) for l in range(depth)]          # [b, i, j, a, c]
    ntk = sum(G[l] * H[l][:, None, None] for l in range(depth))
    dT = _dntk(Ws, zs, hs, g, Wg, G, H, sizes, lambda_W, dphi, ddphi) if dntk else None
    return zs[-1], ntk, dT


def sample_ntk(spec, X, depth, width, C_W, C_b=0.0, lambda_b=1.0, lambda_W=1.0, networks=2000, outputs=4, dntk=True,
               seed=0):
    r"""Draw ``networks`` networks of ``depth`` layers (hidden width ``width``, ``outputs`` output neurons;
    :math:`W\sim\mathcal N(0, C_W/n_{l-1})`, :math:`b\sim\mathcal N(0, C_b)`) and return their last layer's
    preactivations, NTK and (``dntk``) dNTK on the rows of ``X`` (:func:`network_ntk`)."""
    X = checks.array("X", X, 2)
    checks.integer("depth", depth, low=2)
    checks.integer("width", width, low=1)
    checks.integer("outputs", outputs, low=2)
    checks.integer("networks", networks, low=1)
    checks.positive("C_W", C_W)
    checks.nonnegative("C_b", C_b)
    checks.nonnegative("lambda_b", lambda_b)
    checks.nonnegative("lambda_W", lambda_W)
    rng = np.random.default_rng(seed)
    sizes = [X.shape[1]] + [width] * (depth - 1) + [outputs]
    per_network = width * (width + X.shape[1] + (outputs * X.shape[0])**2 * (3 if dntk else 1))   # floats held
    chunk = max(1, min(networks, int(4e6 // per_network)))
    Z, T, dT = [], [], []
    done = 0
    while done < networks:
        B = min(chunk, networks - done)
        Ws = [rng.standard_normal((B, sizes[l + 1], sizes[l])) * np.sqrt(C_W / sizes[l]) for l in range(depth)]
        bs = [rng.standard_normal((B, sizes[l + 1])) * np.sqrt(C_b) for l in range(depth)]
        z_, ntk, dntk_ = network_ntk(spec, Ws, bs, X, lambda_b, lambda_W, dntk)
        Z.append(z_), T.append(ntk), dT.append(dntk_)
        done += B
    return NTKSamples(np.concatenate(Z), np.concatenate(T), np.concatenate(dT) if dntk else None, int(width))


def _dntk(Ws, zs, hs, g, Wg, G, H, sizes, lambda_W, dphi, ddphi):
    r"""The dNTK of one chunk by the R-operator along :math:`v = \Lambda\nabla z_{i_2\alpha_2}`:
    :math:`\delta W_l = (\lambda_W/n_{l-1})g^{(l)}_{i_2\alpha_2}\sigma^{(l-1)\top}_{\alpha_2}`,
    :math:`\delta b_l = \lambda_bg^{(l)}_{i_2\alpha_2}`; tangents dz[l][b, k, i2, a2, a0] of the forward pass and
    dg[l][b, k, i0, a0, i2, a2] of the backward one."""
    depth = len(Ws)
    dz, dh = [], [None]
    for l in range(depth):
        t = g[l][..., None] * H[l][:, None, None, :, :]                   # g^{i2 a2}_l H_l[a2, a0]
        if l:
            B, n, o, P, _ = dh[l].shape
            t = t + (Ws[l] @ dh[l].reshape(B, n, -1)).reshape(t.shape)
        dz.append(t)
        if l < depth - 1:
            dh.append(dphi(zs[l])[:, :, None, None, :] * t)
    B, o, P = g[-1].shape[0], g[-1].shape[2], g[-1].shape[3]
    out = np.zeros((B, o, o, o, P, P, P))                                  # [i0, i1, i2, a0, a1, a2]
    dg = np.zeros((B, o, o, P, o, P))                                      # layer L: d g = 0
    for l in range(depth - 1, -1, -1):
        if l < depth - 1:
            n = sizes[l + 1]
            gg = _neuron_sum(g[l + 1], g[l + 1])                               # g^{i0 a0}_{l+1} . g^{i2 a2}_{l+1}
            back = lambda_W / n * hs[l + 1][:, :, None, None, None, :] * gg[:, None]   # dW_{l+1}^T g^{i0 a0}
            back = back + _back(Ws[l + 1], dg)
            dzl = np.einsum("bnjca->bnajc", dz[l])[:, :, None]               # [b, n, ., a0, i2, a2]
            dg = (ddphi(zs[l])[:, :, None, :, None, None] * dzl * Wg[l][..., None, None]
                  + dphi(zs[l])[:, :, None, :, None, None] * back)
        # (dg_l . g^{i1 a1}_l) H_l[a0, a1] + (g^{i0 a0}_l . g^{i1 a1}_l) (lambda_W / n_{l-1}) dh_{l-1} . h^{a1}_{l-1}
        out += (np.einsum("biajcmd->bimjadc", _neuron_sum(dg, g[l]))
                * H[l][:, None, None, None, :, :, None])
        if l:
            dhh = _neuron_sum(dh[l], hs[l]) * lambda_W / sizes[l]                # [b, i2, a2, a0, a1]
            out += G[l][:, :, :, None, :, :, None] * np.einsum("bjcad->bjadc", dhh)[:, None, None]
    return out


class NTKStatistics(NamedTuple):
    r"""Monte Carlo estimates (with jackknife standard errors ``stderr[name]``) of the last layer's finite-width
    NTK statistics, in the tensors' own index order (:mod:`symbolic_rg.pdlt.ntk`): ``mean_ntk``
    :math:`E[\Theta_{ii}]`, and ``A``, ``B``, ``D``, ``F``, ``P``, ``Q`` divided by :math:`n_{L-1}`, as a network of
    that width has them (P and Q None without the dNTK); averages over the distinct output neurons of every network;
    ``networks``: how many entered (a whole number of jackknife batches)."""
    mean_ntk: np.ndarray
    A: np.ndarray
    B: np.ndarray
    D: np.ndarray
    F: np.ndarray
    P: np.ndarray | None
    Q: np.ndarray | None
    stderr: dict
    networks: int


def ntk_statistics(samples, batches=20):
    r"""Estimates of :math:`E[\Theta_{ii}]`, :math:`A/n`, :math:`B/n`, :math:`D/n`, :math:`F/n`, :math:`P/n`,
    :math:`Q/n`
    from :class:`NTKSamples` (module doc of :mod:`symbolic_rg.pdlt.ntk` for the index structures): with output neurons
    :math:`i \ne j`, :math:`A/n = \mathrm{Cov}(\Theta_{ii}, \Theta_{jj})`,
    :math:`B_{\alpha_1\alpha_3\alpha_2\alpha_4}/n =
    E[\Theta_{ij;\alpha_1\alpha_2}\Theta_{ij;\alpha_3\alpha_4}]`, :math:`D/n = \mathrm{Cov}(\Theta_{ii}, z_jz_j)`,
    :math:`F_{\alpha_1\alpha_3\alpha_2\alpha_4}/n = E[\Theta_{ij;\alpha_1\alpha_2}z_{i\alpha_3}z_{j\alpha_4}]`,
    :math:`P/n = E[\widehat{d\Theta}_{iij}z_j]`, :math:`Q/n = E[\widehat{d\Theta}_{ijj}z_i]`."""
    batches = checks.integer("batches", batches, low=2)
    Z, T, dT = samples.z, samples.ntk, samples.dntk
    S, o, P = Z.shape[0], Z.shape[1], Z.shape[2]
    checks.integer("networks", S, low=2 * batches)
    checks.integer("outputs", o, low=2)
    off = 1.0 - np.eye(o)
    npairs = o * (o - 1)
    diag = np.einsum("siiab->siab", T)                                            # Theta_ii
    zz = np.einsum("sia,sic->siac", Z, Z)
    columns = {
        "theta": diag.mean(1),
        "zz": zz.mean(1),
        "theta theta": np.einsum("ij,siab,sjcd->sabcd", off, diag, diag) / npairs,
        "theta zz": np.einsum("ij,siab,sjcd->sabcd", off, diag, zz) / npairs,
        "B": np.einsum("ij,sijab,sijcd->sacbd", off, T, T) / npairs,
        "F": np.einsum("ij,sijab,sic,sjd->sacbd", off, T, Z, Z) / npairs,
    }
    if dT is not None:
        columns["P"] = np.einsum("ij,siijabc,sjd->sabcd", off, dT, Z) / npairs
        columns["Q"] = np.einsum("ij,sijjabc,sid->sabcd", off, dT, Z) / npairs
    names = list(columns)
    shapes = [columns[k].shape[1:] for k in names]
    flat = np.concatenate([columns[k].reshape(S, -1) for k in names], axis=1)
    bounds = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

    def unpack(means):
        parts = {k: means[bounds[i]:bounds[i + 1]].reshape(shapes[i]) for i, k in enumerate(names)}
        theta, zz_ = parts["theta"], parts["zz"]
        out = [theta, parts["theta theta"] - np.einsum("ab,cd->abcd", theta, theta), parts["B"],
               parts["theta zz"] - np.einsum("ab,cd->abcd", theta, zz_), parts["F"]]
        out += [parts.get("P", np.zeros((P,) * 4)), parts.get("Q", np.zeros((P,) * 4))]
        return np.concatenate([a.ravel() for a in out])

    estimate, error = jackknife(flat, batches, lambda s1, s2: unpack(s1))
    labels = ["mean_ntk", "A", "B", "D", "F", "P", "Q"]
    sizes = [P * P] + [P**4] * 6
    edges = np.cumsum([0] + sizes)
    shape = [(P, P)] + [(P,) * 4] * 6
    values = {k: estimate[edges[i]:edges[i + 1]].reshape(shape[i]) for i, k in enumerate(labels)}
    errors = {k: error[edges[i]:edges[i + 1]].reshape(shape[i]) for i, k in enumerate(labels)}
    if dT is None:
        values["P"] = values["Q"] = None
        errors.pop("P"), errors.pop("Q")
    return NTKStatistics(values["mean_ntk"], values["A"], values["B"], values["D"], values["F"], values["P"],
                         values["Q"], errors, (S // batches) * batches)
