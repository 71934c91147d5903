"""The reuse-mode worker: ``python3 agent.pyz slurm-worker INBOX [--idle S] [--trial-limit S]``.

Runs inside one Slurm allocation on a compute node and executes the trials the
login-node agent hands it through files in INBOX (see ``slurm_pool.py``), one
at a time, each in its own process group. It needs nothing but the shared
filesystem: no network, no head.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import time
from typing import Any, Dict, List, Optional

POLL = 0.05


def _write_json(path: str, data: Any) -> None:
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _take(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    try:
        os.unlink(path)
    except OSError:
        pass
    return data if isinstance(data, dict) else None


def _stop_group(proc: "subprocess.Popen[bytes]", grace: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            return
        deadline = time.time() + grace
        while time.time() < deadline and proc.poll() is None:
            time.sleep(POLL)
        if proc.poll() is not None:
            return


def run_task(inbox: str, task: Dict[str, Any], trial_limit: float) -> None:
    """Run one trial's script; write its exit status if the script could not."""
    _write_json(os.path.join(inbox, "current.json"), task)
    proc = subprocess.Popen(["bash", task["script"]], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + trial_limit if trial_limit else None
    while proc.poll() is None:
        kill = _take(os.path.join(inbox, "kill"))
        if kill is not None and kill.get("run_id") == task["run_id"] or os.path.exists(os.path.join(inbox, "stop")):
            _stop_group(proc)
        elif deadline is not None and time.time() > deadline:
            _write_json(os.path.join(task["state_dir"], "timeout"), {"limit_s": trial_limit, "time": time.time()})
            _stop_group(proc)
        time.sleep(POLL)
    if not os.path.exists(task["exit_file"]):
        rc = proc.returncode
        with open(task["exit_file"], "w") as f:
            f.write("%d\n" % (rc if rc >= 0 else 128 - rc))
    os.unlink(os.path.join(inbox, "current.json"))


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="trial_agent slurm-worker")
    parser.add_argument("inbox")
    parser.add_argument("--idle", type=float, default=60.0, help="exit after this many seconds without a trial")
    parser.add_argument("--trial-limit", type=float, default=0.0, help="seconds a trial may run (0: no limit)")
    args = parser.parse_args(argv)
    inbox = args.inbox
    _write_json(os.path.join(inbox, "ready.json"), {"node": os.environ.get("SLURMD_NODENAME") or socket.gethostname(),
                                                    "job": os.environ.get("SLURM_JOB_ID"), "pid": os.getpid(),
                                                    "time": time.time()})
    last = time.time()
    while not os.path.exists(os.path.join(inbox, "stop")):
        task = _take(os.path.join(inbox, "next.json"))
        if task is not None:
            run_task(inbox, task, args.trial_limit)
            last = time.time()
            continue
        if time.time() - last > args.idle:
            break
        time.sleep(POLL)
    os.unlink(os.path.join(inbox, "ready.json"))
    return 0
