"""The one exception→HTTP answer of the server: every error body is JSON with a ``code``.

``{"error": "<message naming what and what to do>", "code": "<machine-readable>"}``.
The status and code of a project error come from its class
(:mod:`nni_remote.errors`); an HTTP error of Flask itself under ``/api`` (an
unknown route, a wrong method) gets ``code`` ``http_<status>``; anything else
is a bug and answers 500 with code ``internal`` and its cause, never an HTML page.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Union

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from nni_remote import compact_json
from nni_remote.errors import InternalError, NniRemoteError

log = logging.getLogger("nni_remote.server")
_STATUS_CODES = {400: "bad_request", 401: "access_denied", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 413: "too_large", 502: "service_error",
                 503: "unavailable", 504: "service_timeout"}


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"error": message, "code": code}


def error(message: str, status: int, code: Optional[str] = None) -> Response:
    """An error answer written by a route itself (``code`` defaults to one named after the status)."""
    return Response(compact_json.dumps(error_body(message, code or _STATUS_CODES.get(status, f"http_{status}"))),
                    status=status, mimetype="application/json")   # compact, as NNI's {"error":...}


def answer(exc: NniRemoteError) -> Response:
    """The answer to a project error, from its class's row of the table."""
    return error(str(exc), exc.http_status, exc.code)


def install(app: Flask) -> None:
    """Register the table's handlers on the app (every blueprint shares them)."""

    @app.errorhandler(NniRemoteError)
    def _project_error(exc: NniRemoteError) -> Response:
        return answer(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Union[Response, HTTPException]:
        if not request.path.startswith("/api/"):
            return exc  # the portal's pages keep Flask's own
        status = exc.code or 500
        return error(exc.description or exc.name, status, _STATUS_CODES.get(status, f"http_{status}"))

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return answer(InternalError(f"{request.method} {request.path} failed: {exc.__class__.__name__}: {exc}"))
