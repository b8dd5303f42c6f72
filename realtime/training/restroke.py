"""MNIST digits turned back into pen strokes, and re-drawn the ways real writers' digits reach us.

MNIST's scans are one pen, one scanner, one size rule. Real use is a pen tablet or a
finger on the pad (coarsely sampled points joined by straight segments, any pen), or old
low-resolution scans, upscaled, sometimes binarised and stretched to fill their box. These
pure functions thin a digit to its skeleton, trace the skeleton into strokes, and re-draw
it in those ways; training uses MNIST's training digits, evaluation its test digits.
"""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Point = tuple[float, float]
Strokes = list[list[Point]]

UPSCALE = 2  # digits are thinned at 56x56: smoother skeletons than at 28x28
_OFFSETS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))  # P2..P9, clockwise


def thin(masks: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a batch of boolean masks (n, h, w) to one-pixel skeletons."""
    x = np.pad(masks.astype(bool), ((0, 0), (1, 1), (1, 1)))
    h, w = x.shape[1] - 2, x.shape[2] - 2
    for _ in range(64):
        changed = False
        for step in (0, 1):
            p = [x[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in _OFFSETS]
            centre = x[:, 1:-1, 1:-1]
            count = sum(q.astype(np.uint8) for q in p)
            turns = sum((~p[i] & p[(i + 1) % 8]).astype(np.uint8) for i in range(8))
            p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
            side = ~(p2 & p4 & p6) & ~(p4 & p6 & p8) if step == 0 else ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            remove = centre & (count >= 2) & (count <= 6) & (turns == 1) & side
            if remove.any():
                changed = True
                x[:, 1:-1, 1:-1] = centre & ~remove
        if not changed:
            break
    return x[:, 1:-1, 1:-1]


def skeletons(images: np.ndarray) -> np.ndarray:
    """8-bit MNIST-style digits (n, 28, 28), white on black, to skeletons at UPSCALE times the size."""
    big = np.stack([np.asarray(Image.fromarray(image).resize(
        (image.shape[1] * UPSCALE, image.shape[0] * UPSCALE), Image.Resampling.BILINEAR)) for image in images])
    return thin(big > 100)


def trace(skeleton: np.ndarray, min_length: int = 4) -> Strokes:
    """A one-pixel skeleton as strokes (x, y): walks from the ends, straight on through crossings."""
    pixels = {(int(y), int(x)) for y, x in zip(*np.nonzero(skeleton), strict=True)}
    adjacent = {p: _neighbours(p, pixels) for p in pixels}
    done: set[frozenset] = set()
    ends = sorted(p for p in pixels if len(adjacent[p]) == 1)
    forks = sorted(p for p in pixels if len(adjacent[p]) >= 3)
    strokes: Strokes = []
    for start in [*ends, *forks, *sorted(pixels)]:
        while any(frozenset((start, q)) not in done for q in adjacent[start]):
            path, previous, current = [start], None, start
            while True:
                options = [q for q in adjacent[current] if frozenset((current, q)) not in done]
                if not options:
                    break
                step = options[0] if previous is None else max(
                    options, key=lambda q: _straightness(previous, current, q))
                done.add(frozenset((current, step)))
                previous, current = current, step
                path.append(current)
            strokes.append([(float(x), float(y)) for y, x in path])
    long = [stroke for stroke in strokes if len(stroke) >= min_length]
    return long or strokes


def _neighbours(p: tuple[int, int], pixels: set) -> list[tuple[int, int]]:
    """8-neighbours, without a diagonal step where a right-angle path through a 4-neighbour exists."""
    y, x = p
    out = [(y + dy, x + dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)) if (y + dy, x + dx) in pixels]
    for dy, dx in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
        if (y + dy, x + dx) in pixels and (y + dy, x) not in pixels and (y, x + dx) not in pixels:
            out.append((y + dy, x + dx))
    return out


def _straightness(a: tuple[int, int], b: tuple[int, int], c: tuple[int, int]) -> float:
    u, v = (b[0] - a[0], b[1] - a[1]), (c[0] - b[0], c[1] - b[1])
    return (u[0] * v[0] + u[1] * v[1]) / (math.hypot(*u) * math.hypot(*v))


def _chaikin(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        return points
    smooth = [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        smooth += [(0.75 * x0 + 0.25 * x1, 0.75 * y0 + 0.25 * y1), (0.25 * x0 + 0.75 * x1, 0.25 * y0 + 0.75 * y1)]
    return [*smooth, points[-1]]


# --- how many writers outside the US write some digits, put onto MNIST's own traced digits -------
# Templates (`synth.py`) give these styles but only a few hands; MNIST's writers give the hands but
# hardly the styles. Adding the feature to a traced MNIST digit gives both.

RESTYLE_P = 0.45  # share of re-drawn 1s, 7s and 9s given a feature
NARROW_P = 0.08  # share of all re-drawn digits written narrow


def restyle(strokes: Strokes, digit: int, rng: np.random.Generator, share: float | None = None,
            narrow: float | None = None) -> Strokes:
    """A traced digit (x, y; y down) as many writers outside the US write it, some of the time.

    7: a crossbar, a wavy top, a serif down from the top's left end; 9: a tail hooked back to the
    left; 1: a flag and sometimes a foot; any digit: written narrow (3s and 4s read as 1s). `share`
    and `narrow` are how often (default `RESTYLE_P` and `NARROW_P`).
    """
    share = RESTYLE_P if share is None else share
    narrow = NARROW_P if narrow is None else narrow
    points = np.array([p for stroke in strokes for p in stroke])
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    width, height = max(float(right - left), 1.0), max(float(bottom - top), 1.0)
    out = [list(stroke) for stroke in strokes]
    if digit in (1, 7, 9) and rng.random() < share:
        ends = [stroke[i] for stroke in out for i in (0, -1)]
        if digit == 7:
            features = rng.random(3) < (0.75, 0.4, 0.3)
            if not features.any():
                features[0] = True
            if features[1]:
                out = _wavy_top(out, top, left, width, height, rng)
            if features[2]:
                x, y = min((p for p in points if p[1] < top + 0.25 * height), key=lambda p: p[0])
                out.insert(0, _segment((x - 0.03 * width, y + rng.uniform(0.12, 0.25) * height), (x, y)))
            if features[0]:
                out.append(_crossbar(points, top, height, rng))
        elif digit == 9:
            x, y = max(ends, key=lambda p: p[1])
            radius = max(width, 0.5 * height) * rng.uniform(0.18, 0.3)
            sweep = math.pi * rng.uniform(0.6, 1.05)
            out.append([(x - radius + radius * math.cos(a), y + 0.8 * radius * math.sin(a))
                        for a in np.linspace(0, sweep, 10)])
        else:
            x, y = min(ends, key=lambda p: p[1])
            length, angle = height * rng.uniform(0.15, 0.35), math.radians(rng.uniform(25, 60))
            out.insert(0, _segment((x - length * math.cos(angle), y + length * math.sin(angle)), (x, y)))
            if rng.random() < 0.35:
                x, y = max(ends, key=lambda p: p[1])
                half = height * rng.uniform(0.15, 0.3)
                out.append(_segment((x - half, y), (x + half, y)))
    if rng.random() < narrow:
        squeeze, centre = rng.uniform(0.4, 0.65), (left + right) / 2
        out = [[(centre + (x - centre) * squeeze, y) for x, y in stroke] for stroke in out]
    return out


def as_mnist_picture(strokes: Strokes, rng: np.random.Generator) -> np.ndarray:
    """Traced (and restyled) strokes drawn back as an MNIST-like 8-bit digit (28x28, white on black),
    for the scans: the way a feature looks once scanned at low resolution, not only when drawn."""
    points = np.array([p for stroke in strokes for p in stroke])
    low, high = points.min(axis=0), points.max(axis=0)
    side = 28 * UPSCALE
    scale = min(1.0, 0.8 * side / max(float((high - low).max()), 1.0))
    offset = side / 2 - scale * (low + high) / 2
    ink = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(ink)
    pen = int(rng.integers(3, 6))
    for stroke in strokes:
        path = [tuple(scale * np.array(p) + offset) for p in stroke]
        if len(path) > 1:
            draw.line(path, fill=255, width=pen, joint="curve")
    return np.asarray(ink.resize((28, 28), Image.Resampling.BOX))


def _segment(a: Point, b: Point, n: int = 8) -> list[Point]:
    """A straight stroke with points as dense as a traced skeleton's, so tablet sampling treats it alike."""
    return [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t) for t in np.linspace(0, 1, n)]


def _crossbar(points: np.ndarray, top: float, height: float, rng: np.random.Generator) -> list[Point]:
    y = top + height * rng.uniform(0.42, 0.62)
    near = points[np.abs(points[:, 1] - y) < 0.08 * height]
    x = float(near[:, 0].mean()) if len(near) else float(points[:, 0].mean())
    half, tilt = height * rng.uniform(0.12, 0.25), height * rng.uniform(-0.05, 0.05)
    shift = half * rng.uniform(-0.3, 0.3)
    return _segment((x - half + shift, y + tilt), (x + half + shift, y - tilt))


def _wavy_top(strokes: Strokes, top: float, left: float, width: float, height: float,
              rng: np.random.Generator) -> Strokes:
    amplitude, turns, phase = height * rng.uniform(0.04, 0.09), rng.uniform(0.8, 1.5), rng.uniform(0, math.pi)
    band = 0.3 * height

    def moved(x: float, y: float) -> Point:
        weight = max(0.0, 1.0 - (y - top) / band)
        return x, y + weight * amplitude * math.sin(2 * math.pi * turns * (x - left) / width + phase)

    return [[moved(x, y) for x, y in stroke] for stroke in strokes]


def as_pen_trajectory(strokes: Strokes, rng: np.random.Generator, pad: tuple[int, int],
                      tiny: bool = False) -> Strokes:
    """Strokes as a writer's pen on a pad of `pad` pixels: own slant, size, place, wobble, sampling rate."""
    points = np.array([p for stroke in strokes for p in stroke])
    low, high = points.min(axis=0), points.max(axis=0)
    centre, extent = (low + high) / 2, max(float((high - low).max()), 1.0)
    angle, shear = math.radians(rng.uniform(-10, 10)), rng.uniform(-0.25, 0.25)
    aspect = rng.uniform(0.8, 1.2)
    short = min(pad)
    size = short * (rng.uniform(0.08, 0.2) if tiny else rng.uniform(0.3, 0.85))
    scale = size / extent
    half = size * 0.6
    where = (rng.uniform(half, max(half, pad[0] - half)), rng.uniform(half, max(half, pad[1] - half)))
    cos, sin = math.cos(angle), math.sin(angle)
    step = int(rng.choice([1, 2, 3, 4, 6]))  # a tablet's sampling: points every few pixels of the skeleton
    wobble = rng.uniform(0.0, 0.5)
    smooth = rng.random() < 0.5
    out: Strokes = []
    for stroke in strokes:
        kept = stroke[::step] if len(stroke) > 2 * step else [stroke[0], stroke[len(stroke) // 2], stroke[-1]]
        if kept[-1] != stroke[-1]:
            kept = [*kept, stroke[-1]]
        moved = []
        for x, y in kept:
            x, y = (x - centre[0]) * aspect + rng.normal(0, wobble), y - centre[1] + rng.normal(0, wobble)
            x -= shear * y
            x, y = x * cos - y * sin, x * sin + y * cos
            moved.append((where[0] + x * scale, where[1] + y * scale))
        out.append(_chaikin(moved) if smooth else moved)
    return out


def render_pad(strokes: Strokes, pad: tuple[int, int], width: float, rng: np.random.Generator) -> Image.Image:
    """The strokes as a pad exports them: coloured ink on transparent, or opaque either polarity."""
    ss = 2
    ink = Image.new("L", (pad[0] * ss, pad[1] * ss), 0)
    draw = ImageDraw.Draw(ink)
    pen = max(1, round(width * ss))
    for stroke in strokes:
        path = [(x * ss, y * ss) for x, y in stroke]
        if len(path) > 1:
            draw.line(path, fill=255, width=pen, joint="curve")
        r = pen / 2
        for x, y in (path[0], path[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    alpha = ink.resize(pad, Image.Resampling.BOX)
    kind = rng.random()
    if kind < 0.5:
        colour = [(0, 0, 0), (30, 60, 200), (200, 30, 30), (255, 255, 255)][int(rng.integers(4))]
        picture = Image.new("RGBA", pad, (*colour, 0))
        picture.putalpha(alpha)
        return picture
    return alpha.point(lambda v: 255 - v) if kind < 0.8 else alpha


def pen_width(rng: np.random.Generator, strokes: Strokes) -> float:
    """A pen from hairline to marker, relative to the drawing's size."""
    points = np.array([p for stroke in strokes for p in stroke])
    extent = float((points.max(axis=0) - points.min(axis=0)).max())
    return max(1.0, extent * rng.choice([rng.uniform(0.01, 0.04), rng.uniform(0.04, 0.1), rng.uniform(0.1, 0.16)]))


def random_pad(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.choice([200, 280, 320, 400, 560])), int(rng.choice([200, 280, 320, 400, 560]))


# --- scans: low resolution, upscaled; binarised and stretched to fill their box ------------------

def _ink_crop(image: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(image > 30)
    return image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def low_res_scan(image: np.ndarray, rng: np.random.Generator, side: int | None = None) -> Image.Image:
    """The digit scanned at `side` pixels (8-16, keeping its shape), maybe binarised, upscaled to 64-320."""
    side = side or int(rng.integers(8, 17))
    crop = Image.fromarray(_ink_crop(image))
    fit = side / max(crop.size)
    small = crop.resize((max(1, round(crop.width * fit)), max(1, round(crop.height * fit))), Image.Resampling.BOX)
    field = Image.new("L", (side + 4, side + 4), 0)
    field.paste(small, ((field.width - small.width) // 2, (field.height - small.height) // 2))
    if rng.random() < 0.4:
        field = field.point(lambda v: 255 if v > 90 else 0)
    return _upscale_and_print(field, rng)


def stretched_scan(image: np.ndarray, rng: np.random.Generator, side: int | None = None) -> Image.Image:
    """The digit stretched to fill a side x side box (aspect lost), binarised, upscaled: old OCR sets' style."""
    side = side or int(rng.choice([12, 16, 16, 20, 32, 32]))
    crop = Image.fromarray(_ink_crop(image))
    box = crop.resize((side, side), Image.Resampling.BILINEAR)
    box = box.point(lambda v: 255 if v > int(rng.integers(70, 140)) else 0)
    margin = int(rng.integers(0, 3))
    field = Image.new("L", (side + 2 * margin, side + 2 * margin), 0)
    field.paste(box, (margin, margin))
    return _upscale_and_print(field, rng)


def _upscale_and_print(field: Image.Image, rng: np.random.Generator) -> Image.Image:
    target = int(rng.integers(64, 321))
    method = [Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC][int(rng.integers(3))]
    big = field.resize((target, round(target * field.height / field.width)), method)
    if rng.random() < 0.7:
        big = big.point(lambda v: 255 - v)  # dark ink on white paper
    return big


def as_photo_jpeg(picture: Image.Image, rng: np.random.Generator) -> bytes:
    """A scan photographed: tinted paper, a little blur and noise, JPEG."""
    gray = np.asarray(picture.convert("L"), np.float32) / 255.0
    tint = np.array([rng.uniform(0.85, 1.0), rng.uniform(0.82, 0.98), rng.uniform(0.7, 0.95)], np.float32)
    colour = gray[..., None] * tint + rng.normal(0, 0.02, (*gray.shape, 3))
    photo = Image.fromarray(np.clip(colour * 255, 0, 255).astype(np.uint8), "RGB")
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.2)))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=int(rng.integers(50, 90)))
    return buffer.getvalue()


def png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()
