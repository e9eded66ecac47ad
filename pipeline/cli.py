"""Command line: python -m pipeline ablation | train | report | datasets.

Bad input ends with one line on stderr naming the field, the value and what is allowed, and exit
code 2, before anything is written.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence

from .cli_parser import parser
from .errors import Unprepared, UsageError
from .flags import as_flags, note_as_flags, optional, train_study, tutorial_flag_hint, unused_strengths
from .words import and_list, counted

EXIT_USAGE = 2
UNREACHABLE_ADVICE = ("the cells this process was training are trained again by another worker or the next run "
                      "(this try spends none of their max_retries, unless neither store answered to record why it stopped "
                      "and the database did not restart meanwhile); "
                      "rerun the same command once it answers")


def _study_from_args(args, trains: bool = True):
    """The study file with the command line's overrides (shared by every study command); one
    that trains must compare arms with none."""
    from .study import load_study

    study = load_study(args.study, seeds=optional(args.seeds), epochs=optional(args.epochs),
                       datasets=optional(args.datasets))
    if trains:
        study.require_comparison(args.study)
    _say_notes(study.notes)
    return study


def _say_notes(notes: Sequence[str]) -> None:
    """Settings that change nothing (or are deprecated), one line each before anything is
    trained: a study file's, and `train`'s flags'."""
    for note in notes:
        print(f"note: {note}", file=sys.stderr, flush=True)


def cmd_datasets(args) -> int:
    from .datasets import describe

    rows = describe()
    try:
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                print(f"{r['name']:<18} {r['task']:<15} {r['description']}")
        sys.stdout.flush()
    except BrokenPipeError:   # `datasets --json | head -c 50`: the reader left; no traceback at exit (Python's docs' way)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _verbosity(args) -> None:
    from .runtime import VERBOSE

    VERBOSE["on"] = bool(getattr(args, "verbose", False))


def cmd_ablation(args) -> int:
    from .errors import Interrupted, stop_if_interrupted
    from .answering import answer
    from .orchestrate import install_signal_handlers, run_ablation
    from .preflight import check_reports_dir
    if args.no_report and args.report == "yes":   # one would be ignored silently
        raise UsageError("--no-report and --report yes disagree; give one of them")
    study = _study_from_args(args)
    if not args.no_report and args.report != "no":   # before training, not after it
        check_reports_dir(args.reports_dir, study.report_folder)
    install_signal_handlers()
    _verbosity(args)
    workers = optional(args.workers)
    ctx = run_ablation(study, storage=optional(args.storage), tracking=optional(args.tracking_uri),
                       workers=None if workers is None else _workers(workers), source=args.study)
    try:
        code = answer(args, ctx)
        stop_if_interrupted()   # a signal swallowed in the report (a __del__): said as this phase's, below
        return code
    except (Interrupted, KeyboardInterrupt) as e:   # every run had ended: main's "still training" would be wrong
        e.says = INTERRUPTED_ANSWERING
        raise


def _workers(text) -> int:
    try:
        n = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"--workers = {text!r}: expected a positive integer") from None
    if n < 1:
        raise UsageError(f"--workers = {text!r}: expected a positive integer")
    return n


def cmd_enqueue(args) -> int:
    """Distributed studies, step 1 (once, idempotent): create the study and enqueue the grid."""
    from .orchestrate import finish_dataset, install_signal_handlers, next_round, queue_state
    from .preparation import prepare
    from .runtime import shown_masked
    study = _study_from_args(args)
    install_signal_handlers()   # Ctrl-C or SIGTERM while tuning: its runs end KILLED, as under ablation
    ctx, data = prepare(study, args.storage, optional(args.tracking_uri), owned=False)
    study = ctx.study   # under the identity the storage holds it by (joining.adopted)
    grown = next_round(ctx, data, owned=False)   # adaptive seeds: the next round, once the last one is done
    if study.adaptive and not grown:
        for plan in study.plans:
            finish_dataset(ctx, plan, data[plan.label])
    if ctx.tracker.owns_root() and not ctx.tracker.discard_if_empty(ctx.experiment_id, ctx.root_id):
        ctx.tracker.end_run(ctx.root_id, "FINISHED")  # the tree exists; workers attach to its parents
    waiting, training, silent = queue_state(ctx, data)
    flags = _override_flags(study)
    if not (waiting or training):
        print("nothing to train: no cell of this configuration waits or trains (done, or given up on after its "
              "retries)" + ("; adaptive seeds add no round: each dataset is decided, at its maximum of seeds, or "
                            "without results" if study.adaptive else "")
              + ". The report: " + shown_masked(f"python -m pipeline report --study {_study_flag(args)}{flags} --tracking-uri "
                                                f"{ctx.tracker.uri}"))
        return 0
    # "in training" alone read as alive: a killed worker's cells stay RUNNING until a worker takes them over
    quiet = (f" ({len(silent)} of them by a worker silent for {max(silent):.0f} s: dead or cut off, a live worker "
             "takes them over)") if silent else ""
    print(f"{counted(waiting, 'cell')} waiting" + (f", {training} in training{quiet}" if training else "")
          + "; start workers with: " + shown_masked(f"python -m pipeline worker --study {_study_flag(args)}{flags} "
                                                   f"--storage {args.storage} --tracking-uri {ctx.tracker.uri}")
          + ("\n(adaptive seeds: run enqueue again when the workers are done, until it says nothing is left to train)"
             if study.adaptive else ""))
    return 0


def cmd_worker(args) -> int:
    """Distributed studies, step 2 (any number, any machine): train cells until none is left."""
    from .orchestrate import install_signal_handlers, run_worker
    study = _study_from_args(args)
    install_signal_handlers()
    _verbosity(args)
    unenqueued = run_worker(study, args.storage, optional(args.tracking_uri))
    from .runtime import EXIT_UNREACHABLE, shown_masked
    from .tracking import tracking_uri

    uri = tracking_uri(optional(args.tracking_uri))
    if unenqueued:   # a Job's worker pool would complete with their grids untrained
        print(f"error: no cell of {and_list(unenqueued)} is enqueued (an enqueue stopped before it enqueued them): run "
              f"the enqueue command again, then the workers (exit {EXIT_UNREACHABLE}: try again later)",
              file=sys.stderr, flush=True)
        return EXIT_UNREACHABLE
    if study.adaptive:   # the round ran: deciding on it and adding the next is enqueue's (the report is not the end yet)
        print("no cell is left to train here; adaptive seeds: the next round, if any dataset is still undecided, comes "
              "from the enqueue command again: " + shown_masked(
                  f"python -m pipeline enqueue --study {_study_flag(args)}{_override_flags(study)} --storage {args.storage} "
                  f"--tracking-uri {uri}") + ", then the workers (it says when every dataset is decided; then the report)",
              flush=True)
        return 0
    print("no cell is left to train here; the report: " + shown_masked(
        f"python -m pipeline report --study {_study_flag(args)}{_override_flags(study)} --tracking-uri {uri}"), flush=True)
    return 0


def _study_flag(args) -> str:
    """--study as the commands this one prints give it: quoted for a shell, a shipped study by name."""
    from .bundled_studies import as_named

    return shlex.quote(as_named(args.study))


def _override_flags(study) -> str:
    """The command line's --seeds/--epochs/--datasets as typed, for the commands the pipeline
    prints (a worker or report without them is another configuration or grid)."""
    import shlex

    return "".join(f" --{flag} {shlex.quote(value)}" for flag, value in study.overrides)


def cmd_dashboard(args) -> int:
    """optuna-dashboard on the study's Optuna storage (the default journal file included)."""
    import shutil

    from .joining import refuse_missing_storage
    from .storage import DEFAULT_STORAGE, JOURNAL_PREFIX, check_storage

    storage = optional(args.storage) or DEFAULT_STORAGE
    target = ["--storage-class", "JournalFileStorage", storage[len(JOURNAL_PREFIX):]] \
        if storage.startswith(JOURNAL_PREFIX) else [storage]
    refuse_missing_storage(storage, "run a study first")
    check_storage(storage)   # a database that refuses us: one line here, not the dashboard's traceback
    _check_can_serve(args.host, args.port)
    exe = shutil.which("optuna-dashboard") or os.path.join(os.path.dirname(sys.executable), "optuna-dashboard")
    if not os.access(exe, os.X_OK):   # a pip install of the package alone: a traceback from execv
        raise UsageError("dashboard: optuna-dashboard is not installed in this environment; pip install optuna-dashboard "
                         "(requirements.txt has it)")
    print(f"optuna-dashboard on {storage}: http://{args.host}:{args.port}/", flush=True)
    # exec, not a child process: stopping this command (SIGTERM from a supervisor or a test) must
    # stop the dashboard too, not leave it serving as an orphan
    os.execv(exe, [exe, *target, "--host", args.host, "--port", str(args.port)])
    return 0   # not reached


def _check_can_serve(host: str, port: int) -> None:
    """The dashboard's address, tried before it starts (its server printed a traceback or five
    gunicorn errors for a port out of range, one in use, a host that does not resolve)."""
    import errno
    import socket

    if not 0 < port < 65536:
        raise UsageError(f"--port = {port}: expected a port from 1 to 65535")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UsageError(f"--port = {port}: in use on {host} (another program serves there); pick another "
                             "with --port") from None
        raise UsageError(f"--host = {host!r}: cannot serve there ({(e.strerror or str(e)).split(' (while')[0]}); "
                         "give an address of this machine (127.0.0.1, or 0.0.0.0 for every one)") from None


def cmd_report(args) -> int:
    from .answering import VIEW_HOLM, serve_command
    from .preflight import check_reports_dir, check_tracking_reachable
    from .store_paths import missing_local_store
    from .report import build_report
    from .runtime import install_signal_handlers, mask_credentials
    from .tracking import tracking_uri

    study = _study_from_args(args, trains=False)
    check_reports_dir(args.reports_dir, study.report_folder)
    install_signal_handlers()   # an interrupt lands between whole reports (report._write_report)
    if optional(args.tracking_uri):
        check_tracking_reachable(args.tracking_uri)
    uri = tracking_uri(optional(args.tracking_uri))
    if missing := missing_local_store(uri):   # opening it would create it
        print(f"note: no MLflow store at {mask_credentials(uri)} ({missing}): no report "
              "written; run the study first, or give the store its runs are in (--tracking-uri or $MLFLOW_TRACKING_URI)",
              file=sys.stderr)
        return 1
    view = study.view_flags()   # --epochs alone is a configuration of its own, and is recorded on it
    if view:
        print(f"note: a view with {view}: written to {Path(args.reports_dir) / study.report_folder} "
              "only; the study's report and verdicts in MLflow are left as they are" + VIEW_HOLM, file=sys.stderr, flush=True)
    paths = build_report(study, tracking=optional(args.tracking_uri), out_dir=args.reports_dir,
                         pdf=not args.no_pdf, record=not view, say_verdicts=True)
    for p in paths:
        print(f"report: {p}")
    if paths and (serve := serve_command(uri)):   # its links need a UI served
        print(f"to open these links, serve the MLflow UI: {serve}")
    return 0 if paths else 1


def _one_cell_study(args):
    """`train`'s flags as a one-cell study: (study, its plan, its data), every problem said as the
    flag the user typed."""
    from .datasets import REGISTRY as DATASETS, load
    from .preflight import check_device
    from .study import build_study

    raw = train_study(args)
    spec, info = raw["datasets"][0], DATASETS.get(args.dataset)
    if info is not None and info.is_table and spec.get("path") and Path(spec["path"]).is_file():
        spec["label"] = Path(spec["path"]).stem[:100]   # its runs say which table, not "csv"
    try:
        study = build_study(raw, "train")
        check_device(study, "train: ")
        plan = study.plans[0]
        _say_notes([*map(note_as_flags, study.notes), *unused_strengths(args, study.arms[0])])
        return study, plan, load(plan.dataset, study.spec.split_seed)
    except UsageError as e:   # the one-cell study's field names, as the flags the user typed
        raise UsageError(as_flags(str(e))) from None


def cmd_train(args) -> int:
    """One trial, every hyperparameter a flag: the tutorial use case."""
    from . import runtree as rt

    study, plan, data = _one_cell_study(args)
    print(f"[{plan.label}] {data.sizes_line()}", flush=True)
    if line := study.strengths_line(plan):
        print(f"[{plan.label}] strengths: {line}", flush=True)
    if data.preprocessing:
        from .dataset_record import data_line

        print(f"[{plan.label}] data: {data_line(data)}", flush=True)
    from .lifecycle import Outcome, ending_tags
    from .runtime import Interrupted, install_signal_handlers, signals_deferred
    from .train import train
    from .trainer_common import TrialConfig

    cfg = TrialConfig.for_cell(plan.training, study.arms[0], args.seed, plan.execution.device)
    install_signal_handlers()
    run_id = None
    try:
        with signals_deferred():   # the run is opened whole, then an interrupt ends it
            tracker, run_id = _single_run(args, study, plan, cfg)
            _describe_single_run(tracker, run_id, study, plan, cfg, data)   # failing, it marks the run FAILED
        result = train(cfg, data)
    except Interrupted:   # main says so; the run is not left RUNNING
        if run_id is not None:
            outcome = Outcome.INTERRUPTED
            with signals_deferred():
                tracker.fail_trial(run_id, outcome.mlflow_status, ending_tags(outcome))
        raise
    except Exception as e:
        if run_id is None:   # no run was opened (MLflow refused it): nothing to mark, main says why
            raise
        outcome = Outcome.of_error(e)
        tracker.fail_trial(run_id, outcome.mlflow_status, ending_tags(outcome, e))
        print(f"trial failed: {e}", file=sys.stderr)
        return 1
    with signals_deferred():
        tracker.finish_trial(run_id, result.history, result.final, tags={rt.DEVICE: result.device},
                             artifacts={rt.WEIGHT_HISTOGRAM: result.weight_histogram})
    f = result.final
    from .task import metric_for

    print(f"{single_run_name(plan.label, cfg)}: {metric_for(data.task, data.metric).label} train={f['final_train_metric']:.4f} "
          f"val={f['final_val_metric']:.4f} test={f['test_metric']:.4f} gap={f['gap_metric']:+.4f}  (mlflow run {run_id})")
    return 0


def _single_run(args, study, plan, cfg):
    """(tracker, the run a `train` command logs to): the `mlflow run -e train` run, or a new one."""
    from .preflight import check_tracking_reachable
    from .tracking import Tracker, tracking_uri

    # one line now, not 120 s of retries
    check_tracking_reachable(tracking_uri(optional(args.tracking_uri)), typed=bool(optional(args.tracking_uri)))
    tracker = Tracker(optional(args.tracking_uri))
    run_id = os.environ.get("MLFLOW_RUN_ID") or tracker.single_run(tracker.experiment_for(study.name),
                                                                   single_run_name(plan.label, cfg))
    return tracker, run_id


def _describe_single_run(tracker, run_id: str, study, plan, cfg, data) -> None:
    """A `train` run's tags, params and dataset. Under `mlflow run` the entry point's parameters
    are already logged as given (e.g. dropout=0.5 for a run whose arm has no dropout); what was
    trained is logged beside them."""
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

    from . import runtree as rt
    from .dataset_record import split_params
    from .tracking import dataset_input

    name = single_run_name(plan.label, cfg)
    # `mlflow run`'s project run is renamed: MLflow gave it random words ("bemused-cat-123")
    tracker.set_tags(run_id, {rt.STUDY: study.name, rt.KIND: rt.SINGLE, rt.DATASET_LABEL: plan.label,
                              rt.ARM: cfg.arm, rt.SEED: cfg.seed, rt.CONFIG_HASH: plan.config_hash, MLFLOW_RUN_NAME: name})
    given = tracker.run(run_id).data.params
    params = {}
    for key, value in {**cfg.params(), "dataset": plan.label, "dataset_spec": plan.dataset.model_dump_json(),
                       **split_params(data)}.items():
        if key not in given:
            params[key] = value
        elif given[key] != value:
            params[f"effective_{key}"] = value
    tracker.log_params(run_id, params)
    tracker.log_input(run_id, dataset_input(data))


def single_run_name(label: str, cfg) -> str:
    """A `train` run's name, as a path's trial run is named: "wine/l2@l2=0.001/seed0",
    "digits/none/seed3": what it trained on, with which strengths, at which seed."""
    from .arms import strengths_id

    strengths = strengths_id(cfg.arm, cfg.dropout, cfg.l1, cfg.l2, cfg.l2_mode, cfg.penalize_bias)
    return f"{label}/{cfg.arm}" + (f"@{strengths}" if strengths else "") + f"/seed{cfg.seed}"




def _closest_flag(top, command: str, unknown: list[str]) -> Optional[str]:
    """ "did you mean --seeds?" for a flag the command does not have (--seed, --epoch), or None."""
    import difflib

    flags = [s for a in top.commands[command]._actions for s in a.option_strings if s.startswith("--")]
    for arg in unknown:
        if arg.startswith("--") and (close := difflib.get_close_matches(arg.split("=")[0], flags, n=1)):
            return f"did you mean {close[0]}?"
    return None


def main(argv: Optional[list[str]] = None) -> int:
    top = parser()
    args, unknown = top.parse_known_args(argv)
    if unknown:   # argparse's own line, and for `train` what a tutorial's flag is called here
        hint = (tutorial_flag_hint(unknown) if args.command == "train" else
                "report reads the runs from MLflow alone: leave --storage out"
                if args.command == "report" and "--storage" in unknown else None) or _closest_flag(top, args.command, unknown)
        # the command's own usage line, not the top level's (which lists the commands, not its flags)
        top.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}" + (f"; {hint}" if hint else ""))
    from .errors import forget_interrupts, stop_if_interrupted
    from .runtime import EXIT_UNREACHABLE, Interrupted, StoreUnreachable

    try:
        code = COMMANDS[args.command](args)
        if code == 0:   # a signal whose exception Python swallowed where no trainer looked again (a report's __del__)
            stop_if_interrupted()
        return code
    except Unprepared as e:   # a UsageError, but one that rerunning the enqueue mends
        print(f"error: {e} (exit {EXIT_UNREACHABLE}: try again later)", file=sys.stderr)
        return EXIT_UNREACHABLE
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except StoreUnreachable as e:
        advice = UNREACHABLE_ADVICE if args.command in ("ablation", "worker", "enqueue") else "rerun the command once it answers"
        print(f"error: {e}; {advice}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (Interrupted, KeyboardInterrupt) as e:   # KeyboardInterrupt: Ctrl-C before a command's handlers
        says = getattr(e, "says", None) or INTERRUPTED_SAYS.get(args.command, "nothing was changed")
        print(f"interrupted by {str(e) or 'SIGINT'}: {says}", file=sys.stderr)
        forget_interrupts()   # said: a later command in this process (a notebook's) starts afresh
        return 130


# The function of each command the parser knows (cli_parser)
COMMANDS = {"ablation": cmd_ablation, "enqueue": cmd_enqueue, "worker": cmd_worker, "dashboard": cmd_dashboard,
            "report": cmd_report, "train": cmd_train, "datasets": cmd_datasets}

# What an interrupted command left (main)
INTERRUPTED_SAYS = {
    "ablation": "runs still training are marked KILLED, finished ones kept; rerun the same command to resume",
    "worker": "runs still training are marked KILLED, finished ones kept; rerun the same command to resume",
    "enqueue": "rerun the same command (it enqueues each cell once)",
    "report": "the report's files are those of one build, this one's or the one before (rerun the command to rebuild them)",
    "train": "its run, if it had started, is marked KILLED",
}
# ... and an `ablation` interrupted once its training had ended (cmd_ablation)
INTERRUPTED_ANSWERING = ("every run had ended and is kept; the verdicts or the report may not all be written: rerun the "
                         "same command (it trains nothing again) to write them")
