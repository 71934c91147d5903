"""Hosts the tuner and assessor in-process, in the dispatch thread only.

Replaces NNI's dispatcher process (NNI-REFERENCE §5.2) with direct calls:
every tuner/assessor call happens on one thread, so user tuners need no
locking. A tuner that raises is reported, never silently hung on (NNI stays
RUNNING forever after a tuner exception).
"""
from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any, Callable, Optional

from nni_remote.manager.trials import scalar

log = logging.getLogger("nni_remote.tuner")


class TunerHost:
    """Owns the tuner/assessor objects and the queue of calls for them.

    The tuner may be an NNI advisor (``tuning.AdvisorAdapter``): it then
    decides parameters (with its own parameter ids) and early stops, and a
    configured assessor is ignored, as in NNI. Each kill the advisor sends
    goes to ``on_kill(trial_id)`` as soon as the advisor's handler returns.

    ``checkpoint_dir`` is NNI's ``NNI_CHECKPOINT_DIRECTORY`` for the algorithms
    (PBT's default ``all_checkpoint_dir``); ``trials_see_head_files`` says
    whether trials can reach it (see :func:`tuning.checkpoints.check_reach`).
    """

    def __init__(self, tuner_config: Any, assessor_config: Any, *, checkpoint_dir: Optional[str] = None,
                 trials_see_head_files: bool = True, on_kill: Optional[Callable[[str], None]] = None) -> None:
        from nni_remote import tuning
        from nni_remote.tuning import checkpoints

        self._tuning = tuning
        with checkpoints.dispatcher_environment(checkpoint_dir):
            self.tuner = tuning.create_tuner(tuner_config)
            self.assessor = tuning.create_assessor(assessor_config) if assessor_config is not None else None
        checkpoints.check_reach(self.tuner, checkpoint_dir, trials_see_head_files)
        from nni_remote.tuning.advisor import AdvisorAdapter
        self.advisor: Optional[AdvisorAdapter] = self.tuner if isinstance(self.tuner, AdvisorAdapter) else None
        if self.advisor is not None:
            self.advisor.on_kill = on_kill
        if self.advisor and self.assessor is not None:
            log.warning("the tuner is an advisor, which decides early stops itself: the assessor is ignored")
            self.assessor = None
        self.inbox: deque[Callable[[], None]] = deque()
        self._exhausted = False
        self.not_ready = False
        self.next_parameter_id = 0
        self.generated: set[Any] = set()   # parameter ids this tuner instance handed out
        self._assessed: set[str] = set()   # trials the assessor judged (NNI tells it only of their end)

    def prefetch_refusal(self) -> Optional[str]:
        """Why the tuner does not take trials ahead of their results (``prefetchTrials``); None if it does."""
        reason = getattr(self.tuner, "prefetch_refusal", None)
        return None if reason is None else f"{getattr(self.tuner, 'label', type(self.tuner).__name__)}: {reason}"

    @property
    def exhausted(self) -> bool:
        """No more parameters: never while calls are queued (a trial end may yield more) or while the
        tuner holds parameters it made since (NNI's ``st_callback``, an advisor's ``NewTrialJob``)."""
        if self.inbox or self.tuner.pending():
            return False
        return self._exhausted

    @exhausted.setter
    def exhausted(self, value: bool) -> None:
        self._exhausted = value

    # -- calls queued from other threads --------------------------------------
    def post(self, call: Callable[[], None]) -> None:
        self.inbox.append(call)

    def drain(self) -> None:
        """Run every queued call (dispatch thread)."""
        while self.inbox:
            self.inbox.popleft()()

    # -- tuner -----------------------------------------------------------------
    def update_search_space(self, space: Any) -> None:
        self.tuner.update_search_space(space)
        self.exhausted = False
        self.not_ready = False

    def import_data(self, data: list[dict[str, Any]]) -> None:
        clean = [d for d in data if scalar(d.get("value")) is not None]
        if clean:
            self.tuner.import_data(clean)
            self.not_ready = False

    def generate(self) -> Optional[tuple[int, Any]]:
        """One new (parameter_id, parameters), or None when exhausted or not ready."""
        if self.exhausted or self.not_ready:
            return None
        pid = self.next_parameter_id
        try:
            if self.advisor is not None:
                pid, params = self.advisor.next_trial()
            else:
                params = self.tuner.generate_parameters(pid)
        except self._tuning.NotReady:
            self.not_ready = True
            return None
        except Exception as exc:
            if type(exc).__name__ != "NoMoreTrialError":  # ours, the shim's or real nni's
                raise
            self.exhausted = True
            return None
        if not self.advisor:
            self.next_parameter_id += 1
        self.generated.add(pid)
        return pid, params

    def result(self, parameter_id: Any, parameters: Any, value: Any, trial_id: str, customized: bool) -> None:
        number = scalar(value)
        if number is None or not math.isfinite(number):
            log.warning("trial %s: final result %r is not a number (or a dict with a numeric 'default'); "
                        "the tuner does not see it", trial_id, value)
            return
        if customized or parameter_id not in self.generated:
            # customized trials, and trials of an earlier manager (resumed): history, as NNI does
            self.tuner.import_data([{"parameter": parameters, "value": value}])
        else:
            self.tuner.receive_trial_result(parameter_id, parameters, value, customized=False,
                                            trial_job_id=trial_id)
        self.not_ready = False

    def trial_end(self, parameter_id: Any, trial_id: str, status: str, customized: bool,
                  hyper_params: Optional[str] = None) -> None:
        """NNI's ``TRIAL_END``: ``status`` is the trial's final one, ``hyper_params`` the packed parameters it read.

        Tuners and assessors get ``success`` (``status == "SUCCEEDED"``), as
        NNI's dispatcher gives them; an advisor gets the status itself as
        ``event``. The assessor hears only of trials it judged, as in NNI.
        """
        success = status == "SUCCEEDED"
        if not customized and parameter_id in self.generated:
            self.tuner.trial_end(parameter_id, success, trial_job_id=trial_id, event=status,
                                 hyper_params=hyper_params)
        self._exhausted = False        # asked again after every trial end, as NNI's manager does
        if self.assessor is not None and trial_id in self._assessed:
            self._assessed.discard(trial_id)
            self.assessor.trial_end(trial_id, success)
        self.not_ready = False

    def assess(self, trial_id: str, history: list[Any], parameter_id: Any = None) -> bool:
        """True if the assessor says the trial should be stopped early.

        An advisor sees each new intermediate value once, with the trial's
        ``parameter_id`` (the advisor's own id); its kills (of this trial or
        any other) go to ``on_kill``, so for an advisor this returns False.
        """
        if self.advisor is not None:
            if parameter_id is not None and parameter_id in self.generated and history:
                self.advisor.report_intermediate(parameter_id, trial_id, history)
            return False
        if self.assessor is None or not history:
            return False
        self._assessed.add(trial_id)
        verdict: Any = self.assessor.assess_trial(trial_id, history)
        bad = getattr(self._tuning.AssessResult, "Bad", False)
        return verdict is bad or verdict is False or getattr(verdict, "name", None) == "Bad"
