r"""Monte Carlo of real finite deep networks of sign perceptrons: the teacher scenario (posterior sampling) and the
random scenario (two replicas on the same random data).

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

Random scenario (:func:`random_data`: random inputs and random labels, no teacher): :func:`replica_overlaps` runs two
chains of the uniform measure over the consistent networks on the same data and measures the overlaps between them,
the Q_l and q_l of the replica theory.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from .. import checks, parallel
from .networks import (SparseNetwork, align_gauge, annealed_student, forward, gauge_signs, gauged, melted_student,
                       metropolis_sweeps, on_sphere, perceptron_student, sparse_network, violations)

__all__ = ["SparseNetwork", "sparse_network", "perceptron_student", "annealed_student", "melted_student",
           "gauge_signs", "align_gauge", "forward", "metropolis_sweeps", "violations", "on_sphere", "gauged",
           "TeacherData", "teacher_data", "measure", "PosteriorChain", "TemperedChain", "tuned_ladder",
           "teacher_student", "MCResult", "Bracket", "bracket", "advance", "settled", "RandomData", "random_data",
           "spin_null", "pair_overlaps", "ReplicaOverlaps", "replica_overlaps"]


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

    def run(self, sweeps, progress=None):
        """Append ``sweeps`` sweeps (a multiple of measure_every is used; the Numba kernels release the GIL, so
        chains run in parallel threads); ``progress``: a bar (:func:`~symbolic_rg.parallel.bar`)."""
        d, t = self.data, self.data.teacher
        zero = np.zeros(1, np.int64)                          # no training output is wrong
        with parallel.bar(sweeps // self.measure_every * self.measure_every, "chain", progress, "sweep") as shown:
            for _ in range(sweeps // self.measure_every):
                metropolis_sweeps(self.J, t.inputs, *t.readers, self.S, d.y, self.measure_every,
                                  self.seed + len(self.rows), self.shrinks, zero)
                self.rows.append(measure(self.J, self.S, d))
                shown.update(self.measure_every)
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

    def run(self, sweeps, progress=None):
        """Append ``sweeps`` sweeps of every replica (a multiple of measure_every is used), with an exchange every
        ``swap_every`` sweeps and a trace row of the beta = infinity replica every measure_every sweeps; ``progress``:
        a bar."""
        d, t = self.data, self.data.teacher
        with parallel.bar(sweeps // self.measure_every * self.measure_every, "tempered chain", progress,
                          "sweep") as shown:
            for _ in range(sweeps // self.measure_every):
                for _ in range(self.measure_every // self.swap_every):
                    for k, (J, S, E, _) in enumerate(self.replicas):
                        seed = (self.seed + self._rounds * len(self.betas) + k) % 2 ** 32
                        metropolis_sweeps(J, t.inputs, *t.readers, S, d.y, self.swap_every, seed, self._shrinks[k],
                                          E, 0, self.betas[k])
                    self._exchange()
                self.J, self.S, E, _ = self.replicas[-1]
                if E[0]:
                    raise AssertionError("the replica at beta = infinity must reproduce every training output")
                self.rows.append(measure(self.J, self.S, d))
                shown.update(self.measure_every)
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
                    anneal=None, progress=None):
    """Sample the student posterior of a depth-``depth`` sparse sign network (N units per layer, c inputs per unit)
    trained on M = round(alpha c) teacher-labelled random inputs, from ``start`` (see :class:`PosteriorChain`;
    ``anneal``: :func:`annealed_student`'s keywords); averages use the sweeps after ``burn_in``; ``progress``: a
    bar."""
    if burn_in >= sweeps:
        raise ValueError("burn_in (%d) must be below sweeps (%d)" % (burn_in, sweeps))
    rng = np.random.default_rng(seed)
    data = teacher_data(depth, N, c, alpha, rng, n_test)
    return PosteriorChain(data, start, rng, measure_every, anneal).run(sweeps, progress).result(burn_in)


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


def advance(chain, sweeps):
    """``chain`` run ``sweeps`` more sweeps, returned (in a worker process the chain is a copy that travels back)."""
    return chain.run(sweeps, progress=False)


def bracket(depth, N, c, alpha, max_sweeps, chunk=None, seed=0, measure_every=10, n_test=1000, z=2.0,
            below="annealed", anneal=None, betas=None, swap_every=2, retune=0, progress=None, checkpoint=None,
            executor=None):
    """Run a chain from the teacher and one from the start ``below`` ("annealed", "melted" or the weights of a
    consistent network on these data, see :class:`PosteriorChain`; ``anneal``: the keywords of
    :func:`annealed_student` or :func:`melted_student`) on the same data, ``chunk`` sweeps at a time in two threads,
    until their last-half averages of every Q_l, q_l and epsilon agree within ``z`` combined standard errors and
    neither chain's Q_l drifts by more than ``z`` errors within its last half (:attr:`MCResult.drift`: a chain still
    relaxing, or one that has just jumped, has wide errors and may agree with anything), or each has run
    ``max_sweeps``; :class:`Bracket`.  With ``betas`` both are :class:`TemperedChain` s on that ladder
    (exchanges every ``swap_every`` sweeps); after each of the first ``retune`` chunks both ladders move to the
    :func:`tuned_ladder` of the two chains' pooled exchange rates (:meth:`TemperedChain.retune`).  A chunk has at
    least 20 measurements (a last half of 10 for the batch-means errors).  ``progress``: a bar over the sweeps of
    the chains up to ``max_sweeps`` (None, True, False as :func:`~symbolic_rg.parallel.bar`), or a callable, called
    after every chunk with the sweeps so far and the two chains' :class:`MCResult` s.  A RuntimeError from the start (no
    consistent network found) propagates.  ``checkpoint``: a file to which both chains are saved (pickled) after every
    chunk; a call with the same arguments and that file resumes from it and gives the same chains as one run without a
    stop (a larger ``max_sweeps`` extends a run that stopped at ``max_sweeps``; a file from other arguments is a
    ValueError).  ``executor``: where the two chains run each chunk (any :class:`concurrent.futures.Executor` or a
    ``dask.distributed.Client``; default two threads here): a chain travels with its random state, so the result is
    the same on any executor."""
    if not isinstance(below, np.ndarray) and below not in ("annealed", "melted"):
        raise ValueError("below must be 'annealed', 'melted' or a weight array, got %r" % (below,))
    if max_sweeps < 20 * measure_every:
        raise ValueError("max_sweeps must be at least 20 x measure_every = %d, got %d"
                         % (20 * measure_every, max_sweeps))
    if retune and betas is None:
        raise ValueError("retune needs betas (the ladder to tune), got retune=%r without betas" % (retune,))
    callback = progress if callable(progress) else None
    if callback is None:
        checks.flag("progress", progress)
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
    pool = parallel.executor_of(executor)
    with (ThreadPoolExecutor(2) if pool is None else contextlib.nullcontext(pool)) as pool, \
            parallel.bar(max_sweeps, "bracket", None if callback else progress, "sweep") as shown:
        shown.update(min(chains[0].sweeps, max_sweeps))
        while not finished:
            if 1 <= done <= retune:                      # before the next chunk, from the rates since the last retune
                pooled = sum(ch.accepted for ch in chains) / np.maximum(sum(ch.attempts for ch in chains), 1)
                for ch in chains:
                    ch.retune(pooled[:-1])
            chains = list(pool.map(advance, chains, [chunk] * len(chains)))
            done += 1
            a, b = (ch.result() for ch in chains)
            shown.update(min(chains[0].sweeps, max_sweeps) - shown.n)
            if callback is not None:
                callback(chains[0].sweeps, a, b)
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


class RandomData(NamedTuple):
    """Random scenario: M = round(alpha c) iid +-1 training inputs S0 (M, N) and iid +-1 labels y (M, N) of every
    output unit, the margin kappa (a consistent network has S_i h_i >= kappa for every unit and pattern, h = J_i . S /
    sqrt(c), and S = y at the outputs), on the sparse graph of ``graph`` (its rows, random, serve only as the gauge
    reference of :func:`annealed_student`), fresh +-1 inputs X on which two networks' gauges are aligned, and the
    null of the squared per-unit spin overlap (:func:`spin_null`)."""
    graph: SparseNetwork
    S0: np.ndarray
    y: np.ndarray
    kappa: float
    X: np.ndarray
    q2_null: np.ndarray            # (L - 1,)


def spin_null(graph, S0, rng, pairs=100):
    r"""Per hidden layer, :math:`\nu_l = \overline{q_i^2}` over ``pairs`` pairs of independent networks with uniform
    spherical rows on ``graph``, :math:`q_i = S^A_i\cdot S^B_i / M` on the inputs S0: the value of an uncorrelated
    pair, 1/M from the patterns plus the overlap of two units' functions that independent rows of finite length c
    give (about (2/pi)^2 / c in layer 1, which has the same inputs in both)."""
    L, N, c = graph.weights.shape
    q2 = np.zeros(L - 1)
    for _ in range(pairs):
        SA, SB = (forward(on_sphere(rng.standard_normal((L, N, c))), graph.inputs, S0) for _ in range(2))
        q2 += np.mean((np.einsum("lmi,lmi->li", SA[1:L], SB[1:L]) / S0.shape[0]) ** 2, axis=1)
    return q2 / pairs


def random_data(depth, N, c, alpha, rng, kappa=0.0, n_test=500, null_pairs=100):
    """:class:`RandomData` for ``depth`` layers of N units with c inputs each, at load alpha = M / c and margin
    kappa."""
    M = int(round(alpha * c))
    if M < 1:
        raise ValueError("alpha c must give at least one pattern, got alpha = %r, c = %r" % (alpha, c))
    if not kappa >= 0:
        raise ValueError("kappa must be >= 0, got %r" % (kappa,))
    graph = sparse_network(depth, N, c, rng)
    pm = [-1.0, 1.0]
    S0, y, X = rng.choice(pm, size=(M, N)), rng.choice(pm, size=(M, N)), rng.choice(pm, size=(n_test, N))
    return RandomData(graph, S0, y, float(kappa), X, spin_null(graph, S0, rng, null_pairs))


def pair_overlaps(JA, SA, JB, SB, data):
    r"""One measurement of the overlaps between networks A and B (weights J, spins S on the training inputs), per
    layer, as the row (Q_l (L), q_l (L - 1), Q_l^2 (L), q_l^2 (L - 1), flipped fraction (L - 1)).

    Aligned: B is brought to the gauge closest to A (:func:`gauge_signs` on the fresh inputs X, per hidden unit),
    :math:`Q_l = \frac{1}{Nc}\sum_{ik} J^A_{ik}\tilde J^B_{ik}`, :math:`q_l = \frac{1}{NM}\sum_{i\mu} S^A_{i\mu}
    \tilde S^B_{i\mu}`.  Each hidden unit's sign is chosen by its own agreement, so a unit uncorrelated between A and
    B reads about :math:`\sqrt{2/(\pi c)}`, not 0.  Gauge-invariant: from the per-unit overlaps
    :math:`r_i = J^A_i\cdot\tilde J^B_i / c` (input columns aligned, the unit's own sign squared away) and
    :math:`q_i = S^A_i\cdot S^B_i / M` (no alignment), less the value of an uncorrelated pair:
    :math:`\widehat{Q^2_l} = (\overline{r_i^2} - 1/c)/(1 - 1/c)` (r_i = Q + noise of variance (1 - Q^2)/c for rows of
    overlap Q), :math:`\widehat{q^2_l} = (\overline{q_i^2} - \nu_l)/(1 - \nu_l)` (:math:`\nu_l`:
    :func:`spin_null`).  Both are 0 on average for independent networks, Q^2 (q^2) where every unit has the overlap
    Q (q), the mean of Q_i^2 otherwise."""
    idx = data.graph.inputs
    L, N, c = JA.shape
    M = SA.shape[1]
    nu = data.q2_null
    sigma = gauge_signs(forward(JB, idx, data.X), forward(JA, idx, data.X))
    r = np.einsum("lik,lik->li", JA, gauged(JB, idx, sigma)) / c
    qi = np.einsum("lmi,lmi->li", SA[1:L], SB[1:L]) / M
    return np.concatenate([r.mean(axis=1), (sigma[1:L] * qi).mean(axis=1),
                           ((r ** 2).mean(axis=1) - 1 / c) / (1 - 1 / c), ((qi ** 2).mean(axis=1) - nu) / (1 - nu),
                           (sigma[1:L] < 0).mean(axis=1)])


class ReplicaOverlaps(NamedTuple):
    """Overlaps between two chains on the same :class:`RandomData`, averaged over the pairs measured after the burn-in
    (every ``measure_every`` sweeps), with standard errors from 10 batch means; see :func:`pair_overlaps` for the
    aligned (Q, q) and the gauge-invariant (Q2, q2: estimates of Q_l^2, q_l^2) estimators.  The theory's Q_l, q_l
    are to be compared with sqrt(Q2), sqrt(q2): the aligned estimator reads about sqrt(2/(pi c)) (0.25 at c = 10)
    in a layer whose units are uncorrelated, where the theory's liquid has 0, while the invariant one is 0 there
    on average; where the overlaps are large the two agree (the invariant one is the root mean square of the units'
    overlaps, the aligned one their mean).  Where the theory breaks replica symmetry (1RSB: overlap Q^(0) between
    states, Q^(1) within one), two chains that stay in their states read Q^(0) from independent starts and Q^(1)
    from the same start; chains that cross between states read the mean over both, m Q^(0)^2 + (1 - m) Q^(1)^2 in
    Q2."""
    Q: np.ndarray                  # (L,) aligned weight overlap per layer
    Q_err: np.ndarray
    q: np.ndarray                  # (L - 1,) aligned spin overlap per hidden layer, training inputs
    q_err: np.ndarray
    Q2: np.ndarray                 # (L,) gauge-invariant estimate of Q_l^2
    Q2_err: np.ndarray
    q2: np.ndarray                 # (L - 1,) gauge-invariant estimate of q_l^2
    q2_err: np.ndarray
    memory: np.ndarray             # (2L - 1,) Q2 then q2 of each chain's last network with its own at the burn-in,
                                   # averaged over the two chains: above the pair's value where a chain has not left
                                   # the region it started in
    drift: np.ndarray              # (2L - 1,) Q2 then q2: (last half - first half of the kept pairs) / (2 errors)
    settled: bool                  # every |drift| <= z
    sweeps: int                    # per chain, burn-in included
    burn_in: int
    start: str
    trace: np.ndarray              # (rows, 5L - 3): every pair_overlaps row from the start, one per measure_every
    weights: tuple                 # (J_A, J_B) at the end: ``start`` of a call that continues the two chains


def _chain_start(data, J, rng, anneal):
    """Weights J (checked, copied) or, for None, an :func:`annealed_student` of ``data``, with its spins on S0."""
    g = data.graph
    if J is None:
        J = annealed_student(g, data.S0, data.y, rng, kappa=data.kappa, **(anneal or {}))
    elif np.shape(J) != g.weights.shape or not np.allclose(np.einsum("lik,lik->li", J, J), g.weights.shape[2]):
        raise ValueError("start: weights must have shape %s (depth, N, c) and rows of squared norm c"
                         % (g.weights.shape,))
    J = np.array(J, dtype=np.float64)
    S = forward(J, g.inputs, data.S0)
    E = violations(J, g.inputs, S, data.y, data.kappa)
    if E:
        raise ValueError("start: the network violates %d constraints (wrong labels, fields below kappa = %g); a start "
                         "must satisfy every one" % (E, data.kappa))
    return J, S


def replica_overlaps(data, sweeps, rng, burn_in=None, measure_every=10, start="independent", anneal=None, z=2.0,
                     progress=None):
    """Two chains of the uniform measure over the networks that reproduce every label of ``data`` (slice moves,
    :func:`metropolis_sweeps`), ``sweeps`` each, and their overlaps (:func:`pair_overlaps`) every ``measure_every``
    sweeps, averaged after ``burn_in`` (default: half); :class:`ReplicaOverlaps`.  ``start="independent"``: each chain
    from its own :func:`annealed_student` (``anneal``: its keywords), the two replicas of the theory once both have
    equilibrated (the pair's overlaps start near 0: from below); ``"same"``: B starts as a copy of A (overlaps from 1:
    from above; where the measure splits into states, 1RSB, the pair then measures the overlap within one state); or
    a pair (J_A, J_B) of consistent weights (``start`` then reads ``"given"``; e.g. :attr:`ReplicaOverlaps.weights`
    to continue a run).  The margin is ``data.kappa``; ``progress``: a bar."""
    if isinstance(start, str) and start not in ("independent", "same"):
        raise ValueError("start must be 'independent', 'same' or a pair of weight arrays, got %r" % (start,))
    burn_in = sweeps // 2 if burn_in is None else burn_in
    if sweeps - burn_in < 20 * measure_every:
        raise ValueError("sweeps - burn_in must be at least 20 x measure_every = %d (10 batch means of a last half), "
                         "got %d" % (20 * measure_every, sweeps - burn_in))
    g = data.graph
    given = (None, None) if isinstance(start, str) else start
    chains = [_chain_start(data, given[0], rng, anneal)]
    chains.append((chains[0][0].copy(), chains[0][1].copy()) if start == "same"
                  else _chain_start(data, given[1], rng, anneal))
    start = start if isinstance(start, str) else "given"
    seeds = [int(s) for s in rng.integers(2 ** 31, size=2)]
    shrinks, zero = np.zeros(1, np.int64), np.zeros(1, np.int64)
    first = burn_in // measure_every                      # the first kept row; its reference: the networks before it
    rows, reference = [], [(J.copy(), S.copy()) for J, S in chains]
    with parallel.bar(sweeps // measure_every * measure_every, "replica pair", progress, "sweep") as shown:
        for t in range(sweeps // measure_every):
            if t == first:
                reference = [(J.copy(), S.copy()) for J, S in chains]
            for (J, S), seed in zip(chains, seeds):
                metropolis_sweeps(J, g.inputs, *g.readers, S, data.y, measure_every, seed + t, shrinks, zero, 0,
                                  np.inf, data.kappa)
            rows.append(pair_overlaps(*chains[0], *chains[1], data))
            shown.update(measure_every)
    L = g.weights.shape[0]
    rows = np.array(rows)
    x = rows[first:]
    mean, err = x.mean(axis=0), _batch_error(x)
    half = x.shape[0] // 2
    inv = slice(2 * L - 1, 4 * L - 2)
    drift = (x[half:, inv].mean(axis=0) - x[:half, inv].mean(axis=0)) / np.maximum(2 * err[inv], 1e-12)
    memory = np.mean([pair_overlaps(*old, *new, data)[inv] for old, new in zip(reference, chains)], axis=0)
    a, b = slice(0, L), slice(L, 2 * L - 1)
    c, d = slice(2 * L - 1, 3 * L - 1), slice(3 * L - 1, 4 * L - 2)
    return ReplicaOverlaps(mean[a], err[a], mean[b], err[b], mean[c], err[c], mean[d], err[d], memory, drift,
                           bool(np.all(np.abs(drift) <= z)), len(rows) * measure_every, burn_in, start, rows,
                           (chains[0][0], chains[1][0]))
