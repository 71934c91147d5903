"""Built-in algorithm names (NNI-REFERENCE §5.5): name or alias → where the class lives.

Every HPO built-in name of NNI 3.0 is here. Names are matched
case-insensitively; ``defaults`` are registry classArgs merged *under* the
user's classArgs. An entry that needs a package nni-remote does not install
by default names it in ``requires`` and the command that installs it in
``install``; the package is imported only when the algorithm is created.
Names that are not built in are looked up among the algorithms registered
with ``nnictl algo register`` / ``nni-remote algo register`` (:mod:`.registered`).
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, cast

from ..errors import TunerError

__all__ = ["ALIASES", "BUILTIN_ASSESSORS", "BUILTIN_TUNERS", "Builtin", "kind_of", "lookup", "missing_requirements",
           "primary_names"]

_NNI = "pip install nni==3.0"


class Builtin(NamedTuple):
    """Where a built-in algorithm's class lives, its default classArgs, and what it needs."""

    module: str
    class_name: str
    defaults: Mapping[str, Any]
    advisor: bool = False
    requires: tuple[str, ...] = ()
    install: str = ""
    nni_class: str = ""
    validator: str = ""        # registered algorithms: NNI's classArgsValidator ("module.Class")


def _tuner(module: str, cls: str, nni: str, **defaults: Any) -> Builtin:
    return Builtin(f"nni_remote.tuning.tuners.{module}", cls, defaults, nni_class=f"nni.algorithms.hpo.{nni}")


def _advisor(module: str, cls: str, nni: str, **defaults: Any) -> Builtin:
    return _tuner(module, cls, nni, **defaults)._replace(advisor=True)


def _needs(entry: Builtin, install: str, *modules: str) -> Builtin:
    return entry._replace(requires=modules, install=install)


def _nni_only(nni: str, *extra: str, **defaults: Any) -> Builtin:
    """A built-in that only NNI's own implementation provides (NAS-style spaces, or PyTorch models)."""
    module, _, cls = f"nni.algorithms.hpo.{nni}".rpartition(".")
    install = " ".join([_NNI, *extra])
    return Builtin(module, cls, defaults, requires=("nni", *extra), install=install, nni_class=f"{module}.{cls}")


def _assessor(module: str, cls: str, nni: str, **defaults: Any) -> Builtin:
    return Builtin(f"nni_remote.tuning.assessors.{module}", cls, defaults, nni_class=f"nni.algorithms.hpo.{nni}")


_GP = _needs(_tuner("gp_tuner", "GpTuner", "gp_tuner.GPTuner", optimize_mode="maximize"),
             "pip install 'nni-remote[gp]'", "torch", "scipy")
_SMAC = _needs(_tuner("smac_tuner", "SmacTuner", "smac_tuner.SMACTuner", optimize_mode="maximize"),
               "pip install 'nni-remote[smac]'", "smac")
_PPO = _nni_only("ppo_tuner.PPOTuner", "torch")

BUILTIN_TUNERS: dict[str, Builtin] = {
    "TPE": _tuner("tpe_tuner", "TpeTuner", "tpe_tuner.TpeTuner", optimize_mode="minimize"),
    "TPE_legacy": _tuner("tpe_tuner", "LegacyTpeTuner", "hyperopt_tuner.HyperoptTuner", optimize_mode="minimize"),
    "Random": _tuner("random_tuner", "RandomTuner", "random_tuner.RandomTuner"),
    "Anneal": _tuner("anneal_tuner", "AnnealTuner", "hyperopt_tuner.HyperoptTuner", optimize_mode="minimize"),
    "Evolution": _tuner("evolution_tuner", "EvolutionTuner", "evolution_tuner.EvolutionTuner",
                        optimize_mode="maximize", population_size=32),
    "GridSearch": _tuner("gridsearch_tuner", "GridSearchTuner", "gridsearch_tuner.GridSearchTuner"),
    "Batch": _tuner("batch_tuner", "BatchTuner", "batch_tuner.BatchTuner"),
    "BatchTuner": _tuner("batch_tuner", "BatchTuner", "batch_tuner.BatchTuner"),
    "Hyperband": _advisor("hyperband_tuner", "HyperbandTuner", "hyperband_advisor.Hyperband",
                          optimize_mode="maximize", R=60, eta=3, exec_mode="parallelism"),
    "BOHB": _advisor("bohb_tuner", "BohbTuner", "bohb_advisor.BOHB", optimize_mode="maximize"),
    "Metis": _tuner("metis_tuner", "MetisTuner", "metis_tuner.MetisTuner", optimize_mode="maximize"),
    "MetisTuner": _tuner("metis_tuner", "MetisTuner", "metis_tuner.MetisTuner", optimize_mode="maximize"),
    "PBT": _tuner("pbt_tuner", "PbtTuner", "pbt_tuner.PBTTuner", optimize_mode="maximize"),
    "PBTTuner": _tuner("pbt_tuner", "PbtTuner", "pbt_tuner.PBTTuner", optimize_mode="maximize"),
    "DNGO": _tuner("dngo_tuner", "DngoTuner", "dngo_tuner.DNGOTuner", optimize_mode="maximize"),
    "DNGOTuner": _tuner("dngo_tuner", "DngoTuner", "dngo_tuner.DNGOTuner", optimize_mode="maximize"),
    "GP": _GP,
    "GPTuner": _GP,
    "SMAC": _SMAC,
    "CMAES": _tuner("cmaes_tuner", "CmaEsTuner", ""),
    "CMA-ES": _tuner("cmaes_tuner", "CmaEsTuner", ""),
    "PPO": _PPO,
    "PPOTuner": _PPO,
    "NetworkMorphism": _nni_only("networkmorphism_tuner.NetworkMorphismTuner", "torch"),
    "RegularizedEvolutionTuner": _nni_only("regularized_evolution_tuner.RegularizedEvolutionTuner"),
}

BUILTIN_ASSESSORS: dict[str, Builtin] = {
    "Medianstop": _assessor("medianstop_assessor", "MedianstopAssessor", "medianstop_assessor.MedianstopAssessor",
                            optimize_mode="maximize", start_step=0),
    "Curvefitting": _assessor("curvefitting_assessor", "CurvefittingAssessor",
                              "curvefitting_assessor.CurvefittingAssessor", epoch_num=20, start_step=6,
                              threshold=0.95, gap=1),
}

#: Second names of built-ins (NNI's ``alias``, plus nni-remote's ``CMA-ES``) → the first name.
ALIASES = {"BatchTuner": "Batch", "GPTuner": "GP", "MetisTuner": "Metis", "PBTTuner": "PBT", "DNGOTuner": "DNGO",
           "PPOTuner": "PPO", "CMA-ES": "CMAES"}


def missing_requirements(entry: Builtin) -> list[str]:
    """The packages of ``entry.requires`` the manager's Python cannot import (the trial agent's ``nni``
    module, once loaded for a user's class, is not NNI's)."""
    import importlib.util
    import sys
    missing = []
    for module in entry.requires:
        if module == "nni" and getattr(sys.modules.get("nni"), "__version__", None) == "nni-remote-shim":
            missing.append(module)
        elif importlib.util.find_spec(module) is None:
            missing.append(module)
    return missing


def primary_names(table: Mapping[str, Builtin], *, runnable_here: bool = False) -> list[str]:
    """The names of ``table`` without aliases; ``runnable_here`` keeps those whose packages are importable."""
    names = [name for name in table if name not in ALIASES]
    if runnable_here:
        names = [n for n in names if not missing_requirements(table[n])]
    return names


def kind_of(entry: Builtin, kind: str) -> str:
    """``'advisor'`` for advisors (Hyperband, BOHB), else ``kind``: the word error messages use."""
    return "advisor" if entry.advisor else kind


def lookup(name: str, table: Mapping[str, Builtin], kind: str) -> tuple[str, Builtin]:
    """The canonical name and entry for ``name`` (any case); ``TunerError`` listing valid names."""
    for canonical, entry in table.items():
        if canonical.lower() == str(name).lower():
            return canonical, entry
    from .registered import find_registered, registered_names
    found = find_registered(str(name), kind)
    if found is not None:
        return cast("tuple[str, Builtin]", found)
    valid = ", ".join([*table, *registered_names(kind)])
    raise TunerError(f"unknown {kind} {name!r}; valid {kind} names: {valid}; "
                     "or set className to a custom class, or register one with nni-remote algo register")
