"""Decoding untrusted image bytes, within limits, into a Pillow image.

The header is read before any pixel (by Pillow, or by `pngdecode` for plain PNGs), so the size
limits are checked before decoding: a small file that would inflate to a huge image is refused,
not decoded.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError
from .pngdecode import decode_plain_png, read_plain_png

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "WEBP"})
# Large photos are decoded straight to about this many pixels on the long side
# (JPEG DCT scaling): the digit needs far fewer, and it keeps 12 MP photos cheap.
DECODE_TARGET = 1024
# Formats that cannot decode at a reduced scale (PNG, GIF, BMP, WebP) are box-reduced by an
# integer factor right after decoding when their long side is over twice DECODE_TARGET, before
# any conversion: a 40-megapixel PNG of a few KB then costs one decoded buffer, not several
# full-size copies (RGBA conversion, thumbnail copy) in the preprocessing after it.
_REDUCE_DIRECT = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "F"})
_REDUCE_VIA = {"1": "L", "I;16": "I", "I;16L": "I", "I;16B": "I", "I;16N": "I"}
# Pillow warns from 89 megapixels and refuses from 178; `limits` (40 MP by default) are checked
# right after the header, so its warning adds nothing. Filtered once, here: a per-call
# `warnings.catch_warnings()` changes the process-wide filter list and is not thread-safe (decoding
# runs in several threads at once), and concurrent calls left an "ignore every warning" filter behind.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,")


# A marker in JPEG entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart
# marker (0xD0-0xD7) nor another 0xFF (fill).
_JPEG_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


@dataclass(frozen=True)
class ImageLimits:
    """What a picture may cost before any pixel is decoded.

    JPEG decodes at reduced scale (DCT scaling), so it may be large; PNG, GIF, BMP and WebP
    cannot, and decode every pixel (a 1.6 KB WebP of 16383x2441 was 0.5 GB), so their limit is
    lower. A progressive JPEG's decoder walks every block of the picture once per scan, however
    empty the scan: 9,900 empty scans cost 67 s of CPU, so the scan count is limited too.
    """

    max_pixels: int = 40_000_000
    max_side: int = 20_000
    max_full_decode_pixels: int = 16_000_000
    max_jpeg_scans: int = 48


def decode_base64_image(text: str) -> bytes:
    """Bytes from a data URL or bare base64 string, or a clear InputError."""
    if not isinstance(text, str):
        raise InputError("invalid_image_field", "The image must be a data URL or base64 string.")
    text = text.strip()
    if not text:
        raise InputError("empty_image", "The image field is empty.")
    if text.startswith("data:"):
        match = _DATA_URL.match(text)
        if not match or not match.group("b64"):
            raise InputError("malformed_data_url",
                             "Expected a data URL of the form data:image/png;base64,....")
        mime = match.group("mime") or ""
        if mime and not mime.startswith("image/"):  # the request's own type was fine: 400, not 415
            raise InputError("not_an_image", f"The data URL holds {mime}, not an image.")
        text = text[match.end():]
    try:
        payload = binascii.a2b_base64(text, strict_mode=True)  # what canvases send: no line breaks
    except (binascii.Error, ValueError):
        try:
            payload = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError("malformed_base64", "The image is not valid base64.") from exc
    if not payload:
        raise InputError("empty_image", "The image is empty.")
    return payload


def open_image(data: bytes, limits: ImageLimits = ImageLimits(), black_ink_alpha: bool = False) -> Image.Image:
    """Decode bytes into a loaded, upright Pillow image, refusing bad or oversized input.

    `black_ink_alpha`: a canvas's transparent export may come back as its alpha band alone (see
    `pngdecode.decode_plain_png`); only the preprocessing asks for that.
    """
    if not data:
        raise InputError("empty_image", "The image is empty.")
    plain = read_plain_png(data)  # most canvas exports: header read here, pixels by the faster route
    if plain is not None:
        _check_size("PNG", *plain.size, limits)
        image = decode_plain_png(plain, black_ink_alpha)
        if image is not None:
            return _reduce_large(image)
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise InputError("image_too_large", "The image has too many pixels.", 413) from exc
    except UnidentifiedImageError as exc:
        raise InputError("not_an_image",
                         "This is not an image we can read (PNG, JPEG, GIF, BMP or WebP).") from exc
    except Exception as exc:  # Pillow raises many types for hostile headers
        raise InputError("corrupt_image", "The image header is corrupt.") from exc
    if image.format not in ALLOWED_FORMATS:
        raise InputError("unsupported_image_format",
                         f"{image.format} images are not supported; use PNG, JPEG, GIF, BMP or WebP.")
    width, height = image.size
    _check_size(image.format, width, height, limits)
    if image.format in {"JPEG", "MPO"}:
        scans = jpeg_scan_count(data, limits.max_jpeg_scans)
        if scans > limits.max_jpeg_scans:
            raise InputError("image_too_complex",
                             f"The JPEG has more than {limits.max_jpeg_scans} scans; re-save it as a "
                             "baseline or ordinary progressive JPEG.")
        if max(width, height) > 2 * DECODE_TARGET:
            image.draft(image.mode, (DECODE_TARGET, DECODE_TARGET))
    try:
        image.load()
    except Exception as exc:
        raise InputError("corrupt_image", "The image data is truncated or corrupt.") from exc
    with contextlib.suppress(Exception):  # a broken EXIF block should not cost the picture
        ImageOps.exif_transpose(image, in_place=True)  # no full-size copy when nothing turns
    try:
        return _reduce_large(image)
    except Exception as exc:  # MemoryError and friends on a hostile, barely-legal picture
        raise InputError("corrupt_image", "The image could not be decoded.") from exc


def _check_size(image_format: str, width: int, height: int, limits: ImageLimits) -> None:
    """Refuse a picture whose header promises more pixels than `limits` allow, before any is decoded."""
    if width < 1 or height < 1:
        raise InputError("corrupt_image", "The image has no pixels.")
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise InputError(
            "image_too_large",
            f"The image is {width}x{height}; the limit is {limits.max_pixels:,} pixels "
            f"and {limits.max_side:,} per side.", 413)
    if image_format not in {"JPEG", "MPO"} and width * height > limits.max_full_decode_pixels:
        raise InputError(
            "image_too_large",
            f"The image is {width}x{height}; {image_format} pictures are decoded at full size, so their "
            f"limit is {limits.max_full_decode_pixels:,} pixels (JPEG may be larger).", 413)


def jpeg_scan_count(data: bytes, stop_after: int) -> int:
    """The number of scans (SOS segments) of the first JPEG image in `data`; counting stops past `stop_after`.

    Walks the marker segments by their lengths (so a thumbnail inside an APP segment is not
    counted) and skips each scan's entropy-coded data with a regex, in C: linear in the bytes.
    """
    scans, pos, size = 0, 2, len(data)
    while pos + 4 <= size and scans <= stop_after:
        if data[pos] != 0xFF:  # entropy-coded data after a scan: find the next real marker
            found = _JPEG_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start()
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE or marker == 0x00:
            pos += 2
            continue
        if marker == 0xD9:  # end of image
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            scans += 1
        pos += 2 + max(length, 2)
    return scans


def _reduce_large(image: Image.Image) -> Image.Image:
    """Box-reduce a decoded picture whose long side is over 2 * DECODE_TARGET to just over DECODE_TARGET."""
    factor = max(image.size) // DECODE_TARGET
    if factor < 2:
        return image
    mode = image.mode
    if mode in {"P", "PA"}:  # average colours, never palette indices
        mode = "RGBA" if mode == "PA" or "transparency" in image.info else "RGB"
    mode = _REDUCE_VIA.get(mode, mode)
    if mode not in _REDUCE_DIRECT:
        return image  # an unusual mode: left to the preprocessing as it is
    if mode != image.mode:
        image = image.convert(mode)
    return image.reduce(factor)


def gray_png(pixels: np.ndarray) -> bytes:
    """A 2-D uint8 array as an 8-bit grayscale PNG.

    Written by hand because every answer carries its 28x28 model input as a PNG: Pillow's
    encoder costs about 160 us for it (plugin and chunk machinery), this about 10 us. zlib's level 1:
    on a 28x28 field it writes a fifth more bytes than level 6 in a third of the time (6 us against
    17 with the caches cold, as in the server's worker between batches).
    """
    height, width = pixels.shape
    rows = np.zeros((height, width + 1), np.uint8)  # each row starts with filter type 0 (none)
    rows[:, 1:] = pixels

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + chunk(b"IEND", b""))
