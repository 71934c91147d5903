"""Slurm from the login node: job scripts, ``sbatch``, one ``squeue`` per interval, ``scancel``.

The agent runs on the cluster's login node. A trial (or, in reuse mode, a worker
that runs trial after trial) becomes a batch job whose script writes everything
the agent needs into the trial's directory on the shared filesystem: output,
metrics, ``started.json`` and ``exitcode``. Compute nodes therefore need only
the shared filesystem (and ``python3`` for the trial or the reuse worker); they
never talk to the head or the agent over the network.

:class:`SlurmQueue` is the only place that runs Slurm's commands. Job states come
from a single ``squeue -t all -j <all our ids>`` call per poll interval, whatever
the number of trials; cancellations are batched into one ``scancel`` per tick.
Counters of every call are written to ``slurm-stats.json`` in the agent directory.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional, Set, Tuple

SETTINGS_FILE = "slurm.json"
STATS_FILE = "slurm-stats.json"
ACTIVE_STATES = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
                 "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD")
LOST_STATES = {"NODE_FAIL": "its node failed", "PREEMPTED": "it was preempted", "BOOT_FAIL": "its node failed to boot"}
GONE = "GONE"           # squeue no longer knows the job (older than MinJobAge, or never existed)
GONE_AFTER = 3          # polls a job must be missing before it counts as gone


def load_settings(agent_dir: str) -> Dict[str, Any]:
    with open(os.path.join(agent_dir, SETTINGS_FILE)) as f:
        data: Dict[str, Any] = json.load(f)
    return data


def _write_json(path: str, data: Any) -> None:
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def job_script(settings: Dict[str, Any], name: str, output: str, body: str, workdir: str) -> str:
    """A batch script: ``#SBATCH`` lines (ours, then the user's), the preamble, then ``body``."""
    lines = ["#!/bin/bash",
             "#SBATCH --job-name=%s" % name,
             "#SBATCH --output=%s" % output,
             "#SBATCH --chdir=%s" % workdir,
             "#SBATCH --no-requeue"]   # a lost job comes back as the trial's next attempt, chosen by the head
    lines += ["#SBATCH %s" % arg for arg in settings.get("sbatch") or []]
    lines += ["", "# environment preamble (trainingService.preamble)"]
    lines += list(settings.get("preamble") or [])
    lines += ["", body, ""]
    return "\n".join(lines)


def trial_body(env: Dict[str, str], exit_file: str, started_file: str, trial_dir: str, workdir: str,
               shell: str = "bash") -> str:
    """The part of a trial's script that runs the command and records start and exit status."""
    q = shlex.quote
    lines = ["export %s=%s" % (k, q(v)) for k, v in sorted(env.items())]
    lines += [
        "printf '{\"node\": \"%%s\", \"job\": \"%%s\", \"time\": %%s}\\n' \"${SLURMD_NODENAME:-$(hostname)}\" "
        "\"${SLURM_JOB_ID:-}\" \"$(date +%%s%%3N)\" > %s.tmp && mv %s.tmp %s" % (q(started_file), q(started_file),
                                                                            q(started_file)),
        "cd %s || { echo 127 > %s; exit 127; }" % (q(workdir), q(exit_file)),
        "%s -c \"$NNI_REMOTE_TRIAL_COMMAND\" >>%s 2>>%s" % (shell, q(os.path.join(trial_dir, "trial.stdout")),
                                                         q(os.path.join(trial_dir, "trial.stderr"))),
        "rc=$?",
        "echo $rc > %s" % q(exit_file),
        "exit $rc",
    ]
    return "\n".join(lines)


def reason_text(info: Optional[Dict[str, str]]) -> str:
    """`` (Resources)`` for a pending job's Slurm reason; empty when Slurm gives none."""
    reason = (info or {}).get("reason") or ""
    return " (%s)" % reason if reason and reason != "None" else ""


class SlurmError(Exception):
    """A Slurm command failed; the message holds its stderr."""


class SlurmQueue:
    """Runs every Slurm command of one agent; see the module docstring. Thread-safe."""

    def __init__(self, agent_dir: str, interval: float = 1.0) -> None:
        self.dir = agent_dir
        self.interval = max(0.2, float(interval))
        self.lock = threading.Lock()
        self.jobs: Dict[str, Dict[str, str]] = {}   # job id -> {"state", "reason", "nodes"}
        self.missing: Dict[str, int] = {}            # job id -> consecutive polls without it
        self.to_cancel: Set[str] = set()
        self.calls = {"sbatch": 0, "squeue": 0, "scancel": 0}
        self.started = time.time()
        self.last_error: Optional[str] = None
        self.last_poll = 0.0
        self.wake = threading.Event()
        self.stopping = False
        self._thread: Optional[threading.Thread] = None

    # -- commands ------------------------------------------------------------
    def _run(self, kind: str, argv: List[str], timeout: float = 60) -> Tuple[int, str, str]:
        with self.lock:
            self.calls[kind] += 1
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlurmError("%s: %s" % (argv[0], exc))
        return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace").strip()

    def submit(self, script_path: str) -> str:
        """``sbatch`` one script; returns the job id."""
        rc, out, err = self._run("sbatch", ["sbatch", "--parsable", script_path])
        job = out.strip().split(";")[0]
        if rc != 0 or not job.isdigit():
            raise SlurmError("sbatch failed (exit %d): %s" % (rc, err or out.strip()))
        with self.lock:
            self.jobs[job] = {"state": "PENDING", "reason": "", "nodes": ""}
        return job

    def track(self, job: str) -> None:
        with self.lock:
            self.jobs.setdefault(job, {"state": "PENDING", "reason": "", "nodes": ""})

    def forget(self, job: str) -> None:
        with self.lock:
            self.jobs.pop(job, None)
            self.missing.pop(job, None)

    def cancel(self, job: str) -> None:
        with self.lock:
            self.to_cancel.add(job)
        self.wake.set()

    def state(self, job: str) -> Optional[Dict[str, str]]:
        """Last known ``{"state", "reason", "nodes"}`` of ``job`` (None if never tracked)."""
        with self.lock:
            info = self.jobs.get(job)
            return dict(info) if info else None

    # -- the poll loop -------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="slurm-queue", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self.stopping:
            self.wake.wait(max(0.05, self.interval - (time.time() - self.last_poll)))
            self.wake.clear()
            try:
                self.tick()
            except Exception as exc:  # never let one bad poll stop the loop
                self.last_error = repr(exc)
            time.sleep(0.05)  # coalesce bursts of wake-ups into one call

    def tick(self) -> None:
        with self.lock:
            cancel, self.to_cancel = sorted(self.to_cancel), set()
            ids = sorted(j for j, info in self.jobs.items() if info["state"] in ACTIVE_STATES)
        if cancel:
            rc, _, err = self._run("scancel", ["scancel"] + cancel)
            if rc != 0 and "Invalid job id" not in err:
                with self.lock:
                    self.to_cancel.update(cancel)   # try again next tick
                self.last_error = "scancel: %s" % err
        if ids and time.time() - self.last_poll >= self.interval * 0.95:  # a cancel may wake us sooner
            self.last_poll = time.time()
            self._poll(ids)
        self._write_stats()

    def _poll(self, ids: List[str]) -> None:
        rc, out, err = self._run("squeue", ["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T|%r|%N"])
        if rc != 0 and "Invalid job id" not in err:
            self.last_error = "squeue: %s" % err
            return   # the controller is unreachable: keep what we knew
        seen: Dict[str, Dict[str, str]] = {}
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) >= 4 and parts[0] in ids:
                seen[parts[0]] = {"state": parts[1].split()[0], "reason": parts[2], "nodes": parts[3]}
        with self.lock:
            for job in ids:
                if job in seen:
                    self.jobs[job] = seen[job]
                    self.missing.pop(job, None)
                elif job in self.jobs:
                    self.missing[job] = self.missing.get(job, 0) + 1
                    if self.missing[job] >= GONE_AFTER:
                        self.jobs[job] = {"state": GONE, "reason": "no longer known to squeue", "nodes": ""}
            self.last_error = None

    def _write_stats(self) -> None:
        with self.lock:
            stats = {"calls": dict(self.calls), "since": self.started, "now": time.time(),
                     "tracked": len(self.jobs), "interval": self.interval, "error": self.last_error}
        try:
            _write_json(os.path.join(self.dir, STATS_FILE), stats)
        except OSError:
            pass

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self.lock:
            cancel = sorted(self.to_cancel)
        if cancel:
            self._run("scancel", ["scancel"] + cancel)
        self._write_stats()
