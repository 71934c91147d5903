"""One trial on Slurm as the login-node agent relays it, and the two ways to run it.

:class:`SlurmRunner` is a :class:`~trial_agent.runner.TrialRunner` whose process
lives on a compute node: it tails the same files (``trial.stdout``,
``.nni/metrics``) on the shared filesystem, learns "started" from
``started.json`` and the exit status from ``exitcode``, and everything else from
the job's Slurm state. Outcomes sent to the head:

- pending: a ``note`` event with Slurm's reason (``Priority``, ``Resources``, ...);
- ``TIMEOUT``: ``end`` with an error saying the time limit was reached;
- ``NODE_FAIL`` / ``PREEMPTED`` / ``BOOT_FAIL``: ``end`` with ``requeue`` (the head
  runs the trial again as its next attempt);
- ``CANCELLED`` not asked for by us, ``OUT_OF_MEMORY``: ``end`` with an error.

Backends: :class:`JobPerTrial` (one batch job per trial; the default) and
:class:`~trial_agent.slurm_pool.WorkerPool` (reuse mode).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from trial_agent.runner import TrialRunner, _now_ms, _write_json
from trial_agent.slurm_jobs import ACTIVE_STATES, GONE, LOST_STATES, SlurmError, SlurmQueue, job_script, trial_body
from trial_agent.slurm_jobs import reason_text as _reason


def _read_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_exit(path: str) -> Optional[int]:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class SlurmRunner(TrialRunner):
    """A trial run by Slurm; see the module docstring."""

    def __init__(self, spec: Dict[str, Any], shim_dir: Optional[str], backend: Any) -> None:
        TrialRunner.__init__(self, spec, shim_dir)
        self.backend = backend
        self.started_file = os.path.join(self.state_dir, "started.json")
        self.script = os.path.join(self.state_dir, "run.sh")
        self.job_file = os.path.join(self.state_dir, "job.json")
        self.job: Optional[str] = (_read_json(self.job_file) or {}).get("job")
        self.running_sent = self.spool.has("status")
        self.last_note: Optional[str] = None

    # -- start / attach ---------------------------------------------------------------
    def start(self) -> None:
        self.prepare()
        env = self._environment()
        env = {k: v for k, v in env.items() if os.environ.get(k) != v}   # what the job adds to the login env
        for key in ("NNI_REMOTE_EXIT_FILE", "NNI_REMOTE_SHELL"):
            env.pop(key, None)
        body = trial_body(env, self.exit_file, self.started_file, self.trial_dir, self.spec["working_dir"])
        name = "nni-%s-%s" % (self.spec["experiment_id"], self.id)
        text = job_script(self.backend.settings, name, os.path.join(self.state_dir, "slurm.out"), body,
                          self.spec["working_dir"])
        with open(self.script, "w") as f:
            f.write(text)
        os.chmod(self.script, 0o700)
        try:
            self.backend.submit(self)
        except SlurmError as exc:
            self._end({"exit_code": None, "error": "cannot submit trial %s to Slurm: %s" % (self.id, exc)})
            return
        self._note(self.backend.describe_pending(self) or "submitted to Slurm")

    def set_job(self, job: str, **extra: Any) -> None:
        self.job = job
        _write_json(self.job_file, dict(extra, job=job))

    def attach(self) -> bool:
        if self.job is None and not self.finished:
            return os.path.exists(os.path.join(self.state_dir, "spec.json")) and bool(self.backend.adopt(self))
        if self.job is not None:
            self.backend.adopt(self)
        return True

    # -- watching ----------------------------------------------------------------------
    def _note(self, message: str) -> None:
        if message != self.last_note:
            self.last_note = message
            self.spool.append({"type": "note", "message": message, "time": _now_ms()})

    def _end(self, fields: Dict[str, Any]) -> None:
        event: Dict[str, Any] = {"type": "end", "exit_code": None, "signal": None, "time": _now_ms()}
        event.update(fields)
        if self.kill_reason and "requeue" not in fields:
            event["killed"] = self.kill_reason
        self.spool.append(event)
        self.finished = True
        self.backend.done(self)

    def poll(self) -> bool:
        if self.finished:
            return False
        before = self.spool.count
        self.collect()
        started = _read_json(self.started_file)
        view = self.backend.view(self)
        state = view["state"] if view else "PENDING"
        if not self.running_sent and (started or state == "RUNNING"):
            when = (started or {}).get("time") or _now_ms()
            self.spool.append({"type": "status", "status": "RUNNING", "pid": None, "time": when})
            self.running_sent = True
        if state in ACTIVE_STATES and _read_exit(self.exit_file) is None:
            if state == "PENDING":
                self._note(self.backend.describe_pending(self))
            elif self.running_sent:
                node = (started or {}).get("node") or view.get("nodes") or "?"
                self._note("Slurm job %s on %s" % (view.get("job") or self.job, node))
            return self.spool.count != before
        self.collect()
        self._end(self._outcome(state, view or {}))
        return True

    def _outcome(self, state: str, view: Dict[str, Any]) -> Dict[str, Any]:
        job = view.get("job") or self.job
        code = _read_exit(self.exit_file)
        where = " on %s" % view["nodes"] if view.get("nodes") else ""
        if state in LOST_STATES and code is None:
            return {"requeue": "Slurm job %s%s ended %s: %s" % (job, where, state, LOST_STATES[state])}
        if state == "TIMEOUT":
            limit = self.backend.time_limit or "its time limit"
            return {"error": "Slurm time limit reached: job %s%s ran past timeLimit (%s) and was ended (TIMEOUT)"
                             % (job, where, limit)}
        if state == "OUT_OF_MEMORY":
            return {"error": "Slurm job %s%s ran out of memory (OUT_OF_MEMORY); raise memoryPerTrial" % (job, where)}
        if state == "CANCELLED" and not self.kill_reason and code is None:
            return {"error": "Slurm job %s%s was cancelled outside nni-remote (scancel by a user or an admin)"
                             % (job, where)}
        if code is not None:
            if code > 128 and self.kill_reason:
                return {"signal": code - 128}
            return {"exit_code": code}
        if state == GONE:
            return {"error": "Slurm job %s%s disappeared from squeue before the trial wrote its exit status; "
                             "see %s" % (job, where, os.path.join(self.state_dir, "slurm.out"))}
        if self.kill_reason:
            return {}
        return {"error": "Slurm job %s%s ended %s before the trial wrote its exit status; see %s"
                         % (job, where, state, os.path.join(self.state_dir, "slurm.out"))}

    def _alive(self) -> bool:
        return not self.finished

    def kill(self, reason: str = "user", grace: float = 5.0) -> None:
        if self.finished:
            return
        self.kill_reason = reason
        self.backend.cancel(self)

    def _signal(self, sig: int) -> None:
        pass


class JobPerTrial:
    """Each trial is its own batch job: simple, fair to the cluster, backfill-friendly."""

    def __init__(self, queue: SlurmQueue, settings: Dict[str, Any]) -> None:
        self.queue = queue
        self.settings = settings
        self.time_limit = settings.get("time_limit")

    def submit(self, runner: SlurmRunner) -> None:
        runner.set_job(self.queue.submit(runner.script))

    def adopt(self, runner: SlurmRunner) -> bool:
        if runner.job is None:
            return False        # prepared but never submitted: start it again
        self.queue.track(runner.job)
        return True

    def view(self, runner: SlurmRunner) -> Optional[Dict[str, str]]:
        info = self.queue.state(runner.job) if runner.job else None
        if info is not None and runner.job:
            info["job"] = runner.job
        return info

    def describe_pending(self, runner: SlurmRunner) -> str:
        return "Slurm job %s pending%s" % (runner.job, _reason(self.queue.state(runner.job or "")))

    def cancel(self, runner: SlurmRunner) -> None:
        if runner.job:
            self.queue.cancel(runner.job)

    def done(self, runner: SlurmRunner) -> None:
        if runner.job:
            self.queue.forget(runner.job)

    def tick(self, force: bool = False) -> None:
        pass

    def shutdown(self) -> None:
        pass
