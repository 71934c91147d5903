"""Paging of whole-experiment routes (server/paging.py) through the real Flask app and a real store."""
from __future__ import annotations

import gzip
import json
import sqlite3
from types import SimpleNamespace

import pytest

from nni_remote.manager.store import Store
from nni_remote.manager.trials import Trial, pack_parameters
from nni_remote.server.app import create_app

STATUSES = ["SUCCEEDED", "FAILED", "RUNNING", "WAITING"]


def make_trial(seq: int) -> Trial:
    status = STATUSES[seq % 4]
    final = {"default": (seq * 7) % 10, "acc": seq / 100} if status == "SUCCEEDED" else None
    trial = Trial(id=f"t{seq:03d}", seq=seq, parameter=pack_parameters(seq, {"x": seq, "name": f"n{seq}"}, "algorithm"),
                  parameter_id=seq, source="algorithm", submit_time=1000 + seq, status=status,
                  machine="m1" if seq % 2 else "m2", message="boom" if status == "FAILED" else "")
    if final is not None:
        trial.final, trial.final_value = {"data": json.dumps(json.dumps(final))}, final
    return trial


@pytest.fixture
def app(tmp_path):
    store = Store(str(tmp_path / "nni.sqlite"))
    trials = tuple(make_trial(i) for i in range(40))
    for t in trials:
        for s in range(3):
            store.add_metric(t.id, str(t.seq), "PERIODICAL", s, json.dumps(json.dumps(s)))
    snap = SimpleNamespace(params={}, id="exp1", trials=trials, has_service=False, machine=lambda name: None)
    snap.trial = lambda tid: next(t for t in trials if t.id == tid)
    ctl = SimpleNamespace(snapshot=lambda trials=True, trial_id=None: snap, store=store)
    manager = SimpleNamespace(exp_id="exp1", exp_dir=str(tmp_path), port=1, controller=ctl, portal_token="t")
    test_client = create_app(manager).test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = "Bearer t"  # no socket here: the access token it is
    yield test_client
    store.close()


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [t["trialJobId"] for t in resp.get_json()]


def test_without_paging_arguments_every_trial_comes_back_as_before(app):
    resp = app.get("/api/v1/nni-remote/trials")
    assert ids(resp) == [f"t{i:03d}" for i in range(40)] and resp.headers["X-Total-Count"] == "40"


def test_offset_and_limit_cut_pages_that_tile_the_list(app):
    pages = [ids(app.get(f"/api/v1/nni-remote/trials?offset={o}&limit=15")) for o in (0, 15, 30, 45)]
    assert [len(p) for p in pages] == [15, 15, 10, 0]
    assert sum(pages, []) == [f"t{i:03d}" for i in range(40)]


def test_status_filter_counts_before_cutting(app):
    resp = app.get("/api/v1/nni-remote/trials?status=FAILED,RUNNING&limit=5")
    assert resp.headers["X-Total-Count"] == "20" and resp.headers["X-Trials-Count"] == "40"
    assert all(t["status"] in ("FAILED", "RUNNING") for t in resp.get_json()) and len(resp.get_json()) == 5


def test_sort_descending_by_metric_key_puts_trials_without_it_last(app):
    got = app.get("/api/v1/nni-remote/trials?sort=-metric:acc").get_json()
    values = [t["finalMetric"]["acc"] for t in got[:10]]
    assert values == sorted(values, reverse=True) and all(t["finalMetric"] is None for t in got[10:])
    asc = app.get("/api/v1/nni-remote/trials?sort=finalScalar").get_json()
    scalars = [t["finalScalar"] for t in asc if t["finalScalar"] is not None]
    assert scalars == sorted(scalars) and asc[-1]["finalScalar"] is None


def test_sort_is_stable_and_text_filter_searches_parameters_and_messages(app):
    got = ids(app.get("/api/v1/nni-remote/trials?sort=-status"))
    assert got[:10] == [f"t{i:03d}" for i in range(3, 40, 4)]      # WAITING first, in sequence order
    assert ids(app.get("/api/v1/nni-remote/trials?q=N17")) == ["t017"]
    assert len(ids(app.get("/api/v1/nni-remote/trials?q=boom"))) == 10


@pytest.mark.parametrize("query, field", [("offset=-1", "offset"), ("limit=0", "limit"), ("limit=x", "limit"),
                                          ("limit=100000", "limit"), ("sort=bogus", "sort")])
def test_bad_paging_arguments_are_refused_naming_the_argument(app, query, field):
    resp = app.get("/api/v1/nni-remote/trials?" + query)
    assert resp.status_code == 400 and resp.get_json()["code"] == "bad_request"
    assert resp.get_json()["error"].startswith(field)


def test_metric_data_pages_in_stored_order_and_stays_whole_without_arguments(app):
    resp = app.get("/api/v1/nni/metric-data")
    assert resp.is_streamed                     # the whole experiment's metrics are streamed, not built in memory
    whole = resp.get_json()
    assert len(whole) == 120 and set(whole[0]) == {"timestamp", "trialJobId", "parameterId", "type", "sequence", "data"}
    page = app.get("/api/v1/nni/metric-data?offset=100&limit=50").get_json()
    assert page == whole[100:]


def test_finished_trials_read_their_curve_from_the_store(app):
    detail = app.get("/api/v1/nni-remote/trials/t000").get_json()
    assert [p["sequence"] for p in detail["intermediate"]] == [0, 1, 2]


def test_large_answers_are_gzipped_for_clients_that_ask(app, monkeypatch):
    monkeypatch.setattr("nni_remote.server.app.GZIP_MIN_BYTES", 4096)
    plain = app.get("/api/v1/nni-remote/trials")
    assert "Content-Encoding" not in plain.headers
    packed = app.get("/api/v1/nni-remote/trials", headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.get_data())) == plain.get_json()


def test_a_page_says_the_metric_keys_of_every_trial(app):
    resp = app.get("/api/v1/nni-remote/trials?status=RUNNING&limit=1")   # a page without any final metric
    assert json.loads(resp.headers["X-Metric-Keys"]) == ["default", "acc"]


def test_streamed_metric_data_has_compact_jsons_bytes_for_any_text(tmp_path):
    """SQLite writes the streamed records' JSON: byte for byte what compact_json writes (NNI's bytes)."""
    from nni_remote import compact_json
    from nni_remote.server.rest import _METRIC_KEYS, _stream_metrics
    store = Store(str(tmp_path / "odd.sqlite"))
    odd = "".join(chr(c) for c in range(0, 0x30)) + '"\\/\x7f\u00e9\u2028\u2029\U0001f600\ud7ff\ue000'
    rows = [(1, "t1", None, "PERIODICAL", 0, json.dumps(json.dumps(odd))), (2**53 + 1, odd, odd, odd, -3, odd),
            (3.5, "t3", "1", "FINAL", 0, '"0.5"'), (None, "t4", "2", "FINAL", 1.25, '"1e-7"')]  # not integers
    store.add_metric_rows(rows)
    expected = compact_json.dumps([dict(zip(_METRIC_KEYS, row)) for row in rows])
    assert "".join(_stream_metrics(store, None)) == expected
    assert "".join(_stream_metrics(store, "FINAL")) == compact_json.dumps(
        [dict(zip(_METRIC_KEYS, row)) for row in rows if row[3] == "FINAL"])

    def no_json_functions(kind=None):
        raise sqlite3.OperationalError("no such function: json_object")
        yield
    store.iter_metric_json = no_json_functions       # an SQLite built without JSON: compact_json writes all
    assert "".join(_stream_metrics(store, None)) == expected
    store.close()
