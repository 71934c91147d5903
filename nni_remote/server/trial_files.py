"""The one way the server reads a trial's (or the manager's) files, for every route.

The portal's tail, NNI's ``trial-file`` route, the file listing and ``/logs``
all come here. Local directories are read by :func:`trial_agent.files.read_range`
(``openat`` + ``O_NOFOLLOW`` + ``O_NONBLOCK``, regular files only, bounded);
a remote trial's file is read by the same function running on its host
(``agent.pyz read`` over SSH) under a deadline. Remote reads hold a slot of a
small pool while they run: when every slot is taken the request is answered
503 at once, so slow or malicious hosts can never park all WSGI threads.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Optional

from trial_agent.files import MAX_READ, UnsafeFile, check_name, list_files, read_range

REMOTE_READ_SLOTS = 8
REMOTE_READ_TIMEOUT = 10.0
ALIASES = {"stdout": "trial.stdout", "stderr": "trial.stderr"}

_remote_slots = threading.BoundedSemaphore(REMOTE_READ_SLOTS)

__all__ = ["UnsafeFile", "Busy", "MAX_READ", "read", "listing", "read_log", "canonical_name"]


class Busy(OSError):
    """Every remote-read slot is taken: try again in a moment."""


def canonical_name(name: str) -> str:
    """The file a route's name stands for (``stdout`` → ``trial.stdout``); raises UnsafeFile for paths."""
    name = ALIASES.get(name, name)
    check_name(name)
    if name.startswith("."):
        raise UnsafeFile(f"{name!r} is hidden: only the trial's own output files are served")
    return name


def _service(manager: Any) -> Any:
    ctl = manager.controller
    return None if ctl is None else ctl.service


def _local_trial_dir(manager: Any, trial_id: str) -> str:
    return os.path.join(manager.exp_dir, "trials", trial_id)


def _remote(service: Any, machine: Optional[str]) -> bool:
    return service is not None and machine is not None and getattr(service, "platform", "local") != "local"


def _with_slot(call: Any) -> Any:
    if not _remote_slots.acquire(blocking=False):
        raise Busy(f"{REMOTE_READ_SLOTS} reads of remote trial files are already in progress; try again")
    try:
        return call()
    finally:
        _remote_slots.release()


def read(manager: Any, machine: Optional[str], trial_id: str, name: str, size: int,
         start: Optional[int] = None) -> tuple[bytes, int, int]:
    """``(data, file size, offset)`` of a trial file: the last ``size`` bytes, or from ``start``.

    Raises FileNotFoundError, UnsafeFile (a link, FIFO, device or path: never
    served), Busy, or OSError (the host did not answer within the deadline).
    """
    name = canonical_name(name)
    service = _service(manager)
    if _remote(service, machine):
        return _with_slot(lambda: service.read_trial_range(machine, trial_id, name, size, start,
                                                           timeout=REMOTE_READ_TIMEOUT))
    if service is not None and machine is not None:
        directory = service.trial_paths(machine, trial_id).trial_dir
    else:
        directory = _local_trial_dir(manager, trial_id)
    return read_range(directory, name, size, start)


def listing(manager: Any, machine: Optional[str], trial_id: str) -> list[dict[str, Any]]:
    """Name and size of each regular file in the trial's directory (links, FIFOs and hidden files left out)."""
    service = _service(manager)
    if _remote(service, machine):
        return _with_slot(lambda: service.list_trial_files(machine, trial_id, timeout=REMOTE_READ_TIMEOUT))
    if service is not None and machine is not None:
        directory = service.trial_paths(machine, trial_id).trial_dir
    else:
        directory = _local_trial_dir(manager, trial_id)
    return list_files(directory)


def read_log(manager: Any, name: str) -> bytes:
    """The last 16 MiB of one of the manager's own log files (``<exp_dir>/log/<name>``)."""
    check_name(name)
    data, _, _ = read_range(os.path.join(manager.exp_dir, "log"), name, MAX_READ)
    return data
