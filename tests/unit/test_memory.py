"""Memory given back after large answers (common/memory.py), through the real Flask app."""
from __future__ import annotations

import platform

from nni_remote.common import memory
from tests.unit.server.test_paging import app  # noqa: F401  (the fixture: a real app over a real store)


def test_glibc_takes_the_arena_limit_and_trims():
    if platform.libc_ver()[0] != "glibc":
        assert memory.limit_arenas() is False and memory.release() is False   # a no-op elsewhere
        return
    assert memory.limit_arenas(2) is True
    memory.release()                       # True or False (nothing to give back): never an error


def test_large_and_streamed_answers_release_memory_once_sent(app, monkeypatch):  # noqa: F811
    calls = []
    monkeypatch.setattr(memory, "release", lambda: calls.append(1) or True)
    app.get("/api/v1/nni/trial-jobs?status=RUNNING").close()                  # small: nothing to release
    assert calls == []
    resp = app.get("/api/v1/nni/metric-data")                                  # streamed
    assert resp.is_streamed and len(resp.get_json()) == 120
    resp.close()
    assert calls == [1]
    monkeypatch.setattr(memory, "LARGE_ANSWER", 1000)                          # large before gzip
    resp = app.get("/api/v1/nni-remote/trials", headers={"Accept-Encoding": "gzip"})
    resp.close()
    assert calls == [1, 1]
