"""Notebook display: every theory shows its equations (``_repr_latex_``), every solution and sweep a table
(``_repr_html_``); sweeps export a tidy frame (``to_pandas``) and plot; docs/examples.ipynb runs end to end."""
import json
import pathlib
import time

import matplotlib
import numpy as np
import pytest

import symbolic_rg as srg

matplotlib.use("Agg")

REPO = pathlib.Path(srg.__file__).parent.parent


def _theories():
    return {"kernel": srg.derive(srg.deep_linear(1)), "gated": srg.derive(srg.ggdln(1, gates=2)),
            "replica": srg.derive(srg.deep_perceptron(1, "random")), "sk": srg.replica.sk(0),
            "pdlt": srg.PDLTTheory("relu")}


@pytest.mark.parametrize("family", ["kernel", "gated", "replica", "sk", "pdlt"])
def test_every_theory_displays_its_equations_as_one_aligned_block(family):
    theory = _theories()[family]
    text = theory._repr_latex_()
    assert text.startswith("$$\\begin{aligned}") and text.endswith("\\end{aligned}$$")
    assert "\\tag" not in text and "\\begin{align}" not in text
    assert text.count(" && \\text{") == len(theory.latex_equations())


@pytest.fixture(scope="module")
def sweeps():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 5)), rng.standard_normal(12)
    th = _theories()
    return {"kernel": th["kernel"].compile().sweep(X, y, width=20, T=np.array([0.05, 0.1, 0.2])),
            "exact": th["kernel"].compile(method="exact").sweep(X, y, width=np.array([10, 20]), T=0.2),
            "gated": th["gated"].compile().sweep(X, y, [[20], [40]], T=0.2),
            "replica": th["replica"].compile().sweep(np.array([0.5, 1.0, 1.5])),
            "sk": th["sk"].compile().sweep([0.5, 1.5]),
            "pdlt": th["pdlt"].compile().sweep(X[:2], [1, 2], [1.5, 2.0], widths=30)}


SWEPT = {"kernel": "T", "exact": "N_1", "gated": "N_1", "replica": "alpha", "sk": "temperature", "pdlt": "depth"}
NAMES = {"kernel": ["u_1"], "exact": ["u_1"], "gated": ["tr(V_1)/d_1"], "replica": ["Q_1"], "sk": ["q_0"],
         "pdlt": ["K", "Theta", "V", "K1"]}


@pytest.mark.parametrize("family", sorted(SWEPT))
def test_sweeps_and_solutions_show_tables_and_export_tidy_frames(sweeps, family):
    sw = sweeps[family]
    frame = sw.to_pandas()
    points = len(sw.points) if family == "replica" else len(sw)
    assert frame["point"].nunique() == points and list(frame["point"]) == sorted(frame["point"])
    assert {"residual", "converged", SWEPT[family], *NAMES[family]} <= set(frame.columns)
    assert frame["converged"].all() and sw.swept()[0] == SWEPT[family]
    if "selected" in frame:                     # several stationary points per point: one row each, one selected
        assert (frame.groupby("point")["selected"].sum() == 1).all()
        assert (frame[frame.branch == 0]["selected"]).all()
    first = sw[0]
    for shown in (sw._repr_html_(), first._repr_html_()):
        assert shown.startswith("<table>") and all("<th>%s</th>" % n in shown for n in NAMES[family])
        assert "<th>residual</th>" in shown and "<th>converged</th>" in shown
    assert ("<caption>selection rule: " in sw._repr_html_()) == (family in ("kernel", "gated", "replica", "sk"))
    ax = sw.plot()
    assert ax.get_xlabel() == SWEPT[family] and ax.get_ylabel() and ax.lines
    matplotlib.pyplot.close("all")


def test_the_ground_state_shows_its_breakpoints_as_mu():
    shown = srg.replica.sk(0).compile().ground_state()._repr_html_()
    assert "<th>q_0</th>" in shown and "<th>temperature</th>" in shown and "selection rule" in shown


def test_the_physical_branch_is_the_selected_row(sweeps):
    """The replica sweep keeps every stationary point per alpha; the selected row is the physical one."""
    sw = sweeps["replica"]
    frame = sw.to_pandas()
    chosen = frame[frame.selected]
    np.testing.assert_array_equal(chosen["Q_1"], sw.Q[:, 0])
    np.testing.assert_array_equal(chosen["free_entropy"], sw.free_entropy)
    assert frame.attrs["rule"] == sw.points[0].rule


def test_the_example_notebook_runs_end_to_end():
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (pip install "
                                                      "'symbolic-rg[notebook]')")
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (pip install "
                                                      "'symbolic-rg[notebook]')")
    pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (pip install 'symbolic-rg[notebook]')")
    nb = nbformat.read(REPO / "docs" / "examples.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")      # stored without outputs
    start = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO)}}).execute()
    print("docs/examples.ipynb ran in %.1f s" % (time.perf_counter() - start))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    kinds = json.dumps([sorted(o.get("data", {})) for o in outputs])
    assert not [o for o in outputs if o.output_type == "error"]
    assert kinds.count("text/latex") == 5 and kinds.count("image/png") == 5 and kinds.count("text/html") >= 5
