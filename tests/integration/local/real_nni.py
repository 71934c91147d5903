"""The real nni 3.0 for tests: its Python (``$NNI_REMOTE_REAL_NNI_PYTHON``, set by ``.ci/run``), its
``nnictl``, and its package made importable by the manager (the head's Python); SMAC3 the same way
(``$NNI_REMOTE_SMAC_PYTHON``).

nni (and smac) live in their own venvs. :func:`link_site` links the packages of
such a venv that the head's Python lacks (nni and its own dependencies) into a
folder and puts it on ``PYTHONPATH`` for the managers a test starts, so nothing
the head already has is shadowed. Both must be the same Python version.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from typing import Optional

import pytest

_SKIP_ENTRIES = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "__pycache__")


def real_nni_python() -> Optional[str]:
    candidate = os.environ.get("NNI_REMOTE_REAL_NNI_PYTHON")
    return candidate if candidate and os.path.exists(candidate) else None


def nnictl() -> str:
    python = real_nni_python()
    if python is None:
        pytest.skip("NNI_REMOTE_REAL_NNI_PYTHON is not set: .ci/run installs nni 3.0 in a venv and sets it")
    path = os.path.join(os.path.dirname(python), "nnictl")
    if not os.path.exists(path):
        pytest.skip(f"no nnictl next to {python}")
    return path


def nni_on_head(monkeypatch: pytest.MonkeyPatch, folder: str) -> None:
    """Make the real ``nni`` importable by managers started after this (or skip, saying why)."""
    _on_head(monkeypatch, folder, "nni", real_nni_python(),
             "NNI_REMOTE_REAL_NNI_PYTHON is not set (.ci/run sets it); pip install nni==3.0 next to nni-remote")


def smac_python() -> Optional[str]:
    """The Python of the venv with SMAC3 (``$NNI_REMOTE_SMAC_PYTHON``, set by ``.ci/run``), if any."""
    candidate = os.environ.get("NNI_REMOTE_SMAC_PYTHON")
    return candidate if candidate and os.path.exists(candidate) else None


def smac_on_head(monkeypatch: pytest.MonkeyPatch, folder: str) -> None:
    """Make ``smac`` importable by managers started after this (or skip, saying why)."""
    _on_head(monkeypatch, folder, "smac", smac_python(),
             "NNI_REMOTE_SMAC_PYTHON is not set (.ci/run sets it); pip install 'nni-remote[smac]'")


def _on_head(monkeypatch: pytest.MonkeyPatch, folder: str, module: str, python: Optional[str], how: str) -> None:
    if _manager_imports(module):
        return
    if python is None:
        pytest.skip(f"{module} is not importable by the head's Python and {how} to run this")
    link_site(monkeypatch, folder, python)


def _manager_imports(module: str) -> bool:
    """Whether a manager started now (a new interpreter, this environment) can import ``module``; this
    process's own path may differ (an earlier test may have put a stand-in ``nni`` on it)."""
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def link_site(monkeypatch: pytest.MonkeyPatch, folder: str, python: str) -> None:
    """Put the packages of ``python``'s venv that the head's Python lacks on the managers' ``PYTHONPATH``."""
    info = subprocess.run([python, "-c", "import sys, sysconfig; print(sysconfig.get_paths()['purelib']); "
                                         "print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.split()
    site, version = info[0], info[1]
    if version != "%d.%d" % sys.version_info[:2]:
        pytest.skip(f"the venv of {python} runs Python {version}, the head {sys.version_info[0]}.{sys.version_info[1]}")
    os.makedirs(folder, exist_ok=True)
    for entry in sorted(os.listdir(site)):
        name = entry[:-3] if entry.endswith(".py") else entry
        if entry.endswith((".dist-info", ".pth")) or name in _SKIP_ENTRIES or name.endswith(".libs"):
            continue
        if not name.isidentifier() or importlib.util.find_spec(name) is None:
            os.symlink(os.path.join(site, entry), os.path.join(folder, entry))
    for entry in os.listdir(site):      # compiled wheels keep their shared libraries next to them
        if entry.endswith(".libs"):
            os.symlink(os.path.join(site, entry), os.path.join(folder, entry))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), folder])))
