"""``ExperimentConfig``: the whole experiment, as NNI's config schema v2."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Union, cast

from pydantic import PrivateAttr, field_validator

from ..errors import ConfigError
from .algorithm import AlgorithmConfig
from .base import Canon, ConfigBase, dump
from .canonical import canonicalize, validate
from .fields import Bool, OptBool, OptDuration, OptGpuCount, OptGpuIndices, OptPath, OptPosInt, OptStr, Path, Str
from .training_service import (RemoteConfig, RemoteMachineConfig, TrainingServiceConfig, check_training_service,
                               platform_config)


class ExperimentConfig(ConfigBase):
    """An experiment: search space, trial command, limits, algorithms and where trials run.

    Build it like NNI: ``ExperimentConfig('remote')`` gives a blank template
    (empty training service, placeholder ``tuner``/``assessor``/``advisor``) to
    fill in attribute by attribute; ``ExperimentConfig(**fields)`` and
    :meth:`load` (YAML/JSON, camelCase or snake_case keys) build it at once.
    Fields needed to run (``trial_concurrency``, ``trial_command``, ...) are
    only checked by :meth:`canonical`, which also resolves paths and applies
    NNI's defaults. Every problem is reported at once in one
    :class:`~nni_remote.errors.ConfigError`.

    ``prefetch_trials`` (nni-remote's own): each busy trial slot also holds
    the next trial's parameters, and the agent starts it the moment the slot
    frees (no round trip to the manager between trials); the tuner then
    suggests up to twice ``trial_concurrency`` trials ahead of their results.
    A tuner may refuse it (BOHB, Hyperband and PBT do), see docs/config-reference.md.

    ``shared_storage`` is accepted as a field (so NNI configs name it) but any
    value is rejected: nni-remote does not mount shared storage.
    """

    experiment_name: OptStr = None
    experiment_type: Str = "hpo"
    search_space_file: OptPath = None
    search_space: Any = None
    trial_command: OptStr = None
    trial_code_directory: Path = "."
    trial_concurrency: OptPosInt = None
    trial_gpu_number: OptGpuCount = None
    max_experiment_duration: OptDuration = None
    max_trial_number: OptPosInt = None
    max_trial_duration: OptDuration = None
    prefetch_trials: OptBool = None
    nni_manager_ip: OptStr = None
    use_annotation: Bool = False
    debug: Bool = False
    log_level: OptStr = None
    experiment_working_directory: Path = "~/nni-experiments"
    tuner_gpu_indices: OptGpuIndices = None
    tuner: Optional[AlgorithmConfig] = None
    assessor: Optional[AlgorithmConfig] = None
    advisor: Optional[AlgorithmConfig] = None
    training_service: Optional[TrainingServiceConfig] = None
    shared_storage: Any = None

    _base_dir: Optional[str] = PrivateAttr(default=None)

    def __init__(self, training_service_platform: Union[str, List[str], None] = None, **kwargs: Any) -> None:
        if training_service_platform is not None:
            if any(self.field_for(k) == "training_service" for k in kwargs):
                raise ConfigError([("trainingService", "is given twice: as the positional platform and as a field")])
            kwargs["training_service"] = platform_config(training_service_platform)
        super().__init__(**kwargs)
        if training_service_platform is not None:
            for name in ("tuner", "assessor", "advisor"):
                if getattr(self, name) is None:
                    setattr(self, name, AlgorithmConfig(class_args={}))

    @field_validator("training_service", mode="before")
    @classmethod
    def _pick_platform(cls, value: Any) -> Any:
        return check_training_service(value)

    @property
    def platform(self) -> Optional[str]:
        """The training service's platform (``'local'``, ``'remote'``, ...), None when unset."""
        return None if self.training_service is None else self.training_service.platform

    @property
    def machines(self) -> List[RemoteMachineConfig]:
        """The remote machine list itself (append to it); only with a remote training service."""
        service = self.training_service
        if not isinstance(service, RemoteConfig):
            raise AttributeError(f"config.machines needs a remote training service, but the platform is "
                                 f"{self.platform!r}; build the config with ExperimentConfig('remote')")
        return service.machine_list

    @machines.setter
    def machines(self, value: List[RemoteMachineConfig]) -> None:
        service = self.training_service
        if not isinstance(service, RemoteConfig):
            raise AttributeError(f"config.machines needs a remote training service, but the platform is "
                                 f"{self.platform!r}")
        service.machine_list = value

    @classmethod
    def load(cls, path: Union[str, os.PathLike[str]]) -> ExperimentConfig:
        """Read a YAML or JSON config file; relative paths in it are relative to its folder.

        A v1 config (top-level ``trainingServicePlatform``) is converted, with a
        logged warning. Errors are :class:`ConfigError` and name the file.
        """
        from .loader import load_config
        return load_config(cls, path)

    def canonical(self, base_dir: Optional[str] = None) -> ExperimentConfig:
        """A validated copy with NNI's canonical form (reference §1.2).

        Relative paths are resolved against ``base_dir``, else the folder of the
        loaded file, else the current directory. Raises :class:`ConfigError`
        listing every problem found.
        """
        base = base_dir if base_dir is not None else (self._base_dir or os.getcwd())
        canon = Canon(os.path.abspath(os.path.expanduser(base)))
        config = self.model_copy(deep=True)
        canonicalize(config, canon)
        validate(config, canon)
        if canon.problems:
            raise ConfigError(canon.problems)
        return config

    canonical_copy = canonical

    def validate(self) -> None:  # type: ignore[override]
        """Raise :class:`ConfigError` if the config cannot run (NNI's ``validate()``)."""
        self.canonical()

    def to_json(self, include_secrets: bool = False) -> Dict[str, Any]:
        """The canonical config as camelCase JSON (reference §1.11), ``None`` fields dropped.

        Passwords and passphrases are ``"********"`` unless ``include_secrets``.
        """
        return cast("dict[str, Any]", dump(self.canonical(), include_secrets))

    def json(self, include_secrets: bool = False) -> Dict[str, Any]:  # type: ignore[override]
        """NNI's name for :meth:`to_json`."""
        return self.to_json(include_secrets)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> ExperimentConfig:
        """Rebuild a config from :meth:`to_json` output (or any camelCase/snake_case dict)."""
        if not isinstance(data, dict):
            raise ConfigError([("", f"a config must be a mapping, got {type(data).__name__}")])
        return cls(**{str(k): v for k, v in data.items()})
