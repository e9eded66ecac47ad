"""The prepare stage (orchestrate.py runs the stages in order): everything a study's cells need
before any worker pops one, made idempotently, so that any command may run it again.

    connect   validate everything that can be validated (preflight.py: datasets, device, both stores)
              and take the identity the storage holds the study under (joining.adopted)
    prepare   the MLflow root run; per dataset its Optuna study (with what the console and the
              report read back: task, chance levels, test rows), tuning, the grid enqueued (with
              adaptive seeds on the seeds the dataset reached), and its parent run

RunContext, what every later stage carries, and the names of the datasets' Optuna studies live here too.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

from mlflow.exceptions import MlflowException
from optuna.trial import TrialState

from . import alive_lock, grid, joining, lifecycle, preflight
from . import runtree as rt
from .dataset_record import (chance_level, chance_levels, data_line, far_targets, leaky_columns, split_params, test_class_rows,
                             train_chance_levels, train_chance_params)
from .enqueue_lock import exclusive
from .runtime import Stopwatch, git_commit, mask_credentials
from .splits import Splits
from .study import DatasetPlan, Study
from .task import metric_for
from .tracking import Tracker, dataset_input
from .words import and_list, counted, plural


@dataclass
class RunContext:
    """What every stage after connect carries: the study (under the identity its storage holds it
    by), its MLflow store, experiment and root run, the Optuna storage, and the time line."""
    study: Study
    tracker: Tracker
    experiment_id: str
    root_id: str
    storage: str
    clock: Stopwatch = field(default_factory=Stopwatch)
    trained_nothing: bool = False   # run_ablation: no trial of any dataset ended during the call
    opened: list = field(default_factory=list)   # the dataset parents this call opened for itself (owned)
    unenqueued: list = field(default_factory=list)   # a worker's datasets with no cell enqueued (an enqueue stopped)


def optuna_study_name(study: Study, plan: DatasetPlan) -> str:
    return grid.study_name(study.name, plan.label, plan.config_hash)


def open_dataset_study(ctx_or_storage, study: Study, plan: DatasetPlan, data: Splits):
    """The dataset's grid study (grid.open_study: loaded, created only where the storage lacks it);
    its direction is the primary metric's."""
    storage = ctx_or_storage if isinstance(ctx_or_storage, str) else ctx_or_storage.storage
    return grid.open_study(storage, optuna_study_name(study, plan), metric_for(data.task, data.metric).direction)


def connect(study: Study, storage: str, tracking: Optional[str]) -> tuple[dict, Tracker]:
    """Validate everything that can be validated before writing: device, datasets, both stores.
    Returns (datasets by label, tracker)."""
    return preflight.validate_inputs(study, storage, tracking), Tracker(tracking)


def prepare(study: Study, storage: str, tracking: Optional[str], owned: bool = True,
            clock: Optional[Stopwatch] = None) -> tuple[RunContext, dict]:
    """Create the experiment, the root run, every dataset's Optuna study with its grid enqueued,
    and the parent runs, so that workers only pop cells. Idempotent."""
    clock = clock or Stopwatch()
    with clock("loading"):
        data = preflight.validate_inputs(study, storage, tracking)
        study = joining.adopted(study, storage)   # after the checks: the storage answers
        # a study enqueued with another MLflow store (an `enqueue` as a status check without its
        # --tracking-uri): refused before MLflow creates a store here or an attribute is rewritten
        tracker = joining.study_tracker(study, storage, tracking)
    # one enqueue at a time: two at once would both add a missing cell, and both open runs
    with clock("bookkeeping"), exclusive(storage, study.name):
        ctx = RunContext(study, tracker, _experiment(study, tracker), "", storage, clock)
        ctx.root_id = _root_run(ctx)
        try:
            _prepare_datasets(ctx, data, owned)
        except BaseException as e:   # Ctrl-C while tuning: the root was left RUNNING (a rerun closed it KILLED)
            lifecycle.close_quietly(tracker, [*ctx.opened, *([ctx.root_id] if tracker.owns_root() else [])], e)
            raise
    return ctx, data



def _prepare_datasets(ctx: RunContext, data: dict, owned: bool) -> None:
    """prepare's part after the root run: say the study, then prepare each dataset."""
    study, tracker = ctx.study, ctx.tracker
    print(f"study {study.name}: {counted(len(study.plans), 'dataset')} x {counted(len(study.arms), 'arm')} x "
          + (f"up to {len(study.seeds)} seeds (adaptive)" if study.adaptive else counted(len(study.seeds), 'seed'))
          + f"; tracking {mask_credentials(tracker.uri)}, "
          f"optuna {mask_credentials(ctx.storage)}", flush=True)
    say_strengths(study)
    for plan in study.plans:
        d = data[plan.label]
        given_up, done, cells, reaped = prepare_dataset(ctx, plan, d, owned)
        print(f"[{plan.label}] {d.sizes_line()}; config {plan.config_hash}"
              + (f"; resuming: {done} of the {cells} cells were done already" if 0 < done < cells else "")
              # an `enqueue` as a status check takes them over: said, not a silent change of the counts
              + (f"; {counted(reaped, 'cell')} in training by a worker that died or is cut off "
                 f"{plural(reaped, 'was')} taken over (enqueued again, or completed from "
                 f"{plural(reaped, 'its')} finished {plural(reaped, 'run')})" if reaped else "")
              + _given_up_words(*given_up), flush=True)
        if d.preprocessing:
            print(f"[{plan.label}] data: {data_line(d)}", flush=True)


def say_strengths(study: Study) -> None:
    """Each arm's strengths, once for the datasets that share them: "strengths: ..." when every
    dataset does, else "[digits, wine] strengths: ..." per group."""
    groups: dict[str, list[str]] = {}
    for plan in study.plans:
        if line := study.strengths_line(plan):
            groups.setdefault(line, []).append(plan.label)
    for line, labels in groups.items():
        where = "" if len(groups) == 1 and len(labels) == len(study.plans) else f"[{', '.join(labels)}] "
        print(f"{where}strengths: {line}", flush=True)


def _experiment(study: Study, tracker: Tracker) -> str:
    experiment_id = tracker.experiment_for(study.name)
    if os.environ.get("MLFLOW_RUN_ID") and experiment_id == "0":   # a study that lived there before
        print(f"note: this study's runs are in MLflow's Default experiment, where `mlflow run` put them "
              f"before; add --experiment-name {study.name} to keep studies apart", flush=True)
    elif name := tracker.project_pointer(experiment_id, study.name):
        print(f"note: `mlflow run` put its project run in MLflow's Default experiment; this study's runs are "
              f"in the experiment '{name}' (the links below), the project run points there; with "
              f"--experiment-name {name} they nest under it", flush=True)
    return experiment_id


def _root_run(ctx: RunContext) -> str:
    """The study's root run, after closing root, dataset and tuning runs that a dead process left
    RUNNING (of this machine, or of any that held its liveness lock)."""
    import torch

    tracker, study = ctx.tracker, ctx.study
    lifecycle.end_dead_owners(tracker, ctx.experiment_id, study.name, ctx.storage)
    seeds = study.seeds
    consecutive = seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    root = tracker.root_run(ctx.experiment_id, study.name, {
        "study_file": study.source_text[:5000], rt.GIT_COMMIT: git_commit(),
        "optuna_storage": mask_credentials(ctx.storage), "python": sys.version.split()[0],
        "torch": torch.__version__, **(alive_lock.hold(ctx.storage) if tracker.owns_root() else {}),
        # what this run studies, with the command line's overrides (`mlflow run` shows its own
        # parameters beside them, "unset" where the study file decides)
        "arms": ", ".join(study.arms), "datasets": ", ".join(p.label for p in study.plans),
        "seeds_used": (f"{seeds[0]}-{seeds[-1]}" if consecutive and len(seeds) > 1 else ", ".join(map(str, seeds)))
        + (" (adaptive: up to these)" if study.adaptive else "")})
    tracker.log_text(root, study.source_text, "study.yaml")   # the whole file (the tag holds 5000 characters)
    return root


def dataset_tags(study: Study, plan: DatasetPlan, data: Splits) -> dict[str, str]:
    return {rt.STUDY: study.name, rt.DATASET_LABEL: plan.label, rt.DATASET_GROUP: plan.base,
            rt.N_TRAIN: str(len(data.x_train)), rt.CONFIG_HASH: plan.config_hash,
            rt.TASK: data.task, rt.METRIC_NAME: metric_for(data.task, data.metric).name}


def prepare_dataset(ctx: RunContext, plan: DatasetPlan, data: Splits, owned: bool = True) -> tuple[int, int, int]:
    """Create (or load) the dataset's Optuna study, clean up after dead workers, tune, enqueue
    the missing cells and, when there is work, create the MLflow parent run. Idempotent.
    Returns (cells given up on after their retries, cells done before this call, cells planned)."""
    study = ctx.study
    known = joining.configurations(study, plan, ctx.storage)   # one read of the study names
    if known and plan.config_hash not in known:   # say so once, when it starts, with what differs
        differs = joining.what_differs(study, plan, ctx.storage, known)
        print(f"note: [{plan.label}] settings (or a table file's contents) differ from the storage's earlier configuration(s) of study "
              f"{study.name!r} ({', '.join(known)}): this one ({plan.config_hash}) starts afresh (the earlier runs stay, "
              "apart; distributed workers join this one with this study file and flags)" + (f"; {differs}" if differs else "")
              + joining.strengths_hint(study, plan, ctx.storage, known), file=sys.stderr, flush=True)
    elif not known and "datasets" not in dict(study.overrides) and (unnamed := joining.unnamed_labels(study, ctx.storage)):
        # a label is part of the identity: `label: bc` on breast_cancer retrained it all without a word
        print(f"note: [{plan.label}] a dataset label new to study {study.name!r}: it starts afresh; the storage also "
              f"holds {', '.join(unnamed)}, which this file no longer names: if one of them was renamed {plan.label}, it "
              "trains again under the new label (a label is part of a dataset's identity; the earlier runs stay, apart)",
              file=sys.stderr, flush=True)
    ostudy = open_dataset_study(ctx, study, plan, data)
    for key, value in ((rt.STUDY, study.name), (rt.DATASET_LABEL, plan.label), (rt.CONFIG_HASH, plan.config_hash),
                       (rt.TASK, data.task), (rt.METRIC_NAME, metric_for(data.task, data.metric).name),
                       (rt.CHANCE, chance_level(data)), (rt.CHANCES, chance_levels(data)),
                       (rt.TRAIN_CHANCES, train_chance_levels(data)),
                       (rt.STUDY_N_TEST, len(data.x_test)), (rt.STUDY_N_VAL, len(data.x_val)),
                       (rt.STUDY_TEST_CLASS_ROWS, test_class_rows(data)),
                       (rt.STUDY_LEAKY_COLUMNS, leaky_columns(data)), (rt.STUDY_FAR_TARGETS, far_targets(data)),
                       (rt.STUDY_EXPERIMENT, ctx.experiment_id), (rt.STUDY_TRACKING, joining.recorded_uri(ctx.tracker.uri)),
                       (rt.STUDY_GRID, joining.grid_record(study, plan)), (rt.STUDY_ENGINE, plan.execution.engine),
                       (rt.STUDY_SETTINGS, joining.plan_record(study, plan))):
        ostudy.set_user_attr(key, value)
    looks_before = _say_looks_changed(study, plan, ostudy)
    reaped = lifecycle.reap(ostudy, ctx.tracker)
    if study.spec.tune is not None:
        from . import tuning

        if rt.STUDY_TUNED in ostudy.user_attrs:
            tuning.say_tuned(ctx, plan, data, ostudy.user_attrs[rt.STUDY_TUNED])
        else:   # before any grid cell: every worker then reads the chosen strengths from the study
            with ctx.clock("tuning"):
                ostudy.set_user_attr(rt.STUDY_TUNED, tuning.tune_dataset(ctx, plan, data))
    trials = ostudy.get_trials(deepcopy=False)   # read once (a big study's read takes seconds on PostgreSQL)
    retiring = retired_seeds(study, ostudy)   # read before note_seeds_added records the file's new count
    note_seeds_added(study, ostudy, trials, looks_before)
    if not study.view_flags() and looks_before != study.looks():
        ostudy.set_user_attr(rt.STUDY_LOOKS, study.looks())
    # waiting cells the file no longer lists (its whole grid: adaptive seeds past this look are listed)
    say_retired(study, plan, grid.retire_unlisted(ostudy, set(study.grid_cells(study.seeds, plan)), trials,
                                                  retiring))
    if study.seeds_flag is None and ostudy.user_attrs.get(rt.STUDY_FILE_SEED_LIST) != (kept := _seeds_record(study)):
        ostudy.set_user_attr(rt.STUDY_FILE_SEED_LIST, kept)   # after the retirement: a crash between retires again
    cells = study.grid_cells(seeds_reached(study, trials), plan)
    _, given_up = grid.enqueue_missing(ostudy, cells, study.spec.max_retries, lifecycle.spent_attempt, trials,
                                       lifecycle.repeats)
    latest = grid.latest_by_cell(trials)
    done = {c for c, t in latest.items() if t.state == TrialState.COMPLETE}
    diverged = sum(lifecycle.repeats(latest[c]) for c in given_up if c in latest)
    ensure_parent(ctx, plan, data, ostudy, owned)
    return (len(given_up), diverged), sum(grid.full_cell(c) in done for c in cells), len(cells), reaped


def retired_seeds(study: Study, ostudy) -> set[int]:
    """The seeds whose waiting cells an enqueue may retire: a --seeds view's own alone (the file's
    others wait for the file's workers); the file's, and those it listed at its last prepare (a
    seed taken out since), not a view's beyond them (`enqueue --seeds 4` on a file of 2: seeds 2
    and 3 wait for the view's workers, though the file never listed them)."""
    if study.seeds_flag is not None:
        return set(study.seeds)
    before = ostudy.user_attrs.get(rt.STUDY_FILE_SEED_LIST)
    if before is None:   # a study prepared before it was kept: the file's count then (never a view's), or
        before = ostudy.user_attrs.get(rt.STUDY_FILE_SEEDS)   # the seeds it took out would wait for ever
    return set(study.seeds) | set(range(before) if isinstance(before, int) else before or ())


def _seeds_record(study: Study):
    """The file's seeds as rt.STUDY_FILE_SEED_LIST keeps them: n for seeds 0..n-1, else the list."""
    seeds = study.seeds
    return len(seeds) if seeds == list(range(len(seeds))) else seeds


def say_retired(study: Study, plan: DatasetPlan, cells: list[tuple[str, int, str]]) -> None:
    """One line for the waiting cells an enqueue took out of the queue (grid.retire_unlisted):
    "[wine] 4 waiting cells at points the study file no longer lists are retired: l2 at l2=0.001"."""
    if not cells:
        return
    arms, seeds = set(study.arms), set(study.seeds)
    gone_arms = sorted({a for a, _, _ in cells if a not in arms})
    points = sorted({f"{a} at {v}" if v else a for a, s, v in cells if a in arms and s in seeds})
    gone_seeds = sorted({s for a, s, v in cells if a in arms and s not in seeds})
    kinds = ["points"] * bool(points) + ["arms"] * bool(gone_arms) + ["seeds"] * bool(gone_seeds)
    parts = points + [f"{plural(len(gone_arms), 'arm')} {', '.join(gone_arms)}"] * bool(gone_arms) + \
        [f"{plural(len(gone_seeds), 'seed')} {', '.join(map(str, gone_seeds))}"] * bool(gone_seeds)
    print(f"[{plan.label}] {counted(len(cells), 'waiting cell')} at {and_list(kinds)} the study file no longer "
          f"lists {plural(len(cells), 'is')} retired: {', '.join(parts)}", flush=True)


def _given_up_words(given_up: int, diverged: int) -> str:
    """The failed cells a run does not train again: those that diverged (the same seed diverges
    again), and those whose retries are spent."""
    if not given_up:
        return ""
    parts = ([f"{diverged} diverged (not retried: the same seed trains the same way and diverges again; lower "
              "the learning rate)"] if diverged else []) + \
        ([f"{given_up - diverged} after {plural(given_up - diverged, 'its')} retries"] if given_up > diverged else [])
    return f"; gave up on {counted(given_up, 'failed cell')}: {and_list(parts)}"


def _say_looks_changed(study: Study, plan: DatasetPlan, ostudy) -> Optional[list[int]]:
    """A note when adaptive seeds' looks (start, step, max) differ from those the dataset's results
    were judged at: each look's α is recomputed over the same seeds, after the data was seen (a
    choice made knowing the answer, which the sequential design's error rate does not cover).
    Returns the looks recorded before (a fixed study's: its number of seeds), None if none were;
    prepare_dataset records the new ones once note_seeds_added has judged the change (a crash
    between the two lost the record of seeds added after a look)."""
    before, now = ostudy.user_attrs.get(rt.STUDY_LOOKS), study.looks()
    if study.view_flags():   # --seeds: a view of the study, not its design
        return before
    if study.adaptive and before and before != now and grid.cells_done(ostudy)[0]:
        print(f"note: [{plan.label}] seeds: the looks changed from {', '.join(map(str, before))} to "
              f"{', '.join(map(str, now))} seeds after results were seen: each look's α is recomputed over the same "
              "seeds, and a design chosen knowing the results is not what the error rate covers; fix start, step "
              "and max before the first run", file=sys.stderr, flush=True)
    return before


def seeds_reached(study: Study, trials: list) -> list[int]:
    """The seeds every cell of the dataset trains on: all of the file's, or, with adaptive seeds,
    those its dataset's rounds reached (the first look's on a new study), so
    that an arm or path point added to the file later runs on the seeds the others ran on: the
    looks compare arms on the seeds both have. `trials`: the dataset study's."""
    if not study.adaptive:
        return study.seeds
    order = {seed: i for i, seed in enumerate(study.seeds)}
    # a retired cell never trained: its seed was enqueued, not reached (a seed taken out, then back)
    ran = max((order[cell[1]] + 1 for cell in grid.latest_by_cell(t for t in trials if not grid.retired(t))
               if cell[1] in order), default=0)
    # the others' seeds exactly: where the looks changed and they ran to between two, next_round
    # takes them on to the next look once the verdicts ask for it (not every arm at once now)
    return study.seeds_at(max(ran, study.looks()[0]))


def note_seeds_added(study: Study, ostudy, trials: list, looks_before: Optional[list[int]] = None) -> None:
    """Record a study whose seed design the file changed so that it has seeds it had no cell of,
    while others had results: more fixed seeds (seeds: 3, then 17), adaptive seeds stopped and
    turned into more fixed ones, fixed seeds turned adaptive, an adaptive max raised. Its tests
    assume the design was set before any look, and are optimistic when an undecided look is why
    seeds were added (optional stopping; verdict_warnings says so). Not a `--seeds` view (recorded
    nowhere), nor the file's own seeds run after such a view (`--seeds 3`, then the file's 10:
    planned before the look), nor adaptive seeds' own rounds (they plan their looks). The file's
    count of seeds (rt.STUDY_FILE_SEEDS) and its looks (rt.STUDY_LOOKS, `looks_before`: as they
    were) are kept on the Optuna study to tell; a study prepared before they were kept records
    nothing the first time."""
    if any(flag == "seeds" for flag, _ in study.overrides):
        return
    before = ostudy.user_attrs.get(rt.STUDY_FILE_SEEDS)
    most = ostudy.user_attrs.get(rt.STUDY_FILE_SEEDS_MOST)
    more_fixed = not study.adaptive and before is not None and len(study.seeds) > before
    tried, done = set(), set()
    for t in trials:
        if (cell := grid.cell_of(t)) is not None:
            tried.add(cell[1])
            if t.state == TrialState.COMPLETE:
                done.add(cell[1])
    # the most seeds an earlier design of the file planned, fixed counts and adaptive maxima alike
    # (file_seeds is a fixed design's: after adaptive rounds it is stale)
    planned = max((x for x in (most, looks_before[-1] if looks_before else None) if x is not None), default=None)
    # a design that reaches past the old one's last look (not another step, nor a lower max)
    if more_fixed or (looks_before and study.looks()[-1] > looks_before[-1]):
        seen = ostudy.user_attrs.get(rt.SEEDS_ADDED_AFTER, [])
        # seeds no earlier design of the file asked for: a `--seeds 8` view may have trained them after the
        # file's 4 were seen (they had cells, and the warning was lost); where the most is not known (a study
        # prepared before it was kept), seeds that had no cell (10 -> 3 -> 10 planned them before the look)
        added = len(study.seeds) > planned if most is not None and more_fixed else bool(set(study.seeds) - tried)
        # the look they were added after: the earlier designs' (a view's seeds beyond them came after it too)
        looked = min(len(done), planned) if more_fixed and planned else len(done)
        if done and added and seen[-1:] != [looked]:   # once per look (a rerun after a crash)
            ostudy.set_user_attr(rt.SEEDS_ADDED_AFTER, [*seen, looked])
    if not study.adaptive and before != len(study.seeds):   # after the record it decides (a crash between: judged again)
        ostudy.set_user_attr(rt.STUDY_FILE_SEEDS, len(study.seeds))
    if study.looks()[-1] > (most or 0):   # a study from before `most` was kept starts from the seeds it tried
        ostudy.set_user_attr(rt.STUDY_FILE_SEEDS_MOST, max(study.looks()[-1], before or 0, 0 if most else len(tried)))


def ensure_parent(ctx: RunContext, plan: DatasetPlan, data: Splits, ostudy, owned: bool) -> None:
    """The dataset's MLflow parent run, created when there is work and none is open."""
    study = ctx.study
    existing = ostudy.user_attrs.get(rt.STUDY_PARENT_RUN)
    # a parent from before these were logged: the report reads them (and says what the console says)
    later = {**({rt.STUDY_TEST_CLASS_ROWS: json.dumps(rows)} if (rows := test_class_rows(data)) else {}),
             **({rt.STUDY_LEAKY_COLUMNS: json.dumps(leaks)} if (leaks := leaky_columns(data)) else {}),
             **({rt.STUDY_FAR_TARGETS: json.dumps(far)} if (far := far_targets(data)) else {}),
             **train_chance_params(data)}
    if existing and later:
        ctx.tracker.add_missing_params(existing, later)
    # seeds added after results: the report reads it on the parents, the one open now and any an
    # adaptive round opens later (an adaptive max raised adds its seeds in such a round)
    added = {rt.SEEDS_ADDED_AFTER: json.dumps(seen)} if (seen := ostudy.user_attrs.get(rt.SEEDS_ADDED_AFTER)) else {}
    if existing and added:
        try:
            ctx.tracker.set_tags(existing, added)
        except MlflowException:   # deleted in the UI: the parent opened below (or a later round's) holds it
            pass
    if existing and ctx.tracker.run_status(existing) == "RUNNING":
        return  # a parent is open (another enqueue or a running study): workers attach to it
    if grid.has_waiting(ostudy):
        # Tagged with its owner only when this process will close it; distributed parents belong
        # to no process and are closed by whichever worker sees the grid done.
        owner = alive_lock.hold(ctx.storage) if owned else {}
        seeds_view = {rt.OPENED_BY_VIEW: f"--seeds {study.seeds_flag}"} if study.seeds_flag is not None else {}
        parent_id = ctx.tracker.dataset_parent(
            ctx.experiment_id, ctx.root_id, plan.label,
            {**dataset_tags(study, plan, data), rt.OPTUNA_STUDY: ostudy.study_name, **owner, **seeds_view, **added,
             rt.UI_ORDER: rt.ui_order(rt.DATASET, position=plan.position)},
            params={"dataset": plan.label, "dataset_spec": plan.dataset.model_dump_json(),
                    "training": plan.training.model_dump_json(), "execution": plan.execution.model_dump_json(),
                    "optuna_storage": mask_credentials(ctx.storage), **split_params(data)},
            dataset_input=dataset_input(data))
        ostudy.set_user_attr(rt.STUDY_PARENT_RUN, parent_id)
        if owned:
            ctx.opened.append(parent_id)
