"""Property-based fuzzing of the untrusted-input path: bytes, mutated images, base64, snapshots, the route.

Property: every call gives a clean answer (a picture, a model input, a 200) or a
clean error (InputError / a JSON 400, 413 or 415), and returns within MAX_CALL_S.
Anything else (another exception, a 500, a hang) fails the test.

Hypothesis runs derandomized (a fixed seed derived from each test) with no example
database, so CI sees the same examples every time; example counts are modest for a
2-core machine. Per-call timing is asserted by hand rather than with Hypothesis'
`deadline`, so the bound is the documented 2 s whatever Hypothesis' own overhead.
"""

from __future__ import annotations

import io
import os
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from realtime.pipeline.errors import InputError
from realtime.pipeline.imaging import ImageLimits, decode_base64_image, open_image
from realtime.pipeline.preprocess import FIELD, prepare_bytes
from realtime.serving.inputs import snapshot_from_message
from tests.support.pictures import data_url, draw_digit, png_bytes

MAX_CALL_S = 2.0
# FUZZ_SCALE=20 runs twenty times the examples (a deeper local run); CI runs the default.
FUZZ_SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def examples(count: int) -> int:
    return max(1, int(count * FUZZ_SCALE))


FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
CLEAN_STATUSES = {400, 413, 415}


def _seeds() -> dict[str, bytes]:
    """Small valid pictures of a digit in every accepted format, the raw material for mutations."""
    rgb = draw_digit(7, size=48, mode="RGB")
    rgba = draw_digit(4, size=48, background=(0, 0, 0, 0))
    frames = [draw_digit(d, size=40, mode="RGB").convert("P") for d in (1, 7)]
    return {
        "png-rgba": png_bytes(rgba),
        "png-l": png_bytes(rgb.convert("L")),
        "png-p": png_bytes(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=8), optimize=True),
        "png-16": png_bytes(Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257)),
        "png-la": png_bytes(rgb.convert("LA")),
        "jpeg": png_bytes(rgb, "JPEG", quality=80),
        "jpeg-progressive": png_bytes(rgb, "JPEG", quality=70, progressive=True),
        "jpeg-cmyk": png_bytes(rgb.convert("CMYK"), "JPEG"),
        "gif": png_bytes(frames[0], "GIF"),
        "gif-animated": png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50),
        "bmp": png_bytes(rgb, "BMP"),
        "bmp-1bit": png_bytes(rgb.convert("1"), "BMP"),
        "bmp-palette": png_bytes(rgb.convert("P"), "BMP"),
        "webp-lossy": png_bytes(rgb, "WEBP", quality=60),
        "webp-lossless": png_bytes(rgba, "WEBP", lossless=True),
    }


SEEDS = _seeds()
FORMATS = {"png": "png-", "jpeg": "jpeg", "gif": "gif", "bmp": "bmp", "webp": "webp"}
MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"GIF87a", b"BM", b"RIFF\0\0\0\0WEBPVP8 ",
         b"RIFF\0\0\0\0WEBPVP8L", b"II*\0", b"\0\0\1\0"]
INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00", b"\xff\xff", b"\x7f\xff\xff\xff",
               b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x01\x00\x00", b"\x40\x00"]


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC, so a mutated PNG gets past the checksum into the decoder proper."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out, at = bytearray(data[:8]), 8
    while at + 8 <= len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        end = at + 8 + length
        if end + 4 > len(data):
            out += data[at:]
            return bytes(out)
        kind_body = data[at + 4:end]
        out += data[at:end] + struct.pack(">I", zlib.crc32(kind_body) & 0xFFFFFFFF)
        at = end + 4
    out += data[at:]
    return bytes(out)


@st.composite
def mutated(draw, prefix: str = "") -> bytes:
    """A valid seed with a few bit flips, overwrites, a truncation and/or a splice from another seed."""
    names = sorted(name for name in SEEDS if name.startswith(prefix))
    data = bytearray(SEEDS[draw(st.sampled_from(names))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "flip", "overwrite", "truncate", "splice", "delete", "repeat"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            value = draw(st.sampled_from(INTERESTING))
            data[at:at + len(value)] = value
        elif kind == "truncate":
            del data[at:]
        elif kind == "splice":
            donor = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
            start = draw(st.integers(0, len(donor) - 1))
            piece = donor[start:start + draw(st.integers(1, 512))]
            replace = draw(st.booleans())
            data[at:at + (len(piece) if replace else 0)] = piece
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 256))] * draw(st.integers(1, 8))
    data = bytes(data)
    if draw(st.booleans()):
        data = fix_png_crcs(data)
    return data


magic_then_noise = st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGIC),
                             st.binary(max_size=2048))


def _timed(call, *args):
    started = time.perf_counter()
    try:
        return call(*args), None
    except InputError as error:
        return None, error
    finally:
        elapsed = time.perf_counter() - started
        assert elapsed < MAX_CALL_S, f"{call.__name__} took {elapsed:.2f} s on {len(args[0])} bytes"


def _check_error(error: InputError) -> None:
    assert error.status in CLEAN_STATUSES, (error.status, error.code)
    assert error.code and error.code.replace("_", "").isalnum() and error.code == error.code.lower()
    assert isinstance(error.message, str) and len(error.message) > 10


DEFAULT_LIMITS = ImageLimits()


def check_open_image(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> None:
    image, error = _timed(open_image, data, limits)
    if error is not None:
        _check_error(error)
        return
    width, height = image.size
    assert 1 <= width <= limits.max_side and 1 <= height <= limits.max_side
    assert width * height <= limits.max_pixels
    image.getpixel((0, 0))  # loaded: reading a pixel decodes nothing more


def check_prepare(data: bytes) -> None:
    prepared, error = _timed(prepare_bytes, data)
    if error is not None:
        _check_error(error)
        return
    assert prepared.x.shape == (FIELD, FIELD) and prepared.x.dtype == np.float32
    assert np.isfinite(prepared.x).all() and prepared.x.min() >= 0.0 and prepared.x.max() <= 1.0
    assert prepared.blank == (not prepared.x.any()) or not prepared.blank


@pytest.fixture(scope="module", autouse=True)
def warm_decoders():
    """First calls import Pillow plugins; keep that out of the timed calls."""
    for data in SEEDS.values():
        prepare_bytes(data)


@settings(FUZZ, max_examples=examples(200))
@given(st.binary(max_size=4096))
def test_random_bytes_to_open_image(data):
    check_open_image(data)


@settings(FUZZ, max_examples=examples(150))
@given(magic_then_noise)
def test_magic_header_then_noise_to_prepare_bytes(data):
    check_prepare(data)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_mutated_images_to_prepare_bytes(fmt):
    seen: list[int] = []

    @settings(FUZZ, max_examples=examples(80))
    @given(mutated(FORMATS[fmt]))
    def run(data):
        seen.append(len(data))
        check_prepare(data)

    run()
    assert len(seen) >= examples(80) // 2, f"only {len(seen)} examples ran"


@settings(FUZZ, max_examples=examples(120))
@given(mutated())
def test_mutated_images_to_open_image_with_tight_limits(data):
    """Small limits, so mutated headers that enlarge the picture hit the 413 path too."""
    check_open_image(data, ImageLimits(max_pixels=2_500, max_side=60))


def test_the_mutator_really_breaks_and_keeps_images():
    """Sanity: the corpus is not all-valid nor all-garbage, so the properties above test both paths."""
    outcomes = {"ok": 0, "error": 0}

    @settings(FUZZ, max_examples=examples(150))
    @given(mutated())
    def run(data):
        try:
            prepare_bytes(data)
            outcomes["ok"] += 1
        except InputError:
            outcomes["error"] += 1

    run()
    assert outcomes["ok"] >= 10 and outcomes["error"] >= 10, outcomes


text_like = st.one_of(
    st.text(max_size=300),
    st.builds(lambda head, body: head + body,
              st.sampled_from(["data:", "data:image/png;base64,", "data:image/png,", "data:;base64,",
                               "data:text/plain;base64,", "data:image/png;charset=x;base64,", ""]),
              st.text(alphabet=st.characters(codec="utf-8"), max_size=200)),
    st.builds(lambda data: data_url(data), st.sampled_from(list(SEEDS.values()))),
    st.builds(lambda data, cut: data_url(data)[:cut], st.sampled_from(list(SEEDS.values())),
              st.integers(0, 400)),
)


@settings(FUZZ, max_examples=examples(300))
@given(text_like)
def test_base64_and_data_urls(text):
    data, error = _timed(decode_base64_image, text)
    if error is not None:
        _check_error(error)
    else:
        assert isinstance(data, bytes) and data


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12)
snapshots = st.one_of(
    json_values,
    st.fixed_dictionaries({"seq": json_values, "image": json_values}),
    st.fixed_dictionaries({"seq": st.integers(), "image": text_like | st.binary(max_size=200)}),
)


@settings(FUZZ, max_examples=examples(300))
@given(snapshots)
def test_snapshot_messages(message):
    try:
        frame = snapshot_from_message(message, 1024 * 1024)
    except InputError as error:
        _check_error(error)
        return
    assert isinstance(frame.seq, int) and not isinstance(frame.seq, bool)
    if frame.drawing is None:  # a fuzzed dict may happen to carry valid "strokes" and "size"
        assert isinstance(frame.image, bytes) and 0 < len(frame.image) <= 1024 * 1024
    else:
        assert frame.image is None


# --- the route, through the Flask test client ------------------------------------------------

CONTENT_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/x-anything",
                 "application/json", "text/plain", "application/octet-stream", "multipart/form-data", "",
                 "multipart/form-data; boundary=xyz", "application/vnd.api+json"]
bodies = st.one_of(st.binary(max_size=2048), mutated(), magic_then_noise)


@settings(FUZZ, max_examples=examples(100))
@given(form=st.sampled_from(["raw", "json", "multipart"]), body=bodies,
       content_type=st.sampled_from(CONTENT_TYPES), text=text_like)
def test_predict_route(web, form, body, content_type, text):
    started = time.perf_counter()
    if form == "raw":
        headers = {"Content-Type": content_type} if content_type else {}
        response = web.post("/api/predict", data=body, headers=headers)
    elif form == "json":
        payload = text if content_type == "text/plain" else {"image": text}
        response = web.post("/api/predict", json=payload)
    else:
        upload = (io.BytesIO(body), "x.bin", content_type or "a/b")
        response = web.post("/api/predict", data={"image": upload}, content_type="multipart/form-data")
    elapsed = time.perf_counter() - started
    assert elapsed < MAX_CALL_S, f"{form} {content_type}: {elapsed:.2f} s"
    assert response.status_code in CLEAN_STATUSES | {200}, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    answer = response.get_json()
    if response.status_code == 200:
        assert {"digit", "blank", "probabilities", "top3", "input28"} <= set(answer)
    else:
        assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message"}
