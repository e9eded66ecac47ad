"""Links into the MLflow UI: a run, runs matching a search filter, a study's overview (the
shared view Tracker.share_overview stores on its experiment)."""

from __future__ import annotations


def run_link(tracking_uri: str, experiment_id: str, run_id: str = "") -> str:
    """A link into the MLflow UI. Its "Model training" view (workflowType=machine_learning)
    shows runs, params and metric charts; MLflow 3's UI otherwise opens the GenAI view."""
    page = f"{ui_base(tracking_uri)}/#/experiments/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return page + "?workflowType=machine_learning"


def runs_link(tracking_uri: str, experiment_id: str, filter_string: str) -> str:
    """A link to an experiment's runs in the MLflow UI, filtered by a search filter: the UI's
    searchFilter URL parameter, what its search box sets (MLflow 3.17's UI reads it on the
    /runs page; it shows matching child runs under their parent), in the study's order (the
    ui_order tag: parents, then trials by seed) as orderByKey/orderByAsc set it."""
    from urllib.parse import quote

    from .runtree import UI_ORDER
    return (f"{ui_base(tracking_uri)}/#/experiments/{experiment_id}/runs?searchFilter="
            f"{quote(filter_string, safe='')}&orderByKey={quote(f'tags.`{UI_ORDER}`', safe='')}&orderByAsc=true"
            "&workflowType=machine_learning")


def ui_base(tracking_uri: str) -> str:
    """Where the MLflow UI is: $PIPELINE_UI_URL when set (a shared server's address, for reports
    read elsewhere), else the tracking server, else `mlflow ui`'s default on this machine."""
    import os

    if os.environ.get(UI_URL_VARIABLE):
        return os.environ[UI_URL_VARIABLE].rstrip("/")
    return tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else LOCAL_UI


UI_URL_VARIABLE = "PIPELINE_UI_URL"
LOCAL_UI = "http://127.0.0.1:5000"


def links_are_local(tracking_uri: str) -> bool:
    """Whether the UI links open only on the machine that serves `mlflow ui` (the report says so)."""
    return ui_base(tracking_uri) == LOCAL_UI


def quote_filter(s: str) -> str:
    """Escape a value for an MLflow search filter string literal."""
    return s.replace("'", "\\'")



def overview_key(study_name: str) -> str:
    """The share key of a study's overview in its experiment (stable: links keep working)."""
    import hashlib

    return "ablation-" + hashlib.sha1(study_name.encode()).hexdigest()[:10]


def overview_link(tracking_uri: str, experiment_id: str, study_name: str) -> str:
    """The link that opens the study's overview (Tracker.share_overview) in the MLflow UI."""
    return (f"{ui_base(tracking_uri)}/#/experiments/{experiment_id}/runs?viewStateShareKey="
            f"{overview_key(study_name)}&workflowType=machine_learning")
