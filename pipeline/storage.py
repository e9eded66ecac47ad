"""Optuna storages: which storage a URL names (a journal file by default, or a database), opened
once per process (get_storage: a database's first connection waits for one starting up), writes
that land together on either kind (batched_writes, add_trials), and a bad URL's error in one line.
The storages themselves are storage_journal.py's (BatchingJournalStorage) and storage_rdb.py's
(RetryingRDBStorage, riding out a restart of the database with storage_outage.py); what is stored
in them, the grid, is grid.py's."""

from __future__ import annotations

import functools
import os
import sys
import time
import warnings
from contextlib import contextmanager
from typing import Optional

import optuna
from optuna.trial import FrozenTrial

from .errors import UsageError
from .runtime import mask_credentials
from .store_paths import IN_MEMORY, absolute_sqlite_url, in_memory, is_sqlite
from .storage_journal import BatchingJournalStorage
from .storage_outage import RETRY_FIRST_S, RETRY_MAX_S, root_cause_line
from .storage_rdb import RetryingRDBStorage


# A journal file: appends instead of SQL transactions (Optuna's SQLite storage spent ~70 ms of
# Python per trial here), and safe for several worker processes on one machine.
DEFAULT_STORAGE = "journal:optuna.journal"
JOURNAL_PREFIX = "journal:"
# Heartbeats are "experimental" in Optuna; the warning would break our one-line errors.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# We record heartbeats ourselves (ask/tell), which Optuna warns about: it works as intended.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
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
