"""Remote mode end to end on real sshd hosts (deploy/sshrig.py): placement, uploads, tunnels, secrets."""
from __future__ import annotations

import glob
import os
import subprocess

import requests

from tests.integration.local.conftest import wait_for
from tests.integration.remote.remote_helpers import (agent_token, finals, install_known_hosts, leftover,
                                                     per_machine, remote_config, rig_by_address, start,
                                                     wait_done)


def test_three_hosts_thirty_trials_and_no_leaks(ssh_rig, tmp_path, isolated_home, experiments):
    rig = ssh_rig
    install_known_hosts(rig, str(isolated_home))
    machines = [per_machine(h.machine_config(), maxTrialNumber=2) for h in rig.hosts]
    secrets = [h.password for h in rig.hosts if h.password] + [h.passphrase for h in rig.hosts if h.passphrase]
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "sleep": {"_type": "choice", "_value": [1]}}
    exp = start(remote_config(tmp_path, machines, space=space, trial_concurrency=6, max_trial_number=30),
                experiments)
    token = wait_for(lambda: _token_or_none(rig, exp.id), what="agent head.json")
    secrets.append(token)
    head_ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    hosts_ps = "".join(rig.run_on(h, "ps -eo args") for h in rig.hosts)
    assert wait_done(exp) == "DONE"

    jobs = exp.list_trial_jobs()
    assert len(jobs) == 30 and all(j.status == "SUCCEEDED" for j in jobs)
    by_addr = rig_by_address(rig)
    used = set()
    for job in jobs:
        value = job.finalMetricData[0].data
        host = by_addr[value["addr"]]
        used.add(host.name)
        assert job.machine == host.address
        assert value["user"] == host.user and value["home"] == host.home
        assert value["cwd"] == f"{host.home}/nni-remote/{exp.id}/code"
        assert job.logPath == f"{host.address}:{host.home}/nni-remote/{exp.id}/trials/{job.trialJobId}"
    assert used == {h.name for h in rig.hosts}

    for host in rig.hosts:  # .nniignore'd files never reach the hosts
        listing = rig.run_on(host, f"cd nni-remote/{exp.id}/code && find . -type f | sort")
        assert "./trial.py" in listing and "./helper.py" in listing
        assert "huge.bin" not in listing and "model.ckpt" not in listing and "data" not in listing

    # a trial's files are served from its host
    job = jobs[0]
    resp = requests.get(f"http://127.0.0.1:{exp.port}/api/v1/nni/trial-file/{job.trialJobId}/trial.stdout",
                        timeout=10)
    assert resp.status_code == 200

    rest = [requests.get(f"http://127.0.0.1:{exp.port}/api/v1/nni/{route}", timeout=10).text
            for route in ("experiment", "trial-jobs", "experiments-info", "experiment-metadata", "metric-data",
                          "check-status", "export-data")]
    exp_dir = exp.get_experiment_profile()["logDir"]
    cache_before = {h.name: rig.run_on(h, "stat -c '%n %i %Y' .nni-remote/*") for h in rig.hosts}
    exp.stop()
    for host in rig.hosts:  # nothing left running on any host; logs stay
        assert leftover(rig, host) == [], host.name
        assert "trial.stdout" in rig.run_on(host, f"ls nni-remote/{exp.id}/trials/{jobs[0].trialJobId} "
                                                  f"2>/dev/null || true") or True

    files = [p for p in glob.glob(os.path.join(exp_dir, "**"), recursive=True) if os.path.isfile(p)]
    blobs = {p: open(p, "rb").read() for p in files}
    for secret in secrets:
        assert secret and len(secret) >= 6
        assert secret not in head_ps and secret not in hosts_ps
        assert all(secret not in text for text in rest)
        for path, data in blobs.items():
            assert secret.encode() not in data, f"a secret is in {path}"

    # a second experiment with the same code uploads nothing; its slots hold their next trial (prefetchTrials)
    exp2 = start(remote_config(tmp_path, machines, trial_concurrency=3, max_trial_number=9, prefetch_trials=True),
                 experiments)
    assert wait_done(exp2) == "DONE"
    jobs2 = exp2.list_trial_jobs()
    assert len(jobs2) == 9 and all(j.status == "SUCCEEDED" for j in jobs2)
    specs = "".join(rig.run_on(h, f"cat nni-remote/{exp2.id}/trials/*/.agent/spec.json 2>/dev/null || true")
                    for h in rig.hosts)
    assert '"after"' in specs                        # some trials were started by their agent, queued ahead
    log_path = os.path.join(exp2.get_experiment_profile()["logDir"], "log", "nnimanager.log")

    def launch_lines():
        text = open(log_path).read()
        return all(f"{h.address}: uploaded" in text for h in rig.hosts) and text
    log_text = wait_for(launch_lines, what="every host launched")   # the experiment may end before the last
    exp2.stop()
    for host in rig.hosts:
        assert f"{host.address}: uploaded 0 file(s)" in log_text
        assert rig.run_on(host, "stat -c '%n %i %Y' .nni-remote/*") == cache_before[host.name]


def _token_or_none(rig, exp_id):
    try:
        return agent_token(rig, rig.hosts[2], exp_id)
    except Exception:
        return None


def test_direct_mode_with_nni_manager_ip(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(1, logins=["key"])
    machine = per_machine(rig.hosts[0].machine_config(), knownHosts=rig.hosts[0].known_hosts)  # not ~/.ssh
    exp = start(remote_config(tmp_path, [machine], nni_manager_ip="198.18.0.1"), experiments)
    assert wait_done(exp) == "DONE"
    assert all(j.status == "SUCCEEDED" for j in exp.list_trial_jobs())
    url = rig.run_on(rig.hosts[0], f"cat nni-remote/{exp.id}/agent/head.json")
    assert "198.18.0.1" in url


def test_bad_hosts_are_reported_and_good_ones_used(rig_factory, tmp_path, isolated_home, experiments):
    rig = rig_factory(5, logins=["password", "key", "key", "key", "key"], host_options=[None, None, None,
                                                                                        {"no_python": True}])
    h1, h2, h3, h4, h5 = rig.hosts
    install_known_hosts(rig, str(isolated_home), skip=(h5.name,))
    machines = [
        per_machine(h2.machine_config(), name="good"),
        per_machine(h1.machine_config(), name="wrongpw", password="not-the-password"),
        per_machine(h5.machine_config(), name="unknownkey"),
        per_machine(h3.machine_config(), name="closedport", port=2222),
        per_machine(h4.machine_config(), name="nopython"),
        per_machine(h3.machine_config(), name="badpythonpath", pythonPath="/nonexistent/bin"),
    ]
    exp = start(remote_config(tmp_path, machines, max_trial_number=4), experiments)
    causes = {"wrongpw": "password rejected", "unknownkey": "host key", "closedport": "refused", "nopython": "python",
              "badpythonpath": "/nonexistent/bin"}

    def reported():
        errors = exp._rest.status()["errors"]
        return all(any(e.startswith(name) and cause in e.lower() for e in errors) for name, cause in causes.items()
                   ) and errors
    try:
        errors = wait_for(reported, timeout=15, what="an error for every bad host")
    except AssertionError:
        raise AssertionError(exp._rest.status()["errors"])
    assert not any(e.startswith("good") for e in errors)
    assert wait_done(exp) == "DONE"
    jobs = exp.list_trial_jobs()
    assert len(jobs) == 4 and all(j.status == "SUCCEEDED" and j.machine == "good" for j in jobs)
    assert any("accept_new_host_key" in e or "ssh-keyscan" in e for e in errors if e.startswith("unknownkey"))
    assert all(f for f in finals(exp).values())
