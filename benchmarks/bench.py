"""Benchmarks for the population engine and the pipeline (make bench). Prints one table of
ratios measured side by side in this run; medians of repeats, the two sides of each ratio
measured in turn (median_times). Results go to BENCHMARKS.md.

1. MNIST 784-256-256-10, batch 256, SGD: seconds per model-epoch of (a) the tutorial loop
   (torchvision ToTensor + DataLoader, one model), (b) the reference trainer, (c) the population
   engine with K=10, against the machine's limit (training matmul FLOPs / measured fp32 matmul
   throughput). Per epoch = the slope of wall time between 1 and 3 epochs; the one-off part
   (set-up, final evaluation on every split) is printed on its own rows.
2. digits, the default study's 5 arms x 10 seeds: reference trial by trial vs population.
3. The default study end to end (ablation + report): wall time and bookkeeping share.
4. Peak RSS of an MNIST study with 5 arms x 3 seeds.
5. Report generation for a 500-trial study.
6. Scale: a fast synthetic study (quadrants at 4 training-set sizes, 5 arms, 5 epochs, an 8-unit
   MLP) at 200, 3,200 and 12,800 trials, on local SQLite and through an `mlflow server` started here on 127.0.0.1
   (SQLite behind it, artifacts proxied): per-trial study time, bookkeeping per trial and its
   share (the root run's time_* metrics, as part 3), and the HTML report's time and requests.
   `--only 6` runs just this part; `--scale-max 3200` leaves out the larger sizes. Then the
   workload issue 18 measured: the default study at 200, 3,200 and 12,800 trials on SQLite (6d).
   6p: one worker of a distributed study on PostgreSQL at 500 and 2,500 cells, and a pop against
   Optuna's own.
7. Tuning (issue 14): the tuning stage of studies/tuned.yaml, batched through the population
   engine against one trial at a time (on this code, and as commit SEQUENTIAL_TUNING_COMMIT ran it).
8. Population size on the CPU: the digits grid and MNIST at several K (what population_size:
   auto chooses on the CPU).
9. GPU (skipped with a note without CUDA): MNIST per model-epoch against the fp32 and tf32 matmul
   limits for population sizes up to the auto size, the MNIST study end to end (auto against 10),
   the tuning stage on CUDA against the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MNIST_ROOT = Path(os.environ.get("MNIST_ROOT", ROOT.parent / "shared" / "data"))

from pipeline.datasets import load  # noqa: E402
from pipeline.population import train_population  # noqa: E402
from pipeline.study import DatasetSpec, load_study  # noqa: E402
from pipeline.train import TrialConfig, train  # noqa: E402


EPOCHS = (1, 3)  # part 1 times each trainer at these epoch counts; per epoch = the slope


def _pythonpath(root: Path) -> str:
    """A CLI subprocess's PYTHONPATH: the checkout first, then the caller's (a GPU machine's carried
    wheels: without them the CLI finds no optuna there)."""
    return os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)


def median_time(fn, repeats: int) -> float:
    return median_times([fn], repeats)[0]


def median_times(fns: list, repeats: int) -> list[float]:
    """Median wall time of each function over `repeats` rounds, the functions taking turns
    within each round (in reverse order every other round): on a shared machine whose speed
    drifts by tens of percent over minutes, measuring one side of a ratio after the other
    measures the drift, not the code."""
    def timed(fn):
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    return median_results([lambda fn=fn: timed(fn) for fn in fns], repeats)


def median_results(fns: list, repeats: int) -> list[float]:
    """median_times for functions that measure themselves: the median of what each returns."""
    out: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        for i in (range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))):
            out[i].append(fns[i]())
    return [statistics.median(v) for v in out]


def matmul_flops_per_s(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    return 2 * n ** 3 / median_time(lambda: torch.matmul(a, b), repeats)


def tutorial_loop(n_train: int, epochs: int = 1) -> None:
    """What users copy from the tutorials: torchvision dataset, ToTensor, DataLoader, one model."""
    from torch import nn
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    ds = datasets.MNIST(root=str(MNIST_ROOT), train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(Subset(ds, range(n_train)), batch_size=256, shuffle=True)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()


def slope_and_intercept(lo: float, hi: float, epochs: tuple[int, int] = EPOCHS) -> tuple[float, float]:
    """(seconds per additional epoch, one-off seconds) from wall times at two epoch counts, so
    set-up and the final evaluation on every split (once per trial, whatever the epochs) are
    not charged to the epoch."""
    slope = (hi - lo) / (epochs[1] - epochs[0])
    return slope, lo - slope * epochs[0]


def bench_mnist(repeats: int, n_train: int) -> list[tuple]:
    data = load(DatasetSpec(name="mnist", root=str(MNIST_ROOT), download=False, train_size=n_train,
                            val_fraction=1 / 12), 0)
    base = dict(arm="none", hidden=(256, 256), dropout=(0.0, 0.0), optimizer="sgd", lr=0.1, batch_size=256,
                device="cpu")
    k = 10
    params = 784 * 256 + 256 * 256 + 256 * 10
    flops = 6 * params * n_train  # forward 2, backward 4 FLOPs per weight per sample
    trainers = [lambda e: tutorial_loop(n_train, e),
                lambda e: train(TrialConfig(seed=0, epochs=e, **base), data),
                lambda e: train_population([TrialConfig(seed=s, epochs=e, **base) for s in range(k)], data)]
    limits = []  # the matmul throughput is measured in turn with the trainers, like them
    times = median_times([(lambda t=t, e=e: t(e)) for t in trainers for e in EPOCHS]
                         + [lambda: limits.append(flops / matmul_flops_per_s())], repeats)
    (t_tutorial, once_tutorial), (t_reference, once_reference), (t_pop, once_pop) = (
        slope_and_intercept(times[2 * i], times[2 * i + 1]) for i in range(len(trainers)))
    t_pop, once_pop = t_pop / k, once_pop / k
    limit = statistics.median(limits)
    return [
        ("1a MNIST tutorial loop, s/model-epoch", t_tutorial, t_tutorial / limit, ""),
        ("1b MNIST reference trainer, s/model-epoch", t_reference, t_reference / limit, ""),
        ("1c MNIST population K=10, s/model-epoch", t_pop, t_pop / limit, "target <= 1.3x limit"),
        ("1  machine limit (FLOPs / matmul throughput)", limit, 1.0, ""),
        ("1  speed-up population vs tutorial", t_tutorial / t_pop, None, "target >= 5x"),
        ("1  one-off per model: tutorial (dataset set-up), s", once_tutorial, None, ""),
        ("1  one-off per model: reference (init, final metrics), s", once_reference, None, ""),
        ("1  one-off per model: population (init, final metrics), s", once_pop, None, ""),
    ]


def bench_small(repeats: int) -> list[tuple]:
    study = load_study(ROOT / "studies/default.yaml", datasets="digits")
    plan = study.plans[0]
    data = load(plan.dataset, study.spec.split_seed)
    cfgs = [TrialConfig.for_cell(plan.training, arm, seed, "cpu") for arm, seed in study.cells()]
    size = plan.execution.population_size
    t_ref, t_pop = median_times([lambda: [train(c, data) for c in cfgs],
                                 lambda: [train_population(cfgs[i:i + size], data) for i in range(0, len(cfgs), size)]],
                                repeats)
    return [("2  digits grid 5x10: reference, s", t_ref, None, ""),
            ("2  digits grid 5x10: population, s", t_pop, None, ""),
            ("2  speed-up population vs reference", t_ref / t_pop, None, "target >= 5x")]


def run_pipeline(args: list[str], cwd: Path, tracking: str = "", module: bool = True) -> tuple[float, str, int]:
    """`python -m pipeline ARGS` (or `python ARGS` with module=False) in cwd: wall time, stdout, peak RSS."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking or f"sqlite:///{cwd / 'mlflow.db'}", "PYTHONPATH": _pythonpath(ROOT)}
    env.pop("MLFLOW_RUN_ID", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, *(["-m", "pipeline"] if module else []), *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, proc.stdout, max(peak_kb, before)


def study_times(tracking: str) -> dict[str, float]:
    """Where a study's time went, as the ablation logged it on its root run (time_*_s metrics,
    runtime.Stopwatch): {"total": ..., "training": ..., "bookkeeping": ..., ...}."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    root = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              "tags.kind = 'root'", max_results=1)[0]
    return {k[len("time_"):-len("_s")]: v for k, v in root.data.metrics.items() if k.startswith("time_")}


def bench_end_to_end(repeats: int) -> list[tuple]:
    """The default study as users run it (one process: ablation, then report), `repeats` times;
    the rows are the run with the median wall time, so its parts add up. The ablation
    and the report measure themselves (runtime.Stopwatch, cli -> root-run metrics time_*_s): training, bookkeeping
    that held up training (MLflow and Optuna writes on the main thread, including waiting for
    the bookkeeping thread), that thread's writes that overlapped training, and the CPU time of
    all those writes. The share is taken on CPU time: overlapped writes hold the GIL and a core
    that training would use, so hiding them behind training does not make them free."""
    measured = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            wall, out, _ = run_pipeline(["ablation", "--study", str(ROOT / "studies/default.yaml"),
                                         "--reports-dir", str(tmp / "reports")], tmp)
            measured.append((wall, study_times(f"sqlite:///{tmp / 'mlflow.db'}")))
    wall, t = sorted(measured, key=lambda m: m[0])[len(measured) // 2]  # the median run, whole
    report = t["report"]
    startup = wall - t["total"] - report
    both = t["bookkeeping"] + t.get("recording_background", 0.0)
    cpu = t["bookkeeping_cpu"]
    return [("3  default study end to end (ablation + report), s", wall, None, "target < 60 s"),
            ("3  of which training, s", t["training"], t["training"] / wall, ""),
            ("3  of which report (HTML + PDF), s", report, report / wall, ""),
            ("3  of which loading data and checks, s", t["loading"], t["loading"] / wall, ""),
            ("3  of which start-up (imports) and summary, s", startup, startup / wall, ""),
            ("3  bookkeeping holding up training, s", t["bookkeeping"], t["bookkeeping"] / wall, ""),
            ("3  bookkeeping-thread writes overlapped with training, s", t.get("recording_background", 0.0),
             t.get("recording_background", 0.0) / wall, ""),
            ("3  all MLflow+Optuna wall time (held up + overlapped), s", both, both / wall, ""),
            ("3  MLflow+Optuna CPU time (both threads), s", cpu, cpu / wall, "target share < 10%")]


def bench_memory() -> list[tuple]:
    study = {"name": "mnist-mem", "seeds": 3, "epochs": 1, "model": {"hidden": [256, 256]},
             "optimizer": {"name": "sgd", "lr": 0.1}, "batch_size": 256,
             "datasets": [{"name": "mnist", "root": str(MNIST_ROOT), "download": False, "val_fraction": 0.1}]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "s.yaml").write_text(yaml.safe_dump(study))
        code = ("import resource, runpy, sys; sys.argv=['pipeline','ablation','--study','s.yaml','--no-report'];"
                "import pipeline.cli as c; rc=c.main(sys.argv[1:]);"
                "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}", "PYTHONPATH": _pythonpath(ROOT)}
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True, check=True).stdout
        peak_mb = int(out.split("PEAK_KB")[1].split()[0]) / 1024
    return [("4  peak RSS, MNIST 5 arms x 3 seeds, MB", peak_mb, peak_mb / 1536, "target < 1.5 GB (ratio to 1536 MB)")]


def bench_report(n_trials: int = 500) -> list[tuple]:
    seeds = n_trials // 10
    study = {"name": "report-bench", "seeds": seeds, "epochs": 2, "model": {"hidden": [16]},
             "datasets": [{"name": "wine"}, {"name": "quadrants"}]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "s.yaml").write_text(yaml.safe_dump(study))
        run_pipeline(["ablation", "--study", "s.yaml", "--no-report"], tmp)
        walls = []
        for _ in range(2):
            wall, _, _ = run_pipeline(["report", "--study", "s.yaml"], tmp)
            walls.append(wall)
    wall = statistics.median(walls)
    return [(f"5  report for {n_trials} trials (HTML+PDF, process wall), s", wall, wall / 30, "target < 30 s (ratio to 30 s)")]


# --- part 6: scale -------------------------------------------------------------------------------

SCALE_SIZES = (200, 3200, 12800)
SCALE_STORES = ("sqlite", "server")
REPORT_TIMER = ("import sys, time; from pipeline.report import build_report; from pipeline.study import load_study; "
                "study = load_study('s.yaml'); t = time.perf_counter(); "
                "build_report(study, tracking=sys.argv[1], out_dir='reports', pdf=False); "
                "print('REPORT_SECONDS', time.perf_counter() - t)")


@contextmanager
def mlflow_server(workdir: Path):
    """`mlflow server` on a free 127.0.0.1 port, SQLite behind it and artifacts proxied to a local
    folder, as the README's distributed set-up runs it; yields (URL, its access log). One worker
    (--workers 1): with several, uvicorn leaves Nagle's algorithm on for keep-alive connections
    (uvicorn#3149) and every request after a connection's first waits ~40 ms for a delayed ACK."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = workdir / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
                                 f"sqlite:///{workdir / 'server.db'}", "--artifacts-destination",
                                 str(workdir / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "1"], cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError("mlflow server did not start: " + log.read_text()[-2000:])
                time.sleep(0.5)
        yield url, log, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _requests_in(log: Path, since: int) -> int:
    """HTTP requests the server logged after line `since` (its access log: one line each)."""
    return sum(1 for line in log.read_text().splitlines()[since:] if '"' in line and "HTTP/" in line)


def _tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its descendants (ps: cumulative times)."""
    rows = [line.split() for line in subprocess.run(["ps", "-eo", "pid=,ppid=,times="], capture_output=True,
                                                      text=True).stdout.splitlines()]
    tree, grew = {pid}, True
    while grew:
        more = {int(p) for p, pp, _ in rows if int(pp) in tree} - tree
        tree |= more
        grew = bool(more)
    return float(sum(int(t) for p, _, t in rows if int(p) in tree))


def scale_point(n_trials: int, store: str) -> dict:
    """One study of n_trials through one store: its time_* metrics, the server's CPU time, the
    report's time and requests."""
    # four training-set sizes of one dataset (four dataset parents) x 5 arms x n/20 seeds: at most
    # 640 seeds per comparison (stats.min_wilcoxon_p computes 2 ** seeds as a float)
    study = {"name": f"scale{n_trials}", "seeds": n_trials // 20, "epochs": 5, "model": {"hidden": [8]},
             "batch_size": 64, "train_sizes": [0.25, 0.5, 0.75, 1.0], "datasets": [{"name": "quadrants"}]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "s.yaml").write_text(yaml.safe_dump(study))
        with (mlflow_server(tmp) if store == "server" else _local(tmp)) as (uri, log, pid):
            cpu_before = _tree_cpu(pid) if pid else 0.0
            wall, _, _ = run_pipeline(["ablation", "--study", "s.yaml", "--no-report"], tmp, uri)
            server_cpu = _tree_cpu(pid) - cpu_before if pid else None
            t = study_times(uri)
            before = len(log.read_text().splitlines()) if log else 0
            report_wall, out, _ = run_pipeline(["-c", REPORT_TIMER, uri], tmp, uri, module=False)
            requests = _requests_in(log, before) if log else None
    print(f"part 6, {store}, {n_trials} trials: time_*_s {t}", file=sys.stderr, flush=True)
    return {"n": n_trials, "wall": wall, "t": t, "server_cpu": server_cpu, "requests": requests,
            "report": float(out.split("REPORT_SECONDS")[1].split()[0]), "report_process": report_wall}


@contextmanager
def _local(tmp: Path):
    yield f"sqlite:///{tmp / 'mlflow.db'}", None, None


def _scale_rows(store: str, p: dict) -> list[tuple]:
    n, t = p["n"], p["t"]
    total, held, cpu = t["total"], t["bookkeeping"], t["bookkeeping_cpu"]
    rows = [(f"6  {store} {n:>5} trials: study, ms/trial", 1000 * total / n, None, ""),
            (f"6  {store} {n:>5} trials: bookkeeping held up, ms/trial", 1000 * held / n, held / total,
             "ratio: share of study wall time"),
            (f"6  {store} {n:>5} trials: MLflow+Optuna CPU, ms/trial", 1000 * cpu / n, cpu / total,
             "ratio: share of study wall time")]
    if p["server_cpu"] is not None:
        rows.append((f"6  {store} {n:>5} trials: server CPU, ms/trial", 1000 * p["server_cpu"] / n, None,
                     "the mlflow server's own CPU time"))
    note = f"{p['requests']} requests; " if p["requests"] is not None else ""
    target = store == "server" and n >= 12800
    rows.append((f"6  {store} {n:>5} trials: report (HTML + CSV), s", p["report"], p["report"] / 60 if target else None,
                 note + f"process {p['report_process']:.1f} s with imports" + ("; target < 60 s" if target else "")))
    return rows


def bench_scale(sizes: tuple[int, ...], stores: tuple[str, ...]) -> list[tuple]:
    """Part 6. Flat bookkeeping: the cost of one more trial (the slope between two sizes) stays
    the same from the smallest to the largest study; per-trial averages also carry the study's
    fixed costs (data, parent runs, the Optuna study), which small studies amortize less."""
    rows = []
    for store in stores:
        points = [scale_point(n, store) for n in sizes]
        for p in points:
            rows += _scale_rows(store, p)
        slopes = [(b["t"]["bookkeeping"] - a["t"]["bookkeeping"]) / (b["n"] - a["n"]) for a, b in zip(points, points[1:])]
        for (a, b), slope in zip(zip(points, points[1:]), slopes):
            rows.append((f"6  {store}: bookkeeping per added trial {a['n']}->{b['n']}, ms", 1000 * slope, None, ""))
        if len(slopes) > 1:
            rows.append((f"6  {store}: bookkeeping per added trial, last/first", slopes[-1] / slopes[0],
                         slopes[-1] / slopes[0], "target within 20% (0.8-1.2)"))
        if len(points) > 1:
            per = [p["t"]["bookkeeping"] / p["n"] for p in (points[0], points[-1])]
            rows.append((f"6  {store}: bookkeeping per trial, {points[-1]['n']} vs {points[0]['n']}", per[1] / per[0],
                         per[1] / per[0], "averages, fixed costs included"))
    return rows


DEFAULT_SCALE_SEEDS = (10, 160, 640)   # x 5 arms x 4 datasets: 200, 3,200 and 12,800 trials
DEFAULT_CELLS_PER_SEED = 20


def bench_default_scale(seeds: tuple[int, ...] = DEFAULT_SCALE_SEEDS) -> list[tuple]:
    """Part 6, the workload issue 18 measured: the default study (4 datasets x 5 arms) at 10, 160
    and 640 seeds (200, 3,200 and 12,800 trials), `ablation --no-report` in a fresh SQLite
    store, one run each. Its trials train for tens of milliseconds, as users' trials do; the scale study's
    8-unit trials above train for ~1.5 ms, below what one MLflow run costs to write."""
    spec = yaml.safe_load((ROOT / "studies/default.yaml").read_text())
    rows = []
    for n_seeds in seeds:
        n = n_seeds * len(spec["arms"]) * len(spec["datasets"])
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "s.yaml").write_text(yaml.safe_dump({**spec, "name": f"default{n}", "seeds": n_seeds}))
            wall, _, _ = run_pipeline(["ablation", "--study", "s.yaml", "--no-report"], tmp)
            t = study_times(f"sqlite:///{tmp / 'mlflow.db'}")
        print(f"part 6, default study, {n} trials: time_*_s {t}", file=sys.stderr, flush=True)
        total, held, cpu = t["total"], t["bookkeeping"], t["bookkeeping_cpu"]
        rows += [(f"6d default {n:>5} trials: study, ms/trial", 1000 * total / n, None, ""),
                 (f"6d default {n:>5} trials: training, ms/trial", 1000 * t["training"] / n, t["training"] / total,
                  "ratio: share of study wall time"),
                 (f"6d default {n:>5} trials: bookkeeping held up, ms/trial", 1000 * held / n, held / total,
                  "ratio: share of study wall time; target < 0.10"),
                 (f"6d default {n:>5} trials: MLflow+Optuna CPU, ms/trial", 1000 * cpu / n, cpu / total,
                  "ratio: share of study wall time")]
    return rows


PG_QUEUE_SIZES = (500, 2500)


def bench_pg_queue(sizes: tuple[int, ...] = PG_QUEUE_SIZES) -> list[tuple]:
    """Part 6p: distributed studies on PostgreSQL as their queue grows. One `worker` trains an
    enqueued grid (quadrants, 5 arms, 1 epoch, an 8-unit MLP: bookkeeping, not training) of each
    size in a throwaway PostgreSQL server (tests/conftest.py's): its ms per cell should not grow
    with the queue. Then the enqueue of the largest size's cells in process (grid.enqueue_missing,
    ADD_CHUNK cells a transaction) against Optuna's add_trial a cell at the smallest size, and a pop
    of 10 cells from that queue, the pipeline's (grid.pop_cells) against Optuna's own pop
    (Study._pop_waiting_trial_id, which reads the whole queue each time), median of 3."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import _pg_bin, postgres_server
    import optuna
    from pipeline import grid, lifecycle
    from pipeline.storage import get_storage

    if _pg_bin() is None:
        print("note: PostgreSQL is not installed; skipping part 6p", file=sys.stderr)
        return []
    rows, per_cell = [], []
    with postgres_server() as pg:
        for i, n in enumerate(sizes):
            subprocess.run([str(_pg_bin() / "createdb"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", f"q{i}"],
                           check=True, capture_output=True)
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                (tmp / "s.yaml").write_text(yaml.safe_dump({"name": f"pgq{n}", "seeds": n // 5, "epochs": 1, "model": {
                    "hidden": [8]}, "batch_size": 64, "datasets": [{"name": "quadrants"}]}))
                stores = ["--study", "s.yaml", "--storage", f"{pg.url}/q{i}"]
                enqueue, _, _ = run_pipeline(["enqueue", *stores], tmp)
                wall, _, _ = run_pipeline(["worker", *stores], tmp)
            print(f"part 6p, {n} cells: enqueue {enqueue:.1f} s, worker {wall:.1f} s", file=sys.stderr, flush=True)
            per_cell.append(1000 * wall / n)
            rows += [(f"6p postgresql {n:>5} cells: enqueue, ms/cell", 1000 * enqueue / n, None, ""),
                     (f"6p postgresql {n:>5} cells: one worker, ms/cell", per_cell[-1], None, "its whole process")]
        rows.append((f"6p worker ms/cell, {sizes[-1]} vs {sizes[0]} cells", per_cell[-1], per_cell[-1] / per_cell[0],
                     "target <= 1.2 (flat)"))
        ostudy = optuna.create_study(study_name="pops", storage=get_storage(f"{pg.url}/optuna"))
        started = time.perf_counter()
        grid.enqueue_missing(ostudy, [(a, s) for a in grid.ARM_PARAM_CHOICES for s in range(sizes[-1] // 5)], 1,
                             lifecycle.spent_attempt)
        ours = (time.perf_counter() - started) / sizes[-1]
        rows.append((f"6p enqueue of {sizes[-1]} cells (grid.enqueue_missing): pipeline vs Optuna, ms/cell",
                     1000 * ours, ours / _optuna_add_trial_s(pg.url, sizes[0]),
                     f"Optuna's add_trial, a transaction each, at {sizes[0]} cells"))
        ours, optunas = median_times([lambda: grid.pop_cells(ostudy, 10),
                                      lambda: [ostudy._pop_waiting_trial_id() for _ in range(10)]], 3)
    rows.append((f"6p pop of 10 from {sizes[-1]} waiting: pipeline vs Optuna, s", ours, ours / optunas,
                 f"Optuna's own pop {optunas:.2f} s"))
    return rows


def _optuna_add_trial_s(url: str, n: int) -> float:
    """Seconds a cell that Optuna's own add_trial (one transaction a trial) takes to enqueue n grid
    cells into a PostgreSQL server's database optuna: what grid.enqueue_missing did until 2026-12-06."""
    import optuna

    from pipeline import grid
    from pipeline.storage import get_storage

    ostudy = optuna.create_study(study_name="one_by_one", storage=get_storage(f"{url}/optuna"))
    cells = [grid._waiting_cell(a, s, {"cell": grid.cell_name(a, s), "arm": a, "seed": s, "attempt": 1})
             for a in grid.ARM_PARAM_CHOICES for s in range(n // 5)]
    started = time.perf_counter()
    for cell in cells:
        ostudy.add_trial(cell)
    return (time.perf_counter() - started) / len(cells)


def bench_idle_look(n: int = 12_800, in_flight: int = 50, repeats: int = 5) -> list[tuple]:
    """Part 6e: what a worker with nothing left to train reads every HEARTBEAT_S while other
    workers finish (lifecycle.reap, then grid.retry_failed), on a study of n COMPLETE trials
    (each with a grid trial's attributes) and `in_flight` RUNNING ones, with their RUNNING MLflow
    runs; Optuna on SQLite through SQLAlchemy, as on PostgreSQL. Against the two reads of every
    trial that both did until 2026-12-01 (grid.states_and_runs, latest_by_cell of all trials)."""
    import optuna
    from optuna.trial import TrialState

    from pipeline import grid, lifecycle, liveness
    from pipeline import runtree as rt
    from pipeline.tracking import NewRun, Tracker

    with tempfile.TemporaryDirectory() as tmp:
        ostudy = grid.open_study(f"sqlite:///{tmp}/optuna.db", "idle", "maximize")
        result = {k: 0.5 for k in rt.RESULT_ATTRS}
        for start in range(0, n, 1000):
            ostudy.add_trials([optuna.trial.create_trial(
                state=TrialState.COMPLETE, value=0.5, params={"seed": i}, distributions={"seed": grid.IntDistribution(0, grid.SEED_HIGH)},
                user_attrs={rt.CELL_ARM: "l2", rt.CELL_SEED: i, rt.ATTEMPT: 1, rt.TRIAL_RUN_ID: f"{i:032x}", **result})
                for i in range(start, min(n, start + 1000))])
        grid.enqueue_missing(ostudy, [("none", n + i) for i in range(in_flight)], max_retries=2,
                             spent_attempt=lifecycle.spent_attempt)
        popped = grid.pop_cells(ostudy, in_flight)
        grid.claim(ostudy, [cell[0] for cell in popped])
        beat = liveness.heartbeat(ostudy, [cell[0] for cell in popped]).start()
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db")
        experiment_id = tracker.experiment_for("idle")
        ostudy.set_user_attr(rt.STUDY_EXPERIMENT, experiment_id)
        root = tracker.root_run(experiment_id, "idle", {})
        tracker.start_trials(experiment_id, [NewRun(root, f"none/seed{n + i}", {rt.OPTUNA_STUDY: "idle",
                                                    rt.OPTUNA_TRIAL: cell[0].number}, {}) for i, cell in enumerate(popped)])
        try:
            def look():
                lifecycle.reap(ostudy, tracker)
                grid.retry_failed(ostudy, 2, lifecycle.retry_now, lifecycle.spent_attempt)

            def every_trial_twice():
                grid.states_and_runs(ostudy)
                grid.latest_by_cell(ostudy.get_trials(deepcopy=False))
            t_look, t_scan = median_times([look, every_trial_twice], repeats)
        finally:
            beat.stop()
        assert len(ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))) == in_flight   # nobody reaped
    return [(f"6e idle worker's look, {n} trials ({in_flight} in flight), ms", 1000 * t_look,
             t_look / (t_look + t_scan), "ratio: to the same look reading every trial twice, as before")]


# --- part 7: tuning through the population engine (issue 14) ---------------------------------------

# The last commit whose tuning asked one trial at a time and trained it with the reference trainer.
SEQUENTIAL_TUNING_COMMIT = "9266caa"


def _study_time(study: dict, root: Path, key: str = "tuning") -> float:
    """`ablation --no-report` of a study in a fresh folder with the pipeline at `root`; the
    root run's time_<key>_s (the stage as the pipeline's stopwatch measured it)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "s.yaml").write_text(yaml.safe_dump(study))
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}", "PYTHONPATH": _pythonpath(root)}
        env.pop("MLFLOW_RUN_ID", None)
        subprocess.run([sys.executable, "-m", "pipeline", "ablation", "--study", "s.yaml", "--no-report"],
                       cwd=tmp, env=env, capture_output=True, text=True, check=True)
        return study_times(env["MLFLOW_TRACKING_URI"])[key]


@contextmanager
def checkout(commit: str):
    """The repository at `commit` in a temporary git worktree (None when git cannot make one)."""
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp) / "tree"
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
                              capture_output=True, text=True).returncode == 0
        try:
            yield where if made else None
        finally:
            if made:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], capture_output=True)


def bench_tuning(repeats: int, device: str = "cpu", label: str = "7 ") -> list[tuple]:
    """The tuning stage of studies/tuned.yaml (2 datasets x 4 tuned arms x 8 trials) on `device`:
    today's batched tuning against one trial at a time, both on this code (tune.batch 1, the
    reference trainer) and as commit SEQUENTIAL_TUNING_COMMIT ran it; the sides taken in turn."""
    study = yaml.safe_load((ROOT / "studies/tuned.yaml").read_text())
    study["execution"] = {"device": device}
    sequential = {**study, "tune": {**study["tune"], "batch": 1}, "execution": {"device": device, "engine": "reference"}}
    variants = [("batched: tune.batch 4 (default), population engine", lambda: _study_time(study, ROOT)),
                ("one at a time on this code: tune.batch 1, reference", lambda: _study_time(sequential, ROOT))]
    with checkout(SEQUENTIAL_TUNING_COMMIT) as old:
        if old is not None and device == "cpu":   # that commit had no device rule: its auto meant CUDA
            variants.append((f"one at a time, commit {SEQUENTIAL_TUNING_COMMIT} (before issue 14)",
                             lambda: _study_time({**study, "execution": {"device": "cpu"}}, old)))
        times = median_results([fn for _, fn in variants], repeats)
    rows = [(f"{label} tuned.yaml tuning stage, {name}, s", t, t / times[0], "ratio to batched")
            for (name, _), t in zip(variants, times)]
    if len(times) > 2:
        rows.append((f"{label} speed-up of tuning vs commit {SEQUENTIAL_TUNING_COMMIT}", times[2] / times[0], None,
                     "target >= 4x"))
    return rows


# --- part 8: population size on the CPU (what population_size: auto uses there) -------------------

def bench_population_sizes(repeats: int, n_train: int) -> list[tuple]:
    """The default study's digits grid (5 arms x 10 seeds, 128-128, 40 epochs) in populations of
    1, 5, 10, 25 and 50; MNIST (784-256-256-10, n_train samples, 1 epoch) per model at K = 5, 10, 20."""
    study = load_study(ROOT / "studies/default.yaml", datasets="digits")
    plan = study.plans[0]
    data = load(plan.dataset, study.spec.split_seed)
    cfgs = [TrialConfig.for_cell(plan.training, arm, seed, "cpu") for arm, seed in study.cells()]
    sizes = (1, 5, 10, 25, 50)
    times = median_times([lambda k=k: [train_population(cfgs[i:i + k], data) for i in range(0, len(cfgs), k)]
                          for k in sizes], repeats)
    at10 = times[sizes.index(10)]
    rows = [(f"8  digits grid 5x10 in populations of {k}, s", t, t / at10, "ratio to K=10") for k, t in zip(sizes, times)]
    if (MNIST_ROOT / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        mnist = load(DatasetSpec(name="mnist", root=str(MNIST_ROOT), download=False, train_size=n_train,
                                 val_fraction=1 / 12), 0)
        base = dict(arm="none", hidden=(256, 256), dropout=(0.0, 0.0), optimizer="sgd", lr=0.1, batch_size=256,
                    device="cpu", epochs=1)
        ks = (5, 10, 20)
        per = [t / k for t, k in zip(median_times([lambda k=k: train_population(
            [TrialConfig(seed=s, **base) for s in range(k)], mnist) for k in ks], repeats), ks)]
        rows += [(f"8  MNIST population K={k}, 1 epoch, s/model", t, t / per[1], "ratio to K=10") for k, t in zip(ks, per)]
    return rows


# --- part 9: the GPU (skipped without CUDA) --------------------------------------------------------

def bench_gpu(repeats: int) -> list[tuple]:
    """On CUDA: MNIST (784-256-256-10, batch 256, SGD, 54,000 samples) per model-epoch against the
    fp32 matmul limit for populations up to population_size: auto, fp32 and tf32; the MNIST
    study end to end (auto against population_size 10); the tuning stage on CUDA against the CPU."""
    if not torch.cuda.is_available():
        print("note: no CUDA device here; part 9 (GPU) skipped", file=sys.stderr)
        return []
    from pipeline.population import cuda_fit

    dev = torch.device("cuda")
    data = load(DatasetSpec(name="mnist", root=str(MNIST_ROOT), download=False, val_fraction=0.1), 0)
    n = len(data.x_train)
    base = dict(arm="none", hidden=(256, 256), dropout=(0.0, 0.0), optimizer="sgd", lr=0.1, batch_size=256, device="cuda")
    flops = 6 * (784 * 256 + 256 * 256 + 256 * 10) * n
    limit = flops / _cuda_matmul_flops(tf32=False)
    limit_tf32 = flops / _cuda_matmul_flops(tf32=True)
    auto = min(cuda_fit(TrialConfig(seed=0, **base), data, dev), 256)
    rows = [(f"9  {torch.cuda.get_device_name()}, torch {torch.__version__}: fp32 limit, s/model-epoch", limit, 1.0, ""),
            ("9  tf32 limit, s/model-epoch", limit_tf32, limit_tf32 / limit, "")]
    for precision in ("fp32", "tf32"):
        for k in sorted({1, 10, 50, 100, auto}):
            per = epoch_seconds([TrialConfig(seed=s, precision=precision, **base) for s in range(k)], data,
                                epochs=2 + 2 * repeats)
            rows.append((f"9  MNIST population K={k}{' (auto)' if k == auto else ''} {precision}, s/model-epoch",
                         per / k, per / k / limit, "target auto <= 1.5x fp32 limit" if k == auto and precision == "fp32" else ""))
            # as it goes: a device call cut short at its time limit still returns what was measured
            print("part 9 so far:", *rows[-1], file=sys.stderr, flush=True)
    return rows + _gpu_studies()


def epoch_seconds(cfgs: list, data, epochs: int) -> float:
    """The median wall time of one epoch of a population (training, validation, history), from
    the end of one epoch to the end of the next, epochs 2 on, in one run. On a GPU the slope
    between whole runs of 1 and 3 epochs (part 1's way) moved by 2x between K=50 and K=100 from
    one run to the next: each run's one-off costs (CPU initialization of every model, the final
    evaluation on every split) vary by more than an epoch at this speed."""
    import dataclasses

    ends = []

    def mark(epoch, rows):
        ends.append(time.perf_counter())   # end_epoch has read the epoch's losses: the GPU is done
        return ()
    train_population([dataclasses.replace(c, epochs=epochs, early_stopping_patience=0) for c in cfgs], data,
                     on_epoch=mark)
    return statistics.median(b - a for a, b in zip(ends, ends[1:]))


def _cuda_matmul_flops(tf32: bool, n: int = 8192) -> float:
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        a, b = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
        torch.matmul(a, b)
        torch.cuda.synchronize()

        def mm():
            for _ in range(5):
                torch.matmul(a, b)
            torch.cuda.synchronize()
        return 5 * 2 * n ** 3 / median_time(mm, 3)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


# a whole study per repeat: on a short GPU lease one each (a device call cut at its limit still
# returns the studies measured so far, each printed as it ends)
GPU_STUDY_REPEATS = int(os.environ.get("GPU_STUDY_REPEATS", "1"))


def _said(what: str, fn):
    def measured():
        t0 = time.perf_counter()
        value = fn()
        print(f"part 9 so far: {what}: {value:.2f} s (the whole run {time.perf_counter() - t0:.1f} s)",
              file=sys.stderr, flush=True)
        return value
    return measured


def _gpu_studies() -> list[tuple]:
    """The MNIST study end to end on CUDA (training time, auto against 10), tuning on CUDA."""
    mnist = yaml.safe_load((ROOT / "studies/mnist.yaml").read_text())
    for d in mnist["datasets"]:
        d.update(root=str(MNIST_ROOT), download=False)
    auto = {**mnist, "execution": {"device": "cuda"}}
    ten = {**mnist, "execution": {"device": "cuda", "population_size": 10}}
    t_auto, t_ten = median_results([_said("mnist.yaml training, auto", lambda: _study_time(auto, ROOT, "training")),
                                    _said("mnist.yaml training, 10", lambda: _study_time(ten, ROOT, "training"))],
                                   GPU_STUDY_REPEATS)
    tuned = yaml.safe_load((ROOT / "studies/tuned.yaml").read_text())
    t_gpu, t_cpu = median_results(
        [_said("tuned.yaml tuning, cuda", lambda: _study_time({**tuned, "execution": {"device": "cuda"}}, ROOT)),
         _said("tuned.yaml tuning, cpu", lambda: _study_time({**tuned, "execution": {"device": "cpu"}}, ROOT))],
        GPU_STUDY_REPEATS)
    return [("9  studies/mnist.yaml training, population_size auto, s", t_auto, t_auto / t_ten, "ratio to K=10"),
            ("9  studies/mnist.yaml training, population_size 10, s", t_ten, 1.0, ""),
            ("9  tuned.yaml tuning stage on CUDA, s", t_gpu, t_gpu / t_cpu, "ratio to the CPU (device: auto picks the CPU here)"),
            ("9  tuned.yaml tuning stage on the CPU, s", t_cpu, 1.0, "")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mnist-train", type=int, default=20000, help="training samples per MNIST epoch")
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8,9", help="parts to run, e.g. 6 for the scale part alone")
    ap.add_argument("--scale-max", type=int, default=max(SCALE_SIZES),
                    help="part 6: largest study size, e.g. 3200 for 200 and 3,200 trials only")
    ap.add_argument("--scale-stores", default=",".join(SCALE_STORES), help="part 6: sqlite, server or both")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    if parts & {"1", "4", "9"} and not (MNIST_ROOT / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        print(f"note: no MNIST under {MNIST_ROOT} (set MNIST_ROOT to the folder holding MNIST/raw); "
              "skipping parts 1, 4 and 9", file=sys.stderr)
        parts -= {"1", "4", "9"}
    rows = []
    if "1" in parts:
        rows += bench_mnist(args.repeats, args.mnist_train)
    if "2" in parts:
        rows += bench_small(args.repeats)
    if "3" in parts:
        rows += bench_end_to_end(args.repeats)
    if "4" in parts:
        rows += bench_memory()
    if "5" in parts:
        rows += bench_report()
    if "6" in parts:
        rows += bench_scale(tuple(n for n in SCALE_SIZES if n <= args.scale_max),
                            tuple(args.scale_stores.split(",")))
        if "sqlite" in args.scale_stores.split(","):
            rows += bench_default_scale(tuple(s for s in DEFAULT_SCALE_SEEDS if s * DEFAULT_CELLS_PER_SEED <= args.scale_max))
        rows += bench_idle_look(min(args.scale_max, 12_800))
        rows += bench_pg_queue(tuple(n for n in PG_QUEUE_SIZES if n <= args.scale_max))
    if "7" in parts:
        rows += bench_tuning(args.repeats)
    if "8" in parts:
        rows += bench_population_sizes(args.repeats, args.mnist_train)
    if "9" in parts:
        rows += bench_gpu(args.repeats)
    print(f"# {platform.node()} | {platform.processor() or platform.machine()} | {os.cpu_count()} cores | "
          f"torch {torch.__version__} | threads {torch.get_num_threads()} | {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"| {'measurement':<58} | {'value':>10} | {'ratio':>8} | note |")
    print(f"|{'-' * 60}|{'-' * 12}|{'-' * 10}|------|")
    for name, value, ratio, note in rows:
        r = f"{ratio:.2f}" if ratio is not None else ""
        print(f"| {name:<58} | {value:>10.3f} | {r:>8} | {note} |")


if __name__ == "__main__":
    main()
