"""The agent boundary: which machine a request comes from, and what that machine may report.

Each machine gets its own credential (:class:`MachineCredentials`), written to
that machine's ``head.json`` only, so a trial that reads it can speak for its own
machine and no other. The agent routes resolve the credential to a machine
name; the hub then accepts a poll only for that machine and events only for
runs currently placed there (:func:`owns_run`), and keeps impossible times out
of the store (:func:`plausible_time`). See docs/security.md, "The agent endpoint".
"""
from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from typing import Any, Optional

log = logging.getLogger("nni_remote.agents")

FUTURE_SLACK_MS = 5 * 60 * 1000       # a host clock ahead of the head's by more than this is not believed


class MachineCredentials:
    """One random bearer token per machine name, made on first use; thread-safe."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def token_for(self, machine: str) -> str:
        """The credential of ``machine`` (the same for the lifetime of this manager process)."""
        with self._lock:
            token = self._tokens.get(machine)
            if token is None:
                token = self._tokens[machine] = secrets.token_urlsafe(32)
            return token

    def machine_for(self, given: str) -> Optional[str]:
        """The machine whose credential ``given`` is, or None. Compares every token in constant time."""
        found = None
        data = given.encode("utf-8", "replace")
        with self._lock:
            items = list(self._tokens.items())
        for machine, token in items:
            if hmac.compare_digest(data, token.encode()) and found is None:
                found = machine
        return found


def owns_run(trial: Any, machine: str) -> bool:
    """Whether ``trial`` (the run an event names) is placed on ``machine`` now."""
    return trial is not None and trial.machine == machine and bool(trial.sent)


def plausible_time(value: Any, *, not_before: Optional[int], what: str, trial_id: str) -> int:
    """An agent's timestamp (ms) if it can be true, else the head's clock now.

    Refused: not a number, before ``not_before`` (a start before the trial was
    submitted, an end before it started: a negative duration), or further in the
    future than host clocks drift. The event itself is kept: its time is replaced.
    """
    now = int(time.time() * 1000)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if value is not None:
            log.warning("trial %s: %s time %.40r is not a number; the head's clock is used", trial_id, what, value)
        return max(now, not_before or 0)
    when = int(value)
    if (not_before is not None and when < not_before) or when > now + FUTURE_SLACK_MS:
        log.warning("trial %s: impossible %s time %d (not before %s, now %d); the head's clock is used",
                    trial_id, what, when, not_before, now)
        return max(now, not_before or 0)
    return when
