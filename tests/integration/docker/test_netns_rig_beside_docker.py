"""The netns rig (deploy/sshrig.py) keeps working while a Docker daemon runs.

Docker turns the iptables FORWARD policy to DROP (when it turns ``ip_forward`` on) and sends
bridged frames through it (br_netfilter): without the rig's own ACCEPT rule for its bridge,
traffic between two rig hosts (an SSH ProxyJump through one host to another) is dropped.
"""
from __future__ import annotations

import subprocess
from typing import Any

from tests.integration.docker.conftest import dockerd
from tests.integration.remote import test_ssh
from tests.integration.remote.conftest import sshrig


def test_proxy_jump_between_rig_hosts_with_docker_running(docker_engine: Any, rig_factory: Any, tmp_path: Any) -> None:
    assert dockerd.engine_answers(docker_engine.host)
    test_ssh.test_proxy_jump_from_ssh_config(rig_factory, tmp_path)  # the rig's own scenario, Docker up
    rules = subprocess.run(["iptables", "-w", "10", "-S", "FORWARD"], capture_output=True, text=True,
                           timeout=30).stdout
    assert sshrig.FORWARD_COMMENT in rules, rules                    # thanks to the rig's own rule
    rig = rig_factory(2, logins=["key", "key"])                      # and plain host-to-host TCP
    a, b = rig.hosts
    out = rig.run_on(a, f"python3 -c \"import socket; s = socket.create_connection(('{b.address}', 22), 10); "
                        f"print(s.recv(8).decode())\"")
    assert out.startswith("SSH-")
