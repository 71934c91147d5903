"""The portal's downsampled chart routes (server/series.py) and cached answers with ETags (server/views.py)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from nni_remote.manager.store import Store
from nni_remote.manager.trials import Trial, pack_parameters
from nni_remote.server.app import create_app

N = 500


def make_trial(seq: int, value: float, status: str = "SUCCEEDED") -> Trial:
    trial = Trial(id=f"t{seq:04d}", seq=seq, parameter=pack_parameters(seq, {"x": seq, "c": "ab"[seq % 2]}, "algorithm"),
                  parameter_id=seq, source="algorithm", submit_time=1000 + seq, status=status, start_time=2000 + seq,
                  end_time=3000 + seq + (seq == 123) * 100_000, intermediate_count=30)
    trial.final, trial.final_value = {"data": json.dumps(json.dumps(value))}, value
    trial.history = {s: {"default": value * s, "loss": 1.0} for s in range(30)}
    return trial


def value_of(seq: int) -> float:
    return 0.99 if seq == 317 else ((seq * 37) % 101) / 200   # one clear best, the rest below 0.5


@pytest.fixture
def world(tmp_path):
    store = Store(str(tmp_path / "nni.sqlite"))
    state = SimpleNamespace(trials=tuple(make_trial(i, value_of(i), "FAILED" if i == N - 1 else "SUCCEEDED")
                                         for i in range(N)))

    def snapshot(trials=True, trial_id=None):
        return SimpleNamespace(params={"tuner": {"name": "TPE", "classArgs": {"optimize_mode": "maximize"}}},
                               id="exp1", trials=state.trials, has_service=False, machine=lambda name: None,
                               status="DONE", errors=(), readonly=True, profile={"startTime": 1}, exp_dir=str(tmp_path),
                               exec_duration=5)
    ctl = SimpleNamespace(snapshot=snapshot, store=store)
    manager = SimpleNamespace(exp_id="exp1", exp_dir=str(tmp_path), port=1, controller=ctl, portal_token="t")
    client = create_app(manager).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer t"
    yield client, state
    store.close()


def get(client, route: str, **headers):
    resp = client.get("/api/v1/nni-remote/" + route, headers=headers)
    assert resp.status_code in (200, 304), resp.get_data(as_text=True)
    return resp


def test_params_at_most_limit_lines_always_the_best_in_sequence_order(world):
    client, _ = world
    body = get(client, "insights/params?limit=40").get_json()
    ids = [t["trialJobId"] for t in body["trials"]]
    assert len(ids) <= 40 and "t0317" in ids and body["withKey"] == N - 1 and body["inTop"] == N - 1
    assert [t["sequenceId"] for t in body["trials"]] == sorted(t["sequenceId"] for t in body["trials"])
    values = sorted((t["value"] for t in body["trials"]), reverse=True)
    best = sorted((value_of(i) for i in range(N - 1)), reverse=True)
    assert values[:10] == best[:10]                                     # the best quarter of the limit is all in
    assert body["trials"][0]["parameters"] == {"x": body["trials"][0]["sequenceId"], "c": "ab"[body["trials"][0]["sequenceId"] % 2]}


def test_params_top_percent_is_cut_before_sampling(world):
    client, _ = world
    body = get(client, "insights/params?top=5&limit=1000").get_json()
    assert body["inTop"] == len(body["trials"]) == 25                   # 5 % of 499, rounded up
    cut = sorted((value_of(i) for i in range(N - 1)), reverse=True)[24]
    assert all(t["value"] >= cut for t in body["trials"])


def test_metrics_series_are_sampled_keeping_every_improvement_and_the_longest_trial(world):
    client, _ = world
    body = get(client, "insights/metrics?points=50&curves=7&curve_points=10").get_json()
    final = body["final"]
    assert body["withKey"] == N - 1 and len(final) < 50 + 20
    assert [p for p in final if p["improved"]] == [p for p in final if p["improved"]] and final[-1]["trialJobId"] == "t0498"
    assert any(p["trialJobId"] == "t0317" and p["improved"] for p in final)   # the best trial is always there
    assert final[-1]["best"] == 0.99
    durations = body["durations"]
    assert body["timed"] == N and len(durations) <= 52 and any(d["trialJobId"] == "t0123" for d in durations)
    curves = body["curves"]
    assert [c["trialJobId"] for c in curves] == [f"t{i:04d}" for i in range(N - 7, N)]
    assert all(len(c["x"]) <= 11 and c["x"][-1] == 29 and c["points"] == 30 for c in curves)


def test_bad_sampling_arguments_are_refused_naming_the_argument(world):
    client, _ = world
    resp = client.get("/api/v1/nni-remote/insights/params?limit=0")
    assert resp.status_code == 400 and "limit" in resp.get_data(as_text=True)
    resp = client.get("/api/v1/nni-remote/insights/metrics?points=x")
    assert resp.status_code == 400 and "points" in resp.get_data(as_text=True)


def test_any_metric_key_makes_a_valid_etag(world):
    client, _ = world
    for route in ("summary", "params", "metrics"):
        resp = get(client, f"insights/{route}?key=%22%C3%BC%0A%5BFiltered%5D")
        assert resp.status_code == 200 and resp.headers["ETag"].isascii()


@pytest.mark.parametrize("route", ["insights/summary", "insights/params", "insights/metrics", "insights/config",
                                   "insights/importance", "overview", "trials?offset=0&limit=10"])
def test_an_unchanged_answer_is_304_and_a_changed_one_is_sent_again(world, route):
    client, state = world
    first = get(client, route)
    tag = first.headers["ETag"]
    again = get(client, route, **{"If-None-Match": tag})
    assert again.status_code == 304 and again.get_data() == b""
    state.trials = state.trials + (make_trial(N, 0.1),)                 # a new trial: a new answer
    changed = get(client, route, **{"If-None-Match": tag})
    assert route == "insights/config" or (changed.status_code == 200 and changed.headers["ETag"] != tag)
