"""The reference trainer: one MLP, whole dataset in memory, plain mini-batch loop.

Deliberately simple and obviously correct: it is the yardstick any faster engine must match.
All randomness of a trial (initialization, batch order, dropout masks) comes from the trial's
own streams (streams.py), so the same configuration and seed give the same numbers on CPU, and
the population engine draws exactly the same.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from torch import nn

from . import streams
from .splits import Splits
from .errors import Diverged, stop_if_interrupted
from .model import MLP, l1_penalty, l2_penalty, weight_histogram
from .task import Task, compute
from .trainer_common import (EarlyStopper, History, TrainResult, TrialConfig, cpu_threads, epoch_metric, epoch_metric_key,
                             history_keys, loss_task, matmul_precision, release_free_memory,
                             summarize_final, training_device)

EVAL_ROWS = 8192  # rows per forward pass when evaluating: MNIST's 54,000 at once held ~170 MB


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: Task, keep: Optional[list] = None
             ) -> tuple[float, float]:
    """Mean loss and metric over (x, y), in blocks of EVAL_ROWS rows (both are means over
    samples, so the blocks' means weighted by their sizes give the same values); the outputs
    appended to `keep` when given, for the metrics computed from them (one forward pass)."""
    t = task
    model.eval()
    loss = metric = loss_weight = 0.0
    for start in range(0, len(x), EVAL_ROWS):
        xb, yb = x[start:start + EVAL_ROWS], y[start:start + EVAL_ROWS]
        out = model(xb)
        if keep is not None:
            keep.append(out.cpu())
        loss += float(t.loss(out, yb)) * t.weight_of(yb)
        loss_weight += t.weight_of(yb)
        metric += float(t.metric_value(out, yb)) * len(xb)
    return loss / loss_weight, metric / len(x)


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
    device = training_device(cfg, data.n_features, data.n_outputs)
    with matmul_precision(cfg.precision, device), cpu_threads(cfg, data.n_features, data.n_outputs, device):
        return _train(cfg, data, on_epoch, device)


# long: the reference trainer is one plain loop that reads top to bottom, on purpose
def _train(cfg: TrialConfig, data: Splits, on_epoch: Optional[Callable[[int, dict[str, float]], None]],
           device: torch.device) -> TrainResult:
    g_order = streams.order_generator(cfg.seed)
    masks = streams.MaskStream([cfg.dropout], [cfg.seed], cfg.hidden, device)
    model = MLP(data.n_features, cfg.hidden, data.n_outputs, cfg.activation,
                init_generator=streams.init_generator(cfg.seed)).to(device)
    optimizer = build_optimizer(cfg, model)
    penalized = model.penalized(cfg.penalize_bias)
    task = loss_task(data, device)
    stopper = EarlyStopper(cfg.early_stopping_patience, cfg.early_stopping_min_delta)

    x_tr, y_tr = data.x_train.to(device), data.y_train.to(device)
    x_va, y_va = data.x_val.to(device), data.y_val.to(device)
    n = len(x_tr)
    history = History(history_keys(data.task, data.metric))
    primary, y_va_np = epoch_metric(data.task, data.metric), data.in_target_units(data.y_val.numpy())
    best_state = None

    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        stop_if_interrupted()   # a signal whose exception was swallowed still stops training
        model.train()
        order = torch.randperm(n, generator=g_order).to(device)
        data_sum = pen_sum = data_weight = 0.0
        for start, step_masks in zip(range(0, n, cfg.batch_size), masks.epoch(cfg.batch_sizes(n))):
            idx = order[start:start + cfg.batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
            step_masks = [None if m is None else m[0] for m in step_masks] if step_masks else [None] * len(cfg.hidden)
            data_loss = task.loss(model(xb, step_masks), yb)
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
            # a batch's mean loss counts for its class weights (its size when unweighted): the
            # epoch's data loss is then the same weighted mean as val_loss and final_train_loss
            weight = task.weight_of(yb)
            data_sum += data_loss.item() * weight
            data_weight += weight
            pen_sum += penalty.item() * len(idx)
        outputs: Optional[list] = [] if primary is not None else None
        val_loss, val_metric = evaluate(model, x_va, y_va, task, outputs)
        if not math.isfinite(val_loss):
            raise Diverged(epoch)
        row = {"train_data_loss": data_sum / data_weight, "train_penalty": pen_sum / n,
               "train_loss": data_sum / data_weight + pen_sum / n, "val_loss": val_loss,
               "val_metric": val_metric * data.squared_error_scale}   # MSE in the target's units
        if primary is not None:
            row[epoch_metric_key(primary)] = compute(primary, y_va_np, data.in_target_units(torch.cat(outputs).numpy()))
        history.add(row)
        if on_epoch is not None:
            on_epoch(epoch, row)
        improved, stop = stopper.update(val_loss, epoch)
        if improved:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if stop:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    best_epoch = stopper.best_epoch if best_state is not None else epoch

    final = final_metrics(model, data, device)
    return TrainResult(history=history, final=final, weight_histogram=weight_histogram(model),
                       epochs_run=epoch, best_epoch=best_epoch, device=str(device))


def final_metrics(model: MLP, data: Splits, device: torch.device) -> dict[str, float]:
    """Losses and metrics on every split in eval mode, the generalization gap and weight stats;
    metrics in the target's units, losses those of training (a standardized target's)."""
    evals, outputs, task = {}, {}, loss_task(data, device)
    for split in ("train", "val", "test"):
        kept: list = []
        loss, metric = evaluate(model, getattr(data, f"x_{split}").to(device), getattr(data, f"y_{split}").to(device),
                                task, kept)
        evals[split] = (loss, metric * data.squared_error_scale)
        outputs[split] = (data.in_target_units(torch.cat(kept).numpy()),
                          data.in_target_units(getattr(data, f"y_{split}").numpy()))
    return summarize_final(evals, data.task, model.weights(), outputs, data.metric, data.n_classes)

