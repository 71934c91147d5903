"""Hyper-parameter importance and slice data of finished trials, computed with Optuna's PED-ANOVA.

PED-ANOVA (``optuna.importance.PedAnovaImportanceEvaluator``) needs only NumPy
and SciPy, which Optuna already brings; fANOVA would need scikit-learn. The
trials become an in-memory Optuna study: each parameter gets a distribution
from the search space's ``_type`` (log scale for ``loguniform``) and the values
observed; values Optuna cannot hold (lists, dicts, mixed types) become their
JSON text, a categorical choice.
"""
from __future__ import annotations

import json
import math
import warnings
from typing import Any, Optional

MIN_TRIALS = 10
TOP_GROUP = 5
SLICE_POINTS = 500
RANK_TRIALS = 1000     # PED-ANOVA ranks on at most this many trials, evenly spaced (10,000 take seconds)
LOG_TYPES = ("loguniform", "qloguniform")


def _categorical(value: Any) -> Any:
    """A value Optuna accepts as a categorical choice (None, bool, int, float, str)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    return json.dumps(value, sort_keys=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _type(space: dict[str, Any], name: str) -> Any:
    """The search space's ``_type`` of a parameter (None when the space does not say)."""
    spec = space.get(name)
    return spec.get("_type") if isinstance(spec, dict) else None


def _distribution(name: str, values: list[Any], space: dict[str, Any]) -> Optional[tuple[Any, bool]]:
    """(Optuna distribution, numeric?) for one parameter; None when it never varies."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    kind = _type(space, name)
    if all(_is_number(v) for v in values) and kind != "choice":
        low, high = float(min(values)), float(max(values))
        if low == high:
            return None
        log = kind in LOG_TYPES and low > 0
        return FloatDistribution(low, high, log=log), True
    choices = sorted({_categorical(v) for v in values}, key=lambda c: (type(c).__name__, str(c)))
    if len(choices) < 2:
        return None
    return CategoricalDistribution(choices), False


def compute(rows: list[tuple[dict[str, Any], float]], space: dict[str, Any], maximize: bool) -> dict[str, Any]:
    """Importance and slices of ``rows`` ((parameters, metric) of finished trials).

    Answers ``{"status": "ok", "importances": [{"name", "importance"}] (most important first),
    "slices": {name: {"numeric", "x", "y"}}, "trials": n}``, or ``status: "too-few"`` with a message.
    """
    rows = [(p, v) for p, v in rows if isinstance(p, dict) and math.isfinite(v)]
    names = sorted({k for p, _ in rows for k in p})
    if len(rows) < MIN_TRIALS:
        numbers = {n: all(_is_number(p[n]) for p, _ in rows if n in p) and _type(space, n) != "choice"
                   for n in names}
        return {"status": "too-few", "trials": len(rows), "minimum": MIN_TRIALS,
                "message": f"Importance needs at least {MIN_TRIALS} finished trials with this metric; "
                           f"there {'is' if len(rows) == 1 else 'are'} {len(rows)} so far.",
                "importances": [], "slices": _slices(rows, names, numbers)}
    dists: dict[str, Any] = {}
    numeric: dict[str, bool] = {}
    for name in names:
        found = _distribution(name, [p[name] for p, _ in rows if name in p], space)
        if found is not None:
            dists[name], numeric[name] = found
    slices = _slices(rows, names, numeric)
    if not dists:
        return {"status": "constant", "trials": len(rows), "importances": [], "slices": slices,
                "message": "No parameter varies across the finished trials: nothing to rank."}
    ranked = evenly(rows, RANK_TRIALS)
    importances = _ped_anova(ranked, dists, numeric, maximize)
    return {"status": "ok", "trials": len(rows), "ranked": len(ranked), "importances": importances,
            "slices": slices, "method": "PED-ANOVA (Optuna)"}


def evenly(rows: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` of ``rows``, evenly spaced (all of them when there are few enough)."""
    step = max(1, math.ceil(len(rows) / limit))
    return rows[::step]


def _ped_anova(rows: list[tuple[dict[str, Any], float]], dists: dict[str, Any], numeric: dict[str, bool],
               maximize: bool) -> list[dict[str, Any]]:
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
    optuna.logging.set_verbosity(optuna.logging.WARNING)   # as the tuners do: no "study created" lines
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    frozen = []
    for params, value in rows:
        values = {n: (float(params[n]) if numeric[n] else _categorical(params[n])) for n in dists if n in params}
        frozen.append(optuna.trial.create_trial(params=values, distributions={n: dists[n] for n in values},
                                                value=value))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.add_trials(frozen)
        # the best 10 % of the trials, but at least 5 of them (fewer make the ranking noise)
        quantile = max(0.1, min(0.5, TOP_GROUP / len(rows)))
        scores = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator(target_quantile=quantile),
                                       params=list(dists))
    ranked = sorted(((n, float(s)) for n, s in scores.items()), key=lambda p: -p[1])
    ranked += [(n, 0.0) for n in dists if n not in scores]
    return [{"name": n, "importance": s} for n, s in ranked]


def _slices(rows: list[tuple[dict[str, Any], float]], names: list[str], numeric: dict[str, bool]
            ) -> dict[str, dict[str, Any]]:
    """Per parameter: its values and the metric (at most SLICE_POINTS evenly chosen trials)."""
    sample = evenly(rows, SLICE_POINTS)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        is_num = numeric.get(name, False)
        xs, ys = [], []
        for params, value in sample:
            if name in params:
                xs.append(float(params[name]) if is_num else str(_categorical(params[name])))
                ys.append(value)
        out[name] = {"numeric": is_num, "x": xs, "y": ys}
    return out
