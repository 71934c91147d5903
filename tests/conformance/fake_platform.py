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

_CUT: Dict[str, bool] = {}                                   # agent dir -> silenced
_AGENTS: Dict[str, "tuple[Any, threading.Thread]"] = {}      # agent dir -> its agent (outlives a service)
_LOCK = threading.Lock()


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
        self._stopped = False

    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _agent_dir(self, name: str) -> str:
        return os.path.join(self._dir(name), "agent")

    def machines(self) -> List[MachineSpec]:
        return [MachineSpec(name, self.slots, address="localhost") for name in self.names]

    def launch_machine(self, name: str, head: HeadInfo) -> Optional[Exception]:
        from trial_agent.agent import Agent
        agent_dir = self._agent_dir(name)
        write_head_file(agent_dir, head, name)
        with _LOCK:
            if self._stopped:
                return RuntimeError("not launched: the experiment is stopping")
            running = _AGENTS.get(agent_dir)
            if running is not None and running[1].is_alive() and not _CUT.get(agent_dir):
                return None  # re-attach: the running agent re-reads head.json
            if running is not None and running[1].is_alive():
                running[0].stopping.set()  # the silenced one ends; its trials were re-queued elsewhere
                running[1].join(timeout=30)
            _CUT.pop(agent_dir, None)
            agent = Agent(agent_dir, name)
            agent.head = _SilencedHead(agent.head, agent_dir)
            agent._take_lock = lambda: True  # several agents share this process: no pid lock file
            thread = threading.Thread(target=agent.run, name=f"fake-agent-{name}", daemon=True)
            _AGENTS[agent_dir] = (agent, thread)
            thread.start()
        return None

    def alive(self, name: str) -> bool:
        running = _AGENTS.get(self._agent_dir(name))
        return running is not None and running[1].is_alive() and not _CUT.get(self._agent_dir(name))

    def cut(self, name: str) -> None:
        """Silence a machine: its agent no longer reaches the head and ``alive()`` answers False."""
        _CUT[self._agent_dir(name)] = True

    def agent_threads(self) -> List[threading.Thread]:
        """The threads of this experiment's agents that still run."""
        return [t for d, (_, t) in list(_AGENTS.items()) if d.startswith(self.root + os.sep) and t.is_alive()]

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
        with _LOCK:
            self._stopped = True
            mine = {d: a for d, a in _AGENTS.items() if d.startswith(self.root + os.sep)}
        for agent_dir, (agent, _) in mine.items():
            _CUT.pop(agent_dir, None)
            agent.stopping.set()
        for agent_dir, (_, thread) in mine.items():
            thread.join(timeout=30)
            with _LOCK:
                if not thread.is_alive() and _AGENTS.get(agent_dir, (None, None))[1] is thread:
                    del _AGENTS[agent_dir]


register_platform(FakeTrainingService)
