"""The package as a user installs it: a wheel built from this checkout carries the study files,
and the installed copy runs the default study from a directory that is not a clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline.bundled_studies import shipped, study_path

from .conftest import ROOT


def _pip(*args: str, cwd: Path) -> None:
    """pip offline (--no-index): the build uses this environment's setuptools, as CI has it."""
    proc = subprocess.run([sys.executable, "-m", "pip", *args, "--no-index", "-q", "--disable-pip-version-check"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built from a copy of it (a build writes build/ and *.egg-info
    where it runs, which the checkout is not the place for)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("pipeline", "studies"):
        shutil.copytree(ROOT / part, source / part, ignore=skip)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(source), cwd=tmp)
    (built,) = (tmp / "dist").glob("*.whl")
    return built


def test_the_wheel_ships_every_module_and_the_study_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    studies = sorted((ROOT / "studies").glob("*.yaml"))
    assert studies and {f"pipeline/studies/{p.name}" for p in studies} <= names, sorted(names)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pipeline").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules <= names, sorted(modules - names)   # packages are listed in pyproject.toml, not found
    assert "pipeline/templates/report.html.j2" in names


def _installed_env(target: Path) -> dict:
    """The environment of a user who installed the wheel: the installed copy first, not this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH", "")) if p)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


@pytest.mark.slow
def test_the_installed_wheel_runs_the_default_study_outside_a_clone(wheel, tmp_path):
    """`pip install` of the wheel, then `python -m pipeline ablation` (no --study) in an empty
    directory: the shipped studies/default.yaml is read, its datasets need no file and no network.
    The console script says a study it cannot find in one line, exit 2."""
    from mlflow import MlflowClient

    target, cwd = tmp_path / "site", tmp_path / "elsewhere"
    cwd.mkdir()
    _pip("install", "--no-deps", "--target", str(target), str(wheel), cwd=tmp_path)
    env = _installed_env(target)
    where = subprocess.run([sys.executable, "-c", "import pipeline; print(pipeline.__file__)"],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(target), where   # the installed copy, not the checkout

    proc = subprocess.run([sys.executable, "-m", "pipeline", "ablation", "--seeds", "2", "--epochs", "1", "--no-report"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    copy = target / "pipeline" / "studies" / "default.yaml"
    assert f"note: --study studies/default.yaml: no such file in {cwd}; reading the copy shipped with the package, {copy}" \
        in proc.stderr
    assert "In short:" in proc.stdout
    client = MlflowClient(f"sqlite:///{cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("default-ablation")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert len(runs) > 4 * 5 * 2, len(runs)   # 4 datasets x 5 arms x 2 seeds, their parents and the root

    # the commands it prints for other machines name the shipped study, not this install's path to it
    again = subprocess.run([sys.executable, "-m", "pipeline", "enqueue", "--seeds", "2", "--epochs", "1",
                            "--storage", "journal:optuna.journal"],
                           cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "The report: python -m pipeline report --study default --seeds 2 --epochs 1 " \
        in again.stdout, (again.stdout[-2000:], again.stderr[-2000:])

    script = subprocess.run([str(target / "bin" / "ablation"), "ablation", "--study", "nope.yaml"],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert script.returncode == 2, script
    assert script.stderr.strip().splitlines() == [
        f"error: study file 'nope.yaml' does not exist (relative paths are read from the working directory: {cwd}/nope.yaml); "
        "the package ships default, fashion_mnist, highdim, messy_table, mnist, paths, pima, synthetic, train_sizes, tuned, "
        "weight_decay: give one by name"]


def test_study_names_the_shipped_copy_where_no_file_is(tmp_path, monkeypatch, capsys):
    """studies/NAME.yaml, NAME.yaml and NAME read the shipped study where the working directory
    has no such file; a file that is there wins, and other paths are left for the loader to refuse."""
    monkeypatch.chdir(tmp_path)
    default = ROOT / "studies" / "default.yaml"   # this checkout's studies/ are the shipped ones here
    for given in ("studies/default.yaml", "default.yaml", "default", "studies/default"):
        assert shipped(given) == default, given
    assert shipped("mnist") == ROOT / "studies" / "mnist.yaml"
    for given in ("other/default.yaml", str(tmp_path / "default.yaml"), "nope", "default.yml", "studies", ""):
        assert shipped(given) is None, given
        assert study_path(given) == given
    assert study_path("studies/default.yaml") == str(default)
    assert f"reading the copy shipped with the package, {default}" in capsys.readouterr().err
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "default.yaml").write_text("name: mine\n")
    assert study_path("studies/default.yaml") == "studies/default.yaml"   # the user's own file
    assert capsys.readouterr().err == ""
