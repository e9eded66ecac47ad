"""Report, the figures in words: each figure's alt text (what it shows, which arms, which axes, and
the main result where the analysis already has it) and its caption (how to read it: the legend, the
marks, the line styles and hatchings, which a PNG alone gave only to those who see its colours).
One function per figure, with that figure's arguments after ctx, returning (alt, caption);
figures.Figure.words names it."""

from __future__ import annotations

import math

from .. import arms, metric_numbers, stats
from ..words import and_list
from .analysis import three_digits as _strength_digits
from .figure_context import FigureContext


# figure_context.ARM_LINES and ARM_HATCHES in words, in arms.ARMS' order
LINE_WORDS = ("solid", "dashed", "dotted", "dash-dot", "dash-dot-dot")
HATCH_WORDS = ("plain", "striped /", "dotted", "striped \\", "cross-hatched")


def _study_arms(ctx: FigureContext) -> list[str]:
    return list(ctx.data.study.arms) if ctx.data is not None else []


def _styled(ctx: FigureContext, words: tuple, only=None) -> str:
    """ "none solid, dropout dashed, ..." for the study's arms (those of `only`)."""
    return and_list([f"{arms.label(a)} {words[list(arms.ARMS).index(a) % len(words)]}" for a in only or _study_arms(ctx)])


def three_digits(strengths) -> str:
    """A chosen strength (an MLflow param) as the tables write it: 3 significant digits (analysis'
    rule), per-layer dropout "0.297/0.452" (MLflow's "0.296558,0.452126")."""
    return _strength_digits(str(strengths)).replace(",", "/")


def _written(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else metric_numbers.table_value(float(x))


def seeds_words(ctx: FigureContext, d: dict) -> tuple[str, str]:
    rows = [r for r in d["arms"] if r["summary"].n]
    alt = (f"{d['label']}: box plots of the test {d['metric']} (left) and of the generalization gap (right) of "
           f"{and_list([r['label'] for r in rows])}, every seed a dot.")
    if rows:
        ranked = sorted(rows, key=lambda r: r["summary"].mean, reverse=d["hib"])
        # every arm tied at an end is named: "worst: dropout+L2" beside dropout's equal mean read as a ranking
        best, worst = ([r["label"] for r in rows if stats.same_result(r["summary"].mean, end["summary"].mean)]
                       for end in (ranked[0], ranked[-1]))
        if len(best) == len(rows):
            alt += f" Every arm's mean test {d['metric']} is the same ({_written(ranked[0]['summary'].mean)})."
        else:
            alt += (f" Best mean test {d['metric']}: {and_list(best)} ({_written(ranked[0]['summary'].mean)}); "
                    f"worst: {and_list(worst)} ({_written(ranked[-1]['summary'].mean)}).")
    return alt, ("Each box spans the middle half of an arm's seeds with the median across it; each dot is one "
                 "seed. The gap is how much better the model does on its training data than on test data.")


def curves_words(ctx: FigureContext, d: dict) -> tuple[str, str]:
    return (f"{d['label']}: learning curves against epoch, training loss (left) and validation loss (right), a line "
            f"per arm ({and_list([arms.label(a) for a in _study_arms(ctx)])}) with its 95% band over seeds.",
            f"Each line is an arm's mean over seeds, its shaded band the 95% CI. Line styles: {_styled(ctx, LINE_WORDS)}. "
            "The training loss is as trained: the penalty left out, dropout on, the mean of the epoch's batches.")


def weights_words(ctx: FigureContext, d: dict) -> tuple[str, str]:
    shares = [f"{r['label']} {100 * r['sparsity']:.1f}%" for r in d["arms"]
              if r.get("sparsity") is not None and not math.isnan(r["sparsity"])]
    return (f"{d['label']}: left, the share of weights at each size |w| on a log axis, a line per arm; right, bars "
            "of the fraction of weights below 1e-4, 1e-3 and 1e-2, a bar per arm."
            + (f" Below 1e-3: {and_list(shares)}." if shares else ""),
            f"Left, line styles: {_styled(ctx, LINE_WORDS)}. Right, each arm's bars in its colour and hatching: "
            f"{_styled(ctx, HATCH_WORDS)}.")


def tuning_words(ctx: FigureContext, d: dict) -> tuple[str, str]:
    trials = ctx.data.tuning
    sub = trials[trials["dataset"] == d["label"]] if len(trials) else trials
    tuned = [a for a in _study_arms(ctx) if len(sub) and a in set(sub["arm"])]
    chosen = [f"{arms.label(a)} " + ", ".join(f"{k}={three_digits(v)}" for k, v in ctx.data.chosen.get((d["label"], a), {}).items())
              for a in tuned if ctx.data.chosen.get((d["label"], a))]
    return (f"{d['label']}: tuning of {and_list([arms.label(a) for a in tuned])}. First panel: the best validation "
            f"{d['metric']} so far against the tuning trial, a line per arm; then a panel per arm: each trial's "
            f"validation {d['metric']} against its tuned strength."
            + (f" Strengths chosen: {'; '.join(chosen)}." if chosen else ""),
            f"First panel, line styles: {_styled(ctx, LINE_WORDS, tuned)}. In the other panels each dot is a trial; the star "
            "marks the trial the grid took its strengths from, a grey cross a pruned or failed trial.")


def paths_words(ctx: FigureContext, d: dict) -> tuple[str, str]:
    drawn = [a for a, variants in (d.get("paths") or {}).items() if any(variants.values())]
    picked = [f"{arms.label(a)} at {d['selected'][a]}" for a in drawn if d.get("selected", {}).get(a)]
    one_se = [f"{arms.label(a)} at {d['path_tables'][a]['one_se']}" for a in drawn
              if d.get("path_tables", {}).get(a, {}).get("one_se")]
    return (f"{d['label']}: regularization paths of {and_list([arms.label(a) for a in drawn])}, a row per arm: the test "
            f"{d['metric']}, the train-test gap and the weights (L1: the share below 1e-3; else their norm) against the "
            "strength." + (f" Selected on validation: {and_list(picked)}." if picked else "")
            + (f" Strongest within one standard error: {and_list(one_se)}." if one_se else ""),
            "Each point is a strength's mean and 95% CI over seeds (not its difference to none: the table has those); "
            "the grey band is none's 95% CI, its line none's mean. ★ selected on validation, ◇ the strongest "
            "strength within one standard error of it.")


def forest_words(ctx: FigureContext) -> tuple[str, str]:
    said = []
    for d in ctx.analysis["datasets"]:
        if d["paired"]:
            v = d["verdicts"]
            said.append(f"{d['label']}: " + "; ".join(f"{v.name(arm)} {verdict_word(p)}, "
                                                       f"{metric_numbers.difference(p, v.metric)}"
                                                       for arm, p in d["paired"].items()))
    return ("Forest plot: each arm's paired difference to none in the test metric with its 95% CI, a panel per "
            "dataset. " + ". ".join(said) + ".",
            "Legend: each dot is an arm's mean paired difference to none (arm minus none, in the metric's units, "
            "points for a share such as accuracy), its bar that comparison's own 95% CI; a filled dot has a verdict, "
            "an open one none yet; the verdict is written to the right. The grey shading is the ROPE, the region of "
            "practically no difference; the vertical line is no difference. An arrowhead ◀ or ▶ marks a CI cut at "
            "the most a difference can be (±100 points for a share), as * does in the tables.")


def cd_words(ctx: FigureContext) -> tuple[str, str]:
    across = ctx.analysis["across"]
    result = across["result"]
    ranked = sorted(zip(across["labels"], result.avg_ranks), key=lambda x: x[1])
    return (f"Critical difference diagram: the arms' average ranks over {result.n_datasets} datasets (1 = best): "
            + ", ".join(f"{label} {rank:.2f}" for label, rank in ranked)
            + f"; critical difference {result.critical_difference:.2f}.",
            "Each arm sits at its average rank (1, the best, at the right). A thick bar joins arms whose ranks differ "
            "by less than the critical difference (Nemenyi, the bar marked CD): the ranks do not tell them apart.")


def sizes_words(ctx: FigureContext, group: str) -> tuple[str, str]:
    sub = ctx.ok[ctx.ok["group"] == group]
    counts = ", ".join(str(int(n)) for n in sorted(sub["n_train"].unique()))
    return (f"{group}: the test metric (left) and the gap (right) against the training-set size ({counts} samples), "
            f"a line per arm ({and_list(ctx.order)}), mean and 95% CI over seeds.",
            f"Each line is an arm's mean over seeds, its shaded band the 95% CI. Line styles: {_styled(ctx, LINE_WORDS)}.")


def verdict_word(p) -> str:
    """A comparison's verdict as the forest figure writes it beside its dot."""
    if p.negligible:
        return f"{p.verdict} (< ROPE)"
    return {"equivalent": "practically the same", "at chance": "at chance"}.get(p.verdict, p.verdict)
