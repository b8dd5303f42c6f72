"""The network, how it is saved, and the compiled call the server makes.

A compact VGG-style CNN: two conv stages with batch norm, a strided conv in
place of a third pool, and a small dense head. About 356k parameters (1.4 MB),
~45 s an epoch on 2 CPU cores; served by LiteRT (see `Predictor`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from .workers import os_threading

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


# Batches are padded up to one of these sizes: one interpreter, with its buffers, per size.
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
# Batches smaller than this run on one thread whatever `threads` says: splitting a few images
# over cores costs more in hand-offs than it saves (1 image: 0.30 ms on one thread, slower on two).
PARALLEL_FROM = 8


def limit_cpu_threads(threads: int) -> None:
    """Cap the CPU threads TensorFlow itself runs one call on (0 = TensorFlow's default: every core).

    Serving runs on LiteRT (see `Predictor`), which takes its own thread count; this keeps
    TensorFlow's pools (used at start-up to convert the model) as small. Takes effect only
    before TensorFlow has run anything in this process.
    """
    if threads <= 0:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started (a second app in the same process)
        pass


def to_litert(model: keras.Model) -> bytes:
    """The Keras model as a LiteRT (TensorFlow Lite) flatbuffer, float32 as trained: no quantisation.

    The converter exports a SavedModel to a temporary folder on the way and prints its whole
    signature; that listing is kept out of the server's output.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


class Predictor:
    """The Keras model, converted once at start-up, run by the LiteRT interpreter (XNNPACK kernels).

    Measured on 2 cores, one thread, one 28x28 image: `model.predict` ~47 ms (a tf.data pipeline
    every call), a tf.function compiled with XLA 0.73 ms, LiteRT 0.30 ms; and with the CPU idle
    for 50 ms between calls, as between a drawing's frames, XLA 2.1 ms and LiteRT 0.49 ms: the
    TensorFlow runtime has far more code to bring back into the caches. A batch of 32: XLA
    14.2 ms, LiteRT 10.6 ms. Outputs agree with Keras to 1e-6. `invoke` releases the GIL, so
    the event loop runs on while the model does.
    """

    def __init__(self, model: keras.Model, threads: int = 0) -> None:
        """`threads`: CPU threads for a batch of PARALLEL_FROM images or more (0: every core)."""
        from ai_edge_litert.interpreter import Interpreter

        self.model = model
        self.threads = threads
        self._flatbuffer = to_litert(model)
        self._interpreter_class = Interpreter
        self._interpreters: dict[int, tuple[Any, int, int]] = {}
        # An interpreter runs one call at a time. A real OS lock: the callers are OS threads, and
        # under eventlet a plain threading.Lock is a green one that cannot block an OS thread.
        self._lock = os_threading().Lock()

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
        with self._lock:
            interpreter, input_index, output_index = self._interpreter(size)
            interpreter.set_tensor(input_index, np.ascontiguousarray(part))
            interpreter.invoke()
            return interpreter.get_tensor(output_index)[:count].copy()

    def _interpreter(self, size: int) -> tuple[Any, int, int]:
        if size not in self._interpreters:
            num_threads = 1 if size < PARALLEL_FROM else self.threads if self.threads > 0 else (os.cpu_count() or 1)
            interpreter = self._interpreter_class(model_content=self._flatbuffer, num_threads=num_threads)
            input_index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(input_index, [size, *INPUT_SHAPE])
            interpreter.allocate_tensors()
            self._interpreters[size] = (interpreter, input_index, interpreter.get_output_details()[0]["index"])
        return self._interpreters[size]

    def warm_up(self, batch_sizes: tuple[int, ...] = BATCH_SIZES) -> None:
        """Build every interpreter and run it once now, so that no request waits for that."""
        for size in batch_sizes:
            self(np.zeros((size, *INPUT_SHAPE), np.float32))
