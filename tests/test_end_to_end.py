"""A real `mlflow run . -e ablation` on a tiny study: the run tree in MLflow, the Optuna trials,
and resuming (nothing retrained; a deleted cell, and only it, retrained with the same numbers)."""

import json
import math
import re
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import mlflow.artifacts
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from pipeline.storage import get_storage
from pipeline.preparation import optuna_study_name
from pipeline.study import load_study

from .conftest import ROOT, run_cli, tiny_study_dict, write_study

pytestmark = pytest.mark.slow


def copy_project(dest: Path) -> Path:
    """mlflow run executes in the project folder; give it a copy so stores land in tmp."""
    for name in ("pipeline", "studies", "MLproject", "conda.yaml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest


def trial_runs(client, exp_ids):
    return client.search_runs(exp_ids, "tags.kind = 'trial'", max_results=1000)


def test_mlflow_run_ablation_builds_the_run_tree_and_resumes(workdir, env):
    project = copy_project(workdir)
    write_study(project / "tiny.yaml", tiny_study_dict(execution={"population_size": 4}))   # 3 populations a dataset
    cmd = ["mlflow", "run", ".", "-e", "ablation", "--env-manager", "local", "--experiment-name", "tiny",
           "-P", "study=tiny.yaml", "-P", "report=no", "-P", "storage=sqlite:///optuna.db"]  # an RDB storage
    import subprocess

    proc = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "digits" in proc.stdout and "test_accuracy" in proc.stdout  # the summary table
    assert "/seed0 " not in proc.stdout and "\r" not in proc.stdout   # no per-trial lines without --verbose, no bars in a log
    assert "Verdicts (each arm vs none" in proc.stdout  # ... and the verdicts, one line per dataset and arm
    assert all(f"    {label}: " in proc.stdout for label in ("dropout", "L1", "L2", "dropout+L2"))

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    roots = [r for r in runs if r.data.tags.get("kind") == "root"]
    parents = [r for r in runs if r.data.tags.get("kind") == "dataset"]
    trials = [r for r in runs if r.data.tags.get("kind") == "trial"]
    assert len(roots) == 1 and roots[0].data.tags.get("mlflow.project.entryPoint") == "ablation"
    assert roots[0].info.run_name == "ablation tiny"   # named after the study, not MLflow's random words
    assert roots[0].data.params["seeds"] == "unset"   # the MLproject's "as in the study file", readable in the UI
    # where the time went, on the root run: each moment counted once on the main thread
    t = {k: v for k, v in roots[0].data.metrics.items() if k.startswith("time_")}
    main_thread = t["time_loading_s"] + t["time_bookkeeping_s"] + t["time_training_s"] + t["time_other_s"]
    assert t["time_training_s"] > 0 and t["time_bookkeeping_s"] > 0 and t["time_recording_background_s"] > 0
    assert main_thread == pytest.approx(t["time_total_s"], abs=0.01)
    assert 0 < t["time_bookkeeping_cpu_s"] <= t["time_bookkeeping_s"] + t["time_recording_background_s"] + 0.05
    assert f"time: {t['time_total_s']:.1f} s (loading" in proc.stdout
    # a trial's train_seconds is its share of its population's training, not of the bookkeeping
    # that opened it while the previous population trained
    assert sum(r.data.metrics["train_seconds"] for r in trials) <= 1.05 * t["time_training_s"] + 0.05
    assert f"/#/experiments/{exp.experiment_id}/runs?viewStateShareKey=" in proc.stdout  # the UI link: the overview
    assert sorted(p.info.run_name for p in parents) == ["digits", "synthetic_linear"]
    assert all(p.data.tags["mlflow.parentRunId"] == roots[0].info.run_id for p in parents)
    assert len(trials) == 2 * 5 * 2
    parent_of = {p.data.tags["dataset"]: p.info.run_id for p in parents}
    names = Counter(t.info.run_name for t in trials)
    assert set(names.values()) == {1} and "digits/dropout_l2@dropout=0.3,l2=0.001/seed1" in names
    for t in trials:
        tags, params, metrics = t.data.tags, t.data.params, t.data.metrics
        assert t.info.status == "FINISHED"
        assert tags["mlflow.parentRunId"] == parent_of[tags["dataset"]]
        # named by the strength it trains with (an arm's own point; none has none)
        assert t.info.run_name == f"{tags['dataset']}/{tags['regularizer']}" + \
            (f"@{tags['variant']}" if tags["regularizer"] != "none" else "") + f"/seed{tags['seed']}"
        assert {"study", "optuna_trial", "config_hash"} <= set(tags) and tags["study"] == "tiny"
        assert params["arm"] == tags["regularizer"] and params["epochs"] == "3"
        assert {"lr", "l1", "l2", "dropout", "hidden", "batch_size", "optimizer"} <= set(params)
        assert float(params["l2"]) == (1e-3 if tags["regularizer"] in ("l2", "dropout_l2") else 0.0)
        assert {"test_metric", "final_train_metric", "final_val_metric", "gap_metric", "sparsity_lt_0.001", "weight_l2_layer0"} <= set(metrics)
        history = sorted(client.get_metric_history(t.info.run_id, "val_loss"), key=lambda m: m.step)
        assert [m.step for m in history] == [1, 2, 3]
        # stamped when each epoch ended: in order, inside the run's lifetime
        stamps = [m.timestamp for m in history]
        assert t.info.start_time <= stamps[0] <= stamps[1] <= stamps[2] <= t.info.end_time
        assert len(client.get_metric_history(t.info.run_id, "train_penalty")) == 3
        assert t.inputs.dataset_inputs and t.inputs.dataset_inputs[0].dataset.name == tags["dataset"]

    # Optuna: one study per dataset, every cell one COMPLETE trial pointing at its MLflow run
    study = load_study(project / "tiny.yaml")
    storage = f"sqlite:///{project / 'optuna.db'}"
    run_ids = {t.info.run_id for t in trials}
    for plan in study.plans:
        ostudy = optuna.load_study(study_name=optuna_study_name(study, plan), storage=storage)
        done = ostudy.get_trials(states=(TrialState.COMPLETE,))
        assert len(done) == len(ostudy.trials) == 10
        assert {(t.params["arm"], t.params["seed"]) for t in done} == set(study.cells())
        assert {t.user_attrs["mlflow_run_id"] for t in done} <= run_ids

    # Resume: the same command again trains nothing new
    again = run_cli(["ablation", "--study", "tiny.yaml", "--no-report", "--storage", "sqlite:///optuna.db"],
                    cwd=project, env=env)
    assert again.returncode == 0, again.stderr
    assert "[digits] nothing to train: all 10 cells were done already" in again.stdout
    assert len(trial_runs(client, [exp.experiment_id])) == 20

    # Delete one cell from the Optuna storage: only that cell is trained, with the same numbers
    digits = study.plans[0]
    ostudy = optuna.load_study(study_name=optuna_study_name(study, digits), storage=storage)
    victim = next(t for t in ostudy.trials if t.params == {"arm": "l1", "seed": 1})
    with sqlite3.connect(project / "optuna.db") as db:
        for table in ("trial_params", "trial_values", "trial_user_attributes", "trial_system_attributes",
                      "trial_intermediate_values", "trial_heartbeats"):
            db.execute(f"DELETE FROM {table} WHERE trial_id = ?", (victim._trial_id,))
        db.execute("DELETE FROM trials WHERE trial_id = ?", (victim._trial_id,))
    again = run_cli(["ablation", "--study", "tiny.yaml", "--no-report", "--storage", "sqlite:///optuna.db", "--verbose"],
                    cwd=project, env=env)
    assert again.returncode == 0, again.stderr
    assert "digits/l1@l1=0.0001/seed1" in again.stdout and "trained 1, failed 0" in again.stdout  # --verbose: per-trial lines
    assert "[digits] cells: 1/1 done (0 failed)" in again.stdout   # progress, as plain lines in a log
    assert re.search(r"\[digits\] .*; resuming: 9 of the 10 cells were done already", again.stdout), again.stdout
    assert "[synthetic_linear] nothing to train: all 10 cells were done already" in again.stdout  # untouched
    after = trial_runs(client, [exp.experiment_id])
    assert len(after) == 21
    pair = [r for r in after if r.info.run_name == "digits/l1@l1=0.0001/seed1"]
    assert len(pair) == 2
    for key in ("test_metric", "val_loss", "weight_l1_layer0"):  # reproducible on CPU
        assert pair[0].data.metrics[key] == pair[1].data.metrics[key]


def test_failing_trials_do_not_stop_the_study(workdir, env):
    """A diverging configuration fails its trials with reason 'diverged'; the others finish."""
    study = tiny_study_dict(arms=["none", "l2"], seeds=2, datasets=[{"name": "synthetic_linear"}],
                            optimizer={"name": "sgd", "lr": 10.0, "momentum": 0.9})
    write_study(workdir / "div.yaml", study)
    proc = run_cli(["ablation", "--study", "div.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "FAILED: diverged" in proc.stdout
    assert "[synthetic_linear] every cell diverged (a NaN or infinite loss): lower the learning rate" in proc.stdout
    assert "far from unit scale" not in proc.stdout   # the synthetic target is near unit scale
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("tiny")
    runs = trial_runs(client, [exp.experiment_id])
    assert len(runs) == 4 and all(r.info.status == "FAILED" for r in runs)
    assert all(r.data.tags["fail_reason"] == "diverged" for r in runs)
    # which epoch's loss was not finite (its own tag: fail_reason stays "diverged" for filters)
    assert all(r.data.tags["diverged_at_epoch"] in ("1", "2") for r in runs), [r.data.tags.get("diverged_at_epoch") for r in runs]
    for r in runs:   # the run holds the epochs before it, none after
        epochs = [m.step for m in client.get_metric_history(r.info.run_id, "train_data_loss")]
        assert max(epochs, default=0) < int(r.data.tags["diverged_at_epoch"]), (epochs, r.data.tags["diverged_at_epoch"])
    ostudy = optuna.load_study(study_name=optuna_study_name(load_study(workdir / "div.yaml"),
                                                            load_study(workdir / "div.yaml").plans[0]),
                               storage=get_storage(f"journal:{workdir / 'optuna.journal'}"))
    assert all(t.state == TrialState.FAIL and t.user_attrs["fail_reason"] == "diverged" for t in ostudy.trials)
    # diverged cells are not retried: the same seed trains the same way and diverges again (a rerun
    # retried them all, to the same end; a failing-trials audit)
    proc = run_cli(["ablation", "--study", "div.yaml", "--no-report"], cwd=workdir, env=env)
    assert ("gave up on 4 failed cells: 4 diverged (not retried: the same seed trains the same way and diverges "
            "again; lower the learning rate)") in proc.stdout and ("[synthetic_linear] nothing to train: 0 of the 4 cells "
                                                              "done, the other 4 failed (diverged") in proc.stdout, proc.stdout

    # prices around 20,000 trained on as they are: SGD diverges at any usual rate, and the hint
    # names the target's scale and the setting that fixes it
    import random

    rng = random.Random(0)
    rows = [(rng.gauss(0, 1), rng.gauss(0, 1)) for _ in range(200)]
    (workdir / "prices.csv").write_text("a,b,price\n" + "".join(
        f"{a:.3f},{b:.3f},{20000 + 5000 * a + 800 * rng.gauss(0, 1):.1f}\n" for a, b in rows))
    prices = {"name": "table", "path": "prices.csv", "target": "price", "standardize_target": False}
    write_study(workdir / "prices.yaml", tiny_study_dict(name="prices", arms=["none", "l2"], seeds=1, datasets=[prices]))
    proc = run_cli(["ablation", "--study", "prices.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0 and "trained 0, failed 2" in proc.stdout, proc.stdout[-2000:]
    assert "standardize_target: true in the dataset entry trains on (y - mean) / std" in proc.stdout
    write_study(workdir / "prices.yaml", tiny_study_dict(name="prices", arms=["none", "l2"], seeds=1,
                                                         datasets=[{**prices, "standardize_target": True}]))
    proc = run_cli(["ablation", "--study", "prices.yaml", "--no-report"], cwd=workdir, env=env)
    assert "trained 2, failed 0" in proc.stdout and "diverged" not in proc.stdout


def test_tuned_study_with_size_axis_through_mlflow_run(workdir, env):
    """Equal tuning budgets, pruned trials KILLED, fresh grid seeds, tuned strengths used by the
    grid, and a report with the sensitivity and training-set-size figures."""
    project = copy_project(workdir)
    spec = tiny_study_dict(name="tuned", arms=["none", "l1", "l2", "dropout_l2"], seeds=2, epochs=4, train_sizes=[60, 150],
                           datasets=[{"name": "digits"}],
                           tune={"trials": 12, "seeds": [100], "l1": [1e-6, 1.0], "sampler_seed": 0})
    write_study(project / "tuned.yaml", spec)
    import subprocess

    proc = subprocess.run(["mlflow", "run", ".", "-e", "ablation", "--env-manager", "local", "--experiment-name",
                           "tuned", "-P", "study=tuned.yaml"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    study = load_study(project / "tuned.yaml")
    storage = get_storage(f"journal:{project / 'optuna.journal'}")  # the default storage
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("tuned")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    by_id = {r.info.run_id: r for r in runs}
    pruned = 0
    for plan in study.plans:
        grid = optuna.load_study(study_name=optuna_study_name(study, plan), storage=storage)
        tuned = grid.user_attrs["tuned"]
        assert set(tuned) == {"l1", "l2", "dropout_l2"}
        # dropout+L2 tunes one p per hidden layer (inside the default [0, 0.8]) and its own lambda2
        assert set(tuned["dropout_l2"]) == {"dropout_0", "dropout_1", "l2"}
        assert all(0.0 <= tuned["dropout_l2"][f"dropout_{i}"] <= 0.8 for i in range(2))
        for arm in ("l1", "l2", "dropout_l2"):
            tstudy = optuna.load_study(study_name=f"{optuna_study_name(study, plan)}.tune.{arm}", storage=storage)
            spent = [t for t in tstudy.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
            assert len(spent) == 12  # the same budget for every arm (pruning starts after the 10 random start-up trials)
            for t in tstudy.trials:
                run = by_id[t.user_attrs["mlflow_run_id"]]
                assert run.data.tags["kind"] == "tuning_trial"
                if t.state == TrialState.PRUNED:
                    pruned += 1
                    assert run.info.status == "KILLED" and run.data.tags["fail_reason"] == "pruned"
            assert tstudy.best_trial.params == tuned[arm]
            # the grid trains that arm at the chosen strength, on seeds not used in tuning
            cells = [r for r in runs if r.data.tags.get("kind") == "trial" and r.data.tags["dataset"] == plan.label
                     and r.data.tags["regularizer"] == arm]
            assert len(cells) == 2
            for r in cells:
                if arm == "dropout_l2":
                    assert [float(p) for p in r.data.params["dropout"].split(",")] == pytest.approx(
                        [tuned[arm]["dropout_0"], tuned[arm]["dropout_1"]])
                    assert float(r.data.params["l2"]) == pytest.approx(tuned[arm]["l2"])
                else:
                    assert float(r.data.params[arm]) == pytest.approx(tuned[arm][arm])
            assert {int(r.data.tags["seed"]) for r in cells}.isdisjoint({100})
    assert pruned >= 1
    html = (project / "reports/tuned/report.html").read_text()
    assert "every arm got the same budget" in html and '<th scope="col">tied at the best</th>' in html
    chosen = re.findall(r"l2=([0-9.e-]+)", html[html.index('id="tuning"'):html.index('id="datasets"')])
    assert chosen and all(len(v.replace("0.", "").replace("e-", "").lstrip("0")) <= 4 for v in chosen)   # 3 digits
    # the figures, by their alt texts (what each shows, in words)
    assert ": tuning of " in html and "the best validation" in html and "against the training-set size (" in html


def test_mlflow_run_train_entry_point_logs_one_run(workdir, env):
    """The tutorial use case: one trial, every hyperparameter an MLproject parameter."""
    import subprocess

    project = copy_project(workdir)
    proc = subprocess.run(["mlflow", "run", ".", "-e", "train", "--env-manager", "local", "--experiment-name",
                           "single", "-P", "dataset=wine", "-P", "regularizer=dropout_l2", "-P", "dropout=0.2",
                           "-P", "l2=0.01", "-P", "epochs=4", "-P", "seed=3", "-P", "normalize=global"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("single").experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["regularizer"] == "dropout_l2"
    assert run.data.params["dropout"] == "0.2" and run.data.params["effective_dropout"] == "0.2,0.2"
    assert run.data.params["effective_l1"] == "0.0"  # the dropout+L2 arm has no L1, whatever -P l1 says
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 4
    assert "test_metric" in run.data.metrics
    # what it trained on: the split sizes (wine's 178 rows) and the normalization asked for
    assert sum(int(run.data.params[f"n_{s}"]) for s in ("train", "val", "test")) == 178
    assert '"normalize":"global"' in run.data.params["dataset_spec"].replace(" ", "")


def test_an_extended_study_keeps_its_verdicts_on_one_parent(workdir, env):
    """Adding seeds opens a new dataset parent for the new cells; the verdicts go there, and the
    older parent's verdict tags are retired (a search for verdict.l2 finds one run, the current).
    Seeds added once results were in are said with the verdicts (optional stopping), by the console
    and the report, each time the file's seeds grew; not for a study run as its file says, even
    after a `--seeds` view of fewer seeds (a quick look, then the seeds planned), nor by a view."""
    study = tiny_study_dict(name="grow", arms=["none", "l2"], seeds=2, epochs=2, datasets=[{"name": "wine"}])
    write_study(workdir / "g.yaml", study)
    look = run_cli(["ablation", "--study", "g.yaml", "--seeds", "1", "--no-report"], cwd=workdir, env=env)
    first = run_cli(["ablation", "--study", "g.yaml", "--no-report"], cwd=workdir, env=env)
    assert look.returncode == 0 and first.returncode == 0 and "[wine] trained 2," in first.stdout, first.stdout
    assert "Seeds were added" not in look.stdout + first.stdout
    write_study(workdir / "g.yaml", {**study, "seeds": 3})
    proc = run_cli(["ablation", "--study", "g.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Seeds were added after results on 2 seeds were in: the tests hold their 5% error rate" in proc.stdout, proc.stdout
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("grow").experiment_id
    # the view's parent (it records no verdicts, and points at the current one too: its trials count), the
    # first run's, the extended one's
    looked, old, new = sorted(client.search_runs([exp], "tags.kind = 'dataset'"), key=lambda r: r.info.start_time)
    assert looked.data.tags["verdict"] == f"superseded: the study's verdicts are on run {new.info.run_id}"
    assert new.data.tags["verdict.l2"] in ("better", "worse", "equivalent", "undecided")
    assert not any(k.startswith("verdict.") for k in old.data.tags)
    assert old.data.tags["verdict"] == f"superseded: the study's verdicts are on run {new.info.run_id}"
    assert [r.info.run_id for r in client.search_runs([exp], "tags.`verdict.l2` != ''")] == [new.info.run_id]
    # its numbers too: NaN as the latest (MLflow cannot delete a metric); the current parent's are numbers
    assert math.isnan(old.data.metrics["vs_none.l2"]) and math.isnan(old.data.metrics["p_holm.l2"])
    assert math.isfinite(new.data.metrics["vs_none.l2"])
    assert mlflow.artifacts.load_dict(f"{old.info.artifact_uri}/verdicts.json") == {"superseded": True,
                                                                                   "verdicts_on_run": new.info.run_id}
    assert mlflow.artifacts.load_dict(f"{new.info.artifact_uri}/verdicts.json")["dataset"] == "wine"
    # extended again: both older parents point at the newest (not one at the next, a chain)
    write_study(workdir / "g.yaml", {**study, "seeds": 4})
    assert run_cli(["ablation", "--study", "g.yaml", "--no-report"], cwd=workdir, env=env).returncode == 0
    *older, newest = sorted(client.search_runs([exp], "tags.kind = 'dataset'"), key=lambda r: r.info.start_time)
    assert [r.data.tags["verdict"] for r in older] == [f"superseded: the study's verdicts are on run {newest.info.run_id}"] * 3
    assert newest.data.tags["seeds_added_after"] == "[2, 3]"
    report = run_cli(["report", "--study", "g.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert report.returncode == 0, report.stderr[-2000:]
    assert "Seeds were added after results on 2 and 3 seeds were in" in (workdir / "reports/grow/report.html").read_text()
    view = run_cli(["ablation", "--study", "g.yaml", "--seeds", "5", "--no-report"], cwd=workdir, env=env)
    assert view.returncode == 0 and "[wine] trained 2," in view.stdout, view.stdout   # a view records nothing
    again = run_cli(["ablation", "--study", "g.yaml", "--no-report"], cwd=workdir, env=env)   # nothing added: said as before
    assert "Seeds were added after results on 2 and 3 seeds were in" in again.stdout, again.stdout
    # the view opened a newer parent (for seed 4, which the file has not): the study's verdicts stay on
    # the parent of the file's seeds, and the view's points there, saying who opened it; so does the report
    *_, current, opened = sorted(client.search_runs([exp], "tags.kind = 'dataset'"), key=lambda r: r.info.start_time)
    assert current.info.run_id == newest.info.run_id and opened.data.tags["opened_by_view"] == "--seeds 5"
    assert current.data.tags["verdict.l2"] in ("better", "worse", "equivalent", "undecided")
    assert opened.data.tags["verdict"] == f"superseded: the study's verdicts are on run {current.info.run_id}"
    assert "A view (`--seeds 5`) opened this run" in opened.data.tags["mlflow.note.content"]
    assert run_cli(["report", "--study", "g.yaml", "--no-pdf"], cwd=workdir, env=env).returncode == 0
    assert [r.info.run_id for r in client.search_runs([exp], "tags.`verdict.l2` != ''")] == [current.info.run_id]
    assert client.list_artifacts(current.info.run_id, "figures") and not client.list_artifacts(opened.info.run_id, "figures")
    root_of = {r.info.run_id: r.data.tags["mlflow.parentRunId"] for r in (current, opened)}   # the report's files too
    assert client.list_artifacts(root_of[current.info.run_id], "report")
    assert not client.list_artifacts(root_of[opened.info.run_id], "report")
    # the printed side-by-side view: the current parent alone (not the view's, nor the retired ones)
    from pipeline.ui_links import verdicts_view

    side_by_side = verdicts_view("grow", ["none", "l2"])[1]["searchFilter"]
    assert [r.info.run_id for r in client.search_runs([exp], side_by_side)] == [current.info.run_id]
    # another configuration (the study file's epochs changed): its parent alone, then the first again
    write_study(workdir / "g.yaml", {**study, "seeds": 4, "epochs": 3})
    assert run_cli(["ablation", "--study", "g.yaml", "--no-report"], cwd=workdir, env=env).returncode == 0
    [other] = [r for r in client.search_runs([exp], side_by_side)]
    assert other.info.run_id != current.info.run_id and other.data.tags["config_hash"] != current.data.tags["config_hash"]
    # the parent that held the answer says atop its description that it no longer does (its verdict tags stay)
    note = client.get_run(current.info.run_id).data.tags["mlflow.note.content"]
    assert note.startswith(f"**Not the study's current answer**: these verdicts are of another configuration of the "
                           f"study (`config_hash` {current.data.tags['config_hash']}); the study file's are on the "
                           f"dataset run {other.info.run_id}.\n\n**"), note[:400]
    assert client.get_run(current.info.run_id).data.tags["verdict.l2"] == current.data.tags["verdict.l2"]
    write_study(workdir / "g.yaml", {**study, "seeds": 4})
    assert run_cli(["report", "--study", "g.yaml", "--no-pdf"], cwd=workdir, env=env).returncode == 0
    assert [r.info.run_id for r in client.search_runs([exp], side_by_side)] == [current.info.run_id]
    notes = {r: client.get_run(r).data.tags["mlflow.note.content"] for r in (current.info.run_id, other.info.run_id)}
    assert "Not the study's current answer" not in notes[current.info.run_id]   # its answer again: rewritten
    assert notes[other.info.run_id].startswith("**Not the study's current answer**") and \
        notes[other.info.run_id].count("Not the study's current answer") == 1
    # the file shrunk from the command line (--epochs): its parent gets its own verdicts, but the
    # side-by-side view keeps the study file's answer (it moved there until the file ran again)
    shrunk = run_cli(["ablation", "--study", "g.yaml", "--epochs", "1", "--no-report"], cwd=workdir, env=env)
    assert shrunk.returncode == 0, shrunk.stderr[-2000:]
    assert [r.info.run_id for r in client.search_runs([exp], side_by_side)] == [current.info.run_id]
    small = max(client.search_runs([exp], "tags.kind = 'dataset'"), key=lambda r: r.info.start_time)
    assert small.data.tags["config_hash"] not in (current.data.tags["config_hash"], other.data.tags["config_hash"])
    assert small.data.tags["verdict.l2"] in ("better", "worse", "equivalent", "undecided") and "answer" not in small.data.tags


def test_an_adaptive_study_turned_into_more_fixed_seeds_is_warned_of(workdir, env):
    """Adaptive seeds stopped (decided, or at their max) and the file then given more fixed seeds:
    the seeds were added after the results were seen, as when a fixed study's seeds grow, and the
    verdicts say so (they tested at the full alpha as if this were the first look)."""
    study = tiny_study_dict(name="turned", arms=["none", "l2"], seeds={"start": 2, "step": 2, "max": 4}, epochs=2,
                            datasets=[{"name": "wine"}])
    write_study(workdir / "t.yaml", study)
    first = run_cli(["ablation", "--study", "t.yaml", "--no-report"], cwd=workdir, env=env)
    assert first.returncode == 0 and "Seeds were added" not in first.stdout, first.stdout + first.stderr[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("turned").experiment_id
    seeds_done = len({r.data.tags["seed"] for r in trial_runs(client, [exp])})
    assert seeds_done in (2, 4)   # decided at the first look, or at the max
    write_study(workdir / "t.yaml", {**study, "seeds": 6})
    proc = run_cli(["ablation", "--study", "t.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"Seeds were added after results on {seeds_done} seeds were in" in proc.stdout, proc.stdout
    [parent] = [r for r in client.search_runs([exp], "tags.kind = 'dataset' AND tags.answer = 'current'")]
    assert parent.data.tags["seeds_added_after"] == f"[{seeds_done}]"


def test_a_dataset_changed_but_not_rerun_keeps_its_answer_and_one_dropped_is_said_once(workdir, env):
    """A review: a report after one dataset's settings changed (before the rerun) took its earlier
    parent for a dataset the file no longer had: the answer tag went, its description and the
    console said "the study file no longer has" a dataset it has, for good."""
    study = tiny_study_dict(name="two", arms=["none", "l2"], seeds=2, epochs=1,
                            datasets=[{"name": "wine"}, {"name": "breast_cancer", "train_size": 80}])
    write_study(workdir / "t.yaml", study)
    assert run_cli(["ablation", "--study", "t.yaml", "--no-report"], cwd=workdir, env=env).returncode == 0
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("two").experiment_id

    def answer(label: str):
        [p] = client.search_runs([exp], f"tags.kind = 'dataset' AND tags.dataset = '{label}' AND tags.answer = 'current'")
        return p

    before = answer("breast_cancer")
    write_study(workdir / "t.yaml", {**study, "datasets": [{"name": "wine"}, {"name": "breast_cancer", "train_size": 60}]})
    changed = run_cli(["report", "--study", "t.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert changed.returncode == 0 and "no longer has" not in changed.stderr, changed.stderr[-2000:]
    kept = answer("breast_cancer")
    assert kept.info.run_id == before.info.run_id and "Not the study's current answer" not in kept.data.tags["mlflow.note.content"]
    write_study(workdir / "t.yaml", {**study, "datasets": [{"name": "wine"}]})
    dropped = run_cli(["report", "--study", "t.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert dropped.returncode == 0 and "note: the study file no longer has dataset breast_cancer" in dropped.stderr, \
        dropped.stderr[-2000:]
    note = client.get_run(before.info.run_id).data.tags["mlflow.note.content"]
    assert note.startswith("**Not the study's current answer**: the study file no longer has the dataset `breast_cancer`")
    again = run_cli(["report", "--study", "t.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert again.returncode == 0 and "no longer has" not in again.stderr   # said once


def test_seeds_a_view_trained_after_the_files_results_are_still_added_after_them(workdir, env):
    """The file's 3 seeds run, a `--seeds 6` view trains seeds 3 to 5, then the file asks for 6: the
    seeds were added after results on 3 were seen, but every one had a cell, so no warning was
    recorded (a study-evolution audit)."""
    study = tiny_study_dict(name="viewed", arms=["none", "l2"], seeds=3, epochs=2, datasets=[{"name": "wine"}])
    write_study(workdir / "v.yaml", study)
    assert run_cli(["ablation", "--study", "v.yaml", "--no-report"], cwd=workdir, env=env).returncode == 0
    assert run_cli(["ablation", "--study", "v.yaml", "--seeds", "6", "--no-report"], cwd=workdir, env=env).returncode == 0
    write_study(workdir / "v.yaml", {**study, "seeds": 6})
    proc = run_cli(["ablation", "--study", "v.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0 and "nothing to train" in proc.stdout, proc.stderr[-2000:]
    assert "WARNING: Seeds were added after results on 3 seeds were in" in proc.stdout, proc.stdout[-2000:]
    # a label renamed: the dataset starts afresh, which was done without a word (the label is in its identity)
    write_study(workdir / "v.yaml", {**study, "seeds": 6, "datasets": [{"name": "wine", "label": "vino"}]})
    renamed = run_cli(["ablation", "--study", "v.yaml", "--no-report", "--seeds", "2"], cwd=workdir, env=env)
    assert renamed.returncode == 0 and (
        "note: [vino] a dataset label new to study 'viewed': it starts afresh; the storage also holds wine, which this "
        "file no longer names: if one of them was renamed vino, it trains again under the new label") in renamed.stderr, \
        renamed.stderr[-2000:]
    # another study whose name extends this one's ("viewed.quick") is not this study's labels (a review)
    from pipeline.joining import unnamed_labels

    other = optuna.create_study(study_name="viewed.quick.digits.0123456789ab",
                                storage=get_storage(f"journal:{workdir / 'optuna.journal'}"))
    other.set_user_attr("study", "viewed.quick")
    other.set_user_attr("dataset", "digits")
    assert unnamed_labels(load_study(workdir / "v.yaml"), f"journal:{workdir / 'optuna.journal'}") == ["wine"]
    # the ROPE changed after verdicts were given: they moved with it without a word
    answered = run_cli(["ablation", "--study", "v.yaml", "--no-report"], cwd=workdir, env=env)
    assert answered.returncode == 0 and ("note: the study file no longer has dataset wine: its runs stay, apart, and "
                                         "its verdicts are no longer the study's answer; Holm's correction now counts "
                                         "this file's datasets' comparisons only") in answered.stderr, answered.stderr[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])   # the old label's parent: no longer the answer, and says why
    [old] = [r for r in client.search_runs([client.get_experiment_by_name("viewed").experiment_id],
                                           "tags.kind = 'dataset' AND tags.dataset = 'wine'")
             if not r.data.tags["verdict"].startswith("superseded")]   # the wine parent that held the answer
    assert "answer" not in old.data.tags and old.data.tags["mlflow.note.content"].startswith(
        "**Not the study's current answer**: the study file no longer has the dataset `wine`"), old.data.tags
    write_study(workdir / "v.yaml", {**study, "seeds": 6, "rope": 0.02, "datasets": [{"name": "wine", "label": "vino"}]})
    moved = run_cli(["ablation", "--study", "v.yaml", "--no-report"], cwd=workdir, env=env)
    assert moved.returncode == 0 and ("note: [vino] the ROPE changed after verdicts were given under it (±1.0 pt -> "
                                      "±2.0 pt): the verdicts moved with it") in moved.stderr, moved.stderr[-2000:]
    again = run_cli(["ablation", "--study", "v.yaml", "--no-report"], cwd=workdir, env=env)
    assert again.returncode == 0 and "ROPE changed" not in again.stderr and "no longer has" not in again.stderr   # said once
    # ... and kept with the verdicts wherever they are read: the console's warnings on every later look
    assert "WARNING: Changed after verdicts were given: the ROPE (±1.0 pt -> ±2.0 pt)." in again.stdout, again.stdout[-2000:]


def test_path_points_taken_out_after_the_verdicts_are_said_with_them(workdir, env):
    """A path point dropped from the file after its results were seen (the point the validation split
    had chosen, say) moved which point stands for the arm, and its verdict, without a word: the
    configuration is the same, so `report` recorded the new answer (a report review). It is kept
    with the verdicts now, as a changed ROPE or metric is."""
    study = tiny_study_dict(name="pts", seeds=2, epochs=2, arms=["none", "l2"], datasets=[{"name": "wine"}],
                            paths={"l2": [1e-5, 1e-3, 1e-2]})
    write_study(workdir / "p.yaml", study)
    first = run_cli(["ablation", "--study", "p.yaml", "--no-report"], cwd=workdir, env=env)
    assert first.returncode == 0 and "Changed after verdicts" not in first.stdout, first.stderr[-2000:]
    write_study(workdir / "p.yaml", {**study, "paths": {"l2": [1e-5, 1e-3]}})
    again = run_cli(["ablation", "--study", "p.yaml", "--no-report"], cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert ("note: [wine] the path points changed after verdicts were given on them (L2 1e-05, 0.001, 0.01 -> L2 1e-05, "
            "0.001)") in again.stderr, again.stderr[-2000:]
    assert ("WARNING: Changed after verdicts were given: the path points (L2 1e-05, 0.001, 0.01 -> L2 1e-05, 0.001)"
            in again.stdout), again.stdout[-3000:]
    parent = MlflowClient(env["MLFLOW_TRACKING_URI"]).search_runs(
        [MlflowClient(env["MLFLOW_TRACKING_URI"]).get_experiment_by_name("pts").experiment_id],
        "tags.kind = 'dataset' AND tags.answer = 'current'")[0]
    assert "path points" in parent.data.tags["chosen_after"] and json.loads(parent.data.tags["path_points"]) == \
        {"l2": ["l2=0.001", "l2=1e-05"]}
    # unchanged since: said again (it stays with the verdicts), the console's note once
    third = run_cli(["ablation", "--study", "p.yaml", "--no-report"], cwd=workdir, env=env)
    assert "Changed after verdicts were given: the path points" in third.stdout and "path points changed" not in third.stderr


def test_a_study_switched_to_log_loss_answers_alike_on_the_console_the_report_and_mlflow(workdir, env):
    """`metric: log_loss` added after the runs (a study-evolution audit): the trials kept every
    per-metric value but log_loss (it ends in "_loss", as the training losses left out do), so
    `ablation` read no trial ("no comparison with none") while the report it wrote, reading MLflow,
    answered, and the second rerun wrote "no comparison" onto MLflow's current answer. Trials
    recorded so (before the fix) are read from their MLflow runs."""
    from pipeline import grid
    from pipeline.results import _readable
    from pipeline.tracking import Tracker

    study = tiny_study_dict(name="switch", arms=["none", "l2"], seeds=3, datasets=[{"name": "digits", "train_size": 120}],
                            strengths={"l2": 0.05})
    write_study(workdir / "s.yaml", study)
    assert run_cli(["ablation", "--study", "s.yaml", "--no-report"], cwd=workdir, env=env).returncode == 0
    write_study(workdir / "s.yaml", {**study, "datasets": [{"name": "digits", "train_size": 120, "metric": "log_loss"}]})
    proc = run_cli(["ablation", "--study", "s.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert proc.returncode == 0 and "nothing to train" in proc.stdout, proc.stderr[-2000:]
    # chosen after the results, as a ROPE would be: said (a metrics audit), once
    assert ("note: [digits] the primary metric changed after verdicts were given in another (accuracy -> log_loss): "
            "the verdicts are now in it") in proc.stderr, proc.stderr[-2000:]
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("    L2: ")]
    assert "no comparison" not in proc.stdout and "log loss" in line, proc.stdout[-2000:]
    html = (workdir / "reports/switch/report.html").read_text()
    assert line.strip()[:40] in html.replace("&#39;", "'"), line   # the report says what the console says
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    [parent] = client.search_runs([client.get_experiment_by_name("switch").experiment_id],
                                  "tags.kind = 'dataset' AND tags.answer = 'current'")
    assert parent.data.tags["verdict.l2"] in ("better", "worse", "equivalent", "undecided")
    assert parent.data.tags["metric_name"] == "log_loss"   # it kept accuracy, the runs' first metric
    again = run_cli(["ablation", "--study", "s.yaml", "--no-report"], cwd=workdir, env=env)
    assert again.returncode == 0 and "primary metric changed" not in again.stderr
    # the console said it once; the report, the parent's note and every later console summary keep it
    changed = "Changed after verdicts were given: the primary metric (accuracy -> log_loss)."
    assert changed in html.replace("&gt;", ">") and changed in parent.data.tags["mlflow.note.content"]
    assert f"WARNING: {changed}" in again.stdout, again.stdout[-2000:]
    # a `report` that is the first to see a change says it on its page too (it records after it renders)
    write_study(workdir / "s.yaml", {**study, "datasets": [{"name": "digits", "train_size": 120, "metric": "log_loss",
                                                            "rope": 0.2}]})
    reported = run_cli(["report", "--study", "s.yaml", "--no-pdf"], cwd=workdir, env=env)
    page = (workdir / "reports/switch/report.html").read_text().replace("&gt;", ">")
    assert reported.returncode == 0 and "the ROPE changed after verdicts" in reported.stderr, reported.stderr[-2000:]
    assert "Changed after verdicts were given: the primary metric (accuracy -> log_loss) and the ROPE (" in page
    # a trial recorded without its log_loss values (as before the fix): read from its MLflow run
    plan = load_study(workdir / "s.yaml").plans[0]
    ostudy = optuna.load_study(study_name=optuna_study_name(load_study(workdir / "s.yaml"), plan),
                               storage=get_storage(f"journal:{workdir / 'optuna.journal'}"))
    results = grid.complete_results(ostudy)
    stripped = [(*r[:3], {k: v for k, v in r[3].items() if "log_loss" not in k}, r[4]) for r in results]
    read = _readable(stripped, "log_loss", "accuracy", Tracker(env["MLFLOW_TRACKING_URI"]), load_study(workdir / "s.yaml"), plan)
    assert [f["test_log_loss"] for *_, f in read] == pytest.approx([f["test_log_loss"] for *_, f, _ in results])


def test_an_adaptive_max_raised_after_its_last_look_is_warned_of_in_the_report(workdir, env):
    """An adaptive study at its maximum, undecided, and the max then raised: the next round opens a
    new parent. The record of seeds added after results went onto the parent open when the study
    was prepared (the old one), so the report and the current parent lost the optional-stopping
    warning the console printed (a tuning/adaptive audit)."""
    study = tiny_study_dict(name="raised", arms=["none", "l2"], seeds={"start": 2, "step": 2, "max": 2}, epochs=2,
                            strengths={"l2": 0.05}, rope=0.0001, datasets=[{"name": "wine"}])
    write_study(workdir / "r.yaml", study)
    first = run_cli(["ablation", "--study", "r.yaml", "--no-report"], cwd=workdir, env=env)
    assert first.returncode == 0 and "2 seeds: maximum reached" in first.stdout, first.stdout + first.stderr[-2000:]
    write_study(workdir / "r.yaml", {**study, "seeds": {"start": 2, "step": 2, "max": 4}})
    proc = run_cli(["ablation", "--study", "r.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert proc.returncode == 0 and "adding seeds up to 4" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "Seeds were added after results on 2 seeds were in" in proc.stdout
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("raised").experiment_id
    parents = client.search_runs([exp], "tags.kind = 'dataset'")
    assert len(parents) == 2 and all(p.data.tags.get("seeds_added_after") == "[2]" for p in parents)
    html = (workdir / "reports/raised/report.html").read_text()
    assert "Seeds were added after results on 2 seeds were in" in html


@pytest.mark.slow
def test_adaptive_seeds_add_rounds_until_decided_and_resume(workdir, env):
    """seeds: {start, step, max}: a dataset whose comparisons are all decided stops; one still
    undecided gets the next round of seeds, up to max. What ran is what the sequential decision
    recomputed from MLflow says, and a rerun trains nothing."""
    from pipeline import stats, verdicts

    study = tiny_study_dict(name="adaptive", arms=["none", "l1", "l2"], seeds={"start": 3, "step": 3, "max": 9},
                            strengths={"l1": 5.0, "l2": 1e-12, "dropout": 0.3},
                            # wine: l1 = 5 kills the net (worse), l2 = 1e-12 changes nothing (equivalent: within a
                            # ROPE of 5 points, as one of its 45 test rows is 2.2 points of accuracy)
                            datasets=[{"name": "wine", "rope": 0.05},
                                      {"name": "digits", "train_size": 120, "strengths": {"l1": 1e-4, "l2": 3e-3}}])
    write_study(workdir / "a.yaml", study)
    proc = run_cli(["ablation", "--study", "a.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[wine] undecided after 3 seeds: adding seeds up to 6" in proc.stdout  # L1 is not yet decided at 3
    assert "L2 practically the same as none" in proc.stdout and " rounds, " in proc.stdout
    assert " at α 0.0" in proc.stdout   # each comparison names the share of alpha its look was judged at
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("adaptive")
    runs = client.search_runs([exp.experiment_id], "tags.kind = 'trial' AND attributes.status = 'FINISHED'", max_results=1000)
    values: dict = {}
    for r in runs:
        values.setdefault(r.data.tags["dataset"], {}).setdefault(r.data.tags["regularizer"], {})[int(r.data.tags["seed"])] = \
            r.data.metrics["test_metric"]
    n_test = {p.data.tags["dataset"]: int(p.data.params["n_test"])
              for p in client.search_runs([exp.experiment_id], "tags.kind = 'dataset'")}
    decided = verdicts.decide_study([verdicts.DatasetResults(label, "classification", values[label], rope, n_test=n_test[label])
                                     for label, rope in (("wine", 0.05), ("digits", None))], list(range(9)), [3, 6, 9])
    for v in decided:   # each dataset ran exactly the rounds its verdicts asked for
        assert {len(x) for x in values[v.label].values()} == {v.seeds_used}, v
        assert v.stopped in ("decided", "maximum reached")
    assert decided[0].paired["l2"].verdict == "equivalent" and decided[0].seeds_used > 3
    again = run_cli(["ablation", "--study", "a.yaml", "--no-report"], cwd=workdir, env=env)
    assert again.returncode == 0 and "trained 1" not in again.stdout and "adding seeds" not in again.stdout
    # the report states each look's alpha and judges the evidence on the seeds the looks reached,
    # not on the first round's 3 (whose smallest Wilcoxon p, 0.25, would call it "too weak")
    report = run_cli(["report", "--study", "a.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (workdir / "reports/adaptive/report.html").read_text()
    alphas = ", ".join(f"{a:.4f}" for a in stats.spending([3, 6, 9]))
    assert f"α {alphas} at the looks in turn" in html and "at α 0.0" in html
    most = max(v.seeds_used for v in decided)
    assert ("The Wilcoxon column cannot reach" in html) == (stats.min_wilcoxon_p(most) >= stats.ALPHA) and most >= 6
    assert "The evidence is too weak" not in html
    # the report command says the answers too, as the report states them
    assert "wine: " in report.stdout and "digits: " in report.stdout and "(ROPE ±" in report.stdout
    reached = {v.label: v.seeds_used for v in decided}
    assert f"{min(reached.values())} to {max(reached.values())} seeds per dataset (adaptive: looks at 3, 6 and 9 seeds)" \
        in html if len(set(reached.values())) > 1 else f"{most} seeds per arm (adaptive" in html

    # an arm and a path added to the file later run on the seeds their dataset's rounds reached
    # (not the first look's alone, which no later round would extend); the arm's earlier runs at
    # its own strength are left out of the report, as the console leaves them out, but where the
    # path lists that strength (wine's l2 1e-12) they are its point's cells, not trained again
    earlier = {("l2", "l2=0.003")}   # digits' own L2 point, which the path does not list
    write_study(workdir / "a.yaml", {**study, "arms": ["none", "l1", "l2", "dropout"], "paths": {"l2": [1e-12, 1e-3]}})
    queued = run_cli(["enqueue", "--study", "a.yaml", "--storage", "journal:optuna.journal"], cwd=workdir, env=env)
    assert queued.returncode == 0, queued.stderr[-2000:]
    storage = get_storage(f"journal:{workdir / 'optuna.journal'}")
    for label in reached:   # enqueued: every cell of the file on the same seeds, those its dataset reached at least
        ostudy = optuna.load_study(study_name=next(s.study_name for s in optuna.get_all_study_summaries(storage)
                                                   if s.user_attrs.get("dataset") == label), storage=storage)
        cells: dict = {}
        for t in ostudy.trials:
            key = (t.user_attrs.get("arm"), t.user_attrs.get("variant", ""))
            if "seed" in t.user_attrs and key[0] and key not in earlier:
                cells.setdefault(key, set()).add(t.user_attrs["seed"])
        assert len({frozenset(s) for s in cells.values()}) == 1 and len(cells) == 5, (label, cells)
        assert len(next(iter(cells.values()))) >= reached[label]
    grown = run_cli(["ablation", "--study", "a.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert grown.returncode == 0, grown.stdout[-3000:] + grown.stderr[-3000:]
    runs = client.search_runs([exp.experiment_id], "tags.kind = 'trial' AND attributes.status = 'FINISHED'", max_results=1000)
    seeds: dict = {}
    for r in runs:
        key = (r.data.tags["regularizer"], r.data.tags.get("variant", ""))
        seeds.setdefault(r.data.tags["dataset"], {}).setdefault(key, set()).add(int(r.data.tags["seed"]))
    for label, cells in seeds.items():
        now = {key: len(s) for key, s in cells.items() if key not in earlier}
        assert len(set(now.values())) == 1 and min(now.values()) >= reached[label], (label, now, reached)
        assert ("dropout", "dropout=0.3") in cells and ("l2", "l2=0.001") in cells and ("l2", "l2=1e-12") in cells
    trials = pd.read_csv(workdir / "reports/adaptive/trials.csv", keep_default_na=False)
    assert not ((trials["arm"] == "l2") & (trials["variant"] == "l2=0.003")).any()
    html = (workdir / "reports/adaptive/report.html").read_text()
    assert "are on points l2 at l2=0.003, which the study file does not list" in html
    # a design changed after the results were seen is said (the looks' α are recomputed over the same seeds)
    write_study(workdir / "a.yaml", {**study, "arms": ["none", "l1", "l2", "dropout"], "paths": {"l2": [1e-12, 1e-3]},
                                     "seeds": {"start": 3, "step": 2, "max": 9}})
    changed = run_cli(["enqueue", "--study", "a.yaml", "--storage", "journal:optuna.journal"], cwd=workdir, env=env)
    assert changed.returncode == 0 and "the looks changed from 3, 6, 9 to 3, 5, 7, 9 seeds after results were seen" \
        in changed.stderr, changed.stderr[-2000:]
    # a worker that ran out of cells points at the enqueue that decides on the round and adds the next
    # (it pointed at the report, as if the study were done)
    worked = run_cli(["worker", "--study", "a.yaml", "--storage", "journal:optuna.journal"], cwd=workdir, env=env)
    assert worked.returncode == 0 and ("no cell is left to train here; adaptive seeds: the next round, if any dataset is "
                                       "still undecided, comes from the enqueue command again: python -m pipeline enqueue "
                                       "--study a.yaml --storage journal:optuna.journal") in worked.stdout, worked.stdout[-2000:]


@pytest.mark.slow
def test_secondary_verdicts_say_what_each_regularizer_did(workdir, env):
    """A strong L1 zeroes most weights: its sparsity verdict is "sparser" with a CI above zero;
    L2 makes the weights smaller; every arm gets a gap verdict. The console says it, and the
    dataset's MLflow parent run carries the verdicts as tags and verdicts.json."""
    study = tiny_study_dict(name="effects", arms=["none", "l1", "l2"], seeds=3, epochs=40, batch_size=16,
                            optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9}, model={"hidden": [16, 16]},
                            strengths={"l1": 0.03, "l2": 0.05, "dropout": 0.3}, datasets=[{"name": "wine"}])
    write_study(workdir / "e.yaml", study)
    proc = run_cli(["ablation", "--study", "e.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    l1_line = next(line for line in proc.stdout.splitlines() if line.startswith("    L1: "))
    assert "weights sparser by" in l1_line and "train-test gap" in l1_line
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("effects")
    [parent] = client.search_runs([exp.experiment_id], "tags.kind = 'dataset'")
    tags = parent.data.tags
    assert tags["verdict.l1.sparsity_lt_0.001"] == "sparser" and tags["verdict.l2.weight_l2_total"] == "smaller"
    assert {"verdict.l1.gap_metric", "verdict.l2.gap_metric", "verdict.l1", "verdict.l2", "verdict"} <= set(tags)
    record = mlflow.artifacts.load_dict(f"{parent.info.artifact_uri}/verdicts.json")
    sparsity = record["arms"]["l1"]["sparsity_lt_0.001"]
    assert sparsity["verdict"] == "better" and sparsity["ci"][0] > 0 and sparsity["mean_diff"] > 0.2
    assert record["answer"] == "wine: " + tags["verdict"]
    # the run's description in the UI: the answer, then the console's line of each comparison
    note = tags["mlflow.note.content"].splitlines()
    assert note[0].startswith("**wine: ") and f"- {l1_line.strip()}" in note
    # each arm's difference to none as numbers too (sortable in the UI), as the console writes it
    for arm in ("l1", "l2"):
        p = record["arms"][arm]["primary"]
        assert parent.data.metrics[f"vs_none.{arm}"] == pytest.approx(100 * p["arm_minus_none"], rel=1e-3)
        assert parent.data.metrics[f"vs_none.{arm}.ci_low"] == pytest.approx(100 * p["arm_minus_none_ci"][0], rel=1e-3)
        assert parent.data.metrics[f"p_holm.{arm}"] == pytest.approx(p["p_holm"], rel=1e-3)
    # the root run's description: the study's answer, as the console's In short
    [root] = client.search_runs([exp.experiment_id], "tags.kind = 'root'")
    short = next(line for line in proc.stdout.splitlines() if line.startswith("In short: "))
    assert root.data.tags["mlflow.note.content"].startswith(f"**In short:** {short[len('In short: '):]}")
    assert (root.data.tags["arms"], root.data.tags["datasets"], root.data.tags["seeds_used"]) == ("none, l1, l2", "wine", "0-2")
    # the printed link to the parents' numbers side by side: a shared view stored in the experiment
    link = next(line for line in proc.stdout.splitlines() if line.startswith("Each dataset's differences to none"))
    key = re.search(r"viewStateShareKey=([\w-]+)", link).group(1)
    view = json.loads(client.get_experiment(exp.experiment_id).tags[f"mlflow.sharedViewState.{key}"])
    assert [r.info.run_id for r in client.search_runs([exp.experiment_id], view["searchFilter"])] == [parent.info.run_id]
    assert view["selectedColumns"] == ["tags.`verdict`", "metrics.`vs_none.l1`", "metrics.`p_holm.l1`",
                                       "metrics.`vs_none.l2`", "metrics.`p_holm.l2`"]
    assert mlflow.artifacts.load_text(f"{root.info.artifact_uri}/study.yaml") == (workdir / "e.yaml").read_text()


@pytest.mark.slow
def test_a_chosen_metric_drives_the_verdicts(workdir, env):
    """metric: per dataset. Every metric of the family is logged; the chosen one is test_metric,
    the Optuna objective and what the verdicts compare, in its own direction (MAE: lower)."""
    study = tiny_study_dict(name="metrics", arms=["none", "l2"], seeds=2, datasets=[
        {"name": "breast_cancer", "train_size": 80, "metric": "balanced_accuracy", "class_weight": "balanced"},
        {"name": "synthetic_linear", "train_size": 60, "metric": "mae", "optimizer": {"name": "adam", "lr": 0.005}}])
    write_study(workdir / "m.yaml", study)
    proc = run_cli(["ablation", "--study", "m.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "test_balanced_accuracy" in proc.stdout and "test_mae" in proc.stdout
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("metrics")
    for r in client.search_runs([exp.experiment_id], "tags.kind = 'trial'"):
        m, chosen = r.data.metrics, {"breast_cancer": "balanced_accuracy", "synthetic_linear": "mae"}[r.data.tags["dataset"]]
        assert r.data.tags["metric_name"] == chosen and m["test_metric"] == m[f"test_{chosen}"]
        assert m["final_val_metric"] == m[f"final_val_{chosen}"]
        series = client.get_metric_history(r.info.run_id, f"val_{chosen}")   # per epoch; the last is the final one
        assert len(series) == 3 and max(series, key=lambda s: s.step).value == pytest.approx(m["final_val_metric"])
        family = {"test_accuracy", "test_balanced_accuracy", "test_macro_f1", "test_roc_auc", "test_log_loss"} \
            if chosen == "balanced_accuracy" else {"test_mse", "test_rmse", "test_mae", "test_r2"}
        assert family <= set(m)
        if chosen == "mae":   # RMSE in the target's units: the root of the MSE
            assert m["test_rmse"] == pytest.approx(math.sqrt(m["test_mse"]), rel=1e-6)
    ostudy = optuna.load_study(study_name=optuna_study_name(load_study(workdir / "m.yaml"), load_study(workdir / "m.yaml").plans[1]),
                               storage=get_storage(f"journal:{workdir / 'optuna.journal'}"))
    assert ostudy.direction == optuna.study.StudyDirection.MINIMIZE   # MAE: lower is better
    # the parents carry what a constant prediction scores, and the class weights where asked for
    parents = {r.data.tags["dataset"]: r.data.params
               for r in client.search_runs([exp.experiment_id], "tags.kind = 'dataset'")}
    assert float(parents["breast_cancer"]["chance_test_metric"]) == 0.5   # balanced accuracy of one class
    weights = json.loads(parents["breast_cancer"]["class_weight"])
    assert len(weights) == 2 and weights[0] > 1 > weights[1]   # malignant (0) is the rarer class
    assert "class_weight" not in parents["synthetic_linear"] and float(parents["synthetic_linear"]["chance_test_metric"]) > 0
    assert float(parents["breast_cancer"]["chance_test_macro_f1"]) < 0.5   # every metric's chance is logged

    # The primary metric is chosen when results are read: another one trains nothing again, and
    # the verdicts, the gap and the chance level are in it (R²: higher is better, where MAE was lower).
    runs_before = len(client.search_runs([exp.experiment_id], "tags.kind = 'trial'"))
    study["datasets"][0]["metric"], study["datasets"][1]["metric"] = "macro_f1", "r2"
    write_study(workdir / "m.yaml", study)
    again = run_cli(["ablation", "--study", "m.yaml"], cwd=workdir, env=env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("nothing to train: all") == 2
    assert len(client.search_runs([exp.experiment_id], "tags.kind = 'trial'")) == runs_before
    assert "test_macro_f1" in again.stdout and "test_r2" in again.stdout and "test_mae " not in again.stdout
    trials = pd.read_csv(workdir / "reports" / "metrics" / "trials.csv")
    assert set(trials["metric_name"]) == {"macro_f1", "r2"}
    for row in trials.itertuples():
        chosen = {"macro_f1": row.test_macro_f1, "r2": row.test_r2}[row.metric_name]
        assert row.test_metric == chosen and math.isfinite(row.gap_metric) and math.isfinite(row.final_val_metric)
    linear = trials[trials["metric_name"] == "r2"]
    assert (linear["gap_metric"] == linear["final_train_metric"] - linear["test_metric"]).all()   # higher is better
    html = (workdir / "reports" / "metrics" / "report.html").read_text()
    assert "test R²" in html and "test MAE" not in html
    text = " ".join(re.sub(r"<[^>]*>", " ", html).split())
    for label in ("breast_cancer", "synthetic_linear"):   # each arm table ends with the chance in the new metric
        name = "chance_test_" + {"breast_cancer": "macro_f1", "synthetic_linear": "r2"}[label]
        assert f"constant prediction (no features, for scale) – {float(parents[label][name]):.4g}" in text


@pytest.mark.slow
def test_the_messy_table_example_runs(workdir, env):
    """studies/messy_table.yaml, shortened: a text target, categorical columns, blanks and zeros
    meaning missing, an id column; its preprocessing lands on the dataset's parent run."""

    shutil.copytree(ROOT / "studies", workdir / "studies")
    proc = run_cli(["ablation", "--study", "studies/messy_table.yaml", "--seeds", "2", "--epochs", "3", "--no-report"],
                   cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert ('[clinic] data: rows 600 -> 600; columns 6 -> 14; imputed: glucose, bmi, smoker (a "(missing)" category); '
            "one-hot: smoker, region") in proc.stdout
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    [parent] = client.search_runs([client.get_experiment_by_name("messy-table").experiment_id], "tags.kind = 'dataset'")
    params = parent.data.params
    assert json.loads(params["class_names"]) == ["tested_negative", "tested_positive"]
    assert json.loads(params["data_encoded_columns"]) == ["smoker", "region"] and params["data_columns_out"] == "14"
    assert json.loads(params["data_marked_missing"]) == {"glucose": 40}
    report = run_cli(["report", "--study", "studies/messy_table.yaml", "--seeds", "2", "--epochs", "3", "--no-pdf"],
                     cwd=workdir, env=env)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (workdir / "reports/messy-table/seeds-2_epochs-3/report.html").read_text()   # a shrunk configuration's folder
    assert "<b>Data.</b> 600 rows read, 600 used" in html and "Values treated as missing: glucose (40)" in html
    assert "test balanced accuracy" in html


@pytest.mark.slow
def test_regularization_paths_are_paired_cells_and_both_engines_agree(workdir, env, monkeypatch):
    """paths: every strength (and l2_mode) a variant of its arm on the same seeds; the population
    engine (which groups the variants that can share a population) equals the reference trainer
    cell by cell; the arm's verdict uses the variant selected on validation."""
    from pipeline.cli import main

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    for engine in ("population", "reference"):
        study = tiny_study_dict(name=f"paths-{engine}", arms=["none", "dropout", "l2"], seeds=2, epochs=4,
                                optimizer={"name": "adam", "lr": 0.005}, execution={"engine": engine},
                                paths={"l2": [1e-4, 3e-2], "l2_mode": ["penalty", "decoupled"], "dropout": [0.2, 0.5]},
                                datasets=[{"name": "wine"}])
        write_study(workdir / f"{engine}.yaml", study)
        assert main(["ablation", "--study", f"{engine}.yaml", "--no-report"]) == 0
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = {}
    for engine in ("population", "reference"):
        exp = client.get_experiment_by_name(f"paths-{engine}")
        runs[engine] = {r.info.run_name: r for r in client.search_runs([exp.experiment_id], "tags.kind = 'trial'")}
    names = set(runs["population"])
    assert names == set(runs["reference"]) and len(names) == (1 + 2 + 4) * 2
    assert "wine/l2@l2=0.03,l2_mode=decoupled/seed1" in names and "wine/dropout@dropout=0.5/seed0" in names
    for name in names:
        a, b = runs["population"][name], runs["reference"][name]
        assert a.info.status == b.info.status == "FINISHED"
        assert a.data.params["l2"] == b.data.params["l2"] and a.data.params["l2_mode"] == b.data.params["l2_mode"]
        for key in ("final_val_loss", "test_loss"):
            assert a.data.metrics[key] == pytest.approx(b.data.metrics[key], rel=1e-4, abs=1e-6), (name, key)
    assert main(["report", "--study", "population.yaml", "--no-pdf"]) == 0
    html = (workdir / "reports/paths-population/report.html").read_text()
    assert "selected on validation" in html and 'alt="wine: regularization paths of' in html
    # the pair named with the path points that stand for each arm
    assert "The regularizers against each other" in html and \
        re.search(r'<th scope="row" class="l rh nw">dropout \(dropout=0\.[25]\) − L2 \(l2=[0-9.e-]+,l2_mode=\w+\)</th>', html)
    # the l2_modes against each other at each strength (not across strengths)
    assert "L2's l2_modes against each other at the same strength" in html
    assert re.findall(r'<th scope="row" class="l rh nw">(penalty − decoupled at l2=[0-9.e-]+)</th>', html) == \
        ["penalty − decoupled at l2=0.0001", "penalty − decoupled at l2=0.03"]
    decoupled = runs["population"]["wine/l2@l2=0.03,l2_mode=decoupled/seed0"]
    assert decoupled.data.params["l2_mode"] == "decoupled" and decoupled.data.tags["variant"] == "l2=0.03,l2_mode=decoupled"


def _trial_names(client, name: str) -> dict:
    exp = client.get_experiment_by_name(name)
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id], "tags.kind = 'trial'", max_results=1000)}


def test_a_changed_strength_trains_only_the_arms_that_use_it(workdir, env, monkeypatch, capsys):
    """identity.CELL_STRENGTHS: `strengths: {l2: 1e-3}` changed to 1e-2 is the same study (it was
    another, and every arm, none's too, trained again): only L2's and dropout+L2's cells train at the
    new strength, none's, dropout's and L1's are kept. The verdicts read L2 at the file's strength,
    never the better of the two on validation; the report leaves the old strength's runs out, saying so."""
    from pipeline.cli import main
    from pipeline.results import study_results

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    study = tiny_study_dict(name="strength", seeds=2, epochs=2, datasets=[{"name": "wine"}])
    write_study(workdir / "s.yaml", study)
    assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    first = _trial_names(client, "strength")
    assert len(first) == 10 and {"wine/none/seed0", "wine/l2@l2=0.001/seed1", "wine/dropout_l2@dropout=0.3,l2=0.001/seed0",
                                 "wine/l1@l1=0.0001/seed0", "wine/dropout@dropout=0.3/seed1"} <= set(first)
    capsys.readouterr()
    write_study(workdir / "s.yaml", {**study, "strengths": {**study["strengths"], "l2": 1e-2}})
    assert main(["ablation", "--study", "s.yaml", "--no-pdf"]) == 0
    out, err = capsys.readouterr()
    assert "[wine] trained 4" in out and "differ from the storage's" not in err, out + err
    # a strength tried again after its verdict was seen is said to be, as a ROPE or path points changed after them
    assert "note: [wine] a strength changed after verdicts were given at another (L2 0.001; dropout+L2 " \
        "dropout=0.3,l2=0.001 -> L2 0.01; dropout+L2 dropout=0.3,l2=0.01)" in err, err
    second = _trial_names(client, "strength")
    assert set(second) - set(first) == {f"wine/{arm}@{point}/seed{seed}" for seed in (0, 1) for arm, point in
                                        (("l2", "l2=0.01"), ("dropout_l2", "dropout=0.3,l2=0.01"))}
    assert len({r.data.tags["config_hash"] for r in second.values()}) == 1   # one configuration: its parent too
    [d] = study_results(load_study(workdir / "s.yaml"))
    assert d.selected["l2"] == "l2=0.01" and not d.paths
    for arm, point in (("l2", "l2=0.01"), ("dropout_l2", "dropout=0.3,l2=0.01"), ("none", "")):
        runs = {seed: second[f"wine/{arm}{'@' + point if point else ''}/seed{seed}"] for seed in (0, 1)}
        assert d.values[arm] == pytest.approx({seed: r.data.metrics["test_metric"] for seed, r in runs.items()}), arm
    html = (workdir / "reports/strength/report.html").read_text()
    assert "4 trial run(s) of this configuration are on other strengths dropout_l2 at dropout=0.3,l2=0.001, l2 at l2=0.001, " \
        "which the study file does not list" in html
    assert "Changed after verdicts were given: the strengths (L2 0.001; dropout+L2 dropout=0.3,l2=0.001 -&gt;" in html
    # each arm's view in the MLflow UI (the report's links) shows its 2 runs at the listed strength, not the earlier ones
    tags = client.get_experiment_by_name("strength").tags
    views = [json.loads(v)["searchFilter"] for k, v in tags.items() if k.startswith("mlflow.sharedViewState.ablation-trials-")]
    shown = [{r.info.run_name for r in client.search_runs([first["wine/none/seed0"].info.experiment_id], f)} for f in views]
    assert sorted(map(len, shown)) == [2] * 5 and not any("l2=0.001/" in name for names in shown for name in names), shown
    # back at 1e-3: the first runs again, nothing trains
    write_study(workdir / "s.yaml", study)
    assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    assert "[wine] nothing to train" in capsys.readouterr().out and len(_trial_names(client, "strength")) == 14


@pytest.mark.parametrize("storage", ["journal:optuna.journal", "sqlite:///optuna.db"])
def test_waiting_cells_the_study_file_no_longer_lists_are_retired(storage, workdir, env, monkeypatch, capsys):
    """enqueue at l2 = 1e-3, change it to 1e-2, enqueue again: the worker trained the old strength's
    waiting cells too (results the verdicts leave out). The second enqueue retires them, says so once,
    and counts them nowhere as failed; going back to 1e-3 enqueues them afresh (attempt 1) and trains
    them. An arm and a seed taken out are retired alike, adaptive seeds past the current look are not."""
    from pipeline import grid, lifecycle
    from pipeline.cli import main

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    client, flags = MlflowClient(env["MLFLOW_TRACKING_URI"]), ["--study", "s.yaml", "--storage", storage]
    study = tiny_study_dict(name="retire", seeds=2, epochs=1, arms=["none", "l2"], datasets=[{"name": "wine"}])

    def enqueue(changes: dict) -> str:
        write_study(workdir / "s.yaml", {**study, **changes})
        capsys.readouterr()
        assert main(["enqueue", *flags]) == 0
        return capsys.readouterr().out

    def work() -> tuple[str, optuna.Study]:
        assert main(["worker", *flags]) == 0
        loaded = load_study(workdir / "s.yaml")
        return capsys.readouterr().out, optuna.load_study(study_name=optuna_study_name(loaded, loaded.plans[0]),
                                                          storage=get_storage(storage))

    assert "retired" not in enqueue({})
    out = enqueue({"strengths": {**study["strengths"], "l2": 1e-2}})
    assert "[wine] 2 waiting cells at points the study file no longer lists are retired: l2 at l2=0.001\n" in out, out
    out, ostudy = work()
    assert re.search(r"\[wine\] worker \S+: trained 4, failed 0; 4 of the 4 cells enqueued so far are done", out), out
    assert set(_trial_names(client, "retire")) == {f"wine/{arm}/seed{seed}" for seed in (0, 1)
                                                   for arm in ("none", "l2@l2=0.01")}
    retired = ostudy.get_trials(states=(TrialState.FAIL,))   # ended untrained, no MLflow run, saying why
    assert sorted(grid.cell_of(t) for t in retired) == [("l2", 0, "l2=0.001"), ("l2", 1, "l2=0.001")]
    assert {(t.user_attrs["outcome"], t.user_attrs["fail_reason"]) for t in retired} == {("RETIRED", grid.RETIRED_REASON)}
    # no failure anywhere: not given up on, not for a rerun, not for a worker's retry
    assert grid.cells_given_up(ostudy) == 0 and grid.cells_failed(ostudy, 1, lifecycle.spent_attempt, lifecycle.repeats) == (0, 0)
    assert grid.retryable_failures(ostudy, lifecycle.retry_now) == set()
    assert grid.retry_failed(ostudy, 1, lifecycle.retry_now, lifecycle.spent_attempt)[0] == 0
    # back at 1e-3: its cells are enqueued afresh and trained
    assert "retired" not in enqueue({})
    out, ostudy = work()
    assert re.search(r"\[wine\] worker \S+: trained 2, failed 0; 4 of the 4 cells enqueued so far are done", out), out
    names = _trial_names(client, "retire")
    assert {n for n in names if "l2=0.001" in n} == {"wine/l2@l2=0.001/seed0", "wine/l2@l2=0.001/seed1"}
    assert {names[f"wine/l2@l2=0.001/seed{seed}"].data.tags["attempt"] for seed in (0, 1)} == {"1"}
    # an arm and a seed taken out: a third seed enqueued, then l2 and seed 2 gone (dropout in)
    assert "retired" not in enqueue({"seeds": 3})
    out = enqueue({"arms": ["none", "dropout"]})
    assert "[wine] 2 waiting cells at arms and seeds the study file no longer lists are retired: arm l2, seed 2\n" in out, out
    out, ostudy = work()
    assert re.search(r"\[wine\] worker \S+: trained 2, failed 0; 4 of the 4 cells enqueued so far are done", out), out
    assert not any("seed2" in n for n in _trial_names(client, "retire"))
    # adaptive seeds: the cells of a look past the current one wait for it, listed (not retired)
    adaptive = {"arms": ["none", "dropout"], "seeds": {"start": 2, "step": 2, "max": 4}}
    assert "adding seeds up to 4" in enqueue(adaptive)   # undecided after the first look: its round enqueues seeds 2-3
    assert "retired" not in enqueue(adaptive)
    assert len(ostudy.get_trials(states=(TrialState.WAITING,))) == 4


def test_an_ablation_after_an_enqueue_at_another_strength_trains_only_the_files_cells(workdir, env, monkeypatch, capsys):
    """A single-process `ablation` enqueues too: cells an `enqueue` left waiting at l2 = 1e-3 are retired
    when the file says 1e-2, and the ablation trains the file's cells alone."""
    from pipeline.cli import main

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    study = tiny_study_dict(name="single", seeds=1, epochs=1, arms=["none", "l2"], datasets=[{"name": "wine"}])
    write_study(workdir / "s.yaml", study)
    assert main(["enqueue", "--study", "s.yaml", "--storage", "journal:optuna.journal"]) == 0
    write_study(workdir / "s.yaml", {**study, "strengths": {**study["strengths"], "l2": 1e-2}})
    capsys.readouterr()
    assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "[wine] 1 waiting cell at points the study file no longer lists is retired: l2 at l2=0.001\n" in out, out
    assert "[wine] trained 2, failed 0" in out, out
    assert set(_trial_names(MlflowClient(env["MLFLOW_TRACKING_URI"]), "single")) == {"wine/none/seed0", "wine/l2@l2=0.01/seed0"}


def test_a_seeds_view_retires_waiting_cells_at_its_own_seeds_only(workdir, env, monkeypatch, capsys):
    """The file's 3 seeds were enqueued for its workers; `enqueue --seeds 1` (a view: seed 0) retired the
    waiting cells of seeds 1 and 2, which the file still lists. A view now leaves the file's other seeds
    waiting; at its own seeds it retires a changed strength's cells, and the file's enqueue the rest."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    study = tiny_study_dict(name="view", seeds=3, epochs=1, arms=["none", "l2"], datasets=[{"name": "wine"}])

    def enqueue(changes: dict, *view: str) -> tuple[str, list]:
        return _enqueue_on_journal(workdir, capsys, {**study, **changes}, *view)

    enqueue({})
    out, waiting = enqueue({}, "--seeds", "1")
    assert "retired" not in out and len(waiting) == 6, (out, waiting)
    out, waiting = enqueue({"strengths": {**study["strengths"], "l2": 1e-2}}, "--seeds", "1")
    assert "[wine] 1 waiting cell at points the study file no longer lists is retired: l2 at l2=0.001\n" in out, out
    assert waiting == [("l2", 0, "l2=0.01"), ("l2", 1, "l2=0.001"), ("l2", 2, "l2=0.001"),
                       ("none", 0, ""), ("none", 1, ""), ("none", 2, "")]
    out, waiting = enqueue({"strengths": {**study["strengths"], "l2": 1e-2}})
    assert "[wine] 2 waiting cells at points the study file no longer lists are retired: l2 at l2=0.001\n" in out, out
    assert waiting == sorted([(arm, seed, v) for seed in range(3) for arm, v in (("none", ""), ("l2", "l2=0.01"))])


def test_the_files_enqueue_leaves_waiting_the_cells_a_seeds_view_added_past_its_seeds(workdir, env, monkeypatch, capsys):
    """`enqueue --seeds 4` on a file of 2 seeds enqueued seeds 2 and 3 for the view's workers; the file's
    own enqueue (a status check) then retired them as seeds "the study file no longer lists", which it
    never listed. It now leaves them waiting; a seed the file itself took out is still retired."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    study = tiny_study_dict(name="wider", seeds=2, epochs=1, arms=["none", "l2"], datasets=[{"name": "wine"}])

    def enqueue(changes: dict, *view: str) -> tuple[str, list]:
        return _enqueue_on_journal(workdir, capsys, {**study, **changes}, *view)

    enqueue({}, "--seeds", "4")
    out, waiting = enqueue({})
    assert "retired" not in out and len(waiting) == 8, (out, waiting)
    out, waiting = enqueue({"seeds": 1})   # the file's own seed 1 taken out: the view's seeds stay
    assert "[wine] 2 waiting cells at seeds the study file no longer lists are retired: seed 1\n" in out, out
    assert waiting == sorted((arm, seed, v) for seed in (0, 2, 3) for arm, v in (("none", ""), ("l2", "l2=0.001")))


def test_the_files_enqueue_on_a_study_prepared_before_its_seed_list_was_kept_retires_a_seed_taken_out(workdir, env, monkeypatch,
                                                                                                       capsys):
    """A study prepared before rt.STUDY_FILE_SEED_LIST was kept, its file then cut from 3 seeds to 2: the
    enqueue retired at the file's current seeds alone, so seed 2's cells waited for ever (the file's
    workers pop any waiting cell) and were never retired after (the list then said 2). It reads the
    file's count at its last prepare (rt.STUDY_FILE_SEEDS, never a view's) instead."""
    from pipeline import runtree as rt

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    study = tiny_study_dict(name="older", seeds=3, epochs=1, arms=["none", "l2"], datasets=[{"name": "wine"}])
    _enqueue_on_journal(workdir, capsys, study)
    loaded = load_study(workdir / "s.yaml")
    ostudy = optuna.load_study(study_name=optuna_study_name(loaded, loaded.plans[0]), storage=get_storage("journal:optuna.journal"))
    ostudy.set_user_attr(rt.STUDY_FILE_SEED_LIST, None)   # as a study prepared before it was kept reads
    out, waiting = _enqueue_on_journal(workdir, capsys, {**study, "seeds": 2})
    assert "[wine] 2 waiting cells at seeds the study file no longer lists are retired: seed 2\n" in out, out
    assert waiting == sorted((arm, seed, v) for seed in (0, 1) for arm, v in (("none", ""), ("l2", "l2=0.001")))


def _enqueue_on_journal(workdir: Path, capsys, study: dict, *view: str) -> tuple[str, list]:
    """`enqueue` of this study file (with a view's flags) on a journal: (its output, the waiting cells)."""
    from pipeline import grid
    from pipeline.cli import main

    write_study(workdir / "s.yaml", study)
    capsys.readouterr()
    assert main(["enqueue", "--study", "s.yaml", "--storage", "journal:optuna.journal", *view]) == 0
    loaded = load_study(workdir / "s.yaml")
    ostudy = optuna.load_study(study_name=optuna_study_name(loaded, loaded.plans[0]), storage=get_storage("journal:optuna.journal"))
    return capsys.readouterr().out, sorted(grid.cell_of(t) for t in ostudy.get_trials(states=(TrialState.WAITING,)))


def test_a_worker_does_not_retry_a_stopped_cell_of_a_strength_the_file_no_longer_lists(workdir, env, monkeypatch, capsys):
    """A worker of the earlier file stopped (SIGTERM) while it trained L2 at 1e-3; the file now says 1e-2.
    A worker re-enqueued every stopped cell it found, whatever the file said, and trained L2 at 1e-3
    again: it now retries only the cells of its grid (none's here), and L2 at 1e-2 trains as enqueued."""
    from pipeline import grid, lifecycle
    from pipeline.cli import main

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    flags = ["--study", "s.yaml", "--storage", "journal:optuna.journal"]
    study = tiny_study_dict(name="stale", seeds=1, epochs=1, arms=["none", "l2"], datasets=[{"name": "wine"}])
    write_study(workdir / "s.yaml", study)
    assert main(["enqueue", *flags]) == 0
    loaded = load_study(workdir / "s.yaml")
    ostudy = optuna.load_study(study_name=optuna_study_name(loaded, loaded.plans[0]),
                               storage=get_storage("journal:optuna.journal"))
    stopped = lifecycle.Outcome.INTERRUPTED
    for trial, *_ in grid.pop_cells(ostudy, 2):   # both cells, as a worker of that file that a SIGTERM stopped
        grid.set_attrs(ostudy, trial._trial_id, {"worker": "elsewhere:1:x", "outcome": stopped.name, "fail_reason": stopped.reason})
        ostudy.tell(trial, state=TrialState.FAIL)
    write_study(workdir / "s.yaml", {**study, "strengths": {**study["strengths"], "l2": 1e-2}})
    assert main(["enqueue", *flags]) == 0
    capsys.readouterr()
    assert main(["worker", *flags]) == 0
    out = capsys.readouterr().out
    assert set(_trial_names(MlflowClient(env["MLFLOW_TRACKING_URI"]), "stale")) == {"wine/none/seed0", "wine/l2@l2=0.01/seed0"}, out
    assert "enqueued again" not in out, out


def test_cells_failed_at_an_earlier_strength_are_not_the_grids(workdir, env, monkeypatch, capsys):
    """L2's cells diverged at l2 = 1000 (given up on), then l2 changed and its new cells trained: a rerun
    has nothing to train and says all 4 of the file's cells are done, not "4 of the 6 cells done, the
    other 2 failed" (grid.cells_done counted the earlier strength's cells, which no rerun enqueues)."""
    from pipeline.cli import main

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    study = tiny_study_dict(name="diverging", seeds=2, epochs=3, arms=["none", "l2"], max_retries=1,
                            strengths={"l2": 1000.0}, datasets=[{"name": "wine"}])
    write_study(workdir / "s.yaml", study)
    assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    assert "[wine] trained 2, failed 2" in capsys.readouterr().out   # L2 at 1000 diverges on both seeds
    write_study(workdir / "s.yaml", {**study, "strengths": {"l2": 1e-3}})
    assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "[wine] trained 2, failed 0; 4 of the 4 cells enqueued so far are done" in out, out
    assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "[wine] nothing to train: all 4 cells were done already" in out and "the other" not in out, out


def test_a_cell_failed_at_a_seed_taken_out_is_not_the_grids(workdir, env, monkeypatch, capsys):
    """L2 diverged at seed 2 (given up on); the file then runs 2 seeds, both done: a rerun said "nothing to
    train: 4 of the 5 cells done, the other 1 failed" (the counts filtered the file's points, not its seeds)."""
    from pipeline import grid, lifecycle
    from pipeline.cli import main

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    study = tiny_study_dict(name="fewer", seeds=3, epochs=1, arms=["none", "l2"], datasets=[{"name": "wine"}])
    write_study(workdir / "s.yaml", study)
    assert main(["enqueue", "--study", "s.yaml", "--storage", "journal:optuna.journal"]) == 0   # ablation's default
    loaded = load_study(workdir / "s.yaml")
    ostudy = optuna.load_study(study_name=optuna_study_name(loaded, loaded.plans[0]),
                               storage=get_storage("journal:optuna.journal"))
    for trial, *_ in grid.pop_cells(ostudy, 6):   # L2 at seed 2 diverges; the others are stopped (trained on the rerun)
        outcome = lifecycle.Outcome.DIVERGED if grid.cell_of(trial)[:2] == ("l2", 2) else lifecycle.Outcome.INTERRUPTED
        grid.set_attrs(ostudy, trial._trial_id, {"worker": "elsewhere:1:x", "outcome": outcome.name, "fail_reason": outcome.reason})
        ostudy.tell(trial, state=TrialState.FAIL)
    assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    assert "[wine] trained 5, failed 0; 5 of the 6 cells enqueued so far are done" in capsys.readouterr().out
    write_study(workdir / "s.yaml", {**study, "seeds": 2})
    assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "[wine] nothing to train: all 4 cells were done already" in out and "the other" not in out, out


def test_a_study_run_while_strengths_were_its_identity_resumes_there(workdir, env, monkeypatch, capsys):
    """A study run before identity.CELL_STRENGTHS (its stores hold the identity with the strengths,
    its arms' cells named "": simulated by building its plans as they were then) resumes there with
    the same file: nothing trains again. Its strengths changed, it moves to the new identity once:
    every arm trains, and the console says why and that it is the last time."""
    from dataclasses import replace

    from pipeline import study as study_mod
    from pipeline.cli import main
    from pipeline.results import study_results

    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    study = tiny_study_dict(name="before", seeds=2, epochs=2, arms=["none", "dropout", "l2"], datasets=[{"name": "wine"}])
    write_study(workdir / "s.yaml", study)
    hashed = study_mod._hashed_plan
    with monkeypatch.context() as then:
        then.setattr(study_mod, "_hashed_plan", lambda *a, **k: replace(
            plan := hashed(*a, **k), config_hash=plan.strengths_hash, own_points=False))
        assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    first = _trial_names(client, "before")
    assert set(first) == {f"wine/{arm}/seed{seed}" for arm in ("none", "dropout", "l2") for seed in (0, 1)}
    old = load_study(workdir / "s.yaml").plans[0].strengths_hash
    assert {r.data.tags["config_hash"] for r in first.values()} == {old}
    capsys.readouterr()
    assert main(["ablation", "--study", "s.yaml", "--no-pdf"]) == 0   # the same file, this code: resumed, the report too
    out, err = capsys.readouterr()
    assert "[wine] nothing to train" in out and f"config {old}" in out and "differ from the storage's" not in err, out + err
    assert set(_trial_names(client, "before")) == set(first) and "under other settings" not in out + err
    html = (workdir / "reports/before/report.html").read_text()
    assert "which the study file does not list" not in html and "L2" in html
    # its strengths changed: the new identity, every arm once, said
    write_study(workdir / "s.yaml", {**study, "strengths": {**study["strengths"], "l2": 1e-2}})
    capsys.readouterr()
    assert main(["ablation", "--study", "s.yaml", "--no-report"]) == 0
    out, err = capsys.readouterr()
    assert "[wine] trained 6" in out, out
    assert f"{old} differs in training.strengths.l2 0.001 there, 0.01 here; only regularizer strengths differ, and " \
        "that configuration was started when strengths were part of a study's identity: this one trains every arm " \
        "once, and from now on a changed strength trains only the arms that use it again (the others' cells are " \
        "kept)" in err, err
    [d] = study_results(load_study(workdir / "s.yaml"))
    assert d.selected == {"none": "", "dropout": "dropout=0.3", "l2": "l2=0.01"}


@pytest.mark.slow
def test_dashboard_serves_the_study_from_its_journal(workdir, env):
    """`python -m pipeline dashboard` (make dashboard) starts optuna-dashboard on the default
    journal file; its API lists the study's Optuna studies."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    write_study(workdir / "d.yaml", tiny_study_dict(name="dash", seeds=1, arms=["none", "l2"], datasets=[{"name": "wine"}]))
    assert run_cli(["ablation", "--study", "d.yaml", "--no-report"], cwd=workdir, env=env).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "dashboard", "--port", str(port)], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, studies = time.time() + 60, None
        while time.time() < deadline and studies is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    studies = json.loads(r.read())["study_summaries"]
            except OSError:
                time.sleep(0.5)
        assert studies is not None, "optuna-dashboard did not answer"
        names = {s["study_name"] for s in studies}
        assert any(n.startswith("dash.wine.") for n in names), names
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with pytest.raises(OSError):   # stopping the command stopped the dashboard (no orphan still serving)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5)


@pytest.mark.slow
@pytest.mark.parametrize("name,expect", [("tuned", "tuned L2"), ("train_sizes", "[digits@600]"),
                                         ("paths", "L2 path: ")])
def test_the_example_studies_run(workdir, env, name, expect):
    """Every documented feature has a runnable example in studies/; each runs here, shortened."""
    shutil.copytree(ROOT / "studies", workdir / "studies")
    proc = run_cli(["ablation", "--study", f"studies/{name}.yaml", "--seeds", "2", "--epochs", "2", "--no-report"],
                   cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert expect in proc.stdout and "Verdicts (each arm vs none" in proc.stdout


@pytest.mark.slow
def test_the_d2l_weight_decay_chapter_as_shipped(workdir, env):
    """studies/highdim.yaml: d2l's linear regression on 200 features from 20 rows. Unregularized,
    the model fits its training rows and does worse than predicting the mean; weight decay
    (lambda 3) closes most of the train-test gap, and the console says both."""
    import re

    shutil.copytree(ROOT / "studies", workdir / "studies")
    proc = run_cli(["ablation", "--study", "studies/highdim.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[synthetic_highdim] rows: train 20, val 5, test 100" in proc.stdout
    assert "synthetic_highdim: L2 is better than none" in proc.stdout
    assert "WARNING: none scored worse than always predicting the training mean" in proc.stdout
    closed = re.search(r"L2 closes (\d+)% \[(\d+)%, (\d+)%\] of the train-test gap that none leaves open", proc.stdout)
    assert closed and int(closed.group(2)) > 80, proc.stdout[-3000:]


@pytest.mark.slow
def test_the_weight_decay_tutorial_in_the_reports_words(workdir, env):
    """studies/synthetic.yaml as shipped: none overfits, and the gap verdict says how much of the
    train-test gap weight decay closes (with a CI), on the console and on the dataset's parent."""
    import re

    shutil.copytree(ROOT / "studies", workdir / "studies")
    proc = run_cli(["ablation", "--study", "studies/synthetic.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    said = re.search(r"L2: better, .*train-test gap narrower by .*L2 closes (\d+)% \[(\d+)%, (\d+)%\] of the "
                     r"train-test gap that none leaves open \(gap ([\d.]+) with none, ([\d.]+) with L2\)", proc.stdout)
    assert said, proc.stdout[-3000:]
    share, low, high = (int(x) for x in said.groups()[:3])
    assert 0 < low <= share <= high < 100 and float(said.group(4)) > 2 * float(said.group(5))
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    [parent] = client.search_runs([client.get_experiment_by_name("synthetic-tutorial").experiment_id], "tags.kind = 'dataset'")
    record = json.loads(open(mlflow.artifacts.download_artifacts(run_id=parent.info.run_id, artifact_path="verdicts.json",
                                                                 tracking_uri=env["MLFLOW_TRACKING_URI"])).read())
    assert round(100 * record["gap_closed"]["l2"]["share_closed"]) == share and not record["gap_closed"]["l2"]["fully"]
    assert parent.data.tags["verdict.l2.gap_metric"] == "narrower"


@pytest.mark.slow
def test_a_leaky_column_is_named_beside_the_verdicts(workdir, env):
    """A table whose 'score' separates the classes on its own (near 10 for one class, near 0 for
    the other): the reading warns about it, and the console's and the report's "In short" say
    first that the verdicts are about a model that reads the answer from it."""
    import numpy as np

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200) + 0.3 * y,
                  "score": np.round(10 * y + rng.uniform(0, 2, 200), 2), "y": y}).to_csv(workdir / "leaky.csv", index=False)
    write_study(workdir / "s.yaml", {"name": "leaky", "arms": ["none", "l2"], "seeds": 3, "epochs": 3,
                                     "model": {"hidden": [8]},
                                     "datasets": [{"name": "csv", "label": "clinic", "path": "leaky.csv", "target": "y"}]})
    proc = run_cli(["ablation", "--study", "s.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Column 'score' alone separates the target's classes (one range of values for each class: " in proc.stdout
    said = ("On clinic, column 'score' may give the target away (see the data warnings); if so, what follows compares "
            "regularizers on a model that can read the answer: drop it (preprocess.drop_columns) for an answer about "
            "the task itself.")
    perfect = ("On clinic, every arm was perfect on every seed, so nothing tells them apart: column 'score' gives the "
               "target away (see the data warnings).")
    short = proc.stdout.split("In short")[1]
    assert said in short or perfect in short, short
    html = next((workdir / "reports/leaky").rglob("report.html")).read_text()
    assert (said if said in short else perfect).replace("'", "&#39;") in html


def test_the_end_of_a_study_gives_the_command_that_opens_its_store_in_the_ui(workdir, env):
    """`ablation` and `report` end with the command that serves the MLflow UI their links open,
    for the store used (a relative SQLite path made absolute, so the command works from any
    directory) and with this environment's own mlflow (a venv's is not on a fresh shell's PATH);
    `make ui` beside it only where a Makefile's ui target would open that same store. None where
    the links open a server of their own ($PIPELINE_UI_URL). `report` printed no command before."""
    import sys

    write_study(workdir / "s.yaml", tiny_study_dict(datasets=[{"name": "wine"}], arms=["none", "l2"], seeds=2, epochs=2))
    import shlex

    from pipeline.ui_links import ui_command

    spaced = "sqlite:////tmp/my stüdies/mlflow.db"   # pasted into a shell: one argument (an odd-environments audit)
    assert shlex.split(ui_command(spaced))[:4] == ["mlflow", "ui", "--backend-store-uri", spaced]
    mlflow = Path(sys.executable).parent / "mlflow"
    store = f"sqlite:///{workdir / 'rel.db'}"
    command = f"{mlflow} ui --backend-store-uri {store} --host 127.0.0.1 --workers 1"
    proc = run_cli(["ablation", "--study", "s.yaml", "--no-report", "--tracking-uri", "sqlite:///rel.db"],
                   cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"\nBrowse the runs: {command}, then http://127.0.0.1:5000/#/experiments/" in proc.stdout, proc.stdout[-1500:]
    assert mlflow.is_file() and MlflowClient(store).get_experiment_by_name("tiny") is not None   # the store it names

    (workdir / "Makefile").write_text("ui:\n\tmlflow ui\n")   # a checkout's: `make ui` opens $MLFLOW_TRACKING_URI
    # before `make setup`, `make ui` would build a venv first (minutes, gigabytes): not offered
    (workdir / ".venv").mkdir()
    elsewhere = command.replace(" --workers", " --port 5077 --workers")   # `make ablation PORT=5077`'s links
    for extra, said in (({}, f"to open these links, serve the MLflow UI: {command}\n"),
                        ({}, f"to open these links, serve the MLflow UI: {command} (or: make ui)\n"),
                        ({"PIPELINE_UI_URL": "http://127.0.0.1:5077"},
                         f"to open these links, serve the MLflow UI: {elsewhere} (or: make ui PORT=5077)\n"),
                        ({"PIPELINE_UI_URL": "http://mlflow.example:5000"}, None)):
        if "make ui" in (said or ""):
            (workdir / ".venv/.installed").touch()
        report = run_cli(["report", "--study", "s.yaml", "--no-pdf"], cwd=workdir,
                         env={**env, "MLFLOW_TRACKING_URI": "sqlite:///rel.db", **extra})
        assert report.returncode == 0, report.stderr[-2000:]
        assert said in report.stdout if said else "serve the MLflow UI" not in report.stdout, report.stdout[-1500:]
    # under `mlflow run <path>` MLflow set $MLFLOW_TRACKING_URI (its caller's store), which the user's
    # shell lacks: `make ui` would open this folder's mlflow.db, not that store (a packaging audit)
    project = MlflowClient(store).create_run("0").info.run_id
    under = run_cli(["report", "--study", "s.yaml", "--no-pdf"], cwd=workdir,
                    env={**env, "MLFLOW_TRACKING_URI": "sqlite:///rel.db", "MLFLOW_RUN_ID": project})
    assert under.returncode == 0 and f"serve the MLflow UI: {command}\n" in under.stdout, under.stdout[-1500:]


def test_path_points_changes_are_judged_on_the_arms_with_a_path_then_and_now(tmp_path):
    """An arm (and its path) added to a study is judged as if it had been there from the start, so it is
    no change of the other arms' points; a dropout_l2 point is said whole; a large grid's tag keeps a
    digest within MLflow's tag length (a review of the day's diff)."""
    from types import SimpleNamespace

    from pipeline import runtree as rt
    from pipeline.tracking_reads import points_setting, points_since_verdicts

    def study(strengths=None, **paths):
        return load_study(write_study(tmp_path / "p.yaml", tiny_study_dict(
            name="pts", arms=["none", "l2", "dropout", "dropout_l2"], datasets=[{"name": "wine"}], paths=paths,
            **({"strengths": strengths} if strengths else {}))))

    before = study(l2=[1e-5, 1e-3])
    parents = [SimpleNamespace(run_id="p", start_time=1, tags={
        rt.DATASET_LABEL: "wine", rt.CONFIG_HASH: before.plans[0].config_hash, rt.PATH_POINTS: points_setting(before, "wine")})]
    assert points_since_verdicts(study(l2=[1e-5, 1e-3], dropout=[0.1, 0.3]), "wine", parents) == []
    combined = study(l2=[1e-5], dropout_l2={"dropout": [0.1], "l2": [1e-3, 1e-2]})
    assert [c.words for c in points_since_verdicts(combined, "wine", parents)] == \
        ["the path points (L2 1e-05, 0.001 -> L2 1e-05)"]
    # a path's points and an arm's own strength changed at once: both said
    both = study({"dropout": 0.5}, l2=[1e-5])
    assert [c.words for c in points_since_verdicts(both, "wine", parents)] == \
        ["the path points (L2 1e-05, 0.001 -> L2 1e-05)", "the strengths (dropout 0.3; dropout+L2 dropout=0.3,l2=0.001 -> "
         "dropout 0.5; dropout+L2 dropout=0.5,l2=0.001)"]
    parents[0].tags[rt.PATH_POINTS] = points_setting(combined, "wine")
    [changed] = points_since_verdicts(study(l2=[1e-5], dropout_l2={"dropout": [0.1], "l2": [1e-3]}), "wine", parents)
    assert changed.was == "dropout+L2 dropout=0.1,l2=0.001, dropout=0.1,l2=0.01; L2 1e-05"
    big = study(l2=[round(1e-6 * 1.01 ** k, 12) for k in range(400)])
    assert len(points_setting(big, "wine")) < 200 and json.loads(points_setting(big, "wine"))["l2"][0].startswith("#400:")
