"""Write docs/config-reference.md from the pydantic config models.

    python3 tools/gen_config_reference.py            # rewrite the file
    python3 tools/gen_config_reference.py --check    # exit 1 if it is out of date

Keys, types, defaults and the nesting come from the models themselves; the
one-line meaning of each key lives in ``MEANING`` below, and a field without one
is an error (so a new field cannot reach the reference undocumented).
"""
from __future__ import annotations

import os
import sys
import typing
from typing import Any

from pydantic_core import PydanticUndefined

from nni_remote.config import (AlgorithmConfig, ExperimentConfig, LocalConfig, RemoteConfig, RemoteMachineConfig,
                               SlurmConfig)
from nni_remote.config.base import camel_case

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "config-reference.md")
MODELS = [("ExperimentConfig", ExperimentConfig, "the top level of a config file"),
          ("AlgorithmConfig", AlgorithmConfig, "`tuner`, `assessor`, `advisor`"),
          ("LocalConfig", LocalConfig, "`trainingService` with `platform: local`"),
          ("RemoteConfig", RemoteConfig, "`trainingService` with `platform: remote`"),
          ("RemoteMachineConfig", RemoteMachineConfig, "one entry of `trainingService.machineList`"),
          ("SlurmConfig", SlurmConfig, "`trainingService` with `platform: slurm` (see `docs/slurm.md`)")]
MEANING = {
    "ExperimentConfig.experiment_name": "shown in `experiment list` and the portal",
    "ExperimentConfig.experiment_type": "`hpo` (the only type)",
    "ExperimentConfig.search_space_file": "JSON (or YAML) search space; relative to the config file",
    "ExperimentConfig.search_space": "the search space inline (NNI's format); give this or `searchSpaceFile`",
    "ExperimentConfig.trial_command": "command run for each trial, in the trial code directory (required)",
    "ExperimentConfig.trial_code_directory": "directory with the trial code, uploaded to remote machines (`.nniignore` honoured)",
    "ExperimentConfig.trial_concurrency": "trials run at once (required, > 0)",
    "ExperimentConfig.trial_gpu_number": "GPUs per trial; a trial waits until that many are free on one machine",
    "ExperimentConfig.max_experiment_duration": "time budget: seconds or `30m`, `2h`, `1d`",
    "ExperimentConfig.max_trial_number": "trial budget",
    "ExperimentConfig.max_trial_duration": "a trial running longer is killed (seconds or `30m`, ...)",
    "ExperimentConfig.nni_manager_ip": "address remote agents use to reach the manager directly (default: SSH tunnels); the manager then also listens there and wants its access token",
    "ExperimentConfig.use_annotation": "NNI annotations: not supported (must stay false)",
    "ExperimentConfig.prefetch_trials": ("`true`: each busy slot also holds its next trial, started by the agent "
                                         "the moment the slot frees (tuners see up to 2× `trialConcurrency` "
                                         "trials ahead of their results; BOHB, Hyperband and PBT refuse it)"),
    "ExperimentConfig.debug": "`true`: the manager logs at `debug` unless `logLevel` says otherwise",
    "ExperimentConfig.log_level": "`fatal`, `error`, `warning`, `info`, `debug` or `trace`",
    "ExperimentConfig.experiment_working_directory": "where `<id>/` (database, logs, trial outputs) is kept",
    "ExperimentConfig.tuner_gpu_indices": "checked and stored for NNI configs; the tuner runs inside the manager and sees every GPU",
    "ExperimentConfig.tuner": "the tuner: a built-in `name` or a `className`",
    "ExperimentConfig.assessor": "early stopping: a built-in `name` or a `className`",
    "ExperimentConfig.advisor": "NNI's advisor (decides parameters and early stops); not with `tuner`",
    "ExperimentConfig.training_service": "where trials run: `platform: local`, `remote` or `slurm`",
    "ExperimentConfig.shared_storage": "accepted as a key for NNI configs; any value is refused (no shared storage)",
    "AlgorithmConfig.name": "a built-in algorithm (case-insensitive, e.g. `TPE`, `Random`, `Medianstop`)",
    "AlgorithmConfig.class_name": "`module.Class` of your own algorithm",
    "AlgorithmConfig.code_directory": "directory holding `module` (relative to the config file)",
    "AlgorithmConfig.class_args": "keyword arguments of the class",
    "LocalConfig.platform": "`local`",
    "LocalConfig.trial_command": "overrides the top-level `trialCommand`",
    "LocalConfig.trial_code_directory": "overrides the top-level `trialCodeDirectory`",
    "LocalConfig.trial_gpu_number": "overrides the top-level `trialGpuNumber`",
    "LocalConfig.nni_manager_ip": "accepted for NNI configs; unused locally",
    "LocalConfig.debug": "accepted for NNI configs",
    "LocalConfig.use_active_gpu": "also use GPUs that run other processes",
    "LocalConfig.max_trial_number_per_gpu": "trials sharing one GPU",
    "LocalConfig.gpu_indices": "GPUs trials may use (list, int or `\"0,1\"`)",
    "LocalConfig.reuse_mode": "accepted for NNI configs (agents are always reused)",
    "RemoteConfig.platform": "`remote`",
    "RemoteConfig.trial_command": "overrides the top-level `trialCommand`",
    "RemoteConfig.trial_code_directory": "overrides the top-level `trialCodeDirectory`",
    "RemoteConfig.trial_gpu_number": "overrides the top-level `trialGpuNumber`",
    "RemoteConfig.nni_manager_ip": "overrides the top-level `nniManagerIp`",
    "RemoteConfig.debug": "accepted for NNI configs",
    "RemoteConfig.machine_list": "the machines (at least one)",
    "RemoteConfig.reuse_mode": "accepted for NNI configs (agents are always reused)",
    "SlurmConfig.platform": "`slurm`",
    "SlurmConfig.trial_command": "overrides the top-level `trialCommand`",
    "SlurmConfig.trial_code_directory": "overrides the top-level `trialCodeDirectory`",
    "SlurmConfig.trial_gpu_number": "GPUs per trial: `--gres=gpu:N` (Slurm picks them)",
    "SlurmConfig.nni_manager_ip": "accepted for NNI configs; the login-node agent reaches the head over SSH",
    "SlurmConfig.debug": "accepted for NNI configs",
    "SlurmConfig.login_node": "the login node, as one `machineList` entry (SSH auth and host-key rules); unset: the head runs `sbatch` itself",
    "SlurmConfig.partition": "Slurm partition (`-p`)",
    "SlurmConfig.account": "Slurm account (`-A`)",
    "SlurmConfig.qos": "Slurm QOS (`-q`)",
    "SlurmConfig.time_limit": "per trial: `30m`, `2h` or Slurm's `D-HH:MM:SS` (whole minutes)",
    "SlurmConfig.cpus_per_trial": "`--cpus-per-task`",
    "SlurmConfig.memory_per_trial": "`--mem`, e.g. `16gb`",
    "SlurmConfig.sbatch_args": "more `sbatch` options (not the ones nni-remote sets itself)",
    "SlurmConfig.preamble": "shell lines run before each trial on the node (`module load ...`)",
    "SlurmConfig.reuse_mode": "`false`: one job per trial; `true`: worker jobs run trial after trial",
    "SlurmConfig.worker_idle_timeout": "reuse mode: a worker job with no work for this long exits",
    "SlurmConfig.allocation_time_limit": "reuse mode: `--time` of each worker job",
    "SlurmConfig.poll_interval": "how often the login-node agent calls `squeue` (once for all jobs)",
    "RemoteConfig.unreachable_after": "silence before a machine is shown unreachable and its trials get spare "
                                      "attempts elsewhere (default `8s`; docs/faults.md)",
    "RemoteConfig.give_up_after": "time unreachable before its trials' original attempts are abandoned "
                                  "(default `5m`)",
    "RemoteConfig.placement": "`spread` (default: least-loaded machine first) or `pack` (busiest with room first)",
    "RemoteMachineConfig.host": "host name, address or `~/.ssh/config` alias (required)",
    "RemoteMachineConfig.port": "SSH port",
    "RemoteMachineConfig.user": "login user (default: from `~/.ssh/config` or the current user)",
    "RemoteMachineConfig.password": "password login; kept encrypted at rest, never logged or served",
    "RemoteMachineConfig.ssh_key_file": "private key file (default: ssh-agent and `~/.ssh` keys)",
    "RemoteMachineConfig.ssh_passphrase": "passphrase of `sshKeyFile`; kept encrypted at rest",
    "RemoteMachineConfig.use_active_gpu": "also use GPUs that run other processes",
    "RemoteMachineConfig.max_trial_number_per_gpu": "trials sharing one GPU",
    "RemoteMachineConfig.gpu_indices": "GPUs trials may use on this machine",
    "RemoteMachineConfig.python_path": "directory prepended to `PATH` for the agent and trials (NNI's meaning)",
    "RemoteMachineConfig.name": "display name (default: the host)",
    "RemoteMachineConfig.max_trial_number": "trials run at once on this machine (default: `trialConcurrency`)",
    "RemoteMachineConfig.accept_new_host_key": "trust a host key seen for the first time (default: it must be known)",
    "RemoteMachineConfig.ssh_config": "read `~/.ssh/config` for this host",
    "RemoteMachineConfig.known_hosts": "known_hosts file for this machine (default: `~/.ssh/known_hosts`)",
    "RemoteMachineConfig.unreachable_after": "this machine's unreachable clock (default: the training service's)",
    "RemoteMachineConfig.give_up_after": "this machine's give-up clock (default: the training service's)",
}


def type_name(annotation: Any) -> str:
    """A reader's name for a field's type (``int``, ``string``, ``duration``, ...)."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Literal:
        return " | ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is typing.Union:
        names = [type_name(a) for a in args]
        if set(names) == {"string", "int"}:
            return "duration"
        return " or ".join(names)
    if origin in (list, typing.List):
        return f"list of {type_name(args[0])}"
    if origin in (dict, typing.Dict):
        return "mapping"
    if annotation is typing.Any:
        return "any"
    name = getattr(annotation, "__name__", str(annotation))
    subs = [c for c in getattr(annotation, "__subclasses__", list)() if c.__module__.startswith("nni_remote.")]
    if subs and name.endswith("Config"):   # the platforms' configs (not ones a test registers)
        return " or ".join(sub.__name__ for sub in subs) + " (by `platform`)"
    return {"str": "string", "bool": "boolean", "SecretStr": "string (secret)"}.get(name, name)


def default_of(field: Any) -> str:
    if field.default_factory is not None:
        return "`[]`"
    if field.default is PydanticUndefined or field.default is None:
        return ""
    value = field.default
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def render() -> str:
    lines = ["# Config reference", "",
             "Generated from the pydantic models by `tools/gen_config_reference.py` (a test fails when it is",
             "out of date). Keys are camelCase as in NNI's v2 configs; snake_case works too. Paths are",
             "relative to the config file. The checks a value must pass are the ones the error messages",
             "state; `nni-remote create` reports every problem at once, naming the key.", ""]
    missing = []
    for title, model, where in MODELS:
        lines += [f"## {title}", "", f"{where}.", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            meaning = MEANING.get(f"{title}.{name}")
            if meaning is None:
                missing.append(f"{title}.{name}")
                continue
            lines.append(f"| `{camel_case(name)}` | {type_name(field.annotation)} | {default_of(field)} | {meaning} |")
        lines.append("")
    if missing:
        raise SystemExit("no meaning for " + ", ".join(missing) + ": add it to MEANING in " + __file__)
    return "\n".join(lines)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        with open(OUT, encoding="utf-8") as f:
            sys.exit(0 if f.read() == text else "docs/config-reference.md is out of date: "
                     "run python3 tools/gen_config_reference.py")
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
