"""Trust boundaries on real sshd hosts, each with a second unix user (docs/security.md).

- nobody on a worker (its second user, or the experiment's own trials) reaches the
  REST API or the portal through the SSH reverse tunnel: it serves agent routes only;
- one machine cannot report for another machine's trial, and impossible times are not stored;
- a trial's links and FIFOs on a host are never served, and never block the server;
- the config file (with passwords) is never uploaded, everything written on hosts is
  0600/0700, and check-status tells a stranger on the head no host or user names.
"""
from __future__ import annotations

import json
import os
import textwrap
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.integration.local.conftest import wait_for
from tests.integration.remote.remote_helpers import install_known_hosts, per_machine, remote_config, start
from tests.integration.security.conftest import stranger_http

HOLDING_TRIAL = textwrap.dedent('''
    import os, time
    import nni
    nni.get_next_parameter()
    out = os.environ["NNI_OUTPUT_DIR"]
    os.symlink(os.path.expanduser("~/.ssh/authorized_keys"), os.path.join(out, "keys"))
    os.symlink("/etc/shadow", os.path.join(out, "shadow"))
    os.mkfifo(os.path.join(out, "pipe"))
    print("planted", flush=True)
    nni.report_intermediate_result(0.5)
    time.sleep(600)
''')

# Run on a worker: every TCP port listening on the host's loopback, tried as the REST API.
PROBE = textwrap.dedent('''
    import json, urllib.request, urllib.error
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A":
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    out = {}
    for port in sorted(ports - {22}):
        base = "http://127.0.0.1:%d" % port
        for method, route, body in (("GET", "/api/v1/nni/experiment", None),
                                    ("PUT", "/api/v1/nni/experiment?update_type=MAX_TRIAL_NUM",
                                     b'{"params": {"maxTrialNumber": 99}}'),
                                    ("DELETE", "/api/v1/nni/trial-jobs/%s" % TRIAL, None), ("GET", "/", None)):
            req = urllib.request.Request(base + route, data=body, method=method,
                                         headers={"Content-Type": "application/json"})
            try:
                status = urllib.request.urlopen(req, timeout=10).status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except Exception as exc:
                status = str(exc)
            out["%s %d %s" % (method, port, route)] = status
    print(json.dumps(out))
''')

# Run on a worker as its experiment user (what a trial there can do): report for another machine's trial.
FORGE = textwrap.dedent('''
    import glob, json, os, time, urllib.request, urllib.error
    head = json.load(open(glob.glob(os.path.expanduser("~/nni-remote/*/agent/head.json"))[0]))
    def post(route, body):
        req = urllib.request.Request(head["url"] + "/api/agent/v1/" + route, data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "Authorization": "Bearer " + head["token"]})
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
    now = int(time.time() * 1000)
    events = [{"seq": 900, "type": "metric", "metric": json.dumps({"type": "FINAL", "value": 999,
                                                                   "sequence": 0, "parameter_id": 0})},
              {"seq": 901, "type": "end", "exit_code": 0, "time": now - 10 ** 9}]
    out = {"as_self": post("events", {"machine": MINE, "boot": "forged", "trials": {VICTIM: events}}),
           "as_victim_machine": post("events", {"machine": THEIRS, "boot": "forged", "trials": {VICTIM: events}}),
           "poll_as_victim": post("poll", {"machine": THEIRS, "boot": "forged", "wait": 0, "trials": {}})}
    print(json.dumps(out))
''')


# Run on the trial's own machine: a start before the trial was submitted and an end before its start.
IMPOSSIBLE = FORGE.split("now = ")[0] + textwrap.dedent('''
    _, answer = post("events", {"machine": MINE, "boot": "forged", "trials": {VICTIM: []}})
    seq = answer["acked"][VICTIM]          # the next seq the manager expects of this run (a gap waits)
    events = [{"seq": seq, "type": "status", "status": "RUNNING", "pid": 1, "time": 1},
              {"seq": seq + 1, "type": "end", "exit_code": 1, "time": 2}]
    status, _ = post("events", {"machine": MINE, "boot": "forged", "trials": {VICTIM: events}})
    print(json.dumps({"status": status}))
''')


def _experiment(rig_factory, tmp_path, isolated_home, experiments, **fields):
    rig = rig_factory(2, logins=["password", "key"], host_options=[{"second_user": True}, {"second_user": True}])
    install_known_hosts(rig, str(isolated_home))
    machines = [per_machine(h.machine_config(), maxTrialNumber=1) for h in rig.hosts]
    config = remote_config(tmp_path, machines, trial_concurrency=2, max_trial_number=2,
                           space={"x": {"_type": "uniform", "_value": [0, 1]}}, **fields)
    code = tmp_path / "code"
    (code / "trial.py").write_text(HOLDING_TRIAL)
    password = rig.hosts[0].password
    # the quick-start layout: the config (with a password) sits in the code directory, plus a note holding it
    (code / "config.yml").write_text("trialCommand: python3 trial.py\ntrainingService:\n  platform: remote\n"
                                     f"  machineList:\n    - host: {rig.hosts[0].address}\n"
                                     f"      password: {password}\n")
    (code / "notes.txt").write_text(f"h1 login: {password}\n")
    exp = start(config, experiments)
    wait_for(lambda: len([j for j in exp.list_trial_jobs() if j.status == "RUNNING"]) == 2, 120,
             what="one running trial per host")
    jobs = {j.machine: j.trialJobId for j in exp.list_trial_jobs()}
    wait_for(lambda: all("planted" in requests.get(f"http://127.0.0.1:{exp.port}/api/v1/nni-remote/trials/"
                                                   f"{t}/tail/stdout").json()["text"] for t in jobs.values()),
             120, what="both trials to plant their files")
    return rig, exp, jobs


def test_workers_reach_no_rest_api(rig_factory, tmp_path, isolated_home, experiments):
    rig, exp, jobs = _experiment(rig_factory, tmp_path, isolated_home, experiments)
    h1, h2 = rig.hosts
    victim = jobs[h1.address]
    for host, second in ((h1, True), (h2, True), (h2, False)):
        results = json.loads(rig.run_on(host, "python3 -", as_second=second, timeout=120,
                                        input=(f"TRIAL = {victim!r}\n" + PROBE).encode()))
        assert results, f"no loopback listener found on {host.name}"
        assert not any(v == 200 for v in results.values()), results
    assert exp.get_status() in ("RUNNING", "NO_MORE_TRIAL")
    assert requests.get(f"http://127.0.0.1:{exp.port}/api/v1/nni/trial-jobs/{victim}").json()["status"] == "RUNNING"


def test_no_machine_reports_for_another(rig_factory, tmp_path, isolated_home, experiments):
    rig, exp, jobs = _experiment(rig_factory, tmp_path, isolated_home, experiments)
    h1, h2 = rig.hosts
    victim = jobs[h1.address]
    forged = json.loads(rig.run_on(h2, "python3 -", timeout=60, input=(
        f"MINE, THEIRS, VICTIM = {h2.address!r}, {h1.address!r}, {victim!r}\n" + FORGE).encode()))
    assert forged["as_victim_machine"][0] == 403 and forged["poll_as_victim"][0] == 403, forged
    assert forged["as_self"][0] == 200                                   # accepted as delivered, stored nothing
    base = f"http://127.0.0.1:{exp.port}/api/v1"
    trial = requests.get(f"{base}/nni/trial-jobs/{victim}").json()
    assert trial["status"] == "RUNNING" and not trial.get("finalMetricData"), trial
    assert requests.get(f"{base}/nni/experiment").json()["params"]["maxTrialNumber"] == 2
    # the victim's own machine may end its trial, but not with impossible times: they are not stored
    own = json.loads(rig.run_on(h1, "python3 -", timeout=60, input=(
        f"MINE, THEIRS, VICTIM = {h1.address!r}, {h1.address!r}, {victim!r}\n" + IMPOSSIBLE).encode()))
    assert own["status"] == 200, own
    wait_for(lambda: requests.get(f"{base}/nni/trial-jobs/{victim}").json()["status"] == "FAILED", 60,
             what="the trial ended by its own machine")
    trial = requests.get(f"{base}/nni-remote/trials/{victim}").json()
    assert trial["submitTime"] <= trial["startTime"] <= trial["endTime"] and trial["duration"] >= 0, trial
    assert exp.get_status() in ("RUNNING", "NO_MORE_TRIAL")


def test_host_files_secrets_and_permissions(rig_factory, tmp_path, isolated_home, experiments):
    rig, exp, jobs = _experiment(rig_factory, tmp_path, isolated_home, experiments)
    h1, h2 = rig.hosts
    base = f"http://127.0.0.1:{exp.port}/api/v1"
    for machine, trial in jobs.items():
        for name in ("keys", "shadow", "pipe"):
            for url in (f"{base}/nni-remote/trials/{trial}/tail/{name}", f"{base}/nni/trial-file/{trial}/{name}"):
                resp = requests.get(url, timeout=60)
                assert resp.status_code == 403 and "refused" in resp.json()["error"], (url, resp.text[:300])
        listed = {f["name"] for f in requests.get(f"{base}/nni-remote/trials/{trial}/files").json()["files"]}
        assert "trial.stdout" in listed and not listed & {"keys", "shadow", "pipe"}
    trial = jobs[h2.address]
    with ThreadPoolExecutor(max_workers=16) as pool:                    # the FIFO, many times at once
        codes = list(pool.map(lambda _: requests.get(f"{base}/nni-remote/trials/{trial}/tail/pipe",
                                                     timeout=120).status_code, range(48)))
    assert set(codes) <= {403, 503} and 403 in codes, codes
    assert requests.get(f"{base}/nni/check-status", timeout=10).status_code == 200
    password = h1.password
    for host in (h1, h2):
        code_files = rig.run_on(host, "cd ~/nni-remote/*/code && ls -A")
        assert "config.yml" not in code_files and "notes.txt" not in code_files and "trial.py" in code_files
        leaked = rig.run_on(host, f"grep -rl -- {password} ~ 2>/dev/null; true")
        assert leaked.strip() == "", leaked
        loose = rig.run_on(host, "find ~/nni-remote ~/.nni-remote ! -type l -perm /077 -print")
        assert loose.strip() == "", loose
        denied = rig.run_on(host, f"cat {host.home}/nni-remote/*/agent/head.json 2>&1; ls {host.home} 2>&1; true",
                            as_second=True)
        assert "token" not in denied and "Permission denied" in denied
    log = os.path.join(str(tmp_path / "exps"), exp.id, "log", "nnimanager.log")
    text = open(log).read()
    assert "config.yml was not uploaded" in text and "notes.txt was not uploaded" in text and ".nniignore" in text


def test_check_status_names_nothing_to_strangers(rig_factory, tmp_path, isolated_home, experiments, stranger):
    rig = rig_factory(1, logins=["key"])
    install_known_hosts(rig, str(isolated_home))
    h1 = rig.hosts[0]
    down = dict(h1.machine_config(), port=2)                            # nothing listens: fails at once
    config = remote_config(tmp_path, [h1.machine_config(), down], trial_concurrency=1, max_trial_number=1)
    exp = start(config, experiments)
    url = f"http://127.0.0.1:{exp.port}/api/v1/nni/check-status"
    wait_for(lambda: requests.get(url).json()["errors"], 120, what="the unreachable machine's error")
    assert h1.address in json.dumps(requests.get(url).json()["errors"])  # the owner sees the details
    status, text = stranger_http(stranger, "GET", url)
    assert status == 200 and h1.user not in text and h1.address not in text and json.loads(text)["errors"] == []
