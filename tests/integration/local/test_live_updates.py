"""update_* calls take effect on a running experiment."""
from __future__ import annotations

import pytest

from nni_remote.errors import ConfigError
from tests.integration.local.conftest import wait_for, wait_status

SLOW = {"sleep": {"_type": "choice", "_value": [20]}, "x": {"_type": "uniform", "_value": [0, 1]}}


def running(exp):
    return [j for j in exp.list_trial_jobs() if j.status == "RUNNING"]


def test_concurrency_and_budget_updates(launch):
    exp = launch(trial_concurrency=1, max_trial_number=20, search_space=SLOW)
    wait_for(lambda: len(running(exp)) == 1, what="1 running")
    exp.update_trial_concurrency(4)
    wait_for(lambda: len(running(exp)) == 4, timeout=10, what="4 running")
    assert exp.get_experiment_profile()["params"]["trialConcurrency"] == 4

    exp.update_max_trial_number(5)
    exp.update_trial_concurrency(5)
    wait_for(lambda: len(exp.list_trial_jobs()) == 5, what="5 trials")
    assert wait_status(exp, "NO_MORE_TRIAL") == "NO_MORE_TRIAL"
    assert exp.get_experiment_profile()["params"]["maxTrialNumber"] == 5

    exp.update_max_experiment_duration("1s")
    assert exp.get_experiment_profile()["params"]["maxExperimentDuration"] == "1s"
    exp.update_max_trial_number(50)
    # the duration budget (1 s) is spent: no new trials even with a larger trial budget
    wait_for(lambda: exp.get_experiment_profile()["execDuration"] >= 1, what="1 s of execution")
    assert wait_status(exp, "NO_MORE_TRIAL") == "NO_MORE_TRIAL"
    assert len(exp.list_trial_jobs()) == 5

    with pytest.raises(ConfigError):
        exp.update_trial_concurrency(0)
    with pytest.raises(ConfigError):
        exp.update_max_trial_number("abc")
    with pytest.raises(ConfigError):
        exp.update_max_experiment_duration("3600")
    with pytest.raises(ConfigError):
        exp.update_search_space({"x": {"_type": "uniform", "_value": [1, 0]}})


def test_search_space_update_applies_to_later_trials(launch):
    exp = launch(trial_concurrency=1, max_trial_number=100,
                 search_space={"x": {"_type": "choice", "_value": [0.25]},
                               "sleep": {"_type": "choice", "_value": [0.3]}})
    wait_for(lambda: len(exp.list_trial_jobs()) >= 1, what="a trial")
    exp.update_search_space({"x": {"_type": "choice", "_value": [0.75]}, "sleep": {"_type": "choice", "_value": [0]}})
    wait_for(lambda: any(j.hyperParameters[0].parameters["x"] == 0.75 for j in exp.list_trial_jobs()),
             what="a trial from the new space")
    exp.update_max_trial_number(len(exp.list_trial_jobs()) + 1)
    assert wait_status(exp, "DONE") == "DONE"


def test_grid_search_ends_when_exhausted(launch):
    exp = launch(trial_concurrency=2, max_trial_number=None, tuner={"name": "GridSearch"},
                 search_space={"x": {"_type": "choice", "_value": [0.1, 0.2, 0.3]}})
    assert wait_status(exp, "DONE") == "DONE"
    values = sorted(j.hyperParameters[0].parameters["x"] for j in exp.list_trial_jobs())
    assert values == [0.1, 0.2, 0.3]
