"""trial_agent/files.py: the one safe reader of trial files (links, FIFOs, paths refused; bounded)."""
from __future__ import annotations

import os
import threading

import pytest

from trial_agent.files import MAX_READ, UnsafeFile, list_files, main, read_range


@pytest.fixture
def trial_dir(tmp_path):
    d = tmp_path / "trial"
    d.mkdir()
    (d / "trial.stdout").write_bytes(b"0123456789")
    (tmp_path / "secret").write_text("root:$6$hash")
    return d


def test_reads_tail_and_ranges(trial_dir):
    assert read_range(str(trial_dir), "trial.stdout", 4) == (b"6789", 10, 6)
    assert read_range(str(trial_dir), "trial.stdout", 3, 2) == (b"234", 10, 2)
    assert read_range(str(trial_dir), "trial.stdout", 100, 50) == (b"", 10, 10)


def test_symlinks_are_refused_not_followed(trial_dir, tmp_path):
    os.symlink(str(tmp_path / "secret"), str(trial_dir / "x"))
    os.symlink("/etc/shadow", str(trial_dir / "shadow"))
    os.symlink("/proc/self/environ", str(trial_dir / "env"))
    for name in ("x", "shadow", "env"):
        with pytest.raises(UnsafeFile, match="symbolic link"):
            read_range(str(trial_dir), name, 100)
    assert [f["name"] for f in list_files(str(trial_dir))] == ["trial.stdout"]


def test_paths_and_dotdot_are_refused(trial_dir):
    for name in ("../secret", "..", ".", "a/b", "/etc/passwd", "x\0y", ""):
        with pytest.raises(UnsafeFile):
            read_range(str(trial_dir), name, 100)


def test_a_linked_trial_directory_is_refused(trial_dir, tmp_path):
    os.symlink(str(tmp_path), str(tmp_path / "linkdir"))
    with pytest.raises(UnsafeFile):
        read_range(str(tmp_path / "linkdir"), "secret", 100)


def test_fifo_is_refused_at_once_without_blocking(trial_dir):
    os.mkfifo(str(trial_dir / "pipe"))
    outcome: list = []

    def reader() -> None:
        try:
            read_range(str(trial_dir), "pipe", 100)
        except UnsafeFile as exc:
            outcome.append(exc)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout=30)  # a blocking open would hang here forever (nobody ever writes the FIFO)
    assert not t.is_alive() and outcome and "not a regular file" in str(outcome[0])
    assert "pipe" not in [f["name"] for f in list_files(str(trial_dir))]


def test_reads_are_bounded(trial_dir):
    with open(trial_dir / "big", "wb") as f:
        f.truncate(MAX_READ * 2)
    data, total, begin = read_range(str(trial_dir), "big", MAX_READ * 10, 0)
    assert len(data) == MAX_READ and total == MAX_READ * 2 and begin == 0


def test_missing_file_is_file_not_found(trial_dir):
    with pytest.raises(FileNotFoundError):
        read_range(str(trial_dir), "trial.stderr", 10)


def test_cli_answers_one_json_line(trial_dir, capsys):
    import base64
    import json
    assert main(["read", str(trial_dir), "trial.stdout", "4", "tail"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert base64.b64decode(reply["data"]) == b"6789" and reply["size"] == 10
    os.symlink("/etc/shadow", str(trial_dir / "x"))
    main(["read", str(trial_dir), "x", "4", "0"])
    assert json.loads(capsys.readouterr().out)["error"] == "unsafe"
    main(["read", str(trial_dir), "nope", "4", "0"])
    assert json.loads(capsys.readouterr().out)["error"] == "missing"
