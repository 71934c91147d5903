"""What identifies a machine and what a command returned (part of :mod:`nni_remote.services.ssh`).

Import these names from :mod:`nni_remote.services.ssh`, the package.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional

from ...errors import CommandFailed as CommandFailed
from ...errors import RemoteFileNotFound as RemoteFileNotFound


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a remote command returned; ``exit_code`` is -1 when it died by a signal."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _secret(value: Any) -> Optional[str]:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else str(value)


@dataclasses.dataclass
class SshTarget:
    """How to reach one machine. Build it with :meth:`from_machine` from a machine config.

    ``known_hosts`` None means ``$NNI_REMOTE_KNOWN_HOSTS``, else ``UserKnownHostsFile``
    from ssh_config, else ``~/.ssh/known_hosts`` (plus the system file for reading).
    """

    host: str
    port: int = 22
    user: Optional[str] = None
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    key_file: Optional[str] = None
    passphrase: Optional[str] = dataclasses.field(default=None, repr=False)
    known_hosts: Optional[str] = None
    accept_new_host_key: bool = False
    use_ssh_config: bool = True
    name: Optional[str] = None
    ssh_config_file: Optional[str] = None
    proxy_jump: Optional[str] = None

    @property
    def display(self) -> str:
        """The name used in logs and errors."""
        return self.name or (self.host if self.port == 22 else f"{self.host}:{self.port}")

    @classmethod
    def from_machine(cls, machine: Any, **overrides: Any) -> "SshTarget":
        """From a ``RemoteMachineConfig`` (or its camelCase/snake_case dict); ``overrides`` win."""
        def get(snake: str, camel: Optional[str] = None) -> Any:
            if isinstance(machine, Mapping):
                return machine.get(snake, machine.get(camel) if camel else None)
            return getattr(machine, snake, None)
        values: Dict[str, Any] = {
            "host": get("host"),
            "port": int(get("port") or 22),
            "user": get("user"),
            "password": _secret(get("password")),
            "key_file": get("ssh_key_file", "sshKeyFile"),
            "passphrase": _secret(get("ssh_passphrase", "sshPassphrase")),
            "known_hosts": get("known_hosts", "knownHosts"),
            "accept_new_host_key": bool(get("accept_new_host_key", "acceptNewHostKey") or False),
            "use_ssh_config": get("ssh_config", "sshConfig") is not False,
            "name": get("name"),
        }
        if values["key_file"] is not None:
            values["key_file"] = str(values["key_file"])
        values.update(overrides)
        if not values["host"]:
            raise ValueError("machine config has no host")
        return cls(**values)
