"""The manager's side of the agent protocol: machines, commands, events, health.

Agents long-poll :meth:`AgentHub.poll` for commands (that poll is also their
heartbeat) and push events to :meth:`AgentHub.events`. Commands carry ids per
manager *epoch* and are re-sent until acknowledged; events carry ``(run, seq)``
and are stored exactly once. A run id names one attempt of a trial
(``<trial>`` or ``<trial>.<attempt>``), so events of an attempt abandoned on a
lost machine can never be mistaken for the current one.

The hub owns machines and the agent protocol; trial state belongs to the trial
book (``trial_book.py``): the hub asks the book to start, finish or re-queue a
trial and hears about finished trials as the book's listener. What the hub
needs from its experiment is the :class:`HubHost` protocol (the controller
provides it), so this module never imports the controller.

All methods run under the experiment's lock (``HubHost.lock``).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from typing import Any, Optional, Protocol

from nni_remote.common.metrics import encode_data
from nni_remote.errors import MachineStateError as MachineStateError
from nni_remote.errors import UnknownMachine as UnknownMachine
from nni_remote.manager import scheduler
from nni_remote.manager.agent_trust import owns_run, plausible_time
from nni_remote.manager.scheduler import Machine
from nni_remote.manager.store import Store, now_ms
from nni_remote.manager.trial_book import TrialBook
from nni_remote.manager.trial_book import run_id as run_id
from nni_remote.manager.trials import ACTIVE, TERMINAL, Trial, kill_message, kill_status
from nni_remote.services.base import HeadInfo, TrainingService
from trial_agent.protocol import (CMD_KILL, CMD_SHUTDOWN, CMD_START, EVENT_END, EVENT_METRIC, EVENT_NOTE,
                                  EVENT_STATUS)

log = logging.getLogger("nni_remote.agents")

POLL_WAIT_MAX = 10.0
SUSPECT_AFTER = float(os.environ.get("NNI_REMOTE_SUSPECT_AFTER", "15"))
LOST_AFTER = float(os.environ.get("NNI_REMOTE_LOST_AFTER", "60"))
RETRY_LIMIT = int(os.environ.get("NNI_REMOTE_RETRY_LIMIT", "3"))
START_FAILURES_TO_DRAIN = 3
START_UP_SECONDS = 5.0        # a trial that fails within this long after starting failed "at start-up"


class HubHost(Protocol):
    """What the hub uses of its experiment (the controller)."""

    id: str
    lock: threading.RLock
    wake: threading.Condition
    book: TrialBook
    store: Store
    service: Optional[TrainingService]
    head: HeadInfo
    errors: list[str]
    stopping: bool

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def queue(self) -> list[Trial]: ...

    @property
    def trials(self) -> dict[str, Trial]: ...

    def fail(self, message: str) -> None: ...

    def on_trial_running(self, trial: Trial, pid: Optional[int], when: int) -> None: ...

    def on_trial_metric(self, trial: Trial, record: dict[str, Any], value: Any) -> None: ...

    def on_trial_end(self, trial: Trial, event: dict[str, Any]) -> None: ...


class AgentHub:
    """Machines and their agents, for one experiment."""

    def __init__(self, host: HubHost) -> None:
        self.c = host
        host.book.on_finished(self._trial_finished)
        self.epoch = uuid.uuid4().hex[:12]
        self.machines: dict[str, Machine] = {}
        self.conds: dict[str, threading.Condition] = {}
        self._health: Optional[threading.Thread] = None

    # -- setup ---------------------------------------------------------------
    def setup_machines(self) -> None:
        assert self.c.service is not None
        for spec in self.c.service.machines():
            self.machines[spec.name] = Machine(spec)
            self.conds[spec.name] = threading.Condition(self.c.lock)

    def launch_all(self) -> None:
        """Launch every machine in parallel; each failure is reported as soon as it is known."""
        assert self.c.service is not None
        threads = [threading.Thread(target=self._launch, args=(m,), name=f"launch-{m.name}", daemon=True)
                   for m in self.machines.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with self.c.lock:
            if self.machines and all(m.state == "failed" for m in self.machines.values()):
                self.c.fail("no machine could be started: " + "; ".join(
                    f"{m.name}: {m.error}" for m in self.machines.values()))
        self._health = threading.Thread(target=self._health_loop, name="health", daemon=True)
        self._health.start()

    def _launch(self, m: Machine) -> None:
        assert self.c.service is not None
        error = self.c.service.launch_machine(m.name, self.c.head)
        if error is None:
            return
        message = str(error) if str(error).startswith(m.name) else f"{m.name}: {error}"
        with self.c.lock:
            m.set_state("failed", str(error))
            self.c.errors.append(message)
            log.error("machine %s failed to start: %s", m.name, error)

    def resize(self, concurrency: int) -> None:
        """Machines without an explicit trial limit take trial_concurrency slots."""
        for m in self.machines.values():
            if m.spec.auto_slots:
                m.spec.slots = max(concurrency, 1)

    def notify_all(self) -> None:
        for cond in self.conds.values():
            cond.notify_all()

    # -- commands ------------------------------------------------------------
    def _command(self, m: Machine, command: dict[str, Any]) -> None:
        command["id"] = m.next_command
        m.next_command += 1
        m.commands.append(command)
        self.conds[m.name].notify_all()

    def _start(self, m: Machine, trial: Trial, gpus: Optional[list[int]]) -> None:
        trial.gpus = gpus
        spec = self._spec_of(m, trial)
        where = spec["trial_dir"] if m.spec.address == "localhost" else f"{m.spec.address}:{spec['trial_dir']}"
        self.c.book.start(trial, m.name, gpus, where)
        m.assigned[run_id(trial)] = gpus or []
        self._command(m, {"type": CMD_START, "spec": spec})

    def kill(self, trial: Trial, reason: str) -> None:
        trial.kill_reason = reason
        m = self.machines.get(trial.machine or "")
        if not trial.sent or m is None or m.state == "lost":
            self.c.book.finish(trial, kill_status(reason), kill_message(reason), now_ms())
            return
        self.c.book.save(trial)
        self._command(m, {"type": CMD_KILL, "run_id": run_id(trial), "reason": reason, "grace": 5.0})

    def _trial_finished(self, trial: Trial) -> None:
        """The book's listener: count start-up failures, free the trial's slot."""
        self.note_outcome(trial, trial.status)
        self.release(trial)

    def note_outcome(self, trial: Trial, status: str) -> None:
        """Drain a machine whose trials keep failing at start-up while other machines succeed."""
        m = self.machines.get(trial.machine or "")
        if m is None:
            return
        if status == "SUCCEEDED":
            m.start_failures = 0
            m.info["succeeded"] = m.info.get("succeeded", 0) + 1
            return
        quick = trial.start_time is not None and trial.end_time is not None and \
            trial.end_time - trial.start_time < START_UP_SECONDS * 1000
        if status != "FAILED" or not (quick or trial.start_time is None):
            return
        m.start_failures += 1
        others_ok = any(o.info.get("succeeded") for o in self.machines.values() if o is not m)
        if m.start_failures >= START_FAILURES_TO_DRAIN and others_ok and m.state == "ready":
            why = (f"{m.start_failures} trials in a row failed within {START_UP_SECONDS:g} s of starting "
                   f"(last: trial {trial.id}, {trial.message}) while other machines succeed; check this "
                   "machine's environment, then re-enable it")
            m.set_state("drained", why)
            self.c.errors.append(f"{m.name}: drained: {why}")
            log.warning("machine %s drained: %s", m.name, why)

    def enable(self, name: str) -> None:
        """Put a drained machine back into service."""
        m = self.machines.get(name)
        if m is None:
            raise UnknownMachine(f"unknown machine {name!r}")
        if m.state == "drained":
            m.start_failures = 0
            m.set_state("ready")
            self.c.wake.notify_all()

    def release(self, trial: Trial) -> None:
        """Free the machine slot (and GPUs) the trial's current attempt holds."""
        self.c.book.release(trial)
        m = self.machines.get(trial.machine or "")
        if m is not None:
            m.assigned.pop(run_id(trial), None)

    # -- placement -----------------------------------------------------------
    def place_waiting(self) -> None:
        gpu_number = self.c.params.get("trainingService", {}).get("trialGpuNumber")
        machines = list(self.machines.values())
        if machines and all(m.spec.gpus_by_platform for m in machines):
            gpu_number = None  # the platform's scheduler gives each trial its GPUs
        blocked: Optional[str] = None
        for trial in list(self.c.queue):
            if trial.held_for is not None:
                held = self.machines.get(trial.held_for)
                if held is not None and held.synced and run_id(trial) in held.inventory:
                    self.c.book.release(trial)
                    trial.status, trial.sent, trial.message = "RUNNING", True, ""
                    held.assigned[run_id(trial)] = trial.gpus or []
                    self.c.book.save(trial)
                    continue
                if held is not None and not held.synced and held.state not in ("lost", "failed"):
                    continue
                trial.held_for, trial.machine, trial.sent = None, None, False
            if blocked is not None:
                trial.message = blocked
                continue
            placement = scheduler.place(machines, gpu_number)
            if isinstance(placement, str):
                never = scheduler.impossible(machines, gpu_number)
                if never:
                    self.c.fail(never)
                    return
                blocked = placement
                trial.message = placement
                continue
            self._start(placement.machine, trial, placement.gpus)

    # -- agent protocol ------------------------------------------------------
    def poll(self, body: dict[str, Any], machine: str) -> dict[str, Any]:
        """One agent's long-poll (``machine``: the machine its credential belongs to; the body names it too)."""
        name = machine
        wait = min(float(body.get("wait") or 0), POLL_WAIT_MAX)
        with self.c.lock:
            m = self.machines.get(name)
            if m is None:
                raise UnknownMachine(f"unknown machine {name!r}")
            if body.get("epoch") == self.epoch:
                ack = int(body.get("ack") or 0)
                m.commands = [c for c in m.commands if c["id"] > ack]
            m.last_seen = time.time()
            m.gpus = body.get("gpus")
            m.inventory = dict(body.get("trials") or {})
            m.info.update({k: body.get(k) for k in ("pid", "python", "protocol") if k in body})
            if not m.synced or body.get("boot") != m.boot:
                m.boot, m.synced = body.get("boot"), True
                self._reconcile(m)
            if m.state != "ready" and m.state != "drained":
                log.info("machine %s is ready", m.name)
                m.set_state("ready")
            self.c.wake.notify_all()
            deadline = time.time() + wait
            m.info["polling"] = m.info.get("polling", 0) + 1
            try:
                while not m.commands and not self.c.stopping:
                    left = deadline - time.time()
                    if left <= 0:
                        break
                    self.conds[m.name].wait(left)
            finally:
                m.info["polling"] -= 1
                m.last_seen = time.time()
            return {"epoch": self.epoch, "commands": list(m.commands)}

    def _reconcile(self, m: Machine) -> None:
        """After an agent's first poll (or restart): re-send lost starts, kill stale runs."""
        mine = {run_id(t): t for t in self.c.trials.values() if t.machine == m.name and t.sent}
        for rid, trial in mine.items():
            if trial.status in ACTIVE and rid not in m.inventory and not any(
                    c.get("spec", {}).get("run_id") == rid for c in m.commands):
                self._command(m, {"type": CMD_START, "spec": self._spec_of(m, trial)})
        for rid, state in m.inventory.items():
            known = mine.get(rid)
            if state == "running" and (known is None or known.status in TERMINAL):
                held = any(run_id(t) == rid and t.held_for == m.name for t in self.c.queue)
                if not held:
                    self._command(m, {"type": CMD_KILL, "run_id": rid, "reason": "stale", "grace": 2.0})

    def _spec_of(self, m: Machine, trial: Trial) -> dict[str, Any]:
        assert self.c.service is not None
        paths = self.c.service.trial_paths(m.name, trial.id)
        ts = self.c.params.get("trainingService", {})
        return {"trial_id": trial.id, "run_id": run_id(trial), "attempt": trial.attempt, "sequence_id": trial.seq,
                "experiment_id": self.c.id, "platform": self.c.service.platform, "parameter": trial.parameter,
                "command": ts.get("trialCommand") or self.c.params.get("trialCommand"),
                "working_dir": paths.working_dir, "trial_dir": paths.trial_dir, "gpus": trial.gpus}

    def events(self, body: dict[str, Any], machine: str) -> dict[str, Any]:
        """Store a batch of events sent by ``machine``'s agent (exactly once per run and sequence number).

        Only runs placed on ``machine`` are considered: events for another
        machine's trial are acknowledged (so they are not re-sent) and stored
        nowhere, and they never claim that run's sequence numbers.
        """
        acked: dict[str, int] = {}
        with self.c.lock, self.c.store.transaction():
            by_run = self.c.book.by_run()
            trials = body.get("trials")
            for rid, events in (trials.items() if isinstance(trials, dict) else ()):
                trial = by_run.get(rid)
                mine = owns_run(trial, machine)
                if not mine and trial is not None:
                    log.warning("machine %s sent events for trial %s, which runs on %s: ignored", machine, rid,
                                trial.machine)
                upto = 0
                for event in sorted((e for e in events if isinstance(e, dict)) if isinstance(events, list) else (),
                                    key=lambda e: _seq(e)):
                    seq = _seq(event)
                    upto = max(upto, seq + 1)
                    if trial is None or not mine or not self.c.store.first_delivery(rid, seq):
                        continue
                    if trial.status in TERMINAL:
                        continue  # an abandoned attempt: stored nothing
                    self._apply(trial, event)
                acked[rid] = upto
        return {"acked": acked}

    def _apply(self, trial: Trial, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == EVENT_STATUS and event.get("status") == "RUNNING":
            when = plausible_time(event.get("time"), not_before=trial.submit_time, what="start", trial_id=trial.id)
            pid = event.get("pid")
            self.c.on_trial_running(trial, pid if isinstance(pid, int) and not isinstance(pid, bool) else None, when)
        elif kind == EVENT_METRIC:
            decoded = _metric_record(trial, event)
            if decoded is not None:
                record, value = decoded
                self.c.store.add_metric(**record)
                self.c.on_trial_metric(trial, {k2: record[k1] for k1, k2 in _REST_KEYS}, value)
        elif kind == EVENT_NOTE:  # the platform's word on a trial, e.g. Slurm's pending reason
            if trial.status in ACTIVE and not trial.kill_reason:
                trial.message = str(event.get("message") or "")
                self.c.book.save(trial)
        elif kind == EVENT_END and event.get("requeue") and not trial.kill_reason:
            self.requeue(trial, str(event["requeue"]))  # lost with its node or preempted: the next attempt
        elif kind == EVENT_END:
            start = trial.start_time if trial.start_time is not None else trial.submit_time
            event = dict(event, time=plausible_time(event.get("time"), not_before=start, what="end",
                                                    trial_id=trial.id))
            self.c.on_trial_end(trial, event)

    # -- health --------------------------------------------------------------
    def _health_loop(self) -> None:
        while True:
            time.sleep(1.0)
            with self.c.lock:
                if self.c.stopping:
                    return
                now = time.time()
                suspects = [m for m in self.machines.values() if m.state in ("ready", "lost", "starting", "failed")
                            and not m.info.get("polling") and not m.info.get("checking")
                            and now >= m.info.get("next_check", 0)
                            and (m.last_seen is None and m.state == "failed"
                                 or m.last_seen is not None and now - m.last_seen > SUSPECT_AFTER)]
                for m in suspects:
                    m.info["checking"] = True
            for m in suspects:  # one thread per machine: a dead host never delays the others
                threading.Thread(target=self._check, args=(m,), name=f"check-{m.name}", daemon=True).start()

    def _check(self, m: Machine) -> None:
        assert self.c.service is not None
        try:
            alive = self.c.service.alive(m.name)
            with self.c.lock:
                if self.c.stopping or alive or (m.last_seen and time.time() - m.last_seen <= SUSPECT_AFTER):
                    return
                silent = time.time() - (m.last_seen or m.since)
                if m.state not in ("lost", "failed") and (silent > LOST_AFTER or self.c.service.probe_is_definitive):
                    self._mark_lost(m, f"no sync for {silent:.0f} s and the probe failed")
                failures = m.info.get("relaunch_failures", 0)
            error = self.c.service.relaunch(m.name, self.c.head)
            with self.c.lock:
                if error is None:
                    m.info["relaunch_failures"] = 0
                    m.info["next_check"] = time.time() + SUSPECT_AFTER
                else:
                    log.warning("machine %s: relaunch failed: %s", m.name, error)
                    m.error = str(error)
                    m.info["relaunch_failures"] = failures + 1
                    m.info["next_check"] = time.time() + min(60.0, 2.0 * 2 ** failures)
        finally:
            m.info["checking"] = False

    def _mark_lost(self, m: Machine, why: str) -> None:
        log.warning("machine %s lost: %s", m.name, why)
        m.set_state("lost", why)
        m.synced = False
        if self.c.service is not None and self.c.service.trials_survive_agent:
            return  # the trials outlive their agent; the relaunched agent re-attaches them
        for trial in [t for t in self.c.trials.values() if t.machine == m.name and t.status in ACTIVE]:
            self.requeue(trial, f"machine {m.name} lost at {time.strftime('%H:%M:%S')}")
        m.assigned.clear()

    def requeue(self, trial: Trial, why: str) -> None:
        """Run a trial again elsewhere with the same parameters (not a new trial for the budget)."""
        self.release(trial)
        self.c.book.requeue(trial, why, RETRY_LIMIT)
        self.c.wake.notify_all()

    # -- shutdown ------------------------------------------------------------
    def shutdown(self, grace: float = 5.0) -> None:
        """Kill every running trial, tell agents to exit, wait for their last events."""
        with self.c.lock:
            for trial in self.c.trials.values():
                if trial.status in ACTIVE and trial.sent:
                    trial.kill_reason = trial.kill_reason or "shutdown"
            for m in self.machines.values():
                if m.state in ("ready", "starting"):
                    self._command(m, {"type": CMD_SHUTDOWN})
            deadline = time.time() + grace + 10
            while time.time() < deadline and any(
                    t.status in ACTIVE and t.sent and self.machines[t.machine].state == "ready"
                    for t in self.c.trials.values() if t.machine in self.machines):
                self.c.wake.wait(0.2)
            for trial in self.c.trials.values():
                if trial.status in ACTIVE and trial.sent:
                    self.c.book.finish(trial, "USER_CANCELED", "experiment stopped", now_ms())
        if self.c.service is not None:
            self.c.service.stop()


def _seq(event: dict[str, Any]) -> int:
    try:
        return max(int(event.get("seq", 0)), 0)
    except (TypeError, ValueError):
        return 0


_REST_KEYS = (("timestamp", "timestamp"), ("trial_id", "trialJobId"), ("parameter_id", "parameterId"),
              ("kind", "type"), ("sequence", "sequence"), ("data", "data"))


def _metric_record(trial: Trial, event: dict[str, Any]) -> Optional[tuple[dict[str, Any], Any]]:
    """An agent metric event as (store arguments, decoded value); None for unusable records.

    This is the edge where a metric arrives: its value is decoded here, once, and
    carried as data from then on (NNI's encoded form is made once, for the store).
    """
    try:
        record = json.loads(event.get("metric") or "")
    except ValueError:
        log.warning("trial %s sent an unreadable metric record: %.200r", trial.id, event.get("metric"))
        return None
    if not isinstance(record, dict) or record.get("type") not in ("FINAL", "PERIODICAL"):
        return None
    value = record.get("value")
    try:
        sequence = int(record.get("sequence") or 0)
    except (TypeError, ValueError):
        sequence = 0
    if record["type"] == "FINAL" and trial.final is not None:
        return None
    if record["type"] == "PERIODICAL" and sequence in trial.history:
        return None
    pid = record.get("parameter_id")
    args = {"trial_id": trial.id, "parameter_id": None if pid is None else str(pid), "kind": record["type"],
            "sequence": sequence, "data": encode_data(value), "timestamp": now_ms()}
    return args, _decoded(value)


def _decoded(value: Any) -> Any:
    """The reported value (the trial's nni sends JSON text); None when that text is not JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None
