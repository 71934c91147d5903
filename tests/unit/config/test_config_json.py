"""Canonical JSON (§1.11) and the from_json round trip."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

from nni_remote.config import ExperimentConfig


def test_canonical_json_matches_nni_example(project: Path, search_space: Dict[str, Any]) -> None:
    (project / "id_rsa").write_text("key\n")
    config = ExperimentConfig.from_json({
        "searchSpaceFile": "search_space.json", "trialCommand": "python3 train.py", "trialCodeDirectory": ".",
        "trialConcurrency": 4, "trialGpuNumber": 1, "maxTrialNumber": 100, "maxExperimentDuration": "2h",
        "nniManagerIp": "10.0.0.5",
        "tuner": {"name": "TPE", "classArgs": {"optimize_mode": "maximize"}},
        "trainingService": {"platform": "remote", "machineList": [
            {"host": "10.0.0.7", "user": "u", "sshKeyFile": "id_rsa", "gpuIndices": "0,1"}]},
    })
    exp = os.path.realpath(project)
    expected = {
        "experimentType": "hpo", "searchSpaceFile": f"{exp}/search_space.json", "searchSpace": search_space,
        "trialCommand": "python3 train.py", "trialCodeDirectory": exp, "trialConcurrency": 4,
        "trialGpuNumber": 1, "maxExperimentDuration": "2h", "maxTrialNumber": 100,
        "nniManagerIp": "10.0.0.5", "useAnnotation": False, "debug": False, "logLevel": "info",
        "experimentWorkingDirectory": os.path.realpath(os.path.expanduser("~/nni-experiments")),
        "tuner": {"name": "TPE", "classArgs": {"optimize_mode": "maximize"}},
        "trainingService": {
            "platform": "remote", "trialCommand": "python3 train.py", "trialCodeDirectory": exp,
            "trialGpuNumber": 1, "nniManagerIp": "10.0.0.5", "debug": False,
            "machineList": [{"host": "10.0.0.7", "port": 22, "user": "u", "sshKeyFile": f"{exp}/id_rsa",
                             "useActiveGpu": False, "maxTrialNumberPerGpu": 1, "gpuIndices": [0, 1],
                             # nni-remote's extras:
                             "name": "10.0.0.7", "acceptNewHostKey": False, "sshConfig": True}],
            "reuseMode": False},
    }
    result = config.canonical(str(project)).to_json()  # to_json re-canonicalises: idempotent
    assert result == expected
    assert list(result)[:3] == ["experimentType", "searchSpaceFile", "searchSpace"]
    json.dumps(result)  # plain JSON types only


def test_none_dropped_and_durations_kept(valid: Dict[str, Any], project: Path) -> None:
    valid.update(maxTrialDuration=90, maxExperimentDuration="1.5d")
    result = ExperimentConfig(**valid).canonical(str(project)).to_json()
    assert result["maxTrialDuration"] == 90 and result["maxExperimentDuration"] == "1.5d"
    assert "experimentName" not in result and "assessor" not in result and "advisor" not in result
    assert all(value is not None for value in result.values())
    assert result["experimentType"] == "hpo" and result["logLevel"] == "info"


def test_secrets_masked_unless_asked(valid: Dict[str, Any], project: Path) -> None:
    valid["trainingService"]["machineList"][0]["sshPassphrase"] = "pass-phrase"
    canon = ExperimentConfig(**valid).canonical(str(project))
    masked, clear = canon.to_json(), canon.to_json(include_secrets=True)
    machines = masked["trainingService"]["machineList"]
    assert machines[0]["sshPassphrase"] == "********" and machines[1]["password"] == "********"
    assert "s3cret-pw" not in json.dumps(masked) and "pass-phrase" not in json.dumps(masked)
    assert clear["trainingService"]["machineList"][1]["password"] == "s3cret-pw"
    assert clear["trainingService"]["machineList"][0]["sshPassphrase"] == "pass-phrase"


def test_round_trip(valid: Dict[str, Any], project: Path) -> None:
    valid["assessor"] = {"name": "Medianstop", "classArgs": {"start_step": 2}}
    first = ExperimentConfig(**valid).canonical(str(project))
    data = first.to_json(include_secrets=True)
    again = ExperimentConfig.from_json(data)
    assert again.model_dump() == first.model_dump()
    assert again.to_json(include_secrets=True) == data
    assert again.machines[1].password is not None and again.machines[1].password.get_secret_value() == "s3cret-pw"


def test_from_json_accepts_snake_case(project: Path) -> None:
    config = ExperimentConfig.from_json({"trial_concurrency": 1, "training_service": {"platform": "local"}})
    assert config.platform == "local" and config.trial_concurrency == 1
