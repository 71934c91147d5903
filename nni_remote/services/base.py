"""The training-service seam: everything that differs between platforms, and nothing else.

A training service knows *where* agents run and *how* to start them (a local
subprocess, an SSH host, ...), where a trial's code and files are, and how to
leave nothing behind. Everything else — scheduling, retries, metrics,
statuses — lives once, in the manager, and talks to agents through the agent
protocol (``trial_agent/protocol.py``). A new platform is one module with a
subclass of :class:`TrainingService` and a config class, registered with
:func:`nni_remote.services.platforms.register_platform` (see
``docs/architecture.md``, "Adding a platform").

Contract (the conformance suite in ``tests/conformance/`` checks it):

- ``__init__(config, exp_dir, exp_id)`` takes the canonical
  :class:`~nni_remote.config.ExperimentConfig` (its ``training_service`` is an
  instance of ``config_class``) and does no I/O.
- ``machines()`` is fixed for the service's lifetime (names are unique).
- ``launch_machine(name, head)`` delivers the trial code and the agent to one
  machine and starts (or re-attaches to) its agent, then returns ``None`` or
  the exception that explains the failure. The manager launches all machines
  in parallel, so one bad machine never hides or delays the others.
- ``alive(name)`` is a cheap liveness probe used when an agent stops syncing;
  ``relaunch(name, head)`` starts a replacement (re-attaching to live trials).
- ``trial_paths(machine, trial)``: where a trial runs (its code directory) and
  where its files go (``NNI_OUTPUT_DIR``), as paths on that machine.
- ``list_trial_files`` / ``read_trial_file`` / ``tail_trial_file``: the files
  of a trial's directory (never hidden ones), from wherever they are.
  ``FileNotFoundError`` when a file does not exist (yet), ``OSError`` when the
  machine cannot be asked.
- ``stop()`` is called once, after the agents were told to shut down and the
  manager waited for their last events; it must leave no agent or trial
  process of this experiment behind (killing what is left), close every
  connection, and return within a bounded time.
- Every method may block on I/O. The manager calls them from its own threads;
  request handlers call them only through ``manager/service_gate.py``, which
  puts a deadline on each call.

Two class attributes describe how a platform's agents fail, so the manager
never branches on a platform's name:

- ``probe_is_definitive``: a failed ``alive()`` means the agent is gone for
  sure (no network in between), so the machine is marked lost at once;
- ``trials_survive_agent``: trials keep running when their agent dies, and a
  relaunched agent re-attaches them, so a lost agent's trials are not re-queued.

``trials_see_head_files`` says that trials run where the manager's files are
(the experiment's folder at the same path): NNI's checkpoint directory is
usable by trials as is (``tuning/checkpoints.py``).
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional

from nni_remote.errors import TrialFileRefused
from trial_agent.files import MAX_READ, UnsafeFile, list_files, read_range

if TYPE_CHECKING:
    from nni_remote.config.experiment import ExperimentConfig
    from nni_remote.config.training_service import TrainingServiceConfig


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
    gpus_by_platform: bool = False        # the platform (e.g. Slurm's --gres) places GPUs, not the manager
    unreachable_after: Optional[float] = None   # seconds without a sync before "unreachable" (None: default)
    give_up_after: Optional[float] = None       # seconds unreachable before its trials' attempts are abandoned


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
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrialPaths:
    """Where one trial lives on its machine."""

    working_dir: str                      # cwd of the trial (the code directory)
    trial_dir: str                        # NNI_SYS_DIR / NNI_OUTPUT_DIR


@dataclass(frozen=True)
class TrialFile:
    """One file of a trial's directory."""

    name: str
    size: Optional[int]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size}


@dataclass(frozen=True)
class FileChunk:
    """Part of a file: ``data`` starts at ``offset`` of a file of ``size`` bytes."""

    data: bytes
    size: int
    offset: int


class TrainingService(ABC):
    """Launches one trial agent per machine and reaches trial files; see the module docstring."""

    platform: ClassVar[str] = ""
    config_class: ClassVar[Optional[type["TrainingServiceConfig"]]] = None
    probe_is_definitive: ClassVar[bool] = False
    trials_survive_agent: ClassVar[bool] = False
    trials_see_head_files: ClassVar[bool] = False

    def __init__(self, config: "ExperimentConfig", exp_dir: str, exp_id: str) -> None:
        """Keep what the service needs from the canonical config; no I/O here."""

    @abstractmethod
    def machines(self) -> list[MachineSpec]: ...

    @abstractmethod
    def launch_machine(self, name: str, head: HeadInfo) -> Optional[Exception]:
        """Deliver code and agent to one machine and start (or re-attach to) its agent."""

    @abstractmethod
    def trial_paths(self, machine: str, trial_id: str) -> TrialPaths: ...

    @abstractmethod
    def list_trial_files(self, machine: str, trial_id: str) -> list[TrialFile]:
        """Name and size of each regular, non-hidden file in the trial's directory ([] before it exists)."""

    @abstractmethod
    def read_trial_file(self, machine: str, trial_id: str, name: str, max_bytes: int) -> bytes:
        """The first ``max_bytes`` bytes of a file in the trial's directory; raises FileNotFoundError."""

    def tail_trial_file(self, machine: str, trial_id: str, name: str, size: int,
                        start: Optional[int] = None) -> FileChunk:
        """``size`` bytes from ``start``, or the last ``size`` bytes when ``start`` is None."""
        whole = self.read_trial_file(machine, trial_id, name, MAX_READ)
        total = len(whole)
        begin = max(total - size, 0) if start is None else min(start, total)
        return FileChunk(whole[begin:begin + size], total, begin)

    def alive(self, name: str) -> bool:
        return True

    def relaunch(self, name: str, head: HeadInfo) -> Optional[Exception]:
        return self.launch_machine(name, head)

    @abstractmethod
    def stop(self) -> Optional[dict[str, str]]:
        """Leave no agent or trial process behind and close connections (after the shutdown command).

        Returns ``{machine: why}`` for machines whose cleanup could not be done
        (unreachable), or None/{} when every machine is clean; the manager
        records the failures and later commands retry them.
        """

    def clean_machine(self, name: str) -> Optional[str]:
        """End what this experiment left on one machine and disconnect; None when clean, else why not.

        Used to finish a ``stop`` that could not reach the machine (recorded by the
        manager, retried by later commands). Default: nothing to clean.
        """
        return None

    def describe(self, name: str) -> dict[str, Any]:
        """Extra per-machine facts for REST (probe results, addresses); no I/O."""
        return {}


def safe_file_name(name: str) -> bool:
    """Whether ``name`` names a file directly in a trial directory (no path, not hidden)."""
    return bool(name) and not (name.startswith(".") or "/" in name or "\\" in name or "\0" in name)


def list_local_dir(directory: str) -> list[TrialFile]:
    """The regular, non-hidden files of a directory on this machine ([] if it does not exist); links left out."""
    try:
        return [TrialFile(f["name"], f["size"]) for f in list_files(directory)]
    except FileNotFoundError:
        return []
    except UnsafeFile as exc:
        raise TrialFileRefused(str(exc)) from None


def read_local_chunk(path: str, size: int, start: Optional[int] = None) -> FileChunk:
    """The last ``size`` bytes of a local file, or ``size`` bytes from ``start``.

    Read by :func:`trial_agent.files.read_range` (docs/security.md, "Trial files"):
    ``O_NOFOLLOW`` relative to the directory, regular files only, never blocking,
    bounded; a link, FIFO or device raises :class:`~nni_remote.errors.TrialFileRefused`.
    """
    try:
        data, total, begin = read_range(os.path.dirname(path), os.path.basename(path), size, start)
    except UnsafeFile as exc:
        raise TrialFileRefused(str(exc)) from None
    return FileChunk(data, total, begin)
