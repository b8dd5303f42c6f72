"""The teaching lens on the page: evidence, the plain-resize view, the timeline and the look inside,
live over Socket.IO, through the POST fallback, from an upload, on a phone and with the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.pictures import draw_digit, png_bytes

from .helpers import draw_with_finger, draw_with_mouse, expect_prediction, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(90)]

DATA_PNG = re.compile(r"^data:image/png;base64,")


def expect_lens(page: Page, digit: int) -> None:
    """Evidence for `digit` over the model input, the plain-resize view and a timeline ending on it."""
    evidence = page.get_by_test_id("evidence")
    expect(evidence).to_have_attribute("data-state", "ready", timeout=10_000)
    expect(evidence).to_have_attribute("data-digit", str(digit))
    versus = evidence.get_attribute("data-versus")
    assert versus is not None and versus != str(digit)
    expect(evidence).to_contain_text(f"say {digit} rather than {versus}")
    overlay = page.locator("#evidence-map")
    expect(overlay).to_have_attribute("src", DATA_PNG)
    assert overlay.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])") == [28, 28]
    assert f"say {digit}" in overlay.get_attribute("alt")  # a text alternative for the map
    assert page.locator("#evidence-input").get_attribute("src") == page.get_by_test_id("model-input").get_attribute(
        "src")  # the overlay lies on the very picture the network saw
    expect(page.get_by_test_id("naive-input")).to_have_attribute("src", DATA_PNG)
    expect(page.get_by_test_id("naive-prediction")).to_have_text(re.compile(r"^\d$"))
    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator("polyline").first).to_be_attached()
    expect(page.locator("#timeline-summary")).to_contain_text(re.compile(rf"a {digit}( all along)? \(\d+ frames?\)\.$"))


def test_a_finished_drawing_is_explained_and_frames_while_drawing_are_not(page: Page, base_url: str) -> None:
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame if isinstance(frame, str)
                                                                                   else "")))
    open_page(page, base_url)
    snapshots_while_down: list[str] = []

    def while_down() -> None:
        expect(page.get_by_test_id("prediction")).to_have_text(re.compile(r"^\d$"), timeout=10_000)
        snapshots_while_down.extend(frame for frame in sent if '"snapshot"' in frame)

    draw_with_mouse(page, 7, while_down=while_down)
    expect_prediction(page, 7)
    expect_lens(page, 7)
    assert snapshots_while_down and not any("explain" in frame for frame in snapshots_while_down)
    assert sum('"explain":true' in frame for frame in sent) == 1  # one explained frame per finished drawing
    expect(page.get_by_test_id("evidence")).to_be_visible()

    # Drawing on marks the evidence stale; clearing empties every view.
    page.get_by_test_id("clear").click()
    expect(page.get_by_test_id("evidence")).to_have_attribute("data-state", "empty")
    expect(page.get_by_test_id("naive-prediction")).to_have_text("")
    assert page.get_by_test_id("timeline").locator("polyline").count() == 0


def test_the_look_inside_opens_on_demand(page: Page, base_url: str) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/api/layers") else None)
    open_page(page, base_url)
    layers = page.get_by_test_id("layers")
    expect(layers).not_to_have_attribute("open", "")  # closed by default
    draw_with_mouse(page, 4)
    expect_prediction(page, 4)
    expect(page.get_by_test_id("evidence")).to_have_attribute("data-state", "ready", timeout=10_000)
    assert asked == []  # nothing is computed for a closed panel

    layers.locator("summary").focus()
    page.keyboard.press("Enter")  # keyboard users open it like anyone else
    expect(layers).to_have_attribute("open", "")
    maps = layers.locator("img")
    expect(maps).to_have_count(5, timeout=10_000)  # one grid per convolution of the shipped model
    for index in range(maps.count()):
        img = maps.nth(index)
        expect(img).to_have_attribute("src", DATA_PNG)
        assert img.get_attribute("alt").startswith(f"Layer {index + 1}")
        assert img.evaluate("e => getComputedStyle(e).imageRendering") == "pixelated"
    expect(layers).to_contain_text("edges and strokes")
    assert len(asked) == 1

    # A new drawing while open refreshes the maps.
    page.get_by_test_id("clear").click()
    page.get_by_test_id("pad").scroll_into_view_if_needed()  # the panel is below: back up to the pad
    draw_with_mouse(page, 1)
    expect_prediction(page, 1)
    expect(page.get_by_test_id("evidence")).to_have_attribute("data-digit", "1", timeout=10_000)
    expect(maps).to_have_count(5, timeout=10_000)
    assert len(asked) == 2


def test_the_timeline_replays_with_the_keyboard(page: Page, base_url: str) -> None:
    open_page(page, base_url)
    draw_with_mouse(page, 7)
    expect_lens(page, 7)
    frames = int(page.get_by_test_id("timeline").get_attribute("data-frames"))
    assert frames >= 2
    replay = page.locator("#timeline-replay")
    expect(replay).to_be_enabled()
    replay.focus()
    page.keyboard.press("Enter")
    readout = page.locator("#timeline-readout")
    expect(readout).to_have_text(re.compile(rf"^Frame {frames} of {frames}: 7 "), timeout=10_000)
    scrub = page.locator("#timeline-scrub")
    scrub.focus()
    page.keyboard.press("Home")
    expect(readout).to_have_text(re.compile(rf"^Frame 1 of {frames}: \d "))
    expect(page.locator("#timeline-frame")).to_have_attribute("src", DATA_PNG)


@pytest.mark.parametrize("blocked", [
    pytest.param(re.compile(r"/socket\.io/\?EIO="), id="transport"),
    pytest.param("**/socket.io/**", id="everything"),
])
def test_the_lens_works_without_the_socket(browser: Browser, base_url: str, problems, blocked) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if "/api/" in r.url and r.method == "POST" else None)
        page.route(blocked, lambda route: route.abort())
        problems.watch(page, allow=("net::ERR_FAILED",))
        open_page(page, base_url, live=False)
        expect(page.get_by_test_id("status")).to_contain_text("offline", timeout=15_000)
        draw_with_mouse(page, 7)
        expect_prediction(page, 7)
        expect_lens(page, 7)
        assert [url.rsplit("/", 1)[-1] for url in posts] == ["predict"]  # one POST, explained at once
        page.get_by_test_id("layers").locator("summary").click()
        expect(page.get_by_test_id("layers").locator("img")).to_have_count(5, timeout=10_000)
    finally:
        context.close()


def test_an_upload_is_explained(page: Page, base_url: str) -> None:
    open_page(page, base_url)
    picture = png_bytes(draw_digit(4, size=200, ink=(30, 30, 120, 255), background=(250, 245, 230, 255)))
    page.get_by_test_id("upload").set_input_files({"name": "four.png", "mimeType": "image/png", "buffer": picture})
    expect_prediction(page, 4)
    expect_lens(page, 4)


def test_the_lens_on_a_phone(browser: Browser, base_url: str, problems) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  has_touch=True, is_mobile=True)
    try:
        page = problems.watch(context.new_page())
        open_page(page, base_url)
        draw_with_finger(page, page.context.new_cdp_session(page), 7)
        expect_prediction(page, 7)
        expect_lens(page, 7)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # nothing spills sideways
        for testid in ("evidence", "naive-input", "timeline", "layers"):
            box = page.get_by_test_id(testid).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, testid
    finally:
        context.close()


def test_the_timelines_story_and_labels(page: Page, base_url: str) -> None:
    """The pure parts of timeline.js, run in the page: the story leaves out flickers, labels keep apart."""
    open_page(page, base_url, live=False)
    result = page.evaluate("""async () => {
        const t = await import('/static/js/timeline.js');
        return {
            story: t.storyOf([1, 1, 1, 4, 7, 7, 7]),
            last: t.storyOf([7, 7, 1]),
            steady: t.summaryOf([3, 3, 3]),
            became: t.summaryOf([1, 1, 7, 7]),
            labels: t.spreadLabels([80, 80, 10]),
        };
    }""")
    assert result["story"] == [1, 7]  # one frame of 4 is a flicker, not a stage
    assert result["last"] == [7, 1]  # the final reading always counts
    assert result["steady"] == "Read as a 3 all along (3 frames)."
    assert result["became"] == "Looked like a 1, became a 7 (4 frames)."
    first, second, third = result["labels"]
    assert third == 12 and abs(first - second) >= 14 and max(first, second) <= 88
