"""Local-mode fixtures: a config factory and experiments that are always stopped."""
from __future__ import annotations

import json
import os
import textwrap
from typing import Any, Callable

import pytest

from tests.conftest import wait_for as wait_for

from nni_remote import Experiment, ExperimentConfig
from tests.conftest import free_port

TRIAL = textwrap.dedent('''
    import json, os, sys, time
    import nni
    print("trial-start", os.getpid(), flush=True)
    params = nni.get_next_parameter()
    steps = int(params.get("steps", 3))
    sleep = float(params.get("sleep", os.environ.get("TRIAL_SLEEP", "0")))
    value = params.get("x", 0.5)
    for i in range(steps):
        nni.report_intermediate_result(value * (i + 1) / steps)
        if sleep:
            time.sleep(sleep / steps)
    with open(os.path.join(os.environ["NNI_OUTPUT_DIR"], "seen.json"), "w") as f:
        json.dump({"params": params, "env": {k: v for k, v in os.environ.items() if k.startswith(("NNI_", "CUDA"))},
                   "cwd": os.getcwd(), "pid": os.getpid()}, f)
    nni.report_final_result(value)
''')


@pytest.fixture
def code_dir(tmp_path):
    d = tmp_path / "code"
    d.mkdir()
    (d / "trial.py").write_text(TRIAL)
    return d


@pytest.fixture
def make_config(tmp_path, code_dir, isolated_home) -> Callable[..., ExperimentConfig]:
    def make(**overrides: Any) -> ExperimentConfig:
        fields: dict[str, Any] = dict(
            trial_command="python3 trial.py", trial_code_directory=str(code_dir), trial_concurrency=2,
            max_trial_number=6, experiment_working_directory=str(tmp_path / "exps"),
            search_space={"x": {"_type": "uniform", "_value": [0, 1]}},
            tuner={"name": "Random", "class_args": {"seed": 1}}, training_service={"platform": "local"})
        fields.update(overrides)
        return ExperimentConfig(**fields)
    return make


@pytest.fixture
def launch(make_config, experiments) -> Callable[..., Experiment]:
    def start(config: ExperimentConfig | None = None, **overrides: Any) -> Experiment:
        exp = Experiment(config or make_config(**overrides))
        exp.start(free_port())
        experiments.append(exp)
        return exp
    return start


def wait_status(exp: Experiment, *statuses: str, timeout: float = 60.0) -> str:
    return wait_for(lambda: exp.get_status() in statuses and exp.get_status(), timeout,
                    what=f"status in {statuses}")


def seen(exp_dir: str, trial_id: str) -> dict:
    with open(os.path.join(exp_dir, "trials", trial_id, "seen.json")) as f:
        return json.load(f)
