"""Derive the Sherrington-Kirkpatrick model under k-step replica-symmetry breaking and write it as LaTeX: the free
entropy from the replicated partition function (pair terms with their conjugates eliminated, the spin trace
decoupled level by level under the Parisi ansatz, the n -> 0 limit), the saddle-point equations in every overlap
q_j and breakpoint m_j, the energy, and the zero-temperature limit.  Copy this script for a new replicated model
(a new ansatz in symbolic_rg/replica/parisi.py composes with the same rules).

    python derivations/sk.py [--ansatz rs|1rsb|2rsb] [--out FILE]
"""
import argparse
import pathlib

from symbolic_rg.replica.sk import ANSATZE, sk

HERE = pathlib.Path(__file__).parent


def main(ansatz="1rsb", out=None):
    out = out or HERE / ("sk_%s.tex" % ansatz)
    pathlib.Path(out).write_text(sk(ANSATZE[ansatz]).latex(document=True))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ansatz", default="1rsb", choices=sorted(ANSATZE))
    parser.add_argument("--out")
    args = parser.parse_args()
    print("wrote", main(args.ansatz, args.out))
