"""The web portal (a minimal status page until the full portal lands)."""
from __future__ import annotations

import html
from typing import Any

from flask import Response


def index_page(manager: Any) -> Response:
    ctl = manager.controller
    status = "INITIALIZING" if ctl is None else ctl.status
    body = (f"<!doctype html><title>nni-remote {html.escape(manager.exp_id)}</title>"
            f"<h1>Experiment {html.escape(manager.exp_id)}</h1><p>Status: {html.escape(status)}</p>"
            "<p>REST API: <a href='api/v1/nni/trial-jobs'>/api/v1/nni/trial-jobs</a></p>")
    return Response(body, mimetype="text/html")
