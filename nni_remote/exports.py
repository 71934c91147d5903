"""The export formats of trial results (nnictl's JSON and CSV), shared by the CLI and the portal.

A record is ``{"parameter": {...}, "value": <the metric's JSON text>, "trialJobId": ...}``
as ``GET /api/v1/nni/export-data`` answers; ``nni-remote experiment import``
reads the JSON form back.
"""
from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Optional

DEFAULT_KEY = "default"


def metric_value(value: Any, key: str = DEFAULT_KEY) -> Optional[float]:
    """The number under ``key`` of a metric (a number is its own ``default``); None if there is none."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict):
        value = value.get(key)
    elif key != DEFAULT_KEY:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def by_key(records: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """``records`` with ``value`` replaced by the JSON text of the number under ``key``.

    The default key keeps the whole metric (as NNI exports it); another key keeps
    only the trials that reported it, so an import feeds the tuner that number.
    """
    if key == DEFAULT_KEY:
        return records
    out = []
    for r in records:
        number = metric_value(r["value"], key)
        if number is not None:
            out.append({**r, "value": json.dumps(number)})
    return out


def to_csv(records: list[dict[str, Any]], intermediate: bool = False) -> str:
    """nnictl's CSV: one column per parameter, then the metric (``reward`` or one per dict key)."""
    rows: list[dict[str, Any]] = []
    for r in records:
        row: dict[str, Any] = {}
        if intermediate:
            row["intermediate"] = "[" + ",".join(str(v) for v in r.get("intermediate", [])) + "]"
        params = r.get("parameter")
        if isinstance(params, dict):
            row.update(params)   # a nested choice's dict is written as Python writes it, as nnictl does
        else:
            row["parameter"] = json.dumps(params)
        try:
            value = json.loads(r["value"]) if isinstance(r["value"], str) else r["value"]
        except ValueError:
            value = r["value"]
        if isinstance(value, dict):
            row.update(value)
        else:
            row["reward"] = value
        row["trialJobId"] = r["trialJobId"]
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")
