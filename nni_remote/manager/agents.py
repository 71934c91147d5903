"""The manager's side of the agent protocol: machines, commands, events, health.

Agents long-poll :meth:`AgentHub.poll` for commands (that poll is also their
heartbeat) and push events to :meth:`AgentHub.events`. Commands carry ids per
manager *epoch* and are re-sent until acknowledged; events carry ``(run, seq)``
and are stored exactly once. A run id names one attempt of a trial
(``<trial>`` or ``<trial>.<attempt>``), so events of an attempt abandoned on a
lost machine can never be mistaken for the current one.

Two clocks per machine (``unreachableAfter``, ``giveUpAfter``; see
docs/faults.md). A machine whose agent has not synced for *unreachable* is
shown unreachable at once, and each trial running there gets a *spare*
attempt on another machine while the original may still finish. The first
of the two to report its final result or end wins; the other is cancelled,
and only the winner's metrics are stored (the spare's events are held in
memory until it wins). A machine unreachable for *give up* is lost: its
trials' spares take over (or the trials are re-queued).

With ``prefetchTrials`` each busy slot also holds its *next* trial: it is sent
ahead (a start with ``after``: the run it waits for) and the agent starts it
the moment that run ends, with no round trip to the manager. Until its
RUNNING event (or the end of the run ahead) it is a WAITING trial placed on the
machine that holds no slot; killed, it is ended here at once and dropped by the
agent; on an unreachable machine it goes back to the queue as a new attempt.


The hub owns machines and the agent protocol; trial state belongs to the trial
book (``trial_book.py``): the hub asks the book to start, finish or re-queue a
trial and hears about finished trials as the book's listener. What the hub
needs from its experiment is the :class:`HubHost` protocol (the controller
provides it), so this module never imports the controller.

All methods run under the experiment's lock (``HubHost.lock``).
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import Any, Optional, Protocol

from nni_remote.errors import MachineStateError as MachineStateError
from nni_remote.errors import UnknownMachine as UnknownMachine
from nni_remote.common import cleanup_record
from nni_remote.manager import cleanup, ingest, scheduler
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

POLL_WAIT_MAX = 5.0          # an agent re-polls at once, so a silent machine is noticed within this + unreachable
IDLE_POLL_WAIT_MAX = 20.0    # a machine with nothing to run: fewer polls (idle CPU with many hosts), commands still
                             # arrive at once; its silence is noticed later (nothing of it is lost meanwhile)
UNREACHABLE_AFTER = float(os.environ.get("NNI_REMOTE_UNREACHABLE_AFTER")
                          or os.environ.get("NNI_REMOTE_SUSPECT_AFTER") or 8)
GIVE_UP_AFTER = float(os.environ.get("NNI_REMOTE_GIVE_UP_AFTER") or os.environ.get("NNI_REMOTE_LOST_AFTER") or 300)
RETRY_LIMIT = int(os.environ.get("NNI_REMOTE_RETRY_LIMIT", "3"))
START_FAILURES_TO_DRAIN = 3
START_UP_SECONDS = 5.0        # a trial that fails within this long after starting failed "at start-up"


def attempt_id(trial: Trial, attempt: int) -> str:
    """The run id of one attempt of a trial (the current one is ``run_id(trial)``)."""
    return trial.id if attempt == 0 else f"{trial.id}.{attempt}"


def spare_id(trial: Trial) -> Optional[str]:
    return attempt_id(trial, trial.spare["attempt"]) if trial.spare else None


class HubHost(Protocol):
    """What the hub uses of its experiment (the controller)."""

    id: str
    exp_dir: str
    lock: threading.RLock
    wake: threading.Condition
    book: TrialBook
    store: Store
    service: Optional[TrainingService]
    head: HeadInfo
    errors: list[str]
    stopping: bool
    prefetch: bool

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
        self.spares: list[Trial] = []          # trials whose spare attempt waits for a machine
        self.next_of: dict[str, Trial] = {}    # prefetchTrials: run id holding a slot -> the trial queued behind it
        self.turn = 0                          # rotating tie-break of placement

    # -- setup ---------------------------------------------------------------
    def setup_machines(self) -> None:
        assert self.c.service is not None
        for order, spec in enumerate(self.c.service.machines()):
            self.machines[spec.name] = Machine(spec, order=order)
            self.conds[spec.name] = threading.Condition(self.c.lock)

    def launch_all(self) -> None:
        """Launch every machine in parallel; each failure is reported as soon as it is known."""
        assert self.c.service is not None
        if cleanup_record.pending(self.c.exp_dir):  # a stop that could not reach a host: finish it before reusing it
            cleanup.retry_pending(self.c.exp_dir, self.c.id)
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

    @staticmethod
    def _log_path(m: Machine, spec: dict[str, Any]) -> str:
        return spec["trial_dir"] if m.spec.address == "localhost" else f"{m.spec.address}:{spec['trial_dir']}"

    def _start(self, m: Machine, trial: Trial, gpus: Optional[list[int]]) -> None:
        trial.gpus = gpus
        spec = self._spec_of(m, trial)
        self.c.book.start(trial, m.name, gpus, self._log_path(m, spec))
        m.assigned[run_id(trial)] = gpus or []
        self._command(m, {"type": CMD_START, "spec": spec})

    def kill(self, trial: Trial, reason: str) -> None:
        trial.kill_reason = reason
        m = self.machines.get(trial.machine or "")
        if trial.after is not None:  # queued behind another run, never started: ended here, dropped there
            if m is not None:
                self._command(m, {"type": CMD_KILL, "run_id": run_id(trial), "reason": reason, "grace": 2.0})
            self.c.book.finish(trial, kill_status(reason), kill_message(reason), now_ms())
            return
        if m is not None and m.state == "unreachable" and trial.sent:  # delivered when it is back
            self._command(m, {"type": CMD_KILL, "run_id": run_id(trial), "reason": reason, "grace": 5.0})
        if not trial.sent or m is None or m.state in ("lost", "unreachable"):
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
        """Free the machine slot (and GPUs) the trial's current attempt holds; a trial queued behind
        it there takes the slot (the agent starts it as this run ends)."""
        self.c.book.release(trial)
        m = self.machines.get(trial.machine or "")
        if trial.after is not None:
            self._unqueue(trial)
        elif m is not None:
            rid = run_id(trial)
            m.assigned.pop(rid, None)
            following = self.next_of.pop(rid, None)
            if following is not None and following.status in ACTIVE and following.machine == m.name:
                self._took_slot(following)
                following.message = ""
        self._cancel_spare(trial)

    # -- prefetchTrials: the next trial of a busy slot (see the module docstring) ---
    def _queue_next(self) -> None:
        """Each waiting trial joins a busy slot as its next trial, the slot held longest first."""
        waiting = [t for t in self.c.queue if t.held_for is None]
        if not waiting:
            return
        busy: list[tuple[Trial, Machine]] = []
        for m in self.machines.values():
            if m.state != "ready":
                continue
            for rid in m.assigned:
                ahead = self.c.book.of_run(rid)
                if ahead is not None and rid not in self.next_of and ahead.spare is None:
                    busy.append((ahead, m))
        busy.sort(key=lambda pair: pair[0].start_time or pair[0].submit_time)
        for trial, (ahead, m) in zip(waiting, busy):
            trial.after, trial.gpus = run_id(ahead), ahead.gpus
            self.next_of[trial.after] = trial
            spec = self._spec_of(m, trial)
            self.c.book.start(trial, m.name, ahead.gpus, self._log_path(m, spec),
                              f"next on {m.name}, after trial {ahead.id}")
            self._command(m, {"type": CMD_START, "spec": spec})

    def _unqueue(self, trial: Trial) -> None:
        """The trial no longer waits behind a run (it started, ended or left the machine)."""
        if trial.after is not None and self.next_of.get(trial.after) is trial:
            del self.next_of[trial.after]
        trial.after = None

    def _took_slot(self, trial: Trial) -> None:
        """A queued trial started on its machine: it holds the slot of the run it waited for."""
        self._unqueue(trial)
        m = self.machines.get(trial.machine or "")
        if m is not None:
            m.assigned[run_id(trial)] = trial.gpus or []

    def _withdraw_queued(self, m: Machine) -> None:
        """``m`` is unreachable: the trials queued there wait for a slot elsewhere, as new attempts (a run
        the agent may still start there can never count)."""
        for trial in [t for t in self.c.trials.values() if t.machine == m.name and t.after is not None]:
            self._command(m, {"type": CMD_KILL, "run_id": run_id(trial), "reason": "stale", "grace": 2.0})
            self._unqueue(trial)
            trial.attempt = self._next_attempt(trial)
            self.c.book.unplace(trial)
            trial.message = f"machine {m.name} unreachable; waits for a slot elsewhere"
            self.c.book.save(trial)
            self.c.queue.insert(0, trial)

    # -- spare attempts (see the module docstring) ----------------------------
    def _next_attempt(self, trial: Trial) -> int:
        """An attempt number no run of this trial ever used (so no delivery record can swallow its events)."""
        used = int(self.c.store.get_meta(f"attempts:{trial.id}", "0") or 0)
        attempt = max(used, trial.attempt) + 1
        self.c.store.set_meta(f"attempts:{trial.id}", str(attempt))
        return attempt

    def _want_spare(self, trial: Trial, m: Machine) -> None:
        if trial.spare is not None or trial.kill_reason or self.c.stopping:
            return
        trial.spare = {"attempt": self._next_attempt(trial), "machine": None, "gpus": None, "held": [],
                       "from": m.name}
        self.spares.append(trial)

    def _start_spare(self, m: Machine, trial: Trial, gpus: Optional[list[int]]) -> None:
        spare = trial.spare
        assert spare is not None
        spare["machine"], spare["gpus"] = m.name, gpus
        spec = self._spec_of(m, trial, spare["attempt"], gpus)
        m.assigned[spec["run_id"]] = gpus or []
        self._command(m, {"type": CMD_START, "spec": spec})
        trial.message = (f"machine {spare['from']} unreachable; attempt {spare['attempt'] + 1} also runs on "
                         f"{m.name}, the first to finish counts")
        self.c.book.save(trial)
        log.info("trial %s: spare attempt %d on %s", trial.id, spare["attempt"] + 1, m.name)

    def _cancel_spare(self, trial: Trial) -> None:
        spare, trial.spare = trial.spare, None
        if spare is None:
            return
        if trial in self.spares:
            self.spares.remove(trial)
        m = self.machines.get(spare["machine"] or "")
        if m is not None:
            rid = attempt_id(trial, spare["attempt"])
            m.assigned.pop(rid, None)
            self._command(m, {"type": CMD_KILL, "run_id": rid, "reason": "stale", "grace": 2.0})
            log.info("trial %s: spare attempt %d on %s cancelled", trial.id, spare["attempt"] + 1, m.name)

    def _promote_spare(self, trial: Trial, why: str, metrics: Optional[list[tuple[Any, ...]]] = None) -> None:
        """The spare attempt becomes the trial's attempt: the original is cancelled, its metrics dropped.

        ``metrics`` is the batch being ingested (stored first, so the original's are dropped too).
        """
        metrics = [] if metrics is None else metrics
        self._flush(metrics)
        spare = trial.spare
        assert spare is not None and spare["machine"] is not None
        old = self.machines.get(trial.machine or "")
        if old is not None:
            old.assigned.pop(run_id(trial), None)
            if old.state != "lost":
                self._command(old, {"type": CMD_KILL, "run_id": run_id(trial), "reason": "stale", "grace": 2.0})
        trial.spare = None
        trial.attempt, trial.machine, trial.gpus, trial.sent = spare["attempt"], spare["machine"], spare["gpus"], True
        trial.final, trial.final_value, trial.history, trial.start_time, trial.pid = None, None, {}, None, None
        m = self.machines[spare["machine"]]
        trial.log_path = self._log_path(m, self._spec_of(m, trial))
        trial.message = why
        self.c.store.delete_metrics(trial.id)
        self.c.book.save(trial)
        log.info("trial %s: attempt %d on %s counts (%s)", trial.id, trial.attempt + 1, m.name, why)
        for event in spare["held"]:
            self._apply(trial, event, metrics)
        self._flush(metrics)

    # -- placement -----------------------------------------------------------
    def _place(self, machines: list[Machine], gpu_number: Optional[int]) -> Any:
        ts = self.c.params.get("trainingService", {})
        placement = scheduler.place(machines, gpu_number, placement=ts.get("placement") or "spread",
                                    turn=self.turn, wanted=int(self.c.params.get("trialConcurrency", 1)))
        if not isinstance(placement, str):
            self.turn += 1
        return placement

    def place_waiting(self) -> None:
        gpu_number = self.c.params.get("trainingService", {}).get("trialGpuNumber")
        machines = list(self.machines.values())
        if machines and all(m.spec.gpus_by_platform for m in machines):
            gpu_number = None  # the platform's scheduler gives each trial its GPUs
        for trial in list(self.spares):           # spares first: they stand in for running work
            if trial.spare is None or trial.status not in ACTIVE:
                self.spares.remove(trial)
                continue
            placement = self._place([m for m in machines if m.name != trial.machine], gpu_number)
            if isinstance(placement, str):
                break
            self.spares.remove(trial)
            self._start_spare(placement.machine, trial, placement.gpus)
        blocked: Optional[str] = None
        for trial in list(self.c.queue):
            if trial.held_for is not None:
                held = self.machines.get(trial.held_for)
                if held is not None and held.synced and run_id(trial) in held.inventory:
                    self.c.book.release(trial)
                    if run_id(trial) in held.queued:   # still queued there behind another run
                        trial.held_for, trial.after = None, held.queued[run_id(trial)]
                        ahead = self.c.book.of_run(trial.after)
                        if ahead is not None and ahead.status in ACTIVE:
                            self.next_of[trial.after] = trial
                        trial.message = f"next on {held.name}"
                        self.c.book.save(trial)
                        continue
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
            placement = self._place(machines, gpu_number)
            if isinstance(placement, str):
                never = scheduler.impossible(machines, gpu_number)
                if never:
                    self.c.fail(never)
                    return
                blocked = placement
                trial.message = placement
                continue
            self._start(placement.machine, trial, placement.gpus)
        if self.c.prefetch and blocked is not None:
            self._queue_next()

    # -- agent protocol ------------------------------------------------------
    def poll(self, body: dict[str, Any], machine: str) -> dict[str, Any]:
        """One agent's long-poll (``machine``: the machine its credential belongs to; the body names it too)."""
        name = machine
        with self.c.lock:
            m = self.machines.get(name)
            if m is None:
                raise UnknownMachine(f"unknown machine {name!r}")
            busy = bool(m.assigned or m.inventory or self.c.queue or self.spares) or m.state != "ready"
            wait = min(float(body.get("wait") or 0), POLL_WAIT_MAX if busy else IDLE_POLL_WAIT_MAX)
            if body.get("epoch") == self.epoch:
                ack = int(body.get("ack") or 0)
                m.commands = [c for c in m.commands if c["id"] > ack]
            m.last_seen = time.time()
            m.gpus = body.get("gpus")
            m.inventory = dict(body.get("trials") or {})
            queued = body.get("queued")
            m.queued = {str(k): str(v) for k, v in queued.items()} if isinstance(queued, dict) else {}
            m.info.update({k: body.get(k) for k in ("pid", "python", "protocol") if k in body})
            if not m.synced or body.get("boot") != m.boot:
                m.boot, m.synced = body.get("boot"), True
                self._reconcile(m)
            if m.state != "ready" and m.state != "drained":
                log.info("machine %s is ready", m.name)
                m.set_state("ready")
                self._reachable_again(m)
            elif m.state == "ready":
                m.error = None                # an error from a failed probe or relaunch is over
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
        spares = {attempt_id(t, t.spare["attempt"]): t for t in self.c.trials.values()
                  if t.spare and t.spare["machine"] == m.name}
        for rid, trial in list(mine.items()) + list(spares.items()):
            if trial.status in ACTIVE and rid not in m.inventory and not any(
                    c.get("spec", {}).get("run_id") == rid for c in m.commands):
                spare = trial.spare if rid in spares else None
                spec = self._spec_of(m, trial, spare["attempt"], spare["gpus"]) if spare else self._spec_of(m, trial)
                self._command(m, {"type": CMD_START, "spec": spec})
        mine.update(spares)
        for rid, state in m.inventory.items():
            known = mine.get(rid)
            if state in ("running", "queued") and (known is None or known.status in TERMINAL):
                held = any(run_id(t) == rid and t.held_for == m.name for t in self.c.queue)
                if not held:
                    self._command(m, {"type": CMD_KILL, "run_id": rid, "reason": "stale", "grace": 2.0})

    def _spec_of(self, m: Machine, trial: Trial, attempt: Optional[int] = None,
                 gpus: Optional[list[int]] = None) -> dict[str, Any]:
        assert self.c.service is not None
        paths = self.c.service.trial_paths(m.name, trial.id)
        ts = self.c.params.get("trainingService", {})
        attempt = trial.attempt if attempt is None else attempt
        spec = {"trial_id": trial.id, "run_id": attempt_id(trial, attempt), "attempt": attempt, "sequence_id": trial.seq,
                "experiment_id": self.c.id, "platform": self.c.service.platform, "parameter": trial.parameter,
                "command": ts.get("trialCommand") or self.c.params.get("trialCommand"),
                "working_dir": paths.working_dir, "trial_dir": paths.trial_dir,
                "gpus": trial.gpus if attempt == trial.attempt else gpus}
        if trial.after and attempt == trial.attempt:
            spec["after"] = trial.after   # start it the moment that run ends (prefetchTrials)
        return spec

    def events(self, body: dict[str, Any], machine: str) -> dict[str, Any]:
        """Store a batch of events sent by ``machine``'s agent in one transaction, exactly once per run
        and ``seq`` (``manager/ingest.py``: the next ``seq`` expected per run; metrics by ``executemany``).

        Only runs placed on ``machine`` are considered: events for another
        machine's trial are acknowledged (so they are not re-sent) and stored
        nowhere, and they never claim that run's sequence numbers.
        """
        acked: dict[str, int] = {}
        metrics: list[tuple[Any, ...]] = []
        trials = body.get("trials")
        runs = [(rid, events) for rid, events in trials.items() if isinstance(rid, str)] \
            if isinstance(trials, dict) else []
        with self.c.lock, self.c.store.transaction():
            by_run = self.c.book.by_run()
            by_run.update({attempt_id(t, t.spare["attempt"]): t for t in self.c.trials.values() if t.spare})
            expected = self.c.store.next_seqs([rid for rid, _ in runs])
            advanced: dict[str, int] = {}
            now = now_ms()
            for rid, events in runs:
                trial = by_run.get(rid)
                spare = trial.spare if trial is not None and rid == spare_id(trial) else None
                mine = spare["machine"] == machine if spare is not None else owns_run(trial, machine)
                if not mine and trial is not None:
                    log.warning("machine %s sent events for trial %s, which runs on %s: ignored", machine, rid,
                                trial.machine)
                if trial is None or not mine:
                    acked[rid] = ingest.acked_unowned(events)  # an unknown run or another machine's: stored nothing
                    continue
                new, acked[rid] = ingest.fresh(events, expected[rid])
                if acked[rid] != expected[rid]:
                    advanced[rid] = acked[rid]
                for event in new:
                    if trial.status in TERMINAL:
                        break  # an abandoned attempt: stored nothing
                    if trial.spare is not None and rid == spare_id(trial):
                        trial.spare["held"].append(event)   # counts only if the spare wins
                        if ingest.deciding(event):
                            self._promote_spare(trial, f"attempt {trial.spare['attempt'] + 1} finished first",
                                                metrics)
                        continue
                    if run_id(trial) != rid:
                        continue
                    if trial.spare is not None and ingest.deciding(event):
                        self._cancel_spare(trial)             # the original finished first
                    self._apply(trial, event, metrics, now)
            self._flush(metrics)
            self.c.store.set_next_seqs(advanced)
        return {"acked": acked}

    def _flush(self, metrics: list[tuple[Any, ...]]) -> None:
        """Store the metric rows gathered so far of a batch (before an end event, and at the batch's end)."""
        self.c.store.add_metric_rows(metrics)
        metrics.clear()

    def _apply(self, trial: Trial, event: Any, metrics: list[tuple[Any, ...]], now: Optional[int] = None) -> None:
        """Apply one agent event; a metric's row joins ``metrics``, stored in one go by the caller."""
        kind = EVENT_METRIC if type(event) is list else ingest.kind_of(event)
        if kind == EVENT_METRIC:
            decoded = ingest.metric_row(trial, event, now_ms() if now is None else now)
            if decoded is not None:
                row, value = decoded
                metrics.append(row)
                self.c.on_trial_metric(trial, ingest.rest_record(row), value)
            return
        if kind == EVENT_END:
            self._flush(metrics)  # the trial's metrics are stored before its end
        if kind == EVENT_STATUS and event.get("status") == "RUNNING":
            if trial.after is not None:
                self._took_slot(trial)
            when = plausible_time(event.get("time"), not_before=trial.submit_time, what="start", trial_id=trial.id)
            pid = event.get("pid")
            self.c.on_trial_running(trial, pid if isinstance(pid, int) and not isinstance(pid, bool) else None, when)
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

    # -- health: the two clocks --------------------------------------------------
    def _clock(self, m: Machine, name: str) -> float:
        value = getattr(m.spec, name, None)
        return float(value) if value else (UNREACHABLE_AFTER if name == "unreachable_after" else GIVE_UP_AFTER)

    def _health_loop(self) -> None:
        while True:
            time.sleep(0.5)
            with self.c.lock:
                if self.c.stopping:
                    return
                now = time.time()
                for m in self.machines.values():
                    silent = now - (m.last_seen or m.since)
                    if m.state == "ready" and m.last_seen is not None and not m.info.get("polling") \
                            and silent > self._clock(m, "unreachable_after"):
                        self._mark_unreachable(m, silent)
                    elif m.state == "unreachable" and now - m.since > self._clock(m, "give_up_after"):
                        self._mark_lost(m, f"unreachable for {now - m.since:.0f} s (giveUpAfter)")
                suspects = [m for m in self.machines.values()
                            if m.state in ("unreachable", "lost", "failed") and not m.info.get("polling")
                            and not m.info.get("checking") and now >= m.info.get("next_check", 0)]
                for m in suspects:
                    m.info["checking"] = True
                self.c.wake.notify_all()
            for m in suspects:  # one thread per machine: a dead host never delays the others
                threading.Thread(target=self._check, args=(m,), name=f"check-{m.name}", daemon=True).start()

    def _check(self, m: Machine) -> None:
        """Probe an unreachable machine over SSH; relaunch its agent if it is gone (it re-attaches trials)."""
        assert self.c.service is not None
        try:
            alive = self.c.service.alive(m.name)
            with self.c.lock:
                if self.c.stopping or m.state == "ready":
                    return
                if alive:
                    m.info["next_check"] = time.time() + 2.0
                    return
                if self.c.service.probe_is_definitive and m.state != "lost":
                    self._mark_lost(m, "the agent process is gone")
                failures = m.info.get("relaunch_failures", 0)
            error = self.c.service.relaunch(m.name, self.c.head)
            with self.c.lock:
                if error is None:
                    m.info["relaunch_failures"] = 0
                    m.info["next_check"] = time.time() + self._clock(m, "unreachable_after")
                else:
                    log.warning("machine %s: relaunch failed: %s", m.name, error)
                    if m.state != "ready":
                        m.error = str(error)
                    m.info["relaunch_failures"] = failures + 1
                    m.info["next_check"] = time.time() + min(30.0, 2.0 * 2 ** failures)
        finally:
            m.info["checking"] = False

    def _mark_unreachable(self, m: Machine, silent: float) -> None:
        """First clock: show it at once; give each trial there a spare attempt elsewhere."""
        since = time.strftime("%H:%M:%S")
        give_up = time.strftime("%H:%M:%S", time.localtime(time.time() + self._clock(m, "give_up_after")))
        log.warning("machine %s unreachable: no sync for %.0f s", m.name, silent)
        m.set_state("unreachable", f"no sync for {silent:.0f} s; trials there are given up at {give_up}")
        self._withdraw_queued(m)
        for trial in [t for t in self.c.trials.values() if t.spare and t.spare["machine"] == m.name]:
            origin = self.machines.get(trial.machine or "")
            self._cancel_spare(trial)              # a spare on a silent machine cannot help: find another
            if origin is not None and origin.state == "unreachable":
                self._want_spare(trial, origin)
        for trial in [t for t in self.c.trials.values() if t.machine == m.name and t.status in ACTIVE and t.sent]:
            trial.message = f"machine {m.name} unreachable since {since}; it may still finish"
            if self.c.service is not None and not self.c.service.probe_is_definitive:
                self._want_spare(trial, m)
            self.c.book.save(trial)

    def _reachable_again(self, m: Machine) -> None:
        for trial in self.c.trials.values():
            if trial.machine == m.name and trial.status in ACTIVE and "unreachable" in trial.message:
                trial.message = "" if trial.spare is None else (
                    f"machine {m.name} is back; attempt {trial.spare['attempt'] + 1} also runs, "
                    "the first to finish counts")
                self.c.book.save(trial)

    def _mark_lost(self, m: Machine, why: str) -> None:
        """Second clock: the original attempts there are abandoned; spares take over, or the trials re-run."""
        log.warning("machine %s lost: %s", m.name, why)
        m.set_state("lost", why)
        m.synced = False
        if self.c.service is not None and self.c.service.trials_survive_agent:
            return  # the trials outlive their agent; the relaunched agent re-attaches them
        for trial in [t for t in self.c.trials.values() if t.machine == m.name and t.status in ACTIVE]:
            if trial.spare is not None and trial.spare["machine"] is not None:
                self._promote_spare(trial, f"machine {m.name} given up at {time.strftime('%H:%M:%S')}; "
                                           f"attempt {trial.spare['attempt'] + 1} counts")
            else:
                self.requeue(trial, f"machine {m.name} lost at {time.strftime('%H:%M:%S')}")
        m.assigned.clear()

    def requeue(self, trial: Trial, why: str) -> None:
        """Run a trial again elsewhere with the same parameters (not a new trial for the budget)."""
        self.release(trial)
        fresh = self._next_attempt(trial)      # an attempt number no earlier run (a spare) used
        if trial.attempt + 1 < RETRY_LIMIT:
            trial.attempt = fresh - 1          # the book's restart makes it ``fresh``
        self.c.book.requeue(trial, why, RETRY_LIMIT)
        self.c.wake.notify_all()

    # -- shutdown ------------------------------------------------------------
    def shutdown(self, grace: float = 5.0) -> None:
        """Kill every running trial, tell agents to exit, wait for their last events."""
        with self.c.lock:
            for trial in [t for t in self.c.trials.values() if t.after is not None and t.status in ACTIVE]:
                trial.kill_reason = "shutdown"    # queued, never started: resume runs it
                self.c.book.finish(trial, "USER_CANCELED", "experiment stopped", now_ms())
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
            failures = self.c.service.stop() or {}
            data = cleanup_record.record(self.c.exp_dir, failures,
                                         cleaned=[m for m in self.machines if m not in failures])
            if data:
                self.c.errors.append(cleanup_record.describe(data))
