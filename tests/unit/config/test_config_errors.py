"""Table of bad configs: each must raise one ConfigError naming the right field path."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from nni_remote.config import ExperimentConfig
from nni_remote.errors import ConfigError

DELETE = object()
M0, M1 = "trainingService.machineList[0]", "trainingService.machineList[1]"
LOCAL = {"platform": "local"}

# (id, [(path to change, new value or DELETE), ...], path the error must name)
BAD: List[Tuple[str, List[Tuple[str, Any]], str]] = [
    # wrong types, found while building
    ("concurrency-string", [("trialConcurrency", "4")], "trialConcurrency"),
    ("concurrency-float", [("trialConcurrency", 4.0)], "trialConcurrency"),
    ("debug-string", [("debug", "yes")], "debug"),
    ("annotation-int", [("useAnnotation", 1)], "useAnnotation"),
    ("max-trials-bool", [("maxTrialNumber", True)], "maxTrialNumber"),
    ("duration-float", [("maxTrialDuration", 1.5)], "maxTrialDuration"),
    ("tuner-gpus-float", [("tunerGpuIndices", 1.5)], "tunerGpuIndices"),
    ("space-file-int", [("searchSpaceFile", 3)], "searchSpaceFile"),
    ("unknown-top-key", [("trialConcurency", 2)], "trialConcurency"),
    ("tuner-string", [("tuner", "TPE")], "tuner"),
    ("tuner-unknown-key", [("tuner.clasArgs", {})], "tuner.clasArgs"),
    ("class-args-list", [("tuner.classArgs", ["maximize"])], "tuner.classArgs"),
    ("platform-openpai", [("trainingService.platform", "openpai")], "trainingService.platform"),
    ("platform-aml", [("trainingService.platform", "aml")], "trainingService.platform"),
    ("platform-typo", [("trainingService.platform", "remtoe")], "trainingService.platform"),
    ("platform-missing", [("trainingService.platform", DELETE)], "trainingService.platform"),
    ("hybrid-list", [("trainingService", [LOCAL, LOCAL])], "trainingService"),
    ("gpu-option-on-remote", [("trainingService.useActiveGpu", True)], "trainingService.useActiveGpu"),
    ("port-string", [(f"{M1}.port", "22")], f"{M1}.port"),
    ("machine-typo", [(f"{M0}.hots", "x")], f"{M0}.hots"),
    ("password-int", [(f"{M1}.password", 123)], f"{M1}.password"),
    ("active-gpu-string", [(f"{M0}.useActiveGpu", "no")], f"{M0}.useActiveGpu"),
    ("machine-list-mapping", [("trainingService.machineList", {"host": "h"})], "trainingService.machineList"),
    ("gpu-indices-mixed", [(f"{M0}.gpuIndices", [0, "1"])], f"{M0}.gpuIndices"),
    ("key-given-twice", [("trial_command", "echo")], "trialCommand"),
    ("reuse-string", [("trainingService.reuseMode", "false")], "trainingService.reuseMode"),
    ("host-key-string", [(f"{M0}.acceptNewHostKey", "yes")], f"{M0}.acceptNewHostKey"),
    # bad values, found by canonical()
    ("concurrency-zero", [("trialConcurrency", 0)], "trialConcurrency"),
    ("concurrency-missing", [("trialConcurrency", DELETE)], "trialConcurrency"),
    ("max-trials-negative", [("maxTrialNumber", -1)], "maxTrialNumber"),
    ("duration-bare-number", [("maxExperimentDuration", "3600")], "maxExperimentDuration"),
    ("duration-zero", [("maxTrialDuration", "0s")], "maxTrialDuration"),
    ("log-level", [("logLevel", "verbose")], "logLevel"),
    ("experiment-nas", [("experimentType", "nas")], "experimentType"),
    ("annotation", [("useAnnotation", True)], "useAnnotation"),
    ("no-search-space", [("searchSpaceFile", DELETE)], "searchSpace"),
    ("space-file-missing", [("searchSpaceFile", "nope.json")], "searchSpaceFile"),
    ("space-file-garbage", [("searchSpaceFile", "garbage.txt")], "searchSpaceFile"),
    ("no-tuner", [("tuner", DELETE)], "tuner"),
    ("tuner-without-name", [("tuner.name", DELETE)], "tuner.name"),
    ("tuner-name-and-class", [("tuner.className", "m.C")], "tuner.name"),
    ("tuner-class-format", [("tuner.name", DELETE), ("tuner.className", "NoModule")], "tuner.className"),
    ("tuner-code-dir-missing", [("tuner.name", DELETE), ("tuner.className", "m.C"),
                                ("tuner.codeDirectory", "nowhere")], "tuner.codeDirectory"),
    ("assessor-code-dir-builtin", [("assessor", {"name": "Medianstop", "codeDirectory": "code"})],
     "assessor.codeDirectory"),
    ("advisor-and-tuner", [("advisor", {"name": "Hyperband"})], "advisor"),
    ("tuner-gpus-duplicate", [("tunerGpuIndices", "0,0")], "tunerGpuIndices"),
    ("no-trial-command", [("trialCommand", DELETE)], "trialCommand"),
    ("code-dir-missing", [("trialCodeDirectory", "nowhere")], "trialCodeDirectory"),
    ("service-code-dir-missing", [("trainingService.trialCodeDirectory", "nowhere")],
     "trainingService.trialCodeDirectory"),
    ("gpu-number-negative", [("trialGpuNumber", -1)], "trialGpuNumber"),
    ("service-gpu-number-negative", [("trainingService.trialGpuNumber", -2)], "trainingService.trialGpuNumber"),
    ("no-machines", [("trainingService.machineList", [])], "trainingService.machineList"),
    ("port-zero", [(f"{M0}.port", 0)], f"{M0}.port"),
    ("port-too-big", [(f"{M1}.port", 70000)], f"{M1}.port"),
    ("host-missing", [(f"{M0}.host", DELETE)], f"{M0}.host"),
    ("user-missing", [(f"{M1}.user", DELETE)], f"{M1}.user"),
    ("key-file-missing", [(f"{M0}.sshKeyFile", "no_such_key")], f"{M0}.sshKeyFile"),
    ("per-gpu-zero", [(f"{M0}.maxTrialNumberPerGpu", 0)], f"{M0}.maxTrialNumberPerGpu"),
    ("per-gpu-without-gpus", [(f"{M1}.maxTrialNumberPerGpu", 2)], f"{M1}.maxTrialNumberPerGpu"),
    ("machine-gpus-negative", [(f"{M0}.gpuIndices", "0,-1")], f"{M0}.gpuIndices"),
    ("machine-slots-zero", [(f"{M1}.maxTrialNumber", 0)], f"{M1}.maxTrialNumber"),
    ("shared-storage", [("sharedStorage", {"storageType": "NFS"})], "sharedStorage"),
    ("no-training-service", [("trainingService", DELETE)], "trainingService"),
    ("local-gpu-needs-active-flag", [("trainingService", dict(LOCAL)), ("trialGpuNumber", 1)],
     "trainingService.useActiveGpu"),
    ("local-per-gpu-without-gpus", [("trainingService", dict(LOCAL, maxTrialNumberPerGpu=2))],
     "trainingService.maxTrialNumberPerGpu"),
    ("local-gpus-duplicate", [("trainingService", dict(LOCAL, gpuIndices=[1, 1]))], "trainingService.gpuIndices"),
]


def _apply(data: Dict[str, Any], path: str, value: Any) -> None:
    parts: List[Any] = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
    target: Any = data
    for part in parts[:-1]:
        target = target[part]
    if value is DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value


def _problems(data: Dict[str, Any], base: Path) -> List[Tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        ExperimentConfig(**data).canonical(str(base))
    return info.value.problems


def test_table_is_big_enough() -> None:
    assert len(BAD) >= 30 and len({case[0] for case in BAD}) == len(BAD)


def test_base_config_is_valid(valid: Dict[str, Any], project: Path) -> None:
    ExperimentConfig(**valid).canonical(str(project))


@pytest.mark.parametrize("changes, path", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_config(valid: Dict[str, Any], project: Path, changes: List[Tuple[str, Any]], path: str) -> None:
    (project / "garbage.txt").write_text("{: [unbalanced\n")
    for change_path, value in changes:
        _apply(valid, change_path, value)
    problems = _problems(valid, project)
    assert path in [p for p, _ in problems], problems
    for _, message in problems:
        assert message and "pydantic" not in message and "Input should" not in message


def test_every_problem_reported_at_once(valid: Dict[str, Any], project: Path) -> None:
    for change_path, value in [("trialConcurrency", 0), ("logLevel", "loud"), (f"{M0}.port", 0),
                               (f"{M1}.user", DELETE), ("tuner", DELETE), ("trialCodeDirectory", "nowhere")]:
        _apply(valid, change_path, value)
    paths = [p for p, _ in _problems(valid, project)]
    assert set(paths) == {"trialConcurrency", "logLevel", f"{M0}.port", f"{M1}.user", "tuner",
                          "trialCodeDirectory"}


def test_every_type_problem_reported_at_once(valid: Dict[str, Any], project: Path) -> None:
    for change_path, value in [("trialConcurrency", "4"), ("debug", 1), (f"{M0}.port", "22"),
                               (f"{M1}.bogus", 1), ("tuner.name", 5)]:
        _apply(valid, change_path, value)
    paths = [p for p, _ in _problems(valid, project)]
    assert set(paths) == {"trialConcurrency", "debug", f"{M0}.port", f"{M1}.bogus", "tuner.name"}


def test_message_says_what_is_accepted() -> None:
    with pytest.raises(ConfigError) as info:
        ExperimentConfig(trial_concurrency="4")
    assert info.value.problems == [("trialConcurrency", "must be an integer > 0, got '4' (a string)")]
    assert "trialConcurrency: must be an integer > 0, got '4' (a string)" in str(info.value)


def test_unknown_key_suggestion_and_class() -> None:
    with pytest.raises(ConfigError) as info:
        ExperimentConfig(trainingService={"platform": "remote", "machineList": [{"hots": "h"}]})
    assert info.value.problems == [
        ("trainingService.machineList[0].hots", "unknown field 'hots' in RemoteMachineConfig; did you mean 'host'?")]


def test_unsupported_platform_message() -> None:
    with pytest.raises(ConfigError, match="not supported by nni-remote; supported: local, remote"):
        ExperimentConfig("kubeflow")
    with pytest.raises(ConfigError, match="hybrid"):
        ExperimentConfig(["local", "remote"])
