"""The REST API against a live manager: NNI's shapes, our improvements, our routes, OpenAPI, access token.

The NNI samples below are verbatim (trimmed to one element) from real NNI 3.0
answers captured in ``shared/nni-observed/rest/`` (file named in each key);
field names and JSON types must match, extra fields are allowed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from nni_remote import Experiment
from tests.conftest import free_port, lan_address
from tests.integration.portal import kit
from tests.integration.portal.kit import live  # noqa: F401  (the module's live kit experiment)

_PARAM = "{\"parameter_id\":0,\"parameter_source\":\"algorithm\",\"parameters\":{\"x\":0.5679691796268379,\"y\":\"alpha\"},\"parameter_index\":0}"  # noqa: E501
_METRIC = {"timestamp": 1795950773978, "trialJobId": "M4D9r", "parameterId": "1", "type": "FINAL", "sequence": 0,
           "data": "\"0.3442145439813062\""}
NNI = {
    "GET_check-status.json": {"status": "RUNNING", "errors": []},
    "GET_experiment.json": {"params": {}, "id": "etlv87xm", "execDuration": 11, "logDir": "$NNI_EXP_DIR/etlv87xm",
                            "startTime": 1795950761936, "nextSequenceId": 4, "revision": 7},
    "GET_experiment-metadata.json": {"id": "etlv87xm", "port": 18085, "startTime": 1795950760885, "endTime": "N/A",
                                     "status": "RUNNING", "platform": "local", "experimentName": "rest-capture",
                                     "tag": [], "pid": 21277, "webuiUrl": [], "logDir": "$NNI_EXP_DIR",
                                     "prefixUrl": None},
    "GET_job-statistics.json": [{"trialJobStatus": "SUCCEEDED", "trialJobNumber": 2}],
    "GET_trial-jobs_ID_succeeded.json": {
        "trialJobId": "M4D9r", "status": "SUCCEEDED", "hyperParameters": [_PARAM], "startTime": 1795950767304,
        "logPath": "$NNI_EXP_DIR/etlv87xm/environments/local-env/trials/M4D9r", "sequenceId": 0, "envId": "local-env",
        "endTime": 1795950774417, "finalMetricData": [_METRIC]},
    "GET_trial-jobs_ID_running.json": {
        "trialJobId": "TKFNT", "status": "RUNNING", "hyperParameters": [_PARAM], "startTime": 1795950775002,
        "logPath": "$NNI_EXP_DIR/etlv87xm/environments/local-env/trials/TKFNT", "sequenceId": 3, "envId": "local-env"},
    "GET_trial-jobs_ID_after_cancel.json": {
        "trialJobId": "TKFNT", "status": "USER_CANCELED", "hyperParameters": [_PARAM], "startTime": 1795950775002,
        "logPath": "$NNI_EXP_DIR/etlv87xm/environments/local-env/trials/TKFNT", "sequenceId": 3,
        "envId": "local-env", "endTime": 1795950781223},
    "GET_metric-data_ID.json": [{"timestamp": 1795950769284, "trialJobId": "M4D9r", "parameterId": "1",
                                 "type": "PERIODICAL", "sequence": 0, "data": "\"0.0\""}],
    "GET_metric-data-latest.json": [_METRIC],
    "GET_export-data_done.json": [{"parameter": {"x": 0.5679691796268379, "y": "alpha"},
                                   "value": "0.3442145439813062", "trialJobId": "M4D9r"}],
    "GET_experiment_imported-data_after.json": ["[{\"parameter\":{\"x\":0.25,\"y\":\"beta\"},\"value\":0.0625}]"],
    "GET_tensorboard-tasks.json": [],
}
# §3.3 for what the captures lack: a FAILED trial has stderrPath; a customized trial's sequenceId.
FAILED_EXTRA = {"stderrPath": "", "endTime": 0}
PACKED_KEYS = {"parameter_id", "parameter_source", "parameters", "parameter_index"}
OPAQUE = ("params", "parameter")          # user data (config, parameters): the type is checked, not the keys


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "str", list: "list", dict: "dict"}.get(type(value), type(value).__name__)


def assert_like(ours: Any, nni: Any, where: str, nullable: tuple[str, ...] = ()) -> None:
    """``ours`` has every field of ``nni`` with the same JSON type (recursively; extra fields allowed)."""
    name = where.rsplit(".", 1)[-1]
    if name in nullable and (ours is None or nni is None):
        return
    assert kind(ours) == kind(nni), f"{where}: ours is {kind(ours)} ({ours!r:.80}), NNI's is {kind(nni)}"
    if isinstance(nni, dict) and name not in OPAQUE:
        missing = set(nni) - set(ours)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key in nni:
            assert_like(ours[key], nni[key], f"{where}.{key}", nullable)
    elif isinstance(nni, list) and nni and ours:
        for item in ours:
            assert_like(item, nni[0], f"{where}[]", nullable)


def test_nni_routes_have_nni_shapes(live):
    exp, api, code_dir = live
    trials = api.nni("trial-jobs")
    by_status = {t["status"]: t for t in trials}
    assert_like(api.nni("check-status"), NNI["GET_check-status.json"], "check-status")
    profile = api.nni("experiment")
    assert_like(profile, NNI["GET_experiment.json"], "profile")
    for key in ("searchSpace", "trialCommand", "trialCodeDirectory", "trialConcurrency", "maxTrialNumber", "tuner",
                "trainingService"):
        assert key in profile["params"], key
    assert "endTime" not in profile                                # absent while running
    assert_like(api.nni("experiment-metadata"), NNI["GET_experiment-metadata.json"], "metadata",
                nullable=("experimentName", "prefixUrl", "port"))
    infos = api.nni("experiments-info")
    assert [e["id"] for e in infos] == [exp.id]
    assert_like(infos[0], NNI["GET_experiment-metadata.json"], "experiments-info", nullable=("prefixUrl",))
    assert_like(api.nni("job-statistics"), NNI["GET_job-statistics.json"], "job-statistics")
    assert {s["trialJobStatus"]: s["trialJobNumber"] for s in api.nni("job-statistics")} == \
        {"SUCCEEDED": 3, "FAILED": 1, "RUNNING": 2}
    assert_like(by_status["SUCCEEDED"], NNI["GET_trial-jobs_ID_succeeded.json"], "succeeded")
    assert_like(by_status["RUNNING"], NNI["GET_trial-jobs_ID_running.json"], "running")
    assert "endTime" not in by_status["RUNNING"] and "finalMetricData" not in by_status["RUNNING"]
    assert_like(by_status["FAILED"], {**NNI["GET_trial-jobs_ID_running.json"], **FAILED_EXTRA}, "failed")
    assert "finalMetricData" not in by_status["FAILED"]
    for t in trials:
        assert set(json.loads(t["hyperParameters"][0])) >= PACKED_KEYS
        assert len(t["trialJobId"]) == 5 and t["trialJobId"][0].isalpha()
    assert_like(api.nni(f"trial-jobs/{by_status['SUCCEEDED']['trialJobId']}"),
                NNI["GET_trial-jobs_ID_succeeded.json"], "trial-job")
    for route, sample in (("metric-data", "GET_metric-data_ID.json"),
                          ("metric-data-latest", "GET_metric-data-latest.json"),
                          ("metric-data-latest/", "GET_metric-data-latest.json"),
                          ("metric-data-range/0/5", "GET_metric-data_ID.json")):
        records = api.nni(route)
        assert records, route
        assert_like(records, NNI[sample], route)
        for r in records:
            json.loads(json.loads(r["data"]))                      # a JSON text of a JSON text
    assert_like(api.nni("export-data"), NNI["GET_export-data_done.json"], "export-data")
    exported = {r["trialJobId"]: json.loads(r["value"]) for r in api.nni("export-data")}
    assert sorted(v if isinstance(v, float) else v["default"] for v in exported.values()) == [0.25, 0.5, 0.75]
    assert_like(api.nni("tensorboard-tasks"), NNI["GET_tensorboard-tasks.json"], "tensorboard-tasks")
    assert api.nni("experiment/imported-data", "GET") == []
    api.nni("experiment/import-data", "POST", json=[{"parameter": {"x": 0.25, "opt": "adam"}, "value": 0.0625}])
    assert_like(api.nni("experiment/imported-data"), NNI["GET_experiment_imported-data_after.json"], "imported")
    version = api.call("GET", "/api/v1/nni/version")
    assert version.status_code == 200 and version.text
    assert version.headers["Content-Type"].startswith("application/json")        # bare text, as NNI serves it
    headers = api.call("GET", "/api/v1/nni/check-status").headers
    assert headers["Access-Control-Allow-Methods"] == "PUT,POST,GET,DELETE,OPTIONS"


def test_nni_quirks_and_deliberate_improvements(live):
    _, api, _ = live
    call = api.call
    unknown = call("GET", "/api/v1/nni/trial-jobs/nosuchid")
    assert unknown.status_code == 404 and "nosuchid" in unknown.json()["error"]      # NNI: empty 200
    assert call("DELETE", "/api/v1/nni/trial-jobs/nosuchid").status_code == 404    # NNI: 500
    bad = call("PUT", "/api/v1/nni/experiment?update_type=MAX_TRIAL_NUM", json={"params": {"maxTrialNumber": "abc"}})
    assert bad.status_code == 400 and "maxTrialNumber" in bad.json()["error"]         # NNI stored "abc"
    assert call("PUT", "/api/v1/nni/experiment?update_type=BOGUS", json={"params": {}}).status_code == 400
    assert call("PUT", "/api/v1/nni/experiment", data="{not json",
                headers={"Content-Type": "application/json"}).status_code == 400
    assert call("PUT", "/api/v1/nni/experiment", data="{}").status_code == 403   # a body must be JSON
    assert call("PUT", "/api/v1/nni/experiment/cluster-metadata", json={}).status_code == 200
    assert call("PUT", "/api/v1/nni/experiment/cluster-metadata", json={"k": 1}).status_code == 400
    assert call("POST", "/api/v1/nni/tensorboard", json={}).status_code == 400
    assert "not supported" in call("GET", "/api/v1/nni/tensorboard/x").json()["error"]
    assert api.nni("trial-jobs?status=BOGUS") == [] and api.nni("metric-data-range/abc/def") == []
    assert api.nni("metric-data/nosuchid") == []
    assert len(api.nni("trial-jobs/")) == 6                                           # trailing slash
    done = api.trial_with({"x": 0.25, "opt": "adam"})["trialJobId"]
    assert len(api.nni(f"metric-data/{done}/extra")) == 4                             # NNI: /:job_id*?
    assert [m["type"] for m in api.nni(f"metric-data/{done}?type=FINAL")] == ["FINAL"]
    empty = call("GET", f"/api/v1/nni/trial-file/{done}/stderr")
    assert empty.text == "stderr is empty." and empty.headers["Content-Type"].startswith("text/plain")
    assert "trial-start" in call("GET", f"/api/v1/nni/trial-file/{done}/stdout").text
    assert call("GET", f"/api/v1/nni/trial-file/{done}/model.onnx").status_code == 404
    assert call("GET", f"/api/v1/nni/trial-file/{done}/..%2Fparameter.cfg").status_code == 404
    assert call("GET", f"/api/v1/nni/trial-file/{done}/a%00b").status_code == 404    # was a 500
    assert call("POST", "/api/v1/nni/experiment/import-data", json=[{"parameter": 1, "value": 1}]).status_code == 400
    assert "GET" in call("OPTIONS", "/api/v1/nni/trial-jobs").headers["Allow"]
    assert call("GET", "/logs/nnimanager.log").status_code == 200
    foreign = call("DELETE", f"/api/v1/nni/trial-jobs/{done}", headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403                                                  # cross-site request refused


def test_nni_remote_routes(live):
    exp, api, code_dir = live
    overview = api.ours("overview")
    assert overview["id"] == exp.id and overview["status"] == "TUNER_NO_MORE_TRIAL"
    assert overview["trialCounts"] == {"SUCCEEDED": 3, "FAILED": 1, "RUNNING": 2}
    assert [b["value"] for b in overview["bestTrials"]] == [0.75, 0.5, 0.25] and overview["optimizeMode"] == "maximize"
    trials = api.ours("trials")
    dict_metric = api.trial_with({"x": 0.5, "opt": "adam"})
    assert dict_metric["finalMetric"] == {"default": 0.5, "loss": 0.5} and dict_metric["finalScalar"] == 0.5
    held = api.trial_with(kit.HELD[1])
    detail = api.ours(f"trials/{held['trialJobId']}")
    assert [p["scalar"] for p in detail["intermediate"]] == pytest.approx([0.5 / 3, 1 / 3, 0.5])
    files = api.ours(f"trials/{held['trialJobId']}/files")
    assert {f["name"] for f in files["files"]} >= {"trial.stdout", "trial.stderr", "trial.log", "parameter.cfg"}
    assert files["directory"] == held["logPath"] and files["machine"] == "local"
    tail = api.ours(f"trials/{held['trialJobId']}/tail/stdout?bytes=5")
    assert tail["exists"] and len(tail["text"]) <= 5 and tail["size"] > 5 and tail["truncated"]
    start = api.ours(f"trials/{held['trialJobId']}/tail/stdout?offset=0&bytes=11")
    assert start["text"] == "trial-start" and start["next"] == 11
    nothing = api.ours(f"trials/{held['trialJobId']}/tail/nosuch.txt")
    assert nothing == {**nothing, "exists": False, "text": ""}
    assert api.call("GET", f"/api/v1/nni-remote/trials/{held['trialJobId']}/tail/.hidden").status_code == 400
    assert api.call("GET", "/api/v1/nni-remote/trials/nosuchid").status_code == 404
    machines = api.ours("machines")
    assert len(machines) == 1 and machines[0]["state"] == "ready" and not machines[0]["drained"]
    assert set(machines[0]["runningTrials"]) == {t["trialJobId"] for t in trials if t["status"] == "RUNNING"}
    assert machines[0]["lastHeartbeat"] > time.time() * 1000 - 60_000
    assert [g["index"] for g in machines[0]["gpus"]] == [0, 1]                        # the (fake) nvidia-smi
    assert {t: g for t, g in machines[0]["assignedGpus"].items()} == \
        {t["trialJobId"]: t["gpus"] for t in trials if t["status"] == "RUNNING"}
    assert all(len(t["gpus"]) == 1 for t in trials)
    assert api.call("POST", "/api/v1/nni-remote/machines/local/enable").status_code == 409      # not drained
    assert api.call("POST", "/api/v1/nni-remote/machines/nosuch/enable").status_code == 404
    assert api.call("POST", f"/api/v1/nni-remote/trials/{held['trialJobId']}/retry").status_code == 409
    failed = api.trial_with(kit.FAILS)
    first = api.ours("trials/retry-failed", "POST")
    assert [r["from"] for r in first["retried"]] == [failed["trialJobId"]]
    assert api.ours("trials/retry-failed", "POST")["retried"] == []                   # each failed trial once
    again = api.ours(f"trials/{failed['trialJobId']}/retry", "POST")                  # explicit retry: always
    new = api.nni(f"trial-jobs/{again['trialJobId']}")
    assert json.loads(new["hyperParameters"][0])["parameter_source"] == "customized"
    assert json.loads(new["hyperParameters"][0])["parameters"] == kit.FAILS
    kit.wait_for(lambda: api.nni(f"trial-jobs/{again['trialJobId']}")["status"] == "FAILED", what="retry ran")


def test_openapi_describes_every_route(live):
    from nni_remote.server import create_app
    _, api, _ = live
    doc = api.ours("openapi.json")
    assert doc["openapi"].startswith("3.")
    app = create_app(SimpleNamespace(exp_id="x", exp_dir="/nonexistent", port=1, controller=None, portal_token=None,
                                     agent_token="t"))
    documented = {re.sub(r"{[^}]*}", "{}", p): ops for p, ops in doc["paths"].items()}
    for rule in app.url_map.iter_rules():
        if "_extra" in rule.rule:
            continue  # NNI's /metric-data/:id/anything alias of /metric-data/:id
        path = re.sub(r"<[^>]*>", "{}", rule.rule)
        assert path in documented, f"{rule.rule} is not in the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in documented[path], f"{method} {rule.rule} is not in the OpenAPI document"
    for sample in ("/api/v1/nni/trial-jobs", "/api/v1/nni-remote/machines", "/api/v1/nni/check-status"):
        assert sample in doc["paths"]


def _run_manager(tmp_path, host: str) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    workdir = tmp_path / "exps"
    proc = subprocess.Popen([sys.executable, "-m", "nni_remote.manager", "--port", str(port), "--experiment-id",
                             "tokentest", "--action", "create", "--experiments-directory", str(workdir), "--host",
                             host], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, port, str(workdir / "tokentest")


def test_token_when_listening_beyond_loopback(tmp_path, make_config, isolated_home):
    from nni_remote.client import RestClient
    from nni_remote.manager import registry
    lan = lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback IPv4 address to reach the manager from")
    proc, port, exp_dir = _run_manager(tmp_path, "0.0.0.0")      # bound everywhere
    try:
        base = f"http://{lan}:{port}"                              # a client off loopback
        kit.wait_for(lambda: _answers(base + "/api/v1/nni/check-status"), what="the manager")
        token_file = os.path.join(exp_dir, ".portal-token")
        assert oct(os.stat(token_file).st_mode & 0o777) == "0o600"
        with open(token_file) as f:
            token = f.read().strip()
        assert requests.get(base + "/api/v1/nni/check-status").text == "INITIALIZING"   # open without token
        body = make_config(max_trial_number=1).canonical().to_json(include_secrets=True)
        assert requests.post(base + "/api/v1/nni/experiment", json=body).status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.post(base + "/api/v1/nni/experiment", json=body, headers=bearer).status_code == 200
        assert requests.get(base + "/api/v1/nni/check-status").status_code == 200
        assert requests.get(base + "/").status_code == 401                      # the portal
        assert requests.get(base + "/api/v1/nni/trial-jobs").status_code == 401
        update = {"params": {"trialConcurrency": 3}}
        url = base + "/api/v1/nni/experiment?update_type=TRIAL_CONCURRENCY"
        assert requests.put(url, json=update).status_code == 401
        assert requests.put(url, json=update, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert requests.put(url, json=update, headers=bearer).status_code == 200
        browser = requests.Session()                                            # ?token= once, then the cookie
        first = browser.get(base + f"/?token={token}", allow_redirects=False)
        assert first.status_code == 302 and first.headers["Location"].endswith("/")
        assert "HttpOnly" in first.headers["Set-Cookie"] and "SameSite=Strict" in first.headers["Set-Cookie"]
        assert browser.get(base + "/").status_code == 200
        assert browser.get(base + "/api/v1/nni-remote/overview").json()["trialConcurrency"] == 3
        assert requests.get(base + "/api/v1/nni-remote/openapi.json").status_code == 401
        local = f"http://127.0.0.1:{port}"                                    # the owner on loopback: no token
        assert requests.get(local + "/api/v1/nni-remote/openapi.json").status_code == 200
        registry.update_entry("tokentest", port=port, logDir=str(tmp_path / "exps"), pid=proc.pid)
        assert RestClient(port).get("experiment")["id"] == "tokentest"
        kit.wait_for(lambda: requests.get(base + "/api/v1/nni/check-status", headers=bearer).json()["status"]
                     == "DONE", what="the experiment's one trial")
        requests.delete(base + "/api/v1/nni/experiment", headers=bearer)
        out, _ = proc.communicate(timeout=30)
        assert f"http://127.0.0.1:{port}/?token={token}" in out                  # printed Jupyter-style
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_owner_needs_no_token_on_loopback(tmp_path, isolated_home):
    proc, port, exp_dir = _run_manager(tmp_path, "127.0.0.1")
    try:
        base = f"http://127.0.0.1:{port}"
        kit.wait_for(lambda: _answers(base + "/api/v1/nni/check-status"), what="the manager")
        assert requests.get(base + "/").status_code == 200
        assert oct(os.stat(os.path.join(exp_dir, ".portal-token")).st_mode & 0o777) == "0o600"
    finally:
        proc.kill()
        proc.wait()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


# -- schemathesis: runs last in this module (it changes the live experiment) -------------------------------
def fuzz(base: str, max_examples: int, exclude: list[tuple[str, str]], known: dict[str, str]) -> list[str]:
    """Every operation of the manager's OpenAPI document, positive and negative cases; the 5xx answers.

    Operations whose path names a parameter in ``known`` (a real trial id, a
    machine name) run twice: with generated values and with the real one, so
    the code behind the lookup is reached too.
    """
    schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    schema = schemathesis.openapi.from_url(base + "/api/v1/nni-remote/openapi.json")
    for method, path in exclude:
        schema = schema.exclude(method=method, path=path)
    errors: list[str] = []
    calls = [0]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    runs = [(op, mode, None) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    runs += [(op, GenerationMode.POSITIVE, {k: v for k, v in known.items() if "{" + k + "}" in op.path})
             for op in operations if any("{" + k + "}" in op.path for k in known)]
    for operation, mode, fixed in runs:
        @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
        def check(case: Any) -> None:
            calls[0] += 1
            resp = case.call(base_url=base, timeout=15)
            if resp.status_code >= 500:
                errors.append(f"{case.method} {case.formatted_path} -> {resp.status_code}: {resp.text[:300]}\n"
                              f"  reproduce: {case.as_curl_command()}")
        try:
            check()
        except Exception as exc:
            if "Unsatisfiable" not in type(exc).__name__ and "Unsatisfied" not in type(exc).__name__:
                raise
    assert calls[0] >= len(runs), f"schemathesis made only {calls[0]} calls for {len(runs)} runs"
    return errors


def test_schemathesis_finds_no_server_error(live):
    exp, api, code_dir = live
    base = f"http://127.0.0.1:{exp.port}"
    never = [("DELETE", "/api/v1/nni/experiment")]
    risky = never + [("PUT", "/api/v1/nni/experiment"), ("POST", "/api/v1/nni/experiment")]
    trial_id = api.trial_with(kit.HELD[1])["trialJobId"]                 # still running, has files
    known = {"trialJobId": trial_id, "name": "local"}
    errors = fuzz(base, 4, risky, known)                                  # the live experiment
    exp_id = exp.id
    exp.stop()
    viewer = Experiment.view(exp_id, port=free_port(), non_blocking=True)  # read-only: every mutation validated
    try:
        errors += fuzz(f"http://127.0.0.1:{viewer.port}", 3, never, known)
        forbidden = requests.put(f"http://127.0.0.1:{viewer.port}/api/v1/nni/experiment?update_type=TRIAL_CONCURRENCY",
                                 json={"params": {"trialConcurrency": 2}})
        assert forbidden.status_code == 403 and "read-only" in forbidden.json()["error"]
    finally:
        viewer.stop()
    assert not errors, "server errors:\n" + "\n".join(errors)
