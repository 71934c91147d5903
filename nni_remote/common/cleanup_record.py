"""The record of host cleanup that ``stop`` could not finish.

When ``stop`` cannot reach a host (partition, power cut), the trials and agent
there may run on once the host is back. The hosts whose cleanup is pending
are written to ``<experiment dir>/cleanup-pending.json`` (machine -> since,
last error, mode 0600); ``nni_remote.manager.cleanup.retry_pending`` retries
them and drops each host once its cleanup succeeded. Plain file operations:
the manager, the CLI and ``Experiment`` all read it.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any


PENDING_FILE = "cleanup-pending.json"


def pending(exp_dir: str) -> dict[str, dict[str, Any]]:
    """``{machine: {"since": epoch seconds, "error": text}}`` of hosts still to clean (empty if none)."""
    try:
        with open(os.path.join(exp_dir, PENDING_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(exp_dir: str, failures: dict[str, str], cleaned: Any = ()) -> dict[str, dict[str, Any]]:
    """Add ``failures`` (machine → error) to the record and drop ``cleaned`` machines; returns the record."""
    data = pending(exp_dir)
    for name in cleaned:
        data.pop(name, None)
    now = time.time()
    for name, error in failures.items():
        data[name] = {"since": data.get(name, {}).get("since", now), "error": error}
    path = os.path.join(exp_dir, PENDING_FILE)
    if not data:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return data
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)
    return data


def describe(data: dict[str, dict[str, Any]]) -> str:
    """One line per host: ``host: pending since HH:MM:SS (last error)``."""
    return "; ".join(f"{name}: cleanup pending since {time.strftime('%H:%M:%S', time.localtime(v.get('since', 0)))}"
                     f" ({v.get('error', '')})" for name, v in sorted(data.items()))
