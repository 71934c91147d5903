"""``mypy --strict nni_remote`` is clean (CI runs only pytest, so the check is a test)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_package_type_checks_strictly():
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict",
                             "nni_remote"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_agent_type_checks():
    """The agent's own modules carry type hints that check (the trial-side ``nni`` shim mirrors NNI's API)."""
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    files = [os.path.join("trial_agent", f) for f in ("__main__.py", "agent.py", "gpu.py", "metrics.py",
                                                      "protocol.py", "runner.py", "tools.py", "slurm_jobs.py",
                                                      "slurm_runner.py", "slurm_pool.py", "slurm_worker.py",
                                                      "procid.py", "cleanup.py", "files.py")]
    result = subprocess.run([sys.executable, "-m", "mypy", "--disallow-untyped-defs", *files], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
