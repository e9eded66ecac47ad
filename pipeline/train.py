"""The reference trainer: one MLP, whole dataset in memory, plain mini-batch loop.

Deliberately simple and obviously correct: it is the yardstick any faster engine must match.
All randomness of a trial (initialization, batch order, dropout masks) comes from generators
seeded by the trial seed, so the same configuration and seed give the same numbers on CPU.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import torch
from torch import nn

from .datasets import Splits
from .errors import Diverged
from .model import MLP, l1_penalty, l2_penalty, weight_histogram, weight_stats
from .study import DatasetPlan, Training


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

    @classmethod
    def for_cell(cls, training: Training, arm: str, seed: int, device: str = "auto") -> "TrialConfig":
        """The configuration of grid cell (arm, seed): only the arm's own regularizers are on."""
        s = training.strengths
        n_hidden = len(training.model.hidden)

        def per_layer(p) -> tuple[float, ...]:
            return tuple(float(x) for x in p) if isinstance(p, list) else (float(p),) * n_hidden

        dropout, l1, l2 = (0.0,) * n_hidden, 0.0, 0.0
        if arm == "dropout":
            dropout = per_layer(s.dropout)
        elif arm == "l1":
            l1 = s.l1
        elif arm == "l2":
            l2 = s.l2
        elif arm == "dropout_l2":
            dropout = per_layer(s.dropout_l2.dropout if s.dropout_l2.dropout is not None else s.dropout)
            l2 = s.dropout_l2.l2 if s.dropout_l2.l2 is not None else s.l2
        es = training.early_stopping
        return cls(
            arm=arm, seed=seed, hidden=tuple(training.model.hidden), activation=training.model.activation,
            dropout=dropout, l1=l1, l2=l2, l2_mode=s.l2_mode, penalize_bias=s.penalize_bias,
            optimizer=training.optimizer.name, lr=training.optimizer.lr, momentum=training.optimizer.momentum,
            batch_size=training.batch_size, epochs=training.epochs,
            early_stopping_patience=es.patience if es else 0,
            early_stopping_min_delta=es.min_delta if es else 0.0, device=device,
        )

    @classmethod
    def for_plan(cls, plan: DatasetPlan, arm: str, seed: int, device: str = "auto") -> "TrialConfig":
        return cls.for_cell(plan.training, arm, seed, device)

    def params(self) -> dict[str, str]:
        out = {}
        for k, v in asdict(self).items():
            out[k] = ",".join(map(str, v)) if isinstance(v, tuple) else str(v)
        return out


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


@dataclass
class TrainResult:
    history: dict[str, list[float]]          # per-epoch series, index = epoch - 1
    final: dict[str, float]                  # end-of-training metrics
    weight_histogram: dict = field(default_factory=dict)
    epochs_run: int = 0
    best_epoch: int = 0
    device: str = "cpu"


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def loss_and_metric(task: str):
    """(loss function, metric function, metric name, higher_is_better)."""
    if task == "classification":
        return (nn.functional.cross_entropy,
                lambda out, y: (out.argmax(dim=1) == y).float().mean().item(), "accuracy", True)
    return (lambda out, y: nn.functional.mse_loss(out.squeeze(-1), y),
            lambda out, y: nn.functional.mse_loss(out.squeeze(-1), y).item(), "mse", False)


EVAL_ROWS = 8192  # rows per forward pass when evaluating: MNIST's 54,000 at once held ~170 MB


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str) -> tuple[float, float]:
    """Mean loss and metric over (x, y), in blocks of EVAL_ROWS rows (both are means over
    samples, so the blocks' means weighted by their sizes give the same values)."""
    loss_fn, metric_fn, _, _ = loss_and_metric(task)
    model.eval()
    loss = metric = 0.0
    for start in range(0, len(x), EVAL_ROWS):
        xb, yb = x[start:start + EVAL_ROWS], y[start:start + EVAL_ROWS]
        out = model(xb)
        loss += float(loss_fn(out, yb)) * len(xb)
        metric += float(metric_fn(out, yb)) * len(xb)
    return loss / len(x), metric / len(x)


def build_optimizer(cfg: TrialConfig, model: MLP) -> torch.optim.Optimizer:
    penalized = model.penalized(cfg.penalize_bias)
    penalized_ids = {id(p) for p in penalized}
    rest = [p for p in model.parameters() if id(p) not in penalized_ids]
    decay = cfg.l2 if cfg.l2_mode == "weight_decay" else 0.0
    groups = [{"params": penalized, "weight_decay": decay}, {"params": rest, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.Adam(groups, lr=cfg.lr)


def train(cfg: TrialConfig, data: Splits,
          on_epoch: Optional[Callable[[int, dict[str, float]], None]] = None) -> TrainResult:
    """Train one model. Raises Diverged on a NaN or infinite loss.

    on_epoch(epoch, metrics) is called after each epoch (used for pruning and progress)."""
    device = resolve_device(cfg.device)
    g_init = torch.Generator().manual_seed(cfg.seed)
    g_order = torch.Generator().manual_seed(cfg.seed + 1_000_003)
    g_drop = torch.Generator(device=device).manual_seed(cfg.seed + 2_000_029)
    model = MLP(data.n_features, cfg.hidden, data.n_outputs, cfg.activation, cfg.dropout,
                init_generator=g_init, dropout_generator=g_drop).to(device)
    optimizer = build_optimizer(cfg, model)
    penalized = model.penalized(cfg.penalize_bias)
    loss_fn, metric_fn, _, higher_better = loss_and_metric(data.task)

    x_tr, y_tr = data.x_train.to(device), data.y_train.to(device)
    x_va, y_va = data.x_val.to(device), data.y_val.to(device)
    n = len(x_tr)
    history: dict[str, list[float]] = {k: [] for k in
                                       ("train_loss", "train_data_loss", "train_penalty", "val_loss", "val_metric")}
    best_val, best_epoch, best_state, stale = math.inf, 0, None, 0

    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=g_order).to(device)
        data_sum = pen_sum = 0.0
        for start in range(0, n, cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
            data_loss = loss_fn(model(xb), yb)
            penalty = torch.zeros((), device=device)
            if cfg.l1 > 0:
                penalty = penalty + l1_penalty(penalized, cfg.l1)
            if cfg.l2 > 0 and cfg.l2_mode == "penalty":
                penalty = penalty + l2_penalty(penalized, cfg.l2)
            loss = data_loss + penalty
            if not torch.isfinite(loss):
                raise Diverged(epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.l2 > 0 and cfg.l2_mode == "decoupled":
                # AdamW-style: shrink the weights directly, outside the gradient and the optimizer state.
                with torch.no_grad():
                    for p in penalized:
                        p.mul_(1.0 - cfg.lr * cfg.l2)
            optimizer.step()
            release_free_memory()
            data_sum += data_loss.item() * len(idx)
            pen_sum += penalty.item() * len(idx)
        val_loss, val_metric = evaluate(model, x_va, y_va, data.task)
        if not math.isfinite(val_loss):
            raise Diverged(epoch)
        row = {"train_data_loss": data_sum / n, "train_penalty": pen_sum / n,
               "train_loss": (data_sum + pen_sum) / n, "val_loss": val_loss, "val_metric": val_metric}
        for k, v in row.items():
            history[k].append(v)
        if on_epoch is not None:
            on_epoch(epoch, row)
        if cfg.early_stopping_patience:
            if val_loss < best_val - cfg.early_stopping_min_delta:
                best_val, best_epoch, stale = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= cfg.early_stopping_patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = epoch

    final = final_metrics(model, data, device)
    return TrainResult(history=history, final=final, weight_histogram=weight_histogram(model),
                       epochs_run=epoch, best_epoch=best_epoch, device=str(device))


def final_metrics(model: MLP, data: Splits, device: torch.device) -> dict[str, float]:
    """Losses and metrics on every split in eval mode, the generalization gap and weight stats."""
    evals = {split: evaluate(model, getattr(data, f"x_{split}").to(device), getattr(data, f"y_{split}").to(device),
                             data.task) for split in ("train", "val", "test")}
    return summarize_final(evals, data.task, model.weights())


def summarize_final(evals: dict[str, tuple[float, float]], task: str, weights: list[torch.Tensor]) -> dict[str, float]:
    """The final metrics from (loss, metric) per split and the weight matrices (shared with the
    population engine, which evaluates all its models at once)."""
    _, _, metric_name, higher_better = loss_and_metric(task)
    out: dict[str, float] = {}
    for split, (loss, metric) in evals.items():
        # "final_" keeps these apart from the per-epoch train_loss/val_loss/val_metric series.
        key = split if split == "test" else f"final_{split}"
        out[f"{key}_loss"] = loss
        out[f"{key}_metric"] = metric
        out[f"{key}_{metric_name}"] = metric
    # Gap as train minus test, in the metric's own sense: positive means the model does better on
    # data it has seen (overfitting), for accuracy and for MSE alike.
    sign = 1.0 if higher_better else -1.0
    out["gap_metric"] = sign * (out["final_train_metric"] - out["test_metric"])
    out["gap_loss"] = out["test_loss"] - out["final_train_loss"]
    out.update(weight_stats(weights))
    return out
