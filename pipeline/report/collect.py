"""Report, step 1: a study's runs read back from MLflow (through Tracker only) into ReportData.

Trial runs are searched by the study's tags across every experiment and root run, so resumed
and multi-machine runs are all included. Runs of another configuration of the study (another
config_hash) are counted, never mixed in; each grid cell keeps one run (`_one_per_cell`).

The number of round trips does not grow with the trials: final metrics come with the search,
per-epoch curves and weight histograms from the trial summaries on the dataset parents, and what
no summary covers in bulk (Tracker.curves, Tracker.run_artifacts).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional

import pandas as pd
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from .. import arms
from .. import runtree as rt
from ..lifecycle import Outcome
from ..study import Study
from ..summary import verdict_parents
from ..task import METRICS, metric_for, read_in, readable_in
from ..tracking import RunRecord, Tracker
from ..words import counted, plural

# every metric of the task's family on the test split too (test_r2 beside a primary MSE)
TEST_METRICS = tuple(f"test_{name}" for name in METRICS)
FINAL_KEYS = ("test_metric", "final_train_metric", "final_val_metric", "gap_metric", "gap_loss",
              "sparsity_lt_0.0001", "sparsity_lt_0.001", "sparsity_lt_0.01", "weight_l2_total", "train_seconds",
              *TEST_METRICS)
# the data loss: with the penalty added, L1 and penalty-L2 curves would not compare with weight decay's
CURVE_KEYS = ("train_data_loss", "val_loss")
STRENGTH_KEYS = ("dropout", "l1", "l2", "l2_mode")   # as the trial's MLflow params; blank where its arm has none
RUN_COLUMNS = ("run_id", "experiment_id", "run_name", "dataset", "arm", "variant", "seed", "attempt", "status", "task",
               "metric_name", "fail_reason", "outcome", "untrained", "device", "engine", "worker", "group", "n_train", "start", "end",
               "strengths", *STRENGTH_KEYS, *FINAL_KEYS)
TUNING_COLUMNS = ("dataset", "arm", "number", "status", "reason", "outcome", "spent", "stopped", "task", "objective",
                  "l1", "l2", "dropout")
# Trial runs written before the engine tag existed all came from the population engine.
LEGACY_ENGINE = "population"


@dataclass
class ReportData:
    study: Study
    runs: pd.DataFrame                       # one row per trial run kept (latest per cell)
    retries: pd.DataFrame = field(default_factory=pd.DataFrame)   # the attempts a cell's kept run replaced
    curves: dict = field(default_factory=dict)      # run_id -> {key: [values per epoch]}
    histograms: dict = field(default_factory=dict)  # run_id -> {"edges": [...], "counts": [...]}
    roots: list = field(default_factory=list)       # the study's root runs (tracking.RunRecord)
    foreign_roots: set = field(default_factory=set)  # of those, the ids above other configurations' runs only
    tracking_uri: str = ""
    other_configs: int = 0   # trial runs of this study under other settings (not mixed in)
    other_epochs: dict = field(default_factory=dict)   # of those, {epochs: runs} trained for other epochs (--epochs)
    # trial runs of this configuration on seeds or arms the study file (as given) does not list,
    # e.g. after `ablation --seeds 7` on a 5-seed study: {"runs": n, "seeds": [...], "arms": [...]}
    outside: dict = field(default_factory=dict)
    # finished trial runs of this configuration written before every split recorded every metric,
    # trained under another metric than the study file now reads: no validation or training
    # value in it (the console leaves them out too)
    unreadable: int = 0
    tuning: pd.DataFrame = field(default_factory=pd.DataFrame)   # tuning trials, when the study tunes
    chosen: dict = field(default_factory=dict)                   # (dataset, arm) -> strengths used by the grid
    data_params: dict = field(default_factory=dict)              # dataset -> its parent run's params (data_*, ...)
    parent_runs: dict = field(default_factory=dict)              # dataset -> the parent run that holds its verdicts
    parent_status: dict = field(default_factory=dict)            # dataset -> that run's status (RUNNING: training)
    seeds_added_after: dict = field(default_factory=dict)        # dataset -> its parent's rt.SEEDS_ADDED_AFTER
    dataset_parents: list = field(default_factory=list)          # the dataset runs of this configuration
    deleted: dict = field(default_factory=dict)                  # trial runs deleted in MLflow: {run id: tags}
    root_of_current: Optional[str] = None   # the root run above the latest parent that holds verdicts

    def own_roots(self, building: Optional[str] = None) -> list:
        """The study's root runs but those above other configurations' runs only (foreign_roots),
        oldest first; `building`, the root that builds the report, always."""
        return sorted((r for r in self.roots if r.run_id not in self.foreign_roots or r.run_id == building),
                      key=lambda r: r.start_time or 0)

    @cached_property
    def interim(self) -> str:
        """interim_note, worked out once (the builder, the analysis and the page all ask; `collect`
        has filled everything it reads before any of them does): "" for a study that is done."""
        return interim_note(self)


def collect(study: Study, tracker: Tracker) -> ReportData:
    """The study's runs (ReportData.study: under the identity they were recorded with, Study.adopted)."""
    trials = tracker.study_runs(study.name, rt.TRIAL)
    known: dict[str, set[str]] = {}
    for r in trials:
        known.setdefault(r.tags.get(rt.DATASET_LABEL), set()).add(r.tags.get(rt.CONFIG_HASH))
    study = study.adopted(known)
    hashes = {plan.label: plan.config_hash for plan in study.plans}
    metrics = {plan.label: plan.dataset.metric for plan in study.plans}
    rows, other_configs, outside, unreadable = [], 0, [], 0
    epochs, other_epochs = {plan.label: plan.training.epochs for plan in study.plans}, {}
    # a path added later, or a strength changed, leaves the earlier runs at other points out, as the console does
    points = {plan.label: study.listed_points(plan) for plan in study.plans}
    for r in trials:
        if r.tags.get(rt.DATASET_LABEL) not in hashes:
            continue  # a dataset this view (--datasets) leaves out
        if hashes[r.tags.get(rt.DATASET_LABEL)] != r.tags.get(rt.CONFIG_HASH):
            other_configs += 1
            if (e := r.params.get("epochs")) and e != str(epochs[r.tags.get(rt.DATASET_LABEL)]):   # an --epochs run's
                other_epochs[e] = other_epochs.get(e, 0) + 1
            continue  # another configuration of this study: never mix settings
        row = _trial_row(r, metrics.get(r.tags.get(rt.DATASET_LABEL)))
        if row is not None and row.pop("unreadable"):
            unreadable += 1   # as the console does (results.study_results): not mixed in
        elif row is not None and row["variant"] in points[row["dataset"]].get(row["arm"], ()) and row["seed"] in study.seeds:
            rows.append(row)
        elif row is not None:
            outside.append(row)
    every = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    df = _one_per_cell(every.copy())
    data = ReportData(study, df, roots=tracker.study_runs(study.name, rt.ROOT), tracking_uri=tracker.uri,
                      other_configs=other_configs, other_epochs=other_epochs, outside=_outside(study, outside, points), unreadable=unreadable,
                      retries=every[~every["run_id"].isin(set(df["run_id"]))].reset_index(drop=True))
    data.tuning = collect_tuning(study, tracker, hashes)
    if len(df):
        data.chosen = _chosen_strengths(trials, hashes)
        _curves_and_histograms(data, tracker, trials, hashes)
    else:   # no run ended: an enqueue's parents, RUNNING while its cells wait for workers, tell it from a study never run
        for p in tracker.study_runs(study.name, rt.DATASET):   # RUNNING where any is (an earlier one may be KILLED)
            if hashes.get(label := p.tags.get(rt.DATASET_LABEL)) == p.tags.get(rt.CONFIG_HASH) and \
                    data.parent_status.get(label) != "RUNNING":
                data.parent_status[label] = p.status
    return data


def _outside(study: Study, rows: list[dict], listed: dict[str, dict[str, set[str]]]) -> dict:
    """What the runs left out because the study file does not list their seed, arm, path point or
    strength are on (`listed`: each dataset's points, Study.listed_points): a point off an arm's
    path (it has several), or another strength of an arm without one (its cells are named by it)."""
    if not rows:
        return {}
    off = [r for r in rows if r["arm"] in listed[r["dataset"]] and r["variant"] not in listed[r["dataset"]][r["arm"]]]

    def where(r: dict) -> str:
        return f"{r['arm']} at {r['variant'] or 'its own strengths'}"

    return {"runs": len(rows), "seeds": sorted({r["seed"] for r in rows} - set(study.seeds)),
            "arms": sorted({str(r["arm"]) for r in rows} - set(study.arms)),
            "points": sorted({where(r) for r in off if len(listed[r["dataset"]][r["arm"]]) > 1}),
            "strengths": sorted({where(r) for r in off if len(listed[r["dataset"]][r["arm"]]) <= 1})}


def interim_note(data: ReportData) -> str:
    """What the report says when some dataset's parent run is still RUNNING (workers still train its
    cells, or a study stopped before its end) or KILLED with cells that never ended (a Ctrl-C: the
    report recorded such a study's verdicts as its answer, Holm counting only what had run), so the
    verdicts are interim; "" otherwise."""
    training = [label for label, status in data.parent_status.items() if status == "RUNNING"]
    stopped = [label for label, status in data.parent_status.items() if status == "KILLED" and not _all_ended(data, label)]
    if not training and not stopped:
        return ""
    study = data.study
    done = int((data.runs["status"] == "FINISHED").sum()) if len(data.runs) else 0
    total = "" if study.adaptive else f" of {len(study.plans) * len(study.grid_cells(study.seeds))}"
    what = " and ".join(part for part in (f"{', '.join(training)} still training" if training else "",
                                          f"{', '.join(stopped)} stopped before {plural(len(stopped), 'its')} end"
                                          if stopped else "") if part)
    why = "; ".join(part for part in ("the parent run is RUNNING: workers at work, or a study stopped before its end, which "
                                      "the same command resumes" if training else "",
                                      "a KILLED parent run: the study was interrupted, and the same command resumes it"
                                      if stopped else "") if part)
    return (f"interim: {what} ({done}{total} cells of the study have finished runs; {why}). These verdicts are not "
            "recorded in MLflow; build the report again when the study is done")


def _all_ended(data: ReportData, label: str) -> bool:
    """Whether every cell of the dataset's grid ended: finished, or failed for good (an adaptive
    study's grid is not known here: not said to have ended)."""
    if data.study.adaptive or not len(data.runs):
        return False
    ended = data.runs[(data.runs["dataset"] == label) & data.runs["status"].isin(["FINISHED", "FAILED"])]
    return len(ended) >= len(data.study.grid_cells(data.study.seeds))


def outside_note(data: ReportData) -> str:
    """The left-out runs in a sentence or two, with how to include them; "" when none were."""
    o = data.outside
    older = (f"{data.unreadable} trial run(s) were trained under another metric before every split recorded "
             "every metric, and have no validation value in the one this study file reads: they are left out "
             "(as on the console); set the metric they were trained under to include them") if data.unreadable else ""
    if not o:
        return older
    where = "; ".join(part for part in (
        f"seeds {', '.join(map(str, o['seeds']))}" if o["seeds"] else "",
        f"arms {', '.join(o['arms'])}" if o["arms"] else "",
        f"points {', '.join(o.get('points', []))}" if o.get("points") else "",   # a path's point taken out
        # an arm's other strength (its cells are named by it: Study.point_ids)
        f"other strengths {', '.join(o.get('strengths', []))}" if o.get("strengths") else "") if part)
    seeds_flag = data.study.seeds_flag
    how = ("" if not o["seeds"] or o["arms"] or o.get("points") or o.get("strengths") else
           " (without --seeds the report reads the study file's seeds)" if seeds_flag else
           f" (report --seeds {max(o['seeds']) + 1} includes seeds up to {max(o['seeds'])})")
    listing = f"the study file with --seeds {seeds_flag}" if seeds_flag else "the study file"
    return (f"{o['runs']} trial run(s) of this configuration are on {where}, which {listing} does not "
            f"list, and are not included{how}") + (f". {older}" if older else "")


def other_epochs_hint(data: ReportData) -> str:
    """Where runs under other settings were trained for other epochs (`ablation --epochs 2`, a quick
    look): how many, and the flag that reports them ("" where none were)."""
    if not data.other_epochs:
        return ""
    e, n = max(data.other_epochs.items(), key=lambda kv: kv[1])
    epochs = counted(int(e), "epoch") if e.isdigit() else f"{e} epochs"
    return f"; {n} of them trained for {epochs}, not the study file's: report --epochs {e} reports those"


def _curves_and_histograms(data: ReportData, tracker: Tracker, trials: list[RunRecord], hashes: dict) -> None:
    """The finished trials' curves and weight histograms: from the trial summaries of the dataset
    parents of this configuration, the rest in bulk."""
    every = tracker.study_runs(data.study.name, rt.DATASET)
    parents = [p for p in every if hashes.get(p.tags.get(rt.DATASET_LABEL)) == p.tags.get(rt.CONFIG_HASH)]
    data.dataset_parents = parents   # what changed after verdicts were given (summary.chosen_after_now)
    data.deleted = {run: tags for run, tags in tracker.deleted_runs(data.study.name, rt.TRIAL).items()
                    if hashes.get(tags.get(rt.DATASET_LABEL)) == tags.get(rt.CONFIG_HASH)}
    # roots whose dataset runs are all another configuration's (an `mlflow run` with other flags,
    # into another experiment) are no provenance of this report; a root without dataset runs of
    # its own (it resumed a parent another root opened) may have trained this one's cells: kept
    mine = {p.tags.get(MLFLOW_PARENT_RUN_ID) for p in parents}
    data.foreign_roots = {p.tags.get(MLFLOW_PARENT_RUN_ID) for p in every} - mine - {None}
    for p in sorted(parents, key=lambda p: p.start_time or 0):   # the latest parent's view of its data
        data.data_params[p.tags.get(rt.DATASET_LABEL)] = p.params
        data.parent_status[p.tags.get(rt.DATASET_LABEL)] = p.status
        # the record only grows: the longest of the parents' (one opened by a version that tagged only the
        # parent open when the seeds were added lacks it)
        added = json.loads(p.tags.get(rt.SEEDS_ADDED_AFTER, "[]"))
        label = p.tags.get(rt.DATASET_LABEL)
        data.seeds_added_after[label] = max(data.seeds_added_after.get(label, []), added, key=len)
    data.parent_runs = verdict_parents(data.study, parents)   # its figures go there too, and the report's files
    for p in sorted(parents, key=lambda p: p.start_time or 0):   # on the root run above the latest of them
        if p.run_id in data.parent_runs.values():
            data.root_of_current = p.tags.get(MLFLOW_PARENT_RUN_ID) or data.root_of_current
    summaries = tracker.trial_summaries(parents)
    finished = set(data.runs.loc[data.runs["status"] == "FINISHED", "run_id"])
    uris = {r.run_id: r.artifact_uri for r in trials if r.run_id in finished}
    data.curves = tracker.curves(list(uris), CURVE_KEYS, summaries)
    data.histograms = tracker.run_artifacts(uris, rt.WEIGHT_HISTOGRAM, summaries)


def _trial_row(r: RunRecord, metric: Optional[str]) -> Optional[dict]:
    """One trial run as a row of the runs DataFrame, its *_metric values read in the study
    file's `metric` (task.read_in: an untuned study's runs may have been trained under another);
    None when its seed tag is unreadable."""
    tags, m = r.tags, r.metrics
    try:
        seed = int(tags.get(rt.SEED, ""))
    except ValueError:
        return None
    label, task = tags.get(rt.DATASET_LABEL), tags.get(rt.TASK, "classification")
    name, own = metric_for(task, metric).name, tags.get(rt.METRIC_NAME) or metric_for(task).name
    m = {**m, **read_in(m, task, metric, own=own)}
    return {
        "unreadable": r.status == "FINISHED" and not readable_in(r.metrics, name, own),
        "run_id": r.run_id, "experiment_id": r.experiment_id, "run_name": r.run_name,
        "dataset": label, "arm": tags.get(rt.ARM), "seed": seed, "status": r.status,
        "attempt": int(tags[rt.ATTEMPT]) if str(tags.get(rt.ATTEMPT, "")).isdigit() else 1,   # a hand-edited tag: 1
        "task": task, "metric_name": metric_for(task, metric).name,
        "fail_reason": tags.get(rt.FAIL_REASON, ""), "outcome": tags.get(rt.OUTCOME, ""),
        "untrained": tags.get(rt.UNTRAINED) == "yes",   # popped ahead, stopped before it trained
        "device": tags.get(rt.DEVICE, ""), "engine": tags.get(rt.ENGINE) or LEGACY_ENGINE,
        "worker": tags.get(rt.WORKER, ""),   # host:pid:token of the process that trained it
        "group": tags.get(rt.DATASET_GROUP, label), "n_train": int(tags.get(rt.N_TRAIN, 0) or 0),
        "variant": tags.get(rt.VARIANT, ""),   # a regularization path's point; "" for the arm's own strengths
        "start": r.start_time, "end": r.end_time, **_strengths(tags.get(rt.ARM), r.params),
        **{k: m.get(k, math.nan) for k in FINAL_KEYS},
        **({} if "weight_l2_total" in m else {"weight_l2_total": _total_norm(m)}),
    }


def _strengths(arm: Optional[str], params: dict) -> dict:
    """The strengths a trial trained with (its params), only those its arm uses, and in words."""
    components = arms.ARMS[arm].components if arm in arms.ARMS else ()
    used = {"dropout": "dropout" in components, "l1": "l1" in components, "l2": "l2" in components,
            "l2_mode": "l2" in components}
    out = {k: params.get(k, "") if used[k] else "" for k in STRENGTH_KEYS}
    try:
        out["strengths"] = arms.strengths_text(arm, params["dropout"], params["l1"], params["l2"],
                                               params.get("l2_mode", "penalty")) if components else ""
    except (KeyError, ValueError):   # a run without its params (an older or hand-made one)
        out["strengths"] = ""
    return out


def _total_norm(metrics: dict) -> float:
    """The total weight norm of a run written before it was logged, from its per-layer norms."""
    layers = [v for k, v in metrics.items() if k.startswith("weight_l2_layer")]
    return math.sqrt(sum(v * v for v in layers)) if layers else math.nan


def _one_per_cell(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (dataset, arm, seed): its FINISHED run if any (the latest), else its latest attempt."""
    if not len(df):
        return df
    df["finished"] = df["status"] == "FINISHED"
    # in the cells' order, not the store's (run ids, runs of one population started in the same
    # millisecond): the figures' jittered points and trials.csv then come out the same every run
    return (df.sort_values(["finished", "start", "run_id"]).groupby(["dataset", "arm", "variant", "seed"], as_index=False)
            .tail(1).drop(columns="finished").sort_values(["dataset", "arm", "variant", "seed"], kind="stable")
            .reset_index(drop=True))


def _chosen_strengths(trials: list[RunRecord], hashes: dict) -> dict:
    """(dataset, arm) -> the strengths the grid trained with, from its runs that used tuned values:
    those of the arm's own components (a dropout arm's runs carry l1 and l2 params of 0 too)."""
    chosen = {}
    for r in trials:
        tags = r.tags
        if tags.get(rt.TUNED) != "yes":
            continue
        key = (tags.get(rt.DATASET_LABEL), tags.get(rt.ARM))
        if hashes.get(key[0]) == tags.get(rt.CONFIG_HASH) and key not in chosen:
            own = arms.ARMS[key[1]].components if key[1] in arms.ARMS else ("dropout", "l1", "l2")
            chosen[key] = {k: r.params.get(k) for k in ("dropout", "l1", "l2") if k in own}
    return chosen


def collect_tuning(study: Study, tracker: Tracker, hashes: dict) -> pd.DataFrame:
    """Tuning trials of the current configuration: one row per trial with its strengths."""
    rows = []
    for r in tracker.study_runs(study.name, rt.TUNING_TRIAL):
        tags, params = r.tags, r.params
        if hashes.get(tags.get(rt.DATASET_LABEL)) != tags.get(rt.CONFIG_HASH):
            continue
        dropout = [float(v) for k, v in params.items() if k.startswith("tuned_dropout_")]
        ended = Outcome.of_run(tags.get(rt.OUTCOME, ""), tags.get(rt.FAIL_REASON, ""))
        rows.append({"dataset": tags[rt.DATASET_LABEL], "arm": tags.get(rt.ARM),
                     "number": int(tags.get(rt.TUNE_TRIAL, 0)),
                     "status": r.status, "reason": tags.get(rt.FAIL_REASON, ""), "outcome": tags.get(rt.OUTCOME, ""),
                     # spent a trial of the budget; stopped (Ctrl-C, a dead worker): spent none, asked again
                     "spent": ended is None or ended.spends_budget,
                     "stopped": ended is not None and not ended.spends_budget and ended is not Outcome.DUPLICATE,
                     "task": tags.get(rt.TASK, ""),   # the direction of its objective, before any grid run
                     "objective": r.metrics.get("tune_objective", math.nan),
                     "l1": float(params.get("tuned_l1", "nan")), "l2": float(params.get("tuned_l2", "nan")),
                     "dropout": statistics.fmean(dropout) if dropout else math.nan})
    return pd.DataFrame(rows, columns=list(TUNING_COLUMNS))
