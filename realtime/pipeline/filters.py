"""Generic array filters on float32 images: histogram quantiles, max/min squares, 3x3 sums.

Written with NumPy alone (no SciPy or OpenCV on the serving path), each shaped for the
pipeline's sizes: a few hundred pixels a side, called a few times per picture.
"""

from __future__ import annotations

import math

import numpy as np


def quantiles(values: np.ndarray, percents: tuple[float, ...], extra: tuple[float, int] = (0.0, 0)) -> list[float]:
    """Percentiles of values in [0, 1], to 1/1024: each the 1024-level bin of the value at its rank.

    `extra` is (value, count): that many more values, all equal, not worth an array. One percentile,
    or a few of a small array, is picked by selection (`np.partition`); many values at once come from
    a histogram (~10x cheaper than sorting). Both give the same bin, as the binning is monotonic.
    """
    if not extra[1] and values.size and (len(percents) == 1 or values.size <= _SELECT_BELOW):
        flat = values.ravel()
        ranks = [math.floor(p / 100.0 * (flat.size - 1)) for p in percents]
        return (_bins(np.partition(flat, ranks)[ranks]) / 1023.0).tolist()
    return _from_histogram(np.bincount(_bins(values).ravel(), minlength=1024), percents, extra)


def level_quantiles(levels: np.ndarray, percents: tuple[float, ...],
                    extra: tuple[float, int] = (0.0, 0), counts: np.ndarray | None = None) -> list[float]:
    """`quantiles` of `levels / 255` for 8-bit `levels` (an opaque picture's luminance): the same bins,
    counted over the 256 levels first, without a float copy of the picture; `counts`, when given, are
    those levels' `level_counts` already made."""
    counts = level_counts(levels) if counts is None else counts
    return _from_histogram(np.bincount(_LEVEL_BINS, weights=counts, minlength=1024), percents, extra)


def level_counts(levels: np.ndarray) -> np.ndarray:
    """How many of the 8-bit `levels` are at each of the 256 levels.

    `np.bincount` (and Pillow's `histogram`) add one to a counter per value, and a picture that is mostly
    one level makes each addition wait for the one before: 2.3 ns a pixel. The first pixel's level (a
    corner: usually the background's) is counted by one vectorised comparison, the rest by `bincount`.
    """
    flat = levels.ravel()
    if not flat.size:
        return np.zeros(256, np.intp)
    others = flat[flat != flat[0]]
    counts = np.bincount(others, minlength=256)
    counts[flat[0]] += flat.size - others.size
    return counts


def _from_histogram(histogram: np.ndarray, percents: tuple[float, ...], extra: tuple[float, int]) -> list[float]:
    level, count = extra
    if count:
        histogram[_bins(np.array([level], np.float32))[0]] += count
    counts = np.cumsum(histogram)
    ranks = np.array(percents, np.float64) / 100.0 * (counts[-1] - 1)
    return (np.searchsorted(counts, ranks, side="right") / 1023.0).tolist()


_SELECT_BELOW = 3000  # beyond this, three ranks of a skewed array select slower than a histogram counts


def _bins(values: np.ndarray) -> np.ndarray:
    """Each value's bin of 1024 over [0, 1], by rounding (float32, as the values)."""
    bins = values * np.float32(1023.0)
    bins += np.float32(0.5)
    np.minimum(np.maximum(bins, np.float32(0.5), out=bins), np.float32(1023.5), out=bins)
    return bins.astype(np.intp)


LEVEL_VALUES = np.arange(256, dtype=np.uint8).astype(np.float32) / 255.0  # as `Gray` makes its pixels from 8 bits
_LEVEL_BINS = _bins(LEVEL_VALUES)


def extreme_filter(a: np.ndarray, size: int, *, maximum: bool) -> np.ndarray:
    """Max (or min) over a size x size square, edges repeated: PIL's MaxFilter/MinFilter, exactly,
    but separable (two 1-D passes) and so several times faster; O(1) a pixel for big squares."""
    out = np.array(a, np.float32)
    for axis in (1, 0):
        out = _running_extreme(out, size, axis, maximum)
    return out


def _running_extreme(a: np.ndarray, size: int, axis: int, maximum: bool) -> np.ndarray:
    """1-D running max/min along an axis over `size` samples centred on each (clipped at the ends)."""
    pick = np.maximum if maximum else np.minimum
    half = size // 2
    if half == 0:
        return a
    if half <= 3:  # a few shifted comparisons, along either axis (a transposed copy would cost more)
        out = a.copy()
        for d in range(1, half + 1):
            later, earlier = [slice(None)] * 2, [slice(None)] * 2
            later[axis], earlier[axis] = slice(d, None), slice(None, -d)
            pick(out[tuple(later)], a[tuple(earlier)], out=out[tuple(later)])
            pick(out[tuple(earlier)], a[tuple(later)], out=out[tuple(earlier)])
        return out
    if axis == 0:
        return _running_extreme(a.T, size, 1, maximum).T
    # van Herk / Gil-Werman: running extremes within blocks of `window` samples, from the left
    # and from the right; any window is then one block's tail plus the next block's head.
    window = 2 * half + 1
    rows, n = a.shape
    blocks = -(-(n + 2 * half) // window)
    fill = -np.inf if maximum else np.inf
    padded = np.full((rows, blocks * window), fill, np.float32)
    padded[:, half:half + n] = a
    padded = padded.reshape(rows, blocks, window)
    from_left = pick.accumulate(padded, axis=2).reshape(rows, -1)
    from_right = pick.accumulate(padded[:, :, ::-1], axis=2)[:, :, ::-1].reshape(rows, -1)
    return pick(from_right[:, :n], from_left[:, window - 1:window - 1 + n])


def block_extreme(a: np.ndarray, step: int, *, maximum: bool) -> np.ndarray:
    """Max (or min; for booleans, any or all) over each step x step block of `a`, whose sides are multiples of
    `step`. The same as `a.reshape(h // step, step, w // step, step).max(axis=(1, 3))`, but one strided pass per
    offset in the block: NumPy reduces over two strided axes element by element, some 30 times slower."""
    pick = np.maximum if maximum else np.minimum
    out = a[::step, ::step].copy()
    for row in range(step):
        for col in range(step):
            if row or col:
                pick(out, a[row::step, col::step], out=out)
    return out


def clip_unit(a: np.ndarray) -> np.ndarray:
    """`a` clipped to [0, 1] in place (and returned): `np.clip`'s result without its Python-level wrapper."""
    return np.minimum(np.maximum(a, 0.0, out=a), 1.0, out=a)


def blur3(a: np.ndarray) -> np.ndarray:
    """Mean over each 3x3 square, edges repeated."""
    padded = np.empty((a.shape[0] + 2, a.shape[1] + 2), a.dtype)  # np.pad(a, 1, mode="edge"), without its
    padded[1:-1, 1:-1] = a                                          # Python-level machinery (~25 us a call)
    padded[0, 1:-1], padded[-1, 1:-1] = a[0], a[-1]
    padded[:, 0], padded[:, -1] = padded[:, 1], padded[:, -2]
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    return ((rows[:-2] + rows[1:-1] + rows[2:]) / 9.0).astype(np.float32)


def neighbours(mask: np.ndarray) -> np.ndarray:
    """How many of each pixel's 3x3 neighbourhood (itself included) are set."""
    count = mask.astype(np.uint8)
    rows = count.copy()
    rows[:, 1:] += count[:, :-1]
    rows[:, :-1] += count[:, 1:]
    total = rows.copy()
    total[1:] += rows[:-1]
    total[:-1] += rows[1:]
    return total


def pad_zeros(a: np.ndarray, margin: int) -> np.ndarray:
    """`np.pad(a, margin)` (zeros all round), without its Python-level machinery."""
    padded = np.zeros((a.shape[0] + 2 * margin, a.shape[1] + 2 * margin), a.dtype)
    padded[margin:margin + a.shape[0], margin:margin + a.shape[1]] = a
    return padded
