"""A real Chromium page from a foreign origin can neither read nor change an experiment.

Two attacks, both against a manager on loopback whose user runs the browser:

- **cross-origin**: a page of ``evil.example`` (another loopback port, another
  ``Host``) fetches the manager's API and posts to it the ways a page can
  without asking (no-cors fetch, ``text/plain`` body, an HTML form);
- **DNS rebinding**: a page of ``rebind.example:<manager port>`` whose name
  then resolves to 127.0.0.1 makes *same-origin* requests that reach the
  manager with ``Host: rebind.example``.

Afterwards the experiment is still running with its budget unchanged.
"""
from __future__ import annotations

import http.server
import threading

import pytest
import requests

from tests.conftest import free_port
from tests.integration.local.conftest import wait_for
from tests.integration.portal.conftest import chromium_launcher

NO_LOCAL_NETWORK_ACCESS = ("--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,"
                           "PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks")

EVIL = """<!doctype html><title>evil</title><body>
<form id="f" method="POST" action="{api}/api/v1/nni/experiment?update_type=MAX_TRIAL_NUM" enctype="text/plain">
<input name='{{"params": {{"maxTrialNumber": 99}}, "x": "' value='"}}'></form>
<script>
window.results = {{}};
async function attempt(name, url, init) {{
  try {{
    const r = await fetch(url, init);
    window.results[name] = r.type === "opaque" ? "opaque" : r.status + " " + (await r.text()).slice(0, 300);
  }} catch (e) {{ window.results[name] = "blocked: " + e; }}
}}
window.attack = async function (api) {{
  await attempt("read", api + "/api/v1/nni/experiment", {{}});
  await attempt("read-trials", api + "/api/v1/nni/trial-jobs", {{}});
  await attempt("budget", api + "/api/v1/nni/experiment?update_type=MAX_TRIAL_NUM",
                {{method: "PUT", headers: {{"Content-Type": "application/json"}},
                  body: JSON.stringify({{params: {{maxTrialNumber: 99}}}})}});
  await attempt("budget-no-cors", api + "/api/v1/nni/experiment?update_type=MAX_TRIAL_NUM",
                {{method: "PUT", mode: "no-cors", body: JSON.stringify({{params: {{maxTrialNumber: 99}}}})}});
  await attempt("retry-text", api + "/api/v1/nni-remote/trials/retry-failed",
                {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}});
  await attempt("stop", api + "/api/v1/nni/experiment", {{method: "DELETE", mode: "no-cors"}});
  return window.results;
}};
</script></body>"""


@pytest.fixture
def chromium():
    """``launch(*extra_args)``: Debian's chromium (the portal tests' launcher)."""
    with chromium_launcher() as launch:
        yield launch


def _serve(page: str) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            data = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def _running_experiment(launch):
    exp = launch(trial_concurrency=1, max_trial_number=3, search_space={"sleep": {"_type": "choice",
                                                                                  "_value": [600]}})
    wait_for(lambda: exp.get_status() == "RUNNING", 60, what="the experiment to run")
    return exp


def _unchanged(exp) -> None:
    base = f"http://127.0.0.1:{exp.port}"
    assert requests.get(base + "/api/v1/nni/check-status", timeout=10).json()["status"] == "RUNNING"
    assert requests.get(base + "/api/v1/nni/experiment", timeout=10).json()["params"]["maxTrialNumber"] == 3


def test_cross_origin_page_reads_and_writes_nothing(chromium, launch):
    exp = _running_experiment(launch)
    api = f"http://127.0.0.1:{exp.port}"
    server, port = _serve(EVIL.format(api=api))
    browser = chromium("--host-resolver-rules=MAP evil.example 127.0.0.1", NO_LOCAL_NETWORK_ACCESS)
    try:
        page = browser.new_page()
        page.goto(f"http://evil.example:{port}/")
        results = page.evaluate("api => window.attack(api)", api)
        assert results["read"].startswith("blocked") and results["read-trials"].startswith("blocked"), results
        assert results["budget"].startswith("blocked"), results           # preflight refused: never sent
        with page.expect_navigation():
            page.evaluate("document.getElementById('f').submit()")             # a classic CSRF form post
        assert "Refused" in page.content() or "may not change" in page.content()
        _unchanged(exp)
    finally:
        browser.close()
        server.shutdown()


def test_dns_rebinding_page_reads_and_writes_nothing(chromium, launch):
    exp = _running_experiment(launch)
    origin = f"http://rebind.example:{exp.port}"
    # a browser without Local Network Access protection (the audit's case): rebinding is the manager's problem
    browser = chromium("--host-resolver-rules=MAP rebind.example 127.0.0.1", NO_LOCAL_NETWORK_ACCESS)
    try:
        page = browser.new_page()
        # the attacker's server answered the first lookup; afterwards the name resolves to 127.0.0.1
        page.route(origin + "/", lambda route: route.fulfill(status=200, content_type="text/html",
                                                              body=EVIL.format(api=origin)))
        page.goto(origin + "/")
        results = page.evaluate("api => window.attack(api)", origin)
        for name in ("read", "read-trials", "budget"):
            assert results[name].startswith("403") and "NNI_REMOTE_ALLOW_HOSTS" in results[name], results
        _unchanged(exp)
    finally:
        browser.close()
