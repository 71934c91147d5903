"""The CLI against a real sshd host: the token URL printed with nniManagerIp, and delete removing the host's files."""
from __future__ import annotations

import json
import os

from click.testing import CliRunner

from nni_remote.cli import main
from nni_remote.manager import registry
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for
from tests.integration.remote.remote_helpers import per_machine, remote_config


def test_token_url_and_delete_with_the_hosts_files(rig_factory, tmp_path, isolated_home):
    rig = rig_factory(1, logins=["key"])
    host = rig.hosts[0]
    machine = per_machine(host.machine_config(), knownHosts=host.known_hosts)
    config = remote_config(tmp_path, [machine], nni_manager_ip="198.18.0.1", max_trial_number=2)
    path = tmp_path / "remote.json"
    path.write_text(json.dumps(config.to_json(include_secrets=True)))
    port = free_port()
    runner = CliRunner()
    created = runner.invoke(main, ["create", "-c", str(path), "-p", str(port), "--id", "remotecli"])
    try:
        assert created.exit_code == 0, created.output
        exp_dir = os.path.join(str(tmp_path / "exps"), "remotecli")
        with open(os.path.join(exp_dir, ".portal-token")) as f:
            token = f.read().strip()
        assert f"http://198.18.0.1:{port}/?token={token}" in created.stdout       # Jupyter style, usable as is
        assert token not in open(os.path.join(exp_dir, "log", "experiment.log")).read()
        urls = json.loads(runner.invoke(main, ["webui", "url", "--json"]).stdout)["urls"]
        assert f"http://198.18.0.1:{port}/?token={token}" in urls
        wait_for(lambda: registry.get_entry("remotecli")["status"] == "DONE", timeout=120, what="DONE")
    finally:
        runner.invoke(main, ["stop", "--all"])
    assert rig.run_on(host, "test -d nni-remote/remotecli && echo yes").strip() == "yes"
    deleted = runner.invoke(main, ["experiment", "delete", "remotecli"], input="y\ny\n")   # both questions: yes
    assert deleted.exit_code == 0, deleted.output
    assert f"also remove ~/nni-remote/<id> on {host.address}?" in deleted.output
    assert "removed ~/nni-remote/remotecli" in deleted.output
    assert rig.run_on(host, "test -e nni-remote/remotecli || echo gone").strip() == "gone"
    assert registry.get_entry("remotecli") is None
