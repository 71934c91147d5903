"""NNI's ``Medianstop`` assessor: the median stopping rule of Google Vizier."""
from __future__ import annotations

import logging
from typing import Any

from ..base import Assessor, AssessResult, scalar_or_none
from ..tuners._common import check_choice, check_number

__all__ = ["MedianstopAssessor"]

_logger = logging.getLogger("nni_remote.tuning")


class MedianstopAssessor(Assessor):
    """Stop trial X at step S if its best value so far is strictly worse than the median
    of the running averages, at step S, of all *successfully completed* trials.

    Exactly NNI's rule: before ``start_step`` intermediate results, or while
    no completed trial reached step S, the verdict is Good. The median of the
    sorted averages is the lower middle one for ``maximize``
    (``a[(n - 1) // 2]``) and the upper middle one for ``minimize``
    (``a[n // 2]``). A completed trial's averages are those of the
    intermediate results the assessor saw. Garbage and NaN/inf intermediate
    values are skipped (with a warning) rather than failing.
    """

    def __init__(self, optimize_mode: str = "maximize", start_step: int = 0) -> None:
        self.high_better = check_choice("optimize_mode", optimize_mode, ("maximize", "minimize")) == "maximize"
        self.start_step = check_number("start_step", start_step, 0, integer=True)
        self._running: dict[str, list[float]] = {}
        self._completed_avg: dict[str, list[float]] = {}

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        step = len(trial_history)
        values = [v for v in (scalar_or_none(x, "intermediate result") for x in trial_history) if v is not None]
        self._running[trial_job_id] = values
        if step < self.start_step or not values:
            return AssessResult.Good
        best = max(values) if self.high_better else min(values)
        averages = sorted(avg[step - 1] for avg in self._completed_avg.values() if len(avg) >= step)
        if not averages:
            return AssessResult.Good
        if self.high_better:
            return AssessResult.Bad if best < averages[(len(averages) - 1) // 2] else AssessResult.Good
        return AssessResult.Bad if best > averages[len(averages) // 2] else AssessResult.Good

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        history = self._running.pop(trial_job_id, None)
        if history is None:
            _logger.debug("medianstop: trial %s ended without intermediate results", trial_job_id)
            return
        if success:
            total, averages = 0.0, []
            for count, value in enumerate(history, 1):
                total += value
                averages.append(total / count)
            self._completed_avg[trial_job_id] = averages
