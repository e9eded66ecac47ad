"""Report, the regularization path figure: per arm with a path, three panels against the strength
(test metric, train-test gap, what the strength does to the weights), none's band beside them.

figures.paths draws it into the page; this module builds the matplotlib figure and its panels.
"""

from __future__ import annotations

import math
from typing import Optional

from .. import arms, path_points, path_summary, stats
from ..task import METRICS
from .figure_context import PAGE_HEIGHT, PAGE_WIDTH, SMALL, TEXT, FigureContext


def draw(ctx: FigureContext, d: dict):
    """The paths figure in matplotlib, None where no path point has a finished run."""
    import matplotlib.pyplot as plt

    # an arm whose every point failed has nothing to draw (its path table says so; its log axis
    # had no data and stopped the report)
    drawn = {arm: variants for arm, variants in (d.get("paths") or {}).items() if any(variants.values())}
    if not drawn:
        return None
    # an arm a row, its three panels across: three arms as columns (10 inches wide) were shrunk to
    # 3-4 pt text on a PDF page; a row of three, PAGE_WIDTH wide, fits the page at the size it was drawn
    fig, axes = plt.subplots(len(drawn), 3, figsize=(PAGE_WIDTH, min(3.4 * len(drawn), PAGE_HEIGHT)), squeeze=False)
    metric, legends = METRICS[d["metric_name"]], []
    for row, (arm, variants) in enumerate(drawn.items()):
        order = path_points.strength_order(list(variants)) or list(variants)
        lines, axis = path_lines(order)
        lines = _same_lines_named(lines, [variants[v] for v in order])
        marks = [(d["path_tables"][arm]["one_se"], "D", "strongest within 1 SE"),
                 (d["selected"].get(arm), "*", "selected on validation")]
        weights = "sparsity" if "l1" in arms.ARMS[arm].components else "norm"
        for col, key in enumerate(("test", "gap", weights)):
            ax = axes[row, col]
            # each mean's 95% CI cut to what the measure can be (a gap of a share within ±1, a share of
            # weights in [0, 1], a norm from 0), as the path table writes it
            bounds = path_summary.value_bounds(key, metric)
            sums = [stats.summarize([x[key] for x in variants[v].values()], bounds) for v in order]
            band = stats.summarize(list((d["values"] if key == "test" else d.get("secondary", {}).get(NONE_BAND[key], {}))
                                        .get(arms.BASELINE, {}).values()), bounds)
            _panel(ax, ctx.color(arm), lines, sums, band, [(order.index(v), m, label) for v, m, label in marks if v in order])
            if key != weights:   # the weights' panel keeps its own scale: none's sparsity may be far from L1's
                _leave_out_far_points(ax, _x_of(lines), sums, band,
                                      order.index(d["selected"][arm]) if d["selected"].get(arm) in order else None)
            _axes(ax, order, axis)
            # the title says what the y axis is: a y label beside it took a third of a narrow panel
            title = {"test": f"test {d['metric']}", "gap": "gap (better on train by)",
                     "sparsity": "share of |w| < 1e-3", "norm": "weight norm (L2)"}[key]
            ax.set_title(f"{arms.label(arm)}: {title}", fontsize=TEXT)
            if key == "sparsity":   # a share, written in % as the path lines and tables write it
                from matplotlib.ticker import PercentFormatter
                ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        legends.append(_legend(axes[row, 1], axes[row, 0], axis))
    # the legends, wider than a panel, left out of the panels' spacing (counted, they squeezed the
    # panels to a third of the width), with room for them below each row; the saved image holds them
    for legend in legends:
        legend.set_in_layout(False)
    fig.tight_layout(h_pad=5.5)
    for legend in legends:
        legend.set_in_layout(True)
    return fig


# none's band on a path panel: its values among the secondary outcomes
NONE_BAND = {"gap": "gap_metric", "sparsity": "sparsity_lt_0.001", "norm": "weight_l2_total"}


def _panel(ax, color, lines, sums, band, marks) -> None:
    """One panel of a path: a line per setting of the other path keys, none's band, and the
    selected (star) and one-SE (diamond) points as (position, marker, label)."""
    means = [s_.mean for s_ in sums]
    for n, (name, members, xs) in enumerate(lines):
        ax.errorbar(xs, [means[i] for i in members],
                    yerr=[[means[i] - sums[i].ci_low for i in members], [sums[i].ci_high - means[i] for i in members]],
                    marker="o", color=color, capsize=3, linestyle=LINE_STYLES[n % len(LINE_STYLES)], label=name or None)
    if band.n:   # on every row: a gap or a norm is read beside none's
        ax.axhspan(band.ci_low, band.ci_high, color="gray", alpha=0.2, label="none (95% CI)")
        ax.axhline(band.mean, color="gray", lw=0.8)
    x_of = _x_of(lines)
    # the one-SE diamond first, hollow: the star drawn over it stays visible where both mark one point
    for i, marker, label in marks:
        ax.plot(x_of[i], means[i], marker=marker, color="black", ms=9 if marker == "*" else 15,
                mfc="black" if marker == "*" else "none", linestyle="none", label=label, zorder=5, clip_on=False)


def _same_lines_named(lines, points: list[dict]) -> list:
    """path_lines' lines, one with an earlier line's numbers on every seed at every point (l2_mode
    weight_decay beside penalty under plain SGD) named so: it is drawn exactly under that one."""
    out = []
    for name, members, xs in lines:
        same = next((earlier for earlier, others, _ in lines[:len(out)] if name and len(others) == len(members)
                     and all(path_points.alike(points[i], points[j]) for i, j in zip(others, members))), None)
        out.append((f"{name} (the same numbers as {same}, under it)" if same else name, members, xs))
    return out


def _x_of(lines) -> dict[int, float]:
    """Each path point's x on its panel, from path_lines' lines."""
    return {i: x for _, members, xs in lines for i, x in zip(members, xs)}


def _leave_out_far_points(ax, x_of: dict[int, float], sums, band, selected: Optional[int]) -> None:
    """Keep the y axis on the points that matter: a point whose mean lies more than three times the
    height of the selected point's interval and none's band together beyond them (an underfit
    strength, 30 points below the rest) would flatten every other point into a line. Such points
    are left off the scale and marked at its edge with their mean."""
    ref = [(s_.ci_low, s_.ci_high) for s_ in ([sums[selected]] if selected is not None else []) + ([band] if band.n else [])]
    ref = [(lo, hi) for lo, hi in ref if math.isfinite(lo) and math.isfinite(hi)]
    if not ref:
        return
    lo, hi = min(r[0] for r in ref), max(r[1] for r in ref)
    if hi - lo <= 1e-9 * max(1.0, abs(hi)):   # no spread to measure by (every seed the same): nothing is far
        return
    reach = 3 * (hi - lo)
    far = {i for i, s_ in enumerate(sums) if math.isfinite(s_.mean) and not lo - reach <= s_.mean <= hi + reach}
    if not far:
        return
    # a kept point's interval, or its mean alone where one seed gives none: on the scale either way
    kept = [(s_.ci_low, s_.ci_high) if math.isfinite(s_.ci_low) else (s_.mean, s_.mean)
            for i, s_ in enumerate(sums) if i not in far and math.isfinite(s_.mean)] + ref
    bottom, top = min(k[0] for k in kept), max(k[1] for k in kept)
    pad = 0.12 * max(top - bottom, 1e-12)
    ax.set_ylim(bottom - pad, top + pad)
    for i in sorted(far):
        below = sums[i].mean < bottom
        edge = bottom - pad if below else top + pad
        ax.plot(x_of[i], edge, marker="v" if below else "^", color="black", ms=7, clip_on=False, zorder=6)
        ax.annotate(f"{sums[i].mean:.3g}", (x_of[i], edge), xytext=(0, 7 if below else -9), textcoords="offset points",
                    ha="center", fontsize=SMALL)


def _axes(ax, order: list[str], axis: str) -> None:
    """The x axis of a path panel: a strength on a log scale, dropout's p, or the variants' names."""
    if axis == "log":
        ax.set_xscale("log")
        strength = next((k for k in ("l1", "l2") if all(f"{k}=" in v for v in order)), "")
        ax.set_xlabel(f"{strength.upper()} strength\n(log scale)" if strength else "strength", fontsize=TEXT)
    elif axis == "linear":
        ax.set_xlabel("dropout p", fontsize=TEXT)
    else:
        ax.set_xticks(list(range(len(order))))
        ax.set_xticklabels(order, rotation=30, ha="right", fontsize=SMALL)
    ax.margins(x=0.08)   # the last point's hollow diamond and caps inside the axes, not cut at its edge


def _legend(ax, source, axis: str):
    """The legend below an arm's middle panel (inside, it covered the error bars of the strongest
    points), its diamond drawn at a legend's size."""
    from matplotlib.lines import Line2D

    handles, labels = source.get_legend_handles_labels()
    handles = [Line2D([], [], marker="D", color="black", mfc="none", ms=7, linestyle="none")
               if label == "strongest within 1 SE" else h for h, label in zip(handles, labels)]
    return ax.legend(handles, labels, fontsize=SMALL, loc="upper center", bbox_to_anchor=(0.5, -0.4 if axis else -0.6),
                     ncol=2, frameon=False)


LINE_STYLES = ("-", "--", ":", "-.")


def path_lines(order: list[str]) -> tuple[list[tuple[str, list[int], list]], str]:
    """The lines of a path's plot, (name, variant positions, x values) each, and the x axis: "log"
    with one L1/L2 strength taking several values (one line per setting of the other path keys:
    l2 x l2_mode gives one line per mode, named "l2_mode=decoupled"), "linear" for a path over
    dropout's p alone, else "" (one line through positions 0..n-1, the variant names as labels)."""
    keys = [path_points.variant_keys(v) for v in order]
    strengths = [k for k in ("l1", "l2") if keys and all(k in kk for kk in keys)]
    if keys and all(set(k) == {"dropout"} for k in keys):
        xs = _floats([k["dropout"] for k in keys])   # per-layer p ("0.2/0.5") stays names
        if len(set(xs)) == len(xs) >= 2:
            return [("", list(range(len(order))), xs)], "linear"
    if keys and len(strengths) == 1 and all(set(k) == set(keys[0]) for k in keys):
        s = strengths[0]
        xs = _floats([k[s] for k in keys])
        if len(set(xs)) >= 2:   # a strength with one value is no axis: the names say more
            groups: dict[str, list[int]] = {}
            for i, k in enumerate(keys):
                groups.setdefault(",".join(f"{n}={v}" for n, v in k.items() if n != s), []).append(i)
            return [(name, members, [xs[i] for i in members]) for name, members in groups.items()], "log"
    return [("", list(range(len(order))), list(range(len(order))))], ""


def _floats(texts: list[str]) -> list[float]:
    """The texts as numbers, or [] where one is not a number."""
    try:
        return [float(t) for t in texts]
    except ValueError:
        return []
