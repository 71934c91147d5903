"""The manager's side of the agent protocol: machines, commands, events, health.

Agents long-poll :meth:`AgentHub.poll` for commands (that poll is also their
heartbeat) and push events to :meth:`AgentHub.events`. Commands carry ids per
manager *epoch* and are re-sent until acknowledged; events carry ``(run, seq)``
and are stored exactly once. A run id names one attempt of a trial
(``<trial>`` or ``<trial>.<attempt>``), so events of an attempt abandoned on a
lost machine can never be mistaken for the current one.

All methods run under the controller's lock; see controller.py.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Optional

from nni_remote.common.metrics import encode_data
from nni_remote.errors import MachineStateError as MachineStateError
from nni_remote.errors import UnknownMachine as UnknownMachine
from nni_remote.manager import scheduler
from nni_remote.manager.agent_trust import owns_run, plausible_time
from nni_remote.manager.scheduler import Machine
from nni_remote.manager.store import now_ms
from nni_remote.manager.trials import ACTIVE, TERMINAL, Trial, kill_message, kill_status

if TYPE_CHECKING:
    from nni_remote.manager.controller import Controller

log = logging.getLogger("nni_remote.agents")

POLL_WAIT_MAX = 10.0
SUSPECT_AFTER = float(os.environ.get("NNI_REMOTE_SUSPECT_AFTER", "15"))
LOST_AFTER = float(os.environ.get("NNI_REMOTE_LOST_AFTER", "60"))
RETRY_LIMIT = int(os.environ.get("NNI_REMOTE_RETRY_LIMIT", "3"))
START_FAILURES_TO_DRAIN = 3
START_UP_SECONDS = 5.0        # a trial that fails within this long after starting failed "at start-up"


def run_id(trial: Trial) -> str:
    return trial.id if trial.attempt == 0 else f"{trial.id}.{trial.attempt}"


class AgentHub:
    """Machines and their agents, for one controller."""

    def __init__(self, controller: "Controller") -> None:
        self.c = controller
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
        trial.machine, trial.gpus, trial.sent, trial.held_for = m.name, gpus, True, None
        spec = self._spec_of(m, trial)
        trial.log_path = spec["trial_dir"] if m.spec.address == "localhost" else f"{m.spec.address}:{spec['trial_dir']}"
        trial.message = ""
        m.assigned[run_id(trial)] = gpus or []
        self._command(m, {"type": "start", "spec": spec})
        self.c.store.put_trial(trial.row())

    def kill(self, trial: Trial, reason: str) -> None:
        trial.kill_reason = reason
        m = self.machines.get(trial.machine or "")
        if not trial.sent or m is None or m.state == "lost":
            if trial in self.c.queue:
                self.c.queue.remove(trial)
            self.c.finish_trial(trial, kill_status(reason), kill_message(reason), now_ms())
            return
        self.c.store.put_trial(trial.row())
        self._command(m, {"type": "kill", "run_id": run_id(trial), "reason": reason, "grace": 5.0})

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
        if trial in self.c.queue:
            self.c.queue.remove(trial)
        m = self.machines.get(trial.machine or "")
        if m is not None:
            m.assigned.pop(run_id(trial), None)

    # -- placement -----------------------------------------------------------
    def place_waiting(self) -> None:
        gpu_number = self.c.params.get("trainingService", {}).get("trialGpuNumber")
        machines = list(self.machines.values())
        blocked: Optional[str] = None
        for trial in list(self.c.queue):
            if trial.held_for is not None:
                held = self.machines.get(trial.held_for)
                if held is not None and held.synced and run_id(trial) in held.inventory:
                    self.c.queue.remove(trial)
                    trial.status, trial.sent, trial.message = "RUNNING", True, ""
                    held.assigned[run_id(trial)] = trial.gpus or []
                    self.c.store.put_trial(trial.row())
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
            self.c.queue.remove(trial)
            self._start(placement.machine, trial, placement.gpus)

    # -- agent protocol ------------------------------------------------------
    def poll(self, body: dict[str, Any], machine: str) -> dict[str, Any]:
        """One agent's long-poll (``machine``: the machine its credential belongs to; the body names it too)."""
        name = machine
        wait = min(float(body.get("wait") or 0), POLL_WAIT_MAX)
        with self.c.lock:
            m = self.machines.get(name)  # type: ignore[arg-type]
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
                self._command(m, {"type": "start", "spec": self._spec_of(m, trial)})
        for rid, state in m.inventory.items():
            known = mine.get(rid)
            if state == "running" and (known is None or known.status in TERMINAL):
                held = any(run_id(t) == rid and t.held_for == m.name for t in self.c.queue)
                if not held:
                    self._command(m, {"type": "kill", "run_id": rid, "reason": "stale", "grace": 2.0})

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
        by_run = {run_id(t): t for t in self.c.trials.values()}
        with self.c.lock, self.c.store.transaction():
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
        if kind == "status" and event.get("status") == "RUNNING":
            when = plausible_time(event.get("time"), not_before=trial.submit_time, what="start", trial_id=trial.id)
            pid = event.get("pid")
            self.c.on_trial_running(trial, pid if isinstance(pid, int) and not isinstance(pid, bool) else None, when)
        elif kind == "metric":
            record = _metric_record(trial, event)
            if record is not None:
                self.c.store.add_metric(**record)
                self.c.on_trial_metric(trial, {k2: record[k1] for k1, k2 in _REST_KEYS})
        elif kind == "end":
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
        if trial.attempt + 1 >= RETRY_LIMIT:
            self.c.finish_trial(trial, "FAILED", f"{why}; gave up after {trial.attempt + 1} attempts", now_ms())
            return
        self.c.restart_trial(trial)
        trial.machine, trial.gpus, trial.sent, trial.pid = None, None, False, None
        trial.message = f"{why}; re-queued (attempt {trial.attempt + 1} of {RETRY_LIMIT})"
        self.c.store.put_trial(trial.row())
        self.c.store.add_event(trial.id, "WAITING", data=trial.parameter, sequence_id=trial.seq,
                               message=trial.message)
        self.c.queue.insert(0, trial)
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
                    self._command(m, {"type": "shutdown"})
            deadline = time.time() + grace + 10
            while time.time() < deadline and any(
                    t.status in ACTIVE and t.sent and self.machines[t.machine].state == "ready"
                    for t in self.c.trials.values() if t.machine in self.machines):
                self.c.wake.wait(0.2)
            for trial in self.c.trials.values():
                if trial.status in ACTIVE and trial.sent:
                    self.c.finish_trial(trial, "USER_CANCELED", "experiment stopped", now_ms())
        if self.c.service is not None:
            self.c.service.stop()


def _seq(event: dict[str, Any]) -> int:
    try:
        return max(int(event.get("seq", 0)), 0)
    except (TypeError, ValueError):
        return 0


_REST_KEYS = (("timestamp", "timestamp"), ("trial_id", "trialJobId"), ("parameter_id", "parameterId"),
              ("kind", "type"), ("sequence", "sequence"), ("data", "data"))


def _metric_record(trial: Trial, event: dict[str, Any]) -> Optional[dict[str, Any]]:
    """Turn an agent metric event into store arguments (None for unusable records)."""
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
    return {"trial_id": trial.id, "parameter_id": None if pid is None else str(pid), "kind": record["type"],
            "sequence": sequence, "data": encode_data(value), "timestamp": now_ms()}
