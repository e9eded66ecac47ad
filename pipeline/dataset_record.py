"""What is recorded and said about a dataset's data, written and read in one place: the
params of its MLflow parent run (data_*, every metric's chance level), the console's data line
and divergence hint, and the report's reading of those params (data paragraph, warnings, chance).
The preparation itself is datasets.py and tables.py."""

from __future__ import annotations

import json
import math
from typing import Optional

from . import datasets as datasets_mod
from . import lifecycle
from . import runtree as rt
from .task import metric_for


# --- written: the dataset parent's params, the console ---------------------------------------

def chance_level(data: datasets_mod.Splits) -> Optional[float]:
    """The primary metric of a constant prediction on the test split (what learning nothing scores)."""
    return chance_levels(data).get(metric_for(data.task, data.metric).name)


def chance_levels(data: datasets_mod.Splits) -> dict[str, float]:
    """Every metric of the family for a constant prediction on the test split (what learning
    nothing scores), the undefined ones (ROC AUC of a one-class test split) left out."""
    return {name: value for name, value in data.chance.items() if not math.isnan(value)}


def chance_params(data: datasets_mod.Splits) -> dict:
    """The chance levels as the dataset parent's params: the primary metric's (chance_test_metric)
    and every metric's (chance_test_<name>), which chance_from_params reads back."""
    return {rt.CHANCE: chance_level(data),
            **{f"{rt.CHANCE_PREFIX}{name}": value for name, value in chance_levels(data).items()}}


def split_params(data: datasets_mod.Splits) -> dict:
    """What a run's data was, as params of the run that describes it (a dataset parent, or a
    `train` command's run): split sizes, features, provenance, chance levels, class weights and
    what preprocessing did to a table."""
    return {"n_train": len(data.x_train), "n_val": len(data.x_val), "n_test": len(data.x_test),
            "n_features": data.n_features, "provenance": data.provenance, **chance_params(data),
            **({"class_weight": json.dumps([round(float(w), 6) for w in data.class_weight])}
               if data.class_weight is not None else {}),
            **data_params(data)}


def data_params(data: datasets_mod.Splits) -> dict:
    """What preprocessing did to a table, as the dataset parent's params (data_*)."""
    record = data.preprocessing
    if not record:
        return {"class_names": json.dumps(data.class_names)} if data.class_names else {}
    return {"data_rows_in": record.get("rows_in"), "data_rows_out": record.get("rows_out"),
            "data_rows_without_target": record.get("rows_without_target", 0),
            "data_rows_dropped_for_missing": record.get("rows_dropped_for_missing", 0),
            "data_columns_in": record.get("columns_in"), "data_columns_out": record.get("columns_out"),
            "data_encoded_columns": json.dumps(record.get("encoded_columns", [])),
            "data_imputed_columns": json.dumps(record.get("imputed_columns", [])),
            "data_marked_missing": json.dumps(record.get("marked_missing", {})),
            "data_dropped_columns": json.dumps(record.get("dropped_columns", [])),
            "data_class_balance": json.dumps(record.get("class_balance", {})),
            "data_auto_dropped_columns": json.dumps(record.get("auto_dropped_columns", {})),
            "data_parsed_numeric_columns": json.dumps(record.get("parsed_numeric_columns", [])),
            "data_duplicate_rows": record.get("duplicate_rows", 0),
            "data_target_scale": json.dumps(record.get("target_scale")),
            # an MLflow param holds at most 6,000 characters
            "data_warnings": _json_within(record.get("warnings", []), 6000),
            "class_names": json.dumps(data.class_names)}


def _json_within(items: list[str], limit: int) -> str:
    """A JSON list of as many of the items as fit in limit characters, with a count of the rest."""
    for keep in range(len(items), -1, -1):
        rest = len(items) - keep
        text = json.dumps(items[:keep] + ([f"... and {rest} more"] if rest else []))
        if len(text) <= limit:
            return text
    return "[]"


def data_line(data: datasets_mod.Splits) -> str:
    """One console line on a table's preprocessing."""
    r = data.preprocessing
    parts = [f"rows {r['rows_in']} -> {r['rows_out']}", f"columns {r['columns_in']} -> {r['columns_out']}"]
    for key, words in (("imputed_columns", "imputed"), ("encoded_columns", "one-hot/ordinal"),
                       ("dropped_columns", "dropped")):
        if r.get(key):
            parts.append(f"{words}: {', '.join(map(str, r[key]))}")
    if r.get("auto_dropped_columns"):
        parts.append("dropped as carrying no signal: " + ", ".join(f"{c} ({why})" for c, why in r["auto_dropped_columns"].items()))
    if r.get("parsed_numeric_columns"):
        parts.append(f"numbers written as text: {', '.join(map(str, r['parsed_numeric_columns']))}")
    if r.get("target_scale"):
        parts.append("target standardized (mean {:.4g}, std {:.4g})".format(*r["target_scale"]))
    if data.class_names:
        parts.append("classes: " + ", ".join(f"{k} {v:.0%}" for k, v in r.get("class_balance", {}).items()))
    return "; ".join(parts) + "".join(f"\n  warning: {w}" for w in r.get("warnings", []))


def divergence_hint(ostudy, data: datasets_mod.Splits) -> str:
    """What to change when every ended cell of a dataset diverged; "" otherwise. A regression
    target far from unit scale trained on as it is (standardize_target: false, or a built-in
    set) is the usual cause with SGD: its squared errors are in the millions from the first step."""
    from optuna.trial import TrialState

    ended = ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    if not ended or any(t.user_attrs.get(rt.TRIAL_FAIL_REASON) != lifecycle.Outcome.DIVERGED.reason for t in ended):
        return ""
    hint = "every cell diverged (a NaN or infinite loss): lower the learning rate (optimizer: {lr: ...})"
    if data.task == "regression" and data.target_scale is None:
        y = data.y_train.double()
        mean, std = float(y.mean()), float(y.std())
        if std > 10 or abs(mean) > 10 * max(std, 1.0):
            hint += (f"; the target is far from unit scale (training mean {mean:.4g}, std {std:.4g}): "
                     "standardize_target: true in the dataset entry trains on (y - mean) / std")
    return hint


# --- read back: the report, from the parent's params ------------------------------------------

def chance_from_params(params: dict, task: str, metric: str) -> Optional[float]:
    """What a constant prediction scores in `metric`, from the dataset parent's params: its
    chance_test_<metric>, or for a parent written before those its primary's chance_test_metric
    when that primary is `metric`; None when not logged."""
    value = params.get(rt.CHANCE_PREFIX + metric)
    if value is None:
        try:
            trained_in = json.loads(params.get("dataset_spec") or "{}").get("metric")
        except (ValueError, AttributeError):
            return None
        value = params.get(rt.CHANCE) if metric_for(task, trained_in).name == metric else None
    try:
        value = float(value if value is not None else "nan")
    except ValueError:
        return None
    return None if math.isnan(value) else value


def data_warnings(params: dict) -> list[str]:
    """What reading the table warned about (tables.py), from the dataset parent's params."""
    try:
        return [str(w) for w in json.loads(params.get("data_warnings") or "[]")]
    except ValueError:
        return []


def data_paragraph(params: dict) -> str:
    """What preprocessing did to a table, in words, from its dataset parent run's params."""
    if "data_rows_in" not in params:
        return ""

    def names(key: str) -> str:
        return ", ".join(json.loads(params.get(key) or "[]")) or "none"

    text = (f"{params['data_rows_in']} rows read, {params['data_rows_out']} used"
            f" ({params.get('data_rows_without_target', 0)} without a target, "
            f"{params.get('data_rows_dropped_for_missing', 0)} dropped for missing values); "
            f"{params['data_columns_in']} feature columns in, {params['data_columns_out']} out. "
            f"Dropped: {names('data_dropped_columns')}. Imputed (training median or most frequent value, "
            f"with missing-indicator columns): {names('data_imputed_columns')}. "
            f"Encoded (one-hot, or ordinal): {names('data_encoded_columns')}.")
    marked = json.loads(params.get("data_marked_missing") or "{}")
    if marked:
        text += " Values treated as missing: " + ", ".join(f"{c} ({n})" for c, n in marked.items()) + "."
    auto = json.loads(params.get("data_auto_dropped_columns") or "{}")
    if auto:
        text += " Dropped as carrying no signal: " + ", ".join(f"{c} ({why})" for c, why in auto.items()) + "."
    parsed = json.loads(params.get("data_parsed_numeric_columns") or "[]")
    if parsed:
        text += f" Numbers written as text (thousands separators, %, currency) read as numbers: {', '.join(parsed)}."
    if int(params.get("data_duplicate_rows") or 0):
        text += f" {params['data_duplicate_rows']} duplicate row(s) kept."
    scale = json.loads(params.get("data_target_scale") or "null")
    if scale:
        text += (f" The target was standardized for training (training mean {scale[0]:.4g}, std {scale[1]:.4g}); "
                 "every metric is in the file's units, the losses in the standardized ones.")
    balance = json.loads(params.get("data_class_balance") or "{}")
    if balance:
        text += " Classes in training: " + ", ".join(f"{k} {v:.0%}" for k, v in balance.items()) + "."
    return text + " Every statistic was fit on the training rows only."
