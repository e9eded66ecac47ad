"""The tracking fast paths write what MLflow's own calls write: a finished trial's metrics go
into MLflow's SQL store as bulk rows (insert_new_metrics) and its artifact straight to the run's
artifact store. Checked by reading both back through MlflowClient, on SQLite and PostgreSQL."""

import json
import math
import os
import re

import mlflow.artifacts
import pytest
from mlflow.entities import Metric
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from pipeline.mlflow_sql import insert_new_metrics
from pipeline.tracking import NewRun, Tracker
from pipeline.trainer_common import History

INF = float("inf")
METRICS = [
    *(Metric("train_loss", v, 1000 + s, s) for s, v in enumerate([0.9, 0.5, math.nan, 0.4, INF], start=1)),
    *(Metric("val_metric", v, 1000 + s, s) for s, v in enumerate([0.1, 0.3, 0.3, -INF, 0.2], start=1)),
    Metric("val_metric", 0.2, 1005, 5),  # an exact duplicate: log_batch keeps one row
    Metric("late", 1.0, 100, 3), Metric("late", 0.5, 200, 3),  # same step: the later timestamp is latest
    Metric("late", 9.0, 999, 2),  # a higher step wins over a later timestamp
    Metric("test_metric", 0.75, 1006, 0), Metric("gap", math.nan, 1006, 0),
]


def _history(values: list[float], ended_ms: list[int]) -> History:
    """A trainer's per-epoch record of val_metric, with the given epoch end times."""
    history = History(("val_metric",))
    for v in values:
        history.add({"val_metric": v})
    history.ended_ms[:] = ended_ms
    return history


def _series(client, run_id: str, key: str) -> list[tuple[int, int, float]]:
    return sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.fixture(params=["sqlite", "postgresql"])
def tracking_uri(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    return request.getfixturevalue("postgres") + "/mlflow"


def test_bulk_metrics_and_artifacts_read_back_as_mlflow_writes_them(tracking_uri):
    tracker = Tracker(tracking_uri)
    client = MlflowClient(tracking_uri)  # what any MLflow user reads back
    exp = client.create_experiment("fast-paths")
    bulk, reference = (client.create_run(exp).info.run_id for _ in range(2))

    assert insert_new_metrics(client, bulk, METRICS)
    client.log_batch(reference, metrics=METRICS)

    latest = {r: client.get_run(r).data.metrics for r in (bulk, reference)}
    assert latest[bulk].keys() == latest[reference].keys() == {m.key for m in METRICS}
    assert all(_same(latest[bulk][k], latest[reference][k]) for k in latest[bulk]), latest
    assert latest[bulk]["late"] == 0.5 and latest[bulk]["train_loss"] > 1e307  # MLflow stores inf as max float
    for key in latest[bulk]:
        rows = {r: sorted(((m.step, m.timestamp, m.value) for m in client.get_metric_history(r, key)),
                          key=lambda x: x[:2]) for r in (bulk, reference)}
        assert len(rows[bulk]) == len(rows[reference]), key
        assert all(a[:2] == b[:2] and _same(a[2], b[2]) for a, b in zip(rows[bulk], rows[reference])), key
    ordered = client.search_runs([exp], "", order_by=["metrics.late DESC"])
    assert len(ordered) == 2 and {r.data.metrics["late"] for r in ordered} == {0.5}

    # A trial run as the pipeline writes it: params and tags at the start, then results.
    run = tracker.start_trial(exp, NewRun(bulk, "digits/l2/seed0", tags={"device": "cpu"},
                                          params={"lr": 0.1, "hidden": [16, 16]}))
    tracker.finish_trial(run, _history([0.5, 0.6], ended_ms=[1000, 2000]), {"test_metric": 0.55}, tags={"note": "x"},
                         artifacts={"weight_histogram.json": {"layer0": {"counts": [1, 2, 3]}}})
    got = client.get_run(run)
    assert got.info.status == "FINISHED"
    assert got.data.metrics == {"val_metric": 0.6, "test_metric": 0.55}
    assert got.data.params == {"lr": "0.1", "hidden": "[16, 16]"} and got.data.tags["note"] == "x"
    # each epoch at the time it ended (MLflow's wall-time axis), the final values when written
    assert _series(client, run, "val_metric") == [(1, 1000, 0.5), (2, 2000, 0.6)]
    assert _series(client, run, "test_metric")[0][1] > 2000
    # the same through the bulk path (one transaction for many runs) and for a run that failed
    batch = [tracker.start_trial(exp, NewRun(bulk, f"digits/l2/seed{s}", {}, {})) for s in (1, 2, 3)]
    tracker.finish_trials([(batch[0], _history([0.1, 0.2], ended_ms=[3000, 4000]), {"test_metric": 0.3}, {}),
                           (batch[1], _history([0.4], ended_ms=[5000]), {"test_metric": 0.5}, {})])
    tracker.fail_trial(batch[2], "FAILED", {"why": "diverged"}, _history([0.7, INF], ended_ms=[6000, 7000]))
    assert _series(client, batch[0], "val_metric") == [(1, 3000, 0.1), (2, 4000, 0.2)]
    assert _series(client, batch[1], "val_metric") == [(1, 5000, 0.4)]
    assert _series(client, batch[2], "val_metric") == [(1, 6000, 0.7)]   # the diverged epoch is not logged
    assert mlflow.artifacts.load_dict(f"{got.info.artifact_uri}/weight_histogram.json") == \
        {"layer0": {"counts": [1, 2, 3]}}

    # A run that already has one of these metrics: the bulk path writes nothing and says so,
    # and finish_trial falls back to log_batch, which merges them.
    earlier = client.create_run(exp).info.run_id
    client.log_metric(earlier, "late", 7.0, timestamp=5000, step=9)
    assert not insert_new_metrics(client, earlier, METRICS)
    assert client.get_run(earlier).data.metrics == {"late": 7.0}
    assert len(client.get_metric_history(earlier, "val_metric")) == 0
    tracker.finish_trial(earlier, {"late": [1.0]}, {"test_metric": 0.5}, tags={}, artifacts={})
    got = client.get_run(earlier)
    assert got.data.metrics == {"late": 7.0, "test_metric": 0.5} and got.info.status == "FINISHED"

    # Like log_batch, the bulk path refuses a deleted run.
    client.delete_run(reference)
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        client.log_batch(reference, metrics=METRICS[:1])
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        insert_new_metrics(client, reference, [Metric("other", 1.0, 1, 1)])


def test_runs_opened_and_finished_in_bulk_read_back_as_mlflow_writes_them(tracking_uri):
    """Tracker.start_trials / finish_trials (one transaction per population on MLflow's SQL
    store) against MLflow's own calls for the same run: everything MlflowClient reads back is
    the same, searches find both, and datasets are shared as log_inputs shares them."""
    from mlflow.entities import Param
    from mlflow.store.tracking.dbmodels.models import SqlDataset
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    from pipeline.datasets import load
    from pipeline.study import DatasetSpec
    from pipeline.mlflow_sql import param_value, sql_store
    from pipeline.tracking import dataset_input, trial_metrics

    tracker = Tracker(tracking_uri)
    client = MlflowClient(tracking_uri)  # what any MLflow user reads back
    assert sql_store(client) is not None  # the fast path is in use with the pinned MLflow
    exp = client.create_experiment("bulk-runs")
    parent = client.create_run(exp).info.run_id
    ds = dataset_input(load(DatasetSpec(name="wine"), 0))
    tags = {"regularizer": "l2", "seed": 3, "mlflow.user": "alice", "study": "it's"}
    params = {"lr": 0.1, "hidden": [16, 16], "long": "x" * 7000}
    history = {"val_metric": [0.5, math.nan, 0.7], "train_loss": [1.0, 0.5, INF]}
    final = {"test_metric": 0.65, "gap_metric": -0.1}
    art = {"weight_histogram.json": {"layer0": {"counts": [1, 2, 3]}}}

    ref = client.create_run(exp, run_name="wine/l2/seed3", tags={
        MLFLOW_PARENT_RUN_ID: parent, "kind": "trial", "ui_order": "3.000003.3.l2",
        **{k: str(v) for k, v in tags.items()}}).info.run_id
    client.log_batch(ref, params=[Param(k, param_value(v)) for k, v in params.items()])
    client.log_inputs(ref, [ds])
    client.log_batch(ref, metrics=trial_metrics(history, final, 1000))
    client.log_dict(ref, art["weight_histogram.json"], "weight_histogram.json")
    client.set_terminated(ref, "FINISHED")

    bulk = tracker.start_trials(exp, [NewRun(parent, "wine/l2/seed3", tags, params, ds),
                                      NewRun(parent, "wine/none/seed4", {"seed": 4}, {"lr": 0.2}, ds)])
    assert client.get_run(bulk[0]).info.status == "RUNNING"
    tracker.finish_trials([(run, history, final, art) for run in bulk])

    a, b = client.get_run(ref), client.get_run(bulk[0])
    for field in ("status", "lifecycle_stage", "user_id", "run_name", "experiment_id"):
        assert getattr(b.info, field) == getattr(a.info, field), field
    assert b.info.user_id == "alice" and b.info.end_time >= b.info.start_time > 0
    import getpass   # without one given, who ran it: the UI's "Created by" (it showed a dash)
    assert client.get_run(bulk[1]).data.tags["mlflow.user"] == client.get_run(bulk[1]).info.user_id == getpass.getuser()
    assert b.info.artifact_uri == a.info.artifact_uri.replace(ref, bulk[0])
    assert b.data.tags == a.data.tags and b.data.params == a.data.params and len(b.data.params["long"]) == 6000
    assert b.data.metrics.keys() == a.data.metrics.keys()
    assert all(_same(a.data.metrics[k], b.data.metrics[k]) for k in a.data.metrics)
    for key in a.data.metrics:
        ha, hb = ([(m.step, m.value) for m in client.get_metric_history(r, key)] for r in (ref, bulk[0]))
        assert len(ha) == len(hb) and all(x[0] == y[0] and _same(x[1], y[1]) for x, y in zip(ha, hb)), key
    [ia], [ib] = a.inputs.dataset_inputs, b.inputs.dataset_inputs
    assert ib.dataset.to_dictionary() == ia.dataset.to_dictionary()
    assert [(t.key, t.value) for t in ib.tags] == [(t.key, t.value) for t in ia.tags]
    assert mlflow.artifacts.load_dict(f"{b.info.artifact_uri}/weight_histogram.json") == art["weight_histogram.json"]
    found = client.search_runs([exp], f"tags.mlflow.parentRunId = '{parent}' AND params.lr = '0.1' "
                                      "AND tags.regularizer = 'l2' AND attributes.run_name = 'wine/l2/seed3' "
                                      "AND attributes.status = 'FINISHED' AND metrics.test_metric > 0.6")
    assert {r.info.run_id for r in found} == {ref, bulk[0]}
    assert client.get_run(bulk[1]).data.params == {"lr": "0.2"}
    store = sql_store(client)
    with store.ManagedSessionMaker() as session:  # one dataset row, used by all three runs
        assert session.query(SqlDataset).filter(SqlDataset.experiment_id == int(exp)).count() == 1

    # A run that already has one of the metrics: nothing of the batch is written in bulk, and
    # finish_trials ends every run through MLflow's own calls, which merge the metrics.
    more = tracker.start_trials(exp, [NewRun(parent, f"wine/l1/seed{s}", {}, {}, ds) for s in (5, 6)])
    client.log_metric(more[1], "test_metric", 0.1, timestamp=5000, step=9)
    tracker.finish_trials([(run, history, final, {}) for run in more])
    got = [client.get_run(r) for r in more]
    assert [g.info.status for g in got] == ["FINISHED", "FINISHED"]
    assert got[0].data.metrics["test_metric"] == 0.65 and got[1].data.metrics["test_metric"] == 0.1
    assert len(client.get_metric_history(more[1], "val_metric")) == 3

    # Like set_terminated, ending a deleted run is refused; the experiment must be active to open one.
    client.delete_run(bulk[1])
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        tracker.finish_trials([(bulk[1], {}, {"x": 1.0}, {})])
    client.delete_experiment(exp)
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        tracker.start_trials(exp, [NewRun(parent, "late", {}, {})])


# --- reading a study back in bulk -------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql", "server"])
def any_store(request, tmp_path):
    """A tracking URI: MLflow's SQL store on SQLite or PostgreSQL, or a real `mlflow server`
    (SQLite behind it) whose artifacts are proxied (--artifacts-destination)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mlflow.db'}"
    elif request.param == "postgresql":
        yield request.getfixturevalue("postgres") + "/mlflow"
    else:
        from .conftest import mlflow_serving

        with mlflow_serving(["server", "--backend-store-uri", f"sqlite:///{tmp_path / 'srv.db'}",
                             "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
                            tmp_path / "server.log", cwd=tmp_path) as url:
            yield url


def _series_equal(a: list, b: list) -> bool:
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


def _per_run_histories(client, run_ids, keys):
    """What MlflowClient returns run by run: each key's values in step order (then timestamp)."""
    return {r: {k: [m.value for m in sorted(client.get_metric_history(r, k), key=lambda m: (m.step, m.timestamp))]
                for k in keys} for r in run_ids}


def test_bulk_reads_return_what_per_run_calls_return(any_store, tmp_path):
    """Curves and weight histograms as the report reads them (trial summaries on the dataset
    parent, else in bulk: MLflow's SQL tables, a server's get-history-bulk, parallel artifact
    downloads) equal what MlflowClient returns run by run; the searched RunRecords equal the
    client's runs; a run named in two summary files is counted once."""
    import json

    from pipeline import runtree as rt
    from pipeline.tracking import SUMMARY_CURVES, RunRecord

    tracker, client = Tracker(any_store), MlflowClient(any_store)
    exp = client.create_experiment("bulk-reads")
    parent = client.create_run(exp, tags={"study": "bulk", "kind": rt.DATASET}).info.run_id
    histories = [{"train_loss": [0.9, 0.5, 0.25], "val_loss": [1.0, INF, 0.5], "val_metric": [0.1, 0.2, 0.3]},
                 {"train_loss": [0.8, math.nan], "val_loss": [0.7, 0.6]},
                 {"train_loss": [0.3 * i for i in range(1, 41)], "val_loss": [0.2 * i for i in range(1, 41)]}]
    runs = tracker.start_trials(exp, [NewRun(parent, f"d/none/seed{i}", {"seed": i, "study": "bulk"}, {"lr": 0.1})
                                      for i in range(len(histories))])
    tracker.finish_trials([(r, h, {"test_metric": 0.5 + i, "zero": 0.0},
                            {rt.WEIGHT_HISTOGRAM: {"edges": [0.0, 1e-6, "inf"], "counts": [i, 2 * i + 1]}})
                           for i, (r, h) in enumerate(zip(runs, histories))])
    # a run written by MLflow's own calls: two rows at one step, rows out of order, no summary
    other = client.create_run(exp, tags={"mlflow.parentRunId": parent}).info.run_id
    client.log_batch(other, metrics=[Metric("train_loss", 3.0, 20, 2), Metric("train_loss", 1.0, 10, 1),
                                     Metric("train_loss", 2.0, 15, 2), Metric("val_loss", math.nan, 10, 1)])
    client.log_dict(other, {"edges": [0.0], "counts": [7]}, rt.WEIGHT_HISTOGRAM)
    client.set_terminated(other)
    tracker.end_run(parent)   # ending the parent logs this process's trial summaries on it
    ids = [*runs, other]

    parents = [RunRecord.of(client.get_run(parent))]
    summaries = tracker.trial_summaries(parents)
    assert set(summaries) == set(runs)
    expected = _per_run_histories(client, ids, SUMMARY_CURVES)
    for got in (tracker.curves(ids, SUMMARY_CURVES, summaries), tracker.curves(ids, SUMMARY_CURVES)):
        assert got.keys() == expected.keys()
        assert all(_series_equal(got[r][k], expected[r][k]) for r in ids for k in SUMMARY_CURVES), (got, expected)
    assert expected[other]["train_loss"] == [1.0, 2.0, 3.0] and expected[runs[0]]["val_loss"][1] > 1e307

    def downloaded(run_id):
        with open(client.download_artifacts(run_id, rt.WEIGHT_HISTOGRAM, str(tmp_path / run_id) + "/")) as f:
            return json.load(f)

    for r in ids:
        (tmp_path / r).mkdir()
    uris = {r: client.get_run(r).info.artifact_uri for r in ids}
    artifacts = {r: downloaded(r) for r in ids}
    assert tracker.run_artifacts(uris, rt.WEIGHT_HISTOGRAM, summaries) == artifacts
    assert tracker.run_artifacts(uris, rt.WEIGHT_HISTOGRAM) == artifacts

    # What a search finds, as RunRecords (from a server: straight from its JSON), is what the client reads.
    found = {r.run_id: r for r in tracker.study_runs("bulk", rt.TRIAL) + tracker.study_runs("bulk", rt.DATASET)}
    assert set(found) == {*runs, parent}
    for run_id, record in found.items():
        mine, theirs = vars(record), vars(RunRecord.of(client.get_run(run_id)))
        assert {k: v for k, v in mine.items() if k != "metrics"} == {k: v for k, v in theirs.items() if k != "metrics"}
        assert mine["metrics"].keys() == theirs["metrics"].keys()
        assert all(_same(mine["metrics"][k], theirs["metrics"][k]) for k in mine["metrics"]), run_id
    assert found[runs[0]].metrics["zero"] == 0.0
    def same_order_as_search():  # search_runs' order (start time, then run id); deleted runs left out
        searched = client.search_runs([exp], "tags.study = 'bulk' AND tags.kind = 'trial'")
        return [r.run_id for r in tracker.study_runs("bulk", rt.TRIAL)] == [r.info.run_id for r in searched]

    assert same_order_as_search()
    client.delete_run(runs[1])
    assert same_order_as_search() and runs[1] not in {r.run_id for r in tracker.study_runs("bulk", rt.TRIAL)}
    client.restore_run(runs[1])

    # Two files naming one run (say, a writer that flushed it twice): the run counts once.
    tracker._put_json(parent, None, "trial_summaries/copy.json", json.dumps({"runs": {runs[0]: summaries[runs[0]]}}))
    again = tracker.trial_summaries(parents)
    assert again.keys() == summaries.keys() and again[runs[0]] == summaries[runs[0]]


def test_the_shared_overview_groups_datasets_and_keeps_configurations_apart(tmp_path):
    """The overview the printed link opens: one closed group per dataset; a view (`--datasets
    digits`, one metric) keeps the study's other groups and metric columns; a dataset run again
    in another configuration (--epochs 2) is grouped by dataset and configuration, so that the two
    are never averaged together."""
    import json

    from pipeline import runtree as rt
    from pipeline.ui_links import overview_key

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient(tracker.uri)
    exp = tracker.experiment_for("s")

    def parent(label, config):
        client.create_run(exp, tags={rt.STUDY: "s", rt.KIND: rt.DATASET, rt.DATASET_LABEL: label, rt.CONFIG_HASH: config})

    def stored():
        return json.loads(client.get_experiment(exp).tags[rt.SHARED_VIEW_PREFIX + overview_key("s")])

    parent("digits", "a1"), parent("linear@0.5", "b1")
    tracker.share_overview(exp, "s", [("digits", "a1"), ("linear@0.5", "b1")], ["accuracy", "mse"])
    tracker.share_overview(exp, "s", [("digits", "a1")], ["accuracy"])
    state = stored()
    assert state["groupsExpanded"] == {"tag.dataset.digits": False, "tag.dataset.linear@0.5": False}
    assert [k["groupByData"] for k in state["groupBy"]["groupByKeys"]] == [rt.DATASET_LABEL]
    assert state["selectedColumns"][-2:] == ["metrics.`test_accuracy`", "metrics.`test_mse`"]
    # which try a row is and how it ended: a stopped cell's KILLED run sat beside its rerun's, alike but
    # for the status icon (a UI audit)
    assert state["selectedColumns"][:5] == [f"tags.`{t}`" for t in ("verdict", rt.ARM, rt.SEED, rt.ATTEMPT, rt.OUTCOME)]

    parent("digits", "a2")
    tracker.share_overview(exp, "s", [("digits", "a2"), ("linear@0.5", "b1")], ["accuracy"])
    state = stored()
    assert state["groupsExpanded"] == {"tag.dataset.digits,tag.config_hash.a2": False,
                                       "tag.dataset.linear@0.5,tag.config_hash.b1": False,
                                       "tag.dataset.digits,tag.config_hash.a1": False}
    assert [k["groupByData"] for k in state["groupBy"]["groupByKeys"]] == [rt.DATASET_LABEL, rt.CONFIG_HASH]
    # its order: the root, the parents, then the trials seed by seed, none first within a seed, then
    # the arms in the registry's order (it was their names': dropout_l2 before l1)
    from pipeline import arms

    def trial(seed, arm):
        return rt.ui_order(rt.TRIAL, seed, arm, arm_rank=list(arms.ARMS).index(arm))

    order = [trial(1, "dropout"), trial(0, "l2"), rt.ui_order(rt.DATASET), trial(0, "dropout_l2"), trial(0, "l1"),
             trial(1, "none"), rt.ui_order(rt.ROOT), trial(0, "none")]
    assert sorted(order) == [rt.ui_order(rt.ROOT), rt.ui_order(rt.DATASET), trial(0, "none"), trial(0, "l1"),
                             trial(0, "l2"), trial(0, "dropout_l2"), trial(1, "none"), trial(1, "dropout")]


def test_params_are_added_to_an_old_run_without_touching_its_own(tmp_path):
    """A parent logged before a param existed gets it (the report reads it); params it has stay,
    MLflow would refuse to change them; a store without the run answers has_run False."""
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = tracker.experiment_for("s")
    run = MlflowClient(tracker.uri).create_run(exp).info.run_id
    tracker.log_params(run, {"n_test": 100})
    tracker.add_missing_params(run, {"n_test": 200, "test_class_rows": "[7, 143, 2]"})
    tracker.add_missing_params(run, {"test_class_rows": "[7, 143, 2]"})   # nothing left to add: no error
    assert MlflowClient(tracker.uri).get_run(run).data.params == {"n_test": "100", "test_class_rows": "[7, 143, 2]"}
    assert tracker.has_run(run) and not tracker.has_run("0" * 32)


def test_http_retries_bound_a_server_that_never_answers(monkeypatch):
    """A frozen tracking server accepts connections and never answers: MLflow's 120 s request
    timeout a try would hold a worker ~15 minutes past PIPELINE_OUTAGE_S. The request timeout is
    set beside the retries (30 s a try at least, for large uploads), and what the user exported
    is kept."""
    from pipeline import tracking_server

    for var in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(tracking_server, "_http_retries_set", {})
    tracking_server.configure_http_retries(120)
    retries, timeout = int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]), int(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    assert (retries, timeout) == (7, 30)
    assert (retries + 1) * timeout + 2 ** retries <= 4 * 120   # a frozen server: within a few times the limit
    tracking_server.configure_http_retries(600)
    assert int(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"]) == 54   # a longer limit spreads over 10 retries
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")    # the user's own choice stays
    tracking_server.configure_http_retries(120)
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"


def test_a_server_that_answers_only_errors_is_not_said_to_be_silent(monkeypatch):
    """A server whose artifact store is unwritable answers 500 to every retry: the one-line stop
    says it answered only with errors (its log says why), not that it did not answer; a refused
    connection is still "did not answer"."""
    import requests
    from mlflow.exceptions import MlflowException

    from pipeline import tracking_server
    from pipeline.runtime import StoreUnreachable

    monkeypatch.setattr(tracking_server, "_http_retries_set", {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7"})
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
    for cause, said in ((requests.exceptions.RetryError(
            "HTTPConnectionPool(host='h', port=5000): Max retries exceeded with url: /api/2.0/mlflow-artifacts "
            "(Caused by ResponseError('too many 500 error responses'))"), "answered only with errors for"),
            (requests.exceptions.ConnectionError(
                "HTTPConnectionPool(host='h', port=5000): Max retries exceeded with url: /api (Caused by "
                "NewConnectionError('<conn>: Failed to establish a new connection: [Errno 111] Connection refused'))"),
             "did not answer for")):
        with pytest.raises(StoreUnreachable) as e:
            with tracking_server.server_calls("http://h:5000"):
                try:
                    raise cause
                except requests.exceptions.RequestException as inner:
                    raise MlflowException(f"API request failed: {inner}") from inner
        assert said in str(e.value) and ("its log says why" in str(e.value)) == ("errors" in said), str(e.value)


def test_a_parent_run_holds_the_latest_summarys_verdict_tags_and_no_others(tmp_path):
    """A path point selected once (verdict.l1.variant) and a difference negligible once
    (verdict.l1.negligible) are not left on the parent run when a later summary no longer says them."""
    from pipeline import verdicts
    from pipeline.summary import log_verdicts

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient(tracker.uri)
    parent = client.create_run(client.create_experiment("e")).info.run_id
    mse = {"none": {s: 0.30 + 0.01 * s for s in range(4)}, "l1": {s: 0.20 + 0.01 * s + 0.002 * (s % 2) for s in range(4)}}
    points = {"l1=1e-05": {s: {"test": mse["l1"][s], "val": 0.2, "gap": 0.01} for s in range(4)},
              "l1=0.001": {s: {"test": 0.25, "val": 0.3, "gap": 0.01} for s in range(4)}}
    [on_path] = verdicts.decide_study([verdicts.DatasetResults("syn", "regression", mse, paths={"l1": points},
                                                               selected={"l1": "l1=1e-05"})])
    log_verdicts(tracker, parent, on_path)
    assert client.get_run(parent).data.tags["verdict.l1.variant"] == "l1=1e-05"
    [plain] = verdicts.decide_study([verdicts.DatasetResults("syn", "regression", mse)])
    log_verdicts(tracker, parent, plain)
    tags = client.get_run(parent).data.tags
    assert "verdict.l1.variant" not in tags and tags["verdict.l1"] == "better" and tags["verdict"] == \
        "L1 is better than none"
    record = json.loads(open(client.download_artifacts(parent, "verdicts.json", str(tmp_path))).read())
    assert record["arms"]["l1"].get("variant") is None
    # the seeds advice's words are no verdict: its tag alone changing is no "changed verdicts"
    client.set_tag(parent, "verdict.l1.seeds_to_decide", "~9 seeds could show it better (an older wording)")
    assert log_verdicts(tracker, parent, plain) is False


@pytest.mark.slow
def test_a_report_read_that_rides_out_a_server_restart_says_the_server_answers_again(tmp_path, capsys):
    """The report's own REST reads (get-history-bulk, runs/search as JSON) went around the
    client: a read that rode out a restart left "does not answer" standing with no "answers
    again" (until some later client call, with its time). Against a real `mlflow server`, killed
    and started again on the same port while a bulk read retries."""
    import threading

    from .conftest import MlflowServer

    server = MlflowServer(["server", "--backend-store-uri", f"sqlite:///{tmp_path / 'srv.db'}",
                           "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
                          tmp_path / "server.log", cwd=tmp_path)
    tracker = Tracker(server.start())
    try:
        client = MlflowClient(tracker.uri)
        run = client.create_run(client.create_experiment("restart")).info.run_id
        client.log_batch(run, metrics=[Metric("train_loss", v, 0, s) for s, v in enumerate([0.9, 0.4])])
        capsys.readouterr()
        server.kill()
        restart = threading.Timer(1.0, server.start)
        restart.start()
        assert tracker.read_histories([run], ("train_loss",)) == {run: {"train_loss": [0.9, 0.4]}}
        restart.join()
        out = capsys.readouterr().out
        down = f"the MLflow server {tracker.uri} does not answer; MLflow retries"
        assert down in out and re.search(rf"the MLflow server {tracker.uri} answers again \(after \d+ s\)",
                                         out[out.index(down):]), out
        assert tracker.study_runs("nothing", "trial") == [] and "does not answer" not in capsys.readouterr().out
    finally:
        server.stop()


def test_mlflow_run_without_an_experiment_name_keeps_the_study_in_its_own_experiment(workdir, env, monkeypatch):
    """`mlflow run . -e ablation` without --experiment-name starts its project run in MLflow's
    Default experiment. The study's runs stay in its own experiment (where `make ablation` put them,
    and where the printed links lead), the project run points there; with a name the project run
    is the study's root, and a study whose runs already live in Default stays there."""
    from pipeline import runtree as rt

    from .conftest import run_cli, tiny_study_dict, write_study

    write_study(workdir / "s.yaml", tiny_study_dict(name="s", arms=["none", "l2"], seeds=1, epochs=1,
                                                    datasets=[{"name": "wine"}]))
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    for attempt in range(2):   # the first trains the study, the second finds it done
        project = client.create_run("0").info.run_id   # as `mlflow run` does before it starts the command
        proc = run_cli(["ablation", "--study", "s.yaml", "--no-report"], cwd=workdir, env={**env, "MLFLOW_RUN_ID": project})
        assert proc.returncode == 0, proc.stderr
        exp = client.get_experiment_by_name("s").experiment_id
        assert "this study's runs are in the experiment 's' (the links below)" in proc.stdout
        assert f"/#/experiments/{exp}/runs?viewStateShareKey=" in proc.stdout and "/#/experiments/0/" not in proc.stdout
        pointer = client.get_run(project).data.tags
        assert pointer["mlflow.runName"] == "ablation s (runs in s)" and "experiment `s`" in pointer["mlflow.note.content"]
        assert rt.KIND not in pointer   # not a root: the report's search passes it by
    assert client.search_runs(["0"], f"tags.{rt.KIND} != ''") == []
    assert len(client.search_runs([exp], f"tags.{rt.KIND} = 'trial'")) == 2

    # named: the project run is the root; a study already rooted in Default stays there
    tracker = Tracker(env["MLFLOW_TRACKING_URI"])
    named = client.create_experiment("mine")
    monkeypatch.setenv("MLFLOW_RUN_ID", client.create_run(named).info.run_id)
    assert tracker.experiment_for("s") == named and not tracker.owns_root()
    client.create_run("0", tags={rt.STUDY: "old", rt.KIND: rt.ROOT})
    monkeypatch.setenv("MLFLOW_RUN_ID", client.create_run("0").info.run_id)
    old, new = Tracker(env["MLFLOW_TRACKING_URI"]), Tracker(env["MLFLOW_TRACKING_URI"])
    assert old.experiment_for("old") == "0" and not old.owns_root()
    assert new.experiment_for("new") == client.get_experiment_by_name("new").experiment_id and new.owns_root()


def _cut_short_store(path, with_run: bool) -> None:
    """A SQLite store as a process killed while MLflow migrated it leaves it: the copy of a table
    that a migration in SQLite's batch mode makes, `_alembic_tmp_<table>`, left behind. Made in
    another process, as the killed one was (MLflow keeps an engine per store in a process)."""
    import subprocess
    import sys

    code = (f"from mlflow import MlflowClient; import sqlite3; c = MlflowClient('sqlite:///{path}'); "
            + ("c.create_run(c.create_experiment('mine')); " if with_run else "c.search_experiments(); ")
            + f"db = sqlite3.connect('{path}'); "
            "db.execute('CREATE TABLE _alembic_tmp_endpoints AS SELECT * FROM endpoints WHERE 0'); db.commit()")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_a_store_whose_creation_a_kill_cut_short_is_created_afresh(tmp_path, capsys):
    """kill -9 in the seconds MLflow takes to create a SQLite store's tables left a migration's
    copy of a table behind, and every later command stopped on "table _alembic_tmp_... already
    exists" (a QA audit: 2 kills in 9). A store with nothing in it is moved aside and created
    afresh; one that holds runs (an upgrade cut short) is left alone, with one line on what to do."""
    from pipeline.errors import UsageError

    empty = tmp_path / "mlflow.db"
    _cut_short_store(empty, with_run=False)
    tracker = Tracker(f"sqlite:///{empty}")
    assert tracker.experiment_for("s") and (tmp_path / "mlflow.db.interrupted").is_file()
    assert "was left half-created by a process stopped while MLflow created its tables" in capsys.readouterr().err
    assert Tracker(f"sqlite:///{empty}").experiment_for("s") == tracker.experiment_for("s")   # and it stays

    kept = tmp_path / "kept" / "mlflow.db"
    kept.parent.mkdir()
    _cut_short_store(kept, with_run=True)
    before = kept.read_bytes()
    with pytest.raises(UsageError, match=r"left mid-upgrade .* \(it left _alembic_tmp_\w+ behind\); back the file up"):
        Tracker(f"sqlite:///{kept}")
    assert kept.read_bytes() == before and not (kept.parent / "mlflow.db.interrupted").exists()


def test_verbose_says_which_interrupted_cells_had_not_started(monkeypatch, capsys):
    """--verbose printed "interrupted" for every cell a signal stopped, the popped-ahead ones that
    never started too, where the one-line count (interrupted_line) tells them apart."""
    from pipeline import lifecycle
    from pipeline.runtime import VERBOSE

    monkeypatch.setitem(VERBOSE, "on", True)
    for name, untrained in (("digits/l2/seed3", True), ("digits/l2/seed1", False)):
        trial = lifecycle.LiveTrial(ostudy=None, trial=None, name=name, run=None)
        assert lifecycle._conclude(None, lifecycle.Ending(trial, lifecycle.Outcome.INTERRUPTED, untrained=untrained),
                                   check=False) is False
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"  {'digits/l2/seed3':<28} interrupted (popped ahead, not started)",
                     f"  {'digits/l2/seed1':<28} interrupted"]


def test_a_trial_run_deleted_in_mlflow_is_left_out_by_the_console_as_by_the_report(workdir, env):
    """A finished cell's run deleted in the MLflow UI: the console read its value from Optuna and called
    L2 "practically the same" on 3 seeds while the report, reading active runs, said "undecided" on 2
    (a review). Both leave it out now, and the console says how to get it back."""
    from .conftest import run_cli, tiny_study_dict, write_study

    write_study(workdir / "s.yaml", tiny_study_dict(name="del", arms=["none", "l2"], seeds=3, epochs=2,
                                                    datasets=[{"name": "wine"}]))
    first = run_cli(["ablation", "--study", "s.yaml", "--no-report"], cwd=workdir, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("del").experiment_id
    [run] = client.search_runs([exp], "tags.kind = 'trial' AND tags.regularizer = 'l2' AND tags.seed = '0'")
    client.delete_run(run.info.run_id)
    again = run_cli(["ablation", "--study", "s.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert re.search(r"wine +L2 +test_accuracy +\S+ +\S+ +2\n", again.stdout), again.stdout[-3000:]
    assert (f"The MLflow run of L2 seed 0 was deleted, so it is left out here and in the report; a rerun does not train "
            f"it again (the study has it done): restore it to count it (mlflow runs restore --run-id {run.info.run_id}).") \
        in again.stdout
    # the report says it too, and so does the record it leaves on the dataset's parent (it rewrote the console's without)
    assert "The MLflow run of L2 seed 0 was deleted" in (workdir / "reports/del/report.html").read_text()
    [parent] = client.search_runs([exp], "tags.kind = 'dataset'")
    assert "L2 seed 0 was deleted" in parent.data.tags["mlflow.note.content"]
    client.restore_run(run.info.run_id)   # restored: counted again, and nothing said
    restored = run_cli(["ablation", "--study", "s.yaml", "--no-report"], cwd=workdir, env=env)
    assert re.search(r"wine +L2 +test_accuracy +\S+ +\S+ +3\n", restored.stdout) and "was deleted" not in restored.stdout


def test_a_tag_with_quotes_is_found_by_the_filters_the_links_and_reads_use(tmp_path):
    """A dataset label "o'brien": its report's per-arm trial links (an MLflow filter 'o\\'brien') opened
    empty lists, as MLflow's filter parser takes no escape (a report review). Each kind of quote, and
    both, against a real store."""
    from pipeline.ui_links import tag_equals

    client = MlflowClient(f"sqlite:///{tmp_path / 'q.db'}")
    exp = client.create_experiment("q")
    labels = ["o'brien", 'say "hi"', """it's "x\"""", "plain", "o_brien"]
    for label in labels:
        client.set_tag(client.create_run(exp).info.run_id, "dataset", label)
    for label in labels:
        found = [r.data.tags["dataset"] for r in client.search_runs([exp], tag_equals("dataset", label))]
        assert found == [label], (label, found)
