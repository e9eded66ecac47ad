"""Reading a study back from MLflow: the read half of tracking.Tracker (which inherits it), kept
apart from the run tree's writes. Searches return RunRecords (plain values); per-epoch curves and
weight histograms come from the trial summaries each writing process leaves on the dataset parent
(trial_summaries/*.json, written by tracking.TrialSummaries), and what no summary covers comes in
bulk: MLflow's SQL tables directly (mlflow_sql.metric_histories), a server's get-history-bulk
endpoint (100 runs a request), or parallel artifact downloads. The round trips grow with datasets
and writing processes, not with trials (but for one search page per 5,000 runs).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from . import arms, metric_numbers
from . import runtree as rt
from .mlflow_sql import metric_histories, runs_with_tags
from .task import METRICS
from .tracking_server import server_calls
from .ui_links import tag_equals

SEARCH_PAGE = 5000
HTTP_THREADS = 8       # parallel requests to a tracking server (fallback reads, artifact downloads)
BULK_RUNS = 100        # metrics/get-history-bulk: at most 100 run ids a request ...
BULK_ROWS = 25000      # ... and 25,000 rows a response
SUMMARIES_DIR = "trial_summaries"


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


class TrackingReads:
    """Every read of runs, metric histories and artifacts. Expects `self._client` (an
    MlflowClient, or tracking_server.ServerClient) and `self.uri`, as Tracker sets them."""

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

    def deleted_runs(self, study_name: str, kind: str) -> dict[str, dict]:
        """{run id: tags} of a study's runs of one kind that were deleted in MLflow (the UI's Delete, not
        yet garbage-collected): the report reads active runs only, so the console leaves them out too,
        and both say so."""
        from mlflow.entities import ViewType
        from mlflow.exceptions import MlflowException

        filt = f"{tag_equals(rt.STUDY, study_name)} AND tags.{rt.KIND} = '{kind}' AND attributes.status = 'FINISHED'"
        try:
            exp_ids = [e.experiment_id for e in self._client.search_experiments()]
            return {r.info.run_id: r.data.tags for r in self._client.search_runs(
                exp_ids, filt, run_view_type=ViewType.DELETED_ONLY, max_results=5000)}
        except MlflowException:   # a server without the view (or the search): as before, Optuna's values stand
            return {}

    def running(self, experiment_id: str, **tags: str) -> list:
        """RUNNING runs of an experiment with these tag values."""
        filt = " AND ".join(["attributes.status = 'RUNNING'"] + [tag_equals(k, v) for k, v in tags.items()])
        # exactly these values: a value with both kinds of quote is searched by LIKE (tag_equals)
        return [r for r in self.search([experiment_id], filt) if all(r.data.tags.get(k) == v for k, v in tags.items())]

    def study_runs(self, study_name: str, kind: str, extra_filter: str = "", **tags: str) -> list[RunRecord]:
        """Every run of a study of one kind (and these other tag values), across all experiments
        and root runs, as RunRecords: from MLflow's SQL tables when it can (mlflow_sql.runs_with_tags),
        from a server's JSON (_search_json), else through MlflowClient.search_runs."""
        found = None if extra_filter else runs_with_tags(self._client, {rt.STUDY: study_name, rt.KIND: kind, **tags})
        if found is not None:
            return [RunRecord(**r) for r in found]
        exp_ids = [e.experiment_id for e in self._client.search_experiments()]
        wanted = {rt.STUDY: study_name, rt.KIND: kind, **tags}   # exactly (tag_equals' LIKE for both quotes)
        filt = " AND ".join(tag_equals(k, v) for k, v in wanted.items())
        if extra_filter:
            filt += f" AND {extra_filter}"
        found = [RunRecord.of(r) for r in self.search(exp_ids, filt)] if self._rest_creds() is None else \
            self._search_json(exp_ids, filt)
        return [r for r in found if all(r.tags.get(k) == v for k, v in wanted.items())]

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

    def _read_json(self, uri: str, path: str) -> Optional[dict]:
        """A JSON artifact under the artifact URI `uri`, or None when it cannot be read."""
        import tempfile

        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        try:
            local_dir = local_artifact_dir(uri)
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
            local_dir = local_artifact_dir(uri)
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


def chosen_after(parents: list, label: str, config_hash: str) -> list[str]:
    """What changed after a dataset's verdicts were given (rt.CHOSEN_AFTER), over the parents of its
    configuration (one opened later, for added seeds, has none of its own), in the order said."""
    said: dict[str, None] = {}
    for p in sorted(parents, key=lambda p: p.start_time or 0):
        if p.tags.get(rt.DATASET_LABEL) == label and p.tags.get(rt.CONFIG_HASH) == config_hash:
            try:
                said.update(dict.fromkeys(str(x) for x in json.loads(p.tags.get(rt.CHOSEN_AFTER, "[]"))))
            except ValueError:
                continue
    return list(said)


@dataclass(frozen=True)
class VerdictsChange:
    """What changed after a dataset's verdicts were given: the primary metric or the ROPE setting,
    from `was` to `now` as a reader reads them ("accuracy", "5% of none's mean", "±0.01")."""
    what: str   # "metric" | "rope" | "points" | "strengths"
    was: str
    now: str

    @property
    def words(self) -> str:
        """As the parent's rt.CHOSEN_AFTER records it: "the ROPE (5% of none's mean -> ±0.01)"."""
        return f"{CHANGED[self.what]} ({self.was} -> {self.now})"


CHANGED = {"metric": "the primary metric", "rope": "the ROPE", "points": "the path points", "strengths": "the strengths"}


def _latest_given(study, label: str, parents: list, tag: str) -> Optional[str]:
    """The `tag` a dataset's verdicts were last given under: on the latest parent of its configuration
    that has it (a new parent, opened for added seeds or a round, has none yet); None where none has."""
    config = next(p.config_hash for p in study.plans if p.label == label)
    mine = [p for p in parents if p.tags.get(rt.DATASET_LABEL) == label and p.tags.get(rt.CONFIG_HASH) == config
            and tag in p.tags]
    return max(mine, key=lambda p: (p.start_time or 0, p.run_id)).tags[tag] if mine else None


def change_since_verdicts(study, label: str, metric: str, parents: list) -> Optional[VerdictsChange]:
    """The primary metric or the ROPE setting where it differs from the one the dataset's verdicts were last given under (rt.ROPE_SETTING,
    "<metric>:<setting>", on the latest parent of its configuration that has it: a new parent, opened
    for added seeds or a round, has none yet); None where neither changed. The setting, not the width
    (a share of none's mean, "5%", moves with the seeds); a ROPE in the same metric only (another
    metric has another default)."""
    was = _latest_given(study, label, parents, rt.ROPE_SETTING)
    setting = rope_setting(study, label, metric)
    if was is None or ":" not in was or was == setting:   # no colon: written before the tag named its metric
        return None
    if was.split(":")[0] != metric:   # choosing the metric after the results is as post hoc
        return VerdictsChange("metric", was.split(":")[0], metric)

    def shown(s: str) -> str:
        s = s.split(":", 1)[1]
        return f"{s} of none's mean" if s.endswith("%") else f"±{metric_numbers.rope_text(float(s), metric)}"
    return VerdictsChange("rope", shown(was), shown(setting))


def points_since_verdicts(study, label: str, parents: list) -> list[VerdictsChange]:
    """The path points the study file lists where they differ from those the dataset's verdicts were
    last given under (rt.PATH_POINTS, as change_since_verdicts reads rt.ROPE_SETTING): a point taken
    out after its results were seen moves which point stands for the arm, and the verdict with it
    (one the validation split had chosen, dropped, gave another point's verdict without a word); and
    the strengths of the arms without a path (OWN_POINTS), tried again after their verdicts were seen."""
    was, now = _latest_given(study, label, parents, rt.PATH_POINTS), points_setting(study, label)
    if was is None or was == now:
        return []
    try:
        was_points, now_points = json.loads(was), json.loads(now)
    except ValueError:   # not written by this code: nothing to compare
        return []
    # the arms with a path then and now: an arm (and its path) added or taken out is judged as if it had
    # been there from the start, or is gone, and moves no other arm's verdict
    was_own, now_own = was_points.pop(OWN_POINTS, {}), now_points.pop(OWN_POINTS, {})
    both = sorted(set(was_points) & set(now_points))
    was_points, now_points = {a: was_points[a] for a in both}, {a: now_points[a] for a in both}
    moved = [a for a in study.arms if a in was_own and a in now_own and was_own[a] != now_own[a]]   # the file's order
    return ([VerdictsChange("points", _points_words(was_points), _points_words(now_points))]
            if was_points != now_points else []) + \
        ([VerdictsChange("strengths", _points_words({a: [was_own[a]] for a in moved}),
                         _points_words({a: [now_own[a]] for a in moved}))] if moved else [])


POINTS_TAG_MOST = 4000   # characters of rt.PATH_POINTS (MLflow cuts a tag past 8,000 without a word)
OWN_POINTS = "_own"      # rt.PATH_POINTS' {arm: point} of the arms without a path whose point is their strength


def points_setting(study, label: str) -> str:
    """The path points the study file lists for dataset `label`, as rt.PATH_POINTS records them:
    {arm: [points]} of each arm with a path (a path of one point too), named as its cells are
    (Study.points) (JSON); an arm's long list as "#<how many>:<digest>" (a large path grid's ran past
    MLflow's tag length). An arm without a path whose one point is named by its strength is under
    OWN_POINTS, apart: a path added to it is judged as if it had been there from the start, its
    strength changed is a choice made after the verdicts (points_since_verdicts)."""
    import hashlib

    points = study.listed_points(study.plan_of(label))
    listed = {arm: sorted(p) for arm, p in points.items() if study.variants(arm) != [{}]}
    own = {arm: next(iter(p)) for arm, p in points.items() if study.variants(arm) == [{}] and p != {""}}
    text = json.dumps({**listed, **({OWN_POINTS: own} if own else {})}, sort_keys=True)
    if len(text) <= POINTS_TAG_MOST:
        return text
    return json.dumps({**{arm: [f"#{len(p)}:{hashlib.sha1(json.dumps(p).encode()).hexdigest()[:16]}"]
                          for arm, p in listed.items()}, **({OWN_POINTS: own} if own else {})}, sort_keys=True)


def _points_words(points: dict) -> str:
    """ "L2 1e-05, 0.001, 0.01" (each arm's points by strength, the value alone where the point sets
    one key; "dropout=0.1,l2=0.001" as written where it sets several; "12 points" where the tag kept
    a digest)."""
    def strength(point: str) -> tuple:
        try:
            return 0, float(point.split("=", 1)[-1]), point
        except ValueError:   # several keys (dropout_l2), or a mode
            return 1, 0.0, point

    def said(point: str) -> str:
        if point.startswith("#"):
            return f"{point[1:].split(':')[0]} points"
        return point.split("=", 1)[-1] if point.count("=") == 1 else point
    return "; ".join(f"{arms.label(arm)} {', '.join(said(p) for p in sorted(listed, key=strength))}"
                     for arm, listed in points.items()) or "no path"


def changes_since_verdicts(study, label: str, metric: str, parents: list) -> list[VerdictsChange]:
    """change_since_verdicts and points_since_verdicts, those that changed."""
    return [c for c in (change_since_verdicts(study, label, metric, parents), *points_since_verdicts(study, label, parents))
            if c is not None]


def chosen_after_now(study, label: str, metric: str, parents: list,
                     changes: Optional[list[VerdictsChange]] = None) -> list[str]:
    """What changed after the dataset's verdicts were given, in words: as recorded on its parents
    (tracking_reads.chosen_after), and the changes this look makes (changes_since_verdicts; given
    where the caller has them)."""
    config = next(p.config_hash for p in study.plans if p.label == label)
    before = chosen_after(parents, label, config)
    changes = changes_since_verdicts(study, label, metric, parents) if changes is None else changes
    return [*before, *(c.words for c in changes if c.words not in before)]


def rope_setting(study, label: str, metric: str) -> str:
    """A dataset's ROPE setting as rt.ROPE_SETTING records it: "<metric>:<share>%" or "<metric>:<width>"."""
    plan = next(p for p in study.plans if p.label == label)
    rope = plan.rope if plan.rope is not None else METRICS[metric].default_rope
    return f"{metric}:" + (f"{float(rope[:-1]):g}%" if isinstance(rope, str) else f"{float(rope):g}")


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


def local_artifact_dir(uri: str) -> Optional[str]:
    """The directory of a local artifact URI (a plain path or file://), else None."""
    from urllib.parse import urlparse

    from mlflow.utils.file_utils import local_file_uri_to_path

    scheme = urlparse(uri).scheme
    return local_file_uri_to_path(uri) if scheme in ("", "file") else None
