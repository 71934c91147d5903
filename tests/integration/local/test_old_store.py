"""An experiment written by the previous version (store schema 1) opens in view and resumes."""
from __future__ import annotations

import os
import sqlite3

from nni_remote import Experiment
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for, wait_status


def as_schema_1(db_path: str) -> None:
    """Rewrite a store the way schema 1 kept it: one ``Delivered`` row per event, schema 1's indexes."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.executescript("""
        BEGIN;
        CREATE TABLE Delivered (trialJobId text, seq integer, PRIMARY KEY (trialJobId, seq));
        WITH RECURSIVE s(run, seq, next) AS (SELECT runId, 0, nextSeq FROM Delivery WHERE nextSeq > 0
            UNION ALL SELECT run, seq + 1, next FROM s WHERE seq + 1 < next)
        INSERT INTO Delivered SELECT run, seq FROM s;
        DROP TABLE Delivery;
        DROP INDEX MetricData_final;
        CREATE INDEX MetricData_trialJobId ON MetricData(trialJobId);
        CREATE INDEX MetricData_type ON MetricData(type);
        PRAGMA user_version=1;
        COMMIT;
    """)
    assert db.execute("SELECT COUNT(*) FROM Delivered").fetchone()[0] > 0
    db.close()


def test_a_schema_1_experiment_is_viewed_and_resumed(launch, experiments):
    exp = launch(trial_concurrency=2, max_trial_number=2)
    assert wait_status(exp, "DONE") == "DONE"
    metrics = {k: [(m.type, m.sequence, m.data) for m in v] for k, v in exp.get_job_metrics().items()}
    exp_dir = exp.get_experiment_profile()["logDir"]
    exp.stop()
    db_path = os.path.join(exp_dir, "db", "nni.sqlite")
    as_schema_1(db_path)

    viewer = Experiment.view(exp.id, port=free_port(), non_blocking=True)
    experiments.append(viewer)
    jobs = viewer.list_trial_jobs()
    assert len(jobs) == 2 and all(j.status == "SUCCEEDED" for j in jobs)
    assert {k: [(m.type, m.sequence, m.data) for m in v] for k, v in viewer.get_job_metrics().items()} == metrics
    viewer.stop()

    again = Experiment.resume(exp.id, port=free_port(), wait_completion=False)
    experiments.append(again)
    again.update_max_trial_number(3)                    # one more trial, its events stored once
    wait_for(lambda: len(again.list_trial_jobs()) == 3, what="a third trial")
    wait_for(lambda: all(j.status == "SUCCEEDED" for j in again.list_trial_jobs()), timeout=90, what="3 done")
    after = again.get_job_metrics()
    assert len(after) == 3 and all(
        [(m.type, m.sequence, m.data) for m in after[k]] == v for k, v in metrics.items())
    assert all(sorted(m.sequence for m in ms if m.type == "PERIODICAL") == [0, 1, 2] for ms in after.values())
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        runs = dict(db.execute("SELECT runId, nextSeq FROM Delivery").fetchall())
    finally:
        db.close()
    assert len(runs) == 3 and all(n == 6 for n in runs.values())   # status, 3 intermediate, final, end
