"""Experiment configuration: NNI's config schema v2 as pydantic models.

Load a YAML/JSON file with :meth:`ExperimentConfig.load`, or build one in Python
(``ExperimentConfig('remote')``); :meth:`ExperimentConfig.canonical` validates
it and :meth:`ExperimentConfig.to_json` gives the canonical JSON the manager
stores. Problems raise :class:`nni_remote.errors.ConfigError`.
"""
from __future__ import annotations

from .algorithm import AlgorithmConfig as AlgorithmConfig
from .experiment import ExperimentConfig as ExperimentConfig
from .secrets import SecretBox as SecretBox
from .slurm import SlurmConfig as SlurmConfig
from .training_service import LocalConfig as LocalConfig
from .training_service import RemoteConfig as RemoteConfig
from .training_service import RemoteMachineConfig as RemoteMachineConfig
from .units import parse_gpu_indices as parse_gpu_indices
from .units import parse_size as parse_size
from .units import parse_time as parse_time

__all__ = [
    "ExperimentConfig",
    "AlgorithmConfig",
    "LocalConfig",
    "RemoteConfig",
    "RemoteMachineConfig",
    "SlurmConfig",
    "parse_time",
    "parse_size",
    "parse_gpu_indices",
    "SecretBox",
]
