"""Driving the page like a person: strokes with the mouse or a finger, and reading it back."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from playwright.sync_api import CDPSession, Page, expect

from tests.support.pictures import DIGIT_STROKES

DIGIT_TEXT = re.compile(r"^\s*\d\s*$")
BARS_WITH_VALUES = "[data-testid=bars] [data-digit][data-probability]"


def open_page(page: Page, url: str, live: bool = True) -> None:
    page.goto(url)
    if live:
        expect(page.get_by_test_id("status")).to_contain_text("live", timeout=20_000)


def pad_point(page: Page, x: float, y: float) -> tuple[float, float]:
    """A point of the unit square (as in DIGIT_STROKES) in page coordinates on the pad."""
    box = page.get_by_test_id("pad").bounding_box()
    assert box, "the pad is not visible"
    margin = 0.1  # leave a border, as people do
    side = box["width"] * (1 - 2 * margin)
    return box["x"] + box["width"] * margin + x * side, box["y"] + box["height"] * margin + y * side


def stroke_path(points: list[tuple[float, float]], steps: int) -> list[tuple[float, float]]:
    """The polyline cut into many small steps, as a moving hand reports it."""
    path = [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        path += [(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps) for i in range(1, steps + 1)]
    return path


def draw_with_mouse(page: Page, digit: int, steps: int = 12,
                    while_down: Callable[[], None] | None = None) -> None:
    """Draw a digit with real mouse moves; `while_down` runs halfway through the first stroke."""
    for index, stroke in enumerate(DIGIT_STROKES[digit]):
        path = stroke_path(stroke, steps)
        page.mouse.move(*pad_point(page, *path[0]))
        page.mouse.down()
        for n, point in enumerate(path[1:], start=1):
            page.mouse.move(*pad_point(page, *point))
            if index == 0 and while_down and n == len(path) // 2:
                while_down()
        page.mouse.up()


def draw_with_finger(page: Page, cdp: CDPSession, digit: int, steps: int = 10,
                     while_down: Callable[[], None] | None = None) -> None:
    """Draw with touch events from the browser's input pipeline (they become pointer events)."""
    for index, stroke in enumerate(DIGIT_STROKES[digit]):
        path = [pad_point(page, *p) for p in stroke_path(stroke, steps)]

        def touch(kind: str, point: tuple[float, float] | None) -> None:
            points = [] if point is None else [{"x": point[0], "y": point[1], "id": 1, "radiusX": 4,
                                                 "radiusY": 4, "force": 0.5}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", path[0])
        for n, point in enumerate(path[1:], start=1):
            touch("touchMove", point)
            if index == 0 and while_down and n == len(path) // 2:
                while_down()
        touch("touchEnd", None)


def expect_live_prediction(page: Page) -> None:
    """A digit and bars with probabilities are on screen (called while the pointer is down)."""
    expect(page.get_by_test_id("prediction")).to_have_text(DIGIT_TEXT, timeout=10_000)
    expect(page.locator(BARS_WITH_VALUES)).to_have_count(3)


def expect_prediction(page: Page, digit: int) -> None:
    """The answer to the finished drawing (not an earlier frame's) is `digit`."""
    prediction = page.get_by_test_id("prediction")
    expect(prediction).to_have_attribute("data-final", "true", timeout=10_000)
    expect(prediction).to_have_text(str(digit), timeout=10_000)
    bars = page.locator(BARS_WITH_VALUES)
    expect(bars.first).to_have_attribute("data-digit", str(digit))
    probability = float(bars.first.get_attribute("data-probability"))
    assert 0.0 < probability <= 1.0
    model_input = page.get_by_test_id("model-input")
    expect(model_input).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))


def expect_no_prediction(page: Page) -> None:
    expect(page.get_by_test_id("prediction")).to_have_text(re.compile(r"^\s*[–-]?\s*$"))
    expect(page.locator("[data-testid=bars] [data-probability]")).to_have_count(0)
    assert page.get_by_test_id("model-input").get_attribute("src") in (None, "")


def pad_is_blank(page: Page) -> bool:
    """True when every pixel of the pad's backing store has the same colour."""
    return page.get_by_test_id("pad").evaluate("""canvas => {
        const {data} = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        for (let i = 4; i < data.length; i += 4) {
            for (let c = 0; c < 4; c++) if (data[i + c] !== data[c]) return false;
        }
        return true;
    }""")


def pad_corner_colour(page: Page) -> list[int]:
    return page.get_by_test_id("pad").evaluate(
        "canvas => Array.from(canvas.getContext('2d').getImageData(1, 1, 1, 1).data)")
