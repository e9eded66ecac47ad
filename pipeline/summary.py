"""The console summary after a study: mean test metric per dataset and arm, then the verdicts
(verdicts.py, the same the report shows), read back from the Optuna storage; and the verdicts
recorded on each dataset's MLflow parent run."""

from __future__ import annotations

import json
import statistics
import sys
from typing import Optional, Sequence

from . import metric_numbers, path_words, short_answer, verdict_record, verdict_words, verdicts
from .words import and_list, counted, plural
from . import runtree as rt
from .preparation import RunContext
from .study import Study
from .task import metric_for
from .tracking import Tracker
from .tracking_reads import changes_since_verdicts, chosen_after_now, points_setting, rope_setting
from .ui_links import verdicts_view


def format_summary(study: Study, results: list[verdicts.DatasetResults],
                   decided: Optional[list[verdicts.DatasetVerdicts]] = None,
                   short: Optional[Sequence[str]] = None) -> str:
    """Mean and std of the test metric per dataset and arm, then each dataset's verdicts: the
    primary metric, then what each arm did to the train-test gap (and, where its penalty targets
    them, to sparsity and the weight norm), then the study's answer in short (`short`, computed
    here when the caller has not)."""
    names = {d.label: "test_" + metric_for(d.task, d.metric).name for d in results}
    width = max([14, *map(len, names.values())])
    decided = decided or verdicts.decide_study(results, study.seeds, study.looks())
    # a path's arm by the point that stands for it ("L2 (l2=1e-05)"), as the verdicts name it
    regs = {(d.label, arm): v.name(arm) for d, v in zip(results, decided) for arm in d.values}
    reg_width = max([12, *map(len, regs.values())])
    lines = [f"{'dataset':<18} {'regularizer':<{reg_width}} {'metric':<{width}} {'mean':>9} {'std':>9} {'seeds':>6}"]
    unrun = [d.label for d in results if not d.ran]   # rows of nan, under a metric guessed
    for d in results:
        if d.label in unrun:
            continue
        for arm, by_seed in d.values.items():
            vals = list(by_seed.values())
            mean = statistics.fmean(vals) if vals else float("nan")
            std = statistics.stdev(vals) if len(vals) > 1 else float("nan")
            lines.append(f"{d.label:<18} {regs[d.label, arm]:<{reg_width}} {names[d.label]:<{width}} {_num(mean)} "
                         f"{_num(std)} {len(vals):>6}")
    if unrun:
        lines.append(f"not run yet: {', '.join(unrun)} (no run of this configuration ended)")
    holm = verdict_words.holm_family(decided)
    lines += ["", f"Verdicts (each arm vs none on the same seeds; {holm}"
                  + (f", at each look its share of alpha (seeds {', '.join(map(str, study.looks()))})"
                     if study.adaptive else "") + "; ROPE: the difference that counts as practically none):"]
    lines += _t_test_alone(decided)
    for v in decided:
        rounds = f" [{counted(v.looks, 'round')}, {v.seeds_used} seeds: {v.stopped}]" if study.adaptive else ""
        lines += verdict_words.answer_lines(v, rounds)
        lines += [f"    {'; '.join([verdict_words.sentence(arm, p, v.metric, v.name(arm)), *verdict_words.secondary_sentences(v, arm)])}"
                  for arm, p in v.paired.items()]
        lines += path_words.path_lines(next(d for d in results if d.label == v.label), v)
    families = verdict_words.secondary_families(decided)
    if families:
        gaps = ", ".join(dict.fromkeys(metric_numbers.gap_words(v.metric) for v in decided))
        lines.append(f"(secondary outcomes: each its own Holm family over the study's arms and datasets ({families}); "
                     f"the gap is how much better a model does on its training data than on test data: {gaps})")
    if short is None:
        short = short_answer.in_short(decided, short_answer.mean_values(results))
    if short:
        lines += ["", "In short: " + " ".join(short)]
    return "\n".join(lines)


def _t_test_alone(decided: list[verdicts.DatasetVerdicts]) -> list[str]:
    """A caveat line when a verdict was decided on fewer seeds than the Wilcoxon check can confirm
    (under 6): the report says so in its notes, the console said nothing."""
    alone = [p for v in decided for p in v.paired.values() if p.verdict in ("better", "worse") and p.too_few]
    few = sorted({p.n for p in alone if p.n < WILCOXON_SEEDS})
    ties = any(p.n >= WILCOXON_SEEDS for p in alone)   # seeds enough, but ties drop out of the Wilcoxon test
    if not alone:
        return []
    on = " or ".join(filter(None, [f"{' or '.join(map(str, few))} seeds" if few else "",
                                   f"seeds of which fewer than {WILCOXON_SEEDS} differ" if ties else ""]))
    return [f"(better or worse on {on}: those verdicts rest on the paired t-test alone, which assumes the per-seed "
            f"differences are roughly normal; with {WILCOXON_SEEDS} or more seeds that differ the Wilcoxon signed-rank "
            "test can confirm them)"]


WILCOXON_SEEDS = 6   # pairs that differ, for the Wilcoxon test's smallest p (2 / 2^n) to be under 5%


def _num(x: float) -> str:
    """A table's cell; "–" where there is no value (no seed finished; one seed has no std), as the report writes it."""
    return f"{'–' if x != x else metric_numbers.table_value(x):>9}"


def record_verdicts(ctx: RunContext, decided: list[verdicts.DatasetVerdicts], on_parents: bool = True,
                    short: Sequence[str] = ()) -> list[str]:
    """The study's overview in the MLflow UI (Tracker.share_overview, which only adds to an
    earlier one), which the printed link opens; and, unless this is a view (not `on_parents`),
    each dataset's verdicts on its MLflow parent run: tags verdict, verdict.<arm>,
    verdict.<arm>.<outcome>, metrics vs_none.<arm>, and the whole record as verdicts.json; and
    the study's answer (`short`: In short) as the root run's description. Returns the datasets
    whose parent's verdicts changed (the study file's metric or ROPE changed, or runs were added)."""
    ctx.tracker.share_overview(ctx.experiment_id, ctx.study.name, [(p.label, p.config_hash) for p in ctx.study.plans],
                               [v.metric for v in decided])
    if not on_parents:
        return []
    key, state = verdicts_view(ctx.study.name, ctx.study.arms)   # the parents' numbers side by side
    ctx.tracker.share_views(ctx.experiment_id, {key: state})
    if ctx.root_id:
        ctx.tracker.set_tags(ctx.root_id, {rt.NOTE: root_note(ctx.study, short)})
    return log_study_verdicts(ctx.tracker, ctx.study, {v.label: v for v in decided})


def root_note(study: Study, short: Sequence[str]) -> str:
    """The root run's description in the MLflow UI (Markdown): the study's answer in a few
    sentences, the study file's description, and where the rest is."""
    lines = [f"**In short:** {' '.join(short)}", ""] if short else []
    if study.spec.description:
        lines += [study.spec.description.strip(), ""]
    lines += ["Each dataset's answer and comparisons: its dataset run (description, `verdict.*` tags, `vs_none.*` "
              "metrics, `verdicts.json`); the report: `report/report.html` in this run's artifacts once built."]
    return "\n".join(lines)[:8000]   # MLflow's limit for a tag's value


def log_study_verdicts(tracker: Tracker, study: Study, decided: dict[str, verdicts.DatasetVerdicts]) -> list[str]:
    """Each dataset's verdicts ({label: verdicts}) on its current parent run (verdict_parents),
    and the other parents of its configuration retired: the study's dataset runs read once for
    both. Returns the datasets whose verdict tags changed."""
    parents = tracker.study_runs(study.name, rt.DATASET)
    tags = {p.run_id: p.tags for p in parents}
    current = {label: parent for label, parent in verdict_parents(study, parents).items() if label in decided}
    _say_choices_changed(tracker, study, current, decided, parents)
    changed = [label for label, parent in current.items() if log_verdicts(tracker, parent, decided[label], tags.get(parent))]
    retire_old_verdicts(tracker, study, current, parents)
    # the file shrunk from the command line (--epochs 1: a quick look) keeps its verdicts to its own
    # parents: the study's answer stays the file's, unless none holds it yet
    held = any(p.tags.get(rt.ANSWER) == "current" for p in parents if p.run_id not in current.values())
    if not (study.overrides and held) and \
            (dropped := mark_the_answer(tracker, set(current.values()), parents, {p.label for p in study.plans})):
        print(f"note: the study file no longer has {plural(len(dropped), 'dataset')} {and_list(dropped)}: "
              f"{plural(len(dropped), 'its')} runs stay, apart, and {plural(len(dropped), 'its')} verdicts are no "
              "longer the study's answer; Holm's correction now counts this file's datasets' comparisons only, so "
              "the others' verdicts may have moved", file=sys.stderr, flush=True)
    return changed


def _say_choices_changed(tracker: Tracker, study: Study, current: dict[str, str], decided: dict, parents: list) -> None:
    """A note where a dataset's primary metric, ROPE setting or path points differ from those its
    verdicts were last given under (changes_since_verdicts): the verdicts moved with them without a
    word, and a choice made after seeing the results is as post hoc as seeds added after them.
    Recorded on the parent (rt.CHOSEN_AFTER), so that the verdicts' warnings say it wherever they are
    read; the parent's rt.ROPE_SETTING, rt.PATH_POINTS and metric_name follow the verdicts'
    (metric_name kept the first metric)."""
    for label, parent in current.items():
        v = decided[label]
        changes = changes_since_verdicts(study, label, v.metric, parents)
        change = next((c for c in changes if c.what not in ("points", "strengths")), None)
        if points := next((c for c in changes if c.what == "points"), None):
            print(f"note: [{label}] the path points changed after verdicts were given on them ({points.was} -> "
                  f"{points.now}): the point that stands for each arm, and its verdict, may have moved; points chosen "
                  "knowing the results are not what the tests' error rates cover: list them before the first run",
                  file=sys.stderr, flush=True)
        if strengths := next((c for c in changes if c.what == "strengths"), None):
            print(f"note: [{label}] a strength changed after verdicts were given at another ({strengths.was} -> "
                  f"{strengths.now}): the verdict is now the new strength's; strengths tried until one wins are not "
                  "what the tests' error rates cover: list those to try under paths: (chosen on the validation "
                  "split) before the first run", file=sys.stderr, flush=True)
        if change and change.what == "metric":
            print(f"note: [{label}] the primary metric changed after verdicts were given in another "
                  f"({change.was} -> {change.now}): the verdicts are now in it; a metric chosen knowing the "
                  "results is not what the tests' error rates cover: choose it before the first run",
                  file=sys.stderr, flush=True)
        elif change:
            print(f"note: [{label}] the ROPE changed after verdicts were given under it ({change.was} -> {change.now}): "
                  "the verdicts moved with it; a margin chosen knowing the results is not what the equivalence tests' "
                  "error rates cover: set it before the first run", file=sys.stderr, flush=True)
        v.chosen_after = chosen_after_now(study, label, v.metric, parents, changes)   # the MLflow note says it too
        setting = rope_setting(study, label, v.metric)
        tags = {rt.CHOSEN_AFTER: json.dumps(v.chosen_after[-20:])} if changes else {}
        mine = next((p.tags for p in parents if p.run_id == parent), {})
        if mine.get(rt.ROPE_SETTING) != setting:
            tags.update({rt.ROPE_SETTING: setting, rt.METRIC_NAME: v.metric})
        if mine.get(rt.PATH_POINTS) != (listed := points_setting(study, label)):
            tags[rt.PATH_POINTS] = listed
        if tags:
            tracker.set_tags(parent, tags)


def mark_the_answer(tracker: Tracker, current: set[str], parents: list, labels: set[str]) -> list[str]:
    """The side-by-side view's rows (ui_links.verdicts_view): the parents in `current` tagged as
    the study's answer, every other parent of the study that was untagged (another configuration's,
    which held the answer before the study file changed, a view's, a retired one). One that held it
    for another configuration, or for a dataset the file (its `labels`) no longer has, says so atop
    its description (its verdict tags stay: they are that configuration's answer, and going back
    makes it current again). A dataset of the file with no current parent yet (its settings changed,
    a report before the rerun) keeps the answer it had until one holds it. Returns the labels of
    the datasets the file no longer has whose parents held the answer until now."""
    now, dropped = {p.tags.get(rt.DATASET_LABEL): p for p in parents if p.run_id in current}, []
    for p in parents:
        label = p.tags.get(rt.DATASET_LABEL)
        if p.run_id in current and p.tags.get(rt.ANSWER) != "current":
            tracker.set_tags(p.run_id, {rt.ANSWER: "current"})
        elif p.run_id not in current and rt.ANSWER in p.tags and (label in now or label not in labels):
            tracker.delete_tags(p.run_id, [rt.ANSWER])
            if why := _not_the_answer(p, now.get(label)):
                tracker.set_tags(p.run_id, {rt.NOTE: f"{why}\n\n{p.tags.get(rt.NOTE, '')}"[:8000]})
            if label not in labels:
                dropped.append(label)
    return sorted(set(dropped) - {None})


NOT_CURRENT = "**Not the study's current answer**"


def _not_the_answer(p, now) -> str:
    """The line atop a dataset parent's description once the study file's configuration is another
    (the run `now` holds the dataset's answer) or lacks the dataset (`now` None); "" for another
    parent of the same configuration (retire_old_verdicts points it at the current one)."""
    label, mine = p.tags.get(rt.DATASET_LABEL), p.tags.get(rt.CONFIG_HASH)
    if now is None:
        return f"{NOT_CURRENT}: the study file no longer has the dataset `{label}`; these verdicts are from when it had."
    if mine == now.tags.get(rt.CONFIG_HASH):
        return ""
    return (f"{NOT_CURRENT}: these verdicts are of another configuration of the study (`{rt.CONFIG_HASH}` {mine}); "
            f"the study file's are on the dataset run {now.run_id}.")


def verdict_parents(study: Study, parents: list) -> dict[str, str]:
    """Each dataset's parent run that holds the study's verdicts ({label: run id}): the latest of
    its configuration that a run of the study file's seeds opened; one a `--seeds` view opened (its
    cells may be seeds the file has not: `--seeds 5` on a 3-seed study) only where no other is.
    `parents`: the study's dataset runs."""
    hashes = {p.label: p.config_hash for p in study.plans}
    mine = [p for p in parents if p.tags.get(rt.CONFIG_HASH) == hashes.get(p.tags.get(rt.DATASET_LABEL), "")]
    current = {}
    for p in sorted(mine, key=lambda p: (rt.OPENED_BY_VIEW not in p.tags, p.start_time or 0, p.run_id)):
        current[p.tags[rt.DATASET_LABEL]] = p.run_id   # the last one wins
    return current


def log_verdicts(tracker: Tracker, parent_id: str, v: verdicts.DatasetVerdicts, tags_now: Optional[dict] = None) -> bool:
    """One dataset's verdicts on its parent run: the tags and verdicts.json (the ablation does it
    at its end, the report for distributed studies, whose workers print no summary). Verdict tags an
    earlier summary set and this one does not (a path point no longer selected, a difference no
    longer negligible) are deleted: the run holds this summary's verdicts and no others. `tags_now`:
    the run's tags, when the caller has read them. Returns whether they changed a verdict the run
    held (a first record is no change)."""
    tags = verdict_record.verdict_tags(v)
    if tags_now is None:
        tags_now = tracker.run(parent_id).data.tags
    # the per-arm verdicts (verdict.<arm>...), not the headline, whose wording a new version may change
    before = {k: x for k, x in tags_now.items() if k.startswith(rt.VERDICT + ".")}
    stale = [k for k in before if k not in tags]
    tracker.set_tags(parent_id, {**tags, rt.NOTE: verdict_record.verdict_note(v)})
    if stale:
        tracker.delete_tags(parent_id, stale)
    tracker.log_values(parent_id, verdict_record.verdict_metrics(v))
    tracker.log_dict(parent_id, verdict_record.verdict_record(v), "verdicts.json")
    # the advice's words (seeds_to_decide) are no verdict: a new wording or chance is no change
    def verdicts_in(t: dict) -> dict:
        return {k: x for k, x in t.items() if k.startswith(rt.VERDICT + ".") and not k.endswith(".seeds_to_decide")}
    return bool(before) and verdicts_in(before) != verdicts_in(tags)


def retire_old_verdicts(tracker: Tracker, study: Study, current: dict[str, str], parents: list) -> None:
    """An extended study (more seeds, a resumed round) has a newer parent run per dataset that
    holds the study's verdicts (verdict_parents: not one a `--seeds` view opened, while there are
    others); the other parents of the same configuration keep their trials but
    lose their verdict tags (a search for tags.verdict.l2 would find both) and metrics (NaN), with
    a pointer to the current one (parents retired before point at it too, not at the one that
    retired them). `current`: {dataset label: parent run id that holds the verdicts}; `parents`:
    the study's dataset runs, as log_study_verdicts read them."""
    hashes = {p.label: p.config_hash for p in study.plans}
    for p in parents:
        label = p.tags.get(rt.DATASET_LABEL)
        # an older parent that never held verdicts (a `--seeds 3` look, or an enqueue's whose report
        # was a view) gets the pointer too: its trials count in the study
        if (label in current and p.run_id != current[label] and p.tags.get(rt.CONFIG_HASH) == hashes.get(label)
                and p.tags.get(rt.VERDICT) != f"{SUPERSEDED} run {current[label]}"):
            if rt.VERDICT in p.tags and not p.tags[rt.VERDICT].startswith(SUPERSEDED):
                tracker.delete_tags(p.run_id, [k for k in p.tags if k.startswith(rt.VERDICT + ".")])
                # its metrics cannot be deleted: NaN as their latest, so sorting and searching skip it
                arms_judged = {k.split(".")[1] for k in p.tags if k.startswith(rt.VERDICT + ".")}
                tracker.log_values(p.run_id, verdict_record.retired_metrics(arms_judged))
                # and its verdicts.json (a downloaded copy would read as the study's answer)
                tracker.log_dict(p.run_id, {"superseded": True, "verdicts_on_run": current[label]}, "verdicts.json")
            view = p.tags.get(rt.OPENED_BY_VIEW)
            tracker.set_tags(p.run_id, {rt.VERDICT: f"{SUPERSEDED} run {current[label]}", rt.NOTE: (
                f"A view (`{view}`) opened this run: its trials count in the study where the study file has their "
                f"seeds; the study's verdicts are on the dataset run {current[label]}." if view else
                f"This run's trials count in the study; its verdicts are on the newer dataset run {current[label]}.")})


SUPERSEDED = "superseded: the study's verdicts are on"
