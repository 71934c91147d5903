"""An in-memory platform, added the way any platform is: this one module and one config class.

Each machine's agent is the real trial agent, run on a thread of the manager
process instead of on a host (so: no SSH, no subprocess for the agent; trials
are still real processes). Nothing under ``manager/``, ``server/`` or
``experiment.py`` knows this platform: the manager finds it through the
platform registry, because tests export ``NNI_REMOTE_PLATFORMS`` naming this module.

Faults for the conformance suite: :func:`cut` silences a machine's agent
(it stops reaching the head, its trials keep running, as on a dead network)
and ``alive()`` then answers False, so the manager declares the machine lost.
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Literal, Optional

from nni_remote.config.base import Canon, join_path
from nni_remote.config.fields import PosInt
from nni_remote.config.training_service import TrainingServiceConfig
from nni_remote.services.base import (FileChunk, HeadInfo, MachineSpec, TrainingService, TrialFile, TrialPaths,
                                      list_local_dir, read_local_chunk, safe_file_name)
from nni_remote.services.local import write_head_file
from nni_remote.services.platforms import register_platform

if TYPE_CHECKING:
    from nni_remote.config.experiment import ExperimentConfig

_CUT: Dict[str, bool] = {}  # machine dir -> silenced


class FakeConfig(TrainingServiceConfig):
    """``platform: fake``: ``machines`` in-memory machines with ``slots`` trial slots each."""

    platform: Literal["fake"] = "fake"
    machines: PosInt = 2
    slots: PosInt = 2

    def machine_count(self) -> int:
        return self.machines

    def canonicalize(self, path: str, top: Any, canon: Canon) -> None:
        super().canonicalize(path, top, canon)
        self.nni_manager_ip = None

    def validate_canonical(self, path: str, canon: Canon) -> None:
        super().validate_canonical(path, canon)
        if self.machines > 16:
            canon.error(join_path(path, "machines"), f"must be at most 16, got {self.machines}")


class _SilencedHead:
    """Stands in for an agent's channel to the head while its machine is cut off."""

    def __init__(self, real: Any, key: str) -> None:
        self.real, self.key = real, key

    def post(self, route: str, body: Any, timeout: float) -> Any:
        if _CUT.get(self.key):
            from trial_agent.agent import HeadUnavailable
            raise HeadUnavailable("fake platform: machine cut off")
        return self.real.post(route, body, timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class FakeTrainingService(TrainingService):
    """Agents on threads of this process, one directory per machine under ``<exp_dir>/fake``."""

    platform: ClassVar[str] = "fake"
    config_class = FakeConfig

    def __init__(self, config: "ExperimentConfig", exp_dir: str, exp_id: str) -> None:
        ts = config.training_service
        assert isinstance(ts, FakeConfig)
        self.code_dir = ts.trial_code_directory or os.getcwd()
        self.root = os.path.join(exp_dir, "fake")
        self.names = [f"fake-{i}" for i in range(ts.machines)]
        self.slots = ts.slots
        self.agents: Dict[str, Any] = {}
        self.threads: Dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def machines(self) -> List[MachineSpec]:
        return [MachineSpec(name, self.slots, address="localhost") for name in self.names]

    def launch_machine(self, name: str, head: HeadInfo) -> Optional[Exception]:
        from trial_agent.agent import Agent
        agent_dir = os.path.join(self._dir(name), "agent")
        write_head_file(agent_dir, head)
        with self._lock:
            thread = self.threads.get(name)
            if thread is not None and thread.is_alive() and not _CUT.get(agent_dir):
                return None  # re-attach: the running agent re-reads head.json
            if thread is not None and thread.is_alive():
                self.agents[name].stopping.set()  # the silenced one: replace it (its trials are re-queued)
            _CUT.pop(agent_dir, None)
            agent = Agent(agent_dir, name)
            agent.head = _SilencedHead(agent.head, agent_dir)
            agent._take_lock = lambda: True  # several agents share this process: no pid lock file
            thread = threading.Thread(target=agent.run, name=f"fake-agent-{name}", daemon=True)
            self.agents[name], self.threads[name] = agent, thread
            thread.start()
        return None

    def alive(self, name: str) -> bool:
        thread = self.threads.get(name)
        return thread is not None and thread.is_alive() and not _CUT.get(os.path.join(self._dir(name), "agent"))

    def cut(self, name: str) -> None:
        _CUT[os.path.join(self._dir(name), "agent")] = True

    def trial_paths(self, machine: str, trial_id: str) -> TrialPaths:
        return TrialPaths(self.code_dir, os.path.join(self._dir(machine), "trials", trial_id))

    def list_trial_files(self, machine: str, trial_id: str) -> List[TrialFile]:
        return list_local_dir(self.trial_paths(machine, trial_id).trial_dir)

    def _file(self, machine: str, trial_id: str, name: str) -> str:
        if not safe_file_name(name):
            raise FileNotFoundError(name)
        return os.path.join(self.trial_paths(machine, trial_id).trial_dir, name)

    def read_trial_file(self, machine: str, trial_id: str, name: str, max_bytes: int) -> bytes:
        with open(self._file(machine, trial_id, name), "rb") as f:
            return f.read(max_bytes)

    def tail_trial_file(self, machine: str, trial_id: str, name: str, size: int,
                        start: Optional[int] = None) -> FileChunk:
        return read_local_chunk(self._file(machine, trial_id, name), size, start)

    def stop(self) -> None:
        """Stop every agent thread (its trials are killed by its shutdown) and wait for it."""
        with self._lock:
            agents, threads = dict(self.agents), dict(self.threads)
        for name, agent in agents.items():
            _CUT.pop(os.path.join(self._dir(name), "agent"), None)
            agent.stopping.set()
        for thread in threads.values():
            thread.join(timeout=30)


register_platform(FakeTrainingService)
