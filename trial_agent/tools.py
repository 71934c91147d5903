"""One-shot helpers run on a worker: ``python3 agent.pyz extract TAR DEST HASH``.

Extraction is safe: members must be regular files or directories with
relative paths inside DEST (no absolute paths, no ``..``, no links, no
devices); anything else aborts with a message naming the member.
"""
from __future__ import annotations

import os
import shutil
import sys
import tarfile
from typing import Iterator, List

HASH_FILE = ".nni-remote-code-hash"


def safe_members(archive: tarfile.TarFile, dest: str) -> Iterator[tarfile.TarInfo]:
    root = os.path.realpath(dest)
    for member in archive.getmembers():
        name = member.name
        target = os.path.realpath(os.path.join(root, name))
        if name.startswith("/") or ".." in name.split("/") or not (target == root or target.startswith(root + os.sep)):
            raise ValueError("unsafe path in code archive: %r" % name)
        if not (member.isfile() or member.isdir()):
            raise ValueError("code archive member %r is not a regular file or directory" % name)
        member.mode &= 0o700  # the user's only (docs/security.md): other users of the host read nothing
        yield member


def extract(tar_path: str, dest: str, digest: str) -> int:
    """Extract ``tar_path`` into ``dest`` unless it already holds ``digest``."""
    marker = os.path.join(dest, HASH_FILE)
    try:
        with open(marker) as f:
            if f.read().strip() == digest:
                return 0
    except OSError:
        pass
    tmp = dest + ".extracting"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with tarfile.open(tar_path, "r:gz") as archive:
        members = list(safe_members(archive, tmp))
        if hasattr(tarfile, "data_filter"):
            archive.extractall(tmp, members=members, filter="data")
        else:
            archive.extractall(tmp, members=members)
    with open(os.path.join(tmp, HASH_FILE), "w") as f:
        f.write(digest)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.rename(tmp, dest)
    return 0


def main(argv: List[str]) -> int:
    if len(argv) != 4 or argv[0] != "extract":
        sys.stderr.write("usage: agent.pyz extract TAR DEST HASH\n")
        return 2
    try:
        return extract(argv[1], argv[2], argv[3])
    except (OSError, ValueError, tarfile.TarError) as exc:
        sys.stderr.write("cannot extract the trial code: %s\n" % exc)
        return 1
