"""Datasets: a registry of loaders that give fixed train/val/test tensors.

The split is fixed per dataset by the study's split seed; the trial seed never touches it, so for
a given seed every arm sees exactly the same samples and comparisons between arms are paired.
Features are standardized with training statistics only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from .errors import UsageError

if TYPE_CHECKING:  # the study file's dataset entry; study.py imports this module's REGISTRY
    from .study import DatasetSpec

DEFAULT_DATA_DIR = "data"


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
    extra: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.task == "classification" else 1

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str
    description: str
    loader: Callable[["DatasetSpec", int], tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, str]]


REGISTRY: dict[str, DatasetInfo] = {}


def register(name: str, task: str, description: str):
    def wrap(fn):
        REGISTRY[name] = DatasetInfo(name, task, description, fn)
        return fn
    return wrap


# --- loaders: each returns (X, y, X_test or None, y_test or None, provenance) -------------------

@register("digits", "classification", "scikit-learn 8x8 handwritten digits, 1797 samples, 64 features, 10 classes (bundled, offline)")
def _digits(spec, split_seed):
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.data, d.target, None, None, "sklearn.datasets.load_digits (UCI optical digits)"


@register("breast_cancer", "classification", "scikit-learn Wisconsin breast cancer, 569 samples, 30 features, 2 classes (bundled, offline)")
def _breast_cancer(spec, split_seed):
    from sklearn.datasets import load_breast_cancer
    d = load_breast_cancer()
    return d.data, d.target, None, None, "sklearn.datasets.load_breast_cancer (UCI WDBC)"


@register("wine", "classification", "scikit-learn wine recognition, 178 samples, 13 features, 3 classes (bundled, offline)")
def _wine(spec, split_seed):
    from sklearn.datasets import load_wine
    d = load_wine()
    return d.data, d.target, None, None, "sklearn.datasets.load_wine (UCI wine)"


SYNTHETIC_WEIGHTS = np.array([-0.1, -0.2, -0.3, -0.4, -0.5, -1.0, 1, 0.5, 0.4, 0.3, 0.2, 0.1])
SYNTHETIC_BIAS = 0.6


@register("synthetic_linear", "regression", "generated linear regression, 12 features, 500 train / 100 test (weight-decay tutorial)")
def _synthetic_linear(spec, split_seed):
    # The tutorial's setup: X ~ N(-1, 1), y = Xw + 0.6 + noise, noise ~ N(-0.01, 0.01).
    rng = np.random.default_rng(split_seed)

    def draw(n):
        x = rng.normal(-1.0, 1.0, size=(n, SYNTHETIC_WEIGHTS.size))
        y = x @ SYNTHETIC_WEIGHTS + SYNTHETIC_BIAS + rng.normal(-0.01, 0.01, size=n)
        return x, y

    x_tr, y_tr = draw(500)
    x_te, y_te = draw(100)
    return x_tr, y_tr, x_te, y_te, f"generated with numpy seed {split_seed}: y = Xw + 0.6 + N(-0.01, 0.01)"


@register("quadrants", "classification", "generated 2-D points X ~ N(0, 1), m=200, label 1 where both coordinates share a sign")
def _quadrants(spec, split_seed):
    rng = np.random.default_rng(split_seed)
    x = rng.normal(0.0, 1.0, size=(200, 2))
    y = (np.sign(x[:, 0]) == np.sign(x[:, 1])).astype(np.int64)
    return x, y, None, None, f"generated with numpy seed {split_seed}: 200 points, label = same sign"


@register("csv", "classification", "any CSV file with numeric features and a named target column (options: path, target, task)")
def _csv(spec, split_seed):
    import pandas as pd

    path = Path(spec.path)
    if not path.is_file():
        raise UsageError(f"dataset csv: field 'path' = {spec.path!r}: file does not exist")
    try:
        frame = pd.read_csv(path)
    except Exception as e:  # pandas raises many parser errors; all mean the same to the user
        raise UsageError(f"dataset csv: field 'path' = {spec.path!r}: not a readable CSV ({type(e).__name__})") from None
    if spec.target not in frame.columns:
        raise UsageError(f"dataset csv: field 'target' = {spec.target!r}: no such column; "
                         f"columns are {', '.join(map(str, frame.columns))}")
    missing = frame.columns[frame.isna().any()].tolist()
    if missing:
        raise UsageError(f"dataset csv: column {missing[0]!r} in {spec.path} has missing values; "
                         "only complete numeric rows are allowed")
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise UsageError(f"dataset csv: column {non_numeric[0]!r} in {spec.path} is not numeric; "
                         "only numeric features and targets are allowed")
    y = frame[spec.target].to_numpy()
    x = frame.drop(columns=[spec.target]).to_numpy(dtype=np.float64)
    if x.shape[1] == 0:
        raise UsageError(f"dataset csv: {spec.path} has no feature columns besides {spec.target!r}")
    return x, y, None, None, f"CSV file {path.resolve()} (target column {spec.target!r})"


def _torchvision(cls_name: str):
    def load(spec, split_seed):
        import torchvision

        root = spec.root or os.environ.get("PIPELINE_DATA_DIR", DEFAULT_DATA_DIR)
        cls = getattr(torchvision.datasets, cls_name)
        try:
            train = cls(root=root, train=True, download=spec.download)
            test = cls(root=root, train=False, download=spec.download)
        except RuntimeError as e:  # "Dataset not found" and download failures
            raise UsageError(f"dataset {spec.name}: field 'root' = {root!r}: {cls_name} files not found "
                             f"and could not be downloaded ({str(e).splitlines()[0]})") from None
        # uint8 pixels: `load` splits them first and scales each split to [0, 1] as it makes it
        # float32, so the whole set is never held as floats (MNIST: 190 MB a float copy)
        x_tr = train.data.reshape(len(train.data), -1).numpy()
        x_te = test.data.reshape(len(test.data), -1).numpy()
        return (x_tr, train.targets.numpy(), x_te, test.targets.numpy(),
                f"torchvision.datasets.{cls_name} from {Path(root).resolve()}")
    return load


register("mnist", "classification", "MNIST 28x28 digits via torchvision (downloaded into the data folder when missing)")(_torchvision("MNIST"))
register("fashion_mnist", "classification", "Fashion-MNIST 28x28 clothing via torchvision (downloaded into the data folder when missing)")(_torchvision("FashionMNIST"))


# --- splitting and standardizing ----------------------------------------------------------------

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


def load(spec: "DatasetSpec", split_seed: int) -> Splits:
    """Load one dataset and split it deterministically by `split_seed`."""
    info = REGISTRY[spec.name]
    x, y, x_test, y_test, provenance = info.loader(spec, split_seed)
    task = spec.task or info.task
    if spec.name == "csv" and spec.task is None:
        # A target with few distinct integer values is a class label (Pima's Outcome is 0/1).
        task = "classification" if np.all(np.mod(y, 1) == 0) and len(np.unique(y)) <= 20 else "regression"

    rng = np.random.default_rng(split_seed)
    if x_test is None:
        order = rng.permutation(len(x))
        n_test = max(1, int(round(spec.test_fraction * len(x))))
        x_test, y_test = x[order[:n_test]], y[order[:n_test]]
        x, y = x[order[n_test:]], y[order[n_test:]]
    order = rng.permutation(len(x))
    n_val = max(1, int(round(spec.val_fraction * len(x))))
    x_val, y_val = x[order[:n_val]], y[order[:n_val]]
    train_idx = order[n_val:]
    train_idx = train_idx[:_take(len(train_idx), spec.train_size, "train_size", spec.display)]
    x_train, y_train = x[train_idx], y[train_idx]
    del x, y  # the splits are copies: free the whole set before standardizing (MNIST: 190 MB)

    n_classes = 0
    if task == "classification":
        classes = np.unique(np.concatenate([y_train, y_val, y_test]))
        # Map arbitrary labels (e.g. -1/1 or 1..3) to 0..C-1.
        lookup = {c: i for i, c in enumerate(classes.tolist())}
        y_train, y_val, y_test = (np.array([lookup[v] for v in a.tolist()], dtype=np.int64)
                                  for a in (y_train, y_val, y_test))
        n_classes = len(classes)
        if n_classes < 2:
            raise UsageError(f"dataset {spec.display}: the target has a single class; classification needs at least 2")

    x_train, x_val, x_test = (_own_float32(a) for a in (x_train, x_val, x_test))
    if spec.standardize:
        mean, std = _column_mean_std(x_train)
        std[std < 1e-8] = 1.0  # constant features (blank MNIST pixels) stay at zero after centering
        for a in (x_train, x_val, x_test):  # in place, to keep peak memory near one copy per split
            a -= mean
            a /= std

    def target(a):
        return torch.as_tensor(a, dtype=torch.int64 if task == "classification" else torch.float32)

    return Splits(
        name=spec.display, task=task,
        x_train=torch.as_tensor(x_train), y_train=target(y_train),
        x_val=torch.as_tensor(x_val), y_val=target(y_val),
        x_test=torch.as_tensor(x_test), y_test=target(y_test),
        n_classes=n_classes, provenance=provenance,
    )


def describe() -> list[dict]:
    return [{"name": i.name, "task": i.task, "description": i.description} for i in REGISTRY.values()]
