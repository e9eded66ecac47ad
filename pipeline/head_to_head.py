"""The regularized arms against each other, on one dataset: "L1 or L2?" is a question the arm-vs-
none verdicts do not answer when both are undecided against none, and "which of them is best?"
one they do not answer when several beat none. Each pair is compared on the seeds both ran
(paired, as the verdicts are), with Holm over the dataset's pairs and the dataset's ROPE: a
family of its own beside the study's question (each arm against none), outside the verdicts'
Holm family. The verdicts (verdicts.py) call it, and name the best of several winners by it."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from . import arms, stats


@dataclass
class HeadToHead:
    first: str            # the pair's arms, in the study's order; differences are first minus second
    second: str
    paired: stats.Paired  # oriented: positive = first better

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
    pairs = []
    for first, second in combinations(regularized, 2):
        seeds = sorted(set(values[first]) & set(values[second]))
        if len(seeds) >= 2:
            pairs.append(HeadToHead(first, second, stats.paired_test(
                [values[first][s] for s in seeds], [values[second][s] for s in seeds], higher_is_better, rope=rope,
                resolution=resolution, wilcoxon=False)))
    blank = [h for h in pairs if h.first in at_chance and h.second in at_chance]
    stats.decide([h.paired for h in pairs if h not in blank], estimate_seeds=False)
    for h in blank:
        h.paired.verdict = stats.AT_CHANCE
    return pairs
