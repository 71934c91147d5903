"""Faults for real: a host power-cut, a network partition, a SIGKILLed manager."""
from __future__ import annotations

import json


from nni_remote import Experiment
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for
from tests.integration.remote.remote_helpers import (install_known_hosts, leftover, per_machine, remote_config,
                                                     rig_by_address, start, wait_done)


def running_on(exp, address):
    return [j for j in exp.list_trial_jobs() if j.status == "RUNNING" and j.machine == address]


def periodical_sequences(exp):
    out: dict[str, list[int]] = {}
    for trial_id, records in exp.get_job_metrics().items():
        out[trial_id] = sorted(m.sequence for m in records if m.type == "PERIODICAL")
    return out


def test_killed_host_trials_are_requeued_and_host_reused(rig_factory, tmp_path, isolated_home, experiments,
                                                         monkeypatch):
    monkeypatch.setenv("NNI_REMOTE_SUSPECT_AFTER", "2")
    monkeypatch.setenv("NNI_REMOTE_LOST_AFTER", "4")
    rig = rig_factory(3, logins=["key", "key", "key"])
    install_known_hosts(rig, str(isolated_home))
    machines = [per_machine(h.machine_config(), maxTrialNumber=2) for h in rig.hosts]
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "sleep": {"_type": "choice", "_value": [3]},
             "steps": {"_type": "choice", "_value": [3]}}
    exp = start(remote_config(tmp_path, machines, space=space, trial_concurrency=6, max_trial_number=12),
                experiments)
    victim = rig.hosts[2]
    doomed = wait_for(lambda: running_on(exp, victim.address), what="trials on the victim")
    rig.kill(victim)                           # power cut: link down first, then SIGKILL
    assert wait_done(exp, timeout=180) == "DONE"
    jobs = exp.list_trial_jobs()
    assert len(jobs) == 12 and sum(j.status == "SUCCEEDED" for j in jobs) == 12, \
        [(j.trialJobId, j.status, j.message) for j in jobs]
    by_id = {j.trialJobId: j for j in jobs}
    for job in doomed:                         # same trial, same parameters, finished elsewhere
        again = by_id[job.trialJobId]
        assert again.attempt >= 2 and again.machine != victim.address
        assert again.hyperParameters[0].parameters == job.hyperParameters[0].parameters
    assert exp.get_job_statistics() == [{"trialJobStatus": "SUCCEEDED", "trialJobNumber": 12}]

    rig.revive(victim)                         # it comes back: its agent is relaunched and used again
    exp.update_max_trial_number(30)
    wait_for(lambda: any(j.machine == victim.address and j.status == "SUCCEEDED" and j.attempt == 1
                         for j in exp.list_trial_jobs()), timeout=120, what="a trial on the revived host")


def test_partition_stores_every_metric_once(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(2, logins=["key", "key"])
    install_known_hosts(rig, str(isolated_home))
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "sleep": {"_type": "choice", "_value": [36]},
             "steps": {"_type": "choice", "_value": [72]}}
    machines = [per_machine(h.machine_config(), maxTrialNumber=1) for h in rig.hosts]
    exp = start(remote_config(tmp_path, machines, space=space, trial_concurrency=2, max_trial_number=2),
                experiments)
    victim = rig.hosts[0]
    wait_for(lambda: running_on(exp, victim.address), what="a trial on the victim")
    wait_for(lambda: any(len(s) >= 2 for s in periodical_sequences(exp).values()), what="first metrics")
    def spooled() -> int:
        return len(rig.run_on(victim, "cat nni-remote/*/trials/*/.agent/events.jsonl").splitlines())
    rig.partition(victim)
    before = spooled()
    # 30 s of partition: the trial reports every 0.5 s, so 60 more events are spooled meanwhile
    wait_for(lambda: spooled() >= before + 60, timeout=90, interval=0.5, what="30 s of metrics spooled")
    rig.heal(victim)
    assert wait_done(exp, timeout=180) == "DONE"
    jobs = exp.list_trial_jobs()
    assert all(j.status == "SUCCEEDED" and j.attempt == 1 for j in jobs), [(j.status, j.message) for j in jobs]
    for trial_id, seqs in periodical_sequences(exp).items():
        assert seqs == list(range(72)), trial_id   # all there, none twice


def test_sigkill_manager_reattaches_remote_trials(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(3)
    install_known_hosts(rig, str(isolated_home))
    machines = [per_machine(h.machine_config(), maxTrialNumber=1) for h in rig.hosts]
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "sleep": {"_type": "choice", "_value": [8]},
             "steps": {"_type": "choice", "_value": [8]}}
    exp = start(remote_config(tmp_path, machines, space=space, trial_concurrency=3, max_trial_number=4),
                experiments)
    running = wait_for(lambda: len([j for j in exp.list_trial_jobs() if j.status == "RUNNING"]) == 3
                       and [j for j in exp.list_trial_jobs() if j.status == "RUNNING"], what="3 running")
    by_addr = rig_by_address(rig)
    pids = {}
    for job in running:
        host = by_addr[job.machine]
        pids[job.trialJobId] = json.loads(rig.run_on(
            host, f"cat nni-remote/{exp.id}/trials/{job.trialJobId}/.agent/pid.json"))["pid"]
    exp._proc.kill()                            # SIGKILL the manager: tunnels and connections die with it
    exp._proc.wait()
    exp.port = None

    again = Experiment.resume(exp.id, port=free_port(), wait_completion=False)
    experiments.append(again)
    assert wait_done(again, timeout=180) == "DONE"
    jobs = {j.trialJobId: j for j in again.list_trial_jobs()}
    assert len(jobs) == 4 and all(j.status == "SUCCEEDED" for j in jobs.values())
    for trial_id, pid in pids.items():          # re-attached: the same process finished the trial
        host = by_addr[jobs[trial_id].machine]
        again_pid = json.loads(rig.run_on(host, f"cat nni-remote/{exp.id}/trials/{trial_id}/.agent/pid.json"))
        assert again_pid["pid"] == pid and jobs[trial_id].attempt == 1
        assert rig.run_on(host, f"cat nni-remote/{exp.id}/trials/{trial_id}/trial.stdout").count("\n") >= 0
    for trial_id, seqs in periodical_sequences(again).items():
        assert seqs == list(range(8)), trial_id
    again.stop()
    for host in rig.hosts:
        assert leftover(rig, host) == [], host.name
