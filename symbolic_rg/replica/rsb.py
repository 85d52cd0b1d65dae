r"""Replica-symmetry breaking of a :class:`~symbolic_rg.replica.DeepPerceptron` (random scenario): the layer rules of
:mod:`.rules` under the :class:`~symbolic_rg.replica.parisi.ParisiRSB` ansatz with :math:`k` steps.

The replicas are whole networks, so one set of Parisi blocks (sizes :math:`m_1..m_k`) serves every layer: the weight
overlaps :math:`Q_l`, the spin overlaps :math:`q_l` and their conjugates :math:`\hat q_l` each take a value per level,
:math:`Q^{(j)}_l`, :math:`q^{(j)}_l`, :math:`\hat q^{(j)}_l`, and the closure :math:`p_{ab} = q_{ab}(l-1)Q_{ab}(l)` holds
level by level, :math:`p^{(j)}_l = q^{(j)}_{l-1}Q^{(j)}_l` (:math:`q^{(j)}_0 = 1`).  Each rule, one Gaussian integral:

* **weights** (:class:`~.rules.SphericalWeights`): :math:`\operatorname{extr}_A[\tfrac12\operatorname{tr}AQ -
  \tfrac12\ln\det A]` over a Parisi matrix :math:`A`; Parisi matrices share their eigenvectors
  (:meth:`ParisiRSB.eigenvalues`), so the extremum is taken eigenvalue by eigenvalue:
  :math:`\tfrac n2 + \tfrac12\sum_i\mu_i\ln\lambda_i(Q)`;
* **hidden spins** (:class:`~.rules.HiddenSpins`): the pair term :math:`-\sum_{a<b}\hat q_{ab}q_{ab}`
  (:meth:`ParisiRSB.pairs`), the coupling :math:`e^{\sum_{a<b}\hat q_{ab}S^aS^b} = e^{-n\hat q^{(k)}/2}\int\cdots` and
  the pre-activations decoupled level by level (:meth:`ParisiRSB.nested_average`) around the rule's own one-replica
  :math:`\zeta(x, y)`, whose own noise has variance :math:`1 - p^{(k)}`;
* **outputs** (:class:`~.rules.OutputSpins`): :math:`\ln\tfrac12\sum_S` of the nested average of :math:`\zeta_S(x)`;
* the quenched limit :math:`\phi = \partial_nG|_{n=0}` (:func:`~.parisi.quenched_limit`).

For 1RSB, with :math:`x = \sqrt{p_0}z_0 + \sqrt{p_1 - p_0}z_1`, :math:`y = \sqrt{\hat q_0}w_0 + \sqrt{\hat q_1 -
\hat q_0}w_1`: :math:`G_S = \tfrac m2\hat q_0q_0 - \tfrac{m-1}2\hat q_1q_1 - \tfrac{\hat q_1}2 + \tfrac1m\int Dz_0Dw_0
\ln\int Dz_1Dw_1\,\zeta(x, y)^m`.  The saddle point is stationary in every :math:`Q^{(j)}, q^{(j)}, \hat q^{(j)}` and
in :math:`m`; the physical point is the infimum over the overlaps and the breakpoint (:mod:`.selection`).  At
:math:`m = 1` or :math:`x^{(1)} = x^{(0)}` for every overlap the free entropy is the replica-symmetric one
(:meth:`RSBTheory.reduced`, checked symbolically in the tests).

>>> import symbolic_rg as srg
>>> t = srg.derive(srg.deep_perceptron(2, "random", ansatz="1rsb"))
>>> t.order_parameters
(Q_1__0, Q_1__1, Q_2__0, Q_2__1, q_1__0, q_1__1, qhat_1__0, qhat_1__1, m_1)
>>> [k.name for k in t.order_parameter_kinds][-3:]
['conjugate', 'conjugate', 'Parisi breakpoint']
"""
from __future__ import annotations

from functools import cached_property, lru_cache

import sympy as sp

from .. import cache, checks
from .. import latex as _latex
from ..errors import ParameterError
from ..special import H, gaussian_measure
from .parisi import ParisiRSB, integrate_constants, n, quenched_limit
from .rsb_kernels import BULK
from .rsb_solver import NODES, RSBSolver
from .rules import DeepPerceptron, HiddenSpins, OutputSpins, Q_, alpha, q_, qhat_, x, y
from .selection import BREAKPOINT, CONJUGATE, OVERLAP
from .theory import ReplicaLatexPrinter, derive_replica

__all__ = ["RSBTheory", "rsb_theory", "level_symbol", "smoothed_step", "exponential_average", "same_free_entropy"]


def level_symbol(name, l, j):
    r"""The level-:math:`j` value of an overlap of layer :math:`l` (``Q``, ``q``, ``qhat``): :math:`Q^{(j)}_l`, ...;
    :math:`q^{(j)}_0 = 1` (the inputs are the same for every replica)."""
    if name == "q" and l == 0:
        return sp.S.One
    return sp.Symbol("%s_%d__%d" % (name, l, j), positive=True)


def smoothed_step(expr, var):
    r"""Rule of Gaussian integration: :math:`\int Dz\,H(A + Bz) = H(A/\sqrt{1 + B^2})` (the probability that
    :math:`u - Bz > A` for independent standard normals :math:`u, z`), applied to every :math:`H` linear in ``var``."""
    def rule(arg):
        B = sp.diff(arg, var)
        if B.has(var):
            raise ValueError("H(%s) is not linear in %s" % (arg, var))
        num, den = sp.fraction(sp.together(B))        # 1 + B^2 = (den^2 + num^2) / den^2, den a positive root
        return H(sp.expand((arg - B * var) * den) / sp.sqrt(sp.expand(den ** 2 + num ** 2)))
    return expr.replace(lambda e: isinstance(e, H) and e.args[0].has(var), lambda e: rule(e.args[0]))


def exponential_average(expr, var):
    r"""Rule of Gaussian integration: :math:`\int Dw\,e^{cw + d} = e^{c^2/2 + d}`, for an ``expr`` whose dependence on
    ``var`` is one exponential of a linear form."""
    expr = sp.powsimp(expr, combine="exp")
    (e,) = [f for f in sp.Mul.make_args(expr) if f.has(var)]
    if not isinstance(e, sp.exp) or sp.diff(e.args[0], var, 2) != 0:
        raise ValueError("%s is not an exponential of a linear form in %s" % (e, var))
    c = sp.diff(e.args[0], var)
    return expr.subs(var, 0) * sp.exp(sp.expand(c ** 2) / 2)


def same_free_entropy(a, b):
    r"""True if two free entropies agree symbolically: the terms without integrals, and per set of integration variables
    the sum of the integrands (each :math:`\ln` of a product expanded), simplify to the same expression."""
    def parts(e):
        plain, grouped = 0, {}
        for t in sp.Add.make_args(sp.expand(e)):
            integrals = [f for f in sp.Mul.make_args(t) if isinstance(f, sp.Integral)]
            if not integrals:
                plain += t
                continue
            (integral,) = integrals
            limits = tuple(integral.limits)
            grouped[limits] = grouped.get(limits, 0) + t / integral * integral.function
        return plain, grouped
    (pa, ga), (pb, gb) = parts(a), parts(b)
    if sp.simplify(pa - pb) != 0 or set(ga) != set(gb):
        return False
    expand = lambda f: sp.expand(sp.expand_log(f, force=True))
    return all(sp.simplify(expand(ga[k]) - expand(gb[k])) == 0 for k in ga)


class RSBTheory:
    r""":math:`k`-step RSB theory of a random-scenario :class:`DeepPerceptron` of ``depth`` layers: the free entropy
    per weight, its saddle-point equations, the replica-symmetric reductions and the LaTeX.  Order parameters
    :math:`Q^{(j)}_l` (l = 1..L), :math:`q^{(j)}_l`, :math:`\hat q^{(j)}_l` (l = 1..L-1), then :math:`m_1..m_k`."""

    def __init__(self, network: DeepPerceptron):
        if network.scenario != "random" or network.steps < 1:
            raise ParameterError("RSBTheory takes a random-scenario DeepPerceptron with ansatz '1rsb', got %r"
                                 % (network,))
        self.network = network
        self.depth = depth = network.depth
        self.k = k = network.steps
        self.ansatz = ParisiRSB(k)
        L, levels = depth, range(k + 1)
        self.Q = tuple(tuple(level_symbol("Q", l, j) for j in levels) for l in range(1, L + 1))
        self.q = tuple(tuple(level_symbol("q", l, j) for j in levels) for l in range(1, L))
        self.qhat = tuple(tuple(level_symbol("qhat", l, j) for j in levels) for l in range(1, L))
        self.m = self.ansatz.m
        flat = lambda blocks: tuple(s for b in blocks for s in b)
        self.order_parameters = flat(self.Q) + flat(self.q) + flat(self.qhat) + self.m
        self.order_parameter_kinds = (tuple(OVERLAP for _ in flat(self.Q) + flat(self.q))
                                      + tuple(CONJUGATE for _ in flat(self.qhat)) + tuple(BREAKPOINT for _ in self.m))
        self.z = tuple(sp.Symbol("z_%d" % j, real=True) for j in levels)
        self.w = tuple(sp.Symbol("w_%d" % j, real=True) for j in levels)

    def __repr__(self):
        return "RSBTheory(depth=%d, k=%d)" % (self.depth, self.k)

    def p(self, l):
        r"""The level values of layer :math:`l`'s pre-activation overlap, :math:`p^{(j)}_l = q^{(j)}_{l-1}Q^{(j)}_l`."""
        q_prev = (sp.S.One,) * (self.k + 1) if l == 1 else self.q[l - 2]
        return tuple(a * b for a, b in zip(q_prev, self.Q[l - 1]))

    def _innermost(self, l):
        """The RS symbols of layer l's one-replica function replaced by their innermost level (own noise 1 - p^(k))."""
        sub = {Q_(l): self.Q[l - 1][-1]}
        if l > 1:
            sub[q_(l - 1)] = self.q[l - 2][-1]
        return sub

    # -- the replicated terms, rule by rule ----------------------------------------------------------------
    def weights(self, l):
        r"""Weights of layer :math:`l`: :math:`\sum_i\mu_i\operatorname{extr}_a[\tfrac12a\lambda_i - \tfrac12\ln a]`
        over the eigenvalues :math:`\lambda_i` of the Parisi matrix :math:`Q_l` (unit diagonal)."""
        a, lam = sp.Symbol("a", positive=True), sp.Symbol("lambda", positive=True)
        entropy = a * lam / 2 - sp.log(a) / 2
        (saddle,) = sp.solve(sp.diff(entropy, a), a)
        per_eigenvalue = sp.expand_log(entropy.subs(a, saddle), force=True)
        return sum(mu * per_eigenvalue.subs(lam, ev) for mu, ev in self.ansatz.eigenvalues(1, self.Q[l - 1]))

    def hidden(self, l):
        r"""Hidden layer :math:`l`: :math:`-\tfrac12\sum_{a\ne b}\hat q_{ab}q_{ab} - \tfrac n2\hat q^{(k)} + \ln` the
        nested average of the rule's :math:`\zeta(x, y)`."""
        rule = HiddenSpins(l)
        [(_, zeta)], _ = rule.one_replica()
        zeta = zeta.subs(self._innermost(l))
        q, qh = self.q[l - 1], self.qhat[l - 1]
        pair = -sum(count * a * b for (count, a), (_, b) in zip(self.ansatz.pairs(qh), self.ansatz.pairs(q))) / 2
        nested = self.ansatz.nested_average(zeta, {x: (self.p(l), self.z), y: (qh, self.w)})
        return pair - n * qh[-1] / 2 + sp.log(nested)

    def output(self):
        r"""Output layer: :math:`\ln\tfrac12\sum_S` of the nested average of :math:`\zeta_S(x)`."""
        L = self.depth
        weighted, _ = OutputSpins(L).one_replica()
        sub = self._innermost(L)
        return sp.log(sum(c * self.ansatz.nested_average(zeta.subs(sub), {x: (self.p(L), self.z)})
                          for c, zeta in weighted))

    @cached_property
    def layer_terms(self):
        """[(name, per-weight term)]: G_W(l) for each layer, G_S(l) for each hidden layer, G_O (quenched limits)."""
        L = self.depth
        out = [("G_W%d" % l, quenched_limit(self.weights(l))) for l in range(1, L + 1)]
        out += [("G_S%d" % l, quenched_limit(self.hidden(l))) for l in range(1, L)]
        return out + [("G_O", quenched_limit(self.output()))]

    @cached_property
    def free_entropy(self):
        r""":math:`\phi = \sum_lG_W(l) + \alpha\sum_{l<L}G_S(l) + \alpha G_O`, per weight."""
        return sum((t if name.startswith("G_W") else alpha * t) for name, t in self.layer_terms)

    @cached_property
    def saddle_point_equations(self):
        r""":math:`\partial\phi/\partial\theta = 0` per order parameter (differentiation under the integral signs)."""
        return tuple(sp.Eq(sp.diff(self.free_entropy, t), 0) for t in self.order_parameters)

    # -- reductions ----------------------------------------------------------------------------------------
    def reduced(self, case):
        r"""The free entropy in a replica-symmetric case, in the RS theory's symbols (:math:`Q_l`, :math:`q_l`,
        :math:`\hat q_l`, :math:`z`, :math:`w`): ``"equal levels"`` (:math:`x^{(j)} = x^{(0)}` for every overlap: the
        inner integrals lose their variables) or ``"m=1"`` (the inner integrals by the Gaussian rules
        :math:`\int Dw\,e^{Sbw} = e^{b^2/2}` and :func:`smoothed_step`); both must equal
        ``derive(deep_perceptron(depth, "random")).free_entropy``."""
        if self.k != 1:
            raise ParameterError("reduced() is written for k = 1, got k = %d" % self.k)
        rs = {}
        for blocks, name in ((self.Q, Q_), (self.q, q_), (self.qhat, qhat_)):
            for l, levels in enumerate(blocks, start=1):
                rs.update({levels[0]: name(l), levels[1]: name(l)} if case == "equal levels" else {levels[0]: name(l)})
        rename = {self.z[0]: sp.Symbol("z", real=True), self.w[0]: sp.Symbol("w", real=True)}
        phi = self.free_entropy
        if case == "equal levels":
            phi = integrate_constants(phi.subs(rs))
        elif case == "m=1":
            phi = phi.subs(self.m[0], 1).replace(lambda e: isinstance(e, sp.Integral) and
                                                 {lim[0] for lim in e.limits} & {self.z[1], self.w[1]},
                                                 self._inner_at_m1).subs(rs)
        else:
            raise ParameterError("case must be 'equal levels' or 'm=1', got %r" % (case,))
        # ln of a power or of a sum with a common exponential factor expanded; integrals of sums split, constants done
        phi = phi.replace(lambda e: isinstance(e, sp.log) and not e.args[0].has(sp.Integral),
                          lambda e: sp.expand_log(sp.log(sp.factor_terms(e.args[0])), force=True))
        phi = phi.replace(lambda e: isinstance(e, sp.Integral),
                          lambda e: sp.Add(*[sp.Integral(t, *e.limits) for t in sp.Add.make_args(sp.expand(e.function))]))
        return sp.expand(integrate_constants(sp.expand(phi)).xreplace(rename))

    def _inner_at_m1(self, integral):
        """An inner (level-1) integral at m = 1: the product of exponentials in w_1 and H's in z_1, term by term."""
        f = sp.expand(integral.function / sp.Mul(*[gaussian_measure(lim[0]) for lim in integral.limits]))
        out = 0
        for term in sp.Add.make_args(f):
            for v in (lim[0] for lim in integral.limits):
                if v == self.z[1]:
                    term = smoothed_step(term, v)
                elif term.has(v):
                    term = exponential_average(term, v)
            out += term
        return out

    # -- LaTeX -------------------------------------------------------------------------------------------------
    def latex_equations(self):
        """[(name, Eq)]: the free entropy, each layer's term, and every saddle-point equation."""
        out = [("free entropy", sp.Eq(sp.Symbol("phi"), self.free_entropy, evaluate=False))]
        out += [(name, sp.Eq(sp.Symbol(name), t, evaluate=False)) for name, t in self.layer_terms]
        return out + [("saddle point %s" % t, eq) for t, eq in zip(self.order_parameters, self.saddle_point_equations)]

    def latex(self, document=False):
        """The terms of the free entropy, then the saddle-point equations."""
        def tex(e):
            return ReplicaLatexPrinter({"ln_notation": False}).doprint(e)
        labels = {"G_O": "G_O"}
        labels.update({"G_W%d" % l: r"G_W^{(%d)}" % l for l in range(1, self.depth + 1)})
        labels.update({"G_S%d" % l: r"G_S^{(%d)}" % l for l in range(1, self.depth)})
        rows = [r"%s &= %s" % (labels[name], tex(t)) for name, t in self.layer_terms]
        eqs = [r"0 &= %s" % tex(eq.lhs) for eq in self.saddle_point_equations]
        body = "\n".join([
            r"\paragraph{Model.} %d layers of spherical sign perceptrons, random scenario (quenched $n\to0$), "
            r"%d-step replica-symmetry breaking: one Parisi block size $m$ for all layers; $p^{(j)}_l = "
            r"q^{(j)}_{l-1}Q^{(j)}_l$, $q^{(j)}_0 = 1$; the physical point is the infimum over the overlaps and $m$."
            % (self.depth, self.k),
            r"\paragraph{Free entropy per weight.}",
            r"\begin{align}" + "\n" + r"\phi &= \sum_{l=1}^{%d}G_W^{(l)}%s + \alpha G_O \\" % (
                self.depth, r" + \alpha\sum_{l=1}^{%d}G_S^{(l)}" % (self.depth - 1) if self.depth > 1 else "")
            + "\n" + " \\\\\n".join(rows) + "\n" + r"\end{align}",
            r"\paragraph{Saddle point} ($\partial\phi/\partial\theta = 0$ for $\theta = %s$)."
            % ", ".join(tex(t) for t in self.order_parameters),
            r"\begin{align}" + "\n" + " \\\\\n".join(eqs) + "\n" + r"\end{align}"])
        if document:
            return _latex.document("Deep perceptron network, depth %d, random scenario, %d-step RSB"
                                   % (self.depth, self.k), body)
        return body

    def _repr_latex_(self):
        """The notebook display: the free entropy and its terms."""
        return _latex.display(self.latex_equations()[:1 + len(self.layer_terms)],
                              lambda e: ReplicaLatexPrinter({"ln_notation": False}).doprint(e))

    def __reduce__(self):
        """Pickles as the derivation (read from the disk cache where it runs)."""
        return rsb_theory, (self.network,)

    def rs(self):
        """The replica-symmetric theory of the same network."""
        return derive_replica(DeepPerceptron(self.depth, "random"))

    def compile(self, precision=None, nodes=NODES, bulk=BULK):
        """The :class:`~symbolic_rg.replica.rsb_solver.RSBSolver` (float64; ``nodes`` per panel and ``bulk`` panel
        width of its quadrature), one per options and theory."""
        checks.float64_only(precision, "the RSB solver")
        solvers = self.__dict__.setdefault("_solvers", {})
        if (nodes, bulk) not in solvers:
            solvers[nodes, bulk] = RSBSolver(self, nodes, bulk)
        return solvers[nodes, bulk]


@lru_cache(maxsize=None)
def rsb_theory(network):
    """The :class:`RSBTheory` of a random-scenario :class:`DeepPerceptron` with ``ansatz="1rsb"``: derived once per
    process and stored in the cache directory (keyed by the engine's source) for the next."""
    return cache.stored_theory(RSBTheory, network, ("layer_terms", "free_entropy", "saddle_point_equations"))
