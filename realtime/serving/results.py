"""The JSON a prediction answers with, over HTTP and Socket.IO alike, and when it says it is unsure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..paths import MODEL_CARD, file_sha256
from ..pipeline.preprocess import Prepared


@dataclass(frozen=True)
class UnsureRule:
    """When an answer is `unsure`: thresholds chosen on validation data by training, read from the model card.

    The defaults serve a model without a card: unsure below an even chance, and "not a digit"
    when that output (the model's eleventh, if it has one) outweighs all ten digits.
    """

    confidence: float = 0.5  # unsure ("low_confidence") below this calibrated confidence
    not_digit: float = 0.5  # unsure ("not_a_digit") at or above this not-digit probability

    @classmethod
    def for_model(cls, path: Path | str) -> UnsureRule:
        """The rule of the card that describes the model file at `path` (by SHA-256), else the defaults."""
        path = Path(path)
        sha256 = file_sha256(path)
        for candidate in (path.with_name(MODEL_CARD.name), path.with_name(path.stem + ".card.json")):
            if not candidate.is_file():
                continue
            card = json.loads(candidate.read_text())
            described = {entry.get("sha256") for entry in card.get("files", {}).values()} | {card.get("sha256")}
            calibration = card.get("calibration", {})
            if sha256 in described and "unsure_below_confidence" in calibration:
                return cls(float(calibration["unsure_below_confidence"]), float(calibration["not_digit_at_or_above"]))
        return cls()


def digit_probabilities(scores: np.ndarray) -> np.ndarray:
    """The ten digits' probabilities out of the model's outputs (n, 11) or (n, 10), renormalised to sum to 1."""
    digits = np.asarray(scores, np.float64)[..., :10]
    return digits / np.clip(digits.sum(axis=-1, keepdims=True), 1e-30, None)


def prediction_payload(prepared: Prepared, scores: np.ndarray | None, inference_ms: float,
                       rule: UnsureRule | None = None) -> dict:
    """The answer to one picture. `scores`: the model's row, ten digit probabilities and maybe "not a digit".

    The model's probabilities are already calibrated (its temperature is part of the exported file);
    the ten digits' are renormalised here to sum to 1 without the eleventh.
    """
    if prepared.blank or scores is None:
        return {"digit": None, "confidence": 0.0, "top3": [], "probabilities": [0.0] * 10,
                "blank": True, "unsure": False, "unsure_reason": None, "not_digit": 0.0,
                "input28": prepared.data_url(), "inference_ms": 0.0}
    rule = rule or UnsureRule()
    scores = np.asarray(scores, np.float64)
    not_digit = float(scores[10]) if len(scores) > 10 else 0.0
    probabilities = digit_probabilities(scores)
    order = np.argsort(-probabilities)
    # Not rounded: 0.999996 rounded to 5 places is 1.0, which the page would have to show as "100%".
    top = [{"digit": int(d), "probability": float(probabilities[d])} for d in order[:3]]
    reason = ("not_a_digit" if not_digit >= rule.not_digit
              else "low_confidence" if probabilities[order[0]] < rule.confidence else None)
    return {
        "digit": top[0]["digit"],
        "confidence": top[0]["probability"],
        "top3": top,
        "probabilities": [float(p) for p in probabilities],
        "blank": False,
        "unsure": reason is not None,
        "unsure_reason": reason,
        "not_digit": not_digit,
        "input28": prepared.data_url(),
        "inference_ms": round(inference_ms, 3),
    }
