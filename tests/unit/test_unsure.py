"""The answer's `unsure` and `unsure_reason`: set from the model card's thresholds, never on blanks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from realtime.paths import DEFAULT_MODEL, MODEL_CARD
from realtime.pipeline.preprocess import Prepared, blank_input
from realtime.serving.results import UnsureRule, prediction_payload

INK = Prepared(np.zeros((28, 28), np.float32), False)
RULE = UnsureRule(confidence=0.6, not_digit=0.7)


def _scores(digits: dict[int, float], not_digit: float = 0.0) -> np.ndarray:
    row = np.zeros(11)
    for d, p in digits.items():
        row[d] = p
    row[10] = not_digit
    return row


@pytest.mark.parametrize(("scores", "unsure", "reason"), [
    (_scores({7: 0.95, 1: 0.05}), False, None),
    (_scores({7: 0.5, 1: 0.3, 2: 0.2}), True, "low_confidence"),
    (_scores({7: 0.2, 1: 0.05}, not_digit=0.75), True, "not_a_digit"),
    (_scores({7: 0.29, 1: 0.01}, not_digit=0.69), False, None),  # 0.29 of 0.3 is a sure 7; 0.69 < 0.7
])
def test_unsure_follows_the_rule(scores, unsure, reason):
    answer = prediction_payload(INK, scores, 0.1, RULE)
    assert (answer["unsure"], answer["unsure_reason"]) == (unsure, reason)
    assert len(answer["probabilities"]) == 10
    assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert answer["digit"] == 7 and answer["top3"][0]["digit"] == 7


def test_a_ten_output_model_is_only_ever_unsure_for_low_confidence():
    answer = prediction_payload(INK, np.array([0.0] * 9 + [1.0]), 0.1, RULE)
    assert (answer["digit"], answer["unsure"], answer["unsure_reason"]) == (9, False, None)


def test_blank_answers_are_never_unsure():
    answer = prediction_payload(blank_input(), None, 0.0, RULE)
    assert answer["blank"] is True and answer["unsure"] is False and answer["unsure_reason"] is None


def test_the_shipped_model_reads_its_rule_from_its_card():
    calibration = json.loads(MODEL_CARD.read_text()).get("calibration")
    rule = UnsureRule.for_model(DEFAULT_MODEL)
    if calibration is None:
        assert rule == UnsureRule()
    else:
        assert rule == UnsureRule(calibration["unsure_below_confidence"], calibration["not_digit_at_or_above"])


def test_a_model_without_a_matching_card_gets_the_default_rule(tmp_path):
    copy = tmp_path / "other.tflite"
    shutil.copy(DEFAULT_MODEL, copy)
    (tmp_path / "model_card.json").write_text(json.dumps(
        {"sha256": "0" * 64, "calibration": {"unsure_below_confidence": 0.9, "not_digit_at_or_above": 0.9}}))
    assert UnsureRule.for_model(copy) == UnsureRule()
