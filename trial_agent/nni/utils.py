"""``nni.utils``: the helpers trial code and tuner authors import (stdlib only, as NNI 3.0 names them)."""
import copy
from enum import Enum

from . import parameter_expressions

__all__ = ["ClassArgsValidator", "MetricType", "NodeType", "OptimizeMode", "convert_dict2tuple",
           "extract_scalar_history", "extract_scalar_reward", "json2parameter", "json2space", "merge_parameter",
           "parameter_expressions", "split_index", "unique"]


class OptimizeMode(Enum):
    """Whether a tuner maximizes or minimizes the reported metric."""

    Minimize = "minimize"
    Maximize = "maximize"


class NodeType:
    """Keys of NNI's search-space JSON."""

    ROOT = "root"
    TYPE = "_type"
    VALUE = "_value"
    INDEX = "_index"
    NAME = "_name"


class MetricType:
    """The ``type`` of a metric record an advisor receives."""

    FINAL = "FINAL"
    PERIODICAL = "PERIODICAL"
    REQUEST_PARAMETER = "REQUEST_PARAMETER"


def split_index(params):
    """Drop the ``_index`` bookkeeping NNI's tuners put into nested choices."""
    if isinstance(params, dict):
        if NodeType.INDEX in params:
            return split_index(params[NodeType.VALUE])
        return {key: split_index(value) for key, value in params.items()}
    return params


def extract_scalar_reward(value, scalar_key="default"):
    """The number in a metric: the value itself or ``value['default']``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, dict) and isinstance(value.get(scalar_key), (int, float)) \
            and not isinstance(value.get(scalar_key), bool):
        return value[scalar_key]
    raise RuntimeError("Incorrect final result: the final result should be float/int, "
                       "or a dict which has a key named \"default\" whose value is float/int.")


def extract_scalar_history(trial_history, scalar_key="default"):
    """:func:`extract_scalar_reward` of every value of an intermediate-result history."""
    return [extract_scalar_reward(value, scalar_key) for value in trial_history]


def convert_dict2tuple(value):
    """Dicts (recursively) to sorted tuples of items, so parameter sets can be hashed."""
    if isinstance(value, dict):
        return tuple(sorted((key, convert_dict2tuple(v)) for key, v in value.items()))
    return value


def unique(items):
    """The items in order, repeats dropped."""
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def json2space(x, oldy=None, name=NodeType.ROOT):
    """The names of every ``choice`` in a search space (as NNI's evolution tuner lists them)."""
    y = list()
    if isinstance(x, dict):
        if NodeType.TYPE in x:
            if x[NodeType.TYPE] == "choice":
                _name = name + "-" + NodeType.TYPE if name != NodeType.ROOT else NodeType.TYPE
                y.append(_name)
                for index, option in enumerate(x[NodeType.VALUE]):
                    y.extend(json2space(option, oldy, name + "[%d]" % index))
        else:
            for key, value in x.items():
                y.extend(json2space(value, oldy, key if name == NodeType.ROOT else name + "." + key))
    return y


def json2parameter(x, is_rand=None, random_state=None, oldy=None, Rand=False, name=NodeType.ROOT):
    """A random parameter set for a search space, drawn with ``random_state`` (NNI's helper).

    Nested choices carry ``{"_index": i, "_value": ...}`` as in NNI; pass the
    result through :func:`split_index` for what a trial receives.
    """
    if isinstance(x, dict):
        if NodeType.TYPE in x:
            _type, _value = x[NodeType.TYPE], x[NodeType.VALUE]
            if _type == "choice":
                index = parameter_expressions.randint(len(_value), random_state)
                return {NodeType.INDEX: index,
                        NodeType.VALUE: json2parameter(_value[index], is_rand, random_state, None, Rand,
                                                       name + "[%d]" % index)}
            return getattr(parameter_expressions, _type)(*(list(_value) + [random_state]))
        return {key: json2parameter(value, is_rand, random_state, None, Rand,
                                    key if name == NodeType.ROOT else name + "." + key)
                for key, value in x.items()}
    if isinstance(x, list):
        return [json2parameter(value, is_rand, random_state, None, Rand, name) for value in x]
    return copy.deepcopy(x)


def merge_parameter(base_params, override_params):
    """Update ``base_params`` (a dict or argparse Namespace) with tuner parameters.

    Like NNI: every key of ``override_params`` must exist in ``base_params``,
    and a non-None base value's type is kept (ints stay ints).
    """
    is_dict = isinstance(base_params, dict)
    for key, value in (override_params or {}).items():
        current_exists = key in base_params if is_dict else hasattr(base_params, key)
        if not current_exists:
            raise ValueError("key '%s' not found in base parameters." % key)
        current = base_params[key] if is_dict else getattr(base_params, key)
        if current is not None and value is not None and type(current) is not type(value):
            try:
                value = type(current)(value)
            except (TypeError, ValueError):
                raise TypeError("parameter '%s' should be %s, got %r" % (key, type(current).__name__, value))
        if is_dict:
            base_params[key] = value
        else:
            setattr(base_params, key, value)
    return base_params


class _Check:
    """A condition on one classArgs value; ``validate(value)`` returns it or raises ``ValueError``."""

    def __init__(self, message, test):
        self.message, self.test = message, test

    def validate(self, value):
        if not self.test(value):
            raise ValueError(self.message + "; got %r" % (value,))
        return value

    __call__ = validate


class ClassArgsValidator:
    """Base of an algorithm's classArgs checker (``classArgsValidator`` in a registration).

    Override :meth:`validate_class_args`; raise (an ``AssertionError`` or
    ``ValueError``) on bad arguments. ``choices``/``range``/``path`` build
    checks usable alone (``check.validate(value)``) or inside the ``schema``
    package's ``Schema`` when it is installed, as NNI's are.
    """

    def validate_class_args(self, **kwargs):
        """Check ``kwargs`` (the classArgs); the default accepts anything."""

    def choices(self, key, *args):
        """``key`` must be one of ``args``."""
        return _Check("%s should be in [%s]" % (key, ", ".join(map(str, args))), lambda value: value in args)

    def range(self, key, keyType, start, end):
        """``key`` must be of ``keyType`` and within [start, end]."""
        return _Check("%s should be a %s in range [%s, %s]" % (key, keyType.__name__, start, end),
                      lambda value: isinstance(value, keyType) and start <= value <= end)

    def path(self, key):
        """``key`` must name an existing file or directory."""
        import os
        return _Check("%s should be an existing path" % key, lambda value: os.path.exists(str(value)))
