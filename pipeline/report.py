"""Report stage: MLflow runs -> tables, paired statistics, figures -> one HTML page and its PDF.

Everything is read back from MLflow (search by the study's tags, across every root run, so
resumed and multi-machine runs are all included); nothing comes from in-process state. One
Jinja2 template (autoescaped: dataset and study names are user text) renders both outputs.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import io
import json
import math
import os
import platform
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from . import stats
from .references import PLAUSIBLE_GAP, reference_points
from . import arms as arms_mod
from . import runtree as rt
from .study import Study
from .task import task_for


class _Labels(dict):
    def __missing__(self, arm):
        return arms_mod.label(arm)


ARM_LABELS = _Labels()  # arm name -> label, from the arms registry
from .tracking import Tracker, mask_credentials, run_link

FINAL_KEYS = ("test_metric", "final_train_metric", "final_val_metric", "gap_metric", "gap_loss",
              "sparsity_lt_0.0001", "sparsity_lt_0.001", "sparsity_lt_0.01", "train_seconds")
CURVE_KEYS = ("train_loss", "val_loss")
PACKAGES = ("torch", "torchvision", "mlflow", "optuna", "numpy", "pandas", "scipy", "seaborn",
            "matplotlib", "scikit-learn", "weasyprint")


@dataclass
class ReportData:
    study: Study
    runs: pd.DataFrame                       # one row per trial run kept (latest per cell)
    curves: dict = field(default_factory=dict)      # run_id -> {key: [values per epoch]}
    histograms: dict = field(default_factory=dict)  # run_id -> {"edges": [...], "counts": [...]}
    roots: list = field(default_factory=list)
    tracking_uri: str = ""
    other_configs: int = 0   # trial runs of this study under other settings (not mixed in)
    tuning: pd.DataFrame = field(default_factory=pd.DataFrame)   # tuning trials, when the study tunes
    chosen: dict = field(default_factory=dict)                   # (dataset, arm) -> strengths used by the grid


# --- collecting --------------------------------------------------------------------------------

def collect(study: Study, tracker: Tracker) -> ReportData:
    hashes = {plan.label: plan.config_hash for plan in study.plans}
    rows = []
    other_configs = 0
    for r in tracker.study_runs(study.name, "trial"):
        tags, m = r.data.tags, r.data.metrics
        label = tags.get("dataset")
        if hashes.get(label) != tags.get("config_hash"):
            other_configs += 1
            continue  # another configuration of this study: never mix settings
        try:
            seed = int(tags.get("seed", ""))
        except ValueError:
            continue
        if tags.get("regularizer") not in study.arms or seed not in study.seeds:
            continue
        rows.append({
            "run_id": r.info.run_id, "experiment_id": r.info.experiment_id, "run_name": r.info.run_name,
            "dataset": label, "arm": tags["regularizer"], "seed": seed, "status": r.info.status,
            "task": tags.get("task", "classification"), "metric_name": tags.get("metric_name", "accuracy"),
            "fail_reason": tags.get("fail_reason", ""), "device": tags.get("device", ""),
            "group": tags.get("dataset_group", label), "n_train": int(tags.get("n_train", 0) or 0),
            "start": r.info.start_time, "end": r.info.end_time,
            **{k: m.get(k, math.nan) for k in FINAL_KEYS},
        })
    columns = ["run_id", "experiment_id", "run_name", "dataset", "arm", "seed", "status", "task",
               "metric_name", "fail_reason", "device", "group", "n_train", "start", "end", *FINAL_KEYS]
    df = pd.DataFrame(rows, columns=columns)
    if len(df):
        # One row per cell: its FINISHED run if any (latest), else its latest attempt.
        df["finished"] = df["status"] == "FINISHED"
        df = (df.sort_values(["finished", "start"]).groupby(["dataset", "arm", "seed"], as_index=False).tail(1)
              .drop(columns="finished").reset_index(drop=True))
    roots = tracker.study_runs(study.name, "root")
    data = ReportData(study, df, roots=roots, tracking_uri=tracker.uri, other_configs=other_configs)
    data.tuning = collect_tuning(study, tracker, hashes)
    data.chosen = {}
    if len(df):
        for r in tracker.study_runs(study.name, "trial", "tags.tuned = 'yes'"):
            key = (r.data.tags.get("dataset"), r.data.tags.get("regularizer"))
            if hashes.get(key[0]) == r.data.tags.get("config_hash") and key not in data.chosen:
                data.chosen[key] = {k: r.data.params.get(k) for k in ("dropout", "l1", "l2")}
    for run_id in df.loc[df["status"] == "FINISHED", "run_id"]:
        data.curves[run_id] = {k: tracker.metric_history(run_id, k) for k in CURVE_KEYS}
        data.histograms[run_id] = _load_histogram(tracker, run_id)
    return data


def collect_tuning(study: Study, tracker: Tracker, hashes: dict) -> pd.DataFrame:
    """Tuning trials of the current configuration: one row per trial with its strengths."""
    rows = []
    for r in tracker.study_runs(study.name, "tuning_trial"):
        tags, params = r.data.tags, r.data.params
        if hashes.get(tags.get("dataset")) != tags.get("config_hash"):
            continue
        dropout = [float(v) for k, v in params.items() if k.startswith("tuned_dropout_")]
        rows.append({"dataset": tags["dataset"], "arm": tags.get("regularizer"), "number": int(tags.get("tune_trial", 0)),
                     "status": r.info.status, "reason": tags.get("fail_reason", ""),
                     "objective": r.data.metrics.get("tune_objective", math.nan),
                     "l1": float(params.get("tuned_l1", "nan")), "l2": float(params.get("tuned_l2", "nan")),
                     "dropout": statistics.fmean(dropout) if dropout else math.nan})
    return pd.DataFrame(rows, columns=["dataset", "arm", "number", "status", "reason", "objective", "l1", "l2", "dropout"])


def _load_histogram(tracker: Tracker, run_id: str) -> Optional[dict]:
    return tracker.load_dict(tracker.run(run_id), rt.WEIGHT_HISTOGRAM)


# --- analysis ----------------------------------------------------------------------------------

def higher_is_better(task: str) -> bool:
    return task_for(task).higher_is_better


def analyze(data: ReportData) -> dict:
    study, df = data.study, data.runs
    ok = df[df["status"] == "FINISHED"]
    datasets = []
    comparisons = []  # (dataset index, arm) in the order of the Holm family
    for plan in study.plans:
        label = plan.label
        sub = ok[ok["dataset"] == label]
        task = sub["task"].iloc[0] if len(sub) else (df[df["dataset"] == label]["task"].iloc[0]
                                                   if len(df[df["dataset"] == label]) else "classification")
        hib = higher_is_better(task)
        metric_name = "accuracy" if hib else "MSE"
        arms = []
        for arm in study.arms:
            cell = sub[sub["arm"] == arm]
            s = stats.summarize(cell["test_metric"].tolist())
            arms.append({"arm": arm, "label": ARM_LABELS[arm], "summary": s,
                         "gap": float(cell["gap_metric"].mean()) if len(cell) else math.nan,
                         "sparsity": float(cell["sparsity_lt_0.001"].mean()) if len(cell) else math.nan,
                         "train": float(cell["final_train_metric"].mean()) if len(cell) else math.nan})
        present = [a for a in arms if a["summary"].n > 0]
        best = None
        if present:
            best = (max if hib else min)(present, key=lambda a: a["summary"].mean)["arm"]
        missing = [f"{a['label']}: {a['summary'].n} of {len(study.seeds)} seeds finished"
                   for a in arms if a["summary"].n < len(study.seeds)]
        entry = {"label": label, "task": task, "hib": hib, "metric": metric_name, "arms": arms,
                 "best": best, "missing": missing, "paired": {}}
        base = sub[sub["arm"] == "none"].set_index("seed")["test_metric"]
        if len(base) and "none" in study.arms:
            for arm in study.arms:
                if arm == "none":
                    continue
                other = sub[sub["arm"] == arm].set_index("seed")["test_metric"]
                seeds = sorted(set(base.index) & set(other.index))
                if not seeds:
                    continue
                entry["paired"][arm] = stats.paired_test(other.loc[seeds].to_numpy(), base.loc[seeds].to_numpy(), hib)
                comparisons.append((len(datasets), arm))
        datasets.append(entry)

    # Holm across every dataset x comparison, for both tests
    for key in ("p_t", "p_wilcoxon"):
        adjusted = stats.holm([getattr(datasets[i]["paired"][a], key) for i, a in comparisons])
        for (i, a), p in zip(comparisons, adjusted):
            setattr(datasets[i]["paired"][a], f"{key}_holm", p)
    for d in datasets:
        for arm, p in d["paired"].items():
            p.verdict = stats.verdict(p, p.p_t_holm)

    summary = []
    for d in datasets:
        best = d["best"]
        p = d["paired"].get(best) if best and best != "none" else None
        summary.append({"label": d["label"], "metric": d["metric"], "best": best,
                        "best_label": ARM_LABELS.get(best, "-") if best else "-",
                        "best_mean": next((a["summary"].mean for a in d["arms"] if a["arm"] == best), math.nan),
                        "paired": p,
                        "verdict": p.verdict if p else ("none is best: no regularizer helped" if best == "none"
                                                        else "no baseline to compare")})

    # Across datasets: arms present everywhere. The Friedman test needs independent blocks, and
    # the training-set sizes of one dataset are not: each dataset counts once, its arms scored
    # by their mean over its sizes.
    common = [a for a in study.arms if all(any(x["arm"] == a and x["summary"].n > 0 for x in d["arms"])
                                           for d in datasets)]
    blocks: dict[str, list[dict]] = {}
    for plan, d in zip(study.plans, datasets):
        blocks.setdefault(plan.base, []).append(d)
    across = None
    if len(blocks) >= 2 and len(common) >= 2:
        scores = np.array([[np.mean([next(x["summary"].mean for x in d["arms"] if x["arm"] == a) for d in ds])
                            for a in common] for ds in blocks.values()])
        across = {"arms": common, "labels": [ARM_LABELS[a] for a in common],
                  "pooled": [f"{name} ({len(ds)} sizes)" for name, ds in blocks.items() if len(ds) > 1],
                  "result": stats.friedman(scores, [ds[0]["hib"] for ds in blocks.values()])}

    n_seeds = len(study.seeds)
    min_p = stats.min_wilcoxon_p(n_seeds)
    return {"datasets": datasets, "summary": summary, "across": across, "n_seeds": n_seeds,
            "min_wilcoxon_p": min_p, "too_few_seeds": min_p >= stats.ALPHA,
            "n_comparisons": len(comparisons)}


# --- figures -----------------------------------------------------------------------------------

def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _arm_palette(arms):
    import seaborn as sns

    colors = sns.color_palette("colorblind", 10)
    return {arms_mod.label(a): colors[arms_mod.ARMS[a].color % 10] for a in arms}


def figures(data: ReportData, analysis: dict) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    from scipy import stats as sst
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    study = data.study
    ok = data.runs[data.runs["status"] == "FINISHED"].copy()
    ok["regularizer"] = ok["arm"].map(ARM_LABELS)
    palette = _arm_palette(study.arms)
    order = [ARM_LABELS[a] for a in study.arms]
    figs: dict[str, dict] = defaultdict(dict)

    for d in analysis["datasets"]:
        label = d["label"]
        sub = ok[ok["dataset"] == label]
        if not len(sub):
            continue
        # every seed visible: box plot with the points on top
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        for ax, col, title in ((axes[0], "test_metric", f"test {d['metric']}"),
                               (axes[1], "gap_metric", "generalization gap (train - test)")):
            sns.boxplot(data=sub, x="regularizer", y=col, order=order, hue="regularizer", palette=palette,
                        ax=ax, fliersize=0, width=0.5, legend=False)
            sns.stripplot(data=sub, x="regularizer", y=col, order=order, color="black", size=3, ax=ax, jitter=0.15)
            ax.set_title(title)
            ax.set_xlabel("")
            ax.set_ylabel("")
        figs[label]["seeds"] = _png(fig)

        # learning curves: mean and 95% t-band over seeds, per arm
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=False)
        for ax, key, title in ((axes[0], "train_loss", "training loss (incl. penalty)"),
                               (axes[1], "val_loss", "validation loss")):
            for arm in study.arms:
                series = [data.curves[r][key] for r in sub[sub["arm"] == arm]["run_id"] if r in data.curves]
                series = [s for s in series if s]
                if not series:
                    continue
                n_ep = min(len(s) for s in series)
                arr = np.array([s[:n_ep] for s in series])
                mean = arr.mean(0)
                x = np.arange(1, n_ep + 1)
                ax.plot(x, mean, label=ARM_LABELS[arm], color=palette[ARM_LABELS[arm]])
                if len(arr) > 1:
                    half = sst.t.ppf(0.975, len(arr) - 1) * arr.std(0, ddof=1) / math.sqrt(len(arr))
                    ax.fill_between(x, mean - half, mean + half, alpha=0.2, color=palette[ARM_LABELS[arm]])
            ax.set_title(title)
            ax.set_xlabel("epoch")
        axes[1].legend(fontsize=7)
        figs[label]["curves"] = _png(fig)

        # weight magnitudes and sparsity (the L1 effect)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        for arm in study.arms:
            hists = [data.histograms.get(r) for r in sub[sub["arm"] == arm]["run_id"]]
            hists = [h for h in hists if h]
            if not hists:
                continue
            counts = np.sum([h["counts"] for h in hists], axis=0).astype(float)
            edges = [float(e) for e in hists[0]["edges"][1:]]  # upper edges; the first bin is [0, 1e-6)
            frac = counts / counts.sum()
            axes[0].step(edges, frac[1:] if len(frac) == len(edges) + 1 else frac[:len(edges)],
                         where="pre", label=ARM_LABELS[arm], color=palette[ARM_LABELS[arm]])
        axes[0].set_xscale("log")
        axes[0].set_title("|w| distribution (all layers)")
        axes[0].set_xlabel("|w|")
        axes[0].legend(fontsize=7)
        sp = sub.melt(id_vars=["regularizer"], value_vars=["sparsity_lt_0.0001", "sparsity_lt_0.001", "sparsity_lt_0.01"],
                      var_name="threshold", value_name="fraction")
        sp["threshold"] = sp["threshold"].str.replace("sparsity_lt_", "|w| < ")
        sns.barplot(data=sp, x="threshold", y="fraction", hue="regularizer", hue_order=order, palette=palette,
                    ax=axes[1], errorbar=None)
        axes[1].set_title("fraction of small weights")
        axes[1].set_xlabel("")
        axes[1].legend(fontsize=7)
        figs[label]["weights"] = _png(fig)

    # forest plot of paired differences to none: one panel per dataset (metrics differ in scale)
    with_pairs = [d for d in analysis["datasets"] if d["paired"]]
    if with_pairs:
        heights = [0.3 * len(d["paired"]) + 0.6 for d in with_pairs]
        fig, axes = plt.subplots(len(with_pairs), 1, figsize=(7, sum(heights) + 0.4), squeeze=False,
                                 gridspec_kw={"height_ratios": heights})
        for ax, d in zip(axes[:, 0], with_pairs):
            items = list(d["paired"].items())
            for i, (arm, p) in enumerate(items):
                y = len(items) - 1 - i
                color = palette.get(ARM_LABELS[arm], "gray")
                if not math.isnan(p.ci_low):
                    ax.plot([p.ci_low, p.ci_high], [y, y], color=color, lw=2)
                ax.plot(p.mean_diff, y, "o", color=color)
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks(range(len(items)))
            ax.set_yticklabels([ARM_LABELS[a] for a, _ in reversed(items)], fontsize=8)
            ax.set_ylim(-0.6, len(items) - 0.4)
            ax.set_title(f"{d['label']} (test {d['metric']})", fontsize=9, loc="left")
        axes[-1, 0].set_xlabel("paired difference to none (positive = better), 95% CI")
        fig.tight_layout()
        figs["_all"]["forest"] = _png(fig)

    # tuning: optimization history (budgets equal, converged?) and sensitivity (the U-shape)
    tuning = data.tuning
    for d in analysis["datasets"]:
        sub = tuning[tuning["dataset"] == d["label"]] if len(tuning) else tuning
        if not len(sub):
            continue
        arms = [a for a in study.arms if a in set(sub["arm"])]
        fig, axes = plt.subplots(1, 1 + len(arms), figsize=(3.0 * (1 + len(arms)), 2.9), squeeze=False)
        ax = axes[0, 0]
        for arm in arms:
            t = sub[(sub["arm"] == arm)].sort_values("number")
            vals = t["objective"].where(t["status"] == "FINISHED")
            best = (vals.cummax() if d["hib"] else vals.cummin()).ffill()
            ax.step(t["number"], best, where="post", label=ARM_LABELS[arm], color=palette[ARM_LABELS[arm]])
        ax.set_title("best validation metric so far", fontsize=8)
        ax.set_xlabel("tuning trial")
        ax.legend(fontsize=6)
        for ax, arm in zip(axes[0, 1:], arms):
            t = sub[(sub["arm"] == arm) & (sub["status"] == "FINISHED")]
            col = arms_mod.ARMS[arm].tuned_component or "l2"
            ax.scatter(t[col], t["objective"], color=palette[ARM_LABELS[arm]], s=14)
            pruned = sub[(sub["arm"] == arm) & (sub["status"] != "FINISHED")]
            if len(pruned):
                ax.scatter(pruned[col], [np.nanmin(t["objective"]) if len(t) else 0] * len(pruned),
                           marker="x", color="gray", s=12, label="pruned/failed")
                ax.legend(fontsize=6)
            if col != "dropout":
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # narrow decades overlap
            ax.tick_params(labelsize=7)
            ax.set_title(f"{ARM_LABELS[arm]}: val metric vs {'mean p' if col == 'dropout' else col}", fontsize=8)
        fig.tight_layout()
        figs[d["label"]]["tuning"] = _png(fig)

    # training-set-size axis: test metric and gap against size, per arm
    for group in sorted({p.base for p in study.plans if p.group}):
        sub = ok[ok["group"] == group]
        if sub["n_train"].nunique() < 2:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        for ax, col, title in ((axes[0], "test_metric", "test metric"), (axes[1], "gap_metric", "gap (train − test)")):
            sns.lineplot(data=sub, x="n_train", y=col, hue="regularizer", hue_order=order, palette=palette,
                         marker="o", errorbar=("ci", 95), n_boot=200, seed=0, ax=ax)
            ax.set_xscale("log")
            ax.set_xlabel("training samples")
            ax.set_ylabel("")
            ax.set_title(f"{group}: {title} vs training-set size", fontsize=9)
        figs["_sizes"][group] = _png(fig)

    across = analysis["across"]
    if across and not math.isnan(across["result"].critical_difference):
        figs["_all"]["cd"] = cd_diagram(across["labels"], across["result"].avg_ranks,
                                        across["result"].critical_difference)
    return figs


def cd_diagram(labels: list[str], ranks: list[float], cd: float) -> str:
    """Critical-difference diagram (Demsar 2006): arms on a rank axis, the CD as a bar, and arms
    whose average ranks differ by less than the CD joined by a line."""
    import matplotlib.pyplot as plt

    k = len(labels)
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.3 * k))
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(-k - 1, 2)
    ax.invert_xaxis()
    ax.axhline(0, color="black", lw=1)
    for r in range(1, k + 1):
        ax.plot([r, r], [0, 0.15], color="black", lw=1)
        ax.text(r, 0.3, str(r), ha="center", fontsize=8)
    order = np.argsort(ranks)
    for i, j in enumerate(order):
        y = -0.6 - 0.45 * i
        ax.plot([ranks[j], ranks[j]], [0, y], color="gray", lw=0.8)
        ax.text(ranks[j] - 0.05, y, f"{labels[j]} ({ranks[j]:.2f})", va="center", fontsize=8,
                ha="left" if ranks[j] > (k + 1) / 2 else "right")
    # cliques: maximal runs of arms (sorted by rank) within the CD
    srt = sorted(ranks)
    level, reach = 0, -1
    for i in range(k):
        j = max(x for x in range(i, k) if srt[x] - srt[i] < cd)
        if j > i and j > reach:  # not inside the previous clique
            ax.plot([srt[i], srt[j]], [-0.25 - 0.12 * level, -0.25 - 0.12 * level], color="black", lw=3)
            level, reach = level + 1, j
    ax.plot([1, 1 + cd], [1.3, 1.3], color="black", lw=2)
    ax.text(1 + cd / 2, 1.5, f"CD = {cd:.2f}", ha="center", fontsize=8)
    ax.axis("off")
    return _png(fig)


# --- provenance --------------------------------------------------------------------------------

def provenance(data: ReportData) -> dict:
    df = data.runs
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    roots = sorted(data.roots, key=lambda r: r.info.start_time)
    fmt = lambda ms: dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if ms and ms == ms else "-"
    return {
        "study_file": data.study.source_text,
        "config_hashes": {p.label: p.config_hash for p in data.study.plans},
        "git_commits": sorted({r.data.tags.get("git_commit", "unknown") for r in roots}) or ["unknown"],
        "versions": versions, "python": platform.python_version(), "cpu": f"{cpu} ({os.cpu_count()} cores)",
        "devices": sorted(set(df["device"].dropna()) - {""}) if len(df) else [],
        "first_run": fmt(df["start"].min()) if len(df) else "-",
        "last_run": fmt(df["end"].max()) if len(df) else "-",
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "tracking_uri": mask_credentials(data.tracking_uri),
        "root_runs": [{"run_id": r.info.run_id, "experiment_id": r.info.experiment_id,
                       "start": fmt(r.info.start_time), "status": r.info.status} for r in roots],
    }


# --- rendering ---------------------------------------------------------------------------------

def _fmt(x, digits=4):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}"


def _fmt_p(p):
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def render(data: ReportData, analysis: dict, figs: dict, prov: dict) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["f"] = _fmt
    env.filters["p"] = _fmt_p
    df = data.runs
    failed = df[df["status"] != "FINISHED"].sort_values(["dataset", "arm", "seed"]).to_dict("records")
    finished = df[df["status"] == "FINISHED"].sort_values(["dataset", "arm", "seed"]).to_dict("records")
    for r in failed + finished:
        r["link"] = run_link(data.tracking_uri, r["experiment_id"], r["run_id"])
    tuning_rows = []
    if len(data.tuning):
        for (label, arm), t in data.tuning.groupby(["dataset", "arm"], sort=False):
            tuning_rows.append({"dataset": label, "arm": ARM_LABELS.get(arm, arm), "trials": len(t),
                                "complete": int((t["status"] == "FINISHED").sum()),
                                "pruned": int((t["reason"] == "pruned").sum()),
                                "failed": int(((t["status"] != "FINISHED") & (t["reason"] != "pruned")).sum()),
                                "chosen": data.chosen.get((label, arm), {})})
    n_train = df.groupby("dataset")["n_train"].max().to_dict() if len(df) else {}
    return env.get_template("report.html.j2").render(
        tuning=tuning_rows, references=reference_points(data.study.plans, analysis, n_train),
        plausible_gap=PLAUSIBLE_GAP,
        study=data.study, a=analysis, figs=figs, prov=prov, failed=failed, finished=finished,
        arm_labels=ARM_LABELS, alpha=stats.ALPHA, n_runs=len(df), other_configs=data.other_configs)


def build_report(study: Study, tracking: Optional[str] = None, out_dir: str | Path = "reports",
                 root_run_id: Optional[str] = None, pdf: bool = True) -> list[Path]:
    """Build reports/<study>/report.html (and .pdf), log them to the study's root run, return paths."""
    tracker = Tracker(tracking)
    data = collect(study, tracker)
    analysis = analyze(data)
    figs = figures(data, analysis)
    html = render(data, analysis, figs, provenance(data))
    out = Path(out_dir) / study.name
    out.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a crash never leaves a half-written report.
    html_path = out / "report.html"
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(html_path)
    paths = [html_path]
    if pdf:
        from weasyprint import HTML

        pdf_path = out / "report.pdf"
        tmp_pdf = pdf_path.with_suffix(".pdf.tmp")
        HTML(string=html, base_url=str(out)).write_pdf(tmp_pdf)
        tmp_pdf.replace(pdf_path)
        paths.append(pdf_path)
    root = root_run_id or (max(data.roots, key=lambda r: r.info.start_time).info.run_id if data.roots else None)
    if root:
        for p in paths:
            tracker.log_artifact(root, str(p), "report")
    return paths
