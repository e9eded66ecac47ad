"""Splits: one dataset's rows split into train/val/test and scaled, as tensors.

The split is fixed per dataset by the study's split seed; the trial seed never touches it, so for
a given seed every arm sees exactly the same samples and comparisons between arms are paired.
A table's preprocessing and every scaling statistic (features, a regression target) are fit on
the training split only. datasets.py's loaders give the rows; this module makes the splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from .errors import UsageError
from .task import constant_prediction_scores
from .words import counted, named, plural

# `spec` below is a study_schema.DatasetSpec, left unannotated: study_schema.py imports datasets.py
# (for its registry), which imports this module, so importing it here would make a cycle.


@dataclass
class Splits:
    """Tensors for one dataset: float32 features, int64 class labels or float32 targets."""

    name: str
    task: str  # "classification" | "regression"
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int = 0
    provenance: str = ""
    class_names: list = field(default_factory=list)     # label i's name (tables with text targets)
    metric: str | None = None                           # the primary metric, when not the task's default
    preprocessing: dict = field(default_factory=dict)   # what was done to the data (tables.py's record)
    extra: dict = field(default_factory=dict)
    # (mean, std) of the training targets when a regression target was standardized for training
    # (standardize_target); the trainers report every metric back in the file's units
    target_scale: Optional[tuple[float, float]] = None
    # each metric of the family for a constant prediction on the test split (task.constant_prediction_scores)
    chance: dict = field(default_factory=dict)
    chance_train: dict = field(default_factory=dict)   # ... and on the training split (what none's fit is judged by)
    class_weight: Optional[torch.Tensor] = None   # per class, in the loss (class_weight: balanced)

    def in_target_units(self, a):
        """Predictions or targets of a standardized regression target in the file's units again."""
        if self.target_scale is None:
            return a
        mean, std = self.target_scale
        with np.errstate(over="ignore"):   # a diverged model's predictions overflow to inf: its metrics say so
            return a * std + mean

    @property
    def squared_error_scale(self) -> float:
        """What an MSE on the standardized target is multiplied by to be one in the file's units."""
        return 1.0 if self.target_scale is None else self.target_scale[1] ** 2

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.task == "classification" else 1

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}

    def sizes_line(self) -> str:
        """E.g. "rows: train 250, val 270, test 449; classification" (the console's line on the splits)."""
        return "rows: " + ", ".join(f"{split} {n}" for split, n in self.sizes().items()) + f"; {self.task}"


@dataclass
class Loaded:
    """What a dataset's loader gave, its task settled: every row, before any split."""

    x: object                 # features: an array, or a table's frame (table_features.fit_features prepares it per split)
    y: np.ndarray
    x_test: object            # the dataset's own test rows, or None: test_fraction of the rows are held out
    y_test: Optional[np.ndarray]
    task: str
    provenance: str
    class_names: list = field(default_factory=list)
    preprocessing: dict = field(default_factory=dict)   # a table's record of what was read (tables.read)
    is_table: bool = False


def split_and_scale(spec, split_seed: int, data: Loaded, *, normalization: str, standardize_target: bool) -> Splits:
    """`data` split deterministically by `split_seed`, a table's features prepared, the features
    scaled by `normalization`, a regression target standardized when `standardize_target`."""
    task = data.task
    if spec.stratify and task != "classification":
        raise UsageError(f"dataset {spec.display}: field 'stratify' = true keeps each class's share in every split; "
                         f"this dataset's task is {task}: remove it")
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = _split(spec, split_seed, data.x, data.y, data.x_test, data.y_test,
                                                              tuple(data.class_names))
    data.x = data.y = None  # the splits are copies: free the whole set before scaling (MNIST: 190 MB)
    preprocessing = data.preprocessing
    if data.is_table:
        (x_train, x_val, x_test), (y_train, y_val, y_test), features = _table_features(
            spec, [x_train, x_val, x_test], [y_train, y_val, y_test])
        preprocessing = {**preprocessing, **features}
    y_train, y_val, y_test, classes = _class_labels(spec, task, y_train, y_val, y_test)
    n_classes, class_names = len(classes), _names_of(classes, data.class_names)
    if data.is_table and len(class_names) < len(data.class_names):   # missing: drop took every row of a class
        dropped = spec.preprocess.missing == "drop" and preprocessing.get("rows_dropped_for_missing", 0) > 0
        preprocessing = {**preprocessing, "warnings": [*preprocessing.get("warnings", []), _vanished_warning(
            [n for n in data.class_names if n not in class_names], len(data.class_names), dropped)]}
    if task == "classification" and len(np.unique(y_train)) < 2:
        raise UsageError(f"dataset {spec.display}: the training split has a single class ({counted(len(y_train), 'row')}); "
                         "lower val_fraction or test_fraction, raise train_size"
                         + ("" if spec.stratify else ", or set stratify: true"))
    x_train, x_val, x_test = (_own_float32(a) for a in (x_train, x_val, x_test))
    _refuse_non_finite(spec, x_train, x_val, x_test, y_train, y_val, y_test)
    _normalize(normalization, x_train, x_val, x_test)
    target_scale = None
    if spec.standardize_target and task != "regression":
        raise UsageError(f"dataset {spec.display}: field 'standardize_target' = true applies to regression targets; "
                         f"this dataset's task is {task}")
    if task == "regression" and standardize_target:
        y_train, y_val, y_test, target_scale = _standardize_target(y_train, y_val, y_test)

    def target(a):
        return torch.as_tensor(a, dtype=torch.int64 if task == "classification" else torch.float32)

    splits = Splits(
        name=spec.display, task=task,
        x_train=torch.as_tensor(x_train), y_train=target(y_train),
        x_val=torch.as_tensor(x_val), y_val=target(y_val),
        x_test=torch.as_tensor(x_test), y_test=target(y_test),
        n_classes=n_classes, provenance=data.provenance, class_names=class_names, target_scale=target_scale,
    )
    splits.metric = _primary_metric(spec, task, n_classes)
    if spec.class_weight == "balanced":
        splits.class_weight = _balanced_weights(spec, task, splits.y_train.numpy(), n_classes)
    if data.is_table:   # after class_weight: its warnings depend on it
        from . import table_features

        splits.preprocessing = table_features.outcome_record(spec, splits, preprocessing)
    y_train = splits.in_target_units(splits.y_train.numpy())
    splits.chance = constant_prediction_scores(task, n_classes, y_train, splits.in_target_units(splits.y_test.numpy()))
    splits.chance_train = constant_prediction_scores(task, n_classes, y_train, y_train)
    return splits


def _take(n_total: int, size, field_name: str, dataset: str) -> int:
    if size is None:
        return n_total
    n = int(round(size * n_total)) if isinstance(size, float) else int(size)
    if n > n_total:
        raise UsageError(f"dataset {dataset}: field 'train_size' = {size!r}: only {n_total} training samples are available")
    if n < 2:
        raise UsageError(f"dataset {dataset}: field 'train_size' = {size!r}: leaves fewer than 2 training samples")
    return n


def _own_float32(a: np.ndarray) -> np.ndarray:
    """A split as its own float32 array, to standardize in place: uint8 features are pixel
    intensities, scaled to [0, 1]; anything else is copied only when it is not one already."""
    if a.dtype == np.uint8:
        out = a.astype(np.float32)
        out /= 255.0
        return out
    return np.require(a, np.float32, ["C_CONTIGUOUS", "OWNDATA", "WRITEABLE"])


def _column_mean_std(x: np.ndarray, rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and (population) standard deviation as float32, accumulated in float64
    over blocks of rows: x.std(axis=0) would hold a temporary as large as x (MNIST: 170 MB)."""
    n = max(len(x), 1)
    mean = sum(x[i:i + rows].sum(0, dtype=np.float64) for i in range(0, len(x), rows)) / n
    var = sum(np.square(x[i:i + rows] - mean).sum(0) for i in range(0, len(x), rows)) / n
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def _standardize_target(*ys: np.ndarray) -> tuple:
    """Targets minus the training mean, over the training std (1 for a constant target); the
    trainers report metrics in the original units (Splits.in_target_units)."""
    mean, std = float(np.mean(ys[0])), float(np.std(ys[0]))
    std = std if std > 1e-12 else 1.0
    return (*((np.asarray(y, dtype=np.float64) - mean) / std for y in ys), (mean, std))


def _balanced_weights(spec, task: str, y_train: np.ndarray, n_classes: int) -> torch.Tensor:
    """scikit-learn's "balanced" class weights from the training labels, n / (classes x count):
    every class then counts as much in the loss as if the classes were balanced. A class absent
    from training keeps weight 1 (it has no samples to weigh)."""
    from sklearn.utils.class_weight import compute_class_weight

    if task != "classification":
        raise UsageError(f"dataset {spec.display}: field 'class_weight' = 'balanced' needs a classification task, "
                         f"not {task}")
    present = np.unique(y_train)
    weights = np.ones(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=y_train)
    return torch.tensor(weights, dtype=torch.float32)


def _primary_metric(spec, task: str, n_classes: int) -> str | None:
    """The dataset's `metric:`, checked against its task (known only once the data is read)."""
    from .task import METRICS, family

    if spec.metric is None:
        return None
    allowed = [m.name for m in family(task, n_classes)]
    if spec.metric not in allowed:
        why = " (roc_auc needs two classes)" if METRICS[spec.metric].binary_only and task == "classification" else ""
        raise UsageError(f"dataset {spec.display}: field 'metric' = {spec.metric!r} does not fit this {task} "
                         f"task{why}; allowed: {', '.join(allowed)}")
    return spec.metric


def _rows(a, idx):
    return a.iloc[idx].reset_index(drop=True) if hasattr(a, "iloc") else a[idx]


def _split(spec, split_seed: int, x, y, x_test, y_test, names: tuple = ()) -> list[tuple]:
    """(train, val, test) pairs of (features, targets): the test split the dataset's own or
    test_fraction of the rows, val_fraction of the rest, the training subset of train_size."""
    rng = np.random.default_rng(split_seed)
    _enough_to_train(spec, len(x), own_test=x_test is not None)
    if x_test is None:
        order = rng.permutation(len(x))
        n_test = split_sizes(len(x), spec.val_fraction, spec.test_fraction, own_test=False)[0]
        if spec.stratify:
            order = _stratified(spec, ("test_fraction", names), order, y, n_test, rng)
        x_test, y_test = _rows(x, order[:n_test]), y[order[:n_test]]
        x, y = _rows(x, order[n_test:]), y[order[n_test:]]
    order = rng.permutation(len(x))
    n_val = split_sizes(len(x), spec.val_fraction, spec.test_fraction, own_test=True)[1]   # of the rows left
    if spec.stratify:
        order = _stratified(spec, ("val_fraction", names), order, y, n_val, rng)
    train_idx = order[n_val:]
    if spec.stratify and spec.train_size:   # every training subset in the classes' shares, still nested
        train_idx = _interleaved(train_idx, y)
    train_idx = train_idx[:_take(len(train_idx), spec.train_size, "train_size", spec.display)]
    return [(_rows(x, train_idx), y[train_idx]), (_rows(x, order[:n_val]), y[order[:n_val]]), (x_test, y_test)]


def split_sizes(rows: int, val: float, test: float, own_test: bool) -> tuple[int, int, int]:
    """(test, validation, training) rows of `rows` as _split cuts them: test_fraction of them (at
    least 1) unless the dataset has its own test split, then val_fraction of the rest (at least 1)."""
    n_test = 0 if own_test else max(1, int(round(test * rows)))
    n_val = max(1, int(round(val * (rows - n_test))))
    return n_test, n_val, rows - n_test - n_val


def _enough_to_train(spec, rows: int, own_test: bool) -> None:
    """The fractions leave at least 2 training rows (as train_size must): val_fraction 0.999 was a
    traceback, 0.998 trained on one row, test_fraction 0.999 "a single class (0 rows)"."""
    train = split_sizes(rows, spec.val_fraction, spec.test_fraction, own_test)[2]
    if train < 2 and split_sizes(rows, 0.2, 0.25, own_test)[2] >= 2:   # else the data is too small (tables.py says so)
        fields = f"field 'val_fraction' = {spec.val_fraction:g}" + ("" if own_test else f" with 'test_fraction' = {spec.test_fraction:g}")
        raise UsageError(f"dataset {spec.display}: {fields} leaves {max(train, 0)} of its {rows} rows to train on; "
                         f"at least 2 are needed: lower {'it (default 0.2)' if own_test else 'them (defaults 0.2 and 0.25)'}")


def _interleaved(idx: np.ndarray, y) -> np.ndarray:
    """Shuffled rows reordered so that every prefix holds each class in about its share: a row
    that is its class's r-th of n goes at (r + 0.5) / n of the way (ties keep the shuffle's order).
    A train_size subset is a prefix, so sizes stay nested and each is stratified."""
    labels = np.asarray(y)[idx]
    position = np.empty(len(idx))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        position[members] = (np.arange(len(members)) + 0.5) / len(members)
    return idx[np.argsort(position, kind="stable")]


def _stratified(spec, split: tuple[str, tuple], order: np.ndarray, y, n_first: int, rng) -> np.ndarray:
    """`order` rearranged so that its first `n_first` rows hold every class in its share of the
    rows (scikit-learn's stratified split, seeded from the split's generator): `stratify: true`.
    `split`: the field that sizes it, and the class names (a refusal names the class as the file does).
    (The training rows stay in shuffled order; a train_size subset is stratified by _interleaved.)"""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(y)[order]
    try:
        first, rest = train_test_split(order, train_size=n_first, stratify=labels,
                                       random_state=int(rng.integers(2**31 - 1)))
    except ValueError:   # a class of one row, or fewer rows in the split than classes
        field_name, names = split
        counts = np.bincount(labels.astype(np.int64))
        rarest = int(np.flatnonzero(counts == counts[counts > 0].min())[0])
        why = (f"the rarest class, {(names[rarest] if rarest < len(names) else rarest)!r}, has "
               f"{counted(int(counts[rarest]), 'row')}, and a stratified split needs 2 of each" if counts[rarest] < 2 else
               f"{counted(min(n_first, len(order) - n_first), 'row')} on one side of the split, for {int((counts > 0).sum())} classes")
        raise UsageError(f"dataset {spec.display}: field 'stratify' = true: {field_name} cannot hold every class in "
                         f"its share ({why}): drop the rarest classes, or remove stratify") from None
    return np.concatenate([first, rest])


def _table_features(spec, xs: list, ys: list) -> tuple[list, list, dict]:
    from . import table_features

    arrays, kept, record = table_features.fit_features(spec, xs)
    return arrays, [y[k] for y, k in zip(ys, kept)], record


def _class_labels(spec, task: str, *ys) -> tuple:
    """Classification targets as 0..C-1 (arbitrary labels, e.g. -1/1 or 1..3, mapped in sorted
    order) and the labels they were, in that order; regression targets as they are (no labels)."""
    if task != "classification":
        return (*ys, [])
    classes = np.unique(np.concatenate(ys))
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    mapped = [np.array([lookup[v] for v in a.tolist()], dtype=np.int64) for a in ys]
    if len(classes) < 2:
        raise UsageError(f"dataset {spec.display}: the target has a single class; classification needs at least 2")
    return (*mapped, classes.tolist())


def _names_of(classes: list, names: list[str]) -> list[str]:
    """The names of the classes left, in their new order: a table's labels are codes into its
    names, and a class whose every row preprocess.missing: drop took shifts the codes after it
    (each name then stood on the next class's rows)."""
    if not names or not classes or len(classes) == len(names):
        return names
    return [names[int(c)] for c in classes]


def _vanished_warning(gone: list[str], had: int, dropped: bool) -> str:
    """A class with no rows in any split: preprocess.missing: drop took them all, or train_size
    left out the few the training split had (and the others had none)."""
    n, them = len(gone), "it" if len(gone) == 1 else "them"
    why = (f"preprocess.missing: drop dropped every one (each had a missing value); impute keeps {them}" if dropped else
           f"train_size left out every training row of {them}, and the validation and test rows hold none")
    return (f"{named('Class', gone)} of the target's {had} {plural(n, 'has')} no rows left: {why}; the study "
            f"classifies the other {had - n}")


def _refuse_non_finite(spec, *arrays) -> None:
    for name, a in zip(("training features", "validation features", "test features",
                        "training targets", "validation targets", "test targets"), arrays):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise UsageError(f"dataset {spec.display}: the {name} have {int((~np.isfinite(a)).sum())} non-finite "
                             f"{plural(int((~np.isfinite(a)).sum()), 'value')} (NaN or infinite); only finite numbers are allowed")


def _normalize(how: str, x_train: np.ndarray, x_val: np.ndarray, x_test: np.ndarray) -> None:
    """Scale features in place with statistics of the training split: per-feature (mean, std
    per column), global (one mean and std over every value, as torchvision's Normalize for
    MNIST), unit (pixels are already /255; nothing more) or none."""
    if how in ("none", "unit"):
        return
    if how == "global":
        mean, std = np.float32(x_train.mean(dtype=np.float64)), np.float32(x_train.std(dtype=np.float64) or 1.0)
    else:
        mean, std = _column_mean_std(x_train)
        std[std < 1e-8] = 1.0  # constant features (blank MNIST pixels) stay at zero after centering
    for a in (x_train, x_val, x_test):  # in place, to keep peak memory near one copy per split
        a -= mean
        a /= std
