"""The registry of all experiments: ``~/nni-experiments/.experiment``, NNI's format.

A JSON object keyed by experiment id (NNI-REFERENCE §2.7). Writers hold NNI's
lock scheme: create ``.experiment.lock.<pid>`` exclusively and treat another
``.experiment.lock.*`` younger than 2 s as held, so NNI's own tools and ours
can share the file. Readers rewrite entries whose manager pid is dead to
``STOPPED``.
"""
from __future__ import annotations

import glob
import json
import os
import time
from contextlib import contextmanager
from typing import Any, Iterator, cast

import psutil



def registry_path() -> str:
    return os.path.join(os.path.expanduser("~"), "nni-experiments", ".experiment")


@contextmanager
def _locked(path: str) -> Iterator[None]:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    mine = f"{path}.lock.{os.getpid()}"
    deadline = time.time() + 10
    while True:
        others = [p for p in glob.glob(path + ".lock.*") if p != mine]
        fresh = [p for p in others if _age(p) < 2.0]
        if not fresh:
            try:
                fd = os.open(mine, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                os.close(fd)
                break
            except FileExistsError:
                pass
        if time.time() > deadline:  # a crashed writer's lock: take over
            break
        time.sleep(0.01)
    try:
        yield
    finally:
        try:
            os.unlink(mine)
        except OSError:
            pass


def _age(path: str) -> float:
    try:
        return time.time() - os.path.getmtime(path)
    except OSError:
        return 1e9


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=4)
    os.replace(tmp, path)


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        return cast("bool", proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def all_entries(path: str | None = None) -> dict[str, dict[str, Any]]:
    """Every entry, with dead managers' entries fixed to STOPPED."""
    path = path or registry_path()
    data = _read(path)
    stale = [k for k, v in data.items() if v.get("status") != "STOPPED" and not _pid_alive(v.get("pid"))]
    if stale:
        with _locked(path):
            data = _read(path)
            for key in stale:
                if key in data and not _pid_alive(data[key].get("pid")):
                    data[key]["status"] = "STOPPED"
                    data[key].pop("port", None)
            _write(path, data)
    return data


def get_entry(exp_id: str, path: str | None = None) -> dict[str, Any] | None:
    return all_entries(path).get(exp_id)


def update_entry(exp_id: str, path: str | None = None, **fields: Any) -> dict[str, Any]:
    """Create or update one entry; returns it."""
    path = path or registry_path()
    with _locked(path):
        data = _read(path)
        entry = data.setdefault(exp_id, {"id": exp_id, "port": None, "startTime": int(time.time() * 1000),
                                         "endTime": "N/A", "status": "INITIALIZED", "platform": "local",
                                         "experimentName": None, "tag": [], "pid": None, "webuiUrl": [],
                                         "logDir": None, "prefixUrl": None})
        entry.update(fields)
        _write(path, data)
        return dict(entry)


def remove_entry(exp_id: str, path: str | None = None) -> None:
    path = path or registry_path()
    with _locked(path):
        data = _read(path)
        data.pop(exp_id, None)
        _write(path, data)
