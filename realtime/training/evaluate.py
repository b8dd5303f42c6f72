"""Evaluate a model through the exact serving pipeline: `python -m realtime.evaluate`.

Every image goes in as encoded bytes, as the server receives it (PNG for MNIST,
PNG or JPEG for the out-of-distribution sets of `oodsets.py`), through
`preprocess.prepare_bytes` and the compiled predictor, in batches.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from ..pipeline.preprocess import prepare_bytes
from . import oodsets

ALL_SETS = ("mnist", "blank", *oodsets.SET_NAMES)


def mnist_test_bytes(limit: int = 0) -> list[tuple[bytes, int]]:
    from .data import load_mnist
    from .dataset import mnist_to_uint8

    test = load_mnist().test
    images, labels = mnist_to_uint8(test.images), test.labels
    if limit:
        images, labels = images[:limit], labels[:limit]
    return [(_png(image), int(label)) for image, label in zip(images, labels, strict=True)]


def blank_bytes(count: int, seed: int = 3) -> list[tuple[bytes, int]]:
    """Pictures with no digit: empty pads, transparent canvases, plain and noisy paper."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        side = int(rng.choice([28, 200, 280, 640]))
        kind = i % 5
        if kind == 0:
            picture = Image.new("L", (side, side), 255)
        elif kind == 1:
            picture = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        elif kind == 2:
            picture = Image.new("L", (side, side), 0)
        elif kind == 3:  # paper grain under uneven light
            yy = np.linspace(0, 1, side)[:, None]
            paper = 0.85 - 0.25 * yy + rng.normal(0, 0.02, (side, side))
            picture = Image.fromarray(np.clip(paper * 255, 0, 255).astype(np.uint8))
        else:  # a plain colour, JPEG-compressed
            colour = tuple(int(c) for c in rng.integers(60, 255, 3))
            picture = Image.new("RGB", (side, side), colour)
        samples.append((_png(np.asarray(picture)), -1))
    return samples


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def _prepare(sample: tuple[bytes, int]) -> tuple[np.ndarray, bool]:
    prepared = prepare_bytes(sample[0])
    return prepared.x, prepared.blank


def evaluate_set(predict, samples: list[tuple[bytes, int]], processes: int = 1) -> dict:
    started = time.perf_counter()
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            prepared = pool.map(_prepare, samples, chunksize=64)
    else:
        prepared = [_prepare(sample) for sample in samples]
    labels = np.array([label for _, label in samples])
    blank = np.array([is_blank for _, is_blank in prepared])
    inputs = np.stack([x for x, _ in prepared])
    predicted = np.full(len(samples), -1)
    for start in range(0, len(samples), 256):
        chunk = slice(start, start + 256)
        predicted[chunk] = predict(inputs[chunk]).argmax(axis=1)
    predicted[blank] = -1  # blank means no digit, never a guess
    correct = predicted == labels
    errors: dict[str, int] = {}
    for true, guess in zip(labels[~correct], predicted[~correct], strict=True):
        key = f"{true}->{'blank' if guess < 0 else guess}"
        errors[key] = errors.get(key, 0) + 1
    return {"count": len(samples), "accuracy": round(float(correct.mean()), 5),
            "reported_blank": int(blank.sum()), "seconds": round(time.perf_counter() - started, 1),
            "common_errors": dict(sorted(errors.items(), key=lambda item: -item[1])[:8])}


def samples_for(name: str, count: int, seed: int) -> list[tuple[bytes, int]]:
    if name == "mnist":
        return mnist_test_bytes(count)
    if name == "blank":
        return blank_bytes(count or 1000, seed)
    return list(oodsets.generate(name, count or 1000, seed))


def run(model_path: str | None, sets: Iterable[str], count: int, seed: int, processes: int) -> dict:
    # Images are generated and prepared before TensorFlow loads (worker processes fork).
    prepared_sets = {name: samples_for(name, count, seed) for name in sets}
    from ..paths import DEFAULT_MODEL
    from ..serving.predictor import Predictor

    predictor = Predictor.from_file(model_path or DEFAULT_MODEL)
    results = {}
    for name, samples in prepared_sets.items():
        results[name] = evaluate_set(predictor, samples, processes)
        print(f"{name:8s} {results[name]['accuracy']:8.2%}  n={results[name]['count']:5d}  "
              f"blank={results[name]['reported_blank']:4d}  {results[name]['seconds']:6.1f}s  "
              f"{results[name]['common_errors']}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m realtime.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: the shipped one)")
    parser.add_argument("--sets", default=",".join(ALL_SETS), help=f"comma-separated, from {ALL_SETS}")
    parser.add_argument("--count", type=int, default=0, help="images per set (default: all MNIST, 1000 others)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = set(sets) - set(ALL_SETS)
    if unknown:
        parser.error(f"unknown sets {sorted(unknown)}; choose from {ALL_SETS}")
    print(f"{'set':8s} {'accuracy':>8s}  (blank set: accuracy = share reported blank)")
    results = run(args.model, sets, args.count, args.seed, args.processes)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
