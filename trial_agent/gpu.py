"""GPU inventory from ``nvidia-smi`` (a host without it simply has no GPUs)."""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional

QUERY = "index,uuid,memory.used,memory.total,utilization.gpu"


def query_gpus(timeout: float = 10.0) -> Optional[List[Dict[str, Any]]]:
    """Return a list of GPU dicts, or None when nvidia-smi is absent or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=" + QUERY, "--format=csv,noheader,nounits"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout,
                             universal_newlines=True, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    gpus: Dict[str, Dict[str, Any]] = {}
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5:
            continue
        try:
            gpus[parts[1]] = {"index": int(parts[0]), "uuid": parts[1], "memory_used": _num(parts[2]),
                              "memory_total": _num(parts[3]), "utilization": _num(parts[4]),
                              "processes": []}
        except ValueError:
            continue
    try:
        procs = subprocess.run([exe, "--query-compute-apps=gpu_uuid,pid,used_memory",
                                "--format=csv,noheader,nounits"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, timeout=timeout, universal_newlines=True).stdout
    except (OSError, subprocess.SubprocessError):
        procs = ""
    for line in procs.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0] in gpus:
            pid = int(parts[1]) if parts[1].isdigit() else None
            gpus[parts[0]]["processes"].append({"pid": pid, "user": _owner(pid),
                                               "memory": _num(parts[2]) if len(parts) > 2 else None})
    return sorted(gpus.values(), key=lambda g: g["index"])


def _num(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def _owner(pid: Optional[int]) -> Optional[str]:
    if pid is None:
        return None
    try:
        import pwd
        return pwd.getpwuid(os.stat("/proc/%d" % pid).st_uid).pw_name
    except (OSError, KeyError, ImportError):
        return None


class GpuMonitor:
    """Polls nvidia-smi in the background; ``latest()`` is the last reading."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._latest: Optional[List[Dict[str, Any]]] = None

    def latest(self) -> Optional[List[Dict[str, Any]]]:
        return self._latest

    def start(self) -> None:
        self._latest = query_gpus()
        if self._latest is None and shutil.which("nvidia-smi") is None:
            return  # no GPUs on this host: nothing to poll
        threading.Thread(target=self._loop, name="gpu", daemon=True).start()

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            self._latest = query_gpus()
