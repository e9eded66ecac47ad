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

    @property
    def metric_label(self) -> str:
        return {"accuracy": "accuracy", "mse": "MSE"}[self.metric]

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
