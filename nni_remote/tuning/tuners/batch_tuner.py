"""NNI's ``Batch`` (``BatchTuner``): run a user-given list of parameter sets."""
from __future__ import annotations

from typing import Any

from ...errors import SearchSpaceError
from ..base import NoMoreTrialError
from ..search_space import canonical_key
from ._common import BuiltinTuner

__all__ = ["BatchTuner"]


class BatchTuner(BuiltinTuner):
    """Give each option of the single ``choice`` once, in order, then stop.

    The space is ``{"combine_params": {"_type": "choice", "_value": [{...}, ...]}}``
    (any single key is accepted, as in NNI); each option is one complete
    parameter set. Imported parameter sets are skipped.
    """

    support_types = ("choice",)

    def __init__(self) -> None:
        super().__init__("maximize")
        self._values: list[Any] = []
        self._done: set[str] = set()

    def _space_changed(self) -> None:
        assert self.search_space is not None
        if len(self.search_space) != 1:
            raise SearchSpaceError([("", "BatchTuner needs exactly one key, such as 'combine_params', "
                                         f"got {len(self.search_space)}")])
        (spec,) = self.search_space.values()
        self._values = list(spec["_value"])

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        self._require_space()
        while self._values:
            value = self._values.pop(0)
            if canonical_key(value) not in self._done:
                self._done.add(canonical_key(value))
                return value if isinstance(value, dict) else {"combine_params": value}
        raise NoMoreTrialError("all batch parameter sets were given")

    def import_data(self, data: list[dict[str, Any]]) -> None:
        for entry in data or []:
            if isinstance(entry, dict) and entry.get("parameter") is not None:
                self._done.add(canonical_key(entry["parameter"]))
