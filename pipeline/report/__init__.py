"""Report stage: MLflow runs -> tables, paired statistics, figures -> one HTML page and its PDF.

Everything is read back from MLflow (search by the study's tags, across every root run, so
resumed and multi-machine runs are all included); nothing comes from in-process state. One
Jinja2 template (autoescaped: dataset and study names are user text) renders both outputs.

The steps, one module each, in the order the data flows:
    collect.py   MLflow (through tracking.Tracker) -> ReportData: runs, curves, histograms, tuning
    analysis.py  ReportData -> per-dataset tables, paired tests to none (Holm), across-dataset ranks
    figures.py   -> PNG figures: one function each, listed in FIGURES in the order the page shows them
                    (figure_words.py: each figure's alt text and caption)
    render.py    -> provenance and the HTML (templates/report.html.j2); build_report adds the PDF
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

from ..runtime import mask_credentials
from ..study import Study, file_safe
from .. import runtree as rt
from ..summary import format_summary, log_study_verdicts, root_note
from ..tracking import Tracker
from . import analysis, collect, figures, render

__all__ = ["build_report"]


def build_report(study: Study, tracking: Optional[str] = None, out_dir: str | Path = "reports",
                 root_run_id: Optional[str] = None, pdf: bool = True, record: bool = True,
                 say_verdicts: bool = False, reuse: bool = False) -> list[Path]:
    """Build reports/<study>/report.html (<study>/<overrides>/ for a configuration shrunk on
    the command line), trials.csv (every trial run, one line each) and
    report.pdf; with `record`, log them to the study's root run under report/ (the root above
    this configuration's latest dataset parent, unless root_run_id says which) and the verdicts
    and figures to the dataset parents. Return their paths; [] and nothing written (no file
    replaced, nothing logged) when this configuration has no trial runs. `record` is off for a
    view (`report --seeds 3`): the study's own record in MLflow is not overwritten by it.
    `say_verdicts`: print each dataset's answer (the `report` command; `ablation` printed its summary).
    `reuse` (a rerun of `ablation`): when nothing the report is built from has changed since the
    files in its folder were built (the same runs, settings and pipeline code: `inputs_digest`),
    they are kept as they are (and logged to `mlflow run`'s project run, which carries them)."""
    tracker = Tracker(tracking)
    study = (data := collect.collect(study, tracker)).study   # under the identity its runs have (Study.adopted)
    _refuse_what_ablation_would(study, data)   # before "run the study first": such a file gets ablation's error
    for note in console_notes(data):
        print(f"note: {note}", file=sys.stderr, flush=True)
    if data.runs.empty:
        return []
    record = record and not data.interim   # an unfinished study's verdicts are not its answer
    study_view = record and say_verdicts   # the study's own recorded answer, not a view or an interim look
    out = Path(out_dir) / study.report_folder
    digest = inputs_digest(data, pdf)
    if reuse and (kept := _unchanged_report(out, digest, pdf)):
        print(f"note: nothing the report is built from changed since {out / 'report.html'} was built: kept as it is "
              "(`python -m pipeline report` rebuilds it)", file=sys.stderr, flush=True)
        for p in kept if record and root_run_id and root_run_id == os.environ.get("MLFLOW_RUN_ID") else []:   # mlflow run's
            tracker.log_artifact(root_run_id, str(p), "report")
        return kept
    results = analysis.analyze(data)
    _say_missing(data, results)
    drawn, prov = figures.draw_all(data, results), render.provenance(data, building=root_run_id)
    groups = render.trial_groups(data)   # the page's runs per dataset and arm, and the views their links open
    html = render.render(data, results, drawn, prov, groups=groups)

    def write(stage: Path) -> None:
        (stage / "report.html").write_text(html, encoding="utf-8")
        (stage / "trials.csv").write_text(render.trials_csv(data), encoding="utf-8")
        if pdf:   # trial lists bounded
            _write_pdf(render.render(data, results, drawn, prov, medium="pdf", groups=groups), out, stage / "report.pdf")
        _dataset_figures(data, results, drawn, stage / "figures")
        _study_figures(drawn, stage / "figures")

    _write_report(out, digest, write)
    paths = [out / name for name in REPORT_FILES if (out / name).exists()]
    if record:   # each dataset's figures on its parent run, so that the UI alone answers "which arm helped here"
        for label, parent in data.parent_runs.items():
            if (where := out / "figures" / file_safe(label)).is_dir():
                tracker.log_folder(parent, str(where), "figures")
    _share_views(tracker, data, study, results, groups, side_by_side=study_view)
    if say_verdicts:
        _say_summary(tracker, data, study, results, side_by_side=study_view)
    if record:
        _record(tracker, data, results, paths, root_run_id or data.root_of_current)
    return paths


def _refuse_what_ablation_would(study: Study, data: collect.ReportData) -> None:
    """A dataset with no run of this configuration may be one `ablation` refuses (a train_size beyond
    its rows, a ROPE in the wrong units): its data are loaded and checked as ablation checks them, so
    that such a study file gets ablation's one-line error (exit 2, nothing written), not a report
    that replaces the study's own with "no comparison" for it. The datasets with runs passed these
    checks when they ran (the same identity: the same data and settings). A dataset whose files are
    absent is said (not where no run exists at all: "run the study first" says it)."""
    from ..datasets import REGISTRY, load
    from ..errors import UsageError
    from ..preflight import check_rope

    if data.interim:   # workers still train: their enqueue checked every dataset
        return
    ran = set(data.runs["dataset"])
    for plan in study.plans:
        if plan.label in ran:
            continue
        spec = plan.dataset.model_copy(update={"download": False})   # a report never fetches data
        try:
            loaded = load(spec, study.spec.split_seed)
        except UsageError as e:   # a report machine without the files of a dataset that never ran: not checked
            if REGISTRY[spec.name].is_table or "files not found" not in str(e):
                raise
            if not data.runs.empty:
                print(f"note: dataset {plan.label}: its files are not on this machine, so it is not checked as ablation "
                      f"would check it ({str(e).split(': ', 1)[-1][:120]}...)", file=sys.stderr, flush=True)
            continue
        check_rope(plan, loaded)


def _record(tracker: Tracker, data: collect.ReportData, results: dict, paths: list[Path], root: Optional[str]) -> None:
    """The report's files and its In short (the run's description) on the study's root run, and
    what it decided on each dataset's parent."""
    if root:
        for p in paths:
            tracker.log_artifact(root, str(p), "report")
        for name in set(REPORT_FILES) - {p.name for p in paths}:   # the last build's, beside this one's (--no-pdf)
            if tracker.delete_artifact(root, f"report/{name}") is False:
                print(f"note: the root run's report/{name} is from an earlier build (this store does not delete "
                      "artifacts)", file=sys.stderr, flush=True)
        tracker.set_tags(root, {rt.NOTE: root_note(data.study, results["in_short"])})
    log_study_verdicts(tracker, data.study, {   # what the report decided, on each dataset's parent run too
        d["label"]: d["verdicts"] for d in results["datasets"] if d.get("verdicts") is not None})


# Beside the report: the digest of what it was built from (inputs_digest).
INPUTS_FILE = ".inputs"
REPORT_FILES = ("report.html", "trials.csv", "report.pdf")
STAGE_PREFIX = ".building-"   # + this process's id: where a report is written before it replaces the last


def _write_report(out: Path, digest: str, write) -> None:
    """The report's files in `out`, all or none: `write(stage)` writes them into a folder of their
    own inside `out` (the PDF's seconds included), then they replace the earlier report's files
    (and figures/; a file this report has none of, a PDF under --no-pdf, is removed) in a few
    renames that SIGINT and SIGTERM wait for. A crash or an interrupt before leaves the earlier
    report as it was: the files in `out` always match each other. The digest (`.inputs`) is
    written last, so a crash in the renames leaves no claim that they are current."""
    import os

    from ..runtime import failpoint, pid_alive, signals_deferred

    out.mkdir(parents=True, exist_ok=True)
    mine = f"{STAGE_PREFIX}{_host()}-"   # a folder shared by several machines: only this one's are judged here
    for left in out.glob(mine + "*"):   # a build that was killed (SIGKILL, power) left its folder
        pid = left.name[len(mine):].split("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid() or not pid_alive(int(pid)):   # this process makes its own below
            shutil.rmtree(left, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{mine}{os.getpid()}-", dir=out))
    try:
        write(stage)
        failpoint("report_files")   # tests/test_report.py: a report stopped with its files written, not in place
        with signals_deferred():   # (held where install_signal_handlers ran: the commands)
            (out / INPUTS_FILE).unlink(missing_ok=True)
            for name in REPORT_FILES:
                if (stage / name).exists():
                    os.replace(stage / name, out / name)
                    failpoint("report_swap")   # tests/test_report.py: an interrupt halfway through the renames
                else:
                    (out / name).unlink(missing_ok=True)   # an earlier report's would not match this one
            if (out / "figures").exists():   # an earlier report's: datasets may differ
                os.replace(out / "figures", stage / "earlier-figures")
            if (stage / "figures").exists():
                os.replace(stage / "figures", out / "figures")
            (out / INPUTS_FILE).write_text(digest + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _host() -> str:
    import socket

    return re.sub(r"[^A-Za-z0-9.]+", "_", socket.gethostname())[:40]


def inputs_digest(data: collect.ReportData, pdf: bool) -> str:
    """A digest of everything the report's files are built from: every trial run kept and replaced
    (id, status, end, metrics), tuning trials, parent statuses and data params, the study file as
    run, the tracking URI its links use, whether a PDF is made, and the pipeline's own code and
    template (a new version may draw or say things differently)."""
    h = hashlib.sha256()
    for frame in (data.runs, data.retries, data.tuning):   # in a fixed order: MLflow's search order may vary
        h.update(frame.sort_values(list(frame.columns[:4])).to_csv(index=False).encode() if len(frame) else b"-")
    h.update(json.dumps([sorted(data.parent_status.items()), sorted(data.data_params.items()), data.study.source_text,
                         [p.config_hash for p in data.study.plans], data.tracking_uri, pdf, data.other_configs,
                         data.outside, data.unreadable, sorted(map(str, data.chosen.items()))],
                        sort_keys=True, default=str).encode())
    h.update(_code_digest())
    return h.hexdigest()


def _code_digest() -> bytes:
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), *package.rglob("*.j2")]):
        h.update(path.read_bytes())
    return h.digest()


def _unchanged_report(out: Path, digest: str, pdf: bool) -> list[Path]:
    """The report's files in `out` when they were built from `digest`'s inputs; [] otherwise."""
    files = [out / "report.html", out / "trials.csv", *([out / "report.pdf"] if pdf else [])]
    try:
        recorded = (out / INPUTS_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return []
    return files if recorded == digest and all(f.exists() for f in files) else []


def _share_views(tracker: Tracker, data: collect.ReportData, study, results: dict, groups: list[dict],
                 side_by_side: bool = False) -> None:
    """The shared views the report's links open: the study's overview (which only grows) and
    each dataset and arm's trials (ui_links.trials_view), in the experiments that hold those
    runs. Also for a view of the study or an interim report: they record no result, and without
    them the links would open nothing. `side_by_side`: the parents' numbers side by side too, as
    `ablation` stores them (a distributed study's `report` is what records its verdicts). A store
    this user may not write to gets a note, not a failed report (its files are written by now).
    groups: render.trial_groups(data), the views of whose links are stored."""
    from ..ui_links import verdicts_view

    views: dict[str, dict] = {}
    for group in groups:
        for link in group["links"]:
            views.setdefault(link["experiment_id"], {}).update(link["view"])
    for experiment_id in {r.experiment_id for r in data.own_roots()} if side_by_side else ():
        views.setdefault(experiment_id, {}).update([verdicts_view(study.name, study.arms)])
    try:
        for experiment_id in {r.experiment_id for r in data.own_roots()}:
            tracker.share_overview(experiment_id, study.name, [(p.label, p.config_hash) for p in study.plans],
                                   [d["metric_name"] for d in results["datasets"]])
        for experiment_id, shared in views.items():
            tracker.share_views(experiment_id, shared)
    except Exception as e:   # noqa: BLE001 (MLflow raises many kinds; none should fail a written report)
        print(f"note: the report's links into the MLflow UI may open nothing: storing their views failed "
              f"({type(e).__name__})", file=sys.stderr, flush=True)


def _say_summary(tracker: Tracker, data: collect.ReportData, study, results: dict, side_by_side: bool) -> None:
    """What `ablation` prints at its end (a distributed study's user sees it here alone): the
    summary, and the links to the study and, for the study itself, its parents side by side."""
    from ..ui_links import overview_link, verdicts_view, view_link

    print(format_summary(study, results["results"], results["decided"], results["in_short"]), flush=True)
    for experiment_id in sorted({r.experiment_id for r in data.own_roots()}):
        print(f"the study in the MLflow UI: {overview_link(tracker.uri, experiment_id, study.name)}", flush=True)
        if side_by_side:
            print(f"Each dataset's differences to none, side by side: "
                  f"{view_link(tracker.uri, experiment_id, verdicts_view(study.name, study.arms)[0])}", flush=True)


def _write_pdf(page: str, base: Path, path: Path) -> None:
    """The PDF, tagged: a screen reader gets its headings, tables and figures' alt text (about 10%
    slower); a WeasyPrint without the option (older than the 70.0 requirements.txt pins) writes it
    untagged."""
    from weasyprint import HTML

    document = HTML(string=page, base_url=str(base))
    try:
        document.write_pdf(path, pdf_tags=True)
    except TypeError:
        document.write_pdf(path)


def _say_missing(data: collect.ReportData, results: dict) -> None:
    """The arms short of the study's seeds, on the console as the page says them (not while
    workers still train: the interim note says that)."""
    unrun = {r.label for r in results["results"] if not r.ran}   # format_summary says them
    for d in results["datasets"] if not data.interim else []:
        if d.get("missing") and d["label"] not in unrun:
            print(f"note: {d['label']}: missing results: {'; '.join(d['missing'])}", file=sys.stderr, flush=True)


def console_notes(data: collect.ReportData) -> list[str]:
    """What the page says about runs it could not show, for the console too."""
    notes = []
    waiting = data.runs.empty and any(status == "RUNNING" for status in data.parent_status.values())
    if waiting:   # an enqueue's parents, no worker done yet: not a study never run
        notes.append(f"no trial run of study {data.study.name!r} (this configuration) has ended yet in "
                     f"{mask_credentials(data.tracking_uri)}: its cells are enqueued and wait for workers (its dataset "
                     "runs are RUNNING); no report written: start workers, and build the report once some cells are done")
    elif data.runs.empty:
        notes.append(f"no trial runs of study {data.study.name!r} (this configuration) in {mask_credentials(data.tracking_uri)}: "
                     "no report written; run the study first"
                     + (f" ({data.other_configs} run(s) exist under other settings, never mixed in"
                        f"{collect.other_epochs_hint(data)})"
                        if data.other_configs else ""))
    if outside := collect.outside_note(data):
        notes.append(outside)
    if (interim := data.interim) and not waiting:
        notes.append(interim)
    return notes


def _dataset_figures(data: collect.ReportData, results: dict, drawn: dict, folder: Path) -> None:
    """Each dataset's figures (its paired differences to none, and the page's figures of that
    dataset) as PNG files in figures/<dataset>/ (build_report logs them on its parent run too)."""
    scopes = {f.name: f.scope for f in figures.FIGURES}
    for label in data.parent_runs:
        mine = {name: uri for (name, key), uri in drawn.items() if key == label and scopes.get(name) == "dataset"}
        differences = figures.differences_for(data, results, label)
        if differences:
            mine = {"differences": differences, **mine}
        if not mine:
            continue
        where = folder / file_safe(label)
        where.mkdir(parents=True, exist_ok=True)
        for name, uri in mine.items():
            _write_png(where / f"{name}.png", uri)


def _study_figures(drawn: dict, folder: Path) -> None:
    """The figures of the whole study (forest, critical differences) as figures/<name>.png, and
    those of a dataset split by training-set size as figures/<name>-<dataset>.png."""
    scopes = {f.name: f.scope for f in figures.FIGURES}
    for (name, key), uri in drawn.items():
        if scopes.get(name) == "dataset":
            continue
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{name}-{file_safe(key)}" if key else name
        _write_png(folder / f"{stem}.png", uri)


def _write_png(path: Path, uri: str) -> None:
    """A figure's data: URI (figures.py draws them for the page) as a PNG file."""
    path.write_bytes(base64.b64decode(uri.split(",", 1)[1]))


