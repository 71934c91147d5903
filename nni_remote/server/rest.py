"""NNI's REST API under ``/api/v1/nni`` (NNI-REFERENCE §3), shapes and quirks included.

Where NNI's behaviour is a bug, the route answers better but compatibly: an
unknown trial is a 404 with ``{"error": ...}`` (NNI: an empty 200 that makes its
own client raise TypeError), bad updates are refused with 400 instead of being
stored, read-only experiments answer 403.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from nni_remote.errors import ConfigError, ReadOnlyError, TrialNotFound
from nni_remote.manager import registry

bp = Blueprint("nni_rest", __name__)
VERSION = "0.1.0"
_EMPTY = ""


def json_response(data: Any, status: int = 200) -> Response:
    body = _EMPTY if data is _EMPTY else json.dumps(data)
    return Response(body, status=status, mimetype="application/json")


def error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


def manager() -> Any:
    return current_app.config["MANAGER"]


def controller() -> Any:
    ctl = manager().controller
    if ctl is None:
        raise ExperimentNotReady()
    return ctl


class ExperimentNotReady(Exception):
    """A route needs the experiment, but its config has not been posted yet."""


@bp.errorhandler(ExperimentNotReady)
def _not_ready(_: Exception) -> Response:
    return error("the experiment is still initializing: POST /experiment with its config first", 409)


@bp.errorhandler(ReadOnlyError)
def _read_only(exc: Exception) -> Response:
    return error(str(exc), 403)


@bp.errorhandler(TrialNotFound)
def _no_trial(exc: Exception) -> Response:
    return error(str(exc), 404)


@bp.errorhandler(ConfigError)
def _bad_config(exc: Exception) -> Response:
    return error(str(exc), 400)


def body_json() -> Any:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError as exc:
        raise ConfigError([("body", f"is not valid JSON: {exc}")])


# -- experiment -----------------------------------------------------------------
@bp.get("/version")
def version() -> Response:
    return Response(VERSION, mimetype="application/json")


@bp.get("/check-status")
def check_status() -> Response:
    ctl = manager().controller
    if ctl is None:
        return Response("INITIALIZING", mimetype="text/plain")
    # host and user names appear in errors: only for callers the access guard let in (server/access.py)
    return json_response({"status": ctl.status, "errors": list(ctl.errors) if g.get("authorized") else []})


@bp.get("/experiment")
def get_experiment() -> Response:
    ctl = controller()
    with ctl.lock:
        profile = dict(ctl.profile)
        profile["execDuration"] = ctl.exec_duration
        profile["nextSequenceId"] = ctl._next_seq()
    return json_response(profile)


@bp.put("/experiment")
def update_experiment() -> Response:
    body = body_json()
    params = body.get("params") if isinstance(body, dict) else None
    controller().update(request.args.get("update_type", ""), params)
    return json_response(_EMPTY)


@bp.post("/experiment")
def post_experiment() -> Response:
    return manager().accept_config(body_json())


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
        raise ConfigError([("body", 'must be a list of {"parameter": {...}, "value": ...}')])
    controller().import_data(data)
    return json_response(_EMPTY)


@bp.get("/experiment/imported-data")
def imported_data() -> Response:
    return json_response(controller().store.imported_data())


@bp.put("/experiment/cluster-metadata")
def cluster_metadata() -> Response:
    if body_json():
        return error("cluster metadata is a legacy kubeflow/frameworkcontroller setting; "
                     "nni-remote does not use it", 400)
    return json_response(_EMPTY)


# -- trials -----------------------------------------------------------------------
@bp.get("/job-statistics")
def job_statistics() -> Response:
    ctl = controller()
    counts: dict[str, int] = {}
    with ctl.lock:
        for trial in ctl.trials.values():
            counts[trial.status] = counts.get(trial.status, 0) + 1
    return json_response([{"trialJobStatus": s, "trialJobNumber": n} for s, n in counts.items()])


@bp.get("/trial-jobs")
def trial_jobs() -> Response:
    ctl = controller()
    status = request.args.get("status")
    with ctl.lock:
        jobs = [t.job_info() for t in sorted(ctl.trials.values(), key=lambda t: t.seq)
                if status is None or t.status == status]
    return json_response(jobs)


@bp.get("/trial-jobs/<trial_id>")
def trial_job(trial_id: str) -> Response:
    ctl = controller()
    with ctl.lock:
        trial = ctl.trials.get(trial_id)
        if trial is None:
            raise TrialNotFound(f"no trial {trial_id!r} in experiment {ctl.id}")
        return json_response(trial.job_info())


@bp.post("/trial-jobs")
def add_trial_job() -> Response:
    from nni_remote.manager.controller import BudgetExceeded
    params = body_json()
    if not isinstance(params, dict):
        raise ConfigError([("body", "must be a JSON object of parameters")])
    try:
        return json_response({"sequenceId": controller().add_customized_trial(params)})
    except BudgetExceeded as exc:
        return error(str(exc), 400)


@bp.delete("/trial-jobs/<trial_id>")
def kill_trial_job(trial_id: str) -> Response:
    controller().kill_trial(trial_id)
    return json_response(_EMPTY)


# -- metrics ----------------------------------------------------------------------
@bp.get("/metric-data")
@bp.get("/metric-data/<trial_id>")
@bp.get("/metric-data/<trial_id>/<path:_extra>")
def metric_data(trial_id: str | None = None, _extra: str = "") -> Response:
    return json_response(controller().store.metrics(trial_id=trial_id, kind=request.args.get("type")))


@bp.get("/metric-data-range/<low>/<high>")
def metric_data_range(low: str, high: str) -> Response:
    ctl = controller()
    try:
        lo, hi = int(low), int(high)
    except ValueError:
        return json_response([])
    with ctl.lock:
        ids = [t.id for t in ctl.trials.values() if lo <= t.seq <= hi]
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
    ctl = controller()
    with ctl.lock:
        rows = [{"parameter": t.parameters, "value": json.loads(t.final["data"]), "trialJobId": t.id}
                for t in sorted(ctl.trials.values(), key=lambda t: t.seq)
                if t.status == "SUCCEEDED" and t.final is not None]
    return json_response(rows)


@bp.get("/trial-file/<trial_id>/<path:name>")
def trial_file(trial_id: str, name: str) -> Response:
    """A trial's file (first 16 MiB), read by server/trial_files.py: regular files only, never a link."""
    from nni_remote.server import trial_files
    ctl = controller()
    with ctl.lock:
        trial = ctl.trials.get(trial_id)
        if trial is None:
            raise TrialNotFound(f"no trial {trial_id!r} in experiment {ctl.id}")
        machine = trial.machine
    try:
        filename = trial_files.canonical_name(name)
    except trial_files.UnsafeFile:
        filename = None
    if filename is None or (machine is None and ctl.service is not None):
        return error(f"trial {trial_id} has no file {name!r} (it has not started, or the name is invalid)", 404)
    try:
        data, _, _ = trial_files.read(manager(), machine, trial_id, filename, trial_files.MAX_READ, 0)
    except FileNotFoundError:
        return error(f"trial {trial_id} has no file {filename!r} on {machine}", 404)
    except trial_files.UnsafeFile as exc:
        return error(f"trial {trial_id}: {exc}", 403)
    except trial_files.Busy as exc:
        return error(str(exc), 503)
    except (OSError, ValueError) as exc:
        return error(f"cannot read {filename!r} of trial {trial_id} on {machine}: {exc}", 502)
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
                 "directories yourself", 400 if task_id is None else 404)

