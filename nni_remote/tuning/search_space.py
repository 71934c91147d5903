"""NNI's search-space format (NNI-REFERENCE §5.4): validation and a flat internal form.

A space is ``{name: {"_type": T, "_value": [...]}}``; a ``choice`` whose options
are all dicts with ``_name`` is a *nested choice*, and each option's other keys
are a sub-space active only when that option is chosen. Validation names each
bad parameter by its path, ``layer0[1].kernel_size`` for the ``kernel_size`` of
``layer0``'s second option, and says which rule it breaks.

Tuners work on a flat internal form (like NNI's ``format_search_space``): one
:class:`ParamSpec` per parameter keyed by its path tuple (``("layer0", 1,
"kernel_size")``), parents before children, and parameter sets as ``{key:
internal value}``: a ``choice`` index, a ``randint`` int, and for every
continuous type a *unit* value ``u`` in [0, 1] (the CDF of the prior, so
``u=0.5`` is the middle of ``uniform`` and the mean of ``normal``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Iterable, Union

from ..errors import SearchSpaceError

__all__ = ["ALL_TYPES", "Key", "ParamSpec", "canonical_key", "deformat_parameters",
           "format_parameters", "format_search_space", "validate_search_space"]

ALL_TYPES = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
             "normal", "qnormal", "lognormal", "qlognormal")
Key = tuple[Union[str, int], ...]
_EPS = 1e-12
_STD = NormalDist()
_BATCH_KEY = "combine_params"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_nested(options: list[Any]) -> bool:
    return bool(options) and all(isinstance(o, dict) and "_name" in o for o in options)


def validate_search_space(space: Any, support_types: Iterable[str] | None = None,
                          allow_nested: bool = True) -> None:
    """Raise :class:`SearchSpaceError` listing every broken rule, or return ``None``.

    ``support_types`` limits the allowed ``_type`` values (a tuner's subset);
    ``allow_nested=False`` rejects nested choices. The one exception to "choice
    options are scalars" is NNI's Batch form: a single key ``combine_params``
    whose options are complete parameter dicts.
    """
    types = tuple(support_types) if support_types is not None else ALL_TYPES
    problems: list[tuple[str, str]] = []
    if not isinstance(space, dict):
        raise SearchSpaceError([("", f"search space must be a JSON object, got {type(space).__name__}")])
    batch = list(space) == [_BATCH_KEY]
    _check_space(space, "", problems, types, allow_nested, batch)
    if problems:
        raise SearchSpaceError(problems)


def _check_space(space: dict[str, Any], prefix: str, problems: list[tuple[str, str]],
                 types: tuple[str, ...], allow_nested: bool, batch: bool) -> None:
    for name, spec in space.items():
        if prefix and name == "_name":
            continue
        path = f"{prefix}.{name}" if prefix else str(name)
        if not isinstance(spec, dict):
            problems.append((path, f"must be an object with '_type' and '_value', got {spec!r}"))
            continue
        if "_type" not in spec or "_value" not in spec:
            problems.append((path, "must have both '_type' and '_value'"))
            continue
        type_, args = spec["_type"], spec["_value"]
        if type_ not in types:
            problems.append((path, f"_type {type_!r} is not supported here; valid: {', '.join(types)}"))
            continue
        if not isinstance(args, list):
            problems.append((path, f"_value must be a list, got {args!r}"))
            continue
        if type_ == "choice":
            _check_choice(args, path, problems, types, allow_nested, batch and not prefix)
        else:
            message = _check_numeric(type_, args)
            if message:
                problems.append((path, message))


def _check_choice(options: list[Any], path: str, problems: list[tuple[str, str]],
                  types: tuple[str, ...], allow_nested: bool, batch: bool) -> None:
    if not options:
        problems.append((path, "choice needs at least one option"))
        return
    dicts = [o for o in options if isinstance(o, dict)]
    if not dicts or batch:
        return
    if len(dicts) != len(options) or not _is_nested(options):
        problems.append((path, "nested choice: every option must be an object with '_name' "
                               "(options mixing objects and plain values are not allowed)"))
        return
    if not allow_nested:
        problems.append((path, "nested choice is not supported by this algorithm"))
        return
    for index, option in enumerate(options):
        label = option["_name"]
        if not isinstance(label, (str, int, float)) or isinstance(label, bool):
            problems.append((f"{path}[{index}]._name", f"must be a string or number, got {label!r}"))
        _check_space(option, f"{path}[{index}]", problems, types, allow_nested, False)


def _check_numeric(type_: str, args: list[Any]) -> str | None:
    arity = 3 if type_.startswith("q") else 2
    if len(args) != arity:
        return f"{type_} needs exactly {arity} values, got {len(args)}"
    if type_ == "randint":
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return f"randint needs integer bounds, got {args!r}"
    elif not all(_is_number(a) for a in args):
        return f"{type_} needs numeric values, got {args!r}"
    if not all(math.isfinite(a) for a in args):
        return f"{type_} values must be finite, got {args!r}"
    if "normal" in type_:
        if args[1] <= 0:
            return f"{type_} needs sigma > 0, got sigma={args[1]!r}"
    else:
        if args[0] >= args[1]:
            return f"{type_} needs low < high, got low={args[0]!r} high={args[1]!r}"
        if "log" in type_ and args[0] <= 0:
            return f"{type_} needs low > 0, got low={args[0]!r}"
    if arity == 3 and args[2] <= 0:
        return f"{type_} needs q > 0, got q={args[2]!r}"
    return None


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a formatted space (see the module docstring for values)."""

    key: Key
    path: str
    type: str
    values: tuple[Any, ...]
    size: int = 0              # choice: number of options; randint: number of ints
    nested: bool = False       # a choice whose options carry sub-spaces
    low: float = 0.0           # randint/uniform bounds (log types: log of them); normal: mu
    high: float = 0.0          # (exclusive for randint); normal types: sigma
    q: float | None = None
    log: bool = False
    normal: bool = False

    @property
    def categorical(self) -> bool:
        return self.type == "choice"

    @property
    def discrete(self) -> bool:
        return self.type in ("choice", "randint")

    def is_active(self, partial: dict[Key, Any]) -> bool:
        """Whether this parameter exists given its ancestors' choices in ``partial``."""
        if len(self.key) < 2 or isinstance(self.key[-2], str):
            return True
        return partial.get(self.key[:-2]) == self.key[-2]

    def from_unit(self, u: float) -> float:
        """The unquantized value at prior CDF ``u``."""
        u = min(max(float(u), 0.0), 1.0)
        if self.normal:
            x = self.low + self.high * _STD.inv_cdf(min(max(u, _EPS), 1.0 - _EPS))
        else:
            x = self.low + (self.high - self.low) * u
        if not self.log:
            return x
        value = math.exp(min(x, 700.0))
        # exp(log(low)) can miss low by an ulp: keep log-uniform values inside [low, high]
        return value if self.normal else min(max(value, self.values[0]), self.values[1])

    def to_unit(self, x: float) -> float:
        """Inverse of :meth:`from_unit`, clipped to [0, 1]."""
        if self.log:
            x = math.log(x) if x > 0 else -math.inf
        if self.normal:
            u = _STD.cdf((x - self.low) / self.high) if math.isfinite(x) else (0.0 if x < 0 else 1.0)
        else:
            u = (x - self.low) / (self.high - self.low)
        return min(max(u, 0.0), 1.0)

    def finalize(self, x: float) -> float:
        """Apply q rounding (banker's) and, for q(log)uniform, the clip to [low, high]."""
        if self.q is not None and math.isfinite(x):
            x = round(x / self.q) * self.q
            if not self.normal:
                x = min(max(x, self.values[0]), self.values[1])
        return float(x)

    def value(self, internal: Any) -> Any:
        """The user-visible value for an internal one (nested choice: its ``_name``)."""
        if self.type == "choice":
            option = self.values[int(internal)]
            return option["_name"] if self.nested else option
        if self.type == "randint":
            return int(internal)
        return self.finalize(self.from_unit(internal))

    def internal(self, value: Any) -> Any:
        """The internal value for a user-visible one; ``ValueError`` if outside the space."""
        if self.type == "choice":
            if self.nested:
                names = [o["_name"] for o in self.values]
                label = value.get("_name") if isinstance(value, dict) else None
                if label not in names:
                    raise ValueError(f"{self.path}: no option named {label!r}")
                return names.index(label)
            if value not in self.values:
                raise ValueError(f"{self.path}: {value!r} is not an option")
            return self.values.index(value)
        if not _is_number(value):
            raise ValueError(f"{self.path}: {value!r} is not a number")
        if self.type == "randint":
            if value != int(value) or not self.low <= value < self.high:
                raise ValueError(f"{self.path}: {value!r} is not an int in [{self.low}, {self.high})")
            return int(value)
        return self.to_unit(float(value))


def format_search_space(space: dict[str, Any]) -> dict[Key, ParamSpec]:
    """Validate ``space`` and flatten it into ``{key: ParamSpec}``, parents first."""
    validate_search_space(space)
    specs: dict[Key, ParamSpec] = {}
    _flatten(space, (), "", specs, batch=list(space) == [_BATCH_KEY])
    return specs


def _flatten(space: dict[str, Any], parent: Key, prefix: str, specs: dict[Key, ParamSpec],
             batch: bool = False) -> None:
    for name, raw in space.items():
        if parent and name == "_name":
            continue
        key, path = (*parent, name), (f"{prefix}.{name}" if prefix else name)
        type_, args = raw["_type"], raw["_value"]
        if type_ == "choice":
            nested = _is_nested(args) and not batch
            specs[key] = ParamSpec(key, path, type_, tuple(args), size=len(args), nested=nested)
            for index, option in enumerate(args if nested else ()):
                _flatten(option, (*key, index), f"{path}[{index}]", specs)
        elif type_ == "randint":
            specs[key] = ParamSpec(key, path, type_, tuple(args), size=args[1] - args[0],
                                   low=args[0], high=args[1])
        else:
            log, normal = "log" in type_, "normal" in type_
            bounds = (math.log(args[0]), math.log(args[1])) if log and not normal else (args[0], args[1])
            specs[key] = ParamSpec(key, path, type_, tuple(args), low=float(bounds[0]),
                                   high=float(bounds[1]),
                                   q=float(args[2]) if type_.startswith("q") else None,
                                   log=log, normal=normal)


def deformat_parameters(internal: dict[Key, Any], specs: dict[Key, ParamSpec]) -> dict[str, Any]:
    """Build the user-visible (nested) parameter dict from internal values."""
    params: dict[str, Any] = {}
    for key, x in internal.items():
        spec = specs[key]
        value = spec.value(x)
        target = params
        names = [k for k in key if isinstance(k, str)]
        for name in names[:-1]:
            target = target.setdefault(name, {})
        if spec.nested:
            target.setdefault(names[-1], {})["_name"] = value
        else:
            target[names[-1]] = value
    return params


def format_parameters(params: dict[str, Any], specs: dict[Key, ParamSpec]) -> dict[Key, Any]:
    """Internal values for a user-visible parameter dict; ``ValueError`` if it does not fit."""
    internal: dict[Key, Any] = {}
    for key, spec in specs.items():
        if not spec.is_active(internal):
            continue
        value: Any = params
        for name in (k for k in key if isinstance(k, str)):
            if not isinstance(value, dict) or name not in value:
                raise ValueError(f"{spec.path}: missing")
            value = value[name]
        internal[key] = spec.internal(value)
    return internal


def canonical_key(params: Any) -> str:
    """A JSON text identifying a parameter set, numbers as floats (``5`` and ``5.0`` equal)."""
    def norm(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): norm(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [norm(v) for v in x]
        return float(x) if _is_number(x) else x
    return json.dumps(norm(params), sort_keys=True, default=str)
