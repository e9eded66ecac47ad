"""An export's footer found under a CSV's rows: notes, lines of text alone ("Exported by SomeTool
on 2026-01-01", "Source: ..."), and summaries: a totals row ("Total", "Summe:") and an averages row
("Average", "Mittelwert"), each a summary word as a field of its own and in some column the sum or
the mean of the rows above it. tables.py drops them (drop_footer, with a warning); table_identity.py
records the summaries' labels ("totals_row") and the notes ("footer_notes"). CSV only: Parquet
writes no footer."""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from typing import Optional

import pandas as pd

from .table_layout import PACKED, csv_delimiter, open_bytes
from .written_numbers import NUMBER_SHARE, as_number, file_commas, is_text, read_numbers

# What an export's footer row of totals writes in a field of its own (case and a colon aside)
TOTAL_WORDS = frozenset({"total", "totals", "grand total", "sum", "summe", "gesamt", "gesamtsumme", "insgesamt",
                         "somme", "totaal", "totale", "totalt", "suma", "total general", "total général"})
# ... and a footer row of means (its columns' means, rounded as it writes them)
AVERAGE_WORDS = frozenset({"average", "avg", "avg.", "mean", "durchschnitt", "mittelwert", "moyenne", "media",
                           "promedio", "gemiddelde", "gemiddeld", "genomsnitt", "gjennomsnit", "średnia"})
FOOTER_ROWS = 2          # an export's summary footer: a totals row, an averages row, or both
MIN_ABOVE_FOOTER = 3     # rows above a footer that its sums or means can be checked against
NOTE_LINES = 3           # lines of notes under a table ("Exported by ...", "Source: the shop")


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def totals_label_in(path: str, size: int, mtime_ns: int, encoding: str) -> Optional[str]:
    """The summary word ("Total", "Summe:", "Average") a CSV's last non-empty line above its notes
    (notes_in) writes as a field of its own, as written; None where it writes none."""
    records = _tail_in(path, size, mtime_ns, encoding)
    above = records[:len(records) - notes_in(path, size, mtime_ns, encoding)]
    return next((field for field in above[-1] if _summary_kind(field)), None) if above else None


@functools.lru_cache(maxsize=16)   # identity and reading ask for the same file
def notes_in(path: str, size: int, mtime_ns: int, encoding: str) -> int:
    """How many of a CSV's last non-empty lines (up to NOTE_LINES) may be notes (_note): the first
    field alone filled, with text. note_rows decides on the rows; this says where to look."""
    records = _tail_in(path, size, mtime_ns, encoding)
    n = 0
    while n < min(NOTE_LINES, len(records) - 1) and _note(records[-1 - n]):
        n += 1
    return n


@functools.lru_cache(maxsize=16)
def _tail_in(path: str, size: int, mtime_ns: int, encoding: str) -> tuple[tuple[str, ...], ...]:
    """A CSV's last non-empty lines as records (fields stripped), the first cut line left out. Its
    end alone is read: every study start asks."""
    try:
        sep, _ = csv_delimiter(Path(path), encoding)
        with open_bytes(path) as f:
            if Path(path).suffix.lower() not in PACKED:   # a packed file's end is read through the rest
                f.seek(max(0, size - 8192))
            tail = f.read()[-8192:].decode(encoding, errors="replace")
    except Exception:   # not text, not CSV: reading the table raises the one-line error
        return ()
    lines = [line for line in tail.splitlines()[1:] if line.strip(f' \t"{sep}')]
    try:
        return tuple(tuple(field.strip().strip('"').strip() for field in fields)
                     for fields in csv.reader(lines, delimiter=sep, skipinitialspace=True))
    except csv.Error:   # a quote left open: reading the table says so
        return ()


def _note(fields: tuple[str, ...]) -> bool:
    """Whether a line's fields (stripped; a row's values as text, "" for missing ones) are a note's:
    the first alone filled, with a letter, and no summary word (a footer's label line, "Grand Total")."""
    return len(fields) > 0 and bool(re.search(r"[^\W\d_]", fields[0])) and not _summary_kind(fields[0]) \
        and not any(fields[1:])


def _summary_kind(value) -> str:
    """"sum" for a total word ("Total", "Summe:"), "mean" for an average word ("Average",
    "Mittelwert"), "" for any other value."""
    word = _summary_word(value)
    return "sum" if word in TOTAL_WORDS else "mean" if word in AVERAGE_WORDS else ""


def _summary_word(value) -> str:
    """A value as a summary word is compared: "Summe: " is "summe"; "" for a value that is no text."""
    return value.strip().rstrip(":").strip().casefold() if isinstance(value, str) else ""


def drop_footer(version: Optional[tuple], frame: pd.DataFrame, sep: str) -> tuple[pd.DataFrame, list[dict], list[str]]:
    """The rows of a CSV (its csv_version) without an export's footer: its notes (note_rows), then
    its summaries (footer_rows); with what each summary row was and the notes' text ([] when none).
    A CSV's rule alone (its identity records both: later_rules' "totals_row" and "footer_notes")."""
    if not version:
        return frame, [], []
    notes = note_rows(frame) if notes_in(*version) else []
    written = [str(frame.at[at, frame.columns[0]]).strip() for at in notes]
    frame = frame.drop(index=notes)
    if not totals_label_in(*version):
        return frame, [], written
    at, rows = footer_rows(frame, sep)
    return frame.drop(index=at), rows, written


def note_rows(frame: pd.DataFrame) -> list:
    """The index of the notes under a table, in file order: its last filled rows (up to NOTE_LINES)
    that are notes (_note) unlike the first column's values above (_unlike), under at least
    MIN_ABOVE_FOOTER rows, most of them of two values or more. Kept, a note was a class of a target
    in the first column ("Exported by SomeTool on ...": one row), or a text among its numbers."""
    if frame.shape[1] < 2:
        return []
    counts = frame.notna().sum(axis=1)
    filled = list(counts[counts > 0].index)
    notes = []
    for k in range(1, min(NOTE_LINES, len(filled) - MIN_ABOVE_FOOTER) + 1):
        at, above = filled[-k], frame.loc[filled[:-k], frame.columns[0]]
        fields = tuple("" if pd.isna(v) else str(v).strip() for v in frame.loc[at])
        if not (_note(fields) and _unlike(fields[0], above)):
            break
        notes.insert(0, at)
    above = counts[filled[:len(filled) - len(notes)]]
    return notes if notes and above.median() >= 2 else []


def _unlike(note: str, above: pd.Series) -> bool:
    """Whether a note's text is unlike the values of the column it stands in: that column holds
    numbers above it, or the note is words (two or more) longer than any of its values. A name
    ("Zoe", "Zoe Smith" among names) or a class ("maybe" under yes and no) alone on the last row is
    a row of data with blanks, as before (missing: refuse refuses it)."""
    values = above.dropna()
    if values.empty:
        return False
    if pd.api.types.is_numeric_dtype(values) or as_number(values.astype(str), NUMBER_SHARE) is not None:
        return True
    return len(note.split()) >= 2 and len(note) > int(values.astype(str).str.strip().str.len().max())


def footer_rows(frame: pd.DataFrame, sep: str) -> tuple[list, list[dict]]:
    """The index of the footer rows (drop_footer) and for each {"label", "column", "kind": sum
    or mean, "sums": the columns that hold it}; the most rows that all are summaries of the rows
    above them, at least MIN_ABOVE_FOOTER rows."""
    filled = frame.notna().any(axis=1)
    last = list(filled[filled].index)
    commas, dots = file_commas(frame, sep), frame.attrs.get("dot_thousands", {})
    for k in range(min(FOOTER_ROWS, len(last) - MIN_ABOVE_FOOTER), 0, -1):
        above = frame.loc[:last[-k]].iloc[:-1]
        rows = [_summary_row(frame.loc[at], above, commas, dots) for at in last[-k:]]
        if all(rows):
            return last[-k:], rows
    return [], []


def _summary_row(row: pd.Series, above: pd.DataFrame, commas: str, dots: dict) -> dict:
    """What `row` summarizes of the rows `above` it: its summary word's column and the columns that
    hold the sum or mean the word says (none where the word is its only value: a footer's label line,
    "Grand Total" and blanks, whose blanks made an id column look blank somewhere); {} where it has
    no such word, or other values of which none is such a sum or mean. A word its column writes
    above is a value of that column, no label ("mean" among mean/max/sum pooling)."""
    where = [c for c in row.index if _summary_kind(row[c]) and not _written_above(row[c], above[c])]
    if not where:
        return {}
    kind = _summary_kind(row[where[0]])
    sums = [str(c) for c in row.index if c not in where and _summarizes(row[[c]], above[c], commas, c in dots, kind)]
    alone = row.drop(index=where[:1]).isna().all()
    return {"label": row[where[0]], "column": str(where[0]), "kind": kind, "sums": sums} if sums or alone else {}


def _written_above(word: str, above: pd.Series) -> bool:
    return bool(above.map(_summary_word).eq(_summary_word(word)).any())


def _summarizes(value: pd.Series, above: pd.Series, commas: str, dots: bool, kind: str) -> bool:
    """Whether `value` (one row's) is the sum (kind "sum") or the mean ("mean") of the column's
    values `above` it, read as numbers: to 0.1%, or a mean rounded to the decimals it writes (3.46)."""
    both = pd.concat([above, value], ignore_index=True)
    if is_text(both):
        both = read_numbers(both, NUMBER_SHARE, commas, dot_groups=dots)[0]
    elif not pd.api.types.is_numeric_dtype(both) or pd.api.types.is_bool_dtype(both):
        return False
    if both is None or pd.isna(both.iloc[-1]) or both.iloc[:-1].notna().sum() < 2:
        return False
    written, numbers = float(both.iloc[-1]), both.iloc[:-1].dropna().astype(float)
    summary = float(numbers.sum()) if kind == "sum" else float(numbers.mean())
    if summary == 0:
        return False
    if abs(written - summary) <= 1e-3 * abs(summary):
        return True
    decimals = next((d for d in range(7) if round(written, d) == written), 0)   # 3.0: 0, not a rounded mean
    return kind == "mean" and decimals > 0 and round(summary, decimals) == written
