"""The training-service protocol: how agents are launched and reached.

A training service knows *where* agents run and *how* to start them (a local
subprocess, an SSH host, ...). Everything else — scheduling, retries, metrics,
statuses — lives once, in the manager, and talks to agents through the agent
protocol. Adding a platform means adding one file here.

Contract:
- ``machines()`` is fixed for the service's lifetime (names are unique).
- ``launch_machine(name, head)`` starts (or re-attaches to) one machine's agent and
  returns ``None`` or the exception that explains the failure; the manager
  launches all machines in parallel, so one bad machine never hides or delays
  the others.
- ``alive(name)`` is a cheap liveness probe used when an agent stops syncing.
- ``stop()`` is called after the agents were told to shut down; it must leave
  no agent or trial process behind. Every method may block on I/O and is
  called from manager threads, never from a request handler's hot path.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class MachineSpec:
    """What the scheduler needs to know about one machine."""

    name: str
    slots: int                            # trials that may run at once without GPUs
    gpu_indices: Optional[list[int]] = None
    max_trial_number_per_gpu: int = 1
    use_active_gpu: bool = True
    address: str = "localhost"
    auto_slots: bool = False              # slots follow trial_concurrency (no explicit per-machine limit)


@dataclass
class HeadInfo:
    """How agents reach the manager: its agent listener (never the REST API), and each machine's credential.

    Tunnels and direct connections lead to ``local_port``, the agent listener's
    port; ``credential(name)`` is the bearer token of that machine alone
    (docs/security.md, "The agent endpoint"): write it to that machine only.
    """

    url: str                              # the agent listener as a local agent reaches it
    local_port: int                       # the agent listener's port on the head
    credential: Callable[[str], str]      # machine name -> its own token
    extras: dict = field(default_factory=dict)


@dataclass
class TrialPaths:
    working_dir: str                      # cwd of the trial (the code directory)
    trial_dir: str                        # NNI_SYS_DIR / NNI_OUTPUT_DIR


class TrainingService(ABC):
    """Launches one trial agent per machine; see the module docstring."""

    platform: str = ""

    @abstractmethod
    def machines(self) -> list[MachineSpec]: ...

    @abstractmethod
    def launch_machine(self, name: str, head: HeadInfo) -> Optional[Exception]:
        """Start (or re-attach to) the agent of one machine; the exception explains a failure."""

    def launch(self, head: HeadInfo) -> dict[str, Optional[Exception]]:
        """Launch every machine in parallel; one result per machine."""
        from concurrent.futures import ThreadPoolExecutor
        names = [m.name for m in self.machines()]
        with ThreadPoolExecutor(max_workers=min(32, len(names) or 1)) as pool:
            results = list(pool.map(lambda n: self.launch_machine(n, head), names))
        return dict(zip(names, results))

    @abstractmethod
    def trial_paths(self, machine: str, trial_id: str) -> TrialPaths: ...

    def read_trial_range(self, machine: str, trial_id: str, name: str, size: int, start: Optional[int] = None,
                         *, timeout: float = 10.0) -> tuple[bytes, int, int]:
        """``(data, file size, offset)`` of a regular file in the trial's directory, by
        ``trial_agent.files.read_range`` (links, FIFOs and devices refused); raises FileNotFoundError.

        The default reads the directory on this machine; a platform whose trial
        directories live elsewhere runs the same function there, within ``timeout``.
        """
        from trial_agent.files import read_range
        return read_range(self.trial_paths(machine, trial_id).trial_dir, name, size, start)

    def list_trial_files(self, machine: str, trial_id: str, *, timeout: float = 10.0) -> list[dict]:
        """``[{"name", "size"}]`` of the regular files in the trial's directory."""
        from trial_agent.files import list_files
        return list_files(self.trial_paths(machine, trial_id).trial_dir)

    def alive(self, name: str) -> bool:
        return True

    def relaunch(self, name: str, head: HeadInfo) -> Optional[Exception]:
        return self.launch_machine(name, head)

    def stop(self) -> None:
        """Make sure no agent or trial process is left (after the shutdown command)."""

    def describe(self, name: str) -> dict:
        """Extra per-machine facts for REST (probe results, addresses)."""
        return {}
