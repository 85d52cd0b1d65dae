r"""Layer kinds and networks.  Each layer kind knows how to integrate itself out of the partition function.

Conventions (deep linear network, Li & Sompolinsky 2021):

* input :math:`x\in\mathbb R^{N_0}`; hidden layers :math:`x_l = W_l x_{l-1}/\sqrt{N_{l-1}}`,
  :math:`W_l\in\mathbb R^{N_l\times N_{l-1}}`, entries :math:`\mathcal N(0,\sigma_l^2)`;
* readout :math:`f(x) = a\cdot x_L/\sqrt{N_L}`, entries of :math:`a` :math:`\mathcal N(0,\sigma_a^2)`;
* Gibbs posterior :math:`P(\Theta)\propto e^{-\frac1{2T}\sum_\mu (f(x^\mu)-y^\mu)^2}\,\mathrm{prior}(\Theta)`.

Each layer kind maps one integration stage (:mod:`symbolic_rg.stages`) to the next: ``integrate_out`` on the
scalar stages of plain networks, ``integrate_gated`` on the matrix stages of gated or multi-output ones.  A
:class:`Network` is a composition of hidden layers and a readout; :func:`deep_linear`, :func:`deep_nonlinear`,
:func:`ggdln`, :func:`cnn` and :func:`attention_network` build the standard ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import checks, gaussian
from .activations import activation as _activation, scale_invariant, z as _z
from .errors import ParameterError
from .latex import latex
from .patches import Patches, Tokens
from .stages import (GateSet, HeadSet, OrderParameter, PositionSet, Stage, integrate_matrix_conv,
                     integrate_matrix_hidden, integrate_matrix_readout)

__all__ = ["Linear", "Nonlinear", "LinearReadout", "GatedLinear", "GatedReadout", "Conv", "TokenProjection",
           "Attention", "Network", "deep_linear", "deep_nonlinear", "ggdln", "cnn", "attention_network"]

_projection = sp.Symbol("q", positive=True)       # q = t^T G_{m-1} t, the quadratic form one unit sees
_field = sp.Symbol("b", real=True)                # b = (X_L^T t)_j / sqrt(N_L), the field a readout weight sees


@dataclass(frozen=True)
class Linear:
    r"""Hidden linear layer :math:`x_l = W_l x_{l-1}/\sqrt{N_{l-1}}`, :math:`W_{l,ij}\sim\mathcal N(0,\sigma_l^2)`.

    Integrating :math:`W_l` given the layers below: each of the :math:`N_l` rows gives a pre-activation
    vector :math:`h_i\sim\mathcal N(0, G_{l-1})`; only its projection :math:`s=t\cdot h_i`,
    :math:`s\sim\mathcal N(0,q)`, :math:`q = t^\top G_{l-1}t`, is tilted, by
    :math:`e^{-\beta s^2/2}` with :math:`\beta = c\,\sigma_{l+1}^2/N_l`.  The :math:`N_l` rows give
    :math:`(1+\beta q)^{-N_l/2}`, represented exactly as a Gamma mixture over the order parameter
    :math:`u_l` (mean :math:`\sigma_{l+1}^2`, shape :math:`N_l/2`), after which the stage's kernel
    is :math:`c\,u_l\,G_{l-1}`.
    """
    index: int
    width: sp.Symbol
    sigma: sp.Symbol

    @property
    def order_parameter(self):
        return sp.Symbol("u_%d" % self.index, positive=True)

    def integrate_out(self, stage: Stage) -> Stage:
        if stage.layer != self.index:
            raise ValueError("layer %d cannot integrate a stage at layer %d" % (self.index, stage.layer))
        u, c, s2, N = self.order_parameter, stage.coefficient, stage.variance, self.width
        beta = c * s2 / N
        norm, second = gaussian.tilted_unit(beta, _projection)
        all_units = sp.powsimp(norm ** N, force=True)            # N_l independent rows
        log_p, u_given_q = gaussian.gamma_mixture(u, N, s2, c, _projection)
        # Saddle point: eliminate q in favour of u through u = <u>_q.
        q_of_u = sp.solve(sp.Eq(u, u_given_q), _projection)[0]
        # tilted row covariance <h h^T> = G + (<s^2> - q)/q^2 G t t^T G
        kernel_coefficient = sp.simplify(((second - _projection) / _projection**2).subs(_projection, q_of_u))
        vector_factor = sp.simplify((s2 * second / _projection).subs(_projection, q_of_u))
        op = OrderParameter(u, self.index, N, s2, log_p, kernel_coefficient, vector_factor)
        step = (r"\int dW_{%d}:&\ \prod_{i=1}^{N_{%d}}\big\langle e^{-\beta s_i^2/2}\big\rangle = %s \\"
                r"&\ = \int_0^\infty du_{%d}\, p(u_{%d})\, e^{%s},\quad p = \mathrm{Gamma}\Big(%s, %s\Big)"
                % (self.index, self.index, latex(all_units), self.index, self.index,
                   latex(-c * u * _projection / 2), latex(N / 2), latex(N / (2 * s2))))
        return Stage(self.index - 1, c * u, self.sigma**2, stage.order_parameters + (op,),
                     stage.steps + (step,))

    def integrate_gated(self, stage):
        r"""The same integration inside a gated network (matrix stage): one gate, :math:`g\equiv1`."""
        return integrate_matrix_hidden(stage, self.index, self.width, self.sigma, None)


@dataclass(frozen=True)
class Nonlinear(Linear):
    r"""Hidden layer :math:`x_l = \phi(W_lx_{l-1}/\sqrt{N_{l-1}})`, integrated exactly as :class:`Linear` (one
    scalar order parameter :math:`u_l` renormalising the kernel of the layer's output) with the layer's
    Gaussian-process map :math:`\Phi(K) = \langle\phi(h)\phi(h')\rangle_{h\sim\mathcal N(0,K)}` applied to the
    input kernel (:class:`~symbolic_rg.pdlt.NNGPInputKernel`):

    * a positively homogeneous :math:`\phi` (ReLU, leaky ReLU, abs), any depth: :math:`K_0 =
      \sigma_1^2\,\Phi^L(XX^\top/N_0)`, the heuristic kernel renormalization of Li & Sompolinsky (2021);
    * any activation with Gaussian averages (erf, tanh, GELU, ...), one hidden layer: :math:`K_0 =
      \Phi(\sigma_1^2XX^\top/N_0)`, the Gaussian equivalence of the hidden layer's projections (Pacelli et al.,
      Nat. Mach. Intell. 5, 1497 (2023); deepbays' ``FC_1HL``).

    Exact for linear :math:`\phi`; otherwise exact only as :math:`N_0, N_1, P\to\infty` proportionally (the
    projections :math:`t\cdot\phi(h_i)` Gaussian, their mean neglected)."""
    activation: str = "relu"


@dataclass(frozen=True)
class LinearReadout:
    r"""Linear readout :math:`f = a\cdot x_L/\sqrt{N_L}`, :math:`a_j\sim\mathcal N(0,\sigma_a^2)`.

    After the Hubbard--Stratonovich transform
    :math:`e^{-\|f-y\|^2/2T}\propto\int d^Pt\, e^{-\frac T2 t^\top t + i t^\top (f-y)}`, each readout
    weight sees the field :math:`b_j = (X_L^\top t)_j/\sqrt{N_L}` and integrates to
    :math:`e^{-\sigma_a^2 b_j^2/2}`; together :math:`e^{-\frac12 t^\top G_L t}`.
    """
    sigma: sp.Symbol

    def integrate_out(self, depth: int) -> Stage:
        per_weight = gaussian.source_integral(self.sigma**2, _field)
        exponent = sp.expand_log(sp.log(per_weight), force=True)
        # sum_j b_j^2 = t^T X_L X_L^T t / N_L, so sum_j (-sigma_a^2 b_j^2/2) = -1/2 t^T G_L t with
        # G_L = sigma_a^2 X_L X_L^T / N_L: the coefficient of the stage kernel is read off the exponent.
        coefficient = sp.simplify(-2 * exponent / (self.sigma**2 * _field**2))
        step = (r"\int da_j\, \mathcal N(a_j;0,\sigma_a^2)\, e^{i a_j b}:&\ %s,\quad b = (X_L^\top t)_j/\sqrt{N_L}"
                % latex(per_weight))
        return Stage(depth, coefficient, self.sigma**2, (), (step,))

    def integrate_gated(self, depth):
        """The same integration inside a gated network (matrix stage, one output)."""
        return integrate_matrix_readout(depth, self.sigma)


@dataclass(frozen=True)
class GatedLinear:
    r"""Gated hidden layer :math:`x_l = \frac1{\sqrt{M_lN_{l-1}}}\sum_m g^l_m W^{l,m}x_{l-1}`."""
    index: int
    width: sp.Symbol
    sigma: sp.Symbol
    gates: GateSet

    def integrate_gated(self, stage):
        return integrate_matrix_hidden(stage, self.index, self.width, self.sigma, self.gates)


@dataclass(frozen=True)
class GatedReadout:
    r"""Readout :math:`f_k = \frac1{\sqrt{MN_L}}\sum_m g_m(x)\,a^{k,m}\cdot x_L` (``gates=None``: linear,
    :math:`f_k = a^k\cdot x_L/\sqrt{N_L}`), ``outputs`` outputs :math:`k`."""
    sigma: sp.Symbol
    gates: GateSet = None
    outputs: int = 1

    def integrate_gated(self, depth):
        out = GateSet("out", self.outputs, normalized=False) if self.outputs != 1 else None
        return integrate_matrix_readout(depth, self.sigma, self.gates, out)


@dataclass(frozen=True)
class Conv:
    r"""Convolutional first layer (one input channel; :class:`~symbolic_rg.patches.Patches` gives the geometry):
    :math:`h_{ci}(x) = w_c\cdot x_{(i)}/\sqrt M`, :math:`x_{1,ci} = \phi(h_{ci})`, :math:`c = 1..N_1` channels,
    :math:`i = 1..n` positions, filters :math:`w_{c,k}\sim\mathcal N(0,\sigma_1^2)`.  The layer above reads the
    :math:`N_1n` units flattened (``pooled=False``) or their averages over positions, :math:`N_1` units
    (``pooled=True``, global average pooling).

    Integrating the filters (:func:`~symbolic_rg.stages.integrate_matrix_conv`): channel :math:`c`'s projections
    :math:`s_{ci} = t\cdot\phi(h_{ci})` over positions are Gaussian with covariance
    :math:`\sigma_1^2\,t^\top K_{ij}t`, :math:`K_{ij}(x,x') = x_{(i)}\cdot x'_{(j)}/M` (linear :math:`\phi`;
    otherwise the Gaussian-process map of the patch pair, Gaussian equivalence as for :class:`Nonlinear`), so the
    order parameter is an :math:`n\times n` matrix over position pairs and the renormalised kernel
    :math:`\sum_{ij}(A_0)_{ij}K_{ij}`: local kernel renormalization (Aiudi et al., Nat. Commun. 16, 2025)."""
    index: int
    width: sp.Symbol
    sigma: sp.Symbol
    patches: Patches
    pooled: bool = False
    activation: str = "linear"

    @property
    def positions(self):
        return PositionSet("p", self.patches.count)

    @property
    def linear(self):
        """Whether the activation is the identity (the exact theory)."""
        return _activation(self.activation) == _z

    def integrate_gated(self, stage):
        return integrate_matrix_conv(stage, self.index, self.width, self.sigma, self.positions, self.pooled)


@dataclass(frozen=True)
class TokenProjection(Linear):
    r"""First layer of an attention network: the same weights on every token, :math:`z_1 = W_1x/\sqrt{N_0}`
    (:math:`x\in\mathbb R^{N_0\times T}`, ``tokens`` a :class:`~symbolic_rg.patches.Tokens`).  It integrates as a
    plain linear layer of a matrix stage (:func:`~symbolic_rg.stages.integrate_matrix_hidden`): its units'
    projections along the attention paths above, :math:`s_{j\pi} = t\cdot(W_1x\,\omega_\pi)_j`, have covariance
    :math:`\sigma_1^2t^\top C_{\pi\pi'}t`, :math:`C_{\pi\pi'}(x,x') = (x\omega_\pi)\cdot(x'\omega_{\pi'})/N_0`."""
    tokens: Tokens = None


@dataclass(frozen=True)
class Attention(GatedLinear):
    r"""Multi-head attention layer with fixed attention maps (functions of the network's input, e.g. the softmax of
    a frozen query--key product), independent value weights per head and no output projection:
    :math:`z_l = \frac1{\sqrt{H_lN_{l-1}}}\sum_{h=1}^{H_l}W^{l,h}z_{l-1}\Omega^{l,h}(x)`,
    :math:`W^{l,h}_{ij}\sim\mathcal N(0,\sigma_l^2)` (Tiberi, Mignacco, Irie & Sompolinsky, NeurIPS 2024).  It
    integrates as a gated layer whose gates (``gates``, a :class:`~symbolic_rg.stages.HeadSet`) are its heads: the
    order parameter below it is indexed by attention paths."""


@dataclass(frozen=True)
class Network:
    """A composition of hidden layers (input side first) and a readout."""
    layers: tuple
    readout: LinearReadout
    name: str = "network"

    @property
    def depth(self):
        return len(self.layers)

    @property
    def widths(self):
        return tuple(layer.width for layer in self.layers)

    @property
    def sigmas(self):
        """Prior standard deviations sigma_1..sigma_L, sigma_a (as symbols)."""
        return tuple(layer.sigma for layer in self.layers) + (self.readout.sigma,)

    @property
    def gated(self):
        """Whether the network needs matrix order parameters (a gated layer or readout, or several outputs)."""
        return isinstance(self.readout, GatedReadout) or any(isinstance(l, GatedLinear) for l in self.layers)

    @property
    def convolutional(self):
        """Whether the first layer is a convolution (:class:`Conv`)."""
        return bool(self.layers) and isinstance(self.layers[0], Conv)

    @property
    def attention(self):
        """Whether this is an attention network (a :class:`TokenProjection`, then :class:`Attention` layers)."""
        return bool(self.layers) and isinstance(self.layers[0], TokenProjection)

    def integrate(self):
        """Integrate all weights out, readout first; return the final :class:`Stage` (at layer 0)."""
        stage = self.readout.integrate_out(self.depth)
        for layer in reversed(self.layers):
            stage = layer.integrate_out(stage)
        return stage


def deep_linear(depth: int, outputs: int = 1) -> Network:
    r"""Deep linear network of ``depth`` hidden layers with a linear readout (``outputs`` > 1: one readout
    per output; its theory has matrix order parameters in output space, :mod:`symbolic_rg.gated`).

    >>> net = deep_linear(2)
    >>> net.widths
    (N_1, N_2)
    >>> net.sigmas
    (sigma_1, sigma_2, sigma_a)
    """
    checks.integer("depth", depth, low=1)
    checks.integer("outputs", outputs, low=1)
    layers = tuple(Linear(l, sp.Symbol("N_%d" % l, positive=True), sp.Symbol("sigma_%d" % l, positive=True))
                   for l in range(1, depth + 1))
    if outputs > 1:
        return Network(layers, GatedReadout(sp.Symbol("sigma_a", positive=True), None, outputs), "deep-linear")
    return Network(layers, LinearReadout(sp.Symbol("sigma_a", positive=True)), "deep-linear")


def deep_nonlinear(depth: int, activation: str = "relu") -> Network:
    r"""Deep network of ``depth`` :class:`Nonlinear` hidden layers with a linear readout.  A positively
    homogeneous ``activation`` (:math:`\phi(\lambda z) = \lambda\phi(z)` for :math:`\lambda > 0`: relu,
    leaky_relu:SLOPE, abs, linear) at any depth: the order parameters rescale the kernel, which such a network's GP
    kernel follows exactly.  Any other activation of :func:`~symbolic_rg.activation` (erf, tanh, gelu, a SymPy
    expression) with one hidden layer, where the renormalised kernel is :math:`u_1\Phi(\sigma_1^2XX^\top/N_0)`;
    deeper, the renormalised kernel of a layer would pass through the next activation and is no longer one scalar
    times a fixed Gram matrix, which this solver needs.

    >>> deep_nonlinear(2).layers[0].activation
    'relu'
    >>> deep_nonlinear(1, "erf").layers[0].activation
    'erf'
    """
    if not isinstance(activation, str):
        raise ParameterError("activation must be a name such as 'relu', 'erf' or 'leaky_relu:0.1', got %r"
                             % (activation,))
    checks.integer("depth", depth, low=1)
    sigma = _activation(activation)                  # a ParameterError for an unknown name
    if depth > 1 and not scale_invariant(sigma):
        raise ParameterError("depth must be 1 for activation %r, which is not positively homogeneous (phi(c z) = "
                             "c phi(z), c > 0: relu, leaky_relu:SLOPE, abs, linear work at any depth), got depth=%d: "
                             "deeper, the renormalised kernel passes through the next activation and is not one "
                             "scalar times a fixed Gram matrix" % (activation, depth))
    base = deep_linear(depth)
    layers = tuple(Nonlinear(l.index, l.width, l.sigma, activation) for l in base.layers)
    return Network(layers, base.readout, activation)


def ggdln(depth, gates=None, gated_readout=False, shared_gates=False, outputs=1, linear_layers=()):
    r"""Globally gated deep linear network.

    ``gates``: gate counts (an int for all layers, a list per layer, or None for symbols :math:`M_l`);
    ``shared_gates``: one gate set for all layers (and the readout); ``gated_readout``: gate the readout;
    ``outputs``: number of outputs; ``linear_layers``: indices of plain (ungated) layers.

    >>> net = ggdln(2, gated_readout=True)
    >>> [layer.gates.count for layer in net.layers], net.readout.gates.count
    ([M_1, M_2], M_a)
    """
    checks.integer("depth", depth, low=1)
    checks.integer("outputs", outputs, low=1)
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
            checks.integer("gate counts M", c, low=1)
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


def cnn(shape, filter, stride=1, depth=1, activation="linear", pooled=False):
    r"""Convolutional network: a :class:`Conv` layer on inputs of ``shape`` ((N_0,) or (H, W)) with filters of size
    ``filter`` and stride ``stride`` (one int or one per axis), then ``depth - 1`` fully connected :class:`Linear`
    layers, and a linear readout.  ``activation`` of the convolution: linear (exact theory), or any activation of
    :func:`~symbolic_rg.activation` (Gaussian equivalence of the channels' projections); ``pooled``: global average
    pooling over positions after the convolution (else the positions are flattened).

    >>> net = cnn((8, 8), filter=4, stride=2)
    >>> net.layers[0].patches.count, net.widths
    (9, (N_1,))
    """
    checks.integer("depth", depth, low=1)
    if not isinstance(activation, str):
        raise ParameterError("activation must be a name such as 'linear', 'relu' or 'erf', got %r" % (activation,))
    _activation(activation)                          # a ParameterError for an unknown name
    patches = Patches.of(shape, filter, stride)
    checks.instance("pooled", pooled, bool, "True or False")
    base = deep_linear(depth)
    first = base.layers[0]
    conv = Conv(1, first.width, first.sigma, patches, bool(pooled), activation)
    return Network((conv,) + base.layers[1:], base.readout, "cnn")


def attention_network(tokens, features, depth=1, heads=2, readout="mean"):
    r"""Deep multi-head attention network on sequences of ``tokens`` tokens with ``features`` features: a
    :class:`TokenProjection` (width :math:`N_1`), ``depth`` :class:`Attention` layers with ``heads`` heads each (an
    int, or one per layer), and a linear readout of the ``readout`` token (first, last, or the mean over tokens):
    :math:`f = a\cdot z_{L+1}\omega_r/\sqrt{N_{L+1}}` (default: the mean over tokens, average pooling).  The
    attention maps are given when solving.

    >>> net = attention_network(5, 8, depth=2, heads=[2, 3])
    >>> [type(l).__name__ for l in net.layers], net.widths
    (['TokenProjection', 'Attention', 'Attention'], (N_1, N_2, N_3))
    """
    checks.integer("depth", depth, low=1)
    counts = list(heads) if isinstance(heads, (list, tuple)) else [heads] * depth
    if len(counts) != depth:
        raise ParameterError("heads must be one count or %d counts (one per attention layer), got %r" % (depth, heads))
    for h in counts:
        checks.integer("heads H", h, low=1)
    geometry = Tokens.of(tokens, features, readout)
    base = deep_linear(depth + 1)
    first = base.layers[0]
    layers = [TokenProjection(1, first.width, first.sigma, geometry)]
    for l, h in zip(base.layers[1:], counts):
        layers.append(Attention(l.index, l.width, l.sigma, HeadSet("h%d" % l.index, h)))
    return Network(tuple(layers), base.readout, "attention")
