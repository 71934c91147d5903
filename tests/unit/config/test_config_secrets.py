"""Secrets never leak (repr, str, JSON, logs, errors) and SecretBox keeps them at rest."""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any, Dict

import pytest

from nni_remote.config import ExperimentConfig, RemoteMachineConfig, SecretBox
from nni_remote.errors import ConfigError

PASSWORD, PHRASE = "s3cret-pw", "pass-phrase-xyz"


@pytest.fixture
def config(valid: Dict[str, Any]) -> ExperimentConfig:
    valid["trainingService"]["machineList"][0]["sshPassphrase"] = PHRASE
    return ExperimentConfig(**valid)


def test_not_in_repr_str_or_logs(config: ExperimentConfig, caplog: pytest.LogCaptureFixture) -> None:
    machine = config.machines[1]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config %s / %r / machine %s", config, config, machine)
    for text in (repr(config), str(config), repr(machine), str(machine), caplog.text,
                 repr(config.model_dump()), str(config.machines)):
        assert PASSWORD not in text and PHRASE not in text


def test_not_in_masked_json(config: ExperimentConfig, project: Path) -> None:
    text = repr(config.canonical(str(project)).to_json())
    assert PASSWORD not in text and PHRASE not in text and "********" in text


def test_not_in_errors() -> None:
    with pytest.raises(ConfigError) as info:
        RemoteMachineConfig(host="h", user="u", password=987654321)
    assert "987654321" not in str(info.value)
    assert info.value.problems[0][0] == "password"


def test_secret_box_round_trip(tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "secret.key"
    box = SecretBox(str(key_path))
    token = box.encrypt("hello wörld")
    assert "hello" not in token and box.decrypt(token) == "hello wörld"
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key_path.parent).st_mode) == 0o700
    assert SecretBox(str(key_path)).decrypt(token) == "hello wörld"  # same key file, same key


def test_default_key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    box = SecretBox()
    assert box.decrypt(box.encrypt("x")) == "x"
    assert stat.S_IMODE(os.stat(tmp_path / ".nni-remote" / "secret.key").st_mode) == 0o600


def test_wrong_key_is_config_error(tmp_path: Path) -> None:
    token = SecretBox(str(tmp_path / "a.key")).encrypt("x")
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        SecretBox(str(tmp_path / "b.key")).decrypt(token)


def test_seal_and_unseal_config(config: ExperimentConfig, project: Path, tmp_path: Path) -> None:
    clear = config.canonical(str(project)).to_json(include_secrets=True)
    box = SecretBox(str(tmp_path / "k"))
    masked, blob = box.seal_config(clear)
    assert masked == config.canonical(str(project)).to_json()
    assert PASSWORD not in repr(masked) + blob and PHRASE not in repr(masked) + blob
    assert box.unseal_config(masked, blob) == clear
    assert ExperimentConfig.from_json(box.unseal_config(masked, blob)).to_json(include_secrets=True) == clear


def test_unseal_into_changed_config(config: ExperimentConfig, project: Path, tmp_path: Path) -> None:
    box = SecretBox(str(tmp_path / "k"))
    masked, blob = box.seal_config(config.canonical(str(project)).to_json(include_secrets=True))
    del masked["trainingService"]["machineList"][1]
    with pytest.raises(ConfigError) as info:
        box.unseal_config(masked, blob)
    assert info.value.problems[0][0] == "trainingService.machineList[1].password"


def test_seal_leaves_class_args_alone(tmp_path: Path) -> None:
    data = {"tuner": {"name": "X", "classArgs": {"password": "not-a-secret"}}}
    masked, blob = SecretBox(str(tmp_path / "k")).seal_config(data)
    assert masked == data


def test_corrupt_key_file_is_config_error(tmp_path: Path) -> None:
    (tmp_path / "bad.key").write_text("not a fernet key\n")
    with pytest.raises(ConfigError, match="not a valid secret key"):
        SecretBox(str(tmp_path / "bad.key")).encrypt("x")


def test_misplaced_machine_does_not_leak_password() -> None:
    with pytest.raises(ConfigError) as info:
        ExperimentConfig(trainingService={"platform": "remote",
                                          "machineList": {"host": "h", "user": "u", "password": PASSWORD}})
    assert info.value.problems[0][0] == "trainingService.machineList"
    assert PASSWORD not in str(info.value) and "'password'" in str(info.value)
