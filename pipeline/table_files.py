"""A table's file found and read, before anything is prepared (tables.py): CSV in any encoding
with its delimiter found (Excel's "sep=;" line, else the header's commonest of , ; tab |),
Parquet (its category columns as plain values), workbooks refused with the advice to save a CSV,
repeated column names said, and the marks that change how a column reads that only some exports
write and the table's identity records (table_identity.py, for identity.py): points as thousands in a
file of decimal commas (dot_thousands), Swiss apostrophes and SAP's trailing minus (number_marks).
The cached scans here (dot_thousands_in, zero_codes_in, ...) serve both reading and the identity."""

from __future__ import annotations

import codecs
import functools
import itertools
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .errors import UsageError
from .words import counted
from .column_checks import READ_AS_MISSING
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


def read_file(spec, path: Path) -> pd.DataFrame:
    """The file's rows as pandas reads them, with what reading it found in `attrs`: the CSV's
    separator, its repeated column names, and the columns read with a mark (dot_thousands,
    number_marks), whose values are then written as other numbers are; every problem a one-line
    UsageError."""
    kind = "Parquet" if is_parquet(path) else "CSV"
    if path.suffix.lower() in WORKBOOKS or (kind == "CSV" and (_zipped_workbook(path) or _first_bytes(path, 8) == OLE2)):
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: a spreadsheet workbook (Excel or "
                         "OpenDocument), which is not read; save its sheet as CSV (or Parquet) and point path at that")
    if kind == "CSV" and (wide := _wide_unicode(path, spec.encoding)):   # read as bytes, it would be garbage
        field = f"field 'encoding' = {spec.encoding!r}" if spec.encoding else f"field 'path' = {spec.path!r}"
        raise UsageError(f"{dataset_name(spec)}: {field}: the file is {wide.upper()} text (it starts with a {wide.upper()} "
                         f"byte order mark, as Excel's \"Unicode text\" saves); set encoding: {wide} in the dataset entry")
    if kind == "CSV" and (other := _written_as(path)):   # else "not utf-8 text", or "a header but no rows"
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: {other}")
    if kind == "Parquet":
        _refuse_nested(spec, path)
    try:
        if kind == "Parquet":
            return read_parquet_rows(path, spec.target)
        return read_csv_rows(path, spec.encoding or "utf-8", spec.target)
    except UnicodeDecodeError:
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: not {spec.encoding or 'utf-8'} text "
                         f"({_first_bad_byte(path, spec.encoding or 'utf-8')}); set encoding: (e.g. cp1252, a Windows export's, or latin-1) "
                         "in the dataset entry") from None
    except LookupError:
        raise UsageError(f"{dataset_name(spec)}: field 'encoding' = {spec.encoding!r}: unknown encoding; e.g. utf-8, "
                         "latin-1, cp1252") from None
    except pd.errors.EmptyDataError:   # nothing but blanks: pandas says "No columns to parse from file"
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: the file is empty (no header, no rows)") from None
    except Exception as e:  # pandas and pyarrow raise many parser errors; all mean the same to the user
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: not a readable {kind} file "
                         f"({_unreadable(e)}){header_below(spec, path)}") from None


def _refuse_nested(spec, path: Path) -> None:
    """A Parquet column of lists, structs or maps, unless the study drops it: one value per cell is
    what a feature is (pandas' arrays in it were a traceback: unhashable type)."""
    version = file_stamp(path, "")
    if nested := (nested_kept(*version[:3], tuple(spec.preprocess.drop_columns)) if version else []):
        fix = ("a target is one value per row" if nested[0].strip() == str(spec.target).strip() else
               "give each element a column of its own, or list it under preprocess.drop_columns")
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: column {nested[0]!r} holds lists or records "
                         f"(Parquet nested values), which are not read; {fix}")


def nested_kept(path: str, size: int, mtime_ns: int, drop: tuple) -> list[str]:
    """The Parquet file's columns of nested values that `drop` (preprocess.drop_columns) keeps."""
    dropped = {str(c).strip() for c in drop}
    return [c for c in parquet_kinds_in(path, size, mtime_ns)[0] if c.strip() not in dropped]


@functools.lru_cache(maxsize=16)
def parquet_kinds_in(path: str, size: int, mtime_ns: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(a Parquet file's columns of nested values (lists, structs, maps), its columns of durations),
    from its schema; ((), ()) for a file that cannot be read (reading it says why)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
    except Exception:
        return (), ()
    return (tuple(f.name for f in schema if pa.types.is_nested(f.type)),
            tuple(f.name for f in schema if pa.types.is_duration(f.type)))


# suffixes pandas reads a CSV decompressed by (compression="infer"); the scans here read them so too
PACKED = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}


@contextmanager
def open_bytes(path):
    """A CSV's bytes, decompressed where its suffix says it is packed (PACKED), as pandas reads it:
    the scans of its text must see what pandas reads, not the compressed bytes."""
    kind = PACKED.get(Path(path).suffix.lower())
    if kind == "zip":
        import zipfile

        with zipfile.ZipFile(path) as z:
            if not (names := [n for n in z.namelist() if not n.endswith("/")]):
                raise ValueError("an empty zip archive")   # read_file: "not a readable CSV file (...)"
            with z.open(names[0]) as f:
                yield f
        return
    import bz2
    import gzip
    import lzma

    with {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}.get(kind, open)(path, "rb") as f:
        yield f


@contextmanager
def open_text(path, encoding: str, newline: Optional[str] = None):
    """A CSV's text (open_bytes), undecodable bytes replaced: the scans look, reading says what is wrong."""
    import io

    with open_bytes(path) as raw:
        yield io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline=newline)


def _wide_unicode(path: Path, encoding: Optional[str]) -> Optional[str]:
    """'utf-16' or 'utf-32' for a file that starts with that byte order mark while `encoding` reads
    it otherwise (utf-8 fails on its first byte; latin-1 would read every other character as a NUL)."""
    try:
        with open_bytes(path) as handle:
            head = handle.read(4)
    except Exception:   # a packed file that does not unpack: reading it says so in one line
        return None
    wide = "utf-32" if head in (b"\xff\xfe\0\0", b"\0\0\xfe\xff") else \
        "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else None
    try:   # utf16, UTF_16, u16 are utf-16 to Python
        given = codecs.lookup(encoding).name if encoding else ""
    except LookupError:   # read_file says so
        return None
    return wide if wide and not given.startswith(wide) else None


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
    frame.attrs["title"] = list(_title_as_read(path, encoding, sep, skip, title))   # lines above the header, skipped
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
    return _code_columns(text, target)


def _code_columns(text: pd.DataFrame, target: str) -> tuple:
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


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def parquet_zero_codes_in(path: str, size: int, mtime_ns: int, target: str) -> tuple:
    """zero_codes_in for a Parquet file: its columns of text (strings) holding codes with leading
    zeros. Parquet keeps 02139 as text, but tables.read took a column of digit strings for numbers.
    Reads the text columns only, and only where the file has some besides the target."""
    columns, text, _ = parquet_schema_in(path, size, mtime_ns)
    name = header_name(columns, target)
    candidates = [c for c in text if c != name]
    if not candidates:
        return ()
    try:
        frame = categories_as_values(pd.read_parquet(path, columns=candidates))
    except Exception:   # reading the table raises the one-line error
        return ()
    # Parquet keeps "" and "?" as text, which tables.read takes for missing, as a CSV's reading does
    frame = frame.apply(lambda column: column.mask(column.str.strip().isin(TEXT_MISSING)))
    return _code_columns(frame, target)


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


def _unreadable(e: Exception) -> str:
    """What the parser said, on one short line: "ParserError: Expected 3 fields in line 4, saw 4",
    with the usual cause of that one (a value holding the separator, unquoted)."""
    said = (str(e).strip().splitlines() or [""])[0].removeprefix("Error tokenizing data. C error: ")
    said = said if len(said) <= 160 else said[:157] + "..."
    hint = ("; a value that holds the separator (1,234 in a comma-separated file) must be quoted (\"1,234\") or "
            "written without it" if re.match(r"Expected \d+ fields", said) else "")
    return f"{type(e).__name__}: {said}{hint}" if said else type(e).__name__


def _first_bad_byte(path: Path, encoding: str) -> str:
    """"byte 33 on line 1: b'\\xb0'": where the file stops being `encoding` (the decoder's own offset is
    into whichever chunk pandas was reading)."""
    if path.suffix.lower() in (*PACKED, ".zst", ".tar"):   # pandas reads it decompressed
        return "in the decompressed file"
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return f"byte {e.start} on line {line}: {data[e.start:e.start + 1]!r}"
    return "a byte it cannot decode"


def csv_delimiter(path: Path, encoding: str) -> tuple[str, int]:
    """The separator and the lines to skip before the header (csv_layout)."""
    sep, skip, _ = csv_layout(path, encoding)
    return sep, skip


TITLE_LINES = 20   # at most this many lines above the header are a title


def csv_layout(path: Path, encoding: str) -> tuple[str, int, tuple[str, ...]]:
    """The separator, the lines to skip before the header, and the title written above it (its lines
    with text, separators and quotes stripped, a line of several fields as its fields joined by ", ";
    () for most files). Excel's "sep=;" first line names the separator (and is skipped). Lines above
    the header with one field or none under every separator ("Sales report 2026", "Sales report
    2026;;;", blank) are a title, where the line under them names columns (two names or more, most of
    them not numbers: not a row of data under a header of one name, which reads as before); so are
    lines of several fields that cannot be the header (_several_fields_title: "Sales report, Q3
    2026"). Else the separator is the one the header line uses most: a comma, or a semicolon
    (European spreadsheets, whose decimal comma rules the comma out), a tab or a pipe. Quoted names
    do not count ("Umsatz, netto";"Umsatz, brutto";Kategorie is semicolon-separated); where two tie,
    the one the most of the next rows use as often decides, then one that splits no bracket
    ("size range (from;to),y" is comma-separated), then one no space follows (unquoted "Umsatz,
    netto;Umsatz, brutto;y": names write ", " as prose does), then the comma; a header of one name
    is a comma's."""
    with open_text(path, encoding, newline="") as f:
        header = f.readline().lstrip("\ufeff")
        named = re.fullmatch(r'"?sep=(.)"?\s*', header)
        if named:
            return named.group(1), 1, ()
        above, header, ahead = _title_above(header, f)
        counts = _separators(header)
        tied = [sep for sep, n in counts.items() if n == max(counts.values())]
        if len(tied) == 1 or not counts[tied[0]]:
            sep = tied[0] if len(tied) == 1 else ","
            return sep, len(above), _title_text(above, sep)
        rows = [_separators(line) for line in [*ahead, *itertools.islice(f, 50)][:50]]
    sep = max(tied, key=lambda sep: (sum(row[sep] == counts[sep] for row in rows), _brackets_whole(header, sep),
                                     not re.search(rf"{re.escape(sep)} ", header), sep == ","))
    return sep, len(above), _title_text(above, sep)


def _title_text(above: list[str], sep: str) -> tuple[str, ...]:
    """The title's lines with text: a line of one field or none with separators and quotes stripped
    (as the identity has recorded it since titles were read), one of several its fields joined by ", "."""
    return tuple(text for line in above if (text := re.sub(r'[,;\t|"]+', " ", line).strip() if _names_in(line) <= 1
                                            else ", ".join(_names(_fields(line, sep)))))


def _title_as_read(path: Path, encoding: str, sep: str, skip: int, title: tuple[str, ...]) -> tuple[str, ...]:
    """The title as the warning shows it: csv_layout's, whose bytes the file's encoding cannot read are
    replaced (U+FFFD; the identity records it so), with each such line read as a Windows export writes
    it (cp1252, else latin-1: "Bericht März" in a file read as UTF-8 whose rows are, as pandas reads
    only the rows)."""
    if not any("\ufffd" in line for line in title):
        return title
    import io

    lines = []
    with open_bytes(path) as raw:   # latin-1 text is the bytes one to one: each line's bytes again
        f = io.TextIOWrapper(raw, encoding="latin-1", newline="")
        for _ in range(skip):
            written = f.readline().encode("latin-1")
            written = written.removeprefix(b"\xef\xbb\xbf") if not lines else written
            for reading in (encoding, "cp1252", "latin-1"):
                try:
                    lines.append(written.decode(reading))
                    break
                except (UnicodeDecodeError, LookupError):
                    continue
    readable = _title_text(lines, sep)
    return readable if len(readable) == len(title) else title


def _title_above(first: str, f) -> tuple[list[str], str, list[str]]:
    """The lines above a CSV's header that are a title (csv_layout), the header line, and the lines
    read past it (csv_layout's next rows start with them); `f` is read on from the second line only
    where the first has one field or none, or names fewer columns than a line below. A title line
    writes its text in its first field (`,y` is pandas' header of a named index and one column) and,
    as the header line, closes every quote it opens (a header name over two lines is one record)."""
    above = []
    line = first
    while _names_in(line) <= 1:
        if not _title_line(line):
            return [], first, []
        above.append(line)
        line = f.readline()
        if not line or len(above) > TITLE_LINES:
            return [], first, []
    several, header, ahead = _several_fields_title(above, line, f)
    if several:
        return [*above, *several], header, ahead
    return (above, line, ahead) if _header_line(line) else ([], first, ahead)


def _title_line(line: str) -> bool:
    """Whether a line may be a title's: every quote it opens closed, its text (if any) in its first field."""
    return not line.count('"') % 2 and not (re.sub(r'[,;\t|\s"]', "", line) and not re.match(r'\s*[^\s,;\t|]', line))


def _header_line(line: str) -> bool:
    """Whether a line of two names or more may be a header: its quotes closed, most names not numbers."""
    names = [n.strip() for n in re.split(r"[,;\t|]", re.sub(r'"[^"]*"', "q", line)) if n.strip()]
    return not line.count('"') % 2 and sum(bool(re.fullmatch(r"[-+]?[\d.,]+", n)) for n in names) < len(names) / 2


ROWS_JUDGED = 50   # the rows under a header a title of several fields is judged by


def _several_fields_title(above: list[str], line: str, f) -> tuple[list[str], str, list[str]]:
    """(the title's lines from `line` on, the header under them, the lines read past `line`), where
    `line` (two names or more) and any lines under it up to a line that names more columns are a
    title of several fields ("Sales report, Q3 2026"; "Sales report;2026;;"); ([], "", the lines read)
    where they are not. Each such line writes its text from its first field on, names fewer columns
    than the header, and cannot be the header itself (_cannot_be_header). Read on only where the next
    line names more columns than `line` (a header's next line, a row of data, rarely does)."""
    lines, ahead, most = [line], [], _names_in(line)
    while True:
        ahead.append(below := f.readline())
        if not below or len(above) + len(lines) > TITLE_LINES or not _title_line(lines[-1]):
            return [], "", ahead
        if _names_in(below) > most:
            break
        lines.append(below)
        most = max(most, _names_in(below))
    header, counts = below, _separators(below)
    seps = [sep for sep, n in counts.items() if n == max(counts.values())]
    if len(seps) != 1 or not _header_line(header):
        return [], "", ahead
    rows = []
    for _ in range(ROWS_JUDGED):
        ahead.append(row := f.readline())
        if not row:
            break
        if fields := _fields(row, seps[0]):
            rows.append(fields)
    fields = _fields(header, seps[0])
    several = [line for line in lines if _names_in(line) > 1]
    if all(_cannot_be_header(_fields(line, seps[0]), fields, rows) for line in several):
        return lines, header, ahead[len(lines):]
    return [], "", ahead


def _fields(line: str, sep: str) -> list[str]:
    """A line's fields under `sep`, as pandas reads them (quotes taken off, spaces after a separator ignored)."""
    import csv

    return next(csv.reader([line], delimiter=sep, skipinitialspace=True), [])


def _names(fields: list[str]) -> list[str]:
    return [f.strip() for f in fields if f.strip()]


def _cannot_be_header(title: list[str], header: list[str], rows: list[list[str]]) -> bool:
    """Whether a line of several fields (`title`) above a line that names more columns (`header`, over
    `rows`) is no header: a header of fewer names than the line under it that pandas reads is a row of
    data under it (a blank name, R's row names). It is none where the header names its columns (no name
    a missing marker or one of its column's values below) and (1) the header and its rows are
    wider, with names past its width: read as the header, the file was not read (a row longer than
    its header), unless its rows start with row names (_row_names: R's write.table, read so); or (2)
    a spreadsheet's title padded with separators to the table's width ("Sales report;2026;;"): text
    in its first fields alone, over a header that names every column it leaves blank as no number or
    missing marker does, none of its names among its column's values below, and some such column of
    numbers below (a header with blank names over a first row of words writes a number or a word of
    its column somewhere), where that header is no row of units (_units_under: a header that leaves
    its columns of numbers unnamed over the units it writes them in reads as before)."""
    width = len(title)
    if len(_names(title)) >= len(_names(header)):
        return False
    names = {i: f.strip() for i, f in enumerate(header) if f.strip()}
    below = {i: [r[i].strip() for r in rows if i < len(r) and r[i].strip()] for i in names}
    # a row of data, not a header: a name a missing marker or among its column's values below (R's
    # write.table of a subset, its row names 4, 9, ...: a value of a column that repeats)
    if any(n in READ_AS_MISSING or n in DASHES or n in below[i] for i, n in names.items()):
        return False
    if len(header) > width and any(f.strip() for f in header[width:]):
        return not _row_names([header, *rows], width)
    if any(re.fullmatch(NUMBER, n) for n in names.values()):
        return False
    blank = [i for i, f in enumerate(title) if not f.strip()]
    if len(_names(title)) < 2 or blank != list(range(len(_names(title)), width)) or _units_under(title, header):
        return False
    return any(i in names and len(below[i]) >= 2 and all(re.fullmatch(NUMBER, v) for v in below[i]) for i in blank)


def _units_under(title: list[str], header: list[str]) -> bool:
    """Whether the line under a header of several fields (`title`) reads as a row of units, not as a
    header under a title: it leaves blank a column the line above names, or names a column twice
    ("name;city;;" over "unit;unit;kg;cm", "id;name;;" over "nr;;kg;cm": the header names its columns
    of words and leaves its columns of numbers to the units). A header under a padded title names its
    columns, each once."""
    named = [f.strip() for f in header if f.strip()]
    return len(set(named)) < len(named) or any(f.strip() and not (header[i].strip() if i < len(header) else "")
                                               for i, f in enumerate(title))


NUMBER = r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?"   # a plain number, as a title's table writes them


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


def _names_in(line: str) -> int:
    """The most non-empty fields a line has under one separator (a quoted value one field)."""
    unquoted = re.sub(r'"[^"]*"', "q", line)
    return max(sum(bool(field.strip()) for field in unquoted.split(sep)) for sep in (",", ";", "\t", "|"))


def _brackets_whole(header: str, sep: str) -> bool:
    """Whether every field of a header split at `sep` closes each bracket it opens."""
    return all(field.count(a) == field.count(b) for field in header.split(sep) for a, b in ("()", "[]", "{}"))


def _separators(line: str) -> dict[str, int]:
    """How often a line writes each separator outside quotes ("" inside a quoted name: two quoted
    runs, both left out)."""
    unquoted = re.sub(r'"[^"]*"', "", line)
    return {sep: unquoted.count(sep) for sep in (",", ";", "\t", "|")}


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


OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")   # an old Office file's first bytes (.xls, .doc), however named


COMPRESSED = ((rb"\x1f\x8b", "gzip"), (rb"BZh[1-9]1AY&SY", "bzip2"), (rb"\xfd7zXZ\x00", "xz"), (rb"\x28\xb5\x2f\xfd", "zstd"),
              (rb"PK\x03\x04", "zip"))   # first bytes (patterns); a zip that is a workbook is said as one first


def _last_bytes(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - n))
            return f.read(n)
    except OSError:   # reading the table says why
        return b""


def _first_bytes(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:   # reading the table says why
        return b""


def _written_as(path: Path) -> Optional[str]:
    """What a file to be read as CSV is written as instead, where its first bytes say so, with the way
    to a file that is read: Parquet named otherwise, a compressed file (its delimiter, marks and footer
    are found in the text: pandas would read some of them, the rest unseen), JSON; None otherwise."""
    head = _first_bytes(path, 4096)
    if head.startswith(b"PAR1") and _last_bytes(path, 4) == b"PAR1":   # not a header "PAR1,..." (a column's name)
        return "a Parquet file (it starts with PAR1), not CSV; give it a .parquet suffix, which is read as Parquet"
    packed = next((kind for magic, kind in COMPRESSED if re.match(magic, head)), None)
    if packed and PACKED.get(path.suffix.lower()) != packed:   # named so, pandas and the scans read it unpacked
        suffix = next((s for s, k in PACKED.items() if k == packed), None)
        return f"{packed}-compressed, not CSV text; " + (f"name it with its suffix (data.csv{suffix}), which is read, or "
                                                          "unpack it" if suffix else "unpack it (or gzip it as data.csv.gz)")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if (text[:1] == b"[" and text[1:].lstrip()[:1] in (b"{", b"[")) or (text[:1] == b"{" and text[1:].lstrip()[:1] == b'"'):
        return ("JSON, which is not read; save it as CSV (pandas: pd.read_json(path).to_csv(\"data.csv\", "
                "index=False); JSON lines: read_json(path, lines=True)) and point path at that")
    return None


def _zipped_workbook(path: Path) -> bool:
    """An .xlsx or .ods workbook is a zip archive, whatever its file is named: one with Office's
    [Content_Types].xml or OpenDocument's mimetype entry (a zipped CSV: _written_as)."""
    import zipfile

    if _first_bytes(path, 4) != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return bool({"[Content_Types].xml", "mimetype"} & set(z.namelist()))
    except zipfile.BadZipFile:
        return False


def read_parquet_rows(path: Path, target) -> pd.DataFrame:
    """A Parquet file's rows as read_file reads them (identity's later_rules reads some files so too),
    with the attrs a CSV's reading sets, as tables.read takes them for Parquet: its codes with
    leading zeros (parquet_zero_codes_in) among them."""
    frame = categories_as_values(pd.read_parquet(path))
    for c in frame.columns:   # durations are quantities: seconds (as text, each was a category of its own)
        if pd.api.types.is_timedelta64_dtype(frame[c]):
            frame[c] = frame[c].dt.total_seconds()
    version = file_stamp(path, "")
    codes = dict(parquet_zero_codes_in(*version[:3], target)) if version and target is not None else {}
    frame.attrs.update(sep=",", dot_thousands={}, zero_codes=codes)
    return frame


@functools.lru_cache(maxsize=16)   # identity asks for it per rule, reading for its codes
def parquet_schema_in(path: str, size: int, mtime_ns: int) -> tuple:
    """(a Parquet file's columns as read_file reads them (its saved pandas index not among them), those
    of text (strings, or categories of strings), those that may hold a missing value: a null counted
    somewhere, or not counted); ((), (), ()) for a file that cannot be read (reading it says why)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        schema, meta = parquet.schema_arrow, parquet.metadata
        index = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
        columns = tuple(c for c in schema.names if c not in index)

        def is_words(kind) -> bool:
            kind = kind.value_type if pa.types.is_dictionary(kind) else kind
            view = getattr(pa.types, "is_string_view", None)   # pyarrow 16 and later
            return pa.types.is_string(kind) or pa.types.is_large_string(kind) or bool(view and view(kind))

        text = tuple(c for c in columns if is_words(schema.field(c).type))
        whole = set(columns)   # columns whose every row group counts no null
        for group in range(meta.num_row_groups):
            for i in range(meta.num_columns):
                chunk = meta.row_group(group).column(i)
                stats = chunk.statistics
                if stats is None or not stats.has_null_count or stats.null_count:
                    whole.discard(chunk.path_in_schema)
        blanks = tuple(c for c in columns if c not in whole)
    except Exception:   # reading the table raises the one-line error
        return (), (), ()
    return columns, text, blanks


def categories_as_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet's category columns as the values they hold (text as text, numbers as numbers), so
    that they are tidied and judged like any other column (stripped, read as numbers, id-like)."""
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            kind = frame[c].cat.categories.dtype
            if not pd.api.types.is_numeric_dtype(kind):
                frame[c] = frame[c].astype(object)
            else:   # integers stay integers (class names "0", not "0.0") unless a value is missing
                frame[c] = frame[c].astype(kind if frame[c].notna().all() else float)
    return frame


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
    if _row_names([fields for _, fields in rows], width):
        return read(index_col=0, **more).reset_index(drop=True)
    line, fields = next(((n, f) for n, f in long if any(x.strip() for x in f[width:])), long[0])
    raise pd.errors.ParserError(f"Expected {width} fields in line {line}, saw {len(fields)}")


def _row_names(rows: list[list[str]], width: int) -> bool:
    """Whether every row has one field more than the header and starts with a row name: R's
    default 1, 2, 3, ... in order, or words (not numbers) none of which repeats."""
    first = [fields[0].strip() for fields in rows]
    if not rows or any(len(fields) != width + 1 for fields in rows):
        return False
    if first == [str(i) for i in range(1, len(rows) + 1)]:
        return True
    return len(set(first)) == len(first) and all(as_number(pd.Series([f]), 1.0) is None for f in first)


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
    if re.search(r"\.\d+-", text):
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
