r"""The symbolic recursions of "The Principles of Deep Learning Theory" for one activation, with their LaTeX
(the numerical recursions of many inputs are in :mod:`symbolic_rg.pdlt.recursions`)."""
from __future__ import annotations

from functools import cached_property

import numpy as np
import sympy as sp

from .. import latex as _latex
from ..activations import activation, gaussian_expectation, z
from ..errors import NoSolutionError
from ..two_point import closed_form
from .recursions import depth_scaling

__all__ = ["PDLTTheory"]


class PDLTTheory:
    r"""The symbolic recursions for one activation (one input), derived from the Gaussian average
    :math:`g(K) = \langle\sigma^2\rangle_K` (closed form, or the unevaluated integral):
    :math:`K' = C_b + C_Wg`, :math:`\chi_\parallel = C_Wg'(K)`, :math:`\chi_\perp = C_W\langle\sigma'^2\rangle_K`,
    :math:`V' = C_W^2(\langle\sigma^4\rangle_K - g^2) + r\chi_\parallel^2V`,
    :math:`K^{\{1\}\prime} = r(\chi_\parallel K^{\{1\}} + \tfrac{C_W}2 g''(K)V)`, and the two-input kernel and NTK
    maps with their closed forms where they exist.

    >>> th = PDLTTheory("relu")
    >>> th.chi_parallel
    C_W/2
    >>> th.correction_recursion.rhs == th.r * th.chi_parallel * th.K1
    True
    """

    def __init__(self, spec):
        self.spec = spec
        self.sigma = activation(spec)
        self.K, self.V = sp.symbols("K V", positive=True)
        self.K1 = sp.Symbol(r"K^{\{1\}}", real=True)
        self.C_W, self.C_b, self.r = sp.Symbol("C_W", positive=True), sp.Symbol("C_b", nonnegative=True), \
            sp.Symbol("r", positive=True)
        self.Theta = sp.Symbol("Theta", positive=True)
        self.lambda_b, self.lambda_W = sp.symbols("lambda_b lambda_W", nonnegative=True)

    def average(self, integrand):
        r""":math:`\langle f\rangle_K`: SymPy's closed form for piecewise-polynomial integrands (as in
        :func:`~symbolic_rg.activations.gaussian_expectation`), else the Gaussian integral unevaluated."""
        closed = gaussian_expectation(integrand, 1.0).closed_form
        if closed is not None:
            return closed.subs(sp.Symbol("K", positive=True), self.K)
        t = sp.Dummy("z", real=True)
        return sp.Integral(integrand.subs(z, t) * sp.exp(-t**2 / (2 * self.K)) / sp.sqrt(2 * sp.pi * self.K),
                           (t, -sp.oo, sp.oo))

    @staticmethod
    def _tidy(expr):
        """Simplify closed forms; expressions with unevaluated integrals are left as derived."""
        return expr if expr.has(sp.Integral) else sp.simplify(expr)

    @cached_property
    def g(self):
        return self.average(self.sigma**2)

    @cached_property
    def chi_parallel(self):
        return self._tidy(self.C_W * sp.diff(self.g, self.K))

    @cached_property
    def chi_perp(self):
        return self._tidy(self.C_W * self.average(sp.diff(self.sigma, z)**2))

    @cached_property
    def kernel_recursion(self):
        return sp.Eq(sp.Symbol("K'"), self.C_b + self.C_W * self.g)

    @cached_property
    def vertex_recursion(self):
        return sp.Eq(sp.Symbol("V'"), self._tidy(self.C_W**2 * (self.average(self.sigma**4) - self.g**2))
                     + self.r * self.chi_parallel**2 * self.V)

    @cached_property
    def correction_recursion(self):
        return sp.Eq(sp.Symbol("K1'"), self._tidy(self.r * (self.chi_parallel * self.K1
                                                             + self.C_W / 2 * sp.diff(self.g, self.K, 2) * self.V)))

    @cached_property
    def two_input(self):
        r"""Closed forms (or None) of :math:`\langle\sigma\sigma\rangle` and :math:`\langle\sigma'\sigma'\rangle`
        in :math:`K_{11}, K_{22}, \rho`."""
        d = sp.diff(self.sigma, z)
        return closed_form(self.sigma), closed_form(d)

    def latex_equations(self):
        """(name, LaTeX) pairs of the derived recursions and of the critical point."""
        L = _latex.latex
        eqs = [("activation", r"\sigma(z) = %s" % L(self.sigma)),
               ("kernel", r"K^{(\ell+1)} = %s" % L(self.kernel_recursion.rhs)),
               ("chi_parallel", r"\chi_\parallel(K) = %s" % L(self.chi_parallel)),
               ("chi_perp", r"\chi_\perp(K) = %s" % L(self.chi_perp)),
               ("vertex", r"V^{(\ell+1)} = %s" % L(self.vertex_recursion.rhs)),
               ("kernel_correction", r"K^{\{1\}(\ell+1)} = %s" % L(self.correction_recursion.rhs))]
        ss, dd = self.two_input
        for name, expr, lhs in (("pair_average", ss, r"\langle\sigma(z_1)\sigma(z_2)\rangle_K"),
                                ("pair_derivative_average", dd, r"\langle\sigma'(z_1)\sigma'(z_2)\rangle_K")):
            eqs.append((name, "%s = %s" % (lhs, L(expr) if expr is not None else
                                            r"\text{2-D Gauss--Hermite quadrature}")))
        eqs.append(("ntk", r"\Theta^{(\ell+1)}_{\alpha\beta} = \lambda_b + \lambda_W\langle\sigma_\alpha\sigma_\beta"
                           r"\rangle_{K^{(\ell)}} + C_W\langle\sigma'_\alpha\sigma'_\beta\rangle_{K^{(\ell)}}"
                           r"\Theta^{(\ell)}_{\alpha\beta}"))
        try:
            scaling = depth_scaling(self.spec)
            c = scaling.criticality
            kstar = "K^* = %.6g" % c.K_star if np.isfinite(c.K_star) else r"\text{every }K\text{ fixed}"
            cls = {"scale-invariant": r"\text{scale-invariant}", "K*=0": r"K^*=0\text{ class}",
                   "K*!=0": r"K^*\neq0\text{ class}"}[c.universality_class]
            eqs.append(("criticality", r"C_b = %.6g,\ C_W = %.6g,\ %s\ (%s),\quad "
                                       r"V^{(L)}/(K^{(L)})^2 \simeq %.6g\, L/n" % (c.C_b, c.C_W, kstar, cls, scaling.nu)))
        except NoSolutionError as exc:
            eqs.append(("criticality", r"\text{%s}" % str(exc).replace("_", r"\_")))
        return eqs

    def latex(self, document=False):
        body = "\n".join(r"\begin{equation}%s\end{equation}" % eq for _, eq in self.latex_equations())
        intro = (r"Recursions derived for the activation below, one input unless indexed, $r = n_\ell/n_{\ell-1}$, "
                 r"$K$, $V$, $K^{\{1\}}$ at layer $\ell$; $\langle\cdot\rangle$ is the Gaussian average at "
                 r"$K^{(\ell)}$, $\rho = K_{12}/\sqrt{K_{11}K_{22}}$.")
        text = intro + "\n" + body
        if not document:
            return text
        return ("\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n\\section*{PDLT recursions}\n"
                + text + "\n\\end{document}\n")


