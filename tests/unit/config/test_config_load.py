"""ExperimentConfig.load: YAML and JSON files, key spellings, v1 conversion, file errors."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from nni_remote.config import ExperimentConfig, RemoteConfig
from nni_remote.errors import ConfigError

CAMEL = """
searchSpaceFile: search_space.json
trialCommand: python3 train.py
trialCodeDirectory: code
trialConcurrency: 2
maxTrialDuration: 30m
tuner:
  name: TPE
  classArgs:
    optimize_mode: maximize
trainingService:
  platform: remote
  machineList:
    - host: 10.0.0.7
      user: alice
      sshKeyFile: id_test
      gpuIndices: 0,1
      maxTrialNumberPerGpu: 1
"""

SNAKE = """
search_space_file: search_space.json
trial_command: python3 train.py
trial_code_directory: code
trial_concurrency: 2
max_trial_duration: 30m
tuner:
  name: TPE
  class_args:
    optimize_mode: maximize
training_service:
  platform: remote
  machine_list:
    - host: 10.0.0.7
      user: alice
      ssh_key_file: id_test
      gpu_indices: 0,1
      max_trial_number_per_gpu: 1
"""


def _check(config: ExperimentConfig, project: Path, search_space: Dict[str, Any]) -> None:
    assert isinstance(config.training_service, RemoteConfig)
    canon = config.canonical()  # base folder = the file's folder, whatever the cwd
    assert canon.search_space == search_space
    assert canon.trial_code_directory == os.path.realpath(project / "code")
    assert canon.tuner is not None and canon.tuner.class_args == {"optimize_mode": "maximize"}
    machine = canon.machines[0]
    assert machine.ssh_key_file == os.path.realpath(project / "id_test") and machine.gpu_indices == [0, 1]
    assert canon.max_trial_duration == "30m"


@pytest.mark.parametrize("text", [CAMEL, SNAKE, CAMEL.replace("trialCodeDirectory", "TRIALCODEDIRECTORY")],
                         ids=["camel", "snake", "upper"])
def test_load_yaml(text: str, project: Path, search_space: Dict[str, Any], tmp_path_factory: Any,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "exp.yml").write_text(text)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    _check(ExperimentConfig.load(project / "exp.yml"), project, search_space)


def test_load_json(project: Path, search_space: Dict[str, Any]) -> None:
    (project / "exp.json").write_text(json.dumps(yaml.safe_load(CAMEL), indent=2))
    _check(ExperimentConfig.load(str(project / "exp.json")), project, search_space)


def test_explicit_base_dir_wins(project: Path, tmp_path_factory: Any) -> None:
    other = tmp_path_factory.mktemp("other")
    (other / "exp.yml").write_text(CAMEL)
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.load(other / "exp.yml").canonical()
    assert "searchSpaceFile" in [path for path, _ in info.value.problems]
    assert ExperimentConfig.load(other / "exp.yml").canonical(str(project)).search_space is not None


@pytest.mark.parametrize("text, fragment", [
    ("- a\n- b\n", "top level must be a mapping"),
    ("", "empty"),
    ("trialConcurrency: [1\n", "not valid YAML"),
])
def test_bad_files_name_the_file(project: Path, text: str, fragment: str) -> None:
    path = project / "bad.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment) as info:
        ExperimentConfig.load(path)
    assert str(path) in str(info.value)


def test_missing_file(project: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        ExperimentConfig.load(project / "nope.yml")
    assert "nope.yml" in str(info.value)


def test_field_errors_name_the_file_and_keep_paths(project: Path) -> None:
    (project / "exp.yml").write_text(CAMEL.replace("trialConcurrency: 2", 'trialConcurrency: "4"'))
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.load(project / "exp.yml")
    assert info.value.problems == [("trialConcurrency", "must be an integer > 0, got '4' (a string)")]
    assert str(project / "exp.yml") in str(info.value)
    assert "pydantic" not in str(info.value)


V1 = """
authorName: someone
experimentName: old
trialConcurrency: 2
maxExecDuration: 1h
maxTrialNum: 10
trainingServicePlatform: remote
searchSpacePath: search_space.json
useAnnotation: false
tuner:
  builtinTunerName: TPE
  classArgs:
    optimize_mode: maximize
  gpuIndices: 0
assessor:
  codeDir: code
  classFileName: my_assessor.py
  className: MyAssessor
trial:
  command: python3 train.py
  codeDir: code
  gpuNum: 0
remoteConfig:
  reuse: false
machineList:
  - ip: 10.1.1.1
    username: bob
    passwd: hunter2-secret
    port: 2222
    maxTrialNumPerGpu: 1
    preCommand: source env
  - ip: 10.1.1.2
    username: carol
    sshKeyPath: id_test
    passphrase: phrase-secret
"""


def test_v1_config_is_converted(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    (project / "v1.yml").write_text(V1)
    with caplog.at_level(logging.WARNING, logger="nni_remote.config"):
        config = ExperimentConfig.load(project / "v1.yml")
    canon = config.canonical()
    assert (canon.experiment_name, canon.trial_concurrency, canon.max_experiment_duration,
            canon.max_trial_number) == ("old", 2, "1h", 10)
    assert canon.trial_command == "python3 train.py" and canon.trial_gpu_number == 0
    assert canon.tuner is not None and canon.tuner.name == "TPE" and canon.tuner_gpu_indices == [0]
    assert canon.assessor is not None and canon.assessor.class_name == "my_assessor.MyAssessor"
    assert canon.assessor.code_directory == os.path.realpath(project / "code")
    bob, carol = canon.machines
    assert (bob.host, bob.user, bob.port) == ("10.1.1.1", "bob", 2222)
    assert bob.password is not None and bob.password.get_secret_value() == "hunter2-secret"
    assert carol.ssh_key_file == os.path.realpath(project / "id_test")
    assert carol.ssh_passphrase is not None and carol.ssh_passphrase.get_secret_value() == "phrase-secret"
    assert "v1 config" in caplog.text and "preCommand" in caplog.text and "authorName" in caplog.text
    assert "hunter2-secret" not in caplog.text and "phrase-secret" not in caplog.text


@pytest.mark.parametrize("platform", ["pai", "kubeflow"])
def test_v1_other_platform_rejected(project: Path, platform: str) -> None:
    (project / "v1.yml").write_text(V1.replace("trainingServicePlatform: remote",
                                               f"trainingServicePlatform: {platform}"))
    with pytest.raises(ConfigError, match="not supported by nni-remote") as info:
        ExperimentConfig.load(project / "v1.yml")
    assert info.value.problems[0][0] == "trainingService.platform"


def test_v1_multiphase_rejected(project: Path) -> None:
    (project / "v1.yml").write_text(V1 + "multiPhase: true\n")
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.load(project / "v1.yml")
    assert info.value.problems[0][0] == "multiPhase"


def test_non_utf8_file(project: Path) -> None:
    (project / "latin.yml").write_bytes(b"experimentName: caf\xe9\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        ExperimentConfig.load(project / "latin.yml")
