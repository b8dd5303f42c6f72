"""Synthetic handwriting for training: the writing styles MNIST hardly has.

MNIST was written by American Census staff and students: its 1s are bare
strokes, its 7s uncrossed, its 4s mostly closed. Many people write a 1 with a
flag and a foot, a crossed 7 (with a wavy top), an open 4 (in one stroke), a 9 with a hooked tail,
and write 3s and 4s narrow. A few thousand such digits, drawn as
wobbly pen strokes and passed through the serving preprocessing, join the
MNIST training set (about one image in five).

These templates are separate from the evaluation set's (`oodsets.py`), are
smoothed and rendered differently, and use a different seed, so the canvas
evaluation still measures strokes the model has not been shown.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from PIL import Image, ImageDraw

Stroke = list[tuple[float, float]]


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float = -90, sweep: float = 370) -> Stroke:
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, start + sweep, 24)]


TEMPLATES: dict[int, list[list[Stroke]]] = {
    0: [[_ellipse(0.5, 0.5, 0.3, 0.48)], [_ellipse(0.5, 0.5, 0.22, 0.48, -70, 380)]],
    1: [[[(0.5, 0.0), (0.5, 1.0)]],
        [[(0.36, 0.2), (0.56, 0.0), (0.56, 1.0)]],
        [[(0.4, 0.14), (0.57, 0.0), (0.57, 1.0)], [(0.36, 1.0), (0.78, 1.0)]],
        [[(0.3, 0.3), (0.6, 0.0), (0.58, 1.0)]]],
    2: [[[(0.22, 0.22), (0.4, 0.02), (0.7, 0.05), (0.78, 0.28), (0.6, 0.55), (0.22, 0.98), (0.85, 0.97)]],
        [[(0.2, 0.15), (0.5, 0.0), (0.78, 0.15), (0.7, 0.38), (0.2, 0.98), (0.35, 0.85), (0.5, 0.95), (0.85, 0.95)]]],
    3: [[[(0.25, 0.1), (0.6, 0.02), (0.78, 0.2), (0.55, 0.45), (0.42, 0.48), (0.58, 0.5), (0.8, 0.7), (0.6, 0.97),
          (0.2, 0.9)]],
        [[(0.18, 0.02), (0.82, 0.02), (0.45, 0.4), (0.8, 0.6), (0.72, 0.92), (0.45, 1.0), (0.18, 0.88)]]],
    4: [[[(0.15, 0.0), (0.12, 0.6), (0.88, 0.6)], [(0.66, 0.15), (0.66, 1.0)]],
        [[(0.7, 1.0), (0.7, 0.0), (0.1, 0.68), (0.9, 0.68)]],
        [[(0.55, 0.0), (0.1, 0.7), (0.9, 0.7)], [(0.68, 0.4), (0.68, 1.0)]],
        [[(0.22, 0.0), (0.15, 0.6), (0.88, 0.58), (0.7, 0.5), (0.68, 0.0), (0.7, 1.0)]],  # open, one stroke
        [[(0.3, 0.0), (0.2, 0.55), (0.5, 0.62), (0.85, 0.55)], [(0.75, 0.05), (0.65, 1.0)]]],
    5: [[[(0.8, 0.02), (0.32, 0.02), (0.28, 0.42), (0.6, 0.36), (0.82, 0.62), (0.62, 0.95), (0.2, 0.9)]],
        [[(0.3, 0.0), (0.26, 0.45), (0.62, 0.38), (0.8, 0.66), (0.55, 1.0), (0.2, 0.88)], [(0.3, 0.02), (0.82, 0.0)]]],
    6: [[[(0.68, 0.0), (0.35, 0.3), (0.22, 0.65), (0.35, 0.95), (0.65, 0.95), (0.75, 0.72), (0.55, 0.52),
          (0.25, 0.62)]]],
    7: [[[(0.12, 0.05), (0.88, 0.05), (0.35, 1.0)]],
        [[(0.12, 0.05), (0.88, 0.05), (0.38, 1.0)], [(0.3, 0.52), (0.75, 0.5)]],
        [[(0.15, 0.22), (0.15, 0.05), (0.88, 0.05), (0.42, 1.0)]],
        [[(0.15, 0.05), (0.85, 0.02), (0.6, 0.4), (0.5, 1.0)], [(0.38, 0.5), (0.78, 0.48)]],
        # crossed, with a wavy top (continental)
        [[(0.1, 0.14), (0.3, 0.02), (0.55, 0.12), (0.88, 0.02), (0.45, 1.0)], [(0.32, 0.55), (0.78, 0.5)]],
        [[(0.12, 0.18), (0.12, 0.06), (0.4, 0.1), (0.6, 0.02), (0.88, 0.05), (0.5, 0.55), (0.4, 1.0)],
         [(0.28, 0.5), (0.72, 0.52)]]],
    8: [[[(0.7, 0.1), (0.45, 0.0), (0.25, 0.18), (0.45, 0.42), (0.75, 0.65), (0.6, 0.98), (0.3, 0.95), (0.25, 0.7),
          (0.55, 0.42), (0.72, 0.2), (0.7, 0.1)]],
        [_ellipse(0.5, 0.24, 0.22, 0.24, 90, 360), _ellipse(0.5, 0.73, 0.28, 0.27, -90, 360)]],
    9: [[[(0.75, 0.25), (0.55, 0.42), (0.3, 0.35), (0.3, 0.1), (0.55, 0.0), (0.75, 0.15), (0.75, 0.25),
          (0.75, 1.0)]],
        [[*_ellipse(0.5, 0.24, 0.25, 0.23, 0, 365), (0.72, 0.6), (0.55, 1.0)]],
        # the tail hooked back to the left
        [[*_ellipse(0.5, 0.25, 0.26, 0.24, 0, 365), (0.74, 0.7), (0.6, 0.97), (0.35, 0.95), (0.25, 0.82)]],
        [[(0.75, 0.2), (0.5, 0.45), (0.25, 0.3), (0.4, 0.02), (0.72, 0.08), (0.75, 0.6), (0.6, 0.95), (0.28, 0.88)]]],
}


def _chaikin(points: Stroke, rounds: int = 2) -> Stroke:
    """Corner cutting: turns a polyline into the smooth path a pen would take."""
    for _ in range(rounds):
        if len(points) < 3:
            return points
        smooth = [points[0]]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            smooth += [(0.75 * x0 + 0.25 * x1, 0.75 * y0 + 0.25 * y1), (0.25 * x0 + 0.75 * x1, 0.25 * y0 + 0.75 * y1)]
        points = [*smooth, points[-1]]
    return points


def synthetic_digit(digit: int, rng: np.random.Generator, canvas: int = 112) -> np.ndarray:
    """One 8-bit picture (white ink on black) of `digit` in a random style and hand."""
    strokes = TEMPLATES[digit][rng.integers(len(TEMPLATES[digit]))]
    slant, angle = rng.uniform(-0.3, 0.3), math.radians(rng.uniform(-12, 12))
    sx, sy = rng.uniform(0.35, 0.6) if rng.random() < 0.2 else rng.uniform(0.7, 1.15), rng.uniform(0.9, 1.1)
    jitter = rng.uniform(0.005, 0.03)
    box = canvas * 0.7
    width = max(1, round(box * rng.uniform(0.04, 0.14)))
    image = Image.new("L", (canvas, canvas), 0)
    pen = ImageDraw.Draw(image)
    cos, sin = math.cos(angle), math.sin(angle)
    for stroke in strokes:
        moved = []
        for x, y in stroke:
            x, y = (x - 0.5) * sx - slant * (y - 0.5), (y - 0.5) * sy
            x, y = x * cos - y * sin + rng.normal(0, jitter), x * sin + y * cos + rng.normal(0, jitter)
            moved.append((canvas / 2 + x * box, canvas / 2 + y * box))
        path = _chaikin(moved)
        pen.line(path, fill=255, width=width, joint="curve")
        for px, py in (path[0], path[-1]):
            pen.ellipse((px - width / 2, py - width / 2, px + width / 2, py + width / 2), fill=255)
    return np.asarray(image)


def synthetic_set(count: int, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """`count` pictures, balanced over the digits, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    return np.stack([synthetic_digit(int(d), rng) for d in labels]), labels.astype(np.int64)
