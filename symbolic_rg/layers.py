r"""Layer kinds and networks.  Each layer kind knows how to integrate itself out of the partition function.

Conventions (deep linear network, Li & Sompolinsky 2021):

* input :math:`x\in\mathbb R^{N_0}`; hidden layers :math:`x_l = W_l x_{l-1}/\sqrt{N_{l-1}}`,
  :math:`W_l\in\mathbb R^{N_l\times N_{l-1}}`, entries :math:`\mathcal N(0,\sigma_l^2)`;
* readout :math:`f(x) = a\cdot x_L/\sqrt{N_L}`, entries of :math:`a` :math:`\mathcal N(0,\sigma_a^2)`;
* Gibbs posterior :math:`P(\Theta)\propto e^{-\frac1{2T}\sum_\mu (f(x^\mu)-y^\mu)^2}\,\mathrm{prior}(\Theta)`.

The integration runs from the readout backwards through a sequence of :class:`Stage` objects.  A stage
at layer :math:`m` represents exactly

.. math::
   Z = \int\prod_{l>m} du_l\, p_l(u_l) \int d^Pt\;
       e^{-\frac12 t^\top (T I + c\, G_m) t + i t^\top y}\;\int\prod_{l\le m}dW_l\,\mathrm{prior}(W_l),
   \qquad G_m = \sigma_{m+1}^2\, X_m X_m^\top / N_m,

with :math:`c` the product of the order parameters already introduced.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import gaussian
from .errors import ParameterError

__all__ = ["OrderParameter", "Stage", "Linear", "Nonlinear", "LinearReadout", "Network", "deep_linear",
           "deep_nonlinear", "temperature"]

temperature = sp.Symbol("T", nonnegative=True)
_projection = sp.Symbol("q", positive=True)       # q = t^T G_{m-1} t, the quadratic form one unit sees
_field = sp.Symbol("b", real=True)                # b = (X_L^T t)_j / sqrt(N_L), the field a readout weight sees


@dataclass(frozen=True)
class OrderParameter:
    r"""A scalar order parameter :math:`u_l` with its exact measure :math:`\log p_l(u_l)`.

    ``kernel_coefficient`` and ``vector_factor`` record how layer ``layer``'s mean kernel follows from
    the layer below at the saddle point: :math:`\langle G_l\rangle = \sigma^2\langle G_{l-1}\rangle
    + \sigma^2\,\mathtt{kernel\_coefficient}\; G_{l-1}\langle tt^\top\rangle G_{l-1}` and
    :math:`G_l t = \mathtt{vector\_factor}\; G_{l-1} t`.
    """
    symbol: sp.Symbol
    layer: int
    width: sp.Symbol
    prior_variance: sp.Expr
    log_density: sp.Expr
    kernel_coefficient: sp.Expr
    vector_factor: sp.Expr


@dataclass(frozen=True)
class Stage:
    """The partition function after the layers above ``layer`` have been integrated out (see module doc)."""
    layer: int
    coefficient: sp.Expr
    variance: sp.Expr
    order_parameters: tuple = ()
    steps: tuple = ()


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
        from .latex import latex
        step = (r"\int dW_{%d}:&\ \prod_{i=1}^{N_{%d}}\big\langle e^{-\beta s_i^2/2}\big\rangle = %s \\"
                r"&\ = \int_0^\infty du_{%d}\, p(u_{%d})\, e^{%s},\quad p = \mathrm{Gamma}\Big(%s, %s\Big)"
                % (self.index, self.index, latex(all_units), self.index, self.index,
                   latex(-c * u * _projection / 2), latex(N / 2), latex(N / (2 * s2))))
        return Stage(self.index - 1, c * u, self.sigma**2, stage.order_parameters + (op,),
                     stage.steps + (step,))

    def integrate_gated(self, stage):
        r"""The same integration inside a gated network (matrix stage): one gate, :math:`g\equiv1`."""
        from .gated import integrate_hidden
        return integrate_hidden(stage, self.index, self.width, self.sigma, None)


@dataclass(frozen=True)
class Nonlinear(Linear):
    r"""Hidden layer :math:`x_l = \phi(W_lx_{l-1}/\sqrt{N_{l-1}})` with a positively homogeneous activation
    :math:`\phi` (ReLU, leaky ReLU, abs), in the heuristic kernel renormalization of Li & Sompolinsky:
    integrated exactly as :class:`Linear` (one scalar order parameter :math:`u_l` renormalising the kernel
    of the layer's output), with the layer's Gaussian-process map :math:`K\mapsto\langle\phi\phi\rangle_K`
    applied to the input kernel, so that :math:`K_0 = \sigma_1^2\,\Phi^L(XX^\top/N_0)`
    (:class:`~symbolic_rg.pdlt.NNGPInputKernel`).  Exact for linear :math:`\phi`; for ReLU a heuristic."""
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
        from .latex import latex
        step = (r"\int da_j\, \mathcal N(a_j;0,\sigma_a^2)\, e^{i a_j b}:&\ %s,\quad b = (X_L^\top t)_j/\sqrt{N_L}"
                % latex(per_weight))
        return Stage(depth, coefficient, self.sigma**2, (), (step,))

    def integrate_gated(self, depth):
        """The same integration inside a gated network (matrix stage, one output)."""
        from .gated import integrate_readout
        return integrate_readout(depth, self.sigma)


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
    if isinstance(depth, bool) or not isinstance(depth, (int,)) or depth < 1:
        raise ParameterError("depth must be an integer >= 1, got %r" % (depth,))
    if isinstance(outputs, bool) or not isinstance(outputs, int) or outputs < 1:
        raise ParameterError("outputs must be an integer >= 1, got %r" % (outputs,))
    layers = tuple(Linear(l, sp.Symbol("N_%d" % l, positive=True), sp.Symbol("sigma_%d" % l, positive=True))
                   for l in range(1, depth + 1))
    if outputs > 1:
        from .gated import GatedReadout
        return Network(layers, GatedReadout(sp.Symbol("sigma_a", positive=True), None, outputs), "deep-linear")
    return Network(layers, LinearReadout(sp.Symbol("sigma_a", positive=True)), "deep-linear")


def deep_nonlinear(depth: int, activation: str = "relu") -> Network:
    r"""Deep network of ``depth`` :class:`Nonlinear` hidden layers (heuristic kernel renormalization) with a
    linear readout.  ``activation`` must be positively homogeneous, :math:`\phi(\lambda z) = \lambda\phi(z)`
    for :math:`\lambda > 0` (the order parameters rescale the kernel, which such a network's GP kernel
    follows exactly).

    >>> deep_nonlinear(2).layers[0].activation
    'relu'
    """
    from .activations import _scale_invariant, activation as _activation
    if not isinstance(activation, str):
        raise ParameterError("activation must be a name such as 'relu' or 'leaky_relu:0.1', got %r" % (activation,))
    if not _scale_invariant(_activation(activation)):
        raise ParameterError("the heuristic kernel renormalization needs a positively homogeneous activation "
                             "(phi(c z) = c phi(z), c > 0: relu, leaky_relu:SLOPE, abs, linear), got %r" % activation)
    base = deep_linear(depth)
    layers = tuple(Nonlinear(l.index, l.width, l.sigma, activation) for l in base.layers)
    return Network(layers, base.readout, activation)
