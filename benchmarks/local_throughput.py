"""Local-mode throughput: N trivial trials at concurrency C, next to a bare-loop floor.

    python benchmarks/local_throughput.py --trials 200 --concurrency 4

Prints wall time, trials/s, runner overhead per trial (wall x C / N - mean trial
process time of the floor), dispatch gap (a trial's last line -> the next trial's
first line in that slot) p50/p95, metric latency (report call -> stored in the
manager and visible over REST) p50/p95, manager RSS, and the bare loop.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._common import (TRIVIAL_TRIAL, bare_loop, dispatch_gaps, ms, percentile,  # noqa: E402
                                report)
from nni_remote import Experiment, ExperimentConfig  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--prefetch", action="store_true", help="prefetchTrials: each slot holds its next trial")
    parser.add_argument("--python", default="/usr/bin/python3" if os.path.exists("/usr/bin/python3")
                        else shutil.which("python3") or sys.executable,
                        help="interpreter of the trial command")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="nnir-bench-")
    os.environ["HOME"] = os.path.join(root, "home")
    os.makedirs(os.environ["HOME"])
    code = os.path.join(root, "code")
    os.makedirs(code)
    script = os.path.join(code, "trial.py")
    with open(script, "w") as f:
        f.write(TRIVIAL_TRIAL)
    try:
        run(args, root, code, script)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: str, code: str, script: str) -> None:
    config = ExperimentConfig(
        trial_command=f"{args.python} trial.py", trial_code_directory=code, trial_concurrency=args.concurrency,
        max_trial_number=args.trials, experiment_working_directory=os.path.join(root, "exps"),
        search_space={"x": {"_type": "uniform", "_value": [0, 1]}}, tuner={"name": "Random"},
        training_service={"platform": "local"}, prefetch_trials=args.prefetch or None)
    exp = Experiment(config)
    t_call = time.time()
    exp.start(free_port())
    t_started = time.time()
    while exp.get_status() != "DONE":
        time.sleep(0.01)
    t_done = time.time()
    rss = psutil.Process(exp._proc.pid).memory_info().rss
    jobs = exp.list_trial_jobs()
    metrics = exp.get_job_metrics()
    exp_dir = exp.get_experiment_profile()["logDir"]
    t_stop = time.time()
    exp.stop()
    t_stopped = time.time()

    spans, latencies, exit_lags, start_lags = [], [], [], []
    for job in jobs:
        with open(os.path.join(exp_dir, "trials", job.trialJobId, "bench.json")) as f:
            b = json.load(f)
        spans.append((b["t0"], b["t_end"]))
        exit_lags.append(job.endTime / 1000 - b["t_end"])      # last line -> the agent saw the process end
        start_lags.append(b["t0"] - job.startTime / 1000)      # spawned -> the script's first line
        final = [m for m in metrics[job.trialJobId] if m.type == "FINAL"][0]
        latencies.append(final.timestamp / 1000 - final.data["t_report"])
    ok = sum(j.status == "SUCCEEDED" for j in jobs)
    floor = bare_loop(args.python, script, args.trials, args.concurrency, os.path.join(root, "bare"))
    wall = t_done - t_started
    gaps = dispatch_gaps([(j.startTime / 1000, j.endTime / 1000) for j in jobs], args.concurrency)
    py_gaps = dispatch_gaps(spans, args.concurrency)
    report(f"nni-remote local mode: {args.trials} trivial trials, concurrency {args.concurrency}"
           f"{', prefetchTrials' if args.prefetch else ''} ({ok} succeeded)", [
               ("start() returned after", f"{t_started - t_call:.2f} s"),
               ("wall (start() -> DONE)", f"{wall:.2f} s"),
               ("trials/s", f"{args.trials / wall:.1f}"),
               ("runner overhead per trial", ms(wall * args.concurrency / args.trials - floor["trial_s"])),
               ("dispatch gap p50 / p95 (trial exit seen -> next trial spawned)",
                f"{ms(percentile(gaps, .5))} / {ms(percentile(gaps, .95))}"),
               ("slot gap p50 / p95 (trial's last line -> next trial's first line)",
                f"{ms(percentile(py_gaps, .5))} / {ms(percentile(py_gaps, .95))}"),
               ("  of which: last line -> exit seen by the agent, p50",
                ms(percentile(exit_lags, .5))),
               ("  of which: spawned (sh, bash, python start, import) -> first line, p50",
                ms(percentile(start_lags, .5))),
               ("metric latency p50 / p95",
                f"{ms(percentile(latencies, .5))} / {ms(percentile(latencies, .95))}"),
               ("manager RSS", f"{rss / 2**20:.0f} MiB"),
               ("stop() took", f"{t_stopped - t_stop:.2f} s"),
           ])
    report("floor: the same trial, bare loop, no runner", [
        ("wall", f"{floor['wall']:.2f} s"),
        ("trials/s", f"{args.trials / floor['wall']:.1f}"),
        ("mean trial process time", ms(floor["trial_s"])),
        ("slot gap p50 / p95 (last line -> next first line)",
         f"{ms(percentile(floor['slot_gaps'], .5))} / {ms(percentile(floor['slot_gaps'], .95))}"),
    ])


if __name__ == "__main__":
    main()
