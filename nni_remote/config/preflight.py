"""Checks of a canonical config that need the tuning package, run before a manager starts."""
from __future__ import annotations

import ipaddress
from typing import Any

from nni_remote.errors import ConfigError


def check_manager_ip(config: Any) -> None:
    """Refuse an ``nniManagerIp`` that remote machines can never reach (a loopback address of the head)."""
    ts = getattr(config, "training_service", None)
    if getattr(ts, "platform", None) != "remote":
        return
    ip = getattr(config, "nni_manager_ip", None) or getattr(ts, "nni_manager_ip", None)
    try:
        loopback = bool(ip) and (str(ip) == "localhost" or ipaddress.ip_address(str(ip).strip("[]")).is_loopback)
    except ValueError:
        loopback = False
    if loopback:
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
