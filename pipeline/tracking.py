"""MLflow tracking: the run tree of a study, written and read with explicit run ids.

    root run (the `mlflow run` project run, or one we create)
      └── dataset parent run, e.g. "digits"
            └── trial child run, e.g. "digits/l2/seed3": params, per-epoch metrics, final metrics

Run ids are passed explicitly (MlflowClient) rather than through MLflow's per-thread active-run
stack. Everything the report needs is findable by tags (runtree.py names them). This module is
the only one that talks to MLflow (with its helpers: the bulk SQL fast paths in mlflow_sql.py;
riding out a tracking server's restart in tracking_server.py; links into the UI in ui_links.py).

Reading a study back costs round trips that grow with its datasets and writing processes, not
with its trials (but for one search page per 5,000 runs): runs come from searches (RunRecord),
per-epoch curves and weight histograms from the trial summaries each writing process leaves on
the dataset parent (trial_summaries/*.json, see TrialSummaries), and what no summary covers comes
in bulk: MLflow's SQL tables directly (mlflow_sql.metric_histories), a server's get-history-bulk
endpoint (100 runs a request), or parallel artifact downloads.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from . import runtree as rt
from .runtime import failpoint, mask_credentials, outage_limit_s
from .tracking_server import ServerClient, configure_http_retries, retry_notice, server_calls
from .ui_links import overview_key, quote_filter
from .mlflow_sql import (NewRun, create_runs, finish_runs, insert_new_metrics, metric_histories, now_ms, param_value,
                         runs_with_tags)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
BATCH_LIMIT = 900  # MLflow accepts at most 1000 metrics per log_batch call
SEARCH_PAGE = 5000
HTTP_THREADS = 8       # parallel requests to a tracking server (fallback reads, artifact downloads)
BULK_RUNS = 100        # metrics/get-history-bulk: at most 100 run ids a request ...
BULK_ROWS = 25000      # ... and 25,000 rows a response
SUMMARIES_DIR = "trial_summaries"
SUMMARY_CURVES = ("train_loss", "val_loss")   # the per-epoch series the report plots
SUMMARY_BATCH = 10000  # a writer flushes a parent's summary at least every this many trials (~3 MB)
__all__ = ["NewRun", "RunRecord", "Tracker", "dataset_input", "mask_credentials", "tracking_uri"]


def tracking_uri(explicit: Optional[str] = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


@dataclass
class RunRecord:
    """One run as a search returns it, in plain values: from MLflow's entities, or straight from
    a tracking server's JSON (turning that JSON into protobuf messages and entities costs the
    client ~1.7 ms a run, a third of a 12,800-trial report; json.loads ~0.1 ms)."""
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: Optional[int]
    end_time: Optional[int]
    artifact_uri: str
    tags: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @classmethod
    def of(cls, run) -> "RunRecord":
        """From an mlflow.entities.Run."""
        i, d = run.info, run.data
        return cls(i.run_id, i.experiment_id, i.run_name, i.status, i.start_time, i.end_time, i.artifact_uri,
                   dict(d.tags), dict(d.params), dict(d.metrics))

    @classmethod
    def from_json(cls, run: dict) -> "RunRecord":
        """From a run of the REST API's runs/search response (proto JSON: fields at their
        default value, such as a metric of 0.0 or an empty tag, are left out)."""
        info, data = run.get("info", {}), run.get("data", {})

        def ms(v):
            return int(v) if v not in (None, "", 0, "0") else None

        return cls(info.get("run_id") or info.get("run_uuid", ""), str(info.get("experiment_id", "")),
                   info.get("run_name", ""), info.get("status", "RUNNING"), ms(info.get("start_time")),
                   ms(info.get("end_time")), info.get("artifact_uri", ""),
                   {t["key"]: t.get("value", "") for t in data.get("tags", [])},
                   {p["key"]: p.get("value", "") for p in data.get("params", [])},
                   {m["key"]: float(m.get("value", 0.0)) for m in data.get("metrics", [])})


class TrialSummaries:
    """What a writing process keeps of the trials it finished, per dataset parent, until it logs
    them on the parent as one artifact, trial_summaries/<random>.json:
        {"runs": {run_id: {"curves": {key: [values by epoch]}, "artifacts": {path: payload}}}}
    The report then reads a few files per parent instead of two metric histories and one
    artifact per trial (one round trip each on a server). Every flush writes a new file, so
    concurrent writers never overwrite each other, and readers key entries by run id and take
    only the runs their search found FINISHED: nothing is counted twice; a trial no summary
    covers (its writer died before flushing) is read the slow way, so nothing is lost."""

    def __init__(self):
        self._lock = threading.Lock()
        self._parent: dict[str, str] = {}                 # trial run id -> its dataset parent
        self._pending: dict[str, dict[str, dict]] = {}    # parent -> {run id: entry}

    def started(self, run_id: str, run: NewRun) -> None:
        if run.kind == rt.TRIAL:
            with self._lock:
                self._parent[run_id] = run.parent_id

    def finished(self, run_id: str, history: dict, artifacts: dict) -> Optional[str]:
        """Keep a finished trial's entry; returns its parent when that parent's batch is full."""
        with self._lock:
            parent = self._parent.pop(run_id, None)
            if parent is None:
                return None
            entries = self._pending.setdefault(parent, {})
            entries[run_id] = {"curves": {k: [_as_stored(v) for v in history[k]] for k in SUMMARY_CURVES if k in history},
                               "artifacts": artifacts}
            return parent if len(entries) >= SUMMARY_BATCH else None

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._parent.pop(run_id, None)

    def take(self, parent_id: Optional[str] = None) -> dict[str, dict]:
        """The pending entries of one parent (or of all), removed from here."""
        with self._lock:
            if parent_id is not None:
                return {parent_id: self._pending.pop(parent_id)} if self._pending.get(parent_id) else {}
            taken, self._pending = {p: e for p, e in self._pending.items() if e}, {}
            return taken


def _as_stored(v: float) -> float:
    """A metric value as MLflow's SQL store keeps it: infinities become the largest floats."""
    v = float(v)
    return math.copysign(1.7976931348623157e308, v) if math.isinf(v) else v


class Tracker:
    def __init__(self, uri: Optional[str] = None):
        self.uri = tracking_uri(uri)
        self._client = MlflowClient(self.uri)
        if self.uri.startswith(("http://", "https://")):
            configure_http_retries(outage_limit_s())
            self._client = ServerClient(self._client, self.uri)
            logging.getLogger("urllib3.connectionpool").addHandler(retry_notice)   # once: a handler is kept once
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact URI, for the runs we started
        self._summaries = TrialSummaries()

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
        all_tags = {rt.STUDY: study_name, rt.KIND: rt.ROOT, rt.UI_ORDER: rt.ui_order(rt.ROOT), **tags}
        if run_id:   # `mlflow run`'s project run, named like ours instead of MLflow's random words
            self.set_tags(run_id, {**all_tags, MLFLOW_RUN_NAME: f"ablation {study_name}"})
            return run_id
        return self._client.create_run(experiment_id, run_name=f"ablation {study_name}", tags=all_tags).info.run_id

    def owns_root(self) -> bool:
        """True when we created the root run (and so must end it); `mlflow run` ends its own."""
        return not os.environ.get("MLFLOW_RUN_ID")

    def single_run(self, experiment_id: str, name: str) -> str:
        """A run outside any study tree (`python -m pipeline train`)."""
        return self._client.create_run(experiment_id, run_name=name).info.run_id

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.flush_summaries(run_id)  # a dataset parent gets this process's trial summaries first
        self._client.set_terminated(run_id, status)

    def end_if_running(self, run_id: str, status: str) -> None:
        self.flush_summaries(run_id)
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
        self._summaries.started(info.run_id, run)
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
        for run_id, run in zip(created, trials):
            self._summaries.started(run_id, run)
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
            for run_id, history, final, artifacts in done:
                self.finish_trial(run_id, history, final, tags={}, artifacts={}, summary_artifacts=artifacts)
            return
        self._summarize([(run_id, history, artifacts) for run_id, history, _, artifacts in done])

    def finish_trial(self, run_id: str, history: dict[str, list[float]], final: dict[str, float],
                     tags: dict[str, str], artifacts: dict[str, dict], summary_artifacts: Optional[dict] = None) -> None:
        metrics = trial_metrics(history, final, now_ms())
        if insert_new_metrics(self._client, run_id, metrics):
            metrics = []
        self.log_metrics(run_id, metrics, tags)
        failpoint("mlflow_write")   # tests/test_faults.py: a crash halfway through writing a run
        for path, payload in artifacts.items():
            self.log_dict(run_id, payload, path)
        self._client.set_terminated(run_id, "FINISHED")
        self._summarize([(run_id, history, artifacts if summary_artifacts is None else summary_artifacts)])

    def _summarize(self, done: list[tuple[str, dict, dict]]) -> None:
        """Keep finished trials for their parents' summaries; flush a parent whose batch is full."""
        full = {self._summaries.finished(run_id, history, artifacts) for run_id, history, artifacts in done}
        for parent in full - {None}:
            self.flush_summaries(parent)

    def flush_summaries(self, parent_id: Optional[str] = None) -> None:
        """Log the trial summaries this process holds for one dataset parent (or for all) as one
        new artifact each, trial_summaries/<random>.json. Called when a parent is ended and by a
        worker when it leaves a dataset; a summary that cannot be written costs the report some
        speed, never data (it reads those trials one by one), so a failure is only reported."""
        for parent, entries in self._summaries.take(parent_id).items():
            try:
                self._put_json(parent, None, f"{SUMMARIES_DIR}/{uuid.uuid4().hex}.json",
                               json.dumps({"runs": entries}, separators=(",", ":")))
            except Exception as e:  # noqa: BLE001 - the summary is an index, not the data
                import sys

                print(f"warning: trial summaries of run {parent} not written ({e}); the report reads "
                      f"those {len(entries)} trials one by one", file=sys.stderr)

    def fail_trial(self, run_id: str, status: str, tags: dict[str, str],
                   history: dict[str, list[float]] | None = None) -> None:
        """End a run that did not finish: the epochs it completed, its tags (the reason)."""
        metrics = [Metric(k, float(v), now_ms(), s) for k, series in (history or {}).items()
                   for s, v in enumerate(series, start=1) if v == v and abs(v) != float("inf")]
        self._artifact_uris.pop(run_id, None)  # no artifact for a failed run
        self._summaries.forget(run_id)
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
        self._put_json(run_id, uri, path, json.dumps(payload, indent=2, default=str))  # as log_dict writes it

    def _put_json(self, run_id: str, uri: Optional[str], path: str, text: str) -> None:
        """A JSON artifact of a run whose artifact URI is `uri` (looked up when None): written in
        place in a local artifact directory (to a temporary name, then renamed, so a reader
        never sees half a file), uploaded through MLflow's artifact repository elsewhere."""
        import tempfile

        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        uri = uri or self._client.get_run(run_id).info.artifact_uri
        local_dir = _local_artifact_dir(uri)
        if local_dir is not None and not os.path.isabs(path) and ".." not in path.split("/"):
            target = os.path.join(local_dir, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            partial = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
            with open(partial, "w") as f:
                f.write(text)
            os.replace(partial, target)
            return
        with tempfile.TemporaryDirectory() as tmp, server_calls(self.uri):
            local = os.path.join(tmp, os.path.basename(path))
            with open(local, "w") as f:
                f.write(text)
            get_artifact_repository(uri, tracking_uri=self.uri).log_artifact(local, os.path.dirname(path) or None)

    def log_artifact(self, run_id: str, path: str, artifact_dir: Optional[str] = None) -> None:
        self._client.log_artifact(run_id, path, artifact_dir)

    def share_overview(self, experiment_id: str, study_name: str, labels: list[str]) -> str:
        """Store the study's overview as an MLflow UI shared view (the experiment tag the UI's
        "Share" button writes; MLflow 3.17 reads it from ?viewStateShareKey=): the study's runs
        sorted by UI_ORDER, grouped by dataset with the groups closed, so the first screen shows one
        row per dataset (its parent and trials inside) and the root run, whatever the study's size.
        The UI pages runs 100 at a time; UI_ORDER puts the root, the parents and the first seeds of
        every dataset and arm on the first page. Returns the share key."""
        key = overview_key(study_name)
        state = {"searchFilter": f"tags.{rt.STUDY} = '{quote_filter(study_name)}'",
                 "orderByKey": f"tags.`{rt.UI_ORDER}`", "orderByAsc": True,
                 "groupBy": {"aggregateFunction": "average",
                             "groupByKeys": [{"mode": "tag", "groupByData": rt.DATASET_LABEL}]},
                 "groupsExpanded": {f"tag.{rt.DATASET_LABEL}.{label}": False for label in labels},
                 "selectedColumns": [f"tags.`{t}`" for t in ("verdict", rt.ARM, rt.SEED)] + ["metrics.`test_metric`"]}
        self._client.set_experiment_tag(experiment_id, rt.SHARED_VIEW_PREFIX + key, json.dumps(state))
        return key

    def log_folder(self, run_id: str, folder: str, artifact_dir: str) -> None:
        """Every file of a local folder under artifact_dir/ (one upload call per file)."""
        self._client.log_artifacts(run_id, folder, artifact_dir)

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

    def study_runs(self, study_name: str, kind: str, extra_filter: str = "") -> list[RunRecord]:
        """Every run of a study of one kind, across all experiments and root runs, as RunRecords:
        from MLflow's SQL tables when it can (mlflow_sql.runs_with_tags), from a server's JSON
        (_search_json), else through MlflowClient.search_runs."""
        found = None if extra_filter else runs_with_tags(self._client, {rt.STUDY: study_name, rt.KIND: kind})
        if found is not None:
            return [RunRecord(**r) for r in found]
        exp_ids = [e.experiment_id for e in self._client.search_experiments()]
        filt = f"tags.{rt.STUDY} = '{quote_filter(study_name)}' AND tags.{rt.KIND} = '{kind}'"
        if extra_filter:
            filt += f" AND {extra_filter}"
        if self._rest_creds() is None:
            return [RunRecord.of(r) for r in self.search(exp_ids, filt)]
        return self._search_json(exp_ids, filt)

    def _search_json(self, experiment_ids: list[str], filter_string: str) -> list[RunRecord]:
        """search() against a tracking server, page after page, keeping its JSON as RunRecords.
        The pages come one after another: MLflow 3.17's server can break a worker when its
        first searches arrive together (see README, `make ui`)."""
        records, token = [], None
        while True:
            body = {"experiment_ids": experiment_ids, "filter": filter_string, "max_results": SEARCH_PAGE,
                    "run_view_type": "ACTIVE_ONLY", **({"page_token": token} if token else {})}
            page = self._rest("/api/2.0/mlflow/runs/search", "POST", json=body)
            records += [RunRecord.from_json(r) for r in page.get("runs", [])]
            token = page.get("next_page_token")
            if not token:
                return records

    def metric_history(self, run_id: str, key: str) -> list[float]:
        """A per-epoch series, in step order (then timestamp and value, as the bulk reads sort)."""
        return [m.value for m in sorted(self._client.get_metric_history(run_id, key), key=_metric_order)]

    def trial_summaries(self, parents: list[RunRecord]) -> dict[str, dict]:
        """run id -> its entry in the trial summaries (TrialSummaries) of these dataset parents:
        one listing per parent and one read per summary file, whatever the number of trials."""
        listed = _parallel(lambda p: [(p.artifact_uri, f) for f in self._list_artifacts(p.artifact_uri, SUMMARIES_DIR)
                                      if f.endswith(".json")], parents)
        entries: dict[str, dict] = {}
        with _quiet_downloads():
            for payload in _parallel(lambda f: self._read_json(*f), [f for files in listed for f in files]):
                entries.update((payload or {}).get("runs", {}))
        return entries

    def curves(self, run_ids: list[str], keys: tuple[str, ...], summaries: Optional[dict] = None) -> dict:
        """{run_id: {key: [values in step order]}}: from the trial summaries where they hold
        every key, the rest in bulk (read_histories)."""
        out, rest = {}, []
        for run_id in run_ids:
            found = ((summaries or {}).get(run_id) or {}).get("curves") or {}
            if all(k in found for k in keys):
                out[run_id] = {k: list(found[k]) for k in keys}
            else:
                rest.append(run_id)
        out.update(self.read_histories(rest, keys))
        return out

    def read_histories(self, run_ids: list[str], keys: tuple[str, ...]) -> dict:
        """Metric histories of many runs with as few round trips as the store allows: MLflow's
        SQL tables directly (one query per 500 runs), a server's get-history-bulk endpoint (one
        request per 100 runs and key, in parallel), else one get_metric_history per run and key."""
        if not run_ids:
            return {}
        found = metric_histories(self._client, run_ids, keys)
        if found is None and self._rest_creds() is not None:
            found = self._bulk_histories(run_ids, keys)
        if found is None:
            series = _parallel(lambda r: {k: self.metric_history(r, k) for k in keys}, run_ids,
                               threads=HTTP_THREADS if self._rest_creds() else 1)
            found = dict(zip(run_ids, series))
        return {r: {k: found.get(r, {}).get(k, []) for k in keys} for r in run_ids}

    def _bulk_histories(self, run_ids: list[str], keys: tuple[str, ...]) -> Optional[dict]:
        """read_histories through a server's /ajax-api/2.0/mlflow/metrics/get-history-bulk (the
        MLflow UI's: up to 100 runs and 25,000 rows a request, every row, one SQL query on the
        server; ~0.5 s per 1,000 runs and two keys here). None when the server has no such
        endpoint. get-history-bulk-interval also takes 100 runs but queries run by run and
        samples: ~17x slower here."""
        def fetch(job: tuple[list[str], str]) -> list[dict]:
            chunk, key = job
            rows = self._rest("/ajax-api/2.0/mlflow/metrics/get-history-bulk", "GET",
                              params={"run_id": chunk, "metric_key": key, "max_results": BULK_ROWS})["metrics"]
            if len(rows) < BULK_ROWS:
                return rows
            if len(chunk) == 1:  # one run with 25,000 values of one key: page through it
                return [{"run_id": chunk[0], "key": key, "step": m.step, "timestamp": m.timestamp, "value": m.value}
                        for m in self._client.get_metric_history(chunk[0], key)]
            half = len(chunk) // 2
            return fetch((chunk[:half], key)) + fetch((chunk[half:], key))

        from mlflow.exceptions import MlflowException

        jobs = [(run_ids[i:i + BULK_RUNS], k) for k in keys for i in range(0, len(run_ids), BULK_RUNS)]
        try:
            rows = [row for part in _parallel(fetch, jobs) for row in part]
        except MlflowException:
            return None
        found: dict[str, dict[str, list]] = {}
        for m in rows:
            found.setdefault(m["run_id"], {}).setdefault(m["key"], []).append(m)
        return {r: {k: [float(m["value"]) for m in sorted(series, key=_metric_order)] for k, series in by_key.items()}
                for r, by_key in found.items()}

    def run_artifacts(self, artifact_uris: dict[str, str], path: str, summaries: Optional[dict] = None) -> dict:
        """{run_id: the run's JSON artifact `path`, or None}: from the trial summaries, the rest
        read from a local artifact directory, or downloaded in parallel."""
        out, rest = {}, []
        for run_id in artifact_uris:
            found = ((summaries or {}).get(run_id) or {}).get("artifacts") or {}
            if path in found:
                out[run_id] = found[path]
            else:
                rest.append(run_id)
        with _quiet_downloads():
            out.update(zip(rest, _parallel(lambda r: self._read_json(artifact_uris[r], path), rest)))
        return out

    def load_dict(self, run, path: str) -> Optional[dict]:
        """A JSON artifact of a run (as log_dict wrote it), or None when it cannot be read."""
        return self._read_json(run.info.artifact_uri, path)

    def _read_json(self, uri: str, path: str) -> Optional[dict]:
        """A JSON artifact under the artifact URI `uri`, or None when it cannot be read."""
        import tempfile

        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        try:
            local_dir = _local_artifact_dir(uri)
            if local_dir is not None:
                with open(os.path.join(local_dir, path)) as f:  # local store: no client round trip
                    return json.load(f)
            with tempfile.TemporaryDirectory() as tmp:
                local = get_artifact_repository(uri, tracking_uri=self.uri).download_artifacts(path, tmp)
                with open(local) as f:
                    return json.load(f)
        except Exception:  # noqa: BLE001 - missing or unreadable: the caller shows what it has
            return None

    def _list_artifacts(self, uri: str, path: str) -> list[str]:
        """The artifact paths directly under `path` of the artifact URI `uri` ([] when none)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        try:
            local_dir = _local_artifact_dir(uri)
            if local_dir is not None:
                return [f"{path}/{name}" for name in sorted(os.listdir(os.path.join(local_dir, path)))]
            return [f.path for f in get_artifact_repository(uri, tracking_uri=self.uri).list_artifacts(path)
                    if not f.is_dir]
        except Exception:  # noqa: BLE001 - no summaries: the caller reads trials one by one
            return []

    def _rest_creds(self):
        """The host credentials when tracking goes to a server over HTTP, else None."""
        from mlflow.store.tracking.rest_store import RestStore

        store = getattr(getattr(self._client, "_tracking_client", None), "store", None)
        return store.get_host_creds() if isinstance(store, RestStore) else None

    def _rest(self, endpoint: str, method: str, **kwargs) -> dict:
        """One request to the tracking server through MLflow's own HTTP client (its retries,
        credentials and TLS settings); the decoded JSON."""
        from mlflow.utils.rest_utils import http_request, verify_rest_response

        with server_calls(self.uri):
            response = verify_rest_response(http_request(self._rest_creds(), endpoint, method, **kwargs), endpoint)
        return response.json()


def _metric_order(m) -> tuple:
    """Rows of one metric in step order, then timestamp, then the stored value (a NaN is stored
    as 0): the order of get_metric_history's query once sorted by step."""
    get = m.get if isinstance(m, dict) else lambda k: getattr(m, k)
    value = float(get("value"))
    return int(get("step")), int(get("timestamp")), 0.0 if value != value else value, value != value


def _parallel(fn: Callable, items: Iterable, threads: int = HTTP_THREADS) -> list:
    """fn over items on up to `threads` threads (for round trips to a server), in order."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


@contextmanager
def _quiet_downloads():
    """No progress bar per downloaded artifact (MLflow draws one per file)."""
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    name, before = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name, os.environ.get(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


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


def dataset_input(splits, context: str = "train") -> DatasetInput:
    """An MLflow dataset record (name, digest, schema, source) for the training split; computed
    once per loaded dataset and reused by every run that logs it."""
    cached = splits.extra.get(("mlflow_input", context))
    if cached is not None:
        return cached
    import mlflow.data

    ds = mlflow.data.from_numpy(splits.x_train.numpy(), targets=splits.in_target_units(splits.y_train.numpy()),
                                name=splits.name, source=_source(splits.provenance))
    entity = DatasetInput(ds._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)])
    splits.extra[("mlflow_input", context)] = entity
    return entity


def _source(provenance: str):
    from mlflow.data.code_dataset_source import CodeDatasetSource

    return CodeDatasetSource(tags={"provenance": provenance[:500]})
