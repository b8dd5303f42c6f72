"""Helpers for the page-in-a-classroom tests: drawing at any size and place, geometry, colours, axe-core."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from playwright.sync_api import Locator, Page

ROOT = Path(__file__).resolve().parents[2]
# Installed for the tests only (scripts/ensure-axe.sh); never served with the page.
AXE = ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"

# Single-stroke shapes of digits the shared DIGIT_STROKES lacks, in a unit square.
MORE_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    3: [[(0.22, 0.18), (0.45, 0.06), (0.7, 0.14), (0.72, 0.32), (0.45, 0.47), (0.74, 0.6), (0.76, 0.82),
         (0.5, 0.94), (0.22, 0.84)]],
}


def draw_scaled(page: Page, strokes: list[list[tuple[float, float]]], scale: float,
                offset: tuple[float, float], steps: int = 6, start_outside: float = 0.0) -> None:
    """Draw unit-square strokes with the mouse at `scale` of the pad, top-left at `offset` (pad units).

    `start_outside` (CSS px) first presses that far left of the pad, level with the first point,
    and sweeps in: the stroke must begin where the pointer enters the pad.
    """
    box = page.get_by_test_id("pad").bounding_box()
    assert box

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + (offset[0] + x * scale) * box["width"], box["y"] + (offset[1] + y * scale) * box["height"]

    for index, stroke in enumerate(strokes):
        path = [stroke[0]]
        for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
            path += [(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps) for i in range(1, steps + 1)]
        points = [at(*p) for p in path]
        if index == 0 and start_outside:
            y = points[0][1]
            page.mouse.move(box["x"] - start_outside, y)
            page.mouse.down()
            page.mouse.move(box["x"] - start_outside / 2, y)
        else:
            page.mouse.move(*points[0])
            page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point)
        page.mouse.up()


GEOMETRY = """() => {
  const box = (selector) => {
    const el = document.querySelector(selector);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, w: r.width, h: r.height, right: r.right, bottom: r.bottom};
  };
  const lineHeight = (selector) => {
    const el = document.querySelector(selector);
    if (!el) return null;
    const style = getComputedStyle(el);
    return {height: el.getBoundingClientRect().height, font: parseFloat(style.fontSize)};
  };
  return {
    scrollWidth: document.documentElement.scrollWidth, scrollHeight: document.documentElement.scrollHeight,
    width: innerWidth, height: innerHeight,
    pad: box('[data-testid=pad]'), view: box('[data-testid=model-input]'), bars: box('[data-testid=bars]'),
    track: box('.bar-track'), result: box('.result-card'), header: box('.topbar'),
    buttons: ['undo', 'clear'].map((id) => box(`[data-testid=${id}]`)).concat([box('#upload-label')]),
    caption: parseFloat(getComputedStyle(document.querySelector('.model-input figcaption')).fontSize),
    confidence: lineHeight('#confidence'), barValue: lineHeight('.bar-value'),
  };
}"""


def geometry(page: Page) -> dict:
    return page.evaluate(GEOMETRY)


def box_of(locator: Locator) -> dict:
    """A locator's bounding box with `right` and `bottom`, as GEOMETRY gives them."""
    b = locator.bounding_box()
    assert b, "not visible"
    return {**b, "w": b["width"], "h": b["height"], "right": b["x"] + b["width"], "bottom": b["y"] + b["height"]}


def inside(box: dict, width: float, height: float) -> bool:
    return box["x"] >= -0.5 and box["y"] >= -0.5 and box["right"] <= width + 0.5 and box["bottom"] <= height + 0.5


RGB = re.compile(r"rgba?\(([\d.]+),?\s*([\d.]+),?\s*([\d.]+)(?:\s*[,/]\s*([\d.]+))?\)")


def rgb(css: str) -> tuple[float, float, float]:
    match = RGB.match(css.strip())
    assert match, f"not an rgb() colour: {css}"
    return float(match[1]), float(match[2]), float(match[3])


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two computed CSS colours."""
    def luminance(colour: str) -> float:
        channels = [c / 255 for c in rgb(colour)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.2 A/AA and best-practice violations on the page as it is now."""
    assert AXE.exists(), f"axe-core is missing at {AXE}: run scripts/ensure-axe.sh (make test does)"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}});
        return r.violations.map((v) => `${v.id}: ${v.help} -> ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    }""")
    return result
