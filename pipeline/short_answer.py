"""In short: the study's answer in a few sentences for a reader who is not a statistician (the
console summary's and the report's first lines): where a regularizer helped and by how much,
where one made things worse or leans worse, what is settled, what is still open, and where the
data leave no answer (a leak, nothing learned, a perfect score)."""

from __future__ import annotations

import math
from collections import Counter

from . import arms
from .metric_numbers import quantity
from .path_points import mode_name
from .task import METRICS
from .verdict_warnings import constant_prediction, seeds_added_warning, warnings
from .verdict_words import AFFORDABLE_SEEDS, mean_within_rope, no_comparison
from .verdicts import AT_CHANCE, DatasetResults, DatasetVerdicts
from .words import and_list, counted, named, plural


# In short's sentence on the datasets of each group (in_short), written once for them all
GROUP_WORDS = (("settled", "no regularizer made a difference that matters (beyond the study's ROPE)"),
               ("unsettled", "no regularizer has helped yet"),
               ("too few", "there are too few seeds to compare the arms (at least 2; 6 or more let the "
                           "Wilcoxon test check the t-test)"),
               ("nothing learned", "the models learned little or nothing, so there is no answer about "
                                   "regularization there"),
               ("misfit", "every arm did worse than always predicting the training median under MAE, "
                          "so there is no answer about regularization there in that metric (see the warning)"),
               ("perfect", "every arm was perfect on every seed, so nothing tells them apart (a feature may "
                           "give the target away)"))


def in_short(decided: list[DatasetVerdicts], means: dict[str, dict[str, float]]) -> list[str]:
    """The study's answer for a reader who is not a statistician, a few sentences: where a
    regularizer helped (and by how much, none's mean test value to the arm's), where one made
    things worse, where nothing mattered, what is still undecided and where the models learned
    too little to say. `means`: {dataset: {arm: mean test value over seeds}}."""
    out, counts = [], Counter()   # the open comparisons: "undecided", "out of reach", "untested", "at max"
    ends, deferred = {}, {}   # where each dataset's own sentences end; caveats that follow its group's sentence
    groups: dict[str, list[str]] = {"settled": [], "unsettled": [], "too few": [],
                                    "nothing learned": [], "misfit": [], "perfect": []}
    for v in decided:
        if not v.paired:
            continue
        if v.leaky_columns:   # said first: every verdict that follows is about a model that reads the answer
            out.append(_leak(v))
        if v.perfect:
            groups["perfect"] += [] if v.leaky_columns else [v.label]
            continue
        if v.at_chance and set(v.at_chance) >= {*v.paired, arms.BASELINE} and arms.BASELINE not in v.below_chance:
            groups["misfit" if v.misfit_train is not None else "nothing learned"].append(v.label)
            continue
        if all(p.verdict == "not enough seeds" for p in v.paired.values()):
            groups["too few"].append(v.label)
            continue
        mine, start = means.get(v.label, {}), len(out)
        out += _helped(v, mine) + _leanings(v, mine) + _inert(v)
        undid, hurt = [a for a in v.winners if a in v.at_chance], [a for a in v.arms_with("worse") if not v.paired[a].negligible]
        open_here = len(v.arms_with("undecided")) + len(v.arms_with("not enough seeds"))
        if hurt:   # with nothing better, said in the same sentence (not again as "On X, no regularizer helped")
            tail = "" if v.winners else "; no regularizer has helped yet" if open_here else "; no regularizer helped"
            out.append(f"On {v.label}, {' and '.join(map(v.name, hurt))} made it worse{_small_harm(v, hurt)}: "
                       + "; ".join(f"{v.name(a)} {_change(v, mine, a)}" if len(hurt) > 1 else _change(v, mine, a)
                                   for a in hurt) + tail + ".")
        few, far = len(v.arms_with("not enough seeds")), sum((v.paired[a].seeds_needed or 0) > AFFORDABLE_SEEDS for a in v.arms_with("undecided"))
        maxed = v.adaptive and v.stopped == "maximum reached"   # adaptive seeds ran out: no "more seeds could decide"
        counts.update({"at max" if maxed else "undecided": open_here - few - far, "out of reach": far, "untested": few})
        level = [a for a in v.at_chance if not (a == arms.BASELINE and a in v.below_chance) and a not in undid]
        if arms.BASELINE in v.below_chance and not undid:   # "undid/lessened none's overfitting" said it
            out.append(f"On {v.label}, none did worse than always predicting {constant_prediction(v)}: it overfits"
                       + (", or a few extreme target rows mislead" if v.far_targets else "") + " (see the warning).")
        if level:   # some arms only: all of them is "nothing learned" above
            out.append(f"On {v.label}, {and_list(list(map(v.name, level)))} scored no better than "
                       f"always predicting {constant_prediction(v)} (see the warning).")
        settled = _settled_so_far(v)
        if not v.winners and open_here and settled:   # what is settled is said, not hidden under "not yet"
            out.append(f"On {v.label}, {settled}" + ("." if hurt else "; no other regularizer has helped yet."))
        elif not v.winners and not hurt and not _leaning(v, "better"):   # all settled, none mattered; or some open
            out += _none_mattered(v, open_here, groups)
        # after the sentence it qualifies: a dataset in a group gets that sentence later (_with_groups)
        caveats = _chosen_among_equals(v) + _added_after(v)
        if any(v.label in g for g in groups.values()):
            deferred[v.label] = caveats
        else:
            out += caveats
        if len(out) > start:   # its group's sentence goes here: after its verdicts, before l2_mode's
            ends[v.label] = len(out)
        out += _modes(v, mine.get(arms.BASELINE, math.nan))
    # a dataset that ran without a comparison: In short said nothing of it, as if it had not been in the study
    out += [f"On {v.label}, there is no answer: {no_comparison(v)} (see the warning)." if warnings(v) else
            f"On {v.label}, there is no answer: {no_comparison(v)}." for v in decided if v.ran and not v.paired]
    return _named_once(_with_groups(out, groups, ends, deferred), [v.label for v in decided]) + _open_counts(counts)


def _with_groups(out: list[str], groups: dict[str, list[str]], ends: dict[str, int], deferred: dict) -> list[str]:
    """In short's sentences with each group's ("On digits and wine, no regularizer has helped yet."):
    a group of one dataset that has sentences of its own right after them (it came at the end, the
    dataset named twice, apart), the others at the end; then its caveats (`deferred`)."""
    tail, inserts = [], []
    for key, words in GROUP_WORDS:
        labels = groups[key]
        if not labels:
            continue
        sentence = f"On {and_list(labels)}, {words}."
        if len(labels) == 1 and labels[0] in ends:
            inserts.append((ends[labels[0]], [sentence, *deferred.pop(labels[0], [])]))
        else:   # then its datasets' caveats, before another group's sentence
            tail += [sentence, *(s for label in labels for s in deferred.pop(label, []))]
    for at, sentences in sorted(inserts, reverse=True):
        out[at:at] = sentences
    return out + tail + [s for caveats in deferred.values() for s in caveats]


def _named_once(sentences: list[str], labels: list[str]) -> list[str]:
    """Consecutive sentences about one dataset name it once: "On X, L2 helped: .... Not yet decided:
    ..." (each began "On X, ", up to three times in a row)."""
    out, previous = [], None
    for s in sentences:
        prefix = max((f"On {label}, " for label in labels if s.startswith(f"On {label}, ")), key=len, default=None)
        rest = s[len(prefix):] if prefix else s
        # "None did worse" would read as "nobody": a sentence about the arm none keeps the name
        again = prefix and prefix == previous and not rest.startswith(f"{arms.BASELINE} ")
        out.append(rest[:1].upper() + rest[1:] if again else s)
        previous = prefix
    return out


def _small_harm(v: DatasetVerdicts, hurt: list[str]) -> str:
    """What "made it worse" needs beside arms whose mean lies within the ROPE, as "helped" has it:
    ", by less than the ROPE on average", or which of them did so; "" where none does."""
    small = [a for a in hurt if mean_within_rope(v.paired[a])]
    if not small:
        return ""
    if len(small) == len(hurt):
        return f", {'each ' if len(hurt) > 1 else ''}by less than the ROPE on average"
    return f" ({and_list(list(map(v.name, small)))} by less than the ROPE on average)"


def _leak(v: DatasetVerdicts) -> str:
    """In short's sentence on a dataset whose table has columns that give the target away."""
    n, columns = len(v.leaky_columns), named("column", v.leaky_columns)
    if v.perfect:
        return (f"On {v.label}, every arm was perfect on every seed, so nothing tells them apart: {columns} "
                f"{plural(n, 'gives')} the target away (see the data warnings).")
    # hedged: a measurement that separates the classes may be a real, strong one (the warning says which)
    return (f"On {v.label}, {columns} may give the target away (see the data warnings); if so, what follows compares "
            f"regularizers on a model that can read the answer: drop {'it' if n == 1 else 'them'} "
            "(preprocess.drop_columns) for an answer about the task itself.")


def _leanings(v: DatasetVerdicts, mine: dict[str, float]) -> list[str]:
    """In short's sentence on undecided arms whose mean differs from none's by more than the ROPE,
    with an affordable number of seeds to tell ("~17 seeds could show it worse" is not hidden under
    "still undecided"), either way: a lean worse warns, a lean better is what a user would add seeds
    for. Both are said to be undecided; "" when there is none."""
    def lean(arms_: list[str], way: str) -> tuple[str, str]:
        changes = "; ".join(f"{v.name(a)} {_change(v, mine, a)}" if len(arms_) > 1 else _change(v, mine, a)
                            for a in arms_)
        return f"{and_list(list(map(v.name, arms_)))} {'leans' if len(arms_) == 1 else 'lean'} {way} so far", changes

    better, worse = _leaning(v, "better"), _leaning(v, "worse")
    if better and worse:   # one sentence for the dataset: "On X, not yet decided: A leans better so far, ...; B ..."
        return [f"On {v.label}, not yet decided: " + "; ".join(", ".join(lean(arms_, way))
                                                             for arms_, way in ((better, "better"), (worse, "worse"))) + "."]
    return [f"On {v.label}, {words}, not yet decided: {changes}."
            for arms_, way in ((better, "better"), (worse, "worse")) if arms_ for words, changes in [lean(arms_, way)]]


def _leaning(v: DatasetVerdicts, way: str) -> list[str]:
    """The undecided arms whose estimate leans `way` ("better" | "worse") by more than the ROPE,
    with an affordable number of seeds to tell."""
    return [a for a in v.arms_with("undecided") if v.paired[a].needed_for == way
            and abs(v.paired[a].mean_diff) >= v.paired[a].rope and (v.paired[a].seeds_needed or 0) <= AFFORDABLE_SEEDS]


def _inert(v: DatasetVerdicts) -> list[str]:
    """In short's sentence on arms whose test values are none's on every seed: at the strength tried
    (or selected on a path) they changed nothing, and "made no difference that matters" read as the
    regularizer being of no use, when a stronger setting (a point further along its path, within
    one SE on validation) gave +0.8 pt."""
    inert = _inert_arms(v)
    if not inert:
        return []
    one, on_path = len(inert) == 1, any(a in v.selected for a in inert)
    # the test values alone are none's (its weights and other metrics may differ): "trained exactly as
    # none did" said more than that (a study-evolution audit)
    return [f"On {v.label}, {and_list(list(map(v.name, inert)))} scored exactly as none did (the same test "
            f"{METRICS[v.metric].label} on every seed): too weak at {'that strength' if one else 'those strengths'} "
            f"to change the test predictions that count, which says nothing of {'it' if one else 'them'} at a strength "
            "that does" +
            (f"; the report's path shows {'its' if one else 'their'} other strengths." if on_path else
             f"; try {'a stronger one' if one else 'stronger ones'}.")]


def _none_mattered(v: DatasetVerdicts, open_here: int, groups: dict[str, list[str]]) -> list[str]:
    """A dataset where no regularizer helped nor hurt: named in its group of datasets ("unsettled":
    some comparisons still open; "settled"), whose sentence In short writes once for them all; or,
    where some arms scored exactly as none did, a sentence of its own naming the others ("no
    regularizer made a difference" would take back _inert's "too weak to act"), or none at all."""
    inert = _inert_arms(v)
    if open_here or not inert:
        groups["unsettled" if open_here else "settled"].append(v.label)
        return []
    others = [v.name(a) for a in v.paired if a not in inert]
    return [f"On {v.label}, {and_list(others)} made no difference that matters (beyond the study's ROPE)."] if others else []


def _added_after(v: DatasetVerdicts) -> list[str]:
    """In short's caveat where seeds were added after results were seen (optional stopping): the
    warning was on the verdict lines and in the report alone, not in the paragraph a reader (and
    the root run's description) stops at."""
    if not seeds_added_warning(v):
        return []
    return [f"On {v.label}, seeds were added after results were seen: if an undecided look is why, these verdicts "
            "are less sure than they read (see the warning)."]


def _chosen_among_equals(v: DatasetVerdicts) -> list[str]:
    """In short's caveat on arms whose strength was chosen among near-equals (path_words.
    flat_paths_note): "L1 (l1=1e-05) made no difference that matters" read as L1's answer, when
    a stronger point within one SE on validation was +0.8 pt; the note under the answer said so,
    the sentence a reader skims did not. (A path over settings, l2_mode's, has _modes' sentence.)"""
    flat = [a for a in v.paired if a in v.flat_paths and a in v.path_place]
    if not flat:
        return []
    one = len(flat) == 1
    return [f"On {v.label}, {and_list(list(map(v.name, flat)))} {'was' if one else 'were'} chosen on validation "
            f"among {f'{v.flat_paths[flat[0]]} strengths' if one else 'strengths'} that validation barely tells apart (all "
            f"within one SE), so {'its verdict is about that strength' if one else 'their verdicts are about those strengths'}"
            " alone: the report's path shows how the others compare with none."]


def _inert_arms(v: DatasetVerdicts) -> list[str]:
    """The arms whose test values are none's on every seed (two seeds at least)."""
    return [a for a, p in v.paired.items() if p.identical and p.n >= 2]


def _settled_so_far(v: DatasetVerdicts) -> str:
    """"dropout made no difference that matters and L1 only a small one (better, within the ROPE)":
    the arms already settled on a dataset whose other comparisons are open (those that trained as
    none did have _inert's sentence); "" when none is."""
    same = [v.name(a) for a in v.arms_with("equivalent") if not v.paired[a].identical]
    small = [v.name(a) for a, p in v.paired.items() if p.negligible and p.verdict == "better"]
    if same and small:
        return (f"{and_list(same)} made no difference that matters and {and_list(small)} only a small one (better, "
                "within the ROPE)")
    if same:
        return f"{and_list(same)} made no difference that matters"
    return f"{and_list(small)} made only a small difference (better, within the ROPE)" if small else ""


def _helped(v: DatasetVerdicts, mine: dict[str, float]) -> list[str]:
    """In short's sentences on the arms better than none: those that helped, and those better than
    a none that overfits below a constant but no better than the constant (harm undone, not help)."""
    out = []
    learned, undid = [a for a in v.winners if a not in v.at_chance], [a for a in v.winners if a in v.at_chance]
    if learned:
        first, rest = learned[0], learned[1:]
        small = [v.name(a) for a in rest if mean_within_rope(v.paired[a])]
        too = (f" ({', '.join(map(v.name, rest))} helped too"
               + (f"; {and_list(small)} by less than the ROPE on average" if small else "") + ")") if rest else ""
        out.append(f"On {v.label}, {v.name(first)} helped"
                   + (", by less than the ROPE on average" if mean_within_rope(v.paired[first]) else "")
                   + f": {_change(v, mine, first)}{too}.")
    back, less = [a for a in undid if a not in v.below_chance], [a for a in undid if a in v.below_chance]
    if back:   # back at the constant's level (and those that only lessened it, named)
        out.append(f"On {v.label}, {and_list(list(map(v.name, back)))} undid none's overfitting: "
                   f"{_change(v, mine, back[0])}, about what always predicting {constant_prediction(v)} "
                   "scores, not better" + (f" ({and_list(list(map(v.name, less)))} lessened it)" if less else "") + ".")
    elif less:
        out.append(f"On {v.label}, {and_list(list(map(v.name, less)))} lessened none's overfitting: "
                   f"{_change(v, mine, less[0])}, still worse than always predicting {constant_prediction(v)}.")
    return out


def _open_counts(counts: Counter) -> list[str]:
    undecided, untested, out_of_reach, at_max = (counts[k] for k in ("undecided", "untested", "out of reach", "at max"))
    return ([f"{counted(undecided, 'comparison')} {plural(undecided, 'is')} still undecided: more seeds could "
             f"decide {'it' if undecided == 1 else 'them'} (each comparison says how many, and how likely)."] * bool(undecided)
            + [f"{counted(untested, 'comparison')} could not be tested: fewer than 2 seeds with a result on both "
               "sides."] * bool(untested)
            + [f"{counted(out_of_reach, 'comparison')} {plural(out_of_reach, 'is')} undecided beyond what a practical "
               f"number of seeds can settle (more than {AFFORDABLE_SEEDS}; each comparison says why)."] * bool(out_of_reach)
            + [f"{counted(at_max, 'comparison')} {plural(at_max, 'is')} still undecided at the adaptive seeds' maximum "
               "(each comparison says how many seeds it would need; raising max now would be a choice made knowing the "
               "results)."] * bool(at_max))


def _modes(v: DatasetVerdicts, none: float = math.nan) -> list[str]:
    """In short's sentence on a path over l2_mode: its modes against each other at the same
    strength (verdicts' `modes`), the tutorial's "the penalty in the loss or the optimizer's weight
    decay?". Modes that train alike are said once, then compared as one; what holds at several
    strengths alike is said once for all of them ("at l2=0.001 and l2=0.01"); the same whatever
    order the study file lists the modes in. `none`: none's mean test value, to say when the mode
    that won did so by staying at none's level (decoupled decay too weak to act) while the others
    fell below it: "beat" alone reads as decoupled helping."""
    out = []
    for arm, pairs in v.modes.items():
        alike = _alike(pairs)
        said: dict[tuple[str, str], list[str]] = {}   # (what, what follows the settings) -> the settings
        for shared, group in dict.fromkeys(alike.values()):
            if len(group) > 1:
                said.setdefault((f"{and_list(list(group))} gave the same numbers on every seed", " (they train alike)"),
                                []).append(shared)
        for h in pairs:
            if h.identical:
                continue
            (first, shared), (second, _) = mode_name(h.first), mode_name(h.second)
            # the sides as groups of modes alike, the larger (then alphabetically) first
            one, other = sorted([alike[h.first][1], alike[h.second][1]], key=lambda g: (-len(g), g))
            if h.favours(h.first) or h.favours(h.second):
                better, worse = (first, second) if h.favours(h.first) else (second, first)
                means = _pair_means(h, METRICS[v.metric].higher_is_better)
                winner, loser = (one, other) if better in one else (other, one)
                key = (f"{and_list(list(winner))} beat {and_list(list(loser))}",
                       f" ({_change_between(v.metric, means[worse], means[better])}"
                       f"{_beside_none(v, none, means[better], means[worse], winner, loser)})")
            elif h.paired.verdict == AT_CHANCE:
                key = (f"{and_list(list(one))} and {and_list(list(other))} both did no better than a constant "
                       "prediction", "")
            elif h.same():
                key = (f"{and_list(list(one))} did practically the same as {and_list(list(other))}", "")
            else:
                key = (f"{and_list(list(one))} against {and_list(list(other))}", ": not decided yet")
            if shared not in said.get(key, []):   # modes alike are one: their pairs with a third said once
                said.setdefault(key, []).append(shared)
        sentences = [what + (f" at {and_list(settings)}" if any(settings) else "") + after
                     for (what, after), settings in said.items()]
        if sentences:   # no pair with 2 shared seeds yet: nothing to say
            out.append(f"On {v.label}, {arms.label(arm)} as a penalty in the loss or the optimizer's decay (l2_mode): "
                       f"{'; '.join(sentences)}.")
    return out


def _beside_none(v: DatasetVerdicts, none: float, won: float, lost: float, winner, loser) -> str:
    """"; none scores 93.5%: decoupled is about none's level there, penalty below it" where the
    winning mode's mean is within the ROPE of none's and the losing one's below it by more; "" otherwise."""
    if not (math.isfinite(none) and abs(won - none) < v.rope):
        return ""
    sign = 1.0 if METRICS[v.metric].higher_is_better else -1.0
    if not sign * (lost - none) < -v.rope:
        return ""
    return (f"; none scores {_level(v.metric, none)}: {and_list(list(winner))} is about none's level there, {and_list(list(loser))} "
            "below it")


def _alike(pairs: list) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{path point: (the settings it shares with its pairs, e.g. "l2=0.001" or "", the modes at
    those settings that train alike with it, itself included, alphabetically)} over a path's mode
    pairs."""
    groups: dict[str, list[str]] = {}
    for h in pairs:
        for point in (h.first, h.second):
            groups.setdefault(point, [point])
        if h.identical and groups[h.first] is not groups[h.second]:
            merged = groups[h.first] + [p for p in groups[h.second] if p not in groups[h.first]]
            for point in merged:
                groups[point] = merged
    return {point: (mode_name(point)[1], tuple(sorted(mode_name(p)[0] for p in group))) for point, group in groups.items()}


def _pair_means(h, higher_is_better: bool) -> dict[str, float]:
    """{mode: its mean test value over the pair's seeds} of a mode pair (head_to_head.HeadToHead,
    whose difference is oriented: positive = the first better)."""
    p, m = h.paired, h.paired.baseline_mean
    first = m + p.mean_diff if higher_is_better else m - p.mean_diff
    return {mode_name(h.first)[0]: first, mode_name(h.second)[0]: m}


def _change(v: DatasetVerdicts, means: dict[str, float], arm: str) -> str:
    """E.g. "test accuracy 93.6% -> 95.1%" or "test MSE 0.124 -> 0.0843 (32% lower)": none's and
    the arm's means over the seeds both have (the verdict's pairs), so the two numbers differ by
    the verdict's difference though a seed failed on one side; `means` (over all seeds) otherwise."""
    p = v.paired.get(arm)
    if p is not None and p.n and math.isfinite(p.baseline_mean):
        sign = 1.0 if METRICS[v.metric].higher_is_better else -1.0
        # adaptive seeds: an arm decided at an earlier look than the study's last is told over that
        # look's seeds, which the tables' means (over every seed run) do not show
        over = f" (means over the {p.n} seeds of its verdict)" if v.adaptive and p.n < v.seeds_used else ""
        return _change_between(v.metric, p.baseline_mean, p.baseline_mean + sign * p.mean_diff) + over
    return _change_between(v.metric, means.get(arms.BASELINE, math.nan), means.get(arm, math.nan))


def _level(metric: str, x: float) -> str:
    """A mean test value as In short writes it: "93.5%" for a share, else "0.124"."""
    return f"{100 * x:.1f}%" if METRICS[metric].share else _value(x)


def _value(x: float) -> str:
    """A mean in the data's units: quantity's three significant digits, trailing zeros kept ("test
    MSE 0.252 → 0.230", not "0.23", which read as a coarser number than the one beside it)."""
    text = quantity(x)
    if not math.isfinite(x) or x == 0 or "e" in text or " " in text:
        return text
    return f"{x:#.3g}".rstrip(".")


def _change_between(metric: str, base: float, value: float) -> str:
    """From `base` (none's mean, say) to `value`, as _change writes it."""
    m = METRICS[metric]
    if math.isnan(base) or math.isnan(value):
        return f"test {m.label}"
    if m.share:   # to 0.01 pt where the 0.1s would differ by another amount than the verdict's (95.5% → 94.6% beside -0.8 pt)
        shown = [round(100 * x, 1) for x in (base, value)]
        digits = 1 if round(shown[1] - shown[0], 1) == round(100 * (value - base), 1) else 2
        return f"test {m.label} {100 * base:.{digits}f}% → {100 * value:.{digits}f}%"
    # a relative change for errors and losses (positive, on the data's scale); not for R², which can be negative
    relative = (f" ({abs(value / base - 1):.0%} {'higher' if value > base else 'lower'})"
                if base > 0 and not m.higher_is_better else "")
    return f"test {m.label} {_value(base)} → {_value(value)}{relative}"


def mean_values(results: list[DatasetResults]) -> dict[str, dict[str, float]]:
    """{dataset: {arm: mean test value over its seeds}}, what in_short compares."""
    return {d.label: {arm: sum(by_seed.values()) / len(by_seed) for arm, by_seed in d.values.items() if by_seed}
            for d in results}
