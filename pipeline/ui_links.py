"""Links into the MLflow UI: a run, a study's overview (the shared view Tracker.share_overview
stores on its experiment), the trials of one dataset and arm (a shared view the report stores)."""

from __future__ import annotations

from .store_paths import absolute_sqlite_url, is_sqlite

def run_link(tracking_uri: str, experiment_id: str, run_id: str = "") -> str:
    """A link into the MLflow UI. Its "Model training" view (workflowType=machine_learning)
    shows runs, params and metric charts; MLflow 3's UI otherwise opens the GenAI view."""
    page = f"{ui_base(tracking_uri)}/#/experiments/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return page + "?workflowType=machine_learning"


def ui_command(tracking_uri: str) -> str:
    """The `mlflow ui` command that serves a local store from any directory (a relative SQLite
    path or folder would open a new, empty store elsewhere), with one worker (see `make ui`)."""
    tracking_uri = absolute_store_uri(tracking_uri)
    port = local_port(ui_base(tracking_uri))   # `make ui PORT=5001` sets PIPELINE_UI_URL to match
    import shlex

    # quoted for a shell: a store under "my studies/" was two arguments to paste
    return f"mlflow ui --backend-store-uri {shlex.quote(tracking_uri)} --host 127.0.0.1" + \
        (f" --port {port}" if port and port != LOCAL_PORT else "") + " --workers 1"


def absolute_store_uri(tracking_uri: str) -> str:
    """A local store's URI with its path absolute (sqlite:///mlflow.db says nothing of where it is
    to a report's reader, nor to a shell in another directory); any other URI as it is."""
    import os

    if is_sqlite(tracking_uri):
        return absolute_sqlite_url(tracking_uri)
    if "://" not in tracking_uri and not tracking_uri.startswith("file:"):   # a folder store
        return os.path.abspath(tracking_uri)
    return tracking_uri


def local_port(base: str) -> int:
    """The port of a UI address on this machine (127.0.0.1 or localhost), 0 for one elsewhere."""
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    return (parts.port or 80) if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") else 0


def ui_base(tracking_uri: str) -> str:
    """Where the MLflow UI is: $PIPELINE_UI_URL when set (a shared server's address, for reports
    read elsewhere), else the tracking server, else `mlflow ui`'s default on this machine."""
    import os

    if os.environ.get(UI_URL_VARIABLE):
        return os.environ[UI_URL_VARIABLE].rstrip("/")
    return tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else LOCAL_UI


UI_URL_VARIABLE = "PIPELINE_UI_URL"
LOCAL_PORT = 5000
LOCAL_UI = f"http://127.0.0.1:{LOCAL_PORT}"


def links_are_local(tracking_uri: str) -> bool:
    """Whether the UI links open only on the machine that serves `mlflow ui` (the report says so):
    `mlflow ui`'s default address, or another port of this machine ($PIPELINE_UI_URL of make's PORT),
    not a tracking server's."""
    base = ui_base(tracking_uri)
    return base == LOCAL_UI or (bool(local_port(base)) and not tracking_uri.startswith(("http://", "https://")))


def filter_value(s: str) -> str:
    """A value as an MLflow search filter's string literal, quotes included: MLflow's parser takes no
    escape (a label "o'brien" as 'o\\'brien' matched nothing: its report's trial links opened empty
    lists), so a value with a ' is written in double quotes. One with both kinds matches nothing as
    either; such a label's filter is written with _ (any one character) for each quote, and
    compared by LIKE: tag_equals."""
    return f'"{s}"' if "'" in s and '"' not in s else f"'{s}'"


def tag_equals(key: str, value: str) -> str:
    """A filter clause: the tag `key` is `value` (filter_value; LIKE where it holds both quotes, which
    may match more: the readers keep the exact values, tracking_reads)."""
    if "'" in value and '"' in value:
        return f"tags.{key} LIKE '{value.replace(chr(34), '_').replace(chr(39), '_')}'"
    return f"tags.{key} = {filter_value(value)}"



def overview_key(study_name: str) -> str:
    """The share key of a study's overview in its experiment (stable: links keep working)."""
    return "ablation-" + _digest(study_name)


def overview_link(tracking_uri: str, experiment_id: str, study_name: str) -> str:
    """The link that opens the study's overview (Tracker.share_overview) in the MLflow UI."""
    return view_link(tracking_uri, experiment_id, overview_key(study_name))


def view_link(tracking_uri: str, experiment_id: str, key: str) -> str:
    """The link that opens an experiment's shared view `key` in the MLflow UI."""
    return (f"{ui_base(tracking_uri)}/#/experiments/{experiment_id}/runs?viewStateShareKey="
            f"{key}&workflowType=machine_learning")


def trials_view(filter_string: str, metrics: list[str]) -> tuple[str, dict]:
    """A shared view of the trial runs a search filter selects (one dataset and arm of a
    report's trial list): its share key and the state Tracker.share_view stores. A shared view
    rather than a link with the filter as URL parameters because the UI keeps the last grouping it showed
    (the overview's, by dataset, in local storage) for plain links, which then open onto one
    collapsed group row; a view sets the grouping too (none here). In the study's order (the
    ui_order tag: trials by seed); columns: arm, seed and the test value of `metrics`. The key
    is a digest of the filter: the same runs, the same key."""
    from .runtree import ARM, SEED, UI_ORDER
    state = {"searchFilter": filter_string, "orderByKey": f"tags.`{UI_ORDER}`", "orderByAsc": True,
             "groupBy": None, "groupsExpanded": {},
             "selectedColumns": [f"tags.`{t}`" for t in (ARM, SEED)] + [f"metrics.`test_{m}`" for m in metrics]}
    return "ablation-trials-" + _digest(filter_string), state


def verdicts_view(study_name: str, arms: list[str]) -> tuple[str, dict]:
    """A shared view of a study's dataset parent runs, one row per dataset, with each arm's
    difference to none (the vs_none.<arm> metrics, as the console writes it) and its Holm p as
    columns: the answer's numbers side by side, sortable (verdict_record.verdict_metrics). Its
    share key is stable: the link keeps working as the study grows. Its rows are the
    parents that hold the study's answer as last summarized (summary.mark_the_answer): one per
    dataset, not another configuration's, a view's, or a retired one beside them."""
    from .arms import BASELINE
    from .runtree import ANSWER, DATASET, KIND, STUDY, UI_ORDER, VERDICT
    compared = [a for a in arms if a != BASELINE]
    state = {"searchFilter": f"{tag_equals(STUDY, study_name)} AND tags.{KIND} = '{DATASET}' "
                             f"AND tags.{ANSWER} = 'current'",
             "orderByKey": f"tags.`{UI_ORDER}`", "orderByAsc": True, "groupBy": None, "groupsExpanded": {},
             "selectedColumns": [f"tags.`{VERDICT}`"] + [f"metrics.`{key}.{a}`" for a in compared
                                                        for key in ("vs_none", "p_holm")]}
    return "ablation-verdicts-" + _digest(study_name), state


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:10]
