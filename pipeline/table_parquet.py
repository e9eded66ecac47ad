"""A Parquet table's file read (table_reading.read_file reads with it): its rows with their category
columns as plain values and durations as seconds, its columns of text holding codes with leading
zeros (02139), and what its schema says before the rows are read: nested columns (refused unless
dropped), durations, text columns and columns that may hold a missing value (table_identity.py)."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from .errors import UsageError
from .table_files import TEXT_MISSING, code_columns, dataset_name, file_stamp, header_name

# `spec` below is a study_schema.DatasetSpec, left unannotated (see tables.py).


def refuse_nested(spec, path: Path) -> None:
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
    return code_columns(frame, target)


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
