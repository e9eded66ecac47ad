"""Report, step 3: the figures, each one function, listed in FIGURES in the order the page shows them.

A figure function draws one PNG and returns it as a data URI, or None when it has nothing to
show. What it gets depends on its scope:
    "dataset"     f(ctx, d)      once per dataset; d is the dataset's entry of analyze()
    "study"       f(ctx)         once for the whole study
    "size-group"  f(ctx, group)  once per dataset split by a train_sizes axis
ctx (FigureContext) holds the data, the analysis, the finished runs and the arm colors.
The template loops over FIGURES, so a new plot is one function here and one line in FIGURES.
Matplotlib and seaborn are imported when drawing, not when this module is imported.
"""

from __future__ import annotations

import base64
import io
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pandas as pd

from .. import arms, metric_numbers, path_summary, stats, verdicts
from ..task import METRICS
from ..words import and_list
from .path_figure import draw as draw_paths
from .collect import ReportData
from .figure_context import ARM_HATCHES, PAGE_HEIGHT, PAGE_WIDTH, READABLE, SMALL, TEXT, FigureContext
from .figure_words import (cd_words, curves_words, forest_words, paths_words, seeds_words, sizes_words, tuning_words,
                           verdict_word, weights_words)

SCOPES = ("dataset", "study", "size-group")


@dataclass(frozen=True)
class Figure:
    name: str
    scope: str                          # one of SCOPES
    alt: str                            # the image's alt text; {key} is the dataset label or size group
    draw: Callable[..., Optional[str]]  # see the module docstring
    section: str = ""                   # study scope: the part of the page it sits in, "summary" | "across"
    heading: str = ""                   # a heading above the image, if any
    words: Optional[Callable[..., tuple[str, str]]] = None   # draw's arguments -> (alt text, caption): "in words" below

    def alt_for(self, key: str) -> str:
        return self.alt.format(key=key)


def size_groups(study) -> list[str]:
    """The datasets a train_sizes axis split into one plan per size."""
    return sorted({p.base for p in study.plans if p.group})


def draw_all(data: ReportData, analysis: dict) -> dict[tuple[str, str], str]:
    """Every figure of FIGURES that has something to show: (figure name, key) -> PNG data URI,
    the key being the dataset label, the size group, or "" for the study."""
    import matplotlib

    matplotlib.use("Agg")
    theme()
    ctx = FigureContext.of(data, analysis)
    drawn = {}
    for fig in FIGURES:
        for key, args in _targets(data, analysis)[fig.scope]:
            uri = fig.draw(ctx, *args)
            if uri:
                drawn[(fig.name, key)] = uri
    return drawn


def _targets(data: ReportData, analysis: dict) -> dict:
    """Per scope, what its figures are drawn for: [(key, the draw function's arguments after ctx)]."""
    return {"dataset": [(d["label"], (d,)) for d in analysis["datasets"]],
            "study": [("", ())],
            "size-group": [(g, (g,)) for g in size_groups(data.study)]}


def describe_all(data: ReportData, analysis: dict, drawn: dict) -> dict[tuple[str, str], tuple[str, str]]:
    """(figure name, key) -> (alt text, caption) for each figure of `drawn`: its words function's,
    else its alt (a title) for both."""
    ctx = FigureContext.of(data, analysis)
    said = {}
    for fig in FIGURES:
        for key, args in _targets(data, analysis)[fig.scope]:
            if (fig.name, key) in drawn:
                said[(fig.name, key)] = fig.words(ctx, *args) if fig.words else (fig.alt_for(key), fig.alt_for(key))
    return said


def theme() -> None:
    """seaborn's look for the report's figures, no text in them below SMALL points."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper", rc=READABLE)


def differences_for(data: ReportData, analysis: dict, label: str) -> Optional[str]:
    """One dataset's paired differences to none (the forest figure's panel for it)."""
    return forest(FigureContext.of(data, analysis), only=label)


@contextmanager
def _seeded_numpy(seed: int = 0):
    """numpy's global generator seeded inside the block, restored after it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")   # shown at 100 px per inch: see the template
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _finished(ctx: FigureContext, d: dict) -> pd.DataFrame:
    """The dataset's finished runs that stand for their arms: for an arm with a regularization
    path, only its variant selected on validation (the path figure shows the others)."""
    sub = ctx.ok[ctx.ok["dataset"] == d["label"]]
    return sub[sub["variant"] == sub["arm"].map(d.get("selected", {})).fillna("")]


def _point_names(d: dict, sep: str = " ") -> dict[str, str]:
    """{label: the arm as its verdicts name it ("L2 (l2=1e-05)", DatasetVerdicts.name)} for the arms
    of a path: its figures show that point's runs, and a bare "L2" hid which. `sep` before the point."""
    v = d["verdicts"]
    return {arms.label(arm): v.name(arm).replace(" (", sep + "(", 1) for arm in v.selected}


# --- per dataset ---------------------------------------------------------------------------------

def seeds(ctx: FigureContext, d: dict) -> Optional[str]:
    """Every seed visible: box plot of the test metric and the gap, with the points on top."""
    fig = seeds_figure(ctx, d)
    return None if fig is None else _png(fig)


def seeds_figure(ctx: FigureContext, d: dict):
    """seeds' matplotlib figure, None where the dataset has no finished run."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sub = _finished(ctx, d)
    sub = sub[sub["test_metric"].notna()]   # finished without a value (ROC AUC of one test class): seaborn crashed
    if not len(sub):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.6))
    gap = f"train - test {d['metric']}" if d["hib"] else f"test - train {d['metric']}"
    # many seeds: smaller, see-through points, so that they do not cover the boxes (600 seeds did)
    most = int(sub.groupby("regularizer", observed=True).size().max())
    size, alpha = (3, 1.0) if most <= 30 else (max(1.0, 3 * (30 / most) ** 0.5), max(0.25, (30 / most) ** 0.5))
    for ax, col, title in ((axes[0], "test_metric", f"test {d['metric']}"),
                           (axes[1], "gap_metric", f"generalization gap\n({gap}: better on train by)")):
        sns.boxplot(data=sub, x="regularizer", y=col, order=ctx.order, hue="regularizer", palette=ctx.palette,
                    ax=ax, fliersize=0, width=0.5, legend=False)
        with _seeded_numpy():   # seaborn jitters with numpy's global generator: the same picture every time
            sns.stripplot(data=sub, x="regularizer", y=col, order=ctx.order, color="black", size=size, alpha=alpha,
                          ax=ax, jitter=0.15)
        ax.set_title(title, fontsize=TEXT)
        ax.set_xlabel("")
        ax.set_ylabel("")
        if names := _point_names(d, "\n"):
            ax.set_xticks(ax.get_xticks(), [names.get(t.get_text(), t.get_text()) for t in ax.get_xticklabels()])
        if len(ctx.order) > 3:   # five arms' names at a readable size ran into each other
            ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig


def curves(ctx: FigureContext, d: dict) -> Optional[str]:
    """Learning curves: mean and 95% t-band over seeds, per arm."""
    fig = curves_figure(ctx, d)
    return None if fig is None else _png(fig)


def curves_figure(ctx: FigureContext, d: dict):
    """curves' matplotlib figure, None where the dataset has no finished run. A loss is never
    below 0 (cross-entropy, MSE): a band that reaches past it ends there. On a log axis a band
    that reaches below the arm's lowest seed ends at that seed: the t-band is symmetric in the
    loss, and its lower end near 0 was drawn as spikes decades down."""
    import matplotlib.pyplot as plt
    from scipy import stats as sst

    sub = _finished(ctx, d)
    if not len(sub):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.9), sharey=False)
    # as trained: dropout on, over the epoch's batches (a dropout arm's sits above its validation loss,
    # no negative gap: the gap figures are eval-mode numbers)
    for ax, key, title in ((axes[0], "train_data_loss", "training loss as trained (penalty left out;\n"
                                                        "dropout on, mean of the epoch's batches)"),
                           (axes[1], "val_loss", "validation loss")):
        drawn, bands, names = [], [], _point_names(d)
        for arm in ctx.data.study.arms:
            series = [ctx.data.curves[r][key] for r in sub[sub["arm"] == arm]["run_id"] if r in ctx.data.curves]
            series = [s for s in series if s]
            if not series:
                continue
            n_ep = min(len(s) for s in series)
            arr = np.array([s[:n_ep] for s in series])
            mean = arr.mean(0)
            drawn.append(mean)
            x = np.arange(1, n_ep + 1)
            ax.plot(x, mean, label=names.get(arms.label(arm), arms.label(arm)), color=ctx.color(arm),
                    linestyle=ctx.line(arm), marker="o" if n_ep < 3 else None)   # 1 epoch: a dot
            if len(arr) > 1:
                half = sst.t.ppf(0.975, len(arr) - 1) * arr.std(0, ddof=1) / math.sqrt(len(arr))
                bands.append((x, mean - half, mean + half, arr.min(0), ctx.color(arm)))
        log = spans_decades(drawn)   # none at 2e-14 beside L2 at 3e-4 (d2l): both 0 on a linear axis
        for x, low, high, lowest, color in bands:
            # one seed far above the rest (3 seeds: 0.1, 0.1, 2.0) took the band down to -2.0
            ax.fill_between(x, np.maximum(low, lowest) if log else np.maximum(low, 0.0), high, alpha=0.2, color=color)
        if log:
            ax.set_yscale("log")
            plain_log_labels(ax.yaxis)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        # short lines: on one line the log axis' label ran past the panel's height, into the left one's title
        ax.set_ylabel(LOSS_NAMES.get(d.get("task"), "loss") + ",\nmean and 95% CI over seeds"
                      + ("\n(log scale; the band no lower\nthan the lowest seed)" if log else ""), fontsize=SMALL)
    for ax in axes:   # each panel's own legend: the training panel was read without one
        if ax.get_lines():
            ax.legend(fontsize=SMALL)
    fig.tight_layout()   # a log panel's labels are wider: the right one's ran into the left panel
    return fig


def plain_log_labels(axis) -> None:
    """A log axis labelled in plain numbers (0.3, 2; 1e-05 where small), its minor ticks at 2, 3 and
    5 too where it spans less than two decades (matplotlib wrote 2 x 10^0, and the label ran into
    the next panel)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def minor(v, _):
        mantissa = v / 10 ** math.floor(math.log10(v)) if v > 0 else 0.0
        return f"{v:g}" if any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (2, 3, 5)) else ""

    low, high = axis.get_view_interval()
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(minor) if low > 0 and high / low < 100 else NullFormatter())


LOSS_NAMES = {"classification": "cross-entropy", "regression": "MSE (in training units)"}


def spans_decades(curves: list, decades: float = 1.0) -> bool:
    """Whether positive curves span more than `decades` powers of ten (a loss fitted to ~0 beside
    one that is not), which only a log axis shows; never with a value at or below 0. One decade:
    digits' validation loss falls from 2.25 to 0.22 in five epochs, and on a linear axis the 35
    epochs after, where the arms part and overfitting shows, were a few pixels high."""
    values = np.concatenate([np.ravel(c) for c in curves]) if curves else np.array([])
    values = values[np.isfinite(values)]
    return bool(len(values)) and bool((values > 0).all()) and float(values.max() / values.min()) > 10 ** decades


def weights(ctx: FigureContext, d: dict) -> Optional[str]:
    """Weight magnitudes and sparsity (the L1 effect): the |w| histogram per arm, and bars of the
    fraction of weights under three thresholds."""
    fig = weights_figure(ctx, d)
    return None if fig is None else _png(fig)


def weights_figure(ctx: FigureContext, d: dict):
    """weights' matplotlib figure, None where the dataset has no finished run."""
    import matplotlib.pyplot as plt

    sub = _finished(ctx, d)
    if not len(sub):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.6))
    top = 0.0   # the largest bin any arm has weights in: the axis ends there, not at the empty bins past it
    names = _point_names(d)
    drawn = 0
    for arm in ctx.data.study.arms:
        hists = [ctx.data.histograms.get(r) for r in sub[sub["arm"] == arm]["run_id"]]
        hists = [h for h in hists if h]
        if not hists:
            continue
        drawn += 1
        counts = np.sum([h["counts"] for h in hists], axis=0).astype(float)
        edges = [float(e) for e in hists[0]["edges"][1:]]  # upper edges; the first bin is [0, 1e-6)
        frac = counts / counts.sum()
        shares = frac[1:] if len(frac) == len(edges) + 1 else frac[:len(edges)]
        axes[0].step(edges, shares, where="pre", label=names.get(arms.label(arm), arms.label(arm)), color=ctx.color(arm),
                     linestyle=ctx.line(arm))
        top = max([top, *(e for e, s in zip(edges, shares) if s > 0 and math.isfinite(e))])
    axes[0].set_xscale("log")
    if top > 0:
        axes[0].set_xlim(right=top * 1.5)
    axes[0].set_title("|w| distribution (all layers)", fontsize=TEXT)
    axes[0].set_xlabel("|w| (log scale; the value at 1e-6\nis every |w| below it)", fontsize=SMALL)
    axes[0].set_ylabel("share of the weights", fontsize=SMALL)
    if drawn:
        axes[0].legend(fontsize=SMALL)
    else:   # an empty panel read as a bug: say where the histograms were to be
        axes[0].text(0.5, 0.5, "no weight histograms found: they are files of the runs\n(MLflow artifacts), missing "
                     "from the runs' artifact folder", ha="center", va="center", fontsize=SMALL, transform=axes[0].transAxes)
    sparsity_bars(axes[1], sub, ctx)
    fig.tight_layout()
    return fig


def sparsity_bars(ax, sub: pd.DataFrame, ctx: FigureContext) -> None:
    """The fraction of weights under each threshold, a bar per arm in the histogram's colours and
    each arm's own hatching (ARM_HATCHES): bars told apart by colour alone ("colours as on the
    left") were one bar to a reader who does not see those colours apart. Its legend below the axes:
    one on the axes sat on the bars (Pima's L2 bars reach the top of the axis)."""
    import seaborn as sns
    from matplotlib.patches import Patch

    sp = sub.melt(id_vars=["regularizer"], value_vars=["sparsity_lt_0.0001", "sparsity_lt_0.001", "sparsity_lt_0.01"],
                  var_name="threshold", value_name="fraction")
    sp["threshold"] = sp["threshold"].str.replace("sparsity_lt_", "|w| < ")
    sns.barplot(data=sp, x="threshold", y="fraction", hue="regularizer", hue_order=ctx.order, palette=ctx.palette,
                ax=ax, errorbar=None, legend=False, saturation=1)   # the histogram's colours, not desaturated
    present = [label for label in ctx.order if label in set(sp["regularizer"])]
    by_label = {arms.label(a): a for a in ctx.data.study.arms} if ctx.data else {}
    hatches = {label: ARM_HATCHES[list(arms.ARMS).index(by_label.get(label, "none")) % len(ARM_HATCHES)]
               for label in present}
    for label, bars in zip(present, ax.containers):   # seaborn draws hue by hue, in hue_order
        for bar in bars:
            bar.set_hatch(hatches[label])
            bar.set_edgecolor("0.15")
            bar.set_linewidth(0.5)
    ax.legend(handles=[Patch(facecolor=ctx.palette[label], edgecolor="0.15", hatch=hatches[label], label=label)
                       for label in present], loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    ax.set_title("fraction of small weights", fontsize=TEXT)
    ax.set_xlabel("")


def tuning(ctx: FigureContext, d: dict) -> Optional[str]:
    """When the study tuned: optimization history (budgets equal, converged?) and, per arm, the
    validation metric against its tuned strength (the U-shape)."""
    fig = tuning_figure(ctx, d)
    return None if fig is None else _png(fig)


def _label_a_narrow_log_axis(ax, values) -> None:
    """A log axis whose values lie within one decade (tuned L1 strengths from 1.5e-4 to 7.3e-4) has
    no power of ten to label, and showed no tick label at all: three labelled ticks across them."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x) & (x > 0)]
    if not len(x) or np.log10(x.max() / x.min()) >= 1:
        return
    ticks = np.geomspace(x.min(), x.max(), 3) if x.max() > x.min() else x[:1]
    ax.set_xticks(ticks, [f"{t:.2g}" for t in ticks])


def tuning_figure(ctx: FigureContext, d: dict):
    """tuning's matplotlib figure, None where the dataset was not tuned. The trial the grid took its
    strengths from is starred; the best-so-far lines differ in style (two arms at the same best
    drew one line)."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    trials = ctx.data.tuning
    sub = trials[trials["dataset"] == d["label"]] if len(trials) else trials
    if not len(sub):
        return None
    tuned = [a for a in ctx.data.study.arms if a in set(sub["arm"])]
    # two panels a row: five in one were shrunk to 3 pt text on a PDF page, three to 6 pt on a phone
    cols = min(2, 1 + len(tuned))
    rows = math.ceil((1 + len(tuned)) / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(PAGE_WIDTH / 2 * cols, min(3.3 * rows, PAGE_HEIGHT)), squeeze=False)
    axes = grid.reshape(1, -1)
    for spare in axes[0, 1 + len(tuned):]:
        spare.axis("off")
    ax = axes[0, 0]
    for arm in tuned:
        t = sub[(sub["arm"] == arm)].sort_values("number")
        vals = t["objective"].where(t["status"] == "FINISHED")
        best = (vals.cummax() if d["hib"] else vals.cummin()).ffill()
        ax.step(t["number"], best, where="post", label=arms.label(arm), color=ctx.color(arm), linestyle=ctx.line(arm))
    ax.set_title("best validation metric so far", fontsize=TEXT)
    ax.set_xlabel("tuning trial", fontsize=TEXT)
    ax.set_ylabel(f"validation {d['metric']}", fontsize=TEXT)
    # below the panel: inside, it covered a line at the top (every arm ends near the best)
    ax.legend(fontsize=SMALL, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=min(2, len(tuned)), frameon=False)
    for ax, arm in zip(axes[0, 1:], tuned):
        t = sub[(sub["arm"] == arm) & (sub["status"] == "FINISHED")]
        col = arms.ARMS[arm].tuned_component or "l2"
        ax.scatter(t[col], t["objective"], color=ctx.color(arm), s=14)
        if t["objective"].notna().any():   # the trial the grid took its strengths from (Optuna's best)
            ts = t.sort_values("number")   # by position: the frame's index repeats across datasets
            chosen = ts.iloc[int((np.nanargmax if d["hib"] else np.nanargmin)(ts["objective"].to_numpy(dtype=float)))]
            ax.plot(chosen[col], chosen["objective"], marker="*", color="black", ms=10, linestyle="none",
                    label="chosen", zorder=5)
        # those a Ctrl-C or a dead worker stopped spent nothing and were asked again: not "failed"
        pruned = sub[(sub["arm"] == arm) & (sub["status"] != "FINISHED") & sub["spent"].astype(bool)]
        if len(pruned):
            ax.scatter(pruned[col], [np.nanmin(t["objective"]) if len(t) else 0] * len(pruned),
                       marker="x", color="gray", s=12, label="pruned/failed")
        ax.legend(fontsize=SMALL)
        if col != "dropout":
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # narrow decades overlap
            _label_a_narrow_log_axis(ax, sub[sub["arm"] == arm][col])
        ax.tick_params(labelsize=SMALL)
        ax.set_xlabel("dropout p (mean over layers)" if col == "dropout" else f"{col.upper()} strength (log scale)", fontsize=TEXT)
        ax.set_ylabel(f"validation {d['metric']}", fontsize=TEXT)
        others = [c for c in arms.ARMS[arm].components if c != col]   # dropout+L2: its p was tuned too, not drawn
        ax.set_title(f"{arms.label(arm)}: validation vs {'mean p' if col == 'dropout' else col}"
                     + (f"\n({and_list(others)} tuned too)" if others else ""), fontsize=TEXT)
    fig.tight_layout()
    return fig


# --- the whole study -------------------------------------------------------------------------------

def forest(ctx: FigureContext, only: Optional[str] = None) -> Optional[str]:
    """Paired differences to none with their 95% CIs: one panel per dataset (metrics differ in
    scale); `only` a dataset label: that dataset's panel alone (the figure on its parent run)."""
    fig = forest_figure(ctx, only)
    return None if fig is None else _png(fig)


def forest_figure(ctx: FigureContext, only: Optional[str] = None):
    """forest's matplotlib figure, None where no dataset has a comparison with none. Each CI is
    drawn as the tables write it: cut at what two values of the metric can differ by (±100 pt
    for a share, metric_numbers.shown_ends), an arrowhead at an end cut there."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    with_pairs = [d for d in ctx.analysis["datasets"] if d["paired"] and only in (None, d["label"])]
    if not with_pairs:
        return None
    cut = False   # any CI cut at its metric's bounds: the caption says what the arrowheads mean
    heights = [0.34 * len(d["paired"]) + 0.8 for d in with_pairs]
    fig, axes = plt.subplots(len(with_pairs), 1, figsize=(PAGE_WIDTH - 1.8, min(sum(heights) + 1.2, PAGE_HEIGHT)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, d in zip(axes[:, 0], with_pairs):
        items, metric = list(d["paired"].items()), d["verdicts"].metric
        m = METRICS[metric]
        for i, (arm, p) in enumerate(items):   # in the units and direction the tables write (metric_numbers.shown)
            y = len(items) - 1 - i
            color = ctx.palette.get(arms.label(arm), "gray")
            # [-140.5, 54.5] pt of accuracy is drawn as written: [-100.0, 54.5]*; none's own values on
            # every seed as the tables write them, without the floored interval
            if not math.isnan(p.ci_low) and not p.identical:
                ends = metric_numbers.shown_ends(p, metric)
                ax.plot(ends, [y, y], color=color, lw=2)
                for end, past, marker in zip(ends, metric_numbers.cut_sides(p, metric), "<>"):
                    if past:   # an arrowhead where the interval goes on past what a difference can be
                        ax.plot(end, y, marker=marker, color=color, ms=8, linestyle="none", clip_on=False)
                        cut = True
            # the verdict beside its interval: an uncorrected CI clear of zero may still be undecided
            # after Holm; open marker for a comparison without a verdict
            decided = p.verdict in stats.FINAL
            ax.plot(metric_numbers.shown(p.mean_diff, metric), y, "o", color=color,
                    markerfacecolor=color if decided else "white")
            ax.text(1.01, y, verdict_word(p) + ("\n(the same on every seed)" if p.identical else ""), transform=ax.get_yaxis_transform(), fontsize=SMALL, va="center",
                    color="black" if decided else "0.45")
        rope = metric_numbers.shown(d["rope"], metric) if not math.isnan(d["rope"]) else math.nan
        if not math.isnan(rope):
            ax.axvspan(-abs(rope), abs(rope), color="0.9", zorder=0)
        ax.axvline(0, color="black", lw=0.8)
        # each tick its own number (a price's 2 000 000): matplotlib's shared offset ("1e7") sits on the caption
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: metric_numbers.quantity(x, 4)))
        ax.set_yticks(range(len(items)))
        names = _point_names(d)
        ax.set_yticklabels([names.get(arms.label(a), arms.label(a)) for a, _ in reversed(items)], fontsize=SMALL)
        ax.set_ylim(-0.6, len(items) - 0.4)
        better = "positive" if m.higher_is_better else "negative"
        unit = "points" if m.share else m.label
        ax.set_title(f"{d['label']}: test {d['metric']}, arm − none\nin {unit} ({better} = better)", fontsize=TEXT, loc="left")
    tested = sum(verdicts.holm_counted(p) for d in ctx.analysis["datasets"] for p in d["paired"].values())
    axes[-1, 0].set_xlabel("paired difference to none with each comparison's own 95% CI"
                           + (f"\n(the verdicts also correct for the study's {tested} comparisons, by Holm)" if tested > 1 else "")
                           + "\nshaded: the ROPE (practically no difference);\nopen marker: no verdict yet"
                           + ("\n◀ ▶: a CI cut at the most a difference can be\n(±100 points for a share), as * in the tables"
                              if cut else ""),
                           fontsize=SMALL)
    fig.tight_layout()
    return fig


def critical_difference(ctx: FigureContext) -> Optional[str]:
    across = ctx.analysis["across"]
    if not across or math.isnan(across["result"].critical_difference):
        return None
    return cd_diagram(across["labels"], across["result"].avg_ranks, across["result"].critical_difference)


def cd_diagram(labels: list[str], ranks: list[float], cd: float) -> str:
    """Critical-difference diagram (Demsar 2006): arms on a rank axis, the CD as a bar, and arms
    whose average ranks differ by less than the CD joined by a line."""
    return _png(cd_figure(labels, ranks, cd))


def cd_figure(labels: list[str], ranks: list[float], cd: float):
    """cd_diagram's matplotlib figure."""
    import matplotlib.pyplot as plt

    k = len(labels)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, min(1.2 + 0.36 * k, PAGE_HEIGHT)))
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(-0.9 - 0.8 * k, 2)
    ax.invert_xaxis()
    ax.axhline(0, color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.15], color="black", lw=1)
        ax.text(r, 0.3, str(r), ha="center", fontsize=SMALL)
    order = np.argsort(ranks)
    for i, j in enumerate(order):
        y = -0.9 - 0.8 * i   # below the clique bars, a line of text apart
        ax.plot([ranks[j], ranks[j]], [0, y], color="gray", lw=0.8)
        ax.text(ranks[j] + (0.06 if ranks[j] > (k + 1) / 2 else -0.06), y, f"{labels[j]} ({ranks[j]:.2f})",
                va="center", fontsize=SMALL, ha="left" if ranks[j] > (k + 1) / 2 else "right",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    # cliques: maximal runs of arms (sorted by rank) within the CD
    srt = sorted(ranks)
    level, reach = 0, -1
    for i in range(k):
        j = max(x for x in range(i, k) if srt[x] - srt[i] < cd)
        if j > i and j > reach:  # not inside the previous clique
            ax.plot([srt[i], srt[j]], [-0.25 - 0.12 * level, -0.25 - 0.12 * level], color="black", lw=3)
            level, reach = level + 1, j
    ax.plot([1, 1 + cd], [1.3, 1.3], color="black", lw=2)
    ax.text(1 + cd / 2, 1.5, f"CD = {cd:.2f}", ha="center", fontsize=SMALL)
    ax.axis("off")
    return fig


# --- per training-set-size group -------------------------------------------------------------------

def sizes(ctx: FigureContext, group: str) -> Optional[str]:
    """Test metric and gap against training-set size, per arm (needs at least two sizes): the mean
    over seeds and its 95% t-interval, as the tables give it (seaborn's bootstrap band spans little
    more than the seeds' range with 3 to 5 seeds: two arms' bands looked apart where the tables
    were undecided)."""
    fig = sizes_figure(ctx, group)
    return None if fig is None else _png(fig)


def sizes_figure(ctx: FigureContext, group: str):
    """sizes' matplotlib figure, None where the group has one training-set size."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sub = ctx.ok[ctx.ok["group"] == group]
    if sub["n_train"].nunique() < 2:
        return None
    from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.6))
    m = METRICS[sub["metric_name"].iloc[0]]
    sizes_used = sorted(sub["n_train"].unique())
    for ax, col, key, title in ((axes[0], "test_metric", "test", f"test {m.label}"),
                                (axes[1], "gap_metric", "gap", "gap (better on train by)")):
        bounds = path_summary.value_bounds(key, m)
        sns.lineplot(data=sub, x="n_train", y=col, hue="regularizer", hue_order=ctx.order, palette=ctx.palette,
                     style="regularizer", style_order=ctx.order, dashes=ctx.dashes(), marker="o", errorbar=lambda v, b=bounds: ((s := stats.summarize(v, b)).ci_low, s.ci_high), ax=ax)
        ax.set_xscale("log")   # ticks at the sizes trained, as plain numbers (log's minor labels overlapped)
        ax.xaxis.set_major_locator(FixedLocator(sizes_used))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("training samples (log scale)")
        ax.set_ylabel("mean and 95% CI over seeds", fontsize=SMALL)
        ax.set_title(f"{group}: {title}\nvs training-set size", fontsize=TEXT)
    fig.tight_layout()
    return fig


# --- the figures in words -------------------------------------------------------------------------
# --- the registry: the page shows the figures of each scope in this order --------------------------

def paths(ctx: FigureContext, d: dict) -> Optional[str]:
    """Per arm with a regularization path, three panels against the strength (mean and 95% CI over
    seeds; log axis for L1/L2, p for dropout): the test metric, the train-test gap and what the
    strength does to the weights (L1: the share of |w| < 1e-3; else the weights' norm), none as a
    band, the strength selected on validation (star) and the strongest within one SE of it (diamond)."""
    fig = draw_paths(ctx, d)
    return None if fig is None else _png(fig)


FIGURES: list[Figure] = [
    # a dataset's figures each under a heading that names the dataset (show_figures adds it): a PDF
    # page that held only box plots titled "test accuracy" did not say whose they were
    Figure("seeds", "dataset", "{key}: test metric and gap per seed", seeds, heading="Each seed: test metric and gap",
           words=seeds_words),
    Figure("curves", "dataset", "{key}: learning curves", curves, heading="Learning curves", words=curves_words),
    Figure("weights", "dataset", "{key}: weight magnitudes and sparsity", weights, heading="Weights: magnitudes and sparsity",
           words=weights_words),
    Figure("tuning", "dataset", "{key}: tuning history and sensitivity", tuning, heading="Tuning: history and sensitivity",
           words=tuning_words),
    Figure("paths", "dataset", "{key}: regularization paths", paths, section="paths",   # under the path tables
           heading="Regularization paths: metric, gap and weights against strength", words=paths_words),
    Figure("forest", "study", "forest plot of paired differences to none", forest, section="summary",
           heading="Paired differences to none, every dataset", words=forest_words),
    Figure("cd", "study", "critical difference diagram", critical_difference, section="across", words=cd_words),
    Figure("sizes", "size-group", "{key}: metric and gap against training-set size", sizes, words=sizes_words),
]
