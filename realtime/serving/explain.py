"""The teaching lens's answer: why this digit rather than the runner-up, and what a plain resize sees.

Asked for with `explain` (finished drawings, uploads, spotlights; never live frames). The
tutorial's 28x28 is made by the request's handler (`naive_of`, off the event loop: decoding a
large upload must not hold up the scheduler); the rest in the scheduler's worker right after the
frame's prediction: one model call (a batch, split in 64s by the predictor) holding the input,
the tutorial's 28x28 and every occluded copy. See docs/lens.md.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from PIL import Image

from ..pipeline.errors import InputError
from ..pipeline.imaging import ImageLimits, open_image
from ..pipeline.lensimage import AGAINST, TOWARDS, diverging_rgba, png_data_url
from ..pipeline.naive import naive_input
from ..pipeline.occlusion import attribution, log_margin, occluded, patch_corners
from ..pipeline.preprocess import Prepared, to_png
from ..pipeline.strokes import Strokes, render_pad
from .results import digit_probabilities

log = logging.getLogger(__name__)

Predict = Callable[[np.ndarray], np.ndarray]
Picture = Callable[[], Image.Image]  # the drawing as a tutorial's server would get it, made on demand
ENCODING = (f"RGBA; orange {TOWARDS} = towards digit, sky blue {AGAINST} = towards versus; "
            "alpha = |value| / limit * 255; alpha 0 = neutral")


def picture_of_bytes(data: bytes, limits: ImageLimits) -> Picture:
    """The uploaded or sent picture itself (decoded again, within the same limits, only when explained)."""
    return partial(open_image, data, limits)


def picture_of_strokes(strokes: Strokes, size: tuple[float, float]) -> Picture:
    """The pad as the page draws it, for a snapshot that carries strokes."""
    return partial(render_pad, strokes, size)


def picture_for(source: Any, limits: ImageLimits) -> Picture:
    """The tutorial's picture of any input: bytes as they are, a drawing (`.strokes`, `.size`) as the pad shows it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return picture_of_bytes(bytes(source), limits)
    return picture_of_strokes(source.strokes, source.size)


def naive_of(picture: Picture) -> np.ndarray | None:
    """The tutorial's 28x28 of a picture; None when it cannot be made (the lens never costs the answer)."""
    try:
        return naive_input(picture())
    except InputError:  # a bad picture: its prediction says so
        return None
    except Exception:
        log.exception("could not make the plain-resize view")
        return None


class Explainer:
    """Evidence maps and the plain-resize view for one prepared input, with the serving model."""

    def __init__(self, predict: Predict, patch: int = 4, stride: int = 2) -> None:
        self.model = predict  # the LiteRT predictor: one call for the whole batch of masked copies
        self.patch = patch
        self.stride = stride

    def explain(self, payload: dict, prepared: Prepared, naive_x: np.ndarray | None = None) -> dict:
        """`payload` (a prediction answer) with `evidence` and, given the tutorial's 28x28, `naive` added."""
        if prepared.blank or payload.get("digit") is None:
            return payload
        started = time.perf_counter()
        corners = patch_corners(prepared.x, self.patch, self.stride)
        extra = [naive_x[None]] if naive_x is not None else []
        batch = np.concatenate([prepared.x[None], *extra, occluded(prepared.x, corners, self.patch)])
        probabilities = digit_probabilities(self.model(batch))  # without the model's "not a digit"
        # The answer's own top two name the digits (a near tie must not flip between the answer and
        # its evidence); the margins all come from this one batch, so they compare like with like.
        top = payload.get("top3") or []
        if len(top) >= 2:
            digit, versus = int(top[0]["digit"]), int(top[1]["digit"])
        else:
            digit, versus = (int(d) for d in np.argsort(-probabilities[0], kind="stable")[:2])
        answer = {**payload, "evidence": self.evidence(prepared.x, digit, versus, probabilities[0],
                                                      corners, probabilities[1 + len(extra):])}
        if naive_x is not None:
            answer["naive"] = naive_payload(naive_x, probabilities[1])
        answer["explain_ms"] = round((time.perf_counter() - started) * 1000, 3)
        return answer

    def evidence(self, x: np.ndarray, digit: int, versus: int, probabilities: np.ndarray, corners: np.ndarray,
                 occluded_probabilities: np.ndarray) -> dict:
        """The `evidence` object: `digit` against `versus`, the signed map as an RGBA PNG."""
        margin = float(log_margin(probabilities, digit, versus))
        drops = margin - log_margin(occluded_probabilities, digit, versus)
        values = attribution(x, corners, self.patch, drops)
        limit = float(np.abs(values).max())
        return {
            "digit": digit,
            "versus": versus,
            "map": png_data_url(diverging_rgba(values, limit)),
            "scale": {"limit": round(limit, 4), "unit": "log p(digit) - log p(versus)",
                      "margin": round(margin, 4), "encoding": ENCODING,
                      "for_digit": share_of(values, 1), "for_versus": share_of(values, -1)},
            # Where each side's evidence is strongest, in words: for the map's text alternative.
            "where": {"for_digit": region_of(values, 1), "for_versus": region_of(values, -1)},
            "patch": self.patch,
            "stride": self.stride,
        }



def naive_payload(naive_x: np.ndarray, probabilities: np.ndarray) -> dict:
    """The `naive` object: the tutorial's 28x28 and what the network says to it."""
    digit = int(np.argmax(probabilities))
    return {"input28": "data:image/png;base64," + base64.b64encode(to_png(naive_x)).decode("ascii"), "digit": digit,
            "confidence": round(float(probabilities[digit]), 5),
            "probabilities": [round(float(p), 5) for p in probabilities]}


def region_of(values: np.ndarray, sign: int) -> str | None:
    """"top left", "middle", "bottom" ...: where one side's evidence is centred; None when it has none."""
    weights = np.clip(values * sign, 0, None)
    total = float(weights.sum())
    if total <= 0:
        return None
    rows, cols = np.indices(weights.shape)
    row, col = float((rows * weights).sum()) / total, float((cols * weights).sum()) / total
    vertical = "top" if row < 11 else "bottom" if row > 16 else "middle"
    horizontal = "left" if col < 11 else "right" if col > 16 else ""
    return f"{vertical} {horizontal}".strip()


def share_of(values: np.ndarray, sign: int) -> float:
    """How much of the map's total evidence points one way (0..1): for the page's sentence."""
    total = float(np.abs(values).sum())
    return round(float(np.clip(values * sign, 0, None).sum()) / total, 4) if total > 0 else 0.0

