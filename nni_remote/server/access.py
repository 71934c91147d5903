"""Who may use the portal and the REST API.

A manager that listens only on loopback needs no token: only this machine's
users can reach it (NNI's own manager has no authentication at all). One that
listens elsewhere (``--host 0.0.0.0``, a LAN address, or an extra address for
agents in direct mode) generates a token at start, prints it Jupyter-style
(``http://HOST:PORT/?token=...``) and writes it to ``<exp_dir>/.portal-token``
(mode 0600) so the local ``Experiment`` and CLI pick it up. Every request then
needs it, except ``GET /api/v1/nni/check-status`` (the launcher's liveness
probe) and the agent routes, which check their own token.

A token is accepted as ``Authorization: Bearer <token>``, as ``?token=`` (a
visit to the portal with it sets a cookie and redirects to the clean URL), or
as that cookie (``HttpOnly``, ``SameSite=Strict``). Comparison is
constant-time. Independently of the token, a state-changing request from
another web origin (a page elsewhere posting to this manager) is refused.
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from typing import Any, Iterable, Optional
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, redirect, request

from nni_remote.common.tokens import TOKEN_FILE as TOKEN_FILE
from nni_remote.common.tokens import read_token as read_token

OPEN_PATHS = ("/api/v1/nni/check-status", "/api/v1/nni/check-status/")
AGENT_PREFIX = "/api/agent/"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def setup_token(hosts: Iterable[str], exp_dir: str) -> Optional[str]:
    """The portal token for a manager listening on ``hosts`` (None: loopback only).

    Writes it to ``<exp_dir>/.portal-token`` (0600); removes a stale file when
    no token is needed.
    """
    path = os.path.join(exp_dir, TOKEN_FILE)
    if all(is_loopback(h) for h in hosts if h):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return None
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def cookie_name(port: int) -> str:
    return f"nni-remote-token-{port}"  # cookies ignore ports: one name per manager port


def install(app: Flask, manager: Any) -> None:
    """Guard every route of ``app`` as described in the module docstring."""

    @app.before_request
    def _guard() -> Any:
        path = request.path
        if path.startswith(AGENT_PREFIX):
            return None
        if request.method not in SAFE_METHODS and _foreign_origin():
            return _deny("a request from another web origin may not change this experiment", 403)
        token = getattr(manager, "portal_token", None)
        if not token or path in OPEN_PATHS:
            return None
        given = request.args.get("token")
        if given is not None and _same(given, token):
            if request.method == "GET" and not path.startswith("/api/"):
                return _set_cookie_and_clean(manager)
            return None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and _same(header[7:].strip(), token):
            return None
        cookie = request.cookies.get(cookie_name(manager.port))
        if cookie is not None and _same(cookie, token):
            return None
        return _deny("this manager listens on a network address and needs its access token: open the URL "
                     "it printed at start (…/?token=…), send 'Authorization: Bearer <token>', or read the "
                     f"token from {os.path.join(manager.exp_dir, TOKEN_FILE)} on the manager's machine", 401)


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


def _foreign_origin() -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return False  # not sent by a browser page (curl, requests, the CLI)
    if origin == "null":
        return True   # a sandboxed frame or a file:// page
    return urlsplit(origin).netloc.lower() != (request.host or "").lower()


def _set_cookie_and_clean(manager: Any) -> Any:
    args = [(k, v) for k, vs in request.args.lists() for v in vs if k != "token"]
    target = request.path + (f"?{urlencode(args)}" if args else "")
    resp = redirect(target, code=302)
    resp.set_cookie(cookie_name(manager.port), manager.portal_token, httponly=True, samesite="Strict",
                    max_age=30 * 24 * 3600)
    return resp


def _deny(message: str, status: int) -> Response:
    from nni_remote import compact_json
    if request.path.startswith("/api/"):
        code = "access_denied" if status == 401 else "forbidden"  # the table of server/errors.py
        return Response(compact_json.dumps({"error": message, "code": code}), status=status,
                        mimetype="application/json")
    import html
    page = (f"<!doctype html><meta charset='utf-8'><title>nni-remote: access denied</title>"
            f"<h1>{'Access token needed' if status == 401 else 'Refused'}</h1><p>{html.escape(message)}</p>")
    return Response(page, status=status, mimetype="text/html")
