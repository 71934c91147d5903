"""The exception tree of nni-remote, and how each error crosses HTTP.

Every error the project raises on purpose derives from :class:`NniRemoteError`,
so callers can catch one root. Each class says *when* it is raised, and
carries two class attributes that are the whole exception→HTTP table:

- ``code``: a stable, machine-readable name sent in every error body
  (``{"error": message, "code": code}``);
- ``http_status``: the status the REST server answers with.

The server answers any :class:`NniRemoteError` from this table
(``server/errors.py``); the client turns a body's ``code`` back into the same
class with :func:`error_for_code`. Nothing maps by looking at message text.
"""
from __future__ import annotations

from typing import Any, ClassVar, Optional


class NniRemoteError(Exception):
    """Root of every error nni-remote raises on purpose."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500


class ConfigError(NniRemoteError, ValueError):
    """An experiment config (or search space, or request body) is invalid.

    ``problems`` lists ``(path, message)`` pairs, one per bad field, where the
    path is the dotted camelCase location in the config (``trainingService.machineList[0].port``).
    """

    code = "invalid_config"
    http_status = 400

    def __init__(self, problems: list[tuple[str, str]] | str) -> None:
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems = list(problems)
        lines = [f"{p}: {m}" if p else m for p, m in self.problems]
        super().__init__("invalid experiment config:\n  " + "\n  ".join(lines) if len(lines) > 1
                         else "invalid experiment config: " + lines[0])


class BadRequest(ConfigError):
    """A REST request's body or arguments are malformed (not an experiment config)."""

    code = "bad_request"

    def __init__(self, problems: list[tuple[str, str]] | str) -> None:
        super().__init__(problems)
        lines = [f"{p} {m}" if p else m for p, m in self.problems]
        self.args = ("; ".join(lines),)


class SearchSpaceError(ConfigError):
    """A search space is malformed; the message names the parameter and the rule broken."""

    code = "invalid_search_space"


class TunerError(ConfigError):
    """A tuner or assessor could not be created (unknown name, bad classArgs), or rejected the search space."""

    code = "tuner_error"


class UnknownPlatform(ConfigError):
    """A config names a training-service platform no registered platform provides."""

    code = "unknown_platform"


class SlurmRejected(ConfigError):
    """The cluster's ``sbatch --test-only`` refused the job options of a Slurm training service
    (bad partition, account, QOS, resources), checked when the experiment starts, before any trial is submitted."""

    code = "slurm_rejected"


class SshError(NniRemoteError):
    """An SSH operation on a remote machine failed; ``host`` names the machine."""

    code = "ssh_error"
    http_status = 502

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        super().__init__(f"{host}: {message}")


class HostUnreachable(SshError):
    """The machine could not be reached (refused, timed out, no route)."""

    code = "host_unreachable"


class AuthFailed(SshError):
    """The machine refused the credentials (password, key or passphrase)."""

    code = "auth_failed"


class HostKeyMismatch(SshError):
    """The machine's host key is unknown or differs from known_hosts."""

    code = "host_key_mismatch"


class CommandFailed(SshError):
    """``run(..., check=True)`` saw a non-zero exit status; ``result`` holds the output."""

    code = "command_failed"

    def __init__(self, host: str, command: str, result: Any) -> None:
        self.result = result
        self.command = command
        short = command if len(command) <= 120 else command[:117] + "..."
        tail = result.stderr.strip()[-500:]
        super().__init__(host, f"command exited {result.exit_code}: {short}" + (f"\n{tail}" if tail else ""))


class RemoteFileNotFound(SshError, FileNotFoundError):
    """A remote path (or its directory) does not exist."""

    code = "file_not_found"
    http_status = 404


class ProbeFailed(SshError):
    """The machine cannot run trials: no usable ``python3`` (missing, too old) or a bad ``python_path``."""

    code = "probe_failed"


class TransientSshError(NniRemoteError):
    """Wraps a :class:`HostUnreachable` worth retrying at once (refused, dropped before the greeting).

    Internal to the SSH layer: it never leaves ``services/ssh/``.
    """

    code = "transient"
    http_status = 503

    def __init__(self, error: SshError) -> None:
        super().__init__(str(error))
        self.error = error


class AgentLost(NniRemoteError):
    """A machine's trial agent stopped syncing and could not be reached."""

    code = "agent_lost"
    http_status = 503


class UnknownMachine(NniRemoteError):
    """A request (an agent's poll, re-enabling a machine) named a machine this experiment does not have."""

    code = "unknown_machine"
    http_status = 404


class MachineStateError(NniRemoteError):
    """A machine operation does not fit the machine's state (re-enabling one that is not drained)."""

    code = "machine_state"
    http_status = 409


class TrialNotFound(NniRemoteError, KeyError):
    """No trial with that id exists in the experiment."""

    code = "trial_not_found"
    http_status = 404

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "trial not found"


class TrialFileNotFound(NniRemoteError, FileNotFoundError):
    """A trial has no such file (not written yet, not started, or the name is invalid)."""

    code = "trial_file_not_found"
    http_status = 404


class TrialFileRefused(NniRemoteError):
    """A trial's file is a symbolic link, a FIFO, a device or a path: it is never served (docs/security.md)."""

    code = "trial_file_refused"
    http_status = 403


class TrialStateError(NniRemoteError):
    """A trial operation does not fit the trial's state (retrying a trial that still runs)."""

    code = "trial_state"
    http_status = 409


class BudgetExceeded(NniRemoteError):
    """A customized trial was submitted after max_trial_number was reached."""

    code = "budget_exceeded"
    http_status = 400


class ExperimentNotFound(NniRemoteError):
    """No experiment with that id exists in the registry."""

    code = "experiment_not_found"
    http_status = 404


class ExperimentNotRunning(NniRemoteError, RuntimeError):
    """An operation needs a running manager but none is reachable."""

    code = "experiment_not_running"
    http_status = 503


class ExperimentNotReady(NniRemoteError):
    """A route needs the experiment, but its config has not been posted yet."""

    code = "experiment_not_ready"
    http_status = 409

    def __init__(self, message: str = "the experiment is still initializing: "
                                      "POST /api/v1/nni/experiment with its config first") -> None:
        super().__init__(message)


class ExperimentConflict(NniRemoteError):
    """The request conflicts with the experiment's state (replacing the config of a running experiment)."""

    code = "experiment_conflict"
    http_status = 409


class ReadOnlyError(NniRemoteError):
    """A mutating call was made on an experiment opened with ``view``."""

    code = "read_only"
    http_status = 403


class AccessDenied(NniRemoteError):
    """The manager listens beyond loopback and refused a request without its access token."""

    code = "access_denied"
    http_status = 401


class Unsupported(NniRemoteError):
    """The request asks for a feature nni-remote does not provide (tensorboard tasks, cluster metadata)."""

    code = "unsupported"
    http_status = 400


class ServiceTimeout(NniRemoteError):
    """A training service did not answer a request in time (a slow or unreachable machine)."""

    code = "service_timeout"
    http_status = 504


class ServiceBusy(NniRemoteError):
    """Every slot for calls into the training service is taken (slow machines): try again in a moment."""

    code = "service_busy"
    http_status = 503


class ServiceError(NniRemoteError):
    """A training service failed to answer a request (a file could not be listed or read)."""

    code = "service_error"
    http_status = 502




class InternalError(NniRemoteError):
    """A bug: an unexpected exception, reported with its cause instead of an HTML page."""

    code = "internal"
    http_status = 500


def error_classes() -> list[type[NniRemoteError]]:
    """Every class of the tree, root first (the rows of the exception→HTTP table)."""
    out: list[type[NniRemoteError]] = []
    todo: list[type[NniRemoteError]] = [NniRemoteError]
    while todo:
        cls = todo.pop(0)
        if cls not in out:
            out.append(cls)
            todo.extend(cls.__subclasses__())
    return out


def error_for_code(code: Optional[str], message: str) -> NniRemoteError:
    """The exception a REST error body (``{"code": ..., "error": ...}``) stands for.

    SSH errors are rebuilt from a message that starts with the host
    (``"host: what failed"``); a code this version does not know gives the root class.
    """
    for cls in error_classes():
        if cls.__dict__.get("code") != code:
            continue
        if issubclass(cls, SshError):
            host, _, rest = message.partition(": ")
            if cls in (CommandFailed,):
                cls = SshError
            return cls(host, rest)
        if cls is TransientSshError:
            break
        error = cls(message)
        error.args = (message,)  # the server's text as is (ConfigError would prefix it again)
        return error
    return NniRemoteError(message)
