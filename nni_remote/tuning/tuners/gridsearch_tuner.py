"""NNI's ``GridSearch``: every grid point once, continuous types subdivided.

The grid (as NNI's ``GridSearchTuner``): ``choice`` and ``randint`` enumerate
their values; each continuous parameter starts at the middle of its prior
(``u = 0.5``) and every *epoch* halves each interval of the unit range,
keeping only intervals whose ends still differ after q rounding. Epoch k
visits the points not visited before. A space of only choice, randint and q
types is finite and ends in :class:`NoMoreTrialError`; a plain continuous one
never ends. Nested choices enumerate only the chosen option's sub-parameters.
"""
from __future__ import annotations

from typing import Any, Iterator

from ..base import NoMoreTrialError
from ..search_space import Key, ParamSpec, canonical_key, deformat_parameters
from ._common import BuiltinTuner

__all__ = ["GridSearchTuner", "iterate_grid"]


def _less(a: float, b: float, spec: ParamSpec) -> bool:
    return bool(spec.value(a) < spec.value(b))


def iterate_grid(specs: dict[Key, ParamSpec]) -> Iterator[dict[Key, Any]]:
    """Internal parameter sets of the grid, epoch by epoch (values may repeat)."""
    dims = list(specs.values())
    grid: list[list[Any]] = []
    divisions: dict[int, list[tuple[float, float]]] = {}
    for i, spec in enumerate(dims):
        if spec.discrete:
            start = int(spec.low) if spec.type == "randint" else 0
            grid.append(list(range(start, start + spec.size)))
        else:
            grid.append([0.5])
            divisions[i] = [(a, b) for a, b in ((0.0, 0.5), (0.5, 1.0)) if _less(a, b, spec)]
    bar = [0] * len(dims)
    while True:
        for vector, params in _vectors(dims, grid):
            if not all(vector[i] < bar[i] for i in range(len(dims))):
                yield params
        bar = [len(values) for values in grid]
        updated = False
        for i, intervals in divisions.items():
            new_divisions = []
            for low, high in intervals:
                mid = (low + high) / 2
                left, right = _less(low, mid, dims[i]), _less(mid, high, dims[i])
                if (left or low == 0.0) and (right or high == 1.0):
                    grid[i].append(mid)
                    updated = True
                new_divisions += [d for d, ok in (((low, mid), left), ((mid, high), right)) if ok]
            divisions[i] = new_divisions
        if not updated:
            return


def _vectors(dims: list[ParamSpec], grid: list[list[Any]]) -> Iterator[tuple[list[int], dict[Key, Any]]]:
    """Odometer over the grid indices of the *active* dimensions."""
    vector = [0] * len(dims)
    while True:
        params: dict[Key, Any] = {}
        for i, spec in enumerate(dims):
            if spec.is_active(params):
                params[spec.key] = grid[i][vector[i]]
        yield vector, params
        active = [i for i, spec in enumerate(dims) if spec.key in params]
        for i in reversed(active):
            if vector[i] + 1 < len(grid[i]):
                vector[i] += 1
                break
            vector[i] = 0
        else:
            return


class GridSearchTuner(BuiltinTuner):
    """Deterministic grid search; imported parameter sets count as visited.

    ``optimize_mode`` is accepted and ignored, as in NNI; so are results.
    """

    def __init__(self, optimize_mode: str = "maximize") -> None:
        super().__init__(optimize_mode)
        self._grid: Iterator[dict[Key, Any]] | None = None
        self.visited: set[str] = set()

    def _space_changed(self) -> None:
        self._grid = iterate_grid(self.specs)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        assert self._grid is not None
        for internal in self._grid:
            params = deformat_parameters(internal, self.specs)
            key = canonical_key(params)
            if key not in self.visited:
                self.visited.add(key)
                return params
        raise NoMoreTrialError("grid search space fully explored")

    def import_data(self, data: list[dict[str, Any]]) -> None:
        for entry in data or []:
            if isinstance(entry, dict) and isinstance(entry.get("parameter"), dict):
                self.visited.add(canonical_key(entry["parameter"]))
