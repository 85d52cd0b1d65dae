"""Derive the replica-symmetric theory of a deep network of sign perceptrons (Yoshino 2020) and write it as LaTeX:
free entropy per weight (weight entropies, hidden-layer spin terms, output term), the saddle-point equations of
every layer, in the random scenario the replicon block (stability of replica symmetry) and in the teacher scenario
the generalization error.  Copy this script for a new replicated model
(a new layer rule in symbolic_rg/replica/rules.py composes with the others).

    python derivations/deep_perceptron.py [--depth 3] [--scenario random|teacher] [--out FILE]
"""
import argparse
import pathlib

import symbolic_rg as srg

HERE = pathlib.Path(__file__).parent


def main(depth=3, scenario="teacher", out=None):
    theory = srg.derive(srg.deep_perceptron(depth=depth, scenario=scenario))
    out = out or HERE / ("deep_perceptron_L%d_%s.tex" % (depth, scenario))
    pathlib.Path(out).write_text(theory.latex(document=True))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--scenario", default="teacher", choices=["random", "teacher"])
    parser.add_argument("--out")
    args = parser.parse_args()
    print("wrote", main(args.depth, args.scenario, args.out))
