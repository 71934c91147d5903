"""Paging of whole-experiment lists: ``offset``, ``limit``, ``sort``, ``status`` and ``q`` query arguments.

A paged answer keeps the shape of the unpaged one (a JSON list); the number of
items before paging is in the ``X-Total-Count`` header, so clients that know
nothing of paging read the same body. Without ``offset``/``limit`` every item
is returned, as before.

- ``status``: one status or several, comma-separated (``RUNNING,WAITING``);
- ``q``: case-insensitive text that an item's searchable text must contain;
- ``sort``: a field of the items, ``-field`` for descending; ``metric:<key>``
  sorts by that key of the final metric (``default`` for a plain number).
  Items without a value sort last in either direction; ties keep their order;
- ``offset`` (from 0) and ``limit`` (1 .. :data:`LIMIT_MAX`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from nni_remote.errors import BadRequest

LIMIT_MAX = 10000
TOTAL_HEADER = "X-Total-Count"


@dataclass(frozen=True)
class Page:
    """The paging arguments of one request."""

    offset: int = 0
    limit: Optional[int] = None
    sort: Optional[str] = None
    statuses: Optional[frozenset[str]] = None
    text: str = ""

    @property
    def paged(self) -> bool:
        return self.offset > 0 or self.limit is not None


def _whole(args: Mapping[str, str], name: str, low: int, high: Optional[int]) -> Optional[int]:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest([(name, f"must be a whole number, not {raw!r}")]) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest([(name, f"must be {bound}, not {value}")])
    return value


def page_args(args: Mapping[str, str], sortable: frozenset[str]) -> Page:
    """Read and check the paging arguments; BadRequest names the argument and what it accepts."""
    sort = args.get("sort") or None
    if sort is not None:
        field = sort.lstrip("-")
        if field not in sortable and not (field.startswith("metric:") and len(field) > 7):
            raise BadRequest([("sort", f"{sort!r} is not a sortable field; use one of "
                                       f"{', '.join(sorted(sortable))} or metric:<key> (prefix - for descending)")])
    statuses = frozenset(s.strip() for s in args["status"].split(",") if s.strip()) if args.get("status") else None
    return Page(offset=_whole(args, "offset", 0, None) or 0, limit=_whole(args, "limit", 1, LIMIT_MAX), sort=sort,
                statuses=statuses, text=(args.get("q") or "").strip().lower())


def metric_key(value: Any, key: str) -> Optional[float]:
    """The number under ``key`` of a metric value (``default`` is the value itself when it is a number)."""
    if isinstance(value, dict):
        value = value.get(key)
    elif key != "default":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def metric_keys(values: list[Any]) -> list[str]:
    """The keys with a number in some metric value, ``default`` (a plain number) first."""
    keys: dict[str, None] = {}
    for value in values:
        if isinstance(value, dict):
            keys.update((k, None) for k, x in value.items() if metric_key({k: x}, k) is not None)
        elif metric_key(value, "default") is not None:
            keys["default"] = None
    return ["default"] * ("default" in keys) + sorted(k for k in keys if k != "default")


def apply(items: list[dict[str, Any]], page: Page,
          searchable: Callable[[dict[str, Any]], str]) -> tuple[list[dict[str, Any]], int]:
    """Filter, sort and cut ``items``; returns (the page, how many matched before cutting)."""
    if page.statuses is not None:
        items = [i for i in items if i.get("status") in page.statuses]
    if page.text:
        items = [i for i in items if page.text in searchable(i).lower()]
    if page.sort:
        field = page.sort.lstrip("-")
        descending = page.sort.startswith("-")
        if field.startswith("metric:"):
            key = field[7:]
            value_of: Callable[[dict[str, Any]], Any] = lambda i: metric_key(i.get("finalMetric"), key)
        else:
            value_of = lambda i: i.get(field)
        present = [i for i in items if value_of(i) is not None]
        missing = [i for i in items if value_of(i) is None]
        try:
            present.sort(key=value_of, reverse=descending)
        except TypeError:  # mixed types: compare as text
            present.sort(key=lambda i: json.dumps(value_of(i), sort_keys=True), reverse=descending)
        items = present + missing
    total = len(items)
    end = None if page.limit is None else page.offset + page.limit
    return items[page.offset:end], total
