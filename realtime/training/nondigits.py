"""Drawings that are not digits: letters, shapes, smileys, crosses, arrows, scribbles.

People draw anything on the pad. The model gets an eleventh class for "not a digit",
trained on these, so the answer can say so instead of naming the nearest digit.
Training and evaluation draw from separate letter alphabets and separate seeds (`TRAIN`
and `EVALUATION` below), so the evaluation measures letters the model was never shown.
Shapes that are digits in all but name (a circle is a 0, a lone bar is a 1) are left out.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

Point = tuple[float, float]
Strokes = list[list[Point]]

LETTERS: dict[str, Strokes] = {
    "A": [[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], [(0.22, 0.6), (0.78, 0.6)]],
    "E": [[(0.9, 0.0), (0.1, 0.0), (0.1, 1.0), (0.9, 1.0)], [(0.1, 0.5), (0.7, 0.5)]],
    "F": [[(0.9, 0.0), (0.15, 0.0), (0.15, 1.0)], [(0.15, 0.48), (0.7, 0.48)]],
    "H": [[(0.1, 0.0), (0.1, 1.0)], [(0.9, 0.0), (0.9, 1.0)], [(0.1, 0.5), (0.9, 0.5)]],
    "K": [[(0.15, 0.0), (0.15, 1.0)], [(0.85, 0.0), (0.15, 0.55), (0.85, 1.0)]],
    "M": [[(0.05, 1.0), (0.1, 0.0), (0.5, 0.6), (0.9, 0.0), (0.95, 1.0)]],
    "N": [[(0.1, 1.0), (0.1, 0.0), (0.9, 1.0), (0.9, 0.0)]],
    "R": [[(0.15, 1.0), (0.15, 0.0), (0.7, 0.02), (0.85, 0.25), (0.7, 0.48), (0.15, 0.5)], [(0.4, 0.5), (0.9, 1.0)]],
    "W": [[(0.0, 0.0), (0.25, 1.0), (0.5, 0.35), (0.75, 1.0), (1.0, 0.0)]],
    "e": [[(0.15, 0.55), (0.85, 0.5), (0.7, 0.2), (0.4, 0.2), (0.15, 0.55), (0.3, 0.9), (0.85, 0.85)]],
    "m": [[(0.05, 1.0), (0.05, 0.3), (0.2, 0.2), (0.4, 0.3), (0.45, 1.0)],
          [(0.45, 0.35), (0.65, 0.2), (0.9, 0.3), (0.95, 1.0)]],
    "x": [[(0.1, 0.1), (0.9, 0.9)], [(0.9, 0.1), (0.1, 0.9)]],
    # evaluation only
    "V": [[(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)]],
    "T": [[(0.0, 0.0), (1.0, 0.0)], [(0.5, 0.0), (0.5, 1.0)]],
    "L": [[(0.15, 0.0), (0.15, 1.0), (0.85, 1.0)]],
    "D": [[(0.15, 0.0), (0.15, 1.0)], [(0.15, 0.0), (0.6, 0.05), (0.88, 0.5), (0.6, 0.95), (0.15, 1.0)]],
    "P": [[(0.15, 1.0), (0.15, 0.0), (0.7, 0.02), (0.88, 0.25), (0.7, 0.48), (0.15, 0.5)]],
    "Y": [[(0.0, 0.0), (0.5, 0.5), (1.0, 0.0)], [(0.5, 0.5), (0.5, 1.0)]],
    "h": [[(0.15, 0.0), (0.15, 1.0)], [(0.15, 0.5), (0.45, 0.35), (0.8, 0.45), (0.85, 1.0)]],
    "w": [[(0.0, 0.2), (0.25, 1.0), (0.5, 0.45), (0.75, 1.0), (1.0, 0.2)]],
}
TRAIN_LETTERS = ("A", "E", "F", "H", "K", "M", "N", "R", "W", "e", "m", "x")
EVALUATION_LETTERS = ("V", "T", "L", "D", "P", "Y", "h", "w")


def _arc(cx: float, cy: float, r: float, start: float, sweep: float, n: int = 20) -> list[Point]:
    return [(cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a)))
            for a in np.linspace(start, start + sweep, n)]


def _shape(kind: str, rng: np.random.Generator) -> Strokes:
    u = rng.uniform
    if kind == "smiley":
        face = _arc(0.5, 0.5, 0.48, 0, 360, 32)
        eyes = [[(0.35, 0.35 + u(-0.03, 0.03)), (0.36, 0.4)], [(0.65, 0.35), (0.64, 0.4 + u(-0.03, 0.03))]]
        return [face, *eyes, _arc(0.5, 0.5, u(0.2, 0.28), u(20, 40), u(100, 140))]
    if kind == "cross":
        return [[(0.5, 0.05), (0.5, 0.95)], [(0.05, 0.5), (0.95, 0.5)]]
    if kind == "arrow":
        tip = u(0.25, 0.4)
        body = [[(0.05, 0.5), (0.95, 0.5)], [(0.95 - tip, 0.5 - tip), (0.95, 0.5), (0.95 - tip, 0.5 + tip)]]
        turn = int(rng.integers(4))  # right, down, left, up
        return [[_rotate(p, turn * 90) for p in stroke] for stroke in body]
    if kind == "triangle":
        return [[(0.5, 0.05), (0.95, 0.9), (0.05, 0.9), (0.5, 0.05)]]
    if kind == "square":
        return [[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9), (0.1, 0.1)]]
    if kind == "star":
        return [[(0.5 + 0.48 * math.sin(math.radians(144 * i)), 0.5 - 0.48 * math.cos(math.radians(144 * i)))
                 for i in range(6)]]
    if kind == "heart":
        return [[(0.5, 0.95), (0.1, 0.5), (0.1, 0.2), (0.3, 0.05), (0.5, 0.25), (0.7, 0.05), (0.9, 0.2), (0.9, 0.5),
                 (0.5, 0.95)]]
    if kind == "hash":
        return [[(0.35, 0.05), (0.3, 0.95)], [(0.7, 0.05), (0.65, 0.95)], [(0.05, 0.35), (0.95, 0.35)],
                [(0.05, 0.65), (0.95, 0.65)]]
    if kind == "spiral":
        turns = u(2, 3.5)
        angles = [(t, t * turns * 2 * math.pi) for t in np.linspace(0.05, 1, 60)]
        return [[(0.5 + 0.48 * t * math.cos(a), 0.5 + 0.48 * t * math.sin(a)) for t, a in angles]]
    if kind == "zigzag":
        n = int(rng.integers(4, 8))
        return [[(i / n, 0.2 if i % 2 else 0.8) for i in range(n + 1)]]
    if kind == "wave":
        return [[(t, 0.5 + 0.3 * math.sin(t * u(2.5, 4.5) * 2 * math.pi)) for t in np.linspace(0, 1, 40)]]
    # a scribble: a random walk with momentum, one to three strokes
    strokes = []
    for _ in range(int(rng.integers(1, 4))):
        p, v, walk = rng.uniform(0.2, 0.8, 2), rng.normal(0, 0.1, 2), []
        for _ in range(int(rng.integers(15, 45))):
            v = 0.75 * v + rng.normal(0, 0.08, 2)
            p = np.clip(p + v, 0, 1)
            walk.append((float(p[0]), float(p[1])))
        strokes.append(walk)
    return strokes


SHAPES = ("smiley", "cross", "arrow", "triangle", "square", "star", "heart", "hash", "spiral", "zigzag", "wave",
          "scribble")


def _rotate(p: Point, degrees: float) -> Point:
    a = math.radians(degrees)
    x, y = p[0] - 0.5, p[1] - 0.5
    return 0.5 + x * math.cos(a) - y * math.sin(a), 0.5 + x * math.sin(a) + y * math.cos(a)


def non_digit(rng: np.random.Generator, letters: tuple[str, ...]) -> Strokes:
    """One non-digit drawing in a unit box, in a random hand (slant, aspect, wobble)."""
    if rng.random() < 0.45:
        strokes = LETTERS[letters[int(rng.integers(len(letters)))]]
    else:
        strokes = _shape(SHAPES[int(rng.integers(len(SHAPES)))], rng)
    slant, angle = rng.uniform(-0.25, 0.25), math.radians(rng.uniform(-15, 15))
    aspect, wobble = rng.uniform(0.7, 1.3), rng.uniform(0.0, 0.02)
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for stroke in strokes:
        dense = _densify(stroke)
        moved = []
        for x, y in dense:
            x, y = (x - 0.5) * aspect - slant * (y - 0.5), y - 0.5
            moved.append((x * cos - y * sin + rng.normal(0, wobble), x * sin + y * cos + rng.normal(0, wobble)))
        out.append(moved)
    return out


def _densify(stroke: list[Point], step: float = 0.05) -> list[Point]:
    out = [stroke[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
        n = max(1, int(math.hypot(x1 - x0, y1 - y0) / step))
        out += [(x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1)]
    return out


def to_pad(strokes: Strokes, rng: np.random.Generator, pad: tuple[int, int]) -> Strokes:
    """A unit-box drawing placed on a pad at a random size and place."""
    size = min(pad) * rng.uniform(0.3, 0.85)
    half = size * 0.6
    cx, cy = rng.uniform(half, max(half, pad[0] - half)), rng.uniform(half, max(half, pad[1] - half))
    return [[(cx + x * size, cy + y * size) for x, y in stroke] for stroke in strokes]
