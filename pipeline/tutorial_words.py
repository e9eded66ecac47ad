"""A tutorial's words for what a study file says otherwise here, and what they mean: the
baseline is the arm `none`, weight decay is L2's mode, FashionMNIST is `fashion_mnist`, Pima's
diabetes.csv is a table, learning_rate is `lr`. The schema (study_schema.py) and the one-line
errors (study_errors.py) add these as hints to an error; they never change what a file means."""

from __future__ import annotations

import re

from .arms import BASELINE
from .datasets import REGISTRY as DATASETS

# PyTorch's and the tutorials' words for settings of a study file, and where they are here.
WEIGHT_DECAY = ("the optimizer's weight_decay is the l2 arm's strength here: strengths: {l2: <its value>, "
                "l2_mode: weight_decay}, with penalize_bias: true to decay the biases too, as "
                "weight_decay on model.parameters() does")
TUTORIAL_FIELDS = {"learning_rate": "lr", "lr_rate": "lr", "num_epochs": "epochs",
                   "n_epochs": "epochs", "dropout_rate": "dropout", "dropout_p": "dropout"}
TUTORIAL_VALUES = {("optimizer.name", "adamw"): "AdamW is Adam with decoupled weight decay here: optimizer: {name: adam} "
                   "and strengths: {l2: <its weight_decay>, l2_mode: decoupled}"}


# what tutorials call the unregularized model
BASELINE_WORDS = ("baseline", "base", "noreg", "noregularization", "noregularisation", "noregularizer",
                  "unregularized", "unregularised", "vanilla", "plain", "control")


def not_an_arm(name: str) -> str:
    """What a tutorial's regularizer that is not an arm of its own is here: weight decay is how
    L2 applies its strength, hand-written masks are the dropout arm, L1 with L2 is a new arm."""
    bare = _bare(name)
    if bare in BASELINE_WORDS:
        return f"the baseline, no regularizer, is the arm {BASELINE!r} here"
    if bare in ("weightdecay", "wd", "adamw", "decoupled", "l2weightdecay", "l2wd", "decay"):
        return ("weight decay is the l2 arm's l2_mode: strengths: {l2_mode: weight_decay} (decoupled: AdamW's); "
                "against the loss penalty on the same seeds: paths: {l2_mode: [penalty, weight_decay]}")
    if "dropout" in bare and any(w in bare for w in ("manual", "mask", "hand", "nn", "custom", "torch")):
        return "the dropout arm is the tutorials' hand-written masks and nn.Dropout alike: the same maths, one arm"
    if "elastic" in bare or bare in ("l1l2", "l2l1"):
        return ("L1 with L2 is not a built-in arm; a new arm is one register(Arm(...)) line in pipeline/arms.py, "
                "as the README's elastic-net example shows")
    return ""


PIMA = ("the Pima diabetes tutorial's diabetes.csv is read as a table here: dataset csv, path: the file, "
        "target: Outcome, as studies/pima.yaml has it")
# a tutorial's dataset by its bare name (lower case, letters and digits only) when it is not a built-in one's
TUTORIAL_DATASETS = {"pima": PIMA, "diabetes": PIMA, "pimadiabetes": PIMA, "pimaindians": PIMA,
                     "pimaindiansdiabetes": PIMA, "diabetescsv": PIMA}
ANY_TABLE = "any other data: dataset csv with the file's path and target column"


def _bare(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def not_a_dataset(name: str) -> str:
    """The built-in dataset a tutorial's spelling means (FashionMNIST, fashion-mnist, scikit-learn's
    load_digits), what its own data is here (Pima's diabetes.csv), or a close typo's dataset; ""
    when none (a loose look-alike, iris for digits, would mislead)."""
    import difflib

    bare = _bare(name).removeprefix("load").removeprefix("fetch")   # scikit-learn's loader names
    same = [known for known in DATASETS if _bare(known) == bare]
    if same:
        return f"did you mean {same[0]!r}?"
    if bare in TUTORIAL_DATASETS:
        return TUTORIAL_DATASETS[bare]
    close = difflib.get_close_matches(name.lower(), list(DATASETS), n=1, cutoff=0.7)
    return f"did you mean {close[0]!r}?" if close else ""
