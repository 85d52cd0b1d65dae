"""Command line: ``symbolic-rg derive | solve | sweep | simulate | criticality | kernel | train | posterior | ntk |
demo`` (architectures deep-linear, ggdln, relu, nonlinear --activation NAME, cnn --filter F, attention --heads H;
``derive pdlt`` for the PDLT recursions of an activation; ``posterior`` and ``ntk`` for its finite-width Bayesian
posterior and NTK statistics; ``derive | solve | sweep deep-perceptron`` for the replica theory of deep
sign-perceptron networks; ``derive | solve | sweep sk --ansatz rs|1rsb|2rsb`` for the Sherrington-Kirkpatrick model
with replica-symmetry breaking).  ``sweep``
runs on local processes (``--workers N``) or a running Dask scheduler (``--scheduler ADDRESS``); progress bars go to
stderr, on a terminal only, never with ``--quiet`` or ``--json``."""
from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import sys

import numpy as np

from . import data as _data
from . import parallel
from .activations import criticality
from .demo import run as run_demo
from .derive import derive
from .errors import ConvergenceError, NoSolutionError, ParameterError, SweepError
from .gated import FixedGates
from .layers import attention_network, cnn, deep_linear, deep_nonlinear, ggdln
from .pdlt import PDLTTheory, bayesian_posterior, finite_width_ntk, norm_vertex, trained_output
from .replica import SCENARIOS, deep_perceptron
from .replica.rules import ANSATZE as REPLICA_ANSATZE
from .replica.sk import ANSATZE, sk
from .simulate import (gibbs_attention, gibbs_conv, gibbs_deep_linear, gibbs_gated, mala_deep_linear, mala_network,
                       ntk_statistics, sample_ntk)

ARCHITECTURES = {"deep-linear": deep_linear, "ggdln": ggdln, "relu": lambda depth: deep_nonlinear(depth, "relu"),
                 "nonlinear": deep_nonlinear}
NONLINEAR = ("relu", "nonlinear")      # the saddle point only (no --exact, --one-loop), sampled with MALA


def _architecture(args):
    """``depth -> Network`` of a plain architecture (``nonlinear`` with its --activation)."""
    if args.architecture == "nonlinear":
        if args.activation is None:
            raise ParameterError("nonlinear needs --activation NAME (erf, tanh, gelu, relu, ... or a SymPy expression "
                                 "in z)")
        return lambda depth: deep_nonlinear(depth, args.activation)
    if args.activation is not None:
        raise ParameterError("--activation applies to nonlinear, cnn (and derive pdlt) only, not to %s"
                             % args.architecture)
    return ARCHITECTURES[args.architecture]


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


def _positive_int_list(name):
    def parse(text):
        values = _float_list(name)(text)
        if any(v != int(v) or v < 1 for v in values):
            raise argparse.ArgumentTypeError("%s must be a positive integer or comma-separated positive integers, "
                                             "got %r" % (name, text))
        return [int(v) for v in values]
    return parse


def _widths(text):
    values = _float_list("--widths")(text)
    if any(v != int(v) or v < 1 for v in values):
        raise argparse.ArgumentTypeError("--widths must be positive integers N1,N2,..., got %r" % text)
    return [int(v) for v in values]


def _gated_network(args, depth, outputs=1):
    """The GGDLN of the --gates/--gated-readout/--shared-gates options (gate count symbolic without --gates)."""
    return ggdln(depth, gates=args.gates, gated_readout=args.gated_readout, shared_gates=args.shared_gates,
                 outputs=outputs)


def _conv_network(args, d, depth=None):
    """The convolutional network of --filter/--stride/--input-shape/--pool/--activation/--depth on data ``d`` (its
    input shape: --input-shape, else 8 x 8 for digits, else 1-D)."""
    if args.filter is None:
        raise ParameterError("cnn needs --filter F (or F1,F2 for images)")
    if getattr(args, "widths", None) is not None:
        raise ParameterError("cnn takes --width N (channels of the convolution; the linear layers above it too)")
    shape = args.input_shape or ((8, 8) if args.data == "digits" else (d.X_train.shape[1],))
    one = lambda v: v[0] if len(v) == 1 else v
    return cnn(shape, one(args.filter), one(args.stride), depth or args.depth or 1, args.activation or "linear",
               args.pool)


def _reject_local_options(args):
    if args.architecture != "cnn" and (args.filter is not None or args.input_shape is not None or args.pool
                                       or args.stride != [1]):
        raise ParameterError("--filter, --stride, --input-shape and --pool apply to cnn only")
    if args.architecture != "attention" and (args.heads is not None or args.tokens is not None
                                             or args.readout != "mean" or args.features is not None
                                             or args.attention_seed != 0):
        raise ParameterError("--heads, --tokens, --features, --readout and --attention-seed apply to attention only")


def _attention_network(args, d, depth=None):
    """The attention network of --heads/--tokens/--readout/--depth on data ``d`` (digits: its 8 pixel rows are the
    tokens; other data: --tokens T, features = columns / T)."""
    depth = depth or args.depth or 1
    if getattr(args, "widths", None) is not None:
        raise ParameterError("attention takes --width N (every layer)")
    T = args.tokens or (8 if args.data == "digits" else None)
    if T is None:
        raise ParameterError("attention needs --tokens T (the inputs are T tokens of columns/T features)")
    if args.activation not in (None, "linear"):
        raise ParameterError("attention networks are linear in their value weights; --activation does not apply")
    features = args.features if d is None else d.X_train.shape[1] // T
    if d is not None and T * features != d.X_train.shape[1]:
        raise ParameterError("--tokens %d does not divide the %d input columns" % (T, d.X_train.shape[1]))
    if d is not None and args.features not in (None, features):
        raise ParameterError("--features %d does not match the data: %d columns / %d tokens = %d"
                             % (args.features, d.X_train.shape[1], T, features))
    heads = args.heads or [2]
    return attention_network(T, features, depth, heads[0] if len(heads) == 1 else heads, args.readout)


def _reject_gate_options(args):
    if args.gates is not None or args.gated_readout or args.shared_gates:
        raise ParameterError("--gates, --gated-readout and --shared-gates apply to ggdln only")


def _outputs(dataset):
    """Number of outputs of a data set (columns of y_train)."""
    return 1 if np.ndim(dataset.y_train) == 1 else np.shape(dataset.y_train)[1]


def _sigma2(args):
    """--sigma2: one variance for all layers, or one per layer."""
    return args.sigma2[0] if len(args.sigma2) == 1 else args.sigma2


def _network(args, outputs=1):
    if args.architecture == "ggdln":
        if args.gates is None:
            raise ParameterError("ggdln needs --gates M (gates per layer)")
        if args.widths is None and (args.depth is None or args.width is None):
            raise ParameterError("give --depth L --width N, or --widths N1,N2,...")
        depth = len(args.widths) if args.widths is not None else args.depth
        if args.depth is not None and args.depth != depth:
            raise ParameterError("--depth %d does not match the %d entries of --widths" % (args.depth, depth))
        widths = args.widths if args.widths is not None else [args.width] * depth
        return _gated_network(args, depth, outputs), {"widths": widths}
    _reject_gate_options(args)
    if args.widths is not None:
        if args.depth is not None and args.depth != len(args.widths):
            raise ParameterError("--depth %d does not match the %d entries of --widths" % (args.depth, len(args.widths)))
        return _architecture(args)(len(args.widths)), {"widths": args.widths}
    if args.depth is None or args.width is None:
        raise ParameterError("give --depth L --width N, or --widths N1,N2,...")
    return _architecture(args)(args.depth), {"width": args.width}


def load_data(spec, P=None, seed=0, images=False):
    """digits | teacher | FILE.npz -> Dataset (``images``: digits as 8 x 8 images, all 64 pixels)."""
    if spec == "digits":
        return _data.digits(P=P or 200, seed=seed, images=images)
    if spec == "teacher":
        return _data.teacher(P=P or 200, seed=seed)
    path = pathlib.Path(spec)
    if path.suffix != ".npz" or not path.exists():
        raise ParameterError("--data must be digits, teacher or an existing FILE.npz, got %r" % spec)
    if P is not None:
        raise ParameterError("--P applies to the built-in data sets; FILE.npz is used exactly as given")
    return _data.load_npz(path)


def _replica_theory(args):
    if args.depth is None:
        raise ParameterError("deep-perceptron needs --depth L (L >= 1)")
    if args.ansatz not in REPLICA_ANSATZE:
        raise ParameterError("deep-perceptron takes --ansatz %s, got %r" % ("|".join(REPLICA_ANSATZE), args.ansatz))
    return derive(deep_perceptron(args.depth, args.scenario, args.ansatz))


def _sk_theory(args):
    if args.depth is not None or args.scenario != "random":
        raise ParameterError("--depth and --scenario apply to deep-perceptron only, not sk")
    return sk(ANSATZE[args.ansatz])


def _reject_ansatz(args):
    if args.architecture not in ("deep-perceptron", "sk") and args.ansatz != "rs":
        raise ParameterError("--ansatz applies to sk and deep-perceptron (replica-symmetry breaking of %s is not "
                             "implemented)" % args.architecture)


def cmd_derive(args):
    _reject_ansatz(args)
    _reject_local_options(args)
    if args.architecture == "deep-perceptron":
        theory = _replica_theory(args)
    elif args.architecture == "sk":
        theory = _sk_theory(args)
    elif args.scenario != "random":
        raise ParameterError("--scenario applies to deep-perceptron only")
    elif args.architecture == "pdlt":
        if args.activation is None:
            raise ParameterError("derive pdlt needs --activation NAME")
        theory = PDLTTheory(args.activation)
    elif args.architecture == "cnn":
        if args.input_shape is None:
            raise ParameterError("derive cnn needs --input-shape N0 (or H,W) and --filter F")
        theory = derive(_conv_network(args, None))
    elif args.architecture == "attention":
        if args.tokens is None or args.features is None:
            raise ParameterError("derive attention needs --tokens T and --features N0")
        theory = derive(_attention_network(args, None))
    elif args.activation is not None and args.architecture != "nonlinear":
        raise ParameterError("--activation applies to derive pdlt, nonlinear and cnn only")
    elif args.depth is None:
        raise ParameterError("derive %s needs --depth L" % args.architecture)
    elif args.architecture == "ggdln":
        theory = derive(_gated_network(args, args.depth))
    else:
        _reject_gate_options(args)
        theory = derive(_architecture(args)(args.depth))
    if args.latex:
        pathlib.Path(args.latex).write_text(theory.latex(document=True))
        print("wrote %s" % args.latex)
    else:
        for name, eq in theory.latex_equations():
            print("%s:\n  %s = %s\n" % (name, eq.lhs, eq.rhs))


def _gate_arrays(spec):
    """``gates_train``/``gates_test`` arrays of shape (gate sets, P, M) from a data file, or None."""
    path = pathlib.Path(spec)
    if path.suffix != ".npz":
        return None
    with np.load(path) as f:
        if "gates_train" not in f and "gates_test" not in f:
            return None
        if "gates_train" not in f or "gates_test" not in f:
            raise ParameterError("data file %s must carry both gates_train and gates_test, or neither" % path)
        train, test = np.asarray(f["gates_train"], float), np.asarray(f["gates_test"], float)
    if train.ndim != 3 or test.ndim != 3:
        raise ParameterError("gates_train and gates_test must have shape (gate sets, P, M), got %s and %s"
                             % (train.shape, test.shape))
    return train, test


def _gated_solve(args, d):
    network, widths = _network(args, _outputs(d))
    if args.exact or args.one_loop:
        raise ParameterError("--exact and --one-loop are available for deep-linear only")
    theory = derive(network)
    arrays = _gate_arrays(args.data)
    gates, gates_test = args.gates, None
    if arrays is not None:
        n_sets = len(theory.gate_order)
        for name, arr, n in (("gates_train", arrays[0], d.X_train.shape[0]), ("gates_test", arrays[1], d.X_test.shape[0])):
            if arr.shape[0] != n_sets or arr.shape[1] != n or arr.shape[2] != args.gates:
                raise ParameterError("%s must have shape (%d, %d, %d) (gate sets, points, --gates), got %s"
                                     % (name, n_sets, n, args.gates, arr.shape))
        gates = [FixedGates(a) for a in arrays[0]]
        gates_test = [FixedGates(a) for a in arrays[1]]
    sol = theory.compile().solve(d.X_train, d.y_train, widths["widths"], sigma2=_sigma2(args), T=args.T, gates=gates,
                                 gate_seed=args.gate_seed)
    out = sol.as_dict(d.X_test, d.y_test, gates_test)
    if theory.outputs == 1:
        out["layer_kernel_traces"] = [float(np.trace(K)) / d.X_train.shape[0] for K in sol.layer_kernels()]
    out.update(P=int(d.X_train.shape[0]), method="saddle", gates=args.gates,
               gate_source="data file" if arrays is not None else "half-space, seed %d" % args.gate_seed)
    return out


def _local_solve(args):
    """solve cnn | attention."""
    if args.exact or args.one_loop or args.gates is not None or args.gated_readout or args.shared_gates:
        raise ParameterError("--exact, --one-loop and the gate options do not apply to %s" % args.architecture)
    if args.width is None:
        raise ParameterError("%s needs --width N" % args.architecture)
    d = load_data(args.data, args.P, args.seed, images=True)
    if args.architecture == "cnn":
        network = _conv_network(args, d)
        sol = derive(network).compile().solve(d.X_train, d.y_train, args.width, sigma2=_sigma2(args), T=args.T)
        extra = dict(activation=network.layers[0].activation, pooled=network.layers[0].pooled)
    else:
        network = _attention_network(args, d)
        sol = derive(network).compile().solve(d.X_train, d.y_train, [args.width] * network.depth,
                                              sigma2=_sigma2(args), T=args.T, attention_seed=args.attention_seed)
        extra = dict(heads=list(sol.solver.theory.heads), readout=args.readout, attention_seed=args.attention_seed)
    out = sol.as_dict(d.X_test, d.y_test)
    out.update(P=int(d.X_train.shape[0]), method="saddle", **extra)
    return out


def _print(out, json_output, width=22):
    if json_output:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print("%-*s %s" % (width, k, v))


def _solve_replica(args):
    if args.alpha is None:
        raise ParameterError("deep-perceptron needs --alpha A (A > 0)")
    solver = _replica_theory(args).compile()
    sol = solver.solve(args.alpha, args.kappa)
    out = sol.as_dict()
    out.update(depth=args.depth, scenario=args.scenario, ansatz=args.ansatz)
    _print(out, args.json)


def _solve_sk(args):
    if args.T is None or args.T < 0:
        raise ParameterError("sk needs --temperature T (T >= 0; T_c = 1), got %r" % (args.T,))
    unused = {"--alpha": args.alpha is not None, "--kappa": args.kappa != 0.0, "--data": args.data is not None,
              "--width": args.width is not None, "--widths": args.widths is not None, "--sigma2": args.sigma2 != [1.0],
              "--P": args.P is not None, "--exact": args.exact, "--one-loop": args.one_loop,
              "--gates": args.gates is not None, "--gated-readout": args.gated_readout,
              "--shared-gates": args.shared_gates}
    if any(unused.values()):
        raise ParameterError("%s do(es) not apply to sk" % ", ".join(k for k, v in unused.items() if v))
    solver = _sk_theory(args).compile()
    out = solver.ground_state().as_dict() if args.T == 0 else solver.solve(args.T).as_dict()
    _print(out, args.json)


def _require_T_and_data(args):
    if args.T is None or args.data is None:
        raise ParameterError("%s needs --T (>= 0) and --data" % args.architecture)
    if args.alpha is not None or args.kappa != 0.0 or args.scenario != "random":
        raise ParameterError("--alpha, --kappa and --scenario apply to deep-perceptron only")


def cmd_solve(args):
    _reject_ansatz(args)
    if args.architecture == "deep-perceptron":
        _solve_replica(args)
        return
    if args.architecture == "sk":
        _solve_sk(args)
        return
    _require_T_and_data(args)
    _reject_local_options(args)
    if args.architecture == "ggdln":
        _print(_gated_solve(args, load_data(args.data, args.P, args.seed)), args.json)
        return
    if args.architecture in ("cnn", "attention"):
        _print(_local_solve(args), args.json)
        return
    network, widths = _network(args)
    d = load_data(args.data, args.P, args.seed)
    if args.exact and args.one_loop:
        raise ParameterError("--exact and --one-loop exclude each other (the exact result needs no correction)")
    if args.architecture in NONLINEAR and (args.exact or args.one_loop):
        raise ParameterError("--exact and --one-loop are available for deep-linear only (%s is the kernel "
                             "renormalization's saddle point)" % args.architecture)
    method = "exact" if args.exact else "one-loop" if args.one_loop else "saddle"
    solver = derive(network).compile(method="exact" if args.exact else "saddle")
    sol = solver.solve(d.X_train, d.y_train, sigma2=_sigma2(args), T=args.T, **widths)
    out = sol.as_dict(d.X_test, d.y_test, one_loop=True) if args.one_loop else sol.as_dict(d.X_test, d.y_test)
    out["P"] = int(d.X_train.shape[0])
    out["method"] = method
    if not args.exact:
        out["layer_kernel_traces"] = [float(np.trace(K)) / d.X_train.shape[0] for K in sol.layer_kernels()]
    _print(out, args.json)


def _gated_simulate(args, d, sigma2):
    """Blocked Gibbs sampling of the GGDLN with the solver's gates (same --gate-seed)."""
    if args.sampler != "gibbs":
        raise ParameterError("ggdln is sampled with --sampler gibbs (exact Gaussian conditionals)")
    if _gate_arrays(args.data) is not None:
        raise ParameterError("simulate ggdln uses the built-in half-space gates; gate arrays in the data file "
                             "are for solve")
    network, widths = _network(args, _outputs(d))
    theory = derive(network)
    funcs = dict(zip(theory.gate_order, theory.compile().gate_functions(args.gates, args.gate_seed)))
    per_layer = [funcs.get(getattr(layer, "gates", None)) for layer in network.layers]
    readout = funcs.get(getattr(network.readout, "gates", None))
    at = lambda f, X: None if f is None else f(X)
    return gibbs_gated(d.X_train, d.y_train, d.X_test, widths["widths"], [at(f, d.X_train) for f in per_layer],
                       [at(f, d.X_test) for f in per_layer], at(readout, d.X_train), at(readout, d.X_test),
                       sigma2=sigma2, T=args.T, samples=args.samples, burn_in=args.burn_in, seed=args.seed), \
        widths["widths"]


def cmd_simulate(args):
    if args.architecture == "deep-perceptron":
        raise ParameterError("simulate deep-perceptron: run numeric/deep_perceptron_mc.py (posterior sampling of "
                             "sparse sign networks)")
    _require_T_and_data(args)
    _reject_local_options(args)
    d = load_data(args.data, args.P, args.seed, images=args.architecture in ("cnn", "attention"))
    sigma2 = _sigma2(args)
    if args.architecture in ("cnn", "attention") and (args.gates is not None or args.gated_readout
                                                      or args.shared_gates):
        raise ParameterError("the gate options do not apply to %s" % args.architecture)
    if args.architecture == "ggdln":
        s, w = _gated_simulate(args, d, sigma2)
    elif args.architecture == "cnn":
        network = _conv_network(args, d)
        if network.depth != 1 or not network.layers[0].linear or args.sampler != "gibbs":
            raise ParameterError("simulate cnn samples the linear convolution with one layer (--depth 1, no "
                                 "--activation) by --sampler gibbs")
        if args.width is None:
            raise ParameterError("cnn needs --width N (channels)")
        w = [args.width]
        s = gibbs_conv(d.X_train, d.y_train, d.X_test, network.layers[0].patches, args.width, sigma2, args.T,
                       network.layers[0].pooled, samples=args.samples, burn_in=args.burn_in, seed=args.seed)
    elif args.architecture == "attention":
        if args.width is None or args.sampler != "gibbs":
            raise ParameterError("simulate attention needs --width N and samples by --sampler gibbs")
        network = _attention_network(args, d)
        solver = derive(network).compile()
        w = [args.width] * network.depth
        s = gibbs_attention(d.X_train, d.y_train, d.X_test, network.layers[0].tokens,
                            solver.attention_maps(None, args.attention_seed), w, sigma2, args.T,
                            samples=args.samples, burn_in=args.burn_in, seed=args.seed)
    else:
        network, widths = _network(args)
        w = widths.get("widths") or [widths["width"]] * network.depth
        if args.architecture in NONLINEAR:
            if args.sampler != "mala":
                raise ParameterError("%s networks are sampled with --sampler mala (no Gaussian conditionals)"
                                     % args.architecture)
            sampler = lambda *a, **k: mala_network(*a, activation=network.layers[0].activation, **k)
        else:
            sampler = {"gibbs": gibbs_deep_linear, "mala": mala_deep_linear}[args.sampler]
        s = sampler(d.X_train, d.y_train, d.X_test, w, sigma2=sigma2, T=args.T, samples=args.samples,
                    burn_in=args.burn_in, seed=args.seed)
    ge, se = s.generalization_error(np.ravel(d.y_test))
    out = {"generalization_error": ge.total, "generalization_error_stderr": se.total,
           "bias": ge.bias, "bias_stderr": se.bias, "variance": ge.variance, "variance_stderr": se.variance,
           "layer_kernel_traces": [float(np.trace(K)) / d.X_train.shape[0] for K in s.layer_kernels],
           "widths": w, "T": args.T, "P": int(d.X_train.shape[0]),
           "diagnostics": {k: (float(v) if isinstance(v, (np.floating, np.integer)) else
                               v.tolist() if isinstance(v, np.ndarray) else v) for k, v in s.diagnostics.items()}}
    _print(out, args.json, 28)


def cmd_criticality(args):
    c = criticality(args.activation)
    out = {"activation": args.activation, "C_b": c.C_b, "C_W": c.C_W,
           "K_star": None if np.isnan(c.K_star) else c.K_star,        # None: every K is a fixed point
           "universality_class": c.universality_class, "chi_parallel": c.chi_parallel, "chi_perp": c.chi_perp}
    _print(out, args.json)


def cmd_kernel(args):
    X = load_data(args.data, args.P, args.seed).X_train
    solver = PDLTTheory(args.activation).compile()
    out = solver.solve(X, args.depth, C_W=args.C_W, C_b=args.C_b).as_dict()
    # the vertex V_(aa)(bb) of every pair of inputs per layer (per 1/n), which closes on itself
    out["vertex"] = norm_vertex(args.activation, X, args.depth, C_W=args.C_W, C_b=args.C_b,
                                averages=solver.averages).tolist()
    _print(out, args.json, 18)


def cmd_train(args):
    d = load_data(args.data, args.P, args.seed)
    y = np.ravel(d.y_train)
    if y.shape[0] != d.X_train.shape[0]:
        raise ParameterError("train needs one output per training point, got y_train of shape %s" % (d.y_train.shape,))
    time = np.inf if args.time is None else args.time
    out = trained_output(args.activation, d.X_train, y, d.X_test, args.depth, args.C_W, args.C_b,
                         lambda_b=args.lambda_b, lambda_W=args.lambda_W, time=time, learning_rate=args.learning_rate)
    y_test = np.ravel(d.y_test)
    bias, variance = float(np.mean((out.mean - y_test) ** 2)), float(np.mean(out.variance))
    _print({"activation": args.activation, "depth": args.depth, "C_W": args.C_W, "C_b": args.C_b,
            "lambda_b": args.lambda_b, "lambda_W": args.lambda_W, "time": "inf" if np.isinf(time) else time,
            "learning_rate": args.learning_rate, "steps": out.steps, "P": int(d.X_train.shape[0]),
            "test_error": bias + variance, "bias": bias, "variance": variance,
            "mean": out.mean.tolist(), "output_variance": out.variance.tolist()}, args.json, 16)


MAX_FINITE_INPUTS = 8     # posterior, ntk: every component of the m^4 tensors, 4-input integrals among them


def _few_points(args, default):
    """``--P``, or ``default`` for a built-in data set (whose own default, 200, is too many here)."""
    return default if args.P is None and args.data in ("digits", "teacher") else args.P


def _few_inputs(X, command, what):
    if X.shape[0] > MAX_FINITE_INPUTS:
        raise ParameterError("%s takes at most %d %s (the cost grows like their number to the fourth power), got %d: "
                             "use --P or a smaller FILE.npz" % (command, MAX_FINITE_INPUTS, what, X.shape[0]))


def cmd_posterior(args):
    d = load_data(args.data, _few_points(args, 4), args.seed)
    _few_inputs(d.X_train, "posterior", "training points")
    y, y_test = np.ravel(d.y_train), np.ravel(d.y_test)
    if y.shape[0] != d.X_train.shape[0] or y_test.shape[0] != d.X_test.shape[0]:
        raise ParameterError("posterior needs one output per training and test point, got y_train of shape %s and "
                             "y_test of shape %s" % (d.y_train.shape, d.y_test.shape))
    X_test = d.X_test[:args.test_points]
    post = bayesian_posterior(args.activation, d.X_train, y, X_test, args.depth, args.width, args.C_W, args.C_b,
                              args.T)
    out = {"activation": args.activation, "depth": args.depth, "width": args.width, "C_W": args.C_W, "C_b": args.C_b,
           "T": args.T, "P": int(d.X_train.shape[0]), "test_points": int(X_test.shape[0])}
    for suffix, mean, variance in (("", post.mean, post.variance), ("_gp", post.mean_gp, post.variance_gp)):
        bias = float(np.mean((mean - y_test[:X_test.shape[0]]) ** 2))
        out.update({"mean" + suffix: mean.tolist(), "variance" + suffix: variance.tolist(),
                    "generalization_error" + suffix: bias + float(np.mean(variance)), "bias" + suffix: bias})
    _print(out, args.json, 24)


NTK_TENSORS = {"A": "ntk_variance_A", "B": "ntk_variance_B", "D": "ntk_preactivation_D",
               "F": "ntk_preactivation_F", "P": "dntk_P", "Q": "dntk_Q"}


def cmd_ntk(args):
    X = load_data(args.data, _few_points(args, 3), args.seed).X_train
    _few_inputs(X, "ntk", "inputs")
    L, n = args.depth, args.width
    s = finite_width_ntk(args.activation, X, L, n, args.C_W, args.C_b, args.lambda_b, args.lambda_W,
                         dntk=not args.no_dntk)
    out = {"activation": args.activation, "depth": L, "width": n, "C_W": args.C_W, "C_b": args.C_b,
           "lambda_b": args.lambda_b, "lambda_W": args.lambda_W, "inputs": int(X.shape[0]),
           "kernel": s.kernel[-1].tolist(), "ntk": s.ntk[-1].tolist(), "ntk_correction": s.ntk_correction[-1].tolist(),
           "mean_ntk": s.mean_ntk(L).tolist()}
    tensors = {k: f for k, f in NTK_TENSORS.items() if getattr(s, f) is not None}
    out.update({k: getattr(s, f)[-1].tolist() for k, f in tensors.items()})
    if args.simulate:
        st = ntk_statistics(sample_ntk(args.activation, X, L, n, args.C_W, args.C_b, args.lambda_b, args.lambda_W,
                                       networks=args.simulate, dntk=not args.no_dntk, seed=args.seed))
        z = {k: float(np.max(np.abs(n * getattr(st, k) - out[k]) / (n * st.stderr[k]))) for k in tensors}
        z["mean_ntk"] = float(np.max(np.abs(st.mean_ntk - s.mean_ntk(L)) / st.stderr["mean_ntk"]))
        out["simulation"] = {"networks": args.simulate, "mean_ntk": st.mean_ntk.tolist(),
                             "mean_ntk_stderr": st.stderr["mean_ntk"].tolist(),
                             **{k: (n * getattr(st, k)).tolist() for k in tensors},
                             **{k + "_stderr": (n * st.stderr[k]).tolist() for k in tensors}, "max_abs_z": z}
    _print(out, args.json, 16)


def _swept(args):
    """The one option given several values (``sweep``): its name and values; every option becomes one number (the
    swept one its first value, for the checks of the other options)."""
    lists = {"--T": "T", "--alpha": "alpha", "--width": "width"}
    several = [k for k, dest in lists.items() if getattr(args, dest) is not None and len(getattr(args, dest)) > 1]
    if len(several) != 1:
        raise ParameterError("sweep needs exactly one of --T, --alpha, --width with several comma-separated values, "
                             "got %s" % (", ".join(several) if several else "none"))
    name = several[0]
    values = getattr(args, lists[name])
    for dest in lists.values():
        value = getattr(args, dest)
        setattr(args, dest, None if value is None else value[0])
    return name, values


def _executor(args):
    """``--workers N``: N local processes; ``--scheduler ADDRESS``: a client of that Dask scheduler; else None."""
    if args.workers is not None and args.scheduler is not None:
        raise ParameterError("give --workers N (local processes) or --scheduler ADDRESS (a Dask scheduler), not both")
    if args.workers is not None:
        return parallel.local_processes(args.workers)
    return None if args.scheduler is None else parallel.scheduler(args.scheduler)


def _with_errors(sweep, X_test, y_test):
    """The sweep's points (``as_dict``) with the generalization error, bias and variance of each."""
    out = sweep.as_dict()
    eg = sweep.generalization_error(X_test, y_test)
    for point, total, bias, variance in zip(out["points"], *(np.ravel(a) for a in eg)):
        point.update(generalization_error=float(total), bias=float(bias), variance=float(variance))
    return out


def _sweep(args, name, values, executor):
    """The sweep of the command line's architecture along ``name`` (``--T``, ``--alpha`` or ``--width``)."""
    kw = {"chunks": args.chunks, "executor": executor}
    if args.architecture == "deep-perceptron":
        if name != "--alpha":
            raise ParameterError("sweep deep-perceptron sweeps --alpha, got %s" % name)
        sweep = _replica_theory(args).compile().sweep(values, args.kappa, **kw)
        return sweep, dict(sweep.as_dict(), depth=args.depth, scenario=args.scenario, ansatz=args.ansatz)
    if args.architecture == "sk":
        if name != "--T" or args.depth is not None or args.scenario != "random":
            raise ParameterError("sweep sk sweeps --temperature (> 0); --depth and --scenario do not apply")
        sweep = _sk_theory(args).compile().sweep(values, **kw)
        return sweep, sweep.as_dict()
    if name == "--alpha":
        raise ParameterError("--alpha applies to deep-perceptron only")
    if name == "--width" and args.architecture not in ("cnn", "attention") and (args.widths is not None
                                                                                 or args.depth is None):
        raise ParameterError("sweep --width N1,N2,... needs --depth L (equal widths), not --widths")
    _require_T_and_data(args)
    _reject_local_options(args)
    d = load_data(args.data, args.P, args.seed, images=args.architecture in ("cnn", "attention"))
    T = np.array(values) if name == "--T" else args.T
    if args.architecture in ("cnn", "attention"):
        if args.exact or args.gates is not None or args.gated_readout or args.shared_gates:
            raise ParameterError("--exact and the gate options do not apply to %s" % args.architecture)
        if args.width is None:
            raise ParameterError("%s needs --width N" % args.architecture)
        network = _conv_network(args, d) if args.architecture == "cnn" else _attention_network(args, d)
        W = [[N] * network.depth for N in values] if name == "--width" else [[args.width] * network.depth]
        options = {} if args.architecture == "cnn" else {"attention_seed": args.attention_seed}
        sweep = derive(network).compile().sweep(d.X_train, d.y_train, W, T=T, sigma2=_sigma2(args), **options, **kw)
        return sweep, dict(_with_errors(sweep, d.X_test, d.y_test), P=int(d.X_train.shape[0]))
    if args.architecture == "ggdln":
        if args.exact:
            raise ParameterError("--exact is available for deep-linear only")
        if name == "--width":
            if args.gates is None:
                raise ParameterError("ggdln needs --gates M (gates per layer)")
            network, W = _gated_network(args, args.depth, _outputs(d)), [[N] * args.depth for N in values]
        else:
            network, widths = _network(args, _outputs(d))
            W = widths["widths"]
        sweep = derive(network).compile().sweep(d.X_train, d.y_train, W, T=T, sigma2=_sigma2(args),
                                                gates=args.gates, gate_seed=args.gate_seed, **kw)
        return sweep, dict(_with_errors(sweep, d.X_test, d.y_test), P=int(d.X_train.shape[0]))
    if name == "--width":
        _reject_gate_options(args)
        network, widths = _architecture(args)(args.depth), {"width": np.array(values)}
    else:
        network, widths = _network(args)
    if args.exact and args.architecture in NONLINEAR:
        raise ParameterError("--exact is available for deep-linear only (%s is the kernel renormalization's saddle "
                             "point)" % args.architecture)
    solver = derive(network).compile(method="exact" if args.exact else "saddle")
    sweep = solver.sweep(d.X_train, d.y_train, sigma2=_sigma2(args), T=T, **widths, **kw)
    return sweep, dict(_with_errors(sweep, d.X_test, d.y_test), P=int(d.X_train.shape[0]),
                       method="exact" if args.exact else "saddle")


def cmd_sweep(args):
    _reject_ansatz(args)
    name, values = _swept(args)
    executor = _executor(args)
    try:
        sweep, out = _sweep(args, name, values, executor)
    finally:
        if executor is not None:
            (executor.close if hasattr(executor, "close") else executor.shutdown)()
    if args.json:
        print(json.dumps(out))
        return
    rows = [r for r in sweep.rows() if r.get("selected", True)]
    columns = [c for c in rows[0] if c not in ("branch", "selected")]
    print(" ".join("%14s" % c for c in columns))
    for r in rows:
        print(" ".join("%14.6g" % r[c] if isinstance(r[c], float) else "%14s" % r[c] for c in columns))


def cmd_demo(args):
    run_demo(out=args.out, quick=args.quick)


def _network_and_data_arguments(p, models=(), lists=False):
    """Arguments shared by ``solve``, ``sweep`` and ``simulate``: architecture, widths, priors, T, data, seed,
    --json, --quiet (``lists``: --T, --alpha and --width take comma-separated values, for ``sweep``)."""
    p.add_argument("architecture", choices=sorted(ARCHITECTURES) + ["cnn", "attention", "deep-perceptron"]
                   + list(models))
    p.add_argument("--depth", type=_positive_int("--depth"))
    p.add_argument("--activation", help="nonlinear: erf, tanh, gelu, relu, ... or a SymPy expression in z (one hidden "
                                        "layer unless positively homogeneous)")
    p.add_argument("--width", type=_positive_int_list("--width") if lists else _positive_int("--width"))
    p.add_argument("--widths", type=_widths)
    p.add_argument("--sigma2", type=_float_list("--sigma2"), default=[1.0])
    p.add_argument("--T", "--temperature", dest="T", type=_float_list("--T") if lists else _number("--T"),
                   help="temperature (required except for deep-perceptron; sk: T >= 0, 0 for the ground state)")
    p.add_argument("--data", help="digits | teacher | FILE.npz (X_train, y_train, X_test, y_test); required except "
                                  "for deep-perceptron")
    p.add_argument("--P", type=_positive_int("--P"), help="training-set size of a built-in data set")
    p.add_argument("--seed", type=int, default=0, help="seed of the data split and of the sampler")
    p.add_argument("--json", action="store_true", help="print JSON (and no progress bar)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _gate_arguments(p)
    _local_arguments(p)
    p.add_argument("--gate-seed", type=int, default=0, help="seed of the built-in half-space gates (ggdln)")
    p.add_argument("--alpha", type=_float_list("--alpha") if lists else _number("--alpha"),
                   help="deep-perceptron: load M/c (> 0)")
    p.add_argument("--kappa", type=_number("--kappa"), default=0.0, help="deep-perceptron: Gardner margin (>= 0; "
                                                                           "0 in the teacher scenario)")
    _scenario_argument(p)


def _scenario_argument(p):
    p.add_argument("--scenario", choices=SCENARIOS, default="random",
                   help="deep-perceptron: random (quenched n -> 0) or teacher (Nishimori)")


def _ansatz_argument(p):
    p.add_argument("--ansatz", choices=("rs", "1rsb", "2rsb"), default="rs",
                   help="sk: replica symmetric, one- or two-step replica-symmetry breaking; deep-perceptron (random "
                        "scenario): rs or 1rsb")


def _local_arguments(p):
    p.add_argument("--filter", type=_positive_int_list("--filter"), help="cnn: filter size F, or F1,F2 for images")
    p.add_argument("--stride", type=_positive_int_list("--stride"), default=[1], help="cnn: stride S, or S1,S2")
    p.add_argument("--input-shape", type=_positive_int_list("--input-shape"),
                   help="cnn: N0 (1-D) or H,W (images; default 8,8 for digits, else 1-D)")
    p.add_argument("--pool", action="store_true", help="cnn: global average pooling over positions (default: the "
                                                       "positions are flattened, a readout weight per position)")
    p.add_argument("--heads", type=_positive_int_list("--heads"), help="attention: heads per attention layer H (or "
                                                                        "H1,H2,... one per layer; default 2)")
    p.add_argument("--tokens", type=_positive_int("--tokens"), help="attention: tokens per input T (digits: 8 rows)")
    p.add_argument("--features", type=_positive_int("--features"), help="derive attention: features per token N0")
    p.add_argument("--readout", choices=("first", "last", "mean"), default="mean",
                   help="attention: the token the readout reads (or the mean over tokens)")
    p.add_argument("--attention-seed", type=int, default=0, help="attention: seed of the frozen query-key matrices "
                                                                "of the softmax attention maps")


def _gate_arguments(p):
    p.add_argument("--gates", type=_positive_int("--gates"), help="ggdln: gates per layer M")
    p.add_argument("--gated-readout", action="store_true", help="ggdln: gate the readout too")
    p.add_argument("--shared-gates", action="store_true", help="ggdln: one gate set for all layers")


def _pdlt_options(p, depth_help, width=False, learning_rates=False):
    """The activation, depth, (width), C_W, C_b (and learning rates) of the PDLT commands."""
    p.add_argument("activation", help="as for criticality")
    p.add_argument("--depth", type=_positive_int("--depth"), required=True, help=depth_help)
    if width:
        p.add_argument("--width", type=_positive_int("--width"), required=True, help="hidden width n of every layer")
    p.add_argument("--C_W", type=_number("--C_W"), required=True)
    p.add_argument("--C_b", type=_number("--C_b"), default=0.0)
    if learning_rates:
        p.add_argument("--lambda_b", type=_number("--lambda_b"), default=1.0, help="bias learning-rate multiplier")
        p.add_argument("--lambda_W", type=_number("--lambda_W"), default=1.0, help="weight learning-rate multiplier")


def _data_options(p, data_help, P_help):
    """--data, --P, --seed and --json of the PDLT commands."""
    p.add_argument("--data", required=True, help=data_help)
    p.add_argument("--P", type=_positive_int("--P"), help=P_help)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")


def build_parser():
    parser = argparse.ArgumentParser(prog="symbolic-rg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("derive", help="derive and print (or write as LaTeX) the saddle-point theory, or the PDLT "
                                      "recursions of an activation (derive pdlt --activation NAME)")
    p.add_argument("architecture", choices=sorted(ARCHITECTURES) + ["cnn", "attention", "pdlt", "deep-perceptron",
                                                                    "sk"])
    p.add_argument("--depth", type=_positive_int("--depth"))
    p.add_argument("--activation", help="pdlt, nonlinear: activation name or SymPy expression in z")
    p.add_argument("--latex", metavar="FILE")
    _gate_arguments(p)
    _local_arguments(p)
    _scenario_argument(p)
    _ansatz_argument(p)
    p.set_defaults(func=cmd_derive)

    p = sub.add_parser("solve", help="solve the saddle point on data and report observables")
    _network_and_data_arguments(p, ["sk"])
    _ansatz_argument(p)
    p.add_argument("--exact", action="store_true", help="exact finite-width posterior instead of the saddle point")
    p.add_argument("--one-loop", action="store_true", help="saddle point plus its 1/N (Gaussian-fluctuation) correction")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("sweep", help="solve along one parameter given several comma-separated values (--T, --alpha "
                                     "or --width), in parallel with --workers or --scheduler")
    _network_and_data_arguments(p, ["sk"], lists=True)
    _ansatz_argument(p)
    p.add_argument("--exact", action="store_true", help="deep-linear: the exact finite-width posterior")
    p.add_argument("--chunks", type=_positive_int("--chunks"),
                   help="contiguous chunks of the sweep (warm starts restart at each; default: the family's)")
    p.add_argument("--workers", type=_positive_int("--workers"), help="run the chunks on N local processes")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run the chunks on a running Dask scheduler, e.g. "
                                                          "tcp://host:8786 (pip install 'symbolic-rg[dask]')")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("simulate", help="sample the real finite network's weight posterior")
    _network_and_data_arguments(p)
    p.add_argument("--samples", type=int, default=2000, help="kept samples (sweeps for Gibbs)")
    p.add_argument("--burn-in", type=int, default=500)
    p.add_argument("--sampler", choices=["gibbs", "mala"], default="gibbs")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("criticality", help="critical initialization (C_b, C_W) of an activation (PDLT)")
    p.add_argument("activation", help="relu, tanh, gelu, swish, erf, linear, abs, sigmoid, sin, leaky_relu:SLOPE, "
                                      "or a SymPy expression in z")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_criticality)

    p = sub.add_parser("kernel", help="infinite-width kernel, NTK and four-point vertex V_(aa)(bb) per layer on "
                                      "data (PDLT; equal widths, V per 1/n)")
    _pdlt_options(p, None)
    _data_options(p, "digits | teacher | FILE.npz (the rows of X_train are used)",
                  "number of inputs of a built-in data set")
    p.set_defaults(func=cmd_kernel)

    p = sub.add_parser("train", help="output of an infinitely wide network trained by gradient flow or descent on "
                                     "the mean squared error: mean and variance over initializations on the test "
                                     "inputs (PDLT, NTK)")
    _pdlt_options(p, "layers L (the output is z^(L))", learning_rates=True)
    p.add_argument("--time", type=_number("--time"), help="training time t (default: fully trained, t = inf)")
    p.add_argument("--learning-rate", type=_number("--learning-rate"),
                   help="gradient descent with this step, time/learning-rate steps (default: gradient flow)")
    _data_options(p, "digits | teacher | FILE.npz", "training-set size of a built-in data set")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("posterior", help="Bayesian posterior predictive of a finite-width network with its 1/n "
                                         "correction (PDLT ch. 6: nearly-Gaussian prior from the vertex V), beside "
                                         "the infinite-width GP, on the test inputs")
    _pdlt_options(p, "layers L >= 2 (the output is z^(L))", width=True)
    p.add_argument("--T", type=_number("--T"), default=0.0, help="noise variance of the labels (temperature)")
    p.add_argument("--test-points", type=_positive_int("--test-points"), default=5,
                   help="how many test inputs (each costs a recursion over P + 1 inputs; default 5)")
    _data_options(p, "digits | teacher | FILE.npz (a few training points: the cost grows like P^4)",
                  "training-set size of a built-in data set (default 4, at most %d)" % MAX_FINITE_INPUTS)
    p.set_defaults(func=cmd_posterior)

    p = sub.add_parser("ntk", help="finite-width NTK statistics of the last layer on data (PDLT chapters 8, 11): "
                                   "kernel, NTK and its 1/n mean correction, NTK variance A, B, NTK-preactivation "
                                   "D, F and dNTK-preactivation P, Q (per 1/n_{L-1}; input-index tensors)")
    _pdlt_options(p, "layers L (the output is z^(L))", width=True, learning_rates=True)
    p.add_argument("--no-dntk", action="store_true", help="skip the dNTK's P and Q")
    p.add_argument("--simulate", type=_positive_int("--simulate"), metavar="NETWORKS",
                   help="also sample this many networks (4 outputs each) and report their estimates and the "
                        "largest |z| of each tensor against the theory")
    _data_options(p, "digits | teacher | FILE.npz (the rows of X_train are used; the cost grows like P^4: a few "
                     "inputs)", "number of inputs of a built-in data set (default 3, at most %d)" % MAX_FINITE_INPUTS)
    p.set_defaults(func=cmd_ntk)

    p = sub.add_parser("demo", help="the main job on built-in defaults: derive, solve on digits, plot")
    p.add_argument("--out", default="generalization_vs_width.png")
    p.add_argument("--quick", action="store_true", help="fewer widths (for smoke tests)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        with parallel.quiet() if getattr(args, "json", False) or getattr(args, "quiet", False) \
                else contextlib.nullcontext():
            args.func(args)
    except (ParameterError, NoSolutionError, ConvergenceError, SweepError, ImportError) as exc:
        print("symbolic-rg: error: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
