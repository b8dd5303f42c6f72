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

from ..pipeline import imaging, preprocess, strokes
from . import nondigits, restroke, synth
from .data import Mnist, cache_dir, load_mnist

SYNTHETIC_COUNT = 10_000
NOT_A_DIGIT = 10  # the eleventh class
# Writer-like training images made from MNIST's training digits, and non-digit drawings.
WRITER_COUNTS = {"pen": 12_000, "canvas": 12_000, "scan": 12_000, "other": 7_000}
VALIDATION_COUNTS = {"pen": 2_000, "canvas": 2_000, "scan": 2_000, "other": 2_000}
# Of the scans drawn back from traced strokes (half of them): 1s, 7s and 9s restyled, digits made narrow.
SCAN_RESTYLE_P, SCAN_NARROW_P = 0.7, 0.15


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


def _pipeline_fingerprint(modules: tuple = (preprocess, imaging, synth)) -> str:
    sources = b"".join(Path(getattr(module, "__file__", module)).read_bytes() for module in modules)
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


def writer_sample(kind: str, image: np.ndarray | None, seed: tuple[int, ...], label: int = -1) -> np.ndarray:
    """One writer-like model input: an MNIST digit re-drawn as `kind`, or a non-digit drawing (image None).

    pen: traced and re-drawn as pad strokes (`prepare_strokes`, what the page sends); canvas: the
    same drawn as a pad picture with a random pen (`prepare_image`); scan: low resolution or
    stretched to fill its box, upscaled; other: a non-digit, as strokes or as a picture. A re-drawn
    digit may get a feature of writers outside the US (`restroke.restyle`, by its `label`).
    """
    rng = np.random.default_rng(seed)
    pad = restroke.random_pad(rng)
    if kind == "other":
        letters = nondigits.TRAIN_LETTERS
        drawn = nondigits.to_pad(nondigits.non_digit(rng, letters), rng, pad)
        if rng.random() < 0.5:
            return strokes.prepare_strokes(drawn, pad).x
        return preprocess.prepare_image(restroke.render_pad(drawn, pad, restroke.pen_width(rng, drawn), rng)).x
    if kind == "scan":
        if rng.random() < 0.5:  # half the scans may show a restyled digit (a crossed 7 scanned, ...)
            traced = restroke.trace(restroke.skeletons(image[None])[0])
            restyled = restroke.restyle(traced, label, rng, share=SCAN_RESTYLE_P, narrow=SCAN_NARROW_P)
            if restyled != traced:
                image = restroke.as_mnist_picture(restyled, rng)
        scan = restroke.stretched_scan if rng.random() < 0.5 else restroke.low_res_scan
        picture = scan(image, rng)
        if rng.random() < 0.25:
            return preprocess.prepare_bytes(restroke.as_photo_jpeg(picture, rng)).x
        return preprocess.prepare_image(picture).x
    traced = restroke.restyle(restroke.trace(restroke.skeletons(image[None])[0]), label, rng)
    drawn = restroke.as_pen_trajectory(traced, rng, pad, tiny=rng.random() < 0.1)
    if kind == "pen":
        return strokes.prepare_strokes(drawn, pad).x
    return preprocess.prepare_image(restroke.render_pad(drawn, pad, restroke.pen_width(rng, drawn), rng)).x


def _writer_job(job: tuple) -> np.ndarray:
    return writer_sample(*job)


def writer_set(images: np.ndarray, labels: np.ndarray, counts: dict[str, int], seed: int,
               processes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`counts[kind]` writer-like inputs per kind, digits drawn in turn from `images`; non-digits labelled 10."""
    jobs, targets = [], []
    for k, (kind, count) in enumerate(counts.items()):
        for i in range(count):
            j = (i * 7919 + k * 104729) % len(images)
            jobs.append((kind, None if kind == "other" else images[j], (seed, k, i), int(labels[j])))
            targets.append(NOT_A_DIGIT if kind == "other" else int(labels[j]))
    processes = processes or os.cpu_count() or 1
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        x = np.stack(pool.map(_writer_job, jobs, chunksize=200))
    return x.astype(np.float32), np.array(targets, np.int64)


def prepared_writers(mnist_val_from: int, folder: Path | None = None) -> dict[str, np.ndarray]:
    """Writer-like training inputs from MNIST's training digits and validation ones from the held-out
    validation digits (those from `mnist_val_from` on), plus non-digits; cached like `prepared_mnist`."""
    folder = folder or cache_dir()
    fingerprint = _pipeline_fingerprint((preprocess, imaging, strokes, restroke, nondigits, Path(__file__)))
    path = folder / f"writers-{fingerprint}-{mnist_val_from}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return dict(cached)
    mnist = load_mnist(folder)
    train_images, val_images = mnist_to_uint8(mnist.train.images), mnist_to_uint8(mnist.validation.images)
    arrays = {}
    arrays["x_writers"], arrays["y_writers"] = writer_set(train_images, mnist.train.labels, WRITER_COUNTS, 1)
    arrays["x_writers_val"], arrays["y_writers_val"] = writer_set(
        val_images[mnist_val_from:], mnist.validation.labels[mnist_val_from:], VALIDATION_COUNTS, 2)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays
