"""Occlusion evidence: which ink makes the network say one digit rather than another.

Erase one small patch of the 28x28 at a time and see how much the margin between two digits
falls: ink whose loss costs the top digit its lead is evidence for it. Pure array work; the
model call is the caller's (one batch of every erased copy). Only patches holding ink are
erased: erasing background changes nothing, so those copies would be wasted model work.
"""

from __future__ import annotations

import numpy as np

FIELD = 28
INK_FLOOR = 0.05  # a patch whose ink is nowhere above this is background
_TINY = float(np.finfo(np.float32).tiny)


def patch_corners(x: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """(k, 2) top-left corners (row, col) of the patch grid's patches that hold ink."""
    starts = list(range(0, FIELD - patch + 1, stride))
    if starts[-1] != FIELD - patch:
        starts.append(FIELD - patch)  # the grid always reaches the far edges
    inked = x > INK_FLOOR
    corners = [(r, c) for r in starts for c in starts if inked[r:r + patch, c:c + patch].any()]
    return np.array(corners, np.int64).reshape(-1, 2)


def occluded(x: np.ndarray, corners: np.ndarray, patch: int) -> np.ndarray:
    """(k, 28, 28) copies of `x`, copy i with the patch at corners[i] erased to background (0)."""
    batch = np.repeat(x[None].astype(np.float32), len(corners), axis=0)
    for i, (r, c) in enumerate(corners):
        batch[i, r:r + patch, c:c + patch] = 0.0
    return batch


def log_margin(probabilities: np.ndarray, digit: int, versus: int) -> np.ndarray:
    """log p(digit) - log p(versus) per row: the logit difference, which softmax keeps exactly."""
    p = np.clip(np.asarray(probabilities, np.float64), _TINY, None)
    return np.log(p[..., digit]) - np.log(p[..., versus])


def attribution(x: np.ndarray, corners: np.ndarray, patch: int, drops: np.ndarray) -> np.ndarray:
    """Per pixel: its ink times the mean margin drop of the erased patches covering it.

    Positive: this ink argues for `digit`; negative: for `versus`; background is 0 (neutral).
    """
    total = np.zeros((FIELD, FIELD), np.float64)
    count = np.zeros((FIELD, FIELD), np.float64)
    for (r, c), drop in zip(corners, drops, strict=True):
        total[r:r + patch, c:c + patch] += drop
        count[r:r + patch, c:c + patch] += 1
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return (mean * np.clip(x, 0.0, 1.0)).astype(np.float32)
