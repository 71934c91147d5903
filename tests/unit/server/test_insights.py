"""The portal's summary routes (server/insights.py) on a stand-in controller, through Flask's test client."""
from __future__ import annotations

import csv
import io
import json
from types import SimpleNamespace

import pytest

from nni_remote import ExperimentConfig
from nni_remote.server import create_app, insights


def trial(seq: int, final, status: str = "SUCCEEDED", **params):
    data = None if final is None else json.dumps(json.dumps(final))
    return SimpleNamespace(id=f"t{seq}", seq=seq, status=status, parameters=params or {"x": seq},
                           final=None if data is None else {"data": data}, final_value=final)


def client(params: dict, trials: list):
    snap = SimpleNamespace(params=params, id="exp1", trials=tuple(sorted(trials, key=lambda t: t.seq)))
    ctl = SimpleNamespace(snapshot=lambda trials=True: snap)
    manager = SimpleNamespace(exp_id="exp1", exp_dir="/nonexistent", port=1, controller=ctl, portal_token="t")
    test_client = create_app(manager).test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = "Bearer t"  # no socket here: the access token it is
    return test_client


REMOTE = dict(trial_command="python3 t.py", trial_code_directory=".", trial_concurrency=1,
              search_space={"x": {"_type": "choice", "_value": [1, 2]}}, tuner={"name": "Random"},
              training_service={"platform": "remote", "machine_list": [
                  {"host": "10.0.0.1", "user": "u", "password": "hunter2-secret"},
                  {"host": "10.0.0.2", "user": "u", "ssh_key_file": __file__, "ssh_passphrase": "pp-secret"}]})


@pytest.mark.parametrize("include_secrets", [False, True])
def test_config_never_shows_secrets(include_secrets):
    params = ExperimentConfig(**REMOTE).canonical().to_json(include_secrets=include_secrets)
    resp = client(params, []).get("/api/v1/nni-remote/insights/config")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "hunter2-secret" not in text and "pp-secret" not in text
    body = json.loads(text)
    machines = body["config"]["trainingService"]["machineList"]
    assert machines[0]["password"] == "********" and machines[1]["sshPassphrase"] == "********"
    assert body["searchSpace"] == REMOTE["search_space"] and "searchSpace" not in body["config"]


def test_summary_keys_best_so_far_and_top():
    trials = [trial(0, {"default": 0.2, "loss": 3, "user": "root"}), trial(1, 0.5), trial(2, {"default": 0.1}),
              trial(3, None, status="FAILED"), trial(4, {"default": 0.9, "loss": 1})]
    c = client({"tuner": {"name": "Random"}}, trials)
    body = c.get("/api/v1/nni-remote/insights/summary").get_json()
    assert body["keys"] == ["default", "loss"] and body["finished"] == 4 and body["optimizeMode"] == "maximize"
    assert [p["best"] for p in body["progress"]] == [0.2, 0.5, 0.5, 0.9]
    assert [t["trialJobId"] for t in body["top"]] == ["t4", "t1", "t0", "t2"]
    loss = c.get("/api/v1/nni-remote/insights/summary?key=loss").get_json()
    assert [p["value"] for p in loss["progress"]] == [3, 1] and loss["withKey"] == 2


def test_thin_keeps_every_improvement():
    points = [{"value": i, "improved": i % 97 == 0} for i in range(10000)]
    thinned = insights.thin(points, 400)
    assert len(thinned) < 600 and all(p in thinned for p in points if p["improved"])
    assert thinned[-1] is points[-1]


def test_importance_too_few_and_ok():
    few = client({"tuner": {"name": "Random"}}, [trial(i, i / 10, x=i) for i in range(3)])
    body = few.get("/api/v1/nni-remote/insights/importance").get_json()
    assert body["status"] == "too-few" and "at least 10" in body["message"]
    many = client({"tuner": {"name": "Random"}},
                  [trial(i, float(i % 7), a=i % 7, b=(i * 3) % 5) for i in range(30)])
    body = many.get("/api/v1/nni-remote/insights/importance").get_json()
    if body["status"] == "computing":   # the worker thread is still at it: the next poll has it
        body = many.get("/api/v1/nni-remote/insights/importance").get_json()
    assert body["status"] == "ok" and body["importances"][0]["name"] == "a"


def test_export_selection_by_key_and_errors():
    trials = [trial(0, {"default": 0.2, "loss": 3}), trial(1, 0.5), trial(2, {"default": 0.1, "loss": 7})]
    c = client({}, trials)
    resp = c.get("/api/v1/nni-remote/insights/export?trials=t0,t2")
    assert resp.headers["Content-Disposition"] == 'attachment; filename="exp1-trials.json"'
    assert [r["trialJobId"] for r in resp.get_json()] == ["t0", "t2"]
    assert json.loads(resp.get_json()[0]["value"]) == {"default": 0.2, "loss": 3}
    loss = c.get("/api/v1/nni-remote/insights/export?key=loss&format=csv")
    assert 'filename="exp1-trials-loss.csv"' in loss.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(loss.get_data(as_text=True))))
    assert [(r["trialJobId"], r["reward"]) for r in rows] == [("t0", "3.0"), ("t2", "7.0")]
    assert c.get("/api/v1/nni-remote/insights/export?format=xml").status_code == 400
    odd = c.get("/api/v1/nni-remote/insights/export?key=%C3%A9t%C3%A9%0A")      # a key no header can hold as is
    assert odd.status_code == 200 and 'filename="exp1-trials-_t__.json"' in odd.headers["Content-Disposition"]
    missing = c.get("/api/v1/nni-remote/insights/export?trials=nosuch")
    assert missing.status_code == 404 and "nosuch" in missing.get_json()["error"]
