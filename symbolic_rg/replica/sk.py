r"""Sherrington–Kirkpatrick model through the replica machinery, with :math:`k`-step replica-symmetry breaking.

**Model.** :math:`N` Ising spins, :math:`H = -\sum_{i<j}J_{ij}S_iS_j` with Gaussian couplings of variance :math:`1/N`,
no field; :math:`T_c = 1`.  The free entropy per spin :math:`\phi = -\beta f` includes :math:`\ln 2`.

**Derivation** (each step one rule, composed by :class:`SKTheory`):

* the disorder average gives :math:`\tfrac{\beta^2}4\sum_{a\ne b}Q_{ab}^2`, the overlaps fixed by conjugates
  :math:`\Lambda_{ab}` eliminated at their saddle point (:func:`pair_action`);
* the :class:`ParisiRSB` ansatz over :math:`n` replicas: overlaps :math:`q_0\le\dots\le q_k` in nested blocks of sizes
  :math:`n = m_0 \ge m_1\ge\dots\ge m_k\ge m_{k+1} = 1`; a sum over pairs becomes
  :math:`\sum_{a\ne b}f(Q_{ab}) = n\sum_{j}(m_j - m_{j+1})f(q_j)` (:meth:`ParisiRSB.pair_sum`), and the spin trace with
  the coupling :math:`\tfrac12\beta^2\sum_{a\ne b}Q_{ab}S^aS^b` is decoupled level by level by Gaussian fields of
  variances :math:`q_j - q_{j-1}` (:meth:`ParisiRSB.replicated_trace`):
  :math:`e^{-n\beta^2q_k/2}\int Dz_0\big[\int Dz_1[\cdots\int Dz_k\,\zeta(h)^{m_k}\cdots]^{m_1/m_2}\big]^{n/m_1}` with
  :math:`\zeta(h) = 2\cosh\beta h`, :math:`h = \sum_j\sqrt{q_j-q_{j-1}}\,z_j`;
* the quenched limit :math:`\phi = \partial_nG|_{n=0}` (:func:`quenched_limit`), differentiating under the integral
  sign.  For 1RSB: :math:`\phi = \tfrac{\beta^2}4[1 - 2q_1 + m q_0^2 + (1-m)q_1^2] + \tfrac1m\int Dz_0\ln\int Dz_1
  (2\cosh\beta h)^m`.

The saddle-point equations are :math:`\partial\phi/\partial q_j = 0` and :math:`\partial\phi/\partial m_j = 0`, both from
the analytic derivative (:math:`\phi` is flat in :math:`m`).  The physical point is the **infimum** over overlaps and
breakpoints (:mod:`.selection`: Guerra's bound, the Parisi formula): the paramagnet below :math:`T_c` is rejected, and
at zero field the :math:`k`-step point with :math:`q_0 = 0` — stationary by the spin-flip symmetry — is a saddle in
:math:`q_0`: the selected point has :math:`q_0 > 0`, and :math:`\phi_{\rm RS} > \phi_{\rm 1RSB} > \phi_{\rm 2RSB}`.
:math:`e = -\partial_\beta\phi`, :math:`s = \phi + \beta e`.

**Zero temperature** (:attr:`SKTheory.ground_state`): :math:`m_j = \mu_j T`, :math:`q_k\to1`, and
:math:`(2\cosh\beta h)^{m_k}\to e^{\mu_k|h|}` (:math:`\ln 2\cosh x = |x| + O(e^{-2|x|})`), after which the innermost
Gaussian integral is done by the rule :func:`abs_exponential_average`.

**Numerics** (:class:`SKSolver`).  The nested averages by the Parisi recursion on a uniform field grid,
:math:`f_j(x) = \tfrac1{m_j}\ln\mathbb E_z e^{m_jf_{j+1}(x + \sqrt{q_j - q_{j-1}}z)}`, each Gaussian average by the
trapezoid rule on the grid (exponentially accurate: the integrands are analytic in a strip, :math:`\ln\cosh\beta h`
has its singularities :math:`\pi/2\beta` from the real axis, where Gauss–Hermite converges slowly), in log-sum-exp
form; the gradient in every parameter carried exactly through the recursion (:func:`_level`).  The stated error is
the change when the grid is halved.  Newton on the analytic gradient (Hessian by differences of it) from several
starts; the derived expressions evaluated by mpmath (:meth:`SKTheory.mp_free_entropy`) are the independent route.

>>> from symbolic_rg.replica.sk import sk
>>> sol = sk(0).compile().solve(0.5)                      # RS at T = 0.5: the paramagnet q = 0 is rejected
>>> round(sol.q[0], 7), round(sol.free_entropy, 7)
(0.5303684, 1.5847859)
"""
from __future__ import annotations

from functools import cached_property, lru_cache

import mpmath
import sympy as sp

from .. import cache, checks
from .. import latex as _latex
from ..special import gaussian_measure
from .parisi import (ParisiRSB, abs_exponential_average, beta, integrate_constants, n, pair_action,
                     quenched_limit)
from .selection import BREAKPOINT, OVERLAP
from .sk_solver import GRID, GroundState, SKPoint, SKSolution, SKSolver, SKSweep
from .theory import ReplicaLatexPrinter

__all__ = ["ParisiRSB", "SKTheory", "SKSolver", "SKSolution", "SKPoint", "GroundState", "SKSweep", "sk",
           "pair_action", "quenched_limit", "integrate_constants", "abs_exponential_average", "ANSATZE", "beta"]

ANSATZE = {"rs": 0, "1rsb": 1, "2rsb": 2}


# --------------------------------------------------------------------------------------------------------
# theory
# --------------------------------------------------------------------------------------------------------
def _tex(expr):
    return ReplicaLatexPrinter({"ln_notation": False}).doprint(expr)


def _split(expr):
    """(terms without integrals, terms with integrals) of a sum."""
    plain, nested = 0, 0
    for t in sp.Add.make_args(sp.expand(expr, deep=False)):
        if t.has(sp.Integral):
            nested += t
        else:
            plain += t
    return plain, nested


class SKTheory:
    r"""The SK free entropy under the :class:`ParisiRSB` ansatz with ``k`` steps, its saddle-point equations, energy
    and zero-temperature limit.  Order parameters :math:`q_0..q_k` (inter-replica overlaps) and :math:`m_1..m_k`
    (Parisi breakpoints), all minimized over (:mod:`.selection`).

    >>> t = sk(1)
    >>> t.order_parameters, [kind.name for kind in t.order_parameter_kinds]
    ((q_0, q_1, m_1), ['inter-replica overlap', 'inter-replica overlap', 'Parisi breakpoint'])
    """

    def __init__(self, k):
        self.ansatz = ParisiRSB(k)
        self.k = k
        self.q = self.ansatz.q
        self.m = self.ansatz.m
        self.order_parameters = self.q + self.m
        self.order_parameter_kinds = tuple(OVERLAP for _ in self.q) + tuple(BREAKPOINT for _ in self.m)
        self.mu = tuple(sp.Symbol("mu_%d" % j, positive=True) for j in range(1, k + 1))

    def __repr__(self):
        return "SKTheory(k=%d)" % self.k

    @cached_property
    def replicated(self):
        r""":math:`G(n) = \ln\overline{Z^n}/N`: :math:`n\beta^2/4` (diagonal), the pair terms with their conjugates
        eliminated, and the spin trace at the conjugates' saddle point :math:`\Lambda_{ab} = \beta^2Q_{ab}`."""
        A = self.ansatz
        Qs = sp.Symbol("Q")
        term, Lam = pair_action(Qs, beta ** 2)
        return (n * beta ** 2 / 4 + A.pair_sum(lambda qj: term.subs(Qs, qj))
                + A.replicated_trace(lambda x: 2 * sp.cosh(x), sp.simplify(Lam / Qs)))

    @cached_property
    def free_entropy(self):
        r""":math:`\phi = -\beta f` per spin (ln 2 included)."""
        return quenched_limit(self.replicated)

    @cached_property
    def saddle_point_equations(self):
        r""":math:`\partial\phi/\partial\theta = 0` per order parameter (differentiation under the integral sign)."""
        return [sp.Eq(sp.diff(self.free_entropy, t), 0) for t in self.order_parameters]

    @cached_property
    def energy(self):
        r""":math:`e = -\partial_\beta\phi` at fixed order parameters (they are stationary)."""
        return -sp.diff(self.free_entropy, beta)

    @cached_property
    def ground_state(self):
        r""":math:`-e_0 = \lim_{\beta\to\infty}\phi/\beta` with :math:`m_j = \mu_j/\beta`, :math:`q_k = 1 - \chi/\beta`
        (:math:`\chi` drops out), :math:`(2\cosh\beta h)^{m_k}\to e^{\mu_k|h|}`, the innermost integral by
        :func:`abs_exponential_average`.  Order parameters :math:`q_0..q_{k-1}, \mu_1..\mu_k` (RS: none)."""
        chi = sp.Symbol("chi", positive=True)
        A = self.ansatz
        top, zk = A.q[-1], A.z[-1]
        phi = self.free_entropy.subs({mj: uj / beta for mj, uj in zip(self.m, self.mu)})
        plain, nested = _split(phi / beta)
        out = sp.limit(sp.expand(plain.subs(top, 1 - chi / beta)), beta, sp.oo)

        def cosh_power(e):
            return isinstance(e, sp.Pow) and e.base.is_Mul and e.base.has(sp.cosh) or isinstance(e, sp.log) and \
                e.args[0].is_Mul and e.args[0].has(sp.cosh) and not e.args[0].has(sp.Integral)

        def zero_temperature(e):                       # (2 cosh(beta h))^p -> exp(p beta |h|), ln -> beta |h|
            inner = e.base if isinstance(e, sp.Pow) else e.args[0]
            (c,) = inner.atoms(sp.cosh)
            if sp.simplify(inner - 2 * c) != 0:
                raise ValueError("expected 2 cosh(x), got %s" % inner)
            power = sp.expand(e.exp * beta) if isinstance(e, sp.Pow) else None
            field = sp.Abs(sp.expand(c.args[0] / beta))
            return sp.exp(power * field) if power is not None else beta * field

        nested = nested.subs(top, 1).replace(cosh_power, zero_temperature)
        if self.k:
            def match(e):
                return isinstance(e, sp.Integral) and e.limits[0][0] == zk

            def rule(e):
                f = e.function / gaussian_measure(zk)
                (ab,) = f.atoms(sp.Abs)
                arg = sp.expand(ab.args[0])
                b = arg.coeff(zk)
                return abs_exponential_average(self.mu[-1], sp.expand(arg - b * zk), b)
            nested = nested.replace(match, rule)
        def pull(e):                                   # constants out of the integral, the Gaussian density kept in
            c, f = e.function.as_independent(e.limits[0][0], as_Add=False)
            return c * sp.sqrt(2 * sp.pi) * sp.Integral(f / sp.sqrt(2 * sp.pi), *e.limits)
        nested = nested.replace(lambda e: isinstance(e, sp.Integral), pull)
        if nested.has(beta):
            raise ValueError("the zero-temperature limit left beta in %s" % nested)
        return out + nested

    # -- LaTeX ------------------------------------------------------------------------------------------
    def lower(self):
        """The theory of one step fewer (k - 1), whose points the k-step solver embeds; None for RS."""
        return sk(self.k - 1) if self.k else None

    @cached_property
    def free_entropy_parts(self):
        """(closed-form terms, terms with the nested Gaussian trace) of the free entropy."""
        return _split(self.free_entropy)

    @cached_property
    def ground_state_parts(self):
        """(closed-form terms, terms with the nested Gaussian average) of :math:`-e_0`."""
        return _split(self.ground_state)

    def latex_equations(self):
        """[(name, Eq)]: the free entropy, every saddle-point equation, the energy, the zero-temperature limit."""
        phi, e, e0 = sp.Symbol("phi"), sp.Symbol("e"), sp.Symbol("e_0")
        out = [("free entropy", sp.Eq(phi, self.free_entropy))]
        out += [("saddle point %s" % t, eq) for t, eq in zip(self.order_parameters, self.saddle_point_equations)]
        out.append(("energy", sp.Eq(e, self.energy)))
        out.append(("ground state", sp.Eq(e0, -self.ground_state)))
        return out

    def latex(self, document=False):
        name = {0: "replica symmetric", 1: "one-step RSB", 2: "two-step RSB"}.get(self.k, "%d-step RSB" % self.k)
        rows = [r"%s &= %s" % (_tex(eq.lhs), _tex(eq.rhs)) for _, eq in self.latex_equations()]
        body = (r"\paragraph{Sherrington--Kirkpatrick model, %s.} Couplings of variance $1/N$, no field; "
                r"$\phi=-\beta f$ per spin; the physical point is the infimum over the overlaps $q_j$ and the "
                r"breakpoints $m_j$ (Guerra; Talagrand); $e_0$: $T\to0$ with $\mu_j = \beta m_j$ fixed." % name
                + "\n" + r"\begin{align}" + "\n" + " \\\\\n".join(rows) + "\n" + r"\end{align}")
        return _latex.document("SK model, %s" % name, body) if document else body

    def __reduce__(self):
        """Pickles as the derivation (read from the disk cache where it runs: a worker of a sweep)."""
        return sk, (self.k,)

    def _repr_latex_(self):
        """The notebook display: :meth:`latex_equations` as one aligned block."""
        return _latex.display(self.latex_equations(), _tex)

    def compile(self, precision=None, grid=GRID):
        """The :class:`SKSolver` (float64; ``grid``: spacing of the field grid of the recursion).  The solver is
        float64 only (``precision`` must be None); :meth:`mp_free_entropy` evaluates phi at any precision."""
        checks.float64_only(precision, "the SK solver (mp_free_entropy evaluates phi at any precision)")
        return SKSolver(self, grid)

    def mp_free_entropy(self, values, temperature, precision=30):
        r""":math:`\phi` from the derived expression by mpmath quadrature (tanh-sinh, nested) at ``precision`` digits;
        ``values`` in the order of :attr:`order_parameters`: an independent route to the compiled recursion."""
        f = sp.lambdify((beta,) + self.order_parameters, self.free_entropy, "mpmath")
        with mpmath.workdps(precision):
            return f(1 / mpmath.mpf(temperature), *[mpmath.mpf(v) for v in values])


@lru_cache(maxsize=None)
def sk(k):
    """The :class:`SKTheory` with ``k`` steps of replica-symmetry breaking (0: RS): derived once per process and
    stored in the cache directory (keyed by the engine's source) for the next."""
    ParisiRSB(k)                                      # checks k before anything is looked up
    return cache.stored_theory(SKTheory, k, ("free_entropy", "saddle_point_equations", "energy", "ground_state"))
