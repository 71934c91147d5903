"""What the portal shows beyond NNI's REST: metric keys, best-so-far, config, importance, export.

Routes under ``/api/v1/nni-remote/insights/``. Answers are summaries, sized
for experiments of many thousand trials: the best-so-far series is thinned to
a few hundred points (every improvement kept), slices to a few thousand.
Importance (``importance.py``) runs on a worker thread and is cached per
metric key until another trial finishes; a request waits for it briefly and
otherwise answers ``status: "computing"`` (the portal polls).
"""
from __future__ import annotations

import json
import math
import threading
from typing import Any, Optional

from flask import Blueprint, Response, current_app, request

from nni_remote.config.loader import masked
from nni_remote.errors import TrialNotFound
from nni_remote.exports import DEFAULT_KEY, by_key, metric_value, to_csv
from nni_remote.server import importance
from nni_remote.server.extra import maximize, reply
from nni_remote.server.rest import controller, error
from nni_remote.server.views import conditional, fingerprint, views, views_digest

bp = Blueprint("nni_remote_insights", __name__)
PROGRESS_POINTS = 400
TOP = 10
WAIT_S = 2.0


def _key() -> str:
    return request.args.get("key") or DEFAULT_KEY


def finished(snap: Any) -> list[tuple[Any, Any]]:
    """(trial, decoded final metric) of the SUCCEEDED trials of a snapshot, by sequence."""
    return [(t, t.final_value) for t in snap.trials if t.status == "SUCCEEDED" and t.final is not None]


def numeric_keys(values: list[Any]) -> list[str]:
    """The keys with a number in some final metric, ``default`` first."""
    keys: dict[str, None] = {}
    for v in values:
        if isinstance(v, dict):
            keys.update((k, None) for k, x in v.items() if metric_value(x, DEFAULT_KEY) is not None)
        elif metric_value(v) is not None:
            keys[DEFAULT_KEY] = None
    return [DEFAULT_KEY] * (DEFAULT_KEY in keys) + sorted(k for k in keys if k != DEFAULT_KEY)


def thin(points: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most about ``limit`` points: evenly spaced ones plus every improvement of the best."""
    if len(points) <= limit:
        return points
    step = math.ceil(len(points) / limit)
    return [p for i, p in enumerate(points) if i % step == 0 or p["improved"] or i == len(points) - 1]


@bp.get("/summary")
def summary() -> Response:
    """Metric keys; the chosen key's value and best-so-far per finished trial (thinned) and its top trials."""
    key = _key()
    snap = controller().snapshot()
    cache = views()
    tag = fingerprint(snap.trials)
    text = cache.answer(("summary", key, tag), lambda: reply(_summary(snap, key, cache)).get_data())
    return conditional(Response(text, mimetype="application/json"), views_digest(f"{tag}-summary-{key}".encode()))


def best_so_far(rows: list[tuple[Any, Any]], key: str, maxi: bool) -> list[dict[str, Any]]:
    """Per finished trial with a number under ``key``: its value, the best so far, whether it improved it."""
    points: list[dict[str, Any]] = []
    best: Optional[float] = None
    for t, value in rows:
        v = metric_value(value, key)
        if v is None:
            continue
        improved = best is None or (v > best if maxi else v < best)
        best = v if improved else best
        points.append({"sequenceId": t.seq, "trialJobId": t.id, "value": v, "best": best, "improved": improved})
    return points


def _summary(snap: Any, key: str, cache: Any) -> dict[str, Any]:
    rows = finished(snap)
    maxi = maximize(snap.params)
    points = best_so_far(rows, key, maxi)
    by_id = {t.id: t for t, _ in rows}
    top = sorted(points, key=lambda p: p["value"], reverse=maxi)[:TOP]
    return {"key": key, "keys": numeric_keys([v for _, v in rows]) or [DEFAULT_KEY],
            "optimizeMode": "maximize" if maxi else "minimize", "finished": len(rows),
            "withKey": len(points), "progress": thin(points, PROGRESS_POINTS),
            "top": [{"trialJobId": p["trialJobId"], "sequenceId": p["sequenceId"], "value": p["value"],
                     "parameters": cache.parameters(by_id[p["trialJobId"]])} for p in top]}


@bp.get("/config")
def config() -> Response:
    """The experiment's config, read-only, secrets masked; the search space on its own."""
    params = dict(controller().snapshot(trials=False).params)
    space = params.pop("searchSpace", None)
    return conditional(reply({"config": masked(params), "searchSpace": masked(space)}))


class _Cache:
    """Importance per metric key, recomputed on a worker thread when the finished trials change."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results: dict[str, tuple[Any, dict[str, Any]]] = {}
        self.running: dict[str, threading.Event] = {}

    def get(self, key: str, signature: Any, job: Any) -> dict[str, Any]:
        with self.lock:
            cached = self.results.get(key)
            if cached is not None and cached[0] == signature:
                return cached[1]
            done = self.running.get(key)
            if done is None:
                done = self.running[key] = threading.Event()
                threading.Thread(target=self._run, args=(key, signature, job, done), daemon=True,
                                 name=f"importance-{key}").start()
        done.wait(WAIT_S)
        with self.lock:
            cached = self.results.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        if cached is not None:
            return {**cached[1], "stale": True}
        return {"status": "computing", "importances": [], "slices": {},
                "message": "Computing importance from the finished trials…"}

    def _run(self, key: str, signature: Any, job: Any, done: threading.Event) -> None:
        try:
            result = job()
        except Exception as exc:  # an evaluator's failure is shown, not a 500 on every poll
            result = {"status": "error", "importances": [], "slices": {},
                      "message": f"importance could not be computed: {type(exc).__name__}: {exc}"}
        with self.lock:
            self.results[key] = (signature, result)
            del self.running[key]
        done.set()


@bp.get("/importance")
def importance_view() -> Response:
    """Per-parameter importance (PED-ANOVA) and slice data of the finished trials, for one metric key."""
    key = _key()
    snap = controller().snapshot()
    params_of = views().parameters
    values = [(params_of(t), metric_value(v, key)) for t, v in finished(snap)]
    space = dict(snap.params.get("searchSpace") or {})
    maxi = maximize(snap.params)
    rows = [(p, v) for p, v in values if v is not None]
    signature = (len(rows), maxi, tuple(v for _, v in rows[-3:]))
    if len(rows) < importance.MIN_TRIALS:   # quick, and no thread or cache entry for a key nobody reports
        result = importance.compute(rows, space, maxi)
    else:
        cache = current_app.extensions.setdefault("nni_remote.importance", _Cache())   # one per manager
        result = cache.get(key, signature, lambda: importance.compute(rows, space, maxi))
    return conditional(reply({"key": key, "optimizeMode": "maximize" if maxi else "minimize", **result}))


@bp.get("/export")
def export() -> Response:
    """The succeeded trials (all, or ``trials=id,id,…``) as nnictl's JSON or CSV, for one metric key."""
    kind = request.args.get("format", "json")
    if kind not in ("json", "csv"):
        return error(f"format must be json or csv, not {kind!r}", 400)
    wanted = {t for t in (request.args.get("trials") or "").split(",") if t}
    snap = controller().snapshot()
    unknown = sorted(wanted - {t.id for t in snap.trials})
    if unknown:
        raise TrialNotFound(f"no trial {unknown[0]!r} in experiment {snap.id}")
    records = [{"parameter": t.parameters, "value": json.loads(t.final["data"]), "trialJobId": t.id}
               for t, _ in finished(snap) if not wanted or t.id in wanted]
    exp_id = snap.id
    records = by_key(records, _key())
    safe = "".join(c if c.isascii() and c.isalnum() else "_" for c in _key())   # a header holds ASCII only
    suffix = "" if _key() == DEFAULT_KEY else "-" + safe
    name = f"{exp_id}-trials{suffix}.{kind}"
    if kind == "csv":
        resp = Response(to_csv(records) + "\n", mimetype="text/csv")
    else:
        resp = reply(records)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp

