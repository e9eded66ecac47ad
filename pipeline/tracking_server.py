"""Riding out a tracking server's restart: MLflow's own HTTP retries (urllib3, every request)
sized to $PIPELINE_OUTAGE_S (configure_http_retries); past them one line, StoreUnreachable, and
no more retries for this process (ServerClient wraps the client's calls); a console line when
the retries start and one when a call through server_calls succeeds again (retry_notice)."""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager

from mlflow import MlflowClient

from .runtime import OUTAGE_ENV, StoreUnreachable, caused_by, mask_credentials, outage_limit_s

_http_retries_set: dict[str, str] = {}   # the MLflow HTTP settings this process chose (not the user)
LAST_WORDS_S = 5.0   # how long a process that gave up on one store waits on the other on its way out


def configure_http_retries(limit_s: float, min_timeout_s: float = 30.0) -> None:
    """Size MLflow's own HTTP retries (urllib3, every request, POSTs included: it sleeps 0, 2,
    4, 8, ... s with MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1, plus up to 1 s of jitter) to ride out
    a tracking server that does not answer for limit_s: the fewest retries whose backoff adds up
    to it (7 for 120 s: 126 s). A server that accepts connections but never answers (frozen, or
    its disk stalled) is what the request timeout bounds: MLflow's 120 s a try would hold a worker
    for ~15 minutes, silently, its heartbeats keeping its cells from the others; limit_s spread over
    the tries (at least 30 s a try, for uploads of a large report) bounds it to a few times limit_s.
    Settings the user exported are left alone."""
    from mlflow.environment_variables import (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, MLFLOW_HTTP_REQUEST_MAX_RETRIES,
                                              MLFLOW_HTTP_REQUEST_TIMEOUT)

    retries = 1
    while 2 ** retries - 2 < limit_s and retries < 10:   # MLflow allows at most 10
        retries += 1
    timeout = str(int(max(min_timeout_s, limit_s / (retries + 1))))
    for var, value in ((MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, "1"), (MLFLOW_HTTP_REQUEST_MAX_RETRIES, str(retries)),
                       (MLFLOW_HTTP_REQUEST_TIMEOUT, timeout)):
        if os.environ.get(var.name, _http_retries_set.get(var.name)) == _http_retries_set.get(var.name):
            os.environ[var.name] = _http_retries_set[var.name] = value


def _connection_failure(e: BaseException) -> bool:
    """MLflow gave up on a request: the server refused or dropped the connection, timed out,
    or answered 5xx through every retry (requests' ConnectionError, Timeout or RetryError, which
    MLflow's http_request wraps in an MlflowException)."""
    import requests

    return caused_by(e, lambda x: isinstance(x, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                                                  requests.exceptions.RetryError)))


@contextmanager
def server_calls(uri: str):
    """Requests to a tracking server: when MLflow's retries are used up, StoreUnreachable with
    one line, and no more retries for this process (it is stopping; its finally blocks should
    not wait out the limit again); when the server answers (a result, or an API error), the
    console's "answers again" line if its retries had started (retry_notice): for every kind of
    call, the client's, the report's own REST reads and artifact uploads alike."""
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES
    from mlflow.exceptions import MlflowException

    try:
        yield
    except Exception as e:
        if isinstance(e, StoreUnreachable) or not _connection_failure(e):
            if isinstance(e, MlflowException):   # the server's own answer (an error): it answers again
                retry_notice.answered()
            raise
        os.environ[MLFLOW_HTTP_REQUEST_MAX_RETRIES.name] = _http_retries_set[MLFLOW_HTTP_REQUEST_MAX_RETRIES.name] = "0"
        reason = _http_reason(e.__cause__ or e.__context__ or e)
        # answers of 5xx through every retry (its artifact store unwritable, its database down) are
        # not silence: the server's own log says why
        what = ("answered only with errors" if "error responses" in reason else "did not answer")
        raise StoreUnreachable(f"the MLflow server {mask_credentials(uri)} {what} for {outage_limit_s():.0f} s "
                               f"({reason})" + ("; its log says why" if what != "did not answer" else ""),
                               store="mlflow") from None
    retry_notice.answered()


def hurry_stores(limit_s: float = LAST_WORDS_S) -> None:
    """This process gave up on a store and is stopping: from now on every call to a store gives
    up after about limit_s (Optuna's retries through $PIPELINE_OUTAGE_S; MLflow's HTTP retries and
    request timeout, unless the user exported them), so that what it writes on its way out
    (worker._left_by_outage) cannot hold it up for another full limit when both stores are away."""
    os.environ[OUTAGE_ENV] = str(min(limit_s, outage_limit_s()))
    configure_http_retries(limit_s, min_timeout_s=limit_s)


def _http_reason(e: BaseException) -> str:
    """urllib3's last reason in a requests error, e.g. 'NewConnectionError: Failed to establish
    a new connection: [Errno 111] Connection refused' (not the pool and URL around it)."""
    text = re.sub(r"\s+", " ", str(e))
    found = re.search(r"Caused by (\w+)\((.*)$", text)
    if found is None:
        return mask_credentials(f"{type(e).__name__}: {text[:120]}")
    detail = found.group(2).strip(")\"' ").split("): ")[-1]
    return mask_credentials(f"{found.group(1)}: {detail[:120]}")


class ServerClient:
    """An MlflowClient for a tracking server whose calls go through server_calls."""

    def __init__(self, client: MlflowClient, uri: str):
        self._client, self._uri = client, uri

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args, **kwargs):
            with server_calls(self._uri):
                return attr(*args, **kwargs)
        return call


class _RetryNotice(logging.Handler):
    """A console line when MLflow starts retrying requests to a server that does not answer
    (urllib3 logs every retry, to no handler), and one when a call succeeds again: one pair per
    outage, as the Optuna storage's outages are told (runtime)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.since: float | None = None   # when the outage being told began
        self.uri = ""

    def emit(self, record: logging.LogRecord) -> None:
        import time

        if record.getMessage().startswith("Retrying") and self.since is None:
            self.since = time.monotonic()
            print(f"  the MLflow server {mask_credentials(self.uri)} does not answer; MLflow retries each call for up "
                  f"to {outage_limit_s():.0f} s", flush=True)

    def answered(self) -> None:
        import time

        since, self.since = self.since, None
        if since is not None:
            print(f"  the MLflow server {mask_credentials(self.uri)} answers again (after "
                  f"{time.monotonic() - since:.0f} s)", flush=True)


retry_notice = _RetryNotice()
