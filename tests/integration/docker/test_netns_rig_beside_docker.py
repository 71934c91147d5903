"""The netns rig (deploy/sshrig.py) keeps working while a Docker daemon runs.

Docker turns the iptables FORWARD policy to DROP and sends bridged frames through it
(br_netfilter): without the rig's own ACCEPT rule for its bridge, traffic between two rig
hosts (here: an SSH ProxyJump through one host to another) is dropped.
"""
from __future__ import annotations

import subprocess
from typing import Any

from nni_remote.services.ssh import SshConnection, SshTarget
from tests.integration.docker.conftest import dockerd
from tests.integration.remote.conftest import sshrig


def forward_rules() -> str:
    return subprocess.run(["iptables", "-w", "10", "-S", "FORWARD"], capture_output=True, text=True, timeout=30).stdout


def test_proxy_jump_between_rig_hosts_with_docker_running(docker_engine: Any, rig_factory: Any, tmp_path: Any) -> None:
    assert dockerd.engine_answers(docker_engine.host)
    rig = rig_factory(2, logins=["key", "key"])
    rules = forward_rules()
    assert sshrig.FORWARD_COMMENT in rules                       # the rig's own rule is in place
    jump, inner = rig.hosts
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host jumpbox\n  HostName {jump.address}\n  User {jump.user}\n  IdentityFile {jump.key_file}\n\n"
        f"Host inner-alias\n  HostName {inner.address}\n  User {inner.user}\n  IdentityFile {inner.key_file}\n"
        f"  ProxyJump jumpbox\n")
    target = SshTarget(host="inner-alias", ssh_config_file=str(config), known_hosts=inner.known_hosts)
    with SshConnection(target) as conn:
        assert conn.run("echo $SSH_CONNECTION").stdout.split()[0] == jump.address  # host-to-host traffic
        assert conn.run("id -un").stdout.strip() == inner.user
    # and directly, host to host on the bridge
    out = rig.run_on(jump, f"python3 -c \"import socket; s = socket.create_connection(('{inner.address}', 22), 10); "
                           f"print(s.recv(8).decode())\"")
    assert out.startswith("SSH-")
