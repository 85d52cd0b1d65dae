r"""Replica theory of deep perceptron networks (Yoshino, SciPost Phys. Core 2, 005 (2020)).

**Model.** Layers :math:`l = 0..L` of :math:`N` Ising units :math:`S^\mu_i(l) = \pm1`, patterns
:math:`\mu = 1..M`.  Unit :math:`i` of layer :math:`l\ge1` reads :math:`c` units of layer :math:`l-1` (all of them,
:math:`c=N`, or a fixed random sparse graph, :math:`c\ll N`) through a spherical row,
:math:`\sum_k J_{ik}(l)^2 = c`, with pre-activation :math:`h^\mu_i(l) = c^{-1/2}\sum_k J_{ik}(l) S^\mu_k(l-1)`;
load :math:`\alpha = M/c`.  Every unit obeys the Gardner constraint :math:`S^\mu_i(l) h^\mu_i(l)\ge\kappa`.  The
inputs :math:`S(0)` and outputs :math:`S(L)` are fixed by the data; the hidden spins and all weights are the
variables and :math:`Z` is the volume of consistent networks.  Scenario ``random``: iid :math:`\pm1` inputs
and outputs, quenched :math:`\overline{\ln Z}` by :math:`n\to0` replicas, margin :math:`\kappa\ge0`.
Scenario ``teacher``: a teacher of the same architecture with uniformly random rows labels random inputs
(:math:`\kappa=0`); the student posterior is uniform over consistent networks, so the teacher is one more
replica (Nishimori) and :math:`\overline{\ln Z} = \partial_m \ln\overline{\sum_{\rm labels}Z^m}|_{m=1}`.

**Closure.** The replica covariance of the pre-activations factorizes,
:math:`\langle h^a(l)h^b(l)\rangle = q_{ab}(l-1)Q_{ab}(l)` with the spin overlap
:math:`q_{ab}(l) = (NM)^{-1}\sum_{i\mu}S^{\mu a}_i(l)S^{\mu b}_i(l)` (:math:`q(0) = 1`) and the weight overlap
:math:`Q_{ab}(l) = (Nc)^{-1}\sum_{ik}J^a_{ik}(l)J^b_{ik}(l)` (exact for :math:`N\gg c\gg1`).

**Derivation** (each step one rule of this module, composed by :func:`derive`): per weight, the
:math:`m`-replica free entropy is :math:`G(m) = \sum_l G_W(Q_l) + \alpha\sum_{l<L} G_S(q_l,\hat q_l; p_l) +
\alpha G_O(p_L)` with :math:`p_l = q_{l-1}Q_l`:

* :class:`SphericalWeights`: the volume of :math:`m` spherical rows at fixed overlaps, a Gaussian integral
  over the weights with Lagrange multiplier :math:`\Lambda` and conjugate :math:`\hat Q`, extremized
  symbolically: :math:`G_W = \tfrac m2 + \tfrac12\ln\det Q_{ab}`;
* :class:`HiddenSpins`: the spin trace of a hidden layer with its constraints; the pre-activation is
  decoupled by :meth:`ReplicaSymmetric.decouple_covariance` and the spin overlap by
  :meth:`ReplicaSymmetric.decouple_coupling`, leaving :math:`\int Dz\,Dw\,[\cdot]^m`;
* :class:`OutputSpins`: the fixed (or teacher-given) outputs, :math:`\int Dz\,[\cdot]^m`;
* a limit rule: :class:`Quenched` (:math:`\phi = \lim_{n\to0}G(n)/n`) or :class:`Nishimori`
  (:math:`\phi = \partial_m G|_{m=1}`), applied term by term with differentiation under the integral sign.

The saddle-point equations are :math:`\partial\phi/\partial\theta = 0` for every order parameter.

>>> import symbolic_rg as srg
>>> theory = srg.derive(srg.deep_perceptron(depth=1, scenario="random"))
>>> theory.capacity().subs(srg.replica.kappa, 0)
2
>>> round(float(theory.capacity().subs(srg.replica.kappa, 1)), 6)
0.519572
"""
from __future__ import annotations

from functools import cached_property, lru_cache

import sympy as sp
from sympy.core.logic import fuzzy_and
from sympy.printing.latex import LatexPrinter

from . import _cache
from . import latex as _latex
from .errors import ParameterError
from .selection import CONJUGATE, NISHIMORI, OVERLAP

__all__ = ["H", "LogH", "MillsRatio", "LogSumExp", "gaussian_average", "ReplicaSymmetric", "SphericalWeights",
           "HiddenSpins", "OutputSpins", "Quenched", "Nishimori", "DeepPerceptron", "deep_perceptron",
           "ReplicaTheory", "ReplicaLatexPrinter", "SCENARIOS"]

n = sp.Symbol("n")                                     # number of replicas
z, w, u = sp.symbols("z w u", real=True)               # Gaussian integration variables
x, y = sp.symbols("x y", real=True)                    # one replica's shared fields: x = sqrt(p) z, y = sqrt(qhat) w
alpha = sp.Symbol("alpha", positive=True)              # load M/c
kappa = sp.Symbol("kappa", nonnegative=True)           # Gardner margin
SCENARIOS = ("random", "teacher")


# --------------------------------------------------------------------------------------------------------
# Gaussian special functions (SymPy functions that know their derivatives; numerically stable forms)
# --------------------------------------------------------------------------------------------------------
class H(sp.Function):
    r"""Gaussian tail :math:`H(x) = \int_x^\infty Dt = \tfrac12\operatorname{erfc}(x/\sqrt2)`."""
    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.Rational(1, 2)
        if x is sp.oo:
            return sp.S.Zero
        if x is sp.S.NegativeInfinity:
            return sp.S.One

    def fdiff(self, argindex=1):
        x = self.args[0]
        return -sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi)

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.erfc(x / sp.sqrt(2)) / 2


class MillsRatio(sp.Function):
    r"""Inverse Mills ratio :math:`R(x) = e^{-x^2/2}/(\sqrt{2\pi}H(x))`; :math:`R' = R(R-x)`."""
    nargs = 1

    def fdiff(self, argindex=1):
        x = self.args[0]
        return self * (self - x)

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.exp(-x ** 2 / 2) / sp.sqrt(2 * sp.pi) / H(x).rewrite(sp.erfc)

    def _latex(self, printer):
        return r"\mathcal{R}\left(%s\right)" % printer._print(self.args[0])


class LogH(sp.Function):
    r""":math:`\ln H(x)`, finite for every real :math:`x`; :math:`(\ln H)' = -R(x)`."""
    nargs = 1

    def fdiff(self, argindex=1):
        return -MillsRatio(self.args[0])

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.log(H(x).rewrite(sp.erfc))

    def _latex(self, printer):
        return r"\ln H\left(%s\right)" % printer._print(self.args[0])


class LogSumExp(sp.Function):
    r""":math:`\ln\sum_i e^{a_i}` evaluated with its largest term factored out;
    :math:`\partial_{a_i}\ln\sum e^{a} = e^{a_i - \ln\sum e^{a}}`."""

    def fdiff(self, argindex=1):
        return sp.exp(self.args[argindex - 1] - self)

    def _eval_is_extended_real(self):
        return fuzzy_and(a.is_extended_real for a in self.args)

    def _eval_rewrite_as_exp(self, *args, **kwargs):
        return sp.log(sp.Add(*[sp.exp(a) for a in args]))

    def _latex(self, printer):
        return r"\ln\left(%s\right)" % " + ".join(r"e^{%s}" % printer._print(a) for a in self.args)


def gaussian_measure(var):
    """The standard normal density of ``var``."""
    return sp.exp(-var ** 2 / 2) / sp.sqrt(2 * sp.pi)


def gaussian_average(f, *variables):
    r""":math:`\int D v_1\cdots Dv_k\, f` as an unevaluated integral (the weight written out)."""
    weight = sp.Mul(*[gaussian_measure(v) for v in variables])
    return sp.Integral(f * weight, *[(v, -sp.oo, sp.oo) for v in variables])


def step_average(a, b):
    r""":math:`\int Du\,\Theta(a + bu) = H(-a/|b|)` for :math:`b\ne0`, a rule of Gaussian integration."""
    return H(-a / sp.sqrt(sp.expand(b ** 2)))


def _gaussian_expectation(integrand, variables):
    """Evaluate :math:`\\int\\prod Dv\\,f` in closed form where every ``variables[1:]`` dependence is an
    exponential of a linear form and the rest sums to a constant after the rewrite H -> erfc; raise otherwise."""
    result = sp.expand(integrand)
    for v in reversed(variables[1:]):
        result = sp.Add(*[sp.integrate(t * gaussian_measure(v), (v, -sp.oo, sp.oo)) for t in sp.Add.make_args(result)])
    result = sp.simplify(sp.unpolarify(sp.unpolarify(result).rewrite(sp.erfc)))
    if result.has(variables[0]):
        raise ValueError("the normalization %s is not constant in %s" % (result, variables[0]))
    return result


# --------------------------------------------------------------------------------------------------------
# Replica-symmetric ansatz and the two limits
# --------------------------------------------------------------------------------------------------------
class ReplicaSymmetric:
    r"""Replica-symmetric ansatz over :math:`m` replicas: every off-diagonal entry of an overlap matrix equal."""

    @staticmethod
    def log_det(diagonal, off_diagonal, m):
        r""":math:`\ln\det(a\delta_{ab} + b(1-\delta_{ab}))_{m\times m} = (m-1)\ln(a-b) + \ln(a+(m-1)b)`."""
        return (m - 1) * sp.log(diagonal - off_diagonal) + sp.log(diagonal + (m - 1) * off_diagonal)

    @staticmethod
    def decouple_covariance(p, var, noise):
        r"""Gaussian fields with :math:`\langle h^ah^b\rangle = p + (1-p)\delta_{ab}`:
        :math:`h^a = \sqrt p\,z + \sqrt{1-p}\,u^a` with :math:`z, u^a` independent standard normals."""
        return sp.sqrt(p) * var + sp.sqrt(1 - p) * noise

    @staticmethod
    def decouple_coupling(qhat, var, m):
        r""":math:`e^{\hat q\sum_{a<b}S^aS^b} = e^{-m\hat q/2}\int Dw\,\prod_a e^{\sqrt{\hat q}wS^a}` for
        :math:`S^a=\pm1`.  Returns (prefactor, per-replica exponent of :math:`S`)."""
        return sp.exp(-m * qhat / 2), sp.sqrt(qhat) * var


class Quenched:
    r"""Random scenario: :math:`\phi = \lim_{n\to0}G(n)/n = G'(0)`, with :math:`G(0) = 0` checked.  An overlap between
    replicas is one of :math:`n(n-1)/2 \to` a negative number of parameters: minimized over (:mod:`.selection`)."""
    name = "random"
    point = 0
    overlap_kind = OVERLAP


class Nishimori:
    r"""Teacher scenario: the teacher is one more replica, :math:`\phi = \partial_m G(m)|_{m=1}`; an overlap is the
    student-teacher overlap of Bayes-optimal inference: maximized over (:mod:`.selection`)."""
    name = "teacher"
    point = 1
    overlap_kind = NISHIMORI


LIMITS = {"random": Quenched, "teacher": Nishimori}


def _limit(term, limit):
    """d/dn of a replicated term at the limit's point: sums of closed forms and logs of Gaussian integrals
    (differentiated under the integral sign; the integral's own value at the point is evaluated exactly)."""
    out = []
    for t in sp.Add.make_args(sp.expand(term)):
        logs = [f for f in sp.Mul.make_args(t) if isinstance(f, sp.log) and f.args[0].has(sp.Integral)]
        if not logs:
            out.append(sp.diff(t, n).subs(n, limit.point))
            continue
        (log_factor,) = logs
        coefficient = t / log_factor
        integral = log_factor.args[0]
        inner = integral.function
        variables = [lim[0] for lim in integral.limits]
        weight = sp.Mul(*[gaussian_measure(v) for v in variables])
        plain = inner / weight
        norm = _gaussian_expectation(plain.subs(n, limit.point), variables)
        derivative = sp.diff(plain, n).subs(n, limit.point)
        if limit is Quenched and norm != 1:
            raise ValueError("G(0) must vanish: normalization %s" % norm)
        constant, varying = sp.expand(derivative / norm).as_independent(*variables, as_Add=True)
        out.append(coefficient * (constant + gaussian_average(varying, *variables)))
    return sp.Add(*out)


# --------------------------------------------------------------------------------------------------------
# Layer rules
# --------------------------------------------------------------------------------------------------------
def Q_(l):
    return sp.Symbol("Q_%d" % l, positive=True)


def q_(l):
    return sp.S.One if l == 0 else sp.Symbol("q_%d" % l, positive=True)


def qhat_(l):
    return sp.Symbol("qhat_%d" % l, nonnegative=True)


def p_(l):
    """The replica correlation of layer l's pre-activations, :math:`p_l = q_{l-1}Q_l` (closure)."""
    return q_(l - 1) * Q_(l)


class SphericalWeights:
    r"""The :math:`c` weights of one unit of layer :math:`l`, on the sphere :math:`|J|^2 = c`.

    :math:`\frac1c\ln\int\prod_a dJ^a\,\delta(|J^a|^2 - c)\prod_{a<b}\delta(J^a\cdot J^b - cQ) =
    \operatorname{extr}_{\Lambda,\hat Q}\big[\tfrac m2\Lambda - \tfrac{m(m-1)}2\hat QQ - \tfrac12\ln\det A\big]`
    with :math:`A_{ab} = \Lambda\delta_{ab} - \hat Q(1-\delta_{ab})` (a Gaussian integral per weight).
    """
    per = "weight"

    def __init__(self, layer):
        self.layer = layer
        self.order_parameter = Q_(layer)
        self.overlaps, self.conjugates = (self.order_parameter,), ()

    def replicated(self):
        Lam, Qh = sp.symbols("Lambda Qhat")
        Q = self.order_parameter
        action = n * Lam / 2 - n * (n - 1) / 2 * Qh * Q - ReplicaSymmetric.log_det(Lam, -Qh, n) / 2
        stationary = sp.solve([sp.diff(action, Lam), sp.diff(action, Qh)], [Lam, Qh], dict=True)
        physical = [s for s in stationary if sp.simplify((s[Lam] + s[Qh]) * (1 - Q) - 1) == 0]
        gap = sp.Symbol("Delta", positive=True)             # 1 - Q > 0, so that the logarithms combine
        value = sp.expand(sp.expand_log(sp.simplify(action.subs(physical[0]).subs(Q, 1 - gap)), force=True))
        return value.subs(gap, 1 - Q)


def _shared_field(l):
    """The part of layer l's pre-activation common to all replicas, sqrt(p_l) z (RS decoupling at u = 0)."""
    return ReplicaSymmetric.decouple_covariance(p_(l), z, u).subs(u, 0)


def _constraint_given_field(l, S):
    r""":math:`\int Du\,\Theta(S(x + \sqrt{1-p_l}\,u) - \kappa)` by the step rule: one replica's constraint given the
    shared field :math:`x`."""
    field = ReplicaSymmetric.decouple_covariance(p_(l), z, u).subs(_shared_field(l), x)
    return step_average(sp.expand(S * field - kappa).subs(u, 0), sp.diff(S * field, u))


class HiddenSpins:
    r"""Hidden layer :math:`l`: the trace over its spins with their Gardner constraints,
    :math:`\ln\operatorname{Tr}_{\{S^a\}}\int Dh\,\prod_a\Theta(S^ah^a - \kappa)\,e^{\hat q_l\sum_{a<b}S^aS^b}
    - \tfrac{m(m-1)}2\hat q_lq_l` with :math:`\langle h^ah^b\rangle = p_l + (1-p_l)\delta_{ab}`."""
    per = "pattern and unit"

    def __init__(self, layer):
        self.layer = layer
        self.order_parameters = (q_(layer), qhat_(layer))
        self.overlaps, self.conjugates = (q_(layer),), (qhat_(layer),)

    def one_replica(self):
        r"""One replica given the shared fields :math:`x, y`: [(1, :math:`\zeta(x, y)`)] with
        :math:`\zeta = \sum_S e^{yS}\int Du\,\Theta(S(x + \sqrt{1-p_l}\,u) - \kappa)` (its own field noise
        :math:`u` integrated by the step rule), and the RS decoupling {x: sqrt(p) z, y: sqrt(qhat) w}."""
        l = self.layer
        zeta = sum(sp.exp(y * S) * _constraint_given_field(l, S) for S in (1, -1))
        return [(sp.S.One, zeta)], {x: _shared_field(l), y: ReplicaSymmetric.decouple_coupling(qhat_(l), w, n)[1]}

    def replicated(self):
        l = self.layer
        prefactor, _ = ReplicaSymmetric.decouple_coupling(qhat_(l), w, n)
        [(_, zeta)], fields = self.one_replica()
        per_replica = zeta.subs(fields)
        return -n * (n - 1) / 2 * qhat_(l) * q_(l) + sp.log(gaussian_average(prefactor * per_replica ** n, z, w))


class OutputSpins:
    r"""Output layer :math:`L`: outputs fixed by the data (random: :math:`\pm1` with probability 1/2; teacher:
    summed over the teacher's labels, the same up to a constant), :math:`\ln\tfrac12\sum_S\int Dh\prod_a\Theta(Sh^a-\kappa)`."""
    per = "pattern and unit"

    def __init__(self, layer):
        self.layer = layer
        self.overlaps, self.conjugates = (), ()

    def one_replica(self):
        r"""One replica given the shared field :math:`x`: [(1/2, :math:`\zeta_S(x)`) for the output :math:`S = \pm1`]
        with :math:`\zeta_S = \int Du\,\Theta(S(x + \sqrt{1-p_L}\,u) - \kappa)`, and {x: sqrt(p) z}."""
        l = self.layer
        return [(sp.Rational(1, 2), _constraint_given_field(l, S)) for S in (1, -1)], {x: _shared_field(l)}

    def replicated(self):
        weighted, fields = self.one_replica()
        return sp.log(gaussian_average(sum(c * f.subs(fields) ** n for c, f in weighted), z))


# --------------------------------------------------------------------------------------------------------
# Architecture and derived theory
# --------------------------------------------------------------------------------------------------------
class DeepPerceptron:
    """A deep network of sign perceptrons (see the module docstring): depth and scenario."""

    def __init__(self, depth, scenario="random"):
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
            raise ParameterError("depth must be an integer >= 1, got %r" % (depth,))
        if scenario not in SCENARIOS:
            raise ParameterError("scenario must be one of %s, got %r" % ("|".join(SCENARIOS), scenario))
        self.depth = depth
        self.scenario = scenario

    def __repr__(self):
        return "DeepPerceptron(depth=%d, scenario=%r)" % (self.depth, self.scenario)

    def __eq__(self, other):
        return isinstance(other, DeepPerceptron) and (self.depth, self.scenario) == (other.depth, other.scenario)

    def __hash__(self):
        return hash((self.depth, self.scenario))

    def rules(self):
        """The layer rules: weights of every layer, spins of every hidden layer, the output boundary."""
        L = self.depth
        return ([SphericalWeights(l) for l in range(1, L + 1)] + [HiddenSpins(l) for l in range(1, L)]
                + [OutputSpins(L)])


def deep_perceptron(depth, scenario="random"):
    """Factory: :class:`DeepPerceptron` of ``depth`` layers of weights in the ``random`` or ``teacher`` scenario."""
    return DeepPerceptron(depth, scenario)


@lru_cache(maxsize=None)
def _derived(depth, scenario):
    properties = ("layer_terms", "free_entropy", "saddle_point_equations", "weight_entropy_inverse") + \
        (("replicon",) if scenario == "random" else ())
    return _cache.stored_theory(ReplicaTheory, DeepPerceptron(depth, scenario), properties)


def derive_replica(network):
    """The :class:`ReplicaTheory` of a :class:`DeepPerceptron`: derived once per depth and scenario per process, and
    stored in the cache directory (keyed by the engine's source) for the next process."""
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
        return {rule: _limit(expr, self.limit) for rule, expr in self.replicated.items()}

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
        """[(name, LaTeX)] of the free entropy and every saddle-point equation (for the CLI)."""
        out = [("free entropy", _tex(self.free_entropy))]
        for theta, eq in zip(self.order_parameters, self.saddle_point_equations):
            out.append(("saddle point %s" % theta, "%s = %s" % (_tex(eq.lhs), _tex(eq.rhs))))
        return out

    def compile(self, precision=None):
        """Numba solver (float64), or the mpmath one at ``precision`` digits (one solver per theory and precision)."""
        from .replica_solver import ReplicaSolver
        solvers = self.__dict__.setdefault("_solvers", {})
        if precision not in solvers:
            if precision is not None and (not isinstance(precision, int) or precision < 16):
                raise ParameterError("precision must be an integer number of digits >= 16, got %r" % (precision,))
            solvers[precision] = ReplicaSolver(self, precision)
        return solvers[precision]
