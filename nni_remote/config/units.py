"""Parsing of the unit-bearing values of a config: durations, sizes, GPU index lists.

The rules are NNI's (reference §1.4), so a config means the same thing here as
under ``nnictl``. Every parser raises :class:`ValueError` whose message names the
offending value and says what is accepted; the config layer turns it into a
:class:`~nni_remote.errors.ConfigError` at the right field path.
"""
from __future__ import annotations

import math
from typing import Any, List, Optional

__all__ = ["parse_time", "parse_size", "parse_gpu_indices"]

_TIME_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_SIZE_UNITS = (("tb", 1024 ** 4), ("gb", 1024 ** 3), ("mb", 1024 ** 2), ("kb", 1024), ("b", 1))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_unit(value: str, units: tuple[tuple[str, int], ...]) -> float:
    text = value.strip().lower()
    for suffix, factor in units:
        if text.endswith(suffix):
            number = text[: -len(suffix)].strip()
            try:
                parsed = float(number)
            except ValueError:
                break
            if not math.isfinite(parsed):
                break
            return parsed * factor
    raise ValueError(f"bad unit in {value!r}")


def parse_time(value: str | int) -> int:
    """Return a duration in whole seconds (rounded up).

    ``value`` is an ``int`` (seconds) or a string with one unit suffix, tried in
    the order ``d``, ``h``, ``m``, ``s``, case-insensitive: ``'1h'`` -> 3600,
    ``'0.5h'`` -> 1800, ``'10M'`` -> 600 (minutes). A bare numeric string such as
    ``'3600'`` is an error, as in NNI.
    """
    if _is_int(value):
        return int(value)
    if not isinstance(value, str):
        raise ValueError(
            f"must be a duration string like '30m', '1.5h', '2d' or an integer number of seconds, "
            f"got {value!r} ({type(value).__name__})"
        )
    try:
        return math.ceil(_parse_unit(value, _TIME_UNITS))
    except ValueError:
        raise ValueError(
            f"bad duration {value!r}: use a number with a unit d, h, m or s (e.g. '30m', '1.5h'), "
            "or an integer number of seconds"
        ) from None


def parse_size(value: str | int) -> int:
    """Return a memory size in whole MiB (rounded up).

    ``value`` is an ``int`` (already MiB) or a string with one suffix tried in the
    order ``tb``, ``gb``, ``mb``, ``kb``, ``b`` (powers of 1024): ``'10GB'`` -> 10240.
    """
    if _is_int(value):
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a size string like '512mb' or '10gb', got {value!r}")
    try:
        return math.ceil(_parse_unit(value, _SIZE_UNITS) / 1024 ** 2)
    except ValueError:
        raise ValueError(
            f"bad size {value!r}: use a number with a unit tb, gb, mb, kb or b (e.g. '10gb')"
        ) from None


def parse_gpu_indices(value: list[int] | int | str | None) -> Optional[List[int]]:
    """Return GPU indices as a list, or ``None`` when unset.

    Accepts an ``int`` (``1`` -> ``[1]``), a comma-separated string (``"0, 1"``)
    or a list of ints. Duplicates and negative indices are rejected.
    """
    if value is None:
        return None
    if _is_int(value):
        indices = [int(value)]  # type: ignore[arg-type]
    elif isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        try:
            indices = [int(part) for part in parts]
        except ValueError:
            raise ValueError(
                f"bad GPU index list {value!r}: use comma-separated integers like '0,1'"
            ) from None
    elif isinstance(value, (list, tuple)):
        if not all(_is_int(item) for item in value):
            raise ValueError(f"GPU indices must be integers, got {list(value)!r}")
        indices = [int(item) for item in value]
    else:
        raise ValueError(
            f"must be a GPU index, a list of them or a string like '0,1', got {value!r}"
        )
    negative = [index for index in indices if index < 0]
    if negative:
        raise ValueError(f"GPU indices must be >= 0, got {negative[0]} in {indices}")
    duplicates = sorted({index for index in indices if indices.count(index) > 1})
    if duplicates:
        raise ValueError(f"GPU index {duplicates[0]} is listed twice in {indices}")
    return indices
