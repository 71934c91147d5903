"""Adapters that host a user's (or NNI's own) tuner and assessor classes behind our contract.

They are duck-typed: any object with NNI's method names works, whether it
subclasses ``nni.tuner.Tuner`` from the real ``nni``, from the trial agent's
shim, or nothing. What they add:

- ``nni.NoMoreTrialError`` of any origin becomes our :class:`NoMoreTrialError`;
- NNI's ``generate_multiple_parameters(ids, st_callback=...)`` is honoured:
  parameter sets a tuner emits later through ``st_callback`` are queued and
  handed out on the next :meth:`TunerAdapter.generate_parameters` call;
- garbage and NaN/inf final results are dropped with a warning, and results
  of customized trials are dropped unless the tuner accepted them, as NNI's
  dispatcher does;
- keyword arguments a user's method does not accept are not passed;
- an ``AssessResult`` of any origin, or a bool, becomes our :class:`AssessResult`.
"""
from __future__ import annotations

import inspect
import logging
from typing import Any, Callable, cast

from .base import Assessor, AssessResult, NoMoreTrialError, NotReady, Tuner, scalar_or_none

__all__ = ["AssessorAdapter", "TunerAdapter"]

_logger = logging.getLogger("nni_remote.tuning")


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` with only the keyword arguments it accepts."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(*args, **kwargs)
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return fn(*args, **kwargs)


def _is_no_more_trial(exc: BaseException) -> bool:
    return any(c.__name__ == "NoMoreTrialError" for c in type(exc).__mro__)


def _delegate(name: str) -> Callable[..., Any]:
    def hook(self: Any) -> Any:
        method = getattr(self.inner, name, None)
        return method() if callable(method) else None
    hook.__name__ = name
    return hook


class TunerAdapter(Tuner):
    """Our :class:`Tuner` contract around a user's tuner instance (``.inner``)."""

    def __init__(self, inner: Any, label: str = "") -> None:
        self.inner = inner
        self.label = label or type(inner).__name__
        self.prefetch_refusal = getattr(inner, "prefetch_refusal", None)  # the user's tuner may refuse it too
        self._queued: list[tuple[Any, dict[str, Any]]] = []
        self._alias: dict[int, Any] = {}   # our parameter_id -> the id the tuner knows

    def update_search_space(self, search_space: dict[str, Any]) -> None:
        self.inner.update_search_space(search_space)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        if self._queued:
            return self._serve_queued(parameter_id)
        try:
            if self._uses_multiple():
                result = list(self.inner.generate_multiple_parameters([parameter_id], st_callback=self._emit))
                if result:
                    return cast("dict[str, Any]", result[0])
                if self._queued:
                    return self._serve_queued(parameter_id)
                raise NoMoreTrialError()
            return cast("dict[str, Any]", _call(self.inner.generate_parameters, parameter_id, **kwargs))
        except (NoMoreTrialError, NotReady):
            raise
        except Exception as exc:
            if _is_no_more_trial(exc):
                raise NoMoreTrialError(str(exc) or "Search space fully explored") from exc
            raise

    def _uses_multiple(self) -> bool:
        method = getattr(type(self.inner), "generate_multiple_parameters", None)
        return method is not None and method.__qualname__ != "Tuner.generate_multiple_parameters"

    def _emit(self, parameter_id: Any, params: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        self._queued.append((parameter_id, params))

    def pending(self) -> int:
        return len(self._queued)

    def _serve_queued(self, parameter_id: int) -> dict[str, Any]:
        tuner_id, params = self._queued.pop(0)
        self._alias[parameter_id] = tuner_id
        return params

    def receive_trial_result(self, parameter_id: int, parameters: dict[str, Any], value: Any,
                             **kwargs: Any) -> None:
        customized = bool(kwargs.get("customized", False))
        if customized and not getattr(self.inner, "_accept_customized", False):
            _logger.info("%s: ignoring result of customized trial %s", self.label, kwargs.get("trial_job_id"))
            return
        if scalar_or_none(value) is None:
            return
        _call(self.inner.receive_trial_result, self._alias.get(parameter_id, parameter_id), parameters, value,
              customized=customized, trial_job_id=kwargs.get("trial_job_id"))

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        _call(self.inner.trial_end, self._alias.pop(parameter_id, parameter_id), success, **kwargs)

    def import_data(self, data: list[dict[str, Any]]) -> None:
        usable = [e for e in data or [] if isinstance(e, dict) and scalar_or_none(e.get("value"), "imported value")
                  is not None]
        self.inner.import_data(usable)

    def _accept_customized_trials(self, accept: bool = True) -> None:
        self.inner._accept_customized = accept

    load_checkpoint = _delegate("load_checkpoint")
    save_checkpoint = _delegate("save_checkpoint")
    _on_exit = _delegate("_on_exit")
    _on_error = _delegate("_on_error")


class AssessorAdapter(Assessor):
    """Our :class:`Assessor` contract around a user's assessor instance (``.inner``)."""

    def __init__(self, inner: Any, label: str = "") -> None:
        self.inner = inner
        self.label = label or type(inner).__name__

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        verdict = self.inner.assess_trial(trial_job_id, trial_history)
        if isinstance(verdict, AssessResult):
            return verdict
        value = getattr(verdict, "value", verdict)
        if value is None:
            _logger.warning("%s returned None for trial %s; treating it as Good", self.label, trial_job_id)
            return AssessResult.Good
        return AssessResult.Good if bool(value) else AssessResult.Bad

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        self.inner.trial_end(trial_job_id, success)

    load_checkpoint = _delegate("load_checkpoint")
    save_checkpoint = _delegate("save_checkpoint")
    _on_exit = _delegate("_on_exit")
    _on_error = _delegate("_on_error")
