"""``SlurmConfig``: trials as Slurm batch jobs, submitted from the cluster's login node.

Everything is checked before anything is submitted; each problem names its
field (``trainingService.timeLimit``) and says what is accepted.
"""
from __future__ import annotations

import re
from typing import Any, ClassVar, Dict, List, Literal, Optional, Union

from pydantic import Field

from .base import Canon, camel_case, describe, join_path
from .canonical import check_duration
from .fields import Bool, OptDuration, OptPosInt, OptStr
from .training_service import RemoteMachineConfig, TrainingServiceConfig, _check_positive
from .units import parse_size, parse_time

# Options the job script sets itself (the agent needs them to find the job's files and status).
RESERVED_SBATCH = ("--output", "-o", "--error", "-e", "--job-name", "-J", "--chdir", "-D", "--wrap", "--parsable",
                   "--array", "-a", "--requeue", "--no-requeue", "--export")
_SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def slurm_time_seconds(value: Union[str, int]) -> int:
    """Seconds of a time limit: NNI units (``'30m'``, ``'2h'``, seconds as int) or Slurm's ``[D-]HH:MM:SS``."""
    if isinstance(value, str) and ":" in value or isinstance(value, str) and "-" in value:
        match = _SLURM_TIME.match(value.strip())
        if not match:
            raise ValueError(f"bad time limit {value!r}: use '30m', '2h', '1d' or Slurm's 'D-HH:MM:SS'")
        days, a, b, c = match.groups()
        parts = [int(x) for x in (a, b, c) if x is not None]
        if days is not None:          # D-HH[:MM[:SS]]
            parts += [0] * (3 - len(parts))
            hours, minutes, seconds = parts
            return int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
        if len(parts) == 2:           # MM:SS
            return parts[0] * 60 + parts[1]
        return parts[0] * 3600 + parts[1] * 60 + parts[2]
    return parse_time(value)


def slurm_time(seconds: int) -> str:
    """Slurm's ``--time`` form; Slurm counts whole minutes, so this rounds up to one."""
    minutes = max(1, -(-seconds // 60))
    days, rest = divmod(minutes, 1440)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


class SlurmConfig(TrainingServiceConfig):
    """Trials run as Slurm jobs. The head reaches the cluster through ``login_node`` over SSH
    (the same SSH layer, auth and host-key rules as remote machines), or runs ``sbatch``
    itself when ``login_node`` is unset (the head runs on the login node).

    - ``partition``, ``account``, ``qos``: Slurm's ``-p``, ``-A``, ``-q``.
    - ``time_limit``: per trial (``'30m'``, ``'2h'``, or Slurm's ``'1-00:00:00'``); Slurm
      counts whole minutes.
    - ``cpus_per_trial``, ``memory_per_trial`` (``'4gb'``): ``--cpus-per-task``, ``--mem``.
    - ``trial_gpu_number``: ``--gres=gpu:N`` (Slurm picks the GPUs).
    - ``sbatch_args``: more ``sbatch`` options, e.g. ``['--constraint=a100', '--exclusive']``.
    - ``preamble``: shell lines run before each trial on the node (``module load cuda``,
      ``source ~/venv/bin/activate``).
    - ``reuse_mode``: ``false`` (default) = one job per trial; ``true`` = up to
      ``trial_concurrency`` worker jobs run trial after trial, exiting after
      ``worker_idle_timeout`` without work; ``allocation_time_limit`` caps each worker job.
    - ``poll_interval``: how often the login-node agent asks ``squeue`` (one call for all jobs).
    """

    _aliases: ClassVar[Dict[str, str]] = {"loginnodeconfig": "login_node", "sbatchoptions": "sbatch_args"}

    platform: Literal["slurm"] = "slurm"
    login_node: Optional[RemoteMachineConfig] = None
    partition: OptStr = None
    account: OptStr = None
    qos: OptStr = None
    time_limit: OptDuration = None
    cpus_per_trial: OptPosInt = None
    memory_per_trial: Optional[Union[str, int]] = None
    sbatch_args: List[str] = Field(default_factory=list)
    preamble: Union[List[str], str] = Field(default_factory=list)
    reuse_mode: Bool = False
    worker_idle_timeout: OptDuration = "60s"
    allocation_time_limit: OptDuration = None
    poll_interval: OptDuration = "1s"

    def canonicalize(self, path: str, top: Any, canon: Canon) -> None:
        super().canonicalize(path, top, canon)
        self.preamble = self.preamble_lines()
        if self.login_node is not None:
            self.login_node.canonicalize(join_path(path, "loginNode"), canon)

    def validate_canonical(self, path: str, canon: Canon) -> None:
        super().validate_canonical(path, canon)
        if self.login_node is not None:
            self.login_node.validate_canonical(join_path(path, "loginNode"), canon)
        _check_positive(self.cpus_per_trial, join_path(path, "cpusPerTrial"), canon)
        for name in ("partition", "account", "qos"):
            value = getattr(self, name)
            if value is not None and (not value.strip() or any(c.isspace() for c in value)):
                canon.error(join_path(path, name), f"must be a {name} name without spaces, got {describe(value)}")
        for name in ("time_limit", "allocation_time_limit", "worker_idle_timeout", "poll_interval"):
            check_duration(getattr(self, name), join_path(path, camel_case(name)), canon, slurm_time_seconds)
        if self.memory_per_trial is not None:
            try:
                if parse_size(self.memory_per_trial) <= 0:
                    raise ValueError(f"must be more than 0, got {describe(self.memory_per_trial)}")
            except ValueError as exc:
                canon.error(join_path(path, "memoryPerTrial"), str(exc))
        for index, arg in enumerate(self.sbatch_args):
            where = join_path(join_path(path, "sbatchArgs"), index)
            if not isinstance(arg, str) or not arg.startswith("-"):
                canon.error(where, f"must be an sbatch option starting with '-', got {describe(arg)}")
                continue
            flag = arg.split("=", 1)[0]
            if flag in RESERVED_SBATCH:
                canon.error(where, f"{flag} is set by nni-remote (it needs the job's output, name and status); "
                                   "remove it")
            elif "\n" in arg:
                canon.error(where, "must be one line")
        if not isinstance(self.preamble, list) or not all(isinstance(x, str) for x in self.preamble):
            canon.error(join_path(path, "preamble"), "must be a list of shell lines (or one multi-line string)")

    # -- what the login-node agent is told -------------------------------------------
    def sbatch_options(self) -> List[str]:
        """The ``#SBATCH`` options of one trial's job, from the fields (user's extras last)."""
        opts = []
        for flag, value in (("--partition", self.partition), ("--account", self.account), ("--qos", self.qos)):
            if value:
                opts.append(f"{flag}={value}")
        if self.time_limit is not None and not self.reuse_mode:
            opts.append(f"--time={slurm_time(slurm_time_seconds(self.time_limit))}")
        if self.cpus_per_trial:
            opts.append(f"--cpus-per-task={self.cpus_per_trial}")
        if self.memory_per_trial is not None:
            opts.append(f"--mem={parse_size(self.memory_per_trial)}M")
        if self.trial_gpu_number:
            opts.append(f"--gres=gpu:{self.trial_gpu_number}")
        return opts + list(self.sbatch_args)

    def preamble_lines(self) -> List[str]:
        if isinstance(self.preamble, str):
            return [line for line in self.preamble.splitlines() if line.strip()]
        return list(self.preamble)

    def agent_settings(self, *, experiment_id: str, pyz: str, workers: int) -> Dict[str, Any]:
        """The ``slurm.json`` the login-node agent reads (see trial_agent/slurm_jobs.py)."""
        limit = None if self.time_limit is None else slurm_time_seconds(self.time_limit)
        return {
            "sbatch": self.sbatch_options(), "preamble": self.preamble_lines(), "reuse": self.reuse_mode,
            "workers": workers, "experiment_id": experiment_id, "pyz": pyz,
            "time_limit": None if limit is None else (slurm_time(limit) if not self.reuse_mode else f"{limit} s"),
            "time_limit_s": limit,
            "idle_timeout": slurm_time_seconds(self.worker_idle_timeout or "60s"),
            "allocation_time": None if self.allocation_time_limit is None
            else slurm_time(slurm_time_seconds(self.allocation_time_limit)),
            "poll_interval": slurm_time_seconds(self.poll_interval or "1s"),
        }

