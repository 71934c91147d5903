"""Local mode: the same trial agent, started as a subprocess on this machine.

Trials run in place in the code directory (no copy is made); their files go
to ``<exp_dir>/trials/<id>``. The agent is a child of nobody (its own
session), so trials outlive an agent that dies and a relaunched agent
re-attaches them.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Optional

import psutil

from trial_agent import procid
from trial_agent.cleanup import STOPPED, cleanup

from nni_remote.config.training_service import LocalConfig
from nni_remote.services.base import (FileChunk, HeadInfo, MachineSpec, TrainingService, TrialFile, TrialPaths,
                                      list_local_dir, read_local_chunk, safe_file_name)
from nni_remote.services.bundle import write_agent
from nni_remote.services.platforms import register_platform

if TYPE_CHECKING:
    from nni_remote.config.experiment import ExperimentConfig

MACHINE = "local"


def write_head_file(agent_dir: str, head: HeadInfo, machine: str = MACHINE) -> None:
    """Tell ``machine``'s agent where the head is (mode 0600: that machine's credential is in it)."""
    os.makedirs(agent_dir, mode=0o700, exist_ok=True)
    path = os.path.join(agent_dir, "head.json")
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": head.url, "token": head.credential(machine)}, f)
    os.replace(tmp, path)


class LocalTrainingService(TrainingService):
    """One agent on this machine; trials run in place in the code directory."""

    platform = "local"
    config_class = LocalConfig
    probe_is_definitive = True      # no network in between: a missing process is gone
    trials_see_head_files = True    # trials run on this machine, beside the experiment's folder
    trials_survive_agent = True     # trials run in their own sessions; a new agent re-attaches them

    def __init__(self, config: "ExperimentConfig", exp_dir: str, exp_id: str) -> None:
        ts = config.training_service
        assert self.config_class is not None and isinstance(ts, self.config_class)
        self.code_dir = ts.trial_code_directory or os.getcwd()
        self.exp_dir = exp_dir
        self.agent_dir = os.path.join(exp_dir, "agents", MACHINE)
        self.slots = max(config.trial_concurrency or 1, 1)
        self.gpu_indices = getattr(ts, "gpu_indices", None)
        self.max_per_gpu = getattr(ts, "max_trial_number_per_gpu", 1) or 1
        self.use_active_gpu = bool(getattr(ts, "use_active_gpu", False))
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self._lock = threading.Lock()    # a launch and stop() never overlap
        self._stopped = False
        self.name = MACHINE

    def machines(self) -> list[MachineSpec]:
        return [MachineSpec(MACHINE, self.slots, self.gpu_indices, self.max_per_gpu, self.use_active_gpu,
                            auto_slots=True)]

    def _running_agent(self) -> Optional[psutil.Process]:
        """The agent recorded in agent.pid if it is still that process (pid, start time, boot id)."""
        info = procid.read_identity(os.path.join(self.agent_dir, "agent.pid"))
        if not info or not procid.is_same(info):
            return None
        try:
            return psutil.Process(int(info["pid"]))
        except (psutil.Error, ValueError):
            return None

    def launch_machine(self, name: str, head: HeadInfo) -> Optional[Exception]:
        with self._lock:
            if self._stopped:
                return RuntimeError("not launched: the experiment is stopping")
            return self._launch_locked(head)

    def _launch_locked(self, head: HeadInfo) -> Optional[Exception]:
        write_head_file(self.agent_dir, head, self.name)
        try:
            os.unlink(os.path.join(self.agent_dir, STOPPED))  # a resumed experiment's agent may start again
        except FileNotFoundError:
            pass
        if self._running_agent() is not None:
            return None  # re-attach: it re-reads head.json
        pyz = write_agent(os.path.join(self.exp_dir, "agents"))
        log = open(os.path.join(self.agent_dir, "agent.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, pyz, "--dir", self.agent_dir, "--machine", self.name],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.agent_dir)
        except OSError as exc:
            return exc
        finally:
            log.close()
        return None

    def alive(self, name: str) -> bool:
        return self._running_agent() is not None

    def trial_paths(self, machine: str, trial_id: str) -> TrialPaths:
        return TrialPaths(self.code_dir, os.path.join(self.exp_dir, "trials", trial_id))

    def _file(self, machine: str, trial_id: str, name: str) -> str:
        if not safe_file_name(name):
            raise FileNotFoundError(name)
        return os.path.join(self.trial_paths(machine, trial_id).trial_dir, name)

    def list_trial_files(self, machine: str, trial_id: str) -> list[TrialFile]:
        return list_local_dir(self.trial_paths(machine, trial_id).trial_dir)

    def read_trial_file(self, machine: str, trial_id: str, name: str, max_bytes: int) -> bytes:
        return read_local_chunk(self._file(machine, trial_id, name), max_bytes, 0).data

    def tail_trial_file(self, machine: str, trial_id: str, name: str, size: int,
                        start: Optional[int] = None) -> FileChunk:
        return read_local_chunk(self._file(machine, trial_id, name), size, start)

    def stop(self) -> None:
        """Wait for the agent to exit after its shutdown command; end it and anything its trials left.

        Trials and the processes they daemonised are ended by ``trial_agent.cleanup``: only
        processes proven ours (pid + start time + boot id, or the run's environment marker).
        """
        with self._lock:
            self._stopped = True
        self._wait_agent()
        report = cleanup(self.exp_dir, self.agent_dir, wait=5.0)
        if report["left"]:
            logging.getLogger("nni_remote.local").error("processes left after stop: %s", report["left"])

    def _wait_agent(self) -> None:
        proc = self._running_agent()
        if proc is not None:
            try:
                proc.wait(timeout=15)
            except psutil.TimeoutExpired:
                proc.kill()
        if self.proc is not None:  # started by us, maybe before it wrote agent.pid (never polled)
            try:
                self.proc.wait(timeout=5 if proc is None else 1)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


register_platform(LocalTrainingService)
