"""manager/agent_trust.py: one credential per machine; runs belong to machines; impossible times refused."""
from __future__ import annotations

import time
from types import SimpleNamespace

from nni_remote.manager.agent_trust import MachineCredentials, owns_run, plausible_time


def test_each_machine_has_its_own_credential():
    creds = MachineCredentials()
    a, b = creds.token_for("h1"), creds.token_for("h2")
    assert a != b and creds.token_for("h1") == a
    assert creds.machine_for(a) == "h1" and creds.machine_for(b) == "h2"
    assert creds.machine_for("") is None and creds.machine_for(a + "x") is None and creds.machine_for("é") is None


def test_runs_belong_to_the_machine_they_were_placed_on():
    trial = SimpleNamespace(machine="h1", sent=True)
    assert owns_run(trial, "h1") and not owns_run(trial, "h2") and not owns_run(None, "h1")
    assert not owns_run(SimpleNamespace(machine="h1", sent=False), "h1")


def test_impossible_times_are_replaced_by_the_head_clock():
    now = int(time.time() * 1000)
    assert plausible_time(now - 10, not_before=now - 1000, what="start", trial_id="t") == now - 10
    for bad in (now - 10 ** 9, now + 10 ** 9, "soon", None, True):
        got = plausible_time(bad, not_before=now - 1000, what="end", trial_id="t")
        assert now - 1000 <= got <= int(time.time() * 1000) + 1
