"""Remote operations: killing a trial's whole process tree; draining a machine whose trials fail at start-up."""
from __future__ import annotations


from tests.integration.local.conftest import wait_for
from tests.integration.remote.remote_helpers import install_known_hosts, per_machine, remote_config, start, wait_done

TREE_TRIAL = '''
import os, subprocess, time
import nni
p = nni.get_next_parameter()
if os.path.exists(os.path.expanduser("~/.broken")):
    raise SystemExit("this host lacks a dependency")
child = subprocess.Popen(["sleep", "1000"])
time.sleep(p.get("sleep", 0))
child.kill()
nni.report_final_result(p["x"])
'''


def test_kill_trial_kills_its_process_tree(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(1, logins=["key"])
    host = rig.hosts[0]
    install_known_hosts(rig, str(isolated_home))
    config = remote_config(tmp_path, [host.machine_config()], trial_concurrency=1, max_trial_number=1,
                           space={"x": {"_type": "uniform", "_value": [0, 1]},
                                  "sleep": {"_type": "choice", "_value": [600]}})
    (tmp_path / "code" / "trial.py").write_text(TREE_TRIAL)
    exp = start(config, experiments)
    wait_for(lambda: "sleep 1000" in rig.run_on(host, f"ps -u {host.user} -o args="), what="the trial's child")
    job = exp.list_trial_jobs()[0]
    exp.kill_trial_job(job.trialJobId)
    wait_for(lambda: exp.get_trial_job(job.trialJobId).status == "USER_CANCELED", what="USER_CANCELED")
    assert "sleep 1000" not in rig.run_on(host, f"ps -u {host.user} -o args=")
    assert "trial.py" not in rig.run_on(host, f"ps -u {host.user} -o args=")
    assert wait_done(exp) == "DONE"


def test_machine_failing_at_startup_is_drained(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(2, logins=["key", "key"])
    bad, good = rig.hosts
    rig.run_on(bad, "touch ~/.broken")
    install_known_hosts(rig, str(isolated_home))
    machines = [per_machine(h.machine_config(), maxTrialNumber=1) for h in rig.hosts]
    config = remote_config(tmp_path, machines, trial_concurrency=2, max_trial_number=16,
                           space={"x": {"_type": "uniform", "_value": [0, 1]},
                                  "sleep": {"_type": "choice", "_value": [0.2]}})
    (tmp_path / "code" / "trial.py").write_text(TREE_TRIAL)
    exp = start(config, experiments)
    assert wait_done(exp) == "DONE"
    errors = exp._rest.status()["errors"]
    assert any(e.startswith(f"{bad.address}: drained") and "re-enable" in e for e in errors), errors
    jobs = exp.list_trial_jobs()
    failed_on_bad = [j for j in jobs if j.machine == bad.address]
    assert all(j.status == "FAILED" for j in failed_on_bad) and len(failed_on_bad) >= 3
    last = sorted(jobs, key=lambda j: j.sequenceId)[-6:]
    assert all(j.machine == good.address for j in last), "trials still went to the drained machine"
    assert all(j.status == "SUCCEEDED" for j in jobs if j.machine == good.address)
