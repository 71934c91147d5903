"""The base of every config class: key matching, typo guards, errors, JSON output.

NNI matches incoming keys ignoring case and underscores at every level, so
``trialCodeDirectory``, ``trial_code_directory`` and ``TRIALCODEDIRECTORY`` name
one field. Unknown keys are rejected with the class name and the likely
intended field. Whatever pydantic reports is turned into one
:class:`~nni_remote.errors.ConfigError` whose paths are camelCase dotted paths
(``trainingService.machineList[1].port``); no raw pydantic error escapes.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Iterable, Optional, Tuple

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator
from pydantic._internal._model_construction import ModelMetaclass

from ..errors import ConfigError

MASK = "********"

_LOOKUPS: Dict[type, Dict[str, str]] = {}


def normalize_key(key: str) -> str:
    """The form NNI compares keys in: lower case, no underscores."""
    return key.lower().replace("_", "")


def camel_case(name: str) -> str:
    """``max_trial_number_per_gpu`` -> ``maxTrialNumberPerGpu``."""
    first, *rest = name.strip("_").split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def describe(value: Any) -> str:
    """Show a bad value in a message: ``'4' (a string)``, ``1.5 (a float)``.

    Mappings show only their keys and nested lists are not shown, so a
    misplaced machine entry cannot leak its password into an error.
    """
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        keys = ", ".join(repr(k) for k in list(value)[:6])
        return f"a mapping (keys {keys})" if keys else "an empty mapping"
    if isinstance(value, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in value):
        return f"a list of {len(value)} items"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, bool):
        return f"{text} (a boolean)"
    if isinstance(value, int):
        return text
    kinds = {str: "a string", float: "a float", list: "a list", tuple: "a list"}
    kind = next((k for t, k in kinds.items() if isinstance(value, t)), f"a {type(value).__name__}")
    return f"{text} ({kind})"


def join_path(parent: str, child: str | int) -> str:
    """Extend a dotted camelCase path by a field name or a list index."""
    if isinstance(child, int):
        return f"{parent}[{child}]"
    return f"{parent}.{child}" if parent else child


@dataclass
class _BadKey:
    """Stands in for the value of a key no field takes, so the error can explain it."""

    key: str
    message: str


def _loc_to_path(loc: Iterable[Any], prefix: str = "") -> str:
    path, previous = prefix, None
    for part in loc:
        if previous == "training_service" and part in ("local", "remote", "slurm"):
            previous = part  # the discriminated union's tag is not a config key
            continue
        path = join_path(path, part if isinstance(part, int) else camel_case(str(part)))
        previous = part
    return path


def problems_from(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Turn a pydantic ValidationError into ``(path, message)`` pairs."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc, kind, value = list(err["loc"]), err["type"], err.get("input")
        ctx = err.get("ctx") or {}
        if kind == "value_error" and isinstance(ctx.get("error"), ConfigError):
            base = _loc_to_path(loc, prefix)  # a config class built inside validation
            problems.extend((join_path(base, p) if p else base, m) for p, m in ctx["error"].problems)
            continue
        if kind == "extra_forbidden" and isinstance(value, _BadKey):
            loc[-1:] = []
            path, message = join_path(_loc_to_path(loc, prefix), value.key), value.message
        else:
            path = _loc_to_path(loc, prefix)
            if ctx.get("sub"):
                path = join_path(path, ctx["sub"])
            if kind == "missing":
                message = "is required"
            elif kind in ("model_type", "model_attributes_type", "dict_type"):
                message = f"must be a mapping of settings, got {describe(value)}"
            elif kind == "list_type":
                message = f"must be a list, got {describe(value)}"
            elif kind == "literal_error":
                message = f"must be {ctx.get('expected')}, got {describe(value)}"
            elif kind == "config":
                message = err["msg"]
            else:
                message = f"{err['msg'].replace('Value error, ', '')}, got {describe(value)}"
        problems.append((path, message))
    return problems


class _ConfigMeta(ModelMetaclass):
    """Turns pydantic's ValidationError into ConfigError when a config class is called.

    (A metaclass, not ``__init__``: pydantic calls a custom ``__init__`` for
    nested models too, and a nested ConfigError would lose its field path.)
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            raise ConfigError(problems_from(exc)) from None


class ConfigBase(BaseModel, metaclass=_ConfigMeta):
    """Base of every config class.

    Keys match fields ignoring case and underscores; ``_aliases`` adds extra
    names (normalised) for a field, ``_misplaced`` explains keys that belong
    elsewhere. Assignment is validated; an unknown attribute raises
    ``AttributeError`` naming the field; a bad value raises ``ConfigError``.
    """

    model_config = ConfigDict(
        validate_assignment=True, extra="forbid", hide_input_in_errors=True, revalidate_instances="never"
    )

    _aliases: ClassVar[Dict[str, str]] = {}
    _misplaced: ClassVar[Dict[str, str]] = {}

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """pydantic's entry point, with errors as :class:`ConfigError`."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise ConfigError(problems_from(exc)) from None

    @classmethod
    def _lookup(cls) -> Dict[str, str]:
        table = _LOOKUPS.get(cls)
        if table is None:
            table = {normalize_key(name): name for name in cls.model_fields}
            table.update({normalize_key(a): f for a, f in cls._aliases.items()})
            _LOOKUPS[cls] = table
        return table

    @classmethod
    def field_for(cls, key: str) -> Optional[str]:
        """The python field name a key means, or None."""
        return cls._lookup().get(normalize_key(key))

    @classmethod
    def unknown_key_message(cls, key: str) -> str:
        """Explain an unknown key: class, and the field that was probably meant."""
        norm = normalize_key(key)
        if norm in cls._misplaced:
            return f"{cls.__name__} has no field {key!r}: {cls._misplaced[norm]}"
        message = f"unknown field {key!r} in {cls.__name__}"
        names = {normalize_key(n): n for n in cls.model_fields}
        close = difflib.get_close_matches(norm, list(names), n=1, cutoff=0.6)
        if close:
            name = names[close[0]]
            message += f"; did you mean {name if key.islower() else camel_case(name)!r}?"
        return message

    @model_validator(mode="before")
    @classmethod
    def _match_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out: Dict[str, Any] = {}
        seen: Dict[str, str] = {}
        for key, value in data.items():
            name = cls.field_for(key) if isinstance(key, str) else None
            if name is None:
                out[str(key)] = _BadKey(str(key), cls.unknown_key_message(str(key)))
            elif name in seen:
                first = seen[name]
                again = f"is given twice, as {first!r} and {key!r} (keys ignore case and underscores)"
                if key == name:  # keep the exact field name; flag the other spelling
                    out[name], out[first] = value, _BadKey(first, again)
                else:
                    out[key] = _BadKey(key, again)
            else:
                seen[name] = key
                out[name] = value
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            super().__setattr__(name, value)
            return
        if isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)  # runs the property's setter
            return
        field_name = type(self).field_for(name)
        if field_name is None:
            raise AttributeError(type(self).unknown_key_message(name))
        try:
            super().__setattr__(field_name, value)
        except ValidationError as exc:
            raise ConfigError(problems_from(exc)) from None


def dump(value: Any, include_secrets: bool) -> Any:
    """JSON form of a config value: camelCase keys, None fields dropped, secrets masked."""
    if isinstance(value, ConfigBase):
        out: Dict[str, Any] = {}
        for name in type(value).model_fields:
            item = getattr(value, name)
            if item is not None:
                out[camel_case(name)] = dump(item, include_secrets)
        return out
    if isinstance(value, SecretStr):
        return value.get_secret_value() if include_secrets else MASK
    if isinstance(value, Mapping):
        return {key: dump(item, include_secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [dump(item, include_secrets) for item in value]
    return value


def resolve_path(value: str, base_dir: str) -> str:
    """``~``-expand, make absolute against ``base_dir`` and resolve symlinks."""
    path = os.path.expanduser(value)
    if not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    return os.path.realpath(path)


@dataclass
class Canon:
    """State of one canonicalisation: the base folder and every problem found."""

    base_dir: str
    problems: list[Tuple[str, str]] = field(default_factory=list)
    inherited: set[str] = field(default_factory=set)

    def error(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def bad(self, path: str) -> bool:
        """Whether a problem was already reported at ``path``."""
        return any(p == path for p, _ in self.problems)
