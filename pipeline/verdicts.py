"""The answer a study gives, stated honestly: per dataset, which arms are better than `none`,
which worse, which practically the same, which undecided (and how many seeds would decide them),
and whether the arms that beat `none` can be told apart. Shared by the console summary (from
Optuna) and the report (from MLflow), so both say the same; verdict_words writes it in words.
Which arms did no better than a constant prediction is judged first, by `chance`.

The family for the multiple-comparison correction is every arm against `none` on every dataset
of the study (Holm, separately for the difference tests and the equivalence tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import numpy as np

from . import arms, stats
from .chance import judge_chance, largest_step, no_better, overfits_below_chance, resolution, train_values
from .head_to_head import HeadToHead, head_to_head, modes_head_to_head
from .path_points import copies, mode_pairs, strength_order, within_one_se
from .stats import AT_CHANCE
from .task import METRICS, metric_for


@dataclass
class DatasetResults:
    """What a dataset's verdicts are computed from: {arm: {seed: primary metric}}, and for the
    secondary outcomes {outcome key: {arm: {seed: value}}} (see SECONDARY)."""
    label: str
    task: str
    values: dict[str, dict[int, float]]
    rope_setting: Optional[Union[float, str]] = None
    secondary: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)
    metric: Optional[str] = None   # the primary metric (None: the task's default)
    # regularization paths: {arm: {variant: {seed: {"test": .., "val": .., "gap": ..}}}}, and the variant
    # whose values stand for the arm above (selected on validation: path_points.select_variant)
    paths: dict[str, dict[str, dict[int, dict]]] = field(default_factory=dict)
    selected: dict[str, str] = field(default_factory=dict)
    chance: Optional[float] = None   # the primary metric of a constant prediction (learning nothing)
    n_test: Optional[int] = None     # rows of the test split: a share metric moves by about 1/n_test a sample
    # [rows of the test split's smallest class, of its largest, number of classes in it]: one row
    # moves balanced accuracy by 1/(classes x its class's rows)
    test_class_rows: Optional[list[int]] = None
    class_weighted: bool = False     # trained with class_weight: balanced (not advised again)
    # feature columns the table's reading found giving the target away (column_checks: copies of it,
    # or separating its classes on their own): verdicts about a model that can read the answer
    leaky_columns: list[str] = field(default_factory=list)
    # the constant prediction's metric on the training rows (None: unknown, judged by `chance`)
    train_chance: Optional[float] = None
    # seed counts that had results when a fixed-seed study was given more (preparation.note_seeds_added)
    seeds_added_after: list[int] = field(default_factory=list)
    # what changed after verdicts were given under it (rt.CHOSEN_AFTER: the metric, the ROPE), in words
    chosen_after: list[str] = field(default_factory=list)
    # a few target values far from the others that make most of a split's squared spread
    # (dataset_record.far_targets), and which: "test", "training", "training and test" ("": not kept)
    far_targets: list[float] = field(default_factory=list)
    far_in: str = ""
    ran: bool = True   # some cell of it ended (finished or failed): False for a dataset no worker reached yet
    # arm -> the seeds whose cell diverged (a NaN or infinite loss) and has no value: why a seed is missing
    diverged: dict[str, list[int]] = field(default_factory=dict)
    # arm -> {seed: test value} of runs whose loss blew up (exploded_seeds): taken out of `values`,
    # `secondary` and `paths` (any point's) and counted as diverged
    exploded: dict[str, dict[int, float]] = field(default_factory=dict)
    n_val: Optional[int] = None      # rows of the validation split
    val_chooses: tuple[str, ...] = ()   # what the validation split chooses besides a path's point (Study.chosen_on_validation)
    # arm -> {seed: run id} of finished cells whose MLflow run was deleted: left out (the report reads active runs)
    deleted: dict[str, dict[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # judged with the runs a caller already took out (the report's tables): the median run the rule
        # compares with is the whole dataset's, so the console's and the report's verdicts agree
        judged = {a: {**self.exploded.get(a, {}), **self.values.get(a, {})} for a in {*self.values, *self.exploded}}
        blown = exploded_rule(judged, metric_for(self.task, self.metric).name, self.chance)
        found = _blown_in(self.values, blown)
        if found:
            def kept(by_arm: dict) -> dict:
                return {a: {s: x for s, x in by_seed.items() if s not in found.get(a, {})} for a, by_seed in by_arm.items()}
            self.values = kept(self.values)
            self.secondary = {key: kept(by_arm) for key, by_arm in self.secondary.items()}
            self.diverged = {a: sorted(set(self.diverged.get(a, [])) | set(found.get(a, {})))
                             for a in {*self.diverged, *found}}
            self.exploded = {a: {**self.exploded.get(a, {}), **found.get(a, {})} for a in {*self.exploded, *found}}
        # a path's other points too: its table and figure, and the within-one-SE and mode comparisons
        self.paths = {a: {point: {s: x for s, x in by_seed.items() if not blown(x.get("test", 0.0))}
                          for point, by_seed in points.items()} for a, points in self.paths.items()}



def at_selected_points(cells: dict, selected: dict[str, str]) -> dict[str, dict[int, str]]:
    """{(arm, point, seed): x} as arm -> {seed: x}, for the point that stands for each arm (`selected`,
    as DatasetResults has it): the runs deleted in MLflow that the console and the report name."""
    out: dict[str, dict[int, str]] = {}
    for (arm, point, seed), x in cells.items():
        if selected.get(arm) == point:
            out.setdefault(arm, {})[seed] = x
    return out

# a squared test error this many times both the constant prediction's and the dataset's median run's
# is a loss that blew up (a test MSE of 4e19 where the constant and the other seeds score about 1),
# not a draw of seed noise: one such seed of none made the default ROPE (5% of none's mean) 2e18 wide,
# every arm "practically the same". An overfit model misses by a few times the constant's error. The
# median: where every run misses by as much (a target far from 0 trained on unstandardized, the
# models barely moved from 0), none stands out, and the far-worse warning says what it is.
EXPLODED = 1000.0


def exploded_rule(values: dict[str, dict[int, float]], metric: str, chance: Optional[float]) -> Callable[[float], bool]:
    """Whether a test value exploded (EXPLODED): MSE and log loss as they are, RMSE and MAE squared
    (an RMSE 31.6 times is an MSE 1000 times), R² as 1 - R² (MSE over the spread). Never where the
    constant's score is unknown, nor for share metrics (bounded: an exploded classifier is at chance)."""
    m = METRICS[metric]
    if chance is None or not math.isfinite(chance) or m.share:
        return lambda x: False
    power = 2.0 if m.name in ("rmse", "mae") else 1.0

    def error(x: float) -> float:   # on MSE's scale
        return (1.0 - x if m.higher_is_better else x) ** power
    scored = [error(x) for by_seed in values.values() for x in by_seed.values() if not math.isnan(x)]
    base = max(error(chance), float(np.median(scored)) if scored else 0.0)
    if not base > 0:
        return lambda x: False
    return lambda x: not math.isnan(x) and error(x) > EXPLODED * base


def exploded_seeds(values: dict[str, dict[int, float]], metric: str, chance: Optional[float]) -> dict[str, dict[int, float]]:
    """{arm: {seed: value}} of the runs whose test value exploded (exploded_rule)."""
    return _blown_in(values, exploded_rule(values, metric, chance))


def _blown_in(values: dict[str, dict[int, float]], blown: Callable[[float], bool]) -> dict[str, dict[int, float]]:
    """{arm: {seed: value}} of the values `blown` holds exploded, arms without one left out."""
    found = {a: {s: x for s, x in by_seed.items() if blown(x)} for a, by_seed in values.items()}
    return {a: by_seed for a, by_seed in found.items() if by_seed}


@dataclass(frozen=True)
class Secondary:
    """An outcome besides the primary metric that a regularizer is meant to change, judged with
    the same paired verdicts (its own Holm family across the study's datasets)."""
    key: str                  # the final metric it is read from
    label: str                # as in "train-test gap narrower by ..."
    higher_is_better: bool    # the direction the regularizer aims for
    words: tuple[str, str]    # (better, worse), e.g. ("narrower", "wider")
    component: Optional[str]  # judged for arms with this component (arms.COMPONENTS); None: every arm
    rope: Union[float, str, None]   # None: the primary metric's ROPE (same units)


SECONDARY = (
    # how much better on training data than on test (train minus test accuracy, test minus train
    # MSE; positive: overfitting); the gap dropout and weight decay close
    Secondary("gap_metric", "train-test gap", False, ("narrower", "wider"), None, None),
    # share of weights with |w| < 1e-3: what an L1 penalty is for; ROPE one point of that share
    Secondary("sparsity_lt_0.001", "weights", True, ("sparser", "denser"), "l1", 0.01),
    # L2 norm of all weights: what an L2 penalty pulls down; ROPE 5% of none's
    Secondary("weight_l2_total", "weight norm", False, ("smaller", "larger"), "l2", "5%"),
)


def secondary_for(arm: str) -> list[Secondary]:
    components = arms.ARMS[arm].components if arm in arms.ARMS else ()
    return [o for o in SECONDARY if o.component is None or o.component in components]


@dataclass(frozen=True)
class GapClosed:
    """How much of the train-test gap that none leaves open an arm closes: the share
    1 - gap(arm) / gap(none) over the shared seeds, with Fieller's 95% CI for paired seeds."""
    none_gap: float
    arm_gap: float
    share: float
    share_low: float
    share_high: float
    fully: bool          # the arm's mean gap is within the ROPE
    # the training metric's means (none, the arm), and "" or why the narrower gap is no gain: the
    # arm is "worse" on the test metric too, or "at chance" (no better than a constant prediction,
    # and not better than none): it narrowed the gap by fitting the training data worse (underfitting);
    # or it fits the training data worse with a test metric that is the "same" as none's
    # (equivalent, or better/worse inside the ROPE) or "undecided": a gap closed, no better model yet
    train_none: float = math.nan
    train_arm: float = math.nan
    no_gain: str = ""
    fits_worse: bool = False   # the arm's training metric is worse than none's, by at least half the narrowing


@dataclass
class DatasetVerdicts:
    label: str
    task: str
    rope: float
    metric: str = ""         # the primary metric's name
    paired: dict[str, stats.Paired] = field(default_factory=dict)   # arm -> comparison with none
    winners: list[str] = field(default_factory=list)        # arms better than none, best mean first
    # several winners: the best of them, practically the same as each other and each beating every
    # other winner (one arm, some, or all of them); [] when the pairs do not settle it
    best_group: list[str] = field(default_factory=list)
    winners_p: float = math.nan                              # the largest Holm p of the first's undecided pairs
    head_to_head: list[HeadToHead] = field(default_factory=list)   # the regularized arms against each other
    secondary: dict[str, dict[str, stats.Paired]] = field(default_factory=dict)  # arm -> outcome key -> comparison
    gap_closed: dict[str, "GapClosed"] = field(default_factory=dict)  # arm -> how much of none's gap it closed
    looks: int = 0           # how many looks (rounds of seeds) were evaluated
    seeds_used: int = 0      # seeds of the last look evaluated
    stopped: str = ""        # "decided" | "maximum reached" | "more seeds to come" | "no results" (adaptive studies)
    adaptive: bool = False   # looked at in rounds (adaptive seeds), not once at a fixed number of seeds
    chance: Optional[float] = None                           # what a constant prediction scores
    ran: bool = True         # some cell of it ended (DatasetResults.ran): False, nothing to say of it but that
    at_chance: list[str] = field(default_factory=list)       # arms whose mean is that within a margin, or worse
    one_seed: list[str] = field(default_factory=list)        # of at_chance: judged on their one finished seed
    # of at_chance: arm -> (its finished seeds, the most any arm finished), where it finished fewer:
    # its other seeds failed or diverged (in a study of one seed, none did)
    few_seeds: dict[str, tuple[int, int]] = field(default_factory=dict)
    no_runs: list[str] = field(default_factory=list)         # arms with no finished run (every seed failed or diverged)
    no_baseline: bool = False   # none has no finished run: nothing is compared (said why: verdict_words.no_comparison)
    baseline_diverged: bool = False   # ... because it diverged on every seed the other arms finished
    seeds_diverged: list[int] = field(default_factory=list)   # seeds on which every arm diverged, where others trained
    deleted: dict[str, dict[int, str]] = field(default_factory=dict)   # DatasetResults': runs deleted in MLflow, left out
    # any arm (none too) -> (its seeds with a value, the most any arm has): its comparisons use only the
    # seeds that finished, which flatter it if the lost ones were its worse draws
    lost_seeds: dict[str, tuple[int, int]] = field(default_factory=dict)
    diverged: dict[str, int] = field(default_factory=dict)   # arm -> its seeds that diverged (DatasetResults')
    exploded: dict[str, dict[int, float]] = field(default_factory=dict)   # of those, the finite ones (DatasetResults')
    # arms with finished seeds none of which none finished too: no pair, so no comparison
    unpaired: list[str] = field(default_factory=list)
    cells: int = 0   # the cells that ended with a value or diverged (for "every cell diverged")
    little_room: bool = False   # the metric leaves almost no room above the constant (accuracy, rare class)
    room_step: float = 0.0      # one test row's step when it, not the ROPE, set the chance margin
    below_chance: list[str] = field(default_factory=list)   # of at_chance: overfitting, clearly worse than the constant
    # of at_chance: arm -> its mean training value, where that beats the constant by more than the margin:
    # it fits its training rows and not the test rows (memorizing), not a model that learned nothing
    fits_train: dict[str, float] = field(default_factory=dict)
    # none clearly worse than the constant on its training rows too, under MAE: trained on squared
    # error, a heavy-tailed target pulls it away from the median, which MAE favours (not overfitting)
    misfit_train: Optional[float] = None
    perfect: bool = False       # every arm scored the metric's best value (accuracy 1, MSE 0) on every seed
    train_perfect: bool = False  # ... on its training rows: the train-test gap only mirrors the test metric
    chance_margin: float = math.nan   # how far above the constant a mean must be to count as learning
    # none's mean over seeds and its 95% CI, wherever chance is judged: the CI's lower end at or below the
    # margin means none's learning is not clear either (a warning must not blame regularization alone);
    # below the constant, how far below
    none_summary: Optional[stats.Summary] = None
    n_test: Optional[int] = None   # rows of the test split (how coarse a share metric is)
    n_val: Optional[int] = None    # rows of the validation split, and what it chose (a path's point too)
    val_chooses: tuple[str, ...] = ()
    test_class_rows: Optional[list[int]] = None   # as DatasetResults'
    class_weighted: bool = False                   # as DatasetResults'
    leaky_columns: list[str] = field(default_factory=list)   # as DatasetResults'
    seeds_added_after: list[int] = field(default_factory=list)   # as DatasetResults'
    chosen_after: list[str] = field(default_factory=list)   # as DatasetResults'
    far_targets: list[float] = field(default_factory=list)   # as DatasetResults'
    far_in: str = ""                                         # as DatasetResults'
    # arm -> (seed, its value, the other seeds' lowest, highest): one seed far worse than the arm's
    # others (stray_seeds), a sign of unstable training that makes most of its comparisons' spread
    stray_seeds: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)
    selected: dict[str, str] = field(default_factory=dict)   # arm -> its path point that stands for it
    # arm -> where its selected point lies on a path over one strength: "weakest" or "stronger"
    # (absent: no such path, e.g. one over l2_mode alone, where "weaker" means nothing)
    path_place: dict[str, str] = field(default_factory=dict)
    # arm -> its path's points, where every one is within one SE of the selected on validation: the
    # selection barely tells them apart, and the arm's verdict is one of near-equals'
    flat_paths: dict[str, int] = field(default_factory=dict)
    # arm -> (none's, its training metric) where its gap leaned narrower, undecided, while it fits the training data worse than none by more
    # than the ROPE and by half the narrowing: what narrowing there is comes from the training side (gap_closed has the rest)
    train_fit_worse: dict[str, tuple[float, float]] = field(default_factory=dict)
    # arm -> its path's points that differ in l2_mode alone, against each other (penalty or weight decay?)
    modes: dict[str, list[HeadToHead]] = field(default_factory=dict)

    def arms_with(self, verdict: str) -> list[str]:
        return [a for a, p in self.paired.items() if p.verdict == verdict]

    def name(self, arm: str) -> str:
        """The arm as the verdicts name it: "L1", or "L1 (l1=1e-05)" when a path's point stands
        for it (its verdict is that strength's, not the arm's at every strength)."""
        point = self.selected.get(arm, "")
        return f"{arms.label(arm)} ({point})" if point else arms.label(arm)

    @property
    def winners_distinct(self) -> bool:
        """Several winners, and the first is better than each of the others."""
        return len(self.winners) > 1 and len(self.best_group) == 1

    @property
    def winners_same(self) -> bool:
        """Several winners, all practically the same as each other."""
        return len(self.winners) > 1 and len(self.best_group) == len(self.winners)

    @property
    def decided(self) -> bool:
        return all(p.verdict in stats.FINAL for p in self.paired.values())


def holm_counted(p: stats.Paired) -> bool:
    """A comparison in the study's Holm family: tested (two seeds or more), not at chance."""
    return p.verdict != AT_CHANCE and not math.isnan(p.p_t)


def decide_study(datasets: list[DatasetResults], seed_order: Optional[list[int]] = None,
                 looks: Optional[list[int]] = None) -> list[DatasetVerdicts]:
    """Every arm against none on the seeds both have, one Holm family per look.

    Fixed seeds are one look at all of them, at level alpha. Adaptive seeds (looks = seed counts
    start, start + step, ..., max) are a group-sequential design: look k tests the comparisons
    still undecided, on the first looks[k] seeds, at its share of alpha (stats.spending); a
    comparison keeps the verdict it reached; a dataset whose comparisons are all decided stops.
    A look is evaluated for a dataset once its round ran (some arm has a value on one of the
    round's new seeds, or, where the dataset has values, the round's cells diverged: a round that
    diverged whole was skipped, and adaptive seeds asked for the same round again for ever)."""
    if seed_order is None:
        seed_order = sorted({s for d in datasets for vals in d.values.values() for s in vals})
    looks = looks or [max(len(seed_order), 1)]   # no value at all (every run failed or blew up): one empty look
    # adaptive: a share of none's mean is fixed at the first look, not taken from rounds that came after a look
    first = set(seed_order[:looks[0]]) if len(looks) > 1 else None
    out = [_before_the_tests(d, first) for d in datasets]
    for k, (n, alpha) in enumerate(zip(looks, stats.spending(looks))):
        new_seeds = set(seed_order[(looks[k - 1] if k else 0):n])
        family = []
        for d, v in zip(datasets, out):
            has_values = any(d.values.values())
            ran = [*d.values.values(), *(d.diverged.values() if has_values else ())]
            if (k and v.decided) or not any(new_seeds & set(seeds) for seeds in ran):
                continue
            v.looks, v.seeds_used = k + 1, n
            family += _compare(d, v, set(seed_order[:n]))
        if family:
            # Holm over every comparison tested so far (holm_counted; not those at chance), as if those
            # decided at an earlier look (or whose dataset stopped) were there with p = 1: over only
            # the open ones the family would shrink by the data (an arm called equivalent leaves it)
            # and loosen the bar for the rest, about 6% false verdicts at a nominal 5%
            size = sum(holm_counted(p) for w in out for p in w.paired.values())
            stats.decide(family, alpha=alpha, estimate_seeds=False, size=size)
    # what more seeds would buy, at the full alpha over the study's family: every comparison Holm
    # counted (decided ones too), as the report's footnote says
    counted = sum(holm_counted(p) for v in out for p in v.paired.values())
    for v in out:
        if v.perfect:   # every arm perfect on every seed: more seeds cannot tell them apart (the warning says why)
            continue
        for p in v.paired.values():
            if holm_counted(p) and p.verdict == "undecided":
                stats.estimate_seeds_needed(p, stats.ALPHA / counted)
    for d, v in zip(datasets, out):
        # no look evaluated: no run of the dataset can be read (all failed, or none recorded the metric)
        v.stopped = ("no results" if not v.looks else "decided" if v.decided else
                     "maximum reached" if v.seeds_used >= looks[-1] else "more seeds to come")
        v.adaptive = len(looks) > 1
        _rank_winners(d, v)
    _decide_secondary(datasets, out, seed_order)
    return out


def _decide_secondary(datasets: list[DatasetResults], out: list[DatasetVerdicts], seed_order: list[int]) -> None:
    """The secondary outcomes on the seeds each dataset's primary verdicts used, one Holm family
    per outcome over the study. They are descriptive of what a regularizer does: adaptive seeds
    stop on the primary metric, so these are judged once, at level alpha, on the seeds run."""
    for outcome in SECONDARY:
        family = []
        for d, v in zip(datasets, out):
            by_arm = d.secondary.get(outcome.key, {})
            base = by_arm.get(arms.BASELINE, {})
            seeds = set(seed_order[:v.seeds_used]) if v.seeds_used else set()
            base_mean = float(np.mean(list(base.values()))) if base else math.nan
            rope = v.rope if outcome.rope is None else stats.rope_width(outcome.rope, "", base_mean)
            for arm in v.paired:
                mine = by_arm.get(arm, {})
                shared = sorted(seeds & set(base) & set(mine))
                if outcome in secondary_for(arm) and shared:
                    p = stats.paired_test([mine[s] for s in shared], [base[s] for s in shared],
                                          outcome.higher_is_better, rope=rope,   # the gap moves with the test rows too
                                          resolution=resolution(d) if outcome.key == "gap_metric" else 0.0)
                    v.secondary.setdefault(arm, {})[outcome.key] = p
                    family.append(p)
        stats.decide(family, estimate_seeds=False)
    for d, v in zip(datasets, out):   # on the seeds its gap verdict used
        _gap_closed(d, v, set(seed_order[:v.seeds_used]))


def _gap_closed(d: DatasetResults, v: DatasetVerdicts, used: set[int]) -> None:
    """The weight-decay tutorial's point, checked on the seeds the verdicts used: where none leaves
    a gap wider than the ROPE open and an arm's gap is significantly narrower, the share of none's
    gap the arm closes (fully: its mean gap is within the ROPE), and whether it did so by fitting
    the training data worse (by at least half the narrowing: _mostly_from_training). An undecided gap that
    leaned narrower goes to _narrower_from_training instead, which asks for more than the ROPE:
    there the training fit must be worse enough to say where a narrowing not shown came from."""
    gaps = d.secondary.get("gap_metric", {})
    base = gaps.get(arms.BASELINE, {})
    if v.train_perfect:   # the gap is the test metric's shortfall: closing it is the primary verdict again
        return
    for arm, by_key in v.secondary.items():
        p, mine = by_key.get("gap_metric"), gaps.get(arm, {})
        seeds = sorted(set(base) & set(mine) & used)
        if p is None or not seeds:
            continue
        if p.verdict != "better":
            _narrower_from_training(d, v, arm, p, seeds)
            continue
        b, m = np.array([base[s] for s in seeds]), np.array([mine[s] for s in seeds])
        if b.mean() <= v.rope:
            continue
        low, high = _share_ci(b, m)
        primary = v.paired.get(arm)
        # better than none on test while at chance (d2l: none overfits below the constant) is the
        # harm removed: the gap closed is real
        verdict = primary.verdict if primary is not None else ""
        train_none, train_arm = _train_mean(d, arms.BASELINE, seeds), _train_mean(d, arm, seeds)
        fits_worse = _mostly_from_training(_train_shift(d, train_none, train_arm), float(b.mean() - m.mean()))
        no_gain = ("worse" if verdict == "worse" and not primary.negligible else
                   "at chance" if arm in v.at_chance and verdict != "better" else
                   "" if not fits_worse else
                   "same" if verdict == "equivalent" or (primary is not None and primary.negligible) else
                   "undecided" if verdict in ("undecided", "not enough seeds") else "")
        v.gap_closed[arm] = GapClosed(float(b.mean()), float(m.mean()), float(1 - m.mean() / b.mean()),
                                      low, high, abs(float(m.mean())) <= v.rope, train_none, train_arm, no_gain,
                                      fits_worse)


def _narrower_from_training(d: DatasetResults, v: DatasetVerdicts, arm: str, p: stats.Paired, seeds: list[int]) -> None:
    """A gap that leaned narrower (p oriented: positive = narrower), undecided, with the
    arm's training metric worse than none's by more than the ROPE: v.train_fit_worse."""
    if p.verdict != "undecided" or not p.mean_diff > 0:   # practically unchanged: no narrowing to explain
        return
    train_none, train_arm = _train_mean(d, arms.BASELINE, seeds), _train_mean(d, arm, seeds)
    shift = _train_shift(d, train_none, train_arm)
    if shift < -v.rope and _mostly_from_training(shift, p.mean_diff):
        v.train_fit_worse[arm] = (train_none, train_arm)


def _mostly_from_training(shift: float, narrowing: float) -> bool:
    """Whether a gap narrower by `narrowing` got so mostly from a worse training fit (`shift`,
    _train_shift's: negative = worse): the narrowing is the training metric's loss plus the test
    metric's gain, so "from the training side" needs the loss to be at least half of it (a training
    MSE 0.001 worse beside a test MSE 0.005 better is a better model, not a worse fit)."""
    return shift < 0 and -shift >= 0.5 * narrowing


def _train_shift(d: DatasetResults, train_none: float, train_arm: float) -> float:
    """The arm's training metric minus none's, oriented: negative = it fits the training data worse."""
    return (train_arm - train_none) * (1.0 if metric_for(d.task, d.metric).higher_is_better else -1.0)


def _train_mean(d: DatasetResults, arm: str, seeds: list[int]) -> float:
    """The training metric's mean over `seeds` (train_values)."""
    train = train_values(d, arm)
    both = [train[s] for s in seeds if s in train]
    return float(np.mean(both)) if both else math.nan


def _share_ci(base: np.ndarray, mine: np.ndarray) -> tuple[float, float]:
    """95% CI of 1 - mean(mine) / mean(base) by Fieller's method for paired seeds: the ratios R
    whose differences mine - R x base have a mean a paired t-test cannot tell from zero. Exact for
    normal gaps at any number of seeds (a percentile bootstrap covered 73% of the time from 3 seeds,
    85% from 5); NaN when the interval is unbounded (none's gap not clearly above zero) or there
    are fewer than 3 seeds."""
    from scipy.stats import t

    n = len(base)
    if n < 3:
        return math.nan, math.nan
    (s_bb, s_bm), (_, s_mm) = np.cov(base, mine, ddof=1)
    q = float(t.ppf(0.975, n - 1)) ** 2
    b, m = float(base.mean()), float(mine.mean())
    a, half_b, c = n * b * b - q * s_bb, n * m * b - q * s_bm, n * m * m - q * s_mm
    disc = half_b * half_b - a * c
    # a <= 0: unbounded; no spread at all (the same gaps on every seed): a zero-width "certain" interval
    if a <= 0 or disc < 0 or max(s_bb, s_mm) <= (stats.FLOAT_NOISE * max(abs(b), abs(m))) ** 2:
        return math.nan, math.nan
    low, high = (half_b - math.sqrt(disc)) / a, (half_b + math.sqrt(disc)) / a
    return 1 - high, 1 - low


def rope_of(d: DatasetResults, seeds: Optional[set[int]] = None) -> float:
    """The dataset's ROPE half-width in its metric's units: its `rope:`, else the metric's default,
    a share of none's mean where it is one ("5%"), over `seeds` where given (and none has one of them)."""
    base = d.values.get(arms.BASELINE, {})
    if seeds is not None and seeds & set(base):
        base = {s: x for s, x in base.items() if s in seeds}
    m = metric_for(d.task, d.metric)
    return stats.rope_width(m.default_rope if d.rope_setting is None else d.rope_setting, m.name,
                            float(np.mean(list(base.values()))) if base else math.nan)


def _before_the_tests(d: DatasetResults, rope_seeds: Optional[set[int]] = None) -> DatasetVerdicts:
    """A dataset's verdicts with everything but the paired tests filled in (decide_study's looks add
    those): its ROPE, what the regularization paths chose, whether it learned above chance, and
    what its seeds did (strays, lost, diverged, perfect scores)."""
    m = metric_for(d.task, d.metric)
    v = DatasetVerdicts(d.label, d.task, rope_of(d, rope_seeds), m.name, chance=d.chance, n_test=d.n_test, ran=d.ran,
                        n_val=d.n_val, val_chooses=tuple(d.val_chooses) + (("the paths' strengths",) if any(
                            len(by_variant) > 1 for by_variant in d.paths.values()) else ()),
                        test_class_rows=d.test_class_rows, class_weighted=d.class_weighted,
                        leaky_columns=list(d.leaky_columns), seeds_added_after=list(d.seeds_added_after),
                        chosen_after=list(d.chosen_after),
                        far_targets=list(d.far_targets), far_in=d.far_in,
                        selected={a: p for a, p in d.selected.items() if p and len(d.paths.get(a, {})) > 1})
    judge_chance(d, v)   # before the paths' modes: a point at chance has nothing to compare
    _path_facts(d, v, m.higher_is_better)
    _seed_facts(d, v, m.higher_is_better)
    return v


def _path_facts(d: DatasetResults, v: DatasetVerdicts, hib: bool) -> None:
    """Where each path's selected strength lies, whether the path is flat, and the head-to-heads of
    a path's modes (penalty, weight_decay, decoupled)."""
    for a, point in v.selected.items():
        order = strength_order(list(d.paths[a]))
        if order:
            v.path_place[a] = "weakest" if point == order[0] else "stronger"
        val, near = within_one_se(d.paths[a], point, hib)
        distinct = len(val) - len(set(copies(d.paths[a])) & set(val))   # modes that train alike count once
        if distinct > 1 and len(near) == len(val):
            v.flat_paths[a] = distinct
    for a in v.selected:
        if pairs := mode_pairs(list(d.paths[a])):
            tests = {point: {s: x["test"] for s, x in by_seed.items()} for point, by_seed in d.paths[a].items()}
            # points that learned nothing (as judge_chance judges arms): a pair of two has nothing to compare
            blank = {p for p, by_seed in tests.items() if len(by_seed) >= 2 and math.isfinite(v.chance_margin)
                     and no_better(v, list(by_seed.values()), hib)}
            v.modes[a] = modes_head_to_head(tests, pairs, hib, v.rope, resolution(d), blank)


def _seed_facts(d: DatasetResults, v: DatasetVerdicts, hib: bool) -> None:
    """What the seeds did: strays, arms without runs or with seeds lost, divergences, perfect scores."""
    v.stray_seeds = stray_seeds(d.values, v.rope, hib, floor=largest_step(d))
    v.no_runs = [a for a, by_seed in d.values.items() if not by_seed and a != arms.BASELINE]
    v.no_baseline = not d.values.get(arms.BASELINE)
    v.deleted = d.deleted
    valued = set().union(*d.values.values())
    v.baseline_diverged = v.no_baseline and bool(valued) and valued <= set(d.diverged.get(arms.BASELINE, []))
    # seeds every arm diverged on (one that failed otherwise on some arm is not "diverged on every arm")
    v.seeds_diverged = sorted(s for s in set().union(*d.diverged.values()) - valued
                              if all(s in d.diverged.get(a, []) for a in d.values)) if valued else []
    most = max((len(by_seed) for by_seed in d.values.values()), default=0)
    v.lost_seeds = {a: (len(by_seed), most) for a, by_seed in d.values.items() if 0 < len(by_seed) < most}
    v.diverged = {a: len(seeds) for a, seeds in d.diverged.items() if seeds}
    v.exploded = {a: dict(by_seed) for a, by_seed in d.exploded.items()}
    base = set(d.values.get(arms.BASELINE, {}))
    v.unpaired = [a for a, by_seed in d.values.items() if a != arms.BASELINE and by_seed and base and not set(by_seed) & base]
    v.cells = sum(len(by_seed) for by_seed in d.values.values()) + sum(v.diverged.values())
    best = 1.0 if hib else 0.0   # every higher-is-better metric tops out at 1, every loss at 0
    scored = [x for by_seed in d.values.values() for x in by_seed.values()]
    v.perfect = bool(scored) and all(abs(x - best) <= 1e-12 for x in scored)
    # the training metric perfect on every seed of every arm?
    train = [x for arm in d.values for x in train_values(d, arm).values()]
    v.train_perfect = bool(train) and all(abs(x - best) <= 1e-9 for x in train)


STRAY_ROPES, STRAY_SPREADS = 5, 10   # a seed this many ROPEs, and other-seed ranges, worse than the others' median


def stray_seeds(values: dict[str, dict[int, float]], rope: float, higher_is_better: bool, floor: float = 0.0) -> dict:
    """{arm: (seed, value, lowest, highest of its other seeds)} for arms with 3 seeds or more of
    which one is far worse than the others: by STRAY_ROPES ROPEs and STRAY_SPREADS times the range of
    the others (73.5% beside 94.6% and 95.0%: a run that diverged or oscillated, not seed noise). The
    range is at least `floor`, one test row's step (two seeds tied at 96.7% of 30 rows beside 90%
    is two rows, not instability)."""
    out = {}
    sign = 1.0 if higher_is_better else -1.0
    for arm, by_seed in values.items():
        if len(by_seed) < 3 or not math.isfinite(rope):
            continue
        seed = min(by_seed, key=lambda s: sign * by_seed[s])   # the worst
        others = [x for s, x in by_seed.items() if s != seed]
        worse = sign * (float(np.median(others)) - by_seed[seed])
        if worse > STRAY_ROPES * rope and worse > STRAY_SPREADS * max(max(others) - min(others), floor):
            out[arm] = (seed, by_seed[seed], min(others), max(others))
    return out


def _compare(d: DatasetResults, v: DatasetVerdicts, seeds: set[int]) -> list[stats.Paired]:
    """Paired comparisons with none on `seeds` for every arm not yet decided."""
    base = d.values.get(arms.BASELINE, {})
    hib = metric_for(d.task, d.metric).higher_is_better
    fresh = []
    for arm, values in d.values.items():
        shared = sorted(seeds & set(base) & set(values))
        if arm == arms.BASELINE or not shared or (arm in v.paired and v.paired[arm].verdict in stats.FINAL):
            continue
        v.paired[arm] = stats.paired_test([values[s] for s in shared], [base[s] for s in shared], hib, rope=v.rope,
                                          resolution=resolution(d))
        # one seed is "not enough seeds", not a final "at chance": none's overfitting below the
        # constant (overfits_below_chance) needs a CI, and 2 seeds of d2l said "L2: better"
        if len(shared) >= 2 and not math.isnan(v.chance_margin) and no_better(v, [values[s] for s in shared], hib) \
                and no_better(v, [base[s] for s in shared], hib) \
                and not overfits_below_chance(d, v, arms.BASELINE, shared):   # on the seeds compared at this look
            v.paired[arm].verdict = AT_CHANCE   # left out of the Holm family: there is nothing to test
        else:
            fresh.append(v.paired[arm])
    return fresh


def _rank_winners(d: DatasetResults, v: DatasetVerdicts) -> None:
    """The regularized arms against each other (head_to_head), and by them the winners: arms
    better than none by more than a negligible amount, best mean first. With several, the first
    is the best of them when its pair with each other one favours it (by more than the ROPE,
    Holm over the dataset's pairs); they are practically the same when every pair of them is: the
    headline and the report's head-to-head table then say the same."""
    hib = metric_for(d.task, d.metric).higher_is_better
    v.head_to_head = head_to_head(d.values, hib, v.rope, resolution(d), set(v.at_chance))
    means = {a: float(np.mean(list(d.values[a].values()))) for a in v.arms_with("better")
             if not v.paired[a].negligible}
    v.winners = sorted(means, key=lambda a: -means[a] if hib else means[a])
    if len(v.winners) < 2:
        return
    among = set(v.winners)
    pairs = {frozenset((h.first, h.second)): h for h in v.head_to_head if {h.first, h.second} <= among}
    v.winners_p = max((h.paired.p_t_holm for key, h in pairs.items() if v.winners[0] in key
                       and h.paired.verdict == "undecided"), default=math.nan)
    if len(pairs) < len(among) * (len(among) - 1) // 2:   # a pair without shared seeds: nothing to name
        return
    # the best: the winners no other winner beats, practically the same as each other, each of them
    # beating every other winner (one arm: "the best of them"; all of them: "practically the same")
    best = [a for a in v.winners if not any(pairs[frozenset((a, b))].favours(b) for b in among - {a})]
    settled = bool(best) and all(pairs[frozenset((a, b))].same() for a in best for b in best if a < b) \
        and all(pairs[frozenset((a, b))].favours(a) for a in best for b in among - set(best))
    v.best_group = best if settled else []
