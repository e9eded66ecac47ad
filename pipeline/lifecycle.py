"""How a trial is born and how it ends: the one place that records a trial's outcome to MLflow
and Optuna and prints its line.

Order of writes for a finished trial: MLflow first (its run's metrics and FINISHED status), then
Optuna, so that a crash in between leaves the trial RUNNING in Optuna, to be retrained or
recovered from its FINISHED run (`reap`), never COMPLETE without its run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

import optuna
from optuna.trial import TrialState

from . import alive_lock, arms, grid, liveness
from . import runtree as rt
from .errors import Diverged
from .runtime import VERBOSE, Interrupted, StoreUnreachable, failpoint, process_alive, signals_deferred, worker_id
from .storage import batched_writes
from .tracking import NewRun, Tracker
from .trainer_common import TrialConfig, resolve_device, training_device
from .words import counted


class Outcome(Enum):
    """Every way a trial ends: (reason recorded, MLflow run status, Optuna state or None when
    Optuna is not told, whether it spends a trial of a tuning budget)."""

    FINISHED = ("finished", "FINISHED", TrialState.COMPLETE, True)
    PRUNED = ("pruned", "KILLED", TrialState.PRUNED, True)
    DIVERGED = ("diverged", "FAILED", TrialState.FAIL, True)
    ERROR = ("error", "FAILED", TrialState.FAIL, True)            # reason: the exception's type and message
    INTERRUPTED = ("interrupted", "KILLED", TrialState.FAIL, False)   # SIGINT/SIGTERM
    WORKER_DIED = ("worker died", "KILLED", TrialState.FAIL, False)   # noticed by another worker
    # Its worker stopped because a store did not answer for $PIPELINE_OUTAGE_S, before it could
    # record the trial; noticed by another worker, as a death, but never counted as an attempt.
    STORE_OUTAGE = ("store outage", "KILLED", TrialState.FAIL, False)
    # Another worker failed this trial while this one was paused (stale heartbeat): Optuna already
    # says FAIL and the cell is retried; only the MLflow run is left to close.
    TAKEN_OVER = ("taken over: another worker failed this trial while this one was paused; the cell is retried",
                  "KILLED", None, False)
    # A second run of one trial (MLflow's HTTP client retried a create whose answer was lost):
    # closed by the reaper once the trial ended; Optuna is not told.
    DUPLICATE = ("duplicate run", "KILLED", None, False)

    def __init__(self, reason: str, mlflow_status: str, optuna_state: Optional[TrialState], spends_budget: bool):
        self.reason, self.mlflow_status, self.optuna_state, self.spends_budget = \
            reason, mlflow_status, optuna_state, spends_budget

    @classmethod
    def of_error(cls, e: BaseException) -> "Outcome":
        return cls.DIVERGED if isinstance(e, Diverged) else cls.ERROR

    @classmethod
    def spends(cls, outcome_name: Optional[str], reason: Optional[str]) -> bool:
        """Whether a FAIL trial (by its recorded outcome, or for trials recorded before outcomes
        were, its reason) used up a trial of a tuning budget."""
        if outcome_name in cls.__members__:
            return cls[outcome_name].spends_budget
        return reason not in (cls.WORKER_DIED.reason, cls.INTERRUPTED.reason)

    @classmethod
    def of_run(cls, outcome_name: str, reason: str) -> Optional["Outcome"]:
        """How an MLflow run ended, by its outcome tag, or for a run from before that tag by its
        fail reason's start ("worker died (killed or crashed)", "store outage: ..."); None for one
        that finished (neither tag)."""
        if outcome_name in cls.__members__:
            return cls[outcome_name]
        if not reason:
            return None
        starts = {o: o.reason.split(":")[0] for o in cls}
        starts[cls.DUPLICATE] = "a second run of this trial"
        return next((o for o, start in starts.items() if reason.startswith(start)), cls.ERROR)

    @classmethod
    def recorded(cls, outcome_name: Optional[str]) -> "Outcome":
        """The outcome a failed trial recorded (WORKER_DIED for one that recorded none)."""
        return cls[outcome_name] if outcome_name in cls.__members__ else cls.WORKER_DIED


def ending_tags(outcome: Outcome, error: Optional[BaseException] = None) -> dict[str, str]:
    """The MLflow tags of a run that did not finish: why (fail_reason), its outcome, and for a
    diverged one the epoch its loss became NaN or infinite."""
    return {rt.FAIL_REASON: reason_text(outcome, error)[:4000], rt.OUTCOME: outcome.name,
            **({rt.DIVERGED_AT: str(error.epoch)} if isinstance(error, Diverged) else {})}


def reason_text(outcome: Outcome, error: Optional[BaseException] = None) -> str:
    if outcome is Outcome.ERROR and error is not None:
        return f"{type(error).__name__}: {error}"
    if outcome is Outcome.STORE_OUTAGE and error is not None:   # as the reaper writes it (_death)
        return f"{outcome.reason}: {outage_note(error)}"
    return outcome.reason


def outage_note(outage: BaseException) -> str:
    """A StoreUnreachable's line without its cause: "the MLflow server http://... did not answer for 120 s"."""
    return str(outage).split(" (")[0]


@dataclass
class LiveTrial:
    """A trial this process trains: its Optuna trial and its MLflow run."""

    ostudy: optuna.Study
    trial: optuna.Trial
    name: str                 # e.g. digits/l2/seed3
    run: NewRun               # the MLflow run to open for it
    payload: object = None    # what the trainer needs (a TrialConfig for grid cells)
    run_id: Optional[str] = None
    started: float = field(default_factory=time.perf_counter)


@dataclass
class Ending:
    """How one trial ended, and what to record. For FINISHED: `metrics` (final values, step 0),
    `value` (the objective told to Optuna), `attrs` (Optuna user attributes), `artifacts`."""

    trial: LiveTrial
    outcome: Outcome
    history: dict = field(default_factory=dict)
    error: Optional[BaseException] = None
    metrics: dict = field(default_factory=dict)
    value: float = float("nan")
    attrs: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    summary: str = ""         # the console line's text for a finished trial
    untrained: bool = False   # popped ahead, ended before its training started (rt.UNTRAINED)


def open_runs(tracker: Tracker, experiment_id: str, trials: list[LiveTrial]) -> list[LiveTrial]:
    """Name this worker on each popped trial, open their MLflow runs (one transaction on MLflow's
    SQL store) and link each run to its trial (one journal append for the names, one for the
    links). A trial another worker failed meanwhile is dropped (its run, if opened, ends KILLED
    as TAKEN_OVER); its cell is retried. The trials are of one Optuna storage."""
    if not trials:
        return []
    ostudy = trials[0].ostudy
    named = [t for t, ok in zip(trials, grid.claim(ostudy, [t.trial for t in trials])) if ok]
    for t, run_id in zip(named, tracker.start_trials(experiment_id, [t.run for t in named])):
        t.run_id = run_id
    failpoint("link_runs")   # tests/test_faults.py: a crash between opening the runs and linking them
    linked = grid.set_trial_attrs(ostudy, [(t.trial, {rt.TRIAL_RUN_ID: t.run_id}) for t in named])
    opened = []
    for t, ok in zip(named, linked):
        if not ok:
            _close_run(tracker, t, Outcome.TAKEN_OVER, {})
            continue
        opened.append(t)
    return opened


def end(tracker: Tracker, endings: list[Ending]) -> list[bool]:
    """Record how each trial ended, in MLflow and Optuna, and print its line (_conclude: failures;
    interrupted ones are counted by the caller, interrupted_line). Signals wait until
    it is done, so a trial is recorded completely or not at all. Returns, per ending, whether the
    trial was recorded as FINISHED. The endings are of one Optuna storage."""
    if not endings:
        return []
    with signals_deferred():
        for e in endings:   # checked first, so the run is not shown FINISHED in the common case
            if e.outcome is Outcome.FINISHED and not grid.is_running(e.trial.ostudy, grid.trial_id(e.trial.trial)):
                e.outcome = Outcome.TAKEN_OVER
        finished = [e for e in endings if e.outcome is Outcome.FINISHED]
        if finished:   # one transaction for all of them on MLflow's SQL store
            tracker.finish_trials([(e.trial.run_id, e.history, e.metrics, e.artifacts) for e in finished])
        for e in endings:
            if e.outcome is not Outcome.FINISHED:
                _close_run(tracker, e.trial, e.outcome, e.history, e.error, e.untrained)
        with batched_writes(endings[0].trial.ostudy) as refused:   # one journal append
            turned_down = []
            for e in endings:
                failpoint("optuna_tell")   # tests/test_faults.py: a crash between MLflow and Optuna
                turned_down.append(not _tell(e))
        return [_conclude(tracker, e, bool(refused) or down) for e, down in zip(endings, turned_down)]


def _close_run(tracker: Tracker, t: LiveTrial, outcome: Outcome, history: dict,
               error: Optional[BaseException] = None, untrained: bool = False) -> None:
    if t.run_id is not None:
        tracker.fail_trial(t.run_id, outcome.mlflow_status,
                           {**ending_tags(outcome, error), **({rt.UNTRAINED: "yes"} if untrained else {})}, history)


def _tell(e: Ending) -> bool:
    """Optuna's side of an ending (after MLflow's); False when Optuna turned it down at once
    (another worker ended the trial meanwhile)."""
    t, outcome, tid = e.trial, e.outcome, grid.trial_id(e.trial.trial)
    try:
        if outcome is Outcome.FINISHED:
            if not grid.set_attrs(t.ostudy, tid, e.attrs):
                return False
            t.ostudy.tell(t.trial, e.value)
        elif outcome.optuna_state is not None:
            if not grid.set_attrs(t.ostudy, tid, {rt.TRIAL_FAIL_REASON: reason_text(outcome, e.error)[:1000],
                                                  rt.TRIAL_OUTCOME: outcome.name}):
                return False
            t.ostudy.tell(t.trial, state=outcome.optuna_state)
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as err:
        # ValueError: "Cannot tell a FAIL trial", when batched attribute writes did not stop us first
        if isinstance(err, ValueError) and grid.is_running(t.ostudy, tid):
            raise
        return False
    return True


def _conclude(tracker: Tracker, e: Ending, check: bool) -> bool:
    """After Optuna was told (`check`: some write was turned down, maybe this trial's), the
    console line; True when the trial is recorded as FINISHED."""
    t, outcome = e.trial, e.outcome
    # Turned down because another worker ended it meanwhile. COMPLETE: completed from this
    # trial's FINISHED run by a worker that took this one for dead, or by the first try of a
    # tell retried over a lost connection; either way the cell has its one COMPLETE trial and
    # one FINISHED run. Else it failed: the cell is retried.
    if check and outcome is Outcome.FINISHED and not grid.is_complete(t.ostudy, grid.trial_id(t.trial)):
        _close_run(tracker, t, Outcome.TAKEN_OVER, {})
        outcome = e.outcome = Outcome.TAKEN_OVER   # the worker counts it so (worker._record)
    if outcome is Outcome.FINISHED:
        if VERBOSE["on"]:
            print(f"  {t.name:<28} {e.summary}", flush=True)
        return True
    # interrupted cells are counted in one line where the signal stopped them (interrupted_line)
    if outcome is not Outcome.PRUNED and (outcome is not Outcome.INTERRUPTED or VERBOSE["on"]):
        ahead = " (popped ahead, not started)" if e.untrained else ""   # as interrupted_line counts them apart
        print(f"  {t.name:<28} {'FAILED: ' if outcome.spends_budget else ''}{reason_text(outcome, e.error)}{ahead}",
              flush=True)
    return False


def interrupted_line(training: int, ahead: int = 0, who: str = "", tuning: bool = False) -> None:
    """One console line for the cells a signal stopped (not one per cell: a population popped
    ahead has not even started): they are trained again on the next run, or by another worker.
    `who` (" worker 2") names the worker where several share the console. `tuning`: a tuning
    round's trials (they spend none of the budget and are asked again), not grid cells."""
    what = "tuning trial" if tuning else "cell"
    parts = [f"{counted(training, what)} stopped in training"] * bool(training) + \
            [f"{counted(ahead, what)} popped ahead, not started"] * bool(ahead)
    again = ("asked again on the next run (they spend none of the budget)" if tuning
             else "trained again on the next run (or by another worker)")
    if parts:
        print(f"  {who.strip() + ' ' if who else ''}interrupted: {' and '.join(parts)}; {again}", flush=True)


def close_quietly(tracker: Tracker, run_ids: list[str], why: BaseException) -> None:
    """End runs left RUNNING by a call that is stopping (KILLED for a signal, FAILED for an error),
    without hiding why it stops: a store that fails here (locked, a server's 5xx) is left to the
    rerun, which closes a dead process's runs. Not after a store outage: that rerun closes them."""
    if isinstance(why, StoreUnreachable):
        return
    status = "KILLED" if isinstance(why, (Interrupted, KeyboardInterrupt)) else "FAILED"
    for run_id in run_ids:
        try:
            tracker.end_if_running(run_id, status)
        except Exception:   # noqa: BLE001 (the exception being raised is the one to report)
            pass


def end_dead_process(tracker: Tracker, experiment_id: str, run) -> None:
    """End KILLED a run of a process found dead (a tuning parent whose trials went silent, reaped
    by the holder of a journal or SQLite file's enqueue lock) and the root and dataset runs that
    process opened (tagged with its worker name). On those storages end_dead_owners tells a dead
    process of this machine only: one that died on another host sharing the file left its root
    RUNNING for good, beside its tuning parent KILLED. (PostgreSQL: end_dead_owners, any host.)"""
    tracker.end_run(run.info.run_id, "KILLED")
    if not (worker := run.data.tags.get(rt.WORKER)):
        return
    for other in tracker.running(experiment_id, **{rt.STUDY: run.data.tags.get(rt.STUDY, ""), rt.WORKER: worker}):
        if other.data.tags.get(rt.KIND) in (rt.ROOT, rt.DATASET):
            tracker.end_run(other.info.run_id, "KILLED")


def end_dead_owners(tracker: Tracker, experiment_id: str, study_name: str, storage: str) -> None:
    """End KILLED the root, dataset and tuning runs of a study that a dead process left RUNNING:
    one whose process is gone from this machine, or, on any host, one that held its liveness lock
    (alive_lock, runs tagged ALIVE_LOCK) and holds it no more. A rerun does it (preparation._root_run),
    and a worker or an `ablation` once the grid is done (orchestrate): an `ablation` SIGKILLed on another
    host while it trained left its root RUNNING for good, though the workers finished its cells."""
    verdicts: dict[str, bool] = {}   # per worker: each lock is read once
    for run in tracker.running(experiment_id, **{rt.STUDY: study_name}):
        tags = run.data.tags
        if tags.get(rt.KIND) not in (rt.ROOT, rt.DATASET, rt.TUNING) or not (worker := tags.get(rt.WORKER)):
            continue
        if worker not in verdicts:
            verdicts[worker] = not process_alive(worker) or \
                (tags.get(rt.ALIVE_LOCK) == "yes" and alive_lock.gone(storage, worker))
        if verdicts[worker]:
            tracker.end_run(run.info.run_id, "KILLED")


def reap(ostudy: optuna.Study, tracker: Tracker, every_running: bool = False) -> int:
    """Clean up after workers that died, so their cells are trained again and no MLflow run is
    left RUNNING: each of their trials is recovered from its FINISHED MLflow run when it got that
    far (so the cell keeps exactly one FINISHED run), else failed as WORKER_DIED; MLflow trial
    runs still RUNNING whose Optuna trial failed (or ended with another run) end KILLED. Returns
    how many trials this call ended (not those another reaper ended first). `every_running`: every
    RUNNING trial is a dead process's (a tuning study, which only the holder of the enqueue lock
    trains: one killed on another host left its trials RUNNING for good), unless it beats."""
    dead = liveness.silent_trials(ostudy) if every_running else liveness.dead_trials(ostudy)
    experiment_id = ostudy.user_attrs.get(rt.STUDY_EXPERIMENT)
    # The study's trial runs still RUNNING, searched once: for the dead trials' unlinked runs and,
    # below, for runs to close (the runs first, then their trials; see there).
    runs = [] if experiment_id is None else [
        r for r in tracker.running(experiment_id, **{rt.OPTUNA_STUDY: ostudy.study_name})
        if r.data.tags.get(rt.KIND) in (rt.TRIAL, rt.TUNING_TRIAL)]
    unlinked = _runs_of_unlinked(runs, dead)
    cut_off, taken = liveness.beat_before_restart(ostudy, dead), 0
    for t in dead:   # set_* are False when another worker reaped it first
        linked = t.user_attrs.get(rt.TRIAL_RUN_ID)
        run = tracker.run(linked) if linked else unlinked.get(t.number)
        if run is not None and _recover(ostudy, t, run):
            taken += 1
            continue
        outcome, reason = _death(t, run, t.number in cut_off)
        tid = grid.trial_id(t)
        if grid.set_attrs(ostudy, tid, {rt.TRIAL_FAIL_REASON: reason, rt.TRIAL_OUTCOME: outcome.name,
                                        **({rt.TRIAL_RUN_ID: run.info.run_id} if run is not None and not linked else {})}) \
                and grid.set_state(ostudy, tid, TrialState.FAIL):
            taken += 1
            if run is not None and run.info.status == "FINISHED":   # a tuning trial's (nothing to recover it from):
                # asked again, so its run is no result; FINISHED, the report counted it as a trial of the budget
                tracker.fail_trial(run.info.run_id, outcome.mlflow_status, {
                    rt.FAIL_REASON: f"{reason}; its run had finished, but Optuna was not told: asked again",
                    rt.OUTCOME: outcome.name})
    if runs:
        # The runs first, then their trials: a run found RUNNING was opened after its trial was
        # popped, so the trial is RUNNING or ended by then. Closed here: the runs of FAILed
        # trials, and runs that are not their ended trial's own (a run MLflow's HTTP retry
        # created twice). A trial's own run found RUNNING just before it FINISHED (its trial
        # completes right after) is not touched.
        # Only runs whose trial is not RUNNING are suspects (a worker's idle loop reaps every few
        # seconds: reading every trial of a big study each time would cost the database seconds).
        running = {t.number for t in grid.trials_in(ostudy, (TrialState.RUNNING,))}
        suspects = [r for r in runs if int(r.data.tags.get(rt.OPTUNA_TRIAL, -1)) not in running]
        trials = grid.states_and_runs(ostudy) if suspects else {}
        for run in suspects:
            state, own, outcome, reason, trained = trials.get(int(run.data.tags.get(rt.OPTUNA_TRIAL, -1)),
                                                              (TrialState.FAIL, None, None, None, True))
            if state == TrialState.FAIL or (state != TrialState.RUNNING and run.info.run_id != own):
                ended, why = _stray_ending(run.info.run_id, own, outcome, reason)
                # a dead worker's cell popped ahead, its training not started: as worker._end_untrained tags it
                untrained = {rt.UNTRAINED: "yes"} if run.info.run_id == own and not trained else {}
                tracker.fail_trial(run.info.run_id, ended.mlflow_status, {rt.FAIL_REASON: why, rt.OUTCOME: ended.name,
                                                                          **untrained})
    return taken


def _stray_ending(run_id: str, own: Optional[str], outcome: Optional[str], reason: Optional[str]) -> tuple[Outcome, str]:
    """How a run left RUNNING under an ended trial is closed, with its reason: as the trial
    recorded its end when it is the trial's own run (a store outage, say); as a DUPLICATE when
    the trial has another run of its own; else WORKER_DIED."""
    if own is not None and run_id != own:
        return Outcome.DUPLICATE, (f"a second run of this trial, whose own run is {own} (MLflow created it twice: "
                                   "a request retried after its answer was lost)")
    ended = Outcome.recorded(outcome) if run_id == own else Outcome.WORKER_DIED
    return ended, reason if ended is not Outcome.WORKER_DIED and reason else "worker died (killed or crashed)"


def _death(t, run, beat_before_restart: bool = False) -> tuple[Outcome, str]:
    """How a dead worker's trial ends, with its reason: STORE_OUTAGE when its worker said, on
    the trial or else on its run (whichever store still answered), that it stopped because a
    store did not answer (worker._left_by_outage), or when its last heartbeat came before the
    database last started (both stores on one PostgreSQL: neither took a note); else WORKER_DIED.
    (A worker that died for its own reasons unreaped until a database restart passes for one
    the outage stopped only where the reaping process did not see the outage itself: a worker
    that started after it. Its cell gets one try more than max_retries, at most, per restart.)"""
    note = t.user_attrs.get(rt.TRIAL_OUTAGE) or (run.data.tags.get(rt.STORE_OUTAGE) if run is not None else None)
    if not note and beat_before_restart:
        note = RESTARTED_UNDER_IT
    if note:
        return Outcome.STORE_OUTAGE, f"{Outcome.STORE_OUTAGE.reason}: {note}"[:1000]
    return Outcome.WORKER_DIED, Outcome.WORKER_DIED.reason


RESTARTED_UNDER_IT = ("the Optuna storage's database restarted after this trial's last heartbeat (its worker stopped "
                      "when it went away)")


def _runs_of_unlinked(runs: list, dead: list) -> dict:
    """{trial number: run} for dead trials whose worker died after opening their MLflow runs
    but before linking them (`open_runs`): found among the RUNNING trial runs by the trial number
    they carry, so that the failed trial names its run and the cell's retry its previous attempt."""
    numbers = {t.number for t in dead if not t.user_attrs.get(rt.TRIAL_RUN_ID)}
    found = {}
    for run in runs if numbers else ():
        number = int(run.data.tags.get(rt.OPTUNA_TRIAL, -1))
        if number in numbers:
            found[number] = run
    return found


def spent_attempt(t) -> bool:
    """Whether a failed trial counts against its cell's max_retries: its training failed, or its
    worker died while training it (the cell may be what killed it: out of memory). A stop (SIGINT,
    SIGTERM) does not, nor a store outage that stopped its worker, nor a death before it trained:
    a worker pops its next population while one trains, so a kill fails both, and two kills would
    give up on cells that never ran."""
    outcome = t.user_attrs.get(rt.TRIAL_OUTCOME)
    if outcome in (Outcome.INTERRUPTED.name, Outcome.STORE_OUTAGE.name):
        return False
    if outcome == Outcome.WORKER_DIED.name:
        return rt.TRIAL_TRAINING in t.user_attrs
    return t.user_attrs.get(rt.TRIAL_FAIL_REASON) != Outcome.INTERRUPTED.reason   # recorded before outcomes were


def repeats(t) -> bool:
    """Whether a failed trial would fail again if its cell were retried: training diverged (a NaN or
    infinite loss). A cell's draws are its seed's alone, so a retry trains it the same way and
    diverges at the same step (a rerun retried them all, to the same end)."""
    return t.user_attrs.get(rt.TRIAL_OUTCOME) == Outcome.DIVERGED.name or \
        t.user_attrs.get(rt.TRIAL_FAIL_REASON) == Outcome.DIVERGED.reason


def retry_now(t) -> bool:
    """Whether a failed trial's cell is retried at once, by the workers still running: when its
    worker died or was stopped (the outcomes that spend no budget), not when training failed."""
    return not Outcome.spends(t.user_attrs.get(rt.TRIAL_OUTCOME), t.user_attrs.get(rt.TRIAL_FAIL_REASON))


def _recover(ostudy: optuna.Study, t, run) -> bool:
    """A worker that died after its trial's MLflow run was FINISHED (fully logged) but before
    telling Optuna: complete the trial from the run instead of training the cell again."""
    metrics = run.data.metrics
    if run.info.status != "FINISHED" or "final_val_metric" not in metrics:
        return False
    tid = grid.trial_id(t)
    for key in rt.RESULT_ATTRS:
        if key in metrics:   # runs of older versions lack the newer ones
            grid.set_attr(ostudy, tid, key, metrics[key])
    grid.set_attr(ostudy, tid, rt.TRIAL_METRICS, per_metric(metrics))
    grid.set_attr(ostudy, tid, rt.RECOVERED, True)
    grid.set_state(ostudy, tid, TrialState.COMPLETE, [metrics["final_val_metric"]])
    return True   # recovered, here or by another worker that got there first


# --- births ----------------------------------------------------------------------------------

@dataclass
class DatasetCells:
    """What every grid trial of one dataset is born with: its Optuna study, its MLflow parent,
    the tags and dataset input its run carries, the tuned strengths and the device."""

    plan: object              # study.DatasetPlan
    ostudy: optuna.Study
    parent_id: str
    tags: dict
    dataset_input: object
    tuned: dict               # {arm: Optuna params of its best tuning trial}
    device: str
    variants: dict = field(default_factory=dict)   # {arm: {point id: overrides}}: Study.points on this dataset
    dims: tuple = ()          # (features, outputs) of the data: where device auto trains a model

    def born(self, trial: optuna.Trial, arm: str, seed: int, variant: str = "") -> LiveTrial:
        plan, tuned = self.plan, self.tuned.get(arm)
        cfg = TrialConfig.for_cell(plan.training, arm, seed, self.device,
                                   tuned=arms.tuned_values(tuned) if tuned else None,
                                   # a point the file no longer lists (a strength changed while it waited): by its name
                                   variant=self.variants.get(arm, {}).get(variant, arms.overrides_of(variant)) if variant else None)
        name = f"{plan.label}/{arm}" + (f"@{variant}" if variant else "") + f"/seed{seed}"
        attrs = trial.user_attrs   # once: a deep copy each time
        tags = {**self.tags, rt.ARM: arm, rt.SEED: seed, rt.OPTUNA_TRIAL: trial.number,
                rt.OPTUNA_STUDY: self.ostudy.study_name, rt.ENGINE: plan.execution.engine,
                rt.ATTEMPT: attrs.get(rt.ATTEMPT, 1), rt.WORKER: worker_id(), **({rt.VARIANT: variant} if variant else {}),
                **({rt.PREVIOUS_ATTEMPT: attrs[rt.PREVIOUS_ATTEMPT]} if rt.PREVIOUS_ATTEMPT in attrs else {}),
                # at the start: one write less at the end; auto keeps small models on the CPU
                rt.DEVICE: str(training_device(cfg, *self.dims) if self.dims else resolve_device(cfg.device)),
                **({rt.TUNED: "yes"} if tuned else {})}
        run = NewRun(self.parent_id, name, tags=tags, params={**cfg.params(), "dataset": plan.label},
                     dataset_input=self.dataset_input)
        return LiveTrial(self.ostudy, trial, name, run, payload=cfg)


def per_metric(final: dict) -> dict[str, float]:
    """The per-metric final values (test_mae, final_train_log_loss, ...; not the training losses
    test_loss, final_val_loss, nor *_metric). log_loss ends in "_loss" too: it was left out, and a
    study switched to `metric: log_loss` read no trial from Optuna (the report read MLflow's)."""
    return {k: v for k, v in final.items() if k.startswith(rt.SPLIT_PREFIXES)
            and not (k.endswith("_metric") or (k.endswith("_loss") and not k.endswith("_log_loss")))}


def cell_ending(t: LiveTrial, result, seconds: float) -> Ending:
    """A grid cell's ending from what its trainer returned: a TrainResult, or the error (with
    `.history`, the epochs it completed, where the trainer attached it)."""
    if isinstance(result, BaseException):
        return Ending(t, Outcome.of_error(result), history=getattr(result, "history", {}), error=result)
    final = {**result.final, "train_seconds": seconds, "epochs_run": result.epochs_run,
             "best_epoch": result.best_epoch}
    return Ending(t, Outcome.FINISHED, history=result.history, metrics=final, value=final["final_val_metric"],
                  attrs={**{k: final[k] for k in rt.RESULT_ATTRS}, rt.TRIAL_METRICS: per_metric(final)},
                  artifacts={rt.WEIGHT_HISTOGRAM: result.weight_histogram},
                  summary=f"val={final['final_val_metric']:.4f} test={final['test_metric']:.4f} "
                          f"gap={final['gap_metric']:+.4f} ({seconds:.2f}s)")
