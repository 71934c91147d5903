"""A finished 20-trial experiment for the portal's views: dict metrics, three parameters, one that matters.

Random search (seeded) over ``a`` (uniform), ``b`` (uniform) and ``c``
(choice). Every trial reports four intermediate dict metrics and a final
``{"default": a, "loss": 10 * (1 - a) + b / 1000, "user": "root"}``: only
``a`` moves ``default``; ``loss`` is another numeric key (its charts differ)
and ``user`` is not a number (never a metric column).
"""
from __future__ import annotations

import os
import textwrap
from typing import Any

import pytest

from nni_remote import Experiment, ExperimentConfig
from tests.conftest import free_port
from tests.integration.portal.kit import Api, wait_for

TRIALS = 20
TRIAL = textwrap.dedent('''
    import nni
    p = nni.get_next_parameter()
    a, b = p["a"], p["b"]
    for i in range(4):
        nni.report_intermediate_result({"default": a * (i + 1) / 4, "loss": 10 * (1 - a) * (4 - i) / 4})
    nni.report_final_result({"default": a, "loss": 10 * (1 - a) + b / 1000, "user": "root"})
''')
SPACE = {"a": {"_type": "uniform", "_value": [0, 1]}, "b": {"_type": "uniform", "_value": [0, 1]},
         "c": {"_type": "choice", "_value": ["x", "y", "z"]}}


def done(api: Api) -> bool:
    trials = api.ours("trials")
    return len(trials) == TRIALS and all(t["status"] == "SUCCEEDED" for t in trials)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The study experiment, all 20 trials SUCCEEDED. Yields (exp, api); HOME is private meanwhile."""
    root = tmp_path_factory.mktemp("study")
    code = root / "code"
    code.mkdir()
    (code / "trial.py").write_text(TRIAL)
    (root / "home").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(root / "home"))
        config = ExperimentConfig(experiment_name="study", trial_command="python3 trial.py",
                                  trial_code_directory=str(code), trial_concurrency=4, max_trial_number=TRIALS,
                                  experiment_working_directory=str(root / "exps"), search_space=SPACE,
                                  tuner={"name": "Random", "class_args": {"seed": 7}},
                                  training_service={"platform": "local"})
        exp = Experiment(config)
        exp.start(free_port())
        try:
            api = Api(exp.port)
            wait_for(lambda: done(api), timeout=240, what=f"the {TRIALS} study trials to succeed")
            yield exp, api
        finally:
            exp.stop()


def screenshots_dir(tmp_path_factory: Any) -> str:
    """Where the view screenshots go: $NNI_REMOTE_PORTAL_SCREENSHOTS, or a pytest tmp dir (printed)."""
    path = os.environ.get("NNI_REMOTE_PORTAL_SCREENSHOTS") or str(tmp_path_factory.mktemp("portal-screenshots"))
    os.makedirs(path, exist_ok=True)
    return path
