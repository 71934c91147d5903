"""services/code_upload.py: experiment configs and files holding a configured secret never leave the head."""
from __future__ import annotations

import io
import tarfile

from nni_remote.services.code_upload import pack_code


def _names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return set(tar.getnames())


def test_config_and_secret_files_stay_home(tmp_path):
    (tmp_path / "trial.py").write_text("print('hi')\n")
    (tmp_path / "config.yml").write_text("trialCommand: python3 trial.py\ntrainingService:\n  platform: remote\n")
    (tmp_path / "other.json").write_text('{"training_service": {"platform": "remote"}}')
    (tmp_path / "notes.txt").write_text("ssh password is hunter2-long\n")
    (tmp_path / "data.json").write_text('{"trainingService is mentioned": false}'.replace("trainingService", "x"))
    package = pack_code(str(tmp_path), ("hunter2-long", "abc"))   # "abc": too short to search for
    assert _names(package.data) == {"trial.py", "data.json"}
    skipped = dict(package.skipped)
    assert set(skipped) == {"config.yml", "other.json", "notes.txt"}
    assert "experiment config" in skipped["config.yml"] and "password" in skipped["notes.txt"]
    assert package.files == 2


def test_hash_ignores_nothing_else(tmp_path):
    (tmp_path / "trial.py").write_text("x = 1\n")
    first = pack_code(str(tmp_path))
    assert pack_code(str(tmp_path)).digest == first.digest and first.skipped == []
