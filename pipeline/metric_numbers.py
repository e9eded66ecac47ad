"""A metric's numbers as the console, the MLflow note and the report write them: differences in the
metric's own direction (arm minus none) and units (shares in points), to three significant digits,
thousands spaced, one interval written one way. Comparisons hold differences oriented (positive =
better); `shown` turns them back."""

from __future__ import annotations

import math
import re

from . import stats
from .task import METRICS


def shown(x: float, metric: str) -> float:
    """An oriented difference (positive = better) as the console and the report write it: shares
    in points, a lower-is-better metric's sign back to arm minus none (negative = better)."""
    m = METRICS[metric]
    return x * 100 if m.share else (x if m.higher_is_better else -x)


def rope_text(rope: float, metric: str) -> str:
    """The ROPE's half-width in the units `amount` writes, e.g. "1.0 pt" or "0.0402 MSE"; a setting
    as the user wrote it, without the trailing zeros an interval's ends keep ("0.45 MSE", not 0.450)."""
    text = amount(rope if METRICS[metric].higher_is_better else -rope, metric, signed=False)
    if METRICS[metric].share or "." not in text:
        return text
    return re.sub(r"\.?0+(?=(e[+-]\d+)? )", "", text, count=1)   # the mantissa's trailing zeros: 0.450 -> 0.45


def default_rope_words(metric: str) -> str:
    """The metric's default ROPE in words: "±1 point of accuracy", "±5% of none's MSE"."""
    m = METRICS[metric]
    if isinstance(m.default_rope, str):
        return f"±{m.default_rope} of none's {m.label}"
    return f"±{100 * m.default_rope:g} point of {m.label}" if m.share else f"±{m.default_rope:g} of {m.label}"


def gap_words(metric: str) -> str:
    """How the train-test gap is taken in this metric: "train minus test accuracy", "test minus train MSE"."""
    m = METRICS[metric]
    return f"train minus test {m.label}" if m.higher_is_better else f"test minus train {m.label}"


def amount(x: float, metric: str, signed: bool = True, big: float = 0.0) -> str:
    """A difference to none in the metric's own direction (arm minus none): shares (accuracy,
    F1, AUC) in points, others as they are. Comparisons hold it oriented (positive = better), so
    a lower-is-better metric's sign flips here. `big`: the largest number written beside it."""
    if math.isnan(x):
        return "-"
    m = METRICS[metric]
    return number(shown(x, metric), metric, signed, big) + (" pt" if m.share else f" {m.label}")


def number(x: float, metric: str, signed: bool, big: float = 0.0) -> str:
    """A shown value's digits: shares to 0.1 pt, others to 3 significant digits, trailing zeros kept
    (an interval's ends alike: [-1.04, 2.50], not [-1.04, 2.5]); never "-0.0".
    Thousands are written out with spaces (+1 340 MAE [3.32, 2 680], not +1.34e+03 [3.32, 2.68e+03];
    a comma would read as a list); from ten million, or beside such a number (`big`), powers of ten,
    so that one interval is written one way."""
    x += 0.0
    rounded = abs(float(f"{x:.3g}"))   # the size as written: 999.6 is 1 000 (not "1e+03"), 9 999 999 is 1e+07
    if METRICS[metric].share:
        text = f"{x:+.1f}" if signed else f"{x:.1f}"
    elif 1e3 <= rounded and max(rounded, abs(float(f"{big:.3g}"))) < 1e7:
        text = spaced(x, signed)
    elif x == 0:
        text = "0"
    else:
        text = (f"{x:+#.3g}" if signed else f"{x:#.3g}").rstrip(".")   # '#' keeps 2.50's zero, and 100's point
    return text.lstrip("+-") if text.strip("+-0.") == "" else text


def quantity(x: float, digits: int = 3) -> str:
    """A value in the data's units, in a sentence: to `digits` significant digits, thousands
    spaced below ten million (436107 as "436 000", not 4.361e+05 or 436107), powers of ten from there."""
    rounded = float(f"{x:.{digits}g}")
    if 1e3 <= abs(rounded) < 1e7:
        return f"{rounded:,.0f}".replace(",", " ")
    return f"{x:.{digits}g}"


def table_value(x: float) -> str:
    """A value in a table's column (the console's summary, the report's), about nine characters:
    0.9712, 0.0280, 0.00686, 1637.9, 49 070 (a price's MAE), 9 496 900, 2.500e+09. To 4 decimals
    from 0.01 to 10 (shares and unit-scale losses), 3 significant digits below, trailing zeros kept
    (an MSE of 0.0069 and its std 0.0008 said little), else 5 significant digits (a noisy std's seventh digit says nothing),
    spaced below ten million, and from there a power of ten to 4 significant digits."""
    if 0 < abs(x) < 0.01:
        return f"{x:#.3g}"
    if abs(x) < 10 or x != x:
        return f"{x:.4f}"
    if abs(x) < 1e4:
        return f"{x:.5g}"
    return f"{float(f'{x:.5g}'):,.0f}".replace(",", " ") if abs(float(f"{x:.5g}")) < 1e7 else f"{x:.3e}"


def spaced(x: float, signed: bool = False) -> str:
    """Thousands to three significant digits, spaced: "+9 550 000", "431 000" (not 430 873)."""
    rounded = float(f"{x:.3g}")
    return (f"{rounded:+,.0f}" if signed else f"{rounded:,.0f}").replace(",", " ")


def largest(p: stats.Paired, metric: str) -> float:
    """The largest of a difference and its CI's ends as shown: one style for all three (number)."""
    return max((abs(shown(x, metric)) for x in (p.mean_diff, p.ci_low, p.ci_high) if not math.isnan(x)), default=0.0)


def widest(metric: str) -> float:
    """The most two values of the metric can differ by (1 for a share: 100 points); inf where
    the metric is unbounded on a side (losses, R²)."""
    low, high = METRICS[metric].bounds
    return high - low


def _limit(metric: str) -> float:
    """widest as shown: 100 (points) for a share; inf for an unbounded metric."""
    return abs(shown(widest(metric), metric))


def _beyond(metric: str) -> str:
    """"100 pt, further than a difference in test accuracy can go": what a cut interval reaches past."""
    m = METRICS[metric]
    return f"{_limit(metric):g}{' pt' if m.share else ''}, further than a difference in {m.label} can go"


def cut_words(sides: tuple[bool, bool], beyond: str, n: int) -> str:
    """Why an interval is cut, for a sentence: "its 95% CI reaches past ±100 pt, further than ..., so it
    is cut there (*): 3 seeds are too few ...". `sides`: which ends (low, high) are cut; `beyond`:
    what they reach past, after its sign (_beyond; a secondary outcome's own)."""
    side = "".join(sign for sign, past in zip("-+", sides) if past)
    return (f"its 95% CI reaches past {'±' if len(side) == 2 else side}{beyond}, so it is cut there ({CUT_MARK}): "
            f"{n} seeds are too few to say how large the difference is")


def past_bounds(p: stats.Paired, metric: str) -> bool:
    """Whether the difference's 95% CI reaches past what two values of the metric can differ by
    (accuracy from 2-3 seeds: -131 pt): `interval` writes it cut there and marked (CUT_MARK)."""
    return math.isfinite(p.ci_low) and any(cut_sides(p, metric))


CUT_MARK = "*"   # after an interval cut at the metric's bounds (past_bounds); bounds_words says why


def bounds_words(p: stats.Paired, metric: str) -> str:
    """Why an interval is cut (past_bounds), for a verdict's sentence; "" when it is not."""
    if not past_bounds(p, metric):
        return ""
    return cut_words(cut_sides(p, metric), _beyond(metric), p.n)


def cut_sides(p: stats.Paired, metric: str) -> tuple[bool, bool]:
    """Which of the 95% CI's ends as shown (low, high: points for a share, arm minus none) reach
    past what two values of the metric can differ by, so that `shown_ends` cuts them."""
    ends = sorted(shown(x, metric) for x in (p.ci_low, p.ci_high))
    return ends[0] < -_limit(metric), ends[1] > _limit(metric)


def outcome_widest(key: str, metric: str) -> float:
    """The most an arm's and none's values of a secondary outcome (verdicts.SECONDARY) can differ
    by, as a fraction: two train-test gaps of a share each lie in [-1, 1] (2: 200 pt), two shares
    of weights in [0, 1] (1: 100 pt); a loss's gap and a weight norm have no such bound (inf)."""
    if key == "gap_metric":
        return 2 * widest(metric)
    return 1.0 if key.startswith("sparsity") else math.inf


def cut_note(metric: str) -> str:
    """What CUT_MARK means, under a table whose intervals `interval` cut and marked (a path's
    differences to none): "* an interval marked so reaches past ±100 pt, ..."."""
    return (f"{CUT_MARK} an interval marked so reaches past ±{_beyond(metric)}, and is cut there: its seeds are "
            "too few to say how large the difference is")


def shown_ends(p: stats.Paired, metric: str) -> list[float]:
    """The 95% CI's ends as `interval` writes them, low first: shown (points for a share, arm minus
    none) and cut to what two values of the metric can differ by (±100 pt for a share)."""
    limit = _limit(metric)
    return sorted(min(max(shown(x, metric), -limit), limit) for x in (p.ci_low, p.ci_high))


def interval(p: stats.Paired, metric: str) -> str:
    """The 95% CI of the difference, in the same units and direction as `amount`; cut to what two
    values of the metric can differ by (±100 pt for a share) and marked where it reaches past that."""
    if math.isnan(p.ci_low):
        return ""
    if p.same_every_seed:   # "[2.0, 2.0]" would read as certain; "0.0 [-0.6, 0.6]" as if the values had moved
        return " (the same on every seed)"
    ends = shown_ends(p, metric)
    rope = abs(shown(p.rope, metric)) if math.isfinite(p.rope) else math.nan
    big = min(largest(p, metric), _limit(metric))
    return (" [" + ", ".join(_end(e, metric, big, rope) for e in ends) + "]"
            + (CUT_MARK if past_bounds(p, metric) else ""))


def _end(x: float, metric: str, big: float, rope: float) -> str:
    """A CI's end as `number` writes it, with more digits where it would read as zero or as the
    ROPE's edge though it lies on one side of it (-0.04 pt, not "0.0", whether the interval holds
    zero; 1.002 pt beside a ROPE of 1.0 pt: "1.002", not "1.0": inside the ROPE or past it decides
    between "negligible" and "better"). In number's style
    (2 502 beside a ROPE of 2 500); an end at the edge but for float error stays as it is."""
    text = number(x, metric, signed=False, big=big)
    if x != 0 and text.strip("+-0.") == "":   # "+1.7 pt [0.0, 3.5]" beside p 0.055: the end's side is the point
        return next((mine for extra in range(1, 5) if (mine := _with_digits(x, metric, big, extra)).strip("+-0.")), text)
    if math.isnan(rope) or math.isclose(abs(x), rope, rel_tol=1e-9) or \
            number(abs(x), metric, False, big) != number(rope, metric, False, big):
        return text
    for extra in range(1, 5):
        mine, edge = (_with_digits(v, metric, big, extra) for v in (x, rope))
        if mine.lstrip("-") != edge:
            return mine
    return text


def _with_digits(x: float, metric: str, big: float, extra: int) -> str:
    """`number`'s text of x with `extra` more digits."""
    if METRICS[metric].share:
        return f"{x:.{1 + extra}f}"
    rounded = float(f"{x:.{3 + extra}g}")
    if 1e3 <= abs(rounded) and max(abs(rounded), abs(float(f"{big:.3g}"))) < 1e7:
        return f"{rounded:,.0f}".replace(",", " ")
    return f"{x:#.{3 + extra}g}".rstrip(".")


def difference(p: stats.Paired, metric: str) -> str:
    """The difference and its 95% CI, written one way: "+1 340 MAE [3.32, 2 680]"."""
    return amount(p.mean_diff, metric, big=largest(p, metric)) + interval(p, metric)


def p_text(p: float) -> str:
    """A p-value as every table and sentence writes it: four decimals, "<0.0001" below, "-" for none."""
    if math.isnan(p):
        return "-"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def same_decimals(values: list[float]):
    """A formatter for a number and its interval's ends, chosen by the largest of `values`: from
    1e-4 to 1e3 the decimals that give it three significant digits, the same for all; below, each
    to two significant digits; from a thousand, each to three (spaced, or a power of ten from 1e7)."""
    top = max((abs(x) for x in values if math.isfinite(x)), default=0.0)
    if 0 < top < 1e-4:   # an MSE gap of a small-scale target: "2.1e-07", not "0.000000"
        return lambda x: f"{x:.2g}"
    if top >= 1e7:   # an MSE gap of a price in dollars: "1.24e+08 [-5.44e+08, 7.92e+08]", not nine digits
        return lambda x: f"{x:.3g}"
    if top >= 1e3:   # "431 000 [372 000, 489 000]": three significant digits, as the differences have
        return spaced
    decimals = max(0, 2 - math.floor(math.log10(top))) if top > 0 else 2
    return lambda x: f"{x:.{decimals}f}"
