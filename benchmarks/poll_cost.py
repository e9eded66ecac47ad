"""What a waiting worker's idle poll costs in a big study, this checkout against another (a
baseline commit's clone): a worker with nothing to pop goes over its datasets every HEARTBEAT_S
while other workers train (orchestrate._each_dataset: _still_open, work_dataset, finish_dataset),
each time reaping dead workers' trials and looking for failed ones to retry (worker.retried). Its
cost should not grow with the trials the study has finished.

    .venv/bin/python benchmarks/poll_cost.py --baseline /path/to/old/clone [--cells 4000] [--failed 400] [--running 200] [--repeats 3]

Builds once, with this checkout: a prepared study (wine, arms none and l2, cells/2 seeds,
max_retries 0) on a SQLite Optuna storage and MLflow store, its trials then set in SQL: all but
`failed` + `running` COMPLETE, `failed` FAIL (a dead worker's: retryable, out of retries), `running` RUNNING named
by a live process of this host (a `sleep`), one of them nameless for the orphan wait. Each side
then runs in a fresh process, taking turns: process CPU of one idle poll (steady state: after two),
of retryable_failures and dead_trials alone, and of _running_once_named waiting 2 s for a trial
popped and not yet named (wall 2 s on both sides: CPU is what its re-reading costs)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parents[1]

# run in each checkout: a worker joined to the built study, polled idle
PROBE = """
import datetime, json, os, resource, sqlite3, statistics, sys, time
from contextlib import redirect_stdout
import io
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
from pipeline import grid, joining, lifecycle, orchestrate, preflight
try:
    from pipeline import liveness
except ImportError:   # a baseline from before liveness.py: its grid held it
    liveness = grid
from pipeline.orchestrate import RunContext
from pipeline.study import load_study
study_file, storage, tracking, db, nameless, repeats = sys.argv[1:7]
nameless, repeats = int(nameless), int(repeats)
study = load_study(study_file)
data = preflight.validate_inputs(study, storage, tracking)
study, ostudies = orchestrate.joined_when_enqueued(study, storage)
ostudy = ostudies[study.plans[0].label]
ctx = RunContext(study, joining.joined_tracker(tracking, ostudy), ostudy.user_attrs.get("mlflow_experiment_id"), "", storage)
plan = study.plans[0]
backend = grid._backend(ostudy)
running = [t._trial_id for t in grid.trials_in(ostudy, (grid.TrialState.RUNNING,))]
def beat():
    for tid in running:
        backend.record_heartbeat(tid)
def poll():
    # one round of orchestrate._each_dataset for a dataset gone through once (its sleep left out)
    if orchestrate._still_open(ctx, plan, data[plan.label]):
        orchestrate.work_dataset(ctx, plan, data[plan.label])
        orchestrate.finish_dataset(ctx, plan, data[plan.label])
def timed(f):
    out = []
    for _ in range(repeats):
        beat()
        c0, w0 = cpu(), time.perf_counter()
        with redirect_stdout(io.StringIO()):
            f()
        out.append((cpu() - c0, time.perf_counter() - w0))
    return statistics.median(c for c, _ in out), statistics.median(w for _, w in out)
with redirect_stdout(io.StringIO()):
    beat(); poll(); poll()   # steady state: the first poll reads every trial (Optuna's cache) and re-queues
if os.environ.get("POLL_PROFILE"):
    import cProfile, pstats
    cProfile.run("poll()", "/tmp/poll.prof")
    pstats.Stats("/tmp/poll.prof", stream=sys.stderr).sort_stats("cumulative").print_stats(25)
result = {"poll": timed(poll),
          "retryable": timed(lambda: grid.retryable_failures(ostudy, lifecycle.retry_now)),
          "dead": timed(lambda: liveness.dead_trials(ostudy))}
# a trial popped 8 s ago and not named yet: the reaper waits ORPHAN_S - 8 = 2 s for its name
beat()   # before the start is set: beating 200 trials takes a while
con = sqlite3.connect(db)
key = con.execute("select key, value_json from trial_user_attributes where trial_id = ? and key = 'worker'", (nameless,)).fetchone()
start = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=liveness.ORPHAN_S - 2)).replace(tzinfo=None)
con.execute("delete from trial_user_attributes where trial_id = ? and key = 'worker'", (nameless,))
con.execute("update trials set datetime_start = ? where trial_id = ?", (start.isoformat(sep=' '), nameless))
con.commit()
c0, w0 = cpu(), time.perf_counter()
liveness._running_once_named(ostudy)
result["orphan_wait"] = (cpu() - c0, time.perf_counter() - w0)
con.execute("insert into trial_user_attributes (trial_id, key, value_json) values (?, ?, ?)", (nameless, *key))
con.commit()
print(json.dumps(result))
"""


def build(workdir: Path, cells: int, failed: int, running: int, live_worker: str) -> tuple[Path, str, str, Path, int]:
    """The study file, Optuna storage URL, MLflow URI, the Optuna SQLite file and the nameless
    trial's id of a prepared study whose trials are then set in SQL (see the module's text)."""
    from pipeline.preparation import prepare
    from pipeline.study import load_study

    study_file = workdir / "pollbench.yaml"
    study_file.write_text(yaml.safe_dump({
        "name": "pollbench", "arms": ["none", "l2"], "seeds": cells // 2, "max_retries": 0,
        "model": {"hidden": [8]}, "optimizer": {"name": "sgd", "lr": 0.1}, "batch_size": 32, "epochs": 1,
        "strengths": {"l2": 1e-3}, "datasets": [{"name": "wine"}]}, sort_keys=False))
    db = workdir / "optuna.db"
    storage, tracking = f"sqlite:///{db}", f"sqlite:///{workdir / 'mlflow.db'}"
    prepare(load_study(study_file), storage, tracking)
    con = sqlite3.connect(db)
    ids = [tid for (tid,) in con.execute("select trial_id from trials order by trial_id")]
    done, fail, run = ids[:len(ids) - failed - running], ids[len(ids) - failed - running:-running], ids[-running:]
    con.execute(f"update trials set state = 'COMPLETE', datetime_complete = datetime_start "
                f"where trial_id in ({','.join(map(str, done))})")
    con.executemany("insert into trial_values (trial_id, objective, value, value_type) values (?, 0, 0.9, 'FINITE')",
                    [(t,) for t in done])
    attrs = {"test_metric": 0.9, "final_val_metric": 0.9, "mlflow_run_id": "0" * 32, "outcome": "COMPLETE"}
    con.executemany("insert into trial_user_attributes (trial_id, key, value_json) values (?, ?, ?)",
                    [(t, k, json.dumps(v)) for t in done for k, v in attrs.items()])
    con.execute(f"update trials set state = 'FAIL', datetime_complete = datetime_start "
                f"where trial_id in ({','.join(map(str, fail))})")
    died = {"worker": "elsewhere:1:x", "outcome": "WORKER_DIED", "fail_reason": "worker died (killed or crashed)",
            "training_started": True}
    con.executemany("insert into trial_user_attributes (trial_id, key, value_json) values (?, ?, ?)",
                    [(t, k, json.dumps(v)) for t in fail for k, v in died.items()])
    con.execute(f"update trials set state = 'RUNNING', datetime_start = datetime('now') "
                f"where trial_id in ({','.join(map(str, run))})")
    con.executemany("insert into trial_user_attributes (trial_id, key, value_json) values (?, 'worker', ?)",
                    [(t, json.dumps(live_worker)) for t in run])
    con.commit()
    return study_file, storage, tracking, db, run[0]


def probe(checkout: Path, built: tuple, repeats: int) -> dict:
    study_file, storage, tracking, db, nameless = built
    env = {"PYTHONPATH": str(checkout), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
           "HOME": os.environ.get("HOME", "/tmp"), **{k: v for k, v in os.environ.items() if k == "POLL_PROFILE"}}
    out = subprocess.run([sys.executable, "-c", PROBE, str(study_file), storage, tracking, str(db), str(nameless),
                          str(repeats)], cwd=study_file.parent, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"probe failed in {checkout}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", required=True, help="a clone of the commit to compare with")
    parser.add_argument("--cells", type=int, default=4000)
    parser.add_argument("--failed", type=int, default=400)
    parser.add_argument("--running", type=int, default=200, help="RUNNING trials, named by a live worker")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    sleeper = subprocess.Popen(["sleep", "3600"])   # the live worker that trains the RUNNING trials
    try:
        with tempfile.TemporaryDirectory() as tmp:
            built = build(Path(tmp), args.cells, args.failed, args.running, f"{socket.gethostname()}:{sleeper.pid}:bench")
            sides = {"baseline": Path(args.baseline).resolve(), "this": HERE}
            runs = {side: [] for side in sides}
            for _ in range(args.repeats):
                for side, checkout in sides.items():
                    runs[side].append(probe(checkout, built, args.repeats))
    finally:
        sleeper.kill()
    print(f"{args.cells} cells: {args.cells - args.failed - args.running} COMPLETE, {args.failed} FAIL, {args.running} RUNNING "
          f"(SQLite); {args.repeats} processes a side, taking turns, each the median of {args.repeats} calls")
    print(f"| what | baseline ({sides['baseline'].name}) | this | this/baseline (medians) |")
    print("|---|---|---|---|")
    for key, what in (("poll", "one idle poll of a dataset (_still_open, work_dataset, finish_dataset)"),
                      ("retryable", "grid.retryable_failures"), ("dead", "liveness.dead_trials, every trial named"),
                      ("orphan_wait", "liveness._running_once_named, waiting 2 s for a nameless trial")):
        for i, unit in ((0, "process CPU s"), (1, "wall s")):
            old, new = ([r[key][i] for r in runs[side]] for side in sides)
            ratio = statistics.median(new) / statistics.median(old)
            print(f"| {what}, {unit} | {', '.join(f'{v:.4f}' for v in old)} | {', '.join(f'{v:.4f}' for v in new)} "
                  f"| {ratio:.2f} |")


if __name__ == "__main__":
    main()
