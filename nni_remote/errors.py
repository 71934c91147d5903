"""The exception tree of nni-remote.

Every error the project raises on purpose derives from :class:`NniRemoteError`,
so callers can catch one root. Each class says *when* it is raised.
"""
from __future__ import annotations


class NniRemoteError(Exception):
    """Root of every error nni-remote raises on purpose."""


class ConfigError(NniRemoteError, ValueError):
    """An experiment config (or search space) is invalid.

    ``problems`` lists ``(path, message)`` pairs, one per bad field, where the
    path is the dotted camelCase location in the config (``trainingService.machineList[0].port``).
    """

    def __init__(self, problems: list[tuple[str, str]] | str) -> None:
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems = list(problems)
        lines = [f"{p}: {m}" if p else m for p, m in self.problems]
        super().__init__("invalid experiment config:\n  " + "\n  ".join(lines) if len(lines) > 1
                         else "invalid experiment config: " + lines[0])


class SearchSpaceError(ConfigError):
    """A search space is malformed; the message names the parameter and the rule broken."""


class SshError(NniRemoteError):
    """An SSH operation on a remote machine failed; ``host`` names the machine."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        super().__init__(f"{host}: {message}")


class HostUnreachable(SshError):
    """The machine could not be reached (refused, timed out, no route)."""


class AuthFailed(SshError):
    """The machine refused the credentials (password, key or passphrase)."""


class HostKeyMismatch(SshError):
    """The machine's host key is unknown or differs from known_hosts."""


class AgentLost(NniRemoteError):
    """A machine's trial agent stopped syncing and could not be reached."""


class TrialNotFound(NniRemoteError, KeyError):
    """No trial with that id exists in the experiment."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "trial not found"


class ExperimentNotFound(NniRemoteError):
    """No experiment with that id exists in the registry."""


class ExperimentNotRunning(NniRemoteError, RuntimeError):
    """An operation needs a running manager but none is reachable."""


class ReadOnlyError(NniRemoteError):
    """A mutating call was made on an experiment opened with ``view``."""


class TunerError(NniRemoteError):
    """A tuner or assessor could not be created, or failed while running."""
