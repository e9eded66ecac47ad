"""The regularized arms against each other, on one dataset: "L1 or L2?" is a question the arm-vs-
none verdicts do not answer when both are undecided against none, and "which of them is best?"
one they do not answer when several beat none. Each pair is compared on the seeds both ran
(paired, as the verdicts are), with Holm over the dataset's pairs and the dataset's ROPE: a
family of its own beside the study's question (each arm against none), outside the verdicts'
Holm family. The verdicts (verdicts.py) call it, and name the best of several winners by it.
The same comparison answers a path's own question, "the penalty in the loss or the optimizer's
weight decay?": its points that differ in l2_mode alone, against each other (modes_head_to_head)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Optional

from . import arms, stats
from .metric_numbers import difference, p_text


@dataclass
class HeadToHead:
    first: str            # the pair's arms, in the study's order; differences are first minus second
    second: str
    paired: stats.Paired  # oriented: positive = first better
    identical: bool = False   # the same value on every shared seed (two settings that train alike)

    def favours(self, arm: str) -> bool:
        """Better for `arm` (one of the pair) by the arm-vs-none verdicts' standard: a real difference
        whose 95% CI is not wholly inside the ROPE (a negligible one is "the same")."""
        said = "better" if arm == self.first else "worse"
        return self.paired.verdict == said and not self.paired.negligible

    def same(self) -> bool:
        """Practically the same: equivalent, or a real difference inside the ROPE."""
        return self.paired.verdict == "equivalent" or self.paired.negligible


def head_to_head(values: dict[str, dict[int, float]], higher_is_better: bool, rope: float, resolution: float,
                 at_chance: set[str]) -> list[HeadToHead]:
    """Every pair of arms other than none (`values`: arm -> seed -> the primary metric) that shares
    at least 2 seeds, decided with Holm over these pairs; [] with fewer than two such arms. Two
    arms both at chance (`at_chance`) learned nothing: nothing to test (stats.AT_CHANCE)."""
    regularized = [a for a in values if a != arms.BASELINE and len(values[a]) >= 2]
    return _decided(values, list(combinations(regularized, 2)), higher_is_better, rope, resolution, at_chance)


def modes_head_to_head(values: dict[str, dict[int, float]], pairs: list[tuple[str, str]], higher_is_better: bool,
                       rope: float, resolution: float, at_chance: set[str] = frozenset()) -> list[HeadToHead]:
    """A path's points that differ in l2_mode alone (`pairs`: path_points.mode_pairs; `values`:
    point -> seed -> the primary metric) against each other on their shared seeds: "the penalty in
    the loss or the optimizer's weight decay?" asked at the same strength. Holm over the path's
    pairs, with the dataset's ROPE: a family of its own, as the arms' pairs are. Two points that
    both learned nothing (`at_chance`) have nothing to compare (stats.AT_CHANCE)."""
    return _decided(values, pairs, higher_is_better, rope, resolution, at_chance)


def _decided(values: dict[str, dict[int, float]], pairs: list[tuple[str, str]], higher_is_better: bool, rope: float,
             resolution: float, at_chance: set[str]) -> list[HeadToHead]:
    """`pairs` compared on their shared seeds (those with at least 2), decided with Holm over them;
    a pair of two at chance is left out of the family, with nothing to test (stats.AT_CHANCE)."""
    compared = [h for first, second in pairs
                if (h := _compared(values, first, second, higher_is_better, rope, resolution)) is not None]
    blank = [h for h in compared if h.first in at_chance and h.second in at_chance]
    stats.decide([h.paired for h in compared if h not in blank], estimate_seeds=False)
    for h in blank:
        h.paired.verdict = stats.AT_CHANCE
    return compared


def _compared(values: dict[str, dict[int, float]], first: str, second: str, higher_is_better: bool, rope: float,
              resolution: float) -> Optional[HeadToHead]:
    """Two arms (or path points) paired on the seeds both ran; None with fewer than 2 of them."""
    seeds = sorted(set(values[first]) & set(values[second]))
    if len(seeds) < 2:
        return None
    a, b = [values[first][s] for s in seeds], [values[second][s] for s in seeds]
    same = all(stats.same_result(x, y) for x, y in zip(a, b))   # NaN on the same seeds too
    # tested as the equal numbers they are: float rounding (1e-8 apart) is no difference to find
    return HeadToHead(first, second, stats.paired_test(a, a if same else b, higher_is_better, rope=rope,
                                                       resolution=resolution, wilcoxon=False), identical=same)


def head_to_head_row(h, metric: str, name=arms.label) -> dict:
    """One pair of regularized arms (head_to_head.HeadToHead) as the report's table row: the
    difference first minus second in the metric's units, which arm it favours (`aside`: what else
    the reader needs beside it, or ""), its Holm p; the
    arms named by `name` (DatasetVerdicts.name: with the path point that stands for each)."""
    p, first, second = h.paired, name(h.first), name(h.second)
    alike = h.identical and p.verdict != stats.AT_CHANCE   # a fact, whatever the seeds let the tests decide
    if alike:
        said = "the same numbers on every seed: they train alike"
    elif p.verdict == "better" and not p.negligible:
        said = f"{first} better"
    elif p.verdict == "worse" and not p.negligible:
        said = f"{second} better"
    elif p.verdict in ("better", "worse"):
        said = f"{first if p.verdict == 'better' else second} better by less than the ROPE"
    elif p.verdict == "equivalent":
        said = "practically the same"
    elif p.verdict == stats.AT_CHANCE:
        said = "both no better than a constant prediction: nothing to compare"
    else:
        said = p.verdict
    aside = ""   # an interval clear of zero beside "practically the same" read as a contradiction
    if p.verdict == "equivalent" and not h.identical and p.sd > 0 and not p.ci_low <= 0 <= p.ci_high:
        ahead = first if p.ci_low > 0 else second
        aside = (f"{ahead} ahead by less than the ROPE: a real difference, too small to matter" if p.p_t_holm < p.alpha
                 else f"{ahead} ahead by less than the ROPE, not shown after Holm (the CI is this pair's own)")
    p_value = "-" if p.verdict == stats.AT_CHANCE else p_text(p.p_tost_holm if p.verdict == "equivalent" else p.p_t_holm)
    return {"pair": f"{first} − {second}", "diff": "0 on every seed" if h.identical else difference(p, metric),
            "said": said, "aside": aside, "p": p_value, "n": p.n, "test": "equivalence" if p.verdict == "equivalent" else "t",
            "identical": alike}
