#!/usr/bin/env python3
"""A real Slurm cluster on one Linux machine, for people and for tests.

Built on :mod:`sshrig` (``deploy/sshrig.py``): the rig starts ``1 + nodes``
sshd hosts, each its own network, mount and PID namespace. Host ``h1`` is the
**login node** (reachable over SSH; its user is the cluster user), the others
are **compute nodes** ``c1``, ``c2``, ...: each runs its own ``slurmd`` inside
its namespaces, with its own ``NodeName``, ``NodeAddr``, spool directory, pid and
log file. ``slurmctld`` and ``munged`` run in the root namespace on the rig's
head address. ``/home`` is the shared filesystem (every namespace sees it);
each host's ``/tmp`` is private and the repository checkout is hidden from all
hosts, so code that relies on anything but the shared home fails here.

Everything is this run's own: munge key, socket, pid and log files; ``slurm.conf``
and ``gres.conf`` (GPUs declared by count, no hardware); ``StateSaveLocation``;
free non-default ``SlurmctldPort``/``SlurmdPort``. The login and compute hosts
see the config at ``/etc/slurm`` (a bind mount inside their mount namespace
only), so ``sbatch`` there needs no ``SLURM_CONF``; on the head use
:meth:`SlurmRig.env`. Every daemon is started by this module and stopped by
pid. No accounting database: ``sacct`` has nothing; ``squeue -t all`` and
``scontrol show job`` show finished jobs for ``MinJobAge`` seconds.

Library::

    rig = SlurmRig("/tmp/slurmrig", nodes=2, gpus_per_node=2)
    rig.up()
    rig.login_run("sbatch --wrap 'hostname'")
    rig.node_down("c1"); rig.node_resume("c1")
    rig.down()

CLI: ``python3 deploy/slurmrig.py up [--nodes 2] [--workdir DIR]`` / ``status`` / ``down``.
Needs root, ``slurm-wlm`` and ``munge`` (``apt-get install slurm-wlm munge``) plus
what ``sshrig.py`` needs.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sshrig  # noqa: E402  (a sibling script, importable without a package)

STATE_ROOT = Path("/run/nrslurm")
DEFAULT_WORKDIR = "/var/tmp/nni-remote-slurmrig"
DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}
CLIENTS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo")
SBIN_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
RigError = sshrig.RigError


def missing_requirements() -> List[str]:
    """What this machine lacks to run the Slurm rig (empty list = ready)."""
    missing = list(sshrig.missing_requirements())
    for name, path in DAEMONS.items():
        if not os.access(path, os.X_OK):
            missing.append(f"{path} (apt-get install {'munge' if name == 'munged' else 'slurm-wlm'})")
    for tool in CLIENTS:
        if shutil.which(tool) is None:
            missing.append(f"{tool} (apt-get install slurm-client)")
    with contextlib.suppress(KeyError):
        pwd.getpwnam("munge")
        return missing
    missing.append("user munge (apt-get install munge)")
    return missing


def _free_port() -> int:
    """A TCP port free on every address of the root namespace (bound once to check)."""
    for _ in range(50):
        port = 20000 + secrets.randbelow(20000)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RigError("no free TCP port found for slurmctld")


def _pid_start(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


class SlurmRig:
    """munged + slurmctld + ``nodes`` slurmd, a login node and a shared /home; see the module docstring."""

    def __init__(self, workdir: Union[str, os.PathLike], *, nodes: int = 2, cpus_per_node: Optional[int] = None,
                 gpus_per_node: int = 2, memory_mb: int = 2048, run_id: Optional[str] = None,
                 hide_paths: Sequence[str] = ()) -> None:
        if nodes < 1:
            raise RigError("a Slurm rig needs at least one compute node")
        self.workdir = Path(workdir).resolve()
        self.run_id = run_id or secrets.token_hex(3)
        self.nodes = nodes
        self.cpus = cpus_per_node or os.cpu_count() or 1
        self.gpus = gpus_per_node
        self.memory_mb = memory_mb
        self.ssh = sshrig.SshRig(self.workdir / "ssh", run_id=self.run_id, hide_paths=hide_paths)
        self.state = STATE_ROOT / self.run_id
        self.etc = self.state / "etc"
        self.conf = self.etc / "slurm.conf"
        self.munge_socket = self.state / "munge" / "munge.socket"
        self.ctld_port = 0
        self.slurmd_port = 0
        self.pids: Dict[str, List[Any]] = {}   # daemon name -> [pid, start time]
        self._procs: Dict[str, subprocess.Popen] = {}

    # ------------------------------------------------------------ public API

    def __enter__(self) -> "SlurmRig":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.down()

    @property
    def login(self) -> sshrig.RigHost:
        return self.ssh.hosts[0]

    @property
    def node_names(self) -> List[str]:
        return [f"c{i}" for i in range(1, self.nodes + 1)]

    def compute_host(self, node: str) -> sshrig.RigHost:
        return self.ssh.hosts[self.node_names.index(node) + 1]

    @property
    def user(self) -> str:
        """The cluster user (the login node's account); jobs run as this user."""
        return self.login.user

    def env(self) -> Dict[str, str]:
        """Environment for Slurm clients on the head (root namespace)."""
        return {"SLURM_CONF": str(self.conf)}

    def up(self) -> "SlurmRig":
        """Start hosts and daemons; wait until every node is idle. On failure everything is torn down."""
        missing = missing_requirements()
        if missing:
            raise RigError("cannot start the Slurm rig, missing: " + "; ".join(missing))
        try:
            self._up()
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        return self

    def login_run(self, command: str, *, check: bool = True, timeout: float = 30.0) -> str:
        """Run ``command`` on the login node as the cluster user; return stdout."""
        return self.ssh.run_on(self.login, command, check=check, timeout=timeout)

    def scontrol(self, *args: str, check: bool = True) -> str:
        """Run ``scontrol`` (as root, from the head) against this cluster."""
        return self._client("scontrol", *args, check=check)

    def squeue(self, *args: str) -> str:
        return self._client("squeue", *args)

    def node_down(self, node: str, reason: str = "test") -> None:
        """``scontrol update state=down``: Slurm ends the node's jobs as NODE_FAIL."""
        self.scontrol("update", f"nodename={node}", "state=down", f"reason={reason}")

    def node_resume(self, node: str) -> None:
        self.scontrol("update", f"nodename={node}", "state=resume")

    def node_states(self) -> Dict[str, str]:
        out = self._client("sinfo", "-h", "-N", "-o", "%N %T")
        return dict(line.split()[:2] for line in out.splitlines() if line.strip())

    def kill_slurmd(self, node: str) -> None:
        """SIGKILL the node's slurmd; slurmctld notices after ``SlurmdTimeout`` (30 s here)."""
        self._stop(f"slurmd-{node}", signal.SIGKILL)

    def wait_nodes(self, state: str = "idle", timeout: float = 60.0) -> None:
        def ready() -> bool:
            states = self.node_states()
            return len(states) == self.nodes and all(s.rstrip("*~#") == state for s in states.values())
        sshrig._wait_until(ready, timeout, f"nodes {self.node_names} to be {state}", interval=0.1)

    def config_fields(self) -> Dict[str, Any]:
        """The ``trainingService`` fields (besides ``platform``) that reach this cluster over SSH."""
        return {"loginNode": {"host": self.login.address, "user": self.login.user, "sshKeyFile": self.login.key_file,
                              "knownHosts": str(self.ssh.known_hosts)},
                "partition": "debug"}

    def down(self) -> None:
        """Stop every daemon this rig started (by pid), then the hosts; idempotent."""
        errors: List[str] = []
        for name in sorted(set(self.pids) | set(self._procs),
                           key=lambda n: (n == "munged", n == "slurmctld")):  # slurmd first
            try:
                self._stop(name, signal.SIGTERM)
            except Exception as exc:
                errors.append(f"{name}: {exc}")
        try:
            self.ssh.down()
        except Exception as exc:
            errors.append(str(exc))
        shutil.rmtree(self.state, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.workdir / "slurmrig.json").unlink()
        if errors:
            raise RigError("Slurm rig teardown incomplete:\n  " + "\n  ".join(errors))

    @classmethod
    def load(cls, workdir: Union[str, os.PathLike]) -> "SlurmRig":
        """Re-open a rig started by another process (the CLI)."""
        path = Path(workdir).resolve() / "slurmrig.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise RigError(f"no Slurm rig state in {path.parent}") from None
        rig = cls(workdir, nodes=state["nodes"], run_id=state["run_id"], gpus_per_node=state["gpus"])
        rig.ssh = sshrig.SshRig.load(rig.workdir / "ssh")
        rig.pids = state["pids"]
        rig.ctld_port, rig.slurmd_port = state["ctld_port"], state["slurmd_port"]
        return rig

    # ------------------------------------------------------------ bring-up

    def _up(self) -> None:
        old_umask = os.umask(0o022)   # munge and slurm users must traverse what is made here, whatever the caller's
        try:
            self._bring_up()
        finally:
            os.umask(old_umask)

    def _bring_up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        self.ssh.up(1 + self.nodes, logins=["key"] * (1 + self.nodes))
        self.state.mkdir(mode=0o755, parents=True)
        self.etc.mkdir(mode=0o755)
        self._start_munge()
        self.ctld_port, self.slurmd_port = _free_port(), _free_port()
        self._write_config()
        for h in self.ssh.hosts:  # the cluster's config at its usual place, inside the hosts only
            # `ip netns exec` gave each host a fresh /sys without cgroup mounts; slurmd's cgroup
            # plugin only needs to find a (v1-style) tmpfs there with proctrack/linuxproc and task/none
            self.ssh.run_on(h, f"mount --bind {sshrig._q(str(self.etc))} /etc/slurm && "
                               "mount -t tmpfs -o mode=0755,size=64k nrslurm-cgroup /sys/fs/cgroup && "
                               "mkdir /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd",
                            as_root=True)
        self._start("slurmctld", ["/usr/sbin/slurmctld", "-D", "-i", "-f", str(self.conf)], None)
        for node in self.node_names:
            spool = self.state / node
            spool.mkdir(mode=0o755)
            self._start(f"slurmd-{node}", ["/usr/sbin/slurmd", "-D", "-f", str(self.conf), "-N", node],
                        self.compute_host(node))
        self.wait_nodes("idle", timeout=60)
        self._save()

    def _start_munge(self) -> None:
        mdir = self.state / "munge"
        mdir.mkdir(mode=0o755)
        munge = pwd.getpwnam("munge")
        key = mdir / "munge.key"
        fd = os.open(str(key), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(1024))
        for path in (mdir, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        argv = ["setpriv", f"--reuid={munge.pw_uid}", f"--regid={munge.pw_gid}", "--clear-groups",
                "/usr/sbin/munged", "-F", f"--socket={self.munge_socket}", f"--key-file={key}",
                f"--pid-file={mdir / 'munged.pid'}", f"--log-file={mdir / 'munged.log'}",
                f"--seed-file={mdir / 'munged.seed'}", "--num-threads=4"]
        self._start("munged", argv, None, exe="/usr/sbin/munged")
        sshrig._wait_until(lambda: self.munge_socket.exists(), 20, "munged's socket")

    def _write_config(self) -> None:
        head = sshrig.HEAD_ADDRESS
        host = socket.gethostname().split(".")[0]
        gpus = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        lines = [
            f"# nrslurm {self.run_id}: generated by deploy/slurmrig.py",
            f"ClusterName=nr{self.run_id}",
            f"SlurmctldHost={host}({head})",
            f"SlurmctldPort={self.ctld_port}", f"SlurmdPort={self.slurmd_port}",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={self.state}/ctld", f"SlurmdSpoolDir={self.state}/%n",
            f"SlurmctldPidFile={self.state}/slurmctld.pid", f"SlurmdPidFile={self.state}/%n/slurmd.pid",
            f"SlurmctldLogFile={self.state}/slurmctld.log", f"SlurmdLogFile={self.state}/%n/slurmd.log",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
            "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none", "MpiDefault=none", "ReturnToService=1",
            "SlurmctldTimeout=30", "SlurmdTimeout=30", "InactiveLimit=0", "MinJobAge=300",
            "KillWait=5", "Waittime=0", "SchedulerType=sched/backfill",
            "SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000",
            "MessageTimeout=10", "TCPTimeout=5", "GresTypes=gpu",
            f"DefMemPerCPU={max(64, self.memory_mb // (2 * self.cpus))}",
            f"NodeName=DEFAULT CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN{gpus}",
        ]
        lines += [f"NodeName={node} NodeAddr={self.compute_host(node).address} NodeHostname={node}"
                  for node in self.node_names]
        lines.append("PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO")
        (self.etc / "slurm.conf").write_text("\n".join(lines) + "\n")
        gres = ""
        if self.gpus:  # count-only gpu lines report 0 GPUs; plain files stand in for device files
            for i in range(self.gpus):
                (self.state / f"gpu{i}").touch()
            gres = f"Name=gpu File={self.state}/gpu[0-{self.gpus - 1}]\n"
        (self.etc / "gres.conf").write_text(gres)
        (self.state / "ctld").mkdir(mode=0o700)

    def _start(self, name: str, argv: List[str], host: Optional[sshrig.RigHost], exe: Optional[str] = None) -> None:
        log = open(self.state / f"{name}.out", "wb")
        prefix = ["nsenter", "-t", str(host.sshd_pid), "-m", "-n", "-p", "--"] if host is not None else []
        try:
            proc = subprocess.Popen(prefix + argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, env={"PATH": SBIN_PATH, "LANG": "C.UTF-8"})
        finally:
            log.close()
        self._procs[name] = proc
        exe = os.path.realpath(exe or argv[0])

        def started() -> bool:
            if proc.poll() is not None:
                out = (self.state / f"{name}.out").read_text(errors="replace")[-2000:]
                raise RigError(f"{name} exited ({proc.returncode}): {out}")
            pid = proc.pid if not prefix else next(iter(sshrig._children(proc.pid)), 0)
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/exe") == exe:
                    self.pids[name] = [pid, _pid_start(pid)]
                    return True
            return False
        sshrig._wait_until(started, 20, f"{name} to start")

    def _stop(self, name: str, sig: int) -> None:
        entry = self.pids.pop(name, None)
        proc = self._procs.get(name)
        if entry is None and proc is not None and proc.poll() is None:
            entry = [proc.pid, _pid_start(proc.pid)]  # started, never seen ready: its launcher
        if entry is None:
            return
        pid, start = entry
        if _pid_start(pid) != start:
            return  # already gone (and the pid may be someone else's now)
        os.kill(pid, sig)
        try:
            sshrig._wait_until(lambda: _pid_start(pid) != start, 15, f"{name} (pid {pid}) to exit")
        except RigError:
            if _pid_start(pid) == start:
                os.kill(pid, signal.SIGKILL)
                sshrig._wait_until(lambda: _pid_start(pid) != start, 5, f"{name} (pid {pid}) to die")
        proc = self._procs.pop(name, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _client(self, tool: str, *args: str, check: bool = True) -> str:
        env = dict(os.environ, **self.env())
        proc = subprocess.run([tool, *args], capture_output=True, text=True, timeout=30, env=env)
        if check and proc.returncode != 0:
            raise RigError(f"{tool} {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def _save(self) -> None:
        state = {"run_id": self.run_id, "nodes": self.nodes, "gpus": self.gpus, "pids": self.pids,
                 "ctld_port": self.ctld_port, "slurmd_port": self.slurmd_port, "conf": str(self.conf)}
        sshrig._write_private(self.workdir / "slurmrig.json", json.dumps(state, indent=1))


# ------------------------------------------------------------ CLI

def _print(rig: SlurmRig) -> None:
    login = rig.login
    print(f"Slurm rig {rig.run_id}: slurmctld {sshrig.HEAD_ADDRESS}:{rig.ctld_port}, nodes {', '.join(rig.node_names)}")
    print(f"  login node: {login.user}@{login.address} (key {login.key_file}, known_hosts {rig.ssh.known_hosts})")
    print(f"  on the head: export SLURM_CONF={rig.conf}")
    with contextlib.suppress(RigError):
        for node, state in rig.node_states().items():
            print(f"  {node}: {state}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="slurmrig.py", description="A real Slurm cluster on this Linux box (root).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start munged, slurmctld, N slurmd nodes and a login node")
    p_up.add_argument("--nodes", type=int, default=2)
    p_up.add_argument("--gpus", type=int, default=2, help="GPUs declared per node (by count, no hardware)")
    for name in ("up", "down", "status"):
        p = p_up if name == "up" else sub.add_parser(name, help=f"{name} the rig")
        p.add_argument("--workdir", default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            if Path(args.workdir, "slurmrig.json").exists():
                raise RigError(f"a Slurm rig is already up in {args.workdir}; run `down` first")
            rig = SlurmRig(args.workdir, nodes=args.nodes, gpus_per_node=args.gpus).up()
            _print(rig)
        else:
            rig = SlurmRig.load(args.workdir)
            if args.cmd == "down":
                rig.down()
                print(f"Slurm rig {rig.run_id} is down")
            else:
                _print(rig)
    except RigError as exc:
        print(f"slurmrig: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
