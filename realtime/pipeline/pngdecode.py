"""A faster route through the PNG files canvases export: inflate with zlib-ng, unfilter with Pillow.

Pillow inflates a PNG row by row with the system zlib, and for the streams that encoders write at
their default level (zlib's level 6: what Pillow, libpng and most canvas exports use) that is most
of the cost of a whole-canvas frame: 0.6 ms of a 280x280 RGBA export, 8.6 ms of a 1000x1000 one.
zlib-ng inflates the whole stream at once several times faster; Pillow's own "zip" decoder then
undoes the PNG row filters from a stored (uncompressed) stream, so the pixels are exactly Pillow's.

Only plain files take this route: 8 bits per sample, grey, grey+alpha, RGB or RGBA, not interlaced,
no palette, transparency key or EXIF block, at most 2048x2048, and a stream written at level 6 or
above (zlib's header says so: faster levels already decode fast in Pillow). Everything else, and any file this route
cannot read to the end, goes through Pillow's own decoder, which says what is wrong.
"""

from __future__ import annotations

import struct

from PIL import Image
from zlib_ng import zlib_ng

_MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_COLOUR_TYPES = {0: "L", 4: "LA", 2: "RGB", 6: "RGBA"}
_REFUSED_CHUNKS = frozenset({b"PLTE", b"tRNS", b"eXIf", b"fdAT"})  # palette, colour key, EXIF, animation
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The route holds the inflated rows twice more than Pillow (rows, stored stream, picture): bigger
# pictures, rare from a canvas, keep Pillow's one buffer.
MAX_PIXELS = 2048 * 2048


def decode_png(data: bytes, image: Image.Image) -> Image.Image | None:
    """`image` (opened by Pillow from `data`, header checked, not loaded) decoded, or None: use Pillow."""
    if image.format != "PNG" or image.mode not in _MODES or image.info.get("interlace") or "exif" in image.info \
            or image.width * image.height > MAX_PIXELS:
        return None
    stream = _idat_stream(data, image)
    if stream is None or len(stream) < 2 or stream[1] >> 6 < 2:  # FLEVEL: 0 fastest, 1 fast, 2 default, 3 best
        return None
    width, height = image.size
    expected = height * (width * _MODES[image.mode] + 1)  # one filter byte a row
    try:
        inflater = zlib_ng.decompressobj()
        rows = inflater.decompress(stream, expected)
        if len(rows) != expected:
            return None
        return Image.frombytes(image.mode, image.size, _stored(rows), "zip", image.mode)
    except (zlib_ng.error, ValueError, OSError):
        return None


def _stored(data: bytes) -> bytes:
    """`data` as a zlib stream of stored (uncompressed) blocks: a copy and a checksum.

    Written here because zlib's own level 0 sets up a whole compressor for it: 0.6 ms for 300 KB.
    """
    view, parts = memoryview(data), [b"\x78\x01"]
    for start in range(0, max(len(data), 1), 0xFFFF):
        block = view[start:start + 0xFFFF]
        last = start + 0xFFFF >= len(data)
        parts += [struct.pack("<BHH", last, len(block), len(block) ^ 0xFFFF), block]
    parts.append(struct.pack(">I", zlib_ng.adler32(data)))
    return b"".join(parts)


def _idat_stream(data: bytes, image: Image.Image) -> bytes | None:
    """The joined IDAT chunks, or None when the file is not the plain kind (see the module docstring)."""
    if not data.startswith(_SIGNATURE):
        return None
    view, pos, parts = memoryview(data), len(_SIGNATURE), []
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = view[pos + 8:pos + 8 + length]
        if len(body) != length:
            return None
        if kind == b"IHDR":
            if length != 13 or body[8] != 8 or body[12] != 0 or _COLOUR_TYPES.get(body[9]) != image.mode:
                return None
        elif kind == b"IDAT":
            parts.append(body)
        elif kind in _REFUSED_CHUNKS:
            return None
        elif kind == b"IEND":
            break
        pos += 12 + length
    return b"".join(parts) if parts else None
