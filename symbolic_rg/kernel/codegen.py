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

GENERATOR_VERSION = "3"


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
    c_k, y_k = _data_symbols()
    data = {eigenvalue[mode]: code["s2_1"] * c_k, label[mode]: y_k}
    return names, code, sub, data


def _data_symbols():
    return sp.Symbol("c_k", positive=True), sp.Symbol("y_k", real=True)


def system(theory):
    """``(outputs, names)``: [R_1..R_L, J_11..J_LL, H] in code symbols, and the parameter names."""
    names, code, sub, data = _substitutions(theory)
    us = theory.order_parameters
    R = [r.subs(sub) for r in theory.saddle_point_residuals]
    J = [u * sp.diff(r, u) for r in R for u in us]
    H = theory.effective_action.subs(sub)
    outputs = [o.replace(sp.Sum, lambda f, lim: sp.Sum(f.subs(data), lim)) for o in R + J + [H]]
    return outputs, names


def _split_sums(outputs, data_symbols):
    r"""Replace the spectral sums by accumulator symbols; return (outputs, [(symbol, summand)]).

    Each sum is split over its summand's terms, and each term's mode-independent factors (order parameters,
    widths, priors, T) are taken out of the sum, :math:`\sum_k a\,g(c_k, y_k) = a\sum_k g(c_k, y_k)`, after
    the term is factored; so the sums of different layers and of the Jacobian share accumulators (deep linear,
    L = 3: 4 in the residual pass and 2 in the action's, instead of 23 in one pass; L = 4: the same, instead of
    36) and one pass over the modes computes each distinct summand once."""
    sums = {}

    def accumulator(g):
        if g not in sums:
            sums[g] = sp.Symbol("S_%d" % len(sums))
        return sums[g]

    def pulled(s):
        total = 0
        for term in sp.Add.make_args(s.function):
            a, g = term.as_independent(*data_symbols, as_Add=False)
            b, g = sp.factor(g).as_independent(*data_symbols, as_Add=False)
            total += a * b * accumulator(g) if g != 1 else a * b * sp.Sum(1, s.limits[0]).doit()
        return total
    reduced = [o.replace(lambda e: isinstance(e, sp.Sum), pulled) for o in outputs]
    return reduced, [(acc, g) for g, acc in sums.items()]


def _reciprocals(summands, data_symbols):
    """Each mode-dependent denominator of the summands (a base with a negative integer power) as one reciprocal:
    ``([(r_i, base_i)], rewritten)`` with base**(-n) -> r_i**n, so that a pass over the modes divides once per
    denominator (deep linear: once, instead of once per power of T + u lambda_k)."""
    powers = [e for f in summands for e in sp.preorder_traversal(f)
              if e.is_Pow and e.exp.is_Integer and e.exp < 0 and e.base.has(*data_symbols)]
    bases = list(dict.fromkeys(e.base for e in powers))
    table = dict(zip(bases, sp.symbols("r_0:%d" % len(bases))))
    swap = {e: table[e.base] ** (-e.exp) for e in powers}
    return [(table[b], b) for b in bases], [f.xreplace(swap) for f in summands]


def _mode_loop(sums, printer, backend):
    """Source lines of the pass over the modes that accumulates each ``(S_i, summand)`` of ``sums``.

    NumPy: each sum vectorized.  A loop otherwise: the denominators first (:func:`_reciprocals`), then the
    summands after CSE.  On the Numba path a summand ln g is accumulated as a product, its logarithm taken when
    the product leaves [1e-200, 1e200] and at the end (a factor outside [1e-100, 1e100] goes to the sum as is):
    one logarithm per ~100 modes instead of one per mode."""
    data = _data_symbols()
    if backend == "numpy":
        pre, exprs = sp.cse([f for _, f in sums], symbols=sp.numbered_symbols("w"), optimizations="basic")
        return (["    c_k = c", "    y_k = y"] + assignments(printer, pre, "    ")
                + ["    %s = numpy.sum(numpy.broadcast_to(%s, c_k.shape))" % (acc.name, printer.doprint(e))
                   for (acc, _), e in zip(sums, exprs)])
    as_product = lambda f: backend == "numba" and isinstance(f, sp.log)
    logs = [(acc, f.args[0]) for acc, f in sums if as_product(f)]
    plain = [(acc, f) for acc, f in sums if not as_product(f)]
    recips, rewritten = _reciprocals([f for _, f in plain], data)
    pre, bases = sp.cse([b for _, b in recips] + [g for _, g in logs], symbols=sp.numbered_symbols("w"),
                        optimizations="basic")
    post, exprs = sp.cse(rewritten, symbols=sp.numbered_symbols("v"), optimizations="basic")
    zero = "0.0" if backend == "numba" else "mpmath.mpf(0)"
    lines = ["    %s = %s" % (acc.name, zero) for acc, _ in sums]
    lines += ["    P_%s = 1.0" % acc.name for acc, _ in logs]
    lines += ["    for k in range(len(c)):", "        c_k = c[k]", "        y_k = y[k]"]
    lines += assignments(printer, pre, "        ")
    lines += ["        %s = 1/(%s)" % (r.name, printer.doprint(b)) for (r, _), b in zip(recips, bases)]
    for (acc, _), g in zip(logs, bases[len(recips):]):
        lines += ["        g = %s" % printer.doprint(g),
                  "        if 1e-100 < g < 1e100:",
                  "            P_%s *= g" % acc.name,
                  "            if not 1e-200 < P_%s < 1e200:" % acc.name,
                  "                %s += math.log(P_%s)" % (acc.name, acc.name),
                  "                P_%s = 1.0" % acc.name,
                  "        else:",
                  "            %s += math.log(g)" % acc.name]
    lines += assignments(printer, post, "        ")
    lines += ["        %s += %s" % (acc.name, printer.doprint(e)) for (acc, _), e in zip(plain, exprs)]
    return lines + ["    %s += math.log(P_%s)" % (acc.name, acc.name) for acc, _ in logs]


def _body(outputs, names, depth, backend):
    """Source lines of a generated function's body: u and the parameters from (x, p), one pass over the modes
    for the spectral sums (their accumulators ``S_i``), then ``outputs`` after CSE as expressions (returned)."""
    reduced, sums = _split_sums(outputs, _data_symbols())
    printer = PRINTERS[backend]()
    out_cse, out_exprs = sp.cse(reduced, symbols=sp.numbered_symbols("z"), optimizations="basic")
    exp = {"numba": "math.exp", "numpy": "numpy.exp", "mpmath": "mpmath.exp"}[backend]
    body = ["    u_%d = %s(x[%d])" % (l + 1, exp, l) for l in range(depth)]
    body += ["    %s = p[%d]" % (n, i) for i, n in enumerate(names)]
    body += _mode_loop(sums, printer, backend)
    return body + assignments(printer, out_cse, "    "), [printer.doprint(e) for e in out_exprs]


def source(theory, backend="numba"):
    """Python source of the generated module for ``backend`` in {"numba", "mpmath", "numpy"}: ``evaluate``
    (residuals and Jacobian, what a Newton step needs) and ``action`` (H, its logarithms cost a pass of their
    own, so it is computed once per root)."""
    outputs, names = system(theory)
    L = theory.depth
    body, out = _body(outputs[:-1], names, L, backend)
    body += ["    R[%d] = %s" % (l, out[l]) for l in range(L)]
    body += ["    J[%d, %d] = %s" % (l, m, out[L + l * L + m]) for l in range(L) for m in range(L)]
    action_body, action = _body(outputs[-1:], names, L, backend)
    header = ['"""Generated by symbolic_rg.kernel.codegen (version %s) from the %s theory of depth %d. Do not edit."""'
              % (GENERATOR_VERSION, theory.network.name, L),
              "import math", {"mpmath": "import mpmath", "numpy": "import numpy", "numba": "import numpy as np"}[backend]]
    decorator = []
    if backend == "numba":
        header += ["from numba import njit, prange", "",
                   "SUMS = {'reassoc', 'contract'}    # the sums over modes may be reordered: SIMD reductions"]
        decorator = ['@njit(cache=True, error_model="numpy", fastmath=SUMS)']
    header += ["", "DEPTH = %d" % L, "PARAMETERS = %r" % (names,), ""]
    text = "\n".join(header + decorator + [
        "def evaluate(x, p, c, y, R, J):",
        '    """Fill R (residuals) and J (dR/dlog u) at x = log u."""'] + body + [""] + decorator + [
        "def action(x, p, c, y):",
        '    """The effective action H at x = log u."""'] + action_body + ["    return %s" % action[0]]) + "\n"
    if backend == "numba":
        text += "\n" + _NUMBA_SOLVER
    return text


_NUMBA_SOLVER = '''
SAME_ROOT = 0.1     # a Newton iterate this close to a known root (max |x - root|, in log u) whose full step
CONTRACTION = 0.1   # brings it this many times closer is in the root's basin of quadratic convergence
STALL = 10          # Newton gives up a start whose |R|^2 has not halved over this many iterations


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
def newton(x0, p, c, y, tol, maxiter, maxstep, known):
    """Damped Newton in x = log u with backtracking on |R|^2, then one polishing step once max|R| < tol;
    returns the Iteration tuple (x, H, max|R|, iterations, converged).  A start whose |R|^2 does not halve
    within STALL iterations is abandoned (unconverged).

    ``known`` (rows: roots found already): an iterate within SAME_ROOT of one of them whose Newton step lands
    CONTRACTION times closer to it is in that root's basin of quadratic convergence; Newton stops there and
    returns that root itself (its H is not recomputed: the caller has it)."""
    n = x0.shape[0]
    x = x0.copy()
    R = np.empty(n)
    J = np.empty((n, n))
    Rt = np.empty(n)
    Jt = np.empty((n, n))
    evaluate(x, p, c, y, R, J)
    merit = np.sum(R * R)
    checkpoint = merit
    for it in range(maxiter):
        nrm = np.max(np.abs(R))
        if nrm < tol:                      # converged: one more full Newton step polishes to round-off
            dx, ok = _linsolve(J, -R)
            if ok:
                xt = x + dx
                evaluate(xt, p, c, y, Rt, Jt)
                nt = np.max(np.abs(Rt))
                if nt <= nrm:
                    return xt, action(xt, p, c, y), nt, it + 1, True
            return x, action(x, p, c, y), nrm, it, True
        if not math.isfinite(merit):
            return x, np.nan, nrm, it, False
        dx, ok = _linsolve(J, -R)
        big = np.max(np.abs(dx))
        if not ok or not math.isfinite(big):
            return x, np.nan, nrm, it, False
        for r in range(known.shape[0]):
            d = np.max(np.abs(x - known[r]))
            if d < SAME_ROOT and np.max(np.abs(x + dx - known[r])) < CONTRACTION * d:
                return known[r].copy(), np.nan, 0.0, it, True
        if big > maxstep:
            dx *= maxstep / big
        step = 1.0
        accepted = False
        xt = x.copy()
        mt = merit
        for _ in range(30):
            xt = x + step * dx
            evaluate(xt, p, c, y, Rt, Jt)
            mt = np.sum(Rt * Rt)
            if math.isfinite(mt) and mt <= (1.0 - 1e-4 * step) * merit:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            return x, np.nan, nrm, it, False
        if it % STALL == STALL - 1:      # a start that runs off towards u = 0 or infinity: abandoned
            if mt > 0.5 * checkpoint:
                return xt, np.nan, np.max(np.abs(Rt)), it + 1, False
            checkpoint = mt
        x = xt
        merit = mt
        R, Rt = Rt, R
        J, Jt = Jt, J
    nrm = np.max(np.abs(R))
    return x, action(x, p, c, y), nrm, maxiter, nrm < tol


@njit(cache=True, error_model="numpy")
def solve_point(starts, p, c, y, tol, maxiter, maxstep):
    """Newton from every start; the converged root of lowest action H is the physical branch (else the start
    of smallest max|R|).  A start that runs into the basin of a root found from an earlier start stops there.
    Returns the Iteration tuple (x, H, max|R|, iterations, converged)."""
    n = starts.shape[1]
    known = np.empty((starts.shape[0], n))
    nknown = 0
    best_x = starts[0].copy()
    best = (np.inf, np.inf, 0, False)
    have = False
    for s in range(starts.shape[0]):
        x, H, nrm, it, ok = newton(starts[s], p, c, y, tol, maxiter, maxstep, known[:nknown])
        if ok:
            seen = False
            for r in range(nknown):
                seen = seen or np.all(x == known[r])
            if seen:                       # a root found already
                continue
            known[nknown] = x
            nknown += 1
        if ok and (not have or H < best[0]):
            best_x, best, have = x, (H, nrm, it, True), True
        elif not have and nrm < best[1]:
            best_x, best = x, (H, nrm, it, False)
    return best_x, best[0], best[1], best[2], best[3]


@njit(cache=True, error_model="numpy")
def _predict(params, i, x1, i1, x2, i2):
    """Start for row i from the converged rows i1 = i - 1 and i2 = i - 2: linear extrapolation when the
    parameters move along one line (params[i] - params[i1] = t (params[i1] - params[i2])), else x1."""
    if i1 != i - 1 or i2 != i - 2:
        return x1.copy()
    d1 = params[i1] - params[i2]
    d2 = params[i] - params[i1]
    nn = np.sum(d1 * d1)
    if not nn > 0.0:
        return x1.copy()
    t = np.sum(d1 * d2) / nn
    if np.sum((d2 - t * d1) ** 2) > 1e-18 * np.sum(d2 * d2) or abs(t) > 2.0:
        return x1.copy()
    return x1 + t * (x1 - x2)


@njit(cache=True, parallel=True, error_model="numpy")
def sweep(params, priors, offsets, fallback, c, y, tol, maxiter, maxstep, nchunks):
    """Solve at every row of params: chunks in parallel, continued along the grid within a chunk.

    Each point starts from the prediction of the previous converged points of its chunk (:func:`_predict`) and
    from priors + offsets; if none converges, from priors + fallback (a wider set of scales).  Returns arrays
    over the points in the Iteration order (x, H, max|R|, iterations, converged)."""
    npts, n = priors.shape
    X = np.empty((npts, n))
    its = np.empty(npts, np.int64)
    conv = np.empty(npts, np.bool_)
    HH = np.empty(npts)
    res = np.empty(npts)
    for j in prange(nchunks):
        lo = (npts * j) // nchunks
        hi = (npts * (j + 1)) // nchunks
        x1 = np.empty(n)
        x2 = np.empty(n)
        i1 = -3                            # rows of the last two converged points (none yet)
        i2 = -3
        for i in range(lo, hi):
            ns = offsets.shape[0] + (1 if i1 >= 0 else 0)
            starts = np.empty((ns, n))
            row = 0
            if i1 >= 0:
                starts[0] = _predict(params, i, x1, i1, x2, i2)
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
                x2[:] = x1
                i2 = i1
                x1[:] = x
                i1 = i
    return X, HH, res, its, conv
'''


def load(theory, backend="numba"):
    """The generated module of ``theory`` for ``backend`` (:func:`symbolic_rg.printers.load_module`)."""
    return load_module("kernel_" + backend, (GENERATOR_VERSION, repr(theory.network)), lambda: source(theory, backend))
