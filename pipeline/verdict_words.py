"""The verdicts in words: the console summary, the MLflow note (verdict_record) and the report write
the same sentences; the numbers in them are written by `metric_numbers`."""

from __future__ import annotations

import math

from . import arms, stats
from .chance import largest_step
from .metric_numbers import (CUT_MARK, amount, bounds_words, cut_words, difference, number, outcome_widest, p_text, quantity,
                             rope_text, same_decimals)
from .path_words import flat_paths_note
from .task import METRICS
from .verdict_warnings import warnings
from .verdicts import AT_CHANCE, SECONDARY, DatasetVerdicts, Secondary, holm_counted
from .words import and_list, counted, plural


def sentence(arm: str, p: stats.Paired, metric: str, name: str = "") -> str:
    """One comparison in words, e.g. "L2: better, +1.2 pt [0.4, 2.0] (Holm p 0.003)"."""
    name = f"{name or arms.label(arm)}: "   # name: the arm with its path point (DatasetVerdicts.name)
    # adaptive seeds judge each look at its share of alpha: say which, or a p below 0.05 reads as a
    # verdict; and on how many seeds (one decided at an early look keeps that look's numbers while
    # the arm tables count every seed the dataset ran for its other comparisons)
    at = f" at α {p.alpha:.4f}, on {p.n} seeds" if p.alpha < stats.ALPHA - 1e-12 else ""
    diff = difference(p, metric)
    rope = rope_text(p.rope, metric)
    cut = f"; {words}" if (words := bounds_words(p, metric)) else ""   # an interval cut at the metric's bounds
    if p.negligible:
        # its 95% CI inside the ROPE is uncorrected: where the equivalence test does not pass Holm, say so
        unsure = (f"; equivalence not shown after Holm (p {p_text(p.p_tost_holm)}), so the smallness is not certain"
                 if not p.p_tost_holm < p.alpha else "")
        return (f"{name}{p.verdict} by less than the ROPE, {diff}, all within ±{rope} ({_holm(p)}p {p_text(p.p_t_holm)}{at}): "
                f"real, but too small to matter by this study's ROPE{unsure}")
    if p.verdict in ("better", "worse"):
        # real, but its CI reaches out of the ROPE with the mean inside it: the size may not matter
        small = (f"; its mean difference is within the ROPE (±{rope}), so it may be too small to matter"
                 if mean_within_rope(p) else "")
        return f"{name}{p.verdict}, {diff} ({_holm(p)}p {p_text(p.p_t_holm)}{at}){cut}{small}"
    if p.verdict == "equivalent":
        return (f"{name}practically the same, {diff}, within ±{rope} "
                f"(equivalence {_holm(p)}p {p_text(p.p_tost_holm)}{at})")
    if p.verdict == AT_CHANCE:
        return f"{name}no better than a constant prediction, as none ({diff}): neither learned anything to compare"
    if p.verdict == "undecided":
        more = f"; {seeds_to_decide(p)}" if p.seeds_needed else ""
        return f"{name}undecided, {diff} ({_holm(p)}p {p_text(p.p_t_holm)}{at}{_clear_before_holm(p)}){cut}{more}"
    if p.verdict == "not enough seeds":
        return f"{name}not enough seeds ({counted(p.n, 'seed')} with results for both it and none; a comparison needs 2)"
    return f"{name}{p.verdict}"


def _clear_before_holm(p: stats.Paired) -> str:
    """For an undecided comparison whose 95% CI (its own, uncorrected) is clear of zero: that only
    Holm's correction keeps it undecided ("+0.8 pt [0.3, 1.4] ... undecided" read as a contradiction).
    Not at an adaptive look (its alpha is smaller still) nor without spread (a sign test's p)."""
    if p.family > 1 and p.sd > 0 and p.alpha >= stats.ALPHA - 1e-12 and not (p.ci_low <= 0 <= p.ci_high):
        return f"; its CI is not corrected for the {p.family} comparisons, Holm's p is"
    return ""


AFFORDABLE_SEEDS = stats.AFFORDABLE_SEEDS   # beyond, a decision is out of reach for a study, and the words say why


def seeds_to_decide(p: stats.Paired) -> str:
    """How many seeds an undecided comparison needs, what they could show and how likely they are
    to, e.g. "~14 seeds could show it worse (35% chance, given these 4 seeds)": the number has 80%
    power if the difference so far were the truth, the chance averages over where the truth may
    lie (stats.chance_to_decide), so a difference seen on a few seeds is not taken at its word. It
    says when the difference they would show is smaller than the ROPE (a better that may not
    matter), and an estimate past AFFORDABLE_SEEDS says that the difference is too small for its
    spread."""
    n = p.seeds_needed
    # thousands spaced, as every number the verdicts write ("1,514" reads as a list)
    many = f"more than {quantity(stats.MAX_SEEDS)}" if n > stats.MAX_SEEDS else f"~{quantity(n, 6)}"
    text = f"{many} seeds could show it {p.needed_for}"
    # after the chance, which is of showing it, not of its being smaller; not "will be negligible"
    tail = ", though its mean difference so far is smaller than the ROPE" if _within_rope_so_far(p) else ""
    if not math.isnan(p.decide_chance):   # the chance says how rough the estimate is, for few seeds too
        rough = f"{percent(p.decide_chance)} chance, given these {p.n} seeds"
    else:   # a sign test's estimate (no spread): the spread itself is a guess from few seeds
        rough = f"a rough estimate from {p.n} seeds" if p.n < ROUGH_BELOW else ""
    if p.alpha < 0.999 * stats.ALPHA:   # adaptive seeds: estimated at the full alpha, a later look tests at less
        rough = "; ".join(filter(None, [rough, "more seeds, and less chance, at an adaptive look's share of alpha"]))
    if n > AFFORDABLE_SEEDS:
        why = (("one test row's step is wide next to the ROPE" if p.needed_for == "equivalent" else
                "its mean difference is tiny next to one test row's step")   # the floor, not the seeds' spread
               + " on a small test split: more test rows would tell sooner than more seeds" if p.floored else
               "its spread across seeds is wide next to the ROPE" if p.needed_for == "equivalent"
               else "its mean difference is tiny next to its spread across seeds"
               if math.isnan(p.rope) or abs(p.mean_diff) < p.rope else
               "its spread across seeds is wide next to its mean difference")   # not "tiny": beyond the ROPE
        return text + f" (beyond a practical study: {why}" + (f"; {rough})" if rough else ")") + tail
    return text + (f" ({rough})" if rough else "") + tail


ROUGH_BELOW = 5   # seeds: an estimate of seeds needed from fewer says so


def _within_rope_so_far(p: stats.Paired) -> bool:
    """More seeds could show it better or worse, though its mean difference so far is inside the
    ROPE: a difference that may not matter (seeds_to_decide and seeds_cell say so)."""
    return p.needed_for in ("better", "worse") and not math.isnan(p.rope) and abs(p.mean_diff) < p.rope


def seeds_cell(p: stats.Paired) -> str:
    """seeds_to_decide for a table's cell: "~15 (better, mean within the ROPE so far; 84% chance)";
    "" when no estimate applies."""
    if not p.seeds_needed:
        return ""
    many = f"> {quantity(stats.MAX_SEEDS)}" if p.seeds_needed > stats.MAX_SEEDS else f"~{quantity(p.seeds_needed, 6)}"
    what = p.needed_for
    if _within_rope_so_far(p):
        what += ", mean within the ROPE so far"   # as the sentence's "though its mean difference ... smaller"
    chance = "" if math.isnan(p.decide_chance) else f"; {percent(p.decide_chance)} chance"
    return f"{many} ({what}{chance})"


def percent(chance: float) -> str:
    """A chance to a whole percent; never "0%" or "100%" for a chance that is only near them."""
    whole = round(100 * chance)
    return "under 1%" if whole < 1 else "over 99%" if whole > 99 else f"{whole}%"


FEW_TEST_ROWS = 10   # fewer: the test metric is a handful of predictions, whatever the ROPE


def test_rows_note(v: DatasetVerdicts) -> str:
    """A note when the test split is so small that one prediction moves the primary metric by
    more than the ROPE (a row of accuracy; a row of the rarest class in balanced accuracy): every
    seed is scored on the same rows, so the verdicts compare the arms on them (the seeds vary the
    training, not the test data); "" otherwise. A test split of a few rows is said whatever the
    metric (1 row: every arm's R² 0, read as memorizing)."""
    if v.n_test is not None and v.n_test < FEW_TEST_ROWS and v.paired:
        return (f"The test split has {counted(v.n_test, 'row')}: every seed is scored on {'it' if v.n_test == 1 else 'them'}, so the "
                "verdicts say how the arms compare on so few predictions, not how they generalize; a larger "
                "test_fraction (or more data) would say more")
    if METRICS[v.metric].name == "roc_auc":
        return _auc_rows_note(v)
    step = largest_step(v)
    if not step or not v.paired or not (v.rope > 0) or step <= v.rope:
        return ""
    if METRICS[v.metric].name == "accuracy":
        rows = f"The test split has {v.n_test} rows: one prediction moves test accuracy"
    else:
        rows = (f"The test split's rarest class has {counted(v.test_class_rows[0], 'row')}: one of its predictions moves test "
                f"{METRICS[v.metric].label}")
    return (f"{rows} by {100 * step:.1f} pt, more than the ROPE (±{rope_text(v.rope, v.metric)}). Every seed is "
            "scored on these same rows, so the verdicts say how the arms compare on them, not how surely that "
            "carries over to new data; a larger test_fraction (or more data) would say more")


def _auc_rows_note(v: DatasetVerdicts) -> str:
    """test_rows_note for ROC AUC: no step of its own (it ranks pairs), but one row of the rarer
    class ranked above or below every other class's row moves it by up to 1 / its rows (a test
    split with one positive: AUC 85.8% -> 100% from that one row, read as "L2 helped")."""
    if not v.test_class_rows or not v.paired or not (v.rope > 0):
        return ""
    rare = v.test_class_rows[0]   # "up to": the worst case, so said only where the class is a handful of rows
    if rare <= 0 or rare >= FEW_TEST_ROWS or 1 / rare <= v.rope:
        return ""
    return (f"The test split's rarer class has {counted(rare, 'row')}: {'that row' if rare == 1 else 'one of them'}, ranked "
            f"otherwise, moves test ROC AUC by up to {100 / rare:.1f} pt, more than the ROPE (±{rope_text(v.rope, v.metric)}). "
            "Every seed is scored on these same rows, so the verdicts say how the arms rank them, not how surely that "
            "carries over to new data; a larger test_fraction (or more data) would say more")


def val_rows_note(v: DatasetVerdicts) -> str:
    """A note when a validation split of a few rows chose something the verdicts rest on (tuned
    strengths, a path's point, early stopping's epoch): a choice among so few predictions is
    mostly chance (a 3-row split ties most strengths); "" otherwise, and where it chose nothing."""
    if v.n_val is None or v.n_val >= FEW_TEST_ROWS or not v.val_chooses or not v.paired:
        return ""
    return (f"The validation split has {counted(v.n_val, 'row')}, and it chose {and_list(list(v.val_chooses))}: a "
            "choice among so few predictions is mostly chance; a larger val_fraction (or more data) would choose on more")


def secondary_sentence(outcome: Secondary, p: stats.Paired, metric: str) -> str:
    """E.g. "train-test gap narrower by 8.3 pt [6.9, 9.7]" (the difference as a magnitude). A CI
    that reaches past what two values of the outcome can differ by (two gaps of a share: ±200 pt,
    two shares of weights: ±100 pt) is cut there and marked, and the sentence says so, as the
    primary metric's (metric_numbers.bounds_words)."""
    ends = sorted(x * (1 if p.mean_diff >= 0 else -1) for x in (p.ci_low, p.ci_high))   # the magnitude's direction
    limit = outcome_widest(outcome.key, metric)
    sides = (ends[0] < -limit, ends[1] > limit)
    said = _secondary_words(outcome, p, metric, [min(max(e, -limit), limit) for e in ends], any(sides))
    if not any(sides):
        return said
    what = f"two train-test gaps in {METRICS[metric].label}" if outcome.key == "gap_metric" else "two shares of weights"
    return f"{said}; " + cut_words(sides, f"{100 * limit:g} pt, further than {what} can differ", p.n)


def _secondary_words(outcome: Secondary, p: stats.Paired, metric: str, ends: list[float], cut: bool) -> str:
    """secondary_sentence's words, its CI's `ends` (in the magnitude's direction) as written,
    marked where they are `cut`."""
    fine = abs(p.mean_diff) * 100 < 0.05   # a difference under 0.05 pt keeps its first digits ("0.012", not "0.0")
    # a CI narrower than 0.2 pt to two decimals: "0.68 [0.62, 0.74]", not "0.7 [0.6, 0.7]"
    narrow = not fine and abs(p.ci_high - p.ci_low) * 100 < 0.2

    def points(x: float) -> str:   # to 0.1 pt ("-0.0" is 0.0); float32 noise (6e-07) is 0.0 too
        if narrow:
            return f"{x:.2f}"
        return f"{x:.2g}" if fine and 0.001 <= abs(x) < 0.05 else number(x, "accuracy", signed=False)

    if outcome.key == "gap_metric" and METRICS[metric].share or outcome.key.startswith("sparsity"):
        unit, scale, fmt = (" pt", 100, points) if outcome.key == "gap_metric" else (" pt of |w| < 1e-3", 100, points)
    else:   # the size and its CI's ends to the same decimals: "4.00 [3.95, 4.06]", not "4 [3.95, 4.06]"
        unit, scale = (f" {METRICS[metric].label}" if outcome.key == "gap_metric" else ""), 1
        fmt = same_decimals([p.mean_diff, *ends])
    size = fmt(abs(p.mean_diff) * scale) + unit
    ci = "" if math.isnan(p.ci_low) else \
        " [" + ", ".join(_keeps_side(fmt(e * scale), e * scale) for e in ends) + "]" + (CUT_MARK if cut else "")
    if p.same_every_seed:   # "smaller by 0.00528 [0.00528, 0.00528]" beside "undecided" read as a contradiction
        ci = " on every seed"
    small = " (by less than the ROPE)" if p.negligible else ""   # real, but within what the study counts as nothing
    if outcome.key == "weight_l2_total" and math.isfinite(p.baseline_mean):   # a norm means little without none's
        small += f", from none's {same_decimals([p.baseline_mean])(p.baseline_mean)}"
    if p.verdict == "better":
        return f"{outcome.label} {outcome.words[0]} by {size}{ci}{small}"
    if p.verdict == "worse":
        return f"{outcome.label} {outcome.words[1]} by {size}{ci}{small}"
    if p.verdict == "not enough seeds":   # was "train-test gap not enough seeds (0.0 pt on average)" of one seed
        seen = "no difference" if p.mean_diff == 0 else f"{outcome.words[0 if p.mean_diff > 0 else 1]} by {size}"
        return f"{outcome.label} not tested ({seen} on {counted(p.n, 'seed')})"
    if p.mean_diff == 0:   # no direction to name ("wider by 0.0 pt [0.0, 0.0]" named one)
        how = "the same on every seed" if p.same_every_seed else f"{size} on average{ci}"
        return f"{outcome.label} {'practically unchanged' if p.verdict == 'equivalent' else p.verdict} ({how})"
    direction = outcome.words[0] if p.mean_diff > 0 else outcome.words[1]
    if p.verdict == "equivalent":   # within the ROPE, but which way it leaned is said
        return f"{outcome.label} practically unchanged ({direction} by {size}{ci})"
    return f"{outcome.label} {p.verdict} ({direction} by {size}{ci})"


def _keeps_side(text: str, x: float) -> str:
    """A CI's end that would read as zero with more decimals, as the test metric's keeps its side
    (metric_numbers._end): "narrower by 1.6 pt [-0.04, 3.2]", not "[0.0, 3.2]" beside "undecided"."""
    if x == 0 or text.strip("+-0.") or "." not in text:
        return text
    decimals = len(text.split(".")[1])
    return next((mine for extra in range(1, 5) if (mine := f"{x:.{decimals + extra}f}").strip("+-0.")), text)


def secondary_sentences(v: DatasetVerdicts, arm: str) -> list[str]:
    by_key = {o.key: o for o in SECONDARY}
    mine = v.secondary.get(arm, {})
    out = [secondary_sentence(by_key[k], p, v.metric) if not (k == "gap_metric" and v.train_perfect) else
           f"train-test gap mirrors the test {METRICS[v.metric].label} (training {METRICS[v.metric].label} perfect "
           "for every arm)" for k, p in mine.items()]
    if arm in v.train_fit_worse:   # said with the gap's sentence: it is where its narrowing comes from
        out[list(mine).index("gap_metric")] += (
            f", and {v.name(arm)} fits the training data worse than none (train {METRICS[v.metric].label} "
            f"{_train_change(v.metric, v.train_fit_worse[arm])}): what narrowing there is comes from the training side")
    if arm in v.gap_closed:
        out.append(gap_closed_sentence(v, arm))
    primary = v.paired.get(arm)
    n = max((p.n for p in mine.values()), default=0)
    if out and primary is not None and n != primary.n:   # adaptive seeds: decided at an earlier look than these
        out[0] = f"on all {n} seeds: {out[0]}"
    return out


def _train_change(metric: str, values: tuple[float, float]) -> str:
    """none's training metric → an arm's: "99.1% → 95.3%", "0.0012 → 0.0031": to the decimals that
    show their difference (two significant digits of it), not "100 → 100", and two significant digits
    of the smaller (none's 0.0032 written so beside every arm, not 0.003 beside one of them)."""
    share = METRICS[metric].share
    scale = 100.0 if share else 1.0
    step = scale * abs(values[0] - values[1])
    decimals = max(0, 1 - math.floor(math.log10(step))) if step > 0 and math.isfinite(step) else None
    if share:   # in percent: to 0.1, finer where that would write "100.0% → 100.0%"
        return " → ".join(f"{scale * x:.{min(max(decimals or 1, 1), 4)}f}%" for x in values)
    if decimals is not None and (smallest := min((abs(x) for x in values if x != 0 and math.isfinite(x)), default=0.0)):
        decimals = max(decimals, 1 - math.floor(math.log10(smallest)))
    if decimals is None or decimals > 8 or max(abs(x) for x in values) >= 1e7:
        return " → ".join(f"{x:.3g}" for x in values)
    return " → ".join(f"{x:,.{decimals}f}".replace(",", " ") for x in values)   # 318 131 → 764 865


def gap_closed_sentence(v: DatasetVerdicts, arm: str) -> str:
    """E.g. "L2 closes 54% [44%, 62%] of the train-test gap that none leaves open (gap 0.00796 with
    none, 0.00366 with L2)", or "closes the train-test gap ..." when the rest is within the ROPE."""
    g, name, m = v.gap_closed[arm], v.name(arm), METRICS[v.metric]
    same = same_decimals([g.none_gap, g.arm_gap])   # "gap 9.00 with none, 7.94 with dropout", not "9" beside "7.94"
    none_gap, arm_gap = (amount(x, v.metric) if m.share else same(x) for x in (g.none_gap, g.arm_gap))
    train = _train_change(v.metric, (g.train_none, g.train_arm))
    if g.no_gain in ("worse", "at chance"):
        test = "is worse" if g.no_gain == "worse" else "is no better than a constant prediction's"
        if not g.fits_worse:   # no worse a fit: no model to speak of
            return (f"{name} narrows the train-test gap (gap {none_gap} with none, {arm_gap} with {name}), but its test "
                    f"{m.label} {test}: not a gap closed")
        test += " too" if g.no_gain == "worse" else ""
        # a narrower gap bought with a worse fit, not a regularizer doing its job
        return (f"{name} narrows the train-test gap (gap {none_gap} with none, {arm_gap} with {name}) by fitting the "
                f"training data worse (train {m.label} {train}), and its test {m.label} {test}: underfitting, "
                "not a gap closed")
    # no interval: fewer than 3 seeds, or none's gap not clearly above zero on them (unbounded)
    ci = " (no interval from these seeds)" if math.isnan(g.share_low) else f" [{g.share_low:.0%}, {g.share_high:.0%}]"
    how_much = "" if g.fully else f"{g.share:.0%}{ci} of "
    closes = (f"{name} closes {how_much}the train-test gap that none leaves open "
              f"(gap {none_gap} with none, {arm_gap} with {name})")
    if how_much and not math.isnan(g.share_high) and round(100 * g.share_high) > 100:   # "[68%, 101%]" read as a typo
        closes += "; past 100%: its test score may match or beat its training score"
    if g.no_gain in ("same", "undecided"):   # closed from the training side: the test metric did not gain (yet)
        leans_worse = arm in v.paired and v.paired[arm].mean_diff < 0   # "not clearly better" would hint it might be
        test = ("practically the same as none's: a narrower gap, not a better model" if g.no_gain == "same" else
                "worse than none's so far, not yet decided (undecided)" if leans_worse else
                "not clearly better than none's yet (undecided)")
        closes += f", by fitting the training data worse (train {m.label} {train}); its test {m.label} is {test}"
    return closes


def answer_lines(v: DatasetVerdicts, rounds: str = "") -> list[str]:
    """The dataset's answer (then `rounds`, what adaptive seeds did) with its ROPE, and its warning
    when there is one: console lines."""
    rope = f"  (ROPE ±{rope_text(v.rope, v.metric)})" if v.paired and not math.isnan(v.rope) else ""
    notes = [n for n in (test_rows_note(v), val_rows_note(v), flat_paths_note(v)) if n]
    return [headline(v) + rounds + rope] + [f"    WARNING: {w}" for w in warnings(v)] + [f"    note: {n}" for n in notes]


def no_comparison(v: DatasetVerdicts) -> str:
    """Why a dataset that ran has no comparison with none, in words: every cell diverged, none did
    (or failed) on every seed, the other arms did, or no seed has both."""
    if v.cells and sum(v.diverged.values()) == v.cells:
        return "every cell diverged"
    if v.no_baseline:
        return "none " + ("diverged on every seed" if v.baseline_diverged else "has no finished run")
    if v.no_runs and not v.unpaired:   # every other arm failed or diverged on every seed
        return f"{and_list([v.name(a) for a in v.no_runs])} {plural(len(v.no_runs), 'has')} no finished run"
    return "no seed has a finished run of both none and another arm"


def best_arm(v: DatasetVerdicts):
    """The arm the report stars: the best of those better than none, where the seeds tell it
    from the others, and only if it beats a constant prediction too (one that only undid none's
    overfitting is better than none, not good); None otherwise."""
    if v.winners and (len(v.winners) == 1 or v.winners_distinct) and v.winners[0] not in v.at_chance:
        return v.winners[0]
    return None


def headline(v: DatasetVerdicts) -> str:
    """The dataset's answer in one line."""
    if not v.ran:   # its task and metric are not known yet either: nothing about a comparison
        return f"{v.label}: not run yet (no run of this configuration ended)"
    if not v.paired:
        # "it has no finished runs" left unclear whether "it" was none or the arms
        return f"{v.label}: no comparison with none ({no_comparison(v)})"
    labels = [v.name(a) for a in v.winners]
    small = {verdict: [v.name(a) for a, p in v.paired.items() if p.negligible and p.verdict == verdict]
             for verdict in ("better", "worse")}
    if not labels:
        still_open = any(p.verdict in ("undecided", "not enough seeds") for p in v.paired.values())
        answer = ("no arm is better than none" + (" by more than the ROPE" if small["better"] else "")
                  + (" so far" if still_open else ""))   # undecided ones may yet be: not a negative result
    elif len(labels) == 1:
        answer = f"{labels[0]} is better than none"
    elif v.winners_distinct:
        answer = f"{', '.join(labels)} are better than none, and {labels[0]} is the best of them"
    elif v.winners_same:
        answer = f"{', '.join(labels)} are better than none, and practically the same as each other (within the ROPE)"
    elif v.best_group:   # some of them, not all
        rest = [v.name(a) for a in v.winners if a not in v.best_group]
        answer = (f"{', '.join(labels)} are better than none; {and_list(list(map(v.name, v.best_group)))}, practically "
                  f"the same as each other, are the best of them ({and_list(rest)} behind)")
    else:
        answer = (f"{', '.join(labels)} are better than none; the seeds cannot tell which is best"
                  + (f" (Holm p {p_text(v.winners_p)})" if math.isfinite(v.winners_p) else ""))
    parts = [answer]
    for verdict in ("better", "worse"):
        if small[verdict]:
            parts.append(f"{', '.join(small[verdict])} {verdict} than none by less than the ROPE (negligible)")
    for verdict, words in (("worse", "worse than none"), ("equivalent", "practically the same as none"),
                           ("undecided", "undecided"), (AT_CHANCE, "at chance level, as none"),
                           ("not enough seeds", "not compared: fewer than 2 seeds with results beside none's")):
        which = [v.name(a) for a in v.arms_with(verdict) if not v.paired[a].negligible]
        if which:
            parts.append(f"{', '.join(which)} {words}")
    if v.no_runs:   # every seed failed or diverged: not compared, and not left unsaid
        parts.append(f"{', '.join(map(v.name, v.no_runs))} {'has' if len(v.no_runs) == 1 else 'have'} no finished run")
    return f"{v.label}: " + "; ".join(parts)


def holm_family(decided: list[DatasetVerdicts]) -> str:
    """The study's Holm family for the console's verdicts header: "Holm over all 16 comparisons",
    and the comparisons left out of it (an arm and none both at chance; fewer than 2 seeds), so
    that "one comparison" is not read as one arm studied."""
    n = sum(holm_counted(p) for v in decided for p in v.paired.values())
    words = {0: "no comparison to correct", 1: "one comparison, so no Holm correction"}.get(
        n, f"Holm over all {n} comparisons")
    left = left_out_of_holm(decided)
    return words + (f" ({'; '.join(left)})" if left else "")


def left_out_of_holm(decided: list[DatasetVerdicts], chance_where: str = "") -> list[str]:
    """The comparisons the study's Holm family leaves out, in words (the console's verdicts header
    and the report's notes): arms that, like none, did no better than a constant prediction, and
    comparisons with fewer than 2 seeds shared with none. `chance_where` points to where those
    arms are named (the report: " (at chance, below)")."""
    compared = [p for v in decided for p in v.paired.values()]
    n = sum(holm_counted(p) for p in compared)
    chance = sum(p.verdict == AT_CHANCE for p in compared)
    untested = len(compared) - n - chance
    other = "other " if n else ""
    return ([f"{chance} {other}{plural(chance, 'arm')} not compared with none: {'it' if chance == 1 else 'they'} and "
             f"none did no better than a constant prediction{chance_where}"] * bool(chance)
            + [f"{untested} {other}{plural(untested, 'comparison')} not tested: fewer than 2 seeds shared with none"]
            * bool(untested))


def _holm(p: stats.Paired) -> str:
    """ "Holm " before a p that Holm's correction adjusted; nothing when its family is one comparison."""
    return "" if p.family == 1 else "Holm "


def secondary_families(decided: list[DatasetVerdicts]) -> str:
    """Each secondary outcome's Holm family, its arms x datasets, e.g. "train-test gap: 8
    comparisons; sparsity: 2; weight norm: 4"; "" when none was judged."""
    names = {"gap_metric": "train-test gap", "sparsity_lt_0.001": "sparsity", "weight_l2_total": "weight norm"}
    # what Holm counted: comparisons with a p (one shared seed has none)
    sizes = [(names.get(o.key, o.label), sum(o.key in v.secondary.get(arm, {}) and not math.isnan(v.secondary[arm][o.key].p_t)
                                             for v in decided for arm in v.paired))
             for o in SECONDARY]
    named = [f"{label}: {counted(n, 'comparison') if i == 0 else n}" for i, (label, n) in enumerate(x for x in sizes if x[1])]
    return "; ".join(named)


def mean_within_rope(p: stats.Paired) -> bool:
    """A real difference (better or worse, not negligible) whose mean is smaller than the ROPE."""
    return not p.negligible and abs(p.mean_diff) < p.rope
