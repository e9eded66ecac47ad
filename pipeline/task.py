"""The learning task of a dataset: its loss, its metric and which direction is better, defined
once for both trainers, the Optuna studies and the report."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Optional


@dataclass(frozen=True)
class Task:
    name: str               # "classification" | "regression"
    metric: str             # the metric's name in MLflow keys: test_accuracy, test_mse
    higher_is_better: bool
    # a weight per class in the loss (class_weight: balanced), a tensor on the training device;
    # losses are then weighted means, as torch's cross_entropy(weight=...) computes them
    class_weight: Optional[Any] = None

    def weighted(self, class_weight) -> "Task":
        return self if class_weight is None else replace(self, class_weight=class_weight)

    @property
    def direction(self) -> str:
        """Optuna's direction for the validation metric."""
        return "maximize" if self.higher_is_better else "minimize"

    @property
    def metric_is_loss(self) -> bool:
        """Regression's metric (MSE) is its loss."""
        return self.name == "regression"

    def loss(self, out, y):
        """Mean loss over a batch: out [m, C] (or [m, 1]), y [m]."""
        from torch import nn

        if self.name == "classification":
            return nn.functional.cross_entropy(out, y, weight=self.class_weight)
        return nn.functional.mse_loss(out.squeeze(-1), y)

    def weight_of(self, y) -> float:
        """What a batch's mean loss counts for when batches are averaged: its size, or the sum of
        its samples' class weights."""
        return len(y) if self.class_weight is None else float(self.class_weight[y].sum())

    def metric_value(self, out, y) -> float:
        """The metric over a batch (accuracy, or MSE)."""
        if self.name == "classification":
            return (out.argmax(dim=1) == y).float().mean().item()
        return self.loss(out, y).item()   # regression's loss (MSE) is never weighted

    def per_model_loss(self, out, y):
        """Mean loss of each stacked model over its own batch: out [K, m, C|1], y [K, m] -> [K]."""
        from torch import nn

        k, m = y.shape
        if self.name == "classification":
            losses = nn.functional.cross_entropy(out.reshape(k * m, -1), y.reshape(-1), reduction="none",
                                                 weight=self.class_weight).view(k, m)
            return losses.mean(1) if self.class_weight is None else losses.sum(1) / self.class_weight[y].sum(1)
        return (out.squeeze(-1) - y).pow(2).mean(1)

    def per_model_weight(self, y):
        """weight_of for stacked models' batches (y [K, m]): [K] sums of class weights, or m."""
        return y.shape[1] if self.class_weight is None else self.class_weight[y].sum(1).double()

    def per_model_hits(self, out, y):
        """Correct predictions per stacked model ([K]); None where the metric is the loss."""
        if self.name == "classification":
            return (out.argmax(-1) == y).sum(1)
        return None


TASKS = {"classification": Task("classification", "accuracy", True),
         "regression": Task("regression", "mse", False)}


def task_for(name: str) -> Task:
    return TASKS[name]


# --- metrics -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    """A metric a study may choose as its primary one (`metric:` in a dataset entry). Every metric
    of the task's family is logged for every trial; the primary one drives the verdicts, tuning
    and the Optuna objective."""
    name: str
    task: str
    higher_is_better: bool
    share: bool            # a share in [0, 1], shown in points (accuracy-like)
    default_rope: object   # stats.rope_width's setting: a width, or "N%" of none's mean
    binary_only: bool = False

    @property
    def direction(self) -> str:
        return "maximize" if self.higher_is_better else "minimize"

    @property
    def bounds(self) -> tuple[float, float]:
        """The values the metric can take: shares in [0, 1], losses from 0, R² up to 1 (a 95% CI
        of a mean is cut to them: the mean cannot lie outside, so the cut CI keeps its coverage)."""
        if self.share:
            return 0.0, 1.0
        return (-math.inf, 1.0) if self.name == "r2" else (0.0, math.inf)

    @property
    def label(self) -> str:
        return {"mse": "MSE", "rmse": "RMSE", "mae": "MAE", "r2": "R²", "log_loss": "log loss", "macro_f1": "macro F1",
                "roc_auc": "ROC AUC", "balanced_accuracy": "balanced accuracy"}.get(self.name, self.name)


METRICS = {m.name: m for m in (
    Metric("accuracy", "classification", True, True, 0.01),
    Metric("balanced_accuracy", "classification", True, True, 0.01),
    Metric("macro_f1", "classification", True, True, 0.01),
    Metric("roc_auc", "classification", True, True, 0.01, binary_only=True),
    Metric("log_loss", "classification", False, False, "5%"),
    Metric("mse", "regression", False, False, "5%"),
    Metric("rmse", "regression", False, False, "5%"),   # MSE in the target's own units (dollars, not dollars²)
    Metric("mae", "regression", False, False, "5%"),
    Metric("r2", "regression", True, False, 0.01),
)}


def metric_for(task: str, name: str | None = None) -> Metric:
    """The primary metric: the one a dataset chose, else the task's default (accuracy, MSE)."""
    return METRICS[name or task_for(task).metric]


def family(task: str, n_classes: int = 0) -> list[Metric]:
    return [m for m in METRICS.values() if m.task == task and not (m.binary_only and n_classes != 2)]


# Metrics added after runs were logged: read for those runs from the metric they derive from.
DERIVED = {"rmse": ("mse", math.sqrt)}


def logged_value(values: dict, prefix: str, name: str):
    """values[prefix + name] (a run's metric, a parent's param), or for a metric added later (DERIVED)
    what its source logged, derived; None when neither was logged."""
    if prefix + name in values:
        return values[prefix + name]
    source, derive = DERIVED.get(name, ("", None))
    return derive(float(values[prefix + source])) if derive and prefix + source in values else None


def read_in(final: dict, task: str, name: Optional[str], own: Optional[str] = None) -> dict[str, float]:
    """A trial's final values read in one metric of its family: test_metric, final_train_metric,
    final_val_metric and gap_metric (train minus test in the metric's own sense: positive means
    the model does better on data it has seen, for accuracy and MSE alike), from the per-metric
    values (test_<name>, final_train_<name>, ...) every trial logs. The primary metric is thus
    chosen when results are read: changing `metric:` in an untuned study trains nothing again.
    `own`, the metric the trial was trained under: its *_metric values stand in where a trial
    written before every split had the whole family lacks the per-metric ones; NaN otherwise.
    A per-metric value that is there but NaN (ROC AUC on a one-class split) stays NaN."""
    m = metric_for(task, name)
    out = {}
    for key in ("test", "final_train", "final_val"):
        # a NaN per-metric value (ROC AUC of a one-class split) stays NaN: only an absent one predates
        per_metric = logged_value(final, f"{key}_", m.name)
        fallback = final.get(f"{key}_metric", math.nan) if own == m.name else math.nan
        out[f"{key}_metric"] = float(per_metric if per_metric is not None else fallback)
    out["gap_metric"] = (1.0 if m.higher_is_better else -1.0) * (out["final_train_metric"] - out["test_metric"])
    return out


def readable_in(final: dict, name: str, own: Optional[str]) -> bool:
    """Whether a trial's values can be read in metric `name` (read_in): it was trained under that
    metric, or it recorded the per-metric values. A trial from before every split recorded every
    metric cannot, in another metric: the console and the report leave it out alike."""
    return own == name or logged_value(final, "final_val_", name) is not None


def compute(metric: Metric, y, outputs) -> float:
    """One metric from the model's outputs (logits [n, C], or predictions [n, 1]) and the targets,
    both numpy arrays. The same definitions as scikit-learn's metrics (accuracy_score,
    balanced_accuracy_score, f1_score(average="macro", zero_division=0) over all C classes,
    roc_auc_score, log_loss with its clipping, mean_squared_error, mean_absolute_error, r2_score;
    tests/test_regularizers.py checks them against scikit-learn on random and edge cases), in
    numpy: scikit-learn's input validation costs ~2 ms a call, which on small tables was more than
    the training of a trial."""
    import numpy as np

    if metric.task == "regression":
        pred, y = outputs.reshape(-1).astype(np.float64), np.asarray(y, dtype=np.float64)
        err = pred - y
        if metric.name == "mse":
            return float(np.mean(err ** 2))
        if metric.name == "rmse":
            return float(np.sqrt(np.mean(err ** 2)))
        if metric.name == "mae":
            return float(np.mean(np.abs(err)))
        total = float(np.sum((y - y.mean()) ** 2))
        return float(1 - np.sum(err ** 2) / total) if total > 0 else (1.0 if not np.any(err) else 0.0)
    y = np.asarray(y).astype(np.int64)
    n_classes = outputs.shape[1]
    if metric.name in ("accuracy", "balanced_accuracy", "macro_f1"):
        return _from_confusion(metric.name, np.bincount(y * n_classes + outputs.argmax(1),
                                                        minlength=n_classes * n_classes).reshape(n_classes, n_classes))
    logits = outputs - outputs.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    if metric.name == "roc_auc":
        return _roc_auc(y, prob[:, 1])
    eps = np.finfo(prob.dtype).eps
    return float(np.mean(-np.log(np.clip(prob[np.arange(len(y)), y], eps, 1 - eps))))


def _from_confusion(name: str, cm) -> float:
    """Accuracy, balanced accuracy (recall averaged over the classes present in y) or macro F1
    (over every class, 0 where undefined) from the confusion matrix (rows: true, cols: predicted)."""
    import numpy as np

    tp, true, pred = np.diag(cm).astype(np.float64), cm.sum(1), cm.sum(0)
    if name == "accuracy":
        return float(tp.sum() / cm.sum())
    if name == "balanced_accuracy":
        present = true > 0
        return float(np.mean(tp[present] / true[present]))
    denom = true + pred
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def _roc_auc(y, score) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count half): NaN when y has
    one class only."""
    from scipy.stats import rankdata

    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

def constant_prediction_scores(task: str, n_classes: int, y_train, y_test) -> dict[str, float]:
    """Every metric of the task's family on the test split for the best prediction made without
    looking at the features: the training classes' shares (as logits: always the majority class,
    ROC AUC 0.5) or the training mean (R² about 0), the training median for MAE (the constant
    that minimizes it). A model that does no better than this has learned nothing, whatever its
    comparisons with other arms say."""
    import numpy as np

    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if task == "regression":
        out = {}
        for m in family(task, n_classes):
            centre = np.median(y_train) if m.name == "mae" else np.mean(y_train)
            out[m.name] = compute(m, y_test, np.full((len(y_test), 1), float(centre)))
        return out
    prior = np.bincount(y_train.astype(np.int64), minlength=n_classes) / max(len(y_train), 1)
    logits = np.log(np.clip(prior, 1e-12, None))
    # classes tied for the majority (a 12/12 training split): no class is "the" majority, and argmax
    # would pick the first, whose test share may be 0.7 or 0.3 by the label's name; the constant
    # scores the average over the tied choices (each one's logit raised by a hair to break the tie)
    tied = np.flatnonzero(prior == prior.max())
    scores = []
    for c in tied:
        chosen = logits.copy()
        chosen[c] += 1e-9 if len(tied) > 1 else 0.0
        outputs = np.tile(chosen, (len(y_test), 1))
        scores.append({m.name: compute(m, y_test, outputs) for m in family(task, n_classes)})
    return {name: float(np.mean([s[name] for s in scores])) for name in scores[0]}
