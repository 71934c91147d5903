#!/usr/bin/env python3
"""A Docker engine for the compose rig: the one already running, or a private ``dockerd`` started here.

Where ``docker info`` already answers (Docker Desktop, a system Docker Engine,
``$DOCKER_HOST``), that engine is used and never touched. Otherwise (root, Linux,
Debian's ``docker.io`` installed but not running, as on CI) :func:`start_engine`
starts a private daemon: vfs storage, its own data/exec roots, pid file and unix
socket under one directory, and address pools inside 198.18.0.0/15 (RFC 2544
space; Docker's defaults are 172.16/12)::

    dockerd --storage-driver=vfs --data-root=DIR/data --exec-root=DIR/exec -p DIR/dockerd.pid
            -H unix://DIR/docker.sock --bip=198.18.224.1/24
            --default-address-pool base=198.18.232.0/21,size=24

Docker sets the iptables ``FORWARD`` policy to DROP (and turns ``ip_forward``
on): traffic between the netns rig's hosts on ``nrrigbr0`` would be dropped from
then on. Before the daemon starts, an ACCEPT rule for that bridge goes first in
``FORWARD``; :meth:`Engine.stop` stops exactly that daemon (pid proven by its
start time and boot id), removes what it left behind (Docker's chains and
bridges, mounts, the directory) and restores the policy and ``ip_forward`` as
they were. Standard library only, like ``deploy/sshrig.py``.

CLI (for ``.ci/run``): ``python3 deploy/dockerd.py start DIR`` prints
``DOCKER_HOST=unix://DIR/docker.sock``; ``python3 deploy/dockerd.py stop DIR``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

BIP = "198.18.224.1/24"
ADDRESS_POOL = "base=198.18.232.0/21,size=24"
OUR_NET = r"198\.18\.(22[4-9]|2[3-5]\d)\."
OUR_ADDRESSES = re.compile(r"inet " + OUR_NET)  # 198.18.224.0/19: the daemon's and the rigs'
RIG_BRIDGE = "nrrigbr0"  # the netns rig's bridge (deploy/sshrig.py)
DAEMON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class EngineError(RuntimeError):
    """No Docker engine could be used or started; the message says what is missing and what to do."""


def docker_env(host: Optional[str] = None) -> Dict[str, str]:
    """The environment for ``docker``/compose commands talking to ``host`` (default: as configured)."""
    env = dict(os.environ)
    if host:
        env["DOCKER_HOST"] = host
    return env


def engine_answers(host: Optional[str] = None, timeout: float = 20.0) -> bool:
    """Whether ``docker info`` reaches a daemon (at ``host``, or where the environment points)."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], env=docker_env(host),
                              capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_requirements() -> List[str]:
    """What this machine lacks to start a private daemon (empty list = it can)."""
    missing = []
    if sys.platform != "linux":
        missing.append("Linux (elsewhere start Docker Desktop yourself)")
    if os.geteuid() != 0:
        missing.append("root (dockerd needs it)")
    for tool in ("dockerd", "docker", "containerd", "runc", "iptables"):
        if shutil.which(tool, path=DAEMON_PATH) is None:
            missing.append(f"{tool} (apt-get install docker.io)")
    if not any(Path("/sys/fs/cgroup").glob("*")):
        missing.append("cgroups (/sys/fs/cgroup is empty)")
    return missing


# ------------------------------------------------------------------ process identity

def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def _start_time(pid: int) -> Optional[str]:
    """Start time of a live process (None when gone or a zombie): with the boot id, its identity."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _dockerd_pids() -> List[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.path.basename(os.readlink(f"/proc/{entry}/exe")) == "dockerd":
                    pids.append(int(entry))
    return pids


def _pids_mentioning(text: str) -> List[int]:
    """Pids whose command line mentions ``text`` (the engine's unique directory)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if text.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    out.append(int(entry))
    return out


# ------------------------------------------------------------------ iptables

def _ipt(*args: str, table: str = "filter") -> subprocess.CompletedProcess:
    return subprocess.run(["iptables", "-w", "10", "-t", table, *args], capture_output=True, text=True,
                          timeout=30, env=dict(os.environ, PATH=DAEMON_PATH))


def _forward_policy() -> Optional[str]:
    proc = _ipt("-S", "FORWARD")
    for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
        if line.startswith("-P FORWARD "):
            return line.split()[2]
    return None


def _docker_chains(table: str) -> List[str]:
    proc = _ipt("-S", table=table)
    return [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("-N DOCKER")]


def _rig_rule(comment: str) -> List[str]:
    return ["-i", RIG_BRIDGE, "-o", RIG_BRIDGE, "-m", "comment", "--comment", comment, "-j", "ACCEPT"]


def _remove_docker_firewall(tables_before: Dict[str, List[str]]) -> None:
    """Delete the chains (and jumps to them) Docker created that were not there before it started."""
    for table in ("filter", "nat"):
        new = [c for c in _docker_chains(table) if c not in tables_before.get(table, [])]
        for line in _ipt("-S", table=table).stdout.splitlines():
            words = line.split()
            gone_bridge = any(re.fullmatch(r"br-[0-9a-f]{12}", w) and not os.path.exists(f"/sys/class/net/{w}")
                              for w in words)  # a Docker network's rule whose bridge is gone
            if line.startswith("-A ") and words[1] not in new and ("-j" in words and words[words.index("-j") + 1] in new
                                                                   or "docker0" in words or gone_bridge):
                _ipt("-D", *words[1:], table=table)
            if line.startswith("-A POSTROUTING") and "MASQUERADE" in words and re.search(OUR_NET, line):
                _ipt("-D", *words[1:], table=table)
        for chain in new:
            _ipt("-F", chain, table=table)
        for chain in new:
            _ipt("-X", chain, table=table)


def _nft_tables() -> Optional[List[str]]:
    """The nftables tables now (``ip filter``, ...), or None without nft."""
    try:
        proc = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, PATH=DAEMON_PATH))
    except OSError:
        return None
    return [line[len("table "):].strip() for line in proc.stdout.splitlines()] if proc.returncode == 0 else None


def _remove_empty_tables(before: Optional[List[str]]) -> None:
    """Delete the iptables-nft tables Docker created (absent before) once nothing is left in them."""
    now = _nft_tables()
    if before is None or now is None:
        return
    for table in ("filter", "nat"):
        if f"ip {table}" in now and f"ip {table}" not in before:
            rules = _ipt("-S", table=table).stdout.splitlines()
            if all(line.startswith("-P ") and line.endswith(" ACCEPT") for line in rules):
                subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, timeout=30,
                               env=dict(os.environ, PATH=DAEMON_PATH))


def _our_bridges() -> List[str]:
    """Docker bridges holding an address of 198.18.224.0/19 (docker0 with --bip, compose networks)."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    return sorted({line.split()[1] for line in out.splitlines()
                   if re.match(r"^(docker0|br-[0-9a-f]{12})$", line.split()[1]) and OUR_ADDRESSES.search(line)})


def _unmount_under(root: str) -> None:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == root or point.startswith(root + "/"):
            mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


# ------------------------------------------------------------------ the engine

class Engine:
    """A Docker daemon to talk to. ``started`` is True when this code started it (and ``stop`` ends it)."""

    def __init__(self, host: Optional[str], state_dir: Optional[Path] = None, started: bool = False) -> None:
        self.host = host
        self.state_dir = state_dir
        self.started = started

    @property
    def env(self) -> Dict[str, str]:
        """Environment for docker/compose commands on this engine."""
        return docker_env(self.host)

    def stop(self) -> None:
        """Stop the daemon this code started (no-op for an engine found running) and restore the firewall."""
        if not self.started or self.state_dir is None:
            return
        stop_engine(self.state_dir)
        self.started = False


def find_or_start_engine(state_dir: os.PathLike) -> Engine:
    """The running engine if ``docker info`` answers, else a private daemon started in ``state_dir``."""
    if engine_answers():
        return Engine(os.environ.get("DOCKER_HOST"))
    return start_engine(state_dir)


def start_engine(state_dir: os.PathLike, timeout: float = 90.0) -> Engine:
    """Start a private dockerd in ``state_dir`` (created; its path must be short: the socket lives there)."""
    missing = start_requirements()
    if missing:
        raise EngineError("no Docker engine answers and none can be started here; missing: " + "; ".join(missing))
    root = Path(state_dir).resolve()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (root / "engine.json").exists():
        raise EngineError(f"{root} already holds a started engine; stop it first (deploy/dockerd.py stop {root})")
    sock = root / "docker.sock"
    comment = f"nni-remote dockerd {root}"[:250]
    state = {"dir": str(root), "host": f"unix://{sock}", "forward_policy": _forward_policy(),
             "nft_tables": _nft_tables(),
             "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
             "chains": {t: _docker_chains(t) for t in ("filter", "nat")},
             "bridges": _our_bridges(), "rule_comment": comment, "boot_id": _boot_id()}
    # First thing: the netns rig's bridge stays open when Docker turns FORWARD to DROP.
    if _ipt("-C", "FORWARD", *_rig_rule(comment)).returncode != 0:
        _ipt("-I", "FORWARD", "1", *_rig_rule(comment))
    (root / "engine.json").write_text(json.dumps(state, indent=1))
    log = open(root / "dockerd.log", "ab")
    try:
        proc = subprocess.Popen(
            ["dockerd", "--storage-driver=vfs", f"--data-root={root}/data", f"--exec-root={root}/exec",
             f"--pidfile={root}/dockerd.pid", f"--host=unix://{sock}", f"--bip={BIP}",
             "--default-address-pool", ADDRESS_POOL, "--log-level=warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={"PATH": DAEMON_PATH, "LANG": "C.UTF-8", "HOME": "/root"})
    finally:
        log.close()
    state.update(pid=proc.pid, start_time=_start_time(proc.pid))
    (root / "engine.json").write_text(json.dumps(state, indent=1))
    deadline = time.monotonic() + timeout
    while not engine_answers(state["host"], timeout=10):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = (root / "dockerd.log").read_text(errors="replace")[-3000:]
            with contextlib.suppress(Exception):
                stop_engine(root)
            raise EngineError(f"dockerd did not come up ({'exit ' + str(proc.returncode) if proc.poll() is not None else 'timeout'}):\n{tail}")
        time.sleep(0.3)
    return Engine(state["host"], root, started=True)


def stop_engine(state_dir: os.PathLike, timeout: float = 60.0) -> None:
    """Stop the daemon recorded in ``state_dir/engine.json``, clean up after it, restore the firewall."""
    root = Path(state_dir).resolve()
    try:
        state = json.loads((root / "engine.json").read_text())
    except FileNotFoundError:
        return
    pid = int(state.get("pid") or 0)
    ours = pid > 0 and state.get("boot_id") == _boot_id() and _start_time(pid) == state.get("start_time")
    if ours:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _start_time(pid) == state.get("start_time") and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        if _start_time(pid) == state.get("start_time"):
            os.kill(pid, signal.SIGKILL)
    for leftover in _pids_mentioning(str(root)):  # containerd, shims: their command lines name our directory
        with contextlib.suppress(ProcessLookupError):
            os.kill(leftover, signal.SIGKILL)
    _unmount_under(str(root))
    for bridge in _our_bridges():
        if bridge not in state.get("bridges", []):
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    others = [p for p in _dockerd_pids() if p != pid]
    if not others:  # Docker's firewall state is ours to undo only when no other daemon relies on it
        _remove_docker_firewall(state.get("chains", {}))
        if state.get("forward_policy"):
            _ipt("-P", "FORWARD", state["forward_policy"])
        with contextlib.suppress(OSError):
            Path("/proc/sys/net/ipv4/ip_forward").write_text(state.get("ip_forward", "0"))
    while _ipt("-C", "FORWARD", *_rig_rule(state["rule_comment"])).returncode == 0:
        if _ipt("-D", "FORWARD", *_rig_rule(state["rule_comment"])).returncode != 0:
            break
    if not others:
        _remove_empty_tables(state.get("nft_tables"))
    shutil.rmtree(root, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("start", "stop", "ensure"):
        print("usage: dockerd.py start|ensure|stop DIR   (ensure: start only if no engine answers)", file=sys.stderr)
        return 2
    try:
        if args[0] == "stop":
            stop_engine(args[1])
        else:
            engine = find_or_start_engine(args[1]) if args[0] == "ensure" else start_engine(args[1])
            print(f"DOCKER_HOST={engine.host}" if engine.host else "DOCKER_HOST=")
    except EngineError as exc:
        print(f"dockerd.py: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
