"""The study's answer in words: which arms beat none, which are practically the same, which are
undecided and what would decide them, from per-seed values (no training needed)."""

import dataclasses
from collections import Counter
import math
import re

import numpy as np
import pytest
from scipy import stats as sst

from pipeline import (chance, head_to_head, metric_numbers, path_points, path_summary, path_words, short_answer, stats,
                      verdict_record,
                      verdict_warnings, verdict_words, verdicts)


def _values(rng, means, sd, seeds=12):
    noise = {arm: rng.normal(0, sd, seeds) for arm in means}
    base = rng.normal(0.9, 0.02, seeds)   # seed-to-seed variation shared by every arm (paired)
    return {arm: {s: float(base[s] + m + noise[arm][s]) for s in range(seeds)} for arm, m in means.items()}


def test_verdicts_name_winners_equivalents_and_undecided():
    rng = np.random.default_rng(7)
    clear = _values(rng, {"none": 0.0, "dropout": 0.0005, "l1": 0.03, "l2": 0.03, "dropout_l2": -0.03}, 0.002)
    [v] = verdicts.decide_study([verdicts.DatasetResults("digits", "classification", clear)])
    assert v.rope == 0.01 and v.paired["l1"].verdict == "better" and v.paired["l2"].verdict == "better"
    assert v.paired["dropout"].verdict == "equivalent"
    # the same true effect, measured tightly: the pair is practically the same (within the ROPE)
    assert set(v.winners) == {"l1", "l2"} and v.winners_distinct is False and v.winners_same is True
    line = verdict_words.headline(v)
    assert line.startswith("digits: ") and "are better than none, and practically the same as each other" in line
    # the headline's "best" is the head-to-head table's: a pair that favours the first by more
    # than the ROPE names it; one that cannot tell says so
    for gap, sd, said in ((0.03, 0.002, "L1 is the best of them"), (0.004, 0.02, "the seeds cannot tell which is best")):
        values = _values(np.random.default_rng(3), {"none": 0.0, "l1": 0.06 + gap, "l2": 0.06}, sd)
        [w] = verdicts.decide_study([verdicts.DatasetResults("digits", "classification", values)])
        assert set(w.winners) == {"l1", "l2"}, {a: p.verdict for a, p in w.paired.items()}
        [pair] = w.head_to_head
        assert (pair.favours(w.winners[0]) is w.winners_distinct) and said in verdict_words.headline(w)
        table = head_to_head.head_to_head_row(pair, "accuracy")["said"]
        assert table == ("L1 better" if w.winners_distinct else "undecided"), table
    # L2 and dropout the same, both clearly above L1: the two are the best of them, L1 behind
    values = _values(np.random.default_rng(4), {"none": 0.0, "l2": 0.08, "dropout": 0.08, "l1": 0.04}, 0.002)
    [w] = verdicts.decide_study([verdicts.DatasetResults("digits", "classification", values)])
    assert sorted(w.best_group) == ["dropout", "l2"] and not w.winners_distinct and not w.winners_same
    assert re.search(r"; (L2 and dropout|dropout and L2), practically the same as each other, are the best of them "
                     r"\(L1 behind\)", verdict_words.headline(w)), verdict_words.headline(w)
    # two winners that share no seeds were never compared: neither "the same" nor "the best"
    apart = {"none": {s: 0.9 for s in range(10)}, "l1": {s: 0.95 + 0.001 * (s % 3) for s in range(5)},
             "l2": {s: 0.95 + 0.001 * (s % 3) for s in range(5, 10)}}
    apart["none"] = {s: 0.9 + 0.001 * (s % 2) for s in range(10)}
    [u] = verdicts.decide_study([verdicts.DatasetResults("split", "classification", apart)])
    assert set(u.winners) == {"l1", "l2"} and u.head_to_head == [] and not u.winners_same and not u.winners_distinct
    assert "the seeds cannot tell which is best" in verdict_words.headline(u)
    assert "dropout practically the same as none" in line and "dropout+L2 worse than none" in line
    # a lower-is-better metric: L2's lower MSE is "better", and is written as a negative change
    mse = {arm: {s: 1.0 - x for s, x in by_seed.items()} for arm, by_seed in clear.items()}
    [w] = verdicts.decide_study([verdicts.DatasetResults("linear", "regression", mse, rope_setting=0.005)])
    assert w.paired["l2"].verdict == "better" and w.rope == 0.005
    assert verdict_words.sentence("l2", w.paired["l2"], w.metric).startswith("L2: better, -0.03")



def test_a_narrower_gap_is_put_on_the_training_side_only_when_most_of_it_is():
    """The narrowing is the training metric's loss plus the test metric's gain. L2 here fits the
    training data a little worse (MSE +0.001, beyond the ROPE) while its test MSE gains 0.005: a
    better model, not a worse fit, so "comes from the training side" is not said. dropout+L2 closes
    the gap by fitting the training data far worse while its test MSE leans worse: its sentence
    says the test MSE is worse so far, not "not clearly better"."""
    rng = np.random.default_rng(8)
    seeds = range(6)
    test = {"none": [0.010 + rng.normal(0, 4e-4) for _ in seeds], "l2": [0.005 + rng.normal(0, 6e-3) for _ in seeds],
            "dropout_l2": [0.011 + rng.normal(0, 6e-3) for _ in seeds]}
    train = {"none": [0.002 + rng.normal(0, 1e-4) for _ in seeds], "l2": [0.003 + rng.normal(0, 1e-4) for _ in seeds]}
    gap = {arm: [t - x for t, x in zip(test[arm], train[arm])] for arm in train}   # MSE: the gap is test - train
    gap["dropout_l2"] = [0.002 + rng.normal(0, 2e-4) for _ in seeds]
    as_seeds = lambda table: {arm: dict(zip(seeds, vals)) for arm, vals in table.items()}   # noqa: E731
    [v] = verdicts.decide_study([verdicts.DatasetResults("synthetic_linear", "regression", as_seeds(test),
                                                         rope_setting=0.0005, secondary={"gap_metric": as_seeds(gap)})])
    lean = v.secondary["l2"]["gap_metric"]
    assert lean.verdict == "undecided" and lean.mean_diff > 0 and np.mean(train["l2"]) - np.mean(train["none"]) > v.rope
    assert "l2" not in v.train_fit_worse and "training side" not in "; ".join(verdict_words.secondary_sentences(v, "l2"))
    closed = v.gap_closed["dropout_l2"]
    assert v.paired["dropout_l2"].verdict == "undecided" and v.paired["dropout_l2"].mean_diff < 0
    assert closed.fits_worse and closed.no_gain == "undecided"
    said = "; ".join(verdict_words.secondary_sentences(v, "dropout_l2"))
    assert "by fitting the training data worse" in said and "its test MSE is worse than none's so far, not yet decided" in said


def test_undecided_says_how_many_seeds_would_decide():
    rng = np.random.default_rng(3)
    noisy = _values(rng, {"none": 0.0, "l2": 0.02}, 0.03, seeds=4)
    [v] = verdicts.decide_study([verdicts.DatasetResults("pima", "classification", noisy)])
    p = v.paired["l2"]
    assert p.verdict == "undecided" and p.seeds_needed and p.seeds_needed > 4
    assert f"~{p.seeds_needed} seeds could show it {p.needed_for}" in verdict_words.sentence("l2", p, "accuracy")
    # the family is the whole study: a second dataset makes the correction stricter
    two = verdicts.decide_study([verdicts.DatasetResults("pima", "classification", noisy),
                                 verdicts.DatasetResults("again", "classification", noisy)])
    assert two[0].paired["l2"].p_t_holm >= p.p_t_holm
    assert stats.ALPHA == 0.05
    # a difference tiny next to its spread: out of a practical study's reach, and said so
    tiny = _values(np.random.default_rng(5), {"none": 0.0, "l2": 0.002}, 0.03, seeds=6)
    [t] = verdicts.decide_study([verdicts.DatasetResults("pima", "classification", tiny, rope_setting=0.001)])
    q = t.paired["l2"]
    assert q.verdict == "undecided" and q.seeds_needed > verdict_words.AFFORDABLE_SEEDS, q
    assert verdict_words.seeds_to_decide(q).endswith("(beyond a practical study: its spread across seeds is wide "
                                                     "next to its mean difference)")   # 0.6 pt: beyond this ROPE
    assert "mean difference is tiny next to its spread" in verdict_words.seeds_to_decide(dataclasses.replace(q, rope=0.01))
    # more seeds would find a difference smaller than the ROPE: "worse", but perhaps not by enough to matter
    inside = dataclasses.replace(p, mean_diff=-0.004, needed_for="worse", seeds_needed=14, rope=0.01, decide_chance=0.347)
    # the chance is of showing it worse, so it stands beside that, not beside "smaller than the ROPE"
    assert verdict_words.seeds_to_decide(inside) == ("~14 seeds could show it worse (35% chance, given these 4 seeds), "
                                                     "though its mean difference so far is smaller than the ROPE")
    # the report's cell keeps the caveat the sentence gives
    assert verdict_words.seeds_cell(inside) == "~14 (worse, mean within the ROPE so far; 35% chance)"
    assert verdict_words.seeds_cell(dataclasses.replace(inside, mean_diff=-0.02, decide_chance=math.nan)) == "~14 (worse)"
    # the same advice on the dataset's MLflow parent run, beside verdict.l2 = undecided
    tags = verdict_record.verdict_tags(dataclasses.replace(t, paired={"l2": inside}))
    assert tags["verdict.l2"] == "undecided" and tags["verdict.l2.seeds_to_decide"] == verdict_words.seeds_to_decide(inside)
    # no chance (a spread of zero: the sign test's count): a few seeds' estimate is said to be rough
    signs = dataclasses.replace(inside, decide_chance=math.nan)
    assert verdict_words.seeds_to_decide(signs).endswith("(a rough estimate from 4 seeds), though its mean difference "
                                                         "so far is smaller than the ROPE")
    assert verdict_words.seeds_to_decide(dataclasses.replace(signs, n=5)).endswith("smaller than the ROPE")
    # a chance is never written 0% or 100% when it is only near them (20,000 draws can land on 0.005)
    assert [verdict_words.percent(c) for c in (0.0, 0.005, 0.0051, 0.5, 0.9949, 0.995, 1.0)] == [
        "under 1%", "under 1%", "1%", "50%", "99%", "over 99%", "over 99%"]


def test_a_test_split_coarser_than_the_rope_is_noted():
    """50 test rows: one prediction is 2 points of accuracy, more than the one-point ROPE; the
    note says the verdicts are about those rows. 200 rows (0.5 point a row) need no note."""
    rng = np.random.default_rng(2)
    values = _values(rng, {"none": 0.0, "l2": 0.0}, 0.01, seeds=5)
    [few] = verdicts.decide_study([verdicts.DatasetResults("quadrants", "classification", values, n_test=50)])
    assert verdict_words.test_rows_note(few).startswith(
        "The test split has 50 rows: one prediction moves test accuracy by 2.0 pt, more than the ROPE (±1.0 pt)")
    assert any(line.startswith("    note: The test split has 50 rows") for line in verdict_words.answer_lines(few))
    [many] = verdicts.decide_study([verdicts.DatasetResults("quadrants", "classification", values, n_test=200)])
    assert verdict_words.test_rows_note(many) == "" and len(verdict_words.answer_lines(many)) == 1


def test_a_rare_class_of_a_few_test_rows_is_a_coarse_balanced_accuracy():
    """The churn table: 143 "No" and 7 "Yes" test rows, balanced accuracy. One "Yes" row moves it
    by 1/(2 x 7) = 7.1 points: a note says so (as for accuracy on a small split). none and L1 one
    "Yes" row above always-"No" on every seed were "practically the same, 0.0 pt [0.0, 0.0]" and
    above chance; one row of the rarest class above the constant is now chance, as for accuracy.
    Two arms three rows above are compared, their spread floored at the smallest step, one "No"
    row (1/286), so identical predictions no longer give a zero-width interval."""
    seeds, rows = range(3), [7, 143, 2]
    one = {s: 0.5 + 1 / 14 for s in seeds}
    [old] = verdicts.decide_study([verdicts.DatasetResults("churn", "classification", {"none": one, "l1": dict(one)},
                                                           metric="balanced_accuracy", chance=0.5, n_test=150)])
    # without the class sizes: identical values on 3 seeds, a sign test's 1/8 a side: not yet equivalent
    assert old.paired["l1"].verdict == "undecided" and not old.at_chance
    [v] = verdicts.decide_study([verdicts.DatasetResults("churn", "classification", {"none": one, "l1": dict(one)},
                                                         metric="balanced_accuracy", chance=0.5, n_test=150,
                                                         test_class_rows=rows)])
    assert v.paired["l1"].verdict == verdicts.AT_CHANCE and v.at_chance == ["none", "l1"]
    assert verdict_words.test_rows_note(v) == (
        "The test split's rarest class has 7 rows: one of its predictions moves test balanced accuracy by 7.1 pt, more "
        "than the ROPE (±1.0 pt). Every seed is scored on these same rows, so the verdicts say how the arms compare on "
        "them, not how surely that carries over to new data; a larger test_fraction (or more data) would say more")
    three = {s: 0.5 + 3 / 14 for s in seeds}
    [w] = verdicts.decide_study([verdicts.DatasetResults("churn", "classification", {"none": three, "l1": dict(three)},
                                                         metric="balanced_accuracy", chance=0.5, n_test=150,
                                                         test_class_rows=rows)])
    p = w.paired["l1"]
    assert not w.at_chance and p.sd == pytest.approx(1 / 286) and p.ci_high - p.ci_low > 0.01   # not [0.0, 0.0]
    assert verdict_words.test_rows_note(w)   # and the note says what a row of "Yes" is worth


@pytest.mark.slow
def test_adaptive_looks_keep_the_error_rate():
    """Adding seeds until decided looks at the data up to 8 times; with alpha spent across the
    looks, studies with no true difference still say better/worse in at most ~5% of cases
    (naively testing at 0.05 at every look would say so far more often: checked too)."""
    rng = np.random.default_rng(11)
    looks, false, naive = [5, 10, 15, 20, 25, 30, 35, 40], 0, 0
    studies = 1000
    for _ in range(studies):
        values = _values(rng, {"none": 0.0, "l1": 0.0, "l2": 0.0}, 0.01, seeds=40)
        [v] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", values, rope_setting=0.0005)],
                                    list(range(40)), looks)
        false += any(p.verdict in ("better", "worse") for p in v.paired.values())
        d = np.array([values["l1"][s] - values["none"][s] for s in range(40)])
        naive += any(sst.ttest_1samp(d[:n], 0).pvalue < 0.05 for n in looks)
    assert false / studies <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / studies), false / studies
    assert naive / studies > 0.1   # what the spending protects against


def test_a_later_look_keeps_the_comparisons_decided_before_in_its_holm_family():
    """Adaptive seeds: dropout is practically the same as none at the first look (5 seeds) and
    leaves the open comparisons; L2, undecided then, is tested again at 10 seeds. Its Holm family
    still counts dropout (as if with p = 1): a family that shrank by the data would loosen the bar
    for what is left (the statistics audit measured ~6% false verdicts at a nominal 5%). A zero
    spread gives no posterior (it would be "certain" from two seeds)."""
    none = {s: 0.9 + 0.01 * (s % 3) for s in range(10)}
    values = {"none": none, "dropout": {s: x + 0.0005 * (-1) ** s for s, x in none.items()},
              "l2": {s: x + [0.001, 0.012, -0.004, 0.009, 0.002, 0.007, 0.006, 0.008, 0.005, 0.009][s] for s, x in none.items()}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", values, rope_setting=0.006)],
                                list(range(10)), [5, 10])
    drop, l2 = v.paired["dropout"], v.paired["l2"]
    assert drop.verdict == "equivalent" and drop.n == 5 and l2.n == 10
    assert l2.family == 2 and l2.p_t_holm == pytest.approx(min(1.0, 2 * l2.p_t))
    # ... but an arm that turns at chance at the later look leaves the family (nothing to test)
    rng = np.random.default_rng(0)
    level = {"none": {s: 0.52 if s < 5 else 0.49 for s in range(10)}, "dropout": {s: 0.50 for s in range(10)},
             "l1": {s: 0.53 + 0.03 * rng.standard_normal() for s in range(10)}}
    [c] = verdicts.decide_study([verdicts.DatasetResults("c", "classification", level, chance=0.5)], list(range(10)),
                                [5, 10])
    assert c.paired["dropout"].verdict == verdicts.AT_CHANCE and c.paired["l1"].n == 10 and c.paired["l1"].family == 1
    # still undecided at the last look: its estimate is at the full alpha, and says a look spends less
    rng = np.random.default_rng(1)
    [w] = verdicts.decide_study([verdicts.DatasetResults("w", "classification", _values(rng, {"none": 0.0, "l2": 0.004},
                                                                                       0.02, seeds=10))],
                                list(range(10)), [5, 10])
    assert w.paired["l2"].verdict == "undecided"
    assert verdict_words.seeds_to_decide(w.paired["l2"]).endswith(
        "% chance, given these 10 seeds; more seeds, and less chance, at an adaptive look's share of alpha)")
    assert "later look" not in verdict_words.seeds_to_decide(verdicts.decide_study([verdicts.DatasetResults(
        "w", "classification", _values(rng, {"none": 0.0, "l2": 0.004}, 0.02, seeds=10))])[0].paired["l2"])
    same = stats.paired_test([0.93, 0.95], [0.91, 0.93], rope=0.01)
    assert same.sd == 0 and math.isnan(same.p_better) and math.isnan(same.p_equivalent) and same.verdict == ""


def test_the_gap_closed_rests_on_the_seeds_its_verdict_used():
    """Adaptive seeds, decided at the first look (5 of 10 seeds stored, e.g. after a ROPE was
    edited): the share of the gap closed and the training means come from those 5 seeds, as the
    gap's verdict does, not from seeds no verdict used."""
    seeds = range(10)
    values = {"none": {s: 0.80 + 0.002 * (s % 3) for s in seeds}, "l2": {s: 0.85 + 0.002 * (s % 2) for s in seeds}}
    gaps = {"none": {s: 0.10 + 0.004 * (s % 3) for s in seeds},
            "l2": {s: (0.05 if s < 5 else 0.10) + 0.003 * (s % 2) for s in seeds}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", values, secondary={"gap_metric": gaps})],
                                list(seeds), [5, 10])
    assert (v.looks, v.seeds_used, v.secondary["l2"]["gap_metric"].n) == (1, 5, 5)
    assert v.gap_closed["l2"].share == pytest.approx(1 - np.mean([gaps["l2"][s] for s in range(5)]) /
                                                     np.mean([gaps["none"][s] for s in range(5)]))


def test_an_adaptive_dataset_without_readable_runs_is_not_called_decided():
    """No look evaluated (every run failed, or none can be read in the study's metric): the
    dataset says so, and the next round adds nothing for it (it used to read "decided")."""
    rng = np.random.default_rng(3)
    read = verdicts.DatasetResults("d", "classification", _values(rng, {"none": 0.0, "l1": 0.0}, 0.01, seeds=5))
    empty = verdicts.DatasetResults("e", "classification", {})
    v, w = verdicts.decide_study([read, empty], list(range(10)), [5, 10])
    assert (v.looks, v.seeds_used, v.stopped) == (1, 5, "more seeds to come")
    assert (w.looks, w.seeds_used, w.stopped, w.paired) == (0, 0, "no results", {})
    # one seed shared with none at the first look (a cell failed): "not enough seeds" then, and
    # tested again at the next look, not left so for the whole study
    partial = {"none": {s: 0.80 + 0.01 * (s % 2) for s in range(4)}, "dropout": {0: 0.90, 2: 0.91, 3: 0.90}}
    [g] = verdicts.decide_study([verdicts.DatasetResults("g", "classification", partial)], [0, 1, 2, 3], [2, 4])
    assert (g.paired["dropout"].n, g.paired["dropout"].verdict, g.looks) == (3, "better", 2)


def test_in_short_says_when_an_arm_was_decided_on_fewer_seeds_than_the_tables_show():
    """Adaptive seeds: dropout decided at the first look (3 seeds), L2 undecided to the last (6).
    In short's "72.5% -> 75.1%" were dropout's means at its look, beside a table over every seed
    (72.2% -> 75.0% on 25 seeds in a tuning/adaptive audit), and nothing said which."""
    rng = np.random.default_rng(1)
    none = {s: 0.80 + 0.02 * rng.standard_normal() for s in range(6)}
    dropout = {s: x + 0.10 + 0.002 * rng.standard_normal() for s, x in none.items()}
    l2 = {s: x + 0.01 + 0.03 * rng.standard_normal() for s, x in none.items()}
    d = verdicts.DatasetResults("pima", "classification", {"none": none, "dropout": dropout, "l2": l2})
    [v] = verdicts.decide_study([d], list(range(6)), [3, 6])
    assert (v.seeds_used, v.paired["dropout"].n, v.paired["dropout"].verdict, v.paired["l2"].n) == (6, 3, "better", 6)
    short = short_answer.in_short([v], short_answer.mean_values([d]))
    first3 = [np.mean([none[s] for s in range(3)]), np.mean([dropout[s] for s in range(3)])]
    assert short[0] == (f"On pima, dropout helped: test accuracy {100 * first3[0]:.1f}% → {100 * first3[1]:.1f}% "
                        "(means over the 3 seeds of its verdict)."), short
    [fixed] = verdicts.decide_study([d], list(range(6)))   # fixed seeds: every verdict on all of them, nothing to say
    assert "seeds of its verdict" not in " ".join(short_answer.in_short([fixed], short_answer.mean_values([d])))


def test_in_short_says_a_dataset_s_group_sentence_right_after_its_own():
    """"On digits, dropout leans worse so far ... On wine, L2 helped ... On digits, no regularizer has
    helped yet.": digits named twice, apart (a study-evolution audit). A group of one dataset with
    sentences of its own follows them; a group of several still comes at the end."""
    rng = np.random.default_rng(4)
    none = {s: 0.80 + 0.02 * rng.standard_normal() for s in range(5)}
    digits = {"none": none, "dropout": {s: x - 0.01 + 0.03 * rng.standard_normal() for s, x in none.items()}}
    n2 = {s: 0.70 + 0.01 * rng.standard_normal() for s in range(5)}
    wine = {"none": n2, "l2": {s: x + 0.08 + 0.002 * rng.standard_normal() for s, x in n2.items()}}
    results = [verdicts.DatasetResults("digits", "classification", digits),
               verdicts.DatasetResults("wine", "classification", wine)]
    short = short_answer.in_short(verdicts.decide_study(results), short_answer.mean_values(results))
    assert short[:3] == ["On digits, dropout leans worse so far, not yet decided: test accuracy 79.9% → 77.8%.",
                         "No regularizer has helped yet.", "On wine, L2 helped: test accuracy 70.2% → 78.2%."], short


def test_an_adaptive_share_rope_is_fixed_at_the_first_look():
    """A ROPE of "10%" of none's MSE took none's mean over every seed run, so a look at 3 seeds was
    judged with a margin from the 9 that ran after it (a QA audit: +-0.0512 from 9 seeds where the
    look's own were +-0.0559). It is taken at the first look and kept for the later ones."""
    none = {s: 1.0 + 0.5 * (s >= 3) for s in range(9)}   # later seeds worse: the share grows with them
    l2 = {s: x - 0.01 * (1 + s % 2) for s, x in none.items()}
    d = verdicts.DatasetResults("r", "regression", {"none": none, "l2": l2}, metric="mse", rope_setting="10%")
    [v] = verdicts.decide_study([d], list(range(9)), [3, 6, 9])
    assert v.rope == pytest.approx(0.1) and v.paired["l2"].rope == pytest.approx(0.1)
    [fixed] = verdicts.decide_study([d], list(range(9)))   # fixed seeds: one look, at all of them
    assert fixed.rope == pytest.approx(0.1 * np.mean(list(none.values())))
    # a path's points are compared with none under the same first-look ROPE (they took every seed's)
    points = {"l2=0.01": {s: {"test": x, "val": x, "gap": 0.01} for s, x in l2.items()},
              "l2=0.1": {s: {"test": x + 0.05, "val": x + 0.05, "gap": 0.01} for s, x in l2.items()}}
    on_path = dataclasses.replace(d, paths={"l2": points}, selected={"l2": "l2=0.01"})
    [w] = verdicts.decide_study([on_path], list(range(9)), [3, 6, 9])
    assert [pt.vs_none.rope for pt in path_summary.summarize_path(on_path, "l2", w.rope).points] == pytest.approx([0.1, 0.1])


def test_secondary_outcomes_and_the_gap_that_weight_decay_closes():
    """The weight-decay tutorial in the report's words: none overfits (a gap well beyond the
    ROPE), L2 brings the gap within it: "L2 closes the train-test gap that none leaves open".
    Sparsity is judged for arms with L1, the weight norm for arms with L2, the gap for all."""
    rng = np.random.default_rng(5)
    seeds = range(10)
    mse = _values(rng, {"none": 0.0, "l1": 0.0, "l2": -0.003, "dropout": 0.0, "dropout_l2": 0.004}, 0.0005, seeds=10)
    gap = {"none": [0.0045 + rng.normal(0, 3e-4) for _ in seeds], "l2": [rng.normal(0, 2e-4) for _ in seeds],
           "l1": [0.0044 + rng.normal(0, 3e-4) for _ in seeds], "dropout": [0.002 + rng.normal(0, 3e-4) for _ in seeds],
           "dropout_l2": [0.0015 + rng.normal(0, 3e-4) for _ in seeds]}
    sparsity = {"none": [0.002] * 10, "l1": [0.6 + 0.01 * s for s in seeds], "l2": [0.002] * 10, "dropout": [0.002] * 10}
    norm = {"none": [6.0 + 0.1 * rng.normal() for _ in seeds], "l2": [3.0 + 0.1 * rng.normal() for _ in seeds],
            "l1": [5.9 + 0.1 * rng.normal() for _ in seeds], "dropout": [6.0 + 0.1 * rng.normal() for _ in seeds],
            "dropout_l2": [3.5 + 0.1 * rng.normal() for _ in seeds]}
    as_seeds = lambda table: {arm: dict(zip(seeds, vals)) for arm, vals in table.items()}   # noqa: E731
    d = verdicts.DatasetResults("synthetic_linear", "regression", mse, rope_setting=0.001, secondary={
        "gap_metric": as_seeds(gap), "sparsity_lt_0.001": as_seeds(sparsity), "weight_l2_total": as_seeds(norm)})
    [v] = verdicts.decide_study([d])
    assert set(v.secondary["l1"]) == {"gap_metric", "sparsity_lt_0.001"}
    assert set(v.secondary["l2"]) == {"gap_metric", "weight_l2_total"} and set(v.secondary["dropout"]) == {"gap_metric"}
    sparser = v.secondary["l1"]["sparsity_lt_0.001"]
    assert sparser.verdict == "better" and sparser.ci_low > 0
    assert v.secondary["l2"]["weight_l2_total"].verdict == "better"
    l2_text = "; ".join(verdict_words.secondary_sentences(v, "l2"))
    assert "train-test gap narrower by" in l2_text and "weight norm smaller by" in l2_text
    # the norm's change to the same decimals as its interval, and none's norm to read it against
    assert re.search(r"weight norm smaller by \d\.\d\d \[\d\.\d\d, \d\.\d\d\], from none's \d\.\d\d", l2_text), l2_text
    assert "L2 closes the train-test gap that none leaves open" in l2_text
    # dropout narrows the gap from 0.0045 to 0.002: it closes about 56% of it, and says how sure
    closed = re.search(r"dropout closes (\d+)% \[(\d+)%, (\d+)%\] of the train-test gap that none leaves open",
                       "; ".join(verdict_words.secondary_sentences(v, "dropout")))
    share, low, high = (int(x) for x in closed.groups())
    assert low < share < high and 50 <= share <= 62 and not v.gap_closed["dropout"].fully
    assert "past 100%" not in "; ".join(verdict_words.secondary_sentences(v, "dropout"))
    # an interval that reaches past 100% says what that means ("[83%, 142%]" read as a typo)
    over = dataclasses.replace(v.gap_closed["dropout"], share=1.13, share_low=0.83, share_high=1.42)
    said = verdict_words.gap_closed_sentence(dataclasses.replace(v, gap_closed={**v.gap_closed, "dropout": over}), "dropout")
    assert said.startswith("dropout closes 113% [83%, 142%] of the train-test gap") and \
        "; past 100%: its test score may match or beat its training score" in said, said
    # ... all of it from the training side: its test MSE is practically the same as none's
    assert v.paired["dropout"].verdict == "equivalent" and v.gap_closed["dropout"].no_gain == "same"
    assert re.search(r"of the train-test gap that none leaves open \(gap [^)]*\), by fitting the training data worse "
                     r"\(train MSE -?0\.\d+ → 0\.\d+\); its test MSE is practically the same as none's: a narrower gap, "
                     r"not a better model", "; ".join(verdict_words.secondary_sentences(v, "dropout")))
    assert v.gap_closed["l2"].no_gain == ""   # better on test too: the gap closed is a better model
    assert "l1" not in v.gap_closed and "l1" not in v.train_fit_worse   # no narrower gap, nothing closed
    # a gap that only leans narrower (undecided) while the training fit is clearly worse: said where
    # it comes from, though no share of a gap is claimed
    leaned = {**gap, "l1": [0.0040 + rng.normal(0, 3e-3) for _ in seeds]}
    mse_l1 = {**mse, "l1": {s: x + 0.003 for s, x in mse["l1"].items()}}   # test worse by 0.003: train worse by ~0.0035
    [u] = verdicts.decide_study([dataclasses.replace(d, values=mse_l1, secondary={**d.secondary, "gap_metric": as_seeds(leaned)})])
    assert u.secondary["l1"]["gap_metric"].verdict == "undecided" and "l1" not in u.gap_closed
    train_none, train_l1 = u.train_fit_worse["l1"]
    assert train_l1 - train_none > u.rope
    said = "; ".join(verdict_words.secondary_sentences(u, "l1"))
    assert re.search(r"train-test gap undecided \(narrower by [^)]*\), and L1 fits the training data worse than none \(train "
                     r"MSE 0\.\d{4} → 0\.\d{4}\): what narrowing there is comes from the training side", said), said
    assert verdict_record.verdict_tags(u)["verdict.l1.gap_metric.how"] == "training fit worse"
    assert verdict_record.verdict_record(u)["train_fit_worse"]["l1"]["train_arm"] == pytest.approx(train_l1)
    # ... and not where the gap is practically unchanged (the same training fit, none of it to explain)
    [same] = verdicts.decide_study([dataclasses.replace(d, values=mse_l1)])
    assert same.secondary["l1"]["gap_metric"].verdict == "equivalent" and "l1" not in same.train_fit_worse
    # dropout+L2 narrows the gap too, but by fitting the training set worse: its test MSE is worse
    # (+0.004), so no share of a gap "closed" is claimed; the training MSE says what happened
    worse = v.gap_closed["dropout_l2"]
    assert v.paired["dropout_l2"].verdict == "worse" and worse.no_gain == "worse"
    assert worse.train_arm > worse.train_none + 0.004   # train = test - gap: (none+0.004) - 0.0015 vs none - 0.0045
    said = "; ".join(verdict_words.secondary_sentences(v, "dropout_l2"))
    assert re.search(r"dropout\+L2 narrows the train-test gap \(gap 0\.00\d+ with none, 0\.00\d+ with dropout\+L2\) by fitting "
                     r"the training data worse \(train MSE -?0\.\d+ → 0\.\d+\), and its test MSE is worse too: underfitting, "
                     r"not a gap closed", said), said
    assert "closes" not in said and verdict_record.verdict_record(v)["gap_closed"]["dropout_l2"]["no_gain"] == "worse"
    # at chance with a training fit no worse than none's: no "fitting the training data worse" claimed
    chance = dataclasses.replace(v, gap_closed={**v.gap_closed, "dropout_l2": dataclasses.replace(
        worse, no_gain="at chance", train_arm=worse.train_none - 0.001, fits_worse=False)})
    said = "; ".join(verdict_words.secondary_sentences(chance, "dropout_l2"))
    assert verdict_record.verdict_tags(chance)["verdict.dropout_l2.gap_metric.how"] == "no gain: test at chance"
    assert "fitting" not in said and re.search(r"dropout\+L2 narrows the train-test gap \([^)]*\), but its test MSE is no "
                                               r"better than a constant prediction's: not a gap closed", said), said
    # the training fit's change to the decimals that show it
    assert verdict_words._train_change("accuracy", (0.99912, 0.99905)) == "99.9120% → 99.9050%"
    assert verdict_words._train_change("accuracy", (0.991, 0.953)) == "99.1% → 95.3%"
    assert verdict_words._train_change("mse", (100.0, 100.002)) == "100.0000 → 100.0020"
    # none's value to two significant digits whatever the arm beside it (0.003 in one line, 0.0032 in the next)
    assert [verdict_words._train_change("mse", (0.003214, arm)) for arm in (0.015, 0.0051)] == ["0.0032 → 0.0150", "0.0032 → 0.0051"]
    assert "weights sparser by 64.3 pt of |w| < 1e-3" in "; ".join(verdict_words.secondary_sentences(v, "l1"))
    tags = verdict_record.verdict_tags(v)
    assert tags["verdict.l1.sparsity_lt_0.001"] == "sparser" and tags["verdict.l2.gap_metric"] == "narrower"
    assert tags["verdict.dropout_l2.gap_metric.how"] == "underfitting: test worse" and "verdict.l2.gap_metric.how" not in tags
    # a difference inside the ROPE still says which way it went, and one under 0.05 pt is not "0.0 pt"
    gap, norm = (verdicts.SECONDARY[0], next(o for o in verdicts.SECONDARY if o.key == "weight_l2_total"))
    within = dataclasses.replace(v.secondary["l2"]["weight_l2_total"], verdict="equivalent")
    assert verdict_words.secondary_sentence(norm, within, "accuracy").startswith("weight norm practically unchanged "
                                                                                 "(smaller by ")
    tiny = dataclasses.replace(v.secondary["l2"]["gap_metric"], verdict="undecided", mean_diff=-0.00012,
                               ci_low=-0.0004, ci_high=0.0002)
    assert verdict_words.secondary_sentence(gap, tiny, "accuracy") == "train-test gap undecided (wider by 0.012 pt " \
        "[-0.02, 0.04])"
    # ... while a larger one keeps its ends to 0.1 pt too (not "[-0.011, 1.0]"), but for an end that would
    # read as zero: it keeps its side, as the test metric's does
    half = dataclasses.replace(tiny, mean_diff=0.005, ci_low=-0.00011, ci_high=0.0101)
    assert verdict_words.secondary_sentence(gap, half, "accuracy") == "train-test gap undecided (narrower by 0.5 pt " \
        "[-0.01, 1.0])"


def test_one_test_sample_above_a_constant_prediction_is_chance():
    """Random labels, 58 test rows: the majority class scores 26/58 and both arms, predicting
    alike on every seed, 27/58: one sample, 1.7 points, more than the one-point margin. Without
    the test split's size that read "practically the same" (zero spread); with it, at chance.
    Two samples above the constant are beyond the margin (learning), and there four seeds of
    identical predictions cannot show the arms within one point of each other: one row is 1.7."""
    seeds = range(4)
    one, two = {s: 27 / 58 for s in seeds}, {s: 28 / 58 for s in seeds}
    [old] = verdicts.decide_study([verdicts.DatasetResults("noise", "classification", {"none": one, "l2": dict(one)},
                                                           chance=26 / 58)])
    assert old.paired["l2"].verdict == "undecided"   # no split size: identical on 4 seeds is a sign test's 1/16 a side
    [v] = verdicts.decide_study([verdicts.DatasetResults("noise", "classification", {"none": one, "l2": dict(one)},
                                                         chance=26 / 58, n_test=58)])
    assert v.paired["l2"].verdict == verdicts.AT_CHANCE and v.at_chance == ["none", "l2"]
    [w] = verdicts.decide_study([verdicts.DatasetResults("noise", "classification", {"none": two, "l2": dict(two)},
                                                         chance=26 / 58, n_test=58)])
    assert w.paired["l2"].verdict == "undecided" and not w.at_chance


def test_a_spread_of_zero_decides_nothing_for_a_counted_metric():
    """Accuracy moves in test rows: every seed two rows better (2 seeds) was "better" from a
    spread of (almost) zero; the spread is now at least one row, so 2 or 3 such seeds are
    undecided and 12 decide."""
    def two_rows_better(seeds):
        return {"none": {s: 0.80 for s in range(seeds)}, "dropout": {s: 0.80 + 2 / 142 for s in range(seeds)}}

    # without the split's size the same difference on every seed is a sign test: 2 seeds cannot decide, 6 can
    [old] = verdicts.decide_study([verdicts.DatasetResults("bc", "classification", two_rows_better(2))])
    assert old.paired["dropout"].verdict == "undecided" and old.paired["dropout"].p_t == 0.5
    [old] = verdicts.decide_study([verdicts.DatasetResults("bc", "classification", two_rows_better(6))])
    assert old.paired["dropout"].verdict == "better" and old.paired["dropout"].p_t == 2 ** -5
    for seeds, expected in ((2, "undecided"), (3, "undecided"), (12, "better")):
        [v] = verdicts.decide_study([verdicts.DatasetResults("bc", "classification", two_rows_better(seeds), n_test=142)])
        p = v.paired["dropout"]
        assert p.verdict == expected and p.sd == pytest.approx(1 / 142) and math.isfinite(p.effect_size), (seeds, p)
        assert p.ci_low < p.mean_diff < p.ci_high
    # the floor is what a t-test on differences with that spread says (scipy, on +-half a row around the mean)
    d = np.array([1, 1, 1]) / 142
    spread = d + np.array([-1, 0, 1]) / 142   # sd exactly one row, same mean
    assert stats.paired_test(d, np.zeros(3), resolution=1 / 142).p_t == pytest.approx(sst.ttest_1samp(spread, 0).pvalue)


def test_models_that_learned_nothing_are_at_chance_not_equivalent():
    """An imbalanced table where none and dropout always predict the majority class: balanced
    accuracy 0.5 on every seed, zero spread. An equivalence test calls that "practically the
    same" at any p; the verdict is "at chance" instead, left out of the Holm family, with a
    warning. An arm that does learn is still compared (better), and the others' Holm p-values
    do not count the chance comparison."""
    seeds = range(6)
    values = {"none": {s: 0.5 for s in seeds}, "dropout": {s: 0.5 for s in seeds},
              "l2": {s: 0.62 + 0.01 * (s % 3) for s in seeds}}
    common = dict(metric="balanced_accuracy")
    [v] = verdicts.decide_study([verdicts.DatasetResults("clinic", "classification", values, chance=0.5, **common)])
    assert v.paired["dropout"].verdict == verdicts.AT_CHANCE and v.paired["l2"].verdict == "better"
    assert v.at_chance == ["none", "dropout"] and v.decided
    assert "dropout at chance level, as none" in verdict_words.headline(v)
    assert "no better than a constant prediction" in verdict_words.sentence("dropout", v.paired["dropout"], v.metric)
    assert verdict_warnings.chance_warning(v).startswith(
        "The arms none, dropout scored no better than always predicting the majority class (test balanced accuracy "
        "0.5) while other arms learned")
    assert math.isnan(v.paired["dropout"].p_t_holm)   # not in the family
    alone = verdicts.decide_study([verdicts.DatasetResults("clinic", "classification", {
        "none": values["none"], "l2": values["l2"]}, chance=0.5, **common)])[0]
    assert alone.paired["l2"].p_t_holm == pytest.approx(v.paired["l2"].p_t_holm)
    # every arm at chance: the advice names class_weight, unless the dataset trains with it already
    for weighted in (False, True):
        [f] = verdicts.decide_study([verdicts.DatasetResults("clinic", "classification", {
            "none": values["none"], "dropout": values["dropout"]}, chance=0.5, class_weighted=weighted, **common)])
        said = verdict_warnings.chance_warning(f)
        assert said.startswith("Every arm scored no better") and ("class_weight: balanced" in said) is not weighted, said
    # without the chance level (older runs) the same numbers read as equivalent, as before
    [old] = verdicts.decide_study([verdicts.DatasetResults("clinic", "classification", values, **common)])
    assert old.paired["dropout"].verdict == "equivalent" and not verdict_warnings.chance_warning(old)
    # regression: an MSE far above the variance of the targets (a price never learned) is at chance
    mse = {"none": {s: 5e8 + s for s in seeds}, "l2": {s: 5e8 - s for s in seeds}}
    [r] = verdicts.decide_study([verdicts.DatasetResults("prices", "regression", mse, chance=1.6e7)])
    assert r.paired["l2"].verdict == verdicts.AT_CHANCE
    assert verdict_warnings.chance_warning(r).startswith(
        "Every arm scored far worse than always predicting the training mean (test MSE 1.6e+07; none test MSE 5e+08, 31x)")
    assert "a few extreme targets among the training rows" in verdict_warnings.chance_warning(r)
    # where cells diverged as well, the learning rate for the target's scale is the cause to name (a
    # failing-trials audit: a raw-scale target that partly diverged was blamed on extreme targets)
    [r] = verdicts.decide_study([verdicts.DatasetResults("prices", "regression", mse, chance=1.6e7, diverged={"l2": [9]})])
    said = verdict_warnings.chance_warning(r)
    assert "extreme targets" not in said and said.endswith(
        "cells diverged here too (see the warnings), so the learning rate is too high for this target's scale: lower "
        "it, or train on a standardized target (standardize_target: true in the dataset entry)")
    near = {"none": {s: 1.7e7 + s for s in seeds}, "l2": {s: 1.7e7 - s for s in seeds}}   # at chance, not far worse
    [n] = verdicts.decide_study([verdicts.DatasetResults("prices", "regression", near, chance=1.6e7)])
    assert verdict_warnings.chance_warning(n).startswith("Every arm scored no better than always predicting the training mean")
    # chance is judged on the metric's own margin, not the study's ROPE: with rope 0.15, arms 10
    # points above a 0.635 majority class learned (Pima), and are compared as usual
    pima = {arm: {s: 0.74 + 0.01 * (s % 2) + (0.01 if arm == "l2" else 0.0) for s in seeds} for arm in ("none", "l2")}
    [wide] = verdicts.decide_study([verdicts.DatasetResults("pima", "classification", pima, rope_setting=0.15,
                                                            chance=0.635)])
    assert not wide.at_chance and wide.paired["l2"].verdict == "equivalent" and not verdict_warnings.chance_warning(wide)
    # one arm that learned nothing while none did: its strength, not the data, is the suspect
    strong = {"none": {s: 0.8 + 0.01 * (s % 2) for s in seeds}, "l1": {s: 0.5 for s in seeds}}
    [st] = verdicts.decide_study([verdicts.DatasetResults("t", "classification", strong, chance=0.5, **common)])
    assert st.paired["l1"].verdict == "worse" and "while none learned: their regularization is likely too strong" \
        in verdict_warnings.chance_warning(st)
    # ... unless none's own learning is unclear: a few optimizer steps on Fashion-MNIST, none at
    # 0.128 against a 0.11 majority class with seeds from 0.075 to 0.185; L1 at 0.118 is not to blame
    weak = {"none": {0: 0.075, 1: 0.185, 2: 0.125}, "l1": {0: 0.075, 1: 0.155, 2: 0.125}}
    [wk] = verdicts.decide_study([verdicts.DatasetResults("fmnist", "classification", weak, chance=0.11, n_test=200)])
    assert wk.at_chance == ["l1"] and "too strong" not in verdict_warnings.chance_warning(wk)
    assert "none is not clearly above it either (test accuracy 0.1283, 95% CI [" in verdict_warnings.chance_warning(wk)
    assert "the models barely learn here" in verdict_warnings.chance_warning(wk)
    # ... and without none's runs nothing says whether the strength or the data is the cause
    [lone] = verdicts.decide_study([verdicts.DatasetResults("t", "classification", {"l1": strong["l1"]}, chance=0.5,
                                                            **common)])
    assert lone.at_chance == ["l1"] and "none learned" not in verdict_warnings.chance_warning(lone)
    assert "none has no finished runs on these seeds" in verdict_warnings.chance_warning(lone)
    # accuracy at a 99.3% majority class leaves no room for a margin: only a mean at the constant's
    # (none's 0.993) is at chance, L2 a row above it is not, and the warning names a metric that can tell
    rare = {"none": {s: 0.993 for s in seeds}, "l2": {s: 0.995 for s in seeds}}
    [little] = verdicts.decide_study([verdicts.DatasetResults("rare", "classification", rare, chance=0.993)])
    assert little.little_room and little.at_chance == ["none"] and little.paired["l2"].verdict != verdicts.AT_CHANCE
    assert "choose metric: balanced_accuracy" in verdict_warnings.chance_warning(little)
    # the constant's score as float32 computes it (74/75 is 0.98666668 where the constant's is
    # 0.98666667): every arm exactly at the constant is at chance (a metrics audit: "undecided")
    exact = {arm: {s: float(np.float32(74 / 75)) for s in seeds} for arm in ("none", "dropout")}
    [same] = verdicts.decide_study([verdicts.DatasetResults("rare", "classification", exact, chance=74 / 75, n_test=75)])
    assert same.little_room and same.at_chance == ["none", "dropout"] and same.paired["dropout"].verdict == verdicts.AT_CHANCE
    # balanced accuracy with 2 test rows of the rare class: one row moves it 25 points, the chance
    # margin (25.25) leaves less than two of it below 1: nothing is judged, and the warning says why
    # (not "choose balanced_accuracy", which it is)
    few = {"none": {s: 0.75 for s in seeds}, "l2": {s: 0.5 for s in seeds}}
    [coarse] = verdicts.decide_study([verdicts.DatasetResults("few", "classification", few, chance=0.5,
                                                              metric="balanced_accuracy", test_class_rows=[2, 40, 2])])
    assert coarse.little_room and coarse.at_chance == ["l2"] and coarse.paired["l2"].verdict != verdicts.AT_CHANCE
    assert coarse.room_step == 0.25 and coarse.chance_margin == chance.LITTLE_ROOM_MARGIN
    warning = verdict_warnings.chance_warning(coarse)
    assert "One test row of the rarest class (2 rows) moves test balanced accuracy by 25.0 pt" in warning
    assert "raise the dataset's test_fraction and, if not set already, stratify: true" in warning and "choose metric" not in warning
    # ... where no arm's mean rose above the constant's (a fraud table: every arm predicts the majority
    # class, now and then missing one of its rows too), every comparison is at chance, not "practically
    # the same", and In short says that nothing was learned
    blank = {"none": {s: 0.5 - 0.005 * (s % 2) for s in seeds}, "l2": {s: 0.5 - 0.005 * (s % 3 == 0) for s in seeds},
             "dropout": {s: 0.5 for s in seeds}}
    [nothing] = verdicts.decide_study([verdicts.DatasetResults("fraud", "classification", blank, chance=0.5,
                                                               metric="balanced_accuracy", test_class_rows=[2, 96, 2])])
    assert nothing.little_room and {p.verdict for p in nothing.paired.values()} == {verdicts.AT_CHANCE}
    assert "the models learned little or nothing" in " ".join(short_answer.in_short([nothing], {}))
    # ... also with training values far above the constant: half a row below it is not "overfitting"
    fitted = {"gap_metric": {arm: {s: 0.9 - x for s, x in by_seed.items()} for arm, by_seed in blank.items()}}
    [trained] = verdicts.decide_study([verdicts.DatasetResults("fraud", "classification", blank, chance=0.5, secondary=fitted,
                                                               metric="balanced_accuracy", test_class_rows=[2, 96, 2])])
    assert trained.below_chance == [] and {p.verdict for p in trained.paired.values()} == {verdicts.AT_CHANCE}
    assert "overfits" not in " ".join(short_answer.in_short([trained], {}))
    # with 3 such rows (16.7 points a row) there is room: l2 at 0.5 is at chance
    [enough] = verdicts.decide_study([verdicts.DatasetResults("few", "classification", few, chance=0.5,
                                                              metric="balanced_accuracy", test_class_rows=[3, 40, 2])])
    assert not enough.little_room and enough.at_chance == ["l2"]
    # a constant test target: the constant prediction is perfect (MSE 0); nothing is judged
    flat = {"none": {s: 0.01 for s in seeds}, "l2": {s: 0.02 for s in seeds}}
    [c] = verdicts.decide_study([verdicts.DatasetResults("flat", "regression", flat, chance=0.0)])
    assert not c.at_chance and c.paired["l2"].verdict != verdicts.AT_CHANCE and not verdict_warnings.chance_warning(c)


def test_none_worse_than_a_constant_prediction_is_overfitting_that_regularization_removes():
    """d2l's high-dimensional regression: none's test MSE is three times a constant prediction's
    (0.072 vs 0.0225), L2 lands at the constant's level. L2's comparison with none is kept (it
    removed real harm), the warning says none overfits, and "In short" does not say the models
    learned nothing."""
    rng = np.random.default_rng(0)
    values = {"none": {s: 0.0718 + 0.01 * rng.standard_normal() for s in range(8)},
              "l2": {s: 0.0226 + 0.0005 * rng.standard_normal() for s in range(8)},
              "dropout": {s: 0.0300 + 0.003 * rng.standard_normal() for s in range(8)}}
    # the training MSE of every arm is far below the constant's (gap: better on train by)
    gaps = {arm: {s: x - 0.001 for s, x in by_seed.items()} for arm, by_seed in values.items()}
    results = verdicts.DatasetResults("d2l", "regression", values, chance=0.0225, n_test=100,
                                      secondary={"gap_metric": gaps})
    [v] = verdicts.decide_study([results])
    assert v.below_chance == ["none", "dropout"] and "l2" in v.at_chance
    assert v.paired["l2"].verdict == "better"   # not "at chance, as none"
    warning = verdict_warnings.chance_warning(v)
    assert warning.startswith("none scored worse than always predicting the training mean (test MSE 0.07")
    assert "L2 brings it back to about the constant's level" in warning and "dropout scores worse than the constant too, if less so than none" in warning
    # an arm past the constant's margin whose CI still reaches the constant is not "brought back" (a
    # user's heavy-tailed target: L1 5% above the constant's MSE, undecided against none)
    past = {**values, "l1": {s: 0.0238 + 0.002 * (-1) ** s for s in range(8)}}
    [w] = verdicts.decide_study([dataclasses.replace(results, values=past, secondary={
        "gap_metric": {arm: {s: x - 0.001 for s, x in by_seed.items()} for arm, by_seed in past.items()}})])
    assert "l1" in w.at_chance and "l1" not in w.below_chance
    said = verdict_warnings.chance_warning(w)
    assert "L2 brings it back to about the constant's level" in said and "L1 scores below the constant's level too, " \
        "if not clearly" in said and "L1 brings" not in said and "L2 and L1" not in said, said
    # at the constant's level on average, but so spread that it is not shown better than none: said so
    spread = {**values, "l1": {s: 0.0226 + 0.12 * (-1) ** s for s in range(8)}}
    [u] = verdicts.decide_study([dataclasses.replace(results, values=spread, secondary={
        "gap_metric": {arm: {s: x - 0.001 for s, x in by_seed.items()} for arm, by_seed in spread.items()}})])
    assert u.paired["l1"].verdict != "better" and "l1" in u.at_chance
    assert "L1 scores about the constant's level, not clearly better than none" in verdict_warnings.chance_warning(u)
    short = short_answer.in_short([v], short_answer.mean_values([results]))
    # L2 is better than none but at the constant's level: it undid the harm, it did not help beyond it
    assert short[0].startswith("On d2l, L2 undid none's overfitting: test MSE 0.07") and \
        short[0].endswith("about what always predicting the training mean scores, not better (dropout lessened it).")
    assert not any("helped" in line for line in short)
    # nor does the report star it as the best arm (it is better than none, not good)
    assert verdict_words.best_arm(v) is None
    assert verdict_words.best_arm(dataclasses.replace(v, at_chance=["none"], winners=["l2"])) == "l2"
    # said once: "undid none's overfitting" is the overfitting's sentence (not "On d2l, ..." twice)
    assert not any(line.startswith("On d2l, none did worse") for line in short)
    assert not any("learned little or nothing" in line for line in short)
    # without a training value better than the constant, worse-than-constant is not learning (a
    # model that never fit its training rows either): nothing learned, as before
    [never] = verdicts.decide_study([dataclasses.replace(results, secondary={})])
    assert not never.below_chance and never.paired["l2"].verdict == verdicts.AT_CHANCE
    # two arms that only lessened the harm (still below the constant): both named
    less = {"none": values["none"], "l1": {s: 0.040 + 0.001 * (s % 3) for s in range(8)},
            "dropout": {s: 0.030 + 0.001 * (s % 2) for s in range(8)}}
    lessened = verdicts.DatasetResults("d2l", "regression", less, chance=0.0225, n_test=100, secondary={
        "gap_metric": {arm: {s: x - 0.001 for s, x in by_seed.items()} for arm, by_seed in less.items()}})
    short = short_answer.in_short(verdicts.decide_study([lessened]), short_answer.mean_values([lessened]))
    assert short[0].startswith("On d2l, dropout and L1 lessened none's overfitting: test MSE 0.07") and \
        short[0].endswith("still worse than always predicting the training mean."), short
    # an arm that beat the constant helped: none's overfitting then has its own sentence
    beat = {"none": values["none"], "l2": {s: 0.015 + 0.0005 * (s % 2) for s in range(8)}}
    helped = verdicts.DatasetResults("d2l", "regression", beat, chance=0.0225, n_test=100, secondary={
        "gap_metric": {arm: {s: x - 0.001 for s, x in by_seed.items()} for arm, by_seed in beat.items()}})
    short = short_answer.in_short(verdicts.decide_study([helped]), short_answer.mean_values([helped]))
    assert short[0].startswith("On d2l, L2 helped: test MSE 0.07") and \
        "On d2l, none did worse than always predicting the training mean: it overfits (see the warning)." in short, short


def test_models_that_memorize_their_training_rows_are_not_said_to_have_learned_nothing():
    """A house-price table with more features than training rows: every arm's test MSE is the
    constant's, but none fits its training rows (train R² 0.99): overfitting, not a learning rate
    to check; with other arms learning, none's memorizing is what they fixed."""
    rng = np.random.default_rng(1)
    flat = {arm: {s: 1.0 + 0.01 * rng.standard_normal() for s in range(6)} for arm in ("none", "l2", "dropout")}
    fit = {arm: {s: x - 0.02 for s, x in by_seed.items()} for arm, by_seed in flat.items()}   # train MSE 0.02
    [v] = verdicts.decide_study([verdicts.DatasetResults("houses", "regression", flat, chance=1.0,
                                                         secondary={"gap_metric": fit})])
    assert set(v.at_chance) == {"none", "l2", "dropout"} and v.fits_train["none"] == pytest.approx(0.02, abs=0.01)
    warning = verdict_warnings.chance_warning(v)
    assert warning.startswith("Every arm scored no better than always predicting the training mean (test MSE 1) on the "
                              "test rows, though none (unregularized) fits its training rows (train MSE 0.0") and \
        "memorize" in warning
    assert "learning rate" not in warning
    # a training MSE only a little under the constant's (0.93 against 1) is undertraining, not memorizing
    weak_fit = {arm: {s: 0.07 for s in by_seed} for arm, by_seed in flat.items()}   # gap: test minus train MSE
    [under] = verdicts.decide_study([verdicts.DatasetResults("houses", "regression", flat, chance=1.0,
                                                             secondary={"gap_metric": weak_fit})])
    assert not under.fits_train and "the learning rate" in verdict_warnings.chance_warning(under)
    # without the training fit: learned nothing, check the learning rate (as before)
    [blank] = verdicts.decide_study([verdicts.DatasetResults("houses", "regression", flat, chance=1.0,
                                                             secondary={"gap_metric": {a: {s: 0.0 for s in range(6)} for a in flat}})])
    assert not blank.fits_train and "the learning rate" in verdict_warnings.chance_warning(blank)
    # other arms learn: none's memorizing is what they fixed
    learns = {**flat, "l2": {s: 0.5 + 0.01 * rng.standard_normal() for s in range(6)}}
    [w] = verdicts.decide_study([verdicts.DatasetResults("houses", "regression", learns, chance=1.0,
                                                         secondary={"gap_metric": fit})])
    # dropout at chance beside none is a regularized arm: "unregularized, the model" named both (a QA audit)
    assert set(w.at_chance) == {"none", "dropout"}
    assert "though none fits its training rows (train MSE" in verdict_warnings.chance_warning(w) and \
        "none, unregularized, memorizes them; dropout at its strength did not stop that;" in verdict_warnings.chance_warning(w)
    # dropout at chance without fitting its training rows (a gap of 0): too strong, not memorizing
    [y] = verdicts.decide_study([verdicts.DatasetResults("houses", "regression", learns, chance=1.0, secondary={
        "gap_metric": {**fit, "dropout": {s: 0.0 for s in range(6)}}})])
    assert set(y.at_chance) == {"none", "dropout"} and "dropout" not in y.fits_train
    assert "none, unregularized, memorizes them; dropout fits neither, too strong at its strength to learn;" in \
        verdict_warnings.chance_warning(y) and "did not stop" not in verdict_warnings.chance_warning(y)
    alone = {**learns, "dropout": learns["l2"]}
    [x] = verdicts.decide_study([verdicts.DatasetResults("houses", "regression", alone, chance=1.0,
                                                         secondary={"gap_metric": fit})])
    assert x.at_chance == ["none"] and "unregularized, the model memorizes them" in verdict_warnings.chance_warning(x)


def test_a_real_but_negligible_difference_is_not_the_best_arm():
    """L1 better than none by 0.7 points, every seed alike, with a ROPE of one point: its whole CI
    lies inside the ROPE. In a family of 16 comparisons the Holm-corrected equivalence test cannot
    say so, the t-test can: the verdict stays "better", qualified as negligible, and L1 is not the
    dataset's answer (it would be, and then stop being, as unrelated datasets came and went)."""
    import numpy as np

    rng = np.random.default_rng(3)
    seeds = range(10)
    spread = [0.3, -0.4, 0.1, 0.5, -0.2, 0.0, 0.4, -0.3, 0.2, -0.6]
    results = []
    for i in range(4):
        none = {s: 0.90 + 0.01 * rng.normal() for s in seeds}
        values = {"none": none, **{arm: {s: none[s] + 0.02 * rng.normal() for s in seeds}
                                   for arm in ("dropout", "l1", "l2", "dropout_l2")}}
        if i == 0:
            values["l1"] = {s: none[s] + 0.007 + 0.009 * spread[s] for s in seeds}
        results.append(verdicts.DatasetResults(f"d{i}", "classification", values))
    first = verdicts.decide_study(results)[0]
    p = first.paired["l1"]
    assert p.verdict == "better" and p.negligible and -p.rope < p.ci_low < p.ci_high < p.rope
    assert p.p_tost_holm >= stats.ALPHA   # the equivalence test alone cannot tell, in this family
    assert "l1" not in first.winners
    assert "L1 better than none by less than the ROPE (negligible)" in verdict_words.headline(first)
    assert verdict_words.headline(first).startswith("d0: no arm is better than none by more than the ROPE")
    assert verdict_words.sentence("l1", p, first.metric).startswith("L1: better by less than the ROPE, +0.7 pt")
    assert verdict_record.verdict_tags(first)["verdict.l1.negligible"] == "yes"
    assert verdict_record.verdict_record(first)["arms"]["l1"]["primary"]["negligible"] is True


def test_differences_are_written_in_the_metrics_own_direction_and_units():
    """Shares in points, arm minus none; a lower-is-better metric's oriented difference (positive =
    better) is written back as arm minus none (negative = better); no "-0.0" anywhere."""
    p = stats.Paired(n=5, mean_diff=0.012, ci_low=0.004, ci_high=0.020, p_t=0.01, p_wilcoxon=0.06,
                     effect_size=1.0, min_p_wilcoxon=0.06)
    assert metric_numbers.amount(p.mean_diff, "accuracy") == "+1.2 pt"
    assert metric_numbers.interval(p, "accuracy") == " [0.4, 2.0]"
    assert metric_numbers.amount(p.mean_diff, "mse") == "-0.0120 MSE"   # 3 significant digits, trailing zeros kept
    assert metric_numbers.interval(p, "mse") == " [-0.0200, -0.00400]"
    tiny = dataclasses.replace(p, mean_diff=-0.0004, ci_low=-0.0004, ci_high=0.0)
    assert metric_numbers.amount(tiny.mean_diff, "accuracy") == "0.0 pt"
    # an end that rounds to zero keeps its side: "[0.0, 3.5]" hid that the interval holds zero
    assert metric_numbers.interval(tiny, "accuracy") == " [-0.04, 0.0]"
    assert metric_numbers.interval(dataclasses.replace(p, ci_low=-0.0004, ci_high=0.035), "accuracy") == " [-0.04, 3.5]"
    assert metric_numbers.interval(dataclasses.replace(p, ci_low=1e-19, ci_high=0.035), "accuracy") == " [0.0, 3.5]"
    assert metric_numbers.amount(0.0, "mse") == "0 MSE" and metric_numbers.rope_text(0.01, "accuracy") == "1.0 pt"


def test_in_short_answers_for_a_reader_who_is_not_a_statistician():
    """A few plain sentences: where an arm helped (none's mean to the arm's, in the metric's
    units), where one made things worse, where nothing mattered, what is undecided, and where
    nothing was learned."""
    rng = np.random.default_rng(7)
    helped = _values(rng, {"none": 0.0, "l2": 0.03, "dropout": -0.03}, 0.002)
    quiet = _values(rng, {"none": 0.0, "l2": 0.0005}, 0.002)
    mse = {arm: {s: 1.0 - x for s, x in by_seed.items()} for arm, by_seed in _values(rng, {"none": 0.0, "l2": 0.1}, 0.002).items()}
    open_ = _values(rng, {"none": 0.0, "l2": 0.02}, 0.03, seeds=4)
    nothing = {arm: {s: 0.5 for s in range(4)} for arm in ("none", "l2")}
    hurt = _values(rng, {"none": 0.0, "l1": -0.05}, 0.002)
    one_seed = {"none": {0: 0.9}, "l2": {0: 0.95}}
    results = [verdicts.DatasetResults("digits", "classification", helped),
               verdicts.DatasetResults("wine", "classification", quiet),
               verdicts.DatasetResults("linear", "regression", mse, rope_setting=0.01),
               verdicts.DatasetResults("pima", "classification", open_),
               verdicts.DatasetResults("noise", "classification", nothing, chance=0.5, n_test=200),
               verdicts.DatasetResults("iris", "classification", hurt),
               verdicts.DatasetResults("tiny", "classification", one_seed)]
    decided = verdicts.decide_study(results)
    means = short_answer.mean_values(results)
    short = short_answer.in_short(decided, means)
    base, l2, drop = (100 * means["digits"][a] for a in ("none", "l2", "dropout"))
    assert short[0] == f"On digits, L2 helped: test accuracy {base:.1f}% → {l2:.1f}%."
    # the same dataset's next sentence does not name it again
    assert short[1] == f"Dropout made it worse: test accuracy {base:.1f}% → {drop:.1f}%."
    before, after = means["linear"]["none"], means["linear"]["l2"]
    assert short[2] == (f"On linear, L2 helped: test MSE {before:#.3g} → {after:#.3g} "
                        f"({abs(after / before - 1):.0%} lower).")
    # an undecided arm ahead of none by more than the ROPE is named as leaning better, not yet decided
    lead, ahead = (100 * means["pima"][a] for a in ("none", "l2"))
    assert decided[3].paired["l2"].verdict == "undecided" and ahead - lead > 1
    assert short[3] == f"On pima, L2 leans better so far, not yet decided: test accuracy {lead:.1f}% → {ahead:.1f}%."
    # a dataset where one arm hurt is not one where "nothing mattered", and it says so in one sentence
    assert short[4].startswith("On iris, L1 made it worse: test accuracy ") and short[4].endswith("; no regularizer helped.")
    assert short[5:] == [
        "On wine, no regularizer made a difference that matters (beyond the study's ROPE).",
        "On tiny, there are too few seeds to compare the arms (at least 2; 6 or more let the Wilcoxon test check "
        "the t-test).",
        "On noise, the models learned little or nothing, so there is no answer about regularization there.",
        "1 comparison is still undecided: more seeds could decide it (each comparison says how many, and how "
        "likely)."]
    # every arm perfect (a leak); an arm at chance while none learned; an undecided comparison out of reach
    perfect = {arm: {s: 1.0 for s in range(5)} for arm in ("none", "l2")}
    weak = {"none": {s: 0.8 + 0.01 * (s % 2) for s in range(5)}, "dropout": {s: 0.5 for s in range(5)}}
    far = _values(rng, {"none": 0.0, "l2": 0.0}, 0.05, seeds=5)
    more = [verdicts.DatasetResults("leak", "classification", perfect, n_test=200),
            verdicts.DatasetResults("weak", "classification", weak, chance=0.5, n_test=200),
            verdicts.DatasetResults("far", "classification", far)]
    decided = verdicts.decide_study(more)
    assert decided[2].paired["l2"].verdict == "undecided" and decided[2].paired["l2"].seeds_needed > 100
    # perfect everywhere: undecided (one test row's step keeps the CI open), but more seeds cannot tell
    # them apart, so none are advised
    [few] = verdicts.decide_study([verdicts.DatasetResults("leak", "classification", {
        arm: {s: 1.0 for s in range(4)} for arm in ("none", "dropout", "l1", "l2", "dropout_l2")}, n_test=175)])
    leak = few.paired["l2"]
    assert leak.verdict == "undecided" and not leak.seeds_needed and "seeds would" not in verdict_words.sentence("l2", leak, "accuracy")
    assert verdict_warnings.chance_warning(decided[0]).startswith(
        "Every arm scored a perfect test accuracy on every seed: this test split cannot tell the regularizers apart.")
    assert verdict_warnings.chance_warning(decided[0]).endswith("a finer metric (log_loss for classification) would tell "
                                                             "them apart")
    assert short_answer.in_short(decided, short_answer.mean_values(more)) == [
        "On weak, dropout made it worse: test accuracy 80.4% → 50.0%; no regularizer helped.",
        "Dropout scored no better than always predicting the majority class (see the warning).",
        "On far, no regularizer has helped yet.",
        "On leak, every arm was perfect on every seed, so nothing tells them apart (a feature may give the target away).",
        "1 comparison is undecided beyond what a practical number of seeds can settle (more than 100; each "
        "comparison says why)."]
    # the table's reading named the leak: the warning and In short name the column, and a dataset whose
    # arms are not all perfect says first that its verdicts are about a model that reads the answer
    leaky = verdicts.decide_study([
        verdicts.DatasetResults("leak", "classification", perfect, n_test=200, leaky_columns=["Score"]),
        verdicts.DatasetResults("far", "classification", far, leaky_columns=["score", "outcome_code"])])
    assert verdict_warnings.chance_warning(leaky[0]).endswith(
        "cannot tell the regularizers apart. Column 'Score' gives the target away (see the data warnings): drop it "
        "under preprocess.drop_columns to compare the regularizers on the task itself")
    assert short_answer.in_short(leaky, short_answer.mean_values(more)) == [
        "On leak, every arm was perfect on every seed, so nothing tells them apart: column 'Score' gives the target "
        "away (see the data warnings).",
        "On far, columns 'score' and 'outcome_code' may give the target away (see the data warnings); if so, what "
        "follows compares regularizers on a model that can read the answer: drop them (preprocess.drop_columns) for an "
        "answer about the task itself.",
        "No regularizer has helped yet.",
        "1 comparison is undecided beyond what a practical number of seeds can settle (more than 100; each "
        "comparison says why)."]
    # an arm with one seed beside others with four: no estimate to point to, so not among the undecided
    partly = {**_values(rng, {"none": 0.0, "l2": 0.02}, 0.03, seeds=4), "dropout": {0: 0.9}}
    decided = verdicts.decide_study([verdicts.DatasetResults("partly", "classification", partly)])
    assert [decided[0].paired[a].verdict for a in ("l2", "dropout")] == ["undecided", "not enough seeds"]
    # the headline of a dataset with open comparisons is not a negative result
    assert verdict_words.headline(decided[0]).startswith("partly: no arm is better than none so far; L2 undecided")
    # what is settled beside open comparisons is said
    settled = {**partly, "l1": {s: x + 0.0003 * (s % 2) for s, x in partly["none"].items()}}
    [both] = verdicts.decide_study([verdicts.DatasetResults("partly", "classification", settled)])
    assert both.paired["l1"].verdict == "equivalent"
    assert short_answer.in_short([both], {})[0] == ("On partly, L1 made no difference that matters; no other "
                                                      "regularizer has helped yet.")
    assert short_answer.in_short(decided, {})[1:] == [
        "1 comparison could not be tested: fewer than 2 seeds with a result on both sides.",
        "1 comparison is undecided beyond what a practical number of seeds can settle (more than 100; each "
        "comparison says why)."]
    # a seed that failed on L2's side only (none scored 70% there): the two means In short gives are
    # over the seeds both have, so they differ by the verdict's +3.0 pt, not by the 5.0 pt of all seeds' means
    gaps = {"none": {0: 0.70, **{s: 0.90 + 0.001 * (s % 2) for s in range(1, 9)}},
            "l2": {s: 0.93 + 0.001 * (s % 2) for s in range(1, 9)}}
    results = [verdicts.DatasetResults("gaps", "classification", gaps)]
    [v] = verdicts.decide_study(results)
    assert v.paired["l2"].verdict == "better" and round(100 * v.paired["l2"].mean_diff, 1) == 3.0
    assert short_answer.in_short([v], short_answer.mean_values(results))[0] == "On gaps, L2 helped: test accuracy 90.1% → 93.1%."


def test_a_path_over_l2_modes_names_no_strongest_point():
    """"Strongest within one SE" orders strengths: a path over l2_mode alone has none to order,
    and its lines do not pick a 'strongest' mode; a path over strengths does."""
    def point(test, val):
        return {s: {"test": test + 0.01 * s, "val": val + 0.01 * s, "gap": 0.02} for s in range(3)}

    modes = {"l2": {"l2_mode=penalty": point(0.90, 0.91), "l2_mode=decoupled": point(0.89, 0.90)}}
    strengths = {"l2": {"l2=0.001": point(0.90, 0.91), "l2=0.01": point(0.89, 0.905)}}
    for paths, named in ((modes, False), (strengths, True)):
        d = verdicts.DatasetResults("p", "classification", {"none": {s: 0.9 for s in range(3)}}, paths=paths,
                                    selected={"l2": next(iter(paths["l2"]))})
        head = path_words.path_lines(d)[0]
        assert head.startswith("    L2 path: ") and ("strongest within one SE" in head) is named
    # penalty and weight_decay train alike: a tie on every seed, named as one
    alike = {"l2": {"l2_mode=penalty": point(0.90, 0.91), "l2_mode=weight_decay": point(0.90, 0.91)}}
    d = verdicts.DatasetResults("p", "classification", {"none": {s: 0.9 for s in range(3)}}, paths=alike,
                                selected={"l2": "l2_mode=penalty"})
    assert ("l2_mode=penalty selected on validation (its test values are the arm's above); tied with "
            "l2_mode=weight_decay on every seed (the same validation, test and training values)") in path_words.path_lines(d)[0]
    # the same accuracy on a coarse split, but another training fit (gap): not tied, not "alike"
    refit = {s: {**x, "gap": 0.03} for s, x in alike["l2"]["l2_mode=weight_decay"].items()}
    apart = {"l2": {**alike["l2"], "l2_mode=weight_decay": refit}}
    assert "tied" not in path_words.path_lines(dataclasses.replace(d, paths=apart))[0]
    assert "tied" not in path_words.path_lines(verdicts.DatasetResults(
        "p", "classification", {"none": {s: 0.9 for s in range(3)}}, paths=modes, selected={"l2": "l2_mode=penalty"}))[0]
    # under plain SGD penalty and decoupled train alike but for float rounding (1e-8 apart): the
    # list's order picks, not the noise, and they are tied; the modes head to head are identical
    noisy = {s: {k: x + 1e-8 for k, x in v.items()} for s, v in alike["l2"]["l2_mode=penalty"].items()}
    sgd = {"l2": {"l2_mode=penalty": alike["l2"]["l2_mode=penalty"], "l2_mode=decoupled": noisy}}
    assert path_points.select_variant(sgd["l2"], True) == "l2_mode=penalty"
    assert path_points.select_variant(modes["l2"], False) == "l2_mode=decoupled"   # a real difference still counts
    d = verdicts.DatasetResults("p", "classification", {"none": {s: 0.9 for s in range(3)}}, paths=sgd,
                                selected={"l2": path_points.select_variant(sgd["l2"], True)})
    assert "tied with l2_mode=decoupled on every seed" in path_words.path_lines(d)[0]
    [h] = head_to_head.modes_head_to_head({v: {s: x["test"] for s, x in by.items()} for v, by in sgd["l2"].items()},
                               [("l2_mode=penalty", "l2_mode=decoupled")], True, 0.01, 0.001, set())
    assert h.identical and h.paired.mean_diff == 0   # tested as the equal numbers they are, not on 1e-8 noise
    # l2 x l2_mode under Adam: penalty and weight_decay train alike at every strength; "N of M points
    # within one SE" counts each pair once
    grid = {f"l2={l2},l2_mode={mode}": point(0.90 + (mode == "decoupled") * 0.001 - 2 * l2, 0.91 - 2 * l2)
            for l2 in (0.001, 0.002) for mode in ("penalty", "weight_decay", "decoupled")}
    d = verdicts.DatasetResults("p", "classification", {"none": {s: 0.9 for s in range(3)}}, paths={"l2": grid},
                                selected={"l2": path_points.select_variant(grid, True)})
    path = path_summary.summarize_path(d, "l2")
    assert path.copies == ["l2=0.001,l2_mode=weight_decay", "l2=0.002,l2_mode=weight_decay"]
    assert "; 4 of 4 distinct points are within one SE of it" in path_words.path_lines(d)[0]
    assert verdicts.decide_study([d])[0].flat_paths == {"l2": 4}   # the note under the answer counts alike


def test_penalty_against_weight_decay_is_answered_head_to_head():
    """Tutorial 2's question, "the L2 penalty in the loss or the optimizer's weight_decay?", as a
    path over l2_mode: its modes against each other at the same strength, paired by seed with Holm
    over the path's pairs. Modes that train alike say so (the same numbers on every seed); one
    that is clearly better is named, with its change, in the console, the report's rows and In
    short. A path over l2 and l2_mode pairs modes at equal l2 only."""
    seeds = range(8)
    wiggle = [0.004, -0.003, 0.001, 0.0, -0.002, 0.003, -0.001, 0.002]

    def point(base, spread=1.0):
        return {s: {"test": base + spread * wiggle[s], "val": base + spread * wiggle[s], "gap": 0.02} for s in seeds}

    paths = {"l2": {"l2_mode=penalty": point(0.90), "l2_mode=weight_decay": point(0.90),
                    "l2_mode=decoupled": point(0.93, 1.2)}}
    d = verdicts.DatasetResults("digits", "classification", {"none": {s: 0.9 + wiggle[s] for s in seeds},
                                                              "l2": {s: x["test"] for s, x in paths["l2"]["l2_mode=decoupled"].items()}},
                                paths=paths, selected={"l2": "l2_mode=decoupled"})
    [v] = verdicts.decide_study([d])
    pairs = {(h.first, h.second): h for h in v.modes["l2"]}
    assert set(pairs) == {("l2_mode=penalty", "l2_mode=weight_decay"), ("l2_mode=penalty", "l2_mode=decoupled"),
                          ("l2_mode=weight_decay", "l2_mode=decoupled")}
    alike = pairs[("l2_mode=penalty", "l2_mode=weight_decay")]
    assert alike.identical and not pairs[("l2_mode=penalty", "l2_mode=decoupled")].identical
    assert pairs[("l2_mode=penalty", "l2_mode=decoupled")].favours("l2_mode=decoupled")
    assert pairs[("l2_mode=penalty", "l2_mode=decoupled")].paired.family == 3   # Holm over the path's pairs
    lines = [line for line in path_words.path_lines(d, v) if line.startswith("      l2_mode ")]
    assert lines[0] == ("      l2_mode penalty − weight_decay: the same numbers on every seed: they train "
                        "alike (8 seeds)"), lines
    assert lines[1].startswith("      l2_mode penalty − decoupled: decoupled better, -3.0 pt [") and "Holm p " in lines[1]
    rows = path_words.mode_rows(v, "l2")
    assert [r["pair"] for r in rows] == ["penalty − weight_decay", "penalty − decoupled", "weight_decay − decoupled"]
    assert [r["said"] for r in rows][1:] == ["decoupled better"] * 2
    short = short_answer.in_short([v], short_answer.mean_values([d]))
    modes = ("L2 as a penalty in the loss or the optimizer's decay (l2_mode): penalty and weight_decay gave "
             "the same numbers on every seed (they train alike); decoupled beat penalty and weight_decay (test accuracy "
             "90.1% → 93.1%).")
    assert modes in short, short
    # whatever order the study file lists the modes in
    for order in (["l2_mode=decoupled", "l2_mode=penalty", "l2_mode=weight_decay"],
                  ["l2_mode=weight_decay", "l2_mode=decoupled", "l2_mode=penalty"]):
        shuffled = verdicts.DatasetResults("digits", "classification", d.values, paths={"l2": {p: paths["l2"][p] for p in order}},
                                           selected=d.selected)
        [w] = verdicts.decide_study([shuffled])
        assert modes in short_answer.in_short([w], short_answer.mean_values([shuffled])), order
    # decoupled "beat" the others only by staying at none's level (too weak to act) while they fell
    # below it: said beside the change, so that "beat" does not read as decoupled helping
    weak = {"l2": {**paths["l2"], "l2_mode=decoupled": point(0.90, 1.2), "l2_mode=penalty": point(0.87),
                   "l2_mode=weight_decay": point(0.87)}}
    decoupled = {s: x["test"] for s, x in weak["l2"]["l2_mode=decoupled"].items()}
    fell = dataclasses.replace(d, paths=weak, values={**d.values, "l2": decoupled})
    [u] = verdicts.decide_study([fell])
    said = " ".join(short_answer.in_short([u], short_answer.mean_values([fell])))
    assert re.search(r"decoupled beat penalty and weight_decay \(test accuracy 87\.1% → 90\.1%; none scores 90\.1%: "
                     r"decoupled is about none's level there, penalty and weight_decay below it\)", said), said
    # one seed of a mode: no pair to compare, and nothing said (not an empty sentence)
    few = verdicts.DatasetResults("digits", "classification", d.values, selected=d.selected, paths={"l2": {
        "l2_mode=penalty": paths["l2"]["l2_mode=penalty"], "l2_mode=decoupled": {0: paths["l2"]["l2_mode=decoupled"][0]}}})
    [w] = verdicts.decide_study([few])
    assert w.modes["l2"] == [] and not any("optimizer's decay" in s for s in short_answer.in_short([w], short_answer.mean_values([few])))
    # both modes no better than a constant prediction (chance 0.95): nothing to compare
    low = verdicts.DatasetResults("digits", "classification", d.values, paths=paths, selected=d.selected, chance=0.95)
    [w] = verdicts.decide_study([low])
    assert all(h.paired.verdict == stats.AT_CHANCE for h in w.modes["l2"])
    assert path_words.mode_rows(w, "l2")[1]["said"].startswith("both no better than a constant prediction")
    assert rows[0]["diff"] == "0 on every seed" and rows[1]["diff"].startswith("-3.0 pt [")
    # over l2 and l2_mode: the modes are paired at equal strength, not across strengths, and what
    # holds at both strengths is said once
    both = {f"l2={l2},l2_mode={mode}": point(0.90 if mode != "decoupled" else 0.9001)
            for l2 in ("0.001", "0.01") for mode in ("penalty", "weight_decay", "decoupled")}
    d = verdicts.DatasetResults("digits", "classification", {"none": {s: 0.9 + wiggle[s] for s in seeds},
                                                              "l2": {s: x["test"] for s, x in both["l2=0.001,l2_mode=penalty"].items()}},
                                paths={"l2": both}, selected={"l2": "l2=0.001,l2_mode=penalty"})
    [v] = verdicts.decide_study([d])
    assert len(v.modes["l2"]) == 6 and [h for h in v.modes["l2"] if h.identical] == [v.modes["l2"][0], v.modes["l2"][3]]
    # the selected point trained as none did: said first, so that "practically the same" is not read as L2 of no use
    assert short_answer.in_short([v], short_answer.mean_values([d]))[:2] == [
        "On digits, L2 (l2=0.001,l2_mode=penalty) scored exactly as none did (the same test accuracy on every seed): "
        "too weak at that strength to change the test predictions that count, which says nothing of it at a strength "
        "that does; the report's path shows its other strengths.",
        "L2 as a penalty in the loss or the optimizer's decay (l2_mode): penalty and weight_decay gave the "
        "same numbers on every seed at l2=0.001 and l2=0.01 "
        "(they train alike); penalty and weight_decay did practically the same as decoupled at l2=0.001 and l2=0.01."]
    two = ["l2=0.001,l2_mode=penalty", "l2=0.001,l2_mode=decoupled", "l2=0.01,l2_mode=penalty", "l2=0.01,l2_mode=decoupled"]
    assert path_points.mode_pairs(two) == [(two[0], two[1]), (two[2], two[3])]
    assert path_points.mode_name(two[1]) == ("decoupled", "l2=0.001")
    assert path_points.mode_pairs(["l2=0.001", "l2=0.01"]) == []


def test_an_arm_at_chance_on_a_path_is_told_what_its_path_shows():
    """L1 learned nothing while none did, at the point its path selected: "extend it toward weaker
    strengths" only when that point is the path's weakest; a point above weaker ones that did no
    better says the strengths tried all hold the model back; a path over l2_mode alone has no
    weaker point to extend toward."""
    seeds = range(6)
    none = {s: 0.8 + 0.01 * (s % 2) for s in seeds}

    def point(test):
        return {s: {"test": test, "val": test + 0.001 * s, "gap": 0.02} for s in seeds}

    def warning(arm, paths, chosen):
        d = verdicts.DatasetResults("t", "classification", {"none": none, arm: {s: 0.5 for s in seeds}}, chance=0.5,
                                    metric="balanced_accuracy", paths={arm: paths}, selected={arm: chosen})
        [v] = verdicts.decide_study([d])
        assert v.at_chance == [arm] and v.paired[arm].verdict == "worse"
        return verdict_warnings.chance_warning(v)

    strengths = {"l1=0.1": point(0.5), "l1=0.01": point(0.5), "l1=1": point(0.5)}   # listed out of order
    weakest = warning("l1", strengths, "l1=0.01")
    assert weakest.startswith("The arm L1 (l1=0.01) scored no better than always predicting")
    assert "likely too strong, even at the weakest strength tried on the path: extend it toward weaker ones" in weakest
    inside = warning("l1", strengths, "l1=0.1")
    assert "at its path's best strength on validation (weaker strengths did no better there)" in inside and "extend" not in inside
    modes = warning("l2", {"l2_mode=penalty": point(0.5), "l2_mode=decoupled": point(0.5)}, "l2_mode=penalty")
    assert "weaker" not in modes and "(a smaller strength, or a path over strengths, would show it)" in modes


def test_an_arm_decided_at_an_earlier_look_says_on_how_many_seeds_its_other_outcomes_are():
    """Adaptive seeds: L2 is clearly better at the first look (6 seeds), L1 is not, so the dataset
    goes on to 12 seeds. L2's verdict is the first look's ("on 6 seeds"); its secondary outcomes
    are judged on all 12, and its line says so instead of mixing the two silently."""
    rng = np.random.default_rng(3)
    values = _values(rng, {"none": 0.0, "l1": 0.004, "l2": 0.05}, 0.004, seeds=12)
    gaps = {arm: {s: (0.02 if arm == "l2" else 0.08) + 0.001 * (s % 3) for s in range(12)} for arm in values}
    [v] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", values,
                                                         secondary={"gap_metric": gaps})], list(range(12)), [6, 12])
    assert v.paired["l2"].verdict == "better" and v.paired["l2"].n == 6 and v.seeds_used == 12
    said = verdict_words.secondary_sentences(v, "l2")
    assert said[0].startswith("on all 12 seeds: train-test gap narrower by")
    assert v.paired["l1"].n == 12 and not verdict_words.secondary_sentences(v, "l1")[0].startswith("on all")


def test_a_lone_comparison_is_not_called_holm_adjusted():
    """One arm on one dataset: "one comparison, so no Holm correction", and its p is said plainly;
    with two arms the p is Holm's."""
    rng = np.random.default_rng(5)
    one = _values(rng, {"none": 0.0, "l2": 0.03}, 0.002)
    [v] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", one)])
    said = verdict_words.sentence("l2", v.paired["l2"], v.metric)
    assert "(p " in said and "Holm" not in said
    two = _values(rng, {"none": 0.0, "l1": 0.03, "l2": 0.03}, 0.002)
    [w] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", two)])
    assert "(Holm p " in verdict_words.sentence("l2", w.paired["l2"], w.metric)


def test_the_statistics_audit_cases():
    """What an independent recomputation (scipy, statsmodels) found, each now as the report's own
    words say: seeds estimated at alpha / every comparison Holm counted (decided ones too) and
    always more than ran; "practically the same" never beside a 95% CI that crosses the ROPE; the
    same difference on every seed in a metric without steps is a sign test, not certainty; a seed
    without a value is no pair; a negligible secondary difference says so."""
    from statsmodels.stats.power import TTestPower

    seeds = list(range(10))
    rng = np.random.default_rng(0)
    datasets = []
    for name in "ABCD":   # 15 comparisons equivalent by construction, one real effect with a wide spread
        none = 1.0 + 0.05 * rng.standard_normal(10)
        values = {"none": dict(zip(seeds, none))}
        for arm in ("dropout", "l1", "l2", "dropout_l2"):
            x = none + 0.001 * rng.standard_normal(10)
            if name == "D" and arm == "l2":
                x = none - (0.08 + 0.066 * rng.standard_normal(10))
            values[arm] = dict(zip(seeds, x))
        datasets.append(verdicts.DatasetResults(name, "regression", values))
    out = verdicts.decide_study(datasets)
    p = out[3].paired["l2"]
    tested = sum(1 for v in out for q in v.paired.values() if not math.isnan(q.p_t))
    assert tested == 16 and sum(q.verdict == "undecided" for v in out for q in v.paired.values()) < 16
    if p.verdict == "undecided":
        expected = math.ceil(TTestPower().solve_power(abs(p.mean_diff) / p.sd, alpha=0.05 / 16, power=0.8))
        assert p.seeds_needed == max(expected, p.n + 1) and p.seeds_needed > p.n

    # one comparison, TOST p 0.036 but the 95% CI [-0.05, 1.05] pt crosses the ±1 pt ROPE
    base = np.array([0.90, 0.91, 0.92, 0.905, 0.915, 0.90, 0.93, 0.91, 0.92, 0.925])
    d = np.array([0.004, -0.006, 0.016, 0.010, -0.002, 0.012, 0.002, 0.014, -0.004, 0.004])   # +0.5 pt
    q = stats.paired_test(base + d, base, rope=0.01)
    assert q.ci_high > 0.01 and q.p_tost < 0.05
    stats.decide([q])
    assert q.verdict == "undecided"
    # two seeds, a CI twice the ROPE: not "practically the same" either
    two = stats.paired_test([0.9, 0.91], [0.9, 0.91], rope=0.01, resolution=1 / 449)
    stats.decide([two])
    assert two.verdict == "undecided"

    # ROC AUC +2 pt on both of 2 seeds: float noise is no spread; a sign test of 2 agreeing seeds is 0.5
    auc = stats.paired_test([0.93, 0.95], [0.91, 0.93], rope=0.01)
    assert auc.sd == 0 and auc.p_t == 0.5 and auc.p_tost == 1.0
    stats.decide([auc])
    assert auc.verdict == "undecided"
    assert stats.paired_test([0.93] * 6, [0.91] * 6).p_t == 2 ** -5   # six agreeing seeds are evidence

    # a seed without a value (ROC AUC on a one-class split) is left out, not a NaN that spoils the test
    gap = stats.paired_test([0.9, math.nan, 0.92, 0.95], [0.88, 0.9, 0.9, 0.91])
    assert gap.n == 3 and math.isfinite(gap.p_t)

    # a secondary difference whose whole CI is inside its ROPE says so, as the primary does
    from pipeline.verdicts import SECONDARY

    small = stats.paired_test(np.array([0.02, 0.021, 0.019, 0.02, 0.022]), np.zeros(5), rope=0.03)
    small.verdict = "better"
    assert small.negligible
    assert verdict_words.secondary_sentence(SECONDARY[0], small, "accuracy").endswith("(by less than the ROPE)")


def test_a_tie_for_the_majority_class_names_no_majority():
    """A 12/12 training split has no majority class: argmax took the first label, so the constant
    prediction scored the test share of whichever class was named first (0.7 or, labels swapped,
    0.3), and a model scoring 0.7 was "at chance" on one file and learning on the same data with
    its labels swapped. The tied choices are averaged: 0.5 both ways."""
    from pipeline.task import constant_prediction_scores

    train, test = np.array([0] * 12 + [1] * 12), np.array([0] * 7 + [1] * 3)
    named_first = constant_prediction_scores("classification", 2, train, test)
    swapped = constant_prediction_scores("classification", 2, 1 - train, 1 - test)
    assert named_first == swapped and named_first["accuracy"] == 0.5 and named_first["roc_auc"] == 0.5
    # a real majority is still the majority: 10 of 18 training rows are class 0, 7 of 10 test rows
    three = constant_prediction_scores("classification", 3, np.array([0] * 10 + [1] * 5 + [2] * 3), test)
    assert three["accuracy"] == 0.7 and three["balanced_accuracy"] == 0.5


def test_a_gap_under_a_perfect_training_score_is_not_new_evidence():
    """Training accuracy 1.0 for every arm on every seed: the gap is 1 - test accuracy, so its
    verdict and "closes N% of the gap" restated the test verdict as if it were a second finding.
    The gap line says it mirrors the test metric, and no share of the gap is claimed."""
    rng = np.random.default_rng(2)
    acc = _values(rng, {"none": 0.0, "l2": 0.03}, 0.002, seeds=8)
    gaps = {arm: {s: 1.0 - x for s, x in by_seed.items()} for arm, by_seed in acc.items()}
    [v] = verdicts.decide_study([verdicts.DatasetResults("digits", "classification", acc,
                                                         secondary={"gap_metric": gaps})])
    assert v.train_perfect and v.paired["l2"].verdict == "better" and not v.gap_closed
    assert verdict_words.secondary_sentences(v, "l2")[0] == ("train-test gap mirrors the test accuracy (training "
                                                             "accuracy perfect for every arm)")
    # one seed short of perfect training: the gap is a finding of its own again
    gaps["none"][0] -= 0.01
    [w] = verdicts.decide_study([verdicts.DatasetResults("digits", "classification", acc, secondary={"gap_metric": gaps})])
    assert not w.train_perfect and verdict_words.secondary_sentences(w, "l2")[0].startswith("train-test gap narrower by")


def test_a_path_whose_best_point_is_at_an_end_says_to_extend_it():
    """L1's point selected on validation was the strongest tried (1e-3): the best may lie beyond the
    grid, which the path's line now says, whatever order the file listed the strengths in."""
    def point(val):
        return {s: {"test": val, "val": val + 0.001 * s, "gap": 0.02} for s in range(3)}

    for order in (["l1=1e-05", "l1=0.0001", "l1=0.001"], ["l1=0.001", "l1=0.0001", "l1=1e-05"]):
        vals = {"l1=1e-05": 0.90, "l1=0.0001": 0.91, "l1=0.001": 0.92}
        d = verdicts.DatasetResults("p", "classification", {"none": {s: 0.9 for s in range(3)}},
                                    paths={"l1": {v: point(vals[v]) for v in order}}, selected={"l1": "l1=0.001"})
        assert ("it is the strongest tried and the next one is worse on validation by more than one SE: the best may lie beyond, "
                "extend the path") in path_words.path_lines(d)[0]
    middle = verdicts.DatasetResults("p", "classification", {"none": {s: 0.9 for s in range(3)}},
                                     paths={"l1": {v: point(0.9) for v in order}}, selected={"l1": "l1=0.0001"})
    assert "extend the path" not in path_words.path_lines(middle)[0]


def test_the_one_se_choice_is_the_strongest_by_value_whatever_order_the_file_lists():
    """The audit's case: L1's validation means 0.9215 / 0.9207 / 0.9200 / 0.9200 from 1e-5 to
    1e-3, the best's SE 0.003. Every point is within one SE: the strongest, 1e-3, is the one-SE
    choice in either order of the list (it was the weakest, 1e-5, with the list reversed), the
    weakest selected gets no "extend the path" (a flat end points nowhere), and the line says
    validation barely tells the points apart. Each point carries its paired difference to none."""
    means = {"l1=1e-05": 0.92148, "l1=0.0001": 0.92074, "l1=0.0003": 0.92, "l1=0.001": 0.92}
    spread = [-0.0066, -0.0033, 0.0, 0.0033, 0.0066]   # SE 0.00233 over 5 seeds

    def point(v):
        return {s: {"test": 0.93 + 0.002 * s + (0.008 if v == "l1=0.001" else 0.0), "val": means[v] + spread[s],
                    "gap": 0.05} for s in range(5)}

    none = {s: 0.93 + 0.002 * s for s in range(5)}
    for order in (list(means), list(reversed(means))):
        d = verdicts.DatasetResults("digits", "classification", {"none": none}, paths={"l1": {v: point(v) for v in order}},
                                    selected={"l1": "l1=1e-05"}, n_test=449)
        path = path_summary.summarize_path(d, "l1")
        assert [pt.variant for pt in path.points] == ["l1=1e-05", "l1=0.0001", "l1=0.0003", "l1=0.001"]
        assert path.one_se == "l1=0.001" and path.edge == "" and all(pt.within_se for pt in path.points)
        head, *rows = path_words.path_lines(d)
        assert "extend the path" not in head and "4 of 4 points are within one SE of it on validation" in head
        assert head.endswith("strongest within one SE: l1=0.001")
        # 1e-3 is +0.8 pt on every seed, paired: its line says so even though the CIs of the two overlap
        assert re.search(r"l1=0\.001 .* vs none \+0\.8 pt \[0\.\d, 1\.\d\]", rows[-1]), rows[-1]
        assert re.search(r"val 0\.9215 ±0\.0023", rows[0]), rows[0]
    # a product path (dropout x l2) has no "strongest": no one-SE choice is claimed
    product = {f"dropout={p},l2={w}": point("l1=0.0003") for p in (0.1, 0.5) for w in (0.001, 0.01)}
    d = verdicts.DatasetResults("digits", "classification", {"none": none}, paths={"dropout_l2": product},
                                selected={"dropout_l2": "dropout=0.1,l2=0.001"})
    assert path_summary.summarize_path(d, "dropout_l2").one_se == "" and "strongest" not in path_words.path_lines(d)[0]


def test_a_constant_difference_gets_its_sign_test_seeds_and_noise_is_no_difference():
    """The same +2 pt on both of 2 seeds (a metric without steps) is undecided with the seeds a
    sign test needs (6 at alpha 0.05: 2 / 2^6 < 0.05); differences that are float noise around
    zero are no difference at all, not a sign test's agreement."""
    p = stats.paired_test([0.93, 0.95], [0.91, 0.93], rope=0.01)
    stats.decide([p])
    assert p.verdict == "undecided" and (p.seeds_needed, p.needed_for) == (6, "better")
    noise = stats.paired_test([0.1 + 0.2, 0.7], [0.3, 0.7 + 1.2e-16])   # +5.6e-17 and -1.1e-16
    assert 0.1 + 0.2 != 0.3 and 0.7 + 1.2e-16 != 0.7
    assert noise.mean_diff == 0.0 and noise.p_t == 1.0


def test_one_seed_is_not_enough_seeds_even_where_both_arms_score_below_a_constant():
    """d2l's set with `seeds: 1`: none (0.32) and L2 (0.16) both score worse than predicting the
    training mean (0.019). With one seed there is no CI to tell none's overfitting from not
    learning, so the verdict is "not enough seeds", not a final "at chance" (2 seeds said better)."""
    d = verdicts.DatasetResults("synthetic_highdim", "regression", {"none": {0: 0.32}, "l2": {0: 0.16}},
                                secondary={"gap_metric": {"none": {0: 0.32}, "l2": {0: 0.15}}}, chance=0.019)
    [v] = verdicts.decide_study([d])
    assert v.paired["l2"].verdict == "not enough seeds" and not v.decided
    two = verdicts.DatasetResults("synthetic_highdim", "regression", {"none": {0: 0.32, 1: 0.33}, "l2": {0: 0.16, 1: 0.165}},
                                  secondary={"gap_metric": {"none": {0: 0.32, 1: 0.33}, "l2": {0: 0.15, 1: 0.155}}},
                                  chance=0.019)
    [w] = verdicts.decide_study([two])
    assert w.paired["l2"].verdict != verdicts.AT_CHANCE and w.paired["l2"].mean_diff > 0


def test_a_rope_as_wide_as_none_s_error_is_warned_about():
    """`rope: 5` meant as 5% on an MSE of 0.32: L2 halves the error on every seed and is still
    "practically the same"; the warning says the ROPE is 15x none's mean. A quoted '5' is refused
    at load (test_bad_input), a share such as '5%' gets no warning."""
    jitter = [0.004, -0.003, 0.001, -0.002, 0.0]
    mse = {"none": {s: 0.32 + 0.01 * s for s in range(5)}, "l2": {s: 0.16 + 0.01 * s + jitter[s] for s in range(5)}}
    [wide] = verdicts.decide_study([verdicts.DatasetResults("d2l", "regression", mse, rope_setting=5.0)])
    assert wide.paired["l2"].verdict == "equivalent"
    warned = verdict_warnings.rope_warning(wide)
    assert warned.startswith("The ROPE (±5 MSE) is 15 times none's mean test MSE (0.34)"), warned
    assert any(line == f"    WARNING: {warned}" for line in verdict_words.answer_lines(wide))
    [share] = verdicts.decide_study([verdicts.DatasetResults("d2l", "regression", mse, rope_setting="5%")])
    assert share.paired["l2"].verdict == "better" and verdict_warnings.warnings(share) == []


def test_the_regularizers_against_each_other():
    """"L1 or L2?": both undecided against none (a noisy none), but L2 beats L1 on every seed by
    about 2 points, and dropout and L1 are practically the same; Holm over the dataset's 3 pairs,
    its own family (the arm-vs-none verdicts are untouched)."""
    rng = np.random.default_rng(11)
    base = 0.90 + rng.normal(0, 0.03, 8)   # none: noisy, so nothing beats it clearly
    shared = 0.91 + rng.normal(0, 0.004, 8)
    acc = {"none": dict(enumerate(base)), "dropout": dict(enumerate(shared + rng.normal(0, 0.001, 8))),
           "l1": dict(enumerate(shared)), "l2": dict(enumerate(shared + 0.02 + rng.normal(0, 0.002, 8)))}
    d = verdicts.DatasetResults("digits", "classification", acc)
    [v] = verdicts.decide_study([d])
    before = {arm: p.verdict for arm, p in v.paired.items()}
    assert before["l1"] == before["l2"] == "undecided"
    pairs = {(h.first, h.second): h for h in v.head_to_head}
    assert set(pairs) == {("dropout", "l1"), ("dropout", "l2"), ("l1", "l2")}
    assert all(h.paired.family == 3 for h in pairs.values())
    row = head_to_head.head_to_head_row(pairs[("l1", "l2")], "accuracy")
    assert row["said"] == "L2 better" and row["pair"] == "L1 − L2" and row["diff"].startswith("-1.9 pt [")
    assert head_to_head.head_to_head_row(pairs[("dropout", "l1")], "accuracy")["said"] == "practically the same"
    assert {arm: p.verdict for arm, p in v.paired.items()} == before
    # practically the same, but the pair's own CI is clear of zero (Holm over 3 pairs is not): the
    # row says which arm is ahead and why that is no verdict, or "[0.0, 0.4]" reads as a contradiction
    swing = 0.002 * np.array([1, -1] * 4)
    close = {"dropout": dict(enumerate(shared + 0.002 + swing)), "l1": dict(enumerate(shared)),
             "l2": dict(enumerate(shared + rng.normal(0, 0.05, 8)))}
    h = next(h for h in head_to_head.head_to_head(close, True, rope=0.01, resolution=0.0, at_chance=set())
             if h.second == "l1")
    assert h.paired.verdict == "equivalent" and 0 < h.paired.ci_low and h.paired.p_t_holm >= 0.05
    row = head_to_head.head_to_head_row(h, "accuracy")
    assert (row["said"], row["aside"]) == ("practically the same", "dropout ahead by less than the ROPE, not shown after "
                                                                   "Holm (the CI is this pair's own)")
    assert head_to_head.head_to_head_row(pairs[("dropout", "l1")], "accuracy")["aside"] == ""
    # the same pair alone (no Holm to pass): its t-test shows the difference, which is too small to matter
    [alone] = head_to_head.head_to_head({a: close[a] for a in ("dropout", "l1")}, True, rope=0.01, resolution=0.0,
                                        at_chance=set())
    assert alone.paired.verdict == "equivalent" and alone.paired.p_t_holm < 0.05, alone.paired
    assert head_to_head.head_to_head_row(alone, "accuracy")["aside"] == ("dropout ahead by less than the ROPE: a real "
                                                                         "difference, too small to matter")


def test_an_arm_on_a_path_is_named_with_the_strength_its_verdict_is_about():
    """With a path, the verdict is the selected point's, not the arm's at every strength: the
    headline, the sentence, In short and the MLflow record name it (the parent run's params hold
    the study's default strengths). verdicts.json also gives the difference as the console writes
    it (arm minus none; for MSE the oriented mean_diff has the other sign)."""
    mse = {"none": {s: 0.30 + 0.01 * s for s in range(4)}, "l1": {s: 0.20 + 0.01 * s + 0.002 * (s % 2) for s in range(4)}}
    points = {"l1=1e-05": {s: {"test": mse["l1"][s], "val": 0.2, "gap": 0.01} for s in range(4)},
              "l1=0.001": {s: {"test": 0.25, "val": 0.3, "gap": 0.01} for s in range(4)}}
    secondary = {"sparsity_lt_0.001": {"none": {s: 0.01 + 0.001 * s for s in range(4)}, "l1": {s: 0.14 + 0.002 * s for s in range(4)}},
                 "gap_metric": {"none": {s: 0.05 + 0.001 * s for s in range(4)}, "l1": {s: 0.02 + 0.002 * s for s in range(4)}}}
    d = verdicts.DatasetResults("syn", "regression", mse, paths={"l1": points}, selected={"l1": "l1=1e-05"},
                                secondary=secondary)
    [v] = verdicts.decide_study([d])
    assert v.name("l1") == "L1 (l1=1e-05)" and v.name("none") == "none"
    assert "L1 (l1=1e-05) is better than none" in verdict_words.headline(v)
    assert verdict_words.sentence("l1", v.paired["l1"], v.metric, v.name("l1")).startswith("L1 (l1=1e-05): better, -0.0990 MSE")
    assert short_answer.in_short([v], short_answer.mean_values([d]))[0].startswith("On syn, L1 (l1=1e-05) helped")
    assert verdict_record.verdict_tags(v)["verdict.l1.variant"] == "l1=1e-05"
    record = verdict_record.verdict_record(v)["arms"]["l1"]
    assert record["variant"] == "l1=1e-05" and record["primary"]["mean_diff"] > 0 > record["primary"]["arm_minus_none"]
    # the secondary outcomes' arm minus none in their own terms (it had the primary metric's sign):
    # 13 points sparser, a gap narrower by 0.0285
    assert record["sparsity_lt_0.001"]["arm_minus_none"] == pytest.approx(0.1315)
    assert record["gap_metric"]["arm_minus_none"] == pytest.approx(-0.0285)
    assert record["gap_metric"]["arm_minus_none_ci"][0] < -0.0285 < record["gap_metric"]["arm_minus_none_ci"][1]
    assert "L1 (l1=1e-05): better" in verdict_record.verdict_note(v)
    # the path's rows compare each point with none under the dataset's ROPE too, so that a CI end
    # at its edge is written as the verdict line writes it (metric_numbers._end)
    from pipeline.path_summary import summarize_path

    assert [p.vs_none.rope for p in summarize_path(d, "l1").points] == [v.rope, v.rope]


def test_a_path_point_with_nones_test_values_says_it_compares_none_with_itself(tmp_path):
    """A QA audit's paths study: l2=1e-05 had none's validation and test accuracy on every seed, and
    was selected (the first of the tied points), so "L2 (l2=1e-05) practically the same as none" was
    none against itself, unsaid; its difference read "0.0 pt [-0.6, 0.6]" (the one-row floor) as if
    the values had moved. The path says so, the difference reads "the same on every seed", and the
    console's table of means names the point that stands for the arm."""
    from pipeline import summary
    from pipeline.study import load_study

    from .conftest import tiny_study_dict, write_study

    none = {0: 0.9324, 1: 0.9354, 2: 0.9243}
    points = {"l2=1e-05": {s: {"test": x, "val": 0.93, "gap": 0.06} for s, x in none.items()},
              "l2=0.01": {s: {"test": x + 0.007, "val": 0.92, "gap": 0.05} for s, x in none.items()}}
    d = verdicts.DatasetResults("digits", "classification", {"none": none, "l2": {s: x for s, x in none.items()}},
                                paths={"l2": points}, selected={"l2": "l2=1e-05"}, n_test=449)
    [v] = verdicts.decide_study([d])
    p = v.paired["l2"]
    assert p.identical and p.floored and p.ci_high > 0   # judged with the floor, written as what it is
    assert verdict_words.sentence("l2", p, v.metric, v.name("l2")).startswith(
        "L2 (l2=1e-05): practically the same, 0.0 pt (the same on every seed)")
    header = next(line for line in path_words.path_lines(d, v) if "L2 path:" in line)
    assert "its test values are none's on every seed: at this strength the arm changed no test result, so its verdict " \
        "compares none with itself" in header
    moved = {**points, "l2=1e-05": {s: {**x, "test": x["test"] + 0.002 * s} for s, x in points["l2=1e-05"].items()}}
    d2 = dataclasses.replace(d, paths={"l2": moved}, values={"none": none, "l2": {s: x["test"] for s, x in moved["l2=1e-05"].items()}})
    [v2] = verdicts.decide_study([d2])
    assert "compares none with itself" not in " ".join(path_words.path_lines(d2, v2)) and not v2.paired["l2"].identical
    write_study(tmp_path / "s.yaml", tiny_study_dict(seeds=3))
    table = summary.format_summary(load_study(tmp_path / "s.yaml"), [d], [v]).splitlines()
    assert table[0].split()[:2] == ["dataset", "regularizer"] and any(
        line.split()[:4] == ["digits", "L2", "(l2=1e-05)", "test_accuracy"] for line in table), table[:4]
    # a dataset with no finished run (a study run with --datasets so far): named once, not rows of nan
    # under a metric guessed (a regression table's were "test_accuracy")
    unrun = verdicts.DatasetResults("synthetic_linear", "regression", {"none": {}, "l2": {}}, ran=False)
    table = summary.format_summary(load_study(tmp_path / "s.yaml"), [d, unrun]).splitlines()
    assert not any(line.startswith("synthetic_linear ") for line in table) and not any("nan" in line for line in table)
    assert "not run yet: synthetic_linear (no run of this configuration ended)" in table
    assert "synthetic_linear: not run yet (no run of this configuration ended)" in table   # its verdict line
    diverged = dataclasses.replace(unrun, ran=True)   # it ran, every cell diverged: its rows and notes stay
    table = summary.format_summary(load_study(tmp_path / "s.yaml"), [d, diverged]).splitlines()
    assert any(line.startswith("synthetic_linear ") for line in table) and not any("not run yet" in line for line in table)
    assert any(line.startswith("synthetic_linear: no comparison with none") for line in table)


def test_what_the_review_of_paths_and_pairs_found():
    """Two arms that both score no better than a constant are not "practically the same" against
    each other (nothing to test); a path whose chosen point has one seed claims no "within one SE",
    no "clearly worse" and no "extend the path"; a NaN validation mean is never selected."""
    flat = {arm: {s: 0.5 + 0.001 * (s % 2) for s in range(6)} for arm in ("none", "l1", "l2")}
    d = verdicts.DatasetResults("coin", "classification", flat, chance=0.5, n_test=1000)
    [v] = verdicts.decide_study([d])
    assert set(v.at_chance) >= {"l1", "l2"}
    [pair] = v.head_to_head
    assert pair.paired.verdict == verdicts.AT_CHANCE
    assert head_to_head.head_to_head_row(pair, "accuracy")["said"].startswith("both no better than a constant")

    def point(val):
        return {0: {"test": val, "val": val, "gap": 0.01}}

    one = verdicts.DatasetResults("p", "classification", {"none": {0: 0.9}},
                                  paths={"l1": {"l1=1e-05": point(0.95), "l1=0.0001": point(0.9), "l1=0.001": point(0.8)}},
                                  selected={"l1": "l1=1e-05"})
    path = path_summary.summarize_path(one, "l1")
    assert path.one_se == "" and path.edge == ""
    head = path_words.path_lines(one)[0]
    assert "within one SE" not in head and "extend the path" not in head and "clearly worse" not in head
    nan_first = {"l1=1e-05": {0: {"val": math.nan}, 1: {"val": 0.9}}, "l1=0.001": {0: {"val": 0.8}, 1: {"val": 0.8}}}
    assert path_points.select_variant(nan_first, True) == "l1=0.001"


def test_numbers_in_a_prices_units_read_as_people_write_them():
    """A house price's MAE and MSE: thousands with separators, not 1.34e+03 beside 3.32 in one
    bracket, and nine-digit MSE gaps as powers of ten."""
    from pipeline.summary import _num

    assert metric_numbers.amount(-1340.2, "mae") == "+1 340 MAE"   # oriented: lower is better (no comma in a CI's list)
    # written as rounded: 999.6 is "1 000", not "1e+03"; 9 999 999 is a power of ten, as 1e7 is
    assert metric_numbers.amount(-999.6, "mae") == "+1 000 MAE" and metric_numbers.amount(-999.4, "mae") == "+999 MAE"
    assert metric_numbers.amount(-9_999_999.0, "mae") == "+1.00e+07 MAE"
    assert metric_numbers.same_decimals([123858666.0, -543875976.0])(123858666.0) == "1.24e+08"
    assert metric_numbers.same_decimals([4012.5, 3.3])(3.3) == "3"
    assert [_num(x).strip() for x in (0.97123, 1637.9231, 49070.31, 2.5e9)] == ["0.9712", "1637.9", "49 070", "2.500e+09"]
    # the report's tables write a value as the console's does (was 4.361e+05 beside 34246.1468), and the
    # sentences write thousands spaced too (was "train MSE 318131 → 764865" beside "436 107")
    from pipeline.report.render import fmt_number

    assert [fmt_number(x) for x in (436107.3, 34246.14681, 0.5)] == ["436 110", "34 246", "0.5000"]
    # five significant digits in a column, then powers of ten, as the sentences write them (was
    # "2.468e+08" beside "9 496 881" and "94 788 892")
    assert [_num(x).strip() for x in (2.468e8, 9496881.2, 94788892.0)] == ["2.468e+08", "9 496 900", "9.479e+07"]
    assert [_num(x).strip() for x in (0.006858, 0.000811, 0.0049, 0.0, 0.1234, 0.028)] == [
        "0.00686", "0.000811", "0.00490", "0.0000", "0.1234", "0.0280"]
    assert fmt_number(0.123456, 2) == "0.12" and fmt_number(float("nan")) == "–"
    assert [metric_numbers.quantity(x, 4) for x in (436107.3, 1.6e7, 675.94, 0.084321)] == \
        ["436 100", "1.6e+07", "675.9", "0.08432"]
    assert verdict_words._train_change("mse", (318131.2, 764865.9)) == "318 131 → 764 866"


def test_the_rope_and_the_gap_are_defined_in_the_studys_own_metrics():
    """The report's notes define the default ROPE and the gap in the metrics the study uses (they
    said accuracy and MSE under a ROC AUC or MAE study)."""
    assert metric_numbers.default_rope_words("accuracy") == "±1 point of accuracy"
    assert metric_numbers.default_rope_words("roc_auc") == "±1 point of ROC AUC"
    assert metric_numbers.default_rope_words("mae") == "±5% of none's MAE"
    assert metric_numbers.default_rope_words("r2") == "±0.01 of R²"
    assert metric_numbers.gap_words("mae") == "test minus train MAE" and metric_numbers.gap_words("r2") == "train minus test R²"


def test_a_constant_prediction_scores_mae_from_the_median():
    """The best constant under MAE is the training median, not the mean (a skewed price: the mean
    is far from most rows and would make chance look worse than it is)."""
    from pipeline.task import constant_prediction_scores

    y_train = np.array([1.0, 2.0, 3.0, 100.0])
    y_test = np.array([2.0, 3.0])
    scores = constant_prediction_scores("regression", 0, y_train, y_test)
    assert scores["mae"] == pytest.approx(0.5)            # median 2.5
    assert scores["mse"] == pytest.approx((24.5 ** 2 + 23.5 ** 2) / 2)   # mean 26.5


def test_a_verdict_decided_on_too_few_seeds_for_the_wilcoxon_check_says_so(tmp_path):
    """L2 clearly better on 3 seeds: decided by the t-test alone, which the console now says (the
    report's notes did); on 8 seeds the Wilcoxon test can confirm it and the caveat goes."""
    from pipeline import summary
    from pipeline.study import load_study

    from .conftest import tiny_study_dict, write_study

    lines = {}
    for n in (3, 8):
        study = load_study(write_study(tmp_path / f"s{n}.yaml", tiny_study_dict(seeds=n, arms=["none", "l2"])))
        values = {"none": {s: 0.80 + 0.001 * s for s in range(n)}, "l2": {s: 0.90 + 0.0012 * s for s in range(n)}}
        [d] = [verdicts.DatasetResults("digits", "classification", values)]
        [v] = verdicts.decide_study([d])
        assert v.paired["l2"].verdict == "better"
        lines[n] = summary.format_summary(study, [d], [v])
    assert ("(better or worse on 3 seeds: those verdicts rest on the paired t-test alone, which assumes the per-seed "
            "differences are roughly normal; with 6 or more seeds that differ the Wilcoxon signed-rank test can confirm "
            "them)") in lines[3]
    assert "t-test alone" not in lines[8]
    # 8 seeds, but only 4 differ (accuracy on a small test split: ties): the same caveat, said so
    values = {"none": {s: 0.80 for s in range(8)}, "l2": {s: 0.80 + (0.05 if s < 4 else 0.0) for s in range(8)}}
    study = load_study(tmp_path / "s8.yaml")
    [d] = [verdicts.DatasetResults("digits", "classification", values)]
    [v] = verdicts.decide_study([d])
    assert v.paired["l2"].verdict == "better" and v.paired["l2"].too_few
    assert "better or worse on seeds of which fewer than 6 differ:" in summary.format_summary(study, [d], [v])
    # the console's Holm family is the one Holm used: an arm on one seed is not in it
    values["dropout"] = {0: 0.85}
    [v] = verdicts.decide_study([d])
    assert v.paired["dropout"].verdict == "not enough seeds" and v.paired["l2"].family == 1
    assert "one comparison, so no Holm correction" in summary.format_summary(study, [d], [v])


def test_the_share_of_the_gap_closed_has_a_95_percent_interval_from_few_seeds():
    """Gaps of none ~ N(0.10, 0.03) and of the arm ~ N(0.05, 0.03), correlated 0.8 across seeds (a
    seed's split and start shape both), on 3, 5 and 10 seeds: the share closed (truly 50%) lies
    inside its interval about 95% of the time (a percentile bootstrap, the earlier method, covered
    73% from 3 seeds); an unbounded interval is none, not a wrong one, and so is a zero-width one."""
    rng = np.random.default_rng(4)
    cov = 0.03 ** 2 * np.array([[1.0, 0.8], [0.8, 1.0]])
    for n in (3, 5, 10):
        inside = given = 0
        for _ in range(2000):
            base, mine = rng.multivariate_normal([0.10, 0.05], cov, n).T
            low, high = verdicts._share_ci(base, mine)
            if not math.isnan(low):
                given += 1
                inside += low <= 0.5 <= high
        assert given > 1500 and abs(inside / given - 0.95) < 0.02, (n, given, inside / given)
    assert math.isnan(verdicts._share_ci(np.array([0.01, -0.02, 0.015]), np.array([0.0, 0.01, -0.01]))[0])
    assert math.isnan(verdicts._share_ci(np.full(3, 0.1), np.full(3, 0.05))[0])


def test_a_heavy_tailed_target_under_mae_is_not_called_learned_nothing():
    """Rents with a few luxury flats, judged by MAE: none's test MAE (~1 950) is three times the
    training median's (676) and its training MAE (~860) is worse than the median too: trained on
    squared error, the models are pulled toward the extreme rows. Not "learned nothing" (check the
    learning rate) nor overfitting: the warning and In short say what it is and what to do."""
    seeds = range(4)
    values = {"none": {s: 1945 + 60 * (s - 1.5) for s in seeds}, "dropout": {s: 1012 + 40 * (s - 1.5) for s in seeds}}
    gaps = {"none": {s: 1081.0 for s in seeds}, "dropout": {s: -56.0 for s in seeds}}
    d = verdicts.DatasetResults("rents", "regression", values, chance=675.9, metric="mae",
                                secondary={"gap_metric": gaps})
    [v] = verdicts.decide_study([d])
    assert v.misfit_train == pytest.approx(864) and "none" not in v.below_chance
    warning = verdict_warnings.chance_warning(v)
    assert warning.startswith("Every arm scored no better than always predicting the training median (test MAE 675.9), "
                              "and none did worse than it on its training rows too (train MAE 864)")
    # the way out is the logarithm, not back to the MSE that the data warning advised leaving
    assert "train on the target's logarithm" in warning and "learning rate" not in warning
    assert "compare them under metric: mse" not in warning
    assert short_answer.in_short([v], short_answer.mean_values([d])) == [
        "On rents, every arm did worse than always predicting the training median under MAE, so there is no answer "
        "about regularization there in that metric (see the warning)."]
    # the same numbers under MSE-like metric names are not this case
    assert verdicts.decide_study([dataclasses.replace(d, metric="mse")])[0].misfit_train is None
    # ... nor without none's training values (no gap recorded): nothing says the training side misfits
    assert verdicts.decide_study([dataclasses.replace(d, secondary={})])[0].misfit_train is None


def test_in_short_names_a_real_but_small_difference_and_the_line_says_when_equivalence_is_not_shown():
    """digits in the default study: dropout practically the same, L1 better by less than the ROPE
    (its 95% CI inside it) while the equivalence test does not pass Holm, L2 undecided. In short
    no longer folds L1 into "no other regularizer has helped yet", and L1's line says the smallness
    rests on the uncorrected CI."""
    seeds = range(10)
    none = {s: 0.95 + 0.004 * ((s * 7) % 5) for s in seeds}
    values = {"none": none, "dropout": {s: x + 0.0002 * (-1) ** s for s, x in none.items()},
              "l1": {s: x + 0.0071 + 0.003 * ((s * 3) % 4 - 1.5) for s, x in none.items()},
              "l2": {s: x + 0.008 + 0.02 * ((s * 5) % 3 - 1) for s, x in none.items()},
              "dropout_l2": {s: x + 0.004 + 0.03 * ((s * 7) % 3 - 1) for s, x in none.items()}}
    d = verdicts.DatasetResults("digits", "classification", values)
    [v] = verdicts.decide_study([d])
    l1 = v.paired["l1"]
    assert v.paired["dropout"].verdict == "equivalent" and l1.negligible and v.paired["l2"].verdict == "undecided"
    assert short_answer.in_short([v], short_answer.mean_values([d]))[0] == (
        "On digits, dropout made no difference that matters and L1 only a small one (better, within the ROPE); "
        "no other regularizer has helped yet.")
    assert l1.ci_high < l1.rope and l1.p_tost_holm > l1.alpha
    assert verdict_words.sentence("l1", l1, v.metric).endswith(
        "real, but too small to matter by this study's ROPE; equivalence not shown after Holm (p 0.0590), so the "
        "smallness is not certain")
    # better with the mean inside the ROPE but the CI reaching out of it (a first-hour user's wide
    # table: -0.345 MSE [-0.594, -0.0959], ROPE ±0.45): not negligible, but said to be small on average
    mse = {"none": {s: 5.0 + 0.1 * s for s in range(4)}, "l2": {s: 5.0 + 0.1 * s - [0.2, 0.5, 0.3, 0.38][s] for s in range(4)},
           "l1": {s: 5.0 + 0.1 * s - [1.2, 1.5, 1.3, 1.38][s] for s in range(4)}}
    w = verdicts.DatasetResults("wide", "regression", mse, rope_setting=0.45)
    [u] = verdicts.decide_study([w])
    l2 = u.paired["l2"]
    assert l2.verdict == "better" and not l2.negligible and abs(l2.mean_diff) < l2.rope < abs(l2.ci_high - l2.ci_low) + abs(l2.mean_diff)
    assert verdict_words.sentence("l2", l2, u.metric).endswith(
        "; its mean difference is within the ROPE (±0.45 MSE), so it may be too small to matter")
    assert "too small" not in verdict_words.sentence("l1", u.paired["l1"], u.metric)
    assert short_answer.in_short([u], short_answer.mean_values([w]))[0].endswith(
        "(L2 helped too; L2 by less than the ROPE on average).")


def test_a_path_point_selected_among_near_equals_is_noted_under_the_answer():
    """studies/paths.yaml's L1: the weakest strength has the best validation mean, but every point is
    within one SE of it: its "practically the same as none" is one near-equal's verdict, and the
    answer's note says so; a path whose other points are clearly worse gets no note."""
    seeds = range(5)

    def point(val, test, spread=0.004):
        return {s: {"test": test, "val": val + spread * (s - 2), "gap": 0.02} for s in seeds}

    none = {s: 0.92 + 0.001 * s for s in seeds}
    flat = {"l1=1e-05": point(0.9215, 0.9205), "l1=0.0003": point(0.9210, 0.926), "l1=0.001": point(0.9205, 0.928)}
    d = verdicts.DatasetResults("digits", "classification", {"none": none, "l1": {s: 0.9205 + 0.001 * s for s in seeds}},
                                paths={"l1": flat}, selected={"l1": "l1=1e-05"})
    [v] = verdicts.decide_study([d])
    assert v.flat_paths == {"l1": 3}
    assert ("    note: L1 (l1=1e-05) was selected among 3 strengths that validation barely tells apart (all within "
            "one SE): the verdict is that strength's alone") in "\n".join(verdict_words.answer_lines(v))
    # In short, the paragraph a reader skims, says it too ("L1 (l1=1e-05) made no difference" read as L1's answer)
    short = " ".join(short_answer.in_short([v], short_answer.mean_values([d])))
    assert ("L1 (l1=1e-05) was chosen on validation among 3 strengths that validation barely tells apart (all within one SE), so its verdict is "
            "about that strength alone: the report's path shows how the others compare with none.") in short, short
    # a path over l2_mode holds settings, not strengths
    # (two modes that train alike are one setting: the tie note says that, not this one)
    modes = {"l2_mode=penalty": point(0.9215, 0.9205), "l2_mode=decoupled": point(0.9210, 0.9203)}
    [m] = verdicts.decide_study([verdicts.DatasetResults(
        "digits", "classification", {"none": none, "l2": {s: 0.9205 + 0.001 * s for s in seeds}},
        paths={"l2": modes}, selected={"l2": "l2_mode=penalty"})])
    assert path_words.flat_paths_note(m).startswith("L2 (l2_mode=penalty) was selected among 2 settings that "
                                                       "validation barely tells apart"), path_words.flat_paths_note(m)
    clear = {**flat, "l1=0.0003": point(0.90, 0.926, 0.001), "l1=0.001": point(0.88, 0.928, 0.001)}
    [w] = verdicts.decide_study([dataclasses.replace(d, paths={"l1": clear})])
    assert not w.flat_paths and not path_words.flat_paths_note(w)
    assert "barely tells apart" not in " ".join(short_answer.in_short([w], short_answer.mean_values([d])))


def test_one_interval_is_written_one_way():
    """A rent's MSE difference of -9.5 million with a CI reaching -12 million was written
    "-9 546 290 MSE [-1.22e+07, -6 876 178]": all of it as powers of ten now, and thousands to
    three significant digits ("1 340", not "1 340.2" nor "9 546 290")."""
    p = stats.Paired(4, 9546290.0, 6876178.0, 1.22e7, 0.01, 0.1, 1.0, 0.1)
    assert metric_numbers.difference(p, "mse") == "-9.55e+06 MSE [-1.22e+07, -6.88e+06]"
    q = stats.Paired(4, 1340.2, 3.32, 2680.0, 0.01, 0.1, 1.0, 0.1)
    assert metric_numbers.difference(q, "mae") == "-1 340 MAE [-2 680, -3.32]"
    # an end that would read as the ROPE's edge shows which side it is on: 1.002 pt is past a ROPE of
    # 1.0 pt ("better"), 0.998 inside it ("negligible"); both were "1.0"
    edge = stats.Paired(16, 0.007, 0.004, 0.01002, 0.01, 0.01, 1.0, 1e-4, rope=0.01)
    assert metric_numbers.difference(edge, "accuracy") == "+0.7 pt [0.4, 1.002]"
    assert metric_numbers.difference(dataclasses.replace(edge, ci_high=0.00998), "accuracy") == "+0.7 pt [0.4, 0.998]"
    assert metric_numbers.difference(dataclasses.replace(edge, ci_high=0.0093), "accuracy") == "+0.7 pt [0.4, 0.9]"
    mse = stats.Paired(16, 0.02, 0.01, 0.0401, 0.01, 0.01, 1.0, 1e-4, rope=0.04)
    assert metric_numbers.difference(mse, "mse") == "-0.0200 MSE [-0.0401, -0.0100]"   # one way: [-1.04, 2.50], not 2.5
    # in the interval's style (thousands spaced), and an end at the edge but for float error as it is
    price = stats.Paired(16, 2000.0, 1000.0, 2502.0, 0.01, 0.01, 1.0, 1e-4, rope=2500.0)
    assert metric_numbers.difference(price, "mse") == "-2 000 MSE [-2 502, -1 000]"
    assert metric_numbers.difference(dataclasses.replace(edge, ci_high=0.01 + 1e-15), "accuracy") == "+0.7 pt [0.4, 1.0]"


def test_the_overfitting_warning_names_every_arm_in_short_points_to_it_for():
    """Rents: none overfits below the training mean, dropout learned beyond it, L1 overfits below it
    too. The warning named dropout only, while In short said "L1 scored no better than always
    predicting the training mean (see the warning)"."""
    seeds = range(6)
    values = {"none": {s: 1.30 + 0.01 * s for s in seeds}, "dropout": {s: 0.80 + 0.01 * s for s in seeds},
              "l1": {s: 1.27 + 0.01 * s for s in seeds}}
    gaps = {arm: {s: 1.0 for s in seeds} for arm in values}   # train MSE far below test: they fit their rows
    d = verdicts.DatasetResults("rents", "regression", values, chance=1.0, secondary={"gap_metric": gaps})
    [v] = verdicts.decide_study([d])
    assert set(v.below_chance) == {"none", "l1"}
    warning = verdict_warnings.chance_warning(v)
    assert "dropout learned more than the constant; L1 scores worse than the constant too" in warning
    assert any(s.startswith("L1 scored no better than always predicting the training mean")
               for s in short_answer.in_short([v], short_answer.mean_values([d])))


def test_the_same_difference_on_every_seed_is_written_without_an_interval():
    """ROC AUC +2 pt on each of 6 seeds: a sign test decides it, and the line says the difference
    was the same on every seed instead of a zero-width "[2.0, 2.0]" that reads as certainty."""
    p = stats.paired_test([0.93 + 0.01 * s for s in range(6)], [0.91 + 0.01 * s for s in range(6)], rope=0.01)
    stats.decide([p])
    assert p.sd == 0 and p.verdict == "better"
    assert verdict_words.sentence("l2", p, "roc_auc") == "L2: better, +2.0 pt (the same on every seed) (p 0.0312)"


def test_one_seed_far_worse_than_the_others_is_named_as_unstable_training():
    """d2l's dropout chapter on MNIST at lr 0.5: one seed of none swung to 73.5% while the others
    reached 94.6% and 95.0%. Its comparison was "undecided, the mean difference tiny next to the
    spread", with nothing saying why; now a warning names the seed, and the undecided line does
    not call a difference beyond the ROPE tiny. Ordinary seed noise is not flagged."""
    values = {"none": {0: 0.735, 1: 0.946, 2: 0.950}, "dropout": {0: 0.921, 1: 0.925, 2: 0.915}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("mnist", "classification", values, n_test=10000)])
    assert v.stray_seeds == {"none": (0, 0.735, 0.946, 0.950)}
    assert verdict_warnings.stray_warning(v).startswith(
        "One seed far worse than the others (none seed 0: test accuracy 73.5%, its other seeds 94.6% to 95.0%): "
        "training was likely unstable there")
    assert verdict_warnings.stray_warning(v) in verdict_warnings.warnings(v)
    line = verdict_words.sentence("dropout", v.paired["dropout"], "accuracy")
    assert v.paired["dropout"].verdict == "undecided" and "tiny" not in line
    # under a loss, worse is higher: an MSE that blew up on one seed
    mse = {"none": {0: 0.10, 1: 0.11, 2: 0.105, 3: 2.5}}
    assert verdicts.stray_seeds(mse, 0.005, higher_is_better=False) == {"none": (3, 2.5, 0.10, 0.11)}
    # two seeds tied at 29 of 30 test rows beside one at 27: two rows, not instability (the others' range
    # is at least one test row's step)
    tied = {"none": {0: 29 / 30, 1: 29 / 30, 2: 27 / 30}}
    assert verdicts.stray_seeds(tied, 0.01, True, floor=1 / 30) == {} and verdicts.stray_seeds(tied, 0.01, True)
    [t] = verdicts.decide_study([verdicts.DatasetResults("small", "classification", {**tied, "l2": tied["none"]}, n_test=30)])
    assert t.stray_seeds == {}
    # seed noise of a ROPE's size, 3 seeds an arm: (almost) never flagged
    rng = np.random.default_rng(0)
    flagged = sum(bool(verdicts.stray_seeds({"a": dict(enumerate(0.9 + 0.01 * rng.standard_normal(3)))}, 0.01, True))
                  for _ in range(2000))
    assert flagged < 20, flagged


def test_in_short_says_which_undecided_arm_leans_worse():
    """Pima with raw features: dropout 5 points below none on average, undecided at 5 seeds (~9
    seeds could show it worse). In short said only "still undecided"; it now names the arm that
    leans worse and by how much, and says it is not decided. A lean within the ROPE is not named."""
    none = {0: 0.74, 1: 0.76, 2: 0.75, 3: 0.77, 4: 0.745}
    values = {"none": none, "dropout": {0: 0.64, 1: 0.75, 2: 0.66, 3: 0.76, 4: 0.69},
              "l2": {0: 0.745, 1: 0.755, 2: 0.752, 3: 0.765, 4: 0.75}}
    d = verdicts.DatasetResults("pima", "classification", values, n_test=154)
    [v] = verdicts.decide_study([d])
    assert v.paired["dropout"].verdict == "undecided" and v.paired["dropout"].needed_for == "worse"
    assert short_answer.in_short([v], short_answer.mean_values([d])) == [
        "On pima, dropout leans worse so far, not yet decided: test accuracy 75.3% → 70.0%.",
        "L2 made no difference that matters; no other regularizer has helped yet.",
        "1 comparison is still undecided: more seeds could decide it (each comparison says how many, and how "
        "likely)."]
    # one arm leaning each way: one sentence for the dataset, each arm with its change
    both = {**values, "l1": {0: 0.80, 1: 0.77, 2: 0.82, 3: 0.78, 4: 0.81}}
    [b] = verdicts.decide_study([dataclasses.replace(d, values=both)])
    assert (b.paired["l1"].verdict, b.paired["l1"].needed_for) == ("undecided", "better")
    assert short_answer.in_short([b], short_answer.mean_values([dataclasses.replace(d, values=both)]))[0] == (
        "On pima, not yet decided: L1 leans better so far, test accuracy 75.3% → 79.6%; dropout leans worse so far, "
        "test accuracy 75.3% → 70.0%.")
    slight = {**values, "dropout": {s: x - 0.009 + 0.012 * (s % 2) for s, x in none.items()}}   # -0.4 pt
    [w] = verdicts.decide_study([verdicts.DatasetResults("pima", "classification", slight, n_test=154)])
    assert not any("leans worse" in line for line in short_answer.in_short([w], {}))


def test_none_is_judged_on_its_training_rows_against_the_training_rows_constant():
    """Rents whose few extreme values all landed in training: the training mean predicted on the
    training rows scores MSE 770 000, on the test rows 10 000. none's training MSE (400 000) beats
    the training constant by far, so its test MSE of 30 000, worse than the test constant, is
    overfitting; judged against the test constant, its training MSE looked like a model that never
    fit, and the study said the models learned nothing."""
    seeds = range(5)
    values = {"none": {s: 30000 + 800 * s for s in seeds}, "l2": {s: 10100 + 50 * s for s in seeds}}
    gaps = {"none": {s: 30000 + 800 * s - 400000 for s in seeds}, "l2": {s: 10100 + 50 * s - 420000 for s in seeds}}
    d = verdicts.DatasetResults("rents", "regression", values, chance=10000.0, secondary={"gap_metric": gaps},
                                train_chance=770000.0)
    [v] = verdicts.decide_study([d])
    assert v.below_chance == ["none"] and v.paired["l2"].verdict == "better"
    assert any("undid none's overfitting" in line for line in short_answer.in_short([v], short_answer.mean_values([d])))
    # the same runs without the training constant (a study logged before it): judged by the test one
    [old] = verdicts.decide_study([dataclasses.replace(d, train_chance=None)])
    assert old.below_chance == []


def test_an_arm_added_to_an_adaptive_study_runs_on_the_seeds_its_dataset_reached():
    """seeds_reached: the seeds a dataset's cells are enqueued on. A new study starts at the first
    look; an arm added after rounds ran gets the seeds the others have (not the first look's
    alone, which a dataset at its maximum would never extend), also between two looks when the
    file's looks changed (next_round takes it on from there)."""
    import optuna

    from pipeline import grid, lifecycle
    from pipeline.preparation import seeds_reached
    from pipeline.study import build_study

    raw = {"name": "grow", "arms": ["none", "l2", "dropout"], "seeds": {"start": 3, "step": 3, "max": 9},
           "datasets": [{"name": "wine"}]}
    study = build_study(raw, "grow.yaml")
    ostudy = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    assert seeds_reached(study, ostudy.trials) == study.seeds[:3]
    grid.enqueue_missing(ostudy, [(arm, s, "") for arm in ("none", "l2") for s in study.seeds[:6]], 1, lifecycle.spent_attempt)
    assert seeds_reached(study, ostudy.trials) == study.seeds[:6]
    grid.enqueue_missing(ostudy, [(arm, s, "") for arm in ("none", "l2") for s in study.seeds[6:8]], 1, lifecycle.spent_attempt)
    assert seeds_reached(study, ostudy.trials) == study.seeds[:8]
    fixed = build_study({**raw, "seeds": 4}, "grow.yaml")
    assert seeds_reached(fixed, ostudy.trials) == fixed.seeds


def test_a_path_whose_every_point_failed_selects_none_of_them():
    """Every strength of L2's path diverged on every seed (the statistics audit's case): the
    path's line says no point is selected, not "l2=1.7 selected on validation" for a point with
    no finished run (select_variant's stand-in for a path whose cells are still waiting)."""
    d = verdicts.DatasetResults("wine", "classification", {"none": {s: 0.97 for s in range(3)}},
                                paths={"l2": {"l2=1.7": {}, "l2=1.8": {}}},
                                selected={"l2": path_points.select_variant({"l2=1.7": {}, "l2=1.8": {}}, True)})
    head = path_words.path_lines(d)[0]
    assert "no point of it has a finished run" in head and "selected on validation" not in head, head


def test_an_arm_that_trains_like_none_on_a_small_test_split_is_told_what_blocks_it():
    """The statistics audit's case: L2 at a strength that changes nothing, on a 28-row test split
    (one row is 3.6 pt, the ROPE 1 pt). The seeds advice names the test row's step, not a spread
    across seeds (there is none), and secondary outcomes with no difference name no direction
    ("wider by 0.0 pt" and "larger by 0.00 [0.00, 0.00]" were said)."""
    same = {s: 3.0 for s in range(10)}
    d = verdicts.DatasetResults("bc", "classification", {"none": {s: 0.9 for s in range(10)}, "l2": {s: 0.9 for s in range(10)}},
                                rope_setting=0.01, n_test=28, secondary={
                                    "weight_l2_total": {"none": same, "l2": same},
                                    "gap_metric": {arm: {s: 0.05 + 0.01 * s for s in range(10)} for arm in ("none", "l2")}})
    [v] = verdicts.decide_study([d])
    advice = verdict_words.seeds_to_decide(v.paired["l2"])
    assert "one test row's step is wide next to the ROPE on a small test split" in advice, advice
    assert "spread" not in advice
    said = verdict_words.secondary_sentences(v, "l2")
    assert said[0] == "train-test gap undecided (the same on every seed)", said   # not "0.0 pt on average [-3.6, 3.6]"
    assert said[1] == "weight norm practically unchanged (the same on every seed)", said


def test_seeds_added_after_a_look_are_warned_of_only_where_the_verdicts_use_them():
    """A 3-seed study given more seeds once its results were in: verdicts on 5 seeds carry the
    optional-stopping warning; a `--seeds 2` view of it (seeds planned before that look) does not
    (it said "Seeds were added after results on 3 seeds were in" above verdicts on 2)."""
    def told(seeds: int) -> bool:
        d = verdicts.DatasetResults("wine", "classification",
                                    {arm: {s: 0.9 + 0.01 * (s % 3) + (0.02 if arm == "l2" else 0) for s in range(seeds)}
                                     for arm in ("none", "l2")}, seeds_added_after=[3])
        [v] = verdicts.decide_study([d])
        warned = any(w.startswith("Seeds were added after results on 3 seeds") for w in verdict_warnings.warnings(v))
        # In short says it too: the paragraph a reader (and the root run's description) stops at did not
        short = " ".join(short_answer.in_short([v], short_answer.mean_values([d])))
        assert warned == ("eeds were added after results were seen: if an undecided look is why, these verdicts are "
                          "less sure than they read (see the warning)." in short), short
        return warned

    assert told(5) and not told(2) and not told(3)


def test_an_interval_past_what_accuracy_can_differ_by_is_cut_marked_and_said():
    """A regularized arm that diverged on 2 of 3 seeds (20% and 30% beside none's 90%): the t-interval
    of the difference is [-140.5, 54.5] points, past the -100 points two accuracies can differ by.
    The console and the report write it cut there and marked, and the sentence says that 3 seeds are
    too few to say how large the difference is; the statistics stay exact (p-values, verdicts.json)."""
    values = {"none": {0: 0.90, 1: 0.88, 2: 0.91}, "l2": {0: 0.20, 1: 0.90, 2: 0.30},
              "l1": {0: 0.91, 1: 0.89, 2: 0.915}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("wine", "classification", values, n_test=300, chance=0.4)])
    p = v.paired["l2"]
    assert p.ci_low < -1 and p.p_t == pytest.approx(sst.ttest_rel([0.20, 0.90, 0.30], [0.90, 0.88, 0.91]).pvalue)
    assert metric_numbers.difference(p, "accuracy") == "-43.0 pt [-100.0, 54.5]*"
    said = verdict_words.sentence("l2", p, v.metric)
    assert said.startswith("L2: undecided, -43.0 pt [-100.0, 54.5]* (Holm p ") and (
        "; its 95% CI reaches past -100 pt, further than a difference in accuracy can go, so it is cut there (*): "
        "3 seeds are too few to say how large the difference is; ~") in said, said
    # an interval inside the bounds is not marked, nor one of an unbounded metric (MSE)
    assert not metric_numbers.difference(v.paired["l1"], "accuracy").endswith("*")
    assert "cut there" not in verdict_words.sentence("l1", v.paired["l1"], v.metric)
    mse = stats.paired_test([0.2, 0.9, 0.3], [0.9, 0.88, 0.91], higher_is_better=False, rope=0.01)
    assert mse.ci_high > 1 and not metric_numbers.difference(mse, "mse").endswith("*")
    assert metric_numbers.bounds_words(mse, "mse") == ""
    # the record keeps every digit; the parent run's metrics are as the console writes them
    assert verdict_record.verdict_record(v)["arms"]["l2"]["primary"]["ci"][0] == p.ci_low
    logged = verdict_record.verdict_metrics(v)
    assert (logged["vs_none.l2"], logged["vs_none.l2.ci_low"], logged["vs_none.l2.ci_high"]) == (-43.0, -100.0, 54.45)
    # equal means but for float32 rounding read -5.96e-07 pt in the MLflow UI's side-by-side view, sorted as
    # worse (a report audit): a share's points go to 1e-5 pt first; an MSE keeps its digits
    # (breast_cancer's test accuracies as stored, 135, 136 and 134 of 142 rows in float32)
    a, b, c = 0.9507042169570923, 0.9577465057373047, 0.9436619877815247
    none = dict(enumerate([a, a, a, b, b, a, b, a, c, a]))
    dropout = dict(enumerate([c, b, a, a, 0.9647887349128723, a, a, a, a, a]))
    [n] = verdicts.decide_study([verdicts.DatasetResults("b", "classification", {"none": none, "dropout": dropout})])
    assert metric_numbers.shown(n.paired["dropout"].mean_diff, "accuracy") == pytest.approx(-5.96e-7, rel=1e-3)
    assert str(verdict_record.verdict_metrics(n)["vs_none.dropout"]) == "0.0"
    [r] = verdicts.decide_study([verdicts.DatasetResults("b", "regression", {"none": none, "l2": dropout}, metric="mse")])
    assert verdict_record.verdict_metrics(r)["vs_none.l2"] == pytest.approx(-5.96e-9, rel=1e-3)   # an MSE keeps its digits


def test_a_secondary_outcome_s_interval_past_what_it_can_be_is_cut_marked_and_said():
    """Secondary outcomes are bounded too: two shares of weights below 1e-3 differ by at most 100
    pt, two train-test gaps of accuracy (each in [-1, 1]) by at most 200 pt. L1 at 90%, 10%, 50%
    sparse beside none's 0% on 3 seeds has a CI of [-49.4, 149.4] pt, written [-49.4, 100.0]* with
    the reason, as the primary metric's; a gap of 2 seeds reaching past 200 pt is cut likewise. A
    weight norm and an MSE's gap have no such bound: their intervals are as they were. A path
    point's weight norm (from 0) has its CI cut at 0, as its test metric's at the metric's bounds."""
    outcome = {o.key: o for o in verdicts.SECONDARY}

    def judged(arm, base, higher_is_better=True):
        p = stats.paired_test(arm, base, higher_is_better, rope=0.01)
        stats.decide([p], estimate_seeds=False)
        return p

    sparse = judged([0.9, 0.1, 0.5], [0.0, 0.0, 0.0])
    assert sparse.ci_high > 1
    assert verdict_words.secondary_sentence(outcome["sparsity_lt_0.001"], sparse, "accuracy") == (
        "weights undecided (sparser by 50.0 pt of |w| < 1e-3 [-49.4, 100.0]*); its 95% CI reaches past +100 pt, "
        "further than two shares of weights can differ, so it is cut there (*): 3 seeds are too few to say how large "
        "the difference is")
    gap = judged([0.0, 0.3], [0.3, 0.3], higher_is_better=False)
    assert gap.ci_low < -1.7 and gap.ci_high > 2
    assert verdict_words.secondary_sentence(outcome["gap_metric"], gap, "accuracy") == (
        "train-test gap undecided (narrower by 15.0 pt [-175.6, 200.0]*); its 95% CI reaches past +200 pt, further "
        "than two train-test gaps in accuracy can differ, so it is cut there (*): 2 seeds are too few to say how large "
        "the difference is")
    assert verdict_words.secondary_sentence(outcome["gap_metric"], gap, "mse") == \
        "train-test gap undecided (narrower by 0.15 MSE [-1.76, 2.06])"
    norm = judged([0.2, 9.0, 0.1], [3.0, 3.0, 3.0], higher_is_better=False)
    assert "*" not in verdict_words.secondary_sentence(outcome["weight_l2_total"], norm, "accuracy")
    # within the bounds: as before, no mark and no reason
    assert verdict_words.secondary_sentence(outcome["sparsity_lt_0.001"], judged([0.6, 0.62, 0.65], [0.0, 0.01, 0.0]),
                                            "accuracy").startswith("weights sparser by 62.0 pt of |w| < 1e-3 [")
    # a path point's weight norm of 1, 1 and 10 over 3 seeds: its t-interval reaches below 0
    point = {s: {"test": 0.9, "val": 0.9, "gap": 0.02, "norm": norm_, "sparsity": 0.1} for s, norm_ in enumerate([1.0, 1.0, 10.0])}
    d = verdicts.DatasetResults("p", "classification", {"none": {s: 0.9 for s in range(3)}},
                                paths={"l2": {"l2=0.001": point, "l2=0.01": point}}, selected={"l2": "l2=0.001"})
    weights = path_summary.summarize_path(d, "l2").points[0].norm
    assert stats.t_interval([1.0, 1.0, 10.0])[0] < 0 and weights.ci_low == 0.0 and weights.ci_high > 10


def test_an_arm_left_with_one_finished_seed_at_the_constant_is_named_at_chance():
    """A wine-quality table at a learning rate that makes training diverge: none, L1 and L2 score the
    majority class's 41% on 3 seeds, dropout+L2 diverged on 2 and scores 40.5% on its third. That
    one seed is no better than the constant either (the README's "at chance" has no seed count): the
    warning says every arm learned nothing, naming the one-seed arm, instead of "while other arms
    learned"; its comparison stays "not enough seeds". One seed far below the constant (possibly
    overfitting) or above the margin is not called at chance."""
    flat = {s: 0.4067 + 0.0025 * (s % 2) for s in range(3)}
    values = {"none": flat, "l1": dict(flat), "l2": dict(flat), "dropout_l2": {2: 0.405}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("winequality", "classification", values, n_test=400,
                                                         chance=0.41)])
    assert v.one_seed == ["dropout_l2"] and "dropout_l2" in v.at_chance
    assert v.paired["dropout_l2"].verdict == "not enough seeds"
    warned = verdict_warnings.chance_warning(v)
    assert warned.startswith("Every arm (dropout+L2 on its one finished seed) scored no better than always predicting "
                             "the majority class"), warned
    assert "learned nothing" not in verdict_words.headline(v) and "dropout+L2 not compared: fewer than 2 seeds" in \
        verdict_words.headline(v)
    assert verdict_words.sentence("dropout_l2", v.paired["dropout_l2"], v.metric) == (
        "dropout+L2: not enough seeds (1 seed with results for both it and none; a comparison needs 2)")
    assert short_answer.in_short([v], short_answer.mean_values([verdicts.DatasetResults(
        "winequality", "classification", values)])) == [
        "On winequality, the models learned little or nothing, so there is no answer about regularization there."]
    for lone in (0.30, 0.45):   # far below the constant, or above it by more than the margin
        [w] = verdicts.decide_study([verdicts.DatasetResults("winequality", "classification",
                                                             {**values, "dropout_l2": {2: lone}}, n_test=400, chance=0.41)])
        assert "dropout_l2" not in w.at_chance and not w.one_seed


def test_the_holm_family_says_which_arms_were_left_out_at_chance(tmp_path):
    """Only L1 learned; dropout and L2 scored the constant's level, as none: one comparison is
    tested. The console's header says the other two arms were not compared because they and none
    were at chance ("one comparison, so no Holm correction" read as one arm studied)."""
    from pipeline import summary
    from pipeline.study import load_study

    from .conftest import tiny_study_dict, write_study

    study = load_study(write_study(tmp_path / "s.yaml", tiny_study_dict(seeds=4, arms=["none", "dropout", "l1", "l2"])))
    flat = {s: 0.40 + 0.005 * (s % 2) for s in range(4)}
    values = {"none": flat, "dropout": dict(flat), "l2": dict(flat), "l1": {s: 0.60 + 0.004 * s for s in range(4)}}
    d = verdicts.DatasetResults("digits", "classification", values, n_test=400, chance=0.40)
    [v] = verdicts.decide_study([d])
    assert {a: p.verdict for a, p in v.paired.items()} == {"dropout": verdicts.AT_CHANCE, "l2": verdicts.AT_CHANCE,
                                                          "l1": "better"}
    said = summary.format_summary(study, [d], [v])
    assert ("Verdicts (each arm vs none on the same seeds; one comparison, so no Holm correction (2 other arms not "
            "compared with none: they and none did no better than a constant prediction); ROPE") in said, said
    values["l1"] = flat   # nothing learned: no comparison, and why
    [w] = verdicts.decide_study([d])
    assert verdict_words.holm_family([w]) == ("no comparison to correct (3 arms not compared with none: they and none "
                                              "did no better than a constant prediction)")
    # the report says the same, pointing to where those arms are named; a comparison on one shared seed is untested
    values["l1"] = {0: 0.61}
    [u] = verdicts.decide_study([d])
    assert verdict_words.left_out_of_holm([u], " (at chance, below)") == [
        "2 arms not compared with none: they and none did no better than a constant prediction (at chance, below)",
        "1 comparison not tested: fewer than 2 seeds shared with none"]


def test_seeds_beyond_a_thousand_are_written_as_every_other_number():
    """quadrants' dropout+L2 in the default study: "~1514 seeds could show it equivalent" beside
    "+1 340 MAE" and "more than 10,000" elsewhere; thousands are spaced, as metric_numbers writes them."""
    p = stats.Paired(10, -0.004, -0.05, 0.04, 0.8, 0.8, -0.1, 0.002, sd=0.06, rope=0.01, verdict="undecided",
                     seeds_needed=1514, needed_for="equivalent", decide_chance=math.nan)
    assert verdict_words.seeds_to_decide(p).startswith("~1 514 seeds could show it equivalent (beyond a practical study")
    far = dataclasses.replace(p, seeds_needed=stats.MAX_SEEDS + 1)
    assert verdict_words.seeds_to_decide(far).startswith("more than 10 000 seeds could show it equivalent")
    # and the report's column writes them the same way
    assert verdict_words.seeds_cell(p) == "~1 514 (equivalent)" and verdict_words.seeds_cell(far) == "> 10 000 (equivalent)"


def test_a_secondary_outcome_on_one_seed_says_it_was_not_tested():
    """dropout+L2 with one finished seed: "train-test gap not enough seeds (0.0 pt on average)" said
    an average of one value; it says what that seed showed, untested."""
    d = verdicts.DatasetResults("w", "classification", {"none": {0: 0.41, 1: 0.40}, "dropout_l2": {1: 0.405}},
                                secondary={"gap_metric": {"none": {0: 0.02, 1: 0.03}, "dropout_l2": {1: 0.03}},
                                           "weight_l2_total": {"none": {0: 30.0, 1: 31.0}, "dropout_l2": {1: 0.5}}})
    [v] = verdicts.decide_study([d])
    assert verdict_words.secondary_sentences(v, "dropout_l2") == [
        "train-test gap not tested (no difference on 1 seed)", "weight norm not tested (smaller by 30.5 on 1 seed)"]


def test_a_secondary_outcome_s_interval_end_that_rounds_to_zero_keeps_its_side():
    """Pima, 10 seeds: L2's gap was "train-test gap undecided (narrower by 1.6 pt [0.0, 3.2])" for a CI
    of [-0.04, 3.2] pt: it read as an interval clear of zero beside "undecided". Its ends keep their
    side as the test metric's do ("+1.7 pt [-0.04, 3.5]"); float noise is still 0.0."""
    outcome = {o.key: o for o in verdicts.SECONDARY}
    gap = stats.Paired(10, 0.0158, -0.00041, 0.032, 0.055, 0.1, 0.6, 0.002, sd=0.02, rope=0.01, verdict="undecided")
    assert verdict_words.secondary_sentence(outcome["gap_metric"], gap, "accuracy") == \
        "train-test gap undecided (narrower by 1.6 pt [-0.04, 3.2])"
    clear = dataclasses.replace(gap, ci_low=0.0003, verdict="better")
    assert verdict_words.secondary_sentence(outcome["gap_metric"], clear, "accuracy") == \
        "train-test gap narrower by 1.6 pt [0.03, 3.2]"
    noise = dataclasses.replace(gap, ci_low=-6e-9)
    assert verdict_words.secondary_sentence(outcome["gap_metric"], noise, "accuracy").endswith("[0.0, 3.2])")
    sparse = dataclasses.replace(gap, mean_diff=0.05, ci_low=-0.0002, ci_high=0.1)
    assert verdict_words.secondary_sentence(outcome["sparsity_lt_0.001"], sparse, "accuracy") == \
        "weights undecided (sparser by 5.0 pt of |w| < 1e-3 [-0.02, 10.0])"
    # a CI narrower than 0.2 pt, to two decimals: "-0.004", not "-0.00"
    narrow = dataclasses.replace(gap, mean_diff=0.0005, ci_low=-0.00004, ci_high=0.0012)
    assert verdict_words.secondary_sentence(outcome["gap_metric"], narrow, "accuracy") == \
        "train-test gap undecided (narrower by 0.05 pt [-0.004, 0.12])"
    # an MSE gap: to the decimals of its largest number, then as many more as show the end's side
    mse = dataclasses.replace(gap, mean_diff=0.0032, ci_low=-0.0000004, ci_high=0.0064)
    assert verdict_words.secondary_sentence(outcome["gap_metric"], mse, "mse") == \
        "train-test gap undecided (narrower by 0.00320 MSE [-0.0000004, 0.00640])"


def test_in_short_writes_a_mean_to_three_significant_digits_with_its_trailing_zeros():
    """The default study's synthetic_linear: "L2 test MSE 0.252 → 0.23 (9% lower)" for a mean of
    0.2299 read as a coarser number than none's beside it (the table: 0.2299); "0.0101 → 0.017" for
    0.0170. Both keep three significant digits; thousands and powers of ten as before."""
    assert short_answer._change_between("mse", 0.2522, 0.2299) == "test MSE 0.252 → 0.230 (9% lower)"
    assert short_answer._change_between("mse", 0.0101, 0.017037) == "test MSE 0.0101 → 0.0170 (69% higher)"
    assert short_answer._change_between("mae", 2.0, 100.04) == "test MAE 2.00 → 100 (4902% higher)"
    assert short_answer._change_between("mse", 436107.0, 2.1e-05) == "test MSE 436 000 → 2.1e-05 (100% lower)"
    assert short_answer._level("mse", 0.0) == "0" and short_answer._level("accuracy", 0.935) == "93.5%"


def test_none_not_clearly_above_the_constant_is_one_sentence_with_its_reason():
    """A few optimizer steps on Fashion-MNIST (none 0.128 beside a 0.11 majority class, seeds 0.075
    to 0.185): "... over 3 seeds), the models barely learn here" joined two sentences with a comma;
    the reason follows a colon."""
    weak = {"none": {0: 0.075, 1: 0.185, 2: 0.125}, "l1": {0: 0.075, 1: 0.155, 2: 0.125}}
    [wk] = verdicts.decide_study([verdicts.DatasetResults("fmnist", "classification", weak, chance=0.11, n_test=200)])
    assert "over 3 seeds): the models barely learn here, so this says little" in verdict_warnings.chance_warning(wk)


def test_an_undecided_interval_clear_of_zero_says_it_is_not_corrected():
    """The default study's digits: "L2: undecided, +0.8 pt [0.3, 1.4] (Holm p 0.0662)" read as a
    contradiction on the console (the report's footnote explains it). The sentence says that the
    CI is not corrected for the study's comparisons and Holm's p is; not where the CI holds zero, nor
    for a lone comparison (its CI clear of zero is a verdict)."""
    rng = np.random.default_rng(4)
    values = _values(rng, {"none": 0.0, "l2": 0.008, "l1": 0.0, "dropout": 0.0, "dropout_l2": 0.0}, 0.01, seeds=10)
    [v] = verdicts.decide_study([verdicts.DatasetResults("digits", "classification", values)])
    p = v.paired["l2"]
    assert p.verdict == "undecided" and p.ci_low > 0 and p.p_t < 0.05 <= p.p_t_holm, p
    said = verdict_words.sentence("l2", p, v.metric)
    assert f"(Holm p {metric_numbers.p_text(p.p_t_holm)}; its CI is not corrected for the 4 comparisons, Holm's p is)" \
        in said, said
    for arm in ("l1", "dropout", "dropout_l2"):
        q = v.paired[arm]
        assert (q.ci_low <= 0 <= q.ci_high) == ("not corrected" not in verdict_words.sentence(arm, q, v.metric))


def test_an_arm_whose_every_seed_failed_is_named_in_the_answer():
    """dropout diverged on every seed of a wine-quality table: the summary table showed it with 0
    seeds, and the verdicts never named it, as if it had not been studied."""
    values = {"none": {s: 0.55 + 0.01 * s for s in range(3)}, "l2": {s: 0.56 + 0.01 * s for s in range(3)}, "dropout": {}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("winequality", "classification", values)])
    assert v.no_runs == ["dropout"] and "dropout" not in v.paired
    assert verdict_words.headline(v).endswith("; dropout has no finished run"), verdict_words.headline(v)


def test_in_short_does_not_promise_that_more_seeds_decide():
    """"9 comparisons are still undecided: more seeds would tell" promised what each comparison gives
    a chance of (52% to 84% in the default study)."""
    assert short_answer._open_counts(Counter(undecided=9)) == [
        "9 comparisons are still undecided: more seeds could decide them (each comparison says how many, and how "
        "likely)."]


def test_a_dataset_without_pairs_says_what_is_missing():
    """Every seed of none failed: "no comparison with none (it has no finished runs on shared seeds)"
    left "it" to guess. A review of the verdicts found more: where none diverged on every seed while
    the regularized arms trained, no warning said so (divergence_warning left none out), and In
    short said nothing of such a dataset at all, as if it had not been in the study."""
    [v] = verdicts.decide_study([verdicts.DatasetResults("w", "classification", {"none": {}, "l2": {0: 0.9, 1: 0.91}})])
    assert verdict_words.headline(v) == "w: no comparison with none (none has no finished run)"
    [apart] = verdicts.decide_study([verdicts.DatasetResults("a", "classification", {"none": {0: 0.9}, "l2": {1: 0.91}})])
    assert verdict_words.headline(apart) == "a: no comparison with none (no seed has a finished run of both none and another arm)"
    [failed] = verdicts.decide_study([verdicts.DatasetResults("f", "classification", {"none": {0: 0.9, 1: 0.8}, "l2": {}})])
    assert verdict_words.headline(failed) == "f: no comparison with none (L2 has no finished run)"
    values = {"none": {}, "dropout": {s: 2.6 + 0.1 * s for s in range(3)}}
    [div] = verdicts.decide_study([verdicts.DatasetResults("lin", "regression", values, diverged={"none": [0, 1, 2]})])
    assert verdict_words.headline(div) == "lin: no comparison with none (none diverged on every seed)"
    assert verdict_warnings.warnings(div)[0].startswith(
        "none diverged on every seed (a NaN or infinite loss) while other arms trained, so no arm is compared with it")
    # seed 0 of none failed otherwise: not "diverged on every seed" (a review of the day's diff)
    [some] = verdicts.decide_study([verdicts.DatasetResults("lin", "regression", values, diverged={"none": [1, 2]})])
    assert verdict_words.headline(some) == "lin: no comparison with none (none has no finished run)"
    rng = np.random.default_rng(2)
    [ok] = verdicts.decide_study([verdicts.DatasetResults("digits", "classification", _values(rng, {"none": 0, "l2": 0.05}, 0.002))])
    said = " ".join(short_answer.in_short([ok, div, v], {}))
    assert "On lin, there is no answer: none diverged on every seed (see the warning)." in said
    assert "On w, there is no answer: none has no finished run." in said and said.startswith("On digits, L2 helped")


def test_an_adaptive_round_that_diverged_whole_is_a_look_and_the_next_round_follows():
    """Adaptive seeds 3, 5, 7: every cell of the second round (seeds 3 and 4) diverged. The look was
    skipped (no new seed had a value), so the dataset stayed at 3 seeds, "more seeds to come", and
    next_round asked for the same round again, whose cells existed: stuck for good. A round whose
    cells diverged is a look now (where the dataset has values at all); its seeds are warned of."""
    rng = np.random.default_rng(4)
    values = {arm: {s: x for s, x in by_seed.items() if s < 3} for arm, by_seed in _values(rng, {"none": 0, "l2": 0.0}, 0.01, 7).items()}
    lost = {"none": [3, 4], "l2": [3, 4]}
    [v] = verdicts.decide_study([verdicts.DatasetResults("r", "classification", values, diverged=lost)], list(range(7)), [3, 5, 7])
    assert (v.looks, v.seeds_used, v.stopped) == (2, 5, "more seeds to come")   # the next round is look 3's
    [end] = verdicts.decide_study([verdicts.DatasetResults("r", "classification", values, diverged={a: [3, 4, 5, 6] for a in lost})],
                                  list(range(7)), [3, 5, 7])
    assert end.stopped == "maximum reached" and end.seeds_diverged == [3, 4, 5, 6]
    assert verdict_warnings.warnings(end)[0].startswith("Seeds 3, 4, 5 and 6 diverged on every arm (a NaN or infinite loss) "
                                                        "while other seeds trained")
    # a seed where one arm failed otherwise (not diverged) is not said to have diverged on every arm
    [mixed] = verdicts.decide_study([verdicts.DatasetResults("r", "classification", values, diverged={"none": [3, 4], "l2": [3]})],
                                    list(range(7)), [3, 5, 7])
    assert mixed.seeds_diverged == [3]
    # a dataset whose every cell diverged still has no results: more rounds would diverge alike
    [gone] = verdicts.decide_study([verdicts.DatasetResults("g", "classification", {"none": {}, "l2": {}}, diverged=lost)],
                                   list(range(7)), [3, 5, 7])
    assert gone.stopped == "no results"


def test_an_arm_at_chance_on_its_one_seed_beside_a_none_that_learned_points_at_divergence_too():
    """none and L2 learned (60-64%); dropout finished one seed of three, at the majority class's 41%:
    "its regularization is likely too strong" alone would blame the strength for what a learning
    rate that diverged on the other seeds may have done."""
    values = {"none": {s: 0.6 + 0.01 * s for s in range(3)}, "l2": {s: 0.62 + 0.01 * s for s in range(3)},
              "dropout": {1: 0.405}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("wq", "classification", values, n_test=400, chance=0.41)])
    warned = verdict_warnings.chance_warning(v)
    assert warned.startswith("The arm dropout (on its one finished seed) scored no better than always predicting the "
                             "majority class (test accuracy 0.41) while none learned: ") and warned.endswith(
        "; dropout finished one seed only: if the others diverged, a smaller learning rate comes first"), warned


def test_an_arm_at_chance_that_lost_some_seeds_points_at_divergence_too():
    """none and L2 learned on 5 seeds; dropout finished 2 of them, both at the majority class's
    level: its missing seeds point at a learning rate that diverged as much as at its strength. An
    arm at chance on every seed it was given is blamed on its strength alone."""
    values = {"none": {s: 0.6 + 0.01 * s for s in range(5)}, "l2": {s: 0.62 + 0.01 * s for s in range(5)},
              "dropout": {1: 0.405, 3: 0.41}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("wq", "classification", values, n_test=400, chance=0.41)])
    assert v.at_chance == ["dropout"] and v.few_seeds == {"dropout": (2, 5)}
    warned = verdict_warnings.chance_warning(v)
    assert warned.endswith("; dropout finished 2 of 5 seeds: if the others diverged, a smaller learning rate comes first"), warned
    values["dropout"] = {s: 0.41 for s in range(5)}
    [v] = verdicts.decide_study([verdicts.DatasetResults("wq", "classification", values, n_test=400, chance=0.41)])
    assert v.few_seeds == {} and "learning rate" not in verdict_warnings.chance_warning(v)


def test_a_study_of_one_seed_is_not_told_that_other_seeds_diverged():
    """With one seed in the study (--seeds 1), an arm at chance had no other seeds to lose: its
    warning says nothing of seeds that diverged or of "its one finished seed"."""
    values = {"none": {0: 0.62}, "l1": {0: 0.41}, "l2": {0: 0.63}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("wq", "classification", values, n_test=400, chance=0.41)])
    assert v.at_chance == ["l1"] and v.few_seeds == {}
    warned = verdict_warnings.chance_warning(v)
    assert warned.startswith("The arm L1 scored no better than always predicting the majority class")
    assert "diverged" not in warned and "finished" not in warned, warned


def test_in_short_says_a_harm_smaller_than_the_rope_as_it_says_such_a_help():
    """An arm worse than none, its mean within the ROPE though its CI reaches past it, is said to
    have made it worse "by less than the ROPE on average", as a help of that size is; and none's and
    the arm's means get a second decimal where their 0.1s would differ by another amount than the
    verdict's (95.5% → 94.6% beside -0.8 pt)."""
    none = {s: 0.9546 + (0.001 if s % 2 else -0.001) for s in range(16)}
    worse = {s: none[s] - 0.0082 + (0.005 if s % 2 else -0.005) for s in range(16)}
    better = {s: none[s] + 0.0082 + (0.005 if s % 2 else -0.005) for s in range(16)}
    for arm, values, words in (("l2", worse, "L2 made it worse, by less than the ROPE on average: "),
                               ("l1", better, "L1 helped, by less than the ROPE on average: ")):
        results = [verdicts.DatasetResults("d", "classification", {"none": none, arm: values})]
        [decided] = verdicts.decide_study(results)
        p = decided.paired[arm]
        assert p.verdict in ("better", "worse") and not p.negligible and abs(p.mean_diff) < p.rope
        assert verdict_words.sentence(arm, p, "accuracy").split(", ")[1].startswith("-0.8 pt [" if arm == "l2" else "+0.8 pt [")
        short = short_answer.in_short([decided], short_answer.mean_values(results))
        assert short[0] == f"On d, {words}test accuracy " + ("95.46% → 94.64%; no regularizer helped." if arm == "l2"
                                                             else "95.5% → 96.3%.")   # 0.8 either way: one decimal
    both = [verdicts.DatasetResults("d", "classification", {"none": none, "l2": worse,
                                                            "l1": {s: v - 0.02 for s, v in worse.items()}})]
    short = short_answer.in_short(verdicts.decide_study(both), short_answer.mean_values(both))
    assert short[0].startswith("On d, L2 and L1 made it worse (L2 by less than the ROPE on average): L2 test accuracy ")


def test_in_short_does_not_promise_more_seeds_past_the_adaptive_maximum():
    """Adaptive seeds that reached their max with a comparison still undecided: In short says it is
    undecided at the maximum, not that "more seeds could decide it" (the design has no more)."""
    rng = np.random.default_rng(0)
    none = {s: 0.5 + rng.normal(0, 0.05) for s in range(6)}
    values = {"none": none, "l2": {s: none[s] + 0.03 + rng.normal(0, 0.03) for s in range(6)}}
    results = [verdicts.DatasetResults("d", "classification", values)]
    for looks, said in (([3, 6], "still undecided at the adaptive seeds' maximum"), ([3, 6, 9], "more seeds could decide it")):
        [v] = verdicts.decide_study(results, list(range(9)), looks)
        assert v.paired["l2"].verdict == "undecided", v.paired["l2"]
        assert v.stopped == ("maximum reached" if looks[-1] == 6 else "more seeds to come")
        short = " ".join(short_answer.in_short([v], short_answer.mean_values(results)))
        assert said in short and ("more seeds could decide" in short) == (looks[-1] == 9), short


def test_a_seed_design_change_is_recorded_only_where_it_reaches_past_the_old_one():
    """The optional-stopping record (seeds_added_after) for a study file's seed design changed once
    results were in: a design that reaches past the old one's last look (more fixed seeds, adaptive
    turned into more fixed seeds, a higher max) is recorded with the seeds done then; another step
    or a lower max adds no seed the old design had not planned, and is not."""
    import optuna

    from pipeline import runtree as rt
    from pipeline.preparation import note_seeds_added
    from pipeline.study import build_study

    from .conftest import tiny_study_dict

    def recorded(before_seeds, after_seeds, done: int, runs: int = 1, most=None):
        ostudy = optuna.create_study()
        for seed in range(done):
            ostudy.add_trial(optuna.trial.create_trial(value=0.9, user_attrs={rt.CELL_ARM: "none", rt.CELL_SEED: seed}))
        before = build_study(tiny_study_dict(seeds=before_seeds, datasets=[{"name": "wine"}]), "s.yaml")
        if not before.adaptive:
            ostudy.set_user_attr(rt.STUDY_FILE_SEEDS, len(before.seeds))
        if most is not None:
            ostudy.set_user_attr(rt.STUDY_FILE_SEEDS_MOST, most)
        after = build_study(tiny_study_dict(seeds=after_seeds, datasets=[{"name": "wine"}]), "s.yaml")
        for _ in range(runs):   # a rerun after a crash before the looks were saved judges it again
            note_seeds_added(after, ostudy, ostudy.get_trials(), before.looks())
        return ostudy.user_attrs.get(rt.SEEDS_ADDED_AFTER)

    adaptive = {"start": 3, "step": 3, "max": 12}
    assert recorded(3, 6, 3) == [3]
    assert recorded(adaptive, 16, 12) == [12]
    assert recorded(adaptive, {**adaptive, "max": 18}, 6) == [6]
    assert recorded(adaptive, {**adaptive, "max": 18}, 6, runs=2) == [6] and recorded(3, 6, 3, runs=2) == [3]
    assert recorded(3, adaptive, 3) == [3]
    assert recorded(adaptive, {**adaptive, "step": 2}, 6) is None
    assert recorded(adaptive, {**adaptive, "max": 9}, 6) is None
    assert recorded(6, 6, 6) is None
    # the file's 4 seeds seen, a `--seeds 8` view trained seeds 4 to 7, then the file asks for 8: added after
    # results (a study-evolution audit: every seed had a cell, so nothing was recorded)
    assert recorded(4, 8, 8, most=4) == [4]
    assert recorded(3, 10, 10, most=10) is None   # 10, shrunk to 3, back to 10: planned before any look
    assert recorded(3, 12, 10, most=10) == [10]   # past the most planned: after the results on 10
    # after adaptive rounds the fixed count is stale: their max counts as planned (a review)
    assert recorded(5, 20, 20, most=20) is None


def test_in_short_does_not_call_every_regularizer_useless_beside_one_too_weak_to_act():
    """Every comparison settled and none mattered, but L1 scored exactly as none did: In short said
    "L1 ... trained exactly as none did: too weak to act at that strength" and then "no regularizer
    made a difference that matters", which takes it back. The second sentence names the others."""
    rng = np.random.default_rng(3)
    values = _values(rng, {"none": 0.0, "dropout": 0.0005, "l2": -0.0005}, 0.002)
    values["l1"] = dict(values["none"])
    d = verdicts.DatasetResults("wine", "classification", values)
    [v] = verdicts.decide_study([d])
    assert [v.paired[a].verdict for a in ("dropout", "l1", "l2")] == ["equivalent"] * 3
    assert short_answer.in_short([v], short_answer.mean_values([d])) == [
        "On wine, L1 scored exactly as none did (the same test accuracy on every seed): too weak at that strength to "
        "change the test predictions that count, which says nothing of it at a strength that does; try a stronger one.",
        "Dropout and L2 made no difference that matters (beyond the study's ROPE)."]
    # all of them too weak: nothing more to say of the dataset
    alike = {arm: dict(values["none"]) for arm in ("none", "l1", "l2")}
    d = verdicts.DatasetResults("wine", "classification", alike)
    said = short_answer.in_short(verdicts.decide_study([d]), short_answer.mean_values([d]))
    assert len(said) == 1 and said[0].startswith("On wine, L1 and L2 scored exactly as none did"), said


def test_an_arm_that_lost_seeds_is_said_to_be_judged_on_those_that_finished():
    """L2 finished 7 of 10 seeds (3 failed or diverged): its verdict, "better", stood on the seeds
    that trained well, with no word of the others (a second statistics audit); an arm that lost
    none is not named, and the sentence names the counts."""
    from pipeline import verdict_warnings

    rng = np.random.default_rng(0)
    base = 0.9 + rng.normal(0, 0.01, 10)
    values = {"none": {s: base[s] for s in range(10)}, "l2": {s: base[s] + 0.02 + rng.normal(0, .005) for s in range(7)},
              "dropout": {s: base[s] + rng.normal(0, .005) for s in range(10)}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", values)])
    assert v.paired["l2"].verdict == "better" and v.paired["l2"].n == 7 and v.lost_seeds == {"l2": (7, 10)}
    assert verdict_warnings.warnings(v) == [
        "Seeds missing, of the 10 another arm finished: L2 finished 7 (the rest failed, diverged, scored no value or are "
        "still to train; failed trial runs' fail_reason tags say why). A comparison uses the seeds both sides finished, so "
        "if the lost ones were the worse draws, it flatters the arm that lost them."]


def test_a_run_whose_loss_exploded_without_overflowing_counts_as_diverged():
    """A failing-trials audit: a run that finished with test MSE 4e19 (a finite loss that blew up)
    counted as a result; on none it made the default ROPE (5% of none's mean) 4e17 wide and every
    comparison undecided, with a stray-seed warning as the only word. It is now left out of the
    values, the secondary outcomes and the ROPE, counted as diverged, and named."""
    from pipeline import verdict_warnings

    values = {"none": {1: 1.0, 2: 1.1, 3: 0.95, 4: 1.05, 5: 4e19}, "l2": {1: 0.8, 2: 0.85, 3: 0.78, 4: 0.82, 5: 0.81}}
    gaps = {"gap_metric": {"none": {s: 0.1 for s in range(1, 6)}, "l2": {s: 0.05 for s in range(1, 6)}}}
    d = verdicts.DatasetResults("reg", "regression", values, None, gaps, "mse", chance=1.3)
    assert set(d.values["none"]) == {1, 2, 3, 4} and set(d.secondary["gap_metric"]["none"]) == {1, 2, 3, 4}
    assert d.diverged == {"none": [5]} and d.exploded == {"none": {5: 4e19}}
    assert values["none"][5] == 4e19   # the caller's dict is not changed (the report's trial tables show the run)
    [v] = verdicts.decide_study([d])
    assert v.rope == pytest.approx(0.05 * np.mean([1.0, 1.1, 0.95, 1.05])) and v.paired["l2"].verdict == "better"
    said = verdict_warnings.warnings(v)
    assert said[0] == ("none seed 5 (test MSE 4e+19) exploded: a test MSE whose error is over 1000 times the constant "
                       "prediction's (1.3) and the median run's, a loss that blew up without a NaN in training. It is "
                       "counted as diverged and left out of the comparisons, the ROPE, the means and the figures (the trial "
                       "runs finished: their tags do not say it); lower the learning rate, or train on a standardized "
                       "target (standardize_target: true).")
    assert "none finished 4 (1 diverged)" in said[1] and not any("far worse than the others" in w for w in said)
    # R² is 1 - MSE / spread: an error 1000 times the constant's is the same explosion; a bad fit (-5) is kept
    r2 = verdicts.DatasetResults("reg", "regression", {"none": {1: 0.5, 2: -5.0, 3: -3e12}}, metric="r2", chance=0.0)
    assert r2.exploded == {"none": {3: -3e12}} and set(r2.values["none"]) == {1, 2}
    # ... against the constant's own R² (a review): on a test split of little spread the constant scores
    # -2000, and arms at -1300 to -1600 beat it
    low = {"none": {1: -1300.0, 2: -1600.0}, "l2": {1: -1400.0, 2: -1500.0}}
    assert verdicts.DatasetResults("reg", "regression", low, metric="r2", chance=-2000.0).exploded == {}
    # every run 4000 times the constant's MSE (a target far from 0 trained on unstandardized, the models
    # barely moved from 0): none stands out from the median run, so none is called exploded (a review)
    far = {"none": {s: 4000.0 + s for s in range(3)}, "l2": {s: 4100.0 + s for s in range(3)}}
    assert verdicts.DatasetResults("reg", "regression", far, metric="mse", chance=1.0).exploded == {}
    # RMSE on MSE's scale (a review: 1000 times an RMSE is 10^6 times an MSE): 40x exploded, 20x not
    rmse = {"none": {1: 1.0, 2: 1.1, 3: 40.0}, "l2": {1: 0.9, 2: 1.0, 3: 20.0}}
    assert verdicts.DatasetResults("reg", "regression", rmse, metric="rmse", chance=1.0).exploded == {"none": {3: 40.0}}
    # a path's other points: their blown-up seeds are left out of the path too
    path = {"l2": {"l2=1e-4": {s: {"test": 0.8, "val": 0.8} for s in (1, 2, 3, 4, 5)},
                   "l2=1e-1": {**{s: {"test": 0.9, "val": 0.9} for s in (1, 2, 3, 4)}, 5: {"test": 5e18, "val": 5e18}}}}
    d = verdicts.DatasetResults("reg", "regression", values, None, gaps, "mse", path, {"l2": "l2=1e-4"}, chance=1.3)
    assert set(d.paths["l2"]["l2=1e-1"]) == {1, 2, 3, 4} and set(d.paths["l2"]["l2=1e-4"]) == {1, 2, 3, 4, 5}
    # no value at all and no seed order given (library use): no look to take, no crash (a review);
    # every run blown up alike is no explosion against the median run (the far-worse warning's case)
    [empty] = verdicts.decide_study([verdicts.DatasetResults("r", "regression", {"none": {}, "l2": {}}, metric="mse")])
    assert empty.stopped == "no results" and not empty.paired
    alike = verdicts.DatasetResults("r", "regression", {"none": {1: 5e19}, "l2": {1: 6e19}}, metric="mse", chance=1.0)
    assert alike.exploded == {}
    # values a caller already took out (the report's tables) count toward the median run: the second look
    # finds what the first found (without them the median fell from 3000 to 2, and 3000 "exploded" too)
    raw = {"none": {1: 1.0, 2: 1.0, 3: 1.0, 4: 3000.0}, "l2": {1: 1e7, 2: 1e7, 3: 1e7}}
    once = verdicts.DatasetResults("r", "regression", raw, metric="mse", chance=1.0)
    assert once.exploded == {"l2": {1: 1e7, 2: 1e7, 3: 1e7}} and 4 in once.values["none"]
    kept = {"none": raw["none"], "l2": {}}
    again = verdicts.DatasetResults("r", "regression", kept, metric="mse", chance=1.0, exploded=once.exploded)
    assert again.values == once.values and again.exploded == once.exploded
    # a share metric is bounded (an exploded classifier scores at chance), and an unknown chance judges nothing
    assert verdicts.DatasetResults("c", "classification", {"none": {1: 0.0}}, chance=0.5).exploded == {}
    assert verdicts.DatasetResults("r", "regression", values, metric="mse").exploded == {}


def test_divergence_is_said_where_the_verdicts_are_read():
    """A failing-trials audit: the console's hint at training time was the only word of cells that
    diverged. Now the verdicts' warnings (console summary, report, MLflow note) say which seeds
    diverged and what to change; an arm at chance that lost seeds is named too; an arm whose
    finished seeds none never finished is said not compared (it vanished from the verdicts); the
    advice of a model that barely learns is not "a larger learning rate" where cells diverged."""
    from pipeline import verdict_warnings

    rng = np.random.default_rng(1)
    base = 0.9 + rng.normal(0, 0.01, 4)
    values = {"none": {s: base[s] for s in (1, 2, 3)}, "l2": {s: base[s] + 0.01 for s in (1, 2)},
              "dropout": {0: 0.9}, "l1": {}}
    [v] = verdicts.decide_study([verdicts.DatasetResults(
        "d", "classification", values, diverged={"none": [0], "l2": [0, 3], "dropout": [1, 2, 3], "l1": [0, 1, 2, 3]})])
    said = verdict_warnings.warnings(v)
    assert "dropout" not in v.paired and v.unpaired == ["dropout"]
    assert said[0] == ("L1 diverged on every seed (a NaN or infinite loss) while other arms trained: its strength, or "
                       "the learning rate, is too high for it; lower one (the seed advice cannot help: a retry diverges "
                       "the same way).")
    assert ("Seeds missing, of the 3 another arm finished: L2 finished 2 (1 diverged) (the rest failed" in said[1]
            and said[1].endswith("Seeds that diverge say the learning rate is too high for that arm: lower it."))
    assert said[2] == ("dropout is not compared with none: no seed finished on both sides (the others failed or "
                       "diverged), and a comparison pairs seeds.")
    everything = {arm: list(range(3)) for arm in ("none", "l2")}
    [gone] = verdicts.decide_study([verdicts.DatasetResults("r", "regression", {"none": {}, "l2": {}}, diverged=everything)],
                                   [0, 1, 2])
    assert verdict_warnings.warnings(gone)[0].startswith(
        "Every cell diverged (a NaN or infinite loss), so there is nothing to compare: lower the learning rate "
        "(optimizer: {lr: ...}); for a regression target")
    # none and an arm barely above a constant's 50%, cells diverged: not "a larger learning rate"
    low = {"none": {0: 0.53, 1: 0.50, 2: 0.56}, "l2": {s: 0.5 for s in range(3)}, "dropout": {s: 0.7 + 0.01 * s for s in range(3)}}
    [weak] = verdicts.decide_study([verdicts.DatasetResults("w", "classification", low, chance=0.5, n_test=1000,
                                                            diverged={"l2": [3]})])
    warned = verdict_warnings.chance_warning(weak)
    assert "lower it first" in warned and "larger learning rate" not in warned, warned


def test_a_validation_split_of_a_few_rows_that_chose_something_is_said(workdir, env):
    """A 60-row table at val_fraction 0.1: early stopping kept its epoch on 4 validation rows, with
    no word of it (the failing-trials audit's list). The console and the report now say so; a
    path's point chosen on them is said too, and a split that chose nothing is not."""
    import pandas as pd

    from pipeline.verdict_words import val_rows_note
    from .conftest import run_cli, write_study

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": (x[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)}) \
        .to_csv(workdir / "t.csv", index=False)
    write_study(workdir / "s.yaml", {"name": "fewval", "seeds": 3, "arms": ["none", "l2"], "epochs": 4,
                                     "early_stopping": {"patience": 2},
                                     "datasets": [{"name": "table", "path": "t.csv", "target": "label", "val_fraction": 0.1}]})
    proc = run_cli(["ablation", "--study", "s.yaml"], cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = ("The validation split has 4 rows, and it chose early stopping's epoch: a choice among so few predictions is "
            "mostly chance; a larger val_fraction (or more data) would choose on more")
    assert f"    note: {said}" in proc.stdout.splitlines()
    assert said.replace("'", "&#39;") in (workdir / "reports/fewval/report.html").read_text()
    values = {"none": {s: 0.8 + 0.01 * s for s in range(3)}, "l2": {s: 0.82 + 0.01 * s for s in range(3)}}
    path = {"l2": {"l2=1e-4": {s: {"test": 0.8, "val": 0.7} for s in range(3)},
                   "l2=1e-2": {s: {"test": 0.81, "val": 0.75} for s in range(3)}}}
    [v] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", values, paths=path, n_val=1)])
    assert val_rows_note(v).startswith("The validation split has 1 row, and it chose the paths' strengths:")
    [v] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", values, n_val=1)])
    assert val_rows_note(v) == ""   # it chose nothing
    [v] = verdicts.decide_study([verdicts.DatasetResults("d", "classification", values, paths=path, n_val=10)])
    assert val_rows_note(v) == ""


def test_a_test_split_of_a_few_rows_is_said_whatever_the_metric():
    """A regression table with a 1-row test split: every arm's R² was 0 and the warning blamed
    memorizing, with no word of the split (a failing-trials audit). Under 10 test rows the note
    says the verdicts are about those few predictions; at 40 rows of MSE, nothing."""
    from pipeline.verdict_words import test_rows_note

    values = {"none": {s: 1.0 + 0.1 * s for s in range(3)}, "l2": {s: 1.05 + 0.1 * s for s in range(3)}}
    [few] = verdicts.decide_study([verdicts.DatasetResults("r", "regression", values, n_test=1)])
    assert test_rows_note(few) == ("The test split has 1 row: every seed is scored on it, so the verdicts say how the arms "
                                   "compare on so few predictions, not how they generalize; a larger test_fraction (or "
                                   "more data) would say more")
    [enough] = verdicts.decide_study([verdicts.DatasetResults("r", "regression", values, n_test=40)])
    assert test_rows_note(enough) == ""
    # ROC AUC ranks pairs, so it has no step of its own: one positive test row decided it (85.8% ->
    # 100%, "L2 helped", with no word; a metrics audit). Said where one rare row moves it past the ROPE
    auc = {"none": {s: 0.858 + 0.001 * s for s in range(3)}, "l2": {s: 1.0 for s in range(3)}}
    [one] = verdicts.decide_study([verdicts.DatasetResults("rare", "classification", auc, metric="roc_auc", n_test=75,
                                                           test_class_rows=[1, 74, 2], chance=0.5)])
    assert test_rows_note(one) == (
        "The test split's rarer class has 1 row: that row, ranked otherwise, moves test ROC AUC by up to 100.0 pt, more "
        "than the ROPE (±1.0 pt). Every seed is scored on these same rows, so the verdicts say how the arms rank them, not "
        "how surely that carries over to new data; a larger test_fraction (or more data) would say more")
    [many] = verdicts.decide_study([verdicts.DatasetResults("rare", "classification", auc, metric="roc_auc", n_test=400,
                                                            test_class_rows=[150, 250, 2], chance=0.5)])
    assert test_rows_note(many) == ""


def test_words_count_epochs_and_batches():
    """ "trained for 2 epoches" (-ch took -es, as batches do): a report review."""
    from pipeline.words import counted

    assert counted(2, "epoch") == "2 epochs" and counted(1, "epoch") == "1 epoch" and counted(3, "batch") == "3 batches"


def test_a_diverged_cell_at_a_strength_the_file_no_longer_has_is_not_why_a_seed_is_missing(tmp_path):
    """An arm's cells are named by their strength (identity.CELL_STRENGTHS): L2's seed 1 diverged at
    l2=0.01, and the file now says 1e-3, whose seed 1 has not run yet. That seed is missing, not
    diverged: the earlier strength's cell says nothing of this one (it was counted as diverged)."""
    import optuna
    from optuna.trial import TrialState

    from pipeline import lifecycle
    from pipeline import runtree as rt
    from pipeline.results import study_results
    from pipeline.preparation import optuna_study_name
    from pipeline.storage import get_storage
    from pipeline.study import build_study

    from .conftest import tiny_study_dict

    study = build_study(tiny_study_dict(name="div", arms=["none", "l2"], seeds=2, datasets=[{"name": "wine"}]), "s.yaml")
    [plan] = study.plans
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    ostudy = optuna.create_study(study_name=optuna_study_name(study, plan), storage=get_storage(storage), direction="maximize")
    done = {"test_metric": 0.9, "final_val_metric": 0.9, "gap_metric": 0.0}

    def cell(arm: str, seed: int, variant: str, **attrs):
        finished = "test_metric" in attrs
        return optuna.trial.create_trial(state=TrialState.COMPLETE if finished else TrialState.FAIL,
                                         value=0.9 if finished else None, user_attrs={
                                             rt.CELL_ARM: arm, rt.CELL_SEED: seed, **attrs,
                                             **({rt.CELL_VARIANT: variant} if variant else {})})

    ostudy.add_trials([cell("none", 0, "", **done), cell("none", 1, "", **done), cell("l2", 0, "l2=0.001", **done),
                       cell("l2", 1, "l2=0.01", **{rt.TRIAL_OUTCOME: lifecycle.Outcome.DIVERGED.name})])
    [d] = study_results(study, storage)
    assert d.values["l2"] == {0: 0.9} and d.selected["l2"] == "l2=0.001"
    assert d.diverged == {}
