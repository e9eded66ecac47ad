"""The study file's schema: the typed, validated objects a YAML study file becomes (pydantic
models with scikit-learn-style messages on bad values). study.py reads a file into them, merges
per-dataset settings and builds the `Study` everything downstream receives."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError,
                      field_validator, model_validator)

from . import arms as arms_mod
from .arms import variant_id
from .datasets import KIND_OPTIONS
from .datasets import REGISTRY as DATASETS
from .metric_numbers import quantity
from .tables import written_label
from .task import METRICS
from .tutorial_words import ANY_TABLE, not_a_dataset, not_an_arm

# Seeds are the streams every random draw of a trial comes from, and an Optuna param of its
# trial (an IntDistribution from 0 to grid.SEED_HIGH).
SEED_MAX = 2**31 - 1
# Upper bounds that only a typo reaches (epochs: 1e12 trained for ever; seeds: 1e12 died of a
# MemoryError listing them; tune.trials: 1e9 tuned for ever): a grid is refused past preflight.MAX_CELLS anyway.
MAX_EPOCHS, MAX_SEED_COUNT, MAX_TUNE_TRIALS = 1_000_000, 1_000_000, 1_000_000


def _check_seed_range(seeds: list[int]) -> list[int]:
    bad = [x for x in seeds if not 0 <= x <= SEED_MAX]
    if bad:
        raise ValueError(f"seed {bad[0]} is out of range: seeds are integers from 0 to {SEED_MAX}")
    return seeds

Probability = Annotated[float, Field(ge=0.0, lt=1.0)]


def _above_zero(strength: float) -> float:
    if not strength > 0:
        raise ValueError(f"{strength:g} is not allowed: a path's strengths are greater than 0 (strength 0 is the arm "
                         "none, which every point is compared with and drawn beside)")
    return strength


PathStrength = Annotated[float, AfterValidator(_above_zero)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)   # lr: .inf trained one diverging run

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: Any) -> Any:
        """YAML's true/yes are not numbers: pydantic would read `epochs: true` as 1."""
        kinds = field_kinds(cls.model_fields[info.field_name].annotation)
        if isinstance(value, bool) and bool not in kinds and kinds & {int, float}:
            raise ValueError(f"expected a number, not {str(value).lower()}")
        # A quoted number is text the file's author meant as a string somewhere else (`'5'`):
        # pydantic would read it as 5; numbers are written without quotes.
        # So is one in a field that also takes a list or a block (seeds: '5', population_size: '4'): a
        # number's text there, not a word of its own (auto).
        if isinstance(value, str) and str not in kinds and kinds and (kinds <= {int, float} or (kinds & {int, float}
                                                                                               and _a_number(value))):
            raise ValueError(f"expected a number, not the text {value!r} (write numbers without quotes)")
        items = set().union(*(field_kinds(get_args(k)[0]) for k in kinds if get_origin(k) is list and get_args(k)))
        if isinstance(value, list) and str not in items and items & {int, float} and \
                (text := next((v for v in value if isinstance(v, str) and _a_number(v)), None)) is not None:
            raise ValueError(f"expected numbers, not the text {text!r} (write numbers without quotes)")
        if isinstance(value, list) and bool not in items and items & {int, float} and any(isinstance(v, bool) for v in value):
            raise ValueError(f"expected numbers, not {str(next(v for v in value if isinstance(v, bool))).lower()}")
        return value


def _a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def column_name(value: Any) -> Any:
    """A column named by a number (a header of years: `target: 2021`) is that header's text: YAML
    reads the unquoted name as a number, which pydantic refused as "not a valid string"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def field_kinds(annotation: Any) -> set:
    """The plain types an annotation admits (through Annotated, Optional and Union)."""
    import types

    origin = get_origin(annotation)
    if origin is Annotated:
        return field_kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return set().union(*(field_kinds(a) for a in get_args(annotation)))
    return {annotation}


class ModelSpec(_Strict):
    hidden: list[Annotated[int, Field(gt=0)]] = Field(default=[64, 64], min_length=0)   # []: a linear model (no hidden layer, no dropout)
    activation: Literal["relu", "tanh"] = "relu"


class OptimizerSpec(_Strict):
    name: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(default=0.1, gt=0.0)
    momentum: float = Field(default=0.0, ge=0.0, lt=1.0)


class EarlyStopping(_Strict):
    """Stop when validation loss has not improved for `patience` epochs; keep the best weights."""

    patience: int = Field(default=5, gt=0)
    min_delta: float = Field(default=0.0, ge=0.0)


class CombinedStrengths(_Strict):
    dropout: Optional[Union[Probability, list[Probability]]] = None
    l2: Optional[float] = Field(default=None, ge=0.0)


class Strengths(_Strict):
    """Regularizer strengths. dropout: one p for every hidden layer or one per hidden layer.

    l2_mode: 'penalty' adds l2/2 * sum(w^2) to the loss; 'weight_decay' passes l2 to the
    optimizer's (coupled) weight_decay on weight matrices, which gives the same numbers;
    'decoupled' shrinks weights by lr*l2 each step outside the gradient (AdamW-style), which
    differs from the other two under Adam and momentum.
    """

    dropout: Union[Probability, list[Probability]] = 0.5
    l1: float = Field(default=1e-4, ge=0.0)
    l2: float = Field(default=1e-3, ge=0.0)
    l2_mode: Literal["penalty", "weight_decay", "decoupled"] = "penalty"
    penalize_bias: bool = False
    # dropout+L2 uses `dropout` and `l2` unless given its own values here.
    dropout_l2: CombinedStrengths = CombinedStrengths()


class Training(_Strict):
    """Everything that determines how one grid cell is trained (the seed aside)."""

    model: ModelSpec = ModelSpec()
    optimizer: OptimizerSpec = OptimizerSpec()
    strengths: Strengths = Strengths()
    batch_size: int = Field(default=64, gt=0)
    epochs: int = Field(default=20, gt=0, le=MAX_EPOCHS)
    early_stopping: Optional[EarlyStopping] = None
    # fp32: full float32 matmuls everywhere. tf32: TensorFloat-32 matmuls on CUDA (Ampere and
    # later: ~7x the fp32 throughput, 10-bit mantissa inputs), so the numbers change; no effect
    # on CPU. Added later: hashed only when set (NEW_TRAINING_FIELDS).
    precision: Literal["fp32", "tf32"] = "fp32"

    @model_validator(mode="after")
    def _dropout_matches_layers(self) -> "Training":
        n_hidden = len(self.model.hidden)
        for field, p in (("strengths.dropout", self.strengths.dropout),
                         ("strengths.dropout_l2.dropout", self.strengths.dropout_l2.dropout)):
            if isinstance(p, list) and len(p) != n_hidden:
                raise ValueError(f"field '{field}' = {p}: {len(p)} p's, one per hidden layer, but model.hidden = "
                                 f"{list(self.model.hidden)} has {n_hidden} layer{'' if n_hidden == 1 else 's'}; "
                                 "give one p per hidden layer or a single number")
        return self


TRAINING_KEYS = tuple(Training.model_fields)


class Execution(_Strict):
    """How cells are computed, not what: left out of a study's identity (see config_hash)."""

    # population: up to population_size grid cells trained together as one stacked model
    # (population.py); reference: one model at a time (train.py), the yardstick.
    engine: Literal["population", "reference"] = "population"
    # auto: on CUDA as many cells of a dataset as fit a memory budget (population.auto_size), on
    # CPU the size that measured best there (BENCHMARKS.md). Resolved when the study is built
    # (build_study), so every plan holds a number; `population_auto` says it was auto.
    population_size: Union[Literal["auto"], Annotated[int, Field(gt=0)]] = "auto"
    # auto: CUDA when present and the model's work per step is large enough to gain from it
    # (trainer_common.resolve_device), else the CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    workers: int = Field(default=1, gt=0)   # worker processes of `ablation` on this machine

    _auto: bool = PrivateAttr(default=False)   # population_size was auto (set by build_study)

    @property
    def population_auto(self) -> bool:
        return self._auto

    def resolved(self, cells: int) -> "Execution":
        """This block with population_size a number: auto becomes auto_population_size(...)."""
        if self.population_size != "auto":
            return self
        out = self.model_copy(update={"population_size": auto_population_size(self.device, cells)})
        out._auto = True
        return out


# population_size: auto on the CPU: the size that measured best on 2 cores (BENCHMARKS.md,
# issue 14): small data is per-step overhead, 10 models cost about 2x one; beyond that the
# batched matmuls are compute bound and larger populations were no faster, then slower.
CPU_POPULATION_SIZE = 10
# On CUDA auto pops up to this many cells of a dataset at once (the whole grid of most studies);
# the population engine trains them in sub-populations that fit its memory budget
# (population.cuda_fit). The H100 measurements of issue 14 flatten out from K = 100 on.
CUDA_POPULATION_CAP = 256


def auto_population_size(device: str, cells: int) -> int:
    """population_size: auto, for the device setting and a dataset's number of grid cells."""
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return max(1, min(cells, CUDA_POPULATION_CAP))
    return CPU_POPULATION_SIZE


EXECUTION_KEYS = tuple(Execution.model_fields)
# Spellings from before the execution block: still read, with a note. Per dataset only the first
# two were allowed (they were training settings).
LEGACY_EXECUTION_KEYS = ("engine", "population_size", "device")


class Preprocess(_Strict):
    """How a table (csv, parquet) is prepared; everything is fit on the training rows only
    (tables.py). The defaults work on a typical messy table."""
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=True)   # missing_values: [.inf] is a marker

    missing: Literal["impute", "drop", "refuse"] = "impute"   # impute: numbers the median (+ indicator), text a "(missing)" category
    missing_values: dict[str, list[Union[float, str]]] = {}    # per column, values that mean "missing" (Pima's 0s)
    categorical: Literal["onehot", "ordinal"] = "onehot"        # non-numeric columns; unseen categories ignored
    drop_columns: list[str] = []                                # ids, leaks, free text
    keep_columns: list[str] = []   # kept even where tables.py would drop or refuse them (id-like, nearly unique
    #                                or free text, dates, a category of over 1,000 values)
    # target labels read as another class: {"no ": "No", "Sick": "sick"} merges what the file spells
    # apart; labels as the file writes them (spaces trimmed), numbers as written (3, 0.5)
    target_classes: dict[str, str] = {}

    @field_validator("drop_columns", "keep_columns", mode="before")
    @classmethod
    def _columns_named_by_numbers(cls, value: Any) -> Any:
        return [column_name(v) for v in value] if isinstance(value, list) else value

    @field_validator("missing_values", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, value: Any) -> Any:
        """`Churn: [no]` is YAML's false, which pydantic would take for 0.0: it would mark the zeros
        of a numeric column missing and nothing in a yes/no one."""
        for column, values in (value.items() if isinstance(value, dict) else ()):
            for v in (values if isinstance(values, list) else [values]):
                if isinstance(v, bool):
                    raise ValueError(f"column {column!r} lists {str(v).lower()}: YAML reads unquoted yes, no, on, off, "
                                     f"true and false as booleans; quote the value as the file writes it "
                                     f"({column}: [\"{'yes' if v else 'no'}\"])")
        return {column_name(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("target_classes", mode="before")
    @classmethod
    def _labels_as_written(cls, value: Any) -> Any:
        """Labels are text as the file writes them: YAML's unquoted no is a boolean, and 3 an int."""
        if not isinstance(value, dict):
            return value
        for label in (*value, *value.values()):
            if label is None or isinstance(label, (list, dict)):   # null was the class "None", [b] the class "['b']"
                raise ValueError(f"lists {label!r}: each entry maps a label as the file writes it to the class it is "
                                 "read as, both text or numbers (\"no \": \"No\")")
            if isinstance(label, bool):
                raise ValueError(f"lists {str(label).lower()}: YAML reads unquoted yes, no, on, off, true and false as "
                                 f"booleans; quote labels as the file writes them (\"{'yes' if label else 'no'}\")")
        return {written_label(k).strip(): written_label(v).strip() for k, v in value.items()}   # 1.0 is "1", as read


def _one_is_ambiguous(value: Any) -> Any:
    """`train_size: 1` reads as all rows (1.0) to some and as one row to others: neither is assumed."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 1:
        raise ValueError("1 is ambiguous: write 1.0 for every training row, or a count of at least 2")
    return value


# A training-set size: a count of rows (at least 2), or a fraction of the training split.
TrainSize = Annotated[Union[Annotated[int, Field(gt=1)], Annotated[float, Field(gt=0.0, le=1.0)]],
                      BeforeValidator(_one_is_ambiguous)]


def _expanded(value: Optional[str]) -> Optional[str]:
    """A file or folder with ~ and $VARIABLES expanded, as a shell would: one study file can name
    each machine's copy ($DATA/pima/diabetes.csv). An unset variable is an error, not a folder
    named '$DATA'. (Paths are not part of a study's identity: the file's contents are.)"""
    if value is None or os.path.exists(value):   # a file named with a '$' or '~' as it is
        return value
    if unset := [name for name in re.findall(r"\$\{?([A-Za-z_]\w*)", value) if name not in os.environ]:
        raise ValueError(f"${unset[0]} is not set in the environment; set it, or write the path out")
    return os.path.expandvars(os.path.expanduser(value))


Location = Annotated[Optional[str], AfterValidator(_expanded)]


class DatasetSpec(_Strict):
    """One dataset of the study and its loading options (see `python -m pipeline datasets`)."""

    name: str
    label: Optional[str] = Field(default=None, min_length=1, max_length=100)  # free text, escaped in reports
    path: Location = None               # table/csv: the file (.csv, or .parquet)
    target: Optional[str] = None        # table/csv: the target column
    task: Optional[Literal["auto", "classification", "regression"]] = None  # table/csv: default auto
    root: Location = None               # torchvision datasets: data folder
    download: bool = True               # torchvision datasets: download when missing
    train_size: Optional[TrainSize] = None
    val_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    test_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    standardize: bool = True            # per-feature standardization (normalize: per_feature) unless images
    # Added later; left out of the identity while unset (NEW_DATASET_FIELDS), so older studies keep theirs.
    normalize: Optional[Literal["none", "unit", "global", "per_feature"]] = None   # default: datasets.normalization
    preprocess: Preprocess = Preprocess()   # tables
    encoding: Optional[str] = None          # tables: the CSV's text encoding (default utf-8)
    metric: Optional[Literal[tuple(METRICS)]] = None   # the primary metric (default: accuracy, MSE)  # type: ignore[valid-type]
    standardize_target: Optional[bool] = None  # regression: train on (y - mean) / std; default: tables yes
    class_weight: Optional[Literal["balanced"]] = None   # classification: weigh classes in the loss
    stratify: bool = False   # classification: test and validation splits keep each class's share

    @field_validator("target", mode="before")
    @classmethod
    def _target_named_by_a_number(cls, value: Any) -> Any:
        return column_name(value)

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        if name not in DATASETS:
            why = not_a_dataset(name)
            raise ValueError(f"unknown dataset {name!r}{f' ({why})' if why else ''}; allowed: {', '.join(sorted(DATASETS))}"
                             + ("" if why else f"; {ANY_TABLE}"))
        return name

    @model_validator(mode="after")
    def _table_needs_path(self) -> "DatasetSpec":
        if DATASETS[self.name].is_table and (not self.path or not self.target):
            raise ValueError(f"the {self.name} dataset needs both 'path' and 'target'")
        # normalize replaced standardize: both written and disagreeing, one would be ignored silently
        # (standardize: false beside normalize: unit says the same twice; beside global it was ignored)
        if self.normalize is not None and "standardize" in self.model_fields_set \
                and (self.normalize != "per_feature" if self.standardize else self.normalize in ("per_feature", "global")):
            raise ValueError(f"fields 'normalize' = {self.normalize!r} and 'standardize' = "
                             f"{str(self.standardize).lower()} disagree; normalize replaces standardize: remove standardize")
        return self

    @model_validator(mode="after")
    def _task_of_its_kind(self) -> "DatasetSpec":
        """`task:` chooses how a table's target is read; a built-in dataset's task is its own
        (synthetic_linear as classification made each of its 600 float targets a class, silently)."""
        own = DATASETS[self.name].task
        if not DATASETS[self.name].is_table and self.task not in (None, "auto", own):
            raise ValueError(f"field 'task' = {self.task!r}: {self.name} is a {own} dataset; task: is read for "
                             "tables (csv, parquet) only, so leave it out here")
        return self

    def options_of_another_kind(self) -> list[str]:
        """The options set here that only another kind of dataset reads (`root:` on wine)."""
        mine = DATASETS[self.name].options
        return [f for f in KIND_OPTIONS if f in self.model_fields_set and f not in mine]

    @property
    def display(self) -> str:
        return self.label or self.name


DEFAULT_TUNE_BATCH = 4


class Tune(_Strict):
    """Tune each arm's strengths with the same Optuna budget before the seeds grid (TPE sampler,
    median pruning on per-epoch validation values). The grid then runs each arm at its best
    strengths on the study's seeds, which must not include the tuning seeds."""

    trials: int = Field(default=20, gt=0, le=MAX_TUNE_TRIALS)   # per arm: equal budgets
    seeds: list[int] = Field(default=[1000], min_length=1)
    dropout: tuple[float, float] = (0.0, 0.8)      # p per hidden layer, uniform
    l1: tuple[float, float] = (1e-6, 1e-2)         # log-uniform
    l2: tuple[float, float] = (1e-5, 1e-1)         # log-uniform
    prune: bool = True
    sampler_seed: int = Field(default=0, ge=0, le=2**32 - 1)   # numpy's seed range (TPE's sampler)
    # Trials asked from Optuna at once per arm and trained together (tuning.py); unset:
    # DEFAULT_TUNE_BATCH. It decides which trials TPE has seen when it proposes the next ones, so
    # it is part of the identity (hashed only when set, like NEW_DATASET_FIELDS); 1 is the old
    # one-trial-at-a-time tuning.
    batch: Optional[int] = Field(default=None, gt=0, le=MAX_TUNE_TRIALS)

    @property
    def batch_size(self) -> int:
        return self.batch or DEFAULT_TUNE_BATCH

    @field_validator("dropout", "l1", "l2", mode="before")
    @classmethod
    def _a_pair(cls, value: Any, info) -> Any:
        """tune.dropout: [0.3] said "field 'tune.dropout.1' = [0.3]: Field required"."""
        if isinstance(value, (list, tuple)) and len(value) != 2:
            raise ValueError(f"a range [low, high] of two numbers, e.g. {info.field_name}: "
                             f"{list(cls.model_fields[info.field_name].default)}")
        return value

    @field_validator("seeds")
    @classmethod
    def _seed_range(cls, seeds: list[int]) -> list[int]:
        if (twice := next((s for i, s in enumerate(seeds) if s in seeds[:i]), None)) is not None:   # tuned twice (0 too)
            raise ValueError(f"lists seed {twice} twice; list each tuning seed once")
        return _check_seed_range(seeds)

    @model_validator(mode="after")
    def _ranges(self) -> "Tune":
        lo, hi = self.dropout
        if not (0.0 <= lo < hi < 1.0):
            raise ValueError("tune.dropout must be [low, high] with 0 <= low < high < 1")
        for name in ("l1", "l2"):
            lo, hi = getattr(self, name)
            if not (0.0 < lo < hi):
                raise ValueError(f"tune.{name} must be [low, high] with 0 < low < high (log-uniform)")
        return self


class Paths(_Strict):
    """Regularization paths: several strengths of an arm's components, each a variant of the arm
    whose cells run on the same seeds (paired with each other and with none). A list under
    `dropout` holds one p per variant, each a number (every hidden layer) or a per-layer list.
    dropout_l2 takes every combination of its own lists. l2_mode makes the modes variants too."""

    dropout: list[Union[Probability, list[Probability]]] = []
    l1: list[PathStrength] = []
    l2: list[PathStrength] = []
    dropout_l2: dict[Literal["dropout", "l2"], list[Union[Probability, list[Probability], float]]] = {}
    l2_mode: list[Literal["penalty", "weight_decay", "decoupled"]] = []

    @field_validator("dropout_l2", mode="before")
    @classmethod
    def _combined_axes(cls, value: Any) -> Any:
        """dropout_l2's axes as paths.dropout's and paths.l2's: a dropout p from 0 up to 1 (a number,
        or a per-layer list), an L2 strength above 0 (a list under l2 crashed training after the
        stores were written; a p of -0.5 trained)."""
        axes = {"dropout": TypeAdapter(list[Union[Probability, list[Probability]]]), "l2": TypeAdapter(list[PathStrength])}
        for axis, adapter in axes.items():
            if isinstance(value, dict) and isinstance(value.get(axis), list):   # '0.001': read as a number, as elsewhere not
                quoted = [(i, v) for i, v in enumerate(value[axis]) if isinstance(v, str) and _a_number(v)]
                if quoted:
                    raise ValueError(f"its {axis}[{quoted[0][0]}] = {quoted[0][1]!r}: expected a number, not the text "
                                     f"{quoted[0][1]!r} (write numbers without quotes)")
            if isinstance(value, dict) and axis in value:
                try:
                    adapter.validate_python(value[axis])
                except ValidationError as e:
                    # the error about a number, not the union's other branch ("a valid number" of a list)
                    first = min(e.errors(), key=lambda x: (x["type"].endswith(("_type", "_parsing")), -len(x["loc"])))
                    what = "a dropout p from 0 up to (not including) 1 per point, or a list of one per hidden layer" \
                        if axis == "dropout" else "one L2 strength above 0 per point"
                    item = "".join(f"[{p}]" for p in first["loc"] if isinstance(p, int))
                    said = first["msg"].removeprefix("Value error, ") if first["type"] == "value_error" else \
                        f"{first['msg'].lower()}: expected {what}"
                    raise ValueError(f"its {axis}{item} = {first.get('input', value[axis])!r}: {said}") from None
        return value

    @model_validator(mode="after")
    def _each_point_once(self) -> "Paths":
        """A point listed twice (0.001 and 1e-3 too) would train its cells twice under one name, the
        second run of each taken for a retry: refused, naming it."""
        lists = {name: getattr(self, name) for name in ("dropout", "l1", "l2", "l2_mode")}
        lists.update({f"dropout_l2.{k}": v for k, v in self.dropout_l2.items()})
        # a path written with no point (l2: []) ran the arm at its one strength, as if left out
        if empty := next((n for n, v in lists.items() if not v and n.split(".")[0] in self.model_fields_set), None):
            points = {"dropout": "[0.2, 0.5]", "l2_mode": "[penalty, weight_decay]"}.get(empty.split(".")[-1], "[0.001, 0.01]")
            raise ValueError(f"paths.{empty} = []: list one point or more, e.g. {empty.split('.')[-1]}: {points}, "
                             f"or leave paths.{empty} out")
        for name, values in lists.items():
            written = [variant_id({"": v})[1:] for v in values]
            if twice := next((w for i, w in enumerate(written) if w in written[:i]), None):
                raise ValueError(f"paths.{name} lists {twice} twice; list each point once")
        return self

    def variants(self, arm: str) -> list[dict]:
        """The arm's variants as overrides {component: value, "l2_mode": mode}; [{}] without a path."""
        from itertools import product

        components = arms_mod.ARMS[arm].components
        own = getattr(self, arm, None) if len(components) > 1 else None   # a combined arm's own block
        if isinstance(own, dict) and own:
            axes = {c: own[c] for c in components if c in own}
        elif len(components) == 1 and getattr(self, components[0], []):
            axes = {components[0]: getattr(self, components[0])}
        else:
            axes = {}
        if "l2" in components and self.l2_mode:
            axes["l2_mode"] = self.l2_mode
        names = list(axes)
        return [dict(zip(names, values)) for values in product(*axes.values())] if axes else [{}]


class AdaptiveSeeds(_Strict):
    """Seeds added in rounds until every comparison of a dataset is decided: `start` seeds, then
    `step` more to the datasets still undecided, up to `max` (verdicts.sequential says how the
    repeated looks keep the error rate)."""

    start: int = Field(default=5, ge=2)
    step: int = Field(default=5, gt=0)
    max: int = Field(default=40, ge=2, le=MAX_SEED_COUNT)

    @model_validator(mode="after")
    def _max_after_start(self) -> "AdaptiveSeeds":
        if self.max < self.start:
            raise ValueError(f"seeds.max = {self.max} is below seeds.start = {self.start}")
        return self

    def looks(self) -> list[int]:
        """The seed counts at which the verdicts are looked at: start, start + step, ..., max."""
        return sorted({*range(self.start, self.max, self.step), self.max})


# The region of practical equivalence of a dataset's primary metric: a width in the metric's own
# units (0.01 = one point of accuracy), or a share of the baseline's mean ("5%"). An analysis
# setting: it changes the verdicts, never what is trained, and is not part of the identity.
def _rope_not_quoted(value: Any) -> Any:
    """A quoted number ('5') is neither a width nor a share: pydantic would read it as ±5 in the
    metric's units, while its author likely meant 5% (an MSE of 0.3 then "practically" anything)."""
    if isinstance(value, str) and re.fullmatch(r"\s*(0+(\.0*)?|\.0+)%\s*", value):   # as `rope: 0` is refused
        raise ValueError("a share of 0% calls only identical arms practically the same; write e.g. '5%'")
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*", value, re.IGNORECASE):
        raise ValueError(f"expected a width in the metric's units (a number without quotes, e.g. 0.01 is one point of "
                         f"accuracy) or a share of none's mean such as '{value.strip()}%', not the text {value!r}")
    return value


RopeSetting = Annotated[Union[Annotated[float, Field(gt=0.0)], Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?%$")]],
                        BeforeValidator(_rope_not_quoted)]


class AnalysisSettings(_Strict):
    rope: Optional[RopeSetting] = None


class StudyFile(_Strict):
    # not "." nor "..": a report folder; at most 200 characters: the report's folder within a file name's 255 bytes
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$", max_length=200)
    description: str = ""
    datasets: list[DatasetSpec] = Field(min_length=1)
    arms: list[str] = Field(default_factory=lambda: list(arms_mod.names()), min_length=1)
    seeds: Union[Annotated[int, Field(gt=0, le=MAX_SEED_COUNT)], Annotated[list[int], Field(min_length=1)], AdaptiveSeeds] = 5
    split_seed: int = Field(default=0, ge=0, le=SEED_MAX)   # numpy seeds its split with it
    execution: Execution = Execution()
    rope: Optional[RopeSetting] = None   # default per metric: stats.DEFAULT_ROPE
    paths: Paths = Paths()                # regularization paths: several strengths per arm (the grid, not the identity)
    max_retries: int = Field(default=1, ge=0)
    # Training-set-size axis: each dataset is run at each size (counts, or fractions of its
    # training split). Sizes are nested: a larger size adds samples to a smaller one's.
    train_sizes: Optional[Annotated[list[TrainSize], Field(min_length=1)]] = None
    tune: Optional[Tune] = None

    @model_validator(mode="after")
    def _tuning_seeds_are_fresh(self) -> "StudyFile":
        if self.tune is not None:
            grid = set(seed_list(self.seeds))
            shared = sorted(grid & set(self.tune.seeds))
            if shared:   # the grid's seeds said as they were given (--seeds 1001 is a count: seeds 0 to 1000)
                given = (f"a count, seeds 0 to {len(grid) - 1}" if isinstance(self.seeds, int) else
                         f"adaptive, up to seeds 0 to {len(grid) - 1}" if isinstance(self.seeds, AdaptiveSeeds) else
                         "those listed")
                raise ValueError(f"tune.seeds {shared} are also grid seeds (the grid's seeds: {given}); the grid must "
                                 f"be evaluated on seeds not used in tuning: tune.seeds "
                                 f"{[max(grid) + 1000 + i for i in range(len(self.tune.seeds))]} would do")
        return self

    @field_validator("arms", mode="before")
    @classmethod
    def _normalize_arms(cls, arms: Any) -> Any:
        if isinstance(arms, list):
            return [arms_mod.normalize(a) for a in arms]
        return arms

    @field_validator("arms")
    @classmethod
    def _known_unique_arms(cls, arms: list[str]) -> list[str]:
        unknown = [a for a in arms if a not in arms_mod.ARMS]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], arms_mod.names(), n=1)
            hint = f" ({why})" if (why := not_an_arm(unknown[0])) else f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown arm {unknown[0]!r}{hint}; allowed: {', '.join(arms_mod.names())}")
        if len(set(arms)) != len(arms):
            raise ValueError("arms must not repeat")
        return arms

    @field_validator("seeds", mode="before")
    @classmethod
    def _adaptive_seeds(cls, seeds: Any) -> Any:
        """A mapping is the adaptive form; validated here so its own message reaches the user
        (not the union's "should be a valid integer")."""
        if isinstance(seeds, dict):
            try:
                return AdaptiveSeeds.model_validate(seeds)
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                msg = first['msg'].removeprefix('Value error, ')
                if first["type"] == "less_than_equal":   # only a typo gets there, as for seeds: N
                    where, msg = f"{where} = {first['input']}", f"at most {quantity(first['ctx']['le'])} seeds"
                raise ValueError(f"{where + ': ' if where else ''}{msg}; "
                                 "adaptive seeds are {start: 5, step: 5, max: 40}") from None
        return seeds

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: Any) -> Any:
        if isinstance(seeds, list) and len(set(seeds)) != len(seeds):
            raise ValueError("seeds must not repeat")
        return _check_seed_range(seeds) if isinstance(seeds, list) else seeds

    @field_validator("train_sizes")
    @classmethod
    def _unique_sizes(cls, sizes: Optional[list]) -> Optional[list]:
        twice = [x for i, x in enumerate(sizes or []) if x in sizes[:i]]
        if twice:   # one label, digits@50, for both: trained twice over and named twice in the verdicts
            raise ValueError(f"lists {twice[0]!r} twice; list each size once")
        return sizes

    @model_validator(mode="after")
    def _unique_labels(self) -> "StudyFile":
        labels = [d.display for d in self.datasets]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            twice = sorted(dup)[0]   # named as the entries name it: a label, or the dataset's name where none is given
            raise ValueError(f"field 'datasets' has two entries named {twice!r}: labels must be unique; give one of them "
                             f"its own label (- name: {next(d.name for d in self.datasets if d.display == twice)}, "
                             f"label: {twice}_2)")
        return self

    @model_validator(mode="after")
    def _one_training_size(self) -> "StudyFile":
        """train_sizes sets every dataset's training size: a dataset's own train_size was ignored
        (its author may have meant the sizes as shares of it)."""
        sized = next((d for d in self.datasets if d.train_size is not None), None)
        if self.train_sizes and sized:
            raise ValueError(f"field 'datasets[{sized.display}].train_size' = {sized.train_size!r} beside 'train_sizes' = "
                             f"{self.train_sizes}: train_sizes sets each dataset's training size (counts, or shares of its "
                             "training split); remove one of them")
        return self



def seed_list(seeds) -> list[int]:
    if isinstance(seeds, AdaptiveSeeds):
        return list(range(seeds.max))
    return list(range(seeds)) if isinstance(seeds, int) else list(seeds)
