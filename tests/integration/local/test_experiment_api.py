"""Every name of NNI's Experiment API against a live local experiment."""
from __future__ import annotations

import os

import pytest

import nni_remote
from nni_remote import Experiment, RunMode, TrialJob, TrialMetricData, TrialResult
from nni_remote.errors import ExperimentNotRunning, TrialNotFound
from tests.conftest import free_port
from tests.integration.local.conftest import seen, wait_for, wait_status


def test_full_api_on_a_live_experiment(launch, make_config):
    exp = launch(max_trial_number=5, trial_concurrency=2, experiment_name="api")
    assert exp.port is not None and len(exp.id) == 8
    assert exp.get_status() in ("RUNNING", "NO_MORE_TRIAL", "DONE")
    assert wait_status(exp, "DONE") == "DONE"

    jobs = exp.list_trial_jobs()
    assert len(jobs) == 5 and all(isinstance(j, TrialJob) for j in jobs)
    assert sorted(j.sequenceId for j in jobs) == [0, 1, 2, 3, 4]
    assert all(j.status == "SUCCEEDED" and j.endTime >= j.startTime > 0 for j in jobs)
    one = exp.get_trial_job(jobs[0].trialJobId)
    assert one.trialJobId == jobs[0].trialJobId and one.hyperParameters[0].parameter_source == "algorithm"

    # the parameters recorded for each trial are exactly those it received (NNI 3.0 mixes them up)
    exp_dir = os.path.join(exp.get_experiment_profile()["logDir"])
    for job in jobs:
        got = seen(exp_dir, job.trialJobId)
        assert got["params"] == job.hyperParameters[0].parameters
        assert got["env"]["NNI_TRIAL_JOB_ID"] == job.trialJobId
        assert got["env"]["NNI_TRIAL_SEQ_ID"] == str(job.sequenceId)
        assert got["env"]["NNI_EXP_ID"] == exp.id and got["env"]["NNI_PLATFORM"] == "local"

    assert exp.get_job_statistics() == [{"trialJobStatus": "SUCCEEDED", "trialJobNumber": 5}]
    metrics = exp.get_job_metrics()
    assert set(metrics) == {j.trialJobId for j in jobs}
    for job in jobs:
        records = metrics[job.trialJobId]
        assert all(isinstance(m, TrialMetricData) for m in records)
        kinds = [m.type for m in records]
        assert kinds.count("PERIODICAL") == 3 and kinds.count("FINAL") == 1
        final = [m for m in records if m.type == "FINAL"][0]
        assert final.data == pytest.approx(job.hyperParameters[0].parameters["x"])
        assert final.parameterId == str(job.hyperParameters[0].parameter_id)
    assert exp.get_job_metrics(jobs[0].trialJobId).keys() == {jobs[0].trialJobId}
    assert exp.get_job_metrics("nosuch") == {}

    exported = exp.export_data()
    assert len(exported) == 5 and all(isinstance(r, TrialResult) for r in exported)
    by_id = {j.trialJobId: j for j in jobs}
    for r in exported:
        assert r.parameter == by_id[r.trialJobId].hyperParameters[0].parameters
        assert r.value == pytest.approx(r.parameter["x"])

    profile = exp.get_experiment_profile()
    assert profile["id"] == exp.id and profile["params"]["maxTrialNumber"] == 5
    assert profile["nextSequenceId"] == 5 and "endTime" in profile and profile["execDuration"] >= 0

    meta = exp.get_experiment_metadata(exp.id)
    assert meta["id"] == exp.id and meta["port"] == exp.port and meta["status"] == "DONE"
    assert meta["experimentName"] == "api" and meta["platform"] == "local"
    assert exp.get_experiment_metadata("nosuchid") == {}
    assert any(e["id"] == exp.id for e in exp.get_all_experiments_metadata())

    with pytest.raises(TrialNotFound):
        exp.get_trial_job("nosuch")
    with pytest.raises(TrialNotFound):
        exp.kill_trial_job("nosuch")

    # raising the budget after DONE dispatches new trials (NNI stays stuck)
    exp.update_max_trial_number(7)
    wait_for(lambda: len(exp.list_trial_jobs()) == 7, what="2 more trials")
    assert wait_status(exp, "DONE") == "DONE"

    other = Experiment.connect(exp.port)
    assert other.id == exp.id and other.config is None and other.get_status() == "DONE"
    assert len(other.list_trial_jobs()) == 7

    port = exp.port
    exp.stop()
    assert exp.port is None
    with pytest.raises(ExperimentNotRunning):
        exp.get_status()
    assert exp.get_experiment_metadata if True else None
    entry = Experiment(None, id=exp.id)
    assert entry.has_checkpoint()
    entry.load_checkpoint()
    assert entry.config is not None and entry.config.max_trial_number == 7
    del port


def test_public_names_and_run_mode():
    assert sorted(nni_remote.__all__) == sorted([
        "Experiment", "ExperimentConfig", "LocalConfig", "RemoteConfig", "RemoteMachineConfig", "SlurmConfig",
        "AlgorithmConfig", "RunMode", "TrialJob", "TrialResult", "TrialMetricData"])
    assert RunMode.Detach.value == "detach" and RunMode.Foreground.value == "foreground"
    for name in ("config", "id", "port", "connect", "export_data", "get_all_experiments_metadata",
                 "get_experiment_metadata", "get_experiment_profile", "get_job_metrics", "get_job_statistics",
                 "get_status", "get_trial_job", "list_trial_jobs", "resume", "run", "start", "stop",
                 "update_max_experiment_duration", "update_max_trial_number", "update_search_space",
                 "update_trial_concurrency", "view", "kill_trial_job"):
        assert hasattr(Experiment("local"), name), name


def test_seed_example_template():
    exp = Experiment("remote")
    exp.config.trial_command = "python3 trial.py"
    exp.config.machines.append(nni_remote.RemoteMachineConfig(ip="198.18.0.11", user_name="bob", password="pw"))
    exp.config.tuner.name = "TPE"
    exp.config.tuner.class_args["optimize_mode"] = "maximize"
    assert exp.config.training_service.machine_list[0].host == "198.18.0.11"
    assert "pw" not in repr(exp.config)


def test_run_returns_when_done_and_kill(launch, make_config, experiments):
    exp = Experiment(make_config(max_trial_number=3, trial_concurrency=3))
    experiments.append(exp)
    assert exp.run(free_port()) is True
    assert exp.get_status() == "DONE"

    slow = launch(max_trial_number=2, trial_concurrency=2,
                  search_space={"sleep": {"_type": "choice", "_value": [30]}})
    running = wait_for(lambda: [j for j in slow.list_trial_jobs() if j.status == "RUNNING"], what="running")
    slow.kill_trial_job(running[0].trialJobId)
    wait_for(lambda: slow.get_trial_job(running[0].trialJobId).status == "USER_CANCELED", what="cancel")
    pid = seen_pid = None
    del pid, seen_pid
