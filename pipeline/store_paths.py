"""Where a local store is, by one rule for MLflow's store, Optuna's storage, their locks and the
paths we print. A SQLite URL's file: the scheme with or without a driver (sqlite+pysqlite:),
%-escapes decoded, a ?query left out, sqlite:///rel.db relative to the current folder and
sqlite:////abs.db absolute; a folder store's path (file:, or a plain path)."""
import os
from typing import Optional

IN_MEMORY = ("an in-memory SQLite database, which each connection opens empty and which is gone when the command "
             "exits; name a file")


def is_sqlite(url: str) -> bool:
    return url.split(":", 1)[0].split("+")[0] == "sqlite"


def sqlite_file(url: str) -> Optional[str]:
    """The file a SQLite URL names, as written (relative or absolute); "" for an in-memory database
    (sqlite://, sqlite:///:memory:, mode=memory); None for any other URL, or one SQLAlchemy cannot
    read (its own error says why where it is used)."""
    if not is_sqlite(url):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if database == ":memory:" or parsed.query.get("mode") == "memory" or not database.strip("/"):
        return ""
    return database


def in_memory(url: str) -> bool:
    """A database each connection opens empty, gone when the command exits (MLflow's and Optuna's
    pools open several: "no such table" two minutes later)."""
    return sqlite_file(url) == ""


def absolute_sqlite_url(url: str, resolve: bool = False) -> str:
    """A SQLite URL with a relative file made absolute (a worker, a report's reader or a shell in
    another folder needs the whole path; a cache keyed by the URL must not hand a process that
    changed folder another file); any other URL as it is. `resolve`: symbolic links too (the form
    a study records for workers: /tmp through /private/tmp on macOS, as recorded before)."""
    path = sqlite_file(url)
    if not path or os.path.isabs(path) or ":///" not in url:
        return url
    head, written = url.split(":///", 1)   # the file as written, %-escapes and ?query kept
    return f"{head}:///{os.path.realpath(written) if resolve else os.path.abspath(written)}"


def missing_local_store(uri: str) -> Optional[str]:
    """Why a local store (a SQLite file, a folder) is not there, or None: for a command that only
    reads (report, a worker), where MLflow would create an empty store at a mistyped path. Servers,
    databases and databricks: None (reading from them says what is wrong)."""
    from urllib.parse import unquote, urlparse

    if is_sqlite(uri):
        path = sqlite_file(uri)
        return f"the file {os.path.abspath(path)} does not exist" if path and not os.path.exists(path) else None
    if uri.startswith("file:"):
        path = unquote(urlparse(uri).path)
    elif "://" in uri or uri.split("/")[0].endswith(":") or uri.startswith("databricks"):
        return None   # databricks, databricks-uc, databricks://profile, a server: no folder
    else:
        path = uri    # a plain folder path
    return None if os.path.isdir(path) else f"the folder {os.path.abspath(path)} does not exist"


def store_as_chosen(quoted: str, typed: bool) -> str:
    """The tracking store named as the user chose it (`quoted`: its URI, masked and quoted): the
    flag, $MLFLOW_TRACKING_URI (`mlflow run` sets it to the caller's store), or the default. An
    error that blamed --tracking-uri where nobody typed it sent users looking for a flag."""
    if typed:
        return f"--tracking-uri = {quoted}"
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return f"$MLFLOW_TRACKING_URI = {quoted}"
    return f"the default tracking store {quoted} (no --tracking-uri given, no $MLFLOW_TRACKING_URI set)"
