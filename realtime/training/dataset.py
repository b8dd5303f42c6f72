"""MNIST passed through the serving pipeline, once, and cached.

The model must be trained on exactly what the server will feed it, so every
MNIST image goes through `preprocess.prepare_image` too. That takes a minute
on two cores; the result is cached next to the wheel, keyed by the source of
the preprocessing code so that a change to it invalidates the cache.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..pipeline import imaging, preprocess
from . import synth
from .data import Mnist, cache_dir, load_mnist

SYNTHETIC_COUNT = 10_000


def mnist_to_uint8(images: np.ndarray) -> np.ndarray:
    """MNIST floats are k/256; this gives back the original bytes."""
    return np.clip(np.rint(images * 256.0), 0, 255).astype(np.uint8)


def prepare_uint8(image: np.ndarray) -> np.ndarray:
    return preprocess.prepare_image(Image.fromarray(image, "L")).x


def prepare_many(images: np.ndarray, processes: int | None = None) -> np.ndarray:
    """Run the serving pipeline over many 8-bit images, on every core (fork, before TF loads)."""
    processes = processes or os.cpu_count() or 1
    if processes == 1 or len(images) < 2000:
        return np.stack([prepare_uint8(image) for image in images])
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return np.stack(pool.map(prepare_uint8, images, chunksize=500))


def _pipeline_fingerprint() -> str:
    sources = b"".join(Path(module.__file__).read_bytes() for module in (preprocess, imaging, synth))
    return hashlib.sha256(sources).hexdigest()[:12]


def prepared_mnist(folder: Path | None = None, mnist: Mnist | None = None) -> dict[str, np.ndarray]:
    """x_train, y_train, x_val, y_val, x_test, y_test, x_synth, y_synth, all through the serving pipeline."""
    folder = folder or cache_dir()
    path = folder / f"prepared-{_pipeline_fingerprint()}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return dict(cached)
    mnist = mnist or load_mnist(folder)
    arrays = {}
    for name, split in (("train", mnist.train), ("val", mnist.validation), ("test", mnist.test)):
        arrays[f"x_{name}"] = prepare_many(mnist_to_uint8(split.images))
        arrays[f"y_{name}"] = split.labels
    synthetic, labels = synth.synthetic_set(SYNTHETIC_COUNT)
    arrays["x_synth"], arrays["y_synth"] = prepare_many(synthetic), labels
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays
