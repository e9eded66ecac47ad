"""A regularization path summarized: each arm at several strengths on the same seeds, from
weakest to strongest, with what chose the strength that stands for the arm (its validation
metric, and which points are within one standard error of the best), each point's test value
and gap, and its paired difference to none on the shared seeds. The console (path_words) and
the report (its table and figure) show the same numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional


from . import arms, stats
from .path_points import alike, copies, strength_order, within_one_se
from .task import Metric, metric_for
from .chance import resolution
from .verdicts import DatasetResults, rope_of


@dataclass
class PathPoint:
    variant: str                  # e.g. "l1=0.001"
    val_mean: float               # the mean validation metric over seeds, what selects
    val_se: float                 # its standard error (NaN from one seed)
    test: stats.Summary           # the test metric over seeds (its own 95% CI)
    gap: stats.Summary            # the train-test gap over seeds
    vs_none: Optional[stats.Paired]   # paired with none on the shared seeds, uncorrected (descriptive)
    within_se: bool               # its validation mean within one SE of the best's
    # what the arm does to the weights along the path: the share of |w| < 1e-3 (arms with L1) and
    # the total weight norm (arms with L2) over seeds; None for an arm without that component
    sparsity: Optional[stats.Summary] = None
    norm: Optional[stats.Summary] = None


@dataclass
class Path:
    arm: str
    points: list[PathPoint] = field(default_factory=list)   # weakest to strongest where ordered
    chosen: str = ""      # selected on validation: stands for the arm in the verdicts
    one_se: str = ""      # the strongest within one SE of the chosen; "" where "strongest" means nothing
    edge: str = ""        # "strongest" / "weakest": the chosen is at that end, its neighbour clearly worse
    tied: list[str] = field(default_factory=list)   # points with the chosen's numbers on every seed
    copies: list[str] = field(default_factory=list)  # points with an earlier point's numbers on every seed


def value_bounds(key: str, m: Metric) -> tuple[float, float]:
    """The values a path point's measure `key` (test, gap, sparsity, norm) can take: its 95% CI
    over seeds is cut there, as the test metric's always was (the mean cannot lie outside, so the
    cut CI keeps its coverage). A train-test gap lies within what two values of the metric can
    differ by (±1 for a share: the gap 0.33 [-0.38, 1.05] of 3 seeds is [-0.38, 1.00]), a share of
    weights in [0, 1], a weight norm from 0; a loss's gap has no bound."""
    low, high = m.bounds
    return {"test": m.bounds, "gap": (low - high, high - low), "sparsity": (0.0, 1.0), "norm": (0.0, math.inf)}[key]


def _weights(by_seed: dict, key: str, m: Metric) -> Optional[stats.Summary]:
    """A weight measure's summary over seeds, None where no run recorded it (paths read before)."""
    values = [x.get(key, math.nan) for x in by_seed.values()]
    return stats.summarize(values, value_bounds(key, m)) if values and all(math.isfinite(x) for x in values) else None


def summarize_path(d: DatasetResults, arm: str, rope: Optional[float] = None) -> Path:
    """One arm's path (see the module's docstring). The strongest within one SE is the usual
    choice of the most regularized model that is as good; whatever order the study file lists the
    strengths in, "strongest" is by value."""
    m, variants = metric_for(d.task, d.metric), d.paths[arm]
    ordered = strength_order(list(variants))
    order = ordered or list(variants)
    chosen = d.selected.get(arm, "")
    val, near_chosen = within_one_se(variants, chosen, m.higher_is_better)
    near = set(near_chosen)
    # one seed of the chosen point (or a NaN among them) gives no standard error: nothing is
    # "within one SE" or "clearly worse" then
    se_known = chosen in val and math.isfinite(val[chosen][1])
    # `rope`: the verdicts' (an adaptive study's is fixed at its first look), else the dataset's
    base, rope = d.values.get(arms.BASELINE, {}), rope_of(d) if rope is None else rope
    path = Path(arm, chosen=chosen, one_se=next((v for v in reversed(ordered) if v in near), "")
                if ordered and se_known else "")
    for v in order:
        by_seed = variants[v]
        shared = [s for s in by_seed if s in base]
        vs_none = (stats.paired_test([by_seed[s]["test"] for s in shared], [base[s] for s in shared],
                                     m.higher_is_better, rope=rope, resolution=resolution(d), wilcoxon=False)
                   if len(shared) >= 2 else None)
        path.points.append(PathPoint(
            v, *val.get(v, (math.nan, math.nan)),
            *(stats.summarize([x[key] for x in by_seed.values()], value_bounds(key, m)) for key in ("test", "gap")),
            vs_none, v in near,
            *(_weights(by_seed, key, m) if component in arms.ARMS[arm].components else None
              for key, component in (("sparsity", "l1"), ("norm", "l2")))))
    path.tied = [v for v in order if v != chosen and alike(variants.get(chosen, {}), variants[v])]
    path.copies = [v for v in order if v in copies(variants)]
    # at an end of an ordered path, with the next point inward clearly worse on validation: the
    # best may lie beyond what was tried (a flat end, within one SE, does not point anywhere)
    if se_known and ordered and len(ordered) >= 3 and chosen in (ordered[0], ordered[-1]):
        inward = ordered[1] if chosen == ordered[0] else ordered[-2]
        if inward not in near:
            path.edge = "weakest" if chosen == ordered[0] else "strongest"
    return path
