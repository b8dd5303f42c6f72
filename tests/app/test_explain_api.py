"""The teaching lens over HTTP and Socket.IO: `explain` adds `evidence` (and the plain-resize view)
to an answer, and only when asked; POST /api/layers returns each convolution's feature maps."""

from __future__ import annotations

import base64
import io
import queue

import numpy as np
import pytest
from PIL import Image

from tests.support.pictures import blank_png, draw_digit, png_bytes

SEVEN = png_bytes(draw_digit(7))
# What a tutorial's page sends: black ink on a transparent canvas.
SEVEN_ON_TRANSPARENT = png_bytes(draw_digit(7, background=(0, 0, 0, 0)))


def decode(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def post(client, data: bytes = SEVEN, query: str = "", **form):
    return client.post("/api/predict" + query, data={"image": (io.BytesIO(data), "seven.png"), **form},
                       content_type="multipart/form-data")


def assert_explained(body: dict, digit: int) -> dict:
    assert body["digit"] == digit
    evidence = body["evidence"]
    assert evidence["digit"] == digit and evidence["versus"] == body["top3"][1]["digit"] != digit
    rgba = decode(evidence["map"])
    assert rgba.shape == (28, 28, 4)
    ink = decode(body["input28"]) > 0
    assert rgba[..., 3].any() and not rgba[..., 3][~ink].any()  # aligned with input28: evidence lies on ink
    assert evidence["scale"]["limit"] > 0
    return evidence


@pytest.mark.parametrize("query", ["?explain=1", "?explain=true"])
def test_explain_in_the_query_adds_evidence_and_the_plain_resize_view(client, query):
    response = post(client, query=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert_explained(body, 7)
    naive = body["naive"]
    assert decode(naive["input28"]).shape == (28, 28)
    assert naive["digit"] in range(10) and 0 < naive["confidence"] <= 1 and len(naive["probabilities"]) == 10


def test_explain_in_a_json_body(client):
    image = "data:image/png;base64," + base64.b64encode(SEVEN).decode()
    body = client.post("/api/predict", json={"image": image, "explain": True}).get_json()
    assert_explained(body, 7)
    plain = client.post("/api/predict", json={"image": image, "explain": False}).get_json()
    assert "evidence" not in plain and "naive" not in plain


def test_explain_as_a_form_field(client):
    assert_explained(post(client, explain="1").get_json(), 7)


@pytest.mark.parametrize("query", ["", "?explain=0", "?explain=no"])
def test_without_explain_there_is_no_evidence(client, query):
    body = post(client, query=query).get_json()
    assert body["digit"] == 7
    assert not {"evidence", "naive", "explain_ms"} & set(body)


def test_a_blank_picture_is_answered_blank_without_evidence(client):
    body = post(client, blank_png(), "?explain=1").get_json()
    assert body["blank"] is True and body["digit"] is None and "evidence" not in body


def test_the_plain_resize_fails_where_tutorials_fail(client):
    """A transparent canvas: ours reads the 7, the tutorial's resize sees a white square."""
    body = post(client, SEVEN_ON_TRANSPARENT, "?explain=1").get_json()
    assert body["digit"] == 7
    assert decode(body["naive"]["input28"]).min() == 255


def test_bad_input_with_explain_is_still_a_clean_error(client):
    response = post(client, b"not an image", "?explain=1")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "not_an_image"


# --- the look inside ----------------------------------------------------------------------


def assert_layers(body: dict) -> list[dict]:
    layers = body["layers"]
    assert body["blank"] is False and len(layers) >= 2
    sides = [layer["size"][0] for layer in layers]
    assert sides[0] == 28 and sides == sorted(sides, reverse=True)  # network order: finer to coarser
    for layer in layers:
        grid = decode(layer["image"])
        height, width = layer["size"]
        assert grid.shape == (layer["rows"] * (height + 1) - 1, layer["columns"] * (width + 1) - 1)
        assert 0 < layer["shown"] <= layer["channels"] and layer["note"] and layer["stage"]
    assert layers[0]["stage"] == "edges and strokes" and layers[-1]["stage"] == "the digit"
    return layers


def test_layers_of_the_answers_own_input28(client):
    answer = post(client).get_json()
    assert_layers(client.post("/api/layers", json={"input28": answer["input28"]}).get_json())


def test_layers_of_a_picture_in_the_predict_forms(client):
    response = client.post("/api/layers", data={"image": (io.BytesIO(SEVEN), "seven.png")},
                           content_type="multipart/form-data")
    assert_layers(response.get_json())
    assert client.post("/api/layers", data=blank_png(), content_type="image/png").get_json() == {
        "blank": True, "layers": []}


@pytest.mark.parametrize(("body", "code"), [
    ({"input28": "data:image/png;base64," + base64.b64encode(SEVEN).decode()}, "invalid_input28"),  # 280x280
    ({"input28": "data:image/png;base64,@@@"}, "malformed_base64"),
    ({"nothing": 1}, "missing_field"),
])
def test_layers_refuses_bad_bodies_cleanly(client, body, code):
    response = client.post("/api/layers", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


# --- Socket.IO ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_snapshot_asks_for_evidence_with_explain(live_server):
    import socketio

    answers: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on("prediction", answers.put)
    client.on("prediction_error", answers.put)
    client.connect(live_server.url, transports=["websocket"], wait_timeout=10)
    try:
        client.emit("snapshot", {"seq": 1, "image": SEVEN})
        live = answers.get(timeout=10)
        client.emit("snapshot", {"seq": 2, "image": SEVEN, "explain": True})
        final = answers.get(timeout=10)
    finally:
        client.disconnect()
    assert live["seq"] == 1 and "evidence" not in live and "naive" not in live
    assert final["seq"] == 2
    assert_explained(final, 7)
    assert final["naive"]["digit"] in range(10)
