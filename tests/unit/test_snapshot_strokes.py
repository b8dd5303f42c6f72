"""Snapshots that carry the ink as strokes: parsed into a Drawing, or refused with a clear code."""

from __future__ import annotations

import math

import pytest

from realtime.pipeline.errors import InputError
from realtime.serving.inputs import Drawing, snapshot_from_message


def test_a_strokes_snapshot_is_parsed_into_a_drawing():
    frame = snapshot_from_message({"seq": 3, "strokes": [[[1, 2], [3.5, 4]], []], "size": [400, 300]}, 1024)
    assert frame.seq == 3 and frame.image is None
    assert frame.drawing == Drawing([[(1.0, 2.0), (3.5, 4.0)]], (400.0, 300.0))


def test_an_image_snapshot_is_still_accepted():
    frame = snapshot_from_message({"seq": 1, "image": b"\x89PNG..."}, 1024)
    assert frame.image == b"\x89PNG..." and frame.drawing is None


@pytest.mark.parametrize(("message", "code"), [
    ({"seq": 1, "strokes": [[[1, 2]]], "size": [10, 10], "image": b"png"}, "image_and_strokes"),
    ({"seq": 1, "strokes": [[[1, 2]]]}, "missing_field"),
    ({"seq": 1, "strokes": [[[1, 2]]], "size": [0, 10]}, "invalid_size"),
    ({"seq": 1, "strokes": [[[1, 2]]], "size": "400x400"}, "invalid_size"),
    ({"seq": 1, "strokes": "M 1 2 L 3 4", "size": [10, 10]}, "invalid_strokes"),
    ({"seq": 1, "strokes": [[[1, math.nan]]], "size": [10, 10]}, "invalid_strokes"),
    ({"seq": 1, "strokes": [[[1, 2, 3]]], "size": [10, 10]}, "invalid_strokes"),
    ({"seq": 1, "strokes": [[[1, True]]], "size": [10, 10]}, "invalid_strokes"),
    ({"seq": 1, "strokes": [[[1, 2]] * 5000], "size": [10, 10]}, "too_many_points"),
    ({"seq": "1", "strokes": [[[1, 2]]], "size": [10, 10]}, "invalid_seq"),
])
def test_bad_strokes_snapshots_are_refused_with_a_code(message, code):
    with pytest.raises(InputError) as caught:
        snapshot_from_message(message, 1024)
    assert caught.value.code == code
