#!/usr/bin/env python3
"""A rig of sshd worker containers for nni-remote's remote mode, for people and for tests.

``up`` brings up ``deploy/docker-compose.yml`` (Compose v2 ``docker compose`` or
Debian's ``docker-compose`` 1.29) with N workers: only sshd and Debian's python3,
login user ``nni`` by key. The head (nni-remote) runs on this computer: ``up``
makes its key, authorizes it on the workers, collects their host keys into
``known_hosts`` and writes a ready ``config.yml``. On Linux the head reaches the
workers at their addresses on the rig network (198.18.240.0/24 or the next free
/24 up to 198.18.255.0/24); where it cannot (Docker Desktop) it uses their sshd
ports published on 127.0.0.1. Faults mirror the netns rig (``deploy/sshrig.py``):
``kill`` (``docker kill``), ``pause``/``unpause`` (frozen host), ``partition``/``heal``
(``docker network disconnect``/``connect``), ``restart``.

Without a running Docker engine (root on Linux, Debian's ``docker.io``), a private
daemon is started (``deploy/dockerd.py``) and stopped again by ``down``; without a
registry, the base image is made offline (``deploy/baseimage.py``). ``down`` removes
everything ``up`` created: containers, network, volumes, the images it built.

CLI: ``python3 deploy/dockerrig.py up 3 [--workdir DIR]`` / ``status`` / ``kill 2`` /
``restart 2`` / ``down``. See ``deploy/README.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseimage  # noqa: E402
import dockerd  # noqa: E402

DEPLOY = Path(__file__).resolve().parent
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DEFAULT_WORKDIR = "/var/tmp/nni-remote-docker"
SUBNETS = [f"198.18.{third}.0/24" for third in range(240, 256)]
USER = "nni"


class DockerRigError(RuntimeError):
    """The Docker rig could not do what was asked; the message says what and why."""


def compose_command(env: Optional[Dict[str, str]] = None) -> Optional[List[str]]:
    """``docker compose`` (v2) if it works, else ``docker-compose`` (v1), else None. ``$NNI_RIG_COMPOSE`` wins."""
    candidates = [os.environ["NNI_RIG_COMPOSE"].split()] if os.environ.get("NNI_RIG_COMPOSE") else \
        [["docker", "compose"], ["docker-compose"]]
    for cmd in candidates:
        if shutil.which(cmd[0]) is None:
            continue
        try:
            if subprocess.run(cmd + ["version"], capture_output=True, env=env, timeout=30).returncode == 0:
                return cmd
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def missing_requirements() -> List[str]:
    """What this machine lacks to bring the rig up (empty list = ready)."""
    missing = []
    if shutil.which("docker") is None:
        missing.append("the docker CLI (apt-get install docker.io, or Docker Desktop)")
    if compose_command() is None:
        missing.append("Docker Compose (`docker compose` v2 or `docker-compose`: apt-get install docker-compose)")
    if shutil.which("ssh-keygen") is None:
        missing.append("ssh-keygen (openssh-client)")
    if not missing and not dockerd.engine_answers():
        missing += [f"a running Docker engine, or what starting one needs: {m}" for m in dockerd.start_requirements()]
    return missing


@dataclasses.dataclass
class Worker:
    """One worker container, as the head sees it."""

    index: int
    container: str
    address: str          # on the rig network
    published_port: int   # its sshd on 127.0.0.1
    host: str             # what the head connects to: address, or 127.0.0.1
    port: int
    host_key: str = ""    # "ssh-ed25519 AAAA..."
    state: str = "up"     # up | killed | paused | partitioned

    def machine_config(self, key_file: str, known_hosts: str) -> Dict[str, Any]:
        """The NNI v2 ``RemoteMachineConfig`` dict (camelCase keys) for this worker."""
        return {"host": self.host, "port": self.port, "user": USER, "sshKeyFile": key_file, "knownHosts": known_hosts}


class DockerRig:
    """N sshd worker containers from ``deploy/docker-compose.yml``; see the module docstring.

    ``workdir`` holds what the head needs (``keys/``, ``known_hosts``, ``config.yml``,
    ``state.json``). ``engine``: the Docker engine to use (default: the running one,
    or a private daemon in ``workdir/engine`` that :meth:`down` stops). ``address``:
    ``auto`` (the workers' own addresses when reachable, else published ports),
    ``direct`` or ``published``. Drive one rig from one thread; always :meth:`down`.
    """

    def __init__(self, workdir: Union[str, os.PathLike], *, engine: Optional[dockerd.Engine] = None,
                 project: Optional[str] = None, address: str = "auto",
                 progress: Optional[Callable[[str], None]] = None) -> None:
        if address not in ("auto", "direct", "published"):
            raise DockerRigError(f"address must be auto, direct or published, not {address!r}")
        self.workdir = Path(workdir).resolve()
        self.project = project or "nnirig" + secrets.token_hex(3)
        self.engine = engine
        self.address = address
        self.workers: List[Worker] = []
        self.key_file = self.workdir / "keys" / "id_ed25519"
        self.known_hosts = self.workdir / "known_hosts"
        self.compose: List[str] = []
        self.vars: Dict[str, str] = {}
        self.base_made_here = False
        self.engine_started_here = False
        self._progress = progress
        self._t0 = time.monotonic()

    def _say(self, what: str) -> None:
        if self._progress is not None:
            self._progress(f"[{time.monotonic() - self._t0:5.1f} s] {what}")

    def __enter__(self) -> "DockerRig":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.down()

    # ---------------------------------------------------------------- commands

    @property
    def env(self) -> Dict[str, str]:
        env = self.engine.env if self.engine else dict(os.environ)
        env.update(self.vars)
        return env

    def docker(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        """Run ``docker ARGS`` on the rig's engine; return stdout."""
        return self._run(["docker", *args], timeout, check)

    def compose_run(self, *args: str, timeout: float = 900.0, check: bool = True) -> str:
        """Run ``<compose> -p PROJECT -f docker-compose.yml ARGS`` with the rig's variables."""
        return self._run([*self.compose, "-p", self.project, "-f", str(COMPOSE_FILE), *args], timeout, check)

    def _run(self, argv: List[str], timeout: float, check: bool) -> str:
        try:
            proc = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise DockerRigError(f"`{' '.join(argv[:4])} ...` timed out after {timeout:g} s") from exc
        if check and proc.returncode != 0:
            raise DockerRigError(f"`{' '.join(argv[:6])} ...` failed (exit {proc.returncode}): "
                                 f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        return proc.stdout

    # ---------------------------------------------------------------- bring-up

    def up(self, n: int = 3) -> List[Worker]:
        """Build and start ``n`` workers, write keys, known_hosts and config.yml; on failure tear down."""
        if self.workers:
            raise DockerRigError("this rig is already up; create another DockerRig for more workers")
        if n < 1:
            raise DockerRigError("a rig needs at least one worker")
        if (self.workdir / "state.json").exists():  # checked before anything that a failure would undo
            raise DockerRigError(f"a rig is already up in {self.workdir}; run `down` first (or use another --workdir)")
        missing = missing_requirements() if self.engine is None else []
        if missing:
            raise DockerRigError("cannot start the Docker rig, missing: " + "; ".join(missing))
        try:
            self._up(n)
        except BaseException:
            try:
                self.down()
            except Exception as exc:  # keep the original error; say what was left
                print(f"dockerrig: teardown after a failed up: {exc}", file=sys.stderr)
            raise
        return list(self.workers)

    def _up(self, n: int) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        if self.engine is None:
            self.engine = dockerd.find_or_start_engine(self.workdir / "engine")
            self.engine_started_here = self.engine.started
            self._say("started a private dockerd" if self.engine.started else "using the running Docker engine")
        self._save_state()
        self.compose = compose_command(self.engine.env) or []
        if not self.compose:
            raise DockerRigError("no Docker Compose: install `docker compose` (v2) or `docker-compose`")
        self.key_file.parent.mkdir(mode=0o700, exist_ok=True)
        if not self.key_file.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nni-remote-head", "-f",
                            str(self.key_file)], check=True, capture_output=True, timeout=60)
        base, self.base_made_here = baseimage.ensure_base_image(self.engine.env)
        self._say(f"base image {base}" + (" (made offline)" if self.base_made_here else ""))
        self.vars = {"NNI_RIG_BASE_IMAGE": base, "NNI_RIG_IMAGE": f"nni-remote-worker:{self.project}",
                     "NNI_RIG_SUBNET": os.environ.get("NNI_RIG_SUBNET") or self._free_subnet(),
                     "NNI_RIG_AUTHORIZED_KEY": Path(f"{self.key_file}.pub").read_text().strip()}
        self._save_state()
        self.compose_run("build")
        self._say(f"built {self.vars['NNI_RIG_IMAGE']}")
        self.compose_run("up", "-d", "--scale", f"worker={n}")
        self._say(f"started {n} worker(s) on {self.vars['NNI_RIG_SUBNET']}")
        self._discover()
        for w in self.workers:
            self._pin_address(w)
        for w in self.workers:
            self._wait_ready(w)
        self._write_head_files()
        self._say("workers answer SSH; config.yml and known_hosts written")

    def _free_subnet(self) -> str:
        ids = self.docker("network", "ls", "-q").split()
        used = set(self.docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids)
                   .split()) if ids else set()
        for subnet in SUBNETS:
            if subnet not in used:
                return subnet
        raise DockerRigError("every rig subnet 198.18.240.0/24 .. 198.18.255.0/24 is taken by a Docker network")

    def _discover(self) -> None:
        lines = self.docker("ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}",
                            "--filter", "label=com.docker.compose.service=worker", "--format",
                            '{{.Names}} {{.Label "com.docker.compose.container-number"}}').split("\n")
        found = sorted((int(num), name) for name, num in (line.split() for line in lines if line.strip()))
        self.workers = [Worker(index=i, container=name, address="", published_port=0, host="", port=22)
                        for i, name in found]
        self._save_state()

    def _pin_address(self, w: Worker) -> None:
        """Reconnect the worker with its address fixed, so a restart (its or another's) keeps every address."""
        self._inspect(w)
        net = f"{self.project}_rig"
        self.docker("network", "disconnect", "--force", net, w.container)
        self.docker("network", "connect", "--ip", w.address, net, w.container)

    def _inspect(self, w: Worker) -> None:
        info = json.loads(self.docker("inspect", w.container))[0]
        nets = info["NetworkSettings"]["Networks"]
        net = next((v for k, v in nets.items() if k == f"{self.project}_rig"), None)
        if net and net.get("IPAddress"):
            w.address = net["IPAddress"]
        bindings = (info["NetworkSettings"].get("Ports") or {}).get("22/tcp") or []
        w.published_port = int(bindings[0]["HostPort"]) if bindings else 0

    def _wait_ready(self, w: Worker, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self._inspect(w)
            key = self.docker("exec", w.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False).split()
            if key and w.address:
                if self.address != "published" and _ssh_banner(w.address, 22):
                    w.host, w.port = w.address, 22
                elif self.address != "direct" and w.published_port and _ssh_banner("127.0.0.1", w.published_port):
                    w.host, w.port = "127.0.0.1", w.published_port
                else:
                    last = f"no SSH banner at {w.address}:22 or 127.0.0.1:{w.published_port}"
                    time.sleep(0.3)
                    continue
                w.host_key, w.state = " ".join(key[:2]), "up"
                self._save_state()
                return
            last = "no host key yet"
            time.sleep(0.3)
        logs = self._run(["docker", "logs", "--tail", "30", w.container], 30, False)
        raise DockerRigError(f"worker {w.index} ({w.container}) not ready after {timeout:g} s: {last}\n{logs}")

    def _write_head_files(self) -> None:
        lines = []
        for w in self.workers:
            lines.append(f"{w.address} {w.host_key}")
            if w.published_port:
                lines.append(f"[127.0.0.1]:{w.published_port} {w.host_key}")
        self.known_hosts.write_text("\n".join(lines) + "\n")
        example = self.workdir / "example"
        example.mkdir(exist_ok=True)
        (example / "trial.py").write_text(
            '"""A tiny trial: reports a few intermediate results and a final one."""\n'
            "import time\n\nimport nni\n\n"
            "params = nni.get_next_parameter() or {}\nlr = params.get('lr', 0.01)\n"
            "for step in range(5):\n    nni.report_intermediate_result((1 - abs(lr - 0.01)) * (step + 1) / 5)\n"
            "    time.sleep(0.2)\nnni.report_final_result(1 - abs(lr - 0.01))\n")
        (self.workdir / "config.yml").write_text(self.nni_config_yaml())
        self._save_state()

    def nni_config_yaml(self) -> str:
        """A ready-to-run NNI v2 YAML config: remote platform with every worker of the rig."""
        lines = ["# Generated by deploy/dockerrig.py: an NNI v2 experiment on the rig's worker containers.",
                 "experimentName: docker-rig-demo", "trialCommand: python3 trial.py",
                 f"trialCodeDirectory: {json.dumps(str(self.workdir / 'example'))}",
                 f"trialConcurrency: {len(self.workers)}", f"maxTrialNumber: {4 * len(self.workers)}",
                 "searchSpace:", "  lr: {_type: loguniform, _value: [0.0001, 0.1]}", "tuner:", "  name: Random",
                 "trainingService:", "  platform: remote", "  machineList:"]
        for w in self.workers:
            items = list(w.machine_config(str(self.key_file), str(self.known_hosts)).items())
            lines += [("    - " if i == 0 else "      ") + f"{k}: {json.dumps(v)}" for i, (k, v) in enumerate(items)]
        return "\n".join(lines) + "\n"

    # ---------------------------------------------------------------- faults

    def worker(self, key: Union[int, str, Worker]) -> Worker:
        """A worker by 1-based index, container name or address."""
        if isinstance(key, Worker):
            return key
        for w in self.workers:
            if key in (w.index, w.container, w.address, str(w.index)):
                return w
        raise DockerRigError(f"no worker {key!r} in this rig (workers: 1..{len(self.workers)})")

    def kill(self, key: Union[int, str, Worker]) -> None:
        """Power cut: ``docker kill`` (SIGKILL to every process of the container; its network goes with it)."""
        self._fault(key, "killed", "kill")

    def pause(self, key: Union[int, str, Worker]) -> None:
        """Frozen host: ``docker pause``. Its kernel still answers TCP; no process runs."""
        self._fault(key, "paused", "pause")

    def unpause(self, key: Union[int, str, Worker]) -> None:
        self._fault(key, "up", "unpause")

    def partition(self, key: Union[int, str, Worker]) -> None:
        """Cut the worker off the network (``docker network disconnect``); its processes keep running."""
        w = self.worker(key)
        self.docker("network", "disconnect", "--force", f"{self.project}_rig", w.container)
        w.state = "partitioned"
        self._save_state()

    def heal(self, key: Union[int, str, Worker]) -> None:
        """Undo :meth:`partition`: reconnect at the same address."""
        w = self.worker(key)
        self.docker("network", "connect", "--ip", w.address, f"{self.project}_rig", w.container)
        self._wait_ready(w)  # its published port may have changed
        self._write_head_files()

    def restart(self, key: Union[int, str, Worker]) -> None:
        """Bring the worker back from any fault (or reboot it): same address and host key, fresh processes."""
        w = self.worker(key)
        if w.state == "paused":
            self.docker("unpause", w.container)
        if w.state == "partitioned":
            self.docker("network", "connect", "--ip", w.address, f"{self.project}_rig", w.container)
        self.docker("restart", "-t", "2", w.container)
        self._wait_ready(w)
        self._write_head_files()

    def _fault(self, key: Union[int, str, Worker], state: str, verb: str) -> None:
        w = self.worker(key)
        self.docker(verb, w.container)
        w.state = state
        self._save_state()

    # ---------------------------------------------------------------- teardown and state

    def down(self) -> None:
        """Remove everything :meth:`up` created (idempotent); stop the daemon if it started one."""
        errors = []
        if self.compose and self.vars:
            for w in self.workers:
                if w.state == "paused":
                    self.docker("unpause", w.container, check=False)
            try:
                self.compose_run("down", "-v", "--rmi", "all", "--remove-orphans", "-t", "2")
                self._say("containers, network, volumes and the worker image removed")
            except DockerRigError as exc:
                errors.append(str(exc))
            if self.base_made_here and self.engine is not None and not self.engine_started_here:
                self.docker("rmi", self.vars["NNI_RIG_BASE_IMAGE"], check=False)
        if self.engine is not None and self.engine_started_here:
            try:
                self.engine.stop()
            except Exception as exc:
                errors.append(f"stopping the Docker daemon: {exc}")
        for name in ("known_hosts", "config.yml", "state.json"):
            (self.workdir / name).unlink(missing_ok=True)
        for name in ("keys", "example"):
            shutil.rmtree(self.workdir / name, ignore_errors=True)
        self.workers, self.vars = [], {}
        if errors:
            raise DockerRigError("Docker rig teardown incomplete:\n  " + "\n  ".join(errors))

    def _save_state(self) -> None:
        if not self.workdir.exists():
            return
        engine = self.engine
        state = {"project": self.project, "address": self.address, "compose": self.compose, "vars": self.vars,
                 "base_made_here": self.base_made_here, "engine_started_here": self.engine_started_here,
                 "engine": {"host": engine.host, "dir": str(engine.state_dir) if engine.state_dir else None}
                 if engine else None, "workers": [dataclasses.asdict(w) for w in self.workers]}
        path = self.workdir / "state.json"
        path.write_text(json.dumps(state, indent=1))
        os.chmod(path, 0o600)

    @classmethod
    def load(cls, workdir: Union[str, os.PathLike], progress: Optional[Callable[[str], None]] = None
             ) -> "DockerRig":
        """Re-open a rig started by another process (the CLI) from ``workdir/state.json``."""
        path = Path(workdir).resolve() / "state.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise DockerRigError(f"no Docker rig state in {path.parent} (nothing to do, or another --workdir?)") \
                from None
        eng = state.get("engine")
        engine = dockerd.Engine(eng["host"], Path(eng["dir"]) if eng.get("dir") else None,
                                started=state["engine_started_here"]) if eng else None
        rig = cls(workdir, engine=engine, project=state["project"], address=state["address"], progress=progress)
        rig.compose, rig.vars = state["compose"], state["vars"]
        rig.base_made_here, rig.engine_started_here = state["base_made_here"], state["engine_started_here"]
        rig.workers = [Worker(**w) for w in state["workers"]]
        return rig


def _ssh_banner(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _print_rig(rig: DockerRig) -> None:
    print(f"docker rig {rig.project}: {len(rig.workers)} worker(s), workdir {rig.workdir}")
    for w in rig.workers:
        print(f"  {w.index}  {w.container}  {USER}@{w.host}:{w.port}  (address {w.address}, "
              f"127.0.0.1:{w.published_port})  {w.state}")
    print(f"NNI config: {rig.workdir / 'config.yml'}")
    print(f"known_hosts: {rig.known_hosts}   key: {rig.key_file}")
    if rig.workers:
        w = rig.workers[0]
        print(f"try: ssh -i {rig.key_file} -o UserKnownHostsFile={rig.known_hosts} -p {w.port} {USER}@{w.host} id")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="dockerrig.py", description="sshd worker containers for nni-remote.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build and start N workers (default 3)")
    p_up.add_argument("n", type=int, nargs="?", default=3)
    p_up.add_argument("--address", choices=("auto", "direct", "published"), default="auto",
                      help="how the head reaches workers: their own addresses, or ports on 127.0.0.1")
    for name in ("up", "down", "status"):
        (p_up if name == "up" else sub.add_parser(name)).add_argument("--workdir", default=DEFAULT_WORKDIR)
    for name in ("kill", "pause", "unpause", "partition", "heal", "restart"):
        p = sub.add_parser(name, help=f"{name} worker I")
        p.add_argument("worker", type=int)
        p.add_argument("--workdir", default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            rig = DockerRig(args.workdir, address=args.address, progress=_stderr)
            rig.up(args.n)
            _print_rig(rig)
        else:
            rig = DockerRig.load(args.workdir, progress=_stderr)
            if args.cmd == "down":
                rig.down()
                print(f"docker rig {rig.project} is down")
            elif args.cmd == "status":
                _print_rig(rig)
            else:
                getattr(rig, args.cmd)(args.worker)
                print(f"{args.cmd} worker {args.worker}: done")
    except (DockerRigError, dockerd.EngineError, baseimage.BaseImageError) as exc:
        print(f"dockerrig: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
