r"""Globally gated deep linear networks (GGDLN; Li & Sompolinsky 2022): matrix order parameters.

Model.  Hidden layer :math:`l` with :math:`M_l` gates,
:math:`x_l(x) = \frac1{\sqrt{M_lN_{l-1}}}\sum_{m=1}^{M_l} g^l_m(x)\,W^{l,m}x_{l-1}(x)`,
:math:`W^{l,m}_{ij}\sim\mathcal N(0,\sigma_l^2)`; the gates are fixed functions of the network input,
shared by all units of a layer (or one set shared by all layers).  Readout linear,
:math:`f = a\cdot x_L/\sqrt{N_L}`, or gated, :math:`f = \frac1{\sqrt{MN_L}}\sum_m g_m(x)\,a^m\cdot x_L`;
with :math:`m` outputs each output has its own readout weights.  Plain :class:`~symbolic_rg.layers.Linear`
layers (one gate, :math:`g\equiv1`) mix freely with gated ones.  Gibbs posterior at temperature :math:`T`.

Integration (from the readout backwards).  After the layers above :math:`m` are integrated out,

.. math:: Z = \int d^Pt\, e^{-\frac T2 t^\top t + it^\top y}\,
   \Big\langle \exp\Big(-\tfrac12\sum_{\alpha\beta\in I_m} A_{\alpha\beta}\,(t\circ g_\alpha)^\top K_m
   (t\circ g_\beta)\Big)\Big\rangle,\qquad K_m = X_mX_m^\top/N_m,

where the index set :math:`I_m` collects products of the gates of the layers above (and the output index).
A unit :math:`j` of layer :math:`m` contributes through :math:`s_{j\alpha} = (t\circ g_\alpha)\cdot x_{m,j}/\sqrt{N_m}`,
:math:`s_j\sim\mathcal N(0,Q/N_m)` with :math:`Q_{\alpha\beta} = \frac{\sigma_m^2}{M_m}\sum_k
(t\circ g_\alpha\circ g^m_k)^\top K_{m-1}(t\circ g_\beta\circ g^m_k)`.  The :math:`N_m` units give
:math:`|I + AQ/N_m|^{-N_m/2}`, represented exactly by a Wishart matrix :math:`V_m\sim\mathcal W(N_m, A/N_m)`
(:func:`~symbolic_rg.gaussian.wishart_log_density`), after which the stage has index set
:math:`I_{m-1} = I_m\times\{1..M_m\}` and :math:`A' = \frac{\sigma_m^2}{M_m} V_m\otimes I_{M_m}`.  What the
integration produces is therefore an order parameter :math:`V_m` of dimension
:math:`d_m = |I_m|` = the product of the gate counts above layer :math:`m` — no shape is assumed.

At layer 0 the renormalised kernel is :math:`K = (G_0A_0G_0^\top)\circ K_0`, :math:`G_0` the face-splitting
product of the gate matrices.  In the invariant measure :math:`|V|^{-(d+1)/2}dV` the integrand is
:math:`e^{-H}` with

.. math:: H = \sum_m\tfrac{N_m}2\big[\mathrm{tr}(A_m^{-1}V_m) - \log|V_m| + \log|A_m|\big]
   + \tfrac12 y^\top(TI+K)^{-1}y + \tfrac12\log|TI+K|,

exactly; the theory is its saddle point at large :math:`N_m, P` (fixed :math:`d_m`, :math:`P/N_m`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import sympy as sp

from . import _cache, gaussian, latex as _latex
from .errors import ParameterError
from .layers import Linear, Network, temperature
from .matrices import FaceSplit, PartialTrace
from .theory import n_modes

__all__ = ["GateSet", "GatedLinear", "GatedReadout", "ggdln", "GatedTheory", "MatrixOrderParameter"]

P = n_modes
input_kernel = sp.MatrixSymbol("K_0", P, P)          # K_0 = X X^T / N_0 (training inputs)
labels = sp.MatrixSymbol("y", P, 1)
test_kernel = sp.MatrixSymbol("k_0", P, 1)            # k_0(x)_mu = x^mu . x / N_0
test_self = sp.Symbol("k_xx", positive=True)          # x . x / N_0
action_gradient = sp.MatrixSymbol("Phi", 1, 1)        # placeholder; resized per theory (dH/dA_0)
_I = sp.Identity


@dataclass(frozen=True)
class GateSet:
    r"""A set of gates :math:`g_1..g_M`, fixed functions of the network input.

    ``name`` labels its matrix :math:`G_{name}` (P x M, :math:`G_{\mu m} = g_m(x^\mu)`) and test row
    :math:`g_{name}(x)`; ``normalized`` gates enter with :math:`1/\sqrt M`; the output index of a
    multi-output network is a GateSet of indicator "gates" with ``normalized=False``.
    """
    name: str
    count: sp.Expr
    normalized: bool = True

    @property
    def matrix(self):
        return sp.MatrixSymbol("G_%s" % self.name if self.name else "G", P, self.count)

    @property
    def test_row(self):
        return sp.MatrixSymbol("g_%s" % self.name if self.name else "g", 1, self.count)

    @property
    def weight(self):
        return sp.Integer(1) / self.count if self.normalized else sp.Integer(1)


@dataclass(frozen=True)
class MatrixOrderParameter:
    r"""Order parameter :math:`V_l` (:math:`d\times d`, symmetric positive definite) with its exact measure.

    ``mean`` is :math:`A_l = \langle V_l\rangle`, a function of the order parameter above through
    :math:`A_l = \mathtt{link\_coefficient}\,(V_{l+1}\otimes I_{\mathtt{link\_gates}})` (constant for the top one).
    """
    symbol: sp.MatrixSymbol
    layer: int
    width: sp.Symbol
    mean: sp.MatrixExpr
    mean_inverse: sp.MatrixExpr
    log_density: sp.Expr
    link_coefficient: sp.Expr = None
    link_gates: sp.Expr = None

    @property
    def dimension(self):
        return self.symbol.shape[0]


@dataclass(frozen=True)
class MatrixStage:
    """Partition function after the layers above ``layer`` are integrated out (module doc): the tilt
    :math:`A` (``tilt``, with ``tilt_inverse``, and how it depends on the last order parameter) and the
    index factors (GateSets, outermost first)."""
    layer: int
    tilt: sp.MatrixExpr
    tilt_inverse: sp.MatrixExpr
    log_det_tilt: sp.Expr
    factors: tuple = ()
    order_parameters: tuple = ()
    steps: tuple = ()
    link: tuple = (None, None)                # (coefficient c, gate count M) of tilt = c V (x) I_M

    @property
    def dimension(self):
        return sp.Mul(*[f.count for f in self.factors])


def _tilt_from(V, coefficient, gates):
    """``(A, A^{-1}, log|A| up to constants)`` for :math:`A = c\\,V\\otimes I_M`."""
    if gates == 1:
        return coefficient * V, V.inverse() / coefficient, sp.log(sp.Determinant(V))
    return (coefficient * sp.KroneckerProduct(V, _I(gates)),
            sp.KroneckerProduct(V.inverse(), _I(gates)) / coefficient,
            gates * sp.log(sp.Determinant(V)))


def integrate_hidden(stage, index, width, sigma, gates):
    r"""Integrate hidden layer ``index`` (gates: a :class:`GateSet`, or None for a plain linear layer)."""
    if stage.layer != index:
        raise ValueError("layer %d cannot integrate a stage at layer %d" % (index, stage.layer))
    d = stage.dimension
    V = sp.MatrixSymbol("V_%d" % index, d, d)
    log_p = gaussian.wishart_log_density(V, width, stage.tilt, stage.tilt_inverse, stage.log_det_tilt)
    op = MatrixOrderParameter(V, index, width, stage.tilt, stage.tilt_inverse, log_p, *stage.link)
    count = 1 if gates is None else gates.count
    coefficient = sigma**2 * (1 if gates is None else gates.weight)
    tilt, tilt_inv, logdet = _tilt_from(V, coefficient, count)
    factors = stage.factors + (() if gates is None else (gates,))
    step = (r"\int dW_{%d}:&\ \prod_{j=1}^{N_{%d}}\big\langle e^{-s_j^\top A s_j/2}\big\rangle = "
            r"\big|I + A Q/N_{%d}\big|^{-N_{%d}/2} = \big\langle e^{-\mathrm{tr}(V_{%d}Q)/2}\big\rangle_{V_{%d}\sim"
            r"\mathcal W(N_{%d},\, A/N_{%d})},\quad A' = %s"
            % (index, index, index, index, index, index, index, index, _latex.latex(tilt)))
    return MatrixStage(index - 1, tilt, tilt_inv, logdet, factors, stage.order_parameters + (op,),
                       stage.steps + (step,), (coefficient, count))


def integrate_readout(depth, sigma, gates=None, outputs=None):
    r"""Integrate the readout weights: each :math:`a^{m}_j` sees the field
    :math:`b = (t\circ g_m)\cdot x_{L,j}/\sqrt{MN_L}` and gives :math:`e^{-\sigma_a^2b^2/2}`
    (:func:`~symbolic_rg.gaussian.source_integral`)."""
    b = sp.Symbol("b", real=True)
    per_weight = gaussian.source_integral(sigma**2, b)
    coefficient = sp.simplify(-2 * sp.expand_log(sp.log(per_weight), force=True) / (sigma**2 * b**2)) * sigma**2
    factors = tuple(f for f in (outputs, gates) if f is not None)
    for f in factors:
        coefficient = coefficient * f.weight
    d = sp.Mul(*[f.count for f in factors])
    tilt = coefficient * _I(d)
    step = (r"\int da\,\mathcal N(a;0,\sigma_a^2)\,e^{iab}:&\ %s,\quad A = %s"
            % (_latex.latex(per_weight), _latex.latex(tilt)))
    return MatrixStage(depth, tilt, _I(d) / coefficient, sp.Integer(0), factors, (), (step,))


@dataclass(frozen=True)
class GatedLinear:
    r"""Gated hidden layer :math:`x_l = \frac1{\sqrt{M_lN_{l-1}}}\sum_m g^l_m W^{l,m}x_{l-1}`."""
    index: int
    width: sp.Symbol
    sigma: sp.Symbol
    gates: GateSet

    def integrate_gated(self, stage):
        return integrate_hidden(stage, self.index, self.width, self.sigma, self.gates)


@dataclass(frozen=True)
class GatedReadout:
    r"""Readout :math:`f_k = \frac1{\sqrt{MN_L}}\sum_m g_m(x)\,a^{k,m}\cdot x_L` (``gates=None``: linear,
    :math:`f_k = a^k\cdot x_L/\sqrt{N_L}`), ``outputs`` outputs :math:`k`."""
    sigma: sp.Symbol
    gates: GateSet = None
    outputs: int = 1

    def integrate_gated(self, depth):
        out = GateSet("out", self.outputs, normalized=False) if self.outputs != 1 else None
        return integrate_readout(depth, self.sigma, self.gates, out)


def is_gated(network):
    """Whether ``network`` needs matrix order parameters (a gated layer or readout, or several outputs)."""
    return isinstance(network.readout, GatedReadout) or any(isinstance(l, GatedLinear) for l in network.layers)


def ggdln(depth, gates=None, gated_readout=False, shared_gates=False, outputs=1, linear_layers=()):
    r"""Globally gated deep linear network.

    ``gates``: gate counts (an int for all layers, a list per layer, or None for symbols :math:`M_l`);
    ``shared_gates``: one gate set for all layers (and the readout); ``gated_readout``: gate the readout;
    ``outputs``: number of outputs; ``linear_layers``: indices of plain (ungated) layers.

    >>> net = ggdln(2, gated_readout=True)
    >>> [layer.gates.count for layer in net.layers], net.readout.gates.count
    ([M_1, M_2], M_a)
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ParameterError("depth must be an integer >= 1, got %r" % (depth,))
    if isinstance(outputs, bool) or not isinstance(outputs, int) or outputs < 1:
        raise ParameterError("outputs must be an integer >= 1, got %r" % (outputs,))
    if gates is None:
        counts = ([sp.Symbol("M", integer=True, positive=True)] * (depth + 1) if shared_gates else
                  [sp.Symbol("M_%d" % l, integer=True, positive=True) for l in range(1, depth + 1)]
                  + [sp.Symbol("M_a", integer=True, positive=True)])
    else:
        counts = list(gates) if isinstance(gates, (list, tuple)) else [gates] * depth
        if len(counts) == depth:
            counts.append(counts[-1])
        if len(counts) != depth + 1:
            raise ParameterError("gates must be one count or %d counts (one per layer [+ readout]), got %r"
                                 % (depth, gates))
        for c in counts:
            if isinstance(c, bool) or not isinstance(c, int) or c < 1:
                raise ParameterError("gate counts M must be integers >= 1, got %r" % (gates,))
        if shared_gates and len(set(counts)) != 1:
            raise ParameterError("shared gates need one gate count, got %r" % (gates,))
    for l in linear_layers:
        if not (isinstance(l, int) and 1 <= l <= depth):
            raise ParameterError("linear_layers must be layer indices in [1, %d], got %r" % (depth, linear_layers))
    sets = ([GateSet("", counts[0])] * (depth + 1) if shared_gates else
            [GateSet(str(l), counts[l - 1]) for l in range(1, depth + 1)] + [GateSet("a", counts[depth])])
    layers = []
    for l in range(1, depth + 1):
        N, s = sp.Symbol("N_%d" % l, positive=True), sp.Symbol("sigma_%d" % l, positive=True)
        layers.append(Linear(l, N, s) if l in linear_layers else GatedLinear(l, N, s, sets[l - 1]))
    readout = GatedReadout(sp.Symbol("sigma_a", positive=True), sets[depth] if gated_readout else None, outputs)
    return Network(tuple(layers), readout, "ggdln")


class GatedTheory:
    """Saddle-point theory with matrix order parameters (module doc), derived by :func:`derive`."""

    def __init__(self, network: Network):
        self.network = network
        stage = network.readout.integrate_gated(network.depth)
        for layer in reversed(network.layers):
            stage = layer.integrate_gated(stage)
        self.steps = stage.steps
        self._ops = tuple(sorted(stage.order_parameters, key=lambda op: op.layer))
        self.order_parameters = tuple(op.symbol for op in self._ops)
        self.widths = network.widths
        self.sigmas = network.sigmas
        self.temperature = temperature
        self.factors = stage.factors
        self.gate_sets = tuple(dict.fromkeys(f for f in stage.factors))
        self.input_tilt = stage.tilt                                  # A_0
        self._link = stage.link
        d0 = stage.dimension
        self.gate_matrix = (FaceSplit(*[f.matrix for f in stage.factors]) if stage.factors
                            else sp.OneMatrix(P, 1))                  # G_0
        self.test_gates = (FaceSplit(*[f.test_row for f in stage.factors]) if stage.factors
                           else sp.OneMatrix(1, 1))
        self.kernel = sp.HadamardProduct(self.gate_matrix * self.input_tilt * self.gate_matrix.T, input_kernel) \
            if stage.factors else sp.Trace(self.input_tilt) * input_kernel
        self.action_gradient = sp.MatrixSymbol("Phi", d0, d0)          # dH/dA_0 (see data_gradient)

    @property
    def depth(self):
        return self.network.depth

    @property
    def gate_order(self):
        """The distinct gate sets, input side first (gated layers 1..L, then a gated readout)."""
        sets = [l.gates for l in self.network.layers if isinstance(l, GatedLinear)]
        sets.append(getattr(self.network.readout, "gates", None))
        return tuple(dict.fromkeys(g for g in sets if g is not None))

    @property
    def outputs(self):
        return getattr(self.network.readout, "outputs", 1)

    @property
    def measures(self):
        return self._ops

    # -- actions ---------------------------------------------------------------------------------
    @cached_property
    def resolvent(self):
        """:math:`(TI + K)^{-1}`."""
        return (temperature * _I(P) + self.kernel).inverse()

    @cached_property
    def data_term(self):
        r""":math:`-\log\int\frac{d^Pt}{(2\pi)^{P/2}}e^{-\frac12t^\top(TI+K)t+it^\top y}`."""
        return sp.Trace(labels.T * self.resolvent * labels) / 2 + sp.log(sp.Determinant(temperature * _I(P) + self.kernel)) / 2

    @cached_property
    def measure_term(self):
        r""":math:`-\sum_m[\log p(V_m) + \frac{d_m+1}2\log|V_m|]`, V-dependent part (exact, invariant measure)."""
        Vs = self.order_parameters
        total = 0
        for op in self._ops:
            jac = (op.dimension + 1) / 2 * sp.log(sp.Determinant(op.symbol))
            total += -op.log_density - jac
        terms = sp.Add.make_args(sp.expand(total))
        return sp.Add(*[t for t in terms if any(t.has(V) for V in Vs)])

    @cached_property
    def effective_action(self):
        """H(V) = measure_term + data_term (exact in the invariant measure; its saddle point is the theory)."""
        return self.measure_term + self.data_term

    @cached_property
    def data_gradient(self):
        r""":math:`\Phi = \partial H/\partial A_0 = G_0^\top(\Gamma\circ K_0)G_0`,
        :math:`\Gamma = \partial H/\partial K = \frac12[R - Ryy^\top R]`, :math:`R=(TI+K)^{-1}`."""
        R = self.resolvent
        gamma = (R - R * labels * labels.T * R) / 2
        G = self.gate_matrix
        if not self.factors:
            return sp.Trace(gamma * input_kernel) * sp.Identity(1)
        return G.T * sp.HadamardProduct(gamma, input_kernel) * G

    @cached_property
    def gradient(self):
        r""":math:`\partial H/\partial V_l` for every layer (input side first), by the rules of
        :mod:`symbolic_rg.matrices`, in terms of :math:`\Phi = \partial H/\partial A_0`."""
        out = []
        ops = self._ops
        for i, op in enumerate(ops):
            own = op.width / 2 * (op.mean_inverse - op.symbol.inverse())
            if i == 0:
                c, m = self._link
                below = c * PartialTrace(self.action_gradient, m)
            else:
                lower = ops[i - 1]
                dA = lower.width / 2 * (lower.mean_inverse - lower.mean_inverse * lower.symbol * lower.mean_inverse)
                below = lower.link_coefficient * PartialTrace(dA, lower.link_gates)
            out.append(sp.MatMul(own).doit() + below)
        return tuple(out)

    @cached_property
    def saddle_point_equations(self):
        r"""One matrix equation per layer: :math:`V_l^{-1} = A_l^{-1} + \frac2{N_l}\,\partial_{V_l}(\ldots)`,
        the stationarity :math:`\partial H/\partial V_l = 0` rearranged."""
        eqs = []
        for op, g in zip(self._ops, self.gradient):
            rest = sp.expand(2 / op.width * g - op.mean_inverse + op.symbol.inverse())
            eqs.append(sp.Eq(op.symbol.inverse(), op.mean_inverse + rest, evaluate=False))
        return tuple(eqs)

    # -- limits ------------------------------------------------------------------------------------
    def infinite_width_order_parameters(self):
        r"""Order parameters at their prior means, :math:`V_l = A_l` from the top down (the GP limit)."""
        sub = {}
        for op in reversed(self._ops):
            sub[op.symbol] = op.mean.xreplace(sub).doit()
        return sub

    @cached_property
    def gp_kernel(self):
        r"""Infinite-width kernel: :math:`K` with every :math:`V_l = A_l`
        (:math:`= c\,(G_0G_0^\top)\circ K_0 = c\prod_l(G_lG_l^\top)\circ K_0`)."""
        sub = self.infinite_width_order_parameters()
        kernel = self.kernel.xreplace(sub).doit()

        def gram_of_products(e):          # (G_a . G_b)(G_a . G_b)^T = (G_a G_a^T) o (G_b G_b^T)
            args = e.args
            for i in range(len(args) - 1):
                if isinstance(args[i], FaceSplit) and args[i + 1] == args[i].T:
                    gram = sp.HadamardProduct(*[G * G.T for G in args[i].args])
                    return sp.MatMul(*args[:i], gram, *args[i + 2:])
            return e
        return kernel.replace(lambda e: isinstance(e, sp.MatMul), gram_of_products)

    # -- observables -------------------------------------------------------------------------------
    @cached_property
    def predictor(self):
        r"""``(mean, variance)`` of :math:`f(x)`: Gaussian conditioning with the renormalised kernel,
        :math:`\mu = k^\top(TI+K)^{-1}y`, :math:`\Sigma = K(x,x) - k^\top(TI+K)^{-1}k`,
        :math:`k = ((G_0A_0g_0(x)^\top)\circ k_0(x))`."""
        A, g = self.input_tilt, self.test_gates
        kxx = sp.Trace(g * A * g.T) * test_self if self.factors else sp.Trace(A) * test_self
        k, R = self._test_vector, self.resolvent
        return sp.Trace(k * R * labels), kxx - sp.Trace(k * R * k.T)

    # -- export ------------------------------------------------------------------------------------
    @cached_property
    def _test_vector(self):
        r""":math:`k(x)^\top`, the renormalised kernel between the test input and the training inputs (1 x P)."""
        if self.factors:
            return sp.HadamardProduct(self.test_gates * self.input_tilt * self.gate_matrix.T, test_kernel.T)
        return sp.Trace(self.input_tilt) * test_kernel.T

    def _display(self, expr):
        r"""``expr`` with :math:`R=(TI+K)^{-1}`, :math:`K`, :math:`k(x)`, :math:`G_0`, :math:`g_0` named and
        :math:`V_l^\top\to V_l` (symmetric)."""
        names = {self.resolvent: sp.MatrixSymbol("R", P, P), self._test_vector: sp.MatrixSymbol("k", 1, P),
                 self._test_vector.T: sp.MatrixSymbol("k", 1, P).T}
        expr = expr.xreplace(names).xreplace({self.kernel: sp.MatrixSymbol("K", P, P)})
        if isinstance(self.gate_matrix, FaceSplit):
            expr = expr.xreplace({self.gate_matrix: sp.MatrixSymbol("G_0", *self.gate_matrix.shape),
                                  self.test_gates: sp.MatrixSymbol("g_0", *self.test_gates.shape)})
        return expr.replace(lambda e: isinstance(e, sp.Transpose) and e.arg in self.order_parameters,
                            lambda e: e.arg)

    def latex_equations(self):
        """``[(name, Eq)]``: the effective action, the kernel and resolvent, Phi, one equation per layer,
        the GP kernel, and the predictor."""
        d = self._display
        eq = lambda lhs, rhs: sp.Eq(lhs, rhs, evaluate=False)
        K, R = sp.MatrixSymbol("K", P, P), sp.MatrixSymbol("R", P, P)
        rows = []
        if isinstance(self.gate_matrix, FaceSplit):
            rows.append(("gate products", eq(sp.MatrixSymbol("G_0", *self.gate_matrix.shape), self.gate_matrix)))
        rows += [("renormalized kernel", eq(K, self._display_test_vector(self.kernel))),
                 ("resolvent", eq(R, (temperature * _I(P) + K).inverse())),
                 ("effective action", eq(sp.Symbol("H"), d(self.effective_action))),
                 ("data gradient", eq(self.action_gradient, d(self.data_gradient)))]
        for op, e in zip(self._ops, self.saddle_point_equations):
            rows.append(("layer %d" % op.layer, eq(e.lhs, d(e.rhs))))
        rows.append(("GP limit", eq(sp.Symbol("K_{GP}"), d(self.gp_kernel))))
        mean, var = self.predictor
        rows.append(("test kernel", eq(sp.MatrixSymbol("k", 1, P), self._display_test_vector())))
        rows.append(("predictor mean", eq(sp.Function("mu")(sp.Symbol("x")), d(mean))))
        rows.append(("predictor variance", eq(sp.Function("Sigma")(sp.Symbol("x")), d(var))))
        return rows

    def _display_test_vector(self, expr=None):
        """Like :meth:`_display` but keeps the kernel / test vector written out (their defining rows)."""
        expr = self._test_vector if expr is None else expr
        if isinstance(self.gate_matrix, FaceSplit):
            expr = expr.xreplace({self.gate_matrix: sp.MatrixSymbol("G_0", *self.gate_matrix.shape),
                                  self.test_gates: sp.MatrixSymbol("g_0", *self.test_gates.shape)})
        return expr.replace(lambda e: isinstance(e, sp.Transpose) and e.arg in self.order_parameters,
                            lambda e: e.arg)

    def latex(self, document=False):
        """The equations as a LaTeX ``align`` block, or a complete document with ``document=True``."""
        body = _latex.align([(eq, name) for name, eq in self.latex_equations()], per_line=2)
        if not document:
            return body
        intro = (
            "Globally gated deep linear network of depth $L=%d$: "
            "$x_l = (M_lN_{l-1})^{-1/2}\\sum_m g^l_m(x) W^{l,m}x_{l-1}$ (plain layers: one gate, $g\\equiv1$), "
            "readout %s, priors $\\mathcal N(0,\\sigma_l^2)$ and $\\mathcal N(0,\\sigma_a^2)$, Gibbs posterior at "
            "temperature $T$. $K_0 = XX^\\top/N_0$, $G_l$ the $P\\times M_l$ matrix of gate values on the training "
            "inputs, $\\bullet$ the row-wise Kronecker (face-splitting) product, $\\circ$ the Hadamard product, "
            "$\\otimes$ the Kronecker product, $\\mathrm{Tr}_M$ the partial trace over a gate index. "
            "The order parameters $V_l$ are symmetric positive-definite matrices indexed by products of the gates "
            "of the layers above; $k_0(x)_\\mu = x^\\mu\\cdot x/N_0$, $k_{xx} = x\\cdot x/N_0$, $g_l(x)$ the gate "
            "values at the test input. With several outputs the training points are the (output, input) pairs, "
            "$G_{out}$ their output indicators. Saddle point of $Z\\propto\\int\\prod_l d\\mu(V_l)\\,e^{-H}$ at "
            "large $N_l,P$."
            % (self.depth, "$f = (MN_L)^{-1/2}\\sum_m g_m(x)\\,a^m\\cdot x_L$" if isinstance(
                getattr(self.network.readout, "gates", None), GateSet) else "$f = a\\cdot x_L/\\sqrt{N_L}$"))
        derivation = ("\\paragraph{Derivation.} Weights integrated from the readout backwards "
                      "(Hubbard--Stratonovich field $t$; $A$ the current tilt; unit $j$ of layer $l$ enters through "
                      "its gate-indexed projections $s_{j\\alpha} = (t\\circ g_\\alpha)\\cdot x_{l,j}/\\sqrt{N_l}$, "
                      "$s_j\\sim\\mathcal N(0, Q/N_l)$ given the layers below):\n\\begin{align*}\n%s\n\\end{align*}"
                      % " \\\\\n".join(self.steps))
        return _latex.document("Saddle-point theory: %s, depth %d" % (self.network.name, self.depth),
                               intro + "\n\n" + derivation + "\n\n" + body)

    def _repr_latex_(self):
        return "$$" + self.latex().replace("\\begin{align}", "\\begin{aligned}").replace("\\end{align}", "\\end{aligned}") + "$$"

    def compile(self):
        """A float64 solver (:class:`~symbolic_rg.gated_solver.GatedSolver`)."""
        from .gated_solver import GatedSolver
        return GatedSolver(self)


@lru_cache(maxsize=32)
def derive_gated(network):
    """The :class:`GatedTheory` of ``network`` (cached in the process and on disk, like ``derive``)."""
    return _cache.stored_theory(GatedTheory, network, ("effective_action", "gradient", "saddle_point_equations",
                                                       "data_gradient", "gp_kernel", "predictor"))
