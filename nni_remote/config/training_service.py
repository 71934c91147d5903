"""Training-service configs: the base every platform's config extends, ``LocalConfig``, ``RemoteConfig``.

Which platforms exist is decided by the platform registry
(:mod:`nni_remote.services.platforms`): :func:`check_training_service` looks the
``platform`` key up there and validates the mapping with that platform's config
class. NNI platforms nni-remote does not run and hybrid lists are rejected
with a message saying so.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Dict, List, Literal, Optional

from pydantic import Field

from ..errors import ConfigError
from .base import Canon, ConfigBase, camel_case, describe, join_path, resolve_path
from .fields import Bool, OptBool, OptGpuCount, OptGpuIndices, OptPath, OptPosInt, OptSecret, OptStr, PosInt, Port, fail
from .units import parse_gpu_indices

_SHORTCUTS = ("trial_command", "trial_code_directory", "trial_gpu_number", "nni_manager_ip", "debug")
_PER_MACHINE = "it is set per machine: put it in each entry of trainingService.machineList"


def _check_gpu_indices(owner: Any, path: str, canon: Canon) -> None:
    try:
        owner.gpu_indices = parse_gpu_indices(owner.gpu_indices)
    except ValueError as exc:
        canon.error(join_path(path, "gpuIndices"), str(exc))


def _check_positive(value: Optional[int], path: str, canon: Canon) -> None:
    if value is not None and value <= 0:
        canon.error(path, f"must be an integer > 0, got {describe(value)}")


class TrainingServiceConfig(ConfigBase):
    """Fields every platform shares. Unset ones inherit the top-level shortcut of the same name."""

    platform: str
    trial_command: OptStr = None
    trial_code_directory: OptPath = None
    trial_gpu_number: OptGpuCount = None
    nni_manager_ip: OptStr = None
    debug: OptBool = None

    def machine_count(self) -> int:
        """How many machines (agents) this service will run; sizes the manager's thread pool."""
        return 1

    def manager_listen_ip(self) -> Optional[str]:
        """An address beyond loopback the manager must also listen on (agents connect there directly)."""
        return self.nni_manager_ip

    def canonicalize(self, path: str, top: Any, canon: Canon) -> None:
        """Resolve own paths, then copy unset shortcut fields from the experiment config."""
        if self.trial_code_directory is not None:
            self.trial_code_directory = resolve_path(self.trial_code_directory, canon.base_dir)
        for name in _SHORTCUTS:
            if getattr(self, name) is None and getattr(top, name) is not None:
                setattr(self, name, getattr(top, name))
                canon.inherited.add(name)

    @staticmethod
    def _where(path: str, name: str, canon: Canon) -> str:
        """An inherited field is reported at its top-level key, an own one under the service."""
        key = camel_case(name)
        return key if name in canon.inherited else join_path(path, key)

    def validate_canonical(self, path: str, canon: Canon) -> None:
        """Command present, code folder exists, own ``trial_gpu_number >= 0``."""
        if not self.trial_command:
            canon.error(self._where(path, "trial_command", canon) if self.trial_command == "" else "trialCommand",
                        "is required: the shell command that runs one trial, e.g. 'python3 train.py' "
                        "(set trialCommand, or trainingService.trialCommand)")
        if self.trial_code_directory is not None and not os.path.isdir(self.trial_code_directory):
            canon.error(self._where(path, "trial_code_directory", canon),
                        f"must be an existing directory, got {self.trial_code_directory!r}")
        gpus = self.trial_gpu_number
        if gpus is not None and gpus < 0 and "trial_gpu_number" not in canon.inherited:
            canon.error(join_path(path, "trialGpuNumber"),
                        f"must be an integer >= 0 (or unset for no GPU scheduling), got {gpus}")


class LocalConfig(TrainingServiceConfig):
    """Trials run on this machine (through the same agent as remote machines)."""

    _aliases: ClassVar[Dict[str, str]] = {"maxtrialnumpergpu": "max_trial_number_per_gpu"}

    platform: Literal["local"] = "local"
    use_active_gpu: OptBool = None
    max_trial_number_per_gpu: PosInt = 1
    gpu_indices: OptGpuIndices = None
    reuse_mode: Bool = False

    def canonicalize(self, path: str, top: Any, canon: Canon) -> None:
        super().canonicalize(path, top, canon)
        _check_gpu_indices(self, path, canon)
        self.nni_manager_ip = None

    def validate_canonical(self, path: str, canon: Canon) -> None:
        super().validate_canonical(path, canon)
        if self.trial_gpu_number and self.use_active_gpu is None:
            canon.error(join_path(path, "useActiveGpu"),
                        "must be set when trialGpuNumber > 0: true if this computer has a GUI desktop, "
                        "false if it runs other experiments concurrently")
        _check_positive(self.max_trial_number_per_gpu, join_path(path, "maxTrialNumberPerGpu"), canon)
        if not self.trial_gpu_number and self.max_trial_number_per_gpu != 1:
            canon.error(join_path(path, "maxTrialNumberPerGpu"),
                        f"must be 1 unless trialGpuNumber > 0 (GPU sharing needs GPU scheduling), "
                        f"got {self.max_trial_number_per_gpu}")


class RemoteMachineConfig(ConfigBase):
    """One SSH host. NNI's fields plus nni-remote's extras.

    Also accepted: ``ip`` for ``host``, ``user_name``/``username`` for ``user``
    and the v1 keys ``passwd``, ``sshKeyPath``, ``passphrase``, ``maxTrialNumPerGpu``.
    ``password`` and ``ssh_passphrase`` are :class:`pydantic.SecretStr`.

    Authentication: a ``password`` wins (the key file is then ignored). Otherwise
    ``ssh_key_file`` if set (it must exist), else — unlike NNI's fixed
    ``~/.ssh/id_rsa`` — ssh-agent, the default keys and ``~/.ssh/config``.

    Extras beyond NNI:

    - ``name``: display name of the machine; default ``host``.
    - ``max_trial_number``: trial slots on this machine when trials request no
      GPUs; default ``None`` = ``trial_concurrency``.
    - ``accept_new_host_key``: trust (and record) an unknown host key on first
      connect; default ``False`` = the key must already be in ``known_hosts``.
    - ``ssh_config``: honour ``~/.ssh/config`` (HostName, Port, User, IdentityFile,
      ProxyJump); default ``True``.
    - ``known_hosts``: the known_hosts file to check this host's key against;
      default ``$NNI_REMOTE_KNOWN_HOSTS``, then ``~/.ssh/known_hosts``.
    """

    _aliases: ClassVar[Dict[str, str]] = {
        "ip": "host", "username": "user", "passwd": "password", "sshkeypath": "ssh_key_file",
        "passphrase": "ssh_passphrase", "maxtrialnumpergpu": "max_trial_number_per_gpu",
    }

    host: OptStr = None
    port: Port = 22
    user: OptStr = None
    password: OptSecret = None
    ssh_key_file: OptPath = None
    ssh_passphrase: OptSecret = None
    use_active_gpu: Bool = False
    max_trial_number_per_gpu: PosInt = 1
    gpu_indices: OptGpuIndices = None
    python_path: OptStr = None
    name: OptStr = None
    max_trial_number: OptPosInt = None
    accept_new_host_key: Bool = False
    ssh_config: Bool = True
    known_hosts: OptPath = None

    def canonicalize(self, path: str, canon: Canon) -> None:
        """Password drops the key file; key path resolved; GPU list; name defaults to host."""
        if self.password is not None:
            self.ssh_key_file = None
        elif self.ssh_key_file is not None:
            self.ssh_key_file = resolve_path(self.ssh_key_file, canon.base_dir)
        if self.known_hosts is not None:
            self.known_hosts = resolve_path(self.known_hosts, canon.base_dir)
        _check_gpu_indices(self, path, canon)
        if self.name is None:
            self.name = self.host

    def validate_canonical(self, path: str, canon: Canon) -> None:
        """Host/user present, port range, slot counts, key file exists when set."""
        for field in ("host", "user"):
            if not getattr(self, field):
                canon.error(join_path(path, field), f"is required: the SSH {'host name or IP' if field == 'host' else 'login name'}")
        if not 0 < self.port < 65536:
            canon.error(join_path(path, "port"), f"must be an integer in 1..65535, got {describe(self.port)}")
        _check_positive(self.max_trial_number_per_gpu, join_path(path, "maxTrialNumberPerGpu"), canon)
        _check_positive(self.max_trial_number, join_path(path, "maxTrialNumber"), canon)
        if self.password is None and self.ssh_key_file is not None and not os.path.isfile(self.ssh_key_file):
            canon.error(join_path(path, "sshKeyFile"),
                        f"must be an existing key file, got {self.ssh_key_file!r} "
                        "(or leave it unset to use ssh-agent, default keys and ~/.ssh/config, or set password)")


class RemoteConfig(TrainingServiceConfig):
    """Trials run on SSH machines listed in ``machine_list`` (``config.machines``)."""

    _misplaced: ClassVar[Dict[str, str]] = {
        "useactivegpu": _PER_MACHINE, "gpuindices": _PER_MACHINE, "maxtrialnumberpergpu": _PER_MACHINE,
        "maxtrialnumpergpu": _PER_MACHINE,
    }

    platform: Literal["remote"] = "remote"
    machine_list: List[RemoteMachineConfig] = Field(default_factory=list)
    reuse_mode: Bool = False

    def machine_count(self) -> int:
        return len(self.machine_list)

    def canonicalize(self, path: str, top: Any, canon: Canon) -> None:
        super().canonicalize(path, top, canon)
        for index, machine in enumerate(self.machine_list):
            machine.canonicalize(join_path(join_path(path, "machineList"), index), canon)

    def validate_canonical(self, path: str, canon: Canon) -> None:
        super().validate_canonical(path, canon)
        list_path = join_path(path, "machineList")
        if not self.machine_list:
            canon.error(list_path, "must list at least one machine (host, user, and password or a key)")
        for index, machine in enumerate(self.machine_list):
            machine_path = join_path(list_path, index)
            machine.validate_canonical(machine_path, canon)
            if not self.trial_gpu_number and machine.max_trial_number_per_gpu != 1:
                canon.error(join_path(machine_path, "maxTrialNumberPerGpu"),
                            f"must be 1 unless trialGpuNumber > 0 (GPU sharing needs GPU scheduling), "
                            f"got {machine.max_trial_number_per_gpu}")


def check_training_service(value: Any) -> Any:
    """Before-validator of ``trainingService``: pick the platform's config class and validate with it."""
    from nni_remote.errors import UnknownPlatform
    from nni_remote.services.platforms import NNI_ONLY, get_platform, platform_names
    if value is None or isinstance(value, TrainingServiceConfig):
        return value
    supported = "supported: " + ", ".join(platform_names())
    if isinstance(value, (list, tuple)):
        raise fail(f"a list of training services (NNI's hybrid mode) is not supported by nni-remote; {supported}")
    if not isinstance(value, Mapping):
        raise fail(f"must be a mapping with a platform ({', '.join(platform_names())}), got {describe(value)}")
    keys = [k for k in value if isinstance(k, str) and k.lower().replace("_", "") == "platform"]
    if not keys:
        raise fail(f"is required: the training-service platform; {supported}", sub="platform")
    platform = value[keys[0]]
    if not isinstance(platform, str):
        raise fail(f"must be a string; {supported}; got {describe(platform)}", sub="platform")
    try:
        config_class = get_platform(platform).config_class
    except UnknownPlatform:
        known = "an NNI platform that is" if platform.lower() in NNI_ONLY else "a platform"
        raise fail(f"{platform!r} is {known} not supported by nni-remote; {supported}", sub="platform") from None
    data = {k: v for k, v in value.items() if k not in keys}
    data["platform"] = platform.lower()
    return config_class.model_validate(data)  # a ConfigError here keeps its field paths


def platform_config(platform: Any) -> dict[str, Any]:
    """The blank training service of ``ExperimentConfig('remote')``, as a dict to validate."""
    if not isinstance(platform, (str, list, tuple)):
        raise ConfigError([("trainingService",
                            f"the positional argument is the platform (e.g. 'local' or 'remote'), "
                            f"got {describe(platform)}")])
    return list(platform) if not isinstance(platform, str) else {"platform": platform}  # type: ignore[return-value]
