"""The trial book: the one owner of every trial's state.

Submitting, starting, finishing, restarting, releasing and re-queueing a
trial happen here and nowhere else: each change is written to the store
before the call returns, and listeners hear about a finished trial (the agent
hub frees its machine slot and counts start-up failures; the controller tells
the tuner and wakes the dispatch loop). Neither of them changes a trial's
status by hand, and neither calls the other to do it.

Thread-safety: every method must be called with the experiment's lock held
(the controller's ``lock``); the book has no lock of its own.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Optional

from nni_remote.common.metrics import decode_data
from nni_remote.manager.store import Store, now_ms
from nni_remote.manager.trials import ACTIVE, Trial, new_trial_id, pack_parameters

Listener = Callable[[Trial], None]


def run_id(trial: Trial) -> str:
    """The id of a trial's current attempt: ``<trial>`` or ``<trial>.<attempt>``."""
    return trial.id if trial.attempt == 0 else f"{trial.id}.{trial.attempt}"


class TrialBook:
    """Trials by id and the FIFO queue of WAITING trials not yet placed; see the module docstring."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.trials: dict[str, Trial] = {}
        self.queue: list[Trial] = []
        self._finished: list[Listener] = []

    def on_finished(self, listener: Listener) -> None:
        """Call ``listener(trial)`` after each trial reaches a terminal status (in registration order)."""
        self._finished.append(listener)

    # -- reading ------------------------------------------------------------------
    def load(self) -> None:
        """Read the trials of an existing experiment back from the store, with their metrics."""
        for row in self.store.trials():
            trial = Trial.from_row(row)
            self.trials[trial.id] = trial
        for record in self.store.metrics(kind="FINAL"):
            owner = self.trials.get(record["trialJobId"])
            if owner is not None and owner.final is None:
                owner.final = record
                owner.final_value = decode_data(record["data"])
        for trial_id, count in self.store.metric_counts("PERIODICAL").items():
            if trial_id in self.trials:
                self.trials[trial_id].intermediate_count = count
        active = [t.id for t in self.trials.values() if t.status in ACTIVE]  # only they keep a history in memory
        for record in self.store.metrics(kind="PERIODICAL", trial_ids=active) if active else ():
            self.trials[record["trialJobId"]].history[record["sequence"]] = decode_data(record["data"])

    def next_sequence_id(self) -> int:
        return max((t.seq for t in self.trials.values()), default=-1) + 1

    def active(self) -> int:
        return sum(1 for t in self.trials.values() if t.status in ACTIVE)

    def of_run(self, rid: str) -> Optional[Trial]:
        """The trial whose current attempt is run ``rid``, if any."""
        trial = self.trials.get(rid.split(".")[0])
        return trial if trial is not None and run_id(trial) == rid else None

    def by_run(self) -> dict[str, Trial]:
        """Trials by the run id of their current attempt."""
        return {run_id(t): t for t in self.trials.values()}

    # -- changing -----------------------------------------------------------------
    def save(self, trial: Trial) -> None:
        """Persist a trial's current state (after a change to its placement or message)."""
        self.store.put_trial(trial.row())

    def submit(self, parameter_id: Any, params: Any, source: str) -> Trial:
        """A new WAITING trial at the end of the queue."""
        trial = Trial(id=new_trial_id(self.trials), seq=self.next_sequence_id(),
                      parameter=pack_parameters(parameter_id, params, source), parameter_id=parameter_id,
                      source=source, submit_time=now_ms())
        self.trials[trial.id] = trial
        self.queue.append(trial)
        with self.store.transaction():
            self.store.put_trial(trial.row())
            self.store.add_event(trial.id, "WAITING", data=trial.parameter, sequence_id=trial.seq)
        return trial

    def start(self, trial: Trial, machine: str, gpus: Optional[list[int]], log_path: str, message: str = "") -> None:
        """The trial was sent to ``machine`` (its start command is queued there)."""
        if trial in self.queue:
            self.queue.remove(trial)
        trial.machine, trial.gpus, trial.sent, trial.held_for = machine, gpus, True, None
        trial.log_path, trial.message = log_path, message
        self.save(trial)

    def running(self, trial: Trial, pid: Optional[int], when: int) -> None:
        trial.status, trial.start_time, trial.pid = "RUNNING", when, pid
        trial.message = ""
        self.save(trial)
        self.store.add_event(trial.id, "RUNNING", data=trial.parameter, log_path=trial.log_path,
                             sequence_id=trial.seq, env_id=trial.machine or "")

    def add_metric(self, trial: Trial, record: dict[str, Any], value: Any) -> bool:
        """Keep a metric (``record`` as stored, ``value`` decoded once); False for a duplicate FINAL."""
        if record["type"] == "FINAL":
            if trial.final is not None:
                return False
            trial.final, trial.final_value = record, value
        else:
            if record["sequence"] not in trial.history:
                trial.intermediate_count += 1
            trial.history[record["sequence"]] = value
        return True

    def finish(self, trial: Trial, status: str, message: str, when: int, code: Optional[int] = None) -> None:
        """The trial ends with ``status``; listeners are told after it is stored."""
        trial.status, trial.message, trial.end_time, trial.exit_code = status, message, when, code
        trial.history = {}  # a finished trial's curve is read from the store: memory does not grow with them
        self.release(trial)
        self.save(trial)
        self.store.add_event(trial.id, status, log_path=trial.log_path, sequence_id=trial.seq, message=message)
        for listener in self._finished:
            listener(trial)

    def release(self, trial: Trial) -> None:
        """Take the trial out of the waiting queue (it will not be placed)."""
        if trial in self.queue:
            self.queue.remove(trial)

    def restart(self, trial: Trial) -> None:
        """Make ``trial`` run again from scratch as its next attempt (same id, same parameters).

        Metrics of the abandoned attempt are dropped, so the trial's curve and final
        result are those of the attempt that completes.
        """
        trial.attempt += 1
        trial.status, trial.kill_reason, trial.exit_code = "WAITING", None, None
        trial.start_time = trial.end_time = None
        trial.final, trial.final_value, trial.history, trial.intermediate_count = None, None, {}, 0
        self.store.delete_metrics(trial.id)

    def unplace(self, trial: Trial) -> None:
        """Forget where the trial was going to run (it waits for a new placement)."""
        trial.machine, trial.gpus, trial.sent, trial.pid = None, None, False, None

    def requeue(self, trial: Trial, why: str, retry_limit: int) -> bool:
        """Run the trial again elsewhere, first in the queue; False when it gave up (FAILED)."""
        self.release(trial)
        if trial.attempt + 1 >= retry_limit:
            self.finish(trial, "FAILED", f"{why}; gave up after {trial.attempt + 1} attempts", now_ms())
            return False
        self.restart(trial)
        self.unplace(trial)
        trial.message = f"{why}; re-queued (attempt {trial.attempt + 1} of {retry_limit})"
        self.save(trial)
        self.store.add_event(trial.id, "WAITING", data=trial.parameter, sequence_id=trial.seq,
                             message=trial.message)
        self.queue.insert(0, trial)
        return True

    def imported_history(self) -> list[dict[str, Any]]:
        """Results of finished trials and imported data, for a resumed tuner."""
        history = [{"parameter": t.parameters, "value": t.final_value} for t in self.trials.values()
                   if t.status == "SUCCEEDED" and t.final is not None]
        for raw in self.store.imported_data():
            try:
                history.extend(json.loads(raw))
            except ValueError:
                pass
        return history
