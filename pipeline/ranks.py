"""Statistics across datasets (Demsar 2006): each dataset's arms ranked, the Friedman test of those
ranks with the Nemenyi critical difference, and the probability that an arm improves on a
baseline (a stratified bootstrap over datasets). One dataset's paired comparisons are stats.py's."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from .stats import ALPHA


def _float_ties(scores: np.ndarray) -> np.ndarray:
    """Each dataset's scores to 7 significant digits of its largest: two arms whose means differ
    by float32 rounding (the same correct test rows, averaged in another order: 0.9521126807 and
    0.9521126747) tie instead of one ranking above the other."""
    scale = np.nanmax(np.abs(scores), axis=1, keepdims=True)
    scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    return np.round(scores / scale, 7) * scale


def average_ranks(scores: np.ndarray, higher_is_better: Sequence[bool]) -> np.ndarray:
    """scores: datasets x arms. Rank 1 is best within each dataset; ties (to float rounding)
    share the mean rank."""
    scores = _float_ties(np.asarray(scores, dtype=float))
    ranks = np.vstack([stats.rankdata(-row if hib else row) for row, hib in zip(scores, higher_is_better)])
    return ranks.mean(axis=0)


@dataclass
class Friedman:
    n_datasets: int
    n_arms: int
    avg_ranks: list[float]
    statistic: float
    p_value: float
    critical_difference: float
    descriptive_only: bool


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi critical difference of average ranks: q_alpha * sqrt(k(k+1) / (6N))."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))


def friedman(scores: np.ndarray, higher_is_better: Sequence[bool]) -> Friedman:
    """Friedman test over datasets (rows) for arms (columns), with average ranks and the CD.
    Fewer than 8 datasets makes it descriptive: the chi-square approximation is poor."""
    n, k = scores.shape
    ranks = average_ranks(scores, higher_is_better)
    if n >= 2 and k >= 3:
        oriented = np.vstack([row if hib else -row for row, hib in zip(_float_ties(np.asarray(scores, dtype=float)),
                                                                       higher_is_better)])
        res = stats.friedmanchisquare(*oriented.T)
        stat, p = float(res.statistic), float(res.pvalue)
    else:
        stat, p = math.nan, math.nan
    cd = nemenyi_cd(k, n) if n >= 1 and k >= 2 else math.nan
    return Friedman(n, k, ranks.tolist(), stat, p, cd, n < 8)


@dataclass
class Improvement:
    """How often an arm beats the baseline, across datasets (the probability of improvement of
    Agarwal et al. 2021, paired by seed: rliable's compares every run with every run)."""
    n_datasets: int
    probability: float     # mean over datasets of P(arm better than the baseline on a seed); ties count half
    ci_low: float          # 95% stratified bootstrap interval (seeds resampled within each dataset)
    ci_high: float


def probability_of_improvement(datasets: Sequence[tuple[Sequence[float], Sequence[float], bool]],
                               reps: int = 2000, seed: int = 0) -> Improvement:
    """datasets: (arm values, baseline values on the same seeds, higher is better) per dataset.
    Honest with few datasets: it needs no test across datasets, only the seeds within each."""
    diffs = [(np.asarray(a, float) - np.asarray(b, float)) * (1 if hib else -1) for a, b, hib in datasets]
    diffs = [d for d in diffs if len(d)]
    if not diffs:
        return Improvement(0, math.nan, math.nan, math.nan)

    def score(d):   # per row of seeds: wins + half the ties, as a fraction
        return ((d > 0).sum(-1) + 0.5 * (d == 0).sum(-1)) / d.shape[-1]

    point = float(np.mean([score(d) for d in diffs]))
    rng = np.random.default_rng(seed)
    boot = np.mean([score(d[rng.integers(0, len(d), size=(reps, len(d)))]) for d in diffs], axis=0)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return Improvement(len(diffs), point, float(lo), float(hi))
