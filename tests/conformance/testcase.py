"""``TrainingServiceTestCase``: the contract of ``services/base.py``, as tests every platform passes.

In the style of Optuna's ``StorageTestCase``: the test bodies are written once
against the seam and run for each harness of ``harnesses.HARNESSES`` (the
in-memory fake, local, remote on real sshd hosts). Each test gets a fresh
head (a real manager in this process) whose experiment runs a grid of trials
given by the test.
"""
from __future__ import annotations

import itertools
import json
import os
import textwrap
from typing import Any, Callable

import pytest

from nni_remote.manager import agents
from nni_remote.manager.process import make_service
from tests.conformance.harnesses import Harness, dump
from tests.conformance.head import Head, wait_for

TRIAL = textwrap.dedent('''
    import json, os, sys, time
    import nni
    p = nni.get_next_parameter()
    print("hello from", os.environ["NNI_TRIAL_JOB_ID"], flush=True)
    nni.report_intermediate_result(1)
    time.sleep(float(p.get("sleep", 0)))
    env = {k: v for k, v in os.environ.items() if k.startswith("NNI_")}
    nni.report_final_result({"default": float(p.get("x", 0.5)), "env": env, "cwd": os.getcwd()})
    sys.exit(int(p.get("exit", 0)))
''')
_ids = itertools.count()


def assert_nothing_left(harness: Harness, head: Head) -> None:
    """No agent or trial process of the experiment survives (killed ones get a moment to be reaped)."""
    left: list[str] = []

    def clean() -> bool:
        left[:] = harness.leftovers(head)
        return not left
    try:
        wait_for(clean, 10, what="nothing left")
    except AssertionError:
        raise AssertionError(f"left behind after stop(): {left}") from None


class TrainingServiceTestCase:
    """The seam's contract; subclass it in a test module and provide the ``harness`` fixture."""

    @pytest.fixture
    def head_for(self, harness: Harness, tmp_path: Any, monkeypatch: Any) -> Any:
        """``head_for(sleep=[..], x=[..], exit=[..])``: a started experiment running that grid."""
        monkeypatch.setattr(agents, "SUSPECT_AFTER", 1.0)  # notice a dead agent within seconds
        monkeypatch.setattr(agents, "LOST_AFTER", 3.0)
        code = tmp_path / "code"
        code.mkdir()
        (code / "trial.py").write_text(TRIAL)
        heads: list[Head] = []

        def start(**grid: list[Any]) -> Head:
            space = {k: {"_type": "choice", "_value": v} for k, v in grid.items()}
            trials = 1
            for values in grid.values():
                trials *= len(values)
            config = {"trialCommand": "python3 trial.py", "trialCodeDirectory": str(code), "trialConcurrency": 2,
                      "maxTrialNumber": trials, "searchSpace": space, "tuner": {"name": "GridSearch"},
                      "experimentWorkingDirectory": str(tmp_path / "exps"),
                      "trainingService": harness.training_service()}
            head = Head(str(tmp_path / "exps"), config, f"conf{os.getpid()}x{next(_ids)}")
            heads.append(head)
            return head

        yield start
        for head in heads:
            head.close()

    # -- launch ------------------------------------------------------------------------
    def test_launch_brings_every_machine_up(self, harness: Harness, head_for: Callable[..., Head]) -> None:
        head = head_for(sleep=[0], x=[0.1])
        names = head.wait_ready()
        assert len(set(names)) == len(names) > 0
        assert all(head.service.alive(n) for n in names)
        assert all(isinstance(head.service.describe(n), dict) for n in names)
        head.wait_trials(1, "SUCCEEDED")

    # -- trials --------------------------------------------------------------------------
    def test_trials_run_with_nni_environment_and_their_files_are_served(
            self, harness: Harness, head_for: Callable[..., Head]) -> None:
        head = head_for(sleep=[0], x=[0.25, 0.75])
        trials = head.wait_trials(2, "SUCCEEDED")
        service = head.service
        for trial in trials:
            assert trial.machine is not None and trial.final is not None, dump(head)
            value = json.loads(json.loads(trial.final["data"]))
            paths = service.trial_paths(trial.machine, trial.id)
            env = value["env"]
            assert env["NNI_PLATFORM"] == harness.name and env["NNI_EXP_ID"] == head.controller.id
            assert env["NNI_TRIAL_JOB_ID"] == trial.id and env["NNI_TRIAL_SEQ_ID"] == str(trial.seq)
            assert env["NNI_SYS_DIR"] == env["NNI_OUTPUT_DIR"] == paths.trial_dir
            assert os.path.realpath(value["cwd"]) == os.path.realpath(paths.working_dir) or harness.name == "remote"
            files = {f.name: f.size for f in service.list_trial_files(trial.machine, trial.id)}
            assert files["parameter.cfg"] and "trial.stdout" in files and not any(n.startswith(".") for n in files)
            stdout = service.read_trial_file(trial.machine, trial.id, "trial.stdout", 1 << 20)
            assert f"hello from {trial.id}".encode() in stdout
            tail = service.tail_trial_file(trial.machine, trial.id, "trial.stdout", 5)
            assert tail.size == len(stdout) and tail.data == stdout[-5:] and tail.offset == len(stdout) - 5
            head_part = service.tail_trial_file(trial.machine, trial.id, "trial.stdout", 5, start=0)
            assert head_part.data == stdout[:5] and head_part.offset == 0
            for missing in ("no-such-file", ".agent", "../parameter.cfg"):
                with pytest.raises(FileNotFoundError):
                    service.read_trial_file(trial.machine, trial.id, missing, 100)

    def test_a_failing_trial_reports_its_exit_status(self, harness: Harness, head_for: Callable[..., Head]) -> None:
        head = head_for(sleep=[0], exit=[3])
        [trial] = head.wait_trials(1, "FAILED")
        assert trial.exit_code == 3, dump(head)

    def test_a_killed_trial_ends_and_its_process_is_gone(self, harness: Harness,
                                                         head_for: Callable[..., Head]) -> None:
        head = head_for(sleep=[600])
        [trial] = head.wait_trials(1, "RUNNING")
        head.controller.kill_trial(trial.id)
        head.wait_trials(1, "USER_CANCELED")
        wait_for(lambda: not [p for p in harness.leftovers(head) if "trial.py" in p], 30,
                 what="the killed trial's process to end")

    # -- faults ----------------------------------------------------------------------------
    def test_a_lost_agent_is_replaced_and_its_trial_still_succeeds(
            self, harness: Harness, head_for: Callable[..., Head]) -> None:
        head = head_for(sleep=[4])
        head.wait_ready()
        [trial] = head.wait_trials(1, "RUNNING")
        machine = trial.machine
        assert machine is not None
        harness.kill_agent(head, machine)
        wait_for(lambda: not head.service.alive(machine), 30, what=f"{machine}'s probe to fail")
        head.wait_trials(1, "SUCCEEDED", timeout=120)
        wait_for(lambda: head.machine_state(machine) == "ready", 60, what=f"{machine} back in service")

    def test_a_new_service_reattaches_to_running_agents(self, harness: Harness,
                                                       head_for: Callable[..., Head]) -> None:
        head = head_for(sleep=[4])
        [trial] = head.wait_trials(1, "RUNNING")
        assert trial.machine is not None
        ctl = head.controller
        second = make_service(ctl.config, head.exp_dir, ctl.id)
        try:
            assert second.launch_machine(trial.machine, ctl.head) is None
            [done] = head.wait_trials(1, "SUCCEEDED", timeout=120)
            assert done.attempt == 0, dump(head)  # the same run went on: nothing was restarted
        finally:
            head.stop()
            second.stop()
        assert_nothing_left(harness, head)

    # -- stop ---------------------------------------------------------------------------------
    def test_stop_leaves_nothing_behind(self, harness: Harness, head_for: Callable[..., Head]) -> None:
        head = head_for(sleep=[600], x=[1, 2])
        head.wait_trials(2, "RUNNING")
        head.stop()
        assert all(t.status == "USER_CANCELED" for t in head.trials()), dump(head)
        assert_nothing_left(harness, head)
