"""Agent routes under ``/api/agent/v1/``: every request needs the experiment's token.

A missing or wrong token gets 401 and nothing is stored (DESIGN.md, agent
protocol). Comparison is constant-time.
"""
from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from nni_remote.server.errors import error_body

bp = Blueprint("agent", __name__)


def _reply(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


@bp.before_request
def _authenticate() -> Response | None:
    token = current_app.config["MANAGER"].agent_token
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else ""
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        return _reply(error_body("missing or wrong agent token", "access_denied"), 401)
    if current_app.config["MANAGER"].controller is None:
        return _reply(error_body("the experiment is not running yet", "experiment_not_ready"), 503)
    return None


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.post("/poll")
def poll() -> Response:
    return _reply(current_app.config["MANAGER"].controller.hub.poll(_body()))  # UnknownMachine: 404


@bp.post("/events")
def events() -> Response:
    return _reply(current_app.config["MANAGER"].controller.hub.events(_body()))
