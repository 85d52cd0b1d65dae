r"""Real finite deep networks of sign perceptrons on a sparse random graph: construction, the forward pass, the
elliptical-slice sweeps over the weights that keep every training output correct, and with a margin kappa every
field beyond it (:func:`metropolis_sweeps`), the students a chain starts from (perceptron-trained, annealed, melted),
and the gauge (sign) symmetry of hidden units.
The chains, data and brackets built on them are :mod:`symbolic_rg.replica.monte_carlo`."""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

__all__ = ["SparseNetwork", "sparse_network", "on_sphere", "forward", "metropolis_sweeps", "violations",
           "perceptron_student", "annealed_student", "melted_student", "gauge_signs", "gauged", "align_gauge"]


class SparseNetwork(NamedTuple):
    weights: np.ndarray      # (L, N, c) rows, |J_i|^2 = c
    inputs: np.ndarray       # (L, N, c) indices into the previous layer
    readers: tuple           # per layer l < L: CSR (start (N+1), unit (N c)) of the units of layer l+1 reading unit i


def _readers(idx, N):
    L = idx.shape[0]
    starts, units = np.zeros((L, N + 1), np.int64), np.zeros((L, idx.shape[1] * idx.shape[2]), np.int64)
    for l in range(1, L):                          # readers of layer-l units are units of layer l+1 (array l)
        counts = np.bincount(idx[l].ravel(), minlength=N)
        starts[l, 1:] = np.cumsum(counts)
        fill = starts[l, :-1].copy()
        for j in range(N):
            for k in range(idx.shape[2]):
                i = idx[l, j, k]
                units[l, fill[i]] = j
                fill[i] += 1
    return starts, units


def sparse_network(depth, N, c, rng):
    """Random sparse graph (each unit reads c distinct units of the previous layer) with uniform spherical rows."""
    if c > N:
        raise ValueError("c (%d) must not exceed N (%d)" % (c, N))
    idx = np.array([[rng.choice(N, c, replace=False) for _ in range(N)] for _ in range(depth)])
    return SparseNetwork(on_sphere(rng.standard_normal((depth, N, c))), idx, _readers(idx, N))


def on_sphere(J):
    """Rows (the last axis) rescaled to |J_i|^2 = c, their length."""
    return J * (np.sqrt(J.shape[-1]) / np.linalg.norm(J, axis=-1, keepdims=True))


@numba.njit(cache=True, nogil=True, inline="always")
def _field(J, idx, S, l, m, i):
    r"""The field of unit i of layer l + 1 on pattern m, :math:`J_i\cdot S(l)` (unnormalized)."""
    h = 0.0
    for k in range(J.shape[2]):
        h += J[l, i, k] * S[l, m, idx[l, i, k]]
    return h


@numba.njit(cache=True, nogil=True)
def forward(J, idx, S0):
    L, N, c = J.shape
    M = S0.shape[0]
    S = np.empty((L + 1, M, N))
    S[0] = S0
    for l in range(L):
        for m in range(M):
            for i in range(N):
                S[l + 1, m, i] = 1.0 if _field(J, idx, S, l, m, i) >= 0 else -1.0
    return S


@numba.njit(cache=True, nogil=True, inline="always")
def _try(J, idx, starts, units, S, y, l, i, log_l, log_m, log_i, wrong, errors, top, work, margin, marks):
    """Recompute unit i of layer l (array index; its new row already in J) and propagate the changed spins to the
    outputs, one pattern at a time (patterns do not interact; on each, a unit is recomputed only where one of its
    inputs flipped); returns (change in the number E of violated constraints, spins logged, marks logged).  A
    constraint is violated where an output is wrong and, with ``margin`` = kappa sqrt(c) > 0, where a recomputed
    field has |h| < margin (every hidden and output unit, on every pattern).  Changed spins are written into S and
    logged (layer, pattern, unit), so are the changed violation marks of ``marks`` = (violated (L, M, N), layer,
    pattern, unit: the log); ``wrong`` (violations per pattern) is kept, so that the caller can revert them.  The
    proposal is accepted if the count ``errors`` + change stays within ``top``; it stops as soon as that is out of
    reach (the change so far, less every violation still present on the patterns not finished, exceeds ``top`` -
    ``errors``; with none and ``top`` = 0: at the first violation), so that a rejected proposal costs only the
    patterns up to that point.  ``work`` = (stamp (N), generation (1), flipped (N), stale (N)): scratch of
    :func:`_scratch`, so that a proposal allocates nothing (creating an array or passing one to a function costs
    reference counting, several times the arithmetic at these sizes; for that reason it is also inlined into
    :func:`metropolis_sweeps`)."""
    stamp, generation, flipped, stale = work
    violated, mark_l, mark_m, mark_i = marks
    L, c = J.shape[0], J.shape[2]
    M = S.shape[1]
    n, nv, delta = 0, 0, 0
    rest = errors                                  # violations on the patterns not finished (before the proposal)
    for m in range(M):
        before = wrong[m]
        stale[0], ns, nf = i, 1, 0                 # the units to recompute on pattern m: unit i
        for layer in range(l, L):                  # array index of the layer recomputed
            if layer > l:
                if nf == 0:
                    break
                generation[0] += 1                 # stamp[j] == generation: unit j already listed
                g, ns = generation[0], 0
                for f in range(nf):                # the readers of a flipped spin
                    u = flipped[f]
                    for r in range(starts[layer, u], starts[layer, u + 1]):
                        j = units[layer, r]
                        if stamp[j] != g:
                            stamp[j] = g
                            stale[ns] = j
                            ns += 1
                nf = 0
            out = layer == L - 1
            for e in range(ns):
                j = stale[e]
                h = 0.0
                for k in range(c):
                    h += J[layer, j, k] * S[layer, m, idx[layer, j, k]]
                s = 1.0 if h >= 0 else -1.0
                d = 0
                if s != S[layer + 1, m, j]:
                    S[layer + 1, m, j] = s
                    log_l[n], log_m[n], log_i[n] = layer + 1, m, j
                    n += 1
                    if not out:
                        flipped[nf] = j
                        nf += 1
                    elif margin == 0:
                        d = -1 if s == y[m, j] else 1
                if margin > 0:
                    v = 1 if abs(h) < margin or (out and s != y[m, j]) else 0
                    if v != violated[layer, m, j]:
                        violated[layer, m, j] = v
                        mark_l[nv], mark_m[nv], mark_i[nv] = layer, m, j
                        nv += 1
                        d = 1 if v else -1
                if d != 0:
                    wrong[m] += d
                    delta += d
                    if errors + delta - rest > top:
                        return delta, n, nv
        rest -= before
    return delta, n, nv


@numba.njit(cache=True, nogil=True)
def _scratch(N):
    """The ``work`` of :func:`_try` for N units per layer."""
    return np.zeros(N, np.int64), np.zeros(1, np.int64), np.zeros(N, np.int64), np.zeros(N, np.int64)


@numba.njit(cache=True, nogil=True)
def _marks(J, idx, S, y, margin):
    """(violated, layer, pattern, unit) of :func:`_try`: violated[l, m, i] = 1 where unit i of layer l + 1 has
    |h| < ``margin`` on pattern m, or is a wrong output; then an empty log.  With margin 0 no mark is kept."""
    L, N, c = J.shape
    M = S.shape[1]
    if margin == 0:
        return np.zeros((1, 1, 1), np.int8), np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)
    violated = np.zeros((L, M, N), np.int8)
    for l in range(L):
        for m in range(M):
            for i in range(N):
                if abs(_field(J, idx, S, l, m, i)) < margin or (l == L - 1 and S[L, m, i] != y[m, i]):
                    violated[l, m, i] = 1
    cap = L * M * N + 1
    return violated, np.zeros(cap, np.int64), np.zeros(cap, np.int64), np.zeros(cap, np.int64)


def violations(J, idx, S, y, kappa=0.0):
    """The number E of violated constraints of the network J with spins S (= forward on the training inputs): wrong
    outputs (S[L] != y) and, for kappa > 0, fields |h| < kappa (h = J_i . S / sqrt(c)) of any unit on any pattern."""
    c = J.shape[2]
    return int(_marks(J, idx, S, y, kappa * np.sqrt(c))[0].sum()) if kappa > 0 else int(np.sum(S[-1] != y))


@numba.njit(cache=True, nogil=True)
def metropolis_sweeps(J, idx, starts, units, S, y, n_sweeps, seed, shrinks, errors, budget=0, beta=np.inf, kappa=0.0):
    """``n_sweeps`` sweeps of slice moves over every row of every layer (J, S and errors[0], the number E of violated
    constraints: wrong training outputs and, with ``kappa`` > 0, fields |h| < kappa of any unit on any training
    pattern, :func:`violations`, updated in place).  With ``beta`` infinite a proposal is accepted where E stays
    within max(budget, its current value): with budget 0 and none violated, the uniform measure on the consistent
    networks (S_i h_i >= kappa in every layer, outputs = labels) is invariant; otherwise the moves are threshold
    accepting towards a consistent network.  With ``beta`` finite each move draws the slice level
    E + floor(-ln(u) / beta), u uniform on (0, 1], and accepts within it: the slice sampler of the tempered measure
    exp(-beta E) on the spheres (``budget`` is then unused)."""
    np.random.seed(seed)
    L, N, c = J.shape
    M = S.shape[1]
    cap = L * M * N + 1
    log_l = np.zeros(cap, np.int64)
    log_m = np.zeros(cap, np.int64)
    log_i = np.zeros(cap, np.int64)
    work = _scratch(N)
    margin = kappa * np.sqrt(c)
    marks = _marks(J, idx, S, y, margin)
    violated = marks[0]
    wrong = np.zeros(M, np.int64)                  # violations per pattern
    for m in range(M):
        if margin > 0:
            for l in range(L):
                for j in range(N):
                    wrong[m] += violated[l, m, j]
        else:
            for j in range(N):
                wrong[m] += S[L, m, j] != y[m, j]
    if wrong.sum() != errors[0]:
        raise ValueError("errors[0] must be the number of wrong training outputs of S (with kappa > 0: and of fields "
                         "below the margin)")
    x, nu = np.empty(c), np.empty(c)
    for sweep in range(n_sweeps):
        for l in range(L):
            for i in range(N):
                a = 0.0
                for k in range(c):
                    x[k] = J[l, i, k]
                    nu[k] = np.random.standard_normal()
                    a += nu[k] * x[k]
                a /= c
                b = 0.0
                for k in range(c):
                    nu[k] -= a * x[k]
                    b += nu[k] * nu[k]
                a = np.sqrt(c) / np.sqrt(b)
                for k in range(c):
                    nu[k] *= a
                if np.isinf(beta):
                    top = max(budget, errors[0])
                else:
                    top = errors[0] + int(np.floor(-np.log(1.0 - np.random.random()) / beta))
                theta = np.random.uniform(0, 2 * np.pi)
                lo, hi = theta - 2 * np.pi, theta
                while True:
                    cos, sin = np.cos(theta), np.sin(theta)
                    for k in range(c):
                        J[l, i, k] = x[k] * cos + nu[k] * sin
                    delta, n, nv = _try(J, idx, starts, units, S, y, l, i, log_l, log_m, log_i, wrong, errors[0], top,
                                        work, margin, marks)
                    if errors[0] + delta <= top:
                        errors[0] += delta
                        break
                    for t in range(n - 1, -1, -1):     # revert the spins changed by the rejected proposal
                        lt, mt, it = log_l[t], log_m[t], log_i[t]
                        S[lt, mt, it] = -S[lt, mt, it]
                        if lt == L and margin == 0:
                            wrong[mt] += 1 if S[lt, mt, it] != y[mt, it] else -1
                    for t in range(nv):                # and the violation marks
                        lt, mt, it = marks[1][t], marks[2][t], marks[3][t]
                        violated[lt, mt, it] = 1 - violated[lt, mt, it]
                        wrong[mt] += 1 if violated[lt, mt, it] else -1
                    shrinks[0] += 1
                    if theta < 0:
                        lo = theta
                    else:
                        hi = theta
                    theta = np.random.uniform(lo, hi)
                    if hi - lo < 1e-14:                # none accepted: the row stays
                        for k in range(c):
                            J[l, i, k] = x[k]
                        break


@numba.njit(cache=True)
def _perceptron(X, y, w, max_epochs, kappa=0.0):
    """Rosenblatt's perceptron rule from ``w``: w += y_m x_m on every pattern with sgn(w.x_m) != y_m or, for kappa > 0,
    y_m w.x_m / |w| < kappa (the field of the row rescaled to |w|^2 = c below the margin), until all are correct
    (True) or ``max_epochs`` passes (False)."""
    M, c = X.shape
    for epoch in range(max_epochs):
        errors = 0
        for m in range(M):
            h = 0.0
            for k in range(c):
                h += w[k] * X[m, k]
            if (1.0 if h >= 0 else -1.0) != y[m] or (kappa > 0 and y[m] * h < kappa * np.sqrt(np.sum(w * w))):
                for k in range(c):
                    w[k] += y[m] * X[m, k]
                errors += 1
        if errors == 0:
            return True
    return False


def perceptron_student(teacher, S, rng, max_epochs=200000):
    """A consistent student away from the teacher: every unit is trained from a random row by the perceptron rule
    to reproduce the teacher's spins S[l+1] (on the training inputs) from S[l], so the student's forward pass
    reproduces every hidden and output spin; rows rescaled to |J_i|^2 = c."""
    L, N, c = teacher.weights.shape
    J = rng.standard_normal((L, N, c))
    for l in range(L):
        for i in range(N):
            if not _perceptron(S[l][:, teacher.inputs[l, i]], S[l + 1][:, i], J[l, i], max_epochs):
                raise RuntimeError("perceptron start: unit %d of layer %d not separated in %d epochs"
                                   % (i, l + 1, max_epochs))
    return on_sphere(J)


def annealed_student(teacher, S0, y, rng, anneal_sweeps=4000, max_sweeps=None, stages=1, tries=3, reheats=0,
                     kappa=0.0):
    """A consistent student found without the teacher's weights or hidden spins: random spherical rows, then slice
    moves by threshold accepting (the allowed number of wrong training outputs falls linearly from half the initial
    count to 0 over ``anneal_sweeps``, then no move may add an error) until none is wrong (RuntimeError with the
    count left after ``max_sweeps``, by default 5 x anneal_sweeps). After the annealing, every 10 sweeps, an output
    unit that is still wrong on some pattern is retrained by the perceptron rule on the student's own last hidden
    layer (kept where it then separates its labels; the other units are unchanged). With ``stages`` > 1 the patterns
    are added in that many equal parts, each annealed in turn from the network consistent with the earlier ones (a
    path through growing data, for loads where the consistent set is too small to be found at once). A stage that
    ends with wrong outputs is reheated up to ``reheats`` times: the allowed number rises to max(3 x the number
    left, 30) and falls to 0 again over anneal_sweeps / 4, within max_sweeps / 4 in all (a way out of the local
    minima where the last few errors stick). A failure is retried from new random rows, ``tries`` times in all.
    With ``kappa`` > 0 the errors counted are every violated constraint (:func:`violations`: a field below the margin
    in any layer, or a wrong output), and a repaired output unit must reach the margin. Returns the weights in the
    gauge closest to the teacher (:func:`align_gauge`; ``teacher``: any network on the graph, e.g. random rows where
    the labels are random)."""
    max_sweeps = 5 * anneal_sweeps if max_sweeps is None else max_sweeps
    return _retried(lambda: _anneal(teacher, S0, y, rng, anneal_sweeps, max_sweeps, stages, reheats, kappa), tries)


def _retried(attempt, tries):
    """``attempt()`` up to ``tries`` times while it raises RuntimeError; the last failure, with the count, if none
    succeeds."""
    for _ in range(tries):
        try:
            return attempt()
        except RuntimeError as e:
            failure = e
    raise RuntimeError("%s; %d tries" % (failure, tries))


def melted_student(teacher, S0, y, rng, errors=200, melt_sweeps=3000, anneal_sweeps=6000, max_sweeps=None,
                   tries=3, reheats=0):
    """A consistent student with overlaps below the teacher chain's, for loads where :func:`annealed_student` finds
    none from random rows: from the teacher, slice moves by threshold accepting at up to ``errors`` wrong training
    outputs for ``melt_sweeps`` (a liquid at a fixed error budget, whose overlaps fall well below the consistent
    networks'), then the allowed number falls to 0 over ``anneal_sweeps`` with the perceptron repair of the output
    units and ``reheats`` as in :func:`annealed_student` (RuntimeError with the count left after ``max_sweeps``, by
    default 5 x anneal_sweeps; ``tries`` melts in all).  Its overlaps are measured, not assumed: a chain from it is
    an approach from below only where they start below the teacher chain's."""
    max_sweeps = 5 * anneal_sweeps if max_sweeps is None else max_sweeps
    return _retried(lambda: _melt(teacher, S0, y, rng, errors, melt_sweeps, anneal_sweeps, max_sweeps, reheats), tries)


def _melt(teacher, S0, y, rng, errors, melt_sweeps, anneal_sweeps, max_sweeps, reheats):
    L, N, c = teacher.weights.shape
    J = teacher.weights.copy()
    S = forward(J, teacher.inputs, S0)
    wrong = np.zeros(1, np.int64)
    metropolis_sweeps(J, teacher.inputs, *teacher.readers, S, y, melt_sweeps, int(rng.integers(2 ** 31)), np.zeros(1, np.int64),
            wrong, errors)
    _requench(J, S, teacher, y, rng, wrong[0], anneal_sweeps, max_sweeps, reheats, "melted start",
              "depth %d, c %d, M = %d patterns, melted at %d wrong outputs" % (L, c, y.shape[0], errors))
    return align_gauge(J, teacher, rng.choice([-1.0, 1.0], size=(1000, N)))


def _anneal(teacher, S0, y, rng, anneal_sweeps, max_sweeps, stages, reheats, kappa):
    L, N, c = teacher.weights.shape
    J = on_sphere(rng.standard_normal((L, N, c)))
    M = S0.shape[0]
    for stage in range(1, stages + 1):
        m = M * stage // stages
        S = forward(J, teacher.inputs, S0[:m])
        _requench(J, S, teacher, y[:m], rng, violations(J, teacher.inputs, S, y[:m], kappa) // 2, anneal_sweeps,
                  max_sweeps, reheats, "annealed start", "depth %d, c %d, %d of M = %d patterns" % (L, c, m, M), kappa)
    return align_gauge(J, teacher, rng.choice([-1.0, 1.0], size=(1000, N)))


def _requench(J, S, teacher, y, rng, top, anneal_sweeps, max_sweeps, reheats, name, where, kappa=0.0):
    """Threshold accepting on J (with spins S on the patterns of y) to no violated constraint (:func:`violations` at
    margin ``kappa``): the allowed number falls linearly from ``top`` to 0 over anneal_sweeps, output units still
    violated then are repaired by the perceptron rule every 10 sweeps, and a stuck end is reheated (see
    :func:`annealed_student`); RuntimeError naming ``name`` if some constraint is still violated after max_sweeps and
    the reheats (and ``where``)."""
    L, c = J.shape[0], J.shape[2]
    starts, units = teacher.readers
    errors = np.array([violations(J, teacher.inputs, S, y, kappa)], np.int64)
    length, limit = anneal_sweeps, max_sweeps
    for _ in range(reheats + 1):
        done = 0
        while errors[0] > 0 and done < limit:
            budget = int(top * max(0.0, 1 - done / length))
            metropolis_sweeps(J, teacher.inputs, starts, units, S, y, 10, int(rng.integers(2 ** 31)),
                              np.zeros(1, np.int64), errors, budget, np.inf, kappa)
            done += 10
            if done >= length and errors[0] > 0:
                h = np.einsum("mik,ik->mi", S[L - 1][:, teacher.inputs[L - 1]], J[L - 1]) / np.sqrt(c)
                for i in np.flatnonzero(np.any((S[L] != y) | (np.abs(h) < kappa), axis=0)):
                    row = J[L - 1, i].copy()
                    if _perceptron(S[L - 1][:, teacher.inputs[L - 1, i]], y[:, i], row, 1000, kappa):
                        J[L - 1, i] = on_sphere(row)
                        S[L][:, i] = y[:, i]
                errors[0] = violations(J, teacher.inputs, S, y, kappa)
        if errors[0] == 0:
            return
        top, length, limit = max(3 * errors[0], 30), max(anneal_sweeps // 4, 10), max_sweeps // 4   # reheat
    what = "training outputs still wrong" if kappa == 0 else "constraints still violated at kappa %g" % kappa
    raise RuntimeError("%s: %d %s after %d sweeps and %d reheats (%s)" % (name, errors[0], what, max_sweeps, reheats,
                                                                         where))


def gauge_signs(S, ST):
    """The gauge (L+1, N) of a student relative to the teacher, from their spins S, ST (L+1, patterns, N) on the same
    inputs: sgn is odd, so flipping hidden unit i (its row, and its column in the readers' rows) flips only its own
    spins and leaves the network's function unchanged; sigma_i(l) = -1 where unit i of hidden layer l agrees with the
    teacher's on fewer than half of the inputs, +1 otherwise and at the inputs and outputs (layers are independent:
    a flip in layer l changes no other layer's spins)."""
    sigma = np.ones((S.shape[0], S.shape[2]))
    sigma[1:-1] = np.where(np.sum(S[1:-1] * ST[1:-1], axis=1) < 0, -1.0, 1.0)
    return sigma


def gauged(J, idx, sigma):
    """J_l[i, k] sigma_i(l+1) sigma_idx[l,i,k](l): the same network in the gauge ``sigma``."""
    return J * sigma[1:, :, None] * sigma[np.arange(J.shape[0])[:, None, None], idx]


def align_gauge(J, teacher, X):
    """The gauge copy of J closest to the teacher (:func:`gauge_signs` on the fresh inputs X)."""
    return gauged(J, teacher.inputs, gauge_signs(forward(J, teacher.inputs, X),
                                                  forward(teacher.weights, teacher.inputs, X)))
