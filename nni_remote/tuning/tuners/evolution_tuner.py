"""NNI's ``Evolution``: naive evolution by tournament of two and single-parameter mutation."""
from __future__ import annotations

from typing import Any

from ..base import NotReady
from ..sampling import Deduplicator, make_rng, sample_internal
from ..search_space import Key, ParamSpec, deformat_parameters
from ._common import BuiltinTuner, check_number, check_seed

__all__ = ["EvolutionTuner"]


class EvolutionTuner(BuiltinTuner):
    """Evolve a population (NNI's algorithm, after Real et al. 2017).

    The first ``population_size`` trials are random. Then each new trial picks
    two evaluated individuals at random, drops the worse from the population,
    and mutates a copy of the better: one random active parameter is redrawn
    from its prior (a redrawn nested choice redraws its sub-parameters). A
    trial that ends without a usable result is replaced by a new random
    individual. While every individual is still running there is nothing to
    evolve from: :class:`NotReady`. Imported data is ignored, as in NNI.
    """

    def __init__(self, optimize_mode: str = "maximize", population_size: int = 32,
                 seed: int | None = None) -> None:
        super().__init__(optimize_mode)
        self.population_size = check_number("population_size", population_size, 1, integer=True)
        self.rng = make_rng(check_seed(seed))
        self.population: list[tuple[dict[Key, Any], float]] = []   # evaluated: internal, loss
        self._random_left = self.population_size
        self._running: dict[int, dict[Key, Any]] = {}
        self._dedup: Deduplicator | None = None

    def _space_changed(self) -> None:
        self._dedup = Deduplicator(self.specs)
        self.population, self._running = [], {}
        self._random_left = self.population_size

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        assert self._dedup is not None
        if self._random_left > 0:
            self._random_left -= 1
            internal = sample_internal(self.specs, self.rng)
        elif self.population:
            internal = self._mutate(self._tournament())
        else:
            raise NotReady("evolution: every individual is still running")
        internal = self._dedup(internal)
        self._running[parameter_id] = internal
        return deformat_parameters(internal, self.specs)

    def _tournament(self) -> dict[Key, Any]:
        if len(self.population) == 1:
            return self.population[0][0]
        i, j = (int(x) for x in self.rng.choice(len(self.population), 2, replace=False))
        winner, loser = (i, j) if self.population[i][1] <= self.population[j][1] else (j, i)
        parent = self.population[winner][0]
        del self.population[loser]
        return parent

    def _mutate(self, parent: dict[Key, Any]) -> dict[Key, Any]:
        target = list(parent)[int(self.rng.integers(len(parent)))] if parent else ()

        def keep(spec: ParamSpec) -> Any:
            redraw = spec.key[:len(target)] == target or spec.key not in parent
            return None if redraw else parent[spec.key]
        return sample_internal(self.specs, self.rng, keep)

    def _observe(self, parameter_id: int, parameters: dict[str, Any], loss: float) -> None:
        internal = self._running.pop(parameter_id, None)
        if internal is not None:
            self.population.append((internal, loss))

    def _end(self, parameter_id: int, success: bool) -> None:
        if self._running.pop(parameter_id, None) is not None:  # ended without a usable result
            self._random_left += 1
