"""The web portal at 10,000 trials in headless Chromium (no WebGL): first paint, view switches, scrolling.

    python3 benchmarks/portal_scale.py --trials 10000 --metrics 100

A store with T finished trials x M intermediate results (written as
``benchmarks/scale.py`` writes it) is opened with ``Experiment.view``; then, in
Debian's Chromium driven by Playwright at 1280x800 without WebGL:

- first paint of the portal (navigation start -> first contentful paint) and the
  time until the overview's top-trials table shows;
- each view opened from the one before (hash change -> its ready element), as a
  user switches views;
- the trials table scrolled to its end and paged through 10 pages (time per page),
  and the longest main-thread task seen (``PerformanceObserver('longtask')``):
  a frozen page shows as a long task of seconds. It is given twice more: while
  the portal loads (until plotly.js, which it loads after the first view, is in)
  and while the views are switched, the table scrolled and paged.

Needs playwright and Debian's chromium (NNI_REMOTE_CHROMIUM to use another).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from playwright.sync_api import sync_playwright

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._common import bench_dirs, ms, report  # noqa: E402
from benchmarks.local_throughput import free_port  # noqa: E402
from benchmarks.scale import fill, one_trial_experiment  # noqa: E402
from nni_remote import Experiment  # noqa: E402

NO_WEBGL = """
const original = HTMLCanvasElement.prototype.getContext;
HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
  return /webgl/i.test(type) ? null : original.call(this, type, ...rest);
};
window.__longest = 0;
window.__tasks = [];
new PerformanceObserver(list => { for (const e of list.getEntries()) { window.__longest = Math.max(window.__longest,
  e.duration); window.__tasks.push(e.duration); } }).observe({type: "longtask", buffered: true});
"""
#: (route, the element that shows the view is ready); the trial and compare routes get ids at run time.
VIEWS = [("trials", "#trials-table tbody tr"), ("trial/{one}", "#trial-info"),
         ("compare/{three}", "#compare-table"), ("params", "#parcoords-chart svg path.pc-line"),
         ("metrics", "#final-chart .main-svg"), ("importance", "#importance-chart .main-svg"),
         ("machines", "#machines-table tbody tr, .table-wrap p.empty"), ("overview", "#best-table tbody tr")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10000)
    parser.add_argument("--metrics", type=int, default=100, help="intermediate results per trial")
    args = parser.parse_args()
    root, code = bench_dirs("nnir-portal-", "import nni\nnni.get_next_parameter()\nnni.report_final_result(0.5)\n")
    try:
        run(args, root, code)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: str, code: str) -> None:
    exp_id, db_path = one_trial_experiment(root, code, {"x": {"_type": "uniform", "_value": [0, 1]},
                                                        "lr": {"_type": "loguniform", "_value": [1e-4, 1]}})
    ids = fill(db_path, args.trials, args.metrics)
    viewed = Experiment.view(exp_id, port=free_port(), non_blocking=True)
    try:
        rows = browse(f"http://127.0.0.1:{viewed.port}/", ids)
    finally:
        viewed.stop()
    report(f"portal at {len(ids)} trials x {args.metrics} intermediate results (Chromium, 1280x800, no WebGL)", rows)


def browse(base: str, ids: list[str]) -> list[tuple[str, str]]:
    chromium = os.environ.get("NNI_REMOTE_CHROMIUM", "/usr/bin/chromium")
    rows: list[tuple[str, str]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-background-networking",
                                          "--disable-component-update", "--disable-dev-shm-usage"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.add_init_script(NO_WEBGL)
            t = time.perf_counter()
            page.goto(base + "#/overview")
            page.wait_for_selector("#best-table tbody tr", timeout=120_000)
            overview = time.perf_counter() - t
            fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1")
            rows += [("first contentful paint", ms(fcp / 1000)), ("overview with its top trials", ms(overview))]
            # plotly.js loads after the first view (one long task: compiling and running 4.8 MB); wait for it,
            # so that the tasks seen from here on are those of switching, scrolling and paging.
            page.wait_for_function("() => window.Plotly !== undefined || document.body.dataset.plotly !== 'yes'",
                                   timeout=120_000)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            rows.append(("longest task while loading (plotly.js included)",
                         ms(page.evaluate("() => { const m = Math.max(0, ...window.__tasks); window.__tasks = [];"
                                          " return m; }") / 1000)))
            for route, ready in VIEWS:
                route = route.format(one=ids[len(ids) // 2], three=",".join(ids[:3]))
                t = time.perf_counter()
                page.evaluate("r => { location.hash = '#/' + r; }", route)
                page.wait_for_selector(ready, timeout=120_000)
                rows.append((f"switch to {route.split('/')[0]}", ms(time.perf_counter() - t)))
            page.evaluate("r => { location.hash = '#/trials'; }", "")
            page.wait_for_selector("#trials-table tbody tr", timeout=60_000)
            t = time.perf_counter()
            page.mouse.wheel(0, 20000)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            rows.append(("scroll the trials table to its end (next frame)", ms(time.perf_counter() - t)))
            rows.append(("trials table paged through 10 pages, per page", ms(page_through(page, 10) / 10)))
            rows.append(("longest task while switching, scrolling, paging",
                         ms(page.evaluate("Math.max(0, ...window.__tasks)") / 1000)))
            rows.append(("longest main-thread task seen", ms(page.evaluate("window.__longest") / 1000)))
        finally:
            browser.close()
    return rows


def page_through(page, pages: int) -> float:
    """Seconds to go ``pages`` pages forward in the trials table (each: click Next -> its first row changed)."""
    t = time.perf_counter()
    for _ in range(pages):
        first = page.inner_text("#trials-table tbody tr:first-child")
        page.click("button[data-fk=\"next:trials-table\"]")
        page.wait_for_function("f => document.querySelector('#trials-table tbody tr:first-child')?.innerText !== f",
                               arg=first, timeout=60_000)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
