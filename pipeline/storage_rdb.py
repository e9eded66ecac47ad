"""Optuna's database storage (SQLite, PostgreSQL, MySQL) as the pipeline uses it: every call
retried through an outage (RetryingRDBStorage, with storage_outage.py's retrying), and the queries
Optuna has no fast way for: a pop that is one conditional update, trials added ADD_CHUNK to a
transaction, heartbeat ages, a column of the running trials, the server's uptime, and PostgreSQL's
advisory lock on its own session (advisory_key, locked_session) for enqueue_lock and alive_lock.
Which URL opens it, and with which connection settings, is storage.py's."""

from __future__ import annotations

import datetime
import logging
import math
import random
from typing import Optional

import optuna
from optuna.trial import FrozenTrial, TrialState

from .storage_outage import Outage, retrying, transient


# Optuna's RDB storage warns when a query fails and it falls back to a slower one; when the
# database is away, the fallback fails too and RetryingRDBStorage says so in one line.
logging.getLogger("optuna.storages._rdb.storage").addFilter(
    lambda record: "Falling back to a slower alternative" not in record.getMessage())
# Trials RetryingRDBStorage.create_trials adds in one transaction: the study's row stays locked
# (no other trial of it created) for a fraction of a second, not for a whole grid's enqueue.
ADD_CHUNK = 500


def advisory_key(name: str) -> int:
    """PostgreSQL's advisory lock key (a signed 64-bit number) for a lock named `name`: the enqueue
    lock's and a process's liveness lock (alive_lock)."""
    import hashlib

    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big", signed=True)


class RetryingRDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage, each call of which rides out a database that does not answer for
    up to outage_limit_s() (a restart, a failover): retried with backoff on a lost or refused
    connection; past the limit StoreUnreachable. Optuna has no retry option of its own; its
    engine gets SQLAlchemy's pool_pre_ping (see storage._storage).

    A call is retried whole. Reads and attribute writes repeat harmlessly; a state change whose
    commit went through just before the connection broke fails on its retry as Optuna does for
    a finished trial (UpdateFinishedTrialError), which the callers handle; a chunk of trials
    added together (create_trials) whose commit went through is not added again (_landed)."""

    def __init__(self, *args, **kwargs):
        self.outage = Outage()
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

    def take_waiting(self, study_id: int, trial_ids: list[int]) -> list[int]:
        """Move these trials to RUNNING where they still wait (one conditional update each, as
        pop_waiting's): the ids this process owns now."""
        return [tid for tid in trial_ids if self._take(tid)]

    def _take(self, trial_id: int) -> bool:
        """WAITING -> RUNNING (its start time as Optuna 5 stores it: naive UTC), if it still waits: True when
        this call moved it. Retried whole: a move whose answer was lost reads False on its retry,
        and the trial, RUNNING and unnamed, is reaped as an orphan (liveness.dead_trials)."""
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
        except Exception:  # noqa: BLE001 - as liveness.heartbeat's beats: a missed beat only risks a retry
            pass

    def create_trials(self, study_id: int, templates: list[FrozenTrial]) -> None:
        """Add a trial per template (no values or intermediate values) to a study, writing what
        Optuna's create_new_trial writes for it (the same rows: number, state, datetimes, params
        with their distributions, user and system attributes), ADD_CHUNK trials a transaction.
        Each chunk is retried whole on a lost connection (_add_chunk), and written once."""
        for start in range(0, len(templates), ADD_CHUNK):
            self._add_chunk(study_id, templates[start:start + ADD_CHUNK], [])

    def _add_chunk(self, study_id: int, templates: list[FrozenTrial], tried: list[int]) -> None:
        """One transaction of create_trials; retried whole (retrying), with `tried` holding the
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

    def __getstate__(self):   # its lock does not pickle: a copy starts with no outage seen (__setstate__)
        return {k: v for k, v in super().__getstate__().items() if k != "outage"}

    def __setstate__(self, state):
        super().__setstate__(state)
        self.outage = Outage()


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
    setattr(RetryingRDBStorage, _name, retrying(getattr(RetryingRDBStorage, _name)))

