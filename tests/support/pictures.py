"""Pictures for tests: digits drawn as a person would, and hostile or unusual image files built by hand."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

DIGIT_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    # Polylines in a unit square (x right, y down), as a person would draw them.
    0: [[(0.5, 0.1), (0.3, 0.2), (0.22, 0.5), (0.3, 0.8), (0.5, 0.9), (0.7, 0.8), (0.78, 0.5), (0.7, 0.2),
         (0.5, 0.1)]],
    1: [[(0.4, 0.25), (0.55, 0.1), (0.55, 0.9)]],
    4: [[(0.6, 0.1), (0.2, 0.6), (0.8, 0.6)], [(0.62, 0.35), (0.62, 0.9)]],
    7: [[(0.2, 0.12), (0.8, 0.12), (0.45, 0.9)]],
}


def draw_digit(digit: int, size: int = 280, width: float = 0.07, ink=(0, 0, 0, 255),
               background=(255, 255, 255, 255), mode: str = "RGBA", scale: float = 1.0,
               offset: tuple[float, float] = (0.0, 0.0)) -> Image.Image:
    image = Image.new(mode, (size, size), background if mode != "L" else background[0])
    pen = ImageDraw.Draw(image)
    stroke = max(1, round(width * size * scale))
    for line in DIGIT_STROKES[digit]:
        points = [((x * scale + offset[0]) * size, (y * scale + offset[1]) * size) for x, y in line]
        pen.line(points, fill=ink if mode != "L" else ink[0], width=stroke, joint="curve")
        for px, py in points:
            r = stroke / 2
            pen.ellipse((px - r, py - r, px + r, py + r), fill=ink if mode != "L" else ink[0])
    return image


def png_bytes(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def blank_png(size: int = 280) -> bytes:
    return png_bytes(Image.fromarray(np.full((size, size), 255, np.uint8)))


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_of_zeros(width: int, height: int, bit_depth: int = 1) -> bytes:
    """A complete, valid greyscale PNG of zeros, built by hand (no pixel buffer in memory)."""
    row = b"\0" * (1 + (width * bit_depth + 7) // 8)  # filter byte + packed samples
    compressor = zlib.compressobj(9)
    rows_per_piece = max(1, (1 << 22) // len(row))
    piece = row * rows_per_piece
    parts, left = [], height
    while left > 0:
        take = min(left, rows_per_piece)
        parts.append(compressor.compress(piece if take == rows_per_piece else row * take))
        left -= take
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


_BOMB: bytes | None = None


def png_bomb() -> bytes:
    """30000x30000 pixels (900 megapixels, ~110 MB of 1-bit samples) in about 110 KB."""
    global _BOMB
    if _BOMB is None:
        _BOMB = png_of_zeros(30_000, 30_000, bit_depth=1)
    return _BOMB


def png_header_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A few hundred bytes: a PNG header promising a huge image, with a token IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096, 9)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def gif_header_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A GIF whose logical screen is huge and whose only frame is 1x1."""
    screen = b"GIF89a" + struct.pack("<HH", width, height) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def bmp_header_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A 54-byte BMP header promising width x height 24-bit pixels, with almost no pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    body = info + b"\0" * 64
    return b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, 54) + body


def jpeg_header_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A real small JPEG with its frame header (SOF0) rewritten to claim width x height."""
    data = bytearray(png_bytes(Image.new("L", (16, 16), 255), "JPEG"))
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def animated_gif(first: int = 7, second: int = 1) -> bytes:
    frames = [draw_digit(d, mode="RGB").convert("P") for d in (first, second)]
    return png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def png_16bit(digit: int = 7) -> bytes:
    gray = np.asarray(draw_digit(digit, mode="L"), np.uint16) * 257  # 0..65535
    image = Image.fromarray(gray.astype(np.uint16))
    data = png_bytes(image)
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16") or Image.open(io.BytesIO(data)).mode == "I"
    return data


def cmyk_jpeg(digit: int = 7) -> bytes:
    data = png_bytes(draw_digit(digit, mode="RGB").convert("CMYK"), "JPEG", quality=92)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    return data


def palette_png_with_transparency(digit: int = 7) -> bytes:
    """Black ink on fully transparent background, stored as a palette PNG with tRNS."""
    rgba = draw_digit(digit, ink=(0, 0, 0, 255), background=(255, 255, 255, 0))
    image = rgba.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    alpha = np.asarray(rgba)[..., 3]
    indices = np.asarray(image)
    transparent = {int(i) for i in np.unique(indices[alpha == 0])}
    assert len(transparent) == 1
    data = png_bytes(image, transparency=transparent.pop())
    reopened = Image.open(io.BytesIO(data))
    assert reopened.mode == "P" and "transparency" in reopened.info
    return data


def canvas_png(digit: int = 7, ink=(0, 0, 0, 255)) -> bytes:
    """What canvas.toDataURL() gives: ink strokes on a fully transparent background."""
    return png_bytes(draw_digit(digit, ink=ink, background=(0, 0, 0, 0)))


def exif_rotated_jpeg(digit: int = 7, orientation: int = 6) -> tuple[bytes, bytes]:
    """(JPEG stored sideways with an EXIF Orientation tag that makes it upright, the same without the tag)."""
    upright = draw_digit(digit, mode="RGB")
    # Orientation 6: the viewer turns the stored pixels 90 degrees clockwise, so they are stored
    # turned the other way (and 8 the reverse, 3 upside down).
    turn = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
            8: Image.Transpose.ROTATE_270}[orientation]
    stored = upright.transpose(turn)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return (png_bytes(stored, "JPEG", quality=92, exif=exif.tobytes()),
            png_bytes(stored, "JPEG", quality=92))


def colour_photo(digit: int = 4, size: int = 480, seed: int = 3) -> bytes:
    """Blue ballpoint on cream paper under uneven light, with sensor noise, as a JPEG."""
    rng = np.random.default_rng(seed)
    ink = draw_digit(digit, size=size, width=0.05, ink=(30, 40, 150, 255), background=(0, 0, 0, 0))
    paper = np.empty((size, size, 3), np.float32)
    paper[...] = (236, 226, 200)
    ys, xs = np.mgrid[0:size, 0:size] / size
    light = 0.75 + 0.25 * (1 - (xs - 0.2) ** 2 - (ys - 0.3) ** 2)  # a lamp up left
    photo = paper * light[..., None]
    rgba = np.asarray(ink, np.float32)
    alpha = rgba[..., 3:4] / 255.0
    photo = photo * (1 - alpha) + rgba[..., :3] * light[..., None] * alpha
    photo += rng.normal(0, 6, photo.shape)
    return png_bytes(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)), "JPEG", quality=85)


def good_png(digit: int = 7, size: int = 140) -> bytes:
    return png_bytes(draw_digit(digit, size=size))
