"""Liveness of RUNNING trials: which have a live worker. Heartbeats recorded for the trials a worker
trains (class heartbeat), dead trials (a stale heartbeat, a worker process gone on this machine, an
orphan of a pop whose worker died before naming it) and silent ones, heartbeat ages, heartbeats
that stopped before the database restarted, and whether another worker may still be alive. The
grid's cells and queue are grid.py's; what becomes of a dead trial, lifecycle.py's."""

from __future__ import annotations

import datetime
import math
import threading
import time
from typing import Optional

import optuna
from optuna.trial import FrozenTrial, TrialState

from . import runtree as rt
from .grid import _backend, _rdb, trials_in
from .runtime import process_alive, worker_id
from .storage import GRACE_S, HEARTBEAT_S, heartbeats_enabled
from .storage_outage import RETRY_MAX_S
from .storage_rdb import RetryingRDBStorage

ORPHAN_S = 10       # a RUNNING trial no worker has named after this long was popped by a dead one
# A live worker beats again within a beat and a storage call's longest backoff of the storage's
# return; every trial silent, the heartbeats are read again after this long (dead_trials)
SECOND_LOOK_S = HEARTBEAT_S + RETRY_MAX_S + 2


class heartbeat:
    """Record Optuna heartbeats for trials from a background thread from the moment they train
    until they are recorded (start() ... stop(), or as a context manager), so that other workers
    can tell a dead worker's trial from a slow one (RDB storages only)."""

    def __init__(self, ostudy: optuna.Study, trials: list):
        self.storage, self.trial_ids = ostudy._storage, [t._trial_id for t in trials]
        self.enabled = heartbeats_enabled(self.storage)
        self.halt = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def _beat_all(self):
        for tid in list(self.trial_ids):
            self.storage.record_heartbeat(tid)

    def add(self, trials: list) -> None:
        """More trials to beat for (each cell as it is popped: pop_cells), their first beat
        recorded by the pop itself (RetryingRDBStorage.pop_waiting)."""
        self.trial_ids.extend(t._trial_id for t in trials)

    def _beat(self):
        while not self.halt.wait(HEARTBEAT_S):
            try:
                self._beat_all()
            except Exception:  # a missed beat only risks a retry, never the trial
                pass

    def start(self) -> "heartbeat":
        if self.enabled:
            self._beat_all()
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.halt.set()
            self.thread.join()
            self.thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def dead_trials(ostudy: optuna.Study) -> list[FrozenTrial]:
    """RUNNING trials whose worker died (SIGKILL, crash, lost machine):
    - trials whose heartbeat went stale, no beat for GRACE_S (RDB storages, any machine);
    - trials whose worker process on this machine is gone, unless their heartbeat is fresh
      (a worker under the same name in another container of this host still beats);
    - trials no worker named within ORPHAN_S of being popped (killed between pop and naming).
    Silence while the storage was away is no sign of death (nobody could write): it counts only
    from when this process saw the storage answer again (answering_for). A process that started
    after the outage saw none; when no trial of the study beats (every heartbeat stale, as right
    after an outage), it reads the heartbeats again SECOND_LOOK_S later, by when live workers beat
    again: those that do are alive. (While some trials beat, the storage is writable: the silent
    ones are dead, with no wait.)"""
    running = _running_once_named(ostudy)
    ages, calm = heartbeat_ages(ostudy), answering_for(ostudy)
    if ages and all(min(age, calm) > GRACE_S for age in ages.values()):
        time.sleep(SECOND_LOOK_S)
        # the trials before their beats, as above: one popped in between has a beat to read
        running = trials_in(ostudy, (TrialState.RUNNING,))
        ages = heartbeat_ages(ostudy)
    dead = []
    for t in running:
        age = ages.get(t._trial_id)
        if age is not None and age < 2 * HEARTBEAT_S:
            continue   # it beats: alive, whatever its name says
        worker = t.user_attrs.get(rt.TRIAL_WORKER)
        orphan = worker is None and t.datetime_start is not None and \
            min((datetime.datetime.now() - t.datetime_start).total_seconds(), calm) >= ORPHAN_S
        if (age is not None and min(age, calm) > GRACE_S) or orphan or (worker and not process_alive(worker)):
            dead.append(t)
    # a worker whose heartbeat went silent past the grace period is gone with all its trials: its
    # other population (one trains while the next is popped ahead, each beating on its own clock)
    # goes too once it has missed two beats, not half a minute later in a second takeover
    silent = {t.user_attrs.get(rt.TRIAL_WORKER) for t in dead if (age := ages.get(t._trial_id)) is not None
              and min(age, calm) > GRACE_S} - {None}
    return dead + [t for t in running if t not in dead and t.user_attrs.get(rt.TRIAL_WORKER) in silent
                   and min(ages.get(t._trial_id, math.inf), calm) >= 2 * HEARTBEAT_S]


def silent_trials(ostudy: optuna.Study) -> list[FrozenTrial]:
    """The RUNNING trials without a fresh heartbeat (none within two beats; all where the storage
    has none): those of a study only the enqueue lock's holder trains are a dead process's."""
    ages = heartbeat_ages(ostudy)
    return [t for t in trials_in(ostudy, (TrialState.RUNNING,))
            if ages.get(t._trial_id, math.inf) >= 2 * HEARTBEAT_S]


def _running_once_named(ostudy: optuna.Study) -> list[FrozenTrial]:
    """The RUNNING trials, once live workers had up to ORPHAN_S to name those they just popped
    (within milliseconds: looked at again often rather than slept out). Between two reads of every
    RUNNING trial only the nameless ones are read again (a busy study has many running: a review
    read them all every 0.2 s for up to ORPHAN_S); what is returned is a read of them all."""
    deadline = time.monotonic() + ORPHAN_S
    while True:
        running = trials_in(ostudy, (TrialState.RUNNING,))
        nameless = _nameless(running)
        wait = _orphan_wait(nameless, deadline)
        if wait <= 0:
            return running
        above = max(t._trial_id for t in running)
        while wait > 0:   # until they are named (or end), or the wait is over: then all read again
            time.sleep(min(wait, 0.2))
            nameless = _nameless(_running_among(ostudy, {t._trial_id for t in nameless}, above))
            wait = _orphan_wait(nameless, deadline)


def _nameless(running: list[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in running if rt.TRIAL_WORKER not in t.user_attrs and t.datetime_start is not None]


def _orphan_wait(nameless: list[FrozenTrial], deadline: float) -> float:
    """How much longer the youngest of these nameless trials may go unnamed (ORPHAN_S from its
    pop, within the deadline); 0 without one."""
    if not nameless:
        return 0.0
    youngest = max(t.datetime_start for t in nameless)
    return min(ORPHAN_S - (datetime.datetime.now() - youngest).total_seconds(), deadline - time.monotonic())


def _running_among(ostudy: optuna.Study, trial_ids: set[int], above: int) -> list[FrozenTrial]:
    """Those of `trial_ids` still RUNNING (with any RUNNING trial of an id above `above`: one
    query on SQL storages)."""
    backend = _rdb(ostudy)
    if backend is not None:
        return [t for t in backend._get_trials(ostudy._study_id, (TrialState.RUNNING,), trial_ids, above)
                if t._trial_id in trial_ids]
    return [t for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if t._trial_id in trial_ids]


def answering_for(ostudy: optuna.Study) -> float:
    """Seconds since this process saw the study's storage answer again after an outage (inf
    when it saw none; journal storages have none)."""
    backend = _rdb(ostudy)
    return backend.outage.answering_for() if backend is not None else math.inf


def heartbeat_ages(ostudy: optuna.Study) -> dict[int, float]:
    """{trial id: seconds since its last heartbeat} of the RUNNING trials that have one ({} on
    storages without heartbeats)."""
    backend = _backend(ostudy)
    if not heartbeats_enabled(ostudy._storage) or not isinstance(backend, RetryingRDBStorage):
        return {}
    return backend.heartbeat_ages(ostudy._study_id)


def beat_before_restart(ostudy: optuna.Study, trials: list[FrozenTrial]) -> set[int]:
    """The numbers of those RUNNING `trials` whose last heartbeat came before the database last
    started: their worker stopped beating when the database went away (PostgreSQL; none on
    other storages). Where this process saw it go away, a beat older than that by more than the
    grace period stopped before it: that worker had died already (its cells are WORKER_DIED)."""
    backend = _backend(ostudy)
    if not trials or not heartbeats_enabled(ostudy._storage) or not isinstance(backend, RetryingRDBStorage):
        return set()
    ages, uptime = backend.heartbeat_ages(ostudy._study_id), backend.database_uptime()
    went = backend.outage.went_away_ago()
    went = went if went >= uptime else math.inf   # an outage seen after the restart is another one: unknown
    return {t.number for t in trials if uptime < ages.get(t._trial_id, -math.inf) <= went + GRACE_S}


def others_alive(ostudy: optuna.Study) -> bool:
    """Some trial is RUNNING in another worker that may still be alive: one that named it (a
    trial popped and not yet named is not counted), whose process is not known gone on this
    machine and whose heartbeat, where the storage keeps them, is not stale. (dead_trials is the
    reaper's stricter reading, which waits for the storage to have answered a while.)"""
    me, ages = worker_id(), heartbeat_ages(ostudy)
    for t in trials_in(ostudy, (TrialState.RUNNING,)):
        worker, age = t.user_attrs.get(rt.TRIAL_WORKER), ages.get(t._trial_id)
        if worker and worker != me and process_alive(worker) and not (age is not None and age > GRACE_S):
            return True
    return False
