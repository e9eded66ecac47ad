"""Everything Optuna: storages, one study per (study file, dataset), the grid of arms x seeds as
enqueued trials, popping cells, heartbeats, and finding trials whose worker died. Optuna's
private API (storage calls on frozen trials) is used here and nowhere else. Database storages
ride out a restart of the database: every call is retried for up to $PIPELINE_OUTAGE_S
(RetryingRDBStorage).

Why enqueue instead of GridSampler: GridSampler may run a cell twice under parallel workers and
never re-runs a failed cell. Enqueued trials are popped one at a time (atomically), so every cell
has exactly one owner, and failed cells are re-enqueued on the next run (up to `max_retries`).
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Callable, Optional

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.storages.journal import JournalStorage
from optuna.trial import FrozenTrial, TrialState

from . import runtree as rt
from .errors import UsageError
from .runtime import StoreUnreachable, caused_by, mask_credentials, outage_limit_s, process_alive, worker_id

# A journal file: appends instead of SQL transactions (Optuna's SQLite storage spent ~70 ms of
# Python per trial here), and safe for several worker processes on one machine.
DEFAULT_STORAGE = "journal:optuna.journal"
JOURNAL_PREFIX = "journal:"
# Heartbeats are "experimental" in Optuna; the warning would break our one-line errors.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# We record heartbeats ourselves (ask/tell), which Optuna warns about: it works as intended.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
# Optuna's RDB storage warns when a query fails and it falls back to a slower one; when the
# database is away, the fallback fails too and RetryingRDBStorage says so in one line.
logging.getLogger("optuna.storages._rdb.storage").addFilter(
    lambda record: "Falling back to a slower alternative" not in record.getMessage())
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
        from optuna.storages.journal import JournalFileBackend

        return BatchingJournalStorage(JournalFileBackend(url[len(JOURNAL_PREFIX):]))
    # pool_pre_ping: a pooled connection that a database restart broke is replaced, not used.
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return RetryingRDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                              grace_period=GRACE_S)


# --- one append for many journal writes ---------------------------------------------------------

class BatchingJournalStorage(JournalStorage):
    """Optuna's journal storage, whose writes inside `batched_writes` are appended to the file
    together when the block ends: one lock and one fsync for a population's writes instead of one
    per write (Optuna appends each write alone: ~12 a trial, most of a small trial's bookkeeping).

    Inside the block the writes are not visible to reads yet, and a write that the journal turns
    down (a trial another worker ended meanwhile) shows only when they land: batched_writes says
    so, and its callers check the trials' states afterwards. Popping a trial, whose write decides
    who owns it, is never batched."""

    def __init__(self, backend):
        self._batch = threading.local()
        super().__init__(backend)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_batch", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._batch = threading.local()

    def _write_log(self, op_code: int, extra_fields: dict) -> None:
        logs = getattr(self._batch, "logs", None)
        if logs is None:
            return super()._write_log(op_code, extra_fields)
        logs.append({"op_code": op_code, "worker_id": self._replay_result.worker_id, **extra_fields})

    def create_new_trial(self, study_id: int, template_trial: Optional[FrozenTrial] = None) -> int:
        if getattr(self._batch, "logs", None) is None:
            return super().create_new_trial(study_id, template_trial)
        # Optuna reads back the id of this process's latest trial, which a first batch has none of
        self._replay_result.__dict__.setdefault("_last_created_trial_id_by_this_process", -1)
        super().create_new_trial(study_id, template_trial)
        return -1   # not known before the batch lands (enqueueing does not need it)

    def pop_waiting(self, study_id: int, limit: int) -> list[int]:
        """Move up to `limit` WAITING trials of a study to RUNNING, one append per try: the ids of
        those this thread owns now. As in Optuna's own pop (one trial, one append), the journal's
        order decides: a trial another worker's RUNNING write reached first is not ours. Our
        writes are replayed one by one to see which of them the journal took."""
        from optuna.storages.journal._storage import JournalOperation

        owned: list[int] = []
        with self._thread_lock:
            replay = self._replay_result
            while len(owned) < limit:
                self._sync_with_backend()
                waiting = [t._trial_id for t in replay.get_all_trials(study_id, (TrialState.WAITING,))]
                if not waiting:
                    break
                me, now = replay.worker_id, datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")
                self._backend.append_logs([{"op_code": JournalOperation.SET_TRIAL_STATE_VALUES, "worker_id": me,
                                            "trial_id": tid, "state": TrialState.RUNNING, "values": None,
                                            "datetime_start": now} for tid in waiting[:limit - len(owned)]])
                for log in list(self._backend.read_logs(replay.log_number_read)):
                    ours = (log["worker_id"] == me and log["op_code"] == JournalOperation.SET_TRIAL_STATE_VALUES
                            and log["state"] == TrialState.RUNNING)
                    if ours:
                        replay._worker_id_to_owned_trial_id.pop(me, None)
                    try:
                        replay.apply_logs([log])
                    except optuna.exceptions.UpdateFinishedTrialError:
                        continue   # ended meanwhile by another worker (it reaped or failed it)
                    if ours and replay.owned_trial_id == log["trial_id"]:
                        owned.append(log["trial_id"])
        return owned

    @contextmanager
    def batch(self):
        """Collect this thread's writes; append them in one go when the block ends, also when it
        raises (what was written before the error is kept, as without batching). Yields a list
        that then holds one entry per write the journal turned down."""
        if getattr(self._batch, "logs", None) is not None:   # nested: the outer block appends
            yield []
            return
        self._batch.logs, refused = [], []
        try:
            yield refused
        finally:
            logs, self._batch.logs = self._batch.logs, None
            if logs:
                with self._thread_lock:
                    self._backend.append_logs(logs)
                    while True:   # replaying stops at each of our writes it refuses; go on past it
                        try:
                            self._sync_with_backend()
                            break
                        except (optuna.exceptions.UpdateFinishedTrialError, KeyError) as e:
                            refused.append(e)


@contextmanager
def batched_writes(ostudy: optuna.Study):
    """Optuna writes of this thread inside the block land together (journal storages; other
    storages write each at once, as usual). Yields a list of the writes the journal turned down
    when they landed (empty on other storages, which raise at the call instead)."""
    if isinstance(ostudy._storage, BatchingJournalStorage):   # Optuna does not wrap journal storages
        with ostudy._storage.batch() as refused:
            yield refused
    else:
        yield []


# --- riding out a database restart ------------------------------------------------------------

RETRY_FIRST_S, RETRY_MAX_S = 0.5, 5.0   # backoff between tries of a storage call: 0.5, 1, 2, 4, 5, 5, ...


def transient(e: BaseException) -> bool:
    """A lost or refused database connection (a restart, a failover, a full connection table),
    as opposed to a bad statement: SQLAlchemy's OperationalError or InterfaceError, or a DBAPI
    error that invalidated its connection, raised as is or as the cause of Optuna's
    StorageInternalError."""
    import sqlalchemy.exc as sa

    return caused_by(e, lambda x: isinstance(x, (sa.OperationalError, sa.InterfaceError)) or
                     (isinstance(x, sa.DBAPIError) and x.connection_invalidated))


class _Outage:
    """This process's view of the storage being away: one line when it goes, one when it is
    back, and, past outage_limit_s(), StoreUnreachable for every call (so that a worker that
    gives up does so at once, not once per pending call)."""

    def __init__(self):
        self.lock, self.since, self.gave_up = threading.Lock(), None, False

    def failed(self, url: str, e: BaseException, started: float, tries: int) -> float:
        """A call first tried at `started` failed for the `tries`-th time: how long to wait
        before its next try."""
        limit = outage_limit_s()
        with self.lock:
            if self.since is None:
                self.since = started
                print(f"  the Optuna storage does not answer ({_first_line(e)}); retrying for up to {limit:.0f} s",
                      flush=True)
            waited = time.monotonic() - started
            if self.gave_up or waited >= limit:
                self.gave_up = True
                raise StoreUnreachable(f"the Optuna storage {mask_credentials(url)} did not answer for "
                                       f"{limit:.0f} s ({_first_line(e)})") from None
        return min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (tries - 1), limit - waited)

    def answered(self) -> None:
        with self.lock:
            if self.since is not None:
                print(f"  the Optuna storage answers again (after {time.monotonic() - self.since:.0f} s)", flush=True)
                self.since = None


def _first_line(e: BaseException) -> str:
    """The root cause's type and first line, credentials masked (driver errors span lines)."""
    root = e
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(root).strip().splitlines()
    return mask_credentials(f"{type(root).__name__}: {text[0][:160] if text else ''}")


def _retrying(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        started, tries = None, 0
        while True:
            try:
                result = method(self, *args, **kwargs)
            except Exception as e:
                if not transient(e):
                    raise
                started, tries = started or time.monotonic(), tries + 1
                time.sleep(self.outage.failed(self.url, e, started, tries))
                continue
            if started is not None or self.outage.since is not None:
                self.outage.answered()
            return result
    return call


class RetryingRDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, each call of which rides out a database that does not answer for
    up to outage_limit_s() (a restart, a failover): retried with backoff on a lost or refused
    connection; past the limit StoreUnreachable. Optuna has no retry option of its own; its
    engine gets SQLAlchemy's pool_pre_ping (see _storage).

    A call is retried whole. Reads and attribute writes repeat harmlessly; a state change whose
    commit went through just before the connection broke fails on its retry as Optuna does for
    a finished trial (UpdateFinishedTrialError), which the callers handle."""

    def __init__(self, *args, **kwargs):
        self.outage = _Outage()
        super().__init__(*args, **kwargs)

    def heartbeat_ages(self, study_id: int) -> dict[int, float]:
        """Seconds since the last heartbeat of each RUNNING trial of a study that has one, by
        the database's clock (as Optuna's own stale check reads them)."""
        import sqlalchemy
        from optuna.storages._rdb import models

        session = self.scoped_session()
        try:
            now = session.execute(sqlalchemy.func.now()).scalar().replace(tzinfo=None)
            rows = (session.query(models.TrialHeartbeatModel.trial_id, models.TrialHeartbeatModel.heartbeat)
                    .join(models.TrialModel).filter(models.TrialModel.study_id == study_id)
                    .filter(models.TrialModel.state == TrialState.RUNNING).all())
            return {tid: (now - beat.replace(tzinfo=None)).total_seconds() for tid, beat in rows}
        finally:
            session.close()

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("outage", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.outage = _Outage()


for _name in ("create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
              "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
              "get_study_system_attrs", "get_all_studies", "_create_new_trial", "_set_trial_param", "get_trial_param",
              "set_trial_state_values", "set_trial_intermediate_value", "set_trial_user_attr",
              "set_trial_system_attr", "get_trial_id_from_study_id_trial_number", "get_trial", "_get_trials",
              "_get_best_trial_id", "record_heartbeat", "_get_stale_trial_ids", "heartbeat_ages"):
    setattr(RetryingRDBStorage, _name, _retrying(getattr(RetryingRDBStorage, _name)))


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
    """RDB storages record heartbeats (see get_storage); journal storages do not. (Optuna 5 has
    no is_heartbeat_enabled method any more: a storage with a heartbeat interval has them.)"""
    return getattr(storage, "get_heartbeat_interval", lambda: None)() is not None


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
    attrs = trial.user_attrs   # once: a live Trial's user_attrs is a deep copy each time
    if rt.CELL_ARM in attrs and rt.CELL_SEED in attrs:
        return attrs[rt.CELL_ARM], int(attrs[rt.CELL_SEED]), attrs.get(rt.CELL_VARIANT, "")
    return None


def enqueue_missing(ostudy: optuna.Study, cells: list[tuple], max_retries: int) -> tuple[int, list]:
    """Enqueue every cell ((arm, seed) or (arm, seed, variant)) with no COMPLETE, WAITING or
    RUNNING trial and fewer than 1 + max_retries failures. Returns (number enqueued, cells given up on)."""
    cells = [c if len(c) == 3 else (*c, "") for c in cells]
    trials = ostudy.get_trials(deepcopy=False)
    by_cell: dict[tuple[str, int, str], list[TrialState]] = {}
    for t in trials:
        c = cell_of(t)
        if c is not None:
            by_cell.setdefault(c, []).append(t.state)
    last_failed = latest_by_cell(t for t in trials if t.state == TrialState.FAIL)   # the retry's previous attempt
    enqueued, given_up = 0, []
    with batched_writes(ostudy):   # one append for all of them (journal storages)
        for cell in cells:
            states = by_cell.get(cell, [])
            if any(s in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING) for s in states):
                continue
            failures = states.count(TrialState.FAIL)
            if failures > max_retries:
                given_up.append(cell)
                continue
            arm, seed, variant = cell
            previous = last_failed[cell].user_attrs.get(rt.TRIAL_RUN_ID) if cell in last_failed else None
            ostudy.add_trial(_waiting_cell(arm, seed, {
                rt.CELL: f"{arm}/seed{seed}" + (f"@{variant}" if variant else ""),
                rt.CELL_ARM: arm, rt.CELL_SEED: seed, rt.ATTEMPT: failures + 1,
                **({rt.CELL_VARIANT: variant} if variant else {}),
                **({rt.PREVIOUS_ATTEMPT: previous} if previous else {})}))
            enqueued += 1
    return enqueued, given_up


def _waiting_cell(arm: str, seed: int, user_attrs: dict) -> FrozenTrial:
    """A WAITING trial for a cell, its params (arm, seed) set already: what enqueue_trial writes,
    less the two writes a worker would make to suggest them when it pops the trial."""
    params = {"seed": seed, **({"arm": arm} if arm in ARM_PARAM_CHOICES else {})}   # as a param too, for optuna-dashboard
    distributions = {"seed": IntDistribution(0, SEED_HIGH),
                     **({"arm": CategoricalDistribution(ARM_PARAM_CHOICES)} if "arm" in params else {})}
    return optuna.trial.create_trial(state=TrialState.WAITING, params=params, distributions=distributions,
                                     user_attrs=user_attrs)


def retry_failed(ostudy: optuna.Study, max_retries: int, retry_now: Callable[[FrozenTrial], bool]) -> int:
    """Enqueue again every cell of this study whose trials all failed, fewer than 1 + max_retries
    times, the latest for a reason retry_now accepts (its worker died or was stopped, not the
    training itself): the cells it has ever had, whatever the study file says now. Returns how
    many were enqueued."""
    latest = latest_by_cell(ostudy.get_trials(deepcopy=False))
    cells = sorted(c for c, t in latest.items() if t.state == TrialState.FAIL and retry_now(t))
    return enqueue_missing(ostudy, cells, max_retries)[0]


def latest_by_cell(trials) -> dict[tuple[str, int, str], FrozenTrial]:
    """The latest (highest-numbered) of the given grid trials of each cell."""
    latest: dict[tuple[str, int, str], FrozenTrial] = {}
    for t in trials:
        c = cell_of(t)
        if c is not None and (c not in latest or t.number > latest[c].number):
            latest[c] = t
    return latest


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
        if isinstance(ostudy._storage, BatchingJournalStorage):   # several in one append
            trial_ids = ostudy._storage.pop_waiting(ostudy._study_id, limit - len(out))
        else:
            trial_ids = [ostudy._pop_waiting_trial_id()]   # atomic: WAITING -> RUNNING, or None
        if not trial_ids or trial_ids[0] is None:
            break
        out += _cells_of(ostudy, trial_ids)
    return out


def _cells_of(ostudy: optuna.Study, trial_ids: list[int]) -> list:
    out = []
    for trial_id in trial_ids:
        trial = optuna.Trial(ostudy, trial_id)
        try:
            cell = cell_of(trial)
            if cell is None:   # not a grid cell (none is enqueued otherwise)
                ostudy.tell(trial, state=TrialState.FAIL)
                continue
            arm, seed, variant = cell
            if "seed" not in trial.params:   # enqueued by an earlier version, without its params
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
        for tid in self.trial_ids:
            self.storage.record_heartbeat(tid)

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
    - trials no worker named within ORPHAN_S of being popped (killed between pop and naming)."""
    # Give live workers up to ORPHAN_S to name their freshly popped trials before judging them;
    # a live one names them within milliseconds, so look again often rather than sleep it out.
    deadline = time.monotonic() + ORPHAN_S
    while True:
        running = ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        nameless = [t for t in running if rt.TRIAL_WORKER not in t.user_attrs and t.datetime_start is not None]
        if not nameless:
            break
        youngest = max(t.datetime_start for t in nameless)
        wait = min(ORPHAN_S - (datetime.datetime.now() - youngest).total_seconds(), deadline - time.monotonic())
        if wait <= 0:
            break
        time.sleep(min(wait, 0.2))
    ages = heartbeat_ages(ostudy)
    dead = []
    for t in running:
        age = ages.get(t._trial_id)
        if age is not None and age < 2 * HEARTBEAT_S:
            continue   # it beats: alive, whatever its name says
        worker = t.user_attrs.get(rt.TRIAL_WORKER)
        orphan = worker is None and t.datetime_start is not None and \
            (datetime.datetime.now() - t.datetime_start).total_seconds() >= ORPHAN_S
        if (age is not None and age > GRACE_S) or orphan or (worker and not process_alive(worker)):
            dead.append(t)
    return dead


def heartbeat_ages(ostudy: optuna.Study) -> dict[int, float]:
    """{trial id: seconds since its last heartbeat} of the RUNNING trials that have one ({} on
    storages without heartbeats)."""
    backend = getattr(ostudy._storage, "_backend", ostudy._storage)
    if not heartbeats_enabled(ostudy._storage) or not isinstance(backend, RetryingRDBStorage):
        return {}
    return backend.heartbeat_ages(ostudy._study_id)


def states_and_runs(ostudy: optuna.Study) -> dict[int, tuple[TrialState, Optional[str]]]:
    """{trial number: (its state, the MLflow run id it names)}."""
    return {t.number: (t.state, t.user_attrs.get(rt.TRIAL_RUN_ID)) for t in ostudy.get_trials(deepcopy=False)}


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
