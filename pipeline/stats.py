"""Statistics for the report: paired comparisons across seeds, confidence intervals, Holm
correction, Friedman test with average ranks and the Nemenyi critical difference (Demsar 2006).

Honesty rules: compare arms only on seeds both have (paired), give intervals, correct for the
number of comparisons, and say when the design cannot detect anything (too few seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05


@dataclass
class Summary:
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    median: float


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean (nan when fewer than 2 values)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def summarize(values: Sequence[float]) -> Summary:
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    lo, hi = t_interval(x)
    return Summary(len(x), float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else math.nan,
                   lo, hi, float(np.median(x)))


def min_wilcoxon_p(n: int) -> float:
    """Smallest two-sided p the exact Wilcoxon signed-rank test can give with n pairs: every
    difference of one sign has probability 2 / 2^n."""
    return min(1.0, 2.0 / 2 ** n) if n > 0 else 1.0


@dataclass
class Paired:
    n: int
    mean_diff: float       # arm minus baseline, oriented so that positive means "arm is better"
    ci_low: float
    ci_high: float
    p_t: float             # paired t-test, two-sided
    p_wilcoxon: float      # Wilcoxon signed-rank, two-sided
    effect_size: float     # Cohen's d_z: mean difference / sd of differences
    min_p_wilcoxon: float
    p_t_holm: float = math.nan
    p_wilcoxon_holm: float = math.nan

    @property
    def too_few(self) -> bool:
        return self.n < 2 or self.min_p_wilcoxon >= ALPHA


def paired_test(arm: Sequence[float], baseline: Sequence[float], higher_is_better: bool = True) -> Paired:
    """Compare two arms on the same seeds (arm[i] and baseline[i] share seed i)."""
    a, b = np.asarray(arm, float), np.asarray(baseline, float)
    if a.shape != b.shape:
        raise ValueError("paired samples must have the same length")
    d = (a - b) if higher_is_better else (b - a)
    n = len(d)
    if n < 2:
        return Paired(n, float(d.mean()) if n else math.nan, math.nan, math.nan, math.nan, math.nan,
                      math.nan, min_wilcoxon_p(n))
    lo, hi = t_interval(d)
    sd = d.std(ddof=1)
    if sd == 0:
        # identical differences: no variance, t undefined; all-zero means no difference at all
        p_t = 1.0 if d.mean() == 0 else 0.0
        effect = 0.0 if d.mean() == 0 else math.copysign(math.inf, d.mean())
    else:
        p_t = float(stats.ttest_rel(a, b).pvalue)
        effect = float(d.mean() / sd)
    p_w = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    return Paired(n, float(d.mean()), lo, hi, p_t, p_w, effect, min_wilcoxon_p(int(np.sum(d != 0)) or n))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values (nan stays nan and is not counted)."""
    p = np.asarray(pvalues, float)
    out = np.full(len(p), math.nan)
    idx = [i for i in np.argsort(p) if not math.isnan(p[i])]
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def verdict(p: Paired, adjusted_p: float) -> str:
    if p.n < 2 or math.isnan(adjusted_p):
        return "not enough seeds"
    if adjusted_p < ALPHA and not (p.ci_low <= 0 <= p.ci_high):
        return "better" if p.mean_diff > 0 else "worse"
    return "no detectable difference"


def average_ranks(scores: np.ndarray, higher_is_better: Sequence[bool]) -> np.ndarray:
    """scores: datasets x arms. Rank 1 is best within each dataset; ties share the mean rank."""
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
        oriented = np.vstack([row if hib else -row for row, hib in zip(scores, higher_is_better)])
        res = stats.friedmanchisquare(*oriented.T)
        stat, p = float(res.statistic), float(res.pvalue)
    else:
        stat, p = math.nan, math.nan
    cd = nemenyi_cd(k, n) if n >= 1 and k >= 2 else math.nan
    return Friedman(n, k, ranks.tolist(), stat, p, cd, n < 8)
