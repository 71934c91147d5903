"""deploy/Dockerfile.worker builds with Docker's legacy builder and with BuildKit, from the rig's base image."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest

from tests.integration.docker.conftest import REPO


def docker_clis() -> list[str]:
    """Every docker CLI here: a newer one may lack BuildKit (no buildx), Debian's 20.10 has it built in."""
    found = [shutil.which("docker") or "", "/usr/bin/docker"]
    return [c for i, c in enumerate(found) if c and os.access(c, os.X_OK) and c not in found[:i]]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("buildkit", ["0", "1"], ids=["legacy", "buildkit"])
def test_worker_image_builds(docker_engine, worker_base, buildkit):
    tag = f"nni-remote-worker:test-{secrets.token_hex(3)}"
    failures = []
    try:
        for cli in docker_clis():
            proc = subprocess.run(
                [cli, "build", "-q", "--build-arg", f"BASE_IMAGE={worker_base}", "-t", tag, "-f",
                 os.path.join(REPO, "deploy", "Dockerfile.worker"), os.path.join(REPO, "deploy")],
                env=dict(docker_engine.env, DOCKER_BUILDKIT=buildkit), capture_output=True, text=True, timeout=540)
            if proc.returncode == 0:
                break
            failures.append(f"{cli}: {proc.stderr.strip()[-500:]}")
        else:
            if buildkit == "1" and all("buildx" in f for f in failures):
                pytest.skip("no docker CLI here builds with BuildKit (buildx missing): " + "; ".join(failures))
            pytest.fail("build failed:\n" + "\n".join(failures))
        out = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/bin/sh", tag, "-c",
                              "id -u nni; stat -c %a /home/nni; test -x /usr/local/bin/worker-entrypoint && echo ok;"
                              " command -v python3 /usr/sbin/sshd"],
                             env=docker_engine.env, capture_output=True, text=True, timeout=120)
        lines = out.stdout.split()
        assert out.returncode == 0 and lines[1:3] == ["700", "ok"] and lines[0] != "0", out.stdout + out.stderr
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], env=docker_engine.env, capture_output=True, timeout=120)
