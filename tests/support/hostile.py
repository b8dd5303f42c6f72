"""Crafted pictures that cost a decoder far more than their size, built here byte by byte.

Each one reproduces a measurement of issue #11 on the code before the fix:
- `jpeg_scan_bomb`: a progressive JPEG of many empty scans (libjpeg walks every block of the
  picture once per scan: 6324x6324 with 9,900 scans, 99 KB, was 67 s of CPU);
- `serpentine_png`: a 1-pixel path winding over a grainy (checkered) background from the frame
  inwards (the border-clutter flood took one whole-array pass per pixel of it: 6-7 s);
- `webp_wide`: a lossless WebP of one colour, a few KB for 40 megapixels decoded at full size.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


def jpeg_scan_bomb(width: int = 6324, height: int = 6324, scans: int = 9_900) -> bytes:
    """A greyscale progressive JPEG (SOF2) whose scans hold no data at all: 10 bytes a scan.

    The first scan is the DC scan, every other one an AC scan of the whole band (1..63). With
    no entropy-coded bytes the decoder reads zeros, but still visits every block per scan.
    """
    dqt = _segment(0xDB, b"\x00" + b"\x01" * 64)  # table 0, 8-bit, all ones
    sof2 = _segment(0xC2, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    # One Huffman code of length 1 (symbol 0) for DC table 0 and AC table 0.
    huffman = b"\x01" + b"\x00" * 15 + b"\x00"
    dht = _segment(0xC4, b"\x00" + huffman + b"\x10" + huffman)
    dc_scan = _segment(0xDA, b"\x01\x01\x00\x00\x00\x00")
    ac_scan = _segment(0xDA, b"\x01\x01\x00\x01\x3f\x00")
    return b"\xff\xd8" + dqt + sof2 + dht + dc_scan + ac_scan * (scans - 1) + b"\xff\xd9"


def serpentine_mask(side: int = 319) -> np.ndarray:
    """True on a 1-pixel path that starts on the top edge and winds down every other row.

    On the odd rows: the pipeline samples even rows and columns to find the background level,
    and must see the background there, not the path.
    """
    path = np.zeros((side, side), bool)
    rows = range(1, side - 1, 2)
    for turn, row in enumerate(rows):
        path[row, 1:side - 1] = True
        if row + 2 < side - 1:  # the turn down to the next row, at alternating ends
            column = side - 2 if turn % 2 == 0 else 1
            path[row:row + 3, column] = True
    path[0, 1] = True  # touches the frame
    return path


def serpentine_png(side: int = 319) -> bytes:
    """The serpentine in dark ink on a checkered light-grey background (grain: read as a photo)."""
    ys, xs = np.indices((side, side))
    gray = np.where((ys + xs) % 2 == 0, 205, 225).astype(np.uint8)
    gray[serpentine_mask(side)] = 20
    buffer = io.BytesIO()
    Image.fromarray(gray, "L").save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def webp_wide(width: int = 16_383, height: int = 2_441) -> bytes:
    """A lossless WebP of one colour: a few KB, `width` x `height` RGB pixels when decoded."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 250)).save(buffer, "WEBP", lossless=True, quality=0, method=0)
    return buffer.getvalue()
