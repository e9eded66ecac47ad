"""The work stage: one worker's loop over a dataset's waiting cells. It pops a population of
cells, trains it (population engine, or the reference trainer one cell at a time) and records
it, while one bookkeeping thread pops and opens the next population and records the previous
one, so that MLflow's and Optuna's writes overlap training. Any number of these loops may run
on one storage: each waiting trial is popped by exactly one. How a trial is born and ends is
lifecycle.py; the orchestrator (orchestrate.py) builds a dataset's cells and calls work_cells.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Optional

from optuna.trial import TrialState

from . import grid, lifecycle, liveness
from . import runtree as rt
from .enqueue_lock import exclusive
from .lifecycle import DatasetCells, Ending, LiveTrial, Outcome
from .runtime import Interrupted, Progress, StoreUnreachable, failpoint, signals_deferred
from .tracking_server import hurry_stores
from .train import train
from .trainer_common import History
from .words import counted, plural


def work_cells(ctx, cells: DatasetCells, data, who: str = "", watch: Callable[[str], None] = lambda label: None) -> dict:
    """Pop the waiting cells of one dataset and train them until none is left; returns how many
    trained, failed and were taken over by another worker while this one was paused. `ctx` is the
    orchestrator's RunContext (study, tracker, experiment, clock); `who` names the worker (" worker 2:")
    in its progress lines when several share this console; `watch(label)` is called before each
    population (the other datasets' dead workers: orchestrate.OthersWatch)."""
    counts = {"trained": 0, "failed": 0, "taken_over": 0}
    population = cells.plan.execution.engine == "population"
    batch = cells.plan.execution.population_size if population else 1
    waiting = cells.ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    progress = Progress(cells.plan.label, len(waiting), who=who, cells={grid.cell_of(t) for t in waiting})
    # One bookkeeping thread keeps MLflow and Optuna off the training's path: while a population trains,
    # it records the previous one and pops and opens the next (writes that cost CPU, several ms a trial
    # on SQLite). Training waits for it only when a population's bookkeeping outlasts its training.
    bookkeeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bookkeeper")
    pending: list = []
    upcoming = None   # the next population, popped and opened ahead (a future)
    current = None    # the population in training, until _record (or _train, on a signal) ends it
    stopped = outage = None   # how many cells a signal stopped in training; the StoreUnreachable that stopped it
    try:
        while True:
            for f in pending:   # a store the bookkeeper gave up on: stop popping cells
                if f.done() and f.exception() is not None:
                    raise f.exception()
            if upcoming is None:
                if not (grid.has_waiting(cells.ostudy) or retried(ctx, cells.ostudy, progress)):
                    progress.drained = True   # nothing left to pop: _finish settles the count
                    break
                upcoming = bookkeeper.submit(_open_ahead, ctx, cells, batch)
            with ctx.clock("bookkeeping"):   # waiting for the bookkeeper holds training up
                trials, beat = upcoming.result()
                # marked on this thread, before training starts (the bookkeeper may still be recording the last
                # population): a death from here on counts as an attempt of these cells (lifecycle.spent_attempt),
                # not of the next ones popped ahead. Those not marked were taken over while this worker was paused
                trials = [t for t, marked in zip(trials, _mark_training(cells.ostudy, trials) if trials else []) if marked]
            current, upcoming = (trials, beat), None
            watch(cells.plan.label)
            if not trials:
                current = None
                beat.stop()
                continue  # none left (another worker was faster), or taken over meanwhile
            upcoming = bookkeeper.submit(_open_ahead, ctx, cells, batch)
            try:
                endings = _train(ctx, trials, data, population)
            except Interrupted as e:
                current, stopped = None, getattr(e, "stopped", 0)   # _train ended them
                beat.stop()
                raise
            except BaseException:
                beat.stop()
                raise
            with signals_deferred():   # recorded or ended on a signal, never both
                pending.append(bookkeeper.submit(_record, ctx, endings, progress, beat))
                current = None
    except (Interrupted, StoreUnreachable) as e:
        stopped, outage = (stopped or 0, None) if isinstance(e, Interrupted) else (None, e)
        raise
    finally:
        _finish(ctx, [current, upcoming], pending, counts, (stopped, outage), (bookkeeper, progress))
    return counts


def _finish(ctx, popped: list, pending: list, counts: dict, why: tuple, helpers) -> None:
    """work_cells ends: wind down (_wind_down), say in one line what a signal stopped, and close
    the bookkeeper and progress. `why` is (the cells a signal stopped in training, None without a
    signal; the StoreUnreachable that stopped it, or None)."""
    bookkeeper, progress = helpers
    stopped, outage = why
    try:
        with signals_deferred():   # a second signal, held while the cells are ended, waits for the line too
            ahead = _wind_down(ctx, popped, pending, counts, outage)   # every population recorded
            if stopped is not None:   # one line, not one per cell
                lifecycle.interrupted_line(stopped, ahead, progress.who)
            elif progress.drained:   # nothing was left to pop (not an error): the count is final
                progress.settle()
    finally:
        bookkeeper.shutdown()
        progress.close()


def _wind_down(ctx, popped: list, pending: list, counts: dict, stopping: Optional[StoreUnreachable]) -> int:
    """work_cells stops (done, a signal, a lost store: `stopping`): end what was popped but will
    not train (populations in `popped`, or futures of them; None for none) and wait until what was
    trained is recorded, counting it; returns how many popped cells were ended untrained. Signals
    are held: a second Ctrl-C waits for this (a short wait). A store that stopped answering
    is raised once the other records are done with."""
    ahead, outage = 0, None
    with signals_deferred(), ctx.clock("bookkeeping"):
        for opened in popped:
            if opened is not None:
                ahead += _end_untrained(ctx, opened, stopping)
        for f in pending:  # also on SIGTERM: what was trained gets recorded
            try:
                kinds = f.result()
            except StoreUnreachable as e:   # said on its trials already (_record)
                outage = outage or e
                continue
            for kind in kinds:
                counts[kind] += 1
        if outage is not None:
            raise outage
    return ahead


def _left_by_outage(ctx, trials: list[LiveTrial], outage: StoreUnreachable, what: str = "trained cell") -> None:
    """Trials trained but not recorded: a store stopped answering while they were. Said on each
    trial, or, where Optuna is the store away, on its MLflow run, for the worker that reaps them
    (lifecycle.reap): it completes those whose runs got FINISHED and fails the others as
    STORE_OUTAGE, which retries their cells without spending an attempt (a death would: two
    outages and max_retries 1 gave cells up that nothing was wrong with). This process is
    stopping: the other store gets a few seconds (hurry_stores), not another full limit."""
    hurry_stores()
    note = lifecycle.outage_note(outage)
    try:
        if outage.store != "optuna":
            for t in trials:
                grid.set_attr(t.ostudy, grid.trial_id(t.trial), rt.TRIAL_OUTAGE, note)
        else:
            for t in trials:
                if t.run_id is not None:
                    ctx.tracker.set_tags(t.run_id, {rt.STORE_OUTAGE: note})
    except Exception:
        print(f"  {counted(len(trials), what)} not recorded, nor why (neither store answers); the worker "
              "that reaps them counts an attempt for each that was training, unless the Optuna storage's "
              "database restarted meanwhile", flush=True)


def _mark_training(ostudy, trials: list[LiveTrial]) -> list[bool]:
    """Mark popped trials as training (one append on a journal); per trial, False when another
    worker failed it meanwhile (taken over while this one was paused past the grace period)."""
    failpoint("mark_training")   # tests/test_faults.py: a store goes just as training is marked
    return grid.set_trial_attrs(ostudy, [(t.trial, {rt.TRIAL_TRAINING: True}) for t in trials])


_SAID_GIVEN_UP: dict[str, list] = {}   # the given-up cells a worker already named, per Optuna study
# The failed trials this worker already re-queued or found spent, per storage and Optuna study: a
# FAIL trial stays FAIL, and an idle worker asks every few seconds; it takes the enqueue lock only
# for new ones.
_HANDLED: dict[tuple[str, str], set[int]] = {}


def retried(ctx, ostudy, progress: Optional[Progress] = None) -> bool:
    """No cell is waiting: fail the trials of workers that died (no heartbeat for GRACE_S,
    or their process gone on this machine) and enqueue their cells again, up to max_retries, for
    this worker to train (they are added to `progress`). True when there is work."""
    with ctx.clock("bookkeeping"):
        lifecycle.reap(ostudy, ctx.tracker)
        # whatever reaped them: this call, this worker's start, another worker, a SIGTERM
        handled = _HANDLED.setdefault((ctx.storage, ostudy.study_name), set())
        fresh = grid.retryable_failures(ostudy, lifecycle.retry_now) - handled
        if not fresh:
            return grid.has_waiting(ostudy)
        # as enqueue: two idle workers would both re-queue a cell (quiet: a short wait, not an enqueue's)
        with exclusive(ctx.storage, ctx.study.name, say=lambda *_, **__: None):
            again, whose, given_up, cells = grid.retry_failed(ostudy, ctx.study.spec.max_retries, lifecycle.retry_now,
                                                              lifecycle.spent_attempt, _grid_of(ctx.study, ostudy))
        handled.update(fresh)
        if given_up and given_up != _SAID_GIVEN_UP.get(ostudy.study_name):   # once per study and set of cells
            _SAID_GIVEN_UP[ostudy.study_name] = given_up
            cells = ", ".join(grid.cell_name(*cell) for cell in given_up[:5])
            print(f"  gave up on {counted(len(given_up), 'cell')} ({ostudy.study_name}: {cells}{', ...' if len(given_up) > 5 else ''})"
                  f": {counted(ctx.study.spec.max_retries + 1, 'attempt')} each failed in training (an error, or its "
                  "worker died while training it); raise max_retries in the study file and run enqueue again to train "
                  "them", flush=True)
        if again:
            said = "; ".join(f"{w}: {', '.join(sorted(map(_reason_said, reasons)))}" for w, reasons in sorted(whose.items()))
            print(f"  {counted(again, 'cell')} {plural(again, 'is')} enqueued again ({ostudy.study_name}), left by {said}", flush=True)
            if progress is not None:   # cells it counted already (waiting when it started, popped by the dead one) once
                new = [c for c in cells if c not in progress.cells]
                progress.cells.update(new)
                progress.grow(min(again, len(new)))
        return grid.has_waiting(ostudy)


def _grid_of(study, ostudy) -> Optional[set]:
    """The cells of this worker's grid on the dataset of `ostudy` (every seed the file may run), or
    None where its study has no such dataset; none where the last enqueue recorded another grid
    (the file changed since this worker joined: a cell of its grid may be one the file no longer
    lists, which the enqueue retired; the workers of the new file retry theirs), unless only the
    seeds differ and one of the two is a --seeds view's (the view's workers retry its cells)."""
    plan = study.plan_of(ostudy.user_attrs.get(rt.DATASET_LABEL, ""))
    if plan is None:
        return None
    cells = set(study.grid_cells(study.seeds, plan))
    recorded = ostudy.user_attrs.get(rt.STUDY_GRID)
    if not recorded or recorded.get("digest") == grid.cells_digest(cells):
        return cells
    # the seeds alone differ, one side a --seeds view: the file's enqueue leaves the view's cells to its
    # workers (preparation.retired_seeds), and a view's leaves the file's to the file's
    view = recorded.get("view") or study.seeds_flag is not None
    same_points = recorded.get("points") == grid.points_digest(cells)
    return cells if view and same_points else set()


def _reason_said(reason: str) -> str:
    """A failed trial's reason for the console: "worker died" is what the record says of a worker
    whose heartbeat stopped, which a paused or cut-off one does too (it finds its cells taken over
    when it comes back)."""
    if reason == lifecycle.Outcome.WORKER_DIED.reason:
        return "worker died, or is paused or cut off (its process is gone or its heartbeat stopped)"
    return reason


def _open_ahead(ctx, cells: DatasetCells, batch: int) -> tuple[list[LiveTrial], liveness.heartbeat]:
    """Pop up to `batch` cells and open their runs, on the bookkeeping thread (counted as
    overlapped with training; signals reach the main thread only, which ends what this opened
    if it stops: _wind_down). Their heartbeats start before this worker's name is on them and go
    on until they are recorded (_record stops them): no other worker sees one of them named and
    silent, and a trial waiting for a store that is restarting is not taken for dead."""
    beat = None
    try:
        with ctx.clock("recording_background"):
            beat = liveness.heartbeat(cells.ostudy, []).start()   # each cell beats from its pop on (pop_cells)
            popped = grid.pop_cells(cells.ostudy, batch, beat)
            return lifecycle.open_runs(ctx.tracker, ctx.experiment_id, [cells.born(*cell) for cell in popped]), beat
    except BaseException:
        if beat is not None:
            beat.stop()
        raise


def _end_untrained(ctx, opened, outage: Optional[StoreUnreachable] = None) -> int:
    """End the trials of a population that was popped but will not train (this worker is
    stopping): INTERRUPTED (STORE_OUTAGE when a store that stopped answering stops it), so their
    cells are trained again at once, here on the next run or by another worker, without spending
    an attempt. `opened` is (trials, heartbeat) or the future of one. If a store does not answer,
    the next worker reaps them: as STORE_OUTAGE where the other store took the note
    (_left_by_outage). Their training mark may have landed with its answer lost, which a death
    would count as an attempt. Returns how many it ended."""
    if isinstance(opened, Future):
        try:
            opened = opened.result()
        except Exception:
            return 0   # it failed itself: the error that stops this worker is raised elsewhere
    trials, beat = opened
    ending = Outcome.INTERRUPTED if outage is None else Outcome.STORE_OUTAGE
    try:
        lifecycle.end(ctx.tracker, [Ending(t, ending, error=outage, untrained=True) for t in trials])
        return len(trials)
    except StoreUnreachable as e:
        _left_by_outage(ctx, trials, e, what="popped cell")
        return 0
    except Exception as e:
        print(f"  {counted(len(trials), 'popped trial')} not ended ({type(e).__name__}: {e}); the next worker "
              "reaps them", flush=True)
        return 0
    finally:
        beat.stop()


def _train(ctx, trials: list[LiveTrial], data, population: bool) -> list[Ending]:
    """Train popped cells, together (population engine) or one by one (reference trainer);
    returns their endings. A signal ends them INTERRUPTED and is re-raised."""
    histories = [History() for _ in trials]
    done: list[Ending] = []
    try:
        with ctx.clock("training"):
            started = time.perf_counter()
            for t in trials:   # opened while the previous population trained: their time starts now
                t.started = started
            if population:
                return _train_populations(trials, data)
            for t, history in zip(trials, histories):
                done.append(lifecycle.cell_ending(t, _train_one(t, data, history), time.perf_counter() - t.started))
            return done
    except Interrupted as e:
        rest = trials[len(done):]
        e.stopped = len(rest)   # said by work_cells, with the cells popped ahead, in one line
        try:
            lifecycle.end(ctx.tracker, done + [Ending(t, Outcome.INTERRUPTED, history=h)
                                               for t, h in zip(rest, histories[len(done):])])
        except StoreUnreachable as outage:   # said on the other store; ending them again (_wind_down) would
            _left_by_outage(ctx, trials, outage, what="stopped cell")   # close finished runs as killed
        except Interrupted as again:   # a second signal, held until they were ended: they count as stopped
            again.stopped = e.stopped
            raise
        raise


def _train_populations(trials: list[LiveTrial], data) -> list[Ending]:
    """The population engine on popped cells, one population per group of cells that can share
    one (regularization paths over l2_mode cannot); their endings in the trials' order."""
    from .population import SHARED, train_population

    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(trials):
        groups.setdefault(tuple(getattr(t.payload, f) for f in SHARED), []).append(i)
    results: list = [None] * len(trials)
    for members in groups.values():
        try:
            out = train_population([trials[i].payload for i in members], data)
        except Exception as e:  # the population as a whole broke: fail its trials, not the study
            out = [e] * len(members)
        for i, r in zip(members, out):
            results[i] = r
    seconds = (time.perf_counter() - trials[0].started) / len(trials)  # wall time per model
    return [lifecycle.cell_ending(t, r, seconds) for t, r in zip(trials, results)]


def _train_one(t: LiveTrial, data, history: History):
    """Reference trainer: one cell; its result, or the error with the epochs it completed."""
    def keep_history(epoch, row):
        history.add(row)

    try:
        return train(t.payload, data, on_epoch=keep_history)
    except Exception as e:  # a failing trial never takes the study down
        e.history = history
        return e


def _record(ctx, endings: list[Ending], progress: Progress, beat: liveness.heartbeat) -> list[str]:
    """lifecycle.end on the bookkeeping thread, while the next population trains; signals are
    handled by the main thread. The trials' heartbeats stop once they are recorded. Returns each
    trial's count: trained, failed, or taken_over (another worker failed it while this one was
    paused: its cell is retried there, so it is not this worker's failure)."""
    try:
        with ctx.clock("recording_background"):
            ok = lifecycle.end(ctx.tracker, endings)
    except StoreUnreachable as e:   # said while they still beat, so that no worker reaps them unsaid
        _left_by_outage(ctx, [ending.trial for ending in endings if ending.outcome is Outcome.FINISHED], e)
        raise
    finally:
        beat.stop()
    kinds = ["trained" if good else "taken_over" if e.outcome is Outcome.TAKEN_OVER else "failed"
             for good, e in zip(ok, endings)]
    progress.update(done=kinds.count("trained"), failed=kinds.count("failed"), taken_over=kinds.count("taken_over"))
    return kinds
