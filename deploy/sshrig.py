#!/usr/bin/env python3
"""A rig of real OpenSSH "hosts" on one Linux machine, for people and for tests.

Each host is a network namespace with a veth into a bridge in the root
namespace (head ``198.18.0.1``, hosts ``198.18.0.11`` upward; RFC 2544 space,
no default route, IPv6 off), running its own ``/usr/sbin/sshd`` under its own
unix user, with private ``/tmp`` and ``/dev/shm`` and the repository checkout
hidden behind a tmpfs, so nothing leaks through a shared filesystem. Faults
(power cut, partition) are one call each. See ``deploy/README.md``.

Rules kept here: standard library only, Python 3.9+, needs root, iproute2,
nftables, util-linux ``unshare``/``nsenter``/``setpriv`` and openssh-server.
Everything created is marked ``nrrig`` (names, GECOS, nft table, the iptables
comment) and only marked things are ever removed. Beside Docker (FORWARD policy
DROP), the rig's own FORWARD rule keeps traffic between its hosts flowing.

Each host also gets its own PID namespace (``unshare --pid --fork``) with sshd
as its init. That makes a host one machine in every sense a test can observe,
a power cut takes every process of the host down at once, and orphaned
processes are reaped by the host's sshd even where the machine's PID 1 reaps
nothing (as in the containers this was built on).

Library::

    rig = SshRig("/tmp/rigdir")
    h1, h2, h3 = rig.up(3)            # password, passphrase key, plain key
    rig.kill(h2); rig.revive(h2)      # power cut, then power back on
    rig.partition(h3); rig.heal(h3)   # drop all traffic on its link, then restore
    rig.run_on(h1, "ps -u $USER -o pid,cmd")
    rig.down()

CLI: ``python3 deploy/sshrig.py up 4 [--workdir DIR]`` / ``down [--workdir DIR]``.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

MARK = "nrrig"
SUBNET_PREFIX = "198.18.0."
HEAD_ADDRESS = "198.18.0.1"
FIRST_HOST = 11
LAST_HOST = 250
BRIDGE = "nrrigbr0"
STATE_ROOT = Path("/run/nrrig")
SSHD = "/usr/sbin/sshd"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = "/var/tmp/nni-remote-rig"
LOGINS = ("password", "passphrase", "key")
PARTITION_TABLE = "nrrig_partition"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
HOST_OPTION_KEYS = frozenset({"extra_path_dir", "no_python", "second_user"})


class RigError(RuntimeError):
    """The rig could not do what was asked; the message says what and why."""


def missing_requirements() -> List[str]:
    """What this machine lacks to run the rig (empty list = ready)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the rig creates network namespaces, users and sshd daemons)")
    if not os.access(SSHD, os.X_OK):
        missing.append(f"{SSHD} (apt-get install openssh-server)")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("unshare", "util-linux"),
                          ("nsenter", "util-linux"), ("setpriv", "util-linux"),
                          ("ssh-keygen", "openssh-client"), ("useradd", "passwd"),
                          ("chpasswd", "passwd")):
        if shutil.which(tool) is None and not os.access(f"/usr/sbin/{tool}", os.X_OK):
            missing.append(f"{tool} ({package})")
    if shutil.which("ip") and os.geteuid() == 0 and not _ip_netns_works():
        missing.append("'ip netns' (network namespaces are not available here)")
    return missing


def _ip_netns_works() -> bool:
    try:
        return subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@dataclasses.dataclass
class RigHost:
    """One host of the rig, as the head sees it."""

    name: str
    index: int
    address: str
    port: int
    user: str
    uid: int
    gid: int
    home: str
    login: str  # 'password' | 'passphrase' | 'key'
    known_hosts: str
    netns: str
    veth: str
    state_dir: str
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    passphrase: Optional[str] = dataclasses.field(default=None, repr=False)
    key_file: Optional[str] = None
    host_path: str = DEFAULT_PATH
    extra_path_dir: Optional[str] = None
    no_python: bool = False
    second_user: str = ""    # another unix user of the host (an attacker in security tests); "" = none
    second_uid: int = -1
    sshd_pid: int = 0
    sshd_start: str = ""       # /proc/<pid>/stat field 22 of sshd_pid: a pid alone is not an identity
    launcher_pid: int = 0
    host_key_line: str = ""
    up: bool = False
    partitioned: bool = False

    def machine_config(self) -> Dict[str, Any]:
        """The NNI v2 ``RemoteMachineConfig`` dict (camelCase keys) for this host."""
        config: Dict[str, Any] = {"host": self.address, "port": self.port, "user": self.user}
        if self.password is not None:
            config["password"] = self.password
        if self.key_file is not None:
            config["sshKeyFile"] = self.key_file
        if self.passphrase is not None:
            config["sshPassphrase"] = self.passphrase
        return config


# ---------------------------------------------------------------- small helpers

def _run(args: Sequence[str], *, input: Optional[bytes] = None, check: bool = True,
         timeout: float = 30.0, new_session: bool = False) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(list(args), input=input, capture_output=True, timeout=timeout,
                              start_new_session=new_session)
    except subprocess.TimeoutExpired as exc:
        raise RigError(f"{args[0]} {' '.join(args[1:3])}... timed out after {timeout:g} s") from exc
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise RigError(f"`{' '.join(args[:4])}...` failed (exit {proc.returncode}): {err}")
    return proc


@contextlib.contextmanager
def _global_lock() -> Iterator[None]:
    """Serialise rig-wide changes (bridge, address leases, /etc/passwd) across processes."""
    STATE_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(STATE_ROOT / "lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_private(path: Path, text: str, mode: int = 0o600) -> None:
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def _set_sysctl(path: str, value: str) -> None:
    with contextlib.suppress(OSError):
        with open(path, "w") as fh:
            fh.write(value)


def _host_mac(address: str) -> str:
    """A fixed MAC per rig address: a reused address (next rig, revived host) keeps the head's ARP entry valid."""
    return "02:6e:72:c6:12:%02x" % int(address.rsplit(".", 1)[1])


def _link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def _netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _in_netns(pid: int, netns: str) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{netns}").st_ino
    except OSError:
        return False


def _sshd_is_ours(h: "RigHost") -> bool:
    """Whether the host's recorded sshd still runs: same pid *and* start time, sshd, in the host's netns."""
    pid = h.sshd_pid
    if not (h.up and _pid_alive(pid) and h.sshd_start and _start_time(pid) == h.sshd_start):
        return False
    try:
        return os.readlink(f"/proc/{pid}/exe") == SSHD and _in_netns(pid, h.netns)
    except OSError:
        return False


def _kill_verified(pid: int, still_ours) -> bool:
    """SIGKILL ``pid`` only if ``still_ours(pid)`` holds for the process behind a pidfd (no reuse race)."""
    fd = None
    opener = getattr(os, "pidfd_open", None)
    if opener is not None:
        try:
            fd = opener(pid)
        except OSError:
            return False
    try:
        if not still_ours(pid):
            return False
        if fd is not None:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
        return True
    except (ProcessLookupError, OSError):
        return False
    finally:
        if fd is not None:
            os.close(fd)


def _wait_until(predicate, timeout: float, what: str, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RigError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def _listening_on(pid: int, port: int) -> bool:
    """Whether the network namespace of ``pid`` has a TCP listener on ``port``."""
    needle = f":{port:04X} "
    try:
        with open(f"/proc/{pid}/net/tcp") as fh:
            return any(needle in line and line.split()[3] == "0A" for line in fh.readlines()[1:])
    except (OSError, IndexError):
        return False


def _children(pid: int) -> List[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except (OSError, ValueError):
        return []


# ---------------------------------------------------------------- the rig

class SshRig:
    """A set of sshd hosts in network namespaces; see the module docstring.

    ``workdir`` holds what the head needs (client keys, ``known_hosts``,
    ``config.yml``, ``state.json``); the hosts cannot see it. Not thread-safe:
    drive one rig from one thread. Always call :meth:`down` (or use ``with``).
    """

    def __init__(self, workdir: Union[str, os.PathLike], *, run_id: Optional[str] = None,
                 hide_paths: Sequence[str] = ()) -> None:
        self.workdir = Path(workdir).resolve()
        self.run_id = run_id or secrets.token_hex(3)
        self.hosts: List[RigHost] = []
        self.state_dir = STATE_ROOT / self.run_id
        self.known_hosts = self.workdir / "known_hosts"
        self.hide_paths = [str(REPO_ROOT)] + [str(Path(p).resolve()) for p in hide_paths]
        self._launchers: Dict[str, subprocess.Popen] = {}
        self._owns_leases = False

    # -------------------------------------------------------- public API

    def __enter__(self) -> "SshRig":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.down()

    def up(self, n: int, logins: Optional[Sequence[str]] = None,
           host_options: Optional[Sequence[Optional[Dict[str, Any]]]] = None) -> List[RigHost]:
        """Start ``n`` hosts and return them; on failure everything is torn down again.

        ``logins`` gives each host's login kind ('password' | 'passphrase' | 'key');
        default: host 1 password, host 2 passphrase-protected key, the rest plain
        keys. ``host_options[i]`` may hold ``extra_path_dir`` (a directory put first
        on that host's PATH, bind-mounted live, e.g. with a fake ``nvidia-smi``) and
        ``no_python`` (``python3`` is not on that host's PATH) and ``second_user``
        (another unix user on that host, home 0700, no login: ``run_on(h, cmd, as_second=True)``).
        """
        if self.hosts:
            raise RigError("this rig is already up; create another SshRig for more hosts")
        if n < 1:
            raise RigError("a rig needs at least one host")
        missing = missing_requirements()
        if missing:
            raise RigError("cannot start the rig, missing: " + "; ".join(missing))
        logins = list(logins) if logins is not None else [LOGINS[min(i, 2)] for i in range(n)]
        options = list(host_options or [])
        if len(logins) != n or len(options) > n:
            raise RigError(f"logins/host_options must not be longer than n={n} (logins exactly n)")
        for login in logins:
            if login not in LOGINS:
                raise RigError(f"unknown login kind {login!r}; use one of {', '.join(LOGINS)}")
        options += [None] * (n - len(options))
        for opt in options:
            unknown = set(opt or {}) - HOST_OPTION_KEYS
            if unknown:
                raise RigError(f"unknown host option(s) {sorted(unknown)}; known: {sorted(HOST_OPTION_KEYS)}")
        try:
            self._up(n, logins, options)
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        return list(self.hosts)

    def host(self, key: Union[int, str, RigHost]) -> RigHost:
        """A host by 1-based index, name (``h1``), user name or address."""
        if isinstance(key, RigHost):
            return key
        for h in self.hosts:
            if key in (h.index, h.name, h.user, h.address):
                return h
        raise RigError(f"no host {key!r} in this rig")

    def kill(self, host: Union[int, str, RigHost]) -> None:
        """Power cut: link down first (no FIN/RST reaches anyone), then SIGKILL every process."""
        h = self.host(host)
        _run(["ip", "link", "set", h.veth, "down"])
        self._kill_processes(h)
        h.up = False
        h.sshd_pid = h.launcher_pid = 0
        self._save_state()

    def revive(self, host: Union[int, str, RigHost]) -> None:
        """Power back on: link up, a fresh /tmp, sshd restarted with the same host keys."""
        h = self.host(host)
        if _sshd_is_ours(h):
            raise RigError(f"{h.name} is running; kill() it first")
        self._kill_processes(h)  # leftovers of a half-dead host, if any
        _run(["ip", "link", "set", h.veth, "up"])
        self._start_hosts([h])
        self._save_state()

    def partition(self, host: Union[int, str, RigHost]) -> None:
        """Drop every packet on the host's link, both ways (nft in its namespace); TCP stays 'open'."""
        h = self.host(host)
        rules = (f"table inet {PARTITION_TABLE} {{\n"
                 f"  chain input {{ type filter hook input priority -300; policy accept; iifname \"eth0\" drop; }}\n"
                 f"  chain output {{ type filter hook output priority -300; policy accept; oifname \"eth0\" drop; }}\n"
                 f"}}\n")
        _run(["ip", "netns", "exec", h.netns, "nft", "-f", "-"], input=rules.encode())
        h.partitioned = True
        self._save_state()

    def heal(self, host: Union[int, str, RigHost]) -> None:
        """Undo :meth:`partition`."""
        h = self.host(host)
        proc = _run(["ip", "netns", "exec", h.netns, "nft", "delete", "table", "inet", PARTITION_TABLE],
                    check=False)
        if proc.returncode != 0 and h.partitioned:
            raise RigError(f"heal {h.name}: {proc.stderr.decode(errors='replace').strip()}")
        h.partitioned = False
        self._save_state()

    def run_on(self, host: Union[int, str, RigHost], command: str, *, as_root: bool = False,
               check: bool = True, timeout: float = 30.0, input: Optional[bytes] = None,
               as_second: bool = False) -> str:
        """Run ``command`` with ``sh -c`` on the host, as its user (or root, or its second user); return stdout.

        Runs in the host's network, mount and PID namespaces (as over SSH, but
        without SSH), so ``ps`` shows the host's processes and ``/tmp`` is the
        host's. A host that is down has no mount/PID namespace: then only the
        network namespace is entered.
        """
        h = self.host(host)
        user, home, uid = h.user, h.home, h.uid
        if as_second:
            if not h.second_user:
                raise RigError(f"{h.name} has no second user: start it with host_options=[{{'second_user': True}}]")
            user, home, uid = h.second_user, f"/home/{h.second_user}", h.second_uid
        env = {"PATH": h.host_path if not as_root else DEFAULT_PATH + ":/usr/sbin:/sbin",
               "HOME": home if not as_root else "/root", "USER": user if not as_root else "root",
               "LOGNAME": user if not as_root else "root", "SHELL": "/bin/bash", "LANG": "C.UTF-8"}
        if _sshd_is_ours(h):
            argv = ["nsenter", "-t", str(h.sshd_pid), "-m", "-n", "-p", "--"]
        else:
            argv = ["ip", "netns", "exec", h.netns]
        if not as_root:
            gid = h.gid if not as_second else (_getpwnam(user) or (0, 0, 0, uid))[3]
            argv += ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups"]
        argv += ["sh", "-c", f"cd \"$HOME\" 2>/dev/null; {command}"]
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=env,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise RigError(f"run_on {h.name}: timed out after {timeout:g} s: {command}") from exc
        if check and proc.returncode != 0:
            raise RigError(f"run_on {h.name}: exit {proc.returncode}: {command}\n"
                           f"{proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode(errors="replace")

    def processes(self, host: Union[int, str, RigHost]) -> List[Dict[str, Any]]:
        """Live processes of the host (its user's or in its namespace), seen from the head.

        Each: ``{"pid": global pid, "uid": int, "cmd": str}``; zombies excluded.
        """
        h = self.host(host)
        out = []
        for pid in self._host_pids(h):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
                uid = os.stat(f"/proc/{pid}").st_uid
            except OSError:
                continue
            out.append({"pid": pid, "uid": uid, "cmd": cmd})
        return out

    def down(self) -> None:
        """Remove everything this rig created (idempotent). Raises at the end if a step failed."""
        errors: List[str] = []
        for h in list(self.hosts):
            for step in (self._kill_processes, self._remove_netns, self._remove_user):
                try:
                    step(h)
                except Exception as exc:  # keep going: leave as little behind as possible
                    errors.append(f"{h.name}: {exc}")
        try:
            with _global_lock():
                for h in self.hosts:
                    with contextlib.suppress(FileNotFoundError):
                        lease = STATE_ROOT / "leases" / h.address
                        if json.loads(lease.read_text()).get("run_id") == self.run_id:
                            lease.unlink()
                self._remove_bridge_if_unused()
        except Exception as exc:
            errors.append(f"bridge/leases: {exc}")
        shutil.rmtree(self.state_dir, ignore_errors=True)
        for name in ("known_hosts", "config.yml", "state.json"):
            with contextlib.suppress(FileNotFoundError):
                (self.workdir / name).unlink()
        for name in ("keys", "example"):
            shutil.rmtree(self.workdir / name, ignore_errors=True)
        for proc in self._launchers.values():
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
        self._launchers.clear()
        self.hosts = []
        if errors:
            raise RigError("rig teardown incomplete:\n  " + "\n  ".join(errors))

    @classmethod
    def load(cls, workdir: Union[str, os.PathLike]) -> "SshRig":
        """Re-open a rig started by another process (the CLI) from ``workdir/state.json``."""
        path = Path(workdir).resolve() / "state.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise RigError(f"no rig state in {path.parent} (nothing to do, or another --workdir?)") from None
        rig = cls(workdir, run_id=state["run_id"])
        rig.hide_paths = state.get("hide_paths", rig.hide_paths)
        rig.hosts = [RigHost(**h) for h in state["hosts"]]
        return rig

    def nni_config_yaml(self) -> str:
        """A ready-to-run NNI v2 YAML config: remote platform with every host of the rig."""
        lines = [
            "# Generated by deploy/sshrig.py: an NNI v2 experiment on the rig's hosts.",
            f"# Host keys of these machines are in {self.known_hosts}",
            "experimentName: sshrig-demo",
            "trialCommand: python3 trial.py",
            f"trialCodeDirectory: {json.dumps(str(self.workdir / 'example'))}",
            "trialConcurrency: %d" % max(1, len(self.hosts)),
            "maxTrialNumber: %d" % (4 * max(1, len(self.hosts))),
            "searchSpace:",
            "  lr: {_type: loguniform, _value: [0.0001, 0.1]}",
            "  momentum: {_type: uniform, _value: [0.0, 0.99]}",
            "tuner:",
            "  name: Random",
            "# Agents reach the manager through SSH reverse tunnels (the default);",
            f"# add 'nniManagerIp: {HEAD_ADDRESS}' for direct HTTP instead.",
            "trainingService:",
            "  platform: remote",
            "  machineList:",
        ]
        for h in self.hosts:
            first = True
            for key, value in dict(h.machine_config(), knownHosts=str(self.known_hosts)).items():
                lines.append(("    - " if first else "      ") + f"{key}: {json.dumps(value)}")
                first = False
        return "\n".join(lines) + "\n"

    # -------------------------------------------------------- bring-up

    def _up(self, n: int, logins: List[str], options: List[Optional[Dict[str, Any]]]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        keys_dir = self.workdir / "keys"
        keys_dir.mkdir(mode=0o700, exist_ok=True)
        self.state_dir.mkdir(mode=0o711, parents=True, exist_ok=False)
        with _global_lock():
            self._ensure_bridge()
            addresses = self._lease_addresses(n)
            for i in range(1, n + 1):
                opt = options[i - 1] or {}
                tag = f"{MARK}{self.run_id}h{i}"
                self.hosts.append(RigHost(
                    name=f"h{i}", index=i, address=addresses[i - 1], port=22, user=tag, uid=-1, gid=-1,
                    home=f"/home/{tag}", login=logins[i - 1], known_hosts=str(self.known_hosts),
                    netns=tag, veth=f"nr{self.run_id}h{i}", state_dir=str(self.state_dir / f"h{i}"),
                    extra_path_dir=str(Path(opt["extra_path_dir"]).resolve()) if opt.get("extra_path_dir") else None,
                    no_python=bool(opt.get("no_python")), second_user=f"{tag}x" if opt.get("second_user") else ""))
            self._save_state()
            for h in self.hosts:  # /etc/passwd is shared: under the lock, one at a time
                _run(["useradd", "-p", "*", "-m", "-d", h.home, "-s", "/bin/bash",
                      "-c", f"{MARK} {self.run_id}", "-U", h.user])
                pw = _getpwnam(h.user)
                if pw is None:
                    raise RigError(f"useradd did not create {h.user}")
                h.uid, h.gid = pw[2], pw[3]
                if h.second_user:
                    h.second_uid = _add_marked_user(h.second_user, self.run_id, f"/home/{h.second_user}")
            secret_lines = []
            for h in self.hosts:
                if h.login == "password":
                    h.password = secrets.token_urlsafe(12)
                    secret_lines.append(f"{h.user}:{h.password}")
            if secret_lines:
                _run(["chpasswd"], input=("\n".join(secret_lines) + "\n").encode())
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self._prepare_host_files, self.hosts))
        batch = []
        for h in self.hosts:
            batch += [f"netns add {h.netns}",
                      f"link add {h.veth} type veth peer name eth0 address {_host_mac(h.address)} netns {h.netns}",
                      f"link set {h.veth} master {BRIDGE}"]
        _run(["ip", "-batch", "-"], input=("\n".join(batch) + "\n").encode())
        for h in self.hosts:
            _set_sysctl(f"/proc/sys/net/ipv6/conf/{h.veth}/disable_ipv6", "1")
        _run(["ip", "-batch", "-"], input="".join(f"link set {h.veth} up\n" for h in self.hosts).encode())
        self._start_hosts(self.hosts)
        _write_private(self.known_hosts, "".join(h.host_key_line for h in self.hosts), 0o644)
        self._write_example()
        _write_private(self.workdir / "config.yml", self.nni_config_yaml())
        self._save_state()

    def _prepare_host_files(self, h: RigHost) -> None:
        state = Path(h.state_dir)
        state.mkdir(mode=0o700)
        host_key = state / "ssh_host_ed25519_key"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{h.name}@{MARK}", "-f", str(host_key)])
        pub = (state / "ssh_host_ed25519_key.pub").read_text().split()
        h.host_key_line = f"{h.address} {pub[0]} {pub[1]}\n"
        ssh_dir = Path(h.home) / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(ssh_dir, h.uid, h.gid)
        os.chmod(h.home, 0o700)
        if h.login in ("passphrase", "key"):
            key = self.workdir / "keys" / f"{h.user}_ed25519"
            if h.login == "passphrase":
                h.passphrase = secrets.token_urlsafe(12)
                # ssh-keygen reads the new passphrase from stdin when it has no tty: keeps it off argv
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-C", f"{h.user}@{MARK}", "-f", str(key)],
                     input=f"{h.passphrase}\n{h.passphrase}\n".encode(), new_session=True)
            else:
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{h.user}@{MARK}", "-f", str(key)])
            os.chmod(key, 0o600)
            h.key_file = str(key)
            auth = ssh_dir / "authorized_keys"
            _write_private(auth, Path(str(key) + ".pub").read_text())
            os.chown(auth, h.uid, h.gid)
        path = DEFAULT_PATH
        if h.no_python:
            path = self._make_no_python_bin(h)
        if h.extra_path_dir:
            bind = Path(f"{h.state_dir}.bin")
            bind.mkdir(mode=0o755)
            path = f"{bind}:{path}"
        h.host_path = path
        config = [
            f"# {MARK} {self.run_id} {h.name}: generated by deploy/sshrig.py",
            "Port 22", "AddressFamily inet", "ListenAddress 0.0.0.0",
            f"HostKey {host_key}", f"PidFile {state}/sshd.pid",
            "UsePAM no", "PasswordAuthentication yes", "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes", "PermitRootLogin no", f"AllowUsers {h.user}",
            "AuthorizedKeysFile .ssh/authorized_keys", "StrictModes yes",
            "AllowTcpForwarding yes", "X11Forwarding no", "PrintMotd no", "PrintLastLog no",
            "UseDNS no", "Subsystem sftp internal-sftp", "LogLevel VERBOSE",
            # MaxSessions 10 and MaxStartups 10:30:100 are OpenSSH's defaults: kept on purpose.
        ]
        if path != DEFAULT_PATH:
            config.append(f"SetEnv PATH={path}")
        _write_private(state / "sshd_config", "\n".join(config) + "\n")

    def _make_no_python_bin(self, h: RigHost) -> str:
        """A directory mirroring the usual PATH without python/python3: a host 'without Python'."""
        farm = Path(f"{h.state_dir}.nopy")
        farm.mkdir(mode=0o755)
        for d in DEFAULT_PATH.split(":"):
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(d):
                    if entry.name.startswith("python") or entry.name.startswith("pydoc"):
                        continue
                    with contextlib.suppress(FileExistsError):
                        os.symlink(os.path.join(os.path.realpath(d), entry.name), farm / entry.name)
        return str(farm)

    def _host_script(self, h: RigHost) -> str:
        lines = ["set -e"]
        for name in ("all", "default", "lo", "eth0"):
            lines.append(f"[ -w /proc/sys/net/ipv6/conf/{name}/disable_ipv6 ] && "
                         f"echo 1 > /proc/sys/net/ipv6/conf/{name}/disable_ipv6 || true")
        lines += [f"ip addr replace {h.address}/24 dev eth0", "ip link set lo up", "ip link set eth0 up"]
        if h.extra_path_dir:
            lines.append(f"mount --bind {_q(h.extra_path_dir)} {_q(h.state_dir + '.bin')}")
        lines += ["mount -t tmpfs -o mode=1777,size=1g nrrig-tmp /tmp",
                  "mount -t tmpfs -o mode=1777,size=256m nrrig-shm /dev/shm"]
        for path in self.hide_paths:
            lines.append(f"if [ -d {_q(path)} ]; then mount -t tmpfs -o mode=0755,size=64k nrrig-hidden {_q(path)}; fi")
        lines.append(f"exec {SSHD} -D -f {_q(h.state_dir + '/sshd_config')} -E {_q(h.state_dir + '/sshd.log')}")
        return "\n".join(lines) + "\n"

    def _start_hosts(self, hosts: List[RigHost]) -> None:
        for h in hosts:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(h.state_dir, "sshd.pid"))
            log = open(os.path.join(h.state_dir, "launch.log"), "wb")
            try:
                proc = subprocess.Popen(
                    ["ip", "netns", "exec", h.netns, "unshare", "--mount", "--propagation", "slave",
                     "--pid", "--fork", "--mount-proc", "sh", "-c", self._host_script(h)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                    env={"PATH": DEFAULT_PATH + ":/usr/sbin:/sbin", "LANG": "C.UTF-8"})
            finally:
                log.close()
            self._launchers[h.name] = proc
            h.launcher_pid = proc.pid
        for h in hosts:
            self._wait_ready(h, self._launchers[h.name])

    def _wait_ready(self, h: RigHost, proc: subprocess.Popen) -> None:
        def ready() -> bool:
            if proc.poll() is not None:
                log = Path(h.state_dir, "launch.log").read_text(errors="replace")
                sshd_log = Path(h.state_dir, "sshd.log")
                tail = sshd_log.read_text(errors="replace")[-2000:] if sshd_log.exists() else ""
                raise RigError(f"sshd of {h.name} exited ({proc.returncode}):\n{log}\n{tail}")
            kids = _children(proc.pid)
            if not kids:
                return False
            pid = kids[0]
            try:
                if os.readlink(f"/proc/{pid}/exe") != SSHD:
                    return False
            except OSError:
                return False
            if not _listening_on(pid, h.port):
                return False
            h.sshd_pid, h.sshd_start = pid, _start_time(pid)
            return True
        _wait_until(ready, 20.0, f"sshd of {h.name} to listen")
        h.up = True

    # -------------------------------------------------------- network

    def _ensure_bridge(self) -> None:
        """Create the shared bridge with the head address, unless it is there (caller holds the lock)."""
        out = _run(["ip", "-o", "-4", "addr", "show"]).stdout.decode()
        for line in out.splitlines():
            fields = line.split()
            if len(fields) > 3 and fields[3].startswith(SUBNET_PREFIX) and fields[1] != BRIDGE:
                raise RigError(f"{SUBNET_PREFIX}0/24 is already used by interface {fields[1]} "
                               f"({fields[3]}); another rig? Stop it first.")
        if not _link_exists(BRIDGE):
            _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
            _set_sysctl(f"/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6", "1")
        if f"{HEAD_ADDRESS}/24" not in _run(["ip", "-o", "-4", "addr", "show", "dev", BRIDGE]).stdout.decode():
            _run(["ip", "addr", "add", f"{HEAD_ADDRESS}/24", "dev", BRIDGE])
        _run(["ip", "link", "set", BRIDGE, "up"])
        _allow_bridge_forwarding()

    def _lease_addresses(self, n: int) -> List[str]:
        leases = STATE_ROOT / "leases"
        leases.mkdir(mode=0o755, exist_ok=True)
        got: List[str] = []
        for last in range(FIRST_HOST, LAST_HOST + 1):
            address = f"{SUBNET_PREFIX}{last}"
            lease = leases / address
            if lease.exists():
                with contextlib.suppress(Exception):
                    holder = json.loads(lease.read_text())
                    if _netns_exists(holder["netns"]) or Path(holder["state_dir"]).exists():
                        continue  # in use by a live rig
                lease.unlink()  # stale: its rig is gone
            netns = f"{MARK}{self.run_id}h{len(got) + 1}"
            lease.write_text(json.dumps({"run_id": self.run_id, "netns": netns, "state_dir": str(self.state_dir),
                                         "pid": os.getpid(), "start": _start_time(os.getpid())}))
            got.append(address)
            if len(got) == n:
                return got
        raise RigError(f"no free rig addresses left for {n} hosts")

    def _remove_bridge_if_unused(self) -> None:
        leases = STATE_ROOT / "leases"
        if leases.exists() and any(leases.iterdir()):
            return
        if _link_exists(BRIDGE):
            _run(["ip", "link", "del", BRIDGE])
        _remove_bridge_forwarding()

    # -------------------------------------------------------- teardown pieces

    def _is_host_process(self, h: RigHost, pid: int) -> bool:
        """Whether ``pid`` is one of the host's: owned by its (rig-marked) user or inside its network namespace."""
        if pid == os.getpid():
            return False
        try:
            owner = os.stat(f"/proc/{pid}").st_uid
            mine = h.user.startswith(MARK) and owner > 0 and owner in (h.uid, h.second_uid)
            if not mine:
                mine = _in_netns(pid, h.netns)
        except OSError:
            return False
        return mine and _pid_alive(pid)

    def _host_pids(self, h: RigHost) -> List[int]:
        """Global pids of every live process in the host's namespace or owned by its user."""
        return [int(e) for e in os.listdir("/proc") if e.isdigit() and self._is_host_process(h, int(e))]

    def _kill_processes(self, h: RigHost) -> None:
        deadline = time.monotonic() + 15.0
        while True:
            pids = self._host_pids(h)
            if not pids:
                break
            if time.monotonic() > deadline:
                raise RigError(f"processes of {h.name} survive SIGKILL: {pids}")
            for pid in pids:  # each re-checked through a pidfd: never a recycled pid
                _kill_verified(pid, lambda p: self._is_host_process(h, p))
            time.sleep(0.005)
        proc = self._launchers.pop(h.name, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _remove_netns(self, h: RigHost) -> None:
        if _netns_exists(h.netns):
            _run(["ip", "netns", "del", h.netns])
        # the veth pair goes with the namespace, asynchronously; delete it only if it lingers
        with contextlib.suppress(RigError):
            _wait_until(lambda: not _link_exists(h.veth), 2.0, f"{h.veth} to go")
        if _link_exists(h.veth):
            _run(["ip", "link", "del", h.veth], check=False)
        if _link_exists(h.veth):
            raise RigError(f"link {h.veth} could not be removed")
        if h.address and _link_exists(BRIDGE):
            _run(["ip", "neigh", "del", h.address, "dev", BRIDGE], check=False)

    def _remove_user(self, h: RigHost) -> None:
        for user in (h.user, h.second_user):
            if user:
                remove_marked_user(user)

    # -------------------------------------------------------- files

    def _save_state(self) -> None:
        if not self.workdir.exists():
            return
        state = {"run_id": self.run_id, "workdir": str(self.workdir), "hide_paths": self.hide_paths,
                 "hosts": [dataclasses.asdict(h) for h in self.hosts]}
        _write_private(self.workdir / "state.json", json.dumps(state, indent=1))

    def _write_example(self) -> None:
        example = self.workdir / "example"
        example.mkdir(exist_ok=True)
        (example / "trial.py").write_text(
            '"""A tiny trial: reports a few intermediate results and a final one."""\n'
            "import random, time\n\nimport nni\n\n"
            "params = nni.get_next_parameter() or {}\n"
            "lr, momentum = params.get('lr', 0.01), params.get('momentum', 0.5)\n"
            "score = 0.0\nfor step in range(5):\n"
            "    score = (1 - abs(lr - 0.01)) * (0.5 + momentum / 2) * (step + 1) / 5 + random.random() * 0.01\n"
            "    nni.report_intermediate_result(score)\n    time.sleep(0.2)\n"
            "nni.report_final_result(score)\n")


def _add_marked_user(user: str, run_id: str, home: str) -> int:
    """Create a marked unix user (no password, home 0700) and return its uid; caller holds the lock."""
    _run(["useradd", "-p", "*", "-m", "-d", home, "-s", "/bin/bash", "-c", f"{MARK} {run_id}", "-U", user])
    pw = _getpwnam(user)
    if pw is None:
        raise RigError(f"useradd did not create {user}")
    os.chmod(home, 0o700)
    return int(pw[2])


def remove_marked_user(user: str) -> None:
    """Delete a user the rig created (name and GECOS marked), with its home; refuse any other."""
    pw = _getpwnam(user)
    if pw is None:
        return
    if not user.startswith(MARK) or not pw[4].startswith(MARK):
        raise RigError(f"refusing to delete user {user}: not marked as the rig's")
    _run(["userdel", user])
    home = Path(pw[5])
    if home.parent == Path("/home") and home.name.startswith(MARK):
        shutil.rmtree(home, ignore_errors=True)
    with contextlib.suppress(Exception):
        if _run(["getent", "group", user], check=False).returncode == 0:
            _run(["groupdel", user], check=False)


@dataclasses.dataclass
class HeadUser:
    """Another unix user on the head (the machine itself, not a host): a stranger to the experiment."""

    user: str
    uid: int
    gid: int
    home: str

    def run(self, argv: Sequence[str], *, input: Optional[bytes] = None, timeout: float = 60.0
            ) -> subprocess.CompletedProcess:
        """Run ``argv`` as this user (``setpriv``, no capabilities), in its home, with a minimal environment."""
        env = {"PATH": DEFAULT_PATH, "HOME": self.home, "USER": self.user, "LOGNAME": self.user, "LANG": "C.UTF-8"}
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--"]
                              + list(argv), input=input, capture_output=True, timeout=timeout, env=env,
                              cwd=self.home)


@contextlib.contextmanager
def head_user() -> Iterator[HeadUser]:
    """A marked unix user on the head for the block's duration (removed afterwards, also on failure)."""
    run_id = secrets.token_hex(3)
    user = f"{MARK}{run_id}u"
    home = f"/home/{user}"
    with _global_lock():
        uid = _add_marked_user(user, run_id, home)
    pw = _getpwnam(user)
    try:
        yield HeadUser(user, uid, int(pw[3]) if pw else uid, home)
    finally:
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:  # its processes first (by uid: only this user's)
            pids = [int(e) for e in os.listdir("/proc") if e.isdigit() and _owned_by(int(e), uid)]
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        with _global_lock():
            remove_marked_user(user)


def _owned_by(pid: int, uid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}").st_uid == uid and _pid_alive(pid)
    except OSError:
        return False


# ---------------------------------------------------------------- beside Docker
# Docker sets the iptables FORWARD policy to DROP (and br_netfilter sends bridged frames through it):
# traffic between two rig hosts on the bridge would be dropped. The rig's own ACCEPT rule, first in
# FORWARD, keeps it flowing whatever starts first; it goes when the bridge goes. Where the rule made
# iptables create its (nf_tables) filter table, the empty table goes too.

FORWARD_COMMENT = f"{MARK}: netns rig bridge {BRIDGE} (deploy/sshrig.py)"
FORWARD_RULE = ["FORWARD", "-i", BRIDGE, "-o", BRIDGE, "-m", "comment", "--comment", FORWARD_COMMENT, "-j", "ACCEPT"]
SBIN_PATH = DEFAULT_PATH + ":/usr/sbin:/sbin"


def _iptables(*args: str) -> Optional[subprocess.CompletedProcess]:
    if shutil.which("iptables", path=SBIN_PATH) is None:
        return None
    return subprocess.run(["iptables", "-w", "10", *args], capture_output=True, timeout=30,
                          env={"PATH": SBIN_PATH, "LANG": "C.UTF-8"})


def _has_filter_table() -> Optional[bool]:
    if shutil.which("nft", path=SBIN_PATH) is None:
        return None
    proc = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, timeout=30, env={"PATH": SBIN_PATH})
    return b"table ip filter" in proc.stdout if proc.returncode == 0 else None


def _allow_bridge_forwarding() -> None:
    """Insert the rig's FORWARD accept rule for its bridge unless present (caller holds the lock)."""
    check = _iptables("-C", *FORWARD_RULE)
    if check is None or check.returncode == 0:
        return
    had_table = _has_filter_table()
    proc = _iptables("-I", *FORWARD_RULE[:1], "1", *FORWARD_RULE[1:])
    if proc is not None and proc.returncode != 0:
        raise RigError(f"iptables could not allow traffic on {BRIDGE}: {proc.stderr.decode(errors='replace').strip()}")
    if had_table is False:
        (STATE_ROOT / "filter-table-created").touch()


def _remove_bridge_forwarding() -> bool:
    """Delete the rule (and the filter table if the rule created it and it is empty); True if removed."""
    removed = False
    for _ in range(10):
        proc = _iptables("-D", *FORWARD_RULE)
        if proc is None or proc.returncode != 0:
            break
        removed = True
    marker = STATE_ROOT / "filter-table-created"
    if marker.exists():
        listing = _iptables("-S")
        lines = listing.stdout.decode().splitlines() if listing is not None and listing.returncode == 0 else ["?"]
        if all(line.startswith("-P ") and line.endswith(" ACCEPT") for line in lines):
            subprocess.run(["nft", "delete", "table", "ip", "filter"], capture_output=True, timeout=30,
                           env={"PATH": SBIN_PATH})
        marker.unlink()
    return removed


def _getpwnam(user: str) -> Optional[tuple]:
    import pwd
    try:
        return tuple(pwd.getpwnam(user))
    except KeyError:
        return None


def _q(text: str) -> str:
    import shlex
    return shlex.quote(text)


def _live_runs() -> List[str]:
    """Run ids whose rig process still runs (its lease names it by pid *and* start time)."""
    live = []
    for lease in (STATE_ROOT / "leases").glob("*") if (STATE_ROOT / "leases").exists() else []:
        with contextlib.suppress(Exception):
            holder = json.loads(lease.read_text())
            if holder.get("start") and _start_time(int(holder["pid"])) == holder["start"]:
                live.append(holder["run_id"])
    return live


def sweep() -> List[str]:
    """Remove the marked rig leftovers of runs whose process is gone. Rigs still in use are left alone."""
    import pwd
    removed = []
    live = [f"{MARK}{run}h" for run in _live_runs()]
    for entry in pwd.getpwall():
        if any(entry.pw_name.startswith(tag) for tag in live):
            continue
        if entry.pw_name.startswith(MARK) and entry.pw_gecos.startswith(MARK):
            fake = RigHost(name=entry.pw_name, index=0, address="", port=22, user=entry.pw_name,
                           uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir, login="key",
                           known_hosts="", netns=entry.pw_name, veth="", state_dir="")
            rig = SshRig("/nonexistent")
            rig._kill_processes(fake)
            rig._remove_user(fake)
            removed.append(f"user {entry.pw_name}")
    netns_dir = Path("/run/netns")
    for ns in sorted(netns_dir.iterdir()) if netns_dir.exists() else []:
        if ns.name.startswith(MARK) and not any(ns.name.startswith(tag) for tag in live):
            fake = RigHost(name=ns.name, index=0, address="", port=22, user="", uid=-1, gid=-1,
                           home="", login="key", known_hosts="", netns=ns.name, veth="", state_dir="")
            SshRig("/nonexistent")._kill_processes(fake)
            _run(["ip", "netns", "del", ns.name], check=False)
            removed.append(f"netns {ns.name}")
    for link in sorted(os.listdir("/sys/class/net")) if not live else []:
        if link.startswith("nr") and (link == BRIDGE or (len(link) > 9 and "h" in link[8:])):
            _run(["ip", "link", "del", link], check=False)
            removed.append(f"link {link}")
    if not live and _remove_bridge_forwarding():
        removed.append("iptables FORWARD rule " + FORWARD_COMMENT)
    if STATE_ROOT.exists() and not live:
        shutil.rmtree(STATE_ROOT, ignore_errors=True)
        removed.append(str(STATE_ROOT))
    return removed


# ---------------------------------------------------------------- CLI

def _print_hosts(rig: SshRig) -> None:
    print(f"rig {rig.run_id}: head {HEAD_ADDRESS}, {len(rig.hosts)} host(s), workdir {rig.workdir}")
    for h in rig.hosts:
        if h.login == "password":
            how = f"password {h.password}"
        elif h.login == "passphrase":
            how = f"key {h.key_file} (passphrase {h.passphrase})"
        else:
            how = f"key {h.key_file}"
        if not h.up:
            state = "down"
        elif not _sshd_is_ours(h):
            state = "down (its sshd is not running)"
        else:
            state = "partitioned" if h.partitioned else "up"
        print(f"  {h.name}  {h.user}@{h.address}:{h.port}  {state}  {how}")
    print(f"NNI config: {rig.workdir / 'config.yml'}")
    print(f"known_hosts: {rig.known_hosts}")
    key_host = next((h for h in rig.hosts if h.login == "key"), None)
    if key_host:
        print(f"try: ssh -i {key_host.key_file} -o UserKnownHostsFile={rig.known_hosts} "
              f"{key_host.user}@{key_host.address} hostname -I")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="sshrig.py", description="Real sshd hosts on this Linux box (root).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start N hosts")
    p_up.add_argument("n", type=int)
    p_up.add_argument("--workdir", default=DEFAULT_WORKDIR)
    p_up.add_argument("--logins", help="comma-separated login kinds, e.g. password,passphrase,key,key")
    p_up.add_argument("--no-python", type=int, action="append", default=[], metavar="I",
                      help="host I (1-based) gets no python3 on PATH (repeatable)")
    p_up.add_argument("--extra-path-dir", action="append", default=[], metavar="I:DIR",
                      help="put DIR first on host I's PATH (repeatable)")
    for name, text in (("down", "tear the rig down"), ("status", "show the hosts")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--workdir", default=DEFAULT_WORKDIR)
    for name, text in (("kill", "power-cut host I"), ("revive", "restart host I"),
                       ("partition", "cut host I off the network"), ("heal", "undo partition")):
        p = sub.add_parser(name, help=text)
        p.add_argument("host", type=int)
        p.add_argument("--workdir", default=DEFAULT_WORKDIR)
    sub.add_parser("sweep", help="remove rig leftovers of runs whose process is gone (test rigs in use are kept)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            if Path(args.workdir, "state.json").exists():
                raise RigError(f"a rig is already up in {args.workdir}; run `down` first")
            options: List[Dict[str, Any]] = [{} for _ in range(args.n)]
            for i in args.no_python:
                options[i - 1]["no_python"] = True
            for spec in args.extra_path_dir:
                i, _, d = spec.partition(":")
                options[int(i) - 1]["extra_path_dir"] = d
            rig = SshRig(args.workdir)
            rig.up(args.n, logins=args.logins.split(",") if args.logins else None, host_options=options)
            _print_hosts(rig)
        elif args.cmd == "sweep":
            for line in sweep():
                print("removed", line)
        else:
            rig = SshRig.load(args.workdir)
            if args.cmd == "down":
                rig.down()
                print(f"rig {rig.run_id} is down")
            elif args.cmd == "status":
                _print_hosts(rig)
            else:
                getattr(rig, args.cmd)(args.host)
                print(f"{args.cmd} h{args.host}: done")
    except RigError as exc:
        print(f"sshrig: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
