"""Shared fixtures: a tiny study, real MLflow (SQLite) and Optuna stores in tmp dirs, a throwaway PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml

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


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory with its own mlflow.db and optuna.db (the defaults are relative)."""
    return tmp_path


@pytest.fixture
def env(workdir: Path) -> dict:
    e = dict(os.environ)
    e.pop("MLFLOW_RUN_ID", None)
    e.pop("MLFLOW_EXPERIMENT_ID", None)
    e["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    e["PYTHONPATH"] = str(ROOT)
    e["PATH"] = f"{Path(sys.executable).parent}:{e.get('PATH', '')}"
    e["PYTHONUNBUFFERED"] = "1"
    return e


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
    port = free_port()
    with open(log, "w") as err:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), *command, "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=err, **popen)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except Exception:
                if time.time() > deadline or proc.poll() is not None:
                    raise AssertionError(f"mlflow {command[0]} did not start: " + log.read_text()[-2000:])
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _pg_bin():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 (Debian's packages; .ci/run installs them)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs it)")
    # Not under pytest's tmp dir: as root we run the server as user postgres, who must reach it.
    tmp_path = Path(tempfile.mkdtemp(prefix="ablation-pg-"))
    os.chmod(tmp_path, 0o755)
    data, sock = tmp_path / "pg", tmp_path / "sock"
    data.mkdir()
    sock.mkdir()
    as_user = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        subprocess.run(["chown", "-R", "postgres", str(tmp_path)], check=True)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(tmp_path / "pg.log"),
                    "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        for db in ("optuna", "mlflow"):
            subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", db],
                           check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(tmp_path, ignore_errors=True)
