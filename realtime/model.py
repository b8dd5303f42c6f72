"""The network, how it is saved, and the compiled call the server makes.

A compact VGG-style CNN: two conv stages with batch norm, a strided conv in
place of a third pool, and a small dense head. About 356k parameters (1.4 MB),
~45 s an epoch on 2 CPU cores; served through XLA-compiled calls.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from keras import layers

MODEL_DIR = Path(__file__).resolve().parent / "model"
DEFAULT_MODEL = MODEL_DIR / "digits.keras"
MODEL_CARD = MODEL_DIR / "model_card.json"
INPUT_SHAPE = (28, 28, 1)


def _conv(x, filters: int, kernel: int = 3, strides: int = 1):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def build_model(name: str = "digits_cnn") -> keras.Model:
    inputs = keras.Input(INPUT_SHAPE, name="ink")
    x = _conv(inputs, 24, kernel=5)
    x = layers.MaxPooling2D()(x)                      # 14x14
    x = _conv(x, 48)
    x = _conv(x, 48)
    x = layers.MaxPooling2D()(x)                      # 7x7
    x = _conv(x, 96)
    x = _conv(x, 96, strides=2)                       # 4x4
    x = layers.Flatten()(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def save_for_serving(model: keras.Model, path: Path) -> None:
    """Save weights and architecture only: no optimizer state, so the file stays small."""
    export = keras.models.clone_model(model)
    export.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    export.save(path)


def load_model(path: Path | str = DEFAULT_MODEL) -> keras.Model:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}; train one with `python -m realtime.train`")
    return keras.models.load_model(path, compile=False)


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# Batches are padded up to one of these sizes: XLA compiles one program per input shape.
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


def limit_cpu_threads(threads: int) -> None:
    """Cap the CPU threads TensorFlow runs one call on (0 = TensorFlow's default: every core).

    The server's event loop and the image decoding need a core of their own; a model call
    spread over every core competes with them and, for one 28x28 image, is slower anyway
    (measured on 2 cores: 1.2 ms a call on two threads, 0.65 ms on one). Takes effect only
    before TensorFlow has run anything in this process.
    """
    if threads <= 0:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started (a second app in the same process)
        pass


class Predictor:
    """The model compiled with XLA, one program per batch size in BATCH_SIZES.

    `model.predict` builds a tf.data pipeline on every call (~47 ms for one image); a
    traced tf.function ~1.5 ms, and with XLA fusing the layers ~0.9 ms (one thread, 2 cores).
    """

    def __init__(self, model: keras.Model, jit_compile: bool = True) -> None:
        self.model = model
        self._call = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
            jit_compile=jit_compile,
        )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(n, 28, 28) or (n, 28, 28, 1) float32 in, (n, 10) probabilities out."""
        batch = np.asarray(batch, np.float32).reshape((-1, *INPUT_SHAPE))
        largest = BATCH_SIZES[-1]
        parts = [self._padded_call(batch[start:start + largest]) for start in range(0, len(batch), largest)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)

    def _padded_call(self, part: np.ndarray) -> np.ndarray:
        count = len(part)
        size = next(size for size in BATCH_SIZES if size >= count)
        if size > count:
            part = np.concatenate([part, np.zeros((size - count, *INPUT_SHAPE), np.float32)])
        return self._call(tf.constant(part)).numpy()[:count]

    def warm_up(self, batch_sizes: tuple[int, ...] = BATCH_SIZES) -> None:
        """Compile every program now, so that no request waits for a compilation."""
        for size in batch_sizes:
            self(np.zeros((size, *INPUT_SHAPE), np.float32))
