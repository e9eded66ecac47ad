"""What a classification table's training classes warn of: a majority class or rare classes that
accuracy barely counts, classes with no training rows, and classes of so few rows that a metric
scoring every class alike swings with them. tables.py calls these once the table is split;
column_checks.py judges the columns before that."""

from __future__ import annotations

import json
import math

import numpy as np

from .words import counted, plural


# A class this share of the training rows or more makes accuracy a poor primary metric (warned).
IMBALANCED = 0.8
# A class under this share of the training rows is rare (warned under accuracy).
RARE = 0.05


def class_warnings(names: list[str], counts: np.ndarray, accuracy: bool, weighted: bool = False,
                   stratified: bool = False) -> list[str]:
    """Warnings on a classification table's training classes (`counts` per class, in `names`' order):
    under accuracy, a majority class or rare classes that accuracy barely counts (class weights
    change what is trained, not what accuracy counts); and classes with no training rows at all."""
    out = []
    majority = float(counts.max()) / max(int(counts.sum()), 1)
    if accuracy and majority >= IMBALANCED:
        out.append(f"The largest class is {majority:.0%} of the training rows and the metric is accuracy: "
                   f"always predicting that class scores about {majority:.0%}, which leaves accuracy little "
                   "room to tell the arms apart; metric: balanced_accuracy (or macro_f1) scores every class "
                   f"alike{_weights_advice(weighted)}")
    elif accuracy:
        out += _rare_class_warning(names, counts, weighted)
    absent = [name for name, c in zip(names, counts) if c == 0]
    if absent:
        out.append(f"{counted(len(absent), 'class')} {plural(len(absent), 'has')} no training rows ({', '.join(map(repr, absent[:10]))}"
                   f"{', ...' if len(absent) > 10 else ''}; only validation or test "
                   "rows): the models cannot learn to predict them; "
                   + ("" if stratified else "stratify: true keeps every class's share in each split (or ")
                   + "lower val_fraction or test_fraction, or raise train_size" + ("." if stratified else ")."))
    return out


def one_test_class_warning(names: list[str], test: np.ndarray, stratified: bool = False) -> list[str]:
    """A test split of one class (a small table, a rare class): every test score is how often that
    class is predicted, which always predicting it makes perfect; said before training, where the
    verdicts could only say that no arm beats a constant prediction."""
    present = np.flatnonzero(test)
    if len(present) != 1 or len(names) < 2:
        return []
    only = names[int(present[0])]
    others = [repr(n) for n in names if n != only]
    return [f"The test split holds one class only ({only!r}, {counted(int(test.sum()), 'row')}; "
            f"{', '.join(others[:5])}{', ...' if len(others) > 5 else ''} none): every test score says how often {only!r} is "
            "predicted, which always predicting it makes perfect; "
            + ("raise test_fraction" if stratified else "stratify: true gives every split each class's share (or raise "
               "test_fraction)") + " so that the test split holds every class."]


# A class with fewer training rows than this, under a metric that scores every class alike, is warned.
FEW_ROWS = 10


def few_rows_warning(names: list[str], train: np.ndarray, test: np.ndarray, metric_label: str,
                     merged: frozenset = frozenset(), weighted: bool = False, over_test_classes: bool = False) -> list[str]:
    """Under a metric that scores every class alike (balanced accuracy, macro F1), a class of a few
    training rows weighs 1/classes of it: the models can hardly learn it from so few rows, and its
    few test rows swing the metric (the opposite of accuracy's rare-class warning: accuracy is
    offered as the choice of a user to whom the class matters less, not as the way out). Reading the
    class as a related one is offered only beside two others or more (of two, one would be left).
    `over_test_classes`: the metric averages over the classes the test split has (balanced accuracy,
    task._from_confusion; macro F1 averages over every class)."""
    few = [i for i in np.argsort(train, kind="stable") if 0 < train[i] < FEW_ROWS]
    if not few:
        return []
    # balanced accuracy: 7 classes of 8 in the test split weigh 1/7 each
    scored = (int((test > 0).sum()) if over_test_classes else 0) or len(train)
    if scored < 2:   # one class in the test split: one_test_class_warning says what that means
        return []
    weighs = (f"each of the {len(train)} classes weighs 1/{len(train)}" if scored == len(train) else
              f"each of the {scored} classes with test rows weighs 1/{scored}")
    listed = ", ".join(f"{names[i]!r} ({counted(int(train[i]), 'training row')}, {int(test[i])} test)"
                       for i in few[:5]) + (", ..." if len(few) > 5 else "")
    one = len(few) == 1
    return [f"{'A class' if one else 'Classes'} with few rows under {metric_label}, where {weighs}: {listed}; the "
            f"models can hardly learn {'it' if one else 'them'} from "
            f"so few rows{_one_row(names, scored, test, min(few, key=lambda i: test[i] or np.inf))}; "
            # already a merge of labels: not that advice again; of two classes, a merge would leave one
            + ("" if all(names[i] in merged for i in few) or len(train) <= 2 else
               f"read {'it' if one else 'them'} as a related class "
               f"(preprocess.target_classes: {_merge_example(names, [names[i] for i in few])}), ")
            + "collect more rows"
            + ("" if weighted else f", set class_weight: balanced so that training does not ignore {'it' if one else 'them'}")
            + f", or, if {'it matters' if one else 'they matter'} less to you than 1/{scored} of the score, choose "
            "metric: accuracy (each class counted by its share)"]


def _merge_example(names: list[str], few: list[str]) -> str:
    """target_classes for the first rare class, the class it is read as left for the user to choose
    among the others: a placeholder that would run as written (`{rare: related}`) made a new class."""
    # written as the study file writes them ("NO", as the other target_classes advice), not Python's 'NO'
    others = [_written(n) for n in names if n not in few] or [_written(n) for n in few[1:]]   # every class rare: the others
    listed = ", ".join(others[:3]) + ", ..." if len(others) > 3 else \
        " or ".join([", ".join(others[:-1]), others[-1]] if len(others) > 1 else others)
    return f"{{{_written(few[0])}: <the related class: {listed}>}}"


def _written(label: str) -> str:
    return json.dumps(label, ensure_ascii=False)   # "Kündigung", not "K\u00fcndigung"


def rare_unweighted_warning(names: list[str], counts: np.ndarray, metric_label: str) -> list[str]:
    """Under a metric that scores every class alike, with the plain (unweighted) loss: classes under
    RARE of the training rows (of FEW_ROWS rows or more; fewer are few_rows_warning's) weigh little in
    training, which may settle on never predicting them, and the metric then scores that as chance
    on them. Said before training, with class_weight: balanced as the remedy."""
    share = counts / max(int(counts.sum()), 1)
    rare = [i for i in np.argsort(share, kind="stable") if counts[i] >= FEW_ROWS and share[i] < min(RARE, 0.5 / len(counts))]
    if not rare:
        return []
    one = len(rare) == 1
    listed = ", ".join(f"{names[i]!r} ({share[i]:.1%})" for i in rare[:5]) + (", ..." if len(rare) > 5 else "")
    return [f"{'A rare class' if one else 'Rare classes'} of the training rows under {metric_label}: {listed}; the plain "
            f"loss counts {'it' if one else 'them'} by {'its' if one else 'their'} share, so the models may settle on "
            f"never predicting {'it' if one else 'them'}, which {metric_label}, weighing each of the {len(counts)} classes "
            f"1/{len(counts)}, scores as chance on {'it' if one else 'them'}; class_weight: balanced trains for "
            f"{'it' if one else 'them'} (the metric is unchanged)"]


def _one_row(names: list[str], scored: int, test: np.ndarray, i: int) -> str:
    """", and a prediction on one of the 2 test rows of 'x' moves the metric by about 16.7 pt" (balanced accuracy's
    step there, of `scored` classes with test rows; macro F1's is about as large) for the listed class
    of fewest test rows, or "" when none of them has any."""
    if not test[i]:
        return ""
    rows = f"one of the {int(test[i])} test rows" if test[i] > 1 else "the one test row"
    return (f", and a prediction on {rows} of {names[i]!r} moves the metric by about "
            f"{100 / (scored * int(test[i])):.1f} pt")


def _weights_advice(weighted: bool) -> str:
    return ("; class_weight: balanced trains for the rare classes, but accuracy still counts each by its share."
            if weighted else ", and class_weight: balanced trains for the rare ones.")


def _rare_class_warning(names: list[str], counts: np.ndarray, weighted: bool) -> list[str]:
    """Under accuracy, a class (present) under RARE of the training rows counts for about that share:
    the arms are compared on the common classes (a multiclass table the majority rule misses)."""
    share = counts / max(int(counts.sum()), 1)
    # relative to a fair share too: 26 balanced letters are 3.8% each, and none is rare
    rare = [i for i in np.argsort(share) if 0 < share[i] < min(RARE, 0.5 / len(counts))]
    if not rare:
        return []
    listed = ", ".join(f"{names[i]!r} ({share[i]:.1%})" for i in rare[:5]) + (", ..." if len(rare) > 5 else "")
    return [f"{'Rare classes' if len(rare) > 1 else 'A rare class'} of the training rows under accuracy: {listed}; "
            f"getting {'them all' if len(rare) > 1 else 'it'} wrong costs about that "
            "share of accuracy, so the arms are compared mostly on the common classes; metric: balanced_accuracy (or "
            f"macro_f1) scores every class alike{_weights_advice(weighted)}"]


# A target of whole numbers read as classes (task: auto) with at least this many values, most of a
# run of integers (1 to 14 days), is likely a count: warned, with task: regression as the way out.
COUNT_CLASSES = 8
STEP_OF_AMOUNTS, STEPPED_CLASSES = 100, 5   # whole numbers in steps of 100 or more: amounts, from 5 values


def quantity_target_warning(names: list[str], target: str, rows: int, auto_classes: int) -> list[str]:
    """A warning when task: classification reads a target of numbers that look like a quantity as
    classes: more distinct values than task: auto would read as classes (`auto_classes`), and
    fractions (19.99) or values for a third of the training rows or more (a price: 180 values for
    200 rows); [] otherwise (codes, grades of 2.5, a few counts)."""
    try:
        numbers = [float(n) for n in names]
    except ValueError:
        return []
    fractions = not all(x.is_integer() for x in numbers)
    if len(numbers) <= auto_classes or not (fractions or len(numbers) >= 0.3 * rows):
        return []
    example = next((n for n in names if not float(n).is_integer()), names[-1]) if fractions else names[-1]
    return [f"Target {target!r} is numbers, {len(numbers)} distinct values for {counted(rows, 'training row')} "
            f"({'fractions such as ' + example if fractions else f'{names[0]} to {names[-1]}'}), each read as a class "
            f"(task: classification): most classes have a row or two to learn from, and a prediction one step off "
            f"counts as wrong as any. If it is a quantity, task: regression (or auto) predicts it as a number; if "
            f"it is a code, leave task: classification."]


def count_target_warning(names: list[str], target: str) -> list[str]:
    """A warning when task: auto read a target of whole numbers as classes that look like a count
    (at least COUNT_CLASSES values covering most of the integers between the smallest and largest:
    a stay of 1 to 14 days), which accuracy scores as if 13 for 14 were as wrong as 1; or like an
    amount rounded to a step (STEPPED_CLASSES values or more, most of a grid of 100 or more: prices
    of 100,000 to 250,000 in steps of 25,000, a table review); [] otherwise."""
    try:   # "1.0": a target of whole numbers with a blank row is read as floats
        numbers = [float(n) for n in names]
    except ValueError:
        return []
    if not all(x.is_integer() for x in numbers):
        return []
    values = sorted(int(x) for x in numbers)
    step = math.gcd(*(b - a for a, b in zip(values, values[1:]))) if len(values) > 1 else 1
    if 1 < step < STEP_OF_AMOUNTS:   # 10, 20, ..., 80: grades or codes as often as amounts
        return []
    fewest = COUNT_CLASSES if step == 1 else STEPPED_CLASSES
    if len(values) < fewest or len(values) < 0.7 * ((values[-1] - values[0]) // step + 1):
        return []
    steps = f" in steps of {step}" if step > 1 else ""
    return [f"Target {target!r} has {len(values)} whole-number values ({values[0]} to {values[-1]}{steps}), read as "
            f"{len(values)} classes (task: auto), each as far from the others as any: a classification metric counts a "
            f"{values[-2]} predicted for a {values[-1]} as wrong as a {values[0]}. If it is a count or an amount, set task: regression; if they are "
            "codes, task: classification silences this."]
