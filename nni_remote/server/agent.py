"""The agent endpoint: its own listener, serving ``/api/agent/v1/poll`` and ``/events`` and nothing else.

SSH reverse tunnels and direct agents reach this listener only, so the REST
API and the portal are never reachable from a worker (docs/security.md). Each
request must carry the bearer credential of one machine
(``manager.credentials``); a missing or unknown one gets 401 and nothing is
stored, and a body that names another machine gets 403. The hub then accepts
events only for runs placed on that machine. Comparison is constant-time.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request

from nni_remote.server import errors
from nni_remote.server.errors import error_body

bp = Blueprint("agent", __name__)
PREFIX = "/api/agent/v1"


def create_agent_app(manager: Any) -> Flask:
    """The WSGI app of the agent listener (agent routes only)."""
    app = Flask("nni_remote_agents", static_folder=None)
    app.config["MANAGER"] = manager
    app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024
    errors.install(app)
    app.register_blueprint(bp, url_prefix=PREFIX)
    return app


def _reply(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


@bp.before_request
def _authenticate() -> Response | None:
    manager = current_app.config["MANAGER"]
    header = request.headers.get("Authorization", "")
    machine = manager.credentials.machine_for(header[7:]) if header.startswith("Bearer ") else None
    if machine is None:
        return _reply(error_body("missing or wrong agent credential", "access_denied"), 401)
    g.machine = machine
    if _body().get("machine") != machine:
        return _reply(error_body(f"this credential belongs to machine {machine!r}: it cannot speak for "
                                 f"{_body().get('machine')!r}", "forbidden"), 403)
    if manager.controller is None:
        return _reply(error_body("the experiment is not running yet", "experiment_not_ready"), 503)
    return None


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    return data if isinstance(data, dict) else {}


@bp.post("/poll")
def poll() -> Response:
    return _reply(current_app.config["MANAGER"].controller.hub.poll(_body(), g.machine))  # UnknownMachine: 404


@bp.post("/events")
def events() -> Response:
    return _reply(current_app.config["MANAGER"].controller.hub.events(_body(), g.machine))
