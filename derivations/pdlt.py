"""Derive the PDLT recursions of an activation (kernel, NTK, susceptibilities, four-point vertex, 1/width kernel
correction, the finite-width NTK statistics (mean correction, variance, NTK- and dNTK-preactivation
correlations), two-input averages, the stationarity conditions of the flow with the critical point that solves them,
and depth scaling) and write them as LaTeX (every equation is a row of ``PDLTTheory.latex_equations()``).

Closed forms appear where SymPy finds them (ReLU: the arc-cosine kernel; erf: Price's theorem); other
activations keep the Gaussian integrals.  Copy this script, or pass --activation, for a new nonlinearity.

    python derivations/pdlt.py [--activation tanh] [--out derivations/pdlt_tanh.tex]
"""
import argparse
import pathlib

import symbolic_rg as srg

HERE = pathlib.Path(__file__).parent


def main(activation="tanh", out=None):
    theory = srg.PDLTTheory(activation)
    out = out or HERE / ("pdlt_%s.tex" % activation)
    pathlib.Path(out).write_text(theory.latex(document=True))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--out")
    args = parser.parse_args()
    print("wrote", main(args.activation, args.out))
