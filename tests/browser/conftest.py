"""Headless Chromium for the page tests: one browser per session, a fresh context per test.

Set DIGITS_TEST_URL to point the tests at a server that is already running instead of
starting one (handy while working on the page).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.skip(f"no Chromium at {executable} (set CHROMIUM_PATH)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def base_url(request) -> str:
    url = os.environ.get("DIGITS_TEST_URL")
    if url:
        return url.rstrip("/")
    return request.getfixturevalue("live_server").url


class PageProblems:
    """Console errors and uncaught exceptions of a page; a CSP violation shows up here too."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page, allow: tuple[str, ...] = ()) -> Page:
        def on_console(message) -> None:
            if message.type == "error" and not any(text in message.text for text in allow):
                self.errors.append(f"console: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        return page


@pytest.fixture()
def problems() -> Iterator[PageProblems]:
    found = PageProblems()
    yield found
    assert not found.errors, "the page logged errors:\n" + "\n".join(found.errors)


@pytest.fixture()
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture()
def page(context: BrowserContext, problems: PageProblems) -> Page:
    return problems.watch(context.new_page())


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
