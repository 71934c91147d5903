"""The nnictl-style CLI against live managers (click's CliRunner)."""
from __future__ import annotations

import json
import textwrap

from click.testing import CliRunner

from nni_remote.cli import main
from nni_remote.manager import registry
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for

YAML = textwrap.dedent("""
    experimentName: cli
    searchSpaceFile: space.json
    trialCommand: python3 trial.py
    trialCodeDirectory: .
    trialConcurrency: 2
    maxTrialNumber: 4
    experimentWorkingDirectory: {workdir}
    tuner:
      name: TPE
      classArgs:
        optimize_mode: maximize
    trainingService:
      platform: local
""")


def write_config(code_dir, tmp_path) -> str:
    (code_dir / "space.json").write_text(json.dumps({"x": {"_type": "uniform", "_value": [0, 1]}}))
    path = code_dir / "config.yml"
    path.write_text(YAML.format(workdir=tmp_path / "exps"))
    return str(path)


def test_create_foreground_prints_best(code_dir, tmp_path, isolated_home):
    result = CliRunner().invoke(main, ["create", "--config", write_config(code_dir, tmp_path), "--port",
                                       str(free_port()), "--foreground"])
    assert result.exit_code == 0, result.output
    assert "best trial" in result.output
    entries = registry.all_entries()
    assert len(entries) == 1 and next(iter(entries.values()))["status"] == "STOPPED"


def test_detached_lifecycle(code_dir, tmp_path, isolated_home):
    runner = CliRunner()
    port = free_port()
    result = runner.invoke(main, ["create", "--config", write_config(code_dir, tmp_path), "--port", str(port),
                                  "--id", "clitest1"])
    assert result.exit_code == 0, result.output
    try:
        wait_for(lambda: registry.get_entry("clitest1")["status"] == "DONE", what="DONE")
        listing = runner.invoke(main, ["experiment", "list", "--json"])
        assert listing.exit_code == 0 and json.loads(listing.output)[0]["id"] == "clitest1"
        table = runner.invoke(main, ["experiment", "list"])
        assert "clitest1" in table.output and "DONE" in table.output
        trials = runner.invoke(main, ["trial", "ls", "clitest1", "--json"])
        assert trials.exit_code == 0 and len(json.loads(trials.output)) == 4
        human = runner.invoke(main, ["trial", "ls"])
        assert human.exit_code == 0 and human.output.count("SUCCEEDED") == 4
        missing = runner.invoke(main, ["trial", "kill", "nosuch"])
        assert missing.exit_code != 0 and "nosuch" in missing.output
    finally:
        stopped = runner.invoke(main, ["stop", "clitest1"])
    assert stopped.exit_code == 0, stopped.output
    assert registry.get_entry("clitest1")["status"] == "STOPPED"
    not_running = runner.invoke(main, ["trial", "ls", "clitest1"])
    assert not_running.exit_code == 3 and "resume" in not_running.output
    unknown = runner.invoke(main, ["resume", "nosuchexp"])
    assert unknown.exit_code != 0 and "nosuchexp" in unknown.output
