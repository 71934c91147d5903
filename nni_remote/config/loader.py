"""Reading config files, and converting NNI v1 configs (reference §1.1, §1.12)."""
from __future__ import annotations

import copy
import logging
import os
from typing import TYPE_CHECKING, Any, Dict, List, Tuple, Type

import yaml

from ..errors import ConfigError
from .base import MASK, normalize_key

if TYPE_CHECKING:
    from .experiment import ExperimentConfig

logger = logging.getLogger("nni_remote.config")

_V1_TOP = {  # v1 key -> v2 key, both at top level
    "experimentName": "experimentName", "trialConcurrency": "trialConcurrency",
    "maxExecDuration": "maxExperimentDuration", "maxTrialNum": "maxTrialNumber",
    "searchSpacePath": "searchSpaceFile", "nniManagerIp": "nniManagerIp", "logDir": "experimentWorkingDirectory",
    "debug": "debug", "logLevel": "logLevel", "useAnnotation": "useAnnotation",
}
_V1_TRIAL = {"command": "trialCommand", "codeDir": "trialCodeDirectory", "gpuNum": "trialGpuNumber"}
_V1_MACHINE = {
    "ip": "host", "port": "port", "username": "user", "passwd": "password", "sshKeyPath": "sshKeyFile",
    "passphrase": "sshPassphrase", "gpuIndices": "gpuIndices", "maxTrialNumPerGpu": "maxTrialNumberPerGpu",
    "useActiveGpu": "useActiveGpu", "pythonPath": "pythonPath",
}
_V1_LOCAL = {"gpuIndices": "gpuIndices", "maxTrialNumPerGpu": "maxTrialNumberPerGpu", "useActiveGpu": "useActiveGpu"}
_V1_DROPPED = ("authorName", "description", "multiThread", "versionCheck", "logCollection")
_SECRET_KEYS = ("password", "passwd", "sshpassphrase", "passphrase")


def _pop(data: Dict[str, Any], key: str) -> Any:
    """Remove and return ``key`` from ``data``, matching it ignoring case and underscores."""
    for k in list(data):
        if isinstance(k, str) and normalize_key(k) == normalize_key(key):
            return data.pop(k)
    return None


def _move(src: Dict[str, Any], dst: Dict[str, Any], table: Dict[str, str]) -> None:
    for old, new in table.items():
        value = _pop(src, old)
        if value is not None:
            dst[new] = value


def _mapping(value: Any, path: str) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError([(path, f"must be a mapping, got {type(value).__name__}")])
    return value


def _convert_algorithm(v1: Dict[str, Any], kind: str, v2: Dict[str, Any], leftover: List[str]) -> None:
    algo = _mapping(_pop(v1, kind), kind)
    out: Dict[str, Any] = {}
    name = _pop(algo, f"builtin{kind.title()}Name")
    if name is not None:
        out["name"] = name
    class_file, class_name = _pop(algo, "classFileName"), _pop(algo, "className")
    code_dir = _pop(algo, "codeDir")
    if class_name is not None:
        module = class_file[:-3] if isinstance(class_file, str) and class_file.endswith(".py") else class_file
        out["className"] = f"{module}.{class_name}" if module else class_name
        out["codeDirectory"] = code_dir if code_dir is not None else "."
    class_args = _pop(algo, "classArgs")
    if class_args is not None:
        out["classArgs"] = class_args
    gpu_indices = _pop(algo, "gpuIndices")
    if gpu_indices is not None:
        v2["tunerGpuIndices"] = gpu_indices
    _pop(algo, "includeIntermediateResults")
    leftover.extend(f"{kind}.{k}: not converted, dropped" for k in algo)
    v2[kind] = out


def convert_v1(v1: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
    """Convert an NNI v1 config to v2 (nnictl's rules); returns ``(v2, notes)``.

    ``notes`` names the v1 keys that were dropped or not converted.
    """
    v1 = copy.deepcopy(v1)
    notes: List[str] = []
    platform = _pop(v1, "trainingServicePlatform")
    service: Dict[str, Any] = {"platform": "openpai" if platform == "pai" else platform}
    v2: Dict[str, Any] = {}
    for key in _V1_DROPPED:
        if _pop(v1, key) is not None:
            notes.append(f"{key}: no longer supported, dropped")
    if _pop(v1, "multiPhase"):
        raise ConfigError([("multiPhase", "multi-phase experiments are no longer supported (NNI v2 removed them)")])
    _move(v1, v2, _V1_TOP)
    trial = _mapping(_pop(v1, "trial"), "trial")
    _move(trial, v2, _V1_TRIAL)
    notes.extend(f"trial.{k}: not converted, dropped" for k in trial)
    for kind in ("tuner", "assessor", "advisor"):
        if any(normalize_key(k) == kind for k in v1 if isinstance(k, str)):
            _convert_algorithm(v1, kind, v2, notes)
    local = _mapping(_pop(v1, "localConfig"), "localConfig")
    _move(local, service, _V1_LOCAL)
    notes.extend(f"localConfig.{k}: not converted, dropped" for k in local)
    remote = _mapping(_pop(v1, "remoteConfig"), "remoteConfig")
    reuse = _pop(remote, "reuse")
    if reuse is not None:
        service["reuseMode"] = reuse
    notes.extend(f"remoteConfig.{k}: not converted, dropped" for k in remote)
    machines = _pop(v1, "machineList")
    if machines is not None:
        if not isinstance(machines, list):
            raise ConfigError([("machineList", f"must be a list, got {type(machines).__name__}")])
        converted = []
        for index, machine in enumerate(machines):
            machine = dict(_mapping(machine, f"machineList[{index}]"))
            out: Dict[str, Any] = {}
            _move(machine, out, _V1_MACHINE)
            notes.extend(f"machineList[{index}].{k}: not converted, dropped" for k in machine)
            converted.append(out)
        service["machineList"] = converted
    notes.extend(f"{k}: not converted, dropped" for k in v1)
    v2["trainingService"] = service
    return v2, notes


def masked(data: Any) -> Any:
    """A copy of a config dict with password-like values replaced by the mask (for logs)."""
    if isinstance(data, dict):
        return {k: (MASK if isinstance(k, str) and normalize_key(k) in _SECRET_KEYS and v is not None
                    else masked(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(item) for item in data]
    return data


def _named(error: ConfigError, path: str) -> ConfigError:
    """The same problems, with the message naming the file."""
    named = ConfigError(error.problems)
    named.args = (str(named).replace("invalid experiment config", f"invalid experiment config {path}", 1),)
    named.file = path  # type: ignore[attr-defined]
    return named


def load_config(cls: Type[ExperimentConfig], path: Any) -> ExperimentConfig:
    """Implementation of :meth:`ExperimentConfig.load`."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except OSError as exc:
        raise _named(ConfigError([("", f"cannot read the file: {exc.strerror or exc}")]), path) from None
    except UnicodeDecodeError as exc:
        raise _named(ConfigError([("", f"the file is not UTF-8 text: {exc.reason}")]), path) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise _named(ConfigError([("", f"not valid YAML or JSON{line}: {reason}")]), path) from None
    try:
        if not isinstance(data, dict):
            kind = "empty" if data is None else f"a {type(data).__name__}"
            raise ConfigError([("", f"the top level must be a mapping of settings, but the file is {kind}")])
        if any(isinstance(k, str) and normalize_key(k) == "trainingserviceplatform" for k in data):
            data, notes = convert_v1(data)
            text = yaml.safe_dump(masked(data), sort_keys=False)
            logger.warning("%s is an NNI v1 config; converted it to v2:\n%s%s", path, text,
                           "".join(f"\n  {note}" for note in notes))
        config = cls(**{str(k): v for k, v in data.items()})
    except ConfigError as exc:
        raise _named(exc, path) from None
    config._base_dir = os.path.dirname(os.path.abspath(path))
    return config
