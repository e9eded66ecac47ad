"""The regularized arms against each other, on one dataset: "L1 or L2?" is a question the arm-vs-
none verdicts do not answer when both are undecided against none. Each pair is compared on the
seeds both ran (paired, as the verdicts are), with Holm over the dataset's pairs and the
dataset's ROPE. Descriptive beside the study's question (each arm against none): its own family,
outside the verdicts' Holm family, and the report says so."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from . import arms, stats
from .task import metric_for
from .verdicts import AT_CHANCE, DatasetResults, DatasetVerdicts, resolution


@dataclass
class HeadToHead:
    first: str            # the pair's arms, in the study's order; differences are first minus second
    second: str
    paired: stats.Paired  # oriented: positive = first better


def head_to_head(d: DatasetResults, v: DatasetVerdicts) -> list[HeadToHead]:
    """Every pair of arms other than none that shares at least 2 seeds, decided with Holm over
    this dataset's pairs; [] with fewer than two such arms."""
    hib = metric_for(d.task, d.metric).higher_is_better
    regularized = [a for a in d.values if a != arms.BASELINE and len(d.values[a]) >= 2]
    pairs = []
    for first, second in combinations(regularized, 2):
        seeds = sorted(set(d.values[first]) & set(d.values[second]))
        if len(seeds) >= 2:
            pairs.append(HeadToHead(first, second, stats.paired_test(
                [d.values[first][s] for s in seeds], [d.values[second][s] for s in seeds], hib, rope=v.rope,
                resolution=resolution(d), wilcoxon=False)))
    # two arms that both learned nothing are "the same" on every seed: nothing to test (AT_CHANCE)
    blank = [h for h in pairs if h.first in v.at_chance and h.second in v.at_chance]
    stats.decide([h.paired for h in pairs if h not in blank], estimate_seeds=False)
    for h in blank:
        h.paired.verdict = AT_CHANCE
    return pairs
