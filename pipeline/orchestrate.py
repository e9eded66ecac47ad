"""The orchestrator: a study as a list of stages.

    connect   validate everything that can be validated (preflight.py: datasets, device, both stores)
    prepare   the MLflow root run; per dataset its Optuna study, tuning, the grid enqueued, its parent run
              (both in preparation.py)
    work      pop waiting cells and train them (worker.py; this process, N local processes, or workers anywhere)
    finish    close the dataset parents and the root run; the time line

Optuna lives in grid.py (its storages in storage.py, which RUNNING trials have a live worker in liveness.py),
a trial's birth and end in lifecycle.py, MLflow in tracking.py; a study's results read back (adaptive rounds,
the console summary) in results.py.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Callable, Optional

from optuna.trial import TrialState

from . import grid, joining, lifecycle, liveness, preflight, verdicts, worker
from . import runtree as rt
from .dataset_record import divergence_hint
from .enqueue_lock import exclusive
from .errors import AnotherConfiguration, NotEnqueued, UsageError, stop_if_interrupted
from .lifecycle import DatasetCells
from .preparation import RunContext, connect, dataset_tags, ensure_parent, open_dataset_study, prepare
from .runtime import (EXIT_UNREACHABLE, Interrupted, Stopwatch, StoreUnreachable, die_with_parent, install_signal_handlers,
                      mask_credentials, worker_id)
from .results import study_results
from .splits import Splits
from .storage import DEFAULT_STORAGE, GRACE_S, HEARTBEAT_S
from .study import DatasetPlan, Study
from .tracking import dataset_input
from .words import counted, plural

__all__ = ["install_signal_handlers", "run_ablation", "run_worker"]


# --- work ------------------------------------------------------------------------------------

def work_dataset(ctx: RunContext, plan: DatasetPlan, data: Splits, who: str = "",
                 watch: Callable[[str], None] = lambda label: None) -> dict:
    """Pop waiting cells of one dataset and train them until none is left (worker.work_cells).
    Any number of workers may run this at once on the same storage: each waiting trial is popped
    by exactly one. `watch`: OthersWatch, called between populations."""
    ostudy = open_dataset_study(ctx, ctx.study, plan, data)
    parent_id = ostudy.user_attrs.get(rt.STUDY_PARENT_RUN)
    if parent_id is None or not (grid.has_waiting(ostudy) or worker.retried(ctx, ostudy)):
        return {"trained": 0, "failed": 0, "taken_over": 0}
    cells = DatasetCells(plan, ostudy, parent_id, dataset_tags(ctx.study, plan, data), dataset_input(data),
                         ostudy.user_attrs.get(rt.STUDY_TUNED) or {}, plan.execution.device,
                         {arm: ctx.study.points(arm, plan) for arm in ctx.study.arms},
                         (data.n_features, data.n_outputs))
    return worker.work_cells(ctx, cells, data, who, watch)


def queue_state(ctx: RunContext, data: dict) -> tuple[int, int, list[float]]:
    """(waiting, training) cells over the study's datasets, as an `enqueue` leaves them, and the
    seconds of silence of those in training that missed two heartbeats (a dead or cut-off
    worker's, which a live worker takes over; [] on storages without heartbeats)."""
    waiting = training = 0
    silent = []
    for plan in ctx.study.plans:
        ostudy = open_dataset_study(ctx, ctx.study, plan, data[plan.label])
        # one read for both: a cell a worker popped between two reads was counted waiting and training
        states = [t.state for t in ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))]
        waiting += states.count(TrialState.WAITING)
        training += states.count(TrialState.RUNNING)
        # two beats missed: not beating (liveness.dead_trials); failed once GRACE_S passes
        silent += [age for age in liveness.heartbeat_ages(ostudy).values() if age >= 2 * liveness.HEARTBEAT_S]
    return waiting, training, silent


# --- finish ----------------------------------------------------------------------------------

def finish_dataset(ctx: RunContext, plan: DatasetPlan, data: Splits, status: str = "FINISHED") -> None:
    """End the dataset's parent run once no cell is waiting or running, nor due for a retry (any
    worker may do it): a SIGTERMed worker's cells, failed just now, are enqueued again first (a
    parent closed before them gave a report built meanwhile a verdict without them). Interrupted
    here (`status` KILLED) while live workers elsewhere still train, it is left to them: closed
    KILLED, their results landed under a parent that read as abandoned, and the last of them
    closes it. Not with adaptive seeds: their rounds' owner closes the parents, and it stopped."""
    with ctx.clock("bookkeeping"):
        ostudy = open_dataset_study(ctx, ctx.study, plan, data)
        parent_id = ostudy.user_attrs.get(rt.STUDY_PARENT_RUN)
        if parent_id is not None:   # this worker's trial summaries, also when others still train
            ctx.tracker.flush_summaries(parent_id)
        if status == "FINISHED":
            done = not (grid.busy(ostudy) or worker.retried(ctx, ostudy))
        else:
            done = ctx.study.adaptive or not liveness.others_alive(ostudy)
        if parent_id is not None and done and status == "FINISHED" and ctx.tracker.run_status(parent_id) == "KILLED":
            # an interrupted `ablation` closed it while this worker, idle then, went on to train what it
            # had left: the grid is done, and a KILLED parent read as a study stopped before its end
            ctx.tracker.end_run(parent_id, "FINISHED")
        elif parent_id is not None and done:
            ctx.tracker.end_if_running(parent_id, status)


def log_timing(ctx: RunContext, total: float, workers: int = 1) -> None:
    """Where this process's time went, on the root run (metrics time_*_s) and in one line:
    bookkeeping is MLflow and Optuna writes that held up training; recording_background is
    the bookkeeping thread's writes (recording finished trials, popping and opening the next
    ones), overlapped with training; bookkeeping_cpu is the CPU time of
    both, which is what they cost on a machine whose cores training would otherwise use. With
    `workers` processes training, this process's `other` is theirs (each times nothing else here)."""
    clock = ctx.clock.seconds
    seconds = {"total": total, **clock}
    seconds["other"] = max(0.0, total - sum(v for k, v in clock.items() if k != "recording_background"))
    seconds["bookkeeping_cpu"] = sum(ctx.clock.cpu_seconds[k] for k in ("bookkeeping", "recording_background"))
    seconds = {k: round(v, 3) for k, v in seconds.items()}  # the line below says what the metrics say
    total = seconds["total"]
    try:
        ctx.tracker.log_values(ctx.root_id, {f"time_{k}_s": v for k, v in seconds.items()})
    except Exception:  # timing is informative only; never fail a finished study over it
        pass
    names = {"other": f"in {workers} worker processes"} if workers > 1 else {}
    parts = ", ".join(f"{names.get(k, k.replace('_', ' '))} {v:.1f} s" for k, v in seconds.items() if k != "total")
    print(f"time: {total:.1f} s ({parts})", flush=True)


def _retried_on_rerun(ctx: RunContext, ostudy, failed: int, all_failed: bool = False,
                      listed: Optional[set] = None) -> str:
    """What becomes of a dataset's failed cells: those with attempts left are trained again by a
    rerun (the console said nothing of it: a user took them for lost); diverged ones and those out
    of retries are not. `all_failed`: said after "the other N failed". "" without failed cells."""
    if not failed:
        return ""
    again, given_up = grid.cells_failed(ostudy, ctx.study.spec.max_retries, lifecycle.spent_attempt, lifecycle.repeats, listed)
    if not again and all_failed:
        return " (diverged, which a retry repeats, or out of retries: max_retries)"
    not_again = (f"{counted(given_up, 'failed cell')} {plural(given_up, 'is')} not retried: diverged (a retry repeats "
                 "it) or out of retries (max_retries)") if given_up else ""
    if not again:
        return f"; {not_again}" if given_up else ""
    return (f"; rerunning the same command (ablation, or enqueue for workers) retries {counted(again, 'failed cell')}"
            f" (max_retries: {ctx.study.spec.max_retries})" + (f"; {not_again}" if given_up else ""))


# --- the commands ------------------------------------------------------------------------------

def run_worker_loop(ctx: RunContext, data: dict, who: str = "", say_done: bool = True) -> None:
    """Every dataset's waiting cells; then, while other workers still train some, keep watching:
    the cells of one that dies are trained again here (a worker ends when the grid is done).
    `say_done`: say which datasets had nothing to train (not again at an adaptive round's start)."""
    watch = OthersWatch(ctx, data)
    try:
        _each_dataset(ctx, data, who, say_done, watch)
    finally:
        watch.close()


def _each_dataset(ctx: RunContext, data: dict, who: str, first: bool, watch: OthersWatch) -> None:
    """run_worker_loop's rounds: every dataset once, then those still open, until none is."""
    plans = list(ctx.study.plans)
    while plans:
        for plan in plans:
            counts = work_dataset(ctx, plan, data[plan.label], who, watch)
            moved = counts["trained"] or counts["failed"] or counts["taken_over"]
            if first and not moved and not grid.cells_done(open_dataset_study(ctx, ctx.study, plan, data[plan.label]))[1] \
                    and after_an_enqueue(ctx.storage, ctx.study.name):   # tuning it: its grid comes once it is done
                counts = work_dataset(ctx, plan, data[plan.label], who, watch)
                moved = counts["trained"] or counts["failed"] or counts["taken_over"]
            if first or moved:
                taken = f", {counts['taken_over']} taken over by another worker" if counts["taken_over"] else ""
                ostudy = open_dataset_study(ctx, ctx.study, plan, data[plan.label])
                # the file's grid: cells at an earlier strength, a point or a seed taken out are no part of it
                listed = set(ctx.study.grid_cells(ctx.study.seeds, plan))
                done, cells = grid.cells_done(ostudy, listed)
                if not moved and cells == 0:   # an enqueue stopped before it enqueued them (while tuning)
                    print(f"[{plan.label}]{who} no cell of it is enqueued: the enqueue stopped before it enqueued "
                          "them (a tuned study tunes first); run enqueue again", flush=True)
                    ctx.unenqueued.append(plan.label)
                elif not moved and done == cells:
                    print(f"[{plan.label}]{who} nothing to train: all {cells} cells were done already", flush=True)
                elif not moved and grid.others_running(ostudy):   # they popped them all ("trained 0" read as a stall)
                    print(f"[{plan.label}]{who} nothing left to pop: other workers train the rest ({done} of the "
                          f"{cells} cells done so far)", flush=True)
                elif not moved and done + (failed := grid.cells_given_up(ostudy, listed)) == cells:   # "trained 0, failed 0" read as a stall
                    print(f"[{plan.label}]{who} nothing to train: {done} of the {cells} cells done, the other {failed} failed"
                          f"{_retried_on_rerun(ctx, ostudy, failed, all_failed=True, listed=listed)}", flush=True)
                else:
                    print(f"[{plan.label}]{who} trained {counts['trained']}, failed {counts['failed']}{taken}; "
                          f"{done} of the {cells} cells enqueued so far are done (all workers)"
                          f"{_retried_on_rerun(ctx, ostudy, counts['failed'], listed=listed)}", flush=True)
            if counts["failed"] and not counts["trained"]:
                hint = divergence_hint(open_dataset_study(ctx, ctx.study, plan, data[plan.label]), data[plan.label])
                if hint:
                    print(f"[{plan.label}] {hint}", flush=True)
            if not ctx.study.adaptive:  # adaptive: more rounds may come; the round's owner closes the parents
                finish_dataset(ctx, plan, data[plan.label])
        plans, first = [p for p in ctx.study.plans if _still_open(ctx, p, data[p.label])], False
        if plans:
            time.sleep(HEARTBEAT_S)
            stop_if_interrupted()   # watching others' cells: a swallowed signal stops it here too


class OthersWatch:
    """While a worker trains one dataset, the study's other datasets are looked at every GRACE_S,
    on a thread of its own, for cells of workers that died: taken over at once (their runs end
    KILLED, their cells wait again for the next worker to come back to that dataset), not once
    this worker has nothing left to pop anywhere, minutes later in a big study. Called with the
    dataset it trains (whose own reaping looks at it); close() stops it."""

    def __init__(self, ctx: RunContext, data: dict):
        # its own stopwatch: the time line's bookkeeping is what held training up, not this
        self.ctx, self.data = dataclasses.replace(ctx, clock=Stopwatch()), data
        self.training, self.stop, self.thread = "", threading.Event(), None

    def __call__(self, training: str) -> None:
        self.training = training   # read for each dataset: the main thread may move on during a pass
        if self.thread is None and len(self.ctx.study.plans) > 1:
            self.thread = threading.Thread(target=self._watch, name="others-watch", daemon=True)
            self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:   # a pass in progress ends within seconds (dead_trials' second look at most)
            self.thread.join(timeout=liveness.SECOND_LOOK_S + 5)

    def _watch(self) -> None:
        while not self.stop.wait(GRACE_S):
            try:
                for plan in self.ctx.study.plans:
                    if self.stop.is_set():
                        return
                    if plan.label == self.training:
                        continue
                    ostudy = open_dataset_study(self.ctx, self.ctx.study, plan, self.data[plan.label])
                    if ostudy.user_attrs.get(rt.STUDY_PARENT_RUN) is not None and grid.others_running(ostudy):
                        worker.retried(self.ctx, ostudy)
            except Exception:  # noqa: BLE001 - a store's trouble is met (and said) by the training thread's next call
                pass


def _still_open(ctx: RunContext, plan: DatasetPlan, data: Splits) -> bool:
    """Whether a dataset this worker already went through may still need it: another worker trains
    some of its cells (and may die), or cells wait (an `enqueue` reaped a dead worker's), or a
    stopped worker's cells are to be retried (a SIGTERM while this one trained another dataset)."""
    ostudy = open_dataset_study(ctx, ctx.study, plan, data)
    if ostudy.user_attrs.get(rt.STUDY_PARENT_RUN) is None:   # work_dataset trains nothing without it: no endless wait
        return False
    return grid.others_running(ostudy) or grid.has_waiting(ostudy) or worker.retried(ctx, ostudy)


def next_round(ctx: RunContext, data: dict, owned: bool = True) -> list[str]:
    """Adaptive seeds: decide on what is complete and enqueue the next look's seeds for every
    dataset still undecided (none while its current round is still busy). Returns the labels of
    the datasets that got new cells. Idempotent, and resumable like everything else: the
    decisions are recomputed from the stored results."""
    study = ctx.study
    if not study.adaptive:
        return []
    plans = {p.label: p for p in study.plans}
    grown = []
    # as prepare: two enqueues at once would both find a dataset undecided and not busy
    with ctx.clock("bookkeeping"), exclusive(ctx.storage, study.name):
        for v in verdicts.decide_study(study_results(study, ctx.storage, ctx.tracker), study.seeds, study.looks()):
            plan = plans[v.label]
            ostudy = open_dataset_study(ctx, study, plan, data[plan.label])
            if v.stopped != "more seeds to come" or grid.busy(ostudy):
                continue
            look = next(n for n in study.looks() if n > v.seeds_used)
            added, _ = grid.enqueue_missing(ostudy, study.grid_cells(study.seeds_at(look), plan), study.spec.max_retries,
                                            lifecycle.spent_attempt, repeats=lifecycle.repeats)
            if added:
                ensure_parent(ctx, plan, data[plan.label], ostudy, owned)
                print(f"[{plan.label}] undecided after {v.seeds_used} seeds: adding seeds up to {look}", flush=True)
                grown.append(plan.label)
    return grown


def _worker_process(study: Study, storage: str, tracking: str, experiment_id: str, root_id: str,
                    number: int, parent_pid: int, say_done: bool = True) -> None:
    install_signal_handlers(once=True)
    try:   # a signal while the data loads ends the worker as quietly as one while it trains
        die_with_parent(parent_pid)
        data, tracker = connect(study, storage, tracking)
        ctx = RunContext(study, tracker, experiment_id, root_id, storage)
        run_worker_loop(ctx, data, who=f" worker {number}:", say_done=say_done)
    except Interrupted:
        _exit_quietly(130)
    except StoreUnreachable as e:   # one line, as the command line prints it; the parent goes on
        print(f"worker {number}: error: {e}", file=sys.stderr, flush=True)
        _exit_quietly(EXIT_UNREACHABLE)
    _exit_quietly(0)


def _exit_quietly(code: int) -> None:
    """A worker process's exit, deaf to further signals: the parent's SIGTERM to its workers, met
    while multiprocessing shut this one down after a Ctrl-C, raised Interrupted there and printed
    a traceback of three chained exceptions."""
    import signal

    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    sys.exit(code)


def run_ablation(study: Study, storage: Optional[str] = None, tracking: Optional[str] = None,
                 workers: Optional[int] = None, source: str = "study file") -> RunContext:
    """Prepare, train every missing cell (in this process, or in `workers` processes popping
    cells from the same storage), then close the runs. `source` names the study file in errors."""
    named = f"{source}: field 'execution.workers'" if workers is None else "--workers"
    workers = study.spec.execution.workers if workers is None else workers
    cores = os.cpu_count() or 1
    most = max(8, 4 * cores)
    if workers > most:   # --workers 100000 spawned processes until the machine froze
        raise UsageError(f"{named} = {workers}: at most {most} on this machine ({cores} cores; each worker "
                         "process loads the data and trains on cores of its own); more machines: see `worker`")
    if storage is None:
        storage = DEFAULT_STORAGE
    elif workers > 1 and storage.startswith("sqlite"):
        raise UsageError(f"--storage = {storage!r}: SQLite is not safe for parallel workers ({named} = {workers}); use "
                         f"{DEFAULT_STORAGE} or a postgresql:// URL, or one worker")
    started = time.perf_counter()
    ctx, data = prepare(study, storage, tracking)
    study = ctx.study   # under the identity the storage holds it by (joining.adopted)
    ended_before = _ended_trials(ctx, data)
    status, spawned = "FINISHED", 1
    try:
        first = True
        while True:   # one round, or with adaptive seeds as many as the verdicts ask for
            # N processes only when there are cells to share: each would load the data again first
            if workers == 1 or not queue_state(ctx, data)[0]:
                run_worker_loop(ctx, data, say_done=first)
            else:
                spawned = workers   # before: an interrupted call's timing line names them too
                _run_local_workers(ctx, data, workers, say_done=first)
                # cells of a worker that died, enqueued again as it was reaped: trained here, not left waiting
                run_worker_loop(ctx, data, say_done=False)
            if not next_round(ctx, data):
                break
            first = False
        for plan in study.plans:
            finish_dataset(ctx, plan, data[plan.label])
        ctx.trained_nothing = _ended_trials(ctx, data) == ended_before
        # as a worker does (run_worker): its start-time check saw alive an `ablation` that died
        # after it (on any host), whose cells it finished; that one's runs are not left RUNNING
        lifecycle.end_dead_owners(ctx.tracker, ctx.experiment_id, study.name, storage)
    except Interrupted:
        status = "KILLED"
        for plan in study.plans:
            finish_dataset(ctx, plan, data[plan.label], status="KILLED")
        raise
    except StoreUnreachable:   # the dataset parents stay open for the rerun that resumes
        status = "FAILED"
        raise
    finally:
        log_timing(ctx, time.perf_counter() - started, spawned)
        if ctx.tracker.owns_root():
            ctx.tracker.end_run(ctx.root_id, status)
    return ctx


def _ended_trials(ctx: RunContext, data: dict) -> int:
    """Trials COMPLETE or FAILED over the study's datasets: whatever trains, in any process, adds one
    (an enqueue retiring waiting cells meanwhile trains nothing: not counted)."""
    return sum(sum(not grid.retired(t) for t in open_dataset_study(ctx, ctx.study, p, data[p.label]).get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))) for p in ctx.study.plans)


def _run_local_workers(ctx: RunContext, data: dict, workers: int, say_done: bool = True) -> None:
    """`workers` processes popping cells from the same storage; on a signal each is stopped
    with SIGTERM (it marks its current runs KILLED). `say_done`: as run_worker_loop's."""
    study = ctx.study
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_worker_process, args=(study, ctx.storage, ctx.tracker.uri,
                                                         ctx.experiment_id, ctx.root_id, i + 1, os.getpid(), say_done))
             for i in range(workers)]
    try:
        # started deaf to Ctrl-C (an ignored signal survives the spawn's exec) until their own handlers are
        # in: one during their imports printed a KeyboardInterrupt traceback; this process stops them then
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for p in procs:
                p.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        for p in procs:
            p.join()
    except Interrupted:
        for p in procs:
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + 60   # they end their runs KILLED; one that stopped listening is killed
        for p in procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
        raise
    gave_up = [str(i + 1) for i, p in enumerate(procs) if p.exitcode == EXIT_UNREACHABLE]
    if gave_up:   # each said which store in its own line
        raise StoreUnreachable(f"{plural(len(gave_up), 'worker')} {', '.join(gave_up)} stopped: a store did not answer (see above)")
    for plan in study.plans:  # a worker that died leaves its cell RUNNING: clean up now
        lifecycle.reap(open_dataset_study(ctx, study, plan, data[plan.label]), ctx.tracker)


def run_worker(study: Study, storage: str, tracking: Optional[str]) -> list[str]:
    """Join a prepared study from any machine and train cells until none is waiting. Returns the
    datasets it found no cell of enqueued (an enqueue stopped before it enqueued them)."""
    joining.refuse_missing_storage(storage)   # opening a file storage creates the file: a typo's would too
    data = preflight.validate_inputs(study, storage, tracking)
    study, ostudies = joined_when_enqueued(study, storage)   # the enqueue's configuration and grid
    last = ostudies[study.plans[-1].label]
    tracker = joining.joined_tracker(tracking, last)                 # and its MLflow store
    ctx = RunContext(study, tracker, last.user_attrs.get(rt.STUDY_EXPERIMENT), "", storage)
    for plan in study.plans:
        lifecycle.reap(open_dataset_study(ctx, study, plan, data[plan.label]), tracker)
    run_worker_loop(ctx, data, who=f" worker {worker_id()}:")
    # the grid is done: the runs of a process that opened them and died on any host (an `ablation`
    # killed while it trained, its cells finished here) are closed, not left RUNNING for good
    lifecycle.end_dead_owners(tracker, ctx.experiment_id, study.name, storage)
    return ctx.unenqueued


JOIN_WAIT_ENV = "PIPELINE_JOIN_WAIT_S"
DEFAULT_JOIN_WAIT_S = 120.0   # an enqueue started with the workers loads its data first (MNIST: ~10 s)
JOIN_POLL_S = 2.0


def joined_when_enqueued(study: Study, storage: str) -> tuple[Study, dict]:
    """(the study under the storage's identities, {label: its Optuna study}) once an enqueue has
    prepared it: a worker started with the enqueue (a script, a Job) may look before the enqueue
    holds its lock (it loads the data first), so a study not in the storage yet is waited for, up
    to $PIPELINE_JOIN_WAIT_S, saying so; an enqueue that holds the lock is waited for as long as
    it takes. Then joining's one-line errors (exit 2; 75 for an enqueue stopped half-way)."""
    deadline, said = time.monotonic() + _join_wait_s(), False
    while True:
        try:
            study = joining.adopted(study, storage)
            return study, joining.joined_studies(study, study.plans, storage)
        except NotEnqueued as e:
            if after_an_enqueue(storage, study.name):
                continue
            if time.monotonic() >= deadline:
                raise
            if not said:   # another configuration: why at once (a wrong file is seen before the wait ends)
                print(f"{e}; waiting up to {_join_wait_s():.0f} s in case the enqueue of this one is starting (started "
                      "with the workers, it loads its data first)" if isinstance(e, AnotherConfiguration) else
                      f"study {study.name!r} is not in {mask_credentials(storage)} yet: waiting up to "
                      f"{_join_wait_s():.0f} s for its enqueue (started with the workers, it loads its data first)",
                      flush=True)
                said = True
            time.sleep(JOIN_POLL_S)
        except UsageError:   # an enqueue still preparing it (tuning a dataset before it) creates the rest
            if not after_an_enqueue(storage, study.name):
                raise


def _join_wait_s() -> float:
    try:
        return max(0.0, float(os.environ.get(JOIN_WAIT_ENV, DEFAULT_JOIN_WAIT_S)))
    except ValueError:
        return DEFAULT_JOIN_WAIT_S


def after_an_enqueue(storage: str, name: str) -> bool:
    """Wait for an enqueue that holds the lock of study `name` on `storage` (on a journal or
    SQLite file, of any study in it) to finish: it prepares dataset after dataset, a tuned one's
    tuning before its grid. Whether there was one to wait for."""
    waited = []

    def waiting(*_, **__) -> None:
        waited.append(True)
        print(f"waiting for an enqueue on {mask_credentials(storage)} to finish (a tuned study tunes each dataset "
              "before it enqueues its grid)", flush=True)

    with exclusive(storage, name, say=waiting):
        return bool(waited)
