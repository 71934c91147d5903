"""The compose rig for real: deploy/README.md's flow, an experiment on 3 worker containers, a killed worker.

The test runs what a user runs (``deploy/dockerrig.py up``, ``nni-remote create --config``,
``deploy/dockerrig.py kill``/``down``) against a real Docker engine, and checks that nothing the
rig created is left on the engine afterwards.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from nni_remote import Experiment
from tests.conftest import free_port
from nni_remote.services.ssh import SshConnection, SshTarget
from tests.integration.docker.conftest import REPO, dockerrig
from tests.integration.local.conftest import wait_for

TRIAL = textwrap.dedent('''
    import getpass, socket, time
    import nni
    p = nni.get_next_parameter()
    for i in range(4):
        nni.report_intermediate_result(i)
        time.sleep(float(p["sleep"]) / 4)
    nni.report_final_result({"default": p["x"], "user": getpass.getuser(), "host": socket.gethostname()})
''')


def step(t0: float, what: str) -> None:
    print(f"[{time.monotonic() - t0:6.1f} s] {what}", flush=True)  # shown with -s: where the time goes


def run(argv: list[str], env: dict, timeout: float = 900) -> str:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, f"{argv} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def leftovers(engine_env: dict, project: str) -> list[str]:
    """What of the rig's project is still on the engine: containers, networks, volumes, its image."""
    found = []
    label = f"label=com.docker.compose.project={project}"
    for kind in (["ps", "-aq"], ["network", "ls", "-q"], ["volume", "ls", "-q"]):
        out = subprocess.run(["docker", *kind, "--filter", label], env=engine_env, capture_output=True, text=True,
                             timeout=60).stdout.split()
        found += [f"{kind[0]} {x}" for x in out]
    if subprocess.run(["docker", "image", "inspect", f"nni-remote-worker:{project}"], env=engine_env,
                      capture_output=True, timeout=60).returncode == 0:
        found.append(f"image nni-remote-worker:{project}")
    return found


@pytest.mark.timeout(900)
def test_readme_flow_experiment_survives_a_killed_worker(docker_engine, worker_base, tmp_path, isolated_home,
                                                         experiments):
    env = dict(docker_engine.env, PYTHONPATH=REPO, HOME=str(isolated_home),
               NNI_REMOTE_SUSPECT_AFTER="2", NNI_REMOTE_LOST_AFTER="4")  # lost-host detection in seconds
    workdir = tmp_path / "rig"
    rig_cli = [sys.executable, os.path.join(REPO, "deploy", "dockerrig.py")]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(rig_cli + ["up", "3", "--workdir", str(workdir)], env=env, capture_output=True,
                              text=True, timeout=900, cwd=REPO)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        print(proc.stderr, end="")
        step(t0, "rig up")
        state = json.loads((workdir / "state.json").read_text())
        workers = state["workers"]
        assert len(workers) == 3 and all(w["address"].startswith("198.18.") for w in workers), workers

        # the README's config, edited as a user would: longer trials, more of them, 2 at a time per worker
        config = yaml.safe_load((workdir / "config.yml").read_text())
        code = tmp_path / "code"
        code.mkdir()
        (code / "trial.py").write_text(TRIAL)
        config.update(trialCodeDirectory=str(code), trialConcurrency=6, maxTrialNumber=12,
                      experimentWorkingDirectory=str(tmp_path / "exps"),
                      searchSpace={"x": {"_type": "uniform", "_value": [0, 1]},
                                   "sleep": {"_type": "choice", "_value": [4]}})
        for machine in config["trainingService"]["machineList"]:
            machine["maxTrialNumber"] = 2
        (tmp_path / "config.yml").write_text(yaml.safe_dump(config))

        port = free_port()
        run([sys.executable, "-m", "nni_remote.cli", "create", "--config", str(tmp_path / "config.yml"),
             "--port", str(port)], env)
        step(t0, "experiment created")
        exp = Experiment.connect(port)
        experiments.append(exp)
        hosts = [w["host"] for w in workers]
        victim = workers[2]
        doomed = wait_for(lambda: [j for j in exp.list_trial_jobs()
                                   if j.status == "RUNNING" and j.machine == victim["host"]],
                          timeout=240, what="trials running on worker 3")
        run(rig_cli + ["kill", "3", "--workdir", str(workdir)], env)     # docker kill, mid-trial
        step(t0, f"worker 3 killed with {len(doomed)} trial(s) running")

        status = wait_for(lambda: exp.get_status() in ("DONE", "ERROR") and exp.get_status(), timeout=300,
                          interval=0.5, what="the experiment to end")
        step(t0, f"experiment {status}")
        jobs = exp.list_trial_jobs()
        assert status == "DONE", [(j.trialJobId, j.status, j.message) for j in jobs]
        assert len(jobs) == 12 and sum(j.status == "SUCCEEDED" for j in jobs) == 12, \
            [(j.trialJobId, j.status, j.machine, j.message) for j in jobs]
        by_id = {j.trialJobId: j for j in jobs}
        for job in doomed:  # re-queued: same trial, same parameters, finished on another worker
            again = by_id[job.trialJobId]
            assert again.attempt >= 2 and again.machine != victim["host"]
            assert again.hyperParameters[0].parameters == job.hyperParameters[0].parameters
        finals = [j.finalMetricData[0].data for j in jobs]
        finals = [json.loads(f) if isinstance(f, str) else f for f in finals]
        assert {f["user"] for f in finals} == {"nni"}             # the worker's non-root user
        ran_on = {j.machine for j in jobs} | {j.machine for j in doomed}
        assert ran_on == set(hosts), (ran_on, hosts)              # every worker ran trials
        assert len({f["host"] for f in finals}) >= 2
        exp.stop()

        # the other faults, through the same CLI: a frozen host, a partition, and the killed one back
        def answers(w: dict) -> bool:
            return dockerrig._ssh_banner(w["host"], w["port"], timeout=3)

        run(rig_cli + ["pause", "1", "--workdir", str(workdir)], env)
        run(rig_cli + ["partition", "2", "--workdir", str(workdir)], env)
        assert not answers(workers[0]) and not answers(workers[1])
        for i in ("1", "3"):
            run(rig_cli + ["restart", i, "--workdir", str(workdir)], env)
        run(rig_cli + ["heal", "2", "--workdir", str(workdir)], env)
        assert wait_for(lambda: all(answers(w) for w in workers), timeout=60, what="every worker back")
        now = {w["index"]: w for w in json.loads((workdir / "state.json").read_text())["workers"]}
        reach = [(w["host"], w["port"]) for w in (workers[0], victim)]  # same address and host key as before
        reach.append(("127.0.0.1", now[2]["published_port"]))             # the Docker Desktop way in
        for host, port in reach:
            target = SshTarget(host=host, port=port, user="nni", key_file=str(workdir / "keys/id_ed25519"),
                               known_hosts=str(workdir / "known_hosts"))
            with SshConnection(target) as conn:
                assert conn.run("id -un").stdout.strip() == "nni"
        step(t0, "pause, partition, restart and heal checked")
    finally:
        project = None
        if (workdir / "state.json").exists():
            project = json.loads((workdir / "state.json").read_text())["project"]
            subprocess.run(rig_cli + ["down", "--workdir", str(workdir)], env=env, capture_output=True, timeout=300)
            step(t0, "rig down")
    assert project is not None
    assert leftovers(docker_engine.env, project) == []
    assert not (workdir / "state.json").exists() and not (workdir / "keys").exists()
