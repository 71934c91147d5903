"""Random search (NNI's ``Random``): independent draws from the prior."""
from __future__ import annotations

from typing import Any

from ..sampling import Deduplicator, make_rng, sample_internal
from ..search_space import deformat_parameters
from ._common import BuiltinTuner, check_seed, derive_seed

__all__ = ["RandomTuner"]


class RandomTuner(BuiltinTuner):
    """Draw every parameter from its prior; ``seed`` makes the sequence reproducible.

    All types and nested choices. In a space that can repeat (only choice,
    randint and q types) a repeat is replaced by an unseen grid point and
    :class:`~nni_remote.tuning.NoMoreTrialError` is raised once every point was
    given. ``optimize_mode`` is accepted and ignored, as in NNI; so are results.
    Imported parameter sets count as given; a seeded tuner that imports
    history reseeds (from the seed and the number imported) so a resumed
    experiment does not replay its first draws.
    """

    def __init__(self, seed: int | None = None, optimize_mode: str = "maximize") -> None:
        super().__init__(optimize_mode)
        self.seed = check_seed(seed)
        self.rng = make_rng(self.seed)
        self._dedup: Deduplicator | None = None
        self._known = 0

    def _space_changed(self) -> None:
        self._dedup = Deduplicator(self.specs)

    def _import(self, parameters: dict[str, Any], loss: float) -> bool:
        if self._dedup is None:
            return False
        self._dedup.add(parameters)
        return True

    def _imported(self, count: int) -> None:
        self._known += count
        if self.seed is not None:
            self.rng = make_rng(derive_seed(self.seed, self._known))

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        assert self._dedup is not None
        internal = self._dedup(sample_internal(self.specs, self.rng))
        return deformat_parameters(internal, self.specs)
