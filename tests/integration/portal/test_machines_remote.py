"""The Machines page against real SSH hosts (the remote rig): a drained machine and its re-enable button.

Needs root and sshd (the rig of tests/integration/remote); skipped, saying why, without them.
"""
from __future__ import annotations

import time

import pytest

from tests.integration.portal import kit
from tests.integration.remote.conftest import rig_factory  # noqa: F401  (real sshd hosts)
from tests.integration.remote.remote_helpers import install_known_hosts, per_machine, remote_config, start

pytestmark = [pytest.mark.browser, pytest.mark.remote]

BROKEN_ON_ONE_HOST = '''
import os, time
import nni
p = nni.get_next_parameter()
if os.path.exists(os.path.expanduser("~/.broken")):
    raise SystemExit("this host lacks a dependency")
print("hello from a remote trial", flush=True)
time.sleep(p.get("sleep", 0))
nni.report_final_result(p["x"])
'''


def test_drained_machine_is_shown_and_re_enabled(rig_factory, browser, tmp_path, isolated_home,  # noqa: F811
                                                 experiments):
    rig = rig_factory(2, logins=["key", "key"])
    bad, good = rig.hosts
    rig.run_on(bad, "touch ~/.broken")
    install_known_hosts(rig, str(isolated_home))
    machines = [per_machine(h.machine_config(), maxTrialNumber=1) for h in rig.hosts]
    # No trial budget. Until the healthy host's first success the broken host may not be drained, so it
    # burns one trial every few ms (29 of 40 here at load 0.2, more on an idle box); with a budget, what
    # was left after the drain could run out before the click and no trial would ever reach the
    # re-enabled host (the flake: 2 failures in 36 runs, also at load 0.56).
    config = remote_config(tmp_path, machines, trial_concurrency=2, max_trial_number=None,
                           space={"x": {"_type": "uniform", "_value": [0, 1]},
                                  "sleep": {"_type": "choice", "_value": [1.0]}})
    (tmp_path / "code" / "trial.py").write_text(BROKEN_ON_ONE_HOST)
    exp = start(config, experiments)
    api = kit.Api(exp.port)

    def machine(address: str) -> dict:
        return next(m for m in api.ours("machines") if m["address"] == address)

    kit.wait_for(lambda: machine(bad.address)["drained"], timeout=90, what="the broken host drained")
    drained, healthy = machine(bad.address), machine(good.address)
    assert drained["state"] == "drained" and "re-enable" in drained["error"] and drained["errors"]
    assert healthy["state"] == "ready" and not healthy["drained"] and healthy["lastHeartbeat"] > 0
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.goto(f"http://127.0.0.1:{exp.port}/#/machines")
        button = f"#machines-table button[data-action='enable'][data-machine='{drained['name']}']"
        tab.wait_for_selector(button)
        assert "re-enable" in tab.locator("#machines-table").inner_text()        # the reason is shown
        tab.screenshot(path=str(tmp_path / "machines-drained.png"), full_page=True)
        clicked = time.time() * 1000
        tab.click(button)
        tab.wait_for_selector("#toast.good")
        kit.wait_for(lambda: any(t["machine"] == drained["name"] and (t["startTime"] or 0) >= clicked
                                 for t in api.ours("trials")), what="a new trial sent to the re-enabled host")
        tab.screenshot(path=str(tmp_path / "machines-enabled.png"), full_page=True)
        ok = next(t for t in api.ours("trials") if t["status"] == "SUCCEEDED")          # a trial on a remote host
        tab.goto(f"http://127.0.0.1:{exp.port}/#/trial/{ok['trialJobId']}")
        kit.wait_for(lambda: "hello from a remote trial" in tab.locator("#log-view").inner_text(), what="its stdout")
        assert ok["logPath"].startswith(good.address + ":") and ok["logPath"] in tab.locator(".page").inner_text()
        tab.screenshot(path=str(tmp_path / "remote-trial.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
