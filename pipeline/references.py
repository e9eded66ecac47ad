"""Published MLP results on MNIST and Fashion-MNIST, for the report's sanity check.

A reader who sees our `none` arm at 97% on MNIST should be able to tell at a glance whether that
is what a plain MLP gets. Each figure below is transcribed from the paper named in `source`
(test accuracy; error rates converted as 1 - error), mapped to the arm of ours it is closest to,
with the setup as the paper states it so that the report can say what differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FASHION = "Xiao, Rasul & Vollgraf 2017, Fashion-MNIST (arXiv:1708.07747), Table 3"
DROPOUT_T2 = "Srivastava et al. 2014, Dropout (JMLR 15), Table 2"
DROPOUT_T9 = "Srivastava et al. 2014, Dropout (JMLR 15), Table 9"

SKLEARN_SETUP = ("scikit-learn MLPClassifier; the table lists only activation and hidden sizes, the rest "
                 "are the library's defaults (Adam, a small L2 penalty alpha = 1e-4, at most 200 epochs); "
                 "full 60,000 training images, raw pixels; mean of 5 runs with shuffled training data")
DROPOUT_SETUP = ("permutation-invariant MNIST, SGD with momentum, trained far longer than a typical study "
                 "here; dropout also on the input layer")
T9_SETUP = ("784-1024-1024-2048-10 ReLU network (larger than a typical MLP here), trained far longer than "
            "a typical study here")


@dataclass(frozen=True)
class Published:
    dataset: str          # our registry name
    arm: str              # the arm of ours it is closest to
    model: str
    test_accuracy: float
    source: str
    setup: str


PUBLISHED: tuple[Published, ...] = (
    Published("fashion_mnist", "none", "MLP 100 ReLU", 0.871, FASHION, SKLEARN_SETUP),
    Published("fashion_mnist", "none", "MLP 100-10 ReLU", 0.870, FASHION, SKLEARN_SETUP),
    Published("fashion_mnist", "none", "MLP 100 tanh", 0.868, FASHION, SKLEARN_SETUP),
    Published("mnist", "none", "MLP 100 ReLU", 0.972, FASHION, SKLEARN_SETUP),
    Published("mnist", "none", "MLP 100-10 ReLU", 0.972, FASHION, SKLEARN_SETUP),
    Published("mnist", "none", "Standard neural net (Simard et al. 2003), 2 layers, 800 units",
              1 - 0.0160, DROPOUT_T2, "as reported by the dropout paper; no dropout"),
    Published("mnist", "dropout", "Dropout NN, logistic, 3 layers, 1024 units", 1 - 0.0135, DROPOUT_T2, DROPOUT_SETUP),
    Published("mnist", "dropout", "Dropout NN, ReLU, 3 layers, 1024 units", 1 - 0.0125, DROPOUT_T2, DROPOUT_SETUP),
    Published("mnist", "dropout", "Dropout NN + max-norm, ReLU, 3 layers, 1024 units", 1 - 0.0106, DROPOUT_T2,
              DROPOUT_SETUP + "; max-norm weight constraint (not offered here)"),
    Published("mnist", "l2", "L2", 1 - 0.0162, DROPOUT_T9, T9_SETUP),
    Published("mnist", "dropout_l2", "Dropout + L2", 1 - 0.0125, DROPOUT_T9, T9_SETUP),
)

# Below this gap (in accuracy) a difference is what the setups explain; well beyond it, suspect the
# data or the training before believing the ablation.
PLAUSIBLE_GAP = 0.03


# How the images were scaled, by the dataset's normalization (datasets.normalization): pixels are
# always divided by 255 first, so none and unit are the same for images.
PIXEL_SCALING = {"none": "pixels/255", "unit": "pixels/255",
                 "global": "pixels/255 standardized with one mean and std (as torchvision's Normalize)",
                 "per_feature": "pixels/255 standardized per pixel"}


def reference_points(plans, analysis: dict, n_train: dict, normalization: dict) -> list[dict]:
    """One entry per MNIST / Fashion-MNIST dataset of the study that has results: our arms that have
    published counterparts, each with its published rows and the difference to our mean.
    n_train: dataset label -> training samples our runs used; normalization: label -> how its
    features were scaled (datasets.normalization)."""
    entries = []
    by_label = {d["label"]: d for d in analysis["datasets"]}
    for plan in plans:
        published = [p for p in PUBLISHED if p.dataset == plan.dataset.name]
        d = by_label.get(plan.label)
        if not published or d is None:
            continue
        rows = []
        for arm in d["arms"]:
            ours = arm["summary"]
            matches = [p for p in published if p.arm == arm["arm"]]
            if not matches or ours.n == 0:
                continue
            rows.append({"arm": arm["arm"], "label": arm["label"], "ours": ours,
                         "published": [{"ref": p, "diff": ours.mean - p.test_accuracy} for p in matches]})
        if not rows:
            continue
        t = plan.training
        diffs = [abs(p["diff"]) for r in rows for p in r["published"] if not math.isnan(p["diff"])]
        entries.append({
            "label": plan.label, "rows": rows,
            "setup": (f"MLP {'-'.join(map(str, t.model.hidden))} {t.model.activation}, "
                      f"{t.optimizer.name} lr {t.optimizer.lr:g}, batch {t.batch_size}, {t.epochs} epochs, "
                      f"{PIXEL_SCALING.get(normalization.get(plan.label, ''), 'pixels')}, "
                      f"{n_train.get(plan.label, 0):,} training images ({plan.dataset.val_fraction:.0%} of the "
                      "training split held out for validation"
                      + (f", train_size {plan.dataset.train_size}" if plan.dataset.train_size else "")
                      + "), the dataset's own test split; mean over seeds"),
            "plausible": bool(diffs) and min(diffs) <= PLAUSIBLE_GAP,
        })
    return entries
