"""Derive the saddle-point theory of a convolutional network and write it as LaTeX.

The filters integrate like a gated layer whose index is the filter position: the order parameter is a matrix over
pairs of positions and the renormalised kernel sum_ij (A_0)_ij K_ij mixes the position-pair kernels K_ij (local kernel
renormalization, Aiudi et al. 2025).  Default: 8 x 8 images, 4 x 4 filters, stride 2 (9 positions), linear.

    python derivations/cnn.py [--shape 8,8] [--filter 4] [--stride 2] [--depth 1] [--activation linear] [--pool]
                              [--out derivations/cnn.tex]
"""
import argparse
import pathlib

import symbolic_rg as srg

HERE = pathlib.Path(__file__).parent


def main(shape=(8, 8), filter=4, stride=2, depth=1, activation="linear", pooled=False, out=None):
    theory = srg.derive(srg.cnn(shape, filter, stride, depth, activation, pooled))
    out = out or HERE / "cnn.tex"
    pathlib.Path(out).write_text(theory.latex(document=True))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", default="8,8")
    parser.add_argument("--filter", type=int, default=4)
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--activation", default="linear")
    parser.add_argument("--pool", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    print("wrote", main(shape, args.filter, args.stride, args.depth, args.activation, args.pool, args.out))
