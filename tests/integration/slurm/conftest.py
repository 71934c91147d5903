"""A real Slurm cluster for the Slurm tests, from the project's rig (deploy/slurmrig.py).

``slurm_rig``: munged + slurmctld + two slurmd nodes (``c1``, ``c2``, 2 declared
GPUs each) and a login node over SSH, torn down after the test (every daemon by
pid). Without root, Slurm, munge or sshd the test is skipped with a message
naming what is missing.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import pytest

from tests.integration.portal.conftest import browser as browser  # noqa: F401  (headless Chromium)
from tests.integration.remote import conftest as _remote  # noqa: F401  (loads deploy/sshrig.py as `sshrig`)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _load_slurmrig() -> Any:
    if "slurmrig" in sys.modules:
        return sys.modules["slurmrig"]
    spec = importlib.util.spec_from_file_location("slurmrig", os.path.join(REPO, "deploy", "slurmrig.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["slurmrig"] = module
    spec.loader.exec_module(module)
    return module


slurmrig = _load_slurmrig()


@pytest.fixture
def slurm_rig(tmp_path: Any) -> Any:
    missing = slurmrig.missing_requirements()
    if missing:
        pytest.skip("Slurm tests need a real Slurm rig (deploy/slurmrig.py); missing: " + "; ".join(missing)
                    + ". As root: apt-get install -y slurm-wlm munge openssh-server nftables")
    rig = slurmrig.SlurmRig(tmp_path / "slurmrig", nodes=2, gpus_per_node=2)
    try:
        rig.up()
        yield rig
    finally:
        rig.down()
