"""The journal storage (journal:FILE, the default): Optuna's, with the writes of one thread landing
in one append (BatchingJournalStorage), and a pop of many waiting trials at once. Optuna appends
each write alone, with its own lock and fsync: ~12 a trial, most of a small trial's bookkeeping.
Which storage a URL names, and batched_writes, which batches on this storage and writes at once on
the others, are storage.py's."""

from __future__ import annotations

import datetime
import threading
from contextlib import contextmanager
from typing import Optional

import optuna
from optuna.storages.journal import JournalStorage
from optuna.trial import FrozenTrial, TrialState


class BatchingJournalStorage(JournalStorage):
    """Optuna's journal storage, whose writes inside `batched_writes` are appended to the file
    together when the block ends: one lock and one fsync for a population's writes instead of one
    per write (Optuna appends each write alone: ~12 a trial, most of a small trial's bookkeeping).

    Inside the block the writes are not visible to reads yet, and a write that the journal turns
    down (a trial another worker ended meanwhile) shows only when they land: batched_writes says
    so, and its callers check the trials' states afterwards. Popping a trial, whose write decides
    who owns it, is never batched."""

    def __init__(self, backend):
        self._batch = threading.local()
        super().__init__(backend)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_batch", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._batch = threading.local()

    def _write_log(self, op_code: int, extra_fields: dict) -> None:
        logs = getattr(self._batch, "logs", None)
        if logs is None:
            return super()._write_log(op_code, extra_fields)
        logs.append({"op_code": op_code, "worker_id": self._replay_result.worker_id, **extra_fields})

    def create_new_trial(self, study_id: int, template_trial: Optional[FrozenTrial] = None) -> int:
        if getattr(self._batch, "logs", None) is None:
            return super().create_new_trial(study_id, template_trial)
        # Optuna reads back the id of this process's latest trial, which a first batch has none of
        self._replay_result.__dict__.setdefault("_last_created_trial_id_by_this_process", -1)
        super().create_new_trial(study_id, template_trial)
        return -1   # not known before the batch lands (enqueueing does not need it)

    def pop_waiting(self, study_id: int, limit: int) -> list[int]:
        """Move up to `limit` WAITING trials of a study to RUNNING, one append per try: the ids of
        those this thread owns now. As in Optuna's own pop (one trial, one append), the journal's
        order decides: a trial another worker's RUNNING write reached first is not ours. Our
        writes are replayed one by one to see which of them the journal took."""
        owned: list[int] = []
        with self._thread_lock:
            while len(owned) < limit:
                self._sync_with_backend()
                waiting = [t._trial_id for t in self._replay_result.get_all_trials(study_id, (TrialState.WAITING,))]
                if not waiting:
                    break
                owned += self._move_to_running(waiting[:limit - len(owned)])
        return owned

    def take_waiting(self, study_id: int, trial_ids: list[int]) -> list[int]:
        """Move these trials to RUNNING where they still wait, in one append: the ids this thread
        owns now (the others a worker popped, or another process took, first)."""
        with self._thread_lock:
            self._sync_with_backend()
            wanted = set(trial_ids)
            waiting = [t._trial_id for t in self._replay_result.get_all_trials(study_id, (TrialState.WAITING,))
                       if t._trial_id in wanted]
            return self._move_to_running(waiting) if waiting else []

    def _move_to_running(self, trial_ids: list[int]) -> list[int]:
        """Append a WAITING -> RUNNING write for each trial, then replay the journal to see which of
        them it took (those no other process's write reached first). Under the thread lock."""
        from optuna.storages.journal._storage import JournalOperation

        replay, owned = self._replay_result, []
        me, now = replay.worker_id, datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")
        self._backend.append_logs([{"op_code": JournalOperation.SET_TRIAL_STATE_VALUES, "worker_id": me,
                                    "trial_id": tid, "state": TrialState.RUNNING, "values": None,
                                    "datetime_start": now} for tid in trial_ids])
        for log in list(self._backend.read_logs(replay.log_number_read)):
            ours = (log["worker_id"] == me and log["op_code"] == JournalOperation.SET_TRIAL_STATE_VALUES
                    and log["state"] == TrialState.RUNNING)
            if ours:
                replay._worker_id_to_owned_trial_id.pop(me, None)
            try:
                replay.apply_logs([log])
            except optuna.exceptions.UpdateFinishedTrialError:
                continue   # ended meanwhile by another worker (it reaped or failed it)
            if ours and replay.owned_trial_id == log["trial_id"]:
                owned.append(log["trial_id"])
        return owned

    @contextmanager
    def batch(self):
        """Collect this thread's writes; append them in one go when the block ends, also when it
        raises (what was written before the error is kept, as without batching). Yields a list
        that then holds one entry per write the journal turned down."""
        if getattr(self._batch, "logs", None) is not None:   # nested: the outer block appends
            yield []
            return
        self._batch.logs, refused = [], []
        try:
            yield refused
        finally:
            logs, self._batch.logs = self._batch.logs, None
            if logs:
                with self._thread_lock:
                    self._backend.append_logs(logs)
                    while True:   # replaying stops at each of our writes it refuses; go on past it
                        try:
                            self._sync_with_backend()
                            break
                        except (optuna.exceptions.UpdateFinishedTrialError, KeyError) as e:
                            refused.append(e)
