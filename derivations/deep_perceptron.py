"""Derive the replica-symmetric theory of a deep network of sign perceptrons (Yoshino 2020) and write it as LaTeX:
free entropy per weight (weight entropies, hidden-layer spin terms, output term), the saddle-point equations of
every layer, in the random scenario the replicon block (stability of replica symmetry) and in the teacher scenario
the generalization error; with ``--ansatz 1rsb`` (random scenario) the same rules under one step of replica-symmetry
breaking (the Parisi ansatz of symbolic_rg/replica/parisi.py: two levels per overlap, one block size m, nested
Gaussian averages) and its saddle-point equations in every level and in m.  Copy this script for a new replicated
model (a new layer rule in symbolic_rg/replica/rules.py composes with the others).

    python derivations/deep_perceptron.py [--depth 3] [--scenario random|teacher] [--ansatz rs|1rsb] [--out FILE]
"""
import argparse
import pathlib

import symbolic_rg as srg

HERE = pathlib.Path(__file__).parent


def main(depth=3, scenario="teacher", out=None, ansatz="rs"):
    theory = srg.derive(srg.deep_perceptron(depth=depth, scenario=scenario, ansatz=ansatz))
    out = out or HERE / ("deep_perceptron_L%d_%s%s.tex" % (depth, scenario, "" if ansatz == "rs" else "_" + ansatz))
    pathlib.Path(out).write_text(theory.latex(document=True))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--scenario", choices=["random", "teacher"], help="default: teacher (rs), random (1rsb)")
    parser.add_argument("--ansatz", default="rs", choices=["rs", "1rsb"])
    parser.add_argument("--out")
    args = parser.parse_args()
    scenario = args.scenario or ("teacher" if args.ansatz == "rs" else "random")
    print("wrote", main(args.depth, scenario, args.out, args.ansatz))
