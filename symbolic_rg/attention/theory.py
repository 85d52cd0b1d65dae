r"""Deep multi-head attention networks: kernel renormalization over pairs of attention paths (Tiberi, Mignacco, Irie
& Sompolinsky, NeurIPS 2024).

Model (:func:`~symbolic_rg.layers.attention_network`).  Sequences :math:`x\in\mathbb R^{N_0\times T}`; a token
projection :math:`z_1 = W_1x/\sqrt{N_0}`; attention layers
:math:`z_l = \frac1{\sqrt{H_lN_{l-1}}}\sum_hW^{l,h}z_{l-1}\Omega^{l,h}(x)`, :math:`l = 2..L+1`, with fixed attention
maps and independent value weights per head; readout :math:`f = a\cdot z_{L+1}\omega_r/\sqrt{N_{L+1}}`; Gaussian
priors, Gibbs posterior at temperature :math:`T`.

Integration (:mod:`symbolic_rg.stages`, from the readout backwards): each attention layer integrates as a gated
layer whose gates are its heads (:class:`~symbolic_rg.stages.HeadSet`), so the order parameter of layer :math:`l`
is a matrix over the partial paths :math:`(h_{L+1}..h_{l+1})`; the token projection's :math:`V_1` is a matrix over
whole attention paths :math:`\pi`, and the renormalised kernel is

.. math:: K = \sum_{\pi\pi'}(A_0)_{\pi\pi'}C_{\pi\pi'},\qquad
   C_{\pi\pi'}(x,x') = (x\omega_\pi)\cdot(x'\omega_{\pi'})/N_0,\qquad
   \omega_\pi = \Omega^{2,h_2}\cdots\Omega^{L+1,h_{L+1}}\omega_r,

:math:`A_0 = \sigma_1^2V_1`: the local kernel of :mod:`symbolic_rg.conv` with paths in place of filter positions.
At infinite width :math:`V_1\propto I`: only pairs of equal paths, the Gaussian process; at finite width the data
weight pairs of different paths (the paper's path interplay).  Exact at the saddle point (large :math:`N_l, P`).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .. import cache, checks
from ..conv.theory import ConvTheory
from .solver import AttentionSolver

__all__ = ["AttentionTheory", "derive_attention"]


class AttentionTheory(ConvTheory):
    """Saddle-point theory of a deep multi-head attention network (module doc), derived by
    :func:`derive_attention`."""

    def _local_structure(self, first):
        """The index set of the bottom: attention paths, as many as the product of the head counts."""
        self.tokens, self.pooled, self.activation, self.linear = first.tokens, False, "linear", True
        self.positions = int(self.input_tilt.shape[0])
        self.heads = tuple(int(layer.gates.count) for layer in self.network.layers[1:])

    def _pair_kernel_rows(self):
        mu, nu = sp.symbols("mu nu", integer=True)
        return [("path-pair kernel", sp.Eq(sp.Function(r"K_{\pi\pi'}")(mu, nu), sp.Symbol(
            r"(x^{\mu}\omega^{\mu}_{\pi})\cdot(x^{\nu}\omega^{\nu}_{\pi'})") / sp.Integer(self.tokens.features),
            evaluate=False)),
            ("attention path", sp.Eq(sp.Symbol(r"\omega_{\pi}"), sp.Symbol(
                r"\Omega^{2,h_2}\cdots\Omega^{%d,h_{%d}}\omega_r" % (self.depth, self.depth)), evaluate=False))]

    def _document_parts(self):
        """``(title, introduction, note on the derivation)`` of the LaTeX document."""
        intro = (
            "Deep multi-head attention network: %s; token projection $z_1 = W_1x/\\sqrt{N_0}$, attention layers "
            "$z_l = (H_lN_{l-1})^{-1/2}\\sum_h W^{l,h}z_{l-1}\\Omega^{l,h}(x)$, $l = 2..%d$, with heads %s, fixed "
            "attention maps and independent value weights per head; readout $f = a\\cdot z_{%d}\\omega_r/"
            "\\sqrt{N_{%d}}$; priors $\\mathcal N(0,\\sigma_l^2)$, Gibbs posterior at temperature $T$. "
            "The indices $i, j$ below run over the %d attention paths $\\pi = (h_{%d},..,h_2)$ (top head outermost): "
            "$K_{ij}$ is the path-pair kernel, $V_1$ the order parameter over pairs of paths (Tiberi et al. 2024). "
            "Saddle point of $Z\\propto\\int\\prod_l d\\mu(V_l)\\,e^{-H}$ at large $N_l, P$."
            % (self.tokens.describe(), self.depth, ", ".join(map(str, self.heads)), self.depth, self.depth,
               self.positions, self.depth))
        return ("Saddle-point theory: attention network, %d attention layer(s)" % (self.depth - 1), intro,
                "; an attention layer integrates as a gated layer whose gates are its heads")

    def __reduce__(self):
        return derive_attention, (self.network,)

    def compile(self, precision=None):
        """A float64 solver (:class:`~symbolic_rg.attention.AttentionSolver`); ``precision`` must be None."""
        checks.float64_only(precision, "an attention theory")
        return AttentionSolver(self)


@lru_cache(maxsize=32)
def derive_attention(network):
    """The :class:`AttentionTheory` of ``network`` (cached in the process and on disk, like ``derive``)."""
    return cache.stored_theory(AttentionTheory, network, ("effective_action", "gradient", "saddle_point_equations",
                                                          "data_gradient", "gp_kernel", "predictor"))
