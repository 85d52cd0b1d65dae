"""Sweeps on executors (threads, local processes, a Dask cluster) give the serial numbers bit for bit for the same
chunks; a failed task keeps the finished points; theories and solvers pickle as their derivation; progress bars go
to stderr only when asked for, and never into ``--json`` output."""
import concurrent.futures
import json
import pickle

import numpy as np
import pytest

import symbolic_rg as srg
from symbolic_rg import cli, parallel
from symbolic_rg.errors import SweepError
from symbolic_rg.replica.monte_carlo import teacher_student

from conftest import run_cli


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((12, 5)), rng.standard_normal(12)


@pytest.fixture(scope="module")
def kernel():
    return srg.derive(srg.deep_linear(1)).compile()


@pytest.fixture(scope="module")
def replica():
    return srg.derive(srg.deep_perceptron(1, "random")).compile()


def test_theories_and_solvers_pickle_as_their_derivation(kernel, replica):
    """What a worker receives is small, and becomes the same theory (derived once per process, from the disk cache)
    and a solver compiled once per process."""
    for solver in (kernel, replica, srg.replica.sk(0).compile()):
        assert len(pickle.dumps(solver.theory)) < 2000 and len(pickle.dumps(solver)) < 2000
        assert pickle.loads(pickle.dumps(solver.theory)) is solver.theory
        again = pickle.loads(pickle.dumps(solver))
        assert type(again) is type(solver) and again.theory is solver.theory
        assert pickle.loads(pickle.dumps(solver)) is again


def test_a_dask_cluster_gives_the_serial_sweep_bit_for_bit(problem, kernel, replica):
    """A LocalCluster of 2 worker processes (started by spawn; they derive from the disk cache and load the compiled
    modules): the same numbers as the serial sweep with the same chunks, through the client itself, through
    ``client.get_executor()`` and from the command line (``--scheduler``)."""
    distributed = pytest.importorskip("dask.distributed", reason="the Dask test needs pip install 'symbolic-rg[dask]'")
    X, y = problem
    T, alphas = np.logspace(-2, 0, 24), np.linspace(0.5, 1.5, 4)
    serial = kernel.sweep(X, y, width=20, T=T, chunks=3)
    serial_replica = replica.sweep(alphas, chunks=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = kernel.sweep(X, y, width=20, T=T, chunks=3, executor=client)
        on_dask_replica = replica.sweep(alphas, chunks=2, executor=client.get_executor())
        assert len(kernel.sweep(X, y, width=20, T=T, executor=client)) == T.size     # default chunks: 4 per thread
        cli = run_cli("sweep", "sk", "--temperature", "0.5,1.5", "--scheduler", cluster.scheduler_address, "--json")
    assert cli.returncode == 0 and cli.stderr == "", cli.stderr
    assert [p["q"] for p in json.loads(cli.stdout)["points"]] == \
        [p["q"] for p in srg.replica.sk(0).compile().sweep([0.5, 1.5]).as_dict()["points"]]
    for name in ("order_parameters", "action", "residual", "iterations", "converged"):
        np.testing.assert_array_equal(getattr(on_dask, name), getattr(serial, name))
    np.testing.assert_array_equal(on_dask_replica.order_parameters, serial_replica.order_parameters)
    np.testing.assert_array_equal(on_dask_replica.free_entropy, serial_replica.free_entropy)
    assert [len(p.solutions) for p in on_dask_replica.points] == [len(p.solutions) for p in serial_replica.points]


def test_every_family_sweeps_on_threads_with_the_serial_numbers(problem):
    X, y = problem
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        gated = srg.derive(srg.ggdln(1, gates=2)).compile()
        widths = [[N] for N in (20, 30, 40, 60)]
        pairs = [(gated.sweep(X, y, widths, T=0.2, chunks=2), gated.sweep(X, y, widths, T=0.2, chunks=2, executor=pool))]
        exact = srg.derive(srg.deep_linear(1)).compile(method="exact")
        pairs.append((exact.sweep(X, y, width=np.array([10, 40]), T=0.2),
                      exact.sweep(X, y, width=np.array([10, 40]), T=0.2, executor=pool)))
        sk = srg.replica.sk(0).compile()
        pairs.append((sk.sweep([0.5, 1.5]), sk.sweep([0.5, 1.5], executor=pool)))
        pdlt = srg.PDLTTheory("relu").compile()
        pairs.append((pdlt.sweep(X[:2], [1, 2], [1.5, 2.0]), pdlt.sweep(X[:2], [1, 2], [1.5, 2.0], executor=pool)))
    for serial, threaded in pairs:
        assert len(serial) == len(threaded)
        for a, b in zip(serial.solutions, threaded.solutions):
            first = lambda s: np.asarray(s.order_parameters[0] if isinstance(s.order_parameters, (list, tuple))
                                         else s.order_parameters)
            np.testing.assert_array_equal(first(a), first(b))
            assert a.residual == b.residual


class Flaky(concurrent.futures.ThreadPoolExecutor):
    """Loses its second task, as a worker that dies would."""

    def submit(self, fn, *args, **kwargs):
        self.tasks = getattr(self, "tasks", 0) + 1
        if self.tasks == 2:
            lost = concurrent.futures.Future()
            lost.set_exception(concurrent.futures.BrokenExecutor("worker lost"))
            return lost
        return super().submit(fn, *args, **kwargs)


def test_a_failed_task_keeps_the_finished_points(problem, kernel, replica):
    X, y = problem
    T = np.logspace(-2, 0, 9)
    serial = kernel.sweep(X, y, width=20, T=T, chunks=3)
    with Flaky(2) as pool, pytest.raises(SweepError, match=r"chunk 2 of 3 \(points 3 to 5\) failed \(BrokenExecutor: "
                                                           r"worker lost\); 6 of 9 points finished, kept in the "
                                                           r"error's \.partial$") as failure:
        kernel.sweep(X, y, width=20, T=T, chunks=3, executor=pool)
    partial = failure.value.partial
    assert failure.value.missing == [3, 4, 5] and len(partial) == 6
    np.testing.assert_array_equal(partial.grid[:, 0], T[[0, 1, 2, 6, 7, 8]])
    np.testing.assert_array_equal(partial.order_parameters, serial.order_parameters[[0, 1, 2, 6, 7, 8]])
    alphas = np.array([0.5, 1.0, 1.5])
    with Flaky(2) as pool, pytest.raises(SweepError) as failure:
        replica.sweep(alphas, chunks=3, executor=pool)
    assert failure.value.missing == [1] and list(failure.value.partial.alpha) == [0.5, 1.5]
    with pytest.raises(srg.ParameterError, match=r"^executor must be a concurrent.futures.Executor or a "
                                                 r"dask.distributed.Client, got 3$"):
        kernel.sweep(X, y, width=20, T=T, executor=3)


def test_a_package_error_in_a_chunk_keeps_its_type_and_the_finished_points(problem):
    """A point the solver rejects stops the sweep with that error and its one-line message (a ParameterError here),
    the finished points on it: here, one task a point; on an executor, the finished tasks."""
    X, _ = problem
    solver = srg.PDLTTheory("relu").compile()
    for executor in (None, concurrent.futures.ThreadPoolExecutor(1)):
        with pytest.raises(srg.ParameterError, match=r"^depth must be an integer >= 1, got 2.5$") as failure:
            solver.sweep(X[:2], [1, 2.5, 3], 2.0, chunks=3, executor=executor)
        assert failure.value.missing == ([1, 2] if executor is None else [1])
        assert [s.parameters["depth"] for s in failure.value.partial] == ([1] if executor is None else [1, 3])


def test_progress_goes_to_stderr_only_when_asked_for(problem, kernel, replica, capsys):
    X, y = problem
    replica.sweep([0.5, 1.0], progress=False)
    kernel.sweep(X, y, width=20, T=[0.1, 0.2])                  # the default: a bar on a terminal only
    assert capsys.readouterr() == ("", "")
    replica.sweep([0.5, 1.0], progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "replica sweep" in err and "2/2" in err
    with parallel.quiet():
        replica.sweep([0.5, 1.0])
    assert capsys.readouterr() == ("", "")
    with pytest.raises(srg.ParameterError, match="^progress must be True, False or None, got 'yes'$"):
        replica.sweep([0.5], progress="yes")
    chain = lambda progress: teacher_student(1, 20, 5, 1.0, sweeps=200, burn_in=100, n_test=50, progress=progress)
    np.testing.assert_array_equal(chain(False).Q_trace, chain(True).Q_trace)
    out, err = capsys.readouterr()
    assert out == "" and "chain" in err and "200/200" in err


def test_cli_sweep_on_local_processes_prints_valid_json_and_no_bar(kernel, capsys):
    """``sweep --workers 2`` (two spawned processes): the in-process numbers with the same chunks, valid JSON on
    stdout, nothing on stderr; a sweep without a swept option is one line and exit code 2."""
    assert cli.main(["sweep", "deep-linear", "--depth", "1", "--width", "20", "--T", "0.05,0.1,0.2", "--data",
                     "teacher", "--P", "20", "--chunks", "2", "--json", "--workers", "2"]) == 0
    run = capsys.readouterr()
    assert run.err == ""
    out = json.loads(run.out)
    d = srg.data.teacher(P=20)
    serial = kernel.sweep(d.X_train, d.y_train, width=20, T=np.array([0.05, 0.1, 0.2]), chunks=2)
    assert [p["order_parameters"] for p in out["points"]] == serial.order_parameters.tolist()
    assert [p["T"] for p in out["points"]] == [0.05, 0.1, 0.2]
    assert all(p["converged"] and p["generalization_error"] > 0 for p in out["points"])
    assert cli.main(["sweep", "deep-linear", "--depth", "1", "--width", "20", "--T", "0.1", "--data", "teacher"]) == 2
    assert capsys.readouterr().err == ("symbolic-rg: error: sweep needs exactly one of --T, --alpha, --width with "
                                       "several comma-separated values, got none\n")


def test_bracket_runs_its_chains_on_any_executor():
    """The two chains of a bracket travel with their random state: threads here, another thread pool, and spawned
    processes give the same chains bit for bit."""
    from symbolic_rg.replica.monte_carlo import bracket
    args = dict(depth=1, N=20, c=6, alpha=2.0, max_sweeps=600, chunk=200, seed=5, progress=False)
    here = bracket(**args)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        threads = bracket(**args, executor=pool)
    with parallel.local_processes(2) as pool:
        processes = bracket(**args, executor=pool)
    for other in (threads, processes):
        assert other.sweeps == here.sweeps and other.converged == here.converged
        assert np.array_equal(other.above.Q_trace, here.above.Q_trace)
        assert np.array_equal(other.below.Q_trace, here.below.Q_trace)


def test_map_points_keeps_the_order_here_and_on_an_executor(capsys):
    points = [(a, b) for a in range(3) for b in (1.0, 2.0)]
    here = parallel.map_points(pow, points, "points", progress=False)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        there = parallel.map_points(pow, points, "points", executor=pool, progress=False)
    assert here == there == [a ** b for a, b in points]
    assert capsys.readouterr().err == ""
    import argparse
    parser = argparse.ArgumentParser()
    parallel.add_arguments(parser, "the points")
    assert parallel.from_arguments(parser.parse_args(["--quiet"])) == (None, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--workers", "2", "--scheduler", "tcp://x:1"])
