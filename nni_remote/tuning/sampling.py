"""Random sampling from a search space, and a deduplicator for discrete spaces.

:func:`sample_search_space` is the public one-shot helper; tuners use
:func:`sample_internal` on a formatted space (see :mod:`.search_space`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from .base import NoMoreTrialError
from .search_space import Key, ParamSpec, canonical_key, deformat_parameters, format_search_space

__all__ = ["Deduplicator", "make_rng", "sample_internal", "sample_search_space", "sample_spec"]

Rng = np.random.Generator


def make_rng(seed: int | Rng | None = None) -> Rng:
    """A numpy Generator from a seed, an existing Generator, or fresh entropy."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def sample_spec(spec: ParamSpec, rng: Rng) -> Any:
    """One internal value drawn from the prior of ``spec``."""
    if spec.discrete:
        return int(rng.integers(spec.size)) + (int(spec.low) if spec.type == "randint" else 0)
    return float(rng.random())


def sample_internal(specs: dict[Key, ParamSpec], rng: Rng,
                    fixed: Callable[[ParamSpec], Any] | None = None) -> dict[Key, Any]:
    """A random internal parameter set; ``fixed(spec)`` may supply a value (``None`` = draw)."""
    params: dict[Key, Any] = {}
    for key, spec in specs.items():
        if spec.is_active(params):
            value = fixed(spec) if fixed is not None else None
            params[key] = sample_spec(spec, rng) if value is None else value
    return params


def sample_search_space(space: dict[str, Any], seed: int | Rng | None = None) -> dict[str, Any]:
    """One random parameter set of ``space``, as a trial would receive it.

    Only the chosen option's sub-parameters of a nested choice appear (its
    value is ``{"_name": ..., sub-params}``); ``randint`` is upper-exclusive;
    q types are rounded and, for q(log)uniform, clipped; values are Python
    numbers. Raises :class:`~nni_remote.errors.SearchSpaceError` for a bad space.
    """
    specs = format_search_space(space)
    return deformat_parameters(sample_internal(specs, make_rng(seed)), specs)


class Deduplicator:
    """Replace an already-seen parameter set by an unseen grid point.

    Only discrete-ish spaces (every parameter a choice, randint or q type) can
    repeat; for them, a repeat is swapped for the next unseen point of a grid
    search, and :class:`NoMoreTrialError` is raised when none is left (NNI's
    ``Deduplicator``). Other spaces pass straight through.
    """

    def __init__(self, specs: dict[Key, ParamSpec]) -> None:
        self._specs = specs
        self._can_repeat = all(s.discrete or s.q is not None for s in specs.values())
        self.seen: set[str] = set()
        self._grid: Iterator[dict[Key, Any]] | None = None

    def add(self, params: dict[str, Any]) -> None:
        """Mark a user-visible parameter set as seen (imports, resumed trials)."""
        self.seen.add(canonical_key(params))

    def __call__(self, internal: dict[Key, Any]) -> dict[Key, Any]:
        if not self._can_repeat:
            return internal
        if self._fresh(internal):
            return internal
        if self._grid is None:
            from .tuners.gridsearch_tuner import iterate_grid
            self._grid = iterate_grid(self._specs)
        for candidate in self._grid:
            if self._fresh(candidate):
                return candidate
        raise NoMoreTrialError()

    def _fresh(self, internal: dict[Key, Any]) -> bool:
        key = canonical_key(deformat_parameters(internal, self._specs))
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

