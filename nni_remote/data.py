"""NNI's result data classes (``nni.experiment.data``), decoded the way NNI decodes them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, List, Optional


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


@dataclass
class TrialHyperParameters:
    """One packed parameter record (NNI-REFERENCE §5.3)."""

    parameter_id: Optional[Any]
    parameter_source: str
    parameters: Any
    parameter_index: int
    placement_constraint: Optional[Any] = None
    version_info: Optional[Any] = None
    trial_job_id: Optional[str] = None


@dataclass
class TrialMetricData:
    """One reported metric; ``data`` is the trial's value (decoded twice from the wire)."""

    timestamp: int
    trialJobId: str
    parameterId: Optional[str]
    type: str
    sequence: int
    data: Any

    def __post_init__(self) -> None:
        self.data = _loads(_loads(self.data))


@dataclass
class TrialResult:
    """One exported result: a trial's parameters and its final value."""

    parameter: Any
    value: Any
    trialJobId: str

    def __post_init__(self) -> None:
        self.value = _loads(self.value)


@dataclass
class TrialJob:
    """A trial as ``GET /trial-jobs`` describes it, with NNI's field names."""

    trialJobId: str
    status: str
    startTime: int
    sequenceId: int
    logPath: str = ""
    endTime: int = -1
    stderrPath: str = ""
    hyperParameters: List[Any] = field(default_factory=list)
    finalMetricData: List[Any] = field(default_factory=list)
    message: str = "--"
    envId: str = ""
    machine: Optional[str] = None
    gpus: Optional[List[int]] = None
    attempt: int = 1

    def __post_init__(self) -> None:
        self.hyperParameters = [p if isinstance(p, TrialHyperParameters) else TrialHyperParameters(**_loads(p))
                                for p in self.hyperParameters]
        self.finalMetricData = [m if isinstance(m, TrialMetricData) else TrialMetricData(**m)
                                for m in self.finalMetricData]

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "TrialJob":
        known = {k: v for k, v in entry.items() if k in cls.__dataclass_fields__}
        return cls(**known)
