"""Fault timings on real sshd hosts (deploy/sshrig.py), with the default unreachable clock.

    sudo python3 benchmarks/faults.py --hosts 4 --concurrency 6 --trials 12 --partition 60

Scenarios, each a fresh experiment on the same rig:

- power cut: seconds from the cut to the machine shown unreachable, to every
  trial of the host running again elsewhere (spare attempts), to DONE;
- partition of ``--partition`` seconds (shorter than ``--give-up``): seconds to
  unreachable, whether each trial of the host kept its original attempt, to DONE;
- stop during a partition: ``nni-remote stop`` exit code and seconds, then after
  the heal the seconds a later ``nni-remote stop`` needs to finish the cleanup.

Every scenario checks the stored metrics against what the trials say they sent
(nothing lost, nothing duplicated, exactly ``--trials`` successes).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "deploy"))
import sshrig  # noqa: E402

from nni_remote import Experiment, ExperimentConfig  # noqa: E402
from tests.integration.remote.fault_kit import (check_metrics, leftover_sleeps, sent_code_dir,  # noqa: E402
                                                wait_state)


def wait(predicate, timeout: float, what: str) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return time.time()
        time.sleep(0.1)
    raise TimeoutError(what)


def experiment(args: argparse.Namespace, root: Path, hosts: list, steps: int, sleep: float) -> Experiment:
    machines = [dict(h.machine_config(), maxTrialNumber=args.slots) for h in hosts]
    config = ExperimentConfig(
        trial_command="python3 trial.py", trial_code_directory=sent_code_dir(root),
        trial_concurrency=args.concurrency, max_trial_number=args.trials,
        experiment_working_directory=str(root / "exps"), tuner={"name": "Random"},
        search_space={"x": {"_type": "uniform", "_value": [0, 1]}, "steps": {"_type": "choice", "_value": [steps]},
                      "sleep": {"_type": "choice", "_value": [sleep]}},
        training_service={"platform": "remote", "machine_list": machines, "give_up_after": f"{args.give_up}s"})
    exp = Experiment(config)
    from tests.conftest import free_port
    exp.start(free_port())
    return exp


def busiest(exp: Experiment, hosts: list):
    running = [j for j in exp.list_trial_jobs() if j.status == "RUNNING"]
    return max(hosts, key=lambda h: sum(j.machine == h.address for j in running)), running


def done(exp: Experiment) -> bool:
    return exp.get_status() in ("DONE", "ERROR")


def power_cut(args, root, rig, hosts) -> None:
    exp = experiment(args, root / "cut", hosts, steps=20, sleep=args.trial_seconds)
    try:
        wait(lambda: len([j for j in exp.list_trial_jobs() if j.status == "RUNNING"]) >= args.concurrency, 120,
             "trials running")
        victim, running = busiest(exp, hosts)
        doomed = {j.trialJobId for j in running if j.machine == victim.address}
        spread = sorted(sum(j.machine == h.address for j in running) for h in hosts)
        cut = time.time()
        rig.kill(victim)
        noticed = wait_state(exp, victim.address, ("unreachable",), timeout=120)
        elsewhere = wait(lambda: all("also runs on" in (exp.get_trial_job(t).message or "")
                                     or exp.get_trial_job(t).status != "RUNNING" for t in doomed),
                         args.give_up + 60, "spares running")
        end = wait(lambda: done(exp), 600, "experiment end")
        check_metrics(exp, rig, args.trials)
        print(f"power cut      trials per host at the cut {spread}; {len(doomed)} on the victim")
        print(f"               unreachable after {noticed - cut:5.1f} s   (target <= 15 s)")
        print(f"               its trials running elsewhere after {elsewhere - cut:5.1f} s   "
              f"(giveUpAfter {args.give_up} s)")
        print(f"               experiment DONE {end - cut:5.1f} s after the cut; metrics match what trials sent")
    finally:
        exp.stop()
        rig.revive(victim)


def partition(args, root, rig, hosts) -> None:
    exp = experiment(args, root / "part", hosts, steps=40, sleep=args.partition + 20)
    try:
        wait(lambda: len([j for j in exp.list_trial_jobs() if j.status == "RUNNING"]) >= args.concurrency, 120,
             "trials running")
        victim, running = busiest(exp, hosts)
        kept = {j.trialJobId for j in running if j.machine == victim.address}
        cut = time.time()
        rig.partition(victim)
        noticed = wait_state(exp, victim.address, ("unreachable",), timeout=120)
        time.sleep(max(0.0, args.partition - (time.time() - cut)))
        rig.heal(victim)
        back = wait_state(exp, victim.address, ("ready",), timeout=120)
        end = wait(lambda: done(exp), 900, "experiment end")
        final = check_metrics(exp, rig, args.trials)
        originals = sum(final[t].attempt == 1 for t in kept)
        print(f"partition      {args.partition} s; unreachable after {noticed - cut:5.1f} s, ready again "
              f"{back - cut - args.partition:4.1f} s after the heal")
        print(f"               {originals}/{len(kept)} trials of the host kept their original attempt; "
              f"DONE {end - cut:5.1f} s after the cut; metrics match")
    finally:
        exp.stop()


def stop_in_partition(args, root, rig, hosts) -> None:
    from click.testing import CliRunner

    from nni_remote.cli import main
    exp = experiment(args, root / "stop", hosts, steps=100, sleep=600)
    victim = hosts[-1]
    try:
        wait(lambda: any(j.machine == victim.address and j.status == "RUNNING" for j in exp.list_trial_jobs()),
             120, "a trial on the victim")
        rig.partition(victim)
        t0 = time.time()
        first = CliRunner().invoke(main, ["stop", exp.id])
        t1 = time.time()
    finally:
        rig.heal(victim)
    t2 = time.time()
    second = CliRunner().invoke(main, ["stop", exp.id])
    t3 = time.time()
    left = leftover_sleeps(rig, victim)
    print(f"stop           during a partition: exit {first.exit_code} in {t1 - t0:4.1f} s; after the heal a later "
          f"stop exits {second.exit_code} in {t3 - t2:4.1f} s; processes left on the host: {len(left)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--slots", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--trial-seconds", type=float, default=20)
    parser.add_argument("--partition", type=float, default=60)
    parser.add_argument("--give-up", type=int, default=120)
    parser.add_argument("--only", choices=("cut", "partition", "stop"), action="append")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="nnir-faults-"))
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    os.environ["HOME"] = str(home)
    rig = sshrig.SshRig(root / "rig")
    try:
        hosts = rig.up(args.hosts, logins=["key"] * args.hosts)
        (home / ".ssh" / "known_hosts").write_text("\n".join(h.host_key_line for h in hosts) + "\n")
        scenarios = {"cut": power_cut, "partition": partition, "stop": stop_in_partition}
        for name in args.only or list(scenarios):
            scenarios[name](args, root, rig, hosts)
    finally:
        rig.down()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
