"""Where a CSV's table starts and how its lines split, found in its text before pandas reads it
(table_files.py reads with what this finds): the text as pandas reads it (decompressed by its
suffix: open_bytes, open_text), the separator (Excel's "sep=;" line, else the header's commonest of
, ; tab |), and the title lines above the header that are skipped: lines of one field or none,
and lines of several fields that cannot be the header (a spreadsheet's padded "Sales report;2026;;",
not a header over a row of units). Also the header checks these rules share: whether a line may be
a header, and rows that start with R's row names."""

from __future__ import annotations

import itertools
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pandas as pd

from .column_checks import READ_AS_MISSING
from .written_numbers import DASHES, as_number


# suffixes pandas reads a CSV decompressed by (compression="infer"); the scans of its text (table_files.py) read them so too
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


def title_as_read(path: Path, encoding: str, sep: str, skip: int, title: tuple[str, ...]) -> tuple[str, ...]:
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
    its header), unless its rows start with row names (row_names: R's write.table, read so); or (2)
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
        return not row_names([header, *rows], width)
    if any(re.fullmatch(NUMBER, n) for n in names.values()):
        return False
    blank = [i for i, f in enumerate(title) if not f.strip()]
    if len(_names(title)) < 2 or blank != list(range(len(_names(title)), width)) or _units_under(title, header):
        return False
    return any(i in names and len(below[i]) >= 2 and all(re.fullmatch(NUMBER, v) for v in below[i]) for i in blank)


def _units_under(title: list[str], header: list[str]) -> bool:
    """Whether the line under a header of several fields (`title`) reads as a row of units, not as a
    header under a title: it writes units (_a_unit) in every column the line above leaves blank that
    it writes anything in, and leaves blank a column the line above names, or writes a value twice
    ("name;city;;" over "unit;unit;kg;cm", "id;name;;" over "nr;;kg;cm": the header names its columns
    of words and leaves its columns of numbers to the units). A header under a padded title names its
    columns (x, y: no units), though it may leave one blank or repeat one (R's and pandas' blank name
    over the row names, a name written twice)."""
    named = [f.strip() for f in header if f.strip()]
    under_blank = [header[i].strip() for i, f in enumerate(title) if not f.strip() and i < len(header) and header[i].strip()]
    return bool(under_blank) and all(_a_unit(v) for v in under_blank) and (
        len(set(named)) < len(named) or any(f.strip() and not (header[i].strip() if i < len(header) else "")
                                            for i, f in enumerate(title)))


# Units as a measurement export writes them over its columns of numbers. A letter or two alone
# (m, s, h, x, y) is as often a column's name, so a unit is one of these words, or one written
# bracketed ([mmHg], (kg)), per something (mg/dl, km/h) or with %, ‰ or °.
UNIT_WORDS = frozenset(
    "kg mg µg ug lb lbs oz cm mm km µm um nm ft in yd mi ml dl cl m2 m3 m² m³ km2 mmhg kpa hpa pa bar psi atm "
    "mmol µmol umol nmol iu kcal cal kj kwh wh kw mw mv ma hz khz mhz ghz ms sec min hrs bpm rpm mph kmh ppm ppb db "
    "usd eur gbp chf jpy".split())


def _a_unit(value: str) -> bool:
    """Whether a value of the line under a header is a unit (UNIT_WORDS), not a column's name."""
    return bool(re.fullmatch(r"[\[(].+[\])]", value) or re.search(r"[%‰°/]", value)) or value.lower() in UNIT_WORDS


NUMBER = r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?"   # a plain number, as a title's table writes them


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


def row_names(rows: list[list[str]], width: int) -> bool:
    """Whether every row has one field more than the header and starts with a row name: R's
    default 1, 2, 3, ... in order, or words (not numbers) none of which repeats."""
    first = [fields[0].strip() for fields in rows]
    if not rows or any(len(fields) != width + 1 for fields in rows):
        return False
    if first == [str(i) for i in range(1, len(rows) + 1)]:
        return True
    return len(set(first)) == len(first) and all(as_number(pd.Series([f]), 1.0) is None for f in first)
