"""Errors the CLI turns into a one-line message and exit code 2."""


class UsageError(Exception):
    """Bad input from the user: a study file, a CLI value, a data file.

    The message names the field, the value and what is allowed. Raised before anything is
    written to MLflow or Optuna, so a failed start leaves no trace.
    """


class Unprepared(UsageError):
    """A worker's study that an enqueue stopped before preparing all of it (while tuning a dataset):
    one line, exit 75 (EX_TEMPFAIL: run the enqueue again, then the workers), not bad input's 2."""


class NotEnqueued(UsageError):
    """A worker's study that the storage holds no configuration of: no enqueue has created it yet
    (one started at the same time still loads its data), or the worker names another storage or
    study. The worker waits a while for it (orchestrate.joined_when_enqueued), then exits 2."""


class AnotherConfiguration(NotEnqueued):
    """A worker's study whose configuration the storage does not hold, but another one of it: the
    worker's file or flags differ from the enqueue's, or the enqueue of this (changed) file, started
    with the workers, has not created it yet. Said at once; waited for like NotEnqueued."""


class Diverged(Exception):
    """A trial's loss became NaN or infinite; the trial fails, the study goes on."""

    def __init__(self, epoch: int):
        super().__init__(f"diverged: non-finite loss at epoch {epoch}")
        self.epoch = epoch


class Interrupted(BaseException):
    """SIGTERM/SIGINT: stop after marking the current runs KILLED (runtime's handler raises it)."""


# The signal last raised as Interrupted in this process. Python swallows an exception raised
# where it cannot propagate: a signal that lands in a __del__ or a weakref callback (SQLAlchemy's
# class registry has some) prints "Exception ignored in ..." and the code goes on. The trainers
# look here once an epoch (stop_if_interrupted), so such a signal still stops them.
_raised: dict = {"signal": None}


def interrupted(signal_name: str) -> Interrupted:
    """The Interrupted to raise for a signal, remembered for stop_if_interrupted."""
    _raised["signal"] = signal_name
    return Interrupted(signal_name)


def stop_if_interrupted() -> None:
    """Raise Interrupted again if one was raised in this process: it may have been swallowed."""
    if _raised["signal"]:
        raise Interrupted(_raised["signal"])


def interrupt_received() -> str:
    """The signal an Interrupted was raised for in this process ("" when none was)."""
    return _raised["signal"] or ""


def forget_interrupts() -> None:
    """A command starts with no signal received (runtime.install_signal_handlers)."""
    _raised["signal"] = None
