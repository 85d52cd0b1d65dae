r"""Convolutional networks: local kernel renormalization (Aiudi et al., Nat. Commun. 16, 2025).

Model.  A convolutional first layer (:class:`~symbolic_rg.layers.Conv`, geometry
:class:`~symbolic_rg.patches.Patches`): :math:`h_{ci}(x) = w_c\cdot x_{(i)}/\sqrt M`, :math:`N_1` channels
:math:`c`, :math:`n` positions :math:`i`, filters :math:`w_{c,k}\sim\mathcal N(0,\sigma_1^2)`; then
:class:`~symbolic_rg.layers.Linear` layers reading the flattened :math:`N_1n` units :math:`\phi(h_{ci})` (or their
position averages, ``pooled``), and a linear readout; Gibbs posterior at temperature :math:`T`.

Integration (from the readout backwards, :mod:`symbolic_rg.stages`): the readout and the linear layers give
scalar Wishart order parameters :math:`V_l` (:math:`1\times1`) exactly as in a deep linear network; the
convolution sees the tilt :math:`A\otimes I_n/n` on each channel's projections over positions
(:func:`~symbolic_rg.stages.integrate_matrix_conv`), whose covariance is :math:`\sigma_1^2 t^\top K_{ij}t` with
the position-pair kernels

.. math:: K_{ij}(x, x') = x_{(i)}\cdot x'_{(j)}/M\quad(\text{linear }\phi),\qquad
   \sigma_1^2K_{ij}(x,x') = \langle\phi(h)\phi(h')\rangle_{(h,h')\sim\mathcal N(0,\sigma_1^2\Sigma_{ij})}
   \quad\text{(otherwise)},

:math:`\Sigma_{ij}` the Gram matrix of the patches :math:`x_{(i)}, x'_{(j)}` over :math:`M`; so :math:`V_1` is an
:math:`n\times n` matrix over position pairs and the renormalised kernel is
:math:`K = \sum_{ij}(A_0)_{ij}K_{ij}`, :math:`A_0 = \sigma_1^2V_1` (pooled: :math:`V_1` scalar,
:math:`K = A_0\,\frac1{n^2}\sum_{ij}K_{ij}`).  The effective action is the gated one
(:mod:`symbolic_rg.gated`) with this kernel: :math:`H = \sum_l\frac{N_l}2[\mathrm{tr}(A_l^{-1}V_l) - \log|V_l|]
+ \frac12y^\top(TI+K)^{-1}y + \frac12\log|TI+K|`, and :math:`\partial H/\partial A_0 = [\mathrm{tr}(\Gamma
K_{ij})]_{ij}`, :math:`\Gamma = \frac12(R - Ryy^\top R)`.  Exact for linear :math:`\phi` at the saddle point
(large :math:`N_1, P`, fixed :math:`n`); for a nonlinear :math:`\phi` the projections are taken Gaussian (the
paper's Gaussian equivalence).  One position covering the input is the fully connected network.
"""
from __future__ import annotations

from functools import cached_property, lru_cache

import sympy as sp

from .. import cache, checks, latex as _latex
from ..gated.theory import GatedTheory
from ..matrices import LocalKernel, PatchTrace
from ..symbols import n_modes, temperature
from .solver import ConvSolver

__all__ = ["ConvTheory", "derive_conv"]

P = n_modes
labels = sp.MatrixSymbol("y", P, 1)
pooled_kernel = sp.MatrixSymbol("K_pool", P, P)          # (1/n^2) sum_ij K_ij on the training inputs
pooled_test = sp.MatrixSymbol("k_pool", 1, P)
pooled_self = sp.Symbol("k_pool_xx", positive=True)


class ConvTheory(GatedTheory):
    """Saddle-point theory of a convolutional network (module doc), derived by :func:`derive_conv`."""

    def __init__(self, network):
        super().__init__(network)
        self._local_structure(network.layers[0])
        A = self.input_tilt
        self.kernel = sp.Trace(A) * pooled_kernel if self.pooled else LocalKernel(A, "K", P, P)

    def _local_structure(self, first):
        """The first layer's index set: the convolution's positions, pooled or not, and its activation."""
        self.patches, self.pooled, self.activation = first.patches, first.pooled, first.activation
        self.positions, self.linear = first.patches.count, first.linear

    @cached_property
    def data_gradient(self):
        r""":math:`\Phi = \partial H/\partial A_0 = [\mathrm{tr}(\Gamma K_{ij})]_{ij}` (pooled:
        :math:`\mathrm{tr}(\Gamma K_{pool})`), :math:`\Gamma = \frac12[R - Ryy^\top R]`."""
        R = self.resolvent
        gamma = (R - R * labels * labels.T * R) / 2
        if self.pooled:
            return sp.Trace(gamma * pooled_kernel) * sp.Identity(1)
        return PatchTrace(gamma, self.positions)

    @cached_property
    def gp_kernel(self):
        r"""Infinite-width kernel: every :math:`V_l` at its prior mean; per-position readout
        :math:`\frac{\sigma_1^2\cdots\sigma_a^2}n\sum_iK_{ii}`, the Gaussian process of neural-tangents'
        ``Conv -> Flatten -> Dense`` (pooled: of ``Conv -> GlobalAvgPool -> Dense``)."""
        return self.kernel.xreplace(self.infinite_width_order_parameters()).doit()

    @cached_property
    def _test_vector(self):
        r""":math:`k(x)^\top = [\sum_{ij}(A_0)_{ij}K_{ij}(x, x^\mu)]_\mu` (1 x P)."""
        A = self.input_tilt
        return sp.Trace(A) * pooled_test if self.pooled else LocalKernel(A, "k", 1, P)

    @cached_property
    def predictor(self):
        r"""``(mean, variance)`` of :math:`f(x)`: :math:`\mu = k^\top(TI+K)^{-1}y`,
        :math:`\Sigma = \sum_{ij}(A_0)_{ij}K_{ij}(x,x) - k^\top(TI+K)^{-1}k`."""
        A = self.input_tilt
        kxx = sp.Trace(A) * pooled_self if self.pooled else sp.Trace(LocalKernel(A, "k_xx", 1, 1))
        k, R = self._test_vector, self.resolvent
        return sp.Trace(k * R * labels), kxx - sp.Trace(k * R * k.T)

    def latex_equations(self):
        """``[(name, Eq)]``: the position-pair kernels, the renormalised kernel, resolvent, effective action, Phi,
        one equation per layer, the GP kernel and the predictor."""
        d = self._display
        eq = lambda lhs, rhs: sp.Eq(lhs, rhs, evaluate=False)
        K, R = sp.MatrixSymbol("K", P, P), sp.MatrixSymbol("R", P, P)
        rows = self._pair_kernel_rows()
        if self.pooled:
            rows.append(("pooled kernel", eq(pooled_kernel, sp.Symbol(r"\frac{1}{n^2}\sum_{ij}K_{ij}"))))
        rows += [("renormalized kernel", eq(K, self.kernel)),
                 ("resolvent", eq(R, (temperature * sp.Identity(P) + K).inverse())),
                 ("effective action", eq(sp.Symbol("H"), d(self.effective_action))),
                 ("data gradient", eq(self.action_gradient, d(self.data_gradient)))]
        for op, e in zip(self._ops, self.saddle_point_equations):
            rows.append(("layer %d" % op.layer, eq(e.lhs, d(e.rhs))))
        rows.append(("GP limit", eq(sp.Symbol("K_{GP}"), self.gp_kernel)))
        mean, var = self.predictor
        rows.append(("test kernel", eq(sp.MatrixSymbol("k", 1, P), self._test_vector)))
        rows.append(("predictor mean", eq(sp.Function("mu")(sp.Symbol("x")), d(mean))))
        rows.append(("predictor variance", eq(sp.Function("Sigma")(sp.Symbol("x")), d(var))))
        return rows

    def _pair_kernel_rows(self):
        """The definition of the pair kernels :math:`K_{ij}` as LaTeX rows."""
        mu, nu = sp.symbols("mu nu", integer=True)
        pair = sp.Function("K_{ij}")(mu, nu)
        if self.linear:
            return [("position-pair kernel", sp.Eq(pair, sp.Symbol(r"x^{\mu}_{(i)}\cdot x^{\nu}_{(j)}")
                                                   / sp.Integer(self.patches.size), evaluate=False))]
        return [("position-pair kernel", sp.Eq(sp.Symbol(r"\sigma_1^2") * pair, sp.Symbol(
            r"\langle \phi(h)\,\phi(h')\rangle_{(h,h')\sim\mathcal N(0,\,\sigma_1^2\Sigma_{ij}^{\mu\nu})}"),
            evaluate=False))]

    def latex(self, document=False):
        """The equations as a LaTeX ``align`` block, or a complete document with ``document=True``."""
        body = _latex.align([(eq, name) for name, eq in self.latex_equations()], per_line=2)
        if not document:
            return body
        title, intro, note = self._document_parts()
        derivation = ("\\paragraph{Derivation.} Weights integrated from the readout backwards "
                      "(Hubbard--Stratonovich field $t$, $A$ the current tilt%s):\n\\begin{align*}\n%s\n\\end{align*}"
                      % (note, " \\\\\n".join(self.steps)))
        return _latex.document(title, intro + "\n\n" + derivation + "\n\n" + body)

    def _document_parts(self):
        """``(title, introduction, note on the derivation)`` of the LaTeX document."""
        p = self.patches
        intro = (
            "Convolutional network: %s (one input channel, no padding); first layer $h_{ci}(x) = w_c\\cdot "
            "x_{(i)}/\\sqrt{M}$, $x_{1,ci} = %s$ with $N_1$ channels $c$, $n = %d$ positions $i$, "
            "$M = %d$; %s; %s, linear readout, priors "
            "$\\mathcal N(0,\\sigma_l^2)$, $\\mathcal N(0,\\sigma_a^2)$, Gibbs posterior at temperature $T$. "
            "$K_{ij}(x^\\mu, x^\\nu)$ is the kernel of position $i$ of one input and position $j$ of the other; "
            "$V_1$ is the $n\\times n$ order parameter over position pairs (local kernel renormalization, Aiudi et "
            "al. 2025). Saddle point of $Z\\propto\\int\\prod_l d\\mu(V_l)\\,e^{-H}$ at large $N_l, P$."
            % (p.describe(), "h_{ci}" if self.linear else "\\phi(h_{ci})",
               p.count, p.size, "global average pooling over positions" if self.pooled else
               "the layer above reads the $N_1n$ units flattened",
               "then %d fully connected linear layer(s)" % (self.depth - 1) if self.depth > 1
               else "no layer between it and the readout"))
        return "Saddle-point theory: convolutional network, depth %d" % self.depth, intro, ""

    def __reduce__(self):
        """Pickles as the derivation (read from the disk cache where it runs)."""
        return derive_conv, (self.network,)

    def compile(self, precision=None):
        """A float64 solver (:class:`~symbolic_rg.conv.ConvSolver`).  No arbitrary-precision backend for matrix
        order parameters: ``precision`` must be None."""
        checks.float64_only(precision, "a convolutional theory")
        return ConvSolver(self)


@lru_cache(maxsize=32)
def derive_conv(network):
    """The :class:`ConvTheory` of ``network`` (cached in the process and on disk, like ``derive``)."""
    return cache.stored_theory(ConvTheory, network, ("effective_action", "gradient", "saddle_point_equations",
                                                      "data_gradient", "gp_kernel", "predictor"))
