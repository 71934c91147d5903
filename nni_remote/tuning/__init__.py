"""Tuning: search spaces, tuners and assessors hosted in the manager process.

The manager's contract (see :mod:`.base` for the semantics)::

    tuner = create_tuner(algo)                  # AlgorithmConfig or dict
    tuner.update_search_space(space)
    tuner.import_data([{"parameter": {...}, "value": metric}])
    params = tuner.generate_parameters(0)       # NoMoreTrialError / NotReady
    tuner.receive_trial_result(0, params, value, customized=False, trial_job_id="abcde")
    tuner.trial_end(0, True, trial_job_id="abcde")
    assessor = create_assessor(algo)            # None when algo is None
    assessor.assess_trial("abcde", [0.1, 0.2]) # AssessResult.Good / .Bad
    assessor.trial_end("abcde", True)
"""
from .base import Assessor as Assessor
from .base import AssessResult as AssessResult
from .base import NoMoreTrialError as NoMoreTrialError
from .base import NotReady as NotReady
from .base import Tuner as Tuner
from .base import extract_scalar_reward as extract_scalar_reward
from .loader import create_assessor as create_assessor
from .loader import create_tuner as create_tuner
from .registry import BUILTIN_ASSESSORS as BUILTIN_ASSESSORS
from .registry import BUILTIN_TUNERS as BUILTIN_TUNERS
from .sampling import sample_search_space as sample_search_space
from .search_space import validate_search_space as validate_search_space

__all__ = ["Assessor", "AssessResult", "BUILTIN_ASSESSORS", "BUILTIN_TUNERS", "NoMoreTrialError", "NotReady",
           "Tuner", "create_assessor", "create_tuner", "extract_scalar_reward", "sample_search_space",
           "validate_search_space"]
