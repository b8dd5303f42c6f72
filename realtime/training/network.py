"""The network, how it is saved, and its export to LiteRT, which is what the server runs.

A compact VGG-style CNN: two conv stages with batch norm, a strided conv in
place of a third pool, and a small dense head (see docs/model.md for its figures).
Eleven outputs: the ten digits and "not a digit". The logits are divided by a
temperature before the softmax: 1 in training, the one fitted on validation data
(`calibrate.py`) in the saved model, so the served probabilities are calibrated.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf
from keras import layers

from ..paths import KERAS_MODEL

INPUT_SHAPE = (28, 28, 1)


def _conv(x, filters: int, kernel: int = 3, strides: int = 1):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def build_model(name: str = "digits_cnn", classes: int = 11, temperature: float = 1.0,
                base_filters: int = 24) -> keras.Model:
    inputs = keras.Input(INPUT_SHAPE, name="ink")
    x = _conv(inputs, base_filters, kernel=5)
    x = layers.MaxPooling2D()(x)                      # 14x14
    x = _conv(x, 2 * base_filters)
    x = _conv(x, 2 * base_filters)
    x = layers.MaxPooling2D()(x)                      # 7x7
    x = _conv(x, 4 * base_filters)
    x = _conv(x, 4 * base_filters, strides=2)         # 4x4
    x = layers.Flatten()(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(128, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(classes, name="logits")(x)
    x = layers.Rescaling(1.0 / temperature, name="temperature")(x)
    outputs = layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def describe(model: keras.Model) -> str:
    """The architecture in one line, read from the model itself (the card's text, never retyped)."""
    parts, norms, dropouts = [], 0, set()
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            kernel, stride = layer.kernel_size[0], layer.strides[0]
            parts.append(f"conv{kernel}x{kernel}({layer.filters}{f',/{stride}' if stride > 1 else ''})")
        elif isinstance(layer, layers.MaxPooling2D):
            parts.append("pool")
        elif isinstance(layer, layers.Dense):
            parts.append(f"dense({layer.units})")
        elif isinstance(layer, layers.Rescaling):
            parts.append("/T")
        elif isinstance(layer, layers.Softmax):
            parts.append("softmax")
        elif isinstance(layer, layers.BatchNormalization):
            norms += 1
        elif isinstance(layer, layers.Dropout):
            dropouts.add(layer.rate)
    rates = ", ".join(f"{rate:g}" for rate in sorted(dropouts))
    return (f"{'-'.join(parts).replace('-/T', '/T')}; {norms} batch-norm layers (after every conv and the hidden "
            f"dense layer); dropout {rates}; outputs: digits 0-9 and 'not a digit'")


def save_for_serving(model: keras.Model, path: Path, temperature: float = 1.0) -> None:
    """Save weights and architecture only, with the given temperature.

    A fresh, never compiled copy: a model that has been compiled and trained writes its optimizer's
    state into `model.weights.h5` too (what made the first digits.keras three times its weights).
    """
    classes = model.output_shape[-1]
    base_filters = next(layer.filters for layer in model.layers if isinstance(layer, layers.Conv2D))
    export = build_model(model.name, classes=classes, temperature=temperature, base_filters=base_filters)
    export.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    export.save(path)


def load_model(path: Path | str = KERAS_MODEL) -> keras.Model:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}; train one with `python -m realtime.training.train`")
    return keras.models.load_model(path, compile=False)


def to_litert(model: keras.Model) -> bytes:
    """The Keras model as a LiteRT (TensorFlow Lite) flatbuffer, float32 as trained: no quantisation.

    The converter exports a SavedModel to a temporary folder on the way and prints its whole
    signature; that listing is kept out of the server's output.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()
