"""What a study's identity (identity.py) records about a table file, and why: a study's identity must
not change when a later reading rule is added, or every study started before it would start afresh,
including those whose table the rule reads just as before. So the identity records a later rule only
for the tables that rule reads otherwise than before: points as thousands (dot_thousands), number
marks (number_marks), and the rest (later_rules: "target_dashes", "id_names", "totals_row",
"target_none", "empty_rows", "nearly_unique", "zero_codes", "trailing_separators", "header_rows", "title", "units_row", "padded_missing"; for a Parquet file those that can read it
otherwise, and "durations", its columns of durations read as seconds). The scans below answer that for one file, cached by (path, size, modification time,
encoding): every study start asks, so each looks cheaply first (the header, the file's end, a
regular expression, Parquet metadata) and reads the file whole only where the rule may apply.
Reading the file, and the cached scans that reading shares with the identity (dot_thousands_in,
number_marks_in, zero_codes_in, none_rows_in, target_text_in), is table_files.py's; the footer's scan
(totals_label_in) table_footers.py's."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .column_checks import (ID_NAMED, MIN_ROWS_TO_JUDGE, NEARLY_UNIQUE_SHARE, NEARLY_UNIQUE_WORDS, newly_id_named,
                            no_signal, unique_whole_numbers)
from .table_files import (TEXT_MISSING, as_pandas_reads, csv_version, dot_thousands_in, file_stamp, header_name,
                          header_repeats, is_parquet, none_rows_in, number_marks_in, padded_missing_in, trailing_separator,
                          read_csv_rows, target_text_in, zero_codes_in)
from .table_layout import csv_delimiter, csv_layout, open_text
from .table_parquet import (categories_as_values, nested_kept, parquet_kinds_in, parquet_schema_in, parquet_zero_codes_in,
                            read_parquet_rows)
from .table_footers import drop_footer, notes_in, totals_label_in
from .table_measures import units_row_in
from .written_numbers import DASHES, NUMBER_SHARE, as_number, file_commas, is_text, read_numbers, sign_labels

# `spec` below is a study_schema.DatasetSpec, left unannotated (see tables.py).


def dot_thousands(spec) -> dict[str, str]:
    """{column: an example} of a CSV's columns whose points group thousands (60.900 in a file that
    writes decimal commas: written_numbers.dot_thousands_columns); {} for Parquet, comma-separated
    files and files that cannot be read (reading them says why). Part of the study's identity
    when not empty (a table read so before this rule is another study)."""
    version = csv_version(spec)
    return dict(dot_thousands_in(*version)) if version else {}


def number_marks(spec) -> dict[str, dict[str, str]]:
    """{mark: {column: an example}} of a CSV's columns with values written with a mark that only
    some exports use (written_numbers.APOSTROPHES, TRAILING_MINUS: 58'924.68, 6.376,29-), which read_file reads as
    numbers; {} for Parquet and files that cannot be read (reading them says why). Part of the
    study's identity when not empty: a table read before this rule (such a column was text, and
    dropped as id-like) is another study."""
    version = csv_version(spec)
    return {mark: dict(columns) for mark, columns in number_marks_in(*version)} if version else {}


def none_labels_in(path: str, size: int, mtime_ns: int, encoding: str, target: str) -> bool:
    """Whether a CSV's target is words, "None" among them (severity None, Mild, Severe; a masonry
    type): then "None" is a class, where pandas reads it as missing (and the rows were left out).
    Part of the identity when true ("target_none"): such a table read before is another study."""
    return bool(none_rows_in(path, size, mtime_ns, encoding, target))


def later_rules(spec) -> dict:
    """Identity entries for rules that read some tables otherwise than before, for those tables
    alone (the rest keep their identity, as with dot_thousands): a lone dash in the target, now
    missing where it was a class ("target_dashes"), and columns only the wider id rule names like ids
    (CustomerNo, order_number) and that are dropped for it: unique integers, not the row numbers
    ("id_names"), the labels of an export's footer rows dropped (drop_footer; "totals_row") and its notes
    ("footer_notes"), and
    the empty rows (a spacer line) left out where they changed how the columns are judged ("empty_rows"),
    text columns dropped as nearly unique ("nearly_unique") and codes with leading zeros kept as text
    ("zero_codes"); for a Parquet file, those of them that can read it otherwise (_parquet_rules_in).
    {} for workbooks and files that cannot be read."""
    prep = spec.preprocess
    chosen = (tuple(prep.drop_columns), tuple(prep.keep_columns))
    if spec.target and (version := _parquet_version(spec)):
        return dict(_parquet_rules_in(*version, spec.target, *chosen))
    version = csv_version(spec)
    if not (version and spec.target):
        return {}
    ids, empty = _id_names_in(*version, spec.target, *chosen), _empty_rows_in(*version, spec.target, *chosen)
    nearly = _nearly_unique_in(*version, spec.target, *chosen)
    dropped = {str(name).strip() for name in prep.drop_columns}
    codes = sorted(c for c, _ in zero_codes_in(*version, spec.target) if c.strip() not in dropped)
    padded = sorted(c for c in padded_missing_in(*version, spec.target) if c.strip() not in dropped)
    return {**dict(_later_rules_in(*version, spec.target)), **({"id_names": list(ids)} if ids else {}),
            **({"empty_rows": empty} if empty else {}), **({"nearly_unique": list(nearly)} if nearly else {}),
            **({"zero_codes": codes} if codes else {}), **({"padded_missing": padded} if padded else {})}


def _parquet_version(spec) -> Optional[tuple[str, int, int, str]]:
    """csv_version's (path, size, modification time, "") for a Parquet file; None for any other."""
    return file_stamp(Path(spec.path), "") if is_parquet(spec.path) else None


@functools.lru_cache(maxsize=16)   # identity asks for it per plan
def _parquet_rules_in(path: str, size: int, mtime_ns: int, encoding: str, target: str, drop: tuple, keep: tuple) -> tuple:
    """later_rules' entries for a Parquet file: the rules that read a Parquet table otherwise than before
    they were written, judged as for a CSV. A lone dash in a target of words ("target_dashes"), the
    wider id names ("id_names"), rows missing in every column ("empty_rows"), nearly unique text
    ("nearly_unique") and text codes with leading zeros ("zero_codes") apply to any table; the
    others cannot change a Parquet file's reading (its footer rows, "None" and number marks are a
    CSV reader's). Each rule reads the
    file only where its metadata (column names and types, null counts) leaves it possible, so a
    table none applies to keeps its identity for the cost of reading its metadata."""
    columns, text, _ = parquet_schema_in(path, size, mtime_ns)
    dropped = {str(c).strip() for c in drop}
    if nested_kept(path, size, mtime_ns, drop):
        return ()   # a column of lists, the target's too: reading refuses it in one line (its rows do not hash)
    name = header_name(columns, target)
    out = []
    if name is not None and name in text and _dashes_newly_missing(_parquet_labels(path, name)):
        out.append(("target_dashes", True))
    if ids := _id_names_in(path, size, mtime_ns, encoding, target, drop, keep):
        out.append(("id_names", list(ids)))
    if empty := _empty_rows_in(path, size, mtime_ns, encoding, target, drop, keep):
        out.append(("empty_rows", empty))
    if nearly := _nearly_unique_in(path, size, mtime_ns, encoding, target, drop, keep):
        out.append(("nearly_unique", list(nearly)))
    if codes := sorted(c for c, _ in parquet_zero_codes_in(path, size, mtime_ns, target) if c.strip() not in dropped):
        out.append(("zero_codes", codes))
    if durations := sorted(c for c in parquet_kinds_in(path, size, mtime_ns)[1] if c.strip() not in dropped):
        out.append(("durations", durations))   # read as seconds, where they were categories
    return tuple(out)


def _parquet_labels(path: str, name: str) -> pd.Series:
    """A Parquet file's target column as tables.read sees its labels: text, stripped, without the
    missing ones ("" and "?" too, TEXT_MISSING)."""
    column = categories_as_values(pd.read_parquet(path, columns=[name]))[name]
    labels = column.dropna().astype(str).str.strip()
    return labels[~labels.isin(TEXT_MISSING)]


def _dashes_newly_missing(labels: pd.Series) -> bool:
    """Whether a target's labels (stripped, missing ones left out) have a lone dash that is missing now
    and was a class before (tables._strip_text): not among numbers (read as missing before too,
    as_number) nor beside signs ("+", "++": a test's result)."""
    if labels is None or not labels.isin(DASHES).any():
        return False
    return as_number(labels[~labels.isin(DASHES)], NUMBER_SHARE) is None and not sign_labels(labels)


@functools.lru_cache(maxsize=16)   # identity asks for it per plan (train_sizes: several)
def _later_rules_in(path: str, size: int, mtime_ns: int, encoding: str, target: str) -> tuple:
    columns, raw = target_text_in(path, size, mtime_ns, encoding, target)
    units = units_row_in(path, size, mtime_ns, encoding, target)   # as the study names it: read_csv_rows' reading shared
    target = header_name(columns, target) or target   # as the header writes it (spaces around it)
    labels = None if raw is None else as_pandas_reads(raw).str.strip()
    out = list(_footer_in(path, size, mtime_ns, encoding, target))
    if none_labels_in(path, size, mtime_ns, encoding, target):
        out.append(("target_none", True))
    if units:   # a row of data before: the target's unit a class
        out.append(("units_row", [list(pair) for pair in units]))
    # a numeric target read its dashes as missing before too (as_number): not another reading; read as
    # numbers only where it has a dash (200,000 labels: 2 s at every study start)
    if _dashes_newly_missing(labels):
        out.append(("target_dashes", True))
    return tuple(out) + _reshaped_in(path, size, mtime_ns, encoding, columns)


def _reshaped_in(path: str, size: int, mtime_ns: int, encoding: str, columns: tuple) -> tuple:
    """The entries of two rules that changed which values are a CSV's rows: a separator at the end of
    every row, which pandas read shifted (the first field the index, each column its neighbour's
    values: "trailing_separators"), and lines repeating the header, which were rows of data
    ("header_rows": how many), and a title above the header, which was read as the header ("title": its
    lines; such a file read as before only where that made a header of one name over rows of names).
    The file is read whole only where a line other than the header writes the header's names."""
    try:
        sep, _, title = csv_layout(Path(path), encoding)
        trailing = trailing_separator(Path(path), encoding)
        with open_text(path, encoding) as f:
            text = f.read().lstrip("\ufeff")
    except Exception:   # reading the table raises the one-line error
        return ()
    out = ((("trailing_separators", True),) if trailing else ()) + ((("title", list(title)),) if title else ())
    quoted = r'[ \t"]*'   # the header's names again, spaces and quotes aside: the whole line, not its first name
    line = quoted + (quoted + re.escape(sep) + quoted).join(re.escape(str(c).strip()) for c in columns) + quoted
    if not columns or len(re.findall(rf"(?m)^{line}{re.escape(sep)}?\s*$", text)) < 2:
        return out
    try:
        frame = read_csv_rows(Path(path), encoding, None)
    except Exception:   # reading the table raises the one-line error
        return out
    repeats = len(header_repeats(frame[frame.notna().any(axis=1)]))
    return out + ((("header_rows", repeats),) if repeats else ())


@functools.lru_cache(maxsize=16)   # identity asks for it per plan
def _footer_in(path: str, size: int, mtime_ns: int, encoding: str, target: str) -> tuple:
    """later_rules' entries of the footer drop_footer drops from this CSV: its notes ("footer_notes",
    their text) and the labels of its summary rows ("totals_row": "Total", or "Total, Average" for
    two). The file is read whole only when its last lines may be notes or write a summary word."""
    version = (path, size, mtime_ns, encoding)
    if not (notes_in(*version) or totals_label_in(*version)):
        return ()
    try:
        frame = read_csv_rows(Path(path), encoding, target)
    except Exception:   # reading the table raises the one-line error
        return ()
    _, rows, notes = drop_footer(version, frame, frame.attrs["sep"])
    label = ", ".join(str(row["label"]) for row in rows)
    return ((("footer_notes", notes),) if notes else ()) + ((("totals_row", label),) if label else ())


@functools.lru_cache(maxsize=16)   # identity asks for it per plan
def _id_names_in(path: str, size: int, mtime_ns: int, encoding: str, target: str, drop: tuple, keep: tuple) -> tuple:
    """The columns only the wider id names drop (no_signal's ID_NAMED: unique whole numbers, not the row
    numbers, which the narrower rule dropped too) and the study neither drops nor keeps.
    The file is read whole only where the header has such a name. Read as tables.read reads it but
    for other columns' numbers and the missing_values markers (a column that marks some of its values
    missing is no id, so at worst it is named here when it is kept)."""
    columns = _header_in(path, size, mtime_ns, encoding, target)
    target = header_name(columns, target)
    chosen = {str(name).strip() for name in drop + keep}
    named = [c for c in columns if c != target and newly_id_named(str(c)) and str(c).strip() not in chosen]
    if not named:
        return ()
    if (tidied := _tidied(path, size, mtime_ns, encoding, target, drop)) is None:
        return ()
    frame = tidied[0]
    commas, dots = file_commas(frame, frame.attrs["sep"]), frame.attrs["dot_thousands"]
    for c in named:
        if is_text(frame[c]) and (numbers := read_numbers(frame[c], NUMBER_SHARE, commas,
                                                          dot_groups=c in dots)[0]) is not None:
            frame[c] = numbers
    distinct = frame.drop_duplicates()
    return tuple(sorted(str(c) for c in named if no_signal(c, distinct[c]) == ID_NAMED))


def _header_in(path: str, size: int, mtime_ns: int, encoding: str, target: str) -> tuple:
    """A CSV's header or a Parquet file's columns, read without the rows."""
    if is_parquet(path):
        return parquet_schema_in(path, size, mtime_ns)[0]
    return target_text_in(path, size, mtime_ns, encoding, target)[0]


def _tidied(path: str, size: int, mtime_ns: int, encoding: str, target: str, drop: tuple,
            strip: bool = True) -> Optional[tuple]:
    """(the CSV or Parquet file as tables.read has it when it judges its columns, but for the numbers
    in text and the missing_values markers: its empty rows, footer rows and the study's drop_columns
    left out, text stripped ("" and "?" missing; not when `strip` is false: a row at a time, the slow
    part); how many empty rows it had); None for a file that cannot be read."""
    parquet = is_parquet(path)
    try:
        frame = read_parquet_rows(Path(path), target) if parquet else read_csv_rows(Path(path), encoding, target)
    except Exception:   # reading the table raises the one-line error
        return None
    filled = frame.notna().any(axis=1)
    frame = frame[filled]
    if not parquet:
        frame = drop_footer((path, size, mtime_ns, encoding), frame, frame.attrs["sep"])[0]
    frame = frame.drop(columns=[c for c in frame.columns if str(c).strip() in {str(name).strip() for name in drop}])
    for c in frame.columns if strip else []:
        if is_text(frame[c]):
            frame[c] = frame[c].map(lambda v: v.strip() if isinstance(v, str) else v).replace(TEXT_MISSING, np.nan)
    return frame, int((~filled).sum())


@functools.lru_cache(maxsize=16)   # identity asks for it per plan
def _nearly_unique_in(path: str, size: int, mtime_ns: int, encoding: str, target: str, drop: tuple, keep: tuple) -> tuple:
    """The text columns dropped as nearly unique (column_checks.NEARLY_UNIQUE_SHARE distinct, not every
    row: an email column with a few repeats), which were kept as categories before that rule, and
    the study neither drops nor keeps. Judged as _id_names_in judges ids: a candidate's numbers read.
    The text is stripped only where the file as read has a column near that share (0.9; stripping
    merges few values): the common case costs one reading, not a strip of every text value; a Parquet
    file is read only where it has a column of text besides the target and the kept ones."""
    def candidates(distinct: pd.DataFrame, share: float) -> list:   # of the file's distinct rows
        chosen = {str(name).strip() for name in keep} | {str(header_name(distinct.columns, target))}
        counts, present = distinct.nunique(), distinct.notna().sum()
        return [c for c in distinct.columns if str(c).strip() not in chosen and is_text(distinct[c])
                and present[c] >= MIN_ROWS_TO_JUDGE and counts[c] >= share * present[c]]

    if is_parquet(path):
        columns, text, _ = parquet_schema_in(path, size, mtime_ns)
        chosen = {str(name).strip() for name in drop + keep} | {str(header_name(columns, target))}
        if not any(str(c).strip() not in chosen for c in text):
            return ()
    raw = _tidied(path, size, mtime_ns, encoding, target, drop, strip=False)
    if raw is None or not candidates(raw[0].drop_duplicates(), 0.9 * NEARLY_UNIQUE_SHARE):
        return ()
    frame = _tidied(path, size, mtime_ns, encoding, target, drop)[0]
    distinct = frame.drop_duplicates()
    named = candidates(distinct, NEARLY_UNIQUE_SHARE)
    commas = file_commas(frame, frame.attrs["sep"]) if named else ""
    found = []
    for c in named:
        column = distinct[c]
        numbers = None if c in frame.attrs["zero_codes"] else \
            read_numbers(column, NUMBER_SHARE, commas, dot_groups=c in frame.attrs["dot_thousands"])[0]
        if numbers is None and (no_signal(c, column) or "").startswith(NEARLY_UNIQUE_WORDS):
            found.append(str(c))
    return tuple(sorted(found))


@functools.lru_cache(maxsize=16)   # identity asks for it per plan
def _empty_rows_in(path: str, size: int, mtime_ns: int, encoding: str, target: str, drop: tuple, keep: tuple) -> int:
    """The empty rows (only separators: an export's spacer line) of a CSV whose reading they changed,
    0 for the others. Such a row is left out now; before, it was a row without a target that made
    each column look blank somewhere, so a constant column, or one different on every row (an
    id: text, or whole numbers), was kept. Counted where some column the study neither drops nor
    keeps is such a column without them (whatever no_signal then says of it). Read whole only where
    a line is separators alone, or, in a Parquet file, where every column may be missing somewhere
    (a row missing in all of them, left out as for a CSV)."""
    if is_parquet(path):
        columns, _, blanks = parquet_schema_in(path, size, mtime_ns)
        if not columns or len(blanks) < len(columns):
            return 0
    else:
        try:
            sep = csv_delimiter(Path(path), encoding)[0]
            with open_text(path, encoding) as f:
                if not re.search(rf'(?m)^[ \t"]*{re.escape(sep)}[ \t"{re.escape(sep)}]*$', f.read()):
                    return 0
        except Exception:   # reading the table raises the one-line error
            return 0
    frame, empty = _tidied(path, size, mtime_ns, encoding, target, drop) or (None, 0)
    if not empty:
        return 0
    chosen = {str(name).strip() for name in keep} | {str(header_name(frame.columns, target))}
    commas, distinct = file_commas(frame, frame.attrs["sep"]), frame.drop_duplicates()
    for c in [c for c in distinct.columns if str(c).strip() not in chosen]:
        column = distinct[c]
        if is_text(column):
            numbers = read_numbers(column, NUMBER_SHARE, commas, dot_groups=c in frame.attrs["dot_thousands"])[0]
            column = column if numbers is None else numbers
        text_id = is_text(column) and column.notna().all() and column.is_unique
        if column.nunique(dropna=False) <= 1 or text_id or unique_whole_numbers(column):
            return empty
    return 0
