"""One exception→HTTP table: every error body is JSON with a ``code``; the client maps back by code."""
from __future__ import annotations

import pytest
from flask import Flask

from nni_remote import errors
from nni_remote.server import errors as server_errors

OWN = [c for c in errors.error_classes() if c.__module__ == "nni_remote.errors"]


def test_every_error_has_one_root_a_docstring_and_a_unique_code():
    assert all(issubclass(c, errors.NniRemoteError) and c.__doc__ for c in OWN)
    codes = [c.code for c in OWN]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("cls", [c for c in OWN if c not in (errors.TransientSshError, errors.CommandFailed)],
                         ids=lambda c: c.__name__)
def test_each_error_crosses_http_and_comes_back_as_itself(cls):
    app = Flask("t")
    server_errors.install(app)
    message = "box-1: something precise went wrong"
    exc = cls("box-1", "something precise went wrong") if issubclass(cls, errors.SshError) else None

    @app.get("/api/x")
    def _raise() -> None:
        raise exc if exc is not None else cls(message)

    resp = app.test_client().get("/api/x")
    body = resp.get_json()
    assert resp.status_code == cls.http_status and body["code"] == cls.code
    back = errors.error_for_code(body["code"], body["error"])
    assert type(back) is cls and str(back) == body["error"]
    assert "something precise went wrong" in str(back)


def test_unexpected_exceptions_and_unknown_routes_answer_json_with_the_cause():
    app = Flask("t")
    server_errors.install(app)

    @app.post("/api/v1/nni/experiment")
    def _tuner_bug() -> None:
        raise ValueError("search space rejected by the tuner: 'lr' needs _value")

    client = app.test_client()
    resp = client.post("/api/v1/nni/experiment")
    assert resp.status_code == 500 and resp.mimetype == "application/json"
    assert resp.get_json()["code"] == "internal" and "'lr' needs _value" in resp.get_json()["error"]
    missing = client.get("/api/v1/nni/nothing-here")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    wrong = client.delete("/api/v1/nni/experiment")
    assert wrong.status_code == 405 and wrong.get_json()["code"] == "method_not_allowed"
    assert client.get("/not-api").mimetype == "text/html"  # the portal's pages keep Flask's own


def test_an_unknown_code_gives_the_root_class():
    back = errors.error_for_code("from_a_newer_server", "whatever happened")
    assert type(back) is errors.NniRemoteError and str(back) == "whatever happened"
