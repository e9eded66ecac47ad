"""The project's own files agree with each other: pins, MLproject entry points, CLI help."""

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
