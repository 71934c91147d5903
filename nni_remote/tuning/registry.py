"""Built-in algorithm names (NNI-REFERENCE §5.5): name or alias → where the class lives.

Names are matched case-insensitively. ``defaults`` are registry classArgs
merged *under* the user's classArgs.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from ..errors import TunerError

__all__ = ["BUILTIN_ASSESSORS", "BUILTIN_TUNERS", "NOT_PROVIDED", "Builtin", "lookup"]


class Builtin(NamedTuple):
    """Where a built-in algorithm's class lives, and its registry default classArgs."""

    module: str
    class_name: str
    defaults: Mapping[str, Any]


def _tuner(module: str, cls: str, **defaults: Any) -> Builtin:
    return Builtin(f"nni_remote.tuning.tuners.{module}", cls, defaults)


def _assessor(module: str, cls: str, **defaults: Any) -> Builtin:
    return Builtin(f"nni_remote.tuning.assessors.{module}", cls, defaults)


BUILTIN_TUNERS: dict[str, Builtin] = {
    "TPE": _tuner("tpe_tuner", "TpeTuner", optimize_mode="minimize"),
    "Random": _tuner("random_tuner", "RandomTuner"),
    "Anneal": _tuner("anneal_tuner", "AnnealTuner", optimize_mode="minimize"),
    "Evolution": _tuner("evolution_tuner", "EvolutionTuner", optimize_mode="maximize", population_size=32),
    "GridSearch": _tuner("gridsearch_tuner", "GridSearchTuner"),
    "Batch": _tuner("batch_tuner", "BatchTuner"),
    "BatchTuner": _tuner("batch_tuner", "BatchTuner"),
    "Hyperband": _tuner("hyperband_tuner", "HyperbandTuner", optimize_mode="maximize", R=60, eta=3,
                        exec_mode="parallelism"),
    "GP": _tuner("gp_tuner", "GpTuner", optimize_mode="maximize"),
    "GPTuner": _tuner("gp_tuner", "GpTuner", optimize_mode="maximize"),
    "CMAES": _tuner("cmaes_tuner", "CmaEsTuner"),
    "CMA-ES": _tuner("cmaes_tuner", "CmaEsTuner"),
}

BUILTIN_ASSESSORS: dict[str, Builtin] = {
    "Medianstop": _assessor("medianstop_assessor", "MedianstopAssessor", optimize_mode="maximize", start_step=0),
    "Curvefitting": _assessor("curvefitting_assessor", "CurvefittingAssessor", epoch_num=20, start_step=6,
                              threshold=0.95, gap=1),
}

#: NNI built-ins that nni-remote does not provide (named in the error, to be clear).
NOT_PROVIDED = ("TPE_legacy", "SMAC", "Metis", "MetisTuner", "DNGO", "DNGOTuner", "PBT", "PBTTuner",
                "PPO", "PPOTuner", "NetworkMorphism", "RegularizedEvolutionTuner", "BOHB")


def lookup(name: str, table: Mapping[str, Builtin], kind: str) -> tuple[str, Builtin]:
    """The canonical name and entry for ``name`` (any case); ``TunerError`` listing valid names."""
    for canonical, entry in table.items():
        if canonical.lower() == str(name).lower():
            return canonical, entry
    valid = ", ".join(table)
    if any(n.lower() == str(name).lower() for n in NOT_PROVIDED):
        raise TunerError(f"{kind} {name!r} is an NNI built-in that nni-remote does not provide; "
                         f"valid {kind} names: {valid}; or set className to a custom class")
    raise TunerError(f"unknown {kind} {name!r}; valid {kind} names: {valid}")
