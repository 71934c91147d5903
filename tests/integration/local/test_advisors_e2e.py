"""Advisors and the new built-ins driving real local experiments, with NNI's published config shapes.

``config_metis.yml`` and ``config_bohb.yml`` below have exactly the keys and
values of NNI's ``examples/trials/auto-gbdt/config_metis.yml`` and
``examples/trials/mnist-advisor/config_bohb.yml`` (comments dropped); the
trials are tiny stand-ins with the same search spaces.
"""
from __future__ import annotations

import json
import textwrap
import pytest

from nni_remote import Experiment, ExperimentConfig
from tests.conftest import free_port
from tests.integration.local.conftest import wait_status
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

CONFIG_BOHB = textwrap.dedent('''
    searchSpaceFile: search_space.json
    trialCommand: python3 mnist.py
    trialGpuNumber: 0
    trialConcurrency: 1
    maxExperimentDuration: 10h
    maxTrialNumber: 1000
    advisor:
      name: BOHB
      classArgs:
        max_budget: 27
        min_budget: 1
        eta: 3
        optimize_mode: maximize
    trainingService:
      platform: local
''')
BOHB_SPACE = {"dropout_rate": {"_type": "uniform", "_value": [0.5, 0.9]},
              "conv_size": {"_type": "choice", "_value": [2, 3, 5, 7]},
              "hidden_size": {"_type": "choice", "_value": [124, 512, 1024]},
              "batch_size": {"_type": "choice", "_value": [8, 16, 32, 64]},
              "learning_rate": {"_type": "choice", "_value": [0.0001, 0.001, 0.01, 0.1]}}
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
    """NNI's config_bohb.yml as published, but for maxTrialNumber: 1000 trials would take minutes here."""
    folder = tmp_path / "mnist-advisor"
    folder.mkdir()
    (folder / "mnist.py").write_text(MNIST_TRIAL)
    (folder / "search_space.json").write_text(json.dumps(BOHB_SPACE))
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
