r"""Which stationary point is physical: the variational principle of each kind of order parameter.

A replica saddle point is an extremum, but not of one sign in every direction.  Each order parameter knows its
:class:`Kind`, and the kind fixes the direction:

* an **inter-replica overlap** (:math:`q_{ab}`, :math:`Q_{ab}`, :math:`a<b`) is one of :math:`n(n-1)/2` parameters,
  a negative number as :math:`n\to0`, so the quenched free entropy is the **infimum** over the overlaps: Guerra's
  bound (SK: :math:`\phi\le\phi_{\rm RS}(q)` for every :math:`q`, and for every :math:`k`-step ansatz; Guerra,
  Commun. Math. Phys. 233, 1 (2003)) and the Parisi formula (:math:`\phi = \inf_{q(x)}\mathcal P[q(x)]`; Talagrand,
  Ann. Math. 163, 221 (2006); Mézard, Parisi, Virasoro, *Spin Glass Theory and Beyond*, 1987).  The Parisi
  breakpoints :math:`m_j` parametrize :math:`q(x)` and are minimized over with it;
* a **single-replica** (conventional) parameter, e.g. a magnetization, is maximized over, as in any mean-field
  theory without replicas;
* a **Nishimori** overlap (student-teacher overlap of Bayes-optimal inference, the teacher one more replica,
  :math:`n\to1`) is maximized over: the posterior is dominated by the state of largest free entropy (Zdeborová,
  Krzakala, Adv. Phys. 65, 453 (2016));
* a **conjugate** (:math:`\hat q`, :math:`\hat Q`) is eliminated by its own equation and sets no direction.

With both directions present the rule is min–max, :math:`\phi^* = \max_{\rm conventional}\min_{\rm overlaps}\phi`: over a
finite set of stationary points, points with equal conventional parameters compete by the smallest free entropy,
the winners by the largest.

>>> from symbolic_rg.replica.selection import OVERLAP, physical_index
>>> physical_index([1.693147, 1.584786], [[0.0], [0.530368]], [OVERLAP])   # SK at T = 0.5: q = 0 is rejected
1
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ParameterError

__all__ = ["Kind", "OVERLAP", "BREAKPOINT", "SINGLE_REPLICA", "NISHIMORI", "CONJUGATE", "physical_index",
           "rule_statement", "reduced_hessian", "longitudinal_eigenvalues", "wrong_directions"]


class Kind(NamedTuple):
    """A kind of order parameter: its name, the direction of the extremum (-1 minimized, +1 maximized, 0 eliminated
    by its own equation) and why."""
    name: str
    direction: int
    reason: str


OVERLAP = Kind("inter-replica overlap", -1,
               "n(n-1)/2 parameters, a negative number as n -> 0: the infimum (Guerra 2003; Talagrand 2006; "
               "Mezard-Parisi-Virasoro 1987)")
BREAKPOINT = Kind("Parisi breakpoint", -1, "a parameter of q(x), minimized with it (Parisi formula: phi = inf over "
                                           "q(x); Talagrand 2006)")
SINGLE_REPLICA = Kind("single-replica parameter", +1, "maximized, as without replicas")
NISHIMORI = Kind("overlap on the Nishimori line", +1,
                 "Bayes-optimal: the posterior is dominated by the state of largest free entropy "
                 "(Zdeborova-Krzakala 2016)")
CONJUGATE = Kind("conjugate", 0, "eliminated by its own equation")


def _directions(kinds):
    kinds = list(kinds)
    for k in kinds:
        if not isinstance(k, Kind):
            raise ParameterError("kinds must be selection.Kind values (OVERLAP, BREAKPOINT, SINGLE_REPLICA, "
                                 "NISHIMORI, CONJUGATE), got %r" % (k,))
    return np.array([k.direction for k in kinds])


def physical_index(free_entropies, coordinates, kinds, atol=1e-6):
    r"""Index of the physical point among stationary points by the min–max rule.

    ``free_entropies[i]`` is :math:`\phi` at point ``i``, ``coordinates[i]`` its order parameters in the order of
    ``kinds``.  Points whose maximized (conventional, Nishimori) coordinates agree within ``atol`` form a group; in a
    group the smallest :math:`\phi` wins (minimum over the overlaps), between groups the largest.  Only overlaps:
    the smallest :math:`\phi`; only maximized kinds: the largest."""
    phi = np.asarray(free_entropies, float)
    if phi.size == 0:
        raise ParameterError("physical_index: no stationary points to choose from")
    if not np.all(np.isfinite(phi)):
        raise ParameterError("physical_index: every free entropy must be finite, got %s" % phi)
    X = np.asarray(coordinates, float).reshape(phi.size, -1)
    up = _directions(kinds) > 0
    if X.shape[1] != up.size:
        raise ParameterError("physical_index: %d coordinates per point but %d kinds" % (X.shape[1], up.size))
    winners = []
    for i in np.argsort(phi):                           # ascending: the first of a group is its minimum
        if not any(np.allclose(X[i, up], X[j, up], atol=atol) for j in winners):
            winners.append(i)
    return int(max(winners, key=lambda i: phi[i]))


def rule_statement(kinds):
    """The rule as a sentence with its references (the ``rule`` field of a solution)."""
    present = []
    for k in kinds:
        if k.direction != 0 and k not in present:
            present.append(k)
    down = [k for k in present if k.direction < 0]
    up = [k for k in present if k.direction > 0]
    parts = ["%s over %ss (%s)" % ("minimum" if k.direction < 0 else "maximum", k.name, k.reason) for k in present]
    if down and up:
        head = "min-max of the free entropy: maximum over the conventional parameters of the minimum over the overlaps"
    elif down:
        head = "smallest free entropy among the stationary points"
    else:
        head = "largest free entropy among the stationary points"
    return head + ": " + "; ".join(parts)


def reduced_hessian(hessian, kinds):
    r"""Hessian of :math:`\phi` over the non-conjugate parameters with the conjugates eliminated by their own equations
    (Schur complement :math:`H_{oo} - H_{oc}H_{cc}^{-1}H_{co}`): the curvature of :math:`\operatorname{extr}_{\hat q}\phi`."""
    H = np.asarray(hessian, float)
    d = _directions(kinds)
    o, c = np.flatnonzero(d != 0), np.flatnonzero(d == 0)
    if c.size == 0:
        return H[np.ix_(o, o)]
    return H[np.ix_(o, o)] - H[np.ix_(o, c)] @ np.linalg.solve(H[np.ix_(c, c)], H[np.ix_(c, o)])


def longitudinal_eigenvalues(hessian, kinds):
    r"""Eigenvalues (ascending) of the curvature of :math:`\phi` in the replica-symmetric directions, conjugates
    eliminated, each block oriented by its kind's direction so that all are negative where the point is a local
    extremum of the kind the rule asks for — the same sign convention as the replicon eigenvalue (negative: stable).
    Only one direction: :math:`\mathrm{eig}(\pm\partial^2\phi)` (minimized: negated).  Both (the rule
    :math:`\max_u\min_d\phi`): :math:`-\mathrm{eig}(H_{dd})` (a minimum over the overlaps at fixed conventional
    parameters) and :math:`\mathrm{eig}(H_{uu} - H_{ud}H_{dd}^{-1}H_{du})` (a maximum of that minimum)."""
    return np.sort(np.concatenate([v for v, _ in _oriented_blocks(hessian, kinds)] or [np.empty(0)]))


def _oriented_blocks(hessian, kinds):
    r"""[(eigenvalues, vectors over the non-conjugate coordinates)] of the oriented curvature blocks (see
    :func:`longitudinal_eigenvalues`); a vector of the maximized block is completed by the minimizing response
    :math:`\delta_d = -H_{dd}^{-1}H_{du}\delta_u`."""
    d = _directions(kinds)
    R = reduced_hessian(hessian, kinds)
    dd = d[d != 0]
    up, down = np.flatnonzero(dd > 0), np.flatnonzero(dd < 0)
    out = []
    if down.size:
        w, V = np.linalg.eigh(-R[np.ix_(down, down)])
        E = np.zeros((dd.size, w.size))
        E[down] = V
        out.append((w, E))
    if up.size:
        S = R[np.ix_(up, up)]
        if down.size:
            S = S - R[np.ix_(up, down)] @ np.linalg.solve(R[np.ix_(down, down)], R[np.ix_(down, up)])
        w, V = np.linalg.eigh(S)
        E = np.zeros((dd.size, w.size))
        E[up] = V
        if down.size:
            E[down] = -np.linalg.solve(R[np.ix_(down, down)], R[np.ix_(down, up)] @ V)
        out.append((w, E))
    return out


def wrong_directions(hessian, kinds, threshold=0.0):
    r"""Directions (over every coordinate) in which a stationary point fails to be the extremum its kinds ask for:
    the eigenvectors of :func:`longitudinal_eigenvalues`' blocks with a positive eigenvalue, each completed by the
    displacement of the conjugates that keeps their own equations, :math:`\delta_c = -H_{cc}^{-1}H_{co}\delta_o`.  A
    point selected by the rule that has such a direction is not the physical one: a stationary point lies beyond it.
    ``threshold``: eigenvalues up to it count as zero (a flat direction, e.g. the breakpoint m at an RS point)."""
    H = np.asarray(hessian, float)
    d = _directions(kinds)
    o, c = np.flatnonzero(d != 0), np.flatnonzero(d == 0)
    out = []
    for w, E in _oriented_blocks(H, kinds):
        for i in np.flatnonzero(w > threshold):
            full = np.zeros(d.size)
            full[o] = E[:, i]
            if c.size:
                full[c] = -np.linalg.solve(H[np.ix_(c, c)], H[np.ix_(c, o)] @ E[:, i])
            out.append(full)
    return out
