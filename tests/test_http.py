"""HTTP routes through Flask's test client: every input form, every error code."""

from __future__ import annotations

import base64
import io

import pytest
from conftest import blank_png, draw_digit, png_bytes

SEVEN = png_bytes(draw_digit(7))


def assert_prediction(response, digit: int | None):
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) >= {"digit", "confidence", "top3", "probabilities", "blank", "input28", "inference_ms"}
    assert body["digit"] == digit
    if digit is not None:
        assert body["top3"][0] == {"digit": digit, "probability": body["confidence"]}
        assert len(body["top3"]) == 3 and len(body["probabilities"]) == 10
        assert abs(sum(body["probabilities"]) - 1) < 1e-3
        assert body["input28"].startswith("data:image/png;base64,")
    return body


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]


def test_page_health_and_model_metadata(client):
    page = client.get("/")
    assert page.status_code == 200 and b'data-testid="pad"' in page.data
    assert client.get("/healthz").get_json() == {"status": "ok"}
    model = client.get("/api/model").get_json()
    assert model["name"] and model["params"] > 0 and len(model["sha256"]) == 64
    assert 0.99 < model["test_accuracy"] <= 1.0


def test_multipart_upload(client):
    response = client.post("/api/predict", data={"image": (io.BytesIO(SEVEN), "seven.png")},
                           content_type="multipart/form-data")
    assert_prediction(response, 7)


@pytest.mark.parametrize("prefix", ["data:image/png;base64,", ""], ids=["data-url", "bare-base64"])
def test_json_upload(client, prefix):
    response = client.post("/api/predict", json={"image": prefix + base64.b64encode(SEVEN).decode()})
    assert_prediction(response, 7)


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"),
                                           ("BMP", "image/bmp"), ("GIF", "image/gif")])
def test_raw_image_body_in_every_format(client, fmt, mime):
    picture = draw_digit(4)
    if fmt in {"JPEG", "BMP"}:
        picture = picture.convert("RGB")
    response = client.post("/api/predict", data=png_bytes(picture, fmt), content_type=mime)
    assert_prediction(response, 4)


def test_blank_image_is_blank_not_a_guess(client):
    body = assert_prediction(client.post("/api/predict", data=blank_png(), content_type="image/png"), None)
    assert body["blank"] is True and body["top3"] == []


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"data": {"other": (io.BytesIO(SEVEN), "x.png")}, "content_type": "multipart/form-data"}, 400, "missing_field"),
    ({"json": {"picture": "x"}}, 400, "missing_field"),
    ({"json": ["not", "an", "object"]}, 400, "missing_field"),
    ({"json": {"image": 42}}, 400, "invalid_image_field"),
    ({"json": {"image": {"nested": "data:image/png;base64,AAAA"}}}, 400, "invalid_image_field"),
    ({"data": b"{not json", "content_type": "application/json"}, 400, "invalid_json"),
    ({"json": {"image": "data:image/png;base64,!!!!"}}, 400, "malformed_base64"),
    ({"json": {"image": "data:image/png,abc"}}, 400, "malformed_data_url"),
    ({"json": {"image": "data:text/plain;base64,aGVsbG8="}}, 415, "unsupported_media_type"),
    ({"data": b"hello", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ({"data": b""}, 415, "empty_body"),
    ({"data": b"", "content_type": "image/png"}, 400, "empty_body"),
    ({"data": b"plain text, not pixels", "content_type": "image/png"}, 400, "not_an_image"),
    ({"data": SEVEN[: len(SEVEN) // 2], "content_type": "image/png"}, 400, "corrupt_image"),
])
def test_bad_input_gets_its_documented_json_error(client, kwargs, status, code):
    assert_error(client.post("/api/predict", **kwargs), status, code)


def test_body_over_the_limit_is_413(app, client):
    too_big = b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    assert_error(client.post("/api/predict", data=too_big, content_type="image/png"), 413, "body_too_large")


def test_unknown_api_route_and_wrong_method_are_json(client):
    assert_error(client.get("/api/nope"), 404, "not_found")
    assert_error(client.get("/api/predict"), 405, "method_not_allowed")


def test_server_stays_healthy_after_bad_input(client):
    client.post("/api/predict", data=b"garbage", content_type="image/png")
    assert client.get("/healthz").status_code == 200
    assert_prediction(client.post("/api/predict", data=SEVEN, content_type="image/png"), 7)
