"""The SQLite store: profile revisions, trials, exactly-once delivery, metrics, schema version."""
from __future__ import annotations

import os
import sqlite3
import threading
import time

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


def test_next_seqs_per_run_and_a_failed_transaction_leaves_nothing(store):
    assert store.next_seqs(["run1", "run1.1"]) == {"run1": 0, "run1.1": 0}
    with store.transaction():
        store.set_next_seqs({"run1": 3})
        store.add_metric_rows([(1, "t", None, "PERIODICAL", s, '"1"') for s in range(3)])
    assert store.next_seqs(["run1", "run1.1"]) == {"run1": 3, "run1.1": 0}   # spares are other run ids
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.set_next_seqs({"run1": 5})
            store.add_metric("t", None, "FINAL", 0, '"1"')
            raise RuntimeError("boom")
    assert len(store.metrics()) == 3 and store.next_seqs(["run1"]) == {"run1": 3}
    many = [f"r{i}" for i in range(1200)]                 # more than one statement's worth of arguments
    assert set(store.next_seqs(many).values()) == {0}


def test_a_schema_1_store_opens_migrated(tmp_path):
    """A store written by the previous version (per-event ``Delivered`` rows, schema 1's indexes)."""
    path = str(tmp_path / "old.sqlite")
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE MetricData (timestamp integer, trialJobId text, parameterId text, type text,
            sequence integer, data text);
        CREATE INDEX MetricData_trialJobId ON MetricData(trialJobId);
        CREATE INDEX MetricData_type ON MetricData(type);
        CREATE TABLE Delivered (trialJobId text, seq integer, PRIMARY KEY (trialJobId, seq));
        INSERT INTO Delivered VALUES ('a', 0), ('a', 1), ('a', 2), ('a.1', 0);
        INSERT INTO MetricData VALUES (1, 'a', '0', 'PERIODICAL', 0, '"0.5"'), (2, 'a', '0', 'FINAL', 0, '"0.9"');
        PRAGMA user_version=1;
    """)
    db.close()
    store = Store(path)
    try:
        assert store.next_seqs(["a", "a.1", "b"]) == {"a": 3, "a.1": 1, "b": 0}
        assert [m["data"] for m in store.metrics(trial_id="a", kind="FINAL")] == ['"0.9"']
        assert [m["type"] for m in store.metrics()] == ["PERIODICAL", "FINAL"]
    finally:
        store.close()
    db = sqlite3.connect(path)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    assert "Delivered" not in names and "MetricData_type" not in names and "MetricData_final" in names


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
                if store.next_seqs([f"r{i}"])[f"r{i}"] == seq:
                    store.set_next_seqs({f"r{i}": seq + 1})
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


def test_a_background_checkpoint_keeps_the_wal_short_and_stops_on_close(tmp_path, monkeypatch):
    monkeypatch.setattr("nni_remote.manager.store.CHECKPOINT_EVERY", 0.05)
    path = str(tmp_path / "ck.sqlite")
    store = Store(path, background_checkpoint=True)
    store.add_metric_rows([(1, "t", None, "PERIODICAL", s, '"1"') for s in range(5000)])
    deadline = time.time() + 60
    while not _copied(path):                # commits do not checkpoint (wal_autocheckpoint=0): the thread does
        assert time.time() < deadline, "the WAL was never checkpointed"
        time.sleep(0.05)
    thread = store._checkpointer
    store.close()
    assert thread is not None and not thread.is_alive()
    assert len(Store(path).metrics()) == 5000


def _copied(path: str) -> bool:
    """Whether the database file itself (not only its WAL) holds the rows."""
    return os.path.getsize(path) > 64 * 1024
