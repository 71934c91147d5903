"""How the conformance suite sets up each platform and injures it.

A harness knows only what differs between platforms for the *tests*: the
``trainingService`` section that puts the experiment on the platform, how to
kill one machine's agent abruptly, and how to list what an experiment left
running. A new platform joins the suite with a harness here and one line in
:data:`HARNESSES`.
"""
from __future__ import annotations

import json
import os
import signal
from typing import Any, Dict, List

import psutil
import pytest

from tests.conformance.head import Head


def processes_of(head: Head) -> List[str]:
    """Processes on this machine that belong to the experiment (its dir in argv or its id in the environment)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if proc.pid == os.getpid() or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if head.exp_dir in cmdline or proc.environ().get("NNI_EXP_ID") == head.controller.id:
                found.append(f"{proc.pid} {cmdline}")
        except (psutil.Error, OSError):
            continue
    return found


class Harness:
    """The base: a platform name and the three things the suite needs from it."""

    name = ""

    def __init__(self, request: Any, tmp_path: Any, home: str) -> None:
        self.request, self.tmp_path, self.home = request, tmp_path, home

    def training_service(self) -> Dict[str, Any]:
        raise NotImplementedError

    def kill_agent(self, head: Head, machine: str) -> None:
        """The machine's agent process dies at once (SIGKILL); its trials keep running if they can."""
        raise NotImplementedError

    def leftovers(self, head: Head) -> List[str]:
        """Agent and trial processes of this experiment still alive anywhere."""
        raise NotImplementedError


class FakeHarness(Harness):
    """The in-memory platform of ``fake_platform.py``: agents on threads of the head's process."""

    name = "fake"

    def __init__(self, request: Any, tmp_path: Any, home: str) -> None:
        super().__init__(request, tmp_path, home)
        from nni_remote.services import platforms
        from tests.conformance import fake_platform
        platforms.register_platform(fake_platform.FakeTrainingService)
        request.addfinalizer(lambda: platforms.unregister_platform("fake"))

    def training_service(self) -> Dict[str, Any]:
        return {"platform": "fake", "machines": 2, "slots": 2}

    def kill_agent(self, head: Head, machine: str) -> None:
        head.service.cut(machine)  # type: ignore[attr-defined]

    def leftovers(self, head: Head) -> List[str]:
        threads = [f"thread {t.name}" for t in head.service.agent_threads()]  # type: ignore[attr-defined]
        return threads + processes_of(head)


class LocalHarness(Harness):
    name = "local"

    def training_service(self) -> Dict[str, Any]:
        return {"platform": "local"}

    def kill_agent(self, head: Head, machine: str) -> None:
        with open(os.path.join(head.exp_dir, "agents", machine, "agent.pid")) as f:
            os.kill(int(json.load(f)["pid"]), signal.SIGKILL)   # agent.pid: {"pid", "start", "boot"}

    def leftovers(self, head: Head) -> List[str]:
        return processes_of(head)


class RemoteHarness(Harness):
    """Real sshd hosts (deploy/sshrig.py), one password login and one key login."""

    name = "remote"

    def __init__(self, request: Any, tmp_path: Any, home: str) -> None:
        super().__init__(request, tmp_path, home)
        from tests.integration.remote.remote_helpers import install_known_hosts
        self.rig = request.getfixturevalue("rig_factory")(2, logins=["password", "key"])
        install_known_hosts(self.rig, home)

    def training_service(self) -> Dict[str, Any]:
        return {"platform": "remote", "machineList": [h.machine_config() for h in self.rig.hosts]}

    def _host(self, head: Head, machine: str) -> Any:
        address = head.service.machines_by_name[machine].config.host  # type: ignore[attr-defined]
        return next(h for h in self.rig.hosts if h.address == address)

    def kill_agent(self, head: Head, machine: str) -> None:
        path = f"nni-remote/{head.controller.id}/agent/agent.pid"
        pid = json.loads(self.rig.run_on(self._host(head, machine), f"cat {path}"))["pid"]
        self.rig.run_on(self._host(head, machine), f"kill -KILL {int(pid)}")

    def leftovers(self, head: Head) -> List[str]:
        from tests.integration.remote.remote_helpers import leftover
        return [f"{h.name}: {line}" for h in self.rig.hosts for line in leftover(self.rig, h)]


class SlurmHarness(Harness):
    """A real Slurm (deploy/slurmrig.py: munged, slurmctld, two slurmd nodes, an SSH login node)."""

    name = "slurm"
    reuse = False

    def __init__(self, request: Any, tmp_path: Any, home: str) -> None:
        super().__init__(request, tmp_path, home)
        from tests.integration.slurm.conftest import slurmrig
        missing = slurmrig.missing_requirements()
        if missing:
            pytest.skip("the Slurm harness needs deploy/slurmrig.py; missing: " + "; ".join(missing))
        self.rig = slurmrig.SlurmRig(tmp_path / "slurmrig", nodes=2, gpus_per_node=0)
        request.addfinalizer(self.rig.down)
        self.rig.up()

    def training_service(self) -> Dict[str, Any]:
        return {"platform": "slurm", "reuseMode": self.reuse, **self.rig.config_fields()}

    def kill_agent(self, head: Head, machine: str) -> None:
        """SIGKILL the login-node agent; the trials are Slurm jobs and keep running."""
        path = f"nni-remote/{head.controller.id}/agent/agent.pid"   # {"pid", "start", "boot"}
        pid = json.loads(self.rig.login_run(f"cat {path}"))["pid"]
        self.rig.login_run(f"kill -KILL {int(pid)}")

    def leftovers(self, head: Head) -> List[str]:
        """Jobs of the experiment still in squeue, and its agent processes on the login node."""
        exp_id = head.controller.id
        jobs = [line for line in self.rig.squeue("-h", "-o", "%i %j %T").splitlines() if f"nni-{exp_id}-" in line]
        procs = [line for line in self.rig.login_run(f"ps -u {self.rig.user} -o pid=,args=").splitlines()
                 if "agent" in line and exp_id in line]
        return [f"job {j}" for j in jobs] + [f"login node: {p}" for p in procs]


class SlurmReuseHarness(SlurmHarness):
    """The same cluster in reuse mode: worker jobs run trial after trial."""

    reuse = True


HARNESSES = [
    pytest.param(FakeHarness, id="fake"),
    pytest.param(LocalHarness, id="local"),
    pytest.param(RemoteHarness, id="remote", marks=pytest.mark.remote),
    pytest.param(SlurmHarness, id="slurm", marks=pytest.mark.remote),
    pytest.param(SlurmReuseHarness, id="slurm-reuse", marks=pytest.mark.remote),
]
"""Every platform the suite runs against: a new platform is one more line."""


def dump(head: Head) -> str:
    """What the head knows, for assertion messages."""
    return json.dumps([(t.id, t.status, t.machine, t.attempt, t.message) for t in head.trials()])
