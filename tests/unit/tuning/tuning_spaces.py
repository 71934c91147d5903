"""Shared search spaces and an independent in-space checker for the tuning tests."""
from __future__ import annotations

import math
from typing import Any

MIXED_SPACE: dict[str, Any] = {
    "lr": {"_type": "loguniform", "_value": [1e-5, 1e-1]},
    "batch": {"_type": "choice", "_value": [16, 32, "auto"]},
    "layers": {"_type": "randint", "_value": [1, 5]},
    "dropout": {"_type": "uniform", "_value": [0.0, 0.5]},
    "width": {"_type": "quniform", "_value": [8, 64, 8]},
    "decay": {"_type": "qloguniform", "_value": [1, 100, 5]},
    "shift": {"_type": "normal", "_value": [0, 2]},
    "step": {"_type": "qnormal", "_value": [10, 3, 2]},
    "scale": {"_type": "lognormal", "_value": [0, 1]},
    "count": {"_type": "qlognormal", "_value": [2, 0.5, 1]},
    "layer0": {"_type": "choice", "_value": [
        {"_name": "Empty"},
        {"_name": "Conv", "kernel_size": {"_type": "choice", "_value": [1, 2, 3, 5]},
         "act": {"_type": "choice", "_value": [{"_name": "relu"},
                                               {"_name": "leaky", "slope": {"_type": "uniform", "_value": [0, 1]}}]}},
        {"_name": "Pool", "size": {"_type": "randint", "_value": [2, 4]}},
    ]},
}

FLAT_SPACE = {k: v for k, v in MIXED_SPACE.items() if k != "layer0"}


def _on_grid(value: float, q: float) -> bool:
    return math.isclose(round(value / q) * q, value, rel_tol=1e-9, abs_tol=1e-9)


def in_space(params: dict[str, Any], space: dict[str, Any]) -> bool:
    """An independent check that ``params`` is a value of ``space`` (keys exactly, bounds, q grid)."""
    if set(params) != set(space) - {"_name"}:
        return False
    for name, spec in space.items():
        if name == "_name":
            continue
        type_, args, value = spec["_type"], spec["_value"], params[name]
        if type_ == "choice":
            if all(isinstance(o, dict) and "_name" in o for o in args):
                options = [o for o in args if isinstance(value, dict) and o["_name"] == value.get("_name")]
                if not options or value["_name"] != options[0]["_name"]:
                    return False
                if not in_space({k: v for k, v in value.items() if k != "_name"}, options[0]):
                    return False
            elif value not in args:
                return False
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if type_ == "randint":
            ok = isinstance(value, int) and args[0] <= value < args[1]
        elif type_ in ("uniform", "loguniform"):
            ok = isinstance(value, float) and args[0] <= value <= args[1]
        elif type_ in ("quniform", "qloguniform"):
            ok = isinstance(value, float) and args[0] <= value <= args[1] and (
                _on_grid(value, args[2]) or value in (args[0], args[1]))
        elif type_ in ("qnormal", "qlognormal"):
            ok = isinstance(value, float) and _on_grid(value, args[2]) and (type_ == "qnormal" or value >= 0)
        elif type_ == "lognormal":
            ok = isinstance(value, float) and value > 0
        else:
            ok = isinstance(value, float)
        if not ok:
            return False
    return True
