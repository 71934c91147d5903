"""nni-remote's own routes under ``/api/v1/nni-remote/``: what the portal and CLI need beyond NNI's API.

Overview (status, budget, best trials), trials with decoded parameters and
metrics, a trial's files and the tail of its logs, retrying trials, the
machines with their GPUs and health, and the OpenAPI document of the whole
API. Numbers are plain JSON: a metric that is NaN or infinite is sent as the
string ``"NaN"`` / ``"Infinity"`` and its ``scalar`` is null.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Optional

from flask import Blueprint, Response, request

from nni_remote.common.metrics import decode_data, scalar
from nni_remote.common.statuses import TRIAL_TERMINAL as TERMINAL
from nni_remote.errors import (BadRequest, TrialFileNotFound)
from nni_remote.manager.trials import Trial
from nni_remote.manager.updates import duration_seconds
from nni_remote.server import paging
from nni_remote.server.rest import controller, manager
from nni_remote.server.views import conditional, fingerprint, views, views_digest
from nni_remote.services.base import TrialFile, list_local_dir, read_local_chunk, safe_file_name

bp = Blueprint("nni_remote_extra", __name__)
TAIL_DEFAULT = 64 * 1024
TAIL_MAX = 1024 * 1024
STANDARD_FILES = ("trial.stdout", "trial.stderr", "trial.log")


def reply(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(plain(data), allow_nan=False), status=status, mimetype="application/json")


def plain(value: Any) -> Any:
    """``value`` with non-finite floats turned into strings, so any JSON parser reads it."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@bp.get("/openapi.json")
def openapi() -> Response:
    from nni_remote.server.openapi import document
    return reply(document())


# -- overview ---------------------------------------------------------------------
def maximize(params: dict[str, Any]) -> bool:
    from nni_remote.progress import _maximize
    return _maximize(params)




@bp.get("/overview")
def overview() -> Response:
    """Everything the portal's Overview and ``nni-remote top`` show, in one call."""
    snap = controller().snapshot()
    params, trials = snap.params, snap.trials
    maxi = maximize(params)
    counts, best = views().answer(("overview", fingerprint(trials), maxi), lambda: _ranked(trials, maxi))
    data = {
        "id": snap.id, "experimentName": params.get("experimentName"), "status": snap.status,
        "errors": list(snap.errors), "readonly": snap.readonly,
        "platform": (params.get("trainingService") or {}).get("platform"),
        "startTime": snap.profile.get("startTime"), "endTime": snap.profile.get("endTime"),
        "execDuration": snap.exec_duration,
        "maxExperimentDuration": params.get("maxExperimentDuration"),
        "maxExperimentDurationSeconds": duration_seconds(params.get("maxExperimentDuration")),
        "maxTrialNumber": params.get("maxTrialNumber"), "trialConcurrency": params.get("trialConcurrency"),
        "maxTrialDuration": params.get("maxTrialDuration"),
        "submittedTrials": len(trials), "trialCounts": counts,
        "finishedTrials": sum(n for s, n in counts.items() if s in TERMINAL),
        "optimizeMode": "maximize" if maxi else "minimize",
        "logDir": snap.exp_dir, "port": manager().port, "bestTrials": best,
    }
    return conditional(reply(data))


def _ranked(trials: Any, maxi: bool) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Trials per status, and the 10 best succeeded trials by their scalar final metric."""
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    finals = [(scalar(t.final_value), t) for t in trials if t.final is not None and t.status == "SUCCEEDED"]
    ranked = sorted(((v, t) for v, t in finals if v is not None), key=lambda p: p[0], reverse=maxi)
    return counts, [{"trialJobId": t.id, "sequenceId": t.seq, "value": v, "parameters": views().parameters(t)}
                    for v, t in ranked[:10]]


# -- trials -------------------------------------------------------------------------
def trial_view(t: Trial, parameters: bool = True) -> dict[str, Any]:
    """One trial, decoded for people: parameters as an object (None unless ``parameters``), the final metric as a value."""
    final = t.final_value if t.final is not None else None
    end = t.end_time
    duration = None
    if t.start_time is not None:
        from nni_remote.manager.store import now_ms
        duration = ((end or now_ms()) - t.start_time) / 1000.0 if t.status != "WAITING" else None
    return {"trialJobId": t.id, "sequenceId": t.seq, "status": t.status,
            "parameters": views().parameters(t) if parameters else None,
            "parameterSource": t.source, "finalMetric": final, "finalScalar": scalar(final),
            "submitTime": t.submit_time, "startTime": t.start_time, "endTime": end, "duration": duration,
            "machine": t.machine, "gpus": t.gpus, "message": t.message, "attempt": t.attempt,
            "exitCode": t.exit_code, "logPath": t.log_path, "intermediateCount": t.intermediate_count}


def _light_view(t: Trial) -> dict[str, Any]:
    return trial_view(t, parameters=False)


TRIAL_SORTS = frozenset({"trialJobId", "sequenceId", "status", "submitTime", "startTime", "endTime", "duration",
                         "finalScalar", "machine", "message", "attempt", "exitCode", "intermediateCount",
                         "parameters", "gpus"})


def _searchable(view: dict[str, Any]) -> str:
    """What the ``q`` filter of ``/trials`` looks in: id, status, parameters, machine, message, final metric."""
    return " ".join(str(x) for x in (view["trialJobId"], view["status"], json.dumps(view["parameters"]),
                                     view["machine"] or "", view["message"] or "", json.dumps(plain(view["finalMetric"]))))


@bp.get("/trials")
def trials() -> Response:
    """Every trial, or a page of them (``offset``, ``limit``, ``sort``, ``status``, ``q``: ``server/paging.py``)."""
    page = paging.page_args(request.args, TRIAL_SORTS)
    trials = controller().snapshot().trials
    cache = views()
    cache.forget({t.id for t in trials})
    tag = fingerprint(trials)

    def with_parameters(view: dict[str, Any], trial: Any) -> dict[str, Any]:
        return {**view, "parameters": cache.parameters(trial)}

    needs_parameters = bool(page.text) or (page.sort or "").lstrip("-") == "parameters"

    def ordered() -> tuple[list[dict[str, Any]], list[str]]:
        """The views (without parameters) of the matching trials in order; the metric keys of all trials."""
        light = [cache.view(t, _light_view) for t in trials]
        rows = [with_parameters(v, t) for v, t in zip(light, trials)] if needs_parameters else light
        found, _ = paging.apply(rows, paging.Page(sort=page.sort, statuses=page.statuses, text=page.text), _searchable)
        return found, paging.metric_keys([v["finalMetric"] for v in light])

    # The filtered, sorted list is kept per state of the trials: paging through it is a slice.
    found, keys = cache.answer(("trials", tag, page.sort, page.statuses, page.text), ordered)
    by_id = {t.id: t for t in trials}
    end = None if page.limit is None else page.offset + page.limit
    items = [with_parameters(v, by_id[v["trialJobId"]]) for v in found[page.offset:end]]
    total = len(found)
    resp = reply(items)
    resp.headers[paging.TOTAL_HEADER] = str(total)
    resp.headers["X-Trials-Count"] = str(len(trials))
    resp.headers["X-Metric-Keys"] = json.dumps(keys)
    return conditional(resp, f"{tag}-{total}-{len(trials)}-{views_digest(resp.get_data())}")


@bp.get("/trials/<trial_id>")
def trial_detail(trial_id: str) -> Response:
    snap = controller().snapshot(trial_id=trial_id)
    trial = snap.trial(trial_id)
    view = trial_view(trial)
    view["intermediate"] = [{"sequence": k, "value": v, "scalar": scalar(v)}
                            for k, v in sorted(_intermediate(trial).items())]
    view["hyperParameters"] = [trial.parameter]
    machine = snap.machine(trial.machine)
    view["address"] = machine["address"] if machine is not None else None
    return conditional(reply(view))


def _intermediate(trial: Trial) -> dict[int, Any]:
    """A trial's intermediate results by sequence: in memory while it is active, else from the store."""
    if trial.history or trial.status not in TERMINAL:
        return trial.history
    history: dict[int, Any] = {}
    for record in controller().store.metrics(trial_id=trial.id, kind="PERIODICAL"):
        history.setdefault(record["sequence"], decode_data(record["data"]))
    return history


def _local_dir(trial: Trial) -> Optional[str]:
    """The trial's directory when it is on this machine (local mode, or a view of one)."""
    path = trial.log_path or ""
    return path if path and os.path.isabs(path) and os.path.isdir(path) else None


@bp.get("/trials/<trial_id>/files")
def trial_files(trial_id: str) -> Response:
    """The regular files of a trial's directory (on its machine), with sizes (links and FIFOs left out)."""
    snap = controller().snapshot(trial_id=trial_id)
    trial = snap.trial(trial_id)
    machine, log_path = trial.machine, trial.log_path
    files: list[TrialFile] = []
    local = _local_dir(trial)
    listed = True
    if machine is not None and snap.has_service:
        files = manager().service_gate.list_files(machine, trial_id)
    elif local is not None:  # a viewed experiment whose trials ran on this machine
        files = list_local_dir(local)
    else:
        listed = False
        files = [TrialFile(name, None) for name in STANDARD_FILES] if machine else []
    return reply({"trialJobId": trial_id, "machine": machine, "directory": log_path or None,
                  "listed": listed, "files": [f.as_json() for f in files]})


@bp.get("/trials/<trial_id>/tail/<name>")
def trial_tail(trial_id: str, name: str) -> Response:
    """The last ``bytes`` bytes (default 64 KiB) of one of the trial's files, as text.

    With ``offset``, up to ``bytes`` bytes from that offset instead (to follow a
    growing file: pass the ``size`` of the previous answer).
    A file the trial has not written yet answers 200 with ``exists: false`` (the
    portal polls this while the trial runs); an unknown trial is a 404; a link,
    FIFO or other non-regular file is refused with 403 (``trial_agent/files.py``).
    """
    try:
        size = min(max(int(request.args.get("bytes", TAIL_DEFAULT)), 1), TAIL_MAX)
        offset = request.args.get("offset")
        start = None if offset is None else max(int(offset), 0)
    except ValueError:
        raise BadRequest("bytes and offset must be whole numbers") from None
    name = {"stdout": "trial.stdout", "stderr": "trial.stderr"}.get(name, name)
    if not safe_file_name(name):
        raise BadRequest(f"{name!r} is not a file name in the trial's directory")
    snap = controller().snapshot(trial_id=trial_id)
    trial = snap.trial(trial_id)
    machine = trial.machine
    local = _local_dir(trial)
    if machine is None and local is None:
        raise TrialFileNotFound(f"trial {trial_id} has not started: it has no files yet")
    try:
        if (machine is None or not snap.has_service) and local is not None:  # viewed, trials ran here
            chunk = read_local_chunk(os.path.join(local, name), size, start)
        else:
            chunk = manager().service_gate.tail_file(machine, trial_id, name, size, start)
    except (TrialFileNotFound, FileNotFoundError):  # not written yet: normal for a page that polls
        return reply({"trialJobId": trial_id, "name": name, "exists": False, "size": 0, "offset": 0, "next": 0,
                      "truncated": False, "text": ""})
    data, total, begin = chunk.data, chunk.size, chunk.offset
    return reply({"trialJobId": trial_id, "name": name, "exists": True, "size": total, "offset": begin,
                  "next": begin + len(data), "truncated": begin > 0 or begin + len(data) < total,
                  "text": data.decode("utf-8", "replace")})


@bp.post("/trials/<trial_id>/retry")
def retry_trial(trial_id: str) -> Response:
    """Run a finished trial's parameters again, as a new customized trial."""
    return reply(controller().retry_trial(trial_id))


@bp.post("/trials/retry-failed")
def retry_failed() -> Response:
    """Retry every FAILED trial that has not been retried yet (each once)."""
    return reply(controller().retry_failed())


# -- machines -----------------------------------------------------------------------
def _with_details(view: dict[str, Any]) -> dict[str, Any]:
    view["details"] = manager().service_gate.describe(view["name"])
    return view


@bp.get("/machines")
def machines() -> Response:
    return reply([_with_details(dict(v)) for v in controller().snapshot(trials=False).machines])


@bp.post("/machines/<name>/enable")
def enable_machine(name: str) -> Response:
    """Put a drained machine back into service (its start-failure count is reset)."""
    return reply(_with_details(controller().enable_machine(name)))
