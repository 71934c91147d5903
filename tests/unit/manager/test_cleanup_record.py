"""The record of host cleanup that ``stop`` could not finish."""
from __future__ import annotations

import os
import stat

from nni_remote.common import cleanup_record as cleanup
from nni_remote.manager.cleanup import retry_pending


def test_failures_are_recorded_kept_since_first_and_dropped_once_cleaned(tmp_path):
    directory = str(tmp_path)
    assert cleanup.pending(directory) == {}
    first = cleanup.record(directory, {"h1": "no answer within 10 s", "h2": "connection refused"})
    assert set(first) == {"h1", "h2"}
    path = os.path.join(directory, cleanup.PENDING_FILE)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = cleanup.record(directory, {"h1": "still partitioned"}, cleaned=["h2"])
    assert set(again) == {"h1"} and again["h1"]["since"] == first["h1"]["since"]
    assert "h1: cleanup pending since" in cleanup.describe(again) and "still partitioned" in cleanup.describe(again)
    assert cleanup.record(directory, {}, cleaned=["h1"]) == {} and not os.path.exists(path)
    assert retry_pending(directory, "exp") == {}          # nothing pending: nothing to load or reach
