r"""The derived theory of a network: partition function, effective action, saddle-point equations.

:func:`derive` integrates every weight out (``Network.integrate``) and assembles, in the eigenbasis
:math:`K_0 = \sum_k \lambda_k v_k v_k^\top` of the input kernel :math:`K_0 = \sigma_1^2 XX^\top/N_0`
with label projections :math:`y_k = v_k^\top y`:

* the exact representation :math:`Z \propto \int\prod_l du_l\, e^{-H_N(u)}`, with
  :math:`H_N = -\sum_l \log p_l(u_l) - \sum_k \log\int\frac{dt_k}{2\pi} e^{-\frac12(T+U\lambda_k)t_k^2+it_ky_k}`
  and :math:`U = \prod_l u_l`;
* the large-width effective action :math:`H(u)` (leading order in :math:`N_l, P\to\infty` at fixed
  :math:`P/N_l`, up to :math:`u`-independent constants) and the saddle-point equations
  :math:`\frac{2u_l}{N_l}\partial_{u_l} H = 0`;
* the predictor at a test point (Gaussian conditioning on the modes with the renormalised kernel
  :math:`U K_0`) and the mean hidden-layer kernels at the saddle point.
"""
from __future__ import annotations

from functools import cached_property, lru_cache

import sympy as sp

from .. import cache, gaussian, latex as _latex
from ..activations import activation, scale_invariant, z
from ..errors import ParameterError
from ..layers import Network
from ..symbols import eigenvalue, label, mode, n_modes, temperature, test_projection, test_variance
from .exact import ExactSolver, ExactSolverMP
from .solver import Solver

__all__ = ["Theory", "derive_kernel"]

_x = sp.Symbol("x")
predictor_mean_symbol = sp.Function("mu")(_x)
predictor_variance_symbol = sp.Function("Sigma")(_x)
action_symbol = sp.Symbol("H")


def _u_dependent(expr, symbols):
    """Drop additive terms that do not depend on any of ``symbols`` (constants of the action)."""
    expr = sp.expand(sp.expand_log(expr, force=True))
    return sp.Add(*[t for t in sp.Add.make_args(expr) if t.free_symbols & set(symbols)])


def _mode_sum(summand):
    """Sum over the P eigenmodes, one sum per additive term of the summand."""
    return sp.Add(*[sp.Sum(t, (mode, 1, n_modes)) for t in sp.Add.make_args(sp.expand(summand))])


def _leading_order(expr, width):
    r"""Leading order of ``expr`` as :math:`N\to\infty` (terms :math:`\propto N`), by :math:`N\to N/\epsilon`."""
    eps = sp.Symbol("epsilon", positive=True)
    return sp.simplify(sp.limit(eps * expr.subs(width, width / eps), eps, 0))


def _simplify_sums(expr):
    """Simplify each summand, pull mode-independent factors out, evaluate sums of constants."""
    def rule(function, limits):
        function = sp.factor(sp.simplify(function))
        outside, inside = function.as_independent(mode, as_Add=False)
        if inside == 1:
            return outside * (limits[2] - limits[1] + 1)
        return outside * sp.Sum(inside, limits)
    return expr.replace(sp.Sum, rule)


def _absorb_factors(expr, keep_outside):
    """Move each sum's prefactors inside the sum, except the symbols in ``keep_outside``."""
    terms = []
    for term in sp.Add.make_args(sp.expand(expr)):
        sums = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.Sum)]
        if len(sums) != 1:
            terms.append(term)
            continue
        rest = term / sums[0]
        outside, inside = rest.as_independent(*[s for s in rest.free_symbols if s not in keep_outside],
                                              as_Add=False)
        terms.append(outside * sp.Sum(sp.factor(sp.simplify(inside * sums[0].function)), *sums[0].limits))
    return sp.Add(*terms)


class Theory:
    """Symbolic saddle-point theory of a network, derived by :func:`derive`.

    >>> import symbolic_rg as srg
    >>> theory = srg.derive(srg.deep_linear(depth=1))
    >>> theory.saddle_point_equations[0]
    Eq(u_1/sigma_a**2, 1 - u_1*Sum(lambda[k]/(T + u_1*lambda[k]), (k, 1, P))/N_1 + u_1*Sum(lambda[k]*y[k]**2/(T + u_1*lambda[k])**2, (k, 1, P))/N_1)
    >>> theory.zero_temperature()[0]
    Eq(u_1/sigma_a**2, 1 - P/N_1 + Sum(y[k]**2/lambda[k], (k, 1, P))/(N_1*u_1))
    """

    def __init__(self, network: Network):
        self.network = network
        stage = network.integrate()
        self.steps = stage.steps
        self._ops = sorted(stage.order_parameters, key=lambda op: op.layer)
        self.order_parameters = tuple(op.symbol for op in self._ops)
        self.widths = network.widths
        self.sigmas = network.sigmas
        self.temperature = temperature
        self.renormalized_coefficient = stage.coefficient        # U = prod_l u_l
        self.input_variance = stage.variance                     # sigma_1^2 inside K_0
        a = temperature + stage.coefficient * eigenvalue[mode]
        self._mode_term = -sp.log(gaussian.mode_integral(a, label[mode]))
        self._mode_mean, self._mode_var = gaussian.mode_moments(a, label[mode])

    # -- actions -------------------------------------------------------------------------------
    @cached_property
    def exact_action(self):
        r""":math:`H_N(u)`, exact at finite width: :math:`Z\propto\int\prod_l du_l\,e^{-H_N(u)}`."""
        measure = sum(-op.log_density for op in self._ops)
        return measure + _mode_sum(sp.expand_log(self._mode_term, force=True))

    @cached_property
    def partition_function(self):
        """:math:`Z` as an integral over the order parameters (exact; all weights integrated out)."""
        return sp.Integral(sp.exp(-self.exact_action), *[(u, 0, sp.oo) for u in self.order_parameters])

    @cached_property
    def effective_action(self):
        """Large-width effective action H(u), up to u-independent constants."""
        us = self.order_parameters
        terms = []
        for op in self._ops:
            force = _leading_order(sp.diff(-op.log_density, op.symbol), op.width)
            terms.append(sp.expand(sp.integrate(force, op.symbol)))
        return sp.Add(*terms) + _mode_sum(_u_dependent(self._mode_term, us))

    # -- saddle point ----------------------------------------------------------------------------
    @cached_property
    def saddle_point_residuals(self):
        r"""Normalised residuals :math:`R_l = \frac{2u_l}{N_l}\,\partial H/\partial u_l` (zero at the saddle)."""
        H = self.effective_action
        return tuple(sp.expand(2 * op.symbol / op.width * sp.diff(H, op.symbol)) for op in self._ops)

    @cached_property
    def saddle_point_equations(self):
        r"""One equation per layer, :math:`u_l/\sigma_{l+1}^2 = \ldots` (the residual rearranged)."""
        eqs = []
        for op, residual in zip(self._ops, self.saddle_point_residuals):
            local = sp.Add(*[t for t in sp.Add.make_args(residual) if not t.has(sp.Sum)])
            lhs = local.coeff(op.symbol) * op.symbol                   # from the measure of u_l
            rhs = _absorb_factors(lhs - residual, set(self.widths))
            eqs.append(sp.Eq(lhs, _simplify_sums(rhs)))
        return tuple(eqs)

    # -- limits and special cases, from the general result ------------------------------------
    def zero_temperature(self):
        """Saddle-point equations at T = 0 (modes in the range of K_0)."""
        return tuple(sp.Eq(e.lhs, _simplify_sums(e.rhs.subs(temperature, 0))) for e in self.saddle_point_equations)

    def infinite_width(self):
        r"""Saddle-point equations as all :math:`N_l\to\infty` at fixed P: :math:`u_l=\sigma_{l+1}^2` (GP limit)."""
        out = []
        for op, e in zip(self._ops, self.saddle_point_equations):
            out.append(sp.Eq(e.lhs, sp.limit(e.rhs, op.width, sp.oo)))
        return tuple(out)

    def equal_widths(self, width=sp.Symbol("N", positive=True), sigma=sp.Symbol("sigma", positive=True)):
        """Saddle-point equations with all widths equal to ``width`` and all prior variances ``sigma**2``."""
        sub = {w: width for w in self.widths}
        sub.update({s: sigma for s in self.sigmas})
        return tuple(sp.Eq(e.lhs.subs(sub), e.rhs.subs(sub)) for e in self.saddle_point_equations)

    # -- observables ---------------------------------------------------------------------------
    @cached_property
    def predictor(self):
        r"""``(mean, variance)`` of :math:`f(x)`: condition on the modes with kernel :math:`U K_0`.

        In terms of :math:`\kappa_k(x) = v_k^\top k_0(x)` and :math:`K_0(x,x)`.
        """
        U = self.renormalized_coefficient
        mean_k, reduction_k = gaussian.gaussian_conditional(
            U * test_variance, U * test_projection[mode], temperature + U * eigenvalue[mode], label[mode])
        mean = sp.Sum(mean_k, (mode, 1, n_modes))
        variance = U * test_variance - sp.Sum(reduction_k, (mode, 1, n_modes))
        return mean, variance

    @cached_property
    def layer_kernels(self):
        r"""Mean hidden kernels :math:`\langle K_l\rangle = a_l K_0 + b_l K_0\langle tt^\top\rangle K_0`.

        :math:`K_l(x,x') = x_l(x)\cdot x_l(x')/N_l`.  Returns ``[(a_l, b_l)]`` for l = 1..L, composed from
        each layer's tilted-row rule, from the input upwards.
        """
        a, b, v = sp.Integer(1), sp.Integer(0), sp.Integer(1)   # G_0 = K_0, G_0 t = K_0 t
        out = []
        for op in self._ops:
            s2 = op.prior_variance
            a, b = s2 * a, s2 * b + s2 * op.kernel_coefficient * v**2
            v = op.vector_factor * v
            out.append((sp.simplify(a / s2), sp.simplify(b / s2)))
        return tuple(out)

    @cached_property
    def one_loop(self):
        r"""Ingredients of the first (1/N) correction beyond the saddle point, in :math:`z_l=\log u_l`.

        In these coordinates the exact integrand is :math:`e^{-H(z)}` with :math:`H` the effective action
        (the Jacobian :math:`du = u\,dz` cancels the :math:`-\log u` of the Gamma measure), so for any
        observable :math:`g`, with :math:`A_{ij} = \partial_i\partial_j H`, :math:`\Sigma = A^{-1}` at the saddle,

        .. math:: \langle g\rangle = g + g_i\,\delta z_i + \tfrac12 g_{ij}\Sigma_{ij} + O(N^{-2}),\quad
                  \delta z_i = -\tfrac12\Sigma_{ij} H_{jkl}\Sigma_{kl},\qquad
                  \mathrm{Var}\,g = g_i\Sigma_{ij}g_j + O(N^{-2}).

        Returns a dict of symbolic derivatives (:math:`\partial_i = u_i\partial_{u_i}`):
        ``hessian[i][j]``, ``third[i][j][k]`` of H, and ``mean``/``variance``: ``(g, [g_i], [[g_ij]])``
        for the predictor mean :math:`\mu(x;U)` and variance :math:`\Sigma(x;U)` at fixed U.
        """
        us = self.order_parameters
        L = len(us)
        D = lambda e, i: us[i] * sp.diff(e, us[i])
        H = self.effective_action
        grad = [D(H, i) for i in range(L)]
        hess = [[D(grad[i], j) for j in range(L)] for i in range(L)]
        third = [[[D(hess[i][j], k) for k in range(L)] for j in range(L)] for i in range(L)]
        out = {"hessian": hess, "third": third}
        for name, g in zip(("mean", "variance"), self.predictor):
            gi = [D(g, i) for i in range(L)]
            out[name] = (g, gi, [[D(gi[i], j) for j in range(L)] for i in range(L)])
        return out

    @property
    def measures(self):
        """The order parameters' exact measures (``OrderParameter`` records, input side first)."""
        return tuple(self._ops)

    def mode_action(self, kernel_scale):
        r"""Per-mode term of the exact action, :math:`-\log\int\frac{dt}{2\pi}e^{-\frac12(T+U\lambda_k)t^2+ity_k}`,
        with the product of order parameters :math:`U` replaced by ``kernel_scale``."""
        return sp.expand_log(self._mode_term.subs(self.renormalized_coefficient, kernel_scale), force=True)

    def predictor_given(self, kernel_scale):
        """``(mean, variance)`` summand expressions of the predictor at fixed renormalization ``kernel_scale``."""
        mean, var = self.predictor
        return tuple(e.subs(self.renormalized_coefficient, kernel_scale) for e in (mean, var))

    @property
    def mode_moments(self):
        r"""Mean and variance of the field :math:`t_k` of mode k (they give :math:`\langle tt^\top\rangle`)."""
        return self._mode_mean, self._mode_var

    @property
    def depth(self):
        return self.network.depth

    # -- export --------------------------------------------------------------------------------
    def latex_equations(self):
        """``[(name, Eq)]``: the effective action, one saddle-point equation per layer, the predictor, and
        the fluctuation matrix :math:`A_{ij} = \\partial_{z_i}\\partial_{z_j} H` (:math:`z=\\log u`) of the
        one-loop correction."""
        rows = [("effective action", sp.Eq(action_symbol, self.effective_action))]
        for op, e in zip(self._ops, self.saddle_point_equations):
            rows.append(("layer %d" % op.layer, e))
        mean, variance = self.predictor
        rows.append(("predictor mean", sp.Eq(predictor_mean_symbol, mean)))
        rows.append(("predictor variance", sp.Eq(predictor_variance_symbol, variance)))
        hess = self.one_loop["hessian"]
        for i in range(self.depth):
            for j in range(i, self.depth):
                entry = _simplify_sums(_absorb_factors(sp.expand(hess[i][j]), set(self.widths)))
                rows.append(("fluctuations", sp.Eq(sp.Symbol("A_{%d%d}" % (i + 1, j + 1)), entry)))
        return rows

    def latex(self, document: bool = False) -> str:
        """The equations as a LaTeX ``align`` block, or a complete document with ``document=True``."""
        body = _latex.align([(eq, name) for name, eq in self.latex_equations()])
        if not document:
            return body
        L = self.depth
        phi = getattr(self.network.layers[0], "activation", None)
        if phi is None:
            network = "Deep linear network of depth $L=%d$: $x_l = W_l x_{l-1}/\\sqrt{N_{l-1}}$, " % L
        elif scale_invariant(activation(phi)):
            network = ("Deep network of depth $L=%d$ with activation %s (heuristic kernel renormalization): "
                       "$x_l = \\phi(W_l x_{l-1}/\\sqrt{N_{l-1}})$; the equations are those of the deep linear network "
                       "with $K_0 = \\sigma_1^2\\Phi^L(XX^\\top/N_0)$, $\\Phi(K) = "
                       "\\langle\\phi\\phi\\rangle_K$, in place of $\\sigma_1^2XX^\\top/N_0$ below, and $k_0$, "
                       "$K_0(x,x)$ its test entries; "
                       % (L, phi.replace("_", "\\_")))
        else:
            network = ("Network of one hidden layer with activation %s (Gaussian equivalence of the hidden layer's "
                       "projections, Pacelli et al.\\ 2023): $x_1 = \\phi(W_1 x/\\sqrt{N_0})$; the equations are those "
                       "of the deep linear network with $K_0 = \\Phi(\\sigma_1^2XX^\\top/N_0)$, $\\Phi(K) = "
                       "\\langle\\phi(h)\\phi(h')\\rangle_{h\\sim\\mathcal N(0,K)}$, in place of "
                       "$\\sigma_1^2XX^\\top/N_0$ below, and $k_0$, $K_0(x,x)$ its test entries; "
                       % phi.replace("_", "\\_"))
        intro = (
            network +
            "$f(x) = a\\cdot x_L/\\sqrt{N_L}$, priors $W_{l,ij}\\sim\\mathcal N(0,\\sigma_l^2)$, "
            "$a_j\\sim\\mathcal N(0,\\sigma_a^2)$, Gibbs posterior at temperature $T$. "
            "$\\lambda_k$ are the eigenvalues of the input kernel $K_0=\\sigma_1^2 XX^\\top/N_0$ with eigenvectors $v_k$, "
            "$y_k = v_k^\\top y$ the label projections, $\\kappa_k = v_k^\\top k_0(x)$ the projections of the test "
            "kernel vector $k_0(x)_\\mu = \\sigma_1^2 x^\\mu\\cdot x/N_0$, and $K_0 \\equiv K_0(x,x)$. "
            "The order parameter $u_l$ renormalises the kernel, $K_L = u_1\\cdots u_L K_0$; "
            "$\\mu(x)$ and $\\Sigma(x)$ are the posterior mean and variance of $f(x)$. "
            "Saddle point of $Z \\propto \\int \\prod_l du_l\\, e^{-H}$ at large $N_l, P$ with $P/N_l$ fixed.")
        derivation = (
            "\\paragraph{Derivation.} Weights integrated from the readout backwards (Hubbard--Stratonovich field "
            "$t$; a hidden unit's projection $s_i = t\\cdot h_i \\sim \\mathcal N(0, q)$, $q = t^\\top G_{l-1} t$, "
            "$G_l = \\sigma_{l+1}^2 X_l X_l^\\top/N_l$, $\\beta = c\\,\\sigma_{l+1}^2/N_l$ with $c$ the product of the "
            "order parameters already introduced):\n\\begin{align*}\n%s\n\\end{align*}"
            % " \\\\\n".join(self.steps))
        one_loop = (
            "\\paragraph{One loop.} In $z_l=\\log u_l$ the exact integrand is $e^{-H(z)}$ (the Jacobian cancels the "
            "$-\\log u_l$ of the Gamma measures). With $A_{ij}=\\partial_i\\partial_j H$ above, "
            "$\\Sigma = A^{-1}$ and $H_{jkl}=\\partial_j\\partial_k\\partial_l H$ at the saddle point, every observable "
            "$g$ obeys $\\langle g\\rangle = g + g_i\\,\\delta z_i + \\tfrac12 g_{ij}\\Sigma_{ij} + O(N^{-2})$ with "
            "$\\delta z_i = -\\tfrac12 \\Sigma_{ij}H_{jkl}\\Sigma_{kl}$, and "
            "$\\langle\\delta f^2\\rangle = \\langle \\Sigma(x)\\rangle + \\mu_i\\Sigma_{ij}\\mu_j$.")
        return _latex.document("Saddle-point theory: %s, depth %d" % (self.network.name, L),
                               intro + "\n\n" + derivation + "\n\n" + body + "\n\n" + one_loop)

    def __reduce__(self):
        """Pickles as the derivation (read from the disk cache where it runs: a worker of a sweep)."""
        return derive_kernel, (self.network,)

    def _repr_latex_(self):
        """The notebook display: :meth:`latex_equations` as one aligned block."""
        return _latex.display(self.latex_equations())

    def compile(self, precision=None, method="saddle"):
        """Compile the theory into a solver.

        ``method="saddle"``: the large-width saddle point, Numba (float64) or, with ``precision=digits``,
        mpmath.  ``method="exact"``: the exact finite-width posterior of the order parameters by
        quadrature (float64, :class:`~symbolic_rg.kernel.ExactSolver`; with ``precision=digits``,
        mpmath, :class:`~symbolic_rg.kernel.ExactSolverMP`).
        """
        if method == "saddle":
            return Solver(self, precision=precision)
        if method == "exact":
            phi = getattr(self.network.layers[0], "activation", None)
            if phi is not None and activation(phi) != z:
                raise ParameterError("method='exact' is the finite-width posterior of deep linear networks; the "
                                     "network with activation %r has the saddle point only (method='saddle')" % phi)
            return ExactSolver(self) if precision is None else ExactSolverMP(self, precision)
        raise ParameterError("method must be 'saddle' or 'exact', got %r" % (method,))


@lru_cache(maxsize=32)
def derive_kernel(network: Network):
    """The :class:`Theory` of a network of scalar stages (cached in the process and on disk, see :func:`derive`)."""
    return cache.stored_theory(Theory, network, ("effective_action", "saddle_point_equations", "predictor",
                                                 "layer_kernels", "one_loop"))
