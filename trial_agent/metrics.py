"""Reading what a trial reports, and keeping it on disk until the head has it.

Two trial-side channels exist (NNI-REFERENCE §4.5): records printed to stdout
as ``NNISDK_MEb'<json>'`` and records appended to ``$NNI_SYS_DIR/.nni/metrics``
as ``ME%06d<json>\\n``. :class:`FileTail` follows a growing file from a saved
offset; :class:`EventSpool` is the per-trial append-only event log whose
``(trial, seq)`` pairs the manager stores exactly once.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any, Dict, List, Optional, Tuple

STDOUT_MARKER = "NNISDK_MEb'"
MAX_RECORD = 1000000


def parse_stdout_line(line: str) -> Optional[str]:
    """Return the metric record JSON text in a stdout line, or None.

    The text between the first marker and the *last* quote of the line is
    taken, so a record whose JSON contains a single quote survives.
    """
    start = line.find(STDOUT_MARKER)
    if start < 0:
        return None
    start += len(STDOUT_MARKER)
    end = line.rfind("'")
    if end < start:
        return None
    return line[start:end]


def parse_metrics_file(buf: bytes) -> Tuple[List[str], bytes]:
    """Split complete ``ME%06d`` frames off ``buf``; return (records, rest)."""
    records = []
    pos = 0
    while True:
        if len(buf) - pos < 8:
            break
        if buf[pos:pos + 2] != b"ME":
            nxt = buf.find(b"ME", pos + 1)  # resynchronise after garbage
            if nxt < 0:
                pos = len(buf)
                break
            pos = nxt
            continue
        try:
            size = int(buf[pos + 2:pos + 8])
        except ValueError:
            pos += 2
            continue
        if len(buf) - pos - 8 < size:
            break
        payload = buf[pos + 8:pos + 8 + size]
        pos += 8 + size
        records.append(payload.decode("utf-8", "replace").strip())
    return records, buf[pos:]


class FileTail:
    """Follows a file that another process appends to, from a persisted offset."""

    def __init__(self, path: str, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self._pending = b""

    def read_new(self, limit: int = 4 * 1024 * 1024) -> bytes:
        """Return the bytes appended since the last call (possibly empty)."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return b""
        if size <= self.offset:
            return b""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(min(limit, size - self.offset))
        self.offset += len(data)
        return data

    def lines(self) -> List[str]:
        """Complete new lines (decoded); a partial last line is kept for later."""
        data = self._pending + self.read_new()
        if not data:
            return []
        parts = data.split(b"\n")
        self._pending = parts.pop()
        if len(self._pending) > MAX_RECORD:  # a runaway line without newline
            self._pending = b""
        return [p.decode("utf-8", "replace") for p in parts]


class EventSpool:
    """Append-only event log of one trial, plus how much of it the head acknowledged.

    Events get consecutive ``seq`` numbers from 0. The log lives in the trial's
    directory, so it survives a head outage and an agent restart; delivery is
    at-least-once and the manager deduplicates by ``(trial, seq)``.
    """

    def __init__(self, directory: str) -> None:
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "events.jsonl")
        self.ack_path = os.path.join(directory, "acked")
        self._lock = threading.Lock()
        self.events = []
        if os.path.exists(self.path):
            with open(self.path, "r", encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        self.events.append(json.loads(line))
                    except ValueError:
                        break  # a torn last line from a crash: drop it
        self.acked = 0
        try:
            with open(self.ack_path) as f:
                self.acked = int(f.read().strip() or 0)
        except (OSError, ValueError):
            self.acked = 0
        self._file = open(self.path, "a", encoding="utf-8")

    def append(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Add an event (a dict without ``seq``) and return it with its seq."""
        with self._lock:
            event = dict(event)
            event["seq"] = len(self.events)
            self._file.write(json.dumps(event) + "\n")
            self._file.flush()
            self.events.append(event)
            return event

    def unacked(self, limit: int = 500) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self.events[self.acked:self.acked + limit])

    def ack(self, upto: int) -> None:
        """Record that every event with seq < ``upto`` is stored at the head."""
        with self._lock:
            if upto <= self.acked:
                return
            self.acked = min(upto, len(self.events))
            tmp = self.ack_path + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(self.acked))
            os.replace(tmp, self.ack_path)

    @property
    def drained(self) -> bool:
        with self._lock:
            return self.acked >= len(self.events)

    def has(self, kind: str) -> bool:
        with self._lock:
            return any(e.get("type") == kind for e in self.events)

    def close(self) -> None:
        with self._lock:
            self._file.close()
