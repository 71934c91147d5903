"""prefetchTrials: each busy slot holds its next trial, started by the agent the moment the slot frees."""
from __future__ import annotations

import json
import os
import sqlite3

from nni_remote import Experiment
from tests.conftest import free_port
from tests.integration.local.conftest import seen, wait_for, wait_status


def agent_spec(exp_dir: str, trial_id: str) -> dict:
    """The start spec the agent ran the trial's (first) attempt with."""
    with open(os.path.join(exp_dir, "trials", trial_id, ".agent", "spec.json")) as f:
        return json.load(f)


def queued(exp: Experiment) -> list:
    return [j for j in exp.list_trial_jobs() if j.status == "WAITING" and "next on" in (j.message or "")]


def test_prefetched_trials_run_with_exactly_their_recorded_parameters(launch):
    exp = launch(prefetch_trials=True, trial_concurrency=2, max_trial_number=12,
                 search_space={"x": {"_type": "uniform", "_value": [0, 1]}, "sleep": {"_type": "choice", "_value": [0.2]}})
    assert wait_status(exp, "DONE", timeout=120) == "DONE"
    exp_dir = exp.get_experiment_profile()["logDir"]
    jobs = {j.trialJobId: j for j in exp.list_trial_jobs()}
    assert len(jobs) == 12 and all(j.status == "SUCCEEDED" for j in jobs.values())
    followed = 0
    for tid, job in jobs.items():
        recorded = job.hyperParameters[0].parameters
        assert seen(exp_dir, tid)["params"] == recorded          # ran with exactly what was recorded
        after = agent_spec(exp_dir, tid).get("after")
        if after:                                                 # it was queued behind that run ...
            followed += 1
            ahead = jobs[after.split(".")[0]]
            assert ahead.endTime <= job.startTime, (tid, after)   # ... and started once it had ended
    assert followed >= 6                                          # most trials after the first two were queued
    spans = sorted((j.startTime, 1) for j in jobs.values()) + sorted((j.endTime, -1) for j in jobs.values())
    running = peak = 0
    for _, step in sorted(spans, key=lambda s: (s[0], s[1])):    # ends before starts at the same instant
        running += step
        peak = max(peak, running)
    assert peak <= 2                                              # never more than trialConcurrency at once


def test_a_queued_trial_killed_never_runs_and_stop_ends_queued_ones(launch):
    exp = launch(prefetch_trials=True, trial_concurrency=1, max_trial_number=4,
                 search_space={"x": {"_type": "uniform", "_value": [0, 1]}, "sleep": {"_type": "choice", "_value": [30]}})
    exp_dir = exp.get_experiment_profile()["logDir"]
    victim = wait_for(lambda: queued(exp) and queued(exp)[0], 60, what="a trial queued behind the running one")
    exp.kill_trial_job(victim.trialJobId)
    assert wait_for(lambda: exp.get_trial_job(victim.trialJobId).status == "USER_CANCELED", 30,
                    what="the queued trial cancelled")
    replacement = wait_for(lambda: queued(exp) and queued(exp)[0], 60, what="the next trial queued in its place")
    assert replacement.trialJobId != victim.trialJobId
    exp.stop()
    db = sqlite3.connect(os.path.join(exp_dir, "db", "nni.sqlite"))
    try:
        status = dict(db.execute("SELECT trialJobId, status FROM Trial").fetchall())
    finally:
        db.close()
    assert status[victim.trialJobId] == status[replacement.trialJobId] == "USER_CANCELED"
    for tid in (victim.trialJobId, replacement.trialJobId):   # queued, never started
        assert not os.path.exists(os.path.join(exp_dir, "trials", tid, "trial.stdout")), tid


def test_queued_trial_survives_a_manager_sigkill(launch, experiments):
    exp = launch(prefetch_trials=True, trial_concurrency=1, max_trial_number=3,
                 search_space={"x": {"_type": "uniform", "_value": [0, 1]}, "sleep": {"_type": "choice", "_value": [3]}})
    wait_for(lambda: queued(exp), 60, what="a trial queued behind the running one")
    exp._proc.kill()
    exp._proc.wait()
    exp.port = None
    again = Experiment.resume(exp.id, port=free_port(), wait_completion=False)
    experiments.append(again)
    assert wait_status(again, "DONE", timeout=120) == "DONE"
    exp_dir = again.get_experiment_profile()["logDir"]
    jobs = again.list_trial_jobs()
    assert len(jobs) == 3 and all(j.status == "SUCCEEDED" for j in jobs), [(j.trialJobId, j.status) for j in jobs]
    for job in jobs:
        assert seen(exp_dir, job.trialJobId)["params"] == job.hyperParameters[0].parameters
