"""Command line: ``symbolic-rg derive | solve | demo``."""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

from . import data as _data
from .errors import ConvergenceError, NoSolutionError, ParameterError
from .layers import deep_linear
from .theory import derive

ARCHITECTURES = {"deep-linear": deep_linear}


def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%s must be a positive integer, got %r" % (name, text)) from None
        if value < 1:
            raise argparse.ArgumentTypeError("%s must be a positive integer, got %r" % (name, text))
        return value
    return parse


def _float_list(name):
    def parse(text):
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError("%s must be a number or comma-separated numbers, got %r" % (name, text)) from None
        return values
    return parse


def _number(name):
    def parse(text):
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%s must be a number, got %r" % (name, text)) from None
    return parse


def _widths(text):
    values = _float_list("--widths")(text)
    if any(v != int(v) or v < 1 for v in values):
        raise argparse.ArgumentTypeError("--widths must be positive integers N1,N2,..., got %r" % text)
    return [int(v) for v in values]


def _network(args):
    if args.widths is not None:
        if args.depth is not None and args.depth != len(args.widths):
            raise ParameterError("--depth %d does not match the %d entries of --widths" % (args.depth, len(args.widths)))
        return ARCHITECTURES[args.architecture](len(args.widths)), {"widths": args.widths}
    if args.depth is None or args.width is None:
        raise ParameterError("give --depth L --width N, or --widths N1,N2,...")
    return ARCHITECTURES[args.architecture](args.depth), {"width": args.width}


def load_data(spec, P=None, seed=0):
    """digits | teacher | FILE.npz -> Dataset."""
    if spec == "digits":
        return _data.digits(P=P or 200, seed=seed)
    if spec == "teacher":
        return _data.teacher(P=P or 200, seed=seed)
    path = pathlib.Path(spec)
    if path.suffix != ".npz" or not path.exists():
        raise ParameterError("--data must be digits, teacher or an existing FILE.npz, got %r" % spec)
    if P is not None:
        raise ParameterError("--P applies to the built-in data sets; FILE.npz is used exactly as given")
    return _data.load_npz(path)


def cmd_derive(args):
    theory = derive(ARCHITECTURES[args.architecture](args.depth))
    if args.latex:
        pathlib.Path(args.latex).write_text(theory.latex(document=True))
        print("wrote %s" % args.latex)
    else:
        for name, eq in theory.latex_equations():
            print("%s:\n  %s\n" % (name, eq))


def cmd_solve(args):
    network, widths = _network(args)
    d = load_data(args.data, args.P, args.seed)
    if args.exact and args.one_loop:
        raise ParameterError("--exact and --one-loop exclude each other (the exact result needs no correction)")
    method = "exact" if args.exact else "one-loop" if args.one_loop else "saddle"
    solver = derive(network).compile(method="exact" if args.exact else "saddle")
    sigma2 = args.sigma2[0] if len(args.sigma2) == 1 else args.sigma2
    sol = solver.solve(d.X_train, d.y_train, sigma2=sigma2, T=args.T, **widths)
    out = sol.as_dict(d.X_test, d.y_test, one_loop=True) if args.one_loop else sol.as_dict(d.X_test, d.y_test)
    out["P"] = int(d.X_train.shape[0])
    out["method"] = method
    if not args.exact:
        out["layer_kernel_traces"] = [float(np.trace(K)) / d.X_train.shape[0] for K in sol.layer_kernels()]
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print("%-22s %s" % (k, v))


def cmd_simulate(args):
    from .simulate import gibbs_deep_linear, mala_deep_linear
    network, widths = _network(args)
    d = load_data(args.data, args.P, args.seed)
    w = widths.get("widths") or [widths["width"]] * network.depth
    sigma2 = args.sigma2[0] if len(args.sigma2) == 1 else args.sigma2
    sampler = {"gibbs": gibbs_deep_linear, "mala": mala_deep_linear}[args.sampler]
    s = sampler(d.X_train, d.y_train, d.X_test, w, sigma2=sigma2, T=args.T, samples=args.samples,
                burn_in=args.burn_in, seed=args.seed)
    ge, se = s.generalization_error(d.y_test)
    out = {"generalization_error": ge.total, "generalization_error_stderr": se.total,
           "bias": ge.bias, "bias_stderr": se.bias, "variance": ge.variance, "variance_stderr": se.variance,
           "layer_kernel_traces": [float(np.trace(K)) / d.X_train.shape[0] for K in s.layer_kernels],
           "widths": w, "T": args.T, "P": int(d.X_train.shape[0]),
           "diagnostics": {k: (float(v) if isinstance(v, (np.floating, np.integer)) else v)
                           for k, v in s.diagnostics.items()}}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print("%-28s %s" % (k, v))


def cmd_demo(args):
    from .demo import run
    run(out=args.out, quick=args.quick)


def _network_and_data_arguments(p):
    """Arguments shared by ``solve`` and ``simulate``: architecture, widths, priors, T, data, seed, --json."""
    p.add_argument("architecture", choices=sorted(ARCHITECTURES))
    p.add_argument("--depth", type=_positive_int("--depth"))
    p.add_argument("--width", type=_positive_int("--width"))
    p.add_argument("--widths", type=_widths)
    p.add_argument("--sigma2", type=_float_list("--sigma2"), default=[1.0])
    p.add_argument("--T", type=_number("--T"), required=True)
    p.add_argument("--data", required=True, help="digits | teacher | FILE.npz (X_train, y_train, X_test, y_test)")
    p.add_argument("--P", type=_positive_int("--P"), help="training-set size of a built-in data set")
    p.add_argument("--seed", type=int, default=0, help="seed of the data split and of the sampler")
    p.add_argument("--json", action="store_true")


def build_parser():
    parser = argparse.ArgumentParser(prog="symbolic-rg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("derive", help="derive and print (or write as LaTeX) the saddle-point theory")
    p.add_argument("architecture", choices=sorted(ARCHITECTURES))
    p.add_argument("--depth", type=_positive_int("--depth"), required=True)
    p.add_argument("--latex", metavar="FILE")
    p.set_defaults(func=cmd_derive)

    p = sub.add_parser("solve", help="solve the saddle point on data and report observables")
    _network_and_data_arguments(p)
    p.add_argument("--exact", action="store_true", help="exact finite-width posterior instead of the saddle point")
    p.add_argument("--one-loop", action="store_true", help="saddle point plus its 1/N (Gaussian-fluctuation) correction")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("simulate", help="sample the real finite network's weight posterior")
    _network_and_data_arguments(p)
    p.add_argument("--samples", type=int, default=2000, help="kept samples (sweeps for Gibbs)")
    p.add_argument("--burn-in", type=int, default=500)
    p.add_argument("--sampler", choices=["gibbs", "mala"], default="gibbs")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("demo", help="the main job on built-in defaults: derive, solve on digits, plot")
    p.add_argument("--out", default="generalization_vs_width.png")
    p.add_argument("--quick", action="store_true", help="fewer widths (for smoke tests)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ParameterError, NoSolutionError, ConvergenceError, ImportError) as exc:
        print("symbolic-rg: error: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
