"""A CSV's rows read, before anything is prepared (tables.py), where table_layout.py found its
separator and title: in any encoding, repeated column names said, rows shorter than the header
counted, a trailing separator and R's row names taken as pandas should, and the marks that change
how a column reads that only some exports write and the table's identity records (table_identity.py,
for identity.py): points as thousands in a file of decimal commas (dot_thousands), Swiss apostrophes
and SAP's trailing minus (number_marks), codes with leading zeros (zero_codes). The cached scans here
(dot_thousands_in, zero_codes_in, ...) serve both reading and the identity; also what every reader
of a table's file shares: its version stamp, how errors name it, the header's column a study's name
means. Which kind of file it is, and the one-line errors: table_reading.py; Parquet: table_parquet.py."""

from __future__ import annotations

import functools
import itertools
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .words import counted
from .column_checks import READ_AS_MISSING
from .table_layout import TITLE_LINES, csv_delimiter, csv_layout, open_text, row_names, title_as_read
from .written_numbers import (DASHES, MARKS_ANYWHERE, NUMBER_SHARE, as_number, dot_thousands_columns, marked_columns,
                              unmarked)

# `spec` below is a study_schema.DatasetSpec, left unannotated (see tables.py).


# Missing: pandas' CSV defaults ("", "NA", "N/A", "NULL", "NaN", "None", "n/a", "null", ...) plus
# these; a lone "-" only in a column of numbers (written_numbers.DASHES).
CSV_MISSING = ["?"]
TEXT_MISSING = ["", *CSV_MISSING]   # a text value that is this once stripped (Parquet, " ? " in a CSV)
PARQUET = (".parquet", ".pq")
WORKBOOKS = (".xlsx", ".xls", ".xlsm", ".xlsb", ".ods")   # refused with the advice to save a CSV


def header_name(columns, name: str) -> Optional[str]:
    """The header's column that the study's `name` means: that name, or the one column that
    differs from it only by spaces around it ("Umsatz (€) " for `target: Umsatz (€)`); None
    where there is none (or several)."""
    if name in columns:
        return name
    found = [c for c in columns if str(c).strip() == str(name).strip()]
    return found[0] if len(found) == 1 else None


def dataset_name(spec) -> str:
    """How an error names the table: "dataset <its label>"."""
    return f"dataset {spec.display}"


CACHED_READ_BYTES = 64 << 20   # files up to this size are read once per command (read_csv_rows): held in memory


def read_csv_rows(path: Path, encoding: str, target) -> pd.DataFrame:
    """A CSV's rows as read_file reads them (identity's later_rules reads some files so too: read
    once per file version and target, each caller given its own copy to change)."""
    version = _file_version(path, encoding)
    if version is None or version[1] > CACHED_READ_BYTES:
        return _csv_rows(path, encoding, target)
    return _csv_rows_of(*version, target).copy()   # attrs too (pandas deep-copies them)


@functools.lru_cache(maxsize=2)
def _csv_rows_of(path: str, size: int, mtime_ns: int, encoding: str, target) -> pd.DataFrame:
    return _csv_rows(Path(path), encoding, target)


def _csv_rows(path: Path, encoding: str, target) -> pd.DataFrame:
    """read_csv_rows' reading."""
    # skipinitialspace: "39, ?, 77516" (UCI's adult) reads the "?" as missing and the numbers as numbers
    sep, skip, title = csv_layout(path, encoding)
    frame = _read_csv(path, encoding, sep, skip)
    frame.attrs["title"] = list(title_as_read(path, encoding, sep, skip, title))   # lines above the header, skipped
    frame.attrs["repeated_names"] = _repeated_names(path, encoding, sep, list(frame.columns), skip)
    version = _file_version(path, encoding)
    # a short row ends in blanks: only then is the file read again for its fields
    frame.attrs["short_rows"] = _short_rows_of(path, encoding, version, sep, skip, frame.shape[1]) \
        if len(frame) and frame.iloc[:, -1].isna().any() else {}
    frame.attrs["sep"] = sep   # a semicolon: a European export, whose commas are decimal ones
    frame.attrs["dot_thousands"] = dots = dict(dot_thousands_in(*version)) if version else {}
    if dots:   # 60.900 read as 60.9: the file's text, read as numbers like any text column (_parse_numbers)
        text = read_text(path, encoding, sep, skip)
        for c in dots:
            frame[c] = text[c]
    rows = none_rows_in(*version, target) if version and target is not None else ()
    if rows:   # "None" a class of a target of words, not pandas' missing marker
        name = header_name(frame.columns, target)
        frame[name] = frame[name].mask(np.isin(np.arange(len(frame)), rows), "None")
    frame.attrs["number_marks"] = marks = \
        {mark: dict(columns) for mark, columns in number_marks_in(*version)} if version else {}
    _unmark(frame, marks)
    frame.attrs["zero_codes"] = codes = dict(zero_codes_in(*version, target)) if version and target is not None else {}
    if codes:   # 02139 read as 2139: the file's text, kept as text (tables.read does not read it as numbers)
        text = read_text(path, encoding, sep, skip)
        for c in codes:
            frame[c] = text[c]
    return frame


ZERO_CODE = r"0\d+"   # a digit string with a leading zero (ZIP 02139, 00501; not 0 or 0.5)
# a month and its year (08.2023; 08,2023 where commas are decimal), which pandas reads as 8.2023:
# kept as text, as 08/2023 always was, where some month writes its leading zero (no number does)
MONTH_YEAR = r"(?:0?[1-9]|1[0-2])[.,](?:19|20)\d\d"


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def zero_codes_in(path: str, size: int, mtime_ns: int, encoding: str, target: str) -> tuple:
    """((column, an example), ...) of a CSV's feature columns of digit strings some of which have a
    leading zero (ZIP codes 02139, 00501): codes, which pandas reads as numbers without their zeros;
    and of months written 08.2023 (code_example). Read whole only where a field starts with 0 and a
    digit. Part of the identity when not empty."""
    try:
        sep, skip = csv_delimiter(Path(path), encoding)
        with open_text(path, encoding) as f:
            head = f.read()
        if not _may_have_zero_codes(head, sep):
            return ()
        text = read_text(Path(path), encoding, sep, skip)
    except Exception:   # not text, not CSV: reading the table raises the one-line error
        return ()
    return code_columns(text, target)


# pandas' missing markers as a padded export writes them ("n/a ", "NA  "): read_csv matches its markers
# as written and skipinitialspace takes the leading spaces only, so they were text, a category "n/a"
# once stripped (a column of numbers read as categories for it). Missing now, in a CSV; not the
# target's "None" (a class of a target of words, none_rows_in), nor "" and "?" (missing before).
PADDED_MARKERS = READ_AS_MISSING - {"", "?"}


def padded_markers(column: pd.Series, target: bool = False) -> pd.Series:
    """Where `column` (text) writes a missing marker with spaces around it ("n/a ")."""
    text = column.astype(str)
    stripped = text.str.strip()
    return column.notna() & (text != stripped) & stripped.isin(PADDED_MARKERS - ({"None"} if target else set()))


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def padded_missing_in(path: str, size: int, mtime_ns: int, encoding: str, target: str) -> tuple:
    """The columns of a CSV with a missing marker padded with spaces (padded_markers), read as missing
    since that rule: part of the identity when not empty. Read whole only where a field ends in a space
    or a quote opens on one."""
    try:
        sep, skip = csv_delimiter(Path(path), encoding)
        with open_text(path, encoding) as f:
            if not _may_be_padded(f.read(), sep):
                return ()
        text = read_text(Path(path), encoding, sep, skip)
    except Exception:   # not text, not CSV: reading the table raises the one-line error
        return ()
    name = header_name(text.columns, target)
    return tuple(str(c) for c in text.columns if padded_markers(text[c].dropna(), c == name).any())


def _may_be_padded(text: str, sep: str) -> bool:
    """Whether some field of a CSV's text ends in a space or tab, or is quoted after one: a cheap look
    before reading it whole (each pattern starts with its literal: one alternation took 0.4 s of a 42 MB
    file, these 0.15)."""
    after = "[" + re.escape(sep) + '"\r\n]'
    return bool(re.search(" " + after, text) or re.search("\t" + after, text) or '" ' in text
                or '"\t' in text or text.endswith((" ", "\t")))


def code_columns(text: pd.DataFrame, target: str) -> tuple:
    """((column, an example), ...) of the columns of text other than the target that are codes
    (code_example); months also where lines repeating the header write the column's name among
    them (tables.read leaves those lines out, then keeps the months as text; digit codes were kept
    so before months were, and their tables keep their identity)."""
    name = header_name(text.columns, target)
    out = []
    for c in text.columns:
        values = text[c].dropna().astype(str).str.strip()
        example = code_example(values) if c != name else None
        if c != name and example is None and (repeated := values == str(c).strip()).any():
            example = code_example(values[~repeated])
            example = None if example is None or example.isdigit() else example
        if example:
            out.append((str(c), example))
    return tuple(out)


def code_example(values: pd.Series) -> Optional[str]:
    """A value with a leading zero of stripped text values that are codes, None where they are not:
    every one a digit string and some start with 0 (ZERO_CODE, ZIP 02139), or every one a month
    (MONTH_YEAR, 08.2023 or 10.2023) and some start with 0. Either is kept as text, not a number."""
    if values.empty:
        return None
    if values.str.fullmatch(r"\d+").all():
        zeros = values[values.str.fullmatch(ZERO_CODE)]
    elif values.str.fullmatch(MONTH_YEAR).all():
        zeros = values[values.str.startswith("0")]
    else:
        return None
    return str(zeros.iloc[0]) if len(zeros) else None


def _may_have_zero_codes(text: str, sep: str) -> bool:
    """Whether a CSV's text has a whole field 0\\d+ or 0\\d.2023 (quoted or not) outside a quoted value: not the ",058"
    of "64,058", nor the ",023" of "$1,023,946", whose separator stands inside quotes (an odd number
    of quotes before it, lines of quoted values too). Looked for from a literal first character (a
    scan at each separator, then at each line, not at every position: an alternation of the two
    scanned a 43 MB file in 0.8 s, these in 0.4 s); the quotes counted up to each hit, in order."""
    code = r"0\d+(?:[.,](?:19|20)\d\d)?"   # 02139, or a month 08.2023 (MONTH_YEAR)
    field = rf'[ \t]*(?:"[ \t]*{code}[ \t]*"|{code})(?=[ \t]*(?:{re.escape(sep)}|\r?\n|$))'
    if re.match(field, text):
        return True
    hits = sorted(hit.start() for first in (re.escape(sep), r"\n") for hit in re.finditer(first + field, text))
    quotes, counted = 0, 0
    for at in hits:
        quotes, counted = quotes + text.count('"', counted, at), at
        if quotes % 2 == 0:
            return True
    return False


def header_below(spec, path: Path) -> str:
    """Where a record below a CSV's header names the study's target among the first ones and more
    columns than the header (which is then a title csv_layout did not take for one: "Sales report,
    Q3"): "; line 3 names 'y': ..." to end the missing target's error with; "" for the rest (a
    value y in a column of y/n is no header)."""
    if is_parquet(path):
        return ""
    try:
        sep, skip = csv_delimiter(path, spec.encoding or "utf-8")
        with _csv_records(path, spec.encoding or "utf-8", sep, skip) as reader:
            width = sum(bool(f.strip()) for f in next(reader, []))
            start = reader.line_num   # the physical lines before the next record (a quoted value spans several)
            for fields in itertools.islice(reader, TITLE_LINES):
                if sum(bool(f.strip()) for f in fields) > width and header_name([f.strip() for f in fields], spec.target):
                    line = start + 1 + skip
                    return (f"; line {line} of the file names {spec.target!r}: delete the {counted(line - 1, 'line')} "
                            "above that header (a title?)")
                start = reader.line_num
    except Exception:   # the missing target is said all the same
        pass
    return ""


@contextmanager
def _csv_records(path: Path, encoding: str, sep: str, skip: int):
    """The CSV's records from its header on, as pandas reads them: a UTF-8 byte-order mark left
    out, the `skip` lines above the header skipped, spaces after a separator ignored."""
    import csv

    utf8 = encoding.lower().replace("-", "").replace("_", "") == "utf8"
    with open_text(path, "utf-8-sig" if utf8 else encoding, newline="") as f:
        for _ in range(skip):
            f.readline()
        yield csv.reader(f, delimiter=sep, skipinitialspace=True)


def trailing_separator(path: Path, encoding: str) -> bool:
    """Whether a CSV's first row of data has one field more than its header, an empty one, and
    every longer row's fields past the header are empty: separators ending the rows, which pandas'
    default read took for the rows' index (each column its neighbour's values); _read_csv drops
    them. Read whole only where the first row is so (R's row names over a blank last value read
    as before: a later row's last field is filled)."""
    sep, skip = csv_delimiter(path, encoding)
    with _csv_records(path, encoding, sep, skip) as reader:
        width = len(next(reader, []))
        first = next((fields for fields in reader if fields), [])
        if len(first) != width + 1 or first[-1].strip():
            return False
        return not any(any(f.strip() for f in fields[width:]) for fields in reader)


def _repeated_names(path: Path, encoding: str, sep: str, columns: list, skip: int = 0) -> dict[str, list]:
    """Column names the CSV's header repeats: {name: what pandas named its later copies (a.1,
    or a.2 when the file also has an a.1)}, so that the user knows which column is which. Blank
    names are pandas' "Unnamed: i", not repeats."""
    with _csv_records(path, encoding, sep, skip) as reader:
        header = [name.strip() for name in next(reader, [])]
    if len(header) != len(columns):
        return {}
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        if name:
            positions.setdefault(name, []).append(i)
    return {name: [columns[i] for i in where[1:]] for name, where in positions.items() if len(where) > 1}


def _short_rows_of(path: Path, encoding: str, version: Optional[tuple], sep: str, skip: int, width: int) -> dict:
    """_short_rows, once per file version: the study's identity and its reading both read the file
    (a pass of Python's csv, 0.4 s for 44 MB, ran twice at a study's start)."""
    if version is None:
        return _short_rows(path, encoding, sep, skip, width)
    return dict(_short_rows_in(*version, sep, skip, width))


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def _short_rows_in(path: str, size: int, mtime_ns: int, encoding: str, sep: str, skip: int, width: int) -> tuple:
    return tuple(_short_rows(Path(path), encoding, sep, skip, width).items())


def _short_rows(path: Path, encoding: str, sep: str, skip: int, width: int) -> dict:
    """{"rows", "line", "fields", "tail"}: how many rows have fewer fields than the header, the first
    one's line and field count, and how many of the last rows are among them (a footer's, which
    tables.read leaves out when it drops the footer); {} for none. pandas reads such a row into the
    first columns and leaves the rest blank ("64,bad" of age,income,label: bad an income, no label),
    where a row with more fields is an error. The header's trailing blank names (a separator at its
    end: empty columns, dropped) are no fields a row lacks; a last line of one field is a footer's
    label or a note, not counted ("popped": 1; tables.read subtracts the other notes it drops)."""
    short = []   # (line, fields) of each short row
    with _csv_records(path, encoding, sep, skip) as reader:
        header = next(reader, [])
        while header and not header[-1].strip() and len(header) > 1:   # "age,income,label," read as 4 columns
            header.pop()
        width = min(width, len(header))
        last, tail = None, 0
        for fields in reader:
            if not fields:   # a blank line: no row to pandas either
                continue
            last = len(fields)
            if last < width:
                short.append((reader.line_num + skip, last))
            tail = tail + 1 if last < width else 0
    popped = int(bool(short) and last == 1 and short[-1][1] == 1)
    if popped:
        short.pop()
        tail -= 1
    return {"rows": len(short), "line": short[0][0], "fields": short[0][1], "tail": tail, "width": width,
            "popped": popped} if short else {}


def csv_version(spec) -> Optional[tuple[str, int, int, str]]:
    """(resolved path, size, modification time, encoding) of a CSV, which the file rules below
    cache their answers by (table_identity.py's too); None for Parquet, a workbook or a file that cannot
    be found."""
    return _file_version(Path(spec.path), spec.encoding or "utf-8")


def _file_version(path: Path, encoding: str) -> Optional[tuple[str, int, int, str]]:
    if path.suffix.lower() in (*PARQUET, *WORKBOOKS):
        return None
    return file_stamp(path, encoding)


def file_stamp(path: Path, encoding: str) -> Optional[tuple[str, int, int, str]]:
    """(resolved path, size, modification time, encoding): what the file rules cache by; None
    for a file that cannot be found."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns, encoding


def is_parquet(path) -> bool:
    return Path(path).suffix.lower() in PARQUET


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def dot_thousands_in(path: str, size: int, mtime_ns: int, encoding: str) -> dict[str, str]:
    try:
        sep, skip = csv_delimiter(Path(path), encoding)
        if sep != ";":
            return {}
        text = read_text(Path(path), encoding, sep, skip)
        _unmark(text, {mark: dict(columns) for mark, columns in number_marks_in(path, size, mtime_ns, encoding)})
        return dot_thousands_columns(text, sep)   # 7.672- counts as the 7.672 it is
    except Exception:   # not text, not CSV: reading the table raises the one-line error
        return {}


def read_text(path: Path, encoding: str, sep: str, skip: int, **only) -> pd.DataFrame:
    """The CSV as read_file reads it, every value as text; `only`: read_csv's nrows, usecols or
    keep_default_na."""
    return _read_csv(path, encoding, sep, skip, dtype=str, **only)


def _read_csv(path: Path, encoding: str, sep: str, skip: int, **more) -> pd.DataFrame:
    """pandas' read of a CSV, its first column taken for the rows' index only where it holds row
    names: where every row (or the first) has one field more than the header, pandas made the
    first field the index and every column took its neighbour's values (a trailing separator on
    each row, an unquoted 1,234 in each: trained on silently, a table review). Fields past the
    header's that are empty in every row are dropped (trailing separators); a header one name
    short over rows that start with row names (R's write.table: 1, 2, 3, ... or unique words) has
    them dropped as before; otherwise a field past the header's is refused as any row with too
    many fields is, naming its line."""
    read = functools.partial(pd.read_csv, path, encoding=encoding, na_values=CSV_MISSING, skipinitialspace=True,
                             sep=sep, skiprows=skip)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Length of header or names does not match",
                                category=pd.errors.ParserWarning)
        try:
            return read(index_col=False, **more)
        except pd.errors.ParserWarning:
            pass
    with _csv_records(path, encoding, sep, skip) as reader:   # read once more, as records
        width = len(next(reader, []))
        rows = [(reader.line_num + skip, fields) for fields in reader if fields]
    long = [(n, fields) for n, fields in rows if len(fields) > width]
    if not any(any(f.strip() for f in fields[width:]) for _, fields in long) and "usecols" not in more:
        return read(index_col=False, usecols=range(width), **more)   # trailing separators
    if row_names([fields for _, fields in rows], width):
        return read(index_col=0, **more).reset_index(drop=True)
    line, fields = next(((n, f) for n, f in long if any(x.strip() for x in f[width:])), long[0])
    raise pd.errors.ParserError(f"Expected {width} fields in line {line}, saw {len(fields)}")


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def number_marks_in(path: str, size: int, mtime_ns: int, encoding: str) -> tuple:
    try:
        sep, skip = csv_delimiter(Path(path), encoding)
        with open_text(path, encoding) as f:
            if not may_have_marks(f.read(), sep):   # most files: no second reading
                return ()
        found = marked_columns(read_text(Path(path), encoding, sep, skip), sep)
    except Exception:   # not text, not CSV: reading the table raises the one-line error
        return ()
    return tuple((mark, tuple(columns.items())) for mark, columns in sorted(found.items()))


def may_have_marks(text: str, sep: str) -> bool:
    """Whether a CSV's text may hold a value with a mark (written_numbers.MARKS_ANYWHERE), a cheap
    look before reading it twice. In a comma-separated file a comma in a value is quoted, so a mark
    with a comma is looked for after a quote: "12,5e-3" is one, a field 12 beside 5e-3 (or a date
    beside a number: 4,2020-01-05) is not."""
    # the apostrophe's alternative only where the text has one: a search starting at each digit took
    # 2 s of a 60 MB file's 2.3 (str's `in` is a memchr)
    apostrophe, rest = MARKS_ANYWHERE.split("|", 1)
    if ("'" in text or "\u2019" in text) and re.search(apostrophe, text):
        return True
    if sep != ",":
        return re.search(rest, text) is not None
    # 2.4k ([0-9]: \d took twice as long), EUR 86,23
    if re.search(r"\.\d+-", text) or re.search(r"[0-9][kKM]\b", text) or re.search(r"[A-Z]{3} ?[0-9]", text):
        return True
    # a comma mark after a quote with no quote between ("[^"]*,\d+-) is one after the file's first
    # quote: searched from there, from each comma (the quote's scan to the next quote, backtracking at
    # each character, took 1.8 s of a 43 MB file)
    first = text.find('"')
    return first >= 0 and re.compile(r",(?:\d+-|(?<=\d,)\d+[eE][+-]?\d)").search(text, first + 1) is not None


def _unmark(frame: pd.DataFrame, marks: dict[str, dict[str, str]]) -> None:
    """The columns number_marks names, with their marks written as other numbers are."""
    per_column: dict[str, set[str]] = {}
    for mark, columns in marks.items():
        for c in columns:
            per_column.setdefault(c, set()).add(mark)
    for c, its in per_column.items():   # together: 1'234.50- is -1234.50
        if c in frame.columns:
            frame[c] = unmarked(frame[c], its)


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def none_rows_in(path: str, size: int, mtime_ns: int, encoding: str, target: str) -> tuple[int, ...]:
    """The rows (positions) whose target writes "None", in a CSV whose target is words; () where it
    is not, or has none."""
    raw = target_text_in(path, size, mtime_ns, encoding, target)[1]
    if raw is None or not (none := raw.str.strip() == "None").any():
        return ()
    labels = as_pandas_reads(raw).str.strip()
    labels = labels[~labels.isin(["", *CSV_MISSING, *DASHES])]
    return tuple(np.flatnonzero(none.to_numpy())) if len(labels) and as_number(labels, NUMBER_SHARE) is None else ()


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def target_text_in(path: str, size: int, mtime_ns: int, encoding: str, target: str) -> tuple:
    """(the header's columns, the target column as the file writes it: text, pandas' missing
    markers kept; None where there is no such column). ((), None) for a file that cannot be read."""
    try:   # the header and the target column alone: every study start asks (identity), for every CSV
        sep, skip = csv_delimiter(Path(path), encoding)
        columns = read_text(Path(path), encoding, sep, skip, nrows=0).columns
        name = header_name(columns, target)   # as the header writes it (spaces around it)
        raw = None if name is None else \
            read_text(Path(path), encoding, sep, skip, usecols=[name], keep_default_na=False)[name]
    except Exception:   # not text, not CSV: reading the table raises the one-line error
        return (), None
    return tuple(columns), raw


def header_repeats(frame: pd.DataFrame) -> pd.Index:
    """The index of the rows that repeat the header name for name (two exports joined with `cat`;
    tables.py leaves them out, table_identity.py records how many: "header_rows")."""
    first = frame.iloc[:, 0] if frame.shape[1] else None
    if first is None or pd.api.types.is_numeric_dtype(first):   # a header's name makes its column text
        return frame.index[:0]
    names = [str(c).strip() for c in frame.columns]
    maybe = frame[first.astype(str).str.strip() == names[0]]
    if maybe.empty:
        return frame.index[:0]
    return maybe.index[maybe.apply(lambda row: [str(v).strip() for v in row] == names, axis=1)]


def as_pandas_reads(raw: pd.Series) -> pd.Series:
    """A column read with keep_default_na=False as read_csv reads it by default: its missing
    markers (column_checks.READ_AS_MISSING, "?" among them) left out."""
    return raw[raw.notna() & ~raw.isin(READ_AS_MISSING)]
