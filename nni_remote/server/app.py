"""The Flask app factory: NNI's REST API, nni-remote's extra routes, logs and the portal.

The agent routes have their own app and listener (server/agent.py): they are never served here.
"""
from __future__ import annotations

import gzip
import os
from typing import Any

from flask import Flask, Response, request

from nni_remote.common import memory
from nni_remote.server import access, errors, extra, insights, portal, rest, series
from nni_remote.services.base import read_local_chunk, safe_file_name
from trial_agent.files import MAX_READ

GZIP_MIN_BYTES = 16 * 1024
CORS_HEADERS = {"Access-Control-Allow-Headers": "Origin, X-Requested-With, Content-Type, Accept",
                "Access-Control-Allow-Methods": "PUT,POST,GET,DELETE,OPTIONS"}


def gzipped(resp: Response) -> Response:
    """Compress a large JSON or text answer for a client that accepts gzip (browsers do)."""
    if (resp.direct_passthrough or resp.is_streamed or resp.status_code != 200 or "Content-Encoding" in resp.headers
            or "gzip" not in request.headers.get("Accept-Encoding", "")
            or not (resp.mimetype == "application/json" or (resp.mimetype or "").startswith("text/"))):
        return resp
    data = resp.get_data()
    if len(data) < GZIP_MIN_BYTES:
        return resp
    resp.set_data(gzip.compress(data, compresslevel=5))
    resp.headers["Content-Encoding"] = "gzip"
    resp.vary.add("Accept-Encoding")
    return resp


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
    app.register_blueprint(series.bp, url_prefix="/api/v1/nni-remote/insights")
    app.register_blueprint(portal.bp)

    @app.after_request
    def _cors(resp: Response) -> Response:
        resp.headers.update(CORS_HEADERS)
        large = memory.is_large(resp)      # before gzip: what the answer cost to build
        resp = gzipped(resp)
        if large:
            resp.call_on_close(memory.release)
        return resp

    @app.get("/logs/<path:name>")
    def logs(name: str) -> Response:
        """The last 16 MiB of one of the manager's log files, by the same safe reader as trial files."""
        if not safe_file_name(name):
            return Response(f"{name!r} is not a log file name", status=404, mimetype="text/plain")
        try:
            return Response(read_local_chunk(os.path.join(manager.exp_dir, "log", name), MAX_READ).data,
                            mimetype="text/plain")
        except FileNotFoundError:
            return Response(f"no log file {name!r}", status=404, mimetype="text/plain")

    return app
