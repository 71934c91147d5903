"""The platform registry: a platform is one module + one config class, found by name."""
from __future__ import annotations

import os
import re

import pytest

from nni_remote import ExperimentConfig
from nni_remote.errors import ConfigError, UnknownPlatform
from nni_remote.services import platforms
from nni_remote.services.local import LocalTrainingService
from nni_remote.services.remote import RemoteTrainingService

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture
def fake_platform():
    from tests.conformance import fake_platform
    platforms.register_platform(fake_platform.FakeTrainingService)
    yield fake_platform
    platforms.unregister_platform("fake")


def test_builtin_platforms_are_registered():
    assert {"local", "remote"} <= set(platforms.platform_names())
    assert platforms.get_platform("local").service_class is LocalTrainingService
    assert platforms.get_platform("REMOTE").service_class is RemoteTrainingService
    assert platforms.get_platform("remote").config_class.__name__ == "RemoteConfig"


def test_unknown_platform_names_what_exists():
    with pytest.raises(UnknownPlatform, match="'kubeflow' is an NNI platform that is not supported.*local, remote"):
        platforms.get_platform("kubeflow")
    with pytest.raises(ConfigError, match=r"trainingService\.platform: 'nope' is a platform not supported"):
        ExperimentConfig("nope")


def test_a_new_platform_is_one_module_and_one_config_class(fake_platform, tmp_path):
    config = ExperimentConfig("fake", trial_command="python3 t.py", trial_code_directory=str(tmp_path),
                              trial_concurrency=2, search_space={}, tuner={"name": "Random"})
    assert isinstance(config.training_service, fake_platform.FakeConfig) and config.platform == "fake"
    config.training_service.machines = 3
    canonical = config.canonical()
    assert canonical.to_json()["trainingService"] == {
        "platform": "fake", "trialCommand": "python3 t.py", "trialCodeDirectory": str(tmp_path),
        "machines": 3, "slots": 2, "debug": False}
    again = ExperimentConfig.from_json(canonical.to_json())
    assert isinstance(again.training_service, fake_platform.FakeConfig) and again.training_service.machines == 3
    assert canonical.training_service.machine_count() == 3
    from nni_remote.manager.process import make_service
    service = make_service(canonical, str(tmp_path / "exp"), "e1")
    assert isinstance(service, fake_platform.FakeTrainingService)
    assert [m.name for m in service.machines()] == ["fake-0", "fake-1", "fake-2"]
    assert "fake" in platforms.platform_names()


def test_platform_config_errors_keep_their_paths(fake_platform):
    with pytest.raises(ConfigError) as info:
        ExperimentConfig(training_service={"platform": "fake", "machines": "3", "slot": 1})
    paths = dict(info.value.problems)
    assert "trainingService.machines" in paths and "did you mean 'slots'" in paths["trainingService.slot"]


def test_registering_a_name_twice_with_other_classes_is_refused(fake_platform):
    class Other(fake_platform.FakeTrainingService):
        pass
    with pytest.raises(ValueError, match="already registered"):
        platforms.register_platform(Other)


def test_platform_modules_named_in_the_environment_are_loaded(monkeypatch):
    import sys
    monkeypatch.setattr(platforms, "_loaded", False)
    monkeypatch.delitem(sys.modules, "tests.conformance.fake_platform", raising=False)
    monkeypatch.setenv(platforms.ENV_VAR, "tests.conformance.fake_platform")
    try:
        assert "fake" in platforms.platform_names()
    finally:
        platforms.unregister_platform("fake")


def test_nothing_outside_services_names_a_platform():
    """The manager, the server and Experiment look platforms up; they never branch on one."""
    pattern = re.compile(r"""platform\s*[!=]=|==\s*["'](local|remote)["']|services\.(local|remote)\b|"""
                         r"""\b(LocalConfig|RemoteConfig|LocalTrainingService|RemoteTrainingService)\b""")
    paths = [os.path.join(ROOT, "nni_remote", "experiment.py")]
    for folder in ("manager", "server"):
        base = os.path.join(ROOT, "nni_remote", folder)
        paths += [os.path.join(base, f) for f in os.listdir(base) if f.endswith(".py")]
    offenders = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if pattern.search(line):
                    offenders.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
