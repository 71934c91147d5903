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
from json.encoder import encode_basestring_ascii as _quote
from typing import Any, Dict, List, Optional, Set, Tuple

STDOUT_MARKER = "NNISDK_MEb'"
MAX_RECORD = 1000000


_scan = getattr(json.JSONDecoder(), "scan_once")   # json.loads without its wrapping: most of its cost for a small text


def loads_or_none(text: str) -> Any:
    """``json.loads(text)``, or None when ``text`` is not JSON (the fast path for a small record or value)."""
    try:
        value, end = _scan(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError):
        pass
    try:
        return json.loads(text)   # blanks around it, or not JSON at all
    except ValueError:
        return None


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
    at-least-once and the manager stores each run's events in ``seq`` order,
    once (it keeps the next ``seq`` it expects per run). Each event is one JSON
    line, sent as it is stored (never encoded twice): an object with ``seq``,
    or for a trial's metric the compact row ``[seq, type, sequence,
    parameter_id, value_text]`` (:func:`metric_row`).

    Two kinds of bookkeeping line share the file (objects without ``seq``, no
    events): ``{"acked": n}`` (the head has every event below ``n``) and
    ``{"offsets": {...}}`` (how far the trial's output was read when the events
    before it were added; written in the same write as those events). Appending
    them costs one write, where a file of their own costs a create and a rename
    each time; a torn last line (a crash) is cut off when the spool is opened.
    """

    def __init__(self, directory: str) -> None:
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "events.jsonl")
        self.ack_path = os.path.join(directory, "acked")
        self._lock = threading.Lock()
        self.lines: List[str] = []  # each event's JSON text, in seq order
        self._kinds: Set[Optional[str]] = set()
        self.offsets: Dict[str, Any] = {}   # the last offsets recorded with events
        self.acked = 0
        try:
            with open(self.ack_path) as f:   # an agent before bookkeeping lines kept the ack in a file
                self.acked = int(f.read().strip() or 0)
        except (OSError, ValueError):
            self.acked = 0
        self._load()
        self._file = open(self.path, "a", encoding="utf-8")

    def _load(self) -> None:
        """Read the spool back; cut a torn last line so that later appends start on a line of their own."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(end)
        for raw in data[:end].split(b"\n"):
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # not JSON: never sent (it has no seq)
            if isinstance(event, dict) and "seq" not in event:
                if isinstance(event.get("offsets"), dict):
                    self.offsets = event["offsets"]
                elif isinstance(event.get("acked"), int):
                    self.acked = max(self.acked, event["acked"])
                continue
            self._kinds.add(_kind(event))
            self.lines.append(line)
        self.acked = min(self.acked, len(self.lines))

    @property
    def count(self) -> int:
        """How many events the spool holds (the next event's seq)."""
        return len(self.lines)

    @property
    def events(self) -> List[Any]:
        """Every event, parsed (for inspection; the sender uses the lines)."""
        with self._lock:
            return [json.loads(line) for line in self.lines]

    def append(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """Add an event (a dict without ``seq``) and return it with its seq."""
        with self._lock:
            event = dict(event)
            event["seq"] = len(self.lines)
            line = json.dumps(event)
            self._file.write(line + "\n")
            self._file.flush()
            self.lines.append(line)
            self._kinds.add(event.get("type"))
            return event

    def extend(self, events: List[Tuple[str, str, str]], offsets: Optional[Dict[str, Any]] = None) -> None:
        """Add several events with one write; each is (kind, text before its seq, text after it).
        ``offsets`` (how far the output they came from was read) is recorded in the same write."""
        if not events:
            return
        with self._lock:
            seq = len(self.lines)
            lines = []
            for kind, before, after in events:
                lines.append("%s%d%s" % (before, seq, after))
                self._kinds.add(kind)
                seq += 1
            tail = "" if offsets is None else '{"offsets": %s}\n' % json.dumps(offsets)
            self._file.write("\n".join(lines) + "\n" + tail)
            self._file.flush()
            self.lines.extend(lines)
            if offsets is not None:
                self.offsets = offsets

    def unacked(self, limit: int = 5000) -> List[Any]:
        with self._lock:
            return [json.loads(line) for line in self.lines[self.acked:self.acked + limit]]

    def unacked_json(self, limit: int = 5000) -> str:
        """The unacknowledged events as one JSON array text (their stored lines, not re-encoded)."""
        with self._lock:
            return "[" + ",".join(self.lines[self.acked:self.acked + limit]) + "]"

    def pending(self) -> bool:
        with self._lock:
            return self.acked < len(self.lines)

    def ack(self, upto: int) -> None:
        """Record that every event with seq < ``upto`` is stored at the head."""
        with self._lock:
            if upto <= self.acked:
                return
            self.acked = min(upto, len(self.lines))
            self._file.write('{"acked": %d}\n' % self.acked)
            self._file.flush()

    @property
    def drained(self) -> bool:
        with self._lock:
            return self.acked >= len(self.lines)

    def has(self, kind: str) -> bool:
        with self._lock:
            return kind in self._kinds

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _kind(event: Any) -> Optional[str]:
    """An event's type (a compact row is a metric)."""
    if isinstance(event, list):
        return "metric"
    return event.get("type") if isinstance(event, dict) else None


def metric_row(record: Dict[str, Any]) -> Optional[Tuple[str, str, str]]:
    """A trial's FINAL or PERIODICAL record as a compact spool entry (see :meth:`EventSpool.extend`);
    None when the record is not one (the caller sends it as an object).

    The row is ``[seq, type, sequence, parameter_id, value_text]``: ``value_text``
    is the trial's JSON text of the value (what NNI stores), never decoded here.
    """
    kind = record.get("type")
    if kind != "FINAL" and kind != "PERIODICAL":
        return None
    value, pid = record.get("value"), record.get("parameter_id")
    try:
        sequence = int(record.get("sequence") or 0)
        text = value if isinstance(value, str) else json.dumps(value)
        pid = str(pid) if type(pid) is int else json.dumps(pid)
    except (TypeError, ValueError, OverflowError):
        return None
    return "metric", "[", ',"%s",%d,%s,%s]' % (kind, sequence, pid, _quote(text))
