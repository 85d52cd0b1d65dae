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

import sympy as sp

from .. import checks
from ..errors import ParameterError
from ..special import gaussian_average, gaussian_measure, step_average
from .selection import NISHIMORI, OVERLAP

__all__ = ["ReplicaSymmetric", "SphericalWeights", "HiddenSpins", "OutputSpins", "Quenched", "Nishimori",
           "apply_limit", "DeepPerceptron", "deep_perceptron", "SCENARIOS", "ANSATZE", "LIMITS", "Q_", "q_", "qhat_", "p_",
           "n", "z", "w", "u", "x", "y", "alpha", "kappa"]

n = sp.Symbol("n")                                     # number of replicas
z, w, u = sp.symbols("z w u", real=True)               # Gaussian integration variables
x, y = sp.symbols("x y", real=True)                    # one replica's shared fields: x = sqrt(p) z, y = sqrt(qhat) w
alpha = sp.Symbol("alpha", positive=True)              # load M/c
kappa = sp.Symbol("kappa", nonnegative=True)           # Gardner margin
SCENARIOS = ("random", "teacher")
ANSATZE = {"rs": 0, "1rsb": 1}                        # replica ansatz: steps of replica-symmetry breaking


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


def apply_limit(term, limit):
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
    """A deep network of sign perceptrons (see the module docstring): depth, scenario and replica ansatz (``"rs"``, or
    ``"1rsb"``: one step of replica-symmetry breaking, :mod:`symbolic_rg.replica.rsb`; random scenario only)."""

    def __init__(self, depth, scenario="random", ansatz="rs"):
        checks.integer("depth", depth, low=1)
        if scenario not in SCENARIOS:
            raise ParameterError("scenario must be one of %s, got %r" % ("|".join(SCENARIOS), scenario))
        if not isinstance(ansatz, str) or ansatz not in ANSATZE:
            raise ParameterError("ansatz must be one of %s, got %r" % ("|".join(ANSATZE), ansatz))
        if scenario == "teacher" and ansatz != "rs":
            raise ParameterError("ansatz must be 'rs' in the teacher scenario, got %r: on the Nishimori line the "
                                 "replica-symmetric saddle point is exact (Nishimori 2001; Zdeborova-Krzakala 2016)"
                                 % ansatz)
        self.depth = depth
        self.scenario = scenario
        self.ansatz = ansatz
        self.steps = ANSATZE[ansatz]

    def __repr__(self):
        extra = ", ansatz=%r" % self.ansatz if self.ansatz != "rs" else ""
        return "DeepPerceptron(depth=%d, scenario=%r%s)" % (self.depth, self.scenario, extra)

    def __eq__(self, other):
        return isinstance(other, DeepPerceptron) and \
            (self.depth, self.scenario, self.ansatz) == (other.depth, other.scenario, other.ansatz)

    def __hash__(self):
        return hash((self.depth, self.scenario, self.ansatz))

    def rules(self):
        """The layer rules: weights of every layer, spins of every hidden layer, the output boundary."""
        L = self.depth
        return ([SphericalWeights(l) for l in range(1, L + 1)] + [HiddenSpins(l) for l in range(1, L)]
                + [OutputSpins(L)])


def deep_perceptron(depth, scenario="random", ansatz="rs"):
    """Factory: :class:`DeepPerceptron` of ``depth`` layers of weights in the ``random`` or ``teacher`` scenario,
    replica symmetric (``ansatz="rs"``) or with one step of replica-symmetry breaking (``"1rsb"``)."""
    return DeepPerceptron(depth, scenario, ansatz)
