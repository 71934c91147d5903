"""Every portal view in Debian's Chromium without WebGL, on one finished 20-trial dict-metric experiment.

For each view: its charts have drawn data points, no console error, no request
leaves the manager, no horizontal overflow at 1280x800, and axe-core finds no
serious or critical violation; a screenshot of each view at 1280x800 is saved
($NNI_REMOTE_PORTAL_SCREENSHOTS, or a pytest tmp dir named in the output).
Then what the views do: metric keys, compare, export round trip, importance,
brushing, keyboard, 800 px.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.portal.conftest import Console
from tests.integration.portal.study import SPACE, screenshots_dir, study  # noqa: F401  (module fixture)
from tests.integration.portal.kit import wait_for

pytestmark = pytest.mark.browser

NO_WEBGL = """
const original = HTMLCanvasElement.prototype.getContext;
HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
  return /webgl/i.test(type) ? null : original.call(this, type, ...rest);
};
"""
# Data points drawn in a chart: plotly markers, bars and line paths, or parcoords.js lines.
POINTS = """el => el.querySelectorAll(
  '.scatterlayer .point, .barlayer .point, .scatterlayer path.js-line, path.pc-line').length"""


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    path = screenshots_dir(tmp_path_factory)
    print(f"\nportal screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def tab(browser, study):  # noqa: F811
    """A 1280x800 tab where WebGL does not exist, watching console errors and requests leaving the manager."""
    exp, _ = study
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.add_init_script(NO_WEBGL)
    page = context.new_page()
    page.console = Console()
    page.on("console", page.console.on_console)
    page.on("pageerror", page.console.on_error)
    page.base = f"http://127.0.0.1:{exp.port}/"
    page.outside = []
    page.on("request", lambda r: page.outside.append(r.url) if not r.url.startswith(page.base) else None)
    try:
        yield page
    finally:
        context.close()


def trial_ids(api) -> list[str]:
    return [t["trialJobId"] for t in api.ours("trials")]


def views(api) -> list[tuple[str, str, list[str]]]:
    """(route, what shows it is ready, charts that must have data points)."""
    ids = trial_ids(api)
    return [
        ("overview", "#best-table tbody tr", ["#best-chart"]),
        ("trials", "#trials-table tbody tr", []),
        (f"trial/{ids[0]}", "#trial-info", ["#intermediate-chart"]),
        ("compare/" + ",".join(ids[:3]), "#compare-table", ["#compare-chart"]),
        ("params", "#parcoords-chart svg", ["#parcoords-chart"]),
        ("metrics", "#final-chart .main-svg", ["#final-chart", "#duration-chart", "#intermediate-all-chart"]),
        ("importance", "#importance-chart .main-svg", ["#importance-chart", "#slice-0", "#slice-1", "#slice-2"]),
        ("machines", "#machines-table tbody tr", []),
        ("experiments", "#experiments-table tbody tr", []),
    ]


def points(page, selector: str) -> int:
    return page.eval_on_selector(selector, POINTS)


def serious_axe_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe
    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}" for v in found
            if v["impact"] in ("serious", "critical")]


def goto(page, route: str, ready: str) -> None:
    page.goto(page.base + "#/" + route)
    page.wait_for_selector(ready, timeout=30000)


def overflow(page) -> list[str]:
    """Elements wider than their box: the page itself and every table wrapper."""
    return page.evaluate("""() => [document.documentElement, ...document.querySelectorAll('.table-wrap, .panel')]
      .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => (e.id || e.className || e.tagName) +
      ` ${e.scrollWidth}>${e.clientWidth}`)""")


def test_every_view_at_1280(tab, study, shots):  # noqa: F811
    _, api = study
    failures = []
    for route, ready, charts in views(api):
        tab.console.errors.clear()
        goto(tab, route, ready)
        for chart in charts:
            wait_for(lambda: points(tab, chart) > 0, timeout=30, what=f"data points in {chart} on #/{route}")
        name = route.split("/")[0]
        tab.screenshot(path=f"{shots}/{name}.png", full_page=True)
        problems = {"console": list(tab.console.errors), "overflow": overflow(tab),
                    "axe": serious_axe_violations(tab), "outside": list(tab.outside)}
        failures += [f"#/{route} {k}: {v}" for k, v in problems.items() if v]
    assert failures == []


def test_dict_metric_shows_default_and_switching_key_changes_charts(tab, study):  # noqa: F811
    _, api = study
    trials = api.ours("trials")
    goto(tab, "trials", "#trials-table tbody tr")
    assert tab.locator("#metric-key option").all_inner_texts() == ["default", "loss"]    # "user" is no number
    first = trials[0]
    row = tab.locator(f"#trials-table tr[data-trial='{first['trialJobId']}']")
    cell = row.locator("td").nth(5)
    assert cell.inner_text() == f"{first['finalMetric']['default']:.6g}"                  # not raw JSON
    assert "{" not in row.inner_text()
    tab.check("fieldset.columns input[data-column='loss']")
    wait_for(lambda: tab.locator("#trials-table th[data-key='metric:loss']").count() == 1, what="a loss column")
    for route, chart in (("metrics", "#final-chart"), ("overview", "#best-chart"), ("params", "#parcoords-chart")):
        goto(tab, route, f"{chart} svg")
        wait_for(lambda: points(tab, chart) > 0, what=f"{chart} drawn")
        tab.select_option("#metric-key", "default")
        wait_for(lambda: charted_key(tab, chart) == "default", what=f"{chart} drawn for default")
        before = chart_data(tab, chart)
        tab.select_option("#metric-key", "loss")
        wait_for(lambda: charted_key(tab, chart) == "loss", what=f"{chart} drawn for loss")
        assert chart_data(tab, chart) != before
    tab.select_option("#metric-key", "default")
    assert tab.console.errors == []


def charted_key(page, selector: str) -> str:
    """The key a chart shows, by its labels (axis title, legend or the parcoords metric axis)."""
    text = page.locator(selector).text_content()
    return "loss" if "loss" in text else ("default" if "default" in text else "")


def chart_data(page, selector: str) -> str:
    return page.eval_on_selector(selector, """el => el.data ? JSON.stringify(el.data.map(t => t.y))
      : Array.from(el.querySelectorAll('path.pc-line')).map(p => p.getAttribute('d')).join('|')""")


def select_trials(page, ids: list[str]) -> None:
    goto(page, "trials", "#trials-table tbody tr")
    page.select_option("#metric-key", "default")
    if page.locator("#clear-selection").count():
        page.click("#clear-selection")
    for tid in ids:
        page.check(f"#trials-table input.pick[data-trial='{tid}']")
    wait_for(lambda: page.locator("#selected-count").inner_text() == f"{len(ids)} selected", what="selection")


def test_compare_three_trials(tab, study):  # noqa: F811
    _, api = study
    ids = trial_ids(api)[:3]
    select_trials(tab, ids)
    tab.click("#compare-btn")
    tab.wait_for_selector("#compare-table")
    wait_for(lambda: tab.locator("#compare-chart .scatterlayer .trace").count() == 3, what="3 curves")
    legend = tab.locator("#compare-chart .legendtext").all_text_contents()
    assert sorted(legend) == sorted(ids)
    header = tab.locator("#compare-table thead").text_content()
    assert all(t in header for t in ids)
    assert tab.locator("#compare-table tr.diff[data-name='a']").count() == 1            # a differs: highlighted
    assert "differs" in tab.locator("#compare-table tr[data-name='a'] th").inner_text()  # and said, not only coloured
    assert tab.locator("#compare-table tr[data-name='status']:not(.diff)").count() == 1  # all SUCCEEDED
    tab.goto(tab.base + "#/trials")
    tab.click("#clear-selection")
    assert tab.console.errors == []


def test_export_selection_round_trips_through_import(tab, study, tmp_path):  # noqa: F811
    exp, api = study
    ids = trial_ids(api)[3:6]
    select_trials(tab, ids)
    with tab.expect_download() as got:
        tab.click("#export-json")
    path = tmp_path / "selection.json"
    got.value.save_as(path)
    records = json.loads(path.read_text())
    assert [r["trialJobId"] for r in records] == ids
    assert records == [r for r in api.nni("export-data") if r["trialJobId"] in ids]   # NNI's export shape
    with tab.expect_download() as got:
        tab.click("#export-csv")
    csv_text = open(got.value.path()).read()
    assert csv_text.splitlines()[0] == "a,b,c,default,loss,user,trialJobId" and len(csv_text.splitlines()) == 4
    before = len(api.nni("experiment/imported-data"))
    cli = subprocess.run([sys.executable, "-m", "nni_remote.cli", "experiment", "import", exp.id, "-f", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    imported = api.nni("experiment/imported-data")
    assert len(imported) == before + 1 and json.loads(imported[-1]) == [
        {"parameter": r["parameter"], "value": r["value"]} for r in records]
    tab.select_option("#metric-key", "loss")                          # export by key: the value is that key
    with tab.expect_download() as got:
        tab.click("#export-json")
    by_loss = json.loads(open(got.value.path()).read())
    assert [json.loads(r["value"]) for r in by_loss] == [
        t["finalMetric"]["loss"] for t in api.ours("trials") if t["trialJobId"] in ids]
    tab.select_option("#metric-key", "default")
    tab.click("#clear-selection")
    assert tab.console.errors == []


def test_cli_export_by_metric_key(study, tmp_path):  # noqa: F811
    exp, api = study
    out = subprocess.run([sys.executable, "-m", "nni_remote.cli", "experiment", "export", exp.id, "-t", "json",
                          "--metric-key", "loss"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    exported = {r["trialJobId"]: json.loads(r["value"]) for r in json.loads(out.stdout)}
    assert exported == {t["trialJobId"]: t["finalMetric"]["loss"] for t in api.ours("trials")}
    missing = subprocess.run([sys.executable, "-m", "nni_remote.cli", "experiment", "export", exp.id, "-t", "csv",
                              "-k", "nosuch"], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 0 and missing.stdout.strip() == ""                 # no trial reported it


def test_importance_ranks_the_parameter_that_matters_first(tab, study):  # noqa: F811
    _, api = study
    ranked = wait_for(lambda: (r := api.ours("insights/importance")).get("status") == "ok" and r, what="importance")
    assert [p["name"] for p in ranked["importances"]][0] == "a"
    goto(tab, "importance", "#importance-chart .main-svg")
    bars = tab.eval_on_selector("#importance-chart", "el => el.data[0].y")
    assert bars[-1] == "a"                                      # the top bar (plotly draws the last one on top)
    assert "a" == tab.locator("#slice-0 .gtitle").text_content()  # slices in the same order
    assert set(ranked["slices"]) == set(SPACE)


def test_parallel_coordinates_brush_and_top_percent(tab, study):  # noqa: F811
    goto(tab, "params", "#parcoords-chart svg")
    lines = tab.locator("#parcoords-chart path.pc-line")
    wait_for(lambda: lines.count() == 20, what="20 lines")
    assert tab.locator("#parcoords-chart .parcoords, #parcoords-chart canvas").count() == 0   # no WebGL anywhere
    box = tab.locator("#parcoords-chart g.pc-axis[data-dim='a'] rect.pc-hit").bounding_box()
    x = box["x"] + box["width"] / 2
    tab.mouse.move(x, box["y"] + 2)
    tab.mouse.down()
    tab.mouse.move(x, box["y"] + box["height"] * 0.3, steps=5)
    tab.mouse.up()
    off = tab.locator("#parcoords-chart path.pc-line.off").count()
    assert 0 < off < 20
    assert "inside the axis filters" in tab.locator("#parcoords-note").inner_text()
    tab.click("#clear-brush")
    wait_for(lambda: tab.locator("#parcoords-chart path.pc-line.off").count() == 0, what="brush cleared")
    tab.focus("#parcoords-chart g.pc-axis[data-dim='a']")                    # the keyboard brushes too
    tab.keyboard.press("ArrowDown")
    assert 0 < tab.locator("#parcoords-chart path.pc-line.off").count() < 20
    tab.keyboard.press("Escape")
    assert tab.locator("#parcoords-chart path.pc-line.off").count() == 0
    tab.select_option("#top-pct", "20")
    wait_for(lambda: lines.count() == 4, what="the top 20 % (4 of 20 lines)")
    tab.select_option("#top-pct", "100")
    wait_for(lambda: lines.count() == 20, what="all lines again")
    assert tab.console.errors == []


def test_keyboard_tables_and_tabs(tab, study):  # noqa: F811
    _, api = study
    goto(tab, "trials", "#trials-table tbody tr")
    tab.focus("#trials-table th[data-key='sequenceId'] button")
    tab.keyboard.press("Enter")                                              # sort descending by #
    wait_for(lambda: tab.locator("#trials-table th[data-key='sequenceId']").get_attribute("aria-sort")
             == "descending", what="sorted by keyboard")
    assert tab.evaluate("document.activeElement.closest('th').dataset.key") == "sequenceId"   # focus kept
    rows = tab.locator("#trials-table tbody tr")
    rows.first.focus()
    tab.keyboard.press("ArrowDown")
    second = rows.nth(1).get_attribute("data-trial")
    assert tab.evaluate("document.activeElement.dataset.trial") == second
    tab.keyboard.press("Enter")                                              # opens the focused row's trial
    tab.wait_for_url(f"**#/trial/{second}")
    tab.wait_for_selector("[role=tab][aria-selected=true]")
    tab.focus("[role=tab][aria-selected=true]")
    tab.keyboard.press("ArrowRight")
    wait_for(lambda: tab.locator("[role=tab][aria-selected=true]").inner_text() == "stderr", what="next tab")
    assert tab.evaluate("document.activeElement.getAttribute('role')") == "tab"
    goto(tab, "trials", "#trials-table tbody tr")
    tab.click("#trials-table th[data-key='sequenceId'] button")              # back to ascending
    assert tab.console.errors == []


def test_usable_at_800px(tab, study, shots):  # noqa: F811
    tab.set_viewport_size({"width": 800, "height": 800})
    try:
        for route, ready in (("trials", "#trials-table tbody tr"), ("overview", "#best-table tbody tr"),
                             ("params", "#parcoords-chart svg")):
            goto(tab, route, ready)
            assert tab.evaluate("document.documentElement.scrollWidth <= innerWidth"), route
            tab.screenshot(path=f"{shots}/{route}-800.png", full_page=True)
        goto(tab, "trials", "#trials-table tbody tr")
        assert tab.locator("#trials-table th[data-key='actions']").is_visible()        # actions still reachable
    finally:
        tab.set_viewport_size({"width": 1280, "height": 800})


def test_durations_in_human_units(tab, study):  # noqa: F811
    goto(tab, "overview", "#card-duration")
    fmt = "s => window.NR.fmtDuration(s)"
    assert [tab.evaluate(f"({fmt})({s})") for s in (0.042, 0.42, 3.46, 3, 75, 3725)] == [
        "42 ms", "420 ms", "3.4s", "3s", "1m 15s", "1h 02m 05s"]
    goto(tab, "trials", "#trials-table tbody tr")
    heads = tab.locator("#trials-table thead th").all_inner_texts()   # columns vary with the metric keys shown
    column = 1 + [h.strip().lower() for h in heads].index("duration")
    durations = tab.locator(f"#trials-table td:nth-child({column})").all_inner_texts()   # trials of < 1 s or so
    assert len(durations) == 20 and all(d.endswith("s") and d != "0s" for d in durations)


def test_big_tables_are_paged(tab, study):  # noqa: F811
    goto(tab, "machines", "#machines-table tbody tr")
    assert "GPUS" in tab.locator("#machines-table thead").inner_text()     # unsortable headers still show
    pager = tab.evaluate("""() => {
      const rows = Array.from({ length: 250 }, (_, i) => ({ n: i }));
      const node = window.NR.table("paged", [{ key: "n", label: "n" }], rows, { pageSize: 100 });
      return [node.querySelectorAll("tbody tr").length, node.querySelector(".pager").textContent];
    }""")
    assert pager[0] == 100 and "Page 1 of 3" in pager[1] and "rows 1–100 of 250" in pager[1]
