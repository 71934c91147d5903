"""The Slurm harness for the training-service conformance suite (``tests/conformance/``).

Join them with lines in ``tests/conformance/harnesses.py``'s ``HARNESSES``:
``pytest.param(SlurmHarness, id="slurm")`` and ``pytest.param(SlurmReuseHarness, id="slurm-reuse")``.
They run the suite on a real cluster from ``deploy/slurmrig.py`` (two nodes, an SSH login node).
"""
from __future__ import annotations

from typing import Any, Dict, List


class SlurmHarness:
    """munged + slurmctld + two slurmd nodes; the head reaches the login node over SSH."""

    name = "slurm"

    def __init__(self, request: Any, tmp_path: Any, home: str) -> None:
        from tests.integration.slurm.conftest import slurmrig
        missing = slurmrig.missing_requirements()
        if missing:
            import pytest
            pytest.skip("the Slurm harness needs deploy/slurmrig.py; missing: " + "; ".join(missing))
        self.request, self.tmp_path, self.home = request, tmp_path, home
        self.rig = slurmrig.SlurmRig(tmp_path / "slurmrig", nodes=2, gpus_per_node=0)
        request.addfinalizer(self.rig.down)
        self.rig.up()

    def training_service(self) -> Dict[str, Any]:
        return {"platform": "slurm", **self.rig.config_fields()}

    def kill_agent(self, head: Any, machine: str) -> None:
        """SIGKILL the login-node agent; its trials are Slurm jobs and keep running."""
        self.rig.login_run(f"kill -KILL $(cat nni-remote/{head.controller.id}/agent/agent.pid)")

    def leftovers(self, head: Any) -> List[str]:
        """Jobs of the experiment still in squeue, and agent processes on the login node."""
        exp_id = head.controller.id
        jobs = [line for line in self.rig.squeue("-h", "-o", "%i %j %T").splitlines() if f"nni-{exp_id}-" in line]
        procs = [line for line in self.rig.login_run(f"ps -u {self.rig.user} -o pid=,args=").splitlines()
                 if "agent" in line and exp_id in line]
        return [f"job {j}" for j in jobs] + [f"login node: {p}" for p in procs]


class SlurmReuseHarness(SlurmHarness):
    """The same cluster in reuse mode: worker jobs run trial after trial."""

    name = "slurm"                  # the platform (NNI_PLATFORM); the pytest id tells the two apart

    def training_service(self) -> Dict[str, Any]:
        return dict(super().training_service(), reuseMode=True)
