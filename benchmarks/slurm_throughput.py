"""Slurm throughput on a real cluster (deploy/slurmrig.py), next to a bare ``sbatch`` loop floor.

    sudo python3 benchmarks/slurm_throughput.py --trials 60 --nodes 2

One run, one cluster: (1) the floor: the same trial command submitted with a
plain ``sbatch --wrap`` loop from the login node, waiting until ``squeue`` is
empty; (2) nni-remote, one job per trial; (3) nni-remote, reuse mode. Prints
wall, trials/s, scheduling overhead per trial (extra slot-seconds per trial over
the floor), and the login-node agent's Slurm calls per minute (``squeue``; no
``sacct`` is used, ``sbatch``/``scancel`` shown too).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "deploy"))
import slurmrig  # noqa: E402

from benchmarks._common import TRIVIAL_TRIAL, report  # noqa: E402
from nni_remote import Experiment, ExperimentConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--nodes", type=int, default=2)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="nnir-sbench-")
    os.environ["HOME"] = os.path.join(root, "home")
    os.makedirs(os.environ["HOME"])
    rig = slurmrig.SlurmRig(os.path.join(root, "rig"), nodes=args.nodes, gpus_per_node=0)
    try:
        rig.up()
        slots = args.nodes * rig.cpus              # one CPU per trial: every CPU of the cluster busy
        code = os.path.join(root, "code")
        os.makedirs(code)
        with open(os.path.join(code, "trial.py"), "w") as f:
            f.write(TRIVIAL_TRIAL)
        floor = bare_sbatch_loop(rig, args.trials)
        runs = [(reuse, run_experiment(rig, root, code, args.trials, slots, reuse)) for reuse in (False, True)]
    finally:
        rig.down()
        shutil.rmtree(root, ignore_errors=True)
    report(f"floor: bare `sbatch --wrap` loop from the login node, {args.trials} trials, {slots} CPUs", [
        ("wall (first job running -> squeue empty)", f"{floor:.2f} s"),
        ("trials/s", f"{args.trials / floor:.2f}"),
    ])
    for reuse, r in runs:
        minutes = max(r["stats_span"], 1e-9) / 60
        calls = r["calls"]
        report(f"nni-remote, {'reuse mode (workers)' if reuse else 'one job per trial'}: {args.trials} trivial "
               f"trials ({r['succeeded']} succeeded), trialConcurrency {slots}", [
                   ("wall (first trial running -> DONE)", f"{r['wall']:.2f} s"),
                   ("wall (start() -> DONE)", f"{r['total']:.2f} s"),
                   ("trials/s", f"{args.trials / r['wall']:.2f}"),
                   ("scheduling overhead per trial vs floor",
                    f"{(r['wall'] - floor) * slots / args.trials * 1000:.0f} ms (slot time)"),
                   ("squeue calls per minute (poll interval 1 s)", f"{calls['squeue'] / minutes:.1f}"),
                   ("sacct calls per minute", "0.0 (not used)"),
                   ("sbatch / scancel calls", f"{calls['sbatch']} / {calls['scancel']}"),
               ])


def bare_sbatch_loop(rig: slurmrig.SlurmRig, trials: int) -> float:
    """Seconds from the first ``sbatch`` to an empty queue for ``trials`` plain jobs."""
    shim = "$HOME/floor"
    script = (f"mkdir -p {shim} && cd {shim} && printf '%s' {_q(TRIVIAL_TRIAL)} > trial.py && "
              "printf 'def get_next_parameter():\\n    return {}\\ndef report_final_result(v):\\n    pass\\n' "
              "> nni.py && rm -f starts && "
              f"for i in $(seq {trials}); do sbatch -Q -o /dev/null --wrap 'date +%s.%N >> starts; python3 trial.py' "
              "|| exit 1; done && "
              "while [ -n \"$(squeue -h -u $USER -o %i)\" ]; do sleep 0.05; done && "
              "t1=$(date +%s.%N) && echo \"$(sort -n starts | head -1) $t1\"")
    t0, t1 = map(float, rig.login_run(script, timeout=600).split())
    return t1 - t0


def run_experiment(rig: slurmrig.SlurmRig, root: str, code: str, trials: int, slots: int, reuse: bool) -> dict:
    config = ExperimentConfig(
        trial_command="python3 trial.py", trial_code_directory=code, trial_concurrency=slots,
        max_trial_number=trials, experiment_working_directory=os.path.join(root, "exps"),
        search_space={"x": {"_type": "uniform", "_value": [0, 1]}}, tuner={"name": "Random"},
        training_service={"platform": "slurm", "reuseMode": reuse, "cpusPerTrial": 1, "memoryPerTrial": "64mb",
                          **rig.config_fields()})
    exp = Experiment(config)
    t_call = time.time()
    exp.start(18960 + reuse)
    try:
        while exp.get_status() not in ("DONE", "ERROR"):
            time.sleep(0.05)
        t_done = time.time()
        jobs = exp.list_trial_jobs()
        stats = json.loads(rig.login_run(f"cat nni-remote/{exp.id}/agent/slurm-stats.json"))
    finally:
        exp.stop()
    first = min(j.startTime for j in jobs) / 1000
    return {"wall": t_done - first, "total": t_done - t_call, "calls": stats["calls"],
            "stats_span": stats["now"] - stats["since"], "succeeded": sum(j.status == "SUCCEEDED" for j in jobs)}


def _q(text: str) -> str:
    import shlex
    return shlex.quote(text)


if __name__ == "__main__":
    main()
