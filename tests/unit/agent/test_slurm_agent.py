"""The agent's Slurm side without a cluster: job scripts, the one-squeue poll, outcome mapping.

Fake ``sbatch``/``squeue``/``scancel`` (small shell scripts on PATH) log their calls and
print what a test put in a file, so the real command lines and parsing are exercised.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from trial_agent.slurm_jobs import GONE_AFTER, SlurmQueue, job_script, trial_body
from trial_agent.slurm_runner import JobPerTrial, SlurmRunner

FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
case "$(basename "$0")" in
  sbatch) n=$(cat "{dir}/next" 2>/dev/null || echo 100); echo $((n + 1)) > "{dir}/next"; echo "$n" ;;
  squeue) cat "{dir}/squeue.out" 2>/dev/null ;;
esac
"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("sbatch", "squeue", "scancel"):
        path = bin_dir / tool
        path.write_text(FAKE.format(log=log, dir=tmp_path))
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    def calls():
        return log.read_text().splitlines() if log.exists() else []

    def queue_shows(lines):
        (tmp_path / "squeue.out").write_text("".join(line + "\n" for line in lines))
    return calls, queue_shows


def test_job_script_has_our_options_then_the_users_then_the_preamble(tmp_path):
    settings = {"sbatch": ["--partition=gpu", "--gres=gpu:1"], "preamble": ["module load cuda"]}
    body = trial_body({"NNI_TRIAL_JOB_ID": "abc", "NNI_REMOTE_TRIAL_COMMAND": "python3 t.py 'x'"},
                      "/t/.agent/exitcode", "/t/.agent/started.json", "/t", "/code")
    text = job_script(settings, "nni-e-abc", "/t/.agent/slurm.out", body, "/code")
    lines = text.splitlines()
    assert lines[:5] == ["#!/bin/bash", "#SBATCH --job-name=nni-e-abc", "#SBATCH --output=/t/.agent/slurm.out",
                         "#SBATCH --chdir=/code", "#SBATCH --no-requeue"]
    assert lines.index("#SBATCH --partition=gpu") < lines.index("module load cuda") < lines.index("rc=$?")
    assert "export NNI_REMOTE_TRIAL_COMMAND='python3 t.py '\"'\"'x'\"'\"''" in lines
    subprocess.run(["bash", "-n"], input=text.encode(), check=True)   # valid shell


def test_one_squeue_call_per_poll_for_every_job_and_batched_scancel(tmp_path, fake_slurm):
    calls, queue_shows = fake_slurm
    q = SlurmQueue(str(tmp_path), interval=1.0)
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/bash\n")
    jobs = [q.submit(str(script)) for _ in range(5)]
    assert jobs == ["100", "101", "102", "103", "104"]
    queue_shows(["100|RUNNING|None|c1", "101|PENDING|Resources|", "102|PENDING|QOSMaxJobsPerUserLimit|",
                 "103|COMPLETED|None|c2", "104|NODE_FAIL|NodeDown|c1"])
    q.cancel("101")
    q.cancel("102")
    q.tick()
    squeues = [c for c in calls() if c.startswith("squeue")]
    assert squeues == ["squeue -h -t all -j 100,101,102,103,104 -o %i|%T|%r|%N"]
    assert [c for c in calls() if c.startswith("scancel")] == ["scancel 101 102"]
    assert q.state("101") == {"state": "PENDING", "reason": "Resources", "nodes": ""}
    assert q.state("104")["state"] == "NODE_FAIL"
    stats = json.loads((tmp_path / "slurm-stats.json").read_text())
    assert stats["calls"] == {"sbatch": 5, "squeue": 1, "scancel": 1}

    queue_shows(["100|RUNNING|None|c1"])              # finished jobs are not asked about again
    for _ in range(GONE_AFTER):
        q.last_poll = 0
        q.tick()
    assert calls()[-1] == "squeue -h -t all -j 100,101,102 -o %i|%T|%r|%N"
    assert q.state("101")["state"] == "GONE" and q.state("100")["state"] == "RUNNING"


class FakeBackend(JobPerTrial):
    def __init__(self, queue):
        super().__init__(queue, {"sbatch": [], "preamble": [], "time_limit": "00:01:00"})


def _runner(tmp_path, backend, name="t1"):
    trial_dir = tmp_path / name
    trial_dir.mkdir()
    spec = {"trial_id": name, "experiment_id": "e", "parameter": "{}", "command": "true",
            "working_dir": str(tmp_path), "trial_dir": str(trial_dir)}
    runner = SlurmRunner(spec, None, backend)
    runner.start()
    return runner


@pytest.mark.parametrize("state, exit_code, expected", [
    ("COMPLETED", 0, {"exit_code": 0}),
    ("FAILED", 3, {"exit_code": 3}),
    ("TIMEOUT", None, {"error": "Slurm time limit reached: job 100 on c1 ran past timeLimit (00:01:00) and was "
                                "ended (TIMEOUT)"}),
    ("NODE_FAIL", None, {"requeue": "Slurm job 100 on c1 ended NODE_FAIL: its node failed"}),
    ("PREEMPTED", None, {"requeue": "Slurm job 100 on c1 ended PREEMPTED: it was preempted"}),
    ("CANCELLED", None, {"error": "Slurm job 100 on c1 was cancelled outside nni-remote (scancel by a user or an "
                                  "admin)"}),
])
def test_job_states_become_trial_outcomes(tmp_path, fake_slurm, state, exit_code, expected):
    calls, queue_shows = fake_slurm
    q = SlurmQueue(str(tmp_path), interval=1.0)
    runner = _runner(tmp_path, FakeBackend(q))
    queue_shows(["100|PENDING|Priority|"])
    q.tick()
    runner.poll()
    assert runner.spool.events[-1]["message"] == "Slurm job 100 pending (Priority)"
    if exit_code is not None:
        with open(runner.exit_file, "w") as f:
            f.write(f"{exit_code}\n")
    queue_shows([f"100|{state}|None|c1"])
    q.last_poll = 0
    q.tick()
    assert runner.poll() and runner.finished
    end = runner.spool.events[-1]
    assert end["type"] == "end"
    assert {k: end[k] for k in expected} == expected
