"""Test pictures: canvas snapshots as the page sends them, full canvas exports, and a 12 MP photo.

Everything is generated (no files to ship), deterministically, with Pillow and numpy.
"""

from __future__ import annotations

import base64
import io
import itertools
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CANVAS = 280  # the page's drawing pad, in CSS pixels
PEN = 0.065  # pen width as a fraction of the pad
SNAPSHOT_SIDE = 128  # the page sends the ink's bounding box, long side at most this

# Polylines in a unit square (x right, y down), roughly as a person draws each digit.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [[(0.5, 0.1), (0.3, 0.2), (0.22, 0.5), (0.3, 0.8), (0.5, 0.9), (0.7, 0.8), (0.78, 0.5), (0.7, 0.2),
         (0.5, 0.1)]],
    1: [[(0.4, 0.25), (0.55, 0.1), (0.55, 0.9)]],
    2: [[(0.25, 0.28), (0.35, 0.14), (0.55, 0.1), (0.72, 0.2), (0.72, 0.38), (0.25, 0.88), (0.8, 0.88)]],
    3: [[(0.25, 0.15), (0.7, 0.15), (0.45, 0.45), (0.7, 0.55), (0.72, 0.75), (0.55, 0.9), (0.25, 0.85)]],
    4: [[(0.6, 0.1), (0.2, 0.6), (0.8, 0.6)], [(0.62, 0.35), (0.62, 0.9)]],
    5: [[(0.72, 0.12), (0.32, 0.12), (0.28, 0.45), (0.55, 0.42), (0.72, 0.58), (0.68, 0.82), (0.45, 0.9),
         (0.25, 0.82)]],
    6: [[(0.68, 0.12), (0.4, 0.3), (0.28, 0.6), (0.35, 0.85), (0.55, 0.9), (0.7, 0.72), (0.6, 0.52),
         (0.4, 0.55), (0.3, 0.65)]],
    7: [[(0.2, 0.12), (0.8, 0.12), (0.45, 0.9)]],
    8: [[(0.5, 0.5), (0.3, 0.32), (0.38, 0.12), (0.62, 0.12), (0.7, 0.32), (0.5, 0.5), (0.28, 0.7),
         (0.38, 0.9), (0.62, 0.9), (0.72, 0.7), (0.5, 0.5)]],
    9: [[(0.7, 0.35), (0.55, 0.5), (0.35, 0.45), (0.3, 0.25), (0.45, 0.1), (0.65, 0.15), (0.7, 0.35),
         (0.65, 0.9)]],
}


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _partial(lines: list[list[tuple[float, float]]], fraction: float) -> list[list[tuple[float, float]]]:
    """The first `fraction` of the pen's path (all strokes in order), as polylines."""
    lengths = [math.dist(a, b) for line in lines for a, b in itertools.pairwise(line)]
    budget = sum(lengths) * max(0.0, min(1.0, fraction))
    out: list[list[tuple[float, float]]] = []
    for line in lines:
        if budget <= 0:
            break
        drawn = [line[0]]
        for a, b in itertools.pairwise(line):
            step = math.dist(a, b)
            if step <= budget:
                drawn.append(b)
                budget -= step
            else:
                t = budget / step if step else 0.0
                drawn.append((a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t))
                budget = 0
                break
        out.append(drawn)
    return out


def draw_canvas(digit: int, fraction: float = 1.0, size: int = CANVAS, scale: float = 1.0,
                offset: tuple[float, float] = (0.0, 0.0), pen: float = PEN) -> Image.Image:
    """The drawing pad: black ink on opaque white RGBA, like a canvas filled white."""
    image = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    width = max(1, round(pen * size))
    radius = width / 2
    for line in _partial(STROKES[digit], fraction):
        points = [((x * scale + offset[0]) * size, (y * scale + offset[1]) * size) for x, y in line]
        if len(points) > 1:
            draw.line(points, fill=(0, 0, 0, 255), width=width, joint="curve")
        for px, py in points:
            draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=(0, 0, 0, 255))
    return image


def snapshot(canvas: Image.Image, side: int = SNAPSHOT_SIDE) -> Image.Image:
    """What the page sends: the ink's bounding box (plus a pen-width margin), long side <= side."""
    ink = Image.eval(canvas.convert("L"), lambda v: 255 - v)
    box = ink.getbbox()
    if box is None:
        return canvas.resize((1, 1))
    margin = 4
    left, top, right, bottom = box
    box = (max(0, left - margin), max(0, top - margin), min(canvas.width, right + margin),
           min(canvas.height, bottom + margin))
    crop = canvas.crop(box)
    long_side = max(crop.size)
    if long_side > side:
        factor = side / long_side
        crop = crop.resize((max(1, round(crop.width * factor)), max(1, round(crop.height * factor))),
                           Image.Resampling.BILINEAR)
    return crop


def snapshot_png(digit: int = 7, fraction: float = 1.0) -> bytes:
    return encode(snapshot(draw_canvas(digit, fraction)))


def canvas_png(digit: int = 7) -> bytes:
    """A whole 280x280 pad as PNG: what an upload of the canvas, or a tutorial client, sends."""
    return encode(draw_canvas(digit))


def stream_frames(variant: int = 0, steps: int = 12) -> list[bytes]:
    """A client's frame loop: every digit drawn progressively, in `steps` snapshots each.

    Each variant shifts, scales and orders the digits a little differently, so clients
    (and consecutive frames) never send identical pictures.
    """
    rng = random.Random(1000 + variant)
    digits = list(STROKES)
    rng.shuffle(digits)
    frames = []
    for digit in digits:
        scale = rng.uniform(0.7, 0.95)
        offset = (rng.uniform(0, 1 - scale), rng.uniform(0, 1 - scale))
        for step in range(1, steps + 1):
            canvas = draw_canvas(digit, step / steps, scale=scale, offset=offset)
            frames.append(encode(snapshot(canvas)))
    return frames


CANVAS_KINDS = ("rgba", "rgb", "grey")


def canvas_export(digit: int, kind: str, size: int = CANVAS, fraction: float = 1.0, scale: float = 1.0,
                  offset: tuple[float, float] = (0.0, 0.0), pen: float = PEN) -> Image.Image:
    """A whole pad as `canvas.toDataURL()` gives it: black ink on transparent RGBA (a canvas's default),
    on opaque white RGB, or grey."""
    drawn = draw_canvas(digit, fraction, size=size, scale=scale, offset=offset, pen=pen)
    if kind == "rgba":
        pixels = np.zeros((size, size, 4), np.uint8)
        pixels[..., 3] = 255 - np.asarray(drawn.convert("L"))
        return Image.fromarray(pixels, "RGBA")
    return drawn.convert("RGB" if kind == "rgb" else "L")


def data_url(picture: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(encode(picture)).decode("ascii")


def canvas_stream_frames(variant: int = 0, size: int = CANVAS, steps: int = 12) -> list[str]:
    """Like `stream_frames`, but each frame is the whole pad as a data URL, in one of the three kinds."""
    rng = random.Random(2000 + variant)
    digits = list(STROKES)
    rng.shuffle(digits)
    kind = CANVAS_KINDS[variant % len(CANVAS_KINDS)]
    frames = []
    for digit in digits:
        scale = rng.uniform(0.6, 0.9)
        offset = (rng.uniform(0, 1 - scale), rng.uniform(0, 1 - scale))
        for step in range(1, steps + 1):
            frames.append(data_url(canvas_export(digit, kind, size, step / steps, scale, offset)))
    return frames


def photo_jpeg(width: int = 4000, height: int = 3000, digit: int = 4, quality: int = 90, seed: int = 7) -> bytes:
    """A 12 MP phone photo of a digit on paper: uneven light, colour cast, grain, JPEG q90."""
    rng = np.random.default_rng(seed)
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    light = 0.92 - 0.18 * (xs * 0.8 + ys * 0.5) ** 2 - 0.12 * (xs + 1) / 2  # vignette and side shadow
    paper = np.empty((height, width, 3), np.float32)
    for channel, tint in enumerate((1.0, 0.97, 0.9)):  # warm indoor light
        paper[..., channel] = 255 * light * tint
    side = int(min(width, height) * 0.55)
    pen = draw_canvas(digit, size=side, pen=0.045).convert("L").filter(ImageFilter.GaussianBlur(2.5))
    ink = 1.0 - np.asarray(pen, np.float32) / 255.0
    top, left = (height - side) // 2, (width - side) // 2
    region = paper[top:top + side, left:left + side]
    region *= (1.0 - 0.8 * ink)[..., None]  # blue-black ballpoint on the lit paper
    region[..., 2] += 25 * ink
    paper += rng.normal(0.0, 6.0, size=(height, width, 1)).astype(np.float32)  # sensor grain
    picture = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8), "RGB")
    return encode(picture, "JPEG", quality=quality)
