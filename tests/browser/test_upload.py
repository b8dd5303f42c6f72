"""Uploading a picture through the file input: preview, prediction, bars, model input, errors."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.pictures import draw_digit, png_bytes

from .helpers import draw_with_mouse, expect_live_prediction, expect_prediction, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(60)]


def test_upload_shows_picture_and_prediction(page: Page, base_url: str) -> None:
    open_page(page, base_url)
    draw_with_mouse(page, 1)
    expect_live_prediction(page)

    picture = png_bytes(draw_digit(4, size=200, ink=(30, 30, 120, 255), background=(250, 245, 230, 255)))
    page.get_by_test_id("upload").set_input_files(
        {"name": "four.png", "mimeType": "image/png", "buffer": picture})

    preview = page.locator("#upload-preview")
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
    assert preview.evaluate("img => img.decode().then(() => img.naturalWidth)") == 200
    expect_prediction(page, 4)
    expect(page.locator("#announcer")).to_contain_text("4")

    # Drawing again puts the picture away.
    draw_with_mouse(page, 7)
    expect(preview).to_be_hidden()
    expect_prediction(page, 7)


def test_upload_error_is_readable(page: Page, base_url: str, problems) -> None:
    problems.errors.clear()
    open_page(page, base_url)
    page.get_by_test_id("upload").set_input_files(
        {"name": "notes.png", "mimeType": "image/png", "buffer": b"this is not a picture"})
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(re.compile(r"not an image", re.IGNORECASE))
    # The browser logs the 400 answer itself; that is the expected outcome here.
    problems.errors[:] = [e for e in problems.errors if "400" not in e]
