"""Crash safety and scale-out, for real: SIGKILL and SIGTERM in the middle of a trial, parallel
workers on one machine, and three workers on a PostgreSQL-backed study with an MLflow server."""

import contextlib
import html as html_mod
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from sqlalchemy import text as sqltext
from sqlalchemy.pool import NullPool

from pipeline import grid, joining, liveness
from pipeline import storage as storage_module
from pipeline.storage import GRACE_S, get_storage
from pipeline.preparation import optuna_study_name
from pipeline.runtime import worker_pid
from pipeline.runtree import STUDY_PARENT_RUN
from pipeline.study import load_study

from .conftest import _pg_bin as conftest_pg_bin
from .conftest import (ROOT, a_worker_in_process, mlflow_serving, pipeline_command, postgres_server, run_cli, stopped_itself,
                       tiny_study_dict, write_study)

pytestmark = pytest.mark.slow

# Trials long enough (a few tenths of a second) to be caught in the middle.
SLOW_STUDY = tiny_study_dict(name="crash", seeds=2, epochs=12, model={"hidden": [128, 128]}, execution={"population_size": 3},
                             datasets=[{"name": "digits", "train_size": 600}])


def start(args, cwd, env, gate=None):
    return subprocess.Popen([*pipeline_command(gate), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def mid_write(workdir: Path) -> bool:
    """A write is in progress in the Optuna journal (its lock) or in MLflow's SQLite file (its
    rollback journal): a process paused now would hold the others up."""
    return Path(f"{workdir / 'optuna.journal'}.lock").exists() or (workdir / "mlflow.db-journal").exists()


def wait_for_running_trial(storage_url, study, timeout=120):
    """Block until some trial is RUNNING with its MLflow run created (we are mid-trial)."""
    name = optuna_study_name(study, study.plans[0])
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            ostudy = optuna.load_study(study_name=name, storage=storage_url)
            running = [t for t in ostudy.get_trials(states=(TrialState.RUNNING,)) if "mlflow_run_id" in t.user_attrs]
            done = ostudy.get_trials(states=(TrialState.COMPLETE,))
            if running and len(done) >= 2:
                return running[0]
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError("no trial started running")


def cells_and_runs(env, study_file, storage_url):
    study = load_study(study_file)
    ostudy = optuna.load_study(study_name=optuna_study_name(study, study.plans[0]), storage=storage_url)
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name(study.name)
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    return study, ostudy, runs


def signal_mid_study(sig, workdir, env, study_file, storage) -> tuple[int, str, str]:
    """Start the study, send `sig` once trials are running; returns (exit code, stderr, stdout). The
    signal is sent while the process is paused (SIGSTOP) with trials in training and the
    journal unlocked, so that it lands mid-training whatever the machine's speed."""
    proc = start(["ablation", "--study", study_file.name, "--no-report"], workdir, env)
    study = load_study(study_file)
    while True:
        trial = wait_for_running_trial(storage, study)
        proc.send_signal(signal.SIGSTOP)
        try:
            ostudy = optuna.load_study(study_name=optuna_study_name(study, study.plans[0]), storage=storage)
            if ostudy.trials[trial.number].state == TrialState.RUNNING and not mid_write(workdir):
                proc.send_signal(sig)
                break
        finally:
            proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err, out


def test_sigkill_mid_trial_then_rerun_finishes_with_the_same_numbers(workdir, env, tmp_path_factory):
    study_file = write_study(workdir / "crash.yaml", SLOW_STUDY)
    storage = get_storage(f"journal:{workdir / 'optuna.journal'}")  # the default storage
    for _ in range(3):  # the kill may land between two trials; then resume and kill again
        signal_mid_study(signal.SIGKILL, workdir, env, study_file, storage)
        _, ostudy, _ = cells_and_runs(env, study_file, storage)
        victims = ostudy.get_trials(states=(TrialState.RUNNING,))
        if victims:
            break
    assert victims  # killed in the middle of a trial

    again = run_cli(["ablation", "--study", "crash.yaml", "--no-report"], cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    study, ostudy, runs = cells_and_runs(env, study_file, storage)

    # Optuna: every cell exactly one COMPLETE trial; the killed one FAILED as "worker died"
    complete = Counter((t.params["arm"], t.params["seed"]) for t in ostudy.get_trials(states=(TrialState.COMPLETE,)))
    assert set(complete) == set(study.cells()) and set(complete.values()) == {1}
    # every trained trial was marked so before it ended (what counts a death as a spent attempt);
    # of the killed ones, at most one population (3) trained: the next is popped ahead, untrained
    assert all(t.user_attrs.get("training_started") for t in ostudy.get_trials(states=(TrialState.COMPLETE,)))
    assert len([v for v in victims if ostudy.trials[v.number].user_attrs.get("training_started")]) <= 3
    by_id = {r.info.run_id: r for r in runs}
    for victim in victims:
        killed = ostudy.trials[victim.number]
        run = by_id.get(killed.user_attrs.get("mlflow_run_id"))
        if killed.state == TrialState.COMPLETE:  # died after its run was fully logged: recovered, not retrained
            assert killed.user_attrs["recovered_from_mlflow"] and run.info.status == "FINISHED"
            assert killed.value == run.data.metrics["final_val_metric"]
        else:  # died while training or logging: failed, its run KILLED, the cell trained again
            assert killed.state == TrialState.FAIL and killed.user_attrs["fail_reason"] == "worker died"
            assert run is None or run.info.status == "KILLED"
            # popped ahead, not training yet: its run says so (the report counts it apart)
            assert run is None or (run.data.tags.get("untrained") == "yes") == ("training_started" not in killed.user_attrs)
    # MLflow: one FINISHED child per cell, the killed trial's run KILLED, nothing left RUNNING
    trials = [r for r in runs if r.data.tags.get("kind") == "trial"]
    finished = Counter(r.info.run_name for r in trials if r.info.status == "FINISHED")
    assert len(finished) == len(study.cells()) and set(finished.values()) == {1}
    assert not [r for r in runs if r.info.status == "RUNNING"]

    # the same numbers as an uninterrupted run
    clean = tmp_path_factory.mktemp("clean")
    write_study(clean / "crash.yaml", SLOW_STUDY)
    clean_env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{clean / 'mlflow.db'}"}
    assert run_cli(["ablation", "--study", "crash.yaml", "--no-report"], cwd=clean, env=clean_env).returncode == 0
    _, _, clean_runs = cells_and_runs(clean_env, clean / "crash.yaml", get_storage(f"journal:{clean / 'optuna.journal'}"))
    expected = {r.info.run_name: r.data.metrics["test_metric"] for r in clean_runs if r.data.tags.get("kind") == "trial"}
    got = {r.info.run_name: r.data.metrics["test_metric"] for r in trials if r.info.status == "FINISHED"}
    assert got == expected


def test_ctrl_c_in_train_marks_its_run_killed_in_one_line(workdir, env):
    """`train` stopped by Ctrl-C while it trains: one line and exit 130, its MLflow run KILLED as
    interrupted (it was left RUNNING under a traceback)."""
    proc = start(["train", "--dataset", "digits", "--epochs", "100000", "--batch-size", "8"], workdir, env)
    client, deadline = MlflowClient(env["MLFLOW_TRACKING_URI"]), time.time() + 240
    while not (experiment := (workdir / "mlflow.db").exists() and client.get_experiment_by_name("train")) \
            or not client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'"):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    time.sleep(1.0)   # into its epochs
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted by SIGINT: its run, if it had started, is marked KILLED", err
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "KILLED" and run.data.tags["outcome"] == "INTERRUPTED", (run.info, run.data.tags)


@pytest.mark.parametrize("engine", ["reference", "population"])
def test_a_signal_python_swallows_still_stops_training(engine, monkeypatch):
    """A signal that lands where Python cannot raise (a __del__ or a weakref callback: CI caught
    one in SQLAlchemy's class registry) is swallowed with a traceback, and the code goes on: `train
    --epochs 100000` trained on after Ctrl-C. Now the next epoch stops, and nothing is printed."""
    from pipeline.errors import forget_interrupts
    from pipeline.population import train_population
    from pipeline.runtime import Interrupted, install_signal_handlers
    from pipeline.train import train
    from pipeline.trainer_common import TrialConfig

    from .test_regularizers import toy_splits

    class SignalledWhileDeleted:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)   # the handler runs here and raises Interrupted into __del__

    swallowed_shown, seen = [], []
    monkeypatch.setattr(sys, "unraisablehook", swallowed_shown.append)

    def on_epoch(epoch, rows):
        if epoch == 2:
            SignalledWhileDeleted()   # deleted at once
        seen.append(epoch)   # reached: the Interrupted did not come out of __del__
        return []

    cfg = TrialConfig(arm="none", seed=0, hidden=(8,), dropout=(0.0,), epochs=50, batch_size=32)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    install_signal_handlers()
    try:
        with pytest.raises(Interrupted, match="SIGINT"):
            if engine == "reference":
                train(cfg, toy_splits(), on_epoch=on_epoch)
            else:
                train_population([cfg, cfg], toy_splits(), on_epoch=on_epoch)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        forget_interrupts()
    assert seen == [1, 2] and swallowed_shown == [], (seen, swallowed_shown)


def test_a_command_that_ends_after_a_swallowed_signal_says_it_was_interrupted(capsys):
    """A signal swallowed where no trainer looks again (a report's __del__) no longer ends the
    command with 0 as if nothing happened: it says so and exits 130, once; the next command in the
    process (a notebook's) starts afresh."""
    from pipeline.cli import main
    from pipeline.errors import interrupted

    interrupted("SIGTERM")   # what the handler leaves, its exception swallowed
    assert main(["datasets"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted by SIGTERM: nothing was changed"
    assert main(["datasets"]) == 0 and "digits" in capsys.readouterr().out


def test_sigterm_stops_cleanly_and_marks_runs_killed(workdir, env):
    study_file = write_study(workdir / "crash.yaml", SLOW_STUDY)
    storage = get_storage(f"journal:{workdir / 'optuna.journal'}")
    for _ in range(3):  # the signal may land between two populations; then resume and stop again
        code, err, out = signal_mid_study(signal.SIGTERM, workdir, env, study_file, storage)
        assert code == 130 and "interrupted by SIGTERM" in err
        _, ostudy, runs = cells_and_runs(env, study_file, storage)
        assert not [r for r in runs if r.info.status == "RUNNING"]  # whenever it lands
        by_kind = {k: [r for r in runs if r.data.tags.get("kind") == k] for k in ("root", "dataset", "trial")}
        assert all(r.info.status == "KILLED" for r in by_kind["root"] + by_kind["dataset"])
        assert not ostudy.get_trials(states=(TrialState.RUNNING,))
        interrupted = [t for t in ostudy.trials if t.user_attrs.get("fail_reason") == "interrupted"]
        if interrupted:
            break
    assert interrupted and all(t.state == TrialState.FAIL for t in interrupted)
    # on the console one line says what the signal stopped, not one line per cell
    said = re.findall(r"  interrupted: .*", out)
    assert len(said) == 1 and re.match(r"  interrupted: \d+ cells? stopped in training", said[0]) and " interrupted\n" not in out, out
    for t in interrupted:  # the whole population in training when the signal came, and one popped ahead
        run = next(r for r in runs if r.info.run_id == t.user_attrs["mlflow_run_id"])
        assert run.info.status == "KILLED" and run.data.tags["fail_reason"] == "interrupted"
        # a cell popped ahead, not yet training, says so on its run (and the report, below)
        assert (run.data.tags.get("untrained") == "yes") == ("training_started" not in t.user_attrs), t.number
    if untrained := [t for t in interrupted if "training_started" not in t.user_attrs]:   # not after the last population
        rerun = run_cli(["ablation", "--study", "crash.yaml", "--no-pdf"], cwd=workdir, env=env)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        html = (workdir / "reports/crash/report.html").read_text()
        assert (f"{len(untrained)} of them never started" if len(untrained) > 1 else "One of them never started") in html


def assert_exactly_once(study, ostudies, runs):
    for plan, ostudy in zip(study.plans, ostudies):
        complete = Counter((t.params["arm"], t.params["seed"]) for t in ostudy.get_trials(states=(TrialState.COMPLETE,)))
        assert set(complete) == set(study.cells()) and set(complete.values()) == {1}, plan.label
        assert not ostudy.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    names = Counter(r.info.run_name for r in runs if r.data.tags.get("kind") == "trial")
    assert len(names) == len(study.plans) * len(study.cells()) and set(names.values()) == {1}
    unfinished = [(r.info.run_name, r.info.status, r.data.tags.get("outcome"), r.data.tags.get("fail_reason"))
                  for r in runs if r.data.tags.get("kind") == "trial" and r.info.status != "FINISHED"]
    assert not unfinished


def _all_trials(storage, names) -> list:
    trials = []
    for name in names:
        try:
            trials += optuna.load_study(study_name=name, storage=storage).trials
        except KeyError:
            pass
    return trials


def hold_first_worker_until_another_works(storage, study, timeout=90):
    """The first worker to start could finish a small grid before the others have imported
    torch. Pause it (SIGSTOP, as a slow machine would be) until another worker holds a trial,
    so the test sees the grid shared, whatever the machine's speed. Workers are found by the
    pid in the 'worker' attribute of the trials they pop. The pause is kept safe: never while a
    RUNNING trial is still nameless (the others would rightly take it over after ORPHAN_S; see
    test_a_paused_worker_whose_trials_were_taken_over_carries_on) and shorter than half the
    heartbeat grace period."""
    names = [optuna_study_name(study, p) for p in study.plans]
    journal = isinstance(storage, optuna.storages.JournalStorage)
    workdir = Path(storage._backend._file_path).parent if journal else None
    if isinstance(storage, str):   # one storage for all the polls (a URL each would open pools)
        storage = optuna.storages.RDBStorage(storage, engine_kwargs={"poolclass": NullPool})
    # Heartbeats stop while it is paused: stay well below the grace period after which the others
    # take its trials for dead. A journal has no heartbeats, and the paused process lives.
    limit = 25 if journal else GRACE_S / 2
    deadline, first, stopped_at = time.time() + timeout, None, 0.0
    try:
        while time.time() < deadline:
            owners = {worker_pid(t.user_attrs["worker"]) for t in _all_trials(storage, names)
                      if "cell" in t.user_attrs and "worker" in t.user_attrs}
            if first is None and owners:
                candidate = next(iter(owners))
                os.kill(candidate, signal.SIGSTOP)
                first, stopped_at = candidate, time.time()
                if any(t.state == TrialState.RUNNING and "worker" not in t.user_attrs
                       for t in _all_trials(storage, names)) or (workdir is not None and mid_write(workdir)):
                    first = None   # stopped between popping and naming, or in a write: try again
                    os.kill(candidate, signal.SIGCONT)
            elif first is not None and (owners - {first} or time.time() - stopped_at > limit):
                break
            time.sleep(0.05)
    finally:
        if first is not None:
            os.kill(first, signal.SIGCONT)


@pytest.mark.slow
def test_two_ablations_started_at_once_in_a_fresh_folder_both_finish(workdir, env):
    """Both opened the new mlflow.db and migrated it at once: one stopped with a traceback ("table
    entity_associations already exists"; an odd-environments audit, 3 times in 3). The store's
    creation is one process's at a time; the cells are trained once between them."""
    write_study(workdir / "s.yaml", tiny_study_dict(name="race", arms=["none", "l2"], seeds=2, epochs=1,
                                                    datasets=[{"name": "wine"}]))
    assert not (workdir / "mlflow.db").exists()
    procs = [subprocess.Popen([*pipeline_command(), "ablation", "--study", "s.yaml", "--no-report"], cwd=workdir,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-1500:] for _, err in outs]
    assert not any("Traceback" in err for _, err in outs)
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("race").experiment_id], "tags.kind = 'trial'")
    assert sorted((r.data.tags["regularizer"], r.data.tags["seed"]) for r in runs if r.info.status == "FINISHED") == \
        [("l2", "0"), ("l2", "1"), ("none", "0"), ("none", "1")]


def test_parallel_workers_train_each_cell_exactly_once(workdir, env):
    spec = tiny_study_dict(name="par", seeds=3, epochs=4, execution={"population_size": 2})  # small batches: every worker gets cells
    study_file = write_study(workdir / "par.yaml", spec)
    study = load_study(study_file)
    storage = get_storage(f"journal:{workdir / 'optuna.journal'}")
    proc = start(["ablation", "--study", "par.yaml", "--workers", "2", "--no-report"], workdir, env)
    hold_first_worker_until_another_works(storage, study)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "worker 1:" in out and "worker 2:" in out
    # each worker's last line of a dataset counts what it went through, not what waited when it
    # started ("5/8 done" looked as if 3 cells were missing: the other worker trained them)
    # ("10/28" then "10/10" read as a shifting total: its share of what it found waiting, and who did the rest)
    last = {}
    for who, line in re.findall(r"^\[\S+\] (worker \d):? cells: (.*)$", out, re.MULTILINE):
        last[who] = line
    assert last and all(re.fullmatch(r"(\d+) done here \(\d+ failed\) of the \1 waiting, \d+ s", line) or
                        re.fullmatch(r"\d+ done here \(\d+ failed\) of the \d+ waiting, \d+ s; other workers popped the "
                                     r"other \d+", line) for line in last.values()), out[-3000:]
    # a worker that found a dataset's cells all popped by the other says so, not "trained 0" as if stalled
    assert "trained 0, failed 0" not in out, out[-3000:]
    assert re.search(r"time: [\d.]+ s \(loading [\d.]+ s, .*in 2 worker processes [\d.]+ s", out), out[-1500:]
    ostudies = [optuna.load_study(study_name=optuna_study_name(study, p), storage=storage) for p in study.plans]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("par").experiment_id], max_results=1000)
    assert_exactly_once(study, ostudies, runs)
    workers = {t.user_attrs["worker"] for o in ostudies for t in o.trials if "cell" in t.user_attrs}
    assert len(workers) == 2  # both processes did work
    assert all(r.info.status == "FINISHED" for r in runs)
    # idle workers leave nothing behind: every trial is a grid cell, none failed, and a worker
    # started on the finished study trains nothing and adds no trial
    assert all("cell" in t.user_attrs and t.state == TrialState.COMPLETE for o in ostudies for t in o.trials)
    before = [len(o.trials) for o in ostudies]
    idle = run_cli(["worker", "--study", "par.yaml", "--storage", f"journal:{workdir / 'optuna.journal'}"],
                   cwd=workdir, env=env)
    assert idle.returncode == 0 and "nothing to train: all" in idle.stdout, idle.stderr[-2000:]
    assert [len(optuna.load_study(study_name=o.study_name, storage=storage).trials) for o in ostudies] == before
    # rerunning the finished study with --workers 2 starts no worker process (each would load the data again)
    rerun = run_cli(["ablation", "--study", "par.yaml", "--workers", "2", "--no-report"], cwd=workdir, env=env)
    assert rerun.returncode == 0 and "nothing to train: all" in rerun.stdout and "worker 1" not in rerun.stdout


def test_ctrl_c_after_training_says_that_nothing_was_left_training(workdir, env):
    """Ctrl-C on `ablation` while it writes its verdicts and report said "runs still training are
    marked KILLED", when every run had ended: it says so, and that a rerun writes what is missing
    without training again."""
    write_study(workdir / "tiny.yaml", tiny_study_dict(datasets=[{"name": "digits", "train_size": 120}]))
    proc = start(["ablation", "--study", "tiny.yaml", "--no-report"], workdir, {**env, "PIPELINE_FAILPOINT": "answering:1:stop"})
    stopped_itself(proc, timeout=240)   # training has ended
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == (
        "interrupted by SIGINT: every run had ended and is kept; the verdicts or the report may not all be written: "
        "rerun the same command (it trains nothing again) to write them"), err[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    trials = [r for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
              if r.data.tags.get("kind") == "trial"]
    assert len(trials) == 10 and {r.info.status for r in trials} == {"FINISHED"}
    again = run_cli(["ablation", "--study", "tiny.yaml", "--no-report"], cwd=workdir, env=env)
    assert again.returncode == 0 and "nothing to train: all" in again.stdout and "In short" in again.stdout, again.stdout[-2000:]


def _gone(pid: int) -> bool:
    """The process exited (a zombie waiting for its reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_ctrl_c_on_local_workers_stops_them_without_a_traceback(workdir, env):
    """Ctrl-C in a terminal signals the whole process group: `ablation --workers 2` and both of its
    workers. The command then sent each worker SIGTERM while it was already exiting, which raised
    in multiprocessing's exit and printed three chained tracebacks. Exit 130, one line, twice."""
    study_file = write_study(workdir / "crash.yaml", {**SLOW_STUDY, "seeds": 3})
    study = load_study(study_file)
    storage = get_storage(f"journal:{workdir / 'optuna.journal'}")
    for attempt in range(2):
        proc = subprocess.Popen([*pipeline_command(), "ablation", "--study", "crash.yaml", "--workers", "2", "--no-report"],
                                cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        wait_for_running_trial(storage, study)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130 and "Traceback" not in err, (attempt, err[-3000:])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process states from /proc")
def test_workers_stop_when_the_command_that_started_them_is_killed(workdir, env):
    """SIGKILL on `ablation --workers 2` leaves no worker training unseen (they used to finish the
    study as orphans, racing the rerun): each is stopped as by SIGTERM; the rerun then trains
    every cell exactly once."""
    study_file = write_study(workdir / "crash.yaml", {**SLOW_STUDY, "seeds": 3})
    study = load_study(study_file)
    storage = get_storage(f"journal:{workdir / 'optuna.journal'}")
    proc = start(["ablation", "--study", "crash.yaml", "--workers", "2", "--no-report"], workdir, env)
    wait_for_running_trial(storage, study)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    ostudy = optuna.load_study(study_name=optuna_study_name(study, study.plans[0]), storage=storage)
    pids = {worker_pid(t.user_attrs["worker"]) for t in ostudy.trials if "worker" in t.user_attrs}
    assert pids and os.getpid() not in pids
    deadline = time.time() + 60
    while not all(_gone(pid) for pid in pids):
        assert time.time() < deadline, f"workers {sorted(p for p in pids if not _gone(p))} still running"
        time.sleep(0.2)
    # they stopped where they were, not after training the rest of the grid
    left = set(study.cells()) - {(t.params["arm"], t.params["seed"]) for t in optuna.load_study(
        study_name=ostudy.study_name, storage=storage).get_trials(states=(TrialState.COMPLETE,))}
    assert left, "the workers trained the whole grid after the command was killed"
    again = run_cli(["ablation", "--study", "crash.yaml", "--no-report"], cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("crash").experiment_id], max_results=1000)
    complete = Counter((t.params["arm"], t.params["seed"]) for t in
                       optuna.load_study(study_name=ostudy.study_name, storage=storage).get_trials(states=(TrialState.COMPLETE,)))
    assert set(complete) == set(study.cells()) and set(complete.values()) == {1}
    finished = Counter(r.info.run_name for r in runs if r.data.tags.get("kind") == "trial" and r.info.status == "FINISHED")
    assert len(finished) == len(study.cells()) and set(finished.values()) == {1}
    assert not [r for r in runs if r.info.status == "RUNNING"]


# --- distributed: PostgreSQL + mlflow server, three workers ----------------------------------

@pytest.fixture
def mlflow_server(postgres, tmp_path):
    with mlflow_serving(["server", "--backend-store-uri", f"{postgres}/mlflow", "--artifacts-destination",
                         str(tmp_path / "artifacts"), "--workers", "2"], tmp_path / "mlflow.log") as url:
        yield url


def test_three_workers_on_postgres_and_an_mlflow_server(workdir, env, postgres, mlflow_server):
    spec = tiny_study_dict(name="dist", seeds=3, epochs=30, execution={"population_size": 2},
                           model={"hidden": [64, 64]}, datasets=[{"name": "digits", "train_size": 400}, {"name": "wine"}])
    study_file = write_study(workdir / "dist.yaml", spec)
    storage = f"{postgres.replace('postgres@', 'postgres:pw@')}/optuna"   # the server trusts: a password as users have
    common = ["--study", "dist.yaml", "--storage", storage, "--tracking-uri", mlflow_server]
    env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    # two enqueues at once (a Kubernetes Job's init container runs in every pod): one waits for the
    # other, and neither adds a cell, a root or a parent run twice; then once more, idempotent
    both = [start(["enqueue", *common], workdir, env) for _ in range(2)]
    said = [p.communicate(timeout=300) for p in both]
    assert all(p.returncode == 0 for p in both), [err[-3000:] for _, err in said]
    for out, _ in said:   # the command to run, as is, the password masked
        assert f"python -m pipeline worker {' '.join(common).replace(':pw@', ':***@')} (password masked)" in out
        assert "30 cells waiting" in out, out
    proc = run_cli(["enqueue", *common], cwd=workdir, env=env)
    assert proc.returncode == 0 and "30 cells waiting" in proc.stdout, proc.stderr[-3000:]
    # a server reached by a host name it was not started for (MLflow 3.5+: 403 on every API call)
    by_name = run_cli(["worker", *common[:4], "--tracking-uri", mlflow_server.replace("127.0.0.1", "127.1")],
                      cwd=workdir, env=env)
    host = mlflow_server.replace("http://127.0.0.1", "127.1")
    assert by_name.returncode == 2 and by_name.stderr.strip().endswith(
        f"refuses requests addressed to {host} (403, Invalid Host header); start it with --allowed-hosts {host} "
        "(MLflow allows localhost and private IP addresses unless told)"), by_name.stderr[-2000:]
    workers = [start(["worker", *common], workdir, env) for _ in range(3)]
    hold_first_worker_until_another_works(storage, load_study(study_file))
    outputs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-2000:] for o in outputs]
    assert not any(":pw@" in out + err for out, err in outputs + said)
    assert not any("View run" in out for out, _ in outputs)   # MLflow's two lines per run, silenced

    study = load_study(study_file)
    ostudies = [optuna.load_study(study_name=optuna_study_name(study, p), storage=storage) for p in study.plans]
    client = MlflowClient(mlflow_server)
    runs = client.search_runs([client.get_experiment_by_name("dist").experiment_id], max_results=1000)
    assert_exactly_once(study, ostudies, runs)
    assert len({t.user_attrs["worker"] for o in ostudies for t in o.trials if "cell" in t.user_attrs}) >= 2
    assert len([r for r in runs if r.data.tags.get("kind") == "dataset"]) == 2  # enqueue twice, one tree
    roots = len([r for r in runs if r.data.tags.get("kind") == "root"])
    assert roots == 1, roots
    done = run_cli(["enqueue", *common], cwd=workdir, env=env)   # on a finished grid: says so, adds no run
    assert done.returncode == 0 and "nothing to train: no cell of this configuration waits or trains" in done.stdout
    after = client.search_runs([client.get_experiment_by_name("dist").experiment_id], max_results=1000)
    assert len([r for r in after if r.data.tags.get("kind") == "root"]) == roots
    # the report can be built from anywhere that reaches the server
    proc = run_cli(["report", *common[:2], "--tracking-uri", mlflow_server, "--no-pdf"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (workdir / "reports/dist/report.html").read_text()
    assert "Summary" in html and mlflow_server in html  # run links point at the server
    # a distributed study's console answer comes from `report` alone: the summary ablation prints
    short = next(line for line in proc.stdout.splitlines() if line.startswith("In short: "))
    assert html_mod.escape(short[len("In short: "):], quote=False) in html and "Verdicts (each arm vs none" in proc.stdout
    assert re.search(r"^    L2( \(.*\))?: ", proc.stdout, re.MULTILINE), proc.stdout[-3000:]
    assert ":pw@" not in html + proc.stdout + done.stdout  # nothing leaked


def test_a_paused_worker_does_not_train_a_population_taken_over_meanwhile(workdir, env):
    """A worker paused (SIGSTOP) with its next population popped ahead, which another worker took
    over meanwhile: on waking it trained those cells anyway (11 s of a QA audit's 500 epochs,
    their curves on runs tagged untrained) and then dropped the results. It leaves them now, and
    trains the cells again as their next attempt."""
    from mlflow import MlflowClient

    from .test_faults import stopped_itself

    write_study(workdir / "p.yaml", tiny_study_dict(name="pause", seeds=2, epochs=2, arms=["none", "l2"],
                                                    datasets=[{"name": "wine"}], execution={"population_size": 2}))
    storage = f"journal:{workdir / 'optuna.journal'}"
    common = ["--study", "p.yaml", "--storage", storage]
    assert run_cli(["enqueue", *common], cwd=workdir, env=env).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "worker", *common], cwd=workdir, text=True,
                            env={**env, "PIPELINE_FAILPOINT": "mark_training:2:stop"},   # before the second population
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stopped_itself(proc)
        study = load_study(workdir / "p.yaml")
        ostudy = optuna.load_study(study_name=optuna_study_name(study, study.plans[0]), storage=get_storage(storage))
        ahead = [t for t in ostudy.get_trials(states=(TrialState.RUNNING,)) if "training_started" not in t.user_attrs]
        assert len(ahead) == 2
        for t in ahead:   # what another worker's reaper does to a paused worker's trials
            ostudy._storage.set_trial_user_attr(t._trial_id, "fail_reason", "worker died")
            ostudy._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    for t in ahead:   # popped ahead, never trained: no curve on their runs
        assert client.get_metric_history(t.user_attrs["mlflow_run_id"], "train_loss") == []
    ostudy = optuna.load_study(study_name=ostudy.study_name, storage=get_storage(storage))
    done = [t for t in ostudy.get_trials() if t.state == TrialState.COMPLETE]
    assert len(done) == 4 and {t.user_attrs["attempt"] for t in done} == {1, 2}


def test_a_paused_worker_whose_trials_were_taken_over_carries_on(workdir, env, monkeypatch):
    """A worker paused past the grace period (SIGSTOP, a suspended laptop) finds that another
    worker failed its trials meanwhile. It must not crash, and must not leave a FINISHED run for
    a cell that will be trained again: its runs end KILLED and the next run trains each cell once."""
    from mlflow import MlflowClient

    from pipeline import lifecycle
    from pipeline.lifecycle import Outcome
    from pipeline.train import train

    monkeypatch.chdir(workdir)
    study, ctx, splits, ostudy, cells = a_worker_in_process(workdir, env, "paused")
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    (t1, arm1, seed1, _), (t2, arm2, seed2, _) = grid.pop_cells(ostudy, 2)
    [named] = lifecycle.open_runs(ctx.tracker, ctx.experiment_id, [cells.born(t1, arm1, seed1)])
    result = train(named.payload, splits)
    for t in (t1, t2):  # what another worker's reaper does to a paused worker's trials
        ostudy._storage.set_trial_user_attr(t._trial_id, "fail_reason", "worker died")
        ostudy._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    # the second was not even named yet: it is dropped, and no run is opened for it
    assert lifecycle.open_runs(ctx.tracker, ctx.experiment_id, [cells.born(t2, arm2, seed2)]) == []
    # the first finished training: its result is dropped, and the worker counts it as taken over
    # (its progress line says so), not as a failure of its own
    from pipeline.runtime import Progress
    from pipeline.worker import _record

    progress = Progress("paused", 1)
    kinds = _record(ctx, [lifecycle.cell_ending(named, result, 1.0)], progress, liveness.heartbeat(ostudy, [t1]))
    assert kinds == ["taken_over"] and (progress.failed, progress.taken_over) == (0, 1)
    assert "(0 trained here, 0 failed, 1 taken over by another worker)" in progress.line(1.0)
    progress.grow(2)   # a dead worker's cells enqueued again: the total grows, never "14/6"
    assert progress.total == 3
    progress.update(done=2)
    assert progress.line(1.0).startswith("[paused] cells: 3/3 settled (2 trained here")
    progress.update(done=1)   # one more than it knew of (popped after another worker's retry)
    assert progress.total == 4
    run = client.get_run(named.run_id)
    assert run.info.status == "KILLED" and run.data.tags["fail_reason"] == Outcome.TAKEN_OVER.reason
    assert run.data.tags["outcome"] == "TAKEN_OVER"

    again = run_cli(["ablation", "--study", "paused.yaml", "--no-report"], cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    complete = Counter((t.params["arm"], t.params["seed"]) for t in ostudy.get_trials(states=(TrialState.COMPLETE,)))
    assert complete == Counter(study.cells())
    runs = client.search_runs([ctx.experiment_id], "tags.kind = 'trial'")
    finished = Counter(r.info.run_name for r in runs if r.info.status == "FINISHED")
    assert set(finished.values()) == {1} and len(finished) == 2


def test_a_worker_of_an_earlier_study_file_retries_none_of_its_grids_stopped_cells(workdir, env, capsys):
    """A worker joined under l2 = 1e-3 and its cells were stopped (SIGTERM); the file then said 1e-2 and
    was enqueued (its grid recorded). The earlier worker, still running, re-queued its own grid's stopped
    cells, L2 at 1e-3 among them, which the file no longer lists, and trained them. It retries none now:
    the new file's enqueue re-queued its own (none's), and its workers retry theirs."""
    from pipeline.lifecycle import Outcome
    from pipeline.preparation import prepare
    from pipeline.worker import retried

    study, ctx, splits, ostudy, cells = a_worker_in_process(workdir, env, "earlier")
    for trial, *_ in grid.pop_cells(ostudy, 2):   # both cells, stopped
        grid.set_attrs(ostudy, trial._trial_id, {"worker": "elsewhere:1:x", "outcome": Outcome.INTERRUPTED.name,
                                                 "fail_reason": Outcome.INTERRUPTED.reason})
        ostudy.tell(trial, state=TrialState.FAIL)
    earlier = tiny_study_dict(name="earlier", seeds=1, arms=["none", "l2"], datasets=[{"name": "wine"}])
    write_study(workdir / "earlier.yaml", {**earlier, "strengths": {**earlier["strengths"], "l2": 1e-2}})
    prepare(load_study(workdir / "earlier.yaml"), f"journal:{workdir / 'optuna.journal'}", env["MLFLOW_TRACKING_URI"])
    capsys.readouterr()
    assert retried(ctx, ostudy)   # the new file's cells wait
    assert "enqueued again" not in capsys.readouterr().out
    waiting = sorted(grid.cell_of(t) for t in ostudy.get_trials(states=(TrialState.WAITING,)))
    assert waiting == [("l2", 0, "l2=0.01"), ("none", 0, "")], waiting


def test_a_seeds_views_worker_retries_its_stopped_cells_after_the_files_enqueue(workdir, env, capsys):
    """`enqueue --seeds 2` on a file of 1 seed, and a worker of that view; the file's own enqueue (a
    status check) then recorded the file's grid, leaving seed 1's cells to the view's workers. The
    view's worker retried none of its stopped cells (another grid recorded), and no worker of the file
    retries seed 1: they stayed failed. The seeds alone differ, one side a view: it retries them."""
    from pipeline.lifecycle import Outcome
    from pipeline.preparation import prepare
    from pipeline.worker import retried

    write_study(workdir / "wider.yaml", tiny_study_dict(name="wider", seeds=1, arms=["none", "l2"], datasets=[{"name": "wine"}]))
    storage = f"journal:{workdir / 'optuna.journal'}"
    view = load_study(workdir / "wider.yaml", seeds="2")
    ctx, _ = prepare(view, storage, env["MLFLOW_TRACKING_URI"])
    ostudy = optuna.load_study(study_name=optuna_study_name(view, view.plans[0]), storage=get_storage(storage))
    for trial, *_ in grid.pop_cells(ostudy, 4):   # the view's worker stopped (SIGTERM) on all four
        grid.set_attrs(ostudy, trial._trial_id, {"worker": "elsewhere:1:x", "outcome": Outcome.INTERRUPTED.name,
                                                 "fail_reason": Outcome.INTERRUPTED.reason})
        ostudy.tell(trial, state=TrialState.FAIL)
    prepare(load_study(workdir / "wider.yaml"), storage, env["MLFLOW_TRACKING_URI"])   # re-queues seed 0's
    capsys.readouterr()
    assert retried(ctx, ostudy)
    assert "2 cells are enqueued again" in capsys.readouterr().out
    waiting = sorted(grid.cell_of(t) for t in ostudy.get_trials(states=(TrialState.WAITING,)))
    assert waiting == [("l2", s, "l2=0.001") for s in (0, 1)] + [("none", s, "") for s in (0, 1)], waiting


def test_a_dead_workers_cells_grow_a_progress_total_once(workdir, env, capsys):
    """A worker's total is the cells waiting when it started. Cells another worker popped from
    those, died with, and that come back enqueued again were counted twice ("10/14 done" of a
    10-cell grid); only cells the total did not count grow it. The console says a silent worker
    may be paused or cut off, not only dead (it was "worker died" for a paused one)."""
    from pipeline.lifecycle import Outcome
    from pipeline.runtime import Progress
    from pipeline.worker import retried

    study, ctx, splits, ostudy, cells = a_worker_in_process(workdir, env, "twice")
    started_with = ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    mine = Progress("twice", len(started_with), cells={grid.cell_of(t) for t in started_with})   # as work_cells does
    late = Progress("twice", 0)
    for trial, *_ in grid.pop_cells(ostudy, 2):   # another worker pops both, and dies
        grid.set_attrs(ostudy, trial._trial_id, {"worker": "elsewhere:1:x", "outcome": Outcome.WORKER_DIED.name,
                                                 "fail_reason": Outcome.WORKER_DIED.reason})
        ostudy.tell(trial, state=TrialState.FAIL)
    assert retried(ctx, ostudy, mine) and mine.total == 2
    assert "2 cells are enqueued again (twice.wine." in capsys.readouterr().out
    for trial, *_ in grid.pop_cells(ostudy, 2):   # and again, for a worker that started with none waiting
        grid.set_attrs(ostudy, trial._trial_id, {"worker": "elsewhere:1:x", "outcome": Outcome.WORKER_DIED.name,
                                                 "fail_reason": Outcome.WORKER_DIED.reason})
        ostudy.tell(trial, state=TrialState.FAIL)
    assert retried(ctx, ostudy, late) and late.total == 2
    assert re.search(r"2 cells are enqueued again \(twice\.wine\.\w+\), left by elsewhere:1:x: worker died, or is "
                     r"paused or cut off \(its process is gone or its heartbeat stopped\)", capsys.readouterr().out)


def test_an_interrupted_ablation_leaves_the_parent_to_a_worker_that_still_trains(workdir, env):
    """`ablation` here and a `worker` elsewhere (two processes) on one journal study. Ctrl-C on
    `ablation` closed the dataset's parent KILLED while the worker went on training, so the
    worker's results, and the cells it trained again for the interrupted ones, landed under a
    parent that read as abandoned. The parent is left open; the worker ends it FINISHED."""
    spec = {**SLOW_STUDY, "name": "both", "seeds": 3, "execution": {"population_size": 2}}
    study_file = write_study(workdir / "both.yaml", spec)
    study = load_study(study_file)
    storage = f"journal:{workdir / 'optuna.journal'}"
    assert run_cli(["enqueue", "--study", "both.yaml", "--storage", storage], cwd=workdir, env=env).returncode == 0
    main = start(["ablation", "--study", "both.yaml", "--storage", storage, "--no-report"], workdir, env)
    other = start(["worker", "--study", "both.yaml", "--storage", storage], workdir, env)
    name = optuna_study_name(study, study.plans[0])
    deadline = time.time() + 180
    try:
        while True:   # both train
            assert main.poll() is None and other.poll() is None and time.time() < deadline, "both never trained at once"
            running = optuna.load_study(study_name=name, storage=get_storage(storage)).get_trials(states=(TrialState.RUNNING,))
            if {main.pid, other.pid} <= {worker_pid(t.user_attrs.get("worker", "")) for t in running}:
                break
            time.sleep(0.02)
        main.send_signal(signal.SIGINT)
        _, err = main.communicate(timeout=120)
        out, other_err = other.communicate(timeout=300)
    finally:
        for proc in (main, other):
            if proc.poll() is None:
                proc.kill()
    assert main.returncode == 130 and other.returncode == 0, (err[-2000:], other_err[-2000:])
    study, ostudy, runs = cells_and_runs(env, study_file, get_storage(storage))
    complete = Counter((t.user_attrs["arm"], t.user_attrs["seed"]) for t in ostudy.get_trials(states=(TrialState.COMPLETE,)))
    assert set(complete) == set(study.cells()) and set(complete.values()) == {1}
    [parent] = [r for r in runs if r.info.run_id == ostudy.user_attrs[STUDY_PARENT_RUN]]
    assert parent.info.status == "FINISHED", parent.info


def test_a_dead_workers_cells_are_trained_again_by_a_live_one(workdir, env):
    """Two workers on one journal storage; one is killed (SIGKILL) mid-training. The other keeps
    watching while trials run elsewhere, notices the dead one (its process is gone), fails its
    trials, enqueues their cells again and trains them: no `enqueue` needed, every cell ends with
    exactly one COMPLETE trial and one FINISHED run; the dead attempt's runs end KILLED
    (outcome WORKER_DIED) and the retries carry attempt 2."""
    spec = {**SLOW_STUDY, "name": "retry", "seeds": 2, "execution": {"population_size": 2}}
    study_file = write_study(workdir / "retry.yaml", spec)
    study = load_study(study_file)
    storage = f"journal:{workdir / 'optuna.journal'}"
    assert run_cli(["enqueue", "--study", "retry.yaml", "--storage", storage], cwd=workdir, env=env).returncode == 0
    # The survivor imports at once but starts only when let go (a worker's imports can take longer
    # than this grid). The victim is paused (SIGSTOP) while its trials are in training, the
    # survivor let go, and the victim killed once the survivor trains: the survivor then meets
    # the victim's trials while they look alive, and notices the death only later, by itself.
    victim = start(["worker", "--study", "retry.yaml", "--storage", storage], workdir, env)
    gate = workdir / "survivor-gate"
    survivor = start(["worker", "--study", "retry.yaml", "--storage", storage], workdir, env, gate=gate)
    name = optuna_study_name(study, study.plans[0])

    def trials(pid=None, with_run=True, states=(TrialState.RUNNING,)):
        ostudy = optuna.load_study(study_name=name, storage=get_storage(storage))
        return [t for t in ostudy.get_trials(states=states)
                if (pid is None or worker_pid(t.user_attrs.get("worker", "")) == pid)
                and (not with_run or "mlflow_run_id" in t.user_attrs)]

    deadline = time.time() + 120
    try:
        while True:
            assert time.time() < deadline, "the victim never had trials in training with cells left"
            if trials(victim.pid):
                victim.send_signal(signal.SIGSTOP)
                # stopped with trials in training, every popped trial named and linked to its run
                # (none between two of those writes), no write in progress, cells left to pop
                running, linked = trials(with_run=False), trials(victim.pid)
                if linked and len(linked) == len(running) and not mid_write(workdir) \
                        and trials(with_run=False, states=(TrialState.WAITING,)):
                    break
                victim.send_signal(signal.SIGCONT)
            time.sleep(0.02)
        gate.touch()
        while not trials(survivor.pid, with_run=False, states=None):
            assert time.time() < deadline, "the survivor never popped a cell"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
        out, err = survivor.communicate(timeout=300)
    finally:
        for proc in (victim, survivor):
            if proc.poll() is None:
                proc.kill()
    assert survivor.returncode == 0, err[-3000:]
    assert re.search(rf"cells? (?:is|are) enqueued again \(retry\.[^)]*\), left by [^:]+:{victim.pid}:\w+: worker died", out), out
    study, ostudy, runs = cells_and_runs(env, study_file, get_storage(storage))
    complete = Counter((t.user_attrs["arm"], t.user_attrs["seed"]) for t in ostudy.get_trials(states=(TrialState.COMPLETE,)))
    assert set(complete) == set(study.cells()) and set(complete.values()) == {1}
    trials = [r for r in runs if r.data.tags.get("kind") == "trial"]
    finished = Counter(r.info.run_name for r in trials if r.info.status == "FINISHED")
    assert len(finished) == len(study.cells()) and set(finished.values()) == {1}
    dead = [r for r in trials if r.info.status != "FINISHED"]
    assert dead and all(r.info.status == "KILLED" and r.data.tags.get("outcome") == "WORKER_DIED" for r in dead)
    retried = {r.info.run_name for r in trials if r.info.status == "FINISHED" and r.data.tags.get("attempt") == "2"}
    # every dead run's cell was trained again; so were the cells of a population the victim had
    # popped ahead but not opened runs for yet (their first attempt has no run)
    assert {r.info.run_name for r in dead} <= retried
    # each retry links the run of the attempt it replaced, where that attempt had one
    links = {r.info.run_name: r.data.tags.get("previous_attempt_run") for r in trials if r.data.tags.get("attempt") == "2"}
    assert {n: link for n, link in links.items() if link} == {r.info.run_name: r.info.run_id for r in dead}, links


def test_a_deleted_mlflow_store_beside_a_kept_journal_says_how_to_start_over(workdir, env):
    """A user who deletes mlflow.db to start afresh and keeps optuna.journal was told to "pass the
    --tracking-uri the enqueue used" (the one just deleted). Now: the store that held the runs is
    gone, the storage still holds the trials, and how to start over or go on; exit 2, nothing
    written. Deleting the journal too starts over."""
    write_study(workdir / "fresh.yaml", tiny_study_dict(name="fresh", seeds=2, epochs=1, arms=["none", "l2"],
                                                        datasets=[{"name": "wine"}]))
    env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}   # the defaults: mlflow.db, optuna.journal
    assert run_cli(["ablation", "--study", "fresh.yaml", "--no-report"], cwd=workdir, env=env).returncode == 0
    # the runs' files beside the store, not in the folder a command ran in (a packaging audit)
    assert MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").get_experiment_by_name("fresh").artifact_location == \
        str(workdir / "mlruns" / "fresh")
    # the store named as chosen: $MLFLOW_TRACKING_URI (mlflow run sets it), and the fix that fits an ablation
    moved = run_cli(["ablation", "--study", "fresh.yaml", "--no-report"], cwd=workdir,
                    env={**env, "MLFLOW_TRACKING_URI": "sqlite:///other.db"})
    assert moved.returncode == 2 and moved.stderr.strip() == (
        "error: $MLFLOW_TRACKING_URI = 'sqlite:///other.db': no MLflow store there, and the study's runs are in another "
        f"one (the study was started with the tracking store sqlite:///{workdir / 'mlflow.db'}); pass that store as "
        "--tracking-uri, or another --storage (-P storage= under mlflow run) to start the study afresh in this one"), \
        moved.stderr
    # the store moved away: its recorded place is empty too, so not "pass that store" (a re-verification)
    (workdir / "mlflow.db").rename(workdir / "moved.db")
    away = run_cli(["ablation", "--study", "fresh.yaml", "--no-report"], cwd=workdir,
                   env={**env, "MLFLOW_TRACKING_URI": "sqlite:///other.db"})
    assert away.returncode == 2 and "that store is not there either: if it was moved, pass its new place as " \
        "--tracking-uri" in away.stderr, away.stderr
    (workdir / "moved.db").rename(workdir / "mlflow.db")
    (workdir / "mlflow.db").unlink()
    again = run_cli(["ablation", "--study", "fresh.yaml", "--no-report"], cwd=workdir, env=env)
    assert again.returncode == 2 and "Traceback" not in again.stderr, again.stderr[-2000:]
    assert again.stderr.strip() == (
        "error: the MLflow store 'sqlite:///mlflow.db' that held this study's runs is gone, while the Optuna storage "
        "'journal:optuna.journal' still holds its trials: to start over, delete that storage too (or pass another "
        "--storage); to go on, put the store back"), again.stderr
    assert not (workdir / "mlflow.db").exists()
    (workdir / "optuna.journal").unlink()
    assert run_cli(["ablation", "--study", "fresh.yaml", "--no-report"], cwd=workdir, env=env).returncode == 0


def test_a_worker_started_before_its_enqueue_waits_for_it(workdir, env):
    """A script that starts the enqueue and the workers at once: the enqueue loads its data before it
    holds its lock, and the worker stopped with "create it first" (exit 2). It now waits for the
    study (up to $PIPELINE_JOIN_WAIT_S, saying so) and trains the grid; with no enqueue coming, the
    same one-line error once the wait is over."""
    write_study(workdir / "early.yaml", tiny_study_dict(name="early", seeds=2, epochs=1, arms=["none", "l2"],
                                                        datasets=[{"name": "wine"}]))
    (workdir / "optuna.journal").touch()   # the shared storage exists (a database would); the study not yet
    storage, tracking = f"journal:{workdir / 'optuna.journal'}", f"sqlite:///{workdir / 'early.db'}"
    common = ["--study", "early.yaml", "--storage", storage, "--tracking-uri", tracking]
    gone = run_cli(["worker", *common], cwd=workdir, env={**env, "PIPELINE_JOIN_WAIT_S": "0"})
    assert gone.returncode == 2 and gone.stderr.strip().endswith(
        "no Optuna study of it in the storage; create it first with: python -m pipeline enqueue ..."), gone.stderr[-2000:]

    def worker_then_enqueue() -> str:
        """A worker started first (it looks, finds nothing and waits: its imports take a few seconds),
        then the enqueue; the worker's output once it trained the grid."""
        worker = start(["worker", *common], workdir, {**env, "PIPELINE_JOIN_WAIT_S": "300"})
        try:
            time.sleep(8)
            assert worker.poll() is None
            assert run_cli(["enqueue", *common], cwd=workdir, env=env).returncode == 0
            out, err = worker.communicate(timeout=300)
        finally:
            worker.kill()
        assert worker.returncode == 0, err[-2000:]
        return out

    out = worker_then_enqueue()
    assert f"study 'early' is not in {storage} yet: waiting up to 300 s for its enqueue" in out, out[-2000:]
    assert re.search(r"\[wine\] worker \S+: trained 4, failed 0", out), out[-2000:]
    # the study file changed (epochs 2), its enqueue and workers started at once: the storage holds the
    # old configuration only, and the worker stopped at once; it says which settings differ and waits
    write_study(workdir / "early.yaml", tiny_study_dict(name="early", seeds=2, epochs=2, arms=["none", "l2"],
                                                        datasets=[{"name": "wine"}]))
    out = worker_then_enqueue()
    assert "differs in training.epochs 1 there, 2 here; run every worker with the study file, data and flags the enqueue " \
           "used; waiting up to 300 s in case the enqueue of this one is starting" in out, out[-2000:]
    assert re.search(r"\[wine\] worker \S+: trained 4, failed 0", out), out[-2000:]


def test_a_worker_that_is_not_the_enqueued_study_pops_nothing(workdir, env):
    """Mistakes a team makes starting workers, each one line and exit 2 before any cell is popped
    or any store created: no --tracking-uri (its runs would go to a new local mlflow.db), another
    --seeds (a worker trains only what is queued, so it would pass silently), another --epochs
    (another configuration). Then the right worker trains the grid."""
    write_study(workdir / "team.yaml", tiny_study_dict(name="team", seeds=2, epochs=1, arms=["none", "l2"],
                                                       datasets=[{"name": "wine"}]))
    storage, tracking = f"journal:{workdir / 'optuna.journal'}", f"sqlite:///{workdir / 'team.db'}"
    # another --epochs is waited for a while (its enqueue may be starting: the next test); not here
    env = {**{k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}, "PIPELINE_JOIN_WAIT_S": "0"}
    common = ["--study", "team.yaml", "--storage", storage]
    assert run_cli(["enqueue", *common, "--tracking-uri", tracking], cwd=workdir, env=env).returncode == 0
    study = load_study(workdir / "team.yaml")
    ostudy = optuna.load_study(study_name=optuna_study_name(study, study.plans[0]), storage=get_storage(storage))
    before = [(t.number, t.state) for t in ostudy.get_trials()]
    assert len(before) == 4 and {s for _, s in before} == {TrialState.WAITING}
    # a report now: the cells wait for workers, not "run the study first" (a distributed-tuning audit)
    early = run_cli(["report", "--study", "team.yaml", "--tracking-uri", tracking, "--no-pdf"], cwd=workdir, env=env)
    assert early.returncode == 1 and ("its cells are enqueued and wait for workers (its dataset runs are RUNNING); "
                                      "no report written: start workers") in early.stderr, early.stderr[-1500:]
    other = f"sqlite:///{workdir / 'other.db'}"   # another store, with an experiment 1 of its own
    MlflowClient(other).create_experiment("something else")
    guarded = _refusing_proxy()   # /health answers, the API wants credentials: not "a store without the runs"
    for flags, said in (
            (["--tracking-uri", guarded], f"--tracking-uri = '{guarded}': reading the study's parent run "
                                          f"{ostudy.user_attrs[STUDY_PARENT_RUN]} failed (PERMISSION_DENIED: "),
            (["--tracking-uri", guarded], "check the credentials MLflow sends (MLFLOW_TRACKING_USERNAME"),
            ([], "the default tracking store 'sqlite:///mlflow.db' (no --tracking-uri given, no $MLFLOW_TRACKING_URI set): "
                 f"no MLflow store there, and the study's runs are in another one (the study was started with the "
                 f"tracking store {tracking}); pass that store as --tracking-uri"),
            (["--tracking-uri", other], f"--tracking-uri = '{other}': this MLflow store does not hold the study's runs"),
            (["--tracking-uri", tracking, "--seeds", "1"],
             "dataset wine: the enqueued grid has seeds 0, 1 and arms l2, none (l2 at l2=0.001); this worker's study file "
             "and flags have seeds 0 and arms l2, none (l2 at l2=0.001): run every worker with the study file (its arms:, "
             "seeds: and strengths:) and the --seeds "
             "the enqueue used"),
            # which settings differ, not hashes alone (the enqueue recorded what its hash hashes)
            (["--tracking-uri", tracking, "--epochs", "3"], f"not this one ({load_study(workdir / 'team.yaml', epochs='3').plans[0].config_hash}"
                                                           f"): {study.plans[0].config_hash} differs in training.epochs 1 "
                                                           "there, 3 here; run every worker with the study file, data and "
                                                           "flags the enqueue used")):
        proc = run_cli(["worker", *common, *flags], cwd=workdir, env=env)
        assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert not (workdir / "mlflow.db").exists()
        ostudy = optuna.load_study(study_name=ostudy.study_name, storage=get_storage(storage))
        assert [(t.number, t.state) for t in ostudy.get_trials()] == before   # nothing popped
    # an enqueue as a status check, from another folder without --tracking-uri (or with another store):
    # refused before it rewrote the shared study's store and experiment (workers then wrote elsewhere)
    attrs = dict(ostudy.user_attrs)
    for flags, said in (([], "(no --tracking-uri given, no $MLFLOW_TRACKING_URI set): no MLflow store there"),
                        (["--tracking-uri", other], "this MLflow store does not hold the study's runs (its parent run "),
                        (["--tracking-uri", other], "pass that store as --tracking-uri, or another --storage (-P storage= "
                                                    "under mlflow run) to start the study afresh in this one")):
        proc = run_cli(["enqueue", *common, *flags], cwd=workdir, env=env)
        assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert not (workdir / "mlflow.db").exists()
        assert optuna.load_study(study_name=ostudy.study_name, storage=get_storage(storage)).user_attrs == attrs
    # another engine joins (the engine is not the configuration), with a note on what it risks
    reference = load_study(write_study(workdir / "ref.yaml", tiny_study_dict(
        name="team", seeds=2, epochs=1, arms=["none", "l2"], datasets=[{"name": "wine"}],
        execution={"engine": "reference"})))
    assert reference.plans[0].config_hash == study.plans[0].config_hash
    assert joining.another_engine(reference.plans[0], ostudy).startswith(
        "note: the enqueue's study file trains with engine population, this worker with reference")
    assert joining.another_engine(study.plans[0], ostudy) == ""
    proc = run_cli(["worker", *common, "--tracking-uri", tracking], cwd=workdir, env=env)
    assert proc.returncode == 0 and "note:" not in proc.stderr, proc.stderr[-2000:]
    assert re.search(r"\[wine\] worker \S+: trained 4, failed 0; 4 of the 4 cells enqueued so far are done "
                     r"\(all workers\)", proc.stdout), proc.stdout
    assert f"the report: python -m pipeline report --study team.yaml --tracking-uri {tracking}" in proc.stdout
    ostudy = optuna.load_study(study_name=ostudy.study_name, storage=get_storage(storage))
    assert [t.state for t in ostudy.get_trials()] == [TrialState.COMPLETE] * 4
    # enqueueing other settings says that they start another configuration beside this one
    proc = run_cli(["enqueue", *common, "--tracking-uri", tracking, "--epochs", "3"], cwd=workdir, env=env)
    assert proc.returncode == 0 and (f"note: [wine] settings (or a table file's contents) differ from the storage's earlier configuration(s) of "
                                     f"study 'team' ({study.plans[0].config_hash}): this one") in proc.stderr, proc.stderr
    assert re.search(rf"; {study.plans[0].config_hash} differs in training.epochs \d+ there, 3 here\n", proc.stderr), proc.stderr
    assert f"start workers with: python -m pipeline worker --study team.yaml --epochs 3 --storage {storage}" in proc.stdout
    typo = run_cli(["worker", "--study", "team.yaml", "--storage", "journal:typo.journal", "--tracking-uri", tracking],
                   cwd=workdir, env=env)
    assert typo.returncode == 2 and "no such journal file" in typo.stderr and not (workdir / "typo.journal").exists()
    typo = run_cli(["worker", "--study", "team.yaml", "--storage", "sqlite:///typo.db", "--tracking-uri", tracking],
                   cwd=workdir, env=env)   # an empty SQLite file was left behind
    assert typo.returncode == 2 and "no such SQLite file" in typo.stderr and not (workdir / "typo.db").exists()


def test_a_worker_goes_back_to_a_dataset_whose_cells_a_stopped_worker_left(workdir, env, capsys):
    """A worker that went through a dataset and moved on kept watching it only while another
    worker trained there: cells a SIGTERM left behind (FAIL, interrupted) or that an `enqueue`
    put back (WAITING) were stranded, and the worker said "no cell is left to train here". It
    now goes back to them; cells whose retries are spent are named, once, with what to do. Only
    attempts that trained spend retries: stops, and deaths before training (a popped-ahead
    population), never give a cell up."""
    from pipeline import lifecycle
    from pipeline.orchestrate import _still_open, finish_dataset, run_worker_loop
    from pipeline.preparation import prepare

    write_study(workdir / "left.yaml", tiny_study_dict(name="left", seeds=2, arms=["none", "l2"]))
    study = load_study(workdir / "left.yaml")
    storage = f"journal:{workdir / 'optuna.journal'}"
    ctx, data = prepare(study, storage, env["MLFLOW_TRACKING_URI"])
    ostudies = [optuna.load_study(study_name=optuna_study_name(study, p), storage=get_storage(storage))
                for p in study.plans]

    def stopped(ostudy, outcome=lifecycle.Outcome.INTERRUPTED, trained=False):
        """Pop every waiting cell as another worker and fail it as a SIGTERM (or a reaped death,
        while training or before) leaves it."""
        for trial, *_ in grid.pop_cells(ostudy, 10):
            grid.set_attrs(ostudy, trial._trial_id, {"worker": "elsewhere:1:x", "outcome": outcome.name,
                                                     "fail_reason": outcome.reason,
                                                     **({"training_started": True} if trained else {})})
            ostudy.tell(trial, state=TrialState.FAIL)

    # synthetic_linear (max_retries 1): stopped twice and dead twice before training, still retried;
    # dead twice while training: given up on, said once, not watched
    digits, linear = study.plans
    for outcome in (lifecycle.Outcome.INTERRUPTED, lifecycle.Outcome.WORKER_DIED) * 2:
        stopped(ostudies[1], outcome)
        assert _still_open(ctx, linear, data[linear.label])   # enqueued again: 4 waiting
        assert "gave up" not in capsys.readouterr().out
    stopped(ostudies[1], lifecycle.Outcome.WORKER_DIED, trained=True)
    assert _still_open(ctx, linear, data[linear.label])
    stopped(ostudies[1], lifecycle.Outcome.WORKER_DIED, trained=True)
    assert not _still_open(ctx, linear, data[linear.label])
    out = capsys.readouterr().out
    assert re.search(r"gave up on 4 cells \(left\.synthetic_linear\.\S+: l2/seed0@l2=0\.001, l2/seed1@l2=0\.001, none/seed0, "
                     r"none/seed1\): 2 attempts each failed in training \(an error, or its worker died while training it\); raise "
                     r"max_retries", out), out
    assert not _still_open(ctx, linear, data[linear.label]) and "gave up" not in capsys.readouterr().out

    # digits: interrupted once, after this worker (say) went through it: no trial runs elsewhere and
    # none waits, which is all the watch looked at; the cells are enqueued again and trained here
    stopped(ostudies[0])
    assert not grid.others_running(ostudies[0]) and not grid.has_waiting(ostudies[0])
    # a worker done with its own cells closes the parent only once none is due for a retry: closed
    # before these are enqueued again, a report built meanwhile recorded a verdict without them
    finish_dataset(ctx, digits, data[digits.label])
    parent = ostudies[0].user_attrs["mlflow_parent_run_id"]
    assert ctx.tracker._client.get_run(parent).info.status == "RUNNING"
    assert "4 cells are enqueued again" in capsys.readouterr().out
    assert _still_open(ctx, digits, data[digits.label])
    run_worker_loop(ctx, data)
    assert grid.cells_done(ostudies[0]) == (4, 4) and grid.cells_done(ostudies[1]) == (0, 4)
    assert ctx.tracker._client.get_run(parent).info.status == "FINISHED"


def test_a_call_that_trained_is_never_taken_for_an_empty_rerun(workdir, env, capsys):
    """`ablation` deletes its root run only when the call trained nothing: cells trained under
    parents an earlier `enqueue` left open give the new root no child run, yet it trained. Waiting
    cells of a dataset without a parent run do not keep a worker waiting forever."""
    from pipeline.answering import discard_empty_root
    from pipeline.orchestrate import _ended_trials, _still_open, run_ablation
    from pipeline.preparation import prepare

    write_study(workdir / "twice.yaml", tiny_study_dict(name="twice", seeds=1, arms=["none", "l2"],
                                                         datasets=[{"name": "wine"}]))
    study = load_study(workdir / "twice.yaml")
    storage = f"journal:{workdir / 'optuna.journal'}"
    tracking = env["MLFLOW_TRACKING_URI"]
    ctx, data = prepare(study, storage, tracking)   # as `enqueue`: the parent stays open for workers
    ostudy = optuna.load_study(study_name=optuna_study_name(study, study.plans[0]), storage=get_storage(storage))
    ostudy.set_user_attr("mlflow_parent_run_id", None)   # as a parent whose creation failed: nothing to wait for
    assert grid.has_waiting(ostudy) and not _still_open(ctx, study.plans[0], data["wine"])
    ostudy.set_user_attr("mlflow_parent_run_id", ctx.tracker._client.search_runs(
        [ctx.experiment_id], "tags.kind = 'dataset'")[0].info.run_id)
    first = run_ablation(study, storage, tracking)
    assert not first.trained_nothing and grid.cells_done(ostudy) == (2, 2)
    discard_empty_root(first)
    assert ctx.tracker._client.get_run(first.root_id).info.lifecycle_stage == "active"   # it trained: kept
    again = run_ablation(study, storage, tracking)
    assert again.trained_nothing
    # an enqueue retiring a waiting cell meanwhile (another strength's) trains nothing either
    ended = _ended_trials(again, data)
    grid.enqueue_missing(ostudy, [("l2", 0, "l2=0.5")], 0, lambda t: True)
    assert grid.retire_unlisted(ostudy, set(), ostudy.get_trials(deepcopy=False)) == [("l2", 0, "l2=0.5")]
    assert _ended_trials(again, data) == ended
    discard_empty_root(again)
    assert ctx.tracker._client.get_run(again.root_id).info.lifecycle_stage == "deleted"
    assert "this call added no run to MLflow" in capsys.readouterr().err


def test_processes_opening_a_fresh_postgresql_storage_at_once_all_open_it(tmp_path, postgres):
    """Eight processes creating Optuna's tables in an empty database at the same moment (a Kubernetes
    Job's pods, each running enqueue): the slower CREATEs collide (a unique violation in PostgreSQL's
    catalog), which failed an enqueue with "cannot open the Optuna storage"; each one opens it."""
    gate = tmp_path / "go"
    script = ("import os, sys, time\n"
              "from pipeline.storage import get_storage\n"
              f"while not os.path.exists({str(gate)!r}): time.sleep(0.005)\n"
              f"get_storage({postgres + '/optuna'!r}).get_all_studies()\n")
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    time.sleep(8)   # every process imported and waiting at the gate
    gate.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-1500:] for e in errors if e]


def test_a_silent_workers_other_population_is_taken_over_with_the_first(tmp_path):
    """A worker holds two populations (one training, one popped ahead), each beating on its own
    clock. Once one has been silent past the grace period, the worker is gone: its other
    population, two beats missed but not yet the grace period, was taken over half a minute later
    in a second round (a QA audit: +10 s, then +41 s). Now both at once; another worker's trials
    as silent as that second population, and the dead worker's population that still beats, stay."""
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = get_storage(url)
    ostudy = optuna.create_study(study_name="beats", storage=storage)
    trials = {}
    for name, worker, silent_s in (("training", "elsewhere:1:a", 40), ("ahead", "elsewhere:1:a", 20),
                                   ("beating", "elsewhere:1:a", 0), ("other", "elsewhere:2:b", 20)):
        trials[name] = ostudy.ask()
        storage.set_trial_user_attr(trials[name]._trial_id, "worker", worker)
        storage.record_heartbeat(trials[name]._trial_id)
        with storage.engine.begin() as conn:   # its last beat, silent_s ago by the database's clock
            conn.execute(sqlalchemy.text(f"UPDATE trial_heartbeats SET heartbeat = datetime('now', '-{silent_s} seconds') "
                                         f"WHERE trial_id = {trials[name]._trial_id}"))
    dead = sorted(t.number for t in liveness.dead_trials(ostudy))
    assert dead == sorted(trials[n].number for n in ("training", "ahead"))


def test_silence_while_the_storage_was_away_is_no_sign_of_death(tmp_path, capsys, monkeypatch):
    """Nobody can beat while the database is away: after an outage longer than the grace period,
    a live worker's trials look dead to a worker that polls the moment it is back, which failed
    them and trained their cells twice. Silence now counts only from when this process saw the
    storage answer again; a trial silent that long since then is dead."""
    import sqlalchemy

    from pipeline.runtime import worker_id

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = get_storage(url)
    ostudy = optuna.create_study(study_name="beats", storage=storage)
    monkeypatch.setattr(liveness, "SECOND_LOOK_S", 0.1)   # every trial silent: the second look (see the next test) finds it silent too
    trial = ostudy.ask()
    storage.set_trial_user_attr(trial._trial_id, "worker", worker_id())   # a live process: this one
    storage.record_heartbeat(trial._trial_id)
    with storage.engine.begin() as conn:   # its last beat, 45 s ago by the database's clock
        conn.execute(sqlalchemy.text("UPDATE trial_heartbeats SET heartbeat = datetime('now', '-45 seconds')"))
    assert [t.number for t in liveness.dead_trials(ostudy)] == [trial.number]

    # the storage did not answer for 40 s, as a call of this process saw it, and answers again
    outage = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    storage.outage.failed(url, outage, time.monotonic() - 40, 1)
    assert liveness.answering_for(ostudy) == 0
    # its next call is answered: 45 s silent, but only ~0 s of it while the storage answered
    assert liveness.dead_trials(ostudy) == []
    out = capsys.readouterr().out
    assert "the Optuna storage does not answer (OperationalError:" in out and "answers again (after 40 s)" in out, out
    assert 0 < liveness.answering_for(ostudy) < 5
    storage.outage.ended -= GRACE_S + 1     # as if it had answered for longer than the grace period
    assert [t.number for t in liveness.dead_trials(ostudy)] == [trial.number]


def test_a_worker_that_starts_after_an_outage_looks_twice_before_reaping(tmp_path, monkeypatch):
    """A worker started right after a long outage saw none itself, and every trial's last beat
    is older than the grace period: it failed live workers' trials. With every trial silent it
    now reads the heartbeats again a little later (SECOND_LOOK_S, shortened here); a trial whose
    worker beat again by then is alive, the other is dead."""
    import threading

    import sqlalchemy

    from pipeline.runtime import worker_id

    monkeypatch.setattr(liveness, "SECOND_LOOK_S", 1.5)
    storage = get_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    ostudy = optuna.create_study(study_name="after", storage=storage)
    alive, dead = ostudy.ask(), ostudy.ask()
    for t in (alive, dead):
        storage.set_trial_user_attr(t._trial_id, "worker", worker_id())
        storage.record_heartbeat(t._trial_id)
    with storage.engine.begin() as conn:   # both silent for 45 s: the database was away
        conn.execute(sqlalchemy.text("UPDATE trial_heartbeats SET heartbeat = datetime('now', '-45 seconds')"))
    assert storage.outage.ended is None   # this process saw no outage
    beat = threading.Timer(0.3, storage.record_heartbeat, args=(alive._trial_id,))   # its worker's next beat
    beat.start()
    try:
        assert [t.number for t in liveness.dead_trials(ostudy)] == [dead.number]
    finally:
        beat.join()
    # one trial beats, so the storage is writable: the silent one is dead without a second look (a
    # negative sleep would raise)
    monkeypatch.setattr(liveness, "SECOND_LOOK_S", -1.0)
    assert [t.number for t in liveness.dead_trials(ostudy)] == [dead.number]


def test_a_run_mlflow_created_twice_is_closed_as_a_duplicate(workdir, env, monkeypatch):
    """MLflow's HTTP client retries a request whose answer was lost, so a trial's run can be
    created twice: one linked to the trial, one left RUNNING. Once the trial has ended, the
    reaper closes the stray run KILLED as a DUPLICATE naming the trial's own run (it was closed
    as a worker that died, which no worker did); the cell keeps its one FINISHED run."""
    from pipeline import lifecycle
    from pipeline.train import train

    monkeypatch.chdir(workdir)
    study, ctx, splits, ostudy, cells = a_worker_in_process(workdir, env, "twice")
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    [(trial, arm, seed, _)] = grid.pop_cells(ostudy, 1)
    born = cells.born(trial, arm, seed)
    [named] = lifecycle.open_runs(ctx.tracker, ctx.experiment_id, [born])
    stray = ctx.tracker.start_trial(ctx.experiment_id, born.run)   # the same create, made again
    assert lifecycle.end(ctx.tracker, [lifecycle.cell_ending(named, train(named.payload, splits), 1.0)]) == [True]
    assert lifecycle.reap(ostudy, ctx.tracker) == 0   # no trial died
    run = client.get_run(stray)
    assert run.info.status == "KILLED" and run.data.tags["outcome"] == "DUPLICATE", run.data.tags
    assert run.data.tags["fail_reason"].startswith(f"a second run of this trial, whose own run is {named.run_id} ")
    assert client.get_run(named.run_id).info.status == "FINISHED"
    assert [t.state for t in ostudy.get_trials() if t.number == trial.number] == [TrialState.COMPLETE]


def test_a_distributed_studys_report_stores_and_prints_the_side_by_side_view(workdir, env):
    """enqueue + worker + report: the report is what records a distributed study's verdicts, so it
    also stores the parents' numbers side by side as a shared view and prints its link, as
    `ablation` does (a distributed study had the verdict tags and metrics but never that view)."""
    write_study(workdir / "d.yaml", tiny_study_dict(name="dist", arms=["none", "l2"], seeds=2, epochs=3))
    storage = ["--storage", f"journal:{workdir / 'optuna.journal'}"]
    for command in ("enqueue", "worker"):
        proc = run_cli([command, "--study", "d.yaml", *storage], cwd=workdir, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
    report = run_cli(["report", "--study", "d.yaml", "--no-pdf"], cwd=workdir, env=env)
    assert report.returncode == 0, report.stderr[-2000:]
    link = next((line for line in report.stdout.splitlines() if line.startswith("Each dataset's differences to none")),
                None)
    assert link is not None, report.stdout[-2000:]
    key = re.search(r"viewStateShareKey=([\w-]+)", link).group(1)
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("dist")
    assert f"mlflow.sharedViewState.{key}" in client.get_experiment(exp.experiment_id).tags
    # a view (--seeds) records nothing, and prints no link to the study's verdicts
    view = run_cli(["report", "--study", "d.yaml", "--seeds", "1", "--no-pdf"], cwd=workdir, env=env)
    assert view.returncode == 0 and "Each dataset's differences" not in view.stdout, view.stderr[-2000:]


def test_enqueue_says_which_cells_in_training_have_gone_silent(workdir, env):
    """enqueue as a status check said "15 in training" for the cells of a worker killed seconds
    before (RUNNING until a live worker takes them over): it now says how many of them come from
    a worker whose heartbeat went silent, and for how long."""
    import sqlalchemy

    write_study(workdir / "q.yaml", tiny_study_dict(name="quiet", seeds=2, epochs=2, datasets=[{"name": "wine"}]))
    url = f"sqlite:///{workdir / 'optuna.db'}"
    first = run_cli(["enqueue", "--study", "q.yaml", "--storage", url], cwd=workdir, env=env)
    assert first.returncode == 0 and "waiting;" in first.stdout and "in training" not in first.stdout, first.stdout
    storage = get_storage(url)
    [name] = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    ostudy = optuna.load_study(study_name=name, storage=storage)
    popped = ostudy.get_trials(states=(TrialState.WAITING,))[:2]
    for t in popped:   # a worker on another machine popped them; one of its trials' beats went quiet
        storage.set_trial_state_values(t._trial_id, TrialState.RUNNING)
        storage.set_trial_user_attr(t._trial_id, "worker", "elsewhere:123:abcd")
        storage.record_heartbeat(t._trial_id)
    with storage.engine.begin() as conn:   # 20 s: two beats missed, not yet the grace period's 30
        conn.execute(sqlalchemy.text(f"UPDATE trial_heartbeats SET heartbeat = datetime('now', '-20 seconds') "
                                     f"WHERE trial_id = {popped[0]._trial_id}"))
    again = run_cli(["enqueue", "--study", "q.yaml", "--storage", url], cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert re.search(r", 2 in training \(1 of them by a worker silent for 2\d s: dead or cut off, a live worker takes "
                     r"them over\); start workers with", again.stdout), again.stdout
    # past the grace period the enqueue takes it over itself: said, not a count that changed silently
    with storage.engine.begin() as conn:
        for t, silent_s in zip(popped, (GRACE_S + 5, 15)):
            conn.execute(sqlalchemy.text(f"UPDATE trial_heartbeats SET heartbeat = datetime('now', '-{silent_s} seconds') "
                                         f"WHERE trial_id = {t._trial_id}"))
    taken = run_cli(["enqueue", "--study", "q.yaml", "--storage", url], cwd=workdir, env=env)
    assert taken.returncode == 0, taken.stderr[-2000:]
    # both: once one of its trials is silent past the grace period, its worker's others that missed two beats go too
    assert "; 2 cells in training by a worker that died or is cut off were taken over (enqueued again, or completed " \
           "from their finished runs)" in taken.stdout, taken.stdout
    assert "\n10 cells waiting; start workers with" in taken.stdout, taken.stdout


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_workers_pop_an_sql_queue_each_cell_once_reading_ids_not_the_queue(database, request, tmp_path):
    """Optuna's pop builds every waiting trial (params, attributes) before it takes one: ~1 s a pop
    from a queue of 3,000 cells on PostgreSQL, so a worker of a 2,500-cell study had trained 1,740
    after 20 minutes (57 ms a cell with the pop below: benchmarks/bench.py part 6p). The pop now
    reads ids and takes the oldest: the rows it reads do not grow with the queue, and four
    workers popping at once still get each cell exactly once; on SQLite too, which ignores the
    row lock Optuna's move relies on (a review: 77 of 300 cells popped twice by 4 processes)."""
    import threading

    import sqlalchemy

    from pipeline import lifecycle

    url = f"{request.getfixturevalue('postgres')}/optuna" if database == "postgresql" else f"sqlite:///{tmp_path / 'o.db'}"
    storage = get_storage(url)
    ostudy = optuna.create_study(study_name="queue", storage=storage)
    cells = [(arm, seed) for arm in grid.ARM_PARAM_CHOICES for seed in range(60)]
    grid.enqueue_missing(ostudy, cells, 1, lifecycle.spent_attempt)
    rows_read = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and cursor.rowcount > 0:
            rows_read.append(cursor.rowcount)

    sqlalchemy.event.listen(storage.engine, "after_cursor_execute", count)
    try:
        first = grid.pop_cells(ostudy, 10)
        assert grid.has_waiting(ostudy) and grid.busy(ostudy)
    finally:
        sqlalchemy.event.remove(storage.engine, "after_cursor_execute", count)
    assert len(first) == 10
    # ~11 rows a cell (its id, its row locked, the trial read back); Optuna's pop read the queue
    # (300 trials, their params and attributes) for each of the 10
    assert sum(rows_read) < len(cells) / 2, f"a pop of 10 from a queue of {len(cells)} read {sum(rows_read)} rows"

    popped, start = {i: [] for i in range(4)}, threading.Barrier(4, timeout=120)

    def work(i: int) -> None:
        start.wait()
        while got := grid.pop_cells(ostudy, 7):
            popped[i] += [(t._trial_id, arm, seed) for t, arm, seed, _ in got]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [(t._trial_id, arm, seed) for t, arm, seed, _ in first] + [p for ps in popped.values() for p in ps]
    assert Counter(tid for tid, _, _ in everything).most_common(1)[0][1] == 1, "a trial was popped twice"
    assert sorted((arm, seed) for _, arm, seed in everything) == sorted(cells)
    assert sum(bool(ps) for ps in popped.values()) >= 2, "one worker popped everything: no contention tested"
    assert not grid.has_waiting(ostudy) and grid.busy(ostudy)


@pytest.mark.parametrize("database", ["journal", "sqlite"])
def test_retiring_waiting_cells_leaves_one_a_worker_popped_meanwhile_to_it(database, tmp_path):
    """An enqueue retires the waiting cells its study file no longer lists while a worker of the
    earlier file may still pop them: what it read as waiting and a worker popped since is that
    worker's (RUNNING, unnamed by the retirement), the others end FAIL as RETIRED, nothing popped twice."""
    from pipeline import lifecycle
    from pipeline.runtime import worker_id

    url = f"journal:{tmp_path / 'o.journal'}" if database == "journal" else f"sqlite:///{tmp_path / 'o.db'}"
    ostudy = optuna.create_study(study_name="retire", storage=get_storage(url))
    grid.enqueue_missing(ostudy, [("l2", seed, "l2=0.001") for seed in range(4)], 1, lifecycle.spent_attempt)
    read = ostudy.get_trials(deepcopy=False)   # the enqueue's read, before the worker's pop
    [(popped, *_)] = grid.pop_cells(ostudy, 1)
    retired = grid.retire_unlisted(ostudy, {("l2", seed, "l2=0.01") for seed in range(4)}, read)
    trials = {t.number: t for t in optuna.load_study(study_name="retire", storage=get_storage(url)).get_trials()}
    assert trials[popped.number].state == TrialState.RUNNING and "outcome" not in trials[popped.number].user_attrs
    assert sorted(retired) == sorted(grid.cell_of(t) for n, t in trials.items() if n != popped.number)
    assert all(t.state == TrialState.FAIL and grid.retired(t) and t.user_attrs["worker"] == worker_id()
               for n, t in trials.items() if n != popped.number)
    assert grid.pop_cells(ostudy, 4) == []


def test_retiring_on_an_sql_storage_ends_each_cell_as_it_takes_it(tmp_path, monkeypatch):
    """On an SQL storage every stale cell was taken (RUNNING, unnamed) before the first was ended: a
    retirement of hundreds, a write each, left the last ones nameless for many seconds (28 s for 300
    on a busy SQLite), and a live worker's reaper reads a trial nameless past ORPHAN_S as a dead
    worker's orphan (it found 195 of 1000 so). Each is now ended right after it is taken."""
    from pipeline import lifecycle

    ostudy = optuna.create_study(study_name="retire", storage=get_storage(f"sqlite:///{tmp_path / 'o.db'}"))
    grid.enqueue_missing(ostudy, [("l2", seed, "l2=0.001") for seed in range(6)], 1, lifecycle.spent_attempt)
    nameless, set_attrs = [], grid.set_attrs

    def counting(o, tid, attrs):   # what a reaper reads as the retirement names each trial
        nameless.append(len(liveness._nameless(grid.trials_in(o, (TrialState.RUNNING,)))))
        return set_attrs(o, tid, attrs)

    monkeypatch.setattr(grid, "set_attrs", counting)
    retired = grid.retire_unlisted(ostudy, set(), ostudy.get_trials(deepcopy=False))
    assert len(retired) == 6 and nameless == [1] * 6, nameless
    assert all(grid.retired(t) and t.state == TrialState.FAIL for t in ostudy.get_trials())


def _sql_storage(database: str, request, tmp_path):
    url = f"{request.getfixturevalue('postgres')}/optuna" if database == "postgresql" else f"sqlite:///{tmp_path / 'o.db'}"
    return url, get_storage(url)


def _as_read(trials) -> list[tuple]:
    """What a reader sees of each trial, by number."""
    return [(t.number, t.state, t.params, t.distributions, t.user_attrs, t.system_attrs, t.datetime_start,
             t.datetime_complete, t.values, t.intermediate_values) for t in sorted(trials, key=lambda t: t.number)]


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_cells_enqueued_together_read_back_as_optunas_one_by_one(database, request, tmp_path):
    """Optuna's add_trial is a transaction of its own (~15 statements): enqueueing 2,500 cells took
    44 s on a local PostgreSQL (benchmarks/bench.py part 6p). The cells are now written ADD_CHUNK to a
    transaction of a few statements: read back through Optuna they are the trials its own add_trial
    writes (numbers, params and distributions, attributes, state, datetimes), numbered 0..n-1 also
    while another process adds trials to the study at once through Optuna."""
    import datetime
    import threading

    import sqlalchemy
    from optuna.distributions import FloatDistribution

    from pipeline import lifecycle

    url, storage = _sql_storage(database, request, tmp_path)
    cells = [grid._waiting_cell(arm, seed, {"cell": f"{arm}/seed{seed}", "arm": arm, "seed": seed, "attempt": 1})
             for arm in ("none", "l2", "a_new_arm") for seed in range(4)]
    started = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901)
    odd = [optuna.trial.create_trial(state=TrialState.WAITING, params={"lr": 0.01}, system_attrs={"fixed_params": {"x": 1}},
                                     distributions={"lr": FloatDistribution(1e-4, 1.0, log=True)}, user_attrs={"n": [1, 2]}),
           optuna.trial.create_trial(state=TrialState.FAIL, params={}, distributions={}, user_attrs={},
                                     )]
    odd[1].datetime_start, odd[1].datetime_complete = started, started + datetime.timedelta(seconds=3)
    one_by_one = optuna.create_study(study_name="one_by_one", storage=storage)
    for t in cells + odd:
        one_by_one.add_trial(t)
    together = optuna.create_study(study_name="together", storage=storage)
    commits, statements = [], []
    sqlalchemy.event.listen(storage.engine, "commit", lambda conn: commits.append(threading.get_ident()))
    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    storage_module.add_trials(together, cells + odd)
    assert len(commits) == 1, f"{len(commits)} transactions for {len(cells + odd)} trials"
    if database == "postgresql":   # on SQLite SQLAlchemy inserts the trials' rows one by one (in-process calls)
        assert len(statements) <= 8, statements
    reread = {name: optuna.load_study(study_name=name, storage=storage).get_trials() for name in ("one_by_one", "together")}
    assert _as_read(reread["together"]) == _as_read(reread["one_by_one"])
    assert [t.number for t in reread["together"]] == list(range(len(cells + odd)))

    # a grid of 1,200 cells: 3 transactions (ADD_CHUNK), whatever another writer adds to the study meanwhile
    grid_study = optuna.create_study(study_name="grid", storage=storage)
    other = threading.Thread(target=lambda: [optuna.load_study(study_name="grid", storage=storage).enqueue_trial(
        {"x": i}, user_attrs={"other": i}) for i in range(40)])
    commits.clear()
    statements.clear()
    other.start()
    added, _ = grid.enqueue_missing(grid_study, [(arm, s) for arm in grid.ARM_PARAM_CHOICES for s in range(240)], 1,
                                    lifecycle.spent_attempt)
    other.join()
    # Optuna's read of the study's trials (its reads commit too), then one transaction per ADD_CHUNK cells
    assert added == 1200 and commits.count(threading.get_ident()) == 1 + 3
    trials = optuna.load_study(study_name="grid", storage=storage).get_trials()
    assert sorted(t.number for t in trials) == list(range(1240)), "a number given twice, or one skipped"
    assert [t.number for t in sorted(trials, key=lambda t: t._trial_id)] == list(range(1240)), "numbered out of order"
    assert Counter(grid.cell_of(t) for t in trials if grid.cell_of(t)).most_common(1)[0][1] == 1
    assert len(grid.pop_cells(grid_study, 1240)) == 1200   # the pop takes them (the others are not grid cells)


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_an_enqueue_cut_off_mid_way_is_written_whole_once_or_not_at_all(database, request, tmp_path):
    """An enqueue's transaction cut off after its trials' rows were written: a lost connection (the
    database restarted; here its server process ended) is retried and writes each cell once; any
    other error leaves nothing of it. A try whose commit went through but whose answer was lost
    (PostgreSQL) is not written again: its retry finds the trials it had inserted."""
    import sqlite3

    import sqlalchemy

    from pipeline import lifecycle

    url, storage = _sql_storage(database, request, tmp_path)
    cells = [(arm, seed) for arm in grid.ARM_PARAM_CHOICES for seed in range(20)]
    admin = sqlalchemy.create_engine(url, poolclass=NullPool)
    failures = []

    def cut(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO trial_user_attributes") and failures:
            error = failures.pop()
            if error == "lost" and database == "postgresql":   # the server ends the session, as a restart does
                with admin.connect() as other:
                    assert other.execute(sqlalchemy.text("SELECT pg_terminate_backend(:pid, 10000)"),
                                         {"pid": conn.connection.dbapi_connection.info.backend_pid}).scalar()
            else:
                raise sqlite3.OperationalError("disk I/O error") if error == "lost" else RuntimeError("a bug")

    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", cut)
    ostudy = optuna.create_study(study_name="cut", storage=storage)
    failures.append("bug")
    with pytest.raises(RuntimeError, match="a bug"):
        grid.enqueue_missing(ostudy, cells, 1, lifecycle.spent_attempt)
    assert optuna.load_study(study_name="cut", storage=storage).get_trials() == [], "half an enqueue written"
    failures.append("lost")
    assert grid.enqueue_missing(ostudy, cells, 1, lifecycle.spent_attempt)[0] == 100
    assert not failures, "the connection was not cut"
    trials = optuna.load_study(study_name="cut", storage=storage).get_trials()
    assert sorted(grid.cell_of(t)[:2] for t in trials) == sorted(cells), "a cell missing or written twice"
    assert sorted(t.number for t in trials) == list(range(100))
    if database == "postgresql":   # the retry of a try that committed, its answer lost: nothing more
        tried: list[int] = []
        more = [grid._waiting_cell("l2", 99, {"arm": "l2", "seed": 99})]
        storage._add_chunk(ostudy._study_id, more, tried)
        storage._add_chunk(ostudy._study_id, more, tried)
        assert len(optuna.load_study(study_name="cut", storage=storage).get_trials()) == 101
    admin.dispose()


def test_an_enqueue_checks_distributions_inside_its_transaction_on_sqlite(tmp_path):
    """SQLite's transaction (its write lock) starts at the first insert: the distribution check,
    made before it, let another writer add `seed` as a float in between, and the study then held
    two kinds for one name (Optuna's next add_trial refused it; a review). Checked after the
    insert now, as Optuna checks: the enqueue is refused whole."""
    import sqlalchemy
    from optuna.distributions import FloatDistribution

    from pipeline import lifecycle

    url = f"sqlite:///{tmp_path / 'o.db'}"
    storage = get_storage(url)
    ostudy = optuna.create_study(study_name="d", storage=storage)
    other = optuna.storages.RDBStorage(url)   # another process's storage: its own connection
    fired = []

    def between(conn, cursor, statement, *rest):
        if statement.startswith("INSERT INTO trials") and not fired:
            fired.append(1)
            optuna.load_study(study_name="d", storage=other).add_trial(optuna.trial.create_trial(
                state=TrialState.WAITING, params={"seed": 0.5}, distributions={"seed": FloatDistribution(0, 1)}))

    sqlalchemy.event.listen(storage.engine, "before_cursor_execute", between)
    with pytest.raises(ValueError, match="different distribution kind"):
        grid.enqueue_missing(ostudy, [("l2", 1)], 1, lifecycle.spent_attempt)
    assert fired and len(optuna.load_study(study_name="d", storage=other).get_trials()) == 1   # the other's alone


def test_a_worker_paused_inside_a_transaction_holds_no_other_worker_up(postgres, monkeypatch):
    """A worker paused, or cut off by a network partition, in the middle of a transaction (popping
    a trial: its row locked) held up every other worker's write to that trial until it came back,
    or until TCP gave up on it (hours). PostgreSQL now ends a session of ours idle inside a
    transaction after IDLE_IN_TRANSACTION_S (1 s here): the other write goes through."""
    from concurrent.futures import ThreadPoolExecutor

    import sqlalchemy

    from pipeline import storage

    monkeypatch.setattr(storage, "IDLE_IN_TRANSACTION_S", 1.0)
    optuna_storage = get_storage(f"{postgres}/optuna")
    ostudy = optuna.create_study(study_name="locks", storage=optuna_storage)
    ostudy.enqueue_trial({"x": 1})
    [waiting] = ostudy.get_trials(states=(TrialState.WAITING,))
    paused = optuna_storage.engine.connect()   # the paused worker, stopped holding the trial's row lock
    transaction = paused.begin()
    paused.execute(sqlalchemy.text("SELECT * FROM trials WHERE trial_id = :t FOR UPDATE"), {"t": waiting._trial_id})
    with ThreadPoolExecutor(1) as other:
        try:
            popped = other.submit(optuna_storage.set_trial_state_values, waiting._trial_id, TrialState.RUNNING)
            assert popped.result(timeout=20), "the other worker did not get the trial"
        finally:
            try:
                transaction.rollback()   # without the limit: lets the other worker go on
            except sqlalchemy.exc.DBAPIError:
                pass   # the server ended the paused session
            paused.close()
    assert [t.state for t in ostudy.get_trials()] == [TrialState.RUNNING]


def test_an_enqueue_lock_holder_frozen_with_it_holds_the_others_up_for_seconds_not_hours(postgres, monkeypatch):
    """The enqueue lock (a PostgreSQL session advisory lock) that every enqueue and every takeover
    of a dead worker's cells takes: a holder frozen with it (SIGSTOP here; a suspended laptop or a
    network cut alike) kept its session, so every other worker waited until TCP gave up (hours).
    The server now ends a lock session that says nothing for LOCK_IDLE_S, and a live holder pings
    it: one that works longer than that keeps the lock."""
    import threading

    from pipeline import enqueue_lock
    from pipeline.enqueue_lock import exclusive

    url = f"{postgres}/optuna"
    with get_storage(url).engine.connect() as conn:
        from sqlalchemy import text

        if int(conn.execute(text("SHOW server_version_num")).scalar()) < 140000:
            pytest.skip("idle_session_timeout needs PostgreSQL 14 or later")
    monkeypatch.setattr(enqueue_lock, "LOCK_IDLE_S", 2.0)
    monkeypatch.setattr(enqueue_lock, "LOCK_PING_S", 0.5)
    script = ("import os, signal, sys, time\nfrom pipeline import enqueue_lock\n"
              "enqueue_lock.LOCK_IDLE_S, enqueue_lock.LOCK_PING_S = 2.0, 0.5\n"
              f"with enqueue_lock.exclusive({url!r}, 'locked'):\n"
              "    print('held', flush=True)\n"
              "    os.kill(os.getpid(), signal.SIGSTOP) if sys.argv[1] == 'freeze' else time.sleep(5)\n")
    for how in ("freeze", "work"):
        holder = subprocess.Popen([sys.executable, "-c", script, how], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        watchdog = threading.Timer(30, holder.kill)   # its death frees the lock: a failure, not a hang
        watchdog.start()
        try:
            assert holder.stdout.readline().strip() == "held"
            said, started = [], time.monotonic()
            with exclusive(url, "locked", say=lambda text, **_: said.append(text)):
                waited = time.monotonic() - started
            assert said == ["waiting for another enqueue of locked to finish"], how
            if how == "freeze":   # the server ended the frozen holder's session: LOCK_IDLE_S and a little
                assert waited < 10, waited
            else:                 # pinged past LOCK_IDLE_S: held until it let go (5 s)
                assert waited > 3.5 and holder.wait(timeout=30) == 0, waited
        finally:
            watchdog.cancel()
            holder.send_signal(signal.SIGCONT)
            assert holder.wait(timeout=30) == 0   # thawed, its lost lock is no error


def _refusing_proxy() -> str:
    """The address of a guarded MLflow server's front (in this process, for the test's life): /health
    answers 200, an experiment that does not exist is not found (404), and every other call is
    refused (403), as MLflow's basic-auth app does for a user without rights on the experiment."""
    import http.server
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.rstrip("/") == "/health":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")
            elif "/experiments/get-by-name" in self.path:
                body = b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such experiment"}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(403, "Forbidden")

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def test_a_database_waking_from_a_cold_start_is_waited_for_and_a_refusing_one_is_not(postgres, capsys):
    """A serverless PostgreSQL (Neon's, say) accepts a connection while it wakes and answers only
    seconds later: the first connection timed out and the worker stopped with "cannot open the
    Optuna storage". Behind a proxy that holds its first connection unanswered (as one does while
    its database wakes) and forwards the next to a real server, the storage tries again, says so,
    and works. A port where nothing listens is an error at once (a mistyped URL)."""
    import socket
    import threading

    from pipeline.errors import UsageError

    target = int(postgres.rsplit(":", 1)[1])
    listener = socket.create_server(("127.0.0.1", 0))
    port, held = listener.getsockname()[1], []

    def pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            a.close()
            b.close()

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not held:
                held.append(client)   # asleep: accepted, never answered
                continue
            server = socket.create_connection(("127.0.0.1", target))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        storage = get_storage(f"postgresql://postgres@127.0.0.1:{port}/optuna?connect_timeout=1")
        said = capsys.readouterr().err
        assert held and "the Optuna storage is not ready (" in said and "timeout expired" in said, said
        assert "the Optuna storage answers (after" in said, said
        ostudy = optuna.create_study(study_name="woken", storage=storage)
        ostudy.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        assert [t.state for t in ostudy.trials] == [TrialState.COMPLETE] * 2
    finally:
        listener.close()
    with socket.socket() as s:   # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(UsageError, match="cannot open the Optuna storage"):
        storage_module.check_storage(f"postgresql://postgres@127.0.0.1:{closed}/optuna")
    assert time.monotonic() - started < 5 and "not ready" not in capsys.readouterr().err


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_a_pooler_that_refuses_the_session_option_still_connects(pool_mode, capsys):
    """PgBouncer (as Neon's and Supabase's poolers) refuses startup options it does not know, and
    the storage asks every PostgreSQL session for idle_in_transaction_session_timeout: through a
    real PgBouncer the storage connects without it, says so in one line, and works. In transaction
    mode too, with two clients: psycopg's prepared statements ("_pg3_0") met on a server session
    the pooler handed the other client, and workers crashed; behind a pooler none are prepared."""
    with pgbouncer(pool_mode) as url:
        storage = get_storage(url)
        assert "refuses the option idle_in_transaction_session_timeout" in capsys.readouterr().err
        ostudy = optuna.create_study(study_name="pooled", storage=storage)
        other = optuna.load_study(study_name="pooled", storage=storage_module._storage(storage.url))   # another client
        for _ in range(8):   # past psycopg's prepare_threshold (5) on both, in turns
            for s in (ostudy, other):
                s.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
        assert [t.state for t in ostudy.trials] == [TrialState.COMPLETE] * 16


@contextlib.contextmanager
def pgbouncer(pool_mode: str):
    """A real PgBouncer in `pool_mode` before a throwaway PostgreSQL: its optuna database's URL."""
    import shutil
    import socket

    from .conftest import free_port, postgres_server

    bouncer = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if bouncer is None:
        pytest.skip("PgBouncer is not installed (.ci/run installs it)")
    with postgres_server() as pg:
        port = free_port()
        ini = pg.dir / "pgbouncer.ini"
        ini.write_text(f"[databases]\n* = host=127.0.0.1 port={pg.port} user=postgres\n[pgbouncer]\n"
                       f"listen_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = any\npool_mode = {pool_mode}\n"
                       f"unix_socket_dir =\nlogfile = {pg.dir / 'pgbouncer.log'}\n")
        if pg.as_user:   # as root, PgBouncer runs as postgres (it refuses root), as the server does
            subprocess.run(["chown", "postgres", str(ini)], check=True)
        proc = subprocess.Popen([*pg.as_user, bouncer, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):   # until it listens
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
            yield f"postgresql://postgres@127.0.0.1:{port}/optuna"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_a_live_process_behind_a_pooler_is_not_read_as_gone(pool_mode, monkeypatch):
    """alive_lock.gone tried the lock: behind PgBouncer in transaction mode it was handed the holder's
    own server session, where the lock is taken again, so a live process read as gone and its root,
    dataset and tuning runs were closed KILLED. It reads pg_locks: alive through either pool mode, and
    gone once killed (session mode; in transaction mode its server session keeps the lock until the
    pooler closes that session: its runs stay open meanwhile, never a live one's closed)."""
    from pipeline import alive_lock

    monkeypatch.setattr(alive_lock, "RETAKE_S", 0)   # a database seconds old: its free locks trusted here
    with pgbouncer(pool_mode) as url:
        holder = lock_holder(url)
        try:
            worker = holder.stdout.readline().strip()
            assert worker and not any(alive_lock.gone(url, worker) for _ in range(10))
            if pool_mode == "session":
                killed_and_gone(holder, url, worker)
        finally:
            holder.kill()


def test_the_readmes_database_setup_works_and_a_database_the_role_does_not_own_is_refused_with_the_fix(postgres):
    """The README's `createuser` + `createdb -O`: the role owns its database and Optuna creates its
    tables there. A database created by postgres for another role (the README's old `createdb`)
    refuses that role's tables since PostgreSQL 15: the error says what to do."""
    from pipeline.errors import UsageError

    bin_dir = conftest_pg_bin()
    server = postgres.rsplit("@", 1)[1]
    host, port = server.split(":")

    def as_postgres(tool: str, *args: str) -> None:
        subprocess.run([str(bin_dir / tool), "-h", host, "-p", port, "-U", "postgres", *args], check=True,
                       capture_output=True)

    as_postgres("createuser", "owner_role")
    as_postgres("createdb", "-O", "owner_role", "owned")
    ostudy = optuna.create_study(study_name="owned", storage=get_storage(f"postgresql://owner_role@{server}/owned"))
    ostudy.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert ostudy.trials[0].state == TrialState.COMPLETE
    major = int(subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True).stdout.split()[-1]
                .split(".")[0])
    as_postgres("createuser", "guest_role")
    as_postgres("createdb", "not_owned")   # owned by postgres
    if major < 15:
        pytest.skip(f"PostgreSQL {major} lets every role create tables in public")
    with pytest.raises(UsageError) as refused:
        storage_module.check_storage(f"postgresql://guest_role@{server}/not_owned")   # as preflight checks it
    assert "permission denied for schema public" in str(refused.value), refused.value
    assert "make it the database's owner (createdb -O <role>, or ALTER DATABASE <db> OWNER TO <role>" in str(refused.value)
    # the same database as a direct MLflow store: said before MLflow's traceback, not after
    from pipeline.preflight import check_tracking_reachable

    with pytest.raises(UsageError, match="MLflow's tables are not there yet and this role may not create tables there"):
        check_tracking_reachable(f"postgresql://guest_role@{server}/not_owned")
    check_tracking_reachable(f"postgresql://owner_role@{server}/owned")   # its owner may


def test_a_worker_dead_before_a_database_restart_is_not_taken_for_one_the_restart_stopped():
    """After a PostgreSQL restart, trials whose last beat came before it were all failed as
    STORE_OUTAGE (spending no retry), a worker SIGKILLed a minute before the restart too. A process
    that saw the database go away tells them apart: a beat that stopped more than the grace period
    before the outage is a worker that had died already."""
    import threading

    import sqlalchemy

    from .conftest import postgres_server

    with postgres_server() as pg:
        storage = get_storage(f"{pg.url}/optuna")
        ostudy = optuna.create_study(study_name="restarted", storage=storage)
        trials = [ostudy.ask() for _ in range(2)]
        for t in trials:
            storage.record_heartbeat(t._trial_id)
        pg.stop()
        answered = threading.Thread(target=lambda: storage.get_trial(trials[0]._trial_id))   # sees the outage
        answered.start()
        time.sleep(2)
        pg.start()
        answered.join(timeout=60)
        assert not answered.is_alive()
        engine = sqlalchemy.create_engine(f"{pg.url}/optuna", poolclass=NullPool)
        with engine.begin() as conn:   # the first beat stopped just before the restart, the other 90 s before it
            for t, before_s in zip(trials, (1, GRACE_S + 60)):
                conn.execute(sqlalchemy.text(f"UPDATE trial_heartbeats SET heartbeat = pg_postmaster_start_time() "
                                             f"- interval '{before_s} seconds' WHERE trial_id = {t._trial_id}"))
        running = ostudy.get_trials(states=(TrialState.RUNNING,))
        assert liveness.beat_before_restart(ostudy, running) == {trials[0].number}
        storage.outage.went = None   # a process that never saw the outage cannot tell: both, as before
        assert liveness.beat_before_restart(ostudy, running) == {t.number for t in trials}
        storage.outage.went = time.monotonic()   # a later blip it saw, after the restart: not this outage, as unknown
        assert liveness.beat_before_restart(ostudy, running) == {t.number for t in trials}
        engine.dispose()


def test_a_dead_workers_cells_are_taken_over_while_the_others_train_another_dataset(workdir, env):
    """A worker reaped the dead only once it had nothing of its own left to pop: a worker killed on
    one dataset while the live ones trained another left its runs RUNNING, its cells untouched,
    until the whole rest of the grid was done (minutes). A live worker now looks at the other
    datasets every grace period (orchestrate.OthersWatch) and takes them over while it trains."""
    spec = tiny_study_dict(name="watch", seeds=12, epochs=300, execution={"population_size": 5},
                           datasets=[{"name": "digits"}, {"name": "wine"}])
    study_file = write_study(workdir / "w.yaml", spec)
    study = load_study(study_file)
    url = f"journal:{workdir / 'optuna.journal'}"
    where = ["--study", "w.yaml", "--storage", url, "--tracking-uri", env["MLFLOW_TRACKING_URI"]]
    assert run_cli(["enqueue", *where], cwd=workdir, env=env).returncode == 0
    storage = get_storage(url)
    digits, wine = (optuna.load_study(study_name=optuna_study_name(study, p), storage=storage) for p in study.plans)
    live = start(["worker", *where], workdir, env)   # digits first: 60 cells of 300 epochs
    try:
        deadline = time.time() + 120
        while not digits.get_trials(states=(TrialState.RUNNING,)) and time.time() < deadline:
            time.sleep(0.5)
        # the other worker, on wine alone: it pops a population and is killed as it starts training it
        doomed = run_cli(["worker", *where[:4], "--tracking-uri", env["MLFLOW_TRACKING_URI"], "--datasets", "wine"],
                         cwd=workdir, env={**env, "PIPELINE_FAILPOINT": "mark_training:1"})
        assert doomed.returncode == -signal.SIGKILL, doomed.stderr[-2000:]
        left = wine.get_trials(states=(TrialState.RUNNING,))
        assert left, "the killed worker held no wine cell"
        while time.time() < deadline + 60 and not any(t.state == TrialState.FAIL for t in wine.get_trials()):
            assert live.poll() is None, "the live worker ended first"
            time.sleep(1)
        failed = [t for t in wine.get_trials() if t.state == TrialState.FAIL]
        assert {t.number for t in failed} == {t.number for t in left}
        assert all(t.user_attrs["outcome"] == "WORKER_DIED" for t in failed)
        # taken over while the live worker still trained digits, not after it
        assert digits.get_trials(states=(TrialState.WAITING,)) or digits.get_trials(states=(TrialState.RUNNING,))
        out, err = live.communicate(timeout=600)
    finally:
        if live.poll() is None:
            live.kill()
    assert live.returncode == 0, err[-3000:]
    assert re.search(rf"{len(left)} cells are enqueued again \(\S+wine\S*\), left by \S+: worker died", out), out[-3000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("watch").experiment_id], max_results=1000)
    latest = [r for r in runs if r.data.tags.get("kind") == "trial" and r.info.status == "FINISHED"]
    assert len(latest) == len(study.plans) * len(study.cells())
    assert all(r.info.status == "KILLED" for r in runs if r.data.tags.get("outcome") == "WORKER_DIED")


def test_a_worker_that_finishes_a_grid_whose_parent_an_interrupted_ablation_closed_reopens_it_finished(workdir, env,
                                                                                                       monkeypatch):
    """An `ablation` stopped (SIGTERM) while a joined worker sat idle closed the dataset's parent KILLED
    (no other worker had a RUNNING trial); the worker then trained the interrupted cells, and its own
    finish left the KILLED parent as it was: a complete grid under a parent that read as a study stopped
    before its end (a distributed review). The worker that finds the grid done makes it FINISHED."""
    from pipeline.orchestrate import finish_dataset, run_worker_loop

    monkeypatch.chdir(workdir)
    study, ctx, splits, ostudy, _ = a_worker_in_process(workdir, env, "reopen")
    run_worker_loop(ctx, {"wine": splits})
    client, parent = MlflowClient(env["MLFLOW_TRACKING_URI"]), ostudy.user_attrs[STUDY_PARENT_RUN]
    assert client.get_run(parent).info.status == "FINISHED"
    client.set_terminated(parent, "KILLED")   # what the interrupted ablation did
    finish_dataset(ctx, study.plans[0], splits)
    assert client.get_run(parent).info.status == "FINISHED"
    finish_dataset(ctx, study.plans[0], splits, status="KILLED")   # a KILLED finish leaves a finished parent alone
    assert client.get_run(parent).info.status == "FINISHED"


def test_the_console_says_which_failed_cells_a_rerun_trains_again(workdir, env):
    """A cell whose training failed (an error) is trained again by a rerun while it has attempts
    left; one that diverged is not (the same seed diverges again). The console said "failed 3" and
    nothing more: a user took the cells for lost. It now counts those a rerun retries, and the
    count is what a rerun's enqueue puts back."""
    from pipeline import lifecycle
    from pipeline.orchestrate import _retried_on_rerun
    from pipeline.preparation import prepare

    write_study(workdir / "f.yaml", tiny_study_dict(name="f", seeds=2, arms=["none", "l2"]))
    study = load_study(workdir / "f.yaml")
    storage = f"journal:{workdir / 'optuna.journal'}"
    ctx, _ = prepare(study, storage, env["MLFLOW_TRACKING_URI"])
    ostudy = optuna.load_study(study_name=optuna_study_name(study, study.plans[0]), storage=get_storage(storage))
    popped = grid.pop_cells(ostudy, 10)
    assert len(popped) == 4
    for (trial, *_), outcome in zip(popped, (lifecycle.Outcome.ERROR, lifecycle.Outcome.ERROR, lifecycle.Outcome.DIVERGED)):
        grid.set_attrs(ostudy, trial._trial_id, {"outcome": outcome.name, "fail_reason": outcome.reason,
                                                 "training_started": True})
        ostudy.tell(trial, state=TrialState.FAIL)
    ostudy.tell(popped[3][0], 1.0)
    assert grid.cells_failed(ostudy, study.spec.max_retries, lifecycle.spent_attempt, lifecycle.repeats) == (2, 1)
    said = _retried_on_rerun(ctx, ostudy, 3)
    assert said == (f"; rerunning the same command (ablation, or enqueue for workers) retries 2 failed cells "
                    f"(max_retries: {study.spec.max_retries}); 1 failed cell is not retried: diverged (a retry repeats it) "
                    "or out of retries (max_retries)"), said
    assert _retried_on_rerun(ctx, ostudy, 3, all_failed=True) == said   # retries left: said after "the other 3 failed" too
    prepare(study, storage, env["MLFLOW_TRACKING_URI"])   # the rerun: those two are waiting again, the diverged one not
    waiting = ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert sorted(grid.cell_of(t) for t in waiting) == sorted(grid.cell_of(t) for t, *_ in popped[:2])
    assert _retried_on_rerun(ctx, ostudy, 0) == ""
    # the diverged cell alone is failed now: "nothing to train: ..., the other 1 failed (diverged, ...)"
    assert _retried_on_rerun(ctx, ostudy, 1, all_failed=True) == " (diverged, which a retry repeats, or out of retries: max_retries)"


@pytest.mark.parametrize("database", ["journal", "postgresql"])
def test_an_enqueue_that_died_on_another_host_while_tuning_has_its_root_closed_with_its_tuning_parent(
        database, workdir, env, request):
    """An enqueue SIGKILLed while tuning, on another host (here: a UTS namespace of another host
    name): the next enqueue, which holds the enqueue lock, ends its tuning trials and its tuning
    parent KILLED, and left its root RUNNING for good (only a dead process of this host's root was
    closed). A journal file's lock was held until its holder died; on PostgreSQL its liveness lock
    tells (on a database up past RETAKE_S: one just started trusts no free lock yet)."""
    if os.geteuid() != 0 or subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs root for a UTS namespace (unshare)")
    write_study(workdir / "s.yaml", tiny_study_dict(name="elsewhere", arms=["none", "l2"], seeds=1, epochs=2,
                                                    datasets=[{"name": "digits", "train_size": 120}],
                                                    tune={"trials": 2, "seeds": [100]}))
    storage = f"journal:{workdir / 'optuna.journal'}" if database == "journal" else f"{request.getfixturevalue('postgres')}/optuna"
    args = ["enqueue", "--study", "s.yaml", "--storage", storage]
    other_host = ["unshare", "--uts", "sh", "-c", 'hostname another-host && exec "$@"', "sh", *pipeline_command()]
    died = subprocess.run([*other_host, *args], cwd=workdir, env={**env, "PIPELINE_FAILPOINT": "optuna_tell:1"},
                          capture_output=True, text=True, timeout=300)
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    if database == "postgresql":
        from pipeline import alive_lock

        while get_storage(storage).database_uptime() <= alive_lock.RETAKE_S:
            time.sleep(1)
    again = run_cli(args, cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("elsewhere").experiment_id], "tags.kind != 'tuning_trial'")
    ended = sorted((r.data.tags["kind"], r.data.tags.get("worker", "").split(":")[0], r.info.status) for r in runs)
    here = os.uname().nodename
    assert ended == [("dataset", "", "RUNNING"), ("root", "another-host", "KILLED"), ("root", here, "FINISHED"),
                     ("tuning", "another-host", "KILLED"), ("tuning", here, "FINISHED")], ended


def test_a_tuner_frozen_on_another_host_past_the_enqueue_locks_limit_keeps_its_runs_open_on_postgresql(
        workdir, env, postgres):
    """An `enqueue` on PostgreSQL paused in its first tuning round, on another host: the server ends
    its enqueue lock's session once it is silent past LOCK_IDLE_S, and the next enqueue takes the
    lock, reaps its silent tuning trials (asked again) and tunes. The paused one holds its liveness
    lock: it lives, and its tuning parent and root stay RUNNING (they were ended KILLED, with its
    root, from the reaped trials alone), as a paused `ablation`'s root is."""
    other_host = on_another_host()
    write_study(workdir / "s.yaml", tiny_study_dict(name="frozen", arms=["none", "l2"], seeds=1, epochs=2,
                                                    datasets=[{"name": "wine"}], tune={"trials": 2, "seeds": [100]}))
    args = ["enqueue", "--study", "s.yaml", "--storage", f"{postgres}/optuna"]
    paused = subprocess.Popen([*other_host, *args], cwd=workdir, env={**env, "PIPELINE_FAILPOINT": "train_round:1:stop"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        stopped_itself(paused, timeout=240)
        again = run_cli(args, cwd=workdir, env=env)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "of a process that died, ended just now" in again.stdout, again.stdout[-2000:]   # its trials were reaped
        client = MlflowClient(env["MLFLOW_TRACKING_URI"])
        runs = client.search_runs([client.get_experiment_by_name("frozen").experiment_id], "tags.kind != 'tuning_trial'")
        states = sorted((r.data.tags["kind"], r.data.tags.get("worker", "").split(":")[0], r.info.status) for r in runs)
        here = os.uname().nodename
        assert [s for s in states if s[0] in ("root", "tuning")] == [
            ("root", "another-host", "RUNNING"), ("root", here, "FINISHED"),
            ("tuning", "another-host", "RUNNING"), ("tuning", here, "FINISHED")], states
    finally:
        paused.kill()
        paused.wait()


def on_another_host() -> list[str]:
    """The command line of `python -m pipeline` on "another host": a UTS namespace of another host
    name (its pid is the process's own: unshare and sh exec it)."""
    if os.geteuid() != 0 or subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs root for a UTS namespace (unshare)")
    return ["unshare", "--uts", "sh", "-c", 'hostname another-host && exec "$@"', "sh", *pipeline_command()]


def roots_and_parents(env, name: str) -> list[tuple[str, str, str]]:
    """(kind, host of its worker, status) of a study's root and dataset runs."""
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
    return sorted((r.data.tags["kind"], r.data.tags.get("worker", "").split(":")[0], r.info.status) for r in runs
                  if r.data.tags.get("kind") in ("root", "dataset"))


def test_an_ablation_killed_on_another_host_while_it_trains_has_its_root_closed_by_the_worker_that_finishes(
        workdir, env, postgres):
    """An `ablation` on PostgreSQL SIGKILLed while it trained its grid, on another host (a UTS
    namespace): a worker here took over its cells and finished the grid, and its root run stayed
    RUNNING for good (only a dead process of this host's was closed). Its liveness lock is free:
    the worker that finishes closes it KILLED."""
    other_host = on_another_host()
    write_study(workdir / "s.yaml", tiny_study_dict(name="gone", arms=["none", "l2"], seeds=2, epochs=2,
                                                    datasets=[{"name": "wine"}], execution={"population_size": 2}))
    common = ["--study", "s.yaml", "--storage", f"{postgres}/optuna"]
    died = subprocess.run([*other_host, "ablation", *common, "--no-report"], cwd=workdir, capture_output=True, text=True,
                          env={**env, "PIPELINE_FAILPOINT": "mark_training:1"}, timeout=300)   # its first cells train
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    worker = run_cli(["worker", *common], cwd=workdir, env=env)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert roots_and_parents(env, "gone") == [("dataset", "another-host", "FINISHED"), ("root", "another-host", "KILLED")]


def test_an_ablation_that_died_on_another_host_after_a_second_one_started_has_its_root_closed_by_that_one(
        workdir, env, postgres):
    """Two `ablation`s of one study on PostgreSQL, the first on another host (a UTS namespace): the
    second starts while the first lives (paused in its first cells), so the check at its start
    leaves its runs open; the first is SIGKILLed then, and the second takes its cells over and
    finishes the grid. At its end the second closes the dead one's root KILLED (its liveness lock
    is free): it was left RUNNING for good, the check at a start being the only one an `ablation` made."""
    other_host = on_another_host()
    write_study(workdir / "s.yaml", tiny_study_dict(name="overtaken", arms=["none", "l2"], seeds=2, epochs=2,
                                                    datasets=[{"name": "wine"}], execution={"population_size": 2}))
    common = ["ablation", "--study", "s.yaml", "--storage", f"{postgres}/optuna", "--no-report"]
    first = subprocess.Popen([*other_host, *common], cwd=workdir, text=True, env={**env, "PIPELINE_FAILPOINT": "mark_training:1:stop"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        stopped_itself(first)
        second = start(common, workdir, env)
        for line in second.stdout:   # past its start's check (its root run is open): the first is alive then
            if line.startswith("study overtaken:"):
                break
        else:
            raise AssertionError(second.communicate()[1][-2000:])
    finally:
        first.kill()
        first.wait()
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-2000:]
    assert roots_and_parents(env, "overtaken") == [("dataset", "another-host", "FINISHED"), ("root", "another-host", "KILLED"),
                                                   ("root", os.uname().nodename, "FINISHED")]


def test_a_live_ablation_on_another_host_whose_cells_were_taken_over_keeps_its_root_open(workdir, env, postgres):
    """An `ablation` on another host, paused while it trained (SIGSTOP): a worker here takes its
    cells over (their heartbeats stopped) and finishes the grid, while the paused process trains
    nothing; it is alive, so its root stays RUNNING, and it ends FINISHED once it goes on."""
    other_host = on_another_host()
    write_study(workdir / "s.yaml", tiny_study_dict(name="paused", arms=["none", "l2"], seeds=2, epochs=2,
                                                    datasets=[{"name": "wine"}], execution={"population_size": 2}))
    common = ["--study", "s.yaml", "--storage", f"{postgres}/optuna"]
    paused = subprocess.Popen([*other_host, "ablation", *common, "--no-report"], cwd=workdir, text=True,
                              env={**env, "PIPELINE_FAILPOINT": "mark_training:1:stop"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stopped_itself(paused)
        worker = run_cli(["worker", *common], cwd=workdir, env=env)
        assert worker.returncode == 0, worker.stderr[-2000:]
        assert "taken over" in worker.stdout or "left by" in worker.stdout, worker.stdout[-2000:]
        assert ("root", "another-host", "RUNNING") in roots_and_parents(env, "paused")
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    out, err = paused.communicate(timeout=300)
    assert paused.returncode == 0, err[-2000:]
    assert ("root", "another-host", "FINISHED") in roots_and_parents(env, "paused")


def test_a_process_liveness_lock_is_taken_again_after_a_database_restart_and_freed_by_its_death():
    """alive_lock: a database restart frees every lock, and a live process read as dead would have
    its root closed; its holder takes it again, and a free lock counts only once the database has
    been up for RETAKE_S. A SIGKILL frees it for good."""
    from pipeline import alive_lock

    with postgres_server() as pg:
        url = f"{pg.url}/optuna"
        holder = lock_holder(url)
        try:
            worker = holder.stdout.readline().strip()
            pg.stop()
            pg.start()
            assert not alive_lock.gone(url, worker)   # the database just started: not trusted yet
            while get_storage(url).database_uptime() <= alive_lock.RETAKE_S:
                time.sleep(1)
            assert not alive_lock.gone(url, worker)   # taken again
            killed_and_gone(holder, url, worker)
        finally:
            holder.kill()


def killed_and_gone(holder: subprocess.Popen, url: str, worker: str) -> None:
    """SIGKILL the lock holder; then alive_lock reads it as gone within 30 s."""
    from pipeline import alive_lock

    holder.kill()
    holder.wait()
    deadline = time.monotonic() + 30
    while not alive_lock.gone(url, worker):
        assert time.monotonic() < deadline, "its lock outlived it"
        time.sleep(0.5)


def lock_holder(url: str, *setup: str, env=None) -> subprocess.Popen:
    """A process that takes its liveness lock (alive_lock.hold) after `setup` (Python lines), says
    its worker name; on a line on its stdin, says what a call of its Optuna storage gives."""
    script = "; ".join(["import sys, time", "from pipeline import alive_lock, runtime, storage", *setup,
                        "alive_lock.hold(sys.argv[1])", "print(runtime.worker_id(), flush=True)", "sys.stdin.readline()",
                        "print(repr(storage.get_storage(sys.argv[1]).get_all_studies()), flush=True)"])
    return subprocess.Popen([sys.executable, "-c", script, url], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)


def lock_held(url: str, worker: str) -> bool:
    """Whether some session holds `worker`'s liveness lock (pg_locks: a bigint key is classid, objid)."""
    from pipeline import alive_lock

    key = alive_lock._key(worker) & (2 ** 64 - 1)
    with get_storage(url).engine.connect() as conn:
        return conn.execute(sqltext("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                    "AND classid = :hi AND objid = :lo"), {"hi": key >> 32, "lo": key & (2 ** 32 - 1)}).scalar() > 0


def test_a_free_liveness_lock_is_not_trusted_right_after_a_database_crash_restart():
    """A backend crash makes PostgreSQL end every session and free every lock, without a new
    pg_postmaster_start_time: a live holder that had not yet taken its lock again (it pings every
    HEARTBEAT_S) was read as gone, its root closed KILLED while it ran."""
    from pipeline import alive_lock

    with postgres_server() as pg:
        url = f"{pg.url}/optuna"
        get_storage(url)
        holder = lock_holder(url, "alive_lock.HEARTBEAT_S = 600")   # one that has not noticed the crash yet
        try:
            worker = holder.stdout.readline().strip()
            with get_storage(url).engine.connect() as conn:
                crashed = conn.execute(sqltext("SELECT pg_backend_pid()")).scalar()
            time.sleep(alive_lock.RETAKE_S + 1)   # a database up for longer than RETAKE_S
            os.kill(crashed, signal.SIGKILL)
            get_storage(url).engine.dispose()
            assert not alive_lock.gone(url, worker)   # its storage calls wait for the recovery
            assert not lock_held(url, worker)   # free: the crash ended its session
        finally:
            holder.kill()
            holder.wait()


def test_a_liveness_lock_taken_again_after_a_long_outage_leaves_the_process_riding_out_the_next():
    """alive_lock's keeper took its lock again through the storage's retried calls: an outage past
    outage_limit_s while the process's own work made no storage call (the keeper alone waited)
    made the process give up on its next failed call, at once: a later brief restart stopped it
    with "did not answer" where it rides out one of up to outage_limit_s."""
    with postgres_server() as pg:
        url = f"{pg.url}/optuna"
        get_storage(url)   # Optuna's tables, made before the holder starts
        holder = lock_holder(url, "alive_lock.HEARTBEAT_S = 0.5", env={**os.environ, "PIPELINE_OUTAGE_S": "5"})
        try:
            worker = holder.stdout.readline().strip()
            pg.stop()
            time.sleep(8)   # past its outage limit
            pg.start()
            get_storage(url).engine.dispose()
            deadline = time.monotonic() + 20
            while not lock_held(url, worker):
                assert time.monotonic() < deadline, "its lock was not taken again"
                time.sleep(0.5)
            pg.stop()
            holder.stdin.write("\n")   # a storage call while the database is away again, briefly
            holder.stdin.flush()
            time.sleep(1)
            pg.start()
            assert holder.communicate(timeout=60)[0].strip().splitlines()[-1] == "[]"   # it answered
        finally:
            holder.kill()
            holder.wait()


def test_a_connection_lost_while_waiting_for_the_enqueue_lock_is_retried(postgres, capsys):
    """The enqueue lock's connection bypassed the retried storage calls: an enqueue (or a worker
    taking over a dead one's cells) waiting for the lock while its session ended (a database
    restart; here pg_terminate_backend) crashed with the driver's error. It waits again now, as
    every storage call rides out a lost connection, and says it waits once."""
    import hashlib
    import threading

    import sqlalchemy

    from pipeline.enqueue_lock import exclusive

    url = f"{postgres}/optuna"
    get_storage(url)
    admin = sqlalchemy.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    key = int.from_bytes(hashlib.sha1(b"locked").digest()[:8], "big", signed=True)   # as exclusive names it
    said, outcome = [], []

    def enqueue() -> None:
        try:
            with exclusive(url, "locked", say=lambda text, **_: said.append(text)):
                outcome.append("held")
        except Exception as e:
            outcome.append(e)

    with admin.connect() as holder, admin.connect() as other:
        holder.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        waiter = threading.Thread(target=enqueue)
        waiter.start()
        waiting = "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_advisory_lock(%'"
        deadline = time.monotonic() + 30
        while not (pids := other.execute(sqlalchemy.text(waiting)).scalars().all()):
            assert time.monotonic() < deadline and waiter.is_alive(), outcome
            time.sleep(0.1)
        other.execute(sqlalchemy.text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
        time.sleep(2)   # it tried again, and waits again
        assert waiter.is_alive(), outcome
        holder.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        waiter.join(30)
    assert outcome == ["held"] and said == ["waiting for another enqueue of locked to finish"], (outcome, said)
    assert "the Optuna storage answers again" in capsys.readouterr().out


@pytest.mark.parametrize("nth", [1, 2])
def test_a_second_signal_while_the_stopped_cells_are_ended_waits_and_they_are_still_counted(nth, workdir, env):
    """Ctrl-C in training, then SIGTERM while the worker ends the cells the first stopped (held at
    its failpoint there): the cell in training (nth 1) or the one popped ahead (nth 2). The second
    signal waits until they are ended, so no trial and no run is left RUNNING; but the line
    counted only the cell popped ahead ("1 cell popped ahead, not started": the second signal
    dropped the count of the one in training), or was not printed at all."""
    write_study(workdir / "s.yaml", tiny_study_dict(name="twice", arms=["none", "l2"], seeds=2, epochs=400,
                                                    model={"hidden": [128, 128]}, execution={"engine": "reference"},
                                                    datasets=[{"name": "digits", "train_size": 600}]))
    proc = start(["ablation", "--study", "s.yaml", "--no-report"], workdir,
                 {**env, "PIPELINE_FAILPOINT": f"optuna_tell:{nth}:stop"})   # an ending's Optuna write
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    deadline = time.monotonic() + 240
    while not ((exp := client.get_experiment_by_name("twice")) and client.search_runs(
            [exp.experiment_id], "tags.kind = 'trial' AND attributes.status = 'RUNNING'")):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    time.sleep(1.0)   # training (one cell takes several seconds)
    proc.send_signal(signal.SIGINT)
    stopped_itself(proc)   # ending a stopped cell: its run is closed, Optuna not told yet
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, (out + err)[-3000:]
    assert ("interrupted: 1 cell stopped in training and 1 cell popped ahead, not started; trained again on the next "
            "run") in out, out[-2000:]
    assert not client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'")
    study = load_study(workdir / "s.yaml")
    ostudy = optuna.load_study(study_name=optuna_study_name(study, study.plans[0]),
                               storage=get_storage(f"journal:{workdir / 'optuna.journal'}"))
    assert sorted(t.user_attrs.get("outcome") for t in ostudy.get_trials(states=(TrialState.FAIL,))) == \
        ["INTERRUPTED", "INTERRUPTED"]
    assert not ostudy.get_trials(states=(TrialState.RUNNING,))
