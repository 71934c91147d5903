"""Slurm end to end on a real cluster (deploy/slurmrig.py): examples, node loss, time limit, stop, resume."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest
import requests

from nni_remote import Experiment, ExperimentConfig
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for
from tests.integration.slurm.slurm_helpers import code_config, example_config, our_jobs, start, started, wait_done


SLEEPER = '''
    import time, nni
    p = nni.get_next_parameter()
    for step in range(4):
        nni.report_intermediate_result(step)
        time.sleep(p["sleep"] / 4)
    nni.report_final_result(p["i"])
'''
SLOW_SPACE = {"i": {"_type": "choice", "_value": [9]}, "sleep": {"_type": "choice", "_value": [600]}}


@pytest.mark.parametrize("reuse", [False, True], ids=["job-per-trial", "reuse"])
def test_quickstart_and_sklearn_run_on_both_nodes_and_time_limits_say_so(slurm_rig, tmp_path, isolated_home,
                                                                          experiments, reuse):
    rig = slurm_rig
    # a trial past timeLimit, alongside: Slurm counts whole minutes (and checks every ~30 s); a reuse
    # worker enforces the limit itself, to the second
    (tmp_path / "slow").mkdir()
    slow = start(code_config(rig, tmp_path / "slow", SLEEPER, SLOW_SPACE, trial_concurrency=1, max_trial_number=1,
                             training_service={"timeLimit": "5s" if reuse else "1m", "reuseMode": reuse}),
                 experiments)
    quick = start(example_config(rig, "quickstart", tmp_path, reuseMode=reuse), experiments)
    sk = start(example_config(rig, "sklearn", tmp_path, reuseMode=reuse), experiments)
    nodes = set()
    for exp, count in ((quick, 24), (sk, 8)):
        assert wait_done(exp) == "DONE", exp.id
        jobs = exp.list_trial_jobs()
        assert len(jobs) == count and all(j.status == "SUCCEEDED" for j in jobs), [(j.trialJobId, j.status)
                                                                                  for j in jobs]
        assert all(j.finalMetricData for j in jobs)
        attempts = started(rig, exp.id)
        assert set(attempts) == {j.trialJobId for j in jobs}
        nodes |= {a[-1]["node"] for a in attempts.values()}
        if reuse:  # trials shared allocations: at most trialConcurrency worker jobs
            assert len({a[-1]["job"] for a in attempts.values()}) <= 4
        exp.stop()                                      # frees idle reuse workers for the next experiment
        assert our_jobs(rig, exp.id) == []
    assert nodes == {"c1", "c2"}

    assert wait_done(slow, timeout=240) == "DONE"
    (job,) = slow.list_trial_jobs()
    assert job.status == "FAILED"
    assert "time limit" in job.message and "TIMEOUT" in job.message, job.message
    slow.stop()
    assert our_jobs(rig, slow.id) == []


def test_node_down_requeues_as_the_next_attempt(slurm_rig, tmp_path, isolated_home, experiments):
    rig = slurm_rig
    space = {"i": {"_type": "choice", "_value": [0, 1, 2, 3]}, "sleep": {"_type": "choice", "_value": [12]}}
    exp = start(code_config(rig, tmp_path, SLEEPER, space, trial_concurrency=4, max_trial_number=4), experiments)

    def on_c1():
        running = {tid: a[-1] for tid, a in started(rig, exp.id).items()}
        return len(running) == 4 and [t for t, a in running.items() if a["node"] == "c1"]
    victims = wait_for(on_c1, timeout=60, what="4 trials started, some on c1")
    rig.node_down("c1")                                 # Slurm ends c1's jobs as NODE_FAIL
    assert wait_done(exp) == "DONE"
    jobs = {j.trialJobId: j for j in exp.list_trial_jobs()}
    assert sorted(j.status for j in jobs.values()) == ["SUCCEEDED"] * 4
    assert sorted(j.finalMetricData[0].data for j in jobs.values()) == [0, 1, 2, 3]
    attempts = started(rig, exp.id)
    for tid in victims:                                 # re-queued as the next attempt, finished on c2
        assert jobs[tid].attempt == 2, tid
        assert [a["node"] for a in attempts[tid]] == ["c1", "c2"]
    for tid in set(jobs) - set(victims):
        assert jobs[tid].attempt == 1
    events = rig.login_run(f"cat nni-remote/{exp.id}/trials/{victims[0]}/.agent/events.jsonl")
    assert "NODE_FAIL" in events
    exp.stop()
    assert our_jobs(rig, exp.id) == []


def test_pending_reason_stop_and_resume_reattach(slurm_rig, tmp_path, isolated_home, experiments, browser):
    rig = slurm_rig
    space = {"i": {"_type": "choice", "_value": list(range(6))}, "sleep": {"_type": "choice", "_value": [10]}}
    exp = start(code_config(rig, tmp_path, SLEEPER, space, trial_concurrency=6, max_trial_number=6,
                            training_service={"trialGpuNumber": 2}), experiments)

    def pending_and_running():   # 2 nodes x 2 GPUs: two trials run, four wait with Slurm's reason
        jobs = exp.list_trial_jobs()
        waiting = [j for j in jobs if j.status == "WAITING" and "pending (" in (j.message or "")]
        return len([j for j in jobs if j.status == "RUNNING"]) == 2 and len(waiting) == 4 and waiting
    waiting = wait_for(pending_and_running, timeout=60, what="2 running, 4 pending with a reason")
    assert any("Resources" in j.message or "Priority" in j.message for j in waiting)
    listing = subprocess.run([sys.executable, "-m", "nni_remote.cli", "trial", "ls", exp.id], capture_output=True,
                             text=True, timeout=60)
    assert "Slurm job" in listing.stdout and "pending" in listing.stdout, listing.stdout + listing.stderr
    tid = waiting[-1].trialJobId                        # the last to run: pending the longest
    tab = browser.new_page()                            # the portal's trial table shows the reason too
    try:
        tab.goto(f"http://127.0.0.1:{exp.port}/#/trials")
        row = tab.locator(f"#trials-table tr[data-trial='{tid}']")
        row.wait_for(timeout=30000)
        wait_for(lambda: "pending" in row.inner_text(), timeout=30, what="the pending reason in the portal")
        assert "Slurm job" in row.inner_text()
    finally:
        tab.close()
    script = rig.login_run(f"cat nni-remote/{exp.id}/trials/{tid}/.agent/run.sh")
    assert "#SBATCH --gres=gpu:2" in script and "#SBATCH --partition=debug" in script
    submitted = _stats(rig, exp.id)["calls"]["sbatch"]
    assert submitted == 6

    exp._proc.kill()                                    # SIGKILL the manager; jobs and the agent live on
    exp._proc.wait()
    exp.port = None
    assert len(our_jobs(rig, exp.id)) == 6
    again = Experiment.resume(exp.id, port=free_port(), wait_completion=False)
    experiments.append(again)
    assert wait_done(again, timeout=180) == "DONE"
    jobs = again.list_trial_jobs()
    assert len(jobs) == 6 and all(j.status == "SUCCEEDED" and j.attempt == 1 for j in jobs)
    assert _stats(rig, exp.id)["calls"]["sbatch"] == 6  # re-attached: nothing submitted again

    # stop() while trials are queued and running leaves no job of ours in squeue
    (tmp_path / "more").mkdir()
    more = start(code_config(rig, tmp_path / "more", SLEEPER, space, trial_concurrency=6, max_trial_number=6,
                             training_service={"cpusPerTrial": 2}), experiments)
    wait_for(lambda: len(our_jobs(rig, more.id)) == 6, timeout=60, what="6 jobs queued")
    more.stop()
    assert our_jobs(rig, more.id) == []


def _stats(rig, exp_id):
    return json.loads(rig.login_run(f"cat nni-remote/{exp_id}/agent/slurm-stats.json"))


def test_head_on_the_login_node_submits_with_local_sbatch(slurm_rig, isolated_home, experiments, monkeypatch):
    """No ``loginNode``: the agent is a local process calling sbatch; the experiment lives on the shared FS."""
    rig = slurm_rig
    monkeypatch.setenv("SLURM_CONF", rig.env()["SLURM_CONF"])       # as on a login node: sbatch finds the cluster
    shared = tempfile.mkdtemp(prefix="nnir-slurm-", dir="/var/tmp")  # compute nodes do not see this box's /tmp
    try:
        code = os.path.join(shared, "code")
        os.makedirs(code)
        with open(os.path.join(code, "trial.py"), "w") as f:
            f.write(textwrap.dedent(SLEEPER))
        space = {"i": {"_type": "choice", "_value": [0, 1, 2, 3]}, "sleep": {"_type": "choice", "_value": [1]}}
        config = ExperimentConfig(trial_command="python3 trial.py", trial_code_directory=code, trial_concurrency=4,
                                  max_trial_number=4, search_space=space, tuner={"name": "GridSearch"},
                                  experiment_working_directory=os.path.join(shared, "exps"),
                                  training_service={"platform": "slurm", "partition": "debug"})
        exp = start(config, experiments)
        assert wait_done(exp) == "DONE"
        jobs = exp.list_trial_jobs()
        assert sorted(j.finalMetricData[0].data for j in jobs) == [0, 1, 2, 3]
        agent_dir = os.path.join(exp.get_experiment_profile()["logDir"], "agents", "slurm")
        with open(os.path.join(agent_dir, "slurm-stats.json")) as f:
            assert json.load(f)["calls"]["sbatch"] == 4
        exp.stop()
        assert our_jobs(rig, exp.id) == []
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_options_the_cluster_refuses_fail_the_start_before_any_submission(slurm_rig, tmp_path, isolated_home,
                                                                          experiments):
    rig = slurm_rig
    space = {"i": {"_type": "choice", "_value": [0]}, "sleep": {"_type": "choice", "_value": [0]}}
    exp = start(code_config(rig, tmp_path, SLEEPER, space, trial_concurrency=1, max_trial_number=1,
                            training_service={"partition": "nosuch", "trialGpuNumber": 1}), experiments)
    assert wait_done(exp, timeout=60) == "ERROR"
    status = requests.get(f"http://127.0.0.1:{exp.port}/api/v1/nni/check-status", timeout=10).json()
    errors = " ".join(status["errors"])
    assert "refused the job options" in errors and "--partition=nosuch" in errors, errors
    assert "Invalid partition" in errors, errors                         # Slurm's own words
    assert "nni-" not in rig.squeue("-h", "-t", "all", "-o", "%j")      # nothing was submitted
