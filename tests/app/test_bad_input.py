"""Bad input over HTTP and over Socket.IO: a documented error every time, and a healthy server after.

HTTP cases go through the Flask test client (fast); Socket.IO cases go to a real
eventlet server (the `live_server` fixture) through python-socketio over websocket.
Every error is checked for its status, its stable `code`, a human message and no
stack trace; afterwards /healthz is ok and a good picture is still read.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time

import numpy as np
import pytest
import requests
from PIL import Image, ImageFile

from tests.support.answers import expect_digit, input28
from tests.support.clients import RawClient, Recorder
from tests.support.pictures import (
    animated_gif,
    bmp_header_bomb,
    canvas_png,
    cmyk_jpeg,
    colour_photo,
    data_url,
    draw_digit,
    exif_rotated_jpeg,
    gif_header_bomb,
    good_png,
    jpeg_header_bomb,
    palette_png_with_transparency,
    png_16bit,
    png_bomb,
    png_bytes,
    png_header_bomb,
    png_of_zeros,
)
from tests.support.servers import assert_healthy, run_server, tracebacks

ERROR_STATUSES = {400, 413, 415}


def post(web, data=b"", content_type: str | None = None, **kwargs):
    headers = {"Content-Type": content_type} if content_type else {}
    return web.post("/api/predict", data=data, headers=headers, **kwargs)


def assert_error(response, status: int, codes: str | set[str]) -> dict:
    """A JSON error of the documented shape, with the expected status and code, and no stack trace."""
    codes = {codes} if isinstance(codes, str) else codes
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] in codes, body
    assert isinstance(body["error"]["message"], str) and len(body["error"]["message"]) > 10
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "File \"" not in text and "<html" not in text.lower()
    return body["error"]


def assert_still_serving(web) -> None:
    health = web.get("/healthz")
    assert health.status_code == 200 and health.get_json() == {"status": "ok"}
    answer = post(web, good_png(7), "image/png")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    expect_digit(answer.get_json(), 7)


def multipart(name: str, payload: bytes, filename: str = "digit.png", mime: str = "image/png") -> dict:
    return {"data": {name: (io.BytesIO(payload), filename, mime)}, "content_type": "multipart/form-data"}


PNG = good_png(7)
BOMB = png_bomb()
JPEG = png_bytes(draw_digit(7, mode="RGB"), "JPEG", quality=90)


def corrupt_jpeg_header() -> bytes:
    """A JPEG whose frame header claims zero colour components."""
    data = bytearray(JPEG)
    at = data.index(b"\xff\xc0")
    data[at + 9] = 0
    return bytes(data)


def jpeg_scan_garbage() -> bytes:
    """A JPEG with its entropy-coded scan overwritten by noise (decoders may or may not cope)."""
    data = bytearray(JPEG)
    start = data.index(b"\xff\xda") + 20
    noise = np.random.default_rng(1).integers(0, 255, len(data) - start - 2, dtype=np.uint8).tobytes()
    data[start:-2] = noise.replace(b"\xff", b"\xfe")
    return bytes(data)


# (id, request kwargs, expected status, expected code(s))
HTTP_CASES = [
    ("empty-body-image-png", {"data": b"", "content_type": "image/png"}, 400, "empty_body"),
    ("empty-body-no-type", {"data": b""}, 415, "empty_body"),
    ("png-without-content-type", {"data": PNG}, 415, "unsupported_media_type"),
    ("png-as-text-plain", {"data": PNG, "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ("png-as-octet-stream", {"data": PNG, "content_type": "application/octet-stream"}, 415,
     "unsupported_media_type"),
    ("form-urlencoded", {"data": b"image=abc", "content_type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type"),
    ("plain-text-as-text", {"data": b"seven", "content_type": "text/plain; charset=utf-8"}, 415,
     "unsupported_media_type"),
    ("plain-text-as-image", {"data": b"this is not a picture", "content_type": "image/png"}, 400,
     "not_an_image"),
    ("html-as-image", {"data": b"<html><script>alert(1)</script></html>", "content_type": "image/gif"}, 400,
     "not_an_image"),
    ("svg-as-image", {"data": b'<svg xmlns="http://www.w3.org/2000/svg"/>', "content_type": "image/svg+xml"},
     400, "not_an_image"),
    ("json-invalid", {"data": b'{"image": ', "content_type": "application/json"}, 400, "invalid_json"),
    ("json-empty-body", {"data": b"", "content_type": "application/json"}, 400, "invalid_json"),
    ("json-null", {"data": b"null", "content_type": "application/json"}, 400,
     {"invalid_json", "missing_field"}),
    ("json-without-field", {"json": {}}, 400, "missing_field"),
    ("json-other-field", {"json": {"picture": data_url(PNG)}}, 400, "missing_field"),
    ("json-list", {"json": [data_url(PNG)]}, 400, "missing_field"),
    ("json-string", {"json": data_url(PNG)}, 400, "missing_field"),
    ("json-number", {"json": 7}, 400, "missing_field"),
    ("json-image-number", {"json": {"image": 7}}, 400, "invalid_image_field"),
    ("json-image-null", {"json": {"image": None}}, 400, "invalid_image_field"),
    ("json-image-bool", {"json": {"image": True}}, 400, "invalid_image_field"),
    ("json-image-list", {"json": {"image": [data_url(PNG)]}}, 400, "invalid_image_field"),
    ("json-image-nested", {"json": {"image": {"image": data_url(PNG)}}}, 400, "invalid_image_field"),
    ("json-image-empty", {"json": {"image": ""}}, 400, "empty_image"),
    ("json-deeply-nested", {"data": b"[" * 100_000 + b"]" * 100_000, "content_type": "application/json"}, 400,
     "invalid_json"),
    ("json-deeply-nested-object", {"data": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
                                   "content_type": "application/json"}, 400, "invalid_json"),
    ("json-invalid-utf8", {"data": b'{"image": "\xff\xfe"}', "content_type": "application/json"}, 400,
     "invalid_json"),
    ("truncated-png", {"data": PNG[: len(PNG) // 2], "content_type": "image/png"}, 400, "corrupt_image"),
    ("png-signature-only", {"data": PNG[:8], "content_type": "image/png"}, 400,
     {"corrupt_image", "not_an_image"}),
    ("png-bad-crc", {"data": PNG[:29] + bytes([PNG[29] ^ 0xFF]) + PNG[30:], "content_type": "image/png"}, 400,
     {"corrupt_image", "not_an_image"}),
    ("truncated-jpeg", {"data": JPEG[: len(JPEG) // 3], "content_type": "image/jpeg"}, 400, "corrupt_image"),
    ("corrupt-jpeg-header", {"data": corrupt_jpeg_header(), "content_type": "image/jpeg"}, 400,
     {"corrupt_image", "not_an_image"}),
    ("bomb-png-30000x30000", {"data": BOMB, "content_type": "image/png"}, 413, "image_too_large"),
    ("bomb-png-header", {"data": png_header_bomb(), "content_type": "image/png"}, 413, "image_too_large"),
    ("bomb-gif-screen", {"data": gif_header_bomb(), "content_type": "image/gif"}, 413, "image_too_large"),
    ("bomb-bmp-header", {"data": bmp_header_bomb(), "content_type": "image/bmp"}, 413, "image_too_large"),
    ("bomb-jpeg-header", {"data": jpeg_header_bomb(), "content_type": "image/jpeg"}, 413, "image_too_large"),
    ("side-over-limit-1x25000", {"data": png_of_zeros(1, 25_000), "content_type": "image/png"}, 413,
     "image_too_large"),
    ("bomb-in-json", {"json": {"image": data_url(BOMB)}}, 413, "image_too_large"),
    ("bomb-in-multipart", {"multipart": ("image", BOMB)}, 413, "image_too_large"),
    ("tiff-not-supported", {"data": png_bytes(Image.new("L", (8, 8)), "TIFF"), "content_type": "image/tiff"},
     400, "unsupported_image_format"),
    ("tiff-as-png", {"data": png_bytes(Image.new("L", (8, 8)), "TIFF"), "content_type": "image/png"},
     400, "unsupported_image_format"),
    ("tiff-in-multipart", {"multipart": ("image", png_bytes(Image.new("L", (8, 8)), "TIFF"))},
     400, "unsupported_image_format"),
    ("data-url-not-base64", {"json": {"image": "data:image/png," + "a" * 20}}, 400, "malformed_data_url"),
    ("data-url-no-comma", {"json": {"image": "data:image/png;base64" + base64.b64encode(PNG).decode()}}, 400,
     "malformed_data_url"),
    ("data-url-bare-prefix", {"json": {"image": "data:"}}, 400, "malformed_data_url"),
    ("data-url-garbage-params", {"json": {"image": "data:image/png;;;base64,AAAA"}}, 400,
     "malformed_data_url"),
    ("data-url-text", {"json": {"image": "data:text/plain;base64,aGVsbG8="}}, 400, "not_an_image"),
    ("data-url-html", {"json": {"image": "data:text/html;base64,PHNjcmlwdD4="}}, 400, "not_an_image"),
    ("data-url-empty-payload", {"json": {"image": "data:image/png;base64,"}}, 400, "empty_image"),
    ("data-url-not-an-image", {"json": {"image": "data:image/png;base64,aGVsbG8gd29ybGQ="}}, 400,
     "not_an_image"),
    ("base64-invalid-chars", {"json": {"image": "iVBORw0K*GgoAAAA!"}}, 400, "malformed_base64"),
    ("base64-urlsafe-alphabet", {"json": {"image": base64.urlsafe_b64encode(b"\xfb\xff" * 30).decode()}}, 400,
     "malformed_base64"),
    ("base64-bad-padding", {"json": {"image": "iVBORw0KGgo"}}, 400, "malformed_base64"),
    ("base64-in-data-url-invalid", {"json": {"image": "data:image/png;base64,@@@@"}}, 400,
     "malformed_base64"),
    ("non-ascii-base64", {"json": {"image": "data:image/png;base64,iVBORw0KGgoÿÿÿÿ"}}, 400,
     "malformed_base64"),
    ("non-ascii-only", {"json": {"image": "数字七"}}, 400, "malformed_base64"),
    ("non-ascii-mime", {"json": {"image": "data:imagé/png;base64,AAAA"}}, 400,
     {"not_an_image", "malformed_data_url"}),
    ("non-ascii-body-as-image", {"data": "数字七 ✏️".encode(), "content_type": "image/png"}, 400,
     "not_an_image"),
    ("lone-surrogate-json", {"data": b'{"image": "\\ud800"}', "content_type": "application/json"}, 400,
     {"malformed_base64", "invalid_json"}),
    ("multipart-missing-field", {"multipart": ("file", PNG)}, 400, "missing_field"),
    ("multipart-empty-file", {"multipart": ("image", b"")}, 400, "empty_image"),
    ("multipart-text-file", {"multipart": ("image", b"not a picture at all")}, 400, "not_an_image"),
    ("multipart-no-boundary", {"data": b"--x\r\n\r\n", "content_type": "multipart/form-data"}, 400,
     "missing_field"),
]


def _request_kwargs(spec: dict) -> dict:
    spec = dict(spec)
    if "multipart" in spec:
        return multipart(*spec.pop("multipart"))
    return spec


@pytest.mark.parametrize(("spec", "status", "codes"), [case[1:] for case in HTTP_CASES],
                         ids=[case[0] for case in HTTP_CASES])
def test_http_bad_input_gets_documented_error(web, spec, status, codes, request):
    case_id = request.node.callspec.id
    kwargs = _request_kwargs(spec)
    started = time.perf_counter()
    response = web.post("/api/predict", **kwargs)
    elapsed = time.perf_counter() - started
    assert_error(response, status, codes)
    assert elapsed < 5.0, f"{case_id} took {elapsed:.1f} s"
    health = web.get("/healthz")
    assert health.status_code == 200 and health.get_json() == {"status": "ok"}


@pytest.mark.parametrize("form", ["raw", "json", "multipart"])
def test_http_body_over_the_limit_is_413(web, form):
    limit = web.application.config["MAX_CONTENT_LENGTH"]
    payload = b"\0" * (limit + 1)
    if form == "raw":
        response = post(web, payload, "image/png")
    elif form == "json":
        response = web.post("/api/predict", data=b'{"image": "' + b"A" * (limit + 4) + b'"}',
                            content_type="application/json")
    else:
        response = web.post("/api/predict", **multipart("image", payload))
    assert_error(response, 413, "body_too_large")
    assert_still_serving(web)


def test_decompression_bomb_is_refused_before_any_pixel_is_decoded(monkeypatch):
    """The header check fires first: neither pixel decoder (Pillow's ImageFile.load, the faster PNG route)
    is reached, nothing inflates."""
    from realtime.pipeline import imaging
    from realtime.pipeline.errors import InputError
    from realtime.pipeline.imaging import open_image
    from realtime.pipeline.preprocess import prepare_bytes

    decoded: list[str] = []
    original, original_png = ImageFile.ImageFile.load, imaging.decode_plain_png

    def spy(self, *args, **kwargs):
        decoded.append(f"{self.format} {self.size}")
        return original(self, *args, **kwargs)

    def spy_png(png, *args):
        decoded.append(f"fast PNG {png.size}")
        return original_png(png, *args)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    monkeypatch.setattr(imaging, "decode_plain_png", spy_png)
    bombs = {"png": png_bomb(), "png-header": png_header_bomb(), "gif": gif_header_bomb(),
             "bmp": bmp_header_bomb(), "jpeg": jpeg_header_bomb()}
    assert len(bombs["png"]) < 120_000  # 900 megapixels in ~110 KB
    for name, data in bombs.items():
        for call in (open_image, prepare_bytes):
            started = time.perf_counter()
            with pytest.raises(InputError) as refused:
                call(data)
            assert time.perf_counter() - started < 0.5, name
            assert (refused.value.status, refused.value.code) == (413, "image_too_large"), name
    assert decoded == [], f"pixels were decoded for: {decoded}"
    # The spy does see real decodes, so the check above can fail.
    open_image(PNG)
    assert decoded


def test_concurrent_decoding_leaves_the_warning_filters_alone():
    """Decoding runs in several threads at once (HTTP threads, tpool, the scheduler's worker).
    `warnings.catch_warnings()` per call is not thread-safe: it used to leave a process-wide
    "ignore every warning" filter behind. 8 threads x 150 pictures, half of them over Pillow's
    own 89-megapixel warning level, must leave the filter list as it was."""
    import threading
    import warnings

    from realtime.pipeline.errors import InputError
    from realtime.pipeline.imaging import open_image

    over_pillow_warning = png_of_zeros(10_000, 10_000)  # 100 MP: refused by our 40 MP limit
    pictures = [PNG, over_pillow_warning, JPEG, PNG[:300]]
    before = list(warnings.filters)
    failures: list[BaseException] = []

    def decode_many() -> None:
        for i in range(150):
            try:
                open_image(pictures[i % len(pictures)])
            except InputError:
                pass
            except BaseException as error:  # anything else is a bug
                failures.append(error)

    threads = [threading.Thread(target=decode_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures[:3]
    assert list(warnings.filters) == before, [f for f in warnings.filters if f not in before]


# --- inputs that are odd but valid: a clean answer ----------------------------------------------

def test_extreme_aspect_ratios_get_a_clean_answer(web):
    for width, height in [(1, 10_000), (10_000, 1), (3, 9_000)]:
        response = post(web, png_of_zeros(width, height, bit_depth=8), "image/png")
        if response.status_code == 200:
            assert response.get_json()["blank"] is True
        else:
            assert_error(response, response.status_code, {"image_too_large", "corrupt_image"})
            assert response.status_code in ERROR_STATUSES
    line = np.full((10_000, 1), 255, np.uint8)
    line[4_000:6_000] = 0  # a stroke 2000 px long, 1 px wide
    response = post(web, png_bytes(Image.fromarray(line)), "image/png")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.get_json()) >= {"digit", "blank", "input28", "probabilities"}
    assert_still_serving(web)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "1"])
def test_one_by_one_image_is_blank(web, mode):
    response = post(web, png_bytes(Image.new(mode, (1, 1))), "image/png")
    assert response.status_code == 200, response.get_data(as_text=True)
    payload = response.get_json()
    assert payload["blank"] is True and payload["digit"] is None and payload["top3"] == []


def _predict(web, data: bytes, mime: str = "image/png") -> dict:
    response = post(web, data, mime)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _distance(a: dict, b: dict) -> float:
    return float(np.abs(input28(a) - input28(b)).mean())


def test_animated_gif_uses_the_first_frame(web):
    animated = _predict(web, animated_gif(7, 1), "image/gif")
    first = _predict(web, png_bytes(draw_digit(7, mode="RGB").convert("P"), "GIF"), "image/gif")
    second = _predict(web, png_bytes(draw_digit(1, mode="RGB").convert("P"), "GIF"), "image/gif")
    assert _distance(animated, first) < 0.01
    assert _distance(animated, second) > 0.05
    expect_digit(animated, 7)


def test_16_bit_png_reads_like_8_bit(web):
    deep = _predict(web, png_16bit(7))
    eight = _predict(web, png_bytes(draw_digit(7, mode="L")))
    assert _distance(deep, eight) < 0.02
    expect_digit(deep, 7)


def test_cmyk_jpeg_reads_like_rgb(web):
    cmyk = _predict(web, cmyk_jpeg(7), "image/jpeg")
    rgb = _predict(web, JPEG, "image/jpeg")
    assert _distance(cmyk, rgb) < 0.03
    expect_digit(cmyk, 7)


def test_palette_png_with_transparency_reads_like_the_canvas(web):
    palette = _predict(web, palette_png_with_transparency(7))
    canvas = _predict(web, canvas_png(7))
    assert _distance(palette, canvas) < 0.03
    expect_digit(palette, 7)


# --- conventions that must work ---------------------------------------------------------------

CONVENTIONS = {
    "dark-on-light": lambda d: png_bytes(draw_digit(d)),
    "light-on-dark": lambda d: png_bytes(draw_digit(d, ink=(255, 255, 255, 255), background=(0, 0, 0, 255))),
    "grey-pencil-on-grey": lambda d: png_bytes(draw_digit(d, ink=(90, 90, 90, 255),
                                                          background=(200, 200, 200, 255))),
    "canvas-black-ink-transparent": lambda d: canvas_png(d),
    "canvas-white-ink-transparent": lambda d: canvas_png(d, ink=(255, 255, 255, 255)),
    "canvas-coloured-ink-transparent": lambda d: canvas_png(d, ink=(200, 30, 30, 255)),
    "colour-photo-jpeg": lambda d: colour_photo(d),
    "small-offcentre": lambda d: png_bytes(draw_digit(d, scale=0.35, offset=(0.5, 0.05))),
    "blue-ink-on-cream": lambda d: png_bytes(draw_digit(d, ink=(20, 40, 160, 255), background=(245, 235, 200, 255))),
    "dark-on-light-grayscale": lambda d: png_bytes(draw_digit(d, mode="L")),
}


@pytest.fixture(scope="module")
def references(web) -> dict[int, dict]:
    """Plain dark ink on white, for every digit the tests draw."""
    return {digit: _predict(web, png_bytes(draw_digit(digit))) for digit in (0, 1, 4, 7)}


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
@pytest.mark.parametrize("digit", [0, 1, 4, 7])
def test_image_conventions_are_read(web, references, convention, digit):
    data = CONVENTIONS[convention](digit)
    mime = "image/jpeg" if data[:2] == b"\xff\xd8" else "image/png"
    payload = _predict(web, data, mime)
    expect_digit(payload, digit)
    # Whatever the convention, the model input is (nearly) that of plain dark ink on white, and
    # nearer to it than to any other digit's: polarity, alpha, colour and light were undone.
    distances = {other: _distance(payload, reference) for other, reference in references.items()}
    assert distances[digit] < 0.08, distances
    assert distances[digit] == min(distances.values()), distances
    if convention.startswith(("canvas", "dark", "light", "grey")):
        assert distances[digit] < 0.01, distances


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("digit", [1, 7])
def test_exif_orientation_is_applied(web, digit, orientation):
    tagged, untagged = exif_rotated_jpeg(digit, orientation)
    upright = _predict(web, png_bytes(draw_digit(digit, mode="RGB"), "JPEG", quality=92), "image/jpeg")
    with_tag = _predict(web, tagged, "image/jpeg")
    without_tag = _predict(web, untagged, "image/jpeg")
    assert _distance(with_tag, upright) < 0.02
    assert _distance(without_tag, upright) > 0.04  # the tag matters: without it the digit lies sideways
    expect_digit(with_tag, digit)


@pytest.mark.parametrize("form", ["multipart", "json-data-url", "json-bare-base64", "raw"])
def test_every_documented_form_is_read(web, form):
    if form == "multipart":
        response = web.post("/api/predict", **multipart("image", PNG, filename="zählt-七.png"))
    elif form == "json-data-url":
        response = web.post("/api/predict", json={"image": data_url(PNG)})
    elif form == "json-bare-base64":
        response = web.post("/api/predict", json={"image": base64.b64encode(PNG).decode()})
    else:
        response = post(web, PNG, "image/png")
    assert response.status_code == 200, response.get_data(as_text=True)
    expect_digit(response.get_json(), 7)


def test_other_api_errors_are_json(web):
    assert_error(web.get("/api/predict"), 405, "method_not_allowed")
    assert_error(web.get("/api/does-not-exist"), 404, "not_found")


def test_server_still_serving_after_the_matrix(web):
    for _case_id, spec, _status, _codes in HTTP_CASES:
        web.post("/api/predict", **_request_kwargs(spec))
    assert_still_serving(web)


# --- the same over Socket.IO, against a real eventlet server -----------------------------------

BIG = 1024 * 1024 + 1  # one byte over MAX_FRAME_BYTES (1 MiB)

SOCKET_CASES = [
    # (id, image field, expected code)
    ("truncated-png-bytes", PNG[: len(PNG) // 2], "corrupt_image"),
    ("truncated-png-data-url", data_url(PNG[: len(PNG) // 2]), "corrupt_image"),
    ("corrupt-jpeg", corrupt_jpeg_header(), {"corrupt_image", "not_an_image"}),
    ("text-bytes", b"not a picture", "not_an_image"),
    ("plain-text-string", "hello, world", "malformed_base64"),
    ("empty-string", "", "empty_image"),
    ("empty-bytes", b"", "empty_image"),
    ("malformed-data-url", "data:image/png,abc", "malformed_data_url"),
    ("data-url-text", "data:text/plain;base64,aGVsbG8=", "not_an_image"),
    ("base64-invalid-chars", "data:image/png;base64,iVBOR*w0KGgo!", "malformed_base64"),
    ("non-ascii", "data:image/png;base64,ÿÿÿÿ数字", "malformed_base64"),
    ("bomb-bytes", "bomb", "image_too_large"),
    ("bomb-data-url", "bomb-url", "image_too_large"),
    ("gif-screen-bomb", gif_header_bomb(), "image_too_large"),
    ("image-number", 7, "invalid_image_field"),
    ("image-list", [1, 2, 3], "invalid_image_field"),
    ("image-object", {"image": "x"}, "invalid_image_field"),
    ("image-missing", None, "missing_field"),
    ("over-frame-limit-bytes", b"\x89PNG" + b"\0" * BIG, "frame_too_large"),
    ("over-frame-limit-data-url", "big-url", "frame_too_large"),
]


def _socket_image(value):
    if value == "bomb":
        return BOMB
    if value == "bomb-url":
        return data_url(BOMB)
    if value == "big-url":
        return data_url(b"\x89PNG" + b"\0" * BIG)
    return value


@pytest.fixture()
def recorder(live_server):
    client = Recorder(live_server.url).connect()
    yield client
    client.close()


@pytest.mark.slow
@pytest.mark.parametrize(("image", "codes"), [case[1:] for case in SOCKET_CASES],
                         ids=[case[0] for case in SOCKET_CASES])
def test_socket_bad_frame_gets_prediction_error(live_server, recorder, image, codes):
    codes = {codes} if isinstance(codes, str) else codes
    seen = len(live_server.output)
    message = {"seq": 5} if image is None else {"seq": 5, "image": _socket_image(image)}
    recorder.client.emit("snapshot", message)
    errors = recorder.wait_errors(1, timeout=20)
    assert errors, "no prediction_error came back"
    error = errors[0]
    assert error["seq"] == 5
    assert set(error["error"]) == {"code", "message"} and error["error"]["code"] in codes, error
    assert isinstance(error["error"]["message"], str) and error["error"]["message"]
    assert not recorder.predictions
    # The same connection still works: a good frame with a newer seq is answered.
    recorder.send(6, data_url(PNG))
    assert recorder.wait_answer(6, 20), "the connection stopped answering after a bad frame"
    assert 6 in recorder.predictions
    assert not [line for line in live_server.output[seen:] if "Traceback" in line]


WRONG_FRAMES = [
    ("number", 42, "invalid_snapshot"),
    ("string", "data:image/png;base64,AAAA", "invalid_snapshot"),
    ("list", [1, data_url(PNG)], "invalid_snapshot"),
    ("bytes", PNG, "invalid_snapshot"),
    ("missing-seq", {"image": data_url(PNG)}, "invalid_seq"),
    ("seq-string", {"seq": "1", "image": data_url(PNG)}, "invalid_seq"),
    ("seq-float", {"seq": 1.5, "image": data_url(PNG)}, "invalid_seq"),
    pytest.param({"seq": True, "image": data_url(PNG)}, "invalid_seq", id="seq-bool"),
    ("seq-null", {"seq": None, "image": data_url(PNG)}, "invalid_seq"),
    ("empty-object", {}, "invalid_seq"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("frame", "code"), [
    case if isinstance(case, type(pytest.param(0))) else pytest.param(*case[1:], id=case[0])
    for case in WRONG_FRAMES])
def test_socket_frame_of_the_wrong_type_gets_prediction_error(live_server, recorder, frame, code):
    seen = len(live_server.output)
    recorder.client.emit("snapshot", frame)
    errors = recorder.wait_errors(1, timeout=20)
    assert errors and errors[0]["error"]["code"] == code, errors
    assert errors[0]["seq"] is None
    recorder.send(1, data_url(PNG))
    assert recorder.wait_answer(1, 20)
    assert not [line for line in live_server.output[seen:] if "Traceback" in line]


@pytest.mark.slow
def test_socket_message_over_the_transport_limit_does_not_hurt_the_server(live_server):
    """Over SOCKET_MAX_MESSAGE_BYTES (2 MiB) the connection may be closed; nothing else may happen."""
    bystander = Recorder(live_server.url).connect()
    offender = Recorder(live_server.url).connect()
    try:
        offender.client.emit("snapshot", {"seq": 1, "image": b"\0" * (3 * 1024 * 1024)})
        offender.client.emit("snapshot", {"seq": 2, "image": "A" * (3 * 1024 * 1024)})
        # Either the server drops the connection or it answers with an error; never a prediction.
        offender.wait(lambda: offender.disconnects or len(offender.errors) >= 2, timeout=15)
        assert not offender.predictions
        for error in offender.errors:
            assert error["error"]["code"] == "frame_too_large"
        bystander.send(1, data_url(PNG))
        assert bystander.wait_answer(1, 20), "a bystander lost its connection"
        assert not bystander.errors and bystander.disconnects == 0
    finally:
        offender.close()
        bystander.close()
    assert_healthy(live_server)


@pytest.mark.slow
def test_live_server_healthy_after_bad_input(live_server):
    """After everything above (and a burst of bad HTTP bodies to the real server) it still reads digits."""
    bad_bodies = [(b"", "image/png"), (b"junk", "image/jpeg"), (png_header_bomb(), "image/png"),
                  (json.dumps({"image": 7}).encode(), "application/json"),
                  (b"[" * 50_000, "application/json"),
                  (PNG[:100], "image/png"), (b"text", "text/plain")]
    for body, mime in bad_bodies:
        answer = requests.post(live_server.url + "/api/predict", data=body, headers={"Content-Type": mime},
                               timeout=30)
        assert answer.status_code in ERROR_STATUSES, (mime, answer.status_code, answer.text[:200])
        assert answer.headers["Content-Type"].startswith("application/json")
        assert set(answer.json()["error"]) == {"code", "message"}
    assert_healthy(live_server)
    assert not tracebacks(live_server)


@pytest.fixture(scope="module")
def scratch_server():
    """A server of its own for the cases that leave stack traces in the server's log, so that the
    shared `live_server` stays clean for every test that checks its output."""
    with run_server("eventlet") as running:
        yield running


@pytest.mark.slow
def test_socket_hostile_packets_do_not_hurt_the_server(scratch_server):
    """Raw Socket.IO packets that python-socketio itself fails to decode (deep nesting, binary
    placeholders without attachments): the server goes on serving everyone else. (python-socketio logs
    these with a stack trace on the server's side; nothing of it reaches a client.)"""
    hostile = RawClient(scratch_server.url)
    bystander = Recorder(scratch_server.url).connect()
    try:
        hostile.ws.send('42["snapshot",' + "[" * 100_000 + "]" * 100_000 + "]")
        hostile.ws.send('42["snapshot",{"seq":1,"image":' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}]")
        hostile.ws.send('451-["snapshot",{"seq":2,"image":{"_placeholder":true,"num":5}}]')
        hostile.ws.send('42["snapshot",{"seq":3,"image":{"_placeholder":true,"num":0}}]')
        hostile.ws.send('42["snapshot"')
        hostile.ws.send("4" + "9" * 5000)
        bystander.send(1, data_url(PNG))
        assert bystander.wait_answer(1, 20) and not bystander.errors
        # The hostile connection itself may be closed or left waiting for attachments that never
        # come (python-socketio's choice); only it pays for that.
        for error in hostile.errors:
            assert set(error["error"]) == {"code", "message"} and "Traceback" not in error["error"]["message"]
    finally:
        hostile.close()
        bystander.close()
    assert_healthy(scratch_server)


@pytest.mark.slow
@pytest.mark.parametrize("arguments", [(), ({"seq": 1, "image": "x"}, {"seq": 2, "image": "y"})],
                         ids=["no-payload", "two-payloads"])
def test_socket_snapshot_without_payload_gets_prediction_error(scratch_server, arguments):
    recorder = Recorder(scratch_server.url).connect()
    seen = len(scratch_server.output)
    recorder.client.emit("snapshot", arguments or None)
    errors = recorder.wait_errors(1, timeout=5)
    time.sleep(0.3)
    recorder.close()
    assert not [line for line in scratch_server.output[seen:] if "Traceback" in line]
    assert errors and errors[0]["error"]["code"] == "invalid_snapshot", errors


_PEAK_SCRIPT = """
import json, os, sys, time
from realtime.pipeline.preprocess import prepare_bytes

def high_water():  # VmHWM: this process's own peak RSS (ru_maxrss can carry the parent's over exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

def current():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

data = sys.stdin.buffer.read()
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # resets VmHWM to the current RSS
base = current()
started = time.perf_counter()
prepared = prepare_bytes(data)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "peak_mb": (high_water() - base) / 2**20, "x": prepared.x.tolist()}))
"""


@pytest.mark.parametrize("mode", ["L", "1", "RGB"])
def test_largest_allowed_picture_costs_one_decoded_buffer(mode):
    """A 4000x4000 picture (16 megapixels, the largest PNG allowed: formats decoded at full size
    have their own limit, ImageLimits.max_full_decode_pixels) is tens of KB as a PNG.

    It must be read like its small version, without the full-size RGBA copies the preprocessing
    would make of it (once ~360 MB and ~2 s for a 40 KB upload; now one decoded buffer).
    """
    import subprocess
    import sys

    from tests.support.servers import ROOT

    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux /proc to read the peak RSS")

    side = 4000
    big = png_bytes(draw_digit(7, size=side, mode="L").convert(mode))
    assert len(big) < 300_000
    run = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT], input=big, capture_output=True, cwd=ROOT,
                         timeout=120, check=True)
    measured = json.loads(run.stdout)
    bytes_per_pixel = {"L": 1, "1": 1, "RGB": 3}[mode]
    budget_mb = side * side * bytes_per_pixel / 2**20 * 2 + 60  # before the fix: 358, 358, 472 MB
    assert measured["peak_mb"] < budget_mb, measured["peak_mb"]
    assert measured["seconds"] < 5.0
    small = np.asarray(json.loads(subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT], input=png_bytes(draw_digit(7, mode="L")), capture_output=True,
        cwd=ROOT, timeout=120, check=True).stdout)["x"], np.float32)
    assert float(np.abs(np.asarray(measured["x"], np.float32) - small).mean()) < 0.03
