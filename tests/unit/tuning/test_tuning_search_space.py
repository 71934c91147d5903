"""Search-space validation (§5.4), sampling rules, and properties checked with hypothesis."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nni_remote.errors import ConfigError, SearchSpaceError
from nni_remote.tuning import sample_search_space, validate_search_space
from nni_remote.tuning.search_space import canonical_key, format_parameters, format_search_space

from .tuning_spaces import MIXED_SPACE, in_space


def _c(*values: Any) -> dict[str, Any]:
    return {"_type": "choice", "_value": list(values)}


BAD_SPACES = [
    ([1, 2], "", "must be a JSON object"),
    ({"x": 3}, "x", "must be an object with '_type' and '_value'"),
    ({"x": {"_type": "uniform"}}, "x", "must have both '_type' and '_value'"),
    ({"x": {"_value": [0, 1]}}, "x", "must have both '_type' and '_value'"),
    ({"x": {"_type": "gauss", "_value": [0, 1]}}, "x", "_type 'gauss' is not supported"),
    ({"x": {"_type": "uniform", "_value": (0, 1)}}, "x", "_value must be a list"),
    ({"x": _c()}, "x", "at least one option"),
    ({"x": {"_type": "uniform", "_value": [0, 1, 2]}}, "x", "uniform needs exactly 2 values"),
    ({"x": {"_type": "quniform", "_value": [0, 1]}}, "x", "quniform needs exactly 3 values"),
    ({"x": {"_type": "uniform", "_value": [1, 1]}}, "x", "low < high"),
    ({"x": {"_type": "randint", "_value": [5, 2]}}, "x", "low < high"),
    ({"x": {"_type": "randint", "_value": [0, 2.5]}}, "x", "randint needs integer bounds"),
    ({"x": {"_type": "loguniform", "_value": [0, 1]}}, "x", "low > 0"),
    ({"x": {"_type": "qloguniform", "_value": [-1, 10, 1]}}, "x", "low > 0"),
    ({"x": {"_type": "normal", "_value": [0, 0]}}, "x", "sigma > 0"),
    ({"x": {"_type": "qlognormal", "_value": [0, -1, 1]}}, "x", "sigma > 0"),
    ({"x": {"_type": "quniform", "_value": [0, 10, 0]}}, "x", "q > 0"),
    ({"x": {"_type": "uniform", "_value": ["a", 1]}}, "x", "needs numeric values"),
    ({"x": {"_type": "uniform", "_value": [True, 2]}}, "x", "needs numeric values"),
    ({"x": {"_type": "normal", "_value": [float("nan"), 1]}}, "x", "must be finite"),
    ({"x": _c({"_name": "a"}, 3)}, "x", "every option must be an object with '_name'"),
    ({"x": _c({"a": 1}, {"b": 2})}, "x", "every option must be an object with '_name'"),
    ({"layer0": _c({"_name": "Empty"}, {"_name": "Conv", "kernel_size": {"_type": "choice", "_value": []}})},
     "layer0[1].kernel_size", "at least one option"),
    ({"a": _c({"_name": "p", "b": _c({"_name": "q", "c": {"_type": "uniform", "_value": [2, 1]}})})},
     "a[0].b[0].c", "low < high"),
    ({"a": _c({"_name": ["list"]})}, "a[0]._name", "must be a string or number"),
]


@pytest.mark.parametrize("space, path, message", BAD_SPACES)
def test_bad_space_names_path_and_rule(space: Any, path: str, message: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        validate_search_space(space)
    assert isinstance(info.value, ConfigError)
    assert any(p == path and message in m for p, m in info.value.problems), info.value.problems


def test_every_problem_is_reported() -> None:
    with pytest.raises(SearchSpaceError) as info:
        validate_search_space({"a": {"_type": "uniform", "_value": [1, 0]}, "b": _c(), "c": {"_type": "x"}})
    assert [p for p, _ in info.value.problems] == ["a", "b", "c"]


def test_support_types_and_nested_restrictions() -> None:
    with pytest.raises(SearchSpaceError, match="not supported here"):
        validate_search_space({"x": {"_type": "normal", "_value": [0, 1]}}, support_types=["choice", "uniform"])
    with pytest.raises(SearchSpaceError, match="nested choice is not supported"):
        validate_search_space(MIXED_SPACE, allow_nested=False)


@pytest.mark.parametrize("space", [
    MIXED_SPACE,
    {},
    {"combine_params": _c({"x": 1, "y": 2}, {"x": 3})},
    {"x": _c(1, 2.5, "a", True, None, [1, 2])},
    {"x": {"_type": "qnormal", "_value": [-3, 0.5, 0.1]}, "extra": {"_type": "uniform", "_value": [0, 1], "n": 1}},
])
def test_good_spaces_pass(space: dict[str, Any]) -> None:
    validate_search_space(space)


def _values(space: dict[str, Any], n: int = 400, seed: int = 0) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [sample_search_space(space, rng)["x"] for _ in range(n)]


def test_q_examples_from_the_reference() -> None:
    assert set(_values({"x": {"_type": "quniform", "_value": [0, 10, 2.5]}})) == {0.0, 2.5, 5.0, 7.5, 10.0}
    assert set(_values({"x": {"_type": "quniform", "_value": [2, 10, 5]}})) == {2.0, 5.0, 10.0}
    values = _values({"x": {"_type": "quniform", "_value": [1, 5, 1]}})
    assert all(type(v) is float for v in values)


def test_randint_is_upper_exclusive_and_int() -> None:
    values = _values({"x": {"_type": "randint", "_value": [3, 6]}})
    assert set(values) == {3, 4, 5} and all(type(v) is int for v in values)


def test_log_and_normal_scales() -> None:
    log = np.log(_values({"x": {"_type": "loguniform", "_value": [1e-4, 1]}}, 2000))
    assert abs(np.median(log) - math.log(1e-2)) < 0.5  # uniform in log space
    normal = np.asarray(_values({"x": {"_type": "normal", "_value": [3, 2]}}, 2000))
    assert abs(normal.mean() - 3) < 0.2 and abs(normal.std() - 2) < 0.2
    lognormal = np.asarray(_values({"x": {"_type": "lognormal", "_value": [1, 0.5]}}, 2000))
    assert abs(np.log(lognormal).mean() - 1) < 0.1


def test_nested_choice_only_has_the_chosen_options_parameters() -> None:
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(300):
        value = sample_search_space(MIXED_SPACE, rng)["layer0"]
        seen.add(value["_name"])
        expected = {"Empty": {"_name"}, "Conv": {"_name", "kernel_size", "act"}, "Pool": {"_name", "size"}}
        assert set(value) == expected[value["_name"]]
    assert seen == {"Empty", "Conv", "Pool"}


def test_sampling_is_seeded_and_plain_python() -> None:
    a, b = sample_search_space(MIXED_SPACE, 7), sample_search_space(MIXED_SPACE, 7)
    assert a == b
    assert canonical_key(a) == canonical_key(b)
    for value in a.values():
        assert not isinstance(value, np.generic)


def test_format_parameters_round_trips() -> None:
    specs = format_search_space(MIXED_SPACE)
    params = sample_search_space(MIXED_SPACE, 3)
    internal = format_parameters(params, specs)
    assert set(internal) <= set(specs)
    with pytest.raises(ValueError):
        format_parameters({**params, "batch": 99}, specs)


# --- properties ---

finite = st.floats(-1e3, 1e3, allow_nan=False)
positive = st.floats(1e-3, 1e3)
q_value = st.sampled_from([0.1, 0.25, 0.5, 1, 2, 3, 5])


@st.composite
def numeric_spec(draw: st.DrawFn) -> dict[str, Any]:
    type_ = draw(st.sampled_from(["randint", "uniform", "quniform", "loguniform", "qloguniform",
                                  "normal", "qnormal", "lognormal", "qlognormal"]))
    if type_ == "randint":
        low = draw(st.integers(-50, 50))
        return {"_type": type_, "_value": [low, low + draw(st.integers(1, 20))]}
    if "normal" in type_:
        args = [draw(st.floats(-5, 5)), draw(st.floats(0.01, 3))]
    else:
        low = draw(positive if "log" in type_ else finite)
        args = [low, low + draw(st.floats(0.01, 100))]
    if type_.startswith("q"):
        args.append(draw(q_value))
    return {"_type": type_, "_value": args}


scalar_choice = st.lists(st.one_of(st.integers(), st.text(max_size=3), finite), min_size=1, max_size=5).map(
    lambda options: {"_type": "choice", "_value": options})


def spaces(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.one_of(numeric_spec(), scalar_choice)
    names = st.text("abcdefgh", min_size=1, max_size=3)
    if depth == 0:
        return st.dictionaries(names, leaf, min_size=1, max_size=4)
    nested = st.lists(spaces(depth - 1), min_size=1, max_size=3).map(
        lambda subs: {"_type": "choice", "_value": [{"_name": f"o{i}", **s} for i, s in enumerate(subs)]})
    return st.dictionaries(names, st.one_of(leaf, leaf, nested), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, database=None)
@given(space=spaces(), seed=st.integers(0, 2**32 - 1))
def test_every_sample_lies_in_its_space(space: dict[str, Any], seed: int) -> None:
    validate_search_space(space)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        params = sample_search_space(space, rng)
        assert in_space(params, space), params


@settings(max_examples=100, deadline=None, database=None)
@given(low=st.floats(-100, 100), width=st.floats(0.01, 100), q=q_value, seed=st.integers(0, 2**16))
def test_q_values_land_on_the_grid_or_the_clipped_ends(low: float, width: float, q: float, seed: int) -> None:
    space = {"x": {"_type": "quniform", "_value": [low, low + width, q]}}
    for value in _values(space, 20, seed):
        assert low <= value <= low + width
        assert value in (low, low + width) or math.isclose(round(value / q) * q, value, abs_tol=1e-9)
