"""MLflow tracking: the run tree of a study, written and read with explicit run ids.

    root run (the `mlflow run` project run, or one we create)
      └── dataset parent run, e.g. "digits"
            └── trial child run, e.g. "digits/l2/seed3": params, per-epoch metrics, final metrics

Run ids are passed explicitly (MlflowClient) rather than through MLflow's per-thread active-run
stack. Everything the report needs is findable by tags (runtree.py names them). This module is
the only one that talks to MLflow; its bulk SQL fast paths live in mlflow_sql.py.
"""

from __future__ import annotations

import json
import os
import re
from typing import Optional

from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag

from . import runtree as rt
from .mlflow_sql import NewRun, create_runs, finish_runs, insert_new_metrics, now_ms, param_value

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
BATCH_LIMIT = 900  # MLflow accepts at most 1000 metrics per log_batch call
__all__ = ["NewRun", "Tracker", "dataset_input", "mask_credentials", "run_link", "tracking_uri"]


def tracking_uri(explicit: Optional[str] = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def mask_credentials(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db"""
    return re.sub(r"(//[^/:@]+):[^/@]*@", r"\1:***@", url)


class Tracker:
    def __init__(self, uri: Optional[str] = None):
        self.uri = tracking_uri(uri)
        self._client = MlflowClient(self.uri)
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact URI, for the runs we started

    # --- experiment and root ---------------------------------------------------------------
    def experiment_for(self, study_name: str) -> str:
        """The study's experiment. Under `mlflow run` the project run already lives in some
        experiment; nesting only shows within one experiment, so we use that one."""
        project_run = os.environ.get("MLFLOW_RUN_ID")
        if project_run:
            return self._client.get_run(project_run).info.experiment_id
        exp = self._client.get_experiment_by_name(study_name)
        if exp is not None:
            return exp.experiment_id
        try:
            return self._client.create_experiment(study_name)
        except Exception:  # another worker created it first
            return self._client.get_experiment_by_name(study_name).experiment_id

    def root_run(self, experiment_id: str, study_name: str, tags: dict[str, str]) -> str:
        run_id = os.environ.get("MLFLOW_RUN_ID")
        all_tags = {rt.STUDY: study_name, rt.KIND: rt.ROOT, **tags}
        if run_id:
            self.set_tags(run_id, all_tags)
            return run_id
        return self._client.create_run(experiment_id, run_name=f"ablation {study_name}", tags=all_tags).info.run_id

    def owns_root(self) -> bool:
        """True when we created the root run (and so must end it); `mlflow run` ends its own."""
        return not os.environ.get("MLFLOW_RUN_ID")

    def single_run(self, experiment_id: str, name: str) -> str:
        """A run outside any study tree (`python -m pipeline train`)."""
        return self._client.create_run(experiment_id, run_name=name).info.run_id

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self._client.set_terminated(run_id, status)

    def end_if_running(self, run_id: str, status: str) -> None:
        if self.run_status(run_id) == "RUNNING":
            self.end_run(run_id, status)

    # --- dataset parent ----------------------------------------------------------------------
    def dataset_parent(self, experiment_id: str, root_id: str, name: str, tags: dict[str, str],
                       params: dict[str, str], dataset_input: Optional[DatasetInput] = None,
                       kind: str = rt.DATASET) -> str:
        return self._open_run(experiment_id, NewRun(root_id, name, tags, params, dataset_input, kind)).run_id

    # --- trial children ---------------------------------------------------------------------
    def start_trial(self, experiment_id: str, run: NewRun) -> str:
        info = self._open_run(experiment_id, run)
        self._artifact_uris[info.run_id] = info.artifact_uri
        return info.run_id

    def _open_run(self, experiment_id: str, run: NewRun):
        """A child run through MLflow's own calls (create_runs writes the same in bulk)."""
        info = self._client.create_run(experiment_id, run_name=run.name, tags=run.all_tags()).info
        self._client.log_batch(info.run_id, params=run.param_list())
        if run.dataset_input is not None:
            self._client.log_inputs(info.run_id, [run.dataset_input])
        return info

    def start_trials(self, experiment_id: str, trials: list[NewRun]) -> list[str]:
        """start_trial for several runs: one transaction for all of them on MLflow's SQL store
        (create_runs), MLflow's own calls, run by run, elsewhere."""
        created = create_runs(self._client, experiment_id, trials)
        if created is None:
            return [self.start_trial(experiment_id, t) for t in trials]
        self._artifact_uris.update(created)
        return list(created)

    def finish_trials(self, done: list[tuple[str, dict, dict, dict]]) -> None:
        """finish_trial for several runs [(run_id, history, final, artifacts)]: artifacts first,
        then every run's metrics and FINISHED status in one transaction (finish_runs); run by
        run where that is not possible."""
        ts = now_ms()
        for run_id, _, _, artifacts in done:
            for path, payload in artifacts.items():
                self.log_dict(run_id, payload, path)
        if not finish_runs(self._client, {run_id: trial_metrics(history, final, ts)
                                          for run_id, history, final, _ in done}):
            for run_id, history, final, _ in done:
                self.finish_trial(run_id, history, final, tags={}, artifacts={})

    def finish_trial(self, run_id: str, history: dict[str, list[float]], final: dict[str, float],
                     tags: dict[str, str], artifacts: dict[str, dict]) -> None:
        metrics = trial_metrics(history, final, now_ms())
        if insert_new_metrics(self._client, run_id, metrics):
            metrics = []
        self.log_metrics(run_id, metrics, tags)
        for path, payload in artifacts.items():
            self.log_dict(run_id, payload, path)
        self._client.set_terminated(run_id, "FINISHED")

    def fail_trial(self, run_id: str, status: str, tags: dict[str, str],
                   history: dict[str, list[float]] | None = None) -> None:
        """End a run that did not finish: the epochs it completed, its tags (the reason)."""
        metrics = [Metric(k, float(v), now_ms(), s) for k, series in (history or {}).items()
                   for s, v in enumerate(series, start=1) if v == v and abs(v) != float("inf")]
        self._artifact_uris.pop(run_id, None)  # no artifact for a failed run
        self.log_metrics(run_id, metrics, tags)
        self._client.set_terminated(run_id, status)

    # --- writing -----------------------------------------------------------------------------
    def log_dict(self, run_id: str, payload: dict, path: str) -> None:
        """MlflowClient.log_dict, without its get_run to find where the run's artifacts go
        (~10 ms a trial) when we started the run ourselves and so know it. A run whose artifacts
        live in a local directory (MLflow's default next to a file or SQLite store) gets the file
        written in place: what MLflow's LocalArtifactRepository would copy there, without its
        temporary file and path checks (~2 ms a trial)."""
        uri = self._artifact_uris.pop(run_id, None)
        if uri is None:
            self._client.log_dict(run_id, payload, path)
            return
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

    def log_artifact(self, run_id: str, path: str, artifact_dir: Optional[str] = None) -> None:
        self._client.log_artifact(run_id, path, artifact_dir)

    def log_metrics(self, run_id: str, metrics: list[Metric], tags: dict[str, str] | None = None) -> None:
        tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        if not metrics and not tag_list:
            return
        for start in range(0, max(len(metrics), 1), BATCH_LIMIT):
            self._client.log_batch(run_id, metrics=metrics[start:start + BATCH_LIMIT],
                                   tags=tag_list if start == 0 else [])

    def log_values(self, run_id: str, values: dict[str, float]) -> None:
        """Single values (step 0), e.g. timings on the root run."""
        self.log_metrics(run_id, [Metric(k, float(v), now_ms(), 0) for k, v in values.items()])

    def log_params(self, run_id: str, params: dict) -> None:
        self._client.log_batch(run_id, params=[Param(k, param_value(v)) for k, v in params.items()])

    def log_input(self, run_id: str, dataset_input: DatasetInput) -> None:
        self._client.log_inputs(run_id, [dataset_input])

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    # --- reading back ------------------------------------------------------------------------
    def run(self, run_id: str):
        """The MLflow Run (info, data.tags, data.params, data.metrics)."""
        return self._client.get_run(run_id)

    def run_status(self, run_id: str) -> str:
        return self._client.get_run(run_id).info.status

    def search(self, experiment_ids: list[str], filter_string: str) -> list:
        """Every run that matches, page after page."""
        runs, token = [], None
        while True:
            page = self._client.search_runs(experiment_ids, filter_string, max_results=5000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def running(self, experiment_id: str, **tags: str) -> list:
        """RUNNING runs of an experiment with these tag values."""
        filt = " AND ".join(["attributes.status = 'RUNNING'"] + [f"tags.{k} = '{quote_filter(v)}'" for k, v in tags.items()])
        return self.search([experiment_id], filt)

    def study_runs(self, study_name: str, kind: str, extra_filter: str = "") -> list:
        """Every run of a study of one kind, across all experiments and root runs."""
        exp_ids = [e.experiment_id for e in self._client.search_experiments()]
        filt = f"tags.{rt.STUDY} = '{quote_filter(study_name)}' AND tags.{rt.KIND} = '{kind}'"
        if extra_filter:
            filt += f" AND {extra_filter}"
        return self.search(exp_ids, filt)

    def metric_history(self, run_id: str, key: str) -> list[float]:
        """A per-epoch series, in step order."""
        return [m.value for m in sorted(self._client.get_metric_history(run_id, key), key=lambda m: m.step)]

    def load_dict(self, run, path: str) -> Optional[dict]:
        """A JSON artifact of a run (as log_dict wrote it), or None when it cannot be read."""
        try:
            uri = run.info.artifact_uri
            local_dir = _local_artifact_dir(uri)
            if local_dir is not None:
                with open(os.path.join(local_dir, path)) as f:  # local store: skip the client round trip
                    return json.load(f)
            import mlflow.artifacts

            return mlflow.artifacts.load_dict(f"{uri}/{path}")
        except Exception:
            return None


def trial_metrics(history: dict[str, list[float]], final: dict[str, float], ts: int) -> list[Metric]:
    """A trial's per-epoch series (step = epoch) and its final values (step 0)."""
    return [Metric(key, float(v), ts, step) for key, series in history.items() for step, v in enumerate(series, start=1)
            ] + [Metric(key, float(v), ts, 0) for key, v in final.items()]


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
