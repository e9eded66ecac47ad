"""Datasets: a registry of loaders, each giving a dataset's rows (built-in sets, torchvision's
images, a user's table), and `load`, which hands them to splits.py for fixed train/val/test tensors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import UsageError
from .splits import Loaded, Splits, split_and_scale

# `spec` below is a study_schema.DatasetSpec, left unannotated: study_schema.py imports this module
# (for its registry), so importing study here, even for type checking, would make a cycle.


DEFAULT_DATA_DIR = "data"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str
    description: str
    loader: Callable[..., tuple]
    images: bool = False      # pixels: scaled to [0, 1], never per-feature by default
    is_table: bool = False    # a user's file: preprocessed by tables.py, task auto
    options: tuple[str, ...] = ()   # the study file's dataset fields only this kind of dataset reads
    own_test: bool = False    # a test split of its own: test_fraction is not read


REGISTRY: dict[str, DatasetInfo] = {}
TABLE_OPTIONS = ("path", "target", "preprocess", "encoding")
DOWNLOAD_OPTIONS = ("root", "download")
# Fields one kind of dataset reads: on another kind they would change nothing but the study's
# identity (a `root:` left on wine), so the study file refuses them.
KIND_OPTIONS = TABLE_OPTIONS + DOWNLOAD_OPTIONS


def register(name: str, task: str, description: str, images: bool = False, is_table: bool = False,
             options: tuple[str, ...] = (), own_test: bool = False):
    def wrap(fn):
        REGISTRY[name] = DatasetInfo(name, task, description, fn, images, is_table,
                                     TABLE_OPTIONS if is_table else options, own_test)
        return fn
    return wrap


def normalization(spec) -> str:
    """How features are scaled: the `normalize` option, else pixels as the tutorials do (to
    [0, 1], "unit"), else per-feature standardization (`standardize: false`: none). Per-feature
    standardization of images divides near-constant border pixels by a tiny std."""
    if spec.normalize:
        return spec.normalize
    if REGISTRY[spec.name].images:
        return "unit"
    return legacy_normalization(spec)


def legacy_normalization(spec) -> str:
    """What the versions before `normalize:` did: per-feature unless `standardize: false`."""
    return "per_feature" if spec.standardize else "none"


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


@register("synthetic_linear", "regression", "generated linear regression, 12 features, 500 train / 100 test (weight-decay tutorial)",
          own_test=True)
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


@register("synthetic_highdim", "regression", "generated linear regression, 200 features, 25 train (20 after validation) / 100 test (d2l's weight-decay chapter)",
          own_test=True)
def _synthetic_highdim(spec, split_seed):
    # d2l 3.7: X ~ N(0, 1) with 200 features, y = 0.05 + 0.01 * sum(x) + N(0, 0.01); 20 training
    # rows, so that an unregularized linear model overfits; 25 here, 5 of them held out for validation.
    rng = np.random.default_rng(split_seed)

    def draw(n):
        x = rng.normal(0.0, 1.0, size=(n, 200))
        return x, 0.05 + 0.01 * x.sum(axis=1) + rng.normal(0.0, 0.01, size=n)

    x_tr, y_tr = draw(25)
    x_te, y_te = draw(100)
    return x_tr, y_tr, x_te, y_te, f"generated with numpy seed {split_seed}: y = 0.05 + 0.01 * sum(x) + N(0, 0.01), 200 features"


@register("quadrants", "classification", "generated 2-D points X ~ N(0, 1), m=200, label 1 where both coordinates share a sign")
def _quadrants(spec, split_seed):
    rng = np.random.default_rng(split_seed)
    x = rng.normal(0.0, 1.0, size=(200, 2))
    y = (np.sign(x[:, 0]) == np.sign(x[:, 1])).astype(np.int64)
    return x, y, None, None, f"generated with numpy seed {split_seed}: 200 points, label = same sign"


# A table file this big takes seconds to read and tidy (60 MB: 20-40 s): a line says so before, so that
# the command does not look stuck
BIG_TABLE_BYTES = 10 * 2**20


def _table(spec, split_seed):
    from . import tables

    path = Path(spec.path)
    size = path.stat().st_size if path.is_file() else 0
    if size >= BIG_TABLE_BYTES:
        print(f"[{spec.display}] reading {path.name} ({size / 2**20:.0f} MB)...", flush=True)
    frame, y, record = tables.read(spec)
    return frame, y, None, None, f"{path.suffix.lstrip('.').upper() or 'table'} file {path.resolve()} (target column {spec.target!r})", record


TABLE_HELP = ("a CSV or Parquet file with a named target column: text or categorical targets and features, "
              "missing values (options: path, target, task, preprocess, encoding)")
register("table", "auto", TABLE_HELP, is_table=True)(_table)
register("csv", "auto", TABLE_HELP + "; the same as table", is_table=True)(_table)


def _torchvision(cls_name: str):
    def load(spec, split_seed):
        import torchvision

        root = spec.root or os.environ.get("PIPELINE_DATA_DIR", DEFAULT_DATA_DIR)
        cls = getattr(torchvision.datasets, cls_name)
        raw = Path(root) / cls_name / "raw"
        # where the folder came from: the user's field, the environment, or the default they never wrote
        where = (f"dataset {spec.name}: field 'root' = {root!r}" if spec.root else
                 f"dataset {spec.name}: $PIPELINE_DATA_DIR = {root!r}" if "PIPELINE_DATA_DIR" in os.environ else
                 f"dataset {spec.name}: the default data folder {root!r} (field 'root' not set)")
        absent = [p for p in (Path(root), raw.parent, raw) if not p.exists()]   # what a failed download leaves behind
        try:
            train = cls(root=root, train=True, download=spec.download)
            test = cls(root=root, train=False, download=spec.download)
        except RuntimeError as e:  # "Dataset not found", download failures, and files torchvision cannot read
            for made in reversed(absent):   # torchvision made the folders before failing: leave none, empty
                if made.is_dir() and not any(made.iterdir()):
                    made.rmdir()
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            first = lines[0] if lines else type(e).__name__
            cause = lines[-1] if lines else first   # a download's cause (the URL error) is its last line
            shown = f"{raw}/" if raw.is_absolute() else f"{raw}/ (relative to the working directory: {raw.resolve()}/)"
            if "not found" in first.lower() and not spec.download:
                raise UsageError(f"{where}: {cls_name} files not found in {shown} (train-images-idx3-ubyte, "
                                 "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, "
                                 "or their .gz); set download: true to fetch them") from None
            if "not found" in first.lower() or "download" in first.lower():
                raise UsageError(f"{where}: {cls_name} files not found in {shown} and could not be downloaded "
                                 f"({cause}); put the four IDX files (or their .gz) there, or set root: to a folder "
                                 f"that has {cls_name}/raw/") from None
            raise UsageError(f"{where}: the {cls_name} files in {raw}/ cannot be read ({first}): "
                             "a truncated or foreign file?") from None
        for split, part in (("train", train), ("t10k", test)):
            # torchvision checks neither: a mismatch would fail deep in the split, a label of 12 train silently
            if len(part.data) != len(part.targets):
                raise UsageError(f"{where}: {raw}/{split}-labels-idx1-ubyte has {len(part.targets)} labels for "
                                 f"{len(part.data)} images in {split}-images-idx3-ubyte")
            if len(part.targets) and not 0 <= int(part.targets.min()) <= int(part.targets.max()) < len(part.classes):
                raise UsageError(f"{where}: {raw}/{split}-labels-idx1-ubyte has label {int(part.targets.max())}; "
                                 f"{cls_name} has classes 0 to {len(part.classes) - 1}")
        # uint8 pixels: `load` splits them first and scales each split to [0, 1] as it makes it
        # float32, so the whole set is never held as floats (MNIST: 190 MB a float copy)
        x_tr = train.data.reshape(len(train.data), -1).numpy()
        x_te = test.data.reshape(len(test.data), -1).numpy()
        return (x_tr, train.targets.numpy(), x_te, test.targets.numpy(),
                f"torchvision.datasets.{cls_name} from {Path(root).resolve()}")
    return load


register("mnist", "classification", "MNIST 28x28 digits via torchvision (downloaded into the data folder when missing)",
         images=True, options=DOWNLOAD_OPTIONS, own_test=True)(_torchvision("MNIST"))
register("fashion_mnist", "classification", "Fashion-MNIST 28x28 clothing via torchvision (downloaded into the data folder "
         "when missing)", images=True, options=DOWNLOAD_OPTIONS, own_test=True)(_torchvision("FashionMNIST"))


# --- from a loader's rows to splits --------------------------------------------------------------

def load(spec, split_seed: int) -> Splits:
    """Load one dataset and split it deterministically by `split_seed` (splits.py); a table's
    preprocessing and every scaling statistic are fit on the training split only."""
    info = REGISTRY[spec.name]
    x, y, x_test, y_test, provenance, *record = info.loader(spec, split_seed)
    task, class_names = info.task, []
    if info.is_table:
        from . import tables

        task = tables.task_of(y, spec.task)
        y, class_names = tables.encode_target(spec, y, task)
    elif spec.task in ("classification", "regression"):
        task = spec.task
    data = Loaded(x, y, x_test, y_test, task, provenance, class_names, record[0] if record else {}, info.is_table)
    del x, y   # `data` holds the only reference: split_and_scale frees the whole set once split
    return split_and_scale(spec, split_seed, data, normalization=normalization(spec),
                           standardize_target=target_standardized(spec))


def target_standardized(spec) -> bool:
    """Whether a regression target is standardized for training: `standardize_target`, else yes
    for a user's table (a price around 20,000 is out of reach of an MLP's initial outputs and of
    any penalty strength tuned for unit-scale losses; the model then learns nothing) and no for
    the built-in sets (the weight-decay tutorial trains on its raw, unit-scale target)."""
    if spec.standardize_target is not None:
        return spec.standardize_target
    return REGISTRY[spec.name].is_table



def describe() -> list[dict]:
    return [{"name": i.name, "task": i.task, "description": i.description} for i in REGISTRY.values()]
