"""Strokes to model input: the digit's size and place on the pad do not change its 28x28."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.pipeline.errors import InputError
from realtime.pipeline.strokes import MAX_POINTS, prepare_strokes, validate_strokes

SEVEN = [[(0.0, 0.0), (0.6, 0.0), (0.25, 1.0)]]
FOUR = [[(0.4, 0.0), (0.0, 0.6), (0.6, 0.6)], [(0.42, 0.25), (0.42, 1.0)]]


def placed(strokes, left: float, top: float, side: float):
    return [[(left + x * side, top + y * side) for x, y in stroke] for stroke in strokes]


@pytest.mark.parametrize("strokes", [SEVEN, FOUR])
def test_a_tiny_digit_in_a_corner_gives_the_same_input_as_a_large_one(strokes):
    large = prepare_strokes(placed(strokes, 100, 80, 500), (700, 700))
    tiny = prepare_strokes(placed(strokes, 640, 650, 40), (700, 700))
    assert not large.blank and not tiny.blank
    assert np.abs(large.x - tiny.x).mean() < 0.01


def test_the_input_looks_like_mnist():
    x = prepare_strokes(placed(SEVEN, 50, 50, 300), (400, 400)).x
    ys, _ = np.nonzero(x > 0.05)
    assert x.max() > 0.95 and 16 <= ys.max() - ys.min() + 1 <= 21  # fitted into the 20x20 box
    mass = x.sum()
    assert abs((np.indices(x.shape)[0] * x).sum() / mass - 14) < 1  # centred by mass
    assert 0.05 < (x > 0.5).mean() < 0.3  # a pen, neither hairline nor blob


def test_no_ink_or_a_dot_is_blank():
    assert prepare_strokes([], (300, 300)).blank
    assert prepare_strokes([[(10.0, 10.0)], [(11.0, 12.0)]], (300, 300)).blank


def test_points_outside_the_pad_are_drawn():
    inside = prepare_strokes(placed(SEVEN, 50, 50, 200), (300, 300))
    outside = prepare_strokes(placed(SEVEN, -30, 50, 200), (300, 300))
    assert np.array_equal(inside.x, outside.x)


@pytest.mark.parametrize(("strokes", "size", "code"), [
    ([[(0, 0)]], [0, 100], "invalid_size"),
    ([[(0, 0)]], [100], "invalid_size"),
    ([[(0, 0)]], ["a", 1], "invalid_size"),
    ("strokes", [100, 100], "invalid_strokes"),
    ([[(0, float("nan"))]], [100, 100], "invalid_strokes"),
    ([[(0, True)]], [100, 100], "invalid_strokes"),
    ([[[0, 0, 0]]], [100, 100], "invalid_strokes"),
    ([[(0, 0)] * (MAX_POINTS + 1)], [100, 100], "too_many_points"),
])
def test_malformed_strokes_are_a_clear_error(strokes, size, code):
    with pytest.raises(InputError) as caught:
        validate_strokes(strokes, size)
    assert caught.value.code == code
