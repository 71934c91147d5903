"""All SSH traffic of nni-remote goes through this package (paramiko underneath).

Its one public face is this module: import every name from
``nni_remote.services.ssh``. The private modules behind it are
``_connection`` (:class:`SshConnection`: commands, SFTP, reconnects, limits),
``_transport`` (one authenticated transport, TCP_NODELAY, retries),
``_auth`` (keys, agent, ``~/.ssh/config``, known_hosts), ``_forward``
(reverse tunnels), ``_probe`` (what a machine offers) and ``_target`` (what
identifies a machine). Nothing outside this package imports them.
"""
from ._connection import MAX_CHANNELS as MAX_CHANNELS
from ._connection import MAX_CONNECTS_PER_HOST as MAX_CONNECTS_PER_HOST
from ._connection import SshConnection as SshConnection
from ._connection import connect_all as connect_all
from ._probe import ProbeResult as ProbeResult
from ._probe import probe as probe
from ._target import RunResult as RunResult
from ._target import SshTarget as SshTarget
from ...errors import AuthFailed as AuthFailed
from ...errors import CommandFailed as CommandFailed
from ...errors import HostKeyMismatch as HostKeyMismatch
from ...errors import HostUnreachable as HostUnreachable
from ...errors import ProbeFailed as ProbeFailed
from ...errors import RemoteFileNotFound as RemoteFileNotFound
from ...errors import SshError as SshError

__all__ = [
    "SshTarget", "SshConnection", "RunResult", "CommandFailed", "RemoteFileNotFound",
    "connect_all", "probe", "ProbeResult", "ProbeFailed", "MAX_CHANNELS", "MAX_CONNECTS_PER_HOST",
    "SshError", "HostUnreachable", "AuthFailed", "HostKeyMismatch",
]
