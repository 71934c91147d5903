"""Reads at scale: T trials x M intermediate results in a real experiment store, opened by a real manager.

    python benchmarks/scale.py --trials 10000 --metrics 100

A one-trial experiment runs and stops; its store then gets T finished trials
with M intermediate results and a final result each, written directly (fast),
and the experiment is opened with ``Experiment.view``. Printed: the manager's
start-up, ``GET trial-jobs`` (size), all ``metric-data`` (size), a page of
``metric-data``, one trial's metrics, one trial's detail (its curve), a page of
``/nni-remote/trials``, the whole ``/nni-remote/trials`` with gzip, and the
manager's RSS; next to the floor: the same rows read with ``sqlite3``.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import sqlite3
import sys
import time
from typing import Any

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._common import bench_dirs, ms, percentile, report  # noqa: E402
from benchmarks.local_throughput import free_port  # noqa: E402
from nni_remote import Experiment, ExperimentConfig  # noqa: E402
from nni_remote.manager.store import TRIAL_COLUMNS  # noqa: E402


def fill(db_path: str, trials: int, metrics: int) -> list[str]:
    """Write ``trials`` finished trials with their metrics into the store; return their ids."""
    rng = random.Random(1)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("BEGIN")
    ids, now = [], int(time.time() * 1000)
    base = db.execute("SELECT COALESCE(MAX(sequenceId), -1) + 1 FROM Trial").fetchone()[0]
    trial_rows, metric_rows = [], []
    for i in range(trials):
        tid = "s%07d" % i
        ids.append(tid)
        seq = base + i
        x = rng.random()
        param = json.dumps({"parameter_id": seq, "parameter_source": "algorithm", "parameters": {"x": x, "lr": 0.1},
                            "parameter_index": 0})
        row = {"trialJobId": tid, "sequenceId": seq, "status": "SUCCEEDED", "parameter": param,
               "parameterId": str(seq), "parameterSource": "algorithm", "submitTime": now, "startTime": now,
               "endTime": now + 1000, "machine": "local", "message": "", "exitCode": 0, "attempt": 0,
               "logPath": "/nonexistent/" + tid}
        trial_rows.append(tuple(row.get(c) for c in TRIAL_COLUMNS))
        for s in range(metrics):
            metric_rows.append((now, tid, str(seq), "PERIODICAL", s, json.dumps(json.dumps({"default": x * s / metrics,
                                                                                               "loss": 1 - x}))))
        metric_rows.append((now, tid, str(seq), "FINAL", 0, json.dumps(json.dumps({"default": x}))))
    db.executemany(f"INSERT INTO Trial ({','.join(TRIAL_COLUMNS)}) VALUES ({','.join('?' * len(TRIAL_COLUMNS))})",
                   trial_rows)
    db.executemany("INSERT INTO MetricData VALUES (?,?,?,?,?,?)", metric_rows)
    db.execute("COMMIT")
    db.close()
    return ids


def timed_get(port: int, path: str, repeat: int, gzip: bool = False) -> tuple[list[float], int]:
    """Seconds per GET (``repeat`` times, one connection) and the body's size on the wire."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    times, size = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        times.append(time.perf_counter() - t)
        if resp.status != 200:
            raise SystemExit(f"GET {path}: HTTP {resp.status}: {body[:300]!r}")
        size = len(body)
    conn.close()
    return times, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10000)
    parser.add_argument("--metrics", type=int, default=100, help="intermediate results per trial")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root, code = bench_dirs("nnir-scale-", "import nni\nnni.get_next_parameter()\nnni.report_final_result(0.5)\n")
    try:
        run(args, root, code)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def one_trial_experiment(root: str, code: str, space: dict[str, Any] | None = None) -> tuple[str, str]:
    """Run a one-trial local experiment to its end and stop it: its id and the path of its store (to
    :func:`fill`)."""
    config = ExperimentConfig(
        trial_command=f"{sys.executable} trial.py", trial_code_directory=code, trial_concurrency=1,
        max_trial_number=1, experiment_working_directory=os.path.join(root, "exps"),
        search_space=space or {"x": {"_type": "uniform", "_value": [0, 1]}}, tuner={"name": "Random"},
        training_service={"platform": "local"})
    exp = Experiment(config)
    exp.start(free_port())
    while exp.get_status() not in ("DONE", "ERROR"):
        time.sleep(0.1)
    exp_dir = exp.get_experiment_profile()["logDir"]
    exp.stop()
    return exp.id, os.path.join(exp_dir, "db", "nni.sqlite")


def run(args: argparse.Namespace, root: str, code: str) -> None:
    exp_id, db_path = one_trial_experiment(root, code)
    t = time.perf_counter()
    ids = fill(db_path, args.trials, args.metrics)
    fill_s = time.perf_counter() - t

    port = free_port()
    t = time.perf_counter()
    viewed = Experiment.view(exp_id, port=port, non_blocking=True)
    startup = time.perf_counter() - t
    if viewed._proc is not None:
        print(f"manager RSS before any read: {psutil.Process(viewed._proc.pid).memory_info().rss / 2**20:.0f} MiB")
    try:
        rows = measure(args, port, ids, viewed, startup, fill_s)
    finally:
        viewed.stop()
    report("floor: the same reads straight from sqlite3", floor(db_path, ids, args.repeat))
    del rows


def measure(args: argparse.Namespace, port: int, ids: list[str], viewed: Experiment, startup: float,
            fill_s: float) -> Any:
    one = ids[len(ids) // 2]
    prefix = "/api/v1/nni"
    ours = "/api/v1/nni-remote"
    cases = [
        ("GET trial-jobs", prefix + "/trial-jobs", False, args.repeat),
        ("GET metric-data (all)", prefix + "/metric-data", False, 2),
        ("GET metric-data?offset=500000&limit=1000", prefix + "/metric-data?offset=500000&limit=1000", False,
         args.repeat),
        ("GET metric-data/<one trial>", f"{prefix}/metric-data/{one}", False, args.repeat * 4),
        ("GET nni-remote/trials/<one> (its curve)", f"{ours}/trials/{one}", False, args.repeat * 4),
        ("GET nni-remote/trials?offset=5000&limit=100&sort=-finalScalar",
         f"{ours}/trials?offset=5000&limit=100&sort=-finalScalar", False, args.repeat),
        ("GET nni-remote/trials (all, gzip)", f"{ours}/trials", True, args.repeat),
    ]
    rows = [("trials x intermediate results", f"{len(ids)} x {args.metrics} "
                                              f"({len(ids) * (args.metrics + 1):,} metric rows)"),
            ("rows written directly", f"{fill_s:.1f} s"),
            ("manager start-up (view)", f"{startup:.2f} s")]
    proc = psutil.Process(viewed._proc.pid) if viewed._proc is not None else None
    rss_before = proc.memory_info().rss / 2**20 if proc is not None else None
    for label, path, gz, repeat in cases:
        times, size = timed_get(port, path, repeat, gz)
        rss = f", RSS after: {proc.memory_info().rss / 2**20:.0f} MiB" if proc is not None else ""
        rows.append((label, f"p50 {ms(percentile(times, .5))}  max {ms(max(times))}  ({size / 2**20:.2f} MiB{rss})"))
    if proc is not None:
        time.sleep(0.5)    # memory is given back once an answer is sent
        rows.append(("manager RSS: before any read -> after them all",
                     f"{rss_before:.0f} -> {proc.memory_info().rss / 2**20:.0f} MiB"))
    report(f"reads at scale: {len(ids)} trials x {args.metrics} metrics (Experiment.view)", rows)
    return rows


def floor(db_path: str, ids: list[str], repeat: int) -> list[tuple[str, str]]:
    db = sqlite3.connect(db_path)
    one = ids[len(ids) // 2]
    out = []
    for label, query, qargs in [
            ("all Trial rows", "SELECT * FROM Trial ORDER BY sequenceId", ()),
            ("all MetricData rows", "SELECT * FROM MetricData ORDER BY rowid", ()),
            ("one trial's MetricData rows", "SELECT * FROM MetricData WHERE trialJobId=? ORDER BY rowid", (one,))]:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            db.execute(query, qargs).fetchall()
            times.append(time.perf_counter() - t)
        out.append((label, f"p50 {ms(percentile(times, .5))}"))
    db.close()
    return out


if __name__ == "__main__":
    main()
