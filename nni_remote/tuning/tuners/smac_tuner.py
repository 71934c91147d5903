"""NNI's ``SMAC`` on the SMAC3 package (``pip install 'nni-remote[smac]'``), imported only when used.

SMAC3 (random-forest Bayesian optimization) is a heavy package with compiled
parts, so it is not installed by default; the registry names it and the
manager refuses ``SMAC`` with that command when it is missing. Types as
NNI's SMAC: choice, randint, uniform, quniform, loguniform. Drives SMAC3
(>= 2.0) through ask/tell; ``config_dedup`` skips configurations tried before.
"""
from __future__ import annotations

import tempfile
from typing import Any

from ..search_space import ParamSpec
from ._common import BuiltinTuner, check_seed

__all__ = ["SmacTuner"]


class SmacTuner(BuiltinTuner):
    """SMAC with NNI's classArgs ``optimize_mode`` and ``config_dedup``."""

    support_types = ("choice", "randint", "uniform", "quniform", "loguniform")
    allow_nested = False

    def __init__(self, optimize_mode: str = "maximize", config_dedup: bool = False, seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        import ConfigSpace  # noqa: F401  (fail here, with the registry's install hint, if missing)
        import smac  # noqa: F401
        self.config_dedup = bool(config_dedup)
        self.seed = check_seed(seed) or 0
        self._pending: dict[int, Any] = {}
        self._seen: set[str] = set()
        self._facade: Any = None

    def _hyperparameter(self, spec: ParamSpec) -> Any:
        import ConfigSpace as cs
        name = spec.path
        if spec.type == "choice":
            return cs.Categorical(name, list(range(spec.size)))
        if spec.type == "randint":
            return cs.Integer(name, (int(spec.low), int(spec.high) - 1))
        return cs.Float(name, (0.0, 1.0))

    def _space_changed(self) -> None:
        import ConfigSpace as cs
        from smac import HyperparameterOptimizationFacade, Scenario
        space = cs.ConfigurationSpace(seed=self.seed)
        space.add([self._hyperparameter(spec) for spec in self.specs.values()])
        scenario = Scenario(space, deterministic=True, n_trials=10 ** 9, seed=self.seed,
                            output_directory=tempfile.mkdtemp(prefix="nni-remote-smac-"))
        self._facade = HyperparameterOptimizationFacade(scenario, lambda config, seed=0: 0.0, overwrite=True,
                                                        logging_level=40)
        self._pending.clear()

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        from ..search_space import canonical_key, deformat_parameters
        self._require_space()
        for _ in range(100):
            info = self._facade.ask()
            internal = {spec.key: info.config[spec.path] for spec in self.specs.values()}
            params = deformat_parameters(internal, self.specs)
            key = canonical_key(params)
            if not self.config_dedup or key not in self._seen:
                break
        self._seen.add(key)
        self._pending[parameter_id] = info
        return params

    def _observe(self, parameter_id: int, parameters: dict[str, Any], loss: float) -> None:
        from smac.runhistory.dataclasses import TrialValue
        info = self._pending.pop(parameter_id, None)
        if info is not None:
            self._facade.tell(info, TrialValue(cost=loss))
