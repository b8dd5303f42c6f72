"""Temperature scaling and the unsure thresholds: what they promise, on made-up model outputs."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.training import calibrate


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _overconfident(n: int = 4000, true_temperature: float = 2.5, seed: int = 0):
    """Outputs of a model whose logits are `true_temperature` times too large: labels drawn from the truth."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, 11))
    logits[:, 10] -= 4  # "not a digit" unlikely
    truth = _softmax(logits[:, :10])
    labels = np.array([rng.choice(10, p=p) for p in truth])
    return _softmax(logits * true_temperature), labels


def test_rescale_is_a_softmax_of_logits_over_t():
    logits = np.random.default_rng(1).normal(0, 3, (5, 11))
    np.testing.assert_allclose(calibrate.rescale(_softmax(logits), 2.0), _softmax(logits / 2.0), atol=1e-9)
    np.testing.assert_allclose(calibrate.rescale(_softmax(logits), 1.0), _softmax(logits), atol=1e-9)


def test_fitted_temperature_undoes_overconfidence_and_lowers_ece():
    scores, labels = _overconfident()
    temperature = calibrate.fit_temperature(scores, labels)
    assert temperature == pytest.approx(2.5, rel=0.15)
    before = calibrate.honesty_report(scores, labels, calibrate.Thresholds(0.5, 0.5))
    after = calibrate.honesty_report(calibrate.rescale(scores, temperature), labels, calibrate.Thresholds(0.5, 0.5))
    assert after["ece"] < before["ece"] / 3
    assert after["accuracy"] == before["accuracy"]  # a temperature never changes an answer


def test_ece_is_zero_when_confidence_matches_accuracy_and_the_gap_otherwise():
    confidence = np.full(1000, 0.75)
    assert calibrate.expected_calibration_error(confidence, np.arange(1000) % 4 != 0) == pytest.approx(0.0)
    assert calibrate.expected_calibration_error(confidence, np.ones(1000, bool)) == pytest.approx(0.25)


def test_digit_probabilities_drop_the_not_digit_output_and_sum_to_one():
    scores = np.array([[0.1, 0.3] + [0.0] * 8 + [0.6]])
    np.testing.assert_allclose(calibrate.digit_probabilities(scores), [[0.25, 0.75] + [0.0] * 8])


def test_the_not_digit_budget_holds_for_every_kind_of_validation_digit():
    """Pooled, 1% of scans flagged hides under 0.5% of all digits; by kind, no kind may pass the budget."""
    rng = np.random.default_rng(4)
    scores = np.zeros((4000, 11))
    scores[:, 3] = 1.0
    labels = np.full(4000, 3)
    kinds = np.repeat(["mnist", "scan"], [3000, 1000])
    scores[:3000, 10] = rng.uniform(0.0, 0.05, 3000)
    scores[3000:, 10] = rng.uniform(0.0, 0.4, 1000)  # scans look less like digits
    pooled = calibrate.choose_thresholds(scores, labels)
    by_kind = calibrate.choose_thresholds(scores, labels, kinds)
    for kind in ("mnist", "scan"):
        flagged = np.mean(scores[kinds == kind, 10] >= by_kind.not_digit)
        assert flagged <= calibrate.DIGIT_FLAG_BUDGET + 0.001, kind  # + the threshold's rounding to 0.001
    assert np.mean(scores[kinds == "scan", 10] >= pooled.not_digit) >= 3 * calibrate.DIGIT_FLAG_BUDGET


def test_thresholds_keep_within_their_budgets_on_the_data_they_were_chosen_on():
    scores, labels = _overconfident(seed=3)
    others = np.zeros((500, 11))
    others[:, 10], others[:, 0] = 0.9, 0.1
    scores, labels = np.concatenate([scores, others]), np.concatenate([labels, np.full(500, 10)])
    thresholds = calibrate.choose_thresholds(scores, labels)
    report = calibrate.honesty_report(scores, labels, thresholds)
    assert report["flagged_not_digit"] <= calibrate.DIGIT_FLAG_BUDGET + 1e-9
    assert report["non_digits_flagged"] == 1.0
    assert 0.4 <= thresholds.confidence <= 0.9
