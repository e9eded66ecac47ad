"""Regularizer ablation studies: study file -> datasets -> model -> training -> Optuna -> MLflow -> report."""

__version__ = "0.1.0"
