"""Fault injection against a real PostgreSQL and a real `mlflow server` (issue 19): a worker
SIGKILLed at a random moment (while training, halfway through writing its MLflow runs, between
MLflow and Optuna), a PostgreSQL restart, an MLflow server restart, a store down for longer than
the limit, a worker started twice under the same name, a worker cut off past the grace period
(a partition) that comes back, and answers lost (a run created twice). After each, every cell
of the grid has exactly one COMPLETE Optuna trial and one FINISHED MLflow run, no run is left
RUNNING, and the retries are recorded (attempt numbers, the dead attempts' runs KILLED).

The random moments come from FAULT_SEED (drawn when unset) and every failure message names it:
`FAULT_SEED=<seed> pytest tests/test_faults.py` replays the same moments (exactly for the
moments set by a failpoint; a kill while training lands after the same delay).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from pipeline.cli import main
from pipeline.preparation import optuna_study_name
from pipeline.runtime import EXIT_UNREACHABLE
from pipeline.runtree import TRIAL_TRAINING
from pipeline.study import load_study

from .conftest import MlflowServer, pipeline_command, postgres_server, stopped_itself, tiny_study_dict, write_study

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("FAULT_SEED") or random.randrange(2**32))
MOMENTS = ("training", "link_runs", "mlflow_write", "optuna_tell")


class Stores:
    """One PostgreSQL server (Optuna's database and the MLflow server's) and one `mlflow server`
    for the whole module; each test has its own study in them."""

    def __init__(self, pg, server: MlflowServer):
        self.pg, self.server = pg, server
        self.storage = f"{pg.url}/optuna"
        self._optuna = None

    @property
    def optuna(self):
        """One storage object for the test's own reads, without a connection pool: a URL string
        would build a new engine (and pool) on every poll, and PostgreSQL ran out of connections
        ("too many clients"), which the workers under test then met; unpooled, a restart of
        PostgreSQL leaves no broken connection behind."""
        from sqlalchemy.pool import NullPool

        if self._optuna is None:
            self._optuna = optuna.storages.RDBStorage(self.storage, engine_kwargs={"poolclass": NullPool})
        return self._optuna

    def wait_healthy(self) -> None:
        """Both answer (after a test restarted one)."""
        import urllib.request

        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(self.server.url + "/health", timeout=2)
                optuna.get_all_study_names(self.optuna)
                return
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    with postgres_server() as pg:
        where = tmp_path_factory.mktemp("mlflow-server")
        # Without MLflow's job execution (a job runner and huey consumers the workers never use): each
        # restart spawned 8 more processes, and on 2 busy cores the server took 40 s to answer, not 22
        server = MlflowServer(["server", "--backend-store-uri", f"{pg.url}/mlflow", "--artifacts-destination",
                               str(where / "artifacts"), "--workers", "2"], where / "mlflow.log",
                              env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        server.start()
        try:
            yield Stores(pg, server)
        finally:
            server.stop()


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_process_left_behind():
    """A test that fails midway may leave workers running (or paused, or held at a gate) beside
    the module's shared stores: they are killed before the next test."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.communicate(timeout=30)


class Grid:
    """One small study in the shared stores: 1 dataset x 2 arms x 3 seeds, populations of 2."""

    def __init__(self, stores: Stores, workdir: Path, env: dict, name: str, context: str, **overrides):
        spec = tiny_study_dict(name=name, arms=["none", "l2"], seeds=3, epochs=6, model={"hidden": [64, 64]},
                               execution={"population_size": 2}, datasets=[{"name": "digits", "train_size": 300}])
        spec.update(overrides)
        self.file = write_study(workdir / f"{name}.yaml", spec)
        self.study = load_study(self.file)
        self.stores, self.workdir, self.context = stores, workdir, context
        # Not what in-process commands of earlier tests exported (MLflow's HTTP retries, sized to
        # the default outage limit): each worker sizes its own.
        self.env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI" and not k.startswith("MLFLOW_HTTP_")}
        self.tracking = stores.server.url
        self.args = ["--study", str(self.file), "--storage", stores.storage, "--tracking-uri", self.tracking]

    def enqueue(self) -> None:
        assert main(["enqueue", *self.args]) == 0, self.context

    def start(self, command: str = "worker", env: dict | None = None, prefix: tuple = (),
              gate: Path | None = None) -> subprocess.Popen:
        """The command in a new process (with `gate`, held until that file exists: pipeline_command)."""
        extra = ["--no-report"] if command == "ablation" else []
        proc = subprocess.Popen([*prefix, *pipeline_command(gate), command, *self.args, *extra],
                                cwd=self.workdir, env={**self.env, **(env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        _started.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen, timeout: int = 240) -> str:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"{self.context}\n{out[-2000:]}\n{err[-3000:]}"
        return out

    def ostudy(self) -> optuna.Study:
        return optuna.load_study(study_name=optuna_study_name(self.study, self.study.plans[0]),
                                 storage=self.stores.optuna)

    def running_with_run(self) -> list:
        try:
            ostudy = self.ostudy()
        except KeyError:   # not created yet (any other error is the test's to see)
            return []
        return [t for t in ostudy.get_trials(states=(TrialState.RUNNING,)) if "mlflow_run_id" in t.user_attrs]

    def training(self) -> list:
        """RUNNING trials marked as training. Not merely with their runs: a population is popped,
        its runs opened and linked, and only then marked (CI caught the store-down test between
        the two, so that the cells it failed had not trained)."""
        return [t for t in self.running_with_run() if TRIAL_TRAINING in t.user_attrs]

    def wait_for_training(self, timeout: float = 120, workers: int = 1) -> None:
        """Until trials of `workers` different workers are RUNNING and marked as training."""
        deadline = time.time() + timeout
        while len({t.user_attrs.get("worker") for t in self.training()}) < workers:
            assert time.time() < deadline, f"{self.context}: not {workers} worker(s) training"
            time.sleep(0.05)

    def runs(self) -> list:
        client = MlflowClient(self.tracking)
        return client.search_runs([client.get_experiment_by_name(self.study.name).experiment_id], max_results=1000)

    def check(self) -> dict:
        """Every cell: one COMPLETE trial, one FINISHED run, that trial's run; nothing RUNNING;
        every failed attempt's run KILLED and its cell's finished run a later attempt. Returns
        what the retries were, for the test to check further."""
        ctx, trials, runs = self.context, self.ostudy().trials, self.runs()
        cells = {(arm, seed) for arm, seed in self.study.cells()}
        complete = Counter((t.user_attrs["arm"], t.user_attrs["seed"]) for t in trials if t.state == TrialState.COMPLETE)
        assert set(complete) == cells and set(complete.values()) == {1}, (
            f"{ctx}: COMPLETE trials per cell {complete}; the others: "
            f"{[(t.number, t.state.name, t.user_attrs) for t in trials if (t.user_attrs['arm'], t.user_attrs['seed']) not in complete]}")
        assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)], ctx
        by_id = {r.info.run_id: r for r in runs}
        assert not [(r.info.run_name, r.data.tags.get("kind")) for r in runs if r.info.status == "RUNNING"], ctx
        kids = [r for r in runs if r.data.tags.get("kind") == "trial"]
        finished = Counter(r.info.run_name for r in kids if r.info.status == "FINISHED")
        assert len(finished) == len(cells) and set(finished.values()) == {1}, f"{ctx}: FINISHED runs per cell {finished}"
        for t in trials:
            run = by_id.get(t.user_attrs.get("mlflow_run_id"))
            if t.state == TrialState.COMPLETE:
                assert run is not None and run.info.status == "FINISHED", f"{ctx}: trial {t.number}'s run"
                assert t.value == run.data.metrics["final_val_metric"], ctx
                assert run.data.tags["worker"] == t.user_attrs["worker"], ctx   # who trained it, in MLflow too
            elif run is not None:
                assert run.info.status == "KILLED", f"{ctx}: failed trial {t.number}'s run is {run.info.status}"
        failed = [t for t in trials if t.state == TrialState.FAIL]
        retried = {(t.user_attrs["arm"], t.user_attrs["seed"]) for t in failed}
        for t in trials:
            if t.state == TrialState.COMPLETE and (t.user_attrs["arm"], t.user_attrs["seed"]) in retried:
                assert t.user_attrs["attempt"] >= 2, f"{ctx}: a retried cell's trial {t.number} says attempt 1"
        return {"failed": failed, "recovered": [t for t in trials if t.user_attrs.get("recovered_from_mlflow")],
                "killed": [r for r in kids if r.info.status == "KILLED"]}

    def report(self) -> str:
        """The HTML report, built from the MLflow server (as from any machine)."""
        out = self.workdir / "reports"
        assert main(["report", "--study", str(self.file), "--tracking-uri", self.stores.server.url,
                     "--reports-dir", str(out), "--no-pdf"]) == 0, self.context
        return (out / self.study.name / "report.html").read_text()


def check_report(grid: Grid, retries: dict) -> None:
    """The report, built from the server, shows every cell by its one finished run, and lists
    the retries: every attempt that did not finish, under "Retried cells"."""
    html = grid.report()
    for r in grid.runs():
        if r.data.tags.get("kind") == "trial" and r.info.status == "FINISHED":
            assert r.info.run_id in html, f"{grid.context}: finished run {r.info.run_name} not in the report"
    listed = html[html.index('id="retries"'):]
    for r in retries["killed"]:
        assert r.info.run_id in listed, f"{grid.context}: retried attempt {r.info.run_name} not listed in the report"
    # trials.csv: every run, the earlier attempts marked superseded (the statistics use the others)
    rows = pd.read_csv(grid.workdir / "reports" / grid.study.name / "trials.csv")
    superseded = set(rows.loc[rows["superseded"], "run_id"])
    assert {r.info.run_id for r in retries["killed"]} <= superseded, grid.context
    assert not rows.loc[~rows["superseded"]].duplicated(["dataset", "arm", "seed"]).any(), grid.context
    if retries["killed"]:
        assert "No trial failed: every trial finished." not in html, grid.context


def slow_down_until_both_train(grid: Grid, first: subprocess.Popen, second: subprocess.Popen,
                               timeout: float = 240) -> None:
    """A worker let go at its gate once `first` trains needs seconds to pop a cell; on a fast
    machine `first` trained every cell before that. Until trials of two workers are training,
    `first` (with its children: under unshare the worker is a grandchild) is paused in slices of
    2 s: far from looking dead, never holding a lock the other waits on for long. If that does
    not come, the failure shows what both workers said (`second` may have stopped). The wait is
    long: CI once saw no second worker within 120 s, which a request of its left unanswered until
    MLflow's 120 s timeout would explain."""
    def tree(pid: int) -> list[int]:
        kids = Path(f"/proc/{pid}/task/{pid}/children")
        return [pid] + [k for child in (kids.read_text().split() if kids.exists() else []) for k in tree(int(child))]

    def signal_all(sig) -> None:
        for pid in tree(first.pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    deadline = time.time() + timeout
    try:
        while len({t.user_attrs.get("worker") for t in grid.training()}) < 2:
            if time.time() > deadline or second.poll() is not None:
                signal_all(signal.SIGCONT)
                said = []
                for name, proc in (("first", first), ("second", second)):
                    proc.kill()
                    out, err = proc.communicate(timeout=60)
                    said.append(f"--- {name} worker (exit {proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}")
                pytest.fail(f"{grid.context}: not 2 workers training\n" + "\n".join(said))
            signal_all(signal.SIGSTOP)
            time.sleep(2)
            signal_all(signal.SIGCONT)
            time.sleep(0.2)
    finally:
        signal_all(signal.SIGCONT)


# --- a worker killed at a random moment ----------------------------------------------------------

@pytest.mark.parametrize("moment", MOMENTS)
def test_a_worker_killed_at_a_random_moment_loses_and_doubles_nothing(moment, stores, workdir, env):
    """The victim works alone and dies (SIGKILL) at a moment drawn from the seed: after a random
    delay into training, or the n-th time it passes a failpoint (after opening a population's
    runs, before linking them to their trials; halfway through writing one run to the MLflow
    server; after MLflow, before telling Optuna). The next worker to start cleans up and trains
    what is missing."""
    rng = random.Random(f"{SEED}/{moment}")
    nth, delay = rng.randint(1, 3 if moment == "link_runs" else 5), rng.uniform(0.0, 1.0)   # 3 populations
    context = f"FAULT_SEED={SEED} moment={moment} " + (f"delay={delay:.2f}s" if moment == "training" else f"n={nth}")
    grid = Grid(stores, workdir, env, f"kill-{moment.replace('_', '-')}", context,   # still training when the delay is up
                **({"epochs": 20, "seeds": 5} if moment == "training" else {"epochs": 6}))
    grid.enqueue()
    if moment == "training":
        victim = grid.start()
        grid.wait_for_training()
        time.sleep(delay)
        victim.send_signal(signal.SIGKILL)
    else:
        victim = grid.start(env={"PIPELINE_FAILPOINT": f"{moment}:{nth}"})
    _, err = victim.communicate(timeout=240)
    assert victim.returncode == -signal.SIGKILL, f"{context}: the victim did not die there\n{err[-2000:]}"
    # trials it was training: RUNNING, their runs too (a kill while a population is recorded,
    # between its runs' FINISHED and its tells, leaves trials to complete from their runs)
    client = MlflowClient(stores.server.url)
    in_flight = [t for t in grid.running_with_run() if client.get_run(t.user_attrs["mlflow_run_id"]).info.status == "RUNNING"]
    grid.finish(grid.start())
    retries = grid.check()
    if moment == "optuna_tell":   # the run FINISHED before it died: completed from it, not retrained
        assert retries["recovered"], context   # (a population training meanwhile was failed and retried)
    elif moment in ("link_runs", "mlflow_write") or in_flight:   # (a kill between two populations leaves nothing in flight)
        assert retries["failed"] and retries["killed"], f"{context}: nothing was retried"
        assert all(t.user_attrs.get("outcome") == "WORKER_DIED" for t in retries["failed"]), context
    if moment == "link_runs":   # the runs it had opened, not linked yet: named by their failed trials, and
        killed = {r.info.run_id for r in retries["killed"]}   # by the cells' retries as their previous attempts
        assert killed <= {t.user_attrs.get("mlflow_run_id") for t in retries["failed"]}, f"{context}: a killed run is no trial's"
        previous = {t.user_attrs.get("previous_attempt_run") for t in grid.ostudy().trials if t.state == TrialState.COMPLETE}
        assert killed <= previous, f"{context}: a retry does not name the run of the attempt it replaces"
    check_report(grid, retries)


# --- a store restarts while workers train ----------------------------------------------------------

@pytest.mark.parametrize("store", ["postgres", "mlflow"])
def test_workers_ride_out_a_restart(store, stores, workdir, env):
    """Two workers train; the database (Optuna's and the MLflow server's) or the MLflow server
    goes away for a few seconds and comes back (PostgreSQL: `pg_ctl stop -m fast`, then start;
    the server: SIGKILL, then a new one on the same port and backend store). Both workers carry
    on and finish with exit 0, and every cell is recorded exactly once."""
    rng = random.Random(f"{SEED}/restart-{store}")
    # PostgreSQL: longer than a heartbeat interval, so that some call meets it down; the server
    # takes seconds to start on top of the pause
    pause = rng.uniform(6.0, 9.0) if store == "postgres" else rng.uniform(0.5, 3.0)
    context = f"FAULT_SEED={SEED} restart={store} pause={pause:.1f}s"
    # still training then; and slow enough that the gated worker finds cells left once it starts (on
    # a loaded machine the first worker trained all 16 cells of 20 epochs before the second popped one)
    grid = Grid(stores, workdir, env, f"restart-{store}", context, seeds=8, epochs=60)
    grid.enqueue()
    # Both past their start-up when the store goes (a worker that cannot reach its stores at
    # start-up stops with exit 2): one is held at a gate until the other trains, and the store
    # goes once both hold trials.
    gate = workdir / f"restart-{store}-gate"
    workers = [grid.start(gate=gate), grid.start()]
    grid.wait_for_training()
    gate.touch()
    slow_down_until_both_train(grid, workers[1], workers[0])
    assert all(w.poll() is None for w in workers), f"{context}: a worker was done before the restart"
    if store == "postgres":
        stores.pg.stop("fast")
        time.sleep(pause)
        stores.pg.start()
    else:
        stores.server.kill()
        time.sleep(pause)
        stores.server.start()
    outputs = [grid.finish(w) for w in workers]
    stores.wait_healthy()
    grid.check()
    if store == "postgres":   # the workers said so, and said when it was back
        assert any("the Optuna storage does not answer" in o and "answers again" in o for o in outputs), context
    for o in outputs:   # a worker that met the server down says when it answers again
        if "the MLflow server http" in o and "does not answer; MLflow retries" in o:
            assert o.index("does not answer; MLflow retries") < o.rindex("MLflow server http"), context
            assert "answers again (after" in o[o.index("does not answer; MLflow retries"):], context


# --- a store down for longer than the limit ----------------------------------------------------------

@pytest.mark.parametrize("store,command,moment", [("postgres", "worker", "training"), ("mlflow", "ablation", "training"),
                                                  ("optuna", "worker", "training"), ("optuna", "worker", "marking")])
def test_a_store_down_past_the_limit_stops_the_worker_with_one_line(store, command, moment, stores, workdir, env):
    """With PIPELINE_OUTAGE_S=4 the store stays down: the worker (or a single-machine `ablation`
    against the server) stops with one line on stderr and exit code 75, no traceback. Once the
    store is back, the same command finishes the study: the cells that were in flight are
    trained again. "postgres" takes both stores away (the server's database is PostgreSQL too);
    "optuna" only Optuna's (MLflow on a local SQLite file). Where one store still answers, the
    worker says on it why its trials were left; where neither does, the reaper finds their last
    heartbeats older than the database's restart. Either way they are retried without spending
    an attempt: with max_retries 0, no cell is given up. "marking": the store goes just as the
    worker marks a population as training (a failpoint stops it there), so that the mark fails,
    as one whose answer was lost does: the population it ends untrained is STORE_OUTAGE too."""
    context = f"store={store} command={command} moment={moment}"
    name = f"down-{store}" + ("-marking" if moment == "marking" else "")   # the Optuna studies share one database
    grid = Grid(stores, workdir, env, name, context, max_retries=0)
    if store == "optuna":
        grid.tracking = f"sqlite:///{workdir / f'{name}.db'}"
        grid.args[-1] = grid.tracking
    if command == "worker":
        grid.enqueue()
    marking = {"PIPELINE_FAILPOINT": "mark_training:1:stop"} if moment == "marking" else {}
    proc = grid.start(command, env={"PIPELINE_OUTAGE_S": "4", **marking})
    # paused while the store goes, so that it cannot finish its cells in between
    if marking:
        stopped_itself(proc)
    else:
        grid.wait_for_training()
        proc.send_signal(signal.SIGSTOP)
    stopped = time.time()
    try:
        stores.server.kill() if store == "mlflow" else stores.pg.stop("fast")
    finally:
        proc.send_signal(signal.SIGCONT)
    try:
        out, err = proc.communicate(timeout=120)
        waited = time.time() - stopped
    finally:
        stores.server.start() if store == "mlflow" else stores.pg.start()
    lines = err.strip().splitlines()
    assert proc.returncode == EXIT_UNREACHABLE, f"{context}: exit {proc.returncode}\n{err[-3000:]}"
    assert len(lines) == 1 and "Traceback" not in err, f"{context}: stderr is not one line:\n{err[-3000:]}"
    # PostgreSQL down: Optuna's storage, or the MLflow server whose database it also is, gives up first
    said = {"postgres": ("error: the Optuna storage", "error: the MLflow server"),
            "mlflow": ("error: the MLflow server",), "optuna": ("error: the Optuna storage",)}[store]
    assert lines[0].startswith(said) and "did not answer for 4 s" in lines[0], f"{context}: {lines[0]}"
    assert waited < 60, f"{context}: it took {waited:.0f} s to give up"
    stores.wait_healthy()
    again = grid.finish(grid.start(command))
    retries = grid.check()   # with max_retries 0: no cell was given up
    assert retries["failed"] or retries["recovered"], f"{context}: no cell was in flight when it stopped?"
    assert "gave up" not in again, f"{context}\n{again}"
    trained = [t for t in retries["failed"] if "training_started" in t.user_attrs or marking]
    assert all(t.user_attrs["outcome"] == "STORE_OUTAGE" for t in trained), \
        f"{context}: {[(t.number, t.user_attrs) for t in trained]}"
    outage = [t for t in retries["failed"] if t.user_attrs["fail_reason"].startswith("store outage: the ")]
    # what was training when the store went, at least: said and retried unspent (a pause that
    # lands between two populations leaves only untrained ones, popped and said so too)
    assert outage and {t.number for t in trained} <= {t.number for t in outage}, \
        f"{context}: {[(t.number, t.user_attrs) for t in retries['failed']]}"
    kept = {r.info.run_id: r for r in retries["killed"]}   # their runs say so too
    assert all(kept[t.user_attrs["mlflow_run_id"]].data.tags["outcome"] == "STORE_OUTAGE" for t in outage
               if t.user_attrs.get("mlflow_run_id") in kept), context


# --- a worker started twice under the same name ------------------------------------------------------

def in_own_pid_namespace() -> tuple:
    """A prefix that runs a command as pid 2 of a new pid namespace: every worker started so has
    the same host:pid, as a restarted container does (root only)."""
    return ("unshare", "--pid", "--fork", "--kill-child", "sh", "-c", '"$@"; exit $?', "sh")


def test_a_worker_started_twice_under_the_same_name(stores, workdir, env):
    """Workers whose host and pid are the same, as in containers: (1) one dies (SIGKILL at a
    failpoint) and is started again under the same host:pid; the new one must take the dead
    one's trials for dead, not for its own, and train them; (2) two run at once under the same
    host:pid; neither may take the other's trials for dead."""
    if os.geteuid() != 0 or subprocess.run([*in_own_pid_namespace(), "true"], capture_output=True).returncode != 0:
        pytest.skip("needs root for a pid namespace (unshare)")
    nth = random.Random(f"{SEED}/identity").randint(1, 3)
    context = f"FAULT_SEED={SEED} identity n={nth}"
    grid = Grid(stores, workdir, env, "same-name", context)
    grid.enqueue()
    victim = grid.start(env={"PIPELINE_FAILPOINT": f"mlflow_write:{nth}"}, prefix=in_own_pid_namespace())
    _, err = victim.communicate(timeout=240)
    assert victim.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), f"{context}\n{err[-3000:]}"
    dead = {t.user_attrs["worker"] for t in grid.running_with_run()}
    assert len(dead) == 1 and next(iter(dead)).split(":")[1] == "2", f"{context}: {dead}"
    grid.finish(grid.start(prefix=in_own_pid_namespace()), timeout=240)
    retries = grid.check()
    assert retries["failed"] and {t.user_attrs["worker"] for t in retries["failed"]} == dead, context

    # One cell at a time, long enough that the first still has cells when the second starts. The
    # second is started beforehand (its imports take seconds on a busy machine, longer than the
    # first needs for all its cells) and let go once the first trains.
    twins = Grid(stores, workdir, env, "same-name-twins", context, seeds=12, epochs=25,
                 execution={"population_size": 1}, datasets=[{"name": "digits", "train_size": 900}])
    twins.enqueue()
    gate = workdir / "twins-gate"
    second = twins.start(prefix=in_own_pid_namespace(), gate=gate)
    first = twins.start(prefix=in_own_pid_namespace())
    twins.wait_for_training()
    gate.touch()
    slow_down_until_both_train(twins, first, second)
    pair = [first, second]
    outputs = [twins.finish(proc) for proc in pair]
    retries = twins.check()
    names = {t.user_attrs["worker"] for t in twins.ostudy().trials}
    assert len(names) == 2 and {n.split(":")[1] for n in names} == {"2"}, f"{context}: {names}\n" + "\n".join(outputs)
    assert not retries["failed"], (f"{context}: a twin took the other's trials for dead: "
                                   f"{[(t.number, t.user_attrs) for t in retries['failed']]}\n" + "\n".join(outputs))


# --- a worker cut off from the stores past the grace period -------------------------------------

def test_a_worker_cut_off_past_the_grace_period_records_nothing_twice(stores, workdir, env):
    """A network partition: a worker that is alive but reaches no store (here: paused, SIGSTOP,
    its heartbeats with it) for longer than the grace period. Another worker takes its trials for
    dead, fails them and trains their cells; when the first comes back (SIGCONT) it finishes what
    it was training and finds those trials taken over: it records no second result, its runs end
    KILLED, and it stops with exit 0. Every cell is recorded exactly once."""
    from pipeline.storage import GRACE_S

    context = f"FAULT_SEED={SEED} partition"
    grid = Grid(stores, workdir, env, "partition", context, epochs=30)   # still training when paused
    grid.enqueue()
    cut_off = grid.start()
    grid.wait_for_training()
    cut_off.send_signal(signal.SIGSTOP)
    try:
        held = {t.number for t in grid.running_with_run()}
        assert held, f"{context}: the paused worker holds no trial"
        other = grid.start()
        out = grid.finish(other, timeout=GRACE_S * 6)   # it waits for the silent trials, then retrains them
        taken = [t for t in grid.ostudy().trials if t.number in held]
        assert all(t.state == TrialState.FAIL and t.user_attrs["outcome"] == "WORKER_DIED" for t in taken), \
            f"{context}: {[(t.number, t.state.name, t.user_attrs) for t in taken]}\n{out}"
    finally:
        cut_off.send_signal(signal.SIGCONT)
    said = grid.finish(cut_off)
    retries = grid.check()   # one COMPLETE trial and one FINISHED run a cell; the taken trials' runs KILLED
    assert held <= {t.number for t in retries["failed"]}, context
    assert "taken over by another worker" in said, f"{context}\n{said}"


# --- an answer lost ---------------------------------------------------------------------------

class AnswerLosingProxy:
    """An HTTP proxy in front of the MLflow server that forwards every request, but closes the
    connection instead of passing on the answer to the first create of each trial run: the run is
    created, the answer lost, and MLflow's HTTP client sends the create again (a server killed
    between its commit and its reply does the same). A run's end (runs/update) is answered after
    `slow_ends` s: a worker's last population is still being recorded when it last reaps."""

    def __init__(self, target: str, slow_ends: float = 0.0):
        import http.client
        import http.server
        import json
        import threading

        host, port = target.split("//")[1].split(":")
        lost = self.lost = []

        class Forward(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length") or 0))
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)

            def forward(self):
                body = self._body()
                upstream = http.client.HTTPConnection(host, int(port), timeout=120)
                upstream.request(self.command, self.path, body=body, headers={
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "transfer-encoding")})
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                if self.path.endswith("/runs/update"):
                    time.sleep(slow_ends)
                if self.path.endswith("/runs/create") and answer.status == 200:
                    sent = json.loads(body)
                    if {"key": "kind", "value": "trial"} in sent.get("tags", []) and sent["run_name"] not in lost:
                        lost.append(sent["run_name"])
                        self.close_connection = True   # created; the answer never comes
                        return
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_run_created_twice_because_its_answer_was_lost_ends_as_a_duplicate(stores, workdir, env):
    """A store's answer lost: the MLflow server creates every trial's run, but the first answer
    to each create is lost, MLflow's HTTP client creates it again, and each trial has a second
    run, RUNNING. By the time the worker is done each of those is KILLED as a DUPLICATE, those of
    its last population too (slow to record here, so that they are still RUNNING at the reap of
    its drained loop: the reap after the dataset's records landed closes them)."""
    grid = Grid(stores, workdir, env, "answer-lost", "answer lost")
    grid.enqueue()
    proxy = AnswerLosingProxy(stores.server.url, slow_ends=1.0)
    try:
        grid.args[-1] = proxy.url
        out = grid.finish(grid.start())
    finally:
        proxy.close()
    retries = grid.check()   # among others: no run is RUNNING, every cell has one FINISHED run
    assert not retries["failed"], out
    doubles = [r for r in grid.runs() if r.data.tags.get("outcome") == "DUPLICATE"]
    assert len(proxy.lost) == len(grid.study.cells()) == len(doubles), (proxy.lost, out)
    assert all(r.info.status == "KILLED" and r.data.tags["fail_reason"].startswith("a second run of this trial")
               for r in doubles), out
