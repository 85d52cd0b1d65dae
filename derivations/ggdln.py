"""Derive the saddle-point theory of a globally gated deep linear network and write it as LaTeX.

Matrix order parameters V_l, indexed by products of the gates of the layers above (what the layer-by-layer
integration produces), the renormalised kernel K = (G_0 A_0 G_0^T) o K_0, the matrix saddle-point equations
and the GP limit.  Copy this script for a new gated architecture (mix srg.Linear layers in, share gates, ...).

    python derivations/ggdln.py [--depth 2] [--gated-readout | --linear-readout] [--out derivations/ggdln.tex]
"""
import argparse
import pathlib

import symbolic_rg as srg

HERE = pathlib.Path(__file__).parent


def main(depth=2, gated_readout=True, out=HERE / "ggdln.tex"):
    theory = srg.derive(srg.ggdln(depth, gated_readout=gated_readout))
    pathlib.Path(out).write_text(theory.latex(document=True))
    return theory


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--linear-readout", dest="gated_readout", action="store_false")
    parser.add_argument("--gated-readout", dest="gated_readout", action="store_true")
    parser.set_defaults(gated_readout=True)
    parser.add_argument("--out", default=str(HERE / "ggdln.tex"))
    args = parser.parse_args()
    main(args.depth, args.gated_readout, args.out)
    print("wrote", args.out)
