"""A table's file read, whatever it turns out to be: a CSV (table_files.read_csv_rows) or Parquet
(table_parquet.py) by its suffix; files that are neither refused, each with the way to one that is:
a spreadsheet workbook (however named), UTF-16/32 text without its encoding set, Parquet or a
compressed file named .csv, JSON, a PDF, an image or another package's data file (SPSS, Stata, SAS, ...);
every problem reading it one UsageError line."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Optional

import pandas as pd

from .errors import UsageError
from .table_files import WORKBOOKS, dataset_name, header_below, is_parquet, read_csv_rows
from .table_layout import PACKED, open_bytes
from .table_parquet import read_parquet_rows, refuse_nested

# `spec` below is a study_schema.DatasetSpec, left unannotated (see tables.py).


def read_file(spec, path: Path) -> pd.DataFrame:
    """The file's rows as pandas reads them, with what reading it found in `attrs`: the CSV's
    separator, its repeated column names, and the columns read with a mark (dot_thousands,
    number_marks), whose values are then written as other numbers are; every problem a one-line
    UsageError."""
    kind = "Parquet" if is_parquet(path) else "CSV"
    if path.suffix.lower() in WORKBOOKS or (kind == "CSV" and (_zipped_workbook(path) or _first_bytes(path, 8) == OLE2)):
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: a spreadsheet workbook (Excel or "
                         "OpenDocument), which is not read; save its sheet as CSV (or Parquet) and point path at that")
    if kind == "CSV" and (wide := _wide_unicode(path, spec.encoding)) and (wide != "utf-8" or _bom_names(spec, path)):
        field = f"field 'encoding' = {spec.encoding!r}" if spec.encoding else f"field 'path' = {spec.path!r}"
        raise UsageError(f"{dataset_name(spec)}: {field}: the file is {wide.upper()} text (it starts with a {wide.upper()} "
                         f"byte order mark, as Excel's \"{SAVED_AS[wide]}\" saves); set encoding: {wide} in the dataset entry")
    if kind == "CSV" and (other := _written_as(path)):   # else "not utf-8 text", or "a header but no rows"
        raise UsageError(f"{dataset_name(spec)}: field 'path' = {spec.path!r}: {other}")
    if kind == "Parquet":
        refuse_nested(spec, path)
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


SAVED_AS = {"utf-8": "CSV UTF-8", "utf-16": "Unicode text", "utf-32": "Unicode text"}   # what writes each mark


def _bom_names(spec, path: Path) -> bool:
    """Whether the first column, whose name a UTF-8 byte order mark read under another encoding starts
    ('ï»¿outcome'), is one the dataset entry names: elsewhere the file read as it did before the mark
    was refused (a study that ran so keeps its encoding, and with it its identity)."""
    if codecs.lookup(spec.encoding).name.startswith(("utf-16", "utf-32")):   # would read nothing at all
        return True
    named = {spec.target, *spec.preprocess.drop_columns, *spec.preprocess.keep_columns, *spec.preprocess.missing_values}
    with open_bytes(path) as handle:   # _wide_unicode read it (a packed file too)
        line = handle.read(4096)[3:].split(b"\n")[0].decode(spec.encoding, errors="replace")
    first = re.split(r"[,;\t|]", line, maxsplit=1)[0].strip().strip('"').strip()
    return first in named


def _wide_unicode(path: Path, encoding: Optional[str]) -> Optional[str]:
    """'utf-16' or 'utf-32' for a file that starts with that byte order mark while `encoding` reads
    it otherwise (utf-8 fails on its first byte; latin-1 would read every other character as a NUL);
    'utf-8' for one that starts with UTF-8's while an encoding set reads it otherwise (cp1252 made
    the first column's name 'ï»¿outcome', and `target: outcome` was no such column)."""
    try:
        with open_bytes(path) as handle:
            head = handle.read(4)
    except Exception:   # a packed file that does not unpack: reading it says so in one line
        return None
    wide = "utf-32" if head in (b"\xff\xfe\0\0", b"\0\0\xfe\xff") else \
        "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else \
        "utf-8" if head[:3] == b"\xef\xbb\xbf" and encoding else None   # unset: utf-8, which reads it
    try:   # utf16, UTF_16, u16 are utf-16 to Python
        given = codecs.lookup(encoding).name if encoding else ""
    except LookupError:   # read_file says so
        return None
    return wide if wide and not given.startswith(wide) else None


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


OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")   # an old Office file's first bytes (.xls, .doc), however named


COMPRESSED = ((rb"\x1f\x8b", "gzip"), (rb"BZh[1-9]1AY&SY", "bzip2"), (rb"\xfd7zXZ\x00", "xz"), (rb"\x28\xb5\x2f\xfd", "zstd"),
              (rb"PK\x03\x04", "zip"))   # first bytes (patterns); a zip that is a workbook is said as one first


# Files of another kind by their first bytes, each with what to do: data files of statistics
# packages (pandas reads each, to write its CSV) and documents or images (no table at all). Read as
# CSV they got advice that did not fit: "set encoding: cp1252", "quote 1,234", "a header but no rows".
OTHER_FORMATS = ((b"%PDF-", "a PDF document"), (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
                 (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"),   # with a NUL byte (TEXT_MAGIC)
                 (b"$FL2", "an SPSS data file (.sav)"), (b"$FL3", "an SPSS data file (.sav)"),
                 (b"<stata_dta>", "a Stata data file (.dta)"),
                 (bytes(12) + bytes.fromhex("C2EA8160B31411CFBD92080009C7318C"), "a SAS data file (.sas7bdat)"),
                 (b"SQLite format 3\x00", "an SQLite database"), (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
                 (b"ARROW1\0\0", "an Arrow/Feather file"),   # the magic padded to 8 bytes: not a header "ARROW1,..."
                 (b"\x93NUMPY", "a NumPy array file (.npy)"))
# Magics a CSV's header may start with (a first column named "GIF89a"): the file is that format only
# where its first bytes hold a NUL, which an image's have and CSV text has not
TEXT_MAGIC = (b"GIF87a", b"GIF89a")
READERS = {"SPSS": "pd.read_spss(path)", "Stata": "pd.read_stata(path)", "SAS": "pd.read_sas(path)",
           "HDF5": "pd.read_hdf(path)", "Feather": "pd.read_feather(path)"}


def _other_format(head: bytes) -> Optional[str]:
    """What a file of another kind is (OTHER_FORMATS) and the way to a CSV of its table; None for
    any other file."""
    kind = next((kind for magic, kind in OTHER_FORMATS
                 if head.startswith(magic) and (magic not in TEXT_MAGIC or b"\0" in head)), None)
    if kind is None:
        return None
    reader = next((r for name, r in READERS.items() if name in kind), None)
    how = (f"save its table as CSV (pandas: {reader}.to_csv(\"data.csv\", index=False)) and point path at that"
           if reader else "export its table as CSV and point path at that" if "SQLite" in kind or "NumPy" in kind
           else "not a table; point path at the table's CSV (or Parquet) file")
    return f"{kind} (its first bytes say so), not CSV text; {how}"


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
    if other := _other_format(head):
        return other
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
