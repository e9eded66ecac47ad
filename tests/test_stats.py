"""Statistics checked against independently computed values."""

import math

import numpy as np
import pytest
from scipy import stats as sst

from pipeline import metric_numbers, ranks, stats

# a fixed table: test accuracy of two arms on the same 8 seeds
NONE = [0.91, 0.90, 0.92, 0.89, 0.93, 0.90, 0.91, 0.92]
L2 = [0.93, 0.91, 0.95, 0.90, 0.94, 0.93, 0.92, 0.95]


def test_paired_test_matches_scipy_and_hand_ci():
    p = stats.paired_test(L2, NONE, higher_is_better=True)
    d = np.array(L2) - np.array(NONE)
    assert p.n == 8 and p.mean_diff == pytest.approx(d.mean())
    assert p.p_t == pytest.approx(sst.ttest_rel(L2, NONE).pvalue)
    assert p.p_wilcoxon == pytest.approx(sst.wilcoxon(d).pvalue)
    half = sst.t.ppf(0.975, 7) * d.std(ddof=1) / math.sqrt(8)
    assert (p.ci_low, p.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert p.effect_size == pytest.approx(d.mean() / d.std(ddof=1))
    # for a lower-is-better metric the sign flips: positive still means "arm is better"
    q = stats.paired_test(NONE, L2, higher_is_better=False)
    assert q.mean_diff == pytest.approx(d.mean()) and q.p_t == pytest.approx(p.p_t)


def test_a_mean_s_interval_stays_within_what_the_metric_can_take():
    """Accuracy of 0.97, 0.99, 0.80 (3 seeds): the t-interval of the mean reaches past 1; cut to
    the metric's bounds its upper end is 1, and its lower end is scipy's."""
    from pipeline.task import METRICS

    values = [0.97, 0.99, 0.80]
    lo, hi = sst.t.interval(0.95, 2, loc=np.mean(values), scale=sst.sem(values))
    assert hi > 1
    s = stats.summarize(values, METRICS["accuracy"].bounds)
    assert (s.ci_low, s.ci_high) == pytest.approx((lo, 1.0))
    assert stats.summarize(values).ci_high == pytest.approx(hi)                  # no bounds: the t-interval
    assert stats.summarize([0.01, 0.2, 0.02], METRICS["mse"].bounds).ci_low == 0.0   # a loss stays at or above 0
    assert METRICS["r2"].bounds == (-math.inf, 1.0)


def test_means_equal_but_for_float_rounding_tie_in_the_ranks():
    """breast_cancer's none and dropout got the same test rows right; their means differ in the
    8th digit (float32 sums in another order). They tie (rank 1.5 each), not 1 and 2."""
    scores = np.array([[0.9521126807, 0.9521126747, 0.90], [0.8, 0.9, 0.7]])
    assert ranks.average_ranks(scores, [True, True]).tolist() == [(1.5 + 2) / 2, (1.5 + 1) / 2, 3.0]


def test_identical_arms_are_no_difference():
    p = stats.paired_test(NONE, NONE)
    assert p.mean_diff == 0 and p.p_t == 1.0 and p.p_wilcoxon == 1.0
    assert stats.verdict(p, 1.0) == "undecided"


def test_holm_against_hand_computation():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone: 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    from statsmodels.stats.multitest import multipletests

    ps = np.random.default_rng(1).uniform(0, 0.2, 12)
    assert stats.holm(ps.tolist()) == pytest.approx(multipletests(ps, method="holm")[1].tolist())
    adjusted = stats.holm([0.01, float("nan"), 0.02])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)


def test_smallest_attainable_wilcoxon_p():
    assert stats.min_wilcoxon_p(5) == pytest.approx(0.0625)  # 5 seeds can never reach p < 0.05
    assert stats.min_wilcoxon_p(6) == pytest.approx(0.03125)
    # and scipy agrees: all 5 differences positive gives exactly that p
    assert sst.wilcoxon([0.1, 0.2, 0.3, 0.4, 0.5]).pvalue == pytest.approx(0.0625)
    assert stats.paired_test([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]).too_few


def test_friedman_against_the_textbook_formula():
    # 4 datasets x 3 arms, higher is better; ranks per row by hand
    scores = np.array([[0.90, 0.92, 0.91], [0.80, 0.85, 0.83], [0.70, 0.71, 0.75], [0.60, 0.66, 0.62]])
    by_hand = np.array([[3, 1, 2], [3, 1, 2], [3, 2, 1], [3, 1, 2]], dtype=float)
    res = ranks.friedman(scores, [True] * 4)
    assert res.avg_ranks == pytest.approx(by_hand.mean(0).tolist())
    n, k = by_hand.shape
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(by_hand.mean(0) ** 2) - k * (k + 1) ** 2 / 4)
    assert res.statistic == pytest.approx(chi2)
    assert res.p_value == pytest.approx(sst.chi2.sf(chi2, k - 1))
    assert res.descriptive_only  # fewer than 8 datasets
    # lower-is-better datasets are ranked the other way round
    assert ranks.friedman(-scores, [False] * 4).avg_ranks == pytest.approx(res.avg_ranks)


def test_nemenyi_critical_difference_matches_demsar():
    # Demsar (2006), section 3.2.2: k=4 classifiers, N=14 data sets, q_0.05 = 2.569 -> CD = 1.25
    assert ranks.nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.01)
    assert ranks.nemenyi_cd(5, 10) == pytest.approx(2.728 * math.sqrt(5 * 6 / 60), rel=1e-3)


def test_verdicts():
    strong = stats.paired_test(L2, NONE)
    assert stats.verdict(strong, 0.001) == "better"
    assert stats.verdict(stats.paired_test(NONE, L2), 0.001) == "worse"
    assert stats.verdict(strong, 0.2) == "undecided"
    assert stats.verdict(strong, 0.2, 0.01) == "undecided"   # no ROPE: nothing is equivalent
    wide = stats.paired_test(L2, NONE, rope=0.05)   # +1.9 pt [1.0, 2.7] inside ±5 pt
    assert stats.verdict(wide, 0.2, 0.01) == "equivalent"
    assert stats.verdict(wide, 0.001, 0.01) == "equivalent"  # real but smaller than the ROPE
    # the TOST alone at 5% is the 90% CI inside the ROPE; a 95% CI past it is not called equivalent
    narrow = stats.paired_test(L2, NONE, rope=0.025)   # [1.0, 2.7] crosses 2.5 pt
    assert stats.verdict(narrow, 0.2, 0.01) == "undecided"
    assert stats.verdict(stats.paired_test([0.9], [0.8]), float("nan")) == "not enough seeds"


def test_equivalence_and_posterior_against_scipy():
    """The TOST p is the larger of the two one-sided t-tests against -rope and +rope; the
    posterior is the Student t with scale s / sqrt(n) (seeds are independent runs, not folds)."""
    rope = 0.01
    for arm, base, hib in ((L2, NONE, True), (NONE, L2, False), (NONE, [x + 0.001 for x in NONE[:4]] + NONE[4:], True)):
        p = stats.paired_test(arm, base, hib, rope=rope)
        d = (np.array(arm) - np.array(base)) * (1 if hib else -1)
        low = sst.ttest_1samp(d, -rope, alternative="greater").pvalue
        high = sst.ttest_1samp(d, rope, alternative="less").pvalue
        assert p.p_tost == pytest.approx(max(low, high))
        scale = d.std(ddof=1) / math.sqrt(len(d))
        assert p.p_better == pytest.approx(sst.t.sf(rope, len(d) - 1, loc=d.mean(), scale=scale))
        assert p.p_worse == pytest.approx(sst.t.cdf(-rope, len(d) - 1, loc=d.mean(), scale=scale))
        assert p.p_better + p.p_equivalent + p.p_worse == pytest.approx(1.0)
    assert stats.rope_width(None, "accuracy", 0.9) == 0.01
    assert stats.rope_width(None, "mse", 0.2) == pytest.approx(0.01)   # 5% of the baseline's MSE
    assert stats.rope_width("10%", "mse", 0.2) == pytest.approx(0.02) and stats.rope_width(0.5, "mse", 9) == 0.5


def _simulate(rng, true_diff, sd, n, rope, studies, family=1):
    """Verdicts of `studies` simulated studies: each a family of comparisons on n seeds."""
    verdicts = []
    for _ in range(studies):
        pairs = [stats.paired_test(rng.normal(true_diff, sd, n), np.zeros(n), rope=rope) for _ in range(family)]
        stats.decide(pairs, estimate_seeds=False)
        verdicts.append([p.verdict for p in pairs])
    return verdicts


@pytest.mark.slow
def test_simulated_studies_keep_the_promises():
    rng = np.random.default_rng(20261130)
    # no true difference: a family of 4 comparisons says better/worse at all in at most ~5% of studies
    null = _simulate(rng, 0.0, 1.0, 10, 0.1, 1000, family=4)
    fwer = np.mean([any(v in ("better", "worse") for v in vs) for vs in null])
    assert fwer <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / 1000), fwer
    # a true difference inside the ROPE, with the seeds the estimate asks for: equivalent ~80% of the time
    n, what = stats.seeds_needed(0.002, 0.01, 0.01, stats.ALPHA)
    assert what == "equivalent" and 5 < n < 200
    rate = np.mean([vs[0] == "equivalent" for vs in _simulate(rng, 0.002, 0.01, n, 0.01, 400)])
    assert 0.72 <= rate <= 0.9, (n, rate)
    # a true difference beyond the ROPE: "better" at the estimated seeds ~80% of the time
    n, what = stats.seeds_needed(0.5, 1.0, 0.1, stats.ALPHA)
    assert what == "better"
    rate = np.mean([vs[0] == "better" for vs in _simulate(rng, 0.5, 1.0, n, 0.1, 400)])
    assert 0.72 <= rate <= 0.9, (n, rate)


def test_undecided_comparisons_get_the_seeds_they_need():
    few = stats.paired_test([0.91, 0.93, 0.90], [0.90, 0.91, 0.91], rope=0.01)
    stats.decide([few])
    assert few.verdict == "undecided" and few.seeds_needed > 3 and few.needed_for in ("better", "equivalent")
    decided = stats.paired_test(L2, NONE, rope=0.01)
    stats.decide([decided])
    assert decided.verdict == "better" and decided.seeds_needed is None


def test_probability_of_improvement_with_a_stratified_bootstrap():
    """Few datasets: the mean over datasets of P(arm beats none on a seed), with a bootstrap that
    resamples seeds within each dataset (stratified), as rliable does."""
    better = (L2, NONE, True)                            # L2 wins on all 8 seeds
    mixed = ([1, 2, 3, 4], [2, 2, 1, 5], False)          # lower is better: wins on 0 and 3, tie on 1
    imp = ranks.probability_of_improvement([better, mixed], reps=4000)
    assert imp.n_datasets == 2 and imp.probability == pytest.approx((1.0 + (2 + 0.5) / 4) / 2)
    assert imp.ci_low <= imp.probability <= imp.ci_high and imp.ci_high <= 1.0
    assert imp.ci_low > 0.5 and imp.ci_high - imp.ci_low < 0.45
    # a dataset where every seed wins has no spread, so the interval comes from the other alone
    solo = ranks.probability_of_improvement([better])
    assert (solo.probability, solo.ci_low, solo.ci_high) == (1.0, 1.0, 1.0)


def test_metrics_equal_scikit_learns():
    """task.compute's numpy metrics against scikit-learn's on random outputs, with a class absent
    from y, ties in the scores, one-class targets and constant regression targets."""
    import numpy as np
    from sklearn import metrics as skm

    from pipeline.task import METRICS, compute

    rng = np.random.default_rng(0)
    for case in range(60):
        n, c = int(rng.integers(5, 80)), int(rng.choice([2, 3, 5]))
        y = rng.integers(0, c - (case % 3 == 0), n)            # every third case: the last class absent
        out = rng.normal(size=(n, c)).astype(np.float32)
        if case % 4 == 0:
            out = np.round(out, 1)                               # ties
        prob = np.exp(out - out.max(1, keepdims=True))
        prob /= prob.sum(1, keepdims=True)
        labels = list(range(c))
        expected = {"accuracy": skm.accuracy_score(y, out.argmax(1)),
                    "balanced_accuracy": skm.balanced_accuracy_score(y, out.argmax(1)),
                    "macro_f1": skm.f1_score(y, out.argmax(1), average="macro", labels=labels, zero_division=0),
                    "log_loss": skm.log_loss(y, y_proba=prob, labels=labels)}
        if c == 2 and len(set(y.tolist())) == 2:
            expected["roc_auc"] = skm.roc_auc_score(y, prob[:, 1])
        for name, value in expected.items():
            assert compute(METRICS[name], y, out) == pytest.approx(value, rel=1e-6, abs=1e-9), (case, name)
    assert np.isnan(compute(METRICS["roc_auc"], np.zeros(6, dtype=int), rng.normal(size=(6, 2))))
    for case in range(20):
        n = int(rng.integers(2, 50))
        y = np.full(n, 0.3) if case == 0 else rng.normal(size=n)
        pred = rng.normal(size=(n, 1))
        for name, fn in (("mse", skm.mean_squared_error), ("rmse", skm.root_mean_squared_error),
                         ("mae", skm.mean_absolute_error), ("r2", skm.r2_score)):
            assert compute(METRICS[name], y, pred) == pytest.approx(fn(y, pred.reshape(-1)), rel=1e-9, abs=1e-12), (case, name)
    assert compute(METRICS["r2"], np.full(4, 0.3), np.full((4, 1), 0.3)) == 1.0 == skm.r2_score(np.full(4, 0.3), np.full(4, 0.3))
    # a trial from before RMSE was logged reads in it from its MSE (metric: rmse on an existing study)
    from pipeline.task import read_in, readable_in

    old = {"test_mse": 4.0, "final_train_mse": 1.0, "final_val_mse": 2.25}
    assert readable_in(old, "rmse", "mse") and not readable_in(old, "mae", "mse")
    assert read_in(old, "regression", "rmse", own="mse") == {"test_metric": 2.0, "final_train_metric": 1.0,
                                                            "final_val_metric": 1.5, "gap_metric": 1.0}
    # and its parent's constant prediction too, for the report's chance judgements (the console's come
    # from the Optuna study's attributes, set afresh)
    from pipeline.dataset_record import chance_from_params, train_chance_from_params

    assert chance_from_params({"chance_test_mse": "4.0"}, "regression", "rmse") == 2.0
    assert train_chance_from_params({"chance_train_mse": "9"}, "rmse") == 3.0


def test_a_rope_written_in_points_is_refused_for_bounded_metrics():
    """rope: 5 meant as five points would make every arm "practically the same" on a share or R²;
    on MSE (the data's units) any width can be meant; '5%' is always a share of none's mean."""
    assert "0.01 is one point" in stats.rope_problem(5, "balanced_accuracy")
    assert "0.01 is 0.01 of R²" in stats.rope_problem(0.5, "r2")
    assert stats.rope_problem(0.02, "accuracy") is None and stats.rope_problem(5, "mse") is None
    assert stats.rope_problem("5%", "accuracy") is None and stats.rope_problem(None, "roc_auc") is None
    assert "half of it or more" in stats.rope_problem("200%", "mse") and stats.rope_problem("49.5%", "mse") is None


def test_the_chance_that_more_seeds_decide_is_the_predictive_probability():
    """chance_to_decide against a brute simulation of the same prior with the real tests: the
    truth drawn from what the seeds so far say, every new seed drawn, and scipy's t-test or
    statsmodels' TOST run on all the seeds. The estimate of seeds needed takes the difference so
    far as the truth; from 3 seeds the chance those seeds decide is well below the 80% it aims at."""
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(11)

    def brute(d0, n, rope, alpha, what, reps=2000):
        n0, s = len(d0), d0.std(ddof=1)
        hits = 0
        for _ in range(reps):
            sigma = s * math.sqrt((n0 - 1) / rng.chisquare(n0 - 1))
            seeds = np.concatenate([d0, rng.normal(rng.normal(d0.mean(), sigma / math.sqrt(n0)), sigma, n - n0)])
            if what == "equivalent":
                hits += ttost_paired(seeds, np.zeros(n), -rope, rope)[0] < min(alpha, stats.ALPHA / 2)
            else:
                t, p = sst.ttest_1samp(seeds, 0.0)
                hits += p < alpha and (t > 0) == (what == "better")
        return hits / reps

    cases = [(np.array([0.012, 0.031, -0.004]), 0.01, stats.ALPHA / 4),                # 3 seeds, leaning better
             (np.array([0.004, -0.01, 0.002, 0.011, -0.003, 0.0, 0.006]), 0.006, stats.ALPHA / 4),  # near zero: equivalent
             (np.array([-0.02, -0.035, 0.004, -0.012, -0.027]), 0.01, stats.ALPHA / 16)]      # leaning worse
    for d0, rope, alpha in cases:
        n, what = stats.seeds_needed(d0.mean(), d0.std(ddof=1), rope, alpha)
        n = max(n, len(d0) + 1)
        chance = stats.chance_to_decide(d0.mean(), d0.std(ddof=1), len(d0), n, rope, alpha, what)
        assert abs(chance - brute(d0, n, rope, alpha, what)) < 0.035, (d0, n, what, chance)
    d0, rope, alpha = cases[0]
    n, what = stats.seeds_needed(d0.mean(), d0.std(ddof=1), rope, alpha)
    assert what == "better" and stats.chance_to_decide(d0.mean(), d0.std(ddof=1), 3, n, rope, alpha, what) < 0.7
    # the same numbers give the same chance (a fixed seed), and a decide() of an undecided one records it
    p = stats.paired_test([0.91, 0.93, 0.90, 0.92], [0.90, 0.91, 0.91, 0.905], rope=0.01)
    stats.decide([p])
    again = stats.chance_to_decide(p.mean_diff, p.sd, p.n, p.seeds_needed, p.rope, stats.ALPHA, p.needed_for)
    assert p.verdict == "undecided" and 0 < p.decide_chance < 1 and p.decide_chance == again


def test_a_large_difference_needs_few_seeds_not_more_than_ten_thousand():
    """Two seeds of an L1 far too strong on wine: accuracy -76.1 pt [-119.5, -32.8], sd 4.8 pt
    (effect size 15.8), undecided at Holm over 6 comparisons. statsmodels' TTestPower gives nan
    there (scipy's noncentral t returns nan deep in its lower tail, and the root finder gives up),
    which seeds_needed read as "a tiny effect": "more than 10,000 seeds could show it worse (its
    spread across seeds is wide next to its mean difference)". A third seed has 99.8% power."""
    alpha = stats.ALPHA / 6
    n, what = stats.seeds_needed(-0.7614, 0.04821, 0.01, alpha)

    def power(k, es=0.7614 / 0.04821):   # the two-sided paired t-test's; the far tail is nil here
        crit = sst.t.ppf(1 - alpha / 2, k - 1)
        return sst.nct.sf(crit, k - 1, es * math.sqrt(k))
    assert what == "worse" and n == 3 and power(2) < 0.8 <= power(3)
    # more effect never asks for more seeds
    needed = [stats.seeds_needed(es, 1.0, 0.0, alpha)[0] for es in (0.5, 1, 2, 5, 8, 10, 15.8, 30, 100)]
    assert needed == sorted(needed, reverse=True) and needed[-1] == 2, needed


def test_an_arm_that_trains_like_none_is_told_the_seeds_that_show_it_equivalent():
    """L2 at 1e-12 trains exactly as none does: the same test MSE on every seed, no spread and no
    step to floor it. On 2 seeds the sign test (1/2^n a side) cannot call it practically the same,
    so it is undecided; as any undecided comparison it gets the seeds that would decide it (it got
    none: seeds_needed's sign-test case asked for a difference other than zero), and that many
    seeds of the same results are called equivalent, one fewer not (Holm over 4 such comparisons,
    four datasets: 1/2^n x 4 below 0.05)."""
    mse = [0.8435, 0.9120, 0.7710, 0.8804, 0.8011, 0.8650, 0.7932]

    def family(n):
        ps = [stats.paired_test(mse[:n], mse[:n], higher_is_better=False, rope=0.04) for _ in range(4)]
        stats.decide(ps)
        return ps[0]
    two = family(2)
    assert two.verdict == "undecided" and two.p_tost == 0.25
    assert (two.seeds_needed, two.needed_for) == (7, "equivalent")
    for n, verdict in ((6, "undecided"), (7, "equivalent")):
        p = family(n)
        assert p.verdict == verdict and p.p_tost_holm == pytest.approx(4 * 0.5 ** n)
    # alone, 5 such seeds (1/32 a side) passed at 5% where a 95% interval asks 2.5% a side, and the
    # seed advice (as the interval would) asked for 6: a second statistics audit
    for n, verdict, needed in ((5, "undecided", 6), (6, "equivalent", None)):
        p = stats.paired_test(mse[:n], mse[:n], higher_is_better=False, rope=0.04)
        stats.decide([p])
        assert (p.verdict, p.seeds_needed) == (verdict, needed)


def test_the_smallest_wilcoxon_p_counts_only_the_seeds_that_differ():
    """The report's "min. Wilcoxon p" column is 2 / 2^n, n the pairs that differ (ties drop out,
    its footnote says). An arm identical to none on all 10 seeds has no pair that differs: the
    signed-rank test cannot give anything but 1 (scipy's p beside it), not 2 / 2^10 = 0.002."""
    same = stats.paired_test(L2 + L2[:2], L2 + L2[:2], rope=0.01, resolution=1 / 449)
    assert same.n == 10 and same.p_wilcoxon == 1.0
    assert same.min_p_wilcoxon == 1.0
    nine = stats.paired_test(L2 + [0.5, 0.6], NONE + [0.5, 0.7], rope=0.01)   # 9 of 10 differ
    assert nine.min_p_wilcoxon == pytest.approx(2 / 2 ** 9)


def test_wilcoxon_ties_differences_of_the_same_test_rows():
    """Accuracies are float32: two seeds one test row better than none differ from each other by
    about 1e-8, and the signed-rank test ranked them apart (0.25 where the exact test on whole rows
    gives 0.375; a QA audit's digits L2 of 8 seeds). Differences within float rounding of each other tie,
    as the Friedman ranks are; an identical arm is also identical with float noise (p 1, no pair)."""
    rows = np.array([3, 1, -1, -4, 2, 2, 1, 1])
    none = (np.array([300, 310, 305, 298, 302, 307, 311, 299]) / np.float32(360)).astype(np.float32)
    arm = ((none * np.float32(360) + rows) / np.float32(360)).astype(np.float32)
    exact = sst.wilcoxon(rows).pvalue
    assert exact == pytest.approx(0.375) and sst.wilcoxon(arm.astype(float) - none.astype(float)).pvalue != pytest.approx(exact)
    p = stats.paired_test(arm.astype(float).tolist(), none.astype(float).tolist(), resolution=1 / 360)
    assert p.p_wilcoxon == pytest.approx(exact) and p.min_p_wilcoxon == pytest.approx(2 / 2 ** 8)
    noise = stats.paired_test((none.astype(float) + 1e-12).tolist(), none.astype(float).tolist(), resolution=1 / 360)
    assert noise.p_wilcoxon == 1.0 and noise.min_p_wilcoxon == 1.0 and noise.identical
    # each pair's own scale: one diverged seed (MSE 5e4) does not make the others' 0.02 differences ties
    # of 0 (p 1, too few to test), and ties do not chain from one difference to the next
    none8 = [0.50, 0.52, 0.51, 0.49, 0.50, 0.48, 0.5, 0.51]
    diverged = stats.paired_test([0.48, 0.50, 0.49, 0.47, 0.49, 0.46, 0.47, 5e4], none8, higher_is_better=False)
    assert diverged.min_p_wilcoxon == pytest.approx(2 / 2 ** 8) and diverged.p_wilcoxon < 0.5
    chained = stats._close_ties(np.array([0.5e-6, 1.4e-6, 2.3e-6, 3.2e-6, 4.1e-6]), np.full(5, 1e-6))
    assert chained[0] == 0 and len(set(chained[1:])) == 2
    # float32 noise of 6e-8 around none's values is no difference either: written "the same on every seed"
    near = stats.paired_test([0.9 + 6e-8, 0.8 - 6e-8, 0.85], [0.9, 0.8, 0.85], resolution=1 / 300)
    assert near.identical and metric_numbers.interval(near, "accuracy") == " (the same on every seed)"


def test_the_wilcoxon_p_is_scipys_own_with_ties_and_zeros():
    """stats.wilcoxon_p runs scipy's exact permutation test for tied differences with the statistic
    on every sign pattern at once (scipy's own calls it 2^n times: 1.6 s at 13 seeds): the same
    p-values as scipy.stats.wilcoxon, ties, zeros, a single nonzero difference and no ties alike."""
    from scipy import stats as sst

    from pipeline.stats import wilcoxon_p

    rng = np.random.default_rng(3)
    cases = [np.array([0.0, 0.01]), np.array([0.01, 0.01, -0.01]), rng.normal(size=9), rng.normal(size=20),
             rng.integers(-2, 3, size=13) * 0.01, rng.integers(-3, 4, size=25) * 0.5]
    cases += [rng.integers(-3, 4, size=n) * 0.01 for n in (4, 6, 8, 10)]
    for d in cases:
        if np.any(d != 0):
            assert wilcoxon_p(d) == pytest.approx(float(sst.wilcoxon(d).pvalue), rel=1e-12, abs=0), d


def test_results_equal_but_for_float32_rounding_are_one_result():
    """An L1 of 1e-7 beside none: the test MSEs agree to float32's ~7 digits and differ in the
    rest. That noise is no spread to run a t-test on (it "decided" equivalence from 3 seeds): the
    comparison is the same result on every seed, whose sign test cannot decide at 3 seeds."""
    rng = np.random.default_rng(5)
    none = rng.uniform(0.05, 0.2, size=3)
    arm = (none * (1 + rng.uniform(-2e-7, 2e-7, size=3))).astype(np.float32).astype(float)
    p = stats.paired_test(arm, none, higher_is_better=False, rope=0.01)
    assert p.sd == 0 and p.mean_diff == 0 and p.same_every_seed and p.identical
    assert p.p_tost == 0.5 ** 3 and math.isnan(p.p_equivalent)
    # each pair by its own size: one seed diverged alike on both sides (5e4) leaves the others' spread as it is
    q = stats.paired_test([.10, .12, .09, .11, .13, 5e4], [.11, .10, .095, .125, .10, 5e4], higher_is_better=False, rope=.01)
    assert q.sd == pytest.approx(float(np.std([-.01, .02, -.005, -.015, .03, 0], ddof=1)), rel=1e-6)
    assert not q.same_every_seed
    # differences within float noise of one another but of both signs (a calibration audit: 7 seeds +, 3 -,
    # p 0.00195 by the sign test that assumes every seed agrees; under the null 12% "decided" at 5%): no difference
    d = np.array([-0.4, 1.4, 0.1, 1.2, -0.3, 0.9, 1.3, -0.2, 0.8, 1.1]) * 1e-6
    mixed = stats.paired_test(np.ones(10) + d, np.ones(10), higher_is_better=True, rope=1e-7)
    stats.decide([mixed])
    assert mixed.mean_diff == 0 and mixed.p_t == 1.0 and mixed.verdict != "better"
    agreed = stats.paired_test(np.ones(10) + np.abs(d) + 1e-7, np.ones(10), higher_is_better=True, rope=1e-7)
    assert agreed.mean_diff > 0 and agreed.p_t == pytest.approx(stats.min_wilcoxon_p(10))   # every seed agrees: as before
