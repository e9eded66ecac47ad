"""The enqueue lock: one `enqueue` of a study at a time on its Optuna storage (two at once would
each find a cell missing and add it, and each open a root and a parent run), taken too by a worker
that re-queues a dead worker's cells. PostgreSQL's lock is a session advisory lock on a session the
server ends once its holder stops pinging it (idle_session_timeout), so that a holder frozen with it
holds the others up for LOCK_IDLE_S, not until TCP gives up (hours); a journal or SQLite file's is
flock on a file beside it."""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

from .store_paths import sqlite_file
from .storage import GRACE_S, HEARTBEAT_S, JOURNAL_PREFIX, get_storage
from .storage_outage import root_cause_line
from .storage_rdb import advisory_key


# The PostgreSQL enqueue lock's session is ended by the server once it has said nothing for
# LOCK_IDLE_S, and its holder says something every LOCK_PING_S: a holder frozen with the lock
# (SIGSTOP, a suspended laptop, a network cut) held up every other enqueue and every takeover of
# a dead worker's cells until TCP gave up (hours); now for LOCK_IDLE_S.
LOCK_IDLE_S, LOCK_PING_S = GRACE_S, HEARTBEAT_S


@contextmanager
def _advisory_lock(url: str, key: int, name: str, say):
    """exclusive's PostgreSQL lock: a session advisory lock (released if the process dies with its
    connection), on a session the server ends when its holder stops pinging it."""
    from sqlalchemy import text

    said: list = []

    def waiting() -> None:   # once, also when the wait is tried again over a lost connection
        if not said:
            said.append(say(f"waiting for another enqueue of {name} to finish", flush=True))

    # autocommit: the session lock is held without a transaction open for the enqueue's length
    with get_storage(url).locked_session(key, LOCK_IDLE_S, waiting) as conn:
        done = threading.Event()

        def ping() -> None:   # this thread alone uses the connection until `done`
            while not done.wait(LOCK_PING_S):
                try:
                    conn.execute(text("SELECT 1"))
                except Exception as e:   # gone (a restart, or this process was frozen past LOCK_IDLE_S)
                    print(f"warning: the enqueue lock's connection was lost ({root_cause_line(e)}); another enqueue or "
                          "takeover may run beside this one", file=sys.stderr, flush=True)
                    return

        pinger = threading.Thread(target=ping, name="enqueue-lock-ping", daemon=True)
        pinger.start()
        try:
            yield
        finally:
            done.set()
            pinger.join()   # never two threads on one connection (a ping on a database away ends as a call would)
            try:   # back to the pool as it came
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.execute(text("RESET idle_session_timeout"))
            except Exception:   # the connection is gone (a database restart): so is its lock
                pass


def locks(url: str) -> bool:
    """Whether exclusive() holds a real lock on this storage (PostgreSQL, a journal or SQLite file)."""
    return url.startswith(("postgresql", JOURNAL_PREFIX)) or bool(sqlite_file(url))


@contextmanager
def exclusive(url: str, name: str, say=print):
    """Hold a lock named `name` on the storage while the block runs: two `enqueue`s of one study at
    once (a Kubernetes Job's init containers, one per pod) would each find a cell missing and add
    it, and each open a root and a parent run. PostgreSQL: a session advisory lock (released if
    the process dies with its connection); a journal or SQLite file: flock on a file beside it
    (released by the kernel); other storages: none. `say` is told once when another holds it."""
    key = advisory_key(name)
    if url.startswith("postgresql"):
        with _advisory_lock(url, key, name, say):
            yield
        return
    path = url[len(JOURNAL_PREFIX):] if url.startswith(JOURNAL_PREFIX) else (sqlite_file(url) or None)
    if path is None:
        yield
        return
    import fcntl

    with open(os.path.abspath(path) + ".enqueue.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:   # one lock file per storage file: any study's enqueue on it
            say(f"waiting for another enqueue on {url} to finish", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
