"""Drawing with the mouse: live predictions while the button is down, the right digit after."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    DIGIT_TEXT,
    draw_with_mouse,
    expect_live_prediction,
    expect_no_prediction,
    expect_prediction,
    open_page,
    pad_corner_colour,
    pad_is_blank,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.mark.parametrize("digit", [0, 1, 4, 7])
def test_live_prediction_while_drawing(page: Page, base_url: str, screenshots, digit: int) -> None:
    open_page(page, base_url)
    seen_while_down: list[str] = []

    def check_live() -> None:
        # The button is still down here: only streamed frames can have put this on screen.
        expect_live_prediction(page)
        seen_while_down.append(page.get_by_test_id("prediction").inner_text())

    draw_with_mouse(page, digit, while_down=check_live)
    assert seen_while_down and DIGIT_TEXT.match(seen_while_down[0])
    expect_prediction(page, digit)

    # Client-side throttling: nothing changes, so nothing more is sent.
    sent = page.evaluate("() => window.digits.live.seq")
    time.sleep(0.5)
    assert page.evaluate("() => window.digits.live.seq") == sent
    if digit == 7:
        page.screenshot(path=str(screenshots / "desktop.png"))


def test_clear_undo_and_keyboard(page: Page, base_url: str) -> None:
    open_page(page, base_url)
    assert pad_is_blank(page)
    background = pad_corner_colour(page)
    assert background[:3] == [255, 255, 255], "the light theme's pad is white"

    draw_with_mouse(page, 4)
    expect_prediction(page, 4)
    assert not pad_is_blank(page)

    page.get_by_test_id("clear").click()
    expect_no_prediction(page)
    assert pad_is_blank(page)
    assert pad_corner_colour(page) == background

    # Undo takes back one stroke at a time (button and Ctrl+Z); Escape on the pad clears.
    draw_with_mouse(page, 4)
    expect_prediction(page, 4)
    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("undo")).to_be_enabled()
    page.get_by_test_id("undo").click()
    expect(page.get_by_test_id("undo")).to_be_disabled()
    expect_no_prediction(page)
    assert pad_is_blank(page)

    draw_with_mouse(page, 1)
    expect_prediction(page, 1)
    page.get_by_test_id("pad").focus()
    page.keyboard.press("Escape")
    expect_no_prediction(page)
    assert pad_is_blank(page)

    draw_with_mouse(page, 7)
    expect_prediction(page, 7)
    page.keyboard.press("c")
    expect_no_prediction(page)
    assert pad_is_blank(page)
    expect(page.locator("#announcer")).to_have_attribute("aria-live", "polite")
