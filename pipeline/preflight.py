"""Checks made before anything is written, each failure one line and exit 2: the device, the
grid's size, every dataset (loaded), a population's memory, the ROPE against the metric, and both
stores (the MLflow tracking URI answers and lets this host in; the Optuna storage opens)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from . import datasets as datasets_mod
from .errors import UsageError
from .runtime import mask_credentials
from .splits import Splits
from .store_paths import IN_MEMORY, sqlite_file, store_as_chosen
from .stats import rope_problem
from .storage import JOURNAL_PREFIX, check_storage
from .study import DatasetPlan, Study
from .task import metric_for
from .tracking import tracking_uri
from .words import counted

TRACKING_SCHEMES = {"", "file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks"}


def check_tracking_reachable(uri: str, typed: bool = True) -> None:
    """Fail fast (one line, exit 2) on a URI MLflow has no store for, and on an MLflow server that
    does not answer, instead of MLflow's traceback or minutes of retries; local stores need no
    other check. `typed`: the user gave it as --tracking-uri; else the error names it as given
    ($MLFLOW_TRACKING_URI, or the default store: named_as_given)."""
    try:
        _check_tracking(uri)
    except UsageError as e:
        if typed:
            raise
        raise UsageError(named_as_given(str(e), None)) from None


def _check_tracking(uri: str) -> None:
    from urllib.parse import urlparse

    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme not in TRACKING_SCHEMES:
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: unknown scheme {scheme!r}; allowed: a folder, "
                         "file:, sqlite:, postgresql:, mysql:, mssql:, http(s): (an MLflow server) or databricks")
    if scheme in ("postgresql", "mysql", "mssql"):
        return _check_database_answers(uri)
    if scheme in ("", "file") and not uri.startswith("databricks") and \
            os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("true", "1"):
        # MLflow 3 refuses its folder store (a traceback, after the Optuna storage was created)
        raise UsageError(f"--tracking-uri = {uri!r}: MLflow keeps its folder store in maintenance mode and refuses it; "
                         "use a database, e.g. sqlite:///mlflow.db (`mlflow migrate-filestore` moves old runs), or set "
                         "MLFLOW_ALLOW_FILE_STORE=true")
    if scheme == "sqlite":
        return _check_sqlite_file(uri)
    if not uri.startswith(("http://", "https://")):
        return
    try:
        answer = _ask_as_mlflow(uri, "/health", timeout=5)
    except Exception as e:
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: the MLflow server does not answer "
                         f"({_cause_name(e)})") from None
    if answer.status_code in (401, 403):   # a proxy in front of it that wants credentials
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: the server refuses us (HTTP {answer.status_code} "
                         "at /health); give MLflow its credentials (MLFLOW_TRACKING_USERNAME and "
                         "MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)")
    if not answer.ok:   # something answers there, but not as an MLflow server does
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: what answers there is not an MLflow "
                         f"server (HTTP {answer.status_code} at /health); start one with `mlflow server` or check the port")
    _check_host_allowed(uri)


def _check_sqlite_file(uri: str) -> None:
    """A SQLite store MLflow can open: its folder exists (MLflow would create every folder on the
    way, a typo's included), and the path is a SQLite file or nothing yet, where we may write
    (MLflow retried a folder or a read-only place for two minutes, then printed a traceback)."""
    path = sqlite_file(uri)
    if path == "":
        raise UsageError(f"--tracking-uri = {uri!r}: {IN_MEMORY}, e.g. sqlite:///mlflow.db")
    if path is None:   # sqlite:mlflow.db: SQLAlchemy's traceback otherwise
        raise UsageError(f"--tracking-uri = {uri!r}: not a SQLite URL; write sqlite:///relative/path.db or "
                         "sqlite:////absolute/path.db")
    said, folder = f"--tracking-uri = {mask_credentials(uri)!r}", os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"{said}: folder {folder} does not exist; create it first, or give a path in an existing folder")
    if os.path.isdir(path):
        raise UsageError(f"{said}: {path} is a folder; name a database file in it, e.g. sqlite:///{path.rstrip('/')}/mlflow.db")
    if os.path.exists(path):
        try:
            with open(path, "rb") as f:
                head = f.read(16)
        except OSError as e:
            raise UsageError(f"{said}: {path} cannot be read ({e.strerror})") from None
        if head and head != b"SQLite format 3\x00":
            raise UsageError(f"{said}: {path} is not a SQLite database (another kind of file); name a new file or an MLflow database")
    if not os.access(path if os.path.exists(path) else folder, os.W_OK):
        raise UsageError(f"{said}: {os.path.abspath(path) if os.path.exists(path) else 'folder ' + os.path.abspath(folder)} "
                         "is not writable here")


def check_reports_dir(folder: str, study_folder: str = "") -> None:
    """--reports-dir: a folder, or a path to one, where we may write (a file there, or a read-only
    place, was a traceback once the report was built: after the whole study, for ablation), and
    so is the study's own folder in it (`study_folder`, Study.report_folder), where the report is
    written: a file of the study's name there, or a read-only folder, was the same traceback."""
    if not folder.strip():   # `--reports-dir "$OUT"` with $OUT unset: the report went into the working directory
        raise UsageError(f"--reports-dir = {folder!r}: names no folder; give one, or leave the flag out for reports/")
    path = Path(folder) / study_folder
    try:
        existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    except OSError as e:   # a folder on the way we may not look into
        raise UsageError(f"--reports-dir = {folder!r}: {e.filename or folder} cannot be reached here ({e.strerror})") from None
    if not existing.is_dir():
        raise UsageError(f"--reports-dir = {folder!r}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--reports-dir = {folder!r}: {'the folder ' if existing != path else ''}{existing} is not "
                         "writable here; give a folder you may write to")


def _cause_name(e: BaseException) -> str:
    """The type of what went wrong under MLflow's wrapping (ConnectionError, ReadTimeout)."""
    while e.__cause__ is not None or e.__context__ is not None:
        e = e.__cause__ or e.__context__
    return type(e).__name__


def _check_database_answers(uri: str) -> None:
    """A database tracking URI (direct, not through `mlflow server`): connected to once, so that a
    wrong password or an unreachable host is one line instead of MLflow's two minutes of retries
    and a long traceback. Its reply to the connection is enough: MLflow creates its tables itself."""
    import sqlalchemy

    from .storage import CONNECT_TIMEOUT_S, CREATE_TABLES_HINT, driver_missing

    args = {"connect_timeout": CONNECT_TIMEOUT_S} if uri.startswith("postgresql") and "connect_timeout=" not in uri else {}
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=args, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as connection:
            # MLflow creates its tables on first use: a role that may not would fail there, in a traceback
            cannot_create = uri.startswith("postgresql") and connection.execute(sqlalchemy.text(
                "select to_regclass('public.experiments') is null and not has_schema_privilege('public', 'CREATE')")).scalar()
    except Exception as e:
        if missing := driver_missing(e):
            raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: {missing}") from None
        said = " ".join((str(getattr(e, "orig", None) or e).strip().splitlines() or [""])[0].split())
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: the database cannot be reached or refuses us "
                         f"({type(getattr(e, 'orig', None) or e).__name__}: {mask_credentials(said)[:200]})") from None
    if cannot_create:
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: MLflow's tables are not there yet and {CREATE_TABLES_HINT}")


def _ask_as_mlflow(uri: str, endpoint: str, timeout: float, **kwargs):
    """A GET of `endpoint` on the MLflow server, sent by MLflow's own HTTP client with the
    credentials and headers it would send (the environment's, ~/.mlflow/credentials, an auth
    plugin's), once, without retries: the response, whatever its status. A proxy that guards
    /health too refused this check when it went without them, though MLflow itself got in."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    return http_request(get_default_host_creds(uri), endpoint, "GET", max_retries=0, timeout=timeout,
                        raise_on_status=False, **kwargs)


def _check_host_allowed(uri: str) -> None:
    """MLflow 3.5+ servers answer /health to anyone but refuse API calls whose Host header is not
    in their --allowed-hosts (localhost and private IPs by default): a server reached by its
    name from another machine says 403 to every call. One line that says what to start it with."""
    from urllib.parse import urlparse

    try:
        answer = _ask_as_mlflow(uri, "/api/2.0/mlflow/experiments/get-by-name", timeout=10,
                                params={"experiment_name": "pipeline-probe"})
    except Exception:
        return   # anything else is MLflow's to report, as before
    if answer.status_code == 403 and "Invalid Host header" in answer.text:
        host = urlparse(uri).netloc.rsplit("@", 1)[-1]
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: the MLflow server refuses requests addressed "
                         f"to {host} (403, Invalid Host header); start it with --allowed-hosts {host} (MLflow allows "
                         "localhost and private IP addresses unless told)")
    if answer.status_code in (401, 403):   # /health let us in, the API does not (with MLflow's own credentials)
        raise UsageError(f"--tracking-uri = {mask_credentials(uri)!r}: the MLflow server refuses its API to us "
                         f"(HTTP {answer.status_code} reading an experiment); give MLflow the credentials of a user who "
                         "may read and write experiments (MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or "
                         "MLFLOW_TRACKING_TOKEN)")


def check_device(study: Study, where: str = "") -> None:
    """device: cuda where there is none, refused before anything is written (`train` logged a
    FAILED run). `where`: the message's prefix ("train: ", which as_flags turns into --device)."""
    import torch

    for plan in study.plans:
        if plan.execution.device == "cuda" and not torch.cuda.is_available():
            raise UsageError(f"{where}field 'execution.device' = 'cuda': no CUDA device is available here; use auto or cpu")


def validate_inputs(study: Study, storage: str, tracking: Optional[str]) -> dict:
    """connect's checks, without opening the tracking store: the datasets by label."""
    check_device(study)
    check_grid_size(study)
    # Every dataset first, so bad data fails before anything is written.
    data = {plan.label: datasets_mod.load(plan.dataset, study.spec.split_seed) for plan in study.plans}
    for plan in study.plans:
        check_population_memory(plan, data[plan.label])
        check_rope(plan, data[plan.label])
        check_metric_defined(study, plan, data[plan.label])
    # Both stores before writing to either, so a bad URL leaves nothing half-written
    # (MlflowClient creates a SQLite store the moment it is constructed).
    check_tracking_reachable(tracking_uri(tracking), typed=bool(tracking))
    check_storage_folder(storage)
    check_storage(storage)
    return data


def check_storage_folder(storage: str) -> None:
    """A journal or SQLite storage's file in a folder that exists, and not a folder itself, said as
    the tracking store's are (Optuna's words were "unable to open database file", "Is a directory")."""
    path = storage[len(JOURNAL_PREFIX):] if storage.startswith(JOURNAL_PREFIX) else sqlite_file(storage)
    if not path:   # a server's URL, or an in-memory database (check_storage says so)
        return
    said, folder = f"--storage = {mask_credentials(storage)!r}", os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"{said}: folder {folder} does not exist; create it first, or give a path in an existing folder")
    if os.path.isdir(path):
        example = f"journal:{os.path.join(path, 'optuna.journal')}" if storage.startswith(JOURNAL_PREFIX) else \
            f"sqlite:///{os.path.join(path, 'optuna.db')}"
        raise UsageError(f"{said}: {path} is a folder; name a file in it, e.g. {example}")


def named_as_given(message: str, tracking: Optional[str]) -> str:
    """A tracking store's error named as the user gave the store: $MLFLOW_TRACKING_URI, or the
    default, where no --tracking-uri was (the error blamed a flag nobody typed)."""
    flag = "--tracking-uri = "
    if tracking or not message.startswith(flag):
        return message
    quoted, rest = message[len(flag):].split(": ", 1)
    named = store_as_chosen(quoted, typed=False)
    return f"{named}: {rest}" + ("; give one with --tracking-uri" if named.startswith("the default") else "")


def check_rope(plan: DatasetPlan, data: Splits) -> None:
    """The ROPE against the metric, known once the data is (a table's task may be auto). One the
    dataset took from the top level is said to be that one: "dataset digits: field 'rope'" read
    as a field of the dataset's entry, which had none."""
    if problem := rope_problem(plan.rope, metric_for(data.task, data.metric).name):
        if plan.rope_from_top_level:
            field, rest = problem.split(": ", 1)
            raise UsageError(f"{field} (the top-level rope, which dataset {plan.label} uses): {rest}")
        raise UsageError(f"dataset {plan.label}: {problem}")


def check_metric_defined(study: Study, plan: DatasetPlan, data: Splits) -> None:
    """ROC AUC needs both classes among the test rows: with one, every run finished with no value,
    the console said "0 of 2 seeds finished" and the report's figure crashed (a metrics audit).
    Among the validation rows too where they choose something (tuning, a path's point, early
    stopping: a NaN validation AUC chooses nothing)."""
    import numpy as np

    if metric_for(data.task, data.metric).name != "roc_auc":
        return
    chooses = study.chosen_on_validation(plan) or any(len(study.variants(a)) > 1 for a in study.arms)
    for split, y in (("test", data.y_test), ("validation", data.y_val if chooses else None)):
        present = np.unique(np.asarray(y)) if y is not None else np.array([0, 1])
        if len(present) < 2:
            names = data.class_names or [str(i) for i in range(data.n_classes)]
            only = names[int(present[0])] if len(present) and int(present[0]) < len(names) else "none"
            fix = ("a larger test_fraction" if split == "test" else "a larger val_fraction") + \
                ("" if plan.dataset.stratify else ", stratify: true in the dataset entry (each split keeps each class's share)")
            raise UsageError(f"dataset {plan.label}: field 'metric' = 'roc_auc': the {split} split's "
                             f"{counted(len(y), 'row')} are all of one class ({only}), where ROC AUC is undefined; set "
                             f"{fix}, or choose another metric")


MAX_CELLS = 1_000_000   # a grid beyond this is a typo (seeds: 1e9), not a study


def check_grid_size(study: Study) -> None:
    cells = len(study.plans) * len(study.arms) * len(study.seeds)
    if cells > MAX_CELLS:
        raise UsageError(f"field 'seeds': the grid would have {cells:,} cells ({counted(len(study.plans), 'dataset')} x "
                         f"{counted(len(study.arms), 'arm')} x {len(study.seeds):,} seeds); at most {MAX_CELLS:,}")


def check_population_memory(plan: DatasetPlan, data: Splits) -> None:
    """Refuse a population whose parameters, gradients, optimizer state and activations would not
    fit in the device's memory (an estimate, before anything is written)."""
    from .trainer_common import memory_available, resolve_device

    ex, t = plan.execution, plan.training
    if ex.engine == "population" and ex.population_auto and resolve_device(ex.device).type == "cuda":
        return   # auto populations on CUDA are split to fit its memory (population.py)
    k = ex.population_size if ex.engine == "population" else 1
    sizes = [data.n_features, *t.model.hidden, max(data.n_outputs, 16)]
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    copies = 4 if t.optimizer.name == "adam" else 3   # weights, gradients, and 1 or 2 optimizer buffers
    # outputs, masks, gradients, slack; a batch larger than the training rows is all of them
    activations = min(t.batch_size, len(data.x_train)) * sum(sizes[1:]) * 4
    need = 4 * k * (params * copies + activations)
    device = resolve_device(ex.device)
    have = memory_available(device)
    if have and need > 0.8 * have:
        fits = int(0.8 * have // (need / k))
        if not fits:   # the model, not the population: population_size (perhaps never written) was blamed
            # its activations (a batch x the layers' widths) or its weights, whichever is most of it
            field, value, fix = (("batch_size", t.batch_size, "smaller batches") if activations > params * copies else
                                 ("model.hidden", list(t.model.hidden), "a smaller model"))
            raise UsageError(f"dataset {plan.label}: field '{field}' = {value}: one model needs about "
                             f"{need / k / 2**30:.1f} GiB ({params:,} parameters, batches of "
                             f"{min(t.batch_size, len(data.x_train)):,} rows), more than 80% of the {have / 2**30:.1f} GiB "
                             f"of {device.type} memory here; train {fix}")
        raise UsageError(f"dataset {plan.label}: field 'execution.population_size' = {k}{' (auto)' if ex.population_auto else ''}: "
                         f"the population needs about {need / 2**30:.1f} GiB ({k} models of {params:,} parameters), more than 80% "
                         f"of the {have / 2**30:.1f} GiB of {device.type} memory here; population_size: {fits} fits, or make "
                         "the model smaller")
