"""Local mode: trials that daemonise (setsid + double fork) do not survive ``stop``."""
from __future__ import annotations

import psutil

from tests.integration.local.conftest import wait_for
from tests.integration.remote.fault_kit import SENT_TRIAL


def daemons(tag: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if (proc.info["cmdline"] or [])[:2] == ["sleep", tag]:
            found.append(proc)
    return found


def test_daemonised_trials_are_ended_by_stop(launch, code_dir):
    (code_dir / "trial.py").write_text(SENT_TRIAL)
    value = 100 + (hash(str(code_dir)) % 800)       # one sleep argument per test run: only ours are counted
    tag = "7%03d" % value
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "daemon": {"_type": "choice", "_value": [value]},
             "steps": {"_type": "choice", "_value": [60]},
             "sleep": {"_type": "choice", "_value": [60]}}
    exp = launch(search_space=space, trial_concurrency=2, max_trial_number=2)
    wait_for(lambda: len(daemons(tag)) >= 2, timeout=60, what="2 daemonised sleeps")
    exp.stop()
    assert daemons(tag) == [], "a daemonised trial process survived stop"
