"""Bad input: exit code 2, one line naming the field, the value and what is allowed, nothing written."""

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from mlflow import MlflowClient

from pipeline.cli import main
from pipeline.errors import UsageError
from pipeline.study import load_study

from .conftest import run_cli, tiny_study_dict, write_study


def _with(path, value):
    """tiny study with `value` set at a dotted path (datasets.0.name style)."""
    study = tiny_study_dict()
    keys = path.split(".")
    node = study
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return study


DIRECTORY = object()   # CASES: --study names a folder (of study files)
CSV_NOT_NUMERIC = "a,b,Outcome\n1,x,0\n2,y,1\n3,z,0\n4,w,1\n"
CSV_GOOD = "a,b,Outcome\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20))

# (id, study dict or raw text, extra CLI args, text the one-line error must contain)
CASES = [
    ("missing-file", None, [], "does not exist"),
    ("malformed-yaml", "name: x\ndatasets: [digits\n", [], "malformed YAML"),
    ("unclosed-bracket", "name: x\narms: [none, l2\ndatasets:\n  - name: wine\n", [],
     "malformed YAML at line 3: expected ',' or ']', but got ':' (while parsing a flow sequence that starts at line 2)"),
    ("misspelt-metric", _with("datasets.0.metric", "balanced_acc"), [], "did you mean 'balanced_accuracy'? Input should be"),
    ("tab-indented", "name: x\ndatasets:\n\t- name: wine\n", [],
     "malformed YAML at line 3: found character '\\t' that cannot start any token; YAML indents with spaces, not tabs"),
    ("tab-after-a-colon", "name: q\ndatasets: [wine]\nseeds:\t1\n", [],
     "malformed YAML at line 3: found character '\\t' that cannot start any token; a tab after 'seeds:': write a space there"),
    ("a-key-twice", "name: x\nseeds: 3\ndatasets: [digits]\nseeds: 4\n", [],
     "malformed YAML at line 4: 'seeds' is written twice in one mapping (YAML would keep only the last)"),
    ("target-classes-twice", "name: x\ndatasets:\n  - name: table\n    path: t.csv\n    target: y\n    preprocess:\n"
     "      target_classes: {a: b}\n      target_classes: {c: d}\n", [], "'target_classes' is written twice"),
    ("indentation", "name: x\ndatasets:\n  - name: wine\n   seeds: 3\n", [],
     "check that line's indentation (the keys of one block start in the same column, spaces only)"),
    ("not-a-mapping", "- digits\n- wine\n", [], "mapping"),
    ("unknown-dataset", _with("datasets.0.name", "cifar"), [], "unknown dataset 'cifar'; allowed: "),
    ("misspelt-dataset", _with("datasets.0.name", "wien"), [], "unknown dataset 'wien' (did you mean 'wine'?); allowed: "),
    ("unknown-arm", _with("arms", ["none", "batchnorm"]), [], "arms"),
    ("misspelt-arm", _with("arms", ["none", "dropuot"]), [], "unknown arm 'dropuot' (did you mean 'dropout'?); allowed"),
    # the tutorials' regularizers that are settings or one arm here say where they are (not 'dropout_l2?')
    ("weight-decay-arm", _with("arms", ["none", "l2", "weight_decay"]), [],
     "unknown arm 'weight_decay' (weight decay is the l2 arm's l2_mode: strengths: {l2_mode: weight_decay} "
     "(decoupled: AdamW's); against the loss penalty on the same seeds: paths: {l2_mode: [penalty, weight_decay]}); "
     "allowed"),
    ("manual-dropout-arm", _with("arms", ["none", "dropout", "dropout_manual"]), [],
     "unknown arm 'dropout_manual' (the dropout arm is the tutorials' hand-written masks and nn.Dropout alike"),
    ("elastic-net-arm", _with("arms", ["none", "elastic_net"]), [], "unknown arm 'elastic_net' (L1 with L2 is not a "
     "built-in arm; a new arm is one register(Arm(...)) line in pipeline/arms.py"),
    ("empty-grid", _with("arms", []), [], "arms"),
    ("no-baseline", _with("arms", ["dropout", "l2"]), [], "field 'arms' = ['dropout', 'l2']: must include 'none', the baseline"),
    ("baseline-only", _with("arms", ["none"]), [], "needs at least one arm besides 'none'"),
    ("negative-l1", _with("strengths.l1", -0.1), [], "strengths.l1"),
    ("dropout-one", _with("strengths.dropout", 1.0), [], "strengths.dropout"),
    ("dropout-layers", _with("strengths.dropout", [0.1, 0.2, 0.3]), [], "one p per hidden layer"),
    ("zero-epochs", _with("epochs", 0), [], "epochs"),
    ("zero-seeds", _with("seeds", 0), [], "seeds"),
    # a field written in several ways says them all, not the first pydantic tried ("a valid integer")
    ("seeds-in-words", _with("seeds", "two"), [], "field 'seeds' = 'two': allowed: a number of seeds (seeds: 10), the "
     "seeds themselves (seeds: [0, 1, 7]) or adaptive seeds (seeds: {start: 5, step: 5, max: 40})"),
    ("negative-rope-share", _with("rope", "-5%"), [], "field 'rope' = '-5%': allowed: a width in the metric's units, "
     "above 0 (rope: 0.01), or a share of none's mean (rope: 5%)"),
    ("study-a-directory", DIRECTORY, [], "is a directory; give one YAML file in it (a.yaml)"),
    # Excel's "Unicode text": latin-1, which the utf-8 error suggested, read it as garbage names
    ("utf16-table", _with("datasets", [{"name": "table", "path": "u16.csv", "target": "y"}]), [],
     "field 'path' = 'u16.csv': the file is UTF-16 text (it starts with a UTF-16 byte order mark, as Excel's "
     "\"Unicode text\" saves); set encoding: utf-16 in the dataset entry"),
    ("utf16-read-as-latin1", _with("datasets", [{"name": "table", "path": "u16.csv", "target": "y", "encoding": "latin-1"}]),
     [], "field 'encoding' = 'latin-1': the file is UTF-16 text"),
    ("typo-field", {**tiny_study_dict(), "epoch": 3}, [], "field 'epoch' is unknown (did you mean 'epochs'?); allowed: "),
    ("misplaced-field", _with("datasets", [{"name": "wine", "missing_values": {"a": [0]}}]), [],
     "field 'datasets.0.missing_values' is unknown here; it belongs at 'datasets.0.preprocess.missing_values'"),
    ("misplaced-strength", {**tiny_study_dict(), "dropout": 0.3}, [],
     "field 'dropout' is unknown here; it belongs at 'strengths.dropout'"),
    ("misplaced-in-second-dataset", _with("datasets", [{"name": "wine"}, {"name": "digits", "dropout": 0.3}]), [],
     "field 'datasets.1.dropout' is unknown here; it belongs at 'datasets.1.strengths.dropout'"),
    ("misplaced-in-dataset-settings", _with("datasets", [{"name": "wine"}, {"name": "digits", "strengths": {"lr": 0.1}}]),
     [], "(dataset digits): field 'strengths.lr' is unknown here; it belongs at 'datasets.1.optimizer.lr'"),
    ("typo-nested", _with("optimizer", {"name": "adam", "lrr": 0.1}), [],
     "field 'optimizer.lrr' is unknown (did you mean 'lr'?); allowed: lr, momentum, name"),
    # PyTorch's and the tutorials' words say where the setting is here
    ("weight-decay-in-optimizer", _with("optimizer", {"name": "adam", "lr": 0.01, "weight_decay": 0.01}), [],
     "field 'optimizer.weight_decay' is unknown (the optimizer's weight_decay is the l2 arm's strength here: "
     "strengths: {l2: <its value>, l2_mode: weight_decay}, with penalize_bias: true to decay the biases too"),
    ("weight-decay-in-strengths", _with("strengths", {"weight_decay": 0.01}), [],
     "field 'strengths.weight_decay' is unknown (the optimizer's weight_decay is the l2 arm's strength here"),
    ("adamw", _with("optimizer", {"name": "adamw"}), [], "field 'optimizer.name' = 'adamw': AdamW is Adam with "
     "decoupled weight decay here: optimizer: {name: adam} and strengths: {l2: <its weight_decay>, l2_mode: decoupled}"),
    ("optimizer-in-capitals", _with("optimizer", {"name": "SGD"}), [], "field 'optimizer.name' = 'SGD': did you mean 'sgd'?"),
    ("learning-rate", _with("optimizer", {"name": "sgd", "learning_rate": 0.1}), [],
     "field 'optimizer.learning_rate' is unknown here; it belongs at 'optimizer.lr'"),
    ("learning-rate-at-the-top", {**tiny_study_dict(), "learning_rate": 0.1}, [],
     "field 'learning_rate' is unknown here; it belongs at 'optimizer.lr'"),
    ("num-epochs", {**tiny_study_dict(), "num_epochs": 3}, [], "field 'num_epochs' is unknown here; it belongs at 'epochs'"),
    ("bool-as-number", _with("epochs", True), [], "field 'epochs' = true (YAML reads yes, no, on and off as true or "
                                                   "false): expected a number, not true"),
    ("yes-for-a-word", _with("datasets", [{"name": "wine", "class_weight": True}]), [],
     "field 'datasets.0.class_weight' = true (YAML reads yes, no, on and off as true or false): Input should be 'balanced'"),
    ("quoted-number", _with("epochs", "5"), [], "field 'epochs' = '5': expected a number, not the text '5'"),
    ("no-epochs", _with("epochs", 0), [], "field 'epochs' = 0: Input should be greater than 0; allowed: a whole number "
                                          "of passes over the training data, 1 or more (epochs: 20)"),
    ("bool-in-a-list", _with("model.hidden", [True]), [], "field 'model.hidden' = [True]: expected numbers, not true"),
    ("dropout-on-a-linear-model", {**_with("model.hidden", []), "arms": ["none", "dropout", "l2"]}, [],
     "field 'model.hidden' = []: a linear model has no hidden units for dropout to drop, so arm 'dropout' would "
     "train as none"),
    ("top-level-not-blamed-on-a-dataset", _with("batch_size", -3), [], "study.yaml: field 'batch_size' = -3"),
    ("bad-activation", _with("model.activation", "sigmoid"), [], "model.activation"),
    ("bad-optimizer", _with("optimizer.name", "rmsprop"), [], "optimizer.name"),
    ("negative-lr", _with("optimizer.lr", -1), [], "optimizer.lr"),
    ("train-size-too-big", _with("datasets.0.train_size", 10**6), [], "train_size"),
    ("csv-missing-file", _with("datasets", [{"name": "csv", "path": "nope.csv", "target": "Outcome"}]), [],
     "file does not exist (relative paths are read from the working directory: /"),
    ("table-a-directory", _with("datasets", [{"name": "table", "path": ".", "target": "y"}]), [],
     "field 'path' = '.': a directory, not a CSV or Parquet file; give one file in it (blank.csv, empty.csv, flat.csv, "
     "good.csv, huge.csv, ...)"),   # the tables in it, as for a folder given as --study
    ("table-two-rows", _with("datasets", [{"name": "table", "path": "tiny.csv", "target": "Outcome"}]), [],
     "tiny.csv has 2 row(s) with a target: too few to split into training, validation and test rows"),
    ("csv-missing-column", _with("datasets", [{"name": "csv", "path": "good.csv", "target": "Label"}]), [], "no such column"),
    ("name-with-spaces", _with("name", "churn study/v2"), [],
     "field 'name' = 'churn study/v2': ASCII letters, digits, '_', '.' and '-' only, not dots alone (it names the MLflow"),
    # a bad-input audit's cases: each was accepted (or a traceback), some ran for ever or wrote outside the study
    ("name-dots-alone", _with("name", ".."), [], "field 'name' = '..': ASCII letters, digits, '_', '.' and '-' only, not dots alone"),
    ("train-sizes-twice", _with("train_sizes", [50, 50]), [], "field 'train_sizes' = [50, 50]: lists 50 twice; list each size once"),
    ("train-sizes-empty", _with("train_sizes", []), [], "field 'train_sizes' = []: list one size or more, or leave train_sizes out"),
    ("train-size-one", _with("datasets", [{"name": "wine", "train_size": 1}]), [],
     "field 'datasets.0.train_size' = 1: 1 is ambiguous: write 1.0 for every training row, or a count of at least 2"),
    ("rope-zero-share", _with("rope", "0%"), [], "field 'rope' = '0%': a share of 0% calls only identical arms practically the same"),
    ("epochs-a-typo", _with("epochs", 10**12), [], "field 'epochs' = 1000000000000: at most 1 000 000 epochs"),
    ("seeds-a-typo", _with("seeds", 10**12), [], "field 'seeds' = 1000000000000: at most 1 000 000 seeds"),
    ("tune-trials-a-typo", _with("tune", {"trials": 10**9}), [], "field 'tune.trials' = 1000000000: at most 1 000 000 "
     "trials per arm"),
    ("path-variable-unset", _with("datasets", [{"name": "csv", "path": "$NO_SUCH_DATA_DIR/good.csv", "target": "Outcome"}]),
     [], "field 'datasets.0.path' = '$NO_SUCH_DATA_DIR/good.csv': $NO_SUCH_DATA_DIR is not set in the environment"),
    ("adaptive-seeds-a-typo", _with("seeds", {"start": 2, "max": 10**7}), [],
     "field 'seeds': max = 10000000: at most 1 000 000 seeds; adaptive seeds are {start: 5, step: 5, max: 40}"),
    ("cli-epochs-a-typo", tiny_study_dict(), ["--epochs", "1000000000000"], "--epochs = '1000000000000': expected a positive "
     "integer, at most 1 000 000"),
    ("cli-seeds-a-typo", tiny_study_dict(), ["--seeds", "100000000000"], "--seeds = '100000000000': at most 1 000 000 seeds"),
    ("cli-datasets-none", tiny_study_dict(), ["--datasets", ","], "--datasets = ',': names no dataset; allowed: digits, "
     "synthetic_linear"),
    ("cli-workers-past-the-machine", tiny_study_dict(), ["--workers", "100000"], "--workers = 100000: at most "),
    ("workers-past-the-machine", _with("execution", {"workers": 100000}), [], "study.yaml: field 'execution.workers' = 100000: at most "),
    ("tracking-in-no-folder", tiny_study_dict(), ["--tracking-uri", "sqlite:////nonexistent-dir/sub/m.db"],
     "--tracking-uri = 'sqlite:////nonexistent-dir/sub/m.db': folder /nonexistent-dir/sub does not exist"),
    # MLflow's tracebacks, after the Optuna storage was created: one line now, before anything is written
    ("tracking-a-folder-store", tiny_study_dict(), ["--tracking-uri", "file:///nonexistent/mlruns"],
     "--tracking-uri = 'file:///nonexistent/mlruns': MLflow keeps its folder store in maintenance mode and refuses it; "
     "use a database, e.g. sqlite:///mlflow.db"),
    ("tracking-not-a-database", tiny_study_dict(), ["--tracking-uri", "sqlite:///good.csv"],
     "--tracking-uri = 'sqlite:///good.csv': good.csv is not a SQLite database (another kind of file)"),
    ("tracking-a-folder-as-sqlite", tiny_study_dict(), ["--tracking-uri", "sqlite:////tmp"],
     "--tracking-uri = 'sqlite:////tmp': /tmp is a folder; name a database file in it, e.g. sqlite:////tmp/mlflow.db"),
    ("lr-infinite", _with("optimizer", {"name": "sgd", "lr": float("inf")}), [],
     "field 'optimizer.lr' = inf: Input should be a finite number"),
    ("reports-dir-a-file", tiny_study_dict(), ["--reports-dir", "good.csv/reports"],
     "--reports-dir = 'good.csv/reports': good.csv is a file, not a folder"),
    # the study's own folder in it a file: a traceback once the study had trained (an odd-environments audit)
    ("reports-dir-empty", tiny_study_dict(), ["--reports-dir", ""],   # the report went into the working directory
     "error: --reports-dir = '': names no folder; give one, or leave the flag out for reports/"),
    ("report-folder-a-file", tiny_study_dict(name="good.csv"), ["--reports-dir", "."],
     "--reports-dir = '.': good.csv is a file, not a folder"),
    ("name-too-long", _with("name", "q" * 300), [], "field 'name' = 'qqqq"),
    ("report-flags-disagree", tiny_study_dict(), ["--no-report", "--report", "yes"],
     "--no-report and --report yes disagree; give one of them"),
    ("storage-scheme-typo", tiny_study_dict(), ["--storage", "sqllite:///o.db"],
     "a storage is journal:<file>, sqlite:///<file>, postgresql://user@host/db or mysql://user@host/db"),
    ("columns-not-a-list", _with("datasets", [{"name": "csv", "path": "good.csv", "target": "Outcome",
                                               "preprocess": {"drop_columns": "a"}}]), [],
     "field 'datasets.0.preprocess.drop_columns' = 'a': a list, e.g. [a]"),
    ("csv-text-regression", _with("datasets", [{"name": "csv", "path": "text.csv", "target": "b", "task": "regression"}]),
     [], "column 'b' is not numeric"),
    ("table-infinite", _with("datasets", [{"name": "table", "path": "inf.csv", "target": "y"}]), [],
     "column 'y' has 1 infinite value"),
    # infinite once read as float32 for training: the error named no column ("the training features have 1 non-finite value")
    ("table-beyond-float32", _with("datasets", [{"name": "table", "path": "huge.csv", "target": "y"}]), [],
     "column 'b' has 1 value beyond the float32 range training uses (±3.4e38): -2.5e+39; rescale it"),
    ("table-unquoted-comma", _with("datasets", [{"name": "table", "path": "ragged.csv", "target": "y"}]), [],
     "not a readable CSV file (ParserError: Expected 3 fields in line 4, saw 4; a value that holds the separator "
     "(1,234 in a comma-separated file) must be quoted"),
    ("table-latin1", _with("datasets", [{"name": "table", "path": "latin.csv", "target": "Ziel"}]), [],
     "not utf-8 text"),
    ("table-empty", _with("datasets", [{"name": "table", "path": "empty.csv", "target": "y"}]), [],
     "field 'path' = 'empty.csv': the file is empty (no header, no rows)"),
    ("table-target-blank", _with("datasets", [{"name": "table", "path": "blank.csv", "target": "y"}]), [],
     "target column 'y' has no values: each of its 40 rows is blank or a missing marker (NA, ?, ...)"),
    ("table-one-class", _with("datasets", [{"name": "table", "path": "one.csv", "target": "y"}]), [], "field 'target' = 'y': the column holds one value"),
    ("table-constant-number", _with("datasets", [{"name": "table", "path": "flat.csv", "target": "y"}]), [],
     "target column 'y' holds one value (72.5) in every row: there is nothing to predict"),
    ("table-unknown-drop", _with("datasets", [{"name": "table", "path": "good.csv", "target": "Outcome",
                                               "preprocess": {"drop_columns": ["zz"]}}]), [], "column 'zz'"),
    ("study-latin1", "name: x\ndescription: Gr\xf6\xdfe\ndatasets: [wine]\n".encode("latin-1"), [], "not UTF-8 text (line 2, byte 23)"),
    ("absurd-grid", _with("seeds", 400_000), [], "the grid would have 4,000,000 cells"),
    ("absurd-seeds", _with("seeds", 10**7), [], "field 'seeds' = 10000000: at most 1 000 000 seeds"),
    ("population-too-big", {**tiny_study_dict(), "model": {"hidden": [20000, 20000]},
                            "execution": {"population_size": 10000}}, [], "execution.population_size"),
    ("long-value", _with("optimizer.name", "x" * 500), [], "..."),
    ("csv-no-target", _with("datasets", [{"name": "csv", "path": "good.csv"}]), [], "target"),
    # tuning chooses the strength a path varies: the tuning budget would be spent for nothing
    ("path-strength-zero", {**tiny_study_dict(), "paths": {"l1": [0, 1e-3]}}, [],
     "field 'paths.l1.0' = 0: 0 is not allowed: a path's strengths are greater than 0 (strength 0 is the arm none"),
    ("path-combined-strength-zero", {**tiny_study_dict(), "paths": {"dropout_l2": {"dropout": [0.2], "l2": [0.0, 1e-3]}}}, [],
     "field 'paths.dropout_l2': its l2[0] = 0.0: 0 is not allowed: a path's strengths are greater than 0"),
    ("path-point-twice", {**tiny_study_dict(), "paths": {"l2": [1e-3, 0.001]}}, [],
     "field 'paths': paths.l2 lists 0.001 twice; list each point once"),
    ("tune-and-path", {**tiny_study_dict(), "tune": {"trials": 2, "seeds": [100]}, "paths": {"l2": [1e-3, 1e-2]}}, [],
     "field 'paths' varies the strength of 'l2', which 'tune' chooses"),
    ("cli-seeds", tiny_study_dict(), ["--seeds", "abc"], "--seeds"),
    ("cli-epochs", tiny_study_dict(), ["--epochs", "0"], "error: --epochs = '0': expected a positive integer"),
    ("cli-negative-seeds", tiny_study_dict(), ["--seeds", "-3"], "error: --seeds = '-3': expected a count"),
    # the flag is named, not the study file ("study.yaml: field 'seeds' = [0, 0]")
    ("cli-repeated-seeds", tiny_study_dict(), ["--seeds", "0,0"], "error: --seeds = '0,0': seeds are distinct integers from 0"),
    ("cli-datasets", tiny_study_dict(), ["--datasets", "imagenet"], "--datasets = 'imagenet'"),
    ("tuning-seed-reused", {**tiny_study_dict(), "tune": {"seeds": [1]}}, [], "tune.seeds"),
    ("negative-seed", _with("seeds", [1, -3]), [], "seed -3 is out of range: seeds are integers from 0 to 2147483647"),
    ("huge-tuning-seed", {**tiny_study_dict(), "tune": {"seeds": [2**31]}}, [], "tune.seeds"),
    ("tuning-bad-range", {**tiny_study_dict(), "tune": {"l2": [0.0, 0.1]}}, [], "tune.l2"),
    ("duplicate-labels", _with("datasets", [{"name": "digits"}, {"name": "digits"}]), [], "study.yaml: field 'datasets' has "
     "two entries named 'digits': labels must be unique; give one of them its own label (- name: digits, label: digits_2)"),
    ("unreachable-storage", tiny_study_dict(), ["--storage", "postgresql://alice:s3cret@127.0.0.1:9/optuna"], "--storage"),
    ("postgres-scheme", tiny_study_dict(), ["--storage", "postgres://alice:s3cret@127.0.0.1:9/optuna"],
     "SQLAlchemy names PostgreSQL postgresql://, not postgres://"),
    ("storage-a-bare-path", tiny_study_dict(), ["--storage", "optuna.journal"],
     "; a storage is a URL: journal:optuna.journal for a journal file, sqlite:///optuna.journal for SQLite, or "
     "postgresql://user@host/db"),
    ("unreachable-tracking", tiny_study_dict(), ["--tracking-uri", "http://127.0.0.1:9"], "--tracking-uri"),
    # in-memory SQLite: every connection opens it empty ("no such table" after two minutes of retries, a traceback)
    ("in-memory-tracking", tiny_study_dict(), ["--tracking-uri", "sqlite://"],
     "error: --tracking-uri = 'sqlite://': an in-memory SQLite database, which each connection opens empty and which "
     "is gone when the command exits; name a file, e.g. sqlite:///mlflow.db"),
    ("in-memory-storage", tiny_study_dict(), ["--storage", "sqlite:///:memory:"],
     "error: --storage = 'sqlite:///:memory:': an in-memory SQLite database"),
    ("unknown-tracking-scheme", tiny_study_dict(), ["--tracking-uri", "bogus://x"], "unknown scheme 'bogus'"),
    ("sqlite-without-slashes", tiny_study_dict(), ["--tracking-uri", "sqlite:mlflow.db"],
     "error: --tracking-uri = 'sqlite:mlflow.db': not a SQLite URL; write sqlite:///relative/path.db or "
     "sqlite:////absolute/path.db"),
    # a database whose driver is not installed: what to install, not "cannot be reached"
    ("storage-driver-missing", tiny_study_dict(), ["--storage", "mysql://alice:s3cret@db/optuna"],
     "cannot open the Optuna storage: its database driver is not installed (no module 'MySQLdb'): pip install mysqlclient"),
    ("tracking-driver-missing", tiny_study_dict(), ["--tracking-uri", "mssql://alice:s3cret@db/mlflow"],
     "--tracking-uri = 'mssql://alice:***@db/mlflow': its database driver is not installed (no module 'pyodbc'): pip install pyodbc"),
    ("adaptive-seeds", _with("seeds", {"start": 10, "step": 5, "max": 5}), [], "seeds.max = 5 is below seeds.start"),
    ("adaptive-typo", _with("seeds", {"start": 5, "stride": 5}), [], "stride"),
    ("bad-rope", _with("rope", "five"), [], "rope"),
    # the top level's rope is blamed as such, not as a field of the dataset's entry
    ("rope-in-points", _with("rope", 5), [], "field 'rope' = 5 (the top-level rope, which dataset digits uses): accuracy "
     "differences are fractions (0.01 is one point)"),
    ("rope-in-points-of-a-dataset", _with("datasets", [{"name": "digits", "rope": 5}]), [],
     "dataset digits: field 'rope' = 5: accuracy differences are fractions (0.01 is one point)"),
    ("rope-in-points-of-a-dataset-as-the-top-level", {**tiny_study_dict(), "rope": 5, "datasets": [{"name": "digits", "rope": 5}]},
     [], "dataset digits: field 'rope' = 5: accuracy differences are fractions"),   # its own, though equal
    ("rope-all-of-it", _with("rope", "200%"), [], "field 'rope' = '200%' (the top-level rope, which dataset digits uses): "
     "an arm within ±200% of none's mean"),
    ("normalize-vs-standardize", _with("datasets", [{"name": "digits", "normalize": "per_feature", "standardize": False}]),
     [], "fields 'normalize' = 'per_feature' and 'standardize' = false disagree; normalize replaces standardize"),
    ("dropout-above-one", _with("strengths", {"dropout": 1.2}), [],
     "field 'strengths.dropout' = 1.2: a dropout rate is the share of units dropped: from 0 up to, not including, 1"),
    ("rope-quoted", _with("rope", "5"), [], "field 'rope' = '5': expected a width in the metric's units (a number without "
     "quotes, e.g. 0.01 is one point of accuracy) or a share of none's mean such as '5%'"),
    ("negative-split-seed", _with("split_seed", -1), [], "split_seed"),
    ("metric-wrong-task", _with("datasets", [{"name": "wine", "metric": "r2"}]), [], "field 'metric' = 'r2'"),
    ("metric-auc-three-classes", _with("datasets", [{"name": "wine", "metric": "roc_auc"}]), [], "roc_auc needs two classes"),
    ("metric-unknown", _with("datasets", [{"name": "wine", "metric": "f2"}]), [], "metric"),
    ("bad-engine", _with("execution", {"engine": "turbo"}), [], "execution.engine"),
    ("zero-population", _with("execution", {"population_size": 0}), [], "execution.population_size"),
    ("execution-twice", {**tiny_study_dict(), "engine": "reference", "execution": {"engine": "population"}}, [],
     "given twice"),
    # a review of the study file's schema: each was a traceback after the stores were written, trained
    # something else than written, or was ignored
    ("dropout-l2-path-quoted", {**tiny_study_dict(), "paths": {"dropout_l2": {"l2": ["0.001", 0.01]}}}, [],
     "field 'paths.dropout_l2': its l2[0] = '0.001': expected a number, not the text '0.001' (write numbers without quotes)"),
    ("dropout-l2-path-list-of-l2", {**tiny_study_dict(), "paths": {"dropout_l2": {"l2": [[0.1, 0.2], 0.3]}}}, [],
     "field 'paths.dropout_l2': its l2[0] = [0.1, 0.2]: input should be a valid number: expected one L2 strength above 0 per point"),
    ("dropout-l2-path-negative-p", {**tiny_study_dict(), "paths": {"dropout_l2": {"dropout": [-0.5, 0.2]}}}, [],
     "its dropout[0] = -0.5: input should be greater than or equal to 0: expected a dropout p from 0 up to (not including) 1"),
    ("tune-sampler-seed", {**tiny_study_dict(), "tune": {"trials": 2, "sampler_seed": -1}}, [],
     "field 'tune.sampler_seed' = -1: Input should be greater than or equal to 0"),
    ("tune-seeds-twice", {**tiny_study_dict(), "tune": {"trials": 2, "seeds": [1000, 1000]}}, [],
     "field 'tune.seeds' = [1000, 1000]: lists seed 1000 twice"),
    ("tune-seed-0-twice", {**tiny_study_dict(), "tune": {"trials": 2, "seeds": [0, 0]}}, [],
     "field 'tune.seeds' = [0, 0]: lists seed 0 twice"),
    ("tune-range-of-one", {**tiny_study_dict(), "tune": {"dropout": [0.3]}}, [],
     "field 'tune.dropout' = [0.3]: a range [low, high] of two numbers, e.g. dropout: [0.0, 0.8]"),
    ("per-layer-dropout-out-of-range", _with("strengths", {"dropout": [0.5, 1.2]}), [],
     "field 'strengths.dropout.1' = 1.2: a dropout rate is the share of units dropped"),
    ("task-on-a-built-in", _with("datasets", [{"name": "synthetic_linear", "task": "classification"}]), [],
     "field 'task' = 'classification': synthetic_linear is a regression dataset; task: is read for tables"),
    ("standardize-false-normalize-global", _with("datasets", [{"name": "wine", "standardize": False, "normalize": "global"}]),
     [], "fields 'normalize' = 'global' and 'standardize' = false disagree"),
    ("train-size-beside-train-sizes", _with("train_sizes", [0.5, 1.0]), [],
     "field 'datasets[digits].train_size' = 120 beside 'train_sizes' = [0.5, 1.0]"),
    ("workers-per-dataset", _with("datasets", [{"name": "wine", "execution": {"workers": 4}}]), [],
     "field 'datasets[wine].execution.workers' = 4: workers is set for the whole study"),
    ("target-class-null", _with("datasets", [{"name": "csv", "path": "good.csv", "target": "Outcome",
                                              "preprocess": {"target_classes": {"1": None}}}]), [],
     "lists None: each entry maps a label as the file writes it to the class it is read as"),
    ("val-fraction-leaves-no-rows", _with("datasets", [{"name": "synthetic_linear", "val_fraction": 0.999}]), [],
     "field 'val_fraction' = 0.999 leaves 0 of its 500 rows to train on; at least 2 are needed: lower it"),
    ("test-fraction-leaves-no-rows", _with("datasets", [{"name": "quadrants", "test_fraction": 0.999}]), [],
     "field 'val_fraction' = 0.2 with 'test_fraction' = 0.999 leaves 0 of its 200 rows to train on"),
    ("empty-optimizer-block", _with("optimizer", None), [],
     "field 'optimizer': empty; write its block of fields, e.g. optimizer: {name: adam, lr: 0.001}, or leave optimizer out"),
    ("one-model-too-big", _with("model.hidden", [10**9]), [], "field 'model.hidden' = [1000000000]: one model needs about"),
    # a new user's study files written from the README (a review of bad and unusual input): pydantic's
    # words ("Field required", "a valid list") named no fix, or a mistake was taken as something else
    ("empty-study-file", "# to do\n", [], "study.yaml: the file is empty (or only comments); a study file is a mapping "
     "of fields, at least name: my-study and datasets: [digits]"),
    ("study-a-list", "- name: x\n- datasets: [wine]\n", [], "study.yaml: the file is a YAML list (lines starting '- ')"),
    ("only-a-name", "name: x\n", [], "field 'datasets': missing; a study file needs datasets: [digits] "
     "(`python -m pipeline datasets` lists them)"),
    ("name-left-empty", "name:\ndatasets: [wine]\n", [], "field 'name': empty; a study file needs name: my-study"),
    ("field-left-empty", "name: x\narms:\ndatasets: [wine]\n", [],
     "field 'arms': empty (nothing after 'arms:'); write its value, or leave arms out for its default"),
    ("datasets-one-mapping", "name: x\ndatasets: {name: wine}\n", [],
     "field 'datasets': a list of entries, each starting '- ' (- name: wine), or of names: datasets: [wine, digits]"),
    ("dataset-name-left-empty", "name: x\ndatasets:\n  - name:\n    train_size: 50\n", [],
     "field 'datasets.0.name': every dataset entry needs its name: - name: digits"),
    ("name-a-number", _with("name", 2024), [], "field 'name' = 2024: YAML reads 2024 as a number; quote it to name it "
     "so: name: '2024'"),
    ("l2-a-list", _with("strengths.l2", [1e-3, 1e-2]), [], "field 'strengths.l2' = [0.001, 0.01]: one strength for the "
     "arm; to train at several, list them as a path: paths: {l2: [0.001, 0.01]}"),
    # quoted numbers were refused in number fields but read as numbers where a list or block is allowed too
    ("quoted-seeds", _with("seeds", "5"), [], "field 'seeds' = '5': expected a number, not the text '5'"),
    ("quoted-layer", _with("model.hidden", ["64"]), [], "field 'model.hidden' = ['64']: expected numbers, not the text '64'"),
    ("quoted-dropout", _with("strengths.dropout", "0.3"), [], "field 'strengths.dropout' = '0.3': expected a number"),
    # a path of no point ran the arm at its one strength, as if the path were left out
    ("path-of-no-point", {**tiny_study_dict(), "paths": {"l2": []}}, [],
     "paths.l2 = []: list one point or more, e.g. l2: [0.001, 0.01], or leave paths.l2 out"),
    ("train-size-zero", _with("datasets.0.train_size", 0), [], "field 'datasets.0.train_size' = 0: allowed: a number of "
     "training rows (train_size: 500) or a share of them, above 0 up to 1"),   # not "greater than 1" beside it
    ("dropout-l2-one-value", _with("strengths.dropout_l2", 0.3), [],
     "field 'strengths.dropout_l2' = 0.3: a block of fields, e.g. dropout_l2: {dropout: 0.2, l2: 0.001}"),
    ("dropout-p-per-layer-count", _with("strengths.dropout", [0.1, 0.2, 0.3]), [], "field 'strengths.dropout' = "
     "[0.1, 0.2, 0.3]: 3 p's, one per hidden layer, but model.hidden = [16, 16] has 2 layers"),
    # --study '' (-P study=) offered the working directory's conda.yaml as a study file
    ("study-flag-empty", tiny_study_dict(), ["--study", ""], "error: --study = '': names no study file; give one, e.g. "
     "studies/default.yaml"),
    ("study-misspelt-shipped", None, ["--study", "mnsit"], "(did you mean 'mnist'?); the package ships "),
    # Optuna's words before ("unable to open database file", "Is a directory"): said as --tracking-uri's are
    ("storage-in-no-folder", tiny_study_dict(), ["--storage", "journal:no-such-dir/o.journal"],
     "error: --storage = 'journal:no-such-dir/o.journal': folder no-such-dir does not exist; create it first, or give "
     "a path in an existing folder"),
    ("storage-a-folder", tiny_study_dict(), ["--storage", "sqlite:///."],
     "error: --storage = 'sqlite:///.': . is a folder; name a file in it, e.g. sqlite:///./optuna.db"),
    ("sqlite-for-the-file-s-workers", _with("execution", {"workers": 2}), ["--storage", "sqlite:///o.db"],
     "study.yaml: field 'execution.workers' = 2); use journal:optuna.journal or a postgresql:// URL, or one worker"),
]
SUBPROCESS_CASES = {"malformed-yaml", "unknown-dataset", "csv-missing-column", "unreachable-storage"}
if not torch.cuda.is_available():
    CASES.append(("no-cuda", _with("execution", {"device": "cuda"}), [], "execution.device"))


@pytest.mark.parametrize("case_id,study,args,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(workdir, env, monkeypatch, capsys, case_id, study,
                                                            args, expected):
    (workdir / "good.csv").write_text(CSV_GOOD)
    (workdir / "text.csv").write_text(CSV_NOT_NUMERIC)
    (workdir / "inf.csv").write_text("a,y\n1,1.5\n2,inf\n3,0.2\n4,0.1\n")
    (workdir / "huge.csv").write_text("a,b,y\n" + "".join(f"{i % 7},{'-2.5e39' if i == 9 else i % 5},{i % 2}\n" for i in range(40)))
    (workdir / "tiny.csv").write_text("Glucose;Outcome\n1,5;0\n2,5;1\n")
    (workdir / "latin.csv").write_bytes("Größe,Ziel\n1,a\n2,b\n3,a\n4,b\n".encode("latin-1"))
    (workdir / "one.csv").write_text("a,y\n1,x\n2,x\n3,x\n4,x\n")
    (workdir / "empty.csv").write_text("\n  \n")
    (workdir / "blank.csv").write_text("a,y\n" + "".join(f"{i},{'NA' if i % 2 else ''}\n" for i in range(40)))   # a an id
    (workdir / "u16.csv").write_bytes("a\ty\n1\tx\n2\ty\n3\tx\n4\ty\n".encode("utf-16"))
    (workdir / "ragged.csv").write_text("a,b,y\n1,2,x\n3,4,y\n1,234,5,x\n6,7,y\n")   # 1,234 unquoted
    (workdir / "flat.csv").write_text("a,y\n1,72.5 kg\n2,72.5 kg\n3,72.5 kg\n4,72.5 kg\n5,\n")
    path = workdir / "study.yaml"
    if study is DIRECTORY:
        path.mkdir()
        (path / "a.yaml").write_text("name: a\n")
    elif isinstance(study, str):
        path.write_text(study)
    elif isinstance(study, bytes):
        path.write_bytes(study)
    elif study is not None:
        write_study(path, study)
    before = set(p.name for p in workdir.iterdir())
    argv = ["ablation", "--study", str(path), *args]
    if case_id in SUBPROCESS_CASES:  # a few through a real process, for the exit status itself
        proc = run_cli(argv, cwd=workdir, env=env, timeout=120)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:  # the rest in-process: the same code path, without paying torch's import each time
        monkeypatch.chdir(workdir)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
        code = main(argv)
        out, err = capsys.readouterr()
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0]  # long values are shortened
    assert "s3cret" not in err + out
    assert set(p.name for p in workdir.iterdir()) == before  # no mlflow.db, optuna.db or reports


@pytest.mark.parametrize("status", [404, 401, "credentials"])
def test_a_tracking_uri_where_something_else_answers(workdir, monkeypatch, capsys, status):
    """A web server that is not MLflow's (a wrong port), or a proxy that wants credentials: one line
    that says which, not "does not answer" (it did) nor MLflow's traceback of an HTTP 501. Given the
    credentials MLflow sends ($MLFLOW_TRACKING_USERNAME, _PASSWORD), the check sends them too: a
    proxy that guards /health as well lets it through (and MLflow's own calls meet what is behind)."""
    import base64
    import http.server
    import threading

    if status == "credentials":
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")
    let_in = "Basic " + base64.b64encode(b"alice:s3cret").decode()

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("Authorization") == let_in:   # let in, but with no rights (a read-only user's 403)
                if self.path == "/health":
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"OK")
                else:
                    self.send_error(403)
                return
            self.send_error(401 if status == "credentials" else status)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    write_study(workdir / "s.yaml", tiny_study_dict())
    before = set(p.name for p in workdir.iterdir())
    monkeypatch.chdir(workdir)
    try:
        code = main(["ablation", "--study", "s.yaml", "--tracking-uri", f"http://127.0.0.1:{server.server_port}"])
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    said = ("the server refuses us (HTTP 401 at /health); give MLflow its credentials" if status == 401 else
            "what answers there is not an MLflow server (HTTP 404 at /health)" if status == 404 else
            # past /health, which the credentials opened: the API's 403 in one line, not MLflow's traceback
            "the MLflow server refuses its API to us (HTTP 403 reading an experiment); give MLflow the credentials of "
            "a user who may read and write experiments")
    assert code == 2 and err.strip().count("\n") == 0 and said in err, err
    assert set(p.name for p in workdir.iterdir()) == before


def test_roc_auc_on_a_test_split_of_one_class_is_refused_before_training(workdir, env):
    """5 positives in 300 rows, split without stratify: the test split held none, every run
    finished without a ROC AUC, the console said "0 of 2 seeds finished" and the report crashed
    (a metrics audit). Refused in one line naming the fix; nothing written. With stratify it trains."""
    y = np.zeros(300, dtype=int)
    y[[3, 50, 120, 200, 250]] = 1
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "y": y}).to_csv(workdir / "rare.csv", index=False)
    from pipeline import datasets

    entry = {"name": "table", "label": "rare", "path": str(workdir / "rare.csv"), "target": "y", "metric": "roc_auc"}
    for split_seed in range(20):   # one whose test split misses the positives (the split alone, no training)
        write_study(workdir / "s.yaml", tiny_study_dict(name="auc", arms=["none", "l2"], split_seed=split_seed,
                                                        datasets=[entry]))
        if len(np.unique(datasets.load(load_study(workdir / "s.yaml").plans[0].dataset, split_seed).y_test.numpy())) < 2:
            break
    proc = run_cli(["ablation", "--study", "s.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "error: dataset rare: field 'metric' = 'roc_auc': the test split's 75 rows are all of one class (0), where ROC "
        "AUC is undefined; set a larger test_fraction, stratify: true in the dataset entry (each split keeps each "
        "class's share), or choose another metric"), proc.stderr
    assert not (workdir / "mlflow.db").exists() and not list(workdir.glob("optuna*"))
    # the validation split's too, where it chooses something (here early stopping's epoch)
    for val_seed in range(40):
        write_study(workdir / "v.yaml", tiny_study_dict(name="auc", arms=["none", "l2"], split_seed=val_seed,
                                                        early_stopping={"patience": 2}, datasets=[entry]))
        got = datasets.load(load_study(workdir / "v.yaml").plans[0].dataset, val_seed)
        if len(np.unique(got.y_test.numpy())) == 2 and len(np.unique(got.y_val.numpy())) < 2:
            break
    proc = run_cli(["ablation", "--study", "v.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 2 and "the validation split's" in proc.stderr and "a larger val_fraction" in proc.stderr, \
        proc.stderr[-1000:]
    write_study(workdir / "s.yaml", tiny_study_dict(name="auc", arms=["none", "l2"], split_seed=split_seed,
                                                    datasets=[{**entry, "stratify": True}]))
    proc = run_cli(["ablation", "--study", "s.yaml", "--no-report"], cwd=workdir, env=env)
    assert proc.returncode == 0 and "test_roc_auc" in proc.stdout, proc.stderr[-2000:]


def test_a_tracking_store_not_given_by_the_flag_is_named_as_it_was_given(workdir, env, monkeypatch):
    """$MLFLOW_TRACKING_URI, or the default store, that cannot be used was blamed on --tracking-uri,
    a flag nobody typed (an odd-environments audit)."""
    write_study(workdir / "s.yaml", tiny_study_dict())
    proc = run_cli(["ablation", "--study", "s.yaml"], cwd=workdir, env={**env, "MLFLOW_TRACKING_URI": "bogus://x"})
    assert proc.returncode == 2 and proc.stderr.startswith("error: $MLFLOW_TRACKING_URI = 'bogus://x': unknown scheme"), proc.stderr
    train = run_cli(["train", "--dataset", "wine", "--epochs", "1"], cwd=workdir, env={**env, "MLFLOW_TRACKING_URI": "bogus://x"})
    assert train.returncode == 2 and "error: $MLFLOW_TRACKING_URI = 'bogus://x': unknown scheme" in train.stderr, train.stderr
    from pipeline.preflight import named_as_given

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    said = named_as_given("--tracking-uri = 'sqlite:///mlflow.db': folder /x is not writable here", None)
    assert said == ("the default tracking store 'sqlite:///mlflow.db' (no --tracking-uri given, no $MLFLOW_TRACKING_URI "
                    "set): folder /x is not writable here; give one with --tracking-uri")
    assert named_as_given("--tracking-uri = 'x': y", "x") == "--tracking-uri = 'x': y"


def test_report_with_a_tracking_uri_mlflow_cannot_open(workdir, monkeypatch, capsys):
    write_study(workdir / "s.yaml", tiny_study_dict())
    before = set(p.name for p in workdir.iterdir())
    monkeypatch.chdir(workdir)
    code = main(["report", "--study", "s.yaml", "--tracking-uri", "bogus://x"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().count("\n") == 0 and "unknown scheme 'bogus'" in err
    with pytest.raises(SystemExit) as stopped:   # a worker's command line, reused
        main(["report", "--study", "s.yaml", "--storage", "journal:optuna.journal"])
    assert stopped.value.code == 2 and capsys.readouterr().err.strip().endswith(
        "unrecognized arguments: --storage journal:optuna.journal; report reads the runs from MLflow alone: leave --storage out")
    assert set(p.name for p in workdir.iterdir()) == before


def test_a_store_that_is_not_there_is_told_apart_from_remote_ones(tmp_path):
    """`report` refuses to create a local store it was pointed at by mistake; servers, databases and
    Databricks (no '://' in 'databricks') are not local paths."""
    from pipeline.store_paths import absolute_sqlite_url, missing_local_store, sqlite_file
    from pipeline.table_reading import _wide_unicode

    # one rule for every SQLite URL (the store, the storage, their locks, printed paths): a driver,
    # %-escapes and a ?query as SQLAlchemy reads them; in memory is ""; not SQLite is None
    assert [sqlite_file(u) for u in ("sqlite:///a b/x.db", "sqlite+pysqlite:///my%20d/x.db?timeout=3", "sqlite:////abs.db",
                                     "sqlite://", "sqlite:///:memory:", "sqlite:///", "journal:x", "sqlite:x.db")] == \
        ["a b/x.db", "my d/x.db", "/abs.db", "", "", "", None, None]
    assert absolute_sqlite_url("sqlite+pysqlite:///d/x.db?timeout=3") == f"sqlite+pysqlite:///{Path.cwd()}/d/x.db?timeout=3"
    assert [absolute_sqlite_url(u) for u in ("sqlite:////abs.db", "sqlite://", "postgresql://u@h/db")] == \
        ["sqlite:////abs.db", "sqlite://", "postgresql://u@h/db"]

    assert missing_local_store(f"sqlite:///{tmp_path}/x.db") == f"the file {tmp_path}/x.db does not exist"
    assert missing_local_store(f"file://{tmp_path}/runs") == f"the folder {tmp_path}/runs does not exist"
    assert missing_local_store(str(tmp_path / "runs")) == f"the folder {tmp_path}/runs does not exist"
    assert all(missing_local_store(u) is None for u in (str(tmp_path), f"file://{tmp_path}", "databricks", "databricks-uc",
                                                         "http://127.0.0.1:9", "postgresql://u@h/db", "sqlite:///:memory:"))
    from pipeline.preflight import check_tracking_reachable

    for uri in ("databricks", "databricks-uc", "databricks://profile"):   # Databricks' own forms, no folder store
        check_tracking_reachable(uri)
    (tmp_path / "u16.csv").write_bytes("a,y\n1,x\n".encode("utf-16"))   # any of Python's names for it reads it
    assert [_wide_unicode(tmp_path / "u16.csv", e) for e in (None, "latin-1", "utf16", "UTF_16", "u16", "utf-16-le")] == \
        ["utf-16", "utf-16", None, None, None, None]


def test_train_command_rejects_bad_values(workdir, env, monkeypatch, capsys):
    """Errors name the flag the user typed, not the one-cell study's field behind it."""
    from pipeline.cli import main

    proc = run_cli(["train", "--dataset", "digits", "--regularizer", "l3"], cwd=workdir, env=env)
    # the value as the flag took it, not the one-cell study's list (['l3'])
    assert proc.returncode == 2 and "error: --regularizer = 'l3': unknown arm 'l3'" in proc.stderr
    proc = run_cli(["train", "--dropout", "0.5,x"], cwd=workdir, env=env)
    assert proc.returncode == 2 and "--dropout" in proc.stderr
    monkeypatch.chdir(workdir)
    for flags, expected in ((["--lr", "-1"], "error: --lr = -1.0: Input should be greater than 0"),
                            (["--val-fraction", "2"], "error: --val-fraction = 2.0: Input should be less than 1"),
                            (["--hidden", "0,8"], "error: --hidden = 0: Input should be greater than 0"),
                            # the flags typed, not the one-cell study's fields ('strengths.dropout', 'arms')
                            (["--hidden", "8", "--regularizer", "dropout", "--dropout", "0.2,0.5"],
                             "error: --dropout = 0.2,0.5: 2 p's, one per hidden layer, but --hidden 8 has 1 layer; give "
                             "one p per hidden layer or a single number"),
                            (["--hidden", "none", "--regularizer", "dropout_l2"],
                             "error: --hidden none: a linear model has no hidden units for dropout to drop, so --regularizer "
                             "dropout_l2 would train as none; give --hidden layer sizes (64,64) or another --regularizer"),
                            # 0 is the flag's "off": "greater than 0" said otherwise
                            (["--early-stopping", "-1"], "error: --early-stopping = -1: patience in epochs, 1 or more (0: off)")):
        assert main(["train", *flags]) == 2 and capsys.readouterr().err.strip() == expected
    # a table's problems too, as flags: no study file, no study identity in the advice
    (workdir / "tables").mkdir()
    (workdir / "u16.csv").write_bytes("a\ty\n1\tx\n2\ty\n3\tx\n4\ty\n".encode("utf-16"))
    assert main(["train", "--dataset", "fashion_mnist", "--root", "no-such", "--download", "no"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --root = 'no-such': FashionMNIST files not found in no-such/FashionMNIST/raw/ (relative to the working "
        f"directory: {workdir}/no-such/FashionMNIST/raw/) (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, or their .gz); add --download yes to fetch them")
    for flags, expected in (
            (["--path", "tables", "--target", "y"], "error: --path = 'tables': a directory, not a CSV or Parquet file "
             f"(relative paths are read from the working directory: {workdir / 'tables'})"),
            (["--path", "u16.csv"], "error: --dataset table needs --path (the CSV or Parquet file) and --target (the column "
             "to predict)"),
            (["--path", "u16.csv", "--target", "y"], "error: --path = 'u16.csv': the file is UTF-16 text (it starts with a "
             "UTF-16 byte order mark, as Excel's \"Unicode text\" saves); add --encoding utf-16")):
        assert main(["train", "--dataset", "table", *flags]) == 2 and capsys.readouterr().err.strip() == expected
    assert main(["train", "--dataset", "csv"]) == 2   # the name typed, not "table"
    assert capsys.readouterr().err.strip().startswith("error: --dataset csv needs --path")
    for flags, expected in ((["--lr", "inf"], "error: --lr = inf: Input should be a finite number"),
                            (["--regularizer", "l2", "--l2", "inf"], "error: --l2 = inf: Input should be a finite number")):
        assert main(["train", "--epochs", "1", *flags]) == 2 and capsys.readouterr().err.strip() == expected
    if not torch.cuda.is_available():   # refused before a run is opened (a FAILED run was logged)
        assert main(["train", "--epochs", "1", "--device", "cuda"]) == 2
        assert capsys.readouterr().err.strip() == "error: --device = 'cuda': no CUDA device is available here; use auto or cpu"
    # an MLflow server that does not answer: one line now (was MLflow's 120 s of retries, then a worker's advice)
    assert main(["train", "--epochs", "1", "--tracking-uri", "http://127.0.0.1:9"]) == 2
    assert capsys.readouterr().err.strip() == "error: --tracking-uri = 'http://127.0.0.1:9': the MLflow server does not answer (ConnectionRefusedError)"
    assert not (workdir / "mlflow.db").exists()


def test_train_says_the_notes_a_study_file_would_get_in_its_flags(workdir, env, monkeypatch, capsys):
    """A setting that changes nothing is noted by `train` as `ablation` notes it in a study file,
    in the flags the user typed: an option another kind of dataset reads (--root on wine), SGD's
    momentum beside Adam, a regularizer whose strength is 0 (beside a strength it does not read).
    The run is trained all the same. Flags left at their defaults (mlflow run passes every one,
    --test-fraction 0.25 included) are no note, on a dataset with a test split of its own too."""
    from pipeline.cli import main, parser
    from pipeline.flags import note_as_flags, train_study
    from pipeline.study import build_study

    proc = run_cli(["train", "--dataset", "wine", "--root", "data", "--optimizer", "adam", "--momentum", "0.9",
                    "--lr", "0.01", "--regularizer", "l2", "--l2", "0", "--dropout", "0.3", "--epochs", "1"],
                   cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
    assert notes == ["note: --momentum = 0.9 is SGD's: Adam does not read it (its betas are torch's defaults, 0.9 and "
                     "0.999); it changes nothing but the run's config_hash",
                     "note: --root is read by the fashion_mnist and mnist datasets only: it changes nothing for wine",
                     "note: --regularizer l2 with --l2 0 trains exactly as none",
                     "note: --dropout 0.3 changes nothing for --regularizer l2 (it trains l2); --regularizer dropout "
                     "or dropout_l2 reads it"], proc.stderr
    assert re.search(r"\nwine/l2@l2=0/seed0: accuracy train=", proc.stdout), proc.stdout

    def notes_of(*flags):
        return build_study(train_study(parser().parse_args(["train", *flags])), "train").notes

    mlproject = ["--regularizer", "none", "--momentum", "0.0", "--test-fraction", "0.25", "--download", "yes",
                 "--root", "unset", "--preprocess", "unset", "--encoding", "unset", "--path", "unset"]
    assert notes_of("--dataset", "mnist", *mlproject) == () and notes_of("--dataset", "wine", *mlproject) == ()
    assert notes_of("--dataset", "wine", "--l2-mode", "penalty", "--penalize-bias", "no") == ()   # mlflow run's defaults
    # l2_mode and penalize_bias beside a regularizer that reads neither, in the flags typed
    assert [note_as_flags(n) for n in notes_of("--dataset", "wine", "--l2-mode", "decoupled", "--penalize-bias")] == [
        "--l2-mode = 'decoupled' changes nothing here: only --regularizer l2 and dropout_l2 read it (it is part of the "
        "run's config_hash)",
        "--penalize-bias yes changes nothing here: only --regularizer l1, l2 and dropout_l2 read it (it is part of the "
        "run's config_hash)"]
    assert notes_of("--dataset", "mnist", "--test-fraction", "0.3") == (
        "train: option 'test_fraction' changes nothing for mnist: it has a test split of its own (it is part of "
        "the study's identity; leave it out of new studies)",)
    monkeypatch.chdir(workdir)   # an alias of the baseline, and a seed out of range: the value as typed
    for flags, said in ((["--regularizer", "Baseline"], "error: --regularizer = 'baseline': unknown arm 'baseline' "
                         "(the baseline, no regularizer, is the arm 'none' here); allowed: none, dropout, l1, l2, "
                         "dropout_l2"),
                        (["--seed", "-1"], "error: --seed = -1: seed -1 is out of range")):
        assert main(["train", *flags]) == 2 and capsys.readouterr().err.startswith(said)


def test_train_flags_keep_none_as_a_value():
    """`none` is a value of a dataset option (--normalize none), not "not given" as it is for
    --seeds; MLproject's "unset" and an empty string are."""
    from pipeline.cli import parser
    from pipeline.flags import train_study

    def dataset(*flags):
        return train_study(parser().parse_args(["train", *flags]))["datasets"][0]

    assert dataset("--normalize", "none", "--target", "None")["normalize"] == "none"
    assert dataset("--normalize", "none", "--target", "None")["target"] == "None"
    assert "normalize" not in dataset("--normalize", "unset") and "target" not in dataset("--target", "")


def test_train_command_reads_a_messy_table_as_a_study_would(workdir, env):
    """The table options as flags (--preprocess as a study file's YAML mapping, --metric,
    --class-weight): the run records what preprocessing did and the split sizes; a field inside
    --preprocess is named in its error."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": np.where(rng.random(120) < 0.1, 0.0, x[:, 1] + 5), "c": x[:, 2],
                          "y": np.where(x[:, 0] + x[:, 2] > 0.8, "sick", "well")})
    frame.to_csv(workdir / "t.csv", index=False)
    flags = ["train", "--dataset", "table", "--path", "t.csv", "--target", "y", "--epochs", "2",
             "--metric", "balanced_accuracy", "--class-weight", "balanced"]
    bad = run_cli([*flags, "--preprocess", "{missing: {b: [0]}}"], cwd=workdir, env=env)
    assert bad.returncode == 2 and bad.stderr.strip().endswith(
        "error: --preprocess: field 'missing': Input should be 'impute', 'drop' or 'refuse'")
    assert not (workdir / "mlflow.db").exists()
    proc = run_cli([*flags, "--preprocess", "{missing_values: {b: [0]}}", "--dropout", "0.3"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the run and the console name the table by its file, not "table"
    assert "[t] data: rows 120 -> 120; columns 3 -> 4; imputed: b; marked missing: b (" in proc.stdout
    assert "class weights: sick " in proc.stdout
    assert re.search(r"\nt/none/seed0: balanced accuracy train=\d\.\d{4} val=", proc.stdout), proc.stdout
    # a strength the regularizer does not read is said, not silently ignored
    assert ("note: --dropout 0.3 changes nothing for --regularizer none (it trains without a regularizer); "
            "--regularizer dropout or dropout_l2 reads it") in proc.stderr
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    [run] = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    assert run.info.run_name == "t/none/seed0" and run.data.tags["dataset"] == "t"
    p = run.data.params
    assert json.loads(p["data_marked_missing"]) == {"b": int((frame["b"] == 0).sum())} and p["n_features"] == "4"
    assert sum(int(p[f"n_{s}"]) for s in ("train", "val", "test")) == 120
    assert json.loads(p["class_names"]) == ["sick", "well"] and len(json.loads(p["class_weight"])) == 2
    assert json.loads(p["dataset_spec"])["metric"] == "balanced_accuracy" and p["chance_test_metric"] == "0.5"
    # a training subset: the rows it leaves out are counted, and the regularizer's strength is said
    sub = run_cli([*flags, "--train-size", "30", "--regularizer", "l2"], cwd=workdir, env=env)
    assert sub.returncode == 0, sub.stderr[-2000:]
    sizes = re.search(r"rows: train (\d+), val (\d+), test (\d+)", sub.stdout)
    used = sum(map(int, sizes.groups()))
    assert sizes.group(1) == "30" and f"[t] data: rows 120 -> {used} ({120 - used} training rows left out by " \
        "train_size);" in sub.stdout
    assert "[t] strengths: L2: l2=0.001 (penalty); biases not penalized (penalize_bias: false)\n" in sub.stdout
    assert "changes nothing" not in sub.stderr
    # a strength flag given at its default value for an arm that does not read it is noted too
    plain = run_cli([*flags, "--l2", "1e-3"], cwd=workdir, env=env)
    assert plain.returncode == 0 and "note: --l2 0.001 changes nothing for --regularizer none" in plain.stderr


def test_a_study_file_may_merge_a_yaml_anchor(tmp_path):
    """`<<: *base` was refused ("could not determine a constructor for the tag ...merge"), though
    anchors and aliases were read: YAML's merge keys, the keys beside them overriding (an
    odd-environments audit); a key written twice is still refused."""
    path = tmp_path / "m.yaml"
    path.write_text("name: merged\nseeds: 2\ndatasets:\n  - &wine {name: wine, train_size: 50, label: w1}\n"
                    "  - <<: *wine\n    train_size: 80\n    label: w2\n")
    assert [(p.label, p.dataset.train_size) for p in load_study(path).plans] == [("w1", 50), ("w2", 80)]
    # a merge whose source merges itself (flatten_mapping rewrites it in place: read as a key written twice)
    from pipeline.study import read_yaml

    assert read_yaml("base: &b {name: wine, train_size: 50}\npool: {inner: &w {<<: *b, train_size: 80}}\n"
                     "other: {<<: *w, label: x}\n")["other"] == {"name": "wine", "train_size": 80, "label": "x"}
    path.write_text("name: merged\nseeds: 2\ndatasets:\n  - &wine {name: wine, label: w1}\n"
                    "  - <<: *wine\n    label: w2\n    label: w3\n")
    with pytest.raises(UsageError, match="'label' is written twice in one mapping"):
        load_study(path)


def test_leading_zeros_and_colons_are_text_as_written(tmp_path):
    """YAML 1.1 read an unquoted 00000 as the number 0 and 0123 as octal 83 (1:30 as 90): a ZIP code
    column's marker `missing_values: {zip: [00000]}` then matched nothing (a schema review). They are
    text now, as the file writes them; other integers, hex and YAML 1.2 floats read as before."""
    from pipeline.study import read_yaml

    assert read_yaml("a: [00000, 0123, 1:30, 1:30.5, 0, -5, 1_000, 0x1F, 1e-4, 007.5, .5, -.inf]")["a"] == \
        ["00000", "0123", "1:30", "1:30.5", 0, -5, 1000, 31, 1e-4, 7.5, 0.5, float("-inf")]
    rows = "".join(f"{'00000' if i % 5 == 0 else f'{2100 + i % 6:05d}'},{i % 7},{i % 2}\n" for i in range(60))
    (tmp_path / "z.csv").write_text("zip,a,y\n" + rows)
    path = tmp_path / "z.yaml"
    path.write_text(f"name: z\nseeds: 2\ndatasets:\n  - {{name: table, path: {tmp_path / 'z.csv'}, target: y, "
                    "preprocess: {missing_values: {zip: [00000]}}}\n")
    from pipeline.tables import read

    features, _, record = read(load_study(path).plans[0].dataset)
    assert features["zip"].isna().sum() == 12 and set(features["zip"].dropna()) == {f"0{2100 + i}" for i in range(6)}


def test_a_flag_that_says_what_the_file_says_makes_no_view(tmp_path):
    """`--seeds 2` on a file of seeds: 2, or --datasets naming each of its datasets, is the study
    itself: it was a view, whose verdicts were never recorded as the study's answer and whose report
    went to <study>/seeds-2/ (a new user's command line, in a review of unusual input)."""
    path = write_study(tmp_path / "s.yaml", tiny_study_dict())
    for flags in ({"seeds": "2"}, {"datasets": "synthetic_linear, digits"}, {"epochs": "3"},
                  {"seeds": "2", "epochs": "3", "datasets": "digits,synthetic_linear"}):
        study = load_study(path, **flags)
        assert (study.overrides, study.view_flags(), study.report_folder) == ((), "", "tiny"), flags
        assert study.source_text == path.read_text()   # the file as written, not re-written with the flags
    # what differs stays a view or a configuration of its own: a list of seeds is the user's own
    assert load_study(path, seeds="0,1").overrides == (("seeds", "0,1"),)
    assert load_study(path, seeds="2", datasets="digits").report_folder == "tiny/datasets-digits"
    assert load_study(path, epochs="4").overrides == (("epochs", "4"),)
    own = write_study(tmp_path / "own.yaml", _with("datasets.1.epochs", 5))   # --epochs 3 changes synthetic_linear's
    assert load_study(own, epochs="3").overrides == (("epochs", "3"),)


def test_a_label_written_with_spaces_around_it_is_chosen_by_its_words(tmp_path):
    """label: " vino " could not be chosen: --datasets trims what it is given ("--datasets = 'vino':
    not in the study; allowed: ' vino '...", and ' vino ' was trimmed too)."""
    path = write_study(tmp_path / "s.yaml", {**tiny_study_dict(), "datasets": [
        {"name": "wine", "label": " vino "}, {"name": "digits"}, {"name": "breast_cancer"}]})
    for flag in ("vino", " vino ", "vino,digits"):
        assert [p.label for p in load_study(path, datasets=flag).plans][0] == " vino ", flag


def test_overrides_and_config_hash(tmp_path):
    base = write_study(tmp_path / "s.yaml", tiny_study_dict())
    a = load_study(base)
    assert [p.label for p in a.plans] == ["digits", "synthetic_linear"]
    assert a.seeds == [0, 1]
    # a per-dataset override applies to that dataset only
    assert a.plans[1].training.optimizer.name == "adam" and a.plans[0].training.optimizer.name == "sgd"
    b = load_study(base, seeds="3,5,7", epochs="9", datasets="digits")
    assert b.seeds == [3, 5, 7] and len(b.plans) == 1 and b.plans[0].training.epochs == 9
    # seeds are the grid, not the configuration: same hash; epochs change training: new hash
    assert load_study(base, seeds="4").plans[0].config_hash == a.plans[0].config_hash
    assert b.plans[0].config_hash != a.plans[0].config_hash
    assert "epochs: 9" in b.source_text and b.source_text.startswith(f"# {base} with --seeds 3,5,7 --epochs 9 --datasets digits")
    assert a.source_text == Path(base).read_text()   # as written, comments included
    # a shrunk configuration's report folder: inside the study's, datasets in any order, within 255 bytes
    assert a.report_folder == "tiny" and b.report_folder == "tiny/seeds-3+5+7_epochs-9_datasets-digits"
    many = load_study(base, seeds=",".join(map(str, range(150))), datasets="synthetic_linear, digits").report_folder
    assert many.startswith("tiny/seeds-0+1+2") and len(many) < 120
    assert load_study(base, datasets="synthetic_linear,digits").report_folder == "tiny"   # each of them: the study itself
    twice = load_study(base, datasets="digits,digits")   # each once (it was a view of its own)
    assert [p.label for p in twice.plans] == ["digits"] and twice.report_folder == "tiny/datasets-digits"
    # labels that are no file names get a digest: two never share a figures folder or a view folder
    from pipeline.study import file_safe

    assert file_safe("digits@50") == "digits@50" and file_safe("wine é") != file_safe("wine è")
    assert file_safe("wine é").startswith("wine_-") and file_safe("a b") not in ("a_b", "a+b") and file_safe("..") != ".."
    spaced = write_study(tmp_path / "s.yaml", {**tiny_study_dict(), "datasets": [
        {"name": "digits", "label": "a b"}, {"name": "wine", "label": "a"}, {"name": "breast_cancer", "label": "b"}]})
    assert load_study(spaced, datasets="a b").report_folder != load_study(spaced, datasets="a,b").report_folder
    assert load_study(spaced, datasets="b,a").report_folder == load_study(spaced, datasets="a,b").report_folder   # any order
    # a label with a comma (a CSV named sales,2024.csv) is chosen as written: --datasets 'a,b' was "'a': not in the study"
    commas = write_study(tmp_path / "c2.yaml", {**tiny_study_dict(), "datasets": [
        {"name": "digits", "label": "a,b"}, {"name": "wine", "label": "x"}]})
    assert [p.label for p in load_study(commas, datasets="a,b").plans] == ["a,b"]
    assert [p.label for p in load_study(commas, datasets="x").plans] == ["x"]
    # arm spellings users write are accepted
    c = write_study(tmp_path / "c.yaml", {**tiny_study_dict(), "arms": ["None", "L1", "dropout+L2"]})
    assert load_study(c).arms == ["none", "l1", "dropout_l2"]
    # any training change gives a different hash, but for an untuned study's strengths: its cells are
    # named by them (identity.CELL_STRENGTHS); l2_mode is hashed (a point's name does not say it)
    d = copy.deepcopy(tiny_study_dict())
    d["strengths"]["l2"] = 0.5
    changed = load_study(write_study(tmp_path / "d.yaml", d))
    assert changed.plans[0].config_hash == a.plans[0].config_hash != changed.plans[0].strengths_hash
    assert changed.point_ids("l2", changed.plans[0]) == ["l2=0.5"] and a.point_ids("l2", a.plans[0]) == ["l2=0.001"]
    d["strengths"]["l2_mode"] = "decoupled"
    assert load_study(write_study(tmp_path / "d.yaml", d)).plans[0].config_hash != a.plans[0].config_hash
    d = copy.deepcopy(tiny_study_dict(tune={"trials": 2, "seeds": [100]}))
    tuned = load_study(write_study(tmp_path / "t.yaml", d)).plans[0]
    d["strengths"]["l2"] = 0.5
    assert load_study(write_study(tmp_path / "t.yaml", d)).plans[0].config_hash != tuned.config_hash == tuned.strengths_hash


def test_shipped_study_files_are_valid():
    """Every study file in studies/ loads without a note; one of this workspace's shared data
    (studies/pima.yaml reads ../shared/data, outside the repository) only where that data is, as in
    a clone beside it: elsewhere (a clone in /tmp) it is refused for that file alone."""

    for path in sorted(Path(__file__).resolve().parents[1].glob("studies/*.yaml")):
        try:
            study = load_study(path)
        except UsageError as e:
            assert "'../shared/" in str(e) and "file does not exist" in str(e), (path, str(e))
            continue
        assert study.plans and study.cells() and not study.notes, path
        yaml.safe_load(study.source_text)


def test_execution_settings_are_not_the_identity(tmp_path):
    """engine, population_size, device and workers say how cells are computed, not what: they
    leave the configuration hash alone. The spellings from before the execution block still
    work, with a deprecation note, and a study with the old defaults keeps its old hash."""
    base = load_study(write_study(tmp_path / "a.yaml", tiny_study_dict()))
    moved = load_study(write_study(tmp_path / "b.yaml", {**tiny_study_dict(), "execution": {
        "engine": "reference", "population_size": 3, "device": "cpu", "workers": 2}}))
    assert [p.config_hash for p in moved.plans] == [p.config_hash for p in base.plans]
    assert moved.plans[0].execution.engine == "reference" and moved.spec.execution.workers == 2
    assert not base.notes and not moved.notes
    # one seed: valid (a quick look at the runs), but said before it trains that it compares nothing
    one = load_study(write_study(tmp_path / "c.yaml", tiny_study_dict(seeds=1)))
    assert one.notes == (f"{tmp_path / 'c.yaml'}: with one seed no arm is compared with none (a comparison needs 2 seeds)",)
    # the old spellings: top level engine/population_size/device, per dataset engine/population_size
    legacy = tiny_study_dict(engine="reference", population_size=4, device="cpu")
    legacy["datasets"][1]["engine"] = "population"
    old = load_study(write_study(tmp_path / "c.yaml", legacy))
    assert [p.execution.engine for p in old.plans] == ["reference", "population"]
    assert old.plans[0].execution.population_size == 4 and old.plans[0].execution.device == "cpu"
    assert [p.config_hash for p in old.plans] == [p.config_hash for p in base.plans]
    assert len(old.notes) == 4 and all("deprecated" in n and "execution" in n for n in old.notes)
    # per-dataset execution blocks override the top level's
    per = tiny_study_dict(execution={"engine": "reference"})
    per["datasets"][0]["execution"] = {"engine": "population", "population_size": 2}
    plans = load_study(write_study(tmp_path / "d.yaml", per)).plans
    assert [(p.execution.engine, p.execution.population_size) for p in plans] == [("population", 2), ("reference", 10)]
    # the default study's identity is the one it had before the execution block (resumes; its strengths
    # then left the identity: it is its strengths_hash, which Study.adopted resumes)
    default = load_study(Path(__file__).resolve().parents[1] / "studies" / "default.yaml")
    assert [p.strengths_hash for p in default.plans] == ["24e055cb0495", "aa9a75f39402", "f34c4aca55b9", "34a3a04e4a1c"]


def test_an_option_of_another_kind_of_dataset_is_noted(tmp_path):
    """`root:` on wine changes nothing but the identity: a note (a study that has one keeps
    loading, and its runs keep their configuration)."""
    study = {**tiny_study_dict(), "datasets": [{"name": "wine", "root": "data"}, {"name": "digits"}]}
    path = write_study(tmp_path / "r.yaml", study)
    assert load_study(path).notes == (f"{path} (dataset wine): option 'root' is read by the fashion_mnist and mnist "
                                      "datasets only: it changes nothing for wine (it is part of the study's identity; "
                                      "leave it out of new studies)",)


def test_tuning_seeds_among_the_grids_say_what_the_grid_runs(tmp_path):
    """`--seeds 1001` is a count (seeds 0 to 1000), so tune.seeds [1000] clashed, and the error
    said only "are also grid seeds", blaming the file for what the flag did (a tuning audit)."""
    path = write_study(tmp_path / "t.yaml", {**tiny_study_dict(), "arms": ["none", "l2"],
                                              "tune": {"trials": 2, "seeds": [1000, 1001]}})
    with pytest.raises(UsageError) as e:   # the flag's doing: said of the flag, with what a view may give
        load_study(path, seeds="1001")
    assert str(e.value) == ("--seeds = '1001': the grid's seeds would include the tuning seeds [1000, 1001], which the "
                            "test set must not see through a tuned choice; a count up to 1000 (seeds 0 to 999), or a "
                            "list without them")
    with pytest.raises(UsageError, match=r"--seeds = '0,1001': the grid's seeds would include the tuning seeds"):
        load_study(path, seeds="0,1001")
    write_study(path, {**tiny_study_dict(), "arms": ["none", "l2"], "seeds": 1001,
                       "tune": {"trials": 2, "seeds": [1000, 1001]}})
    with pytest.raises(UsageError) as e:   # the file's own seeds
        load_study(path)
    assert str(e.value) == (f"{path}: tune.seeds [1000] are also grid seeds (the grid's seeds: a count, seeds 0 to "
                            "1000); the grid must be evaluated on seeds not used in tuning: tune.seeds [2000, 2001] would do")


def test_settings_that_change_nothing_are_noted_even_in_tuning(tmp_path):
    tuned = {**tiny_study_dict(), "arms": ["none", "l2"], "tune": {"trials": 2, "seeds": [100], "l1": [1e-5, 1e-3]}}
    assert load_study(write_study(tmp_path / "t.yaml", tuned)).notes == (
        f"{tmp_path / 't.yaml'}: tune.l1 set, but no arm in 'arms' has l1: not used",
        # a strength written beside tune was replaced by the tuned one without a word (a tuning audit);
        # the file's dropout and l1 belong to no arm here: not its concern
        f"{tmp_path / 't.yaml'}: strengths.l2 set, but tune chooses the strengths of every arm: it is replaced by the "
        "tuned value (used only where tuning finds none)")
    untouched = {k: v for k, v in tuned.items() if k != "strengths"}
    untouched["tune"] = {"trials": 2, "seeds": [100]}
    assert load_study(write_study(tmp_path / "u.yaml", untouched)).notes == ()


def test_settings_that_change_nothing_are_noted():
    """Valid settings that do nothing, which the verdicts would otherwise dress up as a finding: a
    dropout arm at p = 0 is a copy of none ("practically the same"), dropout+L2 at p = 0 is L2, a
    path for an arm not in `arms` is not run."""
    from pipeline.study import build_study

    study = build_study({**tiny_study_dict(), "arms": ["none", "dropout", "dropout_l2"], "paths": {"l1": [1e-4, 1e-3]},
                         "strengths": {"dropout": 0.0, "l2": 1e-3}, "datasets": [{"name": "digits"}]}, "s.yaml")
    assert study.notes == ("s.yaml: arm 'dropout' has dropout 0 (strengths), so it trains exactly as none",
                           "s.yaml: arm 'dropout_l2' has dropout 0 (strengths), so it trains without dropout",
                           "s.yaml: paths for 'l1', which 'arms' does not list: not run")
    assert build_study({**tiny_study_dict(), "datasets": [{"name": "digits"}]}, "s.yaml").notes == ()
    # momentum written beside name: adam (Adam does not read it); test_fraction on a dataset with
    # its own test split; neither noted where it is read
    odd = build_study({**tiny_study_dict(), "optimizer": {"name": "adam", "lr": 0.01, "momentum": 0.9},
                       "datasets": [{"name": "synthetic_highdim", "test_fraction": 0.5}]}, "s.yaml")
    assert odd.notes == ("s.yaml: field 'optimizer.momentum' = 0.9 is SGD's: Adam does not read it (its betas are "
                         "torch's defaults, 0.9 and 0.999); it changes nothing but the study's identity",
                         "s.yaml: option 'test_fraction' changes nothing for synthetic_highdim: it has a test split of "
                         "its own (it is part of the study's identity; leave it out of new studies)")
    assert build_study({**tiny_study_dict(), "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
                        "datasets": [{"name": "digits", "test_fraction": 0.5}]}, "s.yaml").notes == ()
    # a dataset that switches to SGD inherits the top level's momentum: it is read there
    switched = build_study({**tiny_study_dict(), "optimizer": {"name": "adam", "lr": 0.01, "momentum": 0.9},
                            "datasets": [{"name": "digits", "optimizer": {"name": "sgd"}}, {"name": "wine"}]}, "s.yaml")
    assert switched.notes == () and switched.plans[0].training.optimizer.momentum == 0.9
    # an l2_mode path makes variants of every arm with L2: no note for the L2 arms not listed, but
    # one when no listed arm has L2
    modes = {**tiny_study_dict(), "paths": {"l2_mode": ["penalty", "weight_decay"]}, "datasets": [{"name": "digits"}]}
    assert build_study({**modes, "arms": ["none", "l1", "l2"]}, "s.yaml").notes == ()
    assert build_study({**modes, "arms": ["none", "l1"]}, "s.yaml").notes == (
        "s.yaml: paths.l2_mode set, but no arm in 'arms' has L2: not used",)
    # l2_mode and penalize_bias where no arm reads them (they were taken silently, into the identity)
    unread = {**tiny_study_dict(), "strengths": {"l2_mode": "decoupled", "penalize_bias": True}, "datasets": [{"name": "digits"}]}
    assert build_study({**unread, "arms": ["none", "dropout"]}, "s.yaml").notes == (
        "s.yaml: field 'strengths.l2_mode' = 'decoupled' changes nothing here: only the L2 arms (l2, dropout_l2) read it, "
        "and none of them runs (it is part of the study's identity)",
        "s.yaml: field 'strengths.penalize_bias' = true changes nothing here: only the L1 and L2 arms read it, and none "
        "of them runs (it is part of the study's identity)")
    assert len(build_study({**unread, "arms": ["none", "l1"]}, "s.yaml").notes) == 1   # L1 reads penalize_bias
    assert build_study({**unread, "arms": ["none", "dropout_l2"]}, "s.yaml").notes == ()


def test_a_quoted_rope_in_any_number_form_is_refused():
    """'1e-2' and ' 0.5 ' are numbers written as text, like '5': refused with the same hint."""
    from pipeline.errors import UsageError
    from pipeline.study import build_study

    for text in ("1e-2", " 0.5 ", ".5"):
        with pytest.raises(UsageError) as e:
            build_study(_with("rope", text), "q.yaml")
        assert "or a share of none's mean such as" in str(e.value), str(e.value)


def test_a_flag_is_never_taken_for_a_longer_one(capsys):
    """`--seed 3` (or mlflow run's undeclared `-P dataset=x`, passed on as `--dataset x`) is refused,
    not read as `--seeds 3` or `--datasets x`."""
    from pipeline.cli import main

    for flag in ("--seed", "--dataset"):
        with pytest.raises(SystemExit) as stop:
            main(["ablation", "--study", "studies/default.yaml", flag, "3"])
        err = capsys.readouterr().err
        # the command's usage (its flags), not the top level's list of commands
        assert stop.value.code == 2 and f"unrecognized arguments: {flag} 3" in err and "--workers" in err, err
        assert err.rstrip().endswith(f"; did you mean {flag}s?"), err   # the flag it is close to (a review)


def test_a_tutorials_flag_for_train_says_what_it_is_called_here(capsys):
    """`--weight-decay 0.01` (or mlflow run's `--weight_decay` from `-P weight_decay=0.01`) and
    `--learning-rate`: argparse's usage and line, which then says how `train` spells it."""
    from pipeline.cli import main

    for argv, said in ((["--weight-decay", "0.01"], "unrecognized arguments: --weight-decay 0.01; --weight-decay: "
                        "weight decay is --regularizer l2 --l2 <its value> --l2-mode weight_decay, with --penalize-bias"),
                       (["--weight_decay", "0.01"], "-P regularizer=l2 -P l2=... -P l2_mode=weight_decay -P penalize_bias=yes"),
                       (["--learning-rate=0.5"], "unrecognized arguments: --learning-rate=0.5; --learning-rate: the "
                        "learning rate is --lr")):
        with pytest.raises(SystemExit) as e:
            main(["train", *argv])
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.startswith("usage: ") and said in err.splitlines()[-1], err
    with pytest.raises(SystemExit):   # any other unknown flag: argparse's line as it was
        main(["train", "--bogus", "1"])
    assert capsys.readouterr().err.splitlines()[-1].endswith("error: unrecognized arguments: --bogus 1")


def test_a_tutorials_name_for_a_dataset_or_the_baseline_says_how_it_is_spelt_here(workdir, monkeypatch, capsys):
    """FashionMNIST, fashion-mnist (torchvision's and the tutorials' spellings), Pima's diabetes
    and an arm named baseline or no_reg: one line naming the right spelling, exit 2, nothing
    written; in a study file and as `train`'s flags alike. A name like no built-in one is not
    given a loose look-alike (iris is not digits), but the way to read any other data."""
    pima = ("the Pima diabetes tutorial's diabetes.csv is read as a table here: dataset csv, path: the file, "
            "target: Outcome, as studies/pima.yaml has it")
    baseline = "(the baseline, no regularizer, is the arm 'none' here)"
    cases = [(_with("datasets.0.name", "FashionMNIST"), "'FashionMNIST' (did you mean 'fashion_mnist'?)"),
             (_with("datasets.0.name", "fashion-mnist"), "'fashion-mnist' (did you mean 'fashion_mnist'?)"),
             (_with("datasets.0.name", "MNIST"), "'MNIST' (did you mean 'mnist'?)"),
             (_with("datasets.0.name", "load_breast_cancer"), "(did you mean 'breast_cancer'?)"),
             (_with("datasets.0.name", "pima"), f"unknown dataset 'pima' ({pima}); allowed: "),
             (_with("datasets.0.name", "diabetes"), f"unknown dataset 'diabetes' ({pima}); allowed: "),
             (_with("datasets.0.name", "iris"), "unknown dataset 'iris'; allowed: breast_cancer, csv, digits, "
              "fashion_mnist, mnist, quadrants, synthetic_highdim, synthetic_linear, table, wine; any other data: "
              "dataset csv with the file's path and target column"),
             (_with("arms", ["baseline", "l2"]), f"field 'arms' = ['baseline', 'l2']: unknown arm 'baseline' {baseline}"),
             (_with("arms", ["none", "no_reg"]), f"unknown arm 'no_reg' {baseline}")]
    monkeypatch.chdir(workdir)
    for study, said in cases:
        write_study(workdir / "study.yaml", study)
        before = set(p.name for p in workdir.iterdir())
        code = main(["ablation", "--study", "study.yaml"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: study.yaml: ") and said in err, err
        assert set(p.name for p in workdir.iterdir()) == before
    for argv, said in ((["--dataset", "FashionMNIST"], "error: --dataset = 'FashionMNIST': unknown dataset 'FashionMNIST' "
                        "(did you mean 'fashion_mnist'?)"),
                       (["--dataset", "pima"], pima), (["--regularizer", "baseline"], baseline)):
        assert main(["train", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, err
    assert not (workdir / "mlflow.db").exists()


def test_a_block_written_as_one_value_says_what_the_block_looks_like(workdir, monkeypatch, capsys):
    """A first study file's shapes: `optimizer: adam`, `hidden: 64`, a dataset entry without its
    name: one line showing the shape, not pydantic's "valid dictionary or instance of
    OptimizerSpec", "valid list" or "Field required"; exit 2, nothing written."""
    cases = [({"optimizer": "adam"}, "field 'optimizer' = 'adam': a block of fields: optimizer: "
              "{name: adam, lr: <its learning rate>}"),
             ({"model": {"hidden": 64}}, "field 'model.hidden' = 64: a list, e.g. [64]"),
             ({"strengths": 0.1}, "field 'strengths' = 0.1: a block of fields, e.g. strengths: {dropout: 0.3, l2: 0.001}"),
             ({"datasets": [{"dataset": "digits"}]}, "field 'datasets.0.name': every dataset entry needs its name: "
              "- name: digits (`python -m pipeline datasets` lists them)")]
    monkeypatch.chdir(workdir)
    for change, said in cases:
        write_study(workdir / "study.yaml", {**tiny_study_dict(), **change})
        before = set(p.name for p in workdir.iterdir())
        assert main(["ablation", "--study", "study.yaml"]) == 2
        err = capsys.readouterr().err
        assert err == f"error: study.yaml: {said}\n", err
        assert set(p.name for p in workdir.iterdir()) == before


def test_a_database_host_that_never_answers_is_an_error_in_seconds():
    """A host that accepts the connection and never answers (a half-open firewall, a frozen
    server): the storage check said nothing for the driver's 130 s, then stopped. It is one
    line within about storage.CONNECT_TIMEOUT_S now, the password masked."""
    import socket
    import time

    from pipeline import storage
    from pipeline.errors import UsageError

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)   # accepts (the kernel completes the handshake) and never says a word
        url = f"postgresql://optuna:secret@127.0.0.1:{silent.getsockname()[1]}/optuna"
        started = time.monotonic()
        with pytest.raises(UsageError) as e:
            storage.check_storage(url)
        took = time.monotonic() - started
    assert took < 3 * storage.CONNECT_TIMEOUT_S, took
    assert "secret" not in str(e.value) and len(str(e.value).splitlines()) == 1, str(e.value)


def test_a_database_tracking_uri_that_refuses_us_is_one_line(workdir, env):
    """A direct postgresql:// tracking URI that cannot be reached (or refuses the password) was two
    minutes of MLflow's retries and a 190-line traceback: one line now, exit 2, the password
    masked, nothing written."""
    from .conftest import free_port

    write_study(workdir / "s.yaml", tiny_study_dict(seeds=2, epochs=1, datasets=[{"name": "wine"}]))
    uri = f"postgresql://mlflow:secret@127.0.0.1:{free_port()}/mlflow"
    proc = run_cli(["ablation", "--study", "s.yaml", "--tracking-uri", uri], cwd=workdir, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: --tracking-uri = 'postgresql://mlflow:***@127.0.0.1:") and "cannot be reached" in line
    assert "secret" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["s.yaml"]


def test_the_dashboard_refuses_what_it_cannot_open_or_serve_in_one_line(workdir, monkeypatch, capsys):
    """optuna-dashboard printed a traceback (or five gunicorn errors) for a storage it could not
    open, a port out of range or in use, a host that is not this machine's; a mistyped SQLite
    path was created, empty. Each is one line now, checked before it starts."""
    import socket

    from pipeline.cli import main

    from pipeline.storage import get_storage

    monkeypatch.chdir(workdir)
    (workdir / "notes.txt").write_text("not a database")
    get_storage("journal:ok.journal")   # a storage that opens, for the address's cases
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        for flags, expected in (
                (["--storage", "sqlite:///never.db"], "--storage = 'sqlite:///never.db': no such SQLite file; run a study first"),
                (["--storage", "sqlite:///notes.txt"], "--storage = 'sqlite:///notes.txt': cannot open the Optuna storage"),
                (["--storage", "sqllite:///x.db"], "a storage is journal:<file>, sqlite:///<file>, postgresql://"),
                (["--storage", "journal:none.journal"], "no such journal file; run a study first"),
                (["--port", "70000"], "--port = 70000: expected a port from 1 to 65535"),
                (["--port", str(busy)], f"--port = {busy}: in use on 127.0.0.1"),
                (["--host", "no.such.host.invalid"], "--host = 'no.such.host.invalid': cannot serve there")):
            storage = [] if "--storage" in flags else ["--storage", "journal:ok.journal"]
            assert main(["dashboard", *storage, *flags]) == 2, flags
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and expected in err, (flags, err)
    assert sorted(p.name for p in workdir.iterdir()) == ["notes.txt", "ok.journal"]   # nothing created
