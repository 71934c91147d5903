"""One trial: its directory, environment, process group, metrics and exit status.

A trial runs as ``sh -c '<shell> -c "$CMD"; echo $? > exitcode'`` in a new
session (its own process group), with stdout and stderr going straight to files
in the trial directory. Nothing of the trial depends on the agent staying alive:
a restarted agent re-attaches by the recorded identity (pid, start time, boot
id; see procid.py) and keeps tailing the files from the offsets it saved.

A pid is signalled only while it is verifiably the trial's own process, and a
finished trial is never signalled. Each run carries a random marker in its
environment so processes that left its session (``setsid``, double fork) are
found and ended with it when it is killed.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from typing import Any, Dict, Optional, Tuple

from trial_agent import procid
from trial_agent.metrics import (EventSpool, FileTail, loads_or_none, metric_row, parse_metrics_file,
                                 parse_stdout_line)

WRAPPER = '"$NNI_REMOTE_SHELL" -c "$NNI_REMOTE_TRIAL_COMMAND"; rc=$?; echo $rc > "$NNI_REMOTE_EXIT_FILE"; exit $rc'
_DROPPED_ENV = ("NNI_TRIAL_COMMAND_CHANNEL", "REUSE_MODE", "MULTI_PHASE")


def _write_json(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class TrialRunner:
    """Runs and watches one trial described by a spec from the manager."""

    def __init__(self, spec: Dict[str, Any], shim_dir: Optional[str] = None) -> None:
        self.spec = spec
        self.id = spec.get("run_id") or spec["trial_id"]
        self.trial_dir = spec["trial_dir"]
        attempt = spec.get("attempt") or 0
        self.state_dir = os.path.join(self.trial_dir, ".agent" if not attempt else ".agent.%d" % attempt)
        os.makedirs(os.path.join(self.trial_dir, ".nni"), exist_ok=True)
        self.spool = EventSpool(self.state_dir)
        self.shim_dir = shim_dir
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.pid: Optional[int] = None
        self.ident: Optional[Dict[str, Any]] = None   # {"pid", "start", "boot", "mark"} as recorded in pid.json
        self.finished = self.spool.has("end")
        self.kill_deadline: Optional[float] = None
        self.kill_reason: Optional[str] = None
        offsets = self._load_offsets()
        self.stdout_tail = FileTail(os.path.join(self.trial_dir, "trial.stdout"), offsets.get("stdout", 0))
        self.metrics_tail = FileTail(os.path.join(self.trial_dir, ".nni", "metrics"), offsets.get("metrics", 0))
        self._metrics_buf = b""
        self.exit_file = os.path.join(self.state_dir, "exitcode")

    # -- persistence ---------------------------------------------------------------
    def _load_offsets(self) -> Dict[str, Any]:
        """How far the trial's output was read: recorded in the spool with the events (an agent before
        that kept ``offsets.json``)."""
        if self.spool.offsets:
            return self.spool.offsets
        try:
            with open(os.path.join(self.state_dir, "offsets.json")) as f:
                offsets: Dict[str, Any] = json.load(f)
                return offsets
        except (OSError, ValueError):
            return {}

    def _offsets(self) -> Dict[str, int]:
        return {"stdout": self.stdout_tail.offset - len(self.stdout_tail._pending),
                "metrics": self.metrics_tail.offset - len(self._metrics_buf)}

    # -- start / attach -----------------------------------------------------------
    def _environment(self) -> Dict[str, str]:
        env = dict(os.environ)
        for key in _DROPPED_ENV:
            env.pop(key, None)
        spec = self.spec
        env.update({
            "NNI_PLATFORM": spec.get("platform", "local"),
            "NNI_EXP_ID": spec["experiment_id"],
            "NNI_TRIAL_JOB_ID": spec["trial_id"],      # the id REST and the tuner use, on every attempt
            "NNI_REMOTE_TRIAL_ATTEMPT": str((spec.get("attempt") or 0) + 1),
            "NNI_SYS_DIR": self.trial_dir,
            "NNI_OUTPUT_DIR": self.trial_dir,
            "NNI_TRIAL_SEQ_ID": str(spec.get("sequence_id", -1)),
            "NNI_CODE_DIR": spec["working_dir"],
            "NNI_REMOTE_TRIAL_COMMAND": spec["command"],
            "NNI_REMOTE_EXIT_FILE": self.exit_file,
            "NNI_REMOTE_SHELL": shutil.which("bash") or "/bin/sh",
        })
        mark = (self.ident or {}).get("mark")
        if mark:
            env[procid.MARK_VAR] = mark
        if spec.get("gpus") is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec["gpus"])
        if self.shim_dir and not spec.get("no_shim"):
            old = env.get("PYTHONPATH")
            env["PYTHONPATH"] = self.shim_dir + (os.pathsep + old if old else "")
        env.update({k: str(v) for k, v in (spec.get("env") or {}).items()})
        return env

    def prepare(self) -> None:
        """Write parameter.cfg and the spec; skip output of earlier attempts (a re-run appends)."""
        with open(os.path.join(self.trial_dir, "parameter.cfg"), "w", encoding="utf-8") as f:
            f.write(self.spec["parameter"])
        _write_json(os.path.join(self.state_dir, "spec.json"), self.spec)
        for tail in (self.stdout_tail, self.metrics_tail):
            try:
                tail.offset = os.path.getsize(tail.path)
            except OSError:
                tail.offset = 0

    def start(self) -> None:
        """Write parameter.cfg, start the process group, record RUNNING."""
        self.prepare()
        mark = secrets.token_hex(12)
        self.ident = {"mark": mark}
        stdout = open(os.path.join(self.trial_dir, "trial.stdout"), "ab")
        stderr = open(os.path.join(self.trial_dir, "trial.stderr"), "ab")
        try:
            self.proc = subprocess.Popen(
                ["/bin/sh", "-c", WRAPPER], cwd=self.spec["working_dir"], env=self._environment(),
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)
        except OSError as exc:
            self.spool.append({"type": "end", "exit_code": None, "time": _now_ms(),
                               "error": "cannot start trial in %s: %s" % (self.spec["working_dir"], exc)})
            self.finished = True
            return
        finally:
            stdout.close()
            stderr.close()
        self.pid = self.proc.pid
        self.ident = procid.identity(self.pid, mark)
        _write_json(os.path.join(self.state_dir, "pid.json"), self.ident)
        self.spool.append({"type": "status", "status": "RUNNING", "pid": self.pid, "time": _now_ms()})

    def attach(self) -> bool:
        """Re-attach to a trial started by an earlier agent; True if it is known."""
        try:
            with open(os.path.join(self.state_dir, "pid.json")) as f:
                info = json.load(f)
        except (OSError, ValueError):
            return False
        self.ident = info
        self.pid = info.get("pid")
        if self.finished or not procid.is_same(info):
            self.pid = None  # finished, gone, or the pid now belongs to someone else: never signal it
        return True

    # -- watching ----------------------------------------------------------------
    def _alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and procid.is_same(self.ident)

    def collect(self) -> bool:
        """Turn new trial output into events; returns True if anything was added."""
        records = [r for r in map(parse_stdout_line, self.stdout_tail.lines()) if r is not None]
        data = self.metrics_tail.read_new()
        if data:
            more, self._metrics_buf = parse_metrics_file(self._metrics_buf + data)
            records.extend(more)
        now = _now_ms()
        events = [e for e in (_metric_event(r, now) for r in records) if e is not None]
        self.spool.extend(events, self._offsets())  # one write: the events and how far the output was read
        return bool(events)

    def poll(self) -> bool:
        """Collect output, enforce a pending kill, and detect the end. True if events were added."""
        if self.finished:
            return False
        added = self.collect()
        if self._alive():
            if self.kill_deadline is not None and time.time() >= self.kill_deadline:
                self._signal(signal.SIGKILL)
                self.kill_deadline = time.time() + 5
            return added
        self.collect()
        exit_code, sig = None, None
        if self.proc is not None:
            rc = self.proc.returncode
            exit_code, sig = (rc, None) if rc >= 0 else (None, -rc)
        try:
            with open(self.exit_file) as f:
                exit_code = int(f.read().strip())
        except (OSError, ValueError):
            pass
        if exit_code is not None and exit_code > 128 and self.kill_reason:
            sig, exit_code = exit_code - 128, None
        event = {"type": "end", "exit_code": exit_code, "signal": sig, "time": _now_ms()}
        if self.kill_reason:
            event["killed"] = self.kill_reason
            self._end_escaped(signal.SIGKILL)  # daemons it left behind end with it
        self.spool.append(event)
        self.finished = True
        return True

    def kill(self, reason: str = "user", grace: float = 5.0) -> None:
        """SIGTERM the trial's process group now, SIGKILL after ``grace`` seconds."""
        if self.finished:
            return
        self.kill_reason = reason
        self._signal(signal.SIGTERM)
        self.kill_deadline = time.time() + grace

    def _signal(self, sig: int) -> None:
        """Signal the trial's process group (leader verified first) and every process carrying its marker."""
        if self.finished:
            return
        if self.pid is not None and self.ident:
            procid.signal_if_same(self.ident, sig, group=True)
        self._end_escaped(sig)

    def _end_escaped(self, sig: int) -> None:
        mark = (self.ident or {}).get("mark")
        if mark:
            procid.end_members(marks=[mark], sig=sig)

    @property
    def state(self) -> str:
        return "done" if self.finished else "running"


def _metric_event(text: str, now: int) -> Optional[Tuple[str, str, str]]:
    """One trial record as a spool entry (see ``EventSpool.extend``); None for REQUEST_PARAMETER
    (parameter.cfg is written before start).

    A FINAL or PERIODICAL record travels as a compact row (``metric_row``: its
    value stays the trial's JSON text, decoded once, by the manager). Any other
    readable record travels parsed (``record``); an unreadable one as text
    (``metric``) for the manager to report.
    """
    record = loads_or_none(text)
    if not isinstance(record, dict):
        return _object_entry({"type": "metric", "metric": text, "time": now})
    if record.get("type") == "REQUEST_PARAMETER":
        return None
    row = metric_row(record)
    return row if row is not None else _object_entry({"type": "metric", "record": record, "time": now})


def _object_entry(event: Dict[str, Any]) -> Tuple[str, str, str]:
    """An event object as a spool entry: its JSON text with ``"seq"`` last."""
    return event["type"], json.dumps(event)[:-1] + ', "seq": ', "}"


def _now_ms() -> int:
    return int(time.time() * 1000)
