"""The Flask app factory: NNI's REST API, nni-remote's extra routes, the agent routes, logs and the portal."""
from __future__ import annotations

import os
from typing import Any

from flask import Flask, Response, send_from_directory

from nni_remote.server import access, agent, errors, extra, insights, portal, rest

CORS_HEADERS = {"Access-Control-Allow-Headers": "Origin, X-Requested-With, Content-Type, Accept",
                "Access-Control-Allow-Methods": "PUT,POST,GET,DELETE,OPTIONS"}


def create_app(manager: Any) -> Flask:
    """Build the app around a manager process object (``controller``, ``exp_dir``, ...)."""
    app = Flask("nni_remote", static_folder=None)
    app.config["MANAGER"] = manager
    app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024
    app.url_map.strict_slashes = False
    access.install(app, manager)
    errors.install(app)
    app.register_blueprint(rest.bp, url_prefix="/api/v1/nni")
    app.register_blueprint(extra.bp, url_prefix="/api/v1/nni-remote")
    app.register_blueprint(insights.bp, url_prefix="/api/v1/nni-remote/insights")
    app.register_blueprint(agent.bp, url_prefix="/api/agent/v1")
    app.register_blueprint(portal.bp)

    @app.after_request
    def _cors(resp: Response) -> Response:
        resp.headers.update(CORS_HEADERS)
        return resp

    @app.get("/logs/<path:name>")
    def logs(name: str) -> Response:
        return send_from_directory(os.path.join(manager.exp_dir, "log"), name, mimetype="text/plain")

    return app
