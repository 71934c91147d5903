"""Opening one authenticated paramiko transport (part of :mod:`nni_remote.services.ssh`).

TCP with ``TCP_NODELAY`` (paramiko never sets it: ~45 ms per command without),
keepalive and ``TCP_USER_TIMEOUT`` so a dead peer fails the socket; the SSH
handshake; the host-key check; the login. Connect attempts per host are
limited process-wide (sshd ``MaxStartups`` drops parallel logins beyond 10).
Errors are classified: :class:`Transient` wraps failures worth an immediate
retry (refused, dropped before the greeting).
"""
from __future__ import annotations

import errno
import logging
import random
import socket
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple, cast

import paramiko

from ...errors import HostKeyMismatch, HostUnreachable
from ...errors import TransientSshError as Transient
from . import _auth as ssh_auth
from ._target import SshTarget

#: How often a connection's reader thread wakes when nothing arrives (paramiko checks its keepalive and
#: whether it was closed then; a close never waits for it).
IDLE_WAKE = 1.0
_JITTER = random.Random()   # our own: never the global generator (tests with hypothesis watch it)

log = logging.getLogger("nni_remote.ssh")

MAX_CONNECTS_PER_HOST = 10  # OpenSSH MaxStartups 10:30:100 starts dropping beyond 10

_limiters: Dict[Tuple[str, int], threading.BoundedSemaphore] = {}
_limiters_lock = threading.Lock()


def host_limiter(hostname: str, port: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore bounding parallel connects to ``hostname:port``."""
    with _limiters_lock:
        sem = _limiters.get((hostname, port))
        if sem is None:
            sem = _limiters[(hostname, port)] = threading.BoundedSemaphore(MAX_CONNECTS_PER_HOST)
        return sem


def backoff_delay(attempt: int, base: float = 0.2, cap: float = 10.0) -> float:
    """Exponential backoff with jitter: about ``base * 2**attempt``, randomised by +-50 %."""
    return cast("float", min(cap, base * (2 ** attempt)) * _JITTER.uniform(0.5, 1.5))


def first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text and text.strip() else ""


def open_transport(target: SshTarget, name: str, timeout: float, keepalive: float,
                   open_jump: Callable[[ssh_auth.Resolved, float], Any]) -> Tuple[paramiko.Transport, Any]:
    """Connect, check the host key, log in. Returns (transport, proxy process or None).

    ``open_jump(resolved, timeout)`` gives a channel to tunnel through when
    ssh_config names a ProxyJump.
    """
    r = ssh_auth.resolve(target)
    started = time.monotonic()
    limiter = host_limiter(r.hostname, r.port)
    if not limiter.acquire(timeout=timeout):
        raise HostUnreachable(name, f"{MAX_CONNECTS_PER_HOST} connects to this host already in progress")
    try:
        proxy = None
        if r.proxy_jump:
            sock = open_jump(r, timeout)
        elif r.proxy_command:
            try:
                sock = proxy = paramiko.ProxyCommand(r.proxy_command)
            except Exception as exc:
                raise HostUnreachable(name, f"ProxyCommand failed to start: {exc}") from None
        else:
            sock = open_socket(name, r, timeout, keepalive)
        transport = paramiko.Transport(sock)
        sock.settimeout(IDLE_WAKE)   # paramiko's reader wakes 10x a second by default, 64 hosts: 640 wakes/s
        try:
            transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = timeout
            known_types = ssh_auth.known_key_types(r)
            if known_types:  # ask for a key type known_hosts has, like ssh does
                options = transport.get_security_options()
                preferred = [k for k in options.key_types if k in known_types]
                options.key_types = preferred + [k for k in options.key_types if k not in known_types]
            handshake(name, transport, timeout)
            ssh_auth.check_host_key(name, r, transport.get_remote_server_key(), target.accept_new_host_key)
            ssh_auth.authenticate(transport, target, r, name)
        except BaseException:
            transport.close()
            raise
        transport.set_keepalive(max(1, int(round(keepalive))))
        log.debug("%s: connected as %s to %s:%d in %.1f ms", name, r.user, r.hostname, r.port,
                  (time.monotonic() - started) * 1000)
        return transport, proxy
    finally:
        limiter.release()


def handshake(name: str, transport: paramiko.Transport, timeout: float) -> None:
    """SSH version exchange and key exchange, with errors classified."""
    started = time.monotonic()
    try:
        transport.start_client(timeout=timeout)
    except paramiko.SSHException as exc:
        text = str(exc)
        low = text.lower()
        if time.monotonic() - started >= 0.9 * timeout:
            raise HostUnreachable(name, f"no SSH greeting within {timeout:g} s") from None
        if "banner" in low or "eof" in low or "reset" in low:
            raise Transient(HostUnreachable(name, (
                "the connection was dropped before the SSH greeting (sshd busy with other "
                f"logins, MaxStartups, or not an SSH server): {first_line(text)}"))) from None
        if "no acceptable host key" in low or ("incompatible" in low and "host key" in low):
            raise HostKeyMismatch(name, f"the host offers no host key type that known_hosts has: {text}")
        raise HostUnreachable(name, f"SSH handshake failed: {first_line(text)}") from None
    except (EOFError, ConnectionError) as exc:
        raise Transient(HostUnreachable(name, f"connection closed during SSH handshake ({exc!r})")) from None
    except socket.timeout:
        raise HostUnreachable(name, f"no SSH greeting within {timeout:g} s") from None


def open_socket(name: str, r: ssh_auth.Resolved, timeout: float, keepalive: float) -> socket.socket:
    """A connected TCP socket with TCP_NODELAY, keepalive and TCP_USER_TIMEOUT."""
    try:
        infos = socket.getaddrinfo(r.hostname, r.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise HostUnreachable(name, f"cannot resolve host name {r.hostname!r}: {exc.strerror}") from None
    error: Optional[Exception] = None
    for family, kind, proto, _canon, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else ~45 ms per command
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if hasattr(socket, "TCP_USER_TIMEOUT"):  # unacknowledged data fails the socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(max(3 * keepalive, 10.0) * 1000))
            sock.connect(address)
            return sock
        except ConnectionRefusedError:
            sock.close()
            error = Transient(HostUnreachable(name, f"connection refused on port {r.port} (sshd not running?)"))
        except socket.timeout:
            sock.close()
            error = HostUnreachable(name, f"TCP connect to {r.hostname}:{r.port} timed out after {timeout:g} s")
        except OSError as exc:
            sock.close()
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
            error = HostUnreachable(name, f"cannot reach {r.hostname}:{r.port}: {reason}")
    raise error or HostUnreachable(name, f"no address for {r.hostname}")
