"""Out-of-distribution evaluation sets, made the way real use makes pictures.

MNIST accuracy says little about a digit drawn with a finger on a phone or a
photo of a worksheet. These generators make such pictures, deterministically
from a seed, for `python -m realtime.training.evaluate`. They are never used for training.

- canvas: handwriting-like strokes (several styles per digit, random slant,
  aspect, wobble, pen width from hairline to marker, any place and size on the
  pad) exported like `canvas.toDataURL()`: ink on a transparent background,
  plus opaque dark-on-light and light-on-dark pads.
- photo: the same kind of strokes in pen or pencil on paper, photographed:
  tinted paper, uneven light and shadow, noise, blur, slight rotation, JPEG.
- fonts: printed digits from every font on the machine, jittered.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Point = tuple[float, float]

# Each digit in several handwriting styles: lists of strokes, each a list of
# control points in a unit box (x right, y down), smoothed by Catmull-Rom.
STYLES: dict[int, list[list[list[Point]]]] = {
    0: [[[(0.5, 0.04), (0.25, 0.15), (0.15, 0.5), (0.27, 0.88), (0.52, 0.97), (0.77, 0.85), (0.85, 0.5),
          (0.74, 0.14), (0.5, 0.04), (0.4, 0.1)]],
        [[(0.55, 0.06), (0.3, 0.1), (0.2, 0.45), (0.3, 0.9), (0.6, 0.95), (0.8, 0.6), (0.75, 0.2), (0.55, 0.06)]]],
    1: [[[(0.5, 0.03), (0.5, 0.97)]],
        [[(0.3, 0.25), (0.56, 0.03), (0.56, 0.97)]],
        [[(0.32, 0.22), (0.55, 0.03), (0.55, 0.95)], [(0.35, 0.96), (0.75, 0.96)]]],
    2: [[[(0.18, 0.25), (0.35, 0.06), (0.62, 0.04), (0.8, 0.2), (0.75, 0.42), (0.5, 0.66), (0.18, 0.94),
          (0.84, 0.93)]],
        [[(0.2, 0.2), (0.45, 0.04), (0.75, 0.12), (0.7, 0.4), (0.3, 0.85), (0.22, 0.95), (0.35, 0.82),
          (0.55, 0.9), (0.85, 0.92)]]],
    3: [[[(0.18, 0.15), (0.45, 0.03), (0.74, 0.12), (0.74, 0.32), (0.48, 0.47), (0.78, 0.6), (0.8, 0.82),
          (0.55, 0.97), (0.18, 0.88)]],
        [[(0.2, 0.04), (0.8, 0.04), (0.45, 0.42), (0.76, 0.55), (0.82, 0.78), (0.55, 0.97), (0.2, 0.88)]]],
    4: [[[(0.58, 0.03), (0.14, 0.66), (0.86, 0.66)], [(0.64, 0.3), (0.64, 0.97)]],
        [[(0.62, 0.97), (0.62, 0.03), (0.12, 0.66), (0.88, 0.66)]],
        [[(0.22, 0.03), (0.18, 0.56), (0.82, 0.56)], [(0.7, 0.04), (0.7, 0.97)]]],
    5: [[[(0.76, 0.04), (0.3, 0.04), (0.25, 0.45), (0.55, 0.37), (0.79, 0.56), (0.76, 0.83), (0.5, 0.97),
          (0.18, 0.86)]],
        [[(0.3, 0.04), (0.24, 0.46), (0.55, 0.38), (0.8, 0.58), (0.74, 0.85), (0.48, 0.97), (0.2, 0.85)],
         [(0.3, 0.04), (0.8, 0.05)]]],
    6: [[[(0.72, 0.04), (0.45, 0.2), (0.24, 0.52), (0.24, 0.8), (0.45, 0.97), (0.7, 0.9), (0.76, 0.66),
          (0.52, 0.54), (0.26, 0.68)]],
        [[(0.65, 0.03), (0.35, 0.35), (0.25, 0.7), (0.4, 0.96), (0.68, 0.9), (0.7, 0.62), (0.45, 0.55),
          (0.28, 0.72)]]],
    7: [[[(0.14, 0.06), (0.86, 0.06), (0.4, 0.97)]],
        [[(0.14, 0.1), (0.86, 0.06), (0.55, 0.5), (0.45, 0.97)]],
        [[(0.12, 0.16), (0.14, 0.06), (0.86, 0.06), (0.42, 0.97)], [(0.32, 0.5), (0.76, 0.5)]]],
    8: [[[(0.52, 0.48), (0.26, 0.3), (0.3, 0.1), (0.5, 0.03), (0.72, 0.12), (0.72, 0.3), (0.52, 0.48),
          (0.25, 0.66), (0.26, 0.88), (0.5, 0.97), (0.76, 0.88), (0.76, 0.66), (0.52, 0.48)]],
        [[(0.7, 0.12), (0.5, 0.03), (0.3, 0.12), (0.32, 0.33), (0.7, 0.62), (0.72, 0.88), (0.5, 0.97),
          (0.28, 0.87), (0.3, 0.63), (0.68, 0.33), (0.7, 0.12)]]],
    9: [[[(0.74, 0.3), (0.5, 0.46), (0.27, 0.35), (0.3, 0.1), (0.52, 0.03), (0.74, 0.14), (0.74, 0.3),
          (0.72, 0.97)]],
        [[(0.72, 0.28), (0.5, 0.44), (0.28, 0.32), (0.34, 0.08), (0.56, 0.04), (0.72, 0.16), (0.72, 0.3),
          (0.62, 0.7), (0.42, 0.97)]]],
}
SET_NAMES = ("canvas", "photo", "fonts")


def _catmull_rom(points: list[Point], samples: int = 12) -> list[Point]:
    if len(points) < 3:
        return points
    padded = [points[0], *points, points[-1]]
    curve: list[Point] = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = (np.array(padded[j]) for j in (i - 1, i, i + 1, i + 2))
        for t in np.linspace(0, 1, samples, endpoint=False):
            t2, t3 = t * t, t * t * t
            q = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                       + (3 * p1 - p0 - 3 * p2 + p3) * t3)
            curve.append((float(q[0]), float(q[1])))
    curve.append(points[-1])
    return curve


def handwritten_strokes(digit: int, rng: np.random.Generator) -> list[list[Point]]:
    """One person's way of writing `digit`: a style, slant, proportions and a wobbly hand."""
    style = STYLES[digit][rng.integers(len(STYLES[digit]))]
    slant = rng.uniform(-0.35, 0.25)
    angle = math.radians(rng.uniform(-10, 10))
    aspect = rng.uniform(0.65, 1.25)
    wobble = rng.uniform(0.0, 0.035)
    return in_a_hand(style, slant, angle, aspect, wobble, rng)


def in_a_hand(style: list[list[Point]], slant: float, angle: float, aspect: float, wobble: float,
              rng: np.random.Generator, samples: int = 12) -> list[list[Point]]:
    """A template's strokes as one writer draws them: proportions, slant, rotation and a shaky hand, smoothed."""
    cos, sin = math.cos(angle), math.sin(angle)
    strokes = []
    for stroke in style:
        moved = []
        for x, y in stroke:
            x, y = (x - 0.5) * aspect - slant * (y - 0.5), y - 0.5
            moved.append((x * cos - y * sin + rng.normal(0, wobble), x * sin + y * cos + rng.normal(0, wobble)))
        strokes.append(_catmull_rom(moved, samples))
    return strokes


def render_strokes(strokes: list[list[Point]], canvas: int, box: float, centre: Point, width: float,
                   supersample: int = 3) -> np.ndarray:
    """Antialiased ink coverage (0..1) of strokes scaled to `box` pixels, like a browser canvas."""
    size = canvas * supersample
    image = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(image)
    stroke_px = max(1.0, width * supersample)
    for stroke in strokes:
        points = [((centre[0] + x * box) * supersample, (centre[1] + y * box) * supersample) for x, y in stroke]
        pen.line(points, fill=255, width=max(1, round(stroke_px)), joint="curve")
        r = stroke_px / 2
        for px, py in (points[0], points[-1]):
            pen.ellipse((px - r, py - r, px + r, py + r), fill=255)
    image = image.resize((canvas, canvas), Image.Resampling.BOX)
    return np.asarray(image, np.float32) / 255.0


def _placement(rng: np.random.Generator, canvas: int) -> tuple[float, Point]:
    box = canvas * (rng.uniform(0.12, 0.3) if rng.random() < 0.15 else rng.uniform(0.35, 0.8))
    margin = box * 0.58
    centre = (rng.uniform(margin, canvas - margin), rng.uniform(margin, canvas - margin))
    return box, centre


def canvas_sample(digit: int, rng: np.random.Generator) -> bytes:
    canvas = int(rng.choice([200, 280, 320, 400, 560]))
    box, centre = _placement(rng, canvas)
    width = box * float(rng.choice([rng.uniform(0.015, 0.05), rng.uniform(0.05, 0.12), rng.uniform(0.12, 0.2)]))
    ink = render_strokes(handwritten_strokes(digit, rng), canvas, box, centre, width)
    kind = rng.random()
    if kind < 0.5:  # canvas.toDataURL(): coloured ink, transparent background
        colour = rng.choice([(0, 0, 0), (30, 60, 200), (200, 30, 30), (255, 255, 255)])
        rgba = np.zeros((canvas, canvas, 4), np.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = np.rint(ink * 255)
        picture = Image.fromarray(rgba, "RGBA")
    elif kind < 0.8:
        picture = Image.fromarray(np.rint(255 * (1 - ink)).astype(np.uint8), "L")
    else:
        picture = Image.fromarray(np.rint(255 * ink).astype(np.uint8), "L")
    return _encode(picture, "PNG")


def photo_sample(digit: int, rng: np.random.Generator) -> bytes:
    side = int(rng.choice([480, 720, 1024, 1600]))
    box, centre = _placement(rng, side)
    width = box * rng.uniform(0.03, 0.13)
    ink = render_strokes(handwritten_strokes(digit, rng), side, box, centre, width, supersample=1)
    ink = np.asarray(Image.fromarray(ink, "F").filter(ImageFilter.BoxBlur(0)), np.float32)
    paper = np.array([rng.uniform(0.75, 1.0), rng.uniform(0.72, 0.98), rng.uniform(0.6, 0.95)], np.float32)
    pen = np.array(rng.choice([(0.1, 0.1, 0.12), (0.1, 0.15, 0.5), (0.35, 0.35, 0.38), (0.05, 0.05, 0.05)]))
    strength = rng.uniform(0.55, 1.0)  # pencil is faint, marker is full
    yy, xx = np.mgrid[0:side, 0:side] / side
    gx, gy = rng.uniform(-0.5, 0.5, 2)
    light = 1.0 - rng.uniform(0.1, 0.45) * np.clip(0.5 + gx * (xx - 0.5) * 2 + gy * (yy - 0.5) * 2, 0, 1)
    if rng.random() < 0.4:  # the shadow of a hand or a phone
        edge = rng.uniform(0.1, 0.9)
        light *= np.where(xx + 0.3 * yy < edge, rng.uniform(0.55, 0.8), 1.0)
    colour = paper[None, None] * (1 - strength * ink[..., None]) + pen[None, None] * strength * ink[..., None]
    colour = colour * light[..., None] + rng.normal(0, rng.uniform(0.01, 0.04), colour.shape)
    picture = Image.fromarray(np.clip(colour * 255, 0, 255).astype(np.uint8), "RGB")
    picture = picture.rotate(rng.uniform(-6, 6), resample=Image.Resampling.BILINEAR, fillcolor=(90, 90, 90))
    picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6) * side / 700))
    return _encode(picture, "JPEG", quality=int(rng.integers(55, 92)))


def available_fonts() -> list[Path]:
    folders = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"]
    return sorted({path for folder in folders if folder.is_dir()
                   for path in folder.rglob("*") if path.suffix.lower() in {".ttf", ".otf"}})


def font_sample(digit: int, rng: np.random.Generator, fonts: list[Path]) -> bytes:
    canvas = int(rng.choice([120, 200, 320]))
    size = int(canvas * rng.uniform(0.35, 0.8))
    font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), size) if fonts else ImageFont.load_default(size)
    image = Image.new("L", (canvas, canvas), 255)
    pen = ImageDraw.Draw(image)
    pen.text((canvas / 2, canvas / 2), str(digit), font=font, fill=0, anchor="mm")
    image = image.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR, fillcolor=255)
    return _encode(image, "PNG")


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def generate(name: str, count: int, seed: int = 7) -> Iterator[tuple[bytes, int]]:
    """`count` (image bytes, label) pairs of the named set, balanced over the ten digits."""
    rng = np.random.default_rng([seed, SET_NAMES.index(name)])
    fonts = available_fonts() if name == "fonts" else []
    for i in range(count):
        digit = i % 10
        if name == "canvas":
            yield canvas_sample(digit, rng), digit
        elif name == "photo":
            yield photo_sample(digit, rng), digit
        elif name == "fonts":
            yield font_sample(digit, rng, fonts), digit
        else:
            raise ValueError(f"unknown set {name!r}; choose from {SET_NAMES}")
