"""TunerHost: generation, exhaustion, results as history or feedback, assessor verdicts, a queue of calls."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from nni_remote.manager.tuner_host import TunerHost

SPACE = {"x": {"_type": "choice", "_value": [1, 2, 3]}}


def host(name: str = "GridSearch", assessor: str | None = None) -> TunerHost:
    tuner = SimpleNamespace(name=name, class_name=None, class_args={}, code_directory=None)
    judge = None if assessor is None else SimpleNamespace(name=assessor, class_name=None,
                                                         class_args={"start_step": 1}, code_directory=None)
    h = TunerHost(tuner, judge)
    h.update_search_space(SPACE)
    return h


def test_generates_until_the_grid_is_exhausted():
    h = host()
    got = [h.generate() for _ in range(4)]
    assert [g[0] for g in got[:3]] == [0, 1, 2] and sorted(g[1]["x"] for g in got[:3]) == [1, 2, 3]
    assert got[3] is None and h.exhausted and h.generate() is None
    h.update_search_space({"x": {"_type": "choice", "_value": [4]}})
    assert not h.exhausted


def test_calls_posted_from_other_threads_run_on_drain_in_order():
    h = host()
    seen: list[int] = []
    h.post(lambda: seen.append(1))
    h.post(lambda: seen.append(2))
    assert seen == []
    h.drain()
    assert seen == [1, 2] and not h.inbox


def test_results_reach_the_tuner_and_non_numbers_are_dropped():
    h = host("TPE")
    pid, params = h.generate()
    h.result(pid, params, {"default": 0.5, "loss": 1}, "AbCdE", customized=False)
    h.result(pid, params, "not a number", "AbCdE", customized=False)
    h.result(None, {"x": 2}, 0.7, "FgHiJ", customized=True)  # customized: history, as NNI does
    h.trial_end(pid, "AbCdE", "SUCCEEDED", customized=False)
    assert h.generate() is not None


def test_a_tuner_exception_is_raised_not_swallowed():
    h = host()
    h.tuner.generate_parameters = lambda pid: (_ for _ in ()).throw(ValueError("broken tuner"))
    with pytest.raises(ValueError, match="broken tuner"):
        h.generate()


class _CreditTuner:
    """NNI's PBT pattern: out of parameters for now, it owes the asked id and sends it via st_callback later."""

    def __init__(self):
        self.owed, self.given = [], 0

    def update_search_space(self, space):
        pass

    def generate_multiple_parameters(self, ids, st_callback=None, **kwargs):
        self.callback = st_callback
        if self.given >= 1:
            self.owed.extend(ids)
            return []
        self.given += 1
        return [{"x": 1}]

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        while self.owed:
            self.callback(self.owed.pop(0), {"x": 2})

    def trial_end(self, parameter_id, success, **kwargs):
        pass


def test_parameters_a_tuner_sends_later_through_st_callback_end_its_exhaustion():
    from nni_remote.tuning.adapters import TunerAdapter
    h = host()
    h.tuner = TunerAdapter(_CreditTuner())
    first = h.generate()
    assert first is not None and h.generate() is None and h.exhausted     # owes the second id for now
    h.post(lambda: h.result(first[0], first[1], 0.5, "t0", False))
    h.drain()
    assert not h.exhausted                                                   # it sent the owed parameters
    assert h.generate()[1] == {"x": 2}
    assert h.exhausted
    h.trial_end(first[0], "t0", "SUCCEEDED", False)
    assert not h.exhausted                          # asked again after every trial end, as NNI's manager does
    assert h.generate() is None and h.exhausted


def test_assessor_verdicts():
    h = host(assessor="Medianstop")
    assert h.assess("t1", []) is False
    assert isinstance(h.assess("t1", [0.1, 0.2]), bool)
    assert host().assess("t1", [0.1]) is False  # no assessor: never stops a trial


@pytest.mark.parametrize("name, refuses", [("Random", False), ("TPE", False), ("Hyperband", True),
                                           ("BOHB", True), ("PBT", True)])
def test_tuners_that_want_every_result_first_refuse_prefetch(name, refuses):
    tuner = SimpleNamespace(name=name, class_name=None, class_args={}, code_directory=None)
    reason = TunerHost(tuner, None).prefetch_refusal()
    assert (reason is not None) == refuses
    if refuses:
        assert "results" in reason
