"""The SQLite store: profile revisions, trials, exactly-once delivery, metrics, schema version."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from nni_remote.manager.store import SCHEMA_VERSION, Store


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "nni.sqlite"))
    yield s
    s.close()


def test_profile_latest_revision_wins_and_survives_reopen(store, tmp_path):
    for revision in range(1, 4):
        store.save_profile({"params": {"trialConcurrency": revision}, "id": "e", "revision": revision,
                            "startTime": 1})
    assert store.load_profile()["params"] == {"trialConcurrency": 3}
    store.close()
    again = Store(str(tmp_path / "nni.sqlite"))
    try:
        profile = again.load_profile()
        assert profile["revision"] == 3 and "endTime" not in profile
    finally:
        again.close()


def test_trials_are_replaced_by_id_and_listed_in_sequence(store):
    row = {"trialJobId": "AbCdE", "sequenceId": 1, "status": "WAITING", "parameter": "{}", "submitTime": 5}
    store.put_trial(dict(row, trialJobId="ZzZzZ", sequenceId=0))
    store.put_trial(row)
    store.put_trial(dict(row, status="RUNNING"))
    assert [(t["trialJobId"], t["status"]) for t in store.trials()] == [("ZzZzZ", "WAITING"), ("AbCdE", "RUNNING")]


def test_a_delivery_counts_once_and_a_failed_transaction_leaves_nothing(store):
    with store.transaction():
        assert store.first_delivery("run1", 0) and not store.first_delivery("run1", 0)
        assert store.first_delivery("run1.1", 0)
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_metric("t", None, "FINAL", 0, '"1"')
            raise RuntimeError("boom")
    assert store.metrics() == []


def test_metrics_filter_and_delete(store):
    store.add_metric("a", "0", "PERIODICAL", 0, '"0.1"')
    store.add_metric("a", "0", "FINAL", 0, '"0.9"')
    store.add_metric("b", None, "FINAL", 0, '"0.5"')
    assert [m["data"] for m in store.metrics(trial_id="a", kind="FINAL")] == ['"0.9"']
    assert {m["trialJobId"] for m in store.metrics(trial_ids=["a", "b"], kind="FINAL")} == {"a", "b"}
    store.delete_metrics("a")
    assert [m["trialJobId"] for m in store.metrics()] == ["b"]


def test_meta_and_imported_data(store):
    assert store.get_meta("k", "dflt") == "dflt"
    store.set_meta("k", "v")
    store.add_event("", "IMPORT_DATA", data='[{"parameter": {}, "value": 1}]')
    assert store.get_meta("k") == "v" and store.imported_data() == ['[{"parameter": {}, "value": 1}]']


def test_concurrent_writers_lose_nothing(store):
    def write(i: int) -> None:
        for seq in range(50):
            with store.transaction():
                if store.first_delivery(f"r{i}", seq):
                    store.add_metric(f"t{i}", None, "PERIODICAL", seq, "0")
    threads = [threading.Thread(target=write, args=(i % 4,)) for i in range(8)]  # each writer twice
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.metrics()) == 4 * 50


def test_a_newer_schema_is_refused(tmp_path):
    path = str(tmp_path / "new.sqlite")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer nni-remote"):
        Store(path)
