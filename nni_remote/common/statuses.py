"""Trial and experiment statuses, as NNI names them (NNI-REFERENCE §2.4, §3.3)."""
from __future__ import annotations

TRIAL_TERMINAL = ("SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")
"""A trial in one of these has ended for good (only a resume re-runs a stop()-cut one)."""

TRIAL_ACTIVE = ("WAITING", "RUNNING")
"""A trial in one of these counts against ``trial_concurrency``."""

EXPERIMENT_LIVE = ("INITIALIZED", "RUNNING", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL", "DONE", "ERROR", "VIEWED",
                   "STOPPING")
"""An experiment in one of these has a manager process (the registry rewrites dead ones to STOPPED)."""

EXPERIMENT_STOPPED = "STOPPED"


def is_finished(status: str) -> bool:
    """Whether a trial status is terminal."""
    return status in TRIAL_TERMINAL
