"""Tuning through the population engine (issue 14): trials asked from Optuna in rounds and trained
together, pruned per trial, with every arm's budget exact, also across a crash; the chosen
strengths depend on the study file alone, not on population_size or the engine."""

import re
from pathlib import Path

import optuna
import pytest
import torch
from mlflow import MlflowClient
from optuna.trial import TrialState

from pipeline import arms, grid
from pipeline.datasets import load
from pipeline.population import train_population
from pipeline.study import DatasetSpec, load_study
from pipeline.train import train
from pipeline.storage import get_storage
from pipeline.trainer_common import TrialConfig
from pipeline.tuning import chosen_text

from .conftest import run_cli, tiny_study_dict, write_study

TUNED_ARMS = ("l2", "dropout")


def tuned_study(name: str, **overrides) -> dict:
    """3 arms (2 tuned), one dataset; tune: 14 trials per arm, in a first round of TPE's 10
    random start-up trials and a second of 4 that TPE's model proposes (tune.batch 6)."""
    return tiny_study_dict(name=name, arms=["none", *TUNED_ARMS], seeds=2, epochs=4,
                           datasets=[{"name": "digits", "train_size": 120}],
                           tune={"trials": 14, "batch": 6, "seeds": [100, 101], "sampler_seed": 3}, **overrides)


def tuning_trials(workdir: Path, spec: dict) -> dict[str, list]:
    """Per tuned arm, its tuning study's trials (the study file written to workdir/s.yaml)."""
    study = load_study(workdir / "s.yaml")
    plan = study.plans[0]
    storage = get_storage(f"journal:{workdir / 'optuna.journal'}")
    base = grid.study_name(study.name, plan.label, plan.config_hash)
    return {arm: optuna.load_study(study_name=f"{base}.tune.{arm}", storage=storage).trials for arm in TUNED_ARMS}


def chosen(workdir: Path) -> dict:
    study = load_study(workdir / "s.yaml")
    plan = study.plans[0]
    storage = get_storage(f"journal:{workdir / 'optuna.journal'}")
    return optuna.load_study(study_name=grid.study_name(study.name, plan.label, plan.config_hash),
                             storage=storage).user_attrs["tuned"]


def spending(trials) -> list:
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and t.user_attrs.get("outcome") in ("DIVERGED", "ERROR"))]


def run_tuning(workdir: Path, env: dict, spec: dict, **kw):
    write_study(workdir / "s.yaml", spec)
    return run_cli(["ablation", "--study", "s.yaml", "--no-report"], cwd=workdir, env={**env, **kw})


@pytest.mark.slow
def test_batched_tuning_spends_each_budget_exactly_and_resumes_after_a_crash(workdir, env):
    """The process is SIGKILLed while it records the first round (after MLflow, at the third
    Optuna tell, before the round's Optuna writes land together in the journal); the next run
    reaps the dead trials (they spend nothing), asks only what each budget has left, and every
    arm ends with exactly tune.trials trials that spent it. Every trial has a tuning_trial run;
    pruned ones are KILLED."""
    spec = tuned_study("crash")
    proc = run_tuning(workdir, env, spec, PIPELINE_FAILPOINT="optuna_tell:3")
    assert proc.returncode != 0
    before = tuning_trials(workdir, spec)
    assert sum(len(spending(t)) for t in before.values()) == 0   # one append for the round: none got through
    assert sum(t.state == TrialState.RUNNING for ts in before.values() for t in ts) == 20   # all of round one
    # as if the killed process had run on another host (a Job's next pod): this host cannot tell it died,
    # and its trials and its tuning parent stayed RUNNING for good (a distributed review); tuning runs under
    # the enqueue lock, so the rerun that holds it ends them
    study, storage = load_study(workdir / "s.yaml"), get_storage(f"journal:{workdir / 'optuna.journal'}")
    base = grid.study_name(study.name, study.plans[0].label, study.plans[0].config_hash)
    for arm in TUNED_ARMS:
        ostudy = optuna.load_study(study_name=f"{base}.tune.{arm}", storage=storage)
        for t in ostudy.get_trials(states=(TrialState.RUNNING,)):
            grid.set_attrs(ostudy, t._trial_id, {"worker": "another-host:12:abcd"})
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    everywhere = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(everywhere, "tags.kind = 'tuning' AND attributes.status = 'RUNNING'")

    proc = run_tuning(workdir, env, spec)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # said, as the grid's resuming is (a distributed-tuning audit: the rerun's progress started midway, unexplained)
    assert ("[digits] tuning resumes: 0 of the 28 trials were done; 20 trials an earlier run stopped or left behind "
            "(20 of a process that died, ended just now) are asked again, spending none of the budget") in proc.stdout, \
        proc.stdout[-2000:]
    after = tuning_trials(workdir, spec)
    assert not client.search_runs(everywhere, "tags.kind = 'tuning' AND attributes.status = 'RUNNING'")
    runs = {r.info.run_id: r for r in client.search_runs([e.experiment_id for e in client.search_experiments()],
                                                         "tags.kind = 'tuning_trial'", max_results=1000)}
    parents = client.search_runs([e.experiment_id for e in client.search_experiments()], "tags.kind = 'tuning'")
    # listed after the dataset parents, at the dataset's place in the file (here the first)
    assert parents and {p.data.tags["ui_order"] for p in parents} == {"2.000000"}
    pruned = 0
    for arm, trials in after.items():
        assert len(spending(trials)) == 14, arm
        died = [t for t in trials if t.state == TrialState.FAIL]
        assert len(died) >= 1 and all(t.user_attrs["outcome"] == "WORKER_DIED" for t in died)
        assert len(trials) == 14 + len(died)   # nothing asked beyond the budget
        for t in spending(trials):
            run = runs[t.user_attrs["mlflow_run_id"]]
            assert run.data.tags["regularizer"] == arm
            if t.state == TrialState.PRUNED:
                pruned += 1
                assert run.info.status == "KILLED" and run.data.tags["fail_reason"] == "pruned"
            else:
                assert run.info.status == "FINISHED"
                assert run.data.metrics["tune_objective"] == pytest.approx(t.value)
        best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
        assert chosen(workdir)[arm] == best.params
    assert pruned >= 1

    # Run again: nothing is tuned or trained, and the console still says which strengths the grid used.
    proc = run_tuning(workdir, env, spec)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if "chosen earlier" in line]
    assert len(lines) == len(after), proc.stdout[-3000:]
    for arm, params in chosen(workdir).items():
        # as the report writes them ("dropout=0.681/0.254", not {'dropout_0': 0.681, 'dropout_1': 0.254})
        assert any(arms.label(arm) in line and f" {chosen_text(params)} val=" in line for line in lines), (arm, lines)
    assert {a: [(t.number, t.state) for t in ts] for a, ts in tuning_trials(workdir, spec).items()} == \
        {a: [(t.number, t.state) for t in ts] for a, ts in after.items()}   # nothing asked
    # the report's tuning table: the budget's 14 trials an arm, the dead process's apart (their runs were
    # closed "worker died (killed or crashed)", which counted as trials and failures)
    report = run_cli(["report", "--study", "s.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (workdir / "reports/crash/report.html").read_text()
    table = html[html.index('<th scope="col">tied at the best</th>'):]
    for arm, trials in after.items():
        died = sum(t.state == TrialState.FAIL for t in trials)
        assert re.search(rf'<td class="l">{arms.label(arm)}</td><td>14<br><span class="muted">and {died} stopped '
                         r'\(interrupted, or their worker died\)[^<]*</span></td><td>\d+</td><td>\d+</td><td>0</td>', table), table[:3000]


def test_a_tuning_interrupted_in_its_third_round_chooses_as_an_uninterrupted_one(tmp_path, env):
    """A run killed while it records its third round (rounds of 10, 2, 2, 2 trials an arm; the
    first two recorded) and run again asks what an uninterrupted run asks: the same strengths,
    trial for trial, and the same choice. One TPE sampler for the whole tuning kept its random
    stream in memory (TPE's own draws from the second round on), and the resumed process restarted
    it from the seed: other strengths (tune.batch 1 even repeated the start-up draws)."""
    runs = {}
    for name, failpoint in (("whole", None), ("resumed", "optuna_tell:26")):   # 20 + 4 tells in rounds one and two
        workdir = tmp_path / name
        workdir.mkdir()
        spec, here = tuned_study("resume"), {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
        spec["tune"] = {**spec["tune"], "batch": 2}
        if failpoint:
            assert run_tuning(workdir, {**here, "PIPELINE_FAILPOINT": failpoint}, spec).returncode != 0
            cut = tuning_trials(workdir, spec)
            assert all(len(spending(t)) == 12 for t in cut.values()), cut   # rounds one and two recorded
        assert run_tuning(workdir, here, spec).returncode == 0
        runs[name] = ({arm: [t.params for t in spending(ts)] for arm, ts in tuning_trials(workdir, spec).items()},
                      chosen(workdir))
    assert runs["resumed"] == runs["whole"]


@pytest.mark.slow
def test_ctrl_c_while_tuning_ends_every_run_and_its_trials_cost_no_budget(workdir, env):
    """Ctrl-C in the middle of a tuning round (a tuning/adaptive audit): the root run and the
    dataset's tuning parent stayed RUNNING (the tuning parent for good: the rerun opened another),
    and the report's tuning table counted the stopped trials as trials and failures ("16 trials,
    8 failed" of a budget of 8 that all finished)."""
    import signal
    import subprocess

    from .conftest import pipeline_command, stopped_itself

    spec = tuned_study("stopped")
    write_study(workdir / "s.yaml", spec)
    proc = subprocess.Popen([*pipeline_command(), "ablation", "--study", "s.yaml", "--no-report"], cwd=workdir,
                            env={**env, "PIPELINE_FAILPOINT": "train_round:1:stop"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stopped_itself(proc, timeout=240)   # round one's runs are open
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert ("interrupted: 20 tuning trials stopped in training; asked again on the next run (they spend none of the "
            "budget)") in out, out[-2000:]   # not "20 cells": the grid's
    assert chosen_text({"dropout_0": 0.68123, "dropout_1": 0.254, "l2": 0.0811}) == "dropout=0.681/0.254; l2=0.0811"
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("stopped").experiment_id

    def status(kind: str) -> list[str]:
        return sorted(r.info.status for r in client.search_runs([exp], f"tags.kind = '{kind}'", max_results=1000))

    assert status("root") == ["KILLED"] and status("tuning") == ["KILLED"], (status("root"), status("tuning"))
    assert "RUNNING" not in status("tuning_trial")
    again = run_cli(["ablation", "--study", "s.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    # stopped in the first round, none spent: the rerun still says it resumes (a re-verification)
    assert ("[digits] tuning resumes: 0 of the 28 trials were done; 20 trials an earlier run stopped or left behind are "
            "asked again, spending none of the budget") in again.stdout, again.stdout[-2000:]
    assert status("root") == ["FINISHED", "KILLED"] and status("tuning") == ["FINISHED", "KILLED"]
    # the tuning parent records the budget, the search and each arm's choice (it recorded nothing)
    [parent] = client.search_runs([exp], "tags.kind = 'tuning' AND attributes.status = 'FINISHED'")
    assert {k: parent.data.params[k] for k in ("trials_per_arm", "batch", "tuning_seeds", "range_l2")} == {
        "trials_per_arm": "14", "batch": "6", "tuning_seeds": "100, 101", "range_l2": "1e-05 to 0.1"}
    trials = tuning_trials(workdir, spec)
    html = (workdir / "reports/stopped/report.html").read_text()
    assert ("tuned with Optuna (TPE: its first 10 trials per arm at random, the other 4 proposed by its model, 6 at "
            "a time per arm; median pruning) on the validation set") in html
    tuning = html[html.index('<th scope="col">tied at the best</th>'):]
    for arm in TUNED_ARMS:
        # round one's runs, ended KILLED "interrupted" (their trials spent nothing and were asked again)
        stopped = len(client.search_runs([exp], f"tags.kind = 'tuning_trial' AND tags.regularizer = '{arm}' AND "
                                                "tags.fail_reason = 'interrupted'", max_results=1000))
        assert stopped >= 1 and len(spending(trials[arm])) == 14
        cells = re.search(rf'<td class="l">{arms.label(arm)}</td><td>(\d+)(?:<br><span class="muted">and (\d+) '
                          rf'stopped[^<]*</span>)?</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>', tuning)
        assert cells, tuning[:2000]
        assert [int(x) for x in cells.groups()] == [14, stopped, 14 - int(cells.group(4)), int(cells.group(4)), 0]
        # the best validation value in tuning (picked as the best) beside the grid's seeds' mean at the chosen strengths
        best = max(t.value for t in trials[arm] if t.state == TrialState.COMPLETE)
        assert parent.data.params[f"chosen.{arm}"] == chosen_text(chosen(workdir)[arm])
        assert parent.data.metrics[f"best_val.{arm}"] == pytest.approx(best)
        assert f"- {arms.label(arm)}: {chosen_text(chosen(workdir)[arm])} (best validation value {best:.4f})" in \
            parent.data.tags["mlflow.note.content"]
        grid_val = [r.data.metrics["final_val_metric"] for r in client.search_runs(
            [exp], f"tags.kind = 'trial' AND tags.regularizer = '{arm}'")]
        row = tuning[tuning.index(f'<td class="l">{arms.label(arm)}</td>'):]
        assert re.search(r'<td class="nw">(\d\.\d{4}) → (\d\.\d{4})</td></tr>', row[:row.index("</tr>") + 5]).groups() == (
            f"{best:.4f}", f"{sum(grid_val) / len(grid_val):.4f}")


def test_ctrl_c_while_tuning_the_second_dataset_leaves_no_run_running(workdir, env):
    """The first dataset tuned and its parent opened, Ctrl-C in the second's tuning: that parent
    stayed RUNNING (the interrupt came from preparing the study, before the training's own
    handling), beside a root and a tuning parent now closed."""
    import signal
    import subprocess

    from .conftest import pipeline_command, stopped_itself

    spec = tiny_study_dict(name="second", arms=["none", "l2"], seeds=2, epochs=2,
                           datasets=[{"name": "wine"}, {"name": "digits", "train_size": 120}],
                           tune={"trials": 2, "seeds": [100]})
    write_study(workdir / "s.yaml", spec)
    proc = subprocess.Popen([*pipeline_command(), "ablation", "--study", "s.yaml", "--no-report"], cwd=workdir,
                            env={**env, "PIPELINE_FAILPOINT": "train_round:2:stop"},   # digits' first round
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stopped_itself(proc, timeout=240)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("second").experiment_id], max_results=1000)
    ended = {(r.data.tags["kind"], r.data.tags.get("dataset"), r.info.status) for r in runs if r.data.tags["kind"] != "tuning_trial"}
    assert ended == {("root", None, "KILLED"), ("tuning", "wine", "FINISHED"), ("dataset", "wine", "KILLED"),
                     ("tuning", "digits", "KILLED")}, ended
    assert all(r.info.status != "RUNNING" for r in runs)


def test_a_runs_ending_is_read_from_its_outcome_tag_or_its_reason():
    """The report's tuning table tells the trials that spent the budget from those stopped by their
    runs' tags: the outcome tag, or for runs from before it the reason's start (the reaper writes
    "worker died (killed or crashed)", an outage "store outage: ...", not the bare reason)."""
    from pipeline.lifecycle import Outcome

    assert Outcome.of_run("STORE_OUTAGE", "store outage: the MLflow store did not answer") is Outcome.STORE_OUTAGE
    assert Outcome.of_run("", "worker died (killed or crashed)") is Outcome.WORKER_DIED
    assert Outcome.of_run("", "store outage: optuna did not answer for 60 s") is Outcome.STORE_OUTAGE
    assert Outcome.of_run("", "a second run of this trial, whose own run is abc") is Outcome.DUPLICATE
    assert Outcome.of_run("", "pruned") is Outcome.PRUNED and Outcome.of_run("", "RuntimeError: boom") is Outcome.ERROR
    assert Outcome.of_run("", "") is None   # finished


def test_the_report_says_how_the_tuning_searched_at_its_budget():
    """"TPE, median pruning" was written of 8 trials an arm: all TPE's random start-up trials, in one
    round, with no complete trial for the pruner to compare with (a tuning/adaptive audit)."""
    from pipeline.study_schema import Tune
    from pipeline.tuning import method_words

    assert method_words(Tune(trials=8)) == (
        "random search: all 8 trials per arm are TPE's random start-up trials (its model proposes from the 11th); "
        "median pruning on, though it could stop no trial: it compares a trial with 3 complete ones, and every "
        "trial trained in one round")
    assert method_words(Tune(trials=20)) == ("TPE: its first 10 trials per arm at random, the other 10 proposed by "
                                             "its model, 4 at a time per arm; median pruning")
    assert method_words(Tune(trials=8, batch=1, prune=False)).endswith("; no pruning: tune.prune is off")
    assert method_words(Tune(trials=8, batch=1)).endswith("; median pruning")   # one at a time: it sees the earlier ones
    assert "it compares a trial with 3 complete ones, and every trial trained in one round" in method_words(
        Tune(trials=20, batch=32))   # a batch past the budget: one round too


def test_tuning_prunes_on_the_chosen_metric(workdir, env):
    """metric: log_loss (lower is better, unlike the default accuracy): what each tuning trial
    reports to the pruner per epoch is its run's val_log_loss series, and the study minimizes."""
    spec = tuned_study("logloss")
    spec["datasets"][0]["metric"] = "log_loss"
    spec["tune"] = {**spec["tune"], "trials": 6}
    proc = run_tuning(workdir, env, spec)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    for arm, trials in tuning_trials(workdir, spec).items():
        assert len(trials) == 6, arm
        for t in trials:
            series = client.get_metric_history(t.user_attrs["mlflow_run_id"], "val_log_loss")
            assert series and {m.step: m.value for m in series} == pytest.approx(t.intermediate_values), (arm, t.number)
    study = load_study(workdir / "s.yaml")
    ostudy = optuna.load_study(study_name=f"{grid.study_name(study.name, 'digits', study.plans[0].config_hash)}.tune.l2",
                               storage=get_storage(f"journal:{workdir / 'optuna.journal'}"))
    assert ostudy.direction == optuna.study.StudyDirection.MINIMIZE


@pytest.mark.slow
def test_tuning_chooses_the_same_strengths_whatever_the_population_size_or_engine(tmp_path, env):
    """Same study file and seed on CPU: the same trials (strengths asked, states, values) and the
    same chosen strengths with populations of 3, with auto (10), and with the reference trainer
    (whose float rounding differs by ~1e-7: values to one validation sample)."""
    outcomes = {}
    for name, execution in (("three", {"population_size": 3}), ("auto", {}), ("reference", {"engine": "reference"})):
        workdir = tmp_path / name
        workdir.mkdir()
        spec = tuned_study("same", execution=execution)
        proc = run_tuning(workdir, {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}, spec)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outcomes[name] = (tuning_trials(workdir, spec), chosen(workdir))
    (three, chosen_three), (auto, chosen_auto), (ref, chosen_ref) = outcomes["three"], outcomes["auto"], outcomes["reference"]
    # one trial at a time (tune.batch 1: the tuning before issue 14) proposes the same 10 random
    # start-up trials that the batched first round asks together
    one = tmp_path / "one"
    one.mkdir()
    spec = tuned_study("same", execution={"engine": "reference"})
    spec["tune"] = {**spec["tune"], "batch": 1}
    assert run_tuning(one, {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{one / 'mlflow.db'}"}, spec).returncode == 0
    sequential = tuning_trials(one, spec)
    for arm in TUNED_ARMS:
        assert [t.params for t in sequential[arm][:10]] == [t.params for t in three[arm][:10]]
        assert [t.params for t in sequential[arm][10:]] != [t.params for t in three[arm][10:]]
    assert chosen_three == chosen_auto == chosen_ref
    for arm in TUNED_ARMS:
        assert len(three[arm]) == 14
        assert [(t.params, t.state, t.value) for t in three[arm]] == [(t.params, t.state, t.value) for t in auto[arm]]
        assert [(t.params, t.state) for t in three[arm]] == [(t.params, t.state) for t in ref[arm]]
        n_val = load(DatasetSpec(name="digits", train_size=120), 0).sizes()["val"]
        for a, b in zip(three[arm], ref[arm]):
            assert (a.value is None and b.value is None) or a.value == pytest.approx(b.value, abs=1.0 / n_val + 1e-6)


def test_a_pruned_model_stops_and_the_others_are_untouched():
    """The population engine's per-epoch hook stops a model (pruning): it keeps the epochs it
    trained, and every other model's numbers are bit-identical to a run without the hook."""
    data = load(DatasetSpec(name="digits", train_size=150), 0)
    common = dict(hidden=(32, 16), optimizer="sgd", lr=0.05, momentum=0.9, epochs=5, batch_size=32)
    cfgs = [TrialConfig(arm="dropout", seed=0, dropout=(0.3, 0.2), **common),
            TrialConfig(arm="l2", seed=1, dropout=(0.0, 0.0), l2=1e-2, **common),
            TrialConfig(arm="none", seed=2, dropout=(0.0, 0.0), **common)]
    seen = []

    def prune_second_at_two(epoch, rows):
        seen.append((epoch, sorted(rows)))
        return [1] if epoch == 2 else []

    pruned = train_population(cfgs, data, on_epoch=prune_second_at_two)
    plain = train_population(cfgs, data)
    assert seen == [(1, [0, 1, 2]), (2, [0, 1, 2])] + [(e, [0, 2]) for e in (3, 4, 5)]
    assert pruned[1].epochs_run == 2 and len(pruned[1].history["val_loss"]) == 2
    assert pruned[1].history["val_loss"] == plain[1].history["val_loss"][:2]
    for j in (0, 2):
        assert pruned[j].history == plain[j].history and pruned[j].final == plain[j].final
    # the reference trainer reports the same rows through its on_epoch
    rows = []
    train(cfgs[1], data, on_epoch=lambda epoch, row: rows.append(row["val_metric"]))
    assert rows == pytest.approx(plain[1].history["val_metric"], abs=1.0 / data.sizes()["val"] + 1e-6)


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here (run on a GPU machine)")
def test_on_cuda_batched_tuning_end_to_end(workdir, env):
    """On CUDA (device: cuda, tf32 on): the batched tuning and the grid run end to end, every
    budget exact, and the grid's runs say cuda."""
    spec = tuned_study("cuda", execution={"device": "cuda"}, precision="tf32")
    proc = run_tuning(workdir, env, spec)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for arm, trials in tuning_trials(workdir, spec).items():
        assert len(spending(trials)) == 14 and len(trials) == 14, arm
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], "tags.kind = 'trial'")
    assert runs and all(r.data.params["device"] == "cuda" and r.data.params["precision"] == "tf32" for r in runs)


def test_a_resumed_tuning_estimates_its_time_from_this_calls_trials(capsys):
    """A rerun that found 8 of 20 trials done printed "10/20 done, 0 s, about 0 s left" after its
    first two (the eight counted as this call's work): the estimate is from this call's trials."""
    import time

    from pipeline.runtime import Progress

    progress = Progress("wine tuning", 20, "trials", already=8)
    time.sleep(0.3)
    progress.update(done=2)   # 2 trials in 0.3 s or more: 10 left take 1.5 s or more
    line = capsys.readouterr().out.strip()
    assert line.startswith("[wine tuning] trials: 10/20 done (0 failed), ")
    assert int(re.search(r"about (\d+) s left$", line).group(1)) >= 1, line


def test_tuning_trials_tied_at_the_best_value_are_called_out():
    """A validation split of 85 rows gives accuracy in steps of 1/85: trials of very different
    strengths tie at 1.0, and the first is kept. Half or more tied: a warning; otherwise none."""
    import optuna
    from optuna.distributions import FloatDistribution

    from pipeline.tuning import tie_warning

    def study_of(values):
        s = optuna.create_study(direction="maximize")
        for i, v in enumerate(values):
            s.add_trial(optuna.trial.create_trial(params={"l2": 10.0 ** -(i + 1)}, value=v,
                                                  distributions={"l2": FloatDistribution(1e-8, 1.0, log=True)}))
        return s

    saturated = study_of([1.0, 0.988, 1.0, 1.0, 0.988, 1.0])
    assert tie_warning(saturated, saturated.best_value).startswith(
        "4 of 6 complete tuning trials tie at the best validation value 1.0000")
    assert tie_warning(study_of([0.91, 0.95, 0.97, 0.97, 0.96]), 0.97) == ""   # 2 of 5: chosen on evidence
    # the report's summary notes it beside the verdicts too (only the Tuning table's highlight said it)
    from types import SimpleNamespace

    import pandas as pd

    from pipeline import verdicts
    from pipeline.report.analysis import _tied_tuning_note

    trials = pd.DataFrame([{"dataset": "wine", "arm": arm, "status": "FINISHED", "objective": x}
                           for arm, xs in (("l1", [1.0, 0.988, 1.0, 1.0]), ("l2", [0.91, 0.95, 0.97, 0.96]))
                           for x in xs])
    data = SimpleNamespace(tuning=trials, study=SimpleNamespace(arms=["none", "l1", "l2"]))
    [v] = verdicts.decide_study([verdicts.DatasetResults("wine", "classification", {
        arm: {s: 0.9 + 0.01 * s for s in range(3)} for arm in ("none", "l1", "l2")})])
    assert _tied_tuning_note(data, "wine", v).startswith(
        "L1's tuned strength was the first of several tuning trials tied at the best validation value (see Tuning)")
    assert _tied_tuning_note(data, "iris", v) == ""


@pytest.mark.parametrize("store", ["journal", "postgres"])
def test_tied_tuning_trials_choose_the_first_on_every_storage(tmp_path, request, store):
    """Optuna's SQL storages take the best trial by ORDER BY value LIMIT 1, which breaks ties as the
    database likes: on PostgreSQL the tuned strengths (and so the grid's numbers) differed run to
    run and from a journal's, which keeps the first (a distributed-tuning audit). The first tied
    trial is the choice everywhere, and a rerun names the strengths its grid trained. With the other
    arms' tuning studies in the same database (three here), PostgreSQL's plan picks a later tied
    trial (checked below: Optuna's best_trial does; alone in a fresh database it picks the first)."""
    from optuna.distributions import FloatDistribution

    from pipeline.tuning import say_chosen

    url = f"journal:{tmp_path / 'o.journal'}" if store == "journal" else request.getfixturevalue("postgres") + "/optuna"
    values = [0.5, 0.8, 0.7, 0.8, 0.8, 0.6, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    for arm in ("dropout", "l1", "l2", "dropout+l2"):   # the last is the one looked at
        s = optuna.create_study(storage=get_storage(url), direction="maximize", study_name=f"tune.{arm}",
                                sampler=optuna.samplers.RandomSampler(seed=0))
        asked = [s.ask({"l2": FloatDistribution(1e-9, 1.0, log=True)}) for _ in values]
        for t in reversed(asked):   # told in another order than asked, as a round's trials may be
            t.report(0.1, 0)
            t.set_user_attr("epochs", 1)
            s.tell(t, values[t.number])
    first = s.trials[values.index(0.8)]
    assert grid.best_params(s) == (first.params, 0.8)
    if store == "postgres" and s.best_trial.number == first.number:   # the database's plan, not ours: said, not failed
        import warnings

        warnings.warn("PostgreSQL picked the first tie here: this test no longer shows the hazard it guards")
    # a study whose grid trained other strengths (chosen before this rule): the console names those
    stored = {"l2": s.trials[13].params}
    assert say_chosen({"l2": s}, 14, ", chosen earlier", stored) == stored


def enqueue_stopped_while_tuning(workdir, env, study_file: str, storage: list[str]):
    """An `enqueue` of `study_file`, stopped by its failpoint in its first tuning round (its runs open)."""
    import subprocess

    from .conftest import pipeline_command, stopped_itself

    proc = subprocess.Popen([*pipeline_command(), "enqueue", "--study", study_file, *storage], cwd=workdir,
                            env={**env, "PIPELINE_FAILPOINT": "train_round:1:stop"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stopped_itself(proc, timeout=240)
    return proc


def terminated(proc) -> tuple[str, str]:
    """SIGTERM to a process stopped by its failpoint: what it said."""
    import signal

    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    return proc.communicate(timeout=120)


@pytest.mark.slow
def test_a_worker_started_while_the_enqueue_tunes_waits_for_it_and_a_stopped_enqueue_ends_its_runs(workdir, env):
    """A distributed-tuning audit: a worker started while `enqueue` still tuned a dataset found it
    with no cell, said "nothing to train: all 0 cells were done already" and exited 0 (a Job's
    workers completed with the grid untrained); and `enqueue` had no signal handlers, so SIGTERM
    while tuning left the root, the tuning parent and its runs RUNNING (exit 143, no word)."""
    import signal
    import subprocess
    import time

    from .conftest import pipeline_command

    write_study(workdir / "s.yaml", tuned_study("waited"))
    storage = ["--storage", f"journal:{workdir / 'optuna.journal'}"]
    enqueue = enqueue_stopped_while_tuning(workdir, env, "s.yaml", storage)   # its Optuna studies exist, no grid cell yet
    worker = subprocess.Popen([*pipeline_command(), "worker", "--study", "s.yaml", *storage], cwd=workdir, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(15)
    assert worker.poll() is None, worker.communicate()   # waiting, not done
    enqueue.send_signal(signal.SIGCONT)
    out, err = enqueue.communicate(timeout=300)
    assert enqueue.returncode == 0 and re.search(r"\d cells waiting", out), (out + err)[-2000:]   # or some in training already
    out, err = worker.communicate(timeout=300)
    assert worker.returncode == 0, err[-2000:]
    assert (f"waiting for an enqueue on journal:{workdir / 'optuna.journal'} to finish (a tuned study tunes each "
            "dataset before it enqueues its grid)") in out, out[-2000:]
    assert "trained 6, failed 0; 6 of the 6 cells enqueued so far are done" in out, out[-2000:]
    # SIGTERM while tuning (another study: this one is tuned): exit 130, nothing left RUNNING
    write_study(workdir / "t.yaml", tuned_study("termed"))
    proc = enqueue_stopped_while_tuning(workdir, env, "t.yaml", storage)
    out, err = terminated(proc)
    assert proc.returncode == 130 and "Traceback" not in err, (out + err)[-2000:]
    assert "interrupted: 20 tuning trials stopped in training" in out, out[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("termed").experiment_id
    statuses = {r.info.status for r in client.search_runs([exp], "", max_results=1000)}
    assert statuses == {"KILLED"}, statuses
    # a worker now finds the stopped enqueue's dataset with no cell: said, and exit 75 (a Job's pool
    # completed with the grid untrained), not "all 0 cells were done already" and 0
    late = run_cli(["worker", "--study", "t.yaml", *storage], cwd=workdir, env=env)
    assert late.returncode == 75 and "[digits] worker" in late.stdout and "no cell of it is enqueued: the enqueue " \
        "stopped before it enqueued them" in late.stdout, (late.stdout + late.stderr)[-2000:]
    assert "error: no cell of digits is enqueued (an enqueue stopped before it enqueued them)" in late.stderr
    # stopped while tuning the first of two datasets: the second's study does not exist yet (a re-verification:
    # exit 2, "create it first", naming the second): exit 75 and what to do
    spec = tuned_study("partial")
    write_study(workdir / "p.yaml", {**spec, "datasets": [*spec["datasets"], {"name": "wine"}]})
    proc = enqueue_stopped_while_tuning(workdir, env, "p.yaml", storage)
    terminated(proc)
    assert proc.returncode == 130
    partial = run_cli(["worker", "--study", "p.yaml", *storage], cwd=workdir, env=env)
    assert partial.returncode == 75 and partial.stderr.strip().splitlines()[-1] == (
        "error: study 'partial': the enqueue stopped before it prepared dataset wine (the storage holds digits): run "
        "the enqueue command again, then the workers (exit 75: try again later)"), partial.stderr[-2000:]
