"""POST /api/predict with the ink as strokes (what the page's offline fallback sends): any size and
place is read right, a dot is blank, bad strokes are a 400, and probabilities are not rounded away."""

from __future__ import annotations

import itertools

import pytest

from tests.support.pictures import DIGIT_STROKES

PAD = 400.0


def strokes_of(digit: int, scale: float = 0.8, offset: tuple[float, float] = (0.1, 0.1), dense: int = 8):
    """DIGIT_STROKES as pad pixels, each segment cut into `dense` steps as a pointer reports it."""
    strokes = []
    for line in DIGIT_STROKES[digit]:
        points = [line[0]]
        for (x0, y0), (x1, y1) in itertools.pairwise(line):
            points += [(x0 + (x1 - x0) * i / dense, y0 + (y1 - y0) * i / dense) for i in range(1, dense + 1)]
        strokes.append([[round((offset[0] + x * scale) * PAD, 1), round((offset[1] + y * scale) * PAD, 1)]
                        for x, y in points])
    return strokes


@pytest.mark.parametrize(("digit", "scale", "offset"), [
    (7, 0.8, (0.1, 0.1)),
    (7, 0.2, (0.02, 0.02)),    # a fifth of the pad, in the top-left corner
    (7, 0.18, (0.8, 0.8)),     # bottom-right corner
    (4, 0.2, (0.78, 0.03)),
    (1, 0.2, (0.03, 0.75)),
    (0, 0.2, (0.4, 0.4)),
])
def test_strokes_of_any_size_and_place_are_read_right(client, digit, scale, offset):
    answer = client.post("/api/predict", json={"strokes": strokes_of(digit, scale, offset), "size": [PAD, PAD]})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["digit"] == digit, body["top3"]
    assert body["input28"].startswith("data:image/png;base64,")


def test_probabilities_are_not_rounded_away(client):
    body = client.post("/api/predict", json={"strokes": strokes_of(1), "size": [PAD, PAD]}).get_json()
    probabilities = body["probabilities"]
    assert abs(sum(probabilities) - 1.0) < 1e-5
    assert body["confidence"] == max(probabilities) == body["top3"][0]["probability"]
    # Five-decimal rounding turned every small probability into 0.0 and a confident one into 1.0.
    assert any(round(p, 5) != p for p in probabilities)


def test_a_dot_is_blank_and_bad_strokes_are_a_400(client):
    dot = client.post("/api/predict", json={"strokes": [[[200, 200], [201, 200]]], "size": [PAD, PAD]})
    assert dot.status_code == 200 and dot.get_json()["blank"] is True and dot.get_json()["digit"] is None
    both = client.post("/api/predict", json={"strokes": [[[1, 2]]], "size": [PAD, PAD], "image": "data:,"})
    assert both.status_code == 400 and both.get_json()["error"]["code"] == "image_and_strokes"
    nosize = client.post("/api/predict", json={"strokes": [[[1, 2]]]})
    assert nosize.status_code == 400 and nosize.get_json()["error"]["code"] == "missing_field"


def test_strokes_can_be_explained_like_pictures(client):
    """The teaching lens works on a drawing sent as strokes (what the page sends once a drawing is finished)."""
    body = client.post("/api/predict", json={"strokes": strokes_of(4), "size": [PAD, PAD], "explain": True}).get_json()
    assert body["digit"] == 4
    assert body["evidence"]["digit"] == 4 and body["evidence"]["map"].startswith("data:image/png;base64,")
    assert body["naive"]["input28"].startswith("data:image/png;base64,")
    plain = client.post("/api/predict", json={"strokes": strokes_of(4), "size": [PAD, PAD]}).get_json()
    assert "evidence" not in plain
