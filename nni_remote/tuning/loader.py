"""Create the configured tuner or assessor: a built-in or registered name, or a user's class.

``algo`` is the config's ``AlgorithmConfig`` (``.name``, ``.class_name``,
``.code_directory``, ``.class_args``) or a dict with those keys, snake_case or
camelCase. Names are found in :mod:`.registry` (built-ins; a package a
built-in needs is checked for first and named with its ``pip install``), then
among algorithms registered with ``algo register`` (:mod:`.registered`). A
custom ``class_name`` (``"module.Class"``) is imported with ``code_directory``
appended to ``sys.path``; if no ``nni`` package is importable on the head, the
trial agent's ``nni`` module is put on ``sys.path`` while importing, so user
code doing ``from nni.tuner import Tuner`` works. NNI's own classes (real
``nni`` installed) load the same way. Instances that are not our own classes
are wrapped: tuners in :class:`.adapters.TunerAdapter`, advisors (NNI's
``MsgDispatcherBase``) in :class:`.advisor.AdvisorAdapter`, assessors in
:class:`.adapters.AssessorAdapter`.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any, Mapping, NamedTuple

from ..errors import TunerError
from .adapters import AssessorAdapter, TunerAdapter
from .advisor import ensure_advisor, is_advisor_class, prepare_advisor_import
from .base import Assessor, Tuner
from .registry import BUILTIN_ASSESSORS, BUILTIN_TUNERS, Builtin, kind_of, lookup, missing_requirements

__all__ = ["create_assessor", "create_tuner", "import_algorithm_module"]

_PLACEHOLDER = "_none_"


class AlgoSpec(NamedTuple):
    """The four fields of an ``AlgorithmConfig``, however they were given."""

    name: str | None
    class_name: str | None
    code_directory: str | None
    class_args: dict[str, Any]

    @classmethod
    def of(cls, algo: Any) -> AlgoSpec | None:
        """Read ``algo`` (object or snake/camel dict); ``None`` when nothing is configured."""
        if algo is None:
            return None

        def get(snake: str, camel: str) -> Any:
            if isinstance(algo, Mapping):
                return algo.get(snake, algo.get(camel))
            return getattr(algo, snake, None)
        name, class_name = get("name", "name"), get("class_name", "className")
        code_directory, class_args = get("code_directory", "codeDirectory"), get("class_args", "classArgs")
        if name == _PLACEHOLDER:
            name = None
        if name is None and class_name is None:
            return None
        if class_args is not None and not isinstance(class_args, Mapping):
            raise TunerError(f"classArgs must be a mapping, got {class_args!r}")
        return cls(name, class_name, None if code_directory is None else os.fspath(code_directory),
                   dict(class_args or {}))


def create_tuner(algo: Any) -> Tuner:
    """The tuner (or advisor) for ``algo``; ``TunerError`` for an unknown name or bad classArgs."""
    spec = AlgoSpec.of(algo)
    if spec is None:
        raise TunerError("no tuner configured: set tuner.name or tuner.className")
    if spec.class_name:
        cls = _load_class(spec, "tuner")
        label = f"{'advisor' if is_advisor_class(cls) else 'tuner'} class {spec.class_name!r}"
        return _wrap_tuner(_instantiate(cls, spec.class_args, label), spec.class_name)
    canonical, entry = lookup(spec.name or "", BUILTIN_TUNERS, "tuner")
    return _wrap_tuner(_builtin(entry, spec.class_args, f"{kind_of(entry, 'tuner')} {canonical!r}"), canonical)


def create_assessor(algo: Any) -> Assessor | None:
    """The assessor for ``algo``, or ``None`` when ``algo`` configures none."""
    spec = AlgoSpec.of(algo)
    if spec is None:
        return None
    if spec.class_name:
        cls = _load_class(spec, "assessor")
        return _wrap_assessor(_instantiate(cls, spec.class_args, f"assessor class {spec.class_name!r}"),
                              spec.class_name)
    canonical, entry = lookup(spec.name or "", BUILTIN_ASSESSORS, "assessor")
    return _wrap_assessor(_builtin(entry, spec.class_args, f"assessor {canonical!r}"), canonical)


def _wrap_tuner(obj: Any, label: str) -> Tuner:
    if isinstance(obj, Tuner):
        return obj
    if is_advisor_class(type(obj)):
        return ensure_advisor(obj, label)
    return TunerAdapter(obj, label)


def _wrap_assessor(obj: Any, label: str) -> Assessor:
    return obj if isinstance(obj, Assessor) else AssessorAdapter(obj, label)


def _builtin(entry: Builtin, class_args: dict[str, Any], label: str) -> Any:
    missing = missing_requirements(entry)
    if missing:
        raise TunerError(f"{label} needs {' and '.join(missing)}, not installed for the manager's Python "
                         f"({sys.executable}); to enable it: {entry.install}")
    module = import_algorithm_module(entry.module, None, label)
    cls = getattr(module, entry.class_name, None)
    if cls is None:
        raise TunerError(f"{label}: module {entry.module!r} has no attribute {entry.class_name!r}")
    args = {**entry.defaults, **class_args}
    if entry.validator:
        _validate(entry.validator, args, label)
    return _instantiate(cls, args, label)


def _validate(validator: str, args: dict[str, Any], label: str) -> None:
    """Run a registered ``classArgsValidator`` on the classArgs, as nnictl does before starting."""
    module_name, _, attr = validator.rpartition(".")
    checker = getattr(import_algorithm_module(module_name, None, f"{label} classArgsValidator"), attr, None)
    if checker is None:
        raise TunerError(f"{label}: classArgsValidator {validator!r} not found")
    try:
        checker().validate_class_args(**args)
    except Exception as exc:  # a user's validator raises what it likes (AssertionError, SchemaError)
        raise TunerError(f"{label}: bad classArgs {args!r}: {exc}") from exc


def _instantiate(cls: Any, args: dict[str, Any], label: str) -> Any:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        for arg in args:
            if arg not in named:
                raise TunerError(f"{label}: unknown classArgs {arg!r}; valid: {', '.join(named) or '(none)'}")
    try:
        return cls(**args)
    except TunerError:
        raise
    except Exception as exc:  # a user's constructor may raise anything
        raise TunerError(f"{label}: bad classArgs: {exc}") from exc


def _load_class(spec: AlgoSpec, kind: str) -> Any:
    assert spec.class_name is not None
    module_name, _, attr = spec.class_name.rpartition(".")
    if not module_name or not attr:
        raise TunerError(f"{kind} className must be 'module.Class', got {spec.class_name!r}")
    module = import_algorithm_module(module_name, spec.code_directory, f"{kind} class {spec.class_name!r}")
    cls = getattr(module, attr, None)
    if cls is None:
        raise TunerError(f"{kind} class {spec.class_name!r}: module {module_name!r} has no attribute {attr!r}")
    return cls


def import_algorithm_module(module_name: str, code_directory: str | None, label: str) -> Any:
    """Import ``module_name`` (``code_directory`` on ``sys.path``; the trial agent's ``nni`` if none is installed)."""
    if code_directory:
        folder = os.path.abspath(code_directory)
        if not os.path.isdir(folder):
            raise TunerError(f"{label}: codeDirectory {folder!r} is not a directory")
        if folder not in sys.path:
            sys.path.append(folder)
    shim = None if module_name.startswith("nni_remote.") else _shim_folder()
    try:
        if shim:
            sys.path.append(shim)
            importlib.import_module("nni")
        module = importlib.import_module(module_name)
    except Exception as exc:
        where = f" (codeDirectory {code_directory!r})" if code_directory else ""
        raise TunerError(f"{label}: cannot import module {module_name!r}{where}: {type(exc).__name__}: {exc}") from exc
    finally:
        if shim and shim in sys.path:
            sys.path.remove(shim)
    prepare_advisor_import()
    return module


def _shim_folder() -> str | None:
    """The folder holding the trial agent's ``nni`` shim, when no ``nni`` is importable."""
    try:
        if "nni" in sys.modules or importlib.util.find_spec("nni") is not None:
            return None
        agent = importlib.util.find_spec("trial_agent")
    except (ImportError, ValueError):
        return None
    locations = list(agent.submodule_search_locations or []) if agent else []
    return locations[0] if locations else None
