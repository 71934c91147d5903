"""NNI's ``Anneal``: hyperopt's simulated-annealing search, written with numpy."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..sampling import Deduplicator, make_rng, sample_internal, sample_spec
from ..search_space import Key, ParamSpec, deformat_parameters, format_parameters
from ._common import BuiltinTuner, check_choice, check_number, check_seed

__all__ = ["AnnealTuner"]


class AnnealTuner(BuiltinTuner):
    """Sample near a good past trial, in a neighbourhood that shrinks with more history.

    As hyperopt's ``anneal``: each new point starts from a past trial picked
    by rank with a geometric law (mean rank ``avg_best_idx``, so usually one
    of the best); every parameter is then drawn around that trial's value from
    a window of width ``1 / (1 + n * shrink_coef)`` of its prior range (n =
    observations of that parameter); a categorical keeps its value with the
    complementary probability. Without history, draws from the prior.
    ``optimize_mode`` defaults to ``'minimize'`` as in NNI; ``parallel_optimize``
    and ``constant_liar_type`` are accepted for compatibility and ignored.
    """

    def __init__(self, optimize_mode: str = "minimize", parallel_optimize: bool = False,
                 constant_liar_type: str = "min", seed: int | None = None,
                 avg_best_idx: float = 2.0, shrink_coef: float = 0.1) -> None:
        super().__init__(optimize_mode)
        check_choice("constant_liar_type", constant_liar_type, ("min", "max", "mean"))
        self.rng = make_rng(check_seed(seed))
        self.avg_best_idx = float(check_number("avg_best_idx", avg_best_idx, 1))
        self.shrink_coef = float(check_number("shrink_coef", shrink_coef, 0))
        self._results: list[tuple[dict[str, Any], float]] = []   # user params, loss
        self._history: list[tuple[dict[Key, Any], float]] = []   # internal params, loss
        self._counts: dict[Key, int] = {}
        self._given: dict[int, dict[Key, Any]] = {}
        self._dedup: Deduplicator | None = None

    def _space_changed(self) -> None:
        self._dedup = Deduplicator(self.specs)
        results, self._results, self._history, self._counts, self._given = self._results, [], [], {}, {}
        for params, loss in results:
            self._import(params, loss)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        assert self._dedup is not None
        if not self._history:
            internal = sample_internal(self.specs, self.rng)
        else:
            order = np.argsort([loss for _, loss in self._history], kind="stable")
            rank = min(int(self.rng.geometric(1.0 / self.avg_best_idx)) - 1, len(order) - 1)
            base = self._history[int(order[rank])][0]
            internal = sample_internal(self.specs, self.rng, lambda spec: self._near(spec, base))
        internal = self._dedup(internal)
        self._given[parameter_id] = internal
        return deformat_parameters(internal, self.specs)

    def _near(self, spec: ParamSpec, base: dict[Key, Any]) -> Any:
        if spec.key not in base:
            return None
        shrink = 1.0 / (1.0 + self._counts.get(spec.key, 0) * self.shrink_coef)
        if spec.discrete:
            return base[spec.key] if self.rng.random() >= shrink else sample_spec(spec, self.rng)
        half = shrink / 2
        mid = min(max(base[spec.key], half), 1.0 - half)
        return float(self.rng.uniform(mid - half, mid + half))

    def _record(self, internal: dict[Key, Any], loss: float) -> None:
        self._history.append((internal, loss))
        for key in internal:
            self._counts[key] = self._counts.get(key, 0) + 1

    def _observe(self, parameter_id: int, parameters: dict[str, Any], loss: float) -> None:
        internal = self._given.pop(parameter_id, None)
        if internal is None:
            self._import(parameters, loss)
            return
        self._results.append((parameters, loss))
        self._record(internal, loss)

    def _import(self, parameters: dict[str, Any], loss: float) -> bool:
        try:
            internal = format_parameters(parameters, self.specs)
        except ValueError:
            return False
        self._results.append((parameters, loss))
        self._record(internal, loss)
        if self._dedup is not None:
            self._dedup.add(parameters)
        return True

    def _end(self, parameter_id: int, success: bool) -> None:
        self._given.pop(parameter_id, None)
