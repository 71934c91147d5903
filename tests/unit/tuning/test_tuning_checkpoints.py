"""NNI_CHECKPOINT_DIRECTORY while algorithms are built, and the check that trials can reach it."""
from __future__ import annotations

import os

import pytest

from nni_remote.errors import TunerError
from nni_remote.tuning import checkpoints, create_tuner


def test_the_variable_is_set_while_built_and_restored_after(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(checkpoints.ENV, "/before")
    folder = str(tmp_path / "exp" / "checkpoint")
    with checkpoints.dispatcher_environment(folder):
        tuner = create_tuner({"name": "PBT"})
        assert os.environ[checkpoints.ENV] == folder and os.path.isdir(folder)
    assert os.environ[checkpoints.ENV] == "/before"
    assert tuner.all_checkpoint_dir == folder                  # NNI's default all_checkpoint_dir
    monkeypatch.delenv(checkpoints.ENV)
    with checkpoints.dispatcher_environment(folder):
        pass
    assert checkpoints.ENV not in os.environ


def test_reach_is_checked_only_for_the_default_folder_off_the_head(tmp_path) -> None:
    folder = str(tmp_path / "checkpoint")
    with checkpoints.dispatcher_environment(folder):
        default = create_tuner({"name": "PBT"})
        chosen = create_tuner({"name": "PBT", "classArgs": {"all_checkpoint_dir": str(tmp_path / "nfs")}})
        other = create_tuner({"name": "Random"})
    checkpoints.check_reach(default, folder, trials_see_head_files=True)
    checkpoints.check_reach(chosen, folder, trials_see_head_files=False)
    checkpoints.check_reach(other, folder, trials_see_head_files=False)
    with pytest.raises(TunerError, match="set tuner.classArgs.all_checkpoint_dir to a folder that every machine"):
        checkpoints.check_reach(default, folder, trials_see_head_files=False)
