"""A SIGKILLed manager loses nothing; resume re-attaches; view is read-only."""
from __future__ import annotations

import os

import pytest

from nni_remote import Experiment
from nni_remote.errors import NniRemoteError, ReadOnlyError
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for, wait_status

SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "sleep": {"_type": "choice", "_value": [2.5]},
         "steps": {"_type": "choice", "_value": [5]}}


def stdout_of(exp_dir: str, trial_id: str) -> str:
    with open(os.path.join(exp_dir, "trials", trial_id, "trial.stdout")) as f:
        return f.read()


def test_sigkill_manager_then_resume(launch, experiments):
    exp = launch(trial_concurrency=2, max_trial_number=6, search_space=SPACE)
    exp_dir = exp.get_experiment_profile()["logDir"]
    wait_for(lambda: sum(j.status == "SUCCEEDED" for j in exp.list_trial_jobs()) >= 2, what="2 done")
    running = wait_for(lambda: [j.trialJobId for j in exp.list_trial_jobs() if j.status == "RUNNING"] or None,
                       what="trials running")
    acked_before = exp.get_job_metrics()
    exp._proc.kill()                       # SIGKILL: no chance to save anything
    exp._proc.wait()
    exp.port = None

    again = Experiment.resume(exp.id, port=free_port(), wait_completion=False)
    experiments.append(again)
    assert wait_status(again, "DONE", timeout=90) == "DONE"
    jobs = again.list_trial_jobs()
    assert len(jobs) == 6 and all(j.status == "SUCCEEDED" for j in jobs), [(j.trialJobId, j.status) for j in jobs]
    assert sorted(j.sequenceId for j in jobs) == list(range(6))
    metrics = again.get_job_metrics()
    for job in jobs:
        kinds = [m.type for m in metrics[job.trialJobId]]
        assert kinds.count("PERIODICAL") == 5 and kinds.count("FINAL") == 1, (job.trialJobId, kinds)
        assert sorted(m.sequence for m in metrics[job.trialJobId] if m.type == "PERIODICAL") == [0, 1, 2, 3, 4]
    for trial_id, records in acked_before.items():  # nothing acknowledged before the kill is lost
        after = {(m.type, m.sequence) for m in metrics[trial_id]}
        assert {(m.type, m.sequence) for m in records} <= after
    for trial_id in running:                # re-attached, not restarted
        assert stdout_of(exp_dir, trial_id).count("trial-start") == 1, trial_id


def test_view_is_read_only(launch, experiments):
    exp = launch(trial_concurrency=2, max_trial_number=2)
    wait_status(exp, "DONE")
    exp_id = exp.id
    exp.stop()
    viewer = Experiment.view(exp_id, port=free_port(), non_blocking=True)
    experiments.append(viewer)
    assert viewer.get_status() == "VIEWED"
    jobs = viewer.list_trial_jobs()
    assert len(jobs) == 2 and all(j.status == "SUCCEEDED" for j in jobs)
    assert len(viewer.export_data()) == 2
    for call in (lambda: viewer.update_trial_concurrency(3), lambda: viewer.update_max_trial_number(9),
                 lambda: viewer.kill_trial_job(jobs[0].trialJobId),
                 lambda: viewer._rest.post("trial-jobs", {"x": 0.5}),
                 lambda: viewer._rest.post("experiment/import-data", [{"parameter": {"x": 1}, "value": 1}])):
        with pytest.raises(ReadOnlyError, match="read-only"):
            call()
    with pytest.raises(NniRemoteError, match="still running"):
        Experiment.view(exp_id, port=free_port(), non_blocking=True)


def test_trials_cut_short_by_stop_run_again_on_resume(launch, experiments):
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "sleep": {"_type": "choice", "_value": [3]},
             "steps": {"_type": "choice", "_value": [3]}}
    exp = launch(trial_concurrency=2, max_trial_number=2, search_space=space)
    wait_for(lambda: len([j for j in exp.list_trial_jobs() if j.status == "RUNNING"]) == 2, what="2 running")
    wait_for(lambda: exp.get_job_metrics(), what="a first metric")
    exp_id = exp.id
    exp.stop()                                   # both trials are killed and show USER_CANCELED
    again = Experiment.resume(exp_id, port=free_port(), wait_completion=False)
    experiments.append(again)
    assert wait_status(again, "DONE") == "DONE"
    jobs = again.list_trial_jobs()
    assert len(jobs) == 2 and all(j.status == "SUCCEEDED" and j.attempt == 2 for j in jobs)
    metrics = again.get_job_metrics()
    for job in jobs:                             # the curve is the completed attempt's, once
        records = metrics[job.trialJobId]
        assert sorted(m.sequence for m in records if m.type == "PERIODICAL") == [0, 1, 2]
        assert [m.type for m in records].count("FINAL") == 1
