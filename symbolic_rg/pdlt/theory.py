r"""The symbolic recursions of "The Principles of Deep Learning Theory" for one activation, with their LaTeX
(the numerical recursions of many inputs are in :mod:`symbolic_rg.pdlt.recursions`, the compiled solver in
:mod:`symbolic_rg.pdlt.solver`)."""
from __future__ import annotations

import re
from fractions import Fraction
from functools import cached_property

import sympy as sp

from .. import checks, latex as _latex
from ..activations import activation, gaussian_expectation, pointwise_derivatives, z
from ..errors import NoSolutionError
from ..two_point import STEP, closed_form
from .recursions import depth_scaling
from .solver import PDLTSolver

__all__ = ["PDLTTheory"]

u = sp.Symbol("u", real=True)           # the standard normal variable of unevaluated averages: z = sqrt(K) u
KERNEL = sp.Symbol("K", positive=True)  # the kernel of the closed forms of gaussian_expectation
SINGULAR = (sp.Piecewise, sp.Abs, sp.Heaviside, sp.sign, sp.Max, sp.Min)


class Printed(sp.Symbol):
    """A symbol whose LaTeX is its name verbatim (SymPy would read ``_`` and ``^`` in it as sub/superscripts)."""

    def _latex(self, printer):
        return self.name


def number(x):
    """A float as a SymPy number: the fraction it is (denominator <= 100, to 1e-12), else 6 significant digits."""
    q = Fraction(x).limit_denominator(100)
    if abs(float(q) - x) <= 1e-12 * max(1.0, abs(x)):
        return sp.Rational(q.numerator, q.denominator)
    return sp.Float(x, 6)


ESCAPES = {"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\~{}", "<": r"\textless{}", ">": r"\textgreater{}",
           "|": r"\textbar{}", **{c: "\\" + c for c in "_&%#${}"}}


def text(s):
    """A string as LaTeX text (special characters escaped)."""
    return re.sub(r"[\\^~<>|_&%#${}]", lambda m: ESCAPES[m.group()], s)


class PDLTTheory:
    r"""The symbolic recursions for one activation (one input), derived from the Gaussian average
    :math:`g(K) = \langle\sigma^2\rangle_K` (closed form, or the integral :math:`\int Du\,\sigma(\sqrt K u)^2`
    unevaluated): :math:`K' = C_b + C_Wg`, :math:`\Theta' = \lambda_b + \lambda_Wg + \chi_\perp\Theta`,
    :math:`\chi_\parallel = C_Wg'(K)`, :math:`\chi_\perp = C_W\langle\sigma'^2\rangle_K`,
    :math:`V' = C_W^2(\langle\sigma^4\rangle_K - g^2) + r\chi_\parallel^2V`,
    :math:`K^{\{1\}\prime} = r(\chi_\parallel K^{\{1\}} + \tfrac{C_W}2 g''(K)V)`, and the two-input averages
    in closed form where they exist.

    ``order_parameters`` are the layer quantities :math:`(K, \Theta, V, K^{\{1\}})` that ``recursions`` evolve.
    A network at initialization has no saddle point: ``saddle_point_equations`` are the stationarity conditions of
    the layer-to-layer flow instead, the fixed point :math:`K^* = C_b + C_Wg(K^*)` and criticality
    :math:`\chi_\parallel(K^*) = \chi_\perp(K^*) = 1`, which a critical initialization solves
    (:func:`~symbolic_rg.activations.criticality`).

    >>> th = PDLTTheory("relu")
    >>> th.chi_parallel
    C_W/2
    >>> th.correction_recursion.rhs == th.r * th.chi_parallel * th.K1
    True
    >>> th.saddle_point_equations[0]
    Eq(K^*, C_W*K^*/2 + C_b)
    """

    def __init__(self, spec):
        self.spec = spec
        self.sigma = activation(spec)
        self.K, self.V = sp.symbols("K V", positive=True)
        self.K1 = sp.Symbol(r"K^{\{1\}}", real=True)
        self.Theta = sp.Symbol("Theta", positive=True)
        self.C_W, self.C_b, self.r = sp.Symbol("C_W", positive=True), sp.Symbol("C_b", nonnegative=True), \
            sp.Symbol("r", positive=True)
        self.lambda_b, self.lambda_W = sp.symbols("lambda_b lambda_W", nonnegative=True)
        self.K_star, self.nu = sp.Symbol("K^*", nonnegative=True), sp.Symbol("nu", positive=True)
        self.order_parameters = (self.K, self.Theta, self.V, self.K1)

    def average(self, integrand):
        r""":math:`\langle f\rangle_K`: SymPy's closed form for piecewise-polynomial integrands (as in
        :func:`~symbolic_rg.activations.gaussian_expectation`), else :math:`\int Du\, f(\sqrt K u)` unevaluated
        (:math:`Du` the standard normal measure; finite at :math:`K = 0`)."""
        closed = gaussian_expectation(integrand, 1.0).closed_form
        if closed is not None:
            return closed.subs(KERNEL, self.K)
        return sp.Integral(integrand.subs(z, sp.sqrt(self.K) * u) * sp.exp(-u**2 / 2) / sp.sqrt(2 * sp.pi),
                           (u, -sp.oo, sp.oo))

    def _closed(self, expr):
        """Simplify closed forms; expressions with unevaluated integrals are left as derived."""
        return expr if expr.has(sp.Integral) else sp.simplify(expr)

    @cached_property
    def g(self):
        return self.average(self.sigma**2)

    @cached_property
    def g_second_derivative(self):
        r""":math:`\partial_K^2\langle\sigma^2\rangle_K`: of the closed form, else by Hermite weights
        :math:`\int Du\,\sigma(\sqrt Ku)^2(u^4 - 6u^2 + 3)/4K^2`."""
        if not self.g.has(sp.Integral):
            return sp.diff(self.g, self.K, 2)
        return sp.Integral(self.g.function * (u**4 - 6 * u**2 + 3), *self.g.limits) / (4 * self.K**2)

    @cached_property
    def chi_parallel(self):
        r""":math:`C_W\partial_K\langle\sigma^2\rangle_K`: of the closed form; else, for a smooth activation,
        Price's theorem :math:`C_W\langle\sigma'^2 + \sigma\sigma''\rangle_K` (finite at :math:`K = 0`); else Hermite
        weights :math:`C_W\int Du\,\sigma(\sqrt Ku)^2(u^2 - 1)/2K`."""
        if not self.g.has(sp.Integral):
            return self._closed(self.C_W * sp.diff(self.g, self.K))
        if not self.sigma.has(*SINGULAR):
            return self.C_W * self.average(sp.diff(self.sigma, z)**2 + self.sigma * sp.diff(self.sigma, z, 2))
        return self.C_W * sp.Integral(self.g.function * (u**2 - 1), *self.g.limits) / (2 * self.K)

    @cached_property
    def chi_perp(self):
        return self._closed(self.C_W * self.average(sp.diff(self.sigma, z)**2))

    @cached_property
    def kernel_recursion(self):
        return sp.Eq(sp.Symbol(r"K^{(\ell+1)}"), self.C_b + self.C_W * self.g)

    @cached_property
    def ntk_recursion(self):
        return sp.Eq(sp.Symbol(r"\Theta^{(\ell+1)}"), self.lambda_b + self.lambda_W * self.g
                     + self.chi_perp * self.Theta)

    @cached_property
    def vertex_recursion(self):
        return sp.Eq(sp.Symbol(r"V^{(\ell+1)}"), self._closed(self.C_W**2 * (self.average(self.sigma**4) - self.g**2))
                     + self.r * self.chi_parallel**2 * self.V)

    @cached_property
    def correction_recursion(self):
        return sp.Eq(sp.Symbol(r"K^{\{1\}(\ell+1)}"), self._closed(
            self.r * (self.chi_parallel * self.K1 + self.C_W / 2 * self.g_second_derivative * self.V)))

    def _kernel_derivative(self, integrand, order):
        r""":math:`\partial_K^k\langle f\rangle_K` (k = 1, 2): of the closed form, else by Hermite weights
        :math:`\int Du\,f(\sqrt Ku)(u^2 - 1)/2K` and :math:`\int Du\,f(\sqrt Ku)(u^4 - 6u^2 + 3)/4K^2`."""
        average = self.average(integrand)
        if not average.has(sp.Integral):
            return sp.diff(average, self.K, order)
        weight = (u**2 - 1) / (2 * self.K) if order == 1 else (u**4 - 6 * u**2 + 3) / (4 * self.K**2)
        return sp.Integral(average.function * weight, *average.limits)

    @cached_property
    def ntk_statistics(self):
        r"""The finite-width NTK statistics of one input (:mod:`symbolic_rg.pdlt.ntk`, every input index equal):
        symbols :math:`(\Theta^{\{1\}}, A, B, D, F, P, Q)` and their recursions, with
        :math:`\langle\partial^2f\rangle = 2\partial_K\langle f\rangle`,
        :math:`\langle\partial^4f\rangle = 4\partial_K^2\langle f\rangle` and :math:`\sigma'' = 0` away from kinks:

        .. math::
           \Theta^{\{1\}\prime} &= \tfrac{\lambda_W}{C_W}K^{\{1\}\prime} + r\big[\chi_\perp\Theta^{\{1\}}
             + C_W\Theta(\partial_K\langle\sigma'^2\rangle K^{\{1\}} + \tfrac12\partial_K^2\langle\sigma'^2\rangle V)
             + C_W\partial_K\langle\sigma'^2\rangle(D + 2F)\big],\\
           \tilde D' &= C_W^2(\langle\sigma'^2\sigma^2\rangle - \langle\sigma'^2\rangle\langle\sigma^2\rangle)\Theta
             + r\big[C_W\partial_K\langle\sigma'^2\rangle\chi_\parallel V\Theta + \chi_\perp\chi_\parallel D\big],
             \qquad D' = \tfrac{\lambda_W}{C_W}V' + \tilde D',\\
           A' &= \big(\tfrac{\lambda_W}{C_W}\big)^2V' + 2\tfrac{\lambda_W}{C_W}\tilde D'
             + C_W^2(\langle\sigma'^4\rangle - \langle\sigma'^2\rangle^2)\Theta^2
             + r\big[(C_W\partial_K\langle\sigma'^2\rangle)^2V\Theta^2
             + 2\chi_\perp C_W\partial_K\langle\sigma'^2\rangle D\Theta + \chi_\perp^2A\big],\\
           B' &= C_W^2\langle\sigma'^4\rangle\Theta^2 + r\chi_\perp^2B,\qquad
           F' = C_W^2\langle\sigma'^2\sigma^2\rangle\Theta + rC_W^2\langle(\sigma'\sigma)'\rangle^2F,\\
           P' &= C_W^2\langle\sigma''\sigma'^2\sigma\rangle\Theta^2 + \lambda_WC_W\langle\sigma'^2\sigma^2\rangle\Theta
             + rC_W\langle(\sigma'\sigma)'\rangle\big[(C_W\Theta\langle(\sigma''\sigma')'\rangle
             + \lambda_W\langle(\sigma'\sigma)'\rangle)F + \chi_\perp P\big],\\
           Q' &= C_W^2\langle\sigma''\sigma'^2\sigma\rangle\Theta^2
             + r\chi_\perp C_W\big[\langle\sigma''\sigma\rangle B + \langle(\sigma'\sigma)'\rangle Q\big].

        >>> th = PDLTTheory("relu")
        >>> th.ntk_statistics[1][2].rhs           # B' for ReLU: <sigma'^4> = 1/2, chi_perp = C_W/2
        C_W**2*(B*r + 2*Theta**2)/4
        """
        s, d, dd = pointwise_derivatives(self.sigma)
        C_W, r, Th, lam = self.C_W, self.r, self.Theta, self.lambda_W
        T1, A, B, D, F, P, Q = (sp.Symbol(r"\Theta^{\{1\}}", real=True),) + sp.symbols("A B D F P Q", real=True)
        gd, gd1, gd2 = self.average(d**2), self._kernel_derivative(d**2, 1), self._kernel_derivative(d**2, 2)
        mixed, d4 = self.average(d**2 * s**2), self.average(d**4)
        x1, y1 = self.average(sp.diff(d * s, z)), self.average(sp.diff(dd * d, z))
        r4, s2dd = self.average(dd * d**2 * s), self.average(dd * s)
        chi_par, chi_perp = self.chi_parallel, self.chi_perp
        V_next, K1_next, ratio = self.vertex_recursion.rhs, self.correction_recursion.rhs, lam / C_W
        D_tilde = (C_W**2 * (mixed - gd * self.g) * Th
                   + r * (C_W * gd1 * chi_par * self.V * Th + chi_perp * chi_par * D))
        rhs = [ratio * K1_next + r * (chi_perp * T1 + C_W * Th * (gd1 * self.K1 + gd2 * self.V / 2)
                                      + C_W * gd1 * (D + 2 * F)),
               ratio**2 * V_next + 2 * ratio * D_tilde + C_W**2 * (d4 - gd**2) * Th**2
               + r * ((C_W * gd1)**2 * self.V * Th**2 + 2 * chi_perp * C_W * gd1 * D * Th + chi_perp**2 * A),
               C_W**2 * d4 * Th**2 + r * chi_perp**2 * B,
               ratio * V_next + D_tilde,
               C_W**2 * mixed * Th + r * (C_W * x1)**2 * F,
               C_W**2 * r4 * Th**2 + lam * C_W * mixed * Th
               + r * C_W * x1 * ((C_W * Th * y1 + lam * x1) * F + chi_perp * P),
               C_W**2 * r4 * Th**2 + r * chi_perp * C_W * (s2dd * B + x1 * Q)]
        symbols = (T1, A, B, D, F, P, Q)
        names = (r"\Theta^{\{1\}(\ell+1)}", r"A^{(\ell+1)}", r"B^{(\ell+1)}", r"D^{(\ell+1)}", r"F^{(\ell+1)}",
                 r"P^{(\ell+1)}", r"Q^{(\ell+1)}")
        return symbols, tuple(sp.Eq(sp.Symbol(n), self._closed(sp.expand(e)) if not e.has(sp.Integral) else e)
                              for n, e in zip(names, rhs))

    @cached_property
    def recursions(self):
        r"""One layer to the next of :math:`(K, \Theta, V, K^{\{1\}})` (``order_parameters``), one input."""
        return (self.kernel_recursion, self.ntk_recursion, self.vertex_recursion, self.correction_recursion)

    @cached_property
    def saddle_point_equations(self):
        r"""The stationarity conditions of the flow (no saddle point at initialization): :math:`K^* = C_b +
        C_W\langle\sigma^2\rangle_{K^*}`, :math:`\chi_\parallel(K^*) = 1`, :math:`\chi_\perp(K^*) = 1`."""
        at = {self.K: self.K_star}
        return (sp.Eq(self.K_star, self.kernel_recursion.rhs.subs(at), evaluate=False),
                sp.Eq(self.chi_parallel.subs(at), 1, evaluate=False),
                sp.Eq(self.chi_perp.subs(at), 1, evaluate=False))

    @cached_property
    def two_input(self):
        r"""Closed forms (or None) of :math:`\langle\sigma\sigma\rangle` and :math:`\langle\sigma'\sigma'\rangle`
        in :math:`K_{11}, K_{22}, \rho`."""
        d = sp.diff(self.sigma, z)
        return closed_form(self.sigma), closed_form(d)

    @cached_property
    def scaling(self):
        """:func:`~symbolic_rg.pdlt.depth_scaling` of the activation (its critical point and :math:`\\nu`), or the
        :class:`~symbolic_rg.errors.NoSolutionError` saying there is no critical point."""
        try:
            return depth_scaling(self.spec)
        except NoSolutionError as exc:
            return exc

    def _document(self):
        """The document in order: paragraphs (LaTeX text) and lists of ``(name, Eq)`` rows (one ``align`` each)."""
        fn = sp.Function
        parts = [r"\paragraph{One input.}",
                 [("activation", sp.Eq(fn("sigma")(z), self.sigma)),
                  ("kernel", self.kernel_recursion), ("NTK", self.ntk_recursion),
                  ("parallel susceptibility", sp.Eq(fn(r"\chi_\parallel")(self.K), self.chi_parallel)),
                  ("perpendicular susceptibility", sp.Eq(fn(r"\chi_\perp")(self.K), self.chi_perp)),
                  ("four-point vertex", self.vertex_recursion), ("1/n kernel correction", self.correction_recursion)],
                 r"\paragraph{Finite-width NTK, one input.} The NTK has mean $\Theta + \Theta^{\{1\}}/n_{\ell-1}$, "
                 r"variance $(A + 2B)/n_{\ell-1}$ of a diagonal entry and $B/n_{\ell-1}$ of an off-diagonal one, "
                 r"correlation $(D + 2F)/n_{\ell-1}$ with $z_iz_i$, and the dNTK correlates with $z$ through "
                 r"$(2P + Q)/n_{\ell-1}$ (the book's tensors at one input); all vanish at $\ell = 1$, and "
                 r"$\sigma'' = 0$ away from kinks:",
                 [(name, eq) for name, eq in zip(("NTK mean correction", "NTK variance A", "NTK variance B",
                                                  "NTK-preactivation D", "NTK-preactivation F",
                                                  "dNTK-preactivation P", "dNTK-preactivation Q"),
                                                 self.ntk_statistics[1])],
                 r"\paragraph{Two inputs.} The kernel and the NTK of inputs $\alpha,\beta$ evolve as "
                 r"$K^{(\ell+1)}_{\alpha\beta} = C_b + C_W\langle\sigma_\alpha\sigma_\beta\rangle_{K}$ and "
                 r"$\Theta^{(\ell+1)}_{\alpha\beta} = \lambda_b + \lambda_W\langle\sigma_\alpha\sigma_\beta\rangle_{K}"
                 r" + C_W\langle\sigma'_\alpha\sigma'_\beta\rangle_{K}\Theta_{\alpha\beta}$, averages over "
                 r"$(z_1, z_2)$ with covariance $K_{11}, K_{12}, K_{22}$ and $\rho = K_{12}/\sqrt{K_{11}K_{22}}$."]
        pairs = list(zip(("two-input average", "two-input derivative average"),
                         (r"\langle\sigma(z_1)\sigma(z_2)\rangle_K", r"\langle\sigma'(z_1)\sigma'(z_2)\rangle_K"),
                         self.two_input))
        parts.append([(name, sp.Eq(Printed(lhs), expr)) for name, lhs, expr in pairs if expr is not None])
        missing = ["$%s$" % lhs for _, lhs, expr in pairs if expr is None]
        if missing:
            parts.append(r"SymPy finds no closed form of %s: numerically %s computed by the Mehler (Hermite) series, "
                         r"or past its largest order by the 2-D trapezoidal rule, with a stated error."
                         % (" or ".join(missing), "it is" if len(missing) == 1 else "they are"))
        parts += [r"\paragraph{Criticality.} A network at initialization has no saddle point; a critical "
                  r"initialization is a stationary point of the layer-to-layer flow, a fixed point of the kernel "
                  r"where both susceptibilities, $\chi_\parallel$ and $\chi_\perp$, are one:",
                  list(zip(("fixed point", "parallel criticality", "perpendicular criticality"),
                           self.saddle_point_equations))]
        scaling = self.scaling
        if isinstance(scaling, NoSolutionError):
            return parts + ["These conditions have no solution: %s." % text(str(scaling))]
        c = scaling.criticality
        point = [("critical bias variance", sp.Eq(self.C_b, number(c.C_b), evaluate=False)),
                 ("critical weight variance", sp.Eq(self.C_W, number(c.C_W), evaluate=False))]
        if c.universality_class == "scale-invariant":
            note = (r"The activation is scale-invariant: at this $C_b$ and $C_W$ every $K$ is a fixed point with "
                    r"$\chi_\parallel = \chi_\perp = 1$, so no $K^*$ is singled out.")
        elif c.universality_class == "K*=0":
            point.append(("critical kernel", sp.Eq(self.K_star, 0, evaluate=False)))
            note = (r"Universality class $K^*=0$: the kernel flows to $K^* = 0$ like $1/\ell$, where "
                    r"$\chi_\parallel, \chi_\perp \to 1$.")
        else:
            point.append(("critical kernel", sp.Eq(self.K_star, number(c.K_star), evaluate=False)))
            note = r"Universality class $K^*\neq0$."
        depth = [("depth scaling", sp.Eq(self.nu, number(scaling.nu), evaluate=False))]
        if any(isinstance(eq.rhs, sp.Float) for _, eq in point + depth):
            note += " Decimals are rounded to 6 significant digits."
        return parts + ["They are solved by", point,
                        note + r" At criticality, with equal widths $n$, the normalized four-point vertex grows "
                               r"linearly with depth, $V^{(L)}/(K^{(L)})^2 \simeq \nu L/n$, with", depth]

    def latex_equations(self):
        """``[(name, Eq)]``: the activation, the one-input recursions of the kernel, NTK, vertex and 1/n
        correction with the susceptibilities, the two-input averages that have a closed form, the stationarity
        conditions of the flow and, when there is one, the critical point with the depth-scaling coefficient
        :math:`\\nu`; :meth:`latex` adds in text what has no equation."""
        return [row for part in self._document() if isinstance(part, list) for row in part]

    def latex(self, document=False):
        """The rows of :meth:`latex_equations` in ``align`` blocks with the notation and the text notes
        (``document``: a complete LaTeX document)."""
        intro = (r"Network at initialization: $z^{(1)}_i = b_i + \sum_j W_{ij}x_j$, $z^{(\ell+1)}_i = b_i + "
                 r"\sum_j W_{ij}\sigma(z^{(\ell)}_j)$, $\langle b_i^2\rangle = C_b$, $\langle W_{ij}^2\rangle = "
                 r"C_W/(\text{fan-in})$, layer widths $n_\ell$ ($n_0$ the input dimension).  At layer $\ell$ the "
                 r"preactivations of one input have variance $K + K^{\{1\}}/n_{\ell-1}$ and connected four-point "
                 r"function $V/n_{\ell-1}$, $r = n_\ell/n_{\ell-1}$, and the NTK (learning rates $\lambda_b$, "
                 r"$\lambda_W$) is $\Theta$; from $K^{(1)} = C_b + C_Wx\cdot x/n_0$, $\Theta^{(1)} = \lambda_b + "
                 r"\lambda_Wx\cdot x/n_0$, $V^{(1)} = K^{\{1\}(1)} = 0$.  Unsuperscripted quantities are at layer "
                 r"$\ell$; $\langle f\rangle_K = \int Du\, f(\sqrt K u)$ is the Gaussian average at $K = K^{(\ell)}$, "
                 r"$Du$ the standard normal measure.")
        parts = [intro] + [_latex.align([(eq, name) for name, eq in p]) if isinstance(p, list) else p
                           for p in self._document() if p != []]
        body = "\n\n".join(parts)
        return _latex.document("PDLT recursions at initialization", body) if document else body

    def __reduce__(self):
        """Pickles as its activation (a callable one as the SymPy expression it gave)."""
        return PDLTTheory, (self.spec if isinstance(self.spec, (str, sp.Expr)) else self.sigma,)

    def _repr_latex_(self):
        """The notebook display: :meth:`latex_equations` as one aligned block."""
        return _latex.display(self.latex_equations())

    def compile(self, precision=None, step=STEP):
        """The float64 :class:`~symbolic_rg.pdlt.PDLTSolver` of these recursions over many inputs (``step``: of the
        trapezoidal rule of pair averages without a closed form).  ``precision`` must be None."""
        checks.float64_only(precision, "the PDLT recursions")
        return PDLTSolver(self, step=step)
