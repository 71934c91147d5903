"""Building configs in Python the way NNI users do."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict

import pytest

import nni_remote.config as config_pkg
from nni_remote.config import (AlgorithmConfig, ExperimentConfig, LocalConfig, RemoteConfig,
                               RemoteMachineConfig)
from nni_remote.errors import ConfigError


def test_public_surface() -> None:
    assert sorted(config_pkg.__all__) == sorted([
        "ExperimentConfig", "AlgorithmConfig", "LocalConfig", "RemoteConfig", "RemoteMachineConfig", "SlurmConfig",
        "parse_time", "parse_size", "parse_gpu_indices", "SecretBox"])
    for name in config_pkg.__all__:
        assert getattr(config_pkg, name) is not None


@pytest.mark.parametrize("platform, cls", [("local", LocalConfig), ("remote", RemoteConfig)])
def test_blank_template(platform: str, cls: type) -> None:
    config = ExperimentConfig(platform)
    assert isinstance(config.training_service, cls)
    assert config.platform == platform
    for name in ("tuner", "assessor", "advisor"):
        algorithm = getattr(config, name)
        assert isinstance(algorithm, AlgorithmConfig)
        assert algorithm.name is None and algorithm.class_args == {}
    assert config.trial_concurrency is None and config.training_service.trial_command is None


def test_seed_example(project: Path, search_space: Dict[str, Any]) -> None:
    config = ExperimentConfig("remote")
    config.machines.append(RemoteMachineConfig(ip="10.0.0.1", user_name="bob", password="pw"))
    config.tuner.name = "TPE"
    config.tuner.class_args["optimize_mode"] = "maximize"
    config.trial_command = "python3 train.py"
    config.trial_code_directory = project / "code"
    config.trial_concurrency = 2
    config.search_space = search_space
    canon = config.canonical()
    assert canon.assessor is None and canon.advisor is None
    assert canon.tuner is not None and canon.tuner.class_args == {"optimize_mode": "maximize"}
    machine = canon.machines[0]
    assert (machine.host, machine.user, machine.password.get_secret_value()) == ("10.0.0.1", "bob", "pw")
    assert canon.training_service.trial_command == "python3 train.py"


def test_kwargs_construction_with_objects(project: Path, search_space: Dict[str, Any]) -> None:
    config = ExperimentConfig(
        search_space=search_space, trial_command="python3 train.py", trial_code_directory=str(project / "code"),
        trial_concurrency=1, tuner=AlgorithmConfig(name="Random"),
        training_service=LocalConfig(use_active_gpu=True))
    canon = config.canonical()
    assert canon.platform == "local" and canon.training_service.use_active_gpu is True


def test_nested_dicts_and_any_key_spelling() -> None:
    config = ExperimentConfig(TRIALCONCURRENCY=3, trainingService={
        "PLATFORM": "remote", "machine_list": [{"HOST": "h", "User": "u", "ssh_KEY_file": "~/k"}]})
    assert config.trial_concurrency == 3
    assert config.machines[0].ssh_key_file == "~/k"


@pytest.mark.parametrize("kwargs", [
    {"ip": "h", "user_name": "u"}, {"host": "h", "username": "u"}, {"ip": "h", "userName": "u"}])
def test_machine_aliases(kwargs: Dict[str, Any]) -> None:
    machine = RemoteMachineConfig(**kwargs)
    assert (machine.host, machine.user) == ("h", "u")


def test_machine_v1_keys() -> None:
    machine = RemoteMachineConfig(ip="h", username="u", passwd="pw", sshKeyPath="/k", passphrase="pp",
                                  maxTrialNumPerGpu=2)
    assert machine.password is not None and machine.password.get_secret_value() == "pw"
    assert machine.ssh_passphrase is not None and machine.ssh_passphrase.get_secret_value() == "pp"
    assert machine.ssh_key_file == "/k" and machine.max_trial_number_per_gpu == 2


def test_machine_defaults() -> None:
    machine = RemoteMachineConfig(host="h", user="u")
    assert machine.port == 22 and machine.ssh_key_file is None and machine.name is None
    assert machine.max_trial_number is None and machine.accept_new_host_key is False and machine.ssh_config is True
    assert machine.use_active_gpu is False and machine.max_trial_number_per_gpu == 1


def test_unknown_attribute_is_attribute_error() -> None:
    config = ExperimentConfig("remote")
    with pytest.raises(AttributeError, match="trial_concurency.*did you mean 'trial_concurrency'"):
        config.trial_concurency = 3  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="RemoteMachineConfig"):
        RemoteMachineConfig(host="h").hots = "x"  # type: ignore[attr-defined]


def test_assignment_is_validated_and_strict() -> None:
    config = ExperimentConfig("local")
    with pytest.raises(ConfigError) as info:
        config.trial_concurrency = "4"  # type: ignore[assignment]
    assert info.value.problems == [("trialConcurrency", "must be an integer > 0, got '4' (a string)")]
    with pytest.raises(ConfigError):
        config.debug = 1  # type: ignore[assignment]
    config.trialConcurrency = 4  # camelCase attribute names work too
    assert config.trial_concurrency == 4


def test_machines_property_needs_remote() -> None:
    with pytest.raises(AttributeError, match="remote"):
        ExperimentConfig("local").machines
    config = ExperimentConfig("remote")
    config.machines = [{"host": "h", "user": "u"}]  # type: ignore[list-item]
    assert isinstance(config.machines[0], RemoteMachineConfig)
    assert config.machines is config.training_service.machine_list


def test_platform_unset() -> None:
    assert ExperimentConfig().platform is None


def test_canonical_does_not_touch_original(valid: Dict[str, Any], project: Path) -> None:
    config = ExperimentConfig(**valid)
    config.canonical(str(project))
    assert config.trial_code_directory == "code" and config.search_space is None
    assert config.training_service.trial_command is None and config.log_level is None


def test_canonical_pipeline(valid: Dict[str, Any], project: Path, tmp_path: Path,
                            search_space: Dict[str, Any]) -> None:
    link = tmp_path / "link"
    link.symlink_to(project / "code")
    valid.update(trialCodeDirectory="link", debug=True, tunerGpuIndices="0,1", trialGpuNumber=0,
                 nniManagerIp="10.0.0.5", experimentWorkingDirectory="~/exps")
    valid["trainingService"]["machineList"][1]["sshKeyFile"] = "id_test"
    valid["trainingService"]["machineList"][0]["gpuIndices"] = 1
    canon = ExperimentConfig(**valid).canonical(str(project))
    assert canon.log_level == "debug"
    assert canon.tuner_gpu_indices == [0, 1]
    assert canon.trial_code_directory == os.path.realpath(project / "code")
    assert canon.experiment_working_directory == os.path.realpath(os.path.expanduser("~/exps"))
    assert canon.search_space == search_space
    service = canon.training_service
    assert (service.trial_command, service.trial_code_directory, service.trial_gpu_number,
            service.nni_manager_ip, service.debug) == ("python3 train.py", canon.trial_code_directory, 0,
                                                       "10.0.0.5", True)
    first, second = service.machine_list
    assert first.ssh_key_file == os.path.realpath(project / "id_test") and first.gpu_indices == [1]
    assert second.ssh_key_file is None  # password wins over the key file
    assert first.name == "10.0.0.7"


def test_service_own_values_win(valid: Dict[str, Any], project: Path) -> None:
    valid["trainingService"]["trialCommand"] = "bash run.sh"
    canon = ExperimentConfig(**valid).canonical(str(project))
    assert canon.trial_command == "python3 train.py"
    assert canon.training_service.trial_command == "bash run.sh"


def test_local_forgets_manager_ip(project: Path) -> None:
    config = ExperimentConfig("local", trial_command="x", trial_concurrency=1, search_space={},
                              nni_manager_ip="1.2.3.4", trial_code_directory=str(project))
    config.tuner.name = "Random"
    assert config.canonical().training_service.nni_manager_ip is None


def test_advisor_becomes_tuner(valid: Dict[str, Any], project: Path) -> None:
    valid["advisor"] = valid.pop("tuner")
    canon = ExperimentConfig(**valid).canonical(str(project))
    assert canon.tuner is not None and canon.tuner.name == "TPE" and canon.advisor is None


def test_nni_placeholder_name_dropped(valid: Dict[str, Any], project: Path) -> None:
    valid["assessor"] = {"name": "_none_", "classArgs": {}}
    assert ExperimentConfig(**valid).canonical(str(project)).assessor is None


def test_custom_algorithm(valid: Dict[str, Any], project: Path) -> None:
    valid["tuner"] = {"className": "my_tuner.MyTuner", "codeDirectory": "code", "classArgs": {"a": 1}}
    canon = ExperimentConfig(**valid).canonical(str(project))
    assert canon.tuner is not None and canon.tuner.code_directory == os.path.realpath(project / "code")


def test_search_space_file_yaml_fallback_overrides_inline(valid: Dict[str, Any], project: Path) -> None:
    (project / "space.yml").write_text("x:\n  _type: choice\n  _value: [1, 2]\n")
    valid.update(searchSpaceFile="space.yml", searchSpace={"ignored": 1})
    canon = ExperimentConfig(**valid).canonical(str(project))
    assert canon.search_space == {"x": {"_type": "choice", "_value": [1, 2]}}


def test_relative_paths_default_to_cwd(valid: Dict[str, Any], project: Path, search_space: Dict[str, Any],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    assert ExperimentConfig(**valid).canonical().search_space == search_space


def test_validate_and_canonical_copy_aliases(valid: Dict[str, Any], project: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    config = ExperimentConfig(**valid)
    config.validate()
    assert config.canonical_copy().to_json() == config.to_json() == config.json()


def test_model_validate_raises_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.model_validate({"trialConcurrency": "4"})
    assert info.value.problems[0][0] == "trialConcurrency"
    assert RemoteMachineConfig.model_validate({"ip": "h"}).host == "h"
