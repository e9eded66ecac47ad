"""The command line's flags: one argparse parser, one subcommand per stage a user runs
(`cli` runs the command it names)."""

from __future__ import annotations

import argparse

from .bundled_studies import names, study_path

TRACKING_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)"


def _study_flags(p: argparse.ArgumentParser, report: bool = False, trains: bool = True) -> None:
    """The flags of the commands that read a study file; `report`: it writes the report,
    `trains`: it trains cells (per-trial lines)."""
    shipped = ", ".join(names())
    p.add_argument("--study", default="studies/default.yaml", type=study_path,
                   help="study file (YAML; default studies/default.yaml). Where no such file exists, "
                   "studies/NAME.yaml, NAME.yaml or NAME reads the study of that name shipped with the package"
                   + (f" ({shipped})" if shipped else "") + ", so the commands run outside a clone too; "
                   "a study's relative data paths (a table's CSV, the image studies' data/) are read from the working directory")
    p.add_argument("--seeds", default=None, help="override: a count (10) or a list (0,1,2)")
    p.add_argument("--epochs", default=None, help="override: epochs for every dataset")
    p.add_argument("--datasets", default=None, help="override: only these of the study's datasets, by label (digits,wine)")
    p.add_argument("--tracking-uri", default=None, help=TRACKING_HELP)
    if report:
        p.add_argument("--reports-dir", default="reports", help="the report goes to <this>/<study>/ (default reports)")
        p.add_argument("--no-pdf", action="store_true", help="write only the HTML report")
    if trains:
        p.add_argument("--verbose", action="store_true", help="one line per finished or interrupted trial (failures are always shown)")


def _command(sub, name: str, says: str) -> argparse.ArgumentParser:
    """A subcommand whose --help starts with what it does, as the command list says it."""
    return sub.add_parser(name, help=says, description=says[0].upper() + says[1:] + ".")


# long: one add_argument line per flag, each command's flags together
def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m pipeline",
                                  description="Regularizer ablation studies tracked in MLflow.",
                                  epilog="Start with `python -m pipeline ablation` (the offline default study, "
                                  "studies/default.yaml; `make ablation` runs it under `mlflow run`). "
                                  "Each command's flags: python -m pipeline <command> --help")
    sub = top.add_subparsers(dest="command", required=True)

    p = _command(sub, "ablation", "run (or resume) a study: every dataset x arm x seed, then its verdicts and report")
    _study_flags(p, report=True)
    p.add_argument("--storage", default=None, help="Optuna storage URL (default journal:optuna.journal, a journal file)")
    p.add_argument("--workers", default=None, help="worker processes on this machine (default: the study's "
                   "execution.workers, 1), popping cells from the same storage")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument("--report", default=None, choices=["yes", "no"], help="build the report at the end (default yes; "
                   "MLproject form of --no-report)")

    p = _command(sub, "enqueue", "distributed: create the study and enqueue its grid (idempotent)")
    _study_flags(p)
    p.add_argument("--storage", required=True, help="shared Optuna storage, e.g. postgresql://user@host/db")

    p = _command(sub, "worker", "distributed: pull grid cells from a shared storage until none is left")
    _study_flags(p)
    p.add_argument("--storage", required=True, help="shared Optuna storage, e.g. postgresql://user@host/db")

    p = _command(sub, "dashboard", "optuna-dashboard on the Optuna storage (tuning history, trials)")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default journal:optuna.journal)")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    p.add_argument("--port", default=8080, type=int, help="default 8080")

    p = _command(sub, "report", "build the HTML/PDF report of a study from its MLflow runs (nothing is trained)")
    _study_flags(p, report=True, trains=False)

    p = _command(sub, "train", "train one model and log it as one MLflow run (no study file)")
    p.add_argument("--dataset", default="digits", help="a name `python -m pipeline datasets` lists (default digits)")
    p.add_argument("--regularizer", default="none", help="none | dropout | l1 | l2 | dropout_l2 (default none)")
    p.add_argument("--dropout", default=None, help="p, or one p per hidden layer (0.2,0.5); default 0.5")
    p.add_argument("--l1", type=float, default=None, help="default 1e-4")
    p.add_argument("--l2", type=float, default=None, help="default 1e-3")
    p.add_argument("--l2-mode", default="penalty", help="penalty | weight_decay | decoupled (default penalty)")
    p.add_argument("--penalize-bias", nargs="?", const="yes", default="no", choices=["yes", "no"],
                   help="penalize (or decay) the biases too, as weight_decay on model.parameters() does (default no)")
    p.add_argument("--hidden", default="64,64", help="hidden layer sizes, or none for a linear model (default 64,64)")
    p.add_argument("--activation", default="relu", help="relu | tanh (default relu)")
    p.add_argument("--optimizer", default="sgd", help="sgd | adam (default sgd)")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    p.add_argument("--momentum", type=float, default=0.0, help="sgd only (default 0)")
    p.add_argument("--batch-size", type=int, default=64, help="default 64")
    p.add_argument("--epochs", type=int, default=20, help="default 20")
    p.add_argument("--early-stopping", type=int, default=0, help="patience in epochs (0: off)")
    p.add_argument("--seed", type=int, default=0, help="the model's seed: initial weights, batch order, dropout masks (default 0)")
    p.add_argument("--split-seed", type=int, default=0, help="the train/val/test split's seed (default 0)")
    p.add_argument("--train-size", default=None, help="count (500) or fraction (0.1) of the training split")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of the non-test rows held out for validation (default 0.2)")
    p.add_argument("--test-fraction", type=float, default=0.25,
                   help="share of the rows held out for testing, where the dataset has no test split (default 0.25)")
    p.add_argument("--path", default=None, help="csv: the CSV or Parquet file")
    p.add_argument("--target", default=None, help="csv: the target column")
    p.add_argument("--root", default=None, help="torchvision datasets: data folder")
    p.add_argument("--download", default="yes", choices=["yes", "no"], help="torchvision datasets: fetch when missing")
    p.add_argument("--normalize", default=None, help="none | unit | global | per_feature (default: the dataset's)")
    p.add_argument("--task", default=None, help="auto | classification | regression (tables: default auto)")
    p.add_argument("--metric", default=None, help="the metric printed first (default: accuracy, MSE)")
    p.add_argument("--class-weight", default=None, help="balanced: weigh classes in the loss")
    p.add_argument("--encoding", default=None, help="tables: the CSV's text encoding (default utf-8)")
    p.add_argument("--preprocess", default=None,
                   help="tables: a YAML mapping as in a study file, e.g. '{categorical: ordinal}'")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.add_argument("--experiment", default="train", help="MLflow experiment name (default train; under `mlflow run`, its own)")
    p.add_argument("--tracking-uri", default=None, help=TRACKING_HELP)

    p = _command(sub, "datasets", "list the datasets the registry knows")
    p.add_argument("--json", action="store_true", help="as JSON")
    for command in sub.choices.values():   # `--seed 3` is no `--seeds 3`, nor `--dataset` a `--datasets`
        command.allow_abbrev = False
    top.commands = dict(sub.choices)   # each command's parser, for errors with its own usage line (cli.main)
    return top
