"""The web portal: one page (a Jinja template), one script and one stylesheet.

The page is an SPA over the JSON routes (``/api/v1/nni`` and
``/api/v1/nni-remote``) that polls them to stay live: ``portal.js`` is its
core, ``overview.js``, ``trials.js`` and ``analysis.js`` its pages, ``parcoords.js`` the
SVG parallel coordinates (no WebGL needed). Charts use plotly.js
from the installed ``plotly`` Python package (``plotly/package_data``), served
as ``/static/plotly.min.js``: no CDN, nothing fetched from outside, no
third-party JavaScript in this repository. The script builds the DOM with
``textContent``, so every string from users, trials or machines is escaped.
"""
from __future__ import annotations

import os
from typing import Optional

from flask import Blueprint, Response, abort, current_app, render_template, send_file, send_from_directory

bp = Blueprint("portal", __name__, template_folder="templates")
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
SCRIPTS = ("portal.js", "parcoords.js", "overview.js", "trials.js", "analysis.js")   # in load order: the core first
ASSETS = SCRIPTS + ("portal.css",)
POLL_MS = 2000


def plotly_js() -> Optional[str]:
    """Path of plotly.min.js in the installed plotly package (None if plotly is not installed)."""
    try:
        import plotly
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    return path if os.path.isfile(path) else None


def _asset_version() -> str:
    stamps = [os.path.getmtime(os.path.join(STATIC_DIR, n)) for n in ASSETS]
    return str(int(max(stamps)))


@bp.get("/")
def index() -> Response:
    manager = current_app.config["MANAGER"]
    from nni_remote.server.rest import VERSION
    html = render_template("index.html", exp_id=manager.exp_id, version=VERSION, poll_ms=POLL_MS,
                           asset_version=_asset_version(), has_plotly=plotly_js() is not None,
                           scripts=SCRIPTS)
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'")
    return resp


@bp.get("/static/<name>")
def static(name: str) -> Response:
    if name == "plotly.min.js":
        path = plotly_js()
        if path is None:
            abort(404, "plotly is not installed: `pip install plotly` for the portal's charts")
        return send_file(path, mimetype="application/javascript", max_age=24 * 3600, conditional=True)
    if name not in ASSETS:
        abort(404)
    return send_from_directory(STATIC_DIR, name, max_age=0)
