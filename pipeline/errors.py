"""Errors the CLI turns into a one-line message and exit code 2."""


class UsageError(Exception):
    """Bad input from the user: a study file, a CLI value, a data file.

    The message names the field, the value and what is allowed. Raised before anything is
    written to MLflow or Optuna, so a failed start leaves no trace.
    """


class Diverged(Exception):
    """A trial's loss became NaN or infinite; the trial fails, the study goes on."""

    def __init__(self, epoch: int):
        super().__init__(f"diverged: non-finite loss at epoch {epoch}")
        self.epoch = epoch


def failure_reason(e: BaseException) -> str:
    """The reason a failed trial records: "diverged", or the error's type and message."""
    return "diverged" if isinstance(e, Diverged) else f"{type(e).__name__}: {e}"
