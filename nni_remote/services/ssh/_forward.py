"""SSH reverse tunnels of a connection (part of :mod:`nni_remote.services.ssh`).

:class:`Tunnels` backs ``SshConnection.forward_remote``/``cancel_forward``:
it re-requests every tunnel after a reconnect, and runs the background thread
that reconnects while tunnels exist.
Each connection that arrives on the remote port becomes a paramiko channel;
:func:`pump` joins it to the head-local port and copies bytes both ways (with
half-close). One thread per tunnelled connection; an agent keeps few open.
"""
from __future__ import annotations

import dataclasses
import logging
import select
import socket
import threading
from typing import TYPE_CHECKING, Any, Callable, List, Optional

import paramiko

from ...errors import HostUnreachable, SshError
from ._transport import backoff_delay, first_line

if TYPE_CHECKING:  # pragma: no cover
    from ._connection import SshConnection

log = logging.getLogger("nni_remote.ssh")


@dataclasses.dataclass
class Forward:
    """One requested tunnel: remote ``remote_bind:bound_port`` -> local ``local_host:local_port``."""

    remote_bind: str
    remote_port: int  # as requested (0 = any)
    local_host: str
    local_port: int
    bound_port: int = 0
    on_rebind: Optional[Callable[[int], None]] = None


def pump(chan: Any, fwd: Forward, display: str, connect_timeout: float) -> None:
    """Join ``chan`` to a new TCP connection to the forward's local end; never raises."""
    try:
        sock = socket.create_connection((fwd.local_host, fwd.local_port), timeout=connect_timeout)
    except OSError as exc:
        log.warning("%s: tunnel from remote port %d: cannot reach %s:%d: %s",
                    display, fwd.bound_port, fwd.local_host, fwd.local_port, exc)
        chan.close()
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        _copy(chan, sock)
    except Exception as exc:  # a broken tunnel is logged, never raised in a thread
        log.debug("%s: tunnel connection ended: %s", display, exc)
    finally:
        try:
            sock.close()
        finally:
            chan.close()


def _copy(chan: Any, sock: socket.socket) -> None:
    local_open = remote_open = True
    while local_open or remote_open:
        watch = ([sock] if local_open else []) + ([chan] if remote_open else [])
        readable, _, _ = select.select(watch, [], [], 30.0)
        if not readable:
            if chan.closed or chan.get_transport() is None or not chan.get_transport().is_active():
                return
            continue
        if sock in readable:
            data = sock.recv(65536)
            if data:
                chan.sendall(data)
            else:
                local_open = False
                chan.shutdown_write()
        if chan in readable:
            data = chan.recv(65536)
            if data:
                sock.sendall(data)
            else:
                remote_open = False
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    return
        if chan.closed and not chan.recv_ready():
            return


class Tunnels:
    """The reverse tunnels of one SshConnection (its private helper; thread-safe).

    Holds the requested forwards, re-requests them after each reconnect and,
    while any exist, runs a thread that reconnects a lost connection with
    backoff and jitter so tunnels come back without anyone calling.
    """

    def __init__(self, conn: "SshConnection") -> None:
        self.conn = conn
        self.request_lock = threading.Lock()  # paramiko keeps one pending global request per transport
        self._lock = threading.Lock()
        self._forwards: List[Forward] = []
        self._monitor: Optional[threading.Thread] = None

    def add(self, remote_bind: str, remote_port: int, local_host: str, local_port: int,
            on_rebind: Optional[Callable[[int], None]]) -> int:
        fwd = Forward(remote_bind, remote_port, local_host, local_port, on_rebind=on_rebind)
        fwd.bound_port = self.request(self.conn._current(), fwd, remote_port)
        with self._lock:
            self._forwards.append(fwd)
            start = self._monitor is None
            if start:
                self._monitor = threading.Thread(target=self._monitor_loop, daemon=True,
                                                 name=f"ssh-monitor-{self.conn.name}")
        if start:
            self._monitor.start()  # type: ignore[union-attr]
        return fwd.bound_port

    def cancel(self, remote_port: int) -> None:
        with self._lock:
            found = [f for f in self._forwards if f.bound_port == remote_port]
            self._forwards = [f for f in self._forwards if f.bound_port != remote_port]
        t = self.conn._transport
        for fwd in found:
            if t is not None and t.is_active():
                try:
                    with self.request_lock:
                        t.cancel_port_forward(fwd.remote_bind, remote_port)
                except Exception as exc:
                    log.debug("%s: cancel forward %d: %s", self.conn.name, remote_port, exc)

    def clear(self) -> None:
        with self._lock:
            self._forwards = []

    def request(self, t: paramiko.Transport, fwd: Forward, port: int) -> int:
        """Ask the server to listen on ``fwd.remote_bind:port``; returns the bound port."""
        conn = self.conn

        def handler(chan: paramiko.Channel, origin: Any, server: Any) -> None:
            threading.Thread(target=pump, args=(chan, fwd, conn.name, conn.connect_timeout),
                             daemon=True, name=f"ssh-tunnel-{conn.name}").start()

        guard = conn._deadline_guard(t, conn.op_timeout, "tunnel request")
        try:
            with self.request_lock:
                bound = t.request_port_forward(fwd.remote_bind, port, handler)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if not t.is_active():
                raise HostUnreachable(conn.name, "connection lost while requesting a tunnel: "
                                                 f"{first_line(str(exc))}") from None
            raise SshError(conn.name, f"the host refused a tunnel on {fwd.remote_bind}:{port} "
                                      "(AllowTcpForwarding no, or port in use)") from None
        finally:
            guard.cancel()
        return int(bound)

    def restore(self, t: paramiko.Transport) -> None:
        """After a reconnect: every tunnel again, on its old port if the server allows."""
        with self._lock:
            forwards = list(self._forwards)
        name = self.conn.name
        for fwd in forwards:
            try:
                port = self.request(t, fwd, fwd.bound_port)
            except SshError as exc:
                if fwd.remote_port:
                    log.error("%s: cannot restore tunnel on port %d: %s", name, fwd.bound_port, exc)
                    continue
                try:
                    port = self.request(t, fwd, 0)
                except SshError as exc2:
                    log.error("%s: cannot restore tunnel: %s", name, exc2)
                    continue
            if port != fwd.bound_port:
                log.warning("%s: tunnel to %s:%d moved from remote port %d to %d",
                            name, fwd.local_host, fwd.local_port, fwd.bound_port, port)
                fwd.bound_port = port
                if fwd.on_rebind is not None:
                    try:
                        fwd.on_rebind(port)
                    except Exception:
                        log.exception("%s: on_rebind callback failed", name)

    def _monitor_loop(self) -> None:
        conn = self.conn
        failures = 0
        while not conn._closed:
            conn._wake.wait(conn.keepalive if failures == 0 else backoff_delay(failures, base=0.5, cap=30.0))
            conn._wake.clear()
            if conn._closed:
                return
            if conn.alive:
                failures = 0
                continue
            try:
                conn.connect()
                failures = 0
                log.info("%s: reconnected; tunnels restored", conn.name)
            except SshError as exc:
                failures += 1
                log.debug("%s: background reconnect failed (%d): %s", conn.name, failures, exc)
            except Exception:  # never let the thread die silently
                failures += 1
                log.exception("%s: background reconnect crashed", conn.name)
