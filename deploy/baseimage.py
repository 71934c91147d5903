#!/usr/bin/env python3
"""The base image for the rig's workers: a registry's ``debian:bookworm-slim``, or one made offline.

Where no registry can be reached (no Docker Hub, as on CI), the base is made from
Debian's own packages::

    debootstrap --variant=minbase --include=python3,openssh-server,procps bookworm ROOTFS MIRROR
    tar -C ROOTFS -c . | docker import - nni-remote-base:bookworm

``MIRROR`` is the Debian mirror of this machine's apt sources (``/etc/apt/sources.list.d/*.sources``
or ``sources.list``). The root file system is kept as a tarball in the cache
(``$NNI_REMOTE_CI_CACHE/docker`` or ``~/.cache/nni-remote-ci/docker`` of the account), so debootstrap (about a
minute) runs once and every later daemon only imports it (seconds). Standard library only.

CLI: ``python3 deploy/baseimage.py [--tarball-only]`` prints the image name to use.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

REGISTRY_IMAGE = "debian:bookworm-slim"
OFFLINE_IMAGE = "nni-remote-base:bookworm"
SUITE = "bookworm"
PACKAGES = "python3,openssh-server,procps"
FALLBACK_MIRROR = "http://deb.debian.org/debian"
FORMAT = 2  # bump when the tarball's content changes: older cached ones are then ignored
# Not needed on a worker, and every copy costs time with Docker's vfs storage (a full copy per layer):
SLIM_AWAY = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")
APT_CACHES = ("var/cache/apt", "var/lib/apt/lists")  # files only: apt wants its folders


class BaseImageError(RuntimeError):
    """No base image could be found, pulled or made; the message says why and what to do."""


def cache_dir() -> Path:
    """Where the offline root file system tarball is kept between runs."""
    import pwd  # the account's home, not $HOME: a test's isolated HOME must still find the cache
    root = os.environ.get("NNI_REMOTE_CI_CACHE") or os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".cache",
                                                                 "nni-remote-ci")
    return Path(root) / "docker"


def debian_mirror(sources: Tuple[str, ...] = ("/etc/apt/sources.list.d", "/etc/apt/sources.list")) -> str:
    """The first Debian mirror in apt's sources that serves the plain ``bookworm`` suite."""
    texts: List[str] = []
    for path in sources:
        p = Path(path)
        files = sorted(p.glob("*.sources")) + sorted(p.glob("*.list")) if p.is_dir() else [p]
        for f in files:
            with contextlib.suppress(OSError):
                texts.append(f.read_text())
    for text in texts:
        for stanza in re.split(r"\n\s*\n", text):  # deb822: URIs + Suites in one stanza
            uris = re.search(r"^URIs:\s*(.+)$", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split() and "/debian" in uris.group(1):
                return uris.group(1).split()[0]
        for line in text.splitlines():  # one-line format: deb [opts] URI SUITE COMPONENTS
            words = [w for w in re.sub(r"\[[^]]*\]", "", line).split()]
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE and "/debian" in words[1]:
                return words[1]
    return FALLBACK_MIRROR


@contextlib.contextmanager
def _cache_lock(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _slim(rootfs: Path) -> None:
    """Empty the folders in SLIM_AWAY and drop apt's caches (``apt-get update`` makes them again)."""
    for folder in APT_CACHES:
        for entry in (rootfs / folder).rglob("*"):
            if entry.is_file() or entry.is_symlink():
                entry.unlink()
    for folder in SLIM_AWAY:
        for entry in (rootfs / folder).glob("*"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()


def rootfs_tarball(directory: Optional[Path] = None) -> Path:
    """The cached tarball of a minbase Debian with sshd and python3; made with debootstrap if missing."""
    directory = directory or cache_dir()
    tarball = directory / f"{SUITE}-minbase-{FORMAT}.tar"
    with _cache_lock(directory):
        if tarball.exists():
            return tarball
        if shutil.which("debootstrap") is None and not os.access("/usr/sbin/debootstrap", os.X_OK):
            raise BaseImageError(f"no {REGISTRY_IMAGE} reachable and no debootstrap to make a base offline: "
                                 "apt-get install debootstrap, or set NNI_RIG_BASE_IMAGE to an image you have")
        if os.geteuid() != 0:
            raise BaseImageError("making the offline base image (debootstrap) needs root")
        work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=directory))
        try:
            rootfs = work / "rootfs"
            proc = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(rootfs), debian_mirror()],
                capture_output=True, text=True, timeout=1200,
                env=dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND="noninteractive"))
            if proc.returncode != 0:
                raise BaseImageError(f"debootstrap failed (exit {proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
            _slim(rootfs)
            partial = work / "rootfs.tar"
            subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], check=True,
                           capture_output=True, timeout=600)
            os.replace(partial, tarball)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tarball


def image_exists(name: str, env: Dict[str, str]) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], env=env, capture_output=True,
                          timeout=60).returncode == 0


def ensure_base_image(env: Dict[str, str]) -> Tuple[str, bool]:
    """``(image, made_here)``: the registry's Debian if present or pullable, else the offline one (imported)."""
    wanted = os.environ.get("NNI_RIG_BASE_IMAGE")
    if wanted:
        if not image_exists(wanted, env) and subprocess.run(["docker", "pull", wanted], env=env, capture_output=True,
                                                            timeout=600).returncode != 0:
            raise BaseImageError(f"NNI_RIG_BASE_IMAGE={wanted}: no such image and it cannot be pulled")
        return wanted, False
    for name in (REGISTRY_IMAGE, OFFLINE_IMAGE):
        if image_exists(name, env):
            return name, False
    with contextlib.suppress(subprocess.TimeoutExpired):
        if subprocess.run(["docker", "pull", REGISTRY_IMAGE], env=env, capture_output=True,
                          timeout=120).returncode == 0:
            return REGISTRY_IMAGE, False
    tarball = rootfs_tarball()
    with open(tarball, "rb") as fh:
        proc = subprocess.run(["docker", "import", "-", OFFLINE_IMAGE], stdin=fh, env=env, capture_output=True,
                              timeout=600)
    if proc.returncode != 0:
        raise BaseImageError(f"docker import of {tarball} failed: {proc.stderr.decode(errors='replace')}")
    return OFFLINE_IMAGE, True


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args == ["--tarball-only"]:
            print(rootfs_tarball())
        else:
            print(ensure_base_image(dict(os.environ))[0])
    except (BaseImageError, subprocess.SubprocessError, OSError) as exc:
        print(f"baseimage.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
