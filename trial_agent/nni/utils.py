"""``nni.utils`` helpers trial code uses."""


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


def extract_scalar_reward(value, scalar_key="default"):
    """The number in a metric: the value itself or ``value['default']``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, dict) and isinstance(value.get(scalar_key), (int, float)):
        return value[scalar_key]
    raise RuntimeError("Incorrect final result: the final result should be float/int, "
                       "or a dict which has a key named \"default\" whose value is float/int.")
