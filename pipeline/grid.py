"""Everything Optuna: storages, one study per (study file, dataset), the grid of arms x seeds as
enqueued trials, popping cells, heartbeats, and finding trials whose worker died. Optuna's
private API (storage calls on frozen trials) is used here and nowhere else.

Why enqueue instead of GridSampler: GridSampler may run a cell twice under parallel workers and
never re-runs a failed cell. Enqueued trials are popped one at a time (atomically), so every cell
has exactly one owner, and failed cells are re-enqueued on the next run (up to `max_retries`).
"""

from __future__ import annotations

import datetime
import functools
import os
import threading
import time
import warnings
from typing import Optional

import optuna
from optuna.trial import FrozenTrial, TrialState

from . import runtree as rt
from .errors import UsageError
from .runtime import process_alive, worker_id
from .tracking import mask_credentials

# A journal file: appends instead of SQL transactions (Optuna's SQLite storage spent ~70 ms of
# Python per trial here), and safe for several worker processes on one machine.
DEFAULT_STORAGE = "journal:optuna.journal"
JOURNAL_PREFIX = "journal:"
# Heartbeats are "experimental" in Optuna; the warning would break our one-line errors.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# We record heartbeats ourselves (ask/tell), which Optuna warns about: it works as intended.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
SEED_HIGH = 2**31 - 1
HEARTBEAT_S = 5     # a running trial records a heartbeat this often (RDB storages)
GRACE_S = 30        # ... and is failed as stale when none came for this long (its worker died)
ORPHAN_S = 10       # a RUNNING trial no worker has named after this long was popped by a dead one
# The choices of the "arm" param of grid trials. Optuna requires one distribution per param name
# across a study, so these stay as they were when studies were first written; an arm registered
# later is recorded in the trial's user attributes only (where every reader looks anyway).
ARM_PARAM_CHOICES = ("none", "dropout", "l1", "l2", "dropout_l2")


def get_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for a URL. 'journal:PATH' is a journal file, safe for several processes
    on one machine; any SQLAlchemy URL (sqlite, postgresql, mysql) is an RDB storage with
    heartbeats, so trials of a worker that died are failed and retried by the others. Cached per
    storage; a relative journal path is made absolute first, so the cache never hands a process
    that changed directory the journal of its previous one."""
    if url.startswith(JOURNAL_PREFIX):
        url = JOURNAL_PREFIX + os.path.abspath(url[len(JOURNAL_PREFIX):])
    elif url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:   # relative
        url = "sqlite:///" + os.path.abspath(url[len("sqlite:///"):])
    return _storage(url)


@functools.lru_cache(maxsize=8)
def _storage(url: str) -> optuna.storages.BaseStorage:
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url[len(JOURNAL_PREFIX):]))
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                                      grace_period=GRACE_S)


def check_storage(url: str) -> None:
    try:
        get_storage(url)
    except Exception as e:
        raise storage_error(url, e) from None


def storage_error(storage: str, e: Exception) -> UsageError:
    # SQLAlchemy/driver errors carry long multi-line texts (and the URL); the user needs one line.
    first = str(e).splitlines()[0][:200] if str(e) else ""
    return UsageError(f"--storage = {mask_credentials(storage)!r}: cannot open the Optuna storage "
                      f"({type(e).__name__}: {mask_credentials(first)})")


def heartbeats_enabled(storage: optuna.storages.BaseStorage) -> bool:
    """RDB storages record heartbeats (see get_storage); journal storages do not."""
    return getattr(storage, "is_heartbeat_enabled", lambda: False)()


def study_name(study_name: str, label: str, config_hash: str) -> str:
    """The Optuna study of one dataset of a study file: <study>.<dataset>.<config hash>."""
    return f"{study_name}.{label}.{config_hash}"


def open_study(storage: str, name: str, direction: str, sampler=None, pruner=None) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.create_study(storage=get_storage(storage), study_name=name, direction=direction,
                                   load_if_exists=True, sampler=sampler, pruner=pruner)
    except Exception as e:
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
    if rt.CELL_ARM in trial.user_attrs and rt.CELL_SEED in trial.user_attrs:
        return (trial.user_attrs[rt.CELL_ARM], int(trial.user_attrs[rt.CELL_SEED]),
                trial.user_attrs.get(rt.CELL_VARIANT, ""))
    return None


def enqueue_missing(ostudy: optuna.Study, cells: list[tuple], max_retries: int) -> tuple[int, list]:
    """Enqueue every cell ((arm, seed) or (arm, seed, variant)) with no COMPLETE, WAITING or
    RUNNING trial and fewer than 1 + max_retries failures. Returns (number enqueued, cells given up on)."""
    cells = [c if len(c) == 3 else (*c, "") for c in cells]
    by_cell: dict[tuple[str, int, str], list[TrialState]] = {}
    for t in ostudy.get_trials(deepcopy=False):
        c = cell_of(t)
        if c is not None:
            by_cell.setdefault(c, []).append(t.state)
    enqueued, given_up = 0, []
    for cell in cells:
        states = by_cell.get(cell, [])
        if any(s in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING) for s in states):
            continue
        failures = states.count(TrialState.FAIL)
        if failures > max_retries:
            given_up.append(cell)
            continue
        arm, seed, variant = cell
        ostudy.enqueue_trial({"arm": arm, "seed": seed},
                             user_attrs={rt.CELL: f"{arm}/seed{seed}" + (f"@{variant}" if variant else ""),
                                         rt.CELL_ARM: arm, rt.CELL_SEED: seed, rt.ATTEMPT: failures + 1,
                                         **({rt.CELL_VARIANT: variant} if variant else {})})
        enqueued += 1
    return enqueued, given_up


def retry_failed(ostudy: optuna.Study, max_retries: int) -> int:
    """Enqueue again every cell of this study whose trials all failed, fewer than 1 + max_retries
    times (a dead worker's, once reaped): the cells it has ever had, whatever the study file says
    now. Returns how many were enqueued."""
    cells = sorted({c for c in map(cell_of, ostudy.get_trials(deepcopy=False)) if c is not None})
    return enqueue_missing(ostudy, cells, max_retries)[0]


def others_running(ostudy: optuna.Study) -> bool:
    """Some trial is RUNNING in another worker (not this process)."""
    me = worker_id()
    return any(t.user_attrs.get(rt.TRIAL_WORKER) != me
               for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def has_waiting(ostudy: optuna.Study) -> bool:
    return bool(ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def busy(ostudy: optuna.Study) -> bool:
    """Some cell is still waiting or running."""
    return bool(ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)))


def pop_cells(ostudy: optuna.Study, limit: int) -> list:
    """Pop up to `limit` waiting grid cells: [(trial, arm, seed, variant)]. Only enqueued trials are
    popped: Optuna's ask() would create a new trial when another worker took the last waiting
    one, which a worker would then have to fail (a phantom FAIL trial in the study)."""
    out = []
    while len(out) < limit:
        trial_id = ostudy._pop_waiting_trial_id()   # atomic: WAITING -> RUNNING, or None
        if trial_id is None:
            break
        trial = optuna.Trial(ostudy, trial_id)
        try:
            if rt.CELL not in trial.user_attrs:   # not a grid cell (none is enqueued otherwise)
                ostudy.tell(trial, state=TrialState.FAIL)
                continue
            arm, seed, variant = cell_of(trial)
            if arm in ARM_PARAM_CHOICES:   # as a param too, for optuna-dashboard
                trial.suggest_categorical("arm", ARM_PARAM_CHOICES)
            trial.suggest_int("seed", 0, SEED_HIGH)
            out.append((trial, arm, seed, variant))
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # reaped by another worker between our pop and this write
    return out


def claim(trial: optuna.Trial) -> bool:
    """Name this worker on a popped trial; False when another worker failed it meanwhile."""
    try:
        trial.set_user_attr(rt.TRIAL_WORKER, worker_id())
        return True
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def is_running(ostudy: optuna.Study, trial_id: int) -> bool:
    return ostudy._storage.get_trial(trial_id).state == TrialState.RUNNING


def trial_id(trial) -> int:
    return trial._trial_id


def set_attr(ostudy: optuna.Study, tid: int, key: str, value) -> None:
    ostudy._storage.set_trial_user_attr(tid, key, value)


def set_state(ostudy: optuna.Study, tid: int, state: TrialState, values: Optional[list] = None) -> None:
    ostudy._storage.set_trial_state_values(tid, state, values)


class heartbeat:
    """Record Optuna heartbeats for trials from a background thread while they train, so that
    other workers can tell a dead worker's trial from a slow one (RDB storages only)."""

    def __init__(self, ostudy: optuna.Study, trials: list):
        self.storage, self.trial_ids = ostudy._storage, [t._trial_id for t in trials]
        self.enabled = heartbeats_enabled(self.storage)
        self.stop = threading.Event()

    def _beat_all(self):
        for tid in self.trial_ids:
            self.storage.record_heartbeat(tid)

    def _beat(self):
        while not self.stop.wait(HEARTBEAT_S):
            try:
                self._beat_all()
            except Exception:  # a missed beat only risks a retry, never the trial
                pass

    def __enter__(self):
        if self.enabled:
            self._beat_all()
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.stop.set()
            self.thread.join()
        return False


def dead_trials(ostudy: optuna.Study) -> list[FrozenTrial]:
    """RUNNING trials whose worker died (SIGKILL, crash, lost machine):
    - trials whose heartbeat went stale (RDB storages, any machine) are failed by Optuna first;
    - trials whose worker process on this machine is gone;
    - trials no worker named within ORPHAN_S of being popped (killed between pop and naming)."""
    if heartbeats_enabled(ostudy._storage):
        optuna.storages.fail_stale_trials(ostudy)
    running = ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    # Give live workers ORPHAN_S to name their freshly popped trials before judging them.
    nameless = [t for t in running if rt.TRIAL_WORKER not in t.user_attrs and t.datetime_start is not None]
    if nameless:
        youngest = max(t.datetime_start for t in nameless)
        wait = ORPHAN_S - (datetime.datetime.now() - youngest).total_seconds()
        if wait > 0:
            time.sleep(wait)
        running = ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    dead = []
    for t in running:
        worker = t.user_attrs.get(rt.TRIAL_WORKER)
        orphan = worker is None and t.datetime_start is not None and \
            (datetime.datetime.now() - t.datetime_start).total_seconds() >= ORPHAN_S
        if orphan or (worker and not process_alive(worker)):
            dead.append(t)
    return dead


def running_numbers(ostudy: optuna.Study) -> set[int]:
    return {t.number for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}


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
    """(params, value) of the best complete trial, or None."""
    if not ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = ostudy.best_trial
    return dict(best.params), best.value


def complete_results(ostudy: optuna.Study) -> list[tuple[str, int, str, dict]]:
    """(arm, seed, variant, its final metrics in rt.RESULT_ATTRS) of every complete grid trial."""
    out = []
    for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        c = cell_of(t)
        if c is not None and "test_metric" in t.user_attrs:
            out.append((*c, {k: t.user_attrs[k] for k in rt.RESULT_ATTRS if k in t.user_attrs}))
    return out
