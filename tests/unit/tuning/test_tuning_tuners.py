"""The built-in tuners through the manager's contract (create_tuner, generate, results, ends)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nni_remote.errors import SearchSpaceError
from nni_remote.tuning import NoMoreTrialError, NotReady, Tuner, create_tuner
from nni_remote.tuning.search_space import canonical_key
from .registry_names import seeded, skip_missing, tuner_names
from .tuning_spaces import FLAT_SPACE, MIXED_SPACE, in_space

_skip_missing = skip_missing


def _objective(params: dict[str, Any]) -> float:
    return -abs(math.log10(params["lr"]) + 3) - params["dropout"] + (0.3 if params["batch"] == 32 else 0)


def _drive(tuner: Tuner, n: int, objective: Any = _objective, start: int = 0) -> list[dict[str, Any]]:
    out = []
    for pid in range(start, start + n):
        params = tuner.generate_parameters(pid)
        out.append(params)
        tuner.receive_trial_result(pid, params, objective(params), customized=False, trial_job_id=f"t{pid}")
        tuner.trial_end(pid, True, trial_job_id=f"t{pid}")
    return out


@pytest.mark.parametrize("name", tuner_names(nested=True, fast=False))
def test_each_builtin_generates_20_params_in_a_mixed_space(name: str) -> None:
    _skip_missing(name)
    tuner = create_tuner({"name": name, "classArgs": {"seed": 3} if seeded(name) else {}})
    tuner.update_search_space(MIXED_SPACE)
    for params in _drive(tuner, 20):
        assert in_space(params, MIXED_SPACE), params


def test_hyperband_generates_20_params_in_a_flat_space() -> None:
    tuner = create_tuner({"name": "Hyperband", "classArgs": {"seed": 1}})
    tuner.update_search_space(FLAT_SPACE)
    for params in _drive(tuner, 20):
        assert params.pop("TRIAL_BUDGET") == 2 and in_space(params, FLAT_SPACE)
    with pytest.raises(SearchSpaceError, match="nested"):
        tuner.update_search_space(MIXED_SPACE)


@pytest.mark.parametrize("name", tuner_names(seeded_only=True))
def test_same_seed_same_sequence(name: str) -> None:
    _skip_missing(name)
    runs = []
    for _ in range(2):
        tuner = create_tuner({"name": name, "class_args": {"seed": 11}})
        tuner.update_search_space(FLAT_SPACE)
        runs.append(_drive(tuner, 25))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("name", tuner_names())
@pytest.mark.parametrize("garbage", [float("nan"), float("inf"), -math.inf, "oops", None, [1], {"x": 1},
                                     {"default": float("nan")}, True])
def test_garbage_results_never_crash(name: str, garbage: Any) -> None:
    _skip_missing(name)
    tuner = create_tuner({"name": name, "classArgs": {"seed": 0} if seeded(name) else {}})
    tuner.update_search_space(FLAT_SPACE)
    for pid in range(25):
        params = tuner.generate_parameters(pid)
        value = garbage if pid % 2 else {"default": float(pid), "other": 1}
        tuner.receive_trial_result(pid, params, value, customized=False, trial_job_id="x")
        tuner.trial_end(pid, pid % 3 != 0, trial_job_id="x")
    tuner.import_data([{"parameter": params, "value": garbage}, {"parameter": "bad", "value": 1}])


def test_gridsearch_covers_a_finite_grid_exactly_once() -> None:
    space = {"a": {"_type": "choice", "_value": ["x", "y", "z"]},
             "b": {"_type": "randint", "_value": [0, 4]},
             "c": {"_type": "quniform", "_value": [0, 1, 0.5]},
             "n": {"_type": "choice", "_value": [{"_name": "off"},
                                                 {"_name": "on", "k": {"_type": "choice", "_value": [1, 2]}}]}}
    tuner = create_tuner({"name": "gridsearch"})
    tuner.update_search_space(space)
    seen = []
    with pytest.raises(NoMoreTrialError):
        for pid in range(1000):
            seen.append(tuner.generate_parameters(pid))
    keys = [canonical_key(p) for p in seen]
    assert len(keys) == len(set(keys)) == 3 * 4 * 3 * 3
    assert {p["c"] for p in seen} == {0.0, 0.5, 1.0}
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(1000)


def test_gridsearch_is_deterministic_and_skips_imported_points() -> None:
    space = {"a": {"_type": "choice", "_value": [1, 2, 3]}, "b": {"_type": "choice", "_value": ["p", "q"]}}
    first = create_tuner({"name": "GridSearch"})
    first.update_search_space(space)
    order = [first.generate_parameters(i) for i in range(6)]
    second = create_tuner({"name": "GridSearch"})
    second.update_search_space(space)
    second.import_data([{"parameter": order[0], "value": 1.0}, {"parameter": {"a": 3.0, "b": "q"}, "value": 2}])
    rest = [second.generate_parameters(i) for i in range(4)]
    assert rest == order[1:5]
    with pytest.raises(NoMoreTrialError):
        second.generate_parameters(4)


def test_gridsearch_subdivides_continuous_parameters() -> None:
    tuner = create_tuner({"name": "GridSearch"})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 8]}})
    assert [tuner.generate_parameters(i)["x"] for i in range(7)] == [4.0, 2.0, 6.0, 1.0, 3.0, 5.0, 7.0]


def test_random_on_a_finite_space_stops_when_every_point_was_given() -> None:
    tuner = create_tuner({"name": "random", "classArgs": {"seed": 5}})
    tuner.update_search_space({"a": {"_type": "choice", "_value": [1, 2, 3]},
                               "b": {"_type": "randint", "_value": [0, 2]}})
    got = [canonical_key(tuner.generate_parameters(i)) for i in range(6)]
    assert len(set(got)) == 6
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(6)


def test_batch_gives_each_combination_once() -> None:
    combos = [{"optimizer": "Adam", "lr": 0.001}, {"optimizer": "SGD", "lr": 0.01}, {"optimizer": "SGD", "lr": 0.1}]
    tuner = create_tuner({"name": "BatchTuner"})
    tuner.update_search_space({"combine_params": {"_type": "choice", "_value": combos}})
    tuner.import_data([{"parameter": combos[1], "value": 0.5}])
    assert [tuner.generate_parameters(0), tuner.generate_parameters(1)] == [combos[0], combos[2]]
    with pytest.raises(NoMoreTrialError):
        tuner.generate_parameters(2)
    with pytest.raises(SearchSpaceError):
        create_tuner({"name": "Batch"}).update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})


def _finish(tuner: Tuner, pid: int, params: dict[str, Any], value: float) -> None:
    tuner.receive_trial_result(pid, params, value)
    tuner.trial_end(pid, True)


def test_hyperband_serial_brackets_budgets_promotions_and_not_ready() -> None:
    tuner = create_tuner({"name": "hyperband", "classArgs": {"R": 9, "eta": 3, "exec_mode": "serial", "seed": 2}})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    rung0 = [tuner.generate_parameters(i) for i in range(9)]          # bracket s=2: 9 configs x budget 1
    assert [p["TRIAL_BUDGET"] for p in rung0] == [1] * 9
    with pytest.raises(NotReady):
        tuner.generate_parameters(9)
    for pid, params in reversed(list(enumerate(rung0))):               # results out of order
        _finish(tuner, pid, params, params["x"])
    rung1 = [tuner.generate_parameters(i) for i in range(9, 12)]
    best3 = sorted(p["x"] for p in rung0)[-3:]
    assert sorted(p["x"] for p in rung1) == best3 and {p["TRIAL_BUDGET"] for p in rung1} == {3}
    with pytest.raises(NotReady):
        tuner.generate_parameters(12)
    for pid, params in zip(range(9, 12), rung1):
        _finish(tuner, pid, params, params["x"])
    last = tuner.generate_parameters(12)
    assert last["x"] == max(best3) and last["TRIAL_BUDGET"] == 9
    with pytest.raises(NotReady):
        tuner.generate_parameters(13)
    tuner.receive_trial_result(12, last, "garbage")
    tuner.trial_end(12, False)
    bracket1 = [tuner.generate_parameters(i) for i in range(13, 18)]   # s=1: 5 configs x budget 3
    assert {p["TRIAL_BUDGET"] for p in bracket1} == {3}
    with pytest.raises(NotReady):
        tuner.generate_parameters(18)


def test_hyperband_parallelism_starts_the_next_bracket_instead_of_waiting() -> None:
    tuner = create_tuner({"name": "Hyperband", "classArgs": {"R": 9, "eta": 3}})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    budgets = [tuner.generate_parameters(i)["TRIAL_BUDGET"] for i in range(9 + 5 + 3 + 9)]
    assert budgets == [1] * 9 + [3] * 5 + [9] * 3 + [1] * 9


def test_evolution_waits_while_every_individual_runs() -> None:
    tuner = create_tuner({"name": "Evolution", "classArgs": {"population_size": 4, "seed": 1}})
    tuner.update_search_space(FLAT_SPACE)
    given_ = [tuner.generate_parameters(i) for i in range(4)]
    with pytest.raises(NotReady):
        tuner.generate_parameters(4)
    _finish(tuner, 0, given_[0], 1.0)
    child = tuner.generate_parameters(4)
    assert sum(child[k] != given_[0][k] for k in child) <= 1      # one parameter mutated
    tuner.trial_end(1, False)                                        # failed: replaced by a random one
    assert in_space(tuner.generate_parameters(5), FLAT_SPACE)


def quadratic(params: dict[str, Any]) -> float:
    return (params["x"] - 1.3) ** 2 + (params["y"] + 0.7) ** 2


@pytest.mark.parametrize("name, args", [("TPE", {"tpe_args": {"n_startup_jobs": 10}}), ("Anneal", {})])
def test_model_based_tuners_beat_random_on_a_quadratic(name: str, args: dict[str, Any]) -> None:
    space = {"x": {"_type": "uniform", "_value": [-5, 5]}, "y": {"_type": "uniform", "_value": [-5, 5]}}
    best: dict[str, list[float]] = {name: [], "Random": []}
    for seed in range(6):
        for algo in best:
            extra = args if algo == name else {}
            tuner = create_tuner({"name": algo, "classArgs": {"seed": seed, "optimize_mode": "minimize", **extra}})
            tuner.update_search_space(space)
            best[algo].append(min(quadratic(p) for p in _drive(tuner, 60, quadratic)))
    assert np.median(best[name]) < np.median(best["Random"]) / 2, best


def test_tpe_minimizes_by_default_and_maximize_flips() -> None:
    space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    for mode, expect_low in ((None, True), ("maximize", False)):
        args = {"seed": 0, "tpe_args": {"n_startup_jobs": 5}}
        tuner = create_tuner({"name": "tpe", "classArgs": args if mode is None else {**args, "optimize_mode": mode}})
        tuner.update_search_space(space)
        xs = [p["x"] for p in _drive(tuner, 40, lambda p: p["x"])]
        assert (np.mean(xs[-15:]) < 0.35) == expect_low, xs[-15:]


def test_tpe_defaults_follow_optunas_tpe_exactly() -> None:
    """Without tpe_args, our TPE is Optuna's TPESampler with its defaults: same seed, same trials."""
    import optuna
    space = {"x": {"_type": "uniform", "_value": [-5, 10]}, "y": {"_type": "uniform", "_value": [0, 15]}}
    tuner = create_tuner({"name": "TPE", "classArgs": {"seed": 4}})
    tuner.update_search_space(space)
    ours = [(p["x"], p["y"]) for p in _drive(tuner, 25, quadratic)]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=4))
    study.optimize(lambda t: quadratic({"x": t.suggest_float("x", -5, 10), "y": t.suggest_float("y", 0, 15)}),
                   n_trials=25)
    theirs = [(t.params["x"], t.params["y"]) for t in study.trials]
    assert np.allclose(ours, theirs, rtol=0, atol=1e-9)


def test_tpe_args_keep_nnis_meaning_when_given() -> None:
    from nni_remote.tuning.tuners.tpe_tuner import _n_below
    default = create_tuner({"name": "TPE"})
    assert (default.n_startup_jobs, default.gamma) == (10, None)  # type: ignore[attr-defined]
    nni = create_tuner({"name": "TPE", "classArgs": {"tpe_args": {"gamma": 0.25, "n_startup_jobs": 20}}})
    assert (nni.n_startup_jobs, nni.gamma) == (20, 0.25)  # type: ignore[attr-defined]
    assert [_n_below(None, 25)(n) for n in (1, 10, 11, 100, 400)] == [1, 1, 2, 10, 25]
    assert [_n_below(0.25, 25)(n) for n in (1, 16, 100, 20000)] == [1, 1, 3, 25]
    tuner = create_tuner({"name": "TPE", "classArgs": {"seed": 0, "tpe_args": {"n_startup_jobs": 4}}})
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    xs = [p["x"] for p in _drive(tuner, 4, lambda p: p["x"])]   # 4 random warm-up trials, then TPE
    assert len(set(xs)) == 4 and tuner.study.sampler._n_startup_trials == 4  # type: ignore[attr-defined]


def test_optuna_tuner_handles_out_of_order_results_imports_and_space_updates() -> None:
    tuner = create_tuner({"name": "TPE", "classArgs": {"seed": 1, "tpe_args": {"n_startup_jobs": 3}}})
    tuner.update_search_space(MIXED_SPACE)
    tuner.import_data([{"parameter": p, "value": {"default": 1.0}} for p in
                       [tuner.generate_parameters(100 + i) for i in range(3)]] + [{"parameter": {"lr": 5}, "value": 2}])
    pending = {pid: tuner.generate_parameters(pid) for pid in range(6)}
    for pid in (4, 1, 5, 0):
        tuner.receive_trial_result(pid, pending[pid], float(pid))
    for pid in pending:
        tuner.trial_end(pid, pid not in (2, 3))
    study = tuner.study  # type: ignore[attr-defined]
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 3 + 4
    tuner.update_search_space(FLAT_SPACE)  # replays what fits the new space (none of the nested ones)
    assert in_space(tuner.generate_parameters(6), FLAT_SPACE)
    tuner.receive_trial_result(3, pending[3], 1.0)   # a late result of the old space is not a crash


def test_customized_results_are_ignored_unless_accepted() -> None:
    tuner = create_tuner({"name": "Anneal", "classArgs": {"seed": 0}})
    tuner.update_search_space(FLAT_SPACE)
    params = tuner.generate_parameters(0)
    tuner.receive_trial_result(0, params, 1.0, customized=True, trial_job_id="c")
    assert tuner._history == []  # type: ignore[attr-defined]
    tuner._accept_customized_trials()
    tuner.receive_trial_result(0, params, 1.0, customized=True, trial_job_id="c")
    assert len(tuner._history) == 1  # type: ignore[attr-defined]


@settings(max_examples=25, deadline=None, database=None)
@given(seed=st.integers(0, 1000), name=st.sampled_from(["Anneal", "Evolution", "GridSearch"]))
def test_local_search_tuners_stay_in_the_space(seed: int, name: str) -> None:
    tuner = create_tuner({"name": name, "classArgs": {"seed": seed, "population_size": 3}
                          if name == "Evolution" else {} if name == "GridSearch" else {"seed": seed}})
    tuner.update_search_space(MIXED_SPACE)
    rng = np.random.default_rng(seed)
    for params in _drive(tuner, 12, lambda p: float(rng.random())):
        assert in_space(params, MIXED_SPACE), params


@pytest.mark.parametrize("name", ["TPE", "Random", "CMAES"])
def test_seeded_tuner_given_history_does_not_replay_its_first_draws(name: str) -> None:
    """A resumed experiment replays history with import_data; the seed must not restart the sequence."""
    _skip_missing(name)

    def resumed() -> list[dict[str, Any]]:
        tuner = create_tuner({"name": name, "classArgs": {"seed": 9}})
        tuner.update_search_space(FLAT_SPACE)
        tuner.import_data([{"parameter": p, "value": _objective_flat(p)} for p in first])
        return [tuner.generate_parameters(10 + i) for i in range(3)]

    fresh = create_tuner({"name": name, "classArgs": {"seed": 9}})
    fresh.update_search_space(FLAT_SPACE)
    first = _drive(fresh, 3, _objective_flat)
    again = resumed()
    assert not {canonical_key(p) for p in again} & {canonical_key(p) for p in first}
    assert again == resumed()      # still reproducible


def _objective_flat(params: dict[str, Any]) -> float:
    return -abs(math.log10(params["lr"]) + 3) - params["dropout"]
