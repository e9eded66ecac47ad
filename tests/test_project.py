"""The project's own files agree with each other: pins, MLproject entry points, CLI help."""

import pytest
import yaml

from pipeline.cli import parser

from .conftest import ROOT


def test_conda_env_pins_equal_requirements():
    reqs = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == sorted(reqs)
    assert "python=3.11.7" in conda["dependencies"]  # exact: virtualenv/uv managers install this version
    assert "torch==2.14.1" in reqs and "torchvision==0.29.1" in reqs


def test_mlproject_entry_points_match_the_cli():
    project = yaml.safe_load((ROOT / "MLproject").read_text())
    assert project["conda_env"] == "conda.yaml"
    sub = parser()._subparsers._group_actions[0].choices
    for name, entry in project["entry_points"].items():
        assert entry["command"].startswith(f"python -m pipeline {name} ")
        flags = {a for action in sub[name]._actions for a in action.option_strings}
        for param in entry["parameters"]:
            assert f"--{param.replace('_', '-')}" in flags, (name, param)
            assert "{" + param + "}" in entry["command"], (name, param)


def test_runs_record_the_commit_of_the_pipelines_code_wherever_they_run(tmp_path, monkeypatch):
    """The root run's git_commit tag is the checkout the pipeline runs from, read from any working
    directory (a data folder gave "unknown", another repository its own commit), marked -dirty
    when its tracked files have uncommitted changes."""
    import subprocess

    from pipeline.runtime import git_commit

    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD"]).returncode == 1
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)   # another repository, no commit
    monkeypatch.chdir(tmp_path)
    assert git_commit() == head + ("-dirty" if dirty else "")
