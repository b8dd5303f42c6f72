"""The faster PNG route gives Pillow's pixels exactly, and leaves every other file to Pillow."""

import io

import numpy as np
import pytest
from PIL import Image

from realtime.pipeline.imaging import open_image
from realtime.pipeline.pngdecode import decode_png
from tests.support.pictures import draw_digit, palette_png_with_transparency, png_16bit


def _pictures() -> dict[str, Image.Image]:
    digit = draw_digit(4, size=97)  # black ink on opaque white RGBA, an odd width
    noise = np.random.default_rng(1).integers(0, 256, (61, 83, 4), dtype=np.uint8)  # every filter type pays
    return {"RGBA": digit, "RGB": digit.convert("RGB"), "L": digit.convert("L"), "LA": digit.convert("LA"),
            "RGBA noise": Image.fromarray(noise, "RGBA"), "L noise": Image.fromarray(noise[..., 0], "L")}


def _turned() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn the picture
    return exif


def _encoded(picture: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("name", list(_pictures()))
@pytest.mark.parametrize("level", [6, 9])
def test_plain_pngs_decode_to_pillows_pixels_exactly(name, level):
    picture = _pictures()[name]
    data = _encoded(picture, compress_level=level)
    fast = decode_png(data, Image.open(io.BytesIO(data)))
    assert fast is not None and fast.mode == picture.mode and fast.size == picture.size
    assert np.array_equal(np.asarray(fast), np.asarray(Image.open(io.BytesIO(data))))


@pytest.mark.parametrize("data", [
    _encoded(draw_digit(4, size=64), compress_level=1),  # a fast level: Pillow is as quick
    palette_png_with_transparency(),
    png_16bit(),
    _encoded(draw_digit(4, size=64).convert("RGB"), transparency=(255, 255, 255)),
    _encoded(draw_digit(4, size=64), exif=_turned()),
], ids=["level 1", "palette", "16-bit", "colour key", "exif"])
def test_other_pngs_are_left_to_pillow(data):
    """(Interlaced files too: Pillow cannot write one; `decode_png` checks the header's flag.)"""
    assert decode_png(data, Image.open(io.BytesIO(data))) is None


def test_a_jpeg_is_left_to_pillow():
    buffer = io.BytesIO()
    draw_digit(4, size=64).convert("RGB").save(buffer, "JPEG")
    data = buffer.getvalue()
    assert decode_png(data, Image.open(io.BytesIO(data))) is None


def test_a_truncated_stream_is_left_to_pillow_which_says_it_is_corrupt():
    from realtime.pipeline.errors import InputError

    data = _encoded(_pictures()["RGBA noise"], compress_level=6)
    idat = data.index(b"IDAT")
    cut = data[:idat + 4 + 2000]  # the stream ends early and the chunk is shorter than its length says
    assert decode_png(cut, Image.open(io.BytesIO(cut))) is None
    with pytest.raises(InputError) as error:
        open_image(cut)
    assert error.value.code == "corrupt_image"


def test_a_stream_inflating_past_the_picture_is_cut_at_the_picture_size():
    """The expected size bounds what is inflated: a longer stream cannot cost more memory."""
    picture = Image.new("L", (50, 40), 255)
    data = bytearray(_encoded(picture, compress_level=6))
    import struct
    import zlib

    rows = b"".join(b"\x00" + b"\xff" * 50 for _ in range(40)) + b"\x00" * 1_000_000
    body = zlib.compress(rows, 6)
    start = data.index(b"IDAT") - 4
    end = start + 12 + int.from_bytes(data[start:start + 4], "big")
    chunk = struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(">I", zlib.crc32(b"IDAT" + body))
    data = bytes(data[:start]) + chunk + bytes(data[end:])
    fast = decode_png(data, Image.open(io.BytesIO(data)))
    assert fast is not None and np.all(np.asarray(fast) == 255)


def test_a_picture_over_the_size_of_the_route_is_left_to_pillow():
    from realtime.pipeline.pngdecode import MAX_PIXELS

    picture = Image.new("L", (2049, MAX_PIXELS // 2049 + 1), 255)
    data = _encoded(picture, compress_level=6)
    assert decode_png(data, Image.open(io.BytesIO(data))) is None
