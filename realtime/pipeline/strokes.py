"""Strokes to model input: the pad's ink as a pen would draw it, at the digit's own scale.

A picture of a drawing has already lost what matters: a pen 1/16 of the pad wide fills a
small digit in. Given the strokes themselves (pad coordinates, in drawing order), the
drawing is redrawn with a pen scaled to the digit's size, the way MNIST's writers' pens
were to their digits, so a tiny digit in a corner and a large one give the same 28x28.
No image is encoded or decoded on the way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .errors import InputError
from .preprocess import STROKE_TARGET, WORK, Prepared, blank_input, normalize_ink

Point = tuple[float, float]
Strokes = list[list[Point]]

MAX_STROKES = 64
MAX_POINTS = 4096  # over all strokes: a long drawing at 60 points a second is a few hundred
MAX_PAD_SIDE = 20_000
SUPERSAMPLE = 4  # drawn at 4x and box-reduced: anti-aliased like MNIST's scans
# A drawing whose ink spans less than this share of the pad's short side is a dot, not a digit.
DOT_SHARE = 0.02


def validate_strokes(strokes: object, size: object) -> tuple[Strokes, tuple[float, float]]:
    """The `strokes` and `size` of a snapshot as float tuples, or a clear InputError."""
    if not (isinstance(size, Sequence) and not isinstance(size, str) and len(size) == 2
            and all(_finite(v) and 0 < v <= MAX_PAD_SIDE for v in size)):
        raise InputError("invalid_size", f"'size' must be [width, height], each above 0 and at most {MAX_PAD_SIDE:,}.")
    if not isinstance(strokes, list) or len(strokes) > MAX_STROKES:
        raise InputError("invalid_strokes", f"'strokes' must be a list of at most {MAX_STROKES} strokes.")
    clean: Strokes = []
    total = 0
    for stroke in strokes:
        if not isinstance(stroke, list):
            raise InputError("invalid_strokes", "Each stroke must be a list of [x, y] points.")
        total += len(stroke)
        if total > MAX_POINTS:
            raise InputError("too_many_points", f"A drawing may have at most {MAX_POINTS:,} points.", 413)
        points = []
        for point in stroke:
            if not (isinstance(point, (list, tuple)) and len(point) == 2 and all(_finite(v) for v in point)):
                raise InputError("invalid_strokes", "Each point must be [x, y] with finite numbers.")
            points.append((float(point[0]), float(point[1])))
        if points:
            clean.append(points)
    return clean, (float(size[0]), float(size[1]))


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def strokes_to_ink(strokes: Strokes, size: tuple[float, float]) -> np.ndarray | None:
    """The strokes redrawn so the ink's long side is WORK pixels and the pen is MNIST's; None for no ink or a dot.

    Points outside the pad are kept (a stroke may start outside it); only the ink's extent matters.
    """
    points = np.array([p for stroke in strokes for p in stroke], np.float64).reshape(-1, 2)
    if len(points) == 0:
        return None
    low, high = points.min(axis=0), points.max(axis=0)
    extent = float((high - low).max())
    if extent < DOT_SHARE * min(size):
        return None
    pen = STROKE_TARGET * SUPERSAMPLE
    scale = (WORK - STROKE_TARGET) * SUPERSAMPLE / extent
    margin = pen
    canvas = (int(np.ceil((high - low)[0] * scale + 2 * margin)), int(np.ceil((high - low)[1] * scale + 2 * margin)))
    image = Image.new("L", canvas, 0)
    draw = ImageDraw.Draw(image)
    radius = pen / 2
    for stroke in strokes:
        path = [((x - low[0]) * scale + margin, (y - low[1]) * scale + margin) for x, y in stroke]
        if len(path) > 1:
            draw.line(path, fill=255, width=round(pen), joint="curve")
        for x, y in path if len(path) < 3 else (path[0], path[-1]):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    reduced = image.reduce(SUPERSAMPLE)
    return np.asarray(reduced, np.float32) / 255.0


def prepare_strokes(strokes: Strokes, size: tuple[float, float]) -> Prepared:
    """Strokes in pad coordinates to the 28x28 model input (blank for no ink or a lone dot)."""
    ink = strokes_to_ink(strokes, size)
    return blank_input() if ink is None else normalize_ink(ink)


# The page's pen is 1/16 of the pad's side (static/js/strokes.js STROKE_WIDTH).
PAD_PEN_SHARE = 1 / 16
RENDER_MAX_SIDE = 560  # a larger pad is drawn at this size: the tutorials squash it to 28x28 anyway


def render_pad(strokes: Strokes, size: tuple[float, float], max_side: int = RENDER_MAX_SIDE) -> Image.Image:
    """The whole pad as the page shows it, dark ink on white with the page's pen (mode "L").

    This is the picture a tutorial's server gets from `canvas.toDataURL()`: the lens shows what
    their plain resize makes of it. Unlike `strokes_to_ink`, nothing is cropped or rescaled to
    the digit. Drawn at the pad's size, or scaled down so its long side is `max_side`.
    """
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    canvas = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.new("L", canvas, 255)
    draw = ImageDraw.Draw(image)
    pen = PAD_PEN_SHARE * min(width, height) * scale
    radius = pen / 2
    for stroke in strokes:
        path = [(x * scale, y * scale) for x, y in stroke]
        if len(path) > 1:
            draw.line(path, fill=0, width=max(1, round(pen)), joint="curve")
        for x, y in path if len(path) < 3 else (path[0], path[-1]):  # round caps, and a tap's dot
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=0)
    return image
