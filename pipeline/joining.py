"""A worker joining a distributed study (`worker` on any machine): before it pops a cell, it
checks that it holds the study `enqueue` made, each mismatch one line and exit 2 with nothing
written: the same configuration (another study file or --epochs is another Optuna study), the
same grid (seeds and arms: a worker trains only the cells waiting in the queue, so a differing
file would pass silently) and the same MLflow store (a worker without --tracking-uri would write
its runs into a new local mlflow.db, against an experiment that is not there)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import optuna

from . import grid
from . import runtree as rt
from .errors import AnotherConfiguration, NotEnqueued, Unprepared, UsageError
from .identity import CELL_STRENGTHS, differing_keys, flat_record, identity_record, settings_differences
from .runtime import mask_credentials
from .store_paths import absolute_sqlite_url, missing_local_store, sqlite_file, store_as_chosen
from .storage import JOURNAL_PREFIX, get_storage
from .study import DatasetPlan, Study
from .tracking import Tracker, tracking_uri
from .words import and_list, plural


def joined_studies(study: Study, plans: list[DatasetPlan], storage: str) -> dict[str, optuna.Study]:
    """{dataset label: its Optuna study}, each checked to exist and to be this worker's grid."""
    found, missing = {}, []
    for plan in plans:
        name = grid.study_name(study.name, plan.label, plan.config_hash)
        ostudy = grid.load_existing(storage, name)
        if ostudy is None and configurations(study, plan, storage):   # another configuration of it: said why
            raise AnotherConfiguration(_no_such_configuration(study, plan, storage))
        if ostudy is None:
            missing.append(plan)
            continue
        _refuse_another_grid(study, plan, ostudy)
        found[plan.label] = ostudy
    if missing and found:   # the enqueue prepares dataset after dataset (a tuned one's tuning first): it stopped
        raise Unprepared(f"study {study.name!r}: the enqueue stopped before it prepared "
                         f"{plural(len(missing), 'dataset')} {and_list([p.label for p in missing])} (the storage holds "
                         f"{and_list(list(found))}): run the enqueue command again, then the workers")
    if missing:   # no configuration of it at all (another one's was refused above): not enqueued yet
        raise NotEnqueued(_no_such_configuration(study, missing[0], storage))
    notes = list(dict.fromkeys(note for plan in plans if (note := another_engine(plan, found[plan.label]))))
    for note in notes:   # one line per engine pair, not one per dataset
        print(note, file=sys.stderr, flush=True)
    return found


def another_engine(plan: DatasetPlan, ostudy: optuna.Study) -> str:
    """A note when this worker trains with another engine than the enqueue's study file names:
    allowed (the engine is not in the identity; on CPU the two agree to float rounding), but under
    unstable training rounding can grow into different numbers for a cell, and the report then
    mixes them; "" when they agree or the enqueue recorded none."""
    recorded = ostudy.user_attrs.get(rt.STUDY_ENGINE)
    if not recorded or recorded == plan.execution.engine:
        return ""
    return (f"note: the enqueue's study file trains with engine {recorded}, this worker with "
            f"{plan.execution.engine}: on CPU the cells agree to float rounding, but where training is unstable that rounding can "
            "grow into different numbers, which the report mixes (and warns about); give every worker the same "
            "execution settings")


def refuse_missing_storage(storage: str, creates: str = "`enqueue` creates it") -> None:
    """A worker (or the dashboard) opens a study that exists: a journal or SQLite file that does not
    is a mistyped path, which opening it would create (an empty SQLite file left behind)."""
    path, kind = (storage[len(JOURNAL_PREFIX):], "journal") if storage.startswith(JOURNAL_PREFIX) else \
        (sqlite_file(storage), "SQLite")
    if path and not Path(path).exists():
        raise UsageError(f"--storage = {storage!r}: no such {kind} file; {creates} (check the path)")


def configurations(study: Study, plan: DatasetPlan, storage: str) -> list[str]:
    """The configuration hashes of this study and dataset the storage holds, plan's included (not
    their tuning studies, <hash>.tune.<arm>, nor a dataset labelled like this one plus a dot)."""
    return sorted(_hashes_among(optuna.get_all_study_names(get_storage(storage)), study, plan))


def _hashes_among(names: list[str], study: Study, plan: DatasetPlan) -> set[str]:
    """The configuration hashes of the plan's dataset among Optuna study names."""
    prefix = f"{study.name}.{plan.label}."
    return {rest for n in names if n.startswith(prefix) and "." not in (rest := n[len(prefix):])}


def unnamed_labels(study: Study, storage: str) -> list[str]:
    """The dataset labels this study's storage holds grid studies of that no plan of the file names
    (a dataset renamed, or removed), as those studies record them (a name <study>.<label>.<hash>
    cannot tell study "abl"'s label "quick.digits" from study "abl.quick"'s "digits")."""
    prefix, mine = f"{study.name}.", {plan.label for plan in study.plans}
    names = {n for n in optuna.get_all_study_names(get_storage(storage)) if n.startswith(prefix) and ".tune." not in n}
    if not names:
        return []
    labels = {s.user_attrs.get(rt.DATASET_LABEL) for s in optuna.get_all_study_summaries(get_storage(storage), False)
              if s.study_name in names and s.user_attrs.get(rt.STUDY) == study.name}
    return sorted(labels - mine - {None})


def adopted(study: Study, storage: str) -> Study:
    """The study under the identities the Optuna storage holds it by (Study.adopted): a study
    started before a table's path left the identity resumes under its old hash."""
    names = optuna.get_all_study_names(get_storage(storage))   # one read for every dataset
    return study.adopted({plan.label: _hashes_among(names, study, plan) for plan in study.plans})


def other_configurations(study: Study, plan: DatasetPlan, storage: str) -> list[str]:
    return [h for h in configurations(study, plan, storage) if h != plan.config_hash]


def _no_such_configuration(study: Study, plan: DatasetPlan, storage: str) -> str:
    others = other_configurations(study, plan, storage)
    where = f"study {study.name!r}, dataset {plan.label}"
    if said := what_differs(study, plan, storage, others):
        return (f"{where}: the storage holds configuration(s) {', '.join(others)} of it, not this one ({plan.config_hash}): "
                f"{said}; run every worker with the study file, data and flags the enqueue used")
    if others:
        table = plan.dataset.path is not None   # its path counted in studies enqueued before (said, in 400 characters)
        return (f"{where}: the storage holds configuration(s) {', '.join(others)} of it, not this one ({plan.config_hash}): "
                "this worker's study file or flags (--epochs), or a table file's contents (sha256: a copy must be "
                f"byte-identical{'; a study enqueued by an older version hashed its path too' if table else ''}), differ "
                "from the enqueue's; run every worker with the study file, data and flags the enqueue used"
                + ("" if table else " (or enqueue this configuration first)"))
    return f"{where}: no Optuna study of it in the storage; create it first with: python -m pipeline enqueue ..."


def what_differs(study: Study, plan: DatasetPlan, storage: str, others: list[str]) -> str:
    """The settings this configuration differs in from each of the storage's `others` (up to two;
    newer enqueues record them: rt.STUDY_SETTINGS), "abc123 differs in training.epochs 300 there,
    250 here"; "" when none records them."""
    said = []
    for other, theirs in _recorded_settings(study, plan, storage, others):
        if differences := settings_differences(theirs, _record_like(study, plan, theirs)):   # none: it hashed something else
            said.append(f"{other} differs in {', '.join(differences)}")
    return "; ".join(said)


def plan_record(study: Study, plan: DatasetPlan) -> dict:
    """The plan's identity record (identity_record), its strengths in it where its identity hashes them."""
    return identity_record(study.spec, plan.dataset, plan.training, with_strengths=not plan.own_points)


def _record_like(study: Study, plan: DatasetPlan, theirs: dict) -> dict:
    """The plan's identity record as `theirs` was recorded: with the strengths where theirs has them
    (a configuration from before identity.CELL_STRENGTHS), so that the strengths that changed are
    said ("training.strengths.l2 0.001 there, 0.01 here"), not every strength as gone from here."""
    hashed = _hashed_strengths(theirs)
    return identity_record(study.spec, plan.dataset, plan.training, with_strengths=hashed or not plan.own_points)


def _hashed_strengths(record: dict) -> bool:
    """Whether an identity record holds strength values (a tuned study's, or one from before CELL_STRENGTHS)."""
    return any(k in record.get("training", {}).get("strengths", {}) for k in CELL_STRENGTHS)


def strengths_hint(study: Study, plan: DatasetPlan, storage: str, others: list[str]) -> str:
    """Where this configuration differs from one of the storage's `others` in regularizer settings
    alone (an untuned study): that one was started when the strengths were part of the identity
    (identity.CELL_STRENGTHS), so every arm trains once more here, and a later strength change
    retrains only the arms that use it; or l2_mode differs (still part of it: every arm trains
    again), and how to try a mode without that (a path's points are cells of the same study). ""
    otherwise."""
    if study.spec.tune is not None:
        return ""
    for _, theirs in _recorded_settings(study, plan, storage, others, most=20):
        mine = _record_like(study, plan, theirs)
        keys = differing_keys(theirs, mine)
        if not keys or not all(PATH_AXIS.fullmatch(k) for k in keys):
            continue
        if plan.own_points and _hashed_strengths(theirs):   # theirs hashed the strengths this identity leaves to the cells
            return ("; only regularizer strengths differ, and that configuration was started when strengths were part of "
                    "a study's identity: this one trains every arm once, and from now on a changed strength trains only "
                    "the arms that use it again (the others' cells are kept)")
        axis = PATH_AXIS.fullmatch(keys[0])
        before, now = flat_record(theirs)[keys[0]], flat_record(mine)[keys[0]]
        points = f"[{json.dumps(before)}, {json.dumps(now)}]"
        example = f" (e.g. paths: {{{axis[1]}: {{{axis[2]}: {points}}}}})" if axis[2] else f" (e.g. paths: {{{axis[1]}: {points}}})"
        return ("; only l2_mode differs, and a new l2_mode retrains every arm: to try one beside the others' runs, keep "
                f"strengths.l2_mode as it was and list the modes to try under paths:{example}")
    return ""


# the strengths a path can vary (study_schema.Paths): training.strengths.l2, training.strengths.dropout_l2.l2, ...
PATH_AXIS = re.compile(r"training\.strengths\.(dropout|l1|l2|l2_mode|dropout_l2)(?:\.(dropout|l2))?")


def _recorded_settings(study: Study, plan: DatasetPlan, storage: str, others: list[str],
                       most: int = 2) -> list[tuple[str, dict]]:
    """(configuration hash, identity record) of those of the first `most` of `others` that record one."""
    out = []
    for other in others[:most]:
        name = f"{study.name}.{plan.label}.{other}"
        if theirs := optuna.load_study(study_name=name, storage=get_storage(storage)).user_attrs.get(rt.STUDY_SETTINGS):
            out.append((other, theirs))
    return out


def grid_record(study: Study, plan: DatasetPlan) -> dict:
    """The grid a study file (with its flags) trains on `plan`'s dataset, as `enqueue` records it on
    the dataset's Optuna study (rt.STUDY_GRID) for workers to compare theirs with: a digest of every
    cell (named by its strengths where the plan's are: another strength is another grid) and a
    description for the error; and, for a worker's retries (worker._grid_of), its points (arms and
    strengths, every seed alike) and whether a --seeds view made it."""
    cells = sorted(study.grid_cells(study.seeds, plan))
    return {"digest": grid.cells_digest(cells), "says": _describe(cells),
            "points": grid.points_digest(cells), "view": study.seeds_flag is not None}


def _refuse_another_grid(study: Study, plan: DatasetPlan, ostudy: optuna.Study) -> None:
    """This worker's grid (its study file with --seeds) must be the one the last enqueue recorded:
    a worker trains only the cells waiting in the queue, so another file would pass silently."""
    recorded, mine = ostudy.user_attrs.get(rt.STUDY_GRID), grid_record(study, plan)
    if recorded and recorded.get("digest") != mine["digest"]:
        raise UsageError(f"dataset {plan.label}: the enqueued grid has {recorded.get('says')}; this worker's study "
                         f"file and flags have {mine['says']}: run every worker with the study file (its arms:, seeds: and strengths:) "
                         "and the --seeds the enqueue used")


def _describe(cells: list) -> str:
    seeds = sorted({seed for _, seed, _ in cells})
    arms = sorted({arm for arm, _, _ in cells})
    points = sorted({f"{arm} at {variant}" for arm, _, variant in cells if variant})
    shown = (f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2
             else ", ".join(map(str, seeds[:12])) + (", ..." if len(seeds) > 12 else "")) if seeds else "none"
    # the points by name where few (an arm's own strength is one: a worker with another is told which)
    said = f" ({', '.join(points)})" if len(points) <= 6 else f" ({len(points)} points)"
    return f"seeds {shown} and arms {', '.join(arms)}" + (said if points else "")


def joined_tracker(tracking: str | None, ostudy: optuna.Study, storage: str = "") -> Tracker:
    """The MLflow store the study's runs are in, as this worker reaches it: refused when it is a
    local store that does not exist yet (MLflow would create an empty one) or one without the
    dataset's parent run (an experiment id alone proves nothing: every store has experiment 0).
    The enqueue's URI is named (it may differ by host name and still be right). `storage`: the
    Optuna storage of an `enqueue` or `ablation` (study_tracker), whose store may be one deleted to
    start over."""
    uri = tracking_uri(tracking)
    recorded = ostudy.user_attrs.get(rt.STUDY_TRACKING)
    if storage and missing_local_store(uri) is not None and recorded == recorded_uri(uri):   # mlflow.db deleted, the journal kept
        raise UsageError(f"the MLflow store {mask_credentials(uri)!r} that held this study's runs is gone, while the Optuna "
                         f"storage {mask_credentials(storage)!r} still holds its trials: to start over, delete that storage "
                         "too (or pass another --storage); to go on, put the store back")
    given = store_as_chosen(repr(mask_credentials(uri)), typed=bool(tracking))
    # an ablation or enqueue may start the study afresh in this store instead (a worker joins)
    moved = bool(recorded) and missing_local_store(recorded) is not None   # the recorded one is gone too: moved
    fix = ("; that store is not there either: if it was moved, pass its new place as --tracking-uri" if moved else
           "; pass that store as --tracking-uri" if recorded else "; pass the store the study was started with as --tracking-uri") + \
        (", or another --storage (-P storage= under mlflow run) to start the study afresh in this one" if storage else "")
    hint = f" (the study was started with the tracking store {recorded})" if recorded else ""
    if missing_local_store(uri) is not None:
        raise UsageError(f"{given}: no MLflow store there, and the study's runs are in another one{hint}{fix}")
    from mlflow.exceptions import MlflowException

    tracker = Tracker(tracking)
    parent = ostudy.user_attrs.get(rt.STUDY_PARENT_RUN)
    try:
        held = parent is None or tracker.has_run(parent)
    except MlflowException as e:   # a proxy that wants credentials is not a store without the runs
        said = " ".join((str(e).strip().splitlines() or [""])[0].split())
        refused = e.error_code in ("PERMISSION_DENIED", "UNAUTHENTICATED")
        raise UsageError(f"{given}: reading the study's parent run {parent} failed ({e.error_code}: "
                         f"{mask_credentials(said)[:160]})" + ("; check the credentials MLflow sends (MLFLOW_TRACKING_USERNAME "
                         "and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)" if refused else "")) from None
    if not held:
        raise UsageError(f"{given}: this MLflow store does not hold the study's runs (its parent run {parent}){hint}{fix}")
    return tracker


def study_tracker(study: Study, storage: str, tracking: str | None) -> Tracker:
    """The MLflow store of `enqueue` or `ablation`, refused (one line, before anything is written)
    where the study's runs are in another one: an enqueue run as a status check from another folder
    without --tracking-uri rewrote the shared study's experiment and store, and workers started
    after it wrote their runs into another study's experiment. As joined_tracker checks a worker."""
    for plan in study.plans:
        ostudy = grid.load_existing(storage, grid.study_name(study.name, plan.label, plan.config_hash))
        if ostudy is not None and ostudy.user_attrs.get(rt.STUDY_PARENT_RUN):
            return joined_tracker(tracking, ostudy, storage)   # one dataset's parent is enough: they share the store
    return Tracker(tracking)


def recorded_uri(uri: str) -> str:
    """The tracking URI as the Optuna study records it for workers' errors: passwords masked, a
    relative SQLite path made absolute (another folder's worker needs the whole path)."""
    return mask_credentials(absolute_sqlite_url(uri, resolve=True))
