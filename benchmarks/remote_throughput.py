"""Remote-mode throughput on real sshd hosts (deploy/sshrig.py), next to a paramiko floor.

    sudo python3 benchmarks/remote_throughput.py --hosts 4 --slots 2 --trials 200
    sudo python3 benchmarks/remote_throughput.py --hosts 64 --slots 1 --trials 10000 --prefetch --no-floor
    sudo python3 benchmarks/remote_throughput.py --hosts 16 --trials 32 --code-mb 10 --idle 20 --no-floor

Prints wall, trials/s, runner overhead per trial, dispatch gap (trial exit seen ->
next trial spawned, on the agent) p50/p95, metric latency (report call -> stored at
the manager) p50/p95, start-up (start() -> every agent synced: connect + probe +
upload + agents ready), how many hosts ran trials, the manager's CPU while the
experiment sits idle (``--idle S``: S seconds after DONE with every agent still
polling), and the floor: the same trial command run C at a time through
already-open paramiko connections (TCP_NODELAY) with no runner at all.
``--code-mb N`` adds N MiB of incompressible files to the trial code (uploaded
to every host at start-up).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "deploy"))
import sshrig  # noqa: E402

from benchmarks._common import TRIVIAL_TRIAL, dispatch_gaps, ms, percentile, report  # noqa: E402
from nni_remote import Experiment, ExperimentConfig  # noqa: E402
from nni_remote.services.ssh import SshConnection, SshTarget  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--prefetch", action="store_true", help="prefetchTrials: each slot holds its next trial")
    parser.add_argument("--code-mb", type=float, default=0, help="MiB of random files added to the trial code")
    parser.add_argument("--idle", type=float, default=0, help="seconds of idle manager CPU measured after DONE")
    parser.add_argument("--no-floor", action="store_true", help="skip the paramiko floor (long with many trials)")
    parser.add_argument("--direct", action="store_true",
                        help="agents reach the manager directly (nni_manager_ip) instead of SSH tunnels")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="nnir-rbench-")
    home = os.path.join(root, "home")
    os.makedirs(os.path.join(home, ".ssh"))
    os.environ["HOME"] = home
    rig = sshrig.SshRig(os.path.join(root, "rig"))
    try:
        hosts = rig.up(args.hosts, logins=["key"] * args.hosts)
        with open(os.path.join(home, ".ssh", "known_hosts"), "w") as f:
            f.write("\n".join(h.host_key_line for h in hosts) + "\n")
        run(args, root, rig, hosts)
    finally:
        rig.down()
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: str, rig: sshrig.SshRig, hosts: list) -> None:
    code = os.path.join(root, "code")
    os.makedirs(code)
    with open(os.path.join(code, "trial.py"), "w") as f:
        f.write(TRIVIAL_TRIAL)
    remaining = int(args.code_mb * 2**20)
    for i in range((remaining + 2**20 - 1) // 2**20):   # 1 MiB files of random bytes: nothing to compress
        with open(os.path.join(code, f"blob{i:03d}.bin"), "wb") as f:
            f.write(os.urandom(min(2**20, remaining - i * 2**20)))
    concurrency = args.hosts * args.slots
    machines = [dict(h.machine_config(), maxTrialNumber=args.slots) for h in hosts]
    config = ExperimentConfig(
        trial_command="python3 trial.py", trial_code_directory=code, trial_concurrency=concurrency,
        max_trial_number=args.trials, experiment_working_directory=os.path.join(root, "exps"),
        search_space={"x": {"_type": "uniform", "_value": [0, 1]}}, tuner={"name": "Random"},
        training_service={"platform": "remote", "machine_list": machines},
        nni_manager_ip="198.18.0.1" if args.direct else None, prefetch_trials=args.prefetch or None)
    exp = Experiment(config)
    t_call = time.time()
    exp.start(18950)
    while exp.get_status() not in ("DONE", "ERROR"):
        time.sleep(0.01)
    t_done = time.time()
    idle_cpu = _idle_cpu(exp, args.idle) if args.idle else float("nan")
    jobs = exp.list_trial_jobs()
    metrics = exp.get_job_metrics()
    exp_dir = exp.get_experiment_profile()["logDir"]
    exp.stop()
    ready = _ready_times(os.path.join(exp_dir, "log", "nnimanager.log"))
    startup = max(ready) - t_call if len(ready) == args.hosts else float("nan")
    first_start = min(j.startTime for j in jobs) / 1000
    latencies = []
    for job in jobs:
        final = [m for m in metrics[job.trialJobId] if m.type == "FINAL"][0]
        latencies.append(final.timestamp / 1000 - final.data["t_report"])
    gaps = dispatch_gaps([(j.startTime / 1000, j.endTime / 1000) for j in jobs], concurrency)
    mean_trial = sum((j.endTime - j.startTime) / 1000 for j in jobs) / len(jobs)
    floor = None if args.no_floor else _floor(hosts, exp.id, args.trials, concurrency)
    wall = t_done - first_start
    report(f"nni-remote remote mode ({'direct HTTP' if args.direct else 'SSH tunnels'}): "
           f"{args.hosts} hosts x {args.slots} slots, {args.trials} trivial trials"
           f"{', prefetchTrials' if args.prefetch else ''} ({sum(j.status == 'SUCCEEDED' for j in jobs)} succeeded)", [
               (f"start-up (start() -> all agents synced; code {args.code_mb:g} MiB + trial.py)", f"{startup:.2f} s"),
               ("hosts that ran trials", f"{len({j.machine for j in jobs})} of {args.hosts}"),
               ("start() -> first trial running", f"{first_start - t_call:.2f} s"),
               ("wall (first trial -> DONE)", f"{wall:.2f} s"),
               ("wall (start() -> DONE)", f"{t_done - t_call:.2f} s"),
               ("trials/s", f"{args.trials / wall:.1f}"),
               ("runner overhead per trial (vs the floor's trial)",
                "n/a" if floor is None else ms(wall * concurrency / args.trials - floor["trial_s"])),
               ("mean trial time (agent's view)", ms(mean_trial)),
               ("dispatch gap p50 / p95", f"{ms(percentile(gaps, .5))} / {ms(percentile(gaps, .95))}"),
               ("metric latency p50 / p95", f"{ms(percentile(latencies, .5))} / {ms(percentile(latencies, .95))}"),
               (f"manager CPU while idle ({args.idle:g} s after DONE)", f"{idle_cpu:.2f} % of one core"),
           ])
    if floor is None:
        return
    report("floor: the same command over open paramiko connections (TCP_NODELAY), no runner", [
        ("wall", f"{floor['wall']:.2f} s"),
        ("trials/s", f"{args.trials / floor['wall']:.1f}"),
        ("mean trial time (exec round trip)", ms(floor["trial_s"])),
    ])


def _idle_cpu(exp: Experiment, seconds: float) -> float:
    """The manager process's CPU (% of one core) over ``seconds`` of doing nothing (agents keep polling)."""
    import psutil
    proc = psutil.Process(exp._proc.pid)
    before, t0 = proc.cpu_times(), time.monotonic()
    time.sleep(seconds)
    after, t1 = proc.cpu_times(), time.monotonic()
    used = (after.user + after.system) - (before.user + before.system)
    return 100.0 * used / (t1 - t0)


def _ready_times(log_path: str) -> list[float]:
    times = []
    with open(log_path) as f:
        for line in f:
            m = re.match(r"\[(.+?)\] INFO \(nni_remote.agents\) machine .* is ready", line)
            if m:
                times.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return times


def _floor(hosts: list, exp_id: str, trials: int, concurrency: int) -> dict:
    conns = [SshConnection(SshTarget(host=h.address, port=h.port, user=h.user, key_file=h.key_file)) for h in hosts]
    for c in conns:
        c.connect()
    base = f"nni-remote/{exp_id}"
    cmd = f"cd {base}/code && PYTHONPATH=$HOME/{base}/agent/shim python3 trial.py"

    def one(i: int) -> float:
        t = time.time()
        conns[i % len(conns)].run(cmd, timeout=60)
        return time.time() - t

    start = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        durations = list(pool.map(one, range(trials)))
    wall = time.time() - start
    for c in conns:
        c.close()
    return {"wall": wall, "trial_s": sum(durations) / len(durations)}


if __name__ == "__main__":
    main()
