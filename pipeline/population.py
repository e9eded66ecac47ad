"""The population engine: K MLPs of one architecture trained at once as one stacked model.

Weights are stacked to [K, in, out] and every layer is one batched matmul (torch.baddbmm), so a
grid of small models costs a few large kernel launches instead of K times as many small ones.
Everything per model stays per model and matches the reference trainer (train.py) step for step:
initialization, batch order and dropout masks come from the same per-seed generators in the same
order, the regularizer strengths are per-model tensors, each model has its own loss, early
stopping (a stopped model is frozen with its best weights) and divergence (a diverged model fails
alone; the others go on). Optimizer state is elementwise, so one SGD/Adam over the stacked
parameters is K independent optimizers.
"""

from __future__ import annotations

import math
from typing import Union

import torch
from torch import nn

from .datasets import Splits
from .errors import Diverged
from .model import MLP, weight_histogram
from .train import TrainResult, TrialConfig, final_metrics, loss_and_metric, resolve_device

# Fields that must agree for cells to share one population (the rest is per model).
SHARED = ("hidden", "activation", "l2_mode", "penalize_bias", "optimizer", "lr", "momentum",
          "batch_size", "epochs", "early_stopping_patience", "early_stopping_min_delta", "device")


def compatible(a: TrialConfig, b: TrialConfig) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in SHARED)


class Population:
    """K stacked MLPs. W[l]: [K, in, out]; B[l]: [K, 1, out]."""

    def __init__(self, cfgs: list[TrialConfig], n_in: int, n_out: int, device: torch.device):
        c0 = cfgs[0]
        self.k, self.device = len(cfgs), device
        sizes = [n_in, *c0.hidden, n_out]
        ws, bs = [[] for _ in sizes[1:]], [[] for _ in sizes[1:]]
        for cfg in cfgs:
            # Same draws, in the same order, as model.init_linear_ for the reference MLP.
            g = torch.Generator().manual_seed(cfg.seed)
            for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                bound = 1.0 / math.sqrt(a)
                ws[layer].append((torch.rand((b, a), generator=g) * 2 * bound - bound).t())
                bs[layer].append(torch.rand((b,), generator=g) * 2 * bound - bound)
        self.W = [torch.stack(w).contiguous().to(device).requires_grad_() for w in ws]
        self.B = [torch.stack(b).unsqueeze(1).contiguous().to(device).requires_grad_() for b in bs]
        self.act = {"relu": torch.relu, "tanh": torch.tanh}[c0.activation]
        self.p = torch.tensor([list(c.dropout) for c in cfgs], dtype=torch.float32)  # [K, n_hidden]
        self.g_drop = [torch.Generator(device=device).manual_seed(c.seed + 2_000_029) for c in cfgs]

    def params(self) -> list[torch.Tensor]:
        return self.W + self.B

    def penalized(self, include_bias: bool) -> list[torch.Tensor]:
        return self.W + (self.B if include_bias else [])

    def dropout(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        p = self.p[:, layer]
        if not bool((p > 0).any()):
            return h
        scale = torch.ones(self.k, 1, h.shape[-1], device=h.device, dtype=h.dtype)
        masks = []
        for k in range(self.k):
            pk = float(p[k])
            if pk > 0:  # drawn exactly as InvertedDropout draws it for the reference model
                keep = torch.rand(h.shape[1:], generator=self.g_drop[k], device=h.device, dtype=h.dtype) >= pk
                masks.append(keep.to(h.dtype) / (1.0 - pk))
            else:
                masks.append(scale[k].expand(h.shape[1:]))
        return h * torch.stack(masks)

    def forward(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """x: [K, m, in] -> [K, m, out]."""
        h = x
        last = len(self.W) - 1
        for layer, (w, b) in enumerate(zip(self.W, self.B)):
            h = torch.baddbmm(b, h, w)
            if layer < last:
                h = self.act(h)
                if train:
                    h = self.dropout(h, layer)
        return h

    def to_mlp(self, k: int, cfg: TrialConfig, n_in: int, n_out: int, weights=None) -> MLP:
        """Model k as a plain MLP, so final metrics use exactly the reference code."""
        weights = weights or [t.detach()[k] for t in self.params()]
        n = len(self.W)
        model = MLP(n_in, cfg.hidden, n_out, cfg.activation, cfg.dropout).to(self.device)
        with torch.no_grad():
            for layer, lin in enumerate(model.linears):
                lin.weight.copy_(weights[layer].t())
                lin.bias.copy_(weights[n + layer].squeeze(0))
        return model


def _per_model_loss(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of each model over its own batch: out [K, m, C|1], y [K, m] -> [K]."""
    k, m = y.shape
    if task == "classification":
        return nn.functional.cross_entropy(out.reshape(k * m, -1), y.reshape(-1), reduction="none").view(k, m).mean(1)
    return (out.squeeze(-1) - y).pow(2).mean(1)


@torch.no_grad()
def _evaluate(pop: Population, x: torch.Tensor, y: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    out = pop.forward(x.unsqueeze(0).expand(pop.k, -1, -1), train=False)
    yk = y.unsqueeze(0).expand(pop.k, -1)
    loss = _per_model_loss(task, out, yk)
    if task == "classification":
        metric = (out.argmax(-1) == yk).float().mean(1)
    else:
        metric = loss
    return loss, metric


def train_population(cfgs: list[TrialConfig], data: Splits) -> list[Union[TrainResult, Diverged]]:
    """Train every configuration at once; returns, per configuration, its TrainResult or the
    Diverged error (with `.history` holding the epochs it completed)."""
    c0 = cfgs[0]
    if not all(compatible(c0, c) for c in cfgs):
        raise ValueError("population members must share " + ", ".join(SHARED))
    device = resolve_device(c0.device)
    k = len(cfgs)
    pop = Population(cfgs, data.n_features, data.n_outputs, device)
    g_order = [torch.Generator().manual_seed(c.seed + 1_000_003) for c in cfgs]
    l1 = torch.tensor([c.l1 for c in cfgs], device=device).view(k, 1, 1)
    l2 = torch.tensor([c.l2 for c in cfgs], device=device).view(k, 1, 1)
    penalized = pop.penalized(c0.penalize_bias)
    params = pop.params()
    opt = (torch.optim.SGD(params, lr=c0.lr, momentum=c0.momentum) if c0.optimizer == "sgd"
           else torch.optim.Adam(params, lr=c0.lr))

    x_tr, y_tr = data.x_train.to(device), data.y_train.to(device)
    x_va, y_va = data.x_val.to(device), data.y_val.to(device)
    n = len(x_tr)
    keys = ("train_loss", "train_data_loss", "train_penalty", "val_loss", "val_metric")
    history = [{key: [] for key in keys} for _ in range(k)]
    alive = torch.ones(k, dtype=torch.bool, device=device)      # not diverged
    training = torch.ones(k, dtype=torch.bool, device=device)   # alive and not early-stopped
    diverged_at = [0] * k
    best_val = [math.inf] * k
    best_epoch, stale, epochs_run = [0] * k, [0] * k, [0] * k
    best_state: list = [None] * k
    use_penalty_l2 = c0.l2_mode == "penalty" and bool((l2 > 0).any())
    use_l1 = bool((l1 > 0).any())

    for epoch in range(1, c0.epochs + 1):
        if not bool(training.any()):
            break
        order = torch.stack([torch.randperm(n, generator=g) for g in g_order]).to(device)
        data_sum = torch.zeros(k, device=device, dtype=torch.float64)
        pen_sum = torch.zeros(k, device=device, dtype=torch.float64)
        for start in range(0, n, c0.batch_size):
            idx = order[:, start:start + c0.batch_size]
            m = idx.shape[1]
            data_loss = _per_model_loss(data.task, pop.forward(x_tr[idx], train=True), y_tr[idx])
            penalty = torch.zeros(k, device=device)
            if use_l1:
                penalty = penalty + sum((l1 * w.abs()).sum((1, 2)) for w in penalized)
            if use_penalty_l2:
                penalty = penalty + sum((0.5 * l2 * w.pow(2)).sum((1, 2)) for w in penalized)
            loss = data_loss + penalty
            newly_diverged = training & ~torch.isfinite(loss)
            if bool(newly_diverged.any()):
                for j in torch.nonzero(newly_diverged).flatten().tolist():
                    diverged_at[j] = epoch
                alive &= ~newly_diverged
                training &= ~newly_diverged
            frozen = ~training
            snapshot = [p.detach()[frozen].clone() for p in params] if bool(frozen.any()) else None
            opt.zero_grad(set_to_none=True)
            torch.where(training, loss, torch.zeros_like(loss)).sum().backward()
            with torch.no_grad():
                if c0.l2_mode == "weight_decay":  # coupled: grad += l2 * w, as torch's weight_decay
                    for w in penalized:
                        w.grad.add_(l2 * w)
                elif c0.l2_mode == "decoupled":   # AdamW-style shrink before the step
                    for w in penalized:
                        w.mul_(1.0 - c0.lr * l2)
            opt.step()
            if snapshot is not None:
                with torch.no_grad():
                    for p, saved in zip(params, snapshot):
                        p[frozen] = saved
            data_sum += torch.nan_to_num(data_loss.detach().double()) * m
            pen_sum += torch.nan_to_num(penalty.detach().double()) * m
        val_loss, val_metric = _evaluate(pop, x_va, y_va, data.task)
        for j in range(k):
            if not bool(training[j]):
                continue
            if not math.isfinite(float(val_loss[j])):
                diverged_at[j] = epoch
                alive[j] = training[j] = False
                continue
            row = {"train_data_loss": float(data_sum[j]) / n, "train_penalty": float(pen_sum[j]) / n,
                   "train_loss": float(data_sum[j] + pen_sum[j]) / n, "val_loss": float(val_loss[j]),
                   "val_metric": float(val_metric[j])}
            for key, v in row.items():
                history[j][key].append(v)
            epochs_run[j] = epoch
            if c0.early_stopping_patience:
                if row["val_loss"] < best_val[j] - c0.early_stopping_min_delta:
                    best_val[j], best_epoch[j], stale[j] = row["val_loss"], epoch, 0
                    best_state[j] = [p.detach()[j].clone() for p in params]
                else:
                    stale[j] += 1
                    if stale[j] >= c0.early_stopping_patience:
                        training[j] = False  # frozen from now on; best weights restored below

    results: list[Union[TrainResult, Diverged]] = []
    for j, cfg in enumerate(cfgs):
        if not bool(alive[j]):
            err = Diverged(diverged_at[j])
            err.history = history[j]
            results.append(err)
            continue
        model = pop.to_mlp(j, cfg, data.n_features, data.n_outputs, best_state[j])
        results.append(TrainResult(history=history[j], final=final_metrics(model, data, device),
                                   weight_histogram=weight_histogram(model), epochs_run=epochs_run[j],
                                   best_epoch=best_epoch[j] if best_state[j] is not None else epochs_run[j],
                                   device=str(device)))
    return results
