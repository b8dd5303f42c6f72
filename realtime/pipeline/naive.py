"""What the tutorials feed the network: grayscale, squash to 28x28, invert. Nothing else.

Kept as the foil for our own preprocessing: the benchmark's baseline server uses it, and the
page's teaching lens shows what the same network says to it. No cropping, no centring, no
aspect ratio, no stroke width, no polarity check: a transparent canvas reads as black.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

FIELD = 28


def naive_input(image: Image.Image) -> np.ndarray:
    """The tutorial's 28x28 float32 in [0, 1] (1 = white) of a picture, exactly as they make it."""
    small = ImageOps.invert(image.convert("L").resize((FIELD, FIELD)))
    return np.asarray(small, np.float32) / 255.0
