"""MLflow's SQL tables written directly: the bulk fast paths of tracking.py.

MLflow opens a run with three calls and finishes it with two, each a transaction of ORM
statements (~30 ms of Python a trial on small data). With MLflow's SQL stores (SQLite,
PostgreSQL) tracking.py writes a population's runs through these functions instead: the rows
MLflow's own calls write, in one transaction per population. This module knows MLflow's schema;
tracking.py knows the run tree; nothing else touches either.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from functools import lru_cache
from typing import Optional

from mlflow import MlflowClient
from mlflow.entities import DatasetInput, Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME, MLFLOW_USER

from . import arms, runtree
from .store_paths import sqlite_file


def now_ms() -> int:
    return int(time.time() * 1000)


def param_value(v) -> str:
    """A param as MLflow stores it: a string of at most 6000 characters."""
    s = str(v)
    return s if len(s) <= 6000 else s[:5997] + "..."


@lru_cache(maxsize=1)
def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:   # no login name (a container without one): what MLflow writes then
        return "unknown"


@dataclass
class NewRun:
    """A child run to open: its parent, name, tags, params and dataset input."""
    parent_id: str
    name: str
    tags: dict
    params: dict
    dataset_input: Optional[DatasetInput] = None
    kind: str = runtree.TRIAL

    def all_tags(self) -> dict[str, str]:
        """Its tags as strings, with the link to its parent, its kind and who ran it (the UI's
        "Created by", which MLflow's fluent API fills in from the same lookup)."""
        return {MLFLOW_PARENT_RUN_ID: self.parent_id, runtree.KIND: self.kind, MLFLOW_USER: _user(),
                runtree.UI_ORDER: runtree.ui_order(self.kind, self.tags.get(runtree.SEED), arm := self.tags.get(runtree.ARM, ""),
                                                   arm_rank=list(arms.ARMS).index(arm) if arm in arms.ARMS else len(arms.ARMS)),
                **{k: str(v) for k, v in self.tags.items()}}

    def param_list(self) -> list[Param]:
        return [Param(k, param_value(v)) for k, v in self.params.items()]



# The tracking fast paths below write MLflow's SQL tables directly, as MLflow's own store code
# writes them; they are used only while MLflow's schema is the one they were written and tested
# against (tests/test_tracking.py reads everything back through MlflowClient and compares it with
# what MLflow's own calls wrote). Any other schema, or any other store (an `mlflow server` over
# HTTP), gets MLflow's own calls.
KNOWN_SCHEMA = "dc11669786a5"  # MLflow 3.17's latest migration


@lru_cache(maxsize=1)
def _schema_is_known() -> bool:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision() == KNOWN_SCHEMA


def sql_store(client: MlflowClient):
    """The client's SqlAlchemyStore when the fast paths may use it, else None. (The store checks
    on opening that the database is at MLflow's latest migration, so checking MLflow's is enough.)"""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    return store if isinstance(store, SqlAlchemyStore) and _schema_is_known() else None


# long: one transaction's rows, built in the order MLflow's own calls write them
def create_runs(client: MlflowClient, experiment_id: str, runs: list[NewRun]) -> Optional[dict[str, str]]:
    """Open child runs with their tags, params and dataset input in one transaction on MLflow's
    SQL store: {run_id: artifact_uri}, in the order given; None, with nothing written, when the
    fast path is not available.

    Why: MLflow opens a run with three calls (create_run, log_batch of params, log_inputs), each
    its own transaction of several ORM statements: ~10 ms of Python a run, half of a small
    trial's bookkeeping. The rows are the ones those calls write (SqlAlchemyStore.create_run,
    _log_params, _log_inputs_impl), validated by MLflow's own validators."""
    store = sql_store(client)
    if store is None or not runs:
        return None
    import uuid

    from mlflow.entities import LifecycleStage, RunStatus, SourceType
    from mlflow.store.tracking.dbmodels.models import (SqlDataset, SqlExperiment, SqlInput, SqlInputTag, SqlParam,
                                                       SqlRun, SqlTag)
    from mlflow.utils.uri import append_to_uri_path
    from mlflow.utils.validation import _validate_batch_log_data

    now = now_ms()
    created: dict[str, str] = {}
    rows: dict[type, list[dict]] = {SqlRun: [], SqlTag: [], SqlParam: [], SqlDataset: [], SqlInput: [], SqlInputTag: []}
    datasets: dict[tuple[str, str], str] = {}  # (name, digest) -> dataset uuid
    with store.ManagedSessionMaker(read_only=False) as session:
        # the two columns create_run checks (store.get_experiment also loads every experiment
        # tag, the UI's shared views among them: ~5 ms a call)
        experiment = store._get_query(session, SqlExperiment) \
            .with_entities(SqlExperiment.artifact_location, SqlExperiment.lifecycle_stage) \
            .filter(SqlExperiment.experiment_id == int(experiment_id)).one_or_none()
        if experiment is None:   # MLflow's own lookup: its "not found" (or the experiment after all)
            experiment = store.get_experiment(experiment_id)
        store._check_experiment_is_active(SimpleNamespace(experiment_id=experiment_id,
                                                          lifecycle_stage=experiment.lifecycle_stage))
        wanted = {(r.dataset_input.dataset.name, r.dataset_input.dataset.digest): r.dataset_input.dataset
                  for r in runs if r.dataset_input is not None}
        if wanted:  # a dataset already logged in this experiment is reused, as log_inputs does
            for d in session.query(SqlDataset).filter(SqlDataset.experiment_id == int(experiment_id),
                                                      SqlDataset.name.in_([k[0] for k in wanted]),
                                                      SqlDataset.digest.in_([k[1] for k in wanted])):
                datasets[(d.name, d.digest)] = d.dataset_uuid
            for key, ds in wanted.items():
                if key not in datasets:
                    datasets[key] = uuid.uuid4().hex
                    rows[SqlDataset].append(dict(
                        dataset_uuid=datasets[key], experiment_id=int(experiment_id), name=ds.name, digest=ds.digest,
                        dataset_source_type=ds.source_type, dataset_source=ds.source, dataset_schema=ds.schema,
                        dataset_profile=ds.profile))
        for r in runs:
            run_id = uuid.uuid4().hex
            tags = {**r.all_tags(), MLFLOW_RUN_NAME: r.name}  # create_run adds the name tag
            _, params, tag_list = _validate_batch_log_data([], r.param_list(), [RunTag(k, v) for k, v in tags.items()])
            created[run_id] = append_to_uri_path(experiment.artifact_location, run_id, store.ARTIFACTS_FOLDER_NAME)
            rows[SqlRun].append(dict(
                run_uuid=run_id, name=r.name, artifact_uri=created[run_id], experiment_id=int(experiment_id),
                source_type=SourceType.to_string(SourceType.UNKNOWN), source_name="", entry_point_name="",
                user_id=tags.get(MLFLOW_USER, "unknown"), status=RunStatus.to_string(RunStatus.RUNNING),
                start_time=now, end_time=None, deleted_time=None, source_version="",
                lifecycle_stage=LifecycleStage.ACTIVE))
            rows[SqlTag] += [dict(key=t.key, value=t.value, run_uuid=run_id) for t in tag_list]
            rows[SqlParam] += [dict(key=p.key, value=p.value, run_uuid=run_id) for p in params]
            if r.dataset_input is not None:
                ds = r.dataset_input.dataset
                input_id = uuid.uuid4().hex
                rows[SqlInput].append(dict(input_uuid=input_id, source_type="DATASET",
                                           source_id=datasets[(ds.name, ds.digest)], destination_type="RUN",
                                           destination_id=run_id))
                rows[SqlInputTag] += [dict(input_uuid=input_id, name=t.key, value=t.value) for t in r.dataset_input.tags]
        for model, values in rows.items():  # parents before children: the foreign keys' order
            if values:
                session.execute(model.__table__.insert(), values)  # Core: no per-row ORM work
    return created


def finish_runs(client: MlflowClient, metrics: dict[str, list[Metric]], status: str = "FINISHED") -> bool:
    """Write runs' metrics and end them with `status`, in one transaction on MLflow's SQL store.
    False, with nothing written, when the fast path is not available or a run already has one
    of these metrics (the caller then uses MLflow's calls, which merge them).

    Why: MlflowClient.log_batch builds an ORM object per row and compares each with the run's
    latest value (a known cost upstream: mlflow/mlflow#3010): for a trial's ~225 rows ~18 ms of
    Python. The bulk rows are the ones log_batch writes (the same sanitizing of NaN and
    infinities, the same "latest" rule: highest step, then timestamp, then value), and the end is
    what set_terminated writes."""
    store = sql_store(client)
    if store is None or not metrics:
        return False
    import sqlalchemy
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlRun

    rows, latest = [], []
    for run_id, run_metrics in metrics.items():
        r, lat = _metric_rows(store, run_id, run_metrics)
        rows += r
        latest += lat
    try:
        # read_only=False: MLflow routes read-only sessions to a read replica when one is set up
        with store.ManagedSessionMaker(read_only=False) as session:
            found = {run.run_uuid: run for run in
                     session.query(SqlRun).filter(SqlRun.run_uuid.in_(list(metrics)))}
            for run_id in metrics:  # as log_batch and set_terminated check
                if run_id not in found:
                    store._get_run(run_uuid=run_id, session=session)  # raises MLflow's "not found"
                store._check_run_is_active(found[run_id])
            if rows:
                session.execute(SqlMetric.__table__.insert(), rows)
                session.execute(SqlLatestMetric.__table__.insert(), latest)
            if status is not None:
                session.execute(sqlalchemy.update(SqlRun).where(SqlRun.run_uuid.in_(list(metrics)))
                                .values(status=status, end_time=now_ms()))
    except MlflowException as e:
        if isinstance(e.__cause__, sqlalchemy.exc.IntegrityError):
            return False  # rolled back: a run has some of these metrics already
        raise
    return True


def insert_new_metrics(client: MlflowClient, run_id: str, metrics: list[Metric]) -> bool:
    """One run's metrics as bulk rows (finish_runs without ending the run)."""
    return bool(metrics) and finish_runs(client, {run_id: metrics}, status=None)


def _metric_rows(store, run_id: str, metrics: list[Metric]) -> tuple[list[dict], list[dict]]:
    """The metrics and latest_metrics rows log_batch would write for these metrics."""
    rows, latest = {}, {}
    for m in metrics:
        is_nan, value = store.sanitize_metric_value(float(m.value))
        row = {"run_uuid": run_id, "key": m.key, "value": value, "timestamp": int(m.timestamp),
               "step": int(m.step), "is_nan": is_nan}
        rows[(m.key, row["timestamp"], row["step"], value, is_nan)] = row  # log_batch drops exact duplicates
        best = latest.get(m.key)
        if best is None or (row["step"], row["timestamp"], value) > (best["step"], best["timestamp"], best["value"]):
            latest[m.key] = row
    return list(rows.values()), list(latest.values())


# --- reading: what the report needs of many runs at once ---------------------------------------

READ_CHUNK = 500  # run ids per query: well under SQLite's and PostgreSQL's bound-parameter limits


def metric_histories(client: MlflowClient, run_ids: list[str], keys: tuple[str, ...]) -> Optional[dict]:
    """{run_id: {key: [values in step order]}} for these runs and metric keys, read from MLflow's
    SQL store in one query per READ_CHUNK runs; None when the fast path is not available.

    Why: MlflowClient.get_metric_history is one call per run and key (6,400 calls, ~60 s, for a
    3,200-trial report), and the store's own get_metric_history_bulk (one key, ORM objects) reads
    ~30 us a row against ~4 us here. The rows are the ones get_metric_history returns (the same
    NaN flag; its order: step, then timestamp, then value), which tests/test_tracking.py checks."""
    store = sql_store(client)
    if store is None:
        return None
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.models import SqlMetric

    found: dict[str, dict[str, list]] = {}
    cols = (SqlMetric.run_uuid, SqlMetric.key, SqlMetric.step, SqlMetric.timestamp, SqlMetric.value, SqlMetric.is_nan)
    with store.ManagedSessionMaker() as session:
        for start in range(0, len(run_ids), READ_CHUNK):
            query = sqlalchemy.select(*cols).where(SqlMetric.key.in_(list(keys)),
                                                   SqlMetric.run_uuid.in_(run_ids[start:start + READ_CHUNK]))
            for run, key, step, ts, value, is_nan in session.execute(query):
                found.setdefault(run, {}).setdefault(key, []).append((step, ts, value, is_nan))
    # sorted on the stored row (a NaN is stored as 0 with its flag), as the store's query sorts
    return {run: {key: [math.nan if is_nan else value for *_, value, is_nan in sorted(rows)]
                  for key, rows in series.items()}
            for run, series in found.items()}


def runs_with_tags(client: MlflowClient, tags: dict[str, str]) -> Optional[list[dict]]:
    """Every active run of an active experiment whose tags have these values, as dicts of plain
    values (run_id, experiment_id, run_name, status, start_time, end_time, artifact_uri, tags,
    params, metrics: the latest value of each, NaN where MLflow stored one), read from MLflow's
    SQL store in one query for the runs and one per READ_CHUNK runs for their tags, params and
    latest metrics; None when the fast path is not available (or a subclass of MLflow's store,
    such as its workspace-aware one, may filter what a search sees).

    Why: MlflowClient.search_runs builds ORM objects and entities, ~1.8 ms a run here: 26 of the
    33 s a 12,800-trial report took from SQLite. These are the runs and values search_runs with
    "tags.k = 'v' AND ..." returns (tests/test_tracking.py compares them), ~0.2 ms a run."""
    store = sql_store(client)
    if store is None or type(store).__name__ != "SqlAlchemyStore":
        return None
    import sqlalchemy
    from mlflow.entities import LifecycleStage
    from mlflow.store.tracking.dbmodels.models import SqlExperiment, SqlLatestMetric, SqlParam, SqlRun, SqlTag

    query = sqlalchemy.select(SqlRun.run_uuid, SqlRun.experiment_id, SqlRun.name, SqlRun.status, SqlRun.start_time,
                              SqlRun.end_time, SqlRun.artifact_uri).join(
        SqlExperiment, SqlExperiment.experiment_id == SqlRun.experiment_id).where(
        SqlRun.lifecycle_stage == LifecycleStage.ACTIVE, SqlExperiment.lifecycle_stage == LifecycleStage.ACTIVE)
    for i, (key, value) in enumerate(tags.items()):
        t = sqlalchemy.orm.aliased(SqlTag, name=f"t{i}")
        query = query.join(t, sqlalchemy.and_(t.run_uuid == SqlRun.run_uuid, t.key == key, t.value == value))
    query = query.order_by(SqlRun.start_time.desc(), SqlRun.run_uuid)  # search_runs' default order
    with store.ManagedSessionMaker() as session:
        runs = {r[0]: dict(run_id=r[0], experiment_id=str(r[1]), run_name=r[2] or "", status=r[3], start_time=r[4],
                           end_time=r[5], artifact_uri=r[6], tags={}, params={}, metrics={})
                for r in session.execute(query)}
        ids = list(runs)
        for start in range(0, len(ids), READ_CHUNK):
            chunk = ids[start:start + READ_CHUNK]
            for run, key, value in session.execute(sqlalchemy.select(SqlTag.run_uuid, SqlTag.key, SqlTag.value)
                                                   .where(SqlTag.run_uuid.in_(chunk))):
                runs[run]["tags"][key] = value
            for run, key, value in session.execute(sqlalchemy.select(SqlParam.run_uuid, SqlParam.key, SqlParam.value)
                                                   .where(SqlParam.run_uuid.in_(chunk))):
                runs[run]["params"][key] = value
            for run, key, value, is_nan in session.execute(
                    sqlalchemy.select(SqlLatestMetric.run_uuid, SqlLatestMetric.key, SqlLatestMetric.value,
                                      SqlLatestMetric.is_nan).where(SqlLatestMetric.run_uuid.in_(chunk))):
                runs[run]["metrics"][key] = math.nan if is_nan else value
    return list(runs.values())


SETTLE_S = 5.0   # a store file this recently written may be one another process is creating


@contextmanager
def store_creation_lock(uri: str):
    """While a process of this pipeline opens a SQLite store (MLflow creates and migrates a new
    one's tables, ~3 s), no other does: two `ablation`s started at once in a fresh folder both
    migrated it, and one stopped with a traceback ("table entity_associations already exists").
    An flock on the store's folder (no lock file beside it; the kernel releases it with the
    process), on this machine (on a network folder other machines may not see it); milliseconds
    where the store exists: MLflow's store module (0.6 s to import) is imported before it is
    taken. Other stores, or a folder or file system that allows no lock: nothing."""
    import fcntl
    import importlib
    import os

    path = sqlite_file(uri)
    folder = os.path.dirname(os.path.abspath(path)) if path else ""
    try:
        handle = os.open(folder, os.O_RDONLY) if folder else None
    except OSError:   # a folder we may not open: MLflow says what is wrong with it
        handle = None
    if handle is None:
        yield
        return
    try:
        importlib.import_module("mlflow.store.tracking.sqlalchemy_store")   # outside the lock: every process imports it
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:   # ENOLCK and the like: go on as before the lock
            pass
        yield
    finally:
        os.close(handle)   # releases the lock


def _left_behind(path) -> tuple[list[str], int]:
    """(the `_alembic_tmp_` tables in a SQLite file, how many rows it holds beyond an empty store's:
    the migration's version, the Default experiment and the default workspace); ([], 0) for a file
    that is not SQLite or is locked past a minute."""
    import sqlite3
    from contextlib import closing

    try:
        with closing(sqlite3.connect(path, timeout=60)) as db:   # not read-only: a hot journal is rolled back first, as MLflow would
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            if not (left := sorted(t for t in tables if t.startswith("_alembic_tmp_"))):
                return [], 0   # the usual case: no row counted (a big store's metrics would take seconds)
            rows = {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables if t != "alembic_version"}
    except sqlite3.Error:
        return [], 0
    return left, sum(rows.values()) - sum(min(rows.get(t, 0), 1) for t in ("experiments", "workspaces"))   # the defaults


def recover_interrupted_creation(uri: str) -> Optional[str]:
    """A SQLite store whose creation a killed process cut short (kill -9 in the ~3 s MLflow takes
    to create and migrate its tables): MLflow's migration left a table `_alembic_tmp_<name>` behind,
    and every later command stopped on "table _alembic_tmp_... already exists". A store that holds
    no row but the migration's version and the Default experiment, nothing a user could lose, is
    moved aside (to `<file>.interrupted`, or .interrupted.1, ...) for MLflow to create afresh; the
    note that says so is returned. A store with anything in it (an upgrade cut short) is left as it
    is, with one line on what to do (UsageError).
    None where there is nothing to recover: not SQLite, no file yet, or no table left behind."""
    from pathlib import Path

    from .errors import UsageError

    path = Path(sqlite_file(uri) or "")
    if not path.name or not path.is_file():
        return None
    left, held = _left_behind(path)
    if left and (young := time.time() - path.stat().st_mtime) < SETTLE_S:
        time.sleep(SETTLE_S - young)   # another process may be creating it right now (`make ui` beside a run)
        left, held = _left_behind(path)
    if not left:
        return None
    if held:
        raise UsageError(f"the MLflow store {path} was left mid-upgrade by a process stopped while MLflow migrated its "
                         f"tables (it left {', '.join(left)} behind); back the file up, then drop "
                         f"{'that table' if len(left) == 1 else 'those tables'} where the table of the same name without "
                         "_alembic_tmp_ exists (sqlite3), and rerun")
    aside = next(p for n in range(1000) if not (p := path.with_name(path.name + ".interrupted" + (f".{n}" if n else ""))).exists())
    for suffix in ("-journal", "-wal", "-shm", ""):   # a journal left beside a new store would be applied to it
        if (side := path.with_name(path.name + suffix)).exists():
            side.replace(aside.with_name(aside.name + suffix))
    return (f"note: {path} was left half-created by a process stopped while MLflow created its tables; it held no "
            f"runs: moved to {aside.name}, and MLflow creates the store afresh")
