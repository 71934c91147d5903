"""The experiment's durable state: one SQLite file in WAL mode.

NNI's own tables (``ExperimentProfile``, ``TrialJobEvent``, ``MetricData``) are
kept with NNI's columns so NNI's tools can read the database; ``Trial`` is the
materialised current state of every trial, ``Delivery`` makes agent events
exactly-once (per run, the next ``seq`` expected: agents send a run's events in
``seq`` order), ``Meta`` holds small key/values (sealed secrets among them).

Schema 2 (this version) replaced schema 1's ``Delivered`` (one row per event)
with ``Delivery`` and the index ``MetricData(trialJobId)`` (a prefix of
``MetricData(trialJobId, type)``) and ``MetricData(type)`` with a partial index
of FINAL rows; a schema-1 store is migrated when it is opened.

Thread-safety: one connection guarded by a re-entrant lock; every method is
safe to call from any thread. Every write is committed before the method
returns, so whatever the manager acknowledges survives a SIGKILL.

The manager's store checkpoints its WAL from a thread of its own
(``background_checkpoint``), so a commit never pays for copying the WAL into the
database (measured: 200-row commits p99 12 -> 7 ms, the longest 27 -> 9 ms).
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from nni_remote.common.profile import LATEST_PROFILE, profile_from_row

SCHEMA_VERSION = 2
CHECKPOINT_EVERY = 0.5      # seconds between the background checkpoints of the WAL
log = logging.getLogger("nni_remote.store")

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
CREATE INDEX IF NOT EXISTS MetricData_trial_type ON MetricData(trialJobId, type);
CREATE INDEX IF NOT EXISTS MetricData_final ON MetricData(type) WHERE type='FINAL';
CREATE TABLE IF NOT EXISTS Trial (trialJobId text PRIMARY KEY, sequenceId integer, status text,
    parameter text, parameterId text, parameterSource text, submitTime integer, startTime integer,
    endTime integer, machine text, gpus text, message text, exitCode integer, killReason text,
    attempt integer DEFAULT 0, logPath text, pid integer);
CREATE INDEX IF NOT EXISTS Trial_sequence ON Trial(sequenceId, submitTime);
CREATE INDEX IF NOT EXISTS Trial_status ON Trial(status);
CREATE TABLE IF NOT EXISTS Delivery (runId text PRIMARY KEY, nextSeq integer);
CREATE TABLE IF NOT EXISTS Meta (key text PRIMARY KEY, value text);
"""

TRIAL_COLUMNS = ("trialJobId", "sequenceId", "status", "parameter", "parameterId", "parameterSource",
                 "submitTime", "startTime", "endTime", "machine", "gpus", "message", "exitCode",
                 "killReason", "attempt", "logPath", "pid")


def now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    """SQLite persistence of one experiment; see the module docstring."""

    def __init__(self, path: str, background_checkpoint: bool = False) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{path} was written by a newer nni-remote (schema {version})")
        with self.transaction() as db:
            if version == 1:
                _migrate_from_1(db)
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        if background_checkpoint:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="wal-checkpoint", daemon=True)
            self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database every :data:`CHECKPOINT_EVERY` seconds, beside the writers (PASSIVE)."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            while not self._stop.wait(CHECKPOINT_EVERY):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:   # busy, or the disk: the next round tries again
                    log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
        finally:
            db.close()

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
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=30)
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
    def next_seqs(self, run_ids: list[str]) -> dict[str, int]:
        """The next ``seq`` expected of each run (0 for a run never heard of)."""
        with self._lock:
            found = {r[0]: r[1] for i in range(0, len(run_ids), 500) for r in self._db.execute(
                f"SELECT runId, nextSeq FROM Delivery WHERE runId IN ({','.join('?' * len(run_ids[i:i + 500]))})",
                run_ids[i:i + 500])}
        return {rid: found.get(rid, 0) for rid in run_ids}

    def set_next_seqs(self, next_seqs: dict[str, int]) -> None:
        """Record the next ``seq`` expected of runs (their events before it are stored); in the caller's
        transaction, with what those events stored."""
        if next_seqs:
            with self.transaction() as db:
                db.executemany("INSERT OR REPLACE INTO Delivery VALUES (?,?)", list(next_seqs.items()))

    def add_metric_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Store a batch of metric rows (NNI's column order: timestamp, trial, parameter id, type,
        sequence, data) in one ``executemany``."""
        if rows:
            with self.transaction() as db:
                db.executemany("INSERT INTO MetricData VALUES (?,?,?,?,?,?)", rows)

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

    def metric_counts(self, kind: str) -> dict[str, int]:
        """How many metrics of ``kind`` each trial has."""
        with self._lock:
            where, args = _metric_filter(None, kind, None)
            rows = self._db.execute(f"SELECT trialJobId, COUNT(*) FROM MetricData{where} GROUP BY trialJobId",
                                    args).fetchall()
        return {r[0]: r[1] for r in rows}

    def metrics(self, trial_id: str | None = None, kind: str | None = None,
                trial_ids: list[str] | None = None, offset: int = 0,
                limit: int | None = None) -> list[dict[str, Any]]:
        """Metric rows in the order they were stored; ``offset``/``limit`` page them."""
        if trial_ids is not None and len(trial_ids) > 500:  # SQLite caps the number of ? in one statement
            rows = [r for i in range(0, len(trial_ids), 500)
                    for r in self._metric_rows(trial_id, kind, trial_ids[i:i + 500], 0, None)]
            rows.sort(key=lambda r: r.pop("_rowid"))
            return rows[offset:None if limit is None else offset + limit]
        rows = self._metric_rows(trial_id, kind, trial_ids, offset, limit)
        for row in rows:
            del row["_rowid"]
        return rows

    def iter_metrics(self, trial_id: str | None = None, kind: str | None = None,
                     chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        """Every metric row (NNI's column order), in chunks, from a connection of its own.

        For streaming a whole experiment's metrics: the store's lock is not held while
        the caller sends them, and memory stays at one chunk (WAL lets it read while
        ingest writes; it sees the rows committed when it started).
        """
        where, args = _metric_filter(trial_id, kind, None)
        yield from self._chunks("SELECT * FROM MetricData" + where + " ORDER BY rowid", args, chunk)

    def iter_metric_json(self, kind: str | None = None, chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        """Like :meth:`iter_metrics`, each row as ``(json, *row)``: NNI's record as JSON text made by SQLite
        (``json_object``; its bytes are compact_json's for integers, text and null), or ``(None, *row)``
        for a row whose numbers are not integers (the caller encodes those). Raises
        ``sqlite3.OperationalError`` where SQLite has no JSON functions."""
        where, args = _metric_filter(None, kind, None)
        query = ("SELECT CASE WHEN typeof(timestamp) IN ('integer', 'null') AND typeof(sequence) IN ('integer', 'null') "
                 "THEN json_object('timestamp', timestamp, 'trialJobId', trialJobId, 'parameterId', parameterId, "
                 "'type', type, 'sequence', sequence, 'data', data) END, * FROM MetricData" + where + " ORDER BY rowid")
        yield from self._chunks(query, args, chunk)

    def _chunks(self, query: str, args: list[Any], chunk: int) -> Iterator[list[tuple[Any, ...]]]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            cursor = db.execute(query, args)
            while True:
                rows = cursor.fetchmany(chunk)
                if not rows:
                    return
                yield rows
        finally:
            db.close()

    def _metric_rows(self, trial_id: str | None, kind: str | None, trial_ids: list[str] | None, offset: int,
                     limit: int | None) -> list[dict[str, Any]]:
        where, args = _metric_filter(trial_id, kind, trial_ids)
        query = "SELECT rowid AS _rowid, * FROM MetricData" + where + " ORDER BY rowid"
        if limit is not None or offset:
            query += " LIMIT ? OFFSET ?"
            args.extend([-1 if limit is None else limit, offset])
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [dict(r) for r in rows]


def _metric_filter(trial_id: str | None, kind: str | None, trial_ids: list[str] | None) -> tuple[str, list[Any]]:
    """The WHERE clause (and its arguments) selecting metric rows by trial, kind and trial list."""
    where, args = " WHERE 1=1", list[Any]()
    if trial_id is not None:
        where += " AND trialJobId=?"
        args.append(trial_id)
    if kind in ("FINAL", "PERIODICAL"):
        where += f" AND type='{kind}'"   # a literal, so the partial index of FINAL rows serves it
    elif kind is not None:
        where += " AND type=?"
        args.append(kind)
    if trial_ids is not None:
        where += f" AND trialJobId IN ({','.join('?' * len(trial_ids))})"
        args.extend(trial_ids)
    return where, args


def _migrate_from_1(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2: per-event delivery rows become each run's next ``seq``; the indexes of schema 2.

    Schema 1's agents sent a run's events in ``seq`` order too, so a run's delivered
    events are its first ``MAX(seq) + 1``.
    """
    db.execute("CREATE TABLE IF NOT EXISTS Delivery (runId text PRIMARY KEY, nextSeq integer)")
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='Delivered'").fetchone():
        db.execute("INSERT OR REPLACE INTO Delivery SELECT trialJobId, MAX(seq) + 1 FROM Delivered GROUP BY trialJobId")
        db.execute("DROP TABLE Delivered")
    db.execute("DROP INDEX IF EXISTS MetricData_trialJobId")
    db.execute("DROP INDEX IF EXISTS MetricData_type")
