"""Every NNI 3.0 HPO built-in name, taken from the registry: it runs, or says which pip install enables it."""
from __future__ import annotations

import importlib.util
import math
from typing import Any

import pytest

from nni_remote.errors import SearchSpaceError, TunerError
from nni_remote.tuning import BUILTIN_TUNERS, NotReady, create_tuner
from nni_remote.tuning.registry import ALIASES, missing_requirements, primary_names
from .tuning_spaces import in_space

NNI_30_HPO_NAMES = {"PPO", "SMAC", "TPE", "TPE_legacy", "Random", "Anneal", "Evolution", "Batch", "GridSearch",
                    "NetworkMorphism", "Metis", "GP", "PBT", "RegularizedEvolutionTuner", "DNGO", "Hyperband", "BOHB"}
NNI_30_ALIASES = {"PPOTuner", "BatchTuner", "MetisTuner", "GPTuner", "PBTTuner", "DNGOTuner"}
SPACE = {"x": {"_type": "uniform", "_value": [-5, 10]}, "y": {"_type": "uniform", "_value": [0, 15]},
         "c": {"_type": "choice", "_value": [1, 2, 4]}, "k": {"_type": "randint", "_value": [0, 3]}}
BATCH = {"combine_params": {"_type": "choice", "_value": [{"x": i} for i in range(5)]}}
EXTRA_KEYS = {"TRIAL_BUDGET", "load_checkpoint_dir", "save_checkpoint_dir"}


def runnable(name: str) -> bool:
    return not missing_requirements(BUILTIN_TUNERS[name])


def branin(p: dict[str, Any]) -> float:
    x, y = p["x"], p["y"]
    return (y - 5.1 / (4 * math.pi ** 2) * x ** 2 + 5 / math.pi * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10


def test_every_nni_3_0_name_is_registered() -> None:
    assert NNI_30_HPO_NAMES <= set(BUILTIN_TUNERS) and NNI_30_ALIASES <= set(BUILTIN_TUNERS)
    assert set(primary_names(BUILTIN_TUNERS)) >= NNI_30_HPO_NAMES
    assert all(ALIASES[a] in BUILTIN_TUNERS for a in ALIASES)


@pytest.mark.parametrize("name", primary_names(BUILTIN_TUNERS))
def test_each_builtin_runs_or_names_its_pip_install(name: str) -> None:
    entry = BUILTIN_TUNERS[name]
    if not runnable(name):
        with pytest.raises(TunerError) as info:
            create_tuner({"name": name})
        message = str(info.value)
        assert entry.install in message and "pip install" in message, message
        assert f"{'advisor' if entry.advisor else 'tuner'} {name!r}" in message
        return
    seeded = "seed" in __import__("inspect").signature(
        getattr(importlib.import_module(entry.module), entry.class_name)).parameters
    tuner = create_tuner({"name": name, "classArgs": {"seed": 1} if seeded else {}})
    space = BATCH if name == "Batch" else SPACE
    tuner.update_search_space(space)
    done = 0
    for pid in range(30):
        try:
            params = tuner.generate_parameters(pid)
        except NotReady:
            break
        except Exception as exc:
            if type(exc).__name__ == "NoMoreTrialError":
                break
            raise
        plain = {k: v for k, v in params.items() if k not in EXTRA_KEYS}
        assert plain in BATCH["combine_params"]["_value"] if name == "Batch" else in_space(plain, space), params
        value = float(plain["x"]) if name == "Batch" else branin(plain)
        tuner.receive_trial_result(pid, params, value, customized=False, trial_job_id=f"t{pid}")
        tuner.trial_end(pid, True, trial_job_id=f"t{pid}")
        done += 1
    assert done >= 5


@pytest.mark.parametrize("name", ["GP", "SMAC", "PPO", "NetworkMorphism", "RegularizedEvolutionTuner"])
def test_heavy_ones_name_the_exact_pip_install(name: str) -> None:
    if runnable(name):
        pytest.skip(f"{name}'s packages are installed here")
    with pytest.raises(TunerError) as info:
        create_tuner({"name": name.lower()})
    expected = {"GP": "pip install 'nni-remote[gp]'", "SMAC": "pip install 'nni-remote[smac]'",
                "PPO": "pip install nni==3.0 torch", "NetworkMorphism": "pip install nni==3.0 torch",
                "RegularizedEvolutionTuner": "pip install nni==3.0"}[name]
    assert str(info.value).endswith(expected), str(info.value)


def test_gp_runs_when_the_extra_is_installed() -> None:
    if not runnable("GP"):
        pytest.skip("GP needs torch and scipy: pip install 'nni-remote[gp]' (or torch==2.13.0 here) to run this")
    tuner = create_tuner({"name": "GP", "classArgs": {"optimize_mode": "minimize", "seed": 0, "cold_start_num": 3}})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [-5, 10]}, "y": {"_type": "uniform", "_value": [0, 15]}})
    best = math.inf
    for pid in range(12):
        params = tuner.generate_parameters(pid)
        best = min(best, branin(params))
        tuner.receive_trial_result(pid, params, branin(params))
        tuner.trial_end(pid, True)
    assert best < 20


def test_advisors_say_advisor_in_errors() -> None:
    with pytest.raises(TunerError, match="advisor 'BOHB': unknown classArgs 'R'"):
        create_tuner({"name": "bohb", "classArgs": {"R": 3}})
    with pytest.raises(TunerError, match="advisor 'Hyperband'"):
        create_tuner({"name": "Hyperband", "classArgs": {"budget": 3}})


def test_bohb_brackets_follow_nni_budgets() -> None:
    tuner = create_tuner({"name": "BOHB", "classArgs": {"min_budget": 1, "max_budget": 9, "eta": 3, "seed": 0}})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    first = [tuner.generate_parameters(i) for i in range(9)]      # bracket s=2: 9 configs at budget 1
    assert [p["TRIAL_BUDGET"] for p in first] == [1] * 9
    with pytest.raises(NotReady):                                  # serial, as NNI's BOHB
        tuner.generate_parameters(9)
    for pid, params in enumerate(first):
        tuner.receive_trial_result(pid, params, params["x"])
        tuner.trial_end(pid, True)
    promoted = [tuner.generate_parameters(10 + i) for i in range(3)]
    assert [p["TRIAL_BUDGET"] for p in promoted] == [3] * 3
    assert sorted(p["x"] for p in promoted) == sorted(p["x"] for p in first)[-3:]   # maximize: the best third


def test_bohb_model_proposes_near_the_good_region() -> None:
    tuner = create_tuner({"name": "BOHB", "classArgs": {"optimize_mode": "minimize", "min_budget": 1, "max_budget": 1,
                                                        "random_fraction": 0, "seed": 3}})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    xs = []
    for pid in range(40):
        params = tuner.generate_parameters(pid)
        xs.append(params["x"])
        tuner.receive_trial_result(pid, params, (params["x"] - 0.2) ** 2)
        tuner.trial_end(pid, True)
    assert sum(abs(x - 0.2) < 0.1 for x in xs[-15:]) >= 10, xs[-15:]


def test_metis_and_dngo_refuse_string_choices_by_parameter() -> None:
    for name in ("Metis", "DNGO"):
        tuner = create_tuner({"name": name})
        with pytest.raises(SearchSpaceError, match="opt.*numeric choice options"):
            tuner.update_search_space({"opt": {"_type": "choice", "_value": ["adam", "sgd"]}})


def test_pbt_steps_with_checkpoint_dirs(tmp_path) -> None:
    tuner = create_tuner({"name": "PBT", "classArgs": {"all_checkpoint_dir": str(tmp_path), "population_size": 4,
                                                      "fraction": 0.25, "seed": 0}})
    tuner.update_search_space({"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}})
    step0 = [tuner.generate_parameters(i) for i in range(4)]
    assert [(p["load_checkpoint_dir"], p["save_checkpoint_dir"]) for p in step0] == \
        [(str(tmp_path / str(i) / "0"),) * 2 for i in range(4)]
    with pytest.raises(NotReady):
        tuner.generate_parameters(4)
    for pid, params in enumerate(step0):                  # member 3 best, member 0 worst (maximize lr)
        tuner.receive_trial_result(pid, params, pid)
        tuner.trial_end(pid, True)
    step1 = [tuner.generate_parameters(10 + i) for i in range(4)]
    assert [p["save_checkpoint_dir"] for p in step1] == [str(tmp_path / str(i) / "1") for i in range(4)]
    assert step1[0]["load_checkpoint_dir"] == str(tmp_path / "3" / "0")      # the worst copies the best
    assert [p["load_checkpoint_dir"] for p in step1[1:]] == [str(tmp_path / str(i) / "0") for i in (1, 2, 3)]
    assert step1[3]["lr"] == step0[3]["lr"]


def test_legacy_tpe_takes_hyperopt_class_args() -> None:
    tuner = create_tuner({"name": "TPE_legacy", "classArgs": {"parallel_optimize": True, "constant_liar_type": "mean"}})
    assert tuner.optimize_mode == "minimize" and tuner.constant_liar
