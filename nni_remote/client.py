"""The REST client that ``Experiment``, ``connect()`` and the CLI share.

One ``requests.Session`` (keep-alive) to ``http://<host>:<port>/api/v1/nni``.
HTTP errors become project exceptions carrying the server's message.
"""
from __future__ import annotations

import json
from typing import Any, Optional

import requests

from nni_remote.errors import (ConfigError, ExperimentNotRunning, NniRemoteError, ReadOnlyError,
                               TrialNotFound)

TIMEOUT = 20.0


class RestClient:
    """Talks to one manager; see the module docstring."""

    def __init__(self, port: int, host: str = "127.0.0.1", prefix: str = "", token: Optional[str] = None) -> None:
        self.port = port
        self.base = f"http://{host}:{port}" + (f"/{prefix.strip('/')}" if prefix and prefix.strip("/") else "")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, route: str, *, body: Any = None, params: Optional[dict] = None,
                timeout: float = TIMEOUT, raw: bool = False) -> Any:
        url = f"{self.base}/api/v1/nni/{route.lstrip('/')}"
        try:
            resp = self.session.request(method, url, params=params, timeout=timeout,
                                        data=None if body is None else json.dumps(body),
                                        headers={"Content-Type": "application/json"} if body is not None else None)
        except requests.ConnectionError as exc:
            raise ExperimentNotRunning(f"no nni-remote manager answers on port {self.port} ({exc.__class__.__name__})")
        except requests.Timeout:
            raise ExperimentNotRunning(f"the manager on port {self.port} did not answer {method} {route} in time")
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error", resp.text)
            except ValueError:
                message = resp.text
            kind = {404: TrialNotFound, 403: ReadOnlyError}.get(resp.status_code)
            if kind is not None and (resp.status_code != 404 or "trial" in message):
                raise kind(message)
            if resp.status_code == 400:
                raise ConfigError(message)
            raise NniRemoteError(f"{method} {route} failed ({resp.status_code}): {message}")
        if raw:
            return resp
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text

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

    def close(self) -> None:
        self.session.close()
