"""Per-trial views and derived answers for the portal, cached so that polling ten thousand trials stays cheap.

A snapshot's trials are copies made under the controller's lock; turning each
into the portal's view (parameters decoded from JSON, the final metric,
duration) costs far more than the copy. Finished trials no longer change, so
:class:`Views` keeps each one's view until its state changes, and answers
derived from the whole list (metric keys, summaries, downsampled series) are
kept per :func:`fingerprint` of the trials: the same poll answers from memory.
An answer's ``ETag`` is that fingerprint's digest, so a client that sends it
back (``If-None-Match``) gets ``304 Not Modified`` without a body.
"""
from __future__ import annotations

import hashlib
import json
import operator
import threading
import time
from typing import Any, Callable, Optional

from flask import Response, current_app, request

from nni_remote.common.statuses import TRIAL_TERMINAL as TERMINAL

PARSED_MAX = 200_000        # parameter texts kept decoded (one per trial)
ANSWERS_MAX = 64            # derived answers kept (route, arguments) -> body
RUNNING_TICK_S = 5          # how stale a running trial's duration may be in a cached answer


_FIELDS = operator.attrgetter("id", "seq", "status", "start_time", "end_time", "machine", "message", "exit_code",
                              "attempt", "log_path", "intermediate_count", "parameter")


def _state(t: Any) -> tuple[Any, ...]:
    """What a trial's portal view depends on (GPUs come with the machine and start time)."""
    try:
        return (*_FIELDS(t), t.final is None)
    except AttributeError:   # a stand-in of a unit test: the fields it has
        return (t.id, t.seq, t.status, getattr(t, "final", None) is None, getattr(t, "end_time", None),
                getattr(t, "intermediate_count", 0))


def fingerprint(trials: Any) -> str:
    """A digest of every trial's state: equal digests, equal answers derived from the trials (in this process).

    While a trial runs, its duration grows with the clock: the digest then also
    changes every :data:`RUNNING_TICK_S` seconds.
    """
    states = tuple(_state(t) for t in trials)
    running = any(t.status == "RUNNING" for t in trials)
    tick = int(time.time() // RUNNING_TICK_S) if running else 0
    return format(hash((states, tick)) & 0xFFFFFFFFFFFFFFFF, "016x")


class Views:
    """The caches of one app (one manager): decoded parameters, trial views, derived answers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.parsed: dict[str, Any] = {}
        self.views: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.answers: dict[tuple[Any, ...], Any] = {}

    def parameters(self, t: Any) -> Any:
        """A trial's parameters, decoded once per parameter text."""
        text = getattr(t, "parameter", None)
        if not isinstance(text, str):
            return t.parameters
        found = self.parsed.get(text)
        if found is None:
            if len(self.parsed) >= PARSED_MAX:
                self.parsed.clear()
            found = self.parsed[text] = json.loads(text).get("parameters")
        return found

    def view(self, t: Any, build: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """``build(t)``, reused while a finished trial's state stays the same (never mutate the answer)."""
        if t.status not in TERMINAL:
            return build(t)
        state = _state(t)
        hit = self.views.get(t.id)
        if hit is not None and hit[0] == state:
            return hit[1]
        made = build(t)
        self.views[t.id] = (state, made)
        return made

    def answer(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """``make()``, remembered under ``key`` (which must hold the trials' fingerprint)."""
        with self.lock:
            if key in self.answers:
                return self.answers[key]
        made = make()
        with self.lock:
            if len(self.answers) >= ANSWERS_MAX:
                self.answers.pop(next(iter(self.answers)))
            self.answers[key] = made
        return made

    def forget(self, live_ids: set[str]) -> None:
        """Drop the views of trials that are gone (a view of an experiment is never smaller; a safety net)."""
        if len(self.views) > len(live_ids):
            for tid in [k for k in list(self.views) if k not in live_ids]:   # list(): other threads add views
                self.views.pop(tid, None)


def views() -> Views:
    """This app's caches."""
    found: Views = current_app.extensions.setdefault("nni_remote.views", Views())
    return found


def views_digest(data: bytes) -> str:
    """A short digest of an answer's body."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def conditional(resp: Response, tag: Optional[str] = None) -> Response:
    """Give ``resp`` an ETag (``tag``, or a digest of its body) and answer 304 when the client has it."""
    if tag is None:
        tag = views_digest(resp.get_data())
    resp.set_etag(tag)
    resp.headers["Cache-Control"] = "no-cache"
    resp.make_conditional(request)   # turns resp itself into a bodiless 304 when the client's tag matches
    return resp
