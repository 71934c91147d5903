"""Agent event batches, the pieces the hub needs to store them exactly once.

An agent sends each run's spooled events in ``seq`` order, starting at the last
``seq`` the manager acknowledged (``trial_agent/metrics.py``, ``EventSpool``).
So the manager keeps, per run, the next ``seq`` it expects (the store's
``Delivery`` table, written in the transaction that stores the events): an event
below it is a duplicate, the event at it is new, and an event after a gap is
left for the agent to send again (the answer acknowledges up to the gap).

Events are objects (``{"type": ..., "seq": ...}``) or, for a trial's metric, the
compact row ``[seq, type, sequence, parameter_id, value_text]``; a metric row
becomes a ``MetricData`` row here, its value decoded once.
"""
from __future__ import annotations

import json
import logging
from json.encoder import encode_basestring_ascii
from typing import Any, Optional

from nni_remote.manager.trials import Trial
from trial_agent.metrics import loads_or_none
from trial_agent.protocol import EVENT_END, EVENT_METRIC

log = logging.getLogger("nni_remote.agents")

METRIC_KINDS = ("FINAL", "PERIODICAL")


def seq_of(event: Any) -> int:
    """An event's ``seq`` (0 when it has none that makes sense)."""
    raw = event[0] if isinstance(event, list) and event else event.get("seq", 0) if isinstance(event, dict) else 0
    try:
        return max(int(raw), 0)
    except (TypeError, ValueError):
        return 0


def kind_of(event: Any) -> Optional[str]:
    """An event's type; a compact row is a metric."""
    if isinstance(event, list):
        return EVENT_METRIC
    return event.get("type") if isinstance(event, dict) else None


def fresh(events: Any, expected: int) -> tuple[list[Any], int]:
    """The events of one run not stored yet, in order, and the next ``seq`` expected after them.

    ``events`` come in ``seq`` order from the agent: below ``expected`` is a
    duplicate, a gap stops the batch there (the rest comes again).
    """
    new: list[Any] = []
    if not isinstance(events, list):
        return new, expected
    for event in events:
        if type(event) is list and event and type(event[0]) is int and event[0] >= 0:
            seq = event[0]                  # a metric row: the common case
        elif isinstance(event, (dict, list)):
            seq = seq_of(event)
        else:
            continue
        if seq < expected:
            continue
        if seq > expected:
            break
        new.append(event)
        expected += 1
    return new, expected


def acked_unowned(events: Any) -> int:
    """What to acknowledge for events stored nowhere (an unknown run, another machine's): all of them."""
    seqs = [seq_of(e) for e in events if isinstance(e, (dict, list))] if isinstance(events, list) else []
    return max(seqs) + 1 if seqs else 0


def deciding(event: Any) -> bool:
    """Whether an event settles a race between two attempts: the end, or a final result."""
    if isinstance(event, list):
        return len(event) > 1 and event[1] == "FINAL"
    kind = kind_of(event)
    if kind == EVENT_END:
        return True
    if kind != EVENT_METRIC:
        return False
    record = event.get("record")
    if not isinstance(record, dict):
        try:
            record = json.loads(event.get("metric") or "")
        except ValueError:
            return False
    return isinstance(record, dict) and record.get("type") == "FINAL"


def metric_row(trial: Trial, event: Any, now: int) -> Optional[tuple[tuple[Any, ...], Any]]:
    """A metric event as (``MetricData`` row, decoded value); None for an unusable or repeated record.

    This is the edge where a metric arrives: its value is decoded here, once, and
    NNI's stored form (a JSON string of the trial's JSON text) is made once.
    """
    if type(event) is list:
        if len(event) < 5:
            log.warning("trial %s sent a short metric row: %.200r", trial.id, event)
            return None
        _, kind, sequence, pid, text = event[:5]
    else:
        record = event.get("record")
        if not isinstance(record, dict):
            try:
                record = json.loads(event.get("metric") or "")
            except ValueError:
                log.warning("trial %s sent an unreadable metric record: %.200r", trial.id, event.get("metric"))
                return None
        if not isinstance(record, dict):
            return None
        kind, sequence, pid, text = (record.get("type"), record.get("sequence") or 0, record.get("parameter_id"),
                                     record.get("value"))
        text = text if isinstance(text, str) else json.dumps(text)
    if kind not in METRIC_KINDS or not isinstance(text, str):
        return None
    try:
        sequence = int(sequence)
    except (TypeError, ValueError):
        sequence = 0
    if kind == "FINAL" and trial.final is not None:
        return None
    if kind == "PERIODICAL" and sequence in trial.history:
        return None
    row = (now, trial.id, None if pid is None else str(pid), kind, sequence, encode_basestring_ascii(text))
    return row, loads_or_none(text)


def rest_record(row: tuple[Any, ...]) -> dict[str, Any]:
    """A ``MetricData`` row as NNI's REST record."""
    return {"timestamp": row[0], "trialJobId": row[1], "parameterId": row[2], "type": row[3], "sequence": row[4],
            "data": row[5]}
