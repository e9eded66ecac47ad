"""How long a fresh worker's read of a whole study holds a PostgreSQL transaction open, against
storage.IDLE_IN_TRANSACTION_S (the server ends a session of ours idle inside a transaction that
long; a read that needed longer would fail on every retry).

    .venv/bin/python benchmarks/pg_reads.py [--sizes 800 3200 12800] [--epochs 0 50]

Starts a throwaway PostgreSQL (tests/conftest.py's, Debian's packages), runs a small study on it
(digits, 5 arms x 2 seeds) so the trials have the pipeline's own attributes, then copies its first
trial in SQL up to each size, with `--epochs` intermediate values each (tuning trials report one
per epoch; grid trials none). Each row reads every trial in a fresh process, as a worker joining
or a resumed command does (preparation.py), while a thread polls pg_stat_activity every 20 ms for
the longest time a session of it sat "idle in transaction". Prints one row per size."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

STUDY = """name: pgreads
arms: [none, dropout, l1, l2, dropout_l2]
seeds: 2
model: {hidden: [16, 16]}
optimizer: {name: sgd, lr: 0.1, momentum: 0.9}
batch_size: 32
epochs: 3
strengths: {dropout: 0.3, l1: 0.0001, l2: 0.001}
datasets: [{name: digits, train_size: 120}]
"""

# one fresh process: read every trial through the pipeline's storage, watching the server
READ = """
import sys, threading, time
import optuna, sqlalchemy as sa
from pipeline.storage import get_storage
url = sys.argv[1]
watch_engine, worst, done = sa.create_engine(url), [0.0], threading.Event()
def watch():
    with watch_engine.connect() as c:
        while not done.is_set():
            age = c.execute(sa.text("select max(extract(epoch from now() - state_change)) from pg_stat_activity "
                                    "where state = 'idle in transaction' and pid <> pg_backend_pid()")).scalar()
            c.commit()
            worst[0] = max(worst[0], float(age or 0))
            time.sleep(0.02)
threading.Thread(target=watch, daemon=True).start()
started = time.perf_counter()
storage = get_storage(url)
study = optuna.load_study(study_name=optuna.get_all_study_summaries(storage)[0].study_name, storage=storage)
trials = study.get_trials(deepcopy=False)
seconds = time.perf_counter() - started
done.set()
print(len(trials), seconds, worst[0])
"""


def grow(url: str, total: int, epochs: int) -> None:
    """Copy the study's first trial (its params, values and attributes) until it has `total`
    trials, each with `epochs` intermediate values."""
    import sqlalchemy as sa

    with sa.create_engine(url).begin() as c:
        have = c.execute(sa.text("select count(*) from trials")).scalar()
        first = c.execute(sa.text("select min(trial_id) from trials")).scalar()
        last = c.execute(sa.text("select max(number) from trials")).scalar()
        c.execute(sa.text("create temp table new_ids as select g as k, nextval(pg_get_serial_sequence('trials', "
                          "'trial_id')) as tid from generate_series(1, :n) g"), {"n": max(0, total - have)})
        c.execute(sa.text("insert into trials (trial_id, number, study_id, state, datetime_start, datetime_complete) "
                          "select n.tid, :last + n.k, t.study_id, t.state, t.datetime_start, t.datetime_complete "
                          "from new_ids n, trials t where t.trial_id = :first"), {"last": last, "first": first})
        for table, columns in [("trial_params", "param_name, param_value, distribution_json"),
                               ("trial_values", "objective, value, value_type"),
                               ("trial_user_attributes", "key, value_json"),
                               ("trial_system_attributes", "key, value_json")]:
            c.execute(sa.text(f"insert into {table} (trial_id, {columns}) select n.tid, {columns} "
                              f"from new_ids n, {table} x where x.trial_id = :first"), {"first": first})
        c.execute(sa.text("delete from trial_intermediate_values"))
        c.execute(sa.text("insert into trial_intermediate_values (trial_id, step, intermediate_value, "
                          "intermediate_value_type) select t.trial_id, g, 0.5, 'FINITE' from trials t, "
                          "generate_series(0, :e - 1) g"), {"e": epochs})


def main() -> None:
    from conftest import postgres_server
    from pipeline.storage import IDLE_IN_TRANSACTION_S

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[800, 3200, 12800])
    parser.add_argument("--epochs", type=int, nargs="+", default=[0, 50])
    args = parser.parse_args()
    python = sys.executable
    with postgres_server() as pg, tempfile.TemporaryDirectory() as tmp:
        url = f"{pg.url}/optuna"
        (Path(tmp) / "study.yaml").write_text(STUDY)
        subprocess.run([python, "-m", "pipeline", "ablation", "--study", "study.yaml", "--storage", url, "--no-report"],
                       cwd=tmp, check=True, capture_output=True,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/m.db"})
        print(f"| trials | intermediate values each | read, s | longest idle in transaction, s | "
              f"share of IDLE_IN_TRANSACTION_S ({IDLE_IN_TRANSACTION_S:g} s) |")
        print("|---:|---:|---:|---:|---:|")
        for size in sorted(args.sizes):
            for epochs in args.epochs:
                grow(url, size, epochs)
                out = subprocess.run([python, "-c", READ, url], check=True, capture_output=True, text=True,
                                     cwd=ROOT).stdout.split()
                trials, seconds, idle = int(out[0]), float(out[1]), float(out[2])
                print(f"| {trials:,} | {epochs} | {seconds:.2f} | {idle:.2f} | {idle / IDLE_IN_TRANSACTION_S:.3f} |",
                      flush=True)


if __name__ == "__main__":
    main()
