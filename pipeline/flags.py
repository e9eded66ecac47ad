"""The command line's flag values: what "not given" means, and the `train` command's flags as a
one-cell study (with its errors named by the flags the user typed)."""

from __future__ import annotations

import os
import re
from typing import Optional

from . import arms
from .errors import UsageError
from .study_schema import DatasetSpec

# MLproject passes every parameter: its defaults are this word (the UI shows it as the run's
# param; an empty string showed as '') and mean "not given", as an empty string does.
UNSET = "unset"


def optional(value: Optional[str]) -> Optional[str]:
    """A setting's value, or None when not given ("", UNSET, or none for the settings where none
    means "not given": seeds, storage, workers, ...)."""
    return value if value not in (None, "", "none", "None", UNSET) else None


def given(value: Optional[str]) -> Optional[str]:
    """A dataset option's value, or None when not given: `none` is a value here (--normalize none,
    a column named None)."""
    return value if value not in (None, "", UNSET) else None


# The strength flags of `train`, the regularizer component each sets, and its default.
STRENGTH_FLAGS = (("--dropout", "dropout", "dropout", 0.5), ("--l1", "l1", "l1", 1e-4), ("--l2", "l2", "l2", 1e-3))


def strength(args, attr: str):
    """A strength flag's value (its default when not given: the parser leaves it None)."""
    given = getattr(args, attr)
    default = next(d for _, a, _, d in STRENGTH_FLAGS if a == attr)
    if given is None:
        return default
    return dropout(given) if attr == "dropout" else float(given)


def unused_strengths(args, arm: str) -> list[str]:
    """A note for each strength flag given that the regularizer does not read (`--l2 1e-3`
    with --regularizer none trains none, as a study file's note says). Under `mlflow run`, which
    passes every parameter, only values away from the default are noted."""
    components = arms.ARMS[arm].components
    notes = []
    for flag, attr, component, default in STRENGTH_FLAGS:
        given = getattr(args, attr) is not None and (not os.environ.get("MLFLOW_RUN_ID") or strength(args, attr) != default)
        if component not in components and given:
            users = [a for a, info in arms.ARMS.items() if component in info.components]
            notes.append(f"{flag} {getattr(args, attr)} changes nothing for --regularizer {arm} (it trains "
                         f"{' and '.join(components) if components else 'without a regularizer'}); "
                         f"--regularizer {' or '.join(users)} reads it")
    return notes


def train_study(args) -> dict:
    """The `train` command's flags as a one-cell study."""
    dataset = {"name": args.dataset, "val_fraction": args.val_fraction}
    # the default is left unset (the same identity): a dataset with a test split of its own notes a
    # test_fraction it was given (mnist), and `mlflow run` passes this flag at its default every time
    if args.test_fraction != DatasetSpec.model_fields["test_fraction"].default:
        dataset["test_fraction"] = args.test_fraction
    for key in ("path", "target", "root", "train_size", "normalize", "task", "metric", "class_weight", "encoding",
                "preprocess", "download"):
        value = given(getattr(args, key))
        if key == "train_size" and value is not None:
            value = number(value, "--train-size")
        elif key == "preprocess" and value is not None:
            value = mapping(value, "--preprocess")
        elif key == "download":   # yes (the default) is left unset: only torchvision datasets read it
            value = False if value == "no" else None
        if value is not None:
            dataset[key] = value
    try:   # none (or nothing): a linear model
        hidden = [] if args.hidden.strip().lower() in ("", "none") else [int(h) for h in args.hidden.split(",")]
    except ValueError:
        raise UsageError(f"--hidden = {args.hidden!r}: expected layer sizes like 256,128, or none (a linear model)") from None
    raw = {
        "name": args.experiment, "datasets": [dataset], "arms": [arms.normalize(args.regularizer)],
        "seeds": [args.seed], "split_seed": args.split_seed, "execution": {"device": args.device},
        "model": {"hidden": hidden, "activation": args.activation},
        "optimizer": {"name": args.optimizer, "lr": args.lr, "momentum": args.momentum},
        "batch_size": args.batch_size, "epochs": args.epochs,
        "strengths": {"dropout": strength(args, "dropout"), "l1": strength(args, "l1"), "l2": strength(args, "l2"),
                      "l2_mode": args.l2_mode, "penalize_bias": args.penalize_bias == "yes"},
    }
    if args.early_stopping:
        raw["early_stopping"] = {"patience": args.early_stopping}
    return raw


# The `train` command's one-cell study fields and the flags that set them.
TRAIN_FLAGS = {"optimizer.lr": "--lr", "optimizer.momentum": "--momentum", "optimizer.name": "--optimizer",
               "datasets.0.val_fraction": "--val-fraction", "datasets.0.test_fraction": "--test-fraction",
               "datasets.0.train_size": "--train-size", "datasets.0.name": "--dataset", "datasets.0.path": "--path",
               "datasets.0.target": "--target", "datasets.0.normalize": "--normalize",
               "datasets.0.task": "--task", "datasets.0.metric": "--metric", "datasets.0.class_weight": "--class-weight",
               "datasets.0.encoding": "--encoding", "datasets.0.preprocess": "--preprocess", "datasets.0.root": "--root",
               "datasets.0.download": "--download",
               "strengths.dropout": "--dropout", "strengths.l1": "--l1",
               "strengths.l2": "--l2", "strengths.l2_mode": "--l2-mode", "model.hidden": "--hidden",
               "model.activation": "--activation", "epochs": "--epochs", "batch_size": "--batch-size",
               "arms": "--regularizer", "seeds": "--seed", "split_seed": "--split-seed", "execution.device": "--device",
               "early_stopping.patience": "--early-stopping", "name": "--experiment", "datasets.0": "--dataset"}


# The tutorials' (and PyTorch's) names for `train`'s settings, and how `train` spells them.
WEIGHT_DECAY_FLAGS = ("weight decay is --regularizer l2 --l2 <its value> --l2-mode weight_decay, with --penalize-bias "
                      "to decay the biases too, as weight_decay on model.parameters() does (under mlflow run: "
                      "-P regularizer=l2 -P l2=... -P l2_mode=weight_decay -P penalize_bias=yes)")
TUTORIAL_FLAGS = {"weight-decay": WEIGHT_DECAY_FLAGS, "learning-rate": "the learning rate is --lr",
                  "lr-rate": "the learning rate is --lr", "num-epochs": "it is --epochs", "n-epochs": "it is --epochs",
                  "dropout-rate": "it is --dropout", "dropout-p": "it is --dropout", "hidden-sizes": "it is --hidden",
                  "hidden-layers": "it is --hidden"}


def tutorial_flag_hint(unknown: list[str]) -> Optional[str]:
    """What a tutorial's flag among `train`'s unrecognized arguments is called here (`--weight-decay`,
    or mlflow run's `--weight_decay` from `-P weight_decay=...`), or None."""
    for arg in unknown:
        name = arg.split("=")[0].lstrip("-").replace("_", "-").lower()
        if arg.startswith("-") and name in TUTORIAL_FLAGS:
            return f"{arg.split('=')[0]}: {TUTORIAL_FLAGS[name]}"
    return None


# The one-cell study's fields that hold one flag's value as a list of one (--regularizer l2: arms: [l2]).
ONE_ITEM_FIELDS = ("arms", "seeds")
# ... and those a comma-separated flag gives as a list (--dropout 0.2,0.5, --hidden 64,32).
LIST_FLAGS = ("strengths.dropout", "model.hidden")


def as_flags(message: str) -> str:
    """A one-cell study's error ("train: field 'optimizer.lr' = -1.0: ...") with the flag's name,
    and the value as the flag took it ("--regularizer = 'l3'", not the study's ['l3'])."""
    if message.startswith("train: field 'datasets.0': ") and (named := re.search(r"the (\w+) dataset needs both 'path' and 'target'", message)):
        return f"--dataset {named.group(1)} needs --path (the CSV or Parquet file) and --target (the column to predict)"
    if message.startswith("train: field 'early_stopping.patience'"):   # 0 is the flag's "off", which the field's "> 0" hid
        return re.sub(r": Input should be .*", ": patience in epochs, 1 or more (0: off)",
                      message.replace("train: field 'early_stopping.patience'", "--early-stopping"))
    if message.startswith("dataset "):   # a torchvision folder's, whichever says where (the flag, the default)
        message = message.replace("set download: true", "add --download yes").replace(
            "set root: to a folder", "give --root a folder").replace("(field 'root' not set)", "(--root not given)")
    if table := re.match(r"dataset [^:]+: field '(\w+)'(.*)", message, re.S):   # the data's, as load() says it
        message = f"train: field 'datasets.0.{table.group(1)}'{table.group(2)}"
        message = message.replace("; a table's contents are part of its study's identity, so every command, report too, "
                                  "needs the file", "").replace("set encoding: ", "add --encoding ").replace(" in the dataset entry", "")
    if message.startswith("train: field 'model.hidden' = []: a linear model"):   # no 'arms' here, and --hidden said none
        arm = re.search(r"so arm '(\w+)' would train as none", message)
        return (f"--hidden none: a linear model has no hidden units for dropout to drop, so --regularizer "
                f"{arm.group(1) if arm else 'dropout'} would train as none; give --hidden layer sizes (64,64) or "
                "another --regularizer")
    # the model's layers as the flag gives them (--hidden 8), where a message names them
    message = re.sub(r"model\.hidden = \[([^\]]*)\]", lambda m: "--hidden " + m.group(1).replace(", ", ","), message)
    match = re.match(r"train: field '([^']+)'(.*)", message, re.S)
    if not match:
        return message
    field = match.group(1)
    if field in ONE_ITEM_FIELDS:
        return TRAIN_FLAGS[field] + re.sub(r"^ = \[(.*?)\]", r" = \1", match.group(2))
    if field in LIST_FLAGS:   # --dropout 0.2,0.5 as typed, not the study's [0.2, 0.5]
        return TRAIN_FLAGS[field] + re.sub(r"^ = \[(.*?)\]", lambda m: " = " + m.group(1).replace(", ", ","), match.group(2))
    if field in TRAIN_FLAGS:
        return f"{TRAIN_FLAGS[field]}{match.group(2)}"
    inner = next(((k, f) for k, f in TRAIN_FLAGS.items() if field.startswith(k + ".")), None)
    if not inner:
        return message
    rest = field[len(inner[0]) + 1:]   # an item of a list flag (--hidden 0,8), or a field in a mapping flag
    return f"{inner[1]}{match.group(2)}" if rest.split(".")[0].isdigit() else f"{inner[1]}: field '{rest}'{match.group(2)}"


def note_as_flags(note: str) -> str:
    """A one-cell study's note (a setting that changes nothing: "train: option 'root' is read by
    ...", "train: arm 'l2' has l2 0 (strengths), so it trains exactly as none") in the flags the
    user typed: "--root is read by ...", "--regularizer l2 with --l2 0 trains exactly as none"."""
    note = note.replace(" (it is part of the study's identity; leave it out of new studies)", "")
    note = note.replace("the study's identity", "the run's config_hash")
    # l2_mode or penalize_bias beside a regularizer that reads neither: the regularizers that would
    note = note.replace("only the L2 arms (l2, dropout_l2) read it, and none of them runs",
                        "only --regularizer l2 and dropout_l2 read it").replace(
        "only the L1 and L2 arms read it, and none of them runs", "only --regularizer l1, l2 and dropout_l2 read it").replace(
        "train: field 'strengths.penalize_bias' = true", "--penalize-bias yes")
    if note.startswith("train: field '"):
        return as_flags(note)
    if option := re.match(r"train: option '(\w+)'(.*)", note, re.S):
        return TRAIN_FLAGS.get(f"datasets.0.{option.group(1)}", f"--{option.group(1)}") + option.group(2)
    if off := re.match(r"train: arm '(\w+)' has (.+?) 0 \(strengths\), so it (.*)", note, re.S):
        zeros = " and ".join(f"--{c} 0" for c in off.group(2).split(" and "))
        return f"--regularizer {off.group(1)} with {zeros} {off.group(3)}"
    return note.removeprefix("train: ")


def number(text: str, flag: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"{flag} = {text!r}: expected a count like 500 or a fraction like 0.1") from None


def mapping(text: str, flag: str) -> dict:
    """A flag's YAML mapping, read as a study file reads it ("{categorical: ordinal}")."""
    import yaml

    from .study import read_yaml
    try:
        value = read_yaml(text)
    except yaml.YAMLError:
        value = None
    if not isinstance(value, dict):
        raise UsageError(f"{flag} = {text!r}: expected a YAML mapping as in a study file, like "
                         "'{categorical: ordinal, missing_values: {bmi: [0]}}'")
    return value


def dropout(text: str):
    try:
        values = [float(x) for x in str(text).split(",")]
    except ValueError:
        raise UsageError(f"--dropout = {text!r}: expected p like 0.5, or one p per hidden layer like 0.2,0.5") from None
    return values[0] if len(values) == 1 else values
