"""With Socket.IO cut off, a finished drawing is still read through POST /api/predict."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from .helpers import draw_with_mouse, expect_prediction, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.mark.parametrize("blocked", [
    pytest.param(re.compile(r"/socket\.io/\?EIO="), id="transport"),  # the client loads, cannot connect
    pytest.param("**/socket.io/**", id="everything"),  # the client library itself fails to load too
])
def test_drawing_is_predicted_without_socket(browser: Browser, base_url: str, problems, blocked) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        predictions: list[str] = []
        page.on("request", lambda r: predictions.append(r.method) if r.url.endswith("/api/predict") else None)
        # A real cut: every Socket.IO request (polling, and so the upgrade too) fails.
        page.route(blocked, lambda route: route.abort())
        problems.watch(page, allow=("net::ERR_FAILED",))
        open_page(page, base_url, live=False)
        status = page.get_by_test_id("status")
        expect(status).to_contain_text("offline", timeout=15_000)
        assert "live" not in status.inner_text()

        def nothing_while_down() -> None:
            # Offline the page does not POST every move; it waits for the pointer to lift.
            assert predictions == []

        draw_with_mouse(page, 7, while_down=nothing_while_down)
        expect_prediction(page, 7)
        assert predictions == ["POST"]
        assert "live" not in status.inner_text()
    finally:
        context.close()
