"""Whether a dataset's arms learned anything: their test metric against a constant prediction's
(the training mean or majority class), within a margin of the metric's default ROPE or one test
row, whichever is more; none overfitting below the constant; a regression trained on squared error
judged by MAE. Also the steps one test row moves a counted metric by (`resolution`, `largest_step`).
Sets the chance fields of a dataset's DatasetVerdicts; verdicts decides the rest. Throughout, `d` is a
verdicts.DatasetResults and `v` its DatasetVerdicts, unannotated: verdicts imports this module, and
this one imports nothing above it."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from . import arms, stats
from .task import metric_for


def resolution(d) -> float:
    """The smallest step one test prediction moves the primary metric by (stats.paired_test's
    floor on the spread): for accuracy one row of n_test, for balanced accuracy one row of the
    largest class (1 / (classes x its rows)); 0 for other metrics or unknown split sizes."""
    return _steps(d)[0]


def largest_step(d) -> float:
    """The most one test prediction moves the primary metric by: one row of n_test for accuracy,
    one row of the smallest class for balanced accuracy; 0 when unknown or another metric."""
    return _steps(d)[1]


def _steps(d) -> tuple[float, float]:
    name = metric_for(d.task, d.metric).name
    if name == "accuracy" and d.n_test:
        return 1.0 / d.n_test, 1.0 / d.n_test
    rows = d.test_class_rows
    if name == "balanced_accuracy" and rows and min(rows) > 0:
        smallest, largest, classes = rows
        return 1.0 / (classes * largest), 1.0 / (classes * smallest)
    return 0.0, 0.0


def train_values(d, arm: str) -> dict[int, float]:
    """{seed: the training metric}: the test value plus the oriented gap (the gap is train - test
    where higher is better, test - train where lower is), on the seeds that have both."""
    test, gap = d.values.get(arm, {}), d.secondary.get("gap_metric", {}).get(arm, {})
    sign = 1.0 if metric_for(d.task, d.metric).higher_is_better else -1.0
    return {s: x + sign * gap[s] for s, x in test.items() if s in gap}


def judge_chance(d, v) -> None:
    """Which arms do no better than a constant prediction: their mean within the metric's
    default ROPE of it (one point of a share, or one test row where that moves accuracy or balanced
    accuracy by more (largest_step); 0.01 of R²,
    5% of the constant's MSE, MAE or log loss), whatever ROPE the study chose for its comparisons (a wide one must not make learning
    look like chance). Where the metric leaves less than two such margins above the constant
    (accuracy at a 99.3% majority class; balanced accuracy with 2 test rows of a class, one of
    which moves it by 25 points), nothing is judged and little_room says why."""
    if d.chance is None or math.isnan(d.chance):
        return
    m = metric_for(d.task, d.metric)
    margin = stats.rope_width(m.default_rope, m.name, d.chance)
    room = (1.0 - d.chance) if m.higher_is_better else d.chance   # shares and R² top out at 1; losses at 0
    if room <= 0:   # a constant test target: a constant prediction is perfect, nothing to judge
        return
    # One test row more than the constant gets right is no evidence of learning (58 test rows:
    # 1.7 points of accuracy, above a one-point margin; 7 rows of a rare class: 7 points of balanced
    # accuracy); a little over one row, so that exactly one is within. (Not macro F1: a row moves
    # it by an amount that depends on the other predictions.)
    step = largest_step(d)
    if 1.01 * step > margin:
        margin = 1.01 * step
        v.room_step = step
    if room < 2 * margin:   # the metric tops out too close above the constant, or one row is too coarse
        v.little_room = True
        # no margin above the constant can be judged, but a mean no higher than the constant's
        # (balanced accuracy 0.5 throughout) did not beat ignoring the features: a comparison of two
        # such arms would be "practically the same" about models that learned nothing on these rows
        margin = LITTLE_ROOM_MARGIN
    v.chance_margin = margin
    # one seed cannot tell not learning from overfitting below the constant (overfits_below_chance
    # needs a CI): its comparison is "not enough seeds", not "learned nothing". But one seed within the
    # margin of the constant on either side (the others diverged) learned nothing on that seed: said so
    v.one_seed = [arm for arm, by_seed in d.values.items()
                  if len(by_seed) == 1 and abs(next(iter(by_seed.values())) - v.chance) < margin]
    v.at_chance = [arm for arm, by_seed in d.values.items()
                   if (len(by_seed) >= 2 and no_better(v, list(by_seed.values()), m.higher_is_better))
                   or arm in v.one_seed]
    most = max(map(len, d.values.values()), default=0)
    v.few_seeds = {arm: (len(d.values[arm]), most) for arm in v.at_chance if len(d.values[arm]) < most}
    # below the constant by a fraction of a row is no overfitting to speak of: not judged without room
    v.below_chance = [] if v.little_room else [arm for arm in v.at_chance
                                               if overfits_below_chance(d, v, arm, list(d.values[arm]))]
    # fitting: at least halfway from the constant to a perfect score on its training rows (an MSE
    # half the constant's, accuracy halfway to 1), not just past the margin (that is undertraining)
    oriented = 1.0 if m.higher_is_better else -1.0
    constant, train_margin = train_constant(d, v)
    train_room = (1.0 - constant) if m.higher_is_better else constant
    for arm in v.at_chance:
        train = list(train_values(d, arm).values())
        if len(train) >= 2 and oriented * (float(np.mean(train)) - constant) >= max(train_margin, train_room / 2):
            v.fits_train[arm] = float(np.mean(train))
    if d.values.get(arms.BASELINE):
        v.none_summary = stats.summarize(list(d.values[arms.BASELINE].values()), m.bounds)
    v.misfit_train = _misfit_train(d, v)


# Where the metric leaves no room for a margin (little_room): at chance is a mean at or below the
# constant's, up to float32 rounding (accuracies are computed in float32: 74/75 is 0.98666668, the
# constant's 0.98666667 in float64; at 1e-9 every arm scoring exactly the constant was "above" it).
# Any real difference is a test row, 1 / n_test, far above this.
LITTLE_ROOM_MARGIN = 1e-6


def train_constant(d, v) -> tuple[float, float]:
    """What the constant prediction scores on the training rows, and the margin a training value
    must beat it by: the test split's where the training one is unknown (runs from before it was
    logged). Judged on the training rows, none's fit is not mistaken for a misfit when a few extreme
    targets all landed in training (the training constant's MSE 77x the test one's)."""
    if d.train_chance is None or math.isnan(d.train_chance):
        return v.chance, v.chance_margin
    m = metric_for(d.task, d.metric)
    return d.train_chance, stats.rope_width(m.default_rope, m.name, d.train_chance)


def _misfit_train(d, v) -> Optional[float]:
    """none's mean training MAE where it is clearly worse than the training median on test (its
    whole CI) and no better on its training rows either; None otherwise."""
    base = d.values.get(arms.BASELINE, {})
    train = train_values(d, arms.BASELINE)
    if d.metric != "mae" or arms.BASELINE not in v.at_chance or arms.BASELINE in v.below_chance or len(base) < 2 \
            or len(train) < 2:   # without its training values nothing says the misfit is on the training side too
        return None
    s = stats.summarize(list(base.values()))
    mean_train = float(np.mean(list(train.values())))
    clearly_below = s.mean - v.chance > v.chance_margin and s.ci_low > v.chance
    constant, margin = train_constant(d, v)
    return mean_train if clearly_below and not (constant - mean_train > margin) else None


def overfits_below_chance(d, v, arm: str, seeds) -> bool:
    """Whether `arm` overfits so much on `seeds` that ignoring the features does better: its test
    mean beyond the chance margin on the wrong side of the constant prediction, the whole 95% CI of
    that mean there too, while its training value (test + gap) is better than the constant by more
    than the margin. (A model that never learned, a price predicted near 0, is also worse than the
    constant, but on its training rows as well.) Regularization that brings such a model back to the
    constant's level did something: its comparison with none is kept."""
    gaps = d.secondary.get("gap_metric", {}).get(arm, {})
    seeds = [s for s in seeds if s in gaps and s in d.values.get(arm, {})]
    if len(seeds) < 2 or math.isnan(v.chance_margin):
        return False
    hib = metric_for(d.task, d.metric).higher_is_better
    oriented = 1.0 if hib else -1.0
    s = stats.summarize([d.values[arm][x] for x in seeds])
    near = s.ci_high if hib else s.ci_low   # the CI's end nearest the constant
    constant, margin = train_constant(d, v)
    # the training value is test + gap, oriented (verdicts' train_values), against the training rows' constant
    train = float(np.mean([oriented * (d.values[arm][x] - constant) + gaps[x] for x in seeds]))
    return oriented * (s.mean - v.chance) < -v.chance_margin and oriented * (near - v.chance) < 0 \
        and train > margin


def no_better(v, values: list[float], higher_is_better: bool) -> bool:
    """Whether the mean of values is within the chance margin of the constant prediction, or worse."""
    oriented = 1.0 if higher_is_better else -1.0
    return oriented * (float(np.mean(values)) - v.chance) < v.chance_margin
