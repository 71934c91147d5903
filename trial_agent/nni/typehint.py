"""``nni.typehint``: the type names of NNI 3.0's tuner and trial APIs (stdlib only)."""
from typing import Any, Dict, Optional

from typing import TypedDict

__all__ = ["Parameters", "ParameterRecord", "SearchSpace", "TrialMetric", "TrialRecord"]

Parameters = Dict[str, Any]
"""One trial's hyperparameters, as ``nni.get_next_parameter()`` returns them."""

SearchSpace = Dict[str, Any]
"""A search space, ``{name: {"_type": ..., "_value": [...]}}``."""

TrialMetric = Any
"""A reported metric: a number, or a dict with a numeric ``"default"``."""


class ParameterRecord(TypedDict):
    """The packed record in ``parameter.cfg``."""

    parameter_id: Optional[int]
    parameters: Parameters


class TrialRecord(TypedDict):
    """One finished trial, as ``Tuner.import_data`` receives it."""

    parameter: Parameters
    value: TrialMetric

