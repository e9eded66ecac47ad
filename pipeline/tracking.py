"""MLflow tracking: the run tree of a study, written with explicit run ids.

    root run (the `mlflow run` project run, or one we create)
      └── dataset parent run, e.g. "digits"
            └── trial child run, e.g. "digits/l2/seed3": params, per-epoch metrics, final metrics

Run ids are passed explicitly (MlflowClient) rather than through MLflow's per-thread active-run
stack. Everything the report needs is findable by tags (runtree.py names them). This module and
tracking_reads.py (the reads, which Tracker inherits) are the only ones that talk to MLflow (with
their helpers: the bulk SQL fast paths in mlflow_sql.py; riding out a tracking server's restart
in tracking_server.py; links into the UI in ui_links.py).

Each writing process keeps the per-epoch curves and weight histograms of the trials it finished
and logs them on their dataset parent as one artifact (TrialSummaries), so that reading a study
back costs round trips that grow with its datasets and writing processes, not with its trials.
"""
from __future__ import annotations

import json
import logging
import math
import os
import posixpath
import sys
import threading
import uuid
from typing import Optional

from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT
from mlflow.tracking.default_experiment import DEFAULT_EXPERIMENT_ID
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME, MLFLOW_RUN_NOTE

from . import runtree as rt
from .runtime import failpoint, mask_credentials, outage_limit_s
from .store_paths import sqlite_file
from .tracking_server import ServerClient, configure_http_retries, retry_notice, server_calls
from .ui_links import overview_key, tag_equals
from .mlflow_sql import (NewRun, create_runs, finish_runs, insert_new_metrics, now_ms, param_value,
                         recover_interrupted_creation, store_creation_lock)
from .tracking_reads import SUMMARIES_DIR, RunRecord, TrackingReads, local_artifact_dir

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
BATCH_LIMIT = 900  # MLflow accepts at most 1000 metrics per log_batch call
# the per-epoch series kept in each trial's summary (the report plots train_data_loss and val_loss)
SUMMARY_CURVES = ("train_loss", "train_data_loss", "val_loss")
SUMMARY_BATCH = 10000  # a writer flushes a parent's summary at least every this many trials (~3 MB)
__all__ = ["NewRun", "RunRecord", "Tracker", "dataset_input", "mask_credentials", "tracking_uri"]


def tracking_uri(explicit: Optional[str] = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


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


class Tracker(TrackingReads):
    """The run tree of a study, written with explicit run ids (its reads: TrackingReads)."""

    def __init__(self, uri: Optional[str] = None):
        self.uri = tracking_uri(uri)
        with store_creation_lock(self.uri):   # MlflowClient opens the store: creates a new one's tables
            if note := recover_interrupted_creation(self.uri):
                print(note, file=sys.stderr, flush=True)
            self._client = MlflowClient(self.uri)
        if self.uri.startswith(("http://", "https://")):
            configure_http_retries(outage_limit_s())
            self._client = ServerClient(self._client, self.uri)
            logging.getLogger("urllib3.connectionpool").addHandler(retry_notice)   # once: a handler is kept once
            retry_notice.uri = self.uri
            # MLflow prints two "View run/experiment at" lines per run it ends on a server: thousands in
            # a worker's log. The pipeline prints its own links (ui_links) where they help.
            os.environ.setdefault(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name, "true")
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact URI, for the runs we started
        self.project_root: Optional[str] = None   # `mlflow run`'s project run where it is the study's root
        self._summaries = TrialSummaries()

    # --- experiment and root ---------------------------------------------------------------
    def _artifacts_beside_store(self, study_name: str) -> Optional[str]:
        """A new experiment's artifact folder on a SQLite store: mlruns/<study> beside the database
        file, not MLflow's ./mlruns in whatever folder the command ran in (a store given by path
        elsewhere left its figures and weight histograms behind in the working folder, and a
        `make clean` there took them from the report). None for other stores: the server's or
        the database's own artifact root."""
        from .study import file_safe

        path = sqlite_file(self.uri)
        if not path:
            return None
        return os.path.join(os.path.dirname(os.path.abspath(path)), "mlruns", file_safe(study_name))

    def experiment_for(self, study_name: str) -> str:
        """The study's experiment. Under `mlflow run --experiment-name X` the project run lives in
        X and is the study's root (nesting only shows within one experiment). Without a name MLflow
        puts its project run in the Default experiment; the study then keeps its own experiment,
        where an earlier `make ablation` put its runs and where the links lead, and the project run
        only points to it (project_pointer). A study that already lives in Default stays there."""
        project_run = os.environ.get("MLFLOW_RUN_ID")
        if project_run:
            hosting = self._client.get_run(project_run).info.experiment_id
            if hosting != DEFAULT_EXPERIMENT_ID or self._client.search_runs(
                    [hosting], f"{tag_equals(rt.STUDY, study_name)} AND tags.{rt.KIND} = '{rt.ROOT}'",
                    max_results=1):
                self.project_root = project_run
                return hosting
        exp = self._client.get_experiment_by_name(study_name)
        if exp is not None:
            return exp.experiment_id
        try:
            return self._client.create_experiment(study_name, artifact_location=self._artifacts_beside_store(study_name))
        except Exception:  # another worker created it first
            return self._client.get_experiment_by_name(study_name).experiment_id

    def add_missing_params(self, run_id: str, params: dict) -> None:
        """Log those of `params` the run does not have yet (a param is written once in MLflow)."""
        have = self._client.get_run(run_id).data.params
        missing = {k: v for k, v in params.items() if k not in have}
        if missing:
            self.log_params(run_id, missing)

    def has_run(self, run_id: str) -> bool:
        """Whether the store holds the run; an error other than its absence (a proxy's 403, say)
        is raised, not read as "no such run"."""
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_run(run_id) is not None
        except MlflowException as e:
            if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return False
            raise

    def root_run(self, experiment_id: str, study_name: str, tags: dict[str, str]) -> str:
        run_id = self.project_root
        all_tags = {rt.STUDY: study_name, rt.KIND: rt.ROOT, rt.UI_ORDER: rt.ui_order(rt.ROOT), **tags}
        if run_id:   # `mlflow run`'s project run, named like ours instead of MLflow's random words
            self.set_tags(run_id, {**all_tags, MLFLOW_RUN_NAME: f"ablation {study_name}"})
            return run_id
        return self._client.create_run(experiment_id, run_name=f"ablation {study_name}", tags=all_tags).info.run_id

    def project_pointer(self, experiment_id: str, study_name: str) -> Optional[str]:
        """Under `mlflow run` without --experiment-name (experiment_for kept the study in its own
        experiment): the project run in Default named and described as a pointer to where the study's
        runs are. The experiment's name, or None where there is no such project run."""
        project_run = os.environ.get("MLFLOW_RUN_ID")
        if not project_run or self.project_root:
            return None
        name = self._client.get_experiment(experiment_id).name
        self.set_tags(project_run, {rt.STUDY: study_name, MLFLOW_RUN_NAME: f"ablation {study_name} (runs in {name})",
                                    MLFLOW_RUN_NOTE: f"This study's runs are in the experiment `{name}` (id "
                                    f"{experiment_id}), under its root run `ablation {study_name}`. `mlflow run` "
                                    f"put this project run in the Default experiment; with --experiment-name "
                                    f"{name} the study's runs nest under it."})
        return name

    def owns_root(self) -> bool:
        """True when we created the root run (and so must end it); `mlflow run` ends its own."""
        return self.project_root is None

    def single_run(self, experiment_id: str, name: str) -> str:
        """A run outside any study tree (`python -m pipeline train`)."""
        return self._client.create_run(experiment_id, run_name=name).info.run_id

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.flush_summaries(run_id)  # a dataset parent gets this process's trial summaries first
        self._client.set_terminated(run_id, status)

    def discard_if_empty(self, experiment_id: str, run_id: str) -> bool:
        """Delete a run that has no child runs (an `enqueue` that created nothing under its root):
        an empty root per call would clutter the experiment. True when it was deleted."""
        if self._client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{run_id}'", max_results=1):
            return False
        if self._client.get_run(run_id).info.status == "RUNNING":   # a deleted run is never ended otherwise
            self._client.set_terminated(run_id, "FINISHED")
        self._client.delete_run(run_id)
        return True

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
        metrics = epoch_metrics(history or {}, now_ms(), finite_only=True)
        self._artifact_uris.pop(run_id, None)  # no artifact for a failed run
        self._summaries.forget(run_id)
        self.log_metrics(run_id, metrics, tags)
        self._client.set_terminated(run_id, status)

    # --- writing -----------------------------------------------------------------------------
    def log_text(self, run_id: str, text: str, path: str) -> None:
        self._client.log_text(run_id, text, path)

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
        local_dir = local_artifact_dir(uri)
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

    def delete_artifact(self, run_id: str, path: str) -> Optional[bool]:
        """Remove one artifact of a run (a report build's file that this build did not write: the
        last build's PDF beside a --no-pdf build's HTML read as current): True when it is not there
        (now), False when it is and could not be removed, None when the listing failed (unknown)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        try:
            repo = get_artifact_repository(self._client.get_run(run_id).info.artifact_uri)
            if path not in {a.path for a in repo.list_artifacts(posixpath.dirname(path))}:
                return True
        except Exception:
            return None
        try:
            repo.delete_artifacts(path)
            return True
        except Exception:   # a store that cannot delete (some remote ones): said by the caller
            return False

    def share_overview(self, experiment_id: str, study_name: str, groups: list[tuple[str, str]],
                       metrics: list[str]) -> str:
        """Store the study's overview as an MLflow UI shared view (the experiment tag the UI's
        "Share" button writes; MLflow 3.17 reads it from ?viewStateShareKey=): the study's runs
        sorted by UI_ORDER, grouped by dataset with the groups closed, so the first screen shows one
        row per dataset (its parent and trials inside) and the root run, whatever the study's size.
        When the experiment holds a dataset in more than one configuration (the study rerun with
        --epochs 2), the groups are (dataset, configuration): never averaged together.
        `groups`: (label, config_hash) of each plan, added to those of the study's dataset parent
        runs. The UI pages runs 100 at a time; UI_ORDER puts the root, the parents and the first
        seeds of every dataset and arm on the first page; its columns: the verdict, arm, seed, the
        try (attempt) and how a try that did not finish ended (outcome), and the test value of each metric the study reads (`metrics`: names, e.g. accuracy). A view of
        the study (`--datasets digits`) only adds columns to what an earlier call stored, never
        drops them. Returns the share key."""
        key = overview_key(study_name)
        try:
            earlier = json.loads(self._client.get_experiment(experiment_id).tags.get(rt.SHARED_VIEW_PREFIX + key, "{}"))
        except ValueError:   # not JSON: written by something else; replaced
            earlier = {}
        parents = self._client.search_runs([experiment_id], f"{tag_equals(rt.STUDY, study_name)} AND "
                                           f"tags.{rt.KIND} = '{rt.DATASET}'", max_results=5000)
        pairs = list(dict.fromkeys([*groups, *((r.data.tags.get(rt.DATASET_LABEL, ""), r.data.tags.get(rt.CONFIG_HASH, ""))
                                              for r in parents)]))
        labels = [label for label, _ in pairs]
        by_config = len(set(labels)) < len(labels)
        # the UI names a group "tag.<key>.<value>", joined by commas for several keys, and opens
        # every group it is not told to keep closed
        closed = dict.fromkeys(f"tag.{rt.DATASET_LABEL}.{label}" + (f",tag.{rt.CONFIG_HASH}.{config}" if by_config else "")
                               for label, config in pairs)
        metrics = list(dict.fromkeys([*(c[len("metrics.`test_"):-1] for c in earlier.get("selectedColumns", [])
                                        if c.startswith("metrics.`test_")), *metrics]))
        state = {"searchFilter": tag_equals(rt.STUDY, study_name),
                 "orderByKey": f"tags.`{rt.UI_ORDER}`", "orderByAsc": True,
                 "groupBy": {"aggregateFunction": "average",
                             "groupByKeys": [{"mode": "tag", "groupByData": k}
                                             for k in (rt.DATASET_LABEL, rt.CONFIG_HASH)[:1 + by_config]]},
                 "groupsExpanded": {k: False for k in closed},
                 # attempt and outcome: a stopped cell's KILLED run beside its rerun's (one row each, alike
                 # but for the status icon) says which try it was and how it ended
                 "selectedColumns": [f"tags.`{t}`" for t in ("verdict", rt.ARM, rt.SEED, rt.ATTEMPT, rt.OUTCOME)]
                 + [f"metrics.`test_{m}`" for m in dict.fromkeys(metrics)]}
        self._client.set_experiment_tag(experiment_id, rt.SHARED_VIEW_PREFIX + key, json.dumps(state))
        return key

    def share_views(self, experiment_id: str, views: dict[str, dict]) -> None:
        """Store MLflow UI shared views ({share key: view state}) in an experiment, writing only
        those not stored as they are (a report built again writes nothing)."""
        stored = self._client.get_experiment(experiment_id).tags
        for key, state in views.items():
            value = json.dumps(state)
            if stored.get(rt.SHARED_VIEW_PREFIX + key) != value:
                self._client.set_experiment_tag(experiment_id, rt.SHARED_VIEW_PREFIX + key, value)

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

    def delete_tags(self, run_id: str, keys: list[str]) -> None:
        for key in keys:
            self._client.delete_tag(run_id, key)



def trial_metrics(history: dict[str, list[float]], final: dict[str, float], ts: int) -> list[Metric]:
    """A trial's per-epoch series (step = epoch, at the time the epoch ended where the trainer
    kept it: a History) and its final values (step 0, at `ts`)."""
    return epoch_metrics(history, ts) + [Metric(key, float(v), ts, 0) for key, v in final.items()]


def epoch_metrics(history: dict[str, list[float]], ts: int, finite_only: bool = False) -> list[Metric]:
    """Per-epoch series as metrics; an epoch without a kept end time is stamped `ts`."""
    ended = getattr(history, "ended_ms", [])
    return [Metric(key, float(v), ended[step - 1] if step <= len(ended) else ts, step)
            for key, series in history.items() for step, v in enumerate(series, start=1)
            if not finite_only or math.isfinite(v)]


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
