"""Builds the trial agent into one zipapp (``agent.pyz``) with a stable hash.

The archive is deterministic (sorted names, fixed timestamps), so the same
agent code always has the same sha256 and an upload can be skipped when a
machine already holds it.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from functools import lru_cache

import trial_agent

_MAIN = b"import sys\nfrom trial_agent.__main__ import main\nsys.exit(main())\n"
_EPOCH = (2020, 1, 1, 0, 0, 0)


@lru_cache(maxsize=1)
def agent_zipapp() -> tuple[bytes, str]:
    """Return (zipapp bytes, sha256 hex) of the current trial agent."""
    root = os.path.dirname(trial_agent.__file__)
    files: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                full = os.path.join(dirpath, name)
                files.append((full, "trial_agent/" + os.path.relpath(full, root).replace(os.sep, "/")))
    buf = io.BytesIO()
    buf.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("__main__.py", _EPOCH), _MAIN)
        for full, arc in sorted(files, key=lambda f: f[1]):
            info = zipfile.ZipInfo(arc, _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(full, "rb") as f:
                zf.writestr(info, f.read())
    data = buf.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def write_agent(directory: str) -> str:
    """Write ``agent-<hash12>.pyz`` into ``directory`` (if absent); return its path."""
    data, digest = agent_zipapp()
    path = os.path.join(directory, f"agent-{digest[:12]}.pyz")
    if not os.path.exists(path):
        os.makedirs(directory, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return path
