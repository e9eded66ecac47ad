"""The identity of a dataset's study: what its configuration hash covers, and why. Two runs of a
study file share their cells (resume, add seeds or arms) exactly when this hash is the same;
the Optuna study is named after it and every MLflow run is tagged with it (config_hash).
study.build_study computes it for each plan."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

from .datasets import REGISTRY as DATASETS
from .errors import UsageError
from .table_identity import dot_thousands, later_rules, number_marks
from .datasets import legacy_normalization, normalization, target_standardized
from .study_schema import DEFAULT_TUNE_BATCH

# Bump when training semantics change, so old studies are never resumed with new code.
SCHEMA_VERSION = 1


def fingerprint(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# The identity of a dataset's study: what config_hash hashes, and what it leaves out.
#
# It hashes everything that defines what a cell computes: the dataset and its loading options (a
# table file's contents too: table_digest),
# the merged training settings, the split seed, the tune block and SCHEMA_VERSION. Arms and
# seeds are the grid, not the configuration: adding some resumes a study. So are an untuned study's
# strength values (CELL_STRENGTHS, below): its cells are named by them, as a path's points are.
#
# It leaves out the execution settings (engine, population_size, device, workers): they decide
# how the cells are computed, not what. Every random draw of a cell is a function of its seed
# alone (streams.py: initialization, batch order and dropout masks, whatever the engine, the
# population it lands in or the device), so on CPU the population engine reproduces the
# reference trainer up to float rounding (~1e-7 in the weights; tests/test_population.py), and a
# cell's numbers do not depend on population_size at all. A CUDA device rounds differently again.
# The report lists the engines and devices its runs came from, and warns when it mixes them.
# It leaves out a dataset's `metric` unless the study tunes: every trial records every metric of
# its family on every split, and the primary one is chosen when results are read (task.read_in),
# so changing it retrains nothing; tuning optimizes it, so there it defines the cells.
#
# LEGACY_IDENTITY: before the execution block, engine, population_size and device were hashed.
# Their default values stay in the payload as constants, so a study run with the defaults keeps
# its identity (and resumes) across that change; one run with other values gets a new identity
# once (its earlier runs are then counted in the report as another configuration, not mixed in).
LEGACY_IDENTITY = {"training": {"engine": "population", "population_size": 10}, "device": "auto"}


# Where a dataset's data lies, not what it is: a table's path (its contents are hashed instead:
# table_digest), a torchvision dataset's folder and whether it may download. Left out, so that a
# copy of the data at another path (a worker's machine mounts it elsewhere, a project moved or the
# path spelled another way) is the same study. Studies started before hashed them as written (a
# plan's `located_hash`): Study.adopted keeps that identity for a study its stores hold under it.
# Written as constants, not dropped, so the identity of a dataset that sets none stays as it was.
LOCATION_DEFAULTS = {"root": None, "download": True}
TABLE_PATH = "(its contents: data_sha256)"


# Dataset options added after studies were first written: hashed only when set, so that adding an
# option never changes the identity of a study that does not use it. What such an option changes
# when unset is hashed explicitly (the images' default normalization, below).
# The version of how tables are read and prepared (tables.py, datasets.standardize_target). Rules
# that change a table's numbers bump it, so a table's study run before starts afresh instead of
# mixing runs of two preparations. 2: regression targets standardized; numbers written as text
# parsed, id-like/constant/date/free-text columns dropped, "?" missing, labels stripped. 3: European
# 1.234,56 read as numbers; Parquet category columns tidied like text. 4: decimal commas settled by
# a value only a decimal explains (0,459) or a semicolon-separated file (a column of 1,716s alone);
# units with a power (3489 m2) are units. Later rules are hashed only for the tables they read
# otherwise (no restart for the rest): points as thousands in a file of decimal commas ("dot_thousands");
# Swiss apostrophes (58'924.68), SAP's trailing minus (6.376,29-), 3,29E+05, amounts in k or M beside numbers
# written out (949, 2.4k: "magnitudes") and after one currency code (EUR 86,23: "currency_code") ("number_marks");
# pandas' missing markers padded with spaces ("n/a ": "padded_missing"); a lone dash in
# the target read as missing ("target_dashes"); ids named CustomerNo or order_number, where such a
# column is dropped as an id ("id_names"); an export's footer rows of totals or means, where they are
# dropped ("totals_row", the labels dropped); "None" a class of a target of words ("target_none"); lines
# of separators alone left out, where one made a column look blank somewhere ("empty_rows"); text
# columns at least 95% distinct dropped ("nearly_unique"); digit codes with leading zeros, ZIP codes,
# and months written 08.2023, kept as text ("zero_codes"); a separator ending every row, read shifted before ("trailing_separators");
# lines repeating the header, rows of data before ("header_rows": how many); a title above the header ("title"); a row of units under it, a row of data before ("units_row"); a categorical column's gaps a category of their own ("text_missing": the
# columns, read as tables.read reads them, _gapped_categories); a missing_values marker that writes a number
# as text ("0"), which matches that number in a column of numbers ("number_markers": it matched none there);
# values beyond a measurement's limit (<0.5) read as the limit in a column of numbers ("limits": categories or missing before);
# a spreadsheet's errors (#DIV/0!) missing, where they were a category or made a column categories ("spreadsheet_errors"). A Parquet table's identity records those that can read it otherwise
# (target_dashes, id_names, empty_rows: a row missing in every column, nearly_unique; the others are a
# CSV reader's): it recorded none before, so a Parquet study started then and read otherwise now
# starts afresh; a Parquet table none of them reads otherwise keeps its identity.
TABLE_RULES = 4
NEW_DATASET_FIELDS = ("normalize", "preprocess", "encoding", "metric", "standardize_target", "class_weight", "stratify")
# ... and the preprocess block's fields added after it (hashed only when set).
NEW_PREPROCESS_FIELDS = ("target_classes",)
# The same for training settings (precision: tf32 changes the numbers; fp32 is what was always run).
NEW_TRAINING_FIELDS = ("precision",)


def _dataset_identity(dataset, tuned: bool, located: bool = False, as_written: bool = False) -> dict:
    if not (located or as_written):
        dataset = _defaults_unwritten(dataset)
    dump = dataset.model_dump(mode="json")
    if not located:
        dump.update(LOCATION_DEFAULTS, **({"path": TABLE_PATH} if dump.get("path") is not None else {}))
    for name in NEW_DATASET_FIELDS:
        if getattr(dataset, name) == type(dataset).model_fields[name].default:
            dump.pop(name)
    for name in NEW_PREPROCESS_FIELDS:   # a preprocess block written before them keeps its identity
        if name in dump.get("preprocess", {}) and not dump["preprocess"][name]:
            dump["preprocess"].pop(name)
    if not tuned:   # the metric only reads the results (task.read_in); tuning optimizes it
        dump.pop("metric", None)
    if normalization(dataset) != legacy_normalization(dataset):  # images: pixels/255, no longer per-feature
        dump["normalization"] = normalization(dataset)
    if DATASETS[dataset.name].is_table:
        dump["table_rules"] = TABLE_RULES
        dump["data_sha256"] = table_digest(dataset)
        if dots := dot_thousands(dataset):
            dump["dot_thousands"] = sorted(dots)
        if marks := number_marks(dataset):
            dump["number_marks"] = {mark: sorted(columns) for mark, columns in marks.items()}
        dump.update(later_rules(dataset))
        if numbered := _number_markers(dataset):   # they matched nothing in a column of numbers before ("0" is 0 now)
            dump["number_markers"] = list(numbered)
        if gapped := _gapped_categories(dataset):
            dump["text_missing"] = list(gapped)
        if limited := _limited_columns(dataset):   # categories or missing before (<0.5 is 0.5 now)
            dump["limits"] = list(limited)
        if errors := _spreadsheet_error_columns(dataset):   # a category before, or the column categories
            dump["spreadsheet_errors"] = list(errors)
    if dataset.stratify and dataset.train_size:   # the training subset in the classes' shares (splits._interleaved)
        dump["train_order"] = "stratified"
    return dump


def _defaults_unwritten(dataset):
    """The dataset with the settings written out at the value they default to as if unwritten
    (`task: auto`, `encoding: utf-8`, `normalize: per_feature` on a table, `standardize_target:
    true` on one), so that writing a default out is the same study. Studies started before hashed
    them as written (a plan's written_hash): Study.adopted keeps that identity for a study its
    stores hold under it."""
    import codecs

    unset = {}
    if dataset.task == "auto":
        unset["task"] = None
    try:
        if dataset.encoding and codecs.lookup(dataset.encoding).name == "utf-8":
            unset["encoding"] = None
    except LookupError:   # reading the table says so
        pass
    if dataset.normalize and dataset.normalize == normalization(dataset.model_copy(update={"normalize": None})):
        unset["normalize"] = None
    if dataset.standardize_target is not None and \
            dataset.standardize_target == target_standardized(dataset.model_copy(update={"standardize_target": None})):
        unset["standardize_target"] = None
    return dataset.model_copy(update=unset) if unset else dataset


def _number_markers(dataset) -> tuple:
    """The columns where a missing_values marker that writes a number as text ("0", "-999") marks
    values: it does as a number since tables.number_marker, and matched none there before. Read
    (as tables.read reads the table) only where the study has such a marker."""
    from . import tables

    if not any(tables.number_marker(v) for values in dataset.preprocess.missing_values.values() for v in values) \
            or (version := tables.version_of(dataset)) is None:
        return ()
    return _read_findings_in(version).number_markers


def _gapped_categories(dataset) -> tuple:
    """The categorical columns (text, booleans, dates: column_checks.is_categorical) whose gaps are
    imputed, as tables.read reads the table (its markers, drops and parsing): their gaps became a
    category of their own (table_features.MISSING_CATEGORY), where the most frequent value was imputed before.
    Exact, where a scan of the file would have to repeat tables.read's rules; () where the table
    cannot be read (reading it to train says why) or its gaps are not imputed (drop, refuse)."""
    from . import tables

    if dataset.preprocess.missing != "impute" or (version := tables.version_of(dataset)) is None:
        return ()
    return _read_findings_in(version).gapped


def _limited_columns(dataset) -> tuple:
    """The feature columns whose values beyond a measurement's limit (<0.5) read as the limit
    (written_numbers.LIMIT), as tables.read reads the table: such a column was categories, or those
    values missing, before. Read only where the file may write such a value (table_measures.limits_written)."""
    from . import table_measures, tables

    if (version := tables.version_of(dataset)) is None or not table_measures.limits_written(dataset):
        return ()
    return _read_findings_in(version).limits


def _spreadsheet_error_columns(dataset) -> tuple:
    """The columns whose spreadsheet errors (#DIV/0!) are missing now and that read otherwise before
    (a category of them; a column of numbers with too many of them, categories; the target's, a
    class), as tables.read reads the table. Read only where the file may write one."""
    from . import table_measures, tables

    if (version := tables.version_of(dataset)) is None or not table_measures.spreadsheet_errors_written(dataset):
        return ()
    return _read_findings_in(version).spreadsheet_errors


class ReadFindings(NamedTuple):
    """What one reading of a table (tables.read_ahead) tells the identity's later rules, each the
    sorted names of the columns it finds: categorical columns with imputed gaps (_gapped_categories),
    columns a number written as a marker marks (_number_markers), columns read with limits
    (_limited_columns), columns whose spreadsheet errors read otherwise before (_spreadsheet_error_columns)."""
    gapped: tuple = ()
    number_markers: tuple = ()
    limits: tuple = ()
    spreadsheet_errors: tuple = ()


@functools.lru_cache(maxsize=16)   # a plan is built several times per command: read a table once
def _read_findings_in(version: tuple) -> ReadFindings:
    """The ReadFindings of a table version (tables.version_of: the dataset as JSON first), from one
    reading; none found where it cannot be read (reading it to train says why)."""
    from . import column_checks, tables
    from .study_schema import DatasetSpec

    spec = DatasetSpec.model_validate_json(version[0])
    try:
        frame, _, record = tables.read_ahead(spec)
    except UsageError:
        return ReadFindings()
    return ReadFindings(
        gapped=tuple(sorted(str(c) for c in frame.columns if column_checks.is_categorical(frame[c]) and frame[c].isna().any())),
        number_markers=tuple(sorted(str(c) for c in record.get("number_markers", {}))),
        limits=tuple(sorted(str(c) for c in record.get("limits", {}))),
        spreadsheet_errors=tuple(sorted(str(c) for c, found in record.get("spreadsheet_errors", {}).items()   # not dropped either way
                                        if found["read_otherwise"] and (c in frame or c == spec.target))))


def table_digest(dataset) -> str:
    """A table file's contents (sha256, 12 hex digits), part of its study's identity: the cells are
    of that data, so an edited file is another study, not more seeds of this one (its runs would be
    pooled with the old file's). Contents, not the modification time: workers on other machines
    with a byte-identical copy, wherever it lies, join the same study (the path is not hashed:
    LOCATION_DEFAULTS). Every command needs the file, `report` too:
    without it the study's runs cannot be told from another file's."""
    path = Path(dataset.path)
    try:
        stat = path.stat()
        return _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError as e:
        where = "" if path.is_absolute() else f" (relative paths are read from the working directory: {path.resolve()})"
        what = f"a directory, not a CSV or Parquet file{_tables_in(path)}" if path.is_dir() else \
            "file does not exist" if not path.exists() else f"cannot be read ({e.strerror})"
        raise UsageError(f"dataset {dataset.display}: field 'path' = {dataset.path!r}: {what}{where}; a table's contents "
                         "are part of its study's identity, so every command, report too, needs the file") from None


def _tables_in(folder: Path) -> str:
    """The tables a folder given as a table's path holds, as the fix ("; give one file in it (diabetes.csv)")."""
    try:
        files = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".csv", ".parquet", ".tsv", ".txt"))
    except OSError:
        return ""
    return f"; give one file in it ({', '.join(files[:5])}{', ...' if len(files) > 5 else ''})" if files else ""


@functools.lru_cache(maxsize=64)   # a plan is built several times per command: read a big file once
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def _training_identity(training) -> dict:
    dump = training.model_dump(mode="json")
    for name in NEW_TRAINING_FIELDS:
        if getattr(training, name) == type(training).model_fields[name].default:
            dump.pop(name)
    return dump


def config_hash(spec, dataset, training, located: bool = False, as_written: bool = False,
                with_strengths: bool = False) -> str:
    """The identity of one dataset's study (see the rule above): `spec` a study.StudyFile,
    `dataset` a study.DatasetSpec, `training` its merged study.Training. `located`: as studies
    started before hashed it, with the data's location (LOCATION_DEFAULTS) and the settings as
    written; `as_written`: as studies started before _defaults_unwritten hashed it (both with the
    strengths, as they were); `with_strengths`: as studies started before an untuned study's
    strengths left it (CELL_STRENGTHS)."""
    return fingerprint(_identity(spec, dataset, training, located, as_written, with_strengths))


def identity_record(spec, dataset, training, with_strengths: bool = False) -> dict:
    """What config_hash hashes, as JSON: recorded on the dataset's Optuna study, so that a worker
    whose configuration differs is told which settings differ (settings_differences).
    `with_strengths`: a plan that keeps an identity with its strengths (DatasetPlan.own_points false)."""
    return json.loads(json.dumps(_identity(spec, dataset, training, with_strengths=with_strengths), default=str))


# CELL_STRENGTHS: an untuned study's strength values are its cells', not its identity's: each arm's
# cells are named by the strength they train with (study.Study.points: "l2=0.001", as a path's point
# is), so a strength changed in the study file trains the arms that use it again and no other (they
# retrained every arm, none's too, when the strengths were hashed). l2_mode and penalize_bias stay
# hashed: a point's name does not say them. A tuned study hashes its strengths: where tuning finds
# none, they are what its grid trains with, under the arm's own point "". Studies started before
# hashed them (a plan's strengths_hash, and its located_hash and written_hash): Study.adopted keeps
# that identity, and the cells named "" it holds, for a study its stores hold under it.
CELL_STRENGTHS = ("dropout", "l1", "l2", "dropout_l2")


def _identity(spec, dataset, training, located: bool = False, as_written: bool = False,
              with_strengths: bool = False) -> dict:
    # tune.batch written at its default is hashed as unset, as the dataset's defaults are
    unset = spec.tune is not None and (spec.tune.batch is None or (spec.tune.batch == DEFAULT_TUNE_BATCH
                                                                    and not (located or as_written)))
    trained = _training_identity(training)
    if spec.tune is None and not (located or as_written or with_strengths):
        trained["strengths"] = {k: v for k, v in trained["strengths"].items() if k not in CELL_STRENGTHS}
    return {
        "schema": SCHEMA_VERSION,
        "study": spec.name,
        "dataset": _dataset_identity(dataset, tuned=spec.tune is not None, located=located, as_written=as_written),
        "training": {**trained, **LEGACY_IDENTITY["training"]},
        "split_seed": spec.split_seed,
        "device": LEGACY_IDENTITY["device"],
        # tuned strengths are a deterministic function of the tune block (seeded TPE, seeded training)
        "tune": spec.tune.model_dump(mode="json", exclude={"batch"} if unset else None)
        if spec.tune else None,
    }


def settings_differences(theirs: dict, mine: dict, most: int = 3) -> list[str]:
    """The settings two identity records differ in, "training.epochs 300 there, 250 here"."""
    a, b = flat_record(theirs), flat_record(mine)
    said = [f"{key} {json.dumps(a.get(key))} there, {json.dumps(b.get(key))} here" for key in differing_keys(theirs, mine)]
    return said[:most] + ([f"{len(said) - most} more"] if len(said) > most else [])


def differing_keys(theirs: dict, mine: dict) -> list[str]:
    """The dotted names of the settings two identity records differ in, sorted ("training.epochs")."""
    a, b = flat_record(theirs), flat_record(mine)
    return [key for key in sorted(a.keys() | b.keys()) if a.get(key) != b.get(key)]


def flat_record(record: dict) -> dict:
    """An identity record's settings by dotted name."""
    def flat(record, prefix=""):
        out = {}
        for key, value in record.items():
            if isinstance(value, dict) and value:
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    return flat(record)
