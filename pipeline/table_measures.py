"""What measurement systems and lab exports write around a table's numbers, found in its file: a row
of units under the header (units_row: kg, [mmHg], the target's [-]), which tables.read leaves out,
and whether values beyond a measurement's limit (<0.5, > 100) may be written (limits_written; their
reading is written_numbers.LIMIT's, in tables.read). The identity records both (table_identity.py,
identity.py) for the tables they read otherwise."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pandas as pd

from .column_checks import READ_AS_MISSING
from .table_files import csv_version, header_repeats, is_parquet, read_csv_rows, read_text
from .table_layout import csv_delimiter, open_text
from .written_numbers import NUMBER_SHARE, as_number, without_limits


UNIT_ROWS_CHECKED = 200   # the rows under a units row that show its columns are numbers


def units_row(frame: pd.DataFrame, sep: str) -> dict[str, str]:
    """{column: unit} where a CSV's first row is a row of units under its header ("kg", "[mmHg]", as
    measurement systems export), {} for the rest: two values or more, none of them a number, each in
    a column whose values below are numbers (the target's too; as people write them, <0.5 and a
    semicolon file's 1,3 too), every other column blank or "-" there. Read as data, each unit was a
    value read as missing and the target's a class of one row."""
    written = _units_written(frame.iloc[0]) if len(frame) >= 3 else {}
    if not written:
        return {}
    below = frame.iloc[1:UNIT_ROWS_CHECKED + 1]
    named = {str(c): c for c in frame.columns}
    commas = "decimal" if sep == ";" else ""   # a European export's (file_commas, without its evidence)

    def numbers(column: pd.Series) -> bool:
        limited = without_limits(column)[0]
        return as_number(column if limited is None else limited, NUMBER_SHARE, commas) is not None

    return written if all(numbers(below[named[c]].astype(object)) for c in written) else {}


NOT_UNITS = {"n.a", "n/a", "na", "k.a", "n.v", "unknown", "missing", "none", "null", "nan"}   # a row of these is missing values


def _units_written(row: pd.Series) -> dict[str, str]:
    """{column: unit} of a row whose values may be units (units_row: two or more, each a unit, not
    a number; blanks and "-" aside), {} for the rest (a value that is no text: a number, a list)."""
    if any(not isinstance(v, str) and not (v is None or (isinstance(v, float) and v != v)) for v in row.tolist()):
        return {}
    written = {str(c): v.strip() for c, v in row.items() if isinstance(v, str) and v.strip() not in ("", "-")}
    if len(written) < 2 or any(as_number(pd.Series([v], dtype=object), 1.0) is not None or not _unit_like(v)
                               for v in written.values()):
        return {}
    return written


def _unit_like(value: str) -> bool:
    """Whether a value of a units row can be a unit: a letter or %, ‰, ° in it, or [-] (none), and not
    a missing marker (n.a., #DIV/0!, a spreadsheet's error, --)."""
    if re.fullmatch(r"[\[(]\s*-\s*[\])]", value):
        return True
    return bool(re.search(r"[^\W\d_]|[%‰°]", value)) and not re.fullmatch(r"#[A-Z][A-Z_/0]*[!?]", value) \
        and value not in READ_AS_MISSING and value.lower().rstrip(".") not in NOT_UNITS


@functools.lru_cache(maxsize=16)   # identity asks for it per plan
def units_row_in(path: str, size: int, mtime_ns: int, encoding: str, target: str) -> tuple:
    """units_row of a CSV as pairs, judged where tables.read judges it (its rows as read_file reads
    them, number marks read, spacer lines and repeated header lines left out); read whole only
    where one of its first rows may be units. () where it cannot be read."""
    try:
        sep, skip = csv_delimiter(Path(path), encoding)
        if not any(_units_written(row) for _, row in read_text(Path(path), encoding, sep, skip, nrows=5).iterrows()):
            return ()
        frame = read_csv_rows(Path(path), encoding, target)
    except Exception:   # reading the table raises the one-line error
        return ()
    frame = frame[frame.notna().any(axis=1)]
    return tuple(units_row(frame.drop(index=header_repeats(frame)), sep).items())


def limits_written(spec) -> bool:
    """Whether a table may write a value beyond a measurement's limit (<0.5, written_numbers.LIMIT):
    a Parquet file may (its text columns are not scanned), a CSV where its text has a < or > (≤ ≥)
    before a number; False where it cannot be read (reading it says why)."""
    return _written(spec, "limits")


# A spreadsheet's error values, exported as text where a formula failed (=1/0): missing in any column
SPREADSHEET_ERRORS = frozenset(["#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
                                "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"])


def spreadsheet_errors_written(spec) -> bool:
    """Whether a table may write a spreadsheet's error value (SPREADSHEET_ERRORS), as limits_written."""
    return _written(spec, "spreadsheet_errors")


# what _written_in looks for in a CSV's text, each of at most 16 characters
WRITTEN = {"limits": r"(?:<=?|>=?|≤|≥)\s*[+-]?\.?\d|\d\s*\+",   # as LIMIT (any space) and LIMIT_AFTER
           "spreadsheet_errors": "|".join(re.escape(e) for e in sorted(SPREADSHEET_ERRORS))}


def _written(spec, kind: str) -> bool:
    if is_parquet(spec.path):
        return True
    version = csv_version(spec)
    return bool(version) and kind in _written_in(*version)


@functools.lru_cache(maxsize=16)   # identity asks for it per plan
def _written_in(path: str, size: int, mtime_ns: int, encoding: str) -> frozenset:
    """The kinds of WRITTEN a CSV's text matches somewhere: one read in chunks for them all (each read
    the whole text of a file that wrote neither), ended once every kind is found."""
    found = set()
    tail = ""   # a chunk's last characters, for a value cut between two chunks
    try:
        with open_text(path, encoding) as f:
            for chunk in iter(lambda: f.read(1 << 22), ""):
                found.update(kind for kind, pattern in WRITTEN.items() if kind not in found and re.search(pattern, tail + chunk))
                if len(found) == len(WRITTEN):
                    break
                tail = chunk[-16:]
    except Exception:   # reading the table raises the one-line error; what was found before, found
        pass
    return frozenset(found)
