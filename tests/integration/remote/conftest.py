"""Real sshd hosts for the remote integration tests, from the project's rig (deploy/sshrig.py).

``ssh_rig``: a started rig of 3 hosts, one per login kind (password,
passphrase-protected key, plain key), torn down after the test.
``rig_factory(n, **opts)``: start your own (``logins=[...]``,
``host_options=[{"no_python": True}, {"extra_path_dir": d}, ...]``); every rig
it made is torn down after the test, also when the test fails.

Without root, ``/usr/sbin/sshd``, ``ip netns`` or ``nft`` these fixtures skip
the test with a message naming what is missing (never silently).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any, Callable, List, Optional

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SSHRIG_PATH = os.path.join(REPO, "deploy", "sshrig.py")


def _load_sshrig() -> Any:
    if "sshrig" in sys.modules:
        return sys.modules["sshrig"]
    spec = importlib.util.spec_from_file_location("sshrig", SSHRIG_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sshrig"] = module
    spec.loader.exec_module(module)
    return module


sshrig = _load_sshrig()
SshRig = sshrig.SshRig
RigHost = sshrig.RigHost


def rig_skip_reason() -> Optional[str]:
    """Why rig tests cannot run here, or None when they can."""
    missing = sshrig.missing_requirements()
    if not missing:
        return None
    return ("remote integration tests need real sshd hosts (deploy/sshrig.py); missing: " + "; ".join(missing)
            + ". As root: apt-get install -y openssh-server nftables")


@pytest.fixture
def rig_factory(tmp_path: Any) -> Any:
    """``make(n=3, **opts) -> SshRig``: a started rig; all are torn down after the test."""
    reason = rig_skip_reason()
    if reason:
        pytest.skip(reason)
    rigs: List[Any] = []

    def make(n: int = 3, **opts: Any) -> Any:
        rig = SshRig(tmp_path / f"rig{len(rigs) + 1}")
        rigs.append(rig)
        rig.up(n, **opts)
        return rig

    yield make
    failures = []
    for rig in reversed(rigs):
        try:
            rig.down()
        except Exception as exc:  # report every rig that left something behind
            failures.append(str(exc))
    if failures:
        pytest.fail("rig teardown failed:\n" + "\n".join(failures), pytrace=False)


@pytest.fixture
def ssh_rig(rig_factory: Callable[..., Any]) -> Any:
    """A started rig of 3 hosts: h1 password, h2 passphrase-protected key, h3 plain key."""
    return rig_factory(3)
