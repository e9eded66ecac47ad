"""Optuna storages: which storage a URL names (a journal file by default, or a database), a
journal storage whose writes of one thread land in one append (BatchingJournalStorage), and a
database storage that rides out a restart of the database: every call is retried for up to
$PIPELINE_OUTAGE_S (RetryingRDBStorage). What is stored in them, the grid, is grid.py's."""

from __future__ import annotations

import datetime
import functools
import logging
import math
import os
import random
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Optional

import optuna
from optuna.storages.journal import JournalStorage
from optuna.trial import FrozenTrial, TrialState

from .errors import UsageError
from .runtime import StoreUnreachable, caused_by, mask_credentials, outage_limit_s
from .store_paths import IN_MEMORY, absolute_sqlite_url, in_memory, is_sqlite


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
HEARTBEAT_S = 5     # a running trial records a heartbeat this often (RDB storages)
GRACE_S = 30        # ... and is failed as stale when none came for this long (its worker died)
IDLE_IN_TRANSACTION_S = GRACE_S   # PostgreSQL ends a session of ours left inside a transaction this long
CONNECT_TIMEOUT_S = 10            # a PostgreSQL connection not made in this long is an error (retried as one)
# A database that says it is not ready (PostgreSQL starting up, or full) has a process's first
# connection retried for up to STARTUP_WAIT_S; one that took CONNECT_TIMEOUT_S to answer nothing
# (a serverless one waking from a cold start) is tried once more (a half-open firewall's silence is
# an error in seconds, not minutes); one that refuses it (nothing listens: a mistyped port) or turns
# the login down is an error at once.
STARTUP_WAIT_S = 60.0
NOT_READY = ("is starting up", "too many clients", "connection slots are reserved")
TIMED_OUT = "timeout expired"
# Trials RetryingRDBStorage.create_trials adds in one transaction: the study's row stays locked
# (no other trial of it created) for a fraction of a second, not for a whole grid's enqueue.
ADD_CHUNK = 500


def get_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for a URL. 'journal:PATH' is a journal file, safe for several processes
    on one machine; any SQLAlchemy URL (sqlite, postgresql, mysql) is an RDB storage with
    heartbeats, so trials of a worker that died are failed and retried by the others. Cached per
    storage; a relative journal path is made absolute first, so the cache never hands a process
    that changed directory the journal of its previous one."""
    if url.startswith(JOURNAL_PREFIX):
        url = JOURNAL_PREFIX + os.path.abspath(url[len(JOURNAL_PREFIX):])
    else:
        url = absolute_sqlite_url(url)
    return _storage(url)


@functools.lru_cache(maxsize=8)
def _storage(url: str) -> optuna.storages.BaseStorage:
    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend

        return BatchingJournalStorage(JournalFileBackend(url[len(JOURNAL_PREFIX):]))
    import sqlalchemy.exc as sa
    from sqlalchemy.engine import make_url

    # pool_pre_ping: a pooled connection that a database restart broke is replaced, not used.
    engine_kwargs = {"connect_args": {"timeout": 60}} if is_sqlite(url) else \
        {"pool_pre_ping": True, **_session_limits(url)}
    attempt, collisions, started = 0, 0, time.monotonic()
    while True:
        try:
            storage = RetryingRDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                                         grace_period=GRACE_S)
            if attempt:
                print(f"  the Optuna storage answers (after {time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
            return storage
        except sa.OperationalError as e:
            waited = time.monotonic() - started
            if (any(s in str(e) for s in NOT_READY) and waited < STARTUP_WAIT_S) or (TIMED_OUT in str(e) and not attempt):
                if not attempt:
                    print(f"  the Optuna storage is not ready ({root_cause_line(e)}); trying again"
                      + ("" if TIMED_OUT in str(e) else f" for up to {STARTUP_WAIT_S:.0f} s"), file=sys.stderr, flush=True)
                attempt += 1
                time.sleep(max(0.0, min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (attempt - 1), STARTUP_WAIT_S - waited)))
                continue
            # a pooler in front of PostgreSQL (PgBouncer, Neon's or Supabase's) refuses startup
            # options it does not know: connect without the session limit rather than not at all
            if "startup parameter" not in str(e) or "options" not in engine_kwargs.get("connect_args", {}):
                raise
            print("note: the Optuna storage's server refuses the option idle_in_transaction_session_timeout "
                  "(a connection pooler such as PgBouncer?); connecting without it", file=sys.stderr, flush=True)
            # and without prepared statements: a pooler in transaction mode hands the next transaction
            # another server session, where psycopg's "_pg3_0" already exists (workers crashed)
            args = {k: v for k, v in engine_kwargs["connect_args"].items() if k != "options"}
            unprepared = {"prepare_threshold": None} if make_url(url).get_dialect().driver == "psycopg" else {}   # psycopg 3's
            engine_kwargs = {**engine_kwargs, "connect_args": {**args, **unprepared}}
        except (sa.IntegrityError, sa.ProgrammingError):
            # two processes creating Optuna's tables in a fresh database at once (two enqueues, a
            # Kubernetes Job's pods): the slower one's CREATE collides; the tables exist on a retry
            collisions += 1
            if collisions == 3:
                raise
            time.sleep(0.5 * collisions)


def _session_limits(url: str) -> dict:
    """PostgreSQL: a session left inside a transaction for IDLE_IN_TRANSACTION_S is ended by the
    server. A worker paused or cut off from the database (a network partition) in the middle of
    one, popping a trial say, held that trial's row lock: every other worker's write to it
    waited until it came back, or until TCP gave up on it (hours). Its own next call finds the
    connection gone and is retried (RetryingRDBStorage). Options the URL sets are left alone."""
    if not url.startswith("postgresql"):
        return {}
    # a host that accepts the connection and never answers (a half-open firewall, a frozen server)
    # kept a starting worker silent for the driver's 130 s
    args = {} if "connect_timeout=" in url else {"connect_timeout": CONNECT_TIMEOUT_S}
    if "options=" not in url:
        args["options"] = f"-c idle_in_transaction_session_timeout={int(IDLE_IN_TRANSACTION_S * 1000)}"
    return {"connect_args": args} if args else {}


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
    storages write each at once, as usual: add_trials adds trials together there). Yields a list
    of the writes the journal turned down when they landed (empty on other storages, which raise
    at the call instead)."""
    if isinstance(ostudy._storage, BatchingJournalStorage):   # Optuna does not wrap journal storages
        with ostudy._storage.batch() as refused:
            yield refused
    else:
        yield []


def add_trials(ostudy: optuna.Study, trials: list[FrozenTrial]) -> None:
    """Study.add_trial for each trial, in order: on PostgreSQL and SQLite in one transaction of a
    few statements per ADD_CHUNK trials (RetryingRDBStorage.create_trials; Optuna's add_trial is a
    transaction of ~15 statements each: ~20 ms a cell on PostgreSQL, 50 s for 2,500 cells), on a
    journal in one append. Trials with values or intermediate values (none that the grid adds), and
    other databases (MySQL: _landed is PostgreSQL's), take Optuna's way. Optuna's cache reads the
    trials added together from the database, as it reads another process's."""
    backend = getattr(ostudy._storage, "_backend", ostudy._storage)   # under Optuna's cache
    if isinstance(backend, RetryingRDBStorage) and backend.engine.dialect.name in ("postgresql", "sqlite") and \
            all(t.values is None and not t.intermediate_values for t in trials):
        for t in trials:
            t._validate()   # as Study.add_trial does
        backend.create_trials(ostudy._study_id, trials)
        return
    with batched_writes(ostudy):
        for t in trials:
            ostudy.add_trial(t)


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
        self.ended = None   # when it last answered again (monotonic)
        self.went = None    # when it last went away, as first seen here (monotonic)

    def failed(self, url: str, e: BaseException, started: float, tries: int) -> float:
        """A call first tried at `started` failed for the `tries`-th time: how long to wait
        before its next try."""
        limit = outage_limit_s()
        with self.lock:
            if self.since is None:
                self.since = self.went = started
                print(f"  the Optuna storage does not answer ({root_cause_line(e)}); retrying each call for up to "
                      f"{limit:.0f} s", flush=True)
            waited = time.monotonic() - started
            if self.gave_up or waited >= limit:
                self.gave_up = True
                raise StoreUnreachable(f"the Optuna storage {mask_credentials(url)} did not answer for "
                                       f"{limit:.0f} s ({root_cause_line(e)})", store="optuna") from None
        return min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (tries - 1), limit - waited)

    def answered(self) -> None:
        with self.lock:
            if self.since is not None:
                print(f"  the Optuna storage answers again (after {time.monotonic() - self.since:.0f} s)", flush=True)
                self.since, self.ended = None, time.monotonic()

    def went_away_ago(self) -> float:
        """Seconds since the storage last went away as this process saw it (inf: never here)."""
        with self.lock:
            return math.inf if self.went is None else time.monotonic() - self.went

    def answering_for(self) -> float:
        """Seconds since this process saw the storage answer again after it did not (inf when it
        never went away here, 0 while it is away)."""
        with self.lock:
            if self.since is not None:
                return 0.0
            return math.inf if self.ended is None else time.monotonic() - self.ended


def root_cause_line(e: BaseException) -> str:
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


def advisory_key(name: str) -> int:
    """PostgreSQL's advisory lock key (a signed 64-bit number) for a lock named `name`: the enqueue
    lock's and a process's liveness lock (alive_lock)."""
    import hashlib

    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big", signed=True)


class RetryingRDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, each call of which rides out a database that does not answer for
    up to outage_limit_s() (a restart, a failover): retried with backoff on a lost or refused
    connection; past the limit StoreUnreachable. Optuna has no retry option of its own; its
    engine gets SQLAlchemy's pool_pre_ping (see _storage).

    A call is retried whole. Reads and attribute writes repeat harmlessly; a state change whose
    commit went through just before the connection broke fails on its retry as Optuna does for
    a finished trial (UpdateFinishedTrialError), which the callers handle; a chunk of trials
    added together (create_trials) whose commit went through is not added again (_landed)."""

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

    def trial_ids_in(self, study_id: int, states: tuple, limit: Optional[int] = None) -> list[int]:
        """The ids of a study's trials in `states`, oldest first, at most `limit`: one query of ids.
        Optuna's reads build every unfinished trial whole on each call (its cache keeps finished
        ones only): ~1 s for a queue of 3,000 waiting cells on PostgreSQL, paid on every pop."""
        from optuna.storages._rdb import models

        session = self.scoped_session()
        try:
            query = (session.query(models.TrialModel.trial_id).filter(models.TrialModel.study_id == study_id)
                     .filter(models.TrialModel.state.in_(states)).order_by(models.TrialModel.trial_id))
            return [tid for (tid,) in (query.limit(limit) if limit else query)]
        finally:
            session.close()

    def running_attr(self, study_id: int, key: str) -> list:
        """The user attribute `key` of each RUNNING trial of a study (None where it has none): one
        query of one column, where a read of the trials builds each whole (an idle worker asks
        whose they are every few seconds: grid.others_running)."""
        import json

        from optuna.storages._rdb import models

        trials, attrs = models.TrialModel, models.TrialUserAttributeModel
        session = self.scoped_session()
        try:
            rows = (session.query(attrs.value_json).select_from(trials)
                    .outerjoin(attrs, (attrs.trial_id == trials.trial_id) & (attrs.key == key))
                    .filter(trials.study_id == study_id).filter(trials.state == TrialState.RUNNING).all())
            return [None if value is None else json.loads(value) for (value,) in rows]
        finally:
            session.close()

    def pop_waiting(self, study_id: int, limit: int) -> list[int]:
        """Move up to `limit` WAITING trials of a study to RUNNING: the ids this process owns now.
        Each move is one conditional update (`... WHERE state = 'WAITING'`: ours if it changed a
        row), atomic on every SQL database: Optuna's moves lock the row with SELECT ... FOR UPDATE,
        which SQLite ignores, so two processes popping one SQLite file both took a cell (a review:
        77 of 300 popped twice). Tried on the oldest waiting ids a query of ids returns, in random
        order (workers popping at once then rarely race for the same one), so a pop costs the same
        at any queue length (Optuna's pop reads the whole queue first: Study._pop_waiting_trial_id).
        Each trial's first heartbeat is recorded as it is taken, by the database's clock: a worker
        dying right after has left a beat that goes stale, where the only other sign was its
        datetime_start, by the popping machine's clock, which a reaper whose clock runs behind
        reads as a start in the future."""
        owned: list[int] = []
        tried: set[int] = set()
        while len(owned) < limit:
            ids = [t for t in self.trial_ids_in(study_id, (TrialState.WAITING,), 2 * (limit - len(owned)) + 8)
                   if t not in tried]
            if not ids:
                break
            random.shuffle(ids)
            for tid in ids:
                tried.add(tid)
                if self._take(tid):
                    owned.append(tid)
                    self._first_beat(tid)
                if len(owned) == limit:
                    break
        return owned

    def _take(self, trial_id: int) -> bool:
        """WAITING -> RUNNING (its start time as Optuna 5 stores it: naive UTC), if it still waits: True when
        this call moved it. Retried whole: a move whose answer was lost reads False on its retry,
        and the trial, RUNNING and unnamed, is reaped as an orphan (grid.dead_trials)."""
        import sqlalchemy
        from optuna.storages._rdb import models

        table = models.TrialModel.__table__
        with self.engine.begin() as db:
            moved = db.execute(sqlalchemy.update(table).where(table.c.trial_id == trial_id)
                               .where(table.c.state == TrialState.WAITING)
                               .values(state=TrialState.RUNNING, datetime_start=datetime.datetime.now(
                                   datetime.timezone.utc).replace(tzinfo=None)))
            return moved.rowcount == 1

    def _first_beat(self, trial_id: int) -> None:
        if self.heartbeat_interval is None:
            return
        try:
            self.record_heartbeat(trial_id)
        except Exception:  # noqa: BLE001 - as grid.heartbeat's beats: a missed beat only risks a retry
            pass

    def create_trials(self, study_id: int, templates: list[FrozenTrial]) -> None:
        """Add a trial per template (no values or intermediate values) to a study, writing what
        Optuna's create_new_trial writes for it (the same rows: number, state, datetimes, params
        with their distributions, user and system attributes), ADD_CHUNK trials a transaction.
        Each chunk is retried whole on a lost connection (_add_chunk), and written once."""
        for start in range(0, len(templates), ADD_CHUNK):
            self._add_chunk(study_id, templates[start:start + ADD_CHUNK], [])

    def _add_chunk(self, study_id: int, templates: list[FrozenTrial], tried: list[int]) -> None:
        """One transaction of create_trials; retried whole (_retrying), with `tried` holding the
        trial ids the previous try had inserted. Numbered as Optuna numbers a trial: with the
        study's row locked (FOR UPDATE on PostgreSQL, as Optuna's create_new_trial locks it; SQLite
        has one writer at a time, from the first insert on), a trial's number is the count of the
        study's trials before it, read after the insert."""
        import sqlalchemy
        from optuna.storages._rdb import models

        trials, studies = models.TrialModel.__table__, models.StudyModel.__table__
        with self.engine.begin() as db:
            if db.execute(sqlalchemy.select(studies.c.study_id).where(studies.c.study_id == study_id)
                          .with_for_update()).scalar() is None:
                raise KeyError(f"No study with study_id {study_id} exists.")
            if tried and self._landed(db, study_id, tried[0]):
                return   # the previous try's commit went through; its answer was lost
            ids = list(db.execute(sqlalchemy.insert(trials).returning(trials.c.trial_id, sort_by_parameter_order=True),
                                  [{"study_id": study_id, "number": None, "state": t.state,
                                    "datetime_start": _naive_utc(t.datetime_start),
                                    "datetime_complete": _naive_utc(t.datetime_complete)} for t in templates]).scalars())
            tried[:] = ids
            # after the insert, as Optuna checks: SQLite's transaction (its write lock) starts there
            _check_distributions(db, study_id, templates)
            before = db.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(trials).where(
                trials.c.study_id == study_id).where(trials.c.trial_id < min(ids))).scalar()
            db.execute(sqlalchemy.update(trials).where(trials.c.trial_id == sqlalchemy.bindparam("tid"))
                       .values(number=sqlalchemy.bindparam("n")),
                       [{"tid": tid, "n": before + i} for i, tid in enumerate(sorted(ids))])
            _insert_fields(db, ids, templates)

    def _landed(self, db, study_id: int, trial_id: int) -> bool:
        """Whether a trial id that an earlier try inserted exists: its transaction committed. Asked
        after the study's lock is ours, so that transaction has ended. On PostgreSQL only: a
        sequence never hands an id out twice, where SQLite gives a rolled-back row's id to the
        next insert (and a SQLite file's commit that raised did not happen)."""
        import sqlalchemy
        from optuna.storages._rdb import models

        if self.engine.dialect.name != "postgresql":
            return False
        trials = models.TrialModel.__table__
        return db.execute(sqlalchemy.select(trials.c.trial_id).where(trials.c.trial_id == trial_id)
                          .where(trials.c.study_id == study_id)).first() is not None

    def database_uptime(self) -> float:
        """Seconds since the database server last started, by its clock; inf where the database
        does not say. A crash restart (a backend that crashed, or was killed) ends every session and
        frees every lock, but keeps pg_postmaster_start_time: the checkpointer, started again then,
        tells it (its row is hidden from a role without pg_read_all_stats: the postmaster's start)."""
        import sqlalchemy

        if self.engine.dialect.name != "postgresql":
            return math.inf
        session = self.scoped_session()
        try:
            return float(session.execute(sqlalchemy.text(
                "SELECT EXTRACT(EPOCH FROM now() - greatest(pg_postmaster_start_time(), (SELECT min(backend_start) "
                "FROM pg_stat_activity WHERE backend_type = 'checkpointer')))")).scalar())
        finally:
            session.close()

    def locked_session(self, key: int, idle_s: float, waiting):
        """A connection (AUTOCOMMIT) holding PostgreSQL's session advisory lock `key`, on a session
        the server ends after `idle_s` of silence (enqueue_lock.exclusive's; from PostgreSQL 14 on).
        `waiting()` is called before it waits for another holder. Retried whole, as every call: a
        connection lost while connecting or waiting (a restart, a session ended) held no lock, and
        an enqueue or a takeover that waited crashed on it."""
        import sqlalchemy

        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            try:   # an older server, or a pooler that refuses it: the lock as before
                conn.execute(sqlalchemy.text(f"SET idle_session_timeout = {int(idle_s * 1000)}"))
            except Exception as e:
                if transient(e):
                    raise
                conn.rollback()
            if not conn.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                waiting()
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            return conn
        except BaseException:
            conn.close()
            raise

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("outage", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.outage = _Outage()


def _naive_utc(when: Optional[datetime.datetime]) -> Optional[datetime.datetime]:
    """A trial's datetime as Optuna 5's RDB storage stores it (TrialModel's setters): naive UTC."""
    return None if when is None else when.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def _check_distributions(db, study_id: int, templates: list[FrozenTrial]) -> None:
    """ValueError, as Optuna's create_new_trial raises it, for a param whose distribution does
    not fit the one the study has for that name already (one query for all the names)."""
    import sqlalchemy
    from optuna import distributions
    from optuna.storages._rdb import models

    params, trials = models.TrialParamModel.__table__, models.TrialModel.__table__
    names = sorted({name for t in templates for name in t.distributions})
    if not names:
        return
    known = {name: distributions.json_to_distribution(d) for name, d in db.execute(
        sqlalchemy.select(params.c.param_name, sqlalchemy.func.min(params.c.distribution_json))
        .join(trials, trials.c.trial_id == params.c.trial_id).where(trials.c.study_id == study_id)
        .where(params.c.param_name.in_(names)).group_by(params.c.param_name))}
    for t in templates:
        for name, distribution in t.distributions.items():
            distributions.check_distribution_compatibility(known.setdefault(name, distribution), distribution)


def _insert_fields(db, trial_ids: list[int], templates: list[FrozenTrial]) -> None:
    """The params and attributes of new trials, one insert a table (what Optuna's create_new_trial
    writes row by row)."""
    import json

    import sqlalchemy
    from optuna import distributions
    from optuna.storages._rdb import models

    params = [{"trial_id": tid, "param_name": name, "param_value": t.distributions[name].to_internal_repr(value),
               "distribution_json": distributions.distribution_to_json(t.distributions[name])}
              for tid, t in zip(trial_ids, templates) for name, value in t.params.items()]
    user = [{"trial_id": tid, "key": k, "value_json": json.dumps(v)}
            for tid, t in zip(trial_ids, templates) for k, v in t.user_attrs.items()]
    system = [{"trial_id": tid, "key": k, "value_json": json.dumps(v)}
              for tid, t in zip(trial_ids, templates) for k, v in t.system_attrs.items()]
    for model, rows in ((models.TrialParamModel, params), (models.TrialUserAttributeModel, user),
                        (models.TrialSystemAttributeModel, system)):
        if rows:
            db.execute(sqlalchemy.insert(model.__table__), rows)


for _name in ("create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
              "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
              "get_study_system_attrs", "get_all_studies", "_create_new_trial", "_set_trial_param", "get_trial_param",
              "set_trial_state_values", "set_trial_intermediate_value", "set_trial_user_attr",
              "set_trial_system_attr", "get_trial_id_from_study_id_trial_number", "get_trial", "_get_trials",
              "_get_best_trial_id", "record_heartbeat", "_get_stale_trial_ids", "heartbeat_ages", "trial_ids_in", "_take",
              "running_attr",
              "_add_chunk", "database_uptime",
              "locked_session"):
    setattr(RetryingRDBStorage, _name, _retrying(getattr(RetryingRDBStorage, _name)))


def check_storage(url: str) -> None:
    if in_memory(url):
        raise UsageError(f"--storage = {url!r}: {IN_MEMORY}, e.g. sqlite:///optuna.db (or journal:optuna.journal)")
    try:
        get_storage(url)
    except Exception as e:
        raise storage_error(url, e) from None


# The database driver a URL names, when it is not installed: the package that brings it.
DRIVERS = {"MySQLdb": "mysqlclient (or write mysql+pymysql:// and install PyMySQL)", "pyodbc": "pyodbc",
           "oracledb": "oracledb", "psycopg2": "psycopg2-binary (or write postgresql+psycopg://: psycopg 3 is installed)",
           "pymysql": "PyMySQL"}


def driver_missing(e: BaseException) -> Optional[str]:
    """What to install when SQLAlchemy could not load a URL's driver (a MySQL URL here: "No
    module named 'MySQLdb'"); None for any other error (a refused connection, an unknown scheme:
    storage_error's hints)."""
    while e.__cause__ is not None and not isinstance(e, ModuleNotFoundError):
        e = e.__cause__   # Optuna's "Failed to import DB access module" says which module only in its cause
    if isinstance(e, ModuleNotFoundError):
        return f"its database driver is not installed (no module {e.name!r}): pip install {DRIVERS.get(e.name, e.name)}"
    return None


# PostgreSQL 15+: only a database's owner may create tables in its public schema (a database
# createdb made as postgres refuses every other role)
CREATE_TABLES_HINT = ("this role may not create tables there: make it the database's owner (createdb -O <role>, "
                      "or ALTER DATABASE <db> OWNER TO <role>; since PostgreSQL 15 others may not)")


def storage_error(storage: str, e: Exception) -> UsageError:
    # SQLAlchemy/driver errors carry long multi-line texts (and the URL); the user needs one line.
    if missing := driver_missing(e):
        return UsageError(f"--storage = {mask_credentials(storage)!r}: cannot open the Optuna storage: {missing}")
    first = str(e).splitlines()[0][:200] if str(e) else ""
    hint = "; SQLAlchemy names PostgreSQL postgresql://, not postgres://" if storage.startswith("postgres://") else \
        (f"; {CREATE_TABLES_HINT}" if "permission denied for schema public" in str(e) else "") or \
        ("; a storage is journal:<file>, sqlite:///<file>, postgresql://user@host/db or mysql://user@host/db"
         if "Can't load plugin" in str(e) else "") or \
        (f"; a storage is a URL: journal:{storage} for a journal file, sqlite:///{storage} for SQLite, or "
         "postgresql://user@host/db" if ":" not in storage else "")   # a bare path (not sqlite:x, not C:\\x)
    return UsageError(f"--storage = {mask_credentials(storage)!r}: cannot open the Optuna storage "
                      f"({type(e).__name__}: {mask_credentials(first)}){hint}")


def heartbeats_enabled(storage: optuna.storages.BaseStorage) -> bool:
    """RDB storages record heartbeats (see get_storage); journal storages do not. (Optuna 5 has
    no is_heartbeat_enabled method any more: a storage with a heartbeat interval has them.)"""
    return getattr(storage, "get_heartbeat_interval", lambda: None)() is not None
