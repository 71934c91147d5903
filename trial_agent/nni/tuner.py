"""``nni.tuner``: the base class of custom tuners, for heads without the real ``nni`` (stdlib only).

Same method names and meanings as NNI's ``nni.tuner.Tuner`` (NNI-REFERENCE §5.1).
"""
import logging  # noqa: F401  (NNI 3.0's module has it)

from .recoverable import Recoverable
from .typehint import Parameters, SearchSpace, TrialMetric, TrialRecord  # noqa: F401  (NNI 3.0 exports them)

__all__ = ["Tuner"]


def _no_more_trial_error():
    try:
        from . import NoMoreTrialError
    except ImportError:  # the package __init__ does not define it
        return _FallbackNoMoreTrialError
    return NoMoreTrialError


class _FallbackNoMoreTrialError(Exception):
    def __init__(self, ErrorInfo="Search space fully explored"):
        super().__init__(ErrorInfo)


class Tuner(Recoverable):
    """Override ``update_search_space``, ``receive_trial_result`` and ``generate_parameters``.

    ``generate_parameters(parameter_id)`` returns one parameter dict, or raises
    ``nni.NoMoreTrialError`` when the space is exhausted. Results of
    customized trials are ignored unless ``_accept_customized_trials()``.
    """

    def generate_parameters(self, parameter_id, **kwargs):
        """One parameter set for ``parameter_id``."""
        raise NotImplementedError("Tuner: generate_parameters not implemented")

    def generate_multiple_parameters(self, parameter_id_list, **kwargs):
        """One ``generate_parameters`` per id, stopping at the first ``NoMoreTrialError``."""
        error = _no_more_trial_error()
        result = []
        for parameter_id in parameter_id_list:
            try:
                result.append(self.generate_parameters(parameter_id, **kwargs))
            except error:
                return result
        return result

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        """A final metric (kwargs: ``customized``, ``trial_job_id``)."""
        raise NotImplementedError("Tuner: receive_trial_result not implemented")

    def _accept_customized_trials(self, accept=True):
        self._accept_customized = accept

    def trial_end(self, parameter_id, success, **kwargs):
        """A trial ended; ``success`` is whether it SUCCEEDED."""

    def update_search_space(self, search_space):
        """The initial search space and every runtime update."""
        raise NotImplementedError("Tuner: update_search_space not implemented")

    def import_data(self, data):
        """History ``[{"parameter": ..., "value": ...}]``; ignored by default."""

    def _on_exit(self):
        pass

    def _on_error(self):
        pass
