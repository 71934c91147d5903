"""Create the configured tuner or assessor: a built-in by name, or a user's class.

``algo`` is the config's ``AlgorithmConfig`` (``.name``, ``.class_name``,
``.code_directory``, ``.class_args``) or a dict with those keys, snake_case or
camelCase. Built-ins are found in :mod:`.registry`. A custom ``class_name``
(``"module.Class"``) is imported with ``code_directory`` appended to
``sys.path``; if no ``nni`` package is importable on the head, the trial
agent's small ``nni`` shim is put on ``sys.path`` while importing, so user code
doing ``from nni.tuner import Tuner`` works. NNI's own classes (real ``nni``
installed) load the same way. Custom instances are wrapped in adapters
(:mod:`.adapters`) that speak our contract.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any, Mapping, NamedTuple, cast

from ..errors import TunerError
from .adapters import AssessorAdapter, TunerAdapter
from .base import Assessor, Tuner
from .registry import BUILTIN_ASSESSORS, BUILTIN_TUNERS, Builtin, lookup

__all__ = ["create_assessor", "create_tuner"]

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
    """The tuner for ``algo``; ``TunerError`` for an unknown name or bad classArgs."""
    spec = AlgoSpec.of(algo)
    if spec is None:
        raise TunerError("no tuner configured: set tuner.name or tuner.className")
    if spec.class_name:
        cls = _load_class(spec, "tuner")
        if hasattr(cls, "handle_request_trial_jobs"):
            raise TunerError(f"tuner class {spec.class_name!r} is an NNI advisor (MsgDispatcherBase); "
                             "advisors cannot be hosted, use a Tuner subclass or the built-in Hyperband")
        return TunerAdapter(_instantiate(cls, spec.class_args, f"tuner class {spec.class_name!r}"),
                            spec.class_name)
    canonical, entry = lookup(spec.name or "", BUILTIN_TUNERS, "tuner")
    return cast("Tuner", _builtin(entry, spec.class_args, f"tuner {canonical!r}"))


def create_assessor(algo: Any) -> Assessor | None:
    """The assessor for ``algo``, or ``None`` when ``algo`` configures none."""
    spec = AlgoSpec.of(algo)
    if spec is None:
        return None
    if spec.class_name:
        cls = _load_class(spec, "assessor")
        return AssessorAdapter(_instantiate(cls, spec.class_args, f"assessor class {spec.class_name!r}"),
                               spec.class_name)
    canonical, entry = lookup(spec.name or "", BUILTIN_ASSESSORS, "assessor")
    return cast("Assessor | None", _builtin(entry, spec.class_args, f"assessor {canonical!r}"))


def _builtin(entry: Builtin, class_args: dict[str, Any], label: str) -> Any:
    cls = getattr(importlib.import_module(entry.module), entry.class_name)
    return _instantiate(cls, {**entry.defaults, **class_args}, label)


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
    if spec.code_directory:
        folder = os.path.abspath(spec.code_directory)
        if not os.path.isdir(folder):
            raise TunerError(f"{kind} codeDirectory {folder!r} is not a directory")
        if folder not in sys.path:
            sys.path.append(folder)
    shim = _shim_folder()
    try:
        if shim:
            sys.path.append(shim)
            importlib.import_module("nni")
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise TunerError(f"{kind} class {spec.class_name!r}: cannot import module {module_name!r}"
                         f" (codeDirectory {spec.code_directory!r}): {type(exc).__name__}: {exc}") from exc
    finally:
        if shim and shim in sys.path:
            sys.path.remove(shim)
    cls = getattr(module, attr, None)
    if cls is None:
        raise TunerError(f"{kind} class {spec.class_name!r}: module {module_name!r} has no attribute {attr!r}")
    return cls


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
