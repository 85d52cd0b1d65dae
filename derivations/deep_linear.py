"""Derive the saddle-point theory of a deep linear network and write it as LaTeX.

Copy this script for a new architecture: build the network from layer kinds, derive, export.

    python derivations/deep_linear.py [--depth 3] [--out derivations/deep_linear.tex]
"""
import argparse
import pathlib

import symbolic_rg as srg

HERE = pathlib.Path(__file__).parent


def main(depth=3, out=HERE / "deep_linear.tex"):
    theory = srg.derive(srg.deep_linear(depth=depth))
    pathlib.Path(out).write_text(theory.latex(document=True))
    return theory


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "deep_linear.tex"))
    args = parser.parse_args()
    main(args.depth, args.out)
    print("wrote", args.out)
