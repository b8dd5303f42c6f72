"""The teaching lens's arrays as pictures: signed evidence on a colour-blind-safe scale, feature maps in a grid.

Evidence PNG encoding (documented in docs/lens.md): RGBA, 28x28. The hue says the sign,
orange (230, 159, 0) for the top digit and sky blue (86, 180, 233) for the runner-up
(Okabe-Ito colours: told apart by every common colour-vision type and bright on a projector's
black); alpha says the size, |value| / limit * 255. Alpha 0 is neutral. So a pixel reads back as
value = +-alpha / 255 * limit, + where red > blue.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

TOWARDS = (230, 159, 0)  # orange: evidence for the top digit
AGAINST = (86, 180, 233)  # sky blue: evidence for the runner-up


def diverging_rgba(values: np.ndarray, limit: float) -> np.ndarray:
    """(h, w) signed values to (h, w, 4) uint8 in the encoding above; |value| >= limit is opaque."""
    values = np.asarray(values, np.float64)
    share = np.clip(np.abs(values) / limit, 0.0, 1.0) if limit > 0 else np.zeros_like(values)
    rgba = np.zeros((*values.shape, 4), np.uint8)
    rgba[values > 0, :3] = TOWARDS
    rgba[values < 0, :3] = AGAINST
    rgba[..., 3] = np.round(share * 255).astype(np.uint8)
    return rgba


def decode_diverging(rgba: np.ndarray, limit: float) -> np.ndarray:
    """The inverse of `diverging_rgba` (to within 1/255 of `limit`): how a client reads a map back."""
    rgba = np.asarray(rgba, np.float64)
    sign = np.where(rgba[..., 0] > rgba[..., 2], 1.0, -1.0)
    return sign * rgba[..., 3] / 255.0 * limit


def png_data_url(pixels: np.ndarray) -> str:
    """A uint8 (h, w) gray or (h, w, 4) RGBA array as a PNG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, np.uint8)).save(buffer, "PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def mosaic(maps: np.ndarray, columns: int, scale: float, gap: int = 1) -> np.ndarray:
    """(n, h, w) feature maps as one uint8 grid picture, `columns` wide, 1 px gaps of mid grey.

    Brightness is activation / `scale` (one scale for the whole layer, so a weak map looks weak);
    the gaps are grey so that an all-dark map still shows its edge.
    """
    count, height, width = maps.shape
    rows = max(1, math.ceil(count / columns))
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), 96, np.uint8)
    levels = np.clip(maps / scale, 0.0, 1.0) * 255 if scale > 0 else np.zeros_like(maps)
    for i in range(count):
        r, c = divmod(i, columns)
        top, left = r * (height + gap), c * (width + gap)
        grid[top:top + height, left:left + width] = np.round(levels[i]).astype(np.uint8)
    return grid
