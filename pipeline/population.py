"""The population engine: K MLPs of one architecture trained at once as one stacked model.

Weights are stacked to [K, in, out] and every layer is one batched matmul (torch.baddbmm), so a
grid of small models costs a few large kernel launches instead of K times as many small ones.
Everything per model stays per model and matches the reference trainer (train.py) step for step:
initialization, batch order and dropout masks come from the trial's own streams (streams.py), the regularizer strengths are per-model tensors, each model has its own loss, early
stopping (a stopped model is frozen with its best weights) and divergence (a diverged model fails
alone; the others go on). Optimizer state is elementwise, so one SGD/Adam over the stacked
parameters is K independent optimizers.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Optional, Union

import torch
from torch import nn

from . import streams
from .splits import Splits
from .errors import Diverged, stop_if_interrupted
from .model import weight_histogram
from .study_schema import CPU_POPULATION_SIZE
from .task import Task, compute
from .trainer_common import (EarlyStopper, History, TrainResult, TrialConfig, cpu_threads, epoch_metric, epoch_metric_key,
                             history_keys, loss_task, matmul_precision, memory_available, release_free_memory, summarize_final,
                             training_device)

# Fields that must agree for cells to share one population (the rest is per model).
SHARED = ("hidden", "activation", "l2_mode", "penalize_bias", "optimizer", "lr", "momentum",
          "batch_size", "epochs", "early_stopping_patience", "early_stopping_min_delta", "device", "precision")


def compatible(a: TrialConfig, b: TrialConfig) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in SHARED)


# MKL's batched GEMM on CPU takes a slow path for narrow outputs: [10, 32, 128] x [10, 128, 10]
# costs 3x as much as x [10, 128, 16] (BENCHMARKS.md, session 4). So on the CPU the output
# layer is stored with at least MIN_OUT columns; the extra ones start at zero, get zero
# gradient (the loss sees only the real outputs), so every optimizer and penalty leaves them zero.
# cuBLAS has no such path: on CUDA the padding would only add work.
MIN_OUT = 16
GATHER_BYTES = 64 << 20  # gather a whole epoch's batches at once when they fit in this
# activations per evaluation block, all models together: 32 MB on the CPU; on CUDA 512 MB, since
# 32 MB there cut MNIST's validation split at K = 256 into 147 blocks of 41 rows (launch-bound,
# and matmuls too thin for full tiles: BENCHMARKS.md, GPU)
EVAL_ELEMENTS = 8 << 20
EVAL_ELEMENTS_CUDA = 128 << 20


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
            g = streams.init_generator(cfg.seed)
            for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                bound = 1.0 / math.sqrt(a)
                ws[layer].append((torch.rand((b, a), generator=g) * 2 * bound - bound).t())
                bs[layer].append(torch.rand((b,), generator=g) * 2 * bound - bound)
        pad = max(MIN_OUT - n_out, 0) if device.type == "cpu" else 0
        ws[-1] = [nn.functional.pad(w, (0, pad)) for w in ws[-1]]
        bs[-1] = [nn.functional.pad(b, (0, pad)) for b in bs[-1]]
        self.W = [torch.stack(w).contiguous().to(device).requires_grad_() for w in ws]
        self.B = [torch.stack(b).unsqueeze(1).contiguous().to(device).requires_grad_() for b in bs]
        self.act = {"relu": torch.relu_, "tanh": torch.tanh_}[c0.activation]
        self.masks = streams.MaskStream([c.dropout for c in cfgs], [c.seed for c in cfgs], c0.hidden, device)

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
def _evaluate(pop: Population, x: torch.Tensor, y: torch.Tensor, task: Task, keep: Optional[list] = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each model's mean loss and metric on (x, y), [K] each, in blocks of rows so that the
    activations of all K models stay within EVAL_ELEMENTS floats (MNIST's validation split at
    K = 10 would otherwise hold ~130 MB; a large CSV's, gigabytes)."""
    widest = max(x.shape[1], *(w.shape[2] for w in pop.W))
    rows = max(1, (EVAL_ELEMENTS_CUDA if x.device.type == "cuda" else EVAL_ELEMENTS) // (pop.k * widest))
    loss_sum = torch.zeros(pop.k, dtype=torch.float64, device=x.device)
    loss_weight = torch.zeros(pop.k, dtype=torch.float64, device=x.device)
    hits = torch.zeros(pop.k, dtype=torch.float64, device=x.device)
    for start in range(0, len(x), rows):
        xb, yb = x[start:start + rows], y[start:start + rows]
        # an expanded (stride-0) input: measured faster than one shared [m, in] x [in, K*out] matmul
        out = pop.forward(xb.unsqueeze(0).expand(pop.k, -1, -1))
        if keep is not None:   # every model's outputs, for the metrics computed from them
            keep.append(out.cpu())
        yk = yb.unsqueeze(0).expand(pop.k, -1)
        loss_sum += task.per_model_loss(out, yk).double() * task.per_model_weight(yk)
        loss_weight += task.per_model_weight(yk)
        block_hits = task.per_model_hits(out, yk)
        if block_hits is not None:
            hits += block_hits.double()
    loss = (loss_sum / loss_weight).float()
    return loss, loss if task.metric_is_loss else (hits / len(x)).float()


def _rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[index] for index [K, m] of rows of x [n, f]: [K, m, f]. index_select copies whole rows; on
    CUDA, x[index] took twice as long with a column slice of the epoch's order as the index."""
    return x.index_select(0, index.reshape(-1)).view(*index.shape, *x.shape[1:])


EpochHook = Callable[[int, dict[int, dict[str, float]]], Iterable[int]]


def train_population(cfgs: list[TrialConfig], data: Splits, on_epoch: Optional[EpochHook] = None
                     ) -> list[Union[TrainResult, Diverged]]:
    """Train every configuration at once; returns, per configuration, its TrainResult or the
    Diverged error (with `.history` holding the epochs it completed).

    on_epoch(epoch, rows) is called after each epoch with {index: that epoch's history row} of
    the models that trained it, and returns the indices of models to stop now (pruned: frozen,
    their result is what they had). Models are trained in sub-populations where the device
    needs it (population_chunk); a model's numbers do not depend on that."""
    c0 = cfgs[0]
    if not all(compatible(c0, c) for c in cfgs):
        raise ValueError("population members must share " + ", ".join(SHARED))
    device = training_device(c0, data.n_features, data.n_outputs)
    size = population_chunk(c0, data, device, len(cfgs))
    results: list[Union[TrainResult, Diverged]] = []
    with matmul_precision(c0.precision, device), cpu_threads(c0, data.n_features, data.n_outputs, device):
        for start in range(0, len(cfgs), size):
            hook = None if on_epoch is None else _shifted(on_epoch, start)
            results += _train_one_population(cfgs[start:start + size], data, device, hook)
    return results


def _shifted(on_epoch: EpochHook, offset: int) -> EpochHook:
    """A sub-population's view of the caller's hook: its indices offset into the whole list."""
    def hook(epoch, rows):
        return [j - offset for j in on_epoch(epoch, {offset + j: row for j, row in rows.items()}) or ()]
    return hook


def _train_one_population(cfgs: list[TrialConfig], data: Splits, device: torch.device,
                          on_epoch: Optional[EpochHook]) -> list[Union[TrainResult, Diverged]]:
    run = _PopulationRun(cfgs, data, device)
    try:
        for epoch in range(1, cfgs[0].epochs + 1):
            stop_if_interrupted()   # a signal whose exception was swallowed still stops training
            if not bool(run.training.any()):
                break
            rows = run.end_epoch(epoch, *run.train_epoch())
            if on_epoch is not None:
                for j in on_epoch(epoch, rows):
                    run.training[j] = False   # pruned: frozen from now on
    finally:
        run.stop_drawing()
    return run.results()


# --- how many models train at once ------------------------------------------------------------

CUDA_MEMORY_SHARE = 0.5   # of the CUDA memory free (after the data) a population plans to use


def model_bytes(cfg: TrialConfig, n_in: int, n_out: int) -> int:
    """Device memory of one model of a population, estimated: float32 parameters with their
    gradients and optimizer state (1 SGD / 2 Adam buffers), a step's activations (outputs,
    masks, their gradients, slack: 4 per unit) and its input batch."""
    sizes = [n_in, *cfg.hidden, max(n_out, MIN_OUT)]
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    copies = 4 if cfg.optimizer == "adam" else 3
    return 4 * (params * copies + cfg.batch_size * (4 * sum(sizes[1:]) + n_in))


def cuda_fit(cfg: TrialConfig, data: Splits, device: torch.device) -> int:
    """How many models of cfg's shape fit CUDA_MEMORY_SHARE of the device's free memory, with
    the data already there (at least 1)."""
    data_bytes = sum(t.numel() * t.element_size() for t in (data.x_train, data.y_train, data.x_val, data.y_val))
    free = memory_available(device) - data_bytes
    return max(1, int(CUDA_MEMORY_SHARE * free) // model_bytes(cfg, data.n_features, data.n_outputs))


def population_chunk(cfg: TrialConfig, data: Splits, device: torch.device, k: int) -> int:
    """How many of k models to train at once: on CUDA as many as fit (cuda_fit); on a machine
    with CUDA where device: auto keeps the model on the CPU (trainer_common.resolve_device), the
    CPU's size (population_size: auto was sized for the GPU); else all k."""
    if device.type == "cuda":
        return max(1, min(k, cuda_fit(cfg, data, device)))
    if cfg.device == "auto" and torch.cuda.is_available():
        return min(k, CPU_POPULATION_SIZE)
    return k


class _PopulationRun:
    """The state of one population's training: the stacked model, its optimizer, per-model
    strengths, and who still trains (not diverged, not early-stopped)."""

    def __init__(self, cfgs: list[TrialConfig], data: Splits, device: torch.device):
        c0 = self.c0 = cfgs[0]
        self.data, self.task = data, loss_task(data, device)
        self.device = device
        self.k = k = len(cfgs)
        self.pop = Population(cfgs, data.n_features, data.n_outputs, device)
        self.g_order = [streams.order_generator(c.seed) for c in cfgs]
        # On CUDA the next epoch's batch orders are drawn on the CPU while this epoch trains: K
        # randperms of the training rows cost ~0.1-0.2 s at K = 256 on MNIST, a tenth of the
        # epoch, with the GPU idle. Each model's orders are still its stream's randperms in turn.
        self.order_drawer = ThreadPoolExecutor(1, "epoch-orders") if device.type == "cuda" else None
        self.next_order = None
        self.l1 = torch.tensor([c.l1 for c in cfgs], device=device).view(k, 1, 1)
        self.l2 = torch.tensor([c.l2 for c in cfgs], device=device).view(k, 1, 1)
        self.use_l1, self.use_l2 = bool((self.l1 > 0).any()), bool((self.l2 > 0).any())
        self.use_penalty_l2 = self.use_l2 and c0.l2_mode == "penalty"
        self.l1_k, self.half_l2_k = self.l1.view(k), 0.5 * self.l2.view(k)
        self.penalized = self.pop.penalized(c0.penalize_bias)
        self.params = self.pop.params()
        self.opt = (StackedSGD(self.params, c0.lr, c0.momentum) if c0.optimizer == "sgd"
                    else torch.optim.Adam(self.params, lr=c0.lr, foreach=True))  # foreach: one kernel per step for all
        self.x_tr, self.y_tr = data.x_train.to(device), data.y_train.to(device)
        self.x_va, self.y_va = data.x_val.to(device), data.y_val.to(device)
        self.n = len(self.x_tr)
        self.gather_epochs = k * self.x_tr.numel() * self.x_tr.element_size() <= GATHER_BYTES
        self.history = [History(history_keys(data.task, data.metric)) for _ in range(k)]
        self.primary, self.y_va_np = epoch_metric(data.task, data.metric), data.in_target_units(data.y_val.numpy())
        self.alive = torch.ones(k, dtype=torch.bool, device=device)      # not diverged
        self.training = torch.ones(k, dtype=torch.bool, device=device)   # alive and not early-stopped
        self.diverged_at, self.epochs_run = [0] * k, [0] * k
        self.stoppers = [EarlyStopper(c0.early_stopping_patience, c0.early_stopping_min_delta) for _ in range(k)]
        self.best_state: list = [None] * k

    def train_epoch(self) -> tuple[torch.Tensor, torch.Tensor, list[int], Optional[torch.Tensor]]:
        """One epoch of every training model: (data losses [steps, K], penalties [steps, K],
        batch sizes, each batch's class weights [steps, K] or None when unweighted). A loss that turns non-finite is found when the epoch ends (end_epoch): the
        model then fails as in the reference (Diverged at this epoch, history up to the one
        before); its NaNs stay in its own slice of the stacked tensors meanwhile."""
        c0, k, training, params = self.c0, self.k, self.training, self.params
        # Who trains changes only between epochs, so the masks for it are made here, once.
        all_training = bool(training.all())
        frozen = ~training
        on = training.view(k, 1, 1)
        l1_on = torch.where(on, self.l1, 0.0) if self.use_l1 else None
        l2_on = torch.where(on, self.l2, 0.0)
        order = self._epoch_order()
        # Small data: every model's epoch gathered at once; a step then takes a view of it.
        # Large data (MNIST: 600 MB for K = 10) is gathered step by step.
        x_epoch = self.x_tr[order] if self.gather_epochs else None
        y_epoch = self.y_tr[order] if self.gather_epochs else None
        # summed once per epoch, not per step; a batch's mean loss counts for its class weights
        step_losses, step_penalties, batch_sizes, step_weights = [], [], [], []
        starts = range(0, self.n, c0.batch_size)
        for start, masks in zip(starts, self.pop.masks.epoch(c0.batch_sizes(self.n))):
            step = slice(start, start + c0.batch_size)
            x, y = ((x_epoch[:, step], y_epoch[:, step]) if self.gather_epochs
                    else (_rows(self.x_tr, order[:, step]), self.y_tr[order[:, step]]))
            data_loss = self.task.per_model_loss(self.pop.forward(x, masks), y)
            if self.use_l1 or self.use_penalty_l2:
                step_penalties.append(_penalty(self.penalized, self.l1_k if self.use_l1 else None,
                                               self.half_l2_k if self.use_penalty_l2 else None))
            snapshot = None if all_training else [p.detach()[frozen].clone() for p in params]
            self.opt.zero_grad(set_to_none=True)
            (data_loss if all_training else torch.where(training, data_loss, 0.0)).sum().backward()
            self._penalty_gradients(l1_on, l2_on)
            self.opt.step()
            if snapshot is not None:
                with torch.no_grad():
                    for p, saved in zip(params, snapshot):
                        p[frozen] = saved
            step_losses.append(data_loss.detach())
            release_free_memory()
            batch_sizes.append(y.shape[1])
            if self.task.class_weight is not None:
                step_weights.append(self.task.per_model_weight(y))
        losses = torch.stack(step_losses)                                   # [steps, K]
        penalties = torch.stack(step_penalties) if step_penalties else torch.zeros_like(losses)
        return losses, penalties, batch_sizes, torch.stack(step_weights) if step_weights else None

    def _draw_orders(self) -> torch.Tensor:
        order = torch.stack([torch.randperm(self.n, generator=g) for g in self.g_order])
        return order.pin_memory() if self.device.type == "cuda" else order   # for a copy that does not wait

    def _epoch_order(self) -> torch.Tensor:
        """Every model's batch order for this epoch, [K, n] on the device."""
        if self.order_drawer is None:
            return self._draw_orders().to(self.device)
        ready = self.next_order if self.next_order is not None else self.order_drawer.submit(self._draw_orders)
        self.next_order = self.order_drawer.submit(self._draw_orders)   # the next epoch's, meanwhile
        return ready.result().to(self.device, non_blocking=True)

    def stop_drawing(self) -> None:
        if self.order_drawer is not None:
            self.order_drawer.shutdown(wait=True, cancel_futures=True)

    @torch.no_grad()
    def _penalty_gradients(self, l1_on: Optional[torch.Tensor], l2_on: torch.Tensor) -> None:
        """Add the penalties' gradients (of training models only) to the data loss's."""
        for w in self.penalized:
            if self.use_l1:
                w.grad.addcmul_(torch.sign(w), l1_on)
            if self.use_l2 and self.c0.l2_mode in ("penalty", "weight_decay"):  # coupled: as torch's weight_decay
                w.grad.addcmul_(w, l2_on)
            elif self.use_l2 and self.c0.l2_mode == "decoupled":   # AdamW-style shrink before the step
                w.mul_(1.0 - self.c0.lr * l2_on)

    def end_epoch(self, epoch: int, losses: torch.Tensor, penalties: torch.Tensor, batch_sizes: list[int],
                  class_weights: Optional[torch.Tensor]) -> dict[int, dict[str, float]]:
        """Divergence, the epoch's history row and early stopping, model by model; returns the
        rows recorded, by model index."""
        k, n, training = self.k, self.n, self.training
        weights = torch.tensor(batch_sizes, dtype=torch.float64, device=self.device).view(-1, 1)
        newly_diverged = training & ~torch.isfinite(losses + penalties).all(0)
        if bool(newly_diverged.any()):
            for j in torch.nonzero(newly_diverged).flatten().tolist():
                self.diverged_at[j] = epoch
            self.alive &= ~newly_diverged
            training &= ~newly_diverged
        data_sum, pen_sum = (torch.stack((losses, penalties), 1).double() * weights.unsqueeze(1)).sum(0)
        data_mean = data_sum / n if class_weights is None else (losses.double() * class_weights).sum(0) / class_weights.sum(0)
        outputs = [] if self.primary is not None else None   # [K, rows, C] blocks of every model's outputs
        val_loss, val_metric = _evaluate(self.pop, self.x_va, self.y_va, self.task, keep=outputs)
        # one conversion to Python floats per epoch, not one per model and value
        is_training = training.tolist()
        val_metric = val_metric.double() * self.data.squared_error_scale   # MSE in the target's units
        data_means, pen_sums, val_losses, val_metrics = (t.tolist() for t in (data_mean, pen_sum, val_loss, val_metric))
        rows = {}
        for j in range(k):
            if not is_training[j]:
                continue
            if not math.isfinite(val_losses[j]):
                self.diverged_at[j] = epoch
                self.alive[j] = training[j] = False
                continue
            row = {"train_data_loss": data_means[j], "train_penalty": pen_sums[j] / n,
                   "train_loss": data_means[j] + pen_sums[j] / n, "val_loss": val_losses[j], "val_metric": val_metrics[j]}
            if outputs is not None:
                row[epoch_metric_key(self.primary)] = compute(
                    self.primary, self.y_va_np, self.data.in_target_units(torch.cat([o[j] for o in outputs]).numpy()))
            self.history[j].add(row)
            rows[j] = row
            self.epochs_run[j] = epoch
            improved, stop = self.stoppers[j].update(row["val_loss"], epoch)
            if improved:
                self.best_state[j] = [p.detach()[j].clone() for p in self.params]
            if stop:
                training[j] = False  # frozen from now on; best weights restored in results()
        return rows

    def results(self) -> list[Union[TrainResult, Diverged]]:
        pop, data, params = self.pop, self.data, self.params
        with torch.no_grad():  # early-stopped models get their best weights back
            for j, state in enumerate(self.best_state):
                if state is not None:
                    for p, saved in zip(params, state):
                        p[j] = saved
        kept: dict[str, list] = {split: [] for split in ("train", "val", "test")}
        evals = {split: [t.tolist() for t in _evaluate(pop, getattr(data, f"x_{split}").to(self.device),
                                                       getattr(data, f"y_{split}").to(self.device), self.task,
                                                       kept[split])]
                 for split in ("train", "val", "test")}   # every model at once, in eval mode
        # [K, n, C]; metrics in the target's units, losses those of training (a standardized target's)
        outputs = {split: data.in_target_units(torch.cat(blocks, dim=1).numpy()) for split, blocks in kept.items()}
        targets = {split: data.in_target_units(getattr(data, f"y_{split}").numpy()) for split in kept}
        results: list[Union[TrainResult, Diverged]] = []
        for j in range(self.k):
            if not bool(self.alive[j]):
                err = Diverged(self.diverged_at[j])
                err.history = self.history[j]
                results.append(err)
                continue
            weights = [w.detach()[j][:, :data.n_outputs] if i == len(pop.W) - 1 else w.detach()[j]
                       for i, w in enumerate(pop.W)]   # [in, out]: the reference's transposed, which stats ignore
            final = summarize_final({split: (loss[j], metric[j] * data.squared_error_scale)
                                     for split, (loss, metric) in evals.items()},
                                    data.task, weights, {split: (o[j], targets[split]) for split, o in outputs.items()},
                                    data.metric, data.n_classes)
            best = self.stoppers[j].best_epoch if self.best_state[j] is not None else self.epochs_run[j]
            results.append(TrainResult(history=self.history[j], final=final, weight_histogram=weight_histogram(weights),
                                       epochs_run=self.epochs_run[j], best_epoch=best, device=str(self.device)))
        return results
