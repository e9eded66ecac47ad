"""The process a study runs in: signals, the stopwatch, who this worker is.

Nothing here knows about studies, Optuna or MLflow.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Optional

from .errors import Interrupted, forget_interrupts, interrupt_received, interrupted


_CREDENTIALS = re.compile(r"(//[^/:@]+):[^/@]*@")


def mask_credentials(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db"""
    return _CREDENTIALS.sub(r"\1:***@", url)


def shown_masked(command: str) -> str:
    """A command for the user to copy, the passwords in its URLs masked, and saying so where it
    masked any (the user puts them back)."""
    n = len(_CREDENTIALS.findall(command))
    return mask_credentials(command) + ("" if not n else " (password masked)" if n == 1 else " (passwords masked)")


_deferred = {"active": 0, "pending": None}


def _raise_interrupted(signum, frame):
    name = signal.Signals(signum).name
    if _deferred["active"]:
        _deferred["pending"] = name  # raised when the bookkeeping in progress is done
        return
    raise interrupted(name)


class signals_deferred:
    """Hold SIGTERM/SIGINT while one trial's results are written, so a trial is recorded either
    completely (FINISHED in MLflow, COMPLETE in Optuna) or not at all."""

    def __enter__(self):
        # Signals reach the main thread only; the bookkeeping thread's writes need no holding.
        self.main = threading.current_thread() is threading.main_thread()
        if self.main:
            _deferred["active"] += 1

    def __exit__(self, *exc):
        if not self.main:
            return False
        _deferred["active"] -= 1
        if _deferred["active"]:   # nested: the outermost raises it (an inner one dropped it)
            return False
        pending, _deferred["pending"] = _deferred["pending"], None
        if pending and exc[0] is None:
            raise interrupted(pending)
        return False


def _quiet_about_interrupts(previous):
    """sys.unraisablehook that passes over an Interrupted raised where Python swallows exceptions
    (a __del__, a weakref callback): the trainers raise it again (errors.stop_if_interrupted), so
    its traceback would only frighten the user who pressed Ctrl-C."""
    def hook(unraisable) -> None:
        if not isinstance(unraisable.exc_value, Interrupted):
            previous(unraisable)
    hook.quiet_about_interrupts = True
    return hook


def install_signal_handlers(once: bool = False) -> None:
    """SIGTERM and SIGINT raise Interrupted. `once` (a worker process of `ablation --workers N`):
    only the first does; later ones are ignored, so that the runs it is ending are ended. A Ctrl-C
    reaches the workers and the command alike, and the command's SIGTERM to each worker then landed
    in the middle of that (or of its exit: three chained tracebacks)."""
    forget_interrupts()
    if not getattr(sys.unraisablehook, "quiet_about_interrupts", False):
        sys.unraisablehook = _quiet_about_interrupts(sys.unraisablehook)
    handler = _raise_interrupted_once if once else _raise_interrupted
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _raise_interrupted_once(signum, frame):
    if not interrupt_received():
        _raise_interrupted(signum, frame)


def die_with_parent(parent_pid: int) -> None:
    """A worker process of `ablation --workers N` is stopped (SIGTERM: its runs end KILLED, its
    cells go back to the queue) when the command that started it dies, SIGKILL included: left
    alone it would train on unseen, racing the rerun that resumes the study. Linux: the kernel
    sends the signal (prctl PR_SET_PDEATHSIG); elsewhere a thread watches the parent's pid."""
    import ctypes

    try:
        if not sys.platform.startswith("linux") or ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM) != 0:
            raise OSError   # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:   # it died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


_token = {"pid": None, "value": ""}


def worker_id() -> str:
    """host:pid:token, the name a worker writes on the trials and runs it owns. The token is
    drawn once per process: a process that gets the pid of a dead one on the same host (a
    restarted container is pid 1 again, under the same host name) is still another worker."""
    if _token["pid"] != os.getpid():   # also after a fork
        _token["pid"], _token["value"] = os.getpid(), os.urandom(4).hex()
    return f"{socket.gethostname()}:{os.getpid()}:{_token['value']}"


def worker_pid(worker: str) -> int:
    """The pid in a worker's name (host:pid:token, or host:pid as older runs wrote it)."""
    parts = worker.split(":")
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else -1


def process_alive(worker: str) -> bool:
    """Whether the worker named `worker` may still be running: False only when it ran on this
    host and its process is gone, or when its pid is this process's own (then it was an
    earlier process under the same name, such as a restarted container's pid 1)."""
    if worker.split(":")[0] != socket.gethostname() or worker == worker_id():
        return True  # another machine: leave it to heartbeats
    pid = worker_pid(worker)
    return pid != os.getpid() and pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process of this id runs on this machine (someone else's counts)."""
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, ValueError, OverflowError):
        return False
    except PermissionError:
        return True


# --- outages and faults -------------------------------------------------------------------------

def caused_by(e: BaseException, matches) -> bool:
    """Whether e, or an exception it was raised from or during (its __cause__ / __context__
    chain), satisfies matches(exception)."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if matches(e):
            return True
        e = e.__cause__ or e.__context__
    return False


class StoreUnreachable(Exception):
    """The Optuna storage or the MLflow tracking server did not answer for longer than
    outage_limit_s(): the worker stops with one line (its cells in flight are retried).
    `store` says which: "optuna", "mlflow", or "" (a worker process's, told by its exit code)."""

    def __init__(self, message: str, store: str = ""):
        super().__init__(message)
        self.store = store


EXIT_UNREACHABLE = 75   # EX_TEMPFAIL: a store did not answer within $PIPELINE_OUTAGE_S; try again later


OUTAGE_ENV = "PIPELINE_OUTAGE_S"
DEFAULT_OUTAGE_S = 120.0   # a database or tracking-server restart of up to a minute, with margin


def outage_limit_s() -> float:
    """How long a worker keeps retrying a store that does not answer: $PIPELINE_OUTAGE_S, or
    DEFAULT_OUTAGE_S."""
    try:
        return max(0.0, float(os.environ.get(OUTAGE_ENV, DEFAULT_OUTAGE_S)))
    except ValueError:
        return DEFAULT_OUTAGE_S


FAILPOINT_ENV = "PIPELINE_FAILPOINT"
_failpoint_hits: dict[str, int] = defaultdict(int)
_failpoint_lock = threading.Lock()


def failpoint(name: str) -> None:
    """Fault injection for the tests (tests/test_faults.py): with PIPELINE_FAILPOINT=name:n the
    process SIGKILLs itself the n-th time it passes this point, so that a crash lands exactly
    between two writes; with name:n:stop it SIGSTOPs itself there instead, for the test to take
    a store away before it goes on (SIGCONT). Unset (always, outside those tests) it does nothing."""
    spec = os.environ.get(FAILPOINT_ENV)
    if not spec:
        return
    target, _, rest = spec.partition(":")
    count, _, action = rest.partition(":")
    if target == name:
        with _failpoint_lock:
            _failpoint_hits[name] += 1
            if _failpoint_hits[name] == int(count or 1):
                os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)


class Stopwatch:
    """Wall seconds per activity ("training", "bookkeeping", ...), each moment counted once: a
    nested activity pauses the enclosing one of its thread. Threads keep their own stacks, so
    the bookkeeping thread's writes are counted apart ("recording_background"). CPU seconds of the
    thread are kept too: overlapped writes still take the GIL and a core from training, so the
    CPU they use is what they cost."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self._lock, self._local = threading.Lock(), threading.local()

    @contextmanager
    def __call__(self, activity: str):
        stack = self._local.__dict__.setdefault("stack", [])
        now = (time.perf_counter(), time.thread_time())
        if stack:
            self._add(stack[-1][0], now, stack[-1][1])
        stack.append([activity, now])
        try:
            yield
        finally:
            now = (time.perf_counter(), time.thread_time())
            self._add(activity, now, stack.pop()[1])
            if stack:
                stack[-1][1] = now

    def _add(self, activity: str, now: tuple[float, float], since: tuple[float, float]) -> None:
        with self._lock:
            self.seconds[activity] += now[0] - since[0]
            self.cpu_seconds[activity] += now[1] - since[1]


def git_commit() -> str:
    """The commit of the pipeline's own code (not of the directory it runs in), with "-dirty" when
    its tracked files have uncommitted changes; "unknown" outside a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    where = ["git", "-C", here]
    try:
        # a copy installed into site-packages of a venv inside some other repository is not that
        # repository's code: the checkout must track this very file
        if subprocess.run([*where, "ls-files", "--error-unmatch", os.path.basename(__file__)],
                          capture_output=True, timeout=5).returncode != 0:
            return "unknown"
        head = subprocess.run([*where, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:
        return "unknown"
    if not head:
        return "unknown"
    try:
        dirty = subprocess.run([*where, "diff", "--quiet", "HEAD"], capture_output=True, timeout=5).returncode == 1
    except Exception:
        return head
    return head + ("-dirty" if dirty else "")


# Per-trial console lines (one per finished trial) are shown with --verbose; failures always are.
VERBOSE = {"on": False}


class Progress:
    """Progress of one stage of one dataset (the grid's cells, or tuning trials): a tqdm bar on
    a terminal; in a log (CI, `mlflow run`, a file) a plain line at every tenth of the work and
    at the end, so that no carriage returns pile up. Thread-safe (the bookkeeping thread updates it).
    With several workers on one grid, `total` is what was waiting when this worker started: it
    grows by the cells of a dead worker enqueued again, and cells another worker took over while
    this one was paused are counted as such, not as failed."""

    def __init__(self, label: str, total: int, what: str = "cells", who: str = "", cells: Optional[set] = None,
                 already: int = 0):
        # who: " worker 2:" when several workers share the console; already: done before this call (a
        # resumed stage), counted but not timed ("0 s, about 0 s left" was its first line's estimate)
        self.label, self.total, self.what, self.who = label, total, what, who.rstrip(":")
        self.done, self.failed, self.taken_over, self.already = already, 0, 0, already
        self.cells = cells or set()   # the grid's cells `total` counts (worker.retried grows it by others only)
        self.drained = False   # the worker found nothing left to pop (set by worker.work_cells)
        self.started, self.next_line = time.perf_counter(), (already / total if total else 0) // 0.1 * 0.1 + 0.1
        self._lock = threading.Lock()
        self.bar = None
        if total and sys.stdout.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=already, desc=f"[{label}]{self.who} {what}", unit=what.rstrip("s"),
                            leave=True)
        elif total and self.who:   # a worker's first line came a tenth of the way in: minutes of silence on big models
            print(f"[{label}]{self.who} {what}: starting on the {total} waiting", flush=True)

    def grow(self, n: int) -> None:
        """`n` more cells to do (a dead worker's, enqueued again)."""
        with self._lock:
            self._set_total(self.total + n)

    def _set_total(self, total: int) -> None:
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def update(self, done: int = 0, failed: int = 0, taken_over: int = 0) -> None:
        with self._lock:
            self.done, self.failed, self.taken_over = self.done + done, self.failed + failed, self.taken_over + taken_over
            if self.done + self.failed + self.taken_over > self.total:
                self._set_total(self.done + self.failed + self.taken_over)
            if self.bar is not None:
                self.bar.update(done + failed + taken_over)
                if failed or taken_over:
                    self.bar.set_postfix(failed=self.failed, **({"taken_over": self.taken_over} if self.taken_over else {}))
                return
            fraction = (self.done + self.failed + self.taken_over) / self.total if self.total else 1.0
            if fraction >= self.next_line or fraction >= 1.0:
                while self.next_line <= fraction:
                    self.next_line += 0.1
                print(self.line(fraction), flush=True)

    def line(self, fraction: float) -> str:
        elapsed = time.perf_counter() - self.started
        timed = fraction - self.already / self.total if self.total else 0.0   # this call's share
        # with other workers on the grid this one trains only its share of the total: no estimate
        left = f", about {elapsed / timed * (1 - fraction):.0f} s left" if 0 < timed and fraction < 1 and not self.who else ""
        through = self.done + self.failed + self.taken_over
        if self.taken_over:   # not "done": another worker trained those
            counts = (f"{through}/{self.total} settled ({self.done} trained here, {self.failed} failed, "
                      f"{self.taken_over} taken over by another worker)")
        elif self.who:   # one of several workers on the grid: its share of what it found waiting ("10/28" read
            counts = f"{through} done here ({self.failed} failed) of the {self.total} waiting"   # as a shifting total)
        else:
            counts = f"{through}/{self.total} done ({self.failed} failed)"
        return f"[{self.label}]{self.who} {self.what}: {counts}, {elapsed:.0f} s{left}"

    def settle(self) -> None:
        """Nothing is left to pop: the total becomes what this worker went through, and the last
        line says so (with other workers the bar stayed at "5/8", cells the others took, as if
        three were missing)."""
        with self._lock:
            through = self.done + self.failed + self.taken_over
            if through >= self.total:
                return
            others, found = self.total - through, self.line(1.0)   # "of the 28 waiting", before the total shrinks
            self._set_total(through)
            if self.bar is None and through:
                print(f"{found}; other workers popped the other {others}" if self.who and not self.taken_over
                      else self.line(1.0), flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

