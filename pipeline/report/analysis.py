"""Report, step 2: ReportData -> per-dataset tables, paired comparisons to the baseline (Holm over
the whole study), the summary rows and the across-datasets ranking. The statistics themselves
live in pipeline/stats.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import arms, stats
from ..task import task_for
from .collect import ReportData


def higher_is_better(task: str) -> bool:
    return task_for(task).higher_is_better


def analyze(data: ReportData) -> dict:
    study, df = data.study, data.runs
    ok = df[df["status"] == "FINISHED"]
    datasets = [_dataset_entry(data, ok, plan.label) for plan in study.plans]
    comparisons = [(i, arm) for i, d in enumerate(datasets) for arm in d["paired"]]  # the Holm family
    for key in ("p_t", "p_wilcoxon"):  # Holm across every dataset x comparison, for both tests
        adjusted = stats.holm([getattr(datasets[i]["paired"][a], key) for i, a in comparisons])
        for (i, a), p in zip(comparisons, adjusted):
            setattr(datasets[i]["paired"][a], f"{key}_holm", p)
    for d in datasets:
        for p in d["paired"].values():
            p.verdict = stats.verdict(p, p.p_t_holm)
    n_seeds = len(study.seeds)
    min_p = stats.min_wilcoxon_p(n_seeds)
    return {"datasets": datasets, "summary": [_summary_row(d) for d in datasets],
            "across": _across(data, datasets), "n_seeds": n_seeds,
            "min_wilcoxon_p": min_p, "too_few_seeds": min_p >= stats.ALPHA,
            "n_comparisons": len(comparisons)}


def _dataset_entry(data: ReportData, ok: pd.DataFrame, label: str) -> dict:
    """One dataset: every arm's summary over seeds, the best arm, what is missing, and each arm's
    paired comparison to the baseline on the seeds both finished (Holm-adjusted later)."""
    study, df = data.study, data.runs
    sub = ok[ok["dataset"] == label]
    tried = df[df["dataset"] == label]
    task = sub["task"].iloc[0] if len(sub) else (tried["task"].iloc[0] if len(tried) else "classification")
    hib = higher_is_better(task)
    rows = []
    for arm in study.arms:
        cell = sub[sub["arm"] == arm]
        rows.append({"arm": arm, "label": arms.label(arm), "summary": stats.summarize(cell["test_metric"].tolist()),
                     "gap": float(cell["gap_metric"].mean()) if len(cell) else math.nan,
                     "sparsity": float(cell["sparsity_lt_0.001"].mean()) if len(cell) else math.nan,
                     "train": float(cell["final_train_metric"].mean()) if len(cell) else math.nan})
    present = [a for a in rows if a["summary"].n > 0]
    best = (max if hib else min)(present, key=lambda a: a["summary"].mean)["arm"] if present else None
    missing = [f"{a['label']}: {a['summary'].n} of {len(study.seeds)} seeds finished"
               for a in rows if a["summary"].n < len(study.seeds)]
    paired = {}
    base = sub[sub["arm"] == arms.BASELINE].set_index("seed")["test_metric"]
    if len(base) and arms.BASELINE in study.arms:
        for arm in study.arms:
            if arm == arms.BASELINE:
                continue
            other = sub[sub["arm"] == arm].set_index("seed")["test_metric"]
            seeds = sorted(set(base.index) & set(other.index))
            if seeds:
                paired[arm] = stats.paired_test(other.loc[seeds].to_numpy(), base.loc[seeds].to_numpy(), hib)
    return {"label": label, "task": task, "hib": hib, "metric": task_for(task).metric_label, "arms": rows,
            "best": best, "missing": missing, "paired": paired}


def _summary_row(d: dict) -> dict:
    best = d["best"]
    p = d["paired"].get(best) if best and best != arms.BASELINE else None
    return {"label": d["label"], "metric": d["metric"], "best": best,
            "best_label": arms.label(best) if best else "-",
            "best_mean": next((a["summary"].mean for a in d["arms"] if a["arm"] == best), math.nan),
            "paired": p,
            "verdict": p.verdict if p else ("none is best: no regularizer helped" if best == arms.BASELINE
                                            else "no baseline to compare")}


def _across(data: ReportData, datasets: list[dict]) -> dict | None:
    """Friedman ranking of the arms present in every dataset. The test needs independent blocks,
    and the training-set sizes of one dataset are not: each dataset counts once, its arms scored
    by their mean over its sizes."""
    study = data.study
    common = [a for a in study.arms if all(any(x["arm"] == a and x["summary"].n > 0 for x in d["arms"])
                                           for d in datasets)]
    blocks: dict[str, list[dict]] = {}
    for plan, d in zip(study.plans, datasets):
        blocks.setdefault(plan.base, []).append(d)
    if len(blocks) < 2 or len(common) < 2:
        return None
    scores = np.array([[np.mean([next(x["summary"].mean for x in d["arms"] if x["arm"] == a) for d in ds])
                        for a in common] for ds in blocks.values()])
    return {"arms": common, "labels": [arms.label(a) for a in common],
            "pooled": [f"{name} ({len(ds)} sizes)" for name, ds in blocks.items() if len(ds) > 1],
            "result": stats.friedman(scores, [ds[0]["hib"] for ds in blocks.values()])}
