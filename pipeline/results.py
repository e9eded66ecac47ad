"""A study's results read back: its finished cells, per dataset and arm, as verdicts.DatasetResults
(study_results), from the Optuna storage (with a tracker, a value a trial did not record there is
read from its MLflow run). For the adaptive rounds' decisions (orchestrate.next_round) and
`ablation`'s answer (the console summary, In short, the verdicts recorded in MLflow); the report
reads its runs from MLflow itself (report/collect.py)."""

from __future__ import annotations

import math
from typing import Optional

from optuna.trial import TrialState

from . import grid, lifecycle, path_points, verdicts
from . import runtree as rt
from .dataset_record import far_record
from .preparation import optuna_study_name
from .storage import DEFAULT_STORAGE
from .study import Study
from .task import metric_for, read_in, readable_in
from .tracking_reads import chosen_after_now

__all__ = ["study_results"]

def _readable(results: list, metric: str, own: str, tracker, study: Study, plan) -> list[tuple]:
    """complete_results' trials, with the values of those that did not record `metric` on the trial
    read from their MLflow runs' metrics (one search of the dataset's trial runs, only then)."""
    missing = {run_id for *_, final, run_id in results if run_id and not readable_in(final, metric, own)}
    logged = {}
    if missing and tracker is not None:
        logged = {r.run_id: r.metrics for r in tracker.study_runs(study.name, rt.TRIAL, **{rt.CONFIG_HASH: plan.config_hash})
                  if r.run_id in missing}
    return [(arm, seed, variant, {**final, **lifecycle.per_metric(logged.get(run_id, {}))})
            for arm, seed, variant, final, run_id in results]


def _chance_of(ostudy, metric: str) -> Optional[float]:
    """The constant prediction's `metric` as the Optuna study records it; CHANCE (the primary
    metric's at the last prepare) only where that was this metric, as the report's params are read."""
    attrs = ostudy.user_attrs
    return attrs.get(rt.CHANCES, {}).get(metric, attrs.get(rt.CHANCE) if attrs.get(rt.METRIC_NAME) == metric else None)


def _finished_cells(study: Study, plan, ostudy, tracker, task: str, metric: str, deleted: set[str]) -> tuple:
    """(paths: arm -> point -> seed -> its values, finals: (arm, point, seed) -> every final metric,
    gone: (arm, point, seed) -> run id of a finished cell whose MLflow run was deleted) of a dataset's
    finished cells with a value in `metric` (task.read_in)."""
    paths: dict[str, dict[str, dict[int, dict]]] = {arm: {variant: {} for variant in study.point_ids(arm, plan)}
                                                    for arm in study.arms}
    finals: dict[tuple, dict] = {}
    own = metric if study.spec.tune else metric_for(task).name   # see study_results
    complete = grid.complete_results(ostudy)
    gone = {(arm, variant, seed): run_id for arm, seed, variant, _, run_id in complete if run_id in deleted}
    complete = [r for r in complete if r[-1] not in deleted]   # as the report, which reads active runs
    for arm, seed, variant, final in _readable(complete, metric, own, tracker, study, plan):
        if not readable_in(final, metric, own):
            continue   # not recorded in this metric: left out, as the report does
        final = {**final, **read_in(final, task, metric, own)}
        if math.isnan(final["test_metric"]):
            continue   # no value (ROC AUC of a one-class split): as if not run
        if arm in paths and variant in paths[arm] and seed in study.seeds:
            paths[arm][variant][seed] = {"test": final["test_metric"], "val": final.get("final_val_metric", math.nan),
                                         "gap": final.get("gap_metric", math.nan),
                                         # what L1 and L2 do to the weights, along the path (path_summary)
                                         "sparsity": final.get("sparsity_lt_0.001", math.nan),
                                         "norm": final.get("weight_l2_total", math.nan)}
            finals[(arm, variant, seed)] = final
    return paths, finals, gone


def study_results(study: Study, storage: Optional[str] = None, tracker=None) -> list[verdicts.DatasetResults]:
    """Every complete cell's test metric, per dataset and arm, from the Optuna storage (with
    `tracker`, a trial that did not record the study file's metric there is read from its MLflow
    run: trials from before log_loss was kept on the trial, as the report reads them)."""
    out = []
    parents = tracker.study_runs(study.name, rt.DATASET) if tracker is not None else []   # for chosen_after
    deleted = set(tracker.deleted_runs(study.name, rt.TRIAL)) if tracker is not None else set()
    for plan in study.plans:
        ostudy = grid.load_existing(storage or DEFAULT_STORAGE, optuna_study_name(study, plan))
        if ostudy is None:
            continue
        # read in the study file's metric, whichever the cells were trained under (task.read_in);
        # a trial without per-metric values predates them, when the metric was in the identity:
        # one of an untuned study was trained under the task's default
        task = ostudy.user_attrs.get(rt.TASK, "classification")
        metric = metric_for(task, plan.dataset.metric).name
        paths, finals, gone = _finished_cells(study, plan, ostudy, tracker, task, metric, deleted)
        hib = metric_for(task, metric).higher_is_better
        selected = {arm: path_points.select_variant(v, hib) if len(v) > 1 else next(iter(v)) for arm, v in paths.items()}
        values = {arm: {seed: x["test"] for seed, x in paths[arm][selected[arm]].items()} for arm in study.arms}
        diverged: dict[str, set[int]] = {}   # seeds whose cell diverged and has no value: why they are missing
        for t in ostudy.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
            # at a point the file lists: a diverged cell of an earlier strength says nothing of this one's seed
            if (c := grid.cell_of(t)) and lifecycle.repeats(t) and c[0] in values and c[2] in paths[c[0]] \
                    and c[1] in study.seeds and c[1] not in values[c[0]]:
                diverged.setdefault(c[0], set()).add(c[1])
        secondary = {o.key: {arm: {seed: finals[(arm, selected[arm], seed)][o.key] for seed in values[arm]
                                   if o.key in finals[(arm, selected[arm], seed)]} for arm in study.arms}
                     for o in verdicts.SECONDARY}
        out.append(verdicts.DatasetResults(plan.label, task, values, plan.rope, secondary, metric,
                                           {a: v for a, v in paths.items() if len(v) > 1}, selected,
                                           _chance_of(ostudy, metric),
                                           ostudy.user_attrs.get(rt.STUDY_N_TEST),
                                           ostudy.user_attrs.get(rt.STUDY_TEST_CLASS_ROWS),
                                           class_weighted=plan.dataset.class_weight is not None,
                                           leaky_columns=ostudy.user_attrs.get(rt.STUDY_LEAKY_COLUMNS, []),
                                           train_chance=ostudy.user_attrs.get(rt.TRAIN_CHANCES, {}).get(metric),
                                           seeds_added_after=ostudy.user_attrs.get(rt.SEEDS_ADDED_AFTER, []),
                                           chosen_after=chosen_after_now(study, plan.label, metric, parents),   # a view's pending change too
                                           n_val=ostudy.user_attrs.get(rt.STUDY_N_VAL),
                                           val_chooses=study.chosen_on_validation(plan),
                                           diverged={arm: sorted(seeds) for arm, seeds in diverged.items()},
                                           deleted=verdicts.at_selected_points(gone, selected),
                                           ran=bool(finals) or any(not grid.retired(t) for t in ostudy.get_trials(
                                               deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED))),
                                           **dict(zip(("far_targets", "far_in"),
                                                      far_record(ostudy.user_attrs.get(rt.STUDY_FAR_TARGETS))))))
    return out
