"""The metric codec: how a metric value travels from a trial to the tuner and to REST.

A trial reports a value (a number, or a dict with ``default``); the trial's
``nni`` module sends it as JSON text. NNI stores and serves it as a JSON
*string of that text* (``data`` in ``/metric-data``). :func:`encode_data` makes
that form once at the edge where an agent's record arrives, and
:func:`decode_data` reads it back once where a value is needed (REST views,
the progress bar, ``Experiment``).
"""
from __future__ import annotations

import json
import math
from typing import Any, Optional


def encode_data(value: Any) -> str:
    """NNI's stored ``data`` for a reported value (a JSON string holding the value's JSON text).

    A value that arrives already as JSON text (what ``nni.report_*`` sends) is kept as that text.
    """
    text = value if isinstance(value, str) else json.dumps(value)
    return json.dumps(text)


def decode_data(data: str) -> Any:
    """Value of a stored metric ``data`` (a JSON text of the trial's JSON text); None if unreadable."""
    try:
        inner = json.loads(data)
        return json.loads(inner) if isinstance(inner, str) else inner
    except (ValueError, TypeError):
        return None


def scalar(value: Any) -> Optional[float]:
    """The number a tuner sees: the value or value['default']; None if there is none."""
    if isinstance(value, dict):
        value = value.get("default")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


decode_metric = decode_data  # the name the manager used
