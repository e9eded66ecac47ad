"""Riding out a database that does not answer (a restart, a failover, a full connection table):
which errors are a lost connection (transient), this process's view of the outage (Outage: one
line when it goes, one when it is back, StoreUnreachable past $PIPELINE_OUTAGE_S), and the
wrapper that retries a storage call with backoff (retrying). Apart from the SQL (storage_rdb.py):
a process's first connection (storage.get_storage) waits with the same backoff, and the enqueue
lock words a lost connection as these lines do (root_cause_line)."""

from __future__ import annotations

import functools
import math
import threading
import time

from .runtime import StoreUnreachable, caused_by, mask_credentials, outage_limit_s


RETRY_FIRST_S, RETRY_MAX_S = 0.5, 5.0   # backoff between tries of a storage call: 0.5, 1, 2, 4, 5, 5, ...


def transient(e: BaseException) -> bool:
    """A lost or refused database connection (a restart, a failover, a full connection table),
    as opposed to a bad statement: SQLAlchemy's OperationalError or InterfaceError, or a DBAPI
    error that invalidated its connection, raised as is or as the cause of Optuna's
    StorageInternalError."""
    import sqlalchemy.exc as sa

    return caused_by(e, lambda x: isinstance(x, (sa.OperationalError, sa.InterfaceError)) or
                     (isinstance(x, sa.DBAPIError) and x.connection_invalidated))


class Outage:
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


def retrying(method):
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
