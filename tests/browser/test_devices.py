"""A phone in portrait drawn on with a finger, and projector mode for the classroom."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from .helpers import (
    draw_with_finger,
    draw_with_mouse,
    expect_live_prediction,
    expect_prediction,
    open_page,
    pad_corner_colour,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(60)]


def test_touch_drawing_on_phone(browser: Browser, base_url: str, problems, screenshots) -> None:
    # Dark theme too: the pad turns dark, yet what is sent still reads right.
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  has_touch=True, is_mobile=True, color_scheme="dark")
    try:
        page = problems.watch(context.new_page())
        open_page(page, base_url)
        pad = page.get_by_test_id("pad").bounding_box()
        assert pad["x"] >= 0 and pad["x"] + pad["width"] <= 390, "the pad fits the screen width"
        assert pad["width"] >= 300
        backing = page.get_by_test_id("pad").evaluate("c => c.width")
        assert abs(backing - pad["width"] * 2) <= 2, "backing store in device pixels"
        assert pad_corner_colour(page)[:3] != [255, 255, 255]

        cdp = page.context.new_cdp_session(page)
        draw_with_finger(page, cdp, 7, while_down=lambda: expect_live_prediction(page))
        expect_prediction(page, 7)
        assert page.evaluate("() => window.scrollY") == 0, "drawing must not scroll the page"
        bars = page.get_by_test_id("bars").bounding_box()
        assert bars["y"] + bars["height"] <= 844, "the bars are visible without scrolling"
        page.screenshot(path=str(screenshots / "phone.png"))
    finally:
        context.close()


def test_projector_mode(page: Page, base_url: str, screenshots) -> None:
    open_page(page, base_url)
    digit_size = page.get_by_test_id("prediction").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    pad_size = page.get_by_test_id("pad").bounding_box()["width"]

    open_page(page, base_url + "/?projector=1")
    expect(page.locator("html")).to_have_class("projector")
    toggle = page.get_by_role("button", name="Projector mode")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    big_digit = page.get_by_test_id("prediction").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert big_digit > digit_size * 1.4
    assert page.get_by_test_id("pad").bounding_box()["width"] > pad_size * 1.2

    draw_with_mouse(page, 4)
    expect_prediction(page, 4)
    page.screenshot(path=str(screenshots / "projector.png"))

    toggle.click()
    expect(page.locator("html")).not_to_have_class("projector")
    assert "projector" not in page.url
