"""MLflow tracking: the run tree of a study, written with explicit run ids.

    root run (the `mlflow run` project run, or one we create)
      └── dataset parent run, e.g. "digits"
            └── trial child run, e.g. "digits/l2/seed3": params, per-epoch metrics, final metrics

Run ids are passed explicitly (MlflowClient) rather than through MLflow's per-thread active-run
stack. Everything the report needs is findable by tags: study, dataset, regularizer, seed, kind.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
BATCH_LIMIT = 900  # MLflow accepts at most 1000 metrics per log_batch call


def tracking_uri(explicit: Optional[str] = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def mask_credentials(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db"""
    return re.sub(r"(//[^/:@]+):[^/@]*@", r"\1:***@", url)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Tracker:
    def __init__(self, uri: Optional[str] = None):
        self.uri = tracking_uri(uri)
        self.client = MlflowClient(self.uri)
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact URI, for the runs we started

    # --- experiment and root ---------------------------------------------------------------
    def experiment_for(self, study_name: str) -> str:
        """The study's experiment. Under `mlflow run` the project run already lives in some
        experiment; nesting only shows within one experiment, so we use that one."""
        project_run = os.environ.get("MLFLOW_RUN_ID")
        if project_run:
            return self.client.get_run(project_run).info.experiment_id
        exp = self.client.get_experiment_by_name(study_name)
        if exp is not None:
            return exp.experiment_id
        try:
            return self.client.create_experiment(study_name)
        except Exception:  # another worker created it first
            return self.client.get_experiment_by_name(study_name).experiment_id

    def root_run(self, experiment_id: str, study_name: str, tags: dict[str, str]) -> str:
        run_id = os.environ.get("MLFLOW_RUN_ID")
        all_tags = {"study": study_name, "kind": "root", **tags}
        if run_id:
            self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in all_tags.items()])
            return run_id
        run = self.client.create_run(experiment_id, run_name=f"ablation {study_name}",
                                     tags={**all_tags})
        return run.info.run_id

    def owns_root(self) -> bool:
        """True when we created the root run (and so must end it); `mlflow run` ends its own."""
        return not os.environ.get("MLFLOW_RUN_ID")

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    # --- dataset parent ----------------------------------------------------------------------
    def dataset_parent(self, experiment_id: str, root_id: str, name: str, tags: dict[str, str],
                       params: dict[str, str], dataset_input: Optional[DatasetInput] = None,
                       kind: str = "dataset") -> str:
        return self._open_run(experiment_id, NewRun(root_id, name, tags, params, dataset_input, kind)).run_id

    # --- trial children ---------------------------------------------------------------------
    def start_trial(self, experiment_id: str, parent_id: str, name: str, tags: dict[str, str],
                    params: dict[str, str], dataset_input: Optional[DatasetInput] = None,
                    kind: str = "trial") -> str:
        return self._start_trial(experiment_id, NewRun(parent_id, name, tags, params, dataset_input, kind))

    def _start_trial(self, experiment_id: str, run: NewRun) -> str:
        info = self._open_run(experiment_id, run)
        self._artifact_uris[info.run_id] = info.artifact_uri
        return info.run_id

    def _open_run(self, experiment_id: str, run: NewRun):
        """A child run through MLflow's own calls (create_runs writes the same in bulk)."""
        info = self.client.create_run(experiment_id, run_name=run.name, tags=run.all_tags()).info
        self.client.log_batch(info.run_id, params=run.param_list())
        if run.dataset_input is not None:
            self.client.log_inputs(info.run_id, [run.dataset_input])
        return info

    def start_trials(self, experiment_id: str, trials: list[NewRun]) -> list[str]:
        """start_trial for several runs: one transaction for all of them on MLflow's SQL store
        (create_runs), MLflow's own calls, run by run, elsewhere."""
        created = create_runs(self.client, experiment_id, trials)
        if created is None:
            return [self._start_trial(experiment_id, t) for t in trials]
        self._artifact_uris.update(created)
        return list(created)

    def finish_trials(self, done: list[tuple[str, dict, dict, dict]]) -> None:
        """finish_trial for several runs [(run_id, history, final, artifacts)]: artifacts first,
        then every run's metrics and FINISHED status in one transaction (finish_runs); run by
        run where that is not possible."""
        ts = _now_ms()
        for run_id, _, _, artifacts in done:
            for path, payload in artifacts.items():
                self.log_dict(run_id, payload, path)
        if not finish_runs(self.client, {run_id: _trial_metrics(history, final, ts)
                                         for run_id, history, final, _ in done}):
            for run_id, history, final, _ in done:
                self.finish_trial(run_id, history, final, tags={}, artifacts={})

    def finish_trial(self, run_id: str, history: dict[str, list[float]], final: dict[str, float],
                     tags: dict[str, str], artifacts: dict[str, dict]) -> None:
        metrics = _trial_metrics(history, final, _now_ms())
        if insert_new_metrics(self.client, run_id, metrics):
            metrics = []
        self.log_metrics(run_id, metrics, tags)
        for path, payload in artifacts.items():
            self.log_dict(run_id, payload, path)
        self.client.set_terminated(run_id, "FINISHED")

    def log_dict(self, run_id: str, payload: dict, path: str) -> None:
        """MlflowClient.log_dict, without its get_run to find where the run's artifacts go
        (~10 ms a trial) when we started the run ourselves and so know it. A run whose artifacts
        live in a local directory (MLflow's default next to a file or SQLite store) gets the file
        written in place: what MLflow's LocalArtifactRepository would copy there, without its
        temporary file and path checks (~2 ms a trial)."""
        uri = self._artifact_uris.pop(run_id, None)
        if uri is None:
            self.client.log_dict(run_id, payload, path)
            return
        import json

        text = json.dumps(payload, indent=2, default=str)  # as MlflowClient.log_dict writes JSON
        local_dir = _local_artifact_dir(uri)
        if local_dir is not None and not os.path.isabs(path) and ".." not in path.split("/"):
            target = os.path.join(local_dir, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                f.write(text)
            return
        import tempfile

        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, os.path.basename(path))
            with open(local, "w") as f:
                f.write(text)
            get_artifact_repository(uri, tracking_uri=self.uri).log_artifact(
                local, os.path.dirname(path) or None)

    def log_metrics(self, run_id: str, metrics: list[Metric], tags: dict[str, str] | None = None) -> None:
        tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        if not metrics and not tag_list:
            return
        for start in range(0, max(len(metrics), 1), BATCH_LIMIT):
            self.client.log_batch(run_id, metrics=metrics[start:start + BATCH_LIMIT],
                                  tags=tag_list if start == 0 else [])

    def fail_trial(self, run_id: str, reason: str, status: str = "FAILED",
                   history: dict[str, list[float]] | None = None) -> None:
        metrics = [Metric(k, float(v), _now_ms(), s) for k, series in (history or {}).items()
                   for s, v in enumerate(series, start=1) if v == v and abs(v) != float("inf")]
        self._artifact_uris.pop(run_id, None)  # no artifact for a failed run
        self.log_metrics(run_id, metrics, {"fail_reason": reason[:4000]})
        self.client.set_terminated(run_id, status)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    # --- reading back ------------------------------------------------------------------------
    def study_runs(self, study_name: str, kind: str, extra_filter: str = "") -> list:
        """Every run of a study of one kind, across all experiments and root runs."""
        exp_ids = [e.experiment_id for e in self.client.search_experiments()]
        filt = f"tags.study = '{quote_filter(study_name)}' AND tags.kind = '{kind}'"
        if extra_filter:
            filt += f" AND {extra_filter}"
        runs, token = [], None
        while True:
            page = self.client.search_runs(exp_ids, filt, max_results=5000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs


def _trial_metrics(history: dict[str, list[float]], final: dict[str, float], ts: int) -> list[Metric]:
    """A trial's per-epoch series (step = epoch) and its final values (step 0)."""
    return [Metric(key, float(v), ts, step) for key, series in history.items() for step, v in enumerate(series, start=1)
            ] + [Metric(key, float(v), ts, 0) for key, v in final.items()]


# The tracking fast paths below write MLflow's SQL tables directly, as MLflow's own store code
# writes them; they are used only while MLflow's schema is the one they were written and tested
# against (tests/test_tracking.py reads everything back through MlflowClient and compares it with
# what MLflow's own calls wrote). Any other schema, or any other store (an `mlflow server` over
# HTTP), gets MLflow's own calls.
KNOWN_SCHEMA = "dc11669786a5"  # MLflow 3.17's latest migration


@dataclass
class NewRun:
    """A child run to open: what start_trial takes."""
    parent_id: str
    name: str
    tags: dict
    params: dict
    dataset_input: Optional[DatasetInput] = None
    kind: str = "trial"

    def all_tags(self) -> dict[str, str]:
        """Its tags as strings, with the link to its parent and its kind."""
        return {MLFLOW_PARENT_RUN_ID: self.parent_id, "kind": self.kind, **{k: str(v) for k, v in self.tags.items()}}

    def param_list(self) -> list[Param]:
        return [Param(k, _param(v)) for k, v in self.params.items()]


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
    from mlflow.store.tracking.dbmodels.models import SqlDataset, SqlInput, SqlInputTag, SqlParam, SqlRun, SqlTag
    from mlflow.utils.mlflow_tags import MLFLOW_USER
    from mlflow.utils.uri import append_to_uri_path
    from mlflow.utils.validation import _validate_batch_log_data

    experiment = store.get_experiment(experiment_id)
    store._check_experiment_is_active(experiment)
    now = _now_ms()
    created: dict[str, str] = {}
    rows: dict[type, list[dict]] = {SqlRun: [], SqlTag: [], SqlParam: [], SqlDataset: [], SqlInput: [], SqlInputTag: []}
    datasets: dict[tuple[str, str], str] = {}  # (name, digest) -> dataset uuid
    with store.ManagedSessionMaker(read_only=False) as session:
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
                                .values(status=status, end_time=_now_ms()))
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


def _local_artifact_dir(uri: str) -> Optional[str]:
    """The directory of a local artifact URI (a plain path or file://), else None."""
    from urllib.parse import urlparse

    from mlflow.utils.file_utils import local_file_uri_to_path

    scheme = urlparse(uri).scheme
    return local_file_uri_to_path(uri) if scheme in ("", "file") else None


def run_link(tracking_uri: str, experiment_id: str, run_id: str = "") -> str:
    """A link into the MLflow UI. Its "Model training" view (workflowType=machine_learning)
    shows runs, params and metric charts; MLflow 3's UI otherwise opens the GenAI view."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    page = f"{base}/#/experiments/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return page + "?workflowType=machine_learning"


def quote_filter(s: str) -> str:
    """Escape a value for an MLflow search filter string literal."""
    return s.replace("'", "\\'")


def _param(v) -> str:
    s = str(v)
    return s if len(s) <= 6000 else s[:5997] + "..."


def dataset_input(splits, context: str = "train") -> DatasetInput:
    """An MLflow dataset record (name, digest, schema, source) for the training split; computed
    once per loaded dataset and reused by every run that logs it."""
    cached = splits.extra.get(("mlflow_input", context))
    if cached is not None:
        return cached
    import mlflow.data

    ds = mlflow.data.from_numpy(splits.x_train.numpy(), targets=splits.y_train.numpy(),
                                name=splits.name, source=_source(splits.provenance))
    entity = DatasetInput(ds._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)])
    splits.extra[("mlflow_input", context)] = entity
    return entity


def _source(provenance: str):
    from mlflow.data.code_dataset_source import CodeDatasetSource

    return CodeDatasetSource(tags={"provenance": provenance[:500]})
