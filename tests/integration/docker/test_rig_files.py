"""The Docker rig's files, checked without an engine: builder-neutral Dockerfile, compose addresses, apt mirror."""
from __future__ import annotations

import os
import re

import pytest
import yaml

from tests.integration.docker.conftest import REPO, baseimage, dockerd, dockerrig

DEPLOY = os.path.join(REPO, "deploy")


def test_dockerfile_builds_with_the_legacy_builder_too():
    text = open(os.path.join(DEPLOY, "Dockerfile.worker")).read()
    assert not text.startswith("# syntax=")                       # a frontend pulled from a registry
    instructions = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "<<" not in instructions and "--chmod" not in instructions  # BuildKit-only
    assert re.search(r"^ARG BASE_IMAGE=\S+\nFROM \$\{BASE_IMAGE\}$", text, re.M)
    assert os.access(os.path.join(DEPLOY, "worker-entrypoint.sh"), os.X_OK)  # COPY keeps the mode


def test_compose_file_uses_rfc2544_addresses_and_loopback_ports_only():
    compose = yaml.safe_load(open(os.path.join(DEPLOY, "docker-compose.yml")))
    assert "name" not in compose and "version" not in compose  # docker-compose 1.29 and Compose v2 alike
    worker = compose["services"]["worker"]
    assert all(str(p).startswith("127.0.0.1:") for p in worker["ports"])
    assert worker["build"]["args"]["BASE_IMAGE"].startswith("${NNI_RIG_BASE_IMAGE")
    subnet = compose["networks"]["rig"]["ipam"]["config"][0]["subnet"]
    assert subnet.endswith(":-198.18.240.0/24}")
    assert all(s.startswith("198.18.") for s in dockerrig.SUBNETS)
    assert dockerd.BIP.startswith("198.18.") and "base=198.18." in dockerd.ADDRESS_POOL


def test_debian_mirror_from_deb822_and_one_line_sources(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n")
    assert baseimage.debian_mirror((str(d),)) == "http://mirror.example/debian"
    one = tmp_path / "sources.list"
    one.write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert baseimage.debian_mirror((str(tmp_path / "none"), str(one))) == "http://other.example/debian"
    assert baseimage.debian_mirror((str(tmp_path / "none"),)) == baseimage.FALLBACK_MIRROR


def test_worker_machine_config_is_an_nni_v2_machine():
    w = dockerrig.Worker(index=1, container="c", address="198.18.240.2", published_port=32768,
                         host="198.18.240.2", port=22)
    assert w.machine_config("/k", "/kh") == {"host": "198.18.240.2", "port": 22, "user": "nni",
                                             "sshKeyFile": "/k", "knownHosts": "/kh"}


def test_rig_refuses_bad_input_before_touching_anything(tmp_path):
    with pytest.raises(dockerrig.DockerRigError, match="auto, direct or published"):
        dockerrig.DockerRig(tmp_path, address="lan")
    (tmp_path / "state.json").write_text("{}")       # a rig is up there: its files must survive the refusal
    with pytest.raises(dockerrig.DockerRigError, match="already up"):
        dockerrig.DockerRig(tmp_path).up(3)
    assert (tmp_path / "state.json").read_text() == "{}"
    with pytest.raises(dockerrig.DockerRigError, match="no Docker rig state"):
        dockerrig.DockerRig.load(tmp_path / "elsewhere")
