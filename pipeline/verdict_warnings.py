"""Warnings that go with a dataset's verdicts: the arms scored no better than a model that learned
nothing (a constant prediction, made without the features), or the test metric leaves no room to
tell the arms apart. The console, the MLflow note and the report print the same words."""

from __future__ import annotations

import math

from . import arms
from .metric_numbers import amount, quantity
from .task import METRICS
from .verdicts import EXPLODED, DatasetVerdicts
from .words import and_list, counted, named, plural


def warnings(v: DatasetVerdicts) -> list[str]:
    """Every warning on a dataset's verdicts, for the console, the MLflow note and the report."""
    return [w for w in (divergence_warning(v), exploded_warning(v), chance_warning(v), stray_warning(v), rope_warning(v),
                        seeds_added_warning(v), chosen_after_warning(v), lost_seeds_warning(v), unpaired_warning(v),
                        deleted_warning(v)) if w]


DELETED_SHOWN = 3   # run ids named in the warning's restore command


def deleted_warning(v: DatasetVerdicts) -> str:
    """Finished cells whose MLflow run was deleted: left out, as the report (which reads active runs)
    leaves them out; the console had counted them from Optuna, and disagreed with the report."""
    if not v.deleted:
        return ""
    runs = [run for by_seed in v.deleted.values() for run in by_seed.values()]
    named = and_list([f"{v.name(a)} seed{'s' if len(by_seed) > 1 else ''} {and_list(list(map(str, sorted(by_seed))))}"
                      for a, by_seed in v.deleted.items()])
    one = len(runs) == 1
    it = "it" if one else "them"
    return (f"The MLflow {plural(len(runs), 'run')} of {named} {plural(len(runs), 'was')} deleted, so "
            f"{'it is' if one else 'they are'} left out here and in the report; a rerun does not train {it} again "
            f"(the study has {it} done): restore {it} to count {it} (" + (
                f"mlflow runs restore --run-id {runs[0]}" if one else
                "mlflow runs restore --run-id <id>, for each of " + ", ".join(runs[:DELETED_SHOWN])
                + (f" and {len(runs) - DELETED_SHOWN} more" if len(runs) > DELETED_SHOWN else "")) + ").")


def divergence_warning(v: DatasetVerdicts) -> str:
    """Every cell diverged, or some arms on every seed: what to change, where the report and the
    MLflow note are read (the console's hint at training time was the only word of it)."""
    if not v.diverged:
        return ""
    how = "a NaN or infinite loss" + (", or a finite one that exploded" if v.exploded else "")
    if sum(v.diverged.values()) == v.cells:
        return (f"Every cell diverged ({how}), so there is nothing to compare: lower the learning "
                "rate (optimizer: {lr: ...})" + ("; for a regression target, see the dataset's data paragraph: one "
                                                "trained on as it is may need standardize_target: true" if v.task == "regression" else "") + ".")
    if v.no_baseline and v.baseline_diverged:   # the others trained: nothing to compare them with
        return (f"none diverged on every seed ({how}) while other arms trained, so no arm is compared with it: the "
                "learning rate is too high for the unregularized model (the others' regularization kept them stable); "
                "lower it (optimizer: {lr: ...}).")
    whole = [a for a in v.no_runs if v.diverged.get(a)]
    if not whole and v.seeds_diverged:   # whole seeds (an adaptive round) lost, every arm alike: no other warning sees it
        lost = v.seeds_diverged
        return (f"{plural(len(lost), 'Seed')} {and_list(list(map(str, lost)))} diverged on every arm ({how}) "
                f"while other seeds trained, so the comparisons rest on those others: the learning rate is near the edge "
                "of stability for this data; lower it (optimizer: {lr: ...}).")
    if not whole:
        return ""
    return (f"{and_list([v.name(a) for a in whole])} diverged on every seed ({how}) while other arms "
            f"trained: {plural(len(whole), 'its')} strength, or the learning rate, is too high for "
            f"{plural(len(whole), 'it')}; lower one (the seed advice cannot help: a retry diverges the same way).")


EXPLODED_SHOWN = 5   # runs named in the warning; the rest counted


def exploded_warning(v: DatasetVerdicts) -> str:
    """Runs that finished with a test error that blew up (verdicts.exploded_rule): which, and that
    they count as diverged (their trial runs finished, so nothing else says it)."""
    if not v.exploded:
        return ""
    m = METRICS[v.metric]
    runs = [f"{v.name(a)} seed {s} (test {m.label} {quantity(x)})" for a, by_seed in v.exploded.items()
            for s, x in sorted(by_seed.items())]
    named = runs if len(runs) <= EXPLODED_SHOWN else runs[:EXPLODED_SHOWN] + [f"{len(runs) - EXPLODED_SHOWN} more"]
    squared = "" if m.name in ("mse", "log_loss") else " (on MSE's scale)"
    return (f"{and_list(named)} exploded: a test {m.label} whose error is over {EXPLODED:.0f} times the constant "
            f"prediction's ({quantity(v.chance, 4)}) and the median run's{squared}, a loss that blew up without a NaN in "
            f"training. {'It is' if len(runs) == 1 else 'They are'} counted as diverged and left out of the comparisons, "
            "the ROPE, the means and the figures (the trial runs finished: their tags do not say it); lower the learning "
            "rate" + (", or train on a standardized target (standardize_target: true)" if v.task == "regression" else "")
            + ".")


def unpaired_warning(v: DatasetVerdicts) -> str:
    """Arms with finished seeds of which none finished too: no pair to compare (the arm had no
    line and no verdict, without a word)."""
    if not v.unpaired:
        return ""
    return (f"{and_list([v.name(a) for a in v.unpaired])} {plural(len(v.unpaired), 'is')} not compared with none: "
            "no seed finished on both sides (the others failed or diverged), and a comparison pairs seeds.")


def lost_seeds_warning(v: DatasetVerdicts) -> str:
    """Arms that finished fewer seeds than others (their other seeds failed, diverged or scored no
    value): each comparison uses the seeds both sides finished, so a verdict stands on the seeds
    that trained well, flattering the arm if the lost ones were its worse draws. The arms at
    chance say it in the chance warning."""
    lost = {a: counts for a, counts in v.lost_seeds.items() if a not in v.unpaired}
    if not lost:
        return ""
    most = max(m for _, m in lost.values())

    def why(a: str) -> str:
        n = min(v.diverged.get(a, 0), most - lost[a][0])
        return f" ({n} diverged)" if n else ""
    said = and_list([f"{v.name(a)} finished {n}{why(a)}" for a, (n, _) in lost.items()])
    lr = " Seeds that diverge say the learning rate is too high for that arm: lower it." if any(map(why, lost)) else ""
    return (f"Seeds missing, of the {most} another arm finished: {said} (the rest failed, diverged, scored no value "
            "or are still to train; failed trial runs' fail_reason tags say why). A comparison uses the seeds both sides "
            f"finished, so if the lost ones were the worse draws, it flatters the arm that lost them.{lr}")


def seeds_added_warning(v: DatasetVerdicts) -> str:
    """Seeds added to a fixed-seed study once some had results: the tests' error rates hold for a
    number of seeds set before any look; adding seeds because a look was undecided (as the seed
    advice invites) makes wrong verdicts more likely than stated. Not for verdicts on no more seeds
    than there were then (a `--seeds 3` view of seeds planned before that look)."""
    before = [n for n in v.seeds_added_after if n < v.seeds_used]
    if not before:
        return ""
    return (f"Seeds were added after results on {and_list([str(n) for n in before])} seeds were in: the "
            "tests hold their 5% error rate for a number of seeds set before any look, so if an undecided look is "
            "why seeds were added, wrong verdicts are more likely than that (optional stopping); adaptive seeds "
            "(seeds: {start, step, max}), set before the first run and kept, plan the looks and correct for them.")


def chosen_after_warning(v: DatasetVerdicts) -> str:
    """The primary metric or the ROPE changed after verdicts were given under the earlier one
    (summary._say_choices_changed said it once on the console): a choice made knowing the results is as
    post hoc as seeds added after them, and whoever reads the report or the MLflow note should know."""
    if not v.chosen_after:
        return ""
    return (f"Changed after verdicts were given: {and_list(v.chosen_after)}. The tests' error rates hold for a "
            "metric, a ROPE, path points and strengths set before the first result; chosen knowing the results, they "
            "no longer do, so read these verdicts as a look, not a test.")


def stray_warning(v: DatasetVerdicts) -> str:
    """One seed of an arm far worse than its others: training that diverged or swung (a learning
    rate too high), whose one seed makes most of the comparisons' spread."""
    if not v.stray_seeds:
        return ""
    m = METRICS[v.metric]

    def value(x: float) -> str:
        return f"{100 * x:.1f}%" if m.share else quantity(x, 4)

    said = "; ".join(f"{v.name(arm)} seed {seed}: test {m.label} {value(x)}, its other seeds {value(lo)} to {value(hi)}"
                     for arm, (seed, x, lo, hi) in v.stray_seeds.items())
    return (f"One seed far worse than the others ({said}): training was likely unstable there (a learning rate too "
            "high for this model, a divergence), and that seed makes most of the spread its comparisons are judged "
            "by; look at its val_metric curve in MLflow, and lower the learning rate if it swings")


def rope_warning(v: DatasetVerdicts) -> str:
    """A ROPE as wide as half of none's mean or more, on a metric in the data's units (MSE, MAE,
    log loss), makes every arm "practically the same" whatever it did: `rope: 5` meant as 5% on
    an MSE of 0.32. (Shares and R², and percentages, are refused at load: stats.rope_problem.)"""
    m = METRICS[v.metric]
    base = next((p.baseline_mean for p in v.paired.values() if math.isfinite(p.baseline_mean)), math.nan)
    if m.share or v.metric == "r2" or not math.isfinite(v.rope) or not (abs(base) > 0) or v.rope < 0.5 * abs(base):
        return ""
    ratio = v.rope / abs(base)
    size = f"{ratio:.0f} times" if ratio >= 2 else f"{ratio:.0%} of"
    return (f"The ROPE (±{quantity(v.rope)} {m.label}) is {size} none's mean test {m.label} ({quantity(base)}): "
            f"an arm within it of none is called practically the same whatever it did to the error; set rope to a share of none's mean, e.g. '5%', or a width well below {quantity(abs(base))}")


def chance_warning(v: DatasetVerdicts) -> str:
    """A warning when arms score no better than a constant prediction made without the features
    (what it scores is said), or when the metric leaves no room to tell; "" otherwise."""
    m = METRICS[v.metric]
    constant = constant_prediction(v)
    score = f"test {m.label} {quantity(v.chance, 4)}" if v.chance is not None else ""
    if v.perfect or v.little_room:
        return _no_room(v, constant, score)
    if not v.at_chance:
        return ""
    compared = {*v.paired, arms.BASELINE}
    hint = ("; with imbalanced classes, try class_weight: balanced in the dataset entry"
            if v.task == "classification" and not v.class_weighted else "")
    if arms.BASELINE in v.below_chance:
        return _worse_than_constant(v, constant, score)
    memorizes = _memorizes(v)
    every = _every_arm(v)
    if set(v.at_chance) >= compared and memorizes:
        return (f"{every} scored no better than always predicting {constant} ({score}) on the test rows, though none "
                f"(unregularized) fits its training rows ({memorizes}): the models memorize the training rows rather than learn what "
                "generalizes, and no regularizer at these strengths changed that; try stronger regularization, fewer "
                f"features or more rows{hint}")
    if set(v.at_chance) >= compared and v.misfit_train is not None:
        return (f"{every} scored no better than always predicting {constant} ({score}), and none did worse than it "
                f"on its training rows too (train MAE {quantity(v.misfit_train, 4)}): the models train on squared error, which the "
                "few extreme targets pull away from the median that MAE favours. Their comparisons say little about "
                "regularization under MAE; train on the target's logarithm (a new column of the file, with the "
                "original dropped), so that the models fit what they are scored on (under metric: mse the verdicts "
                "would follow the few extreme rows instead)")
    if set(v.at_chance) >= compared and not v.one_seed and (far := _far_worse(v, constant, score)):
        return far
    if set(v.at_chance) >= compared:
        return (f"{every} scored no better than always predicting {constant} ({score}): the models learned little "
                "or nothing here, so their comparisons say nothing about regularization; check the target, the "
                f"features, the learning rate and the epochs{hint}")
    names = f"The arm{'s' if len(v.at_chance) > 1 else ''} {_at_chance_names(v)}"
    if not v.paired:   # none has no runs to pair with: the data and the strength are both suspects
        return (f"{names} scored no better than always predicting {constant} ({score}), and none has no finished runs "
                "on these seeds to tell whether the data or the regularization is the cause; run none too"
                f"{hint}")
    if arms.BASELINE in v.at_chance and memorizes:
        return _memorizing_beside_learners(v, names, f"{constant} ({score})", memorizes)
    if arms.BASELINE in v.at_chance:
        return (f"{names} scored no better than always predicting {constant} ({score}) while other arms learned: "
                "those are compared with a baseline that learned nothing; check the learning rate and the epochs"
                f"{hint}")
    s = v.none_summary
    oriented = 1.0 if m.higher_is_better else -1.0
    low = min(oriented * (s.ci_low - v.chance), oriented * (s.ci_high - v.chance)) if s is not None else math.nan
    if s is not None and not low > v.chance_margin:   # NaN (one seed) too: not clear
        ci = f", 95% CI [{quantity(s.ci_low, 4)}, {quantity(s.ci_high, 4)}] over {s.n} seeds" if s.n > 1 else f" on {s.n} seed"
        why = (f"though it fits its training rows ({memorizes}): the models memorize more than they learn here, so "
               "this says little about regularization at these strengths; try stronger ones, fewer features or more rows"
               if memorizes else "the models barely learn here, so this says little about regularization; " +
               ("some cells diverged, so the learning rate is too high rather than too low: lower it first"
                if v.diverged else "train longer or with a larger learning rate first"))
        return (f"{names} scored no better than always predicting {constant} ({score}), and none is not clearly above "
                f"it either (test {m.label} {quantity(s.mean, 4)}{ci}){', ' if memorizes else ': '}{why}")
    return _too_strong(v, f"{names} scored no better than always predicting {constant} ({score}) while none learned")


def _memorizing_beside_learners(v: DatasetVerdicts, names: str, constant: str, memorizes: str) -> str:
    """none at chance though it fits its training rows, while other arms learned. none is the
    unregularized one: a regularized arm beside it at chance that fits its training rows too did not
    stop the memorizing; one that fits neither is too strong to learn."""
    others = [a for a in v.at_chance if a != arms.BASELINE]
    still = [v.name(a) for a in others if a in v.fits_train]
    neither = [v.name(a) for a in others if a not in v.fits_train]

    def its(names: list) -> str:
        return "its" if len(names) == 1 else "their"

    who = ("; ".join(["none, unregularized, memorizes them"]
                     + [f"{and_list(still)} at {its(still)} strength did not stop that"] * bool(still)
                     + [f"{and_list(neither)} {'fits' if len(neither) == 1 else 'fit'} neither, too strong at "
                        f"{its(neither)} strength to learn"] * bool(neither))
           if others else "unregularized, the model memorizes them")
    return (f"{names} scored no better than always predicting {constant} on the test rows while other arms learned, "
            f"though none fits its training rows ({memorizes}): {who}; the arms that learned are regularization doing its job")


def _at_chance_names(v: DatasetVerdicts) -> str:
    """"none, L1, dropout+L2 (on its one finished seed)": the arms at chance, those judged on the one
    seed that finished (the others diverged or failed) named as such."""
    return ", ".join(v.name(a) + (" (on its one finished seed)" if a in _left_with_one(v) else "") for a in v.at_chance)


def _every_arm(v: DatasetVerdicts) -> str:
    """"Every arm", or "Every arm (dropout+L2 on its one finished seed)" where some were judged on one seed."""
    one = _left_with_one(v)
    return "Every arm" + (f" ({and_list(list(map(v.name, one)))} on {'its' if len(one) == 1 else 'their'} one "
                          "finished seed)" if one else "")


def _left_with_one(v: DatasetVerdicts) -> list[str]:
    """The arms at chance on the one seed they finished where others finished more (in a study of
    one seed, every arm has one and none lost any)."""
    return [a for a, (n, _) in v.few_seeds.items() if n == 1]


def _too_strong(v: DatasetVerdicts, said: str) -> str:
    """Arms at chance while none learned: their strength is the suspect (_strength_words), unless
    one finished fewer seeds than the others, whose missing ones may have diverged: then the
    learning rate first."""
    single = list(map(v.name, _left_with_one(v)))
    lost = [f"{and_list(single)} finished one seed only"] if single else []
    lost += [f"{v.name(a)} finished {n} of {most} seeds" for a, (n, most) in v.few_seeds.items() if n > 1]
    return _strength_words(v, said) + (f"; {and_list(lost)}: if the others diverged, a smaller learning rate "
                                       "comes first" if lost else "")


def _strength_words(v: DatasetVerdicts, said: str) -> str:
    """Arms at chance while none learned: their strength is the suspect, by where on its path the
    selected point lies (the best of each path on validation, still at chance)."""
    places = {v.path_place.get(a, "") for a in v.at_chance}
    if places == {"weakest"}:
        return f"{said}: their regularization is likely too strong, even at the weakest strength tried on the path: extend it toward weaker ones"
    if places == {"stronger"}:
        one = len(v.at_chance) == 1
        return (f"{said}, at {'its path' if one else 'each path'}'s best strength on validation (weaker strengths did "
                f"no better there): at the strengths tried, {'this regularization keeps' if one else 'these regularizations keep'} "
                "the model from learning")
    return f"{said}: their regularization is likely too strong (a smaller strength, or a path over strengths, would show it)"


def _no_room(v: DatasetVerdicts, constant: str, score: str) -> str:
    """The metric leaves nothing to tell the arms apart: every arm perfect, one test row too coarse,
    or a constant already near the top."""
    m = METRICS[v.metric]
    if v.perfect and v.leaky_columns:
        n = len(v.leaky_columns)
        return (f"Every arm scored a perfect test {m.label} on every seed: this test split cannot tell the "
                f"regularizers apart. {named('Column', v.leaky_columns)} {plural(n, 'gives')} the target "
                f"away (see the data warnings): drop {'it' if n == 1 else 'them'} under preprocess.drop_columns to compare the "
                "regularizers on the task itself")
    if v.perfect:
        return (f"Every arm scored a perfect test {m.label} on every seed: this test split cannot tell the "
                "regularizers apart. If that is unexpected, a feature may give the target away (a copy of it, or "
                "something derived from it; in a table, drop it under preprocess.drop_columns); otherwise harder "
                "data or a finer metric (log_loss for classification) would tell them apart")
    if v.room_step:
        # a small unstratified test split can hold a class far below its share (the constant then scores high)
        stratify = (" and, if not set already, stratify: true, so that the test split keeps each class's share"
                    if v.task == "classification" else "")
        return (f"One test row {_row_of(v)} moves test {m.label} by {amount(v.room_step, v.metric, signed=False)}: with "
                f"so few test rows no arm can be told apart from always predicting {constant} ({score}); raise the "
                f"dataset's test_fraction{stratify}")
    return (f"Always predicting {constant} already scores {score}: test {m.label} has less than two ROPEs "
            "of room above it, so no arm can be told apart from a model that learned nothing; choose "
            "metric: balanced_accuracy (or macro_f1, roc_auc) to compare the arms on the rare classes")


def _memorizes(v: DatasetVerdicts) -> str:
    """"train MSE 1.2e+07": none's training value where it fits its training rows while no better than
    the constant on test (overfitting, not a model that learned nothing); "" otherwise."""
    if arms.BASELINE not in v.fits_train:
        return ""
    m, x = METRICS[v.metric], v.fits_train[arms.BASELINE]
    return f"train {m.label} {100 * x:.1f}%" if m.share else f"train {m.label} {quantity(x, 4)}"


def _worse_than_constant(v: DatasetVerdicts, constant: str, score: str) -> str:
    """none clearly worse than a constant prediction: it overfits so much that ignoring the features
    does better; which arms remove that harm, and whether any learns beyond it."""
    m = METRICS[v.metric]
    s = v.none_summary
    level = f"test {m.label} {quantity(s.mean, 4)}, 95% CI [{quantity(s.ci_low, 4)}, {quantity(s.ci_high, 4)}]" if s is not None else ""
    learned = [a for a in v.paired if a not in v.at_chance]
    near = [a for a in v.at_chance if a not in v.below_chance and a in v.paired]
    within = [a for a in near if _from_constant(v, a) >= -v.chance_margin]   # within the margin of the constant
    back = [a for a in within if v.paired[a].verdict == "better"]
    words = (f"none scored worse than always predicting {constant} ({level}, against {score}): unregularized, the "
             "model overfits so much that ignoring the features does better")
    if back:
        words += (f"; {and_list(list(map(v.name, back)))} {'bring' if len(back) > 1 else 'brings'} it back to about the "
                  "constant's level, removing the harm without learning beyond it")
    if same := [a for a in within if a not in back]:
        words += (f"; {and_list(list(map(v.name, same)))} {'score' if len(same) > 1 else 'scores'} about the constant's "
                  "level, not clearly better than none")
    if short := [a for a in near if a not in within]:   # beyond the margin, their CI reaching the constant
        words += (f"; {and_list(list(map(v.name, short)))} {'score' if len(short) > 1 else 'scores'} below the "
                  "constant's level too, if not clearly")
    if learned:
        words += f"; {and_list(list(map(v.name, learned)))} learned more than the constant"
    below = [a for a in v.below_chance if a != arms.BASELINE]
    if below:   # named whatever else learned: In short points here for them
        lesser = all(v.paired[a].verdict == "better" for a in below if a in v.paired)
        words += (f"; {and_list(list(map(v.name, below)))} {'score' if len(below) > 1 else 'scores'} worse than the "
                  "constant too" + (", if less so than none" if lesser else ""))
    if v.far_targets:   # a typo or a unit slip in the target looks just like this: point back to the rows
        n = len(v.far_targets)
        shown = and_list([quantity(x, 4) for x in v.far_targets]) if n <= 3 else ", ".join(quantity(x, 4) for x in v.far_targets[:3]) + ", ..."
        where = {"test": " of the test split", "training": " of the training split, pulling the fit and the training "
                 "mean the constant predicts",
                 "training and test": " of both the training and the test split"}.get(v.far_in, "")
        return words + (f". But {counted(n, 'target row')} far from the others ({shown}"
                        f"; see the data warning) {'makes' if n == 1 else 'make'} most of the squared error{where}: if "
                        f"{'it is a typo or a unit slip' if n == 1 else 'they are typos or unit slips'}, this is "
                        f"{'its' if n == 1 else 'their'} doing, not overfitting, so check {'it' if n == 1 else 'them'} "
                        "first (otherwise, more training rows or stronger regularization are what this data needs)")
    return words + " (more training rows, or stronger regularization, are what this data needs)"


def _from_constant(v: DatasetVerdicts, arm: str) -> float:
    """How far `arm`'s mean is from the constant prediction's score, oriented (positive: better),
    from its comparison with none (none's mean and the difference)."""
    p = v.paired[arm]
    oriented = 1.0 if METRICS[v.metric].higher_is_better else -1.0
    return oriented * (p.baseline_mean - v.chance) + p.mean_diff


def _row_of(v: DatasetVerdicts) -> str:
    """Which test row moves the metric the most, as "of the rarest class (2 rows)" or "(of 40)"."""
    if v.metric == "balanced_accuracy" and v.test_class_rows:
        return f"of the rarest class ({counted(v.test_class_rows[0], 'row')})"
    return f"(of {v.n_test})" if v.n_test else ""


FAR_WORSE = 2.0   # a regression error this many times the constant prediction's is "far worse"


def _far_worse(v: DatasetVerdicts, constant: str, score: str) -> str:
    """The warning for a regression every arm of which is at chance, none with at least FAR_WORSE
    times the constant prediction's error on the test rows; "" otherwise."""
    s = v.none_summary
    if v.task != "regression" or METRICS[v.metric].higher_is_better or s is None or not v.chance or v.chance <= 0 \
            or s.mean < FAR_WORSE * v.chance:
        return ""
    cause = ("; cells diverged here too (see the warnings), so the learning rate is too high for this target's scale: "
             "lower it, or train on a standardized target (standardize_target: true in the dataset entry)"
             if v.diverged else
             "; a few extreme targets among the training rows pull a squared-error fit this far (see the data warnings: "
             "look at the largest values of the target), else check the features, the learning rate and the epochs")
    return (f"Every arm scored far worse than always predicting {constant} ({score}; none test "
            f"{METRICS[v.metric].label} {quantity(s.mean, 4)}, {s.mean / v.chance:.0f}x): the models learned nothing that "
            f"carries to the test rows, so their comparisons say nothing about regularization{cause}")


def constant_prediction(v: DatasetVerdicts) -> str:
    """What a model that learned nothing predicts, as the warnings and "In short" name it."""
    return ("the training median" if v.metric == "mae" else "the training mean" if v.task == "regression" else
            "the training classes' shares" if v.metric in ("log_loss", "roc_auc") else "the majority class")
