"""The REST API, the portal and the experiment directory on a shared head node (docs/security.md).

A second unix user of the head (``stranger``) is refused everything but the bare
status, while the experiment's own user needs no token; Host, Origin and
Content-Type are checked; the experiment directory is the user's only; trials
cannot make the server serve a link or block on a FIFO.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from nni_remote import Experiment, ExperimentConfig
from nni_remote.errors import ConfigError
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for
from tests.integration.security.conftest import stranger_http

PLANTING_TRIAL = textwrap.dedent('''
    import os
    import nni
    out = os.environ["NNI_OUTPUT_DIR"]
    os.symlink("/etc/shadow", os.path.join(out, "shadow"))
    os.symlink("/proc/%d/environ" % os.getppid(), os.path.join(out, "environ"))
    os.symlink(os.path.join(out, "..", "..", ".portal-token"), os.path.join(out, "token"))
    os.mkfifo(os.path.join(out, "pipe"))
    print("planted", flush=True)
    nni.get_next_parameter()
    nni.report_final_result(1.0)
''')


def _start(workdir: str, code: str, experiments: list) -> Experiment:
    os.makedirs(code, exist_ok=True)
    with open(os.path.join(code, "trial.py"), "w") as f:
        f.write(PLANTING_TRIAL)
    config = ExperimentConfig(trial_command=f"{sys.executable} trial.py", trial_code_directory=code,
                              trial_concurrency=1, max_trial_number=1, experiment_working_directory=workdir,
                              search_space={"x": {"_type": "choice", "_value": [1]}}, tuner={"name": "Random"},
                              training_service={"platform": "local"})
    exp = Experiment(config)
    experiments.append(exp)
    exp.start(free_port())
    wait_for(lambda: exp.get_status() == "DONE", 120, what="the planting trial to finish")
    return exp


def test_another_user_of_the_head_is_refused_the_owner_needs_no_token(stranger, open_workdir, experiments,
                                                                        isolated_home, tmp_path):
    exp = _start(os.path.join(open_workdir, "exps"), str(tmp_path / "code"), experiments)
    base = f"http://127.0.0.1:{exp.port}"
    exp_dir = os.path.join(open_workdir, "exps", exp.id)
    # the experiment's own user: no token, nothing to configure (NNI's client works the same way)
    assert requests.get(base + "/api/v1/nni/experiment").json()["id"] == exp.id
    assert requests.get(base + "/").status_code == 200
    # another user of the same machine, on the same loopback: nothing but the bare status
    for method, route, body in (("GET", "/api/v1/nni/experiment", None), ("GET", "/api/v1/nni/trial-jobs", None),
                                ("GET", "/", None), ("GET", "/api/v1/nni-remote/overview", None),
                                ("PUT", "/api/v1/nni/experiment?update_type=MAX_TRIAL_NUM",
                                 '{"params": {"maxTrialNumber": 99}}'),
                                ("DELETE", "/api/v1/nni/experiment", None), ("GET", "/logs/nnimanager.log", None)):
        status, text = stranger_http(stranger, method, base + route, body=body,
                                     headers={"Content-Type": "application/json"} if body else {})
        assert status == 401, (method, route, status, text)
        assert exp_dir not in text and open_workdir not in text          # no absolute token path in a 401
    status, text = stranger_http(stranger, "GET", base + "/api/v1/nni/check-status")
    assert status == 200 and json.loads(text)["errors"] == [] and exp_dir not in text
    assert exp.get_status() == "DONE" and requests.get(base + "/api/v1/nni/experiment").json()[
        "params"]["maxTrialNumber"] == 1
    # with the token (which only the owner can read) the stranger gets in, as from another machine
    token = open(os.path.join(exp_dir, ".portal-token")).read().strip()
    status, _ = stranger_http(stranger, "GET", base + "/api/v1/nni/experiment",
                              headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    # the experiment directory is the owner's only: 0700 directories, 0600 files, token in no readable file
    for root, dirs, files in os.walk(exp_dir):
        assert stat.S_IMODE(os.lstat(root).st_mode) & 0o077 == 0, root
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue                                                    # links have no mode of their own
            assert stat.S_IMODE(os.lstat(path).st_mode) & 0o077 == 0, path
    proc = stranger.run(["cat", os.path.join(exp_dir, "log", "nnictl_stdout.log")])
    assert proc.returncode != 0 and token.encode() not in proc.stdout


def test_trial_links_and_fifos_are_never_served(experiments, isolated_home, tmp_path):
    exp = _start(str(tmp_path / "exps"), str(tmp_path / "code"), experiments)
    base = f"http://127.0.0.1:{exp.port}"
    trial = exp.list_trial_jobs()[0].trialJobId
    tail = base + f"/api/v1/nni-remote/trials/{trial}/tail/"
    assert "planted" in requests.get(tail + "stdout").json()["text"]
    for name in ("shadow", "environ", "token", "pipe"):
        for url in (tail + name, base + f"/api/v1/nni/trial-file/{trial}/{name}"):
            resp = requests.get(url, timeout=30)
            assert resp.status_code == 403, (url, resp.status_code, resp.text[:200])
            assert "refused" in resp.json()["error"]
    listed = {f["name"] for f in requests.get(base + f"/api/v1/nni-remote/trials/{trial}/files").json()["files"]}
    assert "trial.stdout" in listed and not listed & {"shadow", "environ", "token", "pipe"}
    for bad in ("..%2F..%2F.portal-token", "%2E%2E"):
        assert requests.get(tail + bad).status_code in (400, 404)
    # many requests for the FIFO at once: each is refused (or, while every service slot is busy, told to come
    # back) at once; no WSGI thread is parked on it
    with ThreadPoolExecutor(max_workers=32) as pool:
        codes = list(pool.map(lambda _: requests.get(tail + "pipe", timeout=30).status_code, range(200)))
    assert set(codes) <= {403, 503} and 403 in codes, codes
    assert requests.get(base + "/api/v1/nni/check-status", timeout=10).status_code == 200


def test_host_origin_and_content_type(experiments, isolated_home, tmp_path):
    exp = _start(str(tmp_path / "exps"), str(tmp_path / "code"), experiments)
    base = f"http://127.0.0.1:{exp.port}"
    # DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 sends Host: evil.example
    rebound = requests.get(base + "/api/v1/nni/experiment", headers={"Host": f"evil.example:{exp.port}"})
    assert rebound.status_code == 403 and "NNI_REMOTE_ALLOW_HOSTS" in rebound.json()["error"]
    assert requests.delete(base + "/api/v1/nni/experiment", headers={"Host": f"evil.example:{exp.port}",
                                                                     "Origin": f"http://evil.example:{exp.port}"}
                           ).status_code == 403
    for host in (f"localhost:{exp.port}", f"127.0.0.1:{exp.port}", f"[::1]:{exp.port}"):
        assert requests.get(base + "/api/v1/nni/check-status", headers={"Host": host}).status_code == 200
    # another origin may not change anything; the manager's own pages may
    update = base + "/api/v1/nni/experiment?update_type=MAX_TRIAL_NUM"
    body = {"params": {"maxTrialNumber": 2}}
    for origin in ("http://evil.example", f"http://127.0.0.1:{exp.port + 1}", "null",
                   f"file://127.0.0.1:{exp.port}"):
        resp = requests.put(update, json=body, headers={"Origin": origin})
        assert resp.status_code == 403 and "may not change" in resp.json()["error"], origin
    assert requests.put(update, json=body, headers={"Origin": base}).status_code == 200
    # bodies other sites can send without a preflight (forms, text/plain) are refused
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        resp = requests.put(update, data='{"params": {"maxTrialNumber": 3}}', headers={"Content-Type": ctype})
        assert resp.status_code == 403 and "application/json" in resp.json()["error"], ctype
    assert requests.get(base + "/api/v1/nni/experiment").json()["params"]["maxTrialNumber"] == 2


def test_allow_hosts_names_extra_host_names(tmp_path, isolated_home):
    port = free_port()
    env = dict(os.environ, NNI_REMOTE_ALLOW_HOSTS="portal.example")
    proc = subprocess.Popen([sys.executable, "-m", "nni_remote.manager", "--port", str(port), "--experiment-id",
                             "hosttest", "--experiments-directory", str(tmp_path / "exps")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/api/v1/nni/check-status"

        def answers() -> bool:
            try:
                return requests.get(base, timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        wait_for(answers, 60, what="the manager")
        assert requests.get(base, headers={"Host": f"portal.example:{port}"}).status_code == 200
        assert requests.get(base, headers={"Host": f"other.example:{port}"}).status_code == 403
    finally:
        proc.kill()
        proc.wait()


def test_manager_on_another_address_still_reaches_its_agent(tmp_path, isolated_home, code_dir):
    """``--host`` other than 127.0.0.1: the local agent talks to the agent listener, which is always on loopback."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nni_remote.manager", "--port", str(port), "--experiment-id",
                             "hostonly", "--experiments-directory", str(tmp_path / "exps"), "--host", "127.0.0.2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.2:{port}/api/v1/nni"

        def answers() -> bool:
            try:
                return requests.get(base + "/check-status", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        wait_for(answers, 60, what="the manager")
        config = ExperimentConfig(trial_command=f"{sys.executable} trial.py", trial_code_directory=str(code_dir),
                                  trial_concurrency=1, max_trial_number=1,
                                  search_space={"x": {"_type": "uniform", "_value": [0, 1]}},
                                  tuner={"name": "Random"}, training_service={"platform": "local"})
        body = config.canonical().to_json(include_secrets=True)
        assert requests.post(base + "/experiment", json=body, timeout=30).status_code == 200
        wait_for(lambda: requests.get(base + "/check-status").json()["status"] == "DONE", 120,
                 what="the trial (the agent must reach the manager)")
        assert requests.get(base + "/trial-jobs").json()[0]["status"] == "SUCCEEDED"
    finally:
        proc.kill()
        proc.wait()


def test_loopback_manager_ip_for_remote_machines_fails_at_start(tmp_path, isolated_home, code_dir):
    config = ExperimentConfig(trial_command="python3 trial.py", trial_code_directory=str(code_dir),
                              trial_concurrency=1, max_trial_number=1, nni_manager_ip="127.0.0.1",
                              experiment_working_directory=str(tmp_path / "exps"),
                              search_space={"x": {"_type": "uniform", "_value": [0, 1]}}, tuner={"name": "Random"},
                              training_service={"platform": "remote", "machine_list": [
                                  {"host": "198.18.0.99", "user": "u", "password": "p" * 8}]})
    with pytest.raises(ConfigError, match="nniManagerIp.*loopback"):
        Experiment(config).start(free_port())
