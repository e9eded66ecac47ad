"""Report, step 4: provenance and the HTML page. One Jinja2 template (templates/report.html.j2,
autoescaped: dataset and study names are user text) renders the page that becomes the PDF too;
its figures come from figures.FIGURES, in that order."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import math
import os
import platform
import re
from pathlib import Path
from typing import Optional

import pandas as pd

from .. import arms, metric_numbers, path_points, stats, verdict_words
from ..datasets import normalization
from .. import runtree as rt
from ..references import PLAUSIBLE_GAP, reference_points
from ..runtime import mask_credentials
from ..task import METRICS, metric_for
from ..tuning import method_words, ties_at_best, too_many_ties
from ..ui_links import absolute_store_uri, links_are_local, overview_link, run_link, tag_equals, trials_view, ui_base, ui_command, view_link
from ..words import and_list, counted
from .collect import ReportData, other_epochs_hint, outside_note
from .figure_words import three_digits
from .figures import FIGURES, describe_all, size_groups

PACKAGES = ("torch", "torchvision", "mlflow", "optuna", "numpy", "pandas", "scipy", "seaborn",
            "matplotlib", "scikit-learn", "weasyprint")
# Trial rows a list shows at most in the PDF (report.html and trials.csv have every one): laying
# out a table row costs WeasyPrint ~7 ms, 24 s for the 3,200 trials of a large study.
PDF_ROWS = 60
# The HTML opens a trial list by default up to this many rows; longer ones start collapsed.
OPEN_ROWS = 20


# --- provenance ----------------------------------------------------------------------------------

# the status of the root run that builds the report: RUNNING then, FINISHED by the time a kept report is read
BUILDING = "RUNNING while it built this report"


# the units a difference cell ends in: "pt" for shares, the metric's label otherwise ("log loss", "R²")
_UNITS = "|".join(sorted({re.escape(m.label) for m in METRICS.values() if not m.share} | {"pt"}, key=len, reverse=True))


def unbroken(text) -> str:
    """A table cell's difference with its parts held together: "+0.2 pt [-0.1, 0.6]" may wrap only
    between the amount and its interval in a narrow PDF column ("[-0.1," / "0.6]" read as two
    numbers); the spaces inside an interval, inside a spaced thousand ("+1 340") and before a unit
    ("pt", "log loss") become non-breaking."""
    text = re.sub(r"\[([^\]]*)\]", lambda m: "[" + m.group(1).replace(" ", "\u00a0") + "]", str(text))
    text = re.sub(r"(?<=\d) (?=\d{3}\b)", "\u00a0", text)
    return re.sub(r"(?<=\S) (%s)(?!\w)" % _UNITS, lambda m: "\u00a0" + m.group(1).replace(" ", "\u00a0"), text)


def provenance(data: ReportData, building: Optional[str] = None) -> dict:
    """Where the results come from; `building`: the root run that builds this report while it
    runs (its status is then RUNNING by necessity, and said so in words that stay true once it
    has finished: a rerun that changed nothing keeps this report as it is, `ablation`'s reuse)."""
    df = data.runs
    roots = data.own_roots(building)
    return {
        "study_file": data.study.source_text,
        "config_hashes": {p.label: p.config_hash for p in data.study.plans},
        "git_commits": sorted({r.tags.get(rt.GIT_COMMIT, "unknown") for r in roots}) or ["unknown"],
        "versions": _versions(), "python": platform.python_version(), "cpu": f"{_cpu()} ({os.cpu_count()} cores)",
        "devices": sorted(set(df["device"].dropna()) - {""}) if len(df) else [],
        "engines": sorted(set(df["engine"].dropna()) - {""}) if len(df) else [],
        "mixed": mix_warning(data),
        "first_run": _utc(df["start"].min()) if len(df) else "-",
        "last_run": _utc(df["end"].max()) if len(df) else "-",
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "tracking_uri": mask_credentials(absolute_store_uri(data.tracking_uri)),   # read elsewhere: where it is
        "ui_base": ui_base(data.tracking_uri), "links_local": links_are_local(data.tracking_uri),
        # what serves them, as the console prints it (`make ui` alone would build a venv where setup did not run)
        "ui_command": mask_credentials(ui_command(data.tracking_uri)),
        "overview": [(e, overview_link(data.tracking_uri, e, data.study.name)) for e in sorted({r.experiment_id for r in roots})],
        "root_runs": [{"run_id": r.run_id, "experiment_id": r.experiment_id,
                       "link": run_link(data.tracking_uri, r.experiment_id, r.run_id), "start": _utc(r.start_time),
                       "status": BUILDING if r.run_id == building else r.status}
                      for r in roots],
    }


def mix_warning(data: ReportData) -> str:
    """A warning when the finished trial runs shown come from more than one engine or more than
    one device, "" when they do not."""
    ok = data.runs[data.runs["status"] == "FINISHED"]
    engines, devices = _counts(ok, "engine"), _counts(ok, "device")
    mixed, why = [], []
    if len(engines) > 1:
        mixed.append("engines " + and_list(engines))
        why.append("on CPU the engines agree up to float rounding")
    if len(devices) > 1:
        mixed.append("devices " + and_list(devices))
        why.append("across devices the numbers differ in rounding")
    return (f"These results mix runs from {', and from '.join(mixed)}; {', '.join(why)}, which a training close to "
            "diverging (a large learning rate, momentum) can grow into different results for the same cell."
            if mixed else "")


def _counts(runs, column: str) -> list[str]:
    """The column's values with their numbers of runs, e.g. ["cpu (40 runs)", "cuda (10 runs)"]."""
    values = runs[column][runs[column] != ""].dropna()
    return [f"{name} ({n} run{'s' if n != 1 else ''})" for name, n in sorted(values.value_counts().items())]


def _versions() -> dict:
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return versions


def _cpu() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def _utc(ms) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if ms and ms == ms else "-"


# --- rendering -----------------------------------------------------------------------------------

def fmt_number(x, digits: Optional[int] = None):
    """A number in the page: a metric's value (the default) as the console's table writes it
    (metric_numbers.table_value: 49 070, not 4.907e+04 or 49070.3100); with `digits`, a
    probability or a rank to that many decimals."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if digits is None:
        return metric_numbers.table_value(float(x) + 0.0)   # + 0.0: -0.0 becomes 0.0
    text = f"{x:.{digits}f}"
    # a tiny negative (an effect size of -1e-17 where arm and none tie) rounds to "-0.00": no sign
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def fmt_p(p):
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def render(data: ReportData, analysis: dict, drawn: dict, prov: dict, medium: str = "html",
           groups: Optional[list[dict]] = None) -> str:
    """The page. drawn: (figure name, key) -> PNG data URI, as figures.draw_all returns it.
    medium "html" lists every trial (long lists collapsed); "pdf" lists at most PDF_ROWS of
    each list and says where the rest is. groups: trial_groups(data), where the caller has them."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["f"] = fmt_number
    env.filters["p"] = fmt_p
    env.filters["counted"] = lambda n, word: counted(n, word)
    env.filters["nb"] = unbroken   # a difference cell wraps before its interval, never inside it
    env.filters["sentence"] = lambda s: s if str(s).rstrip().endswith((".", "!", "?")) else f"{s}."   # console lines end bare
    # the difference to none as the console writes it (metric_numbers.amount): one convention everywhere
    env.globals["difference"] = metric_numbers.difference
    env.globals["seeds_cell"] = verdict_words.seeds_cell   # "~15 (better, mean within the ROPE so far; 84% chance)"
    # Cohen's d_z with the sign of the difference beside it (a lower-is-better metric's flips back)
    env.globals["effect_size"] = lambda p, metric: math.copysign(1.0, metric_numbers.shown(1.0, metric)) * p.effect_size
    df = data.runs
    trials = listed(data, df)
    # RUNNING: in training (an interim report), or left so by a worker that died (its cell is taken over): not failed
    failed = [r for r in trials if r["status"] not in ("FINISHED", "RUNNING")]
    running = [r for r in trials if r["status"] == "RUNNING"]
    retries = listed(data, data.retries)
    n_train = df.groupby("dataset")["n_train"].max().to_dict() if len(df) else {}
    sized = [g for g in size_groups(data.study)
             if any((f.name, g) in drawn for f in FIGURES if f.scope == "size-group")]
    tuning, references = _tuning_rows(data), reference_points(
        data.study.plans, analysis, n_train, {p.label: normalization(p.dataset) for p in data.study.plans})
    return env.get_template("report.html.j2").render(
        tuning=tuning, tuning_method=method_words(data.study.spec.tune) if data.study.spec.tune else "",
        references=references, num=section_numbers(bool(tuning), bool(sized), bool(references)),
        plausible_gap=PLAUSIBLE_GAP, figures=FIGURES, drawn=drawn, size_groups=sized, said=describe_all(data, analysis, drawn),
        study=data.study, a=analysis, prov=prov, failed=failed, running=running, retries=retries, trials=trials, groups=trial_groups(data) if groups is None else groups,
        medium=medium, pdf_rows=PDF_ROWS, open_rows=OPEN_ROWS,
        arm_label=arms.label, alpha=stats.ALPHA, affordable=verdict_words.AFFORDABLE_SEEDS, n_runs=len(df), other_configs=data.other_configs,
        other_epochs=other_epochs_hint(data),
        outside=outside_note(data), interim=data.interim)


def section_numbers(tuning: bool, sizes: bool, references: bool) -> dict[str, int]:
    """The page's sections (their ids) numbered in the order the page shows them, those it has: the
    tuning, training-set size and reference sections were unnumbered h2s between numbered ones."""
    shown = ["summary"] + ["tuning"] * tuning + ["datasets"] + ["sizes"] * sizes + ["references"] * references \
        + ["across", "failed", "provenance"]
    return {name: n for n, name in enumerate(shown, 1)}


def listed(data: ReportData, df: pd.DataFrame) -> list[dict]:
    """Trial rows for a list of the page, in the study's order: each with its link into the MLflow
    UI and the label of the metric its test value is in ("accuracy", "MSE": datasets differ)."""
    rows = in_study_order(data, df).to_dict("records")
    for r in rows:
        r["link"] = run_link(data.tracking_uri, r["experiment_id"], r["run_id"])
        r["metric"] = METRICS[r["metric_name"]].label if r.get("metric_name") in METRICS else "metric"
        value = r.get("test_metric")
        r["sort_value"] = value if isinstance(value, float) and math.isfinite(value) else None   # the list's sort reads it
    return rows


def trial_groups(data: ReportData) -> list[dict]:
    """One line per dataset and arm: its trial runs, how many finished, failed or were killed,
    how many of its cells were retried (trained more than once: the run counts once, its earlier
    attempts are data.retries), and links to the MLflow UI showing those runs (one per experiment
    that holds them: a shared view, ui_links.trials_view, which the report stores in that experiment)."""
    df, hashes = data.runs, {p.label: p.config_hash for p in data.study.plans}
    if not len(df):
        return []
    retried = data.retries.drop_duplicates(["dataset", "arm", "variant", "seed"]).groupby(["dataset", "arm"]).size() \
        if len(data.retries) else {}
    rows = []
    for (label, arm), g in in_study_order(data, df).groupby(["dataset", "arm"], sort=False):
        filt = (f"{tag_equals(rt.STUDY, data.study.name)} AND tags.{rt.KIND} = '{rt.TRIAL}' AND "
                f"{tag_equals(rt.DATASET_LABEL, label)} AND {tag_equals(rt.ARM, arm)} AND "
                f"tags.{rt.CONFIG_HASH} = '{hashes.get(label, '')}'") + _one_point(data.study, label, arm)
        key, state = trials_view(filt, sorted(set(g["metric_name"].dropna())))
        view = {key: state}
        status = g["status"].value_counts()
        rows.append({"dataset": label, "arm": arm, "runs": len(g), "retried": int(retried.get((label, arm), 0)),
                     "finished": int(status.get("FINISHED", 0)),
                     "failed": int(status.get("FAILED", 0)), "killed": int(status.get("KILLED", 0)),
                     "other": int(len(g) - status.get("FINISHED", 0) - status.get("FAILED", 0) - status.get("KILLED", 0)),
                     "links": [{"experiment_id": e, "runs": int(n), "url": view_link(data.tracking_uri, e, key), "view": view}
                               for e, n in sorted(g["experiment_id"].value_counts().items())]})
    return rows


def _one_point(study, label: str, arm: str) -> str:
    """The filter clause that keeps an arm of one listed point to it: runs at an earlier strength share
    its configuration (Study.points names its cells by their strength), and its view showed them beside
    the listed ones. "" for a path of several points (MLflow's search has no OR)."""
    points = study.listed_points(study.plan_of(label)).get(arm, set())
    if len(points) != 1:
        return ""
    [point] = points
    return f" AND {tag_equals(rt.VARIANT, point)}" if point else f" AND tags.{rt.VARIANT} IS NULL"


def trials_csv(data: ReportData) -> str:
    """Every trial run of the study's cells, one line each (trials.csv beside report.html): its
    cell, status, final metrics, run id and a link into the MLflow UI. Earlier attempts of a
    retried cell (a worker died, was stopped, training failed) are lines too, `superseded` True:
    the report's statistics use only the lines where it is False. In the study's order (datasets
    and arms as the study file lists them, then path point, seed, attempt); times in UTC, ISO 8601."""
    df = pd.concat([data.runs.assign(superseded=False), data.retries.assign(superseded=True)], ignore_index=True) \
        if len(data.retries) else data.runs.assign(superseded=False)
    df = in_study_order(data, df)
    if len(df):
        for col in ("start", "end"):
            df[col] = [_iso(ms) for ms in df[col]]
    df = df.assign(link=[run_link(data.tracking_uri, e, r) for e, r in zip(df["experiment_id"], df["run_id"])])
    return df.to_csv(index=False)


def in_study_order(data: ReportData, df: pd.DataFrame) -> pd.DataFrame:
    """Trial rows as the study file lists datasets and arms (then path point, weakest first, seed,
    attempt), whatever the alphabet says; datasets or arms it does not list come last."""
    if not len(df):
        return df
    labels, order = [p.label for p in data.study.plans], list(data.study.arms)
    by_arm: dict[str, list[str]] = {}
    for arm, variant in zip(df["arm"], df["variant"]):
        by_arm.setdefault(arm, []).append(variant)
    # a path's points by strength (l1=1e-05 before l1=0.0001), not as text; others as text
    rank = {(arm, v): i for arm, vs in by_arm.items()
            for i, v in enumerate(path_points.strength_order(sorted(set(vs))) or sorted(set(vs)))}
    df = df.assign(_d=[labels.index(x) if x in labels else len(labels) for x in df["dataset"]],
                   _a=[order.index(x) if x in order else len(order) for x in df["arm"]],
                   _v=[rank[(a, v)] for a, v in zip(df["arm"], df["variant"])])
    return df.sort_values(["_d", "dataset", "_a", "arm", "_v", "seed", "attempt"]).drop(columns=["_d", "_a", "_v"])


def _iso(ms) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if ms and ms == ms else ""


def _tuning_rows(data: ReportData) -> list[dict]:
    """One row per tuned (dataset, arm), in the study's order: its trial counts, how many complete
    trials tie at the best validation value (many: the split could not tell the strengths apart)
    and the strengths the grid used (3 significant digits)."""
    rows = []
    labels, order = [p.label for p in data.study.plans], list(data.study.arms)
    if len(data.tuning):
        groups = data.tuning.groupby(["dataset", "arm"], sort=False)
        for (label, arm), t in sorted(groups, key=lambda g: (labels.index(g[0][0]) if g[0][0] in labels else len(labels),
                                                             order.index(g[0][1]) if g[0][1] in order else len(order))):
            # the budget's trials; those stopped (Ctrl-C, a dead worker) spent none and were asked again:
            # counted as failed they made "16 trials, 8 failed" of a budget of 8 that all finished
            stopped, t = int(t["stopped"].sum()), t[t["spent"].astype(bool)]
            done = t.loc[t["status"] == "FINISHED", "objective"].dropna()
            hib = _higher_is_better(data, label, t)
            grid = data.runs[(data.runs["dataset"] == label) & (data.runs["arm"] == arm) & (data.runs["status"] == "FINISHED")]
            rows.append({"dataset": label, "arm": arms.label(arm), "trials": len(t), "complete": len(done),
                         # the best of the trials, picked for being best, against the grid's seeds afresh
                         "tuned_val": (done.max() if hib else done.min()) if len(done) else math.nan,
                         "grid_val": float(grid["final_val_metric"].mean()) if len(grid) else math.nan,
                         "pruned": int((t["reason"] == "pruned").sum()), "stopped": stopped,
                         "failed": int(((t["status"] != "FINISHED") & (t["reason"] != "pruned")).sum()),
                         "tied": ties_at_best(done.tolist(), hib),
                         # per-layer dropout "0.297/0.452", as strengths_text writes it elsewhere (MLflow: "0.297,0.452")
                         "chosen": {k: three_digits(v) for k, v in data.chosen.get((label, arm), {}).items()}})
    for row in rows:
        row["too_many_ties"] = too_many_ties(row["tied"], row["complete"])
    return rows


def _higher_is_better(data: ReportData, label: str, tuning: Optional[pd.DataFrame] = None) -> bool:
    """The direction of the dataset's tuning objective (its primary metric): its task from its grid
    runs, else from its tuning runs (tuning comes before any grid run: an interim report of a
    regression took the worst MSE for the best)."""
    rows = data.runs[data.runs["dataset"] == label]
    known = [] if tuning is None else [x for x in tuning["task"] if x]
    task = rows["task"].iloc[0] if len(rows) else (known[0] if known else "classification")
    plan = next(p for p in data.study.plans if p.label == label)
    return metric_for(task, plan.dataset.metric).higher_is_better
