"""What is recorded and said about a dataset's data, written and read in one place: the
params of its MLflow parent run (data_*, every metric's chance level), the console's data line
and divergence hint, and the report's reading of those params (data paragraph, warnings, chance).
The preparation itself is datasets.py, splits.py and tables.py."""

from __future__ import annotations

import json
import math
from typing import Optional

import numpy as np

from . import column_warnings, grid, lifecycle
from . import runtree as rt
from .splits import Splits
from .task import DERIVED, logged_value, metric_for
from .words import counted


# --- written: the dataset parent's params, the console ---------------------------------------

def chance_level(data: Splits) -> Optional[float]:
    """The primary metric of a constant prediction on the test split (what learning nothing scores)."""
    return chance_levels(data).get(metric_for(data.task, data.metric).name)


def chance_levels(data: Splits) -> dict[str, float]:
    """Every metric of the family for a constant prediction on the test split (what learning
    nothing scores), the undefined ones (ROC AUC of a one-class test split) left out."""
    return _defined(data.chance)


def train_chance_levels(data: Splits) -> dict[str, float]:
    """The same constant prediction's metrics on the training split (none's fit is judged by them)."""
    return _defined(data.chance_train)


def _defined(levels: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in levels.items() if not math.isnan(value)}


def chance_params(data: Splits) -> dict:
    """The chance levels as the dataset parent's params: the primary metric's (chance_test_metric)
    and every metric's (chance_test_<name>, and on the training split chance_train_<name>), which
    chance_from_params reads back."""
    return {rt.CHANCE: chance_level(data),
            **{f"{rt.CHANCE_PREFIX}{name}": value for name, value in chance_levels(data).items()},
            **train_chance_params(data)}


def train_chance_params(data: Splits) -> dict:
    """The training split's chance levels as params: chance_train_<name>."""
    return {f"{rt.TRAIN_CHANCE_PREFIX}{name}": value for name, value in train_chance_levels(data).items()}


def test_class_rows(data: Splits) -> Optional[list[int]]:
    """[rows of the test split's smallest class, of its largest, classes in it] for a
    classification (how far one test prediction moves balanced accuracy); None otherwise."""
    if data.task != "classification" or not len(data.y_test):
        return None
    counts = [int(c) for c in np.bincount(data.y_test.numpy()) if c > 0]
    return [min(counts), max(counts), len(counts)]


def leaky_columns(data: Splits) -> list[str]:
    """The table's feature columns that give the target away (column_checks: copies of it, or
    separating its classes on their own); [] for other datasets."""
    record = data.preprocessing or {}
    return [str(c) for c in (*record.get("target_copies", {}), *record.get("target_separators", {}))]


def far_targets(data: Splits) -> dict:
    """The few target values far from the others (column_checks' heavy tail: a unit slip or a typo
    looks like this) where they make most of a split's squared spread about the training mean:
    the test split's (the test MSE follows them; a constant predicting that mean is judged by it)
    or the training split's (they pull the fit and that mean). {"values": those in such a split,
    "in": "test", "training" or "training and test"}; {} for other datasets (or far rows that
    make no split's squared error: the data warning still names them)."""
    tail = (data.preprocessing or {}).get("heavy_tailed_target") or {}
    far = np.asarray(tail.get("far_values", []), dtype=float)
    if not far.size:
        return {}
    train, test = (np.asarray(data.in_target_units(y.double().numpy()), dtype=float) for y in (data.y_train, data.y_test))
    mean, where, values = float(train.mean()), [], set()
    for name, y in (("training", train), ("test", test)):
        hit = np.isclose(y[:, None], far[None, :], rtol=1e-5, atol=0).any(axis=1)   # float32 on the way
        squares = (y - mean) ** 2
        if hit.any() and squares[hit].sum() >= 0.5 * squares.sum():
            where.append(name)
            values |= {float(x) for x in far if np.isclose(y, x, rtol=1e-5, atol=0).any()}
    return {"values": [float(x) for x in far if float(x) in values], "in": " and ".join(where)} if where else {}


def far_record(stored) -> tuple[list[float], str]:
    """far_targets as stored (the Optuna study's attribute, the parent's param) as (values, where
    they are); a list from before `in` was kept: (values, "")."""
    if isinstance(stored, dict):
        return [float(x) for x in stored.get("values", [])], stored.get("in", "")
    return [float(x) for x in stored or []], ""


def split_params(data: Splits) -> dict:
    """What a run's data was, as params of the run that describes it (a dataset parent, or a
    `train` command's run): split sizes, features, provenance, chance levels, class weights and
    what preprocessing did to a table."""
    return {"n_train": len(data.x_train), "n_val": len(data.x_val), "n_test": len(data.x_test),
            "n_features": data.n_features, "provenance": data.provenance, **chance_params(data),
            **({rt.STUDY_TEST_CLASS_ROWS: json.dumps(rows)} if (rows := test_class_rows(data)) else {}),
            **({"class_weight": _json_fit([round(float(w), 6) for w in data.class_weight])}
               if data.class_weight is not None else {}),
            **data_params(data)}


def data_params(data: Splits) -> dict:
    """What preprocessing did to a table, as the dataset parent's params (data_*). Each JSON
    param fits MLflow's 6,000 characters (a table of 150 class names or 3,000 columns): what
    does not fit is counted ("... and 140 more"), and the JSON stays readable."""
    record = data.preprocessing
    if not record:
        return {"class_names": _json_fit(data.class_names)} if data.class_names else {}
    return {"data_rows_in": record.get("rows_in"), "data_rows_out": record.get("rows_out"),
            "data_rows_without_target": record.get("rows_without_target", 0),
            "data_rows_dropped_for_missing": record.get("rows_dropped_for_missing", 0),
            **({"data_rows_left_out": record["rows_left_out"]} if record.get("rows_left_out") else {}),
            "data_columns_in": record.get("columns_in"), "data_columns_out": record.get("columns_out"),
            "data_encoded_columns": _json_fit(record.get("encoded_columns", [])),
            "data_imputed_columns": _json_fit(record.get("imputed_columns", [])),
            "data_marked_missing": _json_fit(record.get("marked_missing", {})),
            "data_dropped_columns": _json_fit(record.get("dropped_columns", [])),
            "data_class_balance": _json_fit(_largest_first(record.get("class_balance", {}))),
            "data_auto_dropped_columns": _json_fit(record.get("auto_dropped_columns", {})),
            "data_parsed_numeric_columns": _json_fit(record.get("parsed_numeric_columns", [])),
            **({"data_dashes_as_missing": _json_fit(record["dashes_as_missing"])} if record.get("dashes_as_missing") else {}),
            "data_duplicate_rows": record.get("duplicate_rows", 0),
            "data_target_scale": json.dumps(record.get("target_scale")),
            "data_warnings": _json_fit(record.get("warnings", [])),
            **({rt.STUDY_LEAKY_COLUMNS: _json_fit(leaks)} if (leaks := leaky_columns(data)) else {}),
            **({rt.STUDY_FAR_TARGETS: json.dumps(far)} if (far := far_targets(data)) else {}),
            **({"data_merged_classes": _json_fit(_merges(data))} if record.get("merged_classes") else {}),
            "class_names": _json_fit(data.class_names)}


def _with_dashes(columns: list, dashes: dict) -> list[str]:
    """Column names, each with how many dashes in it were read as missing: "pressure (3 '-' as missing)"."""
    return [f"{name_shown(c)} ({dashes[c]} '-' as missing)" if dashes.get(c) else name_shown(c) for c in columns]


def name_shown(column) -> str:
    """A column's name in a list of names: quoted where it would not read back as itself (a space at
    either end, as "Umsatz (€) " has; a comma or semicolon, which the list separates names with)."""
    name = str(column)
    return repr(name) if not name or name != name.strip() or "," in name or ";" in name else name


def _merges(data: Splits) -> dict[str, str]:
    """preprocess.target_classes as "label (rows)" -> the class it was read as."""
    return {f"{label} ({m['rows']})": m["as"] for label, m in data.preprocessing["merged_classes"].items()}


PARAM_LIMIT = 6000   # characters of an MLflow param


def _json_fit(items: list | dict, limit: int = PARAM_LIMIT) -> str:
    """JSON of as many of the items (a list, or a dict's entries in order) as fit in `limit`
    characters, with the rest counted in a last entry: "... and N more" (a dict's maps to the sum
    of the rest's values when they are numbers, e.g. their share of the classes, else "")."""
    entries = list(items.items()) if isinstance(items, dict) else list(items)

    def text(keep: int) -> str:
        rest = entries[keep:]
        if isinstance(items, dict):
            kept = dict(entries[:keep])
            if rest:
                values = [v for _, v in rest]
                numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
                kept[f"... and {len(rest)} more"] = round(sum(values), 6) if numeric else ""
            return json.dumps(kept)
        return json.dumps(entries[:keep] + ([f"... and {len(rest)} more"] if rest else []))

    low, high = 0, len(entries)   # the most entries that fit: lengths grow with `keep`
    if len(text(high)) <= limit:
        return text(high)
    while low < high - 1:
        mid = (low + high) // 2
        low, high = (mid, high) if len(text(mid)) <= limit else (low, mid)
    return text(low)


def _largest_first(balance: dict) -> dict:
    """Class shares, the largest first when there are too many to show them all."""
    return dict(sorted(balance.items(), key=lambda kv: -kv[1])) if len(balance) > CONSOLE_ITEMS else balance


CONSOLE_ITEMS = 10   # names listed in a console line before "and N more"


def _some(names: list, limit: int = CONSOLE_ITEMS) -> str:
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f", and {len(names) - limit} more" if len(names) > limit else "")


def share(x: float) -> str:
    """A class's share as a percentage: "<1%" for a class that is there but under half a percent."""
    return "<1%" if 0 < x < 0.005 else f"{x:.0%}"


def _parsed_and_kept(parsed: list, dropped: dict) -> list:
    """The columns read as numbers from text that were then kept: an id of numbers behind a footer's
    'Summe' is said dropped, not also read."""
    return [c for c in parsed if c not in dropped]


TEXT_GAPS = ' (a "(missing)" category)'


def data_line(data: Splits) -> str:
    """One console line on a table's preprocessing (long lists cut to their first few names)."""
    r = data.preprocessing
    left_out = f" ({r['rows_left_out']} training rows left out by train_size)" if r.get("rows_left_out") else ""
    parts = [f"rows {r['rows_in']} -> {r['rows_out']}{left_out}", f"columns {r['columns_in']} -> {r['columns_out']}"]
    encoded = {"onehot": "one-hot", "ordinal": "ordinal codes"}.get(r.get("categorical"), "encoded")
    # a text column's gaps are no median: said (table_features.MISSING_CATEGORY), else read as one
    text = set(r.get("encoded_columns") or [])
    for key, words in (("imputed_columns", "imputed"), ("encoded_columns", encoded),
                       ("dropped_columns", "dropped")):
        if r.get(key):
            gaps = {c: TEXT_GAPS for c in text} if key == "imputed_columns" else {}
            parts.append(f"{words}: {_some([name_shown(c) + gaps.get(c, '') for c in r[key]])}")
    if r.get("marked_missing"):
        parts.append("marked missing: " + _some([f"{name_shown(c)} ({n})" for c, n in r["marked_missing"].items()]))
    if auto := column_warnings.worth_saying(r.get("auto_dropped_columns", {})):
        parts.append("dropped as carrying no signal: " + _some([f"{name_shown(c)} ({why})" for c, why in auto.items()]))
    if parsed := _parsed_and_kept(r.get("parsed_numeric_columns", []), r.get("auto_dropped_columns", {})):
        parts.append(f"numbers read from text: {_some(_with_dashes(parsed, r.get('dashes_as_missing', {})))}")
    if r.get("merged_classes"):
        parts.append("target labels read as another class: " + _some([f"{k} -> {v}" for k, v in _merges(data).items()]))
    if r.get("target_scale"):
        parts.append("target standardized (mean {:.4g}, std {:.4g})".format(*r["target_scale"]))
    if data.class_names:
        balance = _largest_first(r.get("class_balance", {}))
        shown = [f"{k} {share(v)}" for k, v in balance.items()]
        parts.append(f"training classes ({len(balance)}, largest first): {_some(shown)}" if len(balance) > CONSOLE_ITEMS
                     else "training classes: " + ", ".join(shown))   # the training split's shares
    if data.class_weight is not None:
        names = data.class_names or [str(i) for i in range(len(data.class_weight))]
        parts.append("class weights: " + _some([f"{k} {float(w):.3g}" for k, w in zip(names, data.class_weight)]))
    return "; ".join(parts) + "".join(f"\n  warning: {w}" for w in r.get("warnings", []))


def divergence_hint(ostudy, data: Splits) -> str:
    """What to change when every ended cell of a dataset diverged; "" otherwise. A regression
    target far from unit scale trained on as it is (standardize_target: false, or a built-in
    set) is the usual cause with SGD: its squared errors are in the millions from the first step."""
    from optuna.trial import TrialState

    ended = [t for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
             if not grid.retired(t)]   # taken out of the queue untrained: no ending of training
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

def train_chance_from_params(params: dict, metric: str) -> Optional[float]:
    """The constant prediction's `metric` on the training split; None for parents logged before it
    (RMSE: the root of its MSE, for parents logged before RMSE was)."""
    try:
        value = float(logged_value(params, rt.TRAIN_CHANCE_PREFIX, metric))
    except (ValueError, TypeError):
        return None
    return None if math.isnan(value) else value


def chance_from_params(params: dict, task: str, metric: str) -> Optional[float]:
    """What a constant prediction scores in `metric`, from the dataset parent's params: its
    chance_test_<metric>, or for a parent written before those its primary's chance_test_metric
    when that primary is `metric` (RMSE: the root of the MSE's, for parents logged before RMSE
    was); None when not logged."""
    value = params.get(rt.CHANCE_PREFIX + metric)
    if value is None and metric in DERIVED and (source := chance_from_params(params, task, DERIVED[metric][0])) is not None:
        return DERIVED[metric][1](source)
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


def _loads(params: dict, key: str, default):
    """A JSON param, or `default` when absent or unreadable (a run logged before _json_fit, whose
    long list MLflow cut off mid-way)."""
    try:
        value = json.loads(params.get(key) or "null")
    except ValueError:
        return default
    return default if value is None else value


def _kept(items: list) -> list:
    """A _json_fit list without its last "... and N more" entry."""
    return [x for x in items if not (isinstance(x, str) and x.startswith("... and "))]


def _count(items: list) -> int:
    """How many items a _json_fit list stood for: those kept and the N of "... and N more"."""
    cut = [int(x.split()[2]) for x in items if isinstance(x, str) and x.startswith("... and ")]
    return len(_kept(items)) + sum(cut)


def data_warnings(params: dict) -> list[str]:
    """What reading the table warned about (tables.py), from the dataset parent's params."""
    return [str(w) for w in _loads(params, "data_warnings", [])]


def leaky_columns_from_params(params: dict) -> list[str]:
    """leaky_columns, from the dataset parent's params."""
    return [str(c) for c in _kept(_loads(params, rt.STUDY_LEAKY_COLUMNS, []))]


def far_targets_from_params(params: dict) -> tuple[list[float], str]:
    """far_targets, from the dataset parent's params (far_record)."""
    return far_record(_loads(params, rt.STUDY_FAR_TARGETS, []))


def data_paragraph(params: dict) -> str:
    """What preprocessing did to a table, in words, from its dataset parent run's params."""
    if "data_rows_in" not in params:
        return ""

    def names(key: str) -> str:
        return ", ".join(map(name_shown, _loads(params, key, []))) or "none"

    def pairs(items: dict, value=str) -> str:   # {name: value} as "name (value)"; a cut list's last entry as it is
        return ", ".join(f"{name_shown(c)} ({value(v)})" if not c.startswith("... and ") else c for c, v in items.items())

    text = (f"{params['data_rows_in']} rows read, {params['data_rows_out']} used"
            f" ({params.get('data_rows_without_target', 0)} without a target, "
            f"{params.get('data_rows_dropped_for_missing', 0)} dropped for missing values"
            + (f", {params['data_rows_left_out']} training rows left out by train_size" if params.get("data_rows_left_out")
               else "") + "); "
            f"{params['data_columns_in']} feature columns in, {params['data_columns_out']} out. ")
    dropped = _loads(params, "data_dropped_columns", [])
    if dropped:
        text += f"Dropped as the study file lists: {names('data_dropped_columns')}. "
    text += (f"Imputed (numbers by the training median, with missing-indicator columns; text and categories "
             "with their gaps a category of their own, '(missing)'): "
             f"{names('data_imputed_columns')}. Encoded (one-hot, or ordinal): {names('data_encoded_columns')}.")
    if _loads(params, "data_marked_missing", {}):
        text += " Values treated as missing: " + pairs(_loads(params, "data_marked_missing", {})) + "."
    if auto := column_warnings.worth_saying(_loads(params, "data_auto_dropped_columns", {})):   # as data_line
        text += " Dropped as carrying no signal: " + pairs(auto) + "."
    merged = _loads(params, "data_merged_classes", {})
    if merged:
        text += " Target labels read as another class (preprocess.target_classes): " + ", ".join(
            f"{k} as {v}" for k, v in merged.items()) + "."
    parsed = _parsed_and_kept(_loads(params, "data_parsed_numeric_columns", []), _loads(params, "data_auto_dropped_columns", {}))
    if parsed:
        text += (" Columns of numbers read from text (thousands separators, %, currency, or a dash for missing): "
                 + ", ".join(_with_dashes(parsed, _loads(params, "data_dashes_as_missing", {}))) + ".")
    if int(params.get("data_duplicate_rows") or 0):
        text += f" {counted(int(params['data_duplicate_rows']), 'duplicate row')} kept."
    scale = _loads(params, "data_target_scale", None)
    if scale:
        text += (f" The target was standardized for training (training mean {scale[0]:.4g}, std {scale[1]:.4g}); "
                 "every metric is in the file's units, the losses in the standardized ones.")
    balance = _loads(params, "data_class_balance", {})
    if balance:
        text += " Classes in training: " + ", ".join(f"{k} {share(v)}" for k, v in balance.items()) + "."
    weights, names_ = _loads(params, "class_weight", []), _loads(params, "class_names", [])
    if weights:
        kept_weights, kept_names = _kept(weights), _kept(names_) or [str(i) for i in range(len(_kept(weights)))]
        pairs = [f"{k} {w:.3g}" for k, w in zip(kept_names, kept_weights)]
        rest = max(_count(weights), _count(names_)) - len(pairs)
        text += " Class weights in the loss: " + ", ".join(pairs) + (f", and {rest} more" if rest > 0 else "") + "."
    return text + " Every statistic was fit on the training rows only."
