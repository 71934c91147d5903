"""SSH connections (private to :mod:`nni_remote.services.ssh`; import names from there).

One :class:`SshConnection` per machine, kept open and shared by threads:
commands (:meth:`~SshConnection.run`), files over SFTP, and SSH reverse
tunnels that let a remote agent reach a port on the head's loopback. A
connection notices a dead or partitioned host through timeouts on every step
and keepalives, drops the transport, and reconnects on next use (or in the
background while tunnels exist) with exponential backoff and jitter.

Limits kept here because real hosts enforce them (OpenSSH defaults): at most
10 channels open per connection (``MaxSessions``) and at most 10 connects in
flight per host in this process (``MaxStartups``).

Failures raise the :class:`~nni_remote.errors.SshError` family:
:class:`~nni_remote.errors.HostUnreachable`, :class:`~nni_remote.errors.AuthFailed`,
:class:`~nni_remote.errors.HostKeyMismatch` (whose message says how to accept a
key), :class:`CommandFailed` and :class:`RemoteFileNotFound`. Passwords and
passphrases never appear in logs or error messages.
"""
from __future__ import annotations

import errno
import io
import logging
import secrets
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import paramiko

from ...errors import HostUnreachable, SshError
from . import _auth as ssh_auth
from ._forward import Tunnels
from ._target import CommandFailed, RemoteFileNotFound, RunResult, SshTarget
from ._transport import MAX_CONNECTS_PER_HOST as MAX_CONNECTS_PER_HOST
from ...errors import TransientSshError as Transient
from ._transport import backoff_delay, first_line, open_transport

log = logging.getLogger("nni_remote.ssh")


class _RefusedChannelFilter(logging.Filter):
    """paramiko logs each refused channel open at ERROR; we retry those (MaxSessions race): DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and "open FAILED" in str(record.msg):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("paramiko.transport").addFilter(_RefusedChannelFilter())

MAX_CHANNELS = 10          # OpenSSH MaxSessions default
CONNECT_ATTEMPTS = 4
MAX_JUMPS = 5
_SFTP_CHUNK = 32768


# ---------------------------------------------------------------- the connection

class SshConnection:
    """One kept-alive SSH connection to one machine; every method is thread-safe.

    Nothing connects until :meth:`connect` or the first operation. Every
    network step has a timeout: ``connect_timeout`` for TCP + handshake + login,
    ``op_timeout`` (or a per-call ``timeout``) for a channel, a command, an SFTP
    reply or a tunnel request. After a timeout on a channel the transport is
    dropped and the next operation reconnects (a half-open channel would leak a
    session on the server). Commands are never re-run automatically.
    """

    def __init__(self, target: SshTarget, *, connect_timeout: float = 10.0, op_timeout: float = 30.0,
                 keepalive: float = 5.0, max_channels: int = MAX_CHANNELS) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self.op_timeout = op_timeout
        self.keepalive = keepalive
        self.connects = 0  # successful (re)connects so far
        self._transport: Optional[paramiko.Transport] = None
        self._jump: Optional[SshConnection] = None
        self._proxy: Any = None
        self._lock = threading.Lock()  # guards _transport
        self._connect_lock = threading.Lock()
        self._channels = threading.BoundedSemaphore(max_channels)
        self._tunnels = Tunnels(self)
        self._closed = False
        self._last_failure: Optional[Tuple[float, SshError]] = None
        self._wake = threading.Event()
        self._depth = 0

    def __repr__(self) -> str:
        return f"<SshConnection {self.target.display} {'alive' if self.alive else 'not connected'}>"

    def __enter__(self) -> "SshConnection":
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.target.display

    @property
    def alive(self) -> bool:
        """Connected and logged in, as far as we know (a dead host is noticed by timeouts)."""
        t = self._transport
        return t is not None and t.is_active() and t.is_authenticated()

    # ------------------------------------------------------------ connect

    def connect(self) -> None:
        """Connect and log in unless already connected.

        Raises HostUnreachable (refused, timed out, dropped), AuthFailed, or
        HostKeyMismatch (unknown or changed key; the message says how to accept
        it). Refusals and early drops are retried a few times with backoff.
        """
        if self._closed:
            raise SshError(self.name, "connection was closed")
        started = time.monotonic()
        with self._connect_lock:
            if self.alive:
                return
            failure = self._last_failure
            if failure is not None and failure[0] >= started:
                raise failure[1]  # failed while we waited for the lock: don't try again at once
            try:
                transport = self._connect_with_retries()
            except SshError as exc:
                self._last_failure = (time.monotonic(), exc)
                raise
            if self._closed:  # close() ran while we connected
                transport.close()
                raise SshError(self.name, "connection was closed")
            with self._lock:
                old, self._transport = self._transport, transport
            if old is not None:
                old.close()
            self.connects += 1
            self._tunnels.restore(transport)

    def _connect_with_retries(self) -> paramiko.Transport:
        deadline = time.monotonic() + self.connect_timeout * 2
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                transport, self._proxy = open_transport(
                    self.target, self.name, max(1.0, min(self.connect_timeout, remaining)), self.keepalive,
                    self._open_via_jump)
                return transport
            except Transient as exc:
                attempt += 1
                delay = backoff_delay(attempt - 1)
                if attempt >= CONNECT_ATTEMPTS or time.monotonic() + delay >= deadline:
                    raise exc.error from None
                log.debug("%s: %s; retrying in %.2f s", self.name, exc.error, delay)
                time.sleep(delay)

    def _open_via_jump(self, r: ssh_auth.Resolved, timeout: float) -> paramiko.Channel:
        if self._depth >= MAX_JUMPS:
            raise HostUnreachable(self.name, f"ProxyJump chain longer than {MAX_JUMPS} hops")
        hops = [h.strip() for h in r.proxy_jump.split(",") if h.strip()]  # type: ignore[union-attr]
        last = hops[-1]
        user, _, hostport = last.rpartition("@")
        host, port = hostport, 22
        if hostport.count(":") == 1:
            host, port_text = hostport.split(":")
            port = int(port_text)
        if self._jump is None:
            jump_target = SshTarget(
                host=host, port=port, user=user or None, known_hosts=self.target.known_hosts,
                accept_new_host_key=self.target.accept_new_host_key, use_ssh_config=self.target.use_ssh_config,
                ssh_config_file=self.target.ssh_config_file, name=f"{self.name} (jump {last})",
                proxy_jump=",".join(hops[:-1]) or "none")
            self._jump = SshConnection(jump_target, connect_timeout=self.connect_timeout,
                                       op_timeout=self.op_timeout, keepalive=self.keepalive)
            self._jump._depth = self._depth + 1
        self._jump.connect()
        transport = self._jump._transport
        try:
            return transport.open_channel("direct-tcpip", (r.hostname, r.port), ("127.0.0.1", 0),  # type: ignore[union-attr]
                                          timeout=timeout)
        except paramiko.ChannelException as exc:
            raise HostUnreachable(self.name, f"jump host {last} cannot reach {r.hostname}:{r.port}: {exc}") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._jump._drop(transport, "channel open failed")
            raise HostUnreachable(self.name, f"jump host {last} failed: {first_line(str(exc))}") from None

    # ------------------------------------------------------------ transport bookkeeping

    def _current(self) -> paramiko.Transport:
        t = self._transport
        if t is not None and t.is_active():
            return t
        self.connect()
        t = self._transport
        if t is None:
            raise HostUnreachable(self.name, "not connected")
        return t

    def _drop(self, transport: Optional[paramiko.Transport], reason: str) -> None:
        """Forget ``transport`` (if still current) and close it; the next use reconnects."""
        if transport is None:
            return
        with self._lock:
            if self._transport is transport:
                self._transport = None
                log.info("%s: dropping the connection (%s); will reconnect on next use", self.name, reason)
        _close_quietly(transport)
        self._wake.set()

    def _deadline_guard(self, transport: paramiko.Transport, seconds: float, what: str) -> threading.Timer:
        """paramiko waits forever for some replies: drop the transport if ``what`` takes too long."""
        timer = threading.Timer(max(seconds, 0.01), self._drop, (transport, f"no reply to {what} in {seconds:.1f} s"))
        timer.daemon = True
        timer.start()
        return timer

    def _open_session(self, deadline: float) -> Tuple[paramiko.Transport, paramiko.Channel]:
        lost = refused = 0
        while True:
            t = self._current()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HostUnreachable(self.name, "operation timed out before a channel was opened")
            try:
                return t, t.open_session(timeout=remaining)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if t.is_active() and "timeout" in str(exc).lower():
                    self._drop(t, "channel open timed out")
                    raise HostUnreachable(self.name, f"no answer when opening a channel within {remaining:.1f} s; "
                                                     "connection dropped") from None
                if t.is_active():
                    # Refused. sshd frees a closed session a moment after our CLOSE, so an open right
                    # after another channel closed can still hit MaxSessions: retry briefly. (paramiko
                    # keeps one "last error" per transport, so a concurrent refusal may surface as a
                    # plain "Unable to open channel".)
                    refused += 1
                    delay = backoff_delay(refused, base=0.005, cap=0.5)
                    if refused > 10 or time.monotonic() + delay >= deadline:
                        raise SshError(self.name, f"the host refused a new channel: {first_line(str(exc))}") from None
                    time.sleep(delay)
                    continue
                self._drop(t, f"channel open failed: {first_line(str(exc))}")
                lost += 1
                if lost > 1:
                    raise HostUnreachable(self.name, f"connection lost: {first_line(str(exc))}") from None

    def _acquire_channel(self, deadline: float) -> None:
        if not self._channels.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise SshError(self.name, f"all {MAX_CHANNELS} channels of this connection stayed busy until the timeout")

    # ------------------------------------------------------------ commands

    def run(self, command: str, *, stdin: Optional[bytes] = None, timeout: Optional[float] = None,
            check: bool = True) -> RunResult:
        """Run ``command`` through the login shell (no PTY) and wait for it.

        Secrets belong in ``stdin``, never in ``command``. ``timeout`` (default
        ``op_timeout``) bounds the whole call; on expiry the channel is closed
        (the remote process may live on) and HostUnreachable is raised if the
        host stopped answering, else an SshError. ``check`` raises
        :class:`CommandFailed` on a non-zero exit status.
        """
        timeout = self.op_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._acquire_channel(deadline)
        try:
            t, chan = self._open_session(deadline)
            try:
                result = self._exec(t, chan, command, stdin, deadline, timeout)
            finally:
                chan.close()
        finally:
            self._channels.release()
        if check and result.exit_code != 0:
            raise CommandFailed(self.name, command, result)
        return result

    def _exec(self, t: paramiko.Transport, chan: paramiko.Channel, command: str, stdin: Optional[bytes],
              deadline: float, timeout: float) -> RunResult:
        if deadline - time.monotonic() < 0.01:
            raise self._timed_out(t, timeout, command)
        guard = self._deadline_guard(t, deadline - time.monotonic(), "exec request")
        try:
            chan.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self._lost(t, timeout, exc) from None
        finally:
            guard.cancel()
        out: List[bytes] = []
        err: List[bytes] = []
        try:
            chan.settimeout(max(0.01, deadline - time.monotonic()))
            _send_stdin(chan, stdin or b"")
            chan.settimeout(0.0)
            fileno = chan.fileno()  # readable whenever either buffer has data or EOF came
            while True:
                progressed = False
                while chan.recv_ready():
                    out.append(chan.recv(65536))
                    progressed = True
                while chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(65536))
                    progressed = True
                if chan.closed or (chan.eof_received and chan.exit_status_ready()):
                    if not chan.recv_ready() and not chan.recv_stderr_ready():
                        break
                    continue
                if progressed:
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timed_out(t, timeout, command)
                if chan.eof_received:
                    chan.status_event.wait(min(remaining, 0.5))
                else:
                    _wait_readable(fileno, min(remaining, 0.5))
        except socket.timeout:
            raise self._timed_out(t, timeout, command) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self._lost(t, timeout, exc) from None
        if not chan.exit_status_ready() and not t.is_active():
            raise HostUnreachable(self.name, "connection lost while the command ran")
        code = chan.recv_exit_status() if chan.exit_status_ready() else -1
        return RunResult(code, b"".join(out).decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace"))

    def _lost(self, t: paramiko.Transport, timeout: float, exc: BaseException) -> SshError:
        alive = t.is_active()
        if self._transport is not t or not alive:
            self._drop(t, "connection lost")
            return HostUnreachable(self.name, f"connection lost or no reply within {timeout:g} s")
        return SshError(self.name, f"SSH channel failed: {first_line(str(exc))}")

    def _timed_out(self, t: paramiko.Transport, timeout: float, command: str) -> SshError:
        if not self._responsive(t):
            self._drop(t, "host stopped answering")
            return HostUnreachable(self.name, f"no answer within {timeout:g} s (host down or unreachable?); "
                                              "connection dropped")
        short = command if len(command) <= 80 else command[:77] + "..."
        return SshError(self.name, f"command did not finish within {timeout:g} s: {short}")

    def _responsive(self, t: paramiko.Transport, wait: float = 3.0) -> bool:
        """Whether the server still answers a global request (run in a thread: paramiko has no timeout)."""
        if not t.is_active():
            return False
        answered = threading.Event()

        def ping() -> None:
            try:
                with self._tunnels.request_lock:
                    t.global_request("keepalive@openssh.com", wait=True)
                if t.is_active():
                    answered.set()
            except Exception:
                pass

        threading.Thread(target=ping, daemon=True, name=f"ssh-ping-{self.name}").start()
        return answered.wait(min(wait, max(self.keepalive, 1.0)))

    # ------------------------------------------------------------ files

    def _sftp(self, deadline: float, reply_timeout: float) -> Tuple[paramiko.Transport, paramiko.SFTPClient]:
        t, chan = self._open_session(deadline)
        guard = self._deadline_guard(t, deadline - time.monotonic(), "sftp subsystem request")
        try:
            chan.invoke_subsystem("sftp")
            chan.settimeout(max(0.01, reply_timeout))  # per reply, so long transfers are fine
            return t, paramiko.SFTPClient(chan)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            chan.close()
            raise self._lost(t, reply_timeout, exc) from None
        finally:
            guard.cancel()

    def put_bytes(self, data: bytes, remote_path: str, mode: int = 0o600, *,
                  timeout: Optional[float] = None) -> None:
        """Write ``data`` to ``remote_path`` atomically (temp file + rename), created with ``mode``."""
        self._put(io.BytesIO(data), remote_path, mode, timeout)

    def put_file(self, local_path: str, remote_path: str, mode: int = 0o600, *,
                 timeout: Optional[float] = None) -> None:
        """Upload a local file to ``remote_path`` atomically, created with ``mode``."""
        with open(local_path, "rb") as fh:
            self._put(fh, remote_path, mode, timeout)

    def _put(self, source: Any, remote_path: str, mode: int, timeout: Optional[float]) -> None:
        timeout = self.op_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._acquire_channel(deadline)
        try:
            t, sftp = self._sftp(deadline, timeout)
            tmp = f"{remote_path}.nrtmp-{secrets.token_hex(4)}"
            try:
                with sftp.open(tmp, "wb") as fh:
                    fh.chmod(mode)  # before any byte is written
                    fh.set_pipelined(True)
                    while True:
                        chunk = source.read(1 << 20)
                        if not chunk:
                            break
                        fh.write(chunk)
                try:
                    sftp.posix_rename(tmp, remote_path)
                except OSError:
                    sftp.rename(tmp, remote_path)
            except BaseException as exc:
                if t.is_active() and not isinstance(exc, socket.timeout):  # else it would wait again
                    try:
                        sftp.remove(tmp)
                    except Exception:
                        pass
                raise self._sftp_error(t, exc, remote_path, timeout) from None
            finally:
                sftp.close()
        finally:
            self._channels.release()

    def get_bytes(self, remote_path: str, max_bytes: Optional[int] = None, *,
                  timeout: Optional[float] = None) -> bytes:
        """Read a remote file (at most its first ``max_bytes`` bytes) over SFTP."""
        timeout = self.op_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._acquire_channel(deadline)
        try:
            t, sftp = self._sftp(deadline, timeout)
            try:
                with sftp.open(remote_path, "rb") as fh:
                    size = fh.stat().st_size or 0
                    want = size if max_bytes is None else min(size, max_bytes)
                    if want > _SFTP_CHUNK:
                        fh.prefetch(want)
                    parts = []  # paramiko's read(n) joins bytes quadratically: read in 1 MiB pieces
                    got = 0
                    while max_bytes is None or got < max_bytes:
                        piece = fh.read(1 << 20 if max_bytes is None else min(1 << 20, max_bytes - got))
                        if not piece:
                            break
                        parts.append(piece)
                        got += len(piece)
                    return b"".join(parts)
            except BaseException as exc:
                raise self._sftp_error(t, exc, remote_path, timeout) from None
            finally:
                sftp.close()
        finally:
            self._channels.release()

    def _sftp_error(self, t: paramiko.Transport, exc: BaseException, path: str, timeout: float) -> BaseException:
        if isinstance(exc, SshError) or not isinstance(exc, Exception):
            return exc
        if isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOENT:
            return RemoteFileNotFound(self.name, f"{path}: no such file or directory")
        if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == errno.EACCES:
            return SshError(self.name, f"{path}: permission denied")
        if isinstance(exc, socket.timeout) or not t.is_active():
            self._drop(t, "sftp timed out")
            return HostUnreachable(self.name, f"no SFTP reply within {timeout:g} s for {path}; connection dropped")
        return SshError(self.name, f"SFTP failed for {path}: {first_line(str(exc)) or type(exc).__name__}")

    # ------------------------------------------------------------ tunnels

    def forward_remote(self, remote_bind: str = "127.0.0.1", remote_port: int = 0,
                       local_host: str = "127.0.0.1", local_port: int = 0, *,
                       on_rebind: Optional[Callable[[int], None]] = None) -> int:
        """Open a port on the machine's ``remote_bind`` that leads to ``local_host:local_port`` here.

        This is how a remote agent reaches a manager that listens on the head's
        loopback only. Returns the bound remote port (chosen by the server when
        ``remote_port`` is 0). The tunnel is re-requested after every reconnect,
        on the same port if possible; if the port changes, ``on_rebind(new_port)``
        is called. While tunnels exist a background thread reconnects a lost
        connection (backoff with jitter), so the tunnel comes back by itself.
        """
        if not local_port:
            raise ValueError("forward_remote needs the local_port to forward to")
        return self._tunnels.add(remote_bind, remote_port, local_host, local_port, on_rebind)

    def cancel_forward(self, remote_port: int) -> None:
        """Close the tunnel bound on ``remote_port`` (no error if there is none)."""
        self._tunnels.cancel(remote_port)

    # ------------------------------------------------------------ close

    def close(self) -> None:
        """Close the connection, its tunnels and any jump connection; idempotent."""
        self._closed = True
        self._wake.set()
        with self._lock:
            t, self._transport = self._transport, None
        self._tunnels.clear()
        _close_quietly(t)
        if self._jump is not None:
            self._jump.close()
        _close_quietly(self._proxy)


def _close_quietly(thing: Any) -> None:
    """Close a transport/proxy that may already be broken; it is gone either way."""
    if thing is None:
        return
    try:
        thing.close()
    except Exception:
        pass


def _send_stdin(chan: paramiko.Channel, data: bytes) -> None:
    """Send ``data`` and EOF on ``chan`` such that nothing can follow paramiko's CHANNEL_CLOSE.

    paramiko's ``sendall``/``shutdown_write`` build a message under the channel
    lock but send it after releasing it. If the command ends meanwhile (``true``
    is fast), the transport thread answers the server's CLOSE first, sshd frees
    the channel, and our late EOF makes sshd drop the whole connection ("packet
    referred to nonexistent channel"); seen with 10 threads running ``true``.
    Sending while holding the lock orders it before any CLOSE. (paramiko avoids
    this for fear of a deadlock during re-keying; here that would be bounded by
    its 30 s key-exchange timeout, and needs a rekey at the very moment a
    command ends.)
    """
    view = memoryview(data)
    while True:
        with chan.lock:
            if chan.closed:
                return  # the command is gone; it did not want the rest
            if not view:
                message = chan._send_eof()
                if message is not None:
                    chan.transport._send_user_message(message)
                return
            size = chan._wait_for_send_window(len(view))  # socket.timeout at chan's timeout
            if size == 0:
                return
            message = paramiko.Message()
            message.add_byte(paramiko.common.cMSG_CHANNEL_DATA)
            message.add_int(chan.remote_chanid)
            message.add_string(bytes(view[:size]))
            chan.transport._send_user_message(message)
        view = view[size:]


def _wait_readable(fileno: int, seconds: float) -> None:
    select.select([fileno], [], [], seconds)


def connect_all(targets: Iterable[SshTarget], *, max_parallel: int = 32,
                **options: Any) -> Dict[str, Union[SshConnection, SshError]]:
    """Connect to many machines in parallel; return ``{name: connection or the SshError}``.

    One bad host never hides the others: every target gets an entry, in the
    order given (duplicate names get ``#2``, ``#3``...). ``options`` go to
    :class:`SshConnection`.
    """
    targets = list(targets)
    names: List[str] = []
    for t in targets:
        name, n = t.display, 1
        while name in names:
            n += 1
            name = f"{t.display}#{n}"
        names.append(name)

    def one(target: SshTarget) -> Union[SshConnection, SshError]:
        conn = SshConnection(target, **options)
        try:
            conn.connect()
            return conn
        except SshError as exc:
            conn.close()
            return exc
        except Exception as exc:  # a bug must not hide the other hosts either
            conn.close()
            return SshError(target.display, f"unexpected error while connecting: {type(exc).__name__}: {exc}")

    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(targets)))) as pool:
        results = list(pool.map(one, targets))
    return dict(zip(names, results))
