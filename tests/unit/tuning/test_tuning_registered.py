"""Registered algorithms: NNI's file and directory, and names resolving as tuner, assessor and advisor."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from nni_remote.errors import TunerError
from nni_remote.tuning import create_assessor, create_tuner
from nni_remote.tuning import registered

CODE = '''
from nni.tuner import Tuner
from nni.assessor import Assessor, AssessResult
from nni.utils import ClassArgsValidator
from nni.runtime.msg_dispatcher_base import MsgDispatcherBase

class MyTuner(Tuner):
    def __init__(self, optimize_mode="maximize", start=0):
        self.optimize_mode, self.next = optimize_mode, start
    def update_search_space(self, space):
        pass
    def generate_parameters(self, parameter_id, **kwargs):
        self.next += 1
        return {"x": self.next}
    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        pass

class MyValidator(ClassArgsValidator):
    def validate_class_args(self, **kwargs):
        if "optimize_mode" in kwargs:
            assert kwargs["optimize_mode"] in ("maximize", "minimize"), "optimize_mode is invalid"

class MyAssessor(Assessor):
    def assess_trial(self, trial_job_id, trial_history):
        return AssessResult.Good

class MyAdvisor(MsgDispatcherBase):
    def handle_initialize(self, data): pass
    def handle_request_trial_jobs(self, data): pass
    def handle_report_metric_data(self, data): pass
    def handle_trial_end(self, data): pass
'''


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CONFIG_DIR", str(tmp_path / "nni-config"))
    (tmp_path / "my_algos.py").write_text(CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "nni-config"
    sys.modules.pop("my_algos", None)


def test_config_directory_follows_nni(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NNI_CONFIG_DIR", str(tmp_path))
    assert registered.registry_file() == tmp_path / "registered_algorithms.yml"
    monkeypatch.delenv("NNI_CONFIG_DIR")
    in_env = sys.prefix != sys.base_prefix or Path(sys.prefix, "conda-meta").is_dir()
    assert registered.config_directory() == (Path(sys.prefix, "nni") if in_env else Path.home() / ".config/nni")


def test_register_writes_nni_format_and_names_resolve(config_dir) -> None:
    registered.register({"algoType": "tuner", "builtinName": "mytuner", "className": "my_algos.MyTuner",
                         "classArgsValidator": "my_algos.MyValidator", "classArgs": {"start": 10}})
    registered.register({"algoType": "assessor", "builtinName": "myassessor", "className": "my_algos.MyAssessor"})
    registered.register({"algoType": "advisor", "builtinName": "myadvisor", "className": "my_algos.MyAdvisor"})
    content = yaml.safe_load((config_dir / "registered_algorithms.yml").read_text())
    assert content == {
        "tuners": [{"builtinName": "mytuner", "className": "my_algos.MyTuner", "classArgs": {"start": 10},
                    "classArgsValidator": "my_algos.MyValidator", "source": "user"},
                   {"builtinName": "myadvisor", "className": "my_algos.MyAdvisor", "isAdvisor": True,
                    "source": "user"}],
        "assessors": [{"builtinName": "myassessor", "className": "my_algos.MyAssessor", "source": "user"}]}
    tuner = create_tuner({"name": "MyTuner"})                  # case-insensitive, registry classArgs merged under
    tuner.update_search_space({})
    assert tuner.generate_parameters(0) == {"x": 11}
    assert create_assessor({"name": "myassessor"}) is not None
    assert getattr(create_tuner({"name": "myadvisor"}), "is_advisor", False)
    with pytest.raises(TunerError, match="unknown assessor 'mytuner'"):
        create_assessor({"name": "mytuner"})
    with pytest.raises(TunerError, match="tuner 'mytuner': bad classArgs .*optimize_mode is invalid"):
        create_tuner({"name": "mytuner", "classArgs": {"optimize_mode": "up"}})


def test_unknown_name_lists_registered_ones(config_dir) -> None:
    registered.register({"algoType": "tuner", "builtinName": "mytuner", "className": "my_algos.MyTuner"})
    with pytest.raises(TunerError, match="valid tuner names: .*BOHB.*mytuner"):
        create_tuner({"name": "nosuch"})


def test_reregister_replaces_and_unregister_removes(config_dir) -> None:
    meta = {"algoType": "tuner", "builtinName": "mytuner", "className": "my_algos.MyTuner"}
    assert registered.register(meta) is False
    assert registered.register({**meta, "classArgs": {"start": 5}}) is True
    assert [e["classArgs"] for e in registered.load_registered()] == [{"start": 5}]
    assert registered.unregister("mytuner") is True and registered.load_registered() == []
    assert registered.unregister("mytuner") is False


def test_nni_2_5_advisors_section_and_nni_builtins_in_the_file_are_read(config_dir) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "registered_algorithms.yml").write_text(yaml.safe_dump({
        "advisors": [{"builtinName": "oldadvisor", "className": "my_algos.MyAdvisor"}],
        "tuners": [{"builtinName": "TPE", "className": "nni.algorithms.hpo.tpe_tuner.TpeTuner", "source": "nni"}]}))
    assert [(e["builtinName"], e["algoType"]) for e in registered.load_registered()] == [("oldadvisor", "advisor")]


def test_a_broken_file_is_named(config_dir) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "registered_algorithms.yml").write_text("- just\n- a list\n")
    with pytest.raises(TunerError, match="registered_algorithms.yml must map tuners/assessors"):
        registered.load_registered()
