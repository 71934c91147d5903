"""Security fixtures: a second unix user on the head, and a working directory other users could traverse.

``stranger`` is a marked unix user created on the head for the test (deploy/sshrig.py
``head_user``) and removed afterwards, also when the test fails. ``stranger_http``
makes an HTTP request as that user with Debian's python3 and the standard library
only, the way another user of a shared head node would. ``open_workdir`` is a
directory under /var/tmp with mode 0755 (pytest's own tmp root is 0700, which
would hide an experiment from other users whatever nni-remote does).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Optional

import pytest

from tests.integration.local.conftest import code_dir, launch, make_config  # noqa: F401  (shared fixtures)
from tests.integration.remote.conftest import rig_factory, sshrig  # noqa: F401  (the rig fixture)

STRANGER_PYTHON = "/usr/bin/python3"
_HTTP = r'''
import json, sys, urllib.request, urllib.error
req = json.load(sys.stdin)
r = urllib.request.Request(req["url"], method=req["method"], headers=req["headers"],
                           data=None if req["body"] is None else req["body"].encode())
try:
    with urllib.request.urlopen(r, timeout=30) as resp:
        out = {"status": resp.status, "body": resp.read().decode(errors="replace")}
except urllib.error.HTTPError as exc:
    out = {"status": exc.code, "body": exc.read().decode(errors="replace")}
print(json.dumps(out))
'''


@pytest.fixture
def stranger() -> Any:
    """Another unix user on the head (skips, saying why, without root or useradd)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None and not os.path.exists("/usr/sbin/useradd"):
        pytest.skip("needs root and useradd to create a second unix user on the head")
    if not os.path.exists(STRANGER_PYTHON):
        pytest.skip(f"needs {STRANGER_PYTHON} (a python3 every user can run)")
    with sshrig.head_user() as user:
        yield user


def stranger_http(user: Any, method: str, url: str, *, headers: Optional[dict] = None,
                  body: Optional[str] = None) -> tuple[int, str]:
    """``(status, body)`` of one HTTP request made by ``user`` (another unix user of this machine)."""
    request = {"url": url, "method": method, "headers": headers or {}, "body": body}
    proc = user.run([STRANGER_PYTHON, "-c", _HTTP], input=json.dumps(request).encode())
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    reply = json.loads(proc.stdout)
    return reply["status"], reply["body"]


@pytest.fixture
def open_workdir() -> Any:
    """A 0755 directory under /var/tmp (other users may traverse it), removed afterwards."""
    path = tempfile.mkdtemp(prefix="nni-remote-sec-", dir="/var/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
