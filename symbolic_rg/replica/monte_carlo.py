r"""Monte Carlo of real finite deep networks of sign perceptrons in the teacher scenario (posterior sampling).

Network: layers :math:`l = 0..L` of :math:`N` units; unit :math:`i` of layer :math:`l\ge1` reads :math:`c` distinct random
units of layer :math:`l-1` (a fixed sparse graph) through a spherical row :math:`|J_i|^2 = c`,
:math:`S_i(l) = \mathrm{sgn}(J_i\cdot S(l-1)/\sqrt c)`.  A teacher with uniformly random rows labels :math:`M = \alpha c`
random inputs.  The student posterior is uniform over all weights that reproduce every training output (with
:math:`\kappa = 0` the hidden spins are the signs of their fields).

Move: elliptical slice sampling of one row along a great circle, :math:`J(\theta) = J\cos\theta + \nu\sin\theta` with
:math:`\nu\perp J`, :math:`|\nu|^2 = c` random; :math:`\theta` is drawn on a bracket that shrinks towards 0 until every
training output is still correct.  This leaves the uniform measure on the consistent set invariant.  A proposal
recomputes the unit, then only the units that read a changed spin, layer by layer, up to the outputs, one pattern at a
time, and stops as soon as it can no longer be accepted.

:class:`PosteriorChain` is one resumable chain; :class:`TemperedChain` adds replicas at finite inverse temperatures in
the number of wrong training outputs (parallel tempering) so that the measured one, at beta = infinity, can cross
between regions of the consistent set; :func:`teacher_student` runs one chain; :func:`bracket` runs a chain from the
teacher and one from below (an annealed or a melted start) on the same data, in two threads, until their averages
agree; :func:`tuned_ladder` spaces the inverse temperatures for equal exchange rates.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from statistics import NormalDist
from typing import NamedTuple

import numba
import numpy as np

__all__ = ["SparseNetwork", "sparse_network", "perceptron_student", "annealed_student", "melted_student", "gauge_signs",
           "align_gauge", "TeacherData", "teacher_data", "measure", "PosteriorChain", "TemperedChain", "tuned_ladder",
           "teacher_student", "MCResult", "Bracket", "bracket"]


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


@numba.njit(cache=True, nogil=True)
def forward(J, idx, S0):
    L, N, c = J.shape
    M = S0.shape[0]
    S = np.empty((L + 1, M, N))
    S[0] = S0
    for l in range(L):
        for m in range(M):
            for i in range(N):
                h = 0.0
                for k in range(c):
                    h += J[l, i, k] * S[l, m, idx[l, i, k]]
                S[l + 1, m, i] = 1.0 if h >= 0 else -1.0
    return S


@numba.njit(cache=True, nogil=True)
def _try(J, idx, starts, units, S, y, l, i, log_l, log_m, log_i, wrong, errors, top, work):
    """Recompute unit i of layer l (array index; its new row already in J) and propagate the changed spins to the
    outputs, one pattern at a time (patterns do not interact; on each, a unit is recomputed only where one of its
    inputs flipped); returns (change in the number of wrong training outputs, log size).  Changed spins are written
    into S and logged (layer, pattern, unit), and ``wrong`` (wrong outputs per pattern) is kept, so that the caller
    can revert them.  The proposal is accepted if the count ``errors`` + change stays within ``top``; it stops as soon
    as that is out of reach (the change so far, less every output still wrong on the patterns not finished, exceeds
    ``top`` - ``errors``; with none wrong and ``top`` = 0: at the first output that changes), so that a rejected
    proposal costs only the patterns up to that point.  ``work`` = (stamp (N), generation (1), flipped (N),
    stale (N)): scratch of :func:`_scratch`, so that a proposal allocates nothing (creating an array or passing one to
    a function costs reference counting, several times the arithmetic at these sizes)."""
    stamp, generation, flipped, stale = work
    L, c = J.shape[0], J.shape[2]
    M = S.shape[1]
    n, delta = 0, 0
    rest = errors                                  # wrong outputs on the patterns not finished (before the proposal)
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
                if s != S[layer + 1, m, j]:
                    S[layer + 1, m, j] = s
                    log_l[n], log_m[n], log_i[n] = layer + 1, m, j
                    n += 1
                    if out:
                        d = -1 if s == y[m, j] else 1
                        wrong[m] += d
                        delta += d
                        if errors + delta - rest > top:
                            return delta, n
                    else:
                        flipped[nf] = j
                        nf += 1
        rest -= before
    return delta, n


@numba.njit(cache=True, nogil=True)
def _scratch(N):
    """The ``work`` of :func:`_try` for N units per layer."""
    return np.zeros(N, np.int64), np.zeros(1, np.int64), np.zeros(N, np.int64), np.zeros(N, np.int64)


@numba.njit(cache=True, nogil=True)
def metropolis_sweeps(J, idx, starts, units, S, y, n_sweeps, seed, shrinks, errors, budget=0, beta=np.inf):
    """``n_sweeps`` sweeps of slice moves over every row of every layer (J, S and errors[0], the number of wrong
    training outputs E, updated in place).  With ``beta`` infinite a proposal is accepted where E stays within
    max(budget, its current value): with budget 0 and none wrong, the uniform measure on the consistent networks
    is invariant; otherwise the moves are threshold accepting towards a consistent network.  With ``beta`` finite
    each move draws the slice level E + floor(-ln(u) / beta), u uniform on (0, 1], and accepts within it: the
    slice sampler of the tempered measure exp(-beta E) on the spheres (``budget`` is then unused)."""
    np.random.seed(seed)
    L, N, c = J.shape
    M = S.shape[1]
    cap = L * M * N + 1
    log_l = np.zeros(cap, np.int64)
    log_m = np.zeros(cap, np.int64)
    log_i = np.zeros(cap, np.int64)
    work = _scratch(N)
    wrong = np.zeros(M, np.int64)                  # wrong training outputs per pattern
    for m in range(M):
        for j in range(N):
            wrong[m] += S[L, m, j] != y[m, j]
    if wrong.sum() != errors[0]:
        raise ValueError("errors[0] must be the number of wrong training outputs of S")
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
                    delta, n = _try(J, idx, starts, units, S, y, l, i, log_l, log_m, log_i, wrong, errors[0], top, work)
                    if errors[0] + delta <= top:
                        errors[0] += delta
                        break
                    for t in range(n - 1, -1, -1):     # revert the spins changed by the rejected proposal
                        lt, mt, it = log_l[t], log_m[t], log_i[t]
                        S[lt, mt, it] = -S[lt, mt, it]
                        if lt == L:
                            wrong[mt] += 1 if S[lt, mt, it] != y[mt, it] else -1
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
def _perceptron(X, y, w, max_epochs):
    """Rosenblatt's perceptron rule from ``w``: w += y_m x_m on every pattern with sgn(w.x_m) != y_m, until all are
    correct (True) or ``max_epochs`` passes (False).  The data are realizable (a teacher labels them)."""
    M, c = X.shape
    for epoch in range(max_epochs):
        errors = 0
        for m in range(M):
            h = 0.0
            for k in range(c):
                h += w[k] * X[m, k]
            if (1.0 if h >= 0 else -1.0) != y[m]:
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


def annealed_student(teacher, S0, y, rng, anneal_sweeps=4000, max_sweeps=None, stages=1, tries=3, reheats=0):
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
    Returns the weights in the gauge closest to the teacher (:func:`align_gauge`)."""
    max_sweeps = 5 * anneal_sweeps if max_sweeps is None else max_sweeps
    return _retried(lambda: _anneal(teacher, S0, y, rng, anneal_sweeps, max_sweeps, stages, reheats), tries)


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


def _anneal(teacher, S0, y, rng, anneal_sweeps, max_sweeps, stages, reheats):
    L, N, c = teacher.weights.shape
    J = on_sphere(rng.standard_normal((L, N, c)))
    M = S0.shape[0]
    for stage in range(1, stages + 1):
        m = M * stage // stages
        S = forward(J, teacher.inputs, S0[:m])
        _requench(J, S, teacher, y[:m], rng, np.sum(S[L] != y[:m]) // 2, anneal_sweeps, max_sweeps, reheats,
                  "annealed start", "depth %d, c %d, %d of M = %d patterns" % (L, c, m, M))
    return align_gauge(J, teacher, rng.choice([-1.0, 1.0], size=(1000, N)))


def _requench(J, S, teacher, y, rng, top, anneal_sweeps, max_sweeps, reheats, name, where):
    """Threshold accepting on J (with spins S on the patterns of y) to no wrong output: the allowed number falls
    linearly from ``top`` to 0 over anneal_sweeps, output units still wrong then are repaired by the perceptron rule
    every 10 sweeps, and a stuck end is reheated (see :func:`annealed_student`); RuntimeError naming ``name`` if
    some output is still wrong after max_sweeps and the reheats (and ``where``)."""
    L = J.shape[0]
    starts, units = teacher.readers
    errors = np.array([np.sum(S[L] != y)], np.int64)
    length, limit = anneal_sweeps, max_sweeps
    for _ in range(reheats + 1):
        done = 0
        while errors[0] > 0 and done < limit:
            budget = int(top * max(0.0, 1 - done / length))
            metropolis_sweeps(J, teacher.inputs, starts, units, S, y, 10, int(rng.integers(2 ** 31)), np.zeros(1, np.int64),
                    errors, budget)
            done += 10
            if done >= length and errors[0] > 0:
                for i in np.flatnonzero(np.any(S[L] != y, axis=0)):
                    row = J[L - 1, i].copy()
                    if _perceptron(S[L - 1][:, teacher.inputs[L - 1, i]], y[:, i], row, 1000):
                        J[L - 1, i] = on_sphere(row)
                        errors[0] -= np.sum(S[L][:, i] != y[:, i])
                        S[L][:, i] = y[:, i]
        if errors[0] == 0:
            return
        top, length, limit = max(3 * errors[0], 30), max(anneal_sweeps // 4, 10), max_sweeps // 4   # reheat
    raise RuntimeError("%s: %d training outputs still wrong after %d sweeps and %d reheats (%s)"
                       % (name, errors[0], max_sweeps, reheats, where))


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


class MCResult(NamedTuple):
    """Posterior averages over the kept part of a chain, with standard errors from 10 batch means; the traces
    (every ``measure_every`` sweeps from the start) show the relaxation and the drift.  Overlaps are measured in the
    gauge closest to the teacher (:func:`gauge_signs` on the test inputs, at every measurement): the posterior is
    invariant under flipping a hidden unit, and at small c a chain does cross between gauge copies, which would
    otherwise average the overlaps to zero.  The price is a bias of order sqrt(2 / (pi c)) upwards in a layer whose
    units are uncorrelated with the teacher's (the sign of each unit is chosen by its own agreement)."""
    Q: np.ndarray                  # teacher-student weight overlap per layer (gauge-fixed)
    Q_err: np.ndarray
    q: np.ndarray                  # teacher-student spin overlap per hidden layer on the training inputs (gauge-fixed)
    q_err: np.ndarray
    generalization_error: float    # fraction of output units that disagree with the teacher on fresh inputs
    generalization_error_err: float
    sweeps: np.ndarray             # sweep count of each trace row
    Q_trace: np.ndarray            # (rows, L)
    q_trace: np.ndarray            # (rows, L - 1)
    error_trace: np.ndarray        # (rows,)
    flipped_trace: np.ndarray      # (rows, L - 1): fraction of each hidden layer's units in the flipped gauge
    autocorrelation_time: float    # integrated, in sweeps: the largest over the layers' Q traces
    drift: np.ndarray              # per layer: (mean of the last half - mean of the first half of the kept Q) / error
    shrinks_per_move: float
    start: str


def _batch_error(x, batches=10):
    n = x.shape[0] // batches
    if n < 1:
        return np.full(x.shape[1:], np.nan)
    means = x[:n * batches].reshape(batches, n, *x.shape[1:]).mean(axis=1)
    return means.std(axis=0, ddof=1) / np.sqrt(batches)


def _tau(x):
    x = x - x.mean()
    if x.size < 4 or not np.any(x):
        return 1.0
    f = np.correlate(x, x, "full")[x.size - 1:] / (x.var() * x.size)
    tau = 1.0
    for t in range(1, x.size // 2):
        if f[t] <= 0:
            break
        tau += 2 * f[t]
    return tau


class TeacherData(NamedTuple):
    """A teacher network, its M = round(alpha c) training inputs S0 with all its spins ST (ST[L] = the labels y) and
    fresh test inputs X with all the teacher's spins XT on them (XT[L]: the test labels)."""
    teacher: SparseNetwork
    S0: np.ndarray
    ST: np.ndarray
    y: np.ndarray
    X: np.ndarray
    XT: np.ndarray


def teacher_data(depth, N, c, alpha, rng, n_test=1000):
    """:class:`TeacherData` of a random teacher (``depth`` layers, N units, c inputs per unit) at load alpha."""
    teacher = sparse_network(depth, N, c, rng)
    S0 = rng.choice([-1.0, 1.0], size=(int(round(alpha * c)), N))
    ST = forward(teacher.weights, teacher.inputs, S0)
    X = rng.choice([-1.0, 1.0], size=(n_test, N))
    return TeacherData(teacher, S0, ST, ST[depth].copy(), X, forward(teacher.weights, teacher.inputs, X))


def measure(J, S, data):
    """One trace row of the student J (with spins S on the training inputs): Q_l (L), q_l (L - 1) and epsilon in the
    gauge closest to the teacher (:func:`gauge_signs` on the test inputs), then the fraction of each hidden layer's
    units in the flipped gauge (L - 1)."""
    t = data.teacher
    L, N, c = J.shape
    SX = forward(J, t.inputs, data.X)
    sigma = gauge_signs(SX, data.XT)
    Q = np.einsum("lik,lik->l", gauged(J, t.inputs, sigma), t.weights) / (N * c)
    q = [np.mean(sigma[l] * S[l] * data.ST[l]) for l in range(1, L)]
    return np.concatenate([Q, q, [np.mean(SX[L] != data.XT[L])], np.mean(sigma[1:L] < 0, axis=1)])


STARTS = ("teacher", "perceptron", "annealed", "melted")


def _given_start(J, data):
    """A float copy of the weights ``J`` after checking their shape (depth, N, c) and rows of squared norm c
    (whether they reproduce every training output, :class:`PosteriorChain` checks for every start)."""
    t, J = data.teacher, np.array(J, dtype=np.float64)
    if J.shape != t.weights.shape:
        raise ValueError("start: a weight array must have shape %s (depth, N, c), got %s" % (t.weights.shape, J.shape))
    c = J.shape[2]
    norms = np.einsum("lik,lik->li", J, J)
    if not np.allclose(norms, c, rtol=1e-8, atol=0):
        raise ValueError("start: every weight row must have squared norm c = %d (spherical), found %.6g to %.6g"
                         % (c, norms.min(), norms.max()))
    return J


class PosteriorChain:
    """One Markov chain of the student posterior on :class:`TeacherData`, resumable: :meth:`run` appends
    ``sweeps`` sweeps and a trace row of (Q_l, q_l, epsilon, flipped fraction per hidden layer; see
    :class:`MCResult`) every ``measure_every`` sweeps; :meth:`result` averages
    the kept part.  Starts: ``"teacher"`` (in equilibrium in principle, decorrelating from above),
    ``"perceptron"`` (:func:`perceptron_student`: another consistent network, in the runs so far still above the
    equilibrium overlaps), ``"annealed"`` (:func:`annealed_student` with the keywords in the dict ``anneal``,
    e.g. ``{"anneal_sweeps": 20000, "stages": 2, "reheats": 5}``: found from random weights through the data alone,
    so its overlaps start low: an approach from below) and ``"melted"`` (:func:`melted_student` with the keywords
    in ``anneal``: the teacher melted at a fixed error budget and requenched, low overlaps where no annealed start
    is found); or the weights (depth, N, c) of a consistent network, e.g. a start found once and saved (copied;
    rows of norm sqrt(c), every training output reproduced; ``MCResult.start`` reads ``"given"``)."""

    def __init__(self, data, start, rng, measure_every=10, anneal=None):
        t = data.teacher
        if isinstance(start, np.ndarray):
            J, start = _given_start(start, data), "given"
        elif start not in STARTS:
            raise ValueError("start must be one of %s or a weight array, got %r" % (", ".join(STARTS), start))
        elif start == "teacher":
            J = t.weights.copy()
        elif start == "perceptron":
            J = perceptron_student(t, data.ST, rng)
        elif start == "annealed":
            J = annealed_student(t, data.S0, data.y, rng, **(anneal or {}))
        else:
            J = melted_student(t, data.S0, data.y, rng, **(anneal or {}))
        self.data, self.start, self.J, self.measure_every = data, start, J, measure_every
        self.S = forward(J, t.inputs, data.S0)
        wrong = int(np.sum(self.S[-1] != data.y))
        if wrong and start == "given":
            raise ValueError("start: the network gets %d of the %d training outputs wrong; it must reproduce every one"
                             % (wrong, data.y.size))
        if wrong:
            raise AssertionError("the starting network must reproduce every training output")
        self.seed = int(rng.integers(2 ** 31))
        self.shrinks, self.rows = np.zeros(1, np.int64), []

    @property
    def sweeps(self):
        return len(self.rows) * self.measure_every

    def run(self, sweeps):
        """Append ``sweeps`` sweeps (a multiple of measure_every is used; the Numba kernels release the GIL, so
        chains run in parallel threads)."""
        d, t = self.data, self.data.teacher
        zero = np.zeros(1, np.int64)                          # no training output is wrong
        for _ in range(sweeps // self.measure_every):
            metropolis_sweeps(self.J, t.inputs, *t.readers, self.S, d.y, self.measure_every, self.seed + len(self.rows),
                    self.shrinks, zero)
            self.rows.append(measure(self.J, self.S, d))
        return self

    def result(self, burn_in=None):
        """:class:`MCResult` over the rows after ``burn_in`` sweeps (default: the first half is discarded)."""
        L, N, _ = self.J.shape
        rows = np.array(self.rows)
        burn_in = self.sweeps // 2 if burn_in is None else burn_in
        if burn_in >= self.sweeps:
            raise ValueError("burn_in (%d) must be below the sweeps run (%d)" % (burn_in, self.sweeps))
        kept = rows[burn_in // self.measure_every:]
        if len(kept) < 10:
            raise ValueError("result: %d measurements after burn_in = %d sweeps (one every %d sweeps); the batch-means "
                             "errors need at least 10: run more sweeps" % (len(kept), burn_in, self.measure_every))
        Qk = kept[:, :L]
        half = Qk.shape[0] // 2
        Q_err = _batch_error(Qk)
        drift = (Qk[half:].mean(axis=0) - Qk[:half].mean(axis=0)) / np.maximum(2 * Q_err, 1e-12)
        e = 2 * L - 1                                          # column of epsilon; then the flipped fractions
        return MCResult(Qk.mean(axis=0), Q_err, kept[:, L:e].mean(axis=0), _batch_error(kept[:, L:e]),
                        float(kept[:, e].mean()), float(_batch_error(kept[:, e:e + 1])[0]),
                        self.measure_every * np.arange(1, len(rows) + 1), rows[:, :L], rows[:, L:e],
                        rows[:, e], rows[:, e + 1:], max(_tau(Qk[:, l]) for l in range(L)) * self.measure_every, drift,
                        self.shrinks[0] / (self.sweeps * L * N), self.start)


class TemperedChain(PosteriorChain):
    r"""Parallel tempering in the number E of wrong training outputs: one replica of the network at each inverse
    temperature of ``betas`` (finite, increasing) samples :math:`e^{-\beta E}` on the spheres (slice moves with a
    random level, see :func:`metropolis_sweeps`) and one more at :math:`\beta = \infty` samples the student posterior (every
    output correct); only that one is measured, so :meth:`result` is a :class:`MCResult` as for
    :class:`PosteriorChain`.  Every ``swap_every`` sweeps neighbours (the even pairs, then the odd ones) exchange
    their networks with probability :math:`\min(1, e^{(\beta_{k+1} - \beta_k)(E_{k+1} - E_k)})` (into
    :math:`\beta = \infty` only a network with E = 0), which leaves the product of the replicas' measures
    invariant.  A network can so leave a region of the consistent set through inconsistent ones, which the chain at
    :math:`\beta = \infty` alone cannot.  Every replica starts from ``start`` (as in :class:`PosteriorChain`).
    ``swap_acceptance`` (per neighbour pair) and ``hot_to_cold`` (how often a network last seen at the hottest replica
    reached :math:`\beta = \infty`) report the mixing; ``shrinks_per_move`` is that of the measured replica."""

    def __init__(self, data, start, rng, betas, measure_every=10, swap_every=2, anneal=None):
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size < 1 or not np.all(np.isfinite(betas)) or betas[0] <= 0 \
                or np.any(np.diff(betas) <= 0):
            raise ValueError("betas must be a non-empty increasing sequence of finite inverse temperatures > 0 "
                             "(beta = infinity is added on top), got %r" % (betas,))
        if swap_every < 1 or measure_every % swap_every:
            raise ValueError("swap_every must be a positive divisor of measure_every (%d), got %r"
                             % (measure_every, swap_every))
        super().__init__(data, start, rng, measure_every, anneal)
        self.betas, self.swap_every = np.append(betas, np.inf), swap_every
        self.replicas = [[self.J.copy(), self.S.copy(), np.zeros(1, np.int64), None] for _ in betas]
        self.replicas.append([self.J, self.S, np.zeros(1, np.int64), None])
        self._shrinks = [np.zeros(1, np.int64) for _ in self.betas]
        self.shrinks = self._shrinks[-1]
        self.accepted, self.attempts = np.zeros(betas.size, np.int64), np.zeros(betas.size, np.int64)
        self.hot_to_cold, self._rounds, self._swap_rng = 0, 0, np.random.default_rng(self.seed)

    @property
    def swap_acceptance(self):
        """Fraction of accepted exchanges between replicas k and k + 1 (betas ascending, the last pair into
        beta = infinity)."""
        return self.accepted / np.maximum(self.attempts, 1)

    def retune(self, swap_acceptance=None):
        """Move the finite inverse temperatures to the :func:`tuned_ladder` of the exchange rates counted so far (or of
        ``swap_acceptance``, one rate per finite pair), keeping both ends, the number of replicas and their networks,
        and restart the counts.  The replica at beta = infinity and its measurements are untouched: its marginal is
        the posterior on every ladder."""
        A = self.swap_acceptance[:-1] if swap_acceptance is None else swap_acceptance
        self.betas[:-1] = tuned_ladder(self.betas[:-1], A)
        self.accepted[:], self.attempts[:] = 0, 0
        return self

    def _exchange(self):
        r, b = self.replicas, self.betas
        for k in range(self._rounds % 2, len(r) - 1, 2):
            e0, e1 = r[k][2][0], r[k + 1][2][0]
            self.attempts[k] += 1
            if e0 == 0 if np.isinf(b[k + 1]) else np.log(1.0 - self._swap_rng.random()) <= (b[k + 1] - b[k]) * (e1 - e0):
                r[k], r[k + 1] = r[k + 1], r[k]
                self.accepted[k] += 1
        r[0][3] = "hot"
        if r[-1][3] == "hot":
            self.hot_to_cold += 1
        r[-1][3] = "cold"
        self._rounds += 1

    def run(self, sweeps):
        """Append ``sweeps`` sweeps of every replica (a multiple of measure_every is used), with an exchange every
        ``swap_every`` sweeps and a trace row of the beta = infinity replica every measure_every sweeps."""
        d, t = self.data, self.data.teacher
        for _ in range(sweeps // self.measure_every):
            for _ in range(self.measure_every // self.swap_every):
                for k, (J, S, E, _) in enumerate(self.replicas):
                    seed = (self.seed + self._rounds * len(self.betas) + k) % 2 ** 32
                    metropolis_sweeps(J, t.inputs, *t.readers, S, d.y, self.swap_every, seed, self._shrinks[k], E, 0,
                            self.betas[k])
                self._exchange()
            self.J, self.S, E, _ = self.replicas[-1]
            if E[0]:
                raise AssertionError("the replica at beta = infinity must reproduce every training output")
            self.rows.append(measure(self.J, self.S, d))
        return self


def tuned_ladder(betas, swap_acceptance, size=None):
    r"""``size`` inverse temperatures (default: as many as ``betas``) from ``betas[0]`` to ``betas[-1]`` at which every
    neighbour exchange is predicted to be accepted equally often, from the measured acceptance :math:`A_k` of each
    pair (k, k + 1) of ``betas`` (clipped to :math:`[10^{-6}, 1 - 10^{-9}]`).

    For energies of width :math:`\sigma` at both ends of a pair the mean acceptance is
    :math:`A = \mathrm{erfc}(\Delta\beta\,\sigma/2)`, so :math:`d_k = \mathrm{erfc}^{-1}(A_k)` adds up along the
    ladder (the thermodynamic length :math:`\tfrac12\int\sigma\,d\beta`); it is taken linear in
    :math:`\ln\beta` within each pair, and the new ladder divides :math:`\Lambda = \sum_k d_k` into equal parts:
    every pair is then predicted at :math:`\mathrm{erfc}(\Lambda/(\mathrm{size} - 1))`.  Where
    :math:`\sigma \propto 1/\beta` the tuned ladder is geometric:

    >>> import numpy as np
    >>> from math import erfc, log
    >>> b = np.linspace(0.1, 10.0, 12)
    >>> A = [erfc(0.4 * log(b1 / b0)) for b0, b1 in zip(b, b[1:])]
    >>> np.allclose(tuned_ladder(b, A, 5), np.geomspace(0.1, 10.0, 5))
    True
    """
    betas, A = np.asarray(betas, dtype=np.float64), np.asarray(swap_acceptance, dtype=np.float64)
    size = betas.size if size is None else size
    if betas.ndim != 1 or betas.size < 2 or not np.all(np.isfinite(betas)) or betas[0] <= 0 \
            or np.any(np.diff(betas) <= 0):
        raise ValueError("betas must be an increasing sequence of at least 2 finite inverse temperatures > 0, got %r"
                         % (betas,))
    if A.shape != (betas.size - 1,) or not np.all((A >= 0) & (A <= 1)):
        raise ValueError("swap_acceptance must hold one rate in [0, 1] per neighbour pair of betas (%d), got %r"
                         % (betas.size - 1, swap_acceptance))
    if int(size) != size or size < 2:
        raise ValueError("size must be an integer >= 2, got %r" % (size,))
    d = np.array([NormalDist().inv_cdf(1.0 - a / 2.0) / np.sqrt(2.0) for a in np.clip(A, 1e-6, 1.0 - 1e-9)])
    length = np.concatenate([[0.0], np.cumsum(d)])        # strictly increasing: d_k > 0 after the clip
    new = np.exp(np.interp(np.linspace(0.0, length[-1], int(size)), length, np.log(betas)))
    new[0], new[-1] = betas[0], betas[-1]
    return new


def teacher_student(depth, N, c, alpha, sweeps, burn_in, seed=0, measure_every=10, n_test=1000, start="teacher",
                    anneal=None):
    """Sample the student posterior of a depth-``depth`` sparse sign network (N units per layer, c inputs per unit)
    trained on M = round(alpha c) teacher-labelled random inputs, from ``start`` (see :class:`PosteriorChain`;
    ``anneal``: :func:`annealed_student`'s keywords); averages use the sweeps after ``burn_in``."""
    if burn_in >= sweeps:
        raise ValueError("burn_in (%d) must be below sweeps (%d)" % (burn_in, sweeps))
    rng = np.random.default_rng(seed)
    data = teacher_data(depth, N, c, alpha, rng, n_test)
    return PosteriorChain(data, start, rng, measure_every, anneal).run(sweeps).result(burn_in)


def _estimates(r):
    """Every Q_l, q_l and epsilon of an :class:`MCResult`, and their standard errors."""
    return (np.concatenate([r.Q, r.q, [r.generalization_error]]),
            np.concatenate([r.Q_err, r.q_err, [r.generalization_error_err]]))


def settled(a, b, z):
    """Two chains' :class:`MCResult` s agree: every Q_l, q_l and epsilon within ``z`` combined standard errors, and
    neither drifts (:attr:`MCResult.drift`, the difference of the two halves of the kept Q_l in its standard errors,
    within ``z`` for every layer)."""
    (va, ea), (vb, eb) = _estimates(a), _estimates(b)
    return bool(np.all(np.abs(va - vb) <= z * np.hypot(ea, eb))
                and np.all(np.abs(a.drift) <= z) and np.all(np.abs(b.drift) <= z))


def _bracket_key(*args):
    """What a :func:`bracket` checkpoint must match: its arguments (a given start by a hash of its weights)."""
    key = []
    for x in args:
        if isinstance(x, np.ndarray) and x.ndim == 3:                  # the weights of a given start
            x = hashlib.sha256(np.ascontiguousarray(x, np.float64)).hexdigest()
        elif isinstance(x, (np.ndarray, list, tuple)):                  # a ladder
            x = np.asarray(x, np.float64).tolist()
        key.append(x)
    return repr(key)


def _save(path, key, chains, done):
    """Write a :func:`bracket` checkpoint atomically (a stop while writing leaves the previous one)."""
    with open(path + ".tmp", "wb") as f:
        pickle.dump({"key": key, "chains": chains, "chunks": done}, f)
    os.replace(path + ".tmp", path)


def _restore(path, key):
    """The chains and the chunks done from a :func:`bracket` checkpoint, or (None, 0) where there is none yet."""
    if path is None:
        return None, 0
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except FileNotFoundError:
        return None, 0
    if state["key"] != key:
        raise ValueError("checkpoint %r was written by a bracket with other arguments:\n  %s\nthis call has\n  %s\n"
                         "remove the file or pass another path" % (path, state["key"], key))
    return state["chains"], state["chunks"]


class Bracket(NamedTuple):
    """Equilibrium estimate from two chains on the same data, each averaged over its last half: one decorrelating
    from above (teacher start) and one from an annealed or melted start (at depth >= 2 its overlaps start below the
    equilibrium ones, at depth 1 the perceptron-repaired annealed start lies a little above).
    The estimate is their mean; its error combines the statistical errors with half the remaining gap,
    ½√(σ_a² + σ_b²) ⊕ ½|gap|."""
    Q: np.ndarray
    Q_err: np.ndarray
    q: np.ndarray
    q_err: np.ndarray
    generalization_error: float
    generalization_error_err: float
    above: MCResult
    below: MCResult
    converged: bool                # every Q_l, q_l and epsilon of the two chains agree within z standard errors, and
                                   # neither chain's Q_l drifts by more than z errors (MCResult.drift)
    sweeps: int                    # per chain (per replica with tempering)
    tempering: dict | None         # with betas: the (last) betas, swap_acceptance since then and hot_to_cold


def bracket(depth, N, c, alpha, max_sweeps, chunk=None, seed=0, measure_every=10, n_test=1000, z=2.0,
            below="annealed", anneal=None, betas=None, swap_every=2, retune=0, progress=None, checkpoint=None):
    """Run a chain from the teacher and one from the start ``below`` ("annealed", "melted" or the weights of a
    consistent network on these data, see :class:`PosteriorChain`; ``anneal``: the keywords of
    :func:`annealed_student` or :func:`melted_student`) on the same data, ``chunk`` sweeps at a time in two threads,
    until their last-half averages of every Q_l, q_l and epsilon agree within ``z`` combined standard errors and
    neither chain's Q_l drifts by more than ``z`` errors within its last half (:attr:`MCResult.drift`: a chain still
    relaxing, or one that has just jumped, has wide errors and may agree with anything), or each has run
    ``max_sweeps``; :class:`Bracket`.  With ``betas`` both are :class:`TemperedChain` s on that ladder
    (exchanges every ``swap_every`` sweeps); after each of the first ``retune`` chunks both ladders move to the
    :func:`tuned_ladder` of the two chains' pooled exchange rates (:meth:`TemperedChain.retune`).  A chunk has at
    least 20 measurements (a last half of 10 for the batch-means errors).  ``progress``, if given, is called after
    every chunk with the sweeps so far and the two chains' :class:`MCResult` s.  A RuntimeError from the start (no
    consistent network found) propagates.  ``checkpoint``: a file to which both chains are saved (pickled) after every
    chunk; a call with the same arguments and that file resumes from it and gives the same chains as one run without a
    stop (a larger ``max_sweeps`` extends a run that stopped at ``max_sweeps``; a file from other arguments is a
    ValueError)."""
    if not isinstance(below, np.ndarray) and below not in ("annealed", "melted"):
        raise ValueError("below must be 'annealed', 'melted' or a weight array, got %r" % (below,))
    if max_sweeps < 20 * measure_every:
        raise ValueError("max_sweeps must be at least 20 x measure_every = %d, got %d"
                         % (20 * measure_every, max_sweeps))
    if retune and betas is None:
        raise ValueError("retune needs betas (the ladder to tune), got retune=%r without betas" % (retune,))
    from concurrent.futures import ThreadPoolExecutor
    chunk = max(chunk or max_sweeps // 20, 20 * measure_every)
    key = _bracket_key(depth, N, c, alpha, chunk, seed, measure_every, n_test, below, anneal, betas, swap_every, retune)
    chains, done = _restore(checkpoint, key)
    if chains is None:
        rng = np.random.default_rng(seed)
        data = teacher_data(depth, N, c, alpha, rng, n_test)
        if betas is None:
            chains = [PosteriorChain(data, s, rng, measure_every, anneal) for s in ("teacher", below)]
        else:
            chains = [TemperedChain(data, s, rng, betas, measure_every, swap_every, anneal)
                      for s in ("teacher", below)]
        finished = False
    else:
        a, b = (ch.result() for ch in chains)
        converged = settled(a, b, z)
        finished = converged or chains[0].sweeps >= max_sweeps
    with ThreadPoolExecutor(2) as pool:
        while not finished:
            if 1 <= done <= retune:                      # before the next chunk, from the rates since the last retune
                pooled = sum(ch.accepted for ch in chains) / np.maximum(sum(ch.attempts for ch in chains), 1)
                for ch in chains:
                    ch.retune(pooled[:-1])
            list(pool.map(lambda ch: ch.run(chunk), chains))
            done += 1
            a, b = (ch.result() for ch in chains)
            if progress is not None:
                progress(chains[0].sweeps, a, b)
            converged = settled(a, b, z)
            finished = converged or chains[0].sweeps >= max_sweeps
            if checkpoint is not None:
                _save(checkpoint, key, chains, done)
    (va, ea), (vb, eb) = _estimates(a), _estimates(b)
    mean, err = (va + vb) / 2, np.hypot(np.hypot(ea, eb) / 2, (va - vb) / 2)
    L = depth
    tempering = None if betas is None else {"betas": [float(x) for x in chains[0].betas[:-1]],
                                            "swap_acceptance": [ch.swap_acceptance.tolist() for ch in chains],
                                            "hot_to_cold": [ch.hot_to_cold for ch in chains]}
    return Bracket(mean[:L], err[:L], mean[L:2 * L - 1], err[L:2 * L - 1], float(mean[-1]), float(err[-1]), a, b,
                   converged, chains[0].sweeps, tempering)
