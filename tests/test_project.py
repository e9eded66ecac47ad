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


def test_mlflow_run_train_decays_the_biases_as_a_tutorials_weight_decay_does(tmp_path):
    """`optim.Adam(model.parameters(), weight_decay=...)` decays the biases too: the train entry
    point takes penalize_bias (and test_fraction, a flag of `train` too), which MLflow passed as
    an unknown `--penalize_bias yes` before, failing the run."""
    import shutil
    import subprocess

    from .conftest import study_env

    project = tmp_path / "project"   # mlflow run executes in the project folder: a copy, so nothing lands in ours
    shutil.copytree(ROOT / "pipeline", project / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("MLproject", "conda.yaml"):
        shutil.copy(ROOT / name, project / name)
    env = study_env(tmp_path)
    proc = subprocess.run(["mlflow", "run", ".", "-e", "train", "--env-manager", "local", "--experiment-name",
                           "single", "-P", "dataset=wine", "-P", "regularizer=l2", "-P", "l2_mode=weight_decay",
                           "-P", "penalize_bias=yes", "-P", "test_fraction=0.5", "-P", "epochs=2"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "[wine] strengths: L2: l2=0.001 (weight_decay); biases decayed too (penalize_bias: true)\n" in proc.stdout
    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    [run] = client.search_runs([client.get_experiment_by_name("single").experiment_id])
    assert run.info.status == "FINISHED"
    # named as a path's trial run, not with MLflow's random words ("bemused-cat-123")
    assert run.info.run_name == "wine/l2@l2=0.001,l2_mode=weight_decay,penalize_bias=true/seed0"
    assert run.data.params["penalize_bias"] == "yes" and run.data.params["effective_penalize_bias"] == "True"
    assert int(run.data.params["n_test"]) == 89   # half of wine's 178 rows
    assert parser().parse_args(["train", "--penalize-bias"]).penalize_bias == "yes"   # the flag alone, as before


def test_the_readmes_table_of_a_tutorials_regularizers_holds():
    """README "The tutorials, reproduced": a tutorial's `lam * sum(p.pow(2).sum())` over
    model.parameters() is l2 = 2 * lam with penalize_bias, its `lam * sum(p.abs().sum())` is l1 = lam."""
    import torch

    from pipeline.model import MLP, l1_penalty, l2_penalty

    readme = (ROOT / "README.md").read_text()
    assert "`strengths: {l2: 2 * lam, penalize_bias: true}`" in readme and "`strengths: {l1: lam, penalize_bias: true}`" in readme
    model, lam = MLP(5, [4, 3], 2, init_generator=torch.Generator().manual_seed(0)), 1e-3
    every = list(model.parameters())
    assert len(model.penalized(True)) == len(every)
    assert l2_penalty(model.penalized(True), 2 * lam).item() == pytest.approx(lam * sum(p.pow(2).sum() for p in every).item())
    assert l1_penalty(model.penalized(True), lam).item() == pytest.approx(lam * sum(p.abs().sum() for p in every).item())


def test_make_ablation_names_the_experiment_after_the_study_files_name(tmp_path):
    """`make ablation STUDY=...` passes the study's `name:` as MLflow's experiment; a file saved with
    a UTF-8 byte order mark (which the pipeline reads past) gave default-ablation, so a whole study
    landed in another study's experiment (an odd-environments audit)."""
    import subprocess

    for name, text in (("plain", b"name: plain_one\nseeds: 2\n"), ("bom", b"\xef\xbb\xbfname: 'bommed'\nseeds: 2\n"),
                       ("none", b"seeds: 2\n")):
        (tmp_path / f"{name}.yaml").write_bytes(text)
        out = subprocess.run(["make", "-n", "ablation", f"STUDY={tmp_path / name}.yaml"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
        assert f"--experiment-name {dict(plain='plain_one', bom='bommed', none='default-ablation')[name]} " in out, out


def test_datasets_piped_into_a_reader_that_leaves_prints_no_traceback():
    """`python -m pipeline datasets --json | head -c 50`: the reader left before the list was
    written, and Python printed a BrokenPipeError traceback (a packaging audit)."""
    import subprocess
    import sys

    proc = subprocess.run(f"{sys.executable} -m pipeline datasets --json | true", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-1500:]
