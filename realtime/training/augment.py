"""Training-time augmentation: the ways real drawings differ from MNIST after preprocessing.

Everything runs as batched TensorFlow ops inside the tf.data pipeline. Inputs are
already normalised (20x20 box, centred by mass), so the transforms are the
variation that survives normalisation: slant and rotation, aspect ratio, a
pixel or two of placement, stroke weight, wobbly strokes (elastic distortion)
and the softness of the pen.
"""

from __future__ import annotations

import math

import tensorflow as tf

SIZE = 28
KEEP_CLEAN = 0.2  # share of images left as they are, so the model also sees undistorted digits
ROTATION_DEG, SHEAR, SCALE, ASPECT, SHIFT_PX = 13.0, 0.3, (0.8, 1.1), (0.9, 1.1), 1.5
ELASTIC_ALPHA, ELASTIC_P = 1.6, 0.4
HEAVIER_P, LIGHTER_P = 0.2, 0.1  # pens a pixel heavier or lighter
GAMMA_LOG = 0.4  # ink gamma within exp(+-GAMMA_LOG)
DESCRIPTION = (f"rotation +-{ROTATION_DEG:g} deg, shear +-{SHEAR:g}, scale {SCALE[0]:g}-{SCALE[1]:g} with aspect "
               f"{ASPECT[0]:g}-{ASPECT[1]:g}, translation +-{SHIFT_PX:g} px, elastic distortion (p={ELASTIC_P:g}), "
               f"stroke weight (dilate p={HEAVIER_P:g}, erode p={LIGHTER_P:g}), ink gamma; "
               f"{KEEP_CLEAN:.0%} of images left unchanged")


def augment(images: tf.Tensor, seed: tf.Tensor | None = None, keep_clean: float = KEEP_CLEAN) -> tf.Tensor:
    """(b, 28, 28, 1) float in [0,1] to an augmented batch of the same shape."""
    x = _random_affine(images)
    x = _elastic(x, alpha=ELASTIC_ALPHA, probability=ELASTIC_P)
    x = _stroke_weight(x)
    x = _pen_softness(x)
    clean = tf.random.uniform([tf.shape(images)[0], 1, 1, 1]) < keep_clean
    return tf.where(clean, images, tf.clip_by_value(x, 0.0, 1.0))


def mix(images: tf.Tensor, labels: tf.Tensor, alpha: float, classes: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Mixup: each image blended with another of its batch, its one-hot label in the same proportion.

    An ablation (`train.py --mixup`): meant to make wrong answers less sure, it made them surer and
    flagged fewer non-digits (docs/model.md). Each image keeps the larger share (the share is
    Beta(alpha, alpha), folded above one half), so its label stays the one that wins.
    """
    batch = tf.shape(images)[0]
    first, second = tf.random.gamma([batch], alpha), tf.random.gamma([batch], alpha)
    share = first / tf.maximum(first + second, 1e-12)
    share = tf.maximum(share, 1.0 - share)
    partner = tf.random.shuffle(tf.range(batch))
    one_hot = tf.one_hot(labels, classes)
    blended = share[:, None, None, None] * images + (1.0 - share[:, None, None, None]) * tf.gather(images, partner)
    return blended, share[:, None] * one_hot + (1.0 - share[:, None]) * tf.gather(one_hot, partner)


def _uniform(batch, low, high):
    return tf.random.uniform([batch], low, high)


def _random_affine(x: tf.Tensor) -> tf.Tensor:
    b = tf.shape(x)[0]
    angle = _uniform(b, -ROTATION_DEG, ROTATION_DEG) * (math.pi / 180)
    shear = _uniform(b, -SHEAR, SHEAR)
    scale_x = _uniform(b, *SCALE)
    scale_y = scale_x * _uniform(b, *ASPECT)
    shift_x, shift_y = _uniform(b, -SHIFT_PX, SHIFT_PX), _uniform(b, -SHIFT_PX, SHIFT_PX)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # forward map A = R @ Shear @ Scale; the op wants output->input, so invert A.
    a00 = scale_x * cos
    a01 = scale_y * (cos * shear - sin)
    a10 = scale_x * sin
    a11 = scale_y * (sin * shear + cos)
    det = a00 * a11 - a01 * a10
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    c = (SIZE - 1) / 2.0
    ox, oy = c + shift_x, c + shift_y
    tx = c - (i00 * ox + i01 * oy)
    ty = c - (i10 * ox + i11 * oy)
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([i00, i01, tx, i10, i11, ty, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=[SIZE, SIZE],
        interpolation="BILINEAR", fill_mode="CONSTANT", fill_value=0.0)


def _elastic(x: tf.Tensor, alpha: float, probability: float) -> tf.Tensor:
    """Smooth random displacement (Simard et al. 2003), up to ~alpha pixels."""
    b = tf.shape(x)[0]
    coarse = tf.random.uniform([b, 5, 5, 2], -1.0, 1.0)
    field = tf.image.resize(coarse, [SIZE, SIZE], method="bicubic") * alpha
    field *= tf.cast(tf.random.uniform([b, 1, 1, 1]) < probability, tf.float32)
    return _warp(x, field)


def _warp(x: tf.Tensor, field: tf.Tensor) -> tf.Tensor:
    """Bilinear sampling of x at (y + dy, x + dx)."""
    b = tf.shape(x)[0]
    grid_y, grid_x = tf.meshgrid(tf.range(SIZE, dtype=tf.float32), tf.range(SIZE, dtype=tf.float32),
                                 indexing="ij")
    sy = grid_y[None] + field[..., 0]
    sx = grid_x[None] + field[..., 1]
    y0, x0 = tf.floor(sy), tf.floor(sx)
    wy, wx = sy - y0, sx - x0
    padded = tf.pad(x[..., 0], [[0, 0], [1, 1], [1, 1]])  # out of range reads zero

    def tap(yy, xx):
        yi = tf.cast(tf.clip_by_value(yy + 1, 0, SIZE + 1), tf.int32)
        xi = tf.cast(tf.clip_by_value(xx + 1, 0, SIZE + 1), tf.int32)
        batch_index = tf.broadcast_to(tf.range(b)[:, None, None], tf.shape(yi))
        return tf.gather_nd(padded, tf.stack([batch_index, yi, xi], axis=-1))

    out = ((1 - wy) * (1 - wx) * tap(y0, x0) + (1 - wy) * wx * tap(y0, x0 + 1)
           + wy * (1 - wx) * tap(y0 + 1, x0) + wy * wx * tap(y0 + 1, x0 + 1))
    return out[..., None]


def _stroke_weight(x: tf.Tensor) -> tf.Tensor:
    """Some pens are heavier, some lighter: grey dilation or erosion by one pixel."""
    b = tf.shape(x)[0]
    heavier = tf.nn.max_pool2d(x, 3, 1, "SAME")
    heavier = 0.5 * (heavier + x)
    lighter = -tf.nn.max_pool2d(-x, 2, 1, "SAME")
    choice = tf.random.uniform([b, 1, 1, 1])
    return tf.where(choice < HEAVIER_P, heavier, tf.where(choice > 1 - LIGHTER_P, tf.maximum(lighter, 0.6 * x), x))


def _pen_softness(x: tf.Tensor) -> tf.Tensor:
    """A hard marker edge or a soft pencil: random gamma on the ink."""
    b = tf.shape(x)[0]
    gamma = tf.exp(tf.random.uniform([b, 1, 1, 1], -GAMMA_LOG, GAMMA_LOG))
    return tf.pow(x + 1e-6, gamma)
