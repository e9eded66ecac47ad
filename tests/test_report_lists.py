"""The report's trial lists and run counts, built from trial runs logged into a real SQLite MLflow
store (the tags and final metrics the workers write) and read back as the report reads them."""

import re


def _logged(tmp_path, runs: list[tuple]) -> tuple:
    """A study of wine (accuracy) and synthetic_linear (MSE), arms none and l2, 2 seeds, with
    `runs` logged as its trial runs: (dataset, arm, seed, attempt, status, test value). Returns
    (ReportData, analysis)."""
    from mlflow import MlflowClient

    from pipeline import runtree as rt
    from pipeline.report import analysis, collect
    from pipeline.study import load_study
    from pipeline.tracking import Tracker

    from .conftest import write_study

    write_study(tmp_path / "lists.yaml", {"name": "lists", "arms": ["none", "l2"], "seeds": 2, "epochs": 1,
                                          "datasets": [{"name": "wine"}, {"name": "synthetic_linear"}]})
    study = load_study(tmp_path / "lists.yaml")
    plans = {p.label: p for p in study.plans}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("lists")
    for n, (label, arm, seed, attempt, status, test) in enumerate(runs):
        task = "regression" if label == "synthetic_linear" else "classification"
        [point] = study.point_ids(arm, plans[label])   # the arm's strength, as its cells are named ("" for none)
        tags = {rt.STUDY: "lists", rt.KIND: rt.TRIAL, rt.DATASET_LABEL: label, rt.CONFIG_HASH: plans[label].config_hash,
                rt.ARM: arm, rt.SEED: str(seed), rt.ATTEMPT: str(attempt), rt.TASK: task,
                rt.METRIC_NAME: "mse" if task == "regression" else "accuracy", **({rt.VARIANT: point} if point else {}),
                **({rt.FAIL_REASON: "diverged"} if status == "FAILED" else {})}
        name = f"{label}/{arm}" + (f"@{point}" if point else "") + f"/seed{seed}"
        run = client.create_run(experiment, run_name=name, tags=tags, start_time=1000 + n).info.run_id
        if status == "FINISHED":
            for name, value in {"test_metric": test, "final_val_metric": test, "final_train_metric": test,
                                "gap_metric": 0.01}.items():
                client.log_metric(run, name, value)
        client.set_terminated(run, status, end_time=2000 + n)
    data = collect.collect(study, Tracker(uri))
    return data, analysis.analyze(data)


def _cells(values: dict) -> list[tuple]:
    """{(dataset, arm): [test value per seed]} as finished first attempts."""
    return [(label, arm, seed, 1, "FINISHED", v) for (label, arm), vs in values.items() for seed, v in enumerate(vs)]


VALUES = {("wine", "none"): [0.91, 0.93], ("wine", "l2"): [0.92, 0.94],
          ("synthetic_linear", "none"): [0.31, 0.29], ("synthetic_linear", "l2"): [0.30, 0.28]}


MEDIA = ("html", "pdf")   # each test renders both pages from one logged store (a store costs seconds)


def test_a_trial_list_names_the_metric_its_test_values_are_in(tmp_path):
    """Datasets differ in metric (accuracy, MSE): a list of one metric says it in its header ("test
    accuracy"); a list over datasets of several names it beside each value, which still sorts as a number."""
    from pipeline.report import render

    data, a = _logged(tmp_path, _cells(VALUES) + [("wine", "l2", 1, 1, "FAILED", None)])
    for medium in MEDIA:
        page = render.render(data, a, {}, render.provenance(data), medium=medium)
        every = page[page.index('<h3 id="trials">'):]
        assert '<th scope="col">test metric</th>' in every and "test metric, experiment and run</caption>" in every, medium
        assert '<td data-v="0.91">0.9100 <span class="muted">accuracy</span></td>' in every, medium
        assert '<td data-v="0.31">0.3100 <span class="muted">MSE</span></td>' in every, medium
    # the still-running list has wine's runs alone: one metric, said in its header, the values bare
    data.runs.loc[(data.runs["dataset"] == "wine") & (data.runs["arm"] == "none"), "status"] = "RUNNING"
    for medium in MEDIA:
        page = render.render(data, a, {}, render.provenance(data), medium=medium)
        running = page[page.index('<h3 id="running">'):page.index('<h3 id="retries">')]
        assert '<th scope="col">test accuracy</th>' in running and "test accuracy, experiment and run</caption>" in running
        assert "<td>0.9100</td>" in running and "data-v" not in running and "test metric" not in running, medium


def test_a_number_asked_to_four_decimals_gets_four():
    """fmt_number(x, 4) took the metric-value path (digits 4 was its default): 0.00123 stayed
    "0.00123" and 12345.678 became "12 346". The metric-value style is the default alone; any
    `digits` gives that many decimals (the α of a look, 4 significant in 0.0125 or 0.00123, is written as a value)."""
    import numpy as np

    from pipeline.report.render import fmt_number

    assert fmt_number(0.00123, 4) == "0.0012" and fmt_number(12345.678, 4) == "12345.6780" and fmt_number(0.05, 4) == "0.0500"
    assert fmt_number(12345.678) == "12 346" and fmt_number(0.00123) == "0.00123" and fmt_number(0.0125) == "0.0125"
    assert fmt_number(np.int64(3)) == "3.0000" and fmt_number(np.float64(0.5), 2) == "0.50" and fmt_number(-1e-17, 4) == "0.0000"


def test_a_report_works_out_its_interim_note_and_trial_groups_once(tmp_path, monkeypatch):
    """interim_note (a sentence that doubles as the interim flag) was worked out seven times a
    report (the builder four, the analysis, each page), trial_groups three times (each page, the
    shared views): once each now, the report's files as before."""
    from pipeline.report import build_report, collect, render

    data, _ = _logged(tmp_path, _cells(VALUES))
    calls = {"interim_note": 0, "trial_groups": 0}

    def counted(module, name):
        real = getattr(module, name)

        def call(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, call)

    counted(collect, "interim_note")
    counted(render, "trial_groups")
    paths = build_report(data.study, f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "reports")
    assert [p.name for p in paths] == ["report.html", "trials.csv", "report.pdf"]
    assert calls == {"interim_note": 1, "trial_groups": 1}
    html = paths[0].read_text()
    assert "wine" in html and 'id="interim"' not in html and html.count("viewStateShareKey=ablation-trials-") == 4


def test_run_counts_say_the_cells_that_were_retried(tmp_path):
    """A cell that failed once and then finished counted as one run and nothing more: the runs per
    dataset and arm, and the page's header, say how many cells were retried, only where some were."""
    from pipeline.report import render

    earlier = [("wine", "l2", 1, 1, "FAILED", None), ("synthetic_linear", "none", 0, 1, "KILLED", None),
               ("synthetic_linear", "none", 0, 2, "FAILED", None)]
    data, a = _logged(tmp_path, earlier + [(d, arm, seed, 2 if (d, arm, seed) in {("wine", "l2", 1)} else
                                            3 if (d, arm, seed) == ("synthetic_linear", "none", 0) else 1, status, v)
                                           for d, arm, seed, _, status, v in _cells(VALUES)])
    assert len(data.runs) == 8 and len(data.retries) == 3
    for medium in MEDIA:
        page = render.render(data, a, {}, render.provenance(data), medium=medium)
        counts = page[page.index('<h3 id="runs">'):page.index('<h3 id="trials">')]
        rows = re.findall(r'<th scope="row" class="l rh">([^<]+)</th><td class="l">([^<]+)</td><td>([^<]+)</td>', counts)
        assert rows == [("wine", "none", "2"), ("wine", "L2", "2 (1 retried)"),
                        ("synthetic_linear", "none", "2 (1 retried)"), ("synthetic_linear", "L2", "2")], medium
        assert '"retried": cells trained more than once, whose earlier attempts are listed under' in counts, medium
        assert " · 8 trial runs (2 retried) · " in page, medium
    # a study without retries says nothing of them
    calm = tmp_path / "calm"
    calm.mkdir()
    data, a = _logged(calm, _cells(VALUES))
    for medium in MEDIA:
        page = render.render(data, a, {}, render.provenance(data), medium=medium)
        assert " retried)" not in page and '"retried"' not in page and "No cell was retried" in page, medium
