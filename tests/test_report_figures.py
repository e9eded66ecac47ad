"""The report's figures draw what its text says: a difference's 95% CI cut at the metric's bounds
(the tables' [-100.0, 54.5]*) is drawn cut there, with an arrowhead and a caption that says why."""

import dataclasses
import io
import math

import pytest

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from pipeline import arms, metric_numbers, verdicts  # noqa: E402
from pipeline.report import figure_context, figure_words, figures, path_figure  # noqa: E402

# L2 diverged on 2 of 3 seeds beside none's 90%: its CI is [-140.5, 54.5] pt, written [-100.0, 54.5]*
DIVERGED = {"none": {0: 0.90, 1: 0.88, 2: 0.91}, "l2": {0: 0.20, 1: 0.90, 2: 0.30}, "l1": {0: 0.91, 1: 0.89, 2: 0.915}}


def _context(values: dict) -> figure_context.FigureContext:
    """The forest's input as analysis.analyze gives it, for one wine dataset of `values`."""
    [v] = verdicts.decide_study([verdicts.DatasetResults("wine", "classification", values, n_test=300, chance=0.4)])
    d = {"label": "wine", "metric": "accuracy", "paired": v.paired, "verdicts": v, "rope": v.rope}
    names = list(values)
    return figure_context.FigureContext(None, {"datasets": [d]}, pd.DataFrame(), figure_context.arm_palette(names),
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
    assert ax.get_xlabel().endswith("\n◀ ▶: a CI cut at the most a difference can be\n(±100 points for a share), "
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


# --- a study read back from a real MLflow store ---------------------------------------------------

def _study_in_mlflow(tmp_path, none: dict, points: dict, gaps: dict | None = None, sparsity: dict | None = None,
                     losses: dict | None = None):
    """A wine study of none and an L1 path over `points` ({l1 strength: {seed: test accuracy}},
    the first point best on validation), logged as trial runs (the tags and final metrics the
    workers write) into a SQLite MLflow store, then read back as the report reads it: (ReportData,
    analysis, Tracker). gaps/sparsity/losses: {arm or strength: {seed: value}} (default 0.05, 0.1 and
    0.3; a loss is logged as its curve, the same on each of 3 epochs)."""
    from mlflow import MlflowClient

    from pipeline import runtree as rt
    from pipeline.report import analysis, collect
    from pipeline.study import load_study
    from pipeline.tracking import Tracker

    from .conftest import write_study

    write_study(tmp_path / "cut.yaml", {"name": "cut", "arms": ["none", "l1"], "seeds": len(none), "epochs": 1,
                                        "paths": {"l1": list(points)},
                                        "datasets": [{"name": "wine"}]})
    study = load_study(tmp_path / "cut.yaml")
    [plan] = study.plans
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("cut")
    variants = dict(zip(points, study.point_ids("l1")))
    cells = [("none", "", none, "none")] + [("l1", variants[s], values, s) for s, values in points.items()]
    for rank, (arm, variant, values, key) in enumerate(cells):
        for seed, test in values.items():
            tags = {rt.STUDY: "cut", rt.KIND: rt.TRIAL, rt.DATASET_LABEL: plan.label, rt.CONFIG_HASH: plan.config_hash,
                    rt.ARM: arm, rt.SEED: str(seed), rt.VARIANT: variant, rt.TASK: "classification",
                    rt.METRIC_NAME: "accuracy"}
            run = client.create_run(experiment, run_name=f"wine/{arm}/seed{seed}", tags=tags).info.run_id
            gap = (gaps or {}).get(key, {}).get(seed, 0.05)
            for name, value in {"test_metric": test, "final_val_metric": 0.95 - 0.01 * rank, "gap_metric": gap,
                                "final_train_metric": min(1.0, test + gap), "weight_l2_total": 3.0 + rank,
                                "sparsity_lt_0.001": (sparsity or {}).get(key, {}).get(seed, 0.1)}.items():
                client.log_metric(run, name, value)
            for epoch in range(3):
                for name in ("train_data_loss", "val_loss"):
                    client.log_metric(run, name, (losses or {}).get(key, {}).get(seed, 0.3), step=epoch)
            client.set_terminated(run, "FINISHED")
    tracker = Tracker(uri)
    data = collect.collect(study, tracker)
    return data, analysis.analyze(data), tracker


def test_a_path_s_cut_interval_has_its_footnote_on_the_console_and_in_the_report(tmp_path):
    """An L1 path whose strongest point diverged on 2 of 3 seeds: its difference to none is
    written [-100.0, 54.5]*, and the path table (report) and lines (console) now say what the * means,
    as the verdicts' CI footnote does; the selected point's row is not cut and the verdict section
    does not claim a cut of its own. A path without a cut interval has no such note."""
    from pipeline import path_words
    from pipeline.report import render

    none = {0: 0.90, 1: 0.88, 2: 0.91}
    data, a, _ = _study_in_mlflow(tmp_path, none, {1e-4: {0: 0.91, 1: 0.89, 2: 0.915}, 1e-1: {0: 0.20, 1: 0.90, 2: 0.30}})
    [d] = a["datasets"]
    rows = d["path_tables"]["l1"]["rows"]
    assert [r["vs_none"] for r in rows][1] == "-43.0 pt [-100.0, 54.5]*" and not rows[0]["vs_none"].endswith("*")
    note = ("* an interval marked so reaches past ±100 pt, further than a difference in accuracy can go, and is cut "
            "there: its seeds are too few to say how large the difference is")
    assert d["path_tables"]["l1"]["cut_note"] == note
    console = path_words.path_lines(a["results"][0], a["decided"][0])
    assert console[-1] == f"      {note}" and "[-100.0, 54.5]*" in console[-2]
    html = render.render(data, a, {}, render.provenance(data))
    path_part = html[html.index("<h4>Regularization paths</h4>"):]
    assert f'<p class="muted">{note}.</p>' in path_part
    # the interval held together (a narrow PDF column broke it as "[-100.0," / "54.5]"), the unit with its number
    assert path_part.index("-43.0\u00a0pt [-100.0,\u00a054.5]*") < path_part.index(note)
    assert "An interval marked * (here and in the tables below)" not in html   # the verdicts' CIs are not cut
    # a level's CI (test, gap) is ended at its bounds without a mark, as the arm tables' test CIs: said once
    assert ("Test and gap: each point's own 95% CI over seeds, ended at what the value can be (a share within "
            "[0, 1], its gap within ±1), as in the figure.") in path_part
    calm = tmp_path / "calm"
    calm.mkdir()
    data, a, _ = _study_in_mlflow(calm, none, {1e-4: {0: 0.91, 1: 0.89, 2: 0.915}, 1e-1: {0: 0.85, 1: 0.86, 2: 0.84}})
    assert a["datasets"][0]["path_tables"]["l1"]["cut_note"] == ""
    assert "an interval marked so" not in render.render(data, a, {}, render.provenance(data))


def _errorbar_ys(ax) -> list[float]:
    """The y values an errorbar's bars span on a panel, read back from its line collections."""
    return [float(y) for c in ax.collections for segment in c.get_segments() for _, y in segment]


def test_a_path_s_gap_and_sparsity_cis_stay_within_what_they_can_be(tmp_path):
    """An L1 path point whose seeds disagree (training accuracy 1.0, 0.5, 1.0 at a test accuracy of
    0.5: gaps 0.5, 0.0, 0.5; 0%, 0%, 50% of weights below 1e-3): the t-intervals of the means are
    [-0.38, 1.05] and [-0.55, 0.88], past the [-1, 1] a gap of a share and the [0, 1] a share can
    be. The path table, the console line and the path figure's error bars now end at 1.0000 and 0%
    (as the test metric's CI always ended at its bounds); the other point's intervals are untouched."""
    from pipeline import path_words, stats

    gaps, shares = [0.5, 0.0, 0.5], [0.0, 0.0, 0.5]
    (gap_low, gap_high), (share_low, share_high) = stats.t_interval(gaps), stats.t_interval(shares)
    assert gap_high > 1 and share_low < 0
    data, a, _ = _study_in_mlflow(tmp_path, {0: 0.90, 1: 0.88, 2: 0.91},
                                  {1e-4: {0: 0.91, 1: 0.89, 2: 0.915}, 1e-1: {0: 0.5, 1: 0.5, 2: 0.5}},
                                  gaps={1e-1: dict(enumerate(gaps))}, sparsity={1e-1: dict(enumerate(shares))})
    [d] = a["datasets"]
    path = path_words.summarize_path(a["results"][0], "l1")
    loose = path.points[1]
    assert (loose.gap.ci_low, loose.gap.ci_high) == (pytest.approx(gap_low), 1.0)
    assert (loose.sparsity.ci_low, loose.sparsity.ci_high) == (0.0, pytest.approx(share_high))
    written = f"0.3333 [{gap_low:.4f}, 1.0000]"
    assert d["path_tables"]["l1"]["rows"][1]["gap"] == written
    assert d["path_tables"]["l1"]["rows"][0]["gap"] == "0.0500 [0.0500, 0.0500]"
    assert f"gap {written}" in path_words.path_lines(a["results"][0], a["decided"][0])[2]
    ctx = figure_context.FigureContext.of(data, a)
    fig = path_figure.draw(ctx, d)
    gap_panel, sparsity_panel = fig.axes[1], fig.axes[2]
    assert gap_panel.get_title() == "L1: gap (better on train by)" and max(_errorbar_ys(gap_panel)) == 1.0
    assert min(_errorbar_ys(gap_panel)) == pytest.approx(gap_low)
    assert sparsity_panel.get_title() == "L1: share of |w| < 1e-3" and min(_errorbar_ys(sparsity_panel)) == 0.0
    assert max(_errorbar_ys(sparsity_panel)) == pytest.approx(share_high)
    plt.close(fig)


def test_the_seed_points_of_a_big_study_do_not_cover_its_boxes():
    """At 600 seeds an arm's black points, drawn at full size and opacity, covered its box: past 30
    seeds they are smaller and see-through; up to 30 they are as before."""
    def strip(n: int):
        values = {arm: {s: 0.9 + 0.01 * math.sin(s + i) for s in range(n)} for i, arm in enumerate(("none", "l2"))}
        ctx = dataclasses.replace(_context(values), ok=pd.DataFrame([{"dataset": "wine", "arm": arm, "variant": "", "regularizer": arms.label(arm),
                                "test_metric": x, "gap_metric": 0.01} for arm, by_seed in values.items()
                               for x in by_seed.values()]))
        ctx.analysis["datasets"][0].update(selected={}, hib=True)
        fig = figures.seeds_figure(ctx, ctx.analysis["datasets"][0])
        points = [c for c in fig.axes[0].collections if len(c.get_offsets()) == n]
        plt.close(fig)
        assert len(points) == 2   # one strip per arm, every seed in it
        return points[0].get_alpha() or 1.0, float(points[0].get_sizes()[0])

    few, many = strip(10), strip(600)
    assert few[0] == 1.0 and many[0] <= 0.3 and many[1] < few[1] / 4


def test_a_loss_band_ends_at_zero():
    """A learning curve's 95% band over seeds whose one seed's loss is far above the others' (0.1,
    0.1, 2.0): the t-band reached down to -2.0, a loss no model can have; it now ends at 0, its top
    and the mean line as they were. The other arm's band (no spread) is untouched."""
    import tempfile
    from pathlib import Path

    from pipeline import stats

    with tempfile.TemporaryDirectory() as folder:
        data, a, _ = _study_in_mlflow(Path(folder), {0: 0.90, 1: 0.88, 2: 0.91},
                                      {1e-4: {0: 0.91, 1: 0.89, 2: 0.915}, 1e-1: {0: 0.85, 1: 0.86, 2: 0.84}},
                                      losses={"none": {0: 0.1, 1: 0.1, 2: 2.0}})
        ctx = figure_context.FigureContext.of(data, a)
        fig = figures.curves_figure(ctx, a["datasets"][0])
    low, high = stats.t_interval([0.1, 0.1, 2.0])
    assert low < -1.9
    for ax in fig.axes:
        none_band, l1_band = (c.get_paths()[0].vertices[:, 1] for c in ax.collections)
        assert none_band.min() == 0.0 and none_band.max() == pytest.approx(high)
        assert none_band.min() <= ax.get_ylim()[0] + 0.2 and ax.get_ylim()[0] > -0.5   # the axis does not go to -2
        assert l1_band.min() == pytest.approx(0.3) and l1_band.max() == pytest.approx(0.3)
        assert list(ax.get_lines()[0].get_ydata()) == pytest.approx([2.2 / 3] * 3)
        # each arm its own line style, not colour alone (an accessibility audit): none solid, L1 dotted
        assert [line.get_linestyle() for line in ax.get_lines()] == ["-", ":"]
    plt.close(fig)
    # on a log axis (the arms' losses decades apart) such a band ends at the arm's
    # lowest seed: its end at 0 was drawn as spikes down to the panel's bottom
    with tempfile.TemporaryDirectory() as folder:
        data, a, _ = _study_in_mlflow(Path(folder), {0: 0.90, 1: 0.88, 2: 0.91},
                                      {1e-4: {0: 0.91, 1: 0.89, 2: 0.915}, 1e-1: {0: 0.85, 1: 0.86, 2: 0.84}},
                                      losses={"none": {0: 1e-4, 1: 1e-4, 2: 0.5}, 1e-4: {0: 1e-6, 1: 1e-6, 2: 1e-6}})
        ctx = figure_context.FigureContext.of(data, a)
        fig = figures.curves_figure(ctx, a["datasets"][0])
    for ax in fig.axes:
        none_band = ax.collections[0].get_paths()[0].vertices[:, 1]
        assert ax.get_yscale() == "log" and none_band.min() == pytest.approx(1e-4)
        assert none_band.max() == pytest.approx(stats.t_interval([1e-4, 1e-4, 0.5])[1])
    plt.close(fig)


def test_the_size_figure_draws_the_tables_t_interval(tmp_path):
    """The training-size figure's band is each size's 95% t-interval over seeds, as the tables
    give it, not seaborn's bootstrap band (which with 3 seeds spans little more than their range,
    so that arms looked apart where the verdicts were undecided)."""
    from pipeline import stats
    from pipeline.report import analysis, collect
    from pipeline.study import load_study
    from pipeline.tracking import Tracker

    from .conftest import run_cli, study_env, tiny_study_dict, write_study

    write_study(tmp_path / "s.yaml", tiny_study_dict(name="sz", seeds=3, arms=["none", "l2"], epochs=2,
                                                     train_sizes=[40, 100], datasets=[{"name": "wine"}]))
    env = study_env(tmp_path)
    proc = run_cli(["ablation", "--study", "s.yaml", "--no-report"], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = collect.collect(load_study(tmp_path / "s.yaml"), Tracker(env["MLFLOW_TRACKING_URI"]))
    ctx = figure_context.FigureContext.of(data, analysis.analyze(data))
    [group] = ctx.ok["group"].unique()
    fig = figures.sizes_figure(ctx, group)
    test_panel = fig.axes[0]
    rows = list(ctx.ok[(ctx.ok["arm"] == "none") & (ctx.ok["n_train"] == 40)]["test_metric"])
    summary = stats.summarize(rows, (0.0, 1.0))
    assert len(rows) == 3 and summary.ci_high > summary.ci_low
    band = test_panel.collections[0].get_paths()[0].vertices
    at_40 = band[band[:, 0] == 40][:, 1]
    assert at_40.min() == pytest.approx(summary.ci_low) and at_40.max() == pytest.approx(summary.ci_high)
    assert test_panel.get_xlabel() == "training samples (log scale)"
    plt.close(fig)


def test_weights_without_histograms_say_where_they_were(tmp_path, monkeypatch):
    """A study whose runs' artifact folder is gone (deleted with `make clean` in another folder, a
    packaging audit) drew an empty |w| panel and a matplotlib warning: the panel says why."""
    data, a, _ = _study_in_mlflow(tmp_path, {0: 0.90, 1: 0.88, 2: 0.91}, {1e-4: {0: 0.91, 1: 0.89, 2: 0.915}})
    data.histograms = {}
    ctx = figure_context.FigureContext.of(data, a)
    said = []
    monkeypatch.setattr(figures, "_png", lambda fig: said.append([t.get_text() for t in fig.axes[0].texts]) or "png")
    assert figures.weights(ctx, a["datasets"][0]) == "png"
    assert said == [["no weight histograms found: they are files of the runs\n(MLflow artifacts), missing from the "
                     "runs' artifact folder"]]


# --- readable at the size shown (an accessibility audit: 6-7 pt legends, shrunk further on a page) --

# the widest figure the PDF shows unshrunk: its 186 mm text block at 100 CSS px per figure inch (the
# template's figure_width), less savefig's 0.1 in of tight padding on each side
PDF_INCHES = (210 - 24) / 25.4 * 96 / 100 - 0.2


def _too_small_or_wide(fig) -> tuple[list, float]:
    """The figure's visible texts smaller than figure_context.SMALL pt (text, size), and its drawn
    width in inches."""
    from matplotlib.text import Text

    fig.canvas.draw()
    small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < figure_context.SMALL]
    return small, fig.get_tightbbox(fig.canvas.get_renderer()).width


def test_every_figure_s_text_is_readable_where_it_is_shown(tmp_path):
    """The tuning history's legend was 6 pt, a path's labels 7 pt, on figures up to 10 in wide that
    the PDF shrank to its 7.3 in: every text of every figure is now at least SMALL (9) pt, on a
    figure no wider than the PDF shows at the size drawn (the report's theme, as draw_all sets it)."""
    import numpy as np

    figures.theme()
    data, a, _ = _study_in_mlflow(tmp_path, {0: 0.90, 1: 0.88, 2: 0.91},
                                  {1e-4: {0: 0.91, 1: 0.89, 2: 0.915}, 1e-1: {0: 0.5, 1: 0.6, 2: 0.55}})
    data.histograms = {r: {"counts": [5, 10, 20, 40, 25], "edges": [0, 1e-6, 1e-4, 1e-2, 1, 10]}
                       for r in data.runs["run_id"]}
    data.tuning = pd.DataFrame([{"dataset": "wine", "arm": "l1", "number": n, "objective": 0.9 + 0.01 * n,
                                 "status": "FINISHED", "spent": True, "l1": 10 ** -(n + 3)} for n in range(3)])
    ctx = figure_context.FigureContext.of(data, a)
    [d] = a["datasets"]
    built = {"seeds": figures.seeds_figure(ctx, d), "curves": figures.curves_figure(ctx, d),
             "weights": figures.weights_figure(ctx, d), "tuning": figures.tuning_figure(ctx, d),
             "paths": path_figure.draw(ctx, d), "forest": figures.forest_figure(_context(DIVERGED)),
             "cd": figures.cd_figure(["none", "dropout", "L1", "L2", "dropout+L2"], list(np.linspace(1.5, 4.2, 5)), 2.7)}
    for name, fig in built.items():
        assert fig is not None, name
        small, width = _too_small_or_wide(fig)
        assert not small, (name, small)
        assert width <= PDF_INCHES, (name, width)
        plt.close(fig)


def test_the_sparsity_bars_are_told_apart_by_hatching_not_colour_alone(tmp_path):
    """The bars of small weights were told apart by colour alone ("colours as on the left"): each
    arm's bars now have a hatching of their own, and a legend below the axes says whose is which."""
    data, a, _ = _study_in_mlflow(tmp_path, {0: 0.90, 1: 0.88, 2: 0.91}, {1e-4: {0: 0.91, 1: 0.89, 2: 0.915}})
    ctx = figure_context.FigureContext.of(data, a)
    fig, ax = plt.subplots()
    figures.sparsity_bars(ax, figures._finished(ctx, a["datasets"][0]), ctx)
    by_arm = [{bar.get_hatch() or "" for bar in bars} for bars in ax.containers]
    assert len(by_arm) == 2 and all(len(h) == 1 for h in by_arm) and by_arm[0] != by_arm[1]
    assert "colour" not in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["none", "L1"]
    assert [h.get_hatch() or "" for h in ax.get_legend().legend_handles] == [h for [h] in map(list, by_arm)]
    plt.close(fig)


def test_the_forest_s_words_give_each_arm_s_difference_and_its_legend():
    """The forest plot's alt text was "forest plot of paired differences to none": it now names each
    arm's verdict and difference as the tables write them, and its caption says the legend that was
    only inside the image (filled and open dots, the ROPE's shading, the arrowheads)."""
    alt, caption = figure_words.forest_words(_context(DIVERGED))
    assert "wine: L2 undecided, -43.0 pt [-100.0, 54.5]*" in alt and "L1 " in alt
    assert all(w in caption for w in ("filled dot", "open one", "ROPE", "◀"))


def test_a_learning_curve_s_axis_label_stays_beside_its_own_panel(tmp_path):
    """The synthetic tutorial's curves on a log axis: the y label "MSE (in training units), mean and 95%
    CI over seeds (log scale; ...)" ran past its panel's height, and the right panel's ran into the left
    panel's title. Each label now fits beside its panel, and no panel's words cross another's."""
    figures.theme()
    data, a, _ = _study_in_mlflow(tmp_path, {0: 0.90, 1: 0.88, 2: 0.91},
                                  {1e-4: {0: 0.91, 1: 0.89, 2: 0.915}, 1e-1: {0: 0.85, 1: 0.86, 2: 0.84}},
                                  losses={"none": {0: 1e-4, 1: 1e-4, 2: 2e-4}, 1e-4: {0: 0.5, 1: 0.5, 2: 0.6}})
    ctx = figure_context.FigureContext.of(data, a)
    for task in ("regression", "classification"):
        fig = figures.curves_figure(ctx, dict(a["datasets"][0], task=task))
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        assert all(ax.get_yscale() == "log" for ax in fig.axes)
        words = [[t.get_window_extent(renderer) for t in (ax.title, ax.xaxis.label, ax.yaxis.label)] for ax in fig.axes]
        for ax, (_, _, label) in zip(fig.axes, words):
            assert label.height <= ax.get_window_extent(renderer).height, (task, ax.get_ylabel())
        for i, mine in enumerate(words):
            for theirs in words[i + 1:]:
                assert not any(m.overlaps(t) for m in mine for t in theirs), task
        plt.close(fig)


def test_the_seed_figure_s_words_name_every_arm_tied_for_best_or_worst():
    """Pima on 4 seeds: dropout and dropout+L2 both scored 0.71875 on average, and the box plot's
    alt text said "worst: dropout+L2 (0.7188)" as if dropout did better. Every arm at the best or
    the worst mean is named; where all arms share one mean, that is what is said."""
    from pipeline import stats

    def rows(means):
        return [{"label": label, "summary": stats.summarize([m - 0.01, m + 0.01])} for label, m in means.items()]

    d = {"label": "pima", "metric": "accuracy", "hib": True,
         "arms": rows({"none": 0.73828125, "dropout": 0.71875, "L1": 0.7434895833, "dropout+L2": 0.71875})}
    alt, _ = figure_words.seeds_words(None, d)
    assert alt.endswith("Best mean test accuracy: L1 (0.7435); worst: dropout and dropout+L2 (0.7188).")
    d["arms"] = rows({"none": 0.9, "L2": 0.9})
    assert figure_words.seeds_words(None, d)[0].endswith("Every arm's mean test accuracy is the same (0.9000).")
    d.update(metric="MSE", hib=False, arms=rows({"none": 0.0114, "L2": 0.0071, "dropout": 0.0159}))
    assert figure_words.seeds_words(None, d)[0].endswith("Best mean test MSE: L2 (0.00710); worst: dropout (0.0159).")
