"""Honest probabilities: temperature scaling and the `unsure` thresholds, fitted on validation data only.

A network trained with cross-entropy is over-confident on inputs unlike its training
data: its top probability says 0.99 where it is right far less often. Dividing the
logits by one temperature, chosen to minimise the negative log-likelihood of held-out
validation digits (Guo et al., 2017), fixes most of that without changing any answer.
The model's output is a softmax, so its logarithm is the logits up to a constant, which
a softmax ignores: the temperature can be fitted on the probabilities themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOT_A_DIGIT = 10
TEMPERATURES = np.exp(np.linspace(np.log(0.5), np.log(5.0), 161))
# The not-digit flag may fire on at most this share of validation digits ...
DIGIT_FLAG_BUDGET = 0.005
# ... and "low confidence" on at most this share of validation digits read right.
CONFIDENT_FLAG_BUDGET = 0.02


def rescale(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T): what the model with temperature T outputs, from its T = 1 output."""
    logits = np.log(np.clip(np.asarray(probabilities, np.float64), 1e-30, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def digit_probabilities(scores: np.ndarray) -> np.ndarray:
    """The ten digits' probabilities out of the model's eleven outputs (the served ones)."""
    digits = np.asarray(scores, np.float64)[:, :10]
    return digits / np.clip(digits.sum(axis=1, keepdims=True), 1e-30, None)


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of the served digit probabilities, on digit images only."""
    digits = labels < NOT_A_DIGIT
    losses = [nll(digit_probabilities(rescale(scores[digits], t)), labels[digits]) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-30, None))))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: the gap between confidence and accuracy, averaged over 10 equal-width bins by their share."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(gap)


@dataclass(frozen=True)
class Thresholds:
    confidence: float  # unsure ("low_confidence") below this calibrated confidence
    not_digit: float  # unsure ("not_a_digit") at or above this not-digit probability


def choose_thresholds(scores: np.ndarray, labels: np.ndarray, kinds: np.ndarray | None = None) -> Thresholds:
    """Both thresholds from calibrated validation outputs, within the flag budgets above.

    With `kinds` (what each validation image is: MNIST, pen, scan...), the not-digit budget holds for
    every kind of digit, not only on average: a squashed scan looks less like a digit than a clean
    MNIST one, and pooled, the many clean ones hid twice the budget on scans.
    """
    digits = labels < NOT_A_DIGIT
    kinds = np.zeros(len(labels), int) if kinds is None else np.asarray(kinds)
    not_digit_threshold = 0.1
    for kind in np.unique(kinds[digits]):
        not_digit = scores[digits & (kinds == kind), NOT_A_DIGIT]
        not_digit_threshold = max(not_digit_threshold, float(np.quantile(not_digit, 1 - DIGIT_FLAG_BUDGET)))
    probabilities = digit_probabilities(scores[digits])
    right = probabilities.argmax(axis=1) == labels[digits]
    confidence = probabilities.max(axis=1)[right]
    confidence_threshold = float(np.clip(np.quantile(confidence, CONFIDENT_FLAG_BUDGET), 0.4, 0.9))
    return Thresholds(round(confidence_threshold, 3), round(not_digit_threshold, 3))


def honesty_report(scores: np.ndarray, labels: np.ndarray, thresholds: Thresholds) -> dict:
    """Accuracy, ECE, wrong-and-sure rate and flag rates of calibrated outputs on one labelled set."""
    digits = labels < NOT_A_DIGIT
    report: dict[str, float | int] = {"digits": int(digits.sum()), "non_digits": int((~digits).sum())}
    flagged = scores[:, NOT_A_DIGIT] >= thresholds.not_digit
    if digits.any():
        probabilities = digit_probabilities(scores[digits])
        confidence = probabilities.max(axis=1)
        correct = probabilities.argmax(axis=1) == labels[digits]
        report.update(
            accuracy=round(float(correct.mean()), 5),
            ece=round(expected_calibration_error(confidence, correct), 5),
            wrong_confident=round(float(np.mean(~correct & (confidence >= 0.9))), 5),
            flagged_not_digit=round(float(flagged[digits].mean()), 5),
            flagged_low_confidence=round(float(np.mean(~flagged[digits] & (confidence < thresholds.confidence))), 5),
            errors_caught=round(float(np.mean((flagged[digits] | (confidence < thresholds.confidence))[~correct]))
                                if (~correct).any() else 1.0, 5))
    if (~digits).any():
        report["non_digits_flagged"] = round(float(flagged[~digits].mean()), 5)
    return report
