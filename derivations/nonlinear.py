"""Derive the saddle-point theory of a one-hidden-layer network of any activation and write it as LaTeX.

The hidden layer integrates like a linear one, with the Gaussian-process map of its activation applied to the input
kernel (Gaussian equivalence of the hidden units' projections, Pacelli et al. 2023): the equations are those of the
deep linear network with K_0 = Phi(sigma_1^2 X X^T/N_0).  A positively homogeneous activation (relu) works at any
depth.

    python derivations/nonlinear.py [--activation erf] [--depth 1] [--out derivations/nonlinear_erf.tex]
"""
import argparse
import pathlib

import symbolic_rg as srg

HERE = pathlib.Path(__file__).parent


def main(activation="erf", depth=1, out=None):
    theory = srg.derive(srg.deep_nonlinear(depth, activation))
    out = out or HERE / ("nonlinear_%s.tex" % activation)
    pathlib.Path(out).write_text(theory.latex(document=True))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activation", default="erf")
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--out")
    args = parser.parse_args()
    print("wrote", main(args.activation, args.depth, args.out))
