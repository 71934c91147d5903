"""nni_remote.services.ssh against real sshd hosts (the rig).

No test asserts on elapsed time. Where a call must not hang, it runs in a
worker thread that is given a generous deadline (a hang guard, not a timing
assertion).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List

import pytest

from nni_remote.errors import AuthFailed, HostKeyMismatch, HostUnreachable, SshError
from nni_remote.services.ssh import (CommandFailed, ProbeFailed, RemoteFileNotFound, SshConnection, SshTarget,
                                     connect_all, probe)

from tests.conftest import wait_for

pytestmark = pytest.mark.remote

HANG_GUARD = 60.0  # seconds a call may take before the test calls it a hang


def target(host: Any, **overrides: Any) -> SshTarget:
    overrides.setdefault("known_hosts", host.known_hosts)
    overrides.setdefault("name", host.name)
    return SshTarget.from_machine(host.machine_config(), **overrides)


def returns(fn: Callable[[], Any], guard: float = HANG_GUARD) -> Any:
    """Run ``fn`` in a thread; return its result or re-raise its exception; fail if it hangs."""
    box: dict = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test thread
            box["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(guard)
    assert not worker.is_alive(), f"call did not return within {guard:g} s (hang)"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture
def echo_server() -> Any:
    """A TCP echo server on the head's 127.0.0.1; yields its port."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    try:
        server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
    except OSError:
        pass
    server.close()
    thread.join(5)


ECHO_CLIENT = ("python3 -c 'import socket,sys; s=socket.create_connection((\"127.0.0.1\", {port}), 5); "
               "s.sendall(b\"ping-{tag}\"); s.shutdown(socket.SHUT_WR); print(s.recv(100).decode())'")


def test_each_login_kind_connects_and_runs(ssh_rig: Any) -> None:
    for h in ssh_rig.hosts:
        with SshConnection(target(h)) as conn:
            assert conn.alive
            result = conn.run("id -un; pwd; hostname -I")
            assert result.stdout.split() == [h.user, h.home, h.address]
            assert result.exit_code == 0 and result.stderr == ""
        assert not conn.alive


def test_run_put_get(ssh_rig: Any, tmp_path: Any) -> None:
    h = ssh_rig.hosts[2]
    with SshConnection(target(h)) as conn:
        assert conn.run("cat", stdin=b"via stdin").stdout == "via stdin"
        assert conn.run("cat").stdout == ""  # stdin is closed when none is given: no hang
        result = conn.run("echo out; echo err >&2; exit 3", check=False)
        assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
        with pytest.raises(CommandFailed) as info:
            conn.run("echo boom >&2; exit 7")
        assert info.value.result.exit_code == 7 and "boom" in str(info.value) and info.value.host == h.name
        big = conn.run("head -c 3000000 /dev/zero | tr '\\0' x; head -c 3000000 /dev/zero | tr '\\0' y >&2")
        assert len(big.stdout) == 3_000_000 and len(big.stderr) == 3_000_000  # both streams drained

        conn.put_bytes(b"secret-ish", "/tmp/file.txt", mode=0o640)
        assert conn.get_bytes("/tmp/file.txt") == b"secret-ish"
        assert conn.run("stat -c %a /tmp/file.txt").stdout.strip() == "640"
        assert conn.get_bytes("/tmp/file.txt", max_bytes=6) == b"secret"
        payload = os.urandom(2_000_000)
        local = tmp_path / "payload.bin"
        local.write_bytes(payload)
        conn.put_file(str(local), f"{h.home}/payload.bin")
        assert conn.run(f"stat -c %a {h.home}/payload.bin").stdout.strip() == "600"
        assert conn.get_bytes(f"{h.home}/payload.bin") == payload
        assert conn.run(f"ls -A {h.home} | grep -c nrtmp || true").stdout.strip() == "0"  # no temp left
        with pytest.raises(RemoteFileNotFound):
            conn.get_bytes("/tmp/does-not-exist")
        with pytest.raises(RemoteFileNotFound):
            conn.put_bytes(b"x", "/tmp/no-such-dir/file")
        with pytest.raises(FileNotFoundError):  # RemoteFileNotFound is one, too
            conn.get_bytes("/tmp/does-not-exist")


def test_exec_on_open_connection_fast_path(ssh_rig: Any) -> None:
    with SshConnection(target(ssh_rig.hosts[2])) as conn:
        for _ in range(50):
            assert conn.run("true").exit_code == 0
        assert conn.connects == 1


def test_eleven_concurrent_runs_on_one_connection(ssh_rig: Any) -> None:
    with SshConnection(target(ssh_rig.hosts[2])) as conn:
        for _round in range(3):
            with ThreadPoolExecutor(max_workers=11) as pool:
                futures = [pool.submit(conn.run, f"sleep 0.3; echo {i}") for i in range(11)]
                outputs = [f.result(timeout=HANG_GUARD).stdout.strip() for f in futures]
            assert outputs == [str(i) for i in range(11)]
        assert conn.connects == 1


def test_many_parallel_connects_to_one_host(ssh_rig: Any) -> None:
    h = ssh_rig.hosts[2]
    targets = [target(h, name=f"c{i}") for i in range(16)]  # more than MaxStartups' 10
    results = connect_all(targets)
    try:
        assert list(results) == [f"c{i}" for i in range(16)]
        assert all(isinstance(r, SshConnection) for r in results.values()), results
    finally:
        for r in results.values():
            if isinstance(r, SshConnection):
                r.close()


def test_reverse_forward_reaches_head_loopback(ssh_rig: Any, echo_server: int) -> None:
    h = ssh_rig.hosts[2]
    with SshConnection(target(h), connect_timeout=30) as conn:   # the test before left h3's sshd busy
        port = conn.forward_remote(local_port=echo_server)
        assert port > 0
        for tag in range(3):
            assert conn.run(ECHO_CLIENT.format(port=port, tag=tag)).stdout.strip() == f"ping-{tag}"
        # the head's loopback itself is not reachable from the host: only the tunnel is
        direct = conn.run(ECHO_CLIENT.format(port=echo_server, tag="x"), check=False)
        assert direct.exit_code != 0 or port == echo_server
        conn.cancel_forward(port)
        assert conn.run(ECHO_CLIENT.format(port=port, tag="gone"), check=False).exit_code != 0


def test_wrong_password_is_auth_failed_naming_host(ssh_rig: Any) -> None:
    h1 = ssh_rig.hosts[0]
    conn = SshConnection(target(h1, password="definitely-wrong-pw"), connect_timeout=5)
    with pytest.raises(AuthFailed) as info:
        returns(conn.connect)
    assert info.value.host == "h1" and str(info.value).startswith("h1: ")
    assert "definitely-wrong-pw" not in str(info.value)
    h2 = ssh_rig.hosts[1]
    with pytest.raises(AuthFailed) as info2:
        returns(SshConnection(target(h2, passphrase="wrong-passphrase-x")).connect)
    assert "sshPassphrase" in str(info2.value) and "wrong-passphrase-x" not in str(info2.value)
    with pytest.raises(AuthFailed, match="encrypted; set sshPassphrase"):
        returns(SshConnection(target(h2, passphrase=None)).connect)
    h3 = ssh_rig.hosts[2]
    with pytest.raises(AuthFailed, match="rejected"):  # a valid key, but not this host's
        returns(SshConnection(target(h3, key_file=h2.key_file, passphrase=h2.passphrase)).connect)


def test_unknown_host_key_is_refused_with_howto(ssh_rig: Any, tmp_path: Any) -> None:
    h = ssh_rig.hosts[2]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyMismatch) as info:
        returns(SshConnection(target(h, known_hosts=str(empty))).connect)
    message = str(info.value)
    assert f"ssh-keyscan -t ssh-ed25519 {h.address} >> {empty}" in message
    assert "acceptNewHostKey" in message and "SHA256:" in message
    assert empty.read_text() == ""


def test_changed_host_key_is_refused_even_with_accept_new(ssh_rig: Any, tmp_path: Any) -> None:
    h1, h2, _ = ssh_rig.hosts
    other_key = open(h2.known_hosts).read().splitlines()[1].split(None, 1)[1]  # h2's key under h1's name
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{h1.address} {other_key}\n")
    for accept in (False, True):
        with pytest.raises(HostKeyMismatch) as info:
            returns(SshConnection(target(h1, known_hosts=str(wrong), accept_new_host_key=accept)).connect)
        assert "CHANGED" in str(info.value) and f"ssh-keygen -f {wrong} -R" in str(info.value)


def test_accept_new_host_key_pins(ssh_rig: Any, tmp_path: Any) -> None:
    h = ssh_rig.hosts[2]
    pinned = tmp_path / "sub" / "known_hosts"
    with SshConnection(target(h, known_hosts=str(pinned), accept_new_host_key=True)) as conn:
        assert conn.run("true").ok
    lines = pinned.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{h.address} ssh-ed25519 ")
    assert lines[0].split()[2] == open(h.known_hosts).read().splitlines()[2].split()[2]
    assert oct(pinned.stat().st_mode & 0o777) == "0o600"
    with SshConnection(target(h, known_hosts=str(pinned))) as conn:  # now known: no flag needed
        assert conn.run("true").ok
    assert len(pinned.read_text().splitlines()) == 1


def test_closed_port_and_missing_host_are_unreachable(ssh_rig: Any) -> None:
    h = ssh_rig.hosts[2]
    with pytest.raises(HostUnreachable, match="refused") as info:
        returns(SshConnection(target(h, port=2222), connect_timeout=5).connect)
    assert info.value.host == "h3"
    nobody = SshTarget(host="198.18.0.254", user="nobody", key_file=h.key_file, known_hosts=h.known_hosts)
    with pytest.raises(HostUnreachable):
        returns(SshConnection(nobody, connect_timeout=3).connect)


def test_probe_reports_python_disk_home(ssh_rig: Any) -> None:
    h = ssh_rig.hosts[0]
    with SshConnection(target(h)) as conn:
        result = probe(conn)
        assert result.home == h.home and result.python == "/usr/bin/python3"
        assert result.python_version >= (3, 8, 0)
        assert result.disk_free_bytes and result.disk_free_bytes > 0
        assert result.uname.startswith("Linux")
        assert result.nni_importable is (result.nni_version is not None)
        assert probe(conn, python_path="/usr/bin").python == "/usr/bin/python3"


def test_probe_bad_python_path(ssh_rig: Any) -> None:
    with SshConnection(target(ssh_rig.hosts[2])) as conn:
        with pytest.raises(ProbeFailed, match="does not exist"):
            returns(lambda: probe(conn, python_path="/opt/nothing/bin"))
        with pytest.raises(ProbeFailed, match="is a file; it must be the directory"):
            returns(lambda: probe(conn, python_path="/usr/bin/python3"))
        with pytest.raises(ProbeFailed, match="no executable python3"):
            returns(lambda: probe(conn, python_path="/etc"))


def test_probe_host_without_python(rig_factory: Any) -> None:
    rig = rig_factory(1, logins=["key"], host_options=[{"no_python": True}])
    with SshConnection(target(rig.hosts[0])) as conn:
        with pytest.raises(ProbeFailed, match="no python3 on PATH") as info:
            returns(lambda: probe(conn))
        assert info.value.host == "h1"


def test_probe_python_too_old(rig_factory: Any, tmp_path: Any) -> None:
    fake = tmp_path / "oldpy"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\necho 3.6.9\n")
    (fake / "python3").chmod(0o755)
    rig = rig_factory(1, logins=["key"], host_options=[{"extra_path_dir": str(fake)}])
    with SshConnection(target(rig.hosts[0])) as conn:
        with pytest.raises(ProbeFailed, match=r"Python 3\.6\.9; nni-remote needs Python >= 3\.8"):
            returns(lambda: probe(conn))


def test_slow_command_times_out_but_keeps_connection(ssh_rig: Any) -> None:
    with SshConnection(target(ssh_rig.hosts[2])) as conn:
        with pytest.raises(SshError, match="did not finish") as info:
            returns(lambda: conn.run("sleep 30", timeout=1))
        assert not isinstance(info.value, HostUnreachable)
        assert conn.run("echo ok").stdout == "ok\n" and conn.connects == 1


def test_killed_host_fails_fast_then_reconnects_after_revive(ssh_rig: Any) -> None:
    h = ssh_rig.hosts[2]
    with SshConnection(target(h), connect_timeout=3, op_timeout=3, keepalive=1) as conn:
        assert conn.run("true").ok
        ssh_rig.kill(h)
        with pytest.raises(HostUnreachable) as info:
            returns(lambda: conn.run("true"))
        assert info.value.host == "h3"
        with pytest.raises(HostUnreachable):
            returns(lambda: conn.put_bytes(b"x", "/tmp/x"))
        with pytest.raises(HostUnreachable):
            returns(lambda: conn.get_bytes("/etc/hostname"))
        ssh_rig.revive(h)
        assert wait_for(lambda: conn.run("hostname -I").stdout.strip() == h.address, what="reconnect")
        assert conn.connects >= 2


def test_partition_then_heal_reconnects(ssh_rig: Any) -> None:
    h = ssh_rig.hosts[2]
    with SshConnection(target(h), connect_timeout=3, op_timeout=2, keepalive=1) as conn:
        assert conn.run("true").ok
        ssh_rig.partition(h)
        with pytest.raises(HostUnreachable):
            returns(lambda: conn.run("true"))
        ssh_rig.heal(h)
        assert wait_for(lambda: conn.run("echo back").stdout == "back\n", what="heal")
        assert conn.connects >= 2


def test_tunnel_comes_back_after_host_power_cycle(ssh_rig: Any, echo_server: int) -> None:
    h = ssh_rig.hosts[2]
    with SshConnection(target(h), connect_timeout=3, op_timeout=3, keepalive=1) as conn:
        port = conn.forward_remote(local_port=echo_server)
        assert conn.run(ECHO_CLIENT.format(port=port, tag="a")).stdout.strip() == "ping-a"
        ssh_rig.kill(h)
        ssh_rig.revive(h)
        # nobody calls the connection: the background monitor must reconnect and re-forward
        wait_for(lambda: conn.connects >= 2 and conn.alive, what="background reconnect")
        out = wait_for(lambda: conn.run(ECHO_CLIENT.format(port=port, tag="b"), check=False).stdout.strip(),
                       what="tunnel restored")
        assert out == "ping-b"


def test_connect_all_reports_each_host(ssh_rig: Any) -> None:
    h1, h2, h3 = ssh_rig.hosts
    results = connect_all([target(h1, password="nope-nope"), target(h2), target(h3, port=2222, name="h3-closed"),
                           target(h3)], connect_timeout=5)
    try:
        assert list(results) == ["h1", "h2", "h3-closed", "h3"]
        assert isinstance(results["h1"], AuthFailed)
        assert isinstance(results["h2"], SshConnection) and results["h2"].run("true").ok
        assert isinstance(results["h3-closed"], HostUnreachable)
        assert isinstance(results["h3"], SshConnection)
    finally:
        for r in results.values():
            if isinstance(r, SshConnection):
                r.close()


def test_proxy_jump_from_ssh_config(rig_factory: Any, tmp_path: Any) -> None:
    rig = rig_factory(2, logins=["key", "key"])
    jump, inner = rig.hosts
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host jumpbox\n  HostName {jump.address}\n  User {jump.user}\n  IdentityFile {jump.key_file}\n\n"
        f"Host inner-alias\n  HostName {inner.address}\n  User {inner.user}\n  IdentityFile {inner.key_file}\n"
        f"  ProxyJump jumpbox\n")
    t = SshTarget(host="inner-alias", ssh_config_file=str(config), known_hosts=inner.known_hosts)
    with SshConnection(t) as conn:
        client_ip = conn.run("echo $SSH_CONNECTION").stdout.split()[0]
        assert client_ip == jump.address  # it really came through the jump host
        assert conn.run("id -un").stdout.strip() == inner.user


def test_default_key_and_ssh_agent_when_no_key_is_configured(ssh_rig: Any, tmp_path: Any, monkeypatch: Any) -> None:
    import shutil
    import subprocess
    h = ssh_rig.hosts[2]
    bare = SshTarget(host=h.address, user=h.user, known_hosts=h.known_hosts, name="h3")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(AuthFailed, match="no password and no usable key"):
        returns(SshConnection(bare).connect)
    shutil.copy(h.key_file, home / ".ssh" / "id_ed25519")  # a default key file
    with SshConnection(bare) as conn:
        assert conn.run("id -un").stdout.strip() == h.user
    (home / ".ssh" / "id_ed25519").unlink()
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        wait_for(sock.exists, what="ssh-agent socket")
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        subprocess.run(["ssh-add", "-q", h.key_file], env=env, check=True, timeout=30, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        with SshConnection(bare) as conn:  # the key now only lives in the agent
            assert conn.run("id -un").stdout.strip() == h.user
    finally:
        agent.kill()
        agent.wait(10)


def test_secrets_never_in_logs_or_errors(ssh_rig: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    h1, h2, _ = ssh_rig.hosts
    secrets = [h1.password, h2.passphrase, "wrong-password-zz", "wrong-passphrase-zz"]
    errors: List[str] = []
    for t in (target(h1), target(h2), target(h1, password="wrong-password-zz"),
              target(h2, passphrase="wrong-passphrase-zz")):
        errors.append(repr(t))
        conn = SshConnection(t, connect_timeout=5)
        try:
            conn.connect()
            probe(conn)
            conn.run("exit 3", check=False)
            conn.run("cat >/dev/null", stdin=h1.password.encode())
        except SshError as exc:
            errors.append(str(exc))
            errors.append(repr(exc))
        finally:
            conn.close()
    text = caplog.text + "\n".join(errors)
    assert len(errors) == 8  # 4 targets + str and repr of the 2 failures
    for secret in secrets:
        assert secret not in text
