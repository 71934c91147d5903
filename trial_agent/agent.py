"""The agent's sync loop: long-poll the head for commands, push trial events.

Threads: the main thread long-polls ``/api/agent/v1/poll`` (this is also the
heartbeat); a monitor thread ticks every trial runner (output → events, exit
detection, kill deadlines) and is woken at once when a trial process exits, so
a trial queued behind it (a start with ``after``: ``prefetchTrials``) starts
in the same pass, with no round trip to the head; a sender thread ships unacknowledged events to
``/api/agent/v1/events`` and backs off while the head is away. Trials keep
running whatever happens to the head.
"""
from __future__ import annotations

import errno
import fcntl
import http.client
import json
import os
import random
import shutil
import sys
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple, Union

from trial_agent import procid
from trial_agent.cleanup import STOPPED
from trial_agent.protocol import CMD_KILL, CMD_SHUTDOWN, CMD_START, PROTOCOL_VERSION
from trial_agent.gpu import GpuMonitor
from trial_agent.runner import TrialRunner

_JITTER = random.Random()   # backoff jitter from a generator of our own, not the trial's global one


class HeadUnavailable(Exception):
    """The head did not answer, or refused our token."""


class HeadChannel:
    """HTTP+JSON to the head; URL and token come from ``head.json`` (re-read on failure)."""

    def __init__(self, agent_dir: str) -> None:
        self.path = os.path.join(agent_dir, "head.json")
        self._local = threading.local()
        self.url = None
        self.token = None
        self.orphan_timeout = 6 * 3600

    def reload(self) -> None:
        try:
            with open(self.path) as f:
                info = json.load(f)
        except (OSError, ValueError):
            return
        self.url, self.token = info.get("url"), info.get("token")
        self.orphan_timeout = info.get("orphan_timeout", self.orphan_timeout)
        self._local.conn = None

    def post(self, route: str, body: Union[Dict[str, Any], str], timeout: float) -> Any:
        """POST ``body`` (a dict, or JSON text already made) to ``route``; the answer's JSON."""
        if self.url is None:
            self.reload()
            if self.url is None:
                raise HeadUnavailable("no head.json yet")
        parsed = urllib.parse.urlsplit(self.url)
        key = (parsed.hostname, parsed.port, timeout)
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "key", None) != key:
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=timeout)
            self._local.conn, self._local.key = conn, key
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        headers = {"Content-Type": "application/json", "Authorization": "Bearer %s" % self.token}
        try:
            conn.request("POST", parsed.path.rstrip("/") + "/api/agent/v1/" + route, data, headers)
            resp = conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            self._local.conn = None
            raise HeadUnavailable(str(exc))
        if resp.status != 200:
            self._local.conn = None
            conn.close()
            raise HeadUnavailable("HTTP %d from head" % resp.status)
        return json.loads(payload.decode() or "{}")


class Agent:
    """One machine's agent; see the module docstring."""

    def __init__(self, agent_dir: str, machine: str, tick: float = 0.01) -> None:
        self.dir = os.path.abspath(agent_dir)
        self.machine = machine
        self.tick = tick
        self.boot = "%x-%x" % (os.getpid(), int(time.time() * 1000))
        self.head = HeadChannel(self.dir)
        self.runners: Dict[str, TrialRunner] = {}
        self.queued: Dict[str, TrialRunner] = {}      # run id it waits for -> the next trial (not started)
        self.lock = threading.Lock()
        self.events_ready = threading.Event()
        self.exited = threading.Event()               # a trial process ended: the monitor looks at once
        self.stopping = threading.Event()
        self.last_cmd = 0
        self.epoch: Optional[str] = None
        self.gpus = GpuMonitor()
        self.shim_dir: Optional[str] = None
        self.last_contact = time.time()
        self.slurm: Optional[Tuple[Any, Any]] = None   # (queue, backend) when trials are Slurm jobs

    def _setup_slurm(self) -> None:
        """Slurm mode when the launcher left ``slurm.json`` in the agent directory."""
        from trial_agent import slurm_jobs
        if not os.path.exists(os.path.join(self.dir, slurm_jobs.SETTINGS_FILE)):
            return
        from trial_agent.slurm_pool import WorkerPool
        from trial_agent.slurm_runner import JobPerTrial
        settings = slurm_jobs.load_settings(self.dir)
        queue = slurm_jobs.SlurmQueue(self.dir, settings.get("poll_interval", 1.0))
        backend: Any = WorkerPool(queue, settings, self.dir) if settings.get("reuse") else JobPerTrial(queue, settings)
        self.slurm = (queue, backend)
        self.tick = max(self.tick, float(settings.get("tick", 0.1)))
        queue.start()

    def _runner(self, spec: Dict[str, Any]) -> TrialRunner:
        if self.slurm is not None:
            from trial_agent.slurm_runner import SlurmRunner
            return SlurmRunner(spec, self.shim_dir, self.slurm[1])
        return TrialRunner(spec, self.shim_dir)

    # -- setup -------------------------------------------------------------------
    def _take_lock(self) -> bool:
        os.makedirs(self.dir, exist_ok=True)
        self._lock_file = open(os.path.join(self.dir, "agent.lock"), "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                sys.stderr.write("another agent already runs in %s\n" % self.dir)
                return False
            raise
        if os.path.exists(os.path.join(self.dir, STOPPED)):
            sys.stderr.write("the experiment was stopped (%s exists): not starting\n" % STOPPED)
            return False
        tmp = os.path.join(self.dir, "agent.pid.tmp")
        with open(tmp, "w") as f:
            json.dump(procid.identity(os.getpid()), f)  # pid + start time + boot id: never trusted bare
        os.replace(tmp, os.path.join(self.dir, "agent.pid"))
        return True

    def _install_shim(self) -> None:
        """Copy the trial-side ``nni`` package out of the zipapp into a plain directory."""
        import trial_agent
        target = os.path.join(self.dir, "shim")
        marker = os.path.join(target, "nni", "__init__.py")
        src_pkg = os.path.join(os.path.dirname(trial_agent.__file__), "nni")
        try:
            if os.path.isdir(src_pkg):
                shutil.rmtree(os.path.join(target, "nni"), ignore_errors=True)
                shutil.copytree(src_pkg, os.path.join(target, "nni"))
            else:  # running from a zipapp
                import zipfile
                archive = trial_agent.__file__.split(".pyz")[0] + ".pyz"
                with zipfile.ZipFile(archive) as zf:
                    for name in zf.namelist():
                        if name.startswith("trial_agent/nni/") and name.endswith(".py"):
                            dest = os.path.join(target, "nni", name[len("trial_agent/nni/"):])
                            os.makedirs(os.path.dirname(dest), exist_ok=True)
                            with open(dest, "wb") as out:
                                out.write(zf.read(name))
        except OSError as exc:
            sys.stderr.write("cannot install the nni shim: %s\n" % exc)
        self.shim_dir = target if os.path.exists(marker) else None

    def _reattach(self) -> None:
        index = os.path.join(self.dir, "trials")
        os.makedirs(index, exist_ok=True)
        for name in os.listdir(index):
            try:
                with open(os.path.join(index, name)) as f:
                    spec = json.load(f)
                runner = self._runner(spec)
            except (OSError, ValueError, KeyError):
                continue
            if runner.attach() or runner.finished:
                self.runners[runner.id] = runner
            elif spec.get("after"):
                self.queued[spec["after"]] = runner   # never started: it still waits (or starts at once)
        self._start_unblocked()

    # -- commands ----------------------------------------------------------------
    def _start_trial(self, spec: Dict[str, Any]) -> None:
        run_id = spec.get("run_id") or spec["trial_id"]
        with self.lock:
            if run_id in self.runners:
                return  # a re-sent start: idempotent
            waiting = self._queued_key(run_id)
            if waiting is not None:
                if spec.get("after"):
                    return  # a re-sent queued start
                del self.queued[waiting]   # the head now wants it started (a free slot): start it below
        index = os.path.join(self.dir, "trials", run_id + ".json")
        with open(index, "w") as f:
            json.dump(spec, f)
        runner = self._runner(spec)
        if runner.attach():  # already started by an earlier agent
            pass
        else:
            after = str(spec.get("after") or "")
            with self.lock:
                blocker = self.runners.get(after) if after else None
                if blocker is not None and not blocker.finished and not self.stopping.is_set():
                    self.queued[after] = runner    # started by the monitor the moment ``after`` ends
                    return
            self._launch(runner)
        with self.lock:
            self.runners[runner.id] = runner
        self.events_ready.set()

    def _queued_key(self, run_id: str) -> Optional[str]:
        """The run a queued ``run_id`` waits for (call under ``lock``)."""
        return next((after for after, r in self.queued.items() if r.id == run_id), None)

    def _launch(self, runner: TrialRunner) -> None:
        """Start the trial and wake the monitor the moment its process exits (a thread blocked in ``wait``)."""
        runner.start()
        proc = getattr(runner, "proc", None)
        if proc is None:
            return

        def wait() -> None:
            try:
                proc.wait()
            finally:
                self.exited.set()
        threading.Thread(target=wait, name="wait-%s" % runner.id, daemon=True).start()

    def _start_unblocked(self) -> None:
        """Start each queued trial whose run has ended (or is gone); the monitor calls this every pass."""
        if not self.queued or self.stopping.is_set():
            return
        with self.lock:
            ready = [(after, r) for after, r in self.queued.items()
                     if after not in self.runners or self.runners[after].finished]
            for after, runner in ready:
                del self.queued[after]
                self.runners[runner.id] = runner   # known at once: a start queued behind it must wait for it
        for _, runner in ready:
            self._launch(runner)
        if ready:
            self.events_ready.set()

    def _kill_trial(self, run_id: str, reason: str, grace: float) -> None:
        with self.lock:
            runner = self.runners.get(run_id)
            waiting = self._queued_key(run_id)
            dropped = self.queued.pop(waiting) if waiting is not None else None
        if runner is not None:
            runner.kill(reason, grace)
        if dropped is not None:   # never started: forget it (the head already ended it)
            self._forget(dropped)

    def _forget(self, runner: TrialRunner) -> None:
        """Close a run's spool and drop its index entry (it ended and the head has every event, or it was
        dropped before it started)."""
        runner.spool.close()
        try:
            os.unlink(os.path.join(self.dir, "trials", runner.id + ".json"))
        except OSError:
            pass

    def _handle(self, command: Dict[str, Any]) -> None:
        kind = command.get("type")
        if kind == CMD_START:
            self._start_trial(command["spec"])
        elif kind == CMD_KILL:
            self._kill_trial(command["run_id"], command.get("reason", "user"), command.get("grace", 5.0))
        elif kind == CMD_SHUTDOWN:
            self.stopping.set()

    # -- threads -----------------------------------------------------------------
    def _monitor(self) -> None:
        while True:
            with self.lock:
                runners = list(self.runners.values())
            changed = False
            if self.slurm is not None:
                self.slurm[1].tick()
            for runner in runners:
                try:
                    changed |= runner.poll()
                except Exception as exc:  # never let one trial stop the agent
                    sys.stderr.write("trial %s: %r\n" % (runner.id, exc))
            if changed:
                self.events_ready.set()
            self._start_unblocked()
            with self.lock:
                for runner in runners:
                    if runner.finished and runner.spool.drained:
                        self.runners.pop(runner.id, None)
                        self._forget(runner)
            if self.stopping.is_set() and not runners:
                return
            self.exited.wait(self.tick if runners else 0.1)
            self.exited.clear()

    def _send_events(self) -> None:
        backoff = 0.05
        while True:
            self.events_ready.wait(0.5)
            self.events_ready.clear()
            batch = self._events_batch()
            if batch is None:
                if self.stopping.is_set() and self._all_done():
                    return
                continue
            try:
                reply = self.head.post("events", batch, timeout=30)
                backoff = 0.05
                self.last_contact = time.time()
            except HeadUnavailable:
                self.head.reload()
                time.sleep(backoff * (1 + _JITTER.random()))
                backoff = min(backoff * 2, 5.0)
                self.events_ready.set()
                continue
            with self.lock:
                for trial_id, upto in reply.get("acked", {}).items():
                    runner = self.runners.get(trial_id)
                    if runner is not None:
                        runner.spool.ack(upto)
            self.events_ready.set()  # more may have queued while sending

    def _events_batch(self) -> Optional[str]:
        """The events body (JSON text) with every run's unacknowledged events; None if there are none.

        Events go as the spool stored them, so a batch is joined, not encoded again.
        """
        with self.lock:
            runs = ["%s: %s" % (json.dumps(r.id), r.spool.unacked_json()) for r in self.runners.values()
                    if r.spool.pending()]
        if not runs:
            return None
        return '{"machine": %s, "boot": %s, "trials": {%s}}' % (json.dumps(self.machine), json.dumps(self.boot),
                                                                ", ".join(runs))

    def _all_done(self) -> bool:
        with self.lock:
            return all(r.finished and r.spool.drained for r in self.runners.values())

    def _gpus(self) -> Optional[List[Dict[str, Any]]]:
        """The latest GPU reading, each process marked ``ours`` when it belongs to one of our trials."""
        gpus = self.gpus.latest()
        if not gpus:
            return gpus
        with self.lock:
            groups = {r.pid for r in self.runners.values() if r.pid}
        for gpu in gpus:
            for proc in gpu.get("processes", []):
                try:
                    proc["ours"] = proc.get("pid") is not None and os.getpgid(proc["pid"]) in groups
                except OSError:
                    proc["ours"] = False
        return gpus

    def _inventory(self) -> Dict[str, str]:
        with self.lock:
            inventory = {r.id: r.state for r in self.runners.values()}
            inventory.update((r.id, "queued") for r in self.queued.values())
            return inventory

    def _queued(self) -> Dict[str, str]:
        """Queued run id -> the run it waits for."""
        with self.lock:
            return {r.id: after for after, r in self.queued.items()}

    def _stopped(self) -> bool:
        """Whether ``stop`` (possibly from a later command, after a partition healed) marked us stopped."""
        if os.path.exists(os.path.join(self.dir, STOPPED)):
            sys.stderr.write("the experiment was stopped: ending trials and exiting\n")
            self.stopping.set()
            return True
        return False

    def _poll_loop(self) -> None:
        backoff = 0.05
        while not self.stopping.is_set() and not self._stopped():
            body = {"machine": self.machine, "boot": self.boot, "epoch": self.epoch, "ack": self.last_cmd,
                    "trials": self._inventory(), "queued": self._queued(), "gpus": self._gpus(), "pid": os.getpid(),
                    "protocol": PROTOCOL_VERSION, "python": sys.version.split()[0], "wait": 20}
            try:
                reply = self.head.post("poll", body, timeout=30)
                backoff = 0.05
                self.last_contact = time.time()
            except HeadUnavailable:
                self.head.reload()
                if time.time() - self.last_contact > self.head.orphan_timeout and not self._inventory():
                    sys.stderr.write("head unreachable for too long and no trial runs: exiting\n")
                    return
                time.sleep(backoff * (1 + _JITTER.random()))
                backoff = min(backoff * 2, 5.0)
                continue
            if reply.get("epoch") != self.epoch:
                self.epoch, self.last_cmd = reply.get("epoch"), 0
            for command in reply.get("commands", []):
                if command["id"] <= self.last_cmd:
                    continue
                try:
                    self._handle(command)
                except Exception as exc:
                    sys.stderr.write("command %r failed: %r\n" % (command, exc))
                self.last_cmd = command["id"]

    def _shutdown(self, grace: float = 3.0) -> None:
        with self.lock:
            runners = list(self.runners.values())
            queued, self.queued = list(self.queued.values()), {}
        for runner in queued:   # never started: the head ends them as cancelled
            runner.spool.close()
        for runner in runners:
            runner.kill("shutdown", grace)
        deadline = time.time() + grace + 10
        if self.slurm is not None:
            self.slurm[1].shutdown()
        while time.time() < deadline and not self._all_done():
            self.events_ready.set()
            time.sleep(0.05)
        if self.slurm is not None:
            self.slurm[0].stop()

    def run(self) -> int:
        if not self._take_lock():
            return 3
        self._install_shim()
        self._setup_slurm()
        self._reattach()
        self.gpus.start()
        threading.Thread(target=self._monitor, name="monitor", daemon=True).start()
        threading.Thread(target=self._send_events, name="sender", daemon=True).start()
        self._poll_loop()
        self._shutdown()
        try:
            os.unlink(os.path.join(self.dir, "agent.pid"))
        except OSError:
            pass
        return 0
