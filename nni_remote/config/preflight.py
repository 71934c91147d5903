"""Checks of a canonical config that need the tuning package, run before a manager starts."""
from __future__ import annotations

from typing import Any


def preflight(config: Any) -> None:
    """Checks that need the tuning package, run before a manager starts.

    The search space of a built-in tuner is validated here (a custom tuner may
    define its own format), so a bad space fails ``start()`` with the
    parameter's path instead of failing later in the manager.
    """
    from nni_remote.errors import SearchSpaceError
    from nni_remote.tuning import validate_search_space
    tuner = getattr(config, "tuner", None)
    if tuner is None or getattr(tuner, "class_name", None):
        return
    try:
        validate_search_space(config.search_space)
    except SearchSpaceError as exc:
        raise SearchSpaceError([(f"searchSpace.{p}" if p else "searchSpace", m) for p, m in exc.problems])
