"""Built-in tuner names for parametrized tests, derived from the registry (never hand-listed)."""
from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

from nni_remote.tuning import BUILTIN_TUNERS
from nni_remote.tuning.registry import missing_requirements, primary_names
from nni_remote.tuning.search_space import ALL_TYPES

#: Too slow for loops of many trials in unit tests (GP: a GP fit per trial with PyTorch).
SLOW = {"GP"}


def builtin_class(name: str) -> Any:
    entry = BUILTIN_TUNERS[name]
    return getattr(importlib.import_module(entry.module), entry.class_name)


def seeded(name: str) -> bool:
    """Whether the built-in takes a ``seed`` classArg."""
    if missing_requirements(BUILTIN_TUNERS[name]):
        return True
    return "seed" in inspect.signature(builtin_class(name)).parameters


def skip_missing(name: str) -> None:
    entry = BUILTIN_TUNERS[name]
    missing = missing_requirements(entry)
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}: {entry.install}")


def tuner_names(*, nested: bool = False, seeded_only: bool = False, fast: bool = True) -> list[str]:
    """Our built-ins (not NNI-only ones) that take every search-space type; ``nested``: nested choices too."""
    names = []
    for name in primary_names(BUILTIN_TUNERS):
        entry = BUILTIN_TUNERS[name]
        if entry.module.startswith("nni.") or (fast and name in SLOW):
            continue
        if missing_requirements(entry):
            names.append(name)       # listed, and skipped with the pip command by skip_missing
            continue
        cls = builtin_class(name)
        if tuple(getattr(cls, "support_types", ())) != ALL_TYPES or (nested and not getattr(cls, "allow_nested", True)):
            continue
        if seeded_only and not seeded(name):
            continue
        names.append(name)
    return names
