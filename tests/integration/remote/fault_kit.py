"""Shared pieces of the fault suite: a trial that logs what it sent, and the check against the store.

Each trial writes ``sent-<attempt>.json`` in its trial directory on its host:
the id ``nni.get_trial_id()`` gave it, its attempt number, and every value it
reported. A fault test then checks, for every trial, that the store holds
exactly what the *counted* attempt sent: nothing lost, nothing duplicated,
nothing from an abandoned attempt.
"""
from __future__ import annotations

import json
import textwrap
import time
from typing import Any, Optional

from tests.integration.local.conftest import wait_for
from tests.integration.remote.remote_helpers import rig_by_address

SENT_TRIAL = textwrap.dedent('''
    import json, os, sys, time
    import nni
    p = nni.get_next_parameter()
    steps, sleep = int(p.get("steps", 1)), float(p.get("sleep", 0))
    attempt = os.environ.get("NNI_REMOTE_TRIAL_ATTEMPT", "?")
    log = {"trial_id": nni.get_trial_id(), "attempt": attempt, "periodical": [], "final": None}
    path = os.path.join(os.environ["NNI_OUTPUT_DIR"], "sent-%s.json" % attempt)
    def save():
        with open(path + ".tmp", "w") as f:
            json.dump(log, f)
        os.replace(path + ".tmp", path)
    if p.get("daemon"):                    # leave a daemon behind: double fork + setsid
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "7%03d" % int(p["daemon"])])
            os._exit(0)
        os.wait()
    for i in range(steps):
        value = round(p.get("x", 0) + i, 6)
        nni.report_intermediate_result(value)
        log["periodical"].append(value)
        save()
        time.sleep(sleep / steps)
    log["final"] = p.get("x", 0)
    nni.report_final_result(log["final"])
    save()
''')


def sent_code_dir(tmp_path: Any) -> str:
    code = tmp_path / "faultcode"
    code.mkdir(parents=True, exist_ok=True)
    (code / "trial.py").write_text(SENT_TRIAL)
    return str(code)


def check_metrics(exp: Any, rig: Any, max_trials: int) -> dict[str, Any]:
    """Exactly ``max_trials`` successes, each with exactly the metrics its counted attempt sent."""
    jobs = exp.list_trial_jobs()
    assert len(jobs) == max_trials, [(j.trialJobId, j.status) for j in jobs]
    assert all(j.status == "SUCCEEDED" for j in jobs), [(j.trialJobId, j.status, j.message) for j in jobs]
    metrics = exp.get_job_metrics()
    by_addr = rig_by_address(rig)
    for job in jobs:
        host = by_addr[job.machine]
        sent = json.loads(rig.run_on(host, f"cat nni-remote/{exp.id}/trials/{job.trialJobId}/"
                                           f"sent-{job.attempt}.json"))
        assert sent["trial_id"] == job.trialJobId, "nni.get_trial_id() differs from the REST id"
        records = metrics.get(job.trialJobId, [])
        periodical = sorted((m.sequence, m.data) for m in records if m.type == "PERIODICAL")
        finals = [m.data for m in records if m.type == "FINAL"]
        assert [s for s, _ in periodical] == list(range(len(sent["periodical"]))), job.trialJobId  # none twice
        assert [d for _, d in periodical] == sent["periodical"], job.trialJobId      # none lost, none foreign
        assert finals == [sent["final"]], job.trialJobId
    return {j.trialJobId: j for j in jobs}


def machine_state(exp: Any, address: str) -> Optional[dict[str, Any]]:
    for m in exp._rest.machines():
        if m["address"] == address:
            return m
    return None


def wait_state(exp: Any, address: str, states: tuple[str, ...], timeout: float = 120.0) -> float:
    """Wait until the machine at ``address`` is in one of ``states``; returns when (time.time())."""
    wait_for(lambda: (machine_state(exp, address) or {}).get("state") in states, timeout=timeout, interval=0.1,
             what=f"machine {address} in {states}")
    return time.time()


def leftover_sleeps(rig: Any, host: Any) -> list[str]:
    """Processes of the host's user that a trial left (agents, trials, their daemons)."""
    out = rig.run_on(host, f"ps -u {host.user} -o pid=,args=")
    return [line for line in out.splitlines() if "agent" in line or "trial.py" in line or "sleep 7" in line]
