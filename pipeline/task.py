"""The learning task of a dataset: its loss, its metric and which direction is better, defined
once for both trainers, the Optuna studies and the report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str               # "classification" | "regression"
    metric: str             # the metric's name in MLflow keys: test_accuracy, test_mse
    higher_is_better: bool

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
            return nn.functional.cross_entropy(out, y)
        return nn.functional.mse_loss(out.squeeze(-1), y)

    def metric_value(self, out, y) -> float:
        """The metric over a batch (accuracy, or MSE)."""
        if self.name == "classification":
            return (out.argmax(dim=1) == y).float().mean().item()
        return self.loss(out, y).item()

    def per_model_loss(self, out, y):
        """Mean loss of each stacked model over its own batch: out [K, m, C|1], y [K, m] -> [K]."""
        from torch import nn

        k, m = y.shape
        if self.name == "classification":
            return nn.functional.cross_entropy(out.reshape(k * m, -1), y.reshape(-1), reduction="none").view(k, m).mean(1)
        return (out.squeeze(-1) - y).pow(2).mean(1)

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
    def label(self) -> str:
        return {"mse": "MSE", "mae": "MAE", "r2": "R²", "log_loss": "log loss", "macro_f1": "macro F1",
                "roc_auc": "ROC AUC", "balanced_accuracy": "balanced accuracy"}.get(self.name, self.name)


METRICS = {m.name: m for m in (
    Metric("accuracy", "classification", True, True, 0.01),
    Metric("balanced_accuracy", "classification", True, True, 0.01),
    Metric("macro_f1", "classification", True, True, 0.01),
    Metric("roc_auc", "classification", True, True, 0.01, binary_only=True),
    Metric("log_loss", "classification", False, False, "5%"),
    Metric("mse", "regression", False, False, "5%"),
    Metric("mae", "regression", False, False, "5%"),
    Metric("r2", "regression", True, False, 0.01),
)}


def metric_for(task: str, name: str | None = None) -> Metric:
    """The primary metric: the one a dataset chose, else the task's default (accuracy, MSE)."""
    return METRICS[name or task_for(task).metric]


def family(task: str, n_classes: int = 0) -> list[Metric]:
    return [m for m in METRICS.values() if m.task == task and not (m.binary_only and n_classes != 2)]


def compute(metric: Metric, y, outputs) -> float:
    """One metric with scikit-learn, from the model's outputs (logits [n, C], or predictions
    [n, 1]) and the targets, both numpy arrays."""
    import numpy as np
    from sklearn import metrics as skm

    if metric.task == "regression":
        pred = outputs.reshape(-1)
        return float({"mse": skm.mean_squared_error, "mae": skm.mean_absolute_error,
                      "r2": skm.r2_score}[metric.name](y, pred))
    logits = outputs - outputs.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    labels = list(range(outputs.shape[1]))
    if metric.name == "accuracy":
        return float(skm.accuracy_score(y, prob.argmax(1)))
    if metric.name == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y, prob.argmax(1)))
    if metric.name == "macro_f1":
        return float(skm.f1_score(y, prob.argmax(1), average="macro", labels=labels, zero_division=0))
    if metric.name == "roc_auc":
        return float(skm.roc_auc_score(y, prob[:, 1])) if len(set(y.tolist())) == 2 else float("nan")
    return float(skm.log_loss(y, prob, labels=labels))
