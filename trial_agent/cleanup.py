"""One-shot checks run on a worker by the manager and by ``stop``.

``python3 agent.pyz alive --dir AGENT_DIR``
    exit 0 if the agent recorded in ``AGENT_DIR/agent.pid`` still runs (same
    pid, start time and boot: a recycled pid is not our agent), else 1.

``python3 agent.pyz cleanup --exp-dir EXP_DIR``
    end everything the experiment left on this machine: mark the experiment
    stopped (a running agent that sees the mark ends its trials and exits), end
    the verified agent, the process group of every *unfinished* run whose
    leader is verified, and every process carrying a run's marker (daemonised
    trials); remove ``head.json``. Prints one JSON line: what was ended and the
    pids still left (none on success). Exit 0 when nothing is left, else 1.
"""
from __future__ import annotations

import glob
import json
import os
import signal
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from trial_agent import procid

STOPPED = "stopped"


def agent_alive(agent_dir: str) -> bool:
    return procid.is_same(procid.read_identity(os.path.join(agent_dir, "agent.pid")))


def _runs(exp_dir: str) -> Iterator[Tuple[procid.Identity, bool]]:
    """(identity, finished) of every run recorded under ``exp_dir/trials``."""
    for path in glob.glob(os.path.join(exp_dir, "trials", "*", ".agent*", "pid.json")):
        info = procid.read_identity(path)
        if not info:
            continue
        finished = False
        try:
            with open(os.path.join(os.path.dirname(path), "events.jsonl"), encoding="utf-8") as f:
                finished = any('"type": "end"' in line for line in f)
        except OSError:
            pass
        yield info, finished


def cleanup(exp_dir: str, agent_dir: Optional[str] = None, wait: float = 10.0) -> Dict[str, Any]:
    """End the experiment's agent and trials on this machine; returns a report (see module docstring).

    ``agent_dir`` defaults to ``exp_dir/agent`` (the remote layout); trials are under ``exp_dir/trials``.
    """
    agent_dir = agent_dir or os.path.join(exp_dir, "agent")
    report: Dict[str, Any] = {"agent": False, "groups": 0, "marked": 0, "left": []}
    if os.path.isdir(agent_dir):
        fd = os.open(os.path.join(agent_dir, STOPPED), os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    agent = procid.read_identity(os.path.join(agent_dir, "agent.pid"))
    if agent and procid.signal_if_same(agent, signal.SIGKILL):
        report["agent"] = True
    launched = procid.read_identity(os.path.join(agent_dir, "launch.pid"))  # started, maybe not yet recorded
    if launched and procid.signal_if_argv(int(launched["pid"]), os.path.abspath(agent_dir), signal.SIGKILL):
        report["agent"] = True
    runs = list(_runs(exp_dir))
    marks = [info.get("mark") for info, _ in runs if info.get("mark")]
    for info, finished in runs:
        if not finished and procid.signal_if_same(info, signal.SIGKILL, group=True):
            report["groups"] += 1
    deadline = time.time() + wait
    while True:
        report["marked"] += procid.end_members(marks=marks, sig=signal.SIGKILL)
        left = procid.find_members(marks=marks)
        if agent and procid.is_same(agent):
            left.append(int(agent["pid"]))
        if not left or time.time() > deadline:
            break
        time.sleep(0.1)
    report["left"] = left
    for name in ("head.json", "launch.pid"):
        try:
            os.unlink(os.path.join(agent_dir, name))
        except OSError:
            pass
    return report


def main(argv: List[str]) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="agent.pyz " + argv[0])
    if argv[0] == "alive":
        parser.add_argument("--dir", required=True)
        args = parser.parse_args(argv[1:])
        return 0 if agent_alive(args.dir) else 1
    parser.add_argument("--exp-dir", required=True)
    args = parser.parse_args(argv[1:])
    report = cleanup(args.exp_dir)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0 if not report["left"] else 1
