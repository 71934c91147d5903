"""Metric ingest end to end: T trials each reporting N intermediate results, at concurrency C.

    python benchmarks/ingest.py --trials 8 --metrics 20000 --concurrency 4

Each trial reports ``{"default": i, "t": <time of the report call>}`` N times
as fast as it can, then a final result. Printed:

- ingest rate: metrics stored / (first report call -> last metric stored);
- report -> visible latency p50 / p99: a metric's report call -> the time the
  manager stored it (the stored ``timestamp``, committed in the same
  transaction that makes it visible over REST);
- the floor from the same run: ``sqlite3`` ``executemany`` of the same rows
  into a fresh database with the store's schema, one transaction.

``--remote`` runs the trials on a real sshd rig host (``deploy/sshrig.py``,
needs root and namespaces) instead of the local training service.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._common import bench_dirs, ms, percentile, report  # noqa: E402
from benchmarks.local_throughput import free_port  # noqa: E402
from nni_remote import Experiment, ExperimentConfig  # noqa: E402
from nni_remote.common.metrics import decode_data  # noqa: E402
from nni_remote.errors import ExperimentNotRunning  # noqa: E402
from nni_remote.manager import store as store_mod  # noqa: E402

TRIAL = '''
import time, nni
n = int(__import__("os").environ.get("BENCH_METRICS", "20000"))
nni.get_next_parameter()
for i in range(n):
    nni.report_intermediate_result({"default": i, "t": time.time()})
nni.report_final_result({"default": n, "t": time.time()})
'''


def floor(rows: list[tuple[Any, ...]], root: str) -> float:
    """Seconds to store ``rows`` with sqlite3 executemany in one transaction (WAL, synchronous=NORMAL)."""
    path = os.path.join(root, "floor.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    for statement in store_mod._SCHEMA.strip().split(";"):
        if statement.strip():
            db.execute(statement)
    t = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO MetricData VALUES (?,?,?,?,?,?)", rows)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - t
    db.close()
    return elapsed


def training_service(args: argparse.Namespace, root: str) -> tuple[dict[str, Any], Any]:
    """The local training service, or (``--remote``) one real sshd rig host and the rig to take down."""
    if not args.remote:
        return {"platform": "local"}, None
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy"))
    import sshrig  # type: ignore[import-not-found]
    rig = sshrig.SshRig(os.path.join(root, "rig"))
    hosts = rig.up(1, logins=["key"])
    os.makedirs(os.path.join(os.environ["HOME"], ".ssh"), exist_ok=True)
    with open(os.path.join(os.environ["HOME"], ".ssh", "known_hosts"), "w") as f:
        f.write("\n".join(h.host_key_line for h in hosts) + "\n")
    machines = [dict(h.machine_config(), maxTrialNumber=args.concurrency) for h in hosts]
    return {"platform": "remote", "machine_list": machines}, rig


def status_of(exp: Experiment) -> str:
    """The experiment's status; "busy" while the manager is too busy to answer in time."""
    try:
        return exp.get_status()
    except ExperimentNotRunning:
        return "busy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--metrics", type=int, default=20000, help="intermediate results per trial")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--remote", action="store_true", help="run the trials on an sshd rig host")
    parser.add_argument("--python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3")
                        else shutil.which("python3") or sys.executable)
    args = parser.parse_args()
    root, code = bench_dirs("nnir-ingest-", TRIAL)
    rig = None
    try:
        service, rig = training_service(args, root)
        run(args, root, code, service)
    finally:
        if rig is not None:
            rig.down()
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: str, code: str, service: dict[str, Any]) -> None:
    config = ExperimentConfig(
        trial_command=f"BENCH_METRICS={args.metrics} {'python3' if args.remote else args.python} trial.py", trial_code_directory=code,
        trial_concurrency=args.concurrency, max_trial_number=args.trials,
        experiment_working_directory=os.path.join(root, "exps"),
        search_space={"x": {"_type": "uniform", "_value": [0, 1]}}, tuner={"name": "Random"},
        training_service=service)
    exp = Experiment(config)
    exp.start(free_port())
    t_started = time.time()
    while status_of(exp) not in ("DONE", "ERROR"):
        time.sleep(0.05)
    t_done = time.time()
    status = exp.get_status()
    exp_dir = exp.get_experiment_profile()["logDir"]
    jobs = exp.list_trial_jobs()
    exp.stop()
    db = sqlite3.connect(os.path.join(exp_dir, "db", "nni.sqlite"))
    rows = db.execute("SELECT * FROM MetricData ORDER BY rowid").fetchall()
    db.close()
    reported, stored = [], []
    for row in rows:
        value = decode_data(row[5])
        if isinstance(value, dict) and "t" in value:
            reported.append(value["t"])
            stored.append(row[0] / 1000)
    latencies = [s - r for r, s in zip(reported, stored)]
    span = max(stored) - min(reported) if stored else float("nan")
    floor_s = floor(rows, root)
    expected = args.trials * (args.metrics + 1)
    ok = sum(j.status == "SUCCEEDED" for j in jobs)
    where = "remote (sshd rig)" if args.remote else "local"
    report(f"metric ingest, {where}: {args.trials} trials x {args.metrics} intermediate results, "
           f"concurrency {args.concurrency} ({status}, {ok} succeeded)", [
               ("metrics stored / expected", f"{len(rows)} / {expected}"),
               ("first report -> last stored", f"{span:.2f} s"),
               ("ingest rate", f"{len(rows) / span:,.0f} metrics/s"),
               ("report -> visible p50 / p99", f"{ms(percentile(latencies, .5))} / {ms(percentile(latencies, .99))}"),
               ("wall (start() -> DONE)", f"{t_done - t_started:.2f} s"),
           ])
    report("floor: sqlite3 executemany of the same rows, one transaction", [
        ("time", f"{floor_s:.3f} s"),
        ("rate", f"{len(rows) / floor_s:,.0f} rows/s"),
    ])


if __name__ == "__main__":
    main()
