"""The grid in Optuna: one study per (study file, dataset), the grid of arms x seeds as enqueued
trials, popping cells, retiring and retrying them, their counts and results. Which RUNNING trials
still have a live worker (heartbeats, dead and silent trials) is liveness.py's. Optuna's private API
(storage calls on frozen trials) is used here, in liveness.py and in the storage_*.py modules (which
storages, batched journal writes, riding out a database restart), nowhere else.

Why enqueue instead of GridSampler: GridSampler may run a cell twice under parallel workers and
never re-runs a failed cell. Enqueued trials are popped one at a time (atomically), so every cell
has exactly one owner, and failed cells are re-enqueued on the next run (up to `max_retries`).
"""

from __future__ import annotations

import threading
import weakref
from typing import Callable, Optional

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from . import runtree as rt
from .runtime import StoreUnreachable, worker_id
from .storage import add_trials, batched_writes, get_storage, storage_error
from .storage_journal import BatchingJournalStorage
from .storage_rdb import RetryingRDBStorage

SEED_HIGH = 2**31 - 1
POP_CHUNK = 32      # cells popped before they join the heartbeat (pop_cells)
# The choices of the "arm" param of grid trials. Optuna requires one distribution per param name
# across a study, so these stay as they were when studies were first written; an arm registered
# later is recorded in the trial's user attributes only (where every reader looks anyway).
ARM_PARAM_CHOICES = ("none", "dropout", "l1", "l2", "dropout_l2")


def study_name(study_name: str, label: str, config_hash: str) -> str:
    """The Optuna study of one dataset of a study file: <study>.<dataset>.<config hash>."""
    return f"{study_name}.{label}.{config_hash}"


def open_study(storage: str, name: str, direction: str, sampler=None, pruner=None) -> optuna.Study:
    """The study `name`: loaded where the storage holds it, created where not. A waiting worker opens
    a dataset's study on each look; create_study(load_if_exists=True) tried the create first each
    time (an INSERT failing on the study's unique name, rolled back and logged by PostgreSQL; on a
    journal file a line appended, so the file grew for as long as a worker waited)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        try:
            return optuna.load_study(study_name=name, storage=get_storage(storage), sampler=sampler, pruner=pruner)
        except KeyError:   # none yet: created here, or loaded where another process created it meanwhile
            return optuna.create_study(storage=get_storage(storage), study_name=name, direction=direction,
                                       load_if_exists=True, sampler=sampler, pruner=pruner)
    except StoreUnreachable:   # a database that went away: its own line and exit code, not "cannot open" (2)
        raise
    except Exception as e:   # a storage that cannot be opened at all, in one line
        raise storage_error(storage, e) from None


def load_existing(storage: str, name: str) -> Optional[optuna.Study]:
    """The study if the storage has it, else None."""
    try:
        return optuna.load_study(study_name=name, storage=get_storage(storage))
    except KeyError:
        return None


# --- the grid's cells ---------------------------------------------------------------------------

def cell_of(trial: FrozenTrial) -> Optional[tuple[str, int, str]]:
    """The grid cell (arm, seed, variant) of a trial. Read from user attributes, set at enqueue
    time: a WAITING trial has no params yet (they are set when the worker suggests them)."""
    attrs = trial.user_attrs   # once: a live Trial's user_attrs is a deep copy each time
    if rt.CELL_ARM in attrs and rt.CELL_SEED in attrs:
        return attrs[rt.CELL_ARM], int(attrs[rt.CELL_SEED]), attrs.get(rt.CELL_VARIANT, "")
    return None


def full_cell(cell: tuple) -> tuple[str, int, str]:
    """A grid cell as (arm, seed, variant): Study.grid_cells gives (arm, seed) for an arm's own point."""
    return cell if len(cell) == 3 else (*cell, "")


# The outcome of a waiting cell an enqueue took out of the queue: the study file no longer lists it
# (a strength changed, a point, arm or seed taken out). FAIL in Optuna, as nothing a worker pops,
# but no failure: no attempt spent, never retried, counted nowhere, enqueued afresh if listed again.
RETIRED = "RETIRED"
RETIRED_REASON = "retired: the study file no longer lists this cell (it waited; no worker trained it)"


def retired(t: FrozenTrial) -> bool:
    return t.user_attrs.get(rt.TRIAL_OUTCOME) == RETIRED


def failed(t: FrozenTrial) -> bool:
    """A trial that failed: FAIL and not retired."""
    return t.state == TrialState.FAIL and not retired(t)


def retire_unlisted(ostudy: optuna.Study, listed: set[tuple[str, int, str]], trials: list,
                    seeds: Optional[set[int]] = None) -> list[tuple[str, int, str]]:
    """Take out of the queue the WAITING grid trials of cells not `listed` (the study file's
    whole grid: every seed it may run), so that no worker trains them; returns their cells. Of
    the `seeds` alone where given (preparation.retired_seeds: a --seeds view's own, the file's and
    those it listed before; not a view's it never listed). Each
    is first moved to RUNNING where it still waits (atomically, as a worker's pop: one a worker
    popped meanwhile is left to it), then recorded RETIRED and ended FAIL. `trials`: the study's,
    as just read."""
    stale = {t._trial_id: c for t in trials if t.state == TrialState.WAITING
             and (c := cell_of(t)) is not None and c not in listed and (seeds is None or c[1] in seeds)}
    if not stale:
        return []
    attrs = {rt.TRIAL_WORKER: worker_id(), rt.TRIAL_FAIL_REASON: RETIRED_REASON, rt.TRIAL_OUTCOME: RETIRED}

    def end(tid: int) -> bool:
        return set_attrs(ostudy, tid, attrs) and set_state(ostudy, tid, TrialState.FAIL)

    if isinstance(ostudy._storage, BatchingJournalStorage):   # (its _backend is the file: not _backend's)
        taken = ostudy._storage.take_waiting(ostudy._study_id, sorted(stale))
        with batched_writes(ostudy):   # one append: taken and ended within two
            ended = [tid for tid in taken if end(tid)]
    elif (backend := _rdb(ostudy)) is not None:
        # each ended as it is taken: all taken first, a write each, left the last RUNNING and nameless for
        # seconds per hundred, which a live worker's reaper takes for a dead worker's orphans (ORPHAN_S)
        ended = [tid for tid in sorted(stale) if backend.take_waiting(ostudy._study_id, [tid]) and end(tid)]
    else:   # no conditional move on this storage: ended as they are
        ended = [tid for tid in sorted(stale) if end(tid)]
    return sorted(stale[tid] for tid in ended)


def enqueue_missing(ostudy: optuna.Study, cells: list[tuple], max_retries: int,
                    spent_attempt: Callable[[FrozenTrial], bool], trials: Optional[list] = None,
                    repeats: Callable[[FrozenTrial], bool] = lambda t: False) -> tuple[int, list]:
    """Enqueue every cell ((arm, seed) or (arm, seed, variant)) with no COMPLETE, WAITING or
    RUNNING trial and fewer than 1 + max_retries failures that `spent_attempt` counts (lifecycle's:
    not a stop, not a death before training), unless its latest failure `repeats` (lifecycle's:
    training diverged, which the same seed does again). Returns (number enqueued, cells given up
    on). `trials`: the study's, when the caller has just read them."""
    cells = [full_cell(c) for c in cells]
    trials = ostudy.get_trials(deepcopy=False) if trials is None else trials
    trials = [t for t in trials if not retired(t)]   # no attempt of its cell: one listed again starts afresh
    by_cell: dict[tuple[str, int, str], list[TrialState]] = {}
    for t in trials:
        if (c := cell_of(t)) is not None:
            by_cell.setdefault(c, []).append(t.state)
    spent = _spent_attempts(trials, spent_attempt)
    last_failed = latest_by_cell(t for t in trials if t.state == TrialState.FAIL)   # the retry's previous attempt
    waiting, given_up = [], []
    for cell in cells:
        states = by_cell.get(cell, [])
        if any(s in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING) for s in states):
            continue
        failures = states.count(TrialState.FAIL)   # every earlier try: the attempt's number
        if _gives_up(spent.get(cell, 0), last_failed.get(cell), max_retries, repeats):
            given_up.append(cell)
            continue
        arm, seed, variant = cell
        previous = last_failed[cell].user_attrs.get(rt.TRIAL_RUN_ID) if cell in last_failed else None
        waiting.append(_waiting_cell(arm, seed, {
            rt.CELL: cell_name(arm, seed, variant),
            rt.CELL_ARM: arm, rt.CELL_SEED: seed, rt.ATTEMPT: failures + 1,
            **({rt.CELL_VARIANT: variant} if variant else {}),
            **({rt.PREVIOUS_ATTEMPT: previous} if previous else {})}))
    add_trials(ostudy, waiting)   # a few transactions on SQL storages, one append on a journal
    return len(waiting), given_up


def cells_digest(cells) -> str:
    """A grid's cells as a short digest (what rt.STUDY_GRID records, joining.grid_record), in any order."""
    import hashlib

    return hashlib.sha1(repr(sorted(cells)).encode()).hexdigest()[:12]


def points_digest(cells) -> str:
    """The points (arm, variant) of a grid's cells, every seed alike, as a short digest (cells_digest)."""
    return cells_digest({(arm, variant) for arm, _, variant in cells})


def cell_name(arm: str, seed: int, variant: str = "") -> str:
    """A cell as the queue and the console name it: "l2/seed3", "l2/seed3@l2=0.001"."""
    return f"{arm}/seed{seed}" + (f"@{variant}" if variant else "")


def _waiting_cell(arm: str, seed: int, user_attrs: dict) -> FrozenTrial:
    """A WAITING trial for a cell, its params (arm, seed) set already: what enqueue_trial writes,
    less the two writes a worker would make to suggest them when it pops the trial."""
    params = {"seed": seed, **({"arm": arm} if arm in ARM_PARAM_CHOICES else {})}   # as a param too, for optuna-dashboard
    distributions = {"seed": IntDistribution(0, SEED_HIGH),
                     **({"arm": CategoricalDistribution(ARM_PARAM_CHOICES)} if "arm" in params else {})}
    return optuna.trial.create_trial(state=TrialState.WAITING, params=params, distributions=distributions,
                                     user_attrs=user_attrs)


def retryable_failures(ostudy: optuna.Study, retry_now: Callable[[FrozenTrial], bool]) -> set[int]:
    """The numbers of the failed trials retry_failed might retry. An idle worker asks every few
    seconds: a FAIL trial stays FAIL with its attributes (Optuna refuses writes to a finished trial),
    so each is read and judged once per process (_judged), and a poll reads the ids of the failed
    trials and builds only those it has not seen (it built every one: ~0.1 s at 400 on SQLite)."""
    with _judged_lock:
        judged = _judged.setdefault(_backend(ostudy), {}).setdefault((ostudy._study_id, retry_now), {})
        known = set(judged)
    backend = _rdb(ostudy)
    if backend is None:   # a journal: in memory, read whole anyway
        new = [t for t in ostudy.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t._trial_id not in known]
    elif unseen := set(ids := backend.trial_ids_in(ostudy._study_id, (TrialState.FAIL,))) - known:
        # the new ones by id, and any failed since above every id read; many (the first poll) at once
        few = len(unseen) <= FEW_BY_ID
        new = [t for t in backend._get_trials(ostudy._study_id, (TrialState.FAIL,), unseen if few else set(),
                                              max(ids) if few else -1) if t._trial_id not in known]
    else:
        new = []
    with _judged_lock:   # the worker's watch of its other datasets asks too, on its own thread
        judged.update((t._trial_id, (t.number, not retired(t) and retry_now(t))) for t in new)
        return {number for number, retry in judged.values() if retry}


# {storage (under Optuna's cache, which each Study gets anew): {(study id, retry_now): {FAIL trial
# id: (its number, whether retry_now takes it)}}}
_judged: "weakref.WeakKeyDictionary[optuna.storages.BaseStorage, dict]" = weakref.WeakKeyDictionary()
_judged_lock = threading.Lock()
FEW_BY_ID = 200   # trials read by id in one query (an IN list: SQLite takes 32,766 variables, older ones 999)


def retry_failed(ostudy: optuna.Study, max_retries: int, retry_now: Callable[[FrozenTrial], bool],
                 spent_attempt: Callable[[FrozenTrial], bool], listed: Optional[set[tuple[str, int, str]]] = None
                 ) -> tuple[int, dict[str, set[str]], list, list]:
    """Enqueue again every cell of this study whose trials all failed, the latest for a reason
    retry_now accepts (its worker died or was stopped, not the training itself), with retries left
    (enqueue_missing): of the `listed` cells (the worker's grid: a cell of a strength the file no
    longer lists, left by a worker of the earlier file, is no cell of it), every cell without.
    Returns how many were enqueued, for the console {worker of those failed trials: their fail
    reasons}, the cells given up on (their retries spent) and the cells retried."""
    latest = latest_by_cell(ostudy.get_trials(deepcopy=False))
    cells = sorted(c for c, t in latest.items() if failed(t) and retry_now(t) and (listed is None or c in listed))
    added, given_up = enqueue_missing(ostudy, cells, max_retries, spent_attempt)
    whose: dict[str, set[str]] = {}
    for c in set(cells) - set(given_up):
        attrs = latest[c].user_attrs
        # a trial failed before a worker put its name on it (popped ahead, its worker gone): named so
        whose.setdefault(attrs.get(rt.WORKER, "a worker that had not named itself yet"), set()).add(
            attrs.get(rt.TRIAL_FAIL_REASON, "no reason recorded"))
    return added, whose, given_up, [c for c in cells if c not in set(given_up)]


def cells_done(ostudy: optuna.Study, listed: Optional[set[tuple[str, int, str]]] = None) -> tuple[int, int]:
    """(cells with a COMPLETE trial, cells enqueued): the grid's progress, every worker's; of the
    `listed` cells (the study file's grid: Study.grid_cells over every seed it may run) where given."""
    latest = _listed(latest_by_cell(ostudy.get_trials(deepcopy=False)), listed)
    return sum(t.state == TrialState.COMPLETE for t in latest.values()), len(latest)


def cells_given_up(ostudy: optuna.Study, listed: Optional[set[tuple[str, int, str]]] = None) -> int:
    """Cells whose latest trial failed (diverged, or erred with its retries spent, or waiting for a
    rerun's retry): nothing a worker pops. Of the `listed` cells where given (cells_done)."""
    return sum(failed(t) for t in _listed(latest_by_cell(ostudy.get_trials(deepcopy=False)), listed).values())


def _listed(latest: dict, listed: Optional[set[tuple[str, int, str]]]) -> dict:
    """The cells of `latest` that are `listed` (all without it): a cell of an arm's earlier strength,
    or of a point, arm or seed taken out, is not the grid's, and no rerun enqueues it again; nor is
    a retired one."""
    return {c: t for c, t in latest.items() if not retired(t) and (listed is None or c in listed)}


def cells_failed(ostudy: optuna.Study, max_retries: int, spent_attempt: Callable[[FrozenTrial], bool],
                 repeats: Callable[[FrozenTrial], bool], listed: Optional[set[tuple[str, int, str]]] = None
                 ) -> tuple[int, int]:
    """(cells a rerun's enqueue_missing trains again, cells it gives up on) of those whose latest
    trial failed: attempts left under max_retries and a failure a retry does not repeat, or not.
    Of the `listed` cells where given (cells_done)."""
    trials = ostudy.get_trials(deepcopy=False)
    latest = _listed(latest_by_cell(trials), listed)
    spent = _spent_attempts(trials, spent_attempt)
    ended = [c for c, t in latest.items() if failed(t)]
    given_up = sum(_gives_up(spent.get(c, 0), latest[c], max_retries, repeats) for c in ended)
    return len(ended) - given_up, given_up


def _spent_attempts(trials, spent_attempt: Callable[[FrozenTrial], bool]) -> dict[tuple[str, int, str], int]:
    """{cell: its failed trials that `spent_attempt` counts against max_retries}, cells with any."""
    spent: dict[tuple[str, int, str], int] = {}
    for t in trials:
        if failed(t) and (c := cell_of(t)) is not None and spent_attempt(t):
            spent[c] = spent.get(c, 0) + 1
    return spent


def _gives_up(spent: int, last_failed: Optional[FrozenTrial], max_retries: int,
              repeats: Callable[[FrozenTrial], bool]) -> bool:
    """enqueue_missing's rule for a cell with failed trials: its attempts spent past max_retries,
    or its latest failure one a retry repeats (diverged). cells_failed counts by the same rule."""
    return spent > max_retries or (last_failed is not None and repeats(last_failed))


def latest_by_cell(trials) -> dict[tuple[str, int, str], FrozenTrial]:
    """The latest (highest-numbered) of the given grid trials of each cell."""
    latest: dict[tuple[str, int, str], FrozenTrial] = {}
    for t in trials:
        c = cell_of(t)
        if c is not None and (c not in latest or t.number > latest[c].number):
            latest[c] = t
    return latest


def others_running(ostudy: optuna.Study) -> bool:
    """Some trial is RUNNING in another worker (not this process): their names alone read on SQL
    storages."""
    me, backend = worker_id(), _rdb(ostudy)
    workers = backend.running_attr(ostudy._study_id, rt.TRIAL_WORKER) if backend is not None else \
        [t.user_attrs.get(rt.TRIAL_WORKER) for t in trials_in(ostudy, (TrialState.RUNNING,))]
    return any(worker != me for worker in workers)


def trials_in(ostudy: optuna.Study, states: tuple) -> list[FrozenTrial]:
    """The study's trials in `states`, read alone on SQL storages: Optuna's cache reads every
    unfinished trial on each call, the whole queue with the waiting ones (~1 s at 3,000 waiting on
    PostgreSQL against ~25 ms for the running ones: a review), which a worker's reaper and its
    watch of the other datasets ask for every few seconds."""
    backend = _rdb(ostudy)
    if backend is not None:
        return backend._get_trials(ostudy._study_id, states, set(), -1)
    return ostudy.get_trials(deepcopy=False, states=states)


def has_waiting(ostudy: optuna.Study) -> bool:
    return _any_in(ostudy, (TrialState.WAITING,))


def busy(ostudy: optuna.Study) -> bool:
    """Some cell is still waiting or running."""
    return _any_in(ostudy, (TrialState.WAITING, TrialState.RUNNING))


def _any_in(ostudy: optuna.Study, states: tuple) -> bool:
    backend = _rdb(ostudy)
    if backend is not None:   # one id, not the whole queue built (a worker asks every population)
        return bool(backend.trial_ids_in(ostudy._study_id, states, limit=1))
    return bool(ostudy.get_trials(deepcopy=False, states=states))


def pop_cells(ostudy: optuna.Study, limit: int, beat=None) -> list:   # beat: a liveness.heartbeat (which imports grid)
    """Pop up to `limit` waiting grid cells: [(trial, arm, seed, variant)]. Only enqueued trials are
    popped: Optuna's ask() would create a new trial when another worker took the last waiting
    one, which a worker would then have to fail (a phantom FAIL trial in the study). `beat`: the
    heartbeat each popped cell joins at once, POP_CHUNK at a time: a population's first cells,
    RUNNING and unnamed until then, would otherwise be silent while the rest is popped, and
    reaped as orphans of a dead worker (liveness.ORPHAN_S) while their worker lived (a distributed review)."""
    out, backend = [], _rdb(ostudy)
    while len(out) < limit:
        want = min(limit - len(out), POP_CHUNK)
        if isinstance(ostudy._storage, BatchingJournalStorage):   # several in one append
            trial_ids = ostudy._storage.pop_waiting(ostudy._study_id, want)
        elif backend is not None:   # a query of ids, not the whole queue read
            trial_ids = backend.pop_waiting(ostudy._study_id, want)
        else:
            trial_ids = [ostudy._pop_waiting_trial_id()]   # atomic: WAITING -> RUNNING, or None
        if not trial_ids or trial_ids[0] is None:
            break
        cells = _cells_of(ostudy, trial_ids)
        if beat is not None:
            beat.add([c[0] for c in cells])
        out += cells
    return out


def _cells_of(ostudy: optuna.Study, trial_ids: list[int]) -> list:
    out, cached = [], False
    for trial_id in trial_ids:
        trial = optuna.Trial(ostudy, trial_id)
        try:
            cell = cell_of(trial)
            if cell is None:   # not a grid cell (none is enqueued otherwise)
                ostudy.tell(trial, state=TrialState.FAIL)
                continue
            arm, seed, variant = cell
            if "seed" not in trial.params:   # enqueued by an earlier version, without its params
                if not cached:   # Optuna's cache writes params only for trials it has read (our pop reads none)
                    cached = bool(ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
                if arm in ARM_PARAM_CHOICES:
                    trial.suggest_categorical("arm", ARM_PARAM_CHOICES)
                trial.suggest_int("seed", 0, SEED_HIGH)
            out.append((trial, arm, seed, variant))
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # reaped by another worker between our pop and this write
    return out


def set_trial_attrs(ostudy: optuna.Study, writes: list[tuple[optuna.Trial, dict]]) -> list[bool]:
    """Set user attributes of trials this worker popped, in one append (journal storages); per
    trial, False when it had ended meanwhile (another worker failed it)."""
    ok = [True] * len(writes)
    with batched_writes(ostudy) as refused:
        for i, (trial, attrs) in enumerate(writes):
            ok[i] = set_attrs(ostudy, trial_id(trial), attrs)
    if refused:   # the journal turned some down when they landed: which?
        ok = [o and is_running(ostudy, trial_id(t)) for o, (t, _) in zip(ok, writes)]
    return ok


def claim(ostudy: optuna.Study, trials: list[optuna.Trial]) -> list[bool]:
    """Name this worker on popped trials; per trial, False when another worker failed it meanwhile."""
    me = worker_id()
    return set_trial_attrs(ostudy, [(t, {rt.TRIAL_WORKER: me}) for t in trials])


def is_running(ostudy: optuna.Study, trial_id: int) -> bool:
    return ostudy._storage.get_trial(trial_id).state == TrialState.RUNNING


def is_complete(ostudy: optuna.Study, trial_id: int) -> bool:
    return ostudy._storage.get_trial(trial_id).state == TrialState.COMPLETE


def trial_id(trial) -> int:
    return trial._trial_id


def set_attrs(ostudy: optuna.Study, tid: int, attrs: dict) -> bool:
    """set_attr for several attributes, in order; False (and the rest not written) when the
    trial ended meanwhile."""
    return all(set_attr(ostudy, tid, key, value) for key, value in attrs.items())


def set_attr(ostudy: optuna.Study, tid: int, key: str, value) -> bool:
    """Set an attribute of a trial, through the storage; False when it ended meanwhile (another
    worker failed or completed it). (Trial.set_user_attr also edits, in place, the trial the
    journal storage keeps in memory: before a batched write lands, whether or not the journal
    then takes it, and under other threads reading it.)"""
    try:
        ostudy._storage.set_trial_user_attr(tid, key, value)
        return True
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def set_state(ostudy: optuna.Study, tid: int, state: TrialState, values: Optional[list] = None) -> bool:
    """End a trial of another worker; False when it ended meanwhile (another worker reaped it)."""
    try:
        return ostudy._storage.set_trial_state_values(tid, state, values)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def _backend(ostudy: optuna.Study) -> optuna.storages.BaseStorage:
    """The study's storage itself, under the cache Optuna wraps RDB storages in."""
    return getattr(ostudy._storage, "_backend", ostudy._storage)


def _rdb(ostudy: optuna.Study) -> Optional[RetryingRDBStorage]:
    """The study's SQL storage (read with queries of our own), or None (a journal)."""
    backend = _backend(ostudy)
    return backend if isinstance(backend, RetryingRDBStorage) else None


def states_and_runs(ostudy: optuna.Study) -> dict[int, tuple[TrialState, Optional[str], Optional[str], Optional[str], bool]]:
    """{trial number: (its state, the MLflow run id it names, its recorded outcome and fail reason,
    whether its training started)}."""
    return {t.number: (t.state, t.user_attrs.get(rt.TRIAL_RUN_ID), t.user_attrs.get(rt.TRIAL_OUTCOME),
                       t.user_attrs.get(rt.TRIAL_FAIL_REASON), rt.TRIAL_TRAINING in t.user_attrs)
            for t in ostudy.get_trials(deepcopy=False)}


def spent(ostudy: optuna.Study, spends_budget) -> int:
    """Trials that used up a tuning budget: complete, pruned, or failed for a reason that spends
    one (spends_budget(fail_reason) says which)."""
    n = 0
    for t in ostudy.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            n += 1
        elif t.state == TrialState.FAIL and spends_budget(t.user_attrs.get(rt.TRIAL_OUTCOME),
                                                         t.user_attrs.get(rt.TRIAL_FAIL_REASON)):
            n += 1
    return n


def best_params(ostudy: optuna.Study) -> Optional[tuple[dict, float]]:
    """(params, value) of the best complete trial, of tied ones the first (lowest number), or None.
    Not Optuna's best_trial: its SQL storages take ORDER BY value LIMIT 1, which breaks ties as the
    database likes (on PostgreSQL the tuned strengths, and the grid's numbers, varied run to run);
    its journal storage keeps the first, as this does on every storage."""
    complete = [t for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    if not complete:
        return None
    sign = 1 if ostudy.direction == optuna.study.StudyDirection.MAXIMIZE else -1
    best = max(complete, key=lambda t: (sign * t.value, -t.number))
    return dict(best.params), best.value


def complete_results(ostudy: optuna.Study) -> list[tuple[str, int, str, dict, Optional[str]]]:
    """(arm, seed, variant, its final metrics: rt.RESULT_ATTRS and the per-metric values of
    rt.TRIAL_METRICS, its MLflow run id) of every complete grid trial."""
    out = []
    for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        c = cell_of(t)
        if c is not None and "test_metric" in t.user_attrs:
            out.append((*c, {**{k: t.user_attrs[k] for k in rt.RESULT_ATTRS if k in t.user_attrs},
                             **t.user_attrs.get(rt.TRIAL_METRICS, {})}, t.user_attrs.get(rt.TRIAL_RUN_ID)))
    return out
