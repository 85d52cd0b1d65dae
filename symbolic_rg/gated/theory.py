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

from functools import cached_property, lru_cache

import sympy as sp

from .. import cache, checks, latex as _latex
from ..layers import GatedLinear, Network
from ..matrices import FaceSplit, PartialTrace
from ..stages import GateSet
from ..symbols import n_modes, temperature
from .solver import GatedSolver

__all__ = ["GatedTheory", "derive_gated"]

P = n_modes
input_kernel = sp.MatrixSymbol("K_0", P, P)          # K_0 = X X^T / N_0 (training inputs)
labels = sp.MatrixSymbol("y", P, 1)
test_kernel = sp.MatrixSymbol("k_0", P, 1)            # k_0(x)_mu = x^mu . x / N_0
test_self = sp.Symbol("k_xx", positive=True)          # x . x / N_0
action_gradient = sp.MatrixSymbol("Phi", 1, 1)        # placeholder; resized per theory (dH/dA_0)
_I = sp.Identity


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

    def __reduce__(self):
        """Pickles as the derivation (read from the disk cache where it runs: a worker of a sweep)."""
        return derive_gated, (self.network,)

    def _repr_latex_(self):
        """The notebook display: :meth:`latex_equations` as one aligned block."""
        return _latex.display(self.latex_equations(), per_line=2)

    def compile(self, precision=None):
        """A float64 solver (:class:`~symbolic_rg.gated.GatedSolver`; NumPy/LAPACK on :math:`P\times P` matrices).
        There is no arbitrary-precision backend for matrix order parameters: ``precision`` must be None."""
        checks.float64_only(precision, "a gated theory")
        return GatedSolver(self)


@lru_cache(maxsize=32)
def derive_gated(network):
    """The :class:`GatedTheory` of ``network`` (cached in the process and on disk, like ``derive``)."""
    return cache.stored_theory(GatedTheory, network, ("effective_action", "gradient", "saddle_point_equations",
                                                       "data_gradient", "gp_kernel", "predictor"))
