"""Reading an experiment's latest profile (its config) from its database, without a manager.

The manager's store writes one ``ExperimentProfile`` row per revision; the
latest one is the experiment's state. ``Experiment.load_checkpoint`` reads it
here, read-only, so the user side never imports the manager.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Optional

LATEST_PROFILE = "SELECT * FROM ExperimentProfile ORDER BY revision DESC, rowid DESC LIMIT 1"


def profile_from_row(row: Optional[sqlite3.Row]) -> Optional[dict[str, Any]]:
    """The profile dict of an ``ExperimentProfile`` row (params decoded, a NULL endTime dropped)."""
    if row is None:
        return None
    profile = dict(row)
    profile["params"] = json.loads(profile["params"])
    if profile.get("endTime") is None:
        profile.pop("endTime", None)
    return profile


def read_profile(db_path: str) -> Optional[dict[str, Any]]:
    """The latest profile stored in an experiment database, or None (no database, no profile yet)."""
    return read_stored(db_path)[0]


def read_stored(db_path: str, meta: Optional[str] = None) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """The latest profile and, if asked, one ``Meta`` value of an experiment database, read-only.

    (None, None) where there is no database or nothing stored yet.
    """
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None, None
    try:
        db.row_factory = sqlite3.Row
        profile = profile_from_row(db.execute(LATEST_PROFILE).fetchone())
        value = None
        if meta is not None:
            row = db.execute("SELECT value FROM Meta WHERE key=?", (meta,)).fetchone()
            value = None if row is None else row[0]
        return profile, value
    except sqlite3.Error:
        return None, None
    finally:
        db.close()
