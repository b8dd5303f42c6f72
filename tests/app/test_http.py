"""HTTP routes through Flask's test client: the page, health, metadata and every input form.

Every error code, size limit and hostile body is in test_bad_input.py."""

from __future__ import annotations

import base64
import io

import pytest

from tests.support.pictures import blank_png, draw_digit, png_bytes

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


@pytest.mark.parametrize("parts", [2, 40])  # 40: more than the strict parser takes, read by Werkzeug
def test_multipart_upload_as_browsers_and_requests_write_it(client, monkeypatch, parts):
    """Read by python-multipart (`inputs.form_fields`), or by Werkzeug when the form is not one of ours."""
    import requests

    from realtime.serving import inputs

    strict, results = inputs._strict_fields, []
    monkeypatch.setattr(inputs, "_strict_fields", lambda *args: results.append(strict(*args)) or results[-1])
    fields = {f"note{i}": (None, b"x") for i in range(parts - 2)}
    upload = requests.Request("POST", "http://localhost/api/predict", data={"explain": "1"},
                              files={**fields, "image": ("seven.png", SEVEN, "image/png")}).prepare()
    response = client.post("/api/predict", data=upload.body, content_type=upload.headers["Content-Type"])
    assert_prediction(response, 7)
    assert "evidence" in response.get_json()  # the form's other field (explain) was read too
    assert len(results) == 1 and (results[0] is None) == (parts > inputs.MAX_FORM_PARTS)


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


def test_the_app_factory_reads_the_environment_itself(monkeypatch):
    """So that a WSGI server that calls `create_app()` gets the same settings as `server.py`."""
    from tests.support.apps import make_app

    monkeypatch.setenv("DIGITS_MAX_CONTENT_LENGTH", "1234")
    application = make_app(BATCH_MAX=3)  # and what the caller passes wins over the environment
    try:
        assert application.config["MAX_CONTENT_LENGTH"] == 1234 and application.config["BATCH_MAX"] == 3
        response = application.test_client().post("/api/predict", data=b"\0" * 2000, content_type="image/png")
        assert response.status_code == 413
    finally:
        application.extensions["digits"].scheduler.stop()
