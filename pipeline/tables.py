"""Tables: a user's CSV or Parquet file read faithfully, the way a practitioner would prepare it
with scikit-learn, everything fit on the training split only.

    read        the file (CSV in any encoding, or Parquet); columns to drop; values that mean
                "missing" per column (Pima's zeros in Glucose or BMI); rows without a target
    target      task auto (a non-numeric or small-integer target is a class), labels encoded
                with their names kept
    features    a ColumnTransformer fit on the training rows: numeric columns imputed by the
                median with missing-indicator columns, categorical ones imputed by the most
                frequent value and one-hot encoded (categories unseen in training ignored)

What was done is returned as a record (rows and columns in and out, encoded and imputed columns,
class balance) that the dataset's MLflow parent run and the report show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .errors import UsageError

# `spec` below is a study.DatasetSpec, left unannotated: study.py imports this module
# (for its registry), so importing study here, even for type checking, would make a cycle.


MAX_CLASSES_FOR_AUTO = 20   # an integer target with at most this many values is a class label


def _where(spec) -> str:
    return f"dataset {spec.display}"


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def read(spec) -> tuple[pd.DataFrame, pd.Series, dict]:
    """The feature columns, the target and the reading record; every problem a one-line UsageError."""
    path = Path(spec.path)
    if not path.is_file():
        raise UsageError(f"{_where(spec)}: field 'path' = {spec.path!r}: file does not exist")
    frame = _read_file(spec, path)
    if spec.target not in frame.columns:
        raise UsageError(f"{_where(spec)}: field 'target' = {spec.target!r}: no such column; columns are "
                         + _short(", ".join(map(str, frame.columns)), 200))
    prep = spec.preprocess
    unknown = [c for c in (*prep.drop_columns, *prep.missing_values) if c not in frame.columns]
    if unknown:
        raise UsageError(f"{_where(spec)}: field 'preprocess' names column {unknown[0]!r}, which {spec.path} "
                         "does not have")
    record = {"rows_in": len(frame), "columns_in": len(frame.columns) - 1, "dropped_columns": list(prep.drop_columns)}
    frame = frame.drop(columns=list(prep.drop_columns))
    for column, markers in prep.missing_values.items():
        frame[column] = frame[column].mask(frame[column].isin(markers))
    record["marked_missing"] = {c: int(frame[c].isna().sum()) for c in prep.missing_values}
    _refuse_infinite(spec, frame)
    y = frame.pop(spec.target)
    missing_target = y.isna()
    if missing_target.any():
        if prep.missing == "refuse":
            raise UsageError(f"{_where(spec)}: target column {spec.target!r} has {int(missing_target.sum())} missing "
                             "value(s); preprocess.missing: refuse allows none (impute or drop drops those rows)")
        frame, y = frame[~missing_target], y[~missing_target]
    record["rows_without_target"] = int(missing_target.sum())
    if frame.shape[1] == 0:
        raise UsageError(f"{_where(spec)}: {spec.path} has no feature columns besides {spec.target!r}")
    return frame.reset_index(drop=True), y.reset_index(drop=True), record


def _read_file(spec, path: Path) -> pd.DataFrame:
    kind = "Parquet" if path.suffix.lower() in (".parquet", ".pq") else "CSV"
    try:
        if kind == "Parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, encoding=spec.encoding or "utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{_where(spec)}: field 'path' = {spec.path!r}: not {spec.encoding or 'utf-8'} text "
                         f"(byte {e.start}); set encoding: (e.g. latin-1 or cp1252) in the dataset entry") from None
    except LookupError:
        raise UsageError(f"{_where(spec)}: field 'encoding' = {spec.encoding!r}: unknown encoding; e.g. utf-8, "
                         "latin-1, cp1252") from None
    except Exception as e:  # pandas and pyarrow raise many parser errors; all mean the same to the user
        raise UsageError(f"{_where(spec)}: field 'path' = {spec.path!r}: not a readable {kind} file "
                         f"({type(e).__name__})") from None


def _refuse_infinite(spec, frame: pd.DataFrame) -> None:
    numeric = frame.select_dtypes(include="number")
    bad = [c for c in numeric.columns if np.isinf(numeric[c].to_numpy(dtype=float, na_value=np.nan)).any()]
    if bad:
        count = int(np.isinf(numeric[bad[0]].to_numpy(dtype=float, na_value=np.nan)).sum())
        raise UsageError(f"{_where(spec)}: column {bad[0]!r} has {count} infinite value(s); only finite numbers "
                         "or missing values are allowed")


# --- the target ----------------------------------------------------------------------------------

def task_of(y: pd.Series, given: Optional[str]) -> str:
    """auto: a non-numeric target, or an integer one with few values, is a class label."""
    if given in ("classification", "regression"):
        return given
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.to_numpy(dtype=float)
    is_integer = bool(np.all(np.mod(values, 1) == 0))
    return "classification" if is_integer and y.nunique() <= MAX_CLASSES_FOR_AUTO else "regression"


def encode_target(spec, y: pd.Series, task: str) -> tuple[np.ndarray, list[str]]:
    """Classification: labels 0..C-1 in sorted order of the classes, with their names.
    Regression: the numbers (a non-numeric target is refused)."""
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y):
            raise UsageError(f"{_where(spec)}: target column {spec.target!r} is not numeric ({_short(y.iloc[0])}), "
                             "so it cannot be a regression target; use task: classification or auto")
        return y.to_numpy(dtype=np.float64), []
    from sklearn.preprocessing import LabelEncoder

    encoder = LabelEncoder()
    codes = encoder.fit_transform(y.astype(str) if not pd.api.types.is_numeric_dtype(y) else y)
    if len(encoder.classes_) < 2:
        raise UsageError(f"{_where(spec)}: the target has a single class; classification needs at least 2")
    return codes.astype(np.int64), [str(c) for c in encoder.classes_]


# --- the features --------------------------------------------------------------------------------

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
    categorical = [c for c in train.columns if not pd.api.types.is_numeric_dtype(train[c]) or
                   pd.api.types.is_bool_dtype(train[c])]
    numeric = [c for c in train.columns if c not in categorical]
    missing = [c for c in train.columns if any(frame[c].isna().any() for frame in splits)]
    if missing and prep.missing == "refuse":
        raise UsageError(f"{_where(spec)}: column {missing[0]!r} has missing values; preprocess.missing: refuse "
                         "allows none (impute, the default, or drop)")
    kept = [np.flatnonzero(~f.isna().any(axis=1).to_numpy()) if prep.missing == "drop" else np.arange(len(f))
            for f in splits]
    dropped = sum(len(f) for f in splits) - sum(len(k) for k in kept)
    splits = [f.iloc[k] for f, k in zip(splits, kept)]
    if any(len(f) == 0 for f in splits):
        raise UsageError(f"{_where(spec)}: preprocess.missing: drop leaves a split without rows; impute instead")
    encoder = (OneHotEncoder(handle_unknown="ignore", sparse_output=False) if prep.categorical == "onehot" else
               OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))
    transformer = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), numeric),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent", keep_empty_features=True), encoder),
         categorical),
    ], verbose_feature_names_out=False)
    # text for every categorical value (a column mixing 1 and "x" encodes as text), missing kept missing
    as_text = [f.astype({c: "object" for c in categorical}).apply(
        lambda col: col.map(lambda v: v if pd.isna(v) else str(v)) if col.name in categorical else col) for f in splits]
    arrays = [transformer.fit_transform(as_text[0])] + [transformer.transform(f) for f in as_text[1:]]
    record = {"columns_out": int(arrays[0].shape[1]), "numeric_columns": numeric, "encoded_columns": categorical,
              "imputed_columns": missing if prep.missing == "impute" else [],
              "missing_indicators": [str(n).removeprefix("missingindicator_")
                                     for n in transformer.get_feature_names_out() if str(n).startswith("missingindicator_")],
              "rows_dropped_for_missing": int(dropped)}
    return [np.asarray(a, dtype=np.float64) for a in arrays], kept, record
