"""NNI's REST API under ``/api/v1/nni`` (NNI-REFERENCE §3), shapes and quirks included.

Where NNI's behaviour is a bug, the route answers better but compatibly: an
unknown trial is a 404 with ``{"error": ..., "code": "trial_not_found"}`` (NNI:
an empty 200 that makes its own client raise TypeError), bad updates are
refused with 400 instead of being stored, read-only experiments answer 403.
Errors are raised as project exceptions and answered by ``server/errors.py``.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterator

from flask import Blueprint, Response, current_app, g, request, stream_with_context

from nni_remote import compact_json
from nni_remote.common import registry
from nni_remote.errors import BadRequest, ExperimentNotReady, TrialFileNotFound, Unsupported
from nni_remote.server import paging
from nni_remote.server.errors import error as error
from nni_remote.services.base import safe_file_name

bp = Blueprint("nni_rest", __name__)
VERSION = "0.1.0"
_EMPTY = ""


def json_response(data: Any, status: int = 200) -> Response:
    body = _EMPTY if data is _EMPTY else compact_json.dumps(data)   # NNI's bytes
    return Response(body, status=status, mimetype="application/json")


def manager() -> Any:
    return current_app.config["MANAGER"]


def controller() -> Any:
    ctl = manager().controller
    if ctl is None:
        raise ExperimentNotReady()
    return ctl


def body_json() -> Any:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError as exc:
        raise BadRequest([("body", f"is not valid JSON: {exc}")]) from None


# -- experiment -----------------------------------------------------------------
@bp.get("/version")
def version() -> Response:
    return Response(VERSION, mimetype="application/json")


@bp.get("/check-status")
def check_status() -> Response:
    ctl = manager().controller
    if ctl is None:
        return Response("INITIALIZING", mimetype="text/plain")
    status, errors = ctl.status_snapshot()
    # host and user names appear in errors: only for callers the access guard let in (server/access.py)
    return json_response({"status": status, "errors": errors if g.get("authorized") else []})


@bp.get("/experiment")
def get_experiment() -> Response:
    return json_response(controller().profile_snapshot())


@bp.put("/experiment")
def update_experiment() -> Response:
    body = body_json()
    params = body.get("params") if isinstance(body, dict) else None
    controller().update(request.args.get("update_type", ""), params)
    return json_response(_EMPTY)


@bp.post("/experiment")
def post_experiment() -> Response:
    answer = manager().accept_config(body_json())
    return json_response(_EMPTY if answer is None else answer)


@bp.delete("/experiment")
def delete_experiment() -> Response:
    manager().shutdown_soon()
    return json_response(_EMPTY)


@bp.get("/experiment-metadata")
def experiment_metadata() -> Response:
    return json_response(registry.get_entry(manager().exp_id) or {})


@bp.get("/experiments-info")
def experiments_info() -> Response:
    return json_response(list(registry.all_entries().values()))


@bp.post("/experiment/import-data")
def import_data() -> Response:
    data = body_json()
    if not isinstance(data, list) or not all(isinstance(d, dict) and isinstance(d.get("parameter"), dict)
                                             and "value" in d for d in data):
        raise BadRequest([("body", 'must be a list of {"parameter": {...}, "value": ...}')])
    controller().import_data(data)
    return json_response(_EMPTY)


@bp.get("/experiment/imported-data")
def imported_data() -> Response:
    return json_response(controller().store.imported_data())


@bp.put("/experiment/cluster-metadata")
def cluster_metadata() -> Response:
    if body_json():
        raise Unsupported("cluster metadata is a legacy kubeflow/frameworkcontroller setting; "
                          "nni-remote does not use it")
    return json_response(_EMPTY)


# -- trials -----------------------------------------------------------------------
@bp.get("/job-statistics")
def job_statistics() -> Response:
    counts: dict[str, int] = {}
    for trial in controller().snapshot().trials:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    return json_response([{"trialJobStatus": s, "trialJobNumber": n} for s, n in counts.items()])


@bp.get("/trial-jobs")
def trial_jobs() -> Response:
    status = request.args.get("status")
    cache = current_app.extensions.setdefault("nni_remote.job_text", {})
    texts = [_job_text(t, cache) for t in controller().snapshot().trials if status is None or t.status == status]
    return Response("[" + ",".join(texts) + "]", mimetype="application/json")


def _job_text(trial: Any, cache: dict[str, tuple[tuple[Any, ...], str]]) -> str:
    """A trial's ``job_info`` as JSON text, encoded again only when something it shows changed."""
    key = (trial.status, trial.seq, trial.submit_time, trial.start_time, trial.end_time, trial.message,
           trial.machine, trial.attempt, trial.log_path, trial.final is not None, trial.parameter,
           None if trial.gpus is None else tuple(trial.gpus))
    hit = cache.get(trial.id)
    if hit is not None and hit[0] == key:
        return hit[1]
    text = compact_json.dumps(trial.job_info())
    cache[trial.id] = (key, text)
    return text


@bp.get("/trial-jobs/<trial_id>")
def trial_job(trial_id: str) -> Response:
    return json_response(controller().snapshot(trial_id=trial_id).trial(trial_id).job_info())


@bp.post("/trial-jobs")
def add_trial_job() -> Response:
    params = body_json()
    if not isinstance(params, dict):
        raise BadRequest([("body", "must be a JSON object of parameters")])
    return json_response({"sequenceId": controller().add_customized_trial(params)})


@bp.delete("/trial-jobs/<trial_id>")
def kill_trial_job(trial_id: str) -> Response:
    controller().kill_trial(trial_id)
    return json_response(_EMPTY)


# -- metrics ----------------------------------------------------------------------
@bp.get("/metric-data")
@bp.get("/metric-data/<trial_id>")
@bp.get("/metric-data/<trial_id>/<path:_extra>")
def metric_data(trial_id: str | None = None, _extra: str = "") -> Response:
    """NNI's metric rows; ``offset`` and ``limit`` (not NNI's) page them, in the order they were stored."""
    page = paging.page_args(request.args, frozenset())
    store, kind = controller().store, request.args.get("type")
    if page.paged or trial_id is not None:
        return json_response(store.metrics(trial_id=trial_id, kind=kind, offset=page.offset, limit=page.limit))
    return Response(stream_with_context(_stream_metrics(store, kind)), mimetype="application/json")


_METRIC_KEYS = ("timestamp", "trialJobId", "parameterId", "type", "sequence", "data")


def _stream_metrics(store: Any, kind: str | None) -> Iterator[str]:
    """A JSON list of metric records, written a chunk of rows at a time (memory stays flat).

    SQLite writes each record's JSON (``Store.iter_metric_json``) where it can;
    compact_json writes the rest, and every record where SQLite has no JSON functions.
    """
    try:
        chunks = store.iter_metric_json(kind=kind)
        rows = next(chunks, None)
    except sqlite3.OperationalError:
        chunks, rows = None, None
    first = True
    yield "["
    if chunks is None:
        for plain in store.iter_metrics(kind=kind):
            text = compact_json.dumps([dict(zip(_METRIC_KEYS, row)) for row in plain])[1:-1]
            if text:
                yield text if first else "," + text
                first = False
    while rows:
        text = ",".join(row[0] if row[0] is not None else compact_json.dumps(dict(zip(_METRIC_KEYS, row[1:])))
                        for row in rows)
        yield text if first else "," + text
        first = False
        rows = next(chunks, None)
    yield "]"


@bp.get("/metric-data-range/<low>/<high>")
def metric_data_range(low: str, high: str) -> Response:
    ctl = controller()
    try:
        lo, hi = int(low), int(high)
    except ValueError:
        return json_response([])
    ids = [t.id for t in ctl.snapshot().trials if lo <= t.seq <= hi]
    return json_response(ctl.store.metrics(trial_ids=ids) if ids else [])


@bp.get("/metric-data-latest")
def metric_data_latest() -> Response:
    latest: dict[str, dict[str, Any]] = {}
    out = []
    for record in controller().store.metrics():
        if record["type"] == "PERIODICAL":
            latest[record["trialJobId"]] = record
        else:
            out.append(record)
    return json_response(out + list(latest.values()))


@bp.get("/export-data")
def export_data() -> Response:
    rows = [{"parameter": t.parameters, "value": json.loads(t.final["data"]), "trialJobId": t.id}
            for t in controller().snapshot().trials if t.status == "SUCCEEDED" and t.final is not None]
    return json_response(rows)


_FILE_ALIASES = {"stdout": "trial.stdout", "stderr": "trial.stderr"}


@bp.get("/trial-file/<trial_id>/<path:name>")
def trial_file(trial_id: str, name: str) -> Response:
    """A trial's file (first 16 MiB): regular files only, never through a link (``trial_agent/files.py``)."""
    machine = controller().snapshot(trial_id=trial_id).trial(trial_id).machine
    if machine is None or not safe_file_name(name):
        raise TrialFileNotFound(f"trial {trial_id} has no file {name!r} (it has not started, or the name is invalid)")
    filename = _FILE_ALIASES.get(name, name)
    data = manager().service_gate.read_file(machine, trial_id, filename)
    if not data:
        return Response(f"{name} is empty.", mimetype="text/plain")
    try:
        return Response(data.decode("utf-8"), mimetype="text/plain")
    except UnicodeDecodeError:
        return Response(data, mimetype="application/octet-stream")


# -- tensorboard (not supported) ------------------------------------------------------
@bp.get("/tensorboard-tasks")
def tensorboard_tasks() -> Response:
    return json_response([])


@bp.delete("/tensorboard-tasks")
def delete_tensorboard_tasks() -> Response:
    return json_response(_EMPTY)


@bp.route("/tensorboard", methods=["POST"])
@bp.route("/tensorboard/<task_id>", methods=["GET", "PUT", "DELETE"])
def tensorboard(task_id: str | None = None) -> Response:
    return error("tensorboard tasks are not supported by nni-remote; run tensorboard on the trial "
                 "directories yourself", 400 if task_id is None else 404, Unsupported.code)

