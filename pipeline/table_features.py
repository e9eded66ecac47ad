"""A table's features fit on the training rows and applied to every split (a ColumnTransformer,
as a practitioner would with scikit-learn): numeric columns imputed by the median with
missing-indicator columns, categorical ones with their gaps a category of their own
(MISSING_CATEGORY: a blank smoker flag is information, and "None" among words is read as missing)
and one-hot encoded (categories unseen in training ignored); and the table's record completed with
what it became once split (rows out, class balance, the warnings on its width and classes).
tables.py reads and tidies the file before."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import pandas as pd

from . import class_checks, column_checks, column_warnings
from .column_checks import MAX_CLASSES_FOR_AUTO
from .errors import UsageError
from .table_files import dataset_name
from .task import metric_for
from .words import counted

# `spec` below is a study_schema.DatasetSpec, left unannotated as in tables.py (study_schema imports
# the datasets' registry, which imports the table modules: a cycle).


# A categorical column's gaps, as a category of their own. Imputing the most frequent value instead
# made a yes-or-blank flag constant (every blank a yes) and dropped the "None" of None/Mild/Severe,
# which pandas reads as missing. A later reading rule: identity's "text_missing" (_gapped_categories).
MISSING_CATEGORY = "(missing)"


def fit_features(spec, splits: list[pd.DataFrame]) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    """Fit the preprocessing on the training rows (splits[0]) and apply it to every split: the
    float arrays, the positions of the rows kept in each split (all but those dropped for
    missing values under preprocess.missing: drop), and the record of what was done."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    prep = spec.preprocess
    train = splits[0]
    categorical = [c for c in train.columns if column_checks.is_categorical(train[c])]
    numeric = [c for c in train.columns if c not in categorical]
    missing = [c for c in train.columns if any(frame[c].isna().any() for frame in splits)]
    if missing and prep.missing == "refuse":
        raise UsageError(f"{dataset_name(spec)}: column {missing[0]!r} has missing values; preprocess.missing: refuse "
                         "allows none (impute, the default, or drop)")
    kept = [np.flatnonzero(~f.isna().any(axis=1).to_numpy()) if prep.missing == "drop" else np.arange(len(f))
            for f in splits]
    dropped = sum(len(f) for f in splits) - sum(len(k) for k in kept)
    rows = sum(len(f) for f in splits)
    splits = [f.iloc[k] for f, k in zip(splits, kept)]
    if any(len(f) == 0 for f in splits):
        if dropped:
            raise UsageError(f"{dataset_name(spec)}: preprocess.missing: drop leaves a split without rows; impute instead")
        raise UsageError(f"{dataset_name(spec)}: {spec.path} has {rows} row(s) with a target: too few to split into "
                         "training, validation and test rows (each split needs one; learning needs far more)")
    _refuse_beyond_float32(spec, splits, numeric)
    # one-hot columns sparse until their size is known: dense, 10,000 cities of 200,000 rows are 8 GB
    encoder = (OneHotEncoder(handle_unknown="ignore", sparse_output=True) if prep.categorical == "onehot" else
               OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))
    transformer = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), numeric),
        ("categorical", make_pipeline(SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY,
                                                     keep_empty_features=True), encoder),
         categorical),
    ], verbose_feature_names_out=False, sparse_threshold=1.0)
    # text for every categorical value (a column mixing 1 and "x" encodes as text), missing kept missing
    as_text = [f.astype({c: "object" for c in categorical}) for f in splits]
    for f in as_text:   # the categorical columns alone (an apply over every column rebuilt 2,000 numeric ones)
        for c in categorical:
            f[c] = f[c].map(lambda v: v if pd.isna(v) else str(v))
    arrays = [transformer.fit_transform(as_text[0])] + [transformer.transform(f) for f in as_text[1:]]
    if prep.categorical == "onehot" and categorical:
        _refuse_too_wide(spec, categorical, transformer.named_transformers_["categorical"][-1].categories_,
                         int(arrays[0].shape[1]), sum(a.shape[0] for a in arrays))
    record = {"columns_out": int(arrays[0].shape[1]), "numeric_columns": numeric, "encoded_columns": categorical,
              "imputed_columns": missing if prep.missing == "impute" else [],
              "missing_indicators": _indicated(transformer, numeric),
              "rows_dropped_for_missing": int(dropped)}
    # float32, as training reads them (splits.py): each split dense once, not as float64 and again as float32
    return [a.astype(np.float32).toarray() if hasattr(a, "toarray") else np.asarray(a, dtype=np.float32)
            for a in arrays], kept, record


def _indicated(transformer, numeric: list) -> list:
    """The numeric columns given a missing-value indicator. From the imputer itself, not the output's
    names: a one-hot column's name beside a column of that name (Sex's Sex_male beside a Sex_male
    column, a table review) made sklearn's get_feature_names_out raise (names not unique)."""
    indicator = getattr(transformer.named_transformers_["numeric"], "indicator_", None)
    return [numeric[i] for i in indicator.features_] if indicator is not None else []


def _refuse_beyond_float32(spec, frames: list[pd.DataFrame], numeric: list) -> None:
    """A numeric feature kept for training with a value past the float32 range training reads
    (1e39): infinite there, and the error named no column ("the training features have 1
    non-finite value"). Judged on the features kept: a column dropped as constant or id-like was
    never a problem, and a regression target is standardized in float64 first."""
    limit = float(np.finfo(np.float32).max)
    for c in numeric:
        written = np.concatenate([f[c].to_numpy(dtype=float, na_value=np.nan) for f in frames])
        if (beyond := written[np.abs(written) > limit]).size:
            raise UsageError(f"{dataset_name(spec)}: column {c!r} has {counted(beyond.size, 'value')} beyond the float32 range "
                             f"training uses (±3.4e38): {beyond[0]:g}; rescale it (a log, other units) or drop it "
                             "(preprocess.drop_columns)")


def _refuse_too_wide(spec, categorical: list, categories: list, width: int, rows: int) -> None:
    """A one-hot encoding whose dense float32 features would not fit in the memory free now is
    refused in one line naming its widest columns (else numpy's MemoryError, deep in scikit-learn)."""
    need, free = 4 * width * rows, free_memory()
    if free is None or need <= free:
        return
    widest = sorted(zip(categorical, map(len, categories)), key=lambda cn: -cn[1])[:3]
    named = ", ".join(f"{c!r} ({n:,} values)" for c, n in widest)
    raise UsageError(f"{dataset_name(spec)}: one-hot encoding makes {width:,} feature columns of {rows:,} rows, "
                     f"{need / 2**30:.1f} GiB as float32, more than the {free / 2**30:.1f} GiB of memory free; widest: "
                     f"{named}: list them under preprocess.drop_columns, or set preprocess.categorical: ordinal")


def free_memory() -> Optional[int]:
    """Bytes of memory available now (Linux's MemAvailable, else the machine's physical memory);
    None where neither can be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def outcome_record(spec, splits, record: dict) -> dict:
    """The table's preprocessing record with what it became once split (a splits.Splits): rows
    out, class balance, and the warnings on the width and the classes."""
    out = {**record, "rows_out": sum(splits.sizes().values()), "splits": splits.sizes()}
    if spec.train_size:   # the training rows beyond train_size: read and kept, but not trained on
        out["rows_left_out"] = max(0, out["rows_in"] - record.get("rows_without_target", 0) - len(record.get("totals_row") or [])
                                   - len(record.get("footer_notes") or [])
                                   - record.get("rows_dropped_for_missing", 0) - out["rows_out"])
    if splits.target_scale is not None:
        out["target_scale"] = [round(v, 6) for v in splits.target_scale]
    wide = column_warnings.width_warning(int(splits.x_train.shape[1]), len(splits.x_train))
    if wide:
        out["warnings"] = [*out.get("warnings", []), *wide]
    if splits.task == "classification":
        counts = np.bincount(splits.y_train.numpy(), minlength=splits.n_classes)
        names = splits.class_names or [str(i) for i in range(splits.n_classes)]
        out["class_balance"] = {name: round(float(c) / max(counts.sum(), 1), 4) for name, c in zip(names, counts)}
        metric = metric_for(splits.task, spec.metric)
        accuracy = metric.name == "accuracy"
        warned = class_checks.class_warnings(names, counts, accuracy, splits.class_weight is not None, spec.stratify)
        if spec.task != "classification":   # auto read whole numbers as classes
            warned += class_checks.count_target_warning(names, spec.target)
        else:   # the user's task: said when the labels look like a quantity
            warned += class_checks.quantity_target_warning(names, spec.target, int(counts.sum()), MAX_CLASSES_FOR_AUTO)
        test = np.bincount(splits.y_test.numpy(), minlength=splits.n_classes)
        warned += class_checks.one_test_class_warning(names, test, spec.stratify)
        if metric.name in ("balanced_accuracy", "macro_f1"):
            merged = frozenset(m["as"] for m in record.get("merged_classes", {}).values())
            warned += class_checks.few_rows_warning(names, counts, test, metric.label, merged,
                                                     weighted=splits.class_weight is not None,
                                                     over_test_classes=metric.name == "balanced_accuracy")
            if splits.class_weight is None:
                warned += class_checks.rare_unweighted_warning(names, counts, metric.label)
        if warned:
            out["warnings"] = [*out.get("warnings", []), *warned]
    return out
