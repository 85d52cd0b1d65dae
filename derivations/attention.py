"""Derive the saddle-point theory of a deep multi-head attention network and write it as LaTeX.

Each attention layer integrates as a gated layer whose gates are its heads, so the token projection's order
parameter is a matrix over pairs of attention paths and the renormalised kernel sum_{pi pi'} (A_0)_{pi pi'} C_{pi pi'}
mixes the path-pair kernels (Tiberi, Mignacco, Irie & Sompolinsky 2024).  Default: 8 tokens of 8 features (the rows
of a digit), two attention layers of two heads, readout of the mean over tokens.

    python derivations/attention.py [--tokens 8] [--features 8] [--depth 2] [--heads 2] [--readout mean]
                                    [--out derivations/attention.tex]
"""
import argparse
import pathlib

import symbolic_rg as srg

HERE = pathlib.Path(__file__).parent


def main(tokens=8, features=8, depth=2, heads=2, readout="mean", out=None):
    theory = srg.derive(srg.attention_network(tokens, features, depth, heads, readout))
    out = out or HERE / "attention.tex"
    pathlib.Path(out).write_text(theory.latex(document=True))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--readout", default="mean")
    parser.add_argument("--out")
    a = parser.parse_args()
    print("wrote", main(a.tokens, a.features, a.depth, a.heads, a.readout, a.out))
