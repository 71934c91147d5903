"""Slurm: trials become batch jobs, submitted by one trial agent on the cluster's login node.

The head launches the usual trial agent on the login node: over SSH (``login_node``
set; the same upload cache, ``head.json`` and reverse tunnel as remote machines),
or as a local subprocess when the head itself runs on the login node. Next to
``head.json`` it writes ``slurm.json`` (the rendered ``#SBATCH`` options,
preamble, mode, limits), which turns the agent's runners into Slurm runners:
every trial is a batch job (or, in reuse mode, runs inside a worker job) whose
script writes output, metrics, start and exit status into the trial directory
on the shared filesystem, which the agent relays to the head through the normal
agent protocol. Compute nodes never reach the head; see ``docs/slurm.md``.

To the manager the cluster is one machine (named after the login node) with
``trial_concurrency`` slots; Slurm, not the head, places trials and their GPUs.
"""
from __future__ import annotations

import json
import logging
import os
import posixpath
import shlex
import subprocess
from typing import TYPE_CHECKING, Any, Optional

from nni_remote.config.slurm import SlurmConfig
from nni_remote.errors import SlurmRejected, SshError
from nni_remote.services.base import HeadInfo, MachineSpec, TrainingService
from nni_remote.services.bundle import agent_zipapp, write_agent
from nni_remote.services.local import LocalTrainingService
from nni_remote.services.platforms import register_platform
from nni_remote.config.training_service import RemoteMachineConfig
from nni_remote.services.remote import RemoteMachine, RemoteTrainingService

if TYPE_CHECKING:
    from nni_remote.config.experiment import ExperimentConfig

log = logging.getLogger("nni_remote.slurm")

SETTINGS_FILE = "slurm.json"
# Job ids the agent recorded (per trial attempt and per reuse worker): what stop() cancels, and nothing else.
_OUR_JOBS = ("for f in trials/*/.agent*/job.json {agent}/workers/*/worker.json; do [ -f \"$f\" ] && "
             "sed -n 's/.*\"job\": *\"\\([0-9]*\\)\".*/\\1/p' \"$f\"; done")


def _spec(name: str, concurrency: int, address: str) -> MachineSpec:
    return MachineSpec(name=name, slots=max(concurrency, 1), address=address, auto_slots=True,
                       gpus_by_platform=True)


def test_only_command(ts: SlurmConfig) -> str:
    """``sbatch --test-only`` with a trial's options: the cluster's verdict, without submitting anything."""
    return "sbatch --test-only " + " ".join(shlex.quote(o) for o in ts.sbatch_options()) + " --wrap true"


def check_test_only(ts: SlurmConfig, exit_code: int, output: str) -> None:
    """Raise :class:`SlurmRejected` with Slurm's words when ``sbatch --test-only`` failed."""
    if exit_code != 0:
        words = " ".join(line.strip() for line in output.strip().splitlines()[-3:]) or f"exit {exit_code}"
        raise SlurmRejected([("trainingService", f"the cluster refused the job options "
                                                 f"{' '.join(ts.sbatch_options()) or '(none)'}: {words}; "
                                                 "fix partition/account/qos/resources or sbatchArgs")])


def _settings(ts: SlurmConfig, exp_id: str, pyz: str, workers: int) -> bytes:
    return json.dumps(ts.agent_settings(experiment_id=exp_id, pyz=pyz, workers=workers)).encode()


class SlurmTrainingService(TrainingService):
    """The ``slurm`` platform: :class:`SshSlurmService` when ``login_node`` is set, else
    :class:`LocalSlurmService` (the head runs on the login node)."""

    platform = "slurm"
    config_class = SlurmConfig
    trials_survive_agent = True           # they are Slurm jobs: a relaunched agent re-attaches them

    def __new__(cls, config: "ExperimentConfig", exp_dir: str, exp_id: str) -> Any:
        if cls is not SlurmTrainingService:
            return super().__new__(cls)
        ts = config.training_service
        assert isinstance(ts, SlurmConfig)
        return (SshSlurmService if ts.login_node is not None else LocalSlurmService)(config, exp_dir, exp_id)


class SshSlurmService(RemoteTrainingService):
    """Reaches the cluster's login node over SSH; see the module docstring."""

    platform = "slurm"
    config_class = SlurmConfig  # type: ignore[assignment]
    trials_survive_agent = True

    def __init__(self, config: "ExperimentConfig", exp_dir: str, exp_id: str) -> None:
        super().__init__(config, exp_dir, exp_id)
        ts = config.training_service
        assert isinstance(ts, SlurmConfig)
        self.slurm = ts

    def _machine_list(self, config: "ExperimentConfig") -> list[tuple[str, RemoteMachineConfig]]:
        ts = config.training_service
        assert isinstance(ts, SlurmConfig) and ts.login_node is not None
        return [(ts.login_node.name or ts.login_node.host or "login", ts.login_node)]

    def machines(self) -> list[MachineSpec]:
        return [_spec(name, self.concurrency or 1, rm.config.host or name)
                for name, rm in self.machines_by_name.items()]

    def _write_head(self, rm: RemoteMachine, head: HeadInfo, agent_dir: str) -> None:
        """Check the job options with the cluster, then write ``slurm.json`` before ``head.json``
        (the agent must start in Slurm mode)."""
        answer = rm.conn.run(test_only_command(self.slurm), timeout=60, check=False)
        check_test_only(self.slurm, answer.exit_code, answer.stderr + answer.stdout)
        pyz = posixpath.join(rm.cache, f"agent-{agent_zipapp()[1][:16]}.pyz")
        rm.conn.put_bytes(_settings(self.slurm, self.exp_id, pyz, self.concurrency or 1),
                          posixpath.join(agent_dir, SETTINGS_FILE), mode=0o600, timeout=30)
        super()._write_head(rm, head, agent_dir)

    def stop(self) -> None:
        """Cancel every job the agent recorded that is still queued or running, then clean up as remote does."""
        for rm in self.machines_by_name.values():
            if not rm.home:
                continue
            base = shlex.quote(rm.exp_dir(self.exp_id))
            try:
                rm.conn.run(f"cd {base} 2>/dev/null || exit 0; ids=$({_OUR_JOBS.format(agent='agent')}); "
                            "[ -n \"$ids\" ] && scancel $ids 2>/dev/null; exit 0", timeout=30, check=False)
            except SshError as exc:
                log.warning("%s: scancel of leftover jobs failed: %s", rm.name, exc)
        super().stop()


class LocalSlurmService(LocalTrainingService):
    """The head runs on the login node: the agent is a local subprocess that calls ``sbatch`` itself.

    The experiment directory (``experimentWorkingDirectory``) and the trial code
    directory must then be on the cluster's shared filesystem.
    """

    platform = "slurm"
    config_class = SlurmConfig  # type: ignore[assignment]
    probe_is_definitive = False
    trials_survive_agent = True

    def __init__(self, config: "ExperimentConfig", exp_dir: str, exp_id: str) -> None:
        super().__init__(config, exp_dir, exp_id)
        ts = config.training_service
        assert isinstance(ts, SlurmConfig)
        self.slurm, self.exp_id = ts, exp_id
        self.agent_dir = os.path.join(exp_dir, "agents", "slurm")
        self.gpu_indices, self.max_per_gpu, self.use_active_gpu = None, 1, True
        self.name = "slurm"

    def machines(self) -> list[MachineSpec]:
        return [_spec(self.name, self.slots, "localhost")]

    def launch_machine(self, name: str, head: HeadInfo) -> Optional[Exception]:
        try:
            answer = subprocess.run(["sh", "-c", test_only_command(self.slurm)], capture_output=True, text=True,
                                    timeout=60)
            check_test_only(self.slurm, answer.returncode, answer.stderr + answer.stdout)
        except (OSError, subprocess.SubprocessError, SlurmRejected) as exc:
            return exc
        os.makedirs(self.agent_dir, mode=0o700, exist_ok=True)
        pyz = write_agent(os.path.join(self.exp_dir, "agents"))
        with open(os.path.join(self.agent_dir, SETTINGS_FILE), "wb") as f:
            f.write(_settings(self.slurm, self.exp_id, pyz, self.slots))
        return super().launch_machine(name, head)

    def stop(self) -> None:
        super().stop()
        try:
            ids = subprocess.run(["sh", "-c", _OUR_JOBS.format(agent="agents/slurm")], cwd=self.exp_dir,
                                 capture_output=True, text=True, timeout=30).stdout.split()
            if ids:
                subprocess.run(["scancel", *ids], capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("scancel of leftover jobs failed: %s", exc)


register_platform(SlurmTrainingService)  # type: ignore[type-abstract]  # __new__ builds a concrete one
