"""`ablation`'s answer once training has ended: the verdicts and In short on the console, their
record in MLflow, the report, and the links to browse it all (the MLflow UI's command included,
which `report` prints too)."""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .words import and_list, plural

# Why a view's verdicts may differ from the study's (a smaller family, other seeds).
VIEW_HOLM = (" (its verdicts are its own: Holm's correction counts its comparisons and the tests its seeds, so they "
             "can differ from the study's)")


def answer(args, ctx) -> int:
    """`ablation`'s part after training: the verdicts, In short, their record in MLflow, the report
    and the links to browse it all."""
    from .results import study_results
    from .short_answer import in_short, mean_values
    from .summary import format_summary, record_verdicts
    from .runtime import failpoint
    from .verdicts import decide_study
    failpoint("answering")   # tests/test_reliability.py: Ctrl-C once every run has ended
    print()
    study = ctx.study   # under the identity the storage holds it by (joining.adopted)
    results = study_results(study, ctx.storage, ctx.tracker)
    decided = decide_study(results, study.seeds, study.looks())
    short = in_short(decided, mean_values(results))   # the console's last line and the root run's description
    print(format_summary(study, results, decided, short))
    view = study.view_flags()
    report = not args.no_report and args.report != "no"
    if view:   # other seeds or datasets than the file: the same parents, whose record is the study file's
        print(f"note: a view with {view}: its verdicts are printed"
              + (f" and its report written to {Path(args.reports_dir) / study.report_folder}" if report else "")
              + "; the study's verdicts and report in MLflow are left as they are" + VIEW_HOLM, file=sys.stderr, flush=True)
    changed = record_verdicts(ctx, decided, on_parents=not view, short=short)
    if not (report and _write_report(args, ctx, record=not view)):
        discard_empty_root(ctx, changed)
    _print_links(ctx, view)
    return 0


def _write_report(args, ctx, record: bool) -> bool:
    """Build the report (or keep the earlier one where nothing changed) and print where it lies;
    whether it was built anew."""
    from .report import build_report

    started, wall = time.perf_counter(), time.time()
    paths = build_report(ctx.study, tracking=ctx.tracker.uri, out_dir=args.reports_dir,
                         root_run_id=ctx.root_id, pdf=not args.no_pdf, record=record, reuse=True)
    seconds = time.perf_counter() - started
    ctx.tracker.log_values(ctx.root_id, {"time_report_s": round(seconds, 3)})
    for p in paths:
        print(f"report: {p}")
    rebuilt = bool(paths) and paths[0].stat().st_mtime >= wall - 1   # not when the earlier report was kept
    if rebuilt:
        print(f"report built in {seconds:.1f} s")
    return rebuilt


def _print_links(ctx, view: str) -> None:
    """Where to browse the runs in the MLflow UI, and the verdicts' side-by-side view (not for a view)."""
    from .ui_links import overview_link, verdicts_view, view_link

    study = ctx.study
    overview = overview_link(ctx.tracker.uri, ctx.experiment_id, study.name)
    serve = serve_command(ctx.tracker.uri)
    print(f"\nBrowse the runs: {serve}, then {overview}" if serve else f"\nBrowse the runs: {overview}")
    if not view:   # each dataset's differences to none as columns (record_verdicts stored the view)
        print(f"Each dataset's differences to none, side by side: "
              f"{view_link(ctx.tracker.uri, ctx.experiment_id, verdicts_view(study.name, study.arms)[0])}")


def serve_command(uri: str) -> Optional[str]:
    """The command that serves the MLflow UI on this store where the printed links expect it
    (127.0.0.1:5000): the store's path absolute (a relative SQLite path run elsewhere would open a
    new, empty database without a word), with this environment's own `mlflow` (a venv's is not on
    the PATH of a shell that did not activate it; `make ablation` ran in one), shown relative to
    the working directory when it is under it; and `make ui` beside it where that opens the same
    store and `make setup` has run (else `make ui` would first build a virtual environment, minutes
    and gigabytes, for a user who ran the pipeline in one of their own). None where the links open a server of its own (the tracking server, or $PIPELINE_UI_URL's)."""
    from .runtime import shown_masked
    from .tracking import DEFAULT_TRACKING_URI, tracking_uri
    from .ui_links import LOCAL_PORT, absolute_store_uri, links_are_local, local_port, ui_base, ui_command

    if not links_are_local(uri):
        return None
    command = ui_command(uri)
    mlflow = Path(sys.executable).parent / "mlflow"
    if mlflow.is_file():
        # relative where the user's shell is this folder: not under `mlflow run <path>` (its caller's may be another)
        near = mlflow.is_relative_to(Path.cwd()) and not os.environ.get("MLFLOW_RUN_ID")
        command = shlex.quote(os.path.relpath(mlflow) if near else str(mlflow)) + command[len("mlflow"):]
    shown = shown_masked(command)
    makefile = Path("Makefile").read_text(errors="replace") if Path("Makefile").is_file() else ""
    made = Path(".venv/.installed").is_file()   # the Makefile's setup stamp
    port = local_port(ui_base(uri))
    make = "make ui" + (f" PORT={port}" if port != LOCAL_PORT else "")
    # `make ui` opens $MLFLOW_TRACKING_URI, else this folder's mlflow.db; under `mlflow run` MLflow set
    # that variable (its caller's store), which the user's shell lacks: then only this folder's store
    chosen = uri == tracking_uri() and (not os.environ.get("MLFLOW_RUN_ID") or
                                         absolute_store_uri(uri) == absolute_store_uri(DEFAULT_TRACKING_URI))
    return shown + (f" (or: {make})" if chosen and made and re.search(r"(?m)^ui:", makefile) else "")


def discard_empty_root(ctx, changed: Sequence[str] = ()) -> None:
    """A rerun that trained nothing and built no report leaves no root run behind: one per call
    would clutter the experiment, and the report names the root that built it. (`mlflow run`'s
    project run is MLflow's own, kept.) `changed`: datasets whose parent runs' verdicts this call
    rewrote (another metric or ROPE): said, since a report built before still shows the old ones."""
    if ctx.trained_nothing and ctx.tracker.owns_root() and ctx.tracker.discard_if_empty(ctx.experiment_id, ctx.root_id):
        updated = (f"; it did update the verdicts on the parent {plural(len(changed), 'run')} of {and_list(changed)} "
                   "(the study file's metric or ROPE, or the runs, differ from the last summary's), which a report "
                   "built before does not show: rebuild it with the report command" if changed else "")
        print(f"note: nothing was trained and no report built: this call added no run to MLflow{updated}",
              file=sys.stderr, flush=True)
