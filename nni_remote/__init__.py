"""nni-remote: NNI's Experiment API around a fast, robust remote (SSH) training service."""
from nni_remote.config import AlgorithmConfig as AlgorithmConfig
from nni_remote.config import ExperimentConfig as ExperimentConfig
from nni_remote.config import LocalConfig as LocalConfig
from nni_remote.config import RemoteConfig as RemoteConfig
from nni_remote.config import RemoteMachineConfig as RemoteMachineConfig
from nni_remote.config import SlurmConfig as SlurmConfig
from nni_remote.data import TrialJob as TrialJob
from nni_remote.data import TrialMetricData as TrialMetricData
from nni_remote.data import TrialResult as TrialResult
from nni_remote.experiment import Experiment as Experiment
from nni_remote.experiment import RunMode as RunMode

__version__ = "0.1.0"

__all__ = [
    "Experiment",
    "ExperimentConfig",
    "LocalConfig",
    "RemoteConfig",
    "RemoteMachineConfig",
    "SlurmConfig",
    "AlgorithmConfig",
    "RunMode",
    "TrialJob",
    "TrialResult",
    "TrialMetricData",
]
