"""Optuna orchestration: one study per (study file, dataset), the grid arms x seeds as enqueued
trials, each cell trained exactly once, resumable.

Why enqueue instead of GridSampler: GridSampler may run a cell twice under parallel workers and
never re-runs a failed cell. Enqueued trials are popped by `ask()` one at a time, so every cell
has exactly one owner, and failed cells are re-enqueued on the next run (up to `max_retries`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Optional

import optuna
from optuna.trial import TrialState

from . import datasets as datasets_mod
from .errors import Diverged, UsageError
from .study import ARMS, DatasetPlan, Study
from .tracking import Tracker, dataset_input, mask_credentials, tracking_uri
from .train import TrialConfig, loss_and_metric, train

DEFAULT_STORAGE = "sqlite:///optuna.db"
SEED_HIGH = 2**31 - 1


class Interrupted(BaseException):
    """SIGTERM/SIGINT: stop after marking the current runs KILLED."""


def _raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGINT, _raise_interrupted)


def optuna_study_name(study: Study, plan: DatasetPlan) -> str:
    return f"{study.name}.{plan.label}.{plan.config_hash}"


def cell_name(label: str, arm: str, seed: int) -> str:
    return f"{label}/{arm}/seed{seed}"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def open_study(storage: str, name: str, task: str) -> optuna.Study:
    direction = "maximize" if loss_and_metric(task)[3] else "minimize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True)
    except Exception as e:
        raise storage_error(storage, e) from None


def storage_error(storage: str, e: Exception) -> UsageError:
    # SQLAlchemy/driver errors carry long multi-line texts (and the URL); the user needs one line.
    first = str(e).splitlines()[0][:200] if str(e) else ""
    return UsageError(f"--storage = {mask_credentials(storage)!r}: cannot open the Optuna storage "
                      f"({type(e).__name__}: {mask_credentials(first)})")


def _cell(trial: optuna.trial.FrozenTrial) -> Optional[tuple[str, int]]:
    if "arm" in trial.params and "seed" in trial.params:
        return trial.params["arm"], int(trial.params["seed"])
    return None


def _process_alive(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine: leave it to heartbeats
    try:
        os.kill(int(pid), 0)
        return True
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True


def reap_dead_trials(ostudy: optuna.Study, tracker: Tracker) -> int:
    """RUNNING trials whose worker process on this machine is gone (killed, crashed) are failed in
    Optuna and their MLflow runs marked KILLED, so the cells get trained again."""
    reaped = 0
    for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if worker and not _process_alive(worker):
            ostudy._storage.set_trial_user_attr(t._trial_id, "fail_reason", "worker died")
            ostudy._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            run_id = t.user_attrs.get("mlflow_run_id")
            if run_id:
                tracker.fail_trial(run_id, "worker died (killed or crashed)", status="KILLED")
            reaped += 1
    return reaped


def enqueue_missing(ostudy: optuna.Study, cells: list[tuple[str, int]], max_retries: int) -> tuple[int, list]:
    """Enqueue every cell with no COMPLETE, WAITING or RUNNING trial and fewer than
    1 + max_retries failures. Returns (number enqueued, cells given up on)."""
    by_cell: dict[tuple[str, int], list[TrialState]] = {}
    for t in ostudy.get_trials(deepcopy=False):
        c = _cell(t)
        if c is not None:
            by_cell.setdefault(c, []).append(t.state)
    enqueued, given_up = 0, []
    for cell in cells:
        states = by_cell.get(cell, [])
        if any(s in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING) for s in states):
            continue
        if states.count(TrialState.FAIL) > max_retries:
            given_up.append(cell)
            continue
        ostudy.enqueue_trial({"arm": cell[0], "seed": cell[1]}, user_attrs={"cell": f"{cell[0]}/seed{cell[1]}"})
        enqueued += 1
    return enqueued, given_up


def _has_waiting(ostudy: optuna.Study) -> bool:
    return bool(ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


@dataclass
class RunContext:
    study: Study
    tracker: Tracker
    experiment_id: str
    root_id: str
    device: str
    storage: str


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def run_dataset(ctx: RunContext, plan: DatasetPlan, data: datasets_mod.Splits) -> dict:
    """Train every missing cell of one dataset. Returns counts of what happened."""
    study = ctx.study
    ostudy = open_study(ctx.storage, optuna_study_name(study, plan), data.task)
    for key, value in (("study", study.name), ("dataset", plan.label), ("config_hash", plan.config_hash),
                       ("task", data.task)):
        ostudy.set_user_attr(key, value)
    reaped = reap_dead_trials(ostudy, ctx.tracker)
    enqueued, given_up = enqueue_missing(ostudy, study.cells(), study.spec.max_retries)
    counts = {"trained": 0, "failed": 0, "reaped": reaped, "given_up": len(given_up)}
    if not _has_waiting(ostudy):
        return counts

    metric_name = loss_and_metric(data.task)[2]
    base_tags = {"study": study.name, "dataset": plan.label, "config_hash": plan.config_hash,
                 "task": data.task, "metric_name": metric_name}
    ds_input = dataset_input(data)
    parent_id = ctx.tracker.dataset_parent(
        ctx.experiment_id, ctx.root_id, plan.label, {**base_tags, "optuna_study": ostudy.study_name},
        params={"dataset": plan.label, "dataset_spec": plan.dataset.model_dump_json(),
                "training": plan.training.model_dump_json(), "n_train": len(data.x_train),
                "n_val": len(data.x_val), "n_test": len(data.x_test), "n_features": data.n_features,
                "provenance": data.provenance, "optuna_storage": mask_credentials(ctx.storage)},
        dataset_input=ds_input)

    try:
        while _has_waiting(ostudy):
            trial = ostudy.ask()
            if "cell" not in trial.user_attrs:
                # No waiting trial was left (another worker took it): this one was sampled, not
                # enqueued. Close it without training and stop.
                trial.set_user_attr("fail_reason", "no waiting cell left")
                ostudy.tell(trial, state=TrialState.FAIL)
                break
            arm = trial.suggest_categorical("arm", ARMS)
            seed = trial.suggest_int("seed", 0, SEED_HIGH)
            ok = run_trial(ctx, plan, data, ostudy, trial, arm, seed, parent_id, base_tags, ds_input)
            counts["trained" if ok else "failed"] += 1
    except Interrupted:
        ctx.tracker.end_run(parent_id, "KILLED")
        raise
    ctx.tracker.end_run(parent_id, "FINISHED")
    return counts


def run_trial(ctx: RunContext, plan: DatasetPlan, data, ostudy, trial, arm: str, seed: int,
              parent_id: str, base_tags: dict, ds_input) -> bool:
    name = cell_name(plan.label, arm, seed)
    cfg = TrialConfig.for_plan(plan, arm, seed, ctx.device)
    trial.set_user_attr("worker", worker_id())
    run_id = ctx.tracker.start_trial(
        ctx.experiment_id, parent_id, name,
        tags={**base_tags, "regularizer": arm, "seed": seed, "optuna_trial": trial.number,
              "optuna_study": ostudy.study_name},
        params={**cfg.params(), "dataset": plan.label}, dataset_input=ds_input)
    trial.set_user_attr("mlflow_run_id", run_id)
    started = time.perf_counter()
    history: dict = {}

    def keep_history(epoch, row):
        for k, v in row.items():
            history.setdefault(k, []).append(v)

    try:
        result = train(cfg, data, on_epoch=keep_history)
    except Interrupted:
        ctx.tracker.fail_trial(run_id, "interrupted", status="KILLED", history=history)
        trial.set_user_attr("fail_reason", "interrupted")
        ostudy.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as e:  # a failing trial never takes the study down
        reason = "diverged" if isinstance(e, Diverged) else f"{type(e).__name__}: {e}"
        ctx.tracker.fail_trial(run_id, reason, history=history)
        trial.set_user_attr("fail_reason", reason)
        ostudy.tell(trial, state=TrialState.FAIL)
        print(f"  {name:<28} FAILED: {reason}", flush=True)
        return False
    seconds = time.perf_counter() - started
    final = {**result.final, "train_seconds": seconds, "epochs_run": result.epochs_run,
             "best_epoch": result.best_epoch}
    ctx.tracker.finish_trial(run_id, result.history, final, tags={"device": result.device},
                             artifacts={"weight_histogram.json": result.weight_histogram})
    for k in ("test_metric", "final_train_metric", "gap_metric"):
        trial.set_user_attr(k, final[k])
    ostudy.tell(trial, final["final_val_metric"])
    print(f"  {name:<28} val={final['final_val_metric']:.4f} test={final['test_metric']:.4f} "
          f"gap={final['gap_metric']:+.4f} ({seconds:.1f}s)", flush=True)
    return True


def load_all(study: Study) -> dict[str, datasets_mod.Splits]:
    """Load every dataset first, so bad data fails before anything is written."""
    return {plan.label: datasets_mod.load(plan.dataset, study.spec.split_seed) for plan in study.plans}


def check_tracking_reachable(uri: str) -> None:
    """Fail fast (one line, exit 2) on an MLflow server that does not answer, instead of MLflow's
    minutes of retries; local stores need no check."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
    except Exception as e:
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: the MLflow server does not answer "
                         f"({type(e).__name__})") from None


def run_ablation(study: Study, storage: Optional[str] = None, tracking: Optional[str] = None) -> RunContext:
    storage = storage or DEFAULT_STORAGE
    import torch

    device = study.spec.device
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("field 'device' = 'cuda': no CUDA device is available here; use auto or cpu")
    data = load_all(study)
    # Check both stores before writing to either, so a bad URL leaves nothing half-written
    # (MlflowClient creates a SQLite store the moment it is constructed).
    check_tracking_reachable(tracking_uri(tracking))
    try:
        optuna.storages.get_storage(storage)
    except Exception as e:
        raise storage_error(storage, e) from None
    tracker = Tracker(tracking)
    experiment_id = tracker.experiment_for(study.name)
    root_id = tracker.root_run(experiment_id, study.name, {
        "study_file": study.source_text[:5000], "git_commit": git_commit(),
        "optuna_storage": mask_credentials(storage), "python": sys.version.split()[0],
        "torch": torch.__version__})
    ctx = RunContext(study, tracker, experiment_id, root_id, device, storage)
    print(f"study {study.name}: {len(study.plans)} dataset(s) x {len(study.arms)} arm(s) x "
          f"{len(study.seeds)} seed(s); tracking {mask_credentials(tracker.uri)}, optuna {mask_credentials(storage)}",
          flush=True)
    status = "FINISHED"
    try:
        for plan in study.plans:
            print(f"[{plan.label}] {data[plan.label].sizes()} task={data[plan.label].task} "
                  f"config={plan.config_hash}", flush=True)
            counts = run_dataset(ctx, plan, data[plan.label])
            print(f"[{plan.label}] trained {counts['trained']}, failed {counts['failed']}"
                  + (f", gave up on {counts['given_up']} cell(s) after retries" if counts["given_up"] else ""),
                  flush=True)
    except Interrupted:
        status = "KILLED"
        raise
    finally:
        if tracker.owns_root():
            tracker.end_run(root_id, status)
    return ctx


def summary_rows(study: Study, storage: Optional[str] = None) -> list[dict]:
    """Mean test metric over seeds per dataset and arm, from the Optuna storage."""
    import statistics

    storage = storage or DEFAULT_STORAGE
    rows = []
    for plan in study.plans:
        try:
            ostudy = optuna.load_study(study_name=optuna_study_name(study, plan), storage=storage)
        except KeyError:
            continue
        trials = ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        for arm in study.arms:
            vals = [t.user_attrs["test_metric"] for t in trials
                    if _cell(t) and _cell(t)[0] == arm and _cell(t)[1] in study.seeds]
            rows.append({"dataset": plan.label, "arm": arm, "n": len(vals),
                         "metric": ostudy.user_attrs.get("task") == "regression" and "test_mse" or "test_accuracy",
                         "mean": statistics.fmean(vals) if vals else float("nan"),
                         "std": statistics.stdev(vals) if len(vals) > 1 else float("nan")})
    return rows


def format_summary(rows: list[dict]) -> str:
    lines = [f"{'dataset':<18} {'regularizer':<12} {'metric':<14} {'mean':>9} {'std':>9} {'seeds':>6}"]
    for r in rows:
        lines.append(f"{r['dataset']:<18} {r['arm']:<12} {r['metric']:<14} {r['mean']:>9.4f} "
                     f"{r['std']:>9.4f} {r['n']:>6}")
    return "\n".join(lines)
