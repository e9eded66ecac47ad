"""The report's figures draw what its text says: a difference's 95% CI cut at the metric's bounds
(the tables' [-100.0, 54.5]*) is drawn cut there, with an arrowhead and a caption that says why."""

import io
import math

import pytest

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from pipeline import arms, metric_numbers, verdicts  # noqa: E402
from pipeline.report import figures  # noqa: E402

# L2 diverged on 2 of 3 seeds beside none's 90%: its CI is [-140.5, 54.5] pt, written [-100.0, 54.5]*
DIVERGED = {"none": {0: 0.90, 1: 0.88, 2: 0.91}, "l2": {0: 0.20, 1: 0.90, 2: 0.30}, "l1": {0: 0.91, 1: 0.89, 2: 0.915}}


def _context(values: dict) -> figures.FigureContext:
    """The forest's input as analysis.analyze gives it, for one wine dataset of `values`."""
    [v] = verdicts.decide_study([verdicts.DatasetResults("wine", "classification", values, n_test=300, chance=0.4)])
    d = {"label": "wine", "metric": "accuracy", "paired": v.paired, "verdicts": v, "rope": v.rope}
    names = list(values)
    return figures.FigureContext(None, {"datasets": [d]}, pd.DataFrame(), figures.arm_palette(names),
                                 [arms.label(a) for a in names])


def _lines_at(ax, y: int) -> list:
    return [line for line in ax.get_lines() if list(line.get_ydata()) and all(v == y for v in line.get_ydata())]


def test_the_forest_draws_a_cut_interval_cut_and_marks_its_end():
    """L2's CI reaches -140.5 pt; the forest drew its bar to -140 beside the table's [-100.0, 54.5]*.
    Now the bar ends at -100 with a ◀ there, the axis stops short of -140, the caption says what
    the arrowhead means, and L1's interval (inside the bounds) has no arrowhead; a study without
    a cut interval has no such caption."""
    ctx = _context(DIVERGED)
    p = ctx.analysis["datasets"][0]["paired"]["l2"]
    assert metric_numbers.shown(p.ci_low, "accuracy") < -140 and \
        metric_numbers.difference(p, "accuracy") == "-43.0 pt [-100.0, 54.5]*"
    fig = figures.forest_figure(ctx)
    ax = fig.axes[0]
    y = {label.get_text(): int(round(tick)) for tick, label in zip(ax.get_yticks(), ax.get_yticklabels())}
    bar = next(line for line in _lines_at(ax, y["L2"]) if len(line.get_xdata()) == 2)
    assert bar.get_xdata()[0] == -100.0 and bar.get_xdata()[1] == pytest.approx(54.45, abs=0.01)
    heads = [line for line in _lines_at(ax, y["L2"]) if line.get_marker() in ("<", ">")]
    assert [(h.get_marker(), list(h.get_xdata())) for h in heads] == [("<", [-100.0])]
    assert not [line for line in _lines_at(ax, y["L1"]) if line.get_marker() in ("<", ">")]
    low, high = ax.get_xlim()
    assert -115 < low <= -100 and high > 54.45   # matplotlib's margin past the cut end, not out to -140
    assert ax.get_xlabel().endswith("\n◀ ▶: a CI cut at the most a difference can be (±100 points for a share), "
                                    "as * in the tables")
    # the PNG the report shows is drawn from it (real output, readable back)
    png = figures.forest(ctx)
    import base64
    image = imread(io.BytesIO(base64.b64decode(png.split(",", 1)[1])), format="png")
    assert image.shape[0] > 100 and image.shape[1] > 500
    plt.close(fig)
    within = figures.forest_figure(_context({**DIVERGED, "l2": {0: 0.93, 1: 0.90, 2: 0.925}}))
    assert "◀ ▶" not in within.axes[0].get_xlabel()
    assert not [line for line in within.axes[0].get_lines() if line.get_marker() in ("<", ">")]
    assert all(math.isfinite(x) and -100 <= x <= 100 for line in within.axes[0].get_lines() for x in line.get_xdata())
    plt.close(within)
