"""A faster route through the PNG files canvases export: our own chunk walk, zlib-ng, NumPy's running sums.

Pillow inflates a PNG row by row with the system zlib, and for the streams that encoders write at
their default level (zlib's level 6: what Pillow, libpng and most canvas exports use) that is most
of the cost of a whole-canvas frame: 0.6 ms of a 280x280 RGBA export, 8.6 ms of a 1000x1000 one.
zlib-ng inflates the whole stream at once several times faster. Undoing the PNG row filters was then
most of what was left (2.2 ms of 2.6 for the 1000x1000 export, in Pillow's decoder fed a stored stream):
for wide rows it is done here, a run of rows at a time (`_unfiltered`); narrow rows, and the rows whose
filters need the pixel to the left as it is made, still go through Pillow's own "zip" decoder. Either way
the pixels are exactly Pillow's (tested on every filter, alone, in runs and mixed).
The header is read here too, from the chunks this route walks anyway: `Image.open` (plugin
machinery) and the EXIF check were a fifth of decoding a page's small crop (66 us → 54 us without).

Only plain files take this route: 8 bits per sample, grey, grey+alpha, RGB or RGBA, not interlaced,
every chunk before the pixels intact (as Pillow checks them), one run of IDAT chunks, and no chunk
that could change the pixels or their orientation (palette, colour key, EXIF or text, animation,
anything unknown). Everything else, and any file this route cannot read to the end, goes through
Pillow, which says what is wrong.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image
from zlib_ng import zlib_ng

_COLOUR_TYPES = {0: "L", 4: "LA", 2: "RGB", 6: "RGBA"}
_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
# Chunks Pillow reads into `info` only: colour space, gamma, density, time, bit depths, background.
_INFO_ONLY = frozenset({b"sRGB", b"gAMA", b"cHRM", b"iCCP", b"pHYs", b"tIME", b"sBIT", b"bKGD"})
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The route holds the inflated rows up to four times at once (the rows, then the unfiltered pixels and a
# running sum's temporaries, or the stored stream and the picture), Pillow's own decoder once: bigger
# pictures, rare from a canvas, keep Pillow's one buffer.
MAX_PIXELS = 2048 * 2048
# Pillow undoes the row filters at a cost per byte, `_unfiltered` at a cost per run of rows and per
# NumPy call: from rows this wide (a 280-pixel RGBA canvas, not its grey export or the page's crop)
# ours is the cheaper, in the modes whose rows Pillow then uses as they are (RGB and LA are unpacked
# to four bytes a pixel, a copy that costs what the route saves).
WIDE_ROW_BYTES = 512
MAX_RUNS = 32  # or one run in eight rows: more runs of filter types than that, and Pillow is the cheaper
_IN_PLACE = frozenset({"L", "RGBA"})


class _BlackInkAlpha:
    """The `info` key of an L picture that is the alpha band of black ink on transparent: not a string,
    so that no file's text chunk can set it."""

    def __repr__(self) -> str:
        return "BLACK_INK_ALPHA"


BLACK_INK_ALPHA = _BlackInkAlpha()


@dataclass(frozen=True)
class PlainPng:
    """A plain PNG's header and its compressed pixels (the IDAT chunks joined)."""

    mode: str
    size: tuple[int, int]
    stream: bytes


def read_plain_png(data: bytes) -> PlainPng | None:
    """The header and pixel stream of a plain PNG (see the module docstring), or None: use Pillow."""
    if not data.startswith(_SIGNATURE):
        return None
    view, pos, parts, header, ended = memoryview(data), len(_SIGNATURE), [], None, False
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = view[pos + 8:pos + 8 + length]
        if len(body) != length:
            return None
        if kind == b"IDAT":
            if header is None or ended:  # pixels before the header, or in two runs
                return None
            parts.append(body)
        elif kind == b"IEND":
            return PlainPng(*header, b"".join(parts)) if parts else None
        elif kind not in _INFO_ONLY:
            if kind != b"IHDR" or header is not None or length != 13:
                return None
            width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
            mode = _COLOUR_TYPES.get(colour)
            if mode is None or depth != 8 or compression or filtering or interlace or not width or not height:
                return None
            header = mode, (width, height)
        ended = ended or (bool(parts) and kind != b"IDAT")
        if not parts:  # Pillow checks every chunk before the pixels (none after them)
            crc = int.from_bytes(data[pos + 8 + length:pos + 12 + length], "big")
            if (header is None and kind != b"IHDR") or zlib_ng.crc32(body, zlib_ng.crc32(kind)) != crc:
                return None
        pos += 12 + length
    return None  # no IEND: truncated


def decode_plain_png(png: PlainPng, black_ink_alpha: bool = False) -> Image.Image | None:
    """The picture, exactly as Pillow decodes it, or None (too large for this route, or not readable to the end).

    A grey picture in RGB, or grey and opaque in RGBA (a black-on-white canvas's export, the page's own
    crops), comes back as L, its luminance: Pillow's conversion gives each grey pixel its own level, so it
    is the picture the pipeline makes of it anyway, decoded from a third or a quarter of the bytes.
    With `black_ink_alpha`, an RGBA picture unfiltered here whose colour is black wherever it is not
    transparent (a canvas's defaults) comes back as its alpha band alone, an L picture marked in its
    `info` with the key `BLACK_INK_ALPHA`: all the pipeline needs of it, and a quarter of the pixels.
    """
    width, height = png.size
    if width * height > MAX_PIXELS:
        return None
    channels = _CHANNELS[png.mode]
    expected = height * (width * channels + 1)  # one filter byte a row
    try:
        rows = zlib_ng.decompressobj().decompress(png.stream, expected)
        if len(rows) != expected:
            return None
        filtered = np.frombuffer(rows, np.uint8).reshape(height, -1)
        grey = _grey_rows(filtered, png.mode)
        if grey is not None:
            return _pixels(grey, "L", png.size)
        return _pixels(filtered, png.mode, png.size, rows, black_ink_alpha)
    except (zlib_ng.error, ValueError, OSError):
        return None


def _pixels(filtered: np.ndarray, mode: str, size: tuple[int, int], stream: bytes | None = None,
            black_ink_alpha: bool = False) -> Image.Image:
    """The picture of filtered rows (`stream`: the same rows as bytes, when at hand), unfiltered here or by
    Pillow's own decoder, which refuses an unknown filter type (a ValueError)."""
    if mode in _IN_PLACE and filtered.shape[1] - 1 >= WIDE_ROW_BYTES and _few_runs(filtered[:, 0]):
        kinds, pixels = filtered[:, 0], filtered[:, 1:].copy()
        if black_ink_alpha and mode == "RGBA":
            words = pixels.view("<u4")  # one pixel a word: red in the low byte, alpha in the high one
            # The filters work on each channel alike: the colour bytes are 0 exactly when the pixels' are,
            # and the alpha bytes with the rows' filter types are then a grey PNG's rows, a quarter of the work.
            if not int(np.bitwise_or.reduce(words, axis=None)) & 0x00FFFFFF:
                alpha = Image.frombuffer("L", size, _unfiltered(kinds, (words >> 24).astype(np.uint8), "L"),
                                         "raw", "L", 0, 1)
                alpha.info[BLACK_INK_ALPHA] = True
                return alpha
        return Image.frombuffer(mode, size, _unfiltered(kinds, pixels, mode), "raw", mode, 0, 1)
    return Image.frombytes(mode, size, _stored(filtered.tobytes() if stream is None else stream), "zip", mode)


def _grey_rows(filtered: np.ndarray, mode: str) -> np.ndarray | None:
    """The rows of an L picture of the same pixels, for RGB rows (filter byte first) whose red, green and
    blue are equal in every pixel, and RGBA rows that are also opaque everywhere; None for any other.

    Judged on the filtered bytes: every PNG filter works on each channel alike, from the same channel of
    the pixels to the left and above, so the pixels are grey exactly when their filtered bytes are, and
    one channel's filtered bytes with the rows' filter bytes are a grey PNG's rows. Likewise an alpha of
    255 everywhere has one filtered value for each filter type, row (the top one or not) and pixel (the
    first or not): `_OPAQUE`. The top row is looked at first: a transparent canvas stops there.
    """
    if mode not in ("RGB", "RGBA"):
        return None
    kinds = filtered[:, 0]
    if mode == "RGBA" and (int(kinds.max()) > 4 or not _opaque(filtered[:1], kinds[:1], top=True)):
        return None
    channels = _CHANNELS[mode]
    same = filtered[:, 1:-1] == filtered[:, 2:]  # each byte and the next: red-green, green-blue, then others
    same |= np.arange(same.shape[1]) % channels >= 2  # only red-green and green-blue must be equal
    if not same.all() or (mode == "RGBA" and not _opaque(filtered[1:], kinds[1:], top=False)):
        return None
    return _channel(filtered, 2, channels)


# An alpha of 255 everywhere, filtered: by [top row or not][filter type][first pixel or not]. None and Sub
# keep the first pixel's 255; Up keeps the top row's; Average halves what is above or to the left.
_OPAQUE = np.array([[[255, 255], [255, 0], [255, 255], [255, 128], [255, 0]],
                    [[255, 255], [255, 0], [0, 0], [128, 0], [0, 0]]], np.uint8)


def _opaque(filtered: np.ndarray, kinds: np.ndarray, top: bool) -> bool:
    """Whether RGBA rows' filtered alpha bytes are those of alpha 255 everywhere (`kinds` known types)."""
    alpha = filtered[:, 4::4]
    expected = _OPAQUE[0 if top else 1][kinds]
    return bool((alpha[:, 0] == expected[:, 0]).all() and (alpha[:, 1:] == expected[:, 1:]).all())


def _channel(filtered: np.ndarray, index: int, channels: int) -> np.ndarray:
    """One channel's filtered bytes, each row's filter byte first."""
    rows = np.empty((filtered.shape[0], (filtered.shape[1] - 1) // channels + 1), np.uint8)
    rows[:, 0] = filtered[:, 0]
    rows[:, 1:] = filtered[:, 1 + index::channels]
    return rows


def _few_runs(kinds: np.ndarray) -> bool:
    """Whether `_unfiltered` can take rows of these filter types: known types, in few runs.

    Its cost grows with the runs (NumPy calls for each, a Pillow call for each "Average" or "Paeth"
    run): encoders write long runs, but a crafted file alternating types on every row made it five
    times slower than Pillow's decoder. Rows mostly "Average" or "Paeth" gain nothing from it either.
    """
    changes = np.count_nonzero(kinds[1:] != kinds[:-1])
    handed_on = np.count_nonzero(kinds >= 3)  # "Average" and "Paeth" rows go to Pillow anyway
    return int(kinds.max()) <= 4 and changes <= max(MAX_RUNS, len(kinds) // 8) and handed_on <= len(kinds) // 4


def _unfiltered(kinds: np.ndarray, pixels: np.ndarray, mode: str) -> np.ndarray:
    """The pixel rows of a PNG's filtered rows, undone in place: `kinds` the rows' filter types (known
    types only, see `_few_runs`), `pixels` their filtered bytes (a copy this may change).

    "None" rows are the pixels. "Sub" rows depend on their own row only: all of them at once are a
    running sum along the row, channel by channel. "Up" is a running sum down each run of such rows,
    a block of rows at a time (uint8 sums wrap as PNG's do). "Average" and "Paeth" need the pixel to the
    left as it is being made: their runs go to Pillow after a copy of the row above them. Chromium's
    canvas exports are "Up" throughout; Pillow mixes "None", "Sub" and "Up" in long runs.
    """
    sub = np.flatnonzero(kinds == 1)
    if sub.size:  # a running sum along each row, channel by channel
        along = pixels[sub].reshape(sub.size, -1, _CHANNELS[mode])
        pixels[sub] = np.cumsum(along, axis=1, dtype=np.uint8).reshape(sub.size, -1)
    starts = [0, *(np.flatnonzero(kinds[1:] != kinds[:-1]) + 1).tolist(), len(kinds)]
    for start, end in itertools.pairwise(starts):
        kind, run = kinds[start], pixels[start:end]
        if kind == 2:  # Up
            if start:
                run[0] += pixels[start - 1]
            _running_sum(run)
        elif kind in (3, 4):  # Average, Paeth: the run's bytes are still as filtered
            rows = np.concatenate((kinds[start:end, None], run), axis=1)
            run[:] = _pillow_unfiltered(rows, pixels[start - 1] if start else None, mode)
    return pixels


def _running_sum(rows: np.ndarray) -> None:
    """Each row becomes the (wrapping) sum of itself and every row above it, in place.

    One NumPy call a row would cost more in calls than in adding, so the rows are cut into about
    sqrt(n) blocks: first every block's running sum at once, a row offset at a time, then each block
    gets the last row of the block above it. About 3 sqrt(n) calls in all.
    """
    count = len(rows)
    depth = max(1, math.isqrt(count))
    blocks = rows[:count // depth * depth].reshape(count // depth, depth, -1)
    total = blocks[:, 0].copy()  # a separate array: NumPy copies operands that overlap their output
    for offset in range(1, depth):
        total += blocks[:, offset]
        blocks[:, offset] = total
    for block in range(1, len(blocks)):
        blocks[block] += blocks[block - 1, -1].copy()
    for row in range(count // depth * depth, count):
        rows[row] += rows[row - 1]


def _pillow_unfiltered(filtered: np.ndarray, above: np.ndarray | None, mode: str) -> np.ndarray:
    """Rows unfiltered by Pillow's decoder, `above` (already unfiltered) given as the row before them."""
    if above is not None:  # as a "None" row (filter byte 0), so that Pillow takes it as it is
        filtered = np.vstack((np.insert(above, 0, 0), filtered))
    width = (filtered.shape[1] - 1) // _CHANNELS[mode]
    picture = Image.frombytes(mode, (width, len(filtered)), _stored(filtered.tobytes()), "zip", mode)
    return np.asarray(picture).reshape(len(filtered), -1)[0 if above is None else 1:]


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
