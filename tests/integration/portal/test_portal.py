"""The web portal in headless Chromium against a live experiment.

Each page loads with no console error, shows the live data and draws its
charts; concurrency is edited in place and a trial is killed from the page.
Screenshots of every page go to the test's tmp_path.
"""
from __future__ import annotations

import pytest

from tests.integration.portal import kit

pytestmark = pytest.mark.browser


def visit(page, route: str, ready: str, tmp_path, name: str) -> None:
    page.console.errors.clear()
    page.goto(page.base + "#/" + route)
    page.wait_for_selector(ready, timeout=20000)
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def last_tick(page) -> int:
    ticks = [line for line in page.locator("#log-view").inner_text().splitlines() if line.startswith("tick ")]
    return int(ticks[-1].split()[1]) if ticks else -1


def text_of(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def test_overview(page, live, tmp_path):
    _, api, _ = live
    visit(page, "overview", "#best-table tbody tr", tmp_path, "overview")
    profile = api.nni("experiment")
    assert page.locator("#hdr-id").inner_text() == profile["id"]
    assert page.locator("#hdr-name").inner_text() == "kit <i>demo</i>"      # escaped, not markup
    assert page.locator("#hdr-name i").count() == 0
    assert page.input_value("#set-trialConcurrency") == "3"
    assert page.input_value("#set-maxTrialNumber") == "20"
    assert "/ 20" in text_of(page, "#card-trials")
    best = api.ours("overview")["bestTrials"][0]
    assert best["value"] == 0.75
    assert best["trialJobId"] in text_of(page, "#best-table tbody tr:first-child")
    assert page.console.errors == []


def test_trials_table_sort_and_filter(page, live, tmp_path):
    _, api, _ = live
    trials = api.ours("trials")
    visit(page, "trials", "#trials-table tbody tr", tmp_path, "trials")
    kit.wait_for(lambda: page.locator("#trials-table tbody tr").count() == len(trials), what="all rows")
    for t in trials:
        row = page.locator(f"#trials-table tr[data-trial='{t['trialJobId']}']")
        assert row.locator(".badge").inner_text() == t["status"]
        assert row.locator("td").nth(8).inner_text() == ",".join(map(str, t["gpus"]))   # the GPUs column
        assert f"x={t['parameters']['x']}" in row.inner_text()
    failed = kit.wait_for(lambda: api.trial_with(kit.FAILS))
    assert "exit code 3" in page.locator(f"tr[data-trial='{failed['trialJobId']}']").inner_text()
    page.click("#trials-table th[data-key='metric:default']")     # best first (maximize)
    kit.wait_for(lambda: page.locator("#trials-table tbody tr:first-child").get_attribute("data-trial")
                 == api.ours("overview")["bestTrials"][0]["trialJobId"], what="sorted by metric")
    page.fill("#trial-filter", "sgd")
    kit.wait_for(lambda: page.locator("#trials-table tbody tr").count() == 3, what="filtered rows")
    page.fill("#trial-filter", "")
    page.select_option("#trial-status", "FAILED")
    kit.wait_for(lambda: page.locator("#trials-table tbody tr").count() == 1, what="status filter")
    page.select_option("#trial-status", "")
    assert page.console.errors == []


def test_trial_detail(page, live, tmp_path):
    _, api, _ = live
    trial = api.trial_with(kit.HELD[0])
    tid = trial["trialJobId"]
    visit(page, f"trial/{tid}", "#intermediate-chart .main-svg", tmp_path, "trial")
    kit.wait_for(lambda: "tick" in page.locator("#log-view").inner_text(), what="the stdout tail")
    first = last_tick(page)
    kit.wait_for(lambda: last_tick(page) > first, what="the tail to grow without a reload")   # live
    assert trial["logPath"] in page.locator(".page").inner_text()             # where its files are
    assert page.locator("#intermediate-chart .scatterlayer .trace").count() >= 1
    page.click("button.tab[data-file='trial.log']")
    kit.wait_for(lambda: f"trial.log of {tid}" in page.locator("#log-view").inner_text(), what="trial.log")
    failed = api.trial_with(kit.FAILS)
    page.goto(page.base + f"#/trial/{failed['trialJobId']}")
    page.click("button.tab[data-file='trial.stderr']")
    kit.wait_for(lambda: "fails on purpose" in page.locator("#log-view").inner_text(), what="stderr")
    assert page.console.errors == []


@pytest.mark.parametrize("route,chart", [("params", "#parcoords-chart svg.pc"), ("metrics", "#final-chart .main-svg"),
                                         ("metrics", "#duration-chart .main-svg"),
                                         ("metrics", "#intermediate-all-chart .main-svg")])
def test_charts_render(page, live, tmp_path, route, chart):
    visit(page, route, chart, tmp_path, f"{route}-{chart.split()[0].strip('#')}")
    assert page.locator(chart).count() >= 1
    assert page.console.errors == []


def test_importance_says_when_there_are_too_few_trials(page, live, tmp_path):
    visit(page, "importance", "#importance-msg[data-status='too-few']", tmp_path, "importance-too-few")
    assert "at least 10 finished trials" in page.locator("#importance-msg").inner_text()
    page.wait_for_selector("#slice-0 .scatterlayer .point")                  # the few trials' slices already
    assert page.locator("#importance-chart").is_hidden()
    assert page.console.errors == []


def test_machines_and_experiments(page, live, tmp_path):
    exp, api, _ = live
    visit(page, "machines", "#machines-table tbody tr", tmp_path, "machines")
    row = page.locator("#machines-table tbody tr").first
    assert "local" in row.inner_text() and "ready" in row.inner_text()
    held = [api.trial_with(p)["trialJobId"] for p in kit.HELD]
    kit.wait_for(lambda: all(t in row.inner_text() for t in held), what="running trials listed")
    assert page.locator("#machines-table button[data-action='enable']").count() == 0   # not drained
    gpus = row.locator("ul.gpus li")
    assert gpus.count() == 2 and "GPU 0" in gpus.nth(0).inner_text() and "35%" in gpus.nth(0).inner_text()
    assert "1200/81920 MiB" in gpus.nth(0).inner_text()
    assigned = api.ours("machines")[0]["assignedGpus"]
    for trial_id, indices in assigned.items():                      # each running trial under its GPU
        assert trial_id in gpus.nth(indices[0]).inner_text()
    visit(page, "experiments", "#experiments-table tbody tr", tmp_path, "experiments")
    table = page.locator("#experiments-table").inner_text()
    assert exp.id in table and str(exp.port) in table
    assert page.console.errors == []


def test_edit_concurrency_in_place(page, live, tmp_path):
    _, api, _ = live
    visit(page, "overview", "#set-trialConcurrency", tmp_path, "before-edit")
    page.fill("#set-trialConcurrency", "4")
    page.click("#save-trialConcurrency")
    kit.wait_for(lambda: api.nni("experiment")["params"]["trialConcurrency"] == 4, what="concurrency 4")
    page.wait_for_selector("#toast.good")
    kit.wait_for(lambda: page.input_value("#set-trialConcurrency") == "4", what="the field keeps 4")
    page.fill("#set-maxTrialNumber", "0")
    page.click("#save-maxTrialNumber")
    page.wait_for_selector("#toast.bad")                         # refused with the server's message
    assert "maxTrialNumber" in page.locator("#toast").inner_text()
    assert api.nni("experiment")["params"]["maxTrialNumber"] == 20
    page.console.errors.clear()   # the refused PUT's 400 is logged by Chromium as a failed resource
    page.screenshot(path=str(tmp_path / "after-edit.png"), full_page=True)


def test_kill_and_retry_from_the_page(page, live, tmp_path):
    _, api, _ = live
    victim = api.trial_with(kit.HELD[0])["trialJobId"]
    visit(page, "trials", f"tr[data-trial='{victim}'] button[data-action='kill']", tmp_path, "before-kill")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"tr[data-trial='{victim}'] button[data-action='kill']")
    kit.wait_for(lambda: api.nni(f"trial-jobs/{victim}")["status"] == "USER_CANCELED", what="killed")
    page.wait_for_selector(f"tr[data-trial='{victim}'] .badge.st-user_canceled")
    before = len(api.ours("trials"))
    page.click("#retry-failed")
    kit.wait_for(lambda: len(api.ours("trials")) == before + 1, what="the failed trial retried")
    retried = [t for t in api.ours("trials") if t["parameterSource"] == "customized"]
    assert [t["parameters"] for t in retried] == [kit.FAILS]
    page.wait_for_selector(f"tr[data-trial='{retried[0]['trialJobId']}']")
    page.screenshot(path=str(tmp_path / "after-kill.png"), full_page=True)
    assert page.console.errors == []


NO_WEBGL = """
const original = HTMLCanvasElement.prototype.getContext;
HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
  return /webgl/i.test(type) ? null : original.call(this, type, ...rest);
};
"""


def test_parallel_coordinates_without_webgl(browser, live, tmp_path):
    exp, _, _ = live
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        context.add_init_script(NO_WEBGL)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(f"http://127.0.0.1:{exp.port}/#/params")
        tab.wait_for_selector("#parcoords-chart path.pc-line", state="attached")            # SVG lines
        assert tab.locator("#parcoords-chart path.pc-line").count() >= 3                  # a line per finished trial
        assert tab.locator("#parcoords-chart .parcoords").count() == 0
        tab.screenshot(path=str(tmp_path / "params-svg.png"), full_page=True)
        assert errors == []
    finally:
        context.close()


def test_portal_with_an_access_token(browser, tmp_path, monkeypatch):
    """A manager on 0.0.0.0 (only ever reached at 127.0.0.1 here): ?token= once, then the cookie."""
    import subprocess
    import sys

    import requests

    from nni_remote import ExperimentConfig
    from tests.conftest import free_port, lan_address
    lan = lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback IPv4 address to reach the manager from")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    port = free_port()
    workdir = tmp_path / "exps"
    proc = subprocess.Popen([sys.executable, "-m", "nni_remote.manager", "--port", str(port), "--experiment-id",
                             "tokenui", "--experiments-directory", str(workdir), "--host", "0.0.0.0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = browser.new_context()
    try:
        base = f"http://{lan}:{port}"           # off loopback: the owner's own uid is not enough there

        def up() -> bool:
            try:
                return requests.get(base + "/api/v1/nni/check-status", timeout=2).ok
            except requests.ConnectionError:
                return False
        kit.wait_for(up, what="the manager")
        token = (workdir / "tokenui" / ".portal-token").read_text().strip()
        bearer = {"Authorization": f"Bearer {token}"}
        config = ExperimentConfig(**kit.config_kwargs(tmp_path / "code", workdir)).canonical()
        assert requests.post(base + "/api/v1/nni/experiment", json=config.to_json(include_secrets=True),
                             headers=bearer).ok
        stranger = context.new_page()
        denied = stranger.goto(base + "/")
        assert denied.status == 401 and "token" in stranger.inner_text("body")
        stranger.close()
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.goto(base + f"/?token={token}#/trials")
        assert "token" not in tab.url                                          # the token left the address bar
        tab.wait_for_selector("#trials-table tbody tr")                        # API calls carry the cookie
        tab.screenshot(path=str(tmp_path / "token-trials.png"))
        assert errors == []
        kit.wait_for(kit.Api(port, token).settled, what="the experiment to settle")   # its agent is up
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/nni/check-status").ok  # the owner on loopback
        for params in kit.HELD:
            kit.release(tmp_path / "code", params)
        requests.delete(base + "/api/v1/nni/experiment", headers=bearer)
        proc.wait(timeout=30)
    finally:
        context.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_no_serious_axe_violation_with_running_failed_and_gpu_trials(page, live, tmp_path):
    from tests.integration.portal.test_views import serious_axe_violations
    _, api, _ = live
    running = api.trial_with(kit.HELD[1])["trialJobId"]
    found = []
    for route, ready in (("overview", "#best-table tbody tr"), ("trials", "#trials-table tbody tr"),
                         (f"trial/{running}", "#trial-info"), ("machines", "#machines-table tbody tr"),
                         ("importance", "#importance-msg[data-status]")):
        visit(page, route, ready, tmp_path, "axe-" + route.split("/")[0])
        found += [f"#/{route}: {v}" for v in serious_axe_violations(page)]
    assert found == []
    assert page.console.errors == []
