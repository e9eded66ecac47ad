"""The tracking fast paths write what MLflow's own calls write: a finished trial's metrics go
into MLflow's SQL store as bulk rows (insert_new_metrics) and its artifact straight to the run's
artifact store. Checked by reading both back through MlflowClient, on SQLite and PostgreSQL."""

import math

import mlflow.artifacts
import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from pipeline.tracking import Tracker, insert_new_metrics

INF = float("inf")
METRICS = [
    *(Metric("train_loss", v, 1000 + s, s) for s, v in enumerate([0.9, 0.5, math.nan, 0.4, INF], start=1)),
    *(Metric("val_metric", v, 1000 + s, s) for s, v in enumerate([0.1, 0.3, 0.3, -INF, 0.2], start=1)),
    Metric("val_metric", 0.2, 1005, 5),  # an exact duplicate: log_batch keeps one row
    Metric("late", 1.0, 100, 3), Metric("late", 0.5, 200, 3),  # same step: the later timestamp is latest
    Metric("late", 9.0, 999, 2),  # a higher step wins over a later timestamp
    Metric("test_metric", 0.75, 1006, 0), Metric("gap", math.nan, 1006, 0),
]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.fixture(params=["sqlite", "postgresql"])
def tracking_uri(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    return request.getfixturevalue("postgres") + "/mlflow"


def test_bulk_metrics_and_artifacts_read_back_as_mlflow_writes_them(tracking_uri):
    tracker = Tracker(tracking_uri)
    client = tracker.client
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
    run = tracker.start_trial(exp, bulk, "digits/l2/seed0", tags={"kind": "trial", "device": "cpu"},
                              params={"lr": 0.1, "hidden": [16, 16]})
    tracker.finish_trial(run, {"val_metric": [0.5, 0.6]}, {"test_metric": 0.55}, tags={"note": "x"},
                         artifacts={"weight_histogram.json": {"layer0": {"counts": [1, 2, 3]}}})
    got = client.get_run(run)
    assert got.info.status == "FINISHED"
    assert got.data.metrics == {"val_metric": 0.6, "test_metric": 0.55}
    assert got.data.params == {"lr": "0.1", "hidden": "[16, 16]"} and got.data.tags["note"] == "x"
    assert [m.value for m in client.get_metric_history(run, "val_metric")] == [0.5, 0.6]
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
