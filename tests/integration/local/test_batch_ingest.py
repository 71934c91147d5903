"""Batched metric ingest is exactly-once across a manager SIGKILL (real manager, agent and trials)."""
from __future__ import annotations

import os
import sqlite3
from collections import Counter

from nni_remote import Experiment
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for, wait_status

STEPS = 3000
BURSTY_TRIAL = f'''
import time, nni
nni.get_next_parameter()
for i in range({STEPS}):
    nni.report_intermediate_result(i)
    if i % 300 == 299:
        time.sleep(0.3)   # keep metrics flowing while the manager is killed
nni.report_final_result({STEPS})
'''


def metric_rows(exp_dir: str) -> list[tuple[str, str, int]]:
    db = sqlite3.connect(os.path.join(exp_dir, "db", "nni.sqlite"))
    try:
        return db.execute("SELECT trialJobId, type, sequence FROM MetricData ORDER BY rowid").fetchall()
    finally:
        db.close()


def test_batch_ingest_exactly_once_across_manager_sigkill(launch, code_dir, experiments):
    (code_dir / "trial.py").write_text(BURSTY_TRIAL)
    exp = launch(trial_concurrency=2, max_trial_number=3)
    exp_dir = exp.get_experiment_profile()["logDir"]
    wait_for(lambda: len(metric_rows(exp_dir)) >= 1000, timeout=120, what="metrics flowing")
    exp._proc.kill()                       # SIGKILL in the middle of the metric stream
    exp._proc.wait()
    exp.port = None
    before = Counter((t, k, s) for t, k, s in metric_rows(exp_dir))

    again = Experiment.resume(exp.id, port=free_port(), wait_completion=False)
    experiments.append(again)
    assert wait_status(again, "DONE", timeout=180) == "DONE"
    jobs = again.list_trial_jobs()
    assert len(jobs) == 3 and all(j.status == "SUCCEEDED" for j in jobs), [(j.trialJobId, j.status) for j in jobs]
    rows = metric_rows(exp_dir)
    counts = Counter(rows)
    assert max(counts.values()) == 1, [r for r, n in counts.items() if n > 1][:5]   # nothing twice
    for job in jobs:
        periodical = [s for t, k, s in rows if t == job.trialJobId and k == "PERIODICAL"]
        assert periodical == list(range(STEPS)), job.trialJobId    # nothing lost, stored in order
        assert [s for t, k, s in rows if t == job.trialJobId and k == "FINAL"] == [0]
    assert set(before) <= set(counts)      # everything stored before the kill is still there
    metrics = again.get_job_metrics()
    assert all(len(metrics[j.trialJobId]) == STEPS + 1 for j in jobs)
