"""Evaluation sets that look like real writers' digits, made here and never trained on.

- pen, pen_png: MNIST's TEST digits thinned, traced and re-drawn like a pen tablet
  (coarse points, own slant, size and place): as strokes through `prepare_strokes`
  (what the page sends) and as pad pictures (PNG, transparent or opaque, any pen).
- styles: hand-designed strokes of the styles MNIST hardly has (crossed 7s with a wavy top,
  9s with a hooked tail, narrow 3s and 4s, open 4s in one stroke, print and script forms),
  templates kept apart from training's (`synth.py`) and from `oodsets.py`'s.
- scan, scan_tiny, stretched: MNIST test digits scanned at 12-16 or 8-11 pixels and
  upscaled (some as JPEG photos), or binarised and stretched to fill their box.
- corner: tiny test digits in a corner of a large pad.
- pen_european: test 1s, 3s, 4s, 7s and 9s re-drawn like `pen` (strokes or PNGs), each with a feature of writers
  outside the US (a 1's flag and foot, a 7's crossbar and wavy top, a 9's hooked tail, a narrow 3
  or 4), added by this module's own construction, not training's (`restroke.restyle`).
- scan_european: the same restyled test digits drawn back as MNIST-like pictures, then scanned at
  8-16 pixels or binarised and stretched to fill their box, upscaled: old scans of European writers.
- not_digit: letters (an alphabet training never saw), smileys, crosses, arrows, scribbles.

Each sample is (payload, label): payload is image bytes, or {"strokes", "size"} as a snapshot
sends them; label 10 (NOT_A_DIGIT) marks a non-digit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import nondigits, restroke
from .calibrate import NOT_A_DIGIT
from .oodsets import in_a_hand

Point = tuple[float, float]
WRITER_SETS = ("pen", "pen_png", "styles", "scan", "scan_tiny", "stretched", "corner", "pen_european",
               "scan_european", "not_digit")
EUROPEAN_DIGITS = (1, 3, 4, 7, 9)

EVAL_STYLES: dict[int, list[list[list[Point]]]] = {
    0: [[[(0.45, 0.02), (0.2, 0.2), (0.2, 0.8), (0.5, 0.98), (0.8, 0.8), (0.8, 0.2), (0.55, 0.0), (0.35, 0.08)]],
        [[(0.5, 0.0), (0.3, 0.5), (0.5, 1.0), (0.7, 0.5), (0.5, 0.0)]]],
    1: [[[(0.52, 0.0), (0.48, 1.0)]],
        [[(0.25, 0.3), (0.6, 0.0), (0.55, 1.0)]],
        [[(0.3, 0.2), (0.58, 0.0), (0.58, 1.0)], [(0.3, 1.0), (0.85, 1.0)]]],
    2: [[[(0.15, 0.3), (0.4, 0.0), (0.8, 0.15), (0.7, 0.45), (0.15, 1.0), (0.9, 1.0)]],
        [[(0.2, 0.22), (0.5, 0.0), (0.8, 0.2), (0.6, 0.55), (0.25, 0.9), (0.3, 0.75), (0.45, 0.95), (0.9, 0.95)]],
        [[(0.15, 0.1), (0.85, 0.05), (0.85, 0.4), (0.15, 1.0), (0.9, 1.0)]]],
    3: [[[(0.15, 0.12), (0.5, 0.0), (0.8, 0.2), (0.5, 0.48), (0.85, 0.72), (0.5, 1.0), (0.12, 0.85)]],
        [[(0.15, 0.02), (0.85, 0.02), (0.4, 0.42), (0.85, 0.65), (0.6, 1.0), (0.15, 0.9)]],
        [[(0.3, 0.1), (0.5, 0.0), (0.62, 0.22), (0.45, 0.48), (0.65, 0.75), (0.5, 1.0), (0.3, 0.92)]]],
    4: [[[(0.6, 0.0), (0.1, 0.65), (0.9, 0.65)], [(0.62, 0.1), (0.62, 1.0)]],
        [[(0.25, 0.0), (0.2, 0.6), (0.9, 0.6)], [(0.68, 0.1), (0.68, 1.0)]],
        [[(0.28, 0.0), (0.18, 0.62), (0.85, 0.6), (0.72, 0.45), (0.7, 0.05), (0.7, 1.0)]],
        [[(0.35, 0.0), (0.3, 0.6), (0.62, 0.6)], [(0.55, 0.05), (0.55, 1.0)]]],
    5: [[[(0.75, 0.0), (0.3, 0.02), (0.25, 0.45), (0.65, 0.4), (0.8, 0.7), (0.55, 0.98), (0.15, 0.88)]],
        [[(0.3, 0.02), (0.25, 0.48), (0.6, 0.4), (0.82, 0.7), (0.5, 1.0), (0.2, 0.9)], [(0.3, 0.0), (0.8, 0.02)]]],
    6: [[[(0.75, 0.02), (0.4, 0.25), (0.2, 0.7), (0.45, 1.0), (0.75, 0.8), (0.5, 0.55), (0.22, 0.7)]],
        [[(0.6, 0.0), (0.28, 0.55), (0.3, 0.95), (0.7, 0.9), (0.68, 0.58), (0.3, 0.62)]]],
    7: [[[(0.1, 0.05), (0.9, 0.05), (0.4, 1.0)]],
        [[(0.12, 0.08), (0.9, 0.05), (0.42, 1.0)], [(0.28, 0.52), (0.8, 0.5)]],
        [[(0.08, 0.12), (0.3, 0.0), (0.5, 0.1), (0.7, 0.0), (0.9, 0.05), (0.55, 0.5), (0.45, 1.0)],
         [(0.3, 0.55), (0.75, 0.5)]],
        [[(0.1, 0.2), (0.12, 0.05), (0.88, 0.05), (0.45, 1.0)]]],
    8: [[[(0.75, 0.15), (0.5, 0.0), (0.25, 0.18), (0.5, 0.45), (0.78, 0.72), (0.5, 1.0), (0.22, 0.75), (0.5, 0.45),
          (0.72, 0.2)]],
        [[(0.5, 0.45), (0.25, 0.22), (0.5, 0.0), (0.75, 0.22), (0.5, 0.45), (0.2, 0.72), (0.5, 1.0), (0.8, 0.72),
          (0.5, 0.45)]]],
    9: [[[(0.78, 0.22), (0.5, 0.45), (0.22, 0.25), (0.5, 0.0), (0.78, 0.2), (0.75, 1.0)]],
        [[(0.78, 0.25), (0.5, 0.48), (0.22, 0.25), (0.5, 0.0), (0.78, 0.22), (0.72, 0.75), (0.5, 1.0), (0.25, 0.9)]],
        [[(0.75, 0.2), (0.45, 0.42), (0.25, 0.2), (0.5, 0.0), (0.75, 0.18), (0.55, 1.0)]]],
}


def style_strokes(digit: int, rng: np.random.Generator) -> list[list[Point]]:
    """One writer's `digit` in an evaluation style: own slant, proportions (narrow too) and a shaky hand."""
    style = EVAL_STYLES[digit][int(rng.integers(len(EVAL_STYLES[digit])))]
    slant, angle = rng.uniform(-0.3, 0.3), math.radians(rng.uniform(-8, 8))
    aspect = rng.uniform(0.35, 0.6) if rng.random() < 0.25 else rng.uniform(0.7, 1.2)
    wobble = rng.uniform(0.0, 0.025)
    return in_a_hand(style, slant, angle, aspect, wobble, rng, samples=8)


def european(strokes: list[list[Point]], digit: int, rng: np.random.Generator) -> list[list[Point]]:
    """A traced test digit (x, y; y down) given a feature of writers outside the US, built apart from training's.

    1: a curved flag, and half the time a foot; 7: a bowed crossbar, half the time a bump in its top
    bar; 9: a tail curled back to the left; 3 and 4: written narrow (aspect 0.35-0.6).
    """
    points = np.array([p for stroke in strokes for p in stroke])
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    width, height = max(float(right - left), 1.0), max(float(bottom - top), 1.0)
    ends = [stroke[i] for stroke in strokes for i in (0, -1)]
    out = [list(stroke) for stroke in strokes]
    if digit in (3, 4):
        squeeze, centre = rng.uniform(0.35, 0.6), (left + right) / 2
        return [[(centre + (x - centre) * squeeze, y) for x, y in stroke] for stroke in out]
    if digit == 1:
        x, y = min(ends, key=lambda p: p[1])
        reach, drop = height * rng.uniform(0.2, 0.4), math.tan(math.radians(rng.uniform(35, 55)))
        out.insert(0, _curve([(x - reach, y + drop * reach), (x - 0.45 * reach, y + 0.2 * drop * reach), (x, y)]))
        if rng.random() < 0.5:
            x, y = max(ends, key=lambda p: p[1])
            out.append(_curve([(x - 0.25 * height, y + 0.01 * height), (x + 0.25 * height, y - 0.01 * height)]))
    elif digit == 7:
        if rng.random() < 0.5:
            bump, spread = height * rng.uniform(0.05, 0.1), width * rng.uniform(0.12, 0.2)
            at = left + width * rng.uniform(0.25, 0.5)
            out = [[(x, y - bump * max(0.0, 1 - (y - top) / (0.3 * height)) * math.exp(-((x - at) / spread) ** 2))
                    for x, y in stroke] for stroke in out]
        y = top + height * rng.uniform(0.45, 0.6)
        near = points[np.abs(points[:, 1] - y) < 0.1 * height]
        x = float(near[:, 0].mean()) if len(near) else (left + right) / 2
        half = height * rng.uniform(0.15, 0.28)
        out.append(_curve([(x - half, y), (x, y + rng.uniform(-0.06, 0.06) * height), (x + half, y)]))
    elif digit == 9:
        x, y = max(ends, key=lambda p: p[1])
        size = max(width, 0.5 * height) * rng.uniform(0.3, 0.55)
        out.append(_curve([(x, y), (x - 0.15 * size, y + 0.3 * size), (x - 0.6 * size, y + 0.25 * size),
                           (x - 0.9 * size, y - rng.uniform(0.0, 0.3) * size)]))
    return out


def _as_written(strokes: list[list[Point]], rng: np.random.Generator) -> np.ndarray:
    """Strokes (traced at 56x56) drawn back on paper as an 8-bit MNIST-like digit, white on black, to be scanned.

    Drawn apart from training's `restroke.as_mnist_picture` (round pen ends, a little blur, bilinear), so
    the set shares neither the features nor the drawing of what the model was trained on."""
    points = np.array([p for stroke in strokes for p in stroke])
    low, high = points.min(axis=0), points.max(axis=0)
    scale = min(1.0, 44 / max(float((high - low).max()), 1.0))
    centre = (low + high) / 2
    paper = Image.new("L", (56, 56), 0)
    pen = ImageDraw.Draw(paper)
    width = int(rng.integers(3, 6))
    for stroke in strokes:
        path = [(28 + scale * (x - centre[0]), 28 + scale * (y - centre[1])) for x, y in stroke]
        pen.line(path, fill=255, width=width, joint="curve")
        for x, y in (path[0], path[-1]):
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return np.asarray(paper.filter(ImageFilter.GaussianBlur(0.6)).resize((28, 28), Image.Resampling.BILINEAR))


def _curve(control: list[Point], samples: int = 10) -> list[Point]:
    """A smooth stroke through the control points (quadratic B-spline), as densely sampled as a traced one."""
    if len(control) == 2:
        (x0, y0), (x1, y1) = control
        return [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, samples)]
    points = np.array(control)
    out = []
    for t in np.linspace(0, len(points) - 2, samples * (len(points) - 2)):
        i = min(int(t), len(points) - 3)
        u = t - i
        a, b, c = points[i], points[i + 1], points[i + 2]
        start = a if i == 0 else (a + b) / 2
        end = c if i == len(points) - 3 else (b + c) / 2
        out.append(tuple((1 - u) ** 2 * start + 2 * u * (1 - u) * b + u ** 2 * end))
    return [(float(x), float(y)) for x, y in out]


def _to_pad(strokes: list[list[Point]], rng: np.random.Generator, pad: tuple[int, int]) -> list[list[Point]]:
    size = min(pad) * rng.uniform(0.3, 0.85)
    half = size * 0.6
    cx, cy = rng.uniform(half, max(half, pad[0] - half)), rng.uniform(half, max(half, pad[1] - half))
    return [[(cx + x * size, cy + y * size) for x, y in stroke] for stroke in strokes]


def _as_strokes_or_png(drawn, pad, rng: np.random.Generator, as_png: bool):
    if as_png:
        return restroke.png_bytes(restroke.render_pad(drawn, pad, restroke.pen_width(rng, drawn), rng))
    return {"strokes": [[list(p) for p in stroke] for stroke in drawn], "size": list(pad)}


def _corner(drawn: list[list[Point]], pad: tuple[int, int], rng: np.random.Generator) -> list[list[Point]]:
    points = np.array([p for stroke in drawn for p in stroke])
    low, high = points.min(axis=0), points.max(axis=0)
    corner = np.array([rng.choice([0.03, 0.97]) * pad[0], rng.choice([0.03, 0.97]) * pad[1]])
    target = np.where(corner < np.array(pad) / 2, corner, corner - (high - low))
    return [[(x - low[0] + target[0], y - low[1] + target[1]) for x, y in stroke] for stroke in drawn]


def generate(name: str, count: int, seed: int = 7) -> Iterator[tuple[bytes | dict, int]]:
    """`count` samples of the named writer set (MNIST test digits in turn, or digits 0-9 in turn)."""
    from .data import load_mnist
    from .dataset import mnist_to_uint8

    rng = np.random.default_rng([seed, 100 + WRITER_SETS.index(name)])
    if name == "not_digit":
        for _ in range(count):
            pad = restroke.random_pad(rng)
            drawn = nondigits.to_pad(nondigits.non_digit(rng, nondigits.EVALUATION_LETTERS), rng, pad)
            yield _as_strokes_or_png(drawn, pad, rng, rng.random() < 0.5), NOT_A_DIGIT
        return
    if name == "styles":
        for i in range(count):
            pad = restroke.random_pad(rng)
            drawn = _to_pad(style_strokes(i % 10, rng), rng, pad)
            yield _as_strokes_or_png(drawn, pad, rng, rng.random() < 0.5), i % 10
        return
    test = load_mnist().test
    images, labels = mnist_to_uint8(test.images), test.labels
    if name in ("pen_european", "scan_european"):
        chosen = np.isin(labels, EUROPEAN_DIGITS)
        images, labels = images[chosen], labels[chosen]
    images, labels = images[:count], labels[:count]
    for image, label in zip(images, labels, strict=True):
        if name in ("scan", "scan_tiny", "stretched"):
            if name == "stretched":
                picture = restroke.stretched_scan(image, rng)
            else:
                side = int(rng.integers(12, 17)) if name == "scan" else int(rng.integers(8, 12))
                picture = restroke.low_res_scan(image, rng, side)
            photo = name == "scan" and rng.random() < 0.3
            yield (restroke.as_photo_jpeg(picture, rng) if photo else restroke.png_bytes(picture)), int(label)
            continue
        traced = restroke.trace(restroke.skeletons(image[None])[0])
        if name in ("pen_european", "scan_european"):
            traced = european(traced, int(label), rng)
        if name == "scan_european":
            drawn_back = _as_written(traced, rng)
            scan = restroke.stretched_scan if rng.random() < 0.5 else restroke.low_res_scan
            yield restroke.png_bytes(scan(drawn_back, rng)), int(label)
            continue
        pad = (int(rng.choice([400, 560, 800])),) * 2 if name == "corner" else restroke.random_pad(rng)
        drawn = restroke.as_pen_trajectory(traced, rng, pad, tiny=name == "corner")
        if name == "corner":
            drawn = _corner(drawn, pad, rng)
        as_png = name == "pen_png" or (name in ("corner", "pen_european") and rng.random() < 0.5)
        yield _as_strokes_or_png(drawn, pad, rng, as_png), int(label)
