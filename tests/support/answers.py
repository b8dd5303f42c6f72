"""Checks on answers: a well-formed prediction, the 28x28 it reports, latency percentiles."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterable

import numpy as np
from PIL import Image

# The shipped model is what CI uses. When DIGITS_MODEL_PATH points elsewhere (an
# untrained smoke model while the real one trains) the tests still check every
# status, code and shape, but not which digit was read.
MODEL_OVERRIDE = os.environ.get("DIGITS_MODEL_PATH", "")
CHECK_DIGITS = not MODEL_OVERRIDE


def expect_digit(payload: dict, digit: int) -> None:
    """A well-formed, non-blank prediction; the right digit when the shipped model serves."""
    assert payload["blank"] is False, payload
    assert isinstance(payload["digit"], int) and 0 <= payload["digit"] <= 9
    assert len(payload["probabilities"]) == 10
    assert abs(sum(payload["probabilities"]) - 1.0) < 1e-3
    assert payload["top3"][0]["digit"] == payload["digit"]
    if CHECK_DIGITS:
        assert payload["digit"] == digit, (digit, payload["top3"])


def input28(payload: dict) -> np.ndarray:
    """The 28x28 model input a prediction reports, as floats in [0, 1]."""
    header, encoded = payload["input28"].split(",", 1)
    assert header == "data:image/png;base64"
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert image.size == (28, 28)
    return np.asarray(image.convert("L"), np.float32) / 255.0


def percentile(values: Iterable[float], q: float) -> float:
    return float(np.percentile(np.asarray(list(values), np.float64), q))
