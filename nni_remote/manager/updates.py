"""Validation of live updates (``PUT /experiment?update_type=...``).

NNI stores whatever it is sent (``maxTrialNumber: "abc"`` was accepted); here
every update is checked and a bad one is refused with a message naming it.
"""
from __future__ import annotations

from typing import Any, Optional

from nni_remote.config.preflight import preflight as preflight
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
