"""Who may use the portal and the REST API (docs/security.md, "the REST API and the portal").

Every manager has an access token, generated at start and written to
``<exp_dir>/.portal-token`` (mode 0600, in a 0700 directory). A request is let in
when it carries that token (``Authorization: Bearer``, ``?token=`` — a portal
visit with it sets an ``HttpOnly``, ``SameSite=Strict`` cookie and redirects to
the clean URL — or that cookie), or, without a token, when it comes over
loopback from a socket owned by **the manager's own unix user** (Linux: the
socket's owner in ``/proc/net/tcp``, see peer.py). So NNI's own client,
``nnictl`` and our CLI run by the experiment's user work unmodified, while
another user of the same machine gets 401. Where sockets' owners cannot be
read (not Linux) loopback clients are let in as NNI does, and the start log
says so.

On top of that, whatever the credential:

- **Host allow-list** (DNS rebinding): a request without a token must name
  this machine in ``Host``: an IP address, ``localhost``, this machine's host
  name, or a name listed in ``NNI_REMOTE_ALLOW_HOSTS`` (comma-separated).
- **Origin**: a state-changing request (not GET/HEAD/OPTIONS) sent by a web
  page must come from the manager's own origin (scheme, host and port).
- **Content-Type**: a state-changing request with a body must be
  ``application/json`` (forms and ``text/plain`` bodies are what other sites
  can send without asking).

``GET /api/v1/nni/check-status`` is open (the launcher's liveness probe) but
answers only the status to a caller that is not let in. The agent routes are
served by their own listener (``server/agent.py``), never here.
Comparison of tokens is constant-time.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
from functools import lru_cache
from typing import Any, Iterable, Optional
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, g, redirect, request

from nni_remote.common.tokens import TOKEN_FILE as TOKEN_FILE
from nni_remote.common.tokens import read_token as read_token
from nni_remote.server import peer

OPEN_PATHS = ("/api/v1/nni/check-status", "/api/v1/nni/check-status/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ALLOW_HOSTS_ENV = "NNI_REMOTE_ALLOW_HOSTS"
JSON_TYPES = ("application/json",)

log = logging.getLogger("nni_remote.access")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def setup_token(hosts: Iterable[str], exp_dir: str) -> str:
    """Generate this manager's access token and write it to ``<exp_dir>/.portal-token`` (0600)."""
    path = os.path.join(exp_dir, TOKEN_FILE)
    token = secrets.token_urlsafe(24)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return token


def needs_token_always(hosts: Iterable[str]) -> bool:
    """Whether the manager listens beyond loopback (then its URLs are printed with the token)."""
    return not all(is_loopback(h) for h in hosts if h)


def cookie_name(port: int) -> str:
    return f"nni-remote-token-{port}"  # cookies ignore ports: one name per manager port


@lru_cache(maxsize=1)
def _own_names() -> frozenset[str]:
    names = {"localhost", "localhost.localdomain"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower())
    extra = os.environ.get(ALLOW_HOSTS_ENV, "")
    names.update(n.strip().lower() for n in extra.split(",") if n.strip())
    return frozenset(names)


def host_allowed(host_header: str) -> bool:
    """Whether ``Host`` names this machine (an IP literal, localhost, its own name, or an allowed name)."""
    host = urlsplit(f"//{host_header}").hostname or ""
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True  # a page can only send an IP literal as Host when it was loaded from that very address
    except ValueError:
        pass
    return host.lower() in _own_names() or host.lower().endswith(".localhost")


def install(app: Flask, manager: Any) -> None:
    """Guard every route of ``app`` as described in the module docstring."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    if not peer.supported():
        log.warning("this system does not show who owns a loopback connection: every local user can use the "
                    "REST API and portal without the token (as with NNI)")

    @app.before_request
    def _guard() -> Any:
        path = request.path
        token = manager.portal_token
        given = request.args.get("token")
        with_token = _token_given(manager, token)
        g.authorized = with_token or _same_user(uid)
        if not with_token and not host_allowed(request.host or ""):
            return _deny(f"Host {request.host!r} is not a name of this machine; a page from another site cannot "
                         f"use this manager. If you reach it under that name on purpose, set {ALLOW_HOSTS_ENV}="
                         f"{urlsplit('//' + (request.host or '')).hostname or ''} in the manager's environment, "
                         "or use the access token", 403)
        if request.method not in SAFE_METHODS:
            refused = _state_change_refused()
            if refused:
                return _deny(refused, 403)
        if g.authorized:
            if with_token and given is not None and request.method == "GET" and not path.startswith("/api/"):
                return _set_cookie_and_clean(manager)
            return None
        if path in OPEN_PATHS:
            return None
        return _deny("this manager needs its access token (you are not the user who started it, or you reach it "
                     "over the network): open the URL it printed at start (…/?token=…), or send "
                     "'Authorization: Bearer <token>'; its owner finds the token in the file .portal-token of "
                     "the experiment's directory", 401)


def _token_given(manager: Any, token: Optional[str]) -> bool:
    if not token:
        return False
    given = request.args.get("token")
    if given is not None and _same(given, token):
        return True
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and _same(header[7:].strip(), token):
        return True
    cookie = request.cookies.get(cookie_name(manager.port))
    return cookie is not None and _same(cookie, token)


def _same_user(uid: Optional[int]) -> bool:
    env = request.environ
    if not peer.supported():
        return is_loopback(env.get("REMOTE_ADDR") or "")
    if uid is None:
        return False
    return peer.loopback_peer_uid(env.get("REMOTE_ADDR"), env.get("REMOTE_PORT"), env.get("SERVER_PORT")) == uid


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


def _state_change_refused() -> Optional[str]:
    """Why a POST/PUT/DELETE/PATCH is refused (another origin, or a body that is not JSON), or None."""
    origin = request.headers.get("Origin")
    if origin is not None:  # sent by browsers; curl, requests and NNI's client send none
        parts = urlsplit(origin)
        if origin == "null" or parts.scheme not in ("http", "https") or \
                parts.netloc.lower() != (request.host or "").lower():
            return (f"a page from {origin} may not change this experiment: only the manager's own pages "
                    f"(http://{request.host}) may")
    has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get("Transfer-Encoding", "")
    if has_body and (request.mimetype or "") not in JSON_TYPES:
        return (f"a request body of type {request.mimetype or 'unknown'!r} is refused: send JSON with "
                "'Content-Type: application/json'")
    return None


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
