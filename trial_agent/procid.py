"""Process identity: a pid in a file is a hint, never an identity.

Pids wrap within minutes on a busy host, so every pid the agent (or ``stop``)
recorded is checked before it is trusted or signalled: the process must still
exist, not be a zombie, and have the recorded start time (``/proc/<pid>/stat``
field 22) and boot id (``/proc/sys/kernel/random/boot_id``). Where the kernel
has pidfds (Linux >= 5.3, Python >= 3.9) a signal goes through a pidfd opened
*before* the check, so the process checked is the process signalled.

Trials that leave their session (``setsid``, double fork) are found by the
marker the agent puts in each trial's environment (``NNI_REMOTE_RUN_MARK``, a
random token recorded beside the pid): a process whose environment carries a
trial's token is that trial's. Where ``/proc`` is absent (macOS, BSD) the same
checks use ``ps``.

Stdlib only (see README.md).
"""
from __future__ import annotations

import os
import signal
import subprocess
from typing import Any, Dict, Iterable, List, Optional, Set

Identity = Dict[str, Any]

MARK_VAR = "NNI_REMOTE_RUN_MARK"
_PROC = "/proc"


def boot_id() -> Optional[str]:
    """This boot's id (Linux), or None where the kernel does not say."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _stat(pid: int) -> Optional[List[str]]:
    """Fields of /proc/<pid>/stat after the command name, or None if the process is gone."""
    try:
        with open("%s/%d/stat" % (_PROC, pid)) as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError):
        return None


def _ps(pid: int, column: str) -> Optional[str]:
    try:
        out = subprocess.run(["ps", "-o", column + "=", "-p", str(int(pid))], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def start_time(pid: int) -> Optional[str]:
    """Start time of a live, non-zombie ``pid`` (clock ticks after boot, as text); None if gone."""
    if os.path.isdir(_PROC):
        fields = _stat(pid)
        if not fields or fields[0] in ("Z", "X"):
            return None
        return fields[19]
    state = _ps(pid, "stat")
    if state is None or state.startswith("Z"):
        return None
    return _ps(pid, "lstart")


def identity(pid: int, mark: Optional[str] = None) -> Identity:
    """What to record about a process we started, to recognise it later."""
    info = {"pid": pid, "start": start_time(pid), "boot": boot_id()}
    if mark:
        info["mark"] = mark
    return info


def is_same(info: Optional[Identity]) -> bool:
    """Whether the process recorded as ``info`` still runs (same pid, start time and boot)."""
    if not info or not info.get("pid") or not info.get("start"):
        return False
    if info.get("boot") and boot_id() and info["boot"] != boot_id():
        return False
    return bool(start_time(int(info["pid"])) == info["start"])


def read_identity(path: str) -> Optional[Identity]:
    """An identity recorded in ``path`` (JSON); a bare pid (old agents) yields no start time."""
    import json
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, int):
        return {"pid": data, "start": None}
    return data if isinstance(data, dict) else None


def _pidfd(pid: int) -> Optional[int]:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


def _send(pid: int, fd: Optional[int], sig: int) -> bool:
    try:
        if fd is not None and hasattr(signal, "pidfd_send_signal"):
            signal.pidfd_send_signal(fd, sig)
        else:
            os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError, OSError):
        return False


def signal_if_same(info: Identity, sig: int, group: bool = False) -> bool:
    """Signal the recorded process (or its process group) only if it is still the same one.

    Returns True if a signal was sent. With ``group``, the group is signalled
    only while its leader is verified; members of a group whose leader is gone
    are found by :func:`find_members` instead.
    """
    pid = int(info.get("pid") or 0)
    if pid <= 1:
        return False
    fd = _pidfd(pid)
    try:
        if not is_same(info):
            return False
        if group:
            try:
                os.killpg(pid, sig)  # the leader is alive and ours: its pid cannot be another group's
                return True
            except (ProcessLookupError, PermissionError):
                return False
        return _send(pid, fd, sig)
    finally:
        if fd is not None:
            os.close(fd)


def signal_if_argv(pid: int, needle: str, sig: int) -> bool:
    """Signal ``pid`` only if one of its arguments is ``needle`` (a just-started agent names its directory).

    For a process whose identity was not recorded yet; checked through a pidfd
    opened first. Returns True if a signal was sent.
    """
    if pid <= 1:
        return False
    fd = _pidfd(pid)
    try:
        try:
            with open("%s/%d/cmdline" % (_PROC, pid), "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            return False
        if needle.encode() not in argv or start_time(pid) is None:
            return False
        return _send(pid, fd, sig)
    finally:
        if fd is not None:
            os.close(fd)


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open("%s/%d/environ" % (_PROC, pid), "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def _all_pids() -> Optional[List[int]]:
    if os.path.isdir(_PROC):
        return [int(n) for n in os.listdir(_PROC) if n.isdigit()]
    return None


def find_members(marks: Iterable[Optional[str]] = (), sessions: Iterable[int] = ()) -> List[int]:
    """Pids whose environment carries one of ``marks`` or whose session/group is one of ``sessions``.

    ``sessions`` may only name session or group ids whose leader was verified
    (or is known to be a live group: a pid stays reserved while a group or
    session uses it). Our own pid is never returned.
    """
    needles = [("%s=%s" % (MARK_VAR, m)).encode() for m in marks if m]
    sessions = {int(s) for s in sessions if s}
    me = os.getpid()
    found = []
    pids = _all_pids()
    if pids is None:
        return _find_members_ps(needles, sessions, me)
    for pid in pids:
        if pid == me:
            continue
        fields = _stat(pid)
        if not fields or fields[0] in ("Z", "X"):
            continue
        pgid, sid = int(fields[2]), int(fields[3])
        if pgid in sessions or sid in sessions or (needles and any(_environ_has(pid, n) for n in needles)):
            found.append(pid)
    return found


def _find_members_ps(needles: List[bytes], sessions: Set[int], me: int) -> List[int]:
    try:
        out = subprocess.run(["ps", "-A", "-wwE", "-o", "pid=,pgid=,sess=,command="], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        pid, pgid, sid = int(parts[0]), int(parts[1]), int(parts[2]) if parts[2].isdigit() else -1
        rest = parts[3] if len(parts) > 3 else b""
        if pid != me and (pgid in sessions or sid in sessions or any(n in rest for n in needles)):
            found.append(pid)
    return found


def end_members(marks: Iterable[Optional[str]] = (), sessions: Iterable[int] = (),
                sig: int = signal.SIGKILL) -> int:
    """Signal every process :func:`find_members` finds, re-checking each through a pidfd; returns how many."""
    needles = [("%s=%s" % (MARK_VAR, m)).encode() for m in marks if m]
    sessions = {int(s) for s in sessions if s}
    sent = 0
    for pid in find_members(marks, sessions):
        fd = _pidfd(pid)
        try:
            if fd is not None:  # re-check: the pid we listed is the process behind this fd
                fields = _stat(pid)
                if not fields or not (int(fields[2]) in sessions or int(fields[3]) in sessions
                                      or any(_environ_has(pid, n) for n in needles)):
                    continue
            sent += _send(pid, fd, sig)
        finally:
            if fd is not None:
                os.close(fd)
    return sent
