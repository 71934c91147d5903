"""Validation of live updates (``PUT /experiment?update_type=...``).

NNI stores whatever it is sent (``maxTrialNumber: "abc"`` was accepted); here
every update is checked and a bad one is refused with a message naming it.
"""
from __future__ import annotations

from typing import Any, Optional

from nni_remote.errors import ConfigError

UPDATE_FIELDS = {"TRIAL_CONCURRENCY": "trialConcurrency", "MAX_EXEC_DURATION": "maxExperimentDuration",
                 "SEARCH_SPACE": "searchSpace", "MAX_TRIAL_NUM": "maxTrialNumber"}


def duration_seconds(value: Any) -> Optional[int]:
    """A stored duration limit in seconds; None when unset (or unreadable)."""
    if value is None:
        return None
    from nni_remote.config import parse_time
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        return None


def validate_update(update_type: str, params: Any, builtin_tuner: bool = True) -> tuple[str, Any]:
    """Return (params key, checked value) for one update, or raise ConfigError.

    A search space is checked against the built-in format only for built-in
    tuners: a custom tuner may define its own.
    """
    key = UPDATE_FIELDS.get(update_type or "")
    if key is None:
        raise ConfigError([("update_type", f"must be one of {', '.join(UPDATE_FIELDS)}, got {update_type!r}")])
    if not isinstance(params, dict) or key not in params:
        raise ConfigError([(f"params.{key}", f"missing: send the profile with params.{key} set")])
    value = params[key]
    if key in ("trialConcurrency", "maxTrialNumber"):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError([(key, f"must be an integer > 0, got {value!r}")])
    elif key == "maxExperimentDuration":
        from nni_remote.config import parse_time
        try:
            seconds = parse_time(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError([(key, f"{exc}; use a number of seconds or a string like '30m', '2h'")])
        if seconds <= 0:
            raise ConfigError([(key, f"must be > 0, got {value!r}")])
    elif key == "searchSpace" and builtin_tuner:
        from nni_remote.tuning import validate_search_space
        validate_search_space(value)
    return key, value


def check_manager_ip(config: Any) -> None:
    """Refuse an ``nniManagerIp`` that remote machines can never reach (a loopback address of the head)."""
    ts = getattr(config, "training_service", None)
    if getattr(ts, "platform", None) != "remote":
        return
    ip = getattr(config, "nni_manager_ip", None) or getattr(ts, "nni_manager_ip", None)
    from nni_remote.server.access import is_loopback
    if ip and is_loopback(str(ip)):
        raise ConfigError([("nniManagerIp", f"{ip} is a loopback address of the head: the remote machines "
                            "would reach their own loopback, never the manager. Remove nniManagerIp (agents "
                            "then reach the manager through SSH tunnels) or give an address of this machine "
                            "that they can reach")])


def preflight(config: Any) -> None:
    """Checks that need the tuning package, run before a manager starts.

    The search space of a built-in tuner is validated here (a custom tuner may
    define its own format), so a bad space fails ``start()`` with the
    parameter's path instead of failing later in the manager.
    """
    from nni_remote.errors import SearchSpaceError
    from nni_remote.tuning import validate_search_space
    check_manager_ip(config)
    tuner = getattr(config, "tuner", None)
    if tuner is None or getattr(tuner, "class_name", None):
        return
    try:
        validate_search_space(config.search_space)
    except SearchSpaceError as exc:
        raise SearchSpaceError([(f"searchSpace.{p}" if p else "searchSpace", m) for p, m in exc.problems])
