"""The built-in ``nni`` module has the public names of NNI 3.0 that trial code and tuner authors import.

``data/nni30_public_names.json`` was captured from the real nni 3.0 package
(``dir()`` of each module). Every name there must exist in our module unless
it is listed below with the reason it is left out.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
AGENT = os.path.join(REPO, "trial_agent")
with open(os.path.join(HERE, "data", "nni30_public_names.json")) as f:
    CAPTURED = json.load(f)

_TYPING = {"Any", "Dict", "List", "Literal", "NotRequired", "Optional", "TypedDict", "annotations", "cast"}
_STDLIB = {"Enum", "Path", "copy", "logging", "os", "np", "threading", "Queue", "Empty"}
LEFT_OUT = {
    "nni": {
        # NAS / model-space and experiment-launching parts of NNI 3.0, not HPO trial or tuner code:
        "Experiment", "experiment", "mutable", "choice", "uniform", "loguniform", "quniform", "qloguniform",
        "normal", "qnormal", "training_update", "get_default_framework", "set_default_framework",
        "shortcut_framework", "shortcut_module", "tools", "common", "dispatcher_env_vars", "version",
        "enable_global_logging", "silence_stdout",
    },
    "nni.tuner": {"nni"} | _TYPING, "nni.assessor": _TYPING | _STDLIB, "nni.recoverable": {"nni"} | _TYPING | _STDLIB,
    "nni.utils": _STDLIB | {"And"},       # ``schema.And``: NNI's validators build on the schema package
    "nni.typehint": _TYPING,
    "nni.trial": _TYPING | {"get_default_trial_command_channel", "trial_env_vars", "overwrite_intermediate_seq",
                            "ParameterRecord", "Parameters", "TrialMetric"},
    "nni.parameter_expressions": _STDLIB,
    # the websocket channel and its worker queues: the manager hosts advisors in-process instead
    "nni.runtime.msg_dispatcher_base": _STDLIB | {"QUEUE_LEN_WARNING_MARK", "TunerCommandChannel",
                                                   "dispatcher_env_vars", "load", "Recoverable"},
    "nni.runtime.tuner_command_channel": {"TunerCommandChannel", "TunerIncomingCommand", "channel", "command_type"},
}


def _our_names() -> dict[str, list[str]]:
    code = ("import importlib, json, sys\n"
            f"mods = {sorted(CAPTURED['modules'])!r}\n"
            "out = {}\n"
            "for m in mods:\n"
            "    out[m] = sorted(n for n in dir(importlib.import_module(m)) if not n.startswith('_'))\n"
            "from nni.runtime.tuner_command_channel import CommandType\n"
            "out['CommandType'] = sorted(c.name for c in CommandType)\n"
            "out['version'] = __import__('nni').__version__\n"
            "print(json.dumps(out))\n")
    env = {**os.environ, "PYTHONPATH": AGENT, "NNI_REMOTE_FORCE_SHIM": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_captured_list_is_nni_3_0() -> None:
    assert CAPTURED["captured_from"].startswith("nni 3.0")


@pytest.mark.parametrize("module", sorted(CAPTURED["modules"]))
def test_every_public_name_of_nni_3_0_is_there(module: str) -> None:
    ours = _our_names()
    assert ours["version"] == "nni-remote-shim"
    missing = set(CAPTURED["modules"][module]) - set(ours[module]) - LEFT_OUT.get(module, set())
    assert not missing, f"{module} lacks {sorted(missing)}"


def test_advisor_commands_match() -> None:
    assert _our_names()["CommandType"] == CAPTURED["CommandType"]


def test_left_out_names_are_really_nni_names() -> None:
    for module, names in LEFT_OUT.items():
        stale = {n for n in names if n not in CAPTURED["modules"][module]} - _TYPING - _STDLIB
        assert not stale, f"{module}: {sorted(stale)} are not NNI 3.0 names; drop them from LEFT_OUT"


def test_class_args_validator_as_nni_custom_tuner_example_uses_it() -> None:
    sys.path.insert(0, AGENT)
    try:
        utils = importlib.import_module("nni.utils")
    finally:
        sys.path.remove(AGENT)
        for name in [m for m in sys.modules if m == "nni" or m.startswith("nni.")]:
            del sys.modules[name]   # later tests ask whether the real nni is importable
    validator = utils.ClassArgsValidator()
    validator.validate_class_args(optimize_mode="maximize")
    assert validator.choices("optimize_mode", "maximize", "minimize").validate("minimize") == "minimize"
    with pytest.raises(ValueError, match="optimize_mode should be in"):
        validator.choices("optimize_mode", "maximize", "minimize").validate("up")
    with pytest.raises(ValueError, match="in range"):
        validator.range("R", int, 1, 10).validate(11)
    assert utils.split_index({"a": {"_index": 1, "_value": {"_name": "x", "k": 2}}}) == {"a": {"_name": "x", "k": 2}}
    assert utils.OptimizeMode("maximize") is utils.OptimizeMode.Maximize
