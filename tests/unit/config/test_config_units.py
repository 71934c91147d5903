"""parse_time / parse_size / parse_gpu_indices: NNI's §1.4 tables."""
from __future__ import annotations

import pytest

from nni_remote.config import parse_gpu_indices, parse_size, parse_time

DURATIONS = [
    ("1h", 3600), ("0.5h", 1800), ("30m", 1800), ("1.5d", 129600), ("10M", 600), ("45s", 45),
    ("1.2s", 2), ("2H", 7200), (" 1h ", 3600), ("0.1m", 6), ("1d", 86400), ("1 h", 3600),
    (3600, 3600), (0, 0), ("0s", 0),
]


@pytest.mark.parametrize("value, seconds", DURATIONS)
def test_parse_time(value: object, seconds: int) -> None:
    assert parse_time(value) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["3600", "1x", "h", "", "1hour", "1ms", "infh", "nanm", 1.5, True, None, [1]])
def test_parse_time_rejects(value: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_time(value)  # type: ignore[arg-type]
    assert repr(value) in str(info.value)


def test_bare_numeric_string_names_the_value() -> None:
    with pytest.raises(ValueError, match="'3600'"):
        parse_time("3600")


SIZES = [("10GB", 10240), ("1tb", 1048576), ("512mb", 512), ("1kb", 1), ("2048kb", 2), ("1b", 1),
         ("0.5gb", 512), ("1.5MB", 2), (100, 100)]


@pytest.mark.parametrize("value, mib", SIZES)
def test_parse_size(value: object, mib: int) -> None:
    assert parse_size(value) == mib  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["10", "10xb", "gb", 1.5, None])
def test_parse_size_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_size(value)  # type: ignore[arg-type]


GPUS = [(1, [1]), (0, [0]), ("0,1", [0, 1]), ("0, 1", [0, 1]), ("3", [3]), ([2, 3], [2, 3]), ((4,), [4]),
        ([], []), (None, None)]


@pytest.mark.parametrize("value, indices", GPUS)
def test_parse_gpu_indices(value: object, indices: object) -> None:
    assert parse_gpu_indices(value) == indices  # type: ignore[arg-type]


@pytest.mark.parametrize("value, fragment", [
    ([0, 0], "twice"), ("1,1", "twice"), (-1, ">= 0"), ("0,-1", ">= 0"), ("a", "'a'"), ("", "''"),
    ([True], "integers"), ([0, "1"], "integers"), (1.5, "1.5"), (True, "True"),
])
def test_parse_gpu_indices_rejects(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        parse_gpu_indices(value)  # type: ignore[arg-type]
