"""The tuner and assessor contracts, NNI's class interface (NNI-REFERENCE §5.1).

The manager hosts one tuner and at most one assessor in-process. It calls the
tuner from **one dedicated thread** and never concurrently: no implementation
here needs a lock, and none is thread-safe. The assessor may be called from a
different thread than the tuner, but again never concurrently with itself.

Signals, not failures: :class:`NoMoreTrialError` (the search space is covered;
ask no more) and :class:`NotReady` (nothing to give *now*; ask again after the
next result or trial end) are raised by ``generate_parameters``. Any other
exception from a tuner is a tuner failure (NNI turns it into experiment ERROR).
"""
from __future__ import annotations

import enum
import logging
import math
import numbers
from typing import Any

from ..errors import NniRemoteError

__all__ = ["Assessor", "AssessResult", "NoMoreTrialError", "NotReady", "Tuner",
           "extract_scalar_reward", "scalar_or_none"]

_logger = logging.getLogger(__name__)


class NoMoreTrialError(NniRemoteError):
    """Raised by ``generate_parameters`` when the search space is fully explored."""

    def __init__(self, message: str = "Search space fully explored") -> None:
        super().__init__(message)


class NotReady(NniRemoteError):
    """Raised by ``generate_parameters`` when the tuner has nothing to give *now*.

    Hyperband in serial mode waits for a rung to finish, for example. The
    manager asks again after the next final result or trial end.
    """

    def __init__(self, message: str = "no parameters available until a running trial reports") -> None:
        super().__init__(message)


class AssessResult(enum.Enum):
    """An assessor's verdict on a running trial; ``Bad`` means stop it early."""

    Good = True
    Bad = False


def extract_scalar_reward(value: Any, scalar_key: str = "default") -> float:
    """The number in a decoded final metric: the value itself, or ``value['default']``.

    Raises ``ValueError`` (as NNI raises ``RuntimeError``) for anything else:
    strings, lists, a dict without a numeric ``default``, booleans. NaN and
    infinities are returned as they are; built-in tuners skip them.
    """
    if isinstance(value, dict):
        value = value.get(scalar_key)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise ValueError("incorrect final result: it should be a number, or a dict with a key "
                     f"{scalar_key!r} whose value is a number; got {value!r}")


def scalar_or_none(value: Any, what: str = "result") -> float | None:
    """``extract_scalar_reward`` for built-ins: garbage and NaN/inf give ``None`` plus a warning."""
    try:
        reward = extract_scalar_reward(value)
    except ValueError:
        _logger.warning("ignoring %s %r: not a number nor a dict with a numeric 'default'", what, value)
        return None
    if not math.isfinite(reward):
        _logger.warning("ignoring non-finite %s %r", what, value)
        return None
    return reward


class Tuner:
    """Base class of tuners; the same method names and meanings as ``nni.tuner.Tuner``.

    Override :meth:`update_search_space`, :meth:`receive_trial_result` and
    :meth:`generate_parameters`. ``parameter_id`` values are the manager's
    consecutive ints. Values passed to :meth:`receive_trial_result` are decoded
    metrics (a number, or a dict with ``'default'``) and may be garbage (NaN, a
    string): a tuner must not crash on them. Results of customized trials
    (``customized=True``) are ignored unless :meth:`_accept_customized_trials`.
    """

    _accept_customized: bool = False
    #: Why this tuner wants each result before it suggests more trials (``prefetchTrials`` is then off);
    #: None: it takes trials ahead of their results.
    prefetch_refusal: str | None = None

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        """One parameter set; raise :class:`NoMoreTrialError` or :class:`NotReady`."""
        raise NotImplementedError("tuner must implement generate_parameters")

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict[str, Any]]:
        """NNI's default: one ``generate_parameters`` per id, stopping at ``NoMoreTrialError``."""
        result = []
        for parameter_id in parameter_id_list:
            try:
                result.append(self.generate_parameters(parameter_id, **kwargs))
            except NoMoreTrialError:
                break
        return result

    def receive_trial_result(self, parameter_id: int, parameters: dict[str, Any], value: Any,
                             **kwargs: Any) -> None:
        """A FINAL metric of a trial this tuner generated (kwargs: ``customized``, ``trial_job_id``)."""
        raise NotImplementedError("tuner must implement receive_trial_result")

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """Every trial end; ``success`` is whether it SUCCEEDED."""

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        """The initial search space and every runtime update."""
        raise NotImplementedError("tuner must implement update_search_space")

    def import_data(self, data: list[dict[str, Any]]) -> None:
        """History ``[{"parameter": {...}, "value": metric}]`` (resume replay, import). Default: ignore."""

    def pending(self) -> int:
        """Parameter sets already made and handed out by the next :meth:`generate_parameters` calls.

        Adapters count what NNI's tuners send later through ``st_callback`` and what an
        advisor sends unasked; while any is pending, the tuner is not exhausted.
        """
        return 0

    def _accept_customized_trials(self, accept: bool = True) -> None:
        self._accept_customized = accept

    def load_checkpoint(self) -> None:
        """No-op, as in NNI."""

    def save_checkpoint(self) -> None:
        """No-op, as in NNI."""

    def _on_exit(self) -> None:
        """Called when the experiment stops."""

    def _on_error(self) -> None:
        """Called when the experiment fails."""


class Assessor:
    """Base class of assessors; the same method names and meanings as ``nni.assessor.Assessor``.

    ``assess_trial`` gets the ordered decoded intermediate values of a running
    trial (the list only grows; a call may be skipped) and returns
    :attr:`AssessResult.Good` to keep it or :attr:`AssessResult.Bad` to stop it.
    """

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        """Judge a running trial from its intermediate results so far."""
        raise NotImplementedError("assessor must implement assess_trial")

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        """The trial ended; ``success`` is whether it SUCCEEDED."""

    def load_checkpoint(self) -> None:
        """No-op, as in NNI."""

    def save_checkpoint(self) -> None:
        """No-op, as in NNI."""

    def _on_exit(self) -> None:
        """Called when the experiment stops."""

    def _on_error(self) -> None:
        """Called when the experiment fails."""
