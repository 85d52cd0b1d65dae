"""What the figure scripts in numeric/ share: write a study's rows as JSON beside its PNG and draw it, and the command
line that runs the study or (``--plot-only``) redraws the figure from the JSON of an earlier run."""
import argparse
import json


def save_and_plot(rows, out, plot):
    """Write ``rows`` to the JSON beside the figure ``out`` (``.png`` -> ``.json``) and draw it with ``plot``."""
    with open(out.replace(".png", ".json"), "w") as f:
        json.dump(rows, f, indent=1)
    plot(rows, out)
    return rows


def command_line(doc, default_out, main, plot):
    """``--out`` (default ``default_out``) and ``--plot-only``: run ``main(out)``, or redraw with ``plot``."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--out", default=default_out)
    p.add_argument("--plot-only", action="store_true", help="redraw the figure from the JSON of an earlier run")
    a = p.parse_args()
    if a.plot_only:
        with open(a.out.replace(".png", ".json")) as f:
            plot(json.load(f), a.out)
    else:
        main(a.out)
