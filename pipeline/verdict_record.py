"""The verdicts of a dataset as its MLflow parent run records them: tags for searching and the runs
table, each arm's difference to none as metrics, a Markdown description (the run's note in the
UI), and every number as verdicts.json."""

from __future__ import annotations

import math

from . import runtree as rt
from . import stats
from .metric_numbers import shown, shown_ends
from .verdict_words import answer_lines, headline, secondary_sentences, seeds_to_decide, sentence
from .task import METRICS
from .verdicts import SECONDARY, DatasetVerdicts


def verdict_record(v: DatasetVerdicts) -> dict:
    """The verdicts of one dataset as plain data: MLflow tags on its parent run and verdicts.json."""
    sign = 1.0 if METRICS[v.metric].higher_is_better else -1.0
    # the secondary outcomes' own directions (a narrower gap, a smaller norm: lower is better)
    signs = {o.key: 1.0 if o.higher_is_better else -1.0 for o in SECONDARY}

    def one(p: stats.Paired, sign: float = sign) -> dict:
        return {"verdict": p.verdict, "mean_diff": p.mean_diff, "ci": [p.ci_low, p.ci_high], "n": p.n,
                # as the console and the report write it: arm minus none in the metric's direction
                "arm_minus_none": sign * p.mean_diff, "arm_minus_none_ci": sorted([sign * p.ci_low, sign * p.ci_high]),
                "p_holm": p.p_t_holm, "p_equivalence_holm": p.p_tost_holm, "rope": p.rope,
                "p_better": p.p_better, "p_equivalent": p.p_equivalent, "p_worse": p.p_worse,
                "seeds_needed": p.seeds_needed, "needed_for": p.needed_for, "negligible": p.negligible,
                # the chance those seeds reach needed_for, given the seeds so far (predictive), or null
                "decide_chance": None if math.isnan(p.decide_chance) else p.decide_chance,
                "alpha": p.alpha}
    closed = {arm: {"none_gap": g.none_gap, "arm_gap": g.arm_gap, "share_closed": g.share,
                    "share_ci": [g.share_low, g.share_high], "fully": g.fully,
                    "train_none": g.train_none, "train_arm": g.train_arm, "no_gain": g.no_gain or None} for arm, g in v.gap_closed.items()}
    return {"dataset": v.label, "answer": headline(v), "metric": v.metric,
            # the console and the report write arm minus none in the metric's units (points for shares)
            "direction": "mean_diff and ci: oriented, positive = better (for a lower-is-better metric, none minus arm); "
                         "in the metric's units, shares as fractions (0.01 is one point); arm_minus_none and its ci: "
                         "the same difference as the console and the report write it (arm minus none)",
            "rope": v.rope, "seeds_used": v.seeds_used,
            "looks": v.looks, "stopped": v.stopped, "winners": v.winners,
            # "variant": the path point whose values stand for the arm (selected on validation), or null
            "arms": {arm: {"variant": v.selected.get(arm) or None, "primary": one(p),
                           **{k: one(q, signs[k]) for k, q in v.secondary.get(arm, {}).items()}}
                     for arm, p in v.paired.items()},
            "gap_closed": closed,
            # a gap that leaned narrower, not significantly, with a training fit worse than none's by more than the ROPE
            "train_fit_worse": {arm: {"train_none": a, "train_arm": b} for arm, (a, b) in v.train_fit_worse.items()},
            # a path over l2_mode: its modes against each other at the same strength (first minus second, oriented)
            "modes": {arm: [{"first": h.first, "second": h.second, "identical": h.identical, **one(h.paired)} for h in pairs]
                      for arm, pairs in v.modes.items()}}


def verdict_metrics(v: DatasetVerdicts) -> dict[str, float]:
    """Each arm's comparison with none as numbers on the parent run, sortable and comparable in
    the MLflow UI's tables and charts (the tags hold the words): vs_none.<arm>, arm minus none as
    the console writes it (points for shares; 4 significant digits), with .ci_low and .ci_high
    (95%, cut at ±100 pt for a share as the console cuts it: verdicts.json has the exact ends),
    p_holm.<arm> (the t-test's, after Holm) and p_equivalence_holm.<arm> (the TOST's)."""
    out = {}
    for arm, p in v.paired.items():
        low, high = shown_ends(p, v.metric)
        # p_equivalence_holm: what decides "practically the same"
        values = (shown(p.mean_diff, v.metric), low, high, p.p_t_holm, p.p_tost_holm)
        out.update({name.format(arm=arm): x for name, x in zip(ARM_METRICS, values)})
    # NaN where nothing was tested: a value logged before must not stay the latest. Four significant
    # digits, readable in the UI's columns (verdicts.json has every digit); a share's points to 1e-5
    # pt first (a step of 10 million test rows): float noise of equal means read -5.96e-07, sorted as worse
    if METRICS[v.metric].share:
        out = {k: x if k.startswith("p_") else round(x, 5) + 0.0 for k, x in out.items()}
    return {k: float(f"{x:.4g}") for k, x in out.items()}


ARM_METRICS = ("vs_none.{arm}", "vs_none.{arm}.ci_low", "vs_none.{arm}.ci_high", "p_holm.{arm}",
               "p_equivalence_holm.{arm}")   # verdict_metrics' names, per arm


def retired_metrics(arms: set[str]) -> dict[str, float]:
    """verdict_metrics' keys of `arms`, NaN: a superseded parent's numbers (MLflow cannot delete a metric)."""
    return {name.format(arm=arm): math.nan for arm in arms for name in ARM_METRICS}


def verdict_note(v: DatasetVerdicts) -> str:
    """The dataset's answer as its parent run's description in the MLflow UI (Markdown): the
    answer, its warning and note, and each comparison's sentence."""
    first, *rest = answer_lines(v)
    lines = [f"**{first}**", ""] + [f"- {line.strip()}" for line in rest]
    lines += [f"- {'; '.join([sentence(arm, p, v.metric, v.name(arm)), *secondary_sentences(v, arm)])}" for arm, p in v.paired.items()]
    lines += ["", "Every number: `verdicts.json`; the figures: `figures/`, once a report is built (artifacts of this run)."]
    return "\n".join(lines)[:8000]   # MLflow's limit for a tag's value


def verdict_tags(v: DatasetVerdicts) -> dict[str, str]:
    """verdict.<arm> and verdict.<arm>.<outcome>, for searching and the runs table."""
    tags = {rt.VERDICT: headline(v).split(": ", 1)[1][:5000]}
    for arm, p in v.paired.items():
        tags[f"verdict.{arm}"] = p.verdict
        if v.selected.get(arm):   # the path point the verdict is about (the parent's params hold the defaults)
            tags[f"verdict.{arm}.variant"] = v.selected[arm]
        if p.negligible:   # better/worse by less than the ROPE: searchable, as the headline says it
            tags[f"verdict.{arm}.negligible"] = "yes"
        if p.verdict == "undecided" and p.seeds_needed:   # the advice and its chance, beside the word
            tags[f"verdict.{arm}.seeds_to_decide"] = seeds_to_decide(p)
        for key, q in v.secondary.get(arm, {}).items():
            word = {o.key: o for o in SECONDARY}[key].words
            tags[f"verdict.{arm}.{key}"] = {"better": word[0], "worse": word[1]}.get(q.verdict, q.verdict)
            if q.negligible:   # the qualifiers the console and the report give, beside the searchable word
                tags[f"verdict.{arm}.{key}.negligible"] = "yes"
        closed = v.gap_closed.get(arm)
        if closed is not None and closed.no_gain:   # narrower by fitting the training data worse (as the sentence says)
            kind = "underfitting" if closed.fits_worse else "no gain"
            tags[f"verdict.{arm}.gap_metric.how"] = (f"{kind}: test worse" if closed.no_gain == "worse" else
                                                     f"{kind}: test at chance" if closed.no_gain == "at chance" else
                                                     "training fit worse: test the same" if closed.no_gain == "same" else
                                                     "training fit worse: test undecided")
        elif arm in v.train_fit_worse:   # leaned narrower, not significantly, from the training side
            tags[f"verdict.{arm}.gap_metric.how"] = "training fit worse"
    return tags
