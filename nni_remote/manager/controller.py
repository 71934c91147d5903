"""The experiment state machine and dispatch loop (NNI-REFERENCE §2.4–2.6).

One dispatch thread owns the tuner: it feeds results in, asks for new
parameters while the budget and ``trial_concurrency`` allow, places waiting
trials on machines and enforces the duration limits. Agent events and REST
calls arrive on server threads; they change state under ``self.lock``, write it
to the store before answering, and wake the dispatch thread.

Unlike NNI: an exhausted tuner with nothing running ends the experiment
(DONE); raising ``max_trial_number`` after DONE dispatches new trials; the
parameters recorded for a trial are exactly those written to its
``parameter.cfg``; a tuner exception turns the experiment to ERROR with the
message instead of hanging.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback
from typing import Any, Optional, cast

from nni_remote import compact_json
from nni_remote.errors import BudgetExceeded as BudgetExceeded
from nni_remote.errors import MachineStateError, ReadOnlyError, TrialNotFound, TrialStateError, UnknownMachine
from nni_remote.manager.agents import AgentHub
from nni_remote.manager.read_model import ExperimentSnapshot, MachineView, copy_trial, machine_view
from nni_remote.manager.store import Store, now_ms
from nni_remote.manager.trial_book import TrialBook
from nni_remote.manager.trials import ACTIVE, TERMINAL, Trial, kill_message, kill_status
from nni_remote.manager.tuner_host import TunerHost
from nni_remote.services.base import HeadInfo, TrainingService

log = logging.getLogger("nni_remote.manager")


class Controller:
    """Owns one experiment's trials, tuner and machines; see the module docstring."""

    def __init__(self, *, exp_id: str, exp_dir: str, config: Any, config_json: dict[str, Any], store: Store,
                 service: Optional[TrainingService], action: str, head: HeadInfo,
                 registry_update: Any = None) -> None:
        self.id = exp_id
        self.exp_dir = exp_dir
        self.config = config
        self.store = store
        self.service = service
        self.action = action
        self.readonly = action == "view"
        self.head = head
        self.lock = threading.RLock()
        self.wake = threading.Condition(self.lock)
        self.status = "INITIALIZED"
        self.errors: list[str] = []
        self.book = TrialBook(store)             # the one owner of trial state
        self.book.on_finished(self._trial_finished)
        self.custom_queue: list[Any] = []
        self.stopping = False
        self.prefetch = False                    # prefetchTrials, unless the tuner refuses it (see start)
        self._registry_update = registry_update or (lambda **kw: None)
        self.exec_duration = 0
        self._tick = time.monotonic()
        self._persisted_duration = 0
        self.tuner: Optional[TunerHost] = None
        self._assess_pending: set[str] = set()   # trials with an assessment queued
        self.hub = AgentHub(self)
        self._thread: Optional[threading.Thread] = None
        profile = store.load_profile()
        if profile is None:
            profile = {"params": config_json, "id": exp_id, "execDuration": 0, "logDir": exp_dir,
                       "startTime": now_ms(), "nextSequenceId": 0, "revision": 0}
        else:
            profile["params"] = config_json if action == "create" else profile["params"]
        self.profile = profile
        self.exec_duration = int(profile.get("execDuration", 0))
        self._persisted_duration = self.exec_duration
        self.book.load()

    # -- setup ---------------------------------------------------------------
    @property
    def trials(self) -> dict[str, Trial]:
        """Trials by id (the book's; read under ``lock``)."""
        return self.book.trials

    @property
    def queue(self) -> list[Trial]:
        """WAITING trials not yet placed, FIFO (the book's; read under ``lock``)."""
        return self.book.queue

    @property
    def params(self) -> dict[str, Any]:
        return cast("dict[str, Any]", self.profile["params"])

    def start(self) -> None:
        """Begin (create / resume) or open read-only (view)."""
        if self.readonly:
            self.status = "VIEWED"
            self._registry_update(status="VIEWED")
            return
        self.tuner = TunerHost(self.config.tuner, getattr(self.config, "assessor", None),
                               checkpoint_dir=os.path.join(self.exp_dir, "checkpoint"), on_kill=self._advisor_kill,
                               trials_see_head_files=self.service is None or self.service.trials_see_head_files)
        self.tuner.next_parameter_id = int(self.store.get_meta("nextParameterId", "0") or 0)
        self.tuner.update_search_space(self.params.get("searchSpace"))
        if self.params.get("prefetchTrials"):
            refusal = self.tuner.prefetch_refusal()
            self.prefetch = refusal is None
            if refusal is not None:
                log.warning("prefetchTrials is off: the tuner refuses it (%s)", refusal)
        if self.action == "resume":
            self._prepare_resume()
        self.hub.setup_machines()
        self._save_profile()
        self.status = "RUNNING"
        self._registry_update(status="RUNNING")
        self._thread = threading.Thread(target=self._dispatch_loop, name="dispatch", daemon=True)
        self._thread.start()
        threading.Thread(target=self.hub.launch_all, name="launch", daemon=True).start()

    def _prepare_resume(self) -> None:
        """Replay history to the tuner; hold unfinished trials until their machine reports."""
        assert self.tuner is not None
        self.tuner.import_data(self.book.imported_history())
        for trial in sorted(self.trials.values(), key=lambda t: t.seq):
            if trial.status == "USER_CANCELED" and trial.kill_reason == "shutdown":
                self.book.restart(trial)          # cut short by stop(): it runs again, not lost
                trial.machine, trial.gpus, trial.sent = None, None, False
                trial.message = "resumed: re-run (the experiment was stopped while it ran)"
                self.queue.append(trial)
                self.book.save(trial)
                continue
            if trial.status in ACTIVE:
                trial.held_for = trial.machine if trial.sent else None
                trial.status = "WAITING"
                trial.message = "resumed: re-attaching" if trial.held_for else "resumed: waiting for a slot"
                if trial.held_for is None:
                    trial.machine, trial.gpus, trial.sent = None, None, False
                self.queue.append(trial)
                self.book.save(trial)

    # -- profile & status ---------------------------------------------------
    def _save_profile(self) -> None:
        self.profile["execDuration"] = self.exec_duration
        self.profile["nextSequenceId"] = self.next_sequence_id()
        self.profile["revision"] = self.profile.get("revision", 0) + 1
        self.store.save_profile(self.profile)
        self._persisted_duration = self.exec_duration

    def next_sequence_id(self) -> int:
        """The sequence id the next submitted trial gets (call under ``lock``)."""
        return self.book.next_sequence_id()

    def profile_snapshot(self) -> dict[str, Any]:
        """NNI's experiment profile as ``GET /experiment`` shows it, consistent at one instant."""
        with self.lock:
            profile = dict(self.profile)
            profile["execDuration"] = self.exec_duration
            profile["nextSequenceId"] = self.next_sequence_id()
            return profile

    def status_snapshot(self) -> tuple[str, list[str]]:
        """(status, errors) at one instant: what clients poll many times a second, so nothing more."""
        with self.lock:
            return self.status, list(self.errors)

    def snapshot(self, trials: bool = True, trial_id: Optional[str] = None) -> ExperimentSnapshot:
        """Everything REST reads, copied under the lock at one instant (see read_model.py).

        With ``trial_id``, ``trials`` holds only that trial (if it exists): reading one
        trial does not copy ten thousand.
        """
        with self.lock:
            if trial_id is not None:
                one = self.trials.get(trial_id)
                chosen: Any = () if one is None else (one,)
            else:
                chosen = sorted(self.trials.values(), key=lambda t: t.seq) if trials else ()
            return ExperimentSnapshot(
                id=self.id, status=self.status, errors=tuple(self.errors), readonly=self.readonly,
                exp_dir=self.exp_dir, profile=self.profile_snapshot(),
                trials=tuple(copy_trial(t) for t in chosen),
                machines=tuple(machine_view(m) for m in self.hub.machines.values()),
                has_service=self.service is not None)

    def _set_status(self, status: str) -> None:
        if status == self.status:
            return
        log.info("experiment status %s -> %s", self.status, status)
        self.status = status
        if status == "DONE":
            self.profile["endTime"] = now_ms()
            self._save_profile()
            self._registry_update(status=status, endTime=self.profile["endTime"])
            log.info("Experiment done.")   # NNI's line, which NNI's tooling waits for in nnimanager.log
        else:
            if status == "RUNNING" and "endTime" in self.profile:
                self.profile.pop("endTime")
                self._save_profile()
            self._registry_update(status=status)
        self.hub.notify_all()
        self.wake.notify_all()

    def fail(self, message: str) -> None:
        with self.lock:
            log.error("%s", message)
            self.errors.append(message)
            self._set_status("ERROR")

    def _budget_left(self) -> bool:
        max_trials = self.params.get("maxTrialNumber")
        if isinstance(max_trials, int) and self._submitted() >= max_trials:
            return False
        limit = self._duration_limit("maxExperimentDuration")
        return limit is None or self.exec_duration < limit

    def _duration_limit(self, key: str) -> Optional[int]:
        from nni_remote.manager.updates import duration_seconds
        return duration_seconds(self.params.get(key))

    def _submitted(self) -> int:
        return len(self.trials)

    def _active(self) -> int:
        return self.book.active()

    def _update_status(self) -> None:
        if self.status in ("ERROR", "STOPPING", "STOPPED", "VIEWED"):
            return
        active = self._active()
        if not self._budget_left() and not self.custom_queue:
            self._set_status("DONE" if active == 0 else "NO_MORE_TRIAL")
        elif self.tuner is not None and self.tuner.exhausted and not self.custom_queue:
            self._set_status("DONE" if active == 0 else "TUNER_NO_MORE_TRIAL")
        else:
            self._set_status("RUNNING")

    # -- the dispatch loop ----------------------------------------------------
    def _dispatch_loop(self) -> None:
        while True:
            try:
                with self.lock:
                    if self.stopping:
                        return
                self._dispatch_once()
            except Exception as exc:  # a tuner bug must not hang the experiment silently
                self.fail(f"tuner or dispatcher error: {exc!r}\n{traceback.format_exc()}")
            with self.lock:
                if self.stopping:
                    return
                self.wake.wait(timeout=0.5)

    def _dispatch_once(self) -> None:
        assert self.tuner is not None
        self.tuner.drain()
        with self.lock:
            self._account_time()
            self._enforce_trial_duration()
            if self.status == "ERROR":
                return
            depth = 2 if self.prefetch else 1   # prefetchTrials: each slot also holds its next trial
            want = depth * int(self.params.get("trialConcurrency", 1)) - self._active()
        while want > 0:
            with self.lock:
                if not self._budget_left() or self.status == "ERROR":
                    break
                custom = self.custom_queue.pop(0) if self.custom_queue else None
            if custom is not None:
                params, pid, source = custom, None, "customized"
            else:
                generated = self.tuner.generate()
                if generated is None:
                    break
                pid, params = generated
                source = "algorithm"
                self.store.set_meta("nextParameterId", str(self.tuner.next_parameter_id))
            with self.lock:
                self._submit(pid, params, source)
            want -= 1
        with self.lock:
            self.hub.place_waiting()
            self._update_status()

    def _submit(self, parameter_id: Any, params: Any, source: str) -> Trial:
        return self.book.submit(parameter_id, params, source)  # the profile row follows with the next save

    def _account_time(self) -> None:
        now = time.monotonic()
        if self.status in ("RUNNING", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL"):
            self.exec_duration_f = getattr(self, "exec_duration_f", float(self.exec_duration)) + now - self._tick
            self.exec_duration = int(self.exec_duration_f)
            if self.exec_duration - self._persisted_duration >= 10:
                self._save_profile()
        self._tick = now

    def _enforce_trial_duration(self) -> None:
        limit = self._duration_limit("maxTrialDuration")
        if limit is None:
            return
        cutoff = now_ms() - limit * 1000
        for trial in self.trials.values():
            if trial.status == "RUNNING" and trial.start_time and trial.start_time < cutoff and not trial.kill_reason:
                self.hub.kill(trial, "max_trial_duration")

    # -- trial events (called by the agent hub under self.lock) ---------------
    def on_trial_running(self, trial: Trial, pid: Optional[int], when: int) -> None:
        self.book.running(trial, pid, when)

    def on_trial_metric(self, trial: Trial, record: dict[str, Any], value: Any) -> None:
        """A new metric of ``trial``: ``record`` as stored, ``value`` decoded once by the hub."""
        assert self.tuner is not None
        if not self.book.add_metric(trial, record, value):
            return
        if record["type"] == "FINAL":
            params, pid, customized = trial.parameters, trial.parameter_id, trial.source != "algorithm"
            tuner = self.tuner
            tuner.post(lambda: tuner.result(pid, params, value, trial.id, customized))
        elif (self.tuner.assessor is not None or self.tuner.advisor is not None) \
                and trial.id not in self._assess_pending:
            self._assess_pending.add(trial.id)  # one assessment covers every metric that arrives before it runs
            self.tuner.post(lambda: self._assess(trial))
        else:
            return  # nothing for the dispatch loop: an intermediate result wakes it only to be assessed
        self.wake.notify_all()

    def _assess(self, trial: Trial) -> None:
        """Ask the assessor about ``trial``'s whole history (every intermediate result so far, in order)."""
        assert self.tuner is not None
        with self.lock:
            self._assess_pending.discard(trial.id)
            history = [trial.history[k] for k in sorted(trial.history)]
        if self.tuner.assess(trial.id, history, parameter_id=trial.parameter_id):
            with self.lock:
                if trial.status in ACTIVE and not trial.kill_reason:
                    log.info("assessor early-stops trial %s", trial.id)
                    self.hub.kill(trial, "early_stop")

    def _advisor_kill(self, trial_id: str) -> None:
        """An advisor's ``KillTrialJob``: early-stop the trial now, as NNI's manager does (dispatch thread)."""
        with self.lock:
            trial = self.trials.get(trial_id)
            if trial is None:
                log.warning("the advisor asked to kill trial %r, which this experiment does not have", trial_id)
            elif trial.status in ACTIVE and not trial.kill_reason:
                log.info("advisor early-stops trial %s", trial.id)
                self.hub.kill(trial, "advisor")
                self.wake.notify_all()

    def on_trial_end(self, trial: Trial, event: dict[str, Any]) -> None:
        code, reason = event.get("exit_code"), trial.kill_reason
        if event.get("error"):
            status, message = "FAILED", event["error"]
        elif code == 0:
            status, message = "SUCCEEDED", ""
        elif reason:
            status, message = kill_status(reason), kill_message(reason)
        elif code is not None:
            status, message = "FAILED", f"exit code {code}; see trial.stderr"
        else:
            status, message = "FAILED", f"killed by signal {event.get('signal')}"
        self.book.finish(trial, status, message, event.get("time") or now_ms(), code)

    def _trial_finished(self, trial: Trial) -> None:
        """The book's listener: tell the tuner (and the assessor) and wake the dispatch loop."""
        if self.tuner is not None:
            pid, customized = trial.parameter_id, trial.source != "algorithm"
            status, packed = trial.status, trial.parameter
            tuner = self.tuner
            tuner.post(lambda: tuner.trial_end(pid, trial.id, status, customized, packed))
        self.wake.notify_all()

    # -- REST-facing operations ---------------------------------------------------
    def _check_writable(self, what: str) -> None:
        if self.readonly:
            raise ReadOnlyError(f"experiment {self.id} is opened read-only (view): cannot {what}; "
                                f"resume it to make changes")

    def update(self, update_type: str, params: dict[str, Any]) -> None:
        """Apply one ``PUT /experiment?update_type=`` change (validated) and persist it."""
        from nni_remote.manager.updates import validate_update
        builtin = not getattr(getattr(self.config, "tuner", None), "class_name", None)
        key, value = validate_update(update_type, params, builtin_tuner=builtin)
        with self.lock:
            self._check_writable("update the experiment")
            self.params[key] = value
            if key == "searchSpace" and self.tuner is not None:
                tuner = self.tuner
                tuner.post(lambda: tuner.update_search_space(value))
            if key == "trialConcurrency":
                self.hub.resize(value)
            self._save_profile()
            self.wake.notify_all()

    def add_customized_trial(self, params: Any) -> int:
        with self.lock:
            self._check_writable("add a customized trial")
            max_trials = self.params.get("maxTrialNumber")
            if isinstance(max_trials, int) and self._submitted() + len(self.custom_queue) >= max_trials:
                raise BudgetExceeded(f"reach maxTrialNum: {max_trials} trials already submitted; "
                                     "raise max_trial_number first")
            if self.status == "DONE":
                self._set_status("RUNNING")
            trial = self._submit(None, params, "customized")
            self.wake.notify_all()
            return trial.seq

    def retry_trial(self, trial_id: str) -> dict[str, Any]:
        """Run a finished trial's parameters again as a new customized trial (remembered per trial)."""
        with self.lock:
            trial = self.trials.get(trial_id)
            if trial is None:
                raise TrialNotFound(f"no trial {trial_id!r} in experiment {self.id}")
            if trial.status in ACTIVE:
                raise TrialStateError(f"trial {trial_id} is still {trial.status}; kill it first or wait until it ends")
            return self._retry(trial)

    def _retry(self, trial: Trial) -> dict[str, Any]:
        seq = self.add_customized_trial(trial.parameters)
        self.store.set_meta(f"retry.{trial.id}", str(seq))
        new = next((t for t in self.trials.values() if t.seq == seq), None)
        return {"from": trial.id, "sequenceId": seq, "trialJobId": new.id if new is not None else None}

    def retry_failed(self) -> dict[str, Any]:
        """Retry every FAILED trial not retried before (each once); stops at the trial budget."""
        retried: list[dict[str, Any]] = []
        with self.lock:
            failed = [t for t in sorted(self.trials.values(), key=lambda t: t.seq)
                      if t.status == "FAILED" and self.store.get_meta(f"retry.{t.id}") is None]
            try:
                for trial in failed:
                    retried.append(self._retry(trial))
            except BudgetExceeded as exc:
                if not retried:
                    raise
                return {"retried": retried, "error": str(exc), "code": exc.code}
        return {"retried": retried}

    def enable_machine(self, name: str) -> MachineView:
        """Put a drained machine back into service; its view afterwards."""
        with self.lock:
            self._check_writable("re-enable machines")
            m = self.hub.machines.get(name)
            if m is None:
                raise UnknownMachine(f"no machine {name!r} in experiment {self.id}")
            if m.state != "drained":
                raise MachineStateError(f"machine {name} is not drained (it is {m.state})")
            self.hub.enable(name)
            return machine_view(m)

    def kill_trial(self, trial_id: str, reason: str = "user") -> None:
        with self.lock:
            self._check_writable("kill a trial")
            trial = self.trials.get(trial_id)
            if trial is None:
                raise TrialNotFound(f"no trial {trial_id!r} in experiment {self.id}")
            if trial.status in TERMINAL:
                return
            self.hub.kill(trial, reason)

    def import_data(self, data: list[Any]) -> None:
        with self.lock:
            self._check_writable("import data")
            self.store.add_event("", "IMPORT_DATA", data=compact_json.dumps(data))   # served verbatim
            if self.tuner is not None:
                tuner = self.tuner
                tuner.post(lambda: tuner.import_data(data))
            self.wake.notify_all()

    def stop(self) -> None:
        """Kill running trials, shut agents down, persist; idempotent."""
        with self.lock:
            if self.stopping:
                return
            self._account_time()
            if not self.readonly:
                self._set_status("STOPPING")
            self.stopping = True
            self.wake.notify_all()
        if not self.readonly:
            self.hub.shutdown()
            with self.lock:
                for trial in self.trials.values():
                    if trial.status == "WAITING":
                        trial.kill_reason = "shutdown"  # resume runs it again
                        self.book.finish(trial, "USER_CANCELED", "experiment stopped", now_ms())
                self._save_profile()
        self._registry_update(status="STOPPED", endTime=now_ms(), port=None)
        self.status = "STOPPED"

