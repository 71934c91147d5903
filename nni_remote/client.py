"""The REST client that ``Experiment``, ``connect()`` and the CLI share.

One ``requests.Session`` (keep-alive) to ``http://<host>:<port>/api/v1/nni``
(NNI's routes) and ``/api/v1/nni-remote`` (ours, via :meth:`RestClient.ours`).
HTTP errors become project exceptions carrying the server's message.

A manager that listens beyond loopback wants its access token. Given none, the
client finds it on a 401 the way a local user would: the registry names the
experiment on this port, and its directory holds ``.portal-token`` (readable
by the owner only).
"""
from __future__ import annotations

import json
from typing import Any, Optional, cast

import requests

from nni_remote.errors import AccessDenied as AccessDenied
from nni_remote.errors import ExperimentNotRunning, NniRemoteError, error_for_code

TIMEOUT = 20.0


class RestClient:
    """Talks to one manager; see the module docstring."""

    def __init__(self, port: int, host: str = "127.0.0.1", prefix: str = "", token: Optional[str] = None) -> None:
        self.port = port
        self.base = f"http://{host}:{port}" + (f"/{prefix.strip('/')}" if prefix and prefix.strip("/") else "")
        self.session = requests.Session()
        self._token_tried = bool(token)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, route: str, *, body: Any = None, params: Optional[dict[str, Any]] = None,
                timeout: float = TIMEOUT, raw: bool = False, api: str = "nni") -> Any:
        url = f"{self.base}/api/v1/{api}/{route.lstrip('/')}"
        while True:
            try:
                resp = self.session.request(method, url, params=params, timeout=timeout,
                                            data=None if body is None else json.dumps(body),
                                            headers={"Content-Type": "application/json"} if body is not None else None)
            except requests.ConnectionError as exc:
                raise ExperimentNotRunning(f"no nni-remote manager answers on port {self.port} "
                                           f"({exc.__class__.__name__})")
            except requests.Timeout:
                raise ExperimentNotRunning(f"the manager on port {self.port} did not answer {method} {route} in time")
            if resp.status_code == 401 and not self._token_tried:
                self._token_tried = True
                token = find_token(self.port)
                if token:
                    self.session.headers["Authorization"] = f"Bearer {token}"
                    continue
            break
        if resp.status_code == 401:
            raise AccessDenied(f"the manager on port {self.port} wants its access token: {_message(resp)}")
        if resp.status_code >= 400:
            raise _error_of(resp, f"{method} {route}")
        if raw:
            return resp
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text

    def ours(self, method: str, route: str, **kw: Any) -> Any:
        """A call to nni-remote's own routes (``/api/v1/nni-remote/...``)."""
        return self.request(method, route, api="nni-remote", **kw)

    def get(self, route: str, **kw: Any) -> Any:
        return self.request("GET", route, **kw)

    def put(self, route: str, body: Any, **kw: Any) -> Any:
        return self.request("PUT", route, body=body, **kw)

    def post(self, route: str, body: Any, **kw: Any) -> Any:
        return self.request("POST", route, body=body, **kw)

    def delete(self, route: str, **kw: Any) -> Any:
        return self.request("DELETE", route, **kw)

    def status(self) -> dict[str, Any]:
        data = self.get("check-status")
        if not isinstance(data, dict):
            return {"status": str(data), "errors": []}
        return data

    def update(self, update_type: str, field: str, value: Any) -> None:
        """NNI's read-modify-write update: GET the profile, change one field, PUT it back."""
        profile = self.get("experiment")
        profile["params"][field] = value
        self.put("experiment", profile, params={"update_type": update_type})

    # -- nni-remote's own routes (/api/v1/nni-remote) ----------------------------------
    def overview(self) -> dict[str, Any]:
        """Status, budget, trial counts and best trials in one call."""
        return cast("dict[str, Any]", self.ours("GET", "overview"))

    def trials(self, status: Optional[str] = None) -> list[dict[str, Any]]:
        """Every trial decoded: parameters, final metric, duration, machine, GPUs, why waiting."""
        return cast("list[dict[str, Any]]", self.ours("GET", "trials", params={"status": status} if status else None))

    def trial(self, trial_id: str) -> dict[str, Any]:
        """One trial with its intermediate metrics."""
        return cast("dict[str, Any]", self.ours("GET", f"trials/{trial_id}"))

    def trial_files(self, trial_id: str) -> dict[str, Any]:
        return cast("dict[str, Any]", self.ours("GET", f"trials/{trial_id}/files"))

    def trial_tail(self, trial_id: str, name: str, size: int = 65536, offset: Optional[int] = None) -> dict[str, Any]:
        """The end of a trial's file (or ``size`` bytes from ``offset``); ``exists`` is False until written."""
        params: dict[str, Any] = {"bytes": size}
        if offset is not None:
            params["offset"] = offset
        return cast("dict[str, Any]", self.ours("GET", f"trials/{trial_id}/tail/{name}", params=params))

    def retry_trial(self, trial_id: str) -> dict[str, Any]:
        """Run a finished trial's parameters again as a new customized trial."""
        return cast("dict[str, Any]", self.ours("POST", f"trials/{trial_id}/retry"))

    def retry_failed(self) -> dict[str, Any]:
        """Retry every FAILED trial not retried before."""
        return cast("dict[str, Any]", self.ours("POST", "trials/retry-failed"))

    def machines(self) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self.ours("GET", "machines"))

    def enable_machine(self, name: str) -> dict[str, Any]:
        """Put a drained machine back into service."""
        return cast("dict[str, Any]", self.ours("POST", f"machines/{name}/enable"))

    def close(self) -> None:
        self.session.close()


def _error_of(resp: requests.Response, what: str) -> NniRemoteError:
    """The project exception an error answer stands for, by its body's ``code`` (errors.py's table)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    message = _message(resp)
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return error_for_code(body["code"], message)
    return NniRemoteError(f"{what} failed ({resp.status_code}): {message}")


def _message(resp: requests.Response) -> str:
    """The server's error message and its cause; never a whole HTML page."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        message = str(body["error"])
        cause = body.get("cause")
        return f"{message}: {cause}" if cause and str(cause) not in message else message
    text = resp.text.strip()
    if text.lower().startswith(("<!doctype", "<html")):
        import re
        title = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
        return (f"HTTP {resp.status_code} {title.group(1).strip() if title else ''}".rstrip()
                + " (an HTML page, not the manager's JSON error: see the experiment's log/nnimanager.log)")
    return text[:2000]


def find_token(port: int) -> Optional[str]:
    """The access token of the manager on ``port`` of this machine, from its experiment directory."""
    import os

    from nni_remote.common import registry
    from nni_remote.common.tokens import read_token
    entries = sorted(registry.all_entries().values(), key=lambda e: e.get("status") == "STOPPED")
    for entry in entries:
        if entry.get("port") == port and entry.get("logDir"):
            token = read_token(os.path.join(entry["logDir"], entry["id"]))
            if token:
                return token
    return None
