"""Chart data for the portal's Hyper-parameters and Metrics pages, downsampled on the server.

Routes under ``/api/v1/nni-remote/insights/``:

- ``params?key=&top=&limit=``: the finished trials with a final ``key`` for the
  parallel coordinates, best ``top`` percent of them; above ``limit`` lines
  (default :data:`PARAMS_LIMIT`) the best quarter of ``limit`` are always kept
  and the rest is an even sample of the others;
- ``metrics?key=&points=&curves=&curve_points=``: the final metric per trial
  and its best-so-far line (every improvement kept, so the best trial is always
  there), durations, and the intermediate curves of the latest ``curves``
  trials, each series at most ``points`` / ``curve_points`` long.

Answers say how many items there were before sampling, so the page can say
"1,000 of 10,000 trials". Both are cached per state of the trials and carry an
ETag (``views.py``).
"""
from __future__ import annotations

import math
from typing import Any, Callable

from flask import Blueprint, Response, request

from nni_remote.exports import DEFAULT_KEY, metric_value
from nni_remote.manager.store import now_ms
from nni_remote.server import paging
from nni_remote.server.extra import _intermediate, maximize, reply
from nni_remote.server.insights import best_so_far, finished, numeric_keys
from nni_remote.server.rest import controller
from nni_remote.server.views import conditional, fingerprint, views, views_digest

bp = Blueprint("nni_remote_series", __name__)
PARAMS_LIMIT = 1000
POINTS = 1000
CURVES = 60
CURVE_POINTS = 200


def sample(items: list[Any], limit: int, keep: Callable[[int, Any], bool] = lambda i, x: False) -> list[Any]:
    """At most about ``limit`` items in order: evenly spaced ones, the last one, and every one ``keep`` wants."""
    if len(items) <= limit:
        return items
    step = math.ceil(len(items) / limit)
    return [x for i, x in enumerate(items) if i % step == 0 or i == len(items) - 1 or keep(i, x)]


def _arg(name: str, default: int, high: int) -> int:
    value = paging._whole(request.args, name, 1, high)
    return default if value is None else value


def _cached(kind: str, args: tuple[Any, ...], make: Callable[[Any], dict[str, Any]]) -> Response:
    snap = controller().snapshot()
    tag = fingerprint(snap.trials)
    text = views().answer((kind, tag) + args, lambda: reply(make(snap)).get_data())
    return conditional(Response(text, mimetype="application/json"), views_digest(repr((tag, kind) + args).encode()))


@bp.get("/params")
def params() -> Response:
    """The parallel coordinates' trials: the best ``top`` % with a final ``key``, at most ``limit`` of them."""
    key = request.args.get("key") or DEFAULT_KEY
    top = _arg("top", 100, 100)
    limit = _arg("limit", PARAMS_LIMIT, paging.LIMIT_MAX)
    return _cached("params", (key, top, limit), lambda snap: _params(snap, key, top, limit))


def _params(snap: Any, key: str, top: int, limit: int) -> dict[str, Any]:
    rows = finished(snap)
    maxi = maximize(snap.params)
    parameters = views().parameters
    values = [(t, metric_value(v, key)) for t, v in rows]
    scored = [(t, v) for t, v in values if v is not None and isinstance(parameters(t), dict)]
    ranked = sorted(scored, key=lambda p: p[1], reverse=maxi)   # stable: ties keep their sequence order
    shown = ranked[:max(1, math.ceil(len(ranked) * top / 100))] if ranked else []
    if len(shown) > limit:
        best = limit // 4
        rest = shown[best:]
        shown = shown[:best] + sample(rest, max(1, limit - best - 1))[:limit - best]
    shown.sort(key=lambda p: p[0].seq)
    return {"key": key, "keys": numeric_keys([v for _, v in rows]) or [DEFAULT_KEY],
            "optimizeMode": "maximize" if maxi else "minimize", "withKey": len(ranked),
            "inTop": max(1, math.ceil(len(ranked) * top / 100)) if ranked else 0, "top": top,
            "trials": [{"trialJobId": t.id, "sequenceId": t.seq, "parameters": parameters(t), "value": v}
                       for t, v in shown]}


@bp.get("/metrics")
def metrics() -> Response:
    """Final metric and best-so-far per trial, durations, and the latest trials' intermediate curves, sampled."""
    key = request.args.get("key") or DEFAULT_KEY
    points = _arg("points", POINTS, paging.LIMIT_MAX)
    curves = _arg("curves", CURVES, 1000)
    curve_points = _arg("curve_points", CURVE_POINTS, paging.LIMIT_MAX)
    return _cached("metrics", (key, points, curves, curve_points),
                   lambda snap: _metrics(snap, key, points, curves, curve_points))


def _metrics(snap: Any, key: str, points: int, curves: int, curve_points: int) -> dict[str, Any]:
    rows = finished(snap)
    maxi = maximize(snap.params)
    now = now_ms()
    final = best_so_far(rows, key, maxi)
    durations = [{"trialJobId": t.id, "sequenceId": t.seq, "status": t.status,
                  "duration": ((t.end_time or now) - t.start_time) / 1000.0}
                 for t in snap.trials if t.start_time is not None and t.status != "WAITING"]
    longest = max(range(len(durations)), key=lambda i: durations[i]["duration"], default=-1)
    latest = [t for t in snap.trials if t.intermediate_count > 0][-curves:]
    lines = []
    for t in latest:
        pts = [(seq, metric_value(v, key)) for seq, v in sorted(_intermediate(t).items())]
        pts = [p for p in pts if p[1] is not None]
        if pts:
            shown = sample(pts, curve_points)
            lines.append({"trialJobId": t.id, "points": len(pts), "x": [p[0] for p in shown],
                          "y": [p[1] for p in shown]})
    return {"key": key, "keys": numeric_keys([v for _, v in rows]) or [DEFAULT_KEY],
            "optimizeMode": "maximize" if maxi else "minimize",
            "final": sample(final, points, lambda i, p: p["improved"]), "withKey": len(final),
            "durations": sample(durations, points, lambda i, d: i == longest), "timed": len(durations),
            "curves": lines}
