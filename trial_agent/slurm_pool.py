"""Reuse mode: a few long batch jobs ("workers") run trial after trial.

The queue wait is paid once per worker instead of once per trial. Each worker
is a batch job running ``python3 agent.pyz slurm-worker INBOX`` on a compute
node (see ``slurm_worker.py``); the agent and the worker talk only through files
in the worker's inbox on the shared filesystem:

- the worker writes ``ready.json`` (node, job) when it starts;
- the agent writes ``next.json`` (a trial's ``run.sh`` and state dir) for an idle worker;
- the agent writes ``kill`` (a run id) to stop that trial;
- the worker exits after ``idle_timeout`` seconds without work, or on ``stop``.

A trial whose worker's job dies (node failure, preemption, the allocation's
own time limit) before the trial wrote its exit status is reported with that
job state, so the head re-queues it as its next attempt; a trial handed to a
worker that exited before starting it just goes back to the pool's queue.
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Dict, List, Optional

from trial_agent.slurm_jobs import ACTIVE_STATES, SlurmQueue, _write_json, job_script
from trial_agent.slurm_jobs import reason_text as _reason
from trial_agent.slurm_runner import SlurmRunner


class Worker:
    def __init__(self, wid: str, inbox: str, job: str) -> None:
        self.id = wid
        self.inbox = inbox
        self.job = job
        self.current: Optional[str] = None          # run id of the trial handed to it

    def ready(self) -> bool:
        return os.path.exists(os.path.join(self.inbox, "ready.json"))


class WorkerPool:
    """Hands trials to worker jobs; see the module docstring."""

    def __init__(self, queue: SlurmQueue, settings: Dict[str, Any], agent_dir: str) -> None:
        self.queue = queue
        self.settings = settings
        self.time_limit = settings.get("time_limit")
        self.max_workers = max(1, int(settings.get("workers") or 1))
        self.root = os.path.join(agent_dir, "workers")
        os.makedirs(self.root, exist_ok=True)
        self.lock = threading.RLock()
        self.workers: Dict[str, Worker] = {}
        self.waiting: List[SlurmRunner] = []      # runners not handed to a worker yet, FIFO
        self.runners: Dict[str, SlurmRunner] = {}  # run id -> runner (assigned or waiting)
        self.next_id = 0
        self._last_tick = 0.0
        for name in sorted(os.listdir(self.root)):   # re-attach to workers of an earlier agent
            try:
                with open(os.path.join(self.root, name, "worker.json")) as f:
                    info = json.load(f)
            except (OSError, ValueError):
                continue
            self.workers[name] = Worker(name, os.path.join(self.root, name), info["job"])
            self.queue.track(info["job"])
            self.next_id = max(self.next_id, int(name[1:]) + 1)

    # -- backend protocol (see JobPerTrial) ---------------------------------------------
    def submit(self, runner: SlurmRunner) -> None:
        with self.lock:
            self.runners[runner.id] = runner
            self.waiting.append(runner)
        self.tick(force=True)

    def adopt(self, runner: SlurmRunner) -> bool:
        with self.lock:
            info: Dict[str, Any] = {}
            try:
                with open(runner.job_file) as f:
                    info = json.load(f)
            except (OSError, ValueError):
                pass
            w = self.workers.get(str(info.get("worker")))
            self.runners[runner.id] = runner
            if w is None:
                self.waiting.append(runner)
            else:
                w.current = runner.id
        return True

    def view(self, runner: SlurmRunner) -> Dict[str, Any]:
        with self.lock:
            w = self._worker_of(runner)
            if w is None:
                return {"state": "PENDING", "reason": "", "nodes": "", "job": None}
            info: Dict[str, Any] = self.queue.state(w.job) or {"state": "PENDING", "reason": "", "nodes": ""}
        if os.path.exists(os.path.join(runner.state_dir, "timeout")):
            info = dict(info, state="TIMEOUT")
        elif info["state"] in ACTIVE_STATES:
            info = dict(info, state="RUNNING" if os.path.exists(runner.started_file) else "PENDING")
        info["job"] = w.job
        return info

    def describe_pending(self, runner: SlurmRunner) -> str:
        with self.lock:
            w = self._worker_of(runner)
            if w is not None:
                return "handed to Slurm worker job %s" % w.job
            pending = [x for x in self.workers.values() if (self.queue.state(x.job) or {}).get("state") == "PENDING"]
        if pending:
            return "waiting for a Slurm allocation: worker job %s pending%s" % (
                pending[0].job, _reason(self.queue.state(pending[0].job)))
        return "waiting for a free Slurm worker"

    def cancel(self, runner: SlurmRunner) -> None:
        with self.lock:
            w = self._worker_of(runner)
            if w is None:
                if runner in self.waiting:
                    self.waiting.remove(runner)
                runner._end({"exit_code": None})
                return
        _write_json(os.path.join(w.inbox, "kill"), {"run_id": runner.id})

    def done(self, runner: SlurmRunner) -> None:
        with self.lock:
            self.runners.pop(runner.id, None)
            if runner in self.waiting:
                self.waiting.remove(runner)
            for w in self.workers.values():
                if w.current == runner.id:
                    w.current = None
        self.tick(force=True)

    def _worker_of(self, runner: SlurmRunner) -> Optional[Worker]:
        for w in self.workers.values():
            if w.current == runner.id:
                return w
        return None

    # -- scheduling -------------------------------------------------------------------
    def tick(self, force: bool = False) -> None:
        """Hand waiting trials to idle workers; start workers while trials wait; drop ended workers."""
        now = time.time()
        if not force and now - self._last_tick < 0.1:
            return
        self._last_tick = now
        with self.lock:
            for w in list(self.workers.values()):
                state = (self.queue.state(w.job) or {}).get("state", "PENDING")
                if state in ACTIVE_STATES:
                    continue
                runner = self.runners.get(w.current) if w.current else None
                if runner is not None and not os.path.exists(runner.started_file):
                    self.waiting.insert(0, runner)      # handed over but never started: not an attempt
                    w.current = None
                if w.current is None:
                    del self.workers[w.id]
                    self.queue.forget(w.job)
            for w in self.workers.values():
                if not self.waiting:
                    break
                if w.current is None and w.ready() and not os.path.exists(os.path.join(w.inbox, "next.json")):
                    runner = self.waiting.pop(0)
                    w.current = runner.id
                    runner.set_job(w.job, worker=w.id)
                    _write_json(os.path.join(w.inbox, "next.json"),
                                {"run_id": runner.id, "script": runner.script, "state_dir": runner.state_dir,
                                 "exit_file": runner.exit_file})
            idle = sum(1 for w in self.workers.values() if w.current is None)
            want = min(len(self.waiting) - idle, self.max_workers - len(self.workers))
            for _ in range(max(0, want)):
                self._start_worker()

    def _start_worker(self) -> None:
        wid = "w%d" % self.next_id
        self.next_id += 1
        inbox = os.path.join(self.root, wid)
        os.makedirs(inbox, exist_ok=True)
        s = self.settings
        command = "exec %s %s slurm-worker %s --idle %s --trial-limit %s" % (
            s.get("python") or "python3", s["pyz"], inbox, s.get("idle_timeout", 60), s.get("time_limit_s") or 0)
        sbatch = list(s.get("sbatch") or [])   # a trial's options, without --time in reuse mode (see the head)
        if s.get("allocation_time"):
            sbatch.append("--time=%s" % s["allocation_time"])
        settings = dict(s, sbatch=sbatch)
        name = "nni-%s-%s" % (s.get("experiment_id", "exp"), wid)
        script = os.path.join(inbox, "worker.sh")
        with open(script, "w") as f:
            f.write(job_script(settings, name, os.path.join(inbox, "slurm.out"), command, inbox))
        job = self.queue.submit(script)
        _write_json(os.path.join(inbox, "worker.json"), {"job": job})
        self.workers[wid] = Worker(wid, inbox, job)

    def shutdown(self) -> None:
        with self.lock:
            for w in self.workers.values():
                _write_json(os.path.join(w.inbox, "stop"), {"time": time.time()})
                self.queue.cancel(w.job)
