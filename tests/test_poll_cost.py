"""What a waiting worker reads each time it looks (every few seconds, grid.retryable_failures and
liveness.dead_trials through worker.retried) stays flat as the study grows: trials already seen and
unchanged are not built again. A real SQLite (and PostgreSQL) Optuna storage; the trials each
call builds are counted on it."""

from __future__ import annotations

import threading

import optuna
import pytest
from optuna.trial import TrialState

from pipeline import grid, lifecycle, liveness
from pipeline import runtree as rt
from pipeline.lifecycle import Outcome
from pipeline.storage import get_storage


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def popped(tmp_path, request):
    """A study with 121 cells (SQLite, or a throwaway PostgreSQL), every one popped (RUNNING,
    nameless), and a counter of the trials the storage builds from its rows."""
    storage = get_storage(f"sqlite:///{tmp_path / 'optuna.db'}" if request.param == "sqlite" else
                          f"{request.getfixturevalue('postgres')}/optuna")
    ostudy = optuna.create_study(study_name="s", storage=storage)
    grid.enqueue_missing(ostudy, [(arm, seed) for arm in ("none", "l2") for seed in range(60)] + [("l1", 0)],
                         max_retries=2, spent_attempt=lambda t: True)
    trials = [trial for trial, *_ in grid.pop_cells(ostudy, 121)]
    backend, built = grid._backend(ostudy), [0]
    build = backend._build_frozen_trial_from_trial_model

    def counted(model):
        built[0] += 1
        return build(model)

    backend._build_frozen_trial_from_trial_model = counted
    yield ostudy, trials, built
    del backend._build_frozen_trial_from_trial_model


def _fail(ostudy, trial, outcome: Outcome) -> None:
    grid.set_attrs(ostudy, trial._trial_id, {rt.TRIAL_OUTCOME: outcome.name, rt.TRIAL_FAIL_REASON: outcome.reason})
    assert grid.set_state(ostudy, trial._trial_id, TrialState.FAIL)


def test_an_idle_workers_look_for_failed_trials_builds_only_those_failed_since(popped):
    """A FAIL trial stays FAIL: each is built and judged once (a worker built every failed trial
    of the study on each idle poll: ~0.1 s at 400). One failing after later ones were seen (an
    old population's worker dies) is found, and only it is built."""
    ostudy, trials, built = popped
    early, rest = trials[0], trials[1:]
    for i, trial in enumerate(rest):   # a dead worker's (retried at once) and failed trainings (not)
        _fail(ostudy, trial, Outcome.WORKER_DIED if i % 2 else Outcome.ERROR)
    retryable = {t.number for t in rest[1::2]}
    assert grid.retryable_failures(ostudy, lifecycle.retry_now) == retryable
    assert built[0] >= len(rest)
    built[0] = 0
    assert grid.retryable_failures(ostudy, lifecycle.retry_now) == retryable
    assert built[0] == 0, f"{built[0]} trials built again, none of them changed"
    _fail(ostudy, early, Outcome.WORKER_DIED)
    again = optuna.load_study(study_name="s", storage=ostudy._storage)   # as each poll opens the study anew
    assert grid.retryable_failures(again, lifecycle.retry_now) == retryable | {early.number}
    assert built[0] == 1, f"{built[0]} trials built for one that failed since"


def test_the_reaper_waiting_for_a_popped_trial_to_be_named_rereads_only_it(popped, monkeypatch):
    """dead_trials waits up to ORPHAN_S for popped trials to be named, looking every 0.2 s: it read
    every RUNNING trial each time (a busy study has hundreds); it reads the nameless ones, then
    all once they are named, and what it returns is that last read."""
    ostudy, trials, built = popped
    monkeypatch.setattr(liveness, "ORPHAN_S", 5.0)
    assert all(grid.claim(ostudy, trials[:-1]))
    namer = threading.Timer(0.9, grid.claim, args=(ostudy, trials[-1:]))   # its live worker, a moment later
    namer.start()
    built[0] = 0
    running = liveness._running_once_named(ostudy)
    namer.join()
    assert sorted(t.number for t in running) == sorted(t.number for t in trials)
    assert all(rt.TRIAL_WORKER in t.user_attrs for t in running)
    assert built[0] <= 2 * len(trials) + 10, f"{built[0]} trials built waiting 0.9 s for one to be named"


def test_whether_others_train_is_read_from_the_running_trials_names_alone(popped):
    """An idle worker asks every few seconds whether other workers still train (_still_open): the
    names on the RUNNING trials answer it, none of them built (it built every one)."""
    ostudy, trials, built = popped
    assert all(grid.claim(ostudy, trials[:-1]))   # this worker's
    built[0] = 0
    assert grid.others_running(ostudy)   # one popped and not named yet: some worker's
    assert grid.claim(ostudy, trials[-1:]) == [True]
    assert not grid.others_running(ostudy)
    grid.set_attr(ostudy, trials[0]._trial_id, rt.TRIAL_WORKER, "elsewhere:1:x")
    assert grid.others_running(ostudy)
    assert built[0] == 0, f"{built[0]} trials built to read their workers' names"
