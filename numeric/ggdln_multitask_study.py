"""Multitask learning with task-dependent gates: per-task generalization error versus the number of tasks.

Up to four binary digit tasks (even, small, round, prime; P = 80 training images per task) share one
GGDLN (L = 2, M = 4 half-space gates per layer, N = 100, T = 0.1).  The gates see the input and a context
vector of the row's task with weight w (w = 0: gates blind to the task).  For each number of tasks n the
network is trained on tasks 1..n jointly and the theory gives every task's test error; the figure shows
the first task's error and the mean over tasks against n for several w.

    python numeric/ggdln_multitask_study.py [--out docs/ggdln_multitask_study.png]
"""
import argparse

import numpy as np

import symbolic_rg as srg
from symbolic_rg.data import multitask_digits
from symbolic_rg.gated.gates import TaskGates

M, N, T, DEPTH, P, WEIGHTS = 4, 100, 0.1, 2, 80, (0.0, 1.0, 3.0)


def main(out="docs/ggdln_multitask_study.png"):
    solver = srg.derive(srg.ggdln(DEPTH, gates=M)).compile()
    table = {}
    for w in WEIGHTS:
        for n in range(1, 5):
            d = multitask_digits(tasks=n, P=P, P_test=200, seed=0)
            gates = [TaskGates(M, d.contexts, seed=l, context_weight=w).fixed(d.X_train, d.task_train, d.X_test, d.task_test)
                     for l in range(DEPTH)]
            sol = solver.solve(d.X_train, d.y_train, [N] * DEPTH, T=T, gates=gates)
            errors = sol.generalization_error_by_group(d.X_test, d.y_test, d.task_test)
            table[(w, n)] = [errors[t].total for t in range(n)]
            print("context weight %.1f, %d tasks: per-task error %s" % (w, n, np.round(table[(w, n)], 3)), flush=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    for w in WEIGHTS:
        ns = range(1, 5)
        axes[0].plot(ns, [table[(w, n)][0] for n in ns], "o-", label="context weight %g" % w)
        axes[1].plot(ns, [np.mean(table[(w, n)]) for n in ns], "o-", label="context weight %g" % w)
    axes[0].set_title("task 1 (even vs odd)", fontsize=10)
    axes[1].set_title("mean over the tasks trained", fontsize=10)
    for ax in axes:
        ax.set_xlabel("number of tasks sharing the network")
        ax.set_xticks(range(1, 5))
    axes[0].set_ylabel("generalization error (theory)")
    axes[0].legend(fontsize=8)
    fig.suptitle("GGDLN, L = %d, M = %d, N = %d, T = %g, P = %d per task" % (DEPTH, M, N, T, P), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print("wrote", out)
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/ggdln_multitask_study.png")
    main(parser.parse_args().out)
