"""A regularization path's points: an arm at several strengths on the same seeds, each point named
by its settings ("l2=0.001,l2_mode=penalty"), ordered weakest to strongest where one strength varies,
and the one that stands for the arm selected on validation. verdicts.py, path_summary.py and the
report's tables and figures all read a path through these."""

from __future__ import annotations

import math
from itertools import combinations
from statistics import fmean
from typing import Optional

import numpy as np

from . import stats
from .arms import variant_keys


def strength_order(order: list[str]) -> Optional[list[str]]:
    """A path's points from weakest to strongest, when they differ in one strength alone (l1, l2,
    or dropout, per-layer p by their mean); None when "strongest" has no meaning: several strengths
    vary (dropout x l2), or only l2_mode does."""
    keys = [variant_keys(v) for v in order]
    varying = {k for kk in keys for k in kk if len({kk2.get(k) for kk2 in keys}) > 1}
    if len(order) < 2 or len(varying) != 1 or varying & {"l2_mode"} or any(set(k) != set(keys[0]) for k in keys):
        return None
    [name] = varying
    try:
        value = {v: fmean(float(x) for x in k[name].split("/")) for v, k in zip(order, keys)}
    except ValueError:
        return None
    return sorted(order, key=value.get)


def mode_pairs(order: list[str]) -> list[tuple[str, str]]:
    """The pairs of a path's points that differ in l2_mode alone, in the path's order: "the
    penalty in the loss or the optimizer's weight decay?" asked at the same strengths."""
    keys = {v: variant_keys(v) for v in order}

    def others(v: str) -> dict[str, str]:
        return {k: x for k, x in keys[v].items() if k != "l2_mode"}

    return [(a, b) for a, b in combinations(order, 2) if {"l2_mode"} <= keys[a].keys() & keys[b].keys()
            and keys[a]["l2_mode"] != keys[b]["l2_mode"] and others(a) == others(b)]


def mode_name(variant: str) -> tuple[str, str]:
    """A point of a mode pair (mode_pairs) as its l2_mode and the settings it shares with the
    other point: ("decoupled", "l2=0.001"), ("decoupled", "") on a path over l2_mode alone."""
    keys = variant_keys(variant)
    return keys.get("l2_mode", variant), ",".join(f"{k}={x}" for k, x in keys.items() if k != "l2_mode")


def validation_stats(by_seed: dict[int, dict]) -> tuple[float, float]:
    """A path point's mean validation metric over seeds and its standard error (NaN from one seed)."""
    vals = [x["val"] for x in by_seed.values()]
    return (float(np.mean(vals)) if vals else math.nan,
            float(np.std(vals, ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else math.nan)


def within_one_se(variants: dict[str, dict[int, dict]], chosen: str,
                  higher_is_better: bool) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Each path point's validation mean and SE (validation_stats), and the points whose mean is
    within one standard error of the chosen (best) point's: [chosen] alone when its seeds give no
    standard error."""
    val = {v: validation_stats(by_seed) for v, by_seed in variants.items() if by_seed}
    if chosen not in val or not math.isfinite(val[chosen][1]):
        return val, [chosen] if chosen else []
    top, se = val[chosen]
    return val, [v for v, (m, _) in val.items() if (m >= top - se if higher_is_better else m <= top + se)]


def alike(one: dict, other: dict) -> bool:
    """Two path points with the same numbers on every seed, the training side's too (l2_mode
    penalty and weight_decay train alike; the same accuracy alone can be a coarse metric's
    coincidence): the choice between them is the list's order, not the data."""
    return bool(one) and one.keys() == other.keys() and all(
        stats.same_result(one[s][k], other[s][k]) for s in one for k in ("val", "test", "gap"))


def copies(variants: dict[str, dict[int, dict]]) -> list[str]:
    """The points with an earlier point's numbers on every seed (alike), in the path's order."""
    order = list(variants)
    return [v for i, v in enumerate(order) if any(alike(variants[u], variants[v]) for u in order[:i])]


def select_variant(variants: dict[str, dict[int, dict]], higher_is_better: bool) -> str:
    """The path point that stands for the arm: the best mean *validation* metric over its seeds
    (selecting on test values and then testing them would be a selection on the same data). Points
    equal but for float rounding (l2_mode penalty and decoupled under plain SGD) go by the list's
    order, not by that noise. The first point while none has a value (a path added to a study, its
    cells still waiting)."""
    means = {v: float(np.mean([x["val"] for x in by_seed.values()])) for v, by_seed in variants.items() if by_seed}
    means = {v: m for v, m in means.items() if math.isfinite(m)}   # a NaN would win max() when listed first
    if not means:
        return next(iter(variants), "")
    best = (max if higher_is_better else min)(means.values())
    return next(v for v, m in means.items() if stats.same_result(m, best))
