"""Importance and slices (server/importance.py) on synthetic trials."""
from __future__ import annotations

import random

from nni_remote.server import importance

SPACE = {"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}, "width": {"_type": "uniform", "_value": [0, 1]},
         "act": {"_type": "choice", "_value": ["relu", "tanh", {"name": "gelu"}]}}


def trials(n: int, seed: int = 3) -> list:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = {"lr": 10 ** rng.uniform(-4, -1), "width": rng.random(), "act": rng.choice(SPACE["act"]["_value"])}
        out.append((p, -abs(p["lr"] - 0.01)))              # only lr matters
    return out


def test_the_parameter_that_matters_ranks_first_and_slices_cover_every_parameter():
    result = importance.compute(trials(30), SPACE, maximize=True)
    assert result["status"] == "ok" and result["trials"] == 30
    assert [p["name"] for p in result["importances"]][0] == "lr"
    assert abs(sum(p["importance"] for p in result["importances"]) - 1) < 1e-6
    assert set(result["slices"]) == {"lr", "width", "act"}
    assert result["slices"]["lr"]["numeric"] and len(result["slices"]["lr"]["x"]) == 30
    assert not result["slices"]["act"]["numeric"]
    assert set(result["slices"]["act"]["x"]) == {"relu", "tanh", '{"name": "gelu"}'}   # a dict choice as its JSON


def test_minimize_flips_what_is_best():
    rows = [(p, -v) for p, v in trials(30)]
    assert importance.compute(rows, SPACE, maximize=False)["importances"][0]["name"] == "lr"


def test_too_few_trials_say_how_many_are_needed():
    result = importance.compute(trials(importance.MIN_TRIALS - 1), SPACE, maximize=True)
    assert result["status"] == "too-few" and result["importances"] == []
    assert f"at least {importance.MIN_TRIALS}" in result["message"] and "there are 9" in result["message"]
    assert result["slices"]["lr"]["numeric"] and len(result["slices"]["lr"]["x"]) == 9     # slices already
    assert not result["slices"]["act"]["numeric"]


def test_constant_parameters_and_non_finite_metrics():
    rows = [({"x": 1, "y": "same"}, float(i)) for i in range(12)] + [({"x": 2, "y": "same"}, float("nan"))]
    result = importance.compute(rows, {}, maximize=True)
    assert result["status"] == "constant" and result["trials"] == 12 and "varies" in result["message"]


def test_slices_are_thinned_for_big_experiments():
    rows = [({"x": i / 5000, "y": i % 3}, i / 5000) for i in range(5000)]
    result = importance.compute(rows, {}, maximize=True)
    assert len(result["slices"]["x"]["x"]) <= importance.SLICE_POINTS
    assert result["importances"][0]["name"] == "x"
