"""Training services: how trial agents are launched and reached (local, remote)."""
from .base import HeadInfo as HeadInfo
from .base import MachineSpec as MachineSpec
from .base import TrainingService as TrainingService

__all__ = ["HeadInfo", "MachineSpec", "TrainingService"]
