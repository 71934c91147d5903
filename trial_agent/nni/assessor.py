"""``nni.assessor``: the base class of custom assessors, for heads without the real ``nni`` (stdlib only)."""
from enum import Enum

from .recoverable import Recoverable
from .typehint import TrialMetric  # noqa: F401  (NNI 3.0 exports it here)

__all__ = ["AssessResult", "Assessor"]


class AssessResult(Enum):
    """An assessor's verdict: ``Bad`` stops the trial early."""

    Good = True
    Bad = False


class Assessor(Recoverable):
    """Override ``assess_trial(trial_job_id, trial_history)``; ``trial_end`` is optional."""

    def assess_trial(self, trial_job_id, trial_history):
        """``AssessResult.Good`` or ``AssessResult.Bad`` for the ordered intermediate results."""
        raise NotImplementedError("Assessor: assess_trial not implemented")

    def trial_end(self, trial_job_id, success):
        """The trial ended; ``success`` is whether it SUCCEEDED."""

    def _on_exit(self):
        pass

    def _on_error(self):
        pass
