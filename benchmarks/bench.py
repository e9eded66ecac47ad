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
   `--only 6` runs just this part; `--scale-max 3200` leaves out the larger sizes.
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


def median_time(fn, repeats: int) -> float:
    return median_times([fn], repeats)[0]


def median_times(fns: list, repeats: int) -> list[float]:
    """Median wall time of each function over `repeats` rounds, the functions taking turns
    within each round (in reverse order every other round): on a shared machine whose speed
    drifts by tens of percent over minutes, measuring one side of a ratio after the other
    measures the drift, not the code."""
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        for i in (range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))):
            t = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


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
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking or f"sqlite:///{cwd / 'mlflow.db'}", "PYTHONPATH": str(ROOT)}
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


def bench_end_to_end(repeats: int) -> list[tuple]:
    """The default study as users run it (one process: ablation, then report), `repeats` times;
    the rows are the run with the median wall time, so its parts add up. The ablation
    and the report measure themselves (runtime.Stopwatch, cli -> root-run metrics time_*_s): training, bookkeeping
    that held up training (MLflow and Optuna writes on the main thread, including waiting for
    the recorder), the recorder thread's writes that overlapped training, and the CPU time of
    all those writes. The share is taken on CPU time: overlapped writes hold the GIL and a core
    that training would use, so hiding them behind training does not make them free."""
    from mlflow import MlflowClient

    measured = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            wall, out, _ = run_pipeline(["ablation", "--study", str(ROOT / "studies/default.yaml"),
                                         "--reports-dir", str(tmp / "reports")], tmp)
            client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
            root = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                      "tags.kind = 'root'", max_results=1)[0]
            measured.append((wall, {k[len("time_"):-len("_s")]: v for k, v in root.data.metrics.items()
                                    if k.startswith("time_")}))
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
            ("3  recorder-thread writes overlapped with training, s", t.get("recording_background", 0.0),
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
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}", "PYTHONPATH": str(ROOT)}
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
    from mlflow import MlflowClient

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
            client = MlflowClient(uri)
            root = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                      "tags.kind = 'root'", max_results=1)[0]
            t = {k[len("time_"):-len("_s")]: v for k, v in root.data.metrics.items() if k.startswith("time_")}
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

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mnist-train", type=int, default=20000, help="training samples per MNIST epoch")
    ap.add_argument("--only", default="1,2,3,4,5,6", help="parts to run, e.g. 6 for the scale part alone")
    ap.add_argument("--scale-max", type=int, default=max(SCALE_SIZES),
                    help="part 6: largest study size, e.g. 3200 for 200 and 3,200 trials only")
    ap.add_argument("--scale-stores", default=",".join(SCALE_STORES), help="part 6: sqlite, server or both")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    if parts & {"1", "4"} and not (MNIST_ROOT / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        print(f"note: no MNIST under {MNIST_ROOT} (set MNIST_ROOT to the folder holding MNIST/raw); "
              "skipping parts 1 and 4", file=sys.stderr)
        parts -= {"1", "4"}
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
    print(f"# {platform.node()} | {platform.processor() or platform.machine()} | {os.cpu_count()} cores | "
          f"torch {torch.__version__} | threads {torch.get_num_threads()} | {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"| {'measurement':<58} | {'value':>10} | {'ratio':>8} | note |")
    print(f"|{'-' * 60}|{'-' * 12}|{'-' * 10}|------|")
    for name, value, ratio, note in rows:
        r = f"{ratio:.2f}" if ratio is not None else ""
        print(f"| {name:<58} | {value:>10.3f} | {r:>8} | {note} |")


if __name__ == "__main__":
    main()
