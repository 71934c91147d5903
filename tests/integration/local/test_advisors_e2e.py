"""Advisors and the new built-ins driving real local experiments, with NNI's published config shapes.

``config_metis.yml`` below has exactly the keys and values of NNI's
``examples/trials/auto-gbdt/config_metis.yml`` (comments dropped);
``config_bohb.yml`` and its ``search_space.json`` are NNI's
``examples/trials/mnist-advisor`` files byte for byte (from
``benchmarks/nni_config_bohb.py``, which runs them unmodified); the trials are
tiny stand-ins with the same search spaces.
"""
from __future__ import annotations

import json
import textwrap
import pytest

from benchmarks.nni_config_bohb import CONFIG_BOHB, SEARCH_SPACE
from nni_remote import Experiment, ExperimentConfig
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for, wait_status
from tests.integration.local.real_nni import nni_on_head
from tests.integration.local.test_tuners_e2e import errors_of, jobs_of, params_of

CONFIG_METIS = textwrap.dedent('''
    searchSpace:
      num_leaves:
        _type: choice
        _value: [31, 28, 24, 20]
      learning_rate:
        _type: choice
        _value: [0.01, 0.05, 0.1, 0.2]
      bagging_freq:
        _type: choice
        _value: [1, 2, 4, 8, 10]

    trialCommand: python3 main.py
    trialConcurrency: 1
    maxTrialNumber: 10
    tuner:
      name: MetisTuner
      classArgs:
        optimize_mode: minimize
    trainingService:
      platform: local
''')
GBDT_TRIAL = textwrap.dedent('''
    import nni
    p = nni.get_next_parameter()
    rmse = abs(p["num_leaves"] - 24) / 10 + abs(p["learning_rate"] - 0.05) + p["bagging_freq"] / 100
    nni.report_final_result(rmse)
''')

BOHB_SPACE = json.loads(SEARCH_SPACE)
MNIST_TRIAL = textwrap.dedent('''
    import nni
    p = nni.get_next_parameter()
    budget = p["TRIAL_BUDGET"]
    acc = 0.0
    for epoch in range(int(budget)):
        acc = (1 - abs(p["dropout_rate"] - 0.6)) * (1 - 0.5 ** (epoch + 1)) * (0.9 if p["learning_rate"] > 0.01 else 1)
        nni.report_intermediate_result(acc)
    nni.report_final_result(acc)
''')


def load_config(folder, text: str, tmp_path) -> ExperimentConfig:
    path = folder / "config.yml"
    path.write_text(text)
    config = ExperimentConfig.load(str(path))
    config.experiment_working_directory = str(tmp_path / "exps")
    return config


def test_nni_config_metis_runs_to_done(launch, tmp_path, isolated_home):
    folder = tmp_path / "auto-gbdt"
    folder.mkdir()
    (folder / "main.py").write_text(GBDT_TRIAL)
    exp = launch(load_config(folder, CONFIG_METIS, tmp_path))
    assert wait_status(exp, "DONE", "ERROR", timeout=120) == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert [j.status for j in jobs] == ["SUCCEEDED"] * 10
    assert len({json.dumps(params_of(j), sort_keys=True) for j in jobs}) == 10     # Metis does not repeat


def test_nni_config_bohb_runs_to_done(launch, tmp_path, isolated_home):
    """NNI's config_bohb.yml as published, but for maxTrialNumber: 1000 trials take minutes here, so the
    unmodified file is run by benchmarks/nni_config_bohb.py instead (same stand-in trial shape)."""
    folder = tmp_path / "mnist-advisor"
    folder.mkdir()
    (folder / "mnist.py").write_text(MNIST_TRIAL)
    (folder / "search_space.json").write_text(SEARCH_SPACE)
    config = load_config(folder, CONFIG_BOHB, tmp_path)
    assert config.advisor.name == "BOHB" and config.tuner is None
    config.max_trial_number = 40                                    # bracket s=3: 27 + 9 + 3 + 1 trials
    exp = launch(config)
    assert wait_status(exp, "DONE", "ERROR", timeout=180) == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert [j.status for j in jobs] == ["SUCCEEDED"] * 40
    assert [params_of(j)["TRIAL_BUDGET"] for j in jobs] == [1] * 27 + [3] * 9 + [9] * 3 + [27]


@pytest.mark.parametrize("advisor", [{"name": "Hyperband", "class_args": {"R": 9, "eta": 3}},
                                     {"name": "BOHB", "class_args": {"min_budget": 1, "max_budget": 9}}])
def test_builtin_advisors_by_name_run_to_done(launch, code_dir, advisor):
    (code_dir / "mnist.py").write_text(MNIST_TRIAL)
    exp = launch(trial_command="python3 mnist.py", trial_concurrency=3, max_trial_number=12, tuner=None,
                 advisor=advisor, search_space=BOHB_SPACE)
    assert wait_status(exp, "DONE", "ERROR", timeout=120) == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert [j.status for j in jobs] == ["SUCCEEDED"] * 12
    assert {params_of(j)["TRIAL_BUDGET"] for j in jobs} <= {1, 3, 9}


CUSTOM_ADVISOR = textwrap.dedent('''
    import json
    import nni
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
    from nni.runtime.tuner_command_channel import CommandType
    from nni.utils import MetricType

    class KillingAdvisor(MsgDispatcherBase):
        """x = 0..limit-1 with a budget; kills a trial whose 2nd intermediate value is negative."""

        def __init__(self, limit=4):
            super().__init__()
            self.limit, self.count = limit, 0

        def handle_initialize(self, data):
            self.send(CommandType.Initialized, "")

        def handle_update_search_space(self, data):
            pass

        def handle_request_trial_jobs(self, data):
            for _ in range(data):
                if self.count >= self.limit:
                    self.send(CommandType.NoMoreTrialJobs, "")
                    return
                record = {"parameter_id": "adv_%d" % self.count, "parameter_source": "algorithm",
                          "parameters": {"x": self.count, "TRIAL_BUDGET": 2}}
                self.count += 1
                self.send(CommandType.NewTrialJob, nni.dump(record))

        def handle_report_metric_data(self, data):
            value = nni.load(data["value"])
            if data["type"] == MetricType.PERIODICAL and data["sequence"] == 1 and value < 0:
                self.send(CommandType.KillTrialJob, json.dumps(data["trial_job_id"]))

        def handle_trial_end(self, data):
            pass

        def handle_import_data(self, data):
            pass
''')
CURVE_TRIAL = textwrap.dedent('''
    import time
    import nni
    p = nni.get_next_parameter()
    nni.report_intermediate_result(1)
    nni.report_intermediate_result(-1 if p["x"] == 2 else 1)
    time.sleep(1.5)     # still running when the kill arrives
    nni.report_final_result(p["x"])
''')


def test_custom_advisor_decides_parameters_and_early_stops(launch, code_dir):
    (code_dir / "killing_advisor.py").write_text(CUSTOM_ADVISOR)
    (code_dir / "curve.py").write_text(CURVE_TRIAL)
    exp = launch(trial_command="python3 curve.py", trial_concurrency=2, max_trial_number=None, tuner=None,
                 advisor={"class_name": "killing_advisor.KillingAdvisor", "code_directory": str(code_dir),
                          "class_args": {"limit": 4}}, search_space={})
    assert wait_status(exp, "DONE", "ERROR", timeout=120) == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert [params_of(j)["x"] for j in jobs] == [0, 1, 2, 3]
    assert [j.hyperParameters[0].parameter_id for j in jobs] == ["adv_0", "adv_1", "adv_2", "adv_3"]
    assert [j.status for j in jobs] == ["SUCCEEDED", "SUCCEEDED", "EARLY_STOPPED", "SUCCEEDED"]


RECORDING_ADVISOR = textwrap.dedent('''
    import json
    import os
    import nni
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
    from nni.runtime.tuner_command_channel import CommandType
    from nni.utils import MetricType

    ROLES = ["victim_a", "victim_b", "killer", "cancelled", "failing"]

    class RecordingAdvisor(MsgDispatcherBase):
        """One trial per role; kills the victims from the handlers of *another* trial (the killer's final
        result, then the killer's end) and records every handle_trial_end it gets."""

        def __init__(self, folder):
            super().__init__()
            self.folder, self.count, self.ids = folder, 0, {}

        def handle_initialize(self, data):
            self.send(CommandType.Initialized, "")

        def handle_update_search_space(self, data):
            pass

        def handle_request_trial_jobs(self, data):
            for _ in range(data):
                if self.count >= len(ROLES):
                    self.send(CommandType.NoMoreTrialJobs, "")
                    return
                role = ROLES[self.count]
                self.count += 1
                self.send(CommandType.NewTrialJob, nni.dump({"parameter_id": role, "parameter_source": "algorithm",
                                                             "parameters": {"role": role, "folder": self.folder}}))

        def handle_report_metric_data(self, data):
            self.ids[data["parameter_id"]] = data["trial_job_id"]
            if {"victim_a", "victim_b"} <= set(self.ids):
                open(os.path.join(self.folder, "victims-known"), "w").close()   # the killer may finish now
            if data["parameter_id"] == "killer" and data["type"] == MetricType.FINAL:
                self.send(CommandType.KillTrialJob, json.dumps(self.ids["victim_a"]))

        def handle_trial_end(self, data):
            with open(os.path.join(self.folder, "trial-ends.jsonl"), "a") as f:
                f.write(json.dumps(data) + chr(10))
            if nni.load(data["hyper_params"])["parameter_id"] == "killer":
                self.send(CommandType.KillTrialJob, json.dumps(self.ids["victim_b"]))

        def handle_import_data(self, data):
            pass
''')
ROLE_TRIAL = textwrap.dedent('''
    import os, sys, time
    import nni
    p = nni.get_next_parameter()
    role = p["role"]
    if role == "failing":
        sys.exit(3)
    nni.report_intermediate_result(0)
    if role == "killer":
        while not os.path.exists(os.path.join(p["folder"], "victims-known")):
            time.sleep(0.1)
        nni.report_final_result(1)
    else:
        time.sleep(600)         # victims and the cancelled trial report nothing more: only a kill ends them
''')


def _by_role(exp: Experiment) -> dict:
    return {params_of(j)["role"]: j for j in jobs_of(exp)}


def test_advisor_kill_from_another_trials_handler_applies_at_once(launch, code_dir, tmp_path):
    """KI sent while handling trial K's final result and K's end stops two *other* trials that report
    nothing more (they would sleep 10 min): they end EARLY_STOPPED at once, and the advisor is told each
    trial's real end (NNI's TRIAL_END events) with the packed parameters the trial read."""
    folder = tmp_path / "advisor-notes"
    folder.mkdir()
    (code_dir / "recording_advisor.py").write_text(RECORDING_ADVISOR)
    (code_dir / "role.py").write_text(ROLE_TRIAL)
    exp = launch(trial_command="python3 role.py", trial_concurrency=5, max_trial_number=None, tuner=None,
                 advisor={"class_name": "recording_advisor.RecordingAdvisor", "code_directory": str(code_dir),
                          "class_args": {"folder": str(folder)}}, search_space={})
    wait_for(lambda: getattr(_by_role(exp).get("cancelled"), "status", None) == "RUNNING", 60,
             what="the trial to cancel is running")
    exp.kill_trial_job(_by_role(exp)["cancelled"].trialJobId)
    assert wait_status(exp, "DONE", "ERROR", timeout=120) == "DONE", errors_of(exp)
    jobs = _by_role(exp)
    statuses = {role: j.status for role, j in jobs.items()}
    assert statuses == {"victim_a": "EARLY_STOPPED", "victim_b": "EARLY_STOPPED", "killer": "SUCCEEDED",
                        "cancelled": "USER_CANCELED", "failing": "FAILED"}, statuses
    ends = [json.loads(line) for line in (folder / "trial-ends.jsonl").read_text().splitlines()]
    told = {json.loads(e["hyper_params"])["parameters"]["role"]: e for e in ends}
    assert len(ends) == 5 and set(told) == set(jobs)
    for role, job in jobs.items():
        assert told[role]["trial_job_id"] == job.trialJobId
        assert told[role]["event"] == job.status                    # NNI's TRIAL_END event: the final status
        record = json.loads(told[role]["hyper_params"])
        assert record["parameter_id"] == role and record["parameters"] == params_of(job)


def test_nni_hyperband_advisor_class_runs_to_done(launch, code_dir, tmp_path, monkeypatch):
    """NNI 3.0's own Hyperband advisor, hosted by the manager through its MsgDispatcherBase interface."""
    nni_on_head(monkeypatch, str(tmp_path / "nni-on-head"))
    (code_dir / "mnist.py").write_text(MNIST_TRIAL)
    exp = launch(trial_command="python3 mnist.py", trial_concurrency=2, max_trial_number=12, tuner=None,
                 advisor={"class_name": "nni.algorithms.hpo.hyperband_advisor.Hyperband",
                          "class_args": {"R": 9, "eta": 3, "optimize_mode": "maximize"}},
                 search_space=BOHB_SPACE)
    assert wait_status(exp, "DONE", "ERROR", timeout=120) == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert [j.status for j in jobs] == ["SUCCEEDED"] * 12
    ids = [j.hyperParameters[0].parameter_id for j in jobs]
    assert all(isinstance(i, str) and i.startswith("0-2_0_") for i in ids[:9]), ids    # NNI's bracket ids
    assert {params_of(j)["TRIAL_BUDGET"] for j in jobs} <= {1, 3, 9}


def test_metis_with_string_choices_is_refused_with_the_parameter(make_config):
    from nni_remote.errors import ConfigError
    config = make_config(tuner={"name": "Metis"}, search_space={"opt": {"_type": "choice", "_value": ["adam", "sgd"]}})
    with pytest.raises(ConfigError, match="opt: Metis needs numeric choice options"):
        Experiment(config).start(free_port())
