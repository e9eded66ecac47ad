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
        run = self.client.create_run(experiment_id, run_name=name,
                                     tags={MLFLOW_PARENT_RUN_ID: root_id, "kind": kind, **tags})
        run_id = run.info.run_id
        self.client.log_batch(run_id, params=[Param(k, _param(v)) for k, v in params.items()])
        if dataset_input is not None:
            self.client.log_inputs(run_id, [dataset_input])
        return run_id

    # --- trial children ---------------------------------------------------------------------
    def start_trial(self, experiment_id: str, parent_id: str, name: str, tags: dict[str, str],
                    params: dict[str, str], dataset_input: Optional[DatasetInput] = None,
                    kind: str = "trial") -> str:
        run = self.client.create_run(experiment_id, run_name=name,
                                     tags={MLFLOW_PARENT_RUN_ID: parent_id, "kind": kind,
                                           **{k: str(v) for k, v in tags.items()}})
        run_id = run.info.run_id
        self._artifact_uris[run_id] = run.info.artifact_uri
        self.client.log_batch(run_id, params=[Param(k, _param(v)) for k, v in params.items()])
        if dataset_input is not None:
            self.client.log_inputs(run_id, [dataset_input])
        return run_id

    def finish_trial(self, run_id: str, history: dict[str, list[float]], final: dict[str, float],
                     tags: dict[str, str], artifacts: dict[str, dict]) -> None:
        ts = _now_ms()
        metrics = [Metric(key, float(v), ts, step) for key, series in history.items()
                   for step, v in enumerate(series, start=1)]
        metrics += [Metric(key, float(v), ts, 0) for key, v in final.items()]
        if insert_new_metrics(self.client, run_id, metrics):
            metrics = []
        self.log_metrics(run_id, metrics, tags)
        for path, payload in artifacts.items():
            self.log_dict(run_id, payload, path)
        self.client.set_terminated(run_id, "FINISHED")

    def log_dict(self, run_id: str, payload: dict, path: str) -> None:
        """MlflowClient.log_dict, without its get_run to find where the run's artifacts go
        (~10 ms a trial) when we started the run ourselves and so know it."""
        uri = self._artifact_uris.pop(run_id, None)
        if uri is None:
            self.client.log_dict(run_id, payload, path)
            return
        import json
        import tempfile

        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, os.path.basename(path))
            with open(local, "w") as f:
                json.dump(payload, f, indent=2, default=str)  # as MlflowClient.log_dict writes JSON
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


def insert_new_metrics(client: MlflowClient, run_id: str, metrics: list[Metric]) -> bool:
    """Write a run's metrics with two bulk INSERTs when the tracking store is MLflow's SQL
    store. False, with nothing written, for any other store, or when the run already has one
    of these metrics (the caller then uses log_batch, which merges them).

    Why: MlflowClient.log_batch builds an ORM object per row and compares each with the run's
    latest value (a known cost upstream: mlflow/mlflow#3010): for a trial's ~225 rows ~18 ms
    of Python, the largest share of a small trial's bookkeeping. Bulk rows cost ~4 ms. They
    are the rows log_batch writes (the same sanitizing of NaN and infinities, the same "latest"
    rule: highest step, then timestamp, then value); a test reads both back through
    MlflowClient and compares."""
    import sqlalchemy
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if not isinstance(store, SqlAlchemyStore) or not metrics:
        return False
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric

    rows, latest = {}, {}
    for m in metrics:
        is_nan, value = store.sanitize_metric_value(float(m.value))
        row = {"run_uuid": run_id, "key": m.key, "value": value, "timestamp": int(m.timestamp),
               "step": int(m.step), "is_nan": is_nan}
        rows[(m.key, row["timestamp"], row["step"], value, is_nan)] = row  # log_batch drops exact duplicates
        best = latest.get(m.key)
        if best is None or (row["step"], row["timestamp"], value) > (best["step"], best["timestamp"], best["value"]):
            latest[m.key] = row
    try:
        # read_only=False: MLflow routes read-only sessions to a read replica when one is set up
        with store.ManagedSessionMaker(read_only=False) as session:
            store._check_run_is_active(store._get_run(run_uuid=run_id, session=session))  # as log_batch does
            session.execute(sqlalchemy.insert(SqlMetric), list(rows.values()))
            session.execute(sqlalchemy.insert(SqlLatestMetric), list(latest.values()))
    except MlflowException as e:
        if isinstance(e.__cause__, sqlalchemy.exc.IntegrityError):
            return False  # rolled back: the run has some of these metrics already
        raise
    return True


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
