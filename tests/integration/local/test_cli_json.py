"""``--json`` on every verb: standard output is only JSON, errors included; nnictl's flags behave.

Each test drives real managers through click's CliRunner; ``result.stdout`` is
standard output alone (stderr may carry progress and start-up lines).
"""
from __future__ import annotations

import json
import os
import textwrap

import click
import psutil
from click.testing import CliRunner

from nni_remote.cli import main
from nni_remote.manager import registry
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for

YAML = textwrap.dedent("""
    experimentName: clijson
    searchSpace:
      x: {{_type: uniform, _value: [0, 1]}}
      nested: {{_type: choice, _value: [{{_name: a, lr: {{_type: choice, _value: [0.1]}}}}, {{_name: b}}]}}
    trialCommand: python3 trial.py
    trialCodeDirectory: {code}
    trialConcurrency: 2
    maxTrialNumber: 3
    experimentWorkingDirectory: {workdir}
    tuner:
      name: Random
      classArgs: {{seed: 3}}
    trainingService:
      platform: local
""")


def config_file(code_dir, tmp_path, **extra: str) -> str:
    text = YAML.format(code=code_dir, workdir=tmp_path / "exps")
    for key, value in extra.items():
        text += f"{key}: {value}\n"
    path = tmp_path / "config.yml"
    path.write_text(text)
    return str(path)


def cli(*args: str, code: int = 0, input: str | None = None):
    result = CliRunner().invoke(main, list(args), input=input)
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result


def js(*args: str, code: int = 0):
    """Run with --json; stdout must parse as one JSON document."""
    result = cli(*args, "--json", code=code)
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"{args} --json printed non-JSON on stdout:\n{result.stdout!r}")


def leaf_commands(group: click.Group = main, path: tuple[str, ...] = ()) -> set[str]:
    found: set[str] = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= leaf_commands(command, path + (name,))
        else:
            found.add(" ".join(path + (name,)))
    return found


def test_every_verb_prints_only_json(code_dir, tmp_path, isolated_home):
    tried: set[str] = set()

    def verb(*words: str) -> tuple[str, ...]:
        tried.add(" ".join(words))
        return words

    port = free_port()
    created = js(*verb("create"), "-c", config_file(code_dir, tmp_path), "-p", str(port), "--id", "jsonexp", "-d")
    assert created["id"] == "jsonexp" and created["url"] == f"http://127.0.0.1:{port}"
    try:
        assert "debug" in _manager_argv("jsonexp")                 # create --debug: the manager logs at debug
        wait_for(lambda: registry.get_entry("jsonexp")["status"] == "DONE", what="DONE")
        assert [e["id"] for e in js(*verb("experiment", "list"))] == ["jsonexp"]
        assert js(*verb("experiment", "show"))["id"] == "jsonexp"
        assert js(*verb("experiment", "status"))["status"] == "DONE"
        trials = js(*verb("trial", "ls"))
        first = trials[0]["trialJobId"]
        assert js(*verb("experiment", "export"), "-t", "json")["trials"] == 3
        assert js("experiment", "export", "-t", "csv")["data"].startswith(("x,", "nested,", "reward,"))
        out = tmp_path / "out.json"
        assert js("experiment", "export", "-t", "json", "-f", str(out)) == {
            "id": "jsonexp", "type": "json", "trials": 3, "filename": str(out)}
        assert len(json.loads(out.read_text())) == 3
        assert js(*verb("log", "trial"), first)["text"].startswith("trial-start")
        assert js("log", "trial", "jsonexp", "-T", first, "--path")["path"].endswith(first)
        assert set(js("log", "trial", "jsonexp")) == {t["trialJobId"] for t in trials}    # nnictl: every logPath
        assert "Experiment done." in js(*verb("log", "manager"))["text"]
        assert "text" in js(*verb("log", "dispatcher"))
        assert "Experiment start time" in js(*verb("log", "stdout"))["text"]
        assert js(*verb("log", "stderr"), "--path")["path"].endswith("nnictl_stderr.log")
        assert js(*verb("top"), "--once")["overview"]["status"] == "DONE"
        assert js(*verb("config", "show"))["experimentName"] == "clijson"
        assert js(*verb("webui", "url"))["urls"] == [f"http://127.0.0.1:{port}"]
        assert js(*verb("update", "concurrency"), "-v", "3") == {"id": "jsonexp", "trialConcurrency": 3}
        assert js(*verb("update", "duration"), "-v", "1h")["maxExperimentDuration"] == "1h"
        space = tmp_path / "space.json"
        space.write_text(json.dumps({"x": {"_type": "uniform", "_value": [0, 1]}}))
        assert js(*verb("update", "searchspace"), "-f", str(space))["searchSpace"]["x"]["_type"] == "uniform"
        data = tmp_path / "import.json"
        data.write_text(json.dumps([{"parameter": {"x": 0.5}, "value": 0.5}]))
        assert js(*verb("experiment", "import"), "-f", str(data)) == {"id": "jsonexp", "imported": 1}

        # at the budget: exit 1 as documented, the manager's words, no "invalid experiment config" prefix
        refused = js(*verb("trial", "retry"), first, code=1)
        assert refused["exitCode"] == 1 and "maxTrialNum" in refused["error"]
        assert "invalid experiment config" not in refused["error"]
        human = cli("trial", "retry", first, code=1)
        assert "maxTrialNum" in human.output and "invalid experiment config" not in human.output
        assert js(*verb("update", "trialnum"), "-v", "4") == {"id": "jsonexp", "maxTrialNumber": 4}
        wait_for(lambda: registry.get_entry("jsonexp")["status"] == "DONE", what="DONE again")
        # nnictl's `trial kill [EXP] -T TRIAL`; a finished trial stays as it was
        assert js(*verb("trial", "kill"), "jsonexp", "-T", first) == {"id": "jsonexp", "killed": first}
        missing = js("trial", "kill", "nosuch", code=2)
        assert missing["exitCode"] == 2 and "nosuch" in missing["error"]

        assert js(*verb("stop"), "--port", str(port)) == {"stopped": ["jsonexp"]}   # nnictl's stop --port
        assert js("stop", "--port", str(port), code=2)["exitCode"] == 2
        assert js("experiment", "status", "jsonexp", code=3)["exitCode"] == 3
        view_port = free_port()
        assert js(*verb("view"), "jsonexp", "-p", str(view_port), "--debug")["port"] == view_port
        assert "debug" in _manager_argv("jsonexp")
        js("stop")
        resumed = js(*verb("resume"), "jsonexp", "-p", str(free_port()), "--debug")
        assert resumed["id"] == "jsonexp" and "debug" in _manager_argv("jsonexp")
        js("stop", "jsonexp*")
    finally:
        cli("stop", "--all")

    # delete under --json never prompts: without --yes it refuses, and nothing is deleted
    directory = os.path.join(registry.get_entry("jsonexp")["logDir"], "jsonexp")
    refused = js(*verb("experiment", "delete"), "jsonexp", code=2)
    assert "--yes" in refused["error"] and os.path.isdir(directory)
    assert js("experiment", "delete", "jsonexp", "--yes") == {"deleted": ["jsonexp"], "hosts": {}}
    assert not os.path.exists(directory)
    untried = leaf_commands() - tried - {"algo list", "algo show", "algo register", "algo unregister", "algo reg",
                                         "algo unreg"}
    assert not untried, f"verbs never run with --json: {sorted(untried)}"


def _manager_argv(exp_id: str) -> list[str]:
    return psutil.Process(registry.get_entry(exp_id)["pid"]).cmdline()


def test_foreground_json_is_one_document(code_dir, tmp_path, isolated_home):
    result = cli("create", "-c", config_file(code_dir, tmp_path), "-p", str(free_port()), "--foreground", "--json")
    doc = json.loads(result.stdout)                      # no "experiment X started" line before it
    assert doc["status"] == "DONE" and doc["best"]["trialJobId"] and doc["url"].startswith("http://127.0.0.1:")
    assert "Experiment ID: " + doc["id"] in result.stderr   # NNI's start-up lines went to stderr
    assert registry.get_entry(doc["id"])["status"] == "STOPPED"


def test_usage_errors_are_json_too(isolated_home):
    assert js("nosuchverb", code=2)["exitCode"] == 2
    assert "--config" in js("create", code=2)["error"]
    assert js("trial", "ls", code=2)["exitCode"] == 2              # no experiment running
    plain = cli("trial", "ls", code=2)
    assert plain.stdout == "" and "Error:" in plain.stderr        # without --json: click's message on stderr


def test_human_start_prints_id_and_urls(code_dir, tmp_path, isolated_home):
    port = free_port()
    result = cli("create", "-c", config_file(code_dir, tmp_path), "-p", str(port), "--id", "humanexp")
    try:
        assert "Creating experiment, Experiment ID: humanexp" in result.stdout
        assert f"Web portal URLs: http://127.0.0.1:{port}" in result.stdout
        exp_log = os.path.join(str(tmp_path / "exps"), "humanexp", "log", "experiment.log")
        assert "Experiment ID: humanexp" in open(exp_log).read()
    finally:
        cli("stop", "humanexp")


def test_the_managers_cause_reaches_the_user(code_dir, tmp_path, isolated_home):
    (code_dir / "broken_tuner.py").write_text("raise ImportError('this tuner cannot load')\n")
    path = config_file(code_dir, tmp_path)
    text = open(path).read().replace("  name: Random\n", f"  className: broken_tuner.Tuner\n  codeDirectory: {code_dir}\n")
    with open(path, "w") as f:
        f.write(text)
    failed = js("create", "-c", path, "-p", str(free_port()), code=2)
    assert "cannot load" in failed["error"] and "<" not in failed["error"]
    human = cli("create", "-c", path, "-p", str(free_port()), code=2)
    assert "cannot load" in human.stderr and "<!doctype" not in human.output.lower()
    assert registry.all_entries() == {}                           # refused: no STOPPED entry left behind
