r"""Integration stages: the partition function part-way through integrating the weights out, from the readout
backwards.  A layer kind (:mod:`symbolic_rg.layers`) maps one stage to the next; the families read the last one.

*Scalar stages* (:class:`Stage`, deep linear networks, Li & Sompolinsky 2021).  A stage at layer :math:`m` is

.. math::
   Z = \int\prod_{l>m} du_l\, p_l(u_l) \int d^Pt\;
       e^{-\frac12 t^\top (T I + c\, G_m) t + i t^\top y}\;\int\prod_{l\le m}dW_l\,\mathrm{prior}(W_l),
   \qquad G_m = \sigma_{m+1}^2\, X_m X_m^\top / N_m,

with :math:`c` the product of the order parameters already introduced (:class:`OrderParameter`).

*Matrix stages* (:class:`MatrixStage`, globally gated networks, Li & Sompolinsky 2022; several outputs): the
tilt :math:`A` over an index set of gate products, integrated by :func:`integrate_matrix_hidden` and
:func:`integrate_matrix_readout` into Wishart order parameters (:class:`MatrixOrderParameter`); the model and
the integration are written out in :mod:`symbolic_rg.gated`.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import gaussian, latex as _latex
from .errors import ParameterError
from .symbols import n_modes

__all__ = ["OrderParameter", "Stage", "GateSet", "PositionSet", "HeadSet", "MatrixOrderParameter", "MatrixStage",
           "integrate_matrix_hidden", "integrate_matrix_readout", "integrate_matrix_conv"]

P = n_modes
_I = sp.Identity


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


class PositionSet(GateSet):
    r"""The :math:`n` filter positions of a convolutional layer as an index factor (weight :math:`1/n`): a channel's
    projections over positions, :math:`s_{ci} = t\cdot\phi(h_{ci})`, are tilted together."""


class HeadSet(GateSet):
    r"""The :math:`H` heads of an attention layer as an index factor (weight :math:`1/H`): the heads' value weights
    are independent, and a head acts on the tokens through its attention map instead of a gate value, so the index
    of the layers above grows by the head, an attention path :math:`\pi = (h_2, .., h_{L+1})` at the bottom."""


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


def integrate_matrix_hidden(stage, index, width, sigma, gates):
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


def integrate_matrix_readout(depth, sigma, gates=None, outputs=None):
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


def integrate_matrix_conv(stage, index, channels, sigma, positions, pooled):
    r"""Integrate the filters of a convolutional layer, the network's first (``positions``: its
    :class:`PositionSet`).  Every unit :math:`(c, i)` of the layer sees the stage's :math:`1\times1` tilt
    :math:`A`; channel :math:`c`'s filter :math:`w_c` enters all its positions, so its projections
    :math:`s_c = (t\cdot\phi(h_{ci}))_i/\sqrt{N_c}` are tilted together by :math:`A' = A\otimes I_n/n`
    (per-position readout: the flattened layer has :math:`N_cn` units), and the Wishart integration
    (:func:`integrate_matrix_hidden`) gives an :math:`n\times n` order parameter over position pairs; with
    ``pooled`` units (global average over positions) the tilt stays :math:`1\times1` and the kernel is the
    position average."""
    if stage.layer != index:
        raise ValueError("layer %d cannot integrate a stage at layer %d" % (index, stage.layer))
    if stage.dimension != 1:
        raise ParameterError("a convolutional layer below gated layers or several outputs is not implemented: "
                             "the tilt above it has dimension %s, it must be 1" % stage.dimension)
    if pooled:
        out = integrate_matrix_hidden(stage, index, channels, sigma, None)
        step = (r"\text{pool}:&\ s_c = \tfrac1n\sum_i t\cdot\phi(h_{ci})/\sqrt{N_{%d}},\quad "
                r"\mathrm{Var}\,s_c = \tfrac{\sigma_{%d}^2}{N_{%d}n^2}\sum_{ij}t^\top K_{ij}t" % (index, index, index))
        return MatrixStage(out.layer, out.tilt, out.tilt_inverse, out.log_det_tilt, out.factors,
                           out.order_parameters, out.steps + (step,), out.link)
    n = positions.count
    c, m = stage.link
    if c is None:                                   # the readout's constant tilt
        coefficient = sp.trace(stage.tilt.as_explicit()) / n
        tilt, tilt_inv, logdet = coefficient * _I(n), _I(n) / coefficient, sp.Integer(0)
        link = (None, None)
    else:                                           # c V_{l+1}, V_{l+1} 1 x 1
        tilt, tilt_inv, logdet = _tilt_from(stage.order_parameters[-1].symbol, c / n, n)
        link = (c / n, n)
    flat = MatrixStage(stage.layer, tilt, tilt_inv, logdet, stage.factors + (positions,), stage.order_parameters,
                       stage.steps, link)
    out = integrate_matrix_hidden(flat, index, channels, sigma, None)
    step = (r"\text{flatten}:&\ A' = A\otimes I_n/n,\quad s_{ci} = t\cdot\phi(h_{ci})/\sqrt{N_{%d}},\quad "
            r"\mathrm{Cov}(s_{ci}, s_{cj}) = \sigma_{%d}^2\,t^\top K_{ij}t/N_{%d}" % (index, index, index))
    return MatrixStage(out.layer, out.tilt, out.tilt_inverse, out.log_det_tilt, out.factors, out.order_parameters,
                       stage.steps + (step,) + out.steps[len(stage.steps):], out.link)
