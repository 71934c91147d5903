"""Faults for real, part 2: the two clocks (power cut, partition) and stop during a partition.

Clocks are shortened through the config (``unreachableAfter``, ``giveUpAfter``)
so the suite stays short; the properties are those of the defaults.
``benchmarks/faults.py`` prints the timings with the default clocks.
"""
from __future__ import annotations

import os
import time

from click.testing import CliRunner

from nni_remote.cli import main
from tests.integration.local.conftest import wait_for
from tests.integration.remote.fault_kit import check_metrics, leftover_sleeps, machine_state, sent_code_dir, wait_state
from tests.integration.remote.remote_helpers import install_known_hosts, per_machine, remote_config, start, wait_done


def fault_config(tmp_path, rig, *, concurrency, trials, steps, sleep, slots=1, **clocks):
    machines = [per_machine(h.machine_config(), maxTrialNumber=slots) for h in rig.hosts]
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "steps": {"_type": "choice", "_value": [steps]},
             "sleep": {"_type": "choice", "_value": [sleep]}}
    config = remote_config(tmp_path, machines, trial_concurrency=concurrency, max_trial_number=trials,
                           search_space=space, trial_code_directory=sent_code_dir(tmp_path))
    for name, value in clocks.items():
        setattr(config.training_service, name, value)
    return config


def running_on(exp, address):
    return [j for j in exp.list_trial_jobs() if j.status == "RUNNING" and j.machine == address]


def test_power_cut_is_noticed_and_its_trials_run_elsewhere(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(3, logins=["key", "key", "key"])
    install_known_hosts(rig, str(isolated_home))
    exp = start(fault_config(tmp_path, rig, concurrency=3, trials=6, steps=12, sleep=12, slots=2,
                             give_up_after="60s"), experiments)
    wait_for(lambda: len({j.machine for j in exp.list_trial_jobs() if j.status == "RUNNING"}) == 3,
             timeout=90, what="spread: one running trial on each host")
    victim = rig.hosts[0]
    doomed = running_on(exp, victim.address)
    cut = time.time()
    rig.kill(victim)
    noticed = wait_state(exp, victim.address, ("unreachable",), timeout=60)
    jobs = {j.trialJobId: j for j in exp.list_trial_jobs()}
    assert all("unreachable" in (jobs[j.trialJobId].message or "") or jobs[j.trialJobId].status != "RUNNING"
               for j in doomed), [jobs[j.trialJobId].message for j in doomed]
    assert (machine_state(exp, victim.address) or {})["state"] == "unreachable"   # not given up yet
    print(f"power cut noticed after {noticed - cut:.1f} s")
    assert wait_done(exp, timeout=240) == "DONE"
    final = check_metrics(exp, rig, 6)
    for job in doomed:                   # finished by its spare on another host, before the give-up clock
        assert final[job.trialJobId].machine != victim.address and final[job.trialJobId].attempt >= 2


def test_partition_shorter_than_give_up_costs_no_rerun(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(3, logins=["key", "key", "key"])
    install_known_hosts(rig, str(isolated_home))
    exp = start(fault_config(tmp_path, rig, concurrency=2, trials=2, steps=40, sleep=28,
                             unreachable_after="3s", give_up_after="120s"), experiments)
    wait_for(lambda: len([j for j in exp.list_trial_jobs() if j.status == "RUNNING"]) == 2, timeout=90,
             what="2 running trials")
    victim_job = exp.list_trial_jobs()[0]
    victim = next(h for h in rig.hosts if h.address == victim_job.machine)
    rig.partition(victim)
    try:
        wait_state(exp, victim.address, ("unreachable",), timeout=60)
        wait_for(lambda: "also runs on" in (exp.get_trial_job(victim_job.trialJobId).message or ""),
                 timeout=60, what="a spare attempt elsewhere")
    finally:
        rig.heal(victim)
    wait_state(exp, victim.address, ("ready",), timeout=90)
    assert wait_done(exp, timeout=240) == "DONE"
    final = check_metrics(exp, rig, 2)
    assert final[victim_job.trialJobId].attempt == 1, "the original attempt should have finished first"
    assert final[victim_job.trialJobId].machine == victim.address
    for h in rig.hosts:                  # the losing spare was cancelled, not left running
        wait_for(lambda: not [x for x in leftover_sleeps(rig, h) if "trial.py" in x], timeout=30,
                 what=f"no trial left on {h.name}")


def test_stop_during_partition_is_finished_after_heal(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(2, logins=["key", "key"])
    install_known_hosts(rig, str(isolated_home))
    exp = start(fault_config(tmp_path, rig, concurrency=2, trials=2, steps=100, sleep=300,
                             unreachable_after="3s"), experiments)
    wait_for(lambda: len({j.machine for j in exp.list_trial_jobs() if j.status == "RUNNING"}) == 2, timeout=90,
             what="a running trial on each host")
    victim = rig.hosts[1]
    exp_dir = exp.get_experiment_profile()["logDir"]
    rig.partition(victim)
    try:
        runner = CliRunner()
        result = runner.invoke(main, ["stop", exp.id])
        assert result.exit_code == 6, result.output
        assert victim.address in result.output and "cleanup pending" in result.output
        assert leftover_sleeps(rig, rig.hosts[0]) == []
        assert [x for x in leftover_sleeps(rig, victim) if "trial.py" in x], "the partitioned host's trial runs on"
    finally:
        rig.heal(victim)
    result = CliRunner().invoke(main, ["stop", exp.id])        # any later command finishes the cleanup
    assert result.exit_code == 0, result.output
    assert leftover_sleeps(rig, victim) == []
    assert not os.path.exists(os.path.join(exp_dir, "cleanup-pending.json"))
