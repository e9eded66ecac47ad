"""Every random draw of a trial as a function of its seed alone: weight initialization, batch
order and dropout masks. Both trainers draw from these, so a cell gets the same numbers from the
reference trainer and from the population engine, whatever population it lands in.
"""

from __future__ import annotations

import torch

# Offsets that keep a trial's three streams apart (seed, seed + ORDER, seed + DROPOUT).
ORDER_OFFSET = 1_000_003
DROPOUT_OFFSET = 2_000_029


def init_generator(seed: int) -> torch.Generator:
    """Weights and biases, layer by layer (model.init_linear_), always drawn on the CPU."""
    return torch.Generator().manual_seed(seed)


def order_generator(seed: int) -> torch.Generator:
    """One torch.randperm of the training rows per epoch, on the CPU."""
    return torch.Generator().manual_seed(seed + ORDER_OFFSET)


def dropout_generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed + DROPOUT_OFFSET)


class MaskStream:
    """Inverted-dropout masks of K models (K = 1 for the reference trainer), drawn ahead for a
    chunk of steps at a time.

    Per model, per chunk: one torch.rand of steps x (batch x the widths of the layers it drops)
    numbers from the model's own generator, read step by step and layer by layer (nothing for a
    layer with p = 0). How many steps a chunk holds depends only on the batch size, the hidden
    widths and `budget`, never on K or on the other models, so a model's masks are a function of
    its trial alone on every device (on CUDA a split draw differs from one draw, so this matters).
    On CPU torch.rand fills serially and a chunk of any length gives the same numbers.
    """

    def __init__(self, dropout: list[tuple], seeds: list[int], hidden: tuple, device: torch.device,
                 budget: int = 1 << 18):
        self.p = torch.tensor([list(d) for d in dropout], dtype=torch.float32, device=device)  # [K, layers]
        self.active = [[layer for layer, p in enumerate(d) if p > 0] for d in dropout]
        self.gens = [dropout_generator(s, device) for s in seeds]
        self.hidden, self.device, self.budget = list(hidden), device, budget
        self.layers = [layer for layer in range(len(hidden)) if any(layer in a for a in self.active)]

    def epoch(self, batch_sizes: list[int]):
        """Yield, for each step of an epoch, the list of per-layer masks [K, m, h] (None where no
        model drops that layer); yields None per step when no model uses dropout."""
        if not self.layers:
            yield from (None for _ in batch_sizes)
            return
        per_sample = sum(self.hidden)  # a model's widest possible draw per sample: trial-only
        i = 0
        while i < len(batch_sizes):
            m = batch_sizes[i]
            steps = 1
            while (i + steps < len(batch_sizes) and batch_sizes[i + steps] == m
                   and (steps + 1) * m * per_sample <= self.budget):
                steps += 1
            yield from self._chunk(m, steps, len(self.gens))
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
