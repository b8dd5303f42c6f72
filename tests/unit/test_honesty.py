"""The shipped model on writer-like sets through the serving path: reads them, flags non-digits, not digits."""

from __future__ import annotations

import pytest

from realtime.paths import DEFAULT_MODEL
from realtime.serving.predictor import Predictor
from realtime.training import writersets
from realtime.training.evaluate import evaluate_set


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.from_file(DEFAULT_MODEL)


def _result(predictor, name: str, count: int = 300) -> dict:
    return evaluate_set(predictor, list(writersets.generate(name, count, seed=21)))


def test_pen_digits_are_read_and_hardly_ever_called_non_digits(predictor):
    result = _result(predictor, "pen")
    assert result["accuracy"] >= 0.965
    assert result["flagged_not_digit"] <= 0.01
    assert result["wrong_confident"] <= 0.01


def test_stretched_scans_are_read(predictor):
    assert _result(predictor, "stretched")["accuracy"] >= 0.93


def test_drawings_that_are_not_digits_are_flagged(predictor):
    # 1,000 drawings: at 300, one share in 20 of a model that flags 91% falls under 88% by chance alone
    assert _result(predictor, "not_digit", 1000)["accuracy"] >= 0.88  # share flagged "not_a_digit"
