"""A study file's validation errors as one line each: the field, its value and what is allowed,
with the closest allowed name for a misspelt field and the right place for a field written in
the wrong one (study.py raises them as UsageError)."""

from __future__ import annotations

import functools
import re
from typing import Any, Optional, get_args

from pydantic import BaseModel, ValidationError

from .metric_numbers import quantity
from .study_schema import TRAINING_KEYS, DatasetSpec, StudyFile, Training, field_kinds
from .tutorial_words import TUTORIAL_FIELDS, TUTORIAL_VALUES, WEIGHT_DECAY


# The fields bounded only against typos (study_schema's MAX_*), and what their bound counts.
UNITS_PAST_A_TYPO = {"seeds": "seeds", "epochs": "epochs", "tune.trials": "trials per arm", "tune.batch": "trials at once"}


def format_validation_error(source: str, err: ValidationError, model: Optional[type] = None,
                             within: tuple = ()) -> str:
    """`within`: where in the file `model` was validated, ("datasets", 1) for a dataset's settings."""
    first = _the_branch_written(err.errors())
    if first["type"] == "extra_forbidden" and model is not None:
        loc = [p for p in first['loc'] if not str(p).startswith('function-')]
        return f"{source}: {unknown_field(model, loc, within)}"
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    # pydantic puts the union member name into the location; drop those noise parts
    loc = ".".join(p for p in loc.split(".") if p not in {"int", "float", "list[int]", "constrained-int",
                                                          "constrained-float", "list[constrained-float]"}
                   and not p.startswith(("list[", "literal[")))
    msg = first["msg"].removeprefix("Value error, ")
    if "dropout" in loc.split(".")[-2:] and first["type"] in ("less_than", "greater_than_equal"):   # .dropout or .dropout.1
        msg = "a dropout rate is the share of units dropped: from 0 up to, not including, 1"
    elif loc == "name" and first["type"] == "string_pattern_mismatch":   # it names MLflow experiments and folders
        msg = ("ASCII letters, digits, '_', '.' and '-' only, not dots alone (it names the MLflow experiment and the "
               "report's folder), e.g. churn_study_v2")
    elif first["type"] == "less_than_equal" and loc in UNITS_PAST_A_TYPO:   # only a typo gets there
        msg = f"at most {quantity(first['ctx']['le'])} {UNITS_PAST_A_TYPO[loc]}"
    elif first["type"] == "too_short" and loc == "train_sizes":
        msg = "list one size or more, or leave train_sizes out"
    elif first["type"] == "list_type" and isinstance(first.get("input"), (str, int, float)) \
            and not isinstance(first.get("input"), bool):   # drop_columns: id, hidden: 64
        msg = f"a list, e.g. [{first['input']}]"
    elif first["type"] in ("model_type", "dict_type") and (first.get("input") is None or isinstance(first["input"], (str, int, float))):
        msg = mapping_expected(loc, first["input"])   # optimizer: adam; `optimizer:` left empty (null)
    elif (first["type"] == "missing" or first.get("input") is None) and re.fullmatch(r"datasets\.\d+\.name", loc):   # `- name:` too
        msg = "every dataset entry needs its name: - name: digits (`python -m pipeline datasets` lists them)"
    elif plain := _said_plainly(loc, first):
        msg = plain
    elif first["type"] == "literal_error" and isinstance(first.get("input"), str):   # metric: balanced_acc
        import difflib

        allowed = [str(x) for x in first.get("ctx", {}).get("expected", "").replace("'", "").replace(" or ", ", ").split(", ")]
        same = [a for a in allowed if a.lower() == first["input"].lower()]   # SGD, ReLU: the tutorials' spelling
        close = same or difflib.get_close_matches(first["input"], allowed, n=1)
        msg = TUTORIAL_VALUES.get((loc, first["input"].lower())) or (f"did you mean {close[0]!r}? " if close else "") + msg
    field = ".".join(p for p in loc.split(".") if not p.isdigit()).removeprefix("datasets.")   # a dataset's own too
    if field in FIELD_FORMS and first["type"] in GENERIC_TYPES:   # pydantic names one way it tried
        forms = f"allowed: {FIELD_FORMS[field]}"
        # train_size: 0 is below both forms: "greater than 1" (the count's bound) beside "above 0" said two things
        msg = forms if first["type"].endswith(("_parsing", "_type", "literal_error", "_from_float")) or \
            (field == "train_size" and first["type"] == "greater_than") else f"{msg}; {forms}"
    value = first.get("input")
    shown = "" if isinstance(value, dict) or value is None else f" = {shorten(value)}"
    if isinstance(value, bool):   # YAML's yes/no/on/off are booleans too: say what the file holds
        shown = f" = {str(value).lower()} (YAML reads yes, no, on and off as true or false)"
    where = f" field '{loc}'{shown}:" if loc else ""
    return f"{source}:{where} {msg}"


def _the_branch_written(errors: list) -> dict:
    """The error to say: pydantic's first, except where a list was given to a number-or-list field
    (strengths.dropout: [0.5, 1.2]): the number branch said "Input should be a valid number" of it,
    where the list branch's error names the item that is wrong."""
    first = errors[0]
    if first["type"] in ("float_type", "int_type") and isinstance(first.get("input"), list):
        return next((e for e in errors[1:] if e["loc"][:len(first["loc"]) - 1] == first["loc"][:-1]
                     and len(e["loc"]) > len(first["loc"])), first)
    return first


# What a study must have, and the words for it where pydantic says "Field required" or "Input
# should be a valid string/list" of a field left out, left empty or written as another kind
REQUIRED_EXAMPLES = {"name": "name: my-study (it names the MLflow experiment and the report's folder)",
                     "datasets": "datasets: [digits] (`python -m pipeline datasets` lists them)"}


def _said_plainly(loc: str, first: dict) -> Optional[str]:
    """A message for the mistakes whose pydantic wording names no fix, or None."""
    kind, value = first["type"], first.get("input")
    if loc in REQUIRED_EXAMPLES and (kind == "missing" or value is None):   # left out, or `name:` with nothing after it
        return f"{'missing' if kind == 'missing' else 'empty'}; a study file needs {REQUIRED_EXAMPLES[loc]}"
    if loc == "datasets" and kind == "list_type":   # {name: wine}: one entry without its '- '
        return "a list of entries, each starting '- ' (- name: wine), or of names: datasets: [wine, digits]"
    if loc == "datasets" and kind == "too_short":
        return f"lists no dataset; {REQUIRED_EXAMPLES['datasets']}"
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):   # name: 2024
        return f"YAML reads {value!r} as a number; quote it to name it so: {loc.split('.')[-1]}: '{value}'"
    if kind == "float_type" and isinstance(value, list) and loc.split(".")[-1] in ("l1", "l2"):   # l2: [1e-3, 1e-2]
        arm = "dropout_l2" if "dropout_l2" in loc else loc.split(".")[-1]
        path = f"{{{arm}: {shorten(value)}}}" if arm != "dropout_l2" else f"{{dropout_l2: {{l2: {shorten(value)}}}}}"
        return f"one strength for the arm; to train at several, list them as a path: paths: {path}"
    if value is None and kind.endswith("_type"):   # `arms:` with nothing after it: "Input should be a valid list"
        last = loc.split(".")[-1]
        return f"empty (nothing after '{last}:'); write its value, or leave {last} out for its default"
    return None


# The fields that can be written several ways, and those ways: pydantic's message names only the
# first it tried ("Input should be a valid integer" for seeds: two), so format_validation_error
# says them instead (or after a bound: "greater than 0").
FIELD_FORMS = {
    "seeds": "a number of seeds (seeds: 10), the seeds themselves (seeds: [0, 1, 7]) or adaptive seeds "
             "(seeds: {start: 5, step: 5, max: 40})",
    "rope": "a width in the metric's units, above 0 (rope: 0.01), or a share of none's mean (rope: 5%)",
    "train_size": "a number of training rows (train_size: 500) or a share of them, above 0 up to 1 (train_size: 0.25)",
    "train_sizes": "numbers of training rows, 2 or more, or shares of them, above 0 up to 1 (train_sizes: [100, 0.5, 1.0])",
    "execution.population_size": "auto, or a number of models trained together, above 0",
    "epochs": "a whole number of passes over the training data, 1 or more (epochs: 20)",
    "batch_size": "a whole number of rows per step, 1 or more (batch_size: 64)",
}
GENERIC_TYPES = {"int_parsing", "int_type", "float_parsing", "float_type", "int_from_float", "string_type",
                 "string_pattern_mismatch", "literal_error", "greater_than", "greater_than_equal", "less_than_equal", "list_type"}


def unknown_field(model: type, loc: list, within: tuple = ()) -> str:
    """A misspelt field, with the closest allowed name and every allowed one at its place."""
    import difflib

    for part in loc[:-1]:   # down to the model that holds the unknown field
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        inner = [k for a in field_kinds(field.annotation) if field
                 for k in (a, *get_args(a)) if isinstance(k, type) and issubclass(k, BaseModel)] if field else []
        model = inner[0] if inner else None
    allowed = list(model.model_fields) if model is not None else []
    if model in (StudyFile, DatasetSpec):   # training settings are taken out before validation
        allowed += [*TRAINING_KEYS, "execution"] + (["rope"] if model is DatasetSpec else [])
    where = ".".join(str(p) for p in loc)
    if str(loc[-1]) == "weight_decay":
        return f"field '{where}' is unknown ({WEIGHT_DECAY})"
    name = TUTORIAL_FIELDS.get(str(loc[-1]), str(loc[-1]))   # learning_rate: said where lr is
    close = difflib.get_close_matches(name, allowed, n=1)
    # a field written in the wrong place (missing_values outside preprocess, dropout outside
    # strengths): its place is the fix, before any look-alike here ('dropout' is not 'root')
    full = [*within, *loc]
    in_dataset = bool(full) and full[0] == "datasets"
    homes = sorted(field_homes().get(name, ()), key=lambda h: (h.startswith("datasets.") != in_dataset,   # its scope first
                                                                 h.count("."), h.split(".")[0] in ("tune", "paths"), h))
    if homes:
        index = next((str(p) for p in full if isinstance(p, int)), None)
        home = homes[0].replace("datasets.<n>", f"datasets.{index}") if index else homes[0]
        return f"field '{where}' is unknown here; it belongs at {home!r}"
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"field '{where}' is unknown{hint}; allowed: {', '.join(sorted(set(allowed)))}"


# a setting written as one value where it is a block of fields: what that block looks like
MAPPING_EXAMPLES = {"model": "{hidden: [64, 64], activation: relu}", "optimizer": "{name: adam, lr: 0.001}", "strengths": "{dropout: 0.3, l2: 0.001}",
                    "dropout_l2": "{dropout: 0.2, l2: 0.001}",
                    "early_stopping": "{patience: 5}", "execution": "{engine: population}",
                    "tune": "{trials: 20, seeds: [1000]}", "seeds": "{start: 5, step: 5, max: 40}"}


def mapping_expected(loc: str, value: Any) -> str:
    """A block of fields written as one value ("optimizer: adam"): what it looks like."""
    last = loc.split(".")[-1]
    if value is None:   # `model:` with nothing under it (the block's lines not indented, or left out)
        return f"empty; write its block of fields, e.g. {last}: {MAPPING_EXAMPLES.get(last, '{<field>: <value>}')}, or leave {last} out"
    if last == "optimizer":
        return f"a block of fields: optimizer: {{name: {value}, lr: <its learning rate>}}"
    return f"a block of fields, e.g. {last}: {MAPPING_EXAMPLES.get(last, '{<field>: <value>}')}"


@functools.lru_cache(maxsize=1)
def field_homes() -> dict[str, set[str]]:
    """Every field name of a study file -> the dotted places it is allowed at ("strengths.dropout",
    "datasets.<n>.preprocess.missing_values"); training settings at the top level and in a
    dataset entry alike."""
    homes: dict[str, set[str]] = {}

    def walk(model: type, prefix: str, depth: int = 0) -> None:
        for name, field in model.model_fields.items():
            homes.setdefault(name, set()).add(prefix + name)
            inner = [k for a in field_kinds(field.annotation) for k in (a, *get_args(a))
                     if isinstance(k, type) and issubclass(k, BaseModel)]
            if inner and depth < 3:
                walk(inner[0], f"{prefix}{name}.<n>." if name == "datasets" else f"{prefix}{name}.", depth + 1)

    walk(StudyFile, "")
    walk(Training, "")
    walk(Training, "datasets.<n>.")
    return homes


def shorten(value: Any, limit: int = 80) -> str:
    """A value for a one-line error: its repr, cut to `limit` characters."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."
