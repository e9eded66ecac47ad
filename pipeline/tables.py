"""Tables: a user's CSV or Parquet file read faithfully, the way a practitioner would prepare it
with scikit-learn, everything fit on the training split only.

    read        the file (table_reading.read_file: CSV in any encoding, or Parquet); columns to drop; values that mean
                "missing" per column (Pima's zeros in Glucose or BMI); rows without a target
    tidy        what messy files need, with no option to set:
                - text values lose leading and trailing spaces (" sick" is "sick"); a text value
                  that is then empty or "?" (the UCI convention) is missing, as are pandas'
                  usual markers in a CSV ("", "NA", "N/A", "null", "NaN", ...) and a lone "-" in
                  the target (unless its labels are signs: "+", "++")
                - a text column of numbers as people write them is read as numbers (the rules
                  are written_numbers.py's): thousands separators (66,645; 2 556 with a space or thin space), a currency sign
                  ($1,200.50, 12,50 €), a percent sign (34.8% -> 34.8, the number as written),
                  accounting negatives ((1,034) -> -1034), the minus sign "−", one unit shared by
                  the column (3556 kg, 3489 m2), decimal commas (1,52) in a column with no "."
                  settled by values only a decimal explains (0,459; 1,5) or, for a column of
                  1,234-like values alone, by a semicolon-separated file (else "1,234" is 1234;
                  written_numbers.file_commas), a lone "-" as missing; not a CSV column of digit codes
                  some of which have a leading zero (ZIP 02139, 00501: categories, with a warning). When at least 90% of a feature
                  column's values are such numbers, the rest are read as missing, with a warning (under
                  that, a few repeated words among numbers are warned of with the missing_values
                  line that reads them as missing)
                - an export's footer is dropped (table_footers.drop_footer), with a warning: notes
                  (the last lines' text alone: "Exported by ...") and summaries (the last row or
                  two: "Total" in a column, sums in others; "Average", means)
                - columns that cannot carry signal are dropped (column_checks.py judges them, and
                  words the warnings below), each with its reason, judged on the
                  distinct rows (a file appended twice keeps its ids unique): constant or empty;
                  id-like (text unique on every row; integers unique on every row that are the
                  row numbers in file order or named like an id); free text (over half the values
                  distinct and three words or more a value on average); nearly unique text (95% of
                  its values distinct or more: an email column with a few repeats, an identifier,
                  not a category; preprocess.keep_columns keeps it); dates (over 20 distinct
                  dates; warned: derive features from them in the file; fewer are categories)
                - warnings, not changes: rows repeated exactly, target labels that differ only
                  by case (kept as separate classes), a categorical column that one-hot encoding
                  would make into many columns (over MAX_LEVELS, 1,000, refused unless
                  preprocess.keep_columns lists it)
    target      task auto (a non-numeric or small-integer target is a class), labels encoded
                with their names kept; once split, its training classes are warned of
                (class_checks.py: a majority or rare class under accuracy, classes of few rows, a rare
                class under balanced accuracy or macro F1 trained with the plain loss)
    features    fit on the training rows once split: table_features.py

What was done is returned as a record (rows and columns in and out, encoded, imputed, parsed and
automatically dropped columns, values read as missing for not being numbers, duplicate rows, wide
categorical columns, class balance, warnings for the user) that the dataset's MLflow parent run
and the report show.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from . import column_checks, column_warnings
from .errors import UsageError
from .column_checks import MAX_CLASSES_FOR_AUTO
from .table_files import (TEXT_MISSING, code_example, csv_version, dataset_name, header_below, header_name, header_repeats,
                          padded_markers)
from .table_reading import read_file
from .table_measures import NOT_UNITS, SPREADSHEET_ERRORS, units_row
from .table_footers import drop_footer
from .written_numbers import (DASHES, NUMBER_SHARE, as_number, file_commas, is_text, percent_mixed, read_numbers,
                              sign_labels, without_limits)
from .words import counted, plural, yaml_key

# `spec` below is a study_schema.DatasetSpec, left unannotated: study_schema.py imports this module
# (for its registry), so importing study here, even for type checking, would make a cycle.


NON_NUMBER_EXAMPLES = 3      # distinct values named in the warning of a column read as numbers


def _short(value, limit: int = 60) -> str:
    return _cut(repr(value), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


# A table read for its study's identity (read_ahead) is handed to the read that loads it next in the
# same process rather than read twice (200,000 rows: about a second each). One table at a time.
_handed_over: dict = {}


def version_of(spec) -> Optional[tuple]:
    """(the spec as JSON, the file's resolved path, size, modification time); None without a file.
    The JSON holds the fields set alone: validated again (identity._read_findings_in), a
    whole dump sets `standardize` beside `normalize`, which the study file's check refuses (every
    table with `normalize: global`, `unit` or `none` was a traceback)."""
    try:
        stat = Path(spec.path).stat()
    except OSError:
        return None
    return spec.model_dump_json(exclude_unset=True), str(Path(spec.path).resolve()), stat.st_size, stat.st_mtime_ns


def read_ahead(spec) -> tuple[pd.DataFrame, pd.Series, dict]:
    """`read`'s features, target and record, for the identity (identity._read_findings_in; not to
    be changed): kept for the `read` that loads the table next."""
    out = _read(spec)
    _handed_over.clear()
    if (version := version_of(spec)) is not None:
        _handed_over[version] = out
    return out


def _short_rows_left(short: dict, notes: int, totals: int) -> dict:
    """The file's rows with fewer fields than the header once its footer is dropped: the dropped
    notes' and then summaries' lines among its last short rows are not counted (a last line of one
    field never was: table_files._short_rows' "popped", a note's where there are notes)."""
    if not short:
        return {}
    gone = min(short["tail"], max(0, notes - short.get("popped", 0)))
    gone += min(short["tail"] - gone, totals)
    left = short["rows"] - gone
    return {**short, "rows": left, "tail": short["tail"] - gone} if left else {}


def _without_header_rows(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, int]:
    """The rows that repeat the header name for name (two exports joined with `cat`) left out, and
    how many: kept, they were data (a class named after the target, every numeric column text with
    one odd value, a table review)."""
    repeats = header_repeats(frame)
    if not len(repeats):
        return frame, 0
    return _renumbered(frame.drop(index=repeats), target), len(repeats)


def _without_units_row(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """A CSV's row of units under the header (table_measures.units_row) left out, and its units: kept,
    each was a value read as missing, the target's a class of one row."""
    units = units_row(frame, frame.attrs["sep"])
    return (_renumbered(frame.iloc[1:].copy(), target), units) if units else (frame, {})


def _renumbered(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The text columns of numbers read as numbers again, as pandas reads a column of them, once the
    rows that made them text are left out (codes with leading zeros kept text, as read_file keeps them)."""
    as_text = {*frame.attrs.get("zero_codes", {}), *frame.attrs.get("dot_thousands", {})}   # text on purpose
    for c in frame.columns:   # numbers again, as pandas reads a column of them without the header's name in it
        if c not in as_text and not pd.api.types.is_numeric_dtype(frame[c]):
            if c != target and (example := code_example(frame[c].dropna().astype(str).str.strip())):
                frame.attrs.setdefault("zero_codes", {})[c] = example   # codes (ZIP 02139), kept as read_file keeps them
                continue
            numbers = pd.to_numeric(frame[c], errors="coerce")
            if numbers.notna().sum() == frame[c].notna().sum():
                frame[c] = numbers
    return frame


def read(spec) -> tuple[pd.DataFrame, pd.Series, dict]:
    """The feature columns, the target and the reading record; every problem a one-line UsageError."""
    if _handed_over and (out := _handed_over.pop(version_of(spec), None)) is not None:
        return out
    return _read(spec)


def _read(spec) -> tuple[pd.DataFrame, pd.Series, dict]:
    path = Path(spec.path)
    prep = spec.preprocess
    _refuse_conflicting_lists(spec)
    if path.is_dir():
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: a directory, not a CSV or Parquet file")
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative paths are read from the working directory: {path.resolve()})"
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: file does not exist{where}")
    frame = _names_as_the_study_writes_them(spec, read_file(spec, path))
    sep = frame.attrs.get("sep", ",")
    # a row of separators alone (an export's spacer line) is no row: kept, it made every column look
    # blank somewhere (a constant column a yes/blank flag, an id not unique on every row)
    frame = frame[frame.notna().any(axis=1)]
    target = header_name(frame.columns, spec.target)
    frame, header_rows = _without_header_rows(frame, target)
    frame, units = _without_units_row(frame, target) if csv_version(spec) else (frame, {})
    if frame.empty:
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: the file has a header but no rows of data")
    if spec.target not in frame.columns:
        raise UsageError(f"{dataset_name(spec)}: field 'target' = {spec.target!r}: no such column{_closest(spec.target, frame)}; "
                         "columns are " + _listed_columns(frame) + header_below(spec, path))
    unknown = [c for c in (*prep.drop_columns, *prep.keep_columns, *prep.missing_values) if c not in frame.columns]
    if unknown:
        raise UsageError(f"{dataset_name(spec)}: field 'preprocess' names column {unknown[0]!r}, which {spec.path} "
                         f"does not have{_closest(unknown[0], frame)}; columns are " + _listed_columns(frame))
    record = {"rows_in": len(frame), "columns_in": len(frame.columns) - 1, "dropped_columns": list(prep.drop_columns),
              "repeated_names": frame.attrs.get("repeated_names", {}), "dot_thousands": frame.attrs.get("dot_thousands", {}),
              "short_rows": frame.attrs.get("short_rows", {}), "header_rows": header_rows, "title": frame.attrs.get("title", []),
              "units_row": units}
    marks = frame.attrs.get("number_marks", {})
    codes = frame.attrs.get("zero_codes", {})   # 02139: text, not a number
    # before drop_columns: the total word often stands in a column the user drops (a row number, a name)
    frame, record["totals_row"], record["footer_notes"] = drop_footer(csv_version(spec), frame, sep)
    record["short_rows"] = _short_rows_left(record["short_rows"], len(record["footer_notes"]), len(record["totals_row"]))
    frame.attrs = {}   # read: pandas deep-copies a frame's attrs into every column taken (2,000 columns: 2.5 s)
    frame = frame.drop(columns=list(prep.drop_columns))
    _strip_text(frame, spec.target, csv=bool(csv_version(spec)))
    _read_values(spec, frame, sep, record, marks, codes)
    record["merged_classes"] = _merge_classes(spec, frame)
    _refuse_infinite(spec, frame)
    # Which columns carry no signal is decided on the whole file, before the split (splits.py):
    # like reading "66,645" as a number it is about what a column is, not a statistic fit on rows.
    # Judged on the distinct rows: an export appended twice, ids and all, still has unique ids.
    distinct = frame.drop_duplicates()
    auto = {c: why for c in frame.columns
            if c != spec.target and c not in prep.keep_columns and (why := column_checks.no_signal(c, distinct[c]))}
    record["auto_dropped_columns"] = auto
    frame = frame.drop(columns=list(auto))
    frame, y, record["rows_without_target"] = _without_missing_target(spec, frame)
    if frame.shape[1] == 0:
        why = f" (dropped as carrying no signal: {column_warnings.listed(auto)})" if auto else ""
        raise UsageError(f"{dataset_name(spec)}: {spec.path} has no feature columns besides {spec.target!r}{why}")
    column_checks.judge(spec, frame, y, record)
    record["target_words"] = _words_among_class_numbers(spec, y)
    _refuse_many_levels(spec, record)
    record["warnings"] = column_warnings.warnings_for(spec, record, y)
    return frame.reset_index(drop=True), y.reset_index(drop=True), record


def _read_values(spec, frame: pd.DataFrame, sep: str, record: dict, marks: dict, codes: dict) -> None:
    """The user's missing markers and the numbers written as text read, in place, into `record`."""
    prep = spec.preprocess
    # the user's markers twice: before reading numbers, so that "unknown" in a column of numbers does
    # not keep it text; after, so that a marker 0 matches "0" read as a number
    record["number_markers"] = {}   # values only a marker written as text marks, as a number (identity's)
    marked = _mark_missing(frame, prep.missing_values, record["number_markers"])
    commas = file_commas(frame, sep)   # what the file's commas are, for the errors' columns and the numbers alike
    record["spreadsheet_errors"] = _without_spreadsheet_errors(frame, spec.target, commas, set(record["dot_thousands"]),
                                                               set(codes))
    record["percent_mixed"] = _percents_mixed(frame, spec.target)
    record["parsed_numeric_columns"], record["non_numbers_as_missing"], record["decimal_commas"], \
        record["dashes_as_missing"], record["limits"] = _parse_numbers(frame, spec.target, commas, set(record["dot_thousands"]),
                                                                      set(codes), prep.missing_values)
    record["zero_codes"] = {c: example for c, example in codes.items() if c in frame}
    record["number_marks"] = {mark: {c: example for c, example in columns.items() if c in frame and not is_text(frame[c])}
                              for mark, columns in marks.items()}   # said where the column is numbers
    again = _mark_missing(frame, prep.missing_values, record["number_markers"])
    record["marked_missing"] = {c: marked[c] + again[c] for c in prep.missing_values}


def _without_spreadsheet_errors(frame: pd.DataFrame, target, commas: str, dots: set, codes: set) -> dict:
    """A spreadsheet's error values (#DIV/0!, #VALUE!: table_measures.SPREADSHEET_ERRORS) marked missing
    in place, in any column, the target's too: {column: how many, a few examples, and whether the
    column read otherwise before (a category of them, or too many of them for a column of numbers,
    as _parse_numbers reads it, with them: the identity records such columns)}."""
    out = {}
    for c in frame.columns:
        if not is_text(frame[c]) or not (hit := frame[c].isin(SPREADSHEET_ERRORS)).any():
            continue
        numbers = c != target and c not in codes and column_checks.may_be_numbers(frame[c]) and \
            read_numbers(frame[c], NUMBER_SHARE, commas, dot_groups=c in dots)[0] is not None
        out[c] = {"count": int(hit.sum()), "examples": sorted(set(frame[c][hit]))[:NON_NUMBER_EXAMPLES],
                  "read_otherwise": not numbers}
        frame[c] = frame[c].mask(hit)
    return out


def _percents_mixed(frame: pd.DataFrame, target) -> dict:
    """The feature columns of numbers written with a percent sign and without (written_numbers.percent_mixed)."""
    return {c: found for c in frame.columns if c != target and is_text(frame[c]) and column_checks.may_be_numbers(frame[c])
            and (found := percent_mixed(frame[c]))}


def _without_missing_target(spec, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, int]:
    """The feature rows and the target where the target has a value, and how many rows had none
    (refused under preprocess.missing: refuse)."""
    y = frame.pop(spec.target)
    missing = y.isna()
    n = int(missing.sum())
    if n == len(y):   # before the features are judged: "no feature columns" would blame them
        raise UsageError(f"{dataset_name(spec)}: target column {spec.target!r} has no values: each of its {n} rows is "
                         "blank or a missing marker (NA, ?, ...); check that target: names the column to predict")
    if n and spec.preprocess.missing == "refuse":
        raise UsageError(f"{dataset_name(spec)}: target column {spec.target!r} has {n} missing {plural(n, 'value')}; "
                         "preprocess.missing: refuse allows none (impute or drop drops those rows)")
    return (frame[~missing], y[~missing], n) if n else (frame, y, 0)


def _listed_columns(frame: pd.DataFrame, limit: int = 200) -> str:
    """The header's names, each quoted (a name's own spaces and commas show), cut near `limit` characters."""
    return _cut(", ".join(repr(str(c)) for c in frame.columns), limit)


def _names_as_the_study_writes_them(spec, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a header name that differs from the study file's only by spaces around it
    ("Umsatz (€) " in an export's header, `target: Umsatz (€)` in the study) renamed as the study
    writes it; an exact name, or one matched by several columns, is left as it is."""
    names = {spec.target, *spec.preprocess.drop_columns, *spec.preprocess.keep_columns, *spec.preprocess.missing_values}
    renamed = {}
    for name in names - set(map(str, frame.columns)):
        if (found := header_name(frame.columns, name)) is not None and found not in renamed:
            renamed[found] = name
    if not renamed:
        return frame
    frame = frame.rename(columns=renamed)
    # what reading the file found per column, under the names the columns now have ("ZIP " -> "ZIP":
    # its codes kept as text, its points read as thousands)
    attrs = frame.attrs
    for key in ("zero_codes", "dot_thousands"):
        if attrs.get(key):
            attrs[key] = {renamed.get(c, c): v for c, v in attrs[key].items()}
    if attrs.get("number_marks"):
        attrs["number_marks"] = {m: {renamed.get(c, c): v for c, v in cols.items()} for m, cols in attrs["number_marks"].items()}
    return frame


def _closest(name: str, frame_or_names) -> str:
    """" (did you mean 'Churn'?)" for a column name (or a label of `names`) given in another case
    or with a slip; "" otherwise."""
    import difflib

    names = [str(c) for c in (frame_or_names.columns if hasattr(frame_or_names, "columns") else frame_or_names)]
    same = [c for c in names if c.lower() == str(name).lower()]
    near = same or difflib.get_close_matches(str(name), names, n=1, cutoff=0.8)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _refuse_conflicting_lists(spec) -> None:
    prep = spec.preprocess
    both = [c for c in prep.drop_columns if c in prep.keep_columns]
    if both:
        raise UsageError(f"{dataset_name(spec)}: column {both[0]!r} is in both preprocess.drop_columns and "
                         "preprocess.keep_columns; list it in one of them")
    marked = [c for c in prep.drop_columns if c in prep.missing_values]
    if marked:
        raise UsageError(f"{dataset_name(spec)}: column {marked[0]!r} is in both preprocess.drop_columns and "
                         "preprocess.missing_values: a dropped column has no values to mark; list it in one of them")
    for field, listed in (("drop_columns", prep.drop_columns), ("keep_columns", prep.keep_columns)):
        if spec.target in listed:   # keep_columns too: the target is always kept, so listing it means a mix-up
            raise UsageError(f"{dataset_name(spec)}: field 'preprocess.{field}' lists the target column {spec.target!r}; "
                             "it lists feature columns only")


def _strip_text(frame: pd.DataFrame, target=None, csv: bool = False) -> None:
    """Every text value without surrounding spaces (features and target: " sick" is "sick"); one
    that is then empty or "?" is missing, and so is a lone dash in the target (as among numbers),
    unless its labels are signs ("+", "++": a test read "-"), and in a CSV a missing marker padded
    with spaces ("n/a ", table_files.padded_markers). Non-text values in a mixed column stay as they are."""
    for c in frame.columns:
        if is_text(frame[c]):
            padded = padded_markers(frame[c], c == target) if csv else False
            stripped = frame[c].map(lambda v: v.strip() if isinstance(v, str) else v)
            dashes = DASHES if c == target and not sign_labels(stripped) else []
            frame[c] = stripped.mask(stripped.isin(TEXT_MISSING + dashes) | padded)


def _merge_classes(spec, frame: pd.DataFrame) -> dict[str, dict]:
    """preprocess.target_classes applied to the target: each listed label read as the class it
    names ({label: {"as": class, "rows": its rows}}). The target becomes text (labels as written)."""
    merges = spec.preprocess.target_classes
    if not merges:
        return {}
    y = frame[spec.target]
    if task_of(y.dropna(), spec.task) == "regression":   # auto too: 200 prices would become 200 classes
        raise UsageError(f"{dataset_name(spec)}: field 'preprocess.target_classes' merges classes; this dataset's task is "
                         "regression: remove it, or set task: classification")
    chained = [c for c in merges.values() if c in merges and merges[c] != c]
    if chained:
        raise UsageError(f"{dataset_name(spec)}: field 'preprocess.target_classes' reads labels as {chained[0]!r}, which it also "
                         f"reads as {merges[chained[0]]!r}: name the final class for each label")
    written = y.map(written_label, na_action="ignore")
    labels = sorted(set(written.dropna()), key=str)
    unknown = [k for k in merges if k not in labels]
    if unknown:
        raise UsageError(f"{dataset_name(spec)}: field 'preprocess.target_classes' names label {unknown[0]!r}, which target "
                         f"column {spec.target!r} does not have{_closest(unknown[0], labels)}; its labels are "
                         + ", ".join(map(repr, labels[:20])) + (f", and {len(labels) - 20} more" if len(labels) > 20 else ""))
    merged = written.replace(merges)
    if merged.nunique() < 2:
        raise UsageError(f"{dataset_name(spec)}: field 'preprocess.target_classes' leaves a single class "
                         f"({merged.dropna().iloc[0]!r}); classification needs at least 2")
    frame[spec.target] = merged
    return {k: {"as": c, "rows": int((written == k).sum())} for k, c in merges.items() if k != c}


def written_label(v) -> str:
    """A target value as its label is written: text as it is, 3.0 read from "3" as 3, 0.25 as 0.25
    (every digit kept: two classes must not become one)."""
    if isinstance(v, str):
        return v
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return repr(float(v)) if isinstance(v, (float, np.floating)) else str(v)


def _mark_missing(frame: pd.DataFrame, markers: dict, by_number: dict) -> dict[str, int]:
    """The user's missing_values marked missing; how many values each column's markers matched. A
    marker written as text that is a number ("0", "-999") matches that number in a column of
    numbers too (not of booleans): it matched nothing there (Glucose: ["0"], warned of as "matched
    no value"); `by_number` counts, per column, the values only that reading matched."""
    matched = {}
    for column, values in markers.items():
        hit = frame[column].isin(values)
        column_of = frame[column]
        if pd.api.types.is_numeric_dtype(column_of) and not pd.api.types.is_bool_dtype(column_of) and \
                (numbers := _marker_numbers(values)):
            if (newly := column_of.isin(numbers) & ~hit).any():
                by_number[column] = by_number.get(column, 0) + int(newly.sum())
            hit |= newly
        matched[column] = int(hit.sum())
        frame[column] = frame[column].mask(hit)
    return matched


def _marks_a_limit(markers: list, limits: pd.Series) -> bool:
    """Whether a column's missing_values markers name the number of one of its limits (0.5 for <0.5)."""
    numbers = {*_marker_numbers(markers), *(v for v in markers if isinstance(v, (int, float)))}
    return bool(numbers) and bool(pd.to_numeric(limits.str.strip(), errors="coerce").isin(numbers).any())


def _marker_numbers(markers: list) -> list[float]:
    """The numbers a column's missing_values markers write as text ("0", "-999": number_marker)."""
    return [float(v) for v in markers if number_marker(v)]


def number_marker(value) -> bool:
    """Whether a missing_values marker is a number written as text ("0", "-999", "1e9"): it matches
    that number in a column of numbers (_mark_missing; identity records such markers)."""
    return isinstance(value, str) and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", value) is not None


def _parse_numbers(frame: pd.DataFrame, target, commas: str = "", dots: frozenset = frozenset(),
                   codes: frozenset = frozenset(), markers: Optional[dict] = None) -> tuple[list[str], dict, dict, dict, dict]:
    """Text columns of numbers as people write them become floats: their names; for each column
    whose few values that are not numbers became missing, how many and which (a few examples); the
    decimal-comma readings; how many dashes ("-", "--") each read as missing; and the values beyond
    a measurement's limit (<0.5) each read as its limit (how many, a few examples), unless `markers`
    (the study's missing_values) mark a limit's number missing in its column. `commas`: the file's
    (written_numbers.file_commas). `dots`: the
    columns whose points group thousands (table_identity.dot_thousands); `codes`: digit codes with leading
    zeros and months (08.2023), left text (table_files.code_example)."""
    parsed, non_numbers, decimals, dashes, limits = [], {}, {}, {}, {}
    markers = markers or {}
    for c in frame.columns:
        if not is_text(frame[c]) or c in codes or not column_checks.may_be_numbers(frame[c]):   # words: no number to read
            continue
        limited, marked = without_limits(frame[c]) if c != target else (None, None)
        if limited is not None and _marks_a_limit(markers.get(c, []), limited[marked.index]):
            limited = None   # the study marks <0.5's number missing: read as before, missing
        numbers, note = read_numbers(frame[c] if limited is None else limited, NUMBER_SHARE if c != target else 1.0,
                                     commas, dot_groups=c in dots)
        if numbers is None and limited is not None:   # 1 year beside 2 years: no longer one unit throughout
            limited = None
            numbers, note = read_numbers(frame[c], NUMBER_SHARE, commas, dot_groups=c in dots)
        if numbers is None:
            continue
        if limited is not None and numbers[marked.index].notna().any():
            limits[c] = {"count": len(marked), "examples": [str(v) for v in marked.unique()[:NON_NUMBER_EXAMPLES]]}
        if note:
            decimals[c] = note
        if frame[c].isin(DASHES).any():   # "-" for missing, said with its count (not as a number format)
            dashes[c] = int(frame[c].isin(DASHES).sum())
        rest = frame[c][numbers.isna() & frame[c].notna() & ~frame[c].isin(DASHES)]
        if len(rest):
            non_numbers[c] = {"count": len(rest), "distinct": int(rest.nunique()),
                              "examples": [str(v) for v in rest.unique()[:NON_NUMBER_EXAMPLES]]}
        frame[c] = numbers
        parsed.append(c)
    return parsed, non_numbers, decimals, dashes, limits


def _refuse_infinite(spec, frame: pd.DataFrame) -> None:
    numeric = frame.select_dtypes(include="number")
    bad = [c for c in numeric.columns if np.isinf(numeric[c].to_numpy(dtype=float, na_value=np.nan)).any()]
    if bad:
        count = int(np.isinf(numeric[bad[0]].to_numpy(dtype=float, na_value=np.nan)).sum())
        raise UsageError(f"{dataset_name(spec)}: column {bad[0]!r} has {counted(count, 'infinite value')}; only finite numbers "
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
    Regression: the numbers (a non-numeric target is refused). A target of numbers but for a
    few text values ("call agent" among prices) is refused unless the file says what it is:
    read as text it would be hundreds of classes, and read as numbers the text would be lost."""
    numbers, others = _numbers_but_for(y)
    if others and (task == "regression" or (spec.task != "classification" and task_of(numbers.dropna(), None) == "regression")):
        listed = ", ".join(map(repr, others[:NON_NUMBER_EXAMPLES])) + (", ..." if len(others) > NON_NUMBER_EXAMPLES else "")
        count = int(y.astype(str).isin(others).sum())
        raise UsageError(f"{dataset_name(spec)}: target column {spec.target!r} holds numbers but for {counted(count, 'value')} ({listed}); "
                         f"list them under preprocess.missing_values ({{{yaml_key(spec.target)}: [{listed}]}}) to leave those rows "
                         "out, or set task: classification to make every value a class")
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y):
            text = next((v for v in y.dropna() if as_number(pd.Series([v]), 1.0) is None), y.iloc[0])
            raise UsageError(f"{dataset_name(spec)}: target column {spec.target!r} is not numeric ({_short(text)}), "
                             "so it cannot be a regression target; use task: classification or auto")
        values = y.to_numpy(dtype=np.float64)
        if len(values) and np.nanmin(values) == np.nanmax(values):   # every model would score perfectly
            raise UsageError(f"{dataset_name(spec)}: target column {spec.target!r} holds one value ({values[0]:g}) in every "
                             "row: there is nothing to predict; check the column (or the rows the file keeps)")
        return values, []
    from sklearn.preprocessing import LabelEncoder

    encoder = LabelEncoder()
    if pd.api.types.is_bool_dtype(y):   # pandas' nullable boolean: False and True, not 0.0 and 1.0
        y = y.astype(bool)
    codes = encoder.fit_transform(y.astype(str) if not pd.api.types.is_numeric_dtype(y) else y)
    if len(encoder.classes_) < 2:
        raise UsageError(f"{dataset_name(spec)}: field 'target' = {spec.target!r}: the column holds one value "
                         f"({_short(str(encoder.classes_[0]))}) in every row: there is nothing to predict (classification "
                         "needs at least 2 classes); check the column (or the rows the file keeps)")
    return codes.astype(np.int64), [written_label(c) for c in encoder.classes_]   # 1, not 1.0 (a blank made them floats)


def _numbers_but_for(y: pd.Series) -> tuple[Optional[pd.Series], list[str]]:
    """A text target that reads as numbers but for a few values (at least NUMBER_SHARE of them
    are numbers): the numbers and the distinct other values; (None, []) otherwise."""
    if pd.api.types.is_numeric_dtype(y) or not is_text(y):
        return None, []
    numbers = as_number(y, NUMBER_SHARE)
    if numbers is None:
        return None, []
    return numbers, [str(v) for v in y[numbers.isna() & y.notna() & ~y.isin(DASHES)].unique()]   # a dash is missing


# Words that say a value is missing (table_measures' for a row of units, and more): among a class
# target's numbers they are likely no class; another word among them ("other" beside 1 and 2) may be
MISSING_WORDS = frozenset({*NOT_UNITS, "pending", "tbd", "unk", "not known", "not available", "not recorded"})


def _words_among_class_numbers(spec, y: pd.Series) -> dict:
    """A target of a few whole numbers but for a few words that say missing (0/1 beside "unknown"),
    which task auto reads as classes, each word a class of its own: {"words": the words, commonest
    first, "count": their rows}; {} otherwise or under task: classification (every value a class, as
    the user said). A regression target of such numbers is refused instead (encode_target); this one
    trained silently."""
    if spec.task == "classification":
        return {}
    numbers, others = _numbers_but_for(y)
    others = [w for w in others if w.strip().lower().rstrip(".") in MISSING_WORDS]
    if not others or task_of(numbers.dropna(), None) != "classification":
        return {}
    words = y.astype(str)[y.astype(str).isin(others)].value_counts()
    return {"words": [str(w) for w in words.index], "count": int(words.sum())}


MAX_LEVELS = 1000   # one-hot columns a single categorical column may make unasked (a 12,000-employer column
#                     is a model 12,000 inputs wide, most values seen a few times in training)


def _refuse_many_levels(spec, record: dict) -> None:
    """A categorical column of more than MAX_LEVELS values under one-hot encoding, which the study does
    not keep by name, is refused in one line naming it, its values and the ways out."""
    many = {c: n for c, n in record["wide_categorical_columns"].items()
            if n > MAX_LEVELS and c not in spec.preprocess.keep_columns}
    if not many:
        return
    one = len(many) == 1
    named = ", ".join(f"{c!r} ({n:,} values)" for c, n in sorted(many.items(), key=lambda cn: -cn[1])[:3])
    it = "it" if one else "them"
    numbers = [c for c in many if c in record.get("markers_among_numbers", {}) or c in record.get("partly_numbers", {})]
    read = (f" (or, if its words mean missing, read {numbers[0]!r} as numbers under preprocess.missing_values)"
            if numbers else "")
    raise UsageError(f"{dataset_name(spec)}: one-hot encoding makes a feature column of each distinct value, at most "
                     f"{MAX_LEVELS:,} for one column unasked; {'column' if one else 'columns'} {named} "
                     f"{'has' if one else 'have'} more: list {it} under preprocess.drop_columns, set "
                     f"preprocess.categorical: ordinal, or list {it} under preprocess.keep_columns to encode {it} "
                     f"anyway{read}")
