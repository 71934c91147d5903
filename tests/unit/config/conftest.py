"""Fixtures for the config tests: a project folder with code, a search space and a key."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict

import pytest

SEARCH_SPACE = {"lr": {"_type": "loguniform", "_value": [0.0001, 0.1]}}


@pytest.fixture
def search_space() -> Dict[str, Any]:
    """The search space written to ``project/search_space.json``."""
    return copy.deepcopy(SEARCH_SPACE)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """``tmp_path`` holding ``code/train.py``, ``search_space.json`` and a key ``id_test``."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text("print('hi')\n")
    (tmp_path / "search_space.json").write_text(json.dumps(SEARCH_SPACE))
    key = tmp_path / "id_test"
    key.write_text("not really a key\n")
    key.chmod(0o600)
    return tmp_path


@pytest.fixture
def valid(project: Path) -> Dict[str, Any]:
    """A valid remote config as a camelCase dict, paths relative to ``project``."""
    return copy.deepcopy({
        "searchSpaceFile": "search_space.json",
        "trialCommand": "python3 train.py",
        "trialCodeDirectory": "code",
        "trialConcurrency": 2,
        "tuner": {"name": "TPE", "classArgs": {"optimize_mode": "maximize"}},
        "trainingService": {
            "platform": "remote",
            "machineList": [
                {"host": "10.0.0.7", "user": "alice", "sshKeyFile": "id_test"},
                {"host": "10.0.0.8", "user": "bob", "password": "s3cret-pw"},
            ],
        },
    })
