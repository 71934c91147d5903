"""The nnictl-style CLI against live managers (click's CliRunner)."""
from __future__ import annotations

import json
import os
import textwrap
import threading

from click.testing import CliRunner

from nni_remote.cli import main
from nni_remote.manager import registry
from tests.conftest import free_port
from tests.integration.portal import kit
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


# -- every verb against one live kit experiment (tests/integration/portal/kit.py) -------------------------
def run(*args: str, ok: bool = True, input: str | None = None):
    result = CliRunner().invoke(main, list(args), input=input)
    if ok:
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result


def as_json(*args: str):
    return json.loads(run(*args, "--json").stdout)


def test_every_verb(tmp_path, isolated_home):
    code = tmp_path / "kitcode"
    config = kit.write_code(code, tmp_path / "exps")
    port = free_port()
    created = as_json("create", "--config", config, "--port", str(port), "--id", "clikit")
    url = f"http://127.0.0.1:{port}"
    assert created == {"id": "clikit", "port": port, "url": url, "urls": [url]}
    api = kit.Api(port)
    try:
        kit.wait_for(api.settled, what="the kit experiment to settle")
        _inspect(api)
        _update(api, tmp_path)
        _trials_and_logs(api, code)
        _export_import(api, tmp_path)
        _top()
        _stopped_lifecycle(tmp_path)
    finally:
        run("stop", "--all", ok=False)   # whatever is still running (detached managers outlive the test)


def _inspect(api):
    assert [e["id"] for e in as_json("experiment", "list")] == ["clikit"]
    assert "TUNER_NO_MORE_TRIAL" in run("experiment", "list").output
    assert as_json("experiment", "status") == {"status": "TUNER_NO_MORE_TRIAL", "errors": []}
    assert run("experiment", "status", "cli").output.strip() == "clikit: TUNER_NO_MORE_TRIAL"   # a prefix is enough
    assert as_json("experiment", "show")["id"] == "clikit"
    shown = run("experiment", "show").output
    assert "GridSearch" in shown and "best" in shown and "kit <i>demo</i>" in shown
    assert len(as_json("trial", "ls")) == 6
    [failed] = as_json("trial", "ls", "--status", "FAILED")
    assert json.loads(failed["hyperParameters"][0])["parameters"] == {"x": 0.25, "opt": "sgd"}
    assert [json.loads(t["hyperParameters"][0])["parameters"] for t in as_json("trial", "ls", "--head", "1")] == \
        [{"x": 0.75, "opt": "adam"}]
    assert [json.loads(t["hyperParameters"][0])["parameters"] for t in as_json("trial", "ls", "--tail", "1")] == \
        [{"x": 0.25, "opt": "adam"}]
    table = run("trial", "ls").output
    assert "exit code 3" in table and table.count("RUNNING") == 2 and "MACHINE" in table
    assert run("trial", "ls", "nosuchexp", ok=False).exit_code == 2


def _update(api, tmp_path):
    assert as_json("update", "concurrency", "--value", "4") == {"id": "clikit", "trialConcurrency": 4}
    assert "maxTrialNumber set to 30" in run("update", "trialnum", "clikit", "-v", "30").output
    run("update", "duration", "-v", "2h")
    params = api.nni("experiment")["params"]
    assert (params["trialConcurrency"], params["maxTrialNumber"], params["maxExperimentDuration"]) == (4, 30, "2h")
    bad = run("update", "concurrency", "-v", "0", ok=False)
    assert bad.exit_code == 2 and "> 0" in bad.output
    bad = run("update", "duration", "-v", "soon", ok=False)
    assert bad.exit_code == 2 and "30m" in bad.output
    assert api.nni("experiment")["params"]["maxExperimentDuration"] == "2h"


def _trials_and_logs(api, code):
    done = api.trial_with({"x": 0.25, "opt": "adam"})["trialJobId"]
    failed = api.trial_with(kit.FAILS)["trialJobId"]
    assert "trial-start" in run("log", "trial", done).output
    assert "fails on purpose" in run("log", "trial", failed, "--file", "stderr").output
    assert f"trial.log of {done}" in run("log", "trial", done, "--file", "trial.log").output
    assert run("log", "trial", done, "--tail", "1").output.strip() == "trial-end"
    missing = run("log", "trial", done, "--file", "nosuch.txt", ok=False)
    assert missing.exit_code == 1 and "nosuch.txt" in missing.output
    assert "listening on" in run("log", "manager", "--tail", "50").output

    held = api.trial_with(kit.HELD[1])["trialJobId"]

    def release_when_ticking() -> None:
        try:
            kit.wait_for(lambda: "tick 3" in api.ours(f"trials/{held}/tail/stdout")["text"], what="ticks")
        finally:
            kit.release(code, kit.HELD[1])   # whatever happens, the followed trial ends

    releaser = threading.Thread(target=release_when_ticking)
    releaser.start()
    followed = run("log", "trial", held, "--follow").output   # returns once the trial ends
    releaser.join()
    assert followed.startswith("trial-start") and "tick 3" in followed and followed.rstrip().endswith("trial-end")
    assert api.nni(f"trial-jobs/{held}")["status"] == "SUCCEEDED"

    victim = api.trial_with(kit.HELD[0])["trialJobId"]
    assert as_json("trial", "kill", victim) == {"id": "clikit", "killed": victim}
    kit.wait_for(lambda: api.nni(f"trial-jobs/{victim}")["status"] == "USER_CANCELED", what="killed")
    retried = as_json("trial", "retry", "--failed")["retried"]
    assert [r["from"] for r in retried] == [failed]
    assert "retried as" in run("trial", "retry", done).output
    assert run("trial", "retry", ok=False).exit_code == 2
    assert run("trial", "kill", "nosuch", ok=False).exit_code == 2
    kit.wait_for(lambda: all(t["status"] not in ("WAITING", "RUNNING") for t in api.ours("trials")), what="idle")


def _export_import(api, tmp_path):
    out = tmp_path / "out.csv"
    run("experiment", "export", "--type", "csv", "--filename", str(out))
    import csv
    with open(out) as f:
        rows = list(csv.DictReader(f))
    succeeded = [t for t in api.ours("trials") if t["status"] == "SUCCEEDED"]
    assert len(rows) == len(succeeded) == 5
    assert set(rows[0]) == {"x", "opt", "reward", "default", "loss", "trialJobId"}   # dict metric -> columns
    by_id = {r["trialJobId"]: r for r in rows}
    dict_trial = api.trial_with({"x": 0.5, "opt": "adam"})["trialJobId"]
    assert by_id[dict_trial]["default"] == "0.5" and by_id[dict_trial]["reward"] == ""
    exported = json.loads(run("experiment", "export", "-t", "json", "--intermediate").stdout)
    assert len(exported) == 5 and all(len(r["intermediate"]) == 3 for r in exported)
    data = tmp_path / "import.json"
    data.write_text(json.dumps([{"parameter": {"x": 0.9, "opt": "adam"}, "value": 0.9}]))
    assert as_json("experiment", "import", "--filename", str(data)) == {"id": "clikit", "imported": 1}
    assert len(api.nni("experiment/imported-data")) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"}')
    assert run("experiment", "import", "-f", str(bad), ok=False).exit_code == 2
    space = tmp_path / "space2.json"
    space.write_text(json.dumps({"x": {"_type": "choice", "_value": [0.5]}, "opt": {"_type": "choice",
                                                                                   "_value": ["adam"]}}))
    assert "search space replaced" in run("update", "searchspace", "-f", str(space)).output
    assert api.nni("experiment")["params"]["searchSpace"]["x"]["_value"] == [0.5]


def _top():
    snap = as_json("top", "--once")
    assert set(snap) == {"overview", "trials", "machines"} and snap["machines"][0]["name"] == "local"
    text = run("top", "--once").output
    assert text.startswith("clikit") and "MACHINE" in text and "HEARTBEAT" in text


def _stopped_lifecycle(tmp_path):
    assert "stopped" in run("stop", "clikit").output
    entry = registry.get_entry("clikit")
    assert entry["status"] == "STOPPED"
    assert run("experiment", "status", "clikit", ok=False).exit_code == 3
    port = free_port()
    assert as_json("view", "clikit", "--port", str(port))["port"] == port
    assert as_json("experiment", "status") == {"status": "VIEWED", "errors": []}
    refused = run("update", "concurrency", "-v", "2", ok=False)
    assert refused.exit_code == 1 and "read-only" in refused.output
    running = run("experiment", "delete", "clikit", "--yes", ok=False)
    assert running.exit_code == 1 and "stop it first" in running.output
    assert as_json("stop", "--all") == {"stopped": ["clikit"]}
    port = free_port()
    run("resume", "clikit", "--port", str(port))
    assert kit.Api(port).nni("check-status")["status"] in ("RUNNING", "DONE", "TUNER_NO_MORE_TRIAL", "NO_MORE_TRIAL")
    assert "stopped" in run("stop").output
    directory = os.path.join(entry["logDir"], "clikit")
    assert os.path.isdir(directory)
    assert run("experiment", "delete", "clikit", input="n\n", ok=False).exit_code == 1   # asked, declined
    assert os.path.isdir(directory)
    assert as_json("experiment", "delete", "clikit", "--yes") == {"deleted": ["clikit"], "hosts": {}}
    assert not os.path.exists(directory) and registry.get_entry("clikit") is None
    assert as_json("experiment", "list", "--all") == []


def test_help_documents_exit_codes():
    text = CliRunner().invoke(main, ["--help"]).output
    assert "Exit codes" in text and "3  the experiment is not running" in text
    for verb in ("create", "resume", "view", "stop", "update", "experiment", "trial", "log", "top"):
        assert verb in text
