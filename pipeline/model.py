"""The MLP and the regularizers it is compared under.

- dropout: inverted dropout after each hidden activation, masks drawn from the trial's own
  generator (so they depend on the seed only), active only in training mode.
- L1: lambda1 * sum|w| over weight matrices, added to the loss.
- L2: lambda2 / 2 * sum w^2 over weight matrices (or the optimizer's weight decay; see train.py).
Biases are left out of the penalties unless the study asks for them.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import nn

SPARSITY_THRESHOLDS = (1e-4, 1e-3, 1e-2)


class InvertedDropout(nn.Module):
    """Zero each unit with probability p and scale survivors by 1/(1-p); identity in eval mode.

    Same maths as nn.Dropout, but the mask comes from an explicit generator so that a trial's
    masks are fixed by its seed and independent of any other code using the global RNG.
    """

    def __init__(self, p: float, generator: torch.Generator | None = None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1), got {p}")
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MLP(nn.Module):
    def __init__(self, n_in: int, hidden: Sequence[int], n_out: int, activation: str = "relu",
                 dropout: Sequence[float] | None = None, init_generator: torch.Generator | None = None,
                 dropout_generator: torch.Generator | None = None):
        super().__init__()
        dropout = list(dropout) if dropout is not None else [0.0] * len(hidden)
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
        sizes = [n_in, *hidden, n_out]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.acts = nn.ModuleList(act() for _ in hidden)
        self.dropouts = nn.ModuleList(InvertedDropout(p, dropout_generator) for p in dropout)
        if init_generator is not None:
            init_linear_(self.linears, init_generator)

    def forward(self, x: torch.Tensor, masks: Sequence | None = None) -> torch.Tensor:
        """masks: one inverted-dropout mask [m, h] (or None) per hidden layer, drawn by the
        caller (streams.MaskStream, as the trainers do); without them the model's own dropout
        modules draw theirs."""
        for i, linear in enumerate(self.linears):
            x = linear(x)
            if i < len(self.acts):
                x = self.acts[i](x)
                if masks is None:
                    x = self.dropouts[i](x)
                elif masks[i] is not None:
                    x = x * masks[i]
        return x

    def weights(self) -> list[torch.Tensor]:
        return [lin.weight for lin in self.linears]

    def penalized(self, include_bias: bool) -> list[torch.Tensor]:
        params = self.weights()
        if include_bias:
            params += [lin.bias for lin in self.linears]
        return params


def init_linear_(linears: Iterable[nn.Linear], generator: torch.Generator) -> None:
    """PyTorch's default nn.Linear initialization, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights
    and biases, drawn from `generator` so initialization depends on the trial seed alone."""
    with torch.no_grad():
        for lin in linears:
            bound = 1.0 / math.sqrt(lin.in_features)
            lin.weight.copy_(torch.rand(lin.weight.shape, generator=generator) * 2 * bound - bound)
            lin.bias.copy_(torch.rand(lin.bias.shape, generator=generator) * 2 * bound - bound)


def l1_penalty(params: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    return lam * sum(p.abs().sum() for p in params)


def l2_penalty(params: Iterable[torch.Tensor], lam: float) -> torch.Tensor:
    # lambda/2 * ||w||^2: its gradient is lambda * w, exactly what coupled weight_decay adds.
    return 0.5 * lam * sum(p.pow(2).sum() for p in params)


def _weights(model_or_weights) -> list[torch.Tensor]:
    return model_or_weights.weights() if isinstance(model_or_weights, MLP) else list(model_or_weights)


def weight_stats(model: MLP | Sequence[torch.Tensor]) -> dict[str, float]:
    """Per-layer L1 and L2 norms of the weight matrices (a model's, or the matrices themselves,
    in either orientation), their total L2 norm and the fraction of small weights."""
    stats: dict[str, float] = {}
    flat = []
    with torch.no_grad():
        for i, w in enumerate(_weights(model)):
            stats[f"weight_l1_layer{i}"] = float(w.abs().sum())
            stats[f"weight_l2_layer{i}"] = float(w.pow(2).sum().sqrt())
            flat.append(w.abs().flatten())
        magnitudes = torch.cat(flat)
        # the L2 norm of all weight matrices together: what an L2 penalty pulls down
        stats["weight_l2_total"] = float(magnitudes.double().pow(2).sum().sqrt())
        for t in SPARSITY_THRESHOLDS:
            stats[f"sparsity_lt_{t:g}"] = float((magnitudes < t).float().mean())
    return stats


HIST_EDGES = [0.0] + [10.0 ** e for e in torch.arange(-6, 1.01, 0.25).tolist()] + [float("inf")]


def weight_histogram(model: MLP | Sequence[torch.Tensor]) -> dict:
    """Counts of |w| in log-spaced bins: small enough to log per trial, enough for the report."""
    with torch.no_grad():
        # on the CPU: the edges live there (a CUDA model's weights failed torch.bucketize)
        magnitudes = torch.cat([w.detach().abs().flatten().cpu() for w in _weights(model)]).double()
        edges = torch.tensor(HIST_EDGES, dtype=torch.float64)
        idx = torch.bucketize(magnitudes, edges[1:-1], right=True)
        counts = torch.bincount(idx, minlength=len(HIST_EDGES) - 1)
    return {"edges": HIST_EDGES[:-1] + ["inf"], "counts": counts.tolist()}
