"""A worker joining a distributed study (`worker` on any machine): before it pops a cell, it
checks that it holds the study `enqueue` made, each mismatch one line and exit 2 with nothing
written: the same configuration (another study file or --epochs is another Optuna study), the
same grid (seeds and arms: a worker trains only the cells waiting in the queue, so a differing
file would pass silently) and the same MLflow store (a worker without --tracking-uri would write
its runs into a new local mlflow.db, against an experiment that is not there)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from . import grid
from . import runtree as rt
from .errors import UsageError
from .runtime import mask_credentials
from .storage import get_storage
from .study import DatasetPlan, Study
from .tracking import Tracker, tracking_uri


def joined_studies(study: Study, plans: list[DatasetPlan], storage: str) -> dict[str, optuna.Study]:
    """{dataset label: its Optuna study}, each checked to exist and to hold this worker's grid."""
    found = {}
    for plan in plans:
        name = grid.study_name(study.name, plan.label, plan.config_hash)
        ostudy = grid.load_existing(storage, name)
        if ostudy is None:
            raise UsageError(_no_such_configuration(study, plan, storage))
        _refuse_another_grid(study, plan, ostudy)
        found[plan.label] = ostudy
    return found


def _no_such_configuration(study: Study, plan: DatasetPlan, storage: str) -> str:
    prefix = f"{study.name}.{plan.label}."
    others = sorted(n[len(prefix):] for n in optuna.get_all_study_names(get_storage(storage)) if n.startswith(prefix))
    where = f"study {study.name!r}, dataset {plan.label}"
    if others:
        return (f"{where}: the storage holds configuration(s) {', '.join(others)} of it, not this one ({plan.config_hash}): "
                "this worker's study file or flags (--epochs) differ from the enqueue's; run every worker with the "
                "study file and flags the enqueue used (or enqueue this configuration first)")
    return f"{where}: no Optuna study of it in the storage; create it first with: python -m pipeline enqueue ..."


def _refuse_another_grid(study: Study, plan: DatasetPlan, ostudy: optuna.Study) -> None:
    """The queue's cells and this worker's grid (its study file with --seeds) must agree: a
    waiting cell the worker's file does not list, or (seeds fixed in advance) a cell of its
    grid that was never enqueued, means another file or other flags."""
    trials = ostudy.get_trials(deepcopy=False)
    queued = {c for c in map(grid.cell_of, trials) if c is not None}
    waiting = {grid.cell_of(t) for t in trials if t.state == TrialState.WAITING} - {None}
    mine = set(study.grid_cells(study.seeds))
    # adaptive seeds: enqueue adds later looks' seeds as they are needed
    if (waiting - mine) or (not study.adaptive and mine - queued):
        raise UsageError(f"dataset {plan.label}: the enqueued grid has {_describe(queued)}; this worker's study file "
                         f"and flags list {_describe(mine)}: run every worker with the study file and --seeds the "
                         "enqueue used")


def _describe(cells: set) -> str:
    seeds = sorted({seed for _, seed, _ in cells})
    arms = sorted({arm for arm, _, _ in cells})
    shown = (f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2
             else ", ".join(map(str, seeds[:12])) + (", ..." if len(seeds) > 12 else "")) if seeds else "none"
    return f"seeds {shown} and arms {', '.join(arms)}"


def joined_tracker(tracking: str | None, ostudy: optuna.Study) -> Tracker:
    """The MLflow store the study's runs are in, as this worker reaches it: refused when it is a
    local store that does not exist yet (MLflow would create an empty one) or one without the
    study's experiment. The enqueue's URI is named (it may differ by host name and still be right)."""
    uri = tracking_uri(tracking)
    recorded = ostudy.user_attrs.get(rt.STUDY_TRACKING)
    hint = f" (the enqueue used --tracking-uri {recorded})" if recorded else ""
    experiment_id = ostudy.user_attrs.get(rt.STUDY_EXPERIMENT)
    if _local_store_missing(uri):
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: no MLflow store there, and the study's runs are "
                         f"in experiment {experiment_id} of another one{hint}; pass the --tracking-uri the enqueue used")
    tracker = Tracker(tracking)
    if experiment_id is not None and not tracker.has_experiment(experiment_id):
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: this MLflow store has no experiment "
                         f"{experiment_id}, where the study's runs are{hint}; pass the --tracking-uri the enqueue used")
    return tracker


def _local_store_missing(uri: str) -> bool:
    """A SQLite file or a local folder store that does not exist (yet)."""
    if uri.startswith("sqlite:///"):
        return not Path(uri[len("sqlite:///"):]).exists()
    if uri.startswith("file:"):
        from urllib.parse import urlparse

        return not Path(urlparse(uri).path).exists()
    return ":" not in uri.split("/")[0] and not Path(uri).exists()   # a plain folder path
