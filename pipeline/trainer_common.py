"""What both trainers share: a cell's flat configuration (TrialConfig), its result (TrainResult),
early stopping, the final metrics, the device and memory housekeeping.

The reference trainer (train.py) and the population engine (population.py) differ only in how
they compute; everything that defines *what* is computed for a cell lives here, in task.py
(loss and metric) and in streams.py (random draws).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Optional

import torch

from . import arms
from .model import weight_stats
from .task import Metric, Task, compute, family, metric_for, read_in, task_for

if TYPE_CHECKING:
    from .study import Training

# The per-epoch series every trainer records (MLflow metrics with step = epoch).
HISTORY_KEYS = ("train_loss", "train_data_loss", "train_penalty", "val_loss", "val_metric")


def epoch_metric(task: str, metric: Optional[str]) -> Optional[Metric]:
    """The primary metric when it is not the task's default: both trainers then also record it
    per epoch on the validation split, as `val_<name>` (e.g. val_roc_auc), and tuning prunes on
    it; `val_metric` stays the default (accuracy or MSE), which the trainers get without the
    models' outputs leaving the device."""
    primary = metric_for(task, metric)
    return None if primary.name == task_for(task).metric else primary


def loss_task(data, device: torch.device) -> Task:
    """The dataset's task with its class weights (class_weight: balanced) on the training device."""
    return task_for(data.task).weighted(None if data.class_weight is None else data.class_weight.to(device))


def epoch_metric_key(metric: Metric) -> str:
    """The per-epoch series of a chosen primary metric on the validation split (val_roc_auc)."""
    return f"val_{metric.name}"


def history_keys(task: str, metric: Optional[str]) -> tuple[str, ...]:
    extra = epoch_metric(task, metric)
    return HISTORY_KEYS + ((epoch_metric_key(extra),) if extra else ())


class History(dict):
    """A trial's per-epoch series (key -> values, index = epoch - 1) and when each epoch ended
    (`ended_ms`, ms since the Unix epoch): logged as each metric's timestamp, so the MLflow UI's
    wall-time and relative-time axes show training as it went, not every epoch at the run's end.
    Compares as the plain dict of its series (the engines' equivalence tests compare those)."""

    def __init__(self, keys: tuple[str, ...] = ()):
        super().__init__({key: [] for key in keys})
        self.ended_ms: list[int] = []

    def add(self, row: dict[str, float]) -> None:
        """One epoch's values, ended now."""
        for key, value in row.items():
            self.setdefault(key, []).append(value)
        self.ended_ms.append(int(time.time() * 1000))


@dataclass(frozen=True)
class TrialConfig:
    """Everything one training run needs, flat, so it can be logged as MLflow params."""

    arm: str
    seed: int
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    dropout: tuple[float, ...] = (0.0, 0.0)
    l1: float = 0.0
    l2: float = 0.0
    l2_mode: str = "penalty"
    penalize_bias: bool = False
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    batch_size: int = 64
    epochs: int = 20
    early_stopping_patience: int = 0  # 0: off
    early_stopping_min_delta: float = 0.0
    device: str = "auto"
    precision: str = "fp32"   # fp32, or tf32: TensorFloat-32 matmuls on CUDA (matmul_precision)

    @classmethod
    def for_cell(cls, training: "Training", arm: str, seed: int, device: str = "auto",
                 tuned: Optional[dict] = None, variant: Optional[dict] = None) -> "TrialConfig":
        """The configuration of grid cell (arm, seed): only the arm's own regularizers are on,
        at the strengths arms.cell_strengths gives: a path's variant's, else tuned ones, else
        the study's (a variant may also set l2_mode)."""
        s = training.strengths
        variant = variant or {}
        overrides = {**(tuned or {}), **{k: v for k, v in variant.items() if k != "l2_mode"}}
        cell = arms.cell_strengths(arm, s, len(training.model.hidden), overrides or None)
        es = training.early_stopping
        return cls(
            arm=arm, seed=seed, hidden=tuple(training.model.hidden), activation=training.model.activation,
            dropout=cell.dropout, l1=cell.l1, l2=cell.l2, l2_mode=variant.get("l2_mode", s.l2_mode),
            penalize_bias=s.penalize_bias,
            optimizer=training.optimizer.name, lr=training.optimizer.lr, momentum=training.optimizer.momentum,
            batch_size=training.batch_size, epochs=training.epochs,
            early_stopping_patience=es.patience if es else 0,
            early_stopping_min_delta=es.min_delta if es else 0.0, device=device, precision=training.precision,
        )

    def params(self) -> dict[str, str]:
        """As MLflow params; precision only when not fp32, so runs of other studies log what
        they always did; momentum only under SGD (Adam does not read it)."""
        out = {}
        for k, v in asdict(self).items():
            if (k == "precision" and v == "fp32") or (k == "momentum" and self.optimizer != "sgd"):
                continue   # momentum is SGD's: a dataset switching to Adam inherits the top level's, unread
            out[k] = ",".join(map(str, v)) if isinstance(v, tuple) else str(v)
        return out

    def step_flops(self, n_in: int, n_out: int) -> float:
        """Training FLOPs of one mini-batch step of one model: 2 forward and 4 backward per
        weight and sample (what device: auto decides on)."""
        sizes = [n_in, *self.hidden, n_out]
        return 6.0 * self.batch_size * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))

    def batch_sizes(self, n: int) -> list[int]:
        """The sizes of an epoch's mini-batches over n training rows."""
        return [min(self.batch_size, n - start) for start in range(0, n, self.batch_size)]


@dataclass
class TrainResult:
    history: dict[str, list[float]]          # per-epoch series, index = epoch - 1
    final: dict[str, float]                  # end-of-training metrics
    weight_histogram: dict = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int = 0
    device: str = "cpu"


class EarlyStopper:
    """Stop when the validation loss has not improved by min_delta for `patience` epochs; the
    caller keeps the weights of the epoch `update` calls an improvement. Off with patience 0."""

    def __init__(self, patience: int, min_delta: float):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_epoch, self.stale = math.inf, 0, 0

    def update(self, val_loss: float, epoch: int) -> tuple[bool, bool]:
        """(improved: keep these weights, stop: train no further)."""
        if not self.patience:
            return False, False
        if val_loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.stale = val_loss, epoch, 0
            return True, False
        self.stale += 1
        return False, self.stale >= self.patience


# device: auto puts a model on CUDA only when one training step of it is at least this many
# FLOPs. From the H100 measurements of issue 14 against this project's 2-core CPU: MNIST
# 784-256-256-10 at batch 256 (415 MFLOP a step) trained ~33x faster per model on the GPU, the
# default study's MLPs (digits 128-128 at batch 32: 5 MFLOP a step, the others less) ran 1.7-2x
# slower there (17-20 s against 10 s in-study): a GPU step costs about a millisecond of kernel
# launches whatever the size, the CPU's grows with the FLOPs. Interpolating the two points on a
# log scale puts the break-even near 10 MFLOP; the rule keeps a 5x margin (a faster CPU moves the
# break-even up), so a study in between stays on the CPU rather than risk being slower.
# BENCHMARKS.md (issue 14), README "device: auto".
CUDA_MIN_STEP_FLOPS = 50e6


def resolve_device(device: str, step_flops: Optional[float] = None) -> torch.device:
    """The torch device of a device setting; for auto with a model's step_flops (TrialConfig.
    step_flops), CUDA only when present and the step is large enough (CUDA_MIN_STEP_FLOPS)."""
    if device == "auto":
        use = torch.cuda.is_available() and (step_flops is None or step_flops >= CUDA_MIN_STEP_FLOPS)
        return torch.device("cuda" if use else "cpu")
    return torch.device(device)


def training_device(cfg: TrialConfig, n_in: int, n_out: int) -> torch.device:
    """Where a configuration trains on data of n_in features and n_out outputs."""
    return resolve_device(cfg.device, cfg.step_flops(n_in, n_out))


# Below this many training FLOPs per step of one model, a CPU trains with one torch thread. Such
# steps are a few hundred microseconds of small kernels; splitting them over threads buys little
# and costs a synchronization per kernel, which on a shared machine waits for a descheduled
# thread: on this project's 2-core machine under load (load average 6), the tuned study's digits
# model (1.7 MFLOP a step) trained 10-15x faster with one thread than with two, reference and
# population alike (BENCHMARKS.md, issue 14). Decided per model, not per population, so a
# cell's thread count (and its float rounding) does not depend on the population it lands in.
SINGLE_THREAD_STEP_FLOPS = 20e6


@contextlib.contextmanager
def cpu_threads(cfg: TrialConfig, n_in: int, n_out: int, device: torch.device):
    """One torch thread while training a small model on the CPU (SINGLE_THREAD_STEP_FLOPS);
    the thread count is restored afterwards."""
    if device.type != "cpu" or cfg.step_flops(n_in, n_out) >= SINGLE_THREAD_STEP_FLOPS:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def matmul_precision(precision: str, device: torch.device):
    """TF32 matmuls (and cuDNN convolutions) on CUDA while training with precision tf32; the
    global flags are restored afterwards. fp32, or any CPU: nothing changes."""
    if precision != "tf32" or device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def summarize_final(evals: dict[str, tuple[float, float]], task: str, weights: list[torch.Tensor],
                    outputs: dict, metric: Optional[str] = None, n_classes: int = 0) -> dict[str, float]:
    """The final metrics from (loss, default metric) per split, the model's outputs on every split
    ({split: (outputs, targets)} as numpy arrays) and the weight matrices: every metric of the
    task's family on every split (test_<name>, final_train_<name>, final_val_<name>: so that any
    of them can be read as the primary later, task.read_in), the primary one (`metric`, else the
    default) as *_metric."""
    default = metric_for(task)
    values = {split: {default.name: m} for split, (_, m) in evals.items()}
    for split, (o, y) in outputs.items():
        values[split].update({m.name: compute(m, y, o) for m in family(task, n_classes) if m.name not in values[split]})
    out: dict[str, float] = {}
    for split, (loss, _) in evals.items():
        # "final_" keeps these apart from the per-epoch train_loss/val_loss/val_metric series.
        key = split if split == "test" else f"final_{split}"
        out[f"{key}_loss"] = loss
        out.update({f"{key}_{name}": v for name, v in values[split].items()})
    out.update(read_in(out, task, metric))
    out["gap_loss"] = out["test_loss"] - out["final_train_loss"]
    out.update(weight_stats(weights))
    return out


def memory_available(device: torch.device) -> int:
    """Bytes of memory the device has (CUDA: free now; CPU: physical), 0 when unknown."""
    import os

    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, RuntimeError, AttributeError):
        return 0


_last_release = [0.0]


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    import ctypes
    import ctypes.util

    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "malloc_trim", None)
    except OSError:
        return None


def release_free_memory(min_interval: float = 0.5) -> None:
    """Hand freed heap memory back to the OS (glibc malloc_trim), at most every `min_interval`
    seconds. Training frees and allocates tensors of a few MB every step; glibc serves them
    from a heap that fragments, and without this the process keeps hundreds of MB it no longer
    uses (peak RSS of the MNIST benchmark varied between 1.1 and 1.7 GB run to run). A call
    costs well under a millisecond; a no-op where malloc_trim is not available (not glibc)."""
    now = time.perf_counter()
    if now - _last_release[0] < min_interval:
        return
    _last_release[0] = now
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
