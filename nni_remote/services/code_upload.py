"""Packing the trial code directory for upload: ``.nniignore``, limits, secrets kept home, a stable hash.

The archive's hash covers paths, modes and contents only (not timestamps), so
an unchanged directory always hashes the same and a machine that already holds
it is not sent it again — across resumes and across experiments.

Nothing secret leaves the head (docs/security.md): an experiment config file
(YAML/JSON naming a ``trainingService``; the quick-start layout keeps it in the
code directory) and any file containing one of the configured secrets
(passwords, key passphrases) are left out, each named in a warning that says
to list it in ``.nniignore``.
"""
from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass

from nni_remote.errors import ConfigError

MAX_FILES = 2000
MAX_BYTES = 300 * 1024 * 1024


@dataclass
class CodePackage:
    data: bytes          # tar.gz bytes
    digest: str          # sha256 of (path, mode, content) of every file
    files: int
    size: int
    skipped: list[tuple[str, str]]   # (relative path, why it was kept on the head)


MIN_SECRET = 4                       # shorter secrets would match everywhere; they are not searched for
CONFIG_SUFFIXES = (".yml", ".yaml", ".json")
CONFIG_MARKERS = (b"trainingService", b"training_service")


def _kept_home(rel: str, content: bytes, secrets: list[bytes]) -> str | None:
    """Why this file must not be uploaded, or None."""
    if rel.lower().endswith(CONFIG_SUFFIXES) and any(m in content for m in CONFIG_MARKERS):
        return "it is an experiment config (it names the machines and their logins)"
    if any(s in content for s in secrets):
        return "it contains a password or passphrase of the experiment's config"
    return None


def _read_ignore(root: str) -> list[str]:
    path = os.path.join(root, ".nniignore")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.strip().startswith("#")]


def ignored(relpath: str, is_dir: bool, patterns: list[str]) -> bool:
    """gitignore-style matching of a path relative to the code directory."""
    result = False
    name = relpath.rsplit("/", 1)[-1]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        if pat.endswith("/"):
            if not is_dir:
                continue
            pat = pat.rstrip("/")
        anchored = pat.startswith("/") or "/" in pat.rstrip("/")
        pat = pat.lstrip("/")
        hit = fnmatch.fnmatchcase(relpath, pat) if anchored else (
            fnmatch.fnmatchcase(name, pat) or fnmatch.fnmatchcase(relpath, pat))
        if hit:
            result = not negate
    return result


def pack_code(root: str, secrets: tuple[str, ...] = ()) -> CodePackage:
    """Pack ``root`` honouring its ``.nniignore``, leaving secrets home; raise ConfigError above the limits."""
    needles = [s.encode() for s in secrets if s and len(s) >= MIN_SECRET]
    skipped: list[tuple[str, str]] = []
    patterns = _read_ignore(root)
    entries: list[tuple[str, str]] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not ignored(rel_dir + d, True, patterns))
        for name in sorted(filenames):
            rel = rel_dir + name
            full = os.path.join(dirpath, name)
            if ignored(rel, False, patterns) or not os.path.isfile(full):
                continue
            entries.append((rel, full))
            total += os.path.getsize(full)
            if len(entries) > MAX_FILES:
                raise ConfigError([("trialCodeDirectory", f"{root} has more than {MAX_FILES} files to upload; "
                                    "list what trials do not need (data, checkpoints, .git) in its .nniignore")])
            if total > MAX_BYTES:
                raise ConfigError([("trialCodeDirectory", f"{root} holds more than {MAX_BYTES // 2**20} MB to "
                                    "upload; list large files (data sets, checkpoints) in its .nniignore and "
                                    "read them from a path on the machines instead")])
    digest = hashlib.sha256()
    buf = io.BytesIO()
    # gzip's header holds a time: fixed at 0, the same code packs to the same bytes (the host cache checks them)
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for rel, full in entries:
            mode = 0o755 if os.access(full, os.X_OK) else 0o644
            with open(full, "rb") as f:
                content = f.read()
            why = _kept_home(rel, content, needles)
            if why is not None:
                skipped.append((rel, why))
                continue
            digest.update(rel.encode() + b"\0" + str(mode).encode() + b"\0")
            digest.update(hashlib.sha256(content).digest())
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(content), mode, 0
            tar.addfile(info, io.BytesIO(content))
    return CodePackage(buf.getvalue(), digest.hexdigest(), len(entries) - len(skipped), total, skipped)
