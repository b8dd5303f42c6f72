"""Small statistics helpers (no numpy, so client processes stay light)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of already-sorted or unsorted values."""
    if not values:
        return None
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    position = (len(data) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


def summary_ms(seconds: Iterable[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/mean/min/max in milliseconds of durations given in seconds."""
    values = sorted(v * 1000.0 for v in seconds)
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None, "min": None, "max": None}
    return {
        "n": len(values),
        "p50": _round(percentile(values, 50)),
        "p95": _round(percentile(values, 95)),
        "p99": _round(percentile(values, 99)),
        "mean": _round(sum(values) / len(values)),
        "min": _round(values[0]),
        "max": _round(values[-1]),
    }


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, digits)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
