"""Tuners and assessors driving real local experiments (manager process + trial agent).

Trials here are tiny (no sleeps unless a test needs a trial to still be
running) and budgets small: the whole file is meant to run in about a minute.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import textwrap
from typing import Any

import pytest

from nni_remote import Experiment, ExperimentConfig
from nni_remote.errors import ConfigError
from nni_remote.tuning import BUILTIN_TUNERS
from nni_remote.tuning.registry import primary_names
from tests.conftest import free_port
from tests.integration.local.conftest import wait_for, wait_status
from tests.integration.local.real_nni import nni_on_head, smac_on_head, smac_python

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXAMPLE = os.path.join(REPO, "examples", "custom_tuner")

# Reports the curve it is given (if any), waits ``hold`` seconds, then reports
# the sum of its numeric parameters. ``python3 t.py garbage`` reports NaN / inf
# / {"default": NaN} / a number, or fails, by sequence id.
TRIAL = textwrap.dedent('''
    import math, sys, time
    import nni
    p = nni.get_next_parameter()
    for value in p.get("curve", []):
        nni.report_intermediate_result(value)
    time.sleep(p.get("hold", 0))
    total = sum(v for v in p.values() if isinstance(v, (int, float)) and not isinstance(v, bool))
    if sys.argv[1:] == ["garbage"]:
        kind = nni.get_sequence_id() % 5
        if kind == 0:
            sys.exit(3)
        nni.report_intermediate_result(float("nan"))
        total = [float("nan"), float("inf"), {"default": float("nan"), "x": 1}, total][kind - 1]
    nni.report_final_result(total)
''')

FLAT = {"x": {"_type": "uniform", "_value": [0, 1]}, "k": {"_type": "choice", "_value": [1, 2, 3]}}
NUMERIC = {"x": {"_type": "uniform", "_value": [0, 1]}, "y": {"_type": "loguniform", "_value": [0.01, 1]}}


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


# Per built-in: the space and classArgs its experiment uses (the default: FLAT, seeded when it takes a seed).
SPACES = {"Batch": {"combine_params": {"_type": "choice", "_value": [{"x": i} for i in range(4)]}},
          "CMAES": NUMERIC, "GP": NUMERIC, "DNGO": NUMERIC, "SMAC": NUMERIC}
ARGS = {"Evolution": {"population_size": 2}, "Hyperband": {"R": 3, "eta": 3}, "BOHB": {"max_budget": 3},
        "PBT": {"population_size": 2}, "GP": {"cold_start_num": 2}, "Metis": {"cold_start_num": 2},
        "DNGO": {"trials_per_update": 2, "num_epochs_per_training": 20}}


def _case(name: str) -> Any:
    entry = BUILTIN_TUNERS[name]
    cls_args = {**ARGS.get(name, {}), **({"seed": 1} if name not in ("GridSearch", "Batch") else {})}
    missing = [m for m in entry.requires if _missing(m)]
    if name == "SMAC" and smac_python():
        missing = []      # .ci/run's smac venv, linked for the manager by smac_on_head
    marks = [pytest.mark.skipif(bool(missing), reason=f"{name} needs {', '.join(missing)}: {entry.install}")]
    return pytest.param(name, SPACES.get(name, FLAT), cls_args, marks=marks, id=name)


BUILTINS = [_case(name) for name in primary_names(BUILTIN_TUNERS) if not BUILTIN_TUNERS[name].module.startswith("nni.")]


@pytest.fixture
def trial_dir(code_dir):
    (code_dir / "t.py").write_text(TRIAL)
    return code_dir


def jobs_of(exp: Experiment) -> list[Any]:
    return sorted(exp.list_trial_jobs(), key=lambda j: j.sequenceId)


def params_of(job: Any) -> dict[str, Any]:
    return job.hyperParameters[0].parameters


def errors_of(exp: Experiment) -> list[str]:
    return exp._rest.status()["errors"]


def launch_tuner(launch, name: str, space: dict[str, Any], args: dict[str, Any], **overrides: Any) -> Experiment:
    fields: dict[str, Any] = dict(trial_command="python3 t.py", trial_concurrency=2, max_trial_number=4,
                                  search_space=space, tuner={"name": name, "class_args": args})
    fields.update(overrides)
    return launch(**fields)


@pytest.mark.parametrize("name, space, args", BUILTINS)
def test_every_builtin_tuner_runs_an_experiment_to_done(launch, trial_dir, name, space, args, monkeypatch, tmp_path):
    if name == "SMAC":
        smac_on_head(monkeypatch, str(tmp_path / "smac-on-head"))
    exp = launch_tuner(launch, name, space, args)
    assert wait_status(exp, "DONE", "ERROR") == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert [j.status for j in jobs] == ["SUCCEEDED"] * 4, [(j.status, j.message) for j in jobs]
    assert errors_of(exp) == []
    for job in jobs:
        params = params_of(job)
        assert job.finalMetricData and job.finalMetricData[0].data == pytest.approx(
            sum(v for v in params.values() if isinstance(v, (int, float))))
    if name in ("Hyperband", "BOHB"):
        assert {params_of(j)["TRIAL_BUDGET"] for j in jobs} <= {1, 3}
    if name == "PBT":
        assert all(params_of(j)["save_checkpoint_dir"] for j in jobs)
    if name == "Batch":
        assert [params_of(j) for j in jobs] == [{"x": i} for i in range(4)]


def test_unknown_names_fail_start_with_the_valid_ones(make_config, trial_dir):
    with pytest.raises(ConfigError) as info:
        Experiment(make_config(tuner={"name": "SuperTPE"})).start(free_port())
    message = str(info.value)
    assert "unknown tuner 'SuperTPE'" in message
    for name in BUILTIN_TUNERS:
        assert name in message
    with pytest.raises(ConfigError, match="valid assessor names: Medianstop, Curvefitting"):
        Experiment(make_config(assessor={"name": "KLD"})).start(free_port())
    if _missing("smac"):
        with pytest.raises(ConfigError, match=r"tuner 'SMAC' needs smac.*pip install 'nni-remote\[smac\]'"):
            Experiment(make_config(tuner={"name": "smac"})).start(free_port())
    with pytest.raises(ConfigError, match="advisor 'BOHB': unknown classArgs 'R'"):
        Experiment(make_config(tuner=None, advisor={"name": "BOHB", "class_args": {"R": 3}})).start(free_port())


def test_gridsearch_without_max_trial_number_covers_the_grid_once(launch, trial_dir):
    space = {"a": {"_type": "choice", "_value": [1, 2, 3]}, "b": {"_type": "quniform", "_value": [0, 1, 0.5]},
             "c": {"_type": "randint", "_value": [0, 2]}}
    exp = launch(trial_command="python3 t.py", trial_concurrency=3, max_trial_number=None, search_space=space,
                 tuner={"name": "GridSearch"})
    assert wait_status(exp, "DONE", "ERROR") == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert all(j.status == "SUCCEEDED" for j in jobs)
    got = sorted((p["a"], p["b"], p["c"]) for p in map(params_of, jobs))
    assert got == sorted(itertools.product([1, 2, 3], [0.0, 0.5, 1.0], [0, 1]))


# Trials run one at a time, in this order (BatchTuner keeps it). Medianstop
# (maximize, start_step 1) compares a trial's best value so far with the median
# of the running averages of the *completed* trials at the same step.
CURVES = [
    ("A", [1, 2, 3, 4]),          # nothing completed yet: never judged
    ("B", [3, 3, 3, 3]),          # step 1: 3 >= median(1) = 1
    ("low", [0.5, 0.5, 0.5, 0.5]),  # step 1: 0.5 < median(1, 3) = 1          -> stopped
    ("C", [5, 5, 5, 5]),          # 5 >= 1, then 5 >= 1.5, ...
    ("mid", [2, 2, 2, 2]),        # step 1: 2 < median(1, 3, 5) = 3          -> stopped
    ("late", [3.5, 3.5, 3.5, 1]),  # best so far 3.5 >= median 3 at every step
    ("dip", [4, 0, 0, 0]),        # best so far 4 stays >= the medians
]
STOPPED = {"low", "mid"}


def test_medianstop_early_stops_exactly_the_curves_below_the_median(launch, trial_dir):
    hold = 1.0  # every trial lingers after its curve, so a (wrong or right) Bad verdict always finds it running
    space = {"combine_params": {"_type": "choice",
                                "_value": [{"id": name, "curve": curve, "hold": hold} for name, curve in CURVES]}}
    exp = launch(trial_command="python3 t.py", trial_concurrency=1, max_trial_number=None, search_space=space,
                 tuner={"name": "BatchTuner"},
                 assessor={"name": "Medianstop", "class_args": {"optimize_mode": "maximize", "start_step": 1}})
    assert wait_status(exp, "DONE", "ERROR", timeout=90) == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert [params_of(j)["id"] for j in jobs] == [name for name, _ in CURVES]
    statuses = {params_of(j)["id"]: j.status for j in jobs}
    assert {n for n, s in statuses.items() if s == "EARLY_STOPPED"} == STOPPED, statuses
    assert {n for n, s in statuses.items() if s == "SUCCEEDED"} == {n for n, _ in CURVES} - STOPPED, statuses
    for job in jobs:
        if job.status == "EARLY_STOPPED":
            assert not job.finalMetricData


def trace(path: str) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def custom_tuner(trace_file: str, **args: Any) -> dict[str, Any]:
    return {"class_name": "hill_climb_tuner.HillClimbTuner", "code_directory": EXAMPLE,
            "class_args": {"optimize_mode": "maximize", "seed": 3, "warm_up": 2, "trace_file": trace_file, **args}}


def test_custom_tuner_example_drives_an_experiment(launch, tmp_path):
    """examples/custom_tuner as shipped: ``from nni.tuner import Tuner`` works with or without the real nni."""
    log = str(tmp_path / "trace.jsonl")
    config = ExperimentConfig.load(os.path.join(EXAMPLE, "config.yml"))
    assert config.tuner.class_name == "hill_climb_tuner.HillClimbTuner"
    config.experiment_working_directory = str(tmp_path / "exps")
    config.max_trial_number = 5
    config.tuner.class_args = {**config.tuner.class_args, "trace_file": log}
    exp = launch(config)
    assert wait_status(exp, "DONE", "ERROR") == "DONE", errors_of(exp)
    jobs = jobs_of(exp)
    assert [j.status for j in jobs] == ["SUCCEEDED"] * 5
    calls = trace(log)
    assert calls[0]["call"] == "update_search_space"
    generated = {c["parameter_id"]: c["parameters"] for c in calls if c["call"] == "generate_parameters"}
    assert sorted(generated) == [0, 1, 2, 3, 4]
    assert sorted(map(json.dumps, generated.values())) == sorted(json.dumps(params_of(j)) for j in jobs)
    results = {c["parameter_id"]: c["value"] for c in calls if c["call"] == "receive_trial_result"}
    assert results == {j.hyperParameters[0].parameter_id: j.finalMetricData[0].data for j in jobs}
    assert sorted(c["parameter_id"] for c in calls if c["call"] == "trial_end") == [0, 1, 2, 3, 4]


NNI_CLASSES = ("nni.algorithms.hpo.tpe_tuner.TpeTuner", "nni.algorithms.hpo.random_tuner.RandomTuner")


@pytest.mark.parametrize("class_name", NNI_CLASSES)
def test_nni_builtin_class_by_class_name_drives_an_experiment(launch, trial_dir, class_name, tmp_path, monkeypatch):
    nni_on_head(monkeypatch, str(tmp_path / "nni-on-head"))
    exp = launch(trial_command="python3 t.py", trial_concurrency=2, max_trial_number=4, search_space=FLAT,
                 tuner={"class_name": class_name, "class_args": {"optimize_mode": "maximize", "seed": 1}},
                 assessor={"class_name": "nni.algorithms.hpo.medianstop_assessor.MedianstopAssessor",
                           "class_args": {"optimize_mode": "maximize"}})
    assert wait_status(exp, "DONE", "ERROR", timeout=90) == "DONE", errors_of(exp)
    assert [j.status for j in jobs_of(exp)] == ["SUCCEEDED"] * 4


def stop_after(exp: Experiment, succeeded: int) -> None:
    wait_for(lambda: sum(j.status == "SUCCEEDED" for j in exp.list_trial_jobs()) >= succeeded,
             what=f"{succeeded} trials succeeded")
    exp.stop()


def resume(exp_id: str, experiments: list[Experiment]) -> Experiment:
    again = Experiment.resume(exp_id, port=free_port(), wait_completion=False)
    experiments.append(again)
    return again


def test_resume_replays_history_to_the_tuner(launch, experiments, trial_dir, tmp_path):
    log = str(tmp_path / "trace.jsonl")
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "hold": {"_type": "choice", "_value": [0.3]}}
    exp = launch(trial_command="python3 t.py", trial_concurrency=1, max_trial_number=6, search_space=space,
                 tuner=custom_tuner(log))
    stop_after(exp, 2)
    first_run = trace(log)
    assert not any(c["call"] == "import_data" for c in first_run)
    finished = {json.dumps(c["parameters"], sort_keys=True): c["value"] for c in first_run
                if c["call"] == "receive_trial_result"}
    assert len(finished) >= 2

    again = resume(exp.id, experiments)
    assert wait_status(again, "DONE", "ERROR", timeout=60) == "DONE", errors_of(again)
    calls = trace(log)[len(first_run):]
    assert calls[0]["call"] == "update_search_space" and calls[1]["call"] == "import_data", calls[:2]
    assert {json.dumps(e["parameter"], sort_keys=True): e["value"] for e in calls[1]["data"]} == finished
    # later history is only the result of a trial that stop() cut short and resume ran again,
    # fed as history because the resumed tuner never generated it (NNI does the same)
    cut_short = {json.dumps(c["parameters"], sort_keys=True) for c in first_run
                 if c["call"] == "generate_parameters"} - set(finished)
    for call in (c for c in calls[2:] if c["call"] == "import_data"):
        assert all(json.dumps(e["parameter"], sort_keys=True) in cut_short for e in call["data"]), call
    # the resumed tuner carries on: parameter ids continue instead of starting again at 0
    before = [c["parameter_id"] for c in first_run if c["call"] == "generate_parameters"]
    after = [c["parameter_id"] for c in calls if c["call"] == "generate_parameters"]
    assert after and min(after) > max(before), (before, after)
    jobs = jobs_of(again)
    assert len(jobs) == 6 and errors_of(again) == []
    assert all(j.status == "SUCCEEDED" for j in jobs if j.sequenceId >= len(before)), jobs


def test_tpe_resumes_from_its_history(launch, experiments, trial_dir):
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "hold": {"_type": "choice", "_value": [0.2]}}
    exp = launch(trial_command="python3 t.py", trial_concurrency=1, max_trial_number=6, search_space=space,
                 tuner={"name": "TPE", "class_args": {"seed": 7, "optimize_mode": "maximize"}})
    stop_after(exp, 2)
    again = resume(exp.id, experiments)
    assert wait_status(again, "DONE", "ERROR", timeout=60) == "DONE", errors_of(again)
    jobs = jobs_of(again)
    assert len(jobs) == 6 and errors_of(again) == []
    xs = [params_of(j)["x"] for j in jobs]
    assert len(set(xs)) == len(xs), xs      # a seeded TPE restarted from scratch would repeat its first x
    with open(os.path.join(again.get_experiment_profile()["logDir"], "log", "nnimanager.log")) as f:
        assert re.search(r"TpeTuner imported [2-6] of [2-6] trials", f.read())


@pytest.mark.parametrize("name, args", [("TPE", {"seed": 2, "tpe_args": {"n_startup_jobs": 2}}),
                                        ("Anneal", {"seed": 2}), ("Evolution", {"seed": 2, "population_size": 2}),
                                        ("Hyperband", {"R": 3, "eta": 3, "seed": 2})])
def test_nan_inf_and_failed_trials_never_crash_a_tuner(launch, trial_dir, name, args):
    exp = launch(trial_command="python3 t.py garbage", trial_concurrency=2, max_trial_number=10,
                 search_space={"x": {"_type": "uniform", "_value": [0, 1]}}, tuner={"name": name, "class_args": args})
    assert wait_status(exp, "DONE", "ERROR") == "DONE", errors_of(exp)
    assert errors_of(exp) == []
    statuses = [j.status for j in jobs_of(exp)]
    assert len(statuses) == 10 and statuses.count("FAILED") == 2, statuses
