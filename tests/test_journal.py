"""The journal storage's batched writes (storage_journal.BatchingJournalStorage): several workers popping
from one journal file pop every cell exactly once, a batch another worker interferes with
says so, and a trial failed by another worker while this one records it ends TAKEN_OVER.
Real journal files; several JournalStorage objects on one file are several workers to it (each
has its own worker id), as processes are."""

from __future__ import annotations

import datetime
import threading
import time
from collections import Counter

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from pipeline import grid, liveness
from pipeline import runtree as rt
from pipeline.storage import batched_writes
from pipeline.storage_journal import BatchingJournalStorage

CELLS = [(arm, seed) for arm in ("none", "dropout", "l1", "l2", "dropout_l2") for seed in range(60)]


def _worker_study(path, name: str) -> optuna.Study:
    """A study as one more worker sees it: its own storage object on the shared journal file."""
    return optuna.load_study(study_name=name, storage=BatchingJournalStorage(JournalFileBackend(str(path))))


@pytest.fixture
def enqueued(tmp_path):
    path = tmp_path / "optuna.journal"
    ostudy = optuna.create_study(study_name="s", storage=BatchingJournalStorage(JournalFileBackend(str(path))))
    enqueued, given_up = grid.enqueue_missing(ostudy, CELLS, max_retries=2, spent_attempt=lambda t: True)
    assert (enqueued, given_up) == (len(CELLS), [])
    return path, ostudy


def test_enqueued_cells_carry_their_params_and_workers_pop_each_exactly_once(enqueued):
    path, ostudy = enqueued
    waiting = ostudy.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == len(CELLS)   # one append wrote them all, and they all landed
    assert {(t.params["arm"], t.params["seed"]) for t in waiting} == set(CELLS)

    popped: dict[int, list] = {}
    start, first_pops = threading.Barrier(4, timeout=120), threading.Barrier(4, timeout=120)

    def work(i: int) -> None:
        mine = _worker_study(path, "s")
        start.wait()
        popped[i] = []
        first = True
        while True:
            cells = grid.pop_cells(mine, 7)
            if first:   # every worker pops once before any pops again: all four contend, by construction
                first = False
                first_pops.wait()
            if not cells:
                return
            popped[i] += [(t._trial_id, arm, seed) for t, arm, seed, _ in cells]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [p for ps in popped.values() for p in ps]
    assert Counter(tid for tid, _, _ in everything).most_common(1)[0][1] == 1, "a trial was popped twice"
    assert sorted((arm, seed) for _, arm, seed in everything) == sorted(CELLS)
    assert all(popped[i] for i in range(4)), "a worker popped nothing: no contention tested"
    fresh = _worker_study(path, "s")   # what any reader sees: every trial RUNNING, none waiting
    assert Counter(t.state for t in fresh.get_trials()) == Counter({TrialState.RUNNING: len(CELLS)})


def test_a_batch_says_which_writes_another_worker_made_moot(enqueued):
    path, ostudy = enqueued
    (a, *_), (b, *_) = grid.pop_cells(ostudy, 2)
    other = _worker_study(path, "s")
    with batched_writes(ostudy) as refused:
        a.set_user_attr("note", "kept")
        b.set_user_attr("note", "moot")
        ostudy.tell(a, 1.0)
        ostudy.tell(b, 2.0)
        assert ostudy.get_trials()[a.number].state == TrialState.RUNNING   # nothing landed yet
        other._storage.set_trial_state_values(b._trial_id, TrialState.FAIL)   # another worker reaps b
    assert len(refused) == 2   # b's attribute and its tell
    seen = {t.number: t for t in _worker_study(path, "s").get_trials()}
    assert (seen[a.number].state, seen[a.number].value, seen[a.number].user_attrs["note"]) == (TrialState.COMPLETE, 1.0, "kept")
    assert seen[b.number].state == TrialState.FAIL and "note" not in seen[b.number].user_attrs
    assert grid.set_trial_attrs(ostudy, [(a, {"late": 1})]) == [False]   # a finished trial takes no attributes


@pytest.mark.parametrize("when", ["before its tell", "after its tell"])
def test_a_trial_failed_while_its_ending_is_recorded_ends_taken_over(workdir, env, monkeypatch, when):
    """A worker records a finished population; while it tells Optuna, another worker fails one
    of its trials (it took this worker for dead): before that trial's tell (Optuna refuses the
    tell) or after it, while the tells wait to land together (the journal refuses them). That
    trial's run ends KILLED as TAKEN_OVER and it counts as not trained; the other trial is
    COMPLETE with a FINISHED run."""
    from mlflow import MlflowClient

    from pipeline import lifecycle
    from pipeline.lifecycle import Outcome
    from pipeline.train import train

    from .conftest import a_worker_in_process

    monkeypatch.chdir(workdir)
    _, ctx, splits, ostudy, cells = a_worker_in_process(workdir, env, "taken")
    trials = lifecycle.open_runs(ctx.tracker, ctx.experiment_id, [cells.born(*c) for c in grid.pop_cells(ostudy, 2)])
    assert len(trials) == 2
    endings = [lifecycle.cell_ending(t, train(t.payload, splits), 1.0) for t in trials]
    other = _worker_study(workdir / "optuna.journal", ostudy.study_name)
    victim = trials[0] if when == "after its tell" else trials[1]
    tells: list = []

    def reaped_meanwhile(name: str) -> None:   # runs just before each trial's tell
        tells.append(name)
        if len(tells) == 2:   # after the first trial's tell, before the second's
            other._storage.set_trial_state_values(victim.trial._trial_id, TrialState.FAIL)

    monkeypatch.setattr(lifecycle, "failpoint", reaped_meanwhile)
    recorded = lifecycle.end(ctx.tracker, endings)
    assert recorded == [t is not victim for t in trials]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    for t in trials:
        run = client.get_run(t.run_id)
        assert run.info.status == ("KILLED" if t is victim else "FINISHED"), when
        assert (run.data.tags.get(rt.OUTCOME) == Outcome.TAKEN_OVER.name) == (t is victim), when
    states = {t.number: t.state for t in _worker_study(workdir / "optuna.journal", ostudy.study_name).get_trials()}
    assert [states[t.trial.number] for t in trials] == [TrialState.FAIL if t is victim else TrialState.COMPLETE
                                                         for t in trials]


def test_a_popped_trial_is_judged_dead_only_once_nobody_named_it_in_time(enqueued, monkeypatch):
    """A trial popped but not yet named by its worker may belong to a live worker about to name
    it, or to one killed between the two writes. dead_trials waits, but only until the trials
    are named (a worker starting next to a busy one must not stall for ORPHAN_S each time), and
    takes a trial nobody named within ORPHAN_S for orphaned."""
    import time

    monkeypatch.setattr(liveness, "ORPHAN_S", 4.0)
    path, ostudy = enqueued
    other = _worker_study(path, "s")
    (a, *_), (b, *_) = grid.pop_cells(other, 2)
    namer = threading.Timer(0.3, grid.claim, args=(other, [a, b]))   # a live worker, a moment later
    namer.start()
    started = time.monotonic()
    assert liveness.dead_trials(ostudy) == []
    waited = time.monotonic() - started
    namer.join()
    assert 0.25 <= waited < 3.0, f"waited {waited:.1f} s for trials named after 0.3 s"

    (c, *_), = grid.pop_cells(other, 1)   # popped by a worker that dies before naming it
    started = time.monotonic()
    assert [t.number for t in liveness.dead_trials(ostudy)] == [c.number]
    assert time.monotonic() - started >= 3.5   # judged only once ORPHAN_S passed


def test_only_a_live_worker_s_trials_keep_an_interrupted_ablation_s_parent_open(enqueued):
    """An interrupted `ablation` leaves a dataset's parent open to workers that still train
    (liveness.others_alive): a trial named by a worker whose process here is gone, or one popped and
    never named, is no such worker, and would have kept the parent RUNNING until a rerun."""
    import os
    import socket
    import subprocess

    from pipeline.runtime import worker_id

    path, ostudy = enqueued
    other = _worker_study(path, "s")
    gone = subprocess.Popen(["true"])
    gone.wait()
    (a, *_), (b, *_), (c, *_) = grid.pop_cells(other, 3)
    grid.set_attrs(other, a._trial_id, {"worker": f"{socket.gethostname()}:{gone.pid}:dead"})
    grid.set_attrs(other, b._trial_id, {"worker": worker_id()})   # this process's own: ended by itself
    assert not liveness.others_alive(ostudy)   # c popped, never named
    grid.set_attrs(other, c._trial_id, {"worker": f"{socket.gethostname()}:{os.getppid()}:alive"})
    assert liveness.others_alive(ostudy)
    grid.set_attrs(other, c._trial_id, {"worker": "another-host:12:abcd"})   # elsewhere: taken as alive
    assert liveness.others_alive(ostudy)


def test_two_enqueues_on_one_journal_take_turns(tmp_path):
    """The enqueue lock of a journal storage (flock on a file beside it): a second holder waits,
    says so once, and gets it when the first lets go; the lock is the storage file's, whichever
    study asks (journal and SQLite alike)."""
    from pipeline.enqueue_lock import exclusive

    url = f"journal:{tmp_path / 'optuna.journal'}"
    order, said = [], []
    first_in = threading.Event()

    def first():
        with exclusive(url, "s"):
            first_in.set()
            time.sleep(1.0)
            order.append("first out")

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(10)
    with exclusive(url, "other", say=lambda text, **_: said.append(text)):
        order.append("second in")
    t.join()
    assert order == ["first out", "second in"]
    assert said == [f"waiting for another enqueue on {url} to finish"]
    assert (tmp_path / "optuna.journal.enqueue.lock").exists()
    with exclusive(f"sqlite:///{tmp_path / 'o.db'}", "s", say=lambda *a, **k: said.append("again")):
        pass
    assert said[1:] == [] and (tmp_path / "o.db.enqueue.lock").exists()


def test_a_worker_marks_a_population_as_training_before_it_trains_and_not_the_one_popped_ahead(workdir, env, monkeypatch):
    """A real worker, populations of one: while the first trains, the bookkeeper pops the second
    ahead. Read from another storage instance (as a reaper in another process would), the trial in
    training carries `training_started` and the one popped ahead does not, so a death then spends
    a retry of the first cell only (lifecycle.spent_attempt); the second is marked when it trains."""
    from pipeline import worker

    from .conftest import a_worker_in_process

    monkeypatch.chdir(workdir)
    _, ctx, splits, ostudy, cells = a_worker_in_process(workdir, env, "marks", execution={"population_size": 1})
    reader = _worker_study(workdir / "optuna.journal", ostudy.study_name)
    seen: list = []
    real_train = worker._train

    def watched(ctx_, trials, data, population):
        deadline = time.time() + 20
        while True:   # the first population: wait for the next to be popped ahead
            running = reader.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if seen or len(running) == 2 or time.time() > deadline:
                break
            time.sleep(0.05)
        training = {t.trial.number for t in trials}
        seen.append({t.number: (t.number in training, bool(t.user_attrs.get(rt.TRIAL_TRAINING))) for t in running})
        return real_train(ctx_, trials, data, population)

    monkeypatch.setattr(worker, "_train", watched)
    counts = worker.work_cells(ctx, cells, splits)
    assert counts["trained"] == 2 and len(seen) == 2
    first, second = seen
    assert sorted(first.values()) == [(False, False), (True, True)], first   # in training marked, popped ahead not
    assert [marked for training, marked in second.values() if training] == [True], second   # (the first may
    # still be RUNNING: the bookkeeper records it while the second trains)
    assert all(t.user_attrs.get(rt.TRIAL_TRAINING) for t in reader.get_trials(states=(TrialState.COMPLETE,)))


def test_each_popped_cell_beats_from_its_pop_on(tmp_path, monkeypatch):
    """Optuna's RDB pop read every waiting trial: ~1 s a pop from a queue of 3,000 on PostgreSQL,
    so a population's first cells were RUNNING, unnamed and without a heartbeat for over ORPHAN_S
    while the rest were popped, and another worker's reaper failed them as a dead worker's (a
    distributed review). Cells join the heartbeat as they are popped, POP_CHUNK at a time (one
    here): at every pop, those popped before it beat."""
    from pipeline import lifecycle
    from pipeline.storage import get_storage

    ostudy = optuna.create_study(study_name="s", storage=get_storage(f"sqlite:///{tmp_path / 'o.db'}"))
    grid.enqueue_missing(ostudy, [("none", s) for s in range(4)], 1, lifecycle.spent_attempt)
    backend, seen = grid._backend(ostudy), []
    pop = backend.pop_waiting

    def popping(study_id, limit):   # what another worker's reaper would read at this moment
        seen.append(sorted(liveness.heartbeat_ages(ostudy)))
        return pop(study_id, limit)

    monkeypatch.setattr(backend, "pop_waiting", popping)
    monkeypatch.setattr(grid, "POP_CHUNK", 1)
    monkeypatch.setattr(liveness, "ORPHAN_S", 2.0)   # past it, unnamed and beating: alive
    beat = liveness.heartbeat(ostudy, []).start()
    try:
        cells = grid.pop_cells(ostudy, 3, beat)
        assert liveness.dead_trials(ostudy) == []
    finally:
        beat.stop()
    ids = [c[0]._trial_id for c in cells]
    assert len(ids) == 3 and seen == [[], sorted(ids[:1]), sorted(ids[:2])]   # popped in random order


def test_a_worker_dead_right_after_its_pop_is_found_by_a_reaper_whose_clock_is_behind(tmp_path, monkeypatch):
    """A trial's datetime_start is the popping machine's clock. A worker that died between its pop
    and its cells' first beat left only that: a reaper whose clock runs behind the popper's read
    the trials as popped in the future, never orphans, and they stayed RUNNING. The pop now
    records each trial's first heartbeat, by the database's clock. Its start is stored as Optuna
    5 stores it (naive UTC), read back as this machine's local time."""
    import sqlalchemy

    from pipeline import lifecycle
    from pipeline.storage import get_storage

    ostudy = optuna.create_study(study_name="tz", storage=get_storage(f"sqlite:///{tmp_path / 'o.db'}"))
    grid.enqueue_missing(ostudy, [("none", s) for s in range(2)], 1, lifecycle.spent_attempt)
    popped = grid.pop_cells(ostudy, 2)   # and the worker dies: no name, no heartbeat thread
    started = {t._trial_id: t.datetime_start for t in ostudy.get_trials(deepcopy=False)}
    assert all(abs((s - datetime.datetime.now()).total_seconds()) < 60 for s in started.values()), started
    with grid._backend(ostudy).engine.begin() as db:   # a popper whose clock runs 2 minutes ahead
        db.execute(sqlalchemy.text("UPDATE trials SET datetime_start = :t"),
                   {"t": datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=2)})
    for name, value in (("HEARTBEAT_S", 0.2), ("GRACE_S", 0.5), ("SECOND_LOOK_S", 0.3), ("ORPHAN_S", 0.5)):
        monkeypatch.setattr(liveness, name, value)
    time.sleep(1.0)
    assert sorted(t._trial_id for t in liveness.dead_trials(ostudy)) == sorted(c[0]._trial_id for c in popped)


def test_a_cell_enqueued_without_params_by_an_older_version_is_popped_with_them(tmp_path):
    """Cells enqueued by an earlier version carry their cell in user attributes only; the pop gives
    them their params. Optuna's cache writes a param only for a trial it has read, which the pop
    by ids does not: a fresh worker's pop of such a cell was a KeyError (a review)."""
    from pipeline.storage import _storage

    url = f"sqlite:///{tmp_path / 'o.db'}"
    old = optuna.create_study(study_name="q", storage=_storage.__wrapped__(url))
    old.enqueue_trial({"arm": "none", "seed": 0}, user_attrs={rt.CELL: "none/seed0", rt.CELL_ARM: "none",
                                                           rt.CELL_SEED: 0, rt.ATTEMPT: 1})
    fresh = optuna.load_study(study_name="q", storage=_storage.__wrapped__(url))   # another process's
    [(trial, arm, seed, _)] = grid.pop_cells(fresh, 1)
    assert (arm, seed) == ("none", 0) and trial.params == {"arm": "none", "seed": 0}


def test_under_the_enqueue_lock_only_silent_tuning_trials_are_a_dead_process_s(tmp_path, monkeypatch):
    """Tuning runs under the enqueue lock, so its RUNNING trials are a dead process's (one killed on
    another host stayed RUNNING for good); but a holder whose lock a database restart took still
    tunes, and its trials beat (a review of the day's diff): silent_trials leaves those alone."""
    from pipeline import lifecycle
    from pipeline.storage import get_storage

    ostudy = optuna.create_study(study_name="t", storage=get_storage(f"sqlite:///{tmp_path / 'o.db'}"))
    grid.enqueue_missing(ostudy, [("l2", s) for s in range(2)], 1, lifecycle.spent_attempt)
    # SQLite's clock counts whole seconds: a beat reads up to a second older than it is
    monkeypatch.setattr(liveness, "HEARTBEAT_S", 1.5)
    (alive, *_), (dead, *_) = grid.pop_cells(ostudy, 2)   # each beats once as it is popped
    with liveness.heartbeat(ostudy, [alive]):
        time.sleep(3.5)   # two beats missed by the dead one
        assert [t.number for t in liveness.silent_trials(ostudy)] == [dead.number]
