"""The rig itself (deploy/sshrig.py): hosts, logins, isolation, faults, teardown.

These use paramiko directly, not nni_remote.services.ssh, so a bug there
cannot hide a bug in the rig.
"""
from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
import sys
import threading
from typing import Any

import paramiko
import pytest

from .conftest import REPO, SSHRIG_PATH, sshrig

from tests.conftest import wait_for

pytestmark = pytest.mark.remote


def client_for(host: Any, timeout: float = 5.0) -> paramiko.SSHClient:
    sock = socket.create_connection((host.address, host.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    client.load_host_keys(host.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    kwargs: dict = dict(username=host.user, sock=sock, timeout=timeout, banner_timeout=timeout,
                        auth_timeout=timeout, allow_agent=False, look_for_keys=False)
    if host.login == "password":
        kwargs["password"] = host.password
    else:
        kwargs["pkey"] = paramiko.PKey.from_path(
            host.key_file, host.passphrase.encode() if host.passphrase else None)
    client.connect(host.address, host.port, **kwargs)
    return client


def exec_out(client: paramiko.SSHClient, command: str) -> str:
    _in, out, _err = client.exec_command(command, timeout=10)
    return out.read().decode()


def tcp_open(address: str, port: int = 22, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def test_up_gives_hosts_each_login_kind_works(ssh_rig: Any) -> None:
    hosts = ssh_rig.hosts
    assert [h.login for h in hosts] == ["password", "passphrase", "key"]
    assert [h.address for h in hosts] == sorted({h.address for h in hosts})
    for h in hosts:
        assert h.address.startswith("198.18.0.") and int(h.address.rsplit(".", 1)[1]) >= 11
        assert h.user.startswith("nrrig") and h.home == f"/home/{h.user}"
        assert oct(os.stat(h.home).st_mode & 0o777) == "0o700"
        if h.key_file:
            assert os.stat(h.key_file).st_mode & 0o077 == 0
        with client_for(h) as client:
            user, home, addr = exec_out(client, "id -un; pwd; hostname -I").split()
        assert (user, home, addr) == (h.user, h.home, h.address)
    config = hosts[0].machine_config()
    assert config == {"host": hosts[0].address, "port": 22, "user": hosts[0].user, "password": hosts[0].password}
    assert set(hosts[1].machine_config()) == {"host", "port", "user", "sshKeyFile", "sshPassphrase"}
    assert set(hosts[2].machine_config()) == {"host", "port", "user", "sshKeyFile"}
    assert hosts[0].password not in repr(hosts[0]) and hosts[1].passphrase not in repr(hosts[1])


def test_hosts_are_isolated(ssh_rig: Any) -> None:
    h1, h2, _ = ssh_rig.hosts
    ssh_rig.run_on(h1, "echo secret > /tmp/only-on-h1")
    assert ssh_rig.run_on(h1, "cat /tmp/only-on-h1").strip() == "secret"
    assert ssh_rig.run_on(h2, "ls -A /tmp").strip() == ""  # private /tmp
    assert not os.path.exists("/tmp/only-on-h1")  # not the head's /tmp either
    # the checkout is hidden (empty, or absent when it lives under the hosts' private /tmp)
    assert ssh_rig.run_on(h1, f"ls -A {REPO} 2>/dev/null; true").strip() == ""
    assert ssh_rig.run_on(h1, f"ls {h2.home} 2>&1 || true").strip().endswith("Permission denied")
    assert "default" not in ssh_rig.run_on(h1, "ip route")
    assert ssh_rig.run_on(h1, "cat /proc/sys/net/ipv6/conf/all/disable_ipv6").strip() == "1"
    assert "inet6" not in ssh_rig.run_on(h1, "ip addr show dev eth0")
    # the host sees only its own processes (own PID namespace)
    ps = ssh_rig.run_on(h1, "ps -e -o user=,comm=")
    assert h2.user[:8] not in ps
    # a service on the head's loopback is not reachable from a host
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        port = server.getsockname()[1]
        probe = f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 2)'"
        assert "refused" in ssh_rig.run_on(h1, probe + " 2>&1 || true").lower()
    finally:
        server.close()


def test_run_on_sees_processes_started_over_ssh(ssh_rig: Any) -> None:
    h = ssh_rig.hosts[2]
    with client_for(h) as client:
        exec_out(client, "setsid nohup sleep 300 >/dev/null 2>&1 < /dev/null & echo started")
    out = wait_for(lambda: "sleep 300" in ssh_rig.run_on(h, f"ps -u {h.user} -o pid=,args="), what="sleep")
    assert out
    assert any("sleep 300" in p["cmd"] for p in ssh_rig.processes(h))


def test_kill_is_a_power_cut_and_revive_brings_a_fresh_host(ssh_rig: Any) -> None:
    h = ssh_rig.hosts[2]
    client = client_for(h)
    exec_out(client, "echo x > /tmp/before; setsid nohup sleep 300 >/dev/null 2>&1 < /dev/null &")
    old_pid = h.sshd_pid
    ssh_rig.kill(h)
    assert ssh_rig.processes(h) == []
    assert not tcp_open(h.address)
    # no FIN/RST reached us: the old connection just goes silent
    chan_error: list = []

    def try_exec() -> None:
        try:
            client.get_transport().open_session(timeout=1)  # type: ignore[union-attr]
        except Exception as exc:
            chan_error.append(exc)

    worker = threading.Thread(target=try_exec)
    worker.start()
    worker.join(15)
    assert not worker.is_alive() and chan_error, "channel open should time out, not succeed"
    client.close()
    ssh_rig.revive(h)
    assert h.sshd_pid and h.sshd_pid != old_pid
    with client_for(h) as client2:  # same host key: known_hosts still matches
        assert exec_out(client2, "ls -A /tmp; pgrep -c sleep || true").split() == ["0"]


def test_partition_drops_traffic_and_heal_restores_it(ssh_rig: Any) -> None:
    h = ssh_rig.hosts[2]
    client = client_for(h)
    ssh_rig.partition(h)
    assert not tcp_open(h.address, timeout=0.5)
    assert client.get_transport().is_active()  # type: ignore[union-attr]  # TCP itself does not break
    ssh_rig.heal(h)
    assert wait_for(lambda: tcp_open(h.address), what="healed host")
    assert exec_out(client, "echo still-here").strip() == "still-here"
    client.close()


def test_host_options_path_prefix_and_no_python(rig_factory: Any, tmp_path: Any) -> None:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    tool = bin_dir / "nvidia-smi"
    tool.write_text("#!/bin/sh\necho fake-gpu\n")
    tool.chmod(0o755)
    rig = rig_factory(2, logins=["key", "key"],
                      host_options=[{"extra_path_dir": str(bin_dir)}, {"no_python": True}])
    h1, h2 = rig.hosts
    with client_for(h1) as client:
        assert exec_out(client, "nvidia-smi").strip() == "fake-gpu"
        assert exec_out(client, "command -v python3").strip() == "/usr/bin/python3"
    with client_for(h2) as client:
        assert exec_out(client, "command -v python3 || echo none").strip() == "none"
        assert exec_out(client, "command -v sh").strip() != ""
    assert rig.run_on(h2, "command -v python3 || echo none").strip() == "none"


def test_down_removes_everything(rig_factory: Any) -> None:
    rig = rig_factory(2)
    hosts = list(rig.hosts)
    pids = [h.sshd_pid for h in hosts]
    rig.down()
    for h in hosts:
        assert not os.path.exists(f"/run/netns/{h.netns}")
        assert not os.path.exists(f"/sys/class/net/{h.veth}")
        with pytest.raises(KeyError):
            pwd.getpwnam(h.user)
        assert not os.path.exists(h.home)
        assert not os.path.exists(h.state_dir)
        assert not os.path.exists(f"{sshrig.STATE_ROOT}/leases/{h.address}")
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert not os.path.exists(rig.workdir / "state.json")
    assert not any(e.name.startswith("nrrig" + rig.run_id) for e in os.scandir("/run/netns")) \
        if os.path.isdir("/run/netns") else True
    rig.down()  # idempotent


def test_cli_up_writes_config_and_down_cleans(tmp_path: Any, rig_factory: Any) -> None:
    del rig_factory  # only for its skip-if-not-root logic
    workdir = tmp_path / "cli"
    up = subprocess.run([sys.executable, SSHRIG_PATH, "up", "2", "--workdir", str(workdir)],
                        capture_output=True, text=True, timeout=60)
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads((workdir / "state.json").read_text())
        assert len(state["hosts"]) == 2 and "198.18.0." in up.stdout
        config = (workdir / "config.yml").read_text()
        assert "platform: remote" in config and config.count("- host:") == 2
        assert f"knownHosts: \"{workdir / 'known_hosts'}\"" in config
        assert len((workdir / "known_hosts").read_text().splitlines()) == 2
        # the generated config runs as it is (SSH tunnels, host keys checked)
        home = tmp_path / "home"
        home.mkdir()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "nni_remote.cli", "create", "--config", str(workdir / "config.yml"),
                              "--foreground", "--port", str(port)], capture_output=True, text=True, timeout=300,
                             env=dict(os.environ, HOME=str(home)))
        assert run.returncode == 0 and "best trial" in run.stdout, run.stdout + run.stderr
        hosts = [sshrig.RigHost(**h) for h in state["hosts"]]
        with client_for(hosts[1]) as client:
            assert exec_out(client, "id -un").strip() == hosts[1].user
    finally:
        down = subprocess.run([sys.executable, SSHRIG_PATH, "down", "--workdir", str(workdir)],
                              capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    for h in state["hosts"]:
        assert not os.path.exists(f"/run/netns/{h['netns']}")
        with pytest.raises(KeyError):
            pwd.getpwnam(h["user"])
    assert not (workdir / "state.json").exists()


def test_two_rigs_side_by_side(rig_factory: Any) -> None:
    a = rig_factory(1, logins=["key"])
    b = rig_factory(1, logins=["key"])
    assert a.hosts[0].address != b.hosts[0].address
    a.down()
    with client_for(b.hosts[0]) as client:  # the shared bridge stays while b uses it
        assert exec_out(client, "hostname -I").strip() == b.hosts[0].address
