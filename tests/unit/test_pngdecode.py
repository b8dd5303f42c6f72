"""The faster PNG route gives Pillow's pixels exactly, and leaves every other file to Pillow."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from realtime.pipeline.errors import InputError
from realtime.pipeline.imaging import open_image
from realtime.pipeline.pngdecode import WIDE_ROW_BYTES, decode_plain_png, read_plain_png
from tests.support.pictures import draw_digit, palette_png_with_transparency, png_16bit


def _pictures() -> dict[str, Image.Image]:
    digit = draw_digit(4, size=97)  # black ink on opaque white RGBA, an odd width
    wide = draw_digit(7, size=301)  # rows wide enough to be unfiltered here, not by Pillow
    noise = np.random.default_rng(1).integers(0, 256, (61, 283, 4), dtype=np.uint8)  # every filter type pays
    blue = draw_digit(4, size=97, ink=(20, 40, 200, 255))
    translucent = np.array(wide)
    translucent[150, 200, 3] = 254  # grey, but not opaque everywhere
    transparent = np.zeros((140, 301, 4), np.uint8)
    transparent[..., 3] = 255 - np.asarray(wide.convert("L"))[:140]  # a canvas's default: black on transparent
    return {"RGBA": digit, "RGB": blue.convert("RGB"), "L": digit.convert("L"), "LA": digit.convert("LA"),
            "RGB grey": digit.convert("RGB"), "RGB grey wide": wide.convert("RGB"),
            "RGBA translucent": Image.fromarray(translucent, "RGBA"),
            "RGBA transparent": Image.fromarray(transparent, "RGBA"),
            "RGBA wide": wide, "L wide": draw_digit(7, size=601).convert("L"),
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
@pytest.mark.parametrize("level", [1, 6, 9])
def test_plain_pngs_decode_to_pillows_pixels_exactly(name, level):
    picture = _pictures()[name]
    data = _encoded(picture, compress_level=level, dpi=(96, 96))  # a pHYs chunk: information only
    fast = _fast(data)
    expected = Image.open(io.BytesIO(data))
    if _grey_and_opaque(picture):  # red, green and blue equal: its luminance, as Pillow converts it
        expected = expected.convert("L")
    assert fast is not None and fast.mode == expected.mode and fast.size == picture.size
    assert np.array_equal(np.asarray(fast), np.asarray(expected))


def _grey_and_opaque(picture: Image.Image) -> bool:
    pixels = np.asarray(picture)
    return picture.mode in ("RGB", "RGBA") and bool(
        (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
        and (picture.mode == "RGB" or (pixels[..., 3] == 255).all()))


def test_the_grey_and_opaque_pictures_here_are_those_a_canvas_makes():
    kinds = {name: _grey_and_opaque(picture) for name, picture in _pictures().items()}
    assert kinds["RGBA"] and kinds["RGB grey"] and kinds["RGBA wide"]  # black ink on opaque white
    assert not (kinds["RGB"] or kinds["RGBA translucent"] or kinds["RGBA transparent"] or kinds["RGBA noise"])


def _fast(data: bytes) -> Image.Image | None:
    plain = read_plain_png(data)
    return None if plain is None else decode_plain_png(plain)


def _chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _rebuilt(data: bytes, before_pixels: bytes = b"", split_pixels: bytes | None = None) -> bytes:
    """A PNG with extra chunks before its IDAT, or its IDAT in two runs around `split_pixels`."""
    start = data.index(b"IDAT") - 4
    end = start + 12 + int.from_bytes(data[start:start + 4], "big")
    idat = data[start:end]
    if split_pixels is not None:
        body = idat[8:-4]
        idat = _chunk(b"IDAT", body[:10]) + split_pixels + _chunk(b"IDAT", body[10:])
    return data[:start] + before_pixels + idat + data[end:]


_DIGIT = _encoded(draw_digit(4, size=64))


@pytest.mark.parametrize("data", [
    palette_png_with_transparency(),
    png_16bit(),
    _encoded(draw_digit(4, size=64).convert("RGB"), transparency=(255, 255, 255)),
    _encoded(draw_digit(4, size=64), exif=_turned()),
    _rebuilt(_DIGIT, _chunk(b"tEXt", b"Raw profile type exif\x00...")),
    _rebuilt(_DIGIT, _chunk(b"vpAg", b"\x00" * 9)),
    _rebuilt(_DIGIT, split_pixels=_chunk(b"gAMA", b"\x00\x00\xb1\x8f")),
    _DIGIT[:-12],
], ids=["palette", "16-bit", "colour key", "exif", "text", "unknown chunk", "pixels in two runs", "no IEND"])
def test_other_pngs_are_left_to_pillow(data):
    """(Interlaced files too: Pillow cannot write one; `read_plain_png` checks the header's flag.)"""
    assert read_plain_png(data) is None


def test_a_damaged_chunk_before_the_pixels_is_left_to_pillow_which_refuses_the_file():
    from realtime.pipeline.errors import InputError

    data = _rebuilt(_DIGIT, _chunk(b"gAMA", b"\x00\x00\xb1\x8f", crc=12345))
    assert read_plain_png(data) is None
    with pytest.raises(InputError) as error:
        open_image(data)
    assert (error.value.status, error.value.code) == (400, "not_an_image")  # Pillow's verdict on a bad checksum


def test_a_jpeg_is_left_to_pillow():
    buffer = io.BytesIO()
    draw_digit(4, size=64).convert("RGB").save(buffer, "JPEG")
    data = buffer.getvalue()
    assert read_plain_png(data) is None


def test_a_truncated_stream_is_left_to_pillow_which_says_it_is_corrupt():
    from realtime.pipeline.errors import InputError

    data = _encoded(_pictures()["RGBA noise"], compress_level=6)
    idat = data.index(b"IDAT")
    cut = data[:idat + 4 + 2000]  # the stream ends early and the chunk is shorter than its length says
    assert _fast(cut) is None
    with pytest.raises(InputError) as error:
        open_image(cut)
    assert error.value.code == "corrupt_image"


def test_a_stream_inflating_past_the_picture_is_cut_at_the_picture_size():
    """The expected size bounds what is inflated: a longer stream cannot cost more memory."""
    picture = Image.new("L", (50, 40), 255)
    data = bytearray(_encoded(picture, compress_level=6))
    rows = b"".join(b"\x00" + b"\xff" * 50 for _ in range(40)) + b"\x00" * 1_000_000
    body = zlib.compress(rows, 6)
    start = data.index(b"IDAT") - 4
    end = start + 12 + int.from_bytes(data[start:start + 4], "big")
    chunk = struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(">I", zlib.crc32(b"IDAT" + body))
    data = bytes(data[:start]) + chunk + bytes(data[end:])
    fast = _fast(data)
    assert fast is not None and np.all(np.asarray(fast) == 255)


def test_a_picture_over_the_size_of_the_route_is_left_to_pillow():
    from realtime.pipeline.pngdecode import MAX_PIXELS

    picture = Image.new("L", (2049, MAX_PIXELS // 2049 + 1), 255)
    data = _encoded(picture, compress_level=6)
    assert read_plain_png(data) is not None and _fast(data) is None


def _png_of_filtered_rows(mode: str, rows: np.ndarray) -> bytes:
    """A PNG whose pixel stream is `rows` as given: each row's filter byte, then its filtered bytes."""
    colour = {"L": 0, "LA": 4, "RGB": 2, "RGBA": 6}[mode]
    width = (rows.shape[1] - 1) // len(mode)
    header = struct.pack(">IIBBBBB", width, len(rows), 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + _chunk(b"IEND", b""))


def _filter_sequence(name: str, rng: np.random.Generator) -> np.ndarray:
    if name == "each alone":
        return np.array([0] * 8 + [1] * 8 + [2] * 8 + [3] * 8 + [4] * 8 + [2] * 40)
    if name == "runs":
        return np.array([2] * 12 + [4] * 5 + [1] * 9 + [3] * 6 + [0] * 8 + [2] * 20)
    kinds = []  # "mixed": runs of 1-4 rows, a fifth of them "Average" or "Paeth"
    while len(kinds) < 80:
        kinds += [int(rng.choice([0, 1, 2, 2, 1, 0, 2, 2, 3, 4]))] * int(rng.integers(1, 5))
    return np.array(kinds[:80])


@pytest.mark.parametrize("mode", ["L", "RGBA"])  # the modes `_unfiltered` takes
@pytest.mark.parametrize("filters", ["each alone", "runs", "mixed"])
def test_every_row_filter_alone_in_runs_or_mixed_is_undone_as_pillow_does(mode, filters, monkeypatch):
    from realtime.pipeline import pngdecode

    rng = np.random.default_rng(len(mode))
    kinds = _filter_sequence(filters, rng)
    width = 700 // len(mode)  # rows wide enough for `_unfiltered`
    rows = rng.integers(0, 256, (len(kinds), width * len(mode) + 1), dtype=np.uint8)
    rows[:, 0] = kinds
    rows[:10, 1:] //= 16  # small steps, as drawn pictures have
    assert rows.shape[1] - 1 >= WIDE_ROW_BYTES
    data = _png_of_filtered_rows(mode, rows)
    taken, unfiltered = [], pngdecode._unfiltered
    monkeypatch.setattr(pngdecode, "_unfiltered", lambda *args: taken.append(1) or unfiltered(*args))
    fast = _fast(data)
    assert taken and fast is not None and fast.mode == mode
    assert np.array_equal(np.asarray(fast), np.asarray(Image.open(io.BytesIO(data))))


def _filtered(pixels: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """PNG's row filters applied to (height, width, channels) pixels: each row's filter byte, then its bytes."""
    raw = pixels.reshape(len(pixels), -1).astype(np.int32)
    bpp = pixels.shape[2]
    rows = np.zeros((len(raw), raw.shape[1] + 1), np.uint8)
    for y, kind in enumerate(kinds):
        up = raw[y - 1] if y else np.zeros_like(raw[0])
        left = np.concatenate((np.zeros(bpp, np.int32), raw[y, :-bpp]))
        upleft = np.concatenate((np.zeros(bpp, np.int32), up[:-bpp]))
        estimate = np.abs(up - upleft), np.abs(left - upleft), np.abs(left + up - 2 * upleft)
        paeth = np.where((estimate[0] <= estimate[1]) & (estimate[0] <= estimate[2]), left,
                         np.where(estimate[1] <= estimate[2], up, upleft))
        predicted = [0, left, up, (left + up) // 2, paeth][kind]
        rows[y] = [kind, *((raw[y] - predicted) % 256)]
    return rows


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("wide", [False, True])  # grey rows Pillow unfilters, and rows `_unfiltered` does
@pytest.mark.parametrize("filters", ["each alone", "runs", "mixed"])
def test_a_grey_opaque_picture_under_every_row_filter_comes_back_as_its_luminance(filters, wide, mode):
    rng = np.random.default_rng(7)
    kinds = _filter_sequence(filters, rng)
    grey = rng.integers(0, 256, (len(kinds), 700 if wide else 90, 1), dtype=np.uint8)
    grey[:10] //= 16  # small steps, as drawn pictures have
    pixels = np.concatenate([grey] * 3 + ([np.full_like(grey, 255)] if mode == "RGBA" else []), axis=2)
    data = _png_of_filtered_rows(mode, _filtered(pixels, kinds))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)  # the filters above are PNG's
    fast = _fast(data)
    assert fast is not None and fast.mode == "L" and np.array_equal(np.asarray(fast), grey[..., 0])
    pixels[-1, -1, -1] = 254  # one pixel's blue (RGB) or alpha (RGBA) off: the picture as it is
    data = _png_of_filtered_rows(mode, _filtered(pixels, kinds))
    fast = _fast(data)
    assert fast is not None and fast.mode == mode and np.array_equal(np.asarray(fast), pixels)


def test_an_rgb_picture_grey_but_for_one_pixel_keeps_its_colour():
    picture = np.full((40, 300, 3), 200, np.uint8)
    picture[20, 150] = (200, 200, 201)  # a blue that differs by one level
    fast = _fast(_encoded(Image.fromarray(picture, "RGB")))
    assert fast is not None and fast.mode == "RGB" and np.array_equal(np.asarray(fast), picture)


@pytest.mark.parametrize("width", [3, 200])  # rows Pillow unfilters, and rows `_unfiltered` would
def test_an_unknown_row_filter_is_left_to_pillow(width):
    rows = np.zeros((4, width * 4 + 1), np.uint8)
    rows[2, 0] = 5
    data = _png_of_filtered_rows("RGBA", rows)
    assert _fast(data) is None
    with pytest.raises(InputError) as refused:
        open_image(data)
    assert refused.value.code == "corrupt_image"


@pytest.mark.parametrize("kinds", [[3, 4] * 100, [3, 1, 4, 2] * 50, [4] * 200, [1, 2] * 100])
def test_rows_alternating_filters_or_mostly_paeth_are_left_to_pillows_unfilter(kinds, monkeypatch):
    """A crafted file changing filter on every row made the run-by-run route five times slower than Pillow."""
    from realtime.pipeline import pngdecode

    rows = np.random.default_rng(5).integers(0, 256, (len(kinds), 128 * 4 + 1), dtype=np.uint8)
    rows[:, 0] = kinds
    data = _png_of_filtered_rows("RGBA", rows)
    monkeypatch.setattr(pngdecode, "_unfiltered", lambda *args: pytest.fail("taken the run-by-run route"))
    fast = _fast(data)
    assert fast is not None
    assert np.array_equal(np.asarray(fast), np.asarray(Image.open(io.BytesIO(data))))


def test_black_ink_on_transparent_comes_back_as_its_alpha_band_only_when_asked():
    from realtime.pipeline.pngdecode import BLACK_INK_ALPHA

    pictures = _pictures()
    black = _encoded(pictures["RGBA transparent"])  # black wherever it is not transparent
    coloured = np.array(pictures["RGBA transparent"])
    coloured[..., 2] = 90  # the same strokes in blue
    for data in (black, _encoded(Image.fromarray(coloured, "RGBA"))):
        plain, pillows = read_plain_png(data), np.asarray(Image.open(io.BytesIO(data)))
        assert np.array_equal(np.asarray(decode_plain_png(plain)), pillows)  # not asked: the picture itself
        asked = decode_plain_png(plain, black_ink_alpha=True)
        if data is black:
            assert asked.mode == "L" and asked.info[BLACK_INK_ALPHA] is True
            assert np.array_equal(np.asarray(asked), pillows[..., 3])
        else:
            assert asked.mode == "RGBA" and BLACK_INK_ALPHA not in asked.info
            assert np.array_equal(np.asarray(asked), pillows)


@pytest.mark.parametrize("filters", ["each alone", "runs"])  # "mixed" changes type too often for the route
def test_black_ink_alpha_under_every_row_filter_is_its_alpha_band(filters):
    from realtime.pipeline.pngdecode import BLACK_INK_ALPHA

    rng = np.random.default_rng(11)
    kinds = _filter_sequence(filters, rng)
    pixels = np.zeros((len(kinds), 300, 4), np.uint8)  # rows wide enough for `_unfiltered`
    pixels[..., 3] = rng.integers(0, 256, (len(kinds), 300))
    pixels[:10, :, 3] //= 16
    plain = read_plain_png(_png_of_filtered_rows("RGBA", _filtered(pixels, kinds)))
    asked = decode_plain_png(plain, black_ink_alpha=True)
    assert asked.mode == "L" and asked.info[BLACK_INK_ALPHA] is True
    assert np.array_equal(np.asarray(asked), pixels[..., 3])
    assert np.array_equal(np.asarray(decode_plain_png(plain)), pixels)
