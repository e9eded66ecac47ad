"""Statistics for the report and the console: paired comparisons across seeds, confidence
intervals, Holm correction, practical equivalence (ROPE, TOST, a Bayesian posterior), the seeds
a decision would need (across datasets, the ranks and the Friedman test: ranks.py).

Honesty rules: compare arms only on seeds both have (paired), give intervals, correct for the
number of comparisons, tell "no difference shown" apart from "shown to be practically the
same", and say what more seeds would buy.

Seeds are independent runs on one fixed split, not cross-validation folds: the posterior of the
mean paired difference is a Student t with scale s / sqrt(n) (baycomp's `Posterior`), not the
correlated t-test's inflated variance for overlapping training folds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
from scipy import stats

from .task import METRICS

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


def summarize(values: Sequence[float], bounds: tuple[float, float] = (-math.inf, math.inf)) -> Summary:
    """Mean, std, 95% t-interval of the mean (cut to `bounds`, the values the metric can take:
    accuracy's CI of 0.97 ± 0.13 is [0.84, 1], not 1.10), median."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    lo, hi = t_interval(x)
    if not math.isnan(lo):
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Summary(len(x), float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else math.nan,
                   lo, hi, float(np.median(x)))


# A spread of paired differences this small relative to the values is floating-point noise, not spread:
# training runs in float32 (about 7 significant digits), so results equal but for its rounding differ by
# ~1e-7 of their size (an L1 of 1e-7 beside none), and a t-test on that noise "decided" from 3 seeds.
# As SAME_RESULT, the tolerance of "one result computed two ways".
FLOAT_NOISE = 1e-6
# Two results this close (relative) are one result computed two ways: an L2 penalty and the optimizer's
# weight decay under plain SGD train alike but for the order of float additions (1e-8 apart after training)
SAME_RESULT = 1e-6


def same_result(a: float, b: float) -> bool:
    """Equal but for float rounding, or both missing (a gap not recorded by runs from before it was)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=SAME_RESULT, abs_tol=1e-12)


def min_wilcoxon_p(n: int) -> float:
    """Smallest two-sided p the exact Wilcoxon signed-rank test can give with n pairs: every
    difference of one sign has probability 2 / 2^n."""
    return min(1.0, 2.0 ** (1 - n)) if n > 0 else 1.0   # 2 / 2**n overflowed past 1,023 seeds


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
    sd: float = math.nan           # of the paired differences (at least the metric's resolution: floored)
    floored: bool = False          # sd is the resolution's floor, not the differences' own spread
    rope: float = math.nan         # region of practical equivalence: |difference| < rope
    p_tost: float = math.nan       # paired TOST against (-rope, rope) (statsmodels' ttost_paired; with sd when floored)
    p_tost_holm: float = math.nan
    p_better: float = math.nan     # Bayesian: P(difference > rope)
    p_equivalent: float = math.nan  # P(|difference| <= rope)
    p_worse: float = math.nan      # P(difference < -rope)
    verdict: str = ""              # better | worse | equivalent | undecided | not enough seeds | at chance
    seeds_needed: Optional[int] = None   # for an undecided comparison, at 80% power
    needed_for: str = ""           # the decision those seeds would most likely reach
    alpha: float = ALPHA           # the level it was judged at (adaptive seeds: its look's share)
    family: int = 0                # comparisons in its Holm family (1: its p is not adjusted)
    baseline_mean: float = math.nan  # the baseline's mean over the pairs (a size to read a difference against)
    # the baseline's value on every seed (no difference at all); a floored spread still judges it, but
    # its interval is not written as if the values had moved ("0.0 pt [-0.6, 0.6]")
    identical: bool = False
    decide_chance: float = math.nan  # for an undecided one: the chance its seeds_needed reach needed_for (predictive)

    @property
    def too_few(self) -> bool:
        return self.n < 2 or self.min_p_wilcoxon >= ALPHA

    @property
    def same_every_seed(self) -> bool:
        """Every seed's difference the same (no spread: the sign test's case), or none at all
        (identical): written so, with no interval beside it."""
        return self.n >= 2 and (self.sd == 0 or self.identical)

    @property
    def negligible(self) -> bool:
        """Better or worse, but its whole 95% CI lies inside the ROPE: a real difference that does
        not matter by the study's own standard (the TOST would say so with more seeds, or fewer
        comparisons in its Holm family)."""
        return self.verdict in ("better", "worse") and -self.rope < self.ci_low and self.ci_high < self.rope


def paired_test(arm: Sequence[float], baseline: Sequence[float], higher_is_better: bool = True,
                rope: float = math.nan, resolution: float = 0.0, wilcoxon: bool = True) -> Paired:
    """Compare two arms on the same seeds (arm[i] and baseline[i] share seed i); with a ROPE
    width, also the equivalence test and the Bayesian probabilities.

    `resolution`: the step a metric moves in (accuracy on N test rows: 1/N). Counted metrics
    often differ by the same row or two on every seed, and a spread of zero would make a t-test
    "certain" from two seeds; the spread is taken as at least one step (a conservative floor
    for the t-test, its interval, the TOST and the posterior alike)."""
    a, b = np.asarray(arm, float), np.asarray(baseline, float)
    if a.shape != b.shape:
        raise ValueError("paired samples must have the same length")
    scored = np.isfinite(a) & np.isfinite(b)   # a seed without a value (ROC AUC of a one-class split) is not a pair
    a, b = a[scored], b[scored]
    d = (a - b) if higher_is_better else (b - a)
    n = len(d)
    if n < 2:
        return Paired(n, float(d.mean()) if n else math.nan, math.nan, math.nan, math.nan, math.nan,
                      math.nan, min_wilcoxon_p(n), baseline_mean=float(b.mean()) if n else math.nan)
    own, mean = float(d.std(ddof=1)), float(d.mean())
    # each pair by its own size: a diverged seed's 5e4 on both sides does not make the others' 0.02 noise
    noise = FLOAT_NOISE * np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300)
    if np.all(np.abs(d - mean) <= noise):
        own = 0.0   # 0.95 - 0.93 and 0.93 - 0.91 differ in the 17th digit: one difference, not a tiny spread
        # and noise around zero is no difference: within noise of 0, or of both signs (7 seeds +1e-6, 3 -3e-7
        # were the "same difference" on every seed, p 2^-9 by the sign test below, where the signs' own p is 0.34)
        mean = 0.0 if np.all(np.abs(d) <= noise) or (np.any(d > 0) and np.any(d < 0)) else mean
    sd, floored = max(own, resolution), resolution > own
    if sd == 0:
        # the same difference on every seed, in a metric without a step to floor the spread (ROC AUC,
        # F1, MSE): the t-test would be "certain" from two seeds. The evidence is that every seed
        # agrees in sign: an exact sign test (Wilcoxon's smallest p), and no interval beyond the value.
        lo = hi = mean
        p_t = 1.0 if mean == 0 else min_wilcoxon_p(n)
        effect = 0.0 if mean == 0 else math.copysign(math.inf, mean)
    else:
        se = sd / math.sqrt(n)
        half = stats.t.ppf(0.975, n - 1) * se
        lo, hi = mean - half, mean + half
        p_t = float(2 * stats.t.sf(abs(mean) / se, n - 1))   # = scipy's ttest_rel without the floor
        effect = mean / sd
    # `wilcoxon=False` where no table shows it (the arms against each other, path points)
    # ranks of differences equal but for float rounding are tied: one test row's difference on two
    # seeds, 1e-8 apart from float32 accuracy, was ranked apart (0.25 where it is 0.375)
    tied = _close_ties(d, SAME_RESULT * np.maximum(np.abs(a), np.abs(b)))   # each pair's own scale: a diverged seed's
                                                                            # 5e4 does not tie the others' 0.02
    p_w = (wilcoxon_p(tied) if np.any(tied != 0) else 1.0) if wilcoxon else math.nan
    out = Paired(n, mean, float(lo), float(hi), p_t, p_w, float(effect), min_wilcoxon_p(int(np.sum(tied != 0))), sd=sd,
                 floored=floored, baseline_mean=float(b.mean()),
                 identical=all(same_result(float(x), float(y)) for x, y in zip(a, b)))
    if rope > 0:
        _practical(out, d, rope)
    return out


def wilcoxon_p(d: np.ndarray) -> float:
    """scipy.stats.wilcoxon(d)'s two-sided p, the same number, sooner. With ties or zeros among
    13 or fewer differences scipy runs an exact permutation test over every sign pattern, calling
    its statistic once per pattern (2^13 calls: 1.6 s a comparison at 13 seeds, the bulk of a
    study's bookkeeping at 9 to 13 seeds). The same test is run here with the statistic on all
    patterns at once: flipping signs leaves the ranks of |d| as they are, so the sum of the
    positive ranks is a product with the ranks (zeros are dropped, Wilcoxon's rule, as scipy's)."""
    nonzero = d != 0
    ranks = np.zeros(len(d))
    ranks[nonzero] = stats.rankdata(np.abs(d[nonzero]))
    if len(d) > 13 or (nonzero.all() and len(np.unique(ranks)) == len(ranks)):
        return float(stats.wilcoxon(d).pvalue)   # no ties, or too many to enumerate: scipy's own way
    res = stats.permutation_test((d,), lambda x, axis: np.sum((x > 0) * ranks, axis=axis),
                                 permutation_type="samples", vectorized=True, alternative="two-sided")
    return float(res.pvalue)


def _practical(p: Paired, d: np.ndarray, rope: float) -> None:
    """The ROPE side of a comparison: a paired TOST (two one-sided t-tests, Schuirmann 1987, as
    statsmodels computes it) and the posterior probabilities of "better", "practically the
    same" and "worse" (baycomp's Student posterior with variance s^2 / n, df n - 1)."""
    from baycomp.single import Posterior
    from statsmodels.stats.weightstats import ttost_paired

    p.rope = rope
    if p.sd == 0:   # no spread: each bound's one-sided sign test (every seed on its side: 1 / 2^n)
        p.p_tost = 0.5 ** p.n if abs(p.mean_diff) < rope else 1.0
    elif p.floored:   # the two one-sided t-tests with the resolution's spread
        se, df = p.sd / math.sqrt(p.n), p.n - 1
        p.p_tost = float(max(stats.t.sf((p.mean_diff + rope) / se, df), stats.t.cdf((p.mean_diff - rope) / se, df)))
    else:
        p.p_tost = float(ttost_paired(d, np.zeros_like(d), -rope, rope)[0])
    if p.sd == 0:   # a posterior of zero width would be "certain" from two seeds: none is given
        return
    worse, same, better = Posterior(p.mean_diff, p.sd ** 2 / p.n, p.n - 1, rope=rope).probs()
    p.p_worse, p.p_equivalent, p.p_better = float(worse), float(same), float(better)


def holm(pvalues: Sequence[float], size: int = 0) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values (nan stays nan and is not counted). The same
    numbers as statsmodels' multipletests(method="holm") (a test compares them), written out
    because that function runs gc.collect() on every call (18 ms), which the simulation tests
    of the decision rule would pay thousands of times. `size`: a family larger than the p-values
    given, the rest counted as if their p were 1 (comparisons decided at an earlier look)."""
    p = np.asarray(pvalues, float)
    out = np.full(len(p), math.nan)
    idx = [i for i in np.argsort(p) if not math.isnan(p[i])]
    m = max(len(idx), size)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


# The verdict of a comparison in which neither the arm nor none does better than a constant
# prediction by more than the ROPE: two models that learned nothing are "the same" on every seed
# (an imbalanced table where both always predict the majority class: balanced accuracy 0.5, zero
# spread), which an equivalence test would call practically the same. More seeds do not help.
# (verdicts.py decides it; head_to_head gives it to a pair of such arms.)
AT_CHANCE = "at chance"
# The verdicts more seeds would not change: an adaptive study tests the others ("undecided", "not
# enough seeds") again at its next look.
FINAL = ("better", "worse", "equivalent", AT_CHANCE)


def verdict(p: Paired, adjusted_p: float, adjusted_p_tost: float = math.nan, alpha: float = ALPHA) -> str:
    """better / worse: the Holm-adjusted paired t-test rejects "no difference" and the 95% CI
    excludes zero. equivalent: the Holm-adjusted TOST rejects "a difference of at least the
    ROPE" and the 95% CI lies inside the ROPE (a difference both real and smaller than the ROPE
    is equivalent: it does not matter). The TOST at 5% alone is the 90% CI inside the ROPE; a
    verdict printed beside a 95% CI that crosses the ROPE would contradict it. Otherwise
    undecided: the seeds run cannot tell."""
    if p.n < 2 or math.isnan(adjusted_p):
        return "not enough seeds"
    # no spread: the interval is a point, so its 95% (2.5% a side) is the sign test's 1/2^n a side
    # (5 identical seeds passed at 1/32, where seeds_needed, as the interval would, asks for 6)
    inside = -p.rope < p.ci_low and p.ci_high < p.rope and (p.sd > 0 or p.p_tost < ALPHA / 2)
    if adjusted_p_tost < alpha and inside:
        return "equivalent"
    if adjusted_p < alpha and not (p.ci_low <= 0 <= p.ci_high):
        return "better" if p.mean_diff > 0 else "worse"
    return "undecided"


def decide(family: Sequence[Paired], alpha: float = ALPHA, estimate_seeds: bool = True, size: int = 0) -> None:
    """Verdicts for a family of comparisons (every arm against the baseline on every dataset):
    Holm over the family, separately for the t-tests and the TOSTs; for each undecided one, the
    seeds a decision would need. `size`: the family's size when it is larger than `family` (holm)."""
    for key in ("p_t", "p_wilcoxon", "p_tost"):
        for p, adjusted in zip(family, holm([getattr(p, key) for p in family], size)):
            setattr(p, f"{key}_holm", adjusted)
    m = max(sum(1 for p in family if not math.isnan(p.p_t)), size)   # what Holm counted (n = 1 has no p)
    for p in family:
        p.verdict, p.alpha, p.family = verdict(p, p.p_t_holm, p.p_tost_holm, alpha), alpha, m
        if p.verdict == "undecided" and estimate_seeds:
            estimate_seeds_needed(p, alpha / max(m, 1))


def estimate_seeds_needed(p: Paired, alpha: float) -> None:
    """An undecided comparison's seeds_needed at `alpha` (alpha / m: what the first step of
    Holm asks over its family of m, enough for any later step too): more than it has, since at
    the level it was judged by these seeds did not decide it."""
    n, p.needed_for = seeds_needed(p.mean_diff, p.sd, p.rope, alpha)
    p.seeds_needed = max(n, p.n + 1) if n else n
    if p.seeds_needed and p.seeds_needed <= AFFORDABLE_SEEDS:
        p.decide_chance = chance_to_decide(p.mean_diff, p.sd, p.n, p.seeds_needed, p.rope, alpha, p.needed_for,
                                           floor=p.sd if p.floored else 0.0)


# Beyond this many seeds a decision is out of reach for a study: the words say why, and no chance is worked out.
AFFORDABLE_SEEDS = 100
CHANCE_DRAWS = 20_000


def chance_to_decide(mean: float, sd: float, n0: int, n: int, rope: float, alpha: float, what: str,
                     floor: float = 0.0) -> float:
    """The chance that n seeds in all (these n0 and n - n0 more) reach `what` ("better" | "worse" |
    "equivalent") at `alpha`, given what these n0 say: the predictive probability (Spiegelhalter,
    Freedman & Blackburn 1986). seeds_needed takes the observed difference and spread as the truth
    (80% power at them), which flatters a difference seen on a few seeds; this averages over where
    the truth may lie instead: with the flat prior behind the t-test's own interval, the true spread
    is sigma^2 ~ (n0 - 1) s^2 / chi2(n0 - 1) and the true difference delta ~ N(mean, sigma^2 / n0).
    The new seeds' mean and sum of squares are drawn from their exact distributions, and the final
    test runs on all n seeds' mean and spread (its sd at least `floor`, as paired_test floors it).
    Monte Carlo with a fixed seed: the same numbers give the same chance. nan when the spread is
    zero (a sign test's case) or nothing is to be added."""
    if not (sd > 0) or n0 < 2 or n <= n0 or math.isnan(mean):
        return math.nan
    rng, n1 = np.random.default_rng(0), n - n0
    sigma = sd * np.sqrt((n0 - 1) / rng.chisquare(n0 - 1, CHANCE_DRAWS))
    delta = rng.normal(mean, sigma / math.sqrt(n0))
    new_mean = rng.normal(delta, sigma / math.sqrt(n1))
    new_ss = sigma ** 2 * rng.chisquare(n1 - 1, CHANCE_DRAWS) if n1 > 1 else 0.0
    final = (n0 * mean + n1 * new_mean) / n
    ss = (n0 - 1) * sd ** 2 + new_ss + n0 * n1 / n * (mean - new_mean) ** 2   # all n seeds' sum of squares
    se = np.maximum(np.sqrt(ss / (n - 1)), floor) / math.sqrt(n)
    if what == "equivalent":   # the TOST: both one-sided tests at 2.5% a side at most, as seeds_needed asks
        crit = stats.t.ppf(1 - min(alpha, ALPHA / 2), n - 1)
        hit = ((final + rope) / se > crit) & ((rope - final) / se > crit)
    else:
        crit = stats.t.ppf(1 - alpha / 2, n - 1)
        hit = final / se > crit if what == "better" else final / se < -crit
    return float(np.mean(hit))


def spending(looks: Sequence[int], alpha: float = ALPHA) -> list[float]:
    """The share of alpha each look may spend: a Pocock-type spending function (Lan & DeMets
    1983), alpha(t) = alpha * ln(1 + (e - 1) t) at information fraction t = seeds / maximum
    seeds, which spends early enough that a clear answer stops at the first looks. Each look is
    tested at its increment; by the union bound over looks the chance of any false verdict over
    all looks stays within alpha whatever the dependence between them (conservative: exact
    group-sequential boundaries would allow a little more)."""
    spent = [alpha * math.log(1 + (math.e - 1) * n / looks[-1]) for n in looks]
    return [b - a for a, b in zip([0.0] + spent[:-1], spent)]


MAX_SEEDS = 10_000


def seeds_needed(mean: float, sd: float, rope: float, alpha: float, power: float = 0.8) -> tuple[Optional[int], str]:
    """How many seeds would decide a comparison with 80% power, if the true mean difference and
    spread were the ones observed: (seeds, "better" | "worse" | "equivalent"), whichever decision
    needs fewer; (None, "") when there is nothing to go on. A two-sided paired t-test for a
    difference (statsmodels' TTestPower); for equivalence, the TOST's power from the noncentral
    t (Phillips 1990: P(both one-sided tests reject) >= 1 - P(miss low) - P(miss high))."""
    from statsmodels.stats.power import TTestPower

    if sd == 0 and not math.isnan(mean):   # the same difference every seed: a sign test's n
        options = [(math.floor(1 - math.log2(alpha)) + 1, "better" if mean > 0 else "worse")] if mean != 0 else []
        if rope > 0 and abs(mean) < rope:   # 1 / 2^n a side below min(alpha, 2.5%); none at all too (trains alike)
            options.append((math.floor(-math.log2(min(alpha, ALPHA / 2))) + 1, "equivalent"))
        return min(options) if options else (None, "")
    if not (sd > 0) or math.isnan(mean):
        return None, ""
    options = []
    if mean != 0:
        with warnings.catch_warnings():   # a tiny effect: the root finder gives up (nan), i.e. too many seeds
            warnings.simplefilter("ignore")
            n = TTestPower().solve_power(effect_size=abs(mean) / sd, alpha=alpha, power=power, alternative="two-sided")
        n = float(np.asarray(n).ravel()[0]) if n is not None else math.nan
        # nan for a large effect too, and near 2 seeds a root found among nan powers can be short (3 seeds
        # at effect size 5, which have 47% power): where its n is not the first with the power, search
        if not (math.isfinite(n) and _t_power(abs(mean) / sd, alpha, max(2, math.ceil(n))) >= power
                and (math.ceil(n) <= 2 or _t_power(abs(mean) / sd, alpha, math.ceil(n) - 1) < power)):
            n = _t_seeds(abs(mean) / sd, alpha, power)
        options.append((max(2, math.ceil(n)) if math.isfinite(n) else MAX_SEEDS + 1, "better" if mean > 0 else "worse"))
    if rope > 0 and abs(mean) < rope:   # equivalence also asks the 95% CI inside the ROPE: 2.5% a side at most
        options.append((_tost_seeds(mean, sd, rope, min(alpha, ALPHA / 2), power), "equivalent"))
    if not options:
        return None, ""
    n, what = min(options)
    return (n if n <= MAX_SEEDS else MAX_SEEDS + 1), what


def _t_power(effect: float, alpha: float, n: int) -> float:
    """The two-sided paired t-test's power at n seeds, as TTestPower computes it, but with a tail
    that scipy's noncentral t gives as nan (far from the effect: of no weight) counted as 0."""
    df, nc = n - 1, effect * math.sqrt(n)
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(np.nan_to_num(stats.nct.sf(crit, df, nc)) + np.nan_to_num(stats.nct.cdf(-crit, df, nc)))


def _t_seeds(effect: float, alpha: float, power: float) -> float:
    """The smallest n at which the two-sided paired t-test has `power` for effect size `effect`,
    where TTestPower's root finder fails: nan for a tiny effect (too many seeds) and for a large
    one (nan powers deep in the noncentral t's tail); inf beyond MAX_SEEDS."""
    n = _smallest_n(lambda k: _t_power(effect, alpha, k), power)
    return math.inf if n is None else float(n)


def _tost_seeds(mean: float, sd: float, rope: float, alpha: float, power: float) -> int:
    def tost_power(n: int) -> float:
        df, se = n - 1, sd / math.sqrt(n)
        crit = stats.t.ppf(1 - alpha, df)
        miss_low = stats.nct.cdf(crit, df, (mean + rope) / se)
        miss_high = stats.nct.sf(-crit, df, (mean - rope) / se)
        return 1 - miss_low - miss_high

    n = _smallest_n(tost_power, power)
    return MAX_SEEDS + 1 if n is None else n


def _smallest_n(power_at, power: float) -> Optional[int]:
    """The smallest n of 2 or more with power_at(n) >= power (power grows with n); None past MAX_SEEDS."""
    lo, hi = 2, 2
    while power_at(hi) < power:
        if hi > MAX_SEEDS:
            return None
        lo, hi = hi + 1, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if power_at(mid) >= power:
            hi = mid
        else:
            lo = mid + 1
    return hi


# --- the region of practical equivalence ----------------------------------------------------------

# Defaults per metric (task.METRICS), with the reasoning in README.md ("How the verdicts are
# reached"): one point for shares like accuracy, 5% of the baseline's for MSE-like metrics whose
# scale is the data's.
DEFAULT_ROPE: dict[str, Union[float, str]] = {m.name: m.default_rope for m in METRICS.values()}


def rope_problem(setting: Union[float, str, None], metric: str) -> Optional[str]:
    """Why a numeric ROPE cannot be meant for this metric, or None. Shares (accuracy, F1, AUC) and
    R² differ by at most a few tenths between arms: `rope: 5` (meaning five points) would call
    every comparison practically the same, whatever the data say."""
    m = METRICS[metric]
    if isinstance(setting, (int, float)) and (m.share or metric == "r2") and setting >= 0.5:
        unit = "0.01 is one point" if m.share else "0.01 is 0.01 of R²"
        return (f"field 'rope' = {setting:g}: {m.label} differences are fractions ({unit}), so ±{setting:g} would call "
                "every arm practically the same as none; write e.g. 0.01, or a share of none's mean such as '5%'")
    if isinstance(setting, str) and setting.endswith("%") and float(setting[:-1]) >= 50:
        return (f"field 'rope' = {setting!r}: an arm within ±{setting} of none's mean (half of it or more) would be "
                "practically the same as none whatever it did; write e.g. '5%'")
    return None


def rope_width(setting: Union[float, str, None], metric: str, baseline_mean: float) -> float:
    """The ROPE half-width in the metric's units: a number as given, or "N%" of the baseline's
    mean (for metrics whose scale is the data's)."""
    if setting is None:
        setting = DEFAULT_ROPE.get(metric, "5%")
    if isinstance(setting, str):
        return float(setting.rstrip("%")) / 100 * abs(baseline_mean)
    return float(setting)


def _close_ties(d: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Differences equal but for float rounding, tied: each is 0 where its size is within its pair's
    `tol`, else it shares its group's mean size (a signed-rank test ranks the group as ties), a
    group being the sizes within tolerance of its smallest (not chained from one to the next). A
    grid (rounding to some digits) would split two such values that straddle one of its steps."""
    size = np.abs(d)
    out = np.where(size <= tol, 0.0, size)
    rest = [i for i in np.argsort(size) if out[i] > 0]
    start = 0
    for k in range(1, len(rest) + 1):
        if k == len(rest) or size[rest[k]] - size[rest[start]] > max(tol[rest[start]], tol[rest[k]]):
            group = rest[start:k]
            out[group] = size[group].mean()
            start = k
    return np.sign(d) * out

