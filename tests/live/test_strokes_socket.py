"""A real python-socketio client sends a drawing as strokes and gets it read: the page's own path."""

from __future__ import annotations

import pytest

from tests.support.clients import Recorder
from tests.support.pictures import DIGIT_STROKES

pytestmark = pytest.mark.slow

SIDE = 360.0


def _strokes(digit: int, scale: float, offset: float) -> list[list[list[float]]]:
    return [[[(offset + x * scale) * SIDE, (offset + y * scale) * SIDE] for x, y in line]
            for line in DIGIT_STROKES[digit]]


def test_a_strokes_snapshot_gets_a_prediction(live_server):
    recorder = Recorder(live_server.url).connect()
    emit = recorder.client.emit
    try:
        # A small 4 in the top-right corner, alone so latest-wins cannot drop it.
        emit("snapshot", {"seq": 1, "strokes": _strokes(4, 0.2, 0.75), "size": [SIDE, SIDE]})
        assert recorder.wait_answer(1)
        answer = recorder.predictions[1]
        assert answer["digit"] == 4, answer["top3"]
        assert answer["blank"] is False and answer["input28"].startswith("data:image/png;base64,")

        # A lone dot is blank, never a confident digit; strokes with an image are refused.
        emit("snapshot", {"seq": 2, "strokes": [[[10.0, 10.0]]], "size": [SIDE, SIDE]})
        assert recorder.wait_answer(2)
        assert recorder.predictions[2]["blank"] is True and recorder.predictions[2]["digit"] is None
        emit("snapshot", {"seq": 3, "strokes": [[[1, 1]]], "size": [SIDE, SIDE], "image": b"x"})
        errors = recorder.wait_errors(1)
        assert errors[0]["seq"] == 3 and errors[0]["error"]["code"] == "image_and_strokes"
    finally:
        recorder.close()


def test_a_finished_drawing_sent_as_strokes_can_be_explained(live_server):
    recorder = Recorder(live_server.url).connect()
    try:
        recorder.client.emit("snapshot", {"seq": 1, "strokes": _strokes(7, 0.8, 0.1), "size": [SIDE, SIDE],
                                          "explain": True})
        assert recorder.wait_answer(1)
        answer = recorder.predictions[1]
        assert answer["digit"] == 7 and answer["evidence"]["digit"] == 7
        assert answer["naive"]["input28"].startswith("data:image/png;base64,")
    finally:
        recorder.close()
