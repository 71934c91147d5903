"""Medianstop and Curvefitting with scripted learning curves."""
from __future__ import annotations

import pytest

from nni_remote.errors import TunerError
from nni_remote.tuning import AssessResult, create_assessor
from nni_remote.tuning.assessors.curvefitting_assessor import predict_final

Good, Bad = AssessResult.Good, AssessResult.Bad


def _complete(assessor, trial: str, curve: list[float], success: bool = True) -> None:
    for step in range(1, len(curve) + 1):
        assessor.assess_trial(trial, curve[:step])
    assessor.trial_end(trial, success)


def test_medianstop_stops_exactly_the_trials_below_the_median_of_running_averages() -> None:
    assessor = create_assessor({"name": "medianstop", "classArgs": {"start_step": 2}})
    _complete(assessor, "A", [1, 2, 3, 4])        # running averages 1, 1.5, 2, 2.5
    _complete(assessor, "B", [3, 3, 3, 3])        # 3, 3, 3, 3
    _complete(assessor, "C", [0, 1, 2, 3])        # 0, 0.5, 1, 1.5
    _complete(assessor, "F", [0, 0, 0, 0], success=False)   # failed: never counted
    # step 2: averages [0.5, 1.5, 3] -> median 1.5
    assert assessor.assess_trial("X", [0.5, 0.9]) is Bad
    assert assessor.assess_trial("Y", [1.5, 0.2]) is Good    # best so far 1.5 is not *strictly* worse
    assert assessor.assess_trial("Z", [0.1]) is Good         # before start_step
    assert assessor.assess_trial("L", [9, 9, 9, 9, 0.1]) is Good   # no completed trial reached step 5
    # step 4: averages [1.5, 2.5, 3] -> median 2.5
    assert assessor.assess_trial("X", [0.5, 0.9, 2.4, 2.0]) is Bad
    assert assessor.assess_trial("Y", [1.5, 0.2, 2.6, 0]) is Good


def test_medianstop_even_count_and_minimize_use_nnis_median_index() -> None:
    maximize = create_assessor({"name": "Medianstop"})
    _complete(maximize, "A", [1.0])
    _complete(maximize, "B", [3.0])
    assert maximize.assess_trial("X", [1.5]) is Good       # lower middle: 1
    assert maximize.assess_trial("X", [0.5]) is Bad
    minimize = create_assessor({"name": "Medianstop", "classArgs": {"optimize_mode": "minimize"}})
    _complete(minimize, "A", [1.0])
    _complete(minimize, "B", [3.0])
    assert minimize.assess_trial("X", [2.5]) is Good       # upper middle: 3
    assert minimize.assess_trial("X", [3.5]) is Bad


def test_medianstop_skips_garbage_values() -> None:
    assessor = create_assessor({"name": "Medianstop"})
    _complete(assessor, "A", [1.0, {"default": 2.0}])
    assert assessor.assess_trial("X", ["junk", float("nan")]) is Good
    assert assessor.assess_trial("X", [0.1, {"default": 0.2}]) is Bad


def test_curvefitting_predicts_saturating_curves() -> None:
    curve = [0.9 - 0.8 * x ** -0.7 for x in range(1, 9)]
    assert predict_final(curve, 30) == pytest.approx(0.9 - 0.8 * 30 ** -0.7, abs=0.02)
    assert predict_final([0.5, 0.5, 0.5], 20) == 0.5
    assert predict_final([0.1, 0.2], 20) is None


def test_curvefitting_stops_a_curve_that_will_not_reach_the_best() -> None:
    assessor = create_assessor({"name": "Curvefitting", "classArgs": {"epoch_num": 20, "start_step": 4, "gap": 2}})
    good = [0.9 - 0.6 * x ** -0.8 for x in range(1, 21)]
    poor = [0.5 - 0.3 * x ** -0.8 for x in range(1, 21)]
    assert assessor.assess_trial("P", poor[:6]) is Good      # no completed trial yet
    _complete(assessor, "G", good)
    assert assessor.assess_trial("Q", poor[:3]) is Good      # before start_step
    assert assessor.assess_trial("Q", poor[:4]) is Bad
    assert assessor.assess_trial("Q", poor[:5]) is Good      # within gap of the last verdict
    assert assessor.assess_trial("Q", poor[:6]) is Bad
    assert assessor.assess_trial("R", [g * 0.99 for g in good[:6]]) is Good


def test_assessor_args_are_checked_and_none_gives_none() -> None:
    assert create_assessor(None) is None
    assert create_assessor({"name": "_none_"}) is None
    with pytest.raises(TunerError, match="start_step"):
        create_assessor({"name": "Medianstop", "classArgs": {"start_step": -1}})
    with pytest.raises(TunerError, match="unknown classArgs 'window'"):
        create_assessor({"name": "Curvefitting", "classArgs": {"window": 3}})
    with pytest.raises(TunerError, match="valid assessor names: Medianstop, Curvefitting"):
        create_assessor({"name": "KLD"})
