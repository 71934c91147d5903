"""NNI's ``Curvefitting`` assessor: stop trials whose learning curve will not reach the best.

NNI fits a weighted mix of 12 parametric curves by MCMC; this is a smaller,
deterministic predictor with the same role: four saturating curve families
(power law ``c - a x^-k``, exponential ``c - a e^-kx``, ``c + a log x``,
``c - a / log(x + 1)``), each fitted by least squares (a grid over the
non-linear ``k``, linear solve for ``a`` and ``c``), mixed with weights
inverse to their fitting error, and evaluated at ``epoch_num``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..base import Assessor, AssessResult, scalar_or_none
from ..tuners._common import check_number

__all__ = ["CurvefittingAssessor", "predict_final"]

_K_GRID = np.logspace(-3, 1, 60)
_FAMILIES: list[tuple[Callable[[np.ndarray, float], np.ndarray], np.ndarray]] = [
    (lambda x, k: x ** -k, _K_GRID),
    (lambda x, k: np.exp(-k * x), _K_GRID),
    (lambda x, k: np.log(x), np.array([0.0])),
    (lambda x, k: 1.0 / np.log(x + 1.0), np.array([0.0])),
]


def predict_final(history: list[float], epoch: int) -> float | None:
    """The predicted value at step ``epoch`` (1-based) of a curve, or ``None`` if unsure.

    Needs at least 3 points; a constant curve predicts its value.
    """
    y = np.asarray(history, dtype=float)
    if len(y) < 3 or not np.all(np.isfinite(y)):
        return None
    if np.ptp(y) == 0:
        return float(y[-1])
    x = np.arange(1, len(y) + 1, dtype=float)
    target = np.array([float(max(epoch, 1))])
    predictions, errors = [], []
    for basis, ks in _FAMILIES:
        best: tuple[float, float] | None = None
        for k in ks:
            g = basis(x, k)
            design = np.column_stack([np.ones_like(g), g])
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            sse = float(np.sum((design @ coef - y) ** 2))
            value = float(coef[0] + coef[1] * basis(target, k)[0])
            if math.isfinite(value) and (best is None or sse < best[0]):
                best = (sse, value)
        if best is not None:
            errors.append(best[0])
            predictions.append(best[1])
    if not predictions:
        return None
    scale = float(np.var(y)) * len(y) * 1e-6 + 1e-300
    weights = 1.0 / (np.asarray(errors) + scale)
    return float(np.dot(weights, predictions) / np.sum(weights))


class CurvefittingAssessor(Assessor):
    """Stop a trial when its curve, extrapolated to ``epoch_num``, stays below
    ``threshold`` times the best final value of completed trials.

    NNI's rule and arguments: higher values are better (accuracy-like); no
    verdict before the first successful trial, before ``start_step`` results,
    or within ``gap`` results of the trial's previous verdict (all Good).
    A completed trial's final value is its last intermediate result.
    """

    def __init__(self, epoch_num: int = 20, start_step: int = 6, threshold: float = 0.95, gap: int = 1) -> None:
        self.epoch_num = check_number("epoch_num", epoch_num, 1, integer=True)
        self.start_step = check_number("start_step", start_step, 0, integer=True)
        self.threshold = float(check_number("threshold", threshold, 0))
        self.gap = check_number("gap", gap, 1, integer=True)
        self.best: float | None = None
        self._histories: dict[str, list[float]] = {}
        self._last_judged: dict[str, int] = {}

    def assess_trial(self, trial_job_id: str, trial_history: list[Any]) -> AssessResult:
        values = [v for v in (scalar_or_none(x, "intermediate result") for x in trial_history) if v is not None]
        self._histories[trial_job_id] = values
        step = len(values)
        if self.best is None or step < self.start_step:
            return AssessResult.Good
        last = self._last_judged.get(trial_job_id)
        if last is not None and step - last < self.gap:
            return AssessResult.Good
        self._last_judged[trial_job_id] = step
        predicted = predict_final(values, self.epoch_num)
        if predicted is None or predicted > self.best * self.threshold:
            return AssessResult.Good
        return AssessResult.Bad

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        history = self._histories.pop(trial_job_id, None)
        self._last_judged.pop(trial_job_id, None)
        if success and history:
            self.best = history[-1] if self.best is None else max(self.best, history[-1])
