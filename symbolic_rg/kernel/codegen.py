r"""Code generation: the derived saddle-point system as Python source for Numba, mpmath or NumPy.

The generated ``evaluate(x, p, c, y, ...)`` returns, at :math:`x_l=\log u_l`, the normalised residuals
:math:`R_l = \frac{2u_l}{N_l}\partial_{u_l}H`, their Jacobian :math:`J_{lm}=\partial R_l/\partial x_m`
(analytic, by symbolic differentiation) and the effective action :math:`H`, after common-subexpression
elimination.  Every spectral sum :math:`\sum_k` becomes one accumulator of a single loop over the modes
(``c``: eigenvalues of :math:`XX^\top/N_0`, so :math:`\lambda_k=\sigma_1^2 c_k`; ``y``: label projections).

Runtime parameters ``p`` = ``[T, 1/N_1, ..., 1/N_L, sigma_1^2, ..., sigma_L^2, sigma_a^2]``: widths,
priors and temperature are numbers, so sweeps never recompile; :math:`1/N_l = 0` is infinite width.

The Numba module's root finders (``newton``, ``solve_point``, ``sweep``) return plain tuples in the order of
:class:`symbolic_rg.protocol.Iteration`: ``(root, value, residual, iterations, converged)`` with value = H and
residual = max|R| (arrays over the points for ``sweep``); the solver wraps them at the Python boundary.
"""
from __future__ import annotations

import sympy as sp

from ..printers import PRINTERS, assignments, load_module
from ..symbols import eigenvalue, label, mode

GENERATOR_VERSION = "2"


def parameter_names(depth):
    return (["T"] + ["nu_%d" % l for l in range(1, depth + 1)]
            + ["s2_%d" % l for l in range(1, depth + 1)] + ["s2_a"])


def _substitutions(theory):
    """Map theory symbols to code symbols (u_l stay; N_l -> 1/nu_l; sigma^2 -> s2; lambda_k -> s2_1 c_k)."""
    L = theory.depth
    names = parameter_names(L)
    code = {n: sp.Symbol(n, positive=True) for n in names}
    code["T"] = sp.Symbol("T", nonnegative=True)
    sub = {theory.temperature: code["T"]}
    for l, N in enumerate(theory.widths, start=1):
        sub[N] = 1 / code["nu_%d" % l]
    for l, s in enumerate(theory.sigmas[:-1], start=1):
        sub[s] = sp.sqrt(code["s2_%d" % l])
    sub[theory.sigmas[-1]] = sp.sqrt(code["s2_a"])
    data = {eigenvalue[mode]: code["s2_1"] * sp.Symbol("c_k", positive=True),
            label[mode]: sp.Symbol("y_k", real=True)}
    return names, code, sub, data


def system(theory):
    """``(outputs, names)``: [R_1..R_L, J_11..J_LL, H] in code symbols, and the parameter names."""
    names, code, sub, data = _substitutions(theory)
    us = theory.order_parameters
    R = [r.subs(sub) for r in theory.saddle_point_residuals]
    J = [u * sp.diff(r, u) for r in R for u in us]
    H = theory.effective_action.subs(sub)
    outputs = [o.replace(sp.Sum, lambda f, lim: sp.Sum(f.subs(data), lim)) for o in R + J + [H]]
    return outputs, names


def _split_sums(outputs):
    """Replace each distinct sum by an accumulator symbol; return (outputs, [(symbol, summand)])."""
    sums = []
    for o in outputs:
        for s in sorted(o.atoms(sp.Sum), key=sp.default_sort_key):
            if s not in [t for t, _ in sums]:
                sums.append((s, sp.Symbol("S_%d" % len(sums))))
    table = dict(sums)
    reduced = [o.xreplace(table) for o in outputs]
    return reduced, [(acc, s.function) for s, acc in sums]


def source(theory, backend="numba"):
    """Python source of the generated module for ``backend`` in {"numba", "mpmath", "numpy"}."""
    outputs, names = system(theory)
    L = theory.depth
    reduced, sums = _split_sums(outputs)
    printer = PRINTERS[backend]()
    tmp = sp.numbered_symbols("w")
    sum_cse, sum_exprs = sp.cse([f for _, f in sums], symbols=tmp, optimizations="basic")
    out_cse, out_exprs = sp.cse(reduced, symbols=sp.numbered_symbols("z"), optimizations="basic")
    exp = {"numba": "math.exp", "numpy": "numpy.exp", "mpmath": "mpmath.exp"}[backend]
    body = []
    for l in range(L):
        body.append("    u_%d = %s(x[%d])" % (l + 1, exp, l))
    for i, n in enumerate(names):
        body.append("    %s = p[%d]" % (n, i))
    if backend == "numpy":
        body.append("    c_k = c")
        body.append("    y_k = y")
        body += assignments(printer, sum_cse, "    ")
        for (acc, _), e in zip(sums, sum_exprs):
            body.append("    %s = numpy.sum(numpy.broadcast_to(%s, c_k.shape))" % (acc.name, printer.doprint(e)))
    else:
        zero = "0.0" if backend == "numba" else "mpmath.mpf(0)"
        for acc, _ in sums:
            body.append("    %s = %s" % (acc.name, zero))
        body.append("    for k in range(len(c)):")
        body.append("        c_k = c[k]")
        body.append("        y_k = y[k]")
        body += assignments(printer, sum_cse, "        ")
        for (acc, _), e in zip(sums, sum_exprs):
            body.append("        %s += %s" % (acc.name, printer.doprint(e)))
    body += assignments(printer, out_cse, "    ")
    for l in range(L):
        body.append("    R[%d] = %s" % (l, printer.doprint(out_exprs[l])))
    for l in range(L):
        for m in range(L):
            body.append("    J[%d, %d] = %s" % (l, m, printer.doprint(out_exprs[L + l * L + m])))
    body.append("    return %s" % printer.doprint(out_exprs[-1]))
    header = ['"""Generated by symbolic_rg.kernel.codegen (version %s) from the %s theory of depth %d. Do not edit."""'
              % (GENERATOR_VERSION, theory.network.name, L),
              "import math", {"mpmath": "import mpmath", "numpy": "import numpy", "numba": "import numpy as np"}[backend]]
    decorator = []
    if backend == "numba":
        header += ["from numba import njit, prange"]
        decorator = ['@njit(cache=True, error_model="numpy")']
    header += ["", "DEPTH = %d" % L, "PARAMETERS = %r" % (names,), ""]
    signature = "def evaluate(x, p, c, y, R, J):"
    doc = '    """Fill R (residuals) and J (dR/dlog u) at x = log u; return the effective action H."""'
    text = "\n".join(header + decorator + [signature, doc] + body) + "\n"
    if backend == "numba":
        text += "\n" + _NUMBA_SOLVER
    return text


_NUMBA_SOLVER = '''
@njit(cache=True)
def _linsolve(A, b):
    n = b.shape[0]
    M = A.copy()
    v = b.copy()
    for i in range(n):
        piv = i
        best = abs(M[i, i])
        for r in range(i + 1, n):
            if abs(M[r, i]) > best:
                best = abs(M[r, i])
                piv = r
        if not (best > 0.0) or not math.isfinite(best):
            return v, False
        if piv != i:
            for q in range(n):
                M[i, q], M[piv, q] = M[piv, q], M[i, q]
            v[i], v[piv] = v[piv], v[i]
        for r in range(i + 1, n):
            f = M[r, i] / M[i, i]
            for q in range(i, n):
                M[r, q] -= f * M[i, q]
            v[r] -= f * v[i]
    for i in range(n - 1, -1, -1):
        s = v[i]
        for q in range(i + 1, n):
            s -= M[i, q] * v[q]
        v[i] = s / M[i, i]
    return v, True


@njit(cache=True, error_model="numpy")
def newton(x0, p, c, y, tol, maxiter, maxstep):
    """Damped Newton in x = log u with backtracking on |R|^2, then one polishing step once max|R| < tol;
    returns the Iteration tuple (x, H, max|R|, iterations, converged)."""
    n = x0.shape[0]
    x = x0.copy()
    R = np.empty(n)
    J = np.empty((n, n))
    Rt = np.empty(n)
    Jt = np.empty((n, n))
    H = evaluate(x, p, c, y, R, J)
    merit = np.sum(R * R)
    for it in range(maxiter):
        nrm = np.max(np.abs(R))
        if nrm < tol:                      # converged: one more full Newton step polishes to round-off
            dx, ok = _linsolve(J, -R)
            if ok:
                xt = x + dx
                Ht = evaluate(xt, p, c, y, Rt, Jt)
                nt = np.max(np.abs(Rt))
                if nt <= nrm:
                    return xt, Ht, nt, it + 1, True
            return x, H, nrm, it, True
        if not math.isfinite(merit):
            return x, H, nrm, it, False
        dx, ok = _linsolve(J, -R)
        big = np.max(np.abs(dx))
        if not ok or not math.isfinite(big):
            return x, H, nrm, it, False
        if big > maxstep:
            dx *= maxstep / big
        step = 1.0
        accepted = False
        xt = x.copy()
        Ht = H
        mt = merit
        for _ in range(50):
            xt = x + step * dx
            Ht = evaluate(xt, p, c, y, Rt, Jt)
            mt = np.sum(Rt * Rt)
            if math.isfinite(mt) and mt <= (1.0 - 1e-4 * step) * merit:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            return x, H, nrm, it, nrm < tol
        x = xt
        H = Ht
        merit = mt
        R, Rt = Rt, R
        J, Jt = Jt, J
    nrm = np.max(np.abs(R))
    return x, H, nrm, maxiter, nrm < tol


@njit(cache=True, error_model="numpy")
def solve_point(starts, p, c, y, tol, maxiter, maxstep):
    """Newton from every start; the converged root of lowest action H is the physical branch (else the start
    of smallest max|R|).  Returns the Iteration tuple (x, H, max|R|, iterations, converged)."""
    best_x = starts[0].copy()
    best = (np.inf, np.inf, 0, False)
    have = False
    for s in range(starts.shape[0]):
        x, H, nrm, it, ok = newton(starts[s], p, c, y, tol, maxiter, maxstep)
        if ok and (not have or H < best[0]):
            best_x, best, have = x, (H, nrm, it, True), True
        elif not have and nrm < best[1]:
            best_x, best = x, (H, nrm, it, False)
    return best_x, best[0], best[1], best[2], best[3]


@njit(cache=True, parallel=True, error_model="numpy")
def sweep(params, priors, offsets, fallback, c, y, tol, maxiter, maxstep, nchunks):
    """Solve at every row of params: chunks in parallel, warm-started along the grid within a chunk.

    Each point starts from the previous converged point of its chunk and from priors + offsets; if none
    converges, from priors + fallback (a wider set of scales).  Returns arrays over the points in the Iteration
    order (x, H, max|R|, iterations, converged)."""
    npts, n = priors.shape
    X = np.empty((npts, n))
    its = np.empty(npts, np.int64)
    conv = np.empty(npts, np.bool_)
    HH = np.empty(npts)
    res = np.empty(npts)
    for j in prange(nchunks):
        lo = (npts * j) // nchunks
        hi = (npts * (j + 1)) // nchunks
        prev = np.empty(n)
        have = False
        for i in range(lo, hi):
            ns = offsets.shape[0] + (1 if have else 0)
            starts = np.empty((ns, n))
            row = 0
            if have:
                starts[0] = prev
                row = 1
            for o in range(offsets.shape[0]):
                starts[row] = priors[i] + offsets[o]
                row += 1
            x, H, nrm, it, ok = solve_point(starts, params[i], c, y, tol, maxiter, maxstep)
            if not ok:
                wide = np.empty((fallback.shape[0], n))
                for o in range(fallback.shape[0]):
                    wide[o] = priors[i] + fallback[o]
                x, H, nrm, it, ok = solve_point(wide, params[i], c, y, tol, maxiter, maxstep)
            X[i] = x
            its[i] = it
            conv[i] = ok
            HH[i] = H
            res[i] = nrm
            if ok:
                prev[:] = x
                have = True
    return X, HH, res, its, conv
'''


def load(theory, backend="numba"):
    """The generated module of ``theory`` for ``backend`` (:func:`symbolic_rg.printers.load_module`)."""
    return load_module("kernel_" + backend, (GENERATOR_VERSION, repr(theory.network)), lambda: source(theory, backend))
