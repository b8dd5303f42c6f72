"""Drawing as a class does: tiny digits in corners, dots, slow strokes, strokes begun off the pad;
answers that say how sure they are; controls that cannot lose a drawing by accident."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.support.pictures import DIGIT_STROKES, png_bytes

from .helpers import draw_with_mouse, expect_no_prediction, expect_prediction, open_page, pad_is_blank
from .page_checks import MORE_STROKES, draw_scaled

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(90)]

STROKES = {**DIGIT_STROKES, **MORE_STROKES}


@pytest.mark.parametrize(("digit", "scale", "offset"), [
    pytest.param(7, 0.2, (0.03, 0.03), id="7-top-left"),
    pytest.param(3, 0.2, (0.77, 0.04), id="3-top-right"),
    pytest.param(4, 0.2, (0.04, 0.76), id="4-bottom-left"),
    pytest.param(0, 0.18, (0.78, 0.78), id="0-bottom-right"),
    pytest.param(1, 0.2, (0.4, 0.4), id="1-middle"),
])
def test_tiny_digits_in_corners_are_read_right(page: Page, base_url: str, digit, scale, offset) -> None:
    # A pen 1/16 of the pad filled these in when the page sent pixels; as strokes they read right.
    open_page(page, base_url)
    draw_scaled(page, STROKES[digit], scale, offset)
    expect_prediction(page, digit)
    assert page.get_by_test_id("prediction").get_attribute("data-reading") in ("sure", "unsure")


def test_a_stroke_may_start_just_outside_the_pad(page: Page, base_url: str) -> None:
    open_page(page, base_url)
    draw_scaled(page, DIGIT_STROKES[7], 0.8, (0.0, 0.1), start_outside=10)
    assert not pad_is_blank(page)
    expect_prediction(page, 7)


def test_a_dot_and_a_first_short_stroke_are_not_answered_as_digits(page: Page, base_url: str) -> None:
    open_page(page, base_url)
    prediction = page.get_by_test_id("prediction")
    box = page.get_by_test_id("pad").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    # A dot: the server answers blank, and the page says there is nothing to read.
    page.mouse.click(x, y)
    expect(prediction).to_have_attribute("data-final", "true")
    expect_no_prediction(page)
    expect(page.locator("#confidence")).to_have_text("Nothing to read yet")

    # The start of a stroke (under an eighth of the pad): nothing is sent, nothing is shown.
    page.get_by_test_id("clear").click()
    sent = page.evaluate("() => window.digits.live.seq")
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 9):
        page.mouse.move(x + step * box["width"] * 0.01, y)
    page.wait_for_function("() => window.digits.pad.strokes[0]?.points.length >= 6")
    assert page.evaluate("() => window.digits.live.seq") == sent
    expect(prediction).to_have_text("")

    # Drawing on: a reading appears, marked as provisional until the pen lifts.
    for step in range(1, 13):
        page.mouse.move(x + 0.08 * box["width"], y + step * box["height"] * 0.03)
    expect(prediction).to_have_attribute("data-reading", "reading")
    expect(prediction).to_have_text(re.compile(r"^\d$"))
    expect(page.locator("#confidence")).to_have_text("Reading…")
    page.mouse.up()
    expect(prediction).to_have_attribute("data-final", "true")
    expect(prediction).not_to_have_attribute("data-reading", "reading")


def _top3(*pairs: tuple[int, float]) -> list[dict]:
    return [{"digit": digit, "probability": probability} for digit, probability in pairs]


def _deliver(page: Page, **fields) -> None:
    """An answer as the server sends it, through the page's own delivery path (a finished upload)."""
    probabilities = [0.0] * 10
    for entry in fields["top3"]:
        probabilities[entry["digit"]] = entry["probability"]
    payload = {"blank": False, "input28": None, "inference_ms": 0.3, "probabilities": probabilities,
               "digit": fields["top3"][0]["digit"], "confidence": fields["top3"][0]["probability"], **fields}
    page.evaluate("(p) => window.digits.live.deliver({...p, seq: window.digits.live.seq + 1}, 'upload')", payload)


def test_unsure_answers_look_and_sound_unsure_and_no_answer_claims_certainty(page: Page, base_url: str) -> None:
    open_page(page, base_url)
    prediction = page.get_by_test_id("prediction")
    confidence = page.locator("#confidence")
    announcer = page.locator("#announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")

    _deliver(page, unsure=True, unsure_reason="low_confidence", top3=_top3((7, 0.48), (2, 0.41), (1, 0.1)))
    expect(prediction).to_have_text("7")
    expect(prediction).to_have_attribute("data-reading", "unsure")
    expect(confidence).to_have_text("Not sure: 7 or 2?")
    expect(announcer).to_have_text("Not sure: 7 or 2?")

    _deliver(page, unsure=True, unsure_reason="not_a_digit", top3=_top3((8, 0.6), (0, 0.3), (6, 0.1)))
    expect(prediction).to_have_attribute("data-reading", "not-digit")
    expect(confidence).to_have_text("That doesn't look like a digit")
    expect(announcer).to_have_text("That doesn't look like a digit.")

    # Probabilities of exactly 1 and 0 are shown as ">99.9%" and "<0.1%", never "100%" or "0.0%".
    _deliver(page, top3=_top3((4, 1.0), (9, 0.0), (1, 0.0)))
    expect(prediction).to_have_attribute("data-reading", "sure")
    expect(confidence).to_have_text(">99.9% sure")
    expect(page.locator("[data-testid=bars] .bar-value")).to_have_text([">99.9%", "<0.1%", "<0.1%"])
    page.locator("#all-ten summary").click()
    texts = page.locator("#all-ten-list .ten-value").all_inner_texts()
    assert texts.count("<0.1%") == 9 and ">99.9%" in texts
    assert not any(re.search(r"\b100(\.0)?%|\b0\.0%", t) for t in [*texts, confidence.inner_text()])


def test_clear_is_undoable_and_single_keys_act_only_on_the_pad(page: Page, base_url: str) -> None:
    open_page(page, base_url)
    draw_with_mouse(page, 7)
    expect_prediction(page, 7)

    # "c" with focus on a button belongs to that button, not to the pad.
    page.get_by_test_id("undo").focus()
    page.keyboard.press("c")
    assert not pad_is_blank(page)
    expect(page.get_by_test_id("prediction")).to_have_text("7")

    # Clear, then Undo brings the whole drawing back, and it is read again.
    page.get_by_test_id("clear").click()
    expect_no_prediction(page)
    expect(page.get_by_test_id("undo")).to_be_enabled()
    page.get_by_test_id("undo").click()
    assert not pad_is_blank(page)
    expect_prediction(page, 7)

    # On the pad, "c" clears and Ctrl+Z undoes that too.
    page.get_by_test_id("pad").focus()
    page.keyboard.press("c")
    expect_no_prediction(page)
    assert pad_is_blank(page)
    page.keyboard.press("Control+z")
    expect_prediction(page, 7)


def test_a_failed_upload_leaves_the_drawing_and_an_accepted_one_can_be_undone(page: Page, base_url: str,
                                                                                  problems) -> None:
    open_page(page, base_url)
    draw_with_mouse(page, 4)
    expect_prediction(page, 4)
    page.get_by_test_id("upload").set_input_files(
        {"name": "notes.png", "mimeType": "image/png", "buffer": b"this is not a picture"})
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"not an image", re.IGNORECASE))
    assert not pad_is_blank(page)
    expect(page.get_by_test_id("prediction")).to_have_text("4")
    # The alert sits over the pad's foot, never over the answer.
    alert, result = page.get_by_role("alert").bounding_box(), page.locator(".result-card").bounding_box()
    assert alert["x"] + alert["width"] <= result["x"] or alert["y"] >= result["y"] + result["height"] \
        or alert["x"] >= result["x"] + result["width"] or alert["y"] + alert["height"] <= result["y"]
    problems.errors[:] = [e for e in problems.errors if "400" not in e]  # the browser logs the 400 itself

    blank = Image.new("RGB", (64, 64), "white")
    page.get_by_test_id("upload").set_input_files({"name": "blank.png", "mimeType": "image/png",
                                                   "buffer": png_bytes(blank)})
    expect(page.locator("#upload-preview")).to_be_visible()
    assert pad_is_blank(page)
    page.get_by_test_id("undo").click()
    expect(page.locator("#upload-preview")).to_be_hidden()
    expect_prediction(page, 4)


@pytest.mark.parametrize("key", ["Enter", " "])
def test_the_upload_control_opens_with_enter_and_space(page: Page, base_url: str, key: str) -> None:
    open_page(page, base_url, live=False)
    upload = page.get_by_test_id("upload")
    upload.focus()
    expect(upload).to_be_focused()
    # Playwright switches the browser's file-chooser interception on without waiting for it: a key
    # pressed at once can open the (headless, invisible) dialog before it is. One listener first, and
    # a round trip after it, so that interception is on before the key (it was a 50% flake).
    page.on("filechooser", lambda _chooser: None)
    page.evaluate("() => 0")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press(key)
    assert chooser.value.element.get_attribute("data-testid") == "upload"


def test_offline_the_fallback_posts_strokes_and_tiny_digits_still_read_right(browser, base_url: str,
                                                                             problems) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = problems.watch(context.new_page(), allow=("net::ERR_FAILED",))
        page.route(re.compile(r"/socket\.io/\?EIO="), lambda route: route.abort())
        bodies: list = []
        page.on("request", lambda r: bodies.append(r.post_data_json) if r.url.endswith("/api/predict") else None)
        open_page(page, base_url, live=False)
        expect(page.get_by_test_id("status")).to_have_attribute("data-state", "offline")
        draw_scaled(page, DIGIT_STROKES[7], 0.2, (0.76, 0.76))
        expect_prediction(page, 7)
        assert len(bodies) == 1 and set(bodies[0]) - {"explain"} == {"strokes", "size"}
        side = page.get_by_test_id("pad").bounding_box()["width"]
        assert bodies[0]["size"] == [round(side), round(side)]
        xs = [x for stroke in bodies[0]["strokes"] for x, _ in stroke]
        assert min(xs) >= 0.7 * side and max(xs) <= side, "pad pixels, in the corner it was drawn in"
    finally:
        context.close()
