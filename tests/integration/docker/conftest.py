"""A Docker engine for the compose-rig tests, from the project's own driver (deploy/dockerd.py).

``docker_engine`` (session): the engine ``docker info`` answers (``$DOCKER_HOST``, as ``.ci/run``
exports it), else a private ``dockerd`` (vfs storage, 198.18/15 pools) started for the session and
stopped at its end, firewall restored. ``worker_base`` (session): the workers' base image, made
(or found) once. ``dockerd``, ``baseimage``, ``dockerrig``: the modules of ``deploy/``.

Where Docker cannot run (no docker CLI or Compose, not root, no cgroups, no dockerd) these tests
skip with a message naming what is missing (never silently).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Optional

import pytest

from tests.integration.remote.conftest import REPO, rig_factory  # noqa: F401  (the netns rig, beside Docker)


def _load(name: str) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "deploy", f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


dockerd = _load("dockerd")
baseimage = _load("baseimage")
dockerrig = _load("dockerrig")


def docker_skip_reason() -> Optional[str]:
    """Why the Docker rig cannot run here, or None when it can."""
    missing = dockerrig.missing_requirements()
    if not missing:
        return None
    return ("Docker rig tests need a Docker engine and Compose (deploy/dockerrig.py); missing: " + "; ".join(missing)
            + ". As root on Debian: apt-get install -y docker.io docker-compose debootstrap")


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    """The running Docker engine, or a private daemon for this session (stopped at its end)."""
    reason = docker_skip_reason()
    if reason:
        pytest.skip(reason)
    if dockerd.engine_answers():
        yield dockerd.Engine(os.environ.get("DOCKER_HOST"))
        return
    state_dir = tempfile.mkdtemp(prefix="nnird-", dir="/tmp")  # short: the daemon's socket lives there
    try:
        engine = dockerd.start_engine(state_dir)
    except BaseException:
        shutil.rmtree(state_dir, ignore_errors=True)
        raise
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def worker_base(docker_engine: Any) -> Any:
    """The workers' base image on the engine, made once per session; removed at its end if made here."""
    try:
        base, made_here = baseimage.ensure_base_image(docker_engine.env)
    except baseimage.BaseImageError as exc:
        pytest.skip(f"no base image for the rig's workers: {exc}")
    yield base
    if made_here:
        subprocess.run(["docker", "rmi", base], env=docker_engine.env, capture_output=True, timeout=120)
