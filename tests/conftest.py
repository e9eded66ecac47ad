"""Shared fixtures: a tiny study, real MLflow (SQLite) and Optuna stores in tmp dirs, a throwaway PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import yaml

# MLflow's telemetry fetches its config over the network once per process: tests stay offline, and
# the report's request count (test_report) must not depend on whether that host answers.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data"


def tiny_study_dict(**overrides) -> dict:
    """A study small enough to run end to end in seconds: 2 datasets x 5 arms x 2 seeds."""
    study = {
        "name": "tiny",
        "arms": ["none", "dropout", "l1", "l2", "dropout_l2"],
        "seeds": 2,
        "model": {"hidden": [16, 16]},
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        "batch_size": 32,
        "epochs": 3,
        "strengths": {"dropout": 0.3, "l1": 1e-4, "l2": 1e-3},
        "datasets": [{"name": "digits", "train_size": 120}, {"name": "synthetic_linear", "train_size": 60,
                                                              "optimizer": {"name": "adam", "lr": 0.005}}],
    }
    study.update(overrides)
    return study


def write_study(path: Path, study: dict) -> Path:
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def a_worker_in_process(workdir: Path, env: dict, name: str, execution: Optional[dict] = None):
    """A prepared two-cell study (wine: none and l2, one seed) on the default journal storage, and
    what a worker holds to train it in this process: (study, RunContext, the data splits, the
    dataset's Optuna study, DatasetCells). For tests that step through a worker's writes."""
    import optuna

    from pipeline.storage import get_storage
    from pipeline.lifecycle import DatasetCells
    from pipeline.preparation import dataset_tags, optuna_study_name, prepare
    from pipeline.study import load_study

    write_study(workdir / f"{name}.yaml", tiny_study_dict(name=name, seeds=1, arms=["none", "l2"],
                                                          datasets=[{"name": "wine"}],
                                                          **({"execution": execution} if execution else {})))
    study = load_study(workdir / f"{name}.yaml")
    storage = f"journal:{workdir / 'optuna.journal'}"
    ctx, data = prepare(study, storage, env["MLFLOW_TRACKING_URI"])
    plan, splits = study.plans[0], data["wine"]
    ostudy = optuna.load_study(study_name=optuna_study_name(study, plan), storage=get_storage(storage))
    cells = DatasetCells(plan, ostudy, ostudy.user_attrs["mlflow_parent_run_id"], dataset_tags(study, plan, splits),
                         None, {}, "cpu")
    return study, ctx, splits, ostudy, cells


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory with its own mlflow.db and optuna.db (the defaults are relative)."""
    return tmp_path


@pytest.fixture
def env(workdir: Path) -> dict:
    return study_env(workdir)


def study_env(workdir: Path) -> dict:
    """The environment a CLI subprocess gets: MLflow in workdir's mlflow.db, this checkout first."""
    e = dict(os.environ)
    e.pop("MLFLOW_RUN_ID", None)
    e.pop("MLFLOW_EXPERIMENT_ID", None)
    e["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    # this checkout first, then the caller's PYTHONPATH (a GPU machine's carried wheels: without it
    # the CLI found no optuna there)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), e.get("PYTHONPATH", "")) if p)
    e["PATH"] = f"{Path(sys.executable).parent}:{e.get('PATH', '')}"
    e["PYTHONUNBUFFERED"] = "1"
    return e


_GATED_MAIN = """
import pathlib, sys, time
import mlflow, optuna, torch  # noqa: F401  the slow imports, before the gate
from pipeline.cli import main
gate, deadline = pathlib.Path(sys.argv[1]), time.time() + 600
while not gate.exists():
    if time.time() > deadline:   # the test that held it failed before letting it go
        sys.exit("gate never opened: " + str(gate))
    time.sleep(0.02)
sys.exit(main(sys.argv[2:]))
"""


def pipeline_command(gate: Path | None = None) -> list[str]:
    """`python -m pipeline`; with `gate`, a process that imports what a worker needs at once but
    starts the command only when that file exists, so that a test can start a worker at a moment
    of its choosing (a worker's imports take seconds on a busy machine, longer than a small grid
    needs), e.g. only once another worker trains."""
    if gate is None:
        return [sys.executable, "-m", "pipeline"]
    return [sys.executable, "-c", _GATED_MAIN, str(gate)]


def run_cli(args: list[str], cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_idx(raw: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Files in torchvision's raw layout: IDX3 images (magic 2051) and IDX1 labels (magic 2049)."""
    raw.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mlflow_serving(command: list[str], log: Path, **popen):
    """`mlflow <command>` (server or ui) on a free 127.0.0.1 port: yields its URL once /health
    answers; fails with the log's tail if it does not start within 120 s."""
    server = MlflowServer(command, log, **popen)
    try:
        yield server.start()
    finally:
        server.stop()


class MlflowServer:
    """`mlflow <command>` on one 127.0.0.1 port, that a test can kill (SIGKILL, the whole
    process group: its web workers too) and start again on the same port."""

    def __init__(self, command: list[str], log: Path, port: int = 0, **popen):
        # without MLflow's job runner and huey consumers, which no test uses (13 processes, not 5,
        # and a server that answers twice as late on 2 busy cores)
        popen.setdefault("env", {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        self.command, self.log, self.popen = command, log, popen
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, timeout: float = 120) -> str:
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), *self.command, "--host",
                                          "127.0.0.1", "--port", str(self.port)], stdout=subprocess.DEVNULL,
                                         stderr=err, start_new_session=True, **self.popen)
        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(self.url + "/health", timeout=2)
                return self.url
            except Exception:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"mlflow {self.command[0]} did not start: " + self.log.read_text()[-2000:])
                time.sleep(0.5)

    def kill(self) -> None:
        """SIGKILL: what a crash or a lost machine does to it (no clean shutdown)."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def _pg_bin():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class Postgres:
    """A throwaway PostgreSQL server on 127.0.0.1 (Debian's packages; .ci/run installs them),
    with databases optuna and mlflow; `url` is the server's, without a database. A test may stop
    it and start it again (same port, same data), as a restart or a failover does."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        # Not under pytest's tmp dir: as root we run the server as user postgres, who must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="ablation-pg-"))
        os.chmod(self.dir, 0o755)
        self.data, self.sock = self.dir / "pg", self.dir / "sock"
        self.data.mkdir()
        self.sock.mkdir()
        self.as_user = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            subprocess.run(["chown", "-R", "postgres", str(self.dir)], check=True)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"
        subprocess.run([*self.as_user, str(bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)

    def pg_ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), *args], check=True,
                       capture_output=True)

    def start(self) -> None:
        self.pg_ctl("-w", "-l", str(self.dir / "pg.log"), "-o",
                    f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c max_connections=300", "start")

    def stop(self, mode: str = "fast") -> None:
        """-m fast: open connections are cut, transactions in flight rolled back."""
        self.pg_ctl("-w", "-m", mode, "stop")

    def close(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def postgres_server():
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs it)")
    pg = Postgres(bin_dir)
    try:
        pg.start()
        for db in ("optuna", "mlflow"):
            subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", db],
                           check=True, capture_output=True)
        yield pg
    finally:
        pg.close()


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server's URL (add /optuna or /mlflow for a database)."""
    with postgres_server() as pg:
        yield pg.url


def stopped_itself(proc, timeout: float = 120) -> None:
    """Until `proc` stopped itself (a PIPELINE_FAILPOINT name:n:stop)."""
    import time

    deadline = time.time() + timeout
    while Path(f"/proc/{proc.pid}/stat").read_text().split(")")[-1].split()[0] != "T":
        if proc.poll() is not None:   # it ended first: what it said
            out, err = proc.communicate()
            raise AssertionError(f"it did not stop itself (exit {proc.returncode}): {(out or '')[-1500:]}{(err or '')[-1500:]}")
        assert time.time() < deadline, "it did not stop itself in time"
        time.sleep(0.05)
