r"""The derived replica theory of a :class:`~symbolic_rg.replica.DeepPerceptron`: the layer rules of
:mod:`symbolic_rg.replica.rules` composed into the free entropy, its saddle-point equations, the capacity, the
generalization error and the replicon, with their LaTeX (:class:`ReplicaLatexPrinter` writes :math:`\int Dz`).
"""
from __future__ import annotations

from functools import cached_property, lru_cache

import sympy as sp
from sympy.printing.latex import LatexPrinter

from .. import cache, checks
from .. import latex as _latex
from ..errors import ParameterError
from ..special import H, gaussian_average, gaussian_measure, step_average
from .rules import (LIMITS, DeepPerceptron, HiddenSpins, Q_, ReplicaSymmetric, SphericalWeights, alpha, apply_limit,
                    kappa, q_, qhat_, u, y, z)
from .selection import CONJUGATE
from .solver import ReplicaSolver

__all__ = ["ReplicaTheory", "ReplicaLatexPrinter", "derive_replica"]


@lru_cache(maxsize=None)
def _derived(depth, scenario):
    properties = ("layer_terms", "free_entropy", "saddle_point_equations", "weight_entropy_inverse",
                  "fixed_point_slopes") + \
        (("replicon",) if scenario == "random" else ())
    return cache.stored_theory(ReplicaTheory, DeepPerceptron(depth, scenario), properties)


def derive_replica(network):
    """The :class:`ReplicaTheory` of a :class:`DeepPerceptron`: derived once per depth and scenario per process, and
    stored in the cache directory (keyed by the engine's source) for the next process."""
    if network.ansatz != "rs":
        raise ParameterError("derive_replica derives the replica-symmetric theory; %r needs srg.derive (its RSB "
                             "theory)" % (network,))
    return _derived(network.depth, network.scenario)


class ReplicaLatexPrinter(_latex.PhysicsLatexPrinter):
    r"""Writes :math:`\int Dz\,f` for integrals against the standard normal density."""

    def _print_Integral(self, expr):
        f = expr.function
        text = []
        for v, lo, hi in expr.limits:
            weight = gaussian_measure(v)
            if lo is sp.S.NegativeInfinity and hi is sp.oo:
                rest = sp.powsimp(sp.expand(f / weight))
                if not rest.has(sp.exp(-v ** 2 / 2)):
                    f = rest
                    text.append(r"\int D%s\," % self._print(v))
                    continue
            return LatexPrinter._print_Integral(self, expr)
        return "".join(text) + r"\left[%s\right]" % self._print(f)


def _tex(expr):
    return ReplicaLatexPrinter({"ln_notation": False}).doprint(expr)


class ReplicaTheory:
    r"""Replica-symmetric theory of a :class:`DeepPerceptron`: free entropy, saddle-point equations, limits.

    >>> import symbolic_rg as srg
    >>> t = srg.derive(srg.deep_perceptron(depth=2, scenario="teacher"))
    >>> t.order_parameters
    (Q_1, Q_2, q_1, qhat_1)
    >>> [k.name for k in t.order_parameter_kinds]     # each rule's overlaps take the kind of the limit
    ['overlap on the Nishimori line', 'overlap on the Nishimori line', 'overlap on the Nishimori line', 'conjugate']
    >>> sorted(map(str, t.free_entropy_terms))
    ['alpha*G_O', 'alpha*G_S1', 'weights']
    """

    def __init__(self, network: DeepPerceptron):
        self.network = network
        self.depth = network.depth
        self.scenario = network.scenario
        self.limit = LIMITS[network.scenario]
        L = self.depth
        self.Q = tuple(Q_(l) for l in range(1, L + 1))
        self.q = tuple(q_(l) for l in range(1, L))
        self.qhat = tuple(qhat_(l) for l in range(1, L))
        self.order_parameters = self.Q + self.q + self.qhat
        rules = network.rules()
        kinds = {}
        for rule in rules:
            kinds.update({t: self.limit.overlap_kind for t in rule.overlaps})
            kinds.update({t: CONJUGATE for t in rule.conjugates})
        self.order_parameter_kinds = tuple(kinds[t] for t in self.order_parameters)
        sub = {kappa: 0} if self.scenario == "teacher" else {}
        self.replicated = {}
        for rule in rules:
            self.replicated[rule] = rule.replicated().subs(sub)

    # -- the free entropy -------------------------------------------------------------------------------
    @cached_property
    def layer_terms(self):
        """{rule: its contribution to the free entropy per weight (the limit of its replicated term)}."""
        return {rule: apply_limit(expr, self.limit) for rule, expr in self.replicated.items()}

    @property
    def free_entropy_terms(self):
        names = {}
        for rule in self.layer_terms:
            if isinstance(rule, SphericalWeights):
                names.setdefault("weights", None)
            elif isinstance(rule, HiddenSpins):
                names["alpha*G_S%d" % rule.layer] = None
            else:
                names["alpha*G_O"] = None
        return [sp.Symbol(k) for k in names]

    @cached_property
    def free_entropy(self):
        r""":math:`\phi` per weight (up to a constant): weight entropies, :math:`\alpha\times` hidden-layer terms,
        :math:`\alpha\times` the output term."""
        total = 0
        for rule, term in self.layer_terms.items():
            total += term if isinstance(rule, SphericalWeights) else alpha * term
        return total

    @cached_property
    def saddle_point_equations(self):
        r"""One equation :math:`\partial\phi/\partial\theta = 0` per order parameter (differentiation under the
        integral sign), in the order of :attr:`order_parameters`; ``q`` and ``qhat`` solved for (they enter
        linearly), the ``Q`` equations written weight entropy = minus the constraint terms."""
        eqs = []
        for theta in self.order_parameters:
            d = sp.diff(self.free_entropy, theta)
            if theta in self.Q:
                weights = sum(sp.diff(t, theta) for r, t in self.layer_terms.items() if isinstance(r, SphericalWeights))
                eqs.append(sp.Eq(sp.simplify(weights), -(d - weights)))
            else:
                target = self.qhat[self.q.index(theta)] if theta in self.q else self.q[self.qhat.index(theta)]
                d = sp.expand(d, deep=False)
                slope = sp.diff(d, target)              # q (qhat) enters its partner's equation linearly
                if slope.has(target) or slope.has(sp.Integral) or slope == 0:
                    raise ValueError("%s does not enter dphi/d%s linearly" % (target, theta))
                eqs.append(sp.Eq(target, sp.expand(-(d - slope * target) / slope, deep=False)))
        return tuple(eqs)

    @cached_property
    def weight_entropy_inverse(self):
        r"""Per layer, :math:`Q_l` as a function of :math:`t = G_W'(Q_l)` (the left side of its saddle-point
        equation): the root of :math:`G_W'(Q) = t` on the branch through :math:`Q = 0` (the solver's fixed-point map
        inverts the weight entropy with it).  Returns (t, (root_1, ..., root_L))."""
        t = sp.Symbol("t", real=True)
        roots = []
        for Ql, eq in zip(self.Q, self.saddle_point_equations):
            probe = eq.lhs.subs(Ql, sp.Rational(1, 3))
            branch = [r for r in sp.solve(sp.Eq(eq.lhs, t), Ql)
                      if abs(complex(r.subs(t, probe).evalf()) - 1 / 3) < 1e-12]
            if not branch:
                raise ValueError("no root of %s = t through Q = 1/3" % eq.lhs)
            roots.append(branch[0])
        return t, tuple(roots)

    @cached_property
    def fixed_point_slopes(self):
        r"""The coefficients with which :math:`q_1` enters :math:`\partial\phi/\partial\hat q_1` and :math:`\hat q_1`
        enters :math:`\partial\phi/\partial q_1`, :math:`\partial^2\phi/\partial q_1\partial\hat q_1` twice (functions of
        :math:`\alpha`; the same in every hidden layer): the solver's fixed-point map solves the saddle-point equations
        for :math:`q_l` and :math:`\hat q_l` with them.  Empty at depth 1."""
        if self.depth == 1:
            return ()
        q, qhat = self.q[0], self.qhat[0]
        return sp.diff(self.free_entropy, qhat, q), sp.diff(self.free_entropy, q, qhat)

    def equations_by_layer(self):
        """[(layer, [equations of Q_l, q_l, qhat_l])] for l = 1..L."""
        eqs = dict(zip(self.order_parameters, self.saddle_point_equations))
        return [(l, [eqs[s] for s in (Q_(l),) + ((q_(l), qhat_(l)) if l < self.depth else ())])
                for l in range(1, self.depth + 1)]

    # -- observables and special cases ----------------------------------------------------------------
    @cached_property
    def fresh_input_overlap(self):
        r"""Student–teacher spin overlap of a layer on a fresh input given the correlation :math:`\rho` of the
        pre-activations: :math:`\langle\mathrm{sgn}\,h^a\,\mathrm{sgn}\,h^b\rangle = \int Dz\,[1-2H(\sqrt{\rho}z/\sqrt{1-\rho})]^2`
        (RS decoupling of two replicas and the step rule), which equals :math:`\tfrac2\pi\arcsin\rho`."""
        rho = sp.Symbol("rho", positive=True)
        field = ReplicaSymmetric.decouple_covariance(rho, z, u)
        mean_sign = sum(S * step_average(sp.expand(S * field).subs(u, 0), sp.diff(S * field, u)) for S in (1, -1))
        return rho, gaussian_average(mean_sign ** 2, z)

    @cached_property
    def generalization_error(self):
        r"""Teacher scenario: probability that student and teacher disagree on an output for a fresh input,
        :math:`\epsilon = (1 - r_L)/2` with :math:`r_l = \tfrac2\pi\arcsin(Q_lr_{l-1})`, :math:`r_0 = 1` (the fresh
        input carries no constraint, so each layer's spins are the signs of Gaussian fields with correlation
        :math:`Q_lr_{l-1}`)."""
        if self.scenario != "teacher":
            raise ParameterError("the generalization error is defined in the teacher scenario only")
        r = sp.S.One
        for Q in self.Q:
            r = 2 / sp.pi * sp.asin(Q * r)
        return (1 - r) / 2

    def capacity(self):
        r"""Random scenario, depth 1: the load where the solution space shrinks to a point, :math:`Q\to1`.

        With :math:`Q = 1-\epsilon` the argument of :math:`H` is :math:`O(\epsilon^{-1/2})` and
        :math:`\ln H(x)\to -\tfrac{x^2}2\Theta(x)`; the leading order :math:`\epsilon^{-2}` of the saddle-point
        equation of :math:`Q` fixes :math:`\alpha_c(\kappa)` (Gardner: :math:`1/\int_{-\kappa}^\infty Dt\,(t+\kappa)^2`)."""
        if self.scenario != "random" or self.depth != 1:
            raise ParameterError("capacity() is derived for depth 1 in the random scenario")
        eps = sp.Symbol("epsilon", positive=True)
        Q = self.Q[0]

        def frozen(integral):
            (v, lo, hi), = integral.limits
            total = 0
            for term in sp.Add.make_args(sp.expand(integral.function)):
                (log_h,) = [a for a in term.atoms(sp.log) if isinstance(a.args[0], H)]
                x = log_h.args[0].args[0]
                root = sp.solve(x, v)[0]
                below = bool(sp.diff(x, v).subs(Q, sp.Rational(1, 2)) < 0)   # x > 0 (ln H ~ -x^2/2) below the root
                g = term.subs(log_h, -x ** 2 / 2)
                total += sp.Integral(g, (v, -sp.oo, root) if below else (v, root, sp.oo)).doit()
            return total

        phi = self.free_entropy.replace(lambda e: isinstance(e, sp.Integral), frozen)
        dphi = sp.diff(phi, Q).subs(Q, 1 - eps)
        leading = sp.limit(sp.simplify(dphi * eps ** 2), eps, 0)
        (ac,) = sp.solve(leading, alpha)
        return sp.simplify(ac)

    # -- stability of the replica-symmetric saddle point ------------------------------------------------------
    @cached_property
    def replicon(self):
        r"""Random scenario: the replicon block of the replicated free entropy (de Almeida–Thouless).

        A replicon perturbation of every overlap matrix (:math:`\delta\theta_{ab}`, zero row sums) changes
        :math:`G` by :math:`\tfrac12\sum_{a<b}\delta\theta_{ab}^{\mathsf T}M\,\delta\theta_{ab}` with
        :math:`\theta = (Q_l, q_l, \hat q_l)`, built from one rule per term:

        * weights, :math:`\tfrac12\ln\det Q`: :math:`M_{Q_lQ_l} \mathrel{+}= -1/(1-Q_l)^2`;
        * a constraint term :math:`\ln\mathbb E\prod_a\zeta(x_a, y_a)` with field covariances :math:`p_{ab}`,
          :math:`\hat q_{ab}` (``one_replica`` of its rule): by the heat-equation identities at
          :math:`n\to0`, :math:`\partial_{p_{ab}} = T = \mathbb E(\partial_x\ln\zeta)^2` and the replicon
          combination of the four-replica Hessian (:math:`P - 2Q + R`) is
          :math:`K_{\mu\nu} = \mathbb E(\partial_\mu\partial_\nu\ln\zeta)^2`, :math:`\mu, \nu\in\{x, y\}`,
          Gaussian averages over :math:`z, w` (``kernels``); :math:`p_l = q_{l-1}Q_l` entrywise, so
          :math:`\delta p = q\,\delta Q + Q\,\delta q + \delta q\,\delta Q`;
        * the conjugate term :math:`-\sum_{a<b}\hat q_{ab}q_{ab}`: :math:`M_{\hat q_lq_l} \mathrel{+}= -\alpha`.

        The conjugates are eliminated by their own (linear) equations, the Schur complement
        :math:`M_{\rm eff} = M_{oo} - M_{o\hat q}M_{\hat q\hat q}^{-1}M_{\hat qo}`; RS is stable where
        :math:`M_{\rm eff}` is negative definite.  At depth 1 this is Gardner's condition
        :math:`\alpha(1-Q)^2\,\mathbb E(\partial_x^2\ln\zeta)^2 < 1`.

        Returns ``(M, kernels)``: ``M`` a SymPy matrix over :attr:`order_parameters` in placeholders
        ``T_l, Kxx_l, Kxy_l, Kyy_l``; ``kernels`` maps each layer to (list of (weight, ln zeta)), its field
        substitution and {placeholder: derivative orders (i, j) of :math:`\partial_x^i\partial_y^j\ln\zeta`}."""
        if self.scenario != "random":
            raise ParameterError("the replicon is derived for the random scenario (on the Nishimori line of the "
                                 "teacher scenario the replica-symmetric solution is exact)")
        index = {theta: i for i, theta in enumerate(self.order_parameters)}
        M = sp.zeros(len(index), len(index))
        kernels = {}

        def add(a, b, value):
            M[index[a], index[b]] += value
            if a != b:
                M[index[b], index[a]] += value

        for Q in self.Q:
            add(Q, Q, -1 / (1 - Q) ** 2)
        for rule in self.network.rules():
            if isinstance(rule, SphericalWeights):
                continue
            l = rule.layer
            T, Kxx, Kxy, Kyy = sp.symbols("T_%d Kxx_%d Kxy_%d Kyy_%d" % ((l,) * 4))
            weighted, fields = rule.one_replica()
            orders = {T: (1, 0), Kxx: (2, 0)}
            if y in fields:
                orders.update({Kxy: (1, 1), Kyy: (0, 2)})
            kernels[l] = ([(c, sp.log(f)) for c, f in weighted], fields, orders)
            Ql, qprev = Q_(l), q_(l - 1)
            add(Ql, Ql, alpha * Kxx * qprev ** 2)
            if l > 1:
                add(qprev, qprev, alpha * Kxx * Ql ** 2)
                add(Ql, qprev, alpha * (Kxx * Ql * qprev + T))
            if isinstance(rule, HiddenSpins):
                add(qhat_(l), qhat_(l), alpha * Kyy)
                add(qhat_(l), Ql, alpha * Kxy * qprev)
                if l > 1:
                    add(qhat_(l), qprev, alpha * Kxy * Ql)
                add(qhat_(l), q_(l), -alpha)
        return M, kernels

    # -- LaTeX ---------------------------------------------------------------------------------------------
    def latex(self, document=False):
        """Free entropy, then the saddle-point equations of each layer (and the generalization error)."""
        L = self.depth
        phi = sp.Symbol("phi")
        rows = []
        for rule, term in self.layer_terms.items():
            if isinstance(rule, SphericalWeights):
                label = r"G_W(Q_{%d})" % rule.layer
            elif isinstance(rule, HiddenSpins):
                label = r"G_S^{(%d)}" % rule.layer
            else:
                label = r"G_O"
            rows.append(r"%s &= %s" % (label, _tex(term)))
        parts = [r"\paragraph{Model.} %d layers of spherical sign perceptrons, scenario \texttt{%s} (%s)."
                 % (L, self.scenario, "quenched $n\\to0$" if self.scenario == "random" else
                    "Nishimori, $\\kappa=0$: $\\phi=\\partial_m G|_{m=1}$"),
                 r"Order parameters: $p_l = q_{l-1}Q_l$, $q_0 = 1$.",
                 r"\paragraph{Free entropy per weight.}",
                 r"\begin{align}" + "\n" + r"%s &= \sum_{l=1}^{%d} G_W(Q_l)%s + \alpha G_O \\" % (
                     _tex(phi), L, (r" + \alpha\sum_{l=1}^{%d}G_S^{(l)}" % (L - 1)) if L > 1 else "")
                 + "\n" + " \\\\\n".join(rows) + "\n" + r"\end{align}"]
        for l, eqs in self.equations_by_layer():
            parts.append(r"\paragraph{Layer %d.}" % l)
            parts.append(r"\begin{align}" + "\n" + " \\\\\n".join(
                r"%s &= %s" % (_tex(e.lhs), _tex(e.rhs)) for e in eqs) + "\n" + r"\end{align}")
        if self.scenario == "random":
            parts += self._replicon_latex()
        if self.scenario == "teacher":
            parts.append(r"\paragraph{Generalization error.}")
            parts.append(r"\begin{equation}\epsilon = %s\end{equation}" % _tex(self.generalization_error))
        body = "\n".join(parts)
        if document:
            return _latex.document("Deep perceptron network, depth %d, %s scenario (replica symmetric)"
                                   % (L, self.scenario), body)
        return body

    def _replicon_latex(self):
        """The replicon section: each layer's one-replica partition function and kernels, then the matrix."""
        M, kernels = self.replicon
        shown = {k: sp.Symbol("K^{%s}_{%s}" % tuple(k.name[1:].split("_"))) for k in M.free_symbols
                 if k.name.startswith("K")}
        rows = []
        for l, (logs, fields, orders) in sorted(kernels.items()):
            zeta = sp.Symbol(r"\zeta_{%d}" % l)
            if len(logs) == 1:
                rows.append(r"%s(x, y) &= %s" % (_tex(zeta), _tex(sp.exp(logs[0][1]))))
                average = r"\int Dz\,Dw"
            else:
                rows.append(r"%s^{\pm}(x) &= %s,\ %s" % (_tex(zeta), _tex(sp.exp(logs[0][1])),
                                                         _tex(sp.exp(logs[1][1]))))
                average = r"\tfrac12\sum_\pm\int Dz"
            for name, (i, j) in orders.items():
                d = "".join(r"\partial_%s%s" % (v, "^%d" % k if k > 1 else "") for v, k in (("x", i), ("y", j)) if k)
                rows.append(r"%s &= %s\,\big(%s\ln %s\big)^2" % (_tex(shown.get(name, name)), average, d,
                                                                     _tex(zeta)))
            rows.append(r"&\quad " + r",\ ".join("%s = %s" % (_tex(k), _tex(v)) for k, v in fields.items()))
        return [r"\paragraph{Stability of replica symmetry.} A replicon perturbation changes $G$ by "
                r"$\tfrac12\sum_{a<b}\delta\theta_{ab}^{\mathsf T}M\,\delta\theta_{ab}$ over "
                r"$\theta = (%s)$; RS is stable where $M$ with the conjugates $\hat q$ eliminated (Schur "
                r"complement) is negative definite." % ", ".join(_tex(t) for t in self.order_parameters),
                r"\begin{align}" + "\n" + " \\\\\n".join(rows) + "\n" + r"\end{align}",
                r"The non-zero entries of the symmetric matrix $M$:",
                r"\begin{align}" + "\n" + " \\\\\n".join(
                    r"M_{%s,\,%s} &= %s" % (_tex(a), _tex(b), _tex(M[i, j].xreplace(shown)))
                    for i, a in enumerate(self.order_parameters) for j, b in enumerate(self.order_parameters)
                    if j >= i and M[i, j] != 0) + "\n" + r"\end{align}"]

    def latex_equations(self):
        """``[(name, Eq)]``: the free entropy, every saddle-point equation, and (teacher scenario) the generalization
        error."""
        out = [("free entropy", sp.Eq(sp.Symbol("phi"), self.free_entropy, evaluate=False))]
        out += [("saddle point %s" % theta, eq) for theta, eq in zip(self.order_parameters, self.saddle_point_equations)]
        if self.scenario == "teacher":
            out.append(("generalization error", sp.Eq(sp.Symbol("epsilon"), self.generalization_error, evaluate=False)))
        return out

    def __reduce__(self):
        """Pickles as the derivation (read from the disk cache where it runs: a worker of a sweep)."""
        return derive_replica, (self.network,)

    def _repr_latex_(self):
        """The notebook display: :meth:`latex_equations` as one aligned block."""
        return _latex.display(self.latex_equations(), _tex)

    def compile(self, precision=None):
        """Numba solver (float64), or the mpmath one at ``precision`` digits (one solver per theory and precision)."""
        solvers = self.__dict__.setdefault("_solvers", {})
        if precision not in solvers:
            if precision is not None:
                checks.precision(precision)
            solvers[precision] = ReplicaSolver(self, precision)
        return solvers[precision]
