"""Optuna orchestration: one study per (study file, dataset), the grid arms x seeds as enqueued
trials, each cell trained exactly once, resumable.

Why enqueue instead of GridSampler: GridSampler may run a cell twice under parallel workers and
never re-runs a failed cell. Enqueued trials are popped by `ask()` one at a time, so every cell
has exactly one owner, and failed cells are re-enqueued on the next run (up to `max_retries`).
"""

from __future__ import annotations

import datetime
import functools
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import optuna
from mlflow.entities import Metric
from optuna.trial import TrialState

from . import datasets as datasets_mod
from .errors import UsageError, failure_reason
from .study import ARMS, DatasetPlan, Study
from .tracking import NewRun, Tracker, dataset_input, mask_credentials, quote_filter, tracking_uri
from .train import TrialConfig, loss_and_metric, resolve_device, train

# A journal file: appends instead of SQL transactions (Optuna's SQLite storage spent ~70 ms of
# Python per trial here), and safe for several worker processes on one machine.
DEFAULT_STORAGE = "journal:optuna.journal"
# Heartbeats are "experimental" in Optuna; the warning would break our one-line errors.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# We record heartbeats ourselves (ask/tell), which Optuna warns about: it works as intended.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
SEED_HIGH = 2**31 - 1
# Final metrics copied onto a COMPLETE Optuna trial (the summary table reads them).
RESULT_ATTRS = ("test_metric", "final_train_metric", "gap_metric")


class Interrupted(BaseException):
    """SIGTERM/SIGINT: stop after marking the current runs KILLED."""


_deferred = {"active": 0, "pending": None}


def _raise_interrupted(signum, frame):
    name = signal.Signals(signum).name
    if _deferred["active"]:
        _deferred["pending"] = name  # raised when the bookkeeping in progress is done
        return
    raise Interrupted(name)


class signals_deferred:
    """Hold SIGTERM/SIGINT while one trial's results are written, so a trial is recorded either
    completely (FINISHED in MLflow, COMPLETE in Optuna) or not at all."""

    def __enter__(self):
        _deferred["active"] += 1

    def __exit__(self, *exc):
        _deferred["active"] -= 1
        pending, _deferred["pending"] = _deferred["pending"], None
        if pending and not _deferred["active"] and exc[0] is None:
            raise Interrupted(pending)
        return False


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGINT, _raise_interrupted)


def optuna_study_name(study: Study, plan: DatasetPlan) -> str:
    return f"{study.name}.{plan.label}.{plan.config_hash}"


def cell_name(label: str, arm: str, seed: int) -> str:
    return f"{label}/{arm}/seed{seed}"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


HEARTBEAT_S = 5     # a running trial records a heartbeat this often (RDB storages)
GRACE_S = 30        # ... and is failed as stale when none came for this long (its worker died)
ORPHAN_S = 10       # a RUNNING trial no worker has named after this long was popped by a dead one
JOURNAL_PREFIX = "journal:"


@functools.lru_cache(maxsize=8)
def get_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for a URL. 'journal:PATH' is a journal file, safe for several processes
    on one machine; any SQLAlchemy URL (sqlite, postgresql, mysql) is an RDB storage with
    heartbeats, so trials of a worker that died are failed and retried by the others."""
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url[len(JOURNAL_PREFIX):]))
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                                      grace_period=GRACE_S)


def heartbeats_enabled(storage: optuna.storages.BaseStorage) -> bool:
    """RDB storages record heartbeats (see get_storage); journal storages do not."""
    return getattr(storage, "is_heartbeat_enabled", lambda: False)()


def open_study(storage: str, name: str, task: str) -> optuna.Study:
    direction = "maximize" if loss_and_metric(task)[3] else "minimize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.create_study(storage=get_storage(storage), study_name=name, direction=direction,
                                   load_if_exists=True)
    except Exception as e:
        raise storage_error(storage, e) from None


def storage_error(storage: str, e: Exception) -> UsageError:
    # SQLAlchemy/driver errors carry long multi-line texts (and the URL); the user needs one line.
    first = str(e).splitlines()[0][:200] if str(e) else ""
    return UsageError(f"--storage = {mask_credentials(storage)!r}: cannot open the Optuna storage "
                      f"({type(e).__name__}: {mask_credentials(first)})")


def _cell(trial: optuna.trial.FrozenTrial) -> Optional[tuple[str, int]]:
    """The grid cell of a trial. Read from user attributes, set at enqueue time: a WAITING trial
    has no params yet (they are set when the worker suggests them)."""
    if "arm" in trial.user_attrs and "seed" in trial.user_attrs:
        return trial.user_attrs["arm"], int(trial.user_attrs["seed"])
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
    """Clean up after workers that died (SIGKILL, crash, lost machine), so their cells are
    trained again and no MLflow run is left RUNNING:
    - RUNNING trials whose heartbeat went stale (RDB storages, any machine) are failed by Optuna;
    - RUNNING trials whose worker process on this machine is gone are failed here;
    - MLflow trial runs still RUNNING whose Optuna trial is no longer running are marked KILLED."""
    storage = ostudy._storage
    if heartbeats_enabled(storage):
        optuna.storages.fail_stale_trials(ostudy)
    reaped = 0
    running = ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    # A worker names itself on a trial right after popping it; one killed in between leaves a
    # nameless RUNNING trial. Give live workers ORPHAN_S to name theirs, then fail the rest.
    nameless = [t for t in running if "worker" not in t.user_attrs and t.datetime_start is not None]
    if nameless:
        youngest = max(t.datetime_start for t in nameless)
        wait = ORPHAN_S - (datetime.datetime.now() - youngest).total_seconds()
        if wait > 0:
            time.sleep(wait)
        running = ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in running:
        worker = t.user_attrs.get("worker")
        orphan = worker is None and t.datetime_start is not None and \
            (datetime.datetime.now() - t.datetime_start).total_seconds() >= ORPHAN_S
        if orphan or (worker and not _process_alive(worker)):
            if not _recover(ostudy, t, tracker):
                storage.set_trial_user_attr(t._trial_id, "fail_reason", "worker died")
                storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            reaped += 1
    still_running = {t.number for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    exp_id = ostudy.user_attrs.get("mlflow_experiment_id")
    if exp_id is not None:
        for run in tracker.client.search_runs(
                [exp_id], f"attributes.status = 'RUNNING' AND tags.kind = 'trial' "
                          f"AND tags.optuna_study = '{quote_filter(ostudy.study_name)}'", max_results=10000):
            if int(run.data.tags.get("optuna_trial", -1)) not in still_running:
                tracker.fail_trial(run.info.run_id, "worker died (killed or crashed)", status="KILLED")
    return reaped


def _recover(ostudy: optuna.Study, t, tracker: Tracker) -> bool:
    """A worker that died after its trial's MLflow run was FINISHED (fully logged) but before
    telling Optuna: complete the trial from the run instead of training the cell again, so the
    cell keeps exactly one FINISHED run."""
    run_id = t.user_attrs.get("mlflow_run_id")
    if not run_id:
        return False
    run = tracker.client.get_run(run_id)
    metrics = run.data.metrics
    if run.info.status != "FINISHED" or "final_val_metric" not in metrics:
        return False
    for key in RESULT_ATTRS:
        ostudy._storage.set_trial_user_attr(t._trial_id, key, metrics[key])
    ostudy._storage.set_trial_user_attr(t._trial_id, "recovered_from_mlflow", True)
    ostudy._storage.set_trial_state_values(t._trial_id, TrialState.COMPLETE, [metrics["final_val_metric"]])
    return True


def reap_dead_runs(tracker: Tracker, experiment_id: str, study_name: str) -> None:
    """Root and dataset runs left RUNNING by a process of this machine that is gone."""
    for run in tracker.client.search_runs(
            [experiment_id], f"attributes.status = 'RUNNING' AND tags.study = '{quote_filter(study_name)}'", max_results=10000):
        worker = run.data.tags.get("worker")
        if run.data.tags.get("kind") in ("root", "dataset") and worker and not _process_alive(worker):
            tracker.end_run(run.info.run_id, "KILLED")


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
        ostudy.enqueue_trial({"arm": cell[0], "seed": cell[1]},
                             user_attrs={"cell": f"{cell[0]}/seed{cell[1]}", "arm": cell[0], "seed": cell[1]})
        enqueued += 1
    return enqueued, given_up


def _has_waiting(ostudy: optuna.Study) -> bool:
    return bool(ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


class Stopwatch:
    """Wall seconds per activity ("training", "bookkeeping", ...), each moment counted once: a
    nested activity pauses the enclosing one of its thread. Threads keep their own stacks, so
    the recorder thread's writes are counted apart ("recording_background"). CPU seconds of the
    thread are kept too: overlapped writes still take the GIL and a core from training, so the
    CPU they use is what they cost."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self._lock, self._local = threading.Lock(), threading.local()

    @contextmanager
    def __call__(self, activity: str):
        stack = self._local.__dict__.setdefault("stack", [])
        now = (time.perf_counter(), time.thread_time())
        if stack:
            self._add(stack[-1][0], now, stack[-1][1])
        stack.append([activity, now])
        try:
            yield
        finally:
            now = (time.perf_counter(), time.thread_time())
            self._add(activity, now, stack.pop()[1])
            if stack:
                stack[-1][1] = now

    def _add(self, activity: str, now: tuple[float, float], since: tuple[float, float]) -> None:
        with self._lock:
            self.seconds[activity] += now[0] - since[0]
            self.cpu_seconds[activity] += now[1] - since[1]


@dataclass
class RunContext:
    study: Study
    tracker: Tracker
    experiment_id: str
    root_id: str
    device: str
    storage: str
    clock: Stopwatch = field(default_factory=Stopwatch)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def base_tags(study: Study, plan: DatasetPlan, data: datasets_mod.Splits) -> dict[str, str]:
    return {"study": study.name, "dataset": plan.label, "dataset_group": plan.base,
            "n_train": str(len(data.x_train)), "config_hash": plan.config_hash,
            "task": data.task, "metric_name": loss_and_metric(data.task)[2]}


def prepare_dataset(ctx: RunContext, plan: DatasetPlan, data: datasets_mod.Splits, owned: bool = True) -> dict:
    """Create (or load) the dataset's Optuna study, clean up after dead workers, enqueue the
    missing cells and, when there is work, create the MLflow parent run. Idempotent."""
    study = ctx.study
    ostudy = open_study(ctx.storage, optuna_study_name(study, plan), data.task)
    for key, value in (("study", study.name), ("dataset", plan.label), ("config_hash", plan.config_hash),
                       ("task", data.task), ("mlflow_experiment_id", ctx.experiment_id)):
        ostudy.set_user_attr(key, value)
    reaped = reap_dead_trials(ostudy, ctx.tracker)
    if study.spec.tune is not None and "tuned" not in ostudy.user_attrs:
        from .tuning import tune_dataset

        # Before any grid cell: every worker then reads the chosen strengths from the study.
        with ctx.clock("tuning"):
            tuned = tune_dataset(ctx, plan, data)
        ostudy.set_user_attr("tuned", tuned)
    _, given_up = enqueue_missing(ostudy, study.cells(), study.spec.max_retries)
    counts = {"reaped": reaped, "given_up": len(given_up)}
    existing = ostudy.user_attrs.get("mlflow_parent_run_id")
    if existing and ctx.tracker.client.get_run(existing).info.status == "RUNNING":
        return counts  # a parent is open (another enqueue or a running study): workers attach to it
    if _has_waiting(ostudy):
        # Tagged with its owner only when this process will close it; distributed parents belong
        # to no process and are closed by whichever worker sees the grid done.
        owner = {"worker": worker_id()} if owned else {}
        parent_id = ctx.tracker.dataset_parent(
            ctx.experiment_id, ctx.root_id, plan.label,
            {**base_tags(study, plan, data), "optuna_study": ostudy.study_name, **owner},
            params={"dataset": plan.label, "dataset_spec": plan.dataset.model_dump_json(),
                    "training": plan.training.model_dump_json(), "n_train": len(data.x_train),
                    "n_val": len(data.x_val), "n_test": len(data.x_test), "n_features": data.n_features,
                    "provenance": data.provenance, "optuna_storage": mask_credentials(ctx.storage)},
            dataset_input=dataset_input(data))
        ostudy.set_user_attr("mlflow_parent_run_id", parent_id)
    return counts


def work_dataset(ctx: RunContext, plan: DatasetPlan, data: datasets_mod.Splits) -> dict:
    """Pop waiting cells of one dataset and train them until none is left. Any number of workers
    may run this at once on the same storage: each waiting trial is popped by exactly one."""
    study = ctx.study
    ostudy = open_study(ctx.storage, optuna_study_name(study, plan), data.task)
    parent_id = ostudy.user_attrs.get("mlflow_parent_run_id")
    counts = {"trained": 0, "failed": 0}
    if parent_id is None or not _has_waiting(ostudy):
        return counts
    tags = base_tags(study, plan, data)
    ds_input = dataset_input(data)
    tuned = ostudy.user_attrs.get("tuned") or {}
    population = plan.training.engine == "population"
    batch = plan.training.population_size if population else 1
    # Recording a population (MLflow and Optuna writes, ~15 ms a trial on SQLite) overlaps the
    # training of the next one on one background thread; we wait for it before returning.
    recorder = ThreadPoolExecutor(max_workers=1) if population else None
    pending: list = []
    try:
        while _has_waiting(ostudy):
            trials: list[Trial] = []
            popped: list = []
            try:
                with signals_deferred(), ctx.clock("bookkeeping"):  # pop cells and open their runs as one unit
                    popped = pop_cells(ostudy, batch)
                    trials = open_trials(ctx, [Trial(ctx, plan, ostudy, t, arm, seed, parent_id, tags, ds_input,
                                                     tuned.get(arm)) for t, arm, seed in popped])
            except Interrupted:  # a signal held during the block: these trials never started training
                for t in trials:
                    t.interrupted()
                raise
            if not popped:
                break
            if not trials:
                continue  # every popped cell was taken over meanwhile
            if recorder is None:
                counts["trained" if trials[0].train(data) else "failed"] += 1
                continue
            with ctx.clock("training"):
                results = train_together(trials, data)
            if results is None:
                counts["failed"] += len(trials)
            else:
                pending.append(recorder.submit(record_population, trials, results))
    finally:
        if recorder is not None:
            with ctx.clock("bookkeeping"):  # waiting for the recorder holds up this process
                for f in pending:  # also on SIGTERM: what was trained gets recorded
                    for ok in f.result():
                        counts["trained" if ok else "failed"] += 1
                recorder.shutdown()
    return counts


TAKEN_OVER = "taken over: another worker failed this trial while this one was paused; the cell is retried"


def pop_cells(ostudy: optuna.Study, limit: int) -> list:
    """Pop up to `limit` waiting grid cells: [(trial, arm, seed)]."""
    out = []
    while len(out) < limit and _has_waiting(ostudy):
        trial = ostudy.ask()
        try:
            if "cell" not in trial.user_attrs:
                # No waiting trial was left (another worker took it): this one was sampled, not
                # enqueued. Close it without training and stop.
                trial.set_user_attr("fail_reason", "no waiting cell left")
                trial.set_user_attr("worker", worker_id())
                ostudy.tell(trial, state=TrialState.FAIL)
                break
            out.append((trial, trial.suggest_categorical("arm", ARMS), trial.suggest_int("seed", 0, SEED_HIGH)))
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # reaped by another worker between our ask and this write
    return out


def finish_dataset(ctx: RunContext, plan: DatasetPlan, task: str, status: str = "FINISHED") -> None:
    """End the dataset's parent run once no cell is waiting or running (any worker may do it)."""
    with ctx.clock("bookkeeping"):
        _finish_dataset(ctx, plan, task, status)


def _finish_dataset(ctx: RunContext, plan: DatasetPlan, task: str, status: str) -> None:
    ostudy = open_study(ctx.storage, optuna_study_name(ctx.study, plan), task)
    parent_id = ostudy.user_attrs.get("mlflow_parent_run_id")
    if parent_id is None:
        return
    busy = ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
    if status != "FINISHED" or not busy:
        if ctx.tracker.client.get_run(parent_id).info.status == "RUNNING":
            ctx.tracker.end_run(parent_id, status)


class heartbeat:
    """Record Optuna heartbeats for a trial from a background thread while it trains, so that
    other workers can tell a dead worker's trial from a slow one (RDB storages only)."""

    def __init__(self, ostudy: optuna.Study, trial):
        self.storage, self.trial_id = ostudy._storage, trial._trial_id
        self.enabled = heartbeats_enabled(self.storage)
        self.stop = threading.Event()

    def _beat(self):
        while not self.stop.wait(HEARTBEAT_S):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a missed beat only risks a retry, never the trial
                pass

    def __enter__(self):
        if self.enabled:
            self.storage.record_heartbeat(self.trial_id)
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.stop.set()
            self.thread.join()
        return False


class Trial:
    """One grid cell being trained: its Optuna trial and its MLflow child run."""

    def __init__(self, ctx: RunContext, plan: DatasetPlan, ostudy, trial, arm: str, seed: int,
                 parent_id: str, tags: dict, ds_input, tuned: Optional[dict] = None):
        self.ctx, self.plan, self.ostudy, self.trial = ctx, plan, ostudy, trial
        self.name = cell_name(plan.label, arm, seed)
        training = plan.training
        if tuned:
            from .tuning import tuned_training

            training = tuned_training(training, arm, tuned)
            tags = {**tags, "tuned": "yes"}
        self.cfg = TrialConfig.for_cell(training, arm, seed, ctx.device)
        self.run = NewRun(parent_id, self.name,
                          tags={**tags, "regularizer": arm, "seed": seed, "optuna_trial": trial.number,
                                "optuna_study": ostudy.study_name, "engine": plan.training.engine,
                                "device": str(resolve_device(self.cfg.device))},  # at the start: one write less
                          params={**self.cfg.params(), "dataset": plan.label}, dataset_input=ds_input)
        self.run_id: Optional[str] = None
        self.started = time.perf_counter()
        self.done = False  # recorded as finished, failed or interrupted

    def train(self, data) -> bool:
        """Reference engine: train this cell alone."""
        history: dict = {}

        def keep_history(epoch, row):
            for k, v in row.items():
                history.setdefault(k, []).append(v)

        try:
            with heartbeat(self.ostudy, self.trial):
                with self.ctx.clock("training"):
                    result = train(self.cfg, data, on_epoch=keep_history)
        except Interrupted:
            self.interrupted(history)
            raise
        except Exception as e:  # a failing trial never takes the study down
            return self.failed(e, history)
        return self.finished(result, time.perf_counter() - self.started)

    def finished(self, result, seconds: float) -> bool:
        with signals_deferred(), self.ctx.clock("bookkeeping"):
            return record_finished([self], [result], seconds)[0]

    def final(self, result, seconds: float) -> dict:
        return {**result.final, "train_seconds": seconds, "epochs_run": result.epochs_run,
                "best_epoch": result.best_epoch}

    def _tell(self, final: dict) -> bool:
        """Optuna's side of a finished trial, once its MLflow run is FINISHED."""
        try:
            for k in RESULT_ATTRS:
                self.trial.set_user_attr(k, final[k])
            self.ostudy.tell(self.trial, final["final_val_metric"])
        except optuna.exceptions.UpdateFinishedTrialError:  # taken over since the check before
            return self._lost()
        print(f"  {self.name:<28} val={final['final_val_metric']:.4f} test={final['test_metric']:.4f} "
              f"gap={final['gap_metric']:+.4f} ({final['train_seconds']:.2f}s)", flush=True)
        return True

    def failed(self, e: Exception, history: dict) -> bool:
        with signals_deferred(), self.ctx.clock("bookkeeping"):
            return self._failed(e, history)

    def _failed(self, e: Exception, history: dict) -> bool:
        self.done = True
        reason = failure_reason(e)
        self.ctx.tracker.fail_trial(self.run_id, reason, history=history)
        try:
            self.trial.set_user_attr("fail_reason", reason[:1000])
            self.ostudy.tell(self.trial, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # already failed by another worker: nothing left to record
        print(f"  {self.name:<28} FAILED: {reason}", flush=True)
        return False

    def interrupted(self, history: dict | None = None) -> None:
        self.done = True
        self.ctx.tracker.fail_trial(self.run_id, "interrupted", status="KILLED", history=history)
        try:
            self.trial.set_user_attr("fail_reason", "interrupted")
            self.ostudy.tell(self.trial, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass

    def _taken_over(self) -> bool:
        return self.ostudy._storage.get_trial(self.trial._trial_id).state != TrialState.RUNNING

    def _lost(self) -> bool:
        self.ctx.tracker.fail_trial(self.run_id, TAKEN_OVER, status="KILLED")
        print(f"  {self.name:<28} {TAKEN_OVER}", flush=True)
        return False


def train_together(trials: list[Trial], data) -> Optional[list]:
    """Population engine: train the popped cells as one stacked model. Returns per-trial results
    (TrainResult or the error), or None when the population as a whole broke (its trials are
    then recorded as failed)."""
    from contextlib import ExitStack

    from .population import train_population

    try:
        with ExitStack() as beats:
            for t in trials:
                beats.enter_context(heartbeat(t.ostudy, t.trial))
            return train_population([t.cfg for t in trials], data)
    except Interrupted:
        for t in trials:
            t.interrupted()
        raise
    except Exception as e:  # fail its trials, not the study
        for t in trials:
            t.failed(e, {})
        return None


def open_trials(ctx: RunContext, trials: list[Trial]) -> list[Trial]:
    """Name this worker on each popped trial, open their MLflow runs (one transaction on MLflow's
    SQL store) and link each run to its trial. A trial another worker failed meanwhile is
    dropped (its run, if opened, ends KILLED); its cell is retried."""
    named = []
    for t in trials:
        try:
            t.trial.set_user_attr("worker", worker_id())
            named.append(t)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    opened = []
    for t, run_id in zip(named, ctx.tracker.start_trials(ctx.experiment_id, [t.run for t in named])):
        t.run_id = run_id
        try:
            t.trial.set_user_attr("mlflow_run_id", run_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            ctx.tracker.fail_trial(run_id, TAKEN_OVER, status="KILLED")
            continue
        t.started = time.perf_counter()
        opened.append(t)
    return opened


def record_finished(trials: list[Trial], results: list, seconds: float) -> list[bool]:
    """Record trained trials: MLflow first (the finished runs' metrics and status in one
    transaction), then Optuna, so that a crash in between leaves a trial RUNNING (retrained, or
    recovered from its FINISHED run), never COMPLETE without its run. A result that is an error
    fails its trial alone."""
    ok: dict[int, bool] = {}
    done = []
    for i, (t, r) in enumerate(zip(trials, results)):
        if isinstance(r, Exception):
            ok[i] = t._failed(r, getattr(r, "history", {}))
            continue
        t.done = True
        if t._taken_over():  # checked first, so its run is not shown FINISHED in the common case
            ok[i] = t._lost()
        else:
            done.append((i, t, t.final(r, seconds)))
    if done:
        trials[0].ctx.tracker.finish_trials([(t.run_id, results[i].history, final,
                                              {"weight_histogram.json": results[i].weight_histogram})
                                             for i, t, final in done])
    for i, t, final in done:
        ok[i] = t._tell(final)
    return [ok[i] for i in range(len(trials))]


def record_population(trials: list[Trial], results: list) -> list[bool]:
    """record_finished on the recorder thread, while the next population trains; signals are
    handled by the main thread."""
    seconds = (time.perf_counter() - trials[0].started) / len(trials)  # wall time per model
    with trials[0].ctx.clock("recording_background"):
        return record_finished(trials, results, seconds)


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


def connect(study: Study, storage: str, tracking: Optional[str]) -> tuple[dict, Tracker, str]:
    """Validate everything that can be validated before writing: device, datasets, both stores.
    Returns (datasets, tracker, device)."""
    import torch

    device = study.spec.device
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("field 'device' = 'cuda': no CUDA device is available here; use auto or cpu")
    data = load_all(study)
    # Check both stores before writing to either, so a bad URL leaves nothing half-written
    # (MlflowClient creates a SQLite store the moment it is constructed).
    check_tracking_reachable(tracking_uri(tracking))
    try:
        get_storage(storage)
    except Exception as e:
        raise storage_error(storage, e) from None
    return data, Tracker(tracking), device


def prepare(study: Study, storage: str, tracking: Optional[str], owned: bool = True,
            clock: Optional[Stopwatch] = None) -> tuple[RunContext, dict]:
    """Create the experiment, the root run, every dataset's Optuna study with its grid enqueued,
    and the parent runs, so that workers only pop cells. Idempotent."""
    clock = clock or Stopwatch()
    with clock("loading"):
        data, tracker, device = connect(study, storage, tracking)
    with clock("bookkeeping"):
        return _prepare(study, storage, owned, clock, data, tracker, device)


def _prepare(study, storage, owned, clock, data, tracker, device) -> tuple[RunContext, dict]:
    import torch

    experiment_id = tracker.experiment_for(study.name)
    if os.environ.get("MLFLOW_RUN_ID") and experiment_id == "0":
        print(f"note: `mlflow run` put this study in MLflow's Default experiment (nesting needs one "
              f"experiment); add --experiment-name {study.name} to keep studies apart", flush=True)
    reap_dead_runs(tracker, experiment_id, study.name)
    root_id = tracker.root_run(experiment_id, study.name, {
        "study_file": study.source_text[:5000], "git_commit": git_commit(),
        "optuna_storage": mask_credentials(storage), "python": sys.version.split()[0],
        "torch": torch.__version__, **({"worker": worker_id()} if tracker.owns_root() else {})})
    ctx = RunContext(study, tracker, experiment_id, root_id, device, storage, clock)
    print(f"study {study.name}: {len(study.plans)} dataset(s) x {len(study.arms)} arm(s) x "
          f"{len(study.seeds)} seed(s); tracking {mask_credentials(tracker.uri)}, optuna {mask_credentials(storage)}",
          flush=True)
    for plan in study.plans:
        d = data[plan.label]
        counts = prepare_dataset(ctx, plan, d, owned)
        print(f"[{plan.label}] {d.sizes()} task={d.task} config={plan.config_hash}"
              + (f"; gave up on {counts['given_up']} failed cell(s) after retries" if counts["given_up"] else ""),
              flush=True)
    return ctx, data


def _report_counts(label: str, counts: dict, who: str = "") -> None:
    print(f"[{label}]{who} trained {counts['trained']}, failed {counts['failed']}", flush=True)


def run_worker_loop(ctx: RunContext, data: dict, who: str = "") -> None:
    for plan in ctx.study.plans:
        _report_counts(plan.label, work_dataset(ctx, plan, data[plan.label]), who)
        finish_dataset(ctx, plan, data[plan.label].task)


def _worker_process(study: Study, storage: str, tracking: str, experiment_id: str, root_id: str,
                    number: int) -> None:
    install_signal_handlers()
    data, tracker, device = connect(study, storage, tracking)
    ctx = RunContext(study, tracker, experiment_id, root_id, device, storage)
    try:
        run_worker_loop(ctx, data, who=f" worker {number}:")
    except Interrupted:
        sys.exit(130)


def run_ablation(study: Study, storage: Optional[str] = None, tracking: Optional[str] = None,
                 workers: int = 1) -> RunContext:
    """Prepare, train every missing cell (in this process, or in `workers` processes popping
    cells from the same storage), then close the runs."""
    if workers < 1:
        raise UsageError(f"--workers = {workers}: expected 1 or more")
    if storage is None:
        storage = DEFAULT_STORAGE
    elif workers > 1 and storage.startswith("sqlite"):
        raise UsageError(f"--storage = {storage!r}: SQLite is not safe for parallel workers; use "
                         f"{DEFAULT_STORAGE} or a postgresql:// URL")
    started = time.perf_counter()
    ctx, data = prepare(study, storage, tracking)
    status = "FINISHED"
    procs = []
    try:
        if workers == 1:
            run_worker_loop(ctx, data)
        else:
            spawn = multiprocessing.get_context("spawn")
            procs = [spawn.Process(target=_worker_process, args=(study, storage, ctx.tracker.uri,
                                                                 ctx.experiment_id, ctx.root_id, i + 1))
                     for i in range(workers)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            for plan in study.plans:  # a worker that died leaves its cell RUNNING: clean up now
                reap_dead_trials(open_study(storage, optuna_study_name(study, plan), data[plan.label].task),
                                 ctx.tracker)
                finish_dataset(ctx, plan, data[plan.label].task)
    except Interrupted:
        status = "KILLED"
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: each worker marks its current run KILLED
        for p in procs:
            p.join()
        for plan in study.plans:
            finish_dataset(ctx, plan, data[plan.label].task, status="KILLED")
        raise
    finally:
        if workers == 1:
            log_timing(ctx, time.perf_counter() - started)
        if ctx.tracker.owns_root():
            ctx.tracker.end_run(ctx.root_id, status)
    return ctx


def log_timing(ctx: RunContext, total: float) -> None:
    """Where this process's time went, on the root run (metrics time_*_s) and in one line:
    bookkeeping is MLflow and Optuna writes that held up training; recording_background is
    the recorder thread's writes, overlapped with training; bookkeeping_cpu is the CPU time of
    both, which is what they cost on a machine whose cores training would otherwise use."""
    clock = ctx.clock.seconds
    seconds = {"total": total, **clock}
    seconds["other"] = max(0.0, total - sum(v for k, v in clock.items() if k != "recording_background"))
    seconds["bookkeeping_cpu"] = sum(ctx.clock.cpu_seconds[k] for k in ("bookkeeping", "recording_background"))
    seconds = {k: round(v, 3) for k, v in seconds.items()}  # the line below says what the metrics say
    total = seconds["total"]
    try:
        ctx.tracker.log_metrics(ctx.root_id, [Metric(f"time_{k}_s", v, int(time.time() * 1000), 0)
                                              for k, v in seconds.items()])
    except Exception:  # timing is informative only; never fail a finished study over it
        pass
    parts = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in seconds.items() if k != "total")
    print(f"time: {total:.1f} s ({parts})", flush=True)


def run_worker(study: Study, storage: str, tracking: Optional[str]) -> None:
    """Join a prepared study from any machine and train cells until none is waiting."""
    data, tracker, device = connect(study, storage, tracking)
    for plan in study.plans:
        name = optuna_study_name(study, plan)
        try:
            ostudy = optuna.load_study(study_name=name, storage=get_storage(storage))
        except KeyError:
            raise UsageError(f"--study = {study.name!r}: Optuna study {name!r} does not exist in the storage; "
                             "create it first with: python -m pipeline enqueue ...") from None
        experiment_id = ostudy.user_attrs.get("mlflow_experiment_id")
    ctx = RunContext(study, tracker, experiment_id, "", device, storage)
    for plan in study.plans:
        reap_dead_trials(open_study(storage, optuna_study_name(study, plan), data[plan.label].task), tracker)
    run_worker_loop(ctx, data, who=f" worker {worker_id()}:")


def summary_rows(study: Study, storage: Optional[str] = None) -> list[dict]:
    """Mean test metric over seeds per dataset and arm, from the Optuna storage."""
    import statistics

    storage = storage or DEFAULT_STORAGE
    rows = []
    for plan in study.plans:
        try:
            ostudy = optuna.load_study(study_name=optuna_study_name(study, plan), storage=get_storage(storage))
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
