"""Random search (NNI's ``Random``): independent draws from the prior."""
from __future__ import annotations

from typing import Any

from ..sampling import Deduplicator, make_rng, sample_internal
from ..search_space import deformat_parameters
from ._common import BuiltinTuner, check_seed

__all__ = ["RandomTuner"]


class RandomTuner(BuiltinTuner):
    """Draw every parameter from its prior; ``seed`` makes the sequence reproducible.

    All types and nested choices. In a space that can repeat (only choice,
    randint and q types) a repeat is replaced by an unseen grid point and
    :class:`~nni_remote.tuning.NoMoreTrialError` is raised once every point was
    given. ``optimize_mode`` is accepted and ignored, as in NNI; so are results.
    """

    def __init__(self, seed: int | None = None, optimize_mode: str = "maximize") -> None:
        super().__init__(optimize_mode)
        self.rng = make_rng(check_seed(seed))
        self._dedup: Deduplicator | None = None

    def _space_changed(self) -> None:
        self._dedup = Deduplicator(self.specs)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        assert self._dedup is not None
        internal = self._dedup(sample_internal(self.specs, self.rng))
        return deformat_parameters(internal, self.specs)
