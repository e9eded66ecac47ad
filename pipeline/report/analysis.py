"""Report, step 2: ReportData -> per-dataset tables, the verdicts of every arm against the
baseline (pipeline/verdicts.py: the same decision the console summary prints), the summary rows
and the across-datasets view (ranks, and the probability of improvement, honest with few
datasets). The statistics themselves live in pipeline/stats.py and pipeline/ranks.py."""

from __future__ import annotations

import json
import math
import re
from typing import Optional

import numpy as np
import pandas as pd

from .. import (arms, head_to_head, metric_numbers, path_points, path_words, ranks, short_answer, stats,
               verdict_warnings, verdict_words, verdicts)
from .. import runtree as rt
from ..dataset_record import (chance_from_params, data_paragraph, data_warnings, far_targets_from_params,
                              leaky_columns_from_params, train_chance_from_params)
from ..errors import UsageError
from ..path_summary import summarize_path
from ..tracking_reads import chosen_after_now
from ..task import METRICS, metric_for, task_for
from ..words import and_list, counted
from .collect import ReportData


def higher_is_better(task: str) -> bool:
    return task_for(task).higher_is_better


def analyze(data: ReportData) -> dict:
    study, df = data.study, data.runs
    ok = df[df["status"] == "FINISHED"]
    datasets = [_dataset_entry(data, ok, plan.label) for plan in study.plans]
    # runs that blew up (verdicts.exploded_rule): counted as diverged, in no table or figure
    exploded_runs = {run for d in datasets for run in d.pop("exploded_runs")}
    for plan, d in zip(study.plans, datasets):   # a ROPE changed for the report, not trained with
        if problem := stats.rope_problem(plan.rope, d["metric_name"]):
            raise UsageError(f"dataset {plan.label}: {problem}")
    results = [_results(data, plan, d) for plan, d in zip(study.plans, datasets)]
    decided = verdicts.decide_study(results, study.seeds, study.looks())
    for i, (d, v, r) in enumerate(zip(datasets, decided, results), 1):
        d["anchor"] = f"dataset-{i}"   # the section's id (a label is user text, not an id)
        d["paths"] = r.paths   # a blown-up run at any point left out (DatasetResults)
        d["path_tables"] = _path_tables(r, v)
        d["head_to_head"] = [head_to_head.head_to_head_row(h, v.metric, v.name) for h in v.head_to_head]
        d["data"] = data_paragraph(data.data_params.get(d["label"], {}))
        d["data_warnings"] = data_warnings(data.data_params.get(d["label"], {}))
        d["warnings"] = verdict_warnings.warnings(v) + d["data_warnings"]
        d["notes"] = [n for n in (verdict_words.test_rows_note(v), verdict_words.val_rows_note(v), path_words.flat_paths_note(v),
                                  _tied_tuning_note(data, d["label"], v)) if n]
        d.update(paired=v.paired, verdicts=v, rope=v.rope, headline=verdict_words.headline(v).split(": ", 1)[1],
                 sentences={arm: verdict_words.sentence(arm, p, v.metric, v.name(arm)) for arm, p in v.paired.items()},
                 effects={arm: verdict_words.secondary_sentences(v, arm) for arm in v.paired},
                 best=verdict_words.best_arm(v))
    n_seeds = len(study.seeds)
    # adaptive: the most seeds a dataset's comparisons reached (the first look's would call a
    # 9-seed study "too weak" for what its 3-seed start could show)
    used = max((d["verdicts"].seeds_used for d in datasets), default=0) if study.adaptive else n_seeds
    min_p = stats.min_wilcoxon_p(used or study.looks()[0])
    return {"datasets": datasets, "summary": _said_once([_summary_row(d) for d in datasets]),
            "in_short": _interim_first(data, short_answer.in_short(decided, short_answer.mean_values(results))),
            "results": results, "decided": decided,   # for the console's summary (the `report` command)
            "exploded_runs": exploded_runs,
            "across": _across(data, datasets), "improvement": _improvement(study, datasets),
            "n_independent": len({plan.base for plan in study.plans}),   # a dataset's sizes count once
            "n_seeds": n_seeds, "looks": study.looks() if study.adaptive else None, "seeds_header": _seeds_header(study, datasets),
            "min_wilcoxon_p": min_p, "too_few_seeds": min_p >= stats.ALPHA, "min_p_seeds": used or study.looks()[0],
            "look_alphas": [f"{x:.4f}" for x in stats.spending(study.looks())] if study.adaptive else [],
            "n_comparisons": sum(verdicts.holm_counted(p) for d in datasets for p in d["paired"].values()),
            "secondary_families": verdict_words.secondary_families(decided),
            "holm_left": verdict_words.left_out_of_holm(decided, " (at chance, below)"),
            # the notes that explain shares and the one-row floor, only where the study has them
            "any_share": any(METRICS[d["metric_name"]].share for d in datasets),
            "all_share": all(METRICS[d["metric_name"]].share for d in datasets),
            "any_floored": any(p.floored for d in datasets for p in d["paired"].values()),
            # the study's metrics, for the notes that define the ROPE and the gap in them
            "rope_words": and_list(sorted({metric_numbers.default_rope_words(d["metric_name"]) for d in datasets})),
            "gap_words": and_list(sorted({metric_numbers.gap_words(d["metric_name"]) for d in datasets}))}


def _test_class_rows(params: dict) -> Optional[list[int]]:
    try:
        rows = json.loads(params[rt.STUDY_TEST_CLASS_ROWS])
        return [int(x) for x in rows] if len(rows) == 3 else None
    except (KeyError, ValueError, TypeError):
        return None


def _results(data: ReportData, plan, d: dict) -> verdicts.DatasetResults:
    """A dataset's entry as what its verdicts are computed from, with what its parent's params say."""
    params = data.data_params.get(d["label"], {})
    return verdicts.DatasetResults(d["label"], d["task"], d["values"], plan.rope, d["secondary"], d["metric_name"],
                                   d["paths"], d["selected"], chance_from_params(params, d["task"], d["metric_name"]),
                                   _n_rows(params), _test_class_rows(params),
                                   class_weighted=plan.dataset.class_weight is not None,
                                   leaky_columns=leaky_columns_from_params(params),
                                   train_chance=train_chance_from_params(params, d["metric_name"]),
                                   seeds_added_after=data.seeds_added_after.get(d["label"], []),
                                   chosen_after=chosen_after_now(data.study, d["label"], d["metric_name"], data.dataset_parents),
                                   ran=d["tried"], diverged=d["diverged"], exploded=d["exploded"],
                                   n_val=_n_rows(params, "n_val"), val_chooses=data.study.chosen_on_validation(plan),
                                   deleted=_deleted(data, d),
                                   **dict(zip(("far_targets", "far_in"), far_targets_from_params(params))))


def _deleted(data: ReportData, d: dict) -> dict[str, dict[int, str]]:
    """arm -> {seed: run id} of the dataset's finished cells whose run was deleted in MLflow, at the
    point that stands for each arm, as results.study_results gives the console them."""
    cells = {(tags.get(rt.ARM), tags.get(rt.VARIANT, ""), int(tags[rt.SEED])): run for run, tags in data.deleted.items()
             if tags.get(rt.DATASET_LABEL) == d["label"] and str(tags.get(rt.SEED, "")).isdigit()
             and int(tags[rt.SEED]) in data.study.seeds
             and int(tags[rt.SEED]) not in d["values"].get(tags.get(rt.ARM), {})}   # a cell with another finished run has its value
    return verdicts.at_selected_points(cells, d["selected"])


def _n_rows(params: dict, split: str = "n_test") -> Optional[int]:
    """A split's rows as the dataset parent's params record them (n_test, n_val); None if not."""
    try:
        return int(params[split])
    except (KeyError, ValueError):
        return None


def _dataset_entry(data: ReportData, ok: pd.DataFrame, label: str) -> dict:
    """One dataset: every arm's summary over seeds, its per-seed values (what the verdicts are
    computed from), and what is missing."""
    study, df = data.study, data.runs
    sub = ok[ok["dataset"] == label]
    tried = df[df["dataset"] == label]
    task = sub["task"].iloc[0] if len(sub) else (tried["task"].iloc[0] if len(tried) else "classification")
    # the study file's metric, whichever the runs were trained under (collect read them in it)
    metric = metric_for(task, next(p for p in study.plans if p.label == label).dataset.metric)
    rows, values = [], {}
    secondary: dict = {o.key: {} for o in verdicts.SECONDARY}
    paths, selected = _paths(study, study.plan_of(label), sub, metric.higher_is_better)
    # a path: the point selected on validation; no value (ROC AUC of a one-class split): as if not run, as the console
    cells = {arm: sub[(sub["arm"] == arm) & (sub["variant"] == selected[arm]) & sub["test_metric"].notna()] for arm in study.arms}
    # runs whose loss exploded count as diverged, in the tables as in the verdicts (verdicts.exploded_seeds)
    exploded = verdicts.exploded_seeds({arm: dict(zip(c["seed"].astype(int), c["test_metric"].astype(float)))
                                        for arm, c in cells.items()}, metric.name,
                                       chance_from_params(data.data_params.get(label, {}), task, metric.name))
    for arm in study.arms:
        cell = cells[arm][~cells[arm]["seed"].astype(int).isin(list(exploded.get(arm, {})))]
        values[arm] = dict(zip(cell["seed"].astype(int), cell["test_metric"].astype(float)))
        for key, by_arm in secondary.items():
            known = cell[cell[key].notna()]
            by_arm[arm] = dict(zip(known["seed"].astype(int), known[key].astype(float)))
        rows.append({"arm": arm, "label": arms.label(arm), "summary": stats.summarize(cell["test_metric"].tolist(), metric.bounds),
                     "strengths": "; ".join(dict.fromkeys(three_digits(x) for x in cell["strengths"] if x)),   # as trained
                     "gap": float(cell["gap_metric"].mean()) if len(cell) else math.nan,
                     "sparsity": float(cell["sparsity_lt_0.001"].mean()) if len(cell) else math.nan,
                     "train": float(cell["final_train_metric"].mean()) if len(cell) else math.nan,
                     "others": _other_metrics(cell, metric.name)})
    expected = len(study.seeds) if not study.adaptive else None   # adaptive: each dataset runs what it needs
    # finished without a value of the metric (ROC AUC where the test rows hold one class): not "not finished"
    valueless = {arm: int(((sub["arm"] == arm) & (sub["variant"] == selected[arm]) & sub["test_metric"].isna()).sum())
                 for arm in study.arms}
    # seeds no run of the dataset has (report --seeds 8 of a study run on 6): not run, rather than run and lost
    not_run = sorted(set(study.seeds) - {int(s) for s in tried["seed"]}) if expected else []
    missing = [f"{a['label']}: {a['summary'].n} of {expected} seeds finished"
               + (f" with a value ({valueless[a['arm']]} more without a test {metric.label})" if valueless[a["arm"]] else "")
               + (f" ({len(exploded[a['arm']])} more blew up: counted as diverged)" if exploded.get(a["arm"]) else "")
               + (f" ({_seed_words(not_run)} not run yet)" if not_run else "")
               for a in rows if expected and a["summary"].n < expected]
    gone = tried[(tried["status"] == "FAILED") & (tried["fail_reason"] == "diverged")]
    diverged = {arm: sorted(({int(s) for s in gone[gone["arm"] == arm]["seed"]} & set(study.seeds) - set(values[arm]))
                            | set(exploded.get(arm, {}))) for arm in study.arms}
    return {"label": label, "task": task, "hib": metric.higher_is_better, "metric": metric.label, "diverged": diverged,
            "exploded": exploded, "exploded_runs": [run for arm, c in cells.items()
                                                    for run, seed in zip(c["run_id"], c["seed"].astype(int))
                                                    if seed in exploded.get(arm, {})],
            "metric_name": metric.name, "arms": rows, "values": values, "secondary": secondary, "missing": missing,
            "not_run": not_run,
            "tried": bool(len(tried)),   # a run of it ended, finished or not (all diverged is not "not run")
            "paths": paths, "selected": selected}


def three_digits(strengths: str) -> str:
    """A run's strengths with each number to 3 significant digits, as the tuning table writes them:
    a tuned "dropout=0.296558/0.452126, l1=0.000725701" is "dropout=0.297/0.452, l1=0.000726"."""
    return re.sub(r"(?<![\w.])\d+\.\d+(?:e[+-]?\d+)?|(?<![\w.])\d+e[+-]?\d+", lambda m: f"{float(m.group()):.3g}", strengths)


def _other_metrics(cell: pd.DataFrame, primary: str) -> str:
    """The mean test value of every other metric of the family the runs logged, e.g. "R² 0.9450,
    MAE 798.12" beside a primary MSE, written as the table's own columns are
    (metric_numbers.table_value: 0.9460, not 0.946 beside 0.9469)."""
    parts = []
    for name, m in METRICS.items():
        column = f"test_{name}"
        if name != primary and column in cell and cell[column].notna().any():
            parts.append(f"{m.label} {metric_numbers.table_value(float(cell[column].mean()))}")
    return ", ".join(parts)


def _paths(study, plan, sub: pd.DataFrame, hib: bool) -> tuple[dict, dict]:
    """Regularization paths of one dataset's finished runs: {arm: {variant: {seed: {test, val,
    gap, sparsity, norm}}}} for arms with several variants, and per arm the variant that stands for it (selected
    on validation, path_points.select_variant; its one point for an arm without a path: "", or its strength
    where `plan`'s cells are named by it)."""
    paths, selected = {}, {}
    for arm in study.arms:
        names = study.point_ids(arm, plan)
        if len(names) == 1:
            selected[arm] = names[0]
            continue
        paths[arm] = {v: {int(r["seed"]): {"test": r["test_metric"], "val": r["final_val_metric"], "gap": r["gap_metric"],
                                           "sparsity": r["sparsity_lt_0.001"], "norm": r["weight_l2_total"]}
                          for r in sub[(sub["arm"] == arm) & (sub["variant"] == v)].to_dict("records")} for v in names}
        selected[arm] = path_points.select_variant(paths[arm], hib)
    return paths, selected


def _said_once(rows: list[dict]) -> list[dict]:
    """The summary table's notes and warnings in full on the first dataset that has each; a later
    dataset with the same text (twenty tables of the same size) points to it instead."""
    first: dict[str, str] = {}
    for row in rows:
        for key in ("notes", "warnings"):
            row[key] = [text if first.setdefault(text, row["label"]) == row["label"]
                        else f"As for {first[text]} above: {FIRST_CLAUSE.split(text, maxsplit=1)[0]}."
                        for text in row[key]]
    return rows


def _seed_words(seeds: list[int]) -> str:
    """ "seed 6", "seeds 6 and 7", "seeds 6 to 9" (a run of consecutive seeds)."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]} to {seeds[-1]}"
    return f"{'seed' if len(seeds) == 1 else 'seeds'} {and_list([str(s) for s in seeds])}"


FIRST_CLAUSE = re.compile(r"[:.](?:\s|$)")   # up to the first ": " or ". " (not the point in 0.0225)


def _seeds_header(study, datasets: list[dict]) -> str:
    """The header's seed count: the file's seeds per arm, or, with adaptive seeds, the seeds the
    datasets' comparisons reached (a dataset decided early stops short of the maximum)."""
    if not study.adaptive:
        not_run = sorted(set().union(*(d.get("not_run", []) for d in datasets)))
        return f"{counted(len(study.seeds), 'seed')} per arm" + (f" ({_seed_words(not_run)} not run yet)" if not_run else "")
    used = sorted({d["verdicts"].seeds_used for d in datasets if d["verdicts"].seeds_used})
    reached = (f"{used[0]} to {used[-1]} seeds per dataset" if len(used) > 1 else
               f"{counted(used[0], 'seed')} per arm" if used else "no seeds run yet")
    return f"{reached} (adaptive: looks at {and_list([str(n) for n in study.looks()])} seeds)"


def _summary_row(d: dict) -> dict:
    v = d["verdicts"]
    return {"label": d["label"], "metric": d["metric"], "answer": d["headline"], "rope": d["rope"],
            "rope_text": ("–" if math.isnan(d["rope"]) or not v.ran else   # not run: its metric is a guess
                          metric_numbers.rope_text(d["rope"], v.metric) + (f" of {d['metric']}" if METRICS[v.metric].share else "")),
            "warnings": verdict_warnings.warnings(d["verdicts"]), "notes": d["notes"],
            # what reading the table warned about, in full in the dataset's section: here its gist and a link there
            "data_warnings": [gist(w) for w in d["data_warnings"]], "anchor": d["anchor"],
            "verdicts": v, "best_label": v.name(d["best"]) if d["best"] else "-"}


GIST_CHARS = 100


def gist(warning: str) -> str:
    """A data warning's opening, for the summary's answer row: up to its first ": " or ". " (the
    zeros that may mean 'not measured', the column that gives the target away), or its first
    sentence where that clause alone says too little ("Column 'x'"); at most GIST_CHARS."""
    head = FIRST_CLAUSE.split(warning, maxsplit=1)[0]
    if len(head) < 25:
        head = re.split(r"\.(?:\s|$)", warning, maxsplit=1)[0]
    return head if len(head) <= GIST_CHARS else head[:GIST_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _improvement(study, datasets: list[dict]) -> list[dict]:
    """Per arm: the probability that it beats none on a seed, averaged over datasets, with a
    stratified bootstrap interval (ranks.probability_of_improvement). A dataset split by
    training-set size is one stratum, its sizes' pairs pooled: the sizes are not independent
    datasets (as in _across), and would otherwise outweigh a dataset without sizes."""
    out = []
    for arm in study.arms:
        if arm == arms.BASELINE:
            continue
        strata: dict[str, tuple[list, list, bool]] = {}
        for plan, d in zip(study.plans, datasets):
            base, mine = d["values"].get(arms.BASELINE, {}), d["values"].get(arm, {})
            seeds = sorted(set(base) & set(mine))
            if seeds:
                a, b, _ = strata.setdefault(plan.base, ([], [], d["hib"]))
                a.extend(mine[s] for s in seeds)
                b.extend(base[s] for s in seeds)
        if strata:
            out.append({"arm": arm, "label": arms.label(arm),
                        "result": ranks.probability_of_improvement(list(strata.values()))})
    return out


def _across(data: ReportData, datasets: list[dict]) -> dict | None:
    """Friedman ranking of the arms present in every dataset. The test needs independent blocks,
    and the training-set sizes of one dataset are not: each dataset counts once, its arms scored
    by their mean over its sizes."""
    study = data.study
    lacking = {a: [d["label"] for d in datasets if not any(x["arm"] == a and x["summary"].n > 0 for x in d["arms"])]
               for a in study.arms}
    common = [a for a in study.arms if not lacking[a]]
    blocks: dict[str, list[dict]] = {}
    for plan, d in zip(study.plans, datasets):
        blocks.setdefault(plan.base, []).append(d)
    if len(blocks) < 2 or len(common) < 2:
        return None
    scores = np.array([[np.mean([next(x["summary"].mean for x in d["arms"] if x["arm"] == a) for d in ds])
                        for a in common] for ds in blocks.values()])
    return {"arms": common, "labels": [arms.label(a) for a in common],
            "pooled": [f"{name} ({len(ds)} sizes)" for name, ds in blocks.items() if len(ds) > 1],
            # arms the ranks leave out, and where they have no finished run (they vanished without a word)
            "left_out": [f"{arms.label(a)} (no finished run on {and_list(where)})" for a, where in lacking.items() if where],
            "result": ranks.friedman(scores, [ds[0]["hib"] for ds in blocks.values()])}


def _tied_tuning_note(data: ReportData, label: str, v) -> str:
    """A note where half or more of an arm's complete tuning trials tied at the best validation
    value: the strength its verdict is at was the first of them, not a choice on evidence (only the
    Tuning table's highlight and the console said so, and the verdicts read as L1's at its best)."""
    from ..tuning import ties_at_best, too_many_ties

    if not len(data.tuning):
        return ""
    mine = data.tuning[data.tuning["dataset"] == label]
    hib = METRICS[v.metric].higher_is_better if v.metric in METRICS else True
    tied = []
    for arm in [a for a in data.study.arms if a in set(mine["arm"])]:
        done = mine.loc[(mine["arm"] == arm) & (mine["status"] == "FINISHED"), "objective"].dropna().tolist()
        if too_many_ties(ties_at_best(done, hib), len(done)):
            tied.append(v.name(arm))
    if not tied:
        return ""
    one = len(tied) == 1
    return (f"{and_list(tied)}'s tuned {'strength was' if one else 'strengths were'} the first of several tuning trials "
            "tied at the best validation value (see Tuning): the verdict is at a strength the validation split could "
            "not tell from the others, not one chosen on evidence; a larger validation split or a finer metric "
            "(log_loss) would choose")


def _path_tables(r: verdicts.DatasetResults, v: verdicts.DatasetVerdicts) -> dict[str, dict]:
    """{arm: its path for the report's table (path_summary, as the console writes it), with its
    l2_modes against each other}."""
    m = metric_for(r.task, r.metric)
    out = {}
    for arm in r.paths:
        path = summarize_path(r, arm, v.rope)
        out[arm] = {"label": arms.label(arm), "header": path_words.path_header(path),
                    "rows": path_words.path_rows(path, m), "one_se": path.one_se, "modes": path_words.mode_rows(v, arm),
                    "cut_note": path_words.path_cut_note(path, v, m.name)}   # what a row's * means, where one has it
    return out


INTERIM_FIRST = ("Interim, the study unfinished (cells still train, or it stopped before its end): these verdicts "
                 "are on the cells finished so far and may change when the rest come in (an equivalence or a "
                 "difference seen on part of the seeds is often not the one all of them give).")


def _interim_first(data: ReportData, sentences: list[str]) -> list[str]:
    """In short, said first to be interim where it is: a distributed-tuning audit's interim report
    read "no regularizer helped" and "L1 practically the same" that the finished study did not say."""
    return [INTERIM_FIRST, *sentences] if data.interim and sentences else sentences
