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
from typing import Optional, Union

import torch
from torch import nn

from .datasets import Splits
from .errors import Diverged
from .model import weight_histogram
from .train import TrainResult, TrialConfig, release_free_memory, resolve_device, summarize_final

# Fields that must agree for cells to share one population (the rest is per model).
SHARED = ("hidden", "activation", "l2_mode", "penalize_bias", "optimizer", "lr", "momentum",
          "batch_size", "epochs", "early_stopping_patience", "early_stopping_min_delta", "device")


def compatible(a: TrialConfig, b: TrialConfig) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in SHARED)


class MaskStream:
    """Inverted-dropout masks of every model, drawn ahead for a chunk of steps at a time.

    Each model draws from its own generator exactly what the reference InvertedDropout draws per
    step (layer by layer, nothing for p = 0), but as one call per chunk instead of one per layer
    and step: on CPU torch.rand fills serially, so one draw of n + m numbers equals a draw of n
    then m, and the masks are bit for bit the reference's. (CUDA's Philox stream is split per
    call, so there the masks differ from the reference trainer's; their distribution does not.)
    A chunk holds at most `budget` numbers, so MNIST-sized layers stay a few MB.
    """

    def __init__(self, dropout: list[tuple], seeds: list[int], hidden: tuple, device: torch.device,
                 budget: int = 1 << 20):
        self.p = torch.tensor([list(d) for d in dropout], dtype=torch.float32, device=device)  # [K, layers]
        self.active = [[layer for layer, p in enumerate(d) if p > 0] for d in dropout]
        self.gens = [torch.Generator(device=device).manual_seed(s + 2_000_029) for s in seeds]
        self.hidden, self.device, self.budget = list(hidden), device, budget
        self.layers = [layer for layer in range(len(hidden)) if any(layer in a for a in self.active)]

    def epoch(self, batch_sizes: list[int]):
        """Yield, for each step of an epoch, the list of per-layer masks [K, m, h] (None where no
        model drops that layer); yields None per step when no model uses dropout."""
        if not self.layers:
            yield from (None for _ in batch_sizes)
            return
        k = len(self.gens)
        per_sample = k * sum(self.hidden[layer] for layer in self.layers)
        i = 0
        while i < len(batch_sizes):
            m = batch_sizes[i]
            steps = 1
            while (i + steps < len(batch_sizes) and batch_sizes[i + steps] == m
                   and (steps + 1) * m * per_sample <= self.budget):
                steps += 1
            yield from self._chunk(m, steps, k)
            i += steps

    def _chunk(self, m: int, steps: int, k: int):
        # One buffer per layer, filled in place: the uniforms, then keep (1.0/0.0), then the scale.
        masks = {layer: torch.empty(k, steps, m, self.hidden[layer], device=self.device) for layer in self.layers}
        for j in range(k):
            widths = [m * self.hidden[layer] for layer in self.active[j]]
            drawn = (torch.rand(steps * sum(widths), generator=self.gens[j], device=self.device).view(steps, -1)
                     .split(widths, dim=1) if widths else [])
            mine = dict(zip(self.active[j], drawn))
            for layer, buf in masks.items():
                if layer in mine:
                    buf[j].view(steps, -1).copy_(mine[layer])   # [steps, m * h] columns of the draw
                else:  # this model keeps every unit of the layer (1.0 >= p = 0, scale 1)
                    buf[j].fill_(1.0)
        for layer, buf in masks.items():
            p = self.p[:, layer].view(k, 1, 1, 1)
            buf.ge_(p).div_(1.0 - p)   # [K, steps, m, h]
        for s in range(steps):
            yield [masks[layer][:, s] if layer in masks else None for layer in range(len(self.hidden))]


# MKL's batched GEMM on CPU takes a slow path for narrow outputs: [10, 32, 128] x [10, 128, 10]
# costs 3x as much as x [10, 128, 16] (BENCHMARKS.md, session 4). So the output
# layer is stored with at least MIN_OUT columns; the extra ones start at zero, get zero
# gradient (the loss sees only the real outputs), so every optimizer and penalty leaves them zero.
MIN_OUT = 16
GATHER_BYTES = 64 << 20  # gather a whole epoch's batches at once when they fit in this
EVAL_ELEMENTS = 8 << 20  # activations per evaluation block, all models together (32 MB)


class Population:
    """K stacked MLPs. W[l]: [K, in, out]; B[l]: [K, 1, out]; the output layer's out is padded
    with zero columns to MIN_OUT."""

    def __init__(self, cfgs: list[TrialConfig], n_in: int, n_out: int, device: torch.device):
        c0 = cfgs[0]
        self.k, self.device, self.n_out = len(cfgs), device, n_out
        sizes = [n_in, *c0.hidden, n_out]
        ws, bs = [[] for _ in sizes[1:]], [[] for _ in sizes[1:]]
        for cfg in cfgs:
            # Same draws, in the same order, as model.init_linear_ for the reference MLP.
            g = torch.Generator().manual_seed(cfg.seed)
            for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                bound = 1.0 / math.sqrt(a)
                ws[layer].append((torch.rand((b, a), generator=g) * 2 * bound - bound).t())
                bs[layer].append(torch.rand((b,), generator=g) * 2 * bound - bound)
        pad = max(MIN_OUT - n_out, 0)
        ws[-1] = [nn.functional.pad(w, (0, pad)) for w in ws[-1]]
        bs[-1] = [nn.functional.pad(b, (0, pad)) for b in bs[-1]]
        self.W = [torch.stack(w).contiguous().to(device).requires_grad_() for w in ws]
        self.B = [torch.stack(b).unsqueeze(1).contiguous().to(device).requires_grad_() for b in bs]
        self.act = {"relu": torch.relu_, "tanh": torch.tanh_}[c0.activation]
        self.masks = MaskStream([c.dropout for c in cfgs], [c.seed for c in cfgs], c0.hidden, device)

    def params(self) -> list[torch.Tensor]:
        return self.W + self.B

    def penalized(self, include_bias: bool) -> list[torch.Tensor]:
        return self.W + (self.B if include_bias else [])

    def forward(self, x: torch.Tensor, masks: Optional[list] = None) -> torch.Tensor:
        """x: [K, m, in] -> [K, m, out]; masks: per hidden layer [K, m, h] or None (no dropout)."""
        h = x
        last = len(self.W) - 1
        for layer, (w, b) in enumerate(zip(self.W, self.B)):
            h = torch.baddbmm(b, h, w)
            if layer < last:
                h = self.act(h)  # in place: the matmul's output is not needed for its backward
                if masks is not None and masks[layer] is not None:
                    h = h * masks[layer]
        return h[..., :self.n_out]


class StackedSGD:
    """torch.optim.SGD's update (momentum, no dampening or Nesterov: buf = grad on the first step,
    then buf = momentum * buf + grad; w -= lr * buf) as one fused kernel per tensor
    (torch._fused_sgd_, what SGD(fused=True) calls). On small data the step is per-step
    overhead: torch.optim's wrapper (hooks, profiler, dynamo guards) costs about as much as the
    maths, and the fused kernel takes half the time of the foreach one."""

    def __init__(self, params: list[torch.Tensor], lr: float, momentum: float):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.bufs = [torch.empty_like(p) for p in params] if momentum else []
        self.first = True

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        torch._fused_sgd_(self.params, [p.grad for p in self.params], self.bufs, weight_decay=0.0,
                          momentum=self.momentum, lr=self.lr, dampening=0.0, nesterov=False,
                          maximize=False, is_first_step=self.first and bool(self.momentum))
        self.first = False


def _per_model_loss(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of each model over its own batch: out [K, m, C|1], y [K, m] -> [K]."""
    k, m = y.shape
    if task == "classification":
        return nn.functional.cross_entropy(out.reshape(k * m, -1), y.reshape(-1), reduction="none").view(k, m).mean(1)
    return (out.squeeze(-1) - y).pow(2).mean(1)


@torch.no_grad()
def _penalty(penalized: list[torch.Tensor], l1: Optional[torch.Tensor], half_l2: Optional[torch.Tensor]) -> torch.Tensor:
    """Each model's L1 + L2 penalty value, [K]: per-model sums first, then the strengths, the
    reference's order (model.l1_penalty, model.l2_penalty). Outside autograd: the training loop
    adds their gradients, l1 * sign(w) and l2 * w, to the data loss's directly, one addcmul per
    tensor, where autograd would take abs/pow, sum and a backward kernel for each."""
    k = penalized[0].shape[0]
    total = torch.zeros(k, device=penalized[0].device)
    norm = torch.linalg.vector_norm  # one kernel per tensor, where abs/square then sum take two
    if l1 is not None:
        total += l1 * sum(norm(w, 1, dim=(1, 2)) for w in penalized)
    if half_l2 is not None:
        total += half_l2 * sum(norm(w, 2, dim=(1, 2)).square() for w in penalized)
    return total


@torch.no_grad()
def _evaluate(pop: Population, x: torch.Tensor, y: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Each model's mean loss and metric on (x, y), [K] each, in blocks of rows so that the
    activations of all K models stay within EVAL_ELEMENTS floats (MNIST's validation split at
    K = 10 would otherwise hold ~130 MB; a large CSV's, gigabytes)."""
    widest = max(x.shape[1], *(w.shape[2] for w in pop.W))
    rows = max(1, EVAL_ELEMENTS // (pop.k * widest))
    loss_sum = torch.zeros(pop.k, dtype=torch.float64, device=x.device)
    correct = torch.zeros(pop.k, dtype=torch.float64, device=x.device)
    for start in range(0, len(x), rows):
        xb, yb = x[start:start + rows], y[start:start + rows]
        # an expanded (stride-0) input: measured faster than one shared [m, in] x [in, K*out] matmul
        out = pop.forward(xb.unsqueeze(0).expand(pop.k, -1, -1))
        yk = yb.unsqueeze(0).expand(pop.k, -1)
        loss_sum += _per_model_loss(task, out, yk).double() * len(xb)
        if task == "classification":
            correct += (out.argmax(-1) == yk).sum(1).double()
    loss = (loss_sum / len(x)).float()
    return loss, (correct / len(x)).float() if task == "classification" else loss


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
    opt = (StackedSGD(params, c0.lr, c0.momentum) if c0.optimizer == "sgd"
           else torch.optim.Adam(params, lr=c0.lr, foreach=True))  # foreach: one kernel per step for all

    x_tr, y_tr = data.x_train.to(device), data.y_train.to(device)
    x_va, y_va = data.x_val.to(device), data.y_val.to(device)
    n = len(x_tr)
    gather_epochs = k * x_tr.numel() * x_tr.element_size() <= GATHER_BYTES
    keys = ("train_loss", "train_data_loss", "train_penalty", "val_loss", "val_metric")
    history = [{key: [] for key in keys} for _ in range(k)]
    alive = torch.ones(k, dtype=torch.bool, device=device)      # not diverged
    training = torch.ones(k, dtype=torch.bool, device=device)   # alive and not early-stopped
    diverged_at = [0] * k
    best_val = [math.inf] * k
    best_epoch, stale, epochs_run = [0] * k, [0] * k, [0] * k
    best_state: list = [None] * k
    use_l2 = bool((l2 > 0).any())
    use_penalty_l2 = use_l2 and c0.l2_mode == "penalty"
    l1_k, half_l2_k = l1.view(k), 0.5 * l2.view(k)
    use_l1 = bool((l1 > 0).any())

    for epoch in range(1, c0.epochs + 1):
        if not bool(training.any()):
            break
        # Who trains changes only between epochs (early stopping, divergence), so the masks for
        # it are made here, once. A loss that turns non-finite is found when the epoch ends: the
        # model then fails as in the reference (Diverged at this epoch, history up to the one
        # before); its NaNs stay in its own slice of the stacked tensors meanwhile.
        all_training = bool(training.all())
        frozen = ~training
        on = training.view(k, 1, 1)
        l1_on = torch.where(on, l1, 0.0) if use_l1 else None
        l2_on = torch.where(on, l2, 0.0)
        order = torch.stack([torch.randperm(n, generator=g) for g in g_order]).to(device)
        # Small data: every model's epoch gathered at once; a step then takes a view of it.
        # Large data (MNIST: 600 MB for K = 10) is gathered step by step.
        x_epoch = x_tr[order] if gather_epochs else None
        y_epoch = y_tr[order] if gather_epochs else None
        step_losses, step_penalties, batch_sizes = [], [], []   # summed once per epoch, not per step
        starts = range(0, n, c0.batch_size)
        for start, masks in zip(starts, pop.masks.epoch([min(c0.batch_size, n - s) for s in starts])):
            step = slice(start, start + c0.batch_size)
            x, y = (x_epoch[:, step], y_epoch[:, step]) if gather_epochs else (x_tr[order[:, step]], y_tr[order[:, step]])
            data_loss = _per_model_loss(data.task, pop.forward(x, masks), y)
            if use_l1 or use_penalty_l2:
                step_penalties.append(_penalty(penalized, l1_k if use_l1 else None,
                                               half_l2_k if use_penalty_l2 else None))
            snapshot = None if all_training else [p.detach()[frozen].clone() for p in params]
            opt.zero_grad(set_to_none=True)
            (data_loss if all_training else torch.where(training, data_loss, 0.0)).sum().backward()
            with torch.no_grad():
                for w in penalized:  # the penalties' gradients (of training models only)
                    if use_l1:
                        w.grad.addcmul_(torch.sign(w), l1_on)
                    if use_l2 and c0.l2_mode in ("penalty", "weight_decay"):  # coupled: as torch's weight_decay
                        w.grad.addcmul_(w, l2_on)
                    elif use_l2 and c0.l2_mode == "decoupled":   # AdamW-style shrink before the step
                        w.mul_(1.0 - c0.lr * l2_on)
            opt.step()
            if snapshot is not None:
                with torch.no_grad():
                    for p, saved in zip(params, snapshot):
                        p[frozen] = saved
            step_losses.append(data_loss.detach())
            release_free_memory()
            batch_sizes.append(y.shape[1])
        weights = torch.tensor(batch_sizes, dtype=torch.float64, device=device).view(-1, 1)
        losses = torch.stack(step_losses)                                   # [steps, K]
        penalties = torch.stack(step_penalties) if step_penalties else torch.zeros_like(losses)
        newly_diverged = training & ~torch.isfinite(losses + penalties).all(0)
        if bool(newly_diverged.any()):
            for j in torch.nonzero(newly_diverged).flatten().tolist():
                diverged_at[j] = epoch
            alive &= ~newly_diverged
            training &= ~newly_diverged
        data_sum, pen_sum = (torch.stack((losses, penalties), 1).double() * weights.unsqueeze(1)).sum(0)
        val_loss, val_metric = _evaluate(pop, x_va, y_va, data.task)
        # one conversion to Python floats per epoch, not one per model and value
        is_training = training.tolist()
        data_sums, pen_sums, val_losses, val_metrics = (t.tolist() for t in (data_sum, pen_sum, val_loss, val_metric))
        train_sums = (data_sum + pen_sum).tolist()
        for j in range(k):
            if not is_training[j]:
                continue
            if not math.isfinite(val_losses[j]):
                diverged_at[j] = epoch
                alive[j] = training[j] = False
                continue
            row = {"train_data_loss": data_sums[j] / n, "train_penalty": pen_sums[j] / n,
                   "train_loss": train_sums[j] / n, "val_loss": val_losses[j], "val_metric": val_metrics[j]}
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

    with torch.no_grad():  # early-stopped models get their best weights back
        for j, state in enumerate(best_state):
            if state is not None:
                for p, saved in zip(params, state):
                    p[j] = saved
    evals = {split: [t.tolist() for t in _evaluate(pop, getattr(data, f"x_{split}").to(device),
                                                   getattr(data, f"y_{split}").to(device), data.task)]
             for split in ("train", "val", "test")}   # every model at once, in eval mode
    results: list[Union[TrainResult, Diverged]] = []
    for j in range(k):
        if not bool(alive[j]):
            err = Diverged(diverged_at[j])
            err.history = history[j]
            results.append(err)
            continue
        weights = [w.detach()[j][:, :data.n_outputs] if i == len(pop.W) - 1 else w.detach()[j]
                   for i, w in enumerate(pop.W)]   # [in, out]: the reference's transposed, which stats ignore
        final = summarize_final({split: (loss[j], metric[j]) for split, (loss, metric) in evals.items()},
                                data.task, weights)
        results.append(TrainResult(history=history[j], final=final, weight_histogram=weight_histogram(weights),
                                   epochs_run=epochs_run[j],
                                   best_epoch=best_epoch[j] if best_state[j] is not None else epochs_run[j],
                                   device=str(device)))
    return results
