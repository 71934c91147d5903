"""Calls from request handlers into the training service, each with a deadline.

A training service may block on I/O for as long as a machine takes to answer
(an SSH host in a partition: tens of seconds). A request thread must never
wait on that unbounded, so routes reach the service only through
:class:`ServiceGate`: the call runs on a small pool of the gate's own threads
and the request gets :class:`~nni_remote.errors.ServiceTimeout` (HTTP 504)
when the deadline passes. The abandoned call finishes (or times out inside
the service) on its pool thread. While every pool thread is busy, a new call
is answered :class:`~nni_remote.errors.ServiceBusy` (HTTP 503) at once instead
of queueing, so slow or malicious machines can never park the request threads
(docs/security.md, "Trial files").
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Optional, TypeVar

from nni_remote.errors import ServiceBusy, ServiceError, ServiceTimeout, TrialFileNotFound
from nni_remote.services.base import FileChunk, TrainingService, TrialFile, list_local_dir, read_local_chunk

T = TypeVar("T")
MAX_TRIAL_FILE = 16 * 1024 * 1024
DEADLINE = float(os.environ.get("NNI_REMOTE_SERVICE_DEADLINE", "30"))
SLOTS = 8


class ServiceGate:
    """The request side's only way into a training service (``None`` when the experiment is viewed)."""

    def __init__(self, service: Optional[TrainingService], exp_dir: str, deadline: float = DEADLINE) -> None:
        self.service = service
        self.exp_dir = exp_dir
        self.deadline = deadline
        self._pool = ThreadPoolExecutor(max_workers=SLOTS, thread_name_prefix="service-call")
        self._slots = threading.BoundedSemaphore(SLOTS)

    def call(self, what: str, fn: Callable[..., T], *args: Any, deadline: Optional[float] = None) -> T:
        """``fn(*args)`` on a pool thread; ServiceTimeout after the deadline, ServiceBusy when no thread is free."""
        if not self._slots.acquire(blocking=False):
            raise ServiceBusy(f"{what}: {SLOTS} calls into the training service are already waiting for "
                              "slow machines; try again in a moment")
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return future.result(timeout=self.deadline if deadline is None else deadline)
        except FutureTimeout:
            raise ServiceTimeout(f"{what}: the training service did not answer within "
                                 f"{self.deadline if deadline is None else deadline:g} s") from None

    # -- trial files ----------------------------------------------------------------
    def _viewed_dir(self, trial_id: str) -> str:
        return os.path.join(self.exp_dir, "trials", trial_id)

    def list_files(self, machine: str, trial_id: str) -> list[TrialFile]:
        """The files of a trial's directory; ServiceError when its machine cannot be asked."""
        what = f"listing the files of trial {trial_id} on {machine}"
        try:
            if self.service is None:
                return list_local_dir(self._viewed_dir(trial_id))
            return self.call(what, self.service.list_trial_files, machine, trial_id)
        except OSError as exc:
            raise ServiceError(f"cannot list the files of trial {trial_id} on {machine}: {exc}") from None

    def tail_file(self, machine: str, trial_id: str, name: str, size: int, start: Optional[int]) -> FileChunk:
        """Part of a trial's file; TrialFileNotFound when it does not exist (yet)."""
        try:
            if self.service is None:
                return read_local_chunk(os.path.join(self._viewed_dir(trial_id), name), size, start)
            return self.call(f"reading {name!r} of trial {trial_id}", self.service.tail_trial_file,
                             machine, trial_id, name, size, start)
        except FileNotFoundError:
            raise TrialFileNotFound(f"trial {trial_id} has no file {name!r} on {machine}") from None
        except (OSError, ValueError) as exc:
            raise ServiceError(f"cannot read {name!r} of trial {trial_id} on {machine}: {exc}") from None

    def read_file(self, machine: str, trial_id: str, name: str) -> bytes:
        """A trial's whole file (up to 16 MiB)."""
        try:
            if self.service is None:
                return read_local_chunk(os.path.join(self._viewed_dir(trial_id), name), MAX_TRIAL_FILE, 0).data
            return self.call(f"reading {name!r} of trial {trial_id}", self.service.read_trial_file,
                             machine, trial_id, name, MAX_TRIAL_FILE)
        except FileNotFoundError:
            raise TrialFileNotFound(f"trial {trial_id} has no file {name!r} on {machine}") from None
        except (OSError, ValueError) as exc:
            raise ServiceError(f"cannot read {name!r} of trial {trial_id} on {machine}: {exc}") from None

    def describe(self, machine: str) -> dict[str, Any]:
        """Extra facts about a machine; a failure is data (``describeError``), never an error answer."""
        if self.service is None:
            return {}
        try:
            return dict(self.call(f"describing {machine}", self.service.describe, machine, deadline=5.0) or {})
        except Exception as exc:  # a probe's own failure is data, not a 500
            return {"describeError": str(exc)}

    def close(self) -> None:
        self._pool.shutdown(wait=False)
