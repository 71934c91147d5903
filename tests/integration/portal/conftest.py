"""Portal fixtures: one live experiment (see kit.py) and one headless Chromium page for the module."""
from __future__ import annotations

import contextlib
import os
import shutil
from typing import Any, Callable, Iterator

import pytest

from tests.integration.portal.kit import live  # noqa: F401  (the live kit experiment)

CHROMIUM = os.environ.get("NNI_REMOTE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-dev-shm-usage"]


@contextlib.contextmanager
def chromium_launcher() -> Iterator[Callable[..., Any]]:
    """``launch(*extra_args)`` of Debian's chromium under Playwright (skips, saying why, when either is missing)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install playwright (never `playwright install`)")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium (or set NNI_REMOTE_CHROMIUM)")
    with sync_playwright() as p:
        yield lambda *extra: p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + list(extra),
                                               headless=True)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (skipped, saying why, when either is missing)."""
    with chromium_launcher() as launch:
        b = launch()
        try:
            yield b
        finally:
            b.close()


class Console:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(f"console.error: {msg.text} ({msg.location})")

    def on_error(self, exc) -> None:
        self.errors.append(f"uncaught: {exc}")


@pytest.fixture(scope="module")
def page(browser, live):
    """One tab on the live experiment's portal (plotly.js is loaded once for the module)."""
    exp, _, _ = live
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    console = Console()
    tab.on("console", console.on_console)
    tab.on("pageerror", console.on_error)
    tab.console = console
    tab.base = f"http://127.0.0.1:{exp.port}/"
    tab.goto(tab.base)
    tab.wait_for_selector("#card-status .badge")
    try:
        yield tab
    finally:
        context.close()
