"""Replica theory of deep sign-perceptron networks (teacher scenario) against Monte Carlo of real sparse networks.

The student posterior (uniform over every network that reproduces the teacher's training outputs) is sampled
with elliptical slice moves (``symbolic_rg.replica.monte_carlo``) from four starts: the teacher (decorrelating from
above), a perceptron-trained consistent network (``start="perceptron"``, nearer to equilibrium), an annealed
one (``start="annealed"``: found from random rows through the data alone; from below) and, where annealing finds
none, a melted one (``start="melted"``: the teacher melted at a fixed number of wrong outputs and requenched).
Each run reports Q_l and q_l (in the gauge closest to the teacher, fixed afresh at every measurement: at small c
the chains cross between the gauge copies of the posterior, flipped hidden units) and the generalization error
with batch-means error bars, the integrated autocorrelation time and the drift of Q between the two halves of the
kept part; the theory is the physical (largest free entropy) solution of the saddle point.

    python numeric/deep_perceptron_mc.py [--part scan|relaxation|equilibrium|arcsine|all|replot] [--quick]
                                         [--out docs/deep_perceptron_mc]
                                         [--starts teacher,perceptron,annealed] [--point L,c,alpha,sweeps ...]
                                         [--workers N | --scheduler ADDRESS] [--quiet]
                                         [--checkpoint DIR [--chunk SWEEPS]]

``scan`` (L = 1, 2, 3; alpha = 1, 2, 4, 8; c = 10, 20; teacher and perceptron starts; its seeded chains on
``--workers`` local processes or a Dask ``--scheduler``, with a bar) writes OUT.json and OUT.png
(Q_l, q_l and epsilon against alpha, theory lines, MC error bars); ``relaxation`` runs long chains (up to 40000
sweeps) at RELAXATION_POINTS (or the ``--point`` ones) and writes OUT_relaxation.json and OUT_relaxation.png (Q_l
against sweeps from every start, with the theory), keeping the other runs already there; ``equilibrium`` runs
brackets (a chain from the teacher and one from below, an annealed or a melted start, up to 2 10^5 sweeps each,
until they agree; both chains parallel-tempered where LADDERS gives a ladder of inverse temperatures) at
EQUILIBRIUM_POINTS (or the ``--point`` ones; with ``--starts teacher`` the teacher chain alone there, an upper bound
on Q) and writes OUT_equilibrium.json and OUT_equilibrium.png (``--checkpoint DIR``: each bracket saves its chains
there after every chunk, and the same command resumes a stopped one; with ``--max-sweeps N`` it extends a bracket
to N sweeps per chain);
``arcsine`` sets the closure's arcsine law against the spin agreement of real units with few (+-1) inputs
(OUT_arcsine.json); ``replot`` redraws the scan and relaxation figures from the JSON files with the theory
recomputed.
"""
import argparse
import json
import os
import time

import numpy as np

import symbolic_rg as srg
from symbolic_rg import parallel
from symbolic_rg.replica.monte_carlo import (Bracket, PosteriorChain, bracket, melted_student, teacher_data,
                                       teacher_student)


def theory_curves(depth, alphas):
    sw = srg.derive(srg.deep_perceptron(depth=depth, scenario="teacher")).compile().sweep(alphas)
    return {"alpha": alphas.tolist(), "Q": sw.Q.tolist(), "q": sw.q.tolist(),
            "generalization_error": sw.generalization_error.tolist()}


RELAXATION_POINTS = ((2, 10, 2.0, 40000), (2, 10, 4.0, 40000), (3, 10, 4.0, 20000), (2, 20, 4.0, 40000))


def relaxation(out, quick=False, starts=("teacher", "perceptron", "annealed"), points=RELAXATION_POINTS):
    """Long chains (depth, c, alpha, sweeps) from each of ``starts``; the other runs already in
    OUT_relaxation.json are kept."""
    todo = {(L, c, a, start) for L, c, a, _ in points for start in starts}
    try:
        with open(out + "_relaxation.json") as f:
            runs = [r for r in json.load(f) if (r["depth"], r["c"], r["alpha"], r["start"]) not in todo]
    except FileNotFoundError:
        runs = []
    for L, c, a, sweeps in points:
        sweeps //= 100 if quick else 1
        th = srg.derive(srg.deep_perceptron(depth=L, scenario="teacher")).compile().solve(a)
        for start in starts:
            t0 = time.perf_counter()
            try:
                r = teacher_student(L, 5 * c, c, a, sweeps=sweeps, burn_in=sweeps // 2, seed=7 * L + c, start=start,
                                    measure_every=max(10, sweeps // 2000))
            except RuntimeError as e:                    # no consistent start found (annealing), reported, not fatal
                print("L=%d c=%d alpha=%.1f %-10s no chain: %s" % (L, c, a, start, e), flush=True)
                continue
            runs.append({"depth": L, "c": c, "N": 5 * c, "alpha": a, "start": start, "sweeps": r.sweeps.tolist(),
                         "Q_trace": r.Q_trace.tolist(), "error_trace": r.error_trace.tolist(), "Q": r.Q.tolist(),
                         "Q_err": r.Q_err.tolist(), "generalization_error": r.generalization_error,
                         "autocorrelation_time": r.autocorrelation_time, "drift": r.drift.tolist(),
                         "theory_Q": list(th.Q), "theory_generalization_error": th.generalization_error})
            print("L=%d c=%d alpha=%.1f %-10s %d sweeps: Q(last half)=%s +- %s (theory %s) eps=%.3f (theory %.3f) "
                  "tau=%.0f drift=%s %.0fs" % (L, c, a, start, sweeps, np.round(r.Q, 3), np.round(r.Q_err, 3),
                                               np.round(th.Q, 3), r.generalization_error, th.generalization_error,
                                               r.autocorrelation_time, np.round(r.drift, 1),
                                               time.perf_counter() - t0), flush=True)
    with open(out + "_relaxation.json", "w") as f:
        json.dump(runs, f)
    plot_relaxation(out + "_relaxation.png", runs)


EQUILIBRIUM_POINTS = ((2, 5, 2.0, 200000), (2, 5, 4.0, 200000), (2, 5, 8.0, 200000), (3, 5, 4.0, 100000),
                      (3, 5, 8.0, 60000), (2, 10, 2.0, 100000), (2, 10, 4.0, 100000), (3, 10, 4.0, 50000),
                      (2, 10, 8.0, 100000), (3, 10, 8.0, 200000), (2, 20, 2.0, 200000), (2, 20, 4.0, 150000))
MELTED = {"melt_sweeps": 4000, "anneal_sweeps": 8000, "reheats": 5}
BELOW = {(3, 5, 8.0): ("annealed", {"anneal_sweeps": 20000}),   # the default annealing (4000 sweeps) found no start
         # no annealed start within 30 min at these (also with the data added in stages and reheats); the melted ones
         # take 23 and 54 min (c = 10), 3 and 23 min (c = 20) on one core and are skipped with --quick; the melt must
         # go below the teacher chain's overlaps (at c = 20, alpha = 4, 200 wrong outputs came back to them, 600 not)
         (2, 10, 8.0): ("melted", dict(MELTED, errors=100)), (3, 10, 8.0): ("melted", dict(MELTED, errors=100)),
         (2, 20, 2.0): ("melted", dict(MELTED, errors=300)), (2, 20, 4.0): ("melted", dict(MELTED, errors=600))}
# parallel tempering (monte_carlo.TemperedChain: replicas at these finite inverse temperatures in the number of wrong
# training outputs below the one at beta = infinity, which is measured) where the plain chains from the two starts
# stayed apart after 2 x 10^5 sweeps; the sweeps in EQUILIBRIUM_POINTS are then per replica (4, 56 and 66 min on 2
# cores for 2 x 10^4, 9 x 10^4 and 4 x 10^4 sweeps with the first propagation kernel; the present one, which allocates
# nothing per proposal and stops a proposal once it cannot be accepted, takes 5 (hottest replicas) to 27 (beta =
# infinity, L = 3, c = 10) times less per move).  At L = 3 the hottest replica must be near random outputs
# (beta = 0.05): from beta = 0.5 the chain from below had not moved in 10^4 sweeps.  At L = 3, alpha = 8 the exchange
# rates of the geometric ladder fall to 0.07 near beta = 1.5-2; after RETUNE chunks the ladder moves to equal rates
# (0.30-0.59 there; alpha = 4 is run the same way).  At c = 10 (four times as many training outputs) a ladder needs
# about twice as many replicas: with 48 at L = 2, alpha = 4 (exchange rates 0.31-0.99 after the retuning; 8 min per
# 5000 sweeps on 2 cores) 5 and 1 networks had gone from the hottest replica to beta = infinity after 1.15 x 10^5
# sweeps (--max-sweeps 114816), the chains still 0.02-0.03 apart (Q from above (0.582, 0.657), from below
# (0.548, 0.634), the latter still rising): the bracket in docs/, not settled.
LADDERS = {(2, 5, 4.0): np.geomspace(0.5, 12.0, 24), (3, 5, 4.0): np.geomspace(0.05, 12.0, 32),
           (3, 5, 8.0): np.geomspace(0.05, 12.0, 32), (2, 10, 4.0): np.geomspace(0.5, 12.0, 48)}
# chunks after which the ladder moves to equal exchange rates (monte_carlo.tuned_ladder of the rates measured so far)
RETUNE = {(3, 5, 8.0): 2, (3, 5, 4.0): 2, (2, 10, 4.0): 2}


def equilibrium(out, quick=False, points=EQUILIBRIUM_POINTS, above_only=False, checkpoints=None, chunk=None,
                max_sweeps=None):
    """Brackets (``monte_carlo.bracket``: a chain from the teacher and one from below, an annealed start or, where
    BELOW says so, a melted one, on the same data, run until they agree or for at most ``sweeps`` each) at
    (depth, c, alpha, sweeps); ``above_only``: the teacher chain alone (an upper bound where no start from below is
    found in reasonable time); OUT_equilibrium.json is rewritten after every point (the other points already there
    are kept), then OUT_equilibrium.png.  ``checkpoints``: a folder where each bracket saves its chains after every
    chunk (``chunk`` sweeps, default sweeps / 20; a melted start beside it) and from which a stopped one resumes
    (``monte_carlo.bracket``); a run's ``seconds`` are then those of the last call, and ``resumed`` says so.
    ``max_sweeps``: run every point to that many sweeps instead of its own (its own still fix the measurement
    interval and the default chunk, so that a checkpointed bracket can be extended)."""
    path = out + "_equilibrium.json"
    todo = {(L, c, a) for L, c, a, _ in points}
    try:
        with open(path) as f:
            runs = [r for r in json.load(f) if (r["depth"], r["c"], r["alpha"]) not in todo]
    except FileNotFoundError:
        runs = []
    for L, c, a, sweeps in points:
        sweeps //= 100 if quick else 1
        th = srg.derive(srg.deep_perceptron(depth=L, scenario="teacher")).compile().solve(a)
        t0 = time.perf_counter()
        seed, every = 11 * L + c + int(10 * a), max(10, sweeps // 4000)
        if (L, c, a) in LADDERS:
            every += every % 2                           # exchanges every 2 sweeps
        total = max_sweeps // (100 if quick else 1) if max_sweeps else sweeps
        if above_only:                                   # the teacher chain alone: an upper bound
            resumed, rng = False, np.random.default_rng(seed)
            r = PosteriorChain(teacher_data(L, 5 * c, c, a, rng), "teacher", rng, every).run(total).result()
            b = Bracket(r.Q, r.Q_err, r.q, r.q_err, r.generalization_error, r.generalization_error_err, r, None,
                        False, total, None)
        else:
            start, kw = BELOW.get((L, c, a), ("annealed", {"anneal_sweeps": 4000 if c <= 10 else 8000}))
            if start == "melted" and quick:
                print("L=%d c=%d alpha=%.1f skipped with --quick: its melted start takes minutes to an hour"
                      % (L, c, a))
                continue
            ck = checkpoints and os.path.join(checkpoints, "L%d_c%d_alpha%g" % (L, c, a))
            resumed = bool(ck) and os.path.exists(ck + ".pkl")
            try:
                if start == "melted" and resumed:        # the melted start the checkpointed bracket began from
                    start = np.load(ck + "_start.npy")
                elif start == "melted":         # found first, on the random stream right after the data, then handed
                    rng = np.random.default_rng(seed)                         # to bracket (which draws the same data)
                    d = teacher_data(L, 5 * c, c, a, rng)
                    start = melted_student(d.teacher, d.S0, d.y, rng, **kw)
                    if ck:
                        np.save(ck + "_start.npy", start)
                b = bracket(L, 5 * c, c, a, max_sweeps=total, seed=seed, measure_every=every, below=start, anneal=kw,
                            betas=LADDERS.get((L, c, a)), retune=RETUNE.get((L, c, a), 0), chunk=chunk or sweeps // 20,
                            checkpoint=ck and ck + ".pkl",
                            progress=lambda n, hi, lo: print(
                                "  L=%d c=%d alpha=%.1f %d sweeps: Q from above %s, from below %s"
                                % (L, c, a, n, np.round(hi.Q, 3), np.round(lo.Q, 3)), flush=True))
            except RuntimeError as e:                    # no consistent start from below: reported, not fatal
                print("L=%d c=%d alpha=%.1f no bracket: %s" % (L, c, a, e), flush=True)
                continue
        run = {"depth": L, "c": c, "N": 5 * c, "alpha": a, "sweeps": b.sweeps, "converged": b.converged,
               "Q": b.Q.tolist(), "Q_err": b.Q_err.tolist(), "q": b.q.tolist(), "q_err": b.q_err.tolist(),
               "generalization_error": b.generalization_error,
               "generalization_error_err": b.generalization_error_err,
               "theory_Q": list(th.Q), "theory_q": list(th.q), "theory_generalization_error": th.generalization_error,
               "seconds": time.perf_counter() - t0, "resumed": resumed, "tempering": b.tempering}
        for side, r in (("above", b.above), ("below", b.below)):
            if r is None:
                run[side] = None
                continue
            run[side] = {"Q": r.Q.tolist(), "Q_err": r.Q_err.tolist(), "q": r.q.tolist(),
                         "flipped": r.flipped_trace[len(r.flipped_trace) // 2:].mean(axis=0).tolist(),
                         "generalization_error": r.generalization_error, "autocorrelation_time": r.autocorrelation_time,
                         "drift": r.drift.tolist(), "sweeps": r.sweeps[::10].tolist(),
                         "Q_trace": r.Q_trace[::10].tolist()}
        runs.append(run)
        below = b.below or b.above
        print("L=%d c=%d alpha=%.1f %d sweeps%s %s: Q=%s +- %s (above %s, below %s; theory %s) q=%s (theory %s) "
              "eps=%.3f+-%.3f (theory %.3f) flipped=%s tau=%.0f/%.0f drift=%s %.0fs"
              % (L, c, a, b.sweeps, "" if b.tempering is None else " (tempered: %d replicas, hot-to-cold %s)"
                 % (len(b.tempering["betas"]) + 1, b.tempering["hot_to_cold"]), "teacher chain only" if b.below is None else
                 "converged" if b.converged else "NOT converged", np.round(b.Q, 3), np.round(b.Q_err, 3),
                 np.round(b.above.Q, 3), np.round(below.Q, 3) if b.below else "-", np.round(th.Q, 3),
                 np.round(b.q, 3), np.round(th.q, 3), b.generalization_error, b.generalization_error_err,
                 th.generalization_error, run["above"]["flipped"], b.above.autocorrelation_time,
                 below.autocorrelation_time,
                 np.round(b.above.drift, 1), run["seconds"]), flush=True)
        with open(path, "w") as f:
            json.dump(runs, f)
    plot_equilibrium(out + "_equilibrium.png", runs)


def arcsine_check(out, quick=False, cs=(5, 10, 20), alpha=8.0, depth=2):
    """The closure's arcsine law per unit against real units: from a teacher chain (4000 sweeps, 2000 at c = 20) at
    each c, the first layer's gauge-fixed weight overlaps R_i with the teacher against the spin agreement of each unit
    with the teacher's on 4000 fresh inputs, which the closure (Gaussian pre-activations) puts at (2/pi) arcsin R_i;
    writes OUT_arcsine.json."""
    from symbolic_rg.replica.monte_carlo import forward, gauged, gauge_signs
    rows = []
    for c in cs:
        rng = np.random.default_rng(1)
        d = teacher_data(depth, 5 * c, c, alpha, rng, n_test=4000)
        sweeps = (2000 if c >= 20 else 4000) // (10 if quick else 1)
        chain = PosteriorChain(d, "teacher", rng, 50).run(sweeps)
        t = d.teacher
        SX = forward(chain.J, t.inputs, d.X)
        sigma = gauge_signs(SX, d.XT)
        R = np.einsum("ik,ik->i", gauged(chain.J, t.inputs, sigma)[0], t.weights[0]) / c
        row = {"c": c, "alpha": alpha, "depth": depth, "sweeps": sweeps, "R": float(R.mean()),
               "spin_agreement": float(np.mean(sigma[1] * SX[1] * d.XT[1])),
               "arcsine_per_unit": float(np.mean(2 / np.pi * np.arcsin(R))),
               "arcsine_of_mean": float(2 / np.pi * np.arcsin(R.mean()))}
        rows.append(row)
        print("c=%2d: mean R_1 = %.3f, measured spin agreement %.3f, arcsine law per unit %.3f, of the mean R %.3f"
              % (c, row["R"], row["spin_agreement"], row["arcsine_per_unit"], row["arcsine_of_mean"]), flush=True)
    with open(out + "_arcsine.json", "w") as f:
        json.dump(rows, f, indent=1)


def plot_equilibrium(path, runs):
    """Per depth: Q_l, q_l and epsilon against alpha (theory lines); each bracket drawn as its estimate with error
    bar and the two chains' values (open triangles: down from the teacher, up from the start from below)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    depths = sorted({r["depth"] for r in runs})
    fig, axes = plt.subplots(len(depths), 3, figsize=(13, 3.6 * len(depths)), squeeze=False)
    shift, marker = {5: -0.08, 10: 0.0, 20: 0.08}, {5: "D", 10: "o", 20: "s"}
    for row, L in enumerate(depths):
        sel = [r for r in runs if r["depth"] == L]
        th = theory_curves(L, np.linspace(0.25, 9.0, 36))
        a = np.array(th["alpha"])
        for ax, key, n_l, name in ((axes[row][0], "Q", L, "Q"), (axes[row][1], "q", L - 1, "q")):
            for l in range(n_l):
                line, = ax.plot(a, np.array(th[key])[:, l], label="theory $%s_%d$" % (name, l + 1))
                for r in sel:
                    x = r["alpha"] * (1 + shift.get(r["c"], 0))
                    ax.errorbar(x, r[key][l], r[key + "_err"][l], fmt=marker.get(r["c"], "x"),
                                color=line.get_color(), ms=4, mfc=line.get_color() if r["converged"] else "none")
                    if key == "Q" and r["below"] is not None:
                        ax.plot([x, x], [r["below"]["Q"][l], r["above"]["Q"][l]], color=line.get_color(), lw=0.6)
                        ax.plot(x, r["above"]["Q"][l], "v", x, r["below"]["Q"][l], "^", color=line.get_color(),
                                ms=3, mfc="none")
                    elif key == "Q":                     # the teacher chain alone: an upper bound
                        ax.plot(x, r["above"]["Q"][l], "v", color=line.get_color(), ms=6)
        for c in sorted({r["c"] for r in sel}):         # gauge-fixed Q of units uncorrelated with the teacher
            axes[row][0].axhline(np.sqrt(2 / (np.pi * c)), color="0.6", ls=":", lw=0.8)
            axes[row][0].annotate("c=%d" % c, (a[-1], np.sqrt(2 / (np.pi * c))), fontsize=6, color="0.5",
                                  ha="right", va="bottom")
        axe = axes[row][2]
        axe.plot(a, th["generalization_error"], "k-", label="theory")
        for c, m in sorted(marker.items()):
            cs = [r for r in sel if r["c"] == c]
            if cs:
                axe.errorbar([r["alpha"] * (1 + shift[c]) for r in cs], [r["generalization_error"] for r in cs],
                             [r["generalization_error_err"] for r in cs], fmt=m, color="C3", ms=4,
                             label="MC c=%d, N=%d" % (c, 5 * c))
        if L == 1:
            axes[row][1].axis("off")
        axes[row][0].set_title("L = %d: weight overlaps $Q_l$" % L, fontsize=9)
        axes[row][1].set_title("hidden spin overlaps $q_l$", fontsize=9)
        axe.set_title("generalization error", fontsize=9)
        for ax in axes[row]:
            ax.set_xlabel(r"$\alpha = M/c$")
            if ax.lines:
                ax.legend(fontsize=7)
    fig.suptitle("MC (N = 5c): diamonds c = 5, circles c = 10, squares c = 20; filled: the two chains agree and "
                 "neither drifts; small down/up triangles: chain from the teacher / from below;\nlarge triangle: "
                 "teacher chain alone (Q: an upper bound, epsilon: a lower bound); grey dotted: sqrt(2/(pi c)), the gauge-fixed Q of "
                 "units uncorrelated with the teacher;\nboth chains parallel-tempered at (L, c, alpha) = "
                 + ", ".join("(%d, %d, %g)" % (r["depth"], r["c"], r["alpha"]) for r in runs if r.get("tempering")),
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=110)


def plot_relaxation(path, runs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    points = sorted({(r["depth"], r["c"], r["alpha"]) for r in runs})
    fig, axes = plt.subplots(1, len(points), figsize=(4.5 * len(points), 3.6), squeeze=False)
    for ax, (L, c, a) in zip(axes[0], points):
        sel = [r for r in runs if (r["depth"], r["c"], r["alpha"]) == (L, c, a)]
        for r in sel:
            Qt = np.array(r["Q_trace"])
            for l in range(L):
                ax.plot(r["sweeps"], Qt[:, l], color="C%d" % l, lw=1,
                        ls={"teacher": "-", "perceptron": "--", "annealed": "-."}[r["start"]],
                        label="$Q_%d$ from %s" % (l + 1, r["start"]))
        for l, v in enumerate(sel[0]["theory_Q"]):
            ax.axhline(v, color="C%d" % l, ls=":", lw=1.5)
        ax.set_xscale("log")
        ax.set_xlabel("sweeps")
        ax.set_title("L = %d, c = %d, N = %d, alpha = %g (dotted: theory)" % (L, c, sel[0]["N"], a), fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def replot(out):
    """Redraw both figures from OUT.json and OUT_relaxation.json, with the theory recomputed by the current engine."""
    with open(out + ".json") as f:
        scan = json.load(f)
    depths = sorted({r["depth"] for r in scan["runs"]})
    curves = {L: theory_curves(L, np.array(scan["theory"][str(L)]["alpha"])) for L in depths}
    plot(out + ".png", scan["runs"], curves, depths)
    with open(out + ".json", "w") as f:
        json.dump({"runs": scan["runs"], "theory": curves}, f, indent=1)
    with open(out + "_relaxation.json") as f:
        runs = json.load(f)
    for r in runs:
        th = srg.derive(srg.deep_perceptron(depth=r["depth"], scenario="teacher")).compile().solve(r["alpha"])
        r["theory_Q"], r["theory_generalization_error"] = list(th.Q), th.generalization_error
    with open(out + "_relaxation.json", "w") as f:
        json.dump(runs, f)
    plot_relaxation(out + "_relaxation.png", runs)

def scan_chain(L, N, c, a, sweeps, start):
    """One seeded posterior chain of the scan (``monte_carlo.teacher_student``): its measurements as a dict."""
    t0 = time.perf_counter()
    r = teacher_student(L, N, c, a, sweeps=sweeps, burn_in=sweeps // 2, seed=1000 * L + c, start=start, progress=False)
    return {"depth": L, "c": c, "N": N, "alpha": a, "start": start, "sweeps": sweeps,
            "Q": r.Q.tolist(), "Q_err": r.Q_err.tolist(), "q": r.q.tolist(), "q_err": r.q_err.tolist(),
            "generalization_error": r.generalization_error, "generalization_error_err": r.generalization_error_err,
            "autocorrelation_time": r.autocorrelation_time, "drift": r.drift.tolist(),
            "flipped": r.flipped_trace[len(r.flipped_trace) // 2:].mean(axis=0).tolist(),
            "Q_first_row": r.Q_trace[0].tolist(), "shrinks_per_move": r.shrinks_per_move,
            "seconds": time.perf_counter() - t0}


def main(out, quick=False, executor=None, progress=None):
    depths = (1, 2, 3)
    cs = (10, 20) if not quick else (10,)
    loads = (1.0, 2.0, 4.0, 8.0) if not quick else (2.0,)
    curves, theory, chains = {}, {}, []
    for L in depths:
        grid = np.linspace(0.25, 9.0, 36)
        curves[L] = theory_curves(L, grid)
        point = srg.derive(srg.deep_perceptron(depth=L, scenario="teacher")).compile()
        for a in loads:
            theory[L, a] = point.solve(a)
        for c in cs:
            N = 100 if L == 1 else 5 * c
            sweeps = (4000 if L == 1 else 2000) // (10 if quick else 1)
            chains += [(L, N, c, a, sweeps, start) for a in loads for start in ("teacher", "perceptron")]
    runs = parallel.map_points(scan_chain, chains, "posterior chains", executor, progress, "chain")
    for run in runs:
        L, c, a, start = run["depth"], run["c"], run["alpha"], run["start"]
        th = theory[L, a]
        run.update(theory_Q=list(th.Q), theory_q=list(th.q), theory_generalization_error=th.generalization_error)
        print("L=%d c=%2d alpha=%4.1f %-10s Q=%s +- %s (theory %s)  q=%s  eps=%.3f+-%.3f (theory %.3f)  "
              "tau=%.0f drift=%s  %.0fs"
              % (L, c, a, start, np.round(run["Q"], 3), np.round(run["Q_err"], 3), np.round(th.Q, 3),
                 np.round(run["q"], 3), run["generalization_error"], run["generalization_error_err"],
                 th.generalization_error, run["autocorrelation_time"], np.round(run["drift"], 1),
                 run["seconds"]), flush=True)
    with open(out + ".json", "w") as f:
        json.dump({"runs": runs, "theory": curves}, f, indent=1)
    plot(out + ".png", runs, curves, depths)


def plot(path, runs, curves, depths):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(depths), 3, figsize=(13, 3.4 * len(depths)), squeeze=False)
    markers = {("teacher", 10): "o", ("teacher", 20): "s", ("perceptron", 10): "^", ("perceptron", 20): "D"}
    for row, L in enumerate(depths):
        th = curves[L]
        a = np.array(th["alpha"])
        axQ, axq, axe = axes[row]
        for l in range(L):
            line, = axQ.plot(a, np.array(th["Q"])[:, l], label="theory $Q_%d$" % (l + 1))
            for r in (r for r in runs if r["depth"] == L):
                axQ.errorbar(r["alpha"], r["Q"][l], r["Q_err"][l], fmt=markers.get((r["start"], r["c"]), "x"),
                             color=line.get_color(), mfc="none", ms=5)
        for l in range(L - 1):
            line, = axq.plot(a, np.array(th["q"])[:, l], label="theory $q_%d$" % (l + 1))
            for r in (r for r in runs if r["depth"] == L):
                axq.errorbar(r["alpha"], r["q"][l], r["q_err"][l], fmt=markers.get((r["start"], r["c"]), "x"),
                             color=line.get_color(), mfc="none", ms=5)
        axe.plot(a, th["generalization_error"], "k-", label="theory")
        for (start, c), m in markers.items():
            sel = [r for r in runs if r["depth"] == L and r["start"] == start and r["c"] == c]
            if sel:
                axe.errorbar([r["alpha"] for r in sel], [r["generalization_error"] for r in sel],
                             [r["generalization_error_err"] for r in sel], fmt=m, mfc="none", ms=5, color="C3",
                             label="MC c=%d from %s" % (c, start))
        if L == 1:
            axq.axis("off")
        axQ.set_title("L = %d: weight overlaps $Q_l$" % L)
        axq.set_title("hidden spin overlaps $q_l$ (training inputs)")
        axe.set_title("generalization error")
        for ax in (axQ, axq, axe):
            ax.set_xlabel(r"$\alpha = M/c$")
            if ax.lines:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs/deep_perceptron_mc")
    p.add_argument("--part", choices=("scan", "relaxation", "equilibrium", "arcsine", "all", "replot"), default="all")
    p.add_argument("--quick", action="store_true", help="fewer points and sweeps (a smoke run)")
    p.add_argument("--starts", default="teacher,perceptron,annealed", help="relaxation: comma-separated starts; "
                   "equilibrium: 'teacher' runs the teacher chain alone (an upper bound)")
    p.add_argument("--point", action="append", help="relaxation, equilibrium: L,c,alpha,sweeps (repeatable; "
                   "default: all of RELAXATION_POINTS, EQUILIBRIUM_POINTS)")
    p.add_argument("--checkpoint", metavar="DIR", help="equilibrium: save each bracket's chains in DIR after every "
                   "chunk and resume a stopped one from there (same --point and --chunk)")
    p.add_argument("--chunk", type=int, help="equilibrium: sweeps per chunk (default: the point's sweeps / 20)")
    p.add_argument("--max-sweeps", type=int, help="equilibrium: run each bracket to this many sweeps per chain "
                   "instead of the point's (which still fix the measurement interval and the default chunk): with "
                   "--checkpoint the same command extends a stopped or finished bracket")
    parallel.add_arguments(p, "the scan's chains")
    a = p.parse_args()
    if a.checkpoint:
        os.makedirs(a.checkpoint, exist_ok=True)
    if a.part in ("scan", "all"):
        main(a.out, a.quick, *parallel.from_arguments(a))
    given = a.point and [(int(L), int(c), float(al), int(sw)) for L, c, al, sw in (p.split(",") for p in a.point)]
    if a.part in ("relaxation", "all"):
        relaxation(a.out, a.quick, tuple(a.starts.split(",")), given or RELAXATION_POINTS)
    if a.part in ("equilibrium", "all"):
        equilibrium(a.out, a.quick, given or EQUILIBRIUM_POINTS, above_only=bool(given) and a.starts == "teacher",
                    checkpoints=a.checkpoint, chunk=a.chunk, max_sweeps=a.max_sweeps)
    if a.part in ("arcsine", "all"):
        arcsine_check(a.out, a.quick)
    if a.part == "replot":
        replot(a.out)
