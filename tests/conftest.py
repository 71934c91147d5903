"""Fixtures shared by every test: an isolated HOME (the experiment registry lives there)."""
from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any, Callable

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


#: Tests under these paths share one outside resource and run on one xdist worker (``--dist loadgroup``):
#: the Docker tests share the engine and the workers' base image the session makes and removes.
SHARED_RESOURCES = {os.path.join("tests", "integration", "docker"): "docker"}


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    for item in items:
        path = os.path.relpath(str(item.fspath), REPO)
        for prefix, group in SHARED_RESOURCES.items():
            if path.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))


def lan_address() -> str | None:
    """A non-loopback IPv4 address of this machine (a client there is not on loopback), or None."""
    import psutil
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return None


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """A fresh HOME so ~/nni-experiments/.experiment is per test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def experiments():
    """Collects started experiments and stops them at teardown, even on failure."""
    started: list = []
    yield started
    for exp in started:
        try:
            exp.stop()
        except Exception:
            pass
