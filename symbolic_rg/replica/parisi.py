r"""The rules of the Sherrington–Kirkpatrick replica calculation: the pair action with its conjugate eliminated, the
Parisi :math:`k`-step ansatz (pair sums, nested decoupling of the spin trace), the quenched limit, and the zero-temperature
Gaussian rule; :mod:`symbolic_rg.replica.sk` composes them into the theory."""
from __future__ import annotations

import sympy as sp

from .. import checks
from ..special import H, gaussian_measure

__all__ = ["ParisiRSB", "pair_action", "quenched_limit", "integrate_constants", "abs_exponential_average", "n", "beta"]

n = sp.Symbol("n")                                   # number of replicas
beta = sp.Symbol("beta", positive=True)              # inverse temperature


def pair_action(Q, coupling):
    r"""One ordered pair :math:`a\ne b` of the replicated action with its conjugate eliminated: the disorder average
    gives :math:`\tfrac c4Q^2` (:math:`c = \beta^2` for SK), the delta function fixing :math:`Q` gives
    :math:`-\tfrac12\Lambda Q` and :math:`\tfrac12\Lambda S^aS^b` in the trace; :math:`\partial_Q = 0` gives
    :math:`\Lambda = cQ`.  Returns (the pair's term, :math:`\Lambda` at the saddle point): (:math:`-cQ^2/4`, :math:`cQ`)."""
    Lam = sp.Symbol("Lambda")
    action = coupling * Q ** 2 / 4 - Lam * Q / 2
    (saddle,) = sp.solve(sp.diff(action, Q), Lam)
    return sp.expand(action.subs(Lam, saddle)), saddle


class ParisiRSB:
    r""":math:`k`-step replica-symmetry-breaking ansatz (:math:`k = 0`: replica symmetric) over :math:`n` replicas.

    Overlaps :math:`q_0..q_k`, block sizes :math:`m_1..m_k` (:math:`m_0 = n`, :math:`m_{k+1} = 1`)."""

    def __init__(self, k):
        self.k = checks.integer("k (steps of replica-symmetry breaking)", k, low=0)
        self.q = tuple(sp.Symbol("q_%d" % j, nonnegative=True) for j in range(k + 1))
        self.m = tuple(sp.Symbol("m_%d" % j, positive=True) for j in range(1, k + 1))
        self.z = tuple(sp.Symbol("z_%d" % j, real=True) for j in range(k + 1))

    def sizes(self):
        """(m_0 = n, m_1, ..., m_k, m_{k+1} = 1)."""
        return (n,) + self.m + (sp.S.One,)

    def pair_counts(self):
        r"""{q_j: the number of ordered pairs :math:`a\ne b` at overlap :math:`q_j`} = :math:`n(m_j - m_{j+1})`."""
        M = self.sizes()
        return {self.q[j]: n * (M[j] - M[j + 1]) for j in range(self.k + 1)}

    def pair_sum(self, f):
        r""":math:`\sum_{a\ne b}f(Q_{ab})` for a function ``f`` of one overlap."""
        return sum(count * f(qj) for qj, count in self.pair_counts().items())

    def field(self):
        r""":math:`h = \sum_j\sqrt{q_j - q_{j-1}}\,z_j` (:math:`q_{-1} = 0`): the Gaussian field of one replica."""
        lower = (sp.S.Zero,) + self.q[:-1]
        return sum(sp.sqrt(qj - ql) * zj for qj, ql, zj in zip(self.q, lower, self.z))

    def pairs(self, values):
        r"""[(number of ordered pairs :math:`a\ne b`, value)] of a Parisi matrix whose off-diagonal entries at level
        :math:`j` are ``values[j]``: :math:`n(m_j - m_{j+1})` pairs each."""
        return list(zip(self.pair_counts().values(), values))

    def eigenvalues(self, diagonal, values):
        r"""[(multiplicity, eigenvalue)] of the :math:`n\times n` Parisi matrix with ``diagonal`` and level values
        ``values`` (:math:`v_0..v_k`): constant vectors on the blocks of level :math:`j+1` summing to zero on those of
        level :math:`j` have :math:`\lambda_j = d - v_k + \sum_{i>j}m_i(v_i - v_{i-1})`, multiplicity
        :math:`n/m_{j+1} - n/m_j`; the constant vector :math:`\lambda_0 + nv_0`, once."""
        M = self.sizes()
        k = self.k
        out = []
        for j in range(k, -1, -1):
            lam = diagonal - values[k] + sum(M[i] * (values[i] - values[i - 1]) for i in range(j + 1, k + 1))
            out.append((n / M[j + 1] - n / M[j], lam))
        out.append((sp.S.One, out[-1][1] + n * values[0]))
        return out

    def level_field(self, values, variables):
        r""":math:`\sum_j\sqrt{v_j - v_{j-1}}\,g_j` (:math:`v_{-1} = 0`): a field whose replicas have covariance
        :math:`v_j` at level :math:`j`, one standard normal ``variables[j]`` per level (shared by a block)."""
        lower = (sp.S.Zero,) + tuple(values[:-1])
        return sum(sp.sqrt(v - l) * g for v, l, g in zip(values, lower, variables))

    def nested_average(self, zeta, fields):
        r""":math:`\int\prod Dg_0\big[\int\prod Dg_1[\cdots\int\prod Dg_k\,\zeta^{m_k}\cdots]^{m_1/m_2}\big]^{n/m_1}`:
        :math:`\prod_a\zeta(\text{fields of replica }a)` averaged over Gaussian fields with a Parisi covariance.
        ``fields`` maps each field symbol of ``zeta`` to (level values :math:`v_0..v_k`, one Gaussian variable per
        level); each field is decoupled by :meth:`level_field`, the variables of level :math:`j` integrated at
        level :math:`j`, innermost first."""
        M = self.sizes()
        inner = zeta.subs({f: self.level_field(v, g) for f, (v, g) in fields.items()}) ** M[self.k]
        for j in range(self.k, -1, -1):
            variables = [g[j] for _, g in fields.values()]
            weight = sp.Mul(*[gaussian_measure(g) for g in variables])
            inner = sp.Integral(inner * weight, *[(g, -sp.oo, sp.oo) for g in variables])
            if j:
                inner = inner ** (M[j - 1] / M[j])
        return inner

    def replicated_trace(self, zeta, coupling):
        r""":math:`\ln\operatorname{Tr}_{\{S^a\}}\exp(\tfrac12\,\mathrm{coupling}\sum_{a\ne b}Q_{ab}S^aS^b)` for spins whose
        one-replica partition function in a field is ``zeta(h)``: the quadratic form
        :math:`q_0(\sum_aS^a)^2 + \sum_j(q_j - q_{j-1})\sum_{\rm blocks}(\sum_{a\in B_j}S^a)^2 - nq_k` decoupled by one
        Gaussian field per level, innermost first."""
        M = self.sizes()
        scale = sp.sqrt(coupling)
        inner = zeta(scale * self.field()) ** M[self.k]
        for j in range(self.k, -1, -1):
            inner = sp.Integral(inner * gaussian_measure(self.z[j]), (self.z[j], -sp.oo, sp.oo))
            if j:
                inner = inner ** (M[j - 1] / M[j])
        return -n * coupling * self.q[-1] / 2 + sp.log(inner)


def integrate_constants(expr):
    r"""Rule of Gaussian integration, :math:`\int Dz\,c = c`: every :math:`\int\prod Dz_i` whose integrand is free of
    its variables apart from their densities is replaced by that integrand."""
    def plain(e):
        return sp.expand(e.function / sp.Mul(*[gaussian_measure(lim[0]) for lim in e.limits]))

    def trivial(e):
        return isinstance(e, sp.Integral) and not plain(e).has(*[lim[0] for lim in e.limits])
    return expr.replace(trivial, plain)


def quenched_limit(G):
    r""":math:`\phi = \lim_{n\to0}G(n)/n = \partial_nG|_{n=0}` (:math:`G(0) = 0` checked), differentiating under the
    integral sign; the normalizations :math:`\int Dz\,1` at :math:`n = 0` evaluated."""
    if integrate_constants(G.subs(n, 0)) != 0:
        raise ValueError("G(0) must vanish: %s" % integrate_constants(G.subs(n, 0)))
    return integrate_constants(sp.diff(G, n).subs(n, 0))


def abs_exponential_average(mu, a, b):
    r"""Rule of Gaussian integration: :math:`\int Dz\,e^{\mu|a+bz|} = e^{\mu^2b^2/2}\big[e^{\mu a}H(-a/b-\mu b) +
    e^{-\mu a}H(a/b-\mu b)\big]` (:math:`b>0`; the two half-lines :math:`a + bz \gtrless 0`, each a shifted Gaussian)."""
    return sp.exp(mu ** 2 * b ** 2 / 2) * (sp.exp(mu * a) * H(-a / b - mu * b) + sp.exp(-mu * a) * H(a / b - mu * b))
