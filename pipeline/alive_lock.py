"""A process's liveness, readable from any host: a process that opens runs of its own (a study's
root, its dataset and tuning parents) on a PostgreSQL storage holds, for its life, a session
advisory lock named after it (its worker name), and tags those runs ALIVE_LOCK. PostgreSQL frees
the lock when the process's connection closes: a SIGKILL or a crash at once, a lost machine once
TCP gives up. A process that finds the lock held by no session (pg_locks) knows its holder is
gone, on whatever host it ran.

Neither signal that was at hand tells it: a pid is known on its own host only, and a live process
beats for no trial between cells, while it waits for others' cells, or while a paused one's cells
are taken over (liveness.dead_trials reaps those, and it lives on). The lock outlives a pause (no
idle_session_timeout on its session); after a database restart, which frees every lock, its
holder takes it again within a beat, and a free lock counts only on a database up longer than
RETAKE_S."""

from __future__ import annotations

import threading
import time

from . import runtree as rt
from .runtime import worker_id
from .storage import GRACE_S, HEARTBEAT_S, get_storage
from .storage_rdb import advisory_key

RETAKE_S = GRACE_S   # a holder pings every HEARTBEAT_S and takes its lock again after a restart well within this

_held: set = set()   # (worker name, storage URL) of the locks this process holds


def _key(worker: str) -> int:
    return advisory_key(f"alive {worker}")


def hold(url: str) -> dict[str, str]:
    """Take this process's lock on a PostgreSQL storage, once per process, and keep it; the tags
    of a run this process owns: its worker name, and ALIVE_LOCK where the lock is held."""
    me = worker_id()
    if url.startswith("postgresql") and (me, url) not in _held:
        conn = get_storage(url).locked_session(_key(me), 0, lambda: None)   # 0: no idle limit (a pause keeps it)
        _held.add((me, url))
        threading.Thread(target=_keep, args=(url, me, conn), name="alive-lock", daemon=True).start()
    return {rt.WORKER: me, **({rt.ALIVE_LOCK: "yes"} if (me, url) in _held else {})}


def _keep(url: str, me: str, conn) -> None:
    """Ping the lock's session; when it is gone (a database restart) take the lock again."""
    from sqlalchemy import text

    while True:
        time.sleep(HEARTBEAT_S)
        try:
            conn.execute(text("SELECT 1"))
        except Exception:   # noqa: BLE001 - gone with its lock: taken again (retried while the database is away)
            try:
                conn.close()
            except Exception:   # noqa: BLE001
                pass
            try:   # tried once (the next ping tries again), not through the storage's retries: an outage
                # past their limit here would make the process's own calls give up at their next failure
                storage = get_storage(url)
                conn = storage.locked_session.__wrapped__(storage, _key(me), 0, lambda: None)
            except Exception:   # noqa: BLE001 - still away
                pass


def gone(url: str, worker: str) -> bool:
    """Whether the process named `worker`, which held its lock on this PostgreSQL storage (its runs
    are tagged ALIVE_LOCK), is gone: its lock is free, on a database up longer than RETAKE_S."""
    from sqlalchemy import text

    if not url.startswith("postgresql") or worker == worker_id():
        return False
    storage = get_storage(url)
    if storage.database_uptime() <= RETAKE_S:
        return False
    # read in pg_locks, not tried: a try-lock succeeds on the holder's own session, which a pooler in
    # transaction mode (PgBouncer) hands to any client, so a live holder read as gone; and a signal
    # between taking and freeing it left this pooled connection holding a dead one's lock. Any
    # database's: a lock of the same name in another is rather a live process than a coincidence.
    key = _key(worker) & (2 ** 64 - 1)   # a bigint key is shown as two unsigned halves
    try:
        with storage.engine.connect() as conn:
            return not conn.execute(text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                         "AND classid = :hi AND objid = :lo AND objsubid = 1)"),
                                    {"hi": key >> 32, "lo": key & (2 ** 32 - 1)}).scalar()
    except Exception:   # noqa: BLE001 - the database away just now: not known to be gone (a later check tells)
        return False
