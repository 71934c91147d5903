"""Host an NNI advisor (a ``MsgDispatcherBase`` subclass) in-process, behind the tuner contract.

An advisor decides both the parameters and the early stops itself and talks
to NNI's manager through commands (NNI-REFERENCE §5.2). Here the advisor's
channel is replaced by :class:`AdvisorAdapter`, which calls the advisor's
``handle_*`` methods directly (on the dispatch thread, never concurrently) and
collects what it sends:

- ``TR`` (new trial job): queued; :meth:`AdvisorAdapter.next_trial` hands the
  queue out with the advisor's own ``parameter_id`` (Hyperband's are strings
  like ``"0-2_0_5"``). Advisors may send ``TR`` at any time (after a trial end,
  when a rung completes), not only when asked;
- ``NO`` (no more trial jobs): nothing to give *now*; asked again after the
  next trial end, as NNI's manager does;
- ``KI`` (kill trial job): handed to ``on_kill`` (the manager's) as soon as
  the handler that sent it returns, whatever call it was (a trial end, a final
  result, another trial's intermediate result, a request for trials); the
  manager kills the trial at once and it ends ``EARLY_STOPPED``, as NNI's
  manager does (``cancelTrialJob(id, isEarlyStopped=true)``);
- ``ER``: the experiment fails with the advisor's message.

Metric values reach the advisor as JSON text (``data['value']``), as NNI's
dispatcher sends them. ``handle_trial_end`` gets NNI's ``event``: the trial's
final status (``SUCCEEDED``, ``FAILED``, ``USER_CANCELED``, ``SYS_CANCELED``,
``EARLY_STOPPED``) and ``hyper_params``, the packed parameters the trial read.
The same adapter hosts the real ``nni``'s advisors (``Hyperband``, ``BOHB`` by
className) and users' advisors written against either ``nni`` package.
"""
from __future__ import annotations

import json
import logging
import sys
from collections import deque
from typing import Any, Callable, Optional

from ..errors import TunerError
from .base import NoMoreTrialError, Tuner

__all__ = ["AdvisorAdapter", "is_advisor_class", "prepare_advisor_import"]

_logger = logging.getLogger("nni_remote.tuning")
_IN_PROCESS_URL = "ws://_unittest_nni_remote_in_process"


def is_advisor_class(cls: Any) -> bool:
    """Whether ``cls`` is an NNI advisor (it handles ``RequestTrialJobs`` itself)."""
    return isinstance(cls, type) and hasattr(cls, "handle_request_trial_jobs")


def prepare_advisor_import() -> None:
    """Let the real ``nni``'s ``MsgDispatcherBase`` be built without a command channel.

    NNI 3.0 opens a websocket in ``__init__`` unless the URL starts with
    ``ws://_unittest_``; that URL is set where NNI reads it.
    """
    module = sys.modules.get("nni.runtime.msg_dispatcher_base")
    env = getattr(module, "dispatcher_env_vars", None)
    if env is not None and hasattr(env, "_replace") and not getattr(env, "NNI_TUNER_COMMAND_CHANNEL", None):
        module.dispatcher_env_vars = env._replace(NNI_TUNER_COMMAND_CHANNEL=_IN_PROCESS_URL)  # type: ignore


class _NeverRecovered:
    """``recovered_max_param_id`` for a fresh advisor: no id, int or str, belongs to an earlier run.

    NNI 3.0's ``Recoverable.is_created_in_previous_exp`` compares the advisor's
    string ids with the int ``-1`` (a ``TypeError`` in NNI itself).
    """

    def __ge__(self, other: Any) -> bool:
        return False

    def __lt__(self, other: Any) -> bool:
        return True

    def __repr__(self) -> str:
        return "-1"


def _code(command: Any) -> str:
    value = getattr(command, "value", command)
    return value.decode() if isinstance(value, bytes) else str(value)


class AdvisorAdapter(Tuner):
    """Our tuner contract around an advisor instance (``.inner``); see the module docstring."""

    is_advisor = True
    prefetch_refusal = "an advisor decides each trial and its budget from the results before"

    def __init__(self, inner: Any, label: str = "") -> None:
        self.inner = inner
        self.label = label or type(inner).__name__
        inner._channel = self
        if getattr(inner, "recovered_max_param_id", None) == -1 and not getattr(inner, "recovered_trial_params", None):
            inner.recovered_max_param_id = _NeverRecovered()
        self.ready: deque[tuple[Any, dict[str, Any]]] = deque()
        self.said_no = False
        self.kills: list[str] = []    # KI not yet handed to on_kill, in the order sent
        self.on_kill: Optional[Callable[[str], None]] = None
        self._error: str | None = None
        self._initialized = False
        self._records: dict[Any, str] = {}
        self._reported: dict[str, int] = {}

    # -- the advisor's side of the channel ------------------------------------------
    def _send(self, command: Any, data: Any) -> None:
        code = _code(command)
        if code == "TR":
            record = json.loads(data)
            self.ready.append((record.get("parameter_id"), record.get("parameters")))
            self.said_no = False
        elif code == "NO":
            self.said_no = True
        elif code == "KI":
            trial_job_id = str(json.loads(data))
            if trial_job_id not in self.kills:
                self.kills.append(trial_job_id)
        elif code == "ER":
            self._error = str(data)
        elif code == "SP":
            _logger.warning("%s sent SendTrialJobParameter (multi-phase), which NNI 3.0 removed; ignored",
                            self.label)
        elif code != "ID":
            _logger.warning("%s sent an unknown command %r; ignored", self.label, code)

    def _receive(self) -> tuple[None, None]:
        return None, None

    def _check(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise TunerError(f"advisor {self.label} reported an error: {error}")

    def _handle(self, name: str, data: Any) -> None:
        getattr(self.inner, name)(data)
        self._check()
        self.apply_kills()

    def apply_kills(self) -> None:
        """Hand every kill the advisor asked for to ``on_kill`` (kept until one is set)."""
        while self.kills and self.on_kill is not None:
            self.on_kill(self.kills.pop(0))

    # -- the tuner contract -----------------------------------------------------------
    def update_search_space(self, search_space: dict[str, Any]) -> None:
        if self._initialized:
            self._handle("handle_update_search_space", search_space)
            return
        self._initialized = True
        self._handle("handle_initialize", search_space)

    def next_trial(self) -> tuple[Any, dict[str, Any]]:
        """The advisor's next ``(parameter_id, parameters)``; ``NoMoreTrialError`` when it has none now."""
        if not self.ready and not self.said_no:
            self._handle("handle_request_trial_jobs", 1)
        if not self.ready:
            raise NoMoreTrialError(f"advisor {self.label} has no trial job to give now")
        parameter_id, params = self.ready.popleft()
        self._records[parameter_id] = json.dumps({"parameter_id": parameter_id, "parameter_source": "algorithm",
                                                  "parameters": params, "parameter_index": 0})
        return parameter_id, params

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        return self.next_trial()[1]

    def pending(self) -> int:
        return len(self.ready)

    def receive_trial_result(self, parameter_id: Any, parameters: dict[str, Any], value: Any,
                             **kwargs: Any) -> None:
        self._handle("handle_report_metric_data", {
            "parameter_id": parameter_id, "trial_job_id": kwargs.get("trial_job_id"), "type": "FINAL",
            "sequence": 0, "value": json.dumps(value)})

    def report_intermediate(self, parameter_id: Any, trial_job_id: str, history: list[Any]) -> None:
        """Send the values of ``history`` the advisor has not seen yet, as PERIODICAL metrics."""
        start = self._reported.get(trial_job_id, 0)
        for sequence in range(start, len(history)):
            self._handle("handle_report_metric_data", {
                "parameter_id": parameter_id, "trial_job_id": trial_job_id, "type": "PERIODICAL",
                "sequence": sequence, "value": json.dumps(history[sequence])})
        self._reported[trial_job_id] = max(start, len(history))

    def trial_end(self, parameter_id: Any, success: bool, **kwargs: Any) -> None:
        """NNI's ``TRIAL_END``: ``event`` (kwargs) is the trial's final status, ``hyper_params`` what it read."""
        trial_job_id = kwargs.get("trial_job_id")
        self._reported.pop(str(trial_job_id), None)
        record = self._records.pop(parameter_id, None)
        record = kwargs.get("hyper_params") or record or json.dumps(
            {"parameter_id": parameter_id, "parameter_source": "algorithm", "parameters": {}, "parameter_index": 0})
        event = kwargs.get("event") or ("SUCCEEDED" if success else "FAILED")
        self.said_no = False   # NNI's manager asks again after every trial end
        self._handle("handle_trial_end", {"trial_job_id": trial_job_id, "event": event, "hyper_params": record})

    def import_data(self, data: list[dict[str, Any]]) -> None:
        if data:
            self._handle("handle_import_data", data)

    def _on_exit(self) -> None:
        hook = getattr(self.inner, "_on_exit", None)
        if callable(hook):
            hook()

    def _on_error(self) -> None:
        hook = getattr(self.inner, "_on_error", None)
        if callable(hook):
            hook()


def ensure_advisor(obj: Any, label: str) -> AdvisorAdapter:
    """Wrap an advisor instance; ``TunerError`` if it lacks a handler NNI's manager needs."""
    missing = [m for m in ("handle_initialize", "handle_request_trial_jobs", "handle_report_metric_data",
                           "handle_trial_end") if not callable(getattr(obj, m, None))]
    if missing:
        raise TunerError(f"advisor {label!r} lacks {', '.join(missing)}: an advisor implements the handlers of "
                         "NNI's MsgDispatcherBase (subclass nni.runtime.msg_dispatcher_base.MsgDispatcherBase)")
    return AdvisorAdapter(obj, label)
