"""Metric ingest end to end: T trials each reporting N intermediate results, at concurrency C.

    python benchmarks/ingest.py --trials 8 --metrics 20000 --concurrency 4

Each trial reports ``{"default": i, "t": <time of the report call>}`` N times,
as fast as it can or (``--rate R``) paced so that the C running trials together
offer R metrics/s, then a final result. Printed:

- ingest rate: metrics stored / (first report call -> last metric stored);
- report -> visible p50 / p99: a metric's report call -> the first time a
  reader of the experiment's store (its own SQLite connection, polling every
  2 ms, as REST's reads have) found its row, i.e. committed: what the next
  REST read returns. An upper bound by the poll's period;
- report -> received p50 / p99: the report call -> the stored ``timestamp``
  (the manager's clock when the agent's batch arrived, before it is committed);
- CPU per metric of the manager, the agent and the trials (local runs; from
  the first metric stored to the end; the trials' includes their interpreters'
  start): what the pipeline costs, whatever else the machine runs;
- the floor from the same run: ``sqlite3`` ``executemany`` of the same rows
  into a fresh database with the store's schema, one transaction.

Unpaced trials offer far more than the pipeline absorbs on a small machine (and
take the CPU from it), so their latency measures the backlog; the latency goal
is measured at a paced rate (``--rate 20000``).

``--remote`` runs the trials on a real sshd rig host (``deploy/sshrig.py``,
needs root and namespaces) instead of the local training service.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import threading
import time
from typing import Any

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._common import bench_dirs, ms, percentile, report  # noqa: E402
from benchmarks.local_throughput import free_port  # noqa: E402
from nni_remote import Experiment, ExperimentConfig  # noqa: E402
from nni_remote.common.metrics import decode_data  # noqa: E402
from nni_remote.errors import ExperimentNotRunning  # noqa: E402
from nni_remote.manager import store as store_mod  # noqa: E402

TRIAL = '''
import os, time, nni
n = int(os.environ.get("BENCH_METRICS", "20000"))
rate = float(os.environ.get("BENCH_RATE", "0"))      # this trial's reports per second (0: as fast as it can)
nni.get_next_parameter()
t0 = time.time()
for i in range(n):
    if rate and i % 16 == 0:                         # paced in steps of 16 reports: a sleep per report
        wait = t0 + i / rate - time.time()           # would cost more than the report
        if wait > 0:
            time.sleep(wait)
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


class Reader(threading.Thread):
    """Watches the experiment's store for new metric rows (a reader of its own, as REST's streamed reads are):
    when each row was first readable, i.e. committed."""

    def __init__(self, db_path: str) -> None:
        super().__init__(daemon=True)
        self.path, self.seen, self.done = db_path, {}, threading.Event()
        self.polls = 0

    def run(self) -> None:
        while not os.path.exists(self.path) and not self.done.is_set():
            time.sleep(0.01)
        db = sqlite3.connect(self.path, timeout=30)
        last = 0
        while not self.done.is_set():
            try:
                rows = db.execute("SELECT rowid, trialJobId, type, sequence FROM MetricData WHERE rowid > ? "
                                  "ORDER BY rowid", (last,)).fetchall()
            except sqlite3.OperationalError:   # the table is not there yet
                rows = []
            now = time.time()
            self.polls += 1
            for rowid, trial, kind, sequence in rows:
                self.seen[(trial, kind, sequence)] = now
                last = rowid
            time.sleep(0.002)
        db.close()


def cpu_seconds(exp: Experiment, remote: bool) -> dict[str, float]:
    """CPU seconds (user + system) the manager, and in local runs the agent and the trials, used so far."""
    if exp._proc is None:
        return {}
    manager = psutil.Process(exp._proc.pid)
    out = {"manager": sum(manager.cpu_times()[:2])}
    if remote:
        return out
    out.update(agent=0.0, trials=0.0)
    for child in manager.children():
        times = child.cpu_times()
        out["agent"] += times.user + times.system
        out["trials"] += times.children_user + times.children_system   # the trials it started and reaped
    return out


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
    parser.add_argument("--rate", type=float, default=0.0,
                        help="metrics/s offered by the running trials together (0: as fast as they can)")
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
    per_trial = args.rate / args.concurrency if args.rate else 0
    config = ExperimentConfig(
        trial_command=f"BENCH_METRICS={args.metrics} BENCH_RATE={per_trial} "
                      f"{'python3' if args.remote else args.python} trial.py", trial_code_directory=code,
        trial_concurrency=args.concurrency, max_trial_number=args.trials,
        experiment_working_directory=os.path.join(root, "exps"),
        search_space={"x": {"_type": "uniform", "_value": [0, 1]}}, tuner={"name": "Random"},
        training_service=service)
    exp = Experiment(config)
    port = free_port()
    exp.start(port)
    t_started = time.time()
    reader = Reader(os.path.join(exp.get_experiment_profile()["logDir"], "db", "nni.sqlite"))
    reader.start()
    cpu_before: dict[str, float] = {}
    while status_of(exp) not in ("DONE", "ERROR"):
        if not cpu_before and reader.seen:   # the first metric is stored: start-up is over
            cpu_before = cpu_seconds(exp, args.remote)
        time.sleep(0.05)
    t_done = time.time()
    time.sleep(0.5)                      # the reader's last page
    reader.done.set()
    reader.join()
    cpu = cpu_seconds(exp, args.remote)
    status = exp.get_status()
    exp_dir = exp.get_experiment_profile()["logDir"]
    jobs = exp.list_trial_jobs()
    exp.stop()
    db = sqlite3.connect(os.path.join(exp_dir, "db", "nni.sqlite"))
    rows = db.execute("SELECT * FROM MetricData ORDER BY rowid").fetchall()
    db.close()
    reported, stored, visible = [], [], []
    for row in rows:
        value = decode_data(row[5])
        if isinstance(value, dict) and "t" in value:
            reported.append(value["t"])
            stored.append(row[0] / 1000)
            seen = reader.seen.get((row[1], row[3], row[4]))
            if seen is not None:
                visible.append(seen - value["t"])
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
               ("offered", f"{args.rate:,.0f} metrics/s" if args.rate else "as fast as the trials can"),
               ("report -> visible p50 / p99",
                f"{ms(percentile(visible, .5))} / {ms(percentile(visible, .99))} "
                f"({len(visible)} rows seen by the reader, {reader.polls} polls)"),
               ("report -> received p50 / p99", f"{ms(percentile(latencies, .5))} / {ms(percentile(latencies, .99))}"),
               ("wall (start() -> DONE)", f"{t_done - t_started:.2f} s"),
           ] + [(f"CPU per metric: {name}", f"{(seconds - cpu_before.get(name, 0)) / len(rows) * 1e6:.1f} us "
                                             f"({seconds - cpu_before.get(name, 0):.1f} s)")
                for name, seconds in cpu.items() if rows])
    report("floor: sqlite3 executemany of the same rows, one transaction", [
        ("time", f"{floor_s:.3f} s"),
        ("rate", f"{len(rows) / floor_s:,.0f} rows/s"),
    ])


if __name__ == "__main__":
    main()
