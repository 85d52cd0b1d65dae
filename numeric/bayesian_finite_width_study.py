"""Bayesian inference at finite width (PDLT ch. 6, ``srg.pdlt.bayesian_posterior``) against MALA samples of the real
network's posterior: one hidden layer of width N = 10 and 30 (tanh, C_W = 1.5; ReLU, C_W = 2; no biases), P = 5
training inputs in N_0 = 4 dimensions, T = 0.05, two test inputs; the posterior mean and variance with the 1/n
correction, at infinite width (GP), and sampled (4000 samples, 2 s.e. from 20 batches).  About 5 minutes (the
three- and four-input Gaussian integrals of tanh's vertex dominate).

    python numeric/bayesian_finite_width_study.py [--out docs/bayesian_finite_width_study.json]
"""
import argparse
import json
import time

import numpy as np

from symbolic_rg.pdlt import bayesian_posterior
from symbolic_rg.simulate import mala_network


def main(out="docs/bayesian_finite_width_study.json"):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5, 4))
    y = np.tanh(X @ rng.standard_normal(4) / 2) + 0.1 * rng.standard_normal(5)
    Xt = rng.standard_normal((2, 4))
    T, rows = 0.05, []
    for act, C_W in (("tanh", 1.5), ("relu", 2.0)):
        for N in (10, 30):
            t0 = time.time()
            b = bayesian_posterior(act, X, y, Xt, 2, N, C_W, 0.0, T)
            s = mala_network(X, y, Xt, [N], act, sigma2=C_W, T=T, samples=4000, burn_in=4000, thin=10, seed=N)
            row = {"activation": act, "width": N, "C_W": C_W, "T": T,
                   "theory_mean": b.mean.tolist(), "theory_variance": b.variance.tolist(),
                   "gp_mean": b.mean_gp.tolist(), "gp_variance": b.variance_gp.tolist(),
                   "sim_mean": s.mean.tolist(), "sim_mean_err": s.mean_stderr.tolist(),
                   "sim_variance": s.variance.tolist(), "sim_variance_err": s.variance_stderr.tolist(),
                   "seconds": time.time() - t0}
            rows.append(row)
            for k in ("mean", "variance"):
                print("%-4s N=%2d %-8s  MALA %s ± %s   1/n: %s (%s s.e.)   GP: %s (%s s.e.)"
                      % (act, N, k, np.round(row["sim_" + k], 4), np.round(row["sim_%s_err" % k], 4),
                         np.round(row["theory_" + k], 4),
                         np.round((np.array(row["theory_" + k]) - row["sim_" + k]) / row["sim_%s_err" % k], 1),
                         np.round(row["gp_" + k], 4),
                         np.round((np.array(row["gp_" + k]) - row["sim_" + k]) / row["sim_%s_err" % k], 1)), flush=True)
    with open(out, "w") as f:
        json.dump(rows, f, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/bayesian_finite_width_study.json")
    main(p.parse_args().out)
