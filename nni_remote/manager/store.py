"""The experiment's durable state: one SQLite file in WAL mode.

NNI's own tables (``ExperimentProfile``, ``TrialJobEvent``, ``MetricData``) are
kept with NNI's columns so NNI's tools can read the database; ``Trial`` is the
materialised current state of every trial, ``Delivered`` makes agent events
exactly-once, ``Meta`` holds small key/values (sealed secrets among them).

Thread-safety: one connection guarded by a re-entrant lock; every method is
safe to call from any thread. Every write is committed before the method
returns, so whatever the manager acknowledges survives a SIGKILL.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from nni_remote.common.profile import LATEST_PROFILE, profile_from_row

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ExperimentProfile (params text, id text, execDuration integer,
    startTime integer, endTime integer, logDir text, nextSequenceId integer, revision integer);
CREATE INDEX IF NOT EXISTS ExperimentProfile_id ON ExperimentProfile(id);
CREATE TABLE IF NOT EXISTS TrialJobEvent (timestamp integer, trialJobId text, event text, data text,
    logPath text, sequenceId integer, message text, environmentId text);
CREATE INDEX IF NOT EXISTS TrialJobEvent_trialJobId ON TrialJobEvent(trialJobId);
CREATE INDEX IF NOT EXISTS TrialJobEvent_event ON TrialJobEvent(event);
CREATE TABLE IF NOT EXISTS MetricData (timestamp integer, trialJobId text, parameterId text,
    type text, sequence integer, data text);
CREATE INDEX IF NOT EXISTS MetricData_trialJobId ON MetricData(trialJobId);
CREATE INDEX IF NOT EXISTS MetricData_type ON MetricData(type);
CREATE TABLE IF NOT EXISTS Trial (trialJobId text PRIMARY KEY, sequenceId integer, status text,
    parameter text, parameterId text, parameterSource text, submitTime integer, startTime integer,
    endTime integer, machine text, gpus text, message text, exitCode integer, killReason text,
    attempt integer DEFAULT 0, logPath text, pid integer);
CREATE TABLE IF NOT EXISTS Delivered (trialJobId text, seq integer, PRIMARY KEY (trialJobId, seq));
CREATE TABLE IF NOT EXISTS Meta (key text PRIMARY KEY, value text);
"""

TRIAL_COLUMNS = ("trialJobId", "sequenceId", "status", "parameter", "parameterId", "parameterSource",
                 "submitTime", "startTime", "endTime", "machine", "gpus", "message", "exitCode",
                 "killReason", "attempt", "logPath", "pid")


def now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    """SQLite persistence of one experiment; see the module docstring."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA.strip().split(";"):
            if statement.strip():
                self._db.execute(statement)
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            raise RuntimeError(f"{path} was written by a newer nni-remote (schema {version})")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run several writes atomically (re-entrant: nested calls join the outer one)."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- profile -------------------------------------------------------------
    def save_profile(self, profile: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO ExperimentProfile VALUES (?,?,?,?,?,?,?,?)",
                       (json.dumps(profile["params"]), profile["id"], profile.get("execDuration", 0),
                        profile.get("startTime"), profile.get("endTime"), profile.get("logDir"),
                        profile.get("nextSequenceId", 0), profile.get("revision", 0)))
            db.execute("DELETE FROM ExperimentProfile WHERE revision < ?", (profile.get("revision", 0) - 20,))

    def load_profile(self) -> dict[str, Any] | None:
        with self._lock:
            return profile_from_row(self._db.execute(LATEST_PROFILE).fetchone())

    # -- meta ----------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM Meta WHERE key=?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO Meta VALUES (?,?)", (key, value))

    # -- trials --------------------------------------------------------------
    def put_trial(self, trial: dict[str, Any]) -> None:
        """Insert or replace a trial's current state."""
        values = [trial.get(c) for c in TRIAL_COLUMNS]
        with self.transaction() as db:
            db.execute(f"INSERT OR REPLACE INTO Trial ({','.join(TRIAL_COLUMNS)}) "
                       f"VALUES ({','.join('?' * len(TRIAL_COLUMNS))})", values)

    def trials(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM Trial ORDER BY sequenceId, submitTime").fetchall()
        return [dict(r) for r in rows]

    def add_event(self, trial_id: str, event: str, *, data: str = "", log_path: str = "",
                  sequence_id: int | None = None, message: str = "", env_id: str = "") -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO TrialJobEvent VALUES (?,?,?,?,?,?,?,?)",
                       (now_ms(), trial_id, event, data, log_path, sequence_id, message, env_id))

    def imported_data(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM TrialJobEvent WHERE event='IMPORT_DATA' ORDER BY rowid"
                                    ).fetchall()
        return [r[0] for r in rows]

    # -- agent events --------------------------------------------------------
    def first_delivery(self, trial_id: str, seq: int) -> bool:
        """Record (trial, seq) as delivered; False if it was already (call inside a transaction)."""
        cur = self._db.execute("INSERT OR IGNORE INTO Delivered VALUES (?,?)", (trial_id, seq))
        return cur.rowcount == 1

    def add_metric(self, trial_id: str, parameter_id: str | None, kind: str, sequence: int, data: str,
                   timestamp: int | None = None) -> dict[str, Any]:
        record = {"timestamp": timestamp or now_ms(), "trialJobId": trial_id, "parameterId": parameter_id,
                  "type": kind, "sequence": sequence, "data": data}
        with self.transaction() as db:
            db.execute("INSERT INTO MetricData VALUES (?,?,?,?,?,?)", tuple(record.values()))
        return record

    def delete_metrics(self, trial_id: str) -> None:
        """Forget a trial's metrics (its attempt was abandoned and it runs again)."""
        with self.transaction() as db:
            db.execute("DELETE FROM MetricData WHERE trialJobId=?", (trial_id,))

    def metrics(self, trial_id: str | None = None, kind: str | None = None,
                trial_ids: list[str] | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT * FROM MetricData WHERE 1=1", []
        if trial_id is not None:
            query += " AND trialJobId=?"
            args.append(trial_id)
        if kind is not None:
            query += " AND type=?"
            args.append(kind)
        if trial_ids is not None:
            query += f" AND trialJobId IN ({','.join('?' * len(trial_ids))})"
            args.extend(trial_ids)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        return [dict(r) for r in rows]
