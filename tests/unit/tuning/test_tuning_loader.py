"""create_tuner / create_assessor: names, aliases, classArgs, and custom classes from a folder."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from nni_remote.errors import TunerError
from nni_remote.tuning import (BUILTIN_ASSESSORS, BUILTIN_TUNERS, AssessResult, NoMoreTrialError, create_assessor,
                               create_tuner, extract_scalar_reward)
from nni_remote.tuning.tuners import RandomTuner


@pytest.fixture
def isolated_imports() -> Iterator[None]:
    """Undo what importing a user's module did to sys.path and sys.modules."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def test_public_surface() -> None:
    import nni_remote.tuning as tuning
    assert sorted(tuning.__all__) == sorted([
        "Tuner", "Assessor", "AssessResult", "NoMoreTrialError", "NotReady", "create_tuner", "create_assessor",
        "validate_search_space", "sample_search_space", "extract_scalar_reward", "BUILTIN_TUNERS",
        "BUILTIN_ASSESSORS"])
    assert {"TPE", "Random", "Anneal", "Evolution", "GridSearch", "Batch", "BatchTuner", "Hyperband",
            "CMAES", "CMA-ES", "GP", "GPTuner"} <= set(BUILTIN_TUNERS)
    assert set(BUILTIN_ASSESSORS) == {"Medianstop", "Curvefitting"}


def test_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(TunerError) as info:
        create_tuner({"name": "Bayes"})
    assert "unknown tuner 'Bayes'" in str(info.value)
    for name in ("TPE", "Random", "GridSearch", "Hyperband", "CMA-ES"):
        assert name in str(info.value)
    with pytest.raises(TunerError, match="no tuner configured"):
        create_tuner(None)


@pytest.mark.parametrize("algo", [
    {"name": "random", "classArgs": {"seed": 1}},
    {"name": "RANDOM", "class_args": {"seed": 1}},
    SimpleNamespace(name="Random", class_name=None, code_directory=None, class_args={"seed": 1}),
])
def test_names_are_case_insensitive_in_any_config_shape(algo: Any) -> None:
    assert isinstance(create_tuner(algo), RandomTuner)


def test_the_configs_algorithm_config_is_accepted() -> None:
    config = pytest.importorskip("nni_remote.config")
    tuner = create_tuner(config.AlgorithmConfig(name="Anneal", class_args={"seed": 3}))
    assert type(tuner).__name__ == "AnnealTuner" and tuner.optimize_mode == "minimize"
    assert create_assessor(config.AlgorithmConfig()) is None


def test_registry_defaults_sit_under_user_class_args() -> None:
    assert create_tuner({"name": "tpe"}).optimize_mode == "minimize"
    assert create_tuner({"name": "TPE", "classArgs": {"optimize_mode": "maximize"}}).optimize_mode == "maximize"
    assert create_tuner({"name": "evolution"}).population_size == 32
    hyperband = create_tuner({"name": "Hyperband", "classArgs": {"R": 27}})
    assert (hyperband.R, hyperband.eta, hyperband.exec_mode) == (27, 3, "parallelism")


@pytest.mark.parametrize("algo, needle", [
    ({"name": "TPE", "classArgs": {"optimise_mode": "max"}}, "tuner 'TPE': unknown classArgs 'optimise_mode'"),
    ({"name": "TPE", "classArgs": {"optimize_mode": "best"}}, "tuner 'TPE': bad classArgs: optimize_mode"),
    ({"name": "TPE", "classArgs": {"tpe_args": {"n_startup": 3}}}, "tpe_args has unknown key(s) n_startup"),
    ({"name": "TPE", "classArgs": {"tpe_args": {"gamma": -1}}}, "tpe_args.gamma must be > 0"),
    ({"name": "Random", "classArgs": {"seed": "x"}}, "tuner 'Random': bad classArgs: seed"),
    ({"name": "Evolution", "classArgs": {"population_size": 0}}, "population_size must be >= 1"),
    ({"name": "Hyperband", "classArgs": {"exec_mode": "fast"}}, "exec_mode must be one of"),
    ({"name": "GridSearch", "classArgs": {"seed": 1}}, "tuner 'GridSearch': unknown classArgs 'seed'"),
    ({"name": "Batch", "classArgs": {"optimize_mode": "maximize"}}, "unknown classArgs 'optimize_mode'"),
])
def test_bad_class_args_name_the_arg_and_the_algorithm(algo: dict[str, Any], needle: str) -> None:
    with pytest.raises(TunerError) as info:
        create_tuner(algo)
    assert needle in str(info.value)


def test_extract_scalar_reward() -> None:
    assert extract_scalar_reward(0.5) == 0.5
    assert extract_scalar_reward({"default": 3, "loss": 1}) == 3.0
    for bad in ("0.5", [1], {"loss": 1}, {"default": "x"}, None, True):
        with pytest.raises(ValueError):
            extract_scalar_reward(bad)


CUSTOM = '''
import nni
from nni.tuner import Tuner
from nni.assessor import Assessor, AssessResult


class CountingTuner(Tuner):
    def __init__(self, limit=2):
        self.limit, self.count, self.results, self.ends, self.imported = limit, 0, [], [], []

    def update_search_space(self, search_space):
        self.space = search_space

    def generate_parameters(self, parameter_id, **kwargs):
        if self.count >= self.limit:
            raise nni.NoMoreTrialError("done")
        self.count += 1
        return {"x": self.count}

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        self.results.append((parameter_id, value, kwargs.get("trial_job_id")))

    def trial_end(self, parameter_id, success):          # no **kwargs: the adapter copes
        self.ends.append((parameter_id, success))

    def import_data(self, data):
        self.imported.extend(data)


class LateTuner(Tuner):
    """NNI style: returns nothing now, emits through st_callback when a trial ends."""

    def update_search_space(self, search_space):
        self.waiting = []

    def generate_multiple_parameters(self, parameter_id_list, **kwargs):
        self.send = kwargs["st_callback"]
        self.waiting.extend(parameter_id_list)
        return []

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        pass

    def trial_end(self, parameter_id, success, **kwargs):
        pass

    def release(self):
        self.send(self.waiting.pop(0), {"late": True})


class Threshold(Assessor):
    def assess_trial(self, trial_job_id, trial_history):
        return AssessResult.Bad if trial_history[-1] < 0 else AssessResult.Good


class Plain:
    def assess_trial(self, trial_job_id, trial_history):
        return len(trial_history) < 3

    def trial_end(self, trial_job_id, success):
        pass
'''


@pytest.fixture
def code_dir(tmp_path: Path, isolated_imports: None) -> Path:
    (tmp_path / "my_algos.py").write_text(textwrap.dedent(CUSTOM))
    return tmp_path


def test_custom_tuner_that_imports_nni_tuner(code_dir: Path) -> None:
    tuner = create_tuner({"className": "my_algos.CountingTuner", "codeDirectory": str(code_dir),
                          "classArgs": {"limit": 2}})
    tuner.update_search_space({"x": {"_type": "choice", "_value": [1, 2]}})
    assert [tuner.generate_parameters(0), tuner.generate_parameters(1)] == [{"x": 1}, {"x": 2}]
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(2)
    tuner.receive_trial_result(0, {"x": 1}, 0.5, customized=False, trial_job_id="abcde")
    tuner.receive_trial_result(1, {"x": 2}, float("nan"), customized=False, trial_job_id="fghij")
    tuner.receive_trial_result(1, {"x": 2}, 0.7, customized=True, trial_job_id="zzzzz")
    tuner.trial_end(0, True, trial_job_id="abcde")
    tuner.import_data([{"parameter": {"x": 1}, "value": 1.0}, {"parameter": {"x": 2}, "value": "junk"}])
    inner = tuner.inner  # type: ignore[attr-defined]
    assert inner.results == [(0, 0.5, "abcde")]
    assert inner.ends == [(0, True)]
    assert inner.imported == [{"parameter": {"x": 1}, "value": 1.0}]


def test_st_callback_emissions_are_served_on_the_next_request(code_dir: Path) -> None:
    tuner = create_tuner({"class_name": "my_algos.LateTuner", "code_directory": str(code_dir)})
    tuner.update_search_space({})
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(0)
    tuner.inner.release()  # type: ignore[attr-defined]
    assert tuner.generate_parameters(1) == {"late": True}


def test_custom_assessors_any_verdict_shape(code_dir: Path) -> None:
    assessor = create_assessor({"className": "my_algos.Threshold", "codeDirectory": str(code_dir)})
    assert assessor is not None
    assert assessor.assess_trial("t", [1, -1]) is AssessResult.Bad
    assert assessor.assess_trial("t", [1, 2]) is AssessResult.Good
    plain = create_assessor({"className": "my_algos.Plain", "codeDirectory": str(code_dir)})
    assert plain is not None and plain.assess_trial("t", [1, 2, 3]) is AssessResult.Bad


@pytest.mark.parametrize("algo, needle", [
    ({"className": "my_algos.CountingTuner", "classArgs": {"limt": 1}}, "unknown classArgs 'limt'"),
    ({"className": "my_algos.Missing"}, "has no attribute 'Missing'"),
    ({"className": "no_such_module.Tuner"}, "cannot import module 'no_such_module'"),
    ({"className": "NoDot"}, "must be 'module.Class'"),
])
def test_custom_class_errors(code_dir: Path, algo: dict[str, Any], needle: str) -> None:
    with pytest.raises(TunerError, match=needle.replace("(", r"\(")):
        create_tuner({**algo, "codeDirectory": str(code_dir)})
