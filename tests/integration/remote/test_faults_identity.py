"""Faults for real, part 1: recycled pids, daemonising trials, a full disk, the rig's own status.

A recycled pid is simulated as the issue asks: as root in the host's PID
namespace, ``ns_last_pid`` is set so that the next process gets the pid of a
finished trial (or of a dead agent), owned by the same unix user.
"""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from tests.integration.local.conftest import wait_for
from tests.integration.remote.conftest import sshrig
from tests.integration.remote.fault_kit import (check_metrics, leftover_sleeps, machine_state, sent_code_dir,
                                                wait_state)
from tests.integration.remote.remote_helpers import install_known_hosts, per_machine, remote_config, start, wait_done


def decoy_with_pid(rig, host, pid: int) -> bool:
    """Start ``sleep 600`` as the host's user with exactly ``pid`` (in the host's PID namespace); True if it got it."""
    for _ in range(20):
        rig.run_on(host, f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid; "
                         f"setpriv --reuid={host.uid} --regid={host.gid} --clear-groups "
                         f"setsid sleep 600 </dev/null >/dev/null 2>&1 &", as_root=True)
        out = rig.run_on(host, "ps -o pid=,args= -u " + host.user)
        if any(line.split(None, 1) == [str(pid), "sleep 600"] for line in (x.strip() for x in out.splitlines())):
            return True
    return False


def decoy_alive(rig, host, pid: int) -> bool:
    out = rig.run_on(host, f"ps -o args= -p {pid} || true")
    return "sleep 600" in out


def test_recycled_pids_are_neither_killed_nor_trusted(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(1, logins=["key"])
    host = rig.hosts[0]
    install_known_hosts(rig, str(isolated_home))
    ts_extra = {"unreachableAfter": "3s", "giveUpAfter": "10m"}
    config = remote_config(tmp_path, [per_machine(host.machine_config())], trial_concurrency=1, max_trial_number=2,
                           trial_code_directory=sent_code_dir(tmp_path),
                           search_space={"x": {"_type": "choice", "_value": [1, 2, 3]},
                                         "steps": {"_type": "choice", "_value": [3]}})
    for key, value in ts_extra.items():
        setattr(config.training_service, {"unreachableAfter": "unreachable_after",
                                          "giveUpAfter": "give_up_after"}[key], value)
    exp = start(config, experiments)
    assert wait_done(exp) == "DONE"
    base = f"nni-remote/{exp.id}"
    trial = exp.list_trial_jobs()[0].trialJobId
    trial_pid = json.loads(rig.run_on(host, f"cat {base}/trials/{trial}/.agent/pid.json"))["pid"]
    agent_pid = json.loads(rig.run_on(host, f"cat {base}/agent/agent.pid"))["pid"]

    # 1. the agent dies and its pid goes to an unrelated process of the same user: not trusted
    rig.run_on(host, f"kill -KILL {agent_pid}")
    assert decoy_with_pid(rig, host, agent_pid), "could not place a process on the agent's pid"
    wait_state(exp, host.address, ("unreachable",), timeout=60)
    wait_for(lambda: json.loads(rig.run_on(host, f"cat {base}/agent/agent.pid"))["pid"] != agent_pid,
             timeout=90, what="a relaunched agent")
    wait_state(exp, host.address, ("ready",), timeout=60)
    exp.update_max_trial_number(3)
    assert wait_done(exp) == "DONE"
    check_metrics(exp, rig, 3)
    assert decoy_alive(rig, host, agent_pid)

    # 2. a finished trial's pid now belongs to someone else: stop never signals it
    if not decoy_alive(rig, host, trial_pid):
        assert decoy_with_pid(rig, host, trial_pid), "could not place a process on the trial's pid"
    exp.stop()
    assert decoy_alive(rig, host, trial_pid), "stop killed an unrelated process that reused a finished trial's pid"
    assert decoy_alive(rig, host, agent_pid)
    assert leftover_sleeps(rig, host) == [], "stop left a process of the experiment"


def test_daemonising_trials_do_not_survive_stop(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(2, logins=["key", "key"])
    install_known_hosts(rig, str(isolated_home))
    machines = [per_machine(h.machine_config(), maxTrialNumber=2) for h in rig.hosts]
    space = {"x": {"_type": "choice", "_value": [1]}, "daemon": {"_type": "randint", "_value": [1, 999]},
             "steps": {"_type": "choice", "_value": [120]}, "sleep": {"_type": "choice", "_value": [120]}}
    exp = start(remote_config(tmp_path, machines, trial_concurrency=4, max_trial_number=4, search_space=space,
                              trial_code_directory=sent_code_dir(tmp_path)), experiments)

    def daemons() -> int:
        return sum("sleep 7" in line for h in rig.hosts for line in leftover_sleeps(rig, h))
    wait_for(lambda: daemons() >= 4, timeout=90, what="4 daemonised sleeps")
    exp.stop()
    for h in rig.hosts:
        assert leftover_sleeps(rig, h) == [], h.name


def test_full_disk_upload_is_clear_and_recovers(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(2, logins=["key", "key"])
    install_known_hosts(rig, str(isolated_home))
    full = rig.hosts[1]
    cache = f"{full.home}/.nni-remote"
    rig.run_on(full, f"mkdir -p {cache} && mount -t tmpfs -o size=64k,mode=0700,uid={full.uid},gid={full.gid} "
                     f"nrfull {cache} && head -c 56k /dev/zero > {cache}/filler", as_root=True)
    try:
        machines = [per_machine(h.machine_config(), maxTrialNumber=1) for h in rig.hosts]
        space = {"x": {"_type": "uniform", "_value": [0, 1]}, "steps": {"_type": "choice", "_value": [2]},
                 "sleep": {"_type": "choice", "_value": [1]}}
        exp = start(remote_config(tmp_path, machines, trial_concurrency=2, max_trial_number=6, search_space=space,
                                  trial_code_directory=sent_code_dir(tmp_path)), experiments)
        wait_state(exp, full.address, ("failed",), timeout=60)
        error = machine_state(exp, full.address)["error"]
        assert "no space left on ~/.nni-remote (needs" in error and "MB free" in error, error
        listing = rig.run_on(full, f"ls -a {cache}")
        assert "agent-" not in listing, f"a partial upload was left in the cache: {listing}"
        rig.run_on(full, f"rm -f {cache}/filler")   # space is freed: the next try just works
        wait_state(exp, full.address, ("ready",), timeout=90)
        assert machine_state(exp, full.address)["error"] is None
        exp.update_max_trial_number(10)
        wait_for(lambda: any(j.machine == full.address and j.status == "SUCCEEDED" for j in exp.list_trial_jobs()),
                 timeout=90, what="a trial on the recovered host")
        assert wait_done(exp) == "DONE"
        check_metrics(exp, rig, 10)
    finally:
        rig.run_on(full, f"umount -l {cache} || true", as_root=True, check=False)


def test_rig_status_reports_a_dead_sshd_as_down(rig_factory):
    rig = rig_factory(1, logins=["key"])
    host = rig.hosts[0]

    def status() -> str:
        out = io.StringIO()
        with redirect_stdout(out):
            sshrig._print_hosts(sshrig.SshRig.load(rig.workdir))
        return out.getvalue()
    assert f"{host.address}:{host.port}  up" in status()
    assert sshrig._kill_verified(host.sshd_pid, lambda p: sshrig._sshd_is_ours(host))
    wait_for(lambda: "down (its sshd is not running)" in status(), timeout=30, what="status to say down")


def test_unwritable_home_names_the_cause_and_recovers(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(2, logins=["key", "key"])
    install_known_hosts(rig, str(isolated_home))
    locked = rig.hosts[1]
    rig.run_on(locked, "chmod 0500 \"$HOME\"")
    machines = [per_machine(h.machine_config(), maxTrialNumber=1) for h in rig.hosts]
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "steps": {"_type": "choice", "_value": [2]}}
    exp = start(remote_config(tmp_path, machines, trial_concurrency=2, max_trial_number=4, search_space=space,
                              trial_code_directory=sent_code_dir(tmp_path)), experiments)
    wait_state(exp, locked.address, ("failed",), timeout=60)
    error = machine_state(exp, locked.address)["error"]
    assert "cannot create" in error and "Permission denied" in error, error
    rig.run_on(locked, "chmod 0700 \"$HOME\"")
    wait_state(exp, locked.address, ("ready",), timeout=90)
    assert machine_state(exp, locked.address)["error"] is None     # cleared once the machine works
    exp.update_max_trial_number(8)
    assert wait_done(exp, timeout=120) == "DONE"
    check_metrics(exp, rig, 8)
