"""Advisors (NNI's ``MsgDispatcherBase``) hosted in the manager: parameters, budgets, kills, errors."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

from nni_remote.errors import TunerError
from nni_remote.manager.tuner_host import TunerHost
from nni_remote.tuning import create_tuner

# A custom advisor as a user writes it against NNI 3.0's API (works with the real nni or nni-remote's module).
ADVISOR = textwrap.dedent('''
    import json
    import nni
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
    from nni.runtime.tuner_command_channel import CommandType
    from nni.utils import MetricType, extract_scalar_reward

    class StepAdvisor(MsgDispatcherBase):
        """Gives x = 0, 1, 2, ... with a budget; promotes each finished x once with budget 2;
        kills a trial whose second intermediate value falls; stops after `limit` configs."""

        def __init__(self, limit=3, fail_on=None):
            super().__init__()
            self.limit, self.fail_on, self.count, self.promote = limit, fail_on, 0, []

        def handle_initialize(self, data):
            self.space = data
            self.send(CommandType.Initialized, '')

        def handle_update_search_space(self, data):
            self.space = data

        def handle_request_trial_jobs(self, data):
            for _ in range(data):
                if self.promote:
                    pid, params = self.promote.pop(0)
                elif self.count < self.limit:
                    pid, params = "0_0_%d" % self.count, {"x": self.count, "TRIAL_BUDGET": 1}
                    self.count += 1
                else:
                    self.send(CommandType.NoMoreTrialJobs, json.dumps({"parameter_id": "-1_0_0", "parameters": ""}))
                    return
                self.send(CommandType.NewTrialJob, nni.dump({"parameter_id": pid, "parameter_source": "algorithm",
                                                             "parameters": params}))

        def handle_report_metric_data(self, data):
            value = extract_scalar_reward(nni.load(data["value"]))
            if data["type"] == MetricType.PERIODICAL and data["sequence"] == 1 and value < 0:
                self.send(CommandType.KillTrialJob, json.dumps(data["trial_job_id"]))
            if data["type"] == MetricType.FINAL and value == self.fail_on:
                self.send(CommandType.Error, "cannot go on after %s" % value)

        def handle_trial_end(self, data):
            record = nni.load(data["hyper_params"])
            if record["parameters"]["TRIAL_BUDGET"] == 1 and data["event"] == "SUCCEEDED":
                pid = record["parameter_id"].replace("0_0_", "0_1_")
                self.promote.append((pid, {**record["parameters"], "TRIAL_BUDGET": 2}))
                self.send(CommandType.NewTrialJob, nni.dump({"parameter_id": pid, "parameters": self.promote[-1][1]}))
                self.promote.pop()

        def handle_import_data(self, data):
            self.imported = data
''')


@pytest.fixture
def advisor_dir(tmp_path):
    (tmp_path / "step_advisor.py").write_text(ADVISOR)
    yield str(tmp_path)
    sys.modules.pop("step_advisor", None)


def host(advisor_dir: str, **args) -> TunerHost:
    return TunerHost({"className": "step_advisor.StepAdvisor", "codeDirectory": advisor_dir, "classArgs": args},
                     {"name": "Medianstop"})


def test_custom_advisor_decides_parameters_budgets_and_the_end(advisor_dir) -> None:
    h = host(advisor_dir, limit=2)
    assert h.assessor is None                     # an advisor decides early stops itself, as in NNI
    h.update_search_space({"x": {"_type": "choice", "_value": [0, 1]}})
    first = h.generate()
    assert first == ("0_0_0", {"x": 0, "TRIAL_BUDGET": 1})
    assert h.generate() == ("0_0_1", {"x": 1, "TRIAL_BUDGET": 1})
    assert h.generate() is None and h.exhausted   # NoMoreTrialJobs
    h.result("0_0_0", first[1], 0.5, "trialA", False)
    h.post(lambda: h.trial_end("0_0_0", "trialA", "SUCCEEDED", False))
    assert not h.exhausted                        # a queued trial end may bring more (it does)
    h.drain()
    assert h.generate() == ("0_1_0", {"x": 0, "TRIAL_BUDGET": 2})


def test_advisor_kill_request_reaches_on_kill_when_its_handler_returns(advisor_dir) -> None:
    killed: list[str] = []
    h = TunerHost({"className": "step_advisor.StepAdvisor", "codeDirectory": advisor_dir}, None,
                  on_kill=killed.append)
    h.update_search_space({})
    pid, _ = h.generate()
    assert not h.assess("trialA", [1.0], parameter_id=pid) and killed == []
    assert not h.assess("trialA", [1.0, -1.0], parameter_id=pid)    # the manager acts on on_kill, not on this
    assert killed == ["trialA"]
    h.assess("trialA", [1.0, -1.0, 2.0], parameter_id=pid)
    assert killed == ["trialA"]                                      # each KI once


def test_a_kill_sent_from_any_handler_reaches_on_kill(advisor_dir) -> None:
    killed: list[str] = []
    h = TunerHost({"className": "step_advisor.StepAdvisor", "codeDirectory": advisor_dir}, None,
                  on_kill=killed.append)
    h.update_search_space({})
    pid, params = h.generate()
    inner = h.tuner.inner
    kill = sys.modules["step_advisor"].CommandType.KillTrialJob

    def send_kill(victim: str) -> None:
        inner.send(kill, json.dumps(victim))

    inner.handle_trial_end = lambda data: send_kill("B")
    h.trial_end(pid, "trialA", "SUCCEEDED", False)                 # trialA's end kills B
    inner.handle_report_metric_data = lambda data: send_kill("C" if data["type"] == "FINAL" else "D")
    h.result(pid, params, 0.5, "trialA", False)                    # trialA's final result kills C
    h.assess("trialA", [0.1], parameter_id=pid)                    # trialA's intermediate result kills D
    inner.handle_request_trial_jobs = lambda n: send_kill("E")
    assert h.generate() is None                                    # a request for trials kills E
    assert killed == ["B", "C", "D", "E"]


def test_advisor_error_fails_with_its_message(advisor_dir) -> None:
    h = host(advisor_dir, fail_on=7)
    h.update_search_space({})
    pid, params = h.generate()
    with pytest.raises(TunerError, match="reported an error: cannot go on after 7"):
        h.result(pid, params, 7, "trialA", False)


def test_customized_and_earlier_trials_reach_the_advisor_as_history(advisor_dir) -> None:
    h = host(advisor_dir)
    h.update_search_space({})
    h.result(None, {"x": 5}, 1.5, "custom", True)
    assert h.tuner.inner.imported == [{"parameter": {"x": 5}, "value": 1.5}]


def test_builtin_advisors_by_name_are_tuners_here() -> None:
    for name in ("Hyperband", "BOHB"):
        tuner = create_tuner({"name": name})
        assert not getattr(tuner, "is_advisor", False)


def test_a_class_that_is_not_an_advisor_nor_a_tuner_is_refused(tmp_path) -> None:
    (tmp_path / "half_advisor.py").write_text("class Half:\n    def handle_request_trial_jobs(self, n): pass\n")
    try:
        with pytest.raises(TunerError, match="advisor 'half_advisor.Half' lacks handle_initialize"):
            create_tuner({"className": "half_advisor.Half", "codeDirectory": str(tmp_path)})
    finally:
        sys.modules.pop("half_advisor", None)


def test_trial_end_record_is_the_packed_parameters(advisor_dir) -> None:
    h = host(advisor_dir)
    h.update_search_space({})
    seen = []
    h.tuner.inner.handle_trial_end = lambda data: seen.append(data)
    pid, params = h.generate()
    h.trial_end(pid, "trialA", "FAILED", False)
    assert seen[0]["trial_job_id"] == "trialA" and seen[0]["event"] == "FAILED"
    assert json.loads(seen[0]["hyper_params"]) == {"parameter_id": pid, "parameter_source": "algorithm",
                                                   "parameters": params, "parameter_index": 0}


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"])
def test_trial_end_event_is_the_trials_status_as_nni_sends_it(advisor_dir, status) -> None:
    h = host(advisor_dir)
    h.update_search_space({})
    seen = []
    h.tuner.inner.handle_trial_end = lambda data: seen.append(data)
    pid, params = h.generate()
    packed = json.dumps({"parameter_id": pid, "parameter_source": "algorithm", "parameters": params,
                         "parameter_index": 0})
    h.trial_end(pid, "trialA", status, False, packed)
    assert seen == [{"trial_job_id": "trialA", "event": status, "hyper_params": packed}]
